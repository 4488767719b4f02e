//! The scaled series and its windows: what a forecaster sees at an origin and what it must
//! forecast.
//!
//! A forecast from origin `o` (the first step forecast) sees the `context` steps `o - C .. o` of
//! the targets, the past covariates, the future covariates and the calendar features, and the
//! `horizon` steps `o .. o + H` of the future covariates and calendar features; it forecasts the
//! targets at `o .. o + H`. Nothing at or after `o` of a target or a past covariate is read.

use super::scale::{Scaler, SeasonalIndex};
use super::series::{Fills, Series};
use super::time::{Cycle, Frequency, YearHarmonics, calendar_cycles};

/// The series in scaled units, every column `[steps]`.
#[derive(Clone, Debug)]
pub struct Frame {
    /// The targets.
    pub targets: Vec<Vec<f64>>,
    /// Whether each target value was observed (filled values are not).
    pub observed: Vec<Vec<bool>>,
    /// The sources of the filled values of the targets, the past covariates, then the future
    /// covariates: a window reads none of the first two at or after its origin, and none of the
    /// future covariates after its horizon.
    pub fills: Vec<Fills>,
    /// The past covariates.
    pub past: Vec<Vec<f64>>,
    /// The future covariates, then the calendar features (`sin`, `cos` of each cycle).
    pub known: Vec<Vec<f64>>,
    /// Steps of history.
    pub len: usize,
    /// Steps in all (history, then the trailing known future).
    pub steps: usize,
    /// The year's higher harmonics, when the calendar features hold the year.
    pub year: Option<YearHarmonics>,
    /// The week's higher harmonics ([`YearHarmonics::week`]), when the calendar features hold
    /// the week.
    pub week: Option<YearHarmonics>,
    /// The known column of the day's sine (its cosine the next), when the calendar features
    /// hold the day.
    pub day: Option<usize>,
}

/// The scalers of a series: one per target, past covariate and future covariate.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Scalers {
    /// One per target column.
    pub targets: Vec<Scaler>,
    /// One per past covariate.
    pub past: Vec<Scaler>,
    /// One per future covariate.
    pub future: Vec<Scaler>,
    /// One per target when the targets are deseasonalized (`forecast.seasonal_index`), else
    /// none: a target's value at step `s` is divided by its index's factor of `s`, then scaled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seasonal: Vec<SeasonalIndex>,
    /// The phase of the season at step 0 of the series these scalers apply to (see
    /// [`Scalers::align`]); 0 for the series they were fitted on.
    #[serde(skip)]
    pub phase: usize,
}

/// A column that cannot be scaled.
#[derive(Debug, thiserror::Error)]
#[error(
    "column `{column}` has no scale to learn from over the training part, steps 1 to {end}: it is constant, has fewer than two values, or spreads less than 1.2e-38"
)]
pub struct ConstantColumn {
    /// The column.
    pub column: String,
    /// The training part's steps.
    pub end: usize,
}

/// How far from its training mean, in training standard deviations, a value may lie: the model
/// computes in 32-bit floats, where the square of a larger one is out of range.
pub const MAX_SCALED: f64 = 1e15;

/// A value too far from its column's training part for the model's 32-bit floats.
#[derive(Debug, thiserror::Error)]
#[error(
    "column `{column}`: the value {value:e} lies {distance:.1e} training standard deviations from the training part's mean (the model takes at most 1e15)"
)]
pub struct OutOfScale {
    /// The column.
    pub column: String,
    /// The step (0-based) of the series.
    pub step: usize,
    /// The value.
    pub value: f64,
    /// Its distance from the training mean, in training standard deviations.
    pub distance: f64,
}

