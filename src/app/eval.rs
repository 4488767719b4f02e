//! Evaluation: the mean loss (nats per character) of a model over windows of a text, as
//! training reports it on the validation split and as `burn-rnn eval` reports it for a run.

use std::path::Path;

use burn::tensor::{ElementConversion, Tensor, backend::Backend};

use crate::app::checkpoint::RunDir;
use crate::app::run::{RunError, load_run};
use crate::data::{ContiguousBatcher, Corpus, CorpusError, Vocab, read_text};
use crate::model::{CharLm, ids_tensor};

/// Why an evaluation could not run.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The text is shorter than one window.
    #[error("{what} has {found} characters; scoring it needs at least {needed}")]
    TooShort {
        /// The text evaluated.
        what: String,
        /// Characters in the text.
        found: usize,
        /// Characters one window needs.
        needed: usize,
    },
    /// The run folder.
    #[error(transparent)]
    Run(#[from] RunError),
    /// The text to evaluate.
    #[error(transparent)]
    Corpus(#[from] CorpusError),
}

/// Mean loss (nats/char) over non-overlapping windows of `seq` characters of `ids`, each from a
/// zero state (as nanoGPT and the PyTorch reference score), at most `max_batches` batches of
/// `batch` windows (0: all).
pub fn evaluate<B: Backend>(
    model: &CharLm<B>,
    ids: &[u16],
    batch: usize,
    seq: usize,
    max_batches: usize,
) -> Result<f64, EvalError> {
    let rows = batch.min(ids.len().saturating_sub(1) / seq);
    let batcher =
        ContiguousBatcher::new(ids.len(), rows.max(1), seq).ok_or(EvalError::TooShort {
            what: "the evaluation text".into(),
            found: ids.len(),
            needed: seq + 1,
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
    let total: f64 = total.expect("at least one batch").into_scalar().elem();
    Ok(total / n as f64)
}

/// Mean loss (nats/char) over every character of `ids` after the first: windows of `seq`
/// characters from a zero state, `batch` at a time, then the windows left over, then the last,
/// shorter window, each weighted by its characters. Returns the loss and the characters scored
/// (`ids.len() - 1`).
pub fn evaluate_every_character<B: Backend>(
    model: &CharLm<B>,
    ids: &[u16],
    batch: usize,
    seq: usize,
) -> Result<(f64, usize), EvalError> {
    let predicted = ids.len().saturating_sub(1);
    if predicted == 0 {
        return Err(EvalError::TooShort {
            what: "the evaluation text".into(),
            found: ids.len(),
            needed: 2,
        });
    }
    let device = model.embedding.weight.device();
    let windows = predicted / seq;
    // (first window, windows, length) of each forward pass.
    let mut passes = Vec::new();
    let mut w = 0;
    while w < windows {
        let n = batch.min(windows - w);
        passes.push((w, n, seq));
        w += n;
    }
    if !predicted.is_multiple_of(seq) {
        passes.push((windows, 1, predicted % seq));
    }
    let mut total = 0.0;
    for (first, n, len) in passes {
        let (mut inputs, mut targets) = (Vec::with_capacity(n * len), Vec::with_capacity(n * len));
        for k in first..first + n {
            let start = k * seq;
            inputs.extend(ids[start..start + len].iter().map(|&v| v as i64));
            targets.extend(ids[start + 1..start + len + 1].iter().map(|&v| v as i64));
        }
        let (logits, _) = model.forward(ids_tensor(&inputs, n, len, &device), None);
        let loss: f64 = model
            .loss(logits, ids_tensor(&targets, n, len, &device))
            .into_scalar()
            .elem();
        total += loss * (n * len) as f64;
    }
    Ok((total / predicted as f64, predicted))
}

/// What `burn-rnn eval` reports.
#[derive(Clone, Debug)]
pub struct EvalReport {
    /// What was evaluated: a file, or the validation split of the run's corpus.
    pub what: String,
    /// Mean loss, nats per character.
    pub loss: f64,
    /// Characters of the text.
    pub characters: usize,
    /// Characters scored (every one after the first, which nothing predicts).
    pub scored: usize,
    /// The checkpoint evaluated.
    pub checkpoint: String,
    /// When the run's own validation split was evaluated but its corpus changed since the
    /// checkpoint was trained: what changed.
    pub corpus_changed: Option<String>,
    /// Its step.
    pub step: usize,
}

impl std::fmt::Display for EvalReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: loss {:.4} nats/char, {:.4} bits/char ({} of {} characters scored, checkpoint `{}` at step {})",
            self.what,
            self.loss,
            self.loss / std::f64::consts::LN_2,
            self.scored,
            self.characters,
            self.checkpoint,
            self.step
        )?;
        if let Some(note) = &self.corpus_changed {
            write!(f, "; note: {note}")?;
        }
        Ok(())
    }
}

/// Evaluates checkpoint `checkpoint` of a run on `data` (a text file), or on the validation
/// split of the run's corpus when `data` is `None`, with the run's batch and window sizes.
pub fn eval_run<B: Backend>(
    run: &RunDir,
    data: Option<&Path>,
    checkpoint: &str,
    device: &B::Device,
) -> Result<EvalReport, EvalError> {
    let loaded = load_run::<B>(run, checkpoint, device)?;
    let cfg = &loaded.config;
    let (ids, what, corpus_changed) = match data {
        Some(path) => {
            let text = read_text(path)?;
            let ids = loaded.vocab.encode(&text, &path.display().to_string())?;
            (ids, path.display().to_string(), None)
        }
        None => {
            let vocab = Vocab::clone(&loaded.vocab);
            let corpus = Corpus::load(&cfg.data.path, cfg.data.validation_fraction, Some(vocab))?;
            let what = format!("validation split of {}", cfg.data.path.display());
            let changed = loaded
                .state
                .corpus
                .filter(|&trained| trained != corpus.fingerprint)
                .map(|trained| {
                    format!(
                        "{} changed since this checkpoint was trained (CRC-32 {:08x}, then {trained:08x}): this is not the split the run validated on, and it may hold text the model trained on",
                        cfg.data.path.display(),
                        corpus.fingerprint
                    )
                });
            (corpus.valid, what, changed)
        }
    };
    let (loss, scored) =
        evaluate_every_character(&loaded.model, &ids, cfg.data.batch_size, cfg.data.seq_len)
            .map_err(|e| match e {
                EvalError::TooShort { found, needed, .. } => EvalError::TooShort {
                    what: what.clone(),
                    found,
                    needed,
                },
                other => other,
            })?;
    Ok(EvalReport {
        what,
        loss,
        characters: ids.len(),
        scored,
        checkpoint: checkpoint.to_string(),
        corpus_changed,
        step: loaded.state.step,
    })
}
