//! Training of the character-level language model, the loop in nanoGPT's order: set the
//! learning rate, take a batch, step, log, then evaluate, sample and checkpoint when due.
//!
//! Everything random derives from `(seed, step)`: the batches, the dropout masks (the backend is
//! re-seeded every step) and the samples, so a resumed run gives the same losses as one that was
//! never interrupted.
//!
//! - `session`: the checks before the run folder is touched, then a fresh or restored start;
//! - `budget`: `train.time_budget`, the steps that fit in a wall time;
//! - `step`: one step's forward and backward, on one device or data-parallel;
//! - `monitor`: the loss window and the stop rules; `progress`: the bar or log lines;
//! - `resume`: what a resumed run must keep, and the restore; `save`: the checkpoints.

mod budget;
mod monitor;
mod progress;
mod resume;
mod save;
mod session;
mod step;

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::module::Module;
use burn::optim::Optimizer;
use burn::tensor::backend::AutodiffBackend;

pub use progress::Progress;
pub use step::batch_shares;

use crate::app::checkpoint::history::{self, sample_heading};
use crate::app::checkpoint::{CheckpointError, RunDir, TrainState};
use crate::app::config::RunConfig;
use crate::app::eval::{EvalError, evaluate};
use crate::app::optimiser::{WithOptimiser, with_optimiser};
use crate::app::run::RunError;
use crate::data::{Batch, Batching, CorpusError, random_batch};
use crate::layer::RecurrentState;
use crate::model::CharLm;
use crate::sample::{Sampler, SamplingOptions, generate};
use crate::training::{clip_gradients, weights_finite};
use monitor::LossWindow;
use progress::Reporter;
use session::Session;

/// Why training failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The folder holds a run and neither `--resume` nor `--force` was given.
    #[error(
        "run folder {0} already holds a run; pass --resume to continue it or --force to start over"
    )]
    RunExists(String),
    /// `--resume` on a folder without a checkpoint.
    #[error("--resume: run folder {run} has no checkpoint to resume (expected {expected})")]
    NothingToResume {
        /// The run folder.
        run: String,
        /// The checkpoint looked for.
        expected: String,
    },
    /// `--resume` with a config whose model or batches differ from the run's.
    #[error(
        "--resume: config key `{key}` is {now}, but the run in {run} was trained with {before}; resume with the run's value or start over with --force"
    )]
    ResumeMismatch {
        /// The key.
        key: &'static str,
        /// Its value in the config given.
        now: String,
        /// Its value in the run.
        before: String,
        /// The run folder.
        run: String,
    },
    /// `--stop-after` at or before the checkpoint's step.
    #[error("--stop-after {stop}: the run is already at step {step}")]
    StopAfterReached {
        /// The step asked for.
        stop: usize,
        /// The checkpoint's step.
        step: usize,
    },
    /// No device was given.
    #[error("no device to train on")]
    NoDevice,
    /// More devices than batch rows.
    #[error(
        "{devices} devices, but config key `data.batch_size` = {batch} gives each fewer than one row; use at most {batch} devices or a larger batch"
    )]
    TooManyDevices {
        /// Devices given.
        devices: usize,
        /// Rows per batch.
        batch: usize,
    },
    /// The training split is shorter than one batch.
    #[error(
        "config keys `data.batch_size` x `data.seq_len` = {batch} x {seq}: the training split of {corpus} has {found} characters, fewer than one batch needs ({needed})"
    )]
    TrainingSplitTooSmall {
        /// Rows per batch.
        batch: usize,
        /// Characters per row.
        seq: usize,
        /// The corpus.
        corpus: String,
        /// Characters in the split.
        found: usize,
        /// Characters one batch needs.
        needed: usize,
    },
    /// The validation split is shorter than one window.
    #[error(
        "config key `data.seq_len` = {seq}: the validation split of {corpus} has {found} characters, fewer than seq_len + 1"
    )]
    ValidationSplitTooSmall {
        /// Characters per window.
        seq: usize,
        /// The corpus.
        corpus: String,
        /// Characters in the split.
        found: usize,
    },
    /// The loss or the weights stopped being numbers.
    #[error(
        "{what} at step {step}; stopped ({}). Try a lower optim.learning_rate or clip.max_norm",
        kept_note(*.kept)
    )]
    Diverged {
        /// What happened.
        what: String,
        /// The step.
        step: usize,
        /// Whether the run has a `last` checkpoint (from before the failure).
        kept: bool,
    },
    /// The optimiser's state could not be recorded.
    #[error("cannot record the optimiser: {0}")]
    Optimiser(String),
    /// Stopped on request ([`TrainOptions::interrupt`]) after saving a checkpoint.
    #[error(
        "interrupted after step {step}; checkpoint saved in {run}; continue with `train --resume`"
    )]
    Interrupted {
        /// The last step done (and saved).
        step: usize,
        /// The checkpoint folder.
        run: String,
    },
    /// The corpus.
    #[error(transparent)]
    Corpus(#[from] CorpusError),
    /// The run folder or a checkpoint.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The run's own files (config, vocabulary, weights).
    #[error(transparent)]
    Run(#[from] RunError),
    /// The validation.
    #[error(transparent)]
    Eval(#[from] EvalError),
}

/// Where and how to train.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// The run folder.
    pub run: RunDir,
    /// Continue from the `last` checkpoint.
    pub resume: bool,
    /// Start afresh even if the folder holds a run.
    pub force: bool,
    /// Progress display.
    pub progress: Progress,
    /// Stop (with a `last` checkpoint) after this step, as if interrupted; `--resume` continues.
    pub stop_after: Option<usize>,
    /// Set by the caller (the CLI's Ctrl-C handler) to stop after the current step with a `last`
    /// checkpoint; training then returns [`TrainError::Interrupted`].
    pub interrupt: Option<Arc<AtomicBool>>,
}

impl TrainError {
    /// A [`TrainError::Diverged`] that says whether the run has a checkpoint to go back to.
    fn noting_checkpoint(self, run: &RunDir) -> Self {
        match self {
            TrainError::Diverged { what, step, .. } => TrainError::Diverged {
                what,
                step,
                kept: run.has_checkpoint("last"),
            },
            other => other,
        }
    }
}

fn kept_note(kept: bool) -> &'static str {
    if kept {
        "the last checkpoint is kept"
    } else {
        "no checkpoint had been saved yet"
    }
}

