//! The `burn-rnn` binary end to end: train, sample, eval on a small corpus, and the errors a
//! user sees for bad configs and arguments (exit status and the key words of the message).

mod binary;

use std::path::Path;

use binary::{Outcome, assert_error, bin, run, tiny_config, trained};

#[test]
fn train_sample_eval_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let Outcome {
        ok, stdout, stderr, ..
    } = run(bin()
        .arg("train")
        .arg(tiny_config())
        .args(["--set", "train.steps=30", "--out"])
        .arg(&out));
    assert!(ok, "{stderr}");
    assert!(stderr.contains("backend: ndarray"), "{stderr}");
    assert!(
        stdout.contains("step 30/30") && stdout.contains("done: 30 steps"),
        "{stdout}"
    );
    let config = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(
        config.contains("steps = 30"),
        "the effective config is saved: {config}"
    );

    let Outcome {
        ok, stdout, stderr, ..
    } = run(bin().args(["sample", "--run"]).arg(&out).args([
        "--prime", "First", "--length", "50", "--seed", "3", "--top-k", "10",
    ]));
    assert!(ok, "{stderr}");
    assert!(stdout.starts_with("First"), "{stdout}");
    assert_eq!(
        stdout.trim_end_matches('\n').chars().count(),
        55,
        "{stdout:?}"
    );
    let Outcome {
        ok: _,
        stdout: again,
        stderr: _,
        ..
    } = run(bin().args(["sample", "--run"]).arg(&out).args([
        "--prime", "First", "--length", "50", "--seed", "3", "--top-k", "10",
    ]));
    assert_eq!(stdout, again, "seeded sampling repeats");

    let Outcome {
        ok, stdout, stderr, ..
    } = run(bin().args(["eval", "--run"]).arg(&out));
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("nats/char") && stdout.contains("bits/char"),
        "{stdout}"
    );
    let other = tmp.path().join("other.txt");
    std::fs::write(
        &other,
        "First Citizen:\nBefore we proceed any further, hear me speak.\n",
    )
    .unwrap();
    let Outcome {
        ok, stdout, stderr, ..
    } = run(bin()
        .args(["eval", "--run"])
        .arg(&out)
        .arg("--data")
        .arg(&other));
    assert!(ok, "{stderr}");
    assert!(stdout.contains("other.txt"), "{stdout}");

    // A second train into the same folder is refused without --resume/--force...
    assert_error(
        run(bin().arg("train").arg(tiny_config()).arg("--out").arg(&out)),
        &["already holds a run", "--resume", "--force"],
    );
    // ...and --resume continues to the new total.
    let Outcome {
        ok, stdout, stderr, ..
    } = run(bin()
        .arg("train")
        .arg(tiny_config())
        .args(["--set", "train.steps=40", "--resume", "--out"])
        .arg(&out));
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("step 40/40") && !stdout.contains("step 10/40"),
        "{stdout}"
    );

    // Resuming with a different model is refused, naming the key.
    assert_error(
        run(bin()
            .arg("train")
            .arg(tiny_config())
            .args([
                "--set",
                "train.steps=50",
                "--set",
                "model.hidden_size=32",
                "--resume",
                "--out",
            ])
            .arg(&out)),
        &["model.hidden_size", "32", "48", "--force"],
    );

    // Sampling errors name the option or the characters.
    assert_error(
        run(bin()
            .args(["sample", "--run"])
            .arg(&out)
            .args(["--prime", "Zebra€"])),
        &["prime", "'€'"],
    );
    assert_error(
        run(bin()
            .args(["sample", "--run"])
            .arg(&out)
            .args(["--temperature", "0"])),
        &["--temperature"],
    );
}

