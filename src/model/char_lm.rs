//! The character-level language model: Embedding → recurrent layers → dropout → Linear head,
//! cross-entropy at every position (karpathy's char-rnn).

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::tensor::{Int, Tensor, TensorData, backend::Backend};

use crate::layer::{Recurrent, RecurrentConfig, RecurrentState};
use crate::model::task::head;
use crate::ops::dropout::dropout;

/// Configuration of a [`CharLm`].
#[derive(Config, Debug)]
pub struct CharLmConfig {
    /// Number of characters `V`.
    pub vocab_size: usize,
    /// Size `E` of the character embedding.
    pub embedding_size: usize,
    /// The recurrent layers; `input_size` must equal `embedding_size` and `bidirectional` must be
    /// false (a language model reads left to right).
    pub recurrent: RecurrentConfig,
    /// Dropout on the recurrent outputs before the head (training only).
    #[config(default = 0.0)]
    pub dropout: f64,
}

impl CharLmConfig {
    /// Creates the model on `device`.
    ///
    /// # Panics
    /// If the recurrent config does not read `embedding_size` features or is bidirectional.
    pub fn init<B: Backend>(&self, device: &B::Device) -> CharLm<B> {
        assert_eq!(
            self.recurrent.input_size, self.embedding_size,
            "the recurrent layers read the embedding"
        );
        assert!(
            !self.recurrent.bidirectional,
            "a language model reads left to right"
        );
        let rnn = self.recurrent.init(device);
        CharLm {
            embedding: EmbeddingConfig::new(self.vocab_size, self.embedding_size).init(device),
            head: LinearConfig::new(rnn.output_size(), self.vocab_size).init(device),
            rnn,
            dropout: DropoutConfig::new(self.dropout).init(),
        }
    }
}

/// A character-level language model.
#[derive(Module, Debug)]
pub struct CharLm<B: Backend> {
    /// Character embedding, `[V, E]`.
    pub embedding: Embedding<B>,
    /// The recurrent layers.
    pub rnn: Recurrent<B>,
    /// Dropout before the head.
    pub dropout: Dropout,
    /// Output head `y_t = W_hy h_t + b_y`, `[H] → [V]`.
    pub head: Linear<B>,
}

impl<B: Backend> CharLm<B> {
    /// Logits for every position.
    ///
    /// # Shapes
    /// - `ids`: `[B, T]` character ids
    /// - `state`: `[B, H]` cells per layer (zeros when `None`)
    /// - returns logits `[B, T, V]` and the state after the last step
    pub fn forward(
        &self,
        ids: Tensor<B, 2, Int>,
        state: Option<RecurrentState<B>>,
    ) -> (Tensor<B, 3>, RecurrentState<B>) {
        // The embedding lookup and the first layer's input projection in one: the projection of
        // each of the V embedding rows, gathered by id (Recurrent::forward_lookup).
        let (h, state) = self
            .rnn
            .forward_lookup(self.embedding.weight.val(), ids, state);
        (head(&self.head, dropout(h, self.dropout.prob)), state)
    }

    /// Mean cross-entropy (nats per character) of `logits` against `targets`.
    ///
    /// # Shapes
    /// - `logits`: `[B, T, V]`, `targets`: `[B, T]`; returns `[1]`
    pub fn loss(&self, logits: Tensor<B, 3>, targets: Tensor<B, 2, Int>) -> Tensor<B, 1> {
        crate::ops::cross_entropy::cross_entropy(logits, targets)
    }

    /// One step of generation: logits for the next character.
    ///
    /// # Shapes
    /// - `ids`: `[B]` the current characters
    /// - returns logits `[B, V]` and the new state
    pub fn step(
        &self,
        ids: Tensor<B, 1, Int>,
        state: Option<RecurrentState<B>>,
    ) -> (Tensor<B, 2>, RecurrentState<B>) {
        let x = self.embedding.forward(ids.unsqueeze_dim(1)).squeeze_dim(1);
        let (h, state) = self.rnn.step(x, state);
        (head(&self.head, dropout(h, self.dropout.prob)), state)
    }
}

/// Character ids (row-major `[batch * seq]`, as the batchers of [`crate::data`] give them) as
/// the Int tensor [`CharLm::forward`] reads.
///
/// # Shapes
/// - returns `[batch, seq]`
pub fn ids_tensor<B: Backend>(
    ids: &[i64],
    batch: usize,
    seq: usize,
    device: &B::Device,
) -> Tensor<B, 2, Int> {
    Tensor::from_data(TensorData::new(ids.to_vec(), [batch, seq]), device)
}
