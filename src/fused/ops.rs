//! The other operations of a training step as single autodiff operations on host memory: the
//! linear map (input projections, output head), the row lookup (embedding), and the softmax
//! cross-entropy.
//!
//! Burn's ndarray backend copies a whole tensor on every `reshape` (even a contiguous one: its
//! `to_shape(..).into_shared()` owns a copy of the view), fills gradients of `select`, `gather`
//! and `narrow` into zero tensors element by element, and runs `log_softmax` as five passes with
//! scalar `exp`. Each operation here takes its input in the shape the caller has and returns the
//! shape the next one wants (`[B, T, ..]` in, `[B, T, ..]` out, no reshape in between), does its
//! forward in one parallel pass and its backward in one or two.
//!
//! Every function dispatches by `TypeId`: on `Autodiff<NdArray<f32 | f64>>` it records one
//! operation whose backward runs on the host ([`crate::cpu`]); on any other backend it composes
//! Burn's own tensor operations, with the same numbers.

use std::any::TypeId;
use std::marker::PhantomData;
use std::sync::Arc;

use burn::backend::autodiff::{
    Autodiff, NodeId,
    checkpoint::{base::Checkpointer, strategy::NoCheckpointing},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::{
    ElementConversion, Int, Tensor, TensorData, TensorPrimitive, backend::Backend, ops::FloatTensor,
};

use super::{HostFloat, cast, host_vec, inner, primitive};
use crate::cpu;

type NdF32 = burn::backend::NdArray<f32>;
type NdF64 = burn::backend::NdArray<f64>;

/// Which host float serves autodiff backend `B`: `Some(false)` f32, `Some(true)` f64, `None`
/// when `B` is not an autodiff ndarray backend.
pub(super) fn host_autodiff<B: Backend>() -> Option<bool> {
    let id = TypeId::of::<B>();
    if id == TypeId::of::<Autodiff<NdF32>>() {
        Some(false)
    } else if id == TypeId::of::<Autodiff<NdF64>>() {
        Some(true)
    } else {
        None
    }
}

/// An integer tensor's values as indices.
fn host_ids<B: Backend, const D: usize>(t: Tensor<B, D, Int>) -> Vec<usize> {
    t.into_data()
        .iter::<i64>()
        .map(|v| usize::try_from(v).expect("indices are not negative"))
        .collect()
}

/// Registers `v` (of `shape`) as the gradient of `node`.
fn register<I: Backend, E: HostFloat, const D: usize>(
    grads: &mut Gradients,
    node: NodeId,
    v: Vec<E>,
    shape: [usize; D],
    device: &I::Device,
) {
    let t = Tensor::<I, D>::from_data(TensorData::new(v, shape), device);
    grads.register::<I>(node, t.into_primitive().tensor());
}

// ---------------------------------------------------------------------------------------------
// Linear map

/// What the linear operation keeps for its backward pass: the host copies of `x` `[N, I]` and
/// `W` `[I, O]`, and the shape of `x`.
#[derive(Clone, Debug)]
struct LinearSaved<E, const D: usize> {
    x: Arc<Vec<E>>,
    w: Arc<Vec<E>>,
    x_shape: [usize; D],
    dims: [usize; 3],
}

#[derive(Debug)]
struct LinearBackward<E, const D: usize>(PhantomData<E>);

impl<I: Backend, E: HostFloat, const D: usize> Backward<I, 3> for LinearBackward<E, D> {
    type State = LinearSaved<E, D>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w, node_b] = ops.parents;
        let dy: Tensor<I, D> = inner(grads.consume::<I>(&ops.node));
        let device = dy.device();
        let s = ops.state;
        let [_, i, o] = s.dims;
        let need = [node_x.is_some(), node_w.is_some(), node_b.is_some()];
        let [dx, dw, db] = cpu::linear_backward::<E>(&s.x, &s.w, &host_vec(dy), s.dims, need);
        if let (Some(node), Some(dx)) = (node_x, dx) {
            register::<I, E, D>(grads, node.id, dx, s.x_shape, &device);
        }
        if let (Some(node), Some(dw)) = (node_w, dw) {
            register::<I, E, 2>(grads, node.id, dw, [i, o], &device);
        }
        if let (Some(node), Some(db)) = (node_b, db) {
            register::<I, E, 1>(grads, node.id, db, [o], &device);
        }
    }
}

