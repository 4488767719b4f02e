//! Durations in a run config (`train.time_budget = "10m"`): parsing, display and serde.

use serde::{Deserialize, Serialize};

/// A wall-time budget, written as a duration: `"90s"`, `"10m"`, `"1.5h"`, `"1h30m"` (units `h`,
/// `m`, `s`; at most 365 days).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimeBudget {
    secs: f64,
}

impl TimeBudget {
    /// Reads a duration such as `"10m"` or `"1h30m"`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let expected =
            || format!("expected a duration like \"90s\", \"10m\" or \"1h30m\", found {text:?}");
        let mut secs = 0.0;
        let mut rest = text.trim();
        if rest.is_empty() {
            return Err(expected());
        }
        while !rest.is_empty() {
            let number_end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(expected)?;
            let value: f64 = rest[..number_end].parse().map_err(|_| expected())?;
            let unit_end = rest[number_end..]
                .find(|c: char| !c.is_ascii_alphabetic())
                .map_or(rest.len(), |i| number_end + i);
            secs += value
                * match &rest[number_end..unit_end] {
                    "h" => 3600.0,
                    "m" | "min" => 60.0,
                    "s" => 1.0,
                    _ => return Err(expected()),
                };
            rest = rest[unit_end..].trim_start();
        }
        if !(secs > 0.0 && secs <= 365.0 * 86400.0) {
            return Err(format!(
                "must be above 0 and at most 365 days, found {text:?}"
            ));
        }
        Ok(Self { secs })
    }

    /// The budget in seconds.
    pub fn secs(self) -> f64 {
        self.secs
    }
}

impl std::fmt::Display for TimeBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let whole = self.secs.round();
        if (self.secs - whole).abs() > 1e-9 || whole < 1.0 {
            return write!(f, "{}s", self.secs);
        }
        let whole = whole as u64;
        let (h, m, s) = (whole / 3600, whole / 60 % 60, whole % 60);
        let mut out = String::new();
        if h > 0 {
            out += &format!("{h}h");
        }
        if m > 0 {
            out += &format!("{m}m");
        }
        if s > 0 || out.is_empty() {
            out += &format!("{s}s");
        }
        f.write_str(&out)
    }
}

impl Serialize for TimeBudget {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TimeBudget {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer).map_err(|_| {
            serde::de::Error::custom(
                "expected a duration in quotes, like \"90s\", \"10m\" or \"1h30m\"",
            )
        })?;
        TimeBudget::parse(&text).map_err(serde::de::Error::custom)
    }
}
