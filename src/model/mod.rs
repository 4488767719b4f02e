//! Task models built from recurrent layers plus a head, their summaries, and a small training
//! helper for them.

mod char_lm;
mod fit;
mod summary;
mod task;

pub use char_lm::{CharLm, CharLmConfig};
pub use fit::{FitConfig, History, fit};
pub use summary::{Summary, SummaryRow, param_count};
pub use task::{
    Classes, SequenceClassifier, SequenceClassifierConfig, SequenceRegressor,
    SequenceRegressorConfig, SequenceTagger, SequenceTaggerConfig,
};
