//! The forecasting task of the application (`task = "forecast"` in a run config): training a
//! [`crate::model::Forecaster`] on a CSV table, the rolling-origin backtest against the
//! baselines, and forecasts after the table's last row.
//!
//! A forecast run folder holds `config.toml` (the effective config), `scalers.json` (fitted on
//! the training part), `metrics.csv`, `loss.svg`, `checkpoints/{last,best}/`, and after `eval`
//! `backtest.csv`, `backtest.json` and `forecast.svg`.
//!
//! - [`config`]: the run config; [`problem`]: the series split and scaled;
//! - `base`: the run's linear base, fitted before training; [`train`]: the training loop; [`spread`]: the errors an interval is calibrated on;
//!   [`backtest`](mod@backtest): `eval`; [`predict`]: `forecast`.

pub mod backtest;
mod base;
pub mod config;
pub mod predict;
pub mod problem;
pub mod spread;
pub mod train;

use std::path::PathBuf;

pub use backtest::{Backtest, backtest};
pub use config::ForecastConfig;
pub use predict::forecast;
pub use train::{ForecastSummary, train_forecaster};

use crate::app::checkpoint::{CheckpointError, RunDir};
use crate::app::config::ConfigError;
use crate::forecast::series::SeriesError;
use crate::forecast::window::{Frame, Scalers};
pub use problem::RunScalers;

/// The header of a forecast run's `metrics.csv` (losses in scaled units).
pub const METRICS_HEADER: &str =
    "step,train_loss,val_loss,learning_rate,windows_per_sec,elapsed_secs";

/// Why a forecast command failed.
#[derive(Debug, thiserror::Error)]
pub enum ForecastError {
    /// The config.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The table.
    #[error(transparent)]
    Series(#[from] SeriesError),
    /// The run folder or a checkpoint.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// Fewer steps than the windows and parts need.
    #[error("{path}: {steps} steps of history; {message}")]
    TooShort {
        /// The table.
        path: PathBuf,
        /// Its steps of history.
        steps: usize,
        /// What the config needs.
        message: String,
    },
    /// A series that cannot be modelled as it is (a column with no scale, a value beyond the
    /// model's floats).
    #[error("{}: {message}", path.display())]
    Unusable {
        /// The table.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// Every series of a long-format table was skipped.
    #[error("{path}: no series of the table is long enough or has a scale: {skipped}")]
    NoSeries {
        /// The table.
        path: PathBuf,
        /// Why each was skipped.
        skipped: String,
    },
    /// The folder holds a run and neither `--resume` nor `--force` was given.
    #[error(
        "run folder {0} already holds a run; pass --resume to continue it or --force to start over"
    )]
    RunExists(String),
    /// `--resume` on a folder without a checkpoint.
    #[error("--resume: run folder {0} has no checkpoint to resume")]
    NothingToResume(String),
    /// The loss became NaN or infinite.
    #[error(
        "the training loss became {loss} at step {step}; lower optim.learning_rate or set clip.max_norm"
    )]
    Diverged {
        /// The step.
        step: usize,
        /// The loss.
        loss: f64,
    },
    /// The optimiser's state could not be written.
    #[error("cannot serialise the optimiser's state: {0}")]
    Optimiser(String),
    /// Stopped by Ctrl-C after a checkpoint.
    #[error("interrupted after step {step}; checkpoint saved in {run}; --resume continues")]
    Interrupted {
        /// The last step done.
        step: usize,
        /// The checkpoint.
        run: String,
    },
    /// A run-folder file that cannot be read.
    #[error("{path}: {message}")]
    RunFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A forecast that is not a finite number.
    #[error("{0}")]
    NotFinite(String),
    /// The horizon's known future is missing.
    #[error("{0}")]
    NoFuture(String),
    /// Writing an output failed.
    #[error("cannot write {path}: {message}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

/// `scalers.json` of a run folder.
pub fn scalers_path(run: &RunDir) -> PathBuf {
    run.root().join("scalers.json")
}

/// `local_bases.json` of a run folder: each series' linear base (a long-format table).
pub fn local_bases_path(run: &RunDir) -> PathBuf {
    run.root().join("local_bases.json")
}

/// A run's per-series linear bases by series name, when it has them.
pub fn read_local_bases(
    run: &RunDir,
) -> Result<
    Option<std::collections::BTreeMap<String, crate::forecast::linear::Linear>>,
    ForecastError,
