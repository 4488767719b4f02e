//! The recurrence on the ndarray backends: the inner tensors copied to host buffers once, the
//! whole loop in [`crate::kernels::recurrence`], the results copied back.

use std::borrow::Cow;
use std::sync::Arc;

use burn::tensor::{Tensor, backend::Backend};

use super::{Forward, InputGrads, Inputs, Trace};
use crate::cell_kind::CellKind;
use crate::kernels::recurrence::{self as kernel, HostTrace, Recurrence};
use crate::ops::{HostFloat, from_host, host_vec};

/// The host kernel's trace, f32 or f64.
#[derive(Clone, Debug)]
pub(crate) enum AnyHostTrace {
    /// From `NdArray<f32>`.
    F32(Arc<HostTrace<f32>>),
    /// From `NdArray<f64>`.
    F64(Arc<HostTrace<f64>>),
}

/// The float types of the host kernel, with their trace.
pub(crate) trait TraceFloat: HostFloat {
    fn wrap(trace: HostTrace<Self>) -> AnyHostTrace;
    fn unwrap(trace: AnyHostTrace) -> Arc<HostTrace<Self>>;
}

impl TraceFloat for f32 {
    fn wrap(trace: HostTrace<Self>) -> AnyHostTrace {
        AnyHostTrace::F32(Arc::new(trace))
    }
    fn unwrap(trace: AnyHostTrace) -> Arc<HostTrace<Self>> {
        match trace {
            AnyHostTrace::F32(s) => s,
            AnyHostTrace::F64(_) => unreachable!("traced in f64"),
        }
    }
}

impl TraceFloat for f64 {
    fn wrap(trace: HostTrace<Self>) -> AnyHostTrace {
        AnyHostTrace::F64(Arc::new(trace))
    }
    fn unwrap(trace: AnyHostTrace) -> Arc<HostTrace<Self>> {
        match trace {
            AnyHostTrace::F64(s) => s,
            AnyHostTrace::F32(_) => unreachable!("traced in f32"),
        }
    }
}

/// The forward on host buffers. See [`Inputs`] for the shapes.
pub(crate) fn forward<I: Backend, E: TraceFloat>(
    rec: Recurrence,
    Inputs {
        p,
        w_hh,
        b_hh,
        h0,
        c0,
    }: Inputs<I>,
    keep: bool,
) -> Forward<I> {
    let device = p.device();
    let [batch, seq, _] = p.dims();
    let hidden = w_hh.dims()[0];
    let (out, last, cell, trace) = kernel::forward::<E>(
        rec,
        [batch, seq, hidden],
        host_vec(p),
        host_vec(w_hh),
        &host_vec::<I, E, 1>(b_hh),
        host_vec(h0),
        host_vec(c0),
        keep,
    );
    (
        from_host::<I, E, 3>(out, [batch, seq, hidden], &device),
        from_host::<I, E, 2>(last, [batch, hidden], &device),
        (rec.kind == CellKind::Lstm).then(|| from_host::<I, E, 2>(cell, [batch, hidden], &device)),
        trace.map(|s| Trace::Host(E::wrap(s))),
    )
}

/// The backward on host buffers. The trace is handed to the kernel when no one else holds it
/// (as in training), so that it can reuse the trace's buffers.
pub(crate) fn backward<I: Backend, E: TraceFloat>(
    trace: AnyHostTrace,
    d_out: Tensor<I, 3>,
    [d_last, d_cell]: [Option<Tensor<I, 2>>; 2],
) -> InputGrads<I> {
    let device = d_out.device();
    let [batch, seq, hidden] = d_out.dims();
    let d_last = d_last.map(host_vec::<I, E, 2>).unwrap_or_default();
    let d_cell = d_cell.map(host_vec::<I, E, 2>).unwrap_or_default();
    let trace = E::unwrap(trace);
    let rec_kind = trace.kind();
    let d_out = host_vec(d_out);
    let [dp, dw, db, dh0, dc0] = match Arc::try_unwrap(trace) {
        Ok(owned) => kernel::backward::<E>(Cow::Owned(owned), &d_out, &d_last, &d_cell),
        Err(shared) => kernel::backward::<E>(Cow::Borrowed(&shared), &d_out, &d_last, &d_cell),
    };
    let gh = db.len();
    InputGrads {
        dp: from_host::<I, E, 3>(dp, [batch, seq, gh], &device),
        dw_hh: from_host::<I, E, 2>(dw, [hidden, gh], &device),
        db_hh: (rec_kind == CellKind::Gru).then(|| from_host::<I, E, 1>(db, [gh], &device)),
        dh0: from_host::<I, E, 2>(dh0, [batch, hidden], &device),
        dc0: from_host::<I, E, 2>(dc0, [batch, hidden], &device),
    }
}
