//! A CSV table as text: its header, its rows with their lines in the file, the separator
//! (`,`, `;` or a tab) and the reading of a column as numbers or times, every error naming the
//! file, the row and the column.

use std::path::{Path, PathBuf};

use super::series::{SeriesError, SeriesSpec};
use super::time::TimeFormat;

/// The largest magnitude a value may have: `f32::MAX`, the range the model computes in.
pub(super) const LARGEST: f64 = f32::MAX as f64;

/// The tokens read as a missing value (besides an empty cell), compared case-insensitively:
/// pandas' defaults (`read_csv`'s `na_values`, Excel's `#N/A` among them), the `?` of the UCI
/// repository's tables, and ENTSO-E's `n/e` (not expected) and a lone `-`.
pub(super) const MISSING: [&str; 18] = [
    "na", "nan", "n/a", "null", "none", "#n/a", "#n/a n/a", "#na", "<na>", "-nan", "-na", "1.#ind",
    "-1.#ind", "1.#qnan", "-1.#qnan", "?", "n/e", "-",
];

/// The CSV table as text, with each row's line in the file.
pub(super) struct Table {
    pub(super) path: PathBuf,
    pub(super) names: Vec<String>,
    pub(super) rows: Vec<csv::StringRecord>,
    pub(super) lines: Vec<u64>,
    /// The rows of the file this table was read from (all series of a long-format table).
    pub(super) file_rows: usize,
    /// The separator of the values: `,`, `;` or a tab.
    pub(super) delimiter: u8,
    /// The format of the time column and the file's first time, where the whole file's column
    /// decided it (a series of a long-format table); `None`: this table's own values decide.
    pub(super) time_format: Option<(TimeFormat, String)>,
}

/// The separator of a table whose first line is `header`: of `,`, `;` and a tab, the one it
/// holds most often (`,` on a tie or with none).
fn delimiter_of(header: &[u8]) -> u8 {
    let count = |d: u8| header.iter().filter(|&&b| b == d).count();
    [b';', b'\t'].into_iter().fold(
        b',',
        |best, d| if count(d) > count(best) { d } else { best },
    )
}

impl Table {
    pub(super) fn read(reader: impl std::io::Read, path: &Path) -> Result<Table, SeriesError> {
        use std::io::BufRead;
        let io_error = |e: std::io::Error| SeriesError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let mut reader = std::io::BufReader::with_capacity(1 << 16, reader);
        let start = reader.fill_buf().map_err(io_error)?;
        let header = start.split(|&b| b == b'\n').next().unwrap_or_default();
        let delimiter = delimiter_of(header);
        let mut csv = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .trim(csv::Trim::All)
            .flexible(false)
            .from_reader(reader);
        let io = |e: csv::Error| SeriesError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let names: Vec<String> = csv
            .headers()
            .map_err(io)?
            .iter()
            .map(String::from)
            .collect();
        let (mut rows, mut lines) = (Vec::new(), Vec::new());
        for record in csv.records() {
            let record = record.map_err(io)?;
            lines.push(record.position().map_or(0, |p| p.line()));
            rows.push(record);
        }
        if rows.is_empty() {
            return Err(SeriesError::Columns {
                path: path.to_path_buf(),
                message: "the table has a header and no rows".into(),
            });
        }
        Ok(Table {
            path: path.to_path_buf(),
            names,
            file_rows: rows.len(),
            rows,
            lines,
            delimiter,
            time_format: None,
        })
    }

    /// The rows `rows` of this table (one series of a long-format table), their times in
    /// `time_format` where the whole file's column decided it.
    pub(super) fn member(
        &self,
        rows: &[usize],
        time_format: Option<(TimeFormat, String)>,
    ) -> Table {
        Table {
            path: self.path.clone(),
            names: self.names.clone(),
            rows: rows.iter().map(|&r| self.rows[r].clone()).collect(),
            delimiter: self.delimiter,
            lines: rows.iter().map(|&r| self.lines[r]).collect(),
            file_rows: self.rows.len(),
            time_format,
        }
    }

    /// With [`SeriesSpec::clock`]: the time column's values become each row's date and time of
    /// day joined by a space.
    pub(super) fn join_clock(mut self, spec: &SeriesSpec) -> Result<Table, SeriesError> {
        let Some(clock) = &spec.clock else {
            return Ok(self);
        };
        let t = self.column(spec.time.as_deref().unwrap_or_default())?;
        let c = self.column(clock)?;
        for row in &mut self.rows {
            let joined = format!("{} {}", &row[t], &row[c]);
            let mut rebuilt = csv::StringRecord::with_capacity(row.as_slice().len(), row.len());
            for (i, value) in row.iter().enumerate() {
                rebuilt.push_field(if i == t { &joined } else { value });
            }
            rebuilt.set_position(row.position().cloned());
            *row = rebuilt;
        }
        Ok(self)
    }

