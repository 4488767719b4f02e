//! Which recurrent cell: [`CellKind`] (RNN, LSTM, GRU) and the vanilla RNN's [`Activation`].
//!
//! Plain enums with no tensors, so that every level of the crate (the host kernels at the
//! bottom, the config at the top) names a cell the same way. [`crate::cell`] re-exports them.

use serde::{Deserialize, Serialize};

/// Which recurrent cell a layer uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CellKind {
    /// Vanilla (Elman) RNN: `h' = act(x W_ih + b_ih + h W_hh + b_hh)`, one gate.
    Rnn,
    /// Long short-term memory, gates `i, f, g, o`.
    Lstm,
    /// Gated recurrent unit, gates `r, z, n`.
    Gru,
}

impl CellKind {
    /// Number of gates fused in the weights: 1 (RNN), 4 (LSTM) or 3 (GRU).
    pub fn gates(self) -> usize {
        match self {
            CellKind::Rnn => 1,
            CellKind::Lstm => 4,
            CellKind::Gru => 3,
        }
    }

    /// The lowercase name used in configs (`rnn`, `lstm`, `gru`).
    pub fn name(self) -> &'static str {
        match self {
            CellKind::Rnn => "rnn",
            CellKind::Lstm => "lstm",
            CellKind::Gru => "gru",
        }
    }
}

impl std::fmt::Display for CellKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The nonlinearity of a vanilla RNN cell (PyTorch's `nonlinearity`); LSTM and GRU ignore it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// `tanh` (the default, as in PyTorch).
    #[default]
    Tanh,
    /// `relu`.
    Relu,
}
