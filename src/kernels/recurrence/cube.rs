//! The recurrence's gate maths as CubeCL kernels, for the GPU backends (wgpu and CUDA): the
//! equations of `gates.rs` beside this file, one unit per `(batch row b, hidden unit j)`,
//! `B * H` units. Tensors are contiguous; `t` is the step's time position, `tp` the time
//! position of the step processed before it (`first` = 1 when there is none: the initial states
//! are read instead). `crate::ops::recurrence::cube` launches them.

use cubecl::prelude::*;

/// `0.5 tanh(0.5 x) + 0.5`, the logistic sigmoid as the reference computes it.
#[cube]
pub(super) fn sigmoid<F: Float>(x: F) -> F {
    (x * F::new(0.5)).tanh() * F::new(0.5) + F::new(0.5)
}

/// RNN forward step: `h_t = act(p_t + h_{t-1} W_hh)`.
#[cube(launch)]
pub(crate) fn rnn_forward<F: Float>(
    p: &Tensor<F>,          // [B, T, H]
    hw: &Tensor<F>,         // [B, H]
    h_next: &mut Tensor<F>, // [B, H]
    out: &mut Tensor<F>,    // [B, T, H]
    t: u32,
    #[comptime] relu: bool,
    #[define(F)] _dtype: StorageType,
) {
    let hidden = hw.shape(1);
    if ABSOLUTE_POS >= hw.shape(0) * hidden {
        terminate!();
    }
    let b = ABSOLUTE_POS / hidden;
    let j = ABSOLUTE_POS % hidden;
    let seq = p.shape(1);
    let ti = t as usize;
    let at = (b * seq + ti) * hidden + j;
    let pre = p[at] + hw[ABSOLUTE_POS];
    let mut h = pre;
    if relu {
        if pre < F::new(0.0) {
            h = F::new(0.0);
        }
    } else {
        h = pre.tanh();
    }
    out[at] = h;
    h_next[ABSOLUTE_POS] = h;
}

/// RNN backward step: `dpre = (d_out_t + dh) act'(h_t)`.
#[cube(launch)]
pub(crate) fn rnn_backward<F: Float>(
    d_out: &Tensor<F>,  // [B, T, H]
    dh: &Tensor<F>,     // [B, H], from the step after
    out: &Tensor<F>,    // [B, T, H]
    dp: &mut Tensor<F>, // [B, T, H]
    dg: &mut Tensor<F>, // [B, H]
    t: u32,
    #[comptime] relu: bool,
    #[define(F)] _dtype: StorageType,
) {
    let hidden = dh.shape(1);
    if ABSOLUTE_POS >= dh.shape(0) * hidden {
        terminate!();
    }
    let b = ABSOLUTE_POS / hidden;
    let j = ABSOLUTE_POS % hidden;
    let seq = out.shape(1);
    let ti = t as usize;
    let at = (b * seq + ti) * hidden + j;
    let grad = d_out[at] + dh[ABSOLUTE_POS];
    let h = out[at];
    let mut d = grad * (F::new(1.0) - h * h);
    if relu {
        d = F::new(0.0);
        if h > F::new(0.0) {
            d = grad;
        }
    }
    dp[at] = d;
    dg[ABSOLUTE_POS] = d;
}

