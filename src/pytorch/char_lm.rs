//! A whole PyTorch character language model (`nn.Embedding` → `nn.RNN/LSTM/GRU` → `nn.Linear`)
//! as burn-rnn's [`CharLm`], under the keys of the reference script: `emb.weight` (or
//! `embedding.weight`), `rnn.*`, `head.weight`, `head.bias`. Read with [`load_char_lm`], written
//! with [`save_char_lm`].

use std::collections::HashMap;

use burn::tensor::{Tensor, backend::Backend};
use safetensors::SafeTensors;

use super::{
    PytorchError, encode, entries, layer_tensors, load_state_dict, replace, serialize, tensor_of,
};
use crate::model::CharLm;

/// Where a character language model's embedding may live in a PyTorch `state_dict`: `emb.weight`
/// (the reference script `pytorch_quality.py`) or `embedding.weight`.
pub const EMBEDDING_KEYS: [&str; 2] = ["emb.weight", "embedding.weight"];

/// Loads a whole PyTorch character language model (safetensors bytes of its `state_dict`) into
/// `model`, whose config must match: `emb.weight` or `embedding.weight` `[V, E]`, the recurrent
/// module under `rnn.` (see [`load_state_dict`]), `head.weight` `[V, H]` and `head.bias` `[V]`
/// (`nn.Linear(H, V)`). Every key of the file must be one of these.
pub fn load_char_lm<B: Backend>(
    mut model: CharLm<B>,
    bytes: &[u8],
) -> Result<CharLm<B>, PytorchError> {
    let file = SafeTensors::deserialize(bytes).map_err(|e| PytorchError::Format(e.to_string()))?;
    let [vocab, embedding] = model.embedding.weight.dims();
    let [hidden, _] = model.head.weight.dims();
    let device = model.embedding.weight.device();
    let rnn_keys: Vec<String> = entries(&model.rnn, "rnn.")
        .into_iter()
        .map(|e| e.key)
        .collect();
    let emb_key = EMBEDDING_KEYS
        .into_iter()
        .find(|k| file.names().contains(k))
        .unwrap_or(EMBEDDING_KEYS[0]);
    let mut expected: Vec<String> = vec![
        emb_key.to_string(),
        "head.weight".to_string(),
        "head.bias".to_string(),
    ];
    expected.extend(rnn_keys);
    let mut names: Vec<&str> = file.names().into_iter().collect();
    names.sort();
    for name in names {
        if !expected.iter().any(|k| k == name) {
            let found = file
                .tensor(name)
                .map(|v| v.shape().to_vec())
                .unwrap_or_default();
            return Err(PytorchError::UnexpectedKey {
                key: name.to_string(),
                found,
                expected: expected
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    let emb: Tensor<B, 2> = tensor_of(&file, emb_key, &[vocab, embedding], &device)?;
    let head_w: Tensor<B, 2> = tensor_of(&file, "head.weight", &[vocab, hidden], &device)?;
    let head_b: Tensor<B, 1> = tensor_of(&file, "head.bias", &[vocab], &device)?;
    model.rnn = load_state_dict(model.rnn, bytes, "rnn.")?;
    model.embedding.weight = replace(model.embedding.weight, emb);
    // nn.Linear stores [out, in]; Burn's Linear [in, out].
    let head_w = Tensor::from_data(head_w.transpose().into_data(), &device);
    model.head.weight = replace(model.head.weight, head_w);
    if let Some(bias) = model.head.bias.take() {
        model.head.bias = Some(replace(bias, head_b));
    }
    Ok(model)
}

/// Serialises `model` as the `state_dict` of the PyTorch module [`load_char_lm`] reads, in f32
/// (whatever the backend's precision), with `metadata` (strings) in the safetensors header:
///
/// | key | PyTorch shape | from |
/// |---|---|---|
/// | `emb.weight` | `[V, E]` | `embedding.weight` |
/// | `rnn.weight_ih_l{k}`, `rnn.weight_hh_l{k}` | `[G*H, in]`, `[G*H, H]` | the transposed weights, gates in PyTorch's order |
/// | `rnn.bias_ih_l{k}`, `rnn.bias_hh_l{k}` | `[G*H]` | the biases |
/// | `head.weight` | `[V, H]` | `head.weight` `[H, V]` transposed (`nn.Linear` stores `[out, in]`) |
/// | `head.bias` | `[V]` | `head.bias` |
pub fn save_char_lm<B: Backend>(
    model: &CharLm<B>,
    metadata: HashMap<String, String>,
) -> Result<Vec<u8>, PytorchError> {
    let [vocab, embedding] = model.embedding.weight.dims();
    let [hidden, _] = model.head.weight.dims();
    let mut tensors = vec![{
        let (dtype, bytes) = encode(model.embedding.weight.val().into_data(), true);
        (
            EMBEDDING_KEYS[0].to_string(),
            dtype,
            vec![vocab, embedding],
            bytes,
        )
    }];
    tensors.extend(layer_tensors(&model.rnn, "rnn.", true));
    let (dtype, bytes) = encode(model.head.weight.val().transpose().into_data(), true);
    tensors.push(("head.weight".to_string(), dtype, vec![vocab, hidden], bytes));
    let bias = match &model.head.bias {
        Some(b) => b.val().into_data(),
        None => Tensor::<B, 1>::zeros([vocab], &model.head.weight.device()).into_data(),
    };
    let (dtype, bytes) = encode(bias, true);
    tensors.push(("head.bias".to_string(), dtype, vec![vocab], bytes));
    serialize(&tensors, Some(metadata))
}
