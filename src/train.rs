//! Training of the character-level language model: one loop in a fixed order (learning rate,
//! step, log, evaluate + sample + checkpoint), global-norm clipping, schedules, metrics, resume.
//!
//! Everything random derives from `(seed, step)`: the batches, the dropout masks (the backend is
//! re-seeded every step) and the samples, so a resumed run gives the same losses as one that was
//! never interrupted.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::module::{AutodiffModule, Module, ModuleVisitor, Param};
use burn::optim::{
    AdamConfig, AdamWConfig, GradientsAccumulator, GradientsParams, Optimizer, RmsPropConfig,
    decay::WeightDecayConfig,
};
use burn::record::{BinBytesRecorder, FullPrecisionSettings, Record, Recorder};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{DType, Int, Tensor, TensorData};
use indicatif::{ProgressBar, ProgressStyle};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use crate::checkpoint::{CheckpointError, RunDir, TrainState, write_atomic};
use crate::config::{OptimizerKind, RunConfig};
use crate::data::{Batch, Batching, ContiguousBatcher, Corpus, CorpusError, Vocab, random_batch};
use crate::layer::{RecurrentConfig, RecurrentState};
use crate::model::{CharLm, CharLmConfig};
use crate::sample::{Sampler, SamplingOptions, generate};

/// Why training (or loading a run) failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The corpus.
    #[error(transparent)]
    Corpus(#[from] CorpusError),
    /// The run folder or a checkpoint.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
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
    /// Anything else, said in words.
    #[error("{0}")]
    Other(String),
}

/// How training reports progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// A live progress bar on a terminal, plain lines otherwise.
    Auto,
    /// Plain log lines.
    Lines,
    /// Nothing.
    Quiet,
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

/// The model config of a run.
pub fn model_config(config: &RunConfig, vocab_size: usize) -> CharLmConfig {
    let m = &config.model;
    let recurrent = RecurrentConfig::new(m.cell, m.embedding_size, m.hidden_size)
        .with_num_layers(m.num_layers)
        .with_dropout(m.dropout)
        .with_activation(m.activation)
        .with_fused(config.backend.fused)
        .with_init(
            crate::cell::Initialization::new()
                .with_scheme(m.init)
                .with_orthogonal_recurrent(m.orthogonal_recurrent)
                .with_forget_bias(m.forget_bias),
        );
    CharLmConfig::new(vocab_size, m.embedding_size, recurrent).with_dropout(m.dropout)
}

fn recorder() -> BinBytesRecorder<FullPrecisionSettings> {
    BinBytesRecorder::default()
}

/// Serialises a model's weights.
pub fn model_bytes<B: Backend>(model: &CharLm<B>) -> Vec<u8> {
    Recorder::<B>::record(&recorder(), model.clone().into_record(), ()).expect("record a model")
}

/// A trained run, ready to sample or evaluate.
pub struct LoadedRun<B: Backend> {
    /// The effective config.
    pub config: RunConfig,
    /// The vocabulary.
    pub vocab: Vocab,
    /// The model.
    pub model: CharLm<B>,
    /// The checkpoint's state.
    pub state: TrainState,
}

/// Loads checkpoint `which` (`last` or `best`) of a run folder.
pub fn load_run<B: Backend>(
    run: &RunDir,
    which: &str,
    device: &B::Device,
) -> Result<LoadedRun<B>, TrainError> {
    let other = |m: String| TrainError::Other(m);
    if !run.root().is_dir() {
        return Err(other(format!(
            "run folder {} does not exist",
            run.root().display()
        )));
    }
    let config_path = run.config_path();
    let text = std::fs::read_to_string(&config_path).map_err(|source| CheckpointError::Io {
        path: config_path.clone(),
        source,
    })?;
    let config = RunConfig::parse(&text, &config_path.display().to_string(), &[])
        .map_err(|e| other(e.to_string()))?;
    let vocab_path = run.vocab_path();
    let vocab_text =
        std::fs::read_to_string(&vocab_path).map_err(|source| CheckpointError::Io {
            path: vocab_path.clone(),
            source,
        })?;
    let vocab = Vocab::from_json(&vocab_text)
        .map_err(|e| other(format!("{}: {e}", vocab_path.display())))?;
    if !run.has_checkpoint(which) && !run.checkpoint_dir(&format!("{which}.old")).is_dir() {
        return Err(other(format!(
            "run {} has no `{which}` checkpoint yet (expected {})",
            run.root().display(),
            run.checkpoint_dir(which).display()
        )));
    }
    let (state, files) = run.load_checkpoint(which)?;
    let model = model_config(&config, vocab.len()).init::<B>(device);
    let model = load_model_bytes(model, &files, &run.checkpoint_dir(which), device)?;
    Ok(LoadedRun {
        config,
        vocab,
        model,
        state,
    })
}

/// Decodes the record `name` of a checkpoint's `files` (from folder `dir`); `what` names it in
/// the error.
fn load_record<B: Backend, R: Record<B>>(
    files: &BTreeMap<String, Vec<u8>>,
    dir: &std::path::Path,
    name: &str,
    what: &str,
    device: &B::Device,
) -> Result<R, CheckpointError> {
    let bytes = files.get(name).ok_or_else(|| CheckpointError::Invalid {
        path: dir.to_path_buf(),
        message: format!("no {name}"),
    })?;
    Recorder::<B>::load(&recorder(), bytes.clone(), device).map_err(|e| CheckpointError::Invalid {
        path: dir.join(name),
        message: format!("cannot decode the {what}: {e}"),
    })
}

