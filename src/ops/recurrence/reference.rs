//! The recurrence in Burn tensor ops, for any backend: the cells' equations as the cells' `step`
//! uses them, and the forward and backward loops of a whole layer direction, written for Burn's
//! fusion (see below). The loops are the reference the host kernel is tested against, and what
//! the GPU backends run.

use burn::tensor::{Int, Tensor, TensorData, activation, backend::Backend};

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

/// One LSTM step from the gate pre-activations: `(h', c')` with `c' = σ(f) c + σ(i) tanh(g)`,
/// `h' = σ(o) tanh(c')`.
///
/// # Shapes
/// - `pre`: `[B, 4H]` (`x W_ih + b_ih + b_hh + h W_hh`, gates `i, f, g, o`), `c`: `[B, H]`
/// - returns `[B, H]` twice
pub(crate) fn lstm_step<B: Backend>(
    pre: Tensor<B, 2>,
    c: Tensor<B, 2>,
) -> (Tensor<B, 2>, Tensor<B, 2>) {
    let [i, f, g, o]: [Tensor<B, 2>; 4] = pre.chunk(4, 1).try_into().expect("4 gates");
    let cell = sigmoid(f) * c + sigmoid(i) * g.tanh();
    let hidden = sigmoid(o) * cell.clone().tanh();
    (hidden, cell)
}

/// One GRU step: `r = σ(x_r + h_r)`, `z = σ(x_z + h_z)`, `n = tanh(x_n + r h_n)`,
/// `h' = n + z (h - n)`.
///
/// # Shapes
/// - `x`: `[B, 3H]` (`x W_ih + b_ih`), `hp`: `[B, 3H]` (`h W_hh + b_hh`), `h`: `[B, H]`
/// - returns `[B, H]`
pub(crate) fn gru_step<B: Backend>(
    x: Tensor<B, 2>,
    hp: Tensor<B, 2>,
    h: Tensor<B, 2>,
) -> Tensor<B, 2> {
    let [xr, xz, xn]: [Tensor<B, 2>; 3] = x.chunk(3, 1).try_into().expect("3 gates");
    let [hr, hz, hn]: [Tensor<B, 2>; 3] = hp.chunk(3, 1).try_into().expect("3 gates");
    let r = sigmoid(xr + hr);
    let z = sigmoid(xz + hz);
    let n = (xn + r * hn).tanh();
    // (1 - z) * n + z * h  ==  n + z * (h - n)
    n.clone() + z * (h - n)
}

/// What the reference forward keeps for its backward.
#[derive(Clone, Debug)]
pub(crate) struct ReferenceTrace<I: Backend> {
    rec: Recurrence,
    w_hh: Tensor<I, 2>,
    h0: Tensor<I, 2>,
    c0: Tensor<I, 2>,
    /// The output `[B, T, H]`.
    out: Tensor<I, 3>,
    /// Hidden state after each step, in processing order, `[B, H]`.
    hs: Vec<Tensor<I, 2>>,
    /// Per step, in processing order: LSTM `[a, c]` (the gate activations `[B, 4H]` and the cell
    /// state `[B, H]`); GRU `[σ(x + h W_hh + b_hh), h W_hh + b_hh, n]` (`[B, 3H]`, whose r and
    /// z blocks are the gates; `[B, 3H]`; `[B, H]`); RNN nothing.
    acts: Vec<Vec<Tensor<I, 2>>>,
}

// The loops are written for Burn's fusion on the GPU backends, whose rules decide the number
// of kernels per step:
// - slices, chunks, dimension-dropping reshapes, `cat` and `stack` end a fused kernel, and
//   `cat`/`stack` of N pieces are N kernels; `select` fuses, reading a tensor that comes from
//   before the kernel;
// - a fused kernel has one output shape (size-1 dimensions broadcast), so `[B, H]` work and
//   `[B, G*H]` work are separate kernels;
// - a matmul takes the elementwise work that follows it into its own kernel.
// So a time step's rows are selected from a `[B * T, ..]` view, a gate's columns from
// `[B, G*H]`, `[B, H]` values are spread over the gate blocks by selecting columns, gate-dependent
// math runs over all gates at once with masks computed from the columns' gate ids, and every
// step writes its slot of one buffer. Per step and layer: forward, the matmul (with the gate
// activations), the state update and the output write; backward, the gate gradients, their
// write, and the matmul (with the next step's state gradients).

/// Index tensors.
fn index<I: Backend>(values: Vec<i64>, device: &I::Device) -> Tensor<I, 1, Int> {
    let n = values.len();
    Tensor::from_data(TensorData::new(values, [n]), device)
}

