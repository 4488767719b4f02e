//! A forecast run's data, prepared once for training, the backtest and forecasting: the series
//! read as the config says, its split into training, validation and test parts, the scalers
//! fitted on the training part, the scaled frame and the windows' origins.

use std::path::Path;

use crate::app::forecast::ForecastError;
use crate::app::forecast::config::ForecastConfig;
use crate::forecast::series::Series;
use crate::forecast::window::{Frame, Scalers, Split, WindowBuffers};

/// The most validation windows a network's validation scores: more makes each validation cost
/// more training steps than it tells apart (a long context's window is large).
pub const VALIDATION_WINDOWS: usize = 2048;

/// The series of a run, split and scaled.
pub struct Problem {
    /// The series as read.
    pub series: Series,
    /// Training `..val_start`, validation `val_start..test_start`, test `test_start..len`.
    pub split: Split,
    /// Fitted on the training part.
    pub scalers: Scalers,
    /// The series in scaled units.
    pub frame: Frame,
    /// Steps before an origin.
    pub context: usize,
    /// Steps forecast.
    pub horizon: usize,
}

impl Problem {
    /// Reads `csv` (the config's table unless given) and splits it; the scalers are `scalers`
    /// when given (a trained run's), else fitted on the training part.
    pub fn new(
        config: &ForecastConfig,
        csv: Option<&Path>,
        scalers: Option<Scalers>,
    ) -> Result<Problem, ForecastError> {
        let path = csv.unwrap_or(&config.data.csv);
        let series = Series::read(path, &config.series_spec())?;
        let f = &config.forecast;
        let (context, horizon) = (f.context, f.horizon);
        let len = series.len;
        let test_start = len.saturating_sub(f.test);
        let train_len = test_start;
        let validation = f.validation.unwrap_or(horizon.max(train_len / 4));
        let val_start = test_start.saturating_sub(validation);
        let need = context + horizon + validation + f.test;
        if val_start < context + horizon || len < need {
            return Err(ForecastError::TooShort {
                path: path.to_path_buf(),
                steps: len,
                message: format!(
                    "forecast.context ({context}) + forecast.horizon ({horizon}) for one training window, validation ({validation}) and forecast.test ({}) need at least {need} steps",
                    f.test
                ),
            });
        }
        let scalers = match scalers {
            Some(s) => s,
            None => Scalers::fit(&series, val_start)?,
        };
        let frame = Frame::new(&series, &scalers, config.data.calendar);
        Ok(Problem {
            series,
            split: Split {
                val_start,
                test_start,
                len,
            },
            scalers,
            frame,
            context,
            horizon,
        })
    }

    /// Origins of the training windows: their targets lie in the training part.
    pub fn train_origins(&self) -> Vec<usize> {
        Split::origins(0, self.split.val_start, self.context, self.horizon, 1)
    }

    /// Origins of the validation windows: their targets lie in the validation part.
    pub fn val_origins(&self) -> Vec<usize> {
        let s = self.split;
        let start = s.val_start.min(s.test_start.saturating_sub(self.horizon));
        Split::origins(start, s.test_start, self.context, self.horizon, 1)
    }

    /// At most [`VALIDATION_WINDOWS`] of the validation origins, spread evenly from the first
    /// to the last: what the network's validations (every `eval_interval` steps) score.
    pub fn val_sample(&self) -> Vec<usize> {
        let all = self.val_origins();
        let n = all.len();
        if n <= VALIDATION_WINDOWS {
            return all;
        }
        (0..VALIDATION_WINDOWS)
            .map(|i| all[i * (n - 1) / (VALIDATION_WINDOWS - 1)])
            .collect()
    }

    /// Origins of the backtest: every `every` steps, their targets in the test part.
    pub fn test_origins(&self, every: usize) -> Vec<usize> {
        let s = self.split;
        Split::origins(s.test_start, s.len, self.context, self.horizon, every)
    }

    /// The windows of `origins`.
    pub fn windows(&self, origins: &[usize]) -> WindowBuffers {
        let mut w = WindowBuffers::default();
        for &o in origins {
            self.frame.window(o, self.context, self.horizon, &mut w);
        }
        w
    }
}
