//! The run config of a forecast (`task = "forecast"`): the table and its columns, the windows,
//! the model, the optimiser and the training length. Read like the character model's config:
//! defaults, the file, then `--set section.key=value`; unknown keys and invalid values are
//! errors naming the key.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::app::config::{
    BackendSection, ClipSection, ConfigError, MAX_BATCH_TOKENS, MAX_LAYERS, MAX_SEQ_OR_BATCH,
    MAX_WIDTH, OptimSection, Schedule, Task, TimeBudget, parse_with_overrides, total_memory,
};
use crate::cell::CellKind;
use crate::forecast::series::{Gaps, Missing, SeriesSpec};
use crate::forecast::window::Frame;
use crate::layer::RecurrentConfig;
use crate::model::{Decoder, ForecastLoss, ForecasterConfig};

/// A forecast run: data, windows, model, optimiser, clipping, training, backend.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForecastConfig {
    /// `forecast`.
    pub task: Task,
    /// Seed of the weights, the batches and dropout.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// The table and its columns.
    pub data: DataSection,
    /// The windows and the backtest.
    pub forecast: ForecastSection,
    /// The model.
    #[serde(default)]
    pub model: ModelSection,
    /// The optimiser and learning-rate schedule.
    #[serde(default = "default_optim")]
    pub optim: OptimSection,
    /// Gradient clipping.
    #[serde(default)]
    pub clip: ClipSection,
    /// Training length, evaluation, logging.
    pub train: TrainSection,
    /// Backend and device.
    #[serde(default)]
    pub backend: BackendSection,
}

fn default_seed() -> u64 {
    42
}

fn default_optim() -> OptimSection {
    OptimSection {
        learning_rate: 3e-3,
        schedule: Schedule::Cosine,
        min_lr: 1e-4,
        ..OptimSection::default()
    }
}

/// `[data]`: the CSV table and what its columns are.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    /// The table, relative to the config file.
    pub csv: PathBuf,
    /// The time column (`time = "date"`), or a date column and a time-of-day column
    /// (`time = ["Date", "Time"]`); absent or empty: rows are consecutive steps.
    #[serde(default)]
    pub time: Option<TimeColumns>,
    /// A long-format table's column naming the series (one row per series and time): one
    /// global model over all of them, each scaled on its own, windows drawn across them, the
    /// backtest per series and aggregated, forecasts per series. Absent: the table is one
    /// series.
    #[serde(default)]
    pub series: Option<String>,
    /// One or more columns to forecast (`["load"]`; one may be written `"load"`).
    #[serde(deserialize_with = "columns")]
    pub target: Vec<String>,
    /// Columns known up to the forecast origin only.
    #[serde(default, deserialize_with = "columns")]
    pub past_covariates: Vec<String>,
    /// Columns known for the horizon too (weather forecasts, holidays).
    #[serde(default, deserialize_with = "columns")]
    pub future_covariates: Vec<String>,
    /// `error` (a missing time step is an error), `insert` (it becomes missing values) or
    /// `ignore` (rows are steps).
    #[serde(default)]
    pub gaps: Gaps,
    /// `interpolate`, `ffill` or `error`; filled targets never count in the loss or the scores.
    #[serde(default)]
    pub missing: Missing,
    /// Calendar features of the time column (hour of day, day of week, day of year as sin/cos,
    /// those that vary at the series' frequency), given like future covariates.
    #[serde(default)]
    pub calendar: bool,
}

/// A list of column names, or one name written alone (`target = "load"`, as `--set
/// data.target=load` gives it); an empty name alone is no column.
fn columns<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(
        untagged,
        expecting = "a list of column names ([\"load\"]) or one name (\"load\"; quote a name that reads as a number: [\"1990\"])"
    )]
    enum Columns {
        One(String),
        List(Vec<String>),
    }
    Ok(match Columns::deserialize(deserializer)? {
        Columns::One(name) if name.trim().is_empty() => Vec::new(),
        Columns::One(name) => vec![name],
        Columns::List(names) => names,
    })
}

/// `[data] time`: the column of the rows' times, or the columns of their dates and times of day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimeColumns {
    /// One column holds each row's time (`time = "date"`).
    One(String),
    /// A date column and a time-of-day column (`time = ["Date", "Time"]`), read as the two values
    /// joined by a space.
    DateAndClock(String, String),
}

