//! A multi-layer, optionally bidirectional recurrent layer over batch-first sequences, equal to
//! `torch.nn.RNN`/`LSTM`/`GRU` with `batch_first=True`.
//!
//! Shape letters: `B` batch, `T` time steps, `I` input features, `H` hidden size, `L` layers,
//! `D` directions (1 or 2), `G` gates of the cell.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig};
use burn::tensor::{Int, Tensor, backend::Backend};

use crate::cell::{
    Activation, Cell, CellKind, CellState, GateWeights, GruCell, Initialization, LstmCell,
    RecurrentCell, RnnCell,
};
use crate::ops::dropout::dropout;
use crate::ops::lookup::gather_rows;
use crate::ops::recurrence::recurrence;

/// Configuration of a [`Recurrent`] layer.
///
/// ```
/// use burn::backend::NdArray;
/// use burn_rnn::{CellKind, RecurrentConfig};
///
/// let device = Default::default();
/// let layer = RecurrentConfig::new(CellKind::Lstm, 8, 16)
///     .with_num_layers(2)
///     .with_bidirectional(true)
///     .init::<NdArray>(&device);
/// assert_eq!(layer.output_size(), 32);
/// ```
#[derive(Config, Debug)]
pub struct RecurrentConfig {
    /// The cell: `rnn`, `lstm` or `gru`.
    pub kind: CellKind,
    /// Size of the input features `I`.
    pub input_size: usize,
    /// Size of the hidden state `H` (per direction).
    pub hidden_size: usize,
    /// Number of stacked layers `L`; layer `k > 0` reads the outputs of layer `k - 1`.
    #[config(default = 1)]
    pub num_layers: usize,
    /// Run a second, reversed direction in every layer and concatenate both outputs.
    #[config(default = false)]
    pub bidirectional: bool,
    /// Dropout probability on the outputs of every layer but the last (training only).
    #[config(default = 0.0)]
    pub dropout: f64,
    /// Whether the cells have the two bias vectors `b_ih`, `b_hh`.
    #[config(default = true)]
    pub bias: bool,
    /// Nonlinearity of the vanilla RNN cell (ignored by LSTM and GRU).
    #[config(default = "Activation::Tanh")]
    pub activation: Activation,
    /// Weight initialisation.
    #[config(default = "Initialization::new()")]
    pub init: Initialization,
    /// Run each layer direction as one autodiff operation with a hand-written backward (the
    /// fast path) on the autodiff backends this crate has its own operations for (ndarray, wgpu,
    /// cuda). Other backends, and `false`, take the generic path, where Burn's autodiff records
    /// every step. Both give the same numbers.
    #[config(default = true)]
    pub fused: bool,
}

impl RecurrentConfig {
    /// Checks the sizes and the dropout probability.
    pub fn validate(&self) -> Result<(), String> {
        if self.input_size == 0 {
            return Err("input_size must be at least 1, found 0".into());
        }
        if self.hidden_size == 0 {
            return Err("hidden_size must be at least 1, found 0".into());
        }
        if self.num_layers == 0 {
            return Err("num_layers must be at least 1, found 0".into());
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!("dropout must be in [0, 1), found {}", self.dropout));
        }
        Ok(())
    }

    /// Number of directions `D`: 2 when bidirectional, else 1.
    pub fn directions(&self) -> usize {
        if self.bidirectional { 2 } else { 1 }
    }

    /// Creates the layer on `device`.
    ///
    /// # Panics
    /// If [`RecurrentConfig::validate`] fails.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Recurrent<B> {
        if let Err(message) = self.validate() {
            panic!("invalid RecurrentConfig: {message}");
        }
        let dirs = self.directions();
        let mut cells = Vec::with_capacity(self.num_layers * dirs);
        for layer in 0..self.num_layers {
            let input = if layer == 0 {
                self.input_size
            } else {
                self.hidden_size * dirs
            };
            for _ in 0..dirs {
                let weights = GateWeights::init(
                    self.kind,
                    input,
                    self.hidden_size,
                    self.bias,
                    &self.init,
                    device,
                );
                cells.push(match self.kind {
                    CellKind::Rnn => Cell::Rnn(RnnCell {
                        weights,
                        activation: self.activation,
                    }),
                    CellKind::Lstm => Cell::Lstm(LstmCell { weights }),
                    CellKind::Gru => Cell::Gru(GruCell { weights }),
                });
            }
        }
        Recurrent {
            cells,
            dropout: DropoutConfig::new(self.dropout).init(),
            num_layers: self.num_layers,
            bidirectional: self.bidirectional,
            fused: self.fused,
        }
    }
}

