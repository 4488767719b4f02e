//! The char-rnn application through the library: loss falls, resume equals an uninterrupted
//! run, sampling is deterministic after save and load.

use std::path::Path;

use burn::backend::{Autodiff, NdArray};
use burn_rnn::app::checkpoint::RunDir;
use burn_rnn::app::checkpoint::history::read_metrics;
use burn_rnn::app::config::RunConfig;
use burn_rnn::app::run::load_run;
use burn_rnn::app::train::{Progress, TrainOptions, train};
use burn_rnn::sample::{Sampler, SamplingOptions, generate};

type B = Autodiff<NdArray>;

/// Burn's backend RNG (weights, dropout) is process-global: runs in one process must not overlap.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn tiny(sets: &[&str]) -> RunConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tiny.toml");
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    RunConfig::load(&path, &sets).unwrap()
}

fn options(dir: &Path, resume: bool, stop_after: Option<usize>) -> TrainOptions {
    TrainOptions {
        run: RunDir::new(dir),
        resume,
        force: false,
        progress: Progress::Quiet,
        stop_after,
        interrupt: None,
    }
}

#[test]
fn loss_falls_and_the_run_folder_is_complete() {
    let _guard = serial();
    let tmp = tempfile::tempdir().unwrap();
    let summary = train::<B>(
        &tiny(&[]),
        &options(tmp.path(), false, None),
        &[Default::default()],
    )
    .unwrap();
    let first = summary.train_losses.first().unwrap().1;
    let last = summary.train_losses.last().unwrap().1;
    assert!(first > 3.5, "starts near ln(vocab): {first}");
    assert!(last < first - 0.8, "loss fell from {first} to {last}");
    assert!(
        summary.val_loss < 3.4,
        "validation loss {}",
        summary.val_loss
    );
    let run = RunDir::new(tmp.path());
    for f in [
        run.config_path(),
        run.vocab_path(),
        run.metrics_path(),
        run.samples_path(),
        run.plot_path(),
    ] {
        assert!(f.is_file(), "{} missing", f.display());
    }
    assert!(run.has_checkpoint("last") && run.has_checkpoint("best"));
    let svg = std::fs::read_to_string(run.plot_path()).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("validation") && svg.contains("<polyline"));
    let samples = std::fs::read_to_string(run.samples_path()).unwrap();
    assert_eq!(samples.matches("=== step").count(), 3);
    let (train_series, valid_series) = read_metrics(&run);
    assert_eq!(train_series.len(), 12);
    assert_eq!(valid_series.len(), 3);
}

/// Same steps, same losses up to the last bits: ndarray's multi-threaded reductions may
/// round differently from run to run (seen: 4e-7), so two uninterrupted runs differ as much.
fn assert_same_losses(a: &[(usize, f64)], b: &[(usize, f64)], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.0, y.0, "{what}");
        assert!(
            (x.1 - y.1).abs() < 1e-4 * y.1.abs(),
            "{what}: step {} {} vs {}",
            x.0,
            x.1,
            y.1
        );
    }
}

/// A run stopped at step 30 and resumed gives exactly the losses of one that never stopped,
/// for both batching modes (contiguous carries the hidden state across the checkpoint).
#[test]
fn resume_equals_uninterrupted() {
    let _guard = serial();
    for batching in ["contiguous", "random"] {
        let set = format!("data.batching=\"{batching}\"");
        let config = tiny(&[&set, "model.dropout=0.2", "model.num_layers=2"]);
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let device = Default::default();
        let full = train::<B>(
            &config,
            &options(a.path(), false, None),
            std::slice::from_ref(&device),
        )
        .unwrap();
        let first = train::<B>(
            &config,
            &options(b.path(), false, Some(30)),
            std::slice::from_ref(&device),
        )
        .unwrap();
        assert_eq!(first.steps, 30);
        let second = train::<B>(
            &config,
            &options(b.path(), true, None),
            std::slice::from_ref(&device),
        )
        .unwrap();
        let resumed: Vec<_> = first
            .train_losses
            .iter()
            .chain(&second.train_losses)
            .copied()
            .collect();
        assert_same_losses(&resumed, &full.train_losses, batching);
        assert!((second.val_loss - full.val_loss).abs() < 1e-4, "{batching}");
        // The metrics file of the resumed run holds each step once.
        let (series, _) = read_metrics(&RunDir::new(b.path()));
        assert_same_losses(&series, &full.train_losses, batching);
        // ... and each evaluation's sample once, the same text as the uninterrupted run's.
        let samples = |d: &Path| std::fs::read_to_string(RunDir::new(d).samples_path()).unwrap();
        assert_eq!(
            samples(b.path()).matches("=== step").count(),
            3,
            "{batching}"
        );
    }
}