/// What a finished run reached.
#[derive(Clone, Debug)]
pub struct TrainSummary {
    /// Steps done.
    pub steps: usize,
    /// Validation loss at the end (nats/char).
    pub val_loss: f64,
    /// Best validation loss seen.
    pub best_val_loss: f64,
    /// Training wall time, seconds (all sessions of a resumed run).
    pub elapsed_secs: f64,
    /// Training losses logged, `(step, loss)`.
    pub train_losses: Vec<(usize, f64)>,
}

/// Trains the character-level language model of `config` into `options.run` on `devices` (the
/// first holds the model and the optimiser).
///
/// With several devices, every step each device runs a replica (Burn's `Module::fork`) on its
/// share of the batch's rows, and the gradients, each weighted by its share, are moved to the
/// first device and summed by Burn's `GradientsAccumulator` into the gradient of the whole
/// batch; one optimiser step follows. A device may be listed twice (two replicas of the CPU
/// backend).
///
/// On one device the loop runs on a thread of Rayon's pool, which the CPU kernels use. Run from
/// outside it, the loop's own serial work (the autodiff graph, the optimiser) would share the
/// cores with the pool's threads, which spin for a while after each parallel kernel before they
/// sleep: on two cores the char-rnn step takes 25% longer that way (`bench` M, 175k against 220k
/// tokens/s). With several devices the loop stays on the caller's thread: the replicas' threads
/// call into the pool, and a pool thread blocked on them could leave a one-thread pool with no
/// worker.
pub fn train<B: AutodiffBackend>(
    config: &RunConfig,
    options: &TrainOptions,
    devices: &[B::Device],
) -> Result<TrainSummary, TrainError> {
    if devices.is_empty() {
        return Err(TrainError::NoDevice);
    }
    if devices.len() > config.data.batch_size {
        return Err(TrainError::TooManyDevices {
            devices: devices.len(),
            batch: config.data.batch_size,
        });
    }
    let work = Loop {
        config,
        options,
        devices,
    };
    if devices.len() > 1 {
        return with_optimiser::<B, CharLm<B>, _>(&config.optim, work);
    }
    rayon::scope(|_| with_optimiser::<B, CharLm<B>, _>(&config.optim, work))
}