fn load_model_bytes<B: Backend>(
    model: CharLm<B>,
    files: &BTreeMap<String, Vec<u8>>,
    dir: &std::path::Path,
    device: &B::Device,
) -> Result<CharLm<B>, TrainError> {
    // Burn's load_record takes whatever shapes the record holds; compare them with the model the
    // config and vocabulary describe, so a mismatched checkpoint is refused, not run.
    let expected = param_shapes(&model);
    let record = load_record(files, dir, "model.bin", "model", device)?;
    // Burn's load_record panics when the record's structure differs (another number of layers,
    // another cell): catch that, silently, and report it as a checkpoint of another model.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let loaded =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| model.load_record(record)));
    std::panic::set_hook(hook);
    let model = loaded.map_err(|_| CheckpointError::Invalid {
        path: dir.join("model.bin"),
        message: "its layers do not match the run's config.toml (model.cell or model.num_layers differ); the checkpoint belongs to another model".into(),
    })?;
    let found = param_shapes(&model);
    for ((name, want), (_, got)) in expected.iter().zip(&found) {
        if want != got {
            return Err(CheckpointError::Invalid {
                path: dir.join("model.bin"),
                message: format!(
                    "parameter `{name}` has shape {got:?}, but the run's config.toml and vocab.json describe {want:?}; the checkpoint belongs to another model"
                ),
            }
            .into());
        }
    }
    if expected.len() != found.len() {
        return Err(CheckpointError::Invalid {
            path: dir.join("model.bin"),
            message: format!(
                "{} parameters, but the run's config describes {}",
                found.len(),
                expected.len()
            ),
        }
        .into());
    }
    Ok(model)
}

/// Whether every weight of the model is finite (read at checkpoint steps only, so that a step
/// that turned the weights into NaN is never saved).
fn weights_finite<B: Backend, M: Module<B>>(module: &M) -> bool {
    struct Finite<B: Backend> {
        max: Vec<Tensor<B, 1>>,
    }
    impl<B: Backend> ModuleVisitor<B> for Finite<B> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            self.max.push(param.val().abs().max());
        }
    }
    let mut v = Finite { max: Vec::new() };
    module.visit(&mut v);
    if v.max.is_empty() {
        return true;
    }
    scalar(Tensor::cat(v.max, 0).max()).is_finite()
}

/// Every float parameter of a module as `(path, shape)`, in visiting order.
fn param_shapes<B: Backend, M: Module<B>>(module: &M) -> Vec<(String, Vec<usize>)> {
    struct Shapes {
        path: Vec<String>,
        out: Vec<(String, Vec<usize>)>,
    }
    impl<B: Backend> ModuleVisitor<B> for Shapes {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            self.out
                .push((self.path.join("."), param.lazy_shape().to_vec()));
        }
    }
    let mut v = Shapes {
        path: Vec::new(),
        out: Vec::new(),
    };
    module.visit(&mut v);
    v.out
}

/// Global gradient norm: the sum of squares of every gradient, on the device.
struct SquaredNorm<'a, B: AutodiffBackend> {
    grads: &'a GradientsParams,
    total: Option<Tensor<B::InnerBackend, 1>>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for SquaredNorm<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.get::<B::InnerBackend, D>(param.id) {
            let s = (g.clone() * g).sum();
            self.total = Some(match self.total.take() {
                Some(t) => t + s,
                None => s,
            });
        }
    }
}

/// Multiplies every gradient by `factor` (global-norm clipping) and clamps it to `max_value`.
struct ClipGrads<'a, B: AutodiffBackend> {
    grads: &'a mut GradientsParams,
    factor: Option<Tensor<B::InnerBackend, 1>>,
    max_value: f64,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for ClipGrads<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(mut g) = self.grads.remove::<B::InnerBackend, D>(param.id) {
            if let Some(f) = &self.factor {
                g = g * f.clone().reshape([1; D]);
            }
            if self.max_value > 0.0 {
                g = g.clamp(-self.max_value, self.max_value);
            }
            self.grads.register::<B::InnerBackend, D>(param.id, g);
        }
    }
}

/// Clips like PyTorch: `clip_grad_norm_(max_norm)` (scale by `max_norm / (norm + 1e-6)` when the
/// global norm exceeds it), then `clamp(-max_value, max_value)`; no value is read to the host.
pub fn clip_gradients<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    grads: &mut GradientsParams,
    max_norm: f64,
    max_value: f64,
) {
    let factor = if max_norm > 0.0 {
        let mut norm = SquaredNorm::<B> { grads, total: None };
        model.visit(&mut norm);
        norm.total.map(|sq| {
            let norm = sq.sqrt().add_scalar(1e-6);
            norm.recip().mul_scalar(max_norm).clamp_max(1.0)
        })
    } else {
        None
    };
    if factor.is_none() && max_value <= 0.0 {
        return;
    }
    model.visit(&mut ClipGrads::<B> {
        grads,
        factor,
        max_value,
    });
}

