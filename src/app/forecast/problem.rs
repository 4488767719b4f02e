//! A forecast run's data, prepared once for training, the backtest and forecasting: the series
//! read as the config says (one, or one per name of `data.series` in a long-format table), each
//! split into training, validation and test parts and scaled by scalers fitted on its own
//! training part, and all of them laid end to end in one scaled frame whose windows never cross
//! from one series into the next.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::app::forecast::ForecastError;
use crate::app::forecast::config::ForecastConfig;
use crate::forecast::linear::Linear;
use crate::forecast::series::Series;
use crate::forecast::time::Frequency;
use crate::forecast::window::{Frame, Scalers, Split, WindowBuffers};

/// The most validation windows a network's validations score: more makes each validation cost
/// more training steps than it tells apart (a long context's window is large).
pub const VALIDATION_WINDOWS: usize = 2048;

/// At most `n` of `origins`, spread evenly from the first to the last.
pub fn evenly(origins: Vec<usize>, n: usize) -> Vec<usize> {
    let len = origins.len();
    if len <= n {
        return origins;
    }
    if n <= 1 {
        return origins.into_iter().take(n).collect();
    }
    (0..n).map(|i| origins[i * (len - 1) / (n - 1)]).collect()
}

/// The series of the table at `path` as the config reads it: the one series (no name), or each
/// series of a long-format table by name.
pub fn read_members(
    config: &ForecastConfig,
    path: &Path,
) -> Result<Vec<(Option<String>, Series)>, ForecastError> {
    let spec = config.series_spec();
    Ok(match &config.data.series {
        None => vec![(None, Series::read(path, &spec)?)],
        Some(id) => Series::read_long(path, &spec, id)?
            .into_iter()
            .map(|(name, s)| (Some(name), s))
            .collect(),
    })
}

/// The calendar cycles every series of a table gets alike: those of the longest one.
pub fn shared_cycles<'a>(
    series: impl Iterator<Item = &'a Series>,
    calendar: bool,
) -> Vec<crate::forecast::time::Cycle> {
    let span = |s: &Series| s.times.as_ref().map_or(0, |t| t[s.len - 1] - t[0]);
    series
        .max_by_key(|s| span(s))
        .map(|s| Frame::cycles(s, calendar))
        .unwrap_or_default()
}

/// Checks that `scalers` can scale every value of `series` into the model's 32-bit floats
/// ([`Scalers::check`]); the error names the value's time (or step) and column.
pub fn check_scale(series: &Series, scalers: &Scalers) -> Result<(), String> {
    scalers.check(series).map_err(|e| {
        let at = match (&series.times, series.format) {
            (Some(times), Some(format)) => format!("time {}", format.format(times[e.step])),
            _ => format!("step {}", e.step + 1),
        };
        format!("{at}, {e}")
    })
}

/// The scalers of a run, as `scalers.json` holds them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RunScalers {
    /// The one series of the table.
    One(Scalers),
    /// Each series of a long-format table, by name.
    Many {
        /// Series name to its scalers.
        series: BTreeMap<String, Scalers>,
    },
}

/// One series of a problem.
pub struct Segment {
    /// Its name in `data.series`' column; `None` for a table of one series.
    pub id: Option<String>,
    /// The series as read.
    pub series: Series,
    /// Its parts in its own steps: training `..val_start`, validation, test `test_start..len`.
    pub split: Split,
    /// Fitted on its training part.
    pub scalers: Scalers,
    /// Where its steps begin in the problem's frame.
    pub offset: usize,
}

impl Segment {
    /// `series X: ` for a member of a long-format table, nothing for a single series.
    pub fn label(&self) -> String {
        self.id
            .as_ref()
            .map_or(String::new(), |id| format!("series `{id}`: "))
    }
}

/// The series of a run, split and scaled.
pub struct Problem {
    /// The table.
    pub path: PathBuf,
    /// The series kept, in the table's order.
    pub segments: Vec<Segment>,
    /// One line per series of a long-format table left out (too short for one window, or with
    /// nothing to scale), naming it.
    pub skipped: Vec<String>,
    /// Every segment in scaled units, end to end.
    pub frame: Frame,
    /// Steps before an origin.
    pub context: usize,
    /// Steps forecast.
    pub horizon: usize,
    /// The calendar cycles every segment's frame holds.
    cycles: Vec<crate::forecast::time::Cycle>,
    /// Each segment's own linear base, when the model forecasts from them (a long-format table
    /// with `model.base = "linear"`): the windows then carry their base forecasts.
    pub local_bases: Option<Vec<Linear>>,
}

