//! Training a forecaster: the loop in nanoGPT's order (learning rate, a batch of training
//! windows, step, log; validate and checkpoint when due), with a time budget, checkpoints
//! (`last` on schedule, `best` by validation loss), exact `--resume` and `metrics.csv`.
//!
//! Everything random derives from `(seed, step)`: the batch's windows and the dropout masks (the
//! backend is re-seeded every step), so a resumed run gives the same numbers as one that was
//! never interrupted.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Instant;

use burn::module::{AutodiffModule, Module};
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Tensor, TensorData};
use rand::{Rng, SeedableRng};

use crate::app::checkpoint::history;
use crate::app::checkpoint::record::{load_module, load_record, module_bytes, record_bytes};
use crate::app::checkpoint::{RunDir, TrainState, write_atomic};
use crate::app::forecast::base::{LinearFits, choose_seasonal_index, local_bases};
use crate::app::forecast::config::{Base, ForecastConfig, SeasonalIndexMode};
use crate::app::forecast::problem::Problem;
use crate::app::forecast::spread::{
    Pool, pooled, spread_origins, validation_errors, with_base_spread,
};
use crate::app::forecast::{ForecastError, METRICS_HEADER};
use crate::app::optimiser::{WithOptimiser, with_optimiser};
use crate::app::train::{Progress, TrainOptions};
use crate::forecast::linear::Linear;
use crate::forecast::window::WindowBuffers;
use crate::model::{ForecastLoss, Forecaster};
use crate::training::clip_gradients;

/// What a training run reached.
#[derive(Clone, Debug, PartialEq)]
pub struct ForecastSummary {
    /// Steps done in all.
    pub steps: usize,
    /// Training seconds in all.
    pub elapsed_secs: f64,
    /// The last validation loss (scaled units).
    pub val_loss: f64,
    /// The best validation loss (scaled units).
    pub best_val_loss: f64,
    /// Training windows per second over this session.
    pub windows_per_sec: f64,
}

/// Trains the forecaster `config` describes into `options.run` on `device`.
pub fn train_forecaster<B: AutodiffBackend>(
    config: &ForecastConfig,
    options: &TrainOptions,
    device: &B::Device,
) -> Result<ForecastSummary, ForecastError> {
    let lock = options.run.lock("train")?;
    let result = train_locked::<B>(config, options, device);
    if result.is_err() {
        // A training that failed before writing anything leaves no folder behind.
        lock.release_unused();
    }
    result
}

