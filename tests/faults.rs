//! Bad input and faults, through the real binary: every case exits non-zero with one readable
//! message (no panic, no debug dump) naming the file, key or value, and leaves earlier results
//! intact. Kill tests send SIGKILL during training and during a checkpoint write, and SIGINT, then
//! resume.

mod binary;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use binary::{
    assert_error, assert_loadable, bin, checkpoint_step, data_dir, run, tiny_config, train,
    trained, unprivileged,
};

fn wait_for(what: &str, timeout_secs: u64, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(timeout_secs),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

// ---------------------------------------------------------------------------------------------
// Config

#[test]
fn config_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let text = std::fs::read_to_string(tiny_config()).unwrap();
    let write = |name: &str, body: String| {
        let file = tmp.path().join(name);
        // The corpus path is relative to the config: point it at tests/data.
        std::fs::write(
            &file,
            body.replace(
                "path = \"small.txt\"",
                &format!("path = {:?}", data_dir().join("small.txt")),
            ),
        )
        .unwrap();
        file
    };

    assert_error(
        run(&mut train(&tmp.path().join("nope.toml"), &out, &[])),
        &["nope.toml", "No such file"],
    );
    let syntax = write(
        "syntax.toml",
        text.replace("hidden_size = 48", "hidden_size = = 48"),
    );
    assert_error(
        run(&mut train(&syntax, &out, &[])),
        &["syntax.toml", "line 7", "column"],
    );
    let typo = write("typo.toml", text.replace("hidden_size", "hiden_size"));
    assert_error(
        run(&mut train(&typo, &out, &[])),
        &[
            "typo.toml",
            "unknown field `hiden_size`",
            "did you mean `hidden_size`?",
        ],
    );
    let typed = write(
        "typed.toml",
        text.replace("hidden_size = 48", "hidden_size = \"big\""),
    );
    assert_error(
        run(&mut train(&typed, &out, &[])),
        &["typed.toml", "hidden_size", "invalid type", "\"big\""],
    );
    for (set, words) in [
        (
            "model.hidden_size=0",
            &["model.hidden_size", "at least 1", "0"][..],
        ),
        (
            "optim.learning_rate=0",
            &["optim.learning_rate", "positive", "0"],
        ),
        (
            "optim.learning_rate=-1e-3",
            &["optim.learning_rate", "-0.001"],
        ),
        ("model.dropout=1.5", &["model.dropout", "[0, 1)", "1.5"]),
        (
            "data.validation_fraction=1",
            &["data.validation_fraction", "(0, 1)"],
        ),
        (
            "model.cell=transformer",
            &["model.cell", "transformer", "rnn"],
        ),
        (
            "model.activation=relu",
            &["model.activation", "rnn", "lstm"],
        ),
        (
            "train.epochs=2",
            &["train.steps", "train.epochs", "not both"],
        ),
        (
            "model.hiden_size=3",
            &["hiden_size", "did you mean `hidden_size`?"],
        ),
        (
            "model.hidden_size",
            &["--set model.hidden_size", "section.key=value"],
        ),
        (
            "data.seq_len=5000",
            &["data.seq_len", "5000", "small.txt", "characters"],
        ),
    ] {
        assert_error(run(&mut train(&tiny_config(), &out, &[set])), words);
    }
    assert!(!out.exists(), "nothing is written for a bad config");
}

// ---------------------------------------------------------------------------------------------
// Corpus

#[test]
fn corpus_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let corpus = |name: &str, bytes: &[u8]| {
        let p = tmp.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        format!("data.path={:?}", p.display().to_string())
    };
    let missing = format!(
        "data.path={:?}",
        tmp.path().join("gone.txt").display().to_string()
    );
    assert_error(
        run(&mut train(&tiny_config(), &out, &[&missing])),
        &["cannot read corpus", "gone.txt", "No such file"],
    );
    let empty = corpus("empty.txt", b"");
    assert_error(
        run(&mut train(&tiny_config(), &out, &[&empty])),
        &["empty.txt", "is empty"],
    );
    let small = corpus("small.txt", b"To be, or not to be, that is the question.\n");
    assert_error(
        run(&mut train(&tiny_config(), &out, &[&small])),
        &[
            "data.batch_size",
            "data.seq_len",
            "small.txt",
            "fewer than one batch",
        ],
    );
    let mut bytes = b"First line\nsecond line \xff here\n".to_vec();
    bytes.extend(std::iter::repeat_n(b'a', 100));
    let latin1 = corpus("latin1.txt", &bytes);
    assert_error(
        run(&mut train(&tiny_config(), &out, &[&latin1])),
        &["latin1.txt", "not valid UTF-8", "byte offset 23", "line 2"],
    );
    {
        // An unreadable corpus (as `nobody` when the tests run as root).
        use std::os::unix::fs::PermissionsExt;
        let locked = corpus("locked.txt", b"abc");
        let path = tmp.path().join("locked.txt");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
        let mut cmd = train(&tiny_config(), &out, &[&locked]);
        unprivileged(&mut cmd, tmp.path());
        assert_error(run(&mut cmd), &["locked.txt", "Permission denied"]);
    }
    assert!(!out.join("checkpoints").join("last").exists());
}

