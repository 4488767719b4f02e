//! The linear autoregression: a direct multi-step ridge least-squares fit from a window's
//! context and the horizon's known columns to each horizon step, the linear baseline every
//! forecast is shown beside and the base the forecaster's network learns on top of. Its
//! optional terms (the known columns' past, hinge terms of the future covariates, the year's and
//! the week's harmonics, the fit of the change from the last value, Huber's weights on outlying
//! windows) are chosen on the validation part ([`Linear::fit_validated`]); every candidate
//! comes from one set of normal equations, solved by [`super::cholesky`].

use super::cholesky::{solve_spd, symmetric_blocks};
use super::time::YearHarmonics;
use super::window::{Frame, WindowBuffers};
use crate::kernels::Real;

/// A direct multi-step linear forecaster: each horizon step and target gets its own weights
/// over one window's inputs (the context's targets and covariates, the horizon's known
/// columns) and a constant, fitted by ridge-regularised least squares in scaled units.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Linear {
    /// `[features + 1, horizon * targets]`, row-major.
    weights: Vec<f64>,
    features: usize,
    outputs: usize,
    context: usize,
    horizon: usize,
    terms: Terms,
}

/// What a linear fit reads of a window beyond the baseline's inputs, what it leaves out, and
/// which choices [`Linear::fit_validated`] is offered.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Terms {
    /// Of each context step, only the first this many values (the frame's columns in order:
    /// targets, past covariates, future covariates, calendar features). `None`: all.
    pub context_columns: Option<usize>,
    /// Of those, the last this many (the known columns' past) are kept only when
    /// [`Linear::fit_validated`] finds that they validate better (else their weights are zero):
    /// with a long context and few windows they overfit.
    pub optional_columns: usize,
    /// Piecewise-linear terms of the horizon's future covariates.
    pub hinges: Hinges,
    /// Higher harmonics of the year's phase at the horizon's first step. `None`: none.
    #[serde(default)]
    pub year: Option<YearHarmonics>,
    /// Higher harmonics of the week's phase at the horizon's first step
    /// ([`YearHarmonics::week`]). `None`: none.
    #[serde(default)]
    pub week: Option<YearHarmonics>,
    /// Whether [`Linear::fit_validated`] also tries fits of the change from the last value
    /// ([`Choice::from_last`]): where the naive forecast is the better simple forecast
    /// ([`naive_is_no_worse`](super::baselines::naive_is_no_worse)), so that the penalty
    /// shrinks toward it.
    #[serde(default)]
    pub from_last: bool,
    /// Whether [`Linear::fit_validated`] also tries the chosen fit with Huber's weights on
    /// outlying windows ([`Validated::robust_error`]), kept when it validates
    /// [`ROBUST_MARGIN`] better.
    #[serde(default)]
    pub robust: bool,
}

/// The quantiles of the training part at which [`Hinges`] bend.
pub const KNOT_QUANTILES: [f64; 5] = [0.1, 0.3, 0.5, 0.7, 0.9];

/// Piecewise-linear terms of the horizon's first known columns (the future covariates): for
/// every horizon step, column and knot, `max(0, x - knot)`. With them a least-squares fit bends
/// where a covariate's effect does (demand against temperature: heating below a comfortable
/// range, cooling above it). When the calendar holds the day, each term also enters multiplied
/// by the sine and the cosine of the day's phase at its step, so that the effect can change
/// with the time of day (the afternoon's cooling load against the night's).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Hinges {
    /// Per column, its knots in scaled units (the training part's [`KNOT_QUANTILES`]).
    pub knots: Vec<Vec<f64>>,
    /// The known column of the day's sine (its cosine the next; [`Frame::day`]) that each
    /// term is also multiplied by, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day: Option<usize>,
    /// Per column, whether each knot's terms are fitted: not where the knot repeats an earlier
    /// one of its column (a flag's or a count's quantiles coincide: the same terms again) or
    /// lies at or above the column's largest value over the training part (terms that are zero
    /// there). A term not fitted keeps its place in the features with weight zero. Empty: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub live: Vec<Vec<bool>>,
}

impl Hinges {
    /// Knots for the first `columns` known columns at the quantiles of their steps `..end`.
    pub fn fit(frame: &Frame, columns: usize, end: usize) -> Hinges {
        Hinges::fit_ranges(frame, columns, std::slice::from_ref(&(0..end)))
    }

    /// Knots for the first `columns` known columns at the quantiles of their steps in `ranges`
    /// (the training parts of several series laid end to end).
    pub fn fit_ranges(frame: &Frame, columns: usize, ranges: &[std::ops::Range<usize>]) -> Hinges {
        let (knots, live) = frame.known[..columns]
            .iter()
            .map(|c| {
                let mut v: Vec<f64> = ranges
                    .iter()
                    .flat_map(|r| &c[r.start.min(c.len())..r.end.min(c.len())])
                    .copied()
                    .collect();
                v.sort_by(f64::total_cmp);
                let knots: Vec<f64> = KNOT_QUANTILES
                    .iter()
                    .map(|q| v.get(((v.len().max(1) - 1) as f64 * q).round() as usize))
                    .map(|x| x.copied().unwrap_or(0.0))
                    .collect();
                let highest = v.last().copied().unwrap_or(0.0);
                let live = (0..knots.len())
                    .map(|k| knots[k] < highest && !knots[..k].contains(&knots[k]))
                    .collect();
                (knots, live)
            })
            .unzip();
        Hinges {
            knots,
            day: frame.day.filter(|_| columns > 0),
            live,
        }
    }

    /// Whether each knot's terms are fitted ([`Hinges::live`]), by column and knot in the
    /// terms' order: `[knots over all columns]`.
    fn live_knots(&self) -> Vec<bool> {
        self.knots
            .iter()
            .enumerate()
            .flat_map(|(c, knots)| {
                (0..knots.len())
                    .map(move |k| self.live.get(c).is_none_or(|l| l.get(k) != Some(&false)))
            })
            .collect()
    }

    /// Terms per horizon step: each column's knots, three times over with the day's
    /// products.
    pub fn per_step(&self) -> usize {
        self.knots.iter().map(Vec::len).sum::<usize>() * self.per_term()
    }

    /// Features per hinge term: the term, and with the day its products with the day's sine
    /// and cosine.
    pub fn per_term(&self) -> usize {
        Hinges::features_per_term(self.day.is_some())
    }

    /// Features per hinge term with (`daily`) or without the day's products: 3 or 1.
    pub const fn features_per_term(daily: bool) -> usize {
        if daily { 3 } else { 1 }
    }

    /// Appends the terms of one window's horizon `dec` `[horizon, known]` (row-major).
    fn extend(&self, dec: &[f32], known: usize, out: &mut Vec<f64>) {
        if self.knots.is_empty() {
            return;
        }
        for step in dec.chunks_exact(known) {
            let day = self
                .day
                .map(|c| (f64::from(step[c]), f64::from(step[c + 1])));
            for (x, knots) in step.iter().zip(&self.knots) {
                let x = f64::from(*x);
                for k in knots {
                    let term = (x - k).max(0.0);
                    out.push(term);
                    if let Some((sin, cos)) = day {
                        out.push(term * sin);
                        out.push(term * cos);
                    }
                }
            }
        }
    }
}

/// The ridge penalty of the linear baseline, relative to the mean diagonal of `X^T X`: enough
/// to keep collinear covariates solvable, too little to bias a well-posed fit.
pub const RIDGE: f64 = 1e-6;

/// The penalties [`Linear::fit_validated`] chooses from, relative like [`RIDGE`] (a fit from the
/// last value also from [`NAIVE_RIDGES`]).
pub const RIDGES: [f64; 6] = [1e-6, 1e-4, 1e-3, 1e-2, 3e-2, 1e-1];

/// The further penalties of a fit from the last value ([`Choice::from_last`]): shrinking it
/// further only brings it nearer the naive forecast.
pub const NAIVE_RIDGES: [f64; 4] = [0.3, 1.0, 3.0, 10.0];

/// Reweighted fits behind [`Linear::fit_validated`]'s robust fit: each refits the chosen fit
/// with every training window weighted by the errors of the fit before it.
pub const ROBUST_STEPS: usize = 3;

/// Huber's threshold of the robust fit, in median window errors: a window whose mean absolute
/// error is at most this many times the median weighs 1, one beyond it the threshold divided
/// by its error (a holiday, an outage or a spike pulls on the fit as a window `ROBUST_K` times
/// the median error would).
pub const ROBUST_K: f64 = 2.0;

/// How much better (relatively) the robust fit must validate to be kept: on series without
/// outlying windows the two fits differ by noise.
pub const ROBUST_MARGIN: f64 = 0.05;

