//! The char-rnn application behind the `burn-rnn` command, built on the library: what a run
//! config says, where a run keeps its files, how it trains, evaluates, benchmarks and draws.
//!
//! Leaves first (each uses only those before it and the library):
//! - [`config`]: the run config (schema, TOML and `--set` overrides, validation, durations,
//!   the learning-rate schedule, the backend section);
//! - [`checkpoint`]: the run folder (atomic locked writes, records, metrics and samples files);
//! - [`plot`]: the loss curves; [`optimiser`]: the run's optimiser, built in one place;
//! - `adapter` (feature `wgpu`): which wgpu adapter a run gets; [`device`]: which backend
//!   `auto` and `--backend` give a run, and the errors when a GPU backend has no device;
//! - [`run`]: a run folder with its model (load, sample, import, export);
//! - [`eval`]: a checkpoint's loss on a text;
//! - [`train`]: the training loop;
//! - [`bench`](mod@bench): the benchmark workloads and, with a GPU feature, the kernel-launch counter;
//! - [`forecast`]: the forecasting task (`task = "forecast"`): training, backtest, forecasts.

#[cfg(feature = "wgpu")]
pub mod adapter;
pub mod bench;
pub mod checkpoint;
pub mod config;
pub mod device;
pub mod eval;
pub mod forecast;
pub mod optimiser;
pub mod plot;
pub mod run;
pub mod train;
