//! `burn-rnn eval` of a forecast run: the rolling-origin backtest over the test part, the model
//! beside the naive, seasonal-naive and linear baselines, with `backtest.csv`, `backtest.json`
//! and `forecast.svg` written into the run folder.
//!
//! Every origin's forecast sees only the steps before it (and the known future of its horizon);
//! all origins run as one batch. A probabilistic model's quantiles are scored too (the scaled
//! quantile loss and each central interval's coverage), beside the baselines' intervals: each
//! baseline's forecast plus the empirical quantiles of its own errors, per horizon step and
//! target, before the test part (naive and seasonal naive: every window before it; the linear
//! autoregression: fitted on the training part, its errors over the validation part).

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
use crate::app::forecast::{ForecastError, read_config, read_scalers};
use crate::forecast::baselines::{Linear, naive, seasonal_naive};
use crate::forecast::interval::{IntervalSum, central_intervals, residual_quantiles};
use crate::forecast::metrics::{ScoreSum, Scores, seasonal_naive_mae};
use crate::forecast::scale::Scaler;
use crate::forecast::window::{Frame, Split, WindowBuffers};
use crate::model::Forecaster;

/// The scores of the backtest, as `backtest.json` holds them.
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
    /// Forecast origins in the test part.
    pub origins: usize,
    /// Steps per forecast.
    pub horizon: usize,
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
    let model = config
        .model_config(f.targets.len(), f.context_width(), f.known_width())
        .init::<B>(device);
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
#[derive(Clone, Debug, PartialEq)]
pub struct Forecasts {
    /// The point forecasts, `[origin][step][target]`.
    pub point: Vec<Vec<Vec<f64>>>,
    /// A probabilistic forecast's quantiles at the config's levels,
    /// `[origin][step][target][level]`.
    pub quantiles: Option<Vec<Vec<Vec<Vec<f64>>>>>,
}

/// The model's forecasts from `origins` (quantiles at `levels` when it is probabilistic).
pub fn model_forecasts<B: Backend>(
    model: &Forecaster<B>,
    problem: &Problem,
    origins: &[usize],
    levels: &[f64],
    device: &B::Device,
) -> Forecasts {
    let w = problem.windows(origins);
    forecast_windows(model, w, &problem.scalers.targets, levels, device)
}

/// The model's forecasts of windows `w` in the targets' units (quantiles at `levels` when it is
/// probabilistic).
pub fn forecast_windows<B: Backend>(
    model: &Forecaster<B>,
    w: WindowBuffers,
    targets: &[Scaler],
    levels: &[f64],
    device: &B::Device,
) -> Forecasts {
    let n = w.windows;
    let horizon = model.horizon;
    let (context, known, _, _) = batch_tensors::<B>(w, model.encoder.input_size(), device);
    let pred = model.forward(context, known);
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
                unscaled(&column, n, horizon, targets)
            })
            .collect();
        // [level][origin][step][target] -> [origin][step][target][level]
        (0..n)
            .map(|i| {
                (0..horizon)
                    .map(|s| {
                        (0..targets.len())
                            .map(|t| per_level.iter().map(|f| f[i][s][t]).collect())
                            .collect()
                    })
                    .collect()
            })
            .collect()
    });
    Forecasts {
        point: unscaled(&flat(model.point(pred)), n, horizon, targets),
        quantiles,
    }
}

