//! The run config: TOML file → `key=value` overrides → typed, validated [`RunConfig`].
//!
//! Three layers, as in nanoGPT: defaults (in the types below), a file that holds what differs,
//! and `--set section.key=value` overrides. Unknown keys and invalid values are errors that name
//! the key. The effective config is written with the run.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cell::{Activation, CellKind, InitScheme, Initialization};
use crate::data::Batching;
use crate::layer::RecurrentConfig;
use crate::model::CharLmConfig;

mod backend;
mod duration;
mod memory;
mod overrides;
mod schedule;
mod validate;

pub use backend::{BackendKind, BackendNotBuilt, BackendSection};
pub use duration::TimeBudget;
pub use memory::total_memory;
pub use overrides::parse_with_overrides;
pub use schedule::Schedule;
pub use validate::{MAX_BATCH_TOKENS, MAX_LAYERS, MAX_SAMPLE_LENGTH, MAX_SEQ_OR_BATCH, MAX_WIDTH};

/// A config that could not be read, parsed or validated.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Io {
        /// The config file.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// TOML syntax error, unknown key or wrong type (the message gives line and column).
    #[error("config {path}: {message}")]
    Parse {
        /// The config file (or `--set`).
        path: String,
        /// What the parser said.
        message: String,
    },
    /// A `--set` argument that is not `section.key=value`.
    #[error("--set {arg}: {message}")]
    Override {
        /// The argument.
        arg: String,
        /// What is wrong.
        message: String,
    },
    /// A value outside its range, or contradictory settings.
    #[error("config key `{key}`: {message}")]
    Invalid {
        /// The key, `section.key`.
        key: String,
        /// What was expected and what was found.
        message: String,
    },
}

pub(super) fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        message: message.into(),
    }
}

/// What a run config trains: `task = "char"` (the default) or `task = "forecast"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// A character-level language model ([`RunConfig`]).
    #[default]
    Char,
    /// A forecaster of a time series ([`crate::app::forecast::ForecastConfig`]).
    Forecast,
}

impl Task {
    /// Whether this is the default task (left out when a config is written).
    pub fn is_char(&self) -> bool {
        *self == Task::Char
    }

    /// The `task` key of a config file, read before the file is parsed as that task's config.
    pub fn of_file(path: &Path) -> Result<Task, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let table: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.display().to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        match table.get("task") {
            None => Ok(Task::Char),
            Some(v) => v.clone().try_into().map_err(|_| ConfigError::Invalid {
                key: "task".into(),
                message: format!("expected \"char\" or \"forecast\", found {v}"),
            }),
        }
    }
}

/// The whole run: model, data, optimiser, clipping, training length, backend.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// `char` (the only task this config describes; a forecast has its own config).
    #[serde(default, skip_serializing_if = "Task::is_char")]
    pub task: Task,
    /// Seed of the weights, the batches, dropout and the samples.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// The model.
    pub model: ModelSection,
    /// The corpus and batches.
    pub data: DataSection,
    /// The optimiser and learning-rate schedule.
    #[serde(default)]
    pub optim: OptimSection,
    /// Gradient clipping.
    #[serde(default)]
    pub clip: ClipSection,
    /// Training length, evaluation, checkpoints, samples.
    pub train: TrainSection,
    /// Backend and device.
    #[serde(default)]
    pub backend: BackendSection,
}

fn default_seed() -> u64 {
    42
}

/// `[model]`: Embedding → recurrent layers → dropout → Linear head.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// `rnn`, `lstm` or `gru`.
    pub cell: CellKind,
    /// `tanh` or `relu` (vanilla RNN only).
    #[serde(default)]
    pub activation: Activation,
    /// Size of the character embedding.
    pub embedding_size: usize,
    /// Hidden size of every recurrent layer.
    pub hidden_size: usize,
    /// Number of stacked recurrent layers.
    #[serde(default = "one")]
    pub num_layers: usize,
    /// Dropout between recurrent layers and before the head (training only).
    #[serde(default)]
    pub dropout: f64,
    /// `pytorch`, `xavier` or `kaiming`.
    #[serde(default)]
    pub init: InitScheme,
    /// Orthogonal recurrent weights.
    #[serde(default)]
    pub orthogonal_recurrent: bool,
    /// LSTM forget-gate bias (char-rnn and Keras use 1.0); absent keeps the scheme's bias.
    #[serde(default)]
    pub forget_bias: Option<f64>,
}

