//! The LSTM's time step as one CubeCL kernel for large hidden sizes, forward and backward: the
//! recurrent product and the gate maths fused, one launch per time step and layer direction.
//! A cube owns a tile of `tile` hidden units across all four gates, holds the tile's columns of
//! `W_hh` (forward) or rows (backward) in shared memory, loaded once per launch, and computes
//! every batch row's gates for its units: its units split into `tile` columns by batch lanes.
//! The launch boundary orders the steps, so nothing waits inside a kernel.
//!
//! Layouts as in `cube.rs`: `p`, `dp` `[B, T, 4H]`, `w` `[H, 4H]`, states `[B, H]`, gate
//! gradients `[B, 4H]`, `acts` `[T, B, 5H]`. `hidden` and `tile` are comptime (they size the
//! shared memory).

use cubecl::prelude::*;

use super::cube::sigmoid;

/// LSTM forward step: `z = p_t + h_{t-1} W_hh` for the cube's units, then `cube::lstm_forward`'s
/// gate maths.
#[cube(launch)]
pub(crate) fn lstm_forward_step<F: Float>(
    p: &Tensor<F>,          // [B, T, 4H]
    w: &Tensor<F>,          // [H, 4H]
    h_prev: &Tensor<F>,     // [B, H]
    c_prev: &Tensor<F>,     // [B, H]
    c_next: &mut Tensor<F>, // [B, H]
    h_next: &mut Tensor<F>, // [B, H]
    out: &mut Tensor<F>,    // [B, T, H]
    acts: &mut Tensor<F>,   // [T, B, 5H]
    t: u32,
    #[comptime] hidden: usize,
    #[comptime] tile: usize,
    #[comptime] keep: bool,
    #[define(F)] _dtype: StorageType,
) {
    let gh = 4 * hidden;
    let j0 = CUBE_POS_X as usize * tile;
    let step = CUBE_DIM_X as usize;
    // The tile's columns: `wt[(m * 4 + g) * tile + jj] = w[m, g H + j0 + jj]`.
    let mut wt = SharedMemory::<F>::new(hidden * 4 * tile);
    let mut e = UNIT_POS_X as usize;
    while e < hidden * 4 * tile {
        let jj = e % tile;
        let mg = e / tile;
        let j = j0 + jj;
        let mut v = F::new(0.0);
        if j < hidden {
            v = w[(mg / 4) * gh + (mg % 4) * hidden + j];
        }
        wt[e] = v;
        e += step;
    }
    sync_cube();
    let jj = UNIT_POS_X as usize % tile;
    let j = j0 + jj;
    let lanes = step / tile;
    let batch = h_prev.shape(0);
    let seq = p.shape(1);
    let ti = t as usize;
    if j < hidden && UNIT_POS_X as usize / tile < lanes {
        let mut b = UNIT_POS_X as usize / tile;
        while b < batch {
            let mut ai = F::new(0.0);
            let mut af = F::new(0.0);
            let mut ag = F::new(0.0);
            let mut ao = F::new(0.0);
            for m in 0..hidden {
                let h = h_prev[b * hidden + m];
                let row = m * 4 * tile + jj;
                ai += h * wt[row];
                af += h * wt[row + tile];
                ag += h * wt[row + 2 * tile];
                ao += h * wt[row + 3 * tile];
            }
            let pr = (b * seq + ti) * gh + j;
            let i = sigmoid::<F>(p[pr] + ai);
            let f = sigmoid::<F>(p[pr + hidden] + af);
            let g = (p[pr + 2 * hidden] + ag).tanh();
            let o = sigmoid::<F>(p[pr + 3 * hidden] + ao);
            let c = f * c_prev[b * hidden + j] + i * g;
            let h = o * c.tanh();
            c_next[b * hidden + j] = c;
            h_next[b * hidden + j] = h;
            out[(b * seq + ti) * hidden + j] = h;
            if keep {
                let a = (ti * batch + b) * 5 * hidden + j;
                acts[a] = i;
                acts[a + hidden] = f;
                acts[a + 2 * hidden] = g;
                acts[a + 3 * hidden] = o;
                acts[a + 4 * hidden] = c;
            }
            b += lanes;
        }
    }
}