/// [`train_forecaster`] while the run folder is held.
fn train_locked<B: AutodiffBackend>(
    config: &ForecastConfig,
    options: &TrainOptions,
    device: &B::Device,
) -> Result<ForecastSummary, ForecastError> {
    let began = Instant::now();
    let run = &options.run;
    if options.resume && !run.has_checkpoint("last") {
        return Err(ForecastError::NothingToResume(
            run.root().display().to_string(),
        ));
    }
    if !options.resume && run.holds_run() {
        if !options.force {
            return Err(ForecastError::RunExists(run.root().display().to_string()));
        }
        run.clear()?;
    }
    let mut config = config.clone();
    let saved_scalers = if options.resume {
        let saved = super::read_config(run)?;
        if config.train.steps.is_none() {
            config.train.steps = saved.train.steps;
        }
        Some(super::read_scalers(run, &saved)?)
    } else {
        None
    };
    let mut problem = Problem::new(&config, None, saved_scalers)?;
    // The seasonal index: on resume as the run saved it (with its scalers); else as
    // `forecast.seasonal_index` says, "auto" choosing by the linear base's validation.
    let mut chosen_fits = None;
    let mut seasonal_line = None;
    // The time the linear base's fits and the intervals' calibration take.
    let started = std::time::Instant::now();
    if !options.resume {
        match config.forecast.seasonal_index {
            SeasonalIndexMode::Multiplicative => {
                problem = problem.deseasonalized(config.forecast.season)?;
            }
            SeasonalIndexMode::Auto
                if config.model.base == Base::Linear && config.data.series.is_none() =>
            {
                let (p, fits, line) = choose_seasonal_index(&config, problem)?;
                (problem, chosen_fits, seasonal_line) = (p, Some(fits), line);
            }
            _ => {}
        }
    }
    if options.progress != Progress::Quiet {
        for line in &problem.skipped {
            eprintln!("{line}");
        }
        for segment in problem.segments.iter().filter(|s| s.series.repeated > 0) {
            let name = segment
                .id
                .as_ref()
                .map_or(String::new(), |id| format!("series `{id}`: "));
            eprintln!(
                "{name}{} rows of an hour the clock repeats (daylight saving time ends) merged into the rows of the same times before them (each time: the mean of its values)",
                segment.series.repeated
            );
        }
        if let [one] = &problem.segments[..] {
            let (series, split) = (&one.series, one.split);
            let at = |i: usize| match series.times {
                Some(_) => series.time_label(i),
                None => format!("step {i}"),
            };
            eprintln!(
                "series: {}; validation from {}, test from {}",
                series.describe(),
                at(split.val_start),
                at(split.test_start)
            );
        }
        if problem.segments.len() > 1 {
            eprintln!(
                "{} series, {} training windows{}",
                problem.segments.len(),
                problem.train_origins().len(),
                problem.segments[0].series.encoding_note()
            );
        }
        for line in constant_covariate_lines(&problem) {
            eprintln!("{line}");
        }
    }
    let mut fitting = started.elapsed();
    let frame = &problem.frame;
    let model_config = config.model_config(frame);
    B::seed(device, config.seed);
    let mut model = model_config.init::<B>(device);
    let mut fits = None;
    let mut local_saved = None;
    let started = std::time::Instant::now();
    if model.linear_base.is_some() && config.data.series.is_some() {
        // Many series: each its own linear base, the windows carrying its forecasts.
        let (training, saved) = local_bases(&config, &problem, options.progress)?;
        problem.local_bases = Some(training);
        local_saved = Some(saved);
    } else if model.linear_base.is_some() {
        let f = match chosen_fits.take() {
            Some(f) => f,
            None => LinearFits::of(&config, &problem, options.progress)?,
        };
        if options.progress != Progress::Quiet {
            for line in seasonal_line.iter().chain([&f.line]) {
                eprintln!("{line}");
            }
        }
        model = model.with_linear_base(&f.training);
        fits = Some(f);
    }
    let problem = problem;
    let mut pool = None;
    if config.forecast.loss.is_probabilistic() {
        pool = fits.as_ref().and_then(|f| {
            Pool::of(
                &model,
                &problem,
                (&f.terms, f.choice, f.weights.as_deref()),
                device,
            )
        });
        if let (Some(p), false) = (&pool, options.progress == Progress::Quiet) {
            eprintln!("{}", p.line());
        }
        model = with_base_spread(
            model,
            &problem,
            &config.forecast.quantiles,
            pool.as_ref(),
            device,
        );
    }
    fitting += started.elapsed();
    if (fits.is_some() || local_saved.is_some()) && options.progress != Progress::Quiet {
        eprintln!(
            "linear base: {:.1} s before the first step, fitting it{}",
            fitting.as_secs_f64(),
            if pool.is_some() {
                " and calibrating the intervals"
            } else {
                ""
            }
        );
    }
    let work = Loop {
        config: &mut config,
        options,
        problem: &problem,
        model,
        fits,
        local_saved,
        pool,
        began,
        device,
    };
    with_optimiser::<B, Forecaster<B>, _>(&work.config.optim.clone(), work)
}

/// A line per covariate that is constant over a training part (it scales to 0 throughout,
/// [`Scalers::fit`](crate::forecast::window::Scalers::fit)): with its value for a single
/// series, else with the number of series and the first few of them.
fn constant_covariate_lines(problem: &Problem) -> Vec<String> {
    const READ: &str = "nothing fitted on it can tell what a change of it does, so the model reads it as 0 throughout (as if left out)";
    let mut by_column: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut lines = Vec::new();
    for seg in &problem.segments {
        for (column, value) in seg.scalers.constant_covariates(&seg.series) {
            match &seg.id {
                None => lines.push(format!(
                    "covariate `{column}` is constant over the training part ({value}): {READ}"
                )),
                Some(id) => by_column.entry(column).or_default().push(id.clone()),
            }
        }
    }
    let total = problem.segments.len();
    for (column, ids) in by_column {
        let first: Vec<String> = ids.iter().take(3).map(|i| format!("`{i}`")).collect();
        let more = if ids.len() > 3 { ", ..." } else { "" };
        lines.push(format!(
            "covariate `{column}` is constant over the training part of {} of {total} series ({}{more}): {READ}",
            ids.len(),
            first.join(", ")
        ));
    }
    lines
}

