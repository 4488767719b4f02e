//! Binary sentiment classification: Embedding + RNN + a dense sigmoid output, on short reviews
//! generated deterministically from word lists (no download). A review holds one sentiment word,
//! sometimes negated ("not good"), among neutral words; reviews have different lengths, so batches
//! are padded and the model reads each review's last real word (`lengths`).
//!
//! cargo run --release --features examples --example sentiment

use burn::backend::{Autodiff, NdArray};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use burn_rnn::model::{Classes, SequenceClassifier, SequenceClassifierConfig};
use burn_rnn::training::{FitConfig, fit};
use burn_rnn::{CellKind, RecurrentConfig};
use rand::{Rng, SeedableRng, rngs::StdRng, seq::IndexedRandom};

type B = Autodiff<NdArray>;

const POSITIVE: &[&str] = &[
    "good",
    "great",
    "excellent",
    "wonderful",
    "loved",
    "enjoyed",
    "superb",
];
const NEGATIVE: &[&str] = &[
    "bad", "terrible", "awful", "boring", "hated", "dull", "poor",
];
const NEUTRAL: &[&str] = &[
    "the", "movie", "film", "plot", "acting", "was", "is", "really", "very", "quite", "i", "it",
    "story", "cast", "and", "this", "ending", "music", "so",
];

/// How much data and training.
pub struct Settings {
    /// Training reviews.
    pub train: usize,
    /// Epochs.
    pub epochs: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            train: 2048,
            epochs: 12,
        }
    }
}

/// The vocabulary: id 0 is padding.
fn vocab() -> Vec<&'static str> {
    let mut v = vec!["<pad>", "not"];
    v.extend(POSITIVE.iter().chain(NEGATIVE).chain(NEUTRAL));
    v
}

/// A review and its label (1 positive, 0 negative).
fn review(rng: &mut StdRng) -> (Vec<&'static str>, usize) {
    let len = rng.random_range(3..=9);
    let mut words: Vec<&str> = (0..len).map(|_| *NEUTRAL.choose(rng).unwrap()).collect();
    let positive = rng.random_bool(0.5);
    let word = if positive { POSITIVE } else { NEGATIVE }
        .choose(rng)
        .unwrap();
    let at = rng.random_range(0..=words.len());
    let negated = rng.random_bool(0.3);
    words.insert(at, word);
    if negated {
        words.insert(at, "not");
    }
    (words, usize::from(positive != negated))
}

/// A padded batch: ids `[n, T]`, lengths, labels `[n]`.
pub struct Batch {
    ids: Tensor<B, 2, Int>,
    lengths: Vec<usize>,
    labels: Tensor<B, 1, Int>,
    texts: Vec<String>,
}

fn batch(reviews: &[(Vec<&str>, usize)], vocab: &[&str]) -> Batch {
    let device = Default::default();
    let t = reviews.iter().map(|(w, _)| w.len()).max().unwrap();
    let mut ids = vec![0i64; reviews.len() * t];
    for (r, (words, _)) in reviews.iter().enumerate() {
        for (j, w) in words.iter().enumerate() {
            ids[r * t + j] = vocab.iter().position(|v| v == w).unwrap() as i64;
        }
    }
    let labels: Vec<i64> = reviews.iter().map(|(_, l)| *l as i64).collect();
    Batch {
        ids: Tensor::from_data(TensorData::new(ids, [reviews.len(), t]), &device),
        lengths: reviews.iter().map(|(w, _)| w.len()).collect(),
        labels: Tensor::from_data(TensorData::new(labels, [reviews.len()]), &device),
        texts: reviews.iter().map(|(w, _)| w.join(" ")).collect(),
    }
}

fn accuracy(model: &SequenceClassifier<B>, b: &Batch) -> f64 {
    let predicted = model.predict(model.forward(b.ids.clone(), Some(&b.lengths)));
    let labels = b
        .labels
        .clone()
        .into_data()
        .convert::<i64>()
        .to_vec::<i64>()
        .unwrap();
    let right = predicted
        .iter()
        .zip(&labels)
        .filter(|(p, l)| **p as i64 == **l)
        .count();
    right as f64 / labels.len() as f64
}

/// Test accuracy after training.
pub fn run(s: &Settings) -> f64 {
    let device = Default::default();
    let vocab = vocab();
    let mut rng = StdRng::seed_from_u64(3);
    let reviews: Vec<_> = (0..s.train).map(|_| review(&mut rng)).collect();
    let batches: Vec<Batch> = reviews.chunks(32).map(|r| batch(r, &vocab)).collect();
    let test_reviews: Vec<_> = (0..500).map(|_| review(&mut rng)).collect();
    let test = batch(&test_reviews, &vocab);
    B::seed(&device, 0);
    let model = SequenceClassifierConfig::new(
        vocab.len(),
        16,
        RecurrentConfig::new(CellKind::Rnn, 16, 32),
        Classes::Binary,
    )
    .init::<B>(&device);
    println!("{}", model.summary(10));
    let config = FitConfig::new()
        .with_epochs(s.epochs)
        .with_learning_rate(1e-2)
        .with_report_every(2);
    let (model, _) = fit(
        model,
        &config,
        &batches,
        |m, b| m.loss(m.forward(b.ids.clone(), Some(&b.lengths)), b.labels.clone()),
        |m| accuracy(m, &test),
        "accuracy",
    );
    let acc = accuracy(&model, &test);
    println!();
    let predicted = model.predict(model.forward(test.ids.clone(), Some(&test.lengths)));
    for (text, p) in test.texts.iter().zip(&predicted).take(6) {
        let label = if *p == 1 { "positive" } else { "negative" };
        println!("  {label}  \"{text}\"");
    }
    println!(
        "test accuracy {:.1}% on {} reviews (chance: 50%)",
        acc * 100.0,
        test.lengths.len()
    );
    acc
}

#[allow(dead_code)]
fn main() {
    run(&Settings::default());
}