/// `x W + b` as one autodiff operation computed on host memory.
fn autodiff_linear<I: Backend, E: HostFloat, const D: usize>(
    [x, w, b]: [FloatTensor<Autodiff<I>>; 3],
) -> FloatTensor<Autodiff<I>> {
    let nodes = [x.node.clone(), w.node.clone(), b.node.clone()];
    let prep = LinearBackward::<E, D>(PhantomData)
        .prepare::<NoCheckpointing>(nodes)
        .compute_bound()
        .stateful();
    let x: Tensor<I, D> = inner(x.primitive);
    let w: Tensor<I, 2> = inner(w.primitive);
    let device = x.device();
    let x_shape = x.dims();
    let i = x_shape[D - 1];
    let n = x_shape[..D - 1].iter().product();
    let o = w.dims()[1];
    let (x, w, b): (Vec<E>, Vec<E>, Vec<E>) = (
        host_vec(x),
        host_vec(w),
        host_vec(inner::<I, 1>(b.primitive)),
    );
    let y = cpu::linear_forward(&x, &w, &b, [n, i, o]);
    let mut y_shape = x_shape;
    y_shape[D - 1] = o;
    let out = Tensor::<I, D>::from_data(TensorData::new(y, y_shape), &device)
        .into_primitive()
        .tensor();
    match prep {
        OpsKind::Tracked(prep) => prep.finish(
            LinearSaved {
                x: Arc::new(x),
                w: Arc::new(w),
                x_shape,
                dims: [n, i, o],
            },
            out,
        ),
        OpsKind::UnTracked(prep) => prep.finish(out),
    }
}

fn linear_as<B: Backend, I: Backend, E: HostFloat, const D: usize>(
    inputs: [FloatTensor<B>; 3],
) -> FloatTensor<B> {
    let inputs: [FloatTensor<Autodiff<I>>; 3] = inputs.map(cast);
    cast(autodiff_linear::<I, E, D>(inputs))
}

/// `x W + b` over the last dimension: one host operation (gemm forward, two gemms backward, no
/// copies of transposes or reshapes) on the autodiff ndarray backends, Burn's `matmul` elsewhere.
///
/// # Shapes
/// - `x`: `[.., I]`, `w`: `[I, O]`, `b`: `[O]`; returns `[.., O]`
pub(crate) fn linear<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    w: Tensor<B, 2>,
    b: Option<Tensor<B, 1>>,
) -> Tensor<B, D> {
    type Runner<B> = fn([FloatTensor<B>; 3]) -> FloatTensor<B>;
    let runner: Option<Runner<B>> = match host_autodiff::<B>() {
        Some(false) => Some(linear_as::<B, NdF32, f32, D>),
        Some(true) => Some(linear_as::<B, NdF64, f64, D>),
        None => None,
    };
    if let Some(run) = runner {
        let b = b.unwrap_or_else(|| Tensor::zeros([w.dims()[1]], &w.device()));
        let out = run([primitive(x), primitive(w), primitive(b)]);
        return Tensor::from_primitive(TensorPrimitive::Float(out));
    }
    let mut dims = x.dims();
    let i = dims[D - 1];
    let rows = dims[..D - 1].iter().product();
    dims[D - 1] = w.dims()[1];
    let y = x.reshape([rows, i]).matmul(w);
    let y = match b {
        Some(b) => y + b.unsqueeze_dim(0),
        None => y,
    };
    y.reshape(dims)
}

// ---------------------------------------------------------------------------------------------
// Row lookup

/// What the lookup keeps: the ids and the table's shape `[V, G]`.
#[derive(Clone, Debug)]
struct GatherSaved {
    ids: Arc<Vec<usize>>,
    table: [usize; 2],
}

#[derive(Debug)]
struct GatherBackward<E, const D: usize>(PhantomData<E>);

impl<I: Backend, E: HostFloat, const D: usize> Backward<I, 1> for GatherBackward<E, D> {
    type State = GatherSaved;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents;
        let d: Tensor<I, D> = inner(grads.consume::<I>(&ops.node));
        let device = d.device();
        let Some(node) = node else { return };
        let [v, g] = ops.state.table;
        let dt = cpu::scatter_add_rows::<E>(&host_vec(d), &ops.state.ids, g, v);
        register::<I, E, 2>(grads, node.id, dt, [v, g], &device);
    }
}

fn gather_as<B: Backend, I: Backend, E: HostFloat, const D: usize>(
    table: FloatTensor<B>,
    ids: Vec<usize>,
    shape: [usize; D],
) -> FloatTensor<B> {
    let table: FloatTensor<Autodiff<I>> = cast(table);
    let prep = GatherBackward::<E, D>(PhantomData)
        .prepare::<NoCheckpointing>([table.node.clone()])
        .compute_bound()
        .stateful();
    let table: Tensor<I, 2> = inner(table.primitive);
    let device = table.device();
    let dims = table.dims();
    let rows = cpu::gather_rows::<E>(&host_vec(table), &ids, dims[1]);
    let out = Tensor::<I, D>::from_data(TensorData::new(rows, shape), &device)
        .into_primitive()
        .tensor();
    cast::<FloatTensor<Autodiff<I>>, _>(match prep {
        OpsKind::Tracked(prep) => prep.finish(
            GatherSaved {
                ids: Arc::new(ids),
                table: dims,
            },
            out,
        ),
        OpsKind::UnTracked(prep) => prep.finish(out),
    })
}