/// `model` as checkpoints hold it: with the refit linear base when it has one.
fn to_save<B: Backend>(model: &Forecaster<B>, fits: Option<&LinearFits>) -> Forecaster<B> {
    match fits {
        Some(f) => model.clone().with_linear_base(&f.saved),
        None => model.clone(),
    }
}

/// The loop, as work for the config's optimiser.
struct Loop<'a, B: AutodiffBackend> {
    config: &'a mut ForecastConfig,
    options: &'a TrainOptions,
    problem: &'a Problem,
    model: Forecaster<B>,
    fits: Option<LinearFits>,
    /// Each series' linear base refit before its test part, by name (many series).
    local_saved: Option<BTreeMap<String, Linear>>,
    /// The base's errors outside the validation part, pooled into every spread (see
    /// [`Pool`]).
    pool: Option<Pool>,
    /// When the run began: its time budget counts from here (reading, fitting, training).
    began: Instant,
    device: &'a B::Device,
}

impl<B: AutodiffBackend> WithOptimiser<B, Forecaster<B>> for Loop<'_, B> {
    type Output = Result<ForecastSummary, ForecastError>;
    fn run<O: Optimizer<Forecaster<B>, B>>(self, optim: O) -> Self::Output {
        run_loop(self, optim)
    }
}

