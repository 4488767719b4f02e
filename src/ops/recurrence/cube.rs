//! The recurrence as CubeCL kernels, for the GPU backends (wgpu and CUDA; one implementation,
//! generic over CubeCL's runtime): cuDNN's recipe.
//!
//! - forward, per time step: one matmul `h_{t-1} W_hh` into a buffer allocated once, and one
//!   gate kernel that reads the step's projected input `p[:, t]` in place, writes the gate
//!   activations the backward needs into `acts [T, B, k*H]`, `h_t` into the output `[B, T, H]`
//!   and into the next step's `[B, H]` state;
//! - backward, per time step: one gate-gradient kernel that writes `dG_t` in place into
//!   `dp [B, T, G*H]` (and a `[B, G*H]` copy for the matmul), and one matmul
//!   `dG_t W_hh^T` for the gradient reaching `h_{t-1}`; the weight gradient of all steps is one
//!   large matmul `H_prev^T dG` after the loop, in Burn tensor ops.
//!
//! Where the backward's shared state (`2 G H` values) fits a cube's shared memory, each loop is
//! instead one persistent launch (`crate::kernels::recurrence::persistent`): a cube per batch
//! row runs every time step, the recurrent product and the gate maths fused.
//! By default the persistent loops run for a `W_hh` up to 1 MiB (each cube streams all of it
//! every step), the per-step launches above; `BURN_RNN_GPU_RECURRENCE=steps` or `persistent`
//! asks for one of them (A/B), `reference` for the reference loop.
//!
//! No slice, cat or stack per step, and no host read. Each loop is one custom operation of Burn's
//! fusion backend (as burn-vision registers its own): the fusion engine hands the loop its inputs
//! as `CubeBackend` tensors and takes its outputs back, so the rest of the training step still
//! fuses around it.
//!
//! Activations saved per step (`k` blocks of `H` per batch row of `acts`):
//! - RNN: none (the output is `h_t` itself);
//! - LSTM: `i, f, g, o` (after their nonlinearities) and `c_t` (k = 5);
//! - GRU: `r, z, n` and `h_{t-1} W_hn + b_hn` (k = 4).
//!
//! f32 only (the GPU backends' float type here); [`forward`] reports `None` for anything else and
//! the caller takes the reference loop.

use std::marker::PhantomData;

use burn::tensor::{DType, Shape, Tensor, TensorPrimitive, backend::Backend, ops::FloatTensorOps};
use burn_cubecl::{
    BoolElement, CubeBackend, CubeRuntime,
    fusion::FusionCubeRuntime,
    kernel::{
        into_contiguous,
        matmul::{MatmulStrategy, matmul},
    },
    ops::numeric::{empty_device_dtype, zeros_client},
    tensor::CubeTensor,
};
use burn_fusion::{
    Fusion, FusionRuntime, FusionTensor,
    stream::{Operation, OperationStreams},
};
use burn_ir::{CustomOpIr, HandleContainer, OperationIr, TensorIr};
use cubecl::{
    calculate_cube_count_elemwise,
    prelude::{CubeCount, CubeDim, StorageType, TensorArg},
};

use super::{InputGrads, Inputs, cast};
use crate::cell_kind::{Activation, CellKind};
use crate::kernels::recurrence::{Recurrence, cube as kernel, fused_step, persistent};

// ---------------------------------------------------------------------------------------------
// The loops, on the fusion backend's inner `CubeBackend` tensors.

type Inner<R, BT> = CubeBackend<R, f32, i32, BT>;
type Fused<R, BT> = Fusion<Inner<R, BT>>;
type Handles<R> = HandleContainer<<FusionCubeRuntime<R> as FusionRuntime>::FusionHandle>;

/// Blocks of `H` per batch row of the saved activations.
fn act_blocks(kind: CellKind) -> usize {
    match kind {
        CellKind::Rnn => 0,
        CellKind::Lstm => 5,
        CellKind::Gru => 4,
    }
}

fn empty<R: CubeRuntime>(like: &CubeTensor<R>, shape: &[usize]) -> CubeTensor<R> {
    empty_device_dtype::<R>(
        like.client.clone(),
        like.device.clone(),
        Shape::from(shape.to_vec()),
        DType::F32,
    )
}

fn zeros<R: CubeRuntime>(like: &CubeTensor<R>, shape: &[usize]) -> CubeTensor<R> {
    zeros_client::<R>(
        like.client.clone(),
        like.device.clone(),
        Shape::from(shape.to_vec()),
        DType::F32,
    )
}

