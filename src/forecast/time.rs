//! The time column of a series: reading its values (ISO date and date-time, also with `/` or
//! `.` between the date's parts and `24:00` as the next midnight, `YYYYMMDD`, `YYYYMMDDTHHMMSS` (or `YYYYMMDDHHMM`), `YYYYMMDDHH`,
//! `YYYY-MM`, `YYYYMM`, `YYMMDD`, `2024M03`, decimal years of months (`1949.0833`), years,
//! tsibble's quarters, named months and ISO weeks (`1992 Q1`, `1998 Jan`, `2014 W01`), day-first
//! and month-first dates (also with `AM`/`PM`), unix seconds or
//! milliseconds; a period `A - B` as its start), inferring the step between rows, and calendar
//! features.
//!
//! Times are naive (no time zone; an offset or `UTC` after the time is applied to give UTC) and kept as seconds since
//! 1970-01-01. Monthly, quarterly and yearly series step in calendar months, so that January 31
//! is followed by February 28; everything else steps in a fixed number of seconds.

use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveDateTime, Timelike};

/// How the values of a time column are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeFormat {
    /// `2024-03` (a month).
    YearMonth,
    /// `2024-03-17` (or `2024/03/17`, `2024.03.17`).
    Date,
    /// `2024-03-17T08:30:00`, `2024-03-17 08:30`, with optional fractional seconds and `Z` or
    /// an offset such as `+01:00` (or `2024/03/17 08:30`, `2024.03.17 08:30`).
    DateTime,
    /// [`TimeFormat::DateTime`] whose column's first value carries `Z`, `UTC` or an offset: it reads the
    /// same values and writes UTC with `Z` (`2024-03-17T08:30:00Z`). Not in [`TimeFormat::ALL`];
    /// [`TimeFormat::of_column`] picks it.
    DateTimeUtc,
    /// `20240317`.
    Compact,
    /// ISO 8601's basic date-time, `20240317T083000` or `20240317T0830`, with an optional `Z`
    /// (UTC, as the values are read either way); also with a space or nothing between date and
    /// time (`20240317 0830`, `202403170830`, `20240317083000`: [`TimeFormat::of_column`] takes
    /// twelve or fourteen digits for this where the first value's year is 1900-2199, and for unix
    /// seconds or milliseconds otherwise). Written back with the `T`.
    CompactDateTime,
    /// Integer seconds since 1970-01-01 UTC (`1710664200`; `1710664200.0` too).
    Unix,
    /// A date and an hour, `YYYYMMDDHH` (`2024031708`): ten digits, as unix seconds have from
    /// 2001 to 2286, so [`TimeFormat::of_column`] picks it only for a column of two or more
    /// different times that every one reads so, the first from a year 1900-2199 (unix seconds
    /// before 2030 begin with 1 to 18).
    CompactHour,
    /// Integer milliseconds since 1970-01-01 UTC, whole seconds (`1710664200000`): a column
    /// whose first value is an integer beyond unix seconds' range (after the year 9999).
    UnixMillis,
    /// A date with the day first, then the month and the year (`17/03/2024`, also with `.` or
    /// `-`; a two-digit year as POSIX's `%y` reads it, 69-99 in the 1900s and 00-68 in the
    /// 2000s: `17.03.24`), and an optional time (`17/03/2024 08:30`): a column where some day is
    /// above 12 in the first place. [`TimeFormat::of_column`] picks it.
    DayFirst,
    /// As [`TimeFormat::DayFirst`], the month first (`03/17/2024 08:30`): a column where some day
    /// is above 12 in the second place.
    MonthFirst,
    /// A year alone, `1949` (or `1949.0`, as tables written from floats hold it): a column whose
    /// values are all such years from 1000 to 2999, which as unix seconds would all lie in 1970's
    /// first hour.
    Year,
    /// A quarter, `1992 Q1` (as R's tsibble writes it; also `1992Q1`, `1992-Q1`): the quarter's
    /// first day.
    YearQuarter,
    /// A month named in English after the year, `1998 Jan` (as R's tsibble writes it; also
    /// `1998 January`, `1998-Jan`): the month's first day.
    YearMonthName,
    /// A month named in English before the year, `Jan 1998` (also `January 1998`, `Jan-1998`).
    MonthNameYear,
    /// An ISO week, `2014 W01` (as R's tsibble writes it; also `2014-W01`, `2014W01`): the
    /// week's Monday.
    YearWeek,
    /// A month numbered after the year and an `M`, `2024M03` (as Eurostat and the IMF write
    /// it; also `2024m3` as Stata does, `2024-M03`, `2024 M03`): the month's first day.
    YearMonthM,
    /// A month as six digits, `YYYYMM` (`202403`, as Fama and French's and CRSP's tables write
    /// it): a column whose values all read so with a year from 1700 to 2199, which as unix
    /// seconds would all lie in 1970's first weeks. [`TimeFormat::of_column`] picks it.
    CompactMonth,
    /// A date as six digits, `YYMMDD` (`240317`; the year as in [`TimeFormat::DayFirst`]): a
    /// column whose values all read so and not all as [`TimeFormat::CompactMonth`] (a daily
    /// series soon has a day above 12), or all as the same month of different years (`190101`,
    /// `190201`: 2019's months, not 1901's and 1902's Januaries). Written back as ISO dates.
    /// [`TimeFormat::of_column`] picks it.
    CompactShortDate,
    /// A month as a decimal year, `1949.0833` (January at the year, each month 1/12 after the
    /// one before; within a tenth of a month, so `1949.08` reads too), as R writes the time of a
    /// monthly or quarterly `ts` (AirPassengers' `1949.08333333333`; `1992.25`: April, the
    /// second quarter; years 1000-2999): a column whose values all read so, some with a
    /// fraction. [`TimeFormat::of_column`] picks it.
    DecimalYear,
    /// A day, a month named in English and the year (`01-Mar-2021`, `1 March 2021`, `01-MAR-21`
    /// as Oracle and SAS write dates; a two-digit year as in [`TimeFormat::DayFirst`]), and an
    /// optional time (`01-Mar-2021 08:30`). Written back as ISO date-times.
    DayMonthNameYear,
    /// A month named in English, the day and the year, as US text and spreadsheets write dates
    /// (`Mar 17, 2024`, `March 17, 2024`, `Mar 17 2024`; a two-digit year as in
    /// [`TimeFormat::DayFirst`]), and an optional time (`Mar 17, 2024 8:30 PM`). Written back as
    /// ISO date-times.
    MonthNameDayYear,
}

impl TimeFormat {
    /// The formats tried on a column, in order: the first that reads every value is the column's.
    pub const ALL: [TimeFormat; 13] = [
        TimeFormat::YearMonth,
        TimeFormat::Date,
        TimeFormat::DateTime,
        TimeFormat::Compact,
        TimeFormat::CompactDateTime,
        TimeFormat::YearQuarter,
        TimeFormat::YearMonthM,
        TimeFormat::YearMonthName,
        TimeFormat::MonthNameYear,
        TimeFormat::YearWeek,
        TimeFormat::DayMonthNameYear,
        TimeFormat::MonthNameDayYear,
        TimeFormat::Unix,
    ];

