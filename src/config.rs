//! The run config: TOML file → `key=value` overrides → typed, validated [`RunConfig`].
//!
//! Three layers, as in nanoGPT: defaults (in the types below), a file that holds what differs,
//! and `--set section.key=value` overrides. Unknown keys and invalid values are errors that name
//! the key. The effective config is written with the run.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cell::{Activation, CellKind, InitScheme};
use crate::data::Batching;

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

/// The machine's memory in bytes (`MemTotal` of `/proc/meminfo`), when known.
fn total_memory() -> Option<f64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0)
}

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

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        message: message.into(),
    }
}

/// The whole run: model, data, optimiser, clipping, training length, backend.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
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

/// The learning-rate schedule (after the linear warm-up).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// `lr`.
    #[default]
    Constant,
    /// `lr * decay_rate ^ floor(step / decay_steps)`.
    Step,
    /// `lr * decay_rate ^ (step / decay_steps)`.
    Exponential,
    /// Cosine from `lr` down to `min_lr` at the last step.
    Cosine,
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

/// A wall-time budget, written as a duration: `"90s"`, `"10m"`, `"1.5h"`, `"1h30m"` (units `h`,
/// `m`, `s`; at most 365 days).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimeBudget {
    secs: f64,
}

impl TimeBudget {
    /// Reads a duration such as `"10m"` or `"1h30m"`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let expected =
            || format!("expected a duration like \"90s\", \"10m\" or \"1h30m\", found {text:?}");
        let mut secs = 0.0;
        let mut rest = text.trim();
        if rest.is_empty() {
            return Err(expected());
        }
        while !rest.is_empty() {
            let number_end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(expected)?;
            let value: f64 = rest[..number_end].parse().map_err(|_| expected())?;
            let unit_end = rest[number_end..]
                .find(|c: char| !c.is_ascii_alphabetic())
                .map_or(rest.len(), |i| number_end + i);
            secs += value
                * match &rest[number_end..unit_end] {
                    "h" => 3600.0,
                    "m" | "min" => 60.0,
                    "s" => 1.0,
                    _ => return Err(expected()),
                };
            rest = rest[unit_end..].trim_start();
        }
        if !(secs > 0.0 && secs <= 365.0 * 86400.0) {
            return Err(format!(
                "must be above 0 and at most 365 days, found {text:?}"
            ));
        }
        Ok(Self { secs })
    }

    /// The budget in seconds.
    pub fn secs(self) -> f64 {
        self.secs
    }
}

impl std::fmt::Display for TimeBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let whole = self.secs.round();
        if (self.secs - whole).abs() > 1e-9 || whole < 1.0 {
            return write!(f, "{}s", self.secs);
        }
        let whole = whole as u64;
        let (h, m, s) = (whole / 3600, whole / 60 % 60, whole % 60);
        let mut out = String::new();
        if h > 0 {
            out += &format!("{h}h");
        }
        if m > 0 {
            out += &format!("{m}m");
        }
        if s > 0 || out.is_empty() {
            out += &format!("{s}s");
        }
        f.write_str(&out)
    }
}

impl Serialize for TimeBudget {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TimeBudget {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer).map_err(|_| {
            serde::de::Error::custom(
                "expected a duration in quotes, like \"90s\", \"10m\" or \"1h30m\"",
            )
        })?;
        TimeBudget::parse(&text).map_err(serde::de::Error::custom)
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
    /// `crate::train::budget`).
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

/// Which backend runs the job (also the `--backend` option of the command line).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// The first GPU backend this binary was built with (`cuda`, then `wgpu`), else the CPU.
    #[default]
    Auto,
    /// The CPU (ndarray).
    Cpu,
    /// The GPU through wgpu (needs `--features wgpu`).
    Wgpu,
    /// NVIDIA GPUs through CUDA (needs `--features cuda`).
    Cuda,
    /// Burn's flex CPU backend (needs `--features flex`; for comparison, slower here).
    Flex,
}

