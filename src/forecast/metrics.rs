//! Forecast accuracy: MAE, RMSE, sMAPE and MASE over the observed actuals of a backtest.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::forecast::interval::IntervalScores;

/// The scores of one method, averaged over every origin, step and target column: the four
/// point scores, and for interval forecasts the quantile loss and the coverages.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// Mean absolute error, in the targets' units.
    pub mae: f64,
    /// Root mean squared error, in the targets' units.
    pub rmse: f64,
    /// Symmetric mean absolute percentage error, `200 |a - f| / (|a| + |f|)` (0 when both are
    /// 0), in percent.
    pub smape: f64,
    /// Mean absolute scaled error: each target column's MAE divided by the training part's
    /// in-sample seasonal-naive MAE of that column, averaged over the columns.
    pub mase: f64,
    /// Interval forecasts: [`IntervalScores::quantile_loss`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantile_loss: Option<f64>,
    /// Interval forecasts: [`IntervalScores::coverage`], keyed by nominal coverage (`"0.8"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<BTreeMap<String, f64>>,
}

impl Scores {
    /// The mean of each score over `all` (several series' scores, each counting once); the
    /// interval scores when every one has them. The default scores when `all` is empty.
    pub fn mean<'a>(all: impl IntoIterator<Item = &'a Scores>) -> Scores {
        let all: Vec<&Scores> = all.into_iter().collect();
        if all.is_empty() {
            return Scores::default();
        }
        let n = all.len() as f64;
        let avg = |f: &dyn Fn(&Scores) -> f64| all.iter().map(|s| f(s)).sum::<f64>() / n;
        let quantile_loss: Option<Vec<f64>> = all.iter().map(|s| s.quantile_loss).collect();
        let coverage = all
            .iter()
            .map(|s| s.coverage.as_ref())
            .collect::<Option<Vec<_>>>()
            .map(|maps| {
                let mut sum: BTreeMap<String, f64> = BTreeMap::new();
                for m in &maps {
                    for (k, v) in *m {
                        *sum.entry(k.clone()).or_default() += v / n;
                    }
                }
                sum
            });
        Scores {
            mae: avg(&|s| s.mae),
            rmse: avg(&|s| s.rmse),
            smape: avg(&|s| s.smape),
            mase: avg(&|s| s.mase),
            quantile_loss: quantile_loss.map(|q| q.iter().sum::<f64>() / n),
            coverage,
        }
    }

    /// These scores with the interval scores `i`.
    pub fn with_intervals(mut self, i: IntervalScores) -> Self {
        self.quantile_loss = Some(i.quantile_loss);
        self.coverage = Some(i.coverage);
        self
    }
}

/// Accumulates the errors of one method, per target column.
#[derive(Clone, Debug)]
pub struct ScoreSum {
    abs: Vec<f64>,
    sq: Vec<f64>,
    smape: Vec<f64>,
    n: Vec<usize>,
}

impl ScoreSum {
    /// Sums for `targets` columns.
    pub fn new(targets: usize) -> Self {
        Self {
            abs: vec![0.0; targets],
            sq: vec![0.0; targets],
            smape: vec![0.0; targets],
            n: vec![0; targets],
        }
    }

    /// Adds one forecast `f` of the actual `a` of target column `j`.
    pub fn add(&mut self, j: usize, a: f64, f: f64) {
        let e = (a - f).abs();
        self.abs[j] += e;
        self.sq[j] += e * e;
        let d = a.abs() + f.abs();
        self.smape[j] += if d == 0.0 { 0.0 } else { 200.0 * e / d };
        self.n[j] += 1;
    }

    /// The scores, with `mase_scale[j]` the seasonal-naive MAE of column `j` on the training
    /// part. Columns with no actual are left out; `None` when none has one.
    pub fn scores(&self, mase_scale: &[f64]) -> Option<Scores> {
        let cols: Vec<usize> = (0..self.n.len()).filter(|&j| self.n[j] > 0).collect();
        if cols.is_empty() {
            return None;
        }
        let total: usize = cols.iter().map(|&j| self.n[j]).sum();
        let sum = |v: &[f64]| cols.iter().map(|&j| v[j]).sum::<f64>();
        let mase = cols
            .iter()
            .map(|&j| self.abs[j] / self.n[j] as f64 / mase_scale[j])
            .sum::<f64>()
            / cols.len() as f64;
        Some(Scores {
            mae: sum(&self.abs) / total as f64,
            rmse: (sum(&self.sq) / total as f64).sqrt(),
            smape: sum(&self.smape) / total as f64,
            mase,
            ..Scores::default()
        })
    }
}

/// The in-sample seasonal-naive MAE of `values[..end]` with period `season` (1: naive), over the
/// pairs whose two values were both observed: MASE's scale. `None` when no pair is observed or
/// the series does not change over them (a constant series has no scale).
pub fn seasonal_naive_mae(
    values: &[f64],
    observed: &[bool],
    end: usize,
    season: usize,
) -> Option<f64> {
    let (mut sum, mut n) = (0.0, 0usize);
    for t in season..end {
        if observed[t] && observed[t - season] {
            sum += (values[t] - values[t - season]).abs();
            n += 1;
        }
    }
    (n > 0 && sum > 0.0).then(|| sum / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_by_hand() {
        let mut s = ScoreSum::new(2);
        // Column 0: errors 1 and 3 (actuals 10, 20; forecasts 11, 17).
        s.add(0, 10.0, 11.0);
        s.add(0, 20.0, 17.0);
        // Column 1: error 2 (actual 0, forecast 2).
        s.add(1, 0.0, 2.0);
        let got = s.scores(&[2.0, 4.0]).unwrap();
        assert!((got.mae - 2.0).abs() < 1e-12);
        assert!((got.rmse - (14.0f64 / 3.0).sqrt()).abs() < 1e-12);
        let smape = (200.0 / 21.0 + 600.0 / 37.0 + 200.0) / 3.0;
        assert!((got.smape - smape).abs() < 1e-9);
        // Column 0: MAE 2 / 2; column 1: 2 / 4.
        assert!((got.mase - 0.75).abs() < 1e-12);
        assert!(ScoreSum::new(1).scores(&[1.0]).is_none());
    }

    #[test]
    fn mase_scale_skips_unobserved_pairs_and_refuses_a_constant() {
        let v = [1.0, 2.0, 4.0, 7.0, 11.0];
        let all = [true; 5];
        assert_eq!(seasonal_naive_mae(&v, &all, 5, 1), Some(2.5));
        assert_eq!(
            seasonal_naive_mae(&v, &all, 5, 2),
            Some((3.0 + 5.0 + 7.0) / 3.0)
        );
        let some = [true, true, false, true, true];
        assert_eq!(seasonal_naive_mae(&v, &some, 5, 1), Some((1.0 + 4.0) / 2.0));
        assert_eq!(seasonal_naive_mae(&[3.0; 4], &[true; 4], 4, 1), None);
    }
}
