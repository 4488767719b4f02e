//! The `burn-rnn` command: parses arguments, picks the backend and calls the library. Nothing
//! else lives here.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use burn::backend::Autodiff;
use burn::tensor::backend::AutodiffBackend;
use burn_rnn::app::bench::{self, Target, Timing};
use burn_rnn::app::checkpoint::RunDir;
use burn_rnn::app::config::{BackendKind, ConfigError, RunConfig, Task};
use burn_rnn::app::eval::{EvalError, eval_run};
use burn_rnn::app::forecast::{
    ForecastConfig, ForecastError, backtest, forecast, train_forecaster,
};
use burn_rnn::app::run::{RunError, export_pytorch, import_pytorch, load_run};
use burn_rnn::app::train::{Progress, TrainError, TrainOptions, train};
use burn_rnn::data::{Corpus, CorpusError};
use burn_rnn::sample::SamplingOptions;
use clap::{Args, Parser, Subcommand};

/// Training allocates and frees large buffers every step; glibc returns them to the kernel and
/// takes page faults to get them back, mimalloc keeps them (see [`keep_freed_pages`]).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (the 16th option in both its v2 and v3 headers; the Rust
/// bindings do not name it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Tells mimalloc never to give freed pages back to the kernel. By default it does so a moment
/// after they are freed (10 ms in mimalloc v2, 1 s in v3), and a training step frees and
/// allocates the same large buffers again: on workload L the kernel then zeroed about 3 GB of
/// fresh pages per step (5% of the step time in `perf`; 25,000 page faults in a 10 s `bench`
/// against 400 with this). The resident size stays at the peak instead (363 -> 394 MiB on L).
/// Left alone when the user set `MIMALLOC_PURGE_DELAY`, or when the option does not hold one of
/// the documented defaults (the bindings changed).
fn keep_freed_pages() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: plain calls into the allocator's option table, made before any other thread
    // exists (the functions are not thread-safe).
    unsafe {
        if matches!(
            libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY),
            10 | 1000
        ) {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1);
        }
    }
}

#[derive(Parser)]
#[command(
    name = "burn-rnn",
    version,
    about = "Recurrent networks (RNN, LSTM, GRU) on Burn: character-level language models and time-series forecasters, from a config file"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train from a TOML config: a character-level language model, or a forecaster of a CSV
    /// table's time series when the config says `task = "forecast"`.
    Train(TrainArgs),
    /// Generate text from a trained run, streaming it as it is produced.
    Sample(SampleArgs),
    /// Training and sampling throughput on the workloads of bench/pytorch_bench.py.
    Bench(BenchArgs),
    /// Make a run folder from a PyTorch character model's weights (a `state_dict` saved with
    /// safetensors: `emb.weight`, `rnn.*`, `head.weight`, `head.bias`), to sample, evaluate or
    /// fine-tune with `train --resume`.
    Import(ImportArgs),
    /// A character model's loss (nats and bits per character) on the validation split or
    /// another file; a forecaster's rolling-origin backtest against the baselines.
    Eval(EvalArgs),
    /// A forecaster's forecast of the horizon after the table's last row with a target, as CSV.
    Forecast(ForecastArgs),
    /// Write a run's model as a PyTorch `state_dict` (safetensors, f32) under the keys `import`
    /// reads, with the vocabulary and the model's sizes in its metadata.
    Export(ExportArgs),
}

#[derive(Args)]
struct TrainArgs {
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
    backend: Option<BackendKind>,
    /// Plain log lines instead of a progress bar.
    #[arg(long)]
    no_progress: bool,
    /// Stop after this step with a checkpoint, as if interrupted (`--resume` continues).
    #[arg(long, value_name = "STEP")]
    stop_after: Option<usize>,
    /// Train for as many steps as fit in this wall time, e.g. `10m` or `1h30m` (sets
    /// `train.time_budget`; the config's `steps` and `epochs` are then not used).
    #[arg(long, value_name = "DURATION")]
    time_budget: Option<String>,
    /// Train data-parallel on these devices, e.g. `--devices 0,1` (overrides the config's
    /// `backend.devices`); each gets an equal share of every batch.
    #[arg(long, value_delimiter = ',', value_name = "N,N,...")]
    devices: Option<Vec<usize>>,
}

#[derive(Args)]
struct SampleArgs {
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
    backend: BackendKind,
}

