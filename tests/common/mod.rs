//! Helpers shared by the integration tests: reading the PyTorch fixtures and comparing tensors.
#![allow(dead_code)]

use std::path::PathBuf;

use burn::tensor::{
    Tensor, TensorData,
    backend::{AutodiffBackend, Backend},
};
use burn_rnn::{Activation, CellKind, RecurrentCell, RecurrentConfig, RecurrentState, pytorch};
use safetensors::{Dtype, SafeTensors};
use serde::Deserialize;

/// One case of `tests/fixtures/parity.json`, written by `tests/make_fixtures.py`.
#[derive(Debug, Deserialize)]
pub struct Case {
    pub name: String,
    pub kind: String,
    pub layers: usize,
    pub bidirectional: bool,
    pub init_state: bool,
    pub bias: bool,
    pub batch: usize,
    pub seq: usize,
    pub input: usize,
    pub hidden: usize,
}

impl Case {
    pub fn config(&self) -> RecurrentConfig {
        let (kind, activation) = match self.kind.as_str() {
            "rnn_tanh" => (CellKind::Rnn, Activation::Tanh),
            "rnn_relu" => (CellKind::Rnn, Activation::Relu),
            "lstm" => (CellKind::Lstm, Activation::Tanh),
            "gru" => (CellKind::Gru, Activation::Tanh),
            other => panic!("unknown kind {other}"),
        };
        RecurrentConfig::new(kind, self.input, self.hidden)
            .with_num_layers(self.layers)
            .with_bidirectional(self.bidirectional)
            .with_bias(self.bias)
            .with_activation(activation)
    }

    pub fn is_lstm(&self) -> bool {
        self.kind == "lstm"
    }
}

pub fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(name)
}

pub fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(fixture_path("parity.json")).expect("parity.json");
    serde_json::from_str(&text).expect("valid manifest")
}

pub fn fixture_bytes() -> Vec<u8> {
    std::fs::read(fixture_path("parity.safetensors")).expect("parity.safetensors")
}

/// Reads an f64 tensor of the fixture file as `TensorData`.
pub fn data(file: &SafeTensors<'_>, key: &str) -> TensorData {
    let view = file
        .tensor(key)
        .unwrap_or_else(|_| panic!("fixture key {key}"));
    assert_eq!(view.dtype(), Dtype::F64, "{key}");
    let values: Vec<f64> = view
        .data()
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
        .collect();
    TensorData::new(values, view.shape().to_vec())
}

pub fn tensor<B: Backend, const D: usize>(
    file: &SafeTensors<'_>,
    key: &str,
    device: &B::Device,
) -> Tensor<B, D> {
    Tensor::from_data(data(file, key), device)
}

pub fn values<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f64> {
    t.into_data().convert::<f64>().to_vec::<f64>().unwrap()
}

/// Relative error in the max norm: `max |a - b| / max |b|`.
pub fn rel_error(actual: &[f64], expected: &[f64]) -> f64 {
    assert_eq!(actual.len(), expected.len(), "length");
    let scale = expected
        .iter()
        .fold(0.0f64, |m, v| m.max(v.abs()))
        .max(1e-12);
    let diff = actual
        .iter()
        .zip(expected)
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    diff / scale
}

pub fn assert_close(what: &str, actual: Vec<f64>, expected: &TensorData, tol: f64) {
    let expected = expected.clone().to_vec::<f64>().unwrap();
    let err = rel_error(&actual, &expected);
    assert!(
        err <= tol,
        "{what}: relative error {err:.3e} above {tol:.0e}"
    );
}

/// Loads a fixture case into a layer, runs forward and backward, and compares everything with
/// PyTorch at relative tolerance `tol`.
pub fn check_case<B: AutodiffBackend>(case: &Case, bytes: &[u8], tol: f64, fused: bool) {
    let file = SafeTensors::deserialize(bytes).unwrap();
    let device = Default::default();
    let p = format!("{}.", case.name);
    let layer = case.config().with_fused(fused).init::<B>(&device);
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

    let path = if fused { "fused" } else { "generic" };
    let what = |s: &str| format!("{} ({}, {path}) {s}", case.name, case.kind);
    assert_close(
        &what("out"),
        values(out.clone()),
        &data(&file, &format!("{p}out")),
        tol,
    );
    assert_close(
        &what("h_n"),
        values(hn.clone()),
        &data(&file, &format!("{p}h_n")),
        tol,
    );
    let mut loss = (out * tensor::<B, 3>(&file, &format!("{p}r_out"), &device)).sum()
        + (hn * tensor::<B, 3>(&file, &format!("{p}r_h"), &device)).sum();
    if let Some(cn) = cn {
        assert_close(
            &what("c_n"),
            values(cn.clone()),
            &data(&file, &format!("{p}c_n")),
            tol,
        );
        loss = loss + (cn * tensor::<B, 3>(&file, &format!("{p}r_c"), &device)).sum();
    }
    let grads = loss.backward();

    let grad = |t: &Tensor<B, 3>| values(t.grad(&grads).expect("gradient"));
    assert_close(
        &what("grad x"),
        grad(&x),
        &data(&file, &format!("{p}grad.x")),
        tol,
    );
    if let Some(h0) = &h0 {
        assert_close(
            &what("grad h_0"),
            grad(h0),
            &data(&file, &format!("{p}grad.h_0")),
            tol,
        );
    }
    if let Some(c0) = &c0 {
        assert_close(
            &what("grad c_0"),
            grad(c0),
            &data(&file, &format!("{p}grad.c_0")),
            tol,
        );
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
