//! The recurrence of one layer direction on host memory: forward, then backward.
//!
//! Burn's ndarray backend runs every elementwise op as its own pass (f32 `tanh` goes through
//! f64 libm) and wakes its thread pool for tiny per-step tensors. Here one step is a gemm
//! written in place into the step's rows of the projected input (the `gemm` crate, with strides,
//! no copies; AVX-512 where the CPU has it) and one fused loop over `[B, G*H]` for all the gate
//! math. Batch rows are independent, so the batch is cut into one chunk per thread and each
//! thread runs the whole time loop on its rows: no synchronisation per step. The weight gradient
//! of all steps is then one multi-threaded gemm.
//!
//! Layout: row-major buffers. `p` is `[B, T, G*H]`, `w` is `[H, G*H]`, states are `[B, H]`.
//! The output is `[B, T, H]`, the hidden state at every time position; the LSTM's final cell
//! state `[B, H]` comes separately. Gate order is PyTorch's (LSTM `i, f, g, o`; GRU `r, z, n`).
//!
//! The files, the same equations on both sides:
//! - `gates`: the gate maths of one batch row, forward then backward for each cell (host);
//! - `host`: the drivers on host memory: batch chunks per thread, the time loop, the weight
//!   gradient of all steps;
//! - `cube` (features `wgpu`, `cuda`): the gate maths as CubeCL kernels for the GPU backends,
//!   one launch per time step beside a matmul, launched by `crate::ops::recurrence`;
//! - `fused_step` (same features): the LSTM's time step as one kernel (recurrent product and
//!   gate maths, a tile of `W_hh` in shared memory), for hidden sizes above the persistent
//!   loops' default;
//! - `persistent` (same features): the whole time loop of a layer direction in one launch, the
//!   recurrent product and the gate maths fused, for hidden sizes whose state fits a cube's
//!   shared memory.

#[cfg(any(feature = "wgpu", feature = "cuda"))]
pub(crate) mod cube;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
pub(crate) mod fused_step;
mod gates;
mod host;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
pub(crate) mod persistent;

use crate::cell_kind::{Activation, CellKind};

pub(crate) use gates::{blocks4_mut, gru_forward, lstm_forward};
pub(crate) use host::{HostTrace, backward, forward};

/// Which recurrence runs: the cell, the vanilla RNN's nonlinearity, and the direction in time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Recurrence {
    /// The cell.
    pub kind: CellKind,
    /// The nonlinearity (vanilla RNN only).
    pub activation: Activation,
    /// Whether the direction runs backwards in time (the second direction of a bidirectional
    /// layer); its output is still stored in time order.
    pub reverse: bool,
}

impl Recurrence {
    /// The time position of the `k`-th step processed, of `seq`.
    pub(crate) fn position(self, seq: usize, k: usize) -> usize {
        if self.reverse { seq - 1 - k } else { k }
    }
}