/// Ids `[batch * seq]` (row-major) as an Int tensor `[batch, seq]`.
pub(crate) fn ids_tensor<B: Backend>(
    ids: &[i64],
    batch: usize,
    seq: usize,
    device: &B::Device,
) -> Tensor<B, 2, Int> {
    Tensor::from_data(TensorData::new(ids.to_vec(), [batch, seq]), device)
}

/// Mean validation loss (nats/char) over non-overlapping windows of `seq` characters of `ids`,
/// each from a zero state (as nanoGPT and the PyTorch reference score), at most `max_batches`
/// batches of `batch` windows (0: all).
pub fn evaluate<B: Backend>(
    model: &CharLm<B>,
    ids: &[u16],
    batch: usize,
    seq: usize,
    max_batches: usize,
) -> Result<f64, TrainError> {
    let rows = batch.min(ids.len().saturating_sub(1) / seq);
    let batcher = ContiguousBatcher::new(ids.len(), rows.max(1), seq).ok_or_else(|| {
        TrainError::Other(format!(
            "the evaluation text has {} characters, fewer than data.seq_len + 1 = {}",
            ids.len(),
            seq + 1
        ))
    })?;
    let n = if max_batches == 0 {
        batcher.per_epoch()
    } else {
        batcher.per_epoch().min(max_batches)
    };
    let device = model.embedding.weight.device();
    let mut total: Option<Tensor<B, 1>> = None;
    for k in 0..n {
        let b = batcher.get(ids, k);
        let (logits, _) = model.forward(ids_tensor(&b.inputs, b.batch, b.seq, &device), None);
        let loss = model.loss(logits, ids_tensor(&b.targets, b.batch, b.seq, &device));
        total = Some(match total {
            Some(t) => t + loss,
            None => loss,
        });
    }
    let total = scalar(total.expect("at least one batch"));
    Ok(total / n as f64)
}

/// Reads a one-element tensor to the host.
pub(crate) fn scalar<B: Backend>(t: Tensor<B, 1>) -> f64 {
    t.into_data().convert::<f64>().to_vec::<f64>().expect("f64")[0]
}

/// Saves a recurrent state (`[L, B, H]` hidden and cell) as safetensors, f32.
fn state_bytes<B: Backend>(state: &RecurrentState<B>) -> Vec<u8> {
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    let mut push = |name: &str, t: Tensor<B, 3>| {
        let shape = t.dims().to_vec();
        let values = t.into_data().convert::<f32>().to_vec::<f32>().expect("f32");
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        tensors.push((name.to_string(), shape, bytes));
    };
    push("hidden", state.hidden());
    if let Some(c) = state.cell() {
        push("cell", c);
    }
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, s, b)| {
            (
                n.clone(),
                TensorView::new(Dtype::F32, s.clone(), b).expect("view"),
            )
        })
        .collect();
    safetensors::serialize(views, None).expect("serialise state")
}

fn state_from_bytes<B: Backend>(bytes: &[u8], device: &B::Device) -> Option<RecurrentState<B>> {
    let file = SafeTensors::deserialize(bytes).ok()?;
    let read = |name: &str| -> Option<Tensor<B, 3>> {
        let view = file.tensor(name).ok()?;
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect();
        Some(Tensor::from_data(
            TensorData::new(values, view.shape().to_vec()),
            device,
        ))
    };
    Some(RecurrentState::from_tensors(read("hidden")?, read("cell")))
}

/// Trains the character-level language model of `config` into `options.run` on one device.
pub fn train<B: AutodiffBackend>(
    config: &RunConfig,
    options: &TrainOptions,
    device: &B::Device,
) -> Result<TrainSummary, TrainError> {
    train_on::<B>(config, options, std::slice::from_ref(device))
}

/// Trains data-parallel on `devices` (the first holds the model and the optimiser): every step,
/// each device runs a replica (Burn's `Module::fork`) on its share of the batch's rows, and the
/// gradients, each weighted by its share, are moved to the first device and summed by Burn's
/// `GradientsAccumulator` into the gradient of the whole batch; one optimiser step follows. One
/// device is exactly [`train`]. A device may be listed twice (two replicas of the CPU backend).
///
/// The loop runs on a thread of Rayon's pool, which the CPU kernels use. Run from outside it,
/// the loop's own serial work (the autodiff graph, the optimiser) would share the cores with the
/// pool's threads, which spin for a while after each parallel kernel before they sleep: on two
/// cores the char-rnn step took 25% longer that way (`bench` M, 175k against 220k tokens/s).
/// With several devices the loop stays on the caller's thread: the replicas' threads call into
/// the pool, and a pool thread blocked on them could leave a one-thread pool with no worker.
pub fn train_on<B: AutodiffBackend>(
    config: &RunConfig,
    options: &TrainOptions,
    devices: &[B::Device],
) -> Result<TrainSummary, TrainError> {
    if devices.len() > 1 {
        return train_on_this_thread::<B>(config, options, devices);
    }
    rayon::scope(|_| train_on_this_thread::<B>(config, options, devices))
}

