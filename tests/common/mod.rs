//! Helpers shared by the integration tests: reading the PyTorch fixtures and comparing tensors.
#![allow(dead_code)]

use std::path::PathBuf;

use burn::tensor::{Tensor, TensorData, backend::Backend};
use burn_rnn::{Activation, CellKind, RecurrentConfig};
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
    let scale = expected.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-12);
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