/// The most features [`Linear::fit_validated`]'s largest fit may have (the hinge terms not
/// fitted, [`Hinges::live`], not counted): its normal equations grow with the square of the
/// features and each candidate's factorisation with the cube. With more, the kinds of
/// [`BOUNDED`] are left out in turn until the largest fit has at most this many (or none is
/// left: the context's targets and past covariates and the horizon's known columns are
/// always fitted); [`Validated::left_out`] names them.
pub const MAX_FITTED_FEATURES: usize = 6144;

/// A kind of optional feature of [`Linear::fit_validated`]'s fits ([`Choice`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The context's optional columns (the known columns' past; [`Choice::optional`]).
    Past,
    /// The hinge terms' products with the day's sine and cosine ([`Choice::daily`]).
    Daily,
    /// The hinge terms ([`Choice::hinged`]).
    Hinges,
    /// The week's harmonics ([`Choice::weekly`]).
    Week,
    /// The year's harmonics ([`Choice::yearly`]).
    Year,
}

/// The order in which [`Linear::fit_validated`] leaves kinds out above
/// [`MAX_FITTED_FEATURES`]: first the known columns' past (the one that validated least
/// better where kept), then the hinge terms' products with the day, the hinge terms, the
/// week's harmonics, the year's.
pub const BOUNDED: [Kind; 5] = [
    Kind::Past,
    Kind::Daily,
    Kind::Hinges,
    Kind::Week,
    Kind::Year,
];

/// Which of a fit's optional features it keeps (the others' weights are zero), and its
/// penalty: what [`Linear::fit_validated`] chooses on the validation part.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Choice {
    /// Whether the hinge terms ([`Terms::hinges`]) are kept.
    pub hinged: bool,
    /// Whether the hinge terms' products with the day's sine and cosine ([`Hinges::day`]) are
    /// kept (only with the terms themselves).
    pub daily: bool,
    /// Whether the context's optional columns ([`Terms::optional_columns`]) are kept.
    pub optional: bool,
    /// Whether the year's harmonics ([`Terms::year`]) are kept.
    pub yearly: bool,
    /// Whether the week's harmonics ([`Terms::week`]) are kept.
    pub weekly: bool,
    /// Whether the fit learns each target's change from its last context value (the penalty
    /// shrinks it toward the naive forecast) rather than the value (toward the constant).
    pub from_last: bool,
    /// The ridge penalty, relative like [`RIDGE`].
    pub ridge: f64,
}

/// What a refit of [`Linear::fit_validated`]'s choice on other windows takes: the terms, the
/// choice, and the windows' weights when the robust fit was kept ([`Validated::weights`],
/// `[frame.len]` by origin).
pub type Refit<'a> = (&'a Terms, Choice, Option<&'a [f64]>);

/// What [`Linear::fit_validated`] chose.
#[derive(Clone, Debug)]
pub struct Validated {
    /// Fitted on the training windows with the chosen penalty.
    pub fit: Linear,
    /// Fitted on the training windows and the further ones, with the chosen penalty.
    pub refit: Linear,
    /// The choice; a term is kept only when the fit has it and it validates better.
    pub choice: Choice,
    /// The chosen fit's mean absolute error on the validation windows (scaled units): the
    /// robust fit's when it was kept.
    pub error: f64,
    /// The least-squares fit's (unweighted) error of the chosen choice; the other choices'
    /// errors below compare with it.
    pub plain_error: f64,
    /// The robust fit's validation error, when there was one to try.
    pub robust_error: Option<f64>,
    /// When the robust fit was kept: each window's weight, `[frame.len]` indexed by origin
    /// (1 for a window not fitted or with no observed target): those of `fit` on the training
    /// windows, and of `refit` on the further ones (by `fit`'s errors and their own median).
    /// Refits of the choice on other windows take the same weights.
    pub weights: Option<Vec<f64>>,
    /// The best error of the other choice of the hinge terms (without them when they were kept,
    /// with them when not), when there were hinge terms to leave out.
    pub other_hinged_error: Option<f64>,
    /// The best error of the other choice of the hinge terms' products with the day, when the
    /// hinge terms were kept and had them.
    pub other_daily_error: Option<f64>,
    /// The best error of the other choice of the optional columns, when there were some.
    pub other_optional_error: Option<f64>,
    /// The best error of the other choice of the year's harmonics, when there were some.
    pub other_yearly_error: Option<f64>,
    /// The best error of the other choice of the week's harmonics, when there were some.
    pub other_weekly_error: Option<f64>,
    /// The best error of the other choice of [`Choice::from_last`].
    pub other_from_last_error: Option<f64>,
    /// The features the chosen fit fits (those of its kinds, the hinge terms not fitted left
    /// out).
    pub features: usize,
    /// The kinds of feature not offered because with them the largest fit had more than
    /// [`MAX_FITTED_FEATURES`] features, in [`BOUNDED`]'s order (every kind, where even the
    /// fit without any has more).
    pub left_out: Vec<Kind>,
}

/// Where a fit's features lie in a window's design row (the context's values, the horizon's
/// known columns, the year's and the week's harmonics, the hinge terms, then the constant).
#[derive(Clone)]
struct Layout {
    features: usize,
    /// Values per context step (the first `context * columns` features).
    columns: usize,
    outputs: usize,
    context: usize,
    horizon: usize,
    terms: Terms,
}

/// The normal equations of windows over the features `used` (the constant last):
/// `X^T X` `[u, u]` and `X^T Y` `[u, outputs]` with `u = used.len()`; fits of choices that keep
/// only used features.
#[derive(Clone)]
struct Gram {
    layout: Layout,
    /// Indices into the design row, ascending.
    used: Vec<usize>,
    xtx: Vec<f64>,
    xty: Vec<f64>,
}

/// Windows built and multiplied at a time: bounds the memory of a fit with a long context.
const CHUNK: usize = 512;

/// The design matrix of windows `[n, features + 1]` (the window's values, then 1) and their
/// targets `[n, outputs]`, in f64, chunk by chunk.
struct Design {
    w: WindowBuffers,
    x: Vec<f64>,
    y: Vec<f64>,
    rows: usize,
}

impl Design {
    fn new() -> Design {
        Design {
            w: WindowBuffers::default(),
            x: Vec::new(),
            y: Vec::new(),
            rows: 0,
        }
    }

    /// Loads the windows of `origins` (at most [`CHUNK`]); returns the number of features.
    fn load(
        &mut self,
        frame: &Frame,
        origins: &[usize],
        (context, horizon): (usize, usize),
        terms: &Terms,
    ) -> usize {
        let w = &mut self.w;
        w.enc.clear();
        w.dec.clear();
        w.y.clear();
        w.mask.clear();
        w.windows = 0;
        for &o in origins {
            frame.window(o, context, horizon, w);
        }
        let n = w.windows;
        self.x.clear();
        let features = design(w, (context, horizon), terms, &mut self.x);
        self.y.clear();
        self.y.extend(w.y.iter().map(|&v| f64::from(v)));
        self.rows = n;
        features
    }
}

/// Appends the design rows of the windows in `w` to `x` (each: the context's values as `terms`
/// selects them, the horizon's known columns, the year's and the week's harmonics, the hinge
/// terms, 1); returns
/// the number of features.
fn design(
    w: &WindowBuffers,
    (context, horizon): (usize, usize),
    terms: &Terms,
    x: &mut Vec<f64>,
) -> usize {
    let n = w.windows;
    let (enc_w, dec_w) = (w.enc.len() / n.max(1), w.dec.len() / n.max(1));
    let width = enc_w / context.max(1);
    let columns = terms.context_columns.unwrap_or(width).min(width);
    let known = dec_w / horizon.max(1);
    for i in 0..n {
        let enc = &w.enc[i * enc_w..(i + 1) * enc_w];
        let dec = &w.dec[i * dec_w..(i + 1) * dec_w];
        for step in enc.chunks_exact(width.max(1)) {
            x.extend(step[..columns].iter().map(|&v| f64::from(v)));
        }
        x.extend(dec.iter().map(|&v| f64::from(v)));
        if let Some(year) = &terms.year {
            year.extend(dec, x);
        }
        if let Some(week) = &terms.week {
            week.extend(dec, x);
        }
        terms.hinges.extend(dec, known, x);
        x.push(1.0);
    }
    context * columns
        + dec_w
        + terms.year.map_or(0, |y| y.count())
        + terms.week.map_or(0, |w| w.count())
        + horizon * terms.hinges.per_step()
}

impl Gram {
    /// The normal equations of the windows of `origins` over the features `used` (ascending
    /// indices into the design row of [`Layout::of`]).
    fn of(frame: &Frame, origins: &[usize], layout: &Layout, used: &[usize]) -> Option<Gram> {
        Gram::of_weighted(frame, origins, None, layout, used)
    }

