//! The benchmark workloads of the PyTorch reference (`bench/pytorch_bench.py`), defined once here, and their
//! measurement: training tokens/s (forward, cross-entropy at every step, backward, global-norm
//! clipping at 5, Adam 2e-3, random windows; 3 warm-up steps, then at least `min_steps` steps
//! and `seconds`), and sampling chars/s (model M, batch 1, one character at a time).
//!
//! Output lines have the reference's form, so both can be read side by side:
//! `RESULT burn-M train steps=.. median_step_s=.. tok_per_s_median=.. min=.. max=.. last_loss=..`

use std::time::Instant;

#[cfg(any(feature = "wgpu", feature = "cuda"))]
pub mod launches;

use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Tensor};
#[cfg(any(feature = "wgpu", feature = "cuda"))]
use launches::Launches;

use crate::app::config::ModelSection;
use crate::cell::{Activation, CellKind, InitScheme};
use crate::data::random_batch;
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

    /// Its `[model]` section: the cell and sizes, every other key at its default.
    pub fn model_section(&self) -> ModelSection {
        ModelSection {
            cell: self.cell,
            activation: Activation::default(),
            embedding_size: self.embedding,
            hidden_size: self.hidden,
            num_layers: self.layers,
            dropout: 0.0,
            init: InitScheme::default(),
            orthogonal_recurrent: false,
            forget_bias: None,
        }
    }

    /// Its model config for a vocabulary of `vocab` characters.
    pub fn model(&self, vocab: usize, fused: bool) -> CharLmConfig {
        self.model_section().char_lm(vocab, fused)
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
    /// CPU time of the calling (main) thread per timed step, where the system reports it
    /// (Linux): on a GPU backend, what enqueueing the step's work costs the host.
    pub host_cpu_secs_per_step: Option<f64>,
}

/// CPU time the calling thread has used so far (Linux's `/proc/thread-self/schedstat`, in
/// nanoseconds); `None` elsewhere.
pub fn thread_cpu_secs() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = text.split_whitespace().next()?.parse().ok()?;
    Some(ns * 1e-9)
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
/// The loop runs on a thread of Rayon's pool, as [`crate::app::train::train`]'s does.
pub fn bench_train<B: AutodiffBackend>(
    workload: Workload,
    ids: &[u16],
    vocab: usize,
    timing: &Timing,
    device: &B::Device,
) -> TrainBench {
    rayon::scope(|_| bench_train_here::<B>(workload, ids, vocab, timing, device))
}

/// A workload's model and optimiser, stepping through random batches of a corpus.
struct Stepper<'a, B: AutodiffBackend, O> {
    workload: Workload,
    ids: &'a [u16],
    device: &'a B::Device,
    model: Option<CharLm<B>>,
    optim: O,
}

impl<'a, B: AutodiffBackend>
    Stepper<'a, B, burn::optim::adaptor::OptimizerAdaptor<burn::optim::Adam, CharLm<B>, B>>
{
    fn new(
        workload: Workload,
        ids: &'a [u16],
        vocab: usize,
        fused: bool,
        device: &'a B::Device,
    ) -> Self {
        B::seed(device, 0);
        Self {
            workload,
            ids,
            device,
            model: Some(workload.model(vocab, fused).init(device)),
            optim: AdamConfig::new().init::<B, CharLm<B>>(),
        }
    }
}

