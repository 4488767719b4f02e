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
    /// The file's encoding where it is not UTF-8 (`"windows-1252"`, `"UTF-16LE"`).
    pub(super) encoding: Option<&'static str>,
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
    pub(super) fn read(mut reader: impl std::io::Read, path: &Path) -> Result<Table, SeriesError> {
        let mut bytes = Vec::new();
        reader
            .read_to_end(&mut bytes)
            .map_err(|e| SeriesError::Io {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        let (text, encoding) = decode(bytes).map_err(|message| SeriesError::Columns {
            path: path.to_path_buf(),
            message,
        })?;
        let header = text.split('\n').next().unwrap_or_default();
        let delimiter = delimiter_of(header.as_bytes());
        let mut csv = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .trim(csv::Trim::All)
            .flexible(false)
            .from_reader(text.as_bytes());
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
        // Rows of empty cells after the last value (`,,`, as spreadsheets write the rows below
        // a table whose cells were once formatted) hold nothing. One between rows stays: where
        // rows are steps it is a step of missing values.
        while rows.last().is_some_and(|r| r.iter().all(str::is_empty)) {
            rows.pop();
            lines.pop();
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
            encoding,
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
            encoding: self.encoding,
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
        let mut named = (0..self.names.len()).filter(|&c| self.names[c] == name);
        let first = named.next();
        if let (Some(a), Some(b)) = (first, named.next()) {
            return Err(SeriesError::Columns {
                path: self.path.clone(),
                message: format!(
                    "the header names `{name}` twice (columns {} and {}): rename one, so that the column read is the one meant",
                    a + 1,
                    b + 1
                ),
            });
        }
        first.ok_or_else(|| SeriesError::Columns {
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

/// A file's text and, where it is not UTF-8, the encoding it was decoded from: UTF-16 with a
/// byte-order mark (Excel's "Unicode text"), else Windows-1252 (Excel's CSV on Windows in
/// Western European locales; every byte is a character of it). A file with a zero byte that is
/// not UTF-16 is not a table, nor is one that is UTF-8, characters beyond ASCII included, up to
/// a byte that is not (damaged, or joined from files of two encodings).
fn decode(bytes: Vec<u8>) -> Result<(String, Option<&'static str>), String> {
    if let Some((encoding, bom)) = encoding_rs::Encoding::for_bom(&bytes)
        && encoding != encoding_rs::UTF_8
    {
        let (text, malformed) = encoding.decode_without_bom_handling(&bytes[bom..]);
        if malformed {
            return Err(format!(
                "not a table: its text is not valid {}",
                encoding.name()
            ));
        }
        return Ok((text.into_owned(), Some(encoding.name())));
    }
    if bytes.contains(&0) {
        return Err(
            "not a table of text (it holds a zero byte: a spreadsheet's workbook such as .xlsx, UTF-16 without its byte-order mark, or another binary file?): save it as CSV".into(),
        );
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok((text, None)),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let bytes = e.into_bytes();
            let bom = if bytes.starts_with(b"\xEF\xBB\xBF") {
                3
            } else {
                0
            };
            if bytes[bom..at].iter().any(|&b| b >= 0x80) {
                let line = 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count();
                return Err(format!(
                    "line {line}: a byte that is not UTF-8 (0x{:02X}) in text that is UTF-8, characters beyond ASCII included, before it: is the file damaged, or joined from files of two encodings? Save it as UTF-8",
                    bytes[at]
                ));
            }
            let body = &bytes[bom..];
            let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(body);
            Ok((text.into_owned(), Some(encoding_rs::WINDOWS_1252.name())))
        }
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

    fn read(bytes: &[u8]) -> Result<Table, SeriesError> {
        Table::read(bytes, Path::new("t.csv"))
    }

    #[test]
    fn text_not_in_utf8_is_decoded_from_windows_1252_or_utf16() {
        // "Température" and "Zürich" as Excel on Windows saves them (one byte each).
        let t = read(b"site,Temp\xe9rature\nZ\xfcrich,1.5\nCaf\x80,2\n").unwrap();
        assert_eq!(t.names, ["site", "Température"]);
        assert_eq!((&t.rows[0][0], &t.rows[1][0]), ("Zürich", "Caf€"));
        assert_eq!(t.encoding, Some("windows-1252"));
        // Excel's "Unicode text": UTF-16LE with a byte-order mark, separated by tabs.
        let mut utf16 = vec![0xFF, 0xFE];
        utf16.extend("x\tZür\n1\t2\n".encode_utf16().flat_map(u16::to_le_bytes));
        let t = read(&utf16).unwrap();
        assert_eq!(
            (t.names.as_slice(), &t.rows[0][1]),
            (&["x".to_string(), "Zür".into()][..], "2")
        );
        assert_eq!(t.encoding, Some("UTF-16LE"));
        // UTF-8, with or without its byte-order mark, is read as it is.
        let t = read("\u{feff}x,Zür\n1,2\n".as_bytes()).unwrap();
        assert_eq!(
            (t.names.as_slice(), t.encoding),
            (&["x".to_string(), "Zür".into()][..], None)
        );
    }

    #[test]
    fn a_binary_file_is_not_read_as_a_table() {
        let err = read(b"PK\x03\x04\x14\x00\x00\x00")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("t.csv: not a table of text"), "{err}");
        assert!(err.contains("save it as CSV"), "{err}");
        // UTF-8 (`ü`) up to a byte that is not: damaged, not Windows-1252.
        let err = read(b"site,y\nZ\xc3\xbcrich,1\nZ\xfcrich,2\n")
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("t.csv: line 3: a byte that is not UTF-8 (0xFC)"),
            "{err}"
        );
    }

    #[test]
    fn rows_of_empty_cells_after_the_last_value_are_dropped() {
        // The one between values stays (where rows are steps, a step of missing values).
        let t = read(b"x,y\n1,2\n,\n3,4\n,\n,\n").unwrap();
        assert_eq!(t.rows.len(), 3);
        assert_eq!(t.lines, [2, 3, 4]);
        let err = read(b"x,y\n,\n").err().unwrap().to_string();
        assert!(err.contains("a header and no rows"), "{err}");
    }

    #[test]
    fn a_column_named_twice_is_an_error_when_read() {
        let t = read(b"time,load,load,,\n1,2,3,4,5\n").unwrap();
        let err = t.column("load").err().unwrap().to_string();
        assert!(
            err.contains("the header names `load` twice (columns 2 and 3)"),
            "{err}"
        );
        assert_eq!(t.column("time").unwrap(), 0);
    }
}
