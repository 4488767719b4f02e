//! `[backend]`: which backend and devices run the job.

use serde::{Deserialize, Serialize};

/// Which backend runs the job (also the `--backend` option of the command line).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// A real GPU: a CUDA device (when built with `cuda`), else a wgpu adapter that is a
    /// discrete or integrated GPU (when built with `wgpu`; never a software renderer), else
    /// the CPU.
    #[default]
    Auto,
    /// The CPU (ndarray).
    Cpu,
    /// The GPU through wgpu (needs `--features wgpu`).
    Wgpu,
    /// NVIDIA GPUs through CUDA (needs `--features cuda`).
    Cuda,
    /// Burn's flex CPU backend (needs `--features flex`; for comparison, slower here).
    Flex,
}

/// A backend that this binary was built without.
#[derive(Debug, thiserror::Error)]
#[error(
    "the {0} backend was asked for, but this binary was built without it; rebuild with `--features {0}`"
)]
pub struct BackendNotBuilt(pub &'static str);

impl BackendKind {
    /// The backend as asked, checked against the features this binary was built with (`Auto`
    /// stays `Auto`: `crate::app::device::choose` probes the GPUs for it).
    pub fn resolve_built(self) -> Result<Self, BackendNotBuilt> {
        match self {
            BackendKind::Wgpu if !cfg!(feature = "wgpu") => Err(BackendNotBuilt("wgpu")),
            BackendKind::Flex if !cfg!(feature = "flex") => Err(BackendNotBuilt("flex")),
            BackendKind::Cuda if !cfg!(feature = "cuda") => Err(BackendNotBuilt("cuda")),
            other => Ok(other),
        }
    }
}

/// `[backend]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackendSection {
    /// `auto`, `cpu`, `wgpu`, `cuda` or `flex`.
    pub kind: BackendKind,
    /// The device: for wgpu 0 is wgpu's default adapter (discrete first), N > 0 the N-th
    /// discrete GPU; for cuda the GPU's index.
    pub device: usize,
    /// Data-parallel training on these devices (replacing `device`), e.g. `[0, 1]`: each gets an
    /// equal share of every batch and Burn sums their gradients. On the CPU backend, which has
    /// one device, each entry is a replica running in its own thread.
    pub devices: Option<Vec<usize>>,
    /// Run each recurrent layer as one autodiff operation with a hand-written backward (fast);
    /// `false` lets Burn's autodiff record every step (same numbers, slower).
    pub fused: bool,
}

impl Default for BackendSection {
    fn default() -> Self {
        Self {
            kind: BackendKind::Auto,
            device: 0,
            devices: None,
            fused: true,
        }
    }
}