/// [`train_on`] on the calling thread.
fn train_on_this_thread<B: AutodiffBackend>(
    config: &RunConfig,
    options: &TrainOptions,
    devices: &[B::Device],
) -> Result<TrainSummary, TrainError> {
    if devices.is_empty() {
        return Err(TrainError::Other("no device to train on".into()));
    }
    if devices.len() > config.data.batch_size {
        return Err(TrainError::Other(format!(
            "{} devices, but config key `data.batch_size` = {} gives each fewer than one row; use at most {} devices or a larger batch",
            devices.len(),
            config.data.batch_size,
            config.data.batch_size
        )));
    }
    let o = &config.optim;
    let decay = (o.weight_decay > 0.0).then(|| WeightDecayConfig::new(o.weight_decay as f32));
    match o.optimizer {
        OptimizerKind::Adam => {
            let optim = AdamConfig::new()
                .with_weight_decay(decay)
                .init::<B, CharLm<B>>();
            train_with(config, options, devices, optim)
        }
        OptimizerKind::Adamw => {
            let optim = AdamWConfig::new()
                .with_weight_decay(o.weight_decay as f32)
                .init::<B, CharLm<B>>();
            train_with(config, options, devices, optim)
        }
        OptimizerKind::Rmsprop => {
            let optim = RmsPropConfig::new()
                .with_weight_decay(decay)
                .init::<B, CharLm<B>>();
            train_with(config, options, devices, optim)
        }
    }
}

/// The progress display: a bar on a terminal, lines otherwise.
struct Reporter {
    bar: Option<ProgressBar>,
    lines: bool,
}

impl Reporter {
    fn new(progress: Progress, start: usize, total: usize) -> Self {
        let tty = std::io::stderr().is_terminal();
        let bar = (progress == Progress::Auto && tty).then(|| {
            let bar = ProgressBar::new(total as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30.cyan/blue} {pos}/{len} {msg} [{elapsed_precise} < {eta_precise}]",
                )
                .expect("template")
                .progress_chars("=> "),
            );
            bar.set_position(start as u64);
            bar
        });
        let lines = progress == Progress::Lines || (progress == Progress::Auto && !tty);
        Self { bar, lines }
    }

    fn update(&self, step: usize, total: usize, message: &str, eta_secs: f64) {
        if let Some(bar) = &self.bar {
            bar.set_position(step as u64);
            bar.set_message(message.to_string());
        } else if self.lines {
            println!(
                "step {step}/{total} | {message} | ETA {}",
                format_secs(eta_secs)
            );
        }
    }

    fn println(&self, line: &str) {
        if let Some(bar) = &self.bar {
            bar.println(line);
        } else if self.lines {
            println!("{line}");
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}

fn format_secs(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

const METRICS_HEADER: &str =
    "step,train_loss,val_loss,val_bpc,learning_rate,tokens_per_sec,elapsed_secs";

/// Removes a previous run's checkpoints, metrics and samples (`--force`).
fn clear_run(run: &RunDir) -> Result<(), CheckpointError> {
    let p = run.root().join("checkpoints");
    if p.exists() {
        std::fs::remove_dir_all(&p).map_err(|source| CheckpointError::Io { path: p, source })?;
    }
    let _ = std::fs::remove_file(run.metrics_path());
    let _ = std::fs::remove_file(run.samples_path());
    Ok(())
}

/// Writes the effective config and the vocabulary, and for a fresh run an empty metrics table
/// and samples file.
fn write_run_files(
    run: &RunDir,
    config: &RunConfig,
    vocab: &Vocab,
    fresh: bool,
) -> Result<(), CheckpointError> {
    if fresh {
        write_atomic(
            &run.metrics_path(),
            format!("{METRICS_HEADER}\n").as_bytes(),
        )?;
        write_atomic(&run.samples_path(), b"")?;
    }
    write_atomic(&run.config_path(), config.to_toml().as_bytes())?;
    write_atomic(&run.vocab_path(), vocab.to_json().as_bytes())
}

/// Keeps the metrics rows up to `step` (rows logged after the checkpoint of a killed run go).
fn truncate_metrics(run: &RunDir, step: usize) -> Result<(), CheckpointError> {
    let path = run.metrics_path();
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let mut kept = vec![METRICS_HEADER.to_string()];
    for line in text.lines().skip(1) {
        let row_step = line.split(',').next().and_then(|s| s.parse::<usize>().ok());
        if row_step.is_some_and(|s| s <= step) {
            kept.push(line.to_string());
        }
    }
    write_atomic(&path, (kept.join("\n") + "\n").as_bytes())
}

/// A loss series, `(step, loss)`.
pub type Series = Vec<(usize, f64)>;

/// Keeps the samples of steps up to `step` (those written after the checkpoint of a killed run go).
fn truncate_samples(run: &RunDir, step: usize) -> Result<(), CheckpointError> {
    let path = run.samples_path();
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let mut kept = String::new();
    for block in text.split("=== step ") {
        if block.is_empty() {
            continue;
        }
        let block_step = block
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|s| s.parse::<usize>().ok());
        if block_step.is_some_and(|s| s <= step) {
            kept.push_str("=== step ");
            kept.push_str(block);
        }
    }
    write_atomic(&path, kept.as_bytes())
}

/// Refuses to resume a run with a config whose model or batches differ from the run's own:
/// the weights, the optimiser state and the carried state would not fit.
fn check_resumable(run: &RunDir, config: &RunConfig) -> Result<(), TrainError> {
    let path = run.config_path();
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(());
    };
    let saved = RunConfig::parse(&text, &path.display().to_string(), &[])
        .map_err(|e| TrainError::Other(e.to_string()))?;
    let (m, s) = (&config.model, &saved.model);
    let same_model = [
        ("model.cell", m.cell.to_string(), s.cell.to_string()),
        (
            "model.activation",
            format!("{:?}", m.activation),
            format!("{:?}", s.activation),
        ),
        (
            "model.embedding_size",
            m.embedding_size.to_string(),
            s.embedding_size.to_string(),
        ),
        (
            "model.hidden_size",
            m.hidden_size.to_string(),
            s.hidden_size.to_string(),
        ),
        (
            "model.num_layers",
            m.num_layers.to_string(),
            s.num_layers.to_string(),
        ),
        (
            "data.batch_size",
            config.data.batch_size.to_string(),
            saved.data.batch_size.to_string(),
        ),
        (
            "data.seq_len",
            config.data.seq_len.to_string(),
            saved.data.seq_len.to_string(),
        ),
        (
            "optim.optimizer",
            format!("{:?}", config.optim.optimizer),
            format!("{:?}", saved.optim.optimizer),
        ),
    ];
    for (key, now, before) in same_model {
        if now != before {
            return Err(TrainError::Other(format!(
                "--resume: config key `{key}` is {now}, but the run in {} was trained with {before}; resume with the run's value or start over with --force",
                run.root().display()
            )));
        }
    }
    Ok(())
}

