//! PyTorch interop: load a `state_dict` of `nn.RNN`/`nn.LSTM`/`nn.GRU` saved as safetensors into a
//! [`Recurrent`] layer, and save a layer under the same keys.
//!
//! Keys are PyTorch's: `weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}`, `bias_hh_l{k}`, with a
//! `_reverse` suffix for the second direction, optionally behind a prefix (`rnn.` for a model
//! whose recurrent module is called `rnn`). PyTorch stores `weight_ih_l{k}` as
//! `[gates * H, input]`; burn-rnn stores the transpose, so loading and saving transpose.
//! f32 and f64 files are accepted; a layer is saved in its backend's float precision.
//!
//! ```python
//! from safetensors.torch import save_file
//! save_file(lstm.state_dict(), "lstm.safetensors")
//! ```
//!
//! [`load_char_lm`] reads a whole character language model (embedding, `rnn.*`, head);
//! [`save_char_lm`] writes one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::tensor::{DType, Tensor, TensorData, backend::Backend};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use crate::cell::{GateWeights, RecurrentCell};
use crate::layer::Recurrent;

mod char_lm;
pub use char_lm::{EMBEDDING_KEYS, load_char_lm, save_char_lm};

/// What can go wrong when reading or writing a PyTorch `state_dict`.
#[derive(Debug, thiserror::Error)]
pub enum PytorchError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// The bytes are not a safetensors file.
    #[error("not a safetensors file: {0}")]
    Format(String),
    /// A parameter of the layer has no key in the file.
    #[error("missing key `{key}`: expected a tensor of shape {expected:?}")]
    MissingKey {
        /// The key the layer needs.
        key: String,
        /// PyTorch's shape for it.
        expected: Vec<usize>,
    },
    /// The file has a key the layer has no parameter for.
    #[error(
        "unexpected key `{key}` (shape {found:?}): the layer has no such parameter; it expects {expected}"
    )]
    UnexpectedKey {
        /// The key in the file.
        key: String,
        /// Its shape.
        found: Vec<usize>,
        /// The keys the layer expects.
        expected: String,
    },
    /// A key's tensor has the wrong shape.
    #[error("key `{key}`: shape mismatch, the layer expects {expected:?}, the file has {found:?}")]
    ShapeMismatch {
        /// The key.
        key: String,
        /// PyTorch's shape for this layer's parameter.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// A key's tensor holds NaN or an infinity.
    #[error("key `{key}`: value {value} at flat index {index}; weights must be finite numbers")]
    NonFinite {
        /// The key.
        key: String,
        /// The first non-finite value.
        value: f64,
        /// Its index in the flattened tensor.
        index: usize,
    },
    /// A key's tensor is not f32 or f64.
    #[error("key `{key}`: dtype {found} is not supported, expected F32 or F64")]
    Dtype {
        /// The key.
        key: String,
        /// The dtype in the file.
        found: String,
    },
}

/// One parameter of the layer under its PyTorch name.
struct Entry {
    key: String,
    /// PyTorch's shape (weights transposed with respect to ours).
    shape: Vec<usize>,
    cell: usize,
    which: Which,
}

#[derive(Clone, Copy)]
enum Which {
    WeightIh,
    WeightHh,
    BiasIh,
    BiasHh,
}

fn entries<B: Backend>(layer: &Recurrent<B>, prefix: &str) -> Vec<Entry> {
    let dirs = layer.directions();
    let mut out = Vec::new();
    for (index, cell) in layer.cells.iter().enumerate() {
        let (l, d) = (index / dirs, index % dirs);
        let suffix = if d == 1 { "_reverse" } else { "" };
        let w = cell.weights();
        let [input, gh] = w.weight_ih.dims();
        let hidden = w.weight_hh.dims()[0];
        let mut push = |name: &str, shape: Vec<usize>, which| {
            out.push(Entry {
                key: format!("{prefix}{name}_l{l}{suffix}"),
                shape,
                cell: index,
                which,
            })
        };
        push("weight_ih", vec![gh, input], Which::WeightIh);
        push("weight_hh", vec![gh, hidden], Which::WeightHh);
        if w.bias_ih.is_some() {
            push("bias_ih", vec![gh], Which::BiasIh);
            push("bias_hh", vec![gh], Which::BiasHh);
        }
    }
    out
}

