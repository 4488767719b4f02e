//! The forecaster: a recurrent encoder over the context window and a direct multi-step head over
//! the horizon, given the horizon's known future (future covariates, calendar features).
//!
//! `[B, C, D]` context → recurrent layers → the last step's output `[B, H]`, concatenated with
//! the horizon's known columns `[B, horizon * K]` → Linear → `[B, horizon * targets]`, added to
//! a base forecast: the seasonal-naive forecast read from the context (each step's value one
//! season earlier; a season of 1 is the last value), or, with
//! [`ForecasterConfig::linear_context`], a frozen linear map of the whole window whose weights a
//! least-squares fit sets ([`Forecaster::with_linear_base`]). The head starts at zero, so an
//! untrained model forecasts exactly its base and the network learns the change from it.
//!
//! A probabilistic forecaster ([`ForecastLoss::Quantile`], [`ForecastLoss::Gaussian`]) forecasts
//! several values per step and target: the quantiles, built upwards and downwards from the one
//! nearest the median by adding softplus gaps (so they never cross), or a mean and a softplus
//! scale. A frozen spread per output ([`Forecaster::with_residuals`]: the base's residual
//! quantiles, or their root mean square, in each window's local scale or alike for every
//! window) sets the gaps, so the untrained model forecasts the base with the base's own
//! empirical intervals; the head moves the point (median or mean) and the intervals with it.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Int, Tensor, TensorData, backend::Backend};

use crate::forecast::linear;
use crate::forecast::time::YearHarmonics;
use crate::layer::{Recurrent, RecurrentConfig};
use crate::model::task::head;

/// How the forecast's error is measured in training.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForecastLoss {
    /// Mean absolute error (the median forecast).
    #[default]
    Mae,
    /// Mean squared error (the mean forecast).
    Mse,
    /// The pinball loss averaged over the quantile levels (a quantile forecast).
    Quantile,
    /// The negative log-likelihood of a normal distribution (a mean and a scale).
    Gaussian,
}

impl ForecastLoss {
    /// Values forecast per step and target: 1 (a point), one per quantile level, or 2 (mean and
    /// scale).
    pub fn outputs(self, levels: usize) -> usize {
        match self {
            ForecastLoss::Mae | ForecastLoss::Mse => 1,
            ForecastLoss::Quantile => levels,
            ForecastLoss::Gaussian => 2,
        }
    }

    /// Whether the forecast is a distribution (quantiles or a normal), not a point.
    pub fn is_probabilistic(self) -> bool {
        matches!(self, ForecastLoss::Quantile | ForecastLoss::Gaussian)
    }
}

/// How the horizon is decoded from the encoded context.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decoder {
    /// One linear head gives every step of the horizon at once, from the encoder's last output
    /// and the horizon's known columns.
    #[default]
    Direct,
    /// A recurrent decoder, starting from the encoder's final state, steps through the horizon:
    /// each step reads the previous step's value (the actual in training, teacher forcing; its
    /// own point forecast otherwise) and the step's known columns.
    Autoregressive,
}

/// The smallest scale of a Gaussian forecast and gap between quantiles (scaled units).
const MIN_SPREAD: f64 = 1e-3;

/// `softplus(x) = ln(1 + e^x)`, without overflow.
fn softplus<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    x.clone().clamp_min(0.0) + x.abs().neg().exp().log1p()
}

/// The inverse of softplus, for `y > 0`.
fn softplus_inverse(y: f64) -> f64 {
    y + (-(-y).exp_m1()).ln()
}

/// Configuration of a [`Forecaster`].
#[derive(Config, Debug)]
pub struct ForecasterConfig {
    /// The encoder (`input_size`: values per context step, `D`: targets, past covariates and
    /// known columns).
    pub recurrent: RecurrentConfig,
    /// Target columns.
    pub targets: usize,
    /// Known columns per horizon step, `K` (future covariates and calendar features).
    pub known: usize,
    /// Steps forecast.
    pub horizon: usize,
    /// The season of the forecast the head adds to: step `k` starts from the context's value
    /// `season * (k / season + 1) - k` steps before the origin. At most the context length.
    #[config(default = 1)]
    pub season: usize,
    /// When set, the base is not seasonal naive but a linear map, kept out of training, of the
    /// window: this many context steps `[C * D]`, the horizon's known columns `[horizon * K]`,
    /// the harmonics and hinge terms configured below, and a constant. It starts at zero;
    /// [`Forecaster::with_linear_base`] sets it from a fitted [`linear::Linear`].
    pub linear_context: Option<usize>,
    /// With a linear base: the first this many known columns (the future covariates) also
    /// enter it as hinge terms `max(0, x - knot)` at [`linear::KNOT_QUANTILES`]'s knots
    /// (set by [`Forecaster::with_linear_base`] from the fit's [`linear::Hinges`]).
    #[config(default = 0)]
    pub hinges: usize,
    /// With hinge terms: the known column of the day's sine (its cosine the next) that each
    /// hinge term is also multiplied by ([`linear::Hinges::day`]). `None`: the terms alone.
    #[config(default = "None")]
    pub hinge_day: Option<usize>,
    /// With a linear base: of each context step it reads only the first this many values (the
    /// CLI's: the targets and the past and future covariates, not the calendar features).
    /// `None`: all `D`.
    pub linear_columns: Option<usize>,
    /// With a linear base: it also reads these harmonics of the year's phase at the horizon's
    /// first step (from the known columns' yearly sine and cosine; see
    /// [`crate::forecast::time::YearHarmonics`]).
    #[config(default = "None")]
    pub year: Option<YearHarmonics>,
    /// With a linear base: it also reads these harmonics of the week's phase at the horizon's
    /// first step ([`YearHarmonics::week`]), after the year's.
    #[config(default = "None")]
    pub week: Option<YearHarmonics>,
    /// What the forecast is and how training measures it.
    #[config(default = "ForecastLoss::Mae")]
    pub loss: ForecastLoss,
    /// Quantile levels of [`ForecastLoss::Quantile`], strictly increasing in `(0, 1)`.
    #[config(default = "vec![0.1, 0.5, 0.9]")]
    pub quantiles: Vec<f64>,
    /// The direct head or the autoregressive decoder (which needs a unidirectional encoder).
    #[config(default = "Decoder::Direct")]
    pub decoder: Decoder,
    /// Whether a probabilistic forecaster's spread is measured in each window's
    /// [`Forecaster::local_scale`] (wider intervals after volatile contexts) or in the targets'
    /// scaled units, alike for every window. The network's change to the point forecast is
    /// measured in the local scale either way.
    #[config(default = true)]
    pub local_spread: bool,
}

