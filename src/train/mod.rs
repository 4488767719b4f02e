//! Training of the character-level language model, the loop in nanoGPT's order: set the
//! learning rate, take a batch, step, log, then evaluate, sample and checkpoint when due.
//!
//! Everything random derives from `(seed, step)`: the batches, the dropout masks (the backend is
//! re-seeded every step) and the samples, so a resumed run gives the same losses as one that was
//! never interrupted.
//!
//! - [`session`]: the checks before the run folder is touched, then a fresh or restored start;
//! - [`step`]: one step's forward and backward, on one device or data-parallel;
//! - [`monitor`]: the loss window and the stop rules; [`progress`]: the bar or log lines;
//! - [`resume`]: what a resumed run must keep, and the restore; [`save`]: the checkpoints.

mod monitor;
mod progress;
mod resume;
mod save;
mod session;
mod step;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::module::Module;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, AdamWConfig, Optimizer, RmsPropConfig};
use burn::tensor::backend::AutodiffBackend;

pub use progress::Progress;
pub use step::batch_shares;

use crate::checkpoint::history::{self, sample_heading};
use crate::checkpoint::{CheckpointError, RunDir, TrainState};
use crate::config::{OptimizerKind, RunConfig};
use crate::data::{Batch, Batching, CorpusError, random_batch};
use crate::eval::{EvalError, evaluate};
use crate::layer::RecurrentState;
use crate::model::CharLm;
use crate::run::RunError;
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
        "{what} at step {step}; stopped (the last checkpoint is kept). Try a lower optim.learning_rate or clip.max_norm"
    )]
    Diverged {
        /// What happened.
        what: String,
        /// The step.
        step: usize,
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
/// sleep: on two cores the char-rnn step took 25% longer that way (`bench` M, 175k against 220k
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
    if devices.len() > 1 {
        return with_optimiser::<B>(config, options, devices);
    }
    rayon::scope(|_| with_optimiser::<B>(config, options, devices))
}

