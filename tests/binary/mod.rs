//! Helpers for the tests that run the real `burn-rnn` binary (`tests/cli.rs`, `tests/faults.rs`):
//! running a command and reading its outcome, asserting a clean failure, the tiny config and a
//! tiny trained run, and running a command as an unprivileged user when the tests run as root.
#![allow(dead_code)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary, without the test-only checkpoint pause.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_burn-rnn"));
    c.env_remove("BURN_RNN_TEST_CHECKPOINT_PAUSE_MS");
    c
}

/// `tests/data`.
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// `tests/data/tiny.toml`: an LSTM that trains in seconds.
pub fn tiny_config() -> PathBuf {
    data_dir().join("tiny.toml")
}

/// What a command did.
pub struct Outcome {
    pub ok: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `cmd` to the end.
pub fn run(cmd: &mut Command) -> Outcome {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("run burn-rnn");
    Outcome {
        ok: status.success(),
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// A clean failure: non-zero exit, one `error:` message holding every word of `words`, no panic,
/// no backtrace, no Rust debug dump. Returns the message.
pub fn assert_error(o: Outcome, words: &[&str]) -> String {
    assert!(
        !o.ok,
        "expected failure, got success:\n{}\n{}",
        o.stdout, o.stderr
    );
    let e = &o.stderr;
    assert_eq!(e.matches("error:").count(), 1, "one error message: {e}");
    for bad in ["panicked", "RUST_BACKTRACE", "Os {", "kind:", "Error {"] {
        assert!(!e.contains(bad), "{bad:?} in: {e}");
    }
    for w in words {
        assert!(e.contains(w), "missing {w:?} in: {e}");
    }
    o.stderr
}

/// `burn-rnn train CONFIG --out OUT --set S...`.
pub fn train(config: &Path, out: &Path, sets: &[&str]) -> Command {
    let mut c = bin();
    c.arg("train").arg(config).arg("--out").arg(out);
    for s in sets {
        c.args(["--set", s]);
    }
    c
}

/// A finished tiny run of `steps` steps (checkpoints every 10).
pub fn trained(out: &Path, steps: usize) {
    let o = run(&mut train(
        &tiny_config(),
        out,
        &[
            &format!("train.steps={steps}"),
            "train.eval_interval=10",
            "train.sample_length=0",
        ],
    ));
    assert!(o.ok, "{}", o.stderr);
}

/// The step of checkpoint `which` of the run in `out`.
pub fn checkpoint_step(out: &Path, which: &str) -> usize {
    // A kill between the two renames of a checkpoint swap leaves it at `<which>.old`, which is
    // where loading falls back to.
    let dir = out.join("checkpoints");
    let mut path = dir.join(which).join("state.json");
    if !path.exists() {
        path = dir.join(format!("{which}.old")).join("state.json");
    }
    let text = std::fs::read_to_string(path).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["step"].as_u64().unwrap() as usize
}

/// `sample` from the run's `which` checkpoint works.
pub fn assert_loadable(out: &Path, which: &str) {
    let o = run(bin()
        .args(["sample", "--length", "20", "--checkpoint", which, "--run"])
        .arg(out));
    assert!(o.ok, "checkpoint {which} should load: {}", o.stderr);
}

/// The user and group `nobody` (65534), which the no-permission cases run as when the tests run
/// as root (root reads and writes everything, so they would test nothing).
const NOBODY: u32 = 65534;

/// Makes file-permission faults real for `cmd`: when the tests run as root, the command runs as
/// `nobody`, and `dir` (the test's temporary folder, where the command reads and writes) is opened
/// to every user.
pub fn unprivileged(cmd: &mut Command, dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return;
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    cmd.uid(NOBODY).gid(NOBODY);
}