/// A 100 MB corpus trains without exhausting memory: ids are 2 bytes per character and batches
/// are cut from them, never from copies of the text.
#[test]
fn a_100_mb_corpus_trains_in_bounded_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let base = std::fs::read(data_dir().join("small.txt")).unwrap();
    let path = tmp.path().join("big.txt");
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let mut written = 0;
        while written < 100_000_000 {
            f.write_all(&base).unwrap();
            written += base.len();
        }
    }
    let out = tmp.path().join("run");
    let o = run(&mut train(
        &tiny_config(),
        &out,
        &[
            &format!("data.path={:?}", path.display().to_string()),
            "train.steps=4",
            "train.eval_interval=4",
            "train.eval_batches=1",
            "train.sample_length=0",
        ],
    ));
    assert!(o.ok, "{}", o.stderr);
    assert!(o.stdout.contains("done: 4 steps"), "{}", o.stdout);
    // Peak resident memory of the children of this test process (the largest one).
    // SAFETY: getrusage fills the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(
        unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) },
        0
    );
    let peak_mb = usage.ru_maxrss as f64 / 1024.0;
    eprintln!("peak RSS of the run: {peak_mb:.0} MB for a 100 MB corpus");
    assert!(peak_mb < 450.0, "peak RSS {peak_mb:.0} MB");
}

// ---------------------------------------------------------------------------------------------
// Run folder and checkpoints

#[test]
fn run_folder_and_checkpoint_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    trained(&out, 20);
    let metrics = std::fs::read_to_string(out.join("metrics.csv")).unwrap();

    // Another config into the same folder.
    assert_error(
        run(&mut train(&tiny_config(), &out, &["model.hidden_size=32"])),
        &["already holds a run", "--resume", "--force"],
    );
    // Resuming with another model shape.
    assert_error(
        run(train(&tiny_config(), &out, &["model.hidden_size=32"]).arg("--resume")),
        &["model.hidden_size", "32", "48"],
    );

    // Resuming on a corpus with characters the run's vocabulary lacks.
    let other = tmp.path().join("other.txt");
    std::fs::write(&other, "Ω".repeat(20) + &"abc ".repeat(10_000)).unwrap();
    assert_error(
        run(train(
            &tiny_config(),
            &out,
            &[
                &format!("data.path={:?}", other.display().to_string()),
                "train.steps=30",
            ],
        )
        .arg("--resume")),
        &["other.txt", "outside the vocabulary", "'Ω'"],
    );
    assert_eq!(checkpoint_step(&out, "last"), 20);

    // A corrupted weight file and a truncated state file are reported, never loaded.
    let copy = tmp.path().join("copy");
    copy_dir(&out, &copy);
    let model = copy.join("checkpoints/last/model.bin");
    let mut bytes = std::fs::read(&model).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    std::fs::write(&model, &bytes).unwrap();
    assert_error(
        run(bin()
            .args(["sample", "--checkpoint", "last", "--run"])
            .arg(&copy)),
        &["model.bin", "checksum", "corrupted"],
    );
    assert_error(
        run(train(&tiny_config(), &copy, &["train.steps=30"]).arg("--resume")),
        &["model.bin", "checksum"],
    );
    std::fs::write(&model, &bytes[..n / 3]).unwrap();
    assert_error(
        run(bin()
            .args(["eval", "--checkpoint", "last", "--run"])
            .arg(&copy)),
        &["model.bin", "truncated"],
    );
    let state = copy.join("checkpoints/best/state.json");
    let text = std::fs::read_to_string(&state).unwrap();
    std::fs::write(&state, &text[..text.len() / 2]).unwrap();
    assert_error(
        run(bin().args(["sample", "--run"]).arg(&copy)),
        &["state.json", "damaged"],
    );

    // A vocabulary or model shape that does not match the weights.
    let copy = tmp.path().join("copy2");
    copy_dir(&out, &copy);
    let vocab = copy.join("vocab.json");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&vocab).unwrap()).unwrap();
    let mut chars = v["chars"].as_array().unwrap().clone();
    chars.pop();
    std::fs::write(&vocab, serde_json::json!({ "chars": chars }).to_string()).unwrap();
    assert_error(
        run(bin().args(["sample", "--run"]).arg(&copy)),
        &["model.bin", "shape", "vocab.json", "another model"],
    );
    let copy = tmp.path().join("copy3");
    copy_dir(&out, &copy);
    let config = copy.join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("hidden_size = 48", "hidden_size = 40"),
    )
    .unwrap();
    assert_error(
        run(bin().args(["eval", "--run"]).arg(&copy)),
        &["model.bin", "shape", "[16, 192]", "[16, 160]"],
    );
    for (key, edit) in [("num_layers", "num_layers = 2"), ("cell", "cell = \"gru\"")] {
        let copy = tmp.path().join(format!("copy-{key}"));
        copy_dir(&out, &copy);
        let config = copy.join("config.toml");
        let text = std::fs::read_to_string(&config).unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap()
            .to_string();
        std::fs::write(&config, text.replace(&line, edit)).unwrap();
        assert_error(
            run(bin().args(["sample", "--run"]).arg(&copy)),
            &["model.bin", "another model"],
        );
    }

    // No permission to write the run folder (as `nobody` when the tests run as root).
    {
        use std::os::unix::fs::PermissionsExt;
        let locked = tmp.path().join("locked");
        std::fs::create_dir(&locked).unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
        let mut cmd = train(&tiny_config(), &locked.join("run"), &[]);
        unprivileged(&mut cmd, tmp.path());
        assert_error(run(&mut cmd), &["locked/run", "Permission denied"]);
    }

    // The original run is untouched by all of this.
    assert_eq!(
        std::fs::read_to_string(out.join("metrics.csv")).unwrap(),
        metrics
    );
    assert_loadable(&out, "last");
    assert_loadable(&out, "best");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A write that fails part-way (as on a full disk: here the file-size limit, RLIMIT_FSIZE, makes
/// the weight file's write fail) reports the file and keeps the previous checkpoint.
#[test]
fn a_failed_checkpoint_write_keeps_the_previous_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    trained(&out, 20);
    let mut cmd = train(
        &tiny_config(),
        &out,
        &[
            "train.steps=40",
            "train.eval_interval=10",
            "train.sample_length=0",
        ],
    );
    cmd.arg("--resume");
    // SAFETY: setrlimit and signal are async-signal-safe; they run in the child before exec.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 32 * 1024,
                rlim_max: 32 * 1024,
            };
            libc::setrlimit(libc::RLIMIT_FSIZE, &limit);
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    assert_error(
        run(&mut cmd),
        &[
            "cannot write checkpoint `last`",
            "previous `last` checkpoint is kept",
            "model.bin",
            "File too large",
        ],
    );
    assert_eq!(checkpoint_step(&out, "last"), 20);
    assert_loadable(&out, "last");
    let o = run(train(
        &tiny_config(),
        &out,
        &["train.steps=30", "train.sample_length=0"],
    )
    .arg("--resume"));
    assert!(o.ok, "{}", o.stderr);
    assert!(
        o.stdout.contains("resuming from the checkpoint at step 20"),
        "{}",
        o.stdout
    );
}

