//! The tutorials' BasicRNN walk-through: build a vanilla RNN with a per-step output, run a random
//! batch through it, print the shapes and the model summary, and draw one example as a PNG with
//! three panels: the input sequence, the per-step output, and the hidden state over time as a
//! heat map (the network is untrained: the picture shows how its state follows the input).
//!
//! cargo run --release --features examples --example basic_rnn [-- out.png]

use std::path::{Path, PathBuf};

use burn::backend::NdArray;
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor};
use burn_rnn::model::{SequenceTagger, SequenceTaggerConfig};
use burn_rnn::{CellKind, RecurrentConfig};
use plotters::prelude::*;

type B = NdArray;

const BATCH: usize = 4;
const SEQ: usize = 40;
const HIDDEN: usize = 16;

/// Runs the walk-through and writes the picture to `png`; returns `(width, height)`.
pub fn run(png: &Path) -> Result<(u32, u32), Box<dyn std::error::Error>> {
    let device = Default::default();
    B::seed(&device, 0);
    let model: SequenceTagger<B> =
        SequenceTaggerConfig::new(RecurrentConfig::new(CellKind::Rnn, 1, HIDDEN), 1).init(&device);
    let x = Tensor::<B, 3>::random([BATCH, SEQ, 1], Distribution::Normal(0.0, 1.0), &device);
    let (hidden, state) = model.rnn.forward(x.clone(), None);
    let output = model.forward(x.clone());
    println!("input         {:?}  [batch, seq, features]", x.dims());
    println!("hidden states {:?}  [batch, seq, hidden]", hidden.dims());
    println!(
        "final state   {:?}  [layers, batch, hidden]",
        state.hidden().dims()
    );
    println!("output        {:?}  [batch, seq, outputs]", output.dims());
    println!();
    println!("{}", model.summary(SEQ));

    let first = |t: Tensor<B, 3>| -> Vec<f32> {
        t.narrow(0, 0, 1).into_data().to_vec::<f32>().expect("f32")
    };
    let (x, y, h) = (first(x), first(output), first(hidden));
    draw(png, &x, &y, &h)?;
    println!("\nwrote {}", png.display());
    Ok((900, 900))
}

fn draw(png: &Path, x: &[f32], y: &[f32], h: &[f32]) -> Result<(), Box<dyn std::error::Error>> {
    burn_rnn::app::plot::register_font();
    let root = BitMapBackend::new(png, (900, 900)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((3, 1));
    let t_max = SEQ as f32;
    for (panel, (title, values)) in panels
        .iter()
        .zip([("input x_t", x), ("output y_t = W_hy h_t + b_y", y)])
    {
        let (lo, hi) = values
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        let pad = (hi - lo).max(1e-3) * 0.1;
        let mut chart = ChartBuilder::on(panel)
            .caption(title, ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(0f32..t_max, (lo - pad)..(hi + pad))?;
        chart.configure_mesh().x_desc("time step t").draw()?;
        chart.draw_series(LineSeries::new(
            values.iter().enumerate().map(|(t, &v)| (t as f32 + 0.5, v)),
            &BLUE,
        ))?;
        chart.draw_series(
            values
                .iter()
                .enumerate()
                .map(|(t, &v)| Circle::new((t as f32 + 0.5, v), 3, BLUE.filled())),
        )?;
    }
    let mut chart = ChartBuilder::on(&panels[2])
        .caption(
            "hidden state h_t (rows: units; blue -1, white 0, red +1)",
            ("sans-serif", 20),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0f32..t_max, 0f32..HIDDEN as f32)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("time step t")
        .y_desc("unit")
        .draw()?;
    chart.draw_series((0..SEQ).flat_map(|t| {
        (0..HIDDEN).map(move |j| {
            let v = h[t * HIDDEN + j].clamp(-1.0, 1.0);
            let fade = |c: f32| (255.0 * (1.0 - c.abs())) as u8;
            let color = if v >= 0.0 {
                RGBColor(255, fade(v), fade(v))
            } else {
                RGBColor(fade(v), fade(v), 255)
            };
            Rectangle::new(
                [(t as f32, j as f32), (t as f32 + 1.0, j as f32 + 1.0)],
                color.filled(),
            )
        })
    }))?;
    root.present()?;
    Ok(())
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let png = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("basic_rnn.png"), PathBuf::from);
    run(&png)?;
    Ok(())
}
