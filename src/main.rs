//! The `burn-rnn` command: parses arguments, loads the config, picks the backend and calls the
//! library. Nothing else lives here.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use burn::backend::Autodiff;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn_rnn::bench::{Workload, bench_sample, bench_train, peak_memory_mib};
use burn_rnn::checkpoint::RunDir;
use burn_rnn::config::{BackendKind, RunConfig};
use burn_rnn::data::{Corpus, Vocab};
use burn_rnn::sample::{Sampler, SamplingOptions, generate};
use burn_rnn::train::{
    Progress, TrainError, TrainOptions, evaluate, import_pytorch, load_run, train_on,
};

/// Training allocates and frees large buffers every step; glibc returns them to the kernel and
/// takes page faults to get them back, mimalloc keeps them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "burn-rnn",
    version,
    about = "Recurrent networks (RNN, LSTM, GRU) on Burn: train, sample and evaluate character-level language models"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum BackendArg {
    /// The GPU when built with `--features wgpu`, else the CPU.
    Auto,
    /// The CPU (ndarray).
    Cpu,
    /// The GPU through wgpu (needs a build with `--features wgpu`).
    Wgpu,
    /// NVIDIA GPUs through CUDA (needs a build with `--features cuda`).
    Cuda,
    /// Burn's flex CPU backend (needs a build with `--features flex`; for comparison).
    Flex,
}

#[derive(Subcommand)]
enum Command {
    /// Train a character-level language model from a TOML config.
    Train {
        /// The config file (see configs/).
        config: PathBuf,
        /// Override a config key, e.g. `--set model.hidden_size=256` (repeatable).
        #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
        set: Vec<String>,
        /// The run folder [default: runs/<config name>].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Continue from the run folder's `last` checkpoint.
        #[arg(long)]
        resume: bool,
        /// Start over even if the run folder holds a run (its checkpoints are replaced).
        #[arg(long, conflicts_with = "resume")]
        force: bool,
        /// Backend, overriding the config's `backend.kind`.
        #[arg(long, value_enum)]
        backend: Option<BackendArg>,
        /// Plain log lines instead of a progress bar.
        #[arg(long)]
        no_progress: bool,
        /// Stop after this step with a checkpoint, as if interrupted (`--resume` continues).
        #[arg(long, value_name = "STEP")]
        stop_after: Option<usize>,
        /// Train data-parallel on these devices, e.g. `--devices 0,1` (overrides the config's
        /// `backend.devices`); each gets an equal share of every batch.
        #[arg(long, value_delimiter = ',', value_name = "N,N,...")]
        devices: Option<Vec<usize>>,
    },
    /// Generate text from a trained run, streaming it as it is produced.
    Sample {
        /// The run folder.
        #[arg(long)]
        run: PathBuf,
        /// Which checkpoint.
        #[arg(long, default_value = "best", value_parser = ["best", "last"])]
        checkpoint: String,
        /// Text to start from (its characters must be in the vocabulary).
        #[arg(long, default_value = "")]
        prime: String,
        /// Characters to generate.
        #[arg(long, default_value_t = 500)]
        length: usize,
        /// Sampling temperature (> 0).
        #[arg(long, default_value_t = 0.8)]
        temperature: f64,
        /// Keep only the K most likely characters.
        #[arg(long)]
        top_k: Option<usize>,
        /// Nucleus sampling: keep the most likely characters up to probability P, in (0, 1].
        #[arg(long)]
        top_p: Option<f64>,
        /// Random seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Always take the most likely character.
        #[arg(long)]
        argmax: bool,
        /// Backend.
        #[arg(long, value_enum, default_value = "cpu")]
        backend: BackendArg,
    },
    /// Training and sampling throughput on the workloads of ../shared/bench/pytorch_bench.py.
    Bench {
        /// S, M, L, G, sample or all.
        #[arg(long, default_value = "all")]
        workload: String,
        /// Backend.
        #[arg(long, value_enum, default_value = "auto")]
        backend: BackendArg,
        /// Seconds of timed training steps per workload (after 3 warm-up steps).
        #[arg(long, default_value_t = 20.0)]
        seconds: f64,
        /// Timed steps at least.
        #[arg(long, default_value_t = 10)]
        min_steps: usize,
        /// The corpus whose characters the models predict.
        #[arg(long, default_value = "data/tinyshakespeare.txt")]
        data: PathBuf,
        /// Let Burn's autodiff record every step instead of the fused recurrence.
        #[arg(long)]
        unfused: bool,
    },
    /// Make a run folder from a PyTorch character model's weights (a `state_dict` saved with
    /// safetensors: `emb.weight`, `rnn.*`, `head.weight`, `head.bias`), to sample, evaluate or
    /// fine-tune with `train --resume`.
    Import {
        /// The config that describes the model and its corpus (the vocabulary is the corpus's
        /// sorted characters).
        config: PathBuf,
        /// The safetensors file.
        #[arg(long)]
        weights: PathBuf,
        /// Override a config key (repeatable).
        #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
        set: Vec<String>,
        /// The run folder [default: runs/<config name>].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace a run the folder holds.
        #[arg(long)]
        force: bool,
    },
    /// Loss (nats and bits per character) on the validation split or another file.
    Eval {
        /// The run folder.
        #[arg(long)]
        run: PathBuf,
        /// A text file to evaluate instead of the validation split.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Which checkpoint.
        #[arg(long, default_value = "best", value_parser = ["best", "last"])]
        checkpoint: String,
        /// Backend.
        #[arg(long, value_enum, default_value = "cpu")]
        backend: BackendArg,
    },
}

