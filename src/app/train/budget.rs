//! `train.time_budget`: how many steps fit in a wall-time budget on the machine at hand.
//!
//! Before the first step, a throwaway copy of the model and the optimiser trains a few steps on
//! the run's own batches (at least [`MIN_STEPS`], and about 2% of the budget, at most 20 s), and
//! an evaluation of the copy is timed (validation loss and, when the config samples, the sample;
//! the faster of two).
//! So is writing its checkpoints (`last` and `best`, into a scratch folder of the run folder,
//! removed after). The run then takes the largest step count `N` whose steps, evaluations (every
//! `train.eval_interval` steps and at the end, each counted with a `best` checkpoint) and `last`
//! checkpoints (every `train.checkpoint_interval` steps and at the end) fit in what is left of
//! the budget, less 2% for what is not timed (log lines). `N` becomes `train.steps` of the run folder's effective config,
//! and the learning-rate schedule spreads over it: from then on the run is an ordinary step-based
//! run, so `--resume` is exact and later timing noise changes nothing but the wall time.
//!
//! The copy shares nothing with the run: the optimiser updates produce new tensors, the batches
//! are a pure function of `(seed, step)`, and every real step re-seeds Burn's generator.

use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::Optimizer;
use burn::tensor::backend::AutodiffBackend;

use super::step::forward_backward;
use super::{Session, TrainError, batch_at, sample_text, save, seed_step};
use crate::app::checkpoint::{RunDir, TrainState};
use crate::app::config::{RunConfig, TimeBudget};
use crate::app::eval::evaluate;
use crate::model::CharLm;
use crate::training::clip_gradients;

/// Steps the copy trains at the least (the first two, which allocate, are not timed).
const MIN_STEPS: usize = 8;
/// Share of the budget the calibration may take, and its ceiling in seconds.
const SHARE: f64 = 0.02;
const MAX_SECS: f64 = 20.0;
/// Share of the budget kept back for what is not timed.
const MARGIN: f64 = 0.02;

/// What the calibration measured and decided.
#[derive(Clone, Copy, Debug)]
pub(super) struct Calibration {
    /// Steps that fit (from the session's start).
    pub steps: usize,
    /// Mean seconds per training step.
    pub step_secs: f64,
    /// Seconds of one evaluation (validation loss and sample) with its `best` checkpoint.
    pub eval_secs: f64,
    /// Seconds of one `last` checkpoint.
    pub checkpoint_secs: f64,
    /// Seconds the calibration took, counted against the budget.
    pub secs: f64,
}