// ---------------------------------------------------------------------------------------------
// Interruption

fn long_run(out: &Path, pause_ms: Option<u64>) -> Child {
    let mut cmd = train(
        &tiny_config(),
        out,
        &[
            "train.steps=100000",
            "train.eval_interval=10",
            "train.eval_batches=1",
            "train.sample_length=0",
        ],
    );
    cmd.arg("--no-progress")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(ms) = pause_ms {
        cmd.env("BURN_RNN_TEST_CHECKPOINT_PAUSE_MS", ms.to_string());
    }
    cmd.spawn().expect("start burn-rnn")
}

fn resume_continues(out: &Path, from: usize) {
    let o = run(train(
        &tiny_config(),
        out,
        &[
            &format!("train.steps={}", from + 10),
            "train.eval_interval=10",
            "train.eval_batches=1",
            "train.sample_length=0",
        ],
    )
    .arg("--resume"));
    assert!(o.ok, "{}", o.stderr);
    assert!(
        o.stdout
            .contains(&format!("resuming from the checkpoint at step {from}")),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains(&format!("done: {} steps", from + 10)),
        "{}",
        o.stdout
    );
    // The metrics hold each step once, in order.
    let metrics = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    let steps: Vec<usize> = metrics
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert!(steps.windows(2).all(|w| w[0] < w[1]), "{steps:?}");
    assert_eq!(*steps.last().unwrap(), from + 10);
}

#[test]
fn sigkill_during_training_then_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let mut child = long_run(&out, None);
    let state = out.join("checkpoints/last/state.json");
    wait_for("the first checkpoint", 120, || state.exists());
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let step = checkpoint_step(&out, "last");
    assert!(step >= 10 && step.is_multiple_of(10), "{step}");
    assert_loadable(&out, "last");
    resume_continues(&out, step);
}

#[test]
fn sigkill_during_a_checkpoint_write_then_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    // Each checkpoint write pauses after its first file: the kill lands mid-write (the pause is
    // long so that a stalled test thread still finds the write unfinished).
    let mut child = long_run(&out, Some(5000));
    let state = out.join("checkpoints/last/state.json");
    wait_for("the first checkpoint", 120, || state.exists());
    let partial = out.join("checkpoints/last.tmp/model.bin");
    wait_for("the second checkpoint's write", 120, || partial.exists());
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(partial.exists(), "killed in the middle of the write");
    assert_eq!(checkpoint_step(&out, "last"), 10);
    assert_loadable(&out, "last");
    resume_continues(&out, 10);
}

#[test]
fn ctrl_c_saves_a_checkpoint_then_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let child = long_run(&out, None);
    let state = out.join("checkpoints/last/state.json");
    wait_for("the first checkpoint", 120, || state.exists());
    std::thread::sleep(Duration::from_millis(200));
    signal(&child, libc::SIGINT);
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted after step") && stderr.contains("--resume"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    let step = checkpoint_step(&out, "last");
    assert!(
        stderr.contains(&format!("interrupted after step {step};")),
        "the checkpoint is the step the message names: {step}, {stderr}"
    );
    assert_loadable(&out, "last");
    resume_continues(&out, step);
}

// ---------------------------------------------------------------------------------------------
// Numerics