impl ModelSection {
    /// The library's model config for this section and a vocabulary of `vocab_size` characters;
    /// `fused` runs each recurrent layer as one autodiff operation (`backend.fused`).
    pub fn char_lm(&self, vocab_size: usize, fused: bool) -> CharLmConfig {
        let recurrent = RecurrentConfig::new(self.cell, self.embedding_size, self.hidden_size)
            .with_num_layers(self.num_layers)
            .with_dropout(self.dropout)
            .with_activation(self.activation)
            .with_fused(fused)
            .with_init(
                Initialization::new()
                    .with_scheme(self.init)
                    .with_orthogonal_recurrent(self.orthogonal_recurrent)
                    .with_forget_bias(self.forget_bias),
            );
        CharLmConfig::new(vocab_size, self.embedding_size, recurrent).with_dropout(self.dropout)
    }
}

fn one() -> usize {
    1
}

/// `[data]`: corpus, split and batches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    /// The corpus, relative to the config file.
    pub path: PathBuf,
    /// Fraction at the end of the text used for validation, in (0, 1).
    #[serde(default = "default_validation_fraction")]
    pub validation_fraction: f64,
    /// Characters per training sequence (BPTT length).
    pub seq_len: usize,
    /// Sequences per batch.
    pub batch_size: usize,
    /// `contiguous` (state carries over, char-rnn) or `random` windows.
    #[serde(default)]
    pub batching: Batching,
}

fn default_validation_fraction() -> f64 {
    0.1
}

/// The optimiser.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Adam (L2 weight decay added to the gradient, as `torch.optim.Adam`).
    #[default]
    Adam,
    /// AdamW (decoupled weight decay).
    Adamw,
    /// RMSprop (char-rnn's optimiser).
    Rmsprop,
}

/// `[optim]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimSection {
    /// `adam`, `adamw` or `rmsprop`.
    pub optimizer: OptimizerKind,
    /// Peak learning rate.
    pub learning_rate: f64,
    /// Weight decay (L2 for adam/rmsprop, decoupled for adamw).
    pub weight_decay: f64,
    /// `constant`, `step`, `exponential` or `cosine`.
    pub schedule: Schedule,
    /// Steps of linear warm-up from 0 to `learning_rate`.
    pub warmup_steps: usize,
    /// Decay factor of `step` and `exponential`.
    pub decay_rate: f64,
    /// Steps per decay of `step` and `exponential`.
    pub decay_steps: usize,
    /// Final learning rate of `cosine`.
    pub min_lr: f64,
}

impl Default for OptimSection {
    fn default() -> Self {
        Self {
            optimizer: OptimizerKind::Adam,
            learning_rate: 2e-3,
            weight_decay: 0.0,
            schedule: Schedule::Constant,
            warmup_steps: 0,
            decay_rate: 0.97,
            decay_steps: 1000,
            min_lr: 0.0,
        }
    }
}

/// `[clip]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClipSection {
    /// Clip the global gradient norm to this (PyTorch's `clip_grad_norm_`); 0 disables.
    pub max_norm: f64,
    /// Clamp every gradient value to `[-max_value, max_value]` (char-rnn's `grad_clip`); 0
    /// disables.
    pub max_value: f64,
}

impl Default for ClipSection {
    fn default() -> Self {
        Self {
            max_norm: 5.0,
            max_value: 0.0,
        }
    }
}

/// `[train]`: length, evaluation, checkpoints, samples.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSection {
    /// Optimiser steps; give this, `epochs` or `time_budget`. With `time_budget` also given (as
    /// the run folder's effective config has it once the budget was calibrated), `steps` rules.
    #[serde(default)]
    pub steps: Option<usize>,
    /// Passes over the training split; give this, `steps` or `time_budget`.
    #[serde(default)]
    pub epochs: Option<f64>,
    /// Train for as many steps as fit in this wall time ("90s", "10m", "1h30m"): a short
    /// calibration times the steps and an evaluation, then fixes `steps` (see
    /// `crate::app::train::budget`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_budget: Option<TimeBudget>,
    /// Steps between evaluations (validation loss, sample, checkpoint).
    #[serde(default = "default_eval_interval")]
    pub eval_interval: usize,
    /// Steps between checkpoints; defaults to `eval_interval`.
    #[serde(default)]
    pub checkpoint_interval: Option<usize>,
    /// Validation batches per evaluation; 0 uses the whole validation split.
    #[serde(default)]
    pub eval_batches: usize,
    /// Steps between log lines and progress updates.
    #[serde(default = "default_log_interval")]
    pub log_interval: usize,
    /// Characters of text sampled at each evaluation; 0 disables.
    #[serde(default = "default_sample_length")]
    pub sample_length: usize,
    /// Temperature of those samples.
    #[serde(default = "default_temperature")]
    pub sample_temperature: f64,
}