fn view_to_data(key: &str, view: &TensorView<'_>) -> Result<TensorData, PytorchError> {
    let shape = view.shape().to_vec();
    let bytes = view.data();
    match view.dtype() {
        Dtype::F32 => Ok(TensorData::new(
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
                .collect::<Vec<f32>>(),
            shape,
        )),
        Dtype::F64 => Ok(TensorData::new(
            bytes
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
                .collect::<Vec<f64>>(),
            shape,
        )),
        other => Err(PytorchError::Dtype {
            key: key.to_string(),
            found: format!("{other:?}"),
        }),
    }
}

fn replace<B: Backend, const D: usize>(
    param: Param<Tensor<B, D>>,
    value: Tensor<B, D>,
) -> Param<Tensor<B, D>> {
    param.map(|old| {
        let require_grad = old.is_require_grad();
        value.set_require_grad(require_grad)
    })
}

/// The tensor `key` of `file`, which must have PyTorch's shape `expected`.
fn tensor_of<B: Backend, const D: usize>(
    file: &SafeTensors<'_>,
    key: &str,
    expected: &[usize],
    device: &B::Device,
) -> Result<Tensor<B, D>, PytorchError> {
    let view = file.tensor(key).map_err(|_| PytorchError::MissingKey {
        key: key.to_string(),
        expected: expected.to_vec(),
    })?;
    if view.shape() != expected {
        return Err(PytorchError::ShapeMismatch {
            key: key.to_string(),
            expected: expected.to_vec(),
            found: view.shape().to_vec(),
        });
    }
    let data = view_to_data(key, &view)?;
    if let Some((index, value)) = data.iter::<f64>().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(PytorchError::NonFinite {
            key: key.to_string(),
            value,
            index,
        });
    }
    Ok(Tensor::from_data(data, device))
}

