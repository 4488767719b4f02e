//! Task models for the three ways to use a recurrent network, each a Burn module generic over the
//! backend with a `#[derive(Config)]` twin:
//!
//! - [`SequenceRegressor`], many-to-one: `[B, T, I]` → `[B, O]` from the last step, MSE;
//! - [`SequenceClassifier`], many-to-one over token ids: `[B, T]` → `[B, C]` logits from the last
//!   *real* step of each sequence (padded batches give the same answer as unpadded ones), binary
//!   (one logit, sigmoid / binary cross-entropy) or multi-class (softmax / cross-entropy);
//! - [`SequenceTagger`], many-to-many: `[B, T, I]` → `[B, T, C]` logits at every step.
//!
//! One-to-many is generation: feed one input, then feed each prediction back (see the
//! `tiny_text` example and [`crate::sample`]).

use burn::config::Config;
use burn::module::Module;
use burn::nn::loss::{BinaryCrossEntropyLossConfig, CrossEntropyLossConfig, MseLoss, Reduction};
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::tensor::{Int, Tensor, TensorData, backend::Backend};

use crate::layer::{Recurrent, RecurrentConfig};
use crate::model::summary::{Summary, param_count};

/// A linear head over the last dimension, `[..., H]` → `[..., O]`, through the crate's linear op
/// (one host operation on the ndarray autodiff backends).
pub(crate) fn head<B: Backend, const D: usize>(
    linear: &Linear<B>,
    h: Tensor<B, D>,
) -> Tensor<B, D> {
    let bias = linear.bias.as_ref().map(|b| b.val());
    crate::ops::linear::linear(h, linear.weight.val(), bias)
}

/// The output of the last step, `[B, T, H]` → `[B, H]`.
fn last_step<B: Backend>(h: Tensor<B, 3>) -> Tensor<B, 2> {
    let [b, t, hidden] = h.dims();
    h.narrow(1, t - 1, 1).reshape([b, hidden])
}

/// Configuration of a [`SequenceRegressor`].
#[derive(Config, Debug)]
pub struct SequenceRegressorConfig {
    /// The recurrent layers (`input_size` is the number of features per step).
    pub recurrent: RecurrentConfig,
    /// Number of regression targets `O`.
    #[config(default = 1)]
    pub output_size: usize,
}

impl SequenceRegressorConfig {
    /// Creates the model on `device`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> SequenceRegressor<B> {
        let rnn = self.recurrent.init(device);
        SequenceRegressor {
            head: LinearConfig::new(rnn.output_size(), self.output_size).init(device),
            rnn,
        }
    }
}

/// Many-to-one regression: recurrent layers, then a linear head on the last step.
#[derive(Module, Debug)]
pub struct SequenceRegressor<B: Backend> {
    /// The recurrent layers.
    pub rnn: Recurrent<B>,
    /// `[H] → [O]`.
    pub head: Linear<B>,
}

impl<B: Backend> SequenceRegressor<B> {
    /// Predictions.
    ///
    /// # Shapes
    /// - `x`: `[B, T, I]`; returns `[B, O]`
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 2> {
        let (h, _) = self.rnn.forward(x, None);
        head(&self.head, last_step(h))
    }

    /// Mean squared error.
    ///
    /// # Shapes
    /// - `prediction`, `target`: `[B, O]`; returns `[1]`
    pub fn loss(&self, prediction: Tensor<B, 2>, target: Tensor<B, 2>) -> Tensor<B, 1> {
        MseLoss::new().forward(prediction, target, Reduction::Mean)
    }

    /// A Keras-style summary for inputs of `seq` steps.
    pub fn summary(&self, seq: usize) -> Summary {
        let h = self.rnn.output_size();
        let mut s = Summary::new("SequenceRegressor");
        s.layer(
            format!("Recurrent ({})", self.rnn.describe()),
            format!("[B, {seq}, {h}]"),
            param_count(&self.rnn),
        );
        s.layer("last step", format!("[B, {h}]"), 0);
        s.layer(
            "Linear",
            format!("[B, {}]", self.head.weight.dims()[1]),
            param_count(&self.head),
        );
        s
    }
}

