//! The recurrence as persistent CubeCL kernels: one launch per layer direction runs the whole
//! time loop, forward or backward. Each cube owns one batch row (batch rows are independent, so
//! no cube ever waits for another) and keeps the row's state of the last step in shared memory;
//! each of its units owns hidden units `j, j + CUBE_DIM, ...` across all gates: it computes its
//! part of `h_{t-1} W_hh` (forward) or `dG_{t+1} W_hh^T` (backward) from the shared state and
//! applies the gate maths of `cube.rs` in the same pass. One `sync_cube` per time step; the
//! shared state is double-buffered so a step's reads never race its writes.
//!
//! Layouts as in `cube.rs`: `p` and `dp` `[B, T, G*H]`, `w` `[H, G*H]`, `w_t` its transpose
//! `[G*H, H]`, states `[B, H]`, `out` `[B, T, H]`, `acts` `[T, B, k*H]`. `hidden` is comptime
//! (it sizes the shared memory); `reverse` runs the time loop backwards (a bidirectional
//! layer's second direction).

use cubecl::prelude::*;

use super::cube::sigmoid;

/// The time position of the `k`-th step processed, of `seq`.
#[cube]
fn position(k: usize, seq: usize, #[comptime] reverse: bool) -> usize {
    let mut t = k;
    if reverse {
        t = seq - 1 - k;
    }
    t
}

/// RNN forward over all steps: `h_t = act(p_t + h_{t-1} W_hh)`.
#[cube(launch)]
pub(crate) fn rnn_forward_seq<F: Float>(
    p: &Tensor<F>,          // [B, T, H]
    w: &Tensor<F>,          // [H, H]
    h0: &Tensor<F>,         // [B, H]
    out: &mut Tensor<F>,    // [B, T, H]
    h_last: &mut Tensor<F>, // [B, H]
    #[comptime] hidden: usize,
    #[comptime] reverse: bool,
    #[comptime] relu: bool,
    #[define(F)] _dtype: StorageType,
) {
    let b = CUBE_POS_X as usize;
    let step = CUBE_DIM_X as usize;
    let seq = p.shape(1);
    let mut hs = SharedMemory::<F>::new(2 * hidden);
    let mut j = UNIT_POS_X as usize;
    while j < hidden {
        hs[j] = h0[b * hidden + j];
        j += step;
    }
    sync_cube();
    for k in 0..seq {
        let t = position(k, seq, reverse);
        let cur = (k % 2) * hidden;
        let nxt = hidden - cur;
        let mut j = UNIT_POS_X as usize;
        while j < hidden {
            let mut acc = F::new(0.0);
            for m in 0..hidden {
                acc += hs[cur + m] * w[m * hidden + j];
            }
            let at = (b * seq + t) * hidden + j;
            let pre = p[at] + acc;
            let mut h = pre;
            if relu {
                if pre < F::new(0.0) {
                    h = F::new(0.0);
                }
            } else {
                h = pre.tanh();
            }
            out[at] = h;
            hs[nxt + j] = h;
            j += step;
        }
        sync_cube();
    }
    let fin = (seq % 2) * hidden;
    let mut j = UNIT_POS_X as usize;
    while j < hidden {
        h_last[b * hidden + j] = hs[fin + j];
        j += step;
    }
}

/// RNN backward over all steps: `dpre_t = (d_out_t + dpre_{t+1} W_hh^T) act'(h_t)`; `dh` gets
/// the gradient reaching `h0` through `W_hh`.
#[cube(launch)]
pub(crate) fn rnn_backward_seq<F: Float>(
    w_t: &Tensor<F>,     // [H, H]
    out: &Tensor<F>,     // [B, T, H]
    d_out: &Tensor<F>,   // [B, T, H]
    dh_last: &Tensor<F>, // [B, H]
    dp: &mut Tensor<F>,  // [B, T, H]
    dh: &mut Tensor<F>,  // [B, H]
    #[comptime] hidden: usize,
    #[comptime] reverse: bool,
    #[comptime] relu: bool,
    #[define(F)] _dtype: StorageType,
) {
    let b = CUBE_POS_X as usize;
    let step = CUBE_DIM_X as usize;
    let seq = out.shape(1);
    let mut ds = SharedMemory::<F>::new(2 * hidden);
    for n in 0..seq {
        let t = position(seq - 1 - n, seq, reverse);
        let cur = (n % 2) * hidden;
        let nxt = hidden - cur;
        let mut j = UNIT_POS_X as usize;
        while j < hidden {
            let mut through = dh_last[b * hidden + j];
            if n > 0 {
                through = F::new(0.0);
                for q in 0..hidden {
                    through += ds[cur + q] * w_t[q * hidden + j];
                }
            }
            let at = (b * seq + t) * hidden + j;
            let grad = d_out[at] + through;
            let h = out[at];
            let mut d = grad * (F::new(1.0) - h * h);
            if relu {
                d = F::new(0.0);
                if h > F::new(0.0) {
                    d = grad;
                }
            }
            dp[at] = d;
            ds[nxt + j] = d;
            j += step;
        }
        sync_cube();
    }
    let fin = (seq % 2) * hidden;
    let mut j = UNIT_POS_X as usize;
    while j < hidden {
        let mut through = F::new(0.0);
        for q in 0..hidden {
            through += ds[fin + q] * w_t[q * hidden + j];
        }
        dh[b * hidden + j] = through;
        j += step;
    }
}

