//! The errors a forecast interval is calibrated on: the validation part's, pooled with the
//! linear base's out-of-sample errors over the same weeks a year before the test part and over
//! the training part's history (blocked cross-validation), each error with the local scale of
//! its window ([`crate::model::Forecaster::with_residuals`] reads them).

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use crate::app::forecast::problem::{Problem, evenly};
use crate::app::forecast::train::batch_tensors;
use crate::forecast::linear::{Linear, Refit};
use crate::forecast::window::WindowBuffers;
use crate::model::Forecaster;

/// Errors and their local scales per output column, as [`validation_errors`] returns them.
pub type Errors = (Vec<Vec<f64>>, Vec<Vec<f64>>);

/// `model` with its untrained spread set from the residuals of its base (the linear base as fitted
/// on the training part) over the validation windows, in the windows' local scales:
/// out-of-sample errors, as the test part's will be; pooled with `pool`'s when given.
pub fn with_base_spread<B: Backend>(
    model: Forecaster<B>,
    problem: &Problem,
    levels: &[f64],
    pool: Option<&Pool>,
    device: &B::Device,
) -> Forecaster<B> {
    let w = problem.windows(&spread_origins(problem, pool));
    let own = validation_errors(&model, &w, device);
    let (residuals, scales) = pooled(own, pool.map(|p| &p.errors));
    model.with_residuals(&residuals, &scales, levels)
}

/// `errors` with `more`'s appended column by column.
pub fn pooled(mut errors: Errors, more: Option<&Errors>) -> Errors {
    if let Some((r, s)) = more {
        for (into, from) in errors.0.iter_mut().zip(r) {
            into.extend(from);
        }
        for (into, from) in errors.1.iter_mut().zip(s) {
            into.extend(from);
        }
    }
    errors
}

/// The linear base's out-of-sample errors outside the validation part, pooled with the
/// validation part's into every spread, so that a validation part unlike the test part (in
/// another season, or calmer) does not set the interval alone: over the same calendar weeks a
/// year before the test part when the series reaches that far back
/// (`year_before_errors`), and over the training part's history (`history_errors`). Each
/// counts as many windows as the validation part's share.
pub struct Pool {
    /// The errors of both kinds, appended per output column.
    pub errors: Errors,
    /// The validation windows kept: all of the validation sample, or as many as the year
    /// before gives.
    windows: usize,
    /// The windows of the same weeks a year before, when there were such weeks.
    year_before: Option<usize>,
    /// The windows of the training part's history, when it was long enough.
    history: Option<usize>,
}

impl Pool {
    /// The errors of `model`'s linear base, refitted with `fit` (the validation's choice of
    /// terms and penalty, and the windows' weights where it kept Huber's), over the windows of
    /// `problem` outside its validation part; `None` where the series has neither a year
    /// before its test part nor a history long enough.
    pub fn of<B: Backend>(
        model: &Forecaster<B>,
        problem: &Problem,
        fit: Refit<'_>,
        device: &B::Device,
    ) -> Option<Pool> {
        let year = year_before_errors(model, problem, fit, device);
        let windows = year
            .as_ref()
            .map_or(problem.val_sample().len(), |(_, n)| *n);
        let history = history_errors(model, problem, fit, windows, device);
        if year.is_none() && history.is_none() {
            return None;
        }
        let columns = model.targets * problem.horizon;
        let empty = (vec![Vec::new(); columns], vec![Vec::new(); columns]);
        let errors = [&year, &history]
            .into_iter()
            .flatten()
            .fold(empty, |all, (e, _)| pooled(all, Some(e)));
        Some(Pool {
            errors,
            windows,
            year_before: year.map(|(_, n)| n),
            history: history.map(|(_, n)| n),
        })
    }

    /// What was pooled, in a line.
    pub fn line(&self) -> String {
        let mut parts = Vec::new();
        if let Some(n) = self.year_before {
            parts.push(format!(
                "{n} windows of the same weeks a year before the test part (refitted without them)"
            ));
        }
        if let Some(n) = self.history {
            parts.push(format!(
                "{n} windows of the training part's {HISTORY_BLOCKS} blocks (each refitted without its block)"
            ));
        }
        format!(
            "intervals: the errors over {} validation windows pooled with the linear base's over {}",
            self.windows,
            parts.join(" and over ")
        )
    }
}