/// Rows of `table` picked by `ids` (an embedding lookup), shaped like `ids` plus the row.
///
/// # Shapes
/// - `table`: `[V, G]`, `ids`: `[B, T]` with values below `V`; returns `[B, T, G]`
pub(crate) fn gather_rows<B: Backend>(table: Tensor<B, 2>, ids: Tensor<B, 2, Int>) -> Tensor<B, 3> {
    let [batch, seq] = ids.dims();
    let [v, g] = table.dims();
    type Runner<B> = fn(FloatTensor<B>, Vec<usize>, [usize; 3]) -> FloatTensor<B>;
    let runner: Option<Runner<B>> = match host_autodiff::<B>() {
        Some(false) => Some(gather_as::<B, NdF32, f32, 3>),
        Some(true) => Some(gather_as::<B, NdF64, f64, 3>),
        None => None,
    };
    match runner {
        Some(run) => {
            let ids = host_ids(ids);
            if let Some(bad) = ids.iter().find(|&&i| i >= v) {
                panic!("gather_rows: id {bad} is not below the table's {v} rows");
            }
            let out = run(primitive(table), ids, [batch, seq, g]);
            Tensor::from_primitive(TensorPrimitive::Float(out))
        }
        None => table
            .select(0, ids.reshape([batch * seq]))
            .reshape([batch, seq, g]),
    }
}

// ---------------------------------------------------------------------------------------------
// Softmax cross-entropy

/// What the cross-entropy keeps: the softmax probabilities `[N, V]` and the targets.
#[derive(Clone, Debug)]
struct CrossEntropySaved<E, const D: usize> {
    probs: Vec<E>,
    targets: Arc<Vec<usize>>,
    shape: [usize; D],
}

#[derive(Debug)]
struct CrossEntropyBackward<E, const D: usize>(PhantomData<E>);

impl<I: Backend, E: HostFloat, const D: usize> Backward<I, 1> for CrossEntropyBackward<E, D> {
    type State = CrossEntropySaved<E, D>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents;
        let g: Tensor<I, 1> = inner(grads.consume::<I>(&ops.node));
        let device = g.device();
        let Some(node) = node else { return };
        let g: E = g.into_scalar().elem();
        let CrossEntropySaved {
            mut probs,
            targets,
            shape,
        } = ops.state;
        let v = shape[D - 1];
        let scale = g * E::from_f64(1.0 / targets.len().max(1) as f64);
        cpu::softmax_cross_entropy_backward(&mut probs, &targets, v, scale);
        register::<I, E, D>(grads, node.id, probs, shape, &device);
    }
}

fn cross_entropy_as<B: Backend, I: Backend, E: HostFloat, const D: usize>(
    logits: FloatTensor<B>,
    targets: Vec<usize>,
) -> FloatTensor<B> {
    let logits: FloatTensor<Autodiff<I>> = cast(logits);
    let prep = CrossEntropyBackward::<E, D>(PhantomData)
        .prepare::<NoCheckpointing>([logits.node.clone()])
        .compute_bound()
        .stateful();
    let logits: Tensor<I, D> = inner(logits.primitive);
    let device = logits.device();
    let shape = logits.dims();
    let mut probs = host_vec::<I, E, D>(logits);
    let loss = cpu::softmax_cross_entropy(&mut probs, &targets, shape[D - 1]);
    let out = Tensor::<I, 1>::from_data(TensorData::new(vec![loss], [1]), &device)
        .into_primitive()
        .tensor();
    cast::<FloatTensor<Autodiff<I>>, _>(match prep {
        OpsKind::Tracked(prep) => prep.finish(
            CrossEntropySaved {
                probs,
                targets: Arc::new(targets),
                shape,
            },
            out,
        ),
        OpsKind::UnTracked(prep) => prep.finish(out),
    })
}

