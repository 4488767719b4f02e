//! The benchmark workloads of the PyTorch reference (`bench/pytorch_bench.py`), defined once here, and their
//! measurement: training tokens/s (forward, cross-entropy at every step, backward, global-norm
//! clipping at 5, Adam 2e-3, random windows; 3 warm-up steps, then at least `min_steps` steps
//! and `seconds`), and sampling chars/s (model M, batch 1, one character at a time).
//!
//! Output lines have the reference's form, so both can be read side by side:
//! `RESULT burn-M train steps=.. median_step_s=.. tok_per_s_median=.. min=.. max=.. last_loss=..`

use std::time::Instant;

use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Tensor};

use crate::cell::CellKind;
use crate::data::random_batch;
use crate::layer::RecurrentConfig;
use crate::model::{CharLm, CharLmConfig, ids_tensor};
use crate::sample::{HostLm, Sampler, SamplingOptions};
use crate::training::clip_gradients;

/// One benchmark workload: a character-level model and its batch shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Workload {
    /// `S`, `M`, `L` or `G`.
    pub name: &'static str,
    /// The cell.
    pub cell: CellKind,
    /// Stacked layers.
    pub layers: usize,
    /// Hidden size.
    pub hidden: usize,
    /// Embedding size.
    pub embedding: usize,
    /// Sequence length `T`.
    pub seq: usize,
    /// Batch size `B`.
    pub batch: usize,
}

/// The workloads, identical to `pytorch_bench.py`'s `CFGS`.
pub const WORKLOADS: [Workload; 4] = [
    Workload {
        name: "S",
        cell: CellKind::Rnn,
        layers: 1,
        hidden: 128,
        embedding: 64,
        seq: 50,
        batch: 32,
    },
    Workload {
        name: "M",
        cell: CellKind::Lstm,
        layers: 2,
        hidden: 128,
        embedding: 64,
        seq: 50,
        batch: 50,
    },
    Workload {
        name: "L",
        cell: CellKind::Lstm,
        layers: 2,
        hidden: 512,
        embedding: 128,
        seq: 100,
        batch: 64,
    },
    Workload {
        name: "G",
        cell: CellKind::Gru,
        layers: 2,
        hidden: 256,
        embedding: 64,
        seq: 64,
        batch: 32,
    },
];

impl Workload {
    /// The workload called `name` (case-insensitive).
    pub fn find(name: &str) -> Option<Workload> {
        WORKLOADS
            .into_iter()
            .find(|w| w.name.eq_ignore_ascii_case(name))
    }

    /// Its model config for a vocabulary of `vocab` characters.
    pub fn model(&self, vocab: usize, fused: bool) -> CharLmConfig {
        CharLmConfig::new(
            vocab,
            self.embedding,
            RecurrentConfig::new(self.cell, self.embedding, self.hidden)
                .with_num_layers(self.layers)
                .with_fused(fused),
        )
    }
}

/// How long to time each training workload, and on which path.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Seconds of timed steps (after 3 warm-up steps).
    pub seconds: f64,
    /// Timed steps at least.
    pub min_steps: usize,
    /// The fused recurrence (`false`: Burn's autodiff through every step).
    pub fused: bool,
}