fn dims<R: CubeRuntime, const D: usize>(t: &CubeTensor<R>) -> [usize; D] {
    let shape = t.meta.shape();
    std::array::from_fn(|i| shape[i])
}

/// `out = lhs rhs`, written into `out`.
fn matmul_into<R: CubeRuntime>(lhs: &CubeTensor<R>, rhs: &CubeTensor<R>, out: &CubeTensor<R>) {
    matmul::<R>(
        lhs.clone(),
        rhs.clone(),
        Some(out.clone()),
        MatmulStrategy::default(),
        DType::F32,
    )
    .expect("the recurrence's f32 matmul launches");
}

/// The launch grid of one unit per `(b, j)`.
fn grid<R: CubeRuntime>(like: &CubeTensor<R>, units: usize) -> (CubeCount, CubeDim) {
    let cube_dim = CubeDim::new(&like.client, units);
    let count = calculate_cube_count_elemwise(&like.client, units, cube_dim);
    (count, cube_dim)
}

fn arg<R: CubeRuntime>(t: &CubeTensor<R>) -> TensorArg<R> {
    t.clone().into_tensor_arg()
}

/// The most shared memory a persistent loop uses, in bytes: what every GPU gives a cube (Metal's
/// 32 KiB; CUDA and Vulkan give more).
const PERSISTENT_SHARED_BYTES: usize = 32 * 1024;

/// The most units of a persistent cube.
const PERSISTENT_UNITS: u32 = 256;

/// The largest `W_hh` (bytes) the persistent loops take by default. Each of their cubes reads
/// all of `W_hh` every time step (from L2: it does not fit shared memory), where the per-step
/// matmul reads each tile once for many batch rows; `docs/gpu.md` estimates the crossover near
/// 1 MiB (M's 256 KiB and G's 768 KiB below it, L's 4 MiB above), to be set from a GPU
/// measurement.
const PERSISTENT_WEIGHT_BYTES: usize = 1 << 20;

/// The units per cube of the persistent loops for `hidden`, or `None` when the loop takes the
/// per-step launches. `BURN_RNN_GPU_RECURRENCE=steps` asks for those, `persistent` for the
/// persistent loops wherever they fit; otherwise the persistent loops run when `W_hh` is at
/// most [`PERSISTENT_WEIGHT_BYTES`]. They never run where the backward's double-buffered gate
/// gradients (`2 G H` f32) do not fit [`PERSISTENT_SHARED_BYTES`].
fn persistent_units<R: CubeRuntime>(
    kind: CellKind,
    hidden: usize,
    like: &CubeTensor<R>,
) -> Option<u32> {
    let asked = std::env::var("BURN_RNN_GPU_RECURRENCE").ok();
    let gates = kind.gates();
    match asked.as_deref() {
        Some("steps" | "fused") => return None,
        Some("persistent") => {}
        _ if gates * hidden * hidden * size_of::<f32>() > PERSISTENT_WEIGHT_BYTES => return None,
        _ => {}
    }
    let hardware = &like.client.properties().hardware;
    let shared = PERSISTENT_SHARED_BYTES.min(hardware.max_shared_memory_size);
    if 2 * gates * hidden * size_of::<f32>() > shared {
        return None;
    }
    let warp = 32;
    let units = (hidden.div_ceil(warp) * warp) as u32;
    Some(
        units
            .min(PERSISTENT_UNITS)
            .min(hardware.max_units_per_cube)
            .min(hardware.max_cube_dim.0),
    )
}

/// Shared-memory floats of a fused step's tile of `W_hh` (32 KiB).
const FUSED_TILE_FLOATS: usize = 8 * 1024;

/// Units per cube of the fused step kernels.
const FUSED_UNITS: usize = 256;

/// The tile (hidden units per cube) of the LSTM's fused step kernels for `hidden`, or `None`
/// when the loop takes a matmul and a gate kernel per step: for other cells, when
/// `BURN_RNN_GPU_RECURRENCE=steps` asks for that, or when not even one unit's `4 H` weights
/// fit [`FUSED_TILE_FLOATS`]. Asked for after the persistent loops declined.
fn fused_tile(kind: CellKind, hidden: usize) -> Option<usize> {
    let asked = std::env::var("BURN_RNN_GPU_RECURRENCE").ok();
    if kind != CellKind::Lstm || asked.as_deref() == Some("steps") {
        return None;
    }
    let tile = (FUSED_TILE_FLOATS / (4 * hidden)).min(32);
    (tile > 0).then_some(tile)
}

