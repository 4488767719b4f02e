//! The tutorials' first program: a vanilla RNN reads windows of 5 consecutive integers and
//! predicts the sixth. It trains on the numbers 0 to 99 (scaled to [0, 0.5]) and is then asked
//! about windows it never saw, starting at 100 to 110.
//!
//! cargo run --release --features examples --example next_number

use burn::backend::{Autodiff, NdArray};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use burn_rnn::model::{SequenceRegressor, SequenceRegressorConfig};
use burn_rnn::training::{FitConfig, fit};
use burn_rnn::{CellKind, RecurrentConfig};

type B = Autodiff<NdArray>;

const WINDOW: usize = 5;
const SCALE: f32 = 200.0;

/// How long to train.
pub struct Settings {
    /// Epochs over the training windows.
    pub epochs: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self { epochs: 300 }
    }
}

/// What the run measured on the windows starting at 100..=110 (in units of the numbers).
pub struct Outcome {
    /// The model's mean squared error.
    pub mse: f64,
    /// The error of always predicting the mean training target.
    pub baseline_mse: f64,
}

fn windows(starts: &[usize]) -> (Tensor<B, 3>, Tensor<B, 2>) {
    let device = Default::default();
    let x: Vec<f32> = starts
        .iter()
        .flat_map(|&s| (s..s + WINDOW).map(|v| v as f32 / SCALE))
        .collect();
    let y: Vec<f32> = starts
        .iter()
        .map(|&s| (s + WINDOW) as f32 / SCALE)
        .collect();
    (
        Tensor::from_data(TensorData::new(x, [starts.len(), WINDOW, 1]), &device),
        Tensor::from_data(TensorData::new(y, [starts.len(), 1]), &device),
    )
}

/// Trains and prints the predictions next to the truth.
pub fn run(s: &Settings) -> Outcome {
    let device = Default::default();
    B::seed(&device, 0);
    // Windows 0..4 -> 5 up to 94..98 -> 99.
    let train: Vec<usize> = (0..=100 - WINDOW - 1).collect();
    let batches: Vec<_> = train.chunks(16).map(windows).collect();
    let test: Vec<usize> = (100..=110).collect();
    let (test_x, test_y) = windows(&test);
    let mse = |m: &SequenceRegressor<B>| {
        let e = m.loss(m.forward(test_x.clone()), test_y.clone());
        e.into_data().convert::<f64>().to_vec::<f64>().unwrap()[0] * (SCALE * SCALE) as f64
    };
    let model =
        SequenceRegressorConfig::new(RecurrentConfig::new(CellKind::Rnn, 1, 16)).init::<B>(&device);
    println!("{}", model.summary(WINDOW));
    let config = FitConfig::new()
        .with_epochs(s.epochs)
        .with_learning_rate(3e-3)
        .with_report_every(s.epochs / 5);
    let (model, _) = fit(
        model,
        &config,
        &batches,
        |m, (x, y)| m.loss(m.forward(x.clone()), y.clone()),
        mse,
        "MSE",
    );
    let predicted = model
        .forward(test_x.clone())
        .into_data()
        .to_vec::<f32>()
        .unwrap();
    println!();
    println!("input                   predicted  truth");
    for (&start, p) in test.iter().zip(&predicted) {
        let input: Vec<String> = (start..start + WINDOW).map(|v| v.to_string()).collect();
        println!(
            "{:<22}  {:>9.1}  {:>5}",
            input.join(" "),
            p * SCALE,
            start + WINDOW
        );
    }
    let mean_target = train.iter().map(|&s| (s + WINDOW) as f64).sum::<f64>() / train.len() as f64;
    let baseline_mse = test
        .iter()
        .map(|&s| ((s + WINDOW) as f64 - mean_target).powi(2))
        .sum::<f64>()
        / test.len() as f64;
    let outcome = Outcome {
        mse: mse(&model),
        baseline_mse,
    };
    println!(
        "test MSE {:.2} (always predicting the mean training target: {:.0})",
        outcome.mse, outcome.baseline_mse
    );
    outcome
}

#[allow(dead_code)]
fn main() {
    run(&Settings::default());
}
