//! The vanilla (Elman) RNN cell: `h' = act(x W_ih + b_ih + h W_hh + b_hh)`.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Tensor, backend::Backend};

use super::{Activation, CellKind, CellState, GateWeights, Initialization, RecurrentCell};
use crate::ops::recurrence::reference::rnn_step;

/// Configuration of an [`RnnCell`].
#[derive(Config, Debug)]
pub struct RnnCellConfig {
    /// Size of the input features.
    pub input_size: usize,
    /// Size of the hidden state.
    pub hidden_size: usize,
    /// `tanh` or `relu`.
    #[config(default = "Activation::Tanh")]
    pub activation: Activation,
    /// Whether the cell has the two bias vectors `b_ih`, `b_hh`.
    #[config(default = true)]
    pub bias: bool,
    /// Weight initialisation.
    #[config(default = "Initialization::new()")]
    pub init: Initialization,
}

impl RnnCellConfig {
    /// Creates the cell on `device`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> RnnCell<B> {
        RnnCell {
            weights: GateWeights::init(
                CellKind::Rnn,
                self.input_size,
                self.hidden_size,
                self.bias,
                &self.init,
                device,
            ),
            activation: self.activation,
        }
    }
}

/// A vanilla RNN cell with `tanh` or `relu`, equal to one step of `torch.nn.RNN`.
#[derive(Module, Debug)]
pub struct RnnCell<B: Backend> {
    /// Fused weights, one gate: `weight_ih` `[input, hidden]`, `weight_hh` `[hidden, hidden]`.
    pub weights: GateWeights<B>,
    /// The nonlinearity.
    #[module(skip)]
    pub activation: Activation,
}

impl<B: Backend> RecurrentCell<B> for RnnCell<B> {
    fn weights(&self) -> &GateWeights<B> {
        &self.weights
    }

    fn init_state(&self, batch: usize, device: &B::Device) -> CellState<B> {
        CellState {
            hidden: Tensor::zeros([batch, self.hidden_size()], device),
            cell: None,
        }
    }

    /// `x W_ih + b_ih + b_hh`: both biases are folded into the input projection.
    fn project_input(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        self.weights.project_input(x, true)
    }

    fn step_projected(&self, x_proj: Tensor<B, 2>, state: CellState<B>) -> CellState<B> {
        let pre = x_proj + self.weights.project_hidden(state.hidden, false);
        let hidden = rnn_step(pre, self.activation);
        CellState { hidden, cell: None }
    }
}