impl Scalers {
    /// Checks that every value of `series` lies within [`MAX_SCALED`] standard deviations of
    /// its column's training mean.
    pub fn check(&self, series: &Series) -> Result<(), OutOfScale> {
        let column = |c: &super::series::Column, scaled: &dyn Fn(usize, f64) -> f64| {
            for (step, &value) in c.values.iter().enumerate() {
                let distance = scaled(step, value).abs();
                if distance.is_nan() || distance > MAX_SCALED {
                    return Err(OutOfScale {
                        column: c.name.clone(),
                        step,
                        value,
                        distance,
                    });
                }
            }
            Ok(())
        };
        for (t, c) in series.targets.iter().enumerate() {
            column(c, &|step, v| self.scale_target(t, step, v))?;
        }
        for (cols, scalers) in [(&series.past, &self.past), (&series.future, &self.future)] {
            for (c, s) in cols.iter().zip(scalers) {
                column(c, &|_, v| s.scale(v))?;
            }
        }
        Ok(())
    }

    /// Fits every column on the steps `..end` (the training part): a target must have a scale
    /// there ([`Scaler::fit`]); a covariate constant there scales to 0 throughout
    /// ([`Scaler::fit_covariate`]; [`Scalers::constant_covariates`] names them).
    pub fn fit(series: &Series, end: usize) -> Result<Scalers, ConstantColumn> {
        type Fit = fn(&[f64], &[bool], usize) -> Option<Scaler>;
        let fit = |cols: &[super::series::Column], fit: Fit| {
            cols.iter()
                .map(|c| {
                    fit(&c.values, &c.observed, end).ok_or_else(|| ConstantColumn {
                        column: c.name.clone(),
                        end,
                    })
                })
                .collect::<Result<Vec<Scaler>, ConstantColumn>>()
        };
        Ok(Scalers {
            targets: fit(&series.targets, Scaler::fit)?,
            past: fit(&series.past, Scaler::fit_covariate)?,
            future: fit(&series.future, Scaler::fit_covariate)?,
            seasonal: Vec::new(),
            phase: 0,
        })
    }

    /// The covariates of `series` (the table these scalers were fitted on; past, then future)
    /// that were constant over the fitted part ([`Scaler::constant`]: they scale to 0), with
    /// their value there.
    pub fn constant_covariates(&self, series: &Series) -> Vec<(String, f64)> {
        self.past
            .iter()
            .chain(&self.future)
            .zip(series.past.iter().chain(&series.future))
            .filter(|(s, _)| s.constant)
            .map(|(s, c)| (c.name.clone(), s.mean))
            .collect()
    }

    /// [`Scalers::fit`] with every target deseasonalized by its [`SeasonalIndex`] over the
    /// steps `..end`, phase `s % season` for step `s`, its scaler fitted on the deseasonalized
    /// values. `Ok(None)` when a target has no index (see [`SeasonalIndex::fit`]).
    pub fn fit_seasonal(
        series: &Series,
        end: usize,
        season: usize,
    ) -> Result<Option<Scalers>, ConstantColumn> {
        let Some(seasonal) = series
            .targets
            .iter()
            .map(|c| SeasonalIndex::fit(&c.values, &c.observed, end, season))
            .collect::<Option<Vec<_>>>()
        else {
            return Ok(None);
        };
        let mut deseasonalized = series.clone();
        for (c, ix) in deseasonalized.targets.iter_mut().zip(&seasonal) {
            for (s, v) in c.values.iter_mut().enumerate() {
                *v /= ix.factor(s);
            }
        }
        let mut scalers = Scalers::fit(&deseasonalized, end)?;
        let anchor = series.times.as_ref().and_then(|t| t.first().copied());
        scalers.seasonal = seasonal
            .into_iter()
            .map(|ix| SeasonalIndex { anchor, ..ix })
            .collect();
        Ok(Some(scalers))
    }