impl ForecasterConfig {
    /// Creates the model on `device`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Forecaster<B> {
        let encoder = self.recurrent.init(device);
        let outputs = self.loss.outputs(self.quantiles.len());
        let autoregressive = self.decoder == Decoder::Autoregressive;
        assert!(
            !(autoregressive && self.recurrent.bidirectional),
            "an autoregressive decoder continues a unidirectional encoder"
        );
        // The decoder: the encoder's cells and sizes, reading a step's previous value and its
        // known columns.
        let decoder = autoregressive.then(|| {
            let mut c = self.recurrent.clone();
            c.input_size = self.targets + self.known;
            c.init(device)
        });
        let (head_in, head_out) = if autoregressive {
            (encoder.output_size(), self.targets * outputs)
        } else {
            (
                encoder.output_size() + self.horizon * self.known,
                self.horizon * self.targets * outputs,
            )
        };
        let mut head = LinearConfig::new(head_in, head_out).init(device);
        head.weight = Param::from_tensor(head.weight.val().zeros_like());
        head.bias = head.bias.map(|b| Param::from_tensor(b.val().zeros_like()));
        let knots = linear::KNOT_QUANTILES.len();
        let hinges = if self.linear_context.is_some() {
            self.hinges
        } else {
            0
        };
        let hinge_day = self.hinge_day.filter(|_| hinges > 0);
        let per_term = linear::Hinges::features_per_term(hinge_day.is_some());
        let columns = self
            .linear_columns
            .unwrap_or(self.recurrent.input_size)
            .min(self.recurrent.input_size);
        let year = self.year.filter(|_| self.linear_context.is_some());
        let week = self.week.filter(|_| self.linear_context.is_some());
        let linear_base = self.linear_context.map(|c| {
            let mut linear = LinearConfig::new(
                c * columns
                    + self.horizon * (self.known + hinges * knots * per_term)
                    + year.map_or(0, |y| y.count())
                    + week.map_or(0, |w| w.count()),
                self.horizon * self.targets,
            )
            .init(device);
            linear.weight =
                Param::from_tensor(linear.weight.val().zeros_like()).set_require_grad(false);
            linear.bias = linear
                .bias
                .map(|b| Param::from_tensor(b.val().zeros_like()).set_require_grad(false));
            linear
        });
        let knots = (hinges > 0).then(|| {
            Param::from_tensor(Tensor::zeros([hinges, knots], device)).set_require_grad(false)
        });
        Forecaster {
            encoder,
            decoder,
            head,
            linear_base,
            knots,
            hinge_day,
            year: year.map(|y| [y.column, y.order]),
            week: week.map(|w| [w.column, w.order]),
            targets: self.targets,
            horizon: self.horizon,
            season: self.season,
            linear_columns: columns,
            outputs,
            median: crate::forecast::interval::median_index(&self.quantiles),
            gaussian: self.loss == ForecastLoss::Gaussian,
            local_spread: self.local_spread,
            spread: (outputs > 1).then(|| {
                Param::from_tensor(Tensor::zeros(
                    [self.horizon * self.targets, outputs],
                    device,
                ))
                .set_require_grad(false)
            }),
            scale_floor: (outputs > 1)
                .then(|| Param::from_tensor(Tensor::ones([1], device)).set_require_grad(false)),
        }
    }
}

/// A recurrent encoder and a direct multi-step head.
#[derive(Module, Debug)]
pub struct Forecaster<B: Backend> {
    /// The recurrent layers over the context.
    pub encoder: Recurrent<B>,
    /// The autoregressive decoder's recurrent layers (input: a step's previous values and its
    /// known columns, `targets + K`), when configured.
    pub decoder: Option<Recurrent<B>>,
    /// Direct: `[H + horizon * K] → [horizon * targets * P]`; autoregressive: the decoder's
    /// output `[H] → [targets * P]` per step.
    pub head: Linear<B>,
    /// The frozen linear base `[C * D + horizon * K + Y + horizon * F * knots * T] → [horizon *
    /// targets]` (`Y`: the year's and the week's harmonic terms; `T`: 3 with the hinge terms'
    /// products with the day, else 1), when configured.
    pub linear_base: Option<Linear<B>>,
    /// The knots of the base's hinge terms `[F, knots]` (frozen), for its first `F` known
    /// columns.
    pub knots: Option<Param<Tensor<B, 2>>>,
    /// The known column of the day's sine (its cosine the next) each hinge term is also
    /// multiplied by, when the base has those products.
    pub hinge_day: Option<usize>,
    /// The known column of the year's sine and the highest harmonic the base reads.
    pub year: Option<[usize; 2]>,
    /// The known column of the week's sine and the highest harmonic the base reads.
    pub week: Option<[usize; 2]>,
    /// Target columns; they are the first values of each context step.
    pub targets: usize,
    /// Steps forecast.
    pub horizon: usize,
    /// The season of the base forecast (1: the last value).
    pub season: usize,
    /// Values of each context step the linear base reads (the first ones).
    pub linear_columns: usize,
    /// Values forecast per step and target, `P`: 1 (a point), the quantile levels, or 2 (a
    /// Gaussian's mean and scale).
    pub outputs: usize,
    /// Of quantile outputs, the one the base adds to (nearest the median).
    pub median: usize,
    /// Whether the two outputs are a Gaussian's mean and scale.
    pub gaussian: bool,
    /// Whether the spread is measured in local scales (see [`Forecaster::with_residuals`]).
    pub local_spread: bool,
    /// The frozen spread `[horizon * targets, P]` added to the head's output of a probabilistic
    /// forecaster (see [`Forecaster::with_residuals`]).
    pub spread: Option<Param<Tensor<B, 2>>>,
    /// The smallest local scale `[1]` (frozen) a probabilistic forecaster's point offset and
    /// local spread are multiplied by (see [`Forecaster::local_scale`]).
    pub scale_floor: Option<Param<Tensor<B, 1>>>,
}

impl<B: Backend> Forecaster<B> {
    /// The model with its linear base set to `fit`, a least-squares fit of the same windows
    /// ([`linear::Linear::fit`] with this model's context and horizon); the base stays out
    /// of training.
    ///
    /// # Panics
    /// When the model has no linear base or `fit` has other dimensions.
    pub fn with_linear_base(mut self, fit: &linear::Linear) -> Self {
        let linear = self
            .linear_base
            .take()
            .expect("a forecaster configured with linear_context");
        let [features, outputs] = linear.weight.val().dims();
        let (weights, f, o) = fit.weights();
        assert_eq!((f, o), (features, outputs), "linear fit dimensions");
        let device = linear.weight.val().device();
        let values: Vec<f32> = weights.iter().map(|&w| w as f32).collect();
        let all = Tensor::<B, 2>::from_data(TensorData::new(values, [f + 1, o]), &device);
        let weight = all.clone().narrow(0, 0, f);
        let bias = all.narrow(0, f, 1).reshape([o]);
        self.linear_base = Some(Linear {
            weight: Param::from_tensor(weight).set_require_grad(false),
            bias: Some(Param::from_tensor(bias).set_require_grad(false)),
        });
        assert_eq!(
            fit.terms().year.map(|y| [y.column, y.order]),
            self.year,
            "the year's harmonics of the linear fit"
        );
        assert_eq!(
            fit.terms().week.map(|w| [w.column, w.order]),
            self.week,
            "the week's harmonics of the linear fit"
        );
        let hinges = &fit.terms().hinges;
        let columns = self.knots.as_ref().map_or(0, |k| k.val().dims()[0]);
        assert_eq!(
            hinges.knots.len(),
            columns,
            "hinge columns of the linear fit"
        );
        assert_eq!(
            hinges.day.filter(|_| columns > 0),
            self.hinge_day,
            "the linear fit's hinge terms by the day"
        );
        if columns > 0 {
            let per = hinges.knots[0].len();
            let values: Vec<f32> = hinges.knots.iter().flatten().map(|&k| k as f32).collect();
            let knots = Tensor::<B, 2>::from_data(TensorData::new(values, [columns, per]), &device);
            self.knots = Some(Param::from_tensor(knots).set_require_grad(false));
        }
        self
    }

    /// The harmonics `2..=order` of a cycle whose sine is known column `column` (the year's,
    /// the week's) at the horizon's first step: `[B, horizon * K]` → `[B, 2 * (order - 1)]`
    /// (sine, cosine of each), by the angle-addition recurrence as [`YearHarmonics::extend`]
    /// computes them; empty without them.
    fn harmonic_terms(known: &Tensor<B, 2>, harmonics: Option<[usize; 2]>) -> Option<Tensor<B, 2>> {
        let [column, order] = harmonics?;
        let s1 = known.clone().narrow(1, column, 1);
        let c1 = known.clone().narrow(1, column + 1, 1);
        let (mut s, mut c) = (s1.clone(), c1.clone());
        let mut terms = Vec::with_capacity(2 * order);
        for _ in 2..=order {
            let next_s = s.clone() * c1.clone() + c.clone() * s1.clone();
            let next_c = c * c1.clone() - s * s1.clone();
            (s, c) = (next_s, next_c);
            terms.push(s.clone());
            terms.push(c.clone());
        }
        (!terms.is_empty()).then(|| Tensor::cat(terms, 1))
    }