    /// The format of a column whose first value is `first`: the first of [`TimeFormat::ALL`]
    /// that reads it, [`TimeFormat::Year`] for integers that are all years 1000-2999,
    /// [`TimeFormat::CompactMonth`] or else [`TimeFormat::CompactShortDate`] for integers of six
    /// digits that all read so, [`TimeFormat::DecimalYear`] for numbers that all read so,
    /// [`TimeFormat::DateTimeUtc`] for a date-time with a zone,
    /// [`TimeFormat::UnixMillis`] for an integer beyond unix seconds' range, and for a date with
    /// the year last, the order of day and month that the values of the column (`values`, the
    /// first among them) show: the place of a number above 12 is the day's; with none, a place
    /// that is 1 in every value while the other's number changes is the day's (`01/03/2024`,
    /// `01/04/2024`: monthly, day first). `Err` says why no format reads it.
    pub fn of_column<'a>(
        first: &str,
        values: impl IntoIterator<Item = &'a str>,
    ) -> Result<TimeFormat, String> {
        // Digits alone are a date and time (YYYYMMDDHH[MM[SS]]) only from a year 1900-2199:
        // unix seconds and milliseconds of today begin with 1 to 9 (years 1000-1899, 2200-9999).
        let values: Vec<&str> = values.into_iter().collect();
        let all = |format: TimeFormat| values.iter().all(|v| format.parse(v).is_some());
        // Decimal years only where some value has a fraction: whole numbers are years or
        // seconds. No other format reads such a column.
        let fractional = values.iter().any(|v| {
            v.trim()
                .split_once('.')
                .is_some_and(|(_, f)| f.bytes().any(|b| b != b'0'))
        });
        if fractional && all(TimeFormat::DecimalYear) {
            return Ok(TimeFormat::DecimalYear);
        }
        let text = first.trim();
        let digits = all_digits(text);
        let year = text.get(..4).and_then(|y| y.parse::<u32>().ok());
        let dated = digits && year.is_some_and(|y| (1900..2200).contains(&y));
        if let Some(format) = TimeFormat::ALL
            .into_iter()
            .filter(|&f| !(digits && !dated && f == TimeFormat::CompactDateTime))
            .find(|f| f.parse(first).is_some())
        {
            if format == TimeFormat::Unix {
                // Years, months or dates rather than seconds of 1970's first weeks.
                if all(TimeFormat::Year) {
                    return Ok(TimeFormat::Year);
                }
                // Six digits: months, unless every one is the same month of another year
                // while every value reads as a date too (`190101`, `190201`: 2019's months).
                let months = all(TimeFormat::CompactMonth);
                let dates = all(TimeFormat::CompactShortDate);
                let one_month = values.iter().all(|v| v.trim().get(4..) == text.get(4..));
                if months && !(dates && one_month) {
                    return Ok(TimeFormat::CompactMonth);
                }
                if dates {
                    return Ok(TimeFormat::CompactShortDate);
                }
                if dated && hours_apart(text, values.iter().copied()) {
                    return Ok(TimeFormat::CompactHour);
                }
            }
            let start = period_start(text);
            let zoned = start.ends_with(['Z', 'z']) || zoned_datetime(&dashed(start)).is_some();
            return Ok(if format == TimeFormat::DateTime && zoned {
                TimeFormat::DateTimeUtc
            } else {
                format
            });
        }
        if TimeFormat::UnixMillis.parse(first).is_some() {
            return Ok(TimeFormat::UnixMillis);
        }
        if day_month_year(first).is_none() {
            return Err(expected(first));
        }
        // The order of day and month: the one that reads a value the other cannot, or else
        // the place whose number never changes while the other's does (a monthly series' day).
        let (mut day_first, mut month_first) = (false, false);
        let (mut a_changes, mut b_changes) = (false, false);
        let (a0, b0, _) = day_month_year(first).unwrap_or_default();
        for v in values {
            if let Some((a, b, _)) = day_month_year(v) {
                day_first |= a > 12 && b <= 12;
                month_first |= b > 12 && a <= 12;
                a_changes |= a != a0;
                b_changes |= b != b0;
            }
        }
        // The first of every month: only a monthly series (or twelve days or fewer in the first
        // half of a January) keeps one place at 1 while the other moves.
        let monthly = (!a_changes && a0 == 1 && b_changes) || (!b_changes && b0 == 1 && a_changes);
        if !day_first && !month_first && monthly {
            (day_first, month_first) = (b_changes, a_changes);
        }
        let readable = |format: TimeFormat| match format.parse(first) {
            Some(_) => Ok(format),
            None => Err(expected(first)),
        };
        match (day_first, month_first) {
            (true, false) => readable(TimeFormat::DayFirst),
            (false, true) => readable(TimeFormat::MonthFirst),
            (true, true) => Err(format!(
                "dates with the year last, some with the day first and some with the month first: write ISO dates (2024-03-17), found {first:?} first"
            )),
            (false, false) => Err(format!(
                "dates with the year last and no day above 12, so the day and the month cannot be told apart: write ISO dates (2024-03-17), found {first:?} first"
            )),
        }
    }

    /// Reads one value as seconds since 1970-01-01, or `None` when it is not in this format.
    /// A period written as its start and end (`01.01.2015 00:00 - 01.01.2015 01:00`, as ENTSO-E
    /// writes its tables), both in this format, reads as its start; a time of day `24:00` (or
    /// `24:00:00`) is the next day's midnight.
    pub fn parse(self, text: &str) -> Option<i64> {
        let text = text.trim();
        if let Some((start, end)) = text.split_once(" - ") {
            // The end only as a check: through a clock's repeated hour it may read earlier.
            self.parse(end)?;
            return self.parse(start);
        }
        match end_of_day(text) {
            Some(midnight) => self.parse_one(&midnight).map(|t| t + 86_400),
            None => self.parse_one(text),
        }
    }

    /// [`TimeFormat::parse`] of a single time.
    fn parse_one(self, text: &str) -> Option<i64> {
        match self {
            TimeFormat::YearMonth => {
                let (y, m) = text.split_once('-')?;
                if y.len() != 4 || !(1..=2).contains(&m.len()) || !all_digits(m) {
                    return None;
                }
                let date = NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, 1)?;
                Some(seconds(date.and_hms_opt(0, 0, 0)?))
            }
            TimeFormat::Date => {
                let text = dashed(text);
                let parts: Vec<&str> = text.split('-').collect();
                let widths = parts.iter().map(|p| p.len()).collect::<Vec<_>>();
                let padded = matches!(widths.as_slice(), [4, 1..=2, 1..=2]);
                if !padded || !parts.iter().all(|p| all_digits(p)) {
                    return None;
                }
                let date = NaiveDate::parse_from_str(&text, "%Y-%m-%d").ok()?;
                Some(seconds(date.and_hms_opt(0, 0, 0)?))
            }
            TimeFormat::DateTime | TimeFormat::DateTimeUtc => {
                let text = dashed(text);
                if let Some(t) = zoned_datetime(&text) {
                    return Some(t);
                }
                naive_datetime(text.trim_end_matches('Z'))
            }
            TimeFormat::Compact => {
                if text.len() != 8 || !all_digits(text) {
                    return None;
                }
                let date = NaiveDate::parse_from_str(text, "%Y%m%d").ok()?;
                Some(seconds(date.and_hms_opt(0, 0, 0)?))
            }
            TimeFormat::CompactDateTime => {
                let text = text.strip_suffix(['Z', 'z']).unwrap_or(text);
                let (date, time) = match text.split_once(['T', 't', ' ']) {
                    Some(parts) => parts,
                    None if all_digits(text) && matches!(text.len(), 12 | 14) => text.split_at(8),
                    None => return None,
                };
                // `0830`, `083000`, or with colons (`08:30`, `08:30:00`, as a date column and a
                // time column joined give them).
                let format = match (time.len(), time.contains(':')) {
                    (6, false) => "%H%M%S",
                    (4, false) => "%H%M",
                    (5, true) => "%H:%M",
                    (8, true) => "%H:%M:%S",
                    _ => return None,
                };
                if !time.bytes().all(|b| b.is_ascii_digit() || b == b':') {
                    return None;
                }
                let time = chrono::NaiveTime::parse_from_str(time, format).ok()?;
                Some(TimeFormat::Compact.parse(date)? + i64::from(time.num_seconds_from_midnight()))
            }
            TimeFormat::Unix => {
                let s: i64 = match text.parse() {
                    Ok(s) => s,
                    // A float with no fraction, as tables written from floats hold them.
                    Err(_) => {
                        let (whole, fraction) = text.split_once('.')?;
                        if fraction.is_empty() || !fraction.bytes().all(|b| b == b'0') {
                            return None;
                        }
                        whole.parse().ok()?
                    }
                };
                UNIX_SECONDS.contains(&s).then_some(s)
            }
            TimeFormat::CompactHour => {
                if text.len() != 10 || !all_digits(text) {
                    return None;
                }
                let hour: i64 = text[8..].parse().ok()?;
                if hour >= 24 {
                    return None;
                }
                Some(TimeFormat::Compact.parse(&text[..8])? + hour * 3600)
            }
            TimeFormat::UnixMillis => {
                let ms: i64 = text.parse().ok()?;
                (ms % 1000 == 0 && !UNIX_SECONDS.contains(&ms))
                    .then_some(ms / 1000)
                    .filter(|s| UNIX_SECONDS.contains(s))
            }
            TimeFormat::DayFirst | TimeFormat::MonthFirst => {
                let (a, b, rest) = day_month_year(text)?;
                let (day, month) = if self == TimeFormat::DayFirst {
                    (a, b)
                } else {
                    (b, a)
                };
                let (year, time) = match rest.split_once([' ', 'T']) {
                    Some((y, t)) => (y, Some(t.trim())),
                    None => (rest, None),
                };
                let date = NaiveDate::from_ymd_opt(full_year(year)?, month, day)?;
                Some(seconds(date.and_time(clock(time)?)))
            }
            TimeFormat::DayMonthNameYear => {
                // `01-Mar-2021`, `1 March 2021`, then an optional time after a space.
                let mut parts = text.splitn(3, [' ', '-']);
                let (day, name, rest) = (parts.next()?, parts.next()?, parts.next()?);
                if !(1..=2).contains(&day.len()) || !all_digits(day) {
                    return None;
                }
                let (year, time) = match rest.split_once(' ') {
                    Some((y, t)) => (y, Some(t.trim())),
                    None => (rest, None),
                };
                let date = NaiveDate::from_ymd_opt(
                    full_year(year)?,
                    month_named(name)?,
                    day.parse().ok()?,
                )?;
                Some(seconds(date.and_time(clock(time)?)))
            }
            TimeFormat::MonthNameDayYear => {
                let (name, rest) = text.split_once(' ')?;
                let (day, rest) = rest.trim_start().split_once([',', ' '])?;
                if !(1..=2).contains(&day.len()) || !all_digits(day) {
                    return None;
                }
                let rest = rest.trim_start_matches([',', ' ']);
                let (year, time) = match rest.split_once(' ') {
                    Some((y, t)) => (y, Some(t.trim())),
                    None => (rest, None),
                };
                let date = NaiveDate::from_ymd_opt(
                    full_year(year)?,
                    month_named(name)?,
                    day.parse().ok()?,
                )?;
                Some(seconds(date.and_time(clock(time)?)))
            }
            TimeFormat::Year => {
                let text = match text.split_once('.') {
                    Some((year, zeros))
                        if !zeros.is_empty() && zeros.bytes().all(|b| b == b'0') =>
                    {
                        year
                    }
                    Some(_) => return None,
                    None => text,
                };
                if text.len() != 4 || !all_digits(text) {
                    return None;
                }
                let year: i32 = text.parse().ok()?;
                if !(1000..3000).contains(&year) {
                    return None;
                }
                Some(seconds(
                    NaiveDate::from_ymd_opt(year, 1, 1)?.and_hms_opt(0, 0, 0)?,
                ))
            }
            TimeFormat::YearQuarter => {
                let (year, rest) = year_and_rest(text)?;
                let q = rest.strip_prefix(['Q', 'q'])?;
                let q: u32 = (q.len() == 1 && all_digits(q)).then(|| q.parse().ok())??;
                if !(1..=4).contains(&q) {
                    return None;
                }
                let date = NaiveDate::from_ymd_opt(year, 3 * q - 2, 1)?;
                Some(seconds(date.and_hms_opt(0, 0, 0)?))
            }
            TimeFormat::YearMonthName => {
                let (year, rest) = year_and_rest(text)?;
                let date = NaiveDate::from_ymd_opt(year, month_named(rest)?, 1)?;
                Some(seconds(date.and_hms_opt(0, 0, 0)?))
            }
            TimeFormat::MonthNameYear => {
                let (name, year) = text.split_once([' ', '-'])?;
                let year = year.trim();
                if year.len() != 4 || !all_digits(year) {
                    return None;
                }
                let date = NaiveDate::from_ymd_opt(year.parse().ok()?, month_named(name)?, 1)?;
                Some(seconds(date.and_hms_opt(0, 0, 0)?))
            }
            TimeFormat::YearMonthM => {
                let (year, rest) = year_and_rest(text)?;
                let m = rest.strip_prefix(['M', 'm'])?;
                if !(1..=2).contains(&m.len()) || !all_digits(m) {
                    return None;
                }
                let date = NaiveDate::from_ymd_opt(year, m.parse().ok()?, 1)?;
                Some(seconds(date.and_hms_opt(0, 0, 0)?))
            }
            TimeFormat::CompactMonth => {
                if text.len() != 6 || !all_digits(text) {
                    return None;
                }
                let year: i32 = text[..4].parse().ok()?;
                if !(1700..2200).contains(&year) {
                    return None;
                }
                let date = NaiveDate::from_ymd_opt(year, text[4..].parse().ok()?, 1)?;
                Some(seconds(date.and_hms_opt(0, 0, 0)?))
            }
            TimeFormat::DecimalYear => {
                let (whole, fraction) = text.split_once('.').unwrap_or((text, "0"));
                if whole.len() != 4 || !all_digits(whole) || !all_digits(fraction) {
                    return None;
                }
                let value: f64 = text.parse().ok()?;
                if !(1000.0..3000.0).contains(&value) {
                    return None;
                }
                let months = (value - value.floor()) * 12.0;
                if (months - months.round()).abs() > 0.1 {
                    return None;
                }
                let date = NaiveDate::from_ymd_opt(value.floor() as i32, 1, 1)?
                    .checked_add_months(chrono::Months::new(months.round() as u32))?;
                Some(seconds(date.and_hms_opt(0, 0, 0)?))
            }
            TimeFormat::CompactShortDate => {
                if text.len() != 6 || !all_digits(text) {
                    return None;
                }
                let date = NaiveDate::from_ymd_opt(
                    full_year(&text[..2])?,
                    text[2..4].parse().ok()?,
                    text[4..].parse().ok()?,
                )?;
                Some(seconds(date.and_hms_opt(0, 0, 0)?))
            }
            TimeFormat::YearWeek => {
                let (year, rest) = year_and_rest(text)?;
                let w = rest.strip_prefix(['W', 'w'])?;
                if !(1..=2).contains(&w.len()) || !all_digits(w) {
                    return None;
                }
                let date = NaiveDate::from_isoywd_opt(year, w.parse().ok()?, chrono::Weekday::Mon)?;
                Some(seconds(date.and_hms_opt(0, 0, 0)?))
            }
        }
    }

    /// Whether a column in this format whose first value is `first` holds a local clock's times
    /// (no `Z` or offset, not unix time), which repeat an hour where daylight saving time ends.
    pub fn is_local_clock(self, first: &str) -> bool {
        let utc = matches!(
            self,
            TimeFormat::DateTimeUtc | TimeFormat::Unix | TimeFormat::UnixMillis
        );
        !utc && !period_start(first.trim()).ends_with(['Z', 'z'])
    }

    /// A time as this format writes it (`Unix` as seconds, `UnixMillis` as milliseconds, day-
    /// and month-first dates as ISO date-times; the others as they are read).
    pub fn format(self, secs: i64) -> String {
        let t = datetime(secs);
        match self {
            TimeFormat::YearMonth => t.format("%Y-%m").to_string(),
            TimeFormat::Date => t.format("%Y-%m-%d").to_string(),
            TimeFormat::Compact => t.format("%Y%m%d").to_string(),
            TimeFormat::CompactDateTime => t.format("%Y%m%dT%H%M%S").to_string(),
            TimeFormat::CompactHour => t.format("%Y%m%d%H").to_string(),
            TimeFormat::DateTime => t.format("%Y-%m-%dT%H:%M:%S").to_string(),
            TimeFormat::DateTimeUtc => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            TimeFormat::Unix => secs.to_string(),
            TimeFormat::UnixMillis => (secs * 1000).to_string(),
            // ISO, which no reader takes the wrong way round.
            TimeFormat::DayFirst
            | TimeFormat::MonthFirst
            | TimeFormat::DayMonthNameYear
            | TimeFormat::MonthNameDayYear => t.format("%Y-%m-%dT%H:%M:%S").to_string(),
            TimeFormat::Year => t.format("%Y").to_string(),
            TimeFormat::YearQuarter => format!("{} Q{}", t.year(), (t.month() - 1) / 3 + 1),
            TimeFormat::YearMonthName => t.format("%Y %b").to_string(),
            TimeFormat::MonthNameYear => t.format("%b %Y").to_string(),
            TimeFormat::YearMonthM => t.format("%YM%m").to_string(),
            TimeFormat::CompactMonth => t.format("%Y%m").to_string(),
            // ISO: a two-digit year reads back in another century after 2068.
            TimeFormat::CompactShortDate => t.format("%Y-%m-%d").to_string(),
            TimeFormat::DecimalYear => {
                let year = f64::from(t.year()) + f64::from(t.month0()) / 12.0;
                let text = format!("{year:.6}");
                text.trim_end_matches('0').trim_end_matches('.').to_string()
            }
            TimeFormat::YearWeek => {
                let week = t.date().iso_week();
                format!("{} W{:02}", week.year(), week.week())
            }
        }
    }
}

