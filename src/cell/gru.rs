//! The GRU cell, gates `r, z, n` fused in one weight pair, as `torch.nn.GRU`:
//!
//! ```text
//! r = σ(x W_ir + b_ir + h W_hr + b_hr)
//! z = σ(x W_iz + b_iz + h W_hz + b_hz)
//! n = tanh(x W_in + b_in + r * (h W_hn + b_hn))
//! h' = (1 - z) * n + z * h
//! ```

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Tensor, backend::Backend};

use super::{CellKind, CellState, GateWeights, Initialization, RecurrentCell};
use crate::ops::recurrence::reference::gru_step;

/// Configuration of a [`GruCell`].
#[derive(Config, Debug)]
pub struct GruCellConfig {
    /// Size of the input features.
    pub input_size: usize,
    /// Size of the hidden state.
    pub hidden_size: usize,
    /// Whether the cell has the two bias vectors `b_ih`, `b_hh`.
    #[config(default = true)]
    pub bias: bool,
    /// Weight initialisation.
    #[config(default = "Initialization::new()")]
    pub init: Initialization,
}

impl GruCellConfig {
    /// Creates the cell on `device`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> GruCell<B> {
        GruCell {
            weights: GateWeights::init(
                CellKind::Gru,
                self.input_size,
                self.hidden_size,
                self.bias,
                &self.init,
                device,
            ),
        }
    }
}

/// A GRU cell, equal to one step of `torch.nn.GRU`.
#[derive(Module, Debug)]
pub struct GruCell<B: Backend> {
    /// Fused weights, three gates: `weight_ih` `[input, 3 hidden]`, `weight_hh` `[hidden, 3 hidden]`.
    pub weights: GateWeights<B>,
}

impl<B: Backend> RecurrentCell<B> for GruCell<B> {
    fn weights(&self) -> &GateWeights<B> {
        &self.weights
    }

    fn init_state(&self, batch: usize, device: &B::Device) -> CellState<B> {
        CellState {
            hidden: Tensor::zeros([batch, self.hidden_size()], device),
            cell: None,
        }
    }

    /// `x W_ih + b_ih`: `b_hh` stays in the recurrent part because `b_hn` sits inside `r * (...)`.
    fn project_input(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        self.weights.project_input(x, false)
    }

    fn step_projected(&self, x_proj: Tensor<B, 2>, state: CellState<B>) -> CellState<B> {
        let h = state.hidden;
        let hp = self.weights.project_hidden(h.clone(), true);
        let hidden = gru_step(x_proj, hp, h);
        CellState { hidden, cell: None }
    }
}
