//! The `burn-rnn` binary end to end: train, sample, eval on a small corpus, and the errors a
//! user sees for bad configs and arguments (exit status and the key words of the message).

mod binary;

use std::path::Path;

use binary::{Outcome, assert_error, bin, run, tiny_config};

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