/// LSTM forward over all steps (gates `i, f, g, o`); `c_last` holds the running cell state.
#[cube(launch)]
pub(crate) fn lstm_forward_seq<F: Float>(
    p: &Tensor<F>,          // [B, T, 4H]
    w: &Tensor<F>,          // [H, 4H]
    h0: &Tensor<F>,         // [B, H]
    c0: &Tensor<F>,         // [B, H]
    out: &mut Tensor<F>,    // [B, T, H]
    h_last: &mut Tensor<F>, // [B, H]
    c_last: &mut Tensor<F>, // [B, H]
    acts: &mut Tensor<F>,   // [T, B, 5H]
    #[comptime] hidden: usize,
    #[comptime] reverse: bool,
    #[comptime] keep: bool,
    #[define(F)] _dtype: StorageType,
) {
    let b = CUBE_POS_X as usize;
    let step = CUBE_DIM_X as usize;
    let batch = h0.shape(0);
    let seq = p.shape(1);
    let gh = 4 * hidden;
    let mut hs = SharedMemory::<F>::new(2 * hidden);
    let mut j = UNIT_POS_X as usize;
    while j < hidden {
        hs[j] = h0[b * hidden + j];
        c_last[b * hidden + j] = c0[b * hidden + j];
        j += step;
    }
    sync_cube();
    for k in 0..seq {
        let t = position(k, seq, reverse);
        let cur = (k % 2) * hidden;
        let nxt = hidden - cur;
        let mut j = UNIT_POS_X as usize;
        while j < hidden {
            let mut ai = F::new(0.0);
            let mut af = F::new(0.0);
            let mut ag = F::new(0.0);
            let mut ao = F::new(0.0);
            for m in 0..hidden {
                let h = hs[cur + m];
                let row = m * gh + j;
                ai += h * w[row];
                af += h * w[row + hidden];
                ag += h * w[row + 2 * hidden];
                ao += h * w[row + 3 * hidden];
            }
            let pr = (b * seq + t) * gh + j;
            let i = sigmoid::<F>(p[pr] + ai);
            let f = sigmoid::<F>(p[pr + hidden] + af);
            let g = (p[pr + 2 * hidden] + ag).tanh();
            let o = sigmoid::<F>(p[pr + 3 * hidden] + ao);
            let c = f * c_last[b * hidden + j] + i * g;
            let h = o * c.tanh();
            c_last[b * hidden + j] = c;
            hs[nxt + j] = h;
            out[(b * seq + t) * hidden + j] = h;
            if keep {
                let a = (t * batch + b) * 5 * hidden + j;
                acts[a] = i;
                acts[a + hidden] = f;
                acts[a + 2 * hidden] = g;
                acts[a + 3 * hidden] = o;
                acts[a + 4 * hidden] = c;
            }
            j += step;
        }
        sync_cube();
    }
    let fin = (seq % 2) * hidden;
    let mut j = UNIT_POS_X as usize;
    while j < hidden {
        h_last[b * hidden + j] = hs[fin + j];
        j += step;
    }
}

