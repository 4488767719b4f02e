//! The run config's ranges and contradictions: every key checked, every error naming the key.

use super::{ConfigError, RunConfig, Schedule, invalid};
use crate::cell::{Activation, CellKind};

/// The largest `model.embedding_size` and `model.hidden_size`.
pub const MAX_WIDTH: usize = 1 << 16;
/// The most stacked layers.
pub const MAX_LAYERS: usize = 256;
/// The largest `data.seq_len` and `data.batch_size`.
pub const MAX_SEQ_OR_BATCH: usize = 1 << 20;
/// The most characters in one batch (`batch_size x seq_len`).
pub const MAX_BATCH_TOKENS: usize = 1 << 26;
/// The longest sample written at an evaluation.
pub const MAX_SAMPLE_LENGTH: usize = 1 << 24;

impl RunConfig {
    /// Checks ranges and contradictions, naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.task != super::Task::Char {
            return Err(invalid(
                "task",
                "this is a forecast config; the character model's commands need task = \"char\" (or no task)",
            ));
        }
        self.check_finite()?;
        self.check_sizes()?;
        self.check_fractions()?;
        self.check_optim()?;
        self.check_length()?;
        self.check_cell_and_backend()
    }

    /// Every float key: NaN and infinity are never a setting (NaN compares false with every
    /// bound, so the range checks after this one would let it through).
    fn check_finite(&self) -> Result<(), ConfigError> {
        let m = &self.model;
        for (key, value) in [
            ("model.dropout", Some(m.dropout)),
            ("model.forget_bias", m.forget_bias),
            (
                "data.validation_fraction",
                Some(self.data.validation_fraction),
            ),
            ("optim.learning_rate", Some(self.optim.learning_rate)),
            ("optim.weight_decay", Some(self.optim.weight_decay)),
            ("optim.decay_rate", Some(self.optim.decay_rate)),
            ("optim.min_lr", Some(self.optim.min_lr)),
            ("clip.max_norm", Some(self.clip.max_norm)),
            ("clip.max_value", Some(self.clip.max_value)),
            ("train.epochs", self.train.epochs),
            (
                "train.sample_temperature",
                Some(self.train.sample_temperature),
            ),
        ] {
            if let Some(v) = value
                && !v.is_finite()
            {
                return Err(invalid(key, format!("must be a finite number, found {v}")));
            }
        }
        Ok(())
    }

    /// Sizes: at least 1 and at most their limits.
    fn check_sizes(&self) -> Result<(), ConfigError> {
        let m = &self.model;
        for (key, value, max) in [
            ("model.embedding_size", m.embedding_size, MAX_WIDTH),
            ("model.hidden_size", m.hidden_size, MAX_WIDTH),
            ("model.num_layers", m.num_layers, MAX_LAYERS),
            ("data.seq_len", self.data.seq_len, MAX_SEQ_OR_BATCH),
            ("data.batch_size", self.data.batch_size, MAX_SEQ_OR_BATCH),
            ("train.eval_interval", self.train.eval_interval, usize::MAX),
            ("train.log_interval", self.train.log_interval, usize::MAX),
            (
                "train.sample_length",
                self.train.sample_length.max(1),
                MAX_SAMPLE_LENGTH,
            ),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1, found 0"));
            }
            if value > max {
                return Err(invalid(
                    key,
                    format!("must be at most {max}, found {value}"),
                ));
            }
        }
        let (batch, seq) = (self.data.batch_size, self.data.seq_len);
        if batch.saturating_mul(seq) > MAX_BATCH_TOKENS {
            return Err(invalid(
                "data.batch_size",
                format!(
                    "data.batch_size x data.seq_len = {batch} x {seq} characters per batch, more than {MAX_BATCH_TOKENS}"
                ),
            ));
        }
        Ok(())
    }

    /// Dropout and the validation fraction.
    fn check_fractions(&self) -> Result<(), ConfigError> {
        let m = &self.model;
        if !(0.0..1.0).contains(&m.dropout) {
            return Err(invalid(
                "model.dropout",
                format!("must be in [0, 1), found {}", m.dropout),
            ));
        }
        let f = self.data.validation_fraction;
        if !(f > 0.0 && f < 1.0) {
            return Err(invalid(
                "data.validation_fraction",
                format!("must be in (0, 1), found {f}"),
            ));
        }
        Ok(())
    }

    /// The optimiser, its schedule and clipping.
    fn check_optim(&self) -> Result<(), ConfigError> {
        let o = &self.optim;
        if !(o.learning_rate > 0.0 && o.learning_rate.is_finite()) {
            return Err(invalid(
                "optim.learning_rate",
                format!("must be positive, found {}", o.learning_rate),
            ));
        }
        if o.weight_decay < 0.0 {
            return Err(invalid(
                "optim.weight_decay",
                format!("must be at least 0, found {}", o.weight_decay),
            ));
        }
        if matches!(o.schedule, Schedule::Step | Schedule::Exponential) {
            if !(o.decay_rate > 0.0 && o.decay_rate <= 1.0) {
                return Err(invalid(
                    "optim.decay_rate",
                    format!("must be in (0, 1], found {}", o.decay_rate),
                ));
            }
            if o.decay_steps == 0 {
                return Err(invalid("optim.decay_steps", "must be at least 1, found 0"));
            }
        }
        if o.schedule == Schedule::Cosine && !(0.0..=o.learning_rate).contains(&o.min_lr) {
            return Err(invalid(
                "optim.min_lr",
                format!(
                    "must be in [0, learning_rate = {}], found {}",
                    o.learning_rate, o.min_lr
                ),
            ));
        }
        if self.clip.max_norm < 0.0 || self.clip.max_value < 0.0 {
            return Err(invalid(
                if self.clip.max_norm < 0.0 {
                    "clip.max_norm"
                } else {
                    "clip.max_value"
                },
                "must be at least 0 (0 disables)",
            ));
        }
        Ok(())
    }

    /// The training length, checkpoints and samples.
    fn check_length(&self) -> Result<(), ConfigError> {
        match (self.train.steps, self.train.epochs) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "train.steps",
                    "give either train.steps or train.epochs, not both",
                ));
            }
            (_, Some(_)) if self.train.time_budget.is_some() => {
                return Err(invalid(
                    "train.time_budget",
                    "give either train.epochs or train.time_budget, not both",
                ));
            }
            (None, None) if self.train.time_budget.is_none() => {
                return Err(invalid(
                    "train.steps",
                    "give train.steps, train.epochs or train.time_budget",
                ));
            }
            (Some(0), _) => return Err(invalid("train.steps", "must be at least 1, found 0")),
            (_, Some(e)) if e.is_nan() || e <= 0.0 => {
                return Err(invalid(
                    "train.epochs",
                    format!("must be positive, found {e}"),
                ));
            }
            _ => {}
        }
        if self.train.checkpoint_interval == Some(0) {
            return Err(invalid(
                "train.checkpoint_interval",
                "must be at least 1, found 0",
            ));
        }
        if self.train.sample_temperature.is_nan() || self.train.sample_temperature <= 0.0 {
            return Err(invalid(
                "train.sample_temperature",
                format!("must be above 0, found {}", self.train.sample_temperature),
            ));
        }
        Ok(())
    }

    /// Keys that apply to one cell only, and the devices.
    fn check_cell_and_backend(&self) -> Result<(), ConfigError> {
        let m = &self.model;
        if m.cell != CellKind::Rnn && m.activation != Activation::Tanh {
            return Err(invalid(
                "model.activation",
                format!("applies to cell = \"rnn\" only, the cell is \"{}\"", m.cell),
            ));
        }
        if let Some(devices) = &self.backend.devices {
            if devices.is_empty() {
                return Err(invalid(
                    "backend.devices",
                    "must list at least one device, found []",
                ));
            }
            if devices.len() > self.data.batch_size {
                return Err(invalid(
                    "backend.devices",
                    format!(
                        "{} devices, but data.batch_size = {} gives each fewer than one row",
                        devices.len(),
                        self.data.batch_size
                    ),
                ));
            }
        }
        if m.forget_bias.is_some() && m.cell != CellKind::Lstm {
            return Err(invalid(
                "model.forget_bias",
                format!(
                    "applies to cell = \"lstm\" only, the cell is \"{}\"",
                    m.cell
                ),
            ));
        }
        Ok(())
    }
}