#[derive(Args)]
struct BenchArgs {
    /// S, M, L, G, sample or all.
    #[arg(long, default_value = "all")]
    workload: String,
    /// Backend.
    #[arg(long, value_enum, default_value = "auto")]
    backend: BackendKind,
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
    /// Also count the GPU kernel launches of one training step of each workload, by kernel
    /// name (builds with `--features wgpu` or `cuda`; the wgpu build also counts host reads).
    #[arg(long)]
    launches: bool,
}

#[derive(Args)]
struct ImportArgs {
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
}

#[derive(Args)]
struct ExportArgs {
    /// The run folder.
    #[arg(long)]
    run: PathBuf,
    /// Which checkpoint.
    #[arg(long, default_value = "best", value_parser = ["best", "last"])]
    checkpoint: String,
    /// The file to write, e.g. `model.safetensors` (replaced if it exists).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
struct EvalArgs {
    /// The run folder.
    #[arg(long)]
    run: PathBuf,
    /// A text file to evaluate instead of the validation split (a forecast run: a CSV table to
    /// backtest instead of the run's own; `--csv` too, as `forecast` names it).
    #[arg(long, visible_alias = "csv")]
    data: Option<PathBuf>,
    /// Which checkpoint.
    #[arg(long, default_value = "best", value_parser = ["best", "last"])]
    checkpoint: String,
    /// Backend.
    #[arg(long, value_enum, default_value = "cpu")]
    backend: BackendKind,
}

#[derive(Args)]
struct ForecastArgs {
    /// The run folder of a forecaster.
    #[arg(long)]
    run: PathBuf,
    /// The table to forecast from [default: the run's]: its rows after the last one with a
    /// target supply the horizon's future covariates.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Write the forecast here [default: standard output].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Which checkpoint.
    #[arg(long, default_value = "best", value_parser = ["best", "last"])]
    checkpoint: String,
    /// Backend.
    #[arg(long, value_enum, default_value = "cpu")]
    backend: BackendKind,
}

/// Why a command failed: the library's errors, kept as they are.
/// A line to standard error; a failed write (a closed terminal, `2>/dev/full`) is ignored: the
/// run's files, not its messages, are what must not be lost.
macro_rules! note {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Backend(#[from] burn_rnn::app::device::DeviceError),
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Eval(#[from] EvalError),
    #[error(transparent)]
    Forecast(#[from] ForecastError),
    #[error(transparent)]
    Corpus(#[from] CorpusError),
    /// A command-line value out of its range.
    #[error("{0}")]
    Argument(String),
    /// Writing to standard output failed.
    #[error("cannot write to standard output: {0}")]
    Output(std::io::Error),
    #[error("cannot install the Ctrl-C handler: {0}")]
    Signal(#[from] ctrlc::Error),
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    #[error(transparent)]
    Launches(#[from] burn_rnn::app::bench::launches::LaunchCountError),
}

/// Runs `$body` with `B` bound to the chosen (autodiff) backend, `devices` to the devices of
/// `indices` (at least one) and `device` to the first.
macro_rules! with_backend {
    ($kind:expr, $indices:expr, |$B:ident, $device:ident, $devices:ident| $body:expr) => {{
        let indices: &[usize] = $indices;
        let choice = burn_rnn::app::device::choose($kind)?;
        if let Some(note) = &choice.note {
            note!("{note}");
        }
        match choice.kind {
            #[cfg(feature = "wgpu")]
            BackendKind::Wgpu => {
                type $B = Autodiff<burn::backend::Wgpu>;
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
                note!(
                    "backend: wgpu, adapter {}, devices {:?}",
                    choice.detail,
                    $devices
                );
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
                note!("backend: cuda ({}), devices {:?}", choice.detail, $devices);
                $body
            }
            #[cfg(feature = "flex")]
            BackendKind::Flex => {
                type $B = Autodiff<burn::backend::Flex>;
                let $devices = vec![burn::backend::flex::FlexDevice; indices.len()];
                let $device = $devices[0].clone();
                note!("backend: flex (CPU)");
                $body
            }
            _ => {
                type $B = Autodiff<burn::backend::NdArray>;
                // ndarray has one device; several indices are replicas of it, each in a thread.
                let $devices = vec![burn::backend::ndarray::NdArrayDevice::Cpu; indices.len()];
                let $device = $devices[0].clone();
                note!(
                    "backend: ndarray (CPU), {} threads, kernels {}{}",
                    std::thread::available_parallelism().map_or(1, |n| n.get()),
                    burn_rnn::cpu_isa(),
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
    ($kind:expr, |$B:ident, $device:ident| $body:expr) => {{ with_backend!($kind, &[0], |$B, $device, _devices| $body) }};
}

/// `runs/<config name>`, the run folder when `--out` is not given.
fn default_run_folder(config: &Path) -> PathBuf {
    PathBuf::from("runs").join(config.file_stem().unwrap_or_default())
}

/// Exit status of a run stopped by Ctrl-C (128 + SIGINT, as shells report it).
const INTERRUPTED: u8 = 130;

/// Exit status when the reader of standard output went away (128 + SIGPIPE, as shells report a
/// Unix tool that a closed pipe ended).
const BROKEN_PIPE: u8 = 141;

/// Writes a line to standard output: a closed pipe or a failed write is an error.
fn say(text: impl std::fmt::Display) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(CliError::Output)
}

impl CliError {
    /// Whether the error is standard output's reader having gone away.
    fn is_broken_pipe(&self) -> bool {
        let io = match self {
            CliError::Output(e) | CliError::Run(RunError::Output(e)) => e,
            _ => return false,
        };
        io.kind() == std::io::ErrorKind::BrokenPipe
    }
}

/// Flushes denormal floats to zero in this thread and every thread it starts later (a new
/// thread inherits the floating-point environment of the one that starts it): x86-64's FTZ and
/// DAZ bits, as TensorFlow and XLA set them on the CPU. Values below f32's normal range
/// (1.2e-38) become zero instead of taking a slow microcode path: a forecaster's training step ran
/// five times slower on an Intel Xeon while its network's small values were denormal
/// (`docs/forecasting.md`). The library leaves the environment of the programs that use it as
/// it is.
#[allow(deprecated)] // `_mm_setcsr` is the documented way; its replacement is inline assembly.
fn flush_denormals() {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
        const FTZ: u32 = 1 << 15;
        const DAZ: u32 = 1 << 6;
        // SAFETY: sets two bits of this thread's MXCSR; they change only how values below the
        // normal range are written and read, and no other thread exists yet.
        unsafe { _mm_setcsr(_mm_getcsr() | FTZ | DAZ) };
    }
}

fn main() -> ExitCode {
    flush_denormals();
    keep_freed_pages();
    let result = match Cli::parse().command {
        Command::Train(args) => train_command(args),
        Command::Sample(args) => sample_command(args),
        Command::Bench(args) => bench_command(args),
        Command::Import(args) => import_command(args),
        Command::Eval(args) => eval_command(args),
        Command::Export(args) => export_command(args),
        Command::Forecast(args) => forecast_command(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // Quietly, as Unix tools end when their reader is gone (`sample | head`).
        Err(e) if e.is_broken_pipe() => ExitCode::from(BROKEN_PIPE),
        Err(
            e @ (CliError::Train(TrainError::Interrupted { .. })
            | CliError::Forecast(ForecastError::Interrupted { .. })),
        ) => {
            let _ = writeln!(std::io::stderr(), "{e}");
            ExitCode::from(INTERRUPTED)
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Ctrl-C (and SIGTERM) asks training to stop after the current step with a checkpoint; a second
/// one exits at once.
fn interrupt_flag() -> Result<Arc<AtomicBool>, ctrlc::Error> {
    let flag = Arc::new(AtomicBool::new(false));
    let handler_flag = Arc::clone(&flag);
    ctrlc::set_handler(move || {
        if !burn_rnn::app::train::loop_started() {
            // Still opening the corpus or checking the run (possibly blocked on a FIFO or a
            // slow mount): nothing to save yet.
            note!("\ninterrupted before training began: exiting, nothing to save");
            std::process::exit(INTERRUPTED as i32);
        }
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
    })?;
    Ok(flag)
}

/// `--time-budget`, read.
fn time_budget_arg(
    args: &TrainArgs,
) -> Result<Option<burn_rnn::app::config::TimeBudget>, CliError> {
    args.time_budget
        .as_deref()
        .map(|text| {
            burn_rnn::app::config::TimeBudget::parse(text)
                .map_err(|e| CliError::Argument(format!("--time-budget: {e}")))
        })
        .transpose()
}

/// The run folder and the training options of `train`'s arguments (either task).
fn train_options(args: &TrainArgs) -> Result<(PathBuf, TrainOptions), CliError> {
    if args.stop_after == Some(0) {
        return Err(CliError::Argument(
            "--stop-after must be at least 1, found 0".into(),
        ));
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_run_folder(&args.config));
    let options = TrainOptions {
        run: RunDir::new(&out),
        resume: args.resume,
        force: args.force,
        progress: if args.no_progress {
            Progress::Lines
        } else {
            Progress::Auto
        },
        stop_after: args.stop_after,
        interrupt: Some(interrupt_flag()?),
    };
    Ok((out, options))
}

fn train_command(args: TrainArgs) -> Result<(), CliError> {
    if Task::of_file(&args.config)? == Task::Forecast {
        return forecast_train_command(args);
    }
    let mut config = RunConfig::load(&args.config, &args.set)?;
    if let Some(devices) = &args.devices {
        config.backend.devices = Some(devices.clone());
        config
            .validate()
            .map_err(|e| CliError::Argument(format!("--devices: {e}")))?;
    }
    if let Some(budget) = time_budget_arg(&args)? {
        config.train.time_budget = Some(budget);
        config.train.steps = None;
        config.train.epochs = None;
    }
    let (out, options) = train_options(&args)?;
    let kind = args.backend.unwrap_or(config.backend.kind);
    let indices = config.device_indices();
    note!("run folder: {}", out.display());
    let summary = with_backend!(kind, &indices, |B, _device, devices| train::<B>(
        &config, &options, &devices
    ))?;
    // The run is saved: a closed standard output loses only this line.
    let validation = if summary.val_loss.is_finite() {
        format!(
            "validation loss {:.4} nats/char ({:.3} bits/char), best {:.4}",
            summary.val_loss,
            summary.val_loss / std::f64::consts::LN_2,
            summary.best_val_loss
        )
    } else {
        "no validation loss yet (stopped before the first evaluation)".to_string()
    };
    let _ = say(format_args!(
        "done: {} steps in {:.1} s, {validation}; run folder {}",
        summary.steps,
        summary.elapsed_secs,
        out.display()
    ));
    Ok(())
}

fn sample_command(args: SampleArgs) -> Result<(), CliError> {
    let options = SamplingOptions {
        temperature: args.temperature,
        top_k: args.top_k,
        top_p: args.top_p,
        argmax: args.argmax,
    };
    options.validate().map_err(CliError::Argument)?;
    if args.length == 0 {
        return Err(CliError::Argument(
            "--length must be at least 1, found 0".into(),
        ));
    }
    let run = RunDir::new(&args.run);
    with_backend!(args.backend, |B, device| {
        let loaded =
            load_run::<<B as AutodiffBackend>::InnerBackend>(&run, &args.checkpoint, &device)?;
        let mut out = std::io::stdout().lock();
        loaded.sample_to(&mut out, &args.prime, args.length, options, args.seed)?;
    });
    Ok(())
}

fn bench_command(args: BenchArgs) -> Result<(), CliError> {
    let targets = Target::parse(&args.workload).map_err(CliError::Argument)?;
    if args.launches {
        // Before any GPU device is touched; counting stays paused while steps are timed.
        #[cfg(any(feature = "wgpu", feature = "cuda"))]
        {
            burn_rnn::app::bench::launches::enable()?;
            burn_rnn::app::bench::launches::counting(false);
        }
        #[cfg(not(any(feature = "wgpu", feature = "cuda")))]
        return Err(CliError::Argument(
            "--launches counts GPU kernel launches; rebuild with `--features wgpu` or `--features cuda`".into(),
        ));
    }
    let corpus = Corpus::load(&args.data, 0.1, None)?;
    for target in &targets {
        if let Target::Train(w) = target
            && corpus.train.len() <= w.seq
        {
            return Err(CliError::Argument(format!(
                "--data {}: its training split has {} characters; workload {} needs more than its sequence length {}",
                args.data.display(),
                corpus.train.len(),
                w.name,
                w.seq
            )));
        }
    }
    let timing = Timing {
        seconds: args.seconds,
        min_steps: args.min_steps,
        fused: !args.unfused,
    };
    with_backend!(args.backend, |B, device| {
        let (ids, vocab) = (&corpus.train, corpus.vocab.len());
        let mut failed = None;
        bench::run::<B>(&targets, ids, vocab, &timing, args.launches, &device, |r| {
            if failed.is_none() {
                failed = say(r).err();
            }
        });
        if let Some(e) = failed {
            return Err(e);
        }
    });
    Ok(())
}

fn import_command(args: ImportArgs) -> Result<(), CliError> {
    let config = RunConfig::load(&args.config, &args.set)?;
    let out = args.out.unwrap_or_else(|| default_run_folder(&args.config));
    let run = RunDir::new(&out);
    let params = with_backend!(BackendKind::Cpu, |B, device| import_pytorch::<B>(
        &config,
        &args.weights,
        &run,
        args.force,
        &device
    ))?;
    // The command that continues the run, with the same config and overrides.
    let mut fine_tune = vec![
        "burn-rnn".to_string(),
        "train".into(),
        shell_word(&args.config.display().to_string()),
    ];
    for set in &args.set {
        fine_tune.extend(["--set".to_string(), shell_word(set)]);
    }
    fine_tune.extend([
        "--out".to_string(),
        shell_word(&out.display().to_string()),
        "--resume".into(),
    ]);
    say(format_args!(
        "imported {} ({params} parameters) into {}; sample with `burn-rnn sample --run {}`, fine-tune with `{}`",
        args.weights.display(),
        out.display(),
        shell_word(&out.display().to_string()),
        fine_tune.join(" ")
    ))
}

fn export_command(args: ExportArgs) -> Result<(), CliError> {
    let run = RunDir::new(&args.run);
    let done = with_backend!(BackendKind::Cpu, |B, device| export_pytorch::<B>(
        &run,
        &args.checkpoint,
        &args.out,
        &device
    ))?;
    let loss = done
        .state
        .val_loss
        .map(|l| format!(", validation loss {l:.4}"))
        .unwrap_or_default();
    say(format_args!(
        "exported the `{}` checkpoint of {} (step {}{loss}) to {}: {} tensors, {} parameters, f32, {} bytes; the vocabulary ({} characters) and the model's sizes are in its metadata",
        args.checkpoint,
        args.run.display(),
        done.state.step,
        args.out.display(),
        done.tensors,
        done.params,
        done.bytes,
        done.vocab_size
    ))
}

/// `word` as one shell word: as it is when it is plain, else in single quotes.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./=:,+@%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

fn eval_command(args: EvalArgs) -> Result<(), CliError> {
    let run = RunDir::new(&args.run);
    if Task::of_file(&run.config_path()).ok() == Some(Task::Forecast) {
        let result = with_backend!(args.backend, |B, device| {
            backtest::<<B as AutodiffBackend>::InnerBackend>(
                &run,
                &args.checkpoint,
                args.data.as_deref(),
                &device,
            )
        })?;
        say(format_args!(
            "{}written: backtest.csv, backtest.json, forecast.svg in {}",
            burn_rnn::app::forecast::backtest::table(&result),
            run.root().display()
        ))?;
        return Ok(());
    }
    let report = with_backend!(args.backend, |B, device| {
        eval_run::<<B as AutodiffBackend>::InnerBackend>(
            &run,
            args.data.as_deref(),
            &args.checkpoint,
            &device,
        )
    })?;
    say(report)
}

fn forecast_train_command(args: TrainArgs) -> Result<(), CliError> {
    let mut config = ForecastConfig::load(&args.config, &args.set)?;
    if args.devices.is_some() {
        return Err(CliError::Argument(
            "--devices: a forecaster trains on one device".into(),
        ));
    }
    if let Some(budget) = time_budget_arg(&args)? {
        config.train.time_budget = Some(budget);
        config.train.steps = None;
    }
    let (out, options) = train_options(&args)?;
    let kind = args.backend.unwrap_or(config.backend.kind);
    note!("run folder: {}", out.display());
    let summary = with_backend!(kind, |B, device| train_forecaster::<B>(
        &config, &options, &device
    ))?;
    let _ = say(format_args!(
        "done: {} steps in {:.1} s ({:.0} windows/s), validation loss {:.4}, best {:.4} (scaled {}); run folder {}; `burn-rnn eval --run {}` backtests it",
        summary.steps,
        summary.elapsed_secs,
        summary.windows_per_sec,
        summary.val_loss,
        summary.best_val_loss,
        match config.forecast.loss {
            burn_rnn::model::ForecastLoss::Mae => "MAE",
            burn_rnn::model::ForecastLoss::Mse => "MSE",
            // A probabilistic forecaster validates by its point forecast's MAE.
            burn_rnn::model::ForecastLoss::Quantile | burn_rnn::model::ForecastLoss::Gaussian =>
                "MAE of the point forecast",
        },
        out.display(),
        out.display()
    ));
    Ok(())
}

fn forecast_command(args: ForecastArgs) -> Result<(), CliError> {
    let run = RunDir::new(&args.run);
    let text = with_backend!(args.backend, |B, device| {
        forecast::<<B as AutodiffBackend>::InnerBackend>(
            &run,
            &args.checkpoint,
            args.csv.as_deref(),
            &device,
        )
    })?;
    match &args.out {
        Some(path) => {
            burn_rnn::app::checkpoint::write_atomic(path, text.as_bytes())
                .map_err(|e| CliError::Argument(format!("--out {}: {e}", path.display())))?;
            note!("forecast written to {}", path.display());
            Ok(())
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .map_err(CliError::Output)
        }
    }
}