    /// Sets the season's phase at step 0 of `series` (a table read for these scalers, which
    /// may start before or after the one they were fitted on): from its first time's steps
    /// since the fitted series' first, on a calendar grid; with rows taken as steps, from the
    /// row holding the fitted series' first time; without times, step 0 is the fitted series'.
    /// `Err` when the first time is off the fitted series' grid, or, rows taken as steps, no
    /// row holds the fitted series' first time (the rows before this table's first are
    /// unknown, so its phases are).
    pub fn align(&mut self, series: &Series) -> Result<(), String> {
        let Some(ix) = self.seasonal.first() else {
            return Ok(());
        };
        let season = ix.factors.len() as i64;
        let steps = match (ix.anchor, &series.times, series.frequency) {
            (Some(anchor), Some(times), Some(f)) => {
                let first = times.first().copied().unwrap_or(anchor);
                f.steps_between(anchor, first).ok_or_else(|| {
                    "its first time is off the grid of the series the seasonal index was fitted on"
                        .to_string()
                })?
            }
            (Some(anchor), Some(times), None) => {
                let row = times.iter().position(|&t| t == anchor).ok_or_else(|| {
                    let first = series.format.map_or(anchor.to_string(), |f| f.format(anchor));
                    format!(
                        "with rows taken as steps (data.gaps = \"ignore\") the seasonal index counts its phases in rows from {first}, the first time of the table it was fitted on, and no row of this table has that time: give a table that holds that row (the training table's rows from there on)"
                    )
                })?;
                -(row as i64)
            }
            _ => 0,
        };
        self.phase = steps.rem_euclid(season) as usize;
        Ok(())
    }

    /// Target `t`'s value `v` at step `s` of its series in scaled units.
    pub fn scale_target(&self, t: usize, s: usize, v: f64) -> f64 {
        let v = self
            .seasonal
            .get(t)
            .map_or(v, |ix| v / ix.factor(s + self.phase));
        self.targets[t].scale(v)
    }

    /// Target `t`'s scaled value `v` at step `s` of its series back in the target's units.
    pub fn unscale_target(&self, t: usize, s: usize, v: f64) -> f64 {
        let v = self.targets[t].unscale(v);
        self.seasonal
            .get(t)
            .map_or(v, |ix| v * ix.factor(s + self.phase))
    }
}

impl Frame {
    /// `series` in the units of `scalers`, with calendar features when `calendar` is set and
    /// the series has a time column.
    pub fn new(series: &Series, scalers: &Scalers, calendar: bool) -> Frame {
        Frame::with_cycles(series, scalers, &Frame::cycles(series, calendar))
    }

    /// The calendar cycles of `series` when `calendar` is set: those that vary at its frequency
    /// (rows taken as steps, `gaps = "ignore"`: their smallest step) over its span.
    pub fn cycles(series: &Series, calendar: bool) -> Vec<Cycle> {
        match (&series.times, Frame::frequency(series)) {
            (Some(times), Some(freq)) if calendar => {
                calendar_cycles(freq, times[series.len.max(1) - 1] - times[0])
            }
            _ => Vec::new(),
        }
    }

    /// The series' step: its calendar's, or rows taken as steps (`gaps = "ignore"`) their
    /// smallest.
    fn frequency(series: &Series) -> Option<Frequency> {
        series
            .frequency
            .or_else(|| series.times.as_deref().and_then(Frequency::infer))
    }

    /// `series` in the units of `scalers`, with the sin/cos features of `cycles` (none without
    /// a time column).
    pub fn with_cycles(series: &Series, scalers: &Scalers, cycles: &[Cycle]) -> Frame {
        let scaled = |cols: &[super::series::Column], s: &[Scaler]| -> Vec<Vec<f64>> {
            cols.iter()
                .zip(s)
                .map(|(c, s)| c.values.iter().map(|&v| s.scale(v)).collect())
                .collect()
        };
        let mut known = scaled(&series.future, &scalers.future);
        let year = cycles
            .iter()
            .position(|&c| c == Cycle::Year)
            .zip(Frame::frequency(series))
            .and_then(|(i, f)| YearHarmonics::of(f, known.len() + 2 * i));
        let week = cycles
            .iter()
            .position(|&c| c == Cycle::Week)
            .zip(Frame::frequency(series))
            .and_then(|(i, f)| YearHarmonics::week(f, known.len() + 2 * i));
        let day = cycles
            .iter()
            .position(|&c| c == Cycle::Day)
            .map(|i| known.len() + 2 * i);
        if let Some(times) = &series.times {
            for cycle in cycles {
                let phase: Vec<f64> = times.iter().map(|&t| cycle.phase(t)).collect();
                let angle = |p: f64| 2.0 * std::f64::consts::PI * p;
                known.push(phase.iter().map(|&p| angle(p).sin()).collect());
                known.push(phase.iter().map(|&p| angle(p).cos()).collect());
            }
        }
        let targets = series
            .targets
            .iter()
            .enumerate()
            .map(|(t, c)| {
                c.values
                    .iter()
                    .enumerate()
                    .map(|(s, &v)| scalers.scale_target(t, s, v))
                    .collect()
            })
            .collect();
        Frame {
            targets,
            observed: series.targets.iter().map(|c| c.observed.clone()).collect(),
            fills: series
                .targets
                .iter()
                .chain(&series.past)
                .chain(&series.future)
                .map(|c| Fills::of(&c.observed))
                .collect(),
            past: scaled(&series.past, &scalers.past),
            known,
            len: series.len,
            steps: series.steps(),
            year: year.filter(|_| series.times.is_some()),
            week: week.filter(|_| series.times.is_some()),
            day: day.filter(|_| series.times.is_some()),
        }
    }

