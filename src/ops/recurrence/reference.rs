//! The recurrence in Burn tensor ops, for any backend: the cells' equations (which the cells'
//! `step` uses too), the forward loop that keeps the gate activations, and the backward loop.
//! It is the reference the host kernel is tested against, and what the GPU backends run.

use burn::tensor::{Tensor, activation, backend::Backend};

use crate::cell_kind::{Activation, CellKind};
use crate::kernels::recurrence::Recurrence;

/// Logistic sigmoid computed as `0.5 tanh(0.5 x) + 0.5`.
///
/// Burn 0.21's `activation::sigmoid` rounds through f32 even on an f64 backend; this form keeps
/// the backend's precision (needed for the f64 parity and gradient checks) and is one fused
/// elementwise expression.
pub fn sigmoid<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    x.mul_scalar(0.5).tanh().mul_scalar(0.5).add_scalar(0.5)
}

/// The vanilla RNN's new state from its pre-activation `x W_ih + b + h W_hh`.
///
/// # Shapes
/// - `pre`: `[B, H]`; returns `[B, H]`
pub(crate) fn rnn_step<B: Backend>(pre: Tensor<B, 2>, act: Activation) -> Tensor<B, 2> {
    match act {
        Activation::Tanh => pre.tanh(),
        Activation::Relu => activation::relu(pre),
    }
}

/// One LSTM step from the gate pre-activations: the activations and the new states.
pub(crate) struct LstmStep<B: Backend> {
    /// `σ(i), σ(f), tanh(g), σ(o)`, each `[B, H]`.
    pub gates: [Tensor<B, 2>; 4],
    /// `c' = σ(f) c + σ(i) tanh(g)`, `[B, H]`.
    pub cell: Tensor<B, 2>,
    /// `h' = σ(o) tanh(c')`, `[B, H]`.
    pub hidden: Tensor<B, 2>,
}

/// One LSTM step.
///
/// # Shapes
/// - `pre`: `[B, 4H]` (`x W_ih + b_ih + b_hh + h W_hh`, gates `i, f, g, o`), `c`: `[B, H]`
pub(crate) fn lstm_step<B: Backend>(pre: Tensor<B, 2>, c: Tensor<B, 2>) -> LstmStep<B> {
    let [i, f, g, o]: [Tensor<B, 2>; 4] = pre.chunk(4, 1).try_into().expect("4 gates");
    let (i, f, g, o) = (sigmoid(i), sigmoid(f), g.tanh(), sigmoid(o));
    let cell = f.clone() * c + i.clone() * g.clone();
    let hidden = o.clone() * cell.clone().tanh();
    LstmStep {
        gates: [i, f, g, o],
        cell,
        hidden,
    }
}

/// One GRU step: the activations and the new state.
pub(crate) struct GruStep<B: Backend> {
    /// `r, z, n` and `W_hn h + b_hn`, each `[B, H]`.
    pub gates: [Tensor<B, 2>; 4],
    /// `h' = n + z (h - n)`, `[B, H]`.
    pub hidden: Tensor<B, 2>,
}

/// One GRU step.
///
/// # Shapes
/// - `x`: `[B, 3H]` (`x W_ih + b_ih`), `hp`: `[B, 3H]` (`h W_hh + b_hh`), `h`: `[B, H]`
pub(crate) fn gru_step<B: Backend>(
    x: Tensor<B, 2>,
    hp: Tensor<B, 2>,
    h: Tensor<B, 2>,
) -> GruStep<B> {
    let [xr, xz, xn]: [Tensor<B, 2>; 3] = x.chunk(3, 1).try_into().expect("3 gates");
    let [hr, hz, hn]: [Tensor<B, 2>; 3] = hp.chunk(3, 1).try_into().expect("3 gates");
    let r = sigmoid(xr + hr);
    let z = sigmoid(xz + hz);
    let n = (xn + r.clone() * hn.clone()).tanh();
    // (1 - z) * n + z * h  ==  n + z * (h - n)
    let hidden = n.clone() + z.clone() * (h - n.clone());
    GruStep {
        gates: [r, z, n, hn],
        hidden,
    }
}

/// What the reference forward keeps for its backward.
#[derive(Clone, Debug)]
pub(crate) struct ReferenceTrace<I: Backend> {
    rec: Recurrence,
    w_hh: Tensor<I, 2>,
    h0: Tensor<I, 2>,
    c0: Tensor<I, 2>,
    /// Hidden state after each step, in processing order, `[B, H]`.
    hs: Vec<Tensor<I, 2>>,
    /// Per step: LSTM `[i, f, g, o, c]`; GRU `[r, z, n, W_hn h + b_hn]`; RNN nothing.
    acts: Vec<Vec<Tensor<I, 2>>>,
}