fn run_loop<B: AutodiffBackend, O: Optimizer<Forecaster<B>, B>>(
    work: Loop<'_, B>,
    optim: O,
) -> Result<ForecastSummary, ForecastError> {
    let Loop {
        config,
        options,
        problem,
        model,
        fits,
        local_saved,
        pool,
        began,
        device,
    } = work;
    let run = &options.run;
    let Opened {
        mut model,
        mut optim,
        start,
        mut best,
        elapsed_before,
    } = open(run, options.resume, problem, model, optim, device)?;
    if let Some(saved) = &local_saved {
        let json = serde_json::to_vec(saved).expect("linear fits serialise");
        write_atomic(&super::local_bases_path(run), &json)?;
    }
    let origins = problem.train_origins();
    if let Some(f) = &fits {
        // A resumed checkpoint holds the refit base; the network goes on with the training one.
        model = model.with_linear_base(&f.training);
    }
    let val = problem.windows(&problem.val_sample());
    // The windows a best checkpoint's spread is measured on, when not all of `val`.
    let thinned = pool
        .as_ref()
        .map(|p| problem.windows(&spread_origins(problem, Some(p))));
    let spread_val = thinned.as_ref();
    let loss_kind = config.forecast.loss;
    let levels = config.forecast.quantiles.clone();
    let batch = config.train.batch_size;
    let started = Instant::now();
    if let (None, Some(budget)) = (config.train.steps, config.train.time_budget) {
        let secs = budget.secs() - began.elapsed().as_secs_f64();
        config.train.steps = Some(
            start
                + calibrate(
                    run,
                    problem,
                    &origins,
                    &val,
                    (&model, &optim),
                    config,
                    device,
                    secs,
                    options.progress,
                )?,
        );
    }
    write_atomic(&run.config_path(), config.to_toml().as_bytes())?;
    let total = config.train.steps.expect("steps known or calibrated");
    let mut last_val = f64::NAN;
    if start == 0 {
        last_val = validate_untrained(run, config, &model, fits.as_ref(), &val, total, device)?;
        best = best.min(last_val);
    }
    // A trained model must beat the untrained one by `min_improvement` to become the best.
    let untrained = history::read_metrics(run)
        .1
        .first()
        .filter(|(step, _)| *step == 0)
        .map_or(f64::INFINITY, |&(_, v)| v);
    let good_enough = untrained * (1.0 - config.train.min_improvement);
    let mut window = LossWindow::new(batch);
    let mut done_here = 0usize;
    for step in start..total {
        // Learning rate and randomness of this step.
        let lr = config.optim.learning_rate(step, total);
        B::seed(device, config.seed.wrapping_add(step as u64 + 1));
        let w = problem.windows(&batch_origins(&origins, batch, config.seed, step));
        // Forward, backward, clip, update.
        let (loss, mut grads) = forward_backward(&model, w, (loss_kind, &levels), device);
        if !loss.is_finite() {
            return Err(ForecastError::Diverged {
                step: step + 1,
                loss,
            });
        }
        let clip = &config.clip;
        clip_gradients::<B, _>(&model, &mut grads, clip.max_norm, clip.max_value);
        model = optim.step(lr, model, grads);
        window.add(loss);
        done_here += 1;
        // Log; validate and checkpoint when due.
        let done = step + 1;
        let interrupted = options
            .interrupt
            .as_ref()
            .is_some_and(|f| f.load(Ordering::SeqCst));
        let stop = options.stop_after == Some(done) || interrupted;
        let eval = done.is_multiple_of(config.train.eval_interval) || done == total || stop;
        if eval || done.is_multiple_of(config.train.log_interval) {
            let (train_loss, rate) = window.take();
            if eval {
                last_val = validation_loss(&model.valid(), &val, (loss_kind, &levels), device);
            }
            let elapsed = elapsed_before + started.elapsed().as_secs_f64();
            let row = Row {
                done,
                train_loss,
                val: eval.then_some(last_val),
                lr,
                rate,
                elapsed,
            };
            history::append(&run.metrics_path(), &row.csv())?;
            if options.progress != Progress::Quiet {
                eprintln!("{}", row.line(total));
            }
            if eval {
                let improved = last_val < best && last_val <= good_enough;
                if improved {
                    best = last_val;
                }
                let state = train_state(config, done, total, best, last_val, elapsed);
                let saved = to_save(&model, fits.as_ref());
                // A probabilistic model becomes the best with the spread of its own validation
                // errors (the last checkpoint keeps the training's, for an exact resume).
                let best_model = (improved && loss_kind.is_probabilistic()).then(|| {
                    let own = validation_errors(&model.valid(), spread_val.unwrap_or(&val), device);
                    let (residuals, scales) = pooled(own, pool.as_ref().map(|p| &p.errors));
                    saved.clone().with_residuals(&residuals, &scales, &levels)
                });
                save(run, &state, (&saved, best_model.as_ref()), &optim, improved)?;
            }
        }
        if interrupted && done < total {
            return Err(ForecastError::Interrupted {
                step: done,
                run: run.checkpoint_dir("last").display().to_string(),
            });
        }
        if stop {
            break;
        }
    }
    let (train_series, valid_series) = history::read_metrics(run);
    let unit = match loss_kind {
        ForecastLoss::Mae => "MAE (scaled)",
        ForecastLoss::Mse => "MSE (scaled)",
        ForecastLoss::Quantile => "training: pinball loss; validation: the median's MAE (scaled)",
        ForecastLoss::Gaussian => "training: Gaussian NLL; validation: the mean's MAE (scaled)",
    };
    // The picture is a convenience: the run is saved whether or not it can be drawn.
    let _ = crate::app::plot::loss_curve(
        &run.plot_path(),
        &format!("{} ({} steps)", run.root().display(), total),
        unit,
        &train_series,
        &valid_series,
    );
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    Ok(ForecastSummary {
        steps: total,
        elapsed_secs: elapsed_before + secs,
        val_loss: last_val,
        best_val_loss: best,
        windows_per_sec: (done_here * batch) as f64 / secs,
    })
}

/// The mean loss and the rate of the steps since the last log line.
struct LossWindow {
    sum: f64,
    steps: usize,
    started: Instant,
    batch: usize,
}

impl LossWindow {
    fn new(batch: usize) -> Self {
        Self {
            sum: 0.0,
            steps: 0,
            started: Instant::now(),
            batch,
        }
    }

    fn add(&mut self, loss: f64) {
        self.sum += loss;
        self.steps += 1;
    }

    /// `(mean loss, windows per second)` since the last call, and a fresh window.
    fn take(&mut self) -> (f64, f64) {
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        let out = (
            self.sum / self.steps.max(1) as f64,
            (self.steps * self.batch) as f64 / secs,
        );
        *self = Self::new(self.batch);
        out
    }
}

/// One logged step: a row of `metrics.csv` and a progress line.
struct Row {
    done: usize,
    train_loss: f64,
    val: Option<f64>,
    lr: f64,
    rate: f64,
    elapsed: f64,
}

impl Row {
    fn csv(&self) -> String {
        let val = self.val.map_or(String::new(), |v| format!("{v:.6}"));
        format!(
            "{},{:.6},{val},{:.6e},{:.1},{:.2}\n",
            self.done, self.train_loss, self.lr, self.rate, self.elapsed
        )
    }

