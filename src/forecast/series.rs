//! A series read from a CSV table: the time column, the targets and the covariates, laid on a
//! regular grid of time steps, with missing values filled and marked.
//!
//! Every error names the file, and where it applies the row (its line in the file, the header
//! being line 1) and the column, and says what was expected.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::table::Table;
use super::time::{Frequency, TimeFormat};

/// What to do with missing time steps (a step of the series' frequency with no row).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Gaps {
    /// A missing step, or a time off the series' grid, is an error naming the rows.
    #[default]
    Error,
    /// Missing steps become rows of missing values (then filled as `missing` says).
    Insert,
    /// Rows are steps, whatever their times (business hours, trading days).
    Ignore,
}

/// How missing values (empty cells, `NA`, `NaN`, inserted steps) are filled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Missing {
    /// Linear in time between the nearest observed values (the first observed value before
    /// them, the last after).
    #[default]
    Interpolate,
    /// The last observed value (the first observed value before the first).
    Ffill,
    /// A missing value is an error naming its row and column.
    Error,
}

/// Which observed steps a column's filled values come from, so that a forecast reads nothing
/// at or after its origin: a value interpolated toward an observed value at or after the origin
/// is read as the last observed value before it (carried forward, as `ffill` fills).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fills {
    /// `[steps]`: the last observed step at or before each step (`u32::MAX`: none).
    before: Vec<u32>,
    /// `[steps]`: the first observed step at or after each step (`u32::MAX`: none).
    after: Vec<u32>,
}

impl Fills {
    /// The sources of a column whose steps were observed as `observed` says.
    pub fn of(observed: &[bool]) -> Fills {
        let index = |s: usize| u32::try_from(s).unwrap_or(u32::MAX);
        let mut before = Vec::with_capacity(observed.len());
        let mut last = u32::MAX;
        for (s, &seen) in observed.iter().enumerate() {
            if seen {
                last = index(s);
            }
            before.push(last);
        }
        let mut after = vec![u32::MAX; observed.len()];
        let mut next = u32::MAX;
        for (s, &seen) in observed.iter().enumerate().rev() {
            if seen {
                next = index(s);
            }
            after[s] = next;
        }
        Fills { before, after }
    }

    /// The step whose value a forecast from origin `o` reads for step `s < o`: `s` itself when
    /// its value comes from steps before `o` alone (observed, filled between observed steps
    /// before `o`, or carried forward with no observed step after it), else the last observed
    /// step before `s`; `None` when no step before `o` was observed (the first steps of a
    /// series that starts with missing values).
    pub fn source(&self, s: usize, o: usize) -> Option<usize> {
        let after = self.after[s];
        if after == u32::MAX || (after as usize) < o {
            return Some(s);
        }
        match self.before[s] {
            u32::MAX => None,
            b => Some(b as usize),
        }
    }

    /// Appends `other`'s steps after this one's (a column of frames end to end).
    pub fn append(&mut self, other: &Fills) {
        let offset = u32::try_from(self.before.len()).unwrap_or(u32::MAX);
        let shift = |v: u32| {
            if v == u32::MAX {
                v
            } else {
                v.saturating_add(offset)
            }
        };
        self.before.extend(other.before.iter().map(|&v| shift(v)));
        self.after.extend(other.after.iter().map(|&v| shift(v)));
    }
}

/// A column's values as a forecast from origin `o` reads them ([`Fills::source`]): `[s]` for
/// `s < o` is the value of the step read for `s`, or `fallback` where no step before `o` was
/// observed.
pub struct AsOf<'a> {
    /// `[steps]`: the column's values.
    pub values: &'a [f64],
    /// Their sources, from step `offset` on (a frame's, whose segment starts there).
    pub fills: &'a Fills,
    /// The step of `fills` that is step 0 of `values`.
    pub offset: usize,
    /// The origin, a step of `values`.
    pub origin: usize,
    /// What is read where no step before the origin was observed (the training part's mean).
    pub fallback: f64,
}

impl std::ops::Index<usize> for AsOf<'_> {
    type Output = f64;

    fn index(&self, s: usize) -> &f64 {
        self.fills
            .source(s + self.offset, self.origin + self.offset)
            .map_or(&self.fallback, |source| &self.values[source - self.offset])
    }
}

/// Which columns of the table are what.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SeriesSpec {
    /// The time column; `None`: rows are consecutive steps.
    pub time: Option<String>,
    /// A column holding the time of day where [`SeriesSpec::time`] holds the date alone (a table
    /// with `Date` and `Time` columns): each row's time is the two values joined by a space
    /// (`16/12/2006` and `17:24:00` read as `16/12/2006 17:24:00`).
    pub clock: Option<String>,
    /// The columns to forecast (at least one).
    pub target: Vec<String>,
    /// Columns known up to the forecast origin only.
    pub past_covariates: Vec<String>,
    /// Columns known for the horizon too.
    pub future_covariates: Vec<String>,
    /// Missing time steps.
    pub gaps: Gaps,
    /// Missing values.
    pub missing: Missing,
}

/// A table that could not be read as a series.
#[derive(Debug, thiserror::Error)]
pub enum SeriesError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// The columns asked for do not fit the table or each other.
    #[error("{path}: {message}")]
    Columns {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A value that cannot be used, at a row and column.
    #[error("{path}, row {row}, column `{column}`: {message}")]
    Value {
        /// The file.
        path: PathBuf,
        /// The line in the file (the header is line 1).
        row: u64,
        /// The column.
        column: String,
        /// What was expected and what was found.
        message: String,
    },
    /// The rows' times do not make a series.
    #[error("{path}, row {row}: {message}")]
    Time {
        /// The file.
        path: PathBuf,
        /// The line in the file (the header is line 1).
        row: u64,
        /// What is wrong.
        message: String,
    },
}

/// One column's values, one per step, missing values filled, and which were observed.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    /// The column's name in the table.
    pub name: String,
    /// `[steps]`.
    pub values: Vec<f64>,
    /// `[steps]`: whether the value was in the table (not filled).
    pub observed: Vec<bool>,
}

impl Column {
    /// The value at step `s` where the table held it; `None` where it was filled or `s` lies past
    /// the column.
    pub fn observed_at(&self, s: usize) -> Option<f64> {
        (self.observed.get(s) == Some(&true)).then(|| self.values[s])
    }
}

/// A series on a regular grid of steps.
///
/// The history is `0..len`: every step up to the last one with a target value. Steps after it
/// (`len..steps`) come from trailing rows that hold future covariates only: the known future of
/// a forecast from the end of the history.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// The file it was read from.
    pub path: PathBuf,
    /// `[steps]`: seconds since 1970-01-01 of each step, when the table has a time column.
    pub times: Option<Vec<i64>>,
    /// How the time column writes its values.
    pub format: Option<TimeFormat>,
    /// The step between rows, when the table has a time column and `gaps` is not `ignore`.
    pub frequency: Option<Frequency>,
    /// The targets, `[steps]` each.
    pub targets: Vec<Column>,
    /// The past covariates, `[steps]` each.
    pub past: Vec<Column>,
    /// The future covariates, `[steps]` each.
    pub future: Vec<Column>,
    /// Steps of history (the last step with a target value, plus one).
    pub len: usize,
    /// Rows inserted for missing time steps.
    pub inserted: usize,
    /// Rows of a local clock's repeated hour (where clocks go back for daylight saving time)
    /// merged into the rows of the same times before them: each step holds the mean of its
    /// values.
    pub repeated: usize,
    /// `[steps]`, ascending: the steps of the hour a local clock skips where daylight saving
    /// time begins (inserted as missing values). No such time exists on the clock: `forecast`
    /// writes no row for them.
    pub skipped: Vec<usize>,
    /// The file's encoding where it is not UTF-8 (`"windows-1252"`, `"UTF-16LE"`): its text was
    /// decoded from it.
    pub encoding: Option<&'static str>,
}

impl Series {
    /// Step `i`'s time as the time column writes it, or its number (from 0) without one.
    pub fn time_label(&self, i: usize) -> String {
        match (&self.times, self.format) {
            (Some(t), Some(f)) if i < t.len() => f.format(t[i]),
            _ => i.to_string(),
        }
    }

