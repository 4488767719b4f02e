//! A first look at burn-rnn's recurrent layers: shapes, one-step use, a few training steps, and
//! a PyTorch-compatible save.
//!
//! cargo run --release --features examples --example quickstart

use burn::backend::{Autodiff, NdArray};
use burn::module::AutodiffModule;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor};
use burn_rnn::{CellKind, RecurrentConfig, pytorch};

type B = Autodiff<NdArray>;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let device = Default::default();
    B::seed(&device, 0);

    // Many-to-many: a 2-layer bidirectional LSTM over [batch, seq, input].
    let lstm = RecurrentConfig::new(CellKind::Lstm, 3, 8)
        .with_num_layers(2)
        .with_bidirectional(true)
        .init::<B>(&device);
    let x = Tensor::<B, 3>::random([4, 10, 3], Distribution::Normal(0.0, 1.0), &device);
    let (y, state) = lstm.forward(x, None);
    println!(
        "LSTM 2x8 bidirectional: output {:?}, h_n {:?}, c_n {:?}",
        y.dims(),
        state.hidden().dims(),
        state.cell().map(|c| c.dims())
    );

    // Many-to-one: learn the sum of a sequence from the last hidden state of a GRU (its first
    // unit is read as the prediction), with Adam, in a few dozen steps.
    let mut gru = RecurrentConfig::new(CellKind::Gru, 1, 16).init::<B>(&device);
    let mut optim = AdamConfig::new().init();
    for step in 0..=150 {
        let x = Tensor::<B, 3>::random([32, 5, 1], Distribution::Uniform(0.0, 0.2), &device);
        let target = x.clone().sum_dim(1).reshape([32, 1]);
        let (out, _) = gru.forward(x, None);
        let prediction = out.narrow(1, 4, 1).narrow(2, 0, 1).reshape([32, 1]);
        let loss = (prediction - target).powi_scalar(2).mean();
        if step % 50 == 0 {
            println!(
                "GRU sum-of-sequence, step {step}: MSE {:.5}",
                loss.clone().into_scalar()
            );
        }
        let grads = GradientsParams::from_grads(loss.backward(), &gru);
        gru = optim.step(1e-2, gru, grads);
    }

    // One-to-many: step a unidirectional layer from a single input, feeding its output back.
    let rnn = RecurrentConfig::new(CellKind::Rnn, 16, 16)
        .init::<B>(&device)
        .valid();
    let mut x_t = Tensor::random([1, 16], Distribution::Normal(0.0, 1.0), &device);
    let mut state = None;
    for t in 0..3 {
        let (y, next) = rnn.step(x_t, state);
        println!(
            "RNN step {t}: output mean {:+.4}",
            y.clone().mean().into_scalar()
        );
        x_t = y;
        state = Some(next);
    }

    // Save the LSTM under PyTorch's state_dict keys (load it with safetensors.torch.load_file).
    let path = std::env::temp_dir().join("burn_rnn_quickstart_lstm.safetensors");
    pytorch::save_file(&lstm, &path, "")?;
    println!(
        "saved {} (torch.nn.LSTM(3, 8, num_layers=2, bidirectional=True) keys)",
        path.display()
    );
    Ok(())
}