#[test]
fn a_non_finite_loss_stops_and_keeps_the_last_good_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    trained(&out, 20);
    let o = run(train(
        &tiny_config(),
        &out,
        &[
            "train.steps=60",
            "optim.learning_rate=1e30",
            "clip.max_norm=0",
            "train.sample_length=0",
        ],
    )
    .arg("--resume"));
    let e = assert_error(
        o,
        &[
            "training loss",
            "at step",
            "stopped",
            "last checkpoint is kept",
        ],
    );
    assert!(
        e.contains("NaN") || e.contains("inf") || e.contains("blew up"),
        "{e}"
    );
    assert_eq!(checkpoint_step(&out, "last"), 20);
    assert_loadable(&out, "last");
}

// ---------------------------------------------------------------------------------------------
// Sampling

#[test]
fn sampling_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    trained(&out, 10);
    let sample = |args: &[&str]| {
        let mut c = bin();
        c.args(["sample", "--run"]).arg(&out).args(args);
        run(&mut c)
    };
    let o = sample(&["--prime", "Zebra€~"]);
    assert!(o.stdout.is_empty(), "nothing is printed: {:?}", o.stdout);
    assert_error(o, &["prime", "'€'", "vocabulary"]);
    assert_error(sample(&["--length", "0"]), &["--length", "at least 1", "0"]);
    assert_error(
        sample(&["--temperature", "0"]),
        &["--temperature", "above 0"],
    );
    assert_error(sample(&["--temperature=-1"]), &["--temperature", "-1"]);
    assert_error(sample(&["--top-k", "0"]), &["--top-k", "at least 1"]);
    assert_error(sample(&["--top-p", "0"]), &["--top-p", "(0, 1]", "0"]);
    assert_error(sample(&["--top-p", "1.5"]), &["--top-p", "1.5"]);
    assert_error(
        run(bin().args(["sample", "--run"]).arg(tmp.path().join("none"))),
        &["run folder", "does not exist"],
    );
    let o = sample(&[
        "--prime", "The", "--length", "30", "--top-p", "0.9", "--top-k", "5",
    ]);
    assert!(o.ok && o.code == Some(0), "{}", o.stderr);
}

// ---------------------------------------------------------------------------------------------
// PyTorch import

/// A `state_dict` of the tiny config's model (LSTM 1x48, embedding 16) under PyTorch's names, with
/// `edit` applied to the `(key, shape)` list.
fn state_dict(path: &Path, edit: impl FnOnce(&mut Vec<(String, Vec<usize>)>)) {
    let text = std::fs::read_to_string(data_dir().join("small.txt")).unwrap();
    let v = burn_rnn::data::Vocab::from_text(&text).unwrap().len();
    let mut keys: Vec<(String, Vec<usize>)> = vec![
        ("emb.weight".into(), vec![v, 16]),
        ("rnn.weight_ih_l0".into(), vec![192, 16]),
        ("rnn.weight_hh_l0".into(), vec![192, 48]),
        ("rnn.bias_ih_l0".into(), vec![192]),
        ("rnn.bias_hh_l0".into(), vec![192]),
        ("head.weight".into(), vec![v, 48]),
        ("head.bias".into(), vec![v]),
    ];
    edit(&mut keys);
    let mut seed = 1u64;
    let data: Vec<Vec<u8>> = keys
        .iter()
        .map(|(_, shape)| {
            (0..shape.iter().product::<usize>())
                .flat_map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2).to_le_bytes()
                })
                .collect()
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = keys
        .iter()
        .zip(&data)
        .map(|((k, s), d)| {
            (
                k.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), d)
                    .unwrap(),
            )
        })
        .collect();
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

#[test]
fn pytorch_import_and_its_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let import = |weights: &Path, out: &Path| {
        let mut c = bin();
        c.arg("import")
            .arg(tiny_config())
            .arg("--weights")
            .arg(weights)
            .arg("--out")
            .arg(out);
        run(&mut c)
    };
    let good = tmp.path().join("good.safetensors");
    state_dict(&good, |_| {});
    let out = tmp.path().join("imported");
    let o = import(&good, &out);
    assert!(o.ok, "{}", o.stderr);
    assert_loadable(&out, "best");
    let o = run(train(
        &tiny_config(),
        &out,
        &["train.steps=10", "train.sample_length=0"],
    )
    .arg("--resume"));
    assert!(o.ok, "an imported model fine-tunes: {}", o.stderr);
    assert!(
        o.stdout.contains("resuming from the checkpoint at step 0"),
        "{}",
        o.stdout
    );

    let bad_out = tmp.path().join("bad");
    assert_error(
        import(&tiny_config(), &bad_out),
        &["tiny.toml", "not a safetensors file"],
    );
    assert_error(
        import(&tmp.path().join("absent.safetensors"), &bad_out),
        &["absent.safetensors", "No such file"],
    );
    let missing = tmp.path().join("missing.safetensors");
    state_dict(&missing, |k| k.retain(|(n, _)| n != "head.bias"));
    assert_error(
        import(&missing, &bad_out),
        &["missing.safetensors", "missing key `head.bias`"],
    );
    let extra = tmp.path().join("extra.safetensors");
    state_dict(&extra, |k| {
        k.push(("rnn.weight_ih_l1".into(), vec![192, 48]))
    });
    assert_error(
        import(&extra, &bad_out),
        &[
            "extra.safetensors",
            "unexpected key `rnn.weight_ih_l1`",
            "[192, 48]",
        ],
    );
    let shape = tmp.path().join("shape.safetensors");
    state_dict(&shape, |k| k[2].1 = vec![256, 64]);
    assert_error(
        import(&shape, &bad_out),
        &[
            "shape.safetensors",
            "rnn.weight_hh_l0",
            "[192, 48]",
            "[256, 64]",
        ],
    );
    assert!(!bad_out.exists(), "nothing is written for a bad import");
    // An existing run is not replaced without --force.
    assert_error(import(&good, &out), &["already holds a run", "--force"]);
}

