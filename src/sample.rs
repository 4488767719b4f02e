//! Text generation: a prime, then one step at a time with the carried hidden state (the prefix
//! is never re-run), drawing each character with temperature, top-k and top-p, or greedily.

use burn::tensor::{Tensor, backend::Backend};
use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::cell::{Activation, CellKind, RecurrentCell};
use crate::data::{CorpusError, Vocab};
use crate::kernels::Real;
use crate::kernels::recurrence::{blocks4_mut, gru_forward, lstm_forward};
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
/// returns them. The state is carried from step to step (the prefix is never re-run) on the
/// host copy of the model ([`HostLm`]). An empty prime starts from a newline (or the first
/// character of the vocabulary when it has no newline).
pub fn generate<B: Backend>(
    model: &CharLm<B>,
    vocab: &Vocab,
    prime: &str,
    length: usize,
    sampler: &mut Sampler,
    mut emit: impl FnMut(char),
) -> Result<String, CorpusError> {
    // Grows as it goes: `length` may be larger than what fits in memory at once.
    let mut out = String::with_capacity(length.min(1 << 20));
    generate_streaming(model, vocab, prime, length, sampler, |c| {
        emit(c);
        out.push(c);
        true
    })?;
    Ok(out)
}

/// [`generate`] without keeping the text: `emit` gets each character and returns whether to go
/// on (`false` stops, e.g. when the output is gone). Returns the number of characters emitted.
pub fn generate_streaming<B: Backend>(
    model: &CharLm<B>,
    vocab: &Vocab,
    prime: &str,
    length: usize,
    sampler: &mut Sampler,
    mut emit: impl FnMut(char) -> bool,
) -> Result<usize, CorpusError> {
    let prime_ids = if prime.is_empty() {
        vec![vocab.id('\n').unwrap_or(0)]
    } else {
        vocab.encode(prime, "the prime text")?
    };
    let mut lm = HostLm::from_model(model);
    let (last, rest) = prime_ids.split_last().expect("a non-empty prime");
    for &id in rest {
        lm.step(id as usize);
    }
    let mut id = sampler.pick(lm.step(*last as usize));
    for k in 0..length {
        if !emit(vocab.char(id)) {
            return Ok(k + 1);
        }
        if k + 1 < length {
            id = sampler.pick(lm.step(id));
        }
    }
    Ok(length)
}

/// The model's weights on the host, for generation one character at a time (batch 1): weights
/// copied once, every step is matrix-vector products into preallocated buffers, no autodiff
/// and no allocation. Any backend's model can be copied here; the ndarray kernel's f32 `tanh`
/// is used, so logits match the model's to about 1e-6.
#[derive(Clone, Debug)]
pub struct HostLm {
    vocab: usize,
    embedding: Vec<f32>,
    emb_size: usize,
    layers: Vec<HostLayer>,
    head_w: Vec<f32>,
    head_b: Vec<f32>,
    logits: Vec<f32>,
    /// The input of the next layer.
    buf: Vec<f32>,
}

#[derive(Clone, Debug)]
struct HostLayer {
    kind: CellKind,
    activation: Activation,
    input: usize,
    hidden: usize,
    /// `[input, G*H]`, `[hidden, G*H]`.
    w_ih: Vec<f32>,
    w_hh: Vec<f32>,
    /// RNN/LSTM: `b_ih + b_hh`; GRU: `b_ih`.
    b_x: Vec<f32>,
    /// GRU: `b_hh`.
    b_h: Vec<f32>,
    h: Vec<f32>,
    c: Vec<f32>,
    gx: Vec<f32>,
    gh: Vec<f32>,
}

fn host<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .expect("f32")
}

/// `out += x W` for `x: [n]`, `w: [n, m]` row-major.
fn matvec_add(x: &[f32], w: &[f32], out: &mut [f32]) {
    let m = out.len();
    for (i, &xi) in x.iter().enumerate() {
        if xi != 0.0 {
            for (o, wv) in out.iter_mut().zip(&w[i * m..(i + 1) * m]) {
                *o += xi * wv;
            }
        }
    }
}