/// The state of a [`Recurrent`] layer: one [`CellState`] per layer and direction.
///
/// The cells are ordered as PyTorch orders `h_n`: index `layer * D + direction`.
/// [`RecurrentState::hidden`] and [`RecurrentState::cell`] give PyTorch's stacked
/// `[L * D, B, H]` view; [`RecurrentState::from_tensors`] builds a state from it.
#[derive(Clone, Debug)]
pub struct RecurrentState<B: Backend> {
    /// One state per layer and direction, `[B, H]` tensors, index `layer * D + direction`.
    pub cells: Vec<CellState<B>>,
}

impl<B: Backend> RecurrentState<B> {
    /// The hidden states of all layers and directions, like PyTorch's `h_n`.
    ///
    /// # Shapes
    /// - returns `[L * D, B, H]`
    pub fn hidden(&self) -> Tensor<B, 3> {
        Tensor::stack(self.cells.iter().map(|s| s.hidden.clone()).collect(), 0)
    }

    /// The LSTM cell states of all layers and directions, like PyTorch's `c_n`; `None` for RNN
    /// and GRU.
    ///
    /// # Shapes
    /// - returns `[L * D, B, H]`
    pub fn cell(&self) -> Option<Tensor<B, 3>> {
        let cells: Option<Vec<_>> = self.cells.iter().map(|s| s.cell.clone()).collect();
        cells.map(|c| Tensor::stack(c, 0))
    }

    /// Builds a state from PyTorch-style stacked tensors (`h_0`, and `c_0` for an LSTM).
    ///
    /// # Shapes
    /// - `hidden`: `[L * D, B, H]`
    /// - `cell`: `[L * D, B, H]`
    pub fn from_tensors(hidden: Tensor<B, 3>, cell: Option<Tensor<B, 3>>) -> Self {
        let n = hidden.dims()[0];
        let hidden = hidden.chunk(n, 0);
        let cell: Vec<Option<Tensor<B, 2>>> = match cell {
            Some(c) => c
                .chunk(n, 0)
                .into_iter()
                .map(|c| Some(c.squeeze_dim(0)))
                .collect(),
            None => vec![None; n],
        };
        Self {
            cells: hidden
                .into_iter()
                .zip(cell)
                .map(|(h, c)| CellState {
                    hidden: h.squeeze_dim(0),
                    cell: c,
                })
                .collect(),
        }
    }

    /// Rows `start..start + len` of the batch (a data-parallel share).
    ///
    /// # Shapes
    /// - every `[B, H]` becomes `[len, H]`
    pub fn rows(&self, start: usize, len: usize) -> Self {
        let cut = |t: &Tensor<B, 2>| t.clone().narrow(0, start, len);
        Self {
            cells: self
                .cells
                .iter()
                .map(|s| CellState {
                    hidden: cut(&s.hidden),
                    cell: s.cell.as_ref().map(cut),
                })
                .collect(),
        }
    }

    /// The batch shares of several states, concatenated in order on `device`.
    ///
    /// # Shapes
    /// - `[B_i, H]` each → `[sum B_i, H]`
    pub fn cat_rows(states: Vec<Self>, device: &B::Device) -> Self {
        let n = states.first().map_or(0, |s| s.cells.len());
        let cells = (0..n)
            .map(|i| {
                let hidden = states
                    .iter()
                    .map(|s| s.cells[i].hidden.clone().to_device(device))
                    .collect();
                let cell: Option<Vec<_>> = states
                    .iter()
                    .map(|s| s.cells[i].cell.clone().map(|c| c.to_device(device)))
                    .collect();
                CellState {
                    hidden: Tensor::cat(hidden, 0),
                    cell: cell.map(|c| Tensor::cat(c, 0)),
                }
            })
            .collect();
        Self { cells }
    }