// ---------------------------------------------------------------------------------------------
// Nothing lost, no panic: history, locking, output streams, sizes, non-finite values

/// Metrics rows and sample blocks of a run, by step.
fn history(out: &Path) -> (Vec<String>, Vec<String>) {
    let metrics = String::from_utf8_lossy(&std::fs::read(out.join("metrics.csv")).unwrap())
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect();
    let samples = String::from_utf8_lossy(&std::fs::read(out.join("samples.txt")).unwrap())
        .lines()
        .filter(|l| l.starts_with("=== step "))
        .map(str::to_string)
        .collect();
    (metrics, samples)
}

#[test]
fn resume_keeps_every_row_and_block_despite_invalid_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let sets = |steps: usize| {
        [
            format!("train.steps={steps}"),
            "train.eval_interval=10".to_string(),
            "train.log_interval=5".to_string(),
            "train.eval_batches=1".to_string(),
            "train.sample_length=20".to_string(),
        ]
    };
    let o = run(&mut train(
        &tiny_config(),
        &out,
        &sets(30).iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    assert!(o.ok, "{}", o.stderr);
    let (metrics, samples) = history(&out);
    assert!(
        metrics.len() >= 6 && samples.len() == 3,
        "{metrics:?} {samples:?}"
    );
    // A cut multi-byte character at the end of both files (a write stopped by a full disk).
    for file in ["metrics.csv", "samples.txt"] {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(out.join(file))
            .unwrap();
        std::io::Write::write_all(&mut f, &"Ω".as_bytes()[..1]).unwrap();
    }
    let o = run(train(
        &tiny_config(),
        &out,
        &sets(40).iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .arg("--resume"));
    assert!(o.ok, "{}", o.stderr);
    let (after_metrics, after_samples) = history(&out);
    assert_eq!(after_metrics[..metrics.len()], metrics[..], "rows kept");
    assert_eq!(after_samples[..samples.len()], samples[..], "blocks kept");
    assert_eq!(after_samples.len(), 4);
}

#[test]
fn one_process_holds_a_run_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let mut first = long_run(&out, None);
    // `last` is written before `best`; sampling below reads `best`.
    wait_for("the first checkpoints", 120, || {
        out.join("checkpoints/last/state.json").exists()
            && out.join("checkpoints/best/state.json").exists()
    });
    let pid = first.id().to_string();
    // A second training (resume or force), and an import, are refused, naming the folder and
    // the holder; nothing of the first run is touched.
    for extra in [&["--resume"][..], &["--force"][..]] {
        let msg = assert_error(
            run(train(&tiny_config(), &out, &["train.steps=20"]).args(extra)),
            &["in use", "run", &pid, "burn-rnn train"],
        );
        assert!(msg.contains(&out.display().to_string()), "{msg}");
    }
    let weights = tmp.path().join("w.safetensors");
    state_dict(&weights, |_| {});
    assert_error(
        run(bin()
            .arg("import")
            .arg(tiny_config())
            .arg("--weights")
            .arg(&weights)
            .arg("--out")
            .arg(&out)
            .arg("--force")),
        &["in use", &pid],
    );
    // Readers are not locked out: sampling while training saves checkpoints always reads a
    // whole checkpoint.
    for _ in 0..20 {
        let o = run(bin().args(["sample", "--length", "5", "--run"]).arg(&out));
        assert!(o.ok, "sample during training: {}", o.stderr);
    }
    // A crash leaves no stale lock.
    signal(&first, libc::SIGKILL);
    first.wait().unwrap();
    let step = checkpoint_step(&out, "last");
    resume_continues(&out, step);
}

/// The writing end of a pipe whose reading end is already closed: every write fails with
/// `EPIPE`, however soon or late it comes.
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Stdio::from(writer)
}

