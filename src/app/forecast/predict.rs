//! `burn-rnn forecast`: the horizon after the last row with a target, from a trained run; a
//! probabilistic model's quantiles follow the point forecasts (`{target}_q{level}` columns),
//! their widths adapted by the same rule as `eval`'s backtest (`forecast.interval_adaptation`),
//! over the origins of the `test` steps before the forecast's own.
//!
//! Rows after that row that hold only future covariates give the horizon's known future; a model
//! that needs them and does not find them is an error naming what is missing. Calendar features
//! of the horizon come from the series' frequency.

use std::path::Path;

use burn::tensor::backend::Backend;

use crate::app::checkpoint::RunDir;
use crate::app::forecast::backtest::{CHUNK, forecast_windows, load_forecaster};
use crate::app::forecast::config::ForecastConfig;
use crate::app::forecast::problem::{check_scale, read_members, shared_cycles};
use crate::app::forecast::{
    ForecastError, RunScalers, local_base, read_config, read_local_bases, read_scalers,
};
use crate::forecast::interval::adapt_widths;
use crate::forecast::linear::Linear;
use crate::forecast::series::Series;
use crate::forecast::time::continue_rows;
use crate::forecast::window::{Frame, Scalers, WindowBuffers};
use crate::model::Forecaster;

/// The forecast CSV (`time` or `step`, then one column per target; a long-format table's
/// `series` column first, one block of rows per series) of the horizon after the last row with
/// a target of `csv` (the run's table unless given), from checkpoint `checkpoint`. Series of a
/// long-format table that training left out (no scaling saved for them) are left out.
pub fn forecast<B: Backend>(
    run: &RunDir,
    checkpoint: &str,
    csv: Option<&Path>,
    device: &B::Device,
) -> Result<String, ForecastError> {
    let config = read_config(run)?;
    let scalers = read_scalers(run, &config)?;
    let path = csv.unwrap_or(&config.data.csv);
    let members: Vec<(Option<String>, Series, Scalers)> =
        match (read_members(&config, path)?, scalers) {
            (members, RunScalers::One(s)) if config.data.series.is_none() => members
                .into_iter()
                .map(|(id, series)| (id, series, s.clone()))
                .collect(),
            (members, RunScalers::Many { series: saved }) if config.data.series.is_some() => {
                members
                    .into_iter()
                    .filter_map(|(id, series)| {
                        let scalers = saved.get(id.as_deref()?)?.clone();
                        Some((id, series, scalers))
                    })
                    .collect()
            }
            _ => {
                return Err(ForecastError::RunFile {
                    path: super::scalers_path(run),
                    message: "does not match data.series (one series against many)".into(),
                });
            }
        };
    let (context, horizon) = (config.forecast.context, config.forecast.horizon);
    // The calendar features as training laid them.
    let cycles = shared_cycles(members.iter().map(|(_, s, _)| s), config.data.calendar);
    let local_bases = read_local_bases(run)?;
    let mut w = WindowBuffers::default();
    let mut kept = Vec::new();
    let mut model = None;
    for (id, mut series, mut scalers) in members {
        let label = id
            .as_ref()
            .map_or(String::new(), |id| format!(", series `{id}`"));
        let len = series.len;
        if len < context {
            return Err(ForecastError::TooShort {
                path: path.to_path_buf(),
                steps: len,
                message: format!("a forecast reads forecast.context = {context} steps{label}"),
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
                    "{}{label}: the model needs the future covariates {} for the {horizon} steps after the last row with a target; the table has {after} such row(s): add rows with the time and those columns (the targets left empty)",
                    path.display(),
                    names.join(", ")
                )));
            }
            extend(&mut series, horizon - after);
        }
        scalers
            .align(&series)
            .and_then(|()| check_scale(&series, &scalers))
            .map_err(|message| ForecastError::Unusable {
                path: path.to_path_buf(),
                message: match &id {
                    Some(id) => format!("series `{id}`: {message}"),
                    None => message,
                },
            })?;
        let frame = Frame::with_cycles(&series, &scalers, &cycles);
        if model.is_none() {
            model = Some(load_forecaster::<B>(
                run, checkpoint, &config, &frame, device,
            )?);
        }
        let base = match &local_bases {
            Some(bases) => {
                let name = id.as_deref().unwrap_or_default();
                Some(local_base(run, bases, name, &frame, (context, horizon))?)
            }
            None => None,
        };
        append_windows(&mut w, &frame, &[len], base, (context, horizon));
        kept.push(Member {
            id,
            series,
            scalers,
            frame,
            base,
        });
    }
    let Some(model) = model else {
        return Err(ForecastError::Unusable {
            path: path.to_path_buf(),
            message: "no series of the table was trained on".into(),
        });
    };
    let levels = &config.forecast.quantiles;
    let units: Vec<(&Scalers, usize)> = kept.iter().map(|m| (&m.scalers, m.series.len)).collect();
    let mut f = forecast_windows(&model, w, &units, levels, device);
    // The intervals adapt as the backtest's do, over the origins of the `test` steps before the
    // last (`origin_every` apart), forecast in passes of their own: the point forecasts do not
    // depend on them.
    if let Some(q) = &mut f.quantiles
        && config.forecast.interval_adaptation > 0.0
    {
        let replays = replayed_quantiles(&model, &kept, &config, device);
        for ((member, (origins, mut all)), last) in kept.iter().zip(replays).zip(q) {
            let targets = &member.series.targets;
            let actual = |s: usize, t: usize| targets[t].observed_at(s);
            let origins: Vec<usize> = origins.into_iter().chain([member.series.len]).collect();
            all.push(std::mem::take(last));
            adapt_widths(
                &mut all,
                &origins,
                &actual,
                levels,
                config.forecast.interval_adaptation,
            );
            *last = all.pop().expect("the last origin's forecast");
        }
    }
    f.check_finite(|i| match &kept[i].id {
        Some(id) => format!("the end of series `{id}`"),
        None => "the end of the table".into(),
    })?;
    let first = &kept[0].series;
    let time_col = if first.times.is_some() {
        "time"
    } else {
        "step"
    };
    let panel = config.data.series.is_some();
    let mut header: Vec<String> = panel.then(|| "series".to_string()).into_iter().collect();
    header.push(time_col.to_string());
    header.extend(first.targets.iter().map(|c| c.name.clone()));
    if f.quantiles.is_some() {
        for c in &first.targets {
            header.extend(levels.iter().map(|l| format!("{}_q{l}", c.name)));
        }
    }
    let mut out = header.join(",");
    out.push('\n');
    for (i, Member { id, series, .. }) in kept.iter().enumerate() {
        let len = series.len;
        let quantiles = f.quantiles.as_ref().map(|q| &q[i]);
        for (k, step) in f.point[i].iter().enumerate() {
            let s = len + k;
            if series.skipped.binary_search(&s).is_ok() {
                // A time the local clock skips: no such row.
                continue;
            }
            if let Some(id) = id {
                out += &format!("{},", super::backtest::csv_field(id));
            }
            out += &match (&series.times, series.format) {
                (Some(t), Some(f)) => f.format(t[s]),
                _ => (s + 1).to_string(),
            };
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
    }
    Ok(out)
}

