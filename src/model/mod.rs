//! Task models built from recurrent layers plus a head.

mod char_lm;

pub use char_lm::{CharLm, CharLmConfig};
