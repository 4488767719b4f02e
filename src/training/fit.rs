//! A small training helper for the task models, like Keras' `model.fit`: epochs of Adam over
//! prepared batches (shuffled each epoch), global-norm clipping, and the training loss and a
//! validation metric after each epoch.

use std::io::Write as _;

use burn::config::Config;
use burn::module::AutodiffModule;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::{Tensor, backend::AutodiffBackend};
use rand::SeedableRng;
use rand::seq::SliceRandom;

use super::clip_gradients;

/// Settings of [`fit`].
#[derive(Config, Debug)]
pub struct FitConfig {
    /// Passes over the training batches.
    #[config(default = 10)]
    pub epochs: usize,
    /// Adam's learning rate.
    #[config(default = 1e-2)]
    pub learning_rate: f64,
    /// Global gradient-norm clipping (PyTorch's `clip_grad_norm_`); 0 turns it off.
    #[config(default = 5.0)]
    pub clip_norm: f64,
    /// Seed of the batch order.
    #[config(default = 0)]
    pub seed: u64,
    /// Print a line every this many epochs (and after the last); 0 prints nothing.
    #[config(default = 1)]
    pub report_every: usize,
}

/// What [`fit`] measured after each epoch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// Mean training loss of each epoch.
    pub train_loss: Vec<f64>,
    /// The validation metric after each epoch.
    pub validation: Vec<f64>,
}

/// Trains `model` for `config.epochs` epochs over `batches` and returns it with its history.
///
/// `loss` computes a batch's loss (`[1]`) with the model; `validate` scores the model after each
/// epoch (for example test MSE or accuracy, named `metric` in the printed lines).
pub fn fit<B, M, D>(
    mut model: M,
    config: &FitConfig,
    batches: &[D],
    mut loss: impl FnMut(&M, &D) -> Tensor<B, 1>,
    mut validate: impl FnMut(&M) -> f64,
    metric: &str,
) -> (M, History)
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
{
    assert!(!batches.is_empty(), "fit needs at least one batch");
    let mut optim = AdamConfig::new().init::<B, M>();
    let mut history = History::default();
    let mut order: Vec<usize> = (0..batches.len()).collect();
    for epoch in 1..=config.epochs {
        let mut rng = rand::rngs::StdRng::seed_from_u64(config.seed.wrapping_add(epoch as u64));
        order.shuffle(&mut rng);
        let mut total: Option<Tensor<B, 1>> = None;
        for &i in &order {
            let l = loss(&model, &batches[i]);
            let value = l.clone().detach();
            total = Some(match total {
                Some(t) => t + value,
                None => value,
            });
            let mut grads = GradientsParams::from_grads(l.backward(), &model);
            clip_gradients(&model, &mut grads, config.clip_norm, 0.0);
            model = optim.step(config.learning_rate, model, grads);
        }
        let total = total.expect("a batch").into_data().convert::<f64>();
        let train_loss = total.to_vec::<f64>().expect("f64")[0] / batches.len() as f64;
        let score = validate(&model);
        history.train_loss.push(train_loss);
        history.validation.push(score);
        if config.report_every > 0
            && (epoch.is_multiple_of(config.report_every) || epoch == config.epochs)
        {
            // A closed standard output must not stop training.
            let _ = writeln!(
                std::io::stdout(),
                "epoch {epoch:>3}/{}: train loss {train_loss:.4}, validation {metric} {score:.4}",
                config.epochs
            );
        }
    }
    (model, history)
}