/// The launch grid of the fused step kernels: a cube per tile of hidden units.
fn fused_grid(hidden: usize, tile: usize) -> (CubeCount, CubeDim) {
    let units = (FUSED_UNITS / tile) * tile;
    (
        CubeCount::Static(hidden.div_ceil(tile) as u32, 1, 1),
        CubeDim::new_1d(units as u32),
    )
}

/// The LSTM's [`forward_loop`] as one fused step kernel per time step.
fn forward_fused<R: CubeRuntime>(
    rec: Recurrence,
    keep: bool,
    [p, w, h0, c0]: [CubeTensor<R>; 4],
    tile: usize,
) -> [CubeTensor<R>; 4] {
    let [batch, seq, _] = dims::<R, 3>(&p);
    let hidden = dims::<R, 2>(&w)[0];
    let client = p.client.clone();
    let dtype: StorageType = DType::F32.into();
    let (count, cube_dim) = fused_grid(hidden, tile);
    let out = empty(&p, &[batch, seq, hidden]);
    let acts = if keep {
        empty(&p, &[seq, batch, 5 * hidden])
    } else {
        empty(&p, &[1])
    };
    let hs = [empty(&p, &[batch, hidden]), empty(&p, &[batch, hidden])];
    let cs = [empty(&p, &[batch, hidden]), empty(&p, &[batch, hidden])];
    let (mut h, mut c) = (h0, c0);
    for k in 0..seq {
        let t = rec.position(seq, k) as u32;
        let (h_next, c_next) = (&hs[k % 2], &cs[k % 2]);
        fused_step::lstm_forward_step::launch::<R>(
            &client,
            count.clone(),
            cube_dim,
            arg(&p),
            arg(&w),
            arg(&h),
            arg(&c),
            arg(c_next),
            arg(h_next),
            arg(&out),
            arg(&acts),
            t,
            hidden,
            tile,
            keep,
            dtype,
        );
        h = h_next.clone();
        c = c_next.clone();
    }
    [out, h, c, acts]
}

/// The LSTM's [`backward_loop`] as one fused step kernel per time step, then one matmul for
/// the gradient reaching `h0` through `W_hh`.
fn backward_fused<R: CubeRuntime, BT: BoolElement>(
    rec: Recurrence,
    [w, out, _h0, c0, acts, d_out, dh_last, dc_last]: [CubeTensor<R>; 8],
    tile: usize,
) -> [CubeTensor<R>; 5] {
    let [batch, seq, hidden] = dims::<R, 3>(&out);
    let gh = dims::<R, 2>(&w)[1];
    let client = out.client.clone();
    let dtype: StorageType = DType::F32.into();
    let (count, cube_dim) = fused_grid(hidden, tile);
    let dp = empty(&out, &[batch, seq, gh]);
    let dgs = [empty(&out, &[batch, gh]), empty(&out, &[batch, gh])];
    let dcs = [empty(&out, &[batch, hidden]), empty(&out, &[batch, hidden])];
    let mut dg = empty(&out, &[1]);
    let mut dc = dc_last;
    for (n, k) in (0..seq).rev().enumerate() {
        let t = rec.position(seq, k) as u32;
        let (tp, first) = match k {
            0 => (0, 1),
            _ => (rec.position(seq, k - 1) as u32, 0),
        };
        let (dg_next, dc_next) = (&dgs[n % 2], &dcs[n % 2]);
        // Unread on the backward's first step (`dh_last` instead), but bound apart from `dg_next`.
        let dg_in = if n == 0 { &dgs[1] } else { &dg };
        fused_step::lstm_backward_step::launch::<R>(
            &client,
            count.clone(),
            cube_dim,
            arg(&w),
            arg(dg_in),
            arg(&dh_last),
            arg(&d_out),
            arg(&dc),
            arg(&acts),
            arg(&c0),
            arg(dc_next),
            arg(&dp),
            arg(dg_next),
            t,
            tp,
            first,
            u32::from(n == 0),
            hidden,
            tile,
            dtype,
        );
        dg = dg_next.clone();
        dc = dc_next.clone();
    }
    let w_t = into_contiguous(Inner::<R, BT>::float_transpose(w));
    let dh = empty(&out, &[batch, hidden]);
    matmul_into(&dg, &w_t, &dh);
    [dp, empty(&out, &[1]), dh, empty(&out, &[1]), dc]
}