/// Reads the `(step, train_loss)` and `(step, val_loss)` series from `metrics.csv`.
pub fn read_metrics(run: &RunDir) -> (Series, Series) {
    let text = std::fs::read_to_string(run.metrics_path()).unwrap_or_default();
    let (mut train, mut valid) = (Vec::new(), Vec::new());
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        let Some(step) = cols.first().and_then(|s| s.parse::<usize>().ok()) else {
            continue;
        };
        if let Some(v) = cols.get(1).and_then(|s| s.parse::<f64>().ok()) {
            train.push((step, v));
        }
        if let Some(v) = cols.get(2).and_then(|s| s.parse::<f64>().ok()) {
            valid.push((step, v));
        }
    }
    (train, valid)
}

fn append(path: &std::path::Path, text: &str) -> Result<(), CheckpointError> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| CheckpointError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    file.write_all(text.as_bytes())
        .map_err(|source| CheckpointError::Io {
            path: path.to_path_buf(),
            source,
        })
}

fn train_with<B, O>(
    config: &RunConfig,
    options: &TrainOptions,
    devices: &[B::Device],
    mut optim: O,
) -> Result<TrainSummary, TrainError>
where
    B: AutodiffBackend,
    O: Optimizer<CharLm<B>, B>,
{
    let device = &devices[0];
    let run = &options.run;
    let other = |m: String| TrainError::Other(m);
    if run.holds_run() && !options.resume && !options.force {
        return Err(other(format!(
            "run folder {} already holds a run; pass --resume to continue it or --force to start over",
            run.root().display()
        )));
    }
    if options.resume && !run.has_checkpoint("last") && !run.checkpoint_dir("last.old").is_dir() {
        return Err(other(format!(
            "--resume: run folder {} has no checkpoint to resume (expected {})",
            run.root().display(),
            run.checkpoint_dir("last").display()
        )));
    }
    if options.resume {
        check_resumable(run, config)?;
    }
    // Data: on resume, the run's vocabulary.
    let vocab = if options.resume {
        let text =
            std::fs::read_to_string(run.vocab_path()).map_err(|source| CheckpointError::Io {
                path: run.vocab_path(),
                source,
            })?;
        Some(
            Vocab::from_json(&text)
                .map_err(|e| other(format!("{}: {e}", run.vocab_path().display())))?,
        )
    } else {
        None
    };
    let corpus = Corpus::load(&config.data.path, config.data.validation_fraction, vocab)?;
    let (batch, seq) = (config.data.batch_size, config.data.seq_len);
    let batcher = ContiguousBatcher::new(corpus.train.len(), batch, seq).ok_or_else(|| {
        other(format!(
            "config keys `data.batch_size` x `data.seq_len` = {batch} x {seq}: the training split of {} has {} characters, fewer than one batch needs ({})",
            config.data.path.display(),
            corpus.train.len(),
            batch * seq + 1
        ))
    })?;
    if corpus.valid.len() <= seq {
        return Err(other(format!(
            "config key `data.seq_len` = {seq}: the validation split of {} has {} characters, fewer than seq_len + 1",
            config.data.path.display(),
            corpus.valid.len()
        )));
    }
    let total = config.total_steps(batcher.per_epoch());

    // Only now, with the config and the data checked, is the run folder touched.
    if options.force && !options.resume {
        clear_run(run)?;
    }
    run.create()?;

    // Model, optimiser and state.
    B::seed(device, config.seed);
    let mut model = model_config(config, corpus.vocab.len()).init::<B>(device);
    let mut start = 0;
    let mut best: Option<f64> = None;
    let mut elapsed_before = 0.0;
    let mut carry: Option<RecurrentState<B>> = None;
    if options.resume {
        let (state, files) = run.load_checkpoint("last")?;
        let dir = run.checkpoint_dir("last");
        model = load_model_bytes(model, &files, &dir, device)?;
        let record = load_record(&files, &dir, "optim.bin", "optimiser state", device)?;
        optim = optim.load_record(record);
        carry = files
            .get("carry.safetensors")
            .and_then(|b| state_from_bytes::<B>(b, device));
        start = state.step;
        best = state.best_val_loss;
        elapsed_before = state.elapsed_secs;
        truncate_metrics(run, start)?;
        truncate_samples(run, start)?;
        if let Some(stop) = options.stop_after
            && stop <= start
        {
            return Err(other(format!(
                "--stop-after {stop}: the run is already at step {start}"
            )));
        }
    }
    write_run_files(run, config, &corpus.vocab, !options.resume)?;

    let validate = |m: &CharLm<B::InnerBackend>| {
        evaluate(m, &corpus.valid, batch, seq, config.train.eval_batches)
    };
    let reporter = Reporter::new(options.progress, start, total);
    let parameters = model.num_params();
    reporter.println(&format!(
        "model: {} {}x{}, embedding {}, vocabulary {}, {} parameters; {} steps ({:.2} epochs of {} batches)",
        config.model.cell,
        config.model.num_layers,
        config.model.hidden_size,
        config.model.embedding_size,
        corpus.vocab.len(),
        parameters,
        total,
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

    let mut train_losses = Vec::new();
    let mut last_val = f64::NAN;
    let mut loss_sum: Option<Tensor<B::InnerBackend, 1>> = None;
    let mut loss_count = 0usize;
    let session_start = Instant::now();
    let mut window_start = Instant::now();
    let mut window_tokens = 0usize;
    // char-rnn stops when the loss exceeds three times its start; a fresh model starts near
    // ln V (a uniform guess), which also serves a resumed run.
    let blow_up = 3.0 * (corpus.vocab.len() as f64).ln().max(1.0);
    for step in start..total {
        let lr = config.learning_rate(step, total);
        B::seed(device, config.seed.wrapping_add(step as u64 + 1));
        for (i, d) in devices.iter().enumerate().skip(1) {
            if d != device {
                // Other GPUs draw their own dropout masks: a seed of their own per step.
                B::seed(
                    d,
                    config.seed.wrapping_add(step as u64 + 1) ^ ((i as u64) << 48),
                );
            }
        }
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
        let (detached, next, mut grads) = if devices.len() == 1 {
            let (logits, next) = model.forward(ids_tensor(&b.inputs, batch, seq, device), state);
            let loss = model.loss(logits, ids_tensor(&b.targets, batch, seq, device));
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            (loss.inner(), next, grads)
        } else {
            data_parallel_step(&model, &b, state, devices, config.model.dropout > 0.0)
        };
        if config.data.batching == Batching::Contiguous {
            carry = Some(next.detach());
        }
        clip_gradients::<B, _>(
            &model,
            &mut grads,
            config.clip.max_norm,
            config.clip.max_value,
        );
        model = optim.step(lr, model, grads);

        loss_sum = Some(match loss_sum.take() {
            Some(s) => s + detached,
            None => detached,
        });
        loss_count += 1;
        window_tokens += batch * seq;
        let done = step + 1;
        let eval_now = done % config.train.eval_interval == 0 || done == total;
        let interrupted = options
            .interrupt
            .as_ref()
            .is_some_and(|f| f.load(Ordering::SeqCst));
        let stopping = options.stop_after == Some(done) || interrupted;
        let checkpoint_now = eval_now || stopping || done % config.checkpoint_interval() == 0;
        if done % config.train.log_interval == 0 || eval_now || checkpoint_now {
            let mean = scalar(loss_sum.take().expect("a loss"));
            let mean = mean / loss_count as f64;
            loss_count = 0;
            if !mean.is_finite() {
                reporter.finish();
                return Err(other(format!(
                    "the training loss became {mean} at step {done}; stopped (the last checkpoint is kept). Try a lower optim.learning_rate or clip.max_norm"
                )));
            }
            if mean > blow_up {
                reporter.finish();
                return Err(other(format!(
                    "the training loss blew up to {mean:.4e} at step {done} (more than 3 ln V = {blow_up:.2}, three times a uniform guess); stopped (the last checkpoint is kept). Try a lower optim.learning_rate or clip.max_norm"
                )));
            }
            let secs = window_start.elapsed().as_secs_f64();
            let tokens_per_sec = window_tokens as f64 / secs.max(1e-9);
            window_start = Instant::now();
            window_tokens = 0;
            train_losses.push((done, mean));
            let elapsed = elapsed_before + session_start.elapsed().as_secs_f64();
            let state_at = |val_loss, best_val_loss| TrainState {
                step: done,
                total_steps: total,
                best_val_loss,
                val_loss,
                elapsed_secs: elapsed,
                seed: config.seed,
                files: BTreeMap::new(),
            };
            let mut val_cols = ",".to_string();
            let mut save_best = false;
            if eval_now {
                let valid_model = model.valid();
                last_val = validate(&valid_model)?;
                val_cols = format!("{last_val:.6},{:.6}", last_val / std::f64::consts::LN_2);
                let improved = best.is_none_or(|b| last_val < b);
                if improved {
                    best = Some(last_val);
                }
                if config.train.sample_length > 0 {
                    let mut sampler = Sampler::new(
                        SamplingOptions {
                            temperature: config.train.sample_temperature,
                            ..Default::default()
                        },
                        config.seed.wrapping_add(done as u64),
                    );
                    let text = generate(
                        &valid_model,
                        &corpus.vocab,
                        "",
                        config.train.sample_length,
                        &mut sampler,
                        |_| {},
                    )?;
                    append(
                        &run.samples_path(),
                        &format!("=== step {done}, validation loss {last_val:.4} ===\n{text}\n\n"),
                    )?;
                }
                reporter.println(&format!(
                    "step {done}/{total}: train loss {mean:.4}, validation loss {last_val:.4} ({:.3} bits/char){}",
                    last_val / std::f64::consts::LN_2,
                    if improved { ", best so far" } else { "" }
                ));
                save_best = improved;
            }
            append(
                &run.metrics_path(),
                &format!("{done},{mean:.6},{val_cols},{lr:.6e},{tokens_per_sec:.1},{elapsed:.2}\n"),
            )?;
            if checkpoint_now && !weights_finite(&model) {
                reporter.finish();
                return Err(other(format!(
                    "the weights became NaN or infinite at step {done}; stopped (the last checkpoint is kept). Try a lower optim.learning_rate or clip.max_norm"
                )));
            }
            if checkpoint_now {
                let state = state_at(eval_now.then_some(last_val), best);
                let model_bin = model_bytes(&model);
                let optim_bin = Recorder::<B>::record(&recorder(), optim.to_record(), ())
                    .map_err(|e| other(format!("cannot record the optimiser: {e}")))?;
                let mut files: Vec<(&str, &[u8])> =
                    vec![("model.bin", &model_bin), ("optim.bin", &optim_bin)];
                let carry_bin = carry.as_ref().map(state_bytes);
                if let Some(c) = &carry_bin {
                    files.push(("carry.safetensors", c));
                }
                run.save_checkpoint("last", &state, &files)?;
            }
            // After `last`, so that a crash in between never lets a resumed run overwrite `best`
            // with a worse model (`last` already records the new best loss).
            if save_best {
                let state = state_at(Some(last_val), best);
                run.save_checkpoint("best", &state, &[("model.bin", &model_bytes(&model))])?;
            }
            let eta = (total - done) as f64 * (batch * seq) as f64 / tokens_per_sec.max(1e-9);
            let val = if last_val.is_finite() {
                format!(" | val {last_val:.4}")
            } else {
                String::new()
            };
            reporter.update(
                done,
                total,
                &format!(
                    "loss {mean:.4}{val} | lr {lr:.2e} | {:.0} tok/s",
                    tokens_per_sec
                ),
                eta,
            );
        }
        if interrupted && done < total {
            reporter.finish();
            return Err(TrainError::Interrupted {
                step: done,
                run: run.checkpoint_dir("last").display().to_string(),
            });
        }
        if stopping {
            reporter.println(&format!(
                "stopped after step {done} (--stop-after); --resume continues"
            ));
            break;
        }
    }
    reporter.finish();

    if start >= total {
        last_val = validate(&model.valid())?;
    }
    let (train_series, valid_series) = read_metrics(run);
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
        elapsed_secs: elapsed_before + session_start.elapsed().as_secs_f64(),
        train_losses,
    })
}

