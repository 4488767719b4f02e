//! The LSTM cell, gates `i, f, g, o` fused in one weight pair, as `torch.nn.LSTM`:
//!
//! ```text
//! [i f g o] = x W_ih + b_ih + h W_hh + b_hh
//! c' = σ(f) * c + σ(i) * tanh(g)
//! h' = σ(o) * tanh(c')
//! ```

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Tensor, backend::Backend};

use super::{CellKind, CellState, GateWeights, Initialization, RecurrentCell};
use crate::ops::recurrence::reference::lstm_step;

/// Configuration of an [`LstmCell`].
#[derive(Config, Debug)]
pub struct LstmCellConfig {
    /// Size of the input features.
    pub input_size: usize,
    /// Size of the hidden state.
    pub hidden_size: usize,
    /// Whether the cell has the two bias vectors `b_ih`, `b_hh`.
    #[config(default = true)]
    pub bias: bool,
    /// Weight initialisation (including the forget-gate bias option).
    #[config(default = "Initialization::new()")]
    pub init: Initialization,
}

impl LstmCellConfig {
    /// Creates the cell on `device`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> LstmCell<B> {
        LstmCell {
            weights: GateWeights::init(
                CellKind::Lstm,
                self.input_size,
                self.hidden_size,
                self.bias,
                &self.init,
                device,
            ),
        }
    }
}

/// An LSTM cell, equal to one step of `torch.nn.LSTM`.
#[derive(Module, Debug)]
pub struct LstmCell<B: Backend> {
    /// Fused weights, four gates: `weight_ih` `[input, 4 hidden]`, `weight_hh` `[hidden, 4 hidden]`.
    pub weights: GateWeights<B>,
}

impl<B: Backend> RecurrentCell<B> for LstmCell<B> {
    fn weights(&self) -> &GateWeights<B> {
        &self.weights
    }

    fn init_state(&self, batch: usize, device: &B::Device) -> CellState<B> {
        let zeros = Tensor::zeros([batch, self.hidden_size()], device);
        CellState {
            hidden: zeros.clone(),
            cell: Some(zeros),
        }
    }

    /// `x W_ih + b_ih + b_hh`: both biases are folded into the input projection.
    fn project_input(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        self.weights.project_input(x, true)
    }

    /// # Panics
    /// If `state.cell` is `None` (an LSTM state always carries its cell state).
    fn step_projected(&self, x_proj: Tensor<B, 2>, state: CellState<B>) -> CellState<B> {
        let c = state
            .cell
            .expect("an LSTM state carries a cell state; build it with init_state");
        let pre = x_proj + self.weights.project_hidden(state.hidden, false);
        let (hidden, cell) = lstm_step(pre, c);
        CellState {
            hidden,
            cell: Some(cell),
        }
    }
}