/// The start of a period written `A - B`, whose zone is the period's; `text` itself otherwise.
fn period_start(text: &str) -> &str {
    text.split_once(" - ")
        .map_or(text, |(start, _)| start.trim_end())
}

/// The error of a time column whose first value `first` no format reads.
fn expected(first: &str) -> String {
    format!(
        "expected an ISO date (2024-03-17) or date-time (2024-03-17T08:30:00), YYYYMMDD, YYYYMMDDTHHMMSS (or YYYYMMDDHHMM), YYYY-MM, YYYYMM, YYMMDD, 2024M03, a month as a decimal year (1949.0833, as R writes a ts's time), a year (1949), a quarter (1992 Q1), a month by name (1998 Jan, Jan 1998, 01-Mar-2021, Mar 17, 2024), an ISO week (2014 W01), a date with the year last (17/03/2024, 17/03/24), unix seconds, or a period as its start and end (2024-03-17 08:00 - 2024-03-17 09:00), found {first:?}"
    )
}

/// A year of four digits, or of two as POSIX's `%y` reads them (69-99: 1969-1999; 00-68:
/// 2000-2068).
fn full_year(text: &str) -> Option<i32> {
    if !all_digits(text) {
        return None;
    }
    let y: i32 = text.parse().ok()?;
    match text.len() {
        4 => Some(y),
        2 if y >= 69 => Some(1900 + y),
        2 => Some(2000 + y),
        _ => None,
    }
}

/// The time of day after a date, if any (midnight without one): a 24-hour clock (`08:30`,
/// `08:30:00`, with fractional seconds) or a 12-hour one with `AM`/`PM` (`8:30:00 PM`, as
/// spreadsheets write them).
fn clock(time: Option<&str>) -> Option<chrono::NaiveTime> {
    match time {
        None => Some(chrono::NaiveTime::MIN),
        Some(t) => ["%I:%M:%S%.f %p", "%I:%M %p", "%H:%M:%S%.f", "%H:%M"]
            .iter()
            .find_map(|f| chrono::NaiveTime::parse_from_str(t, f).ok()),
    }
}

/// Whether `text` is one or more ASCII digits and nothing else.
fn all_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// A year of four digits at the start of `text` and what follows it after an optional space or
/// `-` (`1992 Q1`, `1992-Q1`, `1992Q1`).
fn year_and_rest(text: &str) -> Option<(i32, &str)> {
    let year = text.get(..4).filter(|y| all_digits(y))?;
    let rest = &text[4..];
    let rest = rest.strip_prefix([' ', '-']).unwrap_or(rest);
    Some((year.parse().ok()?, rest))
}

/// The number of a month named in English, in full or by its first three letters, in any case.
fn month_named(name: &str) -> Option<u32> {
    const NAMES: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let name = name.trim().to_ascii_lowercase();
    let found = NAMES
        .iter()
        .position(|full| name == *full || (name.len() == 3 && full.starts_with(&name)))?;
    Some(found as u32 + 1)
}