/// Mean softmax cross-entropy over all positions, as PyTorch's `F.cross_entropy` (mean
/// reduction) of the flattened logits: one parallel host pass forward and one backward on the
/// autodiff ndarray backends, burn-nn's `CrossEntropyLoss` elsewhere.
///
/// # Shapes
/// - `logits`: `[.., V]` (rank `D`), `targets`: the leading dimensions (rank `D - 1`) with
///   values below `V`; returns `[1]`
pub(crate) fn cross_entropy<B: Backend, const D: usize, const DT: usize>(
    logits: Tensor<B, D>,
    targets: Tensor<B, DT, Int>,
) -> Tensor<B, 1> {
    assert_eq!(
        DT + 1,
        D,
        "cross_entropy: targets have one dimension fewer than logits"
    );
    let dims = logits.dims();
    assert_eq!(
        &dims[..D - 1],
        &targets.dims()[..],
        "cross_entropy: targets do not match the logits' leading dimensions"
    );
    let v = dims[D - 1];
    let n: usize = dims[..D - 1].iter().product();
    type Runner<B> = fn(FloatTensor<B>, Vec<usize>) -> FloatTensor<B>;
    let runner: Option<Runner<B>> = match host_autodiff::<B>() {
        Some(false) => Some(cross_entropy_as::<B, NdF32, f32, D>),
        Some(true) => Some(cross_entropy_as::<B, NdF64, f64, D>),
        None => None,
    };
    match runner {
        Some(run) => {
            let targets = host_ids(targets);
            if let Some(bad) = targets.iter().find(|&&t| t >= v) {
                panic!("cross_entropy: target {bad} is not below the {v} classes");
            }
            Tensor::from_primitive(TensorPrimitive::Float(run(primitive(logits), targets)))
        }
        None => CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(logits.reshape([n, v]), targets.reshape([n])),
    }
}

#[cfg(test)]
mod tests {
    //! Each host operation against Burn's own operations on the same backend, values and
    //! gradients. In f32: the library's unit tests share one process, and Burn 0.21 fixes the
    //! ndarray device's float type for the whole process (the f64 checks of the same paths run
    //! in `tests/gradcheck.rs`).
    use super::*;
    use burn::tensor::{Distribution, Tolerance};

    type Ad = Autodiff<NdF32>;

    fn random<const D: usize>(shape: [usize; D]) -> Tensor<Ad, D> {
        Tensor::random(shape, Distribution::Normal(0.0, 1.0), &Default::default())
    }

    fn ids(values: &[i64], shape: [usize; 2]) -> Tensor<Ad, 2, Int> {
        Tensor::from_data(TensorData::new(values.to_vec(), shape), &Default::default())
    }

    fn close<const D: usize>(a: Tensor<NdF32, D>, b: Tensor<NdF32, D>) {
        a.into_data()
            .assert_approx_eq::<f32>(&b.into_data(), Tolerance::rel_abs(1e-5, 1e-6));
    }

    #[test]
    fn cross_entropy_matches_burn_nn() {
        let logits = random([3, 4, 5]).mul_scalar(3.0).detach().require_grad();
        let targets = ids(&[0, 4, 2, 1, 3, 3, 0, 1, 4, 2, 2, 0], [3, 4]);
        let ours = cross_entropy(logits.clone(), targets.clone());
        let theirs = CrossEntropyLossConfig::new()
            .init(&Default::default())
            .forward(logits.clone().reshape([12, 5]), targets.reshape([12]));
        close(ours.clone().inner(), theirs.clone().inner());
        // A non-unit upstream gradient, to check the scale.
        let g_ours = ours.mul_scalar(2.5).backward();
        let g_theirs = theirs.mul_scalar(2.5).backward();
        close(
            logits.grad(&g_ours).expect("grad"),
            logits.grad(&g_theirs).expect("grad"),
        );
    }

    #[test]
    fn gather_rows_matches_select() {
        let table = random([6, 7]).require_grad();
        let ids = ids(&[5, 0, 5, 2, 2, 2, 1, 0], [2, 4]);
        let ours = gather_rows(table.clone(), ids.clone());
        let theirs = table.clone().select(0, ids.reshape([8])).reshape([2, 4, 7]);
        close(ours.clone().inner(), theirs.clone().inner());
        let w = random([2, 4, 7]).detach();
        let g_ours = (ours * w.clone()).sum().backward();
        let g_theirs = (theirs * w).sum().backward();
        close(
            table.grad(&g_ours).expect("grad"),
            table.grad(&g_theirs).expect("grad"),
        );
    }

    #[test]
    fn linear_of_a_sequence_matches_matmul() {
        let x = random([2, 3, 4]).require_grad();
        let w = random([4, 5]).require_grad();
        let b = random([5]).require_grad();
        let ours = linear(x.clone(), w.clone(), Some(b.clone()));
        let theirs = (x.clone().reshape([6, 4]).matmul(w.clone()) + b.clone().unsqueeze_dim(0))
            .reshape([2, 3, 5]);
        close(ours.clone().inner(), theirs.clone().inner());
        let r = random([2, 3, 5]).detach();
        let g_ours = (ours * r.clone()).sum().backward();
        let g_theirs = (theirs * r).sum().backward();
        close(x.grad(&g_ours).expect("x"), x.grad(&g_theirs).expect("x"));
        close(w.grad(&g_ours).expect("w"), w.grad(&g_theirs).expect("w"));
        close(b.grad(&g_ours).expect("b"), b.grad(&g_theirs).expect("b"));
    }
}