/// Binary (one logit) or multi-class classification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Classes {
    /// Two classes: one logit, sigmoid and binary cross-entropy.
    Binary,
    /// `n` classes: `n` logits, softmax and cross-entropy.
    Multi(usize),
}

impl Classes {
    fn logits(self) -> usize {
        match self {
            Classes::Binary => 1,
            Classes::Multi(n) => n,
        }
    }
}

/// Configuration of a [`SequenceClassifier`].
#[derive(Config, Debug)]
pub struct SequenceClassifierConfig {
    /// Number of distinct token ids `V` (id 0 may serve as padding).
    pub vocab_size: usize,
    /// Size `E` of the token embedding.
    pub embedding_size: usize,
    /// The recurrent layers; `input_size` must equal `embedding_size` and `bidirectional` must
    /// be false (the last real step must have read the whole sequence).
    pub recurrent: RecurrentConfig,
    /// Binary or multi-class.
    pub classes: Classes,
}

impl SequenceClassifierConfig {
    /// Creates the model on `device`.
    ///
    /// # Panics
    /// If the recurrent layers do not read `embedding_size` features or are bidirectional.
    pub fn init<B: Backend>(&self, device: &B::Device) -> SequenceClassifier<B> {
        assert_eq!(self.recurrent.input_size, self.embedding_size);
        assert!(
            !self.recurrent.bidirectional,
            "the classifier reads left to right"
        );
        let rnn = self.recurrent.init(device);
        SequenceClassifier {
            embedding: EmbeddingConfig::new(self.vocab_size, self.embedding_size).init(device),
            head: LinearConfig::new(rnn.output_size(), self.classes.logits()).init(device),
            rnn,
            binary: self.classes == Classes::Binary,
        }
    }
}

/// Many-to-one classification of token sequences: embedding, recurrent layers, a linear head on
/// the last real step of each sequence.
#[derive(Module, Debug)]
pub struct SequenceClassifier<B: Backend> {
    /// `[V, E]`.
    pub embedding: Embedding<B>,
    /// The recurrent layers.
    pub rnn: Recurrent<B>,
    /// `[H] → [C]` (`C = 1` for binary).
    pub head: Linear<B>,
    /// One logit with sigmoid, or softmax over `C`.
    pub binary: bool,
}

impl<B: Backend> SequenceClassifier<B> {
    /// Logits from the last real step of each sequence.
    ///
    /// # Shapes
    /// - `ids`: `[B, T]` token ids, each row padded after its `lengths[b]` real tokens (any id)
    /// - `lengths`: `B` values in `1..=T`, or `None` when every row is `T` long
    /// - returns `[B, C]` logits (`C = 1` for binary)
    ///
    /// # Panics
    /// If a length is 0 or longer than `T`, or there are not `B` lengths.
    pub fn forward(&self, ids: Tensor<B, 2, Int>, lengths: Option<&[usize]>) -> Tensor<B, 2> {
        let [batch, seq] = ids.dims();
        let (h, _) = self.rnn.forward(self.embedding.forward(ids), None);
        let last = match lengths {
            None => last_step(h),
            Some(lengths) => {
                assert_eq!(lengths.len(), batch, "one length per sequence");
                assert!(
                    lengths.iter().all(|&l| (1..=seq).contains(&l)),
                    "lengths must lie in 1..={seq}: {lengths:?}"
                );
                let hidden = self.rnn.output_size();
                // Gather h[b, lengths[b] - 1, :]: padding after a sequence cannot reach it.
                let index: Vec<i64> = lengths
                    .iter()
                    .flat_map(|&l| std::iter::repeat_n(l as i64 - 1, hidden))
                    .collect();
                let index = Tensor::<B, 3, Int>::from_data(
                    TensorData::new(index, [batch, 1, hidden]),
                    &h.device(),
                );
                h.gather(1, index).reshape([batch, hidden])
            }
        };
        head(&self.head, last)
    }

