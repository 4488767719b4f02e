//! Recurrent cells: one time step of a vanilla RNN, an LSTM or a GRU.
//!
//! Every cell keeps all its gates in one fused weight pair, stored the way Burn's `Linear` stores
//! weights (`[in, out]`, so a projection is `x.matmul(w)`):
//!
//! - `weight_ih`: `[input, gates * hidden]`, `weight_hh`: `[hidden, gates * hidden]`,
//! - `bias_ih`, `bias_hh`: `[gates * hidden]` (absent when the cell has `bias = false`).
//!
//! Gate order is PyTorch's: LSTM `i, f, g, o`; GRU `r, z, n`. A PyTorch `weight_ih_l0` of shape
//! `[gates * hidden, input]` is the transpose of ours (see [`crate::pytorch`]).
//!
//! A step is split in two so that a sequence layer can compute the input projection of all time
//! steps in one matmul: [`RecurrentCell::project_input`] (`x W_ih + b`, any number of rows) and
//! [`RecurrentCell::step_projected`] (the recurrent part). [`RecurrentCell::step`] does both.

mod gru;
mod init;
mod lstm;
mod rnn;

pub use gru::{GruCell, GruCellConfig};
pub use init::{InitScheme, Initialization};
pub use lstm::{LstmCell, LstmCellConfig};
pub use rnn::{RnnCell, RnnCellConfig};

use burn::module::{Module, Param};
use burn::tensor::{Tensor, backend::Backend};

pub use crate::cell_kind::{Activation, CellKind};
pub use crate::ops::sigmoid;

/// The state a cell carries from one step to the next.
///
/// `hidden` is `[batch, hidden]`; `cell` is the LSTM cell state `[batch, hidden]` and is `None`
/// for the RNN and GRU cells.
#[derive(Clone, Debug)]
pub struct CellState<B: Backend> {
    /// Hidden state `h`, `[batch, hidden]`.
    pub hidden: Tensor<B, 2>,
    /// LSTM cell state `c`, `[batch, hidden]`; `None` for RNN and GRU.
    pub cell: Option<Tensor<B, 2>>,
}

impl<B: Backend> CellState<B> {
    /// Cuts the state from the autodiff graph (truncated backpropagation through time).
    pub fn detach(self) -> Self {
        Self {
            hidden: self.hidden.detach(),
            cell: self.cell.map(Tensor::detach),
        }
    }
}

/// What every cell offers: a zero state and one time step.
///
/// `step` equals `step_projected(project_input(x), state)`; sequence layers call
/// `project_input` once on all time steps and then `step_projected` per step.
pub trait RecurrentCell<B: Backend> {
    /// The fused weights of the cell.
    fn weights(&self) -> &GateWeights<B>;
    /// Size of the input features.
    fn input_size(&self) -> usize {
        self.weights().input_size()
    }
    /// Size of the hidden state.
    fn hidden_size(&self) -> usize {
        self.weights().hidden_size()
    }
    /// The zero state for a batch.
    ///
    /// # Shapes
    /// - returns hidden (and, for LSTM, cell) `[batch, hidden]`
    fn init_state(&self, batch: usize, device: &B::Device) -> CellState<B>;
    /// Input projection of any number of rows: `x W_ih` plus the biases that can be folded in.
    ///
    /// # Shapes
    /// - `x`: `[rows, input]`
    /// - returns `[rows, gates * hidden]`
    fn project_input(&self, x: Tensor<B, 2>) -> Tensor<B, 2>;
    /// One step from an input already projected by [`RecurrentCell::project_input`].
    ///
    /// # Shapes
    /// - `x_proj`: `[batch, gates * hidden]`
    /// - `state`: `[batch, hidden]` tensors
    /// - returns the new state, `[batch, hidden]` tensors
    fn step_projected(&self, x_proj: Tensor<B, 2>, state: CellState<B>) -> CellState<B>;
    /// One time step.
    ///
    /// # Shapes
    /// - `x`: `[batch, input]`
    /// - `state`: `[batch, hidden]` tensors
    /// - returns the new state, `[batch, hidden]` tensors
    fn step(&self, x: Tensor<B, 2>, state: CellState<B>) -> CellState<B> {
        self.step_projected(self.project_input(x), state)
    }
}

/// The fused weights that every cell is made of, in PyTorch's gate order.
#[derive(Module, Debug)]
pub struct GateWeights<B: Backend> {
    /// `[input, gates * hidden]`.
    pub weight_ih: Param<Tensor<B, 2>>,
    /// `[hidden, gates * hidden]`.
    pub weight_hh: Param<Tensor<B, 2>>,
    /// `[gates * hidden]`, or `None` when the cell has no bias.
    pub bias_ih: Option<Param<Tensor<B, 1>>>,
    /// `[gates * hidden]`, or `None` when the cell has no bias.
    pub bias_hh: Option<Param<Tensor<B, 1>>>,
}