/// The rows of time position `t`, gate `gate` in a `[B * T * gates, ..]` view of a
/// `[B, T, gates * ..]` buffer (`gates = 1`: a step's whole row): `[B]` for every `t`.
fn time_rows<I: Backend>(
    batch: usize,
    seq: usize,
    (gates, gate): (usize, usize),
    device: &I::Device,
) -> Vec<Tensor<I, 1, Int>> {
    (0..seq)
        .map(|t| {
            let rows = (0..batch)
                .map(|b| ((b * seq + t) * gates + gate) as i64)
                .collect();
            index::<I>(rows, device)
        })
        .collect()
}

/// Row values `[1, n]`.
fn row<I: Backend>(values: Vec<f64>, device: &I::Device) -> Tensor<I, 2> {
    let n = values.len();
    Tensor::from_data(
        TensorData::new(values, [1, n]).convert::<I::FloatElem>(),
        device,
    )
}

/// The columns that take gate `from[k]`'s columns into gate block `k` of `[B, G*H]` (with
/// `hidden` 0-based columns per gate; `from[k] = 0` of a `[B, H]` tensor spreads it over every
/// block).
fn gate_columns<I: Backend>(
    from: &[usize],
    hidden: usize,
    device: &I::Device,
) -> Tensor<I, 1, Int> {
    let cols = from
        .iter()
        .flat_map(|&k| (0..hidden).map(move |j| (k * hidden + j) as i64))
        .collect();
    index::<I>(cols, device)
}

fn select<I: Backend>(t: &Tensor<I, 2>, dim: usize, indices: &Tensor<I, 1, Int>) -> Tensor<I, 2> {
    t.clone().select(dim, indices.clone())
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
    let device = p.device();
    let [batch, seq, gh] = p.dims();
    let hidden = w_hh.dims()[0];
    let gates = gh / hidden;
    // A step's row of p, from a [B * T, G*H] view; the GRU's n gate also from [B * T * 3, H].
    let rows = time_rows::<I>(batch, seq, (1, 0), &device);
    let n_rows = match rec.kind {
        CellKind::Gru => time_rows::<I>(batch, seq, (gates, 2), &device),
        _ => Vec::new(),
    };
    let p_gates = p.clone().reshape([batch * seq * gates, hidden]);
    let p = p.reshape([batch * seq, gh]);
    let cols: Vec<_> = (0..gates)
        .map(|k| gate_columns::<I>(&[k], hidden, &device))
        .collect();
    // LSTM: σ(x) = 0.5 tanh(0.5 x) + 0.5 for i, f, o and tanh(x) for g, in one expression.
    let per_gate =
        |v: [f64; 4]| row::<I>(v.iter().flat_map(|&x| vec![x; hidden]).collect(), &device);
    let (scale, shift) = (
        per_gate([0.5, 0.5, 1.0, 0.5]),
        per_gate([0.5, 0.5, 0.0, 0.5]),
    );
    let b_hh = b_hh.unsqueeze_dim::<2>(0);
    let mut h = h0.clone();
    let mut c = c0.clone();
    let mut out = Tensor::<I, 3>::empty([batch, seq, hidden], &device);
    let mut hs = Vec::with_capacity(if keep { seq } else { 0 });
    let mut acts = Vec::with_capacity(if keep { seq } else { 0 });
    for k in 0..seq {
        let t = rec.position(seq, k);
        let hw = h.clone().matmul(w_hh.clone());
        match rec.kind {
            CellKind::Rnn => h = rnn_step(hw + select(&p, 0, &rows[t]), rec.activation),
            CellKind::Lstm => {
                let pre = hw + select(&p, 0, &rows[t]);
                let a = (pre * scale.clone()).tanh() * scale.clone() + shift.clone();
                let gate = |k: usize| select(&a, 1, &cols[k]);
                c = gate(1) * c + gate(0) * gate(2);
                h = gate(3) * c.clone().tanh();
                if keep {
                    acts.push(vec![a, c.clone()]);
                }
            }
            CellKind::Gru => {
                // With the matmul: `h W_hh + b_hh`, and σ of it plus the input, whose r and z
                // blocks are the gates r and z.
                let hp = hw + b_hh.clone();
                let g = sigmoid(hp.clone() + select(&p, 0, &rows[t]));
                let (r, z) = (select(&g, 1, &cols[0]), select(&g, 1, &cols[1]));
                let xn = select(&p_gates, 0, &n_rows[t]);
                let n = (xn + r * select(&hp, 1, &cols[2])).tanh();
                h = n.clone() + z * (h - n.clone());
                if keep {
                    acts.push(vec![g, hp, n]);
                }
            }
        }
        let slot = [0..batch, t..t + 1, 0..hidden];
        out = out.slice_assign(slot, h.clone().reshape([batch, 1, hidden]));
        if keep {
            hs.push(h.clone());
        }
    }
    let cell = (rec.kind == CellKind::Lstm).then_some(c);
    let trace = keep.then(|| ReferenceTrace {
        rec,
        w_hh,
        h0,
        c0,
        out: out.clone(),
        hs,
        acts,
    });
    (out, h, cell, trace.map(super::Trace::Reference))
}

