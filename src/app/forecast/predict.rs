//! `burn-rnn forecast`: the horizon after the last row with a target, from a trained run; a
//! probabilistic model's quantiles follow the point forecasts (`{target}_q{level}` columns).
//!
//! Rows after that row that hold only future covariates give the horizon's known future; a model
//! that needs them and does not find them is an error naming what is missing. Calendar features
//! of the horizon come from the series' frequency.

use std::path::Path;

use burn::tensor::backend::Backend;

use crate::app::checkpoint::RunDir;
use crate::app::forecast::backtest::{forecast_windows, load_forecaster};
use crate::app::forecast::{ForecastError, read_config, read_scalers};
use crate::forecast::series::Series;
use crate::forecast::window::{Frame, WindowBuffers};

/// The forecast CSV (`time` or `step`, then one column per target) of the horizon after the last
/// row with a target of `csv` (the run's table unless given), from checkpoint `checkpoint`.
pub fn forecast<B: Backend>(
    run: &RunDir,
    checkpoint: &str,
    csv: Option<&Path>,
    device: &B::Device,
) -> Result<String, ForecastError> {
    let config = read_config(run)?;
    let scalers = read_scalers(run)?;
    let path = csv.unwrap_or(&config.data.csv);
    let mut series = Series::read(path, &config.series_spec())?;
    let (context, horizon) = (config.forecast.context, config.forecast.horizon);
    let len = series.len;
    if len < context {
        return Err(ForecastError::TooShort {
            path: path.to_path_buf(),
            steps: len,
            message: format!("a forecast reads forecast.context = {context} steps"),
        });
    }
    let after = series.steps() - len;
    if after < horizon {
        if !series.future.is_empty() {
            let names: Vec<String> = series
                .future
                .iter()
                .map(|c| format!("`{}`", c.name))
                .collect();
            return Err(ForecastError::NoFuture(format!(
                "{}: the model needs the future covariates {} for the {horizon} steps after the last row with a target; the table has {after} such row(s): add rows with the time and those columns (the targets left empty)",
                path.display(),
                names.join(", ")
            )));
        }
        extend(&mut series, horizon - after);
    }
    let frame = Frame::new(&series, &scalers, config.data.calendar);
    let model = load_forecaster::<B>(run, checkpoint, &config, &frame, device)?;
    let mut w = WindowBuffers::default();
    frame.window(len, context, horizon, &mut w);
    let levels = &config.forecast.quantiles;
    let f = forecast_windows(&model, w, &scalers.targets, levels, device);
    let pred = &f.point[0];
    let quantiles = f.quantiles.as_ref().map(|q| &q[0]);
    let time_col = if series.times.is_some() {
        "time"
    } else {
        "step"
    };
    let mut header = vec![time_col.to_string()];
    header.extend(series.targets.iter().map(|c| c.name.clone()));
    if quantiles.is_some() {
        for c in &series.targets {
            header.extend(levels.iter().map(|l| format!("{}_q{l}", c.name)));
        }
    }
    let mut out = header.join(",");
    out.push('\n');
    for (k, step) in pred.iter().enumerate() {
        let s = len + k;
        let label = match (&series.times, series.format) {
            (Some(t), Some(f)) => f.format(t[s]),
            _ => (s + 1).to_string(),
        };
        out += &label;
        for v in step {
            out += &format!(",{v}");
        }
        for per_target in quantiles.iter().flat_map(|q| &q[k]) {
            for v in per_target {
                out += &format!(",{v}");
            }
        }
        out.push('\n');
    }
    Ok(out)
}

/// Adds `n` steps after the series' last, for a forecast that needs only their times (calendar
/// features) or nothing: times by the series' frequency (rows taken as steps: the last step
/// between rows, repeated), other values repeating the last.
fn extend(series: &mut Series, n: usize) {
    match (&mut series.times, series.frequency) {
        (Some(times), Some(freq)) => {
            let last = *times.last().expect("a series has steps");
            times.extend((1..=n as i64).map(|k| freq.advance(last, k)));
        }
        (Some(times), None) => {
            // Rows are steps (gaps = "ignore"): the horizon's times continue the last step (rows
            // with the horizon's own times, after the last target value, give them exactly).
            let last = *times.last().expect("a series has steps");
            let step = times.len().checked_sub(2).map_or(1, |i| last - times[i]);
            times.extend((1..=n as i64).map(|k| last + k * step));
        }
        (None, _) => {}
    }
    for col in series.targets.iter_mut().chain(&mut series.past) {
        let last = *col.values.last().expect("a column has values");
        col.values.extend(std::iter::repeat_n(last, n));
        col.observed.extend(std::iter::repeat_n(false, n));
    }
}