/// Scaled forecasts `[windows, horizon, targets]` (flat) in the targets' units, nested.
fn unscaled<T: Copy + Into<f64>>(
    pred: &[T],
    windows: usize,
    horizon: usize,
    targets: &[Scaler],
) -> Vec<Vec<Vec<f64>>> {
    let j = targets.len();
    (0..windows)
        .map(|i| {
            (0..horizon)
                .map(|k| {
                    (0..j)
                        .map(|t| targets[t].unscale(pred[(i * horizon + k) * j + t].into()))
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// A baseline's interval forecasts: its point forecasts `point` (`[origin][step][target]`) plus
/// the `levels` quantiles of its errors `errors` (`[step * targets + target]`, actual minus
/// forecast).
fn with_error_quantiles(
    point: &[Vec<Vec<f64>>],
    errors: &[Vec<f64>],
    levels: &[f64],
) -> Vec<Vec<Vec<Vec<f64>>>> {
    let r = residual_quantiles(errors, levels);
    point
        .iter()
        .map(|steps| {
            steps
                .iter()
                .enumerate()
                .map(|(k, values)| {
                    let j = values.len();
                    values
                        .iter()
                        .enumerate()
                        .map(|(t, v)| r[k * j + t].iter().map(|q| v + q).collect())
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// The errors (actual minus forecast) of forecasts `f` (`[origin][step][target]`) from
/// `origins`, per `step * targets + target`, over the observed actuals.
fn errors(problem: &Problem, origins: &[usize], f: &[Vec<Vec<f64>>]) -> Vec<Vec<f64>> {
    let targets = &problem.series.targets;
    let mut out = vec![Vec::new(); problem.horizon * targets.len()];
    for (i, &o) in origins.iter().enumerate() {
        for (k, values) in f[i].iter().enumerate() {
            for (t, col) in targets.iter().enumerate() {
                if col.observed[o + k] {
                    out[k * targets.len() + t].push(col.values[o + k] - values[t]);
                }
            }
        }
    }
    out
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
    let problem = Problem::new(&config, csv, Some(read_scalers(run)?))?;
    let model = load_forecaster::<B>(run, checkpoint, &config, &problem.frame, device)?;
    let (h, season) = (problem.horizon, config.forecast.season);
    let split = problem.split;
    let origins = problem.test_origins(config.forecast.origin_every);
    let series = &problem.series;
    let targets = series.targets.len();
    let levels = &config.forecast.quantiles;
    let model_forecasts = model_forecasts::<B>(&model, &problem, &origins, levels, device);
    let probabilistic = model_forecasts.quantiles.is_some();
    // Every method's forecasts, [method][origin][step][target].
    let mut forecasts = vec![model_forecasts.point];
    let per_target = |origins: &[usize], f: &dyn Fn(&[f64], usize) -> Vec<f64>| {
        origins
            .iter()
            .map(|&o| {
                let cols: Vec<Vec<f64>> = series.targets.iter().map(|c| f(&c.values, o)).collect();
                (0..h)
                    .map(|k| cols.iter().map(|c| c[k]).collect())
                    .collect()
            })
            .collect::<Vec<Vec<Vec<f64>>>>()
    };
    let naive_f = |v: &[f64], o: usize| naive(v, o, h);
    let seasonal_f = |v: &[f64], o: usize| seasonal_naive(v, o, h, season);
    forecasts.push(per_target(&origins, &naive_f));
    forecasts.push(per_target(&origins, &seasonal_f));
    let fit_origins = Split::origins(0, split.test_start, problem.context, h, 1);
    let too_short = || ForecastError::TooShort {
        path: series.path.clone(),
        steps: split.len,
        message: "no training window for the linear baseline".into(),
    };
    let linear =
        Linear::fit(&problem.frame, &fit_origins, problem.context, h).ok_or_else(too_short)?;
    let lin = linear.predict(&problem.windows(&origins));
    forecasts.push(unscaled(&lin, origins.len(), h, &problem.scalers.targets));
    // Every method's quantiles, [method][origin][step][target][level], for a probabilistic model.
    let intervals = match model_forecasts.quantiles {
        Some(model_q) => {
            let seasonal_from: Vec<usize> = fit_origins
                .iter()
                .copied()
                .filter(|&o| o >= season)
                .collect();
            let naive_errors = errors(&problem, &fit_origins, &per_target(&fit_origins, &naive_f));
            let seasonal_errors = errors(
                &problem,
                &seasonal_from,
                &per_target(&seasonal_from, &seasonal_f),
            );
            let train = problem.train_origins();
            let val = problem.val_origins();
            let early =
                Linear::fit(&problem.frame, &train, problem.context, h).ok_or_else(too_short)?;
            let early = early.predict(&problem.windows(&val));
            let linear_errors = errors(
                &problem,
                &val,
                &unscaled(&early, val.len(), h, &problem.scalers.targets),
            );
            Some(vec![
                model_q,
                with_error_quantiles(&forecasts[1], &naive_errors, levels),
                with_error_quantiles(&forecasts[2], &seasonal_errors, levels),
                with_error_quantiles(&forecasts[3], &linear_errors, levels),
            ])
        }
        None => None,
    };
    let scale: Vec<f64> = series
        .targets
        .iter()
        .map(|c| {
            seasonal_naive_mae(&c.values, &c.observed, split.test_start, season)
                .or_else(|| seasonal_naive_mae(&c.values, &c.observed, split.test_start, 1))
                .unwrap_or(1.0)
        })
        .collect();
    let mut sums = vec![ScoreSum::new(targets); METHODS.len()];
    let mut interval_sums = vec![IntervalSum::new(targets, levels); METHODS.len()];
    let mut csv_text =
        String::from("origin,step,time,target,actual,model,naive,seasonal_naive,linear");
    if probabilistic {
        for m in METHODS {
            for l in levels {
                csv_text += &format!(",{m}_q{l}");
            }
        }
    }
    csv_text.push('\n');
    for (i, &o) in origins.iter().enumerate() {
        for k in 0..h {
            for (t, col) in series.targets.iter().enumerate() {
                let s = o + k;
                let observed = col.observed[s];
                let actual = col.values[s];
                let mut row = format!(
                    "{},{},{},{},{}",
                    time_label(&problem, o),
                    k + 1,
                    time_label(&problem, s),
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
                        sums[m].add(t, actual, v);
                    }
                }
                for (m, q) in intervals.iter().flatten().enumerate() {
                    let q = &q[i][k][t];
                    for v in q {
                        row += &format!(",{v}");
                    }
                    if observed {
                        interval_sums[m].add(t, actual, q);
                    }
                }
                csv_text += &row;
                csv_text.push('\n');
            }
        }
    }
    let scores: Vec<Scores> = sums
        .iter()
        .zip(&interval_sums)
        .map(|(s, i)| {
            let point = s.scores(&scale).unwrap_or_default();
            match i.scores(&scale) {
                Some(i) if probabilistic => point.with_intervals(i),
                _ => point,
            }
        })
        .collect();
    let mut scores = scores.into_iter();
    let mut next = || scores.next().expect("a score per method");
    let result = Backtest {
        model: next(),
        naive: next(),
        seasonal_naive: next(),
        linear: next(),
        origins: origins.len(),
        horizon: h,
    };
    write_atomic(&run.root().join("backtest.csv"), csv_text.as_bytes())?;
    let json = serde_json::to_vec_pretty(&result).expect("scores serialise");
    write_atomic(&run.root().join("backtest.json"), &json)?;
    let svg = run.root().join("forecast.svg");
    let band = intervals.as_ref().and_then(|q| {
        let (lo, hi, nominal) = *central_intervals(levels).first()?;
        Some(Band {
            quantiles: &q[0],
            lo,
            hi,
            nominal,
        })
    });
    plot(&svg, &problem, &origins, &forecasts, band).map_err(|message| ForecastError::Write {
        path: svg.clone(),
        message,
    })?;
    Ok(result)
}

/// The model's widest central interval, for the plot.
struct Band<'a> {
    /// `[origin][step][target][level]`.
    quantiles: &'a [Vec<Vec<Vec<f64>>>],
    lo: usize,
    hi: usize,
    nominal: f64,
}

/// The time of step `s` as the table writes it (its step number without a time column).
pub fn time_label(problem: &Problem, s: usize) -> String {
    match (&problem.series.times, problem.series.format) {
        (Some(times), Some(format)) if s < times.len() => format.format(times[s]),
        _ => s.to_string(),
    }
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
    out
}

/// Draws the first target's history, its actuals, and the model's and seasonal naive's
/// forecasts from the last origins (one horizon apart) into an SVG file, with the model's
/// widest central interval as a band when it has one.
fn plot(
    path: &Path,
    problem: &Problem,
    origins: &[usize],
    forecasts: &[Vec<Vec<Vec<f64>>>],
    band: Option<Band>,
) -> Result<(), String> {
    let col = &problem.series.targets[0];
    let split = problem.split;
    let from = split
        .test_start
        .saturating_sub(3 * problem.horizon.max(problem.context / 2));
    let last: Vec<usize> = (0..origins.len())
        .rev()
        .step_by(problem.horizon)
        .take(4)
        .collect();
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for v in &col.values[from..split.len] {
        lo = lo.min(*v);
        hi = hi.max(*v);
    }
    for &i in &last {
        for m in [0, 2] {
            for step in &forecasts[m][i] {
                lo = lo.min(step[0]);
                hi = hi.max(step[0]);
            }
        }
        if let Some(b) = &band {
            for step in &b.quantiles[i] {
                lo = lo.min(step[0][b.lo]);
                hi = hi.max(step[0][b.hi]);
            }
        }
    }
    let pad = ((hi - lo) * 0.05).max(1e-9);
    crate::app::plot::register_font();
    let root = SVGBackend::new(path, (1000, 520)).into_drawing_area();
    let e = |e: DrawingAreaErrorKind<_>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{}: backtest, the last origins", col.name),
            ("sans-serif", 20),
        )
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(from..split.len, (lo - pad)..(hi + pad))
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc(if problem.series.times.is_some() {
            "time"
        } else {
            "step"
        })
        .x_label_formatter(&|s| time_label(problem, *s))
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
            let upper = (0..problem.horizon).map(|k| (o + k, b.quantiles[i][k][0][b.hi]));
            let lower = (0..problem.horizon)
                .rev()
                .map(|k| (o + k, b.quantiles[i][k][0][b.lo]));
            let polygon = Polygon::new(upper.chain(lower).collect::<Vec<_>>(), BLUE.mix(0.2));
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
            let points = (0..problem.horizon).map(|k| (o + k, forecasts[m][i][k][0]));
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
