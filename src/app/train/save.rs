//! Writing the training checkpoints: `last` (weights, optimiser state, carried hidden state),
//! which resume continues from, and `best` (weights at the best validation loss).

use burn::optim::Optimizer;
use burn::tensor::backend::AutodiffBackend;

use super::TrainError;
use crate::app::checkpoint::record::{module_bytes, record_bytes, tensors_bytes};
use crate::app::checkpoint::{RunDir, TrainState};
use crate::layer::RecurrentState;
use crate::model::CharLm;

/// Saves checkpoint `last`.
pub(super) fn save_last<B: AutodiffBackend, O: Optimizer<CharLm<B>, B>>(
    run: &RunDir,
    state: &TrainState,
    model: &CharLm<B>,
    optim: &O,
    carry: Option<&RecurrentState<B>>,
) -> Result<(), TrainError> {
    let model_bin = module_bytes(model);
    let optim_bin = record_bytes::<B, _>(optim.to_record()).map_err(TrainError::Optimiser)?;
    let mut files: Vec<(&str, &[u8])> = vec![("model.bin", &model_bin), ("optim.bin", &optim_bin)];
    let carry_bin = carry.map(|c| {
        let mut tensors = vec![("hidden", c.hidden())];
        if let Some(cell) = c.cell() {
            tensors.push(("cell", cell));
        }
        tensors_bytes(tensors)
    });
    if let Some(c) = &carry_bin {
        files.push(("carry.safetensors", c));
    }
    Ok(run.save_checkpoint("last", state, &files)?)
}

/// Saves checkpoint `best`.
pub(super) fn save_best<B: AutodiffBackend>(
    run: &RunDir,
    state: &TrainState,
    model: &CharLm<B>,
) -> Result<(), TrainError> {
    Ok(run.save_checkpoint("best", state, &[("model.bin", &module_bytes(model))])?)
}
