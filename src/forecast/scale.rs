//! Standard scaling of each column, fitted on the training part of the series only, stored with
//! the run and inverted on output.

use serde::{Deserialize, Serialize};

/// `(x - mean) / std` for one column.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    /// The column's mean over the fitted part.
    pub mean: f64,
    /// The column's standard deviation over the fitted part (population, `ddof = 0`).
    pub std: f64,
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
        (std >= f64::from(f32::MIN_POSITIVE) && std > 1e-12 * mean.abs())
            .then_some(Scaler { mean, std })
    }

    /// A value in scaled units.
    pub fn scale(&self, v: f64) -> f64 {
        (v - self.mean) / self.std
    }

    /// A scaled value back in the column's units.
    pub fn unscale(&self, v: f64) -> f64 {
        v * self.std + self.mean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