/// [`forward_loop`] as one persistent launch with `units` per cube, one cube per batch row.
fn forward_persistent<R: CubeRuntime>(
    rec: Recurrence,
    keep: bool,
    [p, w, b_hh, h0, c0]: [CubeTensor<R>; 5],
    units: u32,
) -> [CubeTensor<R>; 4] {
    let [batch, seq, _] = dims::<R, 3>(&p);
    let hidden = dims::<R, 2>(&w)[0];
    let client = p.client.clone();
    let dtype: StorageType = DType::F32.into();
    let (count, cube_dim) = (
        CubeCount::Static(batch as u32, 1, 1),
        CubeDim::new_1d(units),
    );
    let out = empty(&p, &[batch, seq, hidden]);
    let h_last = empty(&p, &[batch, hidden]);
    let blocks = act_blocks(rec.kind);
    let acts = if keep && blocks > 0 {
        empty(&p, &[seq, batch, blocks * hidden])
    } else {
        empty(&p, &[1])
    };
    let reverse = rec.reverse;
    let c_last = match rec.kind {
        CellKind::Rnn => {
            persistent::rnn_forward_seq::launch::<R>(
                &client,
                count,
                cube_dim,
                arg(&p),
                arg(&w),
                arg(&h0),
                arg(&out),
                arg(&h_last),
                hidden,
                reverse,
                rec.activation == Activation::Relu,
                dtype,
            );
            empty(&p, &[1])
        }
        CellKind::Lstm => {
            let c_last = empty(&p, &[batch, hidden]);
            persistent::lstm_forward_seq::launch::<R>(
                &client,
                count,
                cube_dim,
                arg(&p),
                arg(&w),
                arg(&h0),
                arg(&c0),
                arg(&out),
                arg(&h_last),
                arg(&c_last),
                arg(&acts),
                hidden,
                reverse,
                keep,
                dtype,
            );
            c_last
        }
        CellKind::Gru => {
            persistent::gru_forward_seq::launch::<R>(
                &client,
                count,
                cube_dim,
                arg(&p),
                arg(&w),
                arg(&b_hh),
                arg(&h0),
                arg(&out),
                arg(&h_last),
                arg(&acts),
                hidden,
                reverse,
                keep,
                dtype,
            );
            empty(&p, &[1])
        }
    };
    [out, h_last, c_last, acts]
}

/// [`backward_loop`] as one persistent launch with `units` per cube, one cube per batch row.
fn backward_persistent<R: CubeRuntime, BT: BoolElement>(
    rec: Recurrence,
    [w, out, h0, c0, acts, d_out, dh_last, dc_last]: [CubeTensor<R>; 8],
    units: u32,
) -> [CubeTensor<R>; 5] {
    let [batch, seq, hidden] = dims::<R, 3>(&out);
    let gh = dims::<R, 2>(&w)[1];
    let client = out.client.clone();
    let dtype: StorageType = DType::F32.into();
    let (count, cube_dim) = (
        CubeCount::Static(batch as u32, 1, 1),
        CubeDim::new_1d(units),
    );
    // `W_hh^T` `[G*H, H]`: the units of a cube read neighbouring values of a row.
    let w_t = into_contiguous(Inner::<R, BT>::float_transpose(w));
    let dp = empty(&out, &[batch, seq, gh]);
    let dh = empty(&out, &[batch, hidden]);
    let reverse = rec.reverse;
    match rec.kind {
        CellKind::Rnn => {
            persistent::rnn_backward_seq::launch::<R>(
                &client,
                count,
                cube_dim,
                arg(&w_t),
                arg(&out),
                arg(&d_out),
                arg(&dh_last),
                arg(&dp),
                arg(&dh),
                hidden,
                reverse,
                rec.activation == Activation::Relu,
                dtype,
            );
            let carry = zeros(&out, &[batch, hidden]);
            [dp, empty(&out, &[1]), dh, carry, empty(&out, &[1])]
        }
        CellKind::Lstm => {
            let dc = empty(&out, &[batch, hidden]);
            persistent::lstm_backward_seq::launch::<R>(
                &client,
                count,
                cube_dim,
                arg(&w_t),
                arg(&acts),
                arg(&c0),
                arg(&d_out),
                arg(&dh_last),
                arg(&dc_last),
                arg(&dp),
                arg(&dh),
                arg(&dc),
                hidden,
                reverse,
                dtype,
            );
            [dp, empty(&out, &[1]), dh, empty(&out, &[1]), dc]
        }
        CellKind::Gru => {
            let dhp = empty(&out, &[batch, seq, gh]);
            let carry = empty(&out, &[batch, hidden]);
            persistent::gru_backward_seq::launch::<R>(
                &client,
                count,
                cube_dim,
                arg(&w_t),
                arg(&acts),
                arg(&h0),
                arg(&out),
                arg(&d_out),
                arg(&dh_last),
                arg(&dp),
                arg(&dhp),
                arg(&dh),
                arg(&carry),
                hidden,
                reverse,
                dtype,
            );
            [dp, dhp, dh, carry, empty(&out, &[1])]
        }
    }
}