    /// The state on `device`.
    pub fn to_device(self, device: &B::Device) -> Self {
        Self {
            cells: self
                .cells
                .into_iter()
                .map(|s| CellState {
                    hidden: s.hidden.to_device(device),
                    cell: s.cell.map(|c| c.to_device(device)),
                })
                .collect(),
        }
    }

    /// Cuts the state from the autodiff graph (truncated backpropagation through time).
    pub fn detach(self) -> Self {
        Self {
            cells: self.cells.into_iter().map(CellState::detach).collect(),
        }
    }
}

/// Stacked, optionally bidirectional recurrent layers over a batch-first sequence.
///
/// Build it with [`RecurrentConfig::init`].
#[derive(Module, Debug)]
pub struct Recurrent<B: Backend> {
    /// The cells, index `layer * D + direction` (direction 1 runs backwards in time).
    pub cells: Vec<Cell<B>>,
    dropout: Dropout,
    num_layers: usize,
    bidirectional: bool,
    fused: bool,
}

impl<B: Backend> Recurrent<B> {
    /// The cell kind of every layer.
    pub fn kind(&self) -> CellKind {
        self.cells[0].kind()
    }

    /// Number of stacked layers `L`.
    pub fn num_layers(&self) -> usize {
        self.num_layers
    }

    /// Whether every layer runs both directions.
    pub fn bidirectional(&self) -> bool {
        self.bidirectional
    }

    /// Number of directions `D`.
    pub fn directions(&self) -> usize {
        if self.bidirectional { 2 } else { 1 }
    }

    /// Size of the input features `I`.
    pub fn input_size(&self) -> usize {
        self.cells[0].input_size()
    }

    /// Hidden size `H` of one direction.
    pub fn hidden_size(&self) -> usize {
        self.cells[0].hidden_size()
    }

    /// Size of the per-step output, `D * H`.
    pub fn output_size(&self) -> usize {
        self.directions() * self.hidden_size()
    }

    /// A short description, e.g. `LSTM, 2 layers x 32, bidirectional`.
    pub fn describe(&self) -> String {
        let kind = match self.kind() {
            CellKind::Rnn => "RNN",
            CellKind::Lstm => "LSTM",
            CellKind::Gru => "GRU",
        };
        let layers = if self.num_layers == 1 {
            "layer"
        } else {
            "layers"
        };
        let dirs = if self.bidirectional {
            ", bidirectional"
        } else {
            ""
        };
        format!(
            "{kind}, {} {layers} x {}{dirs}",
            self.num_layers,
            self.hidden_size()
        )
    }

    /// The zero state for a batch.
    pub fn init_state(&self, batch: usize, device: &B::Device) -> RecurrentState<B> {
        RecurrentState {
            cells: self
                .cells
                .iter()
                .map(|c| c.init_state(batch, device))
                .collect(),
        }
    }