/// The training loop, as work for the config's optimiser.
struct Loop<'a, B: AutodiffBackend> {
    config: &'a RunConfig,
    options: &'a TrainOptions,
    devices: &'a [B::Device],
}

impl<B: AutodiffBackend> WithOptimiser<B, CharLm<B>> for Loop<'_, B> {
    type Output = Result<TrainSummary, TrainError>;
    fn run<O: Optimizer<CharLm<B>, B>>(self, optim: O) -> Self::Output {
        run_loop(self.config, self.options, self.devices, optim)
    }
}

/// Which of the loop's tasks are due after step `done`.
struct Due {
    log: bool,
    eval: bool,
    checkpoint: bool,
    interrupted: bool,
    stop: bool,
}

impl Due {
    fn after(done: usize, total: usize, config: &RunConfig, options: &TrainOptions) -> Self {
        let eval = done.is_multiple_of(config.train.eval_interval) || done == total;
        let interrupted = options
            .interrupt
            .as_ref()
            .is_some_and(|f| f.load(Ordering::SeqCst));
        let stop = options.stop_after == Some(done) || interrupted;
        let checkpoint = eval || stop || done.is_multiple_of(config.checkpoint_interval());
        Self {
            log: done.is_multiple_of(config.train.log_interval) || checkpoint,
            eval,
            checkpoint,
            interrupted,
            stop,
        }
    }
}

/// Whether a training loop of this process has begun (its run folder opened and checked): before
/// that, an interruption has nothing to save (the CLI's Ctrl-C handler then exits at once, even
/// when the process is blocked opening the corpus).
pub fn loop_started() -> bool {
    LOOP_STARTED.load(Ordering::SeqCst)
}

static LOOP_STARTED: AtomicBool = AtomicBool::new(false);

fn run_loop<B: AutodiffBackend, O: Optimizer<CharLm<B>, B>>(
    config: &RunConfig,
    options: &TrainOptions,
    devices: &[B::Device],
    optim: O,
) -> Result<TrainSummary, TrainError> {
    let budget_started = Instant::now();
    let mut effective = config.clone();
    if options.resume && effective.train.steps.is_none() && effective.train.epochs.is_none() {
        // A run with a time budget resumes to the steps its calibration fixed, which the run's
        // effective config records.
        if let Ok(saved) = crate::app::run::read_config(&options.run) {
            effective.train.steps = saved.train.steps;
        }
    }
    let mut session = session::open(&effective, options, &devices[0], optim)?;
    LOOP_STARTED.store(true, Ordering::SeqCst);
    let calibration = match (session.total, effective.train.time_budget) {
        (Some(_), _) => None,
        (None, budget) => {
            let budget = budget.expect("validated: steps, epochs or a time budget");
            let c = budget::calibrate(
                &effective,
                &options.run,
                &session,
                devices,
                budget,
                budget_started,
            )?;
            effective.train.steps = Some(session.start + c.steps);
            session.total = effective.train.steps;
            let path = options.run.config_path();
            crate::app::checkpoint::write_atomic(&path, effective.to_toml().as_bytes())?;
            Some(c)
        }
    };
    let config = &effective;
    let start = session.start;
    let total = session.total.expect("steps known or calibrated");
    let (mut t, mut model, mut optim) = Trainer::new(config, options, session, calibration);
    let (batch, seq) = (config.data.batch_size, config.data.seq_len);
    let (clip, dropout) = (&config.clip, config.model.dropout > 0.0);
    for step in start..total {
        // Learning rate and randomness of this step; its batch and the state carried into it.
        let lr = config.learning_rate(step, total);
        seed_step::<B>(devices, config.seed, step);
        let (b, state) = t.batch(step);
        // Forward, backward, clip, update.
        let (loss, next, mut grads) = step::forward_backward(&model, &b, state, devices, dropout);
        t.carry_over(next);
        clip_gradients::<B, _>(&model, &mut grads, clip.max_norm, clip.max_value);
        model = optim.step(lr, model, grads);
        t.window.add(loss, batch * seq);
        // Log; evaluate, sample and checkpoint when due.
        let done = step + 1;
        let due = Due::after(done, total, config, options);
        if due.log {
            t.log(done, lr, &due, &model, &optim)
                .map_err(|e| e.noting_checkpoint(&options.run))?;
        }
        if due.interrupted && done < total {
            return Err(TrainError::Interrupted {
                step: done,
                run: options.run.checkpoint_dir("last").display().to_string(),
            });
        }
        if due.stop {
            t.reporter.println(&format!(
                "stopped after step {done} (--stop-after); --resume continues"
            ));
            break;
        }
    }
    t.finish(&model)
}

