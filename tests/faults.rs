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
    // Each checkpoint write pauses after its first file: the kill lands mid-write.
    let mut child = long_run(&out, Some(1500));
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