impl Problem {
    /// Reads `csv` (the config's table unless given) and splits every series in it; the scalers
    /// are `scalers` when given (a trained run's), else fitted on each training part.
    pub fn new(
        config: &ForecastConfig,
        csv: Option<&Path>,
        scalers: Option<RunScalers>,
    ) -> Result<Problem, ForecastError> {
        Problem::build(config, csv, scalers)
    }

    /// The same series and splits with every target deseasonalized by its seasonal index of
    /// `season` ([`Scalers::fit_seasonal`]), scaled anew on each training part; a series whose
    /// targets have none is an error (a member of a long-format table: skipped, with a line).
    pub fn deseasonalized(&self, season: usize) -> Result<Problem, ForecastError> {
        self.rescaled(true, |seg| {
            match Scalers::fit_seasonal(&seg.series, seg.split.val_start, season) {
                Ok(Some(s)) => Ok(s),
                Ok(None) => Err(format!(
                    "forecast.seasonal_index = \"multiplicative\": a target has no seasonal index of forecast.season = {season} over the training part (a negative value, a phase seen fewer than twice, or a phase whose mean is near zero); set it to \"none\""
                )),
                Err(e) => Err(e.to_string()),
            }
        })
    }

    /// Whether its targets are deseasonalized.
    pub fn is_deseasonalized(&self) -> bool {
        self.segments.iter().any(|s| !s.scalers.seasonal.is_empty())
    }

    /// The same series and splits with their targets as they are (not deseasonalized), scaled
    /// anew on each training part: what the linear baseline reads. Frame steps and origins are
    /// the same as this problem's.
    pub fn raw(&self) -> Result<Problem, ForecastError> {
        self.rescaled(false, |seg| {
            Scalers::fit(&seg.series, seg.split.val_start).map_err(|e| e.to_string())
        })
    }

    /// The same series and splits scaled by `fit` (then checked as [`Problem::new`] checks
    /// them); a series `fit` cannot scale is an error, or, when `skip` is set and it is a member
    /// of a long-format table, left out with a line naming it.
    fn rescaled(
        &self,
        skip: bool,
        fit: impl Fn(&Segment) -> Result<Scalers, String>,
    ) -> Result<Problem, ForecastError> {
        let (mut segments, mut frames, mut skipped) =
            (Vec::new(), Vec::new(), self.skipped.clone());
        let mut offset = 0;
        for seg in &self.segments {
            let scalers = fit(seg).and_then(|s| check_scale(&seg.series, &s).map(|()| s));
            let scalers = match (scalers, &seg.id) {
                (Ok(s), _) => s,
                (Err(reason), Some(name)) if skip => {
                    skipped.push(format!(
                        "series `{name}` skipped: {} steps of history; {reason}",
                        seg.series.len
                    ));
                    continue;
                }
                (Err(message), _) => {
                    return Err(ForecastError::Unusable {
                        path: self.path.clone(),
                        message: format!("{}{message}", seg.label()),
                    });
                }
            };
            let frame = Frame::with_cycles(&seg.series, &scalers, &self.cycles);
            let steps = frame.steps;
            frames.push(frame);
            segments.push(Segment {
                id: seg.id.clone(),
                series: seg.series.clone(),
                split: seg.split,
                scalers,
                offset,
            });
            offset += steps;
        }
        if segments.is_empty() {
            return Err(ForecastError::NoSeries {
                path: self.path.clone(),
                skipped: skipped.join("; "),
            });
        }
        Ok(Problem {
            path: self.path.clone(),
            segments,
            skipped,
            frame: Frame::concat(frames),
            context: self.context,
            horizon: self.horizon,
            cycles: self.cycles.clone(),
            local_bases: None,
        })
    }