    /// [`Gram::of`] with window `o`'s row and targets weighted by `weights[o]` (`None`: all
    /// 1): the normal equations of the weighted sum of squares.
    fn of_weighted(
        frame: &Frame,
        origins: &[usize],
        weights: Option<&[f64]>,
        layout: &Layout,
        used: &[usize],
    ) -> Option<Gram> {
        let threads = rayon::current_num_threads();
        let shape = (layout.context, layout.horizon);
        let mut d = Design::new();
        let mut picked = Vec::new();
        let mut gram: Option<Gram> = None;
        let p = used.len();
        let all = p == layout.features + 1;
        for chunk in origins.chunks(CHUNK) {
            let features = d.load(frame, chunk, shape, &layout.terms);
            assert_eq!(features, layout.features, "the fit's layout");
            let n = d.rows;
            let outputs = d.y.len() / n;
            if !all {
                // The used columns alone, row by row.
                picked.clear();
                for row in d.x.chunks_exact(features + 1) {
                    picked.extend(used.iter().map(|&a| row[a]));
                }
                std::mem::swap(&mut d.x, &mut picked);
            }
            if let Some(weights) = weights {
                for (i, &o) in chunk.iter().enumerate() {
                    let root = weights[o].sqrt();
                    d.x[i * p..(i + 1) * p].iter_mut().for_each(|v| *v *= root);
                    d.y[i * outputs..(i + 1) * outputs]
                        .iter_mut()
                        .for_each(|v| *v *= root);
                }
            }
            let g = gram.get_or_insert_with(|| Gram {
                layout: layout.clone(),
                used: used.to_vec(),
                xtx: vec![0.0; p * p],
                xty: vec![0.0; p * outputs],
            });
            // X^T X, its blocks on and below the diagonal (the rest is their mirror image),
            // and X^T Y: X^T is X read with swapped strides. Every block is wider than 64 on
            // both sides, so each element is summed as by one product over all of X^T X.
            let blocks = symmetric_blocks(p);
            for (i, rows) in blocks.iter().enumerate() {
                for cols in &blocks[..=i] {
                    f64::gemm(
                        rows.len(),
                        n,
                        cols.len(),
                        &d.x[rows.start..],
                        (1, p),
                        &d.x[cols.start..],
                        (p, 1),
                        1.0,
                        &mut g.xtx[rows.start * p + cols.start..],
                        (p, 1),
                        threads,
                    );
                }
            }
            f64::gemm(
                p,
                n,
                outputs,
                &d.x,
                (1, p),
                &d.y,
                (outputs, 1),
                1.0,
                &mut g.xty,
                (outputs, 1),
                threads,
            );
        }
        if let Some(g) = &mut gram {
            let blocks = symmetric_blocks(p);
            for (i, rows) in blocks.iter().enumerate() {
                for cols in &blocks[i + 1..] {
                    for a in rows.clone() {
                        for b in cols.clone() {
                            g.xtx[a * p + b] = g.xtx[b * p + a];
                        }
                    }
                }
            }
        }
        gram
    }

    /// The least-squares weights of `choice`: on the features it keeps only (the others'
    /// weights are zero), with its penalty relative to the mean diagonal of the kept features.
    /// From the last value (`choice.from_last`), the fit learns each target's change from its
    /// last context value, so that the penalty shrinks it toward the naive forecast rather than
    /// toward the constant; its weights are then those of the same map from the window.
    fn solve(&self, choice: Choice) -> Linear {
        self.solve_all(&[choice])
            .pop()
            .expect("one fit for one choice")
    }

    /// [`Gram::solve`] for each of `choices`, in their order. Choices that differ only in
    /// `from_last` share one system (the same kept features and penalty, other right-hand
    /// sides): one factorisation solves them together, each fit's numbers as if alone.
    fn solve_all(&self, choices: &[Choice]) -> Vec<Linear> {
        let same_system = |a: &Choice, b: &Choice| {
            Choice {
                from_last: a.from_last,
                ..*b
            } == *a
        };
        let mut fits: Vec<Option<Linear>> = vec![None; choices.len()];
        for i in 0..choices.len() {
            if fits[i].is_some() {
                continue;
            }
            let group: Vec<usize> = (i..choices.len())
                .filter(|&j| fits[j].is_none() && same_system(&choices[i], &choices[j]))
                .collect();
            let solved = self.solve_system(&group.iter().map(|&j| choices[j]).collect::<Vec<_>>());
            for (j, fit) in group.into_iter().zip(solved) {
                fits[j] = Some(fit);
            }
        }
        fits.into_iter().flatten().collect()
    }

    /// The fits of `choices`, which share their kept features and penalty, by one
    /// factorisation: the right-hand sides side by side, `[kept, outputs * choices]`.
    fn solve_system(&self, choices: &[Choice]) -> Vec<Linear> {
        let layout = &self.layout;
        let kept = layout.kept(choices[0]);
        let (p, u) = (layout.features + 1, self.used.len());
        // Each design feature's place among the used ones.
        let mut place = vec![usize::MAX; p];
        for (i, &a) in self.used.iter().enumerate() {
            place[a] = i;
        }
        let (q, m, g) = (kept.len(), layout.outputs, choices.len());
        // Per output (step, target), the feature holding that target's last context value.
        let targets = m / layout.horizon.max(1);
        let last_feature =
            |o: usize| (layout.context.max(1) - 1) * layout.columns + o % targets.max(1);
        let last = |o: usize| place[last_feature(o)];
        let from_last: Vec<bool> = choices
            .iter()
            .map(|c| c.from_last && layout.can_fit_from_last())
            .collect();
        let mut xtx = vec![0.0; q * q];
        let mut xty = vec![0.0; q * m * g];
        let from_any = from_last.contains(&true);
        assert!(
            kept.iter().all(|&a| place[a] < u) && (0..m).all(|o| !from_any || last(o) < u),
            "a fit of features the normal equations did not use"
        );
        for (i, &a) in kept.iter().enumerate() {
            let a = place[a];
            for (j, &b) in kept.iter().enumerate() {
                xtx[i * q + j] = self.xtx[a * u + place[b]];
            }
            for (c, &from_last) in from_last.iter().enumerate() {
                for o in 0..m {
                    // X^T (Y - x_last) = X^T Y - (X^T X)[:, last].
                    let shift = if from_last {
                        self.xtx[a * u + last(o)]
                    } else {
                        0.0
                    };
                    xty[(i * g + c) * m + o] = self.xty[a * m + o] - shift;
                }
            }
        }
        let mean_diag = (0..q).map(|a| xtx[a * q + a]).sum::<f64>() / q as f64;
        for a in 0..q {
            xtx[a * q + a] += choices[0].ridge * mean_diag.max(1e-12);
        }
        let small = solve_spd(xtx, xty, q, m * g);
        from_last
            .iter()
            .enumerate()
            .map(|(c, &from_last)| {
                let mut weights = vec![0.0; p * m];
                for (i, &a) in kept.iter().enumerate() {
                    let at = (i * g + c) * m;
                    weights[a * m..(a + 1) * m].copy_from_slice(&small[at..at + m]);
                }
                if from_last {
                    for o in 0..m {
                        weights[last_feature(o) * m + o] += 1.0;
                    }
                }
                Linear {
                    weights,
                    features: layout.features,
                    outputs: m,
                    context: layout.context,
                    horizon: layout.horizon,
                    terms: layout.terms.clone(),
                }
            })
            .collect()
    }

    /// Takes the windows of `other` (same shapes, summed in before) out again.
    fn subtract(&mut self, other: &Gram) {
        assert_eq!(self.used, other.used, "normal equations of other features");
        for (a, b) in self.xtx.iter_mut().zip(&other.xtx) {
            *a -= b;
        }
        for (a, b) in self.xty.iter_mut().zip(&other.xty) {
            *a -= b;
        }
    }

    /// Adds the windows of `other` (same shapes).
    fn add(&mut self, other: &Gram) {
        assert_eq!(self.used, other.used, "normal equations of other features");
        for (a, b) in self.xtx.iter_mut().zip(&other.xtx) {
            *a += b;
        }
        for (a, b) in self.xty.iter_mut().zip(&other.xty) {
            *a += b;
        }
    }
}

impl Layout {
    /// The layout of `terms`' design rows of `frame`'s windows of `context` and `horizon`
    /// steps (as [`design`] writes them).
    fn of(frame: &Frame, (context, horizon): (usize, usize), terms: &Terms) -> Layout {
        let width = frame.context_width();
        let columns = terms.context_columns.unwrap_or(width).min(width);
        let features = context * columns
            + horizon * frame.known_width()
            + terms.year.map_or(0, |y| y.count())
            + terms.week.map_or(0, |w| w.count())
            + horizon * terms.hinges.per_step();
        Layout {
            features,
            columns,
            outputs: horizon * frame.targets.len(),
            context,
            horizon,
            terms: terms.clone(),
        }
    }

