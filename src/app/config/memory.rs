//! Whether a model and batch fit in the machine's memory, before training starts.

use super::{ConfigError, RunConfig, invalid};

/// The machine's memory in bytes (`MemTotal` of `/proc/meminfo`), when known.
pub fn total_memory() -> Option<f64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0)
}

impl RunConfig {
    /// About how many bytes training this config takes: the parameters with their gradients
    /// and Adam's two moments, and one batch's activations and their gradients (a vocabulary of
    /// 256 characters assumed). Returns `(parameters' share, activations' share)`.
    pub fn estimated_training_bytes(&self) -> (f64, f64) {
        let m = &self.model;
        let (e, h) = (m.embedding_size as f64, m.hidden_size as f64);
        let gates = m.cell.gates() as f64;
        let vocab = 256.0;
        let mut params = vocab * e + h * vocab + vocab;
        for layer in 0..m.num_layers {
            let input = if layer == 0 { e } else { h };
            params += gates * h * (input + h + 2.0);
        }
        let tokens = self.data.batch_size as f64 * self.data.seq_len as f64;
        let activations = tokens * (m.num_layers as f64 * h * (gates + 2.0) + e + 3.0 * vocab);
        (4.0 * 4.0 * params, 2.0 * 4.0 * activations)
    }

    /// Refuses a model and batch that cannot fit in `memory` bytes (when known), naming the key
    /// that weighs most.
    pub fn check_memory(&self, memory: Option<f64>) -> Result<(), ConfigError> {
        let Some(memory) = memory else {
            return Ok(());
        };
        let (params, activations) = self.estimated_training_bytes();
        if params + activations <= memory {
            return Ok(());
        }
        let key = if params >= activations {
            "model.hidden_size"
        } else {
            "data.batch_size"
        };
        let gib = |b: f64| b / (1u64 << 30) as f64;
        Err(invalid(
            key,
            format!(
                "model.hidden_size = {}, model.num_layers = {}, data.batch_size x data.seq_len = {} x {}: training needs about {:.1} GiB (parameters, gradients and Adam's moments {:.1} GiB, one batch's activations {:.1} GiB), more than this machine's {:.1} GiB of memory",
                self.model.hidden_size,
                self.model.num_layers,
                self.data.batch_size,
                self.data.seq_len,
                gib(params + activations),
                gib(params),
                gib(activations),
                gib(memory)
            ),
        ))
    }
}
