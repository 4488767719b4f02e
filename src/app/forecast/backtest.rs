//! `burn-rnn eval` of a forecast run: the rolling-origin backtest over the test part, the model
//! beside the naive, seasonal-naive and linear baselines, with `backtest.csv`, `backtest.json`
//! and `forecast.svg` written into the run folder.
//!
//! Every origin's forecast sees only the steps before it (and the known future of its horizon);
//! all origins run as one batch. A probabilistic model's quantiles are scored too (the scaled
//! quantile loss and each central interval's coverage), beside the baselines' intervals: each
//! baseline's forecast plus the empirical quantiles of its own errors, per horizon step and
//! target, before the test part (naive and seasonal naive: every window before it; the linear
//! autoregression: fitted on the training part, its errors over the validation part). Every
//! method's intervals then widen after misses and narrow after hits of its forecasts whose
//! actuals lie before each origin (`forecast.interval_adaptation`).

use std::path::Path;

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use crate::app::checkpoint::RunDir;
use crate::app::checkpoint::record::load_module;
use crate::app::checkpoint::write_atomic;
use crate::app::forecast::config::ForecastConfig;
use crate::app::forecast::problem::Problem;
use crate::app::forecast::train::batch_tensors;
use crate::app::forecast::{
    ForecastError, local_base, read_config, read_local_bases, read_scalers,
};
use crate::app::plot::finite_points;
use crate::forecast::baselines::{naive, seasonal_naive};
use crate::forecast::interval::{IntervalSum, adapt_widths, central_intervals, residual_quantiles};
use crate::forecast::linear::Linear;
use crate::forecast::metrics::{ScoreSum, Scores, seasonal_naive_mae};
use crate::forecast::scale::Scaler;
use crate::forecast::series::AsOf;
use crate::forecast::window::{Frame, Scalers, WindowBuffers};
use crate::model::Forecaster;

/// The scores of the backtest, as `backtest.json` holds them. For a long-format table every
/// score is the mean over the series of each series' score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Backtest {
    /// The trained model.
    pub model: Scores,
    /// The last value.
    pub naive: Scores,
    /// The value one season earlier.
    pub seasonal_naive: Scores,
    /// The linear autoregression.
    pub linear: Scores,
    /// Forecast origins in the test parts (of all series).
    pub origins: usize,
    /// Steps per forecast.
    pub horizon: usize,
    /// A long-format table's series: how many, and the worst by the model's MASE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<SeriesScores>,
}

/// The per-series side of a long-format table's backtest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeriesScores {
    /// Series backtested.
    pub count: usize,
    /// Series left out (too short, or with nothing to scale), each line naming one.
    pub skipped: Vec<String>,
    /// The (at most) ten series with the highest model MASE, worst first: name, the model's
    /// MASE and seasonal naive's.
    pub worst: Vec<(String, f64, f64)>,
}

/// The methods, in the table's and the CSV's order.
pub const METHODS: [&str; 4] = ["model", "naive", "seasonal_naive", "linear"];

/// Loads a forecast run's model from checkpoint `name`, for windows of `frame`.
pub fn load_forecaster<B: Backend>(
    run: &RunDir,
    name: &str,
    config: &ForecastConfig,
    frame: &Frame,
    device: &B::Device,
) -> Result<Forecaster<B>, ForecastError> {
    let f = frame;
    let model = config.model_config(f).init::<B>(device);
    let (_, files) = run.load_checkpoint(name)?;
    let dir = run.checkpoint_dir(name);
    Ok(load_module(
        model,
        &files,
        &dir,
        "model.bin",
        "the run's config.toml",
        device,
    )?)
}

/// Forecasts from several origins, in the targets' units.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Forecasts {
    /// The point forecasts, `[origin][step][target]`.
    pub point: Vec<Vec<Vec<f64>>>,
    /// A probabilistic forecast's quantiles at the config's levels,
    /// `[origin][step][target][level]`.
    pub quantiles: Option<Vec<Vec<Vec<Vec<f64>>>>>,
}