    /// The hinge terms of the horizon's known columns: `[B, horizon * K]` →
    /// `[B, horizon * F * knots * T]` (step, column, knot, then with the day the term and its
    /// products with the day's sine and cosine: `T` = 3), empty without knots.
    fn hinge_terms(&self, known: Tensor<B, 2>) -> Option<Tensor<B, 2>> {
        let knots = self.knots.as_ref()?.val();
        let [columns, per] = knots.dims();
        let [batch, width] = known.dims();
        let (h, k) = (self.horizon, width / self.horizon);
        let steps = known.reshape([batch, h, k]);
        let x = steps
            .clone()
            .narrow(2, 0, columns)
            .reshape([batch, h, columns, 1]);
        let terms = (x - knots.reshape([1, 1, columns, per])).clamp_min(0.0);
        let Some(day) = self.hinge_day else {
            return Some(terms.reshape([batch, h * columns * per]));
        };
        let sin_cos = steps.narrow(2, day, 2).reshape([batch, h, 1, 1, 2]);
        let terms = terms.reshape([batch, h, columns, per, 1]);
        let products = terms.clone() * sin_cos;
        Some(Tensor::cat(vec![terms, products], 4).reshape([batch, h * columns * per * 3]))
    }

    /// The forecasts, in the scaled units of the inputs.
    ///
    /// # Shapes
    /// - `context`: `[B, C, D]`, the targets first in each step
    /// - `known`: `[B, horizon * K]` (`[B, 0]` when nothing is known)
    /// - returns `[B, horizon * targets * P]`, step-major (`[B, horizon, targets, P]` flattened):
    ///   the point forecast (`P = 1`), the ascending quantiles, or a Gaussian's mean and scale
    ///
    /// # Panics
    /// When the context is shorter than the season, or, with a linear base, not the length
    /// the base was configured for.
    pub fn forward(&self, context: Tensor<B, 3>, known: Tensor<B, 2>) -> Tensor<B, 2> {
        self.forecast(context, known, None, None)
    }

    /// [`Forecaster::forward`] from a base forecast given from outside, `base`
    /// `[B, horizon * targets]` (scaled units: each series' own linear fit, for a model trained
    /// over many series), instead of the model's own base.
    pub fn forward_with_base(
        &self,
        context: Tensor<B, 3>,
        known: Tensor<B, 2>,
        base: Tensor<B, 2>,
    ) -> Tensor<B, 2> {
        self.forecast(context, known, None, Some(base))
    }

    /// [`Forecaster::forward`] (or, with `base`, [`Forecaster::forward_with_base`]) as training
    /// runs it: an autoregressive decoder reads the actual previous values `target`
    /// `[B, horizon * targets]` (teacher forcing) instead of its own forecasts; the direct head
    /// ignores them.
    pub fn forward_train(
        &self,
        context: Tensor<B, 3>,
        known: Tensor<B, 2>,
        target: Tensor<B, 2>,
        base: Option<Tensor<B, 2>>,
    ) -> Tensor<B, 2> {
        self.forecast(context, known, Some(target), base)
    }

    fn forecast(
        &self,
        context: Tensor<B, 3>,
        known: Tensor<B, 2>,
        teacher: Option<Tensor<B, 2>>,
        base: Option<Tensor<B, 2>>,
    ) -> Tensor<B, 2> {
        let base = match base {
            Some(base) => base,
            None => self.base(context.clone(), known.clone()),
        };
        let scale = (self.outputs > 1).then(|| self.spread_scale(context.clone()));
        let raw = match &self.decoder {
            None => self.network(context, known),
            Some(decoder) => self.decode(decoder, context, known, &base, scale.clone(), teacher),
        };
        self.distribution(raw, base, scale)
    }

    /// The autoregressive decoder's head outputs `[B, horizon * targets * P]`: with `teacher`
    /// `[B, horizon * targets]` all steps in one pass over the actual previous values, else step
    /// by step, each reading the previous step's point forecast (`base + output` at the
    /// median or mean, in the local scale).
    fn decode(
        &self,
        decoder: &Recurrent<B>,
        context: Tensor<B, 3>,
        known: Tensor<B, 2>,
        base: &Tensor<B, 2>,
        scale: Option<Tensor<B, 2>>,
        teacher: Option<Tensor<B, 2>>,
    ) -> Tensor<B, 2> {
        let [batch, steps, _] = context.dims();
        let (t, h, p) = (self.targets, self.horizon, self.outputs);
        let k = known.dims()[1] / h;
        let last = context
            .clone()
            .narrow(1, steps - 1, 1)
            .narrow(2, 0, t)
            .reshape([batch, t]);
        let (_, state) = self.encoder.forward(context, None);
        // The decoder's input per step: the previous values, then the known columns.
        let with_known = |previous: Tensor<B, 3>, from: usize, len: usize| {
            if k == 0 {
                previous
            } else {
                let known = known.clone().reshape([batch, h, k]).narrow(1, from, len);
                Tensor::cat(vec![previous, known], 2)
            }
        };
        if let Some(y) = teacher {
            let previous = Tensor::cat(
                vec![
                    last.reshape([batch, 1, t]),
                    y.reshape([batch, h, t]).narrow(1, 0, h - 1),
                ],
                1,
            );
            let (out, _) = decoder.forward(with_known(previous, 0, h), Some(state));
            let hidden = out.dims()[2];
            let raw = head(&self.head, out.reshape([batch * h, hidden]));
            return raw.reshape([batch, h * t * p]);
        }
        // The point among the outputs: the median quantile, the mean, or the point itself.
        let at = if self.gaussian {
            0
        } else {
            self.median.min(p - 1)
        };
        let mut state = Some(state);
        let mut previous = last;
        let mut raws = Vec::with_capacity(h);
        for step in 0..h {
            let x = with_known(previous.reshape([batch, 1, t]), step, 1).reshape([batch, t + k]);
            let (out, next) = decoder.step(x, state);
            state = Some(next);
            let raw = head(&self.head, out);
            let mut change = raw
                .clone()
                .reshape([batch, t, p])
                .narrow(2, at, 1)
                .reshape([batch, t]);
            if let Some(s) = &scale {
                change = change * s.clone();
            }
            previous = base.clone().narrow(1, step * t, t) + change;
            raws.push(raw);
        }
        Tensor::cat(raws, 1)
    }

    /// The local scale of each window and target: the mean absolute change between
    /// consecutive context steps of the target (scaled units). A probabilistic forecaster's
    /// spread is measured in it (at least its frozen floor): calm stretches get narrower
    /// intervals than volatile ones, a series' higher levels wider ones when its changes grow
    /// with them.
    ///
    /// # Shapes
    /// - `context`: `[B, C, D]`; returns `[B, targets]`
    pub fn local_scale(&self, context: Tensor<B, 3>) -> Tensor<B, 2> {
        let [batch, steps, _] = context.dims();
        let y = context.narrow(2, 0, self.targets);
        if steps < 2 {
            return Tensor::ones([batch, self.targets], &y.device());
        }
        let diff = y.clone().narrow(1, 1, steps - 1) - y.narrow(1, 0, steps - 1);
        diff.abs().mean_dim(1).reshape([batch, self.targets])
    }

    /// The base forecast alone (what the model adds to), in scaled units.
    ///
    /// # Shapes
    /// - `context`: `[B, C, D]`; `known`: `[B, horizon * K]`; returns `[B, horizon * targets]`
    pub fn base(&self, context: Tensor<B, 3>, known: Tensor<B, 2>) -> Tensor<B, 2> {
        match &self.linear_base {
            Some(linear) => {
                let [batch, steps, width] = context.dims();
                let features = linear.weight.val().dims()[0];
                let columns = self.linear_columns.min(width);
                let flat = context
                    .narrow(2, 0, columns)
                    .reshape([batch, steps * columns]);
                let mut x = vec![flat, known.clone()];
                x.extend(Self::harmonic_terms(&known, self.year));
                x.extend(Self::harmonic_terms(&known, self.week));
                x.extend(self.hinge_terms(known));
                let x = Tensor::cat(x, 1);
                assert_eq!(x.dims()[1], features, "the window of the linear base");
                head(linear, x)
            }
            None => self.seasonal_base(context),
        }
    }