/// Times steps and an evaluation of a copy of the session's model, and fits the run into
/// `budget` (`started` is when the budget began).
pub(super) fn calibrate<B: AutodiffBackend, O: Optimizer<CharLm<B>, B> + Clone>(
    config: &RunConfig,
    run: &RunDir,
    session: &Session<B, O>,
    devices: &[B::Device],
    budget: TimeBudget,
    started: Instant,
) -> Result<Calibration, TrainError> {
    let (batch, seq) = (config.data.batch_size, config.data.seq_len);
    let mut model = session.model.clone();
    let mut optim = session.optim.clone();
    let lr = config.learning_rate(session.start, session.start + 1);
    let limit = (budget.secs() * SHARE).min(MAX_SECS);
    let mut times = Vec::new();
    let begun = Instant::now();
    let mut k = 0;
    while k < MIN_STEPS || (begun.elapsed().as_secs_f64() < limit && k < 10_000) {
        let step = session.start + k;
        let t = Instant::now();
        seed_step::<B>(devices, config.seed, step);
        let b = batch_at(config, &session.batcher, &session.corpus.train, step);
        let dropout = config.model.dropout > 0.0;
        let (loss, _, mut grads) = forward_backward(&model, &b, None, devices, dropout);
        clip_gradients::<B, _>(
            &model,
            &mut grads,
            config.clip.max_norm,
            config.clip.max_value,
        );
        model = optim.step(lr, model, grads);
        // Wait for the step to finish (GPU backends run ahead of the host).
        let _ = loss.into_data();
        if k >= 2 {
            times.push(t.elapsed().as_secs_f64());
        }
        k += 1;
    }
    // The mean, not the median: the occasional slow step (a shared machine, the allocator) is
    // part of what the run will see too; with the median, a 10-minute budget overruns to about
    // 12.5 minutes.
    let step_secs = times.iter().sum::<f64>() / times.len() as f64;

    // Two evaluations, the faster counts (the first one also allocates).
    let valid_model = model.valid();
    let mut eval_secs = f64::INFINITY;
    for _ in 0..2 {
        let t = Instant::now();
        evaluate(
            &valid_model,
            &session.corpus.valid,
            batch,
            seq,
            config.train.eval_batches,
        )?;
        if config.train.sample_length > 0 {
            sample_text(config, &valid_model, &session.corpus.vocab, session.start)?;
        }
        eval_secs = eval_secs.min(t.elapsed().as_secs_f64());
    }

    // The checkpoints, written as the run writes them, into a scratch run folder.
    let scratch = RunDir::new(run.root().join(".budget-calibration"));
    let state = TrainState {
        step: session.start,
        total_steps: session.start + 1,
        best_val_loss: None,
        val_loss: None,
        elapsed_secs: 0.0,
        seed: config.seed,
        files: Default::default(),
        vocab: None,
        corpus: None,
    };
    let t = Instant::now();
    let saved = save::save_last(&scratch, &state, &model, &optim, None);
    let checkpoint_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let saved = saved.and_then(|()| save::save_best(&scratch, &state, &model));
    let best_secs = t.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(scratch.root());
    saved?;

    let secs = started.elapsed().as_secs_f64();
    let left = (budget.secs() - secs) * (1.0 - MARGIN);
    let steps = fit(
        left,
        step_secs,
        &[
            (config.train.eval_interval, eval_secs + best_secs),
            (config.checkpoint_interval(), checkpoint_secs),
        ],
    );
    Ok(Calibration {
        steps,
        step_secs,
        eval_secs: eval_secs + best_secs,
        checkpoint_secs,
        secs,
    })
}

/// The most steps (at least 1) whose time is at most `secs`, with `(interval, seconds)` tasks
/// done every `interval` steps and once more at the end.
fn fit(secs: f64, step_secs: f64, tasks: &[(usize, f64)]) -> usize {
    let cost = |n: usize| {
        let tasks: f64 = tasks
            .iter()
            .map(|&(interval, each)| {
                (n / interval + usize::from(!n.is_multiple_of(interval))) as f64 * each
            })
            .sum();
        n as f64 * step_secs + tasks
    };
    // From the rate without the end's tasks (an upper bound) down to the first count that fits.
    let per_step = step_secs + tasks.iter().map(|&(i, each)| each / i as f64).sum::<f64>();
    let mut n = ((secs / per_step.max(1e-9)).floor() as usize).saturating_add(1);
    while n > 1 && cost(n) > secs {
        n -= 1;
    }
    n.max(1)
}

#[cfg(test)]
mod tests {
    use super::fit;

    #[test]
    fn steps_and_evaluations_fit_the_time() {
        // 100 s, 0.1 s a step, nothing else: 1000 steps.
        assert_eq!(fit(100.0, 0.1, &[(50, 0.0)]), 1000);
        // 1/8 s a step and 2.5 s per evaluation every 100 steps (15 s per 100 steps): 6 blocks
        // take 90 s, then 60 steps (7.5 s) and the final evaluation (2.5 s) fit exactly.
        assert_eq!(fit(100.0, 0.125, &[(100, 2.5)]), 660);
        // A checkpoint of 1 s every 50 steps on top: 100 steps cost 10 + 2 + 2 = 14 s.
        let cost = |n: usize| {
            n as f64 * 0.1 + (n.div_ceil(100)) as f64 * 2.0 + (n.div_ceil(50)) as f64 * 1.0
        };
        let n = fit(100.0, 0.1, &[(100, 2.0), (50, 1.0)]);
        assert!(cost(n) <= 100.0 && cost(n + 1) > 100.0, "{n}");
        // Never below one step.
        assert_eq!(fit(0.01, 1.0, &[(10, 5.0)]), 1);
    }
}