    /// Every feature but the hinge terms not fitted ([`Hinges::live`]): what a choice can keep.
    #[cfg(test)]
    fn all(&self) -> Vec<usize> {
        self.kept(Choice {
            hinged: true,
            daily: true,
            optional: true,
            yearly: true,
            weekly: true,
            from_last: false,
            ridge: 0.0,
        })
    }

    /// Whether a fit can learn the change from each target's last value: the context has a
    /// step, and its targets are among the values every fit keeps.
    fn can_fit_from_last(&self) -> bool {
        let targets = self.outputs / self.horizon.max(1);
        let always = self
            .columns
            .saturating_sub(self.terms.optional_columns.min(self.columns));
        self.context > 0 && targets > 0 && always >= targets
    }

    /// The features a fit of `choice` keeps: the hinge terms only if `hinged` (their products
    /// with the day only if `daily` too) and never those not fitted ([`Hinges::live`]), the
    /// context's optional columns only if `optional`, the year's harmonics only if `yearly`,
    /// the week's only if `weekly`; the rest and the constant always.
    fn kept(&self, choice: Choice) -> Vec<usize> {
        let terms = &self.terms;
        let bent = self.horizon * terms.hinges.per_step();
        let yearly = terms.year.map_or(0, |y| y.count());
        let weekly = terms.week.map_or(0, |w| w.count());
        let columns = self.columns;
        let context_features = self.context * columns;
        let optional_from = columns - terms.optional_columns.min(columns);
        let week_from = self.features - bent - weekly;
        let year_from = week_from - yearly;
        let per_term = terms.hinges.per_term();
        let live = terms.hinges.live_knots();
        (0..=self.features)
            .filter(|&a| {
                let is_hinge = a >= self.features - bent && a < self.features;
                let is_daily = is_hinge && !(a + bent - self.features).is_multiple_of(per_term);
                let is_dead = is_hinge && !live[(a + bent - self.features) / per_term % live.len()];
                let is_year = a >= year_from && a < week_from;
                let is_week = a >= week_from && a < week_from + weekly;
                let is_optional = a < context_features && a % columns.max(1) >= optional_from;
                !is_dead
                    && (choice.hinged || !is_hinge)
                    && (choice.daily || !is_daily)
                    && (choice.optional || !is_optional)
                    && (choice.yearly || !is_year)
                    && (choice.weekly || !is_week)
            })
            .collect()
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
        let layout = Layout::of(frame, (context, horizon), &Terms::default());
        let choice = Choice {
            hinged: false,
            daily: false,
            optional: false,
            yearly: false,
            weekly: false,
            from_last: false,
            ridge,
        };
        let gram = Gram::of(frame, origins, &layout, &layout.kept(choice))?;
        Some(gram.solve(choice))
    }

    /// Fits the windows of `train` with each [`Choice`] that `terms` offers (each penalty of
    /// [`RIDGES`], and of [`NAIVE_RIDGES`] for a fit from the last value; with and without each
    /// optional kind of feature: hinge terms only where a knot is fitted, and the kinds of
    /// [`BOUNDED`] left out in turn while the largest fit has more than
    /// [`MAX_FITTED_FEATURES`], [`Validated::left_out`]) and keeps the one whose forecasts of
    /// the windows of `val` have the least mean absolute error over the observed targets; then
    /// refits that choice on the windows of `train` and of `more` together (the normal
    /// equations of `train` are summed once, not again). The features are those of
    /// [`Linear::fit`] as `terms` changes them. `None` when `train` or `val` has no origins.
    pub fn fit_validated(
        frame: &Frame,
        parts: [&[usize]; 3],
        shape: (usize, usize),
        terms: &Terms,
    ) -> Option<Validated> {
        Linear::fit_validated_within(frame, parts, shape, terms, MAX_FITTED_FEATURES)
    }

    /// [`Linear::fit_validated`] with `bound` for [`MAX_FITTED_FEATURES`].
    fn fit_validated_within(
        frame: &Frame,
        [train, val, more]: [&[usize]; 3],
        (context, horizon): (usize, usize),
        terms: &Terms,
        bound: usize,
    ) -> Option<Validated> {
        let layout = Layout::of(frame, (context, horizon), terms);
        // The kinds of optional feature the terms offer (hinge terms and their products with
        // the day, the context's optional columns, the year's and the week's harmonics); while
        // the largest fit has more than `bound` features, the first of `BOUNDED` still offered
        // is not. Hinge terms none of which is fitted are not offered.
        let mut hinged = horizon > 0 && terms.hinges.live_knots().contains(&true);
        let mut daily = hinged && terms.hinges.day.is_some();
        let mut optional = terms.optional_columns > 0 && context > 0 && layout.columns > 0;
        let mut yearly = terms.year.is_some_and(|y| y.count() > 0);
        let mut weekly = terms.week.is_some_and(|w| w.count() > 0);
        let all_of = |hinged, daily, optional, yearly, weekly| Choice {
            hinged,
            daily,
            optional,
            yearly,
            weekly,
            from_last: false,
            ridge: 0.0,
        };
        let mut left_out = Vec::new();
        for kind in BOUNDED {
            let largest = all_of(hinged, daily, optional, yearly, weekly);
            if layout.kept(largest).len() - 1 <= bound {
                break;
            }
            let offered = match kind {
                Kind::Past => &mut optional,
                Kind::Daily => &mut daily,
                Kind::Hinges => &mut hinged,
                Kind::Week => &mut weekly,
                Kind::Year => &mut yearly,
            };
            if std::mem::replace(offered, false) {
                left_out.push(kind);
            }
        }
        daily &= hinged;
        // The features of the largest fit offered: the normal equations need no others.
        let used = layout.kept(all_of(hinged, daily, optional, yearly, weekly));
        let mut gram = Gram::of(frame, train, &layout, &used)?;
        if val.is_empty() {
            return None;
        }
        // Candidates: each penalty, with and without each kind offered (the features left out
        // get weights zero), each fitting the value or the change from the last value.
        let offered = |yes: bool| -> &[bool] { if yes { &[true, false] } else { &[false] } };
        let mut candidates = Vec::new();
        let kinds = offered(hinged)
            .iter()
            .flat_map(|&hinged| offered(hinged && daily).iter().map(move |&d| (hinged, d)));
        for (hinged, daily) in kinds {
            for &optional in offered(optional) {
                for &yearly in offered(yearly) {
                    for &weekly in offered(weekly) {
                        for &from_last in offered(terms.from_last && layout.can_fit_from_last()) {
                            let more: &[f64] = if from_last { &NAIVE_RIDGES } else { &[] };
                            candidates.extend(RIDGES.iter().chain(more).map(|&ridge| Choice {
                                hinged,
                                daily,
                                optional,
                                yearly,
                                weekly,
                                from_last,
                                ridge,
                            }));
                        }
                    }
                }
            }
        }
        let fits = gram.solve_all(&candidates);
        // The mean absolute error of each fit over the observed targets of `val`.
        let errors = mean_errors(&fits, frame, val, (context, horizon), terms);
        let best = |keep: &dyn Fn(&Choice) -> bool| {
            (0..fits.len())
                .filter(|&i| keep(&candidates[i]))
                .min_by(|&a, &b| errors[a].total_cmp(&errors[b]))
        };
        let chosen = best(&|_| true)?;
        let choice = candidates[chosen];
        let features = layout.kept(choice).len() - 1;
        let error_of = |i: Option<usize>| i.map(|i| errors[i]);
        let other_hinged = error_of(best(&|c| c.hinged != choice.hinged));
        let other_daily =
            error_of(best(&|c| c.hinged && c.daily != choice.daily).filter(|_| choice.hinged));
        let other_optional = error_of(best(&|c| c.optional != choice.optional));
        let other_yearly = error_of(best(&|c| c.yearly != choice.yearly));
        let other_weekly = error_of(best(&|c| c.weekly != choice.weekly));
        let other_from_last = error_of(best(&|c| c.from_last != choice.from_last));
        let plain = fits.into_iter().nth(chosen)?;
        let plain_error = errors[chosen];
        let robust = terms
            .robust
            .then(|| {
                Robust::of(
                    frame,
                    [train, val, more],
                    (context, horizon),
                    (terms, choice),
                    (&plain, &gram),
                )
            })
            .flatten();
        let robust_error = robust.as_ref().map(|r| r.error);
        let (fit, error, weights) = match robust {
            Some(r) if r.error < (1.0 - ROBUST_MARGIN) * plain_error => {
                // The last weighted normal equations of the training windows, and the further
                // windows' weighted by the robust fit's errors.
                gram = r.gram;
                if let Some(extra) =
                    Gram::of_weighted(frame, more, Some(&r.weights), &layout, &used)
                {
                    gram.add(&extra);
                }
                (r.fit, r.error, Some(r.weights))
            }
            _ => {
                if let Some(extra) = Gram::of(frame, more, &layout, &used) {
                    gram.add(&extra);
                }
                (plain, plain_error, None)
            }
        };
        Some(Validated {
            refit: gram.solve(choice),
            fit,
            choice,
            error,
            plain_error,
            robust_error,
            weights,
            other_hinged_error: other_hinged,
            other_daily_error: other_daily,
            other_optional_error: other_optional,
            other_yearly_error: other_yearly,
            other_weekly_error: other_weekly,
            other_from_last_error: other_from_last,
            features,
            left_out,
        })
    }