/// The linear base's out-of-sample errors over the same calendar weeks a year before the test
/// part ([`Problem::year_before_test`]) and their number of windows: the validation's choice
/// refitted on the training windows whose targets do not meet those weeks' forecasts them. At
/// most as many windows as the validation's, evenly spread; `None` without such weeks.
fn year_before_errors<B: Backend>(
    model: &Forecaster<B>,
    problem: &Problem,
    fit: Refit<'_>,
    device: &B::Device,
) -> Option<(Errors, usize)> {
    let all = problem.year_before_test();
    let (first, last) = (*all.first()?, *all.last()?);
    let end = last + problem.horizon;
    let train: Vec<usize> = problem
        .train_origins()
        .into_iter()
        .filter(|&o| o + problem.horizon <= first || o >= end)
        .collect();
    let fit = Linear::fit_choice(
        &problem.frame,
        &train,
        (problem.context, problem.horizon),
        fit,
    )?;
    let block = evenly(all, problem.val_sample().len());
    let base = model.clone().with_linear_base(&fit);
    let errors = validation_errors(&base, &problem.windows(&block), device);
    Some((errors, block.len()))
}

/// The blocks of consecutive training windows [`history_errors`] cuts the training part into.
const HISTORY_BLOCKS: usize = 5;

/// The linear base's out-of-sample errors over the training part's history and their number
/// of windows (blocked cross-validation): the training windows cut into [`HISTORY_BLOCKS`]
/// blocks of consecutive origins with `horizon - 1` origins between them, each block
/// forecast by the validation's choice refitted on the other blocks and gaps but the two
/// beside it (no fitted window's targets meet a forecast one's). `windows` in all, evenly
/// spread over the blocks; `None` for several series, or too few training windows for
/// every block to have a horizon's worth.
fn history_errors<B: Backend>(
    model: &Forecaster<B>,
    problem: &Problem,
    fit: Refit<'_>,
    windows: usize,
    device: &B::Device,
) -> Option<(Errors, usize)> {
    if problem.segments.len() != 1 || windows == 0 {
        return None;
    }
    let h = problem.horizon;
    let (pieces, leave_out) = history_pieces(&problem.train_origins(), HISTORY_BLOCKS, h)?;
    let fitted = Linear::fit_choice_leaving_out(
        &problem.frame,
        &pieces,
        &leave_out,
        (problem.context, problem.horizon),
        fit,
    );
    let per_block = windows.div_ceil(HISTORY_BLOCKS);
    let columns = model.targets * h;
    let mut all = (vec![Vec::new(); columns], vec![Vec::new(); columns]);
    let mut count = 0;
    for (i, fit) in fitted.iter().enumerate() {
        let fit = fit.as_ref()?;
        let block = evenly(pieces[2 * i].clone(), per_block);
        count += block.len();
        let base = model.clone().with_linear_base(fit);
        all = pooled(
            all,
            Some(&validation_errors(&base, &problem.windows(&block), device)),
        );
    }
    Some((all, count))
}

/// Sets of origins, as [`history_pieces`] cuts them and lists which a fit leaves out.
type Pieces = Vec<Vec<usize>>;