#[test]
fn a_closed_or_full_output_never_panics_nor_loses_training() {
    use std::io::{BufRead, BufReader, Read};
    let tmp = tempfile::tempdir().unwrap();
    let sets = [
        "train.steps=30",
        "train.eval_interval=10",
        "train.log_interval=1",
        "train.eval_batches=1",
        "train.sample_length=10",
    ];
    // `train | head -3`: the reader goes away; training goes on and saves.
    let out = tmp.path().join("piped");
    let mut child = train(&tiny_config(), &out, &sets)
        .arg("--no-progress")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for _ in 0..3 {
        lines.next().unwrap().unwrap();
    }
    drop(lines);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?} {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(checkpoint_step(&out, "last"), 30);
    // Standard error on a full device: the same.
    let out = tmp.path().join("full");
    let full = std::fs::File::create("/dev/full").unwrap();
    let o = run(train(&tiny_config(), &out, &sets).stderr(full));
    assert!(o.ok && o.code == Some(0), "{:?}", o.code);
    assert_eq!(checkpoint_step(&out, "last"), 30);

    // `sample | head -c 100` ends promptly and quietly; `eval` into a closed pipe too.
    let started = Instant::now();
    let mut child = bin()
        .args(["sample", "--length", "100000000000000", "--run"])
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut head = [0u8; 100];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut head)
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "sample kept going"
    );
    assert_eq!(o.status.code(), Some(141), "128 + SIGPIPE");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        !stderr.contains("error") && !stderr.contains("panicked"),
        "quietly: {stderr}"
    );
    for args in [
        &["eval", "--run"][..],
        &["sample", "--length", "50", "--run"],
    ] {
        let o = bin()
            .args(args)
            .arg(&out)
            .stdout(closed_pipe())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(o.status.code(), Some(141), "{args:?}: {stderr}");
    }
    // Any other write error is reported.
    for args in [
        &["eval", "--run"][..],
        &["sample", "--length", "50", "--run"],
    ] {
        let full = std::fs::File::create("/dev/full").unwrap();
        assert_error(
            run(bin().args(args).arg(&out).stdout(full)),
            &["cannot write", "No space left"],
        );
    }
}

#[test]
fn size_keys_are_bounded_and_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    for (set, words) in [
        (
            &["data.batch_size=4611686018427387904", "data.seq_len=4"][..],
            &["data.batch_size", "4611686018427387904", "at most"][..],
        ),
        (
            &["data.batch_size=100000", "data.seq_len=100000"],
            &["data.batch_size", "100000 x 100000"],
        ),
        (
            &["model.hidden_size=10000000"],
            &["model.hidden_size", "at most"],
        ),
        (
            &["model.embedding_size=10000000"],
            &["model.embedding_size", "at most"],
        ),
        (
            &["model.num_layers=100000"],
            &["model.num_layers", "at most"],
        ),
        (
            &["train.sample_length=100000000000000"],
            &["train.sample_length", "at most"],
        ),
        // Within the bounds, but more than any machine here has: the memory estimate.
        (
            &["model.hidden_size=60000", "model.num_layers=8"],
            &["model.hidden_size", "GiB", "memory"],
        ),
    ] {
        assert_error(run(&mut train(&tiny_config(), &out, set)), words);
    }
    assert!(!out.exists(), "nothing is written for a bad size");
    let short = tmp.path().join("short.txt");
    std::fs::write(&short, "abcdefghij".repeat(3)).unwrap();
    assert_error(
        run(bin()
            .args(["bench", "--backend", "cpu", "--workload", "M", "--data"])
            .arg(&short)),
        &["--data", "short.txt", "workload M"],
    );
}

#[test]
fn every_float_key_rejects_nan_and_infinity() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    for key in [
        "model.dropout",
        "model.forget_bias",
        "data.validation_fraction",
        "optim.learning_rate",
        "optim.weight_decay",
        "optim.decay_rate",
        "optim.min_lr",
        "clip.max_norm",
        "clip.max_value",
        "train.sample_temperature",
    ] {
        for value in ["nan", "inf", "-inf"] {
            let set = format!("{key}={value}");
            assert_error(
                run(&mut train(&tiny_config(), &out, &[&set])),
                &[key, "finite"],
            );
        }
    }
    // `train.epochs` (instead of `train.steps`), in the file itself.
    let text = std::fs::read_to_string(tiny_config()).unwrap();
    assert!(text.contains("steps = 60"));
    let config = tmp.path().join("epochs.toml");
    std::fs::write(
        &config,
        text.replace("steps = 60", "epochs = nan").replace(
            "path = \"small.txt\"",
            &format!("path = {:?}", data_dir().join("small.txt")),
        ),
    )
    .unwrap();
    assert_error(
        run(&mut train(&config, &out, &[])),
        &["train.epochs", "finite", "NaN"],
    );
    assert!(!out.exists());
}

#[test]
fn import_refuses_weights_that_are_not_finite() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good.safetensors");
    state_dict(&good, |_| {});
    let bytes = std::fs::read(&good).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    for key in ["rnn.weight_hh_l0", "head.bias"] {
        for value in [f32::NAN, f32::INFINITY] {
            let owned: Vec<(String, Vec<usize>, Vec<u8>)> = file
                .tensors()
                .into_iter()
                .map(|(k, v)| {
                    let mut data = v.data().to_vec();
                    if k == key {
                        data[4..8].copy_from_slice(&value.to_le_bytes());
                    }
                    (k, v.shape().to_vec(), data)
                })
                .collect();
            let views: Vec<_> = owned
                .iter()
                .map(|(k, s, d)| {
                    (
                        k.clone(),
                        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), d)
                            .unwrap(),
                    )
                })
                .collect();
            let bad = tmp.path().join("bad.safetensors");
            std::fs::write(&bad, safetensors::serialize(views, None).unwrap()).unwrap();
            let out = tmp.path().join("run");
            assert_error(
                run(bin()
                    .arg("import")
                    .arg(tiny_config())
                    .arg("--weights")
                    .arg(&bad)
                    .arg("--out")
                    .arg(&out)),
                &[key, "finite", "index 1", "bad.safetensors"],
            );
            assert!(!out.exists(), "nothing is written for bad weights");
        }
    }
}

