//! Counting the GPU kernel launches (and, on wgpu, the host reads) of a piece of work, by kernel
//! name: the measure of how many kernels a training step costs on the cube backends.
//!
//! CubeCL's profiling logger at level `minimal` reports every kernel it launches, by name,
//! without timing and without synchronising; [`enable`] turns it on in code (before the device
//! is first used) and routes it to the `log` facade, where this module counts it. wgpu-core logs
//! every buffer mapping at trace level, which is how a read of a tensor to the host shows up.
//! Launch counts do not depend on tensor sizes, so a software Vulkan driver (lavapipe) gives the
//! counts of a real GPU.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cubecl_runtime::config::{CubeClRuntimeConfig, RuntimeConfig};

/// Why counting could not be turned on.
#[derive(Debug, thiserror::Error)]
pub enum LaunchCountError {
    /// CubeCL's configuration was already fixed (a device was used first).
    #[error(
        "kernel launches can only be counted when counting is turned on before the GPU device is first used"
    )]
    TooLate,
    /// Another `log` logger is installed.
    #[error("kernel launches are counted through the `log` facade, which already has a logger")]
    LoggerTaken,
}

/// What was counted: launches by kernel name, and host reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Launches {
    /// Kernel launches, by kernel name.
    pub by_kernel: BTreeMap<String, u64>,
    /// Buffers mapped for reading to the host (wgpu only).
    pub host_reads: u64,
}

impl Launches {
    /// Kernel launches in all.
    pub fn total(&self) -> u64 {
        self.by_kernel.values().sum()
    }

    /// What was counted since `before`.
    pub fn since(&self, before: &Launches) -> Launches {
        let by_kernel = self
            .by_kernel
            .iter()
            .map(|(k, &n)| (k.clone(), n - before.by_kernel.get(k).copied().unwrap_or(0)))
            .filter(|(_, n)| *n > 0)
            .collect();
        Launches {
            by_kernel,
            host_reads: self.host_reads - before.host_reads,
        }
    }
}

static COUNTS: Mutex<Option<Launches>> = Mutex::new(None);

/// `BURN_RNN_LAUNCH_TRACE=1` also prints every counted launch, in order, to stderr: which
/// operation became which kernel.
static TRACE: std::sync::LazyLock<bool> = std::sync::LazyLock::new(|| {
    std::env::var_os("BURN_RNN_LAUNCH_TRACE").is_some_and(|v| v == "1")
});

/// Starts (`true`) or pauses (`false`) counting, after [`enable`]. While paused, the `log`
/// facade drops every record at its first check, so timing is not disturbed by the trace-level
/// records of wgpu.
pub fn counting(on: bool) {
    log::set_max_level(if on {
        log::LevelFilter::Trace
    } else {
        log::LevelFilter::Off
    });
}

/// Counts CubeCL's "Executing <kernel>" lines and wgpu-core's buffer mappings for reading.
struct Counter;

impl log::Log for Counter {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.target().starts_with("cubecl") || metadata.target().starts_with("wgpu_core")
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let text = record.args().to_string();
        let mut counts = COUNTS.lock().unwrap_or_else(|e| e.into_inner());
        let Some(counts) = counts.as_mut() else {
            return;
        };
        if let Some(name) = text.strip_prefix("Executing ") {
            if *TRACE {
                eprintln!("launch: {name}");
            }
            *counts.by_kernel.entry(short_name(name)).or_default() += 1;
        } else if text.starts_with("Buffer::map_async") && text.contains("Read") {
            counts.host_reads += 1;
        }
    }

    fn flush(&self) {}
}

/// A kernel's name without its runtime and most generic parameters: the kernel, and for
/// matmuls and binary operations the argument kind or operation (`MatmulEntry TensorArgs`,
/// `KernelBinop AddOp`).
fn short_name(name: &str) -> String {
    let parts: Vec<&str> = name.split(" | ").map(str::trim).collect();
    let base = parts[0].rsplit("::").next().unwrap_or(parts[0]);
    match parts.get(1) {
        Some(detail) if parts.len() > 2 && (detail.ends_with("Op") || detail.ends_with("Args")) => {
            format!("{base} {detail}")
        }
        _ => base.to_string(),
    }
}

/// Turns counting on (see [`counting`] to pause it). Call it once, before the GPU device is
/// first used.
pub fn enable() -> Result<(), LaunchCountError> {
    let config: CubeClRuntimeConfig = serde_json::from_value(serde_json::json!({
        "profiling": { "logger": { "level": "minimal", "log": "info" } }
    }))
    .expect("a valid CubeCL config");
    // `set` panics once the configuration is fixed (quietly here); nothing else is touched.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let set = std::panic::catch_unwind(|| CubeClRuntimeConfig::set(config));
    std::panic::set_hook(hook);
    if set.is_err() {
        return Err(LaunchCountError::TooLate);
    }
    log::set_logger(&Counter).map_err(|_| LaunchCountError::LoggerTaken)?;
    counting(true);
    *COUNTS.lock().unwrap_or_else(|e| e.into_inner()) = Some(Launches::default());
    Ok(())
}

/// What has been counted so far, once the logger has caught up: CubeCL hands its lines to a
/// background thread, so this waits until no new line has arrived for 100 ms. Call it after the
/// device has finished the work (a sync, or a value read back).
pub fn settled() -> Launches {
    let read = || {
        COUNTS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_default()
    };
    let mut last = read();
    let mut quiet = Instant::now();
    while quiet.elapsed() < Duration::from_millis(100) {
        std::thread::sleep(Duration::from_millis(10));
        let now = read();
        if now != last {
            last = now;
            quiet = Instant::now();
        }
    }
    last
}
