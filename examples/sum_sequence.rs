//! Many-to-one regression: random sequences of U(0,1) numbers of length 5 and 10, target their
//! sum. An LSTM learns to add; the baseline that always predicts the mean sum has MSE n/12.
//!
//! cargo run --release --features examples --example sum_sequence

use burn::backend::{Autodiff, NdArray};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use burn_rnn::model::{SequenceRegressor, SequenceRegressorConfig};
use burn_rnn::training::{FitConfig, fit};
use burn_rnn::{CellKind, RecurrentConfig};
use rand::{Rng, SeedableRng, rngs::StdRng};

type B = Autodiff<NdArray>;

/// How long to train.
pub struct Settings {
    /// Epochs over 2048 training sequences.
    pub epochs: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self { epochs: 40 }
    }
}

fn data(n: usize, seq: usize, rng: &mut StdRng) -> (Tensor<B, 3>, Tensor<B, 2>) {
    let device = Default::default();
    let x: Vec<f32> = (0..n * seq).map(|_| rng.random::<f32>()).collect();
    let y: Vec<f32> = x.chunks(seq).map(|s| s.iter().sum()).collect();
    (
        Tensor::from_data(TensorData::new(x, [n, seq, 1]), &device),
        Tensor::from_data(TensorData::new(y, [n, 1]), &device),
    )
}

/// `(length, test MSE, mean-predictor MSE)` for each length.
pub fn run(s: &Settings) -> Vec<(usize, f64, f64)> {
    let device = Default::default();
    let mut results = Vec::new();
    for seq in [5, 10] {
        println!("--- sequences of {seq} ---");
        let mut rng = StdRng::seed_from_u64(seq as u64);
        let batches: Vec<_> = (0..32).map(|_| data(64, seq, &mut rng)).collect();
        let (test_x, test_y) = data(1024, seq, &mut rng);
        let mse = |m: &SequenceRegressor<B>| {
            let e = m.loss(m.forward(test_x.clone()), test_y.clone());
            e.into_data().convert::<f64>().to_vec::<f64>().unwrap()[0]
        };
        B::seed(&device, 0);
        let model = SequenceRegressorConfig::new(RecurrentConfig::new(CellKind::Lstm, 1, 32))
            .init::<B>(&device);
        let config = FitConfig::new()
            .with_epochs(s.epochs)
            .with_learning_rate(3e-3)
            .with_report_every(10);
        let (model, _) = fit(
            model,
            &config,
            &batches,
            |m, (x, y)| m.loss(m.forward(x.clone()), y.clone()),
            mse,
            "MSE",
        );
        let sample = test_x.clone().narrow(0, 0, 1);
        let values = sample.clone().into_data().to_vec::<f32>().unwrap();
        let predicted = model.forward(sample).into_data().to_vec::<f32>().unwrap()[0];
        println!(
            "  {values:.2?} sums to {:.3}; predicted {predicted:.3}",
            values.iter().sum::<f32>()
        );
        results.push((seq, mse(&model), seq as f64 / 12.0));
    }
    println!();
    println!("length  test MSE  predict-the-mean MSE");
    for (seq, e, base) in &results {
        println!("{seq:>6}  {e:>8.5}  {base:>8.3}");
    }
    results
}

#[allow(dead_code)]
fn main() {
    run(&Settings::default());
}