impl Forecasts {
    /// An error naming the first forecast that is not a finite number, with `origin(i)` naming
    /// the window `i` it comes from.
    pub fn check_finite(&self, origin: impl Fn(usize) -> String) -> Result<(), ForecastError> {
        for (i, steps) in self.point.iter().enumerate() {
            let levels = self.quantiles.as_ref().map(|q| &q[i]);
            let point = steps.iter().flatten();
            let quantiles = levels.into_iter().flatten().flatten().flatten();
            if let Some(v) = point.chain(quantiles).find(|v| !v.is_finite()) {
                return Err(ForecastError::NotFinite(format!(
                    "the model forecasts {v} from {}: its checkpoint (or local_bases.json) is damaged, or the table's values lie far outside its training part's",
                    origin(i)
                )));
            }
        }
        Ok(())
    }
}

/// Windows per forward pass of a backtest.
pub(super) const CHUNK: usize = 4096;

/// The model's forecasts from `origins` (frame steps; quantiles at `levels` when it is
/// probabilistic), in chunks of `CHUNK` (4,096) windows.
pub fn model_forecasts<B: Backend>(
    model: &Forecaster<B>,
    problem: &Problem,
    origins: &[usize],
    levels: &[f64],
    device: &B::Device,
) -> Forecasts {
    let mut all = Forecasts::default();
    for chunk in origins.chunks(CHUNK) {
        let units = problem.target_units(chunk);
        let f = forecast_windows(model, problem.windows(chunk), &units, levels, device);
        all.point.extend(f.point);
        if let Some(q) = f.quantiles {
            all.quantiles.get_or_insert_with(Vec::new).extend(q);
        }
    }
    all
}

/// The model's forecasts of windows `w` in the targets' units, window `i` unscaled by its own
/// series' scalers from its origin in the series' steps, `units[i]` (quantiles at `levels` when
/// it is probabilistic).
pub fn forecast_windows<B: Backend>(
    model: &Forecaster<B>,
    w: WindowBuffers,
    units: &[(&Scalers, usize)],
    levels: &[f64],
    device: &B::Device,
) -> Forecasts {
    let n = w.windows;
    let horizon = model.horizon;
    let pred = batch_tensors::<B>(w, model.encoder.input_size(), device).forecast(model);
    let flat = |t: Tensor<B, 2>| -> Vec<f32> {
        t.into_data()
            .convert::<f32>()
            .to_vec()
            .expect("f32 forecasts")
    };
    let quantiles = (model.outputs > 1).then(|| {
        let q = flat(
            model
                .quantiles(pred.clone(), levels)
                .reshape([n as i32, -1]),
        );
        let k = levels.len();
        let per_level: Vec<Vec<Vec<Vec<f64>>>> = (0..k)
            .map(|l| {
                let column: Vec<f32> = q.iter().skip(l).step_by(k).copied().collect();
                unscaled(&column, horizon, units)
            })
            .collect();
        // [level][origin][step][target] -> [origin][step][target][level]
        (0..n)
            .map(|i| {
                (0..horizon)
                    .map(|s| {
                        (0..units[i].0.targets.len())
                            .map(|t| per_level.iter().map(|f| f[i][s][t]).collect())
                            .collect()
                    })
                    .collect()
            })
            .collect()
    });
    Forecasts {
        point: unscaled(&flat(model.point(pred)), horizon, units),
        quantiles,
    }
}