fn default_eval_interval() -> usize {
    200
}
fn default_log_interval() -> usize {
    10
}
fn default_sample_length() -> usize {
    200
}
fn default_temperature() -> f64 {
    0.8
}

/// `path` made absolute (from the current folder) with its `.` and `name/..` steps dropped
/// lexically (a `..` after a symbolic link leaves the link's name, not its target's parent); as
/// it is where the current folder cannot be read.
pub fn absolute(path: &Path) -> PathBuf {
    use std::path::Component;
    let Ok(full) = std::path::absolute(path) else {
        return path.to_path_buf();
    };
    let mut out = PathBuf::new();
    for part in full.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                // Above the root is the root.
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(part),
            },
            other => out.push(other),
        }
    }
    out
}

impl RunConfig {
    /// Reads `path`, applies `overrides` (`section.key=value`), resolves `data.path` relative to
    /// the config file into an absolute path and validates.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Self::parse(&text, &path.display().to_string(), overrides)?;
        if config.data.path.is_relative() {
            let base = path.parent().unwrap_or(Path::new("."));
            config.data.path = base.join(&config.data.path);
        }
        // Absolute in the run folder's copy: `eval` finds the corpus from any folder.
        config.data.path = absolute(&config.data.path);
        config.validate()?;
        config.check_memory(memory::total_memory())?;
        Ok(config)
    }

    /// The config as TOML, as written into the run folder.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a config serialises")
    }

    /// The devices to train on: `backend.devices`, else `[backend.device]`.
    pub fn device_indices(&self) -> Vec<usize> {
        self.backend
            .devices
            .clone()
            .unwrap_or_else(|| vec![self.backend.device])
    }

    /// Steps between checkpoints.
    pub fn checkpoint_interval(&self) -> usize {
        self.train
            .checkpoint_interval
            .unwrap_or(self.train.eval_interval)
    }

    /// Total optimiser steps, given the number of training batches per epoch; `None` when only
    /// `train.time_budget` gives the length (the steps are then calibrated).
    pub fn total_steps(&self, batches_per_epoch: usize) -> Option<usize> {
        match (self.train.steps, self.train.epochs) {
            (Some(s), _) => Some(s),
            (None, Some(e)) => Some(((e * batches_per_epoch as f64).ceil() as usize).max(1)),
            (None, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[model]
cell = "lstm"
embedding_size = 8
hidden_size = 16
[data]
path = "corpus.txt"
seq_len = 10
batch_size = 4
[train]
steps = 100
"#;

    #[test]
    fn defaults_fill_the_rest() {
        let c = RunConfig::parse(MINIMAL, "t", &[]).unwrap();
        c.validate().unwrap();
        assert_eq!(c.optim.learning_rate, 2e-3);
        assert_eq!(c.clip.max_norm, 5.0);
        assert_eq!(c.data.validation_fraction, 0.1);
        assert_eq!(RunConfig::parse(&c.to_toml(), "t", &[]).unwrap(), c);
    }

    #[test]
    fn paths_are_made_absolute_without_dot_steps() {
        let here = std::env::current_dir().unwrap();
        assert_eq!(
            absolute(Path::new("configs/../data/./x.csv")),
            here.join("data/x.csv")
        );
        assert_eq!(absolute(Path::new("/a/b/../c")), PathBuf::from("/a/c"));
        assert_eq!(absolute(Path::new("/../a")), PathBuf::from("/a"));
        assert_eq!(absolute(Path::new("../../x")).file_name().unwrap(), "x");
    }

    #[test]
    fn unknown_key_is_named_with_line() {
        let text = MINIMAL.replace("hidden_size", "hiden_size");
        let err = RunConfig::parse(&text, "t.toml", &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("hiden_size") && err.contains("line 5"),
            "{err}"
        );
        assert!(err.contains("did you mean `hidden_size`?"), "{err}");
        let far = MINIMAL.replace("hidden_size", "colour");
        let err = RunConfig::parse(&far, "t.toml", &[])
            .unwrap_err()
            .to_string();
        assert!(!err.contains("did you mean"), "{err}");
    }

    #[test]
    fn overrides_are_typed_and_checked() {
        let sets = [
            "model.cell=gru".to_string(),
            "optim.learning_rate=1e-2".to_string(),
        ];
        let c = RunConfig::parse(MINIMAL, "t", &sets).unwrap();
        assert_eq!(c.model.cell, CellKind::Gru);
        assert_eq!(c.optim.learning_rate, 1e-2);
        let err = RunConfig::parse(MINIMAL, "t", &["model.hiden=3".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("hiden"), "{err}");
        let err = RunConfig::parse(MINIMAL, "t", &["model.hidden_size=abc".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("hidden_size"), "{err}");
        let err = RunConfig::parse(MINIMAL, "t", &["nonsense".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("section.key=value"), "{err}");
    }

    #[test]
    fn ranges_name_the_key() {
        for (set, key) in [
            ("model.hidden_size=0", "model.hidden_size"),
            ("optim.learning_rate=-1", "optim.learning_rate"),
            ("model.dropout=1.0", "model.dropout"),
            ("data.validation_fraction=0", "data.validation_fraction"),
            ("train.epochs=2", "train.steps"),
        ] {
            let c = RunConfig::parse(MINIMAL, "t", &[set.to_string()]).unwrap();
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains(key), "{set}: {err}");
        }
    }

    #[test]
    fn time_budgets() {
        for (text, secs, shown) in [
            ("90s", 90.0, "1m30s"),
            ("10m", 600.0, "10m"),
            ("1.5h", 5400.0, "1h30m"),
            ("1h 30m", 5400.0, "1h30m"),
            ("2.5s", 2.5, "2.5s"),
        ] {
            let b = TimeBudget::parse(text).unwrap();
            assert_eq!(b.secs(), secs, "{text}");
            assert_eq!(b.to_string(), shown, "{text}");
            assert_eq!(TimeBudget::parse(shown).unwrap(), b);
        }
        for bad in [
            "",
            "10",
            "ten minutes",
            "10 minutes",
            "0s",
            "-5m",
            "400d",
            "5m x",
        ] {
            assert!(TimeBudget::parse(bad).is_err(), "{bad:?}");
        }
        // In a config: the key, round trip through the effective config, the rules with steps
        // and epochs.
        let budget_only = MINIMAL.replace("steps = 100", "time_budget = \"10m\"");
        let c = RunConfig::parse(&budget_only, "t", &[]).unwrap();
        c.validate().unwrap();
        assert_eq!(c.total_steps(7), None);
        assert_eq!(RunConfig::parse(&c.to_toml(), "t", &[]).unwrap(), c);
        let both = MINIMAL.replace("steps = 100", "steps = 100\ntime_budget = \"10m\"");
        let c = RunConfig::parse(&both, "t", &[]).unwrap();
        c.validate().unwrap();
        assert_eq!(c.total_steps(7), Some(100), "steps rules");
        let err = RunConfig::parse(&budget_only, "t", &["train.epochs=2".into()])
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains("train.time_budget"), "{err}");
        let err = RunConfig::parse(
            &MINIMAL.replace("steps = 100", "time_budget = \"10 min\""),
            "t.toml",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("time_budget") && err.contains("\"10m\""),
            "{err}"
        );
    }

    #[test]
    fn schedules() {
        let mut c = RunConfig::parse(MINIMAL, "t", &[]).unwrap();
        c.optim.learning_rate = 1.0;
        c.optim.warmup_steps = 10;
        c.optim.schedule = Schedule::Cosine;
        assert!((c.learning_rate(0, 110) - 0.1).abs() < 1e-12);
        assert!((c.learning_rate(10, 110) - 1.0).abs() < 1e-12);
        assert!((c.learning_rate(60, 110) - 0.5).abs() < 1e-12);
        assert!(c.learning_rate(110, 110).abs() < 1e-12);
        c.optim.warmup_steps = 0;
        c.optim.schedule = Schedule::Step;
        c.optim.decay_rate = 0.5;
        c.optim.decay_steps = 10;
        assert_eq!(c.learning_rate(25, 100), 0.25);
    }
}
