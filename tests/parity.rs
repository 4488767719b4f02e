//! Parity with PyTorch: outputs, final states and gradients of every cell, 1-3 layers, one and
//! two directions, with and without an initial state, with and without bias, in f64 (f32 is in
//! `parity_f32.rs`: Burn 0.21 keys the default float dtype by device, so f32 and f64 ndarray
//! backends must not share a process).
//! Fixtures come from `tests/make_fixtures.py`.

mod common;

use burn::backend::{Autodiff, NdArray};
use burn::tensor::Tensor;
use burn_rnn::{RecurrentState, pytorch};
use common::*;
use safetensors::SafeTensors;

#[test]
fn parity_with_pytorch_f64() {
    let bytes = fixture_bytes();
    let cases = cases();
    assert!(cases.len() >= 48);
    for case in &cases {
        // The fused autodiff operation (the fast path) and Burn's step-by-step autodiff.
        check_case::<Autodiff<NdArray<f64>>>(case, &bytes, 1e-9, true);
        check_case::<Autodiff<NdArray<f64>>>(case, &bytes, 1e-9, false);
    }
}

/// Looping `step` over time gives what `forward` gives (fused and generic), state included.
#[test]
fn step_loop_equals_forward() {
    for fused in [true, false] {
        step_loop_equals_forward_with(fused);
    }
}

fn step_loop_equals_forward_with(fused: bool) {
    type B = NdArray<f64>;
    let bytes = fixture_bytes();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let device = Default::default();
    let mut checked = 0;
    for case in cases().iter().filter(|c| !c.bidirectional) {
        let p = format!("{}.", case.name);
        let layer = case.config().with_fused(fused).init::<B>(&device);
        let layer = pytorch::load_state_dict(layer, &bytes, &format!("{p}sd.")).unwrap();
        let x = tensor::<B, 3>(&file, &format!("{p}x"), &device);
        let state = case.init_state.then(|| {
            RecurrentState::from_tensors(
                tensor::<B, 3>(&file, &format!("{p}h_0"), &device),
                case.is_lstm()
                    .then(|| tensor::<B, 3>(&file, &format!("{p}c_0"), &device)),
            )
        });
        let (out, last) = layer.forward(x.clone(), state.clone());
        let mut stepped = Vec::new();
        let mut s = state;
        for t in 0..case.seq {
            let x_t = x.clone().narrow(1, t, 1).squeeze_dim::<2>(1);
            let (y, next) = layer.step(x_t, s);
            stepped.push(y);
            s = Some(next);
        }
        let s = s.unwrap();
        let stepped = Tensor::stack::<3>(stepped, 1);
        assert!(
            rel_error(&values(stepped), &values(out)) < 1e-12,
            "{}",
            case.name
        );
        assert!(rel_error(&values(s.hidden()), &values(last.hidden())) < 1e-12);
        if case.is_lstm() {
            let (a, b) = (s.cell().unwrap(), last.cell().unwrap());
            assert!(rel_error(&values(a), &values(b)) < 1e-12);
        }
        checked += 1;
    }
    assert!(checked >= 24);
}