impl<B: Backend> GateWeights<B> {
    /// Creates the weights of a cell with `gates` gates.
    pub fn init(
        kind: CellKind,
        input: usize,
        hidden: usize,
        bias: bool,
        init: &Initialization,
        device: &B::Device,
    ) -> Self {
        let (weight_ih, weight_hh, biases) = init.weights::<B>(kind, input, hidden, bias, device);
        let (bias_ih, bias_hh) = match biases {
            Some((b_ih, b_hh)) => (
                Some(Param::from_tensor(b_ih)),
                Some(Param::from_tensor(b_hh)),
            ),
            None => (None, None),
        };
        Self {
            weight_ih: Param::from_tensor(weight_ih),
            weight_hh: Param::from_tensor(weight_hh),
            bias_ih,
            bias_hh,
        }
    }

    /// Size of the input features.
    pub fn input_size(&self) -> usize {
        self.weight_ih.dims()[0]
    }

    /// Size of the hidden state.
    pub fn hidden_size(&self) -> usize {
        self.weight_hh.dims()[0]
    }

    /// `x W_ih + b_ih (+ b_hh when `fold_hh`)` over the last dimension.
    ///
    /// # Shapes
    /// - `x`: `[.., input]`; returns `[.., gates * hidden]`
    pub(crate) fn project_input<const D: usize>(
        &self,
        x: Tensor<B, D>,
        fold_hh: bool,
    ) -> Tensor<B, D> {
        let bias = match (&self.bias_ih, &self.bias_hh) {
            (Some(b_ih), Some(b_hh)) if fold_hh => Some(b_ih.val() + b_hh.val()),
            (Some(b_ih), _) => Some(b_ih.val()),
            _ => None,
        };
        crate::ops::linear::linear(x, self.weight_ih.val(), bias)
    }

    /// `h W_hh (+ b_hh when not folded)`.
    ///
    /// # Shapes
    /// - `h`: `[batch, hidden]`; returns `[batch, gates * hidden]`
    pub(crate) fn project_hidden(&self, h: Tensor<B, 2>, with_bias: bool) -> Tensor<B, 2> {
        let proj = h.matmul(self.weight_hh.val());
        match &self.bias_hh {
            Some(b) if with_bias => proj + b.val().unsqueeze_dim(0),
            _ => proj,
        }
    }
}

/// Any of the three cells, so that a layer can hold one type.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Cell<B: Backend> {
    /// A vanilla RNN cell.
    Rnn(RnnCell<B>),
    /// An LSTM cell.
    Lstm(LstmCell<B>),
    /// A GRU cell.
    Gru(GruCell<B>),
}

impl<B: Backend> Cell<B> {
    /// Which kind of cell this is.
    pub fn kind(&self) -> CellKind {
        match self {
            Cell::Rnn(_) => CellKind::Rnn,
            Cell::Lstm(_) => CellKind::Lstm,
            Cell::Gru(_) => CellKind::Gru,
        }
    }

    /// The vanilla RNN's nonlinearity; `Tanh` (unused) for LSTM and GRU.
    pub fn activation(&self) -> Activation {
        match self {
            Cell::Rnn(c) => c.activation,
            _ => Activation::Tanh,
        }
    }

    /// The recurrence this cell runs in the direction `reverse`.
    pub(crate) fn recurrence(&self, reverse: bool) -> crate::kernels::recurrence::Recurrence {
        crate::kernels::recurrence::Recurrence {
            kind: self.kind(),
            activation: self.activation(),
            reverse,
        }
    }

    /// The input projection of a whole sequence, as [`RecurrentCell::project_input`] does for
    /// rows, with no reshape.
    ///
    /// # Shapes
    /// - `x`: `[batch, seq, input]`; returns `[batch, seq, gates * hidden]`
    pub(crate) fn project_sequence(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        // The GRU keeps `b_hn` inside the reset gate's product; the others fold `b_hh` in.
        self.weights()
            .project_input(x, self.kind() != CellKind::Gru)
    }

    /// Mutable access to the fused weights of the cell.
    pub fn weights_mut(&mut self) -> &mut GateWeights<B> {
        match self {
            Cell::Rnn(c) => &mut c.weights,
            Cell::Lstm(c) => &mut c.weights,
            Cell::Gru(c) => &mut c.weights,
        }
    }

    fn as_dyn(&self) -> &dyn RecurrentCell<B> {
        match self {
            Cell::Rnn(c) => c,
            Cell::Lstm(c) => c,
            Cell::Gru(c) => c,
        }
    }
}

impl<B: Backend> RecurrentCell<B> for Cell<B> {
    fn weights(&self) -> &GateWeights<B> {
        match self {
            Cell::Rnn(c) => &c.weights,
            Cell::Lstm(c) => &c.weights,
            Cell::Gru(c) => &c.weights,
        }
    }
    fn init_state(&self, batch: usize, device: &B::Device) -> CellState<B> {
        self.as_dyn().init_state(batch, device)
    }
    fn project_input(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        self.as_dyn().project_input(x)
    }
    fn step_projected(&self, x_proj: Tensor<B, 2>, state: CellState<B>) -> CellState<B> {
        self.as_dyn().step_projected(x_proj, state)
    }
}