/// LSTM forward step (gates `i, f, g, o`): `c_t = f c_{t-1} + i g`, `h_t = o tanh(c_t)`.
#[cube(launch)]
pub(crate) fn lstm_forward<F: Float>(
    p: &Tensor<F>,          // [B, T, 4H]
    hw: &Tensor<F>,         // [B, 4H]
    c_prev: &Tensor<F>,     // [B, H]
    c_next: &mut Tensor<F>, // [B, H]
    h_next: &mut Tensor<F>, // [B, H]
    out: &mut Tensor<F>,    // [B, T, H]
    acts: &mut Tensor<F>,   // [T, B, 5H]
    t: u32,
    #[comptime] keep: bool,
    #[define(F)] _dtype: StorageType,
) {
    let hidden = c_prev.shape(1);
    let batch = c_prev.shape(0);
    if ABSOLUTE_POS >= batch * hidden {
        terminate!();
    }
    let b = ABSOLUTE_POS / hidden;
    let j = ABSOLUTE_POS % hidden;
    let seq = p.shape(1);
    let ti = t as usize;
    let pr = (b * seq + ti) * 4 * hidden + j;
    let hr = b * 4 * hidden + j;
    let i = sigmoid::<F>(p[pr] + hw[hr]);
    let f = sigmoid::<F>(p[pr + hidden] + hw[hr + hidden]);
    let g = (p[pr + 2 * hidden] + hw[hr + 2 * hidden]).tanh();
    let o = sigmoid::<F>(p[pr + 3 * hidden] + hw[hr + 3 * hidden]);
    let c = f * c_prev[ABSOLUTE_POS] + i * g;
    let h = o * c.tanh();
    c_next[ABSOLUTE_POS] = c;
    h_next[ABSOLUTE_POS] = h;
    out[(b * seq + ti) * hidden + j] = h;
    if keep {
        let a = (ti * batch + b) * 5 * hidden + j;
        acts[a] = i;
        acts[a + hidden] = f;
        acts[a + 2 * hidden] = g;
        acts[a + 3 * hidden] = o;
        acts[a + 4 * hidden] = c;
    }
}

/// LSTM backward step: the gates' pre-activation gradients and `dc_{t-1}`.
#[cube(launch)]
pub(crate) fn lstm_backward<F: Float>(
    d_out: &Tensor<F>,      // [B, T, H]
    dh: &Tensor<F>,         // [B, H], from the step after
    dc_in: &Tensor<F>,      // [B, H], from the step after
    acts: &Tensor<F>,       // [T, B, 5H]
    c0: &Tensor<F>,         // [B, H]
    dc_out: &mut Tensor<F>, // [B, H]
    dp: &mut Tensor<F>,     // [B, T, 4H]
    dg: &mut Tensor<F>,     // [B, 4H]
    t: u32,
    tp: u32,
    first: u32,
    #[define(F)] _dtype: StorageType,
) {
    let hidden = dh.shape(1);
    let batch = dh.shape(0);
    if ABSOLUTE_POS >= batch * hidden {
        terminate!();
    }
    let b = ABSOLUTE_POS / hidden;
    let j = ABSOLUTE_POS % hidden;
    let seq = d_out.shape(1);
    let ti = t as usize;
    let a = (ti * batch + b) * 5 * hidden + j;
    let i = acts[a];
    let f = acts[a + hidden];
    let g = acts[a + 2 * hidden];
    let o = acts[a + 3 * hidden];
    let c = acts[a + 4 * hidden];
    let mut c_prev = c0[ABSOLUTE_POS];
    if first == 0 {
        c_prev = acts[(tp as usize * batch + b) * 5 * hidden + 4 * hidden + j];
    }
    let one = F::new(1.0);
    let grad = d_out[(b * seq + ti) * hidden + j] + dh[ABSOLUTE_POS];
    let tc = c.tanh();
    let dc = dc_in[ABSOLUTE_POS] + grad * o * (one - tc * tc);
    dc_out[ABSOLUTE_POS] = dc * f;
    let di = dc * g * i * (one - i);
    let df = dc * c_prev * f * (one - f);
    let dgg = dc * i * (one - g * g);
    let d_o = grad * tc * o * (one - o);
    let pr = (b * seq + ti) * 4 * hidden + j;
    let gr = b * 4 * hidden + j;
    dp[pr] = di;
    dp[pr + hidden] = df;
    dp[pr + 2 * hidden] = dgg;
    dp[pr + 3 * hidden] = d_o;
    dg[gr] = di;
    dg[gr + hidden] = df;
    dg[gr + 2 * hidden] = dgg;
    dg[gr + 3 * hidden] = d_o;
}