#[test]
fn config_errors_name_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let text = std::fs::read_to_string(tiny_config()).unwrap();
    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, text.replace("hidden_size", "hiden_size")).unwrap();
    assert_error(
        run(bin().arg("train").arg(&bad).arg("--out").arg(&out)),
        &["bad.toml", "hiden_size", "line"],
    );
    assert_error(
        run(bin()
            .arg("train")
            .arg(tiny_config())
            .args(["--set", "model.hidden_size=0", "--out"])
            .arg(&out)),
        &["model.hidden_size", "at least 1"],
    );
    assert_error(
        run(bin()
            .arg("train")
            .arg(tiny_config())
            .args(["--set", "optim.learning_rate=-0.1", "--out"])
            .arg(&out)),
        &["optim.learning_rate", "positive"],
    );
    assert_error(
        run(bin().args(["train", "/nonexistent/config.toml"])),
        &["/nonexistent/config.toml"],
    );
    assert!(!out.exists(), "nothing is written for a bad config");
}

/// `bench` runs as a smoke test (no timing is asserted) and prints the reference's line form.
#[test]
fn bench_smoke() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/small.txt");
    let Outcome {
        ok, stdout, stderr, ..
    } = run(bin()
        .args([
            "bench",
            "--workload",
            "S",
            "--seconds",
            "0",
            "--min-steps",
            "2",
            "--backend",
            "cpu",
            "--data",
        ])
        .arg(&data));
    assert!(ok, "{stderr}");
    assert!(stdout.starts_with("RESULT burn-S train steps="), "{stdout}");
    assert!(
        stdout.contains("tok_per_s_median=") && stdout.contains("peak_mem_mib="),
        "{stdout}"
    );
    assert_error(
        run(bin()
            .args(["bench", "--workload", "X"])
            .arg("--data")
            .arg(&data)),
        &["--workload X", "S, M, L, G"],
    );
}

/// `--devices` trains data-parallel (two replicas of the CPU device here) and is checked.
#[test]
fn devices_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let Outcome {
        ok, stdout, stderr, ..
    } = run(bin()
        .arg("train")
        .arg(tiny_config())
        .args(["--set", "train.steps=10", "--devices", "0,1", "--out"])
        .arg(&out));
    assert!(ok, "{stderr}");
    assert!(stderr.contains("data-parallel over 2 replicas"), "{stderr}");
    assert!(stdout.contains("done: 10 steps"), "{stdout}");
    let config = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(
        config.contains("devices = [\n    0,\n    1,\n]"),
        "{config}"
    );
    assert_error(
        run(bin()
            .arg("train")
            .arg(tiny_config())
            .args(["--devices", "0,1,2,3,4,5,6,7,8", "--out"])
            .arg(tmp.path().join("other"))),
        &[
            "--devices",
            "backend.devices",
            "9 devices",
            "batch_size = 8",
        ],
    );
    assert_error(
        run(bin()
            .arg("train")
            .arg(tiny_config())
            .args(["--backend", "cuda", "--out"])
            .arg(tmp.path().join("other"))),
        &["cuda", "--features cuda"],
    );
}

/// The numbers of a command's output (what `eval` reports), without the paths it names.
fn numbers(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_ascii_digit()))
        .filter(|w| w.parse::<f64>().is_ok())
        .map(str::to_string)
        .collect()
}