/// Creates the run folder `run` from a PyTorch character language model's `state_dict` saved as
/// safetensors (see [`crate::pytorch::load_char_lm`]): the config's corpus gives the vocabulary
/// (sorted characters, as the PyTorch reference script builds it), the weights become the `best`
/// and `last` checkpoints at step 0, so `sample` and `eval` use them and `train --resume`
/// fine-tunes them. Refuses a folder that holds a run unless `force`.
pub fn import_pytorch<B: AutodiffBackend>(
    config: &RunConfig,
    weights: &std::path::Path,
    run: &RunDir,
    force: bool,
    device: &B::Device,
) -> Result<usize, TrainError> {
    let other = |m: String| TrainError::Other(m);
    if run.holds_run() && !force {
        return Err(other(format!(
            "run folder {} already holds a run; pass --force to replace it",
            run.root().display()
        )));
    }
    let corpus = Corpus::load(&config.data.path, config.data.validation_fraction, None)?;
    let bytes = std::fs::read(weights).map_err(|source| CheckpointError::Io {
        path: weights.to_path_buf(),
        source,
    })?;
    let model = model_config(config, corpus.vocab.len()).init::<B>(device);
    let model = crate::pytorch::load_char_lm(model, &bytes).map_err(|e| {
        other(format!(
            "{}: {e} (the model is {} {}x{}, embedding {}, vocabulary {} from {})",
            weights.display(),
            config.model.cell,
            config.model.num_layers,
            config.model.hidden_size,
            config.model.embedding_size,
            corpus.vocab.len(),
            config.data.path.display()
        ))
    })?;
    let batches = ContiguousBatcher::new(
        corpus.train.len(),
        config.data.batch_size,
        config.data.seq_len,
    )
    .map_or(1, |b| b.per_epoch());
    let state = TrainState {
        step: 0,
        total_steps: config.total_steps(batches),
        best_val_loss: None,
        val_loss: None,
        elapsed_secs: 0.0,
        seed: config.seed,
        files: BTreeMap::new(),
    };
    let optim_bin = fresh_optimiser_bytes::<B>(config)?;
    if force {
        clear_run(run)?;
    }
    run.create()?;
    let model_bin = model_bytes(&model);
    write_run_files(run, config, &corpus.vocab, true)?;
    run.save_checkpoint(
        "last",
        &state,
        &[("model.bin", &model_bin), ("optim.bin", &optim_bin)],
    )?;
    run.save_checkpoint("best", &state, &[("model.bin", &model_bin)])?;
    Ok(model.num_params())
}

