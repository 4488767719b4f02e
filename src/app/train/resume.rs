//! Resuming a run: the check that the config still describes the run's model and batches, and
//! the restore of the `last` checkpoint (weights, optimiser state, carried hidden state) with
//! the history cut back to it.

use burn::optim::Optimizer;
use burn::tensor::backend::AutodiffBackend;

use super::TrainError;
use crate::app::checkpoint::record::{load_record, tensor_from_bytes};
use crate::app::checkpoint::{RunDir, TrainState, history};
use crate::app::config::RunConfig;
use crate::app::run::{check_vocab, load_model, read_config};
use crate::data::Vocab;
use crate::layer::RecurrentState;
use crate::model::CharLm;

/// The first key whose value in `config` differs from the run's `saved` config among those a
/// resumed run must keep (the weights, the optimiser state and the carried state would not fit
/// otherwise): `(key, now, before)`.
pub(super) fn first_difference(
    config: &RunConfig,
    saved: &RunConfig,
) -> Option<(&'static str, String, String)> {
    let (m, s) = (&config.model, &saved.model);
    let keys = [
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
    keys.into_iter().find(|(_, now, before)| now != before)
}

/// Refuses to resume a run with a config whose model or batches differ from the run's own.
pub(super) fn check_resumable(run: &RunDir, config: &RunConfig) -> Result<(), TrainError> {
    if !run.config_path().exists() {
        return Ok(());
    }
    let saved = read_config(run)?;
    match first_difference(config, &saved) {
        Some((key, now, before)) => Err(TrainError::ResumeMismatch {
            key,
            now,
            before,
            run: run.root().display().to_string(),
        }),
        None => Ok(()),
    }
}

/// What the `last` checkpoint restores.
pub(super) struct Restored<B: AutodiffBackend, O> {
    pub model: CharLm<B>,
    pub optim: O,
    /// The hidden state carried into the next batch (contiguous batching).
    pub carry: Option<RecurrentState<B>>,
    pub state: TrainState,
}

/// Restores the `last` checkpoint into `model` and `optim`, and cuts the run's metrics and
/// samples back to its step.
pub(super) fn restore<B: AutodiffBackend, O: Optimizer<CharLm<B>, B>>(
    run: &RunDir,
    model: CharLm<B>,
    optim: O,
    vocab: &Vocab,
    device: &B::Device,
) -> Result<Restored<B, O>, TrainError> {
    let (state, files) = run.load_checkpoint("last")?;
    let dir = run.checkpoint_dir("last");
    let model = load_model(model, &files, &dir, device)?;
    check_vocab(run, &state, vocab)?;
    let record = load_record(&files, &dir, "optim.bin", "optimiser state", device)?;
    let optim = optim.load_record(record);
    let carry = files.get("carry.safetensors").and_then(|bytes| {
        let hidden = tensor_from_bytes::<B, 3>(bytes, "hidden", device)?;
        let cell = tensor_from_bytes::<B, 3>(bytes, "cell", device);
        Some(RecurrentState::from_tensors(hidden, cell))
    });
    history::truncate(run, state.step)?;
    Ok(Restored {
        model,
        optim,
        carry,
        state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
[model]
cell = "lstm"
embedding_size = 8
hidden_size = 16
[data]
path = "corpus.txt"
seq_len = 10
batch_size = 4
[train]
steps = 100
"#;

    #[test]
    fn only_the_model_batch_and_optimiser_must_match() {
        let saved = RunConfig::parse(CONFIG, "t", &[]).unwrap();
        let same = [
            "train.steps=500",
            "optim.learning_rate=1e-2",
            "model.dropout=0.2",
        ];
        let sets: Vec<String> = same.iter().map(|s| s.to_string()).collect();
        let config = RunConfig::parse(CONFIG, "t", &sets).unwrap();
        assert_eq!(first_difference(&config, &saved), None);
        for (set, key) in [
            ("model.hidden_size=32", "model.hidden_size"),
            ("model.cell=gru", "model.cell"),
            ("data.seq_len=20", "data.seq_len"),
            ("optim.optimizer=rmsprop", "optim.optimizer"),
        ] {
            let config = RunConfig::parse(CONFIG, "t", &[set.to_string()]).unwrap();
            let (found, now, before) = first_difference(&config, &saved).unwrap();
            assert_eq!(found, key);
            assert_ne!(now, before);
        }
    }
}