/// `export` writes the run's model as a PyTorch `state_dict` (f32, import's keys, the vocabulary
/// and sizes in the metadata), and `import` of that file gives a run that evaluates and samples
/// exactly as the original; the errors a user can meet name the file or folder.
#[test]
fn export_then_import_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let original = tmp.path().join("original");
    trained(&original, 20);
    let file = tmp.path().join("model.safetensors");
    let export = |run_dir: &Path, out: &Path| {
        run(bin()
            .args(["export", "--run"])
            .arg(run_dir)
            .arg("--out")
            .arg(out))
    };
    let o = export(&original, &file);
    assert!(o.ok, "{}", o.stderr);
    assert!(
        o.stdout.contains("exported the `best` checkpoint")
            && o.stdout.contains("model.safetensors")
            && o.stdout.contains("7 tensors"),
        "{}",
        o.stdout
    );

    // The file: import's keys, f32, PyTorch's shapes, the metadata a Python user rebuilds from.
    let bytes = std::fs::read(&file).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let vocab: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(original.join("vocab.json")).unwrap())
            .unwrap();
    let chars: Vec<String> = vocab["chars"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let v = chars.len();
    for (key, shape) in [
        ("emb.weight", vec![v, 16]),
        ("rnn.weight_ih_l0", vec![192, 16]),
        ("rnn.weight_hh_l0", vec![192, 48]),
        ("rnn.bias_ih_l0", vec![192]),
        ("rnn.bias_hh_l0", vec![192]),
        ("head.weight", vec![v, 48]),
        ("head.bias", vec![v]),
    ] {
        let t = st.tensor(key).unwrap();
        assert_eq!(t.shape(), shape.as_slice(), "{key}");
        assert_eq!(t.dtype(), safetensors::Dtype::F32, "{key}");
    }
    assert_eq!(st.len(), 7);
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let meta = header.metadata().clone().unwrap();
    for (key, value) in [
        ("cell", "lstm"),
        ("num_layers", "1"),
        ("hidden_size", "48"),
        ("embedding_size", "16"),
        ("checkpoint", "best"),
        ("step", "20"),
    ] {
        assert_eq!(meta.get(key).map(String::as_str), Some(value), "{key}");
    }
    let exported: Vec<String> = serde_json::from_str(&meta["vocab"]).unwrap();
    assert_eq!(exported, chars);
    assert_eq!(meta["vocab_size"], v.to_string());

    // import it with the run's own config: eval and seeded sample equal the original's.
    let imported = tmp.path().join("imported");
    let o = run(bin()
        .arg("import")
        .arg(original.join("config.toml"))
        .arg("--weights")
        .arg(&file)
        .arg("--out")
        .arg(&imported));
    assert!(o.ok, "{}", o.stderr);
    let eval = |r: &Path| {
        let o = run(bin().args(["eval", "--run"]).arg(r));
        assert!(o.ok, "{}", o.stderr);
        numbers(&o.stdout)
    };
    // nats, bits, characters scored of all (the checkpoint's step differs: the import is step 0).
    let (a, b) = (eval(&original), eval(&imported));
    assert!(a.len() >= 4, "{a:?}");
    assert_eq!(a[..4], b[..4], "eval of the imported run");
    let sample = |r: &Path| {
        let o = run(bin()
            .args(["sample", "--run"])
            .arg(r)
            .args(["--length", "200", "--seed", "11", "--prime", "Th"]));
        assert!(o.ok, "{}", o.stderr);
        o.stdout
    };
    assert_eq!(sample(&original), sample(&imported), "seeded sample");

    // The last checkpoint, on request.
    let last = tmp.path().join("last.safetensors");
    let o = run(bin()
        .args(["export", "--checkpoint", "last", "--run"])
        .arg(&original)
        .arg("--out")
        .arg(&last));
    assert!(
        o.ok && o.stdout.contains("`last` checkpoint"),
        "{}",
        o.stderr
    );

    // A file whose metadata names another vocabulary (reordered) is refused by import.
    let mut reordered = chars.clone();
    reordered.swap(1, 2);
    let views: Vec<(String, safetensors::tensor::TensorView)> = st.tensors().into_iter().collect();
    let mut meta2 = meta.clone();
    meta2.insert("vocab".into(), serde_json::to_string(&reordered).unwrap());
    let other = tmp.path().join("other.safetensors");
    std::fs::write(&other, safetensors::serialize(views, Some(meta2)).unwrap()).unwrap();
    assert_error(
        run(bin()
            .arg("import")
            .arg(original.join("config.toml"))
            .arg("--weights")
            .arg(&other)
            .arg("--out")
            .arg(tmp.path().join("refused"))),
        &["other.safetensors", "vocabulary", "id 1"],
    );
    assert!(!tmp.path().join("refused").exists());

    // Errors: no run, no checkpoint, an output that cannot be written.
    assert_error(
        export(
            &tmp.path().join("absent"),
            &tmp.path().join("x.safetensors"),
        ),
        &["absent", "does not exist"],
    );
    let empty = tmp.path().join("no-checkpoint");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::copy(original.join("config.toml"), empty.join("config.toml")).unwrap();
    std::fs::copy(original.join("vocab.json"), empty.join("vocab.json")).unwrap();
    assert_error(
        export(&empty, &tmp.path().join("x.safetensors")),
        &["no-checkpoint", "no `best` checkpoint"],
    );
    assert_error(
        export(
            &original,
            &tmp.path().join("missing-folder/model.safetensors"),
        ),
        &[
            "cannot write",
            "missing-folder/model.safetensors",
            "nothing was exported",
        ],
    );
    assert!(!tmp.path().join("x.safetensors").exists());
}

