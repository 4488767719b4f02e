//! The tutorials' one-sentence character model. Part one, many-to-one: windows of 3 characters
//! predict the next; greedy generation from "This is G". Three characters are not always enough
//! ("eks" is followed by "f" once and by " " once), which the generated text shows. Part two,
//! one-to-many: a per-step tagger reads everything generated so far and writes the whole
//! sentence from the single input "T".
//!
//! cargo run --release --features examples --example tiny_text

use burn::backend::{Autodiff, NdArray};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use burn_rnn::model::{Classes, SequenceClassifierConfig, SequenceTagger, SequenceTaggerConfig};
use burn_rnn::training::{FitConfig, fit};
use burn_rnn::{CellKind, RecurrentConfig};

type B = Autodiff<NdArray>;

/// The tutorial's sentence.
pub const TEXT: &str = "This is GeeksforGeeks a software training institute";
const WINDOW: usize = 3;

/// How long to train.
pub struct Settings {
    /// Epochs (one batch each).
    pub epochs: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self { epochs: 300 }
    }
}

/// What each model generated.
pub struct Outcome {
    /// Greedy generation of the window model from "This is G".
    pub windows: String,
    /// Generation of the tagger from "T".
    pub tagger: String,
}

fn one_hot(ids: &[usize], vocab: usize) -> Tensor<B, 3> {
    let mut x = vec![0f32; ids.len() * vocab];
    for (t, &id) in ids.iter().enumerate() {
        x[t * vocab + id] = 1.0;
    }
    Tensor::from_data(
        TensorData::new(x, [1, ids.len(), vocab]),
        &Default::default(),
    )
}

fn argmax(values: &[f32]) -> usize {
    (0..values.len())
        .max_by(|&a, &b| values[a].total_cmp(&values[b]))
        .unwrap()
}

/// Trains both models and prints what they generate.
pub fn run(s: &Settings) -> Outcome {
    let device = Default::default();
    let chars: Vec<char> = {
        let mut c: Vec<char> = TEXT.chars().collect();
        c.sort();
        c.dedup();
        c
    };
    let id = |c: char| chars.iter().position(|&x| x == c).unwrap();
    let ids: Vec<usize> = TEXT.chars().map(id).collect();
    let v = chars.len();
    let config = FitConfig::new()
        .with_epochs(s.epochs)
        .with_learning_rate(1e-2)
        .with_report_every(s.epochs / 3);

    println!("== many-to-one: {WINDOW} characters -> the next ==");
    let n = ids.len() - WINDOW;
    let windows: Vec<i64> = (0..n)
        .flat_map(|i| ids[i..i + WINDOW].iter().map(|&x| x as i64))
        .collect();
    let targets: Vec<i64> = (0..n).map(|i| ids[i + WINDOW] as i64).collect();
    let batch = (
        Tensor::<B, 2, Int>::from_data(TensorData::new(windows, [n, WINDOW]), &device),
        Tensor::<B, 1, Int>::from_data(TensorData::new(targets, [n]), &device),
    );
    B::seed(&device, 0);
    let model = SequenceClassifierConfig::new(
        v,
        8,
        RecurrentConfig::new(CellKind::Rnn, 8, 32),
        Classes::Multi(v),
    )
    .init::<B>(&device);
    println!("{}", model.summary(WINDOW));
    let (model, _) = fit(
        model,
        &config,
        std::slice::from_ref(&batch),
        |m, (x, y)| m.loss(m.forward(x.clone(), None), y.clone()),
        |m| {
            m.loss(m.forward(batch.0.clone(), None), batch.1.clone())
                .into_scalar() as f64
        },
        "loss",
    );
    let mut text: Vec<usize> = "This is G".chars().map(id).collect();
    while text.len() < ids.len() {
        let last: Vec<i64> = text[text.len() - WINDOW..]
            .iter()
            .map(|&x| x as i64)
            .collect();
        let x = Tensor::<B, 2, Int>::from_data(TensorData::new(last, [1, WINDOW]), &device);
        text.push(model.predict(model.forward(x, None))[0]);
    }
    let windows: String = text.iter().map(|&i| chars[i]).collect();
    println!("generated from \"This is G\": {windows:?}");

    println!();
    println!("== one-to-many: a tagger writes the sentence from \"T\" ==");
    B::seed(&device, 0);
    let tagger: SequenceTagger<B> =
        SequenceTaggerConfig::new(RecurrentConfig::new(CellKind::Lstm, v, 64), v).init(&device);
    println!("{}", tagger.summary(ids.len() - 1));
    let x = one_hot(&ids[..ids.len() - 1], v);
    let next: Vec<i64> = ids[1..].iter().map(|&x| x as i64).collect();
    let y = Tensor::<B, 2, Int>::from_data(TensorData::new(next, [1, ids.len() - 1]), &device);
    let (tagger, _) = fit(
        tagger,
        &config,
        &[(x, y)],
        |m, (x, y)| m.loss(m.forward(x.clone()), y.clone()),
        |_| f64::NAN,
        "-",
    );
    let mut text = vec![id('T')];
    while text.len() < ids.len() {
        let logits = tagger.forward(one_hot(&text, v));
        let last = logits
            .narrow(1, text.len() - 1, 1)
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        text.push(argmax(&last));
    }
    let tagged: String = text.iter().map(|&i| chars[i]).collect();
    println!("generated from \"T\": {tagged:?}");
    Outcome {
        windows,
        tagger: tagged,
    }
}

#[allow(dead_code)]
fn main() {
    run(&Settings::default());
}
