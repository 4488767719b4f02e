//! A run folder with its model: the model a run's config describes, a run loaded from a
//! checkpoint (to sample or evaluate), and a run made from a PyTorch character model's weights.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use burn::module::Module;
use burn::optim::Optimizer;
use burn::tensor::backend::{AutodiffBackend, Backend};

use crate::app::checkpoint::record::{load_module, module_bytes, record_bytes};
use crate::app::checkpoint::{CheckpointError, RunDir, TrainState};
use crate::app::config::{ConfigError, RunConfig};
use crate::app::optimiser::{WithOptimiser, with_optimiser};
use crate::data::{ContiguousBatcher, Corpus, CorpusError, Vocab};
use crate::model::{CharLm, CharLmConfig};
use crate::pytorch::PytorchError;
use crate::sample::{Sampler, SamplingOptions, generate_streaming};

/// Why a run folder could not be loaded, made or used.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The folder does not exist.
    #[error("run folder {0} does not exist")]
    NoFolder(String),
    /// The path is not a run folder.
    #[error("{path} is not a run folder: {why}")]
    NotRunFolder {
        /// The path given.
        path: String,
        /// Why not.
        why: &'static str,
    },
    /// The folder has no such checkpoint.
    #[error("run {run} has no `{which}` checkpoint yet (expected {expected})")]
    NoCheckpoint {
        /// The run folder.
        run: String,
        /// `last` or `best`.
        which: String,
        /// The checkpoint folder looked for.
        expected: String,
    },
    /// The folder holds a run and `--force` was not given.
    #[error("run folder {0} already holds a run; pass --force to replace it")]
    Exists(String),
    /// The run's `config.toml`.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The run's `vocab.json`.
    #[error("{path}: {message}")]
    Vocab {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The corpus.
    #[error(transparent)]
    Corpus(#[from] CorpusError),
    /// A file or checkpoint of the folder.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// PyTorch weights that do not fit the config.
    #[error("{file}: {source} (the model is {model})")]
    Import {
        /// The safetensors file.
        file: String,
        /// What is wrong.
        source: Box<PytorchError>,
        /// The model the config describes.
        model: String,
    },
    /// Writing the generated text failed.
    #[error("cannot write the sample: {0}")]
    Output(std::io::Error),
    /// The weights' file says it was trained on another vocabulary than the config's corpus.
    #[error(
        "{file}: the model's vocabulary (its metadata `vocab`, {found} characters) is not the corpus's ({expected} characters from {corpus}): {difference}; import it with the corpus it was trained on"
    )]
    VocabMismatch {
        /// The safetensors file.
        file: String,
        /// Characters in the file's vocabulary.
        found: usize,
        /// Characters in the corpus's.
        expected: usize,
        /// The corpus.
        corpus: String,
        /// The first difference.
        difference: String,
    },
    /// Writing the exported `state_dict` failed.
    #[error("cannot write {path}: {source} (nothing was exported)")]
    Export {
        /// The file asked for.
        path: String,
        /// The operating-system error.
        source: std::io::Error,
    },
}

/// The model config of a run with a vocabulary of `vocab_size` characters.
pub fn model_config(config: &RunConfig, vocab_size: usize) -> CharLmConfig {
    config.model.char_lm(vocab_size, config.backend.fused)
}

/// What describes a run's model, for messages.
const DESCRIBED_BY: &str = "the run's config.toml and vocab.json";

