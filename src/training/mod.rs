//! Training utilities for any model of the crate: global-norm clipping, a check that the
//! weights are finite, and [`fit`], the small Keras-style loop the examples use. No run folders
//! and no CLI: the char-rnn application (`crate::train`) builds on these.

mod clip;
mod fit;

pub use clip::{clip_gradients, weights_finite};
pub use fit::{FitConfig, History, fit};