/// The forward loop: `[out, h_T, c_T, acts]` (`c_T`, `acts` are `[1]` placeholders when the cell
/// has none, or nothing is kept).
fn forward_loop<R: CubeRuntime>(
    rec: Recurrence,
    keep: bool,
    [p, w, b_hh, h0, c0]: [CubeTensor<R>; 5],
) -> [CubeTensor<R>; 4] {
    let [batch, seq, gh] = dims::<R, 3>(&p);
    let hidden = dims::<R, 2>(&w)[0];
    if let Some(units) = persistent_units(rec.kind, hidden, &p) {
        return forward_persistent(rec, keep, [p, w, b_hh, h0, c0], units);
    }
    if let Some(tile) = fused_tile(rec.kind, hidden) {
        return forward_fused(rec, keep, [p, w, h0, c0], tile);
    }
    let units = batch * hidden;
    let (count, cube_dim) = grid(&p, units);
    let client = p.client.clone();
    let dtype: StorageType = DType::F32.into();
    let out = empty(&p, &[batch, seq, hidden]);
    let blocks = act_blocks(rec.kind);
    let acts = if keep && blocks > 0 {
        empty(&p, &[seq, batch, blocks * hidden])
    } else {
        empty(&p, &[1])
    };
    let hw = empty(&p, &[batch, gh]);
    let hs = [empty(&p, &[batch, hidden]), empty(&p, &[batch, hidden])];
    let lstm = rec.kind == CellKind::Lstm;
    let cs = if lstm {
        [empty(&p, &[batch, hidden]), empty(&p, &[batch, hidden])]
    } else {
        [empty(&p, &[1]), empty(&p, &[1])]
    };
    let mut h = h0;
    let mut c = c0;
    for k in 0..seq {
        let t = rec.position(seq, k) as u32;
        matmul_into(&h, &w, &hw);
        let (h_next, c_next) = (&hs[k % 2], &cs[k % 2]);
        match rec.kind {
            CellKind::Rnn => kernel::rnn_forward::launch::<R>(
                &client,
                count.clone(),
                cube_dim,
                arg(&p),
                arg(&hw),
                arg(h_next),
                arg(&out),
                t,
                rec.activation == Activation::Relu,
                dtype,
            ),
            CellKind::Lstm => kernel::lstm_forward::launch::<R>(
                &client,
                count.clone(),
                cube_dim,
                arg(&p),
                arg(&hw),
                arg(&c),
                arg(c_next),
                arg(h_next),
                arg(&out),
                arg(&acts),
                t,
                keep,
                dtype,
            ),
            CellKind::Gru => kernel::gru_forward::launch::<R>(
                &client,
                count.clone(),
                cube_dim,
                arg(&p),
                arg(&hw),
                arg(&b_hh),
                arg(&h),
                arg(h_next),
                arg(&out),
                arg(&acts),
                t,
                keep,
                dtype,
            ),
        }
        h = h_next.clone();
        if lstm {
            c = c_next.clone();
        }
    }
    let cell = if lstm { c } else { empty(&out, &[1]) };
    [out, h, cell, acts]
}

