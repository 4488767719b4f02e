//! Which backend a run gets: `auto` takes a real GPU (a CUDA device when built with `cuda` and
//! one answers, else a wgpu adapter that is a discrete or integrated GPU) and otherwise the CPU,
//! saying why in one line; a software renderer (lavapipe, llvmpipe, SwiftShader, WARP) is never
//! `auto`'s choice. An asked-for GPU backend with no device is an error naming what is missing,
//! never a panic inside the GPU runtime.

use crate::app::config::{BackendKind, BackendNotBuilt};

/// The backend that runs, and what the run should be told about the choice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    /// `Cpu`, `Wgpu`, `Cuda` or `Flex` (never `Auto`).
    pub kind: BackendKind,
    /// What the backend line adds: the wgpu adapter (name, kind, vendor, driver) or the CUDA
    /// device count; empty for the CPU backends.
    pub detail: String,
    /// Why `auto` chose the CPU, or that the asked-for wgpu adapter is a software renderer.
    pub note: Option<String>,
}

/// An asked-for backend that cannot run here.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The binary was built without it.
    #[error(transparent)]
    NotBuilt(#[from] BackendNotBuilt),
    /// `--backend wgpu` and wgpu finds no adapter.
    #[error(
        "the wgpu backend was asked for, but wgpu finds no adapter: no Vulkan driver is installed (install your GPU's Vulkan driver, or Mesa's lavapipe for a software one); `--backend cpu` runs on the CPU"
    )]
    NoAdapter,
    /// `--backend cuda` and the CUDA driver does not answer or has no device.
    #[error(
        "the cuda backend was asked for, but {0}; `--backend cpu` runs on the CPU (or `--backend wgpu` through the Vulkan driver)"
    )]
    Cuda(String),
}

/// Resolves `kind` to the backend that runs here, probing the GPU runtimes this binary was
/// built with.
pub fn choose(kind: BackendKind) -> Result<Choice, DeviceError> {
    let plain = |kind| Choice {
        kind,
        detail: String::new(),
        note: None,
    };
    match kind.resolve_built()? {
        BackendKind::Auto => Ok(auto()),
        BackendKind::Wgpu => wgpu_choice(),
        BackendKind::Cuda => {
            let detail = cuda_detail().map_err(DeviceError::Cuda)?;
            Ok(Choice {
                kind: BackendKind::Cuda,
                detail,
                note: None,
            })
        }
        other => Ok(plain(other)),
    }
}

/// `auto`: a CUDA device, else a wgpu GPU, else the CPU with the reasons.
fn auto() -> Choice {
    let mut why: Vec<String> = Vec::new();
    if cfg!(feature = "cuda") {
        match cuda_detail() {
            Ok(detail) => {
                return Choice {
                    kind: BackendKind::Cuda,
                    detail,
                    note: None,
                };
            }
            Err(e) => why.push(format!("CUDA: {e}")),
        }
    }
    if cfg!(feature = "wgpu") {
        match wgpu_choice() {
            Ok(c) if c.note.is_none() => return c,
            Ok(c) => why.push(format!(
                "wgpu's adapter is {}, a software renderer",
                c.detail
            )),
            Err(_) => why.push("wgpu finds no adapter (no Vulkan driver)".into()),
        }
    }
    Choice {
        kind: BackendKind::Cpu,
        detail: String::new(),
        note: (!why.is_empty()).then(|| {
            format!(
                "backend auto: no GPU ({}); running on the CPU",
                why.join("; ")
            )
        }),
    }
}

#[cfg(feature = "wgpu")]
fn wgpu_choice() -> Result<Choice, DeviceError> {
    let adapter = crate::app::adapter::default_adapter().ok_or(DeviceError::NoAdapter)?;
    Ok(Choice {
        kind: BackendKind::Wgpu,
        detail: adapter.to_string(),
        note: adapter.software.then(|| {
            format!(
                "wgpu's adapter {} is a software renderer: it runs on the CPU, slower than `--backend cpu`",
                adapter.name
            )
        }),
    })
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_choice() -> Result<Choice, DeviceError> {
    Err(BackendNotBuilt("wgpu").into())
}

/// The CUDA devices as the backend line names them, or why there are none.
#[cfg(feature = "cuda")]
fn cuda_detail() -> Result<String, String> {
    use cudarc::driver::result;
    // With no driver library, cudarc's loader panics: caught here, silently, as an answer.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let probe = std::panic::catch_unwind(|| {
        result::init()?;
        result::device::get_count()
    });
    std::panic::set_hook(hook);
    match probe {
        Ok(Ok(n)) if n > 0 => Ok(format!("{n} CUDA device(s)")),
        Ok(Ok(_)) => Err("the CUDA driver finds no device".into()),
        Ok(Err(e)) => Err(format!("the CUDA driver fails to start ({e})")),
        Err(_) => Err(
            "the CUDA driver library (libcuda.so) cannot be loaded: no NVIDIA driver is installed, or it is not on LD_LIBRARY_PATH".into(),
        ),
    }
}

#[cfg(not(feature = "cuda"))]
fn cuda_detail() -> Result<String, String> {
    Err("this binary was built without `--features cuda`".into())
}
