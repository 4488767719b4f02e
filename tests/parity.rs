//! Parity with PyTorch: outputs, final states and gradients of every cell, 1-3 layers, one and
//! two directions, with and without an initial state, with and without bias, in f64 and f32.
//! Fixtures come from `tests/make_fixtures.py`.

mod common;

use burn::backend::{Autodiff, NdArray};
use burn::tensor::{Tensor, backend::AutodiffBackend};
use burn_rnn::{RecurrentState, pytorch};
use common::*;
use safetensors::SafeTensors;

fn check_case<B: AutodiffBackend>(case: &Case, bytes: &[u8], tol: f64) {
    let file = SafeTensors::deserialize(bytes).unwrap();
    let device = Default::default();
    let p = format!("{}.", case.name);
    let layer = case.config().init::<B>(&device);
    let layer = pytorch::load_state_dict(layer, bytes, &format!("{p}sd.")).unwrap();

    let x = tensor::<B, 3>(&file, &format!("{p}x"), &device).require_grad();
    let (h0, c0) = if case.init_state {
        let h0 = tensor::<B, 3>(&file, &format!("{p}h_0"), &device).require_grad();
        let c0 = case
            .is_lstm()
            .then(|| tensor::<B, 3>(&file, &format!("{p}c_0"), &device).require_grad());
        (Some(h0), c0)
    } else {
        (None, None)
    };
    let state = h0
        .clone()
        .map(|h| RecurrentState::from_tensors(h, c0.clone()));
    let (out, state) = layer.forward(x.clone(), state);
    let hn = state.hidden();
    let cn = state.cell();
    assert_eq!(cn.is_some(), case.is_lstm(), "{}: cell state", case.name);

    let what = |s: &str| format!("{} ({}) {s}", case.name, case.kind);
    assert_close(&what("out"), values(out.clone()), &data(&file, &format!("{p}out")), tol);
    assert_close(&what("h_n"), values(hn.clone()), &data(&file, &format!("{p}h_n")), tol);
    let mut loss = (out * tensor::<B, 3>(&file, &format!("{p}r_out"), &device)).sum()
        + (hn * tensor::<B, 3>(&file, &format!("{p}r_h"), &device)).sum();
    if let Some(cn) = cn {
        assert_close(&what("c_n"), values(cn.clone()), &data(&file, &format!("{p}c_n")), tol);
        loss = loss + (cn * tensor::<B, 3>(&file, &format!("{p}r_c"), &device)).sum();
    }
    let grads = loss.backward();

    let grad = |t: &Tensor<B, 3>| values(t.grad(&grads).expect("gradient"));
    assert_close(&what("grad x"), grad(&x), &data(&file, &format!("{p}grad.x")), tol);
    if let Some(h0) = &h0 {
        assert_close(&what("grad h_0"), grad(h0), &data(&file, &format!("{p}grad.h_0")), tol);
    }
    if let Some(c0) = &c0 {
        assert_close(&what("grad c_0"), grad(c0), &data(&file, &format!("{p}grad.c_0")), tol);
    }
    let dirs = if case.bidirectional { 2 } else { 1 };
    for (index, cell) in layer.cells.iter().enumerate() {
        let suffix = format!(
            "_l{}{}",
            index / dirs,
            if index % dirs == 1 { "_reverse" } else { "" }
        );
        let w = cell.weights();
        // Our weights are the transpose of PyTorch's.
        let g = |t: Tensor<B, 2>| values(t.grad(&grads).expect("weight gradient").transpose());
        assert_close(
            &what(&format!("grad weight_ih{suffix}")),
            g(w.weight_ih.val()),
            &data(&file, &format!("{p}grad.weight_ih{suffix}")),
            tol,
        );
        assert_close(
            &what(&format!("grad weight_hh{suffix}")),
            g(w.weight_hh.val()),
            &data(&file, &format!("{p}grad.weight_hh{suffix}")),
            tol,
        );
        let bias_grads = [(&w.bias_ih, "bias_ih"), (&w.bias_hh, "bias_hh")];
        for (bias, name) in bias_grads {
            assert_eq!(bias.is_some(), case.bias, "{}: {name}", case.name);
            if let Some(b) = bias {
                let gb = values(b.val().grad(&grads).expect("bias gradient"));
                assert_close(
                    &what(&format!("grad {name}{suffix}")),
                    gb,
                    &data(&file, &format!("{p}grad.{name}{suffix}")),
                    tol,
                );
            }
        }
    }
}

#[test]
fn parity_with_pytorch_f64() {
    let bytes = fixture_bytes();
    let cases = cases();
    assert!(cases.len() >= 48);
    for case in &cases {
        check_case::<Autodiff<NdArray<f64>>>(case, &bytes, 1e-9);
    }
}

#[test]
fn parity_with_pytorch_f32() {
    let bytes = fixture_bytes();
    for case in &cases() {
        check_case::<Autodiff<NdArray<f32>>>(case, &bytes, 1e-5);
    }
}

/// Looping `step` over time gives what `forward` gives, state included.
#[test]
fn step_loop_equals_forward() {
    type B = NdArray<f64>;
    let bytes = fixture_bytes();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let device = Default::default();
    let mut checked = 0;
    for case in cases().iter().filter(|c| !c.bidirectional) {
        let p = format!("{}.", case.name);
        let layer = case.config().init::<B>(&device);
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
        assert!(rel_error(&values(stepped), &values(out)) < 1e-12, "{}", case.name);
        assert!(rel_error(&values(s.hidden()), &values(last.hidden())) < 1e-12);
        if case.is_lstm() {
            let (a, b) = (s.cell().unwrap(), last.cell().unwrap());
            assert!(rel_error(&values(a), &values(b)) < 1e-12);
        }
        checked += 1;
    }
    assert!(checked >= 24);
}