#[test]
fn the_import_hint_works_as_printed() {
    let tmp = tempfile::tempdir().unwrap();
    let weights = tmp.path().join("w.safetensors");
    state_dict(&weights, |_| {});
    let out = tmp.path().join("my run");
    let o = run(bin()
        .arg("import")
        .arg(tiny_config())
        .arg("--weights")
        .arg(&weights)
        .arg("--out")
        .arg(&out)
        .args(["--set", "train.steps=5", "--set", "train.sample_length=0"]));
    assert!(o.ok, "{}", o.stderr);
    let hint = o
        .stdout
        .split("fine-tune with `")
        .nth(1)
        .and_then(|s| s.split('`').next())
        .expect("a fine-tune command")
        .to_string();
    assert!(hint.starts_with("burn-rnn train "), "{hint}");
    // Run it through the shell as printed, with the binary under its own name.
    let dir = Path::new(env!("CARGO_BIN_EXE_burn-rnn")).parent().unwrap();
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let o = run(std::process::Command::new("sh")
        .args(["-c", &hint])
        .env("PATH", path)
        .env_remove("BURN_RNN_TEST_CHECKPOINT_PAUSE_MS"));
    assert!(o.ok, "`{hint}`: {}", o.stderr);
    assert_eq!(checkpoint_step(&out, "last"), 5);
}

#[test]
fn a_vocabulary_that_changed_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    trained(&out, 10);
    let path = out.join("vocab.json");
    let original = std::fs::read_to_string(&path).unwrap();
    let v: serde_json::Value = serde_json::from_str(&original).unwrap();
    let chars: Vec<String> = serde_json::from_value(v["chars"].clone()).unwrap();
    let edit = |chars: Vec<String>| {
        let mut v = v.clone();
        v["chars"] = serde_json::to_value(chars).unwrap();
        std::fs::write(&path, serde_json::to_string(&v).unwrap()).unwrap();
    };
    // Same size, two characters swapped.
    let mut swapped = chars.clone();
    swapped.swap(1, 2);
    edit(swapped);
    for args in [&["sample", "--run"][..], &["eval", "--run"]] {
        assert_error(
            run(bin().args(args).arg(&out)),
            &["vocab.json", "trained with", "fingerprint"],
        );
    }
    assert_error(
        run(train(&tiny_config(), &out, &["train.steps=20"]).arg("--resume")),
        &["vocab.json", "trained with"],
    );
    // A character listed twice.
    let mut doubled = chars.clone();
    doubled[1] = doubled[2].clone();
    edit(doubled);
    assert_error(
        run(bin().args(["sample", "--run"]).arg(&out)),
        &["vocab.json", "listed twice"],
    );
    std::fs::write(&path, original).unwrap();
    assert_loadable(&out, "last");
}

#[test]
fn eval_scores_every_character_and_names_what_it_cannot_read() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    trained(&out, 10);
    // 100 characters: 6 windows of the run's seq_len (16) and a tail of 3.
    let text: String = std::fs::read_to_string(data_dir().join("small.txt"))
        .unwrap()
        .chars()
        .take(100)
        .collect();
    let file = tmp.path().join("text.txt");
    std::fs::write(&file, &text).unwrap();
    let o = run(bin()
        .args(["eval", "--run"])
        .arg(&out)
        .arg("--data")
        .arg(&file));
    assert!(o.ok, "{}", o.stderr);
    assert!(
        o.stdout.contains("99 of 100 characters scored"),
        "{}",
        o.stdout
    );
    let empty = tmp.path().join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    assert_error(
        run(bin()
            .args(["eval", "--run"])
            .arg(&out)
            .arg("--data")
            .arg(&empty)),
        &["empty.txt", "0 characters"],
    );
    assert_error(
        run(bin().args(["eval", "--run"]).arg(&file)),
        &["text.txt", "not a run folder", "file"],
    );
    assert_error(
        run(bin().args(["eval", "--run"]).arg(tmp.path())),
        &["not a run folder", "config.toml"],
    );
}

#[test]
fn stop_after_is_checked_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    assert_error(
        run(train(&tiny_config(), &out, &[]).args(["--stop-after", "0"])),
        &["--stop-after", "at least 1", "0"],
    );
    let o =
        run(train(&tiny_config(), &out, &["train.eval_interval=20"]).args(["--stop-after", "5"]));
    assert!(o.ok, "{}", o.stderr);
    assert!(
        o.stdout.contains("no validation loss yet") && !o.stdout.contains("NaN"),
        "{}",
        o.stdout
    );
    assert_eq!(checkpoint_step(&out, "last"), 5);
}

#[test]
fn messages_name_the_corpus() {
    let tmp = tempfile::tempdir().unwrap();
    // More distinct characters than ids can hold.
    let wide: String = (0x4E00u32..0x4E00 + 70_000)
        .filter_map(char::from_u32)
        .collect();
    let corpus = tmp.path().join("wide.txt");
    std::fs::write(&corpus, wide).unwrap();
    let config = tmp.path().join("wide.toml");
    std::fs::write(
        &config,
        std::fs::read_to_string(tiny_config())
            .unwrap()
            .replace("path = \"small.txt\"", "path = \"wide.txt\""),
    )
    .unwrap();
    assert_error(
        run(&mut train(&config, &tmp.path().join("run"), &[])),
        &["wide.txt", "distinct characters", "65536"],
    );
}

