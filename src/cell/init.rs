//! Weight initialisation schemes for the fused gate weights.

use burn::config::Config;
use burn::tensor::{Distribution, Tensor, TensorData, backend::Backend};
use serde::{Deserialize, Serialize};

use super::CellKind;

/// How the input and recurrent weights are drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InitScheme {
    /// PyTorch's default: every weight and bias from `U(-1/sqrt(H), 1/sqrt(H))`.
    #[default]
    Pytorch,
    /// Xavier/Glorot uniform weights, `U(±sqrt(6 / (fan_in + fan_out)))` with
    /// `fan_out = gates * hidden` (Keras' `glorot_uniform` on the fused kernel); zero biases.
    Xavier,
    /// He/Kaiming uniform weights for ReLU, `U(±sqrt(6 / fan_in))`; zero biases.
    Kaiming,
}

/// Weight initialisation of a recurrent layer.
#[derive(Config, Debug, PartialEq)]
pub struct Initialization {
    /// The scheme for weights (and biases, for [`InitScheme::Pytorch`]).
    #[config(default = "InitScheme::Pytorch")]
    pub scheme: InitScheme,
    /// Replace each gate's `[hidden, hidden]` block of `weight_hh` by a random orthogonal matrix
    /// (Saxe et al. 2013; Keras' `recurrent_initializer = "orthogonal"`).
    #[config(default = false)]
    pub orthogonal_recurrent: bool,
    /// LSTM only: set the forget-gate bias to this value (char-rnn and Keras use 1.0). It is
    /// written into `bias_ih`, with `bias_hh`'s forget slice set to zero, so the effective forget
    /// bias is exactly this value. Ignored for other cells and when `bias = false`.
    #[config(default = "None")]
    pub forget_bias: Option<f64>,
}

/// (`weight_ih`, `weight_hh`, optional (`bias_ih`, `bias_hh`)).
type FusedWeights<B> = (
    Tensor<B, 2>,
    Tensor<B, 2>,
    Option<(Tensor<B, 1>, Tensor<B, 1>)>,
);

fn uniform<B: Backend, const D: usize>(
    shape: [usize; D],
    bound: f64,
    device: &B::Device,
) -> Tensor<B, D> {
    Tensor::random(shape, Distribution::Uniform(-bound, bound), device)
}

/// A random orthogonal `[n, n]` matrix, drawn as PyTorch's `nn.init.orthogonal_` draws one: the
/// `Q` of the QR decomposition of a standard normal matrix, with `R`'s diagonal made positive.
/// The draw comes from Burn's RNG (so a seed gives the same weights); the decomposition runs on
/// the host in f64, in O(n^3) operations per block.
fn orthogonal<B: Backend>(n: usize, device: &B::Device) -> Tensor<B, 2> {
    let draw = Tensor::<B, 2>::random([n, n], Distribution::Normal(0.0, 1.0), device);
    let values: Vec<f64> = draw
        .into_data()
        .convert::<f64>()
        .into_vec()
        .expect("a float tensor converts to f64");
    let q = orthonormal_columns(n, values);
    Tensor::from_data(TensorData::new(q, [n, n]), device)
}

/// Gram-Schmidt on the columns of the row-major `[n, n]` matrix `a`, each column orthogonalised
/// twice against those before it ("twice is enough": orthogonal to rounding whatever `a`'s
/// condition). Columns `0..=j` of the result span what columns `0..=j` of `a` span, and column
/// `j` of `a` has a positive coefficient on column `j` of the result (the QR decomposition with a
/// positive diagonal in `R`).
fn orthonormal_columns(n: usize, a: Vec<f64>) -> Vec<f64> {
    let mut q: Vec<Vec<f64>> = Vec::with_capacity(n);
    for j in 0..n {
        let mut v: Vec<f64> = (0..n).map(|row| a[row * n + j]).collect();
        for _ in 0..2 {
            for qi in &q {
                let r: f64 = qi.iter().zip(&v).map(|(x, y)| x * y).sum();
                v.iter_mut().zip(qi).for_each(|(y, x)| *y -= r * x);
            }
        }
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        v.iter_mut().for_each(|x| *x /= norm);
        q.push(v);
    }
    (0..n * n).map(|i| q[i % n][i / n]).collect()
}

