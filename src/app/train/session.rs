//! Opening a training session: the checks that must pass before the run folder is touched
//! (folder state, corpus, batch and split sizes), then the folder, the model and the optimiser,
//! fresh or restored from the `last` checkpoint.

use burn::module::Module;
use burn::optim::Optimizer;
use burn::tensor::backend::AutodiffBackend;

use super::resume::{Restored, check_resumable, restore};
use super::{TrainError, TrainOptions};
use crate::app::checkpoint::RunLock;
use crate::app::config::RunConfig;
use crate::app::run::{model_config, read_vocab};
use crate::data::{ContiguousBatcher, Corpus};
use crate::layer::RecurrentState;
use crate::model::CharLm;

/// Everything a training session starts from.
pub(super) struct Session<B: AutodiffBackend, O> {
    pub corpus: Corpus,
    pub batcher: ContiguousBatcher,
    /// Steps of the whole run; `None` until a time budget is calibrated.
    pub total: Option<usize>,
    pub model: CharLm<B>,
    pub optim: O,
    /// The first step of this session (0, or the checkpoint's).
    pub start: usize,
    /// The best validation loss so far.
    pub best: Option<f64>,
    /// Training seconds of earlier sessions.
    pub elapsed_before: f64,
    /// The hidden state carried into the next batch.
    pub carry: Option<RecurrentState<B>>,
    /// This process's hold on the run folder, for the whole session.
    pub lock: RunLock,
}

/// Takes the run folder (no other training or import may write it meanwhile), checks, then
/// creates or restores the run.
pub(super) fn open<B: AutodiffBackend, O: Optimizer<CharLm<B>, B>>(
    config: &RunConfig,
    options: &TrainOptions,
    device: &B::Device,
    optim: O,
) -> Result<Session<B, O>, TrainError> {
    let mut lock = Some(options.run.lock("train")?);
    let session = open_locked(config, options, device, optim, &mut lock);
    if session.is_err()
        && let Some(lock) = lock
    {
        lock.release_unused();
    }
    session
}

/// [`open`] with the folder held (`lock` moves into the session).
fn open_locked<B: AutodiffBackend, O: Optimizer<CharLm<B>, B>>(
    config: &RunConfig,
    options: &TrainOptions,
    device: &B::Device,
    optim: O,
    lock: &mut Option<RunLock>,
) -> Result<Session<B, O>, TrainError> {
    let run = &options.run;
    let folder = || run.root().display().to_string();
    if run.holds_run() && !options.resume && !options.force {
        return Err(TrainError::RunExists(folder()));
    }
    if options.resume && !run.has_checkpoint("last") {
        return Err(TrainError::NothingToResume {
            run: folder(),
            expected: run.checkpoint_dir("last").display().to_string(),
        });
    }
    if options.resume {
        check_resumable(run, config)?;
    }
    // On resume, the run's own vocabulary.
    let vocab = options.resume.then(|| read_vocab(run)).transpose()?;
    let corpus = Corpus::load(&config.data.path, config.data.validation_fraction, vocab)?;
    let (batch, seq) = (config.data.batch_size, config.data.seq_len);
    let corpus_name = || config.data.path.display().to_string();
    let batcher = ContiguousBatcher::new(corpus.train.len(), batch, seq).ok_or_else(|| {
        TrainError::TrainingSplitTooSmall {
            batch,
            seq,
            corpus: corpus_name(),
            found: corpus.train.len(),
            needed: batch.saturating_mul(seq).saturating_add(1),
        }
    })?;
    if corpus.valid.len() <= seq {
        return Err(TrainError::ValidationSplitTooSmall {
            seq,
            corpus: corpus_name(),
            found: corpus.valid.len(),
        });
    }
    let total = config.total_steps(batcher.per_epoch());

    // Only now, with the config and the data checked, is the run folder touched.
    if options.force && !options.resume {
        run.clear()?;
    }
    run.create()?;

    B::seed(device, config.seed);
    let model = model_config(config, corpus.vocab.len()).init::<B>(device);
    // Burn initialises parameters lazily, at their first use, from its generator as it is then,
    // and a clone of an uninitialised parameter initialises on its own: draw them all now, from
    // the config's seed, whatever runs first (a time budget's calibration trains a clone).
    model.visit(&mut Materialize);
    let mut session = Session {
        corpus,
        batcher,
        total,
        model,
        optim,
        start: 0,
        best: None,
        elapsed_before: 0.0,
        carry: None,
        lock: lock.take().expect("the lock, taken once"),
    };
    if options.resume {
        let Restored {
            model,
            optim,
            carry,
            state,
        } = restore(
            run,
            session.model,
            session.optim,
            &session.corpus.vocab,
            device,
        )?;
        if let Some(stop) = options.stop_after
            && stop <= state.step
        {
            return Err(TrainError::StopAfterReached {
                stop,
                step: state.step,
            });
        }
        session = Session {
            model,
            optim,
            carry,
            start: state.step,
            best: state.best_val_loss,
            elapsed_before: state.elapsed_secs,
            ..session
        };
    }
    let vocab_json = session.corpus.vocab.to_json();
    run.write_run_files(&config.to_toml(), &vocab_json, !options.resume)?;
    Ok(session)
}

/// Initialises every parameter of a module (reading a parameter initialises it).
struct Materialize;

impl<B: burn::tensor::backend::Backend> burn::module::ModuleVisitor<B> for Materialize {
    fn visit_float<const D: usize>(
        &mut self,
        param: &burn::module::Param<burn::tensor::Tensor<B, D>>,
    ) {
        let _ = param.val();
    }
}