    /// Runs the layers over a whole sequence.
    ///
    /// The input projection of every layer and direction is one matmul over all time steps;
    /// only the recurrent product `h W_hh` runs per step.
    ///
    /// # Shapes
    /// - `x`: `[B, T, I]`, with `T >= 1`
    /// - `state`: initial state with `[B, H]` cells (zeros when `None`)
    /// - returns the outputs of the last layer `[B, T, D * H]` and the final state
    ///
    /// # Panics
    /// If `T` is 0 or the input size does not match.
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        state: Option<RecurrentState<B>>,
    ) -> (Tensor<B, 3>, RecurrentState<B>) {
        let [_, seq, input] = x.dims();
        assert!(seq > 0, "Recurrent::forward needs at least one time step");
        assert_eq!(
            input,
            self.input_size(),
            "Recurrent::forward: input has {input} features, the layer expects {}",
            self.input_size()
        );
        self.run(FirstInput::Raw(x), state)
    }

    /// [`Recurrent::forward`] of `table.select(0, ids)`, the rows of a lookup table (an
    /// embedding) picked by id: the first layer's input projection is computed once per table
    /// row and then gathered, `V` rows instead of `B * T` (for a character model, 65 instead of
    /// 2,500 per batch: one of the largest matrix products of a step, and its two products in
    /// backward, become small). Same numbers as the lookup followed by `forward`.
    ///
    /// # Shapes
    /// - `table`: `[V, I]`
    /// - `ids`: `[B, T]` row indices into `table`, with `T >= 1`
    /// - `state`: initial state with `[B, H]` cells (zeros when `None`)
    /// - returns the outputs of the last layer `[B, T, D * H]` and the final state
    pub fn forward_lookup(
        &self,
        table: Tensor<B, 2>,
        ids: Tensor<B, 2, Int>,
        state: Option<RecurrentState<B>>,
    ) -> (Tensor<B, 3>, RecurrentState<B>) {
        let [batch, seq] = ids.dims();
        let [rows, input] = table.dims();
        assert!(
            seq > 0,
            "Recurrent::forward_lookup needs at least one time step"
        );
        assert_eq!(
            input,
            self.input_size(),
            "Recurrent::forward_lookup: the table has {input} features, the layer expects {}",
            self.input_size()
        );
        if self.bidirectional || rows >= batch * seq {
            let x = gather_rows(table, ids);
            return self.run(FirstInput::Raw(x), state);
        }
        let projected = gather_rows(self.cells[0].project_input(table), ids);
        self.run(FirstInput::Projected(projected), state)
    }

    fn run(
        &self,
        first: FirstInput<B>,
        state: Option<RecurrentState<B>>,
    ) -> (Tensor<B, 3>, RecurrentState<B>) {
        let (batch, device) = match &first {
            FirstInput::Raw(x) | FirstInput::Projected(x) => (x.dims()[0], x.device()),
        };
        let dirs = self.directions();
        let state = state.unwrap_or_else(|| self.init_state(batch, &device));
        let mut initial = state.cells.into_iter();
        let mut final_cells = Vec::with_capacity(self.cells.len());
        let mut first = Some(first);
        let mut layer_input: Option<Tensor<B, 3>> = None;
        for layer in 0..self.num_layers {
            let mut outputs = Vec::with_capacity(dirs);
            let input = match first.take() {
                Some(FirstInput::Projected(p)) => {
                    // Unidirectional by construction (forward_lookup).
                    let s0 = initial.next().expect("one initial state per layer");
                    let (out, last) = run_projected(&self.cells[0], p, s0, false, self.fused);
                    outputs.push(out);
                    final_cells.push(last);
                    None
                }
                Some(FirstInput::Raw(x)) => Some(x),
                None => layer_input.take(),
            };
            if let Some(input) = input {
                for dir in 0..dirs {
                    let cell = &self.cells[layer * dirs + dir];
                    let s0 = initial
                        .next()
                        .expect("one initial state per layer and direction");
                    let (out, last) = run_direction(cell, input.clone(), s0, dir == 1, self.fused);
                    outputs.push(out);
                    final_cells.push(last);
                }
            }
            let out = if dirs == 1 {
                outputs.pop().expect("one direction")
            } else {
                Tensor::cat(outputs, 2)
            };
            layer_input = Some(if layer + 1 < self.num_layers {
                dropout(out, self.dropout.prob)
            } else {
                out
            });
        }
        (
            layer_input.expect("at least one layer"),
            RecurrentState { cells: final_cells },
        )
    }

    /// Advances a unidirectional layer by one time step (generation, streaming).
    ///
    /// Looping `step` over the time steps gives the same outputs and state as
    /// [`Recurrent::forward`].
    ///
    /// # Shapes
    /// - `x`: `[B, I]`
    /// - `state`: `[B, H]` cells (zeros when `None`)
    /// - returns the output of the last layer `[B, H]` and the new state
    ///
    /// # Panics
    /// If the layer is bidirectional: the backward direction needs the whole sequence.
    pub fn step(
        &self,
        x: Tensor<B, 2>,
        state: Option<RecurrentState<B>>,
    ) -> (Tensor<B, 2>, RecurrentState<B>) {
        assert!(
            !self.bidirectional,
            "Recurrent::step runs forward in time only; a bidirectional layer needs forward()"
        );
        let state = state.unwrap_or_else(|| self.init_state(x.dims()[0], &x.device()));
        let mut cells = Vec::with_capacity(self.cells.len());
        let mut input = x;
        for (layer, (cell, s)) in self.cells.iter().zip(state.cells).enumerate() {
            let next = cell.step(input, s);
            input = if layer + 1 < self.num_layers {
                dropout(next.hidden.clone(), self.dropout.prob)
            } else {
                next.hidden.clone()
            };
            cells.push(next);
        }
        (input, RecurrentState { cells })
    }
}

