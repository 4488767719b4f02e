//! Text generation: a prime, then one step at a time with the carried hidden state (the prefix
//! is never re-run), drawing each character with temperature, top-k and top-p, or greedily.

use burn::tensor::{Int, Tensor, TensorData, backend::Backend};
use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::data::{CorpusError, Vocab};
use crate::model::CharLm;

/// How the next character is drawn from the logits.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplingOptions {
    /// Divides the logits; below 1 sharpens, above 1 flattens. Must be above 0.
    pub temperature: f64,
    /// Keep only the `k` most likely characters.
    pub top_k: Option<usize>,
    /// Keep the smallest set of most likely characters whose probability reaches `p` (nucleus).
    pub top_p: Option<f64>,
    /// Always take the most likely character.
    pub argmax: bool,
}

impl Default for SamplingOptions {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            top_k: None,
            top_p: None,
            argmax: false,
        }
    }
}

impl SamplingOptions {
    /// Checks the ranges; the message names the option.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return Err(format!(
                "--temperature must be above 0, found {}",
                self.temperature
            ));
        }
        if self.top_k == Some(0) {
            return Err("--top-k must be at least 1, found 0".into());
        }
        if let Some(p) = self.top_p
            && !(p > 0.0 && p <= 1.0)
        {
            return Err(format!("--top-p must be in (0, 1], found {p}"));
        }
        Ok(())
    }
}

/// A seeded sampler, kept apart from the model.
#[derive(Clone, Debug)]
pub struct Sampler {
    options: SamplingOptions,
    rng: StdRng,
}

impl Sampler {
    /// A sampler drawing with `options` from a generator seeded by `seed`.
    pub fn new(options: SamplingOptions, seed: u64) -> Self {
        Self {
            options,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// Picks an id from `logits` (`[V]`).
    pub fn pick(&mut self, logits: &[f32]) -> usize {
        let argmax = || {
            logits
                .iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
                    if v > best.1 { (i, v) } else { best }
                })
                .0
        };
        if self.options.argmax {
            return argmax();
        }
        let t = self.options.temperature;
        let max = logits
            .iter()
            .fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
        let mut probs: Vec<(usize, f64)> = logits
            .iter()
            .map(|&v| ((v as f64 - max) / t).exp())
            .enumerate()
            .collect();
        probs.sort_by(|a, b| b.1.total_cmp(&a.1));
        if let Some(k) = self.options.top_k {
            probs.truncate(k.max(1));
        }
        let total: f64 = probs.iter().map(|p| p.1).sum();
        if let Some(p) = self.options.top_p {
            let mut acc = 0.0;
            let keep = probs
                .iter()
                .position(|x| {
                    acc += x.1 / total;
                    acc >= p
                })
                .map_or(probs.len(), |i| i + 1);
            probs.truncate(keep);
        }
        let total: f64 = probs.iter().map(|p| p.1).sum();
        if !(total > 0.0 && total.is_finite()) {
            return argmax();
        }
        let mut u = self.rng.random::<f64>() * total;
        for (id, p) in &probs {
            if u < *p {
                return *id;
            }
            u -= p;
        }
        probs.last().map_or(0, |p| p.0)
    }
}

/// Generates `length` characters after `prime`, calling `emit` for each as it is produced, and
/// returns them. An empty prime starts from a newline (or the first character of the
/// vocabulary when it has no newline).
pub fn generate<B: Backend>(
    model: &CharLm<B>,
    vocab: &Vocab,
    prime: &str,
    length: usize,
    sampler: &mut Sampler,
    mut emit: impl FnMut(char),
) -> Result<String, CorpusError> {
    let device = model.embedding.weight.device();
    let prime_ids = if prime.is_empty() {
        vec![vocab.id('\n').unwrap_or(0)]
    } else {
        vocab.encode(prime, "the prime text")?
    };
    let ids: Vec<i64> = prime_ids.iter().map(|&v| v as i64).collect();
    let n = ids.len();
    let input = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [1, n]), &device);
    let (logits, mut state) = model.forward(input, None);
    let v = vocab.len();
    let mut last: Vec<f32> = logits
        .slice([0..1, n - 1..n, 0..v])
        .into_data()
        .convert::<f32>()
        .to_vec()
        .expect("f32 logits");
    let mut out = String::with_capacity(length);
    for _ in 0..length {
        let id = sampler.pick(&last);
        let c = vocab.char(id);
        emit(c);
        out.push(c);
        let input = Tensor::<B, 1, Int>::from_data(TensorData::new(vec![id as i64], [1]), &device);
        let (logits, next) = model.step(input, Some(state));
        state = next;
        last = logits
            .into_data()
            .convert::<f32>()
            .to_vec()
            .expect("f32 logits");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_and_top_k_one_agree() {
        let logits = [0.1, 2.0, -1.0, 1.9];
        let mut a = Sampler::new(
            SamplingOptions {
                argmax: true,
                ..Default::default()
            },
            0,
        );
        let mut k = Sampler::new(
            SamplingOptions {
                top_k: Some(1),
                ..Default::default()
            },
            0,
        );
        for _ in 0..20 {
            assert_eq!(a.pick(&logits), 1);
            assert_eq!(k.pick(&logits), 1);
        }
    }

    #[test]
    fn top_p_keeps_the_nucleus() {
        // Probabilities ~ [0.0, 0.5, 0.0, 0.5]: top-p 0.4 keeps only the first of the two.
        let logits = [-30.0, 5.0, -30.0, 4.999];
        let mut s = Sampler::new(
            SamplingOptions {
                top_p: Some(0.4),
                ..Default::default()
            },
            3,
        );
        for _ in 0..50 {
            assert_eq!(s.pick(&logits), 1);
        }
    }

    #[test]
    fn temperature_sampling_follows_the_distribution() {
        let logits = [0.0f32, (3.0f32).ln()]; // p = [0.25, 0.75]
        let mut s = Sampler::new(SamplingOptions::default(), 11);
        let ones = (0..4000).filter(|_| s.pick(&logits) == 1).count();
        assert!((2800..3200).contains(&ones), "{ones}");
    }

    #[test]
    fn options_are_checked() {
        let bad = [
            SamplingOptions {
                temperature: 0.0,
                ..Default::default()
            },
            SamplingOptions {
                top_k: Some(0),
                ..Default::default()
            },
            SamplingOptions {
                top_p: Some(1.5),
                ..Default::default()
            },
        ];
        for o in bad {
            assert!(o.validate().is_err());
        }
    }
}