impl TimeColumns {
    /// The column holding the time, or the date.
    pub fn column(&self) -> &str {
        match self {
            TimeColumns::One(c) | TimeColumns::DateAndClock(c, _) => c,
        }
    }

    /// The time-of-day column, where the date has its own.
    pub fn clock(&self) -> Option<&str> {
        match self {
            TimeColumns::One(_) => None,
            TimeColumns::DateAndClock(_, clock) => Some(clock),
        }
    }
}

impl Serialize for TimeColumns {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            TimeColumns::One(c) => serializer.serialize_str(c),
            TimeColumns::DateAndClock(date, clock) => [date, clock].serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for TimeColumns {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = TimeColumns;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "a column name (\"date\") or a date column and a time-of-day column ([\"Date\", \"Time\"])",
                )
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<TimeColumns, E> {
                Ok(TimeColumns::One(v.to_string()))
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<TimeColumns, A::Error> {
                let mut names: Vec<String> = Vec::new();
                while let Some(name) = seq.next_element::<String>()? {
                    names.push(name);
                }
                match <[String; 2]>::try_from(names) {
                    Ok([date, clock]) if date.trim().is_empty() || clock.trim().is_empty() => Err(
                        serde::de::Error::invalid_value(serde::de::Unexpected::Str(""), &self),
                    ),
                    Ok([date, clock]) => Ok(TimeColumns::DateAndClock(date, clock)),
                    Err(names) if names.len() == 1 => Ok(TimeColumns::One(
                        names.into_iter().next().unwrap_or_default(),
                    )),
                    Err(names) => Err(serde::de::Error::invalid_length(names.len(), &self)),
                }
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// `[forecast]`: what is forecast from what, and how it is scored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForecastSection {
    /// Steps the model sees before the origin.
    pub context: usize,
    /// Steps it forecasts.
    pub horizon: usize,
    /// The seasonal period, for seasonal naive and MASE (1: none).
    #[serde(default = "one")]
    pub season: usize,
    /// Steps at the end of the history kept out of training, for the backtest.
    pub test: usize,
    /// Steps at the end of the training part used for validation (the ridge penalty of a
    /// linear base, the best checkpoint); default: a quarter of the training part, at least the
    /// horizon. The linear base is refit with them before the test part, so a long validation
    /// part costs the forecast little and makes both choices steadier.
    #[serde(default)]
    pub validation: Option<usize>,
    /// Steps between backtest origins.
    #[serde(default = "one")]
    pub origin_every: usize,
    /// `mae` or `mse` (a point forecast), `quantile` (the `quantiles`, by the pinball loss) or
    /// `gaussian` (a mean and a scale, by the negative log-likelihood). A probabilistic model's
    /// spread is its base's (see [`crate::model::Forecaster::with_residuals`]); training moves
    /// its point forecast, and the best checkpoint is the one whose point forecast has the
    /// lowest validation MAE.
    #[serde(default)]
    pub loss: ForecastLoss,
    /// The quantile levels a probabilistic forecast gives, scores and writes, strictly
    /// increasing in (0, 1); pairs adding up to 1 are central intervals (0.1 and 0.9: 80%).
    #[serde(default = "default_quantiles")]
    pub quantiles: Vec<f64>,
    /// How fast a probabilistic forecast's intervals widen after misses and narrow after hits
    /// of the forecasts before it, in `eval`'s backtest (every method alike) and in `forecast`
    /// (replaying the `test` steps before its origin): the rate of
    /// [`crate::forecast::interval::adapt_widths`]; 0 keeps the calibrated intervals.
    #[serde(default = "default_interval_adaptation")]
    pub interval_adaptation: f64,
    /// Whether the targets are divided by a multiplicative seasonal index (each step of the
    /// season's share of the level over the training part, step `s` in phase `s % season`)
    /// before scaling, and multiplied back on output.
    #[serde(default)]
    pub seasonal_index: SeasonalIndexMode,
}

/// `forecast.seasonal_index`: whether the targets are deseasonalized by a multiplicative
/// seasonal index ([`crate::forecast::scale::SeasonalIndex`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SeasonalIndexMode {
    /// Where every target of a single series has one (values not negative, every phase seen
    /// twice in the training part) and, with a linear base, the base validates better with it.
    #[default]
    Auto,
    /// Always: an error where a target has none.
    Multiplicative,
    /// Never.
    None,
}

fn default_interval_adaptation() -> f64 {
    0.02
}

fn default_quantiles() -> Vec<f64> {
    vec![0.1, 0.5, 0.9]
}

fn one() -> usize {
    1
}

/// `[model]`: the recurrent encoder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelSection {
    /// `rnn`, `lstm` or `gru`.
    pub cell: CellKind,
    /// Hidden size of every recurrent layer.
    pub hidden_size: usize,
    /// Stacked recurrent layers.
    pub num_layers: usize,
    /// Dropout between recurrent layers (training only).
    pub dropout: f64,
    /// The forecast the network's output is added to, and what an untrained model forecasts:
    /// `naive` (the last value), `seasonal_naive` (the value one `forecast.season` earlier,
    /// when the context holds a season) or `linear` (the linear baseline's least-squares fit on
    /// the training part's windows, kept fixed while the network trains).
    pub base: Base,
    /// `direct` (one head gives the whole horizon) or `autoregressive` (a recurrent decoder
    /// steps through the horizon, fed its previous value: the actual in training, its own
    /// forecast otherwise).
    pub decoder: Decoder,
}