/// LSTM backward over all steps: the gates' pre-activation gradients into `dp`, `dc` the
/// running cell-state gradient (`dc0` at the end), `dh` the gradient reaching `h0` through
/// `W_hh`.
#[cube(launch)]
pub(crate) fn lstm_backward_seq<F: Float>(
    w_t: &Tensor<F>,     // [4H, H]
    acts: &Tensor<F>,    // [T, B, 5H]
    c0: &Tensor<F>,      // [B, H]
    d_out: &Tensor<F>,   // [B, T, H]
    dh_last: &Tensor<F>, // [B, H]
    dc_last: &Tensor<F>, // [B, H]
    dp: &mut Tensor<F>,  // [B, T, 4H]
    dh: &mut Tensor<F>,  // [B, H]
    dc: &mut Tensor<F>,  // [B, H]
    #[comptime] hidden: usize,
    #[comptime] reverse: bool,
    #[define(F)] _dtype: StorageType,
) {
    let b = CUBE_POS_X as usize;
    let step = CUBE_DIM_X as usize;
    let batch = c0.shape(0);
    let seq = d_out.shape(1);
    let gh = 4 * hidden;
    let one = F::new(1.0);
    let mut ds = SharedMemory::<F>::new(2 * gh);
    let mut j = UNIT_POS_X as usize;
    while j < hidden {
        dc[b * hidden + j] = dc_last[b * hidden + j];
        j += step;
    }
    for n in 0..seq {
        let k = seq - 1 - n;
        let t = position(k, seq, reverse);
        let cur = (n % 2) * gh;
        let nxt = gh - cur;
        let mut j = UNIT_POS_X as usize;
        while j < hidden {
            let mut through = dh_last[b * hidden + j];
            if n > 0 {
                through = F::new(0.0);
                for q in 0..gh {
                    through += ds[cur + q] * w_t[q * hidden + j];
                }
            }
            let a = (t * batch + b) * 5 * hidden + j;
            let i = acts[a];
            let f = acts[a + hidden];
            let g = acts[a + 2 * hidden];
            let o = acts[a + 3 * hidden];
            let c = acts[a + 4 * hidden];
            let mut c_prev = c0[b * hidden + j];
            if k > 0 {
                let tp = position(k - 1, seq, reverse);
                c_prev = acts[(tp * batch + b) * 5 * hidden + 4 * hidden + j];
            }
            let grad = d_out[(b * seq + t) * hidden + j] + through;
            let tc = c.tanh();
            let dcv = dc[b * hidden + j] + grad * o * (one - tc * tc);
            dc[b * hidden + j] = dcv * f;
            let di = dcv * g * i * (one - i);
            let df = dcv * c_prev * f * (one - f);
            let dgg = dcv * i * (one - g * g);
            let d_o = grad * tc * o * (one - o);
            let pr = (b * seq + t) * gh + j;
            dp[pr] = di;
            dp[pr + hidden] = df;
            dp[pr + 2 * hidden] = dgg;
            dp[pr + 3 * hidden] = d_o;
            ds[nxt + j] = di;
            ds[nxt + hidden + j] = df;
            ds[nxt + 2 * hidden + j] = dgg;
            ds[nxt + 3 * hidden + j] = d_o;
            j += step;
        }
        sync_cube();
    }
    let fin = (seq % 2) * gh;
    let mut j = UNIT_POS_X as usize;
    while j < hidden {
        let mut through = F::new(0.0);
        for q in 0..gh {
            through += ds[fin + q] * w_t[q * hidden + j];
        }
        dh[b * hidden + j] = through;
        j += step;
    }
}

/// GRU forward over all steps (gates `r, z, n`, the equations of `cube::gru_forward`).
#[cube(launch)]
pub(crate) fn gru_forward_seq<F: Float>(
    p: &Tensor<F>,          // [B, T, 3H]
    w: &Tensor<F>,          // [H, 3H]
    b_hh: &Tensor<F>,       // [3H]
    h0: &Tensor<F>,         // [B, H]
    out: &mut Tensor<F>,    // [B, T, H]
    h_last: &mut Tensor<F>, // [B, H]
    acts: &mut Tensor<F>,   // [T, B, 4H]
    #[comptime] hidden: usize,
    #[comptime] reverse: bool,
    #[comptime] keep: bool,
    #[define(F)] _dtype: StorageType,
) {
    let b = CUBE_POS_X as usize;
    let step = CUBE_DIM_X as usize;
    let batch = h0.shape(0);
    let seq = p.shape(1);
    let gh = 3 * hidden;
    let mut hs = SharedMemory::<F>::new(2 * hidden);
    let mut j = UNIT_POS_X as usize;
    while j < hidden {
        hs[j] = h0[b * hidden + j];
        j += step;
    }
    sync_cube();
    for k in 0..seq {
        let t = position(k, seq, reverse);
        let cur = (k % 2) * hidden;
        let nxt = hidden - cur;
        let mut j = UNIT_POS_X as usize;
        while j < hidden {
            let mut ar = F::new(0.0);
            let mut az = F::new(0.0);
            let mut an = F::new(0.0);
            for m in 0..hidden {
                let h = hs[cur + m];
                let row = m * gh + j;
                ar += h * w[row];
                az += h * w[row + hidden];
                an += h * w[row + 2 * hidden];
            }
            let pr = (b * seq + t) * gh + j;
            let r = sigmoid::<F>(p[pr] + (ar + b_hh[j]));
            let z = sigmoid::<F>(p[pr + hidden] + (az + b_hh[j + hidden]));
            let hn = an + b_hh[j + 2 * hidden];
            let n = (p[pr + 2 * hidden] + r * hn).tanh();
            let h = n + z * (hs[cur + j] - n);
            hs[nxt + j] = h;
            out[(b * seq + t) * hidden + j] = h;
            if keep {
                let a = (t * batch + b) * 4 * hidden + j;
                acts[a] = r;
                acts[a + hidden] = z;
                acts[a + 2 * hidden] = n;
                acts[a + 3 * hidden] = hn;
            }
            j += step;
        }
        sync_cube();
    }
    let fin = (seq % 2) * hidden;
    let mut j = UNIT_POS_X as usize;
    while j < hidden {
        h_last[b * hidden + j] = hs[fin + j];
        j += step;
    }
}