/// Scaled forecasts `[windows, horizon, targets]` (flat) in the targets' units, window `i`
/// unscaled by `units[i]` (its series' scalers, and its origin in the series' steps), nested.
pub(super) fn unscaled<T: Copy + Into<f64>>(
    pred: &[T],
    horizon: usize,
    units: &[(&Scalers, usize)],
) -> Vec<Vec<Vec<f64>>> {
    units
        .iter()
        .enumerate()
        .map(|(i, &(scalers, origin))| {
            let j = scalers.targets.len();
            (0..horizon)
                .map(|k| {
                    (0..j)
                        .map(|t| {
                            let v = pred[(i * horizon + k) * j + t].into();
                            scalers.unscale_target(t, origin + k, v)
                        })
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// A baseline's interval forecasts: its point forecasts `point` (`[origin][step][target]`) plus
/// the `levels` quantiles of its errors `errors[segment][step * targets + target]` (actual
/// minus forecast), each origin's from its segment `segments[i]`.
fn with_error_quantiles(
    point: &[Vec<Vec<f64>>],
    segments: &[usize],
    errors: &[Vec<Vec<f64>>],
    levels: &[f64],
) -> Vec<Vec<Vec<Vec<f64>>>> {
    let r: Vec<Vec<Vec<f64>>> = errors
        .iter()
        .map(|e| residual_quantiles(e, levels))
        .collect();
    point
        .iter()
        .zip(segments)
        .map(|(steps, &seg)| {
            steps
                .iter()
                .enumerate()
                .map(|(k, values)| {
                    let j = values.len();
                    values
                        .iter()
                        .enumerate()
                        .map(|(t, v)| r[seg][k * j + t].iter().map(|q| v + q).collect())
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// [`adapt_widths`] over each series' origins of `origins` (frame steps, ascending within a
/// series) for `quantiles` (`[origin][step][target][level]`), reading the observed actuals.
pub(super) fn adapt(
    problem: &Problem,
    origins: &[usize],
    quantiles: &mut [Vec<Vec<Vec<f64>>>],
    levels: &[f64],
    rate: f64,
) {
    let mut start = 0;
    while start < origins.len() {
        let seg = problem.segment_of(origins[start]).0;
        let end = origins[start..]
            .iter()
            .position(|&o| problem.segment_of(o).0 != seg)
            .map_or(origins.len(), |n| start + n);
        let local: Vec<usize> = origins[start..end]
            .iter()
            .map(|&o| problem.segment_of(o).1)
            .collect();
        let targets = &problem.segments[seg].series.targets;
        let actual = |s: usize, t: usize| targets[t].observed_at(s);
        adapt_widths(&mut quantiles[start..end], &local, &actual, levels, rate);
        start = end;
    }
}

/// The errors (actual minus forecast) of forecasts `f` (`[origin][step][target]`) from
/// `origins` (frame steps), per segment and `step * targets + target`, over the observed
/// actuals.
fn errors(problem: &Problem, origins: &[usize], f: &[Vec<Vec<f64>>]) -> Vec<Vec<Vec<f64>>> {
    let targets = problem.frame.targets.len();
    let mut out = vec![vec![Vec::new(); problem.horizon * targets]; problem.segments.len()];
    for (i, &o) in origins.iter().enumerate() {
        let (seg, local) = problem.segment_of(o);
        let series = &problem.segments[seg].series;
        for (k, values) in f[i].iter().enumerate() {
            for (t, col) in series.targets.iter().enumerate() {
                if col.observed[local + k] {
                    out[seg][k * targets + t].push(col.values[local + k] - values[t]);
                }
            }
        }
    }
    out
}

/// Forecasts from `origins` (frame steps) by `method`, a function of one target column's values
/// as the origin reads them ([`AsOf`]; the training part's mean where nothing before it was
/// observed) and the origin in its series, `[origin][step][target]`.
fn per_target(
    problem: &Problem,
    origins: &[usize],
    method: &dyn Fn(&AsOf, usize) -> Vec<f64>,
) -> Vec<Vec<Vec<f64>>> {
    // Each segment's targets' training means, read where nothing before an origin was observed.
    let means: Vec<Vec<f64>> = problem
        .segments
        .iter()
        .map(|s| {
            s.series
                .targets
                .iter()
                .map(|c| {
                    Scaler::fit(&c.values, &c.observed, s.split.val_start).map_or(0.0, |f| f.mean)
                })
                .collect()
        })
        .collect();
    origins
        .iter()
        .map(|&o| {
            let (seg, local) = problem.segment_of(o);
            let segment = &problem.segments[seg];
            let cols: Vec<Vec<f64>> = segment
                .series
                .targets
                .iter()
                .zip(&problem.frame.fills)
                .zip(&means[seg])
                .map(|((c, fills), &mean)| {
                    let history = AsOf {
                        values: &c.values,
                        fills,
                        offset: segment.offset,
                        origin: local,
                        fallback: mean,
                    };
                    method(&history, local)
                })
                .collect();
            (0..problem.horizon)
                .map(|k| cols.iter().map(|c| c[k]).collect())
                .collect()
        })
        .collect()
}

/// The naive forecasts from `origins`, `[origin][step][target]`.
fn naive_forecasts(problem: &Problem, origins: &[usize]) -> Vec<Vec<Vec<f64>>> {
    per_target(problem, origins, &|v, o| naive(v, o, problem.horizon))
}

/// The seasonal-naive forecasts from `origins`, `[origin][step][target]`: each origin needs
/// `season` steps of its series before it.
fn seasonal_forecasts(problem: &Problem, origins: &[usize], season: usize) -> Vec<Vec<Vec<f64>>> {
    per_target(problem, origins, &|v, o| {
        seasonal_naive(v, o, problem.horizon, season)
    })
}

/// The linear baseline fitted on the windows of `fit` and its forecasts from `origins`, in the
/// targets' units.
fn linear_forecasts(
    problem: &Problem,
    fit: &[usize],
    origins: &[usize],
) -> Result<Vec<Vec<Vec<f64>>>, ForecastError> {
    let linear =
        Linear::fit(&problem.frame, fit, problem.context, problem.horizon).ok_or_else(|| {
            ForecastError::TooShort {
                path: problem.path.clone(),
                steps: problem.frame.len,
                message: "no training window for the linear baseline".into(),
            }
        })?;
    let mut out = Vec::with_capacity(origins.len());
    for chunk in origins.chunks(CHUNK) {
        let pred = linear.predict(&problem.windows(chunk));
        out.extend(unscaled(
            &pred,
            problem.horizon,
            &problem.target_units(chunk),
        ));
    }
    Ok(out)
}

/// Runs the backtest of the run in `run` (checkpoint `checkpoint`, the config's table unless
/// `csv` is given) and writes its files into the run folder.
pub fn backtest<B: Backend>(
    run: &RunDir,
    checkpoint: &str,
    csv: Option<&Path>,
    device: &B::Device,
) -> Result<Backtest, ForecastError> {
    let config = read_config(run)?;
    let mut problem = Problem::new(&config, csv, Some(read_scalers(run, &config)?))?;
    if let Some(bases) = read_local_bases(run)? {
        let ordered = problem
            .segments
            .iter()
            .map(|seg| {
                let name = seg.id.as_deref().unwrap_or_default();
                let shape = (problem.context, problem.horizon);
                local_base(run, &bases, name, &problem.frame, shape).cloned()
            })
            .collect::<Result<Vec<_>, _>>()?;
        problem.local_bases = Some(ordered);
    }
    let problem = problem;
    let model = load_forecaster::<B>(run, checkpoint, &config, &problem.frame, device)?;
    let (h, season) = (problem.horizon, config.forecast.season);
    let origins = problem.test_origins(config.forecast.origin_every);
    let segment_of: Vec<usize> = origins.iter().map(|&o| problem.segment_of(o).0).collect();
    let levels = &config.forecast.quantiles;
    let model_forecasts = model_forecasts::<B>(&model, &problem, &origins, levels, device);
    model_forecasts.check_finite(|i| {
        let (seg, local) = problem.segment_of(origins[i]);
        let segment = &problem.segments[seg];
        format!(
            "{}origin {}",
            segment.label(),
            segment.series.time_label(local)
        )
    })?;
    let probabilistic = model_forecasts.quantiles.is_some();
    // Every method's forecasts, [method][origin][step][target].
    let naive_f = naive_forecasts(&problem, &origins);
    let seasonal_f = seasonal_forecasts(&problem, &origins, season);
    let before_test = problem.before_test_origins();
    // The linear baseline reads the targets as they are, never deseasonalized.
    let raw_problem = match problem.is_deseasonalized() {
        true => Some(problem.raw()?),
        false => None,
    };
    let raw = raw_problem.as_ref().unwrap_or(&problem);
    let linear_f = linear_forecasts(raw, &before_test, &origins)?;
    let forecasts = [model_forecasts.point, naive_f, seasonal_f, linear_f];
    // Every method's quantiles, [method][origin][step][target][level], for a probabilistic model.
    let mut intervals = match model_forecasts.quantiles {
        Some(model_q) => {
            let seasonal_from: Vec<usize> = before_test
                .iter()
                .copied()
                .filter(|&o| problem.segment_of(o).1 >= season)
                .collect();
            let naive_b = naive_forecasts(&problem, &before_test);
            let seasonal_b = seasonal_forecasts(&problem, &seasonal_from, season);
            let val = problem.val_origins();
            let early = linear_forecasts(raw, &raw.train_origins(), &val)?;
            let interval = |m: usize, errors: Vec<Vec<Vec<f64>>>| {
                with_error_quantiles(&forecasts[m], &segment_of, &errors, levels)
            };
            Some(vec![
                model_q,
                interval(1, errors(&problem, &before_test, &naive_b)),
                interval(2, errors(&problem, &seasonal_from, &seasonal_b)),
                interval(3, errors(&problem, &val, &early)),
            ])
        }
        None => None,
    };
    // Every method's intervals widened and narrowed alike by the misses before each origin.
    for method in intervals.iter_mut().flatten() {
        adapt(
            &problem,
            &origins,
            method,
            levels,
            config.forecast.interval_adaptation,
        );
    }
    // Per series: MASE's scale per target, then each method's sums.
    let targets = problem.frame.targets.len();
    let scales: Vec<Vec<f64>> = problem
        .segments
        .iter()
        .map(|seg| {
            let test_start = seg.split.test_start;
            seg.series
                .targets
                .iter()
                .map(|c| {
                    seasonal_naive_mae(&c.values, &c.observed, test_start, season)
                        .or_else(|| seasonal_naive_mae(&c.values, &c.observed, test_start, 1))
                        .unwrap_or(1.0)
                })
                .collect()
        })
        .collect();
    let panel = config.data.series.is_some();
    let mut sums = vec![vec![ScoreSum::new(targets); METHODS.len()]; problem.segments.len()];
    let mut interval_sums =
        vec![vec![IntervalSum::new(targets, levels); METHODS.len()]; problem.segments.len()];
    let mut csv_text = String::from(if panel { "series," } else { "" });
    csv_text += "origin,step,time,target,actual,model,naive,seasonal_naive,linear";
    if probabilistic {
        for m in METHODS {
            for l in levels {
                csv_text += &format!(",{m}_q{l}");
            }
        }
    }
    csv_text.push('\n');
    for (i, &o) in origins.iter().enumerate() {
        let (seg, local) = problem.segment_of(o);
        let segment = &problem.segments[seg];
        let series = &segment.series;
        for k in 0..h {
            for (t, col) in series.targets.iter().enumerate() {
                let s = local + k;
                let observed = col.observed[s];
                let actual = col.values[s];
                let mut row = match &segment.id {
                    Some(id) => format!("{},", csv_field(id)),
                    None => String::new(),
                };
                row += &format!(
                    "{},{},{},{},{}",
                    series.time_label(local),
                    k + 1,
                    series.time_label(s),
                    col.name,
                    if observed {
                        format!("{actual}")
                    } else {
                        String::new()
                    }
                );
                for (m, f) in forecasts.iter().enumerate() {
                    let v = f[i][k][t];
                    row += &format!(",{v}");
                    if observed {
                        sums[seg][m].add(t, actual, v);
                    }
                }
                for (m, q) in intervals.iter().flatten().enumerate() {
                    let q = &q[i][k][t];
                    for v in q {
                        row += &format!(",{v}");
                    }
                    if observed {
                        interval_sums[seg][m].add(t, actual, q);
                    }
                }
                csv_text += &row;
                csv_text.push('\n');
            }
        }
    }
    // [segment][method]
    let per_series: Vec<Vec<Scores>> = sums
        .iter()
        .zip(&interval_sums)
        .zip(&scales)
        .map(|((s, i), scale)| {
            s.iter()
                .zip(i)
                .map(|(s, i)| {
                    let point = s.scores(scale).unwrap_or_default();
                    match i.scores(scale) {
                        Some(i) if probabilistic => point.with_intervals(i),
                        _ => point,
                    }
                })
                .collect()
        })
        .collect();
    let mean = |m: usize| Scores::mean(per_series.iter().map(|s| &s[m]));
    let series = panel.then(|| {
        let mut worst: Vec<(String, f64, f64)> = problem
            .segments
            .iter()
            .zip(&per_series)
            .map(|(seg, s)| (seg.id.clone().unwrap_or_default(), s[0].mase, s[2].mase))
            .collect();
        worst.sort_by(|a, b| b.1.total_cmp(&a.1));
        worst.truncate(10);
        SeriesScores {
            count: problem.segments.len(),
            skipped: problem.skipped.clone(),
            worst,
        }
    });
    let result = Backtest {
        model: mean(0),
        naive: mean(1),
        seasonal_naive: mean(2),
        linear: mean(3),
        origins: origins.len(),
        horizon: h,
        series,
    };
    write_atomic(&run.root().join("backtest.csv"), csv_text.as_bytes())?;
    let json = serde_json::to_vec_pretty(&result).expect("scores serialise");
    write_atomic(&run.root().join("backtest.json"), &json)?;
    if panel {
        let mut text = String::from("series,method,mae,rmse,smape,mase,quantile_loss");
        let coverages: Vec<String> = result
            .model
            .coverage
            .as_ref()
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default();
        for c in &coverages {
            text += &format!(",coverage_{c}");
        }
        text.push('\n');
        for (seg, scores) in problem.segments.iter().zip(&per_series) {
            for (name, s) in METHODS.iter().zip(scores) {
                text += &format!(
                    "{},{name},{},{},{},{},{}",
                    csv_field(seg.id.as_deref().unwrap_or_default()),
                    s.mae,
                    s.rmse,
                    s.smape,
                    s.mase,
                    s.quantile_loss.map_or(String::new(), |q| q.to_string())
                );
                for c in &coverages {
                    let v = s.coverage.as_ref().and_then(|m| m.get(c));
                    text += &format!(",{}", v.map_or(String::new(), |v| v.to_string()));
                }
                text.push('\n');
            }
        }
        write_atomic(&run.root().join("backtest_series.csv"), text.as_bytes())?;
    }
    // The picture: the first series' last origins.
    let first: Vec<usize> = (0..origins.len()).filter(|&i| segment_of[i] == 0).collect();
    let pick = |f: &Vec<Vec<Vec<f64>>>| first.iter().map(|&i| f[i].clone()).collect::<Vec<_>>();
    let shown: Vec<Vec<Vec<Vec<f64>>>> = forecasts.iter().map(pick).collect();
    let shown_band: Option<Vec<Vec<Vec<Vec<f64>>>>> = intervals
        .as_ref()
        .map(|q| first.iter().map(|&i| q[0][i].clone()).collect());
    let local: Vec<usize> = first
        .iter()
        .map(|&i| problem.segment_of(origins[i]).1)
        .collect();
    let svg = run.root().join("forecast.svg");
    let band = shown_band.as_ref().and_then(|q| {
        let (lo, hi, nominal) = *central_intervals(levels).first()?;
        Some(Band {
            quantiles: q,
            lo,
            hi,
            nominal,
        })
    });
    let segment = &problem.segments[0];
    let view = View {
        segment,
        context: problem.context,
        horizon: h,
    };
    plot(&svg, &view, &local, &shown, band).map_err(|message| ForecastError::Write {
        path: svg.clone(),
        message,
    })?;
    Ok(result)
}

/// A CSV field: quoted when it holds a comma, a quote or a line break.
pub(super) fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// The model's widest central interval, for the plot.
struct Band<'a> {
    /// `[origin][step][target][level]`.
    quantiles: &'a [Vec<Vec<Vec<f64>>>],
    lo: usize,
    hi: usize,
    nominal: f64,
}

/// The series a plot shows, and the windows' sizes.
struct View<'a> {
    segment: &'a crate::app::forecast::problem::Segment,
    context: usize,
    horizon: usize,
}

/// The backtest as a table: one row per method, MAE, RMSE, sMAPE and MASE, and for interval
/// forecasts the quantile loss and each central interval's coverage.
pub fn table(b: &Backtest) -> String {
    let rows = [&b.model, &b.naive, &b.seasonal_naive, &b.linear];
    let coverages: Vec<String> = b
        .model
        .coverage
        .as_ref()
        .map(|c| c.keys().rev().cloned().collect())
        .unwrap_or_default();
    let mut out = format!(
        "backtest: {} origins x {} steps\n{:<16} {:>12} {:>12} {:>9} {:>8}",
        b.origins, b.horizon, "method", "MAE", "RMSE", "sMAPE %", "MASE"
    );
    if b.model.quantile_loss.is_some() {
        out += &format!(" {:>8}", "QL");
        for c in &coverages {
            let label = format!("cov {}%", (c.parse::<f64>().unwrap_or(0.0) * 100.0).round());
            out += &format!(" {label:>9}");
        }
    }
    out.push('\n');
    for (name, s) in METHODS.iter().zip(rows) {
        out += &format!(
            "{name:<16} {:>12.4} {:>12.4} {:>9.2} {:>8.3}",
            s.mae, s.rmse, s.smape, s.mase
        );
        if let Some(ql) = s.quantile_loss {
            out += &format!(" {ql:>8.3}");
            for c in &coverages {
                let v = s.coverage.as_ref().and_then(|m| m.get(c)).copied();
                out += &format!(" {:>8.1}%", v.unwrap_or(f64::NAN) * 100.0);
            }
        }
        out.push('\n');
    }
    if let Some(series) = &b.series {
        out += &format!(
            "{} series (each score above: the mean over them){}\nworst by the model's MASE (model, seasonal naive):",
            series.count,
            if series.skipped.is_empty() {
                String::new()
            } else {
                format!(", {} skipped", series.skipped.len())
            }
        );
        for (name, model, seasonal) in &series.worst {
            out += &format!(" {name} {model:.3} / {seasonal:.3};");
        }
        out.push('\n');
    }
    out
}

/// Draws the first target's history, its actuals, and the model's and seasonal naive's
/// forecasts from the last origins (one horizon apart) into an SVG file, with the model's
/// widest central interval as a band when it has one.
fn plot(
    path: &Path,
    view: &View,
    origins: &[usize],
    forecasts: &[Vec<Vec<Vec<f64>>>],
    band: Option<Band>,
) -> Result<(), String> {
    let series = &view.segment.series;
    let col = &series.targets[0];
    let split = view.segment.split;
    let from = split
        .test_start
        .saturating_sub(3 * view.horizon.max(view.context / 2));
    let last: Vec<usize> = (0..origins.len())
        .rev()
        .step_by(view.horizon)
        .take(4)
        .collect();
    // The value axis spans the finite values drawn; a value that is not finite is left out.
    let mut drawn: Vec<f64> = col.values[from..split.len].to_vec();
    for &i in &last {
        for m in [0, 2] {
            drawn.extend(forecasts[m][i].iter().map(|step| step[0]));
        }
        if let Some(b) = &band {
            drawn.extend(b.quantiles[i].iter().flat_map(|s| [s[0][b.lo], s[0][b.hi]]));
        }
    }
    let finite = drawn.into_iter().filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let pad = ((hi - lo) * 0.05).max(1e-9);
    if !(lo - pad).is_finite() || !(hi + pad).is_finite() {
        return Err("no finite value to draw".into());
    }
    crate::app::plot::register_font();
    let root = SVGBackend::new(path, (1000, 520)).into_drawing_area();
    let e = |e: DrawingAreaErrorKind<_>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "{}{}: backtest, the last origins",
                view.segment.label(),
                col.name
            ),
            ("sans-serif", 20),
        )
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(from..split.len, (lo - pad)..(hi + pad))
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc(if series.times.is_some() {
            "time"
        } else {
            "step"
        })
        .x_label_formatter(&|s| series.time_label(*s))
        .y_desc(col.name.as_str())
        .draw()
        .map_err(e)?;
    let history = (from..split.test_start).map(|s| (s, col.values[s]));
    chart
        .draw_series(LineSeries::new(history, BLACK.stroke_width(2)))
        .map_err(e)?
        .label("history")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(2)));
    let actual = (split.test_start.saturating_sub(1)..split.len).map(|s| (s, col.values[s]));
    chart
        .draw_series(LineSeries::new(actual, BLACK.mix(0.5).stroke_width(2)))
        .map_err(e)?
        .label("actual (test)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.5)));
    if let Some(b) = &band {
        let label = format!("model, {:.0}% interval", b.nominal * 100.0);
        for (n, &i) in last.iter().enumerate() {
            let o = origins[i];
            let upper = (0..view.horizon).map(|k| (o + k, b.quantiles[i][k][0][b.hi]));
            let lower = (0..view.horizon)
                .rev()
                .map(|k| (o + k, b.quantiles[i][k][0][b.lo]));
            let polygon = Polygon::new(finite_points(upper.chain(lower)), BLUE.mix(0.2));
            let series = chart.draw_series(std::iter::once(polygon)).map_err(e)?;
            if n == 0 {
                series.label(label.clone()).legend(|(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 20, y + 5)], BLUE.mix(0.2).filled())
                });
            }
        }
    }
    for (m, color, label) in [(0, BLUE, "model"), (2, RED, "seasonal naive")] {
        for (n, &i) in last.iter().enumerate() {
            let o = origins[i];
            let points = finite_points((0..view.horizon).map(|k| (o + k, forecasts[m][i][k][0])));
            let series = chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))
                .map_err(e)?;
            if n == 0 {
                series
                    .label(label)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            }
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(e)?;
    root.present().map_err(e)
}