    fn build(
        config: &ForecastConfig,
        csv: Option<&Path>,
        scalers: Option<RunScalers>,
    ) -> Result<Problem, ForecastError> {
        let path = csv.unwrap_or(&config.data.csv);
        let members = read_members(config, path)?;
        let cycles = shared_cycles(members.iter().map(|(_, s)| s), config.data.calendar);
        let f = &config.forecast;
        let (context, horizon) = (f.context, f.horizon);
        let (mut segments, mut frames, mut skipped) = (Vec::new(), Vec::new(), Vec::new());
        let mut offset = 0;
        for (id, series) in members {
            let len = series.len;
            let test_start = len.saturating_sub(f.test);
            let validation = f.validation.unwrap_or(horizon.max(test_start / 4));
            let val_start = test_start.saturating_sub(validation);
            let need = (context + horizon)
                .saturating_add(validation)
                .saturating_add(f.test);
            let short = val_start < context + horizon || len < need;
            let length = if short {
                Some(format!(
                    "forecast.context ({context}) + forecast.horizon ({horizon}) for one training window, validation ({validation}) and forecast.test ({}) need at least {need} steps",
                    f.test
                ))
            } else if test_start <= f.season {
                Some(format!(
                    "forecast.season ({}) needs more than the {test_start} steps before the test part: seasonal naive forecasts from a season before every origin, and MASE's scale is its error over those steps",
                    f.season
                ))
            } else {
                None
            };
            let fitted = match (&scalers, &id) {
                (Some(RunScalers::One(s)), None) => Ok(s.clone()),
                (Some(RunScalers::Many { series: saved }), Some(name)) => {
                    saved.get(name).cloned().ok_or_else(|| {
                        "its training left it out (no scaling saved for it)".to_string()
                    })
                }
                (Some(_), _) => {
                    return Err(ForecastError::RunFile {
                        path: path.to_path_buf(),
                        message: "the run's scalers.json does not match data.series (one series against many)".into(),
                    });
                }
                (None, _) => Scalers::fit(&series, val_start).map_err(|e| e.to_string()),
            }
            .and_then(|mut s| {
                s.align(&series)?;
                check_scale(&series, &s).map(|()| s)
            });
            match (fitted, length, id) {
                (Ok(scalers), None, id) => {
                    let frame = Frame::with_cycles(&series, &scalers, &cycles);
                    let steps = frame.steps;
                    frames.push(frame);
                    segments.push(Segment {
                        id,
                        series,
                        split: Split {
                            val_start,
                            test_start,
                            len,
                        },
                        scalers,
                        offset,
                    });
                    offset += steps;
                }
                (fitted, length, Some(name)) => {
                    let reason = length.or(fitted.err()).unwrap_or_default();
                    skipped.push(format!(
                        "series `{name}` skipped: {len} steps of history; {reason}"
                    ));
                }
                (_, Some(message), None) => {
                    return Err(ForecastError::TooShort {
                        path: path.to_path_buf(),
                        steps: len,
                        message,
                    });
                }
                (Err(message), None, None) => {
                    return Err(ForecastError::Unusable {
                        path: path.to_path_buf(),
                        message,
                    });
                }
            }
        }
        if segments.is_empty() {
            return Err(ForecastError::NoSeries {
                path: path.to_path_buf(),
                skipped: skipped.join("; "),
            });
        }
        Ok(Problem {
            path: path.to_path_buf(),
            segments,
            skipped,
            frame: Frame::concat(frames),
            context,
            horizon,
            cycles,
            local_bases: None,
        })
    }

    /// The scalers to save with the run.
    pub fn run_scalers(&self) -> RunScalers {
        match &self.segments[..] {
            [one] if one.id.is_none() => RunScalers::One(one.scalers.clone()),
            all => RunScalers::Many {
                series: all
                    .iter()
                    .map(|s| (s.id.clone().unwrap_or_default(), s.scalers.clone()))
                    .collect(),
            },
        }
    }

    /// Future covariates per step.
    pub fn future_covariates(&self) -> usize {
        self.segments[0].series.future.len()
    }

    /// Every segment's origins from `part(split) = (start, end)`, `every` steps apart, as
    /// steps of the frame.
    fn origins(&self, every: usize, part: impl Fn(&Split) -> (usize, usize)) -> Vec<usize> {
        (0..self.segments.len())
            .flat_map(|i| self.segment_origins(i, every, &part))
            .collect()
    }

    /// Segment `i`'s origins from `part(split) = (start, end)`, as steps of the frame.
    pub fn segment_origins(
        &self,
        i: usize,
        every: usize,
        part: impl Fn(&Split) -> (usize, usize),
    ) -> Vec<usize> {
        let seg = &self.segments[i];
        let (start, end) = part(&seg.split);
        Split::origins(start, end, self.context, self.horizon, every)
            .into_iter()
            .map(|o| o + seg.offset)
            .collect()
    }

