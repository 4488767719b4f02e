//! Burn records to bytes and back: a module's weights and an optimiser's state (Burn's binary
//! format, full precision), loaded with a check that every parameter has the shape the caller's
//! module expects; and named `[.., ..]` tensors as safetensors (the carried hidden state).

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::{Module, ModuleVisitor, Param};
use burn::record::{BinBytesRecorder, FullPrecisionSettings, Record, Recorder};
use burn::tensor::{Tensor, TensorData, backend::Backend};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use super::CheckpointError;

fn recorder() -> BinBytesRecorder<FullPrecisionSettings> {
    BinBytesRecorder::default()
}

/// Runs `f`, catching a panic without printing it: Burn's record decoding and loading panic on
/// a record of another structure. The panic hook is the process's, so one caller at a time swaps
/// it.
fn quietly<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    static HOOK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = HOOK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(hook);
    result
}

/// A record (a module's or an optimiser's) as bytes.
pub fn record_bytes<B: Backend, R: Record<B>>(record: R) -> Result<Vec<u8>, String> {
    Recorder::<B>::record(&recorder(), record, ()).map_err(|e| e.to_string())
}

/// A module's weights as bytes.
pub fn module_bytes<B: Backend, M: Module<B>>(module: &M) -> Vec<u8> {
    record_bytes::<B, _>(module.clone().into_record()).expect("a module's record serialises")
}

/// Decodes the record `name` of a checkpoint's `files` (read from folder `dir`); `what` names it
/// in the error.
pub fn load_record<B: Backend, R: Record<B>>(
    files: &BTreeMap<String, Vec<u8>>,
    dir: &Path,
    name: &str,
    what: &str,
    device: &B::Device,
) -> Result<R, CheckpointError> {
    let bytes = files.get(name).ok_or_else(|| CheckpointError::Invalid {
        path: dir.to_path_buf(),
        message: format!("no {name}"),
    })?;
    let invalid = |message: String| CheckpointError::Invalid {
        path: dir.join(name),
        message: format!("cannot decode the {what}: {message}"),
    };
    // Burn's decoder panics on bytes of another structure (a checkpoint of another model, or of
    // an earlier burn-rnn whose model had other fields): caught, silently, and reported.
    match quietly(|| Recorder::<B>::load(&recorder(), bytes.clone(), device)) {
        Ok(record) => record.map_err(|e| invalid(e.to_string())),
        Err(_) => Err(invalid(
            "its structure is not this model's (a checkpoint of another model, or written by another version of burn-rnn: train the run again)".into(),
        )),
    }
}

/// Loads the weights `name` of a checkpoint's `files` into `module`, refusing a record whose
/// structure or parameter shapes differ from `module`'s (Burn's `load_record` takes whatever
/// shapes the record holds, and panics on another structure). `expected` says in the error what
/// describes the module (for example "the run's config.toml and vocab.json").
pub fn load_module<B: Backend, M: Module<B>>(
    module: M,
    files: &BTreeMap<String, Vec<u8>>,
    dir: &Path,
    name: &str,
    expected: &str,
    device: &B::Device,
) -> Result<M, CheckpointError> {
    let path = dir.join(name);
    let want = param_shapes(&module);
    let record = load_record::<B, M::Record>(files, dir, name, "model", device)?;
    // Catch load_record's panic, silently, and report it as a checkpoint of another model.
    let loaded = quietly(|| module.load_record(record));
    let invalid = |message: String| CheckpointError::Invalid {
        path: path.clone(),
        message,
    };
    let module = loaded.map_err(|_| {
        invalid(format!(
            "its layers do not match {expected} (model.cell or model.num_layers differ); the checkpoint belongs to another model"
        ))
    })?;
    let found = param_shapes(&module);
    for ((name, want), (_, got)) in want.iter().zip(&found) {
        if want != got {
            return Err(invalid(format!(
                "parameter `{name}` has shape {got:?}, but {expected} describe {want:?}; the checkpoint belongs to another model"
            )));
        }
    }
    if want.len() != found.len() {
        return Err(invalid(format!(
            "{} parameters, but {expected} describe {}",
            found.len(),
            want.len()
        )));
    }
    Ok(module)
}

/// Every float parameter of a module as `(path, shape)`, in visiting order.
pub fn param_shapes<B: Backend, M: Module<B>>(module: &M) -> Vec<(String, Vec<usize>)> {
    struct Shapes {
        path: Vec<String>,
        out: Vec<(String, Vec<usize>)>,
    }
    impl<B: Backend> ModuleVisitor<B> for Shapes {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            self.out
                .push((self.path.join("."), param.lazy_shape().to_vec()));
        }
    }
    let mut v = Shapes {
        path: Vec::new(),
        out: Vec::new(),
    };
    module.visit(&mut v);
    v.out
}

/// Named tensors as safetensors bytes, f32.
pub fn tensors_bytes<B: Backend, const D: usize>(tensors: Vec<(&str, Tensor<B, D>)>) -> Vec<u8> {
    let encoded: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .into_iter()
        .map(|(name, t)| {
            let shape = t.dims().to_vec();
            let values = t.into_data().convert::<f32>().to_vec::<f32>().expect("f32");
            let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            (name.to_string(), shape, bytes)
        })
        .collect();
    let views: Vec<(String, TensorView<'_>)> = encoded
        .iter()
        .map(|(n, s, b)| {
            let view = TensorView::new(Dtype::F32, s.clone(), b).expect("shape matches the bytes");
            (n.clone(), view)
        })
        .collect();
    safetensors::serialize(views, None).expect("safetensors serialise")
}

/// The tensor `name` of safetensors `bytes` written by [`tensors_bytes`]; `None` when the bytes
/// are not such a file or hold no such f32 tensor of rank `D`.
pub fn tensor_from_bytes<B: Backend, const D: usize>(
    bytes: &[u8],
    name: &str,
    device: &B::Device,
) -> Option<Tensor<B, D>> {
    let file = SafeTensors::deserialize(bytes).ok()?;
    let view = file.tensor(name).ok()?;
    if view.dtype() != Dtype::F32 || view.shape().len() != D {
        return None;
    }
    let values: Vec<f32> = view
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
        .collect();
    Some(Tensor::from_data(
        TensorData::new(values, view.shape().to_vec()),
        device,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;
    use burn::nn::{Linear, LinearConfig};

    type B = NdArray;

    #[test]
    fn bytes_of_another_structure_are_an_error_not_a_panic() {
        let device = Default::default();
        let linear: Linear<B> = LinearConfig::new(3, 2).init(&device);
        let good = module_bytes::<B, _>(&linear);
        let dir = Path::new("run/checkpoints/best");
        let files = |bytes: Vec<u8>| BTreeMap::from([("model.bin".to_string(), bytes)]);
        let load = |bytes| {
            load_record::<B, <Linear<B> as Module<B>>::Record>(
                &files(bytes),
                dir,
                "model.bin",
                "model",
                &device,
            )
        };
        assert!(load(good.clone()).is_ok(), "the module's own bytes decode");
        // Burn's decoder panics on these bytes; the loader reports them.
        for bad in [vec![0xff; 16], good[..good.len() / 2].to_vec()] {
            let Err(error) = load(bad) else {
                panic!("bytes of another structure decoded");
            };
            let error = error.to_string();
            assert!(
                error.contains("model.bin") && error.contains("cannot decode"),
                "{error}"
            );
        }
    }
}