#[test]
fn sampling_is_deterministic_after_save_and_load() {
    let _guard = serial();
    let tmp = tempfile::tempdir().unwrap();
    let device = Default::default();
    train::<B>(
        &tiny(&["train.steps=20"]),
        &options(tmp.path(), false, None),
        std::slice::from_ref(&device),
    )
    .unwrap();
    let run = RunDir::new(tmp.path());
    let draw = |seed| {
        let loaded = load_run::<NdArray>(&run, "last", &device).unwrap();
        let mut sampler = Sampler::new(SamplingOptions::default(), seed);
        let mut streamed = String::new();
        let text = generate(
            &loaded.model,
            &loaded.vocab,
            "ROMEO:",
            80,
            &mut sampler,
            |c| streamed.push(c),
        )
        .unwrap();
        assert_eq!(text, streamed);
        text
    };
    let a = draw(5);
    assert_eq!(a.chars().count(), 80);
    assert_eq!(a, draw(5));
    assert_ne!(a, draw(6));
}

/// Data-parallel training (issue: several devices through Burn's gradient accumulation): one
/// device with batch 8 and two replicas of the CPU device with 4 rows each give the same losses
/// within f32 noise, step after step, with the hidden state carried between batches; so does
/// an uneven split (3 replicas: 3, 3 and 2 rows), and resuming a two-replica run.
#[test]
fn two_cpu_replicas_train_like_one_device() {
    let _guard = serial();
    let sets = [
        "train.steps=40",
        "train.log_interval=1",
        "train.eval_interval=20",
        "train.sample_length=0",
    ];
    let cpu = burn::backend::ndarray::NdArrayDevice::Cpu;
    let run = |devices: usize, stop_after: Option<usize>, resume: bool, dir: &Path| {
        burn_rnn::app::train::train::<B>(
            &tiny(&sets),
            &options(dir, resume, stop_after),
            &vec![cpu; devices],
        )
        .unwrap()
    };
    let (one, two, three, halves) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let a = run(1, None, false, one.path()).train_losses;
    let b = run(2, None, false, two.path()).train_losses;
    let c = run(3, None, false, three.path()).train_losses;
    assert_eq!(a.len(), 40);
    let close = |x: &[(usize, f64)], what: &str| {
        assert_eq!(x.len(), a.len(), "{what}");
        for ((s, la), (_, lx)) in a.iter().zip(x) {
            let rel = (la - lx).abs() / la.abs();
            assert!(rel < 2e-4, "{what}, step {s}: {la} vs {lx} (rel {rel:.1e})");
        }
    };
    close(&b, "two replicas");
    close(&c, "three replicas");
    assert!(a.last().unwrap().1 < a.first().unwrap().1 - 0.5, "{a:?}");
    // Stopped and resumed on two replicas: the carried state is saved whole and cut again.
    run(2, Some(20), false, halves.path());
    let d = run(2, None, true, halves.path()).train_losses;
    close(&[&b[..20], &d[..]].concat(), "two replicas, resumed at 20");

    // With dropout the replicas' forwards run in share order, so the masks, and the run, are
    // reproducible: an uninterrupted run and one resumed at 20 agree.
    let dropout = [&sets[..], &["model.dropout=0.3"]].concat();
    let run = |stop_after: Option<usize>, resume: bool, dir: &Path| {
        burn_rnn::app::train::train::<B>(
            &tiny(&dropout),
            &options(dir, resume, stop_after),
            &[cpu, cpu],
        )
        .unwrap()
        .train_losses
    };
    let (full, part) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let e = run(None, false, full.path());
    run(Some(20), false, part.path());
    let f = run(None, true, part.path());
    assert_same_losses(
        &e,
        &[&e[..20], &f[..]].concat(),
        "dropout, two replicas, resumed",
    );
    assert!(
        e.iter()
            .zip(&b)
            .any(|((_, x), (_, y))| (x - y).abs() > 1e-3),
        "dropout changes the losses"
    );
}
