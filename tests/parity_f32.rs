//! Parity with PyTorch in f32 (relative error at most 1e-5), in its own process: Burn 0.21 keys
//! the default float dtype by device, so f32 and f64 ndarray backends must not share one.

mod common;

use burn::backend::{Autodiff, NdArray};
use common::*;

#[test]
fn parity_with_pytorch_f32() {
    let bytes = fixture_bytes();
    for case in &cases() {
        check_case::<Autodiff<NdArray<f32>>>(case, &bytes, 1e-5, true);
        check_case::<Autodiff<NdArray<f32>>>(case, &bytes, 1e-5, false);
    }
}

/// An f32 PyTorch file loaded into an f32 layer and saved again is byte-for-byte the same.
#[test]
fn load_then_save_f32_is_exact() {
    use burn_rnn::{CellKind, RecurrentConfig, pytorch};
    use safetensors::SafeTensors;
    let bytes = std::fs::read(fixture_path("lstm_f32.safetensors")).unwrap();
    let layer = RecurrentConfig::new(CellKind::Lstm, 4, 6)
        .with_num_layers(2)
        .with_bidirectional(true)
        .init::<NdArray<f32>>(&Default::default());
    let layer = pytorch::load_state_dict(layer, &bytes, "").unwrap();
    let saved = pytorch::save_state_dict(&layer, "").unwrap();
    let (a, b) = (
        SafeTensors::deserialize(&saved).unwrap(),
        SafeTensors::deserialize(&bytes).unwrap(),
    );
    assert_eq!(a.len(), b.len());
    for name in b.names() {
        let (x, y) = (a.tensor(name).unwrap(), b.tensor(name).unwrap());
        assert_eq!((x.dtype(), x.shape()), (y.dtype(), y.shape()), "{name}");
        assert!(x.data() == y.data(), "{name}");
    }
}