/// Builds the config's optimiser and runs the loop with it.
fn with_optimiser<B: AutodiffBackend>(
    config: &RunConfig,
    options: &TrainOptions,
    devices: &[B::Device],
) -> Result<TrainSummary, TrainError> {
    let o = &config.optim;
    let decay = (o.weight_decay > 0.0).then(|| WeightDecayConfig::new(o.weight_decay as f32));
    match o.optimizer {
        OptimizerKind::Adam => {
            let optim = AdamConfig::new().with_weight_decay(decay);
            run_loop(config, options, devices, optim.init::<B, CharLm<B>>())
        }
        OptimizerKind::Adamw => {
            let optim = AdamWConfig::new().with_weight_decay(o.weight_decay as f32);
            run_loop(config, options, devices, optim.init::<B, CharLm<B>>())
        }
        OptimizerKind::Rmsprop => {
            let optim = RmsPropConfig::new().with_weight_decay(decay);
            run_loop(config, options, devices, optim.init::<B, CharLm<B>>())
        }
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

fn run_loop<B: AutodiffBackend, O: Optimizer<CharLm<B>, B>>(
    config: &RunConfig,
    options: &TrainOptions,
    devices: &[B::Device],
    optim: O,
) -> Result<TrainSummary, TrainError> {
    let device = &devices[0];
    let run = &options.run;
    let Session {
        corpus,
        batcher,
        total,
        mut model,
        mut optim,
        start,
        mut best,
        elapsed_before,
        mut carry,
    } = session::open(config, options, device, optim)?;
    let (batch, seq) = (config.data.batch_size, config.data.seq_len);
    let validate = |m: &CharLm<B::InnerBackend>| {
        evaluate(m, &corpus.valid, batch, seq, config.train.eval_batches)
    };
    let reporter = Reporter::new(options.progress, start, total);
    reporter.println(&format!(
        "model: {} {}x{}, embedding {}, vocabulary {}, {} parameters; {total} steps ({:.2} epochs of {} batches)",
        config.model.cell,
        config.model.num_layers,
        config.model.hidden_size,
        config.model.embedding_size,
        corpus.vocab.len(),
        model.num_params(),
        total as f64 / batcher.per_epoch() as f64,
        batcher.per_epoch()
    ));
    if options.resume && start < total {
        reporter.println(&format!(
            "resuming from the checkpoint at step {start} of {total}"
        ));
    }
    if start >= total {
        reporter.println(&format!("run already complete at step {start}"));
    }

    let session_start = Instant::now();
    let elapsed = || elapsed_before + session_start.elapsed().as_secs_f64();
    let mut train_losses = Vec::new();
    let mut last_val = f64::NAN;
    let mut window = LossWindow::<B::InnerBackend>::new(corpus.vocab.len());
    for step in start..total {
        // Learning rate and randomness of this step.
        let lr = config.learning_rate(step, total);
        seed_step::<B>(devices, config.seed, step);
        // The batch, and the hidden state carried into it (contiguous batching).
        let (b, state): (Batch, Option<RecurrentState<B>>) = match config.data.batching {
            Batching::Contiguous => {
                let k = step % batcher.per_epoch();
                let state = if k == 0 { None } else { carry.take() };
                (batcher.get(&corpus.train, k), state)
            }
            Batching::Random => (
                random_batch(&corpus.train, batch, seq, config.seed, step as u64),
                None,
            ),
        };
        // Forward, backward, clip, update.
        let dropout = config.model.dropout > 0.0;
        let (loss, next, mut grads) = step::forward_backward(&model, &b, state, devices, dropout);
        if config.data.batching == Batching::Contiguous {
            carry = Some(next.detach());
        }
        let clip = &config.clip;
        clip_gradients::<B, _>(&model, &mut grads, clip.max_norm, clip.max_value);
        model = optim.step(lr, model, grads);
        window.add(loss, batch * seq);

        // Log; evaluate, sample and checkpoint when due.
        let done = step + 1;
        let due = Due::after(done, total, config, options);
        if due.log {
            let mean = window.take(done)?;
            train_losses.push((done, mean.loss));
            let mut improved = false;
            let mut val_cols = ",".to_string();
            if due.eval {
                let valid_model = model.valid();
                last_val = validate(&valid_model)?;
                val_cols = format!("{last_val:.6},{:.6}", last_val / std::f64::consts::LN_2);
                improved = best.is_none_or(|b| last_val < b);
                if improved {
                    best = Some(last_val);
                }
                if config.train.sample_length > 0 {
                    let text = sample_text(config, &valid_model, &corpus.vocab, done)?;
                    let block = format!("{}{text}\n\n", sample_heading(done, last_val));
                    history::append(&run.samples_path(), &block)?;
                }
                reporter.println(&format!(
                    "step {done}/{total}: train loss {:.4}, validation loss {last_val:.4} ({:.3} bits/char){}",
                    mean.loss,
                    last_val / std::f64::consts::LN_2,
                    if improved { ", best so far" } else { "" }
                ));
            }
            let row = format!(
                "{done},{:.6},{val_cols},{lr:.6e},{:.1},{:.2}\n",
                mean.loss,
                mean.tokens_per_sec,
                elapsed()
            );
            history::append(&run.metrics_path(), &row)?;
            let state_at = |val_loss| TrainState {
                step: done,
                total_steps: total,
                best_val_loss: best,
                val_loss,
                elapsed_secs: elapsed(),
                seed: config.seed,
                files: Default::default(),
            };
            if due.checkpoint {
                // A step that turned the weights into NaN is never saved.
                if !weights_finite(&model) {
                    return Err(TrainError::Diverged {
                        what: "the weights became NaN or infinite".into(),
                        step: done,
                    });
                }
                let state = state_at(due.eval.then_some(last_val));
                save::save_last(run, &state, &model, &optim, carry.as_ref())?;
            }
            // After `last`, so that a crash in between never lets a resumed run overwrite
            // `best` with a worse model (`last` already records the new best loss).
            if improved {
                save::save_best(run, &state_at(Some(last_val)), &model)?;
            }
            let eta = (total - done) as f64 * (batch * seq) as f64 / mean.tokens_per_sec.max(1e-9);
            let val = if last_val.is_finite() {
                format!(" | val {last_val:.4}")
            } else {
                String::new()
            };
            let message = format!(
                "loss {:.4}{val} | lr {lr:.2e} | {:.0} tok/s",
                mean.loss, mean.tokens_per_sec
            );
            reporter.update(done, total, &message, eta);
        }
        if due.interrupted && done < total {
            return Err(TrainError::Interrupted {
                step: done,
                run: run.checkpoint_dir("last").display().to_string(),
            });
        }
        if due.stop {
            reporter.println(&format!(
                "stopped after step {done} (--stop-after); --resume continues"
            ));
            break;
        }
    }
    drop(reporter);

    if start >= total {
        last_val = validate(&model.valid())?;
    }
    let (train_series, valid_series) = history::read_metrics(run);
    if let Err(e) = crate::plot::loss_curve(
        &run.plot_path(),
        &format!("{} — {}", run.root().display(), config.model.cell),
        &train_series,
        &valid_series,
    ) {
        eprintln!("warning: could not draw {}: {e}", run.plot_path().display());
    }
    Ok(TrainSummary {
        steps: options.stop_after.map_or(total, |s| s.min(total)),
        val_loss: last_val,
        best_val_loss: best.unwrap_or(last_val),
        elapsed_secs: elapsed(),
        train_losses,
    })
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