/// GRU forward step (gates `r, z, n`): `r = σ(x_r + h_r)`, `z = σ(x_z + h_z)`,
/// `n = tanh(x_n + r h_n)`, `h_t = n + z (h_{t-1} - n)` with `h_* = h_{t-1} W_h* + b_h*`.
#[cube(launch)]
pub(crate) fn gru_forward<F: Float>(
    p: &Tensor<F>,          // [B, T, 3H]
    hw: &Tensor<F>,         // [B, 3H]
    b_hh: &Tensor<F>,       // [3H]
    h_prev: &Tensor<F>,     // [B, H]
    h_next: &mut Tensor<F>, // [B, H]
    out: &mut Tensor<F>,    // [B, T, H]
    acts: &mut Tensor<F>,   // [T, B, 4H]
    t: u32,
    #[comptime] keep: bool,
    #[define(F)] _dtype: StorageType,
) {
    let hidden = h_prev.shape(1);
    let batch = h_prev.shape(0);
    if ABSOLUTE_POS >= batch * hidden {
        terminate!();
    }
    let b = ABSOLUTE_POS / hidden;
    let j = ABSOLUTE_POS % hidden;
    let seq = p.shape(1);
    let ti = t as usize;
    let pr = (b * seq + ti) * 3 * hidden + j;
    let hr = b * 3 * hidden + j;
    let r = sigmoid::<F>(p[pr] + (hw[hr] + b_hh[j]));
    let z = sigmoid::<F>(p[pr + hidden] + (hw[hr + hidden] + b_hh[j + hidden]));
    let hn = hw[hr + 2 * hidden] + b_hh[j + 2 * hidden];
    let n = (p[pr + 2 * hidden] + r * hn).tanh();
    let h = n + z * (h_prev[ABSOLUTE_POS] - n);
    h_next[ABSOLUTE_POS] = h;
    out[(b * seq + ti) * hidden + j] = h;
    if keep {
        let a = (ti * batch + b) * 4 * hidden + j;
        acts[a] = r;
        acts[a + hidden] = z;
        acts[a + 2 * hidden] = n;
        acts[a + 3 * hidden] = hn;
    }
}

/// GRU backward step: the gradients of the input's and of the recurrent product's gate
/// pre-activations (they differ in the n gate, where the latter is scaled by `r`), and the
/// direct path `dh_t z` to `h_{t-1}`.
#[cube(launch)]
pub(crate) fn gru_backward<F: Float>(
    d_out: &Tensor<F>,         // [B, T, H]
    dh: &Tensor<F>,            // [B, H], from the step after through W_hh
    carry_in: &Tensor<F>,      // [B, H], from the step after, directly
    acts: &Tensor<F>,          // [T, B, 4H]
    h0: &Tensor<F>,            // [B, H]
    out: &Tensor<F>,           // [B, T, H]
    carry_out: &mut Tensor<F>, // [B, H]
    dp: &mut Tensor<F>,        // [B, T, 3H]
    dhp: &mut Tensor<F>,       // [B, T, 3H]
    dg: &mut Tensor<F>,        // [B, 3H]
    t: u32,
    tp: u32,
    first: u32,
    #[define(F)] _dtype: StorageType,
) {
    let hidden = dh.shape(1);
    let batch = dh.shape(0);
    if ABSOLUTE_POS >= batch * hidden {
        terminate!();
    }
    let b = ABSOLUTE_POS / hidden;
    let j = ABSOLUTE_POS % hidden;
    let seq = d_out.shape(1);
    let ti = t as usize;
    let a = (ti * batch + b) * 4 * hidden + j;
    let r = acts[a];
    let z = acts[a + hidden];
    let n = acts[a + 2 * hidden];
    let hn = acts[a + 3 * hidden];
    let mut h_prev = h0[ABSOLUTE_POS];
    if first == 0 {
        h_prev = out[(b * seq + tp as usize) * hidden + j];
    }
    let one = F::new(1.0);
    let grad = d_out[(b * seq + ti) * hidden + j] + dh[ABSOLUTE_POS] + carry_in[ABSOLUTE_POS];
    carry_out[ABSOLUTE_POS] = grad * z;
    let dn = grad * (one - z) * (one - n * n);
    let dr = dn * hn * r * (one - r);
    let dz = grad * (h_prev - n) * z * (one - z);
    let pr = (b * seq + ti) * 3 * hidden + j;
    let gr = b * 3 * hidden + j;
    dp[pr] = dr;
    dp[pr + hidden] = dz;
    dp[pr + 2 * hidden] = dn;
    dhp[pr] = dr;
    dhp[pr + hidden] = dz;
    dhp[pr + 2 * hidden] = dn * r;
    dg[gr] = dr;
    dg[gr + hidden] = dz;
    dg[gr + 2 * hidden] = dn * r;
}
