//! Standard scaling of each column and a target's seasonal index, fitted on the training part
//! of the series only, stored with the run and inverted on output.

use serde::{Deserialize, Serialize};

/// `(x - mean) / std` for one column.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    /// The column's mean over the fitted part.
    pub mean: f64,
    /// The column's standard deviation over the fitted part (population, `ddof = 0`).
    pub std: f64,
    /// Whether the column was constant over the fitted part (a covariate,
    /// [`Scaler::fit_covariate`]): every value then scales to 0, since nothing fitted on that
    /// part can tell what a change of it does.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub constant: bool,
}

impl Scaler {
    /// Fits `values[..end]`, over the observed values only. `None` when fewer than two are
    /// observed, they are all equal up to rounding (a constant column has no scale), or they
    /// spread less than `f32::MIN_POSITIVE` (1.2e-38: no scale the model can compute with).
    pub fn fit(values: &[f64], observed: &[bool], end: usize) -> Option<Scaler> {
        let seen: Vec<f64> = (0..end)
            .filter(|&i| observed[i])
            .map(|i| values[i])
            .collect();
        if seen.len() < 2 {
            return None;
        }
        if seen.iter().all(|&v| v == seen[0]) {
            return None;
        }
        let n = seen.len() as f64;
        // The mean corrected by its residuals' mean: a long sum's rounding would otherwise
        // give a constant-looking column a spread of its own.
        let rough = seen.iter().sum::<f64>() / n;
        let mean = rough + seen.iter().map(|v| v - rough).sum::<f64>() / n;
        let var = seen.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        let std = var.sqrt();
        (std >= f64::from(f32::MIN_POSITIVE) && std > 1e-12 * mean.abs()).then_some(Scaler {
            mean,
            std,
            constant: false,
        })
    }

    /// [`Scaler::fit`], or, for a covariate with no scale over `values[..end]` but an observed
    /// value there (a flag that never changes in the training part), a [`Scaler::constant`]
    /// one around the mean of its observed values (unit `std`): every value scales to 0, so
    /// that no model fitted on that part reads it. `None` when no value before `end` is
    /// observed.
    pub fn fit_covariate(values: &[f64], observed: &[bool], end: usize) -> Option<Scaler> {
        Scaler::fit(values, observed, end).or_else(|| {
            let seen: Vec<f64> = (0..end.min(values.len()))
                .filter(|&i| observed[i])
                .map(|i| values[i])
                .collect();
            (!seen.is_empty()).then(|| Scaler {
                mean: seen.iter().sum::<f64>() / seen.len() as f64,
                std: 1.0,
                constant: true,
            })
        })
    }

    /// A value in scaled units (0 for a [`Scaler::constant`] column).
    pub fn scale(&self, v: f64) -> f64 {
        if self.constant {
            return 0.0;
        }
        (v - self.mean) / self.std
    }

    /// A scaled value back in the column's units.
    pub fn unscale(&self, v: f64) -> f64 {
        v * self.std + self.mean
    }
}

/// A multiplicative seasonal index: each step of the season's share of the level, for a
/// series whose seasonal swings grow with it (demand, calls, visits). A value at step `s` divided
/// by [`SeasonalIndex::factor`]`(s)` is deseasonalized; the phase of step `s` is `s % season`
/// counted from the fitted series' first step, as seasonal naive reads a season back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeasonalIndex {
    /// `[season]`: the mean of each phase's observed values over the fitted part, divided by
    /// the mean of all of them.
    pub factors: Vec<f64>,
    /// The time (seconds since 1970) of the fitted series' first step, when it has times:
    /// another table's steps take their phases from it (on a calendar grid, or counting rows
    /// from the row with this time where rows are taken as steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<i64>,
}

/// The smallest factor a seasonal index may have: dividing by less would blow a phase's values
/// up (a phase that is almost always zero, as a solar panel's nights).
pub const MIN_FACTOR: f64 = 1e-3;

impl SeasonalIndex {
    /// Fits `values[..end]` over the observed values, phase `s % season` for step `s`. `None`
    /// when the season is shorter than 2 steps, a value is negative, a phase has fewer than two
    /// observed values, or a factor is below [`MIN_FACTOR`].
    pub fn fit(
        values: &[f64],
        observed: &[bool],
        end: usize,
        season: usize,
    ) -> Option<SeasonalIndex> {
        if season < 2 {
            return None;
        }
        let (mut sums, mut counts) = (vec![0.0; season], vec![0usize; season]);
        for s in (0..end.min(values.len())).filter(|&s| observed[s]) {
            if values[s] < 0.0 {
                return None;
            }
            sums[s % season] += values[s];
            counts[s % season] += 1;
        }
        if counts.iter().any(|&c| c < 2) {
            return None;
        }
        let total: usize = counts.iter().sum();
        let mean = sums.iter().sum::<f64>() / total as f64;
        let factors: Vec<f64> = sums
            .iter()
            .zip(&counts)
            .map(|(s, &c)| s / c as f64 / mean)
            .collect();
        factors
            .iter()
            .all(|f| f.is_finite() && *f >= MIN_FACTOR)
            .then_some(SeasonalIndex {
                factors,
                anchor: None,
            })
    }