    pub(super) fn column(&self, name: &str) -> Result<usize, SeriesError> {
        self.names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| SeriesError::Columns {
                path: self.path.clone(),
                message: format!(
                    "no column `{name}` (the header has {})",
                    self.names
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
    }

    pub(super) fn value_error(&self, r: usize, c: usize, message: String) -> SeriesError {
        SeriesError::Value {
            path: self.path.clone(),
            row: self.lines[r],
            column: self.names[c].clone(),
            message,
        }
    }

    /// Column `c` as numbers, `None` where a value is missing.
    pub(super) fn numbers(&self, c: usize) -> Result<Vec<Option<f64>>, SeriesError> {
        (0..self.rows.len())
            .map(|r| {
                let text = &self.rows[r][c];
                if text.is_empty() || MISSING.iter().any(|m| text.eq_ignore_ascii_case(m)) {
                    return Ok(None);
                }
                // Booleans as R and pandas write them (`TRUE`, `False`) are 1 and 0.
                if text.eq_ignore_ascii_case("true") {
                    return Ok(Some(1.0));
                }
                if text.eq_ignore_ascii_case("false") {
                    return Ok(Some(0.0));
                }
                // A table separated by semicolons may write a decimal comma (`1,5`); one
                // separated by commas may group thousands by commas (`"1,234.5"`, quoted, as
                // spreadsheets write them; its decimal mark is always the dot).
                let parsed = text.parse::<f64>().or_else(|e| match self.delimiter {
                    b';' if text.matches(',').count() == 1 && !text.contains('.') => {
                        text.replace(',', ".").parse::<f64>()
                    }
                    b',' => grouped(text).ok_or(e),
                    _ => Err(e),
                });
                match parsed {
                    Ok(v) if v.abs() <= LARGEST => Ok(Some(v)),
                    Ok(v) if v.is_finite() => Err(self.value_error(
                        r,
                        c,
                        format!(
                            "expected a number within ±3.4e38 (the model computes in 32-bit floats), found {text}"
                        ),
                    )),
                    Ok(v) => {
                        Err(self.value_error(r, c, format!("expected a finite number, found {v}")))
                    }
                    Err(_) => {
                        Err(self.value_error(r, c, format!("expected a number, found {text:?}")))
                    }
                }
            })
            .collect()
    }

    /// Column `c` as times, in the first format that reads its first value.
    pub(super) fn times(&self, c: usize) -> Result<(Vec<i64>, TimeFormat), SeriesError> {
        let all = self.rows.iter().map(|r| &r[c]);
        let (format, first) = match &self.time_format {
            Some((format, first)) => (*format, first.as_str()),
            None => {
                let first = &self.rows[0][c];
                let format = TimeFormat::of_column(first, all)
                    .map_err(|message| self.value_error(0, c, message))?;
                (format, first)
            }
        };
        let times = (0..self.rows.len())
            .map(|r| {
                let text = &self.rows[r][c];
                format.parse(text).ok_or_else(|| {
                    self.value_error(
                        r,
                        c,
                        format!(
                            "expected a time written as the first row's ({first:?}), found {text:?}"
                        ),
                    )
                })
            })
            .collect::<Result<Vec<i64>, SeriesError>>()?;
        Ok((times, format))
    }
}

/// A number whose thousands are grouped by commas (`1,234,567.5`): the first group of one to
/// three digits, not starting with 0, each further group of exactly three, at least one; `None`
/// for anything else (`1,5`, `12,3456`, `0,123`).
fn grouped(text: &str) -> Option<f64> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let sign = &text[..text.len() - unsigned.len()];
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((w, f)) if digits(f) => (w, Some(f)),
        Some(_) => return None,
        None => (unsigned, None),
    };
    let mut groups = whole.split(',');
    let first = groups.next()?;
    // `0,123` is a decimal comma (0.123), not a thousand.
    if first.len() > 3 || !digits(first) || first.starts_with('0') {
        return None;
    }
    let mut plain = format!("{sign}{first}");
    let mut more = 0;
    for g in groups {
        if g.len() != 3 || !digits(g) {
            return None;
        }
        plain += g;
        more += 1;
    }
    if more == 0 {
        return None;
    }
    if let Some(f) = fraction {
        plain = format!("{plain}.{f}");
    }
    plain.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_separator_is_the_header_s_most_frequent() {
        assert_eq!(delimiter_of(b"a,b;c"), b',');
        assert_eq!(delimiter_of(b"a;b;c,d"), b';');
        assert_eq!(delimiter_of(b"a\tb\tc;d"), b'\t');
        assert_eq!(delimiter_of(b"y"), b',');
    }
}