impl HostLm {
    /// Copies `model`'s weights to the host, with a zero state.
    pub fn from_model<B: Backend>(model: &CharLm<B>) -> Self {
        let [vocab, emb_size] = model.embedding.weight.dims();
        let layers = model
            .rnn
            .cells
            .iter()
            .map(|cell| {
                let w = cell.weights();
                let kind = cell.kind();
                let [input, gh] = w.weight_ih.dims();
                let hidden = w.weight_hh.dims()[0];
                let b_ih = w
                    .bias_ih
                    .as_ref()
                    .map(|b| host(b.val()))
                    .unwrap_or(vec![0.0; gh]);
                let b_hh = w
                    .bias_hh
                    .as_ref()
                    .map(|b| host(b.val()))
                    .unwrap_or(vec![0.0; gh]);
                let (b_x, b_h) = if kind == CellKind::Gru {
                    (b_ih, b_hh)
                } else {
                    (
                        b_ih.iter().zip(&b_hh).map(|(a, b)| a + b).collect(),
                        vec![0.0; gh],
                    )
                };
                HostLayer {
                    kind,
                    activation: cell.activation(),
                    input,
                    hidden,
                    w_ih: host(w.weight_ih.val()),
                    w_hh: host(w.weight_hh.val()),
                    b_x,
                    b_h,
                    h: vec![0.0; hidden],
                    c: vec![0.0; hidden],
                    gx: vec![0.0; gh],
                    gh: vec![0.0; gh],
                }
            })
            .collect();
        Self {
            vocab,
            embedding: host(model.embedding.weight.val()),
            emb_size,
            layers,
            head_w: host(model.head.weight.val()),
            head_b: model
                .head
                .bias
                .as_ref()
                .map(|b| host(b.val()))
                .unwrap_or(vec![0.0; vocab]),
            logits: vec![0.0; vocab],
            buf: Vec::new(),
        }
    }

    /// Feeds character `id` and returns the logits `[V]` for the next one.
    pub fn step(&mut self, id: usize) -> &[f32] {
        let mut input = std::mem::take(&mut self.buf);
        let mut x: &[f32] = &self.embedding[id * self.emb_size..(id + 1) * self.emb_size];
        for (k, l) in self.layers.iter_mut().enumerate() {
            if k > 0 {
                x = &input;
            }
            debug_assert_eq!(x.len(), l.input);
            let h = l.hidden;
            // The gate pre-activations: the input part in gx, the recurrent part in gh (the GRU
            // keeps them apart for r * (W_hn h + b_hn); the others add them up in gx).
            l.gx.copy_from_slice(&l.b_x);
            matvec_add(x, &l.w_ih, &mut l.gx);
            l.gh.copy_from_slice(&l.b_h);
            matvec_add(&l.h, &l.w_hh, &mut l.gh);
            if l.kind != CellKind::Gru {
                for (a, b) in l.gx.iter_mut().zip(&l.gh) {
                    *a += *b;
                }
            }
            match (l.kind, l.activation) {
                (CellKind::Rnn, Activation::Tanh) => {
                    for (h, g) in l.h.iter_mut().zip(&l.gx) {
                        *h = Real::tanh(*g);
                    }
                }
                (CellKind::Rnn, Activation::Relu) => {
                    for (h, g) in l.h.iter_mut().zip(&l.gx) {
                        *h = g.max(0.0);
                    }
                }
                (CellKind::Lstm, _) => {
                    let [gi, gf, gg, go] = blocks4_mut(&mut l.gx, h);
                    lstm_forward(gi, gf, gg, go, &mut l.c, &mut l.h);
                }
                (CellKind::Gru, _) => {
                    let (x, r) = (&l.gx, &l.gh);
                    let (xr, xz, xn) = (&x[..h], &x[h..2 * h], &x[2 * h..]);
                    let (hr, hz, hn) = (&r[..h], &r[h..2 * h], &r[2 * h..]);
                    gru_forward(xr, xz, xn, hr, hz, hn, &mut l.h);
                }
            }
            input.clear();
            input.extend_from_slice(&l.h);
            x = &[];
        }
        self.buf = input;
        let top = &self.layers.last().expect("at least one layer").h;
        self.logits.copy_from_slice(&self.head_b);
        matvec_add(top, &self.head_w, &mut self.logits);
        debug_assert_eq!(self.logits.len(), self.vocab);
        &self.logits
    }
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

    /// The host copy gives the logits of `CharLm::step`, for every cell.
    #[test]
    fn host_steps_match_the_model() {
        use crate::layer::RecurrentConfig;
        use crate::model::CharLmConfig;
        use burn::backend::NdArray;
        use burn::tensor::{Int, TensorData};
        let device = Default::default();
        for (kind, act) in [
            (crate::CellKind::Lstm, Activation::Tanh),
            (crate::CellKind::Gru, Activation::Tanh),
            (crate::CellKind::Rnn, Activation::Relu),
        ] {
            let model = CharLmConfig::new(
                11,
                5,
                RecurrentConfig::new(kind, 5, 7)
                    .with_num_layers(2)
                    .with_activation(act),
            )
            .init::<NdArray>(&device);
            let mut lm = HostLm::from_model(&model);
            let mut state = None;
            for id in [3usize, 0, 10, 4, 4, 7] {
                let ids = Tensor::<NdArray, 1, Int>::from_data(
                    TensorData::new(vec![id as i64], [1]),
                    &device,
                );
                let (logits, next) = model.step(ids, state);
                state = Some(next);
                let expected = host(logits);
                let got = lm.step(id).to_vec();
                for (a, b) in got.iter().zip(&expected) {
                    assert!((a - b).abs() < 1e-5, "{kind:?}: {a} vs {b}");
                }
            }
        }
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