type Cpu = burn::backend::NdArray;
#[cfg(feature = "wgpu")]
type Gpu = burn::backend::Wgpu;

fn resolve(kind: BackendKind) -> Result<BackendKind, String> {
    match kind {
        BackendKind::Auto if cfg!(feature = "cuda") => Ok(BackendKind::Cuda),
        BackendKind::Auto if cfg!(feature = "wgpu") => Ok(BackendKind::Wgpu),
        BackendKind::Auto => Ok(BackendKind::Cpu),
        BackendKind::Wgpu if !cfg!(feature = "wgpu") => Err(
            "the wgpu backend was asked for, but this binary was built without it; rebuild with `--features wgpu`".into(),
        ),
        BackendKind::Flex if !cfg!(feature = "flex") => Err(
            "the flex backend was asked for, but this binary was built without it; rebuild with `--features flex`".into(),
        ),
        BackendKind::Cuda if !cfg!(feature = "cuda") => Err(
            "the cuda backend was asked for, but this binary was built without it; rebuild with `--features cuda`".into(),
        ),
        other => Ok(other),
    }
}

fn to_kind(arg: BackendArg) -> BackendKind {
    match arg {
        BackendArg::Auto => BackendKind::Auto,
        BackendArg::Cpu => BackendKind::Cpu,
        BackendArg::Wgpu => BackendKind::Wgpu,
        BackendArg::Cuda => BackendKind::Cuda,
        BackendArg::Flex => BackendKind::Flex,
    }
}

/// Runs `$body` with `B` bound to the chosen (autodiff) backend, `devices` to the devices of
/// `indices` (at least one) and `device` to the first.
macro_rules! with_backend {
    ($kind:expr, $indices:expr, |$B:ident, $device:ident, $devices:ident| $body:expr) => {{
        let indices: &[usize] = $indices;
        match resolve($kind)? {
            #[cfg(feature = "wgpu")]
            BackendKind::Wgpu => {
                type $B = Autodiff<Gpu>;
                // Device 0: wgpu's default choice (the best adapter it finds, discrete first);
                // N > 0: the N-th discrete GPU.
                let $devices: Vec<burn::backend::wgpu::WgpuDevice> = indices
                    .iter()
                    .map(|&i| match i {
                        0 => burn::backend::wgpu::WgpuDevice::DefaultDevice,
                        n => burn::backend::wgpu::WgpuDevice::DiscreteGpu(n),
                    })
                    .collect();
                let $device = $devices[0].clone();
                eprintln!("backend: wgpu, devices {:?}", $devices);
                $body
            }
            #[cfg(feature = "cuda")]
            BackendKind::Cuda => {
                type $B = Autodiff<burn::backend::Cuda>;
                let $devices: Vec<burn::backend::cuda::CudaDevice> = indices
                    .iter()
                    .map(|&i| burn::backend::cuda::CudaDevice::new(i))
                    .collect();
                let $device = $devices[0].clone();
                eprintln!("backend: cuda, devices {:?}", $devices);
                $body
            }
            #[cfg(feature = "flex")]
            BackendKind::Flex => {
                type $B = Autodiff<burn::backend::Flex>;
                let $devices = vec![burn::backend::flex::FlexDevice; indices.len()];
                let $device = $devices[0].clone();
                eprintln!("backend: flex (CPU)");
                $body
            }
            _ => {
                type $B = Autodiff<Cpu>;
                // ndarray has one device; several indices are replicas of it, each in a thread.
                let $devices = vec![burn::backend::ndarray::NdArrayDevice::Cpu; indices.len()];
                let $device = $devices[0].clone();
                eprintln!(
                    "backend: ndarray (CPU), {} threads{}",
                    std::thread::available_parallelism().map_or(1, |n| n.get()),
                    if indices.len() > 1 {
                        format!(", data-parallel over {} replicas", indices.len())
                    } else {
                        String::new()
                    }
                );
                $body
            }
        }
    }};
    ($kind:expr, $index:expr, |$B:ident, $device:ident| $body:expr) => {{ with_backend!($kind, &[$index], |$B, $device, _devices| $body) }};
}