#[test]
fn sigterm_while_the_corpus_is_opened_exits_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("fifo.txt");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: mkfifo(3) on a path in our own temporary folder.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let config = tmp.path().join("fifo.toml");
    std::fs::write(
        &config,
        std::fs::read_to_string(tiny_config())
            .unwrap()
            .replace("path = \"small.txt\"", "path = \"fifo.txt\""),
    )
    .unwrap();
    let child = train(&config, &tmp.path().join("run"), &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The signal must come after the handler is in place: wait until the handler's thread
    // (`ctrl-c`, started once the handler is installed) runs and a thread of the process is in
    // `openat` (257 on x86-64), blocked on the FIFO, read from `/proc/PID/task/*/`; where that
    // cannot be read, 1.5 s.
    let tasks = format!("/proc/{}/task", child.id());
    let syscall = format!("{tasks}/{}/syscall", child.id());
    if std::fs::read_to_string(&syscall).is_ok() && cfg!(target_arch = "x86_64") {
        let any_task = |what: &str, pred: &dyn Fn(&str) -> bool| {
            std::fs::read_dir(&tasks)
                .unwrap()
                .flatten()
                .any(|t| std::fs::read_to_string(t.path().join(what)).is_ok_and(|s| pred(&s)))
        };
        wait_for("the FIFO to be opened", 60, || {
            any_task("comm", &|s| s.trim() == "ctrl-c")
                && any_task("syscall", &|s| s.starts_with("257 "))
        });
    } else {
        std::thread::sleep(Duration::from_millis(1500));
    }
    signal(&child, libc::SIGTERM);
    let started = Instant::now();
    let o = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "blocked after SIGTERM"
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("before training began"), "{stderr}");
}

#[test]
fn eval_says_when_the_corpus_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("small.txt");
    std::fs::copy(data_dir().join("small.txt"), &corpus).unwrap();
    let config = tmp.path().join("tiny.toml");
    std::fs::copy(tiny_config(), &config).unwrap();
    let out = tmp.path().join("run");
    let o = run(&mut train(
        &config,
        &out,
        &["train.steps=10", "train.sample_length=0"],
    ));
    assert!(o.ok, "{}", o.stderr);
    let eval = || run(bin().args(["eval", "--run"]).arg(&out));
    let o = eval();
    assert!(o.ok && !o.stdout.contains("changed"), "{}", o.stdout);
    let mut text = std::fs::read_to_string(&corpus).unwrap();
    text.push_str("And a line added after training.\n");
    std::fs::write(&corpus, text).unwrap();
    let o = eval();
    assert!(o.ok, "{}", o.stderr);
    assert!(
        o.stdout
            .contains("small.txt changed since this checkpoint was trained"),
        "{}",
        o.stdout
    );
}

#[test]
fn a_divergence_before_any_checkpoint_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let msg = assert_error(
        run(train(
            &tiny_config(),
            &out,
            &[
                "optim.learning_rate=1000",
                "train.log_interval=1",
                "train.eval_interval=1000",
                "train.steps=2000",
            ],
        )
        .arg("--no-progress")),
        &["blew up", "no checkpoint had been saved yet"],
    );
    assert!(!msg.contains("checkpoint is kept"), "{msg}");
}

#[test]
fn a_checkpoint_with_non_finite_weights_is_refused() {
    use burn::backend::NdArray;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    trained(&out, 10);
    // The `last` checkpoint's weights with one NaN in the head, its checksum updated: a damaged
    // file that passes the CRC (written by something other than burn-rnn's training, which stops
    // before saving non-finite weights).
    let run_dir = burn_rnn::app::checkpoint::RunDir::new(&out);
    let loaded =
        burn_rnn::app::run::load_run::<NdArray>(&run_dir, "last", &Default::default()).unwrap();
    let mut model = loaded.model;
    model.head.weight = model.head.weight.map(|w| {
        let mut values = w.to_data().to_vec::<f32>().unwrap();
        values[3] = f32::NAN;
        burn::tensor::Tensor::from_data(
            burn::tensor::TensorData::new(values, w.dims()),
            &w.device(),
        )
    });
    let bytes = burn_rnn::app::checkpoint::record::module_bytes(&model);
    let dir = out.join("checkpoints/last");
    std::fs::write(dir.join("model.bin"), &bytes).unwrap();
    let state_path = dir.join("state.json");
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state_path).unwrap()).unwrap();
    state["files"]["model.bin"] = crc32fast::hash(&bytes).into();
    std::fs::write(&state_path, state.to_string()).unwrap();
    for command in ["sample", "eval"] {
        assert_error(
            run(bin()
                .args([command, "--checkpoint", "last", "--run"])
                .arg(&out)),
            &["model.bin", "head", "NaN", "finite"],
        );
    }
    assert_error(
        run(train(&tiny_config(), &out, &["train.steps=20"]).arg("--resume")),
        &["model.bin", "NaN", "finite"],
    );
}