/// A backend that this binary was built without.
#[derive(Debug, thiserror::Error)]
#[error(
    "the {0} backend was asked for, but this binary was built without it; rebuild with `--features {0}`"
)]
pub struct BackendNotBuilt(pub &'static str);

impl BackendKind {
    /// The backend that runs: `Auto` becomes the first GPU backend built in (`cuda`, then
    /// `wgpu`), else `Cpu`; a backend this binary was built without is an error.
    pub fn resolve(self) -> Result<Self, BackendNotBuilt> {
        match self {
            BackendKind::Auto if cfg!(feature = "cuda") => Ok(BackendKind::Cuda),
            BackendKind::Auto if cfg!(feature = "wgpu") => Ok(BackendKind::Wgpu),
            BackendKind::Auto => Ok(BackendKind::Cpu),
            BackendKind::Wgpu if !cfg!(feature = "wgpu") => Err(BackendNotBuilt("wgpu")),
            BackendKind::Flex if !cfg!(feature = "flex") => Err(BackendNotBuilt("flex")),
            BackendKind::Cuda if !cfg!(feature = "cuda") => Err(BackendNotBuilt("cuda")),
            other => Ok(other),
        }
    }
}

/// `[backend]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackendSection {
    /// `auto`, `cpu`, `wgpu`, `cuda` or `flex`.
    pub kind: BackendKind,
    /// The device: for wgpu 0 is wgpu's default adapter (discrete first), N > 0 the N-th
    /// discrete GPU; for cuda the GPU's index.
    pub device: usize,
    /// Data-parallel training on these devices (replacing `device`), e.g. `[0, 1]`: each gets an
    /// equal share of every batch and Burn sums their gradients. On the CPU backend, which has
    /// one device, each entry is a replica running in its own thread.
    pub devices: Option<Vec<usize>>,
    /// Run each recurrent layer as one autodiff operation with a hand-written backward (fast);
    /// `false` lets Burn's autodiff record every step (same numbers, slower).
    pub fused: bool,
}

impl Default for BackendSection {
    fn default() -> Self {
        Self {
            kind: BackendKind::Auto,
            device: 0,
            devices: None,
            fused: true,
        }
    }
}

impl RunConfig {
    /// Reads `path`, applies `overrides` (`section.key=value`), resolves `data.path` relative to
    /// the config file and validates.
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
        config.validate()?;
        config.check_memory(total_memory())?;
        Ok(config)
    }

    /// About how many bytes training this config takes: the parameters with their gradients
    /// and Adam's two moments, and one batch's activations and their gradients (a vocabulary of
    /// 256 characters assumed). Returns `(parameters' share, activations' share)`.
    pub fn estimated_training_bytes(&self) -> (f64, f64) {
        let m = &self.model;
        let (e, h) = (m.embedding_size as f64, m.hidden_size as f64);
        let gates = m.cell.gates() as f64;
        let vocab = 256.0;
        let mut params = vocab * e + h * vocab + vocab;
        for layer in 0..m.num_layers {
            let input = if layer == 0 { e } else { h };
            params += gates * h * (input + h + 2.0);
        }
        let tokens = self.data.batch_size as f64 * self.data.seq_len as f64;
        let activations = tokens * (m.num_layers as f64 * h * (gates + 2.0) + e + 3.0 * vocab);
        (4.0 * 4.0 * params, 2.0 * 4.0 * activations)
    }

    /// Refuses a model and batch that cannot fit in `memory` bytes (when known), naming the key
    /// that weighs most.
    pub fn check_memory(&self, memory: Option<f64>) -> Result<(), ConfigError> {
        let Some(memory) = memory else {
            return Ok(());
        };
        let (params, activations) = self.estimated_training_bytes();
        if params + activations <= memory {
            return Ok(());
        }
        let key = if params >= activations {
            "model.hidden_size"
        } else {
            "data.batch_size"
        };
        let gib = |b: f64| b / (1u64 << 30) as f64;
        Err(invalid(
            key,
            format!(
                "model.hidden_size = {}, model.num_layers = {}, data.batch_size x data.seq_len = {} x {}: training needs about {:.1} GiB (parameters, gradients and Adam's moments {:.1} GiB, one batch's activations {:.1} GiB), more than this machine's {:.1} GiB of memory",
                self.model.hidden_size,
                self.model.num_layers,
                self.data.batch_size,
                self.data.seq_len,
                gib(params + activations),
                gib(params),
                gib(activations),
                gib(memory)
            ),
        ))
    }

    /// Parses TOML text (`origin` names it in errors) and applies `overrides`; no validation.
    pub fn parse(text: &str, origin: &str, overrides: &[String]) -> Result<Self, ConfigError> {
        let parse_error = |path: &str, e: toml::de::Error| ConfigError::Parse {
            path: path.to_string(),
            message: with_suggestion(e.to_string().trim_end()),
        };
        if overrides.is_empty() {
            return toml::from_str(text).map_err(|e| parse_error(origin, e));
        }
        let base: toml::Table = toml::from_str(text).map_err(|e| parse_error(origin, e))?;
        let with = |n: usize| -> Result<Result<Self, toml::de::Error>, ConfigError> {
            let mut table = base.clone();
            for arg in &overrides[..n] {
                apply_override(&mut table, arg)?;
            }
            let merged = toml::to_string(&table).expect("a TOML table serialises");
            Ok(toml::from_str(&merged))
        };
        let error = match with(overrides.len())? {
            Ok(config) => return Ok(config),
            Err(e) => e,
        };
        // Name the cause: the file itself (with its own line numbers), or the first `--set`
        // after which the error appears (a line of the merged TOML would point at no file).
        if let Err(e) = toml::from_str::<Self>(text)
            && e.message() == error.message()
        {
            return Err(parse_error(origin, e));
        }
        for (n, arg) in overrides.iter().enumerate() {
            if let Err(e) = with(n + 1)?
                && e.message() == error.message()
            {
                return Err(ConfigError::Override {
                    arg: arg.clone(),
                    message: with_suggestion(e.message().trim_end()),
                });
            }
        }
        Err(parse_error(
            &format!("{origin} with --set {}", overrides.join(" --set ")),
            error,
        ))
    }

    /// The config as TOML, as written into the run folder.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a config serialises")
    }

    /// Checks ranges and contradictions, naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let m = &self.model;
        // Every float key: NaN and infinity are never a setting (NaN compares false with every
        // bound, so the range checks below would let it through).
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

    /// The learning rate of `step` (0-based) in a run of `total` steps.
    pub fn learning_rate(&self, step: usize, total: usize) -> f64 {
        let o = &self.optim;
        if step < o.warmup_steps {
            return o.learning_rate * (step + 1) as f64 / o.warmup_steps as f64;
        }
        let s = (step - o.warmup_steps) as f64;
        match o.schedule {
            Schedule::Constant => o.learning_rate,
            Schedule::Step => {
                o.learning_rate * o.decay_rate.powi((s / o.decay_steps as f64).floor() as i32)
            }
            Schedule::Exponential => o.learning_rate * o.decay_rate.powf(s / o.decay_steps as f64),
            Schedule::Cosine => {
                let span = total.saturating_sub(o.warmup_steps).max(1) as f64;
                let progress = (s / span).min(1.0);
                o.min_lr
                    + 0.5
                        * (o.learning_rate - o.min_lr)
                        * (1.0 + (std::f64::consts::PI * progress).cos())
            }
        }
    }
}