    /// Binary cross-entropy on the sigmoid of the logit (binary) or cross-entropy on the softmax
    /// (multi-class).
    ///
    /// # Shapes
    /// - `logits`: `[B, C]`, `targets`: `[B]` class ids (0 or 1 for binary); returns `[1]`
    pub fn loss(&self, logits: Tensor<B, 2>, targets: Tensor<B, 1, Int>) -> Tensor<B, 1> {
        if self.binary {
            let [b, _] = logits.dims();
            BinaryCrossEntropyLossConfig::new()
                .with_logits(true)
                .init(&logits.device())
                .forward(logits.reshape([b]), targets)
        } else {
            CrossEntropyLossConfig::new()
                .init(&logits.device())
                .forward(logits, targets)
        }
    }

    /// The predicted class of each sequence.
    ///
    /// # Shapes
    /// - `logits`: `[B, C]`; returns `B` class ids
    pub fn predict(&self, logits: Tensor<B, 2>) -> Vec<usize> {
        let [b, c] = logits.dims();
        let values = logits
            .into_data()
            .convert::<f32>()
            .to_vec::<f32>()
            .expect("f32 logits");
        (0..b)
            .map(|i| {
                let row = &values[i * c..(i + 1) * c];
                if self.binary {
                    usize::from(row[0] > 0.0)
                } else {
                    (0..c)
                        .max_by(|&x, &y| row[x].total_cmp(&row[y]))
                        .expect("a class")
                }
            })
            .collect()
    }

    /// A Keras-style summary for inputs of `seq` steps.
    pub fn summary(&self, seq: usize) -> Summary {
        let [_, e] = self.embedding.weight.dims();
        let h = self.rnn.output_size();
        let mut s = Summary::new("SequenceClassifier");
        s.layer(
            "Embedding",
            format!("[B, {seq}, {e}]"),
            param_count(&self.embedding),
        );
        s.layer(
            format!("Recurrent ({})", self.rnn.describe()),
            format!("[B, {seq}, {h}]"),
            param_count(&self.rnn),
        );
        s.layer("last real step", format!("[B, {h}]"), 0);
        let c = self.head.weight.dims()[1];
        let activation = if self.binary { "sigmoid" } else { "softmax" };
        s.layer(
            format!("Linear + {activation}"),
            format!("[B, {c}]"),
            param_count(&self.head),
        );
        s
    }
}

/// Configuration of a [`SequenceTagger`].
#[derive(Config, Debug)]
pub struct SequenceTaggerConfig {
    /// The recurrent layers.
    pub recurrent: RecurrentConfig,
    /// Number of tags `C`.
    pub num_tags: usize,
}

impl SequenceTaggerConfig {
    /// Creates the model on `device`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> SequenceTagger<B> {
        let rnn = self.recurrent.init(device);
        SequenceTagger {
            head: LinearConfig::new(rnn.output_size(), self.num_tags).init(device),
            rnn,
        }
    }
}

/// Many-to-many: a tag (class) at every step.
#[derive(Module, Debug)]
pub struct SequenceTagger<B: Backend> {
    /// The recurrent layers.
    pub rnn: Recurrent<B>,
    /// `[H] → [C]` at every step.
    pub head: Linear<B>,
}

impl<B: Backend> SequenceTagger<B> {
    /// Logits at every step.
    ///
    /// # Shapes
    /// - `x`: `[B, T, I]`; returns `[B, T, C]`
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let (h, _) = self.rnn.forward(x, None);
        head(&self.head, h)
    }

    /// Mean cross-entropy over every step.
    ///
    /// # Shapes
    /// - `logits`: `[B, T, C]`, `tags`: `[B, T]`; returns `[1]`
    pub fn loss(&self, logits: Tensor<B, 3>, tags: Tensor<B, 2, Int>) -> Tensor<B, 1> {
        let [b, t, c] = logits.dims();
        CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(logits.reshape([b * t, c]), tags.reshape([b * t]))
    }

    /// A Keras-style summary for inputs of `seq` steps.
    pub fn summary(&self, seq: usize) -> Summary {
        let h = self.rnn.output_size();
        let mut s = Summary::new("SequenceTagger");
        s.layer(
            format!("Recurrent ({})", self.rnn.describe()),
            format!("[B, {seq}, {h}]"),
            param_count(&self.rnn),
        );
        s.layer(
            "Linear (every step)",
            format!("[B, {seq}, {}]", self.head.weight.dims()[1]),
            param_count(&self.head),
        );
        s
    }
}
