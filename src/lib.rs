//! # burn-rnn
//!
//! Recurrent neural networks (vanilla RNN, LSTM, GRU) for the [Burn](https://burn.dev)
//! deep-learning framework, numerically identical to PyTorch's `nn.RNN`, `nn.LSTM` and `nn.GRU`.
//! Every module is generic over `B: Backend`, so the same model trains on the CPU (ndarray) or a
//! GPU (wgpu, cuda), and Burn's autodiff does backpropagation through time.
//!
//! The library, in dependency order (each part uses only those before it):
//!
//! - host kernels and autodiff operations (private): the recurrence, linear map, lookup and
//!   cross-entropy, each with a reference in Burn tensor ops and a host kernel;
//! - [`cell`]: one time step of each cell, gates fused in one weight pair;
//! - [`layer`]: [`Recurrent`], stacked and bidirectional layers over `[batch, seq, input]`;
//! - [`model`]: task models; [`model::CharLm`], the character-level language model;
//! - [`pytorch`]: load and save PyTorch `state_dict`s (safetensors);
//! - [`data`]: vocabulary, corpus and batches; [`sample`]: the sampler and generation;
//! - [`training`]: clipping, the weight check and the small [`training::fit`] loop;
//! - [`forecast`]: time series from a CSV table: windows, scaling, baselines, the linear
//!   autoregression and scores.
//!
//! With the `app` feature (on by default), `app`: the char-rnn application behind the
//! `burn-rnn` command (run configs, run folders and checkpoints, the training loop, evaluation,
//! benchmarks, plots). The library builds without it.
//!
//! ```
//! use burn::backend::NdArray;
//! use burn::tensor::{Distribution, Tensor};
//! use burn_rnn::{CellKind, RecurrentConfig};
//!
//! let device = Default::default();
//! let lstm = RecurrentConfig::new(CellKind::Lstm, 8, 16)
//!     .with_num_layers(2)
//!     .init::<NdArray>(&device);
//! let x = Tensor::<NdArray, 3>::random([4, 10, 8], Distribution::Default, &device);
//! let (output, state) = lstm.forward(x, None);
//! assert_eq!(output.dims(), [4, 10, 16]); // [batch, seq, hidden]
//! assert_eq!(state.hidden().dims(), [2, 4, 16]); // [layers, batch, hidden]
//! assert!(state.cell().is_some()); // the LSTM's c_n
//! ```
#![warn(missing_docs)]

mod cell_kind;
mod kernels;
mod ops;

pub mod cell;
pub mod data;
pub mod forecast;
pub mod layer;
pub mod model;
pub mod pytorch;
pub mod sample;
pub mod training;

#[cfg(feature = "app")]
pub mod app;

pub use cell::{
    Activation, Cell, CellKind, CellState, GruCell, GruCellConfig, InitScheme, Initialization,
    LstmCell, LstmCellConfig, RecurrentCell, RnnCell, RnnCellConfig,
};
pub use kernels::cpu_isa;
pub use layer::{Recurrent, RecurrentConfig, RecurrentState};

/// The README's code blocks, compiled and run as doc tests.
#[cfg(all(doctest, feature = "app"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