    /// Several frames of the same columns end to end, as one whose history is all their steps:
    /// windows that lie inside one of them read exactly what they would from it.
    ///
    /// # Panics
    /// When the frames' columns differ.
    pub fn concat(frames: Vec<Frame>) -> Frame {
        let mut frames = frames.into_iter();
        let mut all = frames.next().expect("at least one frame");
        all.len = all.steps;
        let join = |into: &mut Vec<Vec<f64>>, from: Vec<Vec<f64>>| {
            assert_eq!(into.len(), from.len(), "frames of the same columns");
            for (a, b) in into.iter_mut().zip(from) {
                a.extend(b);
            }
        };
        for f in frames {
            join(&mut all.targets, f.targets);
            join(&mut all.past, f.past);
            join(&mut all.known, f.known);
            assert_eq!(
                all.observed.len(),
                f.observed.len(),
                "frames of the same columns"
            );
            for (a, b) in all.observed.iter_mut().zip(f.observed) {
                a.extend(b);
            }
            for (a, b) in all.fills.iter_mut().zip(&f.fills) {
                a.append(b);
            }
            all.steps += f.steps;
            all.len = all.steps;
        }
        all
    }

    /// Values per context step: targets, past covariates, known columns.
    pub fn context_width(&self) -> usize {
        self.targets.len() + self.past.len() + self.known.len()
    }

    /// Values per horizon step given to the head: the known columns.
    pub fn known_width(&self) -> usize {
        self.known.len()
    }

    /// Appends the window of origin `o` to the buffers: `context` rows of
    /// [`Frame::context_width`] values to `enc`, `horizon` rows of [`Frame::known_width`] values
    /// to `dec`; when `o + horizon <= len`, also the targets `[horizon, targets]` to `y` and
    /// their observed flags (1 or 0) to `mask`. A context step of a target or past covariate
    /// whose value was filled from a step at or after `o` reads the last observed value before
    /// it ([`Fills::source`]; the training mean, 0, where there is none); a future covariate's
    /// step filled from a step after the horizon (at or after `o + horizon`) likewise.
    ///
    /// # Panics
    /// When `o < context` or `o + horizon > steps`.
    pub fn window(&self, o: usize, context: usize, horizon: usize, out: &mut WindowBuffers) {
        assert!(
            o >= context && o + horizon <= self.steps,
            "origin {o} out of range"
        );
        let (history, future) = self.fills.split_at(self.targets.len() + self.past.len());
        let end = o + horizon;
        // Known column `j` at step `s`: a future covariate as known at the horizon's end; a
        // calendar feature as it is.
        let known = |j: usize, s: usize| -> f32 {
            let c = &self.known[j];
            match future.get(j) {
                Some(fills) => fills.source(s, end).map_or(0.0, |source| c[source] as f32),
                None => c[s] as f32,
            }
        };
        for s in o - context..o {
            for (c, fills) in self.targets.iter().chain(&self.past).zip(history) {
                out.enc
                    .push(fills.source(s, o).map_or(0.0, |source| c[source] as f32));
            }
            out.enc.extend((0..self.known.len()).map(|j| known(j, s)));
        }
        for s in o..end {
            out.dec.extend((0..self.known.len()).map(|j| known(j, s)));
        }
        if o + horizon <= self.len {
            for s in o..o + horizon {
                out.y.extend(self.targets.iter().map(|c| c[s] as f32));
                out.mask
                    .extend(self.observed.iter().map(|c| f32::from(u8::from(c[s]))));
            }
        }
        out.windows += 1;
    }
}

