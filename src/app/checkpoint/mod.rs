//! The run folder: effective config, vocabulary, metrics, samples, loss curve and the `last` and
//! `best` checkpoints. Every file is written atomically (a temporary file, then a rename), and a
//! checkpoint folder is swapped in whole, so a run killed at any moment leaves the previous
//! complete checkpoint loadable. Each checkpoint lists a CRC-32 of every file it holds, so a
//! damaged file is reported, never loaded.
//!
//! ```text
//! runs/<name>/
//!   config.toml   vocab.json   metrics.csv   samples.txt   loss.svg
//!   checkpoints/last/{state.json, model.bin, optim.bin, carry.safetensors}
//!   checkpoints/best/{state.json, model.bin}
//! ```
//!
//! - this file: the folder, atomic writes, checkpoints with checksums;
//! - [`record`]: Burn records (model, optimiser) to bytes and back, with a shape check;
//!   named tensors (the carried state) as safetensors;
//! - [`history`]: `metrics.csv` and `samples.txt`, appended as training goes, cut back to a
//!   checkpoint on resume.
//!
//! It knows no model, config or vocabulary: callers hand it bytes, text and Burn modules.

pub mod history;
pub mod record;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// An I/O or integrity problem in the run folder.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// Writing a checkpoint failed (disk full, no permission); the previous one is intact.
    #[error(
        "cannot write checkpoint `{name}` (the previous `{name}` checkpoint is kept): {source}"
    )]
    Write {
        /// `last` or `best`.
        name: String,
        /// What failed.
        source: Box<CheckpointError>,
    },
    /// Another process holds the run folder (a training or an import writing it).
    #[error(
        "run folder {} is in use by another burn-rnn process ({holder}); wait for it to finish or stop it",
        run.display()
    )]
    Locked {
        /// The run folder.
        run: PathBuf,
        /// Who holds it, as its lock file says (`pid N, burn-rnn train`).
        holder: String,
    },
    /// A checkpoint is missing, damaged or does not fit the run.
    #[error("checkpoint {path}: {message}")]
    Invalid {
        /// The checkpoint folder or file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, flushed to disk, then renamed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let tmp = tmp_path(path);
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        sync_dir(path.parent().unwrap_or(Path::new(".")));
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io(path))
}