impl<B: AutodiffBackend, O: Optimizer<CharLm<B>, B>> Stepper<'_, B, O> {
    /// Forward and backward of batch `i`: the loss and the gradients.
    fn forward_backward(&self, i: u64) -> (Tensor<B, 1>, GradientsParams) {
        let (batch, seq) = (self.workload.batch, self.workload.seq);
        let model = self.model.as_ref().expect("a model");
        let b = random_batch(self.ids, batch, seq, 0, i);
        let (logits, _) = model.forward(ids_tensor(&b.inputs, batch, seq, self.device), None);
        let loss = model.loss(logits, ids_tensor(&b.targets, batch, seq, self.device));
        let grads = GradientsParams::from_grads(loss.backward(), model);
        (loss, grads)
    }

    /// Clipping at 5 and Adam at 2e-3.
    fn update(&mut self, mut grads: GradientsParams) {
        let model = self.model.take().expect("a model");
        clip_gradients::<B, _>(&model, &mut grads, 5.0, 0.0);
        self.model = Some(self.optim.step(2e-3, model, grads));
    }

    /// One whole step; the loss, read to the host (which waits for the step to finish, as
    /// `.item()` does in the reference).
    fn step(&mut self, i: u64) -> f64 {
        let (loss, grads) = self.forward_backward(i);
        self.update(grads);
        loss.into_scalar().elem()
    }
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
    let mut stepper = Stepper::<B, _>::new(workload, ids, vocab, fused, device);
    let (batch, seq) = (workload.batch, workload.seq);
    for i in 0..3 {
        stepper.step(i);
    }
    let mut times = Vec::new();
    let start = Instant::now();
    let cpu_start = thread_cpu_secs();
    let mut last_loss;
    let mut i = 3;
    loop {
        let t0 = Instant::now();
        last_loss = stepper.step(i);
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
    let host_cpu_secs_per_step = match (cpu_start, thread_cpu_secs()) {
        (Some(a), Some(b)) => Some((b - a) / times.len() as f64),
        _ => None,
    };
    let tokens = (batch * seq) as f64;
    let slowest = times.iter().cloned().fold(0.0, f64::max);
    let fastest = times.iter().cloned().fold(f64::INFINITY, f64::min);
    let med = median(times.clone());
    TrainBench {
        steps: times.len(),
        median_step_secs: med,
        tokens_per_sec: (tokens / med, tokens / slowest, tokens / fastest),
        last_loss,
        host_cpu_secs_per_step,
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
    /// The kernel launches of a training step.
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    Launches(LaunchReport),
}

/// The GPU kernel launches of one training step of a workload.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
#[derive(Clone, Debug)]
pub struct LaunchReport {
    /// The workload.
    pub workload: Workload,
    /// Launches (and host reads) of the forward and backward passes.
    pub forward_backward: Launches,
    /// Launches of the clipping and the optimiser step.
    pub update: Launches,
    /// The main thread's CPU time per step of the timed run before the count
    /// ([`TrainBench::host_cpu_secs_per_step`]).
    pub host_cpu_secs_per_step: Option<f64>,
}

#[cfg(any(feature = "wgpu", feature = "cuda"))]
impl LaunchReport {
    /// Launches of the whole step.
    pub fn total(&self) -> u64 {
        self.forward_backward.total() + self.update.total()
    }

    /// The main thread's CPU time per launch: what enqueueing one costs the host, with the
    /// step's other host work (autodiff, the optimiser's bookkeeping) spread over them.
    pub fn host_secs_per_launch(&self) -> Option<f64> {
        Some(self.host_cpu_secs_per_step? / self.total().max(1) as f64)
    }

    /// Launches of the whole step per time step and layer.
    pub fn per_time_step_and_layer(&self) -> f64 {
        self.total() as f64 / (self.workload.seq * self.workload.layers) as f64
    }
}

/// Counts the kernel launches of one training step of `workload` (after 3 warm-up steps, which
/// compile the kernels and settle autotuning): forward and backward, then clipping and the
/// optimiser. Counting must be on ([`launches::enable`]).
#[cfg(any(feature = "wgpu", feature = "cuda"))]
pub fn count_launches<B: AutodiffBackend>(
    workload: Workload,
    ids: &[u16],
    vocab: usize,
    fused: bool,
    device: &B::Device,
) -> LaunchReport {
    let sync = || B::sync(device).expect("the device finishes its work");
    let mut stepper = Stepper::<B, _>::new(workload, ids, vocab, fused, device);
    for i in 0..3 {
        stepper.step(i);
    }
    sync();
    launches::counting(true);
    let before = launches::settled();
    let (loss, grads) = stepper.forward_backward(3);
    sync();
    let middle = launches::settled();
    stepper.update(grads);
    sync();
    let after = launches::settled();
    launches::counting(false);
    let _: f64 = loss.into_scalar().elem();
    LaunchReport {
        workload,
        forward_backward: middle.since(&before),
        update: after.since(&middle),
        host_cpu_secs_per_step: None,
    }
}

impl std::fmt::Display for BenchResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let peak = peak_memory_mib().unwrap_or(f64::NAN);
        match self {
            BenchResult::Train(w, r) => write!(
                f,
                "RESULT burn-{} train steps={} median_step_s={:.5} tok_per_s_median={:.0} min={:.0} max={:.0} last_loss={:.3} peak_mem_mib={peak:.0} main_thread_cpu_ms_per_step={:.2}",
                w.name,
                r.steps,
                r.median_step_secs,
                r.tokens_per_sec.0,
                r.tokens_per_sec.1,
                r.tokens_per_sec.2,
                r.last_loss,
                r.host_cpu_secs_per_step.map_or(f64::NAN, |s| s * 1e3),
            ),
            BenchResult::Sample(med, min, max) => write!(
                f,
                "RESULT burn-M sample chars_per_s_median={med:.0} min={min:.0} max={max:.0} peak_mem_mib={peak:.0}"
            ),
            #[cfg(any(feature = "wgpu", feature = "cuda"))]
            BenchResult::Launches(r) => {
                let w = &r.workload;
                write!(
                    f,
                    "LAUNCHES burn-{} step={} per_time_step_per_layer={:.2} (T={}, L={}) forward_backward={} update={} host_reads_in_forward_backward={} main_thread_cpu_us_per_launch={:.1}",
                    w.name,
                    r.total(),
                    r.per_time_step_and_layer(),
                    w.seq,
                    w.layers,
                    r.forward_backward.total(),
                    r.update.total(),
                    r.forward_backward.host_reads,
                    r.host_secs_per_launch().map_or(f64::NAN, |s| s * 1e6)
                )?;
                let mut all = r.forward_backward.by_kernel.clone();
                for (k, n) in &r.update.by_kernel {
                    *all.entry(k.clone()).or_default() += n;
                }
                let mut rows: Vec<_> = all.into_iter().collect();
                rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                for (kernel, n) in rows {
                    write!(f, "\n  {n:>6} {kernel}")?;
                }
                Ok(())
            }
        }
    }
}