/// GRU backward over all steps: `dp` and `dhp` as `cube::gru_backward` writes them, `carry`
/// the direct path `dh z` (to `h0` at the end), `dh` the gradient reaching `h0` through `W_hh`.
#[cube(launch)]
pub(crate) fn gru_backward_seq<F: Float>(
    w_t: &Tensor<F>,       // [3H, H]
    acts: &Tensor<F>,      // [T, B, 4H]
    h0: &Tensor<F>,        // [B, H]
    out: &Tensor<F>,       // [B, T, H]
    d_out: &Tensor<F>,     // [B, T, H]
    dh_last: &Tensor<F>,   // [B, H]
    dp: &mut Tensor<F>,    // [B, T, 3H]
    dhp: &mut Tensor<F>,   // [B, T, 3H]
    dh: &mut Tensor<F>,    // [B, H]
    carry: &mut Tensor<F>, // [B, H]
    #[comptime] hidden: usize,
    #[comptime] reverse: bool,
    #[define(F)] _dtype: StorageType,
) {
    let b = CUBE_POS_X as usize;
    let step = CUBE_DIM_X as usize;
    let batch = h0.shape(0);
    let seq = d_out.shape(1);
    let gh = 3 * hidden;
    let one = F::new(1.0);
    let mut ds = SharedMemory::<F>::new(2 * gh);
    let mut j = UNIT_POS_X as usize;
    while j < hidden {
        carry[b * hidden + j] = F::new(0.0);
        j += step;
    }
    for n in 0..seq {
        let k = seq - 1 - n;
        let t = position(k, seq, reverse);
        let cur = (n % 2) * gh;
        let nxt = gh - cur;
        let mut j = UNIT_POS_X as usize;
        while j < hidden {
            let mut through = dh_last[b * hidden + j];
            if n > 0 {
                through = F::new(0.0);
                for q in 0..gh {
                    through += ds[cur + q] * w_t[q * hidden + j];
                }
            }
            let a = (t * batch + b) * 4 * hidden + j;
            let r = acts[a];
            let z = acts[a + hidden];
            let nn = acts[a + 2 * hidden];
            let hn = acts[a + 3 * hidden];
            let mut h_prev = h0[b * hidden + j];
            if k > 0 {
                let tp = position(k - 1, seq, reverse);
                h_prev = out[(b * seq + tp) * hidden + j];
            }
            let grad = d_out[(b * seq + t) * hidden + j] + through + carry[b * hidden + j];
            carry[b * hidden + j] = grad * z;
            let dn = grad * (one - z) * (one - nn * nn);
            let dr = dn * hn * r * (one - r);
            let dz = grad * (h_prev - nn) * z * (one - z);
            let pr = (b * seq + t) * gh + j;
            dp[pr] = dr;
            dp[pr + hidden] = dz;
            dp[pr + 2 * hidden] = dn;
            dhp[pr] = dr;
            dhp[pr + hidden] = dz;
            dhp[pr + 2 * hidden] = dn * r;
            ds[nxt + j] = dr;
            ds[nxt + hidden + j] = dz;
            ds[nxt + 2 * hidden + j] = dn * r;
            j += step;
        }
        sync_cube();
    }
    let fin = (seq % 2) * gh;
    let mut j = UNIT_POS_X as usize;
    while j < hidden {
        let mut through = F::new(0.0);
        for q in 0..gh {
            through += ds[fin + q] * w_t[q * hidden + j];
        }
        dh[b * hidden + j] = through;
        j += step;
    }
}
