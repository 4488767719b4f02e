//! The examples' learning outcomes, with fast settings: each example file is compiled here as a
//! module and its `run` called, so the tests check the very code a user runs.

#[path = "../examples/basic_rnn.rs"]
mod basic_rnn;
#[path = "../examples/first_plus_last.rs"]
mod first_plus_last;
#[path = "../examples/next_number.rs"]
mod next_number;
#[path = "../examples/sentiment.rs"]
mod sentiment;
#[path = "../examples/sum_sequence.rs"]
mod sum_sequence;
#[path = "../examples/tiny_text.rs"]
mod tiny_text;

use burn::backend::{Autodiff, NdArray};
use burn::tensor::{Int, Tensor, TensorData};
use burn_rnn::model::{Classes, SequenceClassifierConfig};
use burn_rnn::{CellKind, RecurrentConfig};

/// Burn's backend RNG is process-global: the examples seed it, so they must not overlap.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn next_number_beats_the_mean_by_far() {
    let _g = serial();
    let o = next_number::run(&next_number::Settings { epochs: 150 });
    assert!(
        o.mse < o.baseline_mse / 20.0,
        "MSE {} vs baseline {}",
        o.mse,
        o.baseline_mse
    );
}

#[test]
fn sum_sequence_learns_to_add() {
    let _g = serial();
    for (seq, mse, baseline) in sum_sequence::run(&sum_sequence::Settings::default()) {
        assert!(
            mse < baseline / 10.0,
            "length {seq}: MSE {mse} vs baseline {baseline}"
        );
    }
}

#[test]
fn first_plus_last_lstm_and_gru_beat_the_vanilla_rnn() {
    let _g = serial();
    let r = first_plus_last::run(&first_plus_last::Settings::default());
    let mse = |k: CellKind| r.iter().find(|(c, _)| *c == k).unwrap().1;
    let (rnn, lstm, gru) = (mse(CellKind::Rnn), mse(CellKind::Lstm), mse(CellKind::Gru));
    assert!(
        rnn > 0.05,
        "the vanilla RNN should not remember the first element: {rnn}"
    );
    assert!(gru < rnn / 10.0, "GRU {gru} vs RNN {rnn}");
    assert!(lstm < rnn / 10.0, "LSTM {lstm} vs RNN {rnn}");
}

#[test]
fn sentiment_beats_chance_clearly() {
    let _g = serial();
    let acc = sentiment::run(&sentiment::Settings {
        train: 1024,
        epochs: 8,
    });
    assert!(acc > 0.8, "accuracy {acc}");
}

#[test]
fn tiny_text_generates_the_sentence() {
    let _g = serial();
    let o = tiny_text::run(&tiny_text::Settings { epochs: 200 });
    assert!(o.windows.starts_with("This is Geeks"), "{:?}", o.windows);
    assert_eq!(o.tagger, tiny_text::TEXT);
}

#[test]
fn basic_rnn_writes_a_png() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("basic_rnn.png");
    let (w, h) = basic_rnn::run(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR");
    let dim = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
    assert_eq!((dim(16), dim(20)), (w, h));
    assert!(bytes.len() > 10_000, "a picture, not an empty canvas");
}

/// Padding after a sequence does not change the classifier's answer.
#[test]
fn padding_does_not_change_the_classification() {
    // Its weights are drawn from Burn's process-wide generator, which the seeded examples share.
    let _g = serial();
    type B = Autodiff<NdArray>;
    let device = Default::default();
    let model = SequenceClassifierConfig::new(
        10,
        4,
        RecurrentConfig::new(CellKind::Gru, 4, 8).with_num_layers(2),
        Classes::Multi(3),
    )
    .init::<B>(&device);
    let ids = |v: Vec<i64>, t: usize| {
        let rows = v.len() / t;
        Tensor::<B, 2, Int>::from_data(TensorData::new(v, [rows, t]), &device)
    };
    let alone = model.forward(ids(vec![3, 1, 4], 3), None);
    let padded = model.forward(ids(vec![3, 1, 4, 0, 0, 2, 7, 1, 8, 2], 5), Some(&[3, 5]));
    let a = alone.into_data().to_vec::<f32>().unwrap();
    let p = padded.narrow(0, 0, 1).into_data().to_vec::<f32>().unwrap();
    for (x, y) in a.iter().zip(&p) {
        assert!((x - y).abs() < 1e-6, "{a:?} vs {p:?}");
    }
}
