//! The baselines every forecast is shown beside: naive (the last value), seasonal naive (the
//! value one season earlier), and a linear autoregression on the same context and covariates
//! as the model (least squares, fitted on the training part).

use super::window::{Frame, WindowBuffers};

/// The naive forecast from origin `o`: `horizon` steps of `values[o - 1]`.
pub fn naive(values: &[f64], o: usize, horizon: usize) -> Vec<f64> {
    vec![values[o - 1]; horizon]
}

/// The seasonal-naive forecast from origin `o`: step `o + k` gets the value of the last step
/// before `o` in the same phase of the season, `values[o + k - season * (k / season + 1)]`.
pub fn seasonal_naive(values: &[f64], o: usize, horizon: usize, season: usize) -> Vec<f64> {
    (0..horizon)
        .map(|k| values[o + k - season * (k / season + 1)])
        .collect()
}

/// A direct multi-step linear forecaster: each horizon step and target gets its own weights
/// over one window's inputs (the context's targets and covariates, the horizon's known
/// columns) and a constant, fitted by ridge-regularised least squares in scaled units.
#[derive(Clone, Debug)]
pub struct Linear {
    /// `[features + 1, horizon * targets]`, row-major.
    weights: Vec<f64>,
    features: usize,
    outputs: usize,
}

/// The ridge penalty of the linear baseline, relative to the mean diagonal of `X^T X`: enough
/// to keep collinear covariates solvable, too little to bias a well-posed fit.
pub const RIDGE: f64 = 1e-6;

/// The penalties [`Linear::fit_validated`] chooses from, relative like [`RIDGE`].
pub const RIDGES: [f64; 6] = [1e-6, 1e-4, 1e-3, 1e-2, 3e-2, 1e-1];

/// What [`Linear::fit_validated`] chose.
#[derive(Clone, Debug)]
pub struct Validated {
    /// Fitted on the training windows with the chosen penalty.
    pub fit: Linear,
    /// Fitted on the training windows and the further ones, with the chosen penalty.
    pub refit: Linear,
    /// The chosen penalty, relative like [`RIDGE`].
    pub ridge: f64,
}

/// The normal equations of windows: `X^T X` `[p, p]` and `X^T Y` `[p, outputs]` with
/// `p = features + 1` (the constant last).
struct Gram {
    xtx: Vec<f64>,
    xty: Vec<f64>,
    features: usize,
    outputs: usize,
}

impl Gram {
    fn of(frame: &Frame, origins: &[usize], context: usize, horizon: usize) -> Option<Gram> {
        if origins.is_empty() {
            return None;
        }
        let mut w = WindowBuffers::default();
        for &o in origins {
            frame.window(o, context, horizon, &mut w);
        }
        let n = w.windows;
        let (enc_w, dec_w) = (w.enc.len() / n, w.dec.len() / n);
        let features = enc_w + dec_w;
        let p = features + 1;
        let outputs = w.y.len() / n;
        let (mut xtx, mut xty) = (vec![0.0; p * p], vec![0.0; p * outputs]);
        let mut x = Vec::with_capacity(p);
        for i in 0..n {
            x.clear();
            x.extend(
                w.enc[i * enc_w..(i + 1) * enc_w]
                    .iter()
                    .map(|&v| f64::from(v)),
            );
            x.extend(
                w.dec[i * dec_w..(i + 1) * dec_w]
                    .iter()
                    .map(|&v| f64::from(v)),
            );
            x.push(1.0);
            let y = &w.y[i * outputs..(i + 1) * outputs];
            for a in 0..p {
                let xa = x[a];
                let row = &mut xtx[a * p..(a + 1) * p];
                for (r, xb) in row[a..].iter_mut().zip(&x[a..]) {
                    *r += xa * xb;
                }
                for (r, &yk) in xty[a * outputs..(a + 1) * outputs].iter_mut().zip(y) {
                    *r += xa * f64::from(yk);
                }
            }
        }
        for a in 0..p {
            for b in 0..a {
                xtx[a * p + b] = xtx[b * p + a];
            }
        }
        Some(Gram {
            xtx,
            xty,
            features,
            outputs,
        })
    }

    /// Adds the windows of `other` (same shapes).
    fn add(&mut self, other: &Gram) {
        for (a, b) in self.xtx.iter_mut().zip(&other.xtx) {
            *a += b;
        }
        for (a, b) in self.xty.iter_mut().zip(&other.xty) {
            *a += b;
        }
    }