/// `runs/<config name>`, the run folder when `--out` is not given.
fn default_run_folder(config: &std::path::Path) -> PathBuf {
    PathBuf::from("runs").join(config.file_stem().unwrap_or_default())
}

/// Exit status of a run stopped by Ctrl-C (128 + SIGINT, as shells report it).
const INTERRUPTED: u8 = 130;

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Interrupted(message)) => {
            let _ = writeln!(std::io::stderr(), "{message}");
            ExitCode::from(INTERRUPTED)
        }
        Err(Failure::Error(message)) => {
            let _ = writeln!(std::io::stderr(), "error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Why the command did not finish.
enum Failure {
    /// An error, said in one message.
    Error(String),
    /// Stopped by Ctrl-C after saving.
    Interrupted(String),
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure::Error(message)
    }
}

/// Ctrl-C (and SIGTERM) asks training to stop after the current step with a checkpoint; a second
/// one exits at once.
fn interrupt_flag() -> Result<Arc<AtomicBool>, String> {
    let flag = Arc::new(AtomicBool::new(false));
    let handler_flag = Arc::clone(&flag);
    ctrlc::set_handler(move || {
        if handler_flag.swap(true, Ordering::SeqCst) {
            let _ = writeln!(
                std::io::stderr(),
                "\ninterrupted again: exiting without a checkpoint"
            );
            std::process::exit(INTERRUPTED as i32);
        }
        let _ = writeln!(
            std::io::stderr(),
            "\ninterrupted: saving a checkpoint after this step (press Ctrl-C again to quit at once)"
        );
    })
    .map_err(|e| format!("cannot install the Ctrl-C handler: {e}"))?;
    Ok(flag)
}

fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Train {
            config,
            set,
            out,
            resume,
            force,
            backend,
            no_progress,
            stop_after,
            devices,
        } => {
            let mut run_config = RunConfig::load(&config, &set).map_err(|e| e.to_string())?;
            if let Some(devices) = devices {
                run_config.backend.devices = Some(devices);
                run_config
                    .validate()
                    .map_err(|e| format!("--devices: {e}"))?;
            }
            let out = out.unwrap_or_else(|| default_run_folder(&config));
            let options = TrainOptions {
                run: RunDir::new(&out),
                resume,
                force,
                progress: if no_progress {
                    Progress::Lines
                } else {
                    Progress::Auto
                },
                stop_after,
                interrupt: Some(interrupt_flag()?),
            };
            let kind = backend.map(to_kind).unwrap_or(run_config.backend.kind);
            let indices = run_config.device_indices();
            eprintln!("run folder: {}", out.display());
            let summary = with_backend!(kind, &indices, |B, _device, devices| train_on::<B>(
                &run_config,
                &options,
                &devices
            ))
            .map_err(|e| match e {
                TrainError::Interrupted { .. } => Failure::Interrupted(e.to_string()),
                e => Failure::Error(e.to_string()),
            })?;
            println!(
                "done: {} steps in {:.1} s, validation loss {:.4} nats/char ({:.3} bits/char), best {:.4}; run folder {}",
                summary.steps,
                summary.elapsed_secs,
                summary.val_loss,
                summary.val_loss / std::f64::consts::LN_2,
                summary.best_val_loss,
                out.display()
            );
            Ok(())
        }
        Command::Sample {
            run,
            checkpoint,
            prime,
            length,
            temperature,
            top_k,
            top_p,
            seed,
            argmax,
            backend,
        } => {
            let options = SamplingOptions {
                temperature,
                top_k,
                top_p,
                argmax,
            };
            options.validate()?;
            if length == 0 {
                return Err(Failure::Error(
                    "--length must be at least 1, found 0".into(),
                ));
            }
            Ok(with_backend!(to_kind(backend), 0, |B, device| {
                sample_run::<<B as AutodiffBackend>::InnerBackend>(
                    &run,
                    &checkpoint,
                    &prime,
                    length,
                    options,
                    seed,
                    &device,
                )
            })?)
        }
        Command::Bench {
            workload,
            backend,
            seconds,
            min_steps,
            data,
            unfused,
        } => {
            let names: Vec<String> = if workload.eq_ignore_ascii_case("all") {
                ["S", "M", "L", "G", "sample"].map(String::from).to_vec()
            } else {
                vec![workload]
            };
            for name in &names {
                if !name.eq_ignore_ascii_case("sample") && Workload::find(name).is_none() {
                    return Err(
                        format!("--workload {name}: expected S, M, L, G, sample or all").into(),
                    );
                }
            }
            let corpus = Corpus::load(&data, 0.1, None).map_err(|e| e.to_string())?;
            Ok(with_backend!(to_kind(backend), 0, |B, device| {
                for name in &names {
                    if name.eq_ignore_ascii_case("sample") {
                        let (med, min, max) = bench_sample::<<B as AutodiffBackend>::InnerBackend>(
                            corpus.vocab.len(),
                            2000,
                            5,
                            &device,
                        );
                        println!(
                            "RESULT burn-M sample chars_per_s_median={med:.0} min={min:.0} max={max:.0} peak_mem_mib={:.0}",
                            peak_memory_mib().unwrap_or(f64::NAN)
                        );
                    } else {
                        let w = Workload::find(name).expect("checked");
                        let r = bench_train::<B>(
                            w,
                            &corpus.train,
                            corpus.vocab.len(),
                            seconds,
                            min_steps,
                            !unfused,
                            &device,
                        );
                        println!(
                            "RESULT burn-{} train steps={} median_step_s={:.5} tok_per_s_median={:.0} min={:.0} max={:.0} last_loss={:.3} peak_mem_mib={:.0}",
                            w.name,
                            r.steps,
                            r.median_step_secs,
                            r.tokens_per_sec.0,
                            r.tokens_per_sec.1,
                            r.tokens_per_sec.2,
                            r.last_loss,
                            peak_memory_mib().unwrap_or(f64::NAN)
                        );
                    }
                }
                Ok::<(), String>(())
            })?)
        }
        Command::Import {
            config,
            weights,
            set,
            out,
            force,
        } => {
            let run_config = RunConfig::load(&config, &set).map_err(|e| e.to_string())?;
            let out = out.unwrap_or_else(|| default_run_folder(&config));
            let params = with_backend!(BackendKind::Cpu, 0, |B, device| import_pytorch::<B>(
                &run_config,
                &weights,
                &RunDir::new(&out),
                force,
                &device
            ))
            .map_err(|e| e.to_string())?;
            println!(
                "imported {} ({params} parameters) into {}; sample with `burn-rnn sample --run {}`, fine-tune with `burn-rnn train {} --out {} --resume`",
                weights.display(),
                out.display(),
                out.display(),
                config.display(),
                out.display()
            );
            Ok(())
        }
        Command::Eval {
            run,
            data,
            checkpoint,
            backend,
        } => Ok(with_backend!(to_kind(backend), 0, |B, device| {
            eval_run::<<B as AutodiffBackend>::InnerBackend>(
                &run,
                data.as_deref(),
                &checkpoint,
                &device,
            )
        })?),
    }
}

