//! Models built from recurrent layers plus a head: the char-rnn language model, the forecaster
//! and the task models of the tutorials, with their Keras-style summaries. [`crate::training::fit`] trains
//! the task models.

mod char_lm;
mod forecaster;
mod summary;
mod task;

pub use char_lm::{CharLm, CharLmConfig, ids_tensor};
pub use forecaster::{Decoder, ForecastLoss, Forecaster, ForecasterConfig, pinball_loss};
pub use summary::{Summary, SummaryRow, param_count};
pub use task::{
    Classes, SequenceClassifier, SequenceClassifierConfig, SequenceRegressor,
    SequenceRegressorConfig, SequenceTagger, SequenceTaggerConfig,
};
