//! The wgpu backend: PyTorch parity of the recurrent core at small sizes (f32, tolerance for GPU
//! arithmetic), then a short char-LM training run whose loss must fall, then sampling.
//!
//! Built only with `--features wgpu`. CI runs it on Mesa's software Vulkan driver (lavapipe), so it
//! needs no GPU. Everything is one `#[test]`: one process, one device, shaders compiled once.
#![cfg(feature = "wgpu")]

mod common;

use std::path::Path;
use std::time::Instant;

use burn::backend::wgpu::WgpuDevice;
use burn::backend::{Autodiff, Wgpu};
use burn_rnn::checkpoint::RunDir;
use burn_rnn::config::RunConfig;
use burn_rnn::run::load_run;
use burn_rnn::sample::{Sampler, SamplingOptions, generate};
use burn_rnn::train::{Progress, TrainOptions, train};
use common::*;

type B = Autodiff<Wgpu>;

/// f32 on a GPU (or lavapipe): transcendental functions and reduction orders differ from the CPU.
const TOLERANCE: f64 = 1e-4;

#[test]
fn wgpu_parity_then_training_and_sampling() {
    parity();
    train_and_sample();
}

fn parity() {
    let started = Instant::now();
    let bytes = fixture_bytes();
    // Every cell, one layer with an initial state and two bidirectional layers, bias or not.
    let cases: Vec<Case> = cases()
        .into_iter()
        .filter(|c| {
            c.batch == 3
                && c.init_state
                && ((c.layers == 1 && !c.bidirectional) || (c.layers == 2 && c.bidirectional))
        })
        .collect();
    assert!(cases.len() >= 11, "{} cases", cases.len());
    for case in &cases {
        // The fused operation (wgpu's fast path) and Burn's step-by-step autodiff.
        check_case::<B>(case, &bytes, TOLERANCE, true);
        check_case::<B>(case, &bytes, TOLERANCE, false);
    }
    eprintln!(
        "wgpu parity: {} cases x 2 paths within {TOLERANCE:e} of PyTorch ({:.0} s)",
        cases.len(),
        started.elapsed().as_secs_f64()
    );
}

fn train_and_sample() {
    let started = Instant::now();
    let device = WgpuDevice::DefaultDevice;
    let tmp = tempfile::tempdir().unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tiny.toml");
    let config = RunConfig::load(&path, &["backend.kind=\"wgpu\"".to_string()]).unwrap();
    let options = TrainOptions {
        run: RunDir::new(tmp.path()),
        resume: false,
        force: false,
        progress: Progress::Quiet,
        stop_after: None,
        interrupt: None,
    };
    let summary = train::<B>(&config, &options, std::slice::from_ref(&device)).unwrap();
    let losses: Vec<String> = summary
        .train_losses
        .iter()
        .map(|(step, loss)| format!("{step}:{loss:.3}"))
        .collect();
    eprintln!("wgpu training losses (step:loss): {}", losses.join(" "));
    let first = summary.train_losses.first().unwrap().1;
    let last = summary.train_losses.last().unwrap().1;
    assert!(first > 3.5, "starts near ln(vocab): {first}");
    assert!(last < first - 0.8, "loss fell from {first} to {last}");
    assert!(
        summary.val_loss < 3.4,
        "validation loss {}",
        summary.val_loss
    );

    let loaded = load_run::<Wgpu>(&RunDir::new(tmp.path()), "last", &device).unwrap();
    let mut sampler = Sampler::new(SamplingOptions::default(), 3);
    let text = generate(
        &loaded.model,
        &loaded.vocab,
        "ROMEO:",
        80,
        &mut sampler,
        |_| {},
    )
    .unwrap();
    assert_eq!(text.chars().count(), 80);
    eprintln!(
        "wgpu sample: {text:?} (training and sampling {:.0} s)",
        started.elapsed().as_secs_f64()
    );
}