/// What the loop carries from step to step besides the model and the optimiser.
struct Trainer<'a, B: AutodiffBackend> {
    config: &'a RunConfig,
    options: &'a TrainOptions,
    corpus: crate::data::Corpus,
    batcher: crate::data::ContiguousBatcher,
    total: usize,
    best: Option<f64>,
    last_val: f64,
    /// The hidden state carried into the next batch (contiguous batching).
    carry: Option<RecurrentState<B>>,
    window: LossWindow<B::InnerBackend>,
    reporter: Reporter,
    train_losses: Vec<(usize, f64)>,
    elapsed_before: f64,
    started: Instant,
    start: usize,
    /// The hold on the run folder, until training ends (however it ends).
    _lock: crate::app::checkpoint::RunLock,
}

impl<'a, B: AutodiffBackend> Trainer<'a, B> {
    /// Takes over an opened session, and prints what is about to be trained.
    fn new<O>(
        config: &'a RunConfig,
        options: &'a TrainOptions,
        s: Session<B, O>,
        calibration: Option<budget::Calibration>,
    ) -> (Self, CharLm<B>, O) {
        let total = s.total.expect("steps known or calibrated");
        let reporter = Reporter::new(options.progress, s.start, total);
        let m = &config.model;
        let epochs = total as f64 / s.batcher.per_epoch() as f64;
        reporter.println(&format!(
            "model: {} {}x{}, embedding {}, vocabulary {}, {} parameters; {} steps ({epochs:.2} epochs of {} batches)",
            m.cell,
            m.num_layers,
            m.hidden_size,
            m.embedding_size,
            s.corpus.vocab.len(),
            s.model.num_params(),
            total,
            s.batcher.per_epoch()
        ));
        if let (Some(c), Some(budget)) = (calibration, config.train.time_budget) {
            reporter.println(&format!(
                "time budget {budget}: {} steps fit ({} per step, {} per evaluation every {} steps, {} per checkpoint every {}; calibrated in {:.1} s); train.steps = {total} is recorded in {}",
                c.steps,
                progress::format_duration(c.step_secs),
                progress::format_duration(c.eval_secs),
                config.train.eval_interval,
                progress::format_duration(c.checkpoint_secs),
                config.checkpoint_interval(),
                c.secs,
                options.run.config_path().display()
            ));
        }
        if options.resume && s.start < total {
            let start = s.start;
            reporter.println(&format!(
                "resuming from the checkpoint at step {start} of {total}"
            ));
        }
        if s.start >= total {
            reporter.println(&format!("run already complete at step {}", s.start));
        }
        let trainer = Self {
            config,
            options,
            window: LossWindow::new(s.corpus.vocab.len()),
            corpus: s.corpus,
            batcher: s.batcher,
            total,
            best: s.best,
            last_val: f64::NAN,
            carry: s.carry,
            reporter,
            train_losses: Vec::new(),
            elapsed_before: s.elapsed_before,
            started: Instant::now(),
            start: s.start,
            _lock: s.lock,
        };
        (trainer, s.model, s.optim)
    }