    /// The least-squares weights with penalty `ridge` (relative to the mean diagonal).
    fn solve(&self, ridge: f64) -> Linear {
        let p = self.features + 1;
        let mut xtx = self.xtx.clone();
        let mean_diag = (0..p).map(|a| xtx[a * p + a]).sum::<f64>() / p as f64;
        for a in 0..p {
            xtx[a * p + a] += ridge * mean_diag.max(1e-12);
        }
        Linear {
            weights: solve_spd(xtx, self.xty.clone(), p, self.outputs),
            features: self.features,
            outputs: self.outputs,
        }
    }
}

impl Linear {
    /// Fits the windows of `origins` (each with `o + horizon <= frame.len`) with the penalty
    /// [`RIDGE`] (the linear baseline). `None` when there are no origins.
    pub fn fit(frame: &Frame, origins: &[usize], context: usize, horizon: usize) -> Option<Linear> {
        Linear::fit_ridge(frame, origins, context, horizon, RIDGE)
    }

    /// [`Linear::fit`] with the penalty `ridge`, relative like [`RIDGE`].
    pub fn fit_ridge(
        frame: &Frame,
        origins: &[usize],
        context: usize,
        horizon: usize,
        ridge: f64,
    ) -> Option<Linear> {
        Some(Gram::of(frame, origins, context, horizon)?.solve(ridge))
    }

    /// Fits the windows of `train` with each penalty of [`RIDGES`] and keeps the one whose
    /// forecasts of the windows of `val` have the least mean absolute error over the observed
    /// targets; then refits with that penalty on the windows of `train` and of `more` together
    /// (the normal equations of `train` are summed once, not again). `None` when `train` or
    /// `val` has no origins.
    pub fn fit_validated(
        frame: &Frame,
        [train, val, more]: [&[usize]; 3],
        context: usize,
        horizon: usize,
    ) -> Option<Validated> {
        let mut gram = Gram::of(frame, train, context, horizon)?;
        if val.is_empty() {
            return None;
        }
        let mut w = WindowBuffers::default();
        for &o in val {
            frame.window(o, context, horizon, &mut w);
        }
        let error = |fit: &Linear| {
            let pred = fit.predict(&w);
            let (mut sum, mut count) = (0.0, 0.0);
            for ((p, &y), &m) in pred.iter().zip(&w.y).zip(&w.mask) {
                sum += f64::from(m) * (p - f64::from(y)).abs();
                count += f64::from(m);
            }
            sum / count.max(1.0)
        };
        let (_, fit, ridge) = RIDGES
            .iter()
            .map(|&r| {
                let fit = gram.solve(r);
                (error(&fit), fit, r)
            })
            .min_by(|a, b| a.0.total_cmp(&b.0))?;
        if let Some(extra) = Gram::of(frame, more, context, horizon) {
            gram.add(&extra);
        }
        Some(Validated {
            refit: gram.solve(ridge),
            fit,
            ridge,
        })
    }

    /// The weights `[features + 1, outputs]` (row-major, the constant's row last), the number
    /// of features (`context * context_width + horizon * known_width`) and of outputs
    /// (`horizon * targets`).
    pub fn weights(&self) -> (&[f64], usize, usize) {
        (&self.weights, self.features, self.outputs)
    }

    /// The forecasts of the windows in `w`: `[windows, horizon * targets]` in scaled units.
    pub fn predict(&self, w: &WindowBuffers) -> Vec<f64> {
        let n = w.windows;
        let (enc_w, dec_w) = (w.enc.len() / n.max(1), w.dec.len() / n.max(1));
        assert_eq!(enc_w + dec_w, self.features, "window width");
        let mut out = vec![0.0; n * self.outputs];
        for i in 0..n {
            let x = w.enc[i * enc_w..(i + 1) * enc_w]
                .iter()
                .chain(&w.dec[i * dec_w..(i + 1) * dec_w])
                .map(|&v| f64::from(v))
                .chain([1.0]);
            let o = &mut out[i * self.outputs..(i + 1) * self.outputs];
            for (a, xa) in x.enumerate() {
                let wa = &self.weights[a * self.outputs..(a + 1) * self.outputs];
                for (ok, wk) in o.iter_mut().zip(wa) {
                    *ok += xa * wk;
                }
            }
        }
        out
    }
}