    /// Whether time `t` lies in an hour a local clock skips where daylight saving time begins,
    /// by the rule of the skipped hours the table shows ([`Series::skipped`]): the same hour of
    /// the night, on the same weekday of the same month (the last, where the one seen was the
    /// last of its month and not among its first three; otherwise the same count from the
    /// month's start, as the second Sunday of March). A table that shows no skipped hour skips
    /// none.
    pub fn clock_skips(&self, t: i64) -> bool {
        use chrono::{Datelike, Timelike};
        let Some(times) = &self.times else {
            return false;
        };
        let at = |t: i64| chrono::DateTime::from_timestamp(t, 0).map(|d| d.naive_utc());
        let day = |d: chrono::NaiveDateTime| {
            let nth = (d.day() - 1) / 7 + 1;
            let last = d
                .date()
                .checked_add_days(chrono::Days::new(7))
                .is_none_or(|next| next.month() != d.month());
            let nth = if last && nth > 3 { 0 } else { nth };
            (d.month(), d.hour(), d.weekday(), nth)
        };
        let Some(d) = at(t).filter(|_| clock_change_night(t)) else {
            return false;
        };
        let rule = day(d);
        self.skipped
            .iter()
            .filter_map(|&s| at(*times.get(s)?))
            .any(|seen| day(seen) == rule)
    }

    /// ` (the file is not UTF-8: read as windows-1252)` where [`Series::encoding`] is set, else
    /// nothing.
    pub fn encoding_note(&self) -> String {
        self.encoding.map_or(String::new(), |e| {
            format!(" (the file is not UTF-8: read as {e})")
        })
    }

    /// What was read, in one line: the steps of history, their frequency (or rows taken as
    /// steps), the first and the last step's times, and the steps inserted for gaps
    /// (`600 steps, hourly, 2021-03-01T00:00:00 to 2021-03-25T23:00:00`).
    pub fn describe(&self) -> String {
        let every = match (&self.times, self.frequency) {
            (None, _) => String::new(),
            (Some(_), Some(f)) => format!(", {}", f.describe()),
            (Some(_), None) => ", rows taken as steps".into(),
        };
        let mut line = format!("{} steps{every}", self.len);
        if self.times.is_some() && self.len > 0 {
            line += &format!(
                ", {} to {}",
                self.time_label(0),
                self.time_label(self.len - 1)
            );
        }
        if self.inserted > 0 {
            line += &format!(", {} inserted for missing times", self.inserted);
        }
        line += &self.encoding_note();
        // Integers read as unix seconds before March 1973 are more likely step numbers or a
        // spreadsheet's serial days (42005: 2015-01-01) than times: say how they were read.
        let first = self.times.as_ref().and_then(|t| t.first());
        if let (Some(TimeFormat::Unix), Some(&first)) = (self.format, first)
            && first.abs() < 100_000_000
        {
            line += &format!(
                " (integers read as unix seconds, the first {}Z: step numbers or serial days are not times, `--set data.time=` takes rows as steps)",
                TimeFormat::DateTime.format(first)
            );
        }
        line
    }

