//! The run's history: `metrics.csv` (one row per logged step) and `samples.txt` (one block per
//! evaluation), appended as training goes. On resume both are cut back to the checkpoint's step,
//! keeping every complete row and block up to it byte for byte; a file that cannot be read is an
//! error, never an empty history.

use std::io::Write;
use std::path::Path;

use super::{CheckpointError, RunDir, io, write_atomic};

/// The header of `metrics.csv`.
pub const METRICS_HEADER: &str =
    "step,train_loss,val_loss,val_bpc,learning_rate,tokens_per_sec,elapsed_secs";

/// The line that opens the samples block of `step` in `samples.txt`.
pub fn sample_heading(step: usize, val_loss: f64) -> String {
    format!("=== step {step}, validation loss {val_loss:.4} ===\n")
}

/// A loss series, `(step, loss)`.
pub type Series = Vec<(usize, f64)>;

/// Starts a fresh history: the metrics header and an empty samples file.
pub(super) fn start(run: &RunDir) -> Result<(), CheckpointError> {
    write_atomic(
        &run.metrics_path(),
        format!("{METRICS_HEADER}\n").as_bytes(),
    )?;
    write_atomic(&run.samples_path(), b"")
}

/// Appends `text` to the file at `path`.
pub fn append(path: &Path, text: &str) -> Result<(), CheckpointError> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io(path))?;
    file.write_all(text.as_bytes()).map_err(io(path))
}

/// Cuts `metrics.csv` and `samples.txt` back to `step`: what a killed run logged after its last
/// checkpoint goes, everything up to it stays.
pub fn truncate(run: &RunDir, step: usize) -> Result<(), CheckpointError> {
    for (path, keep) in [
        (
            run.metrics_path(),
            metrics_up_to as fn(&[u8], usize) -> Vec<u8>,
        ),
        (run.samples_path(), samples_up_to),
    ] {
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(&path)(e)),
        };
        let kept = keep(&bytes, step);
        if kept != bytes {
            write_atomic(&path, &kept)?;
        }
    }
    Ok(())
}

/// The step a metrics row or a samples heading starts with.
fn leading_step(line: &[u8]) -> Option<usize> {
    let digits = line.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&line[..digits]).ok()?.parse().ok()
}

/// The header and every complete row (ending in a newline) of a metrics table whose step is at
/// most `step`; a row cut short by a crash goes.
pub fn metrics_up_to(text: &[u8], step: usize) -> Vec<u8> {
    let mut kept = format!("{METRICS_HEADER}\n").into_bytes();
    for line in text.split_inclusive(|&b| b == b'\n') {
        if line.last() != Some(&b'\n') || line.starts_with(b"step,") {
            continue;
        }
        if leading_step(line).is_some_and(|s| s <= step) {
            kept.extend_from_slice(line);
        }
    }
    kept
}

/// The sample blocks (each from its `=== step N` heading to the next) of steps up to `step`; a
/// last line cut short by a crash (no newline) goes.
pub fn samples_up_to(text: &[u8], step: usize) -> Vec<u8> {
    const HEADING: &[u8] = b"=== step ";
    let complete = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let text = &text[..complete];
    let mut starts: Vec<usize> = (0..text.len())
        .filter(|&i| text[i..].starts_with(HEADING) && (i == 0 || text[i - 1] == b'\n'))
        .collect();
    starts.push(text.len());
    let mut kept = Vec::with_capacity(text.len());
    for pair in starts.windows(2) {
        let block = &text[pair[0]..pair[1]];
        if leading_step(&block[HEADING.len()..]).is_some_and(|s| s <= step) {
            kept.extend_from_slice(block);
        }
    }
    kept
}

/// The `(step, train_loss)` and `(step, val_loss)` series of `metrics.csv` (rows that do not
/// parse are skipped; a missing file gives empty series).
pub fn read_metrics(run: &RunDir) -> (Series, Series) {
    let bytes = std::fs::read(run.metrics_path()).unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let (mut train, mut valid) = (Vec::new(), Vec::new());
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        let Some(step) = cols.first().and_then(|s| s.parse::<usize>().ok()) else {
            continue;
        };
        if let Some(v) = cols.get(1).and_then(|s| s.parse::<f64>().ok()) {
            train.push((step, v));
        }
        if let Some(v) = cols.get(2).and_then(|s| s.parse::<f64>().ok()) {
            valid.push((step, v));
        }
    }
    (train, valid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_keep_complete_rows_up_to_the_step() {
        let text = format!("{METRICS_HEADER}\n10,2.0,,,1e-3,5,1\n20,1.5,1.6,2.3,1e-3,5,2\n30,1.4");
        let kept = String::from_utf8(metrics_up_to(text.as_bytes(), 20)).unwrap();
        assert_eq!(
            kept,
            format!("{METRICS_HEADER}\n10,2.0,,,1e-3,5,1\n20,1.5,1.6,2.3,1e-3,5,2\n")
        );
        // Rows after the step go; a cut row and a stray invalid byte go; nothing before is lost.
        let mut bytes = text.clone().into_bytes();
        bytes.extend_from_slice(b"\n40,1.3\xff\n");
        let kept = String::from_utf8(metrics_up_to(&bytes, 30)).unwrap();
        assert!(
            kept.ends_with("20,1.5,1.6,2.3,1e-3,5,2\n30,1.4\n"),
            "{kept}"
        );
    }

    #[test]
    fn samples_keep_blocks_up_to_the_step_even_with_invalid_bytes() {
        let mut text = Vec::new();
        for step in [20, 40, 60] {
            text.extend_from_slice(sample_heading(step, 1.0).as_bytes());
            text.extend_from_slice("Ωmega line\n=== not a heading\n\n".as_bytes());
        }
        // A block cut in the middle of a multi-byte character.
        text.extend_from_slice(sample_heading(80, 1.0).as_bytes());
        text.extend_from_slice(&"Ω".as_bytes()[..1]);
        let kept = samples_up_to(&text, 40);
        let kept = String::from_utf8(kept).unwrap();
        assert_eq!(kept.matches("=== step").count(), 2, "{kept}");
        assert!(kept.starts_with("=== step 20") && kept.contains("=== step 40"));
        // Everything but the cut last line (the one byte of `Ω`).
        assert_eq!(samples_up_to(&text, 100).len(), text.len() - 1);
    }

    #[test]
    fn truncate_rewrites_only_what_changes_and_reports_read_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let run = RunDir::new(tmp.path());
        run.create().unwrap();
        start(&run).unwrap();
        append(&run.metrics_path(), "5,3.0,,,1,1,1\n10,2.0,,,1,1,1\n").unwrap();
        append(&run.samples_path(), &sample_heading(10, 2.0)).unwrap();
        truncate(&run, 5).unwrap();
        let m = std::fs::read_to_string(run.metrics_path()).unwrap();
        assert!(m.ends_with("5,3.0,,,1,1,1\n") && !m.contains("10,"), "{m}");
        assert_eq!(std::fs::read_to_string(run.samples_path()).unwrap(), "");
        // A metrics path that cannot be read as a file is an error, not an empty history.
        std::fs::remove_file(run.metrics_path()).unwrap();
        std::fs::create_dir(run.metrics_path()).unwrap();
        assert!(truncate(&run, 5).is_err());
    }
}