    /// [`Linear::fit_validated`]'s choice fitted again on the windows of `origins` alone,
    /// window `o` weighted by `weights[o]` (`[frame.len]`, its [`Validated::weights`]; `None`:
    /// all 1). `None` when there are no origins.
    pub fn fit_choice(
        frame: &Frame,
        origins: &[usize],
        (context, horizon): (usize, usize),
        (terms, choice, weights): Refit<'_>,
    ) -> Option<Linear> {
        let layout = Layout::of(frame, (context, horizon), terms);
        let gram = Gram::of_weighted(frame, origins, weights, &layout, &layout.kept(choice))?;
        Some(gram.solve(choice))
    }

    /// [`Linear::fit_choice`] once for each list of `leave_out`: fitted on the windows of
    /// every set of origins in `pieces` but those whose indices the list names. The normal
    /// equations of each piece are formed once and summed per fit. `None` for a fit left
    /// with no windows.
    pub fn fit_choice_leaving_out(
        frame: &Frame,
        pieces: &[Vec<usize>],
        leave_out: &[Vec<usize>],
        (context, horizon): (usize, usize),
        (terms, choice, weights): Refit<'_>,
    ) -> Vec<Option<Linear>> {
        let layout = Layout::of(frame, (context, horizon), terms);
        let used = layout.kept(choice);
        let grams: Vec<Option<Gram>> = pieces
            .iter()
            .map(|p| Gram::of_weighted(frame, p, weights, &layout, &used))
            .collect();
        leave_out
            .iter()
            .map(|out| {
                let mut sum: Option<Gram> = None;
                for (i, g) in grams.iter().enumerate() {
                    let Some(g) = g.as_ref().filter(|_| !out.contains(&i)) else {
                        continue;
                    };
                    match &mut sum {
                        Some(s) => s.add(g),
                        None => sum = Some(g.clone()),
                    }
                }
                sum.map(|s| s.solve(choice))
            })
            .collect()
    }

    /// The weights `[features + 1, outputs]` (row-major, the constant's row last), the number
    /// of features (the context's values as [`Terms::context_columns`] selects them, the
    /// horizon's known columns, the year's and the week's harmonics, the hinge terms) and of
    /// outputs
    /// (`horizon * targets`).
    pub fn weights(&self) -> (&[f64], usize, usize) {
        (&self.weights, self.features, self.outputs)
    }

    /// Checks that this fit reads the windows of `frame` with `context` and `horizon` steps
    /// (as one read from a file must): its sizes match them and its weights are finite.
    pub fn check(&self, frame: &Frame, context: usize, horizon: usize) -> Result<(), String> {
        let (targets, known) = (frame.targets.len(), frame.known.len());
        let width = targets + frame.past.len() + known;
        let columns = self.terms.context_columns.unwrap_or(width).min(width);
        let (year, week) = (self.terms.year.as_ref(), self.terms.week.as_ref());
        // Saturating: the sizes come from a file that may be damaged.
        let terms_of = |h: Option<&YearHarmonics>| {
            h.map_or(0, |y| y.order.saturating_sub(1).saturating_mul(2))
        };
        let features = (context * columns + horizon * known)
            .saturating_add(terms_of(year))
            .saturating_add(terms_of(week))
            .saturating_add(horizon.saturating_mul(self.terms.hinges.per_step()));
        let year_columns = year.map_or(0, |y| y.column.saturating_add(2));
        let week_columns = week.map_or(0, |w| w.column.saturating_add(2));
        let hinge_columns = self.terms.hinges.knots.len();
        let sizes = [
            ("context", self.context, context),
            ("horizon", self.horizon, horizon),
            ("outputs", self.outputs, horizon * targets),
            ("features", self.features, features),
            (
                "weights",
                self.weights.len(),
                (features + 1).saturating_mul(self.outputs),
            ),
            ("hinge columns", hinge_columns.min(known), hinge_columns),
            ("year's column", year_columns.min(known), year_columns),
            ("week's column", week_columns.min(known), week_columns),
        ];
        if let Some((what, has, expected)) = sizes.into_iter().find(|(_, a, b)| a != b) {
            return Err(format!("{what}: {has}, the windows need {expected}"));
        }
        // The hinge terms' products read the day's sine and cosine where the frame has them.
        let (day, frame_day) = (
            self.terms.hinges.day,
            frame.day.filter(|_| hinge_columns > 0),
        );
        if day != frame_day {
            let column = |d: Option<usize>| d.map_or("none".to_string(), |c| c.to_string());
            return Err(format!(
                "the hinge terms' day column: {}, the windows need {}",
                column(day),
                column(frame_day)
            ));
        }
        match self.weights.iter().all(|w| w.is_finite()) {
            true => Ok(()),
            false => Err("a weight is not finite".into()),
        }
    }

    /// The forecasts of the windows in `w`: `[windows, horizon * targets]` in scaled units.
    pub fn predict(&self, w: &WindowBuffers) -> Vec<f64> {
        let n = w.windows;
        let mut x = Vec::with_capacity(n * (self.features + 1));
        let context = self.context;
        let features = design(w, (context, self.horizon), &self.terms, &mut x);
        assert_eq!(features, self.features, "window width");
        self.predict_design(&x, n)
    }

    /// What the fit reads beyond the baseline's inputs.
    pub fn terms(&self) -> &Terms {
        &self.terms
    }

    /// The forecasts of a design matrix `x` `[n, features + 1]`: `[n, outputs]`.
    fn predict_design(&self, x: &[f64], n: usize) -> Vec<f64> {
        let (p, m) = (self.features + 1, self.outputs);
        let mut out = vec![0.0; n * m];
        f64::gemm(
            n,
            p,
            m,
            x,
            (p, 1),
            &self.weights,
            (m, 1),
            0.0,
            &mut out,
            (m, 1),
            rayon::current_num_threads(),
        );
        out
    }
}

/// A fit that bounds the pull of outlying windows (holidays without a flag, outages, spikes):
/// iteratively reweighted least squares with Huber's weights on each window's mean absolute
/// error ([`huber_weight`]), [`ROBUST_STEPS`] reweightings from the plain fit.
struct Robust {
    fit: Linear,
    /// Its mean absolute error over the validation windows' observed targets.
    error: f64,
    /// The weighted normal equations of the training windows `fit` solves.
    gram: Gram,
    /// `[frame.len]`, by origin: the training windows' weights in `gram`, the further
    /// windows' from `fit`'s errors; 1 elsewhere.
    weights: Vec<f64>,
}

impl Robust {
    /// From `plain`, the least-squares fit of `choice` to the training windows, whose normal
    /// equations are `plain_gram`. `None` when there is no training window.
    fn of(
        frame: &Frame,
        [train, val, more]: [&[usize]; 3],
        (context, horizon): (usize, usize),
        (terms, choice): (&Terms, Choice),
        (plain, plain_gram): (&Linear, &Gram),
    ) -> Option<Robust> {
        let shape = (context, horizon);
        let mut weights = vec![1.0; frame.len];
        let mut fit = plain.clone();
        let mut gram = None;
        for _ in 0..ROBUST_STEPS {
            let errors = window_errors(&fit, frame, train, shape, terms);
            let threshold = ROBUST_K * median(&errors);
            for (&o, e) in train.iter().zip(errors) {
                weights[o] = huber_weight(e, threshold);
            }
            // The weighted normal equations as the plain ones less the share each window held
            // back gives up: most windows weigh 1, so the products read a fraction of them.
            let held: Vec<usize> = train
                .iter()
                .copied()
                .filter(|&o| weights[o] < 1.0)
                .collect();
            let given_up: Vec<f64> = weights.iter().map(|w| 1.0 - w).collect();
            let mut g = plain_gram.clone();
            let (layout, used) = (&plain_gram.layout, &plain_gram.used);
            if let Some(less) = Gram::of_weighted(frame, &held, Some(&given_up), layout, used) {
                g.subtract(&less);
            }
            fit = g.solve(choice);
            gram = Some(g);
        }
        // The further windows (not fitted: their errors run larger) by their own median.
        let mut fitted = vec![false; frame.len];
        train.iter().for_each(|&o| fitted[o] = true);
        let further: Vec<usize> = more.iter().copied().filter(|&o| !fitted[o]).collect();
        let errors = window_errors(&fit, frame, &further, shape, terms);
        let threshold = ROBUST_K * median(&errors);
        for (&o, e) in further.iter().zip(errors) {
            weights[o] = huber_weight(e, threshold);
        }
        let error = mean_errors(std::slice::from_ref(&fit), frame, val, shape, terms)[0];
        Some(Robust {
            error,
            fit,
            gram: gram?,
            weights,
        })
    }
}

