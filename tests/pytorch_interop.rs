//! Loading and saving PyTorch `state_dict`s: exact round trips and errors that name the key.

mod common;

use burn::backend::NdArray;
use burn_rnn::pytorch::{self, PytorchError};
use burn_rnn::{CellKind, RecurrentConfig};
use common::*;
use safetensors::SafeTensors;

type B = NdArray<f64>;

/// All tensors of `a` are byte-for-byte those of `b` (same keys, dtypes, shapes, bytes).
fn assert_same_tensors(a: &[u8], a_prefix: &str, b: &[u8]) {
    let a = SafeTensors::deserialize(a).unwrap();
    let b = SafeTensors::deserialize(b).unwrap();
    let mut names = b.names();
    names.sort();
    assert!(!names.is_empty());
    for name in names {
        let expected = b.tensor(name).unwrap();
        let actual = a.tensor(&format!("{a_prefix}{name}")).unwrap();
        assert_eq!(actual.dtype(), expected.dtype(), "{name}");
        assert_eq!(actual.shape(), expected.shape(), "{name}");
        assert!(actual.data() == expected.data(), "{name}: bytes differ");
    }
}

#[test]
fn load_then_save_f64_is_exact() {
    let bytes = fixture_bytes();
    let device = Default::default();
    for case in cases() {
        let prefix = format!("{}.sd.", case.name);
        let layer = case.config().init::<B>(&device);
        let layer = pytorch::load_state_dict(layer, &bytes, &prefix).unwrap();
        let saved = pytorch::save_state_dict(&layer, "").unwrap();
        assert_same_tensors(&bytes, &prefix, &saved);
        // Nothing extra was written.
        assert_eq!(
            SafeTensors::deserialize(&saved).unwrap().len(),
            (if case.bias { 4 } else { 2 }) * case.layers * if case.bidirectional { 2 } else { 1 }
        );
    }
}

#[test]
fn save_to_file_and_load_back() {
    let device = Default::default();
    let config = RecurrentConfig::new(CellKind::Gru, 4, 6).with_bidirectional(true);
    let layer = config.init::<B>(&device);
    let dir = std::env::temp_dir().join(format!("burn-rnn-interop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gru.safetensors");
    pytorch::save_file(&layer, &path, "rnn.").unwrap();
    let loaded = pytorch::load_file(config.init::<B>(&device), &path, "rnn.").unwrap();
    let a = pytorch::save_state_dict(&layer, "").unwrap();
    let b = pytorch::save_state_dict(&loaded, "").unwrap();
    assert_same_tensors(&a, "", &b);
    std::fs::remove_dir_all(dir).unwrap();
}

fn lstm_2x_bi() -> RecurrentConfig {
    RecurrentConfig::new(CellKind::Lstm, 4, 6)
        .with_num_layers(2)
        .with_bidirectional(true)
}

#[test]
fn missing_key_is_named() {
    let bytes = std::fs::read(fixture_path("lstm_f32.safetensors")).unwrap();
    // A three-layer layer needs keys the two-layer file lacks.
    let layer = lstm_2x_bi()
        .with_num_layers(3)
        .init::<B>(&Default::default());
    let err = pytorch::load_state_dict(layer, &bytes, "").unwrap_err();
    assert!(matches!(err, PytorchError::MissingKey { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("weight_ih_l2"), "{message}");
    assert!(message.contains("[24, 12]"), "{message}");
}

#[test]
fn extra_key_is_named() {
    let bytes = std::fs::read(fixture_path("lstm_f32.safetensors")).unwrap();
    let layer = lstm_2x_bi()
        .with_bidirectional(false)
        .init::<B>(&Default::default());
    let err = pytorch::load_state_dict(layer, &bytes, "").unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, PytorchError::UnexpectedKey { .. }),
        "{message}"
    );
    assert!(message.contains("_reverse"), "{message}");
}

#[test]
fn shape_mismatch_names_key_and_both_shapes() {
    let bytes = std::fs::read(fixture_path("lstm_f32.safetensors")).unwrap();
    let layer = RecurrentConfig::new(CellKind::Lstm, 5, 6)
        .with_num_layers(2)
        .with_bidirectional(true)
        .init::<B>(&Default::default());
    let err = pytorch::load_state_dict(layer, &bytes, "").unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, PytorchError::ShapeMismatch { .. }),
        "{message}"
    );
    assert!(message.contains("weight_ih_l0"), "{message}");
    assert!(
        message.contains("[24, 5]") && message.contains("[24, 4]"),
        "{message}"
    );
}

#[test]
fn wrong_file_type_and_missing_file() {
    let layer = lstm_2x_bi().init::<B>(&Default::default());
    let err =
        pytorch::load_state_dict(layer.clone(), b"PK\x03\x04 not safetensors", "").unwrap_err();
    assert!(matches!(err, PytorchError::Format(_)), "{err}");
    let err = pytorch::load_file(layer, "/nonexistent/model.safetensors", "").unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/model.safetensors"),
        "{err}"
    );
}
