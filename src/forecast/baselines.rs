//! The baselines every forecast is shown beside: naive (the last value) and seasonal naive (the
//! value one season earlier); the third, a linear autoregression on the same context and
//! covariates as the model, is [`super::linear`].

use std::ops::Index;

use super::series::AsOf;
use super::window::Frame;

/// The naive forecast from origin `o`: `horizon` steps of `values[o - 1]` (`values`: a slice,
/// or an [`AsOf`] that reads nothing filled from steps at or after `o`).
pub fn naive<V: Index<usize, Output = f64> + ?Sized>(
    values: &V,
    o: usize,
    horizon: usize,
) -> Vec<f64> {
    vec![values[o - 1]; horizon]
}

/// The seasonal-naive forecast from origin `o`: step `o + k` gets the value of the last step
/// before `o` in the same phase of the season, `values[o + k - season * (k / season + 1)]`
/// (through an [`AsOf`], a step filled from `o` on reads the last observed value before it).
pub fn seasonal_naive<V: Index<usize, Output = f64> + ?Sized>(
    values: &V,
    o: usize,
    horizon: usize,
    season: usize,
) -> Vec<f64> {
    (0..horizon)
        .map(|k| values[o + k - season * (k / season + 1)])
        .collect()
}

/// Whether the naive forecast is at least as good as seasonal naive over the windows of
/// `origins` (mean absolute error over their observed targets, every target and horizon step;
/// origins with less than a season of the frame before them are left out, and with none left,
/// or a season of 1, the two are the same): a series that behaves more like a random walk than
/// like its season. `origins` must have a season of their own series before them.
pub fn naive_is_no_worse(frame: &Frame, origins: &[usize], horizon: usize, season: usize) -> bool {
    let (mut naive_error, mut seasonal_error) = (0.0, 0.0);
    for ((values, observed), fills) in frame.targets.iter().zip(&frame.observed).zip(&frame.fills) {
        for &o in origins.iter().filter(|&&o| o >= season.max(1)) {
            let history = AsOf {
                values,
                fills,
                offset: 0,
                origin: o,
                fallback: 0.0,
            };
            let a = naive(&history, o, horizon);
            let b = seasonal_naive(&history, o, horizon, season.max(1));
            for k in (0..horizon).filter(|&k| o + k < frame.len && observed[o + k]) {
                naive_error += (values[o + k] - a[k]).abs();
                seasonal_error += (values[o + k] - b[k]).abs();
            }
        }
    }
    naive_error <= seasonal_error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naive_and_seasonal_naive_by_hand() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
        assert_eq!(naive(&v, 5, 3), vec![5.0, 5.0, 5.0]);
        // Season 3, origin 5: steps 5, 6, 7, 8 take steps 2, 3, 4, then 2 again.
        assert_eq!(seasonal_naive(&v, 5, 4, 3), vec![3.0, 4.0, 5.0, 3.0]);
        assert_eq!(seasonal_naive(&v, 5, 2, 1), vec![5.0, 5.0]);
        // Steps 3 and 4 filled toward step 5: from origin 5 they read step 2's value.
        let fills =
            crate::forecast::series::Fills::of(&[true, true, true, false, false, true, true]);
        let history = AsOf {
            values: &v,
            fills: &fills,
            offset: 0,
            origin: 5,
            fallback: f64::NAN,
        };
        assert_eq!(naive(&history, 5, 2), vec![3.0, 3.0]);
        assert_eq!(seasonal_naive(&history, 5, 4, 3), vec![3.0, 3.0, 3.0, 3.0]);
        // Nothing observed before the origin: the fallback, not the value filled from after it.
        let fills = crate::forecast::series::Fills::of(&[false, false, true]);
        let history = AsOf {
            values: &[9.0, 9.0, 9.0],
            fills: &fills,
            offset: 0,
            origin: 2,
            fallback: 7.0,
        };
        assert_eq!(naive(&history, 2, 1), vec![7.0]);
    }
}