/// Seconds since 1970 of an ISO date-time that carries its zone: RFC 3339 (`2024-03-17T08:30:00+01:00`,
/// also with a space), an offset without the colon or minutes (`+0100`, `+01`, also after a
/// space), or `UTC`/`GMT` after the time. `None` for a date-time with no zone.
fn zoned_datetime(text: &str) -> Option<i64> {
    if let Ok(t) =
        DateTime::parse_from_rfc3339(text).or_else(|_| DateTime::parse_from_rfc2822(text))
    {
        return Some(t.timestamp());
    }
    let named = ["UTC", "GMT"]
        .iter()
        .find_map(|z| text.strip_suffix(z).filter(|t| !t.is_empty()));
    if let Some(naive) = named {
        let naive = naive.trim_end();
        return naive_datetime(naive);
    }
    // Only a sign after the time's minutes or seconds can open an offset (the date's `-`s come
    // before them).
    let sign = text.rfind(['+', '-']).filter(|&i| i > 10)?;
    let (naive, offset) = text.split_at(sign);
    let naive = naive.trim_end();
    let digits = &offset[1..];
    let digits = digits.replace(':', "");
    if !(digits.len() == 2 || digits.len() == 4) || !all_digits(&digits) {
        return None;
    }
    let (h, m): (i64, i64) = (digits[..2].parse().ok()?, digits[2..].parse().unwrap_or(0));
    if h > 23 || m > 59 {
        return None;
    }
    let east = (h * 3600 + m * 60) * if offset.starts_with('-') { -1 } else { 1 };
    naive_datetime(naive).map(|t| t - east)
}

/// Seconds since 1970 of an ISO date-time with no zone (`2024-03-17T08:30:00`, `2024-03-17
/// 08:30`, with optional fractional seconds; also `2024-03-17 8:30 PM`).
fn naive_datetime(text: &str) -> Option<i64> {
    [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %I:%M:%S%.f %p",
        "%Y-%m-%d %I:%M %p",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
    .map(seconds)
}

/// Whether a column whose first value is `first` holds two or more different times and every one
/// of `values` reads as `YYYYMMDDHH`.
fn hours_apart<'a>(first: &str, values: impl IntoIterator<Item = &'a str>) -> bool {
    let mut differ = false;
    for v in values {
        if TimeFormat::CompactHour.parse(v).is_none() {
            return false;
        }
        differ |= v.trim() != first;
    }
    differ
}

/// Unix seconds of the years 1 to 9999, so that every value is a date.
const UNIX_SECONDS: std::ops::RangeInclusive<i64> = -62_135_596_800..=253_402_300_799;

/// `text` with its time of day `24:00` (or `24:00:00`, after a space or a `T`; ISO 8601's end
/// of the day) written `00:00`, or `None` when it has no such time.
fn end_of_day(text: &str) -> Option<String> {
    let clock = ["24:00:00", "24:00"]
        .iter()
        .find_map(|c| text.strip_suffix(c).map(|date| (date, c.len())))?;
    let (date, width) = clock;
    date.ends_with([' ', 'T'])
        .then(|| format!("{date}{}", &"00:00:00"[..width]))
}

/// `text` with `/` or `.` between an ISO date's parts (`2024/03/17...`, `2024/3/7...`,
/// `2024.03.17`) as `-`.
fn dashed(text: &str) -> std::borrow::Cow<'_, str> {
    let b = text.as_bytes();
    if b.len() > 5 && matches!(b[4], b'/' | b'.') && b[..4].iter().all(u8::is_ascii_digit) {
        // The date's two separators: the one after the year and the next one.
        let separator = b[4] as char;
        let second = text[5..].find(separator).map(|i| i + 5);
        let mut owned = text.to_string();
        owned.replace_range(4..5, "-");
        if let Some(i) = second {
            owned.replace_range(i..i + 1, "-");
        }
        std::borrow::Cow::Owned(owned)
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// The first two numbers of a date written `a/b/yyyy...` (or with `.` or `-`; one or two digits
/// each) and what follows the second separator.
fn day_month_year(text: &str) -> Option<(u32, u32, &str)> {
    let text = text.trim();
    let sep = text.find(['/', '.', '-'])?;
    let separator = text.as_bytes()[sep] as char;
    let (a, rest) = text.split_at(sep);
    let (b, rest) = rest[1..].split_once(separator)?;
    let number = |s: &str| -> Option<u32> {
        (!s.is_empty() && s.len() <= 2 && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let year_digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let ends = rest[year_digits..].is_empty() || rest[year_digits..].starts_with([' ', 'T']);
    (matches!(year_digits, 2 | 4) && ends).then_some((number(a)?, number(b)?, rest))
}

fn seconds(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp()
}

fn datetime(secs: i64) -> NaiveDateTime {
    DateTime::from_timestamp(secs, 0)
        .expect("a time read from a column is in chrono's range")
        .naive_utc()
}

/// The step between consecutive rows of a regular series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frequency {
    /// Calendar months (1 monthly, 3 quarterly, 12 yearly).
    Months(u32),
    /// A fixed number of seconds (60 a minute, 1800 half-hourly, 86400 daily, 604800 weekly).
    Seconds(i64),
}

impl Frequency {
    /// The time `n` steps after `start` (`n` may be negative).
    pub fn advance(self, start: i64, n: i64) -> i64 {
        match self {
            Frequency::Seconds(s) => start + n * s,
            Frequency::Months(m) => {
                let t = datetime(start);
                let months = n * i64::from(m);
                let moved = if months >= 0 {
                    t.checked_add_months(Months::new(months as u32))
                } else {
                    t.checked_sub_months(Months::new((-months) as u32))
                };
                seconds(moved.expect("a month step stays in chrono's range"))
            }
        }
    }

    /// How many steps `later` is after `start`, when it lies on this frequency's grid.
    pub fn steps_between(self, start: i64, later: i64) -> Option<i64> {
        match self {
            Frequency::Seconds(s) => ((later - start) % s == 0).then_some((later - start) / s),
            Frequency::Months(m) => {
                let (a, b) = (datetime(start), datetime(later));
                let months =
                    (b.year() - a.year()) as i64 * 12 + b.month() as i64 - a.month() as i64;
                let n = months.div_euclid(i64::from(m));
                (months.rem_euclid(i64::from(m)) == 0 && self.advance(start, n) == later)
                    .then_some(n)
            }
        }
    }

    /// The frequency of sorted, distinct `times`: calendar months when every time falls on the
    /// same day of the month and hour as the first (the day clipped at the month's end) and the
    /// month steps share a divisor; otherwise the smallest step in seconds. `None` for fewer
    /// than two times.
    pub fn infer(times: &[i64]) -> Option<Frequency> {
        if times.len() < 2 {
            return None;
        }
        let first = datetime(times[0]);
        let same_day = times.iter().all(|&t| {
            let d = datetime(t);
            d.time() == first.time()
                && (d.day() == first.day() || (d.day() < first.day() && last_day_of_month(d)))
        });
        let month_of = |t: i64| {
            let d = datetime(t);
            d.year() as i64 * 12 + d.month() as i64
        };
        let months: Vec<i64> = times
            .windows(2)
            .map(|w| month_of(w[1]) - month_of(w[0]))
            .collect();
        if same_day && months.iter().all(|&m| m > 0) {
            let step = months.iter().copied().fold(0, gcd);
            return Some(Frequency::Months(step as u32));
        }
        let smallest = times.windows(2).map(|w| w[1] - w[0]).min()?;
        Some(Frequency::Seconds(smallest))
    }

    /// The length of a step in seconds (a calendar month: a twelfth of 365 days).
    pub fn step_secs(self) -> i64 {
        match self {
            Frequency::Months(m) => i64::from(m) * 365 * 86_400 / 12,
            Frequency::Seconds(s) => s,
        }
    }

    /// The frequency as a user would name it (`monthly`, `30 minutes`, `daily`, ...).
    pub fn describe(self) -> String {
        match self {
            Frequency::Months(1) => "monthly".into(),
            Frequency::Months(3) => "quarterly".into(),
            Frequency::Months(12) => "yearly".into(),
            Frequency::Months(m) => format!("every {m} months"),
            Frequency::Seconds(86_400) => "daily".into(),
            Frequency::Seconds(604_800) => "weekly".into(),
            Frequency::Seconds(3_600) => "hourly".into(),
            Frequency::Seconds(s) if s % 86_400 == 0 => format!("every {} days", s / 86_400),
            Frequency::Seconds(s) if s % 3_600 == 0 => format!("every {} hours", s / 3_600),
            Frequency::Seconds(s) if s % 60 == 0 => format!("every {} minutes", s / 60),
            Frequency::Seconds(s) => format!("every {s} seconds"),
        }
    }
}

fn last_day_of_month(d: NaiveDateTime) -> bool {
    d.date()
        .succ_opt()
        .is_none_or(|next| next.month() != d.month())
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a.abs() } else { gcd(b, a % b) }
}

/// Calendar features of a time, each as `sin` and `cos` of its phase: hour of day (with
/// minutes), day of week, month of year (with the day). Only the cycles shorter than the series'
/// span and longer than its step carry information; [`calendar_cycles`] picks them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cycle {
    /// 24 hours.
    Day,
    /// 7 days.
    Week,
    /// 12 months.
    Year,
}

impl Cycle {
    /// The phase of `secs` in this cycle, in `[0, 1)`.
    pub fn phase(self, secs: i64) -> f64 {
        let t = datetime(secs);
        match self {
            Cycle::Day => f64::from(t.num_seconds_from_midnight()) / 86_400.0,
            Cycle::Week => {
                (f64::from(t.weekday().num_days_from_monday())
                    + f64::from(t.num_seconds_from_midnight()) / 86_400.0)
                    / 7.0
            }
            Cycle::Year => (f64::from(t.ordinal0()) + 0.5) / 366.0,
        }
    }
}