/// The backward loop. Inputs `[w, out, h0, c0, acts, d_out, dh_T, dc_T]`; outputs
/// `[dp, dhp, dh, carry, dc]`: the gate gradients `[B, T, G*H]` (of `p`, and of `h W_hh + b_hh`:
/// the GRU's own, the others' the same tensor), the gradient reaching `h0` through `W_hh` and
/// (GRU) directly, and the LSTM's `dc0` (placeholders `[1]` where a cell has none).
fn backward_loop<R: CubeRuntime, BT: BoolElement>(
    rec: Recurrence,
    [w, out, h0, c0, acts, d_out, dh_last, dc_last]: [CubeTensor<R>; 8],
) -> [CubeTensor<R>; 5] {
    let [batch, seq, hidden] = dims::<R, 3>(&out);
    if let Some(units) = persistent_units(rec.kind, hidden, &out) {
        let inputs = [w, out, h0, c0, acts, d_out, dh_last, dc_last];
        return backward_persistent::<R, BT>(rec, inputs, units);
    }
    if let Some(tile) = fused_tile(rec.kind, hidden) {
        let inputs = [w, out, h0, c0, acts, d_out, dh_last, dc_last];
        return backward_fused::<R, BT>(rec, inputs, tile);
    }
    let gh = dims::<R, 2>(&w)[1];
    let units = batch * hidden;
    let (count, cube_dim) = grid(&out, units);
    let client = out.client.clone();
    let dtype: StorageType = DType::F32.into();
    // `W_hh^T` `[G*H, H]`, once.
    let w_t = into_contiguous(Inner::<R, BT>::float_transpose(w));
    let dp = empty(&out, &[batch, seq, gh]);
    let gru = rec.kind == CellKind::Gru;
    let dhp = if gru {
        empty(&out, &[batch, seq, gh])
    } else {
        empty(&out, &[1])
    };
    let dg = empty(&out, &[batch, gh]);
    // The gradient reaching the state from the step after through `W_hh`; before the last step
    // the final state's gradient (copied: the matmul writes this buffer).
    let dh = dh_last.copy();
    // LSTM: `dc`; GRU: `dh z`, the direct path; ping-pong buffers.
    let pair = || [empty(&out, &[batch, hidden]), empty(&out, &[batch, hidden])];
    let carries = if rec.kind == CellKind::Rnn {
        [empty(&out, &[1]), empty(&out, &[1])]
    } else {
        pair()
    };
    let mut carry = match rec.kind {
        CellKind::Lstm => dc_last,
        _ => zeros(&out, &[batch, hidden]),
    };
    for (n, k) in (0..seq).rev().enumerate() {
        let t = rec.position(seq, k) as u32;
        let (tp, first) = match k {
            0 => (0, 1),
            _ => (rec.position(seq, k - 1) as u32, 0),
        };
        let next = &carries[n % 2];
        match rec.kind {
            CellKind::Rnn => kernel::rnn_backward::launch::<R>(
                &client,
                count.clone(),
                cube_dim,
                arg(&d_out),
                arg(&dh),
                arg(&out),
                arg(&dp),
                arg(&dg),
                t,
                rec.activation == Activation::Relu,
                dtype,
            ),
            CellKind::Lstm => kernel::lstm_backward::launch::<R>(
                &client,
                count.clone(),
                cube_dim,
                arg(&d_out),
                arg(&dh),
                arg(&carry),
                arg(&acts),
                arg(&c0),
                arg(next),
                arg(&dp),
                arg(&dg),
                t,
                tp,
                first,
                dtype,
            ),
            CellKind::Gru => kernel::gru_backward::launch::<R>(
                &client,
                count.clone(),
                cube_dim,
                arg(&d_out),
                arg(&dh),
                arg(&carry),
                arg(&acts),
                arg(&h0),
                arg(&out),
                arg(next),
                arg(&dp),
                arg(&dhp),
                arg(&dg),
                t,
                tp,
                first,
                dtype,
            ),
        }
        matmul_into(&dg, &w_t, &dh);
        if rec.kind != CellKind::Rnn {
            carry = next.clone();
        }
    }
    let (carry, dc) = match rec.kind {
        CellKind::Lstm => (empty(&out, &[1]), carry),
        _ => (carry, empty(&out, &[1])),
    };
    [dp, dhp, dh, carry, dc]
}

// ---------------------------------------------------------------------------------------------
// The loops as custom operations of the fusion backend.

/// The forward loop's custom operation: inputs `[p, w_hh, b_hh, h0, c0]`, outputs
/// `[out, h_T, c_T, acts]`.
#[derive(Debug)]
struct ForwardOp<R, BT> {
    desc: CustomOpIr,
    rec: Recurrence,
    keep: bool,
    _types: PhantomData<fn() -> (R, BT)>,
}

impl<R: CubeRuntime, BT: BoolElement> Operation<FusionCubeRuntime<R>> for ForwardOp<R, BT> {
    fn execute(&self, handles: &mut Handles<R>) {
        let (inputs, outputs) = self.desc.as_fixed::<5, 4>();
        let inputs = inputs
            .each_ref()
            .map(|t| into_contiguous(handles.get_float_tensor::<Inner<R, BT>>(t)));
        let results = forward_loop(self.rec, self.keep, inputs);
        for (ir, t) in outputs.iter().zip(results) {
            handles.register_float_tensor::<Inner<R, BT>>(&ir.id, t);
        }
    }
}

