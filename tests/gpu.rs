//! The GPU backends: PyTorch parity of the recurrent core at small sizes (f32, tolerance for GPU
//! arithmetic), the recurrence's kernels against their reference loop, the lookup operation
//! against Burn's `select`, a short char-LM training run whose loss must fall, sampling, and the
//! kernel launches of a training step held to a bound.
//!
//! Built with `--features wgpu` and/or `--features cuda`. CI runs the wgpu test on Mesa's software
//! Vulkan driver (lavapipe), so it needs no GPU; the CUDA test is ignored unless asked for
//! (`-- --ignored cuda`), as it needs an NVIDIA GPU. Each backend is one `#[test]`: one process,
//! one device, shaders compiled once.
#![cfg(any(feature = "wgpu", feature = "cuda"))]

mod common;

use std::path::Path;
use std::time::Instant;

use burn::backend::Autodiff;
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Int, Tensor, TensorData};
use burn_rnn::app::bench::launches;
use burn_rnn::app::bench::{Workload, count_launches};
use burn_rnn::app::checkpoint::RunDir;
use burn_rnn::app::config::RunConfig;
use burn_rnn::app::run::load_run;
use burn_rnn::app::train::{Progress, TrainOptions, train};
use burn_rnn::sample::{Sampler, SamplingOptions, generate};
use burn_rnn::{Activation, CellKind, RecurrentCell, RecurrentConfig, RecurrentState};
use common::*;

/// f32 on a GPU (or lavapipe): transcendental functions and reduction orders differ from the CPU.
const TOLERANCE: f64 = 1e-4;

#[cfg(feature = "wgpu")]
#[test]
fn wgpu_parity_then_training_and_sampling() {
    type G = burn::backend::Wgpu;
    all::<G>("wgpu");
    host_reads_are_seen::<G>();
}

/// `auto` and `--backend wgpu` as the command line runs them (the binary, in a process of its
/// own, so the Vulkan loader can be pointed at nothing): a real GPU is `auto`'s choice, a
/// software renderer or no driver sends `auto` to the CPU with one line saying why, `--backend
/// wgpu` runs on a software renderer and says so, and with no driver it is an error, not a panic.
#[cfg(feature = "wgpu")]
#[test]
fn backend_choice_by_what_the_machine_has() {
    let adapter = burn_rnn::app::adapter::default_adapter();
    let bin = env!("CARGO_BIN_EXE_burn-rnn");
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tiny.toml");
    let out = std::env::temp_dir().join(format!("burn_rnn_backend_{}", std::process::id()));
    let run = |backend: &str, no_vulkan: bool| {
        let mut cmd = std::process::Command::new(bin);
        cmd.arg("train")
            .arg(&config)
            .args(["--set", "train.steps=1", "--set", "train.eval_interval=1"])
            .args(["--backend", backend, "--force", "--out"])
            .arg(out.join(backend));
        if no_vulkan {
            // The loader reads its drivers from these lists only: a file that does not exist
            // leaves it none.
            for var in ["VK_ICD_FILENAMES", "VK_DRIVER_FILES"] {
                cmd.env(var, "/nonexistent/burn-rnn-no-driver.json");
            }
            cmd.env_remove("VK_ADD_DRIVER_FILES");
        }
        let o = cmd.output().expect("the burn-rnn binary runs");
        let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(!stderr.contains("panicked"), "{backend}: {stderr}");
        (o.status.success(), stderr)
    };

    // No Vulkan driver at all.
    let (ok, err) = run("auto", true);
    assert!(ok, "auto without a driver runs on the CPU: {err}");
    assert!(
        err.contains("backend auto: no GPU") && err.contains("no Vulkan driver"),
        "{err}"
    );
    assert!(err.contains("backend: ndarray (CPU)"), "{err}");
    let (ok, err) = run("wgpu", true);
    assert!(!ok, "--backend wgpu without a driver is an error");
    assert!(
        err.contains("no Vulkan driver") && err.contains("`--backend cpu`"),
        "{err}"
    );

    // What this machine has.
    let (ok, err) = run("auto", false);
    assert!(ok, "{err}");
    match &adapter {
        Some(a) if !a.software => assert!(err.contains("backend: wgpu, adapter"), "{err}"),
        Some(a) => {
            assert!(
                err.contains("a software renderer") && err.contains(&a.name),
                "{err}"
            );
            assert!(err.contains("backend: ndarray (CPU)"), "{err}");
            let (ok, err) = run("wgpu", false);
            assert!(ok, "--backend wgpu runs on a software renderer: {err}");
            assert!(
                err.contains("is a software renderer") && err.contains("backend: wgpu, adapter"),
                "{err}"
            );
        }
        None => assert!(err.contains("backend: ndarray (CPU)"), "{err}"),
    }
    let _ = std::fs::remove_dir_all(&out);
}