/// The times of `n` rows after sorted, distinct `times` whose rows are taken as steps
/// (`gaps = "ignore"`): on the grid of their steps (the greatest common divisor of the steps
/// between rows), keeping only the slots of the week (weekday and time of day) that the rows
/// hold, so that business days continue on the next business day and business hours on the next
/// opening hour; by calendar months for monthly rows. A grid that does not divide the week has
/// no weekly slots: its plain steps. Fewer than two times: one day apart.
pub fn continue_rows(times: &[i64], n: usize) -> Vec<i64> {
    let Some(&last) = times.last() else {
        return Vec::new();
    };
    if let Some(Frequency::Months(m)) = Frequency::infer(times) {
        let f = Frequency::Months(m);
        return (1..=n as i64).map(|k| f.advance(last, k)).collect();
    }
    let step = times.windows(2).map(|w| w[1] - w[0]).fold(0, gcd);
    if step <= 0 {
        return (1..=n as i64).map(|k| last + k * 86_400).collect();
    }
    let week = 7 * 86_400;
    if week % step != 0 {
        return (1..=n as i64).map(|k| last + k * step).collect();
    }
    let slot = |t: i64| {
        let d = datetime(t);
        (d.weekday(), d.num_seconds_from_midnight())
    };
    let held: std::collections::HashSet<_> = times.iter().map(|&t| slot(t)).collect();
    // The grid's slots repeat every week, and the last row's slot is held: each row is found
    // within a week of steps.
    let mut out = Vec::with_capacity(n);
    let mut t = last;
    while out.len() < n {
        t += step;
        if held.contains(&slot(t)) {
            out.push(t);
        }
    }
    out
}

/// The calendar cycles that carry information in a series of this frequency spanning
/// `span_secs` (from its first step to its last): a cycle longer than one step (an hourly series
/// has days, weeks and years; a monthly one only years) that the series' steps cover at least
/// twice, so that each phase is seen more than once (a year's phase in a series of one summer
/// only tells the days apart, which a model can memorise and not carry forward).
pub fn calendar_cycles(frequency: Frequency, span_secs: i64) -> Vec<Cycle> {
    const DAY: i64 = 86_400;
    let step = frequency.step_secs();
    // The time the steps cover: a step more than the span; calendar months counted whole.
    let covered = match frequency {
        Frequency::Months(m) => {
            let month = Frequency::Months(1).step_secs();
            let months = (span_secs as f64 / (365.2425 * 86_400.0 / 12.0)).round() as i64;
            (months + i64::from(m)) * month
        }
        Frequency::Seconds(s) => span_secs + s,
    };
    [
        (Cycle::Day, DAY),
        (Cycle::Week, 7 * DAY),
        (Cycle::Year, 365 * DAY),
    ]
    .into_iter()
    .filter(|&(_, length)| step < length && covered >= 2 * length)
    .map(|(cycle, _)| cycle)
    .collect()
}

/// The sine and cosine of the harmonics `2..=order` of the year's phase at a window's first
/// horizon step, read from the calendar's yearly sine and cosine there: a yearly profile finer
/// than the calendar's first harmonic draws (Prophet's yearly seasonality), such as a holiday
/// season's dip. A regular series' later horizon steps lie a fixed shift of the year after the
/// first, so one weight per horizon step and term draws each step's own profile. The linear
/// base reads them ([`crate::forecast::linear::Terms::year`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct YearHarmonics {
    /// The known column holding the sine of the year's phase; the next holds its cosine.
    pub column: usize,
    /// The highest harmonic.
    pub order: usize,
}

impl YearHarmonics {
    /// The harmonics of a series of this frequency whose year's sine is known column `column`:
    /// up to the 10th, as Prophet's yearly seasonality, and at most half the steps of a year (a
    /// monthly series' 6 tell its months apart). `None` when that leaves no harmonic beyond
    /// the first.
    pub fn of(frequency: Frequency, column: usize) -> Option<YearHarmonics> {
        let steps = 365 * 86_400 / frequency.step_secs().max(1);
        let order = (steps / 2).min(10) as usize;
        (order >= 2).then_some(YearHarmonics { column, order })
    }

    /// The same harmonics of the week's phase, for a series whose week's sine is known column
    /// `column`: up to the 10th (the week's phase also tells the hours of its days apart, and
    /// its 7th harmonic is the day's first), and at most half the steps of a week (a daily
    /// series' 3). `None` when that leaves no harmonic beyond the first. The linear base reads
    /// them ([`crate::forecast::linear::Terms::week`]).
    pub fn week(frequency: Frequency, column: usize) -> Option<YearHarmonics> {
        let steps = 7 * 86_400 / frequency.step_secs().max(1);
        let order = (steps / 2).min(10) as usize;
        (order >= 2).then_some(YearHarmonics { column, order })
    }

    /// Terms per window: a sine and a cosine of each harmonic from the second.
    pub fn count(&self) -> usize {
        2 * self.order.saturating_sub(1)
    }