/// The backward loop's custom operation: inputs and outputs as [`backward_loop`]'s.
#[derive(Debug)]
struct BackwardOp<R, BT> {
    desc: CustomOpIr,
    rec: Recurrence,
    _types: PhantomData<fn() -> (R, BT)>,
}

impl<R: CubeRuntime, BT: BoolElement> Operation<FusionCubeRuntime<R>> for BackwardOp<R, BT> {
    fn execute(&self, handles: &mut Handles<R>) {
        let (inputs, outputs) = self.desc.as_fixed::<8, 5>();
        // The kernels index their tensors as contiguous (a no-op for those that are).
        let inputs = inputs
            .each_ref()
            .map(|t| into_contiguous(handles.get_float_tensor::<Inner<R, BT>>(t)));
        let results = backward_loop::<R, BT>(self.rec, inputs);
        for (ir, t) in outputs.iter().zip(results) {
            handles.register_float_tensor::<Inner<R, BT>>(&ir.id, t);
        }
    }
}

fn fusion<I: Backend, R: CubeRuntime, BT: BoolElement, const D: usize>(
    t: Tensor<I, D>,
) -> FusionTensor<FusionCubeRuntime<R>> {
    cast::<Tensor<I, D>, Tensor<Fused<R, BT>, D>>(t)
        .into_primitive()
        .tensor()
}

fn unfusion<I: Backend, R: CubeRuntime, BT: BoolElement, const D: usize>(
    t: FusionTensor<FusionCubeRuntime<R>>,
) -> Tensor<I, D> {
    cast::<Tensor<Fused<R, BT>, D>, Tensor<I, D>>(Tensor::from_primitive(TensorPrimitive::Float(t)))
}

fn output_ir<R: CubeRuntime>(
    like: &FusionTensor<FusionCubeRuntime<R>>,
    shape: &[usize],
) -> TensorIr {
    TensorIr::uninit(
        like.client.create_empty_handle(),
        Shape::from(shape.to_vec()),
        DType::F32,
    )
}

/// Registers a custom operation on the fusion stream of its inputs; returns its outputs.
fn register<R: CubeRuntime, O: Operation<FusionCubeRuntime<R>> + 'static, const N: usize>(
    name: &'static str,
    inputs: Vec<FusionTensor<FusionCubeRuntime<R>>>,
    outputs: &[TensorIr],
    op: impl FnOnce(CustomOpIr) -> O,
) -> [FusionTensor<FusionCubeRuntime<R>>; N] {
    let client = inputs[0].client.clone();
    let streams = OperationStreams::with_inputs(inputs.iter());
    let inputs: Vec<TensorIr> = inputs.into_iter().map(|t| t.into_ir()).collect();
    let desc = CustomOpIr::new(name, &inputs, outputs);
    client
        .register(streams, OperationIr::Custom(desc.clone()), op(desc))
        .try_into()
        .expect("the operation's outputs")
}

/// What the kernels' forward keeps for their backward.
#[derive(Clone, Debug)]
pub(crate) struct CubeTrace<I: Backend> {
    rec: Recurrence,
    w_hh: Tensor<I, 2>,
    h0: Tensor<I, 2>,
    c0: Tensor<I, 2>,
    /// `[B, T, H]`.
    out: Tensor<I, 3>,
    /// `[T, B, k*H]` (see the module's documentation).
    acts: Tensor<I, 3>,
}