/// The record of an optimiser of the config's kind that has taken no step.
fn fresh_optimiser_bytes<B: AutodiffBackend>(config: &RunConfig) -> Result<Vec<u8>, TrainError> {
    fn bytes<B: AutodiffBackend, O: Optimizer<CharLm<B>, B>>(o: O) -> Result<Vec<u8>, TrainError> {
        Recorder::<B>::record(&recorder(), o.to_record(), ())
            .map_err(|e| TrainError::Other(format!("cannot record the optimiser: {e}")))
    }
    match config.optim.optimizer {
        OptimizerKind::Adam => bytes(AdamConfig::new().init::<B, CharLm<B>>()),
        OptimizerKind::Adamw => bytes(AdamWConfig::new().init::<B, CharLm<B>>()),
        OptimizerKind::Rmsprop => bytes(RmsPropConfig::new().init::<B, CharLm<B>>()),
    }
}

/// Rows `(start, len)` of a batch of `batch` rows for each of `n` devices, as even as can be.
pub fn batch_shares(batch: usize, n: usize) -> Vec<(usize, usize)> {
    let (base, extra) = (batch / n, batch % n);
    let mut start = 0;
    (0..n)
        .map(|i| {
            let len = base + usize::from(i < extra);
            let share = (start, len);
            start += len;
            share
        })
        .collect()
}

