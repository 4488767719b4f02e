//! Evaluation: the mean loss (nats per character) of a model over windows of a text, as
//! training reports it on the validation split and as `burn-rnn eval` reports it for a run.

use std::path::Path;

use burn::tensor::{ElementConversion, Tensor, backend::Backend};

use crate::checkpoint::RunDir;
use crate::data::{ContiguousBatcher, Corpus, CorpusError, Vocab, read_text};
use crate::model::{CharLm, ids_tensor};
use crate::run::{RunError, load_run};

/// Why an evaluation could not run.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The text is shorter than one window.
    #[error("the evaluation text has {found} characters, fewer than data.seq_len + 1 = {needed}")]
    TooShort {
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

/// What `burn-rnn eval` reports.
#[derive(Clone, Debug)]
pub struct EvalReport {
    /// What was evaluated: a file, or the validation split of the run's corpus.
    pub what: String,
    /// Mean loss, nats per character.
    pub loss: f64,
    /// Characters of the text.
    pub characters: usize,
    /// The checkpoint evaluated.
    pub checkpoint: String,
    /// Its step.
    pub step: usize,
}

impl std::fmt::Display for EvalReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: loss {:.4} nats/char, {:.4} bits/char ({} characters, checkpoint `{}` at step {})",
            self.what,
            self.loss,
            self.loss / std::f64::consts::LN_2,
            self.characters,
            self.checkpoint,
            self.step
        )
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
    let (ids, what) = match data {
        Some(path) => {
            let text = read_text(path)?;
            let ids = loaded.vocab.encode(&text, &path.display().to_string())?;
            (ids, path.display().to_string())
        }
        None => {
            let vocab = Vocab::clone(&loaded.vocab);
            let corpus = Corpus::load(&cfg.data.path, cfg.data.validation_fraction, Some(vocab))?;
            let what = format!("validation split of {}", cfg.data.path.display());
            (corpus.valid, what)
        }
    };
    let loss = evaluate(
        &loaded.model,
        &ids,
        cfg.data.batch_size,
        cfg.data.seq_len,
        0,
    )?;
    Ok(EvalReport {
        what,
        loss,
        characters: ids.len(),
        checkpoint: checkpoint.to_string(),
        step: loaded.state.step,
    })
}