    /// The scale a probabilistic forecaster's point (the network's change to the base) and,
    /// where it is local, its spread are measured in: the local scale, at least the frozen
    /// floor. `[B, C, D]` → `[B, targets]`.
    fn spread_scale(&self, context: Tensor<B, 3>) -> Tensor<B, 2> {
        let local = self.local_scale(context);
        match &self.scale_floor {
            Some(floor) => {
                let floor = floor.val().reshape([1, 1]);
                (local - floor.clone()).clamp_min(0.0) + floor
            }
            None => local,
        }
    }

    /// The head's output `[B, N * P]`, the base `[B, N]` and the spread's scale `[B, targets]`
    /// (probabilistic forecasters) as the forecast `[B, N * P]`.
    fn distribution(
        &self,
        raw: Tensor<B, 2>,
        base: Tensor<B, 2>,
        local: Option<Tensor<B, 2>>,
    ) -> Tensor<B, 2> {
        let p = self.outputs;
        let (Some(local), true) = (local, p > 1) else {
            return raw + base;
        };
        let [batch, n] = base.dims();
        // The network moves the point (the median, the mean) only; the spread around it stays
        // the base's, measured out of sample: trained on the training windows, where the base's
        // errors are in-sample, the intervals would narrow and cover less than they say.
        let point = if self.gaussian { 0 } else { self.median };
        let only_point: Vec<f32> = (0..p).map(|i| f32::from(u8::from(i == point))).collect();
        let only_point = Tensor::<B, 1>::from_data(TensorData::new(only_point, [p]), &raw.device())
            .reshape([1, 1, p]);
        let mut z = raw.reshape([batch, n, p]) * only_point;
        if let Some(spread) = &self.spread {
            z = z + spread.val().reshape([1, n, p]);
        }
        // For every horizon step: [B, N, 1].
        let scale = local
            .reshape([batch, 1, self.targets])
            .repeat_dim(1, self.horizon)
            .reshape([batch, n, 1]);
        let base = base.reshape([batch, n, 1]);
        // The spread in the local scale, or in the scaled units alike for every window.
        let in_unit = |t: Tensor<B, 3>| {
            if self.local_spread {
                t * scale.clone()
            } else {
                t
            }
        };
        if self.gaussian {
            let sd = in_unit(softplus(z.clone().narrow(2, 1, 1))) + MIN_SPREAD;
            let mean = z.narrow(2, 0, 1) * scale + base;
            return Tensor::cat(vec![mean, sd], 2).reshape([batch, n * 2]);
        }
        // Steps from the median: the median's own value, then softplus gaps below (negative)
        // and above it, summed outwards by one matrix product: q_i = base + s_m + the steps
        // between m and i.
        let m = self.median;
        let device = z.device();
        let row = |v: Vec<f32>| Tensor::<B, 1>::from_data(TensorData::new(v, [p]), &device);
        let at_median =
            row((0..p).map(|i| f32::from(u8::from(i == m))).collect()).reshape([1, 1, p]);
        let sign = row((0..p)
            .map(|i| match i.cmp(&m) {
                std::cmp::Ordering::Less => -1.0,
                std::cmp::Ordering::Equal => 0.0,
                std::cmp::Ordering::Greater => 1.0,
            })
            .collect())
        .reshape([1, 1, p]);
        let steps = in_unit(softplus(z.clone()) * sign) + z * at_median * scale;
        let sums: Vec<f32> = (0..p * p)
            .map(|k| {
                let (j, i) = (k / p, k % p);
                let from = j == m || (j < m && i <= j) || (j > m && i >= j);
                f32::from(u8::from(from))
            })
            .collect();
        let sums = Tensor::<B, 2>::from_data(TensorData::new(sums, [p, p]), &device);
        let q = steps
            .reshape([batch * n, p])
            .matmul(sums)
            .reshape([batch, n, p])
            + base;
        q.reshape([batch, n * p])
    }

    /// Sets the frozen spread from residuals of the base (`actual - base`, scaled units) and the
    /// [`Forecaster::local_scale`] of each residual's window and target, one list of each per
    /// output column `c = step * targets + target`: the residuals are measured in local scales
    /// (at least a floor, half the scales' median) where the spread is local
    /// ([`ForecasterConfig::local_spread`]), else as they are; then a quantile forecaster's
    /// untrained median becomes the base and its other quantiles lie from it as far as each
    /// column's empirical quantiles of those lie from theirs (at the
    /// [`crate::forecast::interval::calibrated_level`] of each level); a Gaussian's untrained mean
    /// is the base and its scale their root mean square times
    /// [`crate::forecast::interval::calibrated_normal_scale`]. The base stays the point forecast:
    /// residuals measured before a refit of the base (on the validation part) do not carry over
    /// its bias. A column with no residual takes all columns' pooled. Point forecasters are
    /// returned as they are.
    ///
    /// # Panics
    /// When `residuals` or `scales` do not hold `horizon * targets` columns of the same lengths.
    pub fn with_residuals(
        mut self,
        residuals: &[Vec<f64>],
        scales: &[Vec<f64>],
        levels: &[f64],
    ) -> Self {
        let Some(spread) = self.spread.take() else {
            return self;
        };
        let [n, p] = spread.val().dims();
        assert_eq!(residuals.len(), n, "residual columns");
        assert_eq!(scales.len(), n, "local scale columns");
        let mut all: Vec<f64> = scales.iter().flatten().copied().collect();
        all.sort_by(f64::total_cmp);
        let floor = if all.is_empty() {
            1.0
        } else {
            (0.5 * crate::forecast::interval::empirical_quantile(&all, 0.5)).max(MIN_SPREAD)
        };
        let residuals: Vec<Vec<f64>> = residuals
            .iter()
            .zip(scales)
            .map(|(r, s)| {
                assert_eq!(r.len(), s.len(), "a local scale per residual");
                let unit = |s: f64| if self.local_spread { s.max(floor) } else { 1.0 };
                r.iter().zip(s).map(|(r, s)| r / unit(*s)).collect()
            })
            .collect();
        let residuals = &residuals[..];
        let mut values = Vec::with_capacity(n * p);
        if self.gaussian {
            let widen = crate::forecast::interval::calibrated_normal_scale();
            let pooled: Vec<f64> = residuals.iter().flatten().copied().collect();
            for r in residuals {
                let r = if r.is_empty() { &pooled } else { r };
                let count = r.len().max(1) as f64;
                let mean_square = r.iter().map(|v| v * v).sum::<f64>() / count;
                values.push(0.0);
                values.push(softplus_inverse(
                    (widen * mean_square.sqrt() - MIN_SPREAD).max(MIN_SPREAD),
                ));
            }
        } else {
            assert_eq!(levels.len(), p, "quantile levels");
            let m = self.median;
            for q in crate::forecast::interval::residual_quantiles(residuals, levels) {
                for i in 0..p {
                    let gap = match i.cmp(&m) {
                        std::cmp::Ordering::Less => q[i + 1] - q[i],
                        std::cmp::Ordering::Equal => {
                            values.push(0.0);
                            continue;
                        }
                        std::cmp::Ordering::Greater => q[i] - q[i - 1],
                    };
                    values.push(softplus_inverse(gap.max(MIN_SPREAD)));
                }
            }
        }
        let device = spread.val().device();
        let values: Vec<f32> = values.iter().map(|&v| v as f32).collect();
        let t = Tensor::<B, 2>::from_data(TensorData::new(values, [n, p]), &device);
        self.spread = Some(Param::from_tensor(t).set_require_grad(false));
        let floor = Tensor::<B, 1>::from_data(TensorData::new(vec![floor as f32], [1]), &device);
        self.scale_floor = Some(Param::from_tensor(floor).set_require_grad(false));
        self
    }