/// Each window's mean absolute error over its observed targets (NaN with none observed).
fn window_errors(
    fit: &Linear,
    frame: &Frame,
    origins: &[usize],
    (context, horizon): (usize, usize),
    terms: &Terms,
) -> Vec<f64> {
    let mut out = Vec::with_capacity(origins.len());
    let mut d = Design::new();
    for chunk in origins.chunks(CHUNK) {
        d.load(frame, chunk, (context, horizon), terms);
        let pred = fit.predict_design(&d.x, d.rows);
        let m = (pred.len() / d.rows.max(1)).max(1);
        for ((pred, y), mask) in pred
            .chunks_exact(m)
            .zip(d.y.chunks_exact(m))
            .zip(d.w.mask.chunks_exact(m))
        {
            let (mut sum, mut count) = (0.0, 0.0);
            for ((p, y), &w) in pred.iter().zip(y).zip(mask) {
                sum += f64::from(w) * (p - y).abs();
                count += f64::from(w);
            }
            out.push(if count > 0.0 { sum / count } else { f64::NAN });
        }
    }
    out
}

/// Each of `fits`' mean absolute error over the observed targets of the windows of `origins`
/// (scaled units), the windows built once for all of them.
fn mean_errors(
    fits: &[Linear],
    frame: &Frame,
    origins: &[usize],
    (context, horizon): (usize, usize),
    terms: &Terms,
) -> Vec<f64> {
    let mut sums = vec![0.0; fits.len()];
    let mut count = 0.0;
    let mut d = Design::new();
    for chunk in origins.chunks(CHUNK) {
        d.load(frame, chunk, (context, horizon), terms);
        for (fit, sum) in fits.iter().zip(&mut sums) {
            let pred = fit.predict_design(&d.x, d.rows);
            for ((p, y), &m) in pred.iter().zip(&d.y).zip(&d.w.mask) {
                *sum += f64::from(m) * (p - y).abs();
            }
        }
        count += d.w.mask.iter().map(|&m| f64::from(m)).sum::<f64>();
    }
    sums.iter().map(|s| s / f64::max(count, 1.0)).collect()
}

/// The median of the numbers among `values` (the upper one of an even count; NaN left out); 0
/// for none.
fn median(values: &[f64]) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

