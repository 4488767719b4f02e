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
    let spread = gate_columns::<I>(&vec![0; blocks], hidden, &device);
    let mut b = Back {
        batch,
        seq,
        hidden,
        width,
        rows: time_rows::<I>(batch, seq, (1, 0), &device),
        d_out: d_out.reshape([batch * seq, hidden]),
        w_back: s.w_hh.clone().transpose(),
        dp: Tensor::<I, 3>::empty([batch, seq, width], &device),
        spread,
        device: device.clone(),
    };
    // The step's matmul back to the hidden state: `W_hh^T` (`[G*H, H]`; GRU: below zeros for
    // the input half, `[6H, H]`), its columns repeated for every block so that the gradient
    // comes out spread (`[B, width]`), ready for the next step's kernel (a `select` of a
    // matmul's output is a kernel of its own).
    b.w_back = match kind {
        CellKind::Rnn => b.w_back,
        CellKind::Lstm => b.wide(&b.w_back),
        CellKind::Gru => b.wide(&Tensor::cat(
            vec![Tensor::zeros([gh, hidden], &device), b.w_back.clone()],
            0,
        )),
    };
    // The output gradient, spread over the blocks once for all steps (RNN: as it is).
    if kind != CellKind::Rnn {
        b.d_out = b.wide(&b.d_out);
    }
    // The gradient reaching the hidden state from the step after, through `W_hh`: `[B, H]`,
    // LSTM and GRU `[B, width]`, spread.
    let dh = d_last.unwrap_or_else(|| b.zeros());
    let dh = if kind == CellKind::Rnn {
        dh
    } else {
        b.wide(&dh)
    };
    // LSTM: the cell state's gradient, spread; GRU: `dh z`, the direct path, spread.
    let carry = match (kind, d_cell) {
        (CellKind::Lstm, Some(dc)) => b.wide(&dc),
        _ => Tensor::zeros([batch, width], &device),
    };
    let (dh0, dc0) = match kind {
        CellKind::Rnn => (rnn_backward(&mut b, &s, dh), b.zeros()),
        CellKind::Lstm => {
            let (dh, carry) = lstm_backward(&mut b, &s, dh, carry);
            (dh.narrow(1, 0, hidden), carry.narrow(1, 0, hidden))
        }
        CellKind::Gru => {
            let (dh, carry) = gru_backward(&mut b, &s, dh, carry);
            ((dh + carry).narrow(1, 0, hidden), b.zeros())
        }
    };
    let dp = b.dp.reshape([batch * seq, width]);
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

/// What every cell's backward loop shares: sizes, the output gradient and `W_hh^T` (spread over
/// the gate blocks), and the pre-activation gradients `dp` it writes step by step.
struct Back<I: Backend> {
    batch: usize,
    seq: usize,
    hidden: usize,
    /// Columns of a step's gradient (`G*H`; GRU `6H`).
    width: usize,
    /// The rows of each time position in `[B*T, ..]`.
    rows: Vec<Tensor<I, 1, Int>>,
    /// `[B*T, H]`, spread to `[B*T, width]` for the LSTM and GRU.
    d_out: Tensor<I, 2>,
    /// `[width, H]` (RNN `[H, H]`), columns spread for the LSTM and GRU.
    w_back: Tensor<I, 2>,
    /// `[B, T, width]`.
    dp: Tensor<I, 3>,
    /// Every block's columns read from the first block.
    spread: Tensor<I, 1, Int>,
    device: I::Device,
}

impl<I: Backend> Back<I> {
    fn zeros(&self) -> Tensor<I, 2> {
        Tensor::zeros([self.batch, self.hidden], &self.device)
    }

    /// `[N, H]` repeated over every block: `[N, width]`.
    fn wide(&self, t: &Tensor<I, 2>) -> Tensor<I, 2> {
        select(t, 1, &self.spread)
    }

    /// A row of 1 in the listed blocks and 0 elsewhere.
    fn mask(&self, on: &[usize]) -> Tensor<I, 2> {
        let hidden = self.hidden;
        row::<I>(
            (0..self.width)
                .map(|j| f64::from(u8::from(on.contains(&(j / hidden)))))
                .collect(),
            &self.device,
        )
    }

    /// Block `k` of the result reads block `from[k]`.
    fn cols(&self, from: &[usize]) -> Tensor<I, 1, Int> {
        gate_columns::<I>(from, self.hidden, &self.device)
    }

    /// The time position of the `k`-th step processed, and the gradient reaching `h_t` from the
    /// output there and from the step after (`dh`).
    fn dh_t(&self, rec: Recurrence, k: usize, dh: Tensor<I, 2>) -> (usize, Tensor<I, 2>) {
        let t = rec.position(self.seq, k);
        (t, dh + select(&self.d_out, 0, &self.rows[t]))
    }

    /// Writes the pre-activation gradient of time position `t` into `dp` and returns the
    /// gradient reaching the hidden state before it, `d_pre W_hh^T` (spread).
    fn step_back(&mut self, t: usize, d_pre: Tensor<I, 2>) -> Tensor<I, 2> {
        let slot = [0..self.batch, t..t + 1, 0..self.width];
        let step = d_pre.clone().reshape([self.batch, 1, self.width]);
        self.dp = self.dp.clone().slice_assign(slot, step);
        d_pre.matmul(self.w_back.clone())
    }
}

fn one_minus_square<I: Backend>(y: Tensor<I, 2>) -> Tensor<I, 2> {
    (y.clone() * y).neg().add_scalar(1.0)
}

