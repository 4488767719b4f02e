//! The learning-rate schedule: linear warm-up, then constant, step, exponential or cosine.

use serde::{Deserialize, Serialize};

use super::{OptimSection, RunConfig};

/// The learning-rate schedule (after the linear warm-up).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// `lr`.
    #[default]
    Constant,
    /// `lr * decay_rate ^ floor(step / decay_steps)`.
    Step,
    /// `lr * decay_rate ^ (step / decay_steps)`.
    Exponential,
    /// Cosine from `lr` down to `min_lr` at the last step.
    Cosine,
}

impl RunConfig {
    /// The learning rate of `step` (0-based) in a run of `total` steps.
    pub fn learning_rate(&self, step: usize, total: usize) -> f64 {
        self.optim.learning_rate(step, total)
    }
}

impl OptimSection {
    /// The learning rate of `step` (0-based) in a run of `total` steps.
    pub fn learning_rate(&self, step: usize, total: usize) -> f64 {
        let o = self;
        if step < o.warmup_steps {
            return o.learning_rate * (step + 1) as f64 / o.warmup_steps as f64;
        }
        let s = (step - o.warmup_steps) as f64;
        match o.schedule {
            Schedule::Constant => o.learning_rate,
            Schedule::Step => {
                o.learning_rate * o.decay_rate.powi((s / o.decay_steps as f64).floor() as i32)
            }
            Schedule::Exponential => o.learning_rate * o.decay_rate.powf(s / o.decay_steps as f64),
            Schedule::Cosine => {
                let span = total.saturating_sub(o.warmup_steps).max(1) as f64;
                let progress = (s / span).min(1.0);
                o.min_lr
                    + 0.5
                        * (o.learning_rate - o.min_lr)
                        * (1.0 + (std::f64::consts::PI * progress).cos())
            }
        }
    }
}