/// A series of the table as `forecast` reads it: its scaled frame, and its own linear base
/// where the run fitted one per series.
struct Member<'a> {
    id: Option<String>,
    series: Series,
    scalers: Scalers,
    frame: Frame,
    base: Option<&'a Linear>,
}

/// Appends to `w` the windows of `frame` from `origins`, without targets (a forecast reads
/// none), with the forecasts of the series' own linear base where it has one.
fn append_windows(
    w: &mut WindowBuffers,
    frame: &Frame,
    origins: &[usize],
    base: Option<&Linear>,
    (context, horizon): (usize, usize),
) {
    let mut one = WindowBuffers::default();
    for &o in origins {
        frame.window(o, context, horizon, &mut one);
    }
    one.y.clear();
    one.mask.clear();
    if let Some(fit) = base {
        w.base.extend(fit.predict(&one).iter().map(|&v| v as f32));
    }
    w.append(&one);
}

/// The quantiles of each member's forecasts from the origins of the `test` steps before its
/// last (`origin_every` apart, at least `context` into the series), in passes of about
/// [`CHUNK`] windows: per member, its origins and their quantiles `[origin][step][target][level]`.
fn replayed_quantiles<B: Backend>(
    model: &Forecaster<B>,
    members: &[Member],
    config: &ForecastConfig,
    device: &B::Device,
) -> Vec<Replay> {
    let shape = (config.forecast.context, config.forecast.horizon);
    let every = config.forecast.origin_every;
    let levels = &config.forecast.quantiles;
    let origins: Vec<Vec<usize>> = members
        .iter()
        .map(|m| {
            (1..=config.forecast.test / every)
                .rev()
                .filter_map(|n| m.series.len.checked_sub(n * every))
                .filter(|&o| o >= shape.0)
                .collect()
        })
        .collect();
    let mut quantiles = Vec::new();
    let mut w = WindowBuffers::default();
    let mut units: Vec<(&Scalers, usize)> = Vec::new();
    for (i, (m, origins)) in members.iter().zip(&origins).enumerate() {
        append_windows(&mut w, &m.frame, origins, m.base, shape);
        units.extend(origins.iter().map(|&o| (&m.scalers, o)));
        if (w.windows >= CHUNK || i + 1 == members.len()) && w.windows > 0 {
            let f = forecast_windows(model, std::mem::take(&mut w), &units, levels, device);
            quantiles.extend(f.quantiles.expect("a probabilistic model's quantiles"));
            units.clear();
        }
    }
    let mut quantiles = quantiles.into_iter();
    origins
        .into_iter()
        .map(|o| {
            let q = quantiles.by_ref().take(o.len()).collect();
            (o, q)
        })
        .collect()
}

/// One series' replayed origins and the quantiles forecast from them.
type Replay = (Vec<usize>, Vec<Vec<Vec<Vec<f64>>>>);

/// Adds `n` steps after the series' last, for a forecast that needs only their times (calendar
/// features) or nothing: times by the series' frequency (rows taken as steps: by
/// [`continue_rows`]), other values repeating the last. Steps in an hour that the series' local
/// clock skips ([`Series::clock_skips`]) join [`Series::skipped`].
fn extend(series: &mut Series, n: usize) {
    match (&mut series.times, series.frequency) {
        (Some(times), Some(freq)) => {
            let last = *times.last().expect("a series has steps");
            times.extend((1..=n as i64).map(|k| freq.advance(last, k)));
        }
        (Some(times), None) => {
            // Rows are steps (gaps = "ignore"): the horizon's times continue on the slots of the
            // week the rows hold (rows with the horizon's own times, after the last target
            // value, give them exactly).
            let next = continue_rows(times, n);
            times.extend(next);
        }
        (None, _) => {}
    }
    for col in series.targets.iter_mut().chain(&mut series.past) {
        let last = *col.values.last().expect("a column has values");
        col.values.extend(std::iter::repeat_n(last, n));
        col.observed.extend(std::iter::repeat_n(false, n));
    }
    if let (Some(times), Some(_)) = (&series.times, series.frequency) {
        let later: Vec<usize> = (times.len() - n..times.len())
            .filter(|&s| series.clock_skips(times[s]))
            .collect();
        series.skipped.extend(later);
    }
}