fn sample_run<B: Backend>(
    run: &std::path::Path,
    checkpoint: &str,
    prime: &str,
    length: usize,
    options: SamplingOptions,
    seed: u64,
    device: &B::Device,
) -> Result<(), String> {
    use std::io::Write;
    let loaded = load_run::<B>(&RunDir::new(run), checkpoint, device).map_err(|e| e.to_string())?;
    // Check the prime before anything is printed.
    loaded
        .vocab
        .encode(prime, "the prime text")
        .map_err(|e| e.to_string())?;
    let mut sampler = Sampler::new(options, seed);
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "{prime}");
    generate(
        &loaded.model,
        &loaded.vocab,
        prime,
        length,
        &mut sampler,
        |c| {
            let _ = write!(out, "{c}");
            let _ = out.flush();
        },
    )
    .map_err(|e| e.to_string())?;
    let _ = writeln!(out);
    Ok(())
}

fn eval_run<B: Backend>(
    run: &std::path::Path,
    data: Option<&std::path::Path>,
    checkpoint: &str,
    device: &B::Device,
) -> Result<(), String> {
    let loaded = load_run::<B>(&RunDir::new(run), checkpoint, device).map_err(|e| e.to_string())?;
    let cfg = &loaded.config;
    let (ids, what) = match data {
        Some(path) => {
            let text = burn_rnn::data::read_text(path).map_err(|e| e.to_string())?;
            let ids = loaded
                .vocab
                .encode(&text, &path.display().to_string())
                .map_err(|e| e.to_string())?;
            (ids, path.display().to_string())
        }
        None => {
            let corpus = Corpus::load(
                &cfg.data.path,
                cfg.data.validation_fraction,
                Some(Vocab::clone(&loaded.vocab)),
            )
            .map_err(|e| e.to_string())?;
            (
                corpus.valid,
                format!("validation split of {}", cfg.data.path.display()),
            )
        }
    };
    let loss = evaluate(
        &loaded.model,
        &ids,
        cfg.data.batch_size,
        cfg.data.seq_len,
        0,
    )
    .map_err(|e| e.to_string())?;
    println!(
        "{what}: loss {loss:.4} nats/char, {:.4} bits/char ({} characters, checkpoint `{checkpoint}` at step {})",
        loss / std::f64::consts::LN_2,
        ids.len(),
        loaded.state.step
    );
    Ok(())
}