/// Training throughput of one workload.
#[derive(Clone, Debug)]
pub struct TrainBench {
    /// Timed steps.
    pub steps: usize,
    /// Median seconds per step.
    pub median_step_secs: f64,
    /// Tokens per second at the median, slowest and fastest step.
    pub tokens_per_sec: (f64, f64, f64),
    /// The loss of the last step.
    pub last_loss: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Times training steps of `workload` on `ids` (a corpus of `vocab` characters): 3 warm-up steps,
/// then at least `min_steps` steps and `seconds` seconds (at most 60 s once 5 steps are done).
/// The loop runs on a thread of Rayon's pool, as [`crate::train::train`]'s does.
pub fn bench_train<B: AutodiffBackend>(
    workload: Workload,
    ids: &[u16],
    vocab: usize,
    timing: &Timing,
    device: &B::Device,
) -> TrainBench {
    rayon::scope(|_| bench_train_here::<B>(workload, ids, vocab, timing, device))
}

fn bench_train_here<B: AutodiffBackend>(
    workload: Workload,
    ids: &[u16],
    vocab: usize,
    timing: &Timing,
    device: &B::Device,
) -> TrainBench {
    let Timing {
        seconds,
        min_steps,
        fused,
    } = *timing;
    B::seed(device, 0);
    let mut model: CharLm<B> = workload.model(vocab, fused).init(device);
    let mut optim = AdamConfig::new().init::<B, CharLm<B>>();
    let (batch, seq) = (workload.batch, workload.seq);
    let mut step = |i: u64, model: CharLm<B>| -> (CharLm<B>, Tensor<B, 1>) {
        let b = random_batch(ids, batch, seq, 0, i);
        let (logits, _) = model.forward(ids_tensor(&b.inputs, batch, seq, device), None);
        let loss = model.loss(logits, ids_tensor(&b.targets, batch, seq, device));
        let mut grads = GradientsParams::from_grads(loss.backward(), &model);
        clip_gradients::<B, _>(&model, &mut grads, 5.0, 0.0);
        (optim.step(2e-3, model, grads), loss)
    };
    for i in 0..3 {
        let (m, loss) = step(i, model);
        model = m;
        let _: f64 = loss.into_scalar().elem();
    }
    let mut times = Vec::new();
    let start = Instant::now();
    let mut last_loss;
    let mut i = 3;
    loop {
        let t0 = Instant::now();
        let (m, loss) = step(i, model);
        model = m;
        // Reading the loss waits for the step to finish (as `.item()` does in the reference).
        last_loss = loss.into_scalar().elem();
        times.push(t0.elapsed().as_secs_f64());
        i += 1;
        let elapsed = start.elapsed().as_secs_f64();
        if (times.len() >= min_steps && elapsed >= seconds)
            || (times.len() >= 5 && elapsed >= seconds.max(60.0))
            || times.len() >= 5000
        {
            break;
        }
    }
    let tokens = (batch * seq) as f64;
    let slowest = times.iter().cloned().fold(0.0, f64::max);
    let fastest = times.iter().cloned().fold(f64::INFINITY, f64::min);
    let med = median(times.clone());
    TrainBench {
        steps: times.len(),
        median_step_secs: med,
        tokens_per_sec: (tokens / med, tokens / slowest, tokens / fastest),
        last_loss,
    }
}

/// Sampling throughput: model M, batch 1, `chars` characters one step at a time with the carried
/// state, as `burn-rnn sample` generates (the weights copied to the host once per run, inside
/// the timing); median, min and max chars/s over `reps` runs after one warm-up run.
pub fn bench_sample<B: Backend>(
    vocab: usize,
    chars: usize,
    reps: usize,
    device: &B::Device,
) -> (f64, f64, f64) {
    B::seed(device, 0);
    let model: CharLm<B> = WORKLOADS[1].model(vocab, true).init(device);
    let run = || {
        let mut sampler = Sampler::new(SamplingOptions::default(), 0);
        let t0 = Instant::now();
        let mut lm = HostLm::from_model(&model);
        let mut id = 0usize;
        for _ in 0..chars {
            id = sampler.pick(lm.step(id));
        }
        chars as f64 / t0.elapsed().as_secs_f64()
    };
    run();
    let rates: Vec<f64> = (0..reps).map(|_| run()).collect();
    let min = rates.iter().cloned().fold(f64::INFINITY, f64::min);
    let max = rates.iter().cloned().fold(0.0, f64::max);
    (median(rates), min, max)
}

/// Peak resident memory of this process so far, in MiB (Linux `VmHWM`), if known.
pub fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// What `bench` measures: a training workload, or sampling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Training tokens/s of a workload.
    Train(Workload),
    /// Sampling chars/s (model M, batch 1).
    Sample,
}

impl Target {
    /// `S`, `M`, `L`, `G`, `sample` or `all` (case-insensitive).
    pub fn parse(name: &str) -> Result<Vec<Target>, String> {
        if name.eq_ignore_ascii_case("all") {
            let mut all: Vec<Target> = WORKLOADS.into_iter().map(Target::Train).collect();
            all.push(Target::Sample);
            return Ok(all);
        }
        if name.eq_ignore_ascii_case("sample") {
            return Ok(vec![Target::Sample]);
        }
        Workload::find(name)
            .map(|w| vec![Target::Train(w)])
            .ok_or_else(|| format!("--workload {name}: expected S, M, L, G, sample or all"))
    }
}

/// One measurement, printed as a `RESULT` line in the reference script's form.
#[derive(Clone, Debug)]
pub enum BenchResult {
    /// A training workload.
    Train(Workload, TrainBench),
    /// Sampling: median, min and max chars/s.
    Sample(f64, f64, f64),
}

impl std::fmt::Display for BenchResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let peak = peak_memory_mib().unwrap_or(f64::NAN);
        match self {
            BenchResult::Train(w, r) => write!(
                f,
                "RESULT burn-{} train steps={} median_step_s={:.5} tok_per_s_median={:.0} min={:.0} max={:.0} last_loss={:.3} peak_mem_mib={peak:.0}",
                w.name,
                r.steps,
                r.median_step_secs,
                r.tokens_per_sec.0,
                r.tokens_per_sec.1,
                r.tokens_per_sec.2,
                r.last_loss,
            ),
            BenchResult::Sample(med, min, max) => write!(
                f,
                "RESULT burn-M sample chars_per_s_median={med:.0} min={min:.0} max={max:.0} peak_mem_mib={peak:.0}"
            ),
        }
    }
}

/// Measures each target in turn on `ids` (a corpus of `vocab` characters), handing each result
/// to `report` as soon as it is measured.
pub fn run<B: AutodiffBackend>(
    targets: &[Target],
    ids: &[u16],
    vocab: usize,
    timing: &Timing,
    device: &B::Device,
    mut report: impl FnMut(BenchResult),
) {
    for target in targets {
        report(match *target {
            Target::Train(w) => {
                BenchResult::Train(w, bench_train::<B>(w, ids, vocab, timing, device))
            }
            Target::Sample => {
                let (med, min, max) = bench_sample::<B::InnerBackend>(vocab, 2000, 5, device);
                BenchResult::Sample(med, min, max)
            }
        });
    }
}
