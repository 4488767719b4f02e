//! Batches of `[batch, seq]` input ids and their next-character targets.

use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};

/// How training batches are cut from the corpus.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Batching {
    /// char-rnn's way: the text is cut into `batch` contiguous streams, read `seq` characters at
    /// a time, and the hidden state carries over between batches (truncated BPTT).
    #[default]
    Contiguous,
    /// Independent random windows each step (nanoGPT's way); the state starts at zero.
    Random,
}

/// One batch: `inputs[b * seq + t]` is followed in the text by `targets[b * seq + t]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    /// Rows `B`.
    pub batch: usize,
    /// Time steps `T`.
    pub seq: usize,
    /// Input ids, `[B, T]` row-major.
    pub inputs: Vec<i64>,
    /// Target ids, `[B, T]` row-major.
    pub targets: Vec<i64>,
}

/// Contiguous streams over `ids` (char-rnn's loader).
///
/// Row `r` reads `ids[r * L ..]` with `L = n * seq`, where `n` is the number of batches per
/// epoch; batch `k` of an epoch is the `k`-th window of `seq` characters of every row, so the
/// hidden state of batch `k` carries into batch `k + 1`.
#[derive(Clone, Debug)]
pub struct ContiguousBatcher {
    batch: usize,
    seq: usize,
    per_epoch: usize,
}

impl ContiguousBatcher {
    /// A batcher over `len` ids; `None` when the text is shorter than one batch
    /// (`batch * seq + 1` ids).
    pub fn new(len: usize, batch: usize, seq: usize) -> Option<Self> {
        let per_batch = batch.checked_mul(seq).filter(|&n| n > 0)?;
        let per_epoch = len.saturating_sub(1) / per_batch;
        (per_epoch > 0).then_some(Self {
            batch,
            seq,
            per_epoch,
        })
    }

    /// Batches in one pass over the text.
    pub fn per_epoch(&self) -> usize {
        self.per_epoch
    }

    /// Batch `k` (taken modulo [`ContiguousBatcher::per_epoch`]).
    pub fn get(&self, ids: &[u16], k: usize) -> Batch {
        let k = k % self.per_epoch;
        let row_len = self.per_epoch * self.seq;
        let mut inputs = Vec::with_capacity(self.batch * self.seq);
        let mut targets = Vec::with_capacity(self.batch * self.seq);
        for r in 0..self.batch {
            let start = r * row_len + k * self.seq;
            inputs.extend(ids[start..start + self.seq].iter().map(|&v| v as i64));
            targets.extend(
                ids[start + 1..start + self.seq + 1]
                    .iter()
                    .map(|&v| v as i64),
            );
        }
        Batch {
            batch: self.batch,
            seq: self.seq,
            inputs,
            targets,
        }
    }
}

/// `batch` random windows of `seq + 1` ids, drawn with a generator seeded by `(seed, step)`, so
/// that step `s` gets the same batch whether or not the run was resumed.
///
/// # Panics
/// If `ids` holds fewer than `seq + 1` ids.
pub fn random_batch(ids: &[u16], batch: usize, seq: usize, seed: u64, step: u64) -> Batch {
    assert!(ids.len() > seq, "text shorter than one window");
    let mut rng = StdRng::seed_from_u64(seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut inputs = Vec::with_capacity(batch * seq);
    let mut targets = Vec::with_capacity(batch * seq);
    for _ in 0..batch {
        let start = rng.random_range(0..ids.len() - seq);
        inputs.extend(ids[start..start + seq].iter().map(|&v| v as i64));
        targets.extend(ids[start + 1..start + seq + 1].iter().map(|&v| v as i64));
    }
    Batch {
        batch,
        seq,
        inputs,
        targets,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contiguous_streams_continue_across_batches() {
        let ids: Vec<u16> = (0..25).collect();
        let b = ContiguousBatcher::new(ids.len(), 2, 3).unwrap();
        assert_eq!(b.per_epoch(), 4); // 24 / 6
        let first = b.get(&ids, 0);
        let second = b.get(&ids, 1);
        assert_eq!(first.inputs, vec![0, 1, 2, 12, 13, 14]);
        assert_eq!(first.targets, vec![1, 2, 3, 13, 14, 15]);
        assert_eq!(second.inputs, vec![3, 4, 5, 15, 16, 17]);
        assert_eq!(b.get(&ids, 4), first);
        assert!(ContiguousBatcher::new(6, 2, 3).is_none());
    }

    #[test]
    fn random_batches_depend_on_seed_and_step_only() {
        let ids: Vec<u16> = (0..1000).map(|i| (i % 50) as u16).collect();
        let a = random_batch(&ids, 4, 10, 7, 3);
        assert_eq!(a, random_batch(&ids, 4, 10, 7, 3));
        assert_ne!(a, random_batch(&ids, 4, 10, 7, 4));
        for (x, y) in a.inputs.iter().zip(&a.targets) {
            assert_eq!((x + 1) % 50, *y);
        }
    }
}