/// Adds "did you mean `x`?" to toml's "unknown field `y`, expected one of `a`, `b`" (or
/// "expected `a` or `b`") when one expected key is a close spelling of the unknown one.
fn with_suggestion(message: &str) -> String {
    let Some(start) = message.find("unknown field `") else {
        return message.to_string();
    };
    let rest = &message[start + "unknown field `".len()..];
    let Some(end) = rest.find('`') else {
        return message.to_string();
    };
    let unknown = &rest[..end];
    let after = &rest[end + 1..];
    let expected = &after[..after.find('\n').unwrap_or(after.len())];
    let best = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|k| (strsim::damerau_levenshtein(unknown, k), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min();
    match best {
        Some((_, k)) => format!("{message}\n  did you mean `{k}`?"),
        None => message.to_string(),
    }
}

/// Applies `section.key=value` to the table; the value is read as TOML (`3`, `1e-3`, `true`,
/// `"lstm"`) and taken as a string when it is not valid TOML (`cell=gru`).
fn apply_override(table: &mut toml::Table, arg: &str) -> Result<(), ConfigError> {
    let err = |message: &str| ConfigError::Override {
        arg: arg.to_string(),
        message: message.to_string(),
    };
    let (key, raw) = arg
        .split_once('=')
        .ok_or_else(|| err("expected section.key=value"))?;
    let key = key.trim();
    let parts: Vec<&str> = key.split('.').collect();
    if key.is_empty() || parts.iter().any(|p| p.is_empty()) {
        return Err(err("expected section.key=value"));
    }
    let value = match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
        Ok(mut t) => t.remove("v").expect("parsed key"),
        Err(_) => toml::Value::String(raw.trim().to_string()),
    };
    let (last, sections) = parts.split_last().expect("non-empty key");
    let mut current = table;
    for section in sections {
        current = current
            .entry(section.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| err(&format!("`{section}` is a value, not a section")))?;
    }
    current.insert(last.to_string(), value);
    Ok(())
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