/// `--backend cuda` either runs on a CUDA device or, with no driver or device, stops with an
/// error naming what is missing: never a panic inside the CUDA runtime. `auto` never fails.
#[cfg(feature = "cuda")]
#[test]
fn cuda_runs_or_says_what_is_missing() {
    let bin = env!("CARGO_BIN_EXE_burn-rnn");
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tiny.toml");
    let out = std::env::temp_dir().join(format!("burn_rnn_cuda_{}", std::process::id()));
    for backend in ["cuda", "auto"] {
        let o = std::process::Command::new(bin)
            .arg("train")
            .arg(&config)
            .args(["--set", "train.steps=1", "--set", "train.eval_interval=1"])
            .args(["--backend", backend, "--force", "--out"])
            .arg(out.join(backend))
            .output()
            .expect("the burn-rnn binary runs");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("panicked"), "{backend}: {err}");
        if backend == "auto" || o.status.success() {
            assert!(o.status.success(), "{backend}: {err}");
            assert!(err.contains("backend: "), "{err}");
        } else {
            assert!(
                err.contains("the cuda backend was asked for") && err.contains("`--backend cpu`"),
                "{err}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[cfg(feature = "cuda")]
#[test]
#[ignore = "needs an NVIDIA GPU and its driver: run with `-- --ignored cuda`"]
fn cuda_parity_then_training_and_sampling() {
    all::<burn::backend::Cuda>("cuda");
}

/// Every check on backend `G` (`name` as in `[backend] kind`).
fn all<G: Backend>(name: &str) {
    // Counting is configured before the device is first used, and paused until it is wanted.
    launches::enable().expect("launch counting turns on before the device is used");
    launches::counting(false);
    let timed = |check: &str, f: fn(&str)| {
        let started = Instant::now();
        f(name);
        eprintln!("{name} {check}: {:.0} s", started.elapsed().as_secs_f64());
    };
    timed("parity", parity::<G>);
    timed("kernels", kernels_match_reference::<G>);
    timed("lookup", lookup_matches_select::<G>);
    timed("training and sampling", train_and_sample::<G>);
    timed("launches", launches_per_training_step::<G>);
    timed("matmul precision", matmul_precision::<G>);
}

/// Whether the backend's f32 matmul (after autotuning) computes in full f32 or in TF32: the
/// relative error of a 512 x 512 x 512 product against f64 on the host is about 1e-7 in f32 and
/// about 1e-3 in TF32 (10-bit mantissa). Printed, for `docs/gpu.md`'s like-for-like comparison;
/// the assertion only bounds it by what either precision gives.
fn matmul_precision<G: Backend>(name: &str) {
    let n = 512;
    let device = G::Device::default();
    let a = Tensor::<G, 2>::random([n, n], Distribution::Normal(0.0, 1.0), &device);
    let b = Tensor::<G, 2>::random([n, n], Distribution::Normal(0.0, 1.0), &device);
    // The first products may run the autotuner's candidates; the last one is what training gets.
    let mut c = a.clone().matmul(b.clone());
    for _ in 0..3 {
        c = a.clone().matmul(b.clone());
    }
    let (a, b, c) = (values(a), values(b), values(c));
    let mut reference = vec![0.0f64; n * n];
    for i in 0..n {
        for k in 0..n {
            let aik = a[i * n + k];
            for j in 0..n {
                reference[i * n + j] += aik * b[k * n + j];
            }
        }
    }
    let err = rel_error(&c, &reference);
    let verdict = if err > 1e-5 {
        "TF32 or lower"
    } else {
        "full f32"
    };
    eprintln!("{name} matmul precision: relative error {err:.2e} against f64 ({verdict})");
    assert!(err < 1e-2, "{name} matmul: relative error {err:.2e}");
}

fn parity<G: Backend>(name: &str) {
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
        // The fused operation (the GPU fast path) and Burn's step-by-step autodiff.
        check_case::<Autodiff<G>>(case, &bytes, TOLERANCE, true);
        check_case::<Autodiff<G>>(case, &bytes, TOLERANCE, false);
    }
    eprintln!(
        "{name} parity: {} cases x 2 paths within {TOLERANCE:e} of PyTorch",
        cases.len()
    );
}

fn train_and_sample<G: Backend>(name: &str) {
    let device = G::Device::default();
    let tmp = tempfile::tempdir().unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tiny.toml");
    let config = RunConfig::load(&path, &[format!("backend.kind=\"{name}\"")]).unwrap();
    let options = TrainOptions {
        run: RunDir::new(tmp.path()),
        resume: false,
        force: false,
        progress: Progress::Quiet,
        stop_after: None,
        interrupt: None,
    };
    let summary = train::<Autodiff<G>>(&config, &options, std::slice::from_ref(&device)).unwrap();
    let losses: Vec<String> = summary
        .train_losses
        .iter()
        .map(|(step, loss)| format!("{step}:{loss:.3}"))
        .collect();
    eprintln!("{name} training losses (step:loss): {}", losses.join(" "));
    let first = summary.train_losses.first().unwrap().1;
    let last = summary.train_losses.last().unwrap().1;
    assert!(first > 3.5, "starts near ln(vocab): {first}");
    assert!(last < first - 0.8, "loss fell from {first} to {last}");
    assert!(
        summary.val_loss < 3.4,
        "validation loss {}",
        summary.val_loss
    );

    let loaded = load_run::<G>(&RunDir::new(tmp.path()), "last", &device).unwrap();
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
    eprintln!("{name} sample: {text:?}");
}

/// The recurrence's CubeCL kernels (the GPU fused path) against its reference loop in Burn tensor
/// ops (`BURN_RNN_GPU_RECURRENCE=reference`) on the same inputs, with each launcher
/// (`BURN_RNN_GPU_RECURRENCE=persistent`, one launch per layer direction; `fused`, the LSTM's
/// fused step kernel, the others falling back to `steps`; `steps`, a matmul and a gate kernel per
/// step): every cell, both directions, with and without bias, an initial state; outputs, final
/// states and the gradients of the input, the initial states and every weight and bias. Hidden
/// sizes 6 (fewer units than a cube or a tile has) and 290 (a persistent cube's 256 units stride
/// over them with 34 left; the fused step's tiles of 7 units leave 3 in the last).
fn kernels_match_reference<G: Backend>(name: &str) {
    type B<G> = Autodiff<G>;
    let device = G::Device::default();
    let (input, batch, seq) = (5, 3, 7);
    let mut cases = 0;
    for (kind, activation, hidden, bias) in [
        (CellKind::Rnn, Activation::Tanh, 6, true),
        (CellKind::Rnn, Activation::Tanh, 6, false),
        (CellKind::Rnn, Activation::Relu, 6, true),
        (CellKind::Rnn, Activation::Relu, 6, false),
        (CellKind::Lstm, Activation::Tanh, 6, true),
        (CellKind::Lstm, Activation::Tanh, 6, false),
        (CellKind::Gru, Activation::Tanh, 6, true),
        (CellKind::Gru, Activation::Tanh, 6, false),
        (CellKind::Rnn, Activation::Tanh, 290, true),
        (CellKind::Lstm, Activation::Tanh, 290, true),
        (CellKind::Gru, Activation::Tanh, 290, true),
    ] {
        let layer = RecurrentConfig::new(kind, input, hidden)
            .with_num_layers(2)
            .with_bidirectional(true)
            .with_bias(bias)
            .with_activation(activation)
            .init::<B<G>>(&device);
        let random = |shape: [usize; 3]| {
            Tensor::<B<G>, 3>::random(shape, Distribution::Normal(0.0, 1.0), &device)
        };
        let x = random([batch, seq, input]).require_grad();
        let h0 = random([4, batch, hidden]).require_grad();
        let c0 = random([4, batch, hidden]).require_grad();
        let (r_out, r_h, r_c) = (
            random([batch, seq, 2 * hidden]),
            random([4, batch, hidden]),
            random([4, batch, hidden]),
        );
        let run = |path: Option<&str>| {
            // One test thread: nothing else reads the environment meanwhile.
            unsafe {
                match path {
                    Some(p) => std::env::set_var("BURN_RNN_GPU_RECURRENCE", p),
                    None => std::env::remove_var("BURN_RNN_GPU_RECURRENCE"),
                }
            }
            let cell = (kind == CellKind::Lstm).then(|| c0.clone());
            let state = RecurrentState::from_tensors(h0.clone(), cell);
            let (out, state) = layer.forward(x.clone(), Some(state));
            let mut loss =
                (out.clone() * r_out.clone()).sum() + (state.hidden() * r_h.clone()).sum();
            if let Some(c) = state.cell() {
                loss = loss + (c * r_c.clone()).sum();
            }
            let grads = loss.backward();
            let mut all = vec![
                ("out", values(out)),
                ("h_n", values(state.hidden())),
                ("dx", values(x.grad(&grads).expect("dx"))),
                ("dh0", values(h0.grad(&grads).expect("dh0"))),
            ];
            if let Some(c) = state.cell() {
                all.push(("c_n", values(c)));
                all.push(("dc0", values(c0.grad(&grads).expect("dc0"))));
            }
            for cell in &layer.cells {
                let w = cell.weights();
                all.push((
                    "dW_ih",
                    values(w.weight_ih.val().grad(&grads).expect("dW_ih")),
                ));
                all.push((
                    "dW_hh",
                    values(w.weight_hh.val().grad(&grads).expect("dW_hh")),
                ));
                for b in [&w.bias_ih, &w.bias_hh].into_iter().flatten() {
                    all.push(("db", values(b.val().grad(&grads).expect("db"))));
                }
            }
            all
        };
        let reference = run(Some("reference"));
        for path in ["persistent", "fused", "steps"] {
            let kernels = run(Some(path));
            assert_eq!(kernels.len(), reference.len());
            for ((name, a), (_, b)) in kernels.iter().zip(&reference) {
                let err = rel_error(a, b);
                assert!(
                    err <= TOLERANCE,
                    "{kind} ({activation:?}, hidden {hidden}, bias {bias}) {name}: `{path}` kernels vs reference, relative error {err:.3e}"
                );
            }
            cases += 1;
        }
        unsafe { std::env::remove_var("BURN_RNN_GPU_RECURRENCE") };
    }
    eprintln!(
        "{name} recurrence kernels: {cases} cases within {TOLERANCE:e} of the reference loop"
    );
}

/// `forward_lookup` (the lookup operation: `select` forward, a one-hot matmul backward on the
/// GPU) against Burn's `select` followed by `forward`: outputs and the gradients of the table and
/// of every weight.
fn lookup_matches_select<G: Backend>(name: &str) {
    type B<G> = Autodiff<G>;
    let device = G::Device::default();
    let (vocab, embedding, hidden, batch, seq) = (11, 5, 6, 3, 7);
    let layer = RecurrentConfig::new(CellKind::Lstm, embedding, hidden)
        .with_num_layers(2)
        .init::<B<G>>(&device);
    let table =
        Tensor::<B<G>, 2>::random([vocab, embedding], Distribution::Normal(0.0, 1.0), &device)
            .require_grad();
    // Repeated ids: their gradients add up.
    let ids: Vec<i64> = (0..batch * seq)
        .map(|i| (i * 7 % 5 + i % 3) as i64)
        .collect();
    let ids = Tensor::<B<G>, 2, Int>::from_data(TensorData::new(ids, [batch, seq]), &device);
    let r = Tensor::<B<G>, 3>::random(
        [batch, seq, hidden],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    let run = |fused_lookup: bool| {
        let out = if fused_lookup {
            layer.forward_lookup(table.clone(), ids.clone(), None).0
        } else {
            let x = table
                .clone()
                .select(0, ids.clone().reshape([batch * seq]))
                .reshape([batch, seq, embedding]);
            layer.forward(x, None).0
        };
        let grads = (out.clone() * r.clone()).sum().backward();
        let mut all = values(out);
        all.extend(values(table.grad(&grads).expect("the table's gradient")));
        for cell in &layer.cells {
            let w = cell.weights();
            all.extend(values(
                w.weight_ih.val().grad(&grads).expect("W_ih's gradient"),
            ));
            all.extend(values(
                w.weight_hh.val().grad(&grads).expect("W_hh's gradient"),
            ));
        }
        all
    };
    let (lookup, select) = (run(true), run(false));
    let err = rel_error(&lookup, &select);
    assert!(
        err <= TOLERANCE,
        "lookup vs select: relative error {err:.3e}"
    );
    eprintln!("{name} lookup: outputs and gradients within {err:.1e} of select");
}

/// The kernel launches of one training step (forward, backward, clipping, Adam) of a 2-layer
/// LSTM, at T = 16 and T = 32: the same at both lengths, at most [`PER_TRAINING_STEP`], and no
/// read to the host inside forward and backward.
///
/// The recurrence of each layer is one persistent launch forward and one backward, whatever the
/// sequence length; the rest are the projections, the loss, the weight gradients, clipping and
/// Adam. A change that adds a launch per time step fails here.
fn launches_per_training_step<G: Backend>(name: &str) {
    /// Measured 109 and 111 on lavapipe (fusion groups the rest a little differently at the two
    /// lengths).
    const PER_TRAINING_STEP: u64 = 120;
    let device = G::Device::default();
    let vocab = 13;
    let ids: Vec<u16> = (0..5000u32)
        .map(|i| ((i * 7 + i / 3) % vocab) as u16)
        .collect();
    let layers = 2;
    let count = |seq: usize| {
        let workload = Workload {
            name: "T",
            cell: CellKind::Lstm,
            layers,
            hidden: 16,
            embedding: 8,
            seq,
            batch: 4,
        };
        let report = count_launches::<Autodiff<G>>(workload, &ids, vocab as usize, true, &device);
        eprintln!(
            "{}",
            burn_rnn::app::bench::BenchResult::Launches(report.clone())
        );
        assert_eq!(
            report.forward_backward.host_reads, 0,
            "a read to the host inside forward and backward (T = {seq})"
        );
        report.total()
    };
    let (short, long) = (count(16), count(32));
    eprintln!("{name} launches per training step: {short} at T = 16, {long} at T = 32");
    assert!(
        short.abs_diff(long) <= 4,
        "{short} launches at T = 16, {long} at T = 32: the count grows with the sequence"
    );
    for (seq, n) in [(16, short), (32, long)] {
        assert!(
            n <= PER_TRAINING_STEP,
            "{n} launches at T = {seq}, above {PER_TRAINING_STEP}"
        );
    }
}

/// The host-read detection itself works on wgpu: a read to the host is seen.
#[cfg(feature = "wgpu")]
fn host_reads_are_seen<G: Backend>() {
    let device = G::Device::default();
    launches::counting(true);
    let before = launches::settled();
    let x = Tensor::<G, 1>::from_floats([1.0, 2.0], &device) * 2.0;
    assert_eq!(x.into_data().to_vec::<f32>().unwrap(), vec![2.0, 4.0]);
    let after = launches::settled();
    launches::counting(false);
    assert!(
        after.host_reads > before.host_reads,
        "a read to the host was not counted"
    );
}