/// The forward loop of `I = Fusion<CubeBackend<R, f32, i32, BT>>` (the caller knows it by
/// type), or the inputs back when they are not f32.
pub(crate) fn forward<I: Backend, R: CubeRuntime, BT: BoolElement>(
    rec: Recurrence,
    inputs: Inputs<I>,
    keep: bool,
) -> Result<super::Forward<I>, Inputs<I>> {
    if inputs.p.dtype() != DType::F32 {
        return Err(inputs);
    }
    let Inputs {
        p,
        w_hh,
        b_hh,
        h0,
        c0,
    } = inputs;
    let [batch, seq, _] = p.dims();
    let hidden = w_hh.dims()[0];
    let blocks = act_blocks(rec.kind);
    let trace_parts = keep.then(|| (w_hh.clone(), h0.clone(), c0.clone()));
    let p = fusion::<I, R, BT, 3>(p);
    let outputs = [
        output_ir(&p, &[batch, seq, hidden]),
        output_ir(&p, &[batch, hidden]),
        output_ir(
            &p,
            &if rec.kind == CellKind::Lstm {
                vec![batch, hidden]
            } else {
                vec![1]
            },
        ),
        output_ir(
            &p,
            &if keep && blocks > 0 {
                vec![seq, batch, blocks * hidden]
            } else {
                vec![1]
            },
        ),
    ];
    let inputs = vec![
        p,
        fusion::<I, R, BT, 2>(w_hh),
        fusion::<I, R, BT, 1>(b_hh),
        fusion::<I, R, BT, 2>(h0),
        fusion::<I, R, BT, 2>(c0),
    ];
    let [out, last, cell, acts] =
        register::<R, _, 4>("burn_rnn::recurrence_forward", inputs, &outputs, |desc| {
            ForwardOp::<R, BT> {
                desc,
                rec,
                keep,
                _types: PhantomData,
            }
        });
    let out = unfusion::<I, R, BT, 3>(out);
    let cell = (rec.kind == CellKind::Lstm).then(|| unfusion::<I, R, BT, 2>(cell));
    let trace = trace_parts.map(|(w_hh, h0, c0)| {
        super::Trace::Cube(CubeTrace {
            rec,
            w_hh,
            h0,
            c0,
            out: out.clone(),
            acts: unfusion::<I, R, BT, 3>(acts),
        })
    });
    Ok((out, unfusion::<I, R, BT, 2>(last), cell, trace))
}

/// The backward loop of [`forward`]'s trace; the weight gradients in Burn tensor ops after it.
pub(crate) fn backward<I: Backend, R: CubeRuntime, BT: BoolElement>(
    s: CubeTrace<I>,
    d_out: Tensor<I, 3>,
    [d_last, d_cell]: [Option<Tensor<I, 2>>; 2],
) -> InputGrads<I> {
    let device = d_out.device();
    let [batch, seq, hidden] = d_out.dims();
    let gh = s.w_hh.dims()[1];
    let kind = s.rec.kind;
    let zeros = || Tensor::<I, 2>::zeros([batch, hidden], &device);
    let d_last = d_last.unwrap_or_else(zeros);
    let d_cell = d_cell.unwrap_or_else(zeros);
    let d_out = fusion::<I, R, BT, 3>(d_out);
    let gru = kind == CellKind::Gru;
    let lstm = kind == CellKind::Lstm;
    let outputs = [
        output_ir(&d_out, &[batch, seq, gh]),
        output_ir(&d_out, &if gru { vec![batch, seq, gh] } else { vec![1] }),
        output_ir(&d_out, &[batch, hidden]),
        output_ir(&d_out, &if gru { vec![batch, hidden] } else { vec![1] }),
        output_ir(&d_out, &if lstm { vec![batch, hidden] } else { vec![1] }),
    ];
    let inputs = vec![
        fusion::<I, R, BT, 2>(s.w_hh.clone()),
        fusion::<I, R, BT, 3>(s.out.clone()),
        fusion::<I, R, BT, 2>(s.h0.clone()),
        fusion::<I, R, BT, 2>(s.c0.clone()),
        fusion::<I, R, BT, 3>(s.acts.clone()),
        d_out,
        fusion::<I, R, BT, 2>(d_last),
        fusion::<I, R, BT, 2>(d_cell),
    ];
    let rec = s.rec;
    let [dp, dhp, dh, carry, dc] =
        register::<R, _, 5>("burn_rnn::recurrence_backward", inputs, &outputs, |desc| {
            BackwardOp::<R, BT> {
                desc,
                rec,
                _types: PhantomData,
            }
        });
    let dp = unfusion::<I, R, BT, 3>(dp);
    let dhp = if gru {
        unfusion::<I, R, BT, 3>(dhp)
    } else {
        dp.clone()
    };
    let dh = unfusion::<I, R, BT, 2>(dh);
    let dh0 = if gru {
        dh + unfusion::<I, R, BT, 2>(carry)
    } else {
        dh
    };
    let dc0 = if lstm {
        unfusion::<I, R, BT, 2>(dc)
    } else {
        zeros()
    };
    let dhp = dhp.reshape([batch * seq, gh]);
    let (dw_hh, db_hh) = super::recurrent_weight_grads(s.rec, s.h0, s.out, dhp);
    InputGrads {
        dp,
        dw_hh,
        db_hh,
        dh0,
        dc0,
    }
}