/// The forward loop. See [`super::Inputs`] for the shapes.
pub(crate) fn forward<I: Backend>(
    rec: Recurrence,
    super::Inputs {
        p,
        w_hh,
        b_hh,
        h0,
        c0,
    }: super::Inputs<I>,
    keep: bool,
) -> super::Forward<I> {
    let [batch, seq, gh] = p.dims();
    let hidden = w_hh.dims()[0];
    let mut h = h0.clone();
    let mut c = c0.clone();
    let mut hs = Vec::with_capacity(seq);
    let mut acts = Vec::with_capacity(if keep { seq } else { 0 });
    let b_hh = b_hh.unsqueeze_dim::<2>(0);
    for k in 0..seq {
        let t = rec.position(seq, k);
        let x = p.clone().narrow(1, t, 1).reshape([batch, gh]);
        match rec.kind {
            CellKind::Rnn => h = rnn_step(x + h.matmul(w_hh.clone()), rec.activation),
            CellKind::Lstm => {
                let step = lstm_step(x + h.matmul(w_hh.clone()), c);
                (h, c) = (step.hidden, step.cell);
                if keep {
                    let mut kept = step.gates.to_vec();
                    kept.push(c.clone());
                    acts.push(kept);
                }
            }
            CellKind::Gru => {
                let hp = h.clone().matmul(w_hh.clone()) + b_hh.clone();
                let step = gru_step(x, hp, h);
                h = step.hidden;
                if keep {
                    acts.push(step.gates.to_vec());
                }
            }
        }
        hs.push(h.clone());
    }
    let by_position: Vec<Tensor<I, 2>> =
        (0..seq).map(|t| hs[rec.position(seq, t)].clone()).collect();
    let out = Tensor::stack(by_position, 1);
    debug_assert_eq!(out.dims(), [batch, seq, hidden]);
    let cell = (rec.kind == CellKind::Lstm).then_some(c);
    let trace = keep.then(|| ReferenceTrace {
        rec,
        w_hh,
        h0,
        c0,
        hs,
        acts,
    });
    (out, h, cell, trace.map(super::Trace::Reference))
}

/// The backward loop: the gradients of the forward's inputs from those of its output
/// `[B, T, H]` and of the final hidden and cell states `[B, H]` (when the loss uses them).
pub(crate) fn backward<I: Backend>(
    s: ReferenceTrace<I>,
    d_out: Tensor<I, 3>,
    [d_last, d_cell]: [Option<Tensor<I, 2>>; 2],
) -> super::InputGrads<I> {
    let [batch, seq, hidden] = d_out.dims();
    let gates = s.w_hh.dims()[1] / hidden;
    let w_t = s.w_hh.clone().transpose();
    let zeros = || Tensor::<I, 2>::zeros([batch, hidden], &d_out.device());
    let mut dh = d_last.unwrap_or_else(zeros);
    let mut dc = d_cell.unwrap_or_else(zeros);
    let mut dp: Vec<Option<Tensor<I, 2>>> = vec![None; seq];
    let mut dhp = Vec::with_capacity(seq);
    let mut h_prev_all = Vec::with_capacity(seq);
    let one_minus_square = |y: &Tensor<I, 2>| (y.clone() * y.clone()).neg().add_scalar(1.0);
    // σ'(x) = y (1 - y) for y = σ(x).
    let sig = |d: Tensor<I, 2>, y: &Tensor<I, 2>| d * y.clone() * y.clone().neg().add_scalar(1.0);
    for k in (0..seq).rev() {
        let t = s.rec.position(seq, k);
        dh = dh + d_out.clone().narrow(1, t, 1).reshape([batch, hidden]);
        let h_prev = if k == 0 {
            s.h0.clone()
        } else {
            s.hs[k - 1].clone()
        };
        let (d_in, d_rec, dh_direct) = match s.rec.kind {
            CellKind::Rnn => {
                let d = match s.rec.activation {
                    Activation::Tanh => dh.clone() * one_minus_square(&s.hs[k]),
                    Activation::Relu => dh.clone() * s.hs[k].clone().greater_elem(0.0).float(),
                };
                (d.clone(), d, None)
            }
            CellKind::Lstm => {
                let a = &s.acts[k];
                let (i, f, gg, o, c) = (&a[0], &a[1], &a[2], &a[3], &a[4]);
                let c_prev = if k == 0 {
                    s.c0.clone()
                } else {
                    s.acts[k - 1][4].clone()
                };
                let tc = c.clone().tanh();
                let d_o = dh.clone() * tc.clone();
                let dct = dc.clone() + dh.clone() * o.clone() * one_minus_square(&tc);
                let di = dct.clone() * gg.clone();
                let dg = dct.clone() * i.clone();
                let df = dct.clone() * c_prev;
                dc = dct * f.clone();
                let d = Tensor::cat(
                    vec![
                        sig(di, i),
                        sig(df, f),
                        dg * one_minus_square(gg),
                        sig(d_o, o),
                    ],
                    1,
                );
                (d.clone(), d, None)
            }
            CellKind::Gru => {
                let a = &s.acts[k];
                let (r, z, n, hn) = (&a[0], &a[1], &a[2], &a[3]);
                let dz = dh.clone() * (h_prev.clone() - n.clone());
                let dn = dh.clone() * z.clone().neg().add_scalar(1.0);
                let direct = dh.clone() * z.clone();
                let dnp = dn * one_minus_square(n);
                let dr = dnp.clone() * hn.clone();
                let drp = sig(dr, r);
                let dzp = sig(dz, z);
                let d_in = Tensor::cat(vec![drp.clone(), dzp.clone(), dnp.clone()], 1);
                let d_rec = Tensor::cat(vec![drp, dzp, dnp * r.clone()], 1);
                (d_in, d_rec, Some(direct))
            }
        };
        dh = d_rec.clone().matmul(w_t.clone());
        if let Some(direct) = dh_direct {
            dh = dh + direct;
        }
        dp[t] = Some(d_in);
        dhp.push(d_rec);
        h_prev_all.push(h_prev);
    }
    let gh = gates * hidden;
    let dp = Tensor::stack::<3>(dp.into_iter().map(|d| d.expect("every step")).collect(), 1);
    let dhp = Tensor::cat(dhp, 0); // [T*B, G*H]
    let h_prev = Tensor::cat(h_prev_all, 0); // [T*B, H]
    let dw = h_prev.transpose().matmul(dhp.clone());
    let db = dhp.sum_dim(0).reshape([gh]);
    super::InputGrads {
        dp,
        dw_hh: dw,
        db_hh: db,
        dh0: dh,
        dc0: dc,
    }
}