/// The windows of a batch, flat and row-major.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WindowBuffers {
    /// `[windows, context, context_width]`.
    pub enc: Vec<f32>,
    /// `[windows, horizon, known_width]`.
    pub dec: Vec<f32>,
    /// `[windows, horizon, targets]` (empty for windows past the history).
    pub y: Vec<f32>,
    /// `[windows, horizon, targets]`: 1 where the target was observed.
    pub mask: Vec<f32>,
    /// `[windows, horizon, targets]`: the base forecast of each window when it comes from
    /// outside the model (each series' own linear fit); empty otherwise.
    pub base: Vec<f32>,
    /// Windows appended.
    pub windows: usize,
}

impl WindowBuffers {
    /// Empties the buffers, keeping their memory.
    pub fn clear(&mut self) {
        self.enc.clear();
        self.dec.clear();
        self.y.clear();
        self.mask.clear();
        self.base.clear();
        self.windows = 0;
    }

    /// Appends the windows of `other` (not its base forecasts).
    pub fn append(&mut self, other: &WindowBuffers) {
        self.enc.extend_from_slice(&other.enc);
        self.dec.extend_from_slice(&other.dec);
        self.y.extend_from_slice(&other.y);
        self.mask.extend_from_slice(&other.mask);
        self.windows += other.windows;
    }
}

/// The steps of the series' three parts: training `..val_start`, validation
/// `val_start..test_start` and test `test_start..len`, as origins see them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Split {
    /// The first step of the validation part.
    pub val_start: usize,
    /// The first step of the test part.
    pub test_start: usize,
    /// Steps of history.
    pub len: usize,
}