/// LSTM backward step: the gradient reaching `h_t` through `W_hh` from the step after,
/// `dG_{t+1} W_hh^T` for the cube's units (`dh_last` instead when `last` = 1: the backward's
/// first step), then `cube::lstm_backward`'s gate maths (`c_{t-1}` from `acts` at `tp`, or `c0`
/// when `first` = 1: the forward's first step); the gate gradients go to `dp` and `dg_out`.
#[cube(launch)]
pub(crate) fn lstm_backward_step<F: Float>(
    w: &Tensor<F>,          // [H, 4H]
    dg_in: &Tensor<F>,      // [B, 4H], from the step after
    dh_last: &Tensor<F>,    // [B, H]
    d_out: &Tensor<F>,      // [B, T, H]
    dc_in: &Tensor<F>,      // [B, H], from the step after
    acts: &Tensor<F>,       // [T, B, 5H]
    c0: &Tensor<F>,         // [B, H]
    dc_out: &mut Tensor<F>, // [B, H]
    dp: &mut Tensor<F>,     // [B, T, 4H]
    dg_out: &mut Tensor<F>, // [B, 4H]
    t: u32,
    tp: u32,
    first: u32,
    last: u32,
    #[comptime] hidden: usize,
    #[comptime] tile: usize,
    #[define(F)] _dtype: StorageType,
) {
    let gh = 4 * hidden;
    let j0 = CUBE_POS_X as usize * tile;
    let step = CUBE_DIM_X as usize;
    // The tile's rows: `wt[q * tile + jj] = w[j0 + jj, q]`, read from global along rows.
    let mut wt = SharedMemory::<F>::new(gh * tile);
    let mut e = UNIT_POS_X as usize;
    while e < gh * tile {
        let jj = e / gh;
        let q = e % gh;
        let j = j0 + jj;
        let mut v = F::new(0.0);
        if j < hidden {
            v = w[j * gh + q];
        }
        wt[q * tile + jj] = v;
        e += step;
    }
    sync_cube();
    let jj = UNIT_POS_X as usize % tile;
    let j = j0 + jj;
    let lanes = step / tile;
    let batch = dh_last.shape(0);
    let seq = d_out.shape(1);
    let ti = t as usize;
    let one = F::new(1.0);
    if j < hidden && UNIT_POS_X as usize / tile < lanes {
        let mut b = UNIT_POS_X as usize / tile;
        while b < batch {
            let mut through = dh_last[b * hidden + j];
            if last == 0 {
                through = F::new(0.0);
                for q in 0..gh {
                    through += dg_in[b * gh + q] * wt[q * tile + jj];
                }
            }
            let a = (ti * batch + b) * 5 * hidden + j;
            let i = acts[a];
            let f = acts[a + hidden];
            let g = acts[a + 2 * hidden];
            let o = acts[a + 3 * hidden];
            let c = acts[a + 4 * hidden];
            let mut c_prev = c0[b * hidden + j];
            if first == 0 {
                c_prev = acts[(tp as usize * batch + b) * 5 * hidden + 4 * hidden + j];
            }
            let grad = d_out[(b * seq + ti) * hidden + j] + through;
            let tc = c.tanh();
            let dc = dc_in[b * hidden + j] + grad * o * (one - tc * tc);
            dc_out[b * hidden + j] = dc * f;
            let di = dc * g * i * (one - i);
            let df = dc * c_prev * f * (one - f);
            let dgg = dc * i * (one - g * g);
            let d_o = grad * tc * o * (one - o);
            let pr = (b * seq + ti) * gh + j;
            dp[pr] = di;
            dp[pr + hidden] = df;
            dp[pr + 2 * hidden] = dgg;
            dp[pr + 3 * hidden] = d_o;
            let gr = b * gh + j;
            dg_out[gr] = di;
            dg_out[gr + hidden] = df;
            dg_out[gr + 2 * hidden] = dgg;
            dg_out[gr + 3 * hidden] = d_o;
            b += lanes;
        }
    }
}
