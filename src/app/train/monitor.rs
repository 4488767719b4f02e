//! What training watches between log lines: the mean loss of the window (read to the host only
//! at log steps), the throughput, and char-rnn's stop rules (a non-finite loss, or a loss above
//! three times a uniform guess).

use std::time::Instant;

use burn::tensor::{ElementConversion, Tensor, backend::Backend};

use super::TrainError;

/// The losses since the last log line, kept on the device.
pub(super) struct LossWindow<B: Backend> {
    sum: Option<Tensor<B, 1>>,
    count: usize,
    tokens: usize,
    start: Instant,
    /// 3 ln V: char-rnn stops when the loss exceeds three times its start, and a fresh model
    /// starts near ln V (a uniform guess), which also serves a resumed run.
    blow_up: f64,
}

/// What a window measured.
pub(super) struct WindowMean {
    /// Mean training loss.
    pub loss: f64,
    /// Training tokens per second.
    pub tokens_per_sec: f64,
}

impl<B: Backend> LossWindow<B> {
    /// An empty window for a model over `vocab` characters.
    pub(super) fn new(vocab: usize) -> Self {
        Self {
            sum: None,
            count: 0,
            tokens: 0,
            start: Instant::now(),
            blow_up: 3.0 * (vocab as f64).ln().max(1.0),
        }
    }

    /// Adds a step's loss (on the device, not read) and its tokens.
    pub(super) fn add(&mut self, loss: Tensor<B, 1>, tokens: usize) {
        self.sum = Some(match self.sum.take() {
            Some(s) => s + loss,
            None => loss,
        });
        self.count += 1;
        self.tokens += tokens;
    }

    /// Reads the mean loss of the window and starts a new one; a loss that is not finite, or
    /// that blew up, stops training at `step`.
    pub(super) fn take(&mut self, step: usize) -> Result<WindowMean, TrainError> {
        let sum: f64 = self.sum.take().expect("a loss").into_scalar().elem();
        let loss = sum / self.count as f64;
        if !loss.is_finite() {
            return Err(TrainError::Diverged {
                what: format!("the training loss became {loss}"),
                step,
                kept: false,
            });
        }
        if loss > self.blow_up {
            return Err(TrainError::Diverged {
                what: format!(
                    "the training loss blew up to {loss:.4e} (more than 3 ln V = {:.2}, three times a uniform guess)",
                    self.blow_up
                ),
                step,
                kept: false,
            });
        }
        let secs = self.start.elapsed().as_secs_f64();
        let tokens_per_sec = self.tokens as f64 / secs.max(1e-9);
        self.count = 0;
        self.tokens = 0;
        self.start = Instant::now();
        Ok(WindowMean {
            loss,
            tokens_per_sec,
        })
    }
}