/// The rows of a run's metrics.csv without the timing columns (tokens/s, elapsed).
fn losses(run: &Path) -> Vec<String> {
    std::fs::read_to_string(run.join("metrics.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').take(5).collect::<Vec<_>>().join(","))
        .collect()
}

/// The recorded `train.steps` of a run's effective config.
fn recorded_steps(run: &Path) -> usize {
    let text = std::fs::read_to_string(run.join("config.toml")).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("steps = "))
        .unwrap_or_else(|| panic!("no steps in {text}"));
    line["steps = ".len()..].trim().parse().unwrap()
}

/// `--time-budget`: the run stops on time, records the step count its calibration fixed beside
/// the budget, and an interrupted budget run resumes to the losses of an uninterrupted run of
/// that many steps.
#[test]
fn time_budget_stops_on_time_and_resumes_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let sets = ["train.sample_length=0", "train.eval_interval=50"];
    let budget = |out: &Path, extra: &[&str]| {
        let mut c = binary::train(&tiny_config(), out, &sets);
        c.args(["--time-budget", "3s", "--no-progress"]).args(extra);
        c
    };
    let timed = tmp.path().join("timed");
    let started = std::time::Instant::now();
    let o = run(&mut budget(&timed, &[]));
    let wall = started.elapsed().as_secs_f64();
    assert!(o.ok, "{}", o.stderr);
    // On time: the budget, give or take start-up and a loaded machine (the calibration fixes the
    // step count in its first second; other tests' processes can slow the rest).
    assert!((1.5..15.0).contains(&wall), "3 s budget took {wall:.2} s");
    let n = recorded_steps(&timed);
    let config = std::fs::read_to_string(timed.join("config.toml")).unwrap();
    assert!(config.contains("time_budget = \"3s\""), "{config}");
    assert!(
        o.stdout.contains(&format!("time budget 3s: {n} steps fit"))
            && o.stdout.contains(&format!("done: {n} steps")),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains("| budget 3s |"),
        "progress names the budget: {}",
        o.stdout
    );

    // Interrupted after step 10, resumed (no new calibration), against the same step count given
    // as train.steps.
    let resumed = tmp.path().join("resumed");
    let o = run(&mut budget(&resumed, &["--stop-after", "10"]));
    assert!(o.ok, "{}", o.stderr);
    let n = recorded_steps(&resumed);
    assert!(n > 10, "{n}");
    let o = run(&mut budget(&resumed, &["--resume"]));
    assert!(o.ok, "{}", o.stderr);
    assert!(
        o.stdout
            .contains(&format!("resuming from the checkpoint at step 10 of {n}"))
            && !o.stdout.contains("steps fit"),
        "{}",
        o.stdout
    );
    let plain = tmp.path().join("plain");
    let steps = format!("train.steps={n}");
    let o = run(
        binary::train(&tiny_config(), &plain, &[sets[0], sets[1], &steps]).arg("--no-progress"),
    );
    assert!(o.ok, "{}", o.stderr);
    let (a, b) = (losses(&resumed), losses(&plain));
    assert!(a.len() > 2, "{a:?}");
    assert_eq!(
        a, b,
        "the resumed budget run and the plain run of {n} steps"
    );

    assert_error(
        run(binary::train(&tiny_config(), &tmp.path().join("bad"), &[])
            .args(["--time-budget", "ten"])),
        &["--time-budget", "\"10m\""],
    );
}