    /// The quantiles of forecast `pred` (from [`Forecaster::forward`]) at `levels`: a quantile
    /// forecaster's own (`levels` must be its levels), a Gaussian's `mean + scale * Φ⁻¹(level)`,
    /// a point forecast's value at every level.
    ///
    /// # Shapes
    /// - `pred`: `[B, N * P]`; returns `[B, N, levels]`
    pub fn quantiles(&self, pred: Tensor<B, 2>, levels: &[f64]) -> Tensor<B, 3> {
        let [batch, width] = pred.dims();
        let p = self.outputs;
        let n = width / p;
        let pred = pred.reshape([batch, n, p]);
        if self.gaussian {
            let z: Vec<f32> = levels
                .iter()
                .map(|&l| crate::forecast::interval::normal_quantile(l) as f32)
                .collect();
            let z = Tensor::<B, 1>::from_data(TensorData::new(z, [levels.len()]), &pred.device())
                .reshape([1, 1, levels.len()]);
            let mean = pred.clone().narrow(2, 0, 1);
            let scale = pred.narrow(2, 1, 1);
            return mean + scale * z;
        }
        if p == 1 {
            return pred.repeat_dim(2, levels.len());
        }
        assert_eq!(p, levels.len(), "the forecaster's quantile levels");
        pred
    }

    /// The point forecast of `pred`: itself, the quantile nearest the median, or the mean.
    ///
    /// # Shapes
    /// - `pred`: `[B, N * P]`; returns `[B, N]`
    pub fn point(&self, pred: Tensor<B, 2>) -> Tensor<B, 2> {
        let p = self.outputs;
        if p == 1 {
            return pred;
        }
        let [batch, width] = pred.dims();
        let n = width / p;
        let at = if self.gaussian { 0 } else { self.median };
        pred.reshape([batch, n, p])
            .narrow(2, at, 1)
            .reshape([batch, n])
    }

    /// The seasonal-naive base `[B, horizon * targets]` read from `context` `[B, C, D]`.
    fn seasonal_base(&self, context: Tensor<B, 3>) -> Tensor<B, 2> {
        let [batch, steps, _] = context.dims();
        let season = self.season.max(1);
        assert!(
            season <= steps,
            "a season of {season} steps needs that much context, found {steps}"
        );
        // Step k of the horizon starts from the context step one season (or several) earlier.
        let rows: Vec<i64> = (0..self.horizon)
            .map(|k| (steps + k - season * (k / season + 1)) as i64)
            .collect();
        let rows = Tensor::<B, 1, Int>::from_data(
            TensorData::new(rows, [self.horizon]),
            &context.device(),
        );
        context
            .narrow(2, 0, self.targets)
            .select(1, rows)
            .reshape([batch, self.horizon * self.targets])
    }

    /// The network's change to the base: `[B, C, D]`, `[B, horizon * K]` → `[B, horizon * targets]`.
    fn network(&self, context: Tensor<B, 3>, known: Tensor<B, 2>) -> Tensor<B, 2> {
        let [batch, steps, _] = context.dims();
        let (h, _) = self.encoder.forward(context, None);
        let hidden = h.dims()[2];
        let h = h.narrow(1, steps - 1, 1).reshape([batch, hidden]);
        let x = if known.dims()[1] == 0 {
            h
        } else {
            Tensor::cat(vec![h, known], 1)
        };
        head(&self.head, x)
    }

    /// The masked loss: the mean over the observed targets (`mask` 1) of the absolute or squared
    /// error, the pinball loss averaged over `levels` (the quantile forecaster's), or the
    /// Gaussian negative log-likelihood; filled values (`mask` 0) never count.
    ///
    /// # Shapes
    /// - `prediction`: `[B, N * P]` (from [`Forecaster::forward`]); `target`, `mask`: `[B, N]`
    ///   with `N = horizon * targets`; returns `[1]`
    pub fn loss(
        &self,
        prediction: Tensor<B, 2>,
        target: Tensor<B, 2>,
        mask: Tensor<B, 2>,
        loss: ForecastLoss,
        levels: &[f64],
    ) -> Tensor<B, 1> {
        let count = mask.clone().sum().clamp_min(1.0);
        let err = match loss {
            ForecastLoss::Mae => (prediction - target).abs(),
            ForecastLoss::Mse => {
                let diff = prediction - target;
                diff.clone() * diff
            }
            ForecastLoss::Quantile => {
                return pinball_loss(self.quantiles(prediction, levels), target, mask, levels);
            }
            ForecastLoss::Gaussian => {
                let [batch, n] = target.dims();
                let pred = prediction.reshape([batch, n, 2]);
                let mean = pred.clone().narrow(2, 0, 1).reshape([batch, n]);
                let scale = pred.narrow(2, 1, 1).reshape([batch, n]);
                let z = (target - mean) / scale.clone();
                scale.log() + z.clone() * z * 0.5 + 0.5 * (2.0 * std::f64::consts::PI).ln()
            }
        };
        (err * mask).sum() / count
    }
}

