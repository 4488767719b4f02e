//! `burn-rnn eval` of a forecast run: the rolling-origin backtest over the test part, the model
//! beside the naive, seasonal-naive and linear baselines, with `backtest.csv`, `backtest.json`
//! and `forecast.svg` written into the run folder.
//!
//! Every origin's forecast sees only the steps before it (and the known future of its horizon);
//! all origins run as one batch.

use std::path::Path;

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

/// The model's forecasts from `origins`, in the targets' units: `[origin][step][target]`.
pub fn model_forecasts<B: Backend>(
    model: &Forecaster<B>,
    problem: &Problem,
    origins: &[usize],
    device: &B::Device,
) -> Vec<Vec<Vec<f64>>> {
    let w = problem.windows(origins);
    forecast_windows(model, w, &problem.scalers.targets, problem.horizon, device)
}

/// The model's forecasts of windows `w`, in the targets' units: `[window][step][target]`.
pub fn forecast_windows<B: Backend>(
    model: &Forecaster<B>,
    w: WindowBuffers,
    targets: &[Scaler],
    horizon: usize,
    device: &B::Device,
) -> Vec<Vec<Vec<f64>>> {
    let n = w.windows;
    let (context, known, _, _) = batch_tensors::<B>(w, model.encoder.input_size(), device);
    let pred: Vec<f32> = model
        .forward(context, known)
        .into_data()
        .convert::<f32>()
        .to_vec()
        .expect("f32 forecasts");
    unscaled(&pred, n, horizon, targets)
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
    // Every method's forecasts, [method][origin][step][target].
    let mut forecasts = vec![model_forecasts::<B>(&model, &problem, &origins, device)];
    let per_target = |f: &dyn Fn(&[f64], usize) -> Vec<f64>| -> Vec<Vec<Vec<f64>>> {
        origins
            .iter()
            .map(|&o| {
                let cols: Vec<Vec<f64>> = series.targets.iter().map(|c| f(&c.values, o)).collect();
                (0..h)
                    .map(|k| cols.iter().map(|c| c[k]).collect())
                    .collect()
            })
            .collect()
    };
    forecasts.push(per_target(&|v, o| naive(v, o, h)));
    forecasts.push(per_target(&|v, o| seasonal_naive(v, o, h, season)));
    let fit_origins = Split::origins(0, split.test_start, problem.context, h, 1);
    let linear =
        Linear::fit(&problem.frame, &fit_origins, problem.context, h).ok_or_else(|| {
            ForecastError::TooShort {
                path: series.path.clone(),
                steps: split.len,
                message: "no training window for the linear baseline".into(),
            }
        })?;
    let lin = linear.predict(&problem.windows(&origins));
    forecasts.push(unscaled(&lin, origins.len(), h, &problem.scalers.targets));
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
    let mut csv_text =
        String::from("origin,step,time,target,actual,model,naive,seasonal_naive,linear\n");
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
                csv_text += &row;
                csv_text.push('\n');
            }
        }
    }
    let scores: Vec<Scores> = sums
        .iter()
        .map(|s| s.scores(&scale).unwrap_or_default())
        .collect();
    let result = Backtest {
        model: scores[0],
        naive: scores[1],
        seasonal_naive: scores[2],
        linear: scores[3],
        origins: origins.len(),
        horizon: h,
    };
    write_atomic(&run.root().join("backtest.csv"), csv_text.as_bytes())?;
    let json = serde_json::to_vec_pretty(&result).expect("scores serialise");
    write_atomic(&run.root().join("backtest.json"), &json)?;
    let svg = run.root().join("forecast.svg");
    plot(&svg, &problem, &origins, &forecasts).map_err(|message| ForecastError::Write {
        path: svg.clone(),
        message,
    })?;
    Ok(result)
}

/// The time of step `s` as the table writes it (its step number without a time column).
pub fn time_label(problem: &Problem, s: usize) -> String {
    match (&problem.series.times, problem.series.format) {
        (Some(times), Some(format)) if s < times.len() => format.format(times[s]),
        _ => s.to_string(),
    }
}

/// The backtest as a table: one row per method, MAE, RMSE, sMAPE and MASE.
pub fn table(b: &Backtest) -> String {
    let mut out = format!(
        "backtest: {} origins x {} steps\n{:<16} {:>12} {:>12} {:>9} {:>8}\n",
        b.origins, b.horizon, "method", "MAE", "RMSE", "sMAPE %", "MASE"
    );
    for (name, s) in METHODS
        .iter()
        .zip([b.model, b.naive, b.seasonal_naive, b.linear])
    {
        out += &format!(
            "{name:<16} {:>12.4} {:>12.4} {:>9.2} {:>8.3}\n",
            s.mae, s.rmse, s.smape, s.mase
        );
    }
    out
}

/// Draws the first target's history, its actuals, and the model's and seasonal naive's
/// forecasts from the last origins (one horizon apart) into an SVG file.
fn plot(
    path: &Path,
    problem: &Problem,
    origins: &[usize],
    forecasts: &[Vec<Vec<Vec<f64>>>],
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