/// The first layer's input: the sequence, or its input projection already computed.
enum FirstInput<B: Backend> {
    /// `[B, T, I]`.
    Raw(Tensor<B, 3>),
    /// `[B, T, G * H]`, for the first layer's only (forward) direction.
    Projected(Tensor<B, 3>),
}

/// Runs one cell over the whole sequence in one direction.
///
/// # Shapes
/// - `x`: `[B, T, I]`; returns `[B, T, H]` (in time order for both directions) and the state
///   after the last step processed.
fn run_direction<B: Backend>(
    cell: &Cell<B>,
    x: Tensor<B, 3>,
    state: CellState<B>,
    reverse: bool,
    fused: bool,
) -> (Tensor<B, 3>, CellState<B>) {
    run_projected(cell, cell.project_sequence(x), state, reverse, fused)
}

/// [`run_direction`] from the input projection `[B, T, G * H]`.
fn run_projected<B: Backend>(
    cell: &Cell<B>,
    mut projected: Tensor<B, 3>,
    state: CellState<B>,
    reverse: bool,
    fused: bool,
) -> (Tensor<B, 3>, CellState<B>) {
    let [batch, seq, gh] = projected.dims();
    if fused {
        let weights = cell.weights();
        let b_hh = match cell {
            Cell::Gru(_) => weights.bias_hh.as_ref().map(|b| b.val()),
            _ => None,
        };
        match recurrence(
            cell.recurrence(reverse),
            projected,
            weights.weight_hh.val(),
            b_hh,
            state.hidden.clone(),
            state.cell.clone(),
        ) {
            Ok((out, hidden, cell)) => return (out, CellState { hidden, cell }),
            Err(p) => projected = p,
        }
    }
    let mut steps = time_steps(projected);
    if reverse {
        steps.reverse();
    }
    let mut outputs = Vec::with_capacity(seq);
    let mut state = state;
    for x_t in steps {
        state = cell.step_projected(x_t.reshape([batch, gh]), state);
        outputs.push(state.hidden.clone());
    }
    if reverse {
        outputs.reverse();
    }
    (Tensor::stack(outputs, 1), state)
}

/// Splits `[B, T, N]` into `T` tensors `[B, 1, N]`, in two levels: about `sqrt(T)` chunks, then
/// the steps of each chunk.
///
/// Autodiff's backward of a slice allocates a zero tensor of the sliced tensor's full shape and
/// the gradients of all slices are summed at full size, so `T` slices of the whole sequence cost
/// `O(T^2 B N)` in backward. Two levels cost about `2 sqrt(T)` full-size passes instead, with the
/// input projection still one matmul.
fn time_steps<B: Backend>(x: Tensor<B, 3>) -> Vec<Tensor<B, 3>> {
    let seq = x.dims()[1];
    let chunk = (seq as f64).sqrt().ceil() as usize;
    if seq <= 4 {
        return (0..seq).map(|t| x.clone().narrow(1, t, 1)).collect();
    }
    let mut steps = Vec::with_capacity(seq);
    let mut start = 0;
    while start < seq {
        let len = chunk.min(seq - start);
        let part = x.clone().narrow(1, start, len);
        steps.extend((0..len).map(|t| part.clone().narrow(1, t, 1)));
        start += len;
    }
    steps
}