/// The pinball loss of quantile forecasts `q` at `levels`, averaged over the levels and the
/// observed targets (`mask` 1).
///
/// # Shapes
/// - `q`: `[B, N, levels]`; `target`, `mask`: `[B, N]`; returns `[1]`
pub fn pinball_loss<B: Backend>(
    q: Tensor<B, 3>,
    target: Tensor<B, 2>,
    mask: Tensor<B, 2>,
    levels: &[f64],
) -> Tensor<B, 1> {
    let [batch, n, k] = q.dims();
    let tau: Vec<f32> = levels.iter().map(|&l| l as f32).collect();
    let tau = Tensor::<B, 1>::from_data(TensorData::new(tau, [k]), &q.device()).reshape([1, 1, k]);
    // d = y - q: tau * d above the quantile, (tau - 1) * d below it, = |d| / 2 + (tau - 1/2) d.
    let d = target.reshape([batch, n, 1]) - q;
    let loss = d.clone().abs() * 0.5 + d * (tau - 0.5);
    let per = loss.sum_dim(2).reshape([batch, n]) / k as f64;
    let count = mask.clone().sum().clamp_min(1.0);
    (per * mask).sum() / count
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;
    use burn::tensor::{Distribution, TensorData};

    use crate::CellKind;

    type B = NdArray;

    /// A tensor's values, row-major.
    fn values<const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
        t.into_data().to_vec().unwrap()
    }

    #[test]
    fn shapes_and_the_naive_start() {
        let device = Default::default();
        let config = ForecasterConfig::new(RecurrentConfig::new(CellKind::Gru, 4, 8), 2, 1, 3);
        let model = config.init::<B>(&device);
        let context = Tensor::<B, 3>::random([5, 7, 4], Distribution::Default, &device);
        let known = Tensor::<B, 2>::random([5, 3], Distribution::Default, &device);
        let y = model.forward(context.clone(), known);
        assert_eq!(y.dims(), [5, 6]);
        // With a zero head the forecast is the last context value of each target, every step.
        let mut zero = model.clone();
        zero.head.weight = zero.head.weight.map(|w| w.zeros_like());
        zero.head.bias = zero.head.bias.map(|b| b.map(|b| b.zeros_like()));
        let y = zero.forward(context.clone(), Tensor::zeros([5, 3], &device));
        let last: Vec<f32> = context
            .narrow(1, 6, 1)
            .narrow(2, 0, 2)
            .into_data()
            .to_vec()
            .unwrap();
        let y: Vec<f32> = y.into_data().to_vec().unwrap();
        for b in 0..5 {
            for k in 0..3 {
                for j in 0..2 {
                    assert_eq!(y[b * 6 + k * 2 + j], last[b * 2 + j]);
                }
            }
        }
    }

    #[test]
    fn a_linear_base_forecasts_its_fit_and_stays_out_of_training() {
        use crate::forecast::linear::{Hinges, Linear as LinearFit, Terms};
        use crate::forecast::series::{Series, SeriesSpec};
        use crate::forecast::window::{Frame, Scalers, WindowBuffers};
        use burn::backend::Autodiff;

        // A past covariate `p` and a future one `f` whose effect bends (|f|).
        let csv: String = std::iter::once("y,p,f\n".to_string())
            .chain((0..60).map(|t| {
                let t = t as f64;
                let (p, f) = ((t * 0.37).sin(), (t * 1.3).cos());
                let y = (t * 0.7).sin() * 3.0 + t * 0.1 + 2.0 * f.abs() + p;
                format!("{y},{p},{f}\n")
            }))
            .collect();
        let spec = SeriesSpec {
            target: vec!["y".into()],
            past_covariates: vec!["p".into()],
            future_covariates: vec!["f".into()],
            ..SeriesSpec::default()
        };
        let series = Series::from_reader(csv.as_bytes(), std::path::Path::new("t"), &spec).unwrap();
        let scalers = Scalers::fit(&series, 40).unwrap();
        let frame = Frame::new(&series, &scalers, false);
        let (context, horizon) = (5, 3);
        // With hinge terms of the future covariate, so the model's terms are held to the fit's.
        // The base reads the target and the past covariate of each context step, not `f` there.
        let terms = Terms {
            context_columns: Some(2),
            optional_columns: 0,
            hinges: Hinges::fit(&frame, 1, 40),
            year: None,
            week: None,
            from_last: false,
            robust: false,
        };
        let (train, val): (Vec<usize>, Vec<usize>) = ((5..30).collect(), (30..38).collect());
        let v = LinearFit::fit_validated(&frame, [&train, &val, &val], (context, horizon), &terms)
            .unwrap();
        assert!(v.choice.hinged, "the bent effect keeps the hinge terms");
        let fit = v.refit;
        let mut w = WindowBuffers::default();
        for o in 40..50 {
            frame.window(o, context, horizon, &mut w);
        }
        let want = fit.predict(&w);

        type A = Autodiff<B>;
        let device = Default::default();
        let config = ForecasterConfig::new(RecurrentConfig::new(CellKind::Gru, 3, 4), 1, 1, 3)
            .with_linear_context(Some(context))
            .with_hinges(1)
            .with_linear_columns(Some(2));
        let model = config.init::<A>(&device).with_linear_base(&fit);
        let x =
            Tensor::<A, 3>::from_data(TensorData::new(w.enc.clone(), [10, context, 3]), &device);
        let k = Tensor::<A, 2>::from_data(TensorData::new(w.dec.clone(), [10, horizon]), &device);
        let y = model.forward(x, k);
        let got: Vec<f32> = y.clone().into_data().to_vec().unwrap();
        for (g, w) in got.iter().zip(&want) {
            assert!((f64::from(*g) - w).abs() < 1e-4, "{g} vs {w}");
        }
        // Gradients reach the network's head, never the linear base.
        let grads = (y.clone() * y).sum().backward();
        let base = model.linear_base.as_ref().unwrap();
        assert!(base.weight.val().grad(&grads).is_none());
        assert!(model.head.weight.val().grad(&grads).is_some());
    }

    #[test]
    fn the_week_harmonics_draw_the_weekend_and_the_model_reads_them_as_its_fit() {
        use crate::forecast::linear::{Hinges, Terms};
        use crate::forecast::series::{Series, SeriesSpec};
        use crate::forecast::window::{Frame, Scalers};
        use chrono::{Datelike, Timelike};

        // Twelve weeks of hours: a working day's profile on weekdays, a flat low weekend. A day
        // of context cannot tell Friday's tomorrow from Sunday's; the week's first harmonic
        // draws the weekend only roughly.
        let start = chrono::NaiveDate::from_ymd_opt(2024, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        let hours = 12 * 168;
        let csv: String = std::iter::once("time,y\n".to_string())
            .chain((0..hours).map(|t| {
                let d = start + chrono::Duration::hours(t as i64);
                let working = d.weekday().num_days_from_monday() < 5;
                let open = (8..18).contains(&d.hour());
                let noise = ((t * 37 % 11) as f64 / 11.0 - 0.5) * 0.3;
                let y = 10.0 + if working && open { 6.0 } else { 0.0 } + noise;
                format!("{},{y}\n", d.format("%Y-%m-%dT%H:%M:%S"))
            }))
            .collect();
        let spec = SeriesSpec {
            time: Some("time".into()),
            target: vec!["y".into()],
            ..SeriesSpec::default()
        };
        let series = Series::from_reader(csv.as_bytes(), std::path::Path::new("t"), &spec).unwrap();
        let test_start = hours - 2 * 168;
        let val_start = test_start - 2 * 168;
        let scalers = Scalers::fit(&series, val_start).unwrap();
        let frame = Frame::new(&series, &scalers, true);
        // Hourly over twelve weeks: the day's and the week's sine and cosine, no year.
        let week = frame.week.expect("an hourly series of weeks has the week");
        assert_eq!((week.column, week.order, frame.known.len()), (2, 10, 4));
        assert!(frame.year.is_none());
        let terms = |week| Terms {
            context_columns: Some(1),
            optional_columns: 0,
            hinges: Hinges::default(),
            year: None,
            week,
            from_last: false,
            robust: false,
        };
        let (context, horizon) = (24, 24);
        let config = ForecasterConfig::new(RecurrentConfig::new(CellKind::Gru, 5, 4), 1, 4, 24)
            .with_linear_context(Some(context))
            .with_linear_columns(Some(1))
            .with_week(Some(week));
        let with = harmonics_fit_and_model(
            &frame,
            [val_start, test_start, hours],
            (context, horizon),
            [&terms(Some(week)), &terms(None)],
            &config,
        );
        assert!(with.choice.weekly, "the harmonics validate better");
        assert!(with.other_weekly_error.is_some_and(|e| e > with.error));
    }

    #[test]
    fn daily_hinges_follow_an_effect_that_changes_with_the_hour_and_the_model_reads_them() {
        use crate::forecast::linear::{Hinges, Terms};
        use crate::forecast::series::{Series, SeriesSpec};
        use crate::forecast::window::{Frame, Scalers};
        use chrono::Timelike;

        // Eight weeks of hours: the demand rises with the heat above a threshold, five times as
        // much in the afternoon as at night (the multiplier a sine of the hour).
        let start = chrono::NaiveDate::from_ymd_opt(2024, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        let hours = 8 * 168;
        let csv: String = std::iter::once("time,y,temp\n".to_string())
            .chain((0..hours).map(|t| {
                let d = start + chrono::Duration::hours(t as i64);
                let tf = t as f64;
                let temp = 20.0 + 8.0 * (tf * 0.021).sin() + 4.0 * (tf * 0.17).sin();
                let hour = f64::from(d.hour());
                let angle = 2.0 * std::f64::consts::PI * (hour - 9.0) / 24.0;
                let effect = (1.5 + 1.2 * angle.sin()) * (temp - 22.0).max(0.0);
                let noise = ((t * 37 % 11) as f64 / 11.0 - 0.5) * 0.2;
                let y = 30.0 + 2.0 * angle.sin() + effect + noise;
                format!("{},{y},{temp}\n", d.format("%Y-%m-%dT%H:%M:%S"))
            }))
            .collect();
        let spec = SeriesSpec {
            time: Some("time".into()),
            target: vec!["y".into()],
            future_covariates: vec!["temp".into()],
            ..SeriesSpec::default()
        };
        let series = Series::from_reader(csv.as_bytes(), std::path::Path::new("t"), &spec).unwrap();
        let test_start = hours - 168;
        let val_start = test_start - 2 * 168;
        let scalers = Scalers::fit(&series, val_start).unwrap();
        let frame = Frame::new(&series, &scalers, true);
        // The known columns: the temperature, then the day's and the week's sine and cosine.
        assert_eq!((frame.day, frame.known.len()), (Some(1), 5));
        let hinges = Hinges::fit(&frame, 1, val_start);
        assert_eq!(hinges.day, Some(1));
        let terms = |day| Terms {
            context_columns: Some(1),
            optional_columns: 0,
            hinges: Hinges {
                day,
                ..hinges.clone()
            },
            year: None,
            week: None,
            from_last: false,
            robust: false,
        };
        let (context, horizon) = (24, 24);
        let config = ForecasterConfig::new(RecurrentConfig::new(CellKind::Gru, 6, 4), 1, 5, 24)
            .with_linear_context(Some(context))
            .with_linear_columns(Some(1))
            .with_hinges(1)
            .with_hinge_day(frame.day);
        let with = harmonics_fit_and_model(
            &frame,
            [val_start, test_start, hours],
            (context, horizon),
            [&terms(Some(1)), &terms(None)],
            &config,
        );
        assert!(with.choice.hinged && with.choice.daily, "{:?}", with.choice);
        assert!(with.other_daily_error.is_some_and(|e| e > with.error));
    }

    #[test]
    fn the_year_harmonics_draw_a_holiday_dip_and_the_model_reads_them_as_its_fit() {
        use crate::forecast::linear::{Hinges, Terms};
        use crate::forecast::series::{Series, SeriesSpec};
        use crate::forecast::window::{Frame, Scalers};
        use chrono::Datelike;

        // Four years of days: a weekly profile, and a holiday season's dip from December 18th
        // to January 3rd that the calendar's first harmonic of the year cannot draw.
        let start = chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
        let days = 4 * 365 + 1;
        let csv: String = std::iter::once("date,y\n".to_string())
            .chain((0..days).map(|t| {
                let d = start + chrono::Days::new(t as u64);
                let week = [0.0, 1.0, 2.0, 1.0, 0.0, -3.0, -4.0][d.weekday() as usize];
                let holiday =
                    (d.month() == 12 && d.day() >= 18) || (d.month() == 1 && d.day() <= 3);
                let noise = ((t * 37 % 11) as f64 / 11.0 - 0.5) * 0.3;
                let y = 10.0 + week + if holiday { -6.0 } else { 0.0 } + noise;
                format!("{d},{y}\n")
            }))
            .collect();
        let spec = SeriesSpec {
            time: Some("date".into()),
            target: vec!["y".into()],
            ..SeriesSpec::default()
        };
        let series = Series::from_reader(csv.as_bytes(), std::path::Path::new("t"), &spec).unwrap();
        // Test: the last 45 days; validation: the 400 before (a December among them).
        let test_start = days - 45;
        let val_start = test_start - 400;
        let scalers = Scalers::fit(&series, val_start).unwrap();
        let frame = Frame::new(&series, &scalers, true);
        // Daily: the week's and the year's sine and cosine; the year's from column 2.
        let year = frame
            .year
            .expect("a daily series of four years has the year");
        assert_eq!((year.column, year.order, frame.known.len()), (2, 10, 4));
        let terms = |year| Terms {
            context_columns: Some(1),
            optional_columns: 0,
            hinges: Hinges::default(),
            year,
            week: None,
            from_last: false,
            // The harmonics alone: Huber's weights would hold the dip's windows back.
            robust: false,
        };
        let (context, horizon) = (14, 7);
        let config = ForecasterConfig::new(RecurrentConfig::new(CellKind::Gru, 5, 4), 1, 4, 7)
            .with_linear_context(Some(context))
            .with_linear_columns(Some(1))
            .with_year(Some(year));
        let with = harmonics_fit_and_model(
            &frame,
            [val_start, test_start, days],
            (context, horizon),
            [&terms(Some(year)), &terms(None)],
            &config,
        );
        assert!(with.choice.yearly, "the harmonics validate better");
        assert!(with.other_yearly_error.is_some_and(|e| e > with.error));
    }

    /// The linear base of `frame` fitted with `with` and `without` (terms that differ in one
    /// kind of harmonics), each chosen on the validation part (steps `val_start..test_start`)
    /// and refitted up to the test part; asserts that with them it forecasts the test windows
    /// (origins `test_start..end - horizon`) with under 0.8 of the error without them, and that
    /// the model of `config` with it as its linear base forecasts them as the fit does. Returns
    /// the fit with them.
    fn harmonics_fit_and_model(
        frame: &crate::forecast::window::Frame,
        [val_start, test_start, end]: [usize; 3],
        (context, horizon): (usize, usize),
        [with, without]: [&crate::forecast::linear::Terms; 2],
        config: &ForecasterConfig,
    ) -> crate::forecast::linear::Validated {
        use crate::forecast::linear::Linear as LinearFit;
        use crate::forecast::window::WindowBuffers;

        let train: Vec<usize> = (context..val_start - horizon).collect();
        let val: Vec<usize> = (val_start..test_start - horizon).collect();
        let more: Vec<usize> = (val_start - horizon + 1..test_start - horizon).collect();
        let fit = |t: &crate::forecast::linear::Terms| {
            LinearFit::fit_validated(frame, [&train, &val, &more], (context, horizon), t).unwrap()
        };
        let (with, without) = (fit(with), fit(without));
        let mut w = WindowBuffers::default();
        for o in test_start..end - horizon {
            frame.window(o, context, horizon, &mut w);
        }
        let mae = |pred: &[f64]| {
            pred.iter()
                .zip(&w.y)
                .map(|(p, &y)| (p - f64::from(y)).abs())
                .sum::<f64>()
                / pred.len() as f64
        };
        let want = with.refit.predict(&w);
        let (a, b) = (mae(&want), mae(&without.refit.predict(&w)));
        assert!(
            a < 0.8 * b,
            "the forecast: {a} with the harmonics, {b} without"
        );

        // The model's base reads the harmonics from the known columns as the fit does.
        let device = Default::default();
        let model = config.init::<B>(&device).with_linear_base(&with.refit);
        let (n, width, known) = (w.windows, frame.context_width(), frame.known_width());
        let x =
            Tensor::<B, 3>::from_data(TensorData::new(w.enc.clone(), [n, context, width]), &device);
        let k = Tensor::<B, 2>::from_data(
            TensorData::new(w.dec.clone(), [n, horizon * known]),
            &device,
        );
        let got: Vec<f32> = model.forward(x, k).into_data().to_vec().unwrap();
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert!((f64::from(*g) - w).abs() < 1e-3, "{g} vs {w}");
        }
        with
    }

    #[test]
    fn masked_values_never_count() {
        let device = Default::default();
        let model = ForecasterConfig::new(RecurrentConfig::new(CellKind::Lstm, 1, 4), 1, 0, 2)
            .init::<B>(&device);
        let t =
            |v: [f32; 4]| Tensor::<B, 2>::from_data(TensorData::new(v.to_vec(), [2, 2]), &device);
        let pred = t([1.0, 2.0, 3.0, 100.0]);
        let target = t([2.0, 2.0, 1.0, f32::MAX]);
        let mask = t([1.0, 1.0, 1.0, 0.0]);
        let mae: f32 = model
            .loss(
                pred.clone(),
                target.clone() * mask.clone(),
                mask.clone(),
                ForecastLoss::Mae,
                &[],
            )
            .into_scalar();
        assert!((mae - 1.0).abs() < 1e-6, "{mae}");
        let mse: f32 = model
            .loss(pred, target * mask.clone(), mask, ForecastLoss::Mse, &[])
            .into_scalar();
        assert!((mse - 5.0 / 3.0).abs() < 1e-6, "{mse}");
    }

    #[test]
    fn pinball_and_gaussian_losses_by_hand() {
        let device = Default::default();
        let t = |v: Vec<f32>, shape: [usize; 2]| {
            Tensor::<B, 2>::from_data(TensorData::new(v, shape), &device)
        };
        // Two outputs (N = 2), quantiles 0.1 / 0.5 / 0.9, the second actual masked out.
        let model = ForecasterConfig::new(RecurrentConfig::new(CellKind::Gru, 1, 2), 1, 0, 2)
            .with_loss(ForecastLoss::Quantile)
            .init::<B>(&device);
        let q = t(vec![1.0, 2.0, 4.0, 0.0, 0.0, 0.0], [1, 6]);
        let y = t(vec![3.0, 0.0], [1, 2]);
        let mask = t(vec![1.0, 0.0], [1, 2]);
        let levels = [0.1, 0.5, 0.9];
        let got: f32 = model
            .loss(q, y.clone(), mask.clone(), ForecastLoss::Quantile, &levels)
            .into_scalar();
        // y = 3: 0.1 * 2 (above q = 1), 0.5 * 1 (above 2), 0.1 * 1 (below 4).
        let want = (0.2 + 0.5 + 0.1) / 3.0;
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        let model = ForecasterConfig::new(RecurrentConfig::new(CellKind::Gru, 1, 2), 1, 0, 2)
            .with_loss(ForecastLoss::Gaussian)
            .init::<B>(&device);
        // Mean 1, scale 2, actual 3: ln 2 + 1^2 / 2 + ln(2 pi) / 2.
        let pred = t(vec![1.0, 2.0, 0.0, 1.0], [1, 4]);
        let got: f32 = model
            .loss(pred, y, mask, ForecastLoss::Gaussian, &levels)
            .into_scalar();
        let want = (2.0f64.ln() + 0.5 + 0.5 * (2.0 * std::f64::consts::PI).ln()) as f32;
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    }

    #[test]
    fn quantiles_never_cross_and_start_from_the_base_residuals() {
        let device = Default::default();
        let levels = [0.05, 0.1, 0.5, 0.9, 0.95];
        let config = ForecasterConfig::new(RecurrentConfig::new(CellKind::Lstm, 3, 8), 2, 1, 4)
            .with_loss(ForecastLoss::Quantile)
            .with_quantiles(levels.to_vec());
        let model = config.init::<B>(&device);
        // Residuals per output column (4 steps x 2 targets): the untrained model forecasts the
        // base plus their quantiles (at the calibrated levels).
        use crate::forecast::interval::calibrated_level;
        let residuals: Vec<Vec<f64>> = (0..8)
            .map(|c| {
                (0..101)
                    .map(|i| (i as f64 - 50.0) * 0.01 * (c + 1) as f64)
                    .collect()
            })
            .collect();
        // Residuals measured where the local scale was 2: the floor is 1, and the spread, in
        // local scales, half the residuals'.
        let scales: Vec<Vec<f64>> = residuals.iter().map(|r| vec![2.0; r.len()]).collect();
        let model = model.with_residuals(&residuals, &scales, &levels);
        let context = Tensor::<B, 3>::random([6, 5, 3], Distribution::Default, &device);
        let known = Tensor::<B, 2>::random([6, 4], Distribution::Default, &device);
        let base = values(model.base(context.clone(), known.clone()));
        let q = values(model.forward(context.clone(), known.clone()));
        // Contexts of values in [0, 1) change by less than the floor at each step: their
        // intervals are the floor's.
        for b in 0..6 {
            for c in 0..8 {
                for (i, &l) in levels.iter().enumerate() {
                    let want =
                        base[b * 8 + c] as f64 + (calibrated_level(l) - 0.5) * (c + 1) as f64 / 2.0;
                    let got = q[(b * 8 + c) * 5 + i] as f64;
                    assert!((got - want).abs() < 1e-4, "{got} vs {want}");
                }
            }
        }
        // A context whose targets change by 4 a step: intervals four times as wide.
        let ramp: Vec<f32> = (0..6 * 5 * 3).map(|k| 4.0 * ((k / 3) % 5) as f32).collect();
        let steep = Tensor::<B, 3>::from_data(TensorData::new(ramp, [6, 5, 3]), &device);
        let base = values(model.base(steep.clone(), known.clone()));
        let q = values(model.forward(steep.clone(), known.clone()));
        for c in 0..8 {
            for (i, &l) in levels.iter().enumerate() {
                let want = base[c] as f64 + (calibrated_level(l) - 0.5) * (c + 1) as f64 * 2.0;
                let got = q[c * 5 + i] as f64;
                assert!((got - want).abs() < 1e-3, "{got} vs {want}");
            }
        }
        // A spread that is not local: the residuals' own quantiles after a calm context and a
        // steep one alike.
        let alike = config
            .clone()
            .with_local_spread(false)
            .init::<B>(&device)
            .with_residuals(&residuals, &scales, &levels);
        for x in [context.clone(), steep.clone()] {
            let base = values(alike.base(x.clone(), known.clone()));
            let q = values(alike.forward(x, known.clone()));
            for c in 0..8 {
                for (i, &l) in levels.iter().enumerate() {
                    let want = base[c] as f64 + (calibrated_level(l) - 0.5) * (c + 1) as f64;
                    let got = q[c * 5 + i] as f64;
                    assert!((got - want).abs() < 1e-3, "{got} vs {want}");
                }
            }
        }
        // Random head weights of any size: the quantiles stay ordered.
        let mut wild = model.clone();
        wild.head.weight = Param::from_tensor(Tensor::random(
            wild.head.weight.val().dims(),
            Distribution::Normal(0.0, 30.0),
            &device,
        ));
        let q = values(wild.forward(context, known));
        for w in q.chunks(5) {
            assert!(w.windows(2).all(|p| p[0] <= p[1]), "{w:?}");
        }
    }

    #[test]
    fn the_autoregressive_decoder_starts_at_its_base_and_feeds_back_its_forecast() {
        let device = Default::default();
        for loss in [
            ForecastLoss::Mae,
            ForecastLoss::Quantile,
            ForecastLoss::Gaussian,
        ] {
            let config = ForecasterConfig::new(RecurrentConfig::new(CellKind::Gru, 3, 8), 2, 1, 4)
                .with_loss(loss)
                .with_decoder(Decoder::Autoregressive);
            let model = config.init::<B>(&device);
            let context = Tensor::<B, 3>::random([5, 6, 3], Distribution::Default, &device);
            let known = Tensor::<B, 2>::random([5, 4], Distribution::Default, &device);
            let y = Tensor::<B, 2>::random([5, 8], Distribution::Default, &device);
            // Untrained (a zero head): the base, with or without teacher forcing.
            let free: Vec<f32> = model
                .forward(context.clone(), known.clone())
                .into_data()
                .to_vec()
                .unwrap();
            let forced: Vec<f32> = model
                .forward_train(context.clone(), known.clone(), y.clone(), None)
                .into_data()
                .to_vec()
                .unwrap();
            assert_eq!(free, forced);
            let point: Vec<f32> = model
                .point(model.forward(context.clone(), known.clone()))
                .into_data()
                .to_vec()
                .unwrap();
            let base: Vec<f32> = model
                .base(context.clone(), known.clone())
                .into_data()
                .to_vec()
                .unwrap();
            for (p, b) in point.iter().zip(&base) {
                assert!((p - b).abs() < 1e-5, "{loss:?}: {p} vs {b}");
            }
            // Trained weights: teacher forcing with the model's own point forecasts as the
            // previous values gives the free-running forecast.
            let mut trained = model.clone();
            trained.head.weight = Param::from_tensor(Tensor::random(
                trained.head.weight.val().dims(),
                Distribution::Normal(0.0, 0.5),
                &device,
            ));
            let free = trained.forward(context.clone(), known.clone());
            let own = trained.point(free.clone());
            let forced = trained.forward_train(context.clone(), known.clone(), own, None);
            let (a, b): (Vec<f32>, Vec<f32>) = (
                free.into_data().to_vec().unwrap(),
                forced.into_data().to_vec().unwrap(),
            );
            for (a, b) in a.iter().zip(&b) {
                assert!((a - b).abs() < 1e-4, "{loss:?}: {a} vs {b}");
            }
        }
    }
}