impl Initialization {
    /// Draws the fused weights of a cell, in the layout of [`super::GateWeights`].
    pub(crate) fn weights<B: Backend>(
        &self,
        kind: CellKind,
        input: usize,
        hidden: usize,
        bias: bool,
        device: &B::Device,
    ) -> FusedWeights<B> {
        let gh = kind.gates() * hidden;
        let k = 1.0 / (hidden as f64).sqrt();
        let (w_ih, mut w_hh) = match self.scheme {
            InitScheme::Pytorch => (
                uniform::<B, 2>([input, gh], k, device),
                uniform::<B, 2>([hidden, gh], k, device),
            ),
            InitScheme::Xavier => (
                uniform::<B, 2>([input, gh], (6.0 / (input + gh) as f64).sqrt(), device),
                uniform::<B, 2>([hidden, gh], (6.0 / (hidden + gh) as f64).sqrt(), device),
            ),
            InitScheme::Kaiming => (
                uniform::<B, 2>([input, gh], (6.0 / input as f64).sqrt(), device),
                uniform::<B, 2>([hidden, gh], (6.0 / hidden as f64).sqrt(), device),
            ),
        };
        if self.orthogonal_recurrent {
            let blocks = (0..kind.gates())
                .map(|_| orthogonal::<B>(hidden, device))
                .collect();
            w_hh = Tensor::cat(blocks, 1);
        }
        let biases = bias.then(|| {
            let (mut b_ih, mut b_hh) = match self.scheme {
                InitScheme::Pytorch => (
                    uniform::<B, 1>([gh], k, device),
                    uniform::<B, 1>([gh], k, device),
                ),
                InitScheme::Xavier | InitScheme::Kaiming => {
                    (Tensor::zeros([gh], device), Tensor::zeros([gh], device))
                }
            };
            if let (CellKind::Lstm, Some(value)) = (kind, self.forget_bias) {
                b_ih = b_ih.slice_fill(hidden..2 * hidden, value);
                b_hh = b_hh.slice_fill(hidden..2 * hidden, 0.0);
            }
            (b_ih.detach(), b_hh.detach())
        });
        (w_ih.detach(), w_hh.detach(), biases)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;

    type B = NdArray<f32>;

    fn max_abs<const D: usize>(t: Tensor<B, D>) -> f32 {
        t.abs().max().into_scalar()
    }

    #[test]
    fn pytorch_default_is_bounded_by_one_over_sqrt_hidden() {
        let (w_ih, w_hh, b) =
            Initialization::new().weights::<B>(CellKind::Lstm, 10, 16, true, &Default::default());
        assert_eq!(w_ih.dims(), [10, 64]);
        assert_eq!(w_hh.dims(), [16, 64]);
        let (b_ih, b_hh) = b.unwrap();
        for m in [max_abs(w_ih), max_abs(w_hh), max_abs(b_ih), max_abs(b_hh)] {
            assert!(m <= 0.25 && m > 0.2, "{m}");
        }
    }

    #[test]
    fn xavier_and_kaiming_bounds_and_zero_bias() {
        let device = Default::default();
        let (w_ih, _, b) = Initialization::new()
            .with_scheme(InitScheme::Xavier)
            .weights::<B>(CellKind::Gru, 20, 10, true, &device);
        let bound = (6.0f32 / (20.0 + 30.0)).sqrt();
        let m = max_abs(w_ih);
        assert!(m <= bound && m > 0.8 * bound, "{m} vs {bound}");
        assert_eq!(max_abs(b.unwrap().0), 0.0);
        let (w_ih, _, _) = Initialization::new()
            .with_scheme(InitScheme::Kaiming)
            .weights::<B>(CellKind::Rnn, 24, 10, false, &device);
        let bound = 0.5f32; // sqrt(6 / 24)
        let m = max_abs(w_ih);
        assert!(m <= bound && m > 0.8 * bound, "{m}");
    }

    #[test]
    fn orthogonal_recurrent_blocks_are_orthogonal() {
        let device = Default::default();
        for (hidden, draws) in [(8, 200), (3, 200), (96, 4)] {
            for _ in 0..draws {
                let (_, w_hh, _) = Initialization::new()
                    .with_orthogonal_recurrent(true)
                    .weights::<B>(CellKind::Lstm, 3, hidden, true, &device);
                for block in w_hh.chunk(4, 1) {
                    let gram = block.clone().transpose().matmul(block);
                    let eye = Tensor::<B, 2>::eye(hidden, &device);
                    let error = max_abs(gram - eye);
                    assert!(error < 2e-6, "{hidden}: {error}");
                }
            }
        }
    }

    #[test]
    fn nearly_dependent_columns_still_give_an_orthogonal_q_r() {
        // Columns 1e-9 apart: one pass of Gram-Schmidt leaves their directions far from orthogonal.
        let n = 4;
        let mut a = vec![0.0; n * n];
        for row in 0..n {
            for col in 0..n {
                a[row * n + col] = (row + 1) as f64 + 1e-9 * ((row * 7 + col * 3) % 5) as f64;
            }
        }
        let q = orthonormal_columns(n, a.clone());
        for (i, j) in (0..n).flat_map(|i| (0..n).map(move |j| (i, j))) {
            let dot: f64 = (0..n).map(|row| q[row * n + i] * q[row * n + j]).sum();
            let want = if i == j { 1.0 } else { 0.0 };
            assert!((dot - want).abs() < 1e-12, "q{i}.q{j} = {dot}");
        }
        // R = Q^T A is upper triangular with a positive diagonal, so Q is PyTorch's Q.
        for (i, j) in (0..n).flat_map(|i| (0..n).map(move |j| (i, j))) {
            let r: f64 = (0..n).map(|row| q[row * n + i] * a[row * n + j]).sum();
            if i > j {
                assert!(r.abs() < 1e-6, "r[{i}][{j}] = {r}");
            } else if i == j {
                assert!(r > 0.0, "r[{i}][{i}] = {r}");
            }
        }
    }

    #[test]
    fn forget_bias_sets_the_f_gate_only() {
        let (_, _, b) = Initialization::new()
            .with_forget_bias(Some(1.0))
            .weights::<B>(CellKind::Lstm, 3, 5, true, &Default::default());
        let (b_ih, b_hh) = b.unwrap();
        let sum = (b_ih + b_hh).into_data().to_vec::<f32>().unwrap();
        assert!(sum[5..10].iter().all(|v| *v == 1.0), "{sum:?}");
        assert!(sum[..5].iter().chain(&sum[10..]).all(|v| *v != 1.0));
    }
}