/// One data-parallel step: forward and backward of a replica per device on its rows, in
/// parallel threads; returns the batch loss, the next state (rows in order) and the summed
/// gradients, all on `devices[0]`.
fn data_parallel_step<B: AutodiffBackend>(
    model: &CharLm<B>,
    b: &Batch,
    state: Option<RecurrentState<B>>,
    devices: &[B::Device],
    sequential_forward: bool,
) -> (
    Tensor<B::InnerBackend, 1>,
    RecurrentState<B>,
    GradientsParams,
) {
    let main = &devices[0];
    let (batch, seq) = (b.batch, b.seq);
    let shares = batch_shares(batch, devices.len());
    // Forward of one share: the replica, its loss (the share's mean, weighted by its share of
    // the rows, so that the sum over devices is the batch mean, and so are the summed
    // gradients) and its next state.
    let forward = |(start, rows): (usize, usize), device: &B::Device| {
        let replica = model.clone().fork(device);
        let state = state
            .as_ref()
            .map(|s| s.rows(start, rows).to_device(device));
        let inputs = &b.inputs[start * seq..(start + rows) * seq];
        let targets = &b.targets[start * seq..(start + rows) * seq];
        let (logits, next) = replica.forward(ids_tensor(inputs, rows, seq, device), state);
        let loss = replica
            .loss(logits, ids_tensor(targets, rows, seq, device))
            .mul_scalar(rows as f64 / batch as f64);
        (replica, loss, next)
    };
    let backward = |(replica, loss, next): (CharLm<B>, Tensor<B, 1>, RecurrentState<B>)| {
        let grads = GradientsParams::from_grads(loss.backward(), &replica);
        (loss.inner(), next.detach(), grads)
    };
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = if sequential_forward {
            // Dropout draws its masks from the backend's generator: forwards in share order
            // keep them reproducible (resume gives the same run); backwards run in parallel.
            let forwards: Vec<_> = shares
                .iter()
                .zip(devices)
                .map(|(&share, device)| forward(share, device))
                .collect();
            forwards
                .into_iter()
                .map(|f| scope.spawn(move || backward(f)))
                .collect()
        } else {
            shares
                .iter()
                .zip(devices)
                .map(|(&share, device)| scope.spawn(move || backward(forward(share, device))))
                .collect()
        };
        handles
            .into_iter()
            .map(|h| h.join().expect("a data-parallel replica panicked"))
            .collect()
    });
    let mut accumulator = GradientsAccumulator::<CharLm<B>>::new();
    let mut loss: Option<Tensor<B::InnerBackend, 1>> = None;
    let mut states = Vec::with_capacity(results.len());
    for (l, next, grads) in results {
        accumulator.accumulate::<B>(model, grads.to_device::<B, _>(main, model));
        let l = l.to_device(main);
        loss = Some(match loss {
            Some(t) => t + l,
            None => l,
        });
        states.push(next);
    }
    (
        loss.expect("at least one device"),
        RecurrentState::cat_rows(states, main),
        accumulator.grads(),
    )
}

/// The dtype of a backend's floats (for messages).
pub fn float_dtype<B: Backend>(device: &B::Device) -> DType {
    Tensor::<B, 1>::zeros([1], device).dtype()
}