/// Solves `A X = B` for a symmetric positive definite `A` `[p, p]` and `B` `[p, m]` by Cholesky
/// factorisation (`A = L L^T`), in place.
fn solve_spd(mut a: Vec<f64>, mut b: Vec<f64>, p: usize, m: usize) -> Vec<f64> {
    for j in 0..p {
        let mut d = a[j * p + j];
        for k in 0..j {
            d -= a[j * p + k] * a[j * p + k];
        }
        let d = d.max(1e-300).sqrt();
        a[j * p + j] = d;
        for i in j + 1..p {
            let mut s = a[i * p + j];
            for k in 0..j {
                s -= a[i * p + k] * a[j * p + k];
            }
            a[i * p + j] = s / d;
        }
    }
    // L Y = B, then L^T X = Y.
    for i in 0..p {
        for k in 0..i {
            let l = a[i * p + k];
            for c in 0..m {
                b[i * m + c] -= l * b[k * m + c];
            }
        }
        let d = a[i * p + i];
        for c in 0..m {
            b[i * m + c] /= d;
        }
    }
    for i in (0..p).rev() {
        for k in i + 1..p {
            let l = a[k * p + i];
            for c in 0..m {
                b[i * m + c] -= l * b[k * m + c];
            }
        }
        let d = a[i * p + i];
        for c in 0..m {
            b[i * m + c] /= d;
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::series::{Series, SeriesSpec};
    use crate::forecast::window::Scalers;

    #[test]
    fn naive_and_seasonal_naive_by_hand() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
        assert_eq!(naive(&v, 5, 3), vec![5.0, 5.0, 5.0]);
        // Season 3, origin 5: steps 5, 6, 7, 8 take steps 2, 3, 4, then 2 again.
        assert_eq!(seasonal_naive(&v, 5, 4, 3), vec![3.0, 4.0, 5.0, 3.0]);
        assert_eq!(seasonal_naive(&v, 5, 2, 1), vec![5.0, 5.0]);
    }

    #[test]
    fn linear_recovers_an_exact_autoregression() {
        // y_t = 0.5 y_{t-1} - 0.3 y_{t-2} + 2 f_t + 1, f known in the future.
        let mut y = vec![1.0, 2.0];
        let f: Vec<f64> = (0..80).map(|t| ((t * 7 % 11) as f64).sin()).collect();
        for t in 2..80 {
            y.push(0.5 * y[t - 1] - 0.3 * y[t - 2] + 2.0 * f[t] + 1.0);
        }
        let csv: String = std::iter::once("y,f\n".to_string())
            .chain((0..80).map(|t| format!("{},{}\n", y[t], f[t])))
            .collect();
        let spec = SeriesSpec {
            target: vec!["y".into()],
            future_covariates: vec!["f".into()],
            ..SeriesSpec::default()
        };
        let series = Series::from_reader(csv.as_bytes(), std::path::Path::new("t"), &spec).unwrap();
        let scalers = Scalers::fit(&series, 60).unwrap();
        let frame = Frame::new(&series, &scalers, false);
        let origins: Vec<usize> = (2..60).collect();
        let lin = Linear::fit(&frame, &origins, 2, 1).unwrap();
        let mut w = WindowBuffers::default();
        for o in 60..80 {
            frame.window(o, 2, 1, &mut w);
        }
        let got = lin.predict(&w);
        // Validation picks the smallest penalty for an exact relation.
        let val: Vec<usize> = (50..59).collect();
        let train: Vec<usize> = (2..50).collect();
        let more: Vec<usize> = (50..60).collect();
        let v = Linear::fit_validated(&frame, [&train, &val, &more], 2, 1).unwrap();
        assert_eq!(v.ridge, RIDGES[0]);
        // The refit sums the same windows as a fit on all of them at once.
        let all: Vec<usize> = (2..60).collect();
        let once = Linear::fit_ridge(&frame, &all, 2, 1, v.ridge).unwrap();
        for (a, b) in v.refit.weights().0.iter().zip(once.weights().0) {
            assert!((a - b).abs() < 1e-9 * b.abs().max(1.0), "{a} vs {b}");
        }
        for (i, o) in (60..80).enumerate() {
            let want = scalers.targets[0].scale(y[o]);
            assert!(
                (got[i] - want).abs() < 1e-4,
                "step {o}: {} vs {want}",
                got[i]
            );
        }
    }
}
