//! A forecast run's linear base, fitted before the network trains: for a single series its fit
//! on the training windows (what the network learns the change from) and its refit on every
//! window before the test part (what checkpoints forecast with), both chosen on the validation
//! part, with the seasonal index kept where the base validates better on the deseasonalized
//! targets; for a long-format table, each series' own fit or the one over all series.

use std::collections::BTreeMap;

use crate::app::forecast::ForecastError;
use crate::app::forecast::config::ForecastConfig;
use crate::app::forecast::problem::Problem;
use crate::app::train::Progress;
use crate::forecast::baselines::naive_is_no_worse;
use crate::forecast::linear::{
    Choice, Hinges, Kind, Linear, MAX_FITTED_FEATURES, ROBUST_MARGIN, Terms,
};
use crate::forecast::window::WindowBuffers;

/// The linear base's two fits, both least squares with the ridge penalty whose forecasts of
/// the validation windows are best when fitted on the training part's windows.
pub(super) struct LinearFits {
    /// On the training part's windows only: the base the network trains and validates with,
    /// so that the validation part stays unseen by the base and measures what the network adds.
    pub(super) training: Linear,
    /// On every window before the test part: the base of the checkpoints, which forecast with
    /// the most recent data (a refit on all data after the choice, as after early stopping).
    pub(super) saved: Linear,
    /// The features the fits read.
    pub(super) terms: Terms,
    /// The validation's choice of terms and penalty.
    pub(super) choice: Choice,
    /// The windows' weights `[frame.len]` by origin, when the fits kept Huber's
    /// ([`Validated::weights`](crate::forecast::linear::Validated::weights)).
    pub(super) weights: Option<Vec<f64>>,
    /// What was chosen and why, in a line (empty when fitted quietly).
    pub(super) line: String,
}