/// Consecutive `origins` cut for a blocked cross-validation of forecasts `horizon` steps long:
/// the pieces (block 0, gap 0, block 1, ..., block `k - 1`; block `i` is piece `2 i`, each gap
/// `horizon - 1` origins, the last block taking the rest) and, per block, the pieces its fit
/// leaves out (itself and the gaps beside it), so that every origin fitted lies at least
/// `horizon` steps from every origin of the block. `None` when a block would have fewer than
/// `horizon` origins.
fn history_pieces(origins: &[usize], k: usize, horizon: usize) -> Option<(Pieces, Pieces)> {
    let gap = horizon.saturating_sub(1);
    let size = origins.len().checked_sub((k - 1) * gap)? / k;
    if size < horizon.max(1) {
        return None;
    }
    let mut pieces = Vec::new();
    let mut at = 0;
    for i in 0..k {
        let len = if i + 1 == k { origins.len() - at } else { size };
        pieces.push(origins[at..at + len].to_vec());
        at += len;
        if i + 1 < k {
            pieces.push(origins[at..at + gap].to_vec());
            at += gap;
        }
    }
    let leave_out = (0..k)
        .map(|i| {
            let b = 2 * i;
            [b.checked_sub(1), Some(b), (i + 1 < k).then_some(b + 1)]
                .into_iter()
                .flatten()
                .collect()
        })
        .collect();
    Some((pieces, leave_out))
}

/// The validation windows a spread is measured on: the validation sample, thinned to as many
/// windows as the same weeks a year earlier give when they are pooled in, so that the recent
/// past and the season weigh alike.
pub fn spread_origins(problem: &Problem, pool: Option<&Pool>) -> Vec<usize> {
    evenly(problem.val_sample(), pool.map_or(usize::MAX, |p| p.windows))
}

/// The errors (actual minus point forecast, scaled units) of `model` over windows `w` and the
/// local scale of each error's window and target, per output column (`step * targets +
/// target`), over the observed targets: what [`Forecaster::with_residuals`] reads. The
/// untrained model's point forecast is its base.
pub fn validation_errors<B: Backend>(
    model: &Forecaster<B>,
    w: &WindowBuffers,
    device: &B::Device,
) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let n = w.windows;
    let b = batch_tensors::<B>(w.clone(), model.encoder.input_size(), device);
    let flat = |t: Tensor<B, 2>| -> Vec<f32> { t.into_data().to_vec().expect("f32") };
    let local = flat(model.local_scale(b.context.clone()));
    let point = flat(model.point(b.forecast(model)));
    let (y, mask) = (flat(b.y), flat(b.mask));
    let columns = point.len() / n.max(1);
    let targets = model.targets;
    let mut residuals = vec![Vec::with_capacity(n); columns];
    let mut scales = vec![Vec::with_capacity(n); columns];
    for i in 0..n * columns {
        if mask[i] > 0.0 {
            let (window, column) = (i / columns, i % columns);
            residuals[column].push(f64::from(y[i] - point[i]));
            scales[column].push(f64::from(local[window * targets + column % targets]));
        }
    }
    (residuals, scales)
}

#[cfg(test)]
mod tests {
    use super::history_pieces;

    #[test]
    fn history_blocks_are_fitted_only_on_windows_a_horizon_away() {
        let origins: Vec<usize> = (30..230).collect();
        for horizon in [1, 7, 12] {
            let (pieces, leave_out) = history_pieces(&origins, 5, horizon).unwrap();
            assert_eq!(pieces.len(), 9);
            assert_eq!(leave_out.len(), 5);
            // Every origin once, in order.
            assert_eq!(pieces.concat(), origins);
            for (i, out) in leave_out.iter().enumerate() {
                let block = &pieces[2 * i];
                assert!(block.len() >= horizon, "{horizon}: {}", block.len());
                assert!(out.contains(&(2 * i)));
                let fitted: Vec<usize> = (0..pieces.len())
                    .filter(|p| !out.contains(p))
                    .flat_map(|p| pieces[p].clone())
                    .collect();
                // No fitted window's targets meet a forecast one's, and every other window
                // is fitted.
                for &o in block {
                    assert!(
                        fitted.iter().all(|&f| f.abs_diff(o) >= horizon),
                        "{horizon}, {o}"
                    );
                }
                let near = |f: usize| block.iter().any(|&o| f.abs_diff(o) < horizon);
                let unfit = origins.iter().filter(|&&f| !near(f)).count();
                assert_eq!(fitted.len(), unfit, "{horizon}: block {i}");
            }
        }
        // Too few origins for five blocks of a horizon each.
        assert!(history_pieces(&origins, 5, 40).is_none());
        assert!(history_pieces(&origins[..10], 5, 3).is_none());
    }
}