/// Loads a PyTorch `state_dict` (safetensors bytes) into `layer`, whose config must match.
///
/// Keys outside `prefix` are ignored (a file may hold a whole model); inside it, every key must be
/// a parameter of the layer and every parameter must be present with PyTorch's shape.
pub fn load_state_dict<B: Backend>(
    mut layer: Recurrent<B>,
    bytes: &[u8],
    prefix: &str,
) -> Result<Recurrent<B>, PytorchError> {
    let file = SafeTensors::deserialize(bytes).map_err(|e| PytorchError::Format(e.to_string()))?;
    let entries = entries(&layer, prefix);
    let expected: BTreeMap<&str, &Entry> = entries.iter().map(|e| (e.key.as_str(), e)).collect();
    let mut names: Vec<String> = file.names().into_iter().map(str::to_string).collect();
    names.sort();
    for name in &names {
        if name.starts_with(prefix) && !expected.contains_key(name.as_str()) {
            let found = file
                .tensor(name)
                .map(|v| v.shape().to_vec())
                .unwrap_or_default();
            return Err(PytorchError::UnexpectedKey {
                key: name.clone(),
                found,
                expected: entries
                    .iter()
                    .map(|e| format!("`{}`", e.key))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    let device = layer.cells[0].weights().weight_ih.device();
    for entry in &entries {
        let weights: &mut GateWeights<B> = layer.cells[entry.cell].weights_mut();
        match entry.which {
            Which::WeightIh | Which::WeightHh => {
                let value: Tensor<B, 2> = tensor_of(&file, &entry.key, &entry.shape, &device)?;
                let value = value.transpose();
                // Materialise the transpose so the stored weight is contiguous.
                let value = Tensor::from_data(value.into_data(), &device);
                let slot = match entry.which {
                    Which::WeightIh => &mut weights.weight_ih,
                    _ => &mut weights.weight_hh,
                };
                *slot = replace(slot.clone(), value);
            }
            Which::BiasIh | Which::BiasHh => {
                let value: Tensor<B, 1> = tensor_of(&file, &entry.key, &entry.shape, &device)?;
                let slot = match entry.which {
                    Which::BiasIh => weights.bias_ih.as_mut(),
                    _ => weights.bias_hh.as_mut(),
                }
                .expect("bias entries exist only for cells with biases");
                *slot = replace(slot.clone(), value);
            }
        }
    }
    Ok(layer)
}

/// Reads a safetensors file and loads it with [`load_state_dict`].
pub fn load_file<B: Backend>(
    layer: Recurrent<B>,
    path: impl AsRef<Path>,
    prefix: &str,
) -> Result<Recurrent<B>, PytorchError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| PytorchError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    load_state_dict(layer, &bytes, prefix)
}

/// Serialises `layer` as a PyTorch `state_dict` in safetensors format, in the backend's float
/// precision (f64 for an f64 backend, else f32).
pub fn save_state_dict<B: Backend>(
    layer: &Recurrent<B>,
    prefix: &str,
) -> Result<Vec<u8>, PytorchError> {
    serialize(&layer_tensors(layer, prefix, false), None)
}

/// One tensor of a `state_dict` to write: key, dtype, PyTorch's shape, little-endian bytes.
type Named = (String, Dtype, Vec<usize>, Vec<u8>);

/// `data` as safetensors bytes: f64 stays f64 unless `f32`, everything else becomes f32.
fn encode(data: TensorData, f32: bool) -> (Dtype, Vec<u8>) {
    if data.dtype == DType::F64 && !f32 {
        let values = data.convert::<f64>().to_vec::<f64>().expect("f64 data");
        (
            Dtype::F64,
            values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        )
    } else {
        let values = data.convert::<f32>().to_vec::<f32>().expect("f32 data");
        (
            Dtype::F32,
            values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        )
    }
}

/// The parameters of `layer` under PyTorch's keys behind `prefix`, weights transposed to
/// PyTorch's `[gates * H, input]`; in f32 when `f32`, else in the backend's precision.
fn layer_tensors<B: Backend>(layer: &Recurrent<B>, prefix: &str, f32: bool) -> Vec<Named> {
    entries(layer, prefix)
        .into_iter()
        .map(|entry| {
            let w = layer.cells[entry.cell].weights();
            let data = match entry.which {
                Which::WeightIh => w.weight_ih.val().transpose().into_data(),
                Which::WeightHh => w.weight_hh.val().transpose().into_data(),
                Which::BiasIh => w.bias_ih.as_ref().expect("bias").val().into_data(),
                Which::BiasHh => w.bias_hh.as_ref().expect("bias").val().into_data(),
            };
            let (dtype, bytes) = encode(data, f32);
            (entry.key, dtype, entry.shape, bytes)
        })
        .collect()
}

/// safetensors bytes of `tensors`, with `metadata` in the header.
fn serialize(
    tensors: &[Named],
    metadata: Option<std::collections::HashMap<String, String>>,
) -> Result<Vec<u8>, PytorchError> {
    let views = tensors
        .iter()
        .map(|(key, dtype, shape, bytes)| {
            TensorView::new(*dtype, shape.clone(), bytes)
                .map(|view| (key.clone(), view))
                .map_err(|e| PytorchError::Format(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    safetensors::serialize(views, metadata).map_err(|e| PytorchError::Format(e.to_string()))
}

/// Writes `layer` to a safetensors file with [`save_state_dict`] (atomically: a temporary file
/// in the same folder, then a rename).
pub fn save_file<B: Backend>(
    layer: &Recurrent<B>,
    path: impl AsRef<Path>,
    prefix: &str,
) -> Result<(), PytorchError> {
    let path = path.as_ref();
    let bytes = save_state_dict(layer, prefix)?;
    let io = |source| PytorchError::Io {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("safetensors.tmp");
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}