/// What the forecaster starts from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Base {
    /// The last value.
    #[default]
    Naive,
    /// The value one season earlier.
    SeasonalNaive,
    /// A linear map of the window, fitted by least squares before training.
    Linear,
}

impl Default for ModelSection {
    fn default() -> Self {
        Self {
            cell: CellKind::Gru,
            hidden_size: 64,
            num_layers: 1,
            dropout: 0.0,
            base: Base::Naive,
            decoder: Decoder::Direct,
        }
    }
}

/// `[train]`: length, batches, evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSection {
    /// Optimiser steps; give this or `time_budget` (with both, as the run folder's effective
    /// config has them once the budget was calibrated, `steps` rules).
    #[serde(default)]
    pub steps: Option<usize>,
    /// Train as many steps as fit in this wall time ("90s", "10m").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_budget: Option<TimeBudget>,
    /// Windows per batch.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// Steps between validations (and checkpoints).
    #[serde(default = "default_eval_interval")]
    pub eval_interval: usize,
    /// Steps between log lines.
    #[serde(default = "default_log_interval")]
    pub log_interval: usize,
    /// A trained model becomes the `best` checkpoint only when its validation loss is at least
    /// this fraction below the untrained model's (the base alone): smaller gains on a short
    /// validation part are as likely noise as skill.
    #[serde(default = "default_min_improvement")]
    pub min_improvement: f64,
}

fn default_min_improvement() -> f64 {
    0.15
}

fn default_batch() -> usize {
    64
}
fn default_eval_interval() -> usize {
    100
}
fn default_log_interval() -> usize {
    20
}

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        message: message.into(),
    }
}