    /// The factor of step `s`.
    pub fn factor(&self, s: usize) -> f64 {
        self.factors[s % self.factors.len()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_covariate_without_a_scale_scales_to_0() {
        let varying = [1.0, 3.0, 5.0, 100.0];
        let seen = [true; 4];
        assert_eq!(
            Scaler::fit_covariate(&varying, &seen, 3),
            Scaler::fit(&varying, &seen, 3)
        );
        // A flag that is 0 over the fitted part (one step of it missing) and 1 after it.
        let flag = [0.0, f64::NAN, 0.0, 1.0];
        let observed = [true, false, true, true];
        assert_eq!(Scaler::fit(&flag, &observed, 3), None);
        let held = Scaler::fit_covariate(&flag, &observed, 3).unwrap();
        assert_eq!((held.mean, held.std, held.constant), (0.0, 1.0, true));
        assert_eq!((held.scale(0.0), held.scale(1.0)), (0.0, 0.0));
        let level = Scaler::fit_covariate(&[7.5, 7.5, 9.0], &[true; 3], 2).unwrap();
        assert_eq!((level.mean, level.scale(9.0)), (7.5, 0.0));
        assert!(!Scaler::fit_covariate(&varying, &seen, 3).unwrap().constant);
        // Nothing observed before the end: no value to centre on.
        assert_eq!(
            Scaler::fit_covariate(&flag, &[false, false, false, true], 3),
            None
        );
    }

    #[test]
    fn a_seasonal_index_is_each_phase_share_of_the_level() {
        // Season 3, phases at 1x, 2x and 3x a level of 10: shares 0.5, 1 and 1.5 of the mean.
        let v = [10.0, 20.0, 30.0, 10.0, 20.0, 30.0, 999.0];
        let mut seen = [true; 7];
        let ix = SeasonalIndex::fit(&v, &seen, 6, 3).unwrap();
        for (f, want) in ix.factors.iter().zip([0.5, 1.0, 1.5]) {
            assert!((f - want).abs() < 1e-12, "{:?}", ix.factors);
        }
        assert_eq!(ix.factor(7), ix.factors[1]);
        // Each value divided by its factor: the level alone.
        for (s, x) in v[..6].iter().enumerate() {
            assert!((x / ix.factor(s) - 20.0).abs() < 1e-12);
        }
        // A phase seen once, a negative value, a season of one step, a phase of zeros: none.
        seen[3] = false;
        assert_eq!(SeasonalIndex::fit(&v, &seen, 6, 3), None);
        assert_eq!(
            SeasonalIndex::fit(&[1.0, -1.0, 2.0, 3.0], &[true; 4], 4, 2),
            None
        );
        assert_eq!(SeasonalIndex::fit(&v, &[true; 7], 6, 1), None);
        assert_eq!(
            SeasonalIndex::fit(&[0.0, 5.0, 0.0, 6.0], &[true; 4], 4, 2),
            None
        );
        // Zeros in a phase that is not always zero are values like any other.
        assert!(SeasonalIndex::fit(&[0.0, 5.0, 2.0, 6.0], &[true; 4], 4, 2).is_some());
    }

    #[test]
    fn fits_the_observed_training_part_only() {
        let v = [1.0, 3.0, 100.0, 5.0, 1000.0];
        let seen = [true, true, false, true, true];
        let s = Scaler::fit(&v, &seen, 4).unwrap();
        assert!((s.mean - 3.0).abs() < 1e-12);
        assert!((s.std - (8.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!((s.unscale(s.scale(7.0)) - 7.0).abs() < 1e-12);
        assert_eq!(Scaler::fit(&[2.0, 2.0, 2.0], &[true; 3], 3), None);
        assert_eq!(Scaler::fit(&[2.0, 5.0], &[true, false], 2), None);
        // Rounding's spread around a mean is no scale; a small column's own spread is.
        assert_eq!(Scaler::fit(&[1.0, 1.0 + 2e-16, 1.0], &[true; 3], 3), None);
        let long = vec![0.1; 100_000];
        assert_eq!(Scaler::fit(&long, &vec![true; 100_000], 100_000), None);
        let small = Scaler::fit(&[1e-20, 3e-20], &[true; 2], 2).unwrap();
        assert!((small.scale(3e-20) - 1.0).abs() < 1e-12);
        assert_eq!(Scaler::fit(&[1e-300, 3e-300], &[true; 2], 2), None);
    }
}