/// Huber's weight of a window with mean absolute error `error`: 1 up to `threshold`, then
/// `threshold / error` (its pull on the fit held at the threshold's); 1 for a window with no
/// observed target (NaN).
fn huber_weight(error: f64, threshold: f64) -> f64 {
    if error.is_nan() || error <= threshold || threshold <= 0.0 {
        1.0
    } else {
        threshold / error
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::baselines::naive_is_no_worse;
    use crate::forecast::series::{Series, SeriesSpec};
    use crate::forecast::window::Scalers;

    /// The scaled frame of a target `y` and a future covariate `f`, scalers fitted on `..end`.
    fn frame_of(y: &[f64], f: &[f64], end: usize) -> (Frame, Scalers) {
        let csv: String = std::iter::once("y,f\n".to_string())
            .chain(y.iter().zip(f).map(|(y, f)| format!("{y},{f}\n")))
            .collect();
        let spec = SeriesSpec {
            target: vec!["y".into()],
            future_covariates: vec!["f".into()],
            ..SeriesSpec::default()
        };
        let series = Series::from_reader(csv.as_bytes(), std::path::Path::new("t"), &spec).unwrap();
        let scalers = Scalers::fit(&series, end).unwrap();
        (Frame::new(&series, &scalers, false), scalers)
    }

    #[test]
    fn linear_recovers_an_exact_autoregression() {
        // y_t = 0.5 y_{t-1} - 0.3 y_{t-2} + 2 f_t + 1, f known in the future.
        let mut y = vec![1.0, 2.0];
        let f: Vec<f64> = (0..80).map(|t| ((t * 7 % 11) as f64).sin()).collect();
        for t in 2..80 {
            y.push(0.5 * y[t - 1] - 0.3 * y[t - 2] + 2.0 * f[t] + 1.0);
        }
        let (frame, scalers) = frame_of(&y, &f, 60);
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
        let v = Linear::fit_validated(&frame, [&train, &val, &more], (2, 1), &Terms::default())
            .unwrap();
        assert_eq!(v.choice.ridge, RIDGES[0]);
        // The refit sums the same windows as a fit on all of them at once.
        let all: Vec<usize> = (2..60).collect();
        let once =
            Linear::fit_choice(&frame, &all, (2, 1), (&Terms::default(), v.choice, None)).unwrap();
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

    #[test]
    fn a_fit_leaving_pieces_out_is_the_fit_on_the_others_alone() {
        // An autoregression with deterministic noise: each set of windows fits other weights.
        let f: Vec<f64> = (0..90).map(|t| ((t * 7 % 11) as f64).sin()).collect();
        let mut y = vec![1.0, 2.0];
        for t in 2..90 {
            let noise = ((t * 13 % 17) as f64 - 8.0) / 8.0;
            y.push(0.5 * y[t - 1] - 0.3 * y[t - 2] + 2.0 * f[t] + 1.0 + noise);
        }
        let (frame, _) = frame_of(&y, &f, 70);
        let choice = Choice {
            hinged: false,
            daily: false,
            optional: false,
            yearly: false,
            weekly: false,
            from_last: false,
            ridge: RIDGES[0],
        };
        let terms = Terms::default();
        let pieces: Vec<Vec<usize>> =
            vec![(2..25).collect(), (25..47).collect(), (47..69).collect()];
        let leave_out = [vec![0], vec![1, 2], vec![0, 1, 2]];
        let fits = Linear::fit_choice_leaving_out(
            &frame,
            &pieces,
            &leave_out,
            (2, 1),
            (&terms, choice, None),
        );
        assert_eq!(fits.len(), 3);
        assert!(fits[2].is_none(), "no windows left");
        for (fit, kept) in fits.iter().zip([vec![1, 2], vec![0]]) {
            let origins: Vec<usize> = kept.iter().flat_map(|&i| pieces[i].clone()).collect();
            let alone =
                Linear::fit_choice(&frame, &origins, (2, 1), (&terms, choice, None)).unwrap();
            let fit = fit.as_ref().unwrap();
            for (a, b) in fit.weights().0.iter().zip(alone.weights().0) {
                assert!((a - b).abs() < 1e-9 * b.abs().max(1.0), "{a} vs {b}");
            }
        }
        let (a, b) = (fits[0].as_ref().unwrap(), fits[1].as_ref().unwrap());
        let apart = a
            .weights()
            .0
            .iter()
            .zip(b.weights().0)
            .map(|(a, b)| (a - b).abs());
        assert!(
            apart.fold(0.0, f64::max) > 1e-3,
            "the pieces left out change the fit"
        );
    }

    #[test]
    fn a_window_weighted_two_fits_as_two_copies_of_it() {
        let f: Vec<f64> = (0..60).map(|t| ((t * 7 % 11) as f64).sin()).collect();
        let y: Vec<f64> = (0..60).map(|t| ((t * 5 % 13) as f64) + f[t]).collect();
        let (frame, _) = frame_of(&y, &f, 60);
        let choice = Choice {
            hinged: false,
            daily: false,
            optional: false,
            yearly: false,
            weekly: false,
            from_last: false,
            ridge: RIDGES[2],
        };
        let terms = Terms::default();
        let origins: Vec<usize> = (2..60).collect();
        let mut weights = vec![1.0; frame.len];
        let twice = [5, 17, 18, 40];
        twice.iter().for_each(|&o| weights[o] = 2.0);
        let weighted =
            Linear::fit_choice(&frame, &origins, (2, 1), (&terms, choice, Some(&weights))).unwrap();
        let copies: Vec<usize> = origins.iter().chain(&twice).copied().collect();
        let copied = Linear::fit_choice(&frame, &copies, (2, 1), (&terms, choice, None)).unwrap();
        let plain = Linear::fit_choice(&frame, &origins, (2, 1), (&terms, choice, None)).unwrap();
        let gap = |a: &Linear, b: &Linear| {
            a.weights()
                .0
                .iter()
                .zip(b.weights().0)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max)
        };
        assert!(
            gap(&weighted, &copied) < 1e-9,
            "{}",
            gap(&weighted, &copied)
        );
        assert!(gap(&weighted, &plain) > 1e-3, "the weights change the fit");
        // Leaving a piece out, the others keep their weights.
        let pieces: Vec<Vec<usize>> = vec![(2..30).collect(), (30..60).collect()];
        let left = Linear::fit_choice_leaving_out(
            &frame,
            &pieces,
            &[vec![0]],
            (2, 1),
            (&terms, choice, Some(&weights)),
        );
        let alone =
            Linear::fit_choice(&frame, &pieces[1], (2, 1), (&terms, choice, Some(&weights)))
                .unwrap();
        let left = left[0].as_ref().unwrap();
        assert!(gap(left, &alone) < 1e-9, "{}", gap(left, &alone));
    }

    #[test]
    fn unobserved_windows_weigh_1_and_leave_the_median_alone() {
        assert_eq!(median(&[f64::NAN, 1.0, 3.0, 2.0]), 2.0);
        assert_eq!(median(&[f64::NAN]), 0.0);
        assert_eq!(huber_weight(f64::NAN, 1.0), 1.0);
        assert_eq!(huber_weight(1.0, 2.0), 1.0);
        assert_eq!(huber_weight(4.0, 2.0), 0.5);
        assert_eq!(huber_weight(5.0, 0.0), 1.0);
    }

    #[test]
    fn huber_weights_hold_out_spikes_the_plain_fit_follows() {
        // y_t = 0.8 y_{t-1} + 2 f_t + 1 with small noise, and eight spikes of +20 in the
        // training part: squares let the spikes pull the fit, Huber's weights not. f follows
        // no period, so that the context's f does not tell y's past.
        let n = 400;
        let f: Vec<f64> = (0..n)
            .map(|t| ((t * 7919 + t * t * 31) % 101) as f64 / 50.0 - 1.0)
            .collect();
        let mut y = vec![5.0];
        for t in 1..n {
            let noise = ((t * 13 % 17) as f64 - 8.0) / 40.0;
            y.push(0.8 * y[t - 1] + 2.0 * f[t] + 1.0 + noise);
        }
        let spikes = [23, 61, 97, 130, 171, 199, 240, 277];
        spikes.iter().for_each(|&t| y[t] += 20.0);
        // One in the validation part: the refit holds it back by the fit's errors there.
        y[350] += 20.0;
        let (frame, _) = frame_of(&y, &f, 300);
        let train: Vec<usize> = (2..300).collect();
        let val: Vec<usize> = (300..n).collect();
        let terms = Terms {
            robust: true,
            ..Terms::default()
        };
        let v = Linear::fit_validated(&frame, [&train, &val, &val], (2, 1), &terms).unwrap();
        let robust = v.robust_error.unwrap();
        assert!(
            robust < (1.0 - ROBUST_MARGIN) * v.plain_error,
            "{robust} against {}",
            v.plain_error
        );
        assert_eq!(v.error, robust);
        let weights = v.weights.as_ref().expect("kept");
        // The windows whose target is a spike weigh little; the others (Huber's threshold, two
        // median errors, is about 1.35 standard deviations of normal noise) nearly 1.
        for &t in &spikes {
            assert!(weights[t] < 0.1, "window {t}: {}", weights[t]);
        }
        let others: Vec<f64> = (2..300)
            .filter(|o| !spikes.iter().any(|t| (t..&(t + 3)).contains(&o)))
            .map(|o| weights[o])
            .collect();
        let mean = others.iter().sum::<f64>() / others.len() as f64;
        assert!(mean > 0.9, "the other windows' mean weight {mean}");
        assert!(
            weights[350] < 0.1,
            "the validation's spike: {}",
            weights[350]
        );
        let further = (300..n)
            .filter(|o| !(350..353).contains(o))
            .map(|o| weights[o]);
        let mean = further.sum::<f64>() / (n - 303) as f64;
        assert!(
            mean > 0.8,
            "the other validation windows' mean weight {mean}"
        );
        // A refit of the choice with the same weights is the refit `fit_validated` made.
        let again = Linear::fit_choice(
            &frame,
            &train.iter().chain(&val).copied().collect::<Vec<_>>(),
            (2, 1),
            (&terms, v.choice, v.weights.as_deref()),
        )
        .unwrap();
        for (a, b) in again.weights().0.iter().zip(v.refit.weights().0) {
            assert!((a - b).abs() < 1e-9 * b.abs().max(1.0), "{a} vs {b}");
        }
    }

    #[test]
    fn without_outliers_the_plain_fit_stays() {
        let n = 300;
        let f: Vec<f64> = (0..n).map(|t| ((t * 7 % 11) as f64).sin()).collect();
        let mut y = vec![1.0, 2.0];
        for t in 2..n {
            let noise = ((t * 13 % 17) as f64 - 8.0) / 8.0;
            y.push(0.5 * y[t - 1] - 0.3 * y[t - 2] + 2.0 * f[t] + 1.0 + noise);
        }
        let (frame, _) = frame_of(&y, &f, 240);
        let train: Vec<usize> = (2..240).collect();
        let val: Vec<usize> = (240..n).collect();
        let terms = Terms {
            robust: true,
            ..Terms::default()
        };
        let v = Linear::fit_validated(&frame, [&train, &val, &val], (2, 1), &terms).unwrap();
        assert!(v.robust_error.is_some());
        assert!(v.weights.is_none());
        assert_eq!(v.error, v.plain_error);
    }

    #[test]
    fn a_penalty_shrinks_the_fit_from_the_last_value_toward_naive() {
        // A random walk of deterministic steps, and a covariate of no use.
        let step = |t: usize| (t * 37 % 101) as f64 / 50.0 - 1.0;
        let mut y = vec![0.0];
        for t in 1..300 {
            y.push(y[t - 1] + step(t));
        }
        let f: Vec<f64> = (0..300).map(|t| step(t * 7 + 3)).collect();
        let (frame, _) = frame_of(&y, &f, 250);
        let (context, horizon) = (4, 2);
        let terms = Terms {
            context_columns: Some(1),
            ..Terms::default()
        };
        let origins: Vec<usize> = (context..250).collect();
        let layout = Layout::of(&frame, (context, horizon), &terms);
        let gram = Gram::of(&frame, &origins, &layout, &layout.all()).unwrap();
        let choice = |from_last, ridge| Choice {
            hinged: false,
            daily: false,
            optional: false,
            yearly: false,
            weekly: false,
            from_last,
            ridge,
        };
        let mut w = WindowBuffers::default();
        for o in 250..298 {
            frame.window(o, context, horizon, &mut w);
        }
        // Each window's last target value: context step 3 of width 2 (y, f).
        let last = |i: usize| f64::from(w.enc[i * context * 2 + 3 * 2]);
        // Penalised without bound: from the last value the fit forecasts it (naive), from the
        // value it forecasts zero (the constant shrunk too).
        let naive = gram.solve(choice(true, 1e9)).predict(&w);
        let zero = gram.solve(choice(false, 1e9)).predict(&w);
        for i in 0..w.windows {
            for k in 0..horizon {
                let j = i * horizon + k;
                assert!(
                    (naive[j] - last(i)).abs() < 1e-6,
                    "{} vs {}",
                    naive[j],
                    last(i)
                );
                assert!(zero[j].abs() < 1e-6, "{}", zero[j]);
            }
        }
        assert!(last(0).abs() > 0.1, "the test reads real values");
        // Offered: on a random walk the naive forecast beats a seasonal one; not on a season.
        assert!(naive_is_no_worse(&frame, &origins, horizon, 7));
        let weekly: Vec<f64> = (0..300)
            .map(|t| 5.0 * (t as f64 * std::f64::consts::TAU / 7.0).sin() + step(t))
            .collect();
        let (seasonal, _) = frame_of(&weekly, &f, 250);
        assert!(!naive_is_no_worse(&seasonal, &origins, horizon, 7));
        // Without a penalty both learn the same map from the window.
        let (a, b) = (
            gram.solve(choice(true, 1e-12)),
            gram.solve(choice(false, 1e-12)),
        );
        for (a, b) in a.weights().0.iter().zip(b.weights().0) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
        // Choices solved together (those that differ in `from_last` alone share one
        // factorisation) give each the numbers it gets alone, in the order asked.
        let choices = [
            choice(true, 1e-3),
            choice(false, 1e-2),
            choice(false, 1e-3),
            choice(true, 1.0),
        ];
        let together = gram.solve_all(&choices);
        assert_eq!(together.len(), choices.len());
        for (fit, &c) in together.iter().zip(&choices) {
            assert_eq!(fit.weights().0, gram.solve(c).weights().0, "{c:?}");
        }
        assert_ne!(together[0].weights().0, together[2].weights().0);
    }

    #[test]
    fn the_normal_equations_by_blocks_are_the_whole_product() {
        for p in [1, 100, 255, 256, 300, 383, 384, 1909, 20_000] {
            let blocks = symmetric_blocks(p);
            assert_eq!(blocks[0].start, 0);
            assert_eq!(blocks.last().unwrap().end, p);
            assert!(blocks.windows(2).all(|b| b[0].end == b[1].start));
            assert!(p >= 256 || blocks.len() == 1, "{p}: {blocks:?}");
            assert!(
                blocks.iter().all(|b| b.len() >= 128.min(p)),
                "{p}: {blocks:?}"
            );
        }
        // 2 columns x 170 context steps, the horizon's covariate and the constant: 343
        // features in two blocks, against one product over all of X^T X, to the bit.
        let y: Vec<f64> = (0..700).map(|t| ((t * 37 % 101) as f64).sin()).collect();
        let f: Vec<f64> = (0..700).map(|t| ((t * 13 % 29) as f64).cos()).collect();
        let (frame, _) = frame_of(&y, &f, 600);
        let (context, horizon) = (170, 2);
        let origins: Vec<usize> = (context..600).collect();
        let terms = Terms::default();
        let layout = Layout::of(&frame, (context, horizon), &terms);
        let gram = Gram::of(&frame, &origins, &layout, &layout.all()).unwrap();
        let mut d = Design::new();
        let p = d.load(&frame, &origins, (context, horizon), &terms) + 1;
        assert_eq!((p, symmetric_blocks(p).len()), (343, 2));
        let mut whole = vec![0.0; p * p];
        f64::gemm(
            p,
            d.rows,
            p,
            &d.x,
            (1, p),
            &d.x,
            (p, 1),
            1.0,
            &mut whole,
            (p, 1),
            2,
        );
        assert_eq!(gram.xtx, whole);
    }

    #[test]
    fn the_covariates_past_is_kept_when_it_validates_better() {
        // y_t = f_{t-3}: with a horizon of 2 only the context's values of `f` tell `y`.
        let n = 400;
        let g = |t: usize| ((t * 37 % 101) as f64 / 50.0) - 1.0;
        let f: Vec<f64> = (0..n).map(g).collect();
        // `g` repeats every 101 steps; scaled on 3 whole periods, `y` and `f` scale alike.
        let y: Vec<f64> = (0..n).map(|t| g(t + 101 - 3)).collect();
        let (frame, _) = frame_of(&y, &f, 303);
        let (train, val): (Vec<usize>, Vec<usize>) = ((4..250).collect(), (250..299).collect());
        let terms = Terms {
            context_columns: Some(2),
            optional_columns: 1,
            hinges: Hinges::default(),
            year: None,
            week: None,
            from_last: false,
            robust: false,
        };
        let v = Linear::fit_validated(&frame, [&train, &val, &[]], (4, 2), &terms).unwrap();
        assert!(v.choice.optional, "the covariate's past kept");
        let without = v.other_optional_error.unwrap();
        assert!(v.error < 0.01 * without, "{} vs {without}", v.error);
        // Without it, its weights are zero: the fit that left it out predicts no better than
        // the targets' own past (y's past is f's, further back: no use either).
        let (weights, features, outputs) = v.fit.weights();
        assert_eq!((features, outputs), (4 * 2 + 2, 2));
        // Context step s, column c is feature 2 s + c: `f_{o-3}` is step 1 (of 4), column 1.
        let w = &weights[3 * outputs..4 * outputs];
        assert!(
            (w[0] - 1.0).abs() < 1e-3,
            "y_o reads f_(o-3) with weight 1: {w:?}"
        );
    }

    #[test]
    fn a_flags_repeated_and_top_knots_are_not_fitted() {
        // y_t = 0.4 y_{t-1} + 2 f_t and a small wobble, f a flag set on a third of the steps:
        // its quantiles repeat 0 and 1, so only the first knot's terms are fitted.
        let n = 300;
        let f: Vec<f64> = (0..n).map(|t| f64::from(t * 7 % 19 < 6)).collect();
        let mut y = vec![0.5];
        for t in 1..n {
            y.push(0.4 * y[t - 1] + 2.0 * f[t] + ((t * 13 % 7) as f64) * 0.01);
        }
        let (frame, _) = frame_of(&y, &f, 250);
        let hinges = Hinges::fit(&frame, 1, 250);
        let knots = hinges.knots[0].clone();
        assert_eq!(knots.len(), KNOT_QUANTILES.len());
        assert_eq!(
            hinges.live,
            vec![vec![true, false, false, false, false]],
            "{knots:?}"
        );
        assert!(knots[1..].iter().all(|&k| k == knots[0] || k >= knots[4]));
        let (train, val, more): (Vec<usize>, Vec<usize>, Vec<usize>) = (
            (1..200).collect(),
            (200..249).collect(),
            (200..249).collect(),
        );
        let terms = Terms {
            context_columns: Some(1),
            hinges,
            ..Terms::default()
        };
        let v = Linear::fit_validated(&frame, [&train, &val, &more], (1, 1), &terms).unwrap();
        let (weights, features, outputs) = v.fit.weights();
        // The context's target, the horizon's flag, its five knots' terms.
        assert_eq!((features, outputs), (1 + 1 + 5, 1));
        let hinge = &weights[2..7];
        assert!(hinge[1..].iter().all(|&w| w == 0.0), "{hinge:?}");
        // With no knot fitted, the hinge terms are not offered.
        let none = Terms {
            hinges: Hinges {
                live: vec![vec![false; 5]],
                ..terms.hinges.clone()
            },
            ..terms.clone()
        };
        let n = Linear::fit_validated(&frame, [&train, &val, &more], (1, 1), &none).unwrap();
        assert!(!n.choice.hinged && n.other_hinged_error.is_none() && n.features == 2);
        // The same system as a fit that never had the other terms: the same weights.
        let one = Terms {
            hinges: Hinges {
                knots: vec![vec![knots[0]]],
                live: Vec::new(),
                ..terms.hinges.clone()
            },
            ..terms.clone()
        };
        let alone = Linear::fit_choice(&frame, &train, (1, 1), (&one, v.choice, None)).unwrap();
        let (w1, f1, _) = alone.weights();
        assert_eq!(f1, 3);
        let same = |a: f64, b: f64| (a - b).abs() <= 1e-9 * (1.0 + b.abs());
        assert!(
            (0..3).all(|i| same(weights[i], w1[i])),
            "{weights:?} {w1:?}"
        );
        assert!(same(weights[7], w1[3]), "{weights:?} {w1:?}");
    }

    #[test]
    fn hinge_terms_fit_a_bent_covariate_effect() {
        // y_t = |f_t| + 0.3 y_{t-1}: a V-shaped effect no straight line fits.
        let n = 400;
        let f: Vec<f64> = (0..n)
            .map(|t| ((t * 37 % 101) as f64 / 50.0) - 1.0)
            .collect();
        let mut y = vec![0.0];
        for t in 1..n {
            y.push(f[t].abs() + 0.3 * y[t - 1]);
        }
        let (frame, _) = frame_of(&y, &f, 300);
        let hinges = Hinges::fit(&frame, 1, 300);
        assert_eq!(hinges.knots[0].len(), KNOT_QUANTILES.len());
        assert!(hinges.knots[0].windows(2).all(|k| k[0] <= k[1]));
        let (train, val, more): (Vec<usize>, Vec<usize>, Vec<usize>) = (
            (2..250).collect(),
            (250..299).collect(),
            (250..299).collect(),
        );
        let plain = Linear::fit(&frame, &train, 2, 2).unwrap();
        let terms = Terms {
            context_columns: Some(1),
            hinges,
            ..Terms::default()
        };
        let bent = Linear::fit_validated(&frame, [&train, &val, &more], (2, 2), &terms).unwrap();
        let (_, features, outputs) = bent.fit.weights();
        // The context's targets only, the horizon's covariate, its hinge terms.
        assert_eq!((features, outputs), (2 + 2 + 2 * 5, 2));
        assert!(bent.choice.hinged && bent.features == 14 && bent.left_out.is_empty());
        // Bounded below the hinge terms' fits, it fits without them (no past to leave out
        // first, no day); below the smallest fit, it still fits that.
        for bound in [13, 1] {
            let within =
                Linear::fit_validated_within(&frame, [&train, &val, &more], (2, 2), &terms, bound)
                    .unwrap();
            assert_eq!(within.left_out, [Kind::Hinges]);
            assert_eq!(within.features, 4);
            assert!(!within.choice.hinged && within.other_hinged_error.is_none());
            let (w, _, _) = within.fit.weights();
            assert!(w[4 * 2..14 * 2].iter().all(|&v| v == 0.0));
        }
        let mut w = WindowBuffers::default();
        for o in 300..398 {
            frame.window(o, 2, 2, &mut w);
        }
        let mae = |pred: Vec<f64>| {
            pred.iter()
                .zip(&w.y)
                .map(|(p, &y)| (p - f64::from(y)).abs())
                .sum::<f64>()
                / pred.len() as f64
        };
        let (plain, bent) = (mae(plain.predict(&w)), mae(bent.refit.predict(&w)));
        // The knots sit between data points, so the V's vertex at 0 is cut off a little.
        assert!(bent < 0.2 * plain, "hinges {bent} vs plain {plain}");
    }
}