    fn line(&self, total: usize) -> String {
        let val = self.val.map_or(String::new(), |v| format!(" | val {v:.4}"));
        format!(
            "step {}/{total} | loss {:.4}{val} | lr {:.2e} | {:.0} windows/s",
            self.done, self.train_loss, self.lr, self.rate
        )
    }
}

/// Where a run starts: a fresh folder, or the `last` checkpoint of a resumed one.
struct Opened<B: AutodiffBackend, O> {
    model: Forecaster<B>,
    optim: O,
    start: usize,
    best: f64,
    elapsed_before: f64,
}

/// Restores the `last` checkpoint (`resume`) and cuts `metrics.csv` back to it, or starts the
/// run folder: checkpoints, the metrics header, the scalers.
fn open<B: AutodiffBackend, O: Optimizer<Forecaster<B>, B>>(
    run: &RunDir,
    resume: bool,
    problem: &Problem,
    model: Forecaster<B>,
    optim: O,
    device: &B::Device,
) -> Result<Opened<B, O>, ForecastError> {
    if !resume {
        run.create()?;
        write_atomic(
            &run.metrics_path(),
            format!("{METRICS_HEADER}\n").as_bytes(),
        )?;
        let scalers = serde_json::to_vec_pretty(&problem.run_scalers()).expect("scalers serialise");
        write_atomic(&super::scalers_path(run), &scalers)?;
        return Ok(Opened {
            model,
            optim,
            start: 0,
            best: f64::INFINITY,
            elapsed_before: 0.0,
        });
    }
    let (state, files) = run.load_checkpoint("last")?;
    let dir = run.checkpoint_dir("last");
    let what = "the run's config.toml";
    let model = load_module(model, &files, &dir, "model.bin", what, device)?;
    let record = load_record(&files, &dir, "optim.bin", "optimiser state", device)?;
    truncate_metrics(run, state.step)?;
    Ok(Opened {
        model,
        optim: optim.load_record(record),
        start: state.step,
        best: state.best_val_loss.unwrap_or(f64::INFINITY),
        elapsed_before: state.elapsed_secs,
    })
}

/// The validation loss of the untrained model, which forecasts its base (the head starts at
/// zero): logged as step 0 and saved as the first `best`, so that training keeps a model only
/// when it validates better than that.
fn validate_untrained<B: AutodiffBackend>(
    run: &RunDir,
    config: &ForecastConfig,
    model: &Forecaster<B>,
    fits: Option<&LinearFits>,
    val: &WindowBuffers,
    total: usize,
    device: &B::Device,
) -> Result<f64, ForecastError> {
    let f = &config.forecast;
    let loss = validation_loss(&model.valid(), val, (f.loss, &f.quantiles), device);
    history::append(&run.metrics_path(), &format!("0,,{loss:.6},,,0.00\n"))?;
    if loss.is_finite() {
        let state = train_state(config, 0, total, loss, loss, 0.0);
        let saved = module_bytes(&to_save(model, fits));
        run.save_checkpoint("best", &state, &[("model.bin", &saved)])?;
    }
    Ok(loss)
}

/// The state saved with a checkpoint after step `done`.
fn train_state(
    config: &ForecastConfig,
    done: usize,
    total: usize,
    best: f64,
    val: f64,
    elapsed: f64,
) -> TrainState {
    TrainState {
        step: done,
        total_steps: total,
        best_val_loss: best.is_finite().then_some(best),
        val_loss: val.is_finite().then_some(val),
        elapsed_secs: elapsed,
        seed: config.seed,
        files: Default::default(),
        vocab: None,
        corpus: None,
    }
}

/// Saves checkpoint `last` (model and optimiser) and, when the validation loss improved, `best`
/// (`model`, or the second model when given).
fn save<B: AutodiffBackend, O: Optimizer<Forecaster<B>, B>>(
    run: &RunDir,
    state: &TrainState,
    (model, best): (&Forecaster<B>, Option<&Forecaster<B>>),
    optim: &O,
    improved: bool,
) -> Result<(), ForecastError> {
    let model_bin = module_bytes(model);
    let optim_bin = record_bytes::<B, _>(optim.to_record()).map_err(ForecastError::Optimiser)?;
    let files: [(&str, &[u8]); 2] = [("model.bin", &model_bin), ("optim.bin", &optim_bin)];
    run.save_checkpoint("last", state, &files)?;
    if improved {
        match best {
            Some(best) => {
                run.save_checkpoint("best", state, &[("model.bin", &module_bytes(best))])?
            }
            None => run.save_checkpoint("best", state, &files[..1])?,
        }
    }
    Ok(())
}

