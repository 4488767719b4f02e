//! The run's optimiser, built from `[optim]` in one place, for any model: training steps with
//! it, and an imported model starts from its fresh record.

use burn::module::AutodiffModule;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, AdamWConfig, Optimizer, RmsPropConfig};
use burn::tensor::backend::AutodiffBackend;

use crate::app::config::{OptimSection, OptimizerKind};

/// Work that needs the run's optimiser, whatever its type.
pub trait WithOptimiser<B: AutodiffBackend, M: AutodiffModule<B>> {
    /// What the work returns.
    type Output;
    /// Runs the work with `optim`, an optimiser that has taken no step.
    fn run<O: Optimizer<M, B>>(self, optim: O) -> Self::Output;
}

/// Builds the optimiser `[optim]` names (Adam and RMSprop with L2 weight decay added to the
/// gradient, as PyTorch's; AdamW with decoupled decay) and runs `work` with it.
pub fn with_optimiser<B: AutodiffBackend, M: AutodiffModule<B>, W: WithOptimiser<B, M>>(
    o: &OptimSection,
    work: W,
) -> W::Output {
    let decay = (o.weight_decay > 0.0).then(|| WeightDecayConfig::new(o.weight_decay as f32));
    match o.optimizer {
        OptimizerKind::Adam => work.run(AdamConfig::new().with_weight_decay(decay).init::<B, M>()),
        OptimizerKind::Adamw => work.run(
            AdamWConfig::new()
                .with_weight_decay(o.weight_decay as f32)
                .init::<B, M>(),
        ),
        OptimizerKind::Rmsprop => {
            work.run(RmsPropConfig::new().with_weight_decay(decay).init::<B, M>())
        }
    }
}