/// The backward loop: the gradients of the forward's inputs from those of its output
/// `[B, T, H]` and of the final hidden and cell states `[B, H]` (when the loss uses them).
/// `db_hh` is only computed for the GRU, whose `b_hh` is a parameter of its own (the others fold
/// it into `p`).
///
/// The LSTM and GRU steps compute at the width of their gates (`[B, G*H]`, the GRU's `[B, 6H]`
/// holding the gradients of its input and of `h W_hh + b_hh` side by side), `[B, H]` values
/// spread over every gate block, so that a step is one elementwise kernel, one write and one
/// matmul.
pub(crate) fn backward<I: Backend>(
    s: ReferenceTrace<I>,
    d_out: Tensor<I, 3>,
    [d_last, d_cell]: [Option<Tensor<I, 2>>; 2],
) -> super::InputGrads<I> {
    let device = d_out.device();
    let [batch, seq, hidden] = d_out.dims();
    let gh = s.w_hh.dims()[1];
    let gates = gh / hidden;
    let kind = s.rec.kind;
    // The width of a step's gradient: the GRU's gate gradients for its input and for its
    // recurrent product side by side.
    let blocks = if kind == CellKind::Gru {
        2 * gates
    } else {
        gates
    };
    let width = blocks * hidden;
    let zeros = || Tensor::<I, 2>::zeros([batch, hidden], &device);
    let rows = time_rows::<I>(batch, seq, (1, 0), &device);
    let d_out = d_out.reshape([batch * seq, hidden]);
    let spread = gate_columns::<I>(&vec![0; blocks], hidden, &device);
    let wide = |t: &Tensor<I, 2>| select(t, 1, &spread);
    // The step's matmul back to the hidden state: `W_hh^T` (`[G*H, H]`; GRU: below zeros for
    // the input half, `[6H, H]`), its columns repeated for every block so that the gradient
    // comes out spread (`[B, width]`), ready for the next step's kernel (a `select` of a
    // matmul's output is a kernel of its own).
    let w_t = s.w_hh.clone().transpose();
    let w_back = match kind {
        CellKind::Rnn => w_t,
        CellKind::Lstm => wide(&w_t),
        CellKind::Gru => wide(&Tensor::cat(
            vec![Tensor::zeros([gh, hidden], &device), w_t],
            0,
        )),
    };
    // The output gradient, spread over the blocks once for all steps (RNN: as it is).
    let d_out = if kind == CellKind::Rnn {
        d_out
    } else {
        wide(&d_out)
    };
    // A row of 1 in the listed blocks and 0 elsewhere.
    let mask = |on: &[usize]| {
        row::<I>(
            (0..width)
                .map(|j| f64::from(u8::from(on.contains(&(j / hidden)))))
                .collect(),
            &device,
        )
    };
    let cols = |from: &[usize]| gate_columns::<I>(from, hidden, &device);
    let one_minus_square = |y: Tensor<I, 2>| (y.clone() * y).neg().add_scalar(1.0);
    // The gradient reaching the hidden state from the step after, through `W_hh`: `[B, H]`,
    // LSTM and GRU `[B, width]`, spread.
    let dh = d_last.unwrap_or_else(zeros);
    let mut dh = if kind == CellKind::Rnn { dh } else { wide(&dh) };
    // LSTM: the cell state's gradient, spread; GRU: `dh z`, the direct path, spread.
    let mut carry = match (kind, d_cell) {
        (CellKind::Lstm, Some(dc)) => wide(&dc),
        _ => Tensor::zeros([batch, width], &device),
    };
    let mut dp = Tensor::<I, 3>::empty([batch, seq, width], &device);
    match kind {
        CellKind::Rnn => {
            for k in (0..seq).rev() {
                let t = s.rec.position(seq, k);
                let dh_t = dh + select(&d_out, 0, &rows[t]);
                let d_pre = match s.rec.activation {
                    Activation::Tanh => dh_t * one_minus_square(s.hs[k].clone()),
                    Activation::Relu => dh_t * s.hs[k].clone().greater_elem(0.0).float(),
                };
                let slot = [0..batch, t..t + 1, 0..width];
                dp = dp.slice_assign(slot, d_pre.clone().reshape([batch, 1, width]));
                dh = d_pre.matmul(w_back.clone());
            }
        }
        CellKind::Lstm => {
            let (m_f, m_g, m_o) = (mask(&[1]), mask(&[2]), mask(&[3]));
            let (m_ig, not_g, not_o) = (mask(&[0, 2]), mask(&[0, 1, 3]), mask(&[0, 1, 2]));
            let (o_cols, f_cols) = (cols(&[3; 4]), cols(&[1; 4]));
            // P below takes g into the i block and i into the g block; `all` reads `a` as it
            // is (through `select`, so that it can also be selected in other ways in one
            // kernel).
            let (swap_ig, all) = (cols(&[2, 0, 0, 0]), cols(&[0, 1, 2, 3]));
            for k in (0..seq).rev() {
                let t = s.rec.position(seq, k);
                let (a, c) = (&s.acts[k][0], &s.acts[k][1]);
                let c_prev = if k == 0 { &s.c0 } else { &s.acts[k - 1][1] };
                let dh_t = dh + select(&d_out, 0, &rows[t]);
                let tc = wide(c).tanh();
                // The cell state's gradient through this step, and on to the step before.
                let dct =
                    carry + dh_t.clone() * select(a, 1, &o_cols) * one_minus_square(tc.clone());
                carry = dct.clone() * select(a, 1, &f_cols);
                // The gates' pre-activations, U * P * D with U = [dc, dc, dc, dh],
                // P = [g, c_prev, i, tanh c], D = the activations' derivatives.
                let a_all = select(a, 1, &all);
                let u = dct * not_o.clone() + dh_t * m_o.clone();
                let p = select(a, 1, &swap_ig) * m_ig.clone()
                    + wide(c_prev) * m_f.clone()
                    + tc * m_o.clone();
                let d = (a_all.clone() - a_all.clone() * a_all.clone()) * not_g.clone()
                    + one_minus_square(a_all) * m_g.clone();
                let d_pre = u * p * d;
                let slot = [0..batch, t..t + 1, 0..width];
                dp = dp.slice_assign(slot, d_pre.clone().reshape([batch, 1, width]));
                dh = d_pre.matmul(w_back.clone());
            }
        }
        CellKind::Gru => {
            // Blocks: input r, z, n, then recurrent r, z, n.
            let (m_r, m_z, m_n, m_nr) = (mask(&[0, 3]), mask(&[1, 4]), mask(&[2]), mask(&[5]));
            // r and z, and `W_hn h + b_hn`, spread from their blocks.
            let (r_cols, z_cols, n_cols) = (cols(&[0; 6]), cols(&[1; 6]), cols(&[2; 6]));
            for k in (0..seq).rev() {
                let t = s.rec.position(seq, k);
                let a = &s.acts[k];
                let (r, z) = (select(&a[0], 1, &r_cols), select(&a[0], 1, &z_cols));
                let (hn, n) = (select(&a[1], 1, &n_cols), wide(&a[2]));
                let h_prev = wide(if k == 0 { &s.h0 } else { &s.hs[k - 1] });
                let dh_t = dh + carry + select(&d_out, 0, &rows[t]);
                let dz = dh_t.clone() * (h_prev - n.clone());
                let dnp = dh_t.clone() * z.clone().neg().add_scalar(1.0) * one_minus_square(n);
                let drp = dnp.clone() * hn * r.clone() * r.clone().neg().add_scalar(1.0);
                let dzp = dz * z.clone() * z.clone().neg().add_scalar(1.0);
                let d_both = drp * m_r.clone()
                    + dzp * m_z.clone()
                    + dnp.clone() * m_n.clone()
                    + dnp * r * m_nr.clone();
                carry = dh_t * z;
                let slot = [0..batch, t..t + 1, 0..width];
                dp = dp.slice_assign(slot, d_both.clone().reshape([batch, 1, width]));
                dh = d_both.matmul(w_back.clone());
            }
        }
    }
    let (dh0, dc0) = match kind {
        CellKind::Rnn => (dh, zeros()),
        CellKind::Lstm => (dh.narrow(1, 0, hidden), carry.narrow(1, 0, hidden)),
        CellKind::Gru => ((dh + carry).narrow(1, 0, hidden), zeros()),
    };
    let dp = dp.reshape([batch * seq, width]);
    let (dp, rec) = match kind {
        CellKind::Gru => (dp.clone().narrow(1, 0, gh), dp.narrow(1, gh, gh)),
        _ => (dp.clone(), dp),
    };
    let (dw_hh, db_hh) = super::recurrent_weight_grads(s.rec, s.h0, s.out, rec);
    super::InputGrads {
        dp: dp.reshape([batch, seq, gh]),
        dw_hh,
        db_hh,
        dh0,
        dc0,
    }
}