impl Split {
    /// Origins whose forecasts lie in `start..end`, `every` steps apart from `start` (a window
    /// needs `context` steps before its origin).
    pub fn origins(
        start: usize,
        end: usize,
        context: usize,
        horizon: usize,
        every: usize,
    ) -> Vec<usize> {
        (start.max(context)..=end.saturating_sub(horizon))
            .step_by(every.max(1))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::series::{Series, SeriesSpec};

    #[test]
    fn a_window_reads_no_target_at_or_after_its_origin() {
        let spec = SeriesSpec {
            target: vec!["y".into()],
            past_covariates: vec!["p".into()],
            future_covariates: vec!["f".into()],
            ..SeriesSpec::default()
        };
        let csv = "y,p,f\n0,10,100\n1,11,101\n2,12,102\n3,13,103\n4,14,104\n5,15,105\n";
        let series = Series::from_reader(csv.as_bytes(), std::path::Path::new("t"), &spec).unwrap();
        let scalers = Scalers::fit(&series, 6).unwrap();
        let frame = Frame::new(&series, &scalers, false);
        let mut a = WindowBuffers::default();
        frame.window(3, 2, 2, &mut a);
        // Change every target and past covariate from the origin on: the inputs stay.
        let mut changed = series.clone();
        for s in 3..6 {
            changed.targets[0].values[s] = -50.0;
            changed.past[0].values[s] = -70.0;
        }
        let mut b = WindowBuffers::default();
        Frame::new(&changed, &scalers, false).window(3, 2, 2, &mut b);
        assert_eq!((a.enc.clone(), a.dec.clone()), (b.enc, b.dec));
        assert_ne!(a.y, b.y);
        assert_eq!(a.enc.len(), 2 * 3);
        assert_eq!(a.dec.len(), 2);
        assert_eq!(a.mask, vec![1.0, 1.0]);
        assert_eq!(Split::origins(3, 6, 2, 2, 1), vec![3, 4]);
        assert_eq!(Split::origins(0, 10, 4, 2, 3), vec![4, 7]);
    }

    #[test]
    fn a_window_reads_no_future_covariate_filled_from_after_its_horizon() {
        // The future covariate's steps 3 and 4 are missing, interpolated toward step 5: a window
        // whose horizon ends before step 5 reads step 2's value there; one whose horizon holds
        // step 5 reads the interpolated values.
        let spec = SeriesSpec {
            target: vec!["y".into()],
            future_covariates: vec!["f".into()],
            ..SeriesSpec::default()
        };
        let csv = "y,f\n0,0\n1,1\n2,2\n3,\n4,\n5,5\n6,6\n";
        let series = Series::from_reader(csv.as_bytes(), std::path::Path::new("t"), &spec).unwrap();
        let scalers = Scalers::fit(&series, 7).unwrap();
        let known = |series: &Series, o: usize| {
            let mut w = WindowBuffers::default();
            Frame::new(series, &scalers, false).window(o, 2, 2, &mut w);
            let f = &scalers.future[0];
            let round = |v: &f32| (f.unscale(f64::from(*v)) * 1e3).round() / 1e3;
            let context: Vec<f64> = w.enc.chunks(2).map(|v| round(&v[1])).collect();
            (context, w.dec.iter().map(round).collect::<Vec<f64>>())
        };
        assert_eq!(known(&series, 3), (vec![1.0, 2.0], vec![2.0, 2.0]));
        assert_eq!(known(&series, 4), (vec![2.0, 3.0], vec![4.0, 5.0]));
        // Step 5 changed in the table (so the interpolation toward it too): the same window.
        let csv = csv.replace("\n5,5\n", "\n5,50\n");
        let changed =
            Series::from_reader(csv.as_bytes(), std::path::Path::new("t"), &spec).unwrap();
        assert_ne!(changed.future[0].values[3], series.future[0].values[3]);
        assert_eq!(known(&changed, 3), known(&series, 3));
    }

    #[test]
    fn a_window_reads_no_value_filled_from_its_origin_on() {
        // Steps 2 and 3 of the target are missing, interpolated toward step 4: from origin 4
        // they read step 1's value (carried forward), from origin 5 the interpolated ones. The
        // past covariate's step 2, interpolated between steps 1 and 3, reads as it is.
        let spec = SeriesSpec {
            target: vec!["y".into()],
            past_covariates: vec!["p".into()],
            ..SeriesSpec::default()
        };
        let csv = "y,p\n0,10\n1,11\n,\n,13\n4,14\n5,15\n6,16\n";
        let series = Series::from_reader(csv.as_bytes(), std::path::Path::new("t"), &spec).unwrap();
        assert_eq!(
            series.targets[0].values,
            [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
        );
        let scalers = Scalers::fit(&series, 7).unwrap();
        let frame = Frame::new(&series, &scalers, false);
        let window = |frame: &Frame, o: usize| {
            let mut w = WindowBuffers::default();
            frame.window(o, 3, 1, &mut w);
            let (y, p) = (&scalers.targets[0], &scalers.past[0]);
            w.enc
                .chunks(2)
                .map(|v| (y.unscale(f64::from(v[0])), p.unscale(f64::from(v[1]))))
                .map(|(a, b)| ((a * 1e3).round() / 1e3, (b * 1e3).round() / 1e3))
                .collect::<Vec<_>>()
        };
        assert_eq!(window(&frame, 4), [(1.0, 11.0), (1.0, 12.0), (1.0, 13.0)]);
        assert_eq!(window(&frame, 5), [(2.0, 12.0), (3.0, 13.0), (4.0, 14.0)]);
        // Changing the steps from the origin on changes nothing it reads.
        let mut changed = series.clone();
        changed.targets[0].values[4] = 40.0;
        changed.past[0].values[4] = 140.0;
        let changed = Frame::new(&changed, &scalers, false);
        assert_eq!(window(&changed, 4), window(&frame, 4));
        // Nothing observed before the origin: the training mean (0 in scaled units).
        let fills = Fills::of(&[false, false, true, true]);
        assert_eq!(
            (fills.source(0, 2), fills.source(1, 3), fills.source(3, 4)),
            (None, Some(1), Some(3))
        );
    }
}