/// The origins of the batch of `step`: `batch` training origins drawn uniformly, seeded by
/// `(seed, step)`.
fn batch_origins(origins: &[usize], batch: usize, seed: u64, step: usize) -> Vec<usize> {
    let mut rng =
        rand::rngs::StdRng::seed_from_u64(seed ^ (step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    (0..batch)
        .map(|_| origins[rng.random_range(0..origins.len())])
        .collect()
}

/// The tensors of a batch of windows.
pub(super) struct Batch<B: Backend> {
    /// `[N, C, width]`.
    pub context: Tensor<B, 3>,
    /// `[N, horizon * K]`.
    pub known: Tensor<B, 2>,
    /// `[N, horizon * targets]` (empty for windows past the history).
    pub y: Tensor<B, 2>,
    /// `[N, horizon * targets]`.
    pub mask: Tensor<B, 2>,
    /// `[N, horizon * targets]`: the base forecasts given from outside the model (each series'
    /// own linear fit), when the windows carry them.
    pub base: Option<Tensor<B, 2>>,
}

impl<B: Backend> Batch<B> {
    /// The model's forecasts of these windows, from their own base when they carry one.
    pub fn forecast(&self, model: &Forecaster<B>) -> Tensor<B, 2> {
        let (context, known) = (self.context.clone(), self.known.clone());
        match &self.base {
            Some(base) => model.forward_with_base(context, known, base.clone()),
            None => model.forward(context, known),
        }
    }
}

/// The tensors of windows `w` on `device`, for a model whose context steps hold `width` values.
pub(super) fn batch_tensors<B: Backend>(
    w: WindowBuffers,
    width: usize,
    device: &B::Device,
) -> Batch<B> {
    let n = w.windows;
    let flat = |v: Vec<f32>| {
        let cols = v.len() / n;
        Tensor::<B, 2>::from_data(TensorData::new(v, [n, cols]), device)
    };
    let steps = w.enc.len() / n / width;
    let context = Tensor::<B, 3>::from_data(TensorData::new(w.enc, [n, steps, width]), device);
    Batch {
        context,
        known: flat(w.dec),
        y: flat(w.y),
        mask: flat(w.mask),
        base: (!w.base.is_empty()).then(|| flat(w.base)),
    }
}

/// One batch's loss and gradients.
fn forward_backward<B: AutodiffBackend>(
    model: &Forecaster<B>,
    w: WindowBuffers,
    (loss, levels): (ForecastLoss, &[f64]),
    device: &B::Device,
) -> (f64, GradientsParams) {
    let b = batch_tensors::<B>(w, model.encoder.input_size(), device);
    let pred = model.forward_train(b.context, b.known, b.y.clone(), b.base);
    let loss = model.loss(pred, b.y, b.mask, loss, levels);
    let value: f64 = loss.clone().into_scalar().elem();
    let grads = GradientsParams::from_grads(loss.backward(), model);
    (value, grads)
}

/// The loss over the validation windows (scaled units), without dropout or gradients: the
/// training loss of a point forecaster; for a probabilistic one the MAE of its point forecast
/// (median or mean), so that the best checkpoint and its guard judge what the network changes,
/// the point (the spread around it is the base's).
fn validation_loss<B: Backend>(
    model: &Forecaster<B>,
    val: &WindowBuffers,
    (loss, levels): (ForecastLoss, &[f64]),
    device: &B::Device,
) -> f64 {
    if val.windows == 0 {
        return f64::NAN;
    }
    let b = batch_tensors::<B>(val.clone(), model.encoder.input_size(), device);
    let pred = b.forecast(model);
    let value = if loss.is_probabilistic() {
        model.loss(model.point(pred), b.y, b.mask, ForecastLoss::Mae, levels)
    } else {
        model.loss(pred, b.y, b.mask, loss, levels)
    };
    value.into_scalar().elem()
}

/// The steps that fit in `secs` of wall time: steps on a copy of the model are timed for a
/// moment (at least 16, at most 2% of the budget), a validation and a checkpoint's writing too,
/// and the rest of the budget is divided by the (trimmed) mean step time plus their share per
/// step.
#[allow(clippy::too_many_arguments)]
fn calibrate<B: AutodiffBackend, O: Optimizer<Forecaster<B>, B>>(
    run: &RunDir,
    problem: &Problem,
    origins: &[usize],
    val: &WindowBuffers,
    (model, optim): (&Forecaster<B>, &O),
    config: &ForecastConfig,
    device: &B::Device,
    secs: f64,
    progress: Progress,
) -> Result<usize, ForecastError> {
    let started = Instant::now();
    let mut probe = model.clone().fork(device);
    let mut probe_optim = optim.clone();
    let mut times = Vec::new();
    let moment = (secs * 0.02).min(3.0);
    for step in 0.. {
        if step >= 16 && started.elapsed().as_secs_f64() >= moment {
            break;
        }
        let t = Instant::now();
        let w = problem.windows(&batch_origins(
            origins,
            config.train.batch_size,
            config.seed,
            step,
        ));
        let f = &config.forecast;
        let (_, mut grads) = forward_backward(&probe, w, (f.loss, &f.quantiles), device);
        let clip = &config.clip;
        clip_gradients::<B, _>(&probe, &mut grads, clip.max_norm, clip.max_value);
        let lr = config.optim.learning_rate(0, 1);
        probe = probe_optim.step(lr, probe, grads);
        times.push(t.elapsed().as_secs_f64());
    }
    // After a warm-up (the first steps allocate), the mean of the middle 80%: one stall in a
    // short sample would weigh far more than it does over a whole run.
    let mut times = times.split_off(4);
    times.sort_by(f64::total_cmp);
    let cut = times.len() / 10;
    let middle = &times[cut..times.len() - cut];
    let step_secs = middle.iter().sum::<f64>() / middle.len() as f64;
    // The second of two validations: the first allocates.
    let mut eval_secs = f64::INFINITY;
    for _ in 0..2 {
        let t = Instant::now();
        let f = &config.forecast;
        let _ = validation_loss(&probe.valid(), val, (f.loss, &f.quantiles), device);
        eval_secs = t.elapsed().as_secs_f64();
    }
    // A checkpoint as every validation writes one, under a scratch name.
    let t = Instant::now();
    let state = train_state(config, 0, 0, f64::NAN, f64::NAN, 0.0);
    let model_bin = module_bytes(model);
    let optim_bin = record_bytes::<B, _>(optim.to_record()).map_err(ForecastError::Optimiser)?;
    let files: [(&str, &[u8]); 2] = [("model.bin", &model_bin), ("optim.bin", &optim_bin)];
    run.save_checkpoint("calibration", &state, &files)?;
    let save_secs = t.elapsed().as_secs_f64();
    let scratch = run.checkpoint_dir("calibration");
    std::fs::remove_dir_all(&scratch).map_err(|e| ForecastError::Write {
        path: scratch.clone(),
        message: format!("cannot remove the scratch checkpoint: {e}"),
    })?;
    let left = (secs - started.elapsed().as_secs_f64()).max(0.0);
    let per_step = step_secs + (eval_secs + save_secs) / config.train.eval_interval as f64;
    let steps = ((left * 0.95 / per_step) as usize).max(1);
    if progress != Progress::Quiet {
        eprintln!(
            "time budget: {steps} steps ({:.2} ms a step, {:.0} ms a validation, {:.0} ms a checkpoint)",
            step_secs * 1e3,
            eval_secs * 1e3,
            save_secs * 1e3
        );
    }
    Ok(steps)
}

/// Cuts `metrics.csv` back to `step` (the header and every complete row up to it).
fn truncate_metrics(run: &RunDir, step: usize) -> Result<(), ForecastError> {
    let path = run.metrics_path();
    let text = std::fs::read(&path).unwrap_or_default();
    let mut kept = format!("{METRICS_HEADER}\n").into_bytes();
    for line in text.split_inclusive(|&b| b == b'\n').skip(1) {
        let digits = line.iter().take_while(|b| b.is_ascii_digit()).count();
        let row_step = std::str::from_utf8(&line[..digits])
            .ok()
            .and_then(|s| s.parse::<usize>().ok());
        if line.ends_with(b"\n") && row_step.is_some_and(|s| s <= step) {
            kept.extend_from_slice(line);
        }
    }
    write_atomic(&path, &kept)?;
    Ok(())
}