    /// Training seconds of the whole run so far.
    fn elapsed(&self) -> f64 {
        self.elapsed_before + self.started.elapsed().as_secs_f64()
    }

    /// The batch of `step`, and the hidden state carried into it.
    fn batch(&mut self, step: usize) -> (Batch, Option<RecurrentState<B>>) {
        let b = batch_at(self.config, &self.batcher, &self.corpus.train, step);
        let carried = self.config.data.batching == Batching::Contiguous
            && !step.is_multiple_of(self.batcher.per_epoch());
        (b, if carried { self.carry.take() } else { None })
    }

    /// Keeps the state after a batch for the next one (contiguous batching).
    fn carry_over(&mut self, next: RecurrentState<B>) {
        if self.config.data.batching == Batching::Contiguous {
            self.carry = Some(next.detach());
        }
    }

    /// The log line of step `done`, with the evaluation and checkpoints that are due.
    fn log<O: Optimizer<CharLm<B>, B>>(
        &mut self,
        done: usize,
        lr: f64,
        due: &Due,
        model: &CharLm<B>,
        optim: &O,
    ) -> Result<(), TrainError> {
        let mean = self.window.take(done)?;
        self.train_losses.push((done, mean.loss));
        let improved = if due.eval {
            self.evaluate(done, mean.loss, model)?
        } else {
            false
        };
        let val_cols = if due.eval {
            let v = self.last_val;
            format!("{v:.6},{:.6}", v / std::f64::consts::LN_2)
        } else {
            ",".to_string()
        };
        let row = format!(
            "{done},{:.6},{val_cols},{lr:.6e},{:.1},{:.2}\n",
            mean.loss,
            mean.tokens_per_sec,
            self.elapsed()
        );
        history::append(&self.options.run.metrics_path(), &row)?;
        self.checkpoint(done, due, improved, model, optim)?;
        let (batch, seq) = (self.config.data.batch_size, self.config.data.seq_len);
        let eta = (self.total - done) as f64 * (batch * seq) as f64 / mean.tokens_per_sec.max(1e-9);
        let val = if self.last_val.is_finite() {
            format!(" | val {:.4}", self.last_val)
        } else {
            String::new()
        };
        let budget = match self.config.train.time_budget {
            Some(b) => format!(" | budget {b}"),
            None => String::new(),
        };
        let message = format!(
            "loss {:.4}{val} | lr {lr:.2e} | {:.0} tok/s{budget}",
            mean.loss, mean.tokens_per_sec
        );
        self.reporter.update(done, self.total, &message, eta);
        Ok(())
    }

    /// The validation loss, a sample, and the line that reports them; whether the loss is the
    /// best so far.
    fn evaluate(
        &mut self,
        done: usize,
        train_loss: f64,
        model: &CharLm<B>,
    ) -> Result<bool, TrainError> {
        let (batch, seq) = (self.config.data.batch_size, self.config.data.seq_len);
        let valid_model = model.valid();
        let valid = &self.corpus.valid;
        let val = evaluate(
            &valid_model,
            valid,
            batch,
            seq,
            self.config.train.eval_batches,
        )?;
        self.last_val = val;
        let improved = self.best.is_none_or(|b| val < b);
        if improved {
            self.best = Some(val);
        }
        if self.config.train.sample_length > 0 {
            let text = sample_text(self.config, &valid_model, &self.corpus.vocab, done)?;
            let block = format!("{}{text}\n\n", sample_heading(done, val));
            history::append(&self.options.run.samples_path(), &block)?;
        }
        self.reporter.println(&format!(
            "step {done}/{}: train loss {train_loss:.4}, validation loss {val:.4} ({:.3} bits/char){}",
            self.total,
            val / std::f64::consts::LN_2,
            if improved { ", best so far" } else { "" }
        ));
        Ok(improved)
    }