/// Reads a run's effective config.
pub fn read_config(run: &RunDir) -> Result<RunConfig, RunError> {
    let path = run.config_path();
    let text = std::fs::read_to_string(&path).map_err(|source| CheckpointError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(RunConfig::parse(&text, &path.display().to_string(), &[])?)
}

/// Reads a run's vocabulary.
pub fn read_vocab(run: &RunDir) -> Result<Vocab, RunError> {
    let path = run.vocab_path();
    let text = std::fs::read_to_string(&path).map_err(|source| CheckpointError::Io {
        path: path.clone(),
        source,
    })?;
    Vocab::from_json(&text).map_err(|message| RunError::Vocab {
        path: path.display().to_string(),
        message,
    })
}

/// Checks that `vocab` (the run's `vocab.json`) is the vocabulary checkpoint `state` was trained
/// with: a reordered, edited or replaced `vocab.json` of the same size would load and silently
/// give wrong samples and losses.
pub fn check_vocab(run: &RunDir, state: &TrainState, vocab: &Vocab) -> Result<(), RunError> {
    match state.vocab {
        Some(expected) if expected != vocab.fingerprint() => Err(RunError::Vocab {
            path: run.vocab_path().display().to_string(),
            message: format!(
                "not the vocabulary the checkpoint at step {} was trained with (fingerprint {:08x}, the checkpoint's {expected:08x}): its characters or their order changed; restore the run's own vocab.json",
                state.step,
                vocab.fingerprint()
            ),
        }),
        _ => Ok(()),
    }
}

/// Loads the weights of a checkpoint's files into `model`, checking every shape against the
/// model the run's config and vocabulary describe.
pub fn load_model<B: Backend>(
    model: CharLm<B>,
    files: &BTreeMap<String, Vec<u8>>,
    dir: &Path,
    device: &B::Device,
) -> Result<CharLm<B>, CheckpointError> {
    let model = load_module(model, files, dir, "model.bin", DESCRIBED_BY, device)?;
    let mut check = FiniteCheck::default();
    model.visit(&mut check);
    match check.found {
        None => Ok(model),
        Some((tensor, value)) => Err(CheckpointError::Invalid {
            path: dir.join("model.bin"),
            message: format!(
                "parameter `{tensor}` holds {value}; a model's weights must be finite numbers"
            ),
        }),
    }
}

/// Finds the first parameter holding NaN or an infinity, by its path in the module.
#[derive(Default)]
struct FiniteCheck {
    path: Vec<String>,
    found: Option<(String, f64)>,
}

impl<B: Backend> burn::module::ModuleVisitor<B> for FiniteCheck {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(
        &mut self,
        param: &burn::module::Param<burn::tensor::Tensor<B, D>>,
    ) {
        if self.found.is_some() {
            return;
        }
        let data = param.val().into_data();
        if let Some(v) = data.iter::<f64>().find(|v| !v.is_finite()) {
            self.found = Some((self.path.join("."), v));
        }
    }
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
) -> Result<LoadedRun<B>, RunError> {
    if !run.root().exists() {
        return Err(RunError::NoFolder(run.root().display().to_string()));
    }
    if !run.root().is_dir() || !run.config_path().exists() {
        return Err(RunError::NotRunFolder {
            path: run.root().display().to_string(),
            why: if run.root().is_dir() {
                "it has no config.toml (a run folder is made by `burn-rnn train` or `burn-rnn import`)"
            } else {
                "it is a file; pass the folder that `burn-rnn train` wrote"
            },
        });
    }
    let config = read_config(run)?;
    let vocab = read_vocab(run)?;
    if !run.has_checkpoint(which) {
        return Err(RunError::NoCheckpoint {
            run: run.root().display().to_string(),
            which: which.to_string(),
            expected: run.checkpoint_dir(which).display().to_string(),
        });
    }
    let (state, files) = run.load_checkpoint(which)?;
    let model = model_config(&config, vocab.len()).init::<B>(device);
    let model = load_model(model, &files, &run.checkpoint_dir(which), device)?;
    // After the weights' shapes (which name a vocabulary of another size more precisely).
    check_vocab(run, &state, &vocab)?;
    Ok(LoadedRun {
        config,
        vocab,
        model,
        state,
    })
}

impl<B: Backend> LoadedRun<B> {
    /// Generates `length` characters after `prime`, streaming the prime and each character to
    /// `out` as it is produced. The prime is checked before anything is written.
    pub fn sample_to(
        &self,
        out: &mut impl Write,
        prime: &str,
        length: usize,
        options: SamplingOptions,
        seed: u64,
    ) -> Result<(), RunError> {
        self.vocab.encode(prime, "the prime text")?;
        let mut sampler = Sampler::new(options, seed);
        let mut failed = None;
        write!(out, "{prime}").map_err(RunError::Output)?;
        // Generation stops at the first failed write (a closed pipe, a full disk).
        generate_streaming(
            &self.model,
            &self.vocab,
            prime,
            length,
            &mut sampler,
            |c| match write!(out, "{c}").and_then(|_| out.flush()) {
                Ok(()) => true,
                Err(e) => {
                    failed = Some(e);
                    false
                }
            },
        )?;
        if let Some(e) = failed {
            return Err(RunError::Output(e));
        }
        writeln!(out).map_err(RunError::Output)
    }
}

/// Creates the run folder `run` from a PyTorch character language model's `state_dict` saved as
/// safetensors (see [`crate::pytorch::load_char_lm`]): the config's corpus gives the vocabulary
/// (sorted characters, as the PyTorch reference script builds it), the weights become the `best`
/// and `last` checkpoints at step 0, so `sample` and `eval` use them and `train --resume`
/// fine-tunes them. Refuses a folder that holds a run unless `force`. Returns the number of
/// parameters.
pub fn import_pytorch<B: AutodiffBackend>(
    config: &RunConfig,
    weights: &Path,
    run: &RunDir,
    force: bool,
    device: &B::Device,
) -> Result<usize, RunError> {
    let lock = run.lock("import")?;
    let imported = import_locked::<B>(config, weights, run, force, device);
    match imported {
        Ok(_) => drop(lock),
        Err(_) => lock.release_unused(),
    }
    imported
}

/// [`import_pytorch`] with the run folder held.
fn import_locked<B: AutodiffBackend>(
    config: &RunConfig,
    weights: &Path,
    run: &RunDir,
    force: bool,
    device: &B::Device,
) -> Result<usize, RunError> {
    if run.holds_run() && !force {
        return Err(RunError::Exists(run.root().display().to_string()));
    }
    let corpus = Corpus::load(&config.data.path, config.data.validation_fraction, None)?;
    let bytes = std::fs::read(weights).map_err(|source| CheckpointError::Io {
        path: weights.to_path_buf(),
        source,
    })?;
    check_file_vocab(&bytes, &corpus.vocab, weights, &config.data.path)?;
    let model = model_config(config, corpus.vocab.len()).init::<B>(device);
    let model = crate::pytorch::load_char_lm(model, &bytes).map_err(|source| RunError::Import {
        file: weights.display().to_string(),
        source: Box::new(source),
        model: format!(
            "{} {}x{}, embedding {}, vocabulary {} from {}",
            config.model.cell,
            config.model.num_layers,
            config.model.hidden_size,
            config.model.embedding_size,
            corpus.vocab.len(),
            config.data.path.display()
        ),
    })?;
    let batches = ContiguousBatcher::new(
        corpus.train.len(),
        config.data.batch_size,
        config.data.seq_len,
    )
    .map_or(1, |b| b.per_epoch());
    let state = TrainState {
        step: 0,
        total_steps: config.total_steps(batches).unwrap_or(0),
        best_val_loss: None,
        val_loss: None,
        elapsed_secs: 0.0,
        seed: config.seed,
        files: BTreeMap::new(),
        vocab: Some(corpus.vocab.fingerprint()),
        corpus: Some(corpus.fingerprint),
    };
    let optim_bin = fresh_optimiser_bytes::<B>(config);
    if force {
        run.clear()?;
    }
    run.create()?;
    let model_bin = module_bytes(&model);
    run.write_run_files(&config.to_toml(), &corpus.vocab.to_json(), true)?;
    run.save_checkpoint(
        "last",
        &state,
        &[("model.bin", &model_bin), ("optim.bin", &optim_bin)],
    )?;
    run.save_checkpoint("best", &state, &[("model.bin", &model_bin)])?;
    Ok(model.num_params())
}

/// When the safetensors header names the vocabulary (as [`export_pytorch`] writes it), checks
/// that it is the corpus's: the same characters in the same order (ids).
fn check_file_vocab(
    bytes: &[u8],
    vocab: &Vocab,
    file: &Path,
    corpus: &Path,
) -> Result<(), RunError> {
    let Ok((_, header)) = safetensors::SafeTensors::read_metadata(bytes) else {
        return Ok(()); // load_char_lm reports a file that is not safetensors
    };
    let Some(text) = header.metadata().as_ref().and_then(|m| m.get("vocab")) else {
        return Ok(());
    };
    let mismatch = |found: usize, difference: String| RunError::VocabMismatch {
        file: file.display().to_string(),
        found,
        expected: vocab.len(),
        corpus: corpus.display().to_string(),
        difference,
    };
    let chars: Vec<char> = serde_json::from_str(text).map_err(|e| {
        mismatch(
            0,
            format!("its metadata `vocab` is not a JSON array of characters ({e})"),
        )
    })?;
    if chars == vocab.chars() {
        return Ok(());
    }
    let difference = match chars.iter().zip(vocab.chars()).position(|(a, b)| a != b) {
        Some(i) => format!(
            "id {i} is {:?} in the file and {:?} in the corpus",
            chars[i],
            vocab.chars()[i]
        ),
        None => "one is a prefix of the other".to_string(),
    };
    Err(mismatch(chars.len(), difference))
}

/// What [`export_pytorch`] wrote.
#[derive(Clone, Debug)]
pub struct Exported {
    /// The checkpoint's training state (its step and losses).
    pub state: TrainState,
    /// Tensors in the file.
    pub tensors: usize,
    /// Parameters (values) in them.
    pub params: usize,
    /// Size of the file in bytes.
    pub bytes: usize,
    /// Characters in the vocabulary.
    pub vocab_size: usize,
}

/// The safetensors metadata [`export_pytorch`] writes: what a Python user needs to rebuild the
/// model without the run folder. Every value is a string (safetensors' header is string to
/// string); `vocab` is a JSON array of the characters in id order.
pub fn export_metadata(
    config: &RunConfig,
    vocab: &Vocab,
    state: &TrainState,
    checkpoint: &str,
) -> std::collections::HashMap<String, String> {
    let m = &config.model;
    let mut meta: std::collections::HashMap<String, String> = [
        ("format", "pt".to_string()),
        (
            "producer",
            format!("burn-rnn {}", env!("CARGO_PKG_VERSION")),
        ),
        ("cell", m.cell.name().to_string()),
        ("num_layers", m.num_layers.to_string()),
        ("hidden_size", m.hidden_size.to_string()),
        ("embedding_size", m.embedding_size.to_string()),
        ("vocab_size", vocab.len().to_string()),
        (
            "vocab",
            serde_json::to_string(vocab.chars()).expect("characters serialise"),
        ),
        ("dropout", m.dropout.to_string()),
        ("checkpoint", checkpoint.to_string()),
        ("step", state.step.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if m.cell == crate::cell_kind::CellKind::Rnn {
        let nonlinearity = match m.activation {
            crate::cell_kind::Activation::Tanh => "tanh",
            crate::cell_kind::Activation::Relu => "relu",
        };
        meta.insert("nonlinearity".into(), nonlinearity.into());
    }
    if let Some(loss) = state.val_loss {
        meta.insert("val_loss".into(), loss.to_string());
    }
    meta
}

/// Writes checkpoint `which` (`best` or `last`) of a run as a PyTorch `state_dict` in
/// safetensors format at `out` (atomically), under the keys [`import_pytorch`] reads, in f32,
/// with [`export_metadata`] in its header. The run folder is only read (and may be training).
pub fn export_pytorch<B: Backend>(
    run: &RunDir,
    which: &str,
    out: &Path,
    device: &B::Device,
) -> Result<Exported, RunError> {
    let loaded = load_run::<B>(run, which, device)?;
    let meta = export_metadata(&loaded.config, &loaded.vocab, &loaded.state, which);
    let bytes =
        crate::pytorch::save_char_lm(&loaded.model, meta).map_err(|e| RunError::Export {
            path: out.display().to_string(),
            source: std::io::Error::other(e.to_string()),
        })?;
    crate::app::checkpoint::write_atomic(out, &bytes).map_err(|e| match e {
        CheckpointError::Io { source, .. } => RunError::Export {
            path: out.display().to_string(),
            source,
        },
        other => RunError::Checkpoint(other),
    })?;
    let tensors = safetensors::SafeTensors::deserialize(&bytes).map_or(0, |f| f.len());
    Ok(Exported {
        tensors,
        params: loaded.model.num_params(),
        bytes: bytes.len(),
        vocab_size: loaded.vocab.len(),
        state: loaded.state,
    })
}

/// The record of an optimiser of the config's kind that has taken no step.
fn fresh_optimiser_bytes<B: AutodiffBackend>(config: &RunConfig) -> Vec<u8> {
    struct Fresh;
    impl<B: AutodiffBackend> WithOptimiser<B, CharLm<B>> for Fresh {
        type Output = Vec<u8>;
        fn run<O: Optimizer<CharLm<B>, B>>(self, optim: O) -> Vec<u8> {
            record_bytes::<B, _>(optim.to_record()).expect("an optimiser's record serialises")
        }
    }
    with_optimiser::<B, CharLm<B>, _>(&config.optim, Fresh)
}