impl LinearFits {
    pub(super) fn of(
        config: &ForecastConfig,
        problem: &Problem,
        progress: Progress,
    ) -> Result<LinearFits, ForecastError> {
        let (context, horizon) = (problem.context, problem.horizon);
        let (train, val) = (problem.train_origins(), problem.val_origins());
        let too_short = || ForecastError::TooShort {
            path: problem.path.clone(),
            steps: problem.frame.len,
            message: "no training window for the linear base".into(),
        };
        // The windows before the test parts are the training ones and these.
        let more = problem.refit_origins();
        let frame = &problem.frame;
        let future = problem.future_covariates();
        let hinges = Hinges::fit_ranges(frame, future, &problem.training_ranges());
        let terms = Terms {
            context_columns: Some(config.linear_context_columns(frame)),
            optional_columns: config.linear_optional_columns(frame),
            hinges,
            year: frame.year,
            week: frame.week,
            from_last: offer_from_last(problem, &train, config.forecast.season),
            robust: true,
        };
        let v = Linear::fit_validated(
            &problem.frame,
            [&train, &val, &more],
            (context, horizon),
            &terms,
        )
        .ok_or_else(too_short)?;
        let mut line = String::new();
        if progress != Progress::Quiet {
            // Each choice offered, with the validation error of the best fit that made the
            // other one.
            let choices: String = [
                (
                    "hinge terms of the future covariates",
                    v.choice.hinged,
                    v.other_hinged_error,
                ),
                (
                    "their products with the time of day",
                    v.choice.daily,
                    v.other_daily_error,
                ),
                (
                    match (future, terms.optional_columns > future) {
                        (0, true) => "the calendar features' past in the context",
                        (_, true) => {
                            "the past of the future covariates and calendar features in the context"
                        }
                        _ => "the future covariates' past in the context",
                    },
                    v.choice.optional,
                    v.other_optional_error,
                ),
                (
                    "harmonics of the year",
                    v.choice.yearly,
                    v.other_yearly_error,
                ),
                (
                    "harmonics of the week",
                    v.choice.weekly,
                    v.other_weekly_error,
                ),
                (
                    "the fit of the change from the last value (its penalty shrinks toward naive)",
                    v.choice.from_last,
                    v.other_from_last_error,
                ),
            ]
            .into_iter()
            .filter_map(|(name, kept, other)| {
                other.map(|e| {
                    let (with, without) = if kept {
                        (v.plain_error, e)
                    } else {
                        (e, v.plain_error)
                    };
                    format!(
                        "; {} {name} (validation MAE {with:.4} with, {without:.4} without)",
                        if kept { "with" } else { "without" }
                    )
                })
            })
            .collect();
            let robust = v.robust_error.map_or(String::new(), |e| {
                let kept = v.weights.is_some();
                format!(
                    "; {} Huber's weights on outlying windows (validation MAE {e:.4} with, {:.4} without; kept when {:.0}% better)",
                    if kept { "with" } else { "without" },
                    v.plain_error,
                    100.0 * ROBUST_MARGIN
                )
            });
            let left_out = match &v.left_out[..] {
                [] => String::new(),
                kinds => format!(
                    "; left out, in turn, while the largest fit had more than {MAX_FITTED_FEATURES} features: {}",
                    kinds
                        .iter()
                        .map(|k| match k {
                            Kind::Past => "the known columns' past",
                            Kind::Daily => "the hinge terms' products with the time of day",
                            Kind::Hinges => "the hinge terms",
                            Kind::Week => "the week's harmonics",
                            Kind::Year => "the year's harmonics",
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            line = format!(
                "linear base: least squares, ridge {:e}, {} features{choices}{robust} (chosen on the validation part{left_out}); checkpoints refit on {} windows",
                v.choice.ridge,
                v.features,
                train.len() + more.len()
            );
        }
        let choice = v.choice;
        let (training, saved, weights) = (v.fit, v.refit, v.weights);
        Ok(LinearFits {
            training,
            saved,
            terms,
            choice,
            weights,
            line,
        })
    }
}

/// The mean absolute error of `fit`'s forecasts of `problem`'s validation windows over their
/// observed targets, in the targets' units divided by `raw`'s scales (each target's standard
/// deviation over its training part as it is, not deseasonalized): the same measure for a
/// problem and its deseasonalized twin.
fn validation_mae_as_is(problem: &Problem, fit: &Linear, raw: &Problem) -> f64 {
    let origins = problem.val_origins();
    let (mut sum, mut count) = (0.0, 0.0);
    for chunk in origins.chunks(256) {
        let pred = fit.predict(&problem.windows(chunk));
        let units = problem.target_units(chunk);
        let forecasts = super::backtest::unscaled(&pred, problem.horizon, &units);
        for (&o, f) in chunk.iter().zip(&forecasts) {
            let (seg, local) = problem.segment_of(o);
            let series = &problem.segments[seg].series;
            let scales = &raw.segments[seg].scalers.targets;
            for (k, values) in f.iter().enumerate() {
                for (t, col) in series.targets.iter().enumerate() {
                    if col.observed[local + k] {
                        sum += (col.values[local + k] - values[t]).abs() / scales[t].std;
                        count += 1.0;
                    }
                }
            }
        }
    }
    if count > 0.0 {
        sum / count
    } else {
        f64::INFINITY
    }
}

/// How much better than without it a linear base must validate with a seasonal index for
/// `forecast.seasonal_index = "auto"` to keep it: differences of a percent or two are the
/// validation part's noise (a price's weekdays, an irregular cycle's phases).
pub const SEASONAL_INDEX_MARGIN: f64 = 0.025;

/// `forecast.seasonal_index = "auto"` for a single series with a linear base: the
/// deseasonalized problem and its base where its base validates at least
/// [`SEASONAL_INDEX_MARGIN`] better than `problem`'s, else `problem` and its; with a line
/// saying which, and both validation errors. `problem` as it is (and no line) where its
/// targets have no seasonal index.
pub(super) fn choose_seasonal_index(
    config: &ForecastConfig,
    problem: Problem,
) -> Result<(Problem, LinearFits, Option<String>), ForecastError> {
    let without = LinearFits::of(config, &problem, Progress::Lines)?;
    let Ok(deseasonalized) = problem.deseasonalized(config.forecast.season) else {
        return Ok((problem, without, None));
    };
    let with = LinearFits::of(config, &deseasonalized, Progress::Lines)?;
    let e_without = validation_mae_as_is(&problem, &without.training, &problem);
    let e_with = validation_mae_as_is(&deseasonalized, &with.training, &problem);
    let kept = e_with < e_without * (1.0 - SEASONAL_INDEX_MARGIN);
    let season = config.forecast.season;
    let line = if kept {
        format!(
            "seasonal index: the targets divided by a multiplicative index of the season's {season} steps (validation MAE {e_with:.4} with, {e_without:.4} without, in the targets' scale)"
        )
    } else {
        format!(
            "seasonal index: none (with a multiplicative index of the season's {season} steps the validation MAE is {e_with:.4} against {e_without:.4}, in the targets' scale; it must be {}% better)",
            SEASONAL_INDEX_MARGIN * 100.0
        )
    };
    Ok(if kept {
        (deseasonalized, with, Some(line))
    } else {
        (problem, without, Some(line))
    })
}

/// Whether a linear base fitted on the windows of `origins` is offered to fit the change from
/// the last value ([`Choice::from_last`]): where the naive forecast does at least as well as
/// seasonal naive over those of them with a season of their own series before them.
fn offer_from_last(problem: &Problem, origins: &[usize], season: usize) -> bool {
    let own: Vec<usize> = origins
        .iter()
        .copied()
        .filter(|&o| problem.segment_of(o).1 >= season)
        .collect();
    naive_is_no_worse(&problem.frame, &own, problem.horizon, season)
}

/// Each series' linear base: its own fit (fitted and chosen as [`LinearFits`] fits the one base
/// of a single series, on that series' windows alone) or the one fit over all series, whichever
/// forecasts that series' validation windows better (a short series' own fit of a long context
/// overfits). Returns the fits on the training parts (in segment order) and the refits before
/// the test parts (by series name).
pub(super) fn local_bases(
    config: &ForecastConfig,
    problem: &Problem,
    progress: Progress,
) -> Result<(Vec<Linear>, BTreeMap<String, Linear>), ForecastError> {
    let (context, h) = (problem.context, problem.horizon);
    let frame = &problem.frame;
    let future = problem.future_covariates();
    let global = LinearFits::of(config, problem, Progress::Quiet)?;
    // Mean absolute error of `fit` over windows `w` (scaled units, observed targets).
    let mae = |fit: &Linear, w: &WindowBuffers| {
        let pred = fit.predict(w);
        let (mut sum, mut count) = (0.0, 0.0);
        for ((p, y), m) in pred.iter().zip(&w.y).zip(&w.mask) {
            sum += f64::from(*m) * (p - f64::from(*y)).abs();
            count += f64::from(*m);
        }
        if count > 0.0 {
            sum / count
        } else {
            f64::INFINITY
        }
    };
    let (mut training, mut saved) = (Vec::new(), BTreeMap::new());
    let mut own = 0;
    for (i, seg) in problem.segments.iter().enumerate() {
        let train = problem.segment_origins(i, 1, |s| (0, s.val_start));
        let val = problem.segment_origins(i, 1, |s| {
            (
                s.val_start.min(s.test_start.saturating_sub(h)),
                s.test_start,
            )
        });
        let more =
            problem.segment_origins(i, 1, |s| (s.val_start.saturating_sub(h) + 1, s.test_start));
        let range = seg.offset..seg.offset + seg.split.val_start;
        let terms = Terms {
            context_columns: Some(config.linear_context_columns(frame)),
            optional_columns: config.linear_optional_columns(frame),
            hinges: Hinges::fit_ranges(frame, future, std::slice::from_ref(&range)),
            year: frame.year,
            week: frame.week,
            from_last: offer_from_last(problem, &train, config.forecast.season),
            robust: true,
        };
        let local = Linear::fit_validated(frame, [&train, &val, &more], (context, h), &terms);
        let global_error = mae(&global.training, &problem.windows(&val));
        match local {
            Some(v) if v.error < global_error => {
                own += 1;
                training.push(v.fit);
                saved.insert(seg.id.clone().unwrap_or_default(), v.refit);
            }
            _ => {
                training.push(global.training.clone());
                saved.insert(seg.id.clone().unwrap_or_default(), global.saved.clone());
            }
        }
    }
    if progress != Progress::Quiet {
        eprintln!(
            "linear base: per series, its own least-squares fit or the one over all series, whichever validates better: its own for {own} of {} series",
            training.len()
        );
    }
    Ok((training, saved))
}
