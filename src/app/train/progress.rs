//! The progress display: a live bar on a terminal, plain log lines otherwise.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// How training reports progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// A live progress bar on a terminal, plain lines otherwise.
    Auto,
    /// Plain log lines.
    Lines,
    /// Nothing.
    Quiet,
}

/// The progress display of one training session.
pub(super) struct Reporter {
    bar: Option<ProgressBar>,
    lines: bool,
}

impl Reporter {
    pub(super) fn new(progress: Progress, start: usize, total: usize) -> Self {
        let tty = std::io::stderr().is_terminal();
        let bar = (progress == Progress::Auto && tty).then(|| {
            let bar = ProgressBar::new(total as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30.cyan/blue} {pos}/{len} {msg} [{elapsed_precise} < {eta_precise}]",
                )
                .expect("template")
                .progress_chars("=> "),
            );
            bar.set_position(start as u64);
            bar
        });
        let lines = progress == Progress::Lines || (progress == Progress::Auto && !tty);
        Self { bar, lines }
    }

    /// Moves the bar to `step`, or prints a log line.
    pub(super) fn update(&self, step: usize, total: usize, message: &str, eta_secs: f64) {
        if let Some(bar) = &self.bar {
            bar.set_position(step as u64);
            bar.set_message(message.to_string());
        } else if self.lines {
            say(format_args!(
                "step {step}/{total} | {message} | ETA {}",
                format_secs(eta_secs)
            ));
        }
    }

    /// Prints a line above the bar (or as a log line).
    pub(super) fn println(&self, line: &str) {
        if let Some(bar) = &self.bar {
            bar.println(line);
        } else if self.lines {
            say(line);
        }
    }
}

impl Drop for Reporter {
    /// Leaves the bar where it is, however training ends.
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}

/// Writes a line to standard output, ignoring a failure: a closed pipe or terminal (`train | head`)
/// must not stop or crash training, whose record is the run folder.
fn say(line: impl std::fmt::Display) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

/// A short duration, in milliseconds below a second: `4.2 ms`, `1.35 s`.
pub(super) fn format_duration(s: f64) -> String {
    if s < 1.0 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

/// `1m05s`, `2h03m`.
pub(super) fn format_secs(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_read_as_minutes_or_hours() {
        assert_eq!(format_secs(65.4), "1m05s");
        assert_eq!(format_secs(-3.0), "0m00s");
        assert_eq!(format_secs(7380.0), "2h03m");
    }
}