/// Measures each target in turn on `ids` (a corpus of `vocab` characters), handing each result
/// to `report` as soon as it is measured; with `count_launches` (GPU features, counting on), each
/// training workload's kernel launches follow its tokens/s.
#[cfg_attr(not(any(feature = "wgpu", feature = "cuda")), allow(unused_variables))]
pub fn run<B: AutodiffBackend>(
    targets: &[Target],
    ids: &[u16],
    vocab: usize,
    timing: &Timing,
    count_launches: bool,
    device: &B::Device,
    mut report: impl FnMut(BenchResult),
) {
    for target in targets {
        match *target {
            Target::Train(w) => {
                let r = bench_train::<B>(w, ids, vocab, timing, device);
                let host = r.host_cpu_secs_per_step;
                report(BenchResult::Train(w, r));
                #[cfg(any(feature = "wgpu", feature = "cuda"))]
                if count_launches {
                    let mut r = self::count_launches::<B>(w, ids, vocab, timing.fused, device);
                    r.host_cpu_secs_per_step = host;
                    report(BenchResult::Launches(r));
                }
            }
            Target::Sample => {
                let (med, min, max) = bench_sample::<B::InnerBackend>(vocab, 2000, 5, device);
                report(BenchResult::Sample(med, min, max));
            }
        }
    }
}
