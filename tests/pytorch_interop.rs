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

/// `save_char_lm` writes every parameter of a character model in f32 under PyTorch's keys and
/// layout: the embedding as it is, the recurrent weights as `save_state_dict` writes them
/// (transposed, gates in PyTorch's order, held against PyTorch's fixtures above), the head
/// transposed to `nn.Linear`'s `[out, in]`; the metadata goes into the header; and
/// `load_char_lm` reads it back.
#[test]
fn char_model_exports_as_pytorch_lays_it_out() {
    use burn::module::Module;
    use burn_rnn::model::CharLmConfig;

    let device = Default::default();
    let (vocab, emb, hidden) = (11, 5, 7);
    let config = CharLmConfig::new(
        vocab,
        emb,
        RecurrentConfig::new(CellKind::Lstm, emb, hidden).with_num_layers(2),
    );
    let model = config.init::<B>(&device);
    let meta = [("cell".to_string(), "lstm".to_string())].into();
    let bytes = pytorch::save_char_lm(&model, meta).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let f32s = |key: &str| -> (Vec<usize>, Vec<f32>) {
        let t = file.tensor(key).unwrap();
        assert_eq!(t.dtype(), safetensors::Dtype::F32, "{key}");
        let values = t
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        (t.shape().to_vec(), values)
    };
    let values = |t: burn::tensor::Tensor<B, 2>| t.into_data().to_vec::<f64>().unwrap();

    let mut names = file.names();
    names.sort();
    assert_eq!(
        names,
        [
            "emb.weight",
            "head.bias",
            "head.weight",
            "rnn.bias_hh_l0",
            "rnn.bias_hh_l1",
            "rnn.bias_ih_l0",
            "rnn.bias_ih_l1",
            "rnn.weight_hh_l0",
            "rnn.weight_hh_l1",
            "rnn.weight_ih_l0",
            "rnn.weight_ih_l1",
        ]
    );
    let (shape, got) = f32s("emb.weight");
    assert_eq!(shape, [vocab, emb]);
    let want = values(model.embedding.weight.val());
    assert!(got.iter().zip(&want).all(|(a, b)| *a == *b as f32));

    // nn.Linear(H, V): weight [V, H] = the transpose of Burn's [H, V].
    let (shape, got) = f32s("head.weight");
    assert_eq!(shape, [vocab, hidden]);
    let head = values(model.head.weight.val());
    for v in 0..vocab {
        for h in 0..hidden {
            assert_eq!(
                got[v * hidden + h],
                head[h * vocab + v] as f32,
                "head [{v}, {h}]"
            );
        }
    }
    let (shape, got) = f32s("head.bias");
    assert_eq!(shape, [vocab]);
    let bias = model.head.bias.as_ref().unwrap().val().into_data();
    let bias = bias.to_vec::<f64>().unwrap();
    assert!(got.iter().zip(&bias).all(|(a, b)| *a == *b as f32));

    // The recurrent keys: save_state_dict's f64 tensors, rounded to f32.
    let layer = pytorch::save_state_dict(&model.rnn, "rnn.").unwrap();
    let layer = SafeTensors::deserialize(&layer).unwrap();
    for name in layer.names() {
        let want = layer.tensor(name).unwrap();
        let (shape, got) = f32s(name);
        assert_eq!(shape, want.shape(), "{name}");
        let want: Vec<f32> = want
            .data()
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().unwrap()) as f32)
            .collect();
        assert_eq!(got, want, "{name}");
    }
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    assert_eq!(header.metadata().as_ref().unwrap()["cell"], "lstm");

    // And back: the f32 file loads into a fresh model, equal to the original up to f32 rounding.
    let back = pytorch::load_char_lm(config.init::<B>(&device), &bytes).unwrap();
    let a = model.embedding.weight.val();
    let b = back.embedding.weight.val();
    assert!((a - b).abs().max().into_scalar() < 1e-6);
    let a = values(model.head.weight.val());
    let b = values(back.head.weight.val());
    assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-6));
    assert_eq!(model.num_params(), back.num_params());
}