/// Flushes a folder's entries (the renames) to disk; best effort, as not every platform can.
fn sync_dir(dir: &Path) {
    if let Ok(f) = std::fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Fault-injection hook for the kill tests: with `BURN_RNN_TEST_CHECKPOINT_PAUSE_MS` set, a
/// checkpoint write pauses that long after its first file, so a test can kill the process in the
/// middle of the write. Unset (always, outside tests), it does nothing.
fn pause_for_tests() {
    if let Some(ms) = std::env::var_os("BURN_RNN_TEST_CHECKPOINT_PAUSE_MS")
        .and_then(|v| v.to_str().and_then(|v| v.parse::<u64>().ok()))
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// Where the training loop stands, saved with every checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Optimiser steps done.
    pub step: usize,
    /// Total steps of the run.
    pub total_steps: usize,
    /// Best validation loss so far (nats/char).
    pub best_val_loss: Option<f64>,
    /// Validation loss at this checkpoint.
    pub val_loss: Option<f64>,
    /// Training seconds so far.
    pub elapsed_secs: f64,
    /// The seed of the run; batches, dropout and samples derive from `(seed, step)`.
    pub seed: u64,
    /// CRC-32 of every other file of the checkpoint.
    pub files: BTreeMap<String, u32>,
    /// The fingerprint of the vocabulary the weights were trained with
    /// ([`crate::data::Vocab::fingerprint`]); absent in older checkpoints.
    #[serde(default)]
    pub vocab: Option<u32>,
    /// The fingerprint of the corpus it was trained on ([`crate::data::Corpus::fingerprint`]);
    /// absent in older checkpoints.
    #[serde(default)]
    pub corpus: Option<u32>,
}

/// The exclusive hold of a process on a run folder, from [`RunDir::lock`] until it is dropped
/// (or the process ends, however it ends: the operating system releases the lock, so a crash
/// leaves no stale lock; the file `train.lock` stays, unlocked).
#[derive(Debug)]
pub struct RunLock {
    file: std::fs::File,
    /// The folder, when the lock created it (so that [`RunLock::release_unused`] can remove it).
    created: Option<PathBuf>,
}

impl RunLock {
    /// Releases the lock; when the lock created the folder and nothing else was written to it,
    /// removes the folder again (a training that failed its checks leaves no empty folder).
    pub fn release_unused(self) {
        let Self { file, created } = self;
        drop(file);
        if let Some(root) = created {
            let only_lock = std::fs::read_dir(&root).is_ok_and(|entries| {
                entries
                    .filter_map(Result::ok)
                    .all(|e| e.file_name() == LOCK_FILE)
            });
            if only_lock {
                let _ = std::fs::remove_file(root.join(LOCK_FILE));
                let _ = std::fs::remove_dir(&root);
            }
        }
    }
}

/// The lock file in a run folder.
const LOCK_FILE: &str = "train.lock";

/// The run folder.
#[derive(Clone, Debug)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// A run folder at `root` (not created yet).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Takes the folder for this process (creating it when missing): training and import hold
    /// it while they write. `what` names the holder in the message another process gets
    /// (`train`, `import`). Fails with [`CheckpointError::Locked`] when another process holds it.
    pub fn lock(&self, what: &str) -> Result<RunLock, CheckpointError> {
        use std::io::{Read, Seek};
        let created = (!self.root.exists()).then(|| self.root.clone());
        std::fs::create_dir_all(&self.root).map_err(io(&self.root))?;
        let path = self.root.join(LOCK_FILE);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io(&path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = match holder.trim() {
                    "" => "its process id not written yet".to_string(),
                    h => h.to_string(),
                };
                return Err(CheckpointError::Locked {
                    run: self.root.clone(),
                    holder,
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(&path)(e)),
        }
        let holder = format!("pid {}, burn-rnn {what}\n", std::process::id());
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(holder.as_bytes()))
            .map_err(io(&path))?;
        Ok(RunLock { file, created })
    }

    /// Creates the folder and its `checkpoints/`.
    pub fn create(&self) -> Result<(), CheckpointError> {
        let dir = self.root.join("checkpoints");
        std::fs::create_dir_all(&dir).map_err(io(&dir))
    }

    /// `config.toml`: the effective config.
    pub fn config_path(&self) -> PathBuf {
        self.root.join("config.toml")
    }
    /// `vocab.json`.
    pub fn vocab_path(&self) -> PathBuf {
        self.root.join("vocab.json")
    }
    /// `metrics.csv`.
    pub fn metrics_path(&self) -> PathBuf {
        self.root.join("metrics.csv")
    }
    /// `samples.txt`.
    pub fn samples_path(&self) -> PathBuf {
        self.root.join("samples.txt")
    }
    /// `loss.svg`.
    pub fn plot_path(&self) -> PathBuf {
        self.root.join("loss.svg")
    }
    /// `checkpoints/<name>`.
    pub fn checkpoint_dir(&self, name: &str) -> PathBuf {
        self.root.join("checkpoints").join(name)
    }

    /// Whether the folder already holds a run (a `last` checkpoint or a config).
    pub fn holds_run(&self) -> bool {
        self.has_checkpoint("last") || self.config_path().exists()
    }

    /// Whether the run folder holds checkpoint `name` (`last` or `best`), counting the previous
    /// copy that a crash between the two renames of a save leaves (which loading falls back to).
    pub fn has_checkpoint(&self, name: &str) -> bool {
        self.checkpoint_dir(name).join("state.json").is_file()
            || self.old_dir(name).join("state.json").is_file()
    }

    /// `checkpoints/<name>.old`, where a save moves the previous checkpoint before swapping.
    fn old_dir(&self, name: &str) -> PathBuf {
        self.root.join("checkpoints").join(format!("{name}.old"))
    }

    /// Removes a previous run's checkpoints, metrics and samples (`--force`).
    pub fn clear(&self) -> Result<(), CheckpointError> {
        let p = self.root.join("checkpoints");
        if p.exists() {
            std::fs::remove_dir_all(&p).map_err(io(&p))?;
        }
        for f in [self.metrics_path(), self.samples_path()] {
            match std::fs::remove_file(&f) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&f)(e)),
                _ => {}
            }
        }
        Ok(())
    }

    /// Writes the run's effective config (TOML) and vocabulary (JSON); for a fresh run also an
    /// empty metrics table and samples file.
    pub fn write_run_files(
        &self,
        config_toml: &str,
        vocab_json: &str,
        fresh: bool,
    ) -> Result<(), CheckpointError> {
        if fresh {
            history::start(self)?;
        }
        write_atomic(&self.config_path(), config_toml.as_bytes())?;
        write_atomic(&self.vocab_path(), vocab_json.as_bytes())
    }

    /// Writes checkpoint `name` (`last` or `best`) with `files`, atomically as a whole: the files
    /// go to `<name>.tmp/`, which then replaces `<name>/`.
    pub fn save_checkpoint(
        &self,
        name: &str,
        state: &TrainState,
        files: &[(&str, &[u8])],
    ) -> Result<(), CheckpointError> {
        self.write_checkpoint(name, state, files)
            .map_err(|source| CheckpointError::Write {
                name: name.to_string(),
                source: Box::new(source),
            })
    }

    fn write_checkpoint(
        &self,
        name: &str,
        state: &TrainState,
        files: &[(&str, &[u8])],
    ) -> Result<(), CheckpointError> {
        let dir = self.checkpoint_dir(name);
        let tmp = tmp_path(&dir);
        let old = self.old_dir(name);
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
        }
        std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
        let mut state = state.clone();
        state.files.clear();
        for (i, (file, bytes)) in files.iter().enumerate() {
            write_atomic(&tmp.join(file), bytes)?;
            state.files.insert(file.to_string(), crc32fast::hash(bytes));
            if i == 0 {
                pause_for_tests();
            }
        }
        let json = serde_json::to_vec_pretty(&state).expect("state serialises");
        write_atomic(&tmp.join("state.json"), &json)?;
        // Swap: <name> -> <name>.old, <name>.tmp -> <name>, drop <name>.old. At every moment a
        // complete checkpoint is at <name> or, between the two renames, at <name>.old (which
        // load_checkpoint falls back to). An <name>.old left by an earlier crash is only dropped
        // once <name> exists to replace it.
        if dir.exists() {
            if old.exists() {
                std::fs::remove_dir_all(&old).map_err(io(&old))?;
            }
            std::fs::rename(&dir, &old).map_err(io(&dir))?;
        }
        std::fs::rename(&tmp, &dir).map_err(io(&dir))?;
        sync_dir(dir.parent().unwrap_or(Path::new(".")));
        // The new checkpoint is in place: dropping the old one is best effort (a leftover is
        // removed by the next save).
        let _ = std::fs::remove_dir_all(&old);
        Ok(())
    }

    /// Reads checkpoint `name` and checks every file against its CRC-32.
    ///
    /// A training may replace the checkpoint while it is read (a save swaps whole folders, so a
    /// read can mix two saves' files): a read that finds a checksum mismatch, a damaged state file
    /// or a missing file is retried for about two seconds before the error is reported.
    pub fn load_checkpoint(
        &self,
        name: &str,
    ) -> Result<(TrainState, BTreeMap<String, Vec<u8>>), CheckpointError> {
        let mut tries = 0;
        loop {
            match self.read_checkpoint(name) {
                Err(CheckpointError::Invalid { .. } | CheckpointError::Io { .. }) if tries < 40 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                result => return result,
            }
        }
    }

    /// One attempt of [`RunDir::load_checkpoint`].
    fn read_checkpoint(
        &self,
        name: &str,
    ) -> Result<(TrainState, BTreeMap<String, Vec<u8>>), CheckpointError> {
        let mut dir = self.checkpoint_dir(name);
        if !dir.join("state.json").exists() && self.old_dir(name).join("state.json").exists() {
            dir = self.old_dir(name);
        }
        let state_path = dir.join("state.json");
        let bytes = std::fs::read(&state_path).map_err(io(&state_path))?;
        let state: TrainState =
            serde_json::from_slice(&bytes).map_err(|e| CheckpointError::Invalid {
                path: state_path.clone(),
                message: format!("damaged state file: {e}"),
            })?;
        let mut files = BTreeMap::new();
        for (file, crc) in &state.files {
            let path = dir.join(file);
            let bytes = std::fs::read(&path).map_err(io(&path))?;
            if crc32fast::hash(&bytes) != *crc {
                return Err(CheckpointError::Invalid {
                    path,
                    message: "checksum mismatch: the file is truncated or corrupted".into(),
                });
            }
            files.insert(file.clone(), bytes);
        }
        Ok((state, files))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(step: usize) -> TrainState {
        TrainState {
            step,
            total_steps: 10,
            best_val_loss: None,
            val_loss: None,
            elapsed_secs: 0.0,
            seed: 1,
            files: BTreeMap::new(),
            vocab: None,
            corpus: None,
        }
    }

    #[test]
    fn save_load_replace_and_detect_corruption() {
        let tmp = tempfile::tempdir().unwrap();
        let run = RunDir::new(tmp.path().join("run"));
        run.create().unwrap();
        run.save_checkpoint("last", &state(1), &[("model.bin", b"one")])
            .unwrap();
        run.save_checkpoint("last", &state(2), &[("model.bin", b"two")])
            .unwrap();
        let (s, files) = run.load_checkpoint("last").unwrap();
        assert_eq!(s.step, 2);
        assert_eq!(files["model.bin"], b"two");
        std::fs::write(run.checkpoint_dir("last").join("model.bin"), b"tw").unwrap();
        let err = run.load_checkpoint("last").unwrap_err().to_string();
        assert!(
            err.contains("model.bin") && err.contains("checksum"),
            "{err}"
        );
    }

    #[test]
    fn a_crash_mid_swap_falls_back_to_the_old_checkpoint() {
        let tmp = tempfile::tempdir().unwrap();
        let run = RunDir::new(tmp.path());
        run.create().unwrap();
        run.save_checkpoint("last", &state(3), &[("model.bin", b"x")])
            .unwrap();
        let dir = run.checkpoint_dir("last");
        std::fs::rename(&dir, dir.with_file_name("last.old")).unwrap();
        assert_eq!(run.load_checkpoint("last").unwrap().0.step, 3);
        // The next save replaces it, and only then drops last.old.
        run.save_checkpoint("last", &state(4), &[("model.bin", b"y")])
            .unwrap();
        assert_eq!(run.load_checkpoint("last").unwrap().0.step, 4);
        assert!(!dir.with_file_name("last.old").exists());
    }
}