    /// Origins of the training windows: their targets lie in the training parts.
    pub fn train_origins(&self) -> Vec<usize> {
        self.origins(1, |s| (0, s.val_start))
    }

    /// Origins of the validation windows: their targets lie in the validation parts.
    pub fn val_origins(&self) -> Vec<usize> {
        let h = self.horizon;
        self.origins(1, |s| {
            (
                s.val_start.min(s.test_start.saturating_sub(h)),
                s.test_start,
            )
        })
    }

    /// Origins of every window before the test parts (training and validation).
    pub fn before_test_origins(&self) -> Vec<usize> {
        self.origins(1, |s| (0, s.test_start))
    }

    /// Origins before the test parts that are not training ones: with the training origins, the
    /// windows a refit before the test part adds.
    pub fn refit_origins(&self) -> Vec<usize> {
        let h = self.horizon;
        self.origins(1, |s| (s.val_start.saturating_sub(h) + 1, s.test_start))
    }

    /// At most [`VALIDATION_WINDOWS`] of the validation origins, spread evenly from the first
    /// to the last: what the network's validations (every `eval_interval` steps) score.
    pub fn val_sample(&self) -> Vec<usize> {
        evenly(self.val_origins(), VALIDATION_WINDOWS)
    }

    /// The origins a year before each test origin (steps: 364 days for series of a week's step
    /// or less, which keeps the weekday; 12 months for monthly ones) whose windows lie in the
    /// training part: the same calendar weeks in an earlier year. Empty for a long-format
    /// table, rows taken as steps (`gaps = "ignore"`), or a series without a year of history
    /// before its validation part.
    pub fn year_before_test(&self) -> Vec<usize> {
        let [seg] = &self.segments[..] else {
            return Vec::new();
        };
        let year = match seg.series.frequency {
            Some(Frequency::Seconds(s)) if s > 0 && s <= 7 * 86_400 => (364 * 86_400 / s) as usize,
            Some(Frequency::Months(m)) if m > 0 && 12 % m == 0 => (12 / m) as usize,
            _ => return Vec::new(),
        };
        let h = self.horizon;
        self.test_origins(1)
            .into_iter()
            .filter_map(|o| o.checked_sub(year))
            .filter(|&o| {
                o >= seg.offset + self.context && o + h <= seg.offset + seg.split.val_start
            })
            .collect()
    }

    /// Origins of the backtest: every `every` steps, their targets in the test parts.
    pub fn test_origins(&self, every: usize) -> Vec<usize> {
        self.origins(every, |s| (s.test_start, s.len))
    }

    /// The frame's steps of every training part.
    pub fn training_ranges(&self) -> Vec<std::ops::Range<usize>> {
        self.segments
            .iter()
            .map(|s| s.offset..s.offset + s.split.val_start)
            .collect()
    }

    /// The scalers of the segment of each origin in `origins` (frame steps) and the origin in
    /// the segment's own steps: what a forecast from it is unscaled with.
    pub fn target_units(&self, origins: &[usize]) -> Vec<(&Scalers, usize)> {
        origins
            .iter()
            .map(|&o| {
                let (seg, local) = self.segment_of(o);
                (&self.segments[seg].scalers, local)
            })
            .collect()
    }

    /// The segment holding frame step `o`, and `o` in its own steps.
    pub fn segment_of(&self, o: usize) -> (usize, usize) {
        let i = self.segments.partition_point(|s| s.offset <= o) - 1;
        (i, o - self.segments[i].offset)
    }

    /// The windows of `origins` (frame steps), with their base forecasts when the segments
    /// have their own linear bases.
    pub fn windows(&self, origins: &[usize]) -> WindowBuffers {
        let mut w = WindowBuffers::default();
        let Some(bases) = &self.local_bases else {
            for &o in origins {
                self.frame.window(o, self.context, self.horizon, &mut w);
            }
            return w;
        };
        // Each window alone, for its series' base, then appended.
        let mut one = WindowBuffers::default();
        for &o in origins {
            one.clear();
            self.frame.window(o, self.context, self.horizon, &mut one);
            let fit = &bases[self.segment_of(o).0];
            w.base.extend(fit.predict(&one).iter().map(|&v| v as f32));
            w.append(&one);
        }
        w
    }
}