    /// Appends the terms of one window's horizon `known` `[horizon, known columns]`
    /// (row-major) to `out`, by the angle-addition recurrence from the first step's sine and
    /// cosine (as [`crate::model::Forecaster`] computes them).
    pub fn extend(&self, known: &[f32], out: &mut Vec<f64>) {
        let (s1, c1) = (
            f64::from(known[self.column]),
            f64::from(known[self.column + 1]),
        );
        let (mut s, mut c) = (s1, c1);
        for _ in 2..=self.order {
            (s, c) = (s * c1 + c * s1, c * c1 - s * s1);
            out.push(s);
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_reads_its_values_and_no_other() {
        let day = 1_710_633_600; // 2024-03-17
        let half_past = day + 8 * 3600 + 1800;
        let cases = [
            (TimeFormat::YearMonth, "2024-03", 1_709_251_200),
            (TimeFormat::Date, "2024-03-17", day),
            (TimeFormat::DateTime, "2024-03-17T08:30:00", half_past),
            (TimeFormat::DateTime, "2024-03-17 08:30", half_past),
            (TimeFormat::DateTime, "2024-03-17T08:30:00Z", half_past),
            (TimeFormat::DateTime, "2024-03-17T09:30:00+01:00", half_past),
            (TimeFormat::Compact, "20240317", day),
            (TimeFormat::CompactDateTime, "20240317T083000", half_past),
            (TimeFormat::CompactDateTime, "20240317T0830Z", half_past),
            (TimeFormat::CompactDateTime, "20240317 0830", half_past),
            (TimeFormat::CompactDateTime, "202403170830", half_past),
            (TimeFormat::CompactDateTime, "20240317083000", half_past),
            (TimeFormat::YearMonthM, "2024M03", 1_709_251_200),
            (TimeFormat::MonthNameDayYear, "Mar 17, 2024", day),
            (TimeFormat::Unix, "1710633600", day),
        ];
        for (format, text, secs) in cases {
            assert_eq!(format.parse(text), Some(secs), "{format:?} {text}");
            for other in TimeFormat::ALL {
                if other != format && other != TimeFormat::Unix {
                    assert_eq!(other.parse(text), None, "{other:?} read {text}");
                }
            }
        }
        for bad in [
            "2024-13",
            "2024-02-30",
            "20241301",
            "17/03/2024",
            "20240317T2530",
            "20240317T08",
            "20240317T083000+0100",
            "202403172530",
            "2024031708300",
            "20240317 0830:",
            "2024M13",
            "2024M003",
            "",
            "x",
        ] {
            // Any integer is unix seconds: a column's format comes from its first row.
            assert!(
                TimeFormat::ALL
                    .iter()
                    .filter(|&&f| f != TimeFormat::Unix || bad.contains(['-', '/']))
                    .all(|f| f.parse(bad).is_none()),
                "{bad:?} was read"
            );
        }
        assert_eq!(TimeFormat::Date.format(day), "2024-03-17");
        assert_eq!(TimeFormat::Compact.format(day), "20240317");
        assert_eq!(
            TimeFormat::CompactDateTime.format(half_past),
            "20240317T083000"
        );
        // A column written with a zone is written back in UTC with `Z`; one without, without.
        for (first, written) in [
            ("2024-03-17T08:30:00Z", "2024-03-17T08:30:00Z"),
            ("2024-03-17T09:30:00+01:00", "2024-03-17T08:30:00Z"),
            ("2024-03-17T08:30:00", "2024-03-17T08:30:00"),
            ("2024-03-17 08:30", "2024-03-17T08:30:00"),
            ("202403170830", "20240317T083000"),
            ("20240317 083000", "20240317T083000"),
        ] {
            let format = TimeFormat::of_column(first, [first]).unwrap();
            assert_eq!(format.parse(first), Some(half_past), "{first}");
            assert_eq!(format.format(half_past), written, "{first}");
        }
        assert_eq!(
            TimeFormat::of_column("2024-03", ["2024-03"]),
            Ok(TimeFormat::YearMonth)
        );
        // Ten digits: a date and an hour where every value reads so, else unix seconds.
        let hours = ["2024031722", "2024031723", "2024031800", "2024031801"];
        let format = TimeFormat::of_column(hours[0], hours).unwrap();
        assert_eq!(format, TimeFormat::CompactHour);
        let read: Vec<i64> = hours.iter().map(|h| format.parse(h).unwrap()).collect();
        assert_eq!(read, [22, 23, 24, 25].map(|h| day + h * 3600));
        assert_eq!(format.format(day + 25 * 3600), "2024031801");
        // Unix seconds five minutes apart that read as YYYYMMDDHH of the year 1578 for 11 rows.
        let unix: Vec<String> = (0..11)
            .map(|k| (1_578_050_100 + k * 300).to_string())
            .collect();
        assert!(
            unix.iter()
                .all(|u| TimeFormat::CompactHour.parse(u).is_some())
        );
        let column = TimeFormat::of_column(&unix[0], unix.iter().map(String::as_str));
        assert_eq!(column, Ok(TimeFormat::Unix));
        // One row, or the same value repeated, is unix seconds as before.
        assert_eq!(
            TimeFormat::of_column("2024031708", ["2024031708"]),
            Ok(TimeFormat::Unix)
        );
        // Twelve digits: a date and time from 1900 to 2199, else milliseconds (2001-01-01's,
        // which as YYYYMMDDHHMM would be the year 9783) or seconds.
        let ms = ["978307200000", "978393600000"];
        assert_eq!(TimeFormat::of_column(ms[0], ms), Ok(TimeFormat::UnixMillis));
        assert_eq!(
            TimeFormat::of_column("202403170830", ["202403170830"]),
            Ok(TimeFormat::CompactDateTime)
        );
    }

    #[test]
    fn slashes_milliseconds_and_the_order_of_day_and_month() {
        let day = 1_710_633_600; // 2024-03-17
        let half_past = day + 8 * 3600 + 1800;
        let column = |values: &[&str]| TimeFormat::of_column(values[0], values.iter().copied());
        // The year first with slashes reads as ISO and is written as ISO.
        for (text, format, secs, written) in [
            ("2024/03/17", TimeFormat::Date, day, "2024-03-17"),
            (
                "2024/03/17 08:30",
                TimeFormat::DateTime,
                half_past,
                "2024-03-17T08:30:00",
            ),
            (
                "2024/03/17T08:30:00",
                TimeFormat::DateTime,
                half_past,
                "2024-03-17T08:30:00",
            ),
            (
                "1710664200000",
                TimeFormat::UnixMillis,
                half_past,
                "1710664200000",
            ),
            ("1710664200.0", TimeFormat::Unix, half_past, "1710664200"),
        ] {
            assert_eq!(column(&[text]), Ok(format), "{text}");
            assert_eq!(format.parse(text), Some(secs), "{text}");
            assert_eq!(format.format(secs), written, "{text}");
        }
        // Milliseconds that are not whole seconds, and a fraction of a second, are not read.
        assert_eq!(TimeFormat::UnixMillis.parse("1710664200500"), None);
        assert_eq!(TimeFormat::Unix.parse("1710664200.5"), None);
        // The year last: the column's values tell the order of day and month.
        let day_first = ["01/03/2024", "17/03/2024 08:30"];
        assert_eq!(column(&day_first), Ok(TimeFormat::DayFirst));
        assert_eq!(
            TimeFormat::DayFirst.parse("17/03/2024 08:30"),
            Some(half_past)
        );
        assert_eq!(TimeFormat::DayFirst.parse("17.03.2024"), Some(day));
        assert_eq!(
            TimeFormat::DayFirst.parse("17-3-2024 08:30:00"),
            Some(half_past)
        );
        assert_eq!(
            TimeFormat::DayFirst.format(half_past),
            "2024-03-17T08:30:00"
        );
        let month_first = ["03/01/2024", "3/17/2024 08:30"];
        assert_eq!(column(&month_first), Ok(TimeFormat::MonthFirst));
        assert_eq!(
            TimeFormat::MonthFirst.parse("3/17/2024 08:30"),
            Some(half_past)
        );
        assert_eq!(TimeFormat::MonthFirst.parse("17/03/2024"), None);
        // No day above 12: the place that never changes is the day's (monthly values).
        let monthly = ["01/01/2024", "01/02/2024", "01/03/2024"];
        assert_eq!(column(&monthly), Ok(TimeFormat::DayFirst));
        let monthly = ["1/1/2024", "2/1/2024", "3/1/2024"];
        assert_eq!(column(&monthly), Ok(TimeFormat::MonthFirst));
        // Days within a month, none above 12: the month's place does not change, but is not 1.
        let e = column(&["01/03/2024", "02/03/2024", "03/03/2024"]).unwrap_err();
        assert!(e.contains("cannot be told apart"), "{e}");
        let ambiguous = column(&["01/03/2024", "02/04/2024"]).unwrap_err();
        assert!(ambiguous.contains("cannot be told apart"), "{ambiguous}");
        let mixed = column(&["01/03/2024", "17/03/2024", "03/17/2024"]).unwrap_err();
        assert!(mixed.contains("some with the day first"), "{mixed}");
        let unknown = column(&["17 Marc 2024"]).unwrap_err();
        assert!(unknown.contains("expected an ISO date"), "{unknown}");
        for bad in [
            "17/03/2024x",
            "17/03/244",
            "2024/3/",
            "17/03/2024 25:00",
            "32/01/2024",
        ] {
            assert!(
                [
                    TimeFormat::DayFirst,
                    TimeFormat::MonthFirst,
                    TimeFormat::Date,
                    TimeFormat::DateTime
                ]
                .iter()
                .all(|f| f.parse(bad).is_none()),
                "{bad:?} was read"
            );
        }
    }

    #[test]
    fn years_quarters_weeks_month_names_offsets_and_clock_hours() {
        let day = 1_710_633_600; // 2024-03-17
        let half_past = day + 8 * 3600 + 1800;
        let date = |y, m, d| seconds(NaiveDate::from_ymd_opt(y, m, d).unwrap().into());
        let column = |values: &[&str]| TimeFormat::of_column(values[0], values.iter().copied());
        // Each column: its format, the first value read, and the first value written back.
        for (values, format, secs, written) in [
            (
                &["1749", "1750"][..],
                TimeFormat::Year,
                date(1749, 1, 1),
                "1749",
            ),
            (
                &["1992 Q1", "1992 Q2"],
                TimeFormat::YearQuarter,
                date(1992, 1, 1),
                "1992 Q1",
            ),
            (
                &["1992Q3", "1992Q4"],
                TimeFormat::YearQuarter,
                date(1992, 7, 1),
                "1992 Q3",
            ),
            (
                &["1992-Q4", "1993-Q1"],
                TimeFormat::YearQuarter,
                date(1992, 10, 1),
                "1992 Q4",
            ),
            (
                &["1998 Jan", "1998 Feb"],
                TimeFormat::YearMonthName,
                date(1998, 1, 1),
                "1998 Jan",
            ),
            (
                &["1998 September"],
                TimeFormat::YearMonthName,
                date(1998, 9, 1),
                "1998 Sep",
            ),
            (
                &["Dec 1998", "jan-1999"],
                TimeFormat::MonthNameYear,
                date(1998, 12, 1),
                "Dec 1998",
            ),
            (
                &["2014 W01", "2014 W02"],
                TimeFormat::YearWeek,
                date(2013, 12, 30),
                "2014 W01",
            ),
            (
                &["2015-W53", "2016-W01"],
                TimeFormat::YearWeek,
                date(2015, 12, 28),
                "2015 W53",
            ),
            (
                &["2001M01", "2001M02"],
                TimeFormat::YearMonthM,
                date(2001, 1, 1),
                "2001M01",
            ),
            (
                &["2001m1", "2001-M12", "2002 M01"],
                TimeFormat::YearMonthM,
                date(2001, 1, 1),
                "2001M01",
            ),
            // Six digits: months where every value reads as one (2001-2012 would read as days
            // of 2020 too), else dates with a two-digit year.
            (
                &["194901", "194902"],
                TimeFormat::CompactMonth,
                date(1949, 1, 1),
                "194901",
            ),
            (
                &["200101", "200112", "201212"],
                TimeFormat::CompactMonth,
                date(2001, 1, 1),
                "200101",
            ),
            (
                &["800102", "800103", "800131"],
                TimeFormat::CompactShortDate,
                date(1980, 1, 2),
                "1980-01-02",
            ),
            (
                &["200112", "200113"],
                TimeFormat::CompactShortDate,
                date(2020, 1, 12),
                "2020-01-12",
            ),
            (
                &["050103", "050104"],
                TimeFormat::CompactShortDate,
                date(2005, 1, 3),
                "2005-01-03",
            ),
            // The same month of every year reads as dates where it can: 2019's months.
            (
                &["190101", "190201", "190301"],
                TimeFormat::CompactShortDate,
                date(2019, 1, 1),
                "2019-01-01",
            ),
            // R's time of a monthly or quarterly `ts`: whole years first, or a month's fraction.
            (
                &["1949", "1949.08333333333", "1949.16666666667"],
                TimeFormat::DecimalYear,
                date(1949, 1, 1),
                "1949",
            ),
            (
                &["1991.5", "1991.58333333333", "1991.66666666667"],
                TimeFormat::DecimalYear,
                date(1991, 7, 1),
                "1991.5",
            ),
            (
                &["1956", "1956.25", "1956.5", "1956.75", "1957"],
                TimeFormat::DecimalYear,
                date(1956, 1, 1),
                "1956",
            ),
            (
                &["1949.92", "1950", "1950.08"],
                TimeFormat::DecimalYear,
                date(1949, 12, 1),
                "1949.916667",
            ),
            (
                &["1949-1", "1949-12"],
                TimeFormat::YearMonth,
                date(1949, 1, 1),
                "1949-01",
            ),
            (
                &["2024-3-7", "2024-3-8"],
                TimeFormat::Date,
                date(2024, 3, 7),
                "2024-03-07",
            ),
            (
                &["2024-03-17 09:30:00+0100"],
                TimeFormat::DateTimeUtc,
                half_past,
                "2024-03-17T08:30:00Z",
            ),
            (
                &["2024-03-17 03:30 -05"],
                TimeFormat::DateTimeUtc,
                half_past,
                "2024-03-17T08:30:00Z",
            ),
            (
                &["2024/03/17 18:30+10"],
                TimeFormat::DateTimeUtc,
                half_past,
                "2024-03-17T08:30:00Z",
            ),
            (
                &["2024-03-17 08:30:00 UTC"],
                TimeFormat::DateTimeUtc,
                half_past,
                "2024-03-17T08:30:00Z",
            ),
            (
                &["3/17/2024 8:30:00 AM"],
                TimeFormat::MonthFirst,
                half_past,
                "2024-03-17T08:30:00",
            ),
            (
                &["17/3/2024 8:30 pm"],
                TimeFormat::DayFirst,
                half_past + 12 * 3600,
                "2024-03-17T20:30:00",
            ),
            (
                &["17/3/2024 12:00 AM"],
                TimeFormat::DayFirst,
                day,
                "2024-03-17T00:00:00",
            ),
            // Two-digit years (Excel's short dates, European exports), read as POSIX's `%y`.
            (
                &["3/17/24 8:30", "3/18/24 8:30"],
                TimeFormat::MonthFirst,
                half_past,
                "2024-03-17T08:30:00",
            ),
            (
                &["17.03.24", "18.03.24"],
                TimeFormat::DayFirst,
                day,
                "2024-03-17T00:00:00",
            ),
            (
                &["31/12/69", "01/01/70"],
                TimeFormat::DayFirst,
                date(1969, 12, 31),
                "1969-12-31T00:00:00",
            ),
            (
                &["31/12/68"],
                TimeFormat::DayFirst,
                date(2068, 12, 31),
                "2068-12-31T00:00:00",
            ),
            // A day, a month by name, the year (Oracle's and SAS's dates).
            (
                &["17-Mar-2024 08:30", "17-Mar-2024 09:00"],
                TimeFormat::DayMonthNameYear,
                half_past,
                "2024-03-17T08:30:00",
            ),
            (
                &["17 March 2024"],
                TimeFormat::DayMonthNameYear,
                day,
                "2024-03-17T00:00:00",
            ),
            (
                &["17-MAR-24 8:30 AM"],
                TimeFormat::DayMonthNameYear,
                half_past,
                "2024-03-17T08:30:00",
            ),
            // A month by name, the day, the year (US text, Investing.com's tables).
            (
                &["Mar 17, 2024", "Mar 18, 2024"],
                TimeFormat::MonthNameDayYear,
                day,
                "2024-03-17T00:00:00",
            ),
            (
                &["March 17, 2024 8:30 AM"],
                TimeFormat::MonthNameDayYear,
                half_past,
                "2024-03-17T08:30:00",
            ),
            (
                &["Mar 17 2024 08:30"],
                TimeFormat::MonthNameDayYear,
                half_past,
                "2024-03-17T08:30:00",
            ),
            // RFC 2822, as e-mail and HTTP headers write times: read in UTC.
            (
                &["Sun, 17 Mar 2024 09:30:00 +0100"],
                TimeFormat::DateTimeUtc,
                half_past,
                "2024-03-17T08:30:00Z",
            ),
        ] {
            assert_eq!(column(values), Ok(format), "{values:?}");
            assert_eq!(format.parse(values[0]), Some(secs), "{values:?}");
            assert_eq!(format.format(secs), written, "{values:?}");
            // Written back in a form the format reads (dates with the year last: as ISO).
            let back = match format {
                TimeFormat::DayFirst
                | TimeFormat::MonthFirst
                | TimeFormat::DayMonthNameYear
                | TimeFormat::MonthNameDayYear => TimeFormat::DateTime,
                TimeFormat::CompactShortDate => TimeFormat::Date,
                f => f,
            };
            for v in values {
                let read = format.parse(v).unwrap();
                assert_eq!(back.parse(&format.format(read)), Some(read), "{v}");
            }
        }
        // Years written from floats, slashes with unpadded parts, a 12-hour clock after an ISO
        // date, `YYYYMMDD` with a clock (a date column and a time column joined).
        for (values, format, secs, written) in [
            (
                &["1949.0", "1950.0"][..],
                TimeFormat::Year,
                date(1949, 1, 1),
                "1949",
            ),
            (
                &["2024/3/7", "2024/3/8"],
                TimeFormat::Date,
                date(2024, 3, 7),
                "2024-03-07",
            ),
            (
                &["2024/3/17 8:30"],
                TimeFormat::DateTime,
                half_past,
                "2024-03-17T08:30:00",
            ),
            (
                &["2024-03-17 8:30 PM"],
                TimeFormat::DateTime,
                half_past + 12 * 3600,
                "2024-03-17T20:30:00",
            ),
            (
                &["20240317 08:30"],
                TimeFormat::CompactDateTime,
                half_past,
                "20240317T083000",
            ),
            (
                &["20240317 08:30:00"],
                TimeFormat::CompactDateTime,
                half_past,
                "20240317T083000",
            ),
        ] {
            assert_eq!(column(values), Ok(format), "{values:?}");
            assert_eq!(format.parse(values[0]), Some(secs), "{values:?}");
            assert_eq!(format.format(secs), written, "{values:?}");
        }
        assert_eq!(TimeFormat::Year.parse("1949.5"), None);
        // Six digits that are neither months nor dates stay seconds.
        assert_eq!(column(&["100000", "100001"]), Ok(TimeFormat::Unix));
        assert_eq!(column(&["800102", "800100"]), Ok(TimeFormat::Unix));
        // Decimal years between months (R's weekly `ts`) are not read as months.
        assert!(column(&["1991.1", "1991.119165"]).is_err());
        assert_ne!(
            column(&["1991", "1991.019165"]),
            Ok(TimeFormat::DecimalYear)
        );
        assert_eq!(TimeFormat::DecimalYear.parse("1949.04"), None);
        // Whole numbers are not decimal years: seconds past 2999 stay seconds.
        assert_eq!(
            column(&["1800", "2400", "3000", "3600"]),
            Ok(TimeFormat::Unix)
        );
        assert_eq!(TimeFormat::CompactMonth.parse("169912"), None);
        assert_eq!(TimeFormat::CompactMonth.parse("202413"), None);
        // Steps: years and quarters in calendar months, weeks in seconds.
        let read = |format: TimeFormat, values: &[&str]| -> Vec<i64> {
            values.iter().map(|v| format.parse(v).unwrap()).collect()
        };
        let years = read(TimeFormat::Year, &["1749", "1750", "1752"]);
        assert_eq!(Frequency::infer(&years), Some(Frequency::Months(12)));
        let quarters = read(TimeFormat::YearQuarter, &["1992 Q4", "1993 Q1", "1993 Q3"]);
        assert_eq!(Frequency::infer(&quarters), Some(Frequency::Months(3)));
        let weeks = read(TimeFormat::YearWeek, &["2015 W52", "2015 W53", "2016 W01"]);
        assert_eq!(Frequency::infer(&weeks), Some(Frequency::Seconds(604_800)));
        // Four digits in one row and five in another: unix seconds, as any integers.
        assert_eq!(column(&["1749", "17500"]), Ok(TimeFormat::Unix));
        for bad in [
            "1992 Q5",
            "1992 Q0",
            "1998 Jun.",
            "Juno 1998",
            "2014 W54",
            "98 Jan",
            "32-Mar-2024",
            "17-Mar-202",
            "17-Marc-2024",
            "17-Mar-2024 25:00",
            "2024-13",
        ] {
            assert!(
                TimeFormat::ALL.iter().all(|f| f.parse(bad).is_none()),
                "{bad:?} was read"
            );
        }
        for bad in [
            "2024-03-17 08:30+25",
            "2024-03-17 08:30+0160",
            "3/17/2024 13:30 PM",
        ] {
            let read = [TimeFormat::DateTime, TimeFormat::MonthFirst].map(|f| f.parse(bad));
            assert_eq!(read, [None, None], "{bad:?}");
        }
    }

    #[test]
    fn periods_the_end_of_the_day_and_dotted_dates() {
        let iso = |t: &str| TimeFormat::DateTime.parse(t).unwrap();
        // ENTSO-E's periods: the start is the row's time; the format is the start's.
        let periods = [
            "12.01.2015 23:00 - 13.01.2015 00:00",
            "13.01.2015 00:00 - 13.01.2015 01:00",
        ];
        let format = TimeFormat::of_column(periods[0], periods).unwrap();
        assert_eq!(format, TimeFormat::DayFirst);
        assert_eq!(format.parse(periods[1]), Some(iso("2015-01-13 00:00")));
        let zoned = "2024-03-17T08:00:00+01:00 - 2024-03-17T09:00:00+01:00";
        let format = TimeFormat::of_column(zoned, [zoned]).unwrap();
        assert_eq!(format, TimeFormat::DateTimeUtc);
        assert_eq!(format.parse(zoned), Some(iso("2024-03-17 07:00")));
        assert!(!format.is_local_clock(zoned));
        // An end not in the start's format is no period; through a clock's repeated hour the
        // end may read earlier.
        for bad in ["2024-03-17 09:00 - later", "2024-03-17 09:00 - "] {
            assert_eq!(TimeFormat::DateTime.parse(bad), None, "{bad:?}");
        }
        assert_eq!(
            TimeFormat::DateTime.parse("2019-10-27 02:45 - 2019-10-27 02:00"),
            Some(iso("2019-10-27 02:45"))
        );
        let compact = "20240317T0800Z - 20240317T0900Z";
        assert!(!TimeFormat::CompactDateTime.is_local_clock(compact));
        // 24:00 is the end of the day: the next day's midnight.
        for (text, format) in [
            ("2014-12-31 24:00", TimeFormat::DateTime),
            ("2014-12-31T24:00:00", TimeFormat::DateTime),
            ("31/12/2014 24:00", TimeFormat::DayFirst),
            ("12/31/2014 24:00:00", TimeFormat::MonthFirst),
        ] {
            assert_eq!(format.parse(text), Some(iso("2015-01-01 00:00")), "{text}");
        }
        for bad in ["2014-12-31 24:30", "2014-12-31 25:00", "2014-12-3124:00"] {
            assert_eq!(TimeFormat::DateTime.parse(bad), None, "{bad:?}");
        }
        // ISO dates with dots.
        assert_eq!(
            TimeFormat::of_column("2015.01.17", ["2015.01.17"]),
            Ok(TimeFormat::Date)
        );
        assert_eq!(
            TimeFormat::Date.parse("2015.01.17"),
            TimeFormat::Date.parse("2015-01-17")
        );
        assert_eq!(
            TimeFormat::DateTime.parse("2015.01.17 08:30"),
            Some(iso("2015-01-17 08:30"))
        );
        assert_eq!(TimeFormat::Date.parse("2015.0117"), None);
        // A day-first date whose time no format reads is named as such, not as a value unlike
        // the first row's.
        let e = TimeFormat::of_column("13.01.2015 0000h", ["13.01.2015 0000h"]).unwrap_err();
        assert!(
            e.contains("expected an ISO date") && e.contains("0000h"),
            "{e}"
        );
    }

    #[test]
    fn frequencies_are_inferred_and_stepped() {
        let month = |m: &str| TimeFormat::YearMonth.parse(m).unwrap();
        let months = [
            month("2023-11"),
            month("2023-12"),
            month("2024-01"),
            month("2024-03"),
        ];
        let f = Frequency::infer(&months).unwrap();
        assert_eq!(f, Frequency::Months(1));
        assert_eq!(f.steps_between(months[0], months[3]), Some(4));
        assert_eq!(f.advance(months[0], 4), months[3]);
        // Month ends: January 31, February 29, March 31.
        let d = |s: &str| TimeFormat::Date.parse(s).unwrap();
        let ends = [d("2024-01-31"), d("2024-02-29"), d("2024-03-31")];
        assert_eq!(Frequency::infer(&ends), Some(Frequency::Months(1)));
        let quarters = [d("2024-01-01"), d("2024-04-01"), d("2024-10-01")];
        assert_eq!(Frequency::infer(&quarters), Some(Frequency::Months(3)));
        let half_hours = [0, 1800, 3600, 9000];
        let f = Frequency::infer(&half_hours).unwrap();
        assert_eq!(f, Frequency::Seconds(1800));
        assert_eq!(f.steps_between(0, 9000), Some(5));
        assert_eq!(f.steps_between(0, 1000), None);
        assert_eq!(f.describe(), "every 30 minutes");
        assert_eq!(Frequency::Seconds(86_400).describe(), "daily");
    }

    #[test]
    fn rows_taken_as_steps_continue_on_the_slots_they_hold() {
        let day = |text: &str| TimeFormat::Date.parse(text).unwrap();
        // Two weeks of business days to Monday 2018-12-31; then Tuesday 1st onward.
        let days: Vec<i64> = (17..=31)
            .map(|d| day(&format!("2018-12-{d}")))
            .filter(|&t| datetime(t).weekday().num_days_from_monday() < 5)
            .collect();
        let want: Vec<i64> = [
            "2019-01-01",
            "2019-01-02",
            "2019-01-03",
            "2019-01-04",
            "2019-01-07",
        ]
        .iter()
        .map(|d| day(d))
        .collect();
        assert_eq!(continue_rows(&days, 5), want);
        // Business hours 9 to 17 on weekdays: Friday 17:00 continues on Monday at 9.
        let hour = |text: &str| TimeFormat::DateTime.parse(text).unwrap();
        let mut hours = Vec::new();
        for d in 11..=15 {
            for h in 9..=17 {
                hours.push(hour(&format!("2024-03-{d}T{h:02}:00:00")));
            }
        }
        let next = continue_rows(&hours, 10);
        assert_eq!(next[0], hour("2024-03-18T09:00:00"));
        assert_eq!(next[8], hour("2024-03-18T17:00:00"));
        assert_eq!(next[9], hour("2024-03-19T09:00:00"));
        // Mondays, Wednesdays and Fridays (steps of 2 and 3 days): on a grid of days.
        let mwf: Vec<i64> = days
            .iter()
            .copied()
            .filter(|&t| [0, 2, 4].contains(&datetime(t).weekday().num_days_from_monday()))
            .collect();
        let next = continue_rows(&mwf, 3);
        assert_eq!(
            next,
            vec![day("2019-01-02"), day("2019-01-04"), day("2019-01-07")]
        );
        // A grid that does not divide the week (every 10 days): its plain steps.
        assert_eq!(
            continue_rows(&[0, 864_000, 1_728_000], 2),
            vec![2_592_000, 3_456_000]
        );
        // Monthly rows by calendar months; one row: a day on.
        let months = [day("2024-01-15"), day("2024-02-15"), day("2024-04-15")];
        assert_eq!(continue_rows(&months, 1), vec![day("2024-05-15")]);
        assert_eq!(
            continue_rows(&days[..1], 2),
            vec![day("2018-12-18"), day("2018-12-19")]
        );
    }

    #[test]
    fn year_harmonics_are_those_of_the_phase() {
        for (frequency, order) in [
            (Frequency::Months(1), 6),
            (Frequency::Seconds(1800), 10),
            (Frequency::Seconds(604_800), 10),
            (Frequency::Months(3), 2),
        ] {
            assert_eq!(
                YearHarmonics::of(frequency, 3).map(|y| y.order),
                Some(order)
            );
        }
        assert_eq!(YearHarmonics::of(Frequency::Months(6), 0), None);
        let y = YearHarmonics {
            column: 1,
            order: 10,
        };
        for phase in [0.0, 0.13, 0.5, 0.77] {
            let a = 2.0 * std::f64::consts::PI * phase;
            // Two horizon steps of three known columns; the year's sine and cosine are 1 and 2.
            let known = [9.0, a.sin() as f32, a.cos() as f32, 9.0, 0.0, 0.0];
            let mut out = Vec::new();
            y.extend(&known, &mut out);
            assert_eq!(out.len(), y.count());
            for (k, pair) in (2..=10).zip(out.chunks(2)) {
                let k = f64::from(k);
                assert!((pair[0] - (k * a).sin()).abs() < 1e-5, "sin {k} at {phase}");
                assert!((pair[1] - (k * a).cos()).abs() < 1e-5, "cos {k} at {phase}");
            }
        }
    }

    #[test]
    fn cycles_follow_the_frequency() {
        let years = 10 * 365 * 86_400;
        assert_eq!(
            calendar_cycles(Frequency::Months(1), years),
            vec![Cycle::Year]
        );
        assert_eq!(
            calendar_cycles(Frequency::Seconds(1800), years),
            vec![Cycle::Day, Cycle::Week, Cycle::Year]
        );
        assert_eq!(
            calendar_cycles(Frequency::Seconds(86_400), years),
            vec![Cycle::Week, Cycle::Year]
        );
        // Twelve weeks of half-hours: days and weeks, not the year.
        assert_eq!(
            calendar_cycles(Frequency::Seconds(1800), 84 * 86_400),
            vec![Cycle::Day, Cycle::Week]
        );
        // Two years of half-hours from 2013-01-01 00:00 to 2014-12-31 23:30 cover each phase of
        // the year twice (their span is a step short of 730 days); a step fewer does not.
        let half_hour = Frequency::Seconds(1800);
        let t = |text: &str| TimeFormat::DateTime.parse(text).unwrap();
        let two_years = t("2014-12-31T23:30:00") - t("2013-01-01T00:00:00");
        assert!(calendar_cycles(half_hour, two_years).contains(&Cycle::Year));
        assert!(!calendar_cycles(half_hour, two_years - 1800).contains(&Cycle::Year));
        // 24 months, whichever months they are; 23 do not; a yearly series has no phase in the
        // year.
        let months = Frequency::Months(1);
        let m = |text: &str| TimeFormat::YearMonth.parse(text).unwrap();
        for (first, last) in [
            ("2021-01", "2022-12"),
            ("2020-01", "2021-12"),
            ("2021-03", "2023-02"),
        ] {
            assert_eq!(
                calendar_cycles(months, m(last) - m(first)),
                vec![Cycle::Year]
            );
        }
        assert!(calendar_cycles(months, m("2022-11") - m("2021-01")).is_empty());
        assert!(calendar_cycles(Frequency::Months(12), years).is_empty());
        // Monday 2024-03-18 06:00: a quarter of the day, in the first day of the week.
        let t = TimeFormat::DateTime.parse("2024-03-18T06:00:00").unwrap();
        assert!((Cycle::Day.phase(t) - 0.25).abs() < 1e-12);
        assert!((Cycle::Week.phase(t) - 0.25 / 7.0).abs() < 1e-12);
    }
}