    /// Reads `path` as `spec` says.
    pub fn read(path: &Path, spec: &SeriesSpec) -> Result<Series, SeriesError> {
        let file = std::fs::File::open(path).map_err(|e| SeriesError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Self::from_reader(file, path, spec)
    }

    /// Reads CSV text from `reader`; `path` names it in errors.
    pub fn from_reader(
        reader: impl std::io::Read,
        path: &Path,
        spec: &SeriesSpec,
    ) -> Result<Series, SeriesError> {
        check_roles(path, spec)?;
        Self::from_table(Table::read(reader, path)?.join_clock(spec)?, path, spec)
    }

    /// Reads a long-format table from `path`: one row per series and time, column `id` naming
    /// the series. Returns one series per id, ordered by id; a series'
    /// rows may come in any order (they are sorted by time, when there is a time column). Errors
    /// name the row's line in the file.
    pub fn read_long(
        path: &Path,
        spec: &SeriesSpec,
        id: &str,
    ) -> Result<Vec<(String, Series)>, SeriesError> {
        let file = std::fs::File::open(path).map_err(|e| SeriesError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Self::long_from_reader(file, path, spec, id)
    }

    /// [`Series::read_long`] of CSV text from `reader`; `path` names it in errors.
    pub fn long_from_reader(
        reader: impl std::io::Read,
        path: &Path,
        spec: &SeriesSpec,
        id: &str,
    ) -> Result<Vec<(String, Series)>, SeriesError> {
        check_roles(path, spec)?;
        let table = Table::read(reader, path)?.join_clock(spec)?;
        let column = table.column(id)?;
        let roles = [&spec.target, &spec.past_covariates, &spec.future_covariates];
        let timed = [&spec.time, &spec.clock];
        if timed.iter().any(|t| t.as_deref() == Some(id))
            || roles.iter().any(|r| r.iter().any(|n| n == id))
        {
            return Err(SeriesError::Columns {
                path: path.to_path_buf(),
                message: format!(
                    "column `{id}` names the series (data.series) and has another role too"
                ),
            });
        }
        let mut order: Vec<String> = Vec::new();
        let mut members: std::collections::HashMap<String, Vec<usize>> = Default::default();
        for (r, row) in table.rows.iter().enumerate() {
            let name = row.get(column).unwrap_or_default();
            if name.is_empty() {
                return Err(SeriesError::Value {
                    path: path.to_path_buf(),
                    row: table.lines[r],
                    column: id.to_string(),
                    message: "expected the series' name, found an empty cell".into(),
                });
            }
            members
                .entry(name.to_string())
                .or_insert_with(|| {
                    order.push(name.to_string());
                    Vec::new()
                })
                .push(r);
        }
        let time = spec.time.as_ref().map(|n| table.column(n)).transpose()?;
        // One format for the whole time column (a series of a row or two cannot show whether
        // ten digits are a date and hour, or which of day and month comes first).
        let text = |r: usize, c: usize| table.rows[r].get(c).unwrap_or_default();
        let format = time.and_then(|c| {
            let all = (0..table.rows.len()).map(|r| text(r, c));
            let format = TimeFormat::of_column(text(0, c), all).ok()?;
            Some((format, text(0, c).to_string()))
        });
        order.sort();
        order
            .into_iter()
            .map(|name| {
                let mut rows = members.remove(&name).unwrap_or_default();
                if let (Some(c), Some((format, _))) = (time, &format) {
                    // Sorted by time when every time reads in the column's format; otherwise
                    // the series' own checks name the row that does not.
                    let stamps: Option<Vec<i64>> =
                        rows.iter().map(|&r| format.parse(text(r, c))).collect();
                    if let Some(stamps) = stamps {
                        let mut keyed: Vec<(i64, usize)> = stamps.into_iter().zip(rows).collect();
                        keyed.sort_by_key(|&(t, _)| t);
                        rows = keyed.into_iter().map(|(_, r)| r).collect();
                    }
                }
                let member = table.member(&rows, format.clone());
                Ok((name, Self::from_table(member, path, spec)?))
            })
            .collect()
    }

    /// The series `spec` describes in `table` (its roles checked by the caller).
    fn from_table(table: Table, path: &Path, spec: &SeriesSpec) -> Result<Series, SeriesError> {
        let columns = |names: &[String]| -> Result<Vec<usize>, SeriesError> {
            names.iter().map(|n| table.column(n)).collect()
        };
        let time = spec.time.as_ref().map(|n| table.column(n)).transpose()?;
        let (targets, past, future) = (
            columns(&spec.target)?,
            columns(&spec.past_covariates)?,
            columns(&spec.future_covariates)?,
        );
        let numbers = |cols: &[usize]| -> Result<Vec<Vec<Option<f64>>>, SeriesError> {
            cols.iter().map(|&c| table.numbers(c)).collect()
        };
        let (mut t_vals, mut p_vals, mut f_vals) =
            (numbers(&targets)?, numbers(&past)?, numbers(&future)?);
        // The history ends at the last row with a target value.
        let rows = table.rows.len();
        let len = (0..rows)
            .rev()
            .find(|&r| t_vals.iter().any(|v| v[r].is_some()))
            .map_or(0, |r| r + 1);
        if len == 0 {
            return Err(SeriesError::Columns {
                path: path.to_path_buf(),
                message: format!("the target columns {:?} hold no value", spec.target),
            });
        }
        let mut lines: Vec<u64> = table.lines.clone();
        let (mut times, mut format, mut frequency, mut inserted) = (None, None, None, 0);
        let (mut repeated, mut skipped) = (0, Vec::new());
        if let Some(c) = time {
            let (mut stamps, f) = table.times(c)?;
            let local = f.is_local_clock(&table.rows[0][c]);
            if local {
                let slots = repeated_hour(&stamps);
                repeated = stamps.len() - slots.iter().max().map_or(0, |&s| s + 1);
                if repeated > 0 {
                    for v in [&mut t_vals, &mut p_vals, &mut f_vals] {
                        merge_rows(v, &slots);
                    }
                    let mut kept = vec![None; stamps.len() - repeated];
                    for (r, &s) in slots.iter().enumerate() {
                        kept[s].get_or_insert((stamps[r], lines[r]));
                    }
                    (stamps, lines) = kept.into_iter().flatten().unzip();
                }
            }
            check_order(path, &stamps, &lines, &table.names[c], f, local)?;
            format = Some(f);
            if spec.gaps != Gaps::Ignore {
                let freq = Frequency::infer(&stamps).ok_or_else(|| SeriesError::Columns {
                    path: path.to_path_buf(),
                    message: "one row: no step between rows to infer".into(),
                })?;
                let rows = (&stamps[..], &lines[..], table.file_rows);
                let slots = grid(path, rows, freq, (spec.gaps, local), f)?;
                inserted = slots.last().map_or(0, |&s| s + 1) - stamps.len();
                if local {
                    skipped = (1..slots.len())
                        .filter(|&r| skipped_hour(freq, stamps[r - 1], stamps[r]))
                        .flat_map(|r| slots[r - 1] + 1..slots[r])
                        .collect();
                }
                let spread = |v: &mut Vec<Vec<Option<f64>>>| {
                    for col in v.iter_mut() {
                        let mut out = vec![None; stamps.len() + inserted];
                        for (r, &s) in slots.iter().enumerate() {
                            out[s] = col[r];
                        }
                        *col = out;
                    }
                };
                spread(&mut t_vals);
                spread(&mut p_vals);
                spread(&mut f_vals);
                let mut new_lines = vec![0; stamps.len() + inserted];
                for (r, &s) in slots.iter().enumerate() {
                    new_lines[s] = lines[r];
                }
                lines = new_lines;
                let first = stamps[0];
                times = Some(
                    (0..(stamps.len() + inserted) as i64)
                        .map(|n| freq.advance(first, n))
                        .collect(),
                );
                frequency = Some(freq);
            } else {
                times = Some(stamps);
            }
        }
        let len = if inserted > 0 || repeated > 0 {
            // The history's last step moved with the inserted or merged rows.
            (0..lines.len())
                .rev()
                .find(|&s| t_vals.iter().any(|v| v[s].is_some()))
                .map_or(0, |s| s + 1)
        } else {
            len
        };
        let steps = lines.len();
        let fill = |cols: &[usize], vals: Vec<Vec<Option<f64>>>, upto: usize| {
            cols.iter()
                .zip(vals)
                .map(|(&c, v)| fill_column(path, &table.names[c], v, &lines, upto, spec.missing))
                .collect::<Result<Vec<Column>, SeriesError>>()
        };
        let targets = fill(&targets, t_vals, len)?;
        let past = fill(&past, p_vals, len)?;
        let future = fill(&future, f_vals, steps)?;
        Ok(Series {
            path: path.to_path_buf(),
            times,
            format,
            frequency,
            targets,
            past,
            future,
            len,
            inserted,
            repeated,
            skipped,
            encoding: table.encoding,
        })
    }

    /// Steps in all: the history and the trailing steps of future covariates.
    pub fn steps(&self) -> usize {
        self.targets.first().map_or(0, |c| c.values.len())
    }
}

/// A target may not also be a covariate, and no column may be listed twice.
fn check_roles(path: &Path, spec: &SeriesSpec) -> Result<(), SeriesError> {
    let err = |message: String| SeriesError::Columns {
        path: path.to_path_buf(),
        message,
    };
    if spec.target.is_empty() {
        return Err(err("no target column given".into()));
    }
    match (&spec.time, &spec.clock) {
        (None, Some(clock)) => {
            return Err(err(format!(
                "column `{clock}` is given as the time of day and no column as the date"
            )));
        }
        (Some(time), Some(clock)) if time == clock => {
            return Err(err(format!(
                "column `{time}` is given as both the date and the time of day"
            )));
        }
        _ => {}
    }
    let roles = [
        ("target", &spec.target),
        ("past_covariates", &spec.past_covariates),
        ("future_covariates", &spec.future_covariates),
    ];
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for (role, names) in roles {
        for name in names.iter() {
            if let Some((other, _)) = seen.iter().find(|(_, n)| *n == name.as_str()) {
                return Err(err(format!(
                    "column `{name}` is listed in {other} and in {role}: a column has one role"
                )));
            }
            if spec.time.as_deref() == Some(name.as_str()) {
                return Err(err(format!(
                    "column `{name}` is the time column and in {role}"
                )));
            }
            if spec.clock.as_deref() == Some(name.as_str()) {
                return Err(err(format!(
                    "column `{name}` is the time column's time of day and in {role}"
                )));
            }
            seen.push((role, name));
        }
    }
    Ok(())
}

/// The hint of an error about a local clock's repeated or unsorted time at night.
const DST_HINT: &str = " (a local clock's hour repeated where daylight saving time ends is read as such from 22:00 to 03:59 of a night into a Friday or a Sunday of February-April or September-November, its second pass after the first; otherwise write the times in UTC or with their offset, e.g. 2024-10-27T02:30:00+01:00)";

/// `t` two hours later: the nights when clocks change (22:00 to 04:59) as the first seven hours
/// of the day they run into.
fn into_night(t: i64) -> i64 {
    t + 2 * 3600
}

/// Whether `t` is at 22:00-04:59 but not midnight, where clocks change.
fn night(t: i64) -> bool {
    t.rem_euclid(86_400) != 0 && into_night(t).rem_euclid(86_400) < 7 * 3600
}

/// Times must increase row by row; `local`: the times are a local clock's (no `Z` or offset).
fn check_order(
    path: &Path,
    stamps: &[i64],
    lines: &[u64],
    column: &str,
    format: TimeFormat,
    local: bool,
) -> Result<(), SeriesError> {
    for (r, w) in stamps.windows(2).enumerate() {
        if w[1] == w[0] {
            // Local clock times within a day repeat an hour when daylight saving time ends.
            let hint = if local && night(w[1]) { DST_HINT } else { "" };
            return Err(SeriesError::Time {
                path: path.to_path_buf(),
                row: lines[r + 1],
                message: format!(
                    "column `{column}`: the time {} is also row {}'s: each time may appear once{hint}",
                    format.format(w[1]),
                    lines[r]
                ),
            });
        }
        if w[1] < w[0] {
            let hint = if local && w[0] - w[1] <= 3600 && night(w[1]) {
                DST_HINT
            } else {
                ""
            };
            return Err(SeriesError::Time {
                path: path.to_path_buf(),
                row: lines[r + 1],
                message: format!(
                    "column `{column}`: the time {} comes before row {}'s {}: rows must be sorted by time{hint}",
                    format.format(w[1]),
                    lines[r],
                    format.format(w[0])
                ),
            });
        }
    }
    Ok(())
}

/// Whether a local clock's time `t` may lie where clocks go forward or back for daylight saving
/// time: from 22:00 to 04:59 of a night into a Friday or a Sunday of February-April or
/// September-November, when the zones that keep it change their clocks (on a Sunday at 01:00-03:00
/// in Europe, North America and Australia; at midnight in Chile and Lebanon, where the repeated
/// hour is the Saturday's 23:00, and in Cuba, where it is the Sunday's 00:00; on a Friday in
/// Israel and Egypt).
fn clock_change_night(t: i64) -> bool {
    use chrono::{Datelike, Timelike};
    chrono::DateTime::from_timestamp(into_night(t), 0).is_some_and(|d| {
        matches!(d.weekday(), chrono::Weekday::Fri | chrono::Weekday::Sun)
            && matches!(d.month(), 2 | 3 | 4 | 9 | 10 | 11)
            && d.hour() < 7
    })
}

/// Whether a local clock's times `before` and `after` (consecutive rows) skip the hour that
/// clocks jump over where daylight saving time begins: exactly one hour of steps missing, the
/// first of them in a [`clock_change_night`].
fn skipped_hour(freq: Frequency, before: i64, after: i64) -> bool {
    matches!(freq, Frequency::Seconds(s) if s <= 3600
        && after - before == 3600 + s
        && clock_change_night(before + s))
}

/// Each row's index among the distinct times of a local clock, where the clock goes back an hour
/// for daylight saving time: a row in a [`clock_change_night`] before 04:00, in the same clock
/// hour as the last distinct time and not after it, and equal to an earlier row's time, takes
/// that row's index (the hour's second pass); every other row takes the next index (one more
/// than the largest so far). Only a column with times of day has hours to repeat: in one whose
/// times are all midnight (dates, weeks, months), a repeated time stays one.
fn repeated_hour(stamps: &[i64]) -> Vec<usize> {
    let mut distinct: Vec<i64> = Vec::with_capacity(stamps.len());
    let mut slots = Vec::with_capacity(stamps.len());
    if stamps.iter().all(|t| t.rem_euclid(86_400) == 0) {
        return (0..stamps.len()).collect();
    }
    for &t in stamps {
        let earlier = match distinct.last() {
            Some(&last)
                if t <= last
                    && t.div_euclid(3600) == last.div_euclid(3600)
                    && into_night(t).rem_euclid(86_400) < 6 * 3600
                    && clock_change_night(t) =>
            {
                let from = distinct.partition_point(|&d| d < t);
                (distinct.get(from) == Some(&t)).then_some(from)
            }
            _ => None,
        };
        match earlier {
            Some(i) => slots.push(i),
            None => {
                slots.push(distinct.len());
                distinct.push(t);
            }
        }
    }
    slots
}

/// Each column's values merged by `slots` (the row's index among the merged rows): the mean of a
/// merged row's values that are present.
fn merge_rows(columns: &mut [Vec<Option<f64>>], slots: &[usize]) {
    let rows = slots.iter().max().map_or(0, |&s| s + 1);
    for column in columns {
        let mut sum = vec![(0.0, 0u32); rows];
        for (&s, v) in slots.iter().zip(column.iter()) {
            if let Some(v) = v {
                sum[s].0 += v;
                sum[s].1 += 1;
            }
        }
        *column = sum
            .into_iter()
            .map(|(total, n)| (n > 0).then(|| total / f64::from(n)))
            .collect();
    }
}

/// Each row's step on the grid of `freq` from the first row; with `Gaps::Error` a skipped step
/// is an error (but for the hour a `local` clock skips for daylight saving time), and a time off
/// the grid always is.
fn grid(
    path: &Path,
    (stamps, lines, file_rows): (&[i64], &[u64], usize),
    freq: Frequency,
    (gaps, local): (Gaps, bool),
    format: TimeFormat,
) -> Result<Vec<usize>, SeriesError> {
    let mut slots = Vec::with_capacity(stamps.len());
    for (r, &t) in stamps.iter().enumerate() {
        let n = freq.steps_between(stamps[0], t).ok_or_else(|| SeriesError::Time {
            path: path.to_path_buf(),
            row: lines[r],
            message: format!(
                "the time {} is not a whole number of steps ({}) after the first row's {}: the times are irregular; set gaps = \"ignore\" to take rows as steps",
                format.format(t),
                freq.describe(),
                format.format(stamps[0])
            ),
        })?;
        let n = n as usize;
        if let Some(&prev) = slots.last()
            && n > prev + 1
            && gaps == Gaps::Error
            && !(local && skipped_hour(freq, stamps[r - 1], t))
        {
            return Err(SeriesError::Time {
                path: path.to_path_buf(),
                row: lines[r],
                message: format!(
                    "{} missing step(s) of the series' {} frequency before {} (after row {}'s {}); set gaps = \"insert\" to fill them as missing values or gaps = \"ignore\" to take rows as steps",
                    n - prev - 1,
                    freq.describe(),
                    format.format(t),
                    lines[r - 1],
                    format.format(stamps[r - 1])
                ),
            });
        }
        slots.push(n);
    }
    // A gap of more steps than the file has rows: most often one mistyped time, which would
    // fill the series with made-up values.
    if let Some(r) = (1..slots.len()).max_by_key(|&r| slots[r] - slots[r - 1])
        && slots[r] - slots[r - 1] - 1 > file_rows
    {
        return Err(SeriesError::Time {
            path: path.to_path_buf(),
            row: lines[r],
            message: format!(
                "{} missing step(s) of the series' {} frequency before {} (after row {}'s {}): a gap longer than the table's {file_rows} rows; is a time mistyped? (gaps = \"insert\" would fill it with made-up values; where a series pauses for nights, weekends or seasons, gaps = \"ignore\" takes rows as steps)",
                slots[r] - slots[r - 1] - 1,
                freq.describe(),
                format.format(stamps[r]),
                lines[r - 1],
                format.format(stamps[r - 1]),
            ),
        });
    }
    // More than 100 steps per row of the file: the grid is finer than the data (two rows a
    // moment apart set the frequency).
    let steps = slots.last().map_or(0, |&s| s + 1);
    if steps > 100 * file_rows {
        return Err(SeriesError::Columns {
            path: path.to_path_buf(),
            message: format!(
                "with gaps = \"insert\" the series would have {steps} steps ({}: the smallest step between its rows) for {} rows, more than 100 per row of the table: are its times regular? gaps = \"ignore\" takes rows as steps",
                freq.describe(),
                slots.len()
            ),
        });
    }
    Ok(slots)
}

/// Fills the missing values of the first `upto` steps as `missing` says; steps after them stay
/// as they are, a missing one there filled with the last value before it.
fn fill_column(
    path: &Path,
    name: &str,
    values: Vec<Option<f64>>,
    lines: &[u64],
    upto: usize,
    missing: Missing,
) -> Result<Column, SeriesError> {
    let observed: Vec<bool> = values.iter().map(Option::is_some).collect();
    let known: Vec<usize> = (0..values.len()).filter(|&i| observed[i]).collect();
    if known.is_empty() {
        return Err(SeriesError::Columns {
            path: path.to_path_buf(),
            message: format!("column `{name}` holds no value"),
        });
    }
    if missing == Missing::Error
        && let Some(i) = (0..upto).find(|&i| !observed[i])
    {
        let row = lines[i];
        return Err(if row == 0 {
            SeriesError::Columns {
                path: path.to_path_buf(),
                message: format!(
                    "column `{name}`: an inserted missing time step has no value and missing = \"error\""
                ),
            }
        } else {
            SeriesError::Value {
                path: path.to_path_buf(),
                row,
                column: name.to_string(),
                message: "a missing value, and missing = \"error\" (set \"interpolate\" or \"ffill\" to fill it)".into(),
            }
        });
    }
    let mut out = vec![0.0; values.len()];
    let (mut before, mut k) = (None::<usize>, 0);
    for i in 0..values.len() {
        if let Some(v) = values[i] {
            out[i] = v;
            before = Some(i);
            k += 1;
            continue;
        }
        let after = known.get(k).copied();
        out[i] = match (before, after) {
            (Some(b), Some(a)) if missing == Missing::Interpolate && i < upto => {
                let w = (i - b) as f64 / (a - b) as f64;
                out[b] + w * (values[a].expect("known") - out[b])
            }
            (Some(b), _) => out[b],
            (None, Some(a)) => values[a].expect("known"),
            (None, None) => unreachable!("the column holds a value"),
        };
    }
    Ok(Column {
        name: name.to_string(),
        values: out,
        observed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::table::MISSING;

    fn spec(time: Option<&str>, target: &[&str]) -> SeriesSpec {
        SeriesSpec {
            time: time.map(String::from),
            target: target.iter().map(|s| s.to_string()).collect(),
            ..SeriesSpec::default()
        }
    }

    fn read(text: &str, spec: &SeriesSpec) -> Result<Series, SeriesError> {
        Series::from_reader(text.as_bytes(), Path::new("t.csv"), spec)
    }

    fn err(text: &str, spec: &SeriesSpec) -> String {
        read(text, spec).unwrap_err().to_string()
    }

    #[test]
    fn a_long_table_gives_one_series_per_name() {
        // Rows of two stores interleaved and out of order, starting on different days.
        let text = "day,store,sales\n\
                    2024-01-03,b,30\n2024-01-02,a,2\n2024-01-01,a,1\n2024-01-02,b,20\n\
                    2024-01-04,a,\n2024-01-05,a,5\n2024-01-04,b,40\n";
        let mut sp = spec(Some("day"), &["sales"]);
        sp.gaps = Gaps::Insert;
        let long =
            |t: &str| Series::long_from_reader(t.as_bytes(), Path::new("t.csv"), &sp, "store");
        let all = long(text).unwrap();
        let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        let (a, b) = (&all[0].1, &all[1].1);
        assert_eq!(a.targets[0].values, [1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(a.targets[0].observed, [true, true, false, false, true]);
        assert_eq!(a.inserted, 1);
        assert_eq!(b.targets[0].values, [20.0, 30.0, 40.0]);
        assert_eq!(b.times.as_ref().unwrap()[0], a.times.as_ref().unwrap()[1]);
        // A time twice in one series names both lines of the file; other series may share it.
        let twice = format!("{text}2024-01-02,a,9\n");
        let e = long(&twice).unwrap_err().to_string();
        assert!(e.contains("row 9") && e.contains("row 3's"), "{e}");
        let e = long("day,store,sales\n2024-01-01,,1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("row 2, column `store`"), "{e}");
        let e = Series::long_from_reader(text.as_bytes(), Path::new("t.csv"), &sp, "sales")
            .unwrap_err()
            .to_string();
        assert!(e.contains("another role"), "{e}");
        // A sparse series (3 rows over 12 days) beside a long one: its gaps are measured
        // against the file's rows, not its own, and it reads (the forecaster may skip it).
        let mut sparse = String::from("day,store,sales\n");
        for d in 1..=20 {
            sparse += &format!("2024-01-{d:02},a,{d}\n");
        }
        sparse += "2024-01-01,b,1\n2024-01-02,b,2\n2024-01-12,b,12\n";
        let all = long(&sparse).unwrap();
        assert_eq!(all[1].1.targets[0].values.len(), 12);
        // The whole column decides the order of day and month: store b's days are all 12 or
        // less, store a's say the day comes first.
        let text = "day,store,sales\n13/01/2024,a,1\n14/01/2024,a,2\n15/01/2024,a,3\n\
                    01/02/2024,b,1\n02/02/2024,b,2\n03/02/2024,b,3\n";
        let all = long(text).unwrap();
        assert_eq!(all[1].1.times.as_ref().unwrap()[0], 1_706_745_600); // 2024-02-01
        assert_eq!(all[1].1.frequency, Some(Frequency::Seconds(86_400)));
    }

    #[test]
    fn a_grid_much_finer_than_the_rows_is_refused() {
        // Rows every 10 minutes for about 5 days, two of them a second apart: a grid of
        // seconds would insert about 600 steps per row.
        let mut text = String::from("t,y\n2024-01-01T00:00:00,0\n2024-01-01T00:00:01,1\n");
        for i in 1..700 {
            let (day, minute) = (1 + i / 144, i % 144 * 10);
            let time = format!("2024-01-{day:02}T{:02}:{:02}:00", minute / 60, minute % 60);
            text += &format!("{time},{i}\n");
        }
        let mut sp = spec(Some("t"), &["y"]);
        sp.gaps = Gaps::Insert;
        let e = err(&text, &sp);
        assert!(
            e.contains("the series would have 419401 steps (every 1 seconds: the smallest step between its rows) for 701 rows")
                && e.contains("are its times regular?"),
            "{e}"
        );
    }

    #[test]
    fn booleans_are_one_and_zero() {
        let mut sp = spec(None, &["y"]);
        sp.future_covariates = vec!["holiday".into()];
        let s = read("y,holiday\n1,TRUE\n2,false\n3,True\n", &sp).unwrap();
        assert_eq!(s.future[0].values, vec![1.0, 0.0, 1.0]);
    }

    #[test]
    fn semicolons_and_tabs_separate_values_too() {
        let sp = spec(Some("t"), &["y"]);
        let s = read("t;y\n2024-01-01;1,5\n2024-01-02;2\n", &sp).unwrap();
        assert_eq!(s.targets[0].values, vec![1.5, 2.0]);
        let s = read("t\ty\n2024-01-01\t1.5\n2024-01-02\t2\n", &sp).unwrap();
        assert_eq!(s.targets[0].values, vec![1.5, 2.0]);
        // A decimal comma only where semicolons separate; a quoted "1,5" in a comma-separated
        // table is not a number.
        let e = err("t,y\n2024-01-01,\"1,5\"\n2024-01-02,2\n", &sp);
        assert!(e.contains("expected a number") && e.contains("1,5"), "{e}");
        // Thousands grouped by commas in a comma-separated table (quoted, as spreadsheets
        // write them); a first group with a leading zero is a decimal comma, not a number.
        let s = read(
            "t,y\n2024-01-01,\"1,234.5\"\n2024-01-02,\"-12,345,678\"\n2024-01-03,7\n",
            &sp,
        )
        .unwrap();
        assert_eq!(s.targets[0].values, vec![1234.5, -12_345_678.0, 7.0]);
        for bad in [
            "\"1,23\"",
            "\"12,3456\"",
            "\"1234,567\"",
            "\"1,234.\"",
            "\",123\"",
            "\"0,123\"",
            "\"-0,500\"",
        ] {
            let e = err(&format!("t,y\n2024-01-01,{bad}\n2024-01-02,2\n"), &sp);
            assert!(e.contains("expected a number"), "{bad}: {e}");
        }
    }

    #[test]
    fn every_time_format_gives_the_same_steps() {
        let tables = [
            "t,y\n2024-01-01,1\n2024-01-02,2\n2024-01-03,3\n",
            "t,y\n20240101,1\n20240102,2\n20240103,3\n",
            "t,y\n2024-01-01T00:00:00,1\n2024-01-02 00:00,2\n2024-01-03T00:00:00Z,3\n",
            "t,y\n1704067200,1\n1704153600,2\n1704240000,3\n",
            "t,y\n1704067200000,1\n1704153600000,2\n1704240000000,3\n",
            "t,y\n2024/01/01,1\n2024/01/02,2\n2024/01/03,3\n",
            "t,y\n20240101T000000,1\n20240102T000000,2\n20240103T0000Z,3\n",
            "t,y\n202401010000,1\n20240102 0000,2\n20240103000000,3\n",
            "t,y\n2024010100,1\n2024010200,2\n2024010300,3\n",
        ];
        for table in tables {
            let s = read(table, &spec(Some("t"), &["y"])).unwrap();
            assert_eq!(s.frequency, Some(Frequency::Seconds(86_400)), "{table}");
            assert_eq!(s.times.as_ref().unwrap()[0], 1_704_067_200, "{table}");
            assert_eq!(s.targets[0].values, vec![1.0, 2.0, 3.0]);
            assert_eq!(s.len, 3);
        }
        // Day first and month first: the order comes from the day above 12 further down.
        for table in [
            "t,y\n01/01/2024,1\n02/01/2024,2\n03/01/2024,3\n10/01/2024,10\n11/01/2024,11\n12/01/2024,12\n13/01/2024,13\n",
            "t,y\n1/1/2024 00:00,1\n1/2/2024 00:00,2\n1/3/2024 00:00,3\n1/10/2024 00:00,10\n1/11/2024 00:00,11\n1/12/2024 00:00,12\n1/13/2024 00:00,13\n",
        ] {
            let mut insert = spec(Some("t"), &["y"]);
            insert.gaps = Gaps::Insert;
            let s = read(table, &insert).unwrap();
            assert_eq!(s.frequency, Some(Frequency::Seconds(86_400)), "{table}");
            assert_eq!(s.times.as_ref().unwrap()[0], 1_704_067_200, "{table}");
            assert_eq!(s.len, 13, "{table}");
            assert_eq!(s.targets[0].values[12], 13.0, "{table}");
        }
        // With no day above 12 the order is a clear error naming the row.
        let e = err(
            "t,y\n01/02/2024,1\n02/03/2024,2\n",
            &spec(Some("t"), &["y"]),
        );
        assert!(
            e.contains("cannot be told apart") && e.contains("row 2"),
            "{e}"
        );
        let s = read("m,y\n1949-01,112\n1949-02,118\n", &spec(Some("m"), &["y"])).unwrap();
        assert_eq!(s.frequency, Some(Frequency::Months(1)));
        assert_eq!(s.format, Some(TimeFormat::YearMonth));
        // As R's tsibble writes months, quarters, weeks; years; a spreadsheet's clock hours; an
        // offset without the colon. A missing step is inserted as with any other format.
        for (table, frequency, format) in [
            (
                "m,y\n1998 Nov,1\n1998 Dec,2\n1999 Feb,4\n",
                Frequency::Months(1),
                TimeFormat::YearMonthName,
            ),
            (
                "m,y\nNov 1998,1\nDec 1998,2\nFeb 1999,4\n",
                Frequency::Months(1),
                TimeFormat::MonthNameYear,
            ),
            (
                "q,y\n1992 Q3,1\n1992 Q4,2\n1993 Q2,4\n",
                Frequency::Months(3),
                TimeFormat::YearQuarter,
            ),
            (
                "w,y\n2015 W52,1\n2015 W53,2\n2016 W02,4\n",
                Frequency::Seconds(604_800),
                TimeFormat::YearWeek,
            ),
            (
                "a,y\n1749,1\n1750,2\n1752,4\n",
                Frequency::Months(12),
                TimeFormat::Year,
            ),
            (
                "m,y\n194911,1\n194912,2\n195002,4\n",
                Frequency::Months(1),
                TimeFormat::CompactMonth,
            ),
            (
                "m,y\n1998M11,1\n1998m12,2\n1999M2,4\n",
                Frequency::Months(1),
                TimeFormat::YearMonthM,
            ),
            (
                "d,y\n800130,1\n800131,2\n800202,4\n",
                Frequency::Seconds(86_400),
                TimeFormat::CompactShortDate,
            ),
            (
                "m,y\n1949.83333333333,1\n1949.91666666667,2\n1950.08333333333,4\n",
                Frequency::Months(1),
                TimeFormat::DecimalYear,
            ),
            (
                "q,y\n1956.5,1\n1956.75,2\n1957.25,4\n",
                Frequency::Months(3),
                TimeFormat::DecimalYear,
            ),
            (
                "t,y\n1/13/2024 11:00 PM,1\n1/14/2024 12:00 AM,2\n1/14/2024 2:00 AM,4\n",
                Frequency::Seconds(3_600),
                TimeFormat::MonthFirst,
            ),
            (
                "t,y\n2024-01-13 23:00+0100,1\n2024-01-14 00:00+0100,2\n2024-01-14 02:00+0100,4\n",
                Frequency::Seconds(3_600),
                TimeFormat::DateTimeUtc,
            ),
        ] {
            let mut insert = spec(Some(table.split(',').next().unwrap()), &["y"]);
            insert.gaps = Gaps::Insert;
            let s = read(table, &insert).unwrap();
            assert_eq!(s.frequency, Some(frequency), "{table}");
            assert_eq!(s.format, Some(format), "{table}");
            assert_eq!(s.len, 4, "{table}");
            assert_eq!(s.targets[0].observed, [true, true, false, true], "{table}");
        }
    }

    #[test]
    fn a_date_and_a_time_of_day_in_two_columns_are_one_time() {
        let mut two = spec(Some("Date"), &["power"]);
        two.clock = Some("Time".into());
        let table = "Date;Time;power\n16/12/2006;23:00:00;1,5\n17/12/2006;00:00:00;2\n17/12/2006;01:00:00;3\n";
        let s = read(table, &two).unwrap();
        assert_eq!(s.frequency, Some(Frequency::Seconds(3600)));
        assert_eq!(s.format, Some(TimeFormat::DayFirst));
        assert_eq!(s.times.as_ref().unwrap()[1], 1_166_313_600); // 2006-12-17T00:00:00
        assert_eq!(s.targets[0].values, [1.5, 2.0, 3.0]);
        // A long table: the same, per series.
        let long = "id,Date,Time,power\nb,2006-12-17,00:00,2\na,2006-12-16,23:00,1\nb,2006-12-16,23:00,1\na,2006-12-17,00:00,2\n";
        let series =
            Series::long_from_reader(long.as_bytes(), Path::new("t.csv"), &two, "id").unwrap();
        assert_eq!(series.len(), 2);
        assert_eq!(series[1].1.times.as_ref().unwrap()[1], 1_166_313_600);
        // A bad time of day names its row and shows the joined value.
        let e = err(
            "Date,Time,power\n2006-12-16,23:00,1\n2006-12-17,25:00,2\n",
            &two,
        );
        assert!(e.contains("row 3") && e.contains("2006-12-17 25:00"), "{e}");
        // The time of day without a date, as the date, or with another role: errors.
        let mut alone = spec(None, &["power"]);
        alone.clock = Some("Time".into());
        let mut same = spec(Some("Time"), &["power"]);
        same.clock = Some("Time".into());
        let mut target = spec(Some("Date"), &["power"]);
        target.clock = Some("power".into());
        let mut missing = spec(Some("Date"), &["power"]);
        missing.clock = Some("Clock".into());
        for (bad, says) in [
            (alone, "no column as the date"),
            (same, "both the date and the time of day"),
            (target, "time of day and in target"),
            (missing, "no column `Clock`"),
        ] {
            let e = err(
                "Date,Time,power\n2006-12-16,23:00,1\n2006-12-17,00:00,2\n",
                &bad,
            );
            assert!(e.contains(says), "{e}");
        }
    }

    #[test]
    fn an_entsoe_table_of_periods_through_both_clock_changes() {
        // ENTSO-E's load tables: each row's time a period on the local clock (the start is the
        // row's time), `n/e` or `-` where no value is given; October's repeated hour is read
        // as such, March's skipped one inserted.
        let autumn = "\"Time (CET/CEST)\",\"Actual Total Load [MW] - BZN|DE-LU\"\n\
            \"27.10.2019 01:00 - 27.10.2019 02:00\",40\n\
            \"27.10.2019 02:00 - 27.10.2019 03:00\",42\n\
            \"27.10.2019 02:00 - 27.10.2019 03:00\",44\n\
            \"27.10.2019 03:00 - 27.10.2019 04:00\",n/e\n\
            \"27.10.2019 04:00 - 27.10.2019 05:00\",-\n\
            \"27.10.2019 05:00 - 27.10.2019 06:00\",50\n";
        let target = ["Actual Total Load [MW] - BZN|DE-LU"];
        let s = read(autumn, &spec(Some("Time (CET/CEST)"), &target)).unwrap();
        assert_eq!((s.len, s.repeated, s.inserted), (5, 1, 0));
        assert_eq!(s.format, Some(TimeFormat::DayFirst));
        assert_eq!(s.frequency, Some(Frequency::Seconds(3600)));
        assert_eq!(s.targets[0].observed, [true, true, false, false, true]);
        assert_eq!(s.targets[0].values[..2], [40.0, 43.0]);
        assert_eq!(s.time_label(1), "2019-10-27T02:00:00");
        let spring = "t,load\n\
            31.03.2019 00:00 - 31.03.2019 01:00,38\n\
            31.03.2019 01:00 - 31.03.2019 02:00,40\n\
            31.03.2019 03:00 - 31.03.2019 04:00,44\n";
        let s = read(spring, &spec(Some("t"), &["load"])).unwrap();
        assert_eq!((s.len, s.inserted, s.skipped.as_slice()), (4, 1, &[2][..]));
    }

    #[test]
    fn a_local_clock_through_daylight_saving_time() {
        // Half-hourly on Melbourne's clock: 2014-04-06 repeats 02:00-02:59 (the second pass
        // merged into the first, each time the mean), 2014-10-05 skips 02:00-02:59 (inserted as
        // missing even with gaps = "error": the clock has no such times).
        let table = "t,y\n\
            2014-04-06 01:30,1\n2014-04-06 02:00,2\n2014-04-06 02:30,3\n\
            2014-04-06 02:00,4\n2014-04-06 02:30,5\n2014-04-06 03:00,6\n\
            2014-04-06 03:30,7\n";
        let s = read(table, &spec(Some("t"), &["y"])).unwrap();
        assert_eq!((s.len, s.repeated, s.inserted), (5, 2, 0));
        assert_eq!(s.targets[0].values, [1.0, 3.0, 4.0, 6.0, 7.0]);
        assert_eq!(s.frequency, Some(Frequency::Seconds(1800)));
        let spring = "t,y\n2014-10-05 01:00,1\n2014-10-05 01:30,2\n2014-10-05 03:00,5\n";
        let s = read(spring, &spec(Some("t"), &["y"])).unwrap();
        assert_eq!((s.len, s.repeated, s.inserted), (5, 0, 2));
        assert_eq!(s.targets[0].observed, [true, true, false, false, true]);
        assert_eq!(s.targets[0].values, [1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(s.skipped, [2, 3]);
        // Later years skip the same hour on the same Sunday (Melbourne's: the first of October).
        let at = |text: &str| TimeFormat::DateTime.parse(text).unwrap();
        for (time, skips) in [
            ("2015-10-04T02:00:00", true),
            ("2015-10-04T02:30:00", true),
            ("2015-10-04T01:30:00", false),
            ("2015-10-04T03:00:00", false),
            ("2015-10-11T02:00:00", false),
            ("2015-09-27T02:00:00", false),
            ("2015-04-05T02:00:00", false),
        ] {
            assert_eq!(s.clock_skips(at(time)), skips, "{time}");
        }
        // Europe's last Sunday of March (the fourth in 2023, the fifth in 2024) and the United
        // States' second; a table without a skipped hour (or a UTC one) skips none.
        for (seen, later, skips) in [
            ("2023-03-26", "2024-03-31", true),
            ("2024-03-31", "2025-03-30", true),
            ("2024-03-31", "2025-03-23", false),
            ("2024-03-10", "2025-03-09", true),
            ("2024-03-10", "2025-03-30", false),
        ] {
            let table = format!("t,y\n{seen} 00:00,1\n{seen} 01:00,2\n{seen} 03:00,3\n");
            let s = read(&table, &spec(Some("t"), &["y"])).unwrap();
            assert_eq!(s.skipped, [2], "{seen}");
            assert_eq!(s.clock_skips(at(&format!("{later}T02:00:00"))), skips);
            let utc = format!("t,y\n{seen}T01:00Z,1\n{seen}T02:00Z,2\n{seen}T03:00Z,3\n");
            let s = read(&utc, &spec(Some("t"), &["y"])).unwrap();
            assert!(s.skipped.is_empty() && !s.clock_skips(at(&format!("{later}T02:00:00"))));
        }
        // Hourly, with the repeated hour's rows next to each other (as a sort by time leaves
        // them); its second value missing: the first alone.
        let hourly =
            "t,y\n2024-10-27 01:00,1\n2024-10-27 02:00,2\n2024-10-27 02:00,\n2024-10-27 03:00,3\n";
        let s = read(hourly, &spec(Some("t"), &["y"])).unwrap();
        assert_eq!((s.len, s.repeated), (3, 1));
        assert_eq!(s.targets[0].values, [1.0, 2.0, 3.0]);
        // Clocks changed at midnight (Chile: the Saturday's 23:00 repeated in April, the
        // Sunday's 00:00 skipped in September) and on a Friday (Egypt: the Thursday's 23:00
        // repeated in October; Israel: 02:00 skipped on the last Friday of March).
        let chile = "t,y\n2019-04-06 22:00,1\n2019-04-06 23:00,2\n2019-04-06 23:00,4\n\
            2019-04-07 00:00,5\n";
        let s = read(chile, &spec(Some("t"), &["y"])).unwrap();
        assert_eq!((s.len, s.repeated), (3, 1));
        assert_eq!(s.targets[0].values, [1.0, 3.0, 5.0]);
        let egypt = "t,y\n2023-10-26 22:00,1\n2023-10-26 23:00,2\n2023-10-26 23:00,4\n\
            2023-10-27 00:00,5\n";
        let s = read(egypt, &spec(Some("t"), &["y"])).unwrap();
        assert_eq!((s.len, s.repeated), (3, 1));
        for (table, skipped) in [
            (
                "t,y\n2019-09-07 22:00,1\n2019-09-07 23:00,2\n2019-09-08 01:00,3\n",
                2,
            ),
            (
                "t,y\n2024-03-29 00:00,1\n2024-03-29 01:00,2\n2024-03-29 03:00,3\n",
                2,
            ),
        ] {
            let s = read(table, &spec(Some("t"), &["y"])).unwrap();
            assert_eq!(
                (s.inserted, s.skipped.as_slice()),
                (1, &[skipped][..]),
                "{table}"
            );
        }
        let israel = read(
            "t,y\n2024-03-29 00:00,1\n2024-03-29 01:00,2\n2024-03-29 03:00,3\n",
            &spec(Some("t"), &["y"]),
        )
        .unwrap();
        assert!(israel.clock_skips(at("2025-03-28T02:00:00")));
        assert!(!israel.clock_skips(at("2025-03-30T02:00:00")));
        // In UTC or at an offset a repeated time is an error; so is one in the daytime or on
        // a night when no clock changes (a Tuesday, a Sunday in July), and so is a skipped hour
        // there under gaps = "error".
        for (bad, says) in [
            (
                "t,y\n2024-10-27T01:00Z,1\n2024-10-27T02:00Z,2\n2024-10-27T02:00Z,3\n",
                "also row 3's",
            ),
            (
                "t,y\n2024-10-27 13:00,1\n2024-10-27 14:00,2\n2024-10-27 14:00,3\n",
                "also row 3's",
            ),
            (
                "t,y\n2024-10-29 01:00,1\n2024-10-29 02:00,2\n2024-10-29 02:00,3\n",
                "also row 3's",
            ),
            (
                "t,y\n2024-07-28 01:00,1\n2024-07-28 02:00,2\n2024-07-28 02:00,3\n",
                "also row 3's",
            ),
            (
                "t,y\n2024-10-26 01:00,1\n2024-10-26 02:00,2\n2024-10-26 02:00,3\n",
                "also row 3's",
            ),
            (
                "t,y\n2024-03-15,1\n2024-03-16,2\n2024-03-17,3\n2024-03-17,4\n",
                "also row 4's",
            ),
            (
                "t,y\n2024-03-17 19:00,1\n2024-03-17 20:00,2\n2024-03-17 22:00,3\n",
                "1 missing step(s)",
            ),
            (
                "t,y\n2024-10-27 13:30,1\n2024-10-27 14:00,2\n2024-10-27 13:30,3\n",
                "rows must be sorted",
            ),
            (
                "t,y\n2024-10-27 13:00,1\n2024-10-27 13:30,2\n2024-10-27 15:00,3\n",
                "2 missing step(s)",
            ),
            (
                "t,y\n2024-10-29 01:00,1\n2024-10-29 01:30,2\n2024-10-29 03:00,3\n",
                "2 missing step(s)",
            ),
        ] {
            let e = err(bad, &spec(Some("t"), &["y"]));
            assert!(e.contains(says), "{bad}: {e}");
            // The daylight-saving hint only at night.
            let at_night = bad.contains(" 02:00,3");
            assert_eq!(e.contains("daylight saving"), at_night, "{e}");
        }
    }

    #[test]
    fn the_missing_value_tokens_of_pandas_uci_and_entsoe_are_missing_values() {
        for token in MISSING
            .iter()
            .map(|m| m.to_string())
            .chain(["#N/A".into(), "NULL".into()])
        {
            let table = format!("y;x\n1;2\n{token};3\n5;4\n");
            let mut s = spec(None, &["y"]);
            s.past_covariates = vec!["x".into()];
            let got = read(&table, &s).unwrap_or_else(|e| panic!("{token}: {e}"));
            assert_eq!(got.targets[0].values, vec![1.0, 3.0, 5.0], "{token}");
            assert_eq!(got.targets[0].observed, vec![true, false, true], "{token}");
        }
        // Anything else is not a number, named with its row and column.
        let e = err("y\n1\n--\n3\n", &spec(None, &["y"]));
        assert!(e.contains("row 3") && e.contains("\"--\""), "{e}");
    }

    #[test]
    fn gaps_are_inserted_or_ignored_and_missing_values_masked() {
        let table = "t,y,x\n2024-01-01,1,5\n2024-01-02,,6\n2024-01-05,7,NA\n2024-01-06,9,8\n";
        let mut s = spec(Some("t"), &["y"]);
        s.past_covariates = vec!["x".into()];
        let e = err(table, &s);
        assert!(
            e.contains("row 4")
                && e.contains("2 missing step(s)")
                && e.contains("gaps = \"insert\""),
            "{e}"
        );
        s.gaps = Gaps::Insert;
        let got = read(table, &s).unwrap();
        assert_eq!(got.inserted, 2);
        assert_eq!(got.len, 6);
        assert_eq!(
            got.describe(),
            "6 steps, daily, 2024-01-01 to 2024-01-06, 2 inserted for missing times"
        );
        // 1, (missing), (inserted), (inserted), 7, 9: interpolated in time between 1 and 7.
        assert_eq!(got.targets[0].values, vec![1.0, 2.5, 4.0, 5.5, 7.0, 9.0]);
        assert_eq!(
            got.targets[0].observed,
            vec![true, false, false, false, true, true]
        );
        assert_eq!(got.past[0].values, vec![5.0, 6.0, 6.5, 7.0, 7.5, 8.0]);
        s.missing = Missing::Ffill;
        let got = read(table, &s).unwrap();
        assert_eq!(got.targets[0].values, vec![1.0, 1.0, 1.0, 1.0, 7.0, 9.0]);
        s.missing = Missing::Error;
        let e = err(table, &s);
        assert!(e.contains("row 3, column `y`: a missing value"), "{e}");
        s.gaps = Gaps::Ignore;
        s.missing = Missing::Interpolate;
        let got = read(table, &s).unwrap();
        assert_eq!((got.len, got.inserted, got.frequency), (4, 0, None));
        assert_eq!(
            got.describe(),
            "4 steps, rows taken as steps, 2024-01-01 to 2024-01-06"
        );
        assert_eq!(got.targets[0].values, vec![1.0, 4.0, 7.0, 9.0]);
        // Small integers are read as unix seconds, and the line says so.
        let numbered = spec(Some("t"), &["y"]);
        let got = read("t,y\n42005,1\n42006,2\n42007,3\n", &numbered).unwrap();
        assert!(
            got.describe().ends_with(
                "42005 to 42007 (integers read as unix seconds, the first 1970-01-01T11:40:05Z: step numbers or serial days are not times, `--set data.time=` takes rows as steps)"
            ),
            "{}",
            got.describe()
        );
        let got = read("t,y\n1710633600,1\n1710637200,2\n", &numbered).unwrap();
        assert!(!got.describe().contains("unix"), "{}", got.describe());
        // A file not in UTF-8 is read as Windows-1252, and the line says so.
        let latin = b"t,temp\xe9rature\n2024-01-01,1\n2024-01-02,2\n";
        let got = Series::from_reader(
            &latin[..],
            Path::new("t.csv"),
            &spec(Some("t"), &["temp\u{e9}rature"]),
        )
        .unwrap();
        assert_eq!(
            got.describe(),
            "2 steps, daily, 2024-01-01 to 2024-01-02 (the file is not UTF-8: read as windows-1252)"
        );
    }

    #[test]
    fn trailing_rows_of_future_covariates_extend_the_steps() {
        let mut s = spec(None, &["y"]);
        s.future_covariates = vec!["temp".into()];
        let got = read("y,temp\n1,10\n2,11\n,12\n,13\n", &s).unwrap();
        assert_eq!((got.len, got.steps()), (2, 4));
        assert_eq!(got.future[0].values, vec![10.0, 11.0, 12.0, 13.0]);
    }

    #[test]
    fn bad_input_is_named() {
        let s = spec(Some("t"), &["y"]);
        let insert = SeriesSpec {
            gaps: Gaps::Insert,
            ..s.clone()
        };
        let cases: [(&str, SeriesSpec, &str); 13] = [
            (
                "t,y\n2024-01-01,1\n",
                spec(Some("t"), &["z"]),
                "no column `z` (the header has `t`, `y`)",
            ),
            (
                "t,y\n2024-01-01,1\n2024-01-02,abc\n",
                s.clone(),
                "t.csv, row 3, column `y`: expected a number, found \"abc\"",
            ),
            (
                "t,y\n2024-01-01,1\n2024-01-02,inf\n",
                s.clone(),
                "row 3, column `y`: expected a finite number, found inf",
            ),
            (
                "t,y\n2024-01-01,1\n2024-01-02,-1e300\n",
                s.clone(),
                "row 3, column `y`: expected a number within ±3.4e38 (the model computes in 32-bit floats), found -1e300",
            ),
            (
                "t,y\n2024-01-01,1\n2024-01-02,2\n2024-01-03,3\n2042-01-04,4\n",
                insert.clone(),
                "row 5: 6575 missing step(s) of the series' daily frequency before 2042-01-04 (after row 4's 2024-01-03): a gap longer than the table's 4 rows; is a time mistyped?",
            ),
            (
                "t,y\n2024-01-01,1\n03/01/2024,2\n",
                s.clone(),
                "row 3, column `t`: expected a time written as the first row's",
            ),
            (
                "t,y\nyesterday,1\n",
                s.clone(),
                "row 2, column `t`: expected an ISO date",
            ),
            (
                "t,y\n2024-01-01,1\n2024-01-01,2\n",
                s.clone(),
                "row 3: column `t`: the time 2024-01-01 is also row 2's: each time may appear once",
            ),
            (
                "t,y\n2024-10-29 02:30,1\n2024-10-29 02:30,2\n",
                s.clone(),
                "the time 2024-10-29T02:30:00 is also row 2's: each time may appear once (a local clock's hour repeated where daylight saving time ends is read as such from 22:00 to 03:59 of a night into a Friday or a Sunday",
            ),
            (
                "t,y\n2024-01-02,1\n2024-01-01,2\n",
                s.clone(),
                "row 3: column `t`: the time 2024-01-01 comes before row 2's 2024-01-02",
            ),
            (
                "t,y\n2024-01-01T00:00:00,1\n2024-01-01T01:00:00,2\n2024-01-01T02:30:00,3\n",
                s.clone(),
                "row 4: the time 2024-01-01T02:30:00 is not a whole number of steps (hourly)",
            ),
            (
                "t,y\n2024-01-01,1\n",
                {
                    let mut b = s.clone();
                    b.past_covariates = vec!["y".into()];
                    b
                },
                "column `y` is listed in target and in past_covariates",
            ),
            (
                "t,y\n2024-01-01,\n",
                s.clone(),
                "the target columns [\"y\"] hold no value",
            ),
        ];
        for (table, spec, want) in cases {
            let e = err(table, &spec);
            assert!(e.contains(want), "expected {want:?} in {e:?}");
            assert!(
                e.starts_with("t.csv") || e.starts_with("cannot read t.csv"),
                "{e}"
            );
        }
        // UTC times do not repeat where clocks go back: no daylight-saving hint for them.
        for table in [
            "t,y\n20241027T023000Z,1\n20241027T023000Z,2\n",
            "t,y\n2024-10-27T02:30:00Z,1\n2024-10-27T02:30:00Z,2\n",
            "t,y\n1729996200,1\n1729996200,2\n",
        ] {
            let e = err(table, &s);
            assert!(
                e.contains("each time may appear once") && !e.contains("daylight"),
                "{e}"
            );
        }
    }
}