/// The vanilla RNN, `h_t = act(p_t)`: `dp_t = dh_t act'(p_t)` (tanh: `1 - h_t^2`; relu:
/// `h_t > 0`), `dh_{t-1} = dp_t W_hh^T`. Returns `dh_0`.
fn rnn_backward<I: Backend>(
    b: &mut Back<I>,
    s: &ReferenceTrace<I>,
    mut dh: Tensor<I, 2>,
) -> Tensor<I, 2> {
    for k in (0..b.seq).rev() {
        let (t, dh_t) = b.dh_t(s.rec, k, dh);
        let d_pre = match s.rec.activation {
            Activation::Tanh => dh_t * one_minus_square(s.hs[k].clone()),
            Activation::Relu => dh_t * s.hs[k].clone().greater_elem(0.0).float(),
        };
        dh = b.step_back(t, d_pre);
    }
    dh
}

/// The LSTM, `c_t = f c_{t-1} + i g`, `h_t = o tanh(c_t)`: with
/// `dc_t = dc + dh_t o (1 - tanh^2 c_t)`, the gates' pre-activation gradients are
/// `di = dc_t g i(1-i)`, `df = dc_t c_{t-1} f(1-f)`, `dg = dc_t i (1-g^2)`,
/// `do = dh_t tanh(c_t) o(1-o)`, and `dc_{t-1} = dc_t f`. Returns `(dh_0, dc_0)`, spread.
fn lstm_backward<I: Backend>(
    b: &mut Back<I>,
    s: &ReferenceTrace<I>,
    mut dh: Tensor<I, 2>,
    mut carry: Tensor<I, 2>,
) -> (Tensor<I, 2>, Tensor<I, 2>) {
    let (m_f, m_g, m_o) = (b.mask(&[1]), b.mask(&[2]), b.mask(&[3]));
    let (m_ig, not_g, not_o) = (b.mask(&[0, 2]), b.mask(&[0, 1, 3]), b.mask(&[0, 1, 2]));
    let (o_cols, f_cols) = (b.cols(&[3; 4]), b.cols(&[1; 4]));
    // P below takes g into the i block and i into the g block; `all` reads `a` as it is
    // (through `select`, so that it can also be selected in other ways in one kernel).
    let (swap_ig, all) = (b.cols(&[2, 0, 0, 0]), b.cols(&[0, 1, 2, 3]));
    for k in (0..b.seq).rev() {
        let (t, dh_t) = b.dh_t(s.rec, k, dh);
        let (a, c) = (&s.acts[k][0], &s.acts[k][1]);
        let c_prev = if k == 0 { &s.c0 } else { &s.acts[k - 1][1] };
        let tc = b.wide(c).tanh();
        // The cell state's gradient through this step, and on to the step before.
        let dct = carry + dh_t.clone() * select(a, 1, &o_cols) * one_minus_square(tc.clone());
        carry = dct.clone() * select(a, 1, &f_cols);
        // The gates' pre-activations, U * P * D with U = [dc, dc, dc, dh],
        // P = [g, c_prev, i, tanh c], D = the activations' derivatives.
        let a_all = select(a, 1, &all);
        let u = dct * not_o.clone() + dh_t * m_o.clone();
        let p =
            select(a, 1, &swap_ig) * m_ig.clone() + b.wide(c_prev) * m_f.clone() + tc * m_o.clone();
        let d = (a_all.clone() - a_all.clone() * a_all.clone()) * not_g.clone()
            + one_minus_square(a_all) * m_g.clone();
        dh = b.step_back(t, u * p * d);
    }
    (dh, carry)
}

/// The GRU, `h_t = n + z (h_{t-1} - n)` with `n = tanh(x_n + r (h W_hn + b_hn))`: with `dh_t`
/// (from the output, the step after through `W_hh`, and directly as `dh_t z`),
/// `dz = dh_t (h_{t-1} - n) z(1-z)`, `dn = dh_t (1-z)(1-n^2)`,
/// `dr = dn (h W_hn + b_hn) r(1-r)`; the input gets `[dr, dz, dn]`, the recurrent product
/// `[dr, dz, dn r]`. Returns `(dh_0 through W_hh, dh_0 direct)`, spread.
fn gru_backward<I: Backend>(
    b: &mut Back<I>,
    s: &ReferenceTrace<I>,
    mut dh: Tensor<I, 2>,
    mut carry: Tensor<I, 2>,
) -> (Tensor<I, 2>, Tensor<I, 2>) {
    // Blocks: input r, z, n, then recurrent r, z, n.
    let (m_r, m_z, m_n, m_nr) = (b.mask(&[0, 3]), b.mask(&[1, 4]), b.mask(&[2]), b.mask(&[5]));
    // r and z, and `W_hn h + b_hn`, spread from their blocks.
    let (r_cols, z_cols, n_cols) = (b.cols(&[0; 6]), b.cols(&[1; 6]), b.cols(&[2; 6]));
    for k in (0..b.seq).rev() {
        let (t, dh_t) = b.dh_t(s.rec, k, dh + carry);
        let a = &s.acts[k];
        let (r, z) = (select(&a[0], 1, &r_cols), select(&a[0], 1, &z_cols));
        let (hn, n) = (select(&a[1], 1, &n_cols), b.wide(&a[2]));
        let h_prev = b.wide(if k == 0 { &s.h0 } else { &s.hs[k - 1] });
        let dz = dh_t.clone() * (h_prev - n.clone());
        let dnp = dh_t.clone() * z.clone().neg().add_scalar(1.0) * one_minus_square(n);
        let drp = dnp.clone() * hn * r.clone() * r.clone().neg().add_scalar(1.0);
        let dzp = dz * z.clone() * z.clone().neg().add_scalar(1.0);
        let d_both = drp * m_r.clone()
            + dzp * m_z.clone()
            + dnp.clone() * m_n.clone()
            + dnp * r * m_nr.clone();
        carry = dh_t * z;
        dh = b.step_back(t, d_both);
    }
    (dh, carry)
}