> {
    let path = local_bases_path(run);
    let Ok(bytes) = std::fs::read(&path) else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| ForecastError::RunFile {
            path,
            message: format!("damaged: {e}"),
        })
}

/// Series `name`'s linear base among a run's `bases`, checked against the windows of `frame`
/// (`context` and `horizon` steps), or an error naming it.
pub fn local_base<'a>(
    run: &RunDir,
    bases: &'a std::collections::BTreeMap<String, crate::forecast::linear::Linear>,
    name: &str,
    frame: &Frame,
    (context, horizon): (usize, usize),
) -> Result<&'a crate::forecast::linear::Linear, ForecastError> {
    let damaged = |message: String| ForecastError::RunFile {
        path: local_bases_path(run),
        message,
    };
    let base = bases
        .get(name)
        .ok_or_else(|| damaged(format!("no linear base for series `{name}`")))?;
    base.check(frame, context, horizon)
        .map_err(|e| damaged(format!("damaged: series `{name}`: {e}")))?;
    Ok(base)
}

/// A forecast run's effective config.
pub fn read_config(run: &RunDir) -> Result<ForecastConfig, ForecastError> {
    let path = run.config_path();
    let text = std::fs::read_to_string(&path).map_err(|e| ForecastError::RunFile {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let config: ForecastConfig =
        crate::app::config::parse_with_overrides(&text, &path.display().to_string(), &[])?;
    config.validate()?;
    Ok(config)
}

/// A forecast run's scalers, checked against its config: one per column of each role, each
/// with a finite mean and a positive, finite standard deviation.
pub fn read_scalers(run: &RunDir, config: &ForecastConfig) -> Result<RunScalers, ForecastError> {
    let path = scalers_path(run);
    let damaged = |message: String| ForecastError::RunFile {
        path: path.clone(),
        message: format!("damaged: {message}"),
    };
    let bytes = std::fs::read(&path).map_err(|e| ForecastError::RunFile {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let scalers: RunScalers = serde_json::from_slice(&bytes).map_err(|e| damaged(e.to_string()))?;
    let all: Vec<(&str, &Scalers)> = match &scalers {
        RunScalers::One(s) => vec![("", s)],
        RunScalers::Many { series } => series.iter().map(|(n, s)| (n.as_str(), s)).collect(),
    };
    let d = &config.data;
    for (name, s) in all {
        let of = if name.is_empty() {
            String::new()
        } else {
            format!("series `{name}`: ")
        };
        for (role, scalers, columns) in [
            ("targets", &s.targets, &d.target),
            ("past", &s.past, &d.past_covariates),
            ("future", &s.future, &d.future_covariates),
        ] {
            if scalers.len() != columns.len() {
                return Err(damaged(format!(
                    "{of}{} scaler(s) in `{role}`, the config has {} column(s)",
                    scalers.len(),
                    columns.len()
                )));
            }
            if let Some(bad) = scalers
                .iter()
                .find(|x| !(x.mean.is_finite() && x.std.is_finite() && x.std > 0.0))
            {
                return Err(damaged(format!(
                    "{of}`{role}` holds mean {} and std {}: expected a finite mean and a positive, finite std",
                    bad.mean, bad.std
                )));
            }
        }
        if !s.seasonal.is_empty() && s.seasonal.len() != s.targets.len() {
            return Err(damaged(format!(
                "{of}{} seasonal index(es), the config has {} target(s)",
                s.seasonal.len(),
                s.targets.len()
            )));
        }
        let season = s.seasonal.first().map_or(0, |ix| ix.factors.len());
        let usable = |f: &f64| f.is_finite() && *f >= crate::forecast::scale::MIN_FACTOR;
        if let Some(ix) = s.seasonal.iter().find(|ix| {
            ix.factors.len() < 2 || ix.factors.len() != season || !ix.factors.iter().all(usable)
        }) {
            return Err(damaged(format!(
                "{of}a seasonal index holds {} factor(s), {:?}: expected one per step of the season, the same for every target, each finite and at least {}",
                ix.factors.len(),
                ix.factors.iter().find(|f| !usable(f)),
                crate::forecast::scale::MIN_FACTOR
            )));
        }
    }
    Ok(scalers)
}
