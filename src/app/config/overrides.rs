//! Reading a run config: TOML text, then `--set section.key=value` overrides, with errors that
//! name the file and line or the `--set` argument, and a suggestion for a misspelt key.

use serde::de::DeserializeOwned;

use super::{ConfigError, RunConfig};

impl RunConfig {
    /// Parses TOML text (`origin` names it in errors) and applies `overrides`; no validation.
    pub fn parse(text: &str, origin: &str, overrides: &[String]) -> Result<Self, ConfigError> {
        parse_with_overrides(text, origin, overrides)
    }
}

/// Parses TOML text as `T` (`origin` names it in errors) after applying `overrides`
/// (`section.key=value`); an error names the file and line, or the `--set` that caused it.
pub fn parse_with_overrides<T: DeserializeOwned>(
    text: &str,
    origin: &str,
    overrides: &[String],
) -> Result<T, ConfigError> {
    let parse_error = |path: &str, e: toml::de::Error| ConfigError::Parse {
        path: path.to_string(),
        message: with_suggestion(e.to_string().trim_end()),
    };
    if overrides.is_empty() {
        return toml::from_str(text).map_err(|e| parse_error(origin, e));
    }
    let base: toml::Table = toml::from_str(text).map_err(|e| parse_error(origin, e))?;
    let with = |n: usize| -> Result<Result<T, toml::de::Error>, ConfigError> {
        let mut table = base.clone();
        for arg in &overrides[..n] {
            apply_override(&mut table, arg)?;
        }
        let merged = toml::to_string(&table).expect("a TOML table serialises");
        Ok(toml::from_str(&merged))
    };
    let error = match with(overrides.len())? {
        Ok(config) => return Ok(config),
        Err(e) => e,
    };
    // Name the cause: the file itself (with its own line numbers), or the first `--set`
    // after which the error appears (a line of the merged TOML would point at no file).
    if let Err(e) = toml::from_str::<T>(text)
        && e.message() == error.message()
    {
        return Err(parse_error(origin, e));
    }
    for (n, arg) in overrides.iter().enumerate() {
        if let Err(e) = with(n + 1)?
            && e.message() == error.message()
        {
            return Err(ConfigError::Override {
                arg: arg.clone(),
                message: with_suggestion(e.message().trim_end()),
            });
        }
    }
    Err(parse_error(
        &format!("{origin} with --set {}", overrides.join(" --set ")),
        error,
    ))
}

/// Adds "did you mean `x`?" to toml's "unknown field `y`, expected one of `a`, `b`" (or
/// "expected `a` or `b`") when one expected key is a close spelling of the unknown one.
fn with_suggestion(message: &str) -> String {
    let Some(start) = message.find("unknown field `") else {
        return message.to_string();
    };
    let rest = &message[start + "unknown field `".len()..];
    let Some(end) = rest.find('`') else {
        return message.to_string();
    };
    let unknown = &rest[..end];
    let after = &rest[end + 1..];
    let expected = &after[..after.find('\n').unwrap_or(after.len())];
    let best = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|k| (strsim::damerau_levenshtein(unknown, k), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min();
    match best {
        Some((_, k)) => format!("{message}\n  did you mean `{k}`?"),
        None => message.to_string(),
    }
}

/// Applies `section.key=value` to the table; the value is read as TOML (`3`, `1e-3`, `true`,
/// `"lstm"`) and taken as a string when it is not valid TOML (`cell=gru`).
fn apply_override(table: &mut toml::Table, arg: &str) -> Result<(), ConfigError> {
    let err = |message: &str| ConfigError::Override {
        arg: arg.to_string(),
        message: message.to_string(),
    };
    let (key, raw) = arg
        .split_once('=')
        .ok_or_else(|| err("expected section.key=value"))?;
    let key = key.trim();
    let parts: Vec<&str> = key.split('.').collect();
    if key.is_empty() || parts.iter().any(|p| p.is_empty()) {
        return Err(err("expected section.key=value"));
    }
    let value = match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
        Ok(mut t) => t.remove("v").expect("parsed key"),
        Err(_) => toml::Value::String(raw.trim().to_string()),
    };
    let (last, sections) = parts.split_last().expect("non-empty key");
    let mut current = table;
    for section in sections {
        current = current
            .entry(section.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| err(&format!("`{section}` is a value, not a section")))?;
    }
    current.insert(last.to_string(), value);
    Ok(())
}