impl ForecastConfig {
    /// Reads `path`, applies `overrides`, resolves `data.csv` relative to the config file (or,
    /// when an override gives it, to the current folder) into an absolute path and validates.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config: Self = parse_with_overrides(&text, &path.display().to_string(), overrides)?;
        // A table named in the file is relative to the file; one given with `--set`, to the
        // current folder.
        let from_set = overrides.iter().any(|o| {
            o.split_once('=')
                .is_some_and(|(k, _)| k.trim() == "data.csv")
        });
        if config.data.csv.is_relative() && !from_set {
            let base = path.parent().unwrap_or(Path::new("."));
            config.data.csv = base.join(&config.data.csv);
        }
        // Absolute in the run folder's copy: `eval` and `forecast` find the table from any
        // folder.
        config.data.csv = crate::app::config::absolute(&config.data.csv);
        // An empty column name is none (`--set data.time=` unsets a file's time column).
        if config
            .data
            .time
            .as_ref()
            .is_some_and(|t| t.column().trim().is_empty())
        {
            config.data.time = None;
        }
        if config
            .data
            .series
            .as_deref()
            .is_some_and(|c| c.trim().is_empty())
        {
            config.data.series = None;
        }
        config.validate()?;
        config.check_memory(total_memory())?;
        Ok(config)
    }

    /// Refuses a model and batch that cannot fit in `memory` bytes (when known): the recurrent
    /// layers' parameters with their gradients and Adam's two moments, and one batch's
    /// activations and their gradients (the table's columns, not known yet, left out).
    pub fn check_memory(&self, memory: Option<f64>) -> Result<(), ConfigError> {
        let Some(memory) = memory else {
            return Ok(());
        };
        let m = &self.model;
        let (h, layers) = (m.hidden_size as f64, m.num_layers as f64);
        let gates = m.cell.gates() as f64;
        let params = gates * h * (layers * 2.0 * h + 2.0 * layers);
        let steps =
            self.train.batch_size as f64 * (self.forecast.context + self.forecast.horizon) as f64;
        let activations = steps * layers * h * (gates + 2.0);
        let need = 4.0 * 4.0 * params + 2.0 * 4.0 * activations;
        if need <= memory {
            return Ok(());
        }
        let gib = |b: f64| b / (1u64 << 30) as f64;
        Err(invalid(
            if params * 2.0 >= activations {
                "model.hidden_size"
            } else {
                "train.batch_size"
            },
            format!(
                "model.hidden_size = {}, model.num_layers = {}, train.batch_size = {} windows of {} steps: training needs at least {:.1} GiB, more than this machine's {:.1} GiB of memory",
                m.hidden_size,
                m.num_layers,
                self.train.batch_size,
                self.forecast.context + self.forecast.horizon,
                gib(need),
                gib(memory)
            ),
        ))
    }

    /// The config as TOML, as written into the run folder.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a config serialises")
    }

    /// Checks ranges and contradictions, naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.task != Task::Forecast {
            return Err(invalid("task", "expected \"forecast\""));
        }
        let f = &self.forecast;
        for (key, value) in [
            ("forecast.context", f.context),
            ("forecast.horizon", f.horizon),
            ("forecast.season", f.season),
            ("forecast.test", f.test),
            ("forecast.origin_every", f.origin_every),
            ("model.hidden_size", self.model.hidden_size),
            ("model.num_layers", self.model.num_layers),
            ("train.batch_size", self.train.batch_size),
            ("train.eval_interval", self.train.eval_interval),
            ("train.log_interval", self.train.log_interval),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1, found 0"));
            }
        }
        for (key, value, max) in [
            ("forecast.context", f.context, MAX_SEQ_OR_BATCH),
            ("forecast.horizon", f.horizon, MAX_SEQ_OR_BATCH),
            ("model.hidden_size", self.model.hidden_size, MAX_WIDTH),
            ("model.num_layers", self.model.num_layers, MAX_LAYERS),
            ("train.batch_size", self.train.batch_size, MAX_SEQ_OR_BATCH),
        ] {
            if value > max {
                return Err(invalid(
                    key,
                    format!("must be at most {max}, found {value}"),
                ));
            }
        }
        let window = f.context + f.horizon;
        if self.train.batch_size.saturating_mul(window) > MAX_BATCH_TOKENS {
            return Err(invalid(
                "train.batch_size",
                format!(
                    "train.batch_size x (forecast.context + forecast.horizon) = {} x {window} steps per batch, more than {MAX_BATCH_TOKENS}",
                    self.train.batch_size
                ),
            ));
        }
        if f.validation == Some(0) {
            return Err(invalid(
                "forecast.validation",
                "must be at least 1, found 0",
            ));
        }
        if let Err(message) = crate::forecast::interval::check_levels(&f.quantiles) {
            return Err(invalid("forecast.quantiles", message));
        }
        if !(0.0..=1.0).contains(&f.interval_adaptation) {
            return Err(invalid(
                "forecast.interval_adaptation",
                format!("must be in [0, 1], found {}", f.interval_adaptation),
            ));
        }
        if f.test < f.horizon {
            return Err(invalid(
                "forecast.test",
                format!(
                    "the test part ({}) must hold at least one horizon ({}) for the backtest",
                    f.test, f.horizon
                ),
            ));
        }
        if self.data.target.is_empty() {
            return Err(invalid(
                "data.target",
                "give at least one column to forecast",
            ));
        }
        if !(0.0..1.0).contains(&self.train.min_improvement) {
            return Err(invalid(
                "train.min_improvement",
                format!("must be in [0, 1), found {}", self.train.min_improvement),
            ));
        }
        if !(0.0..1.0).contains(&self.model.dropout) {
            return Err(invalid(
                "model.dropout",
                format!("must be in [0, 1), found {}", self.model.dropout),
            ));
        }
        let o = &self.optim;
        if !(o.learning_rate > 0.0 && o.learning_rate.is_finite()) {
            return Err(invalid(
                "optim.learning_rate",
                format!("must be positive, found {}", o.learning_rate),
            ));
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
        match (self.train.steps, self.train.time_budget) {
            (None, None) => Err(invalid(
                "train.steps",
                "give train.steps or train.time_budget",
            )),
            (Some(0), _) => Err(invalid("train.steps", "must be at least 1, found 0")),
            _ => Ok(()),
        }
    }

    /// The columns of the table, for [`crate::forecast::series::Series::read`].
    pub fn series_spec(&self) -> SeriesSpec {
        let d = &self.data;
        SeriesSpec {
            time: d.time.as_ref().map(|t| t.column().to_string()),
            clock: d.time.as_ref().and_then(|t| t.clock()).map(String::from),
            target: d.target.clone(),
            past_covariates: d.past_covariates.clone(),
            future_covariates: d.future_covariates.clone(),
            gaps: d.gaps,
            missing: d.missing,
        }
    }

    /// The season of the forecast the model starts from: `forecast.season` for
    /// `model.base = "seasonal_naive"` when the context holds a season, else 1 (the last value).
    pub fn base_season(&self) -> usize {
        let f = &self.forecast;
        match self.model.base {
            Base::SeasonalNaive if f.season <= f.context => f.season,
            _ => 1,
        }
    }

    /// The values of each context step of `frame` the linear base reads: the targets, the past
    /// and the future covariates (a covariate's past carries information its horizon values do
    /// not, as yesterday's heat does for today's demand), and the calendar features only where
    /// rows are taken as steps (`gaps = "ignore"`): on a regular grid their past is known from
    /// their horizon values, across closed hours and weekends it is not.
    pub fn linear_context_columns(&self, frame: &Frame) -> usize {
        if self.data.gaps == Gaps::Ignore {
            frame.context_width()
        } else {
            frame.targets.len()
                + self.data.past_covariates.len()
                + self.data.future_covariates.len()
        }
    }

    /// Of [`ForecastConfig::linear_context_columns`], the last this many (the known columns'
    /// past: the future covariates', and the calendar features' where the base reads them) are
    /// kept only where they validate better ([`crate::forecast::linear::Terms`]).
    pub fn linear_optional_columns(&self, frame: &Frame) -> usize {
        self.linear_context_columns(frame) - frame.targets.len() - self.data.past_covariates.len()
    }

    /// The model of the series in `frame`: its targets, values per context step, known columns
    /// per horizon step and the year's harmonics.
    pub fn model_config(&self, frame: &Frame) -> ForecasterConfig {
        let m = &self.model;
        let (targets, width, known) = (
            frame.targets.len(),
            frame.context_width(),
            frame.known_width(),
        );
        ForecasterConfig::new(
            RecurrentConfig::new(m.cell, width, m.hidden_size)
                .with_num_layers(m.num_layers)
                .with_dropout(m.dropout),
            targets,
            known,
            self.forecast.horizon,
        )
        .with_season(self.base_season())
        .with_linear_context((self.model.base == Base::Linear).then_some(self.forecast.context))
        .with_hinges(self.data.future_covariates.len())
        .with_hinge_day(frame.day)
        .with_linear_columns(Some(self.linear_context_columns(frame)))
        .with_year(frame.year)
        .with_week(frame.week)
        .with_loss(self.forecast.loss)
        .with_quantiles(self.forecast.quantiles.clone())
        .with_decoder(self.model.decoder)
        .with_local_spread(self.local_spread())
    }

    /// Whether the intervals are measured in each window's local scale (the context's mean
    /// absolute step change): on a table without future covariates. With them (weather), the
    /// size of the errors follows the covariates, not the context's step changes (a demand's
    /// daily swing, larger in winter than in summer's heat waves), and the spread is alike for
    /// every window (docs/forecasting.md, "Intervals with future covariates").
    pub fn local_spread(&self) -> bool {
        self.data.future_covariates.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_column_list_may_be_one_name() {
        let load = |overrides: &[&str]| {
            let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
            ForecastConfig::load(Path::new("configs/forecast.toml"), &overrides)
        };
        let c = load(&["data.target=load", "data.future_covariates=temp"]).unwrap();
        assert_eq!(c.data.target, ["load"]);
        assert_eq!(c.data.future_covariates, ["temp"]);
        let c = load(&["data.target=[\"a\", \"b\"]", "data.future_covariates="]).unwrap();
        assert_eq!(c.data.target, ["a", "b"]);
        assert!(c.data.future_covariates.is_empty());
        let err = load(&["data.target="]).err().unwrap().to_string();
        assert!(
            err.contains("give at least one column to forecast"),
            "{err}"
        );
        let err = load(&["data.target=[1]"]).err().unwrap().to_string();
        assert!(err.contains("a list of column names"), "{err}");
    }
}