    /// Saves `last` when due (never a model whose weights stopped being numbers), then `best`
    /// when the validation loss improved.
    fn checkpoint<O: Optimizer<CharLm<B>, B>>(
        &self,
        done: usize,
        due: &Due,
        improved: bool,
        model: &CharLm<B>,
        optim: &O,
    ) -> Result<(), TrainError> {
        let state_at = |val_loss| TrainState {
            step: done,
            total_steps: self.total,
            best_val_loss: self.best,
            val_loss,
            elapsed_secs: self.elapsed(),
            seed: self.config.seed,
            files: Default::default(),
            vocab: Some(self.corpus.vocab.fingerprint()),
            corpus: Some(self.corpus.fingerprint),
        };
        let run = &self.options.run;
        if due.checkpoint {
            if !weights_finite(model) {
                return Err(TrainError::Diverged {
                    what: "the weights became NaN or infinite".into(),
                    step: done,
                    kept: run.has_checkpoint("last"),
                });
            }
            let state = state_at(due.eval.then_some(self.last_val));
            save::save_last(run, &state, model, optim, self.carry.as_ref())?;
        }
        // After `last`, so that a crash in between never lets a resumed run overwrite `best`
        // with a worse model (`last` already records the new best loss).
        if improved {
            save::save_best(run, &state_at(Some(self.last_val)), model)?;
        }
        Ok(())
    }

    /// The summary of the run, after the loss curve is drawn.
    fn finish(mut self, model: &CharLm<B>) -> Result<TrainSummary, TrainError> {
        let (batch, seq) = (self.config.data.batch_size, self.config.data.seq_len);
        if self.start >= self.total {
            let valid = &self.corpus.valid;
            let eval_batches = self.config.train.eval_batches;
            self.last_val = evaluate(&model.valid(), valid, batch, seq, eval_batches)?;
        }
        let run = &self.options.run;
        let (train_series, valid_series) = history::read_metrics(run);
        let title = format!("{} — {}", run.root().display(), self.config.model.cell);
        if let Err(e) = crate::app::plot::loss_curve(
            &run.plot_path(),
            &title,
            "loss (nats/char)",
            &train_series,
            &valid_series,
        ) {
            let _ = writeln!(
                std::io::stderr(),
                "warning: could not draw {}: {e}",
                run.plot_path().display()
            );
        }
        Ok(TrainSummary {
            steps: self
                .options
                .stop_after
                .map_or(self.total, |s| s.min(self.total)),
            val_loss: self.last_val,
            best_val_loss: self.best.unwrap_or(self.last_val),
            elapsed_secs: self.elapsed(),
            train_losses: self.train_losses,
        })
    }
}

/// The batch of `step`: the next slice of the contiguous streams, or random windows drawn from
/// `(seed, step)`.
fn batch_at(
    config: &RunConfig,
    batcher: &crate::data::ContiguousBatcher,
    train: &[u16],
    step: usize,
) -> Batch {
    match config.data.batching {
        Batching::Contiguous => batcher.get(train, step % batcher.per_epoch()),
        Batching::Random => {
            let (batch, seq) = (config.data.batch_size, config.data.seq_len);
            random_batch(train, batch, seq, config.seed, step as u64)
        }
    }
}

/// Seeds Burn's generator for step `step` (the dropout masks): the same on every run of the
/// same config, resumed or not. Other GPUs draw their own masks, with a seed of their own.
fn seed_step<B: AutodiffBackend>(devices: &[B::Device], seed: u64, step: usize) {
    let step_seed = seed.wrapping_add(step as u64 + 1);
    B::seed(&devices[0], step_seed);
    for (i, d) in devices.iter().enumerate().skip(1) {
        if d != &devices[0] {
            B::seed(d, step_seed ^ ((i as u64) << 48));
        }
    }
}

/// The text sampled at an evaluation of step `done`, seeded by the run's seed and the step.
fn sample_text<B: burn::tensor::backend::Backend>(
    config: &RunConfig,
    model: &CharLm<B>,
    vocab: &crate::data::Vocab,
    done: usize,
) -> Result<String, CorpusError> {
    let options = SamplingOptions {
        temperature: config.train.sample_temperature,
        ..Default::default()
    };
    let mut sampler = Sampler::new(options, config.seed.wrapping_add(done as u64));
    generate(
        model,
        vocab,
        "",
        config.train.sample_length,
        &mut sampler,
        |_| {},
    )
}
