//! Data: corpus → vocabulary → ids → train/validation split → batches.
//!
//! Knows no tensors of the model: batches are plain `[batch, seq]` id arrays that the training
//! loop turns into tensors.

mod batcher;
mod corpus;

pub use batcher::{Batch, Batching, ContiguousBatcher, random_batch};
pub use corpus::{Corpus, CorpusError, Vocab, read_text};
