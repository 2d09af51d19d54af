//! The one place the order of the layers is written: a flag over the environment (or its
//! `_FILE` variant) over the file over the default, each text parsed into the setting's
//! type with an error that names where the text came from.

use anyhow::{bail, Context, Result};
use gatehouse_core::Secret;
use std::env::VarError;
use std::path::PathBuf;

use super::DatabaseUrl;

/// A setting's value as text from the environment or a flag, parsed; the file gives it
/// already typed. `name` is the setting's name in the layer the text came from, for errors.
pub(super) trait FromText: Sized {
    fn from_text(name: &str, text: &str) -> Result<Self>;
}

impl FromText for String {
    fn from_text(_: &str, text: &str) -> Result<Self> {
        Ok(text.to_string())
    }
}

impl FromText for Secret<String> {
    fn from_text(_: &str, text: &str) -> Result<Self> {
        Ok(Secret::new(text.to_string()))
    }
}

impl FromText for DatabaseUrl {
    fn from_text(_: &str, text: &str) -> Result<Self> {
        Ok(DatabaseUrl::new(text))
    }
}

impl FromText for PathBuf {
    fn from_text(_: &str, text: &str) -> Result<Self> {
        Ok(PathBuf::from(text))
    }
}

/// Comma-separated, as a list in the file is joined: `a, b` and `["a", " b"]` are one value.
impl FromText for Vec<String> {
    fn from_text(_: &str, text: &str) -> Result<Self> {
        Ok(text.split(',').map(str::to_string).collect())
    }
}

impl FromText for bool {
    fn from_text(name: &str, text: &str) -> Result<Self> {
        match text.trim() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            other => bail!("{name}: {other:?} is not true or false"),
        }
    }
}

impl FromText for i64 {
    fn from_text(name: &str, text: &str) -> Result<Self> {
        number(name, text)
    }
}

impl FromText for u32 {
    fn from_text(name: &str, text: &str) -> Result<Self> {
        number(name, text)
    }
}

pub(super) fn number<T: std::str::FromStr>(name: &str, text: &str) -> Result<T> {
    text.trim()
        .parse::<T>()
        .map_err(|_| anyhow::anyhow!("{name}: {text:?} is not a valid number"))
}

/// For the settings where an empty value means "not set": `GATEHOUSE_SMTP_URL=` sends mail
/// back to the outbox rather than failing on an empty URL.
pub(super) trait Blank {
    fn is_blank(&self) -> bool;
}

impl Blank for String {
    fn is_blank(&self) -> bool {
        self.is_empty()
    }
}

impl Blank for Secret<String> {
    fn is_blank(&self) -> bool {
        self.expose().is_empty()
    }
}

/// A command-line flag that sets a setting, e.g. `--listen` for `GATEHOUSE_LISTEN`.
pub(super) struct Flag<'a> {
    pub(super) setting: &'static str,
    pub(super) flag: &'static str,
    pub(super) value: Option<&'a str>,
}

/// Reads a `GATEHOUSE_*` variable by name: `env` when running, a table in tests (which
/// must not change the process's environment under other tests' feet).
pub(super) type Environment<'a> = &'a dyn Fn(&str) -> Result<Option<String>>;

/// The layers above the file.
pub(super) struct Layers<'a> {
    pub(super) env: Environment<'a>,
    pub(super) flags: &'a [Flag<'a>],
}

impl Layers<'_> {
    /// One setting, layered: its flag if given, else its environment variable, else the
    /// file's value; `None` leaves the default to the caller (`.unwrap_or(default)`). Text
    /// from a flag or the environment is parsed as `T`, and an error names where it came
    /// from. The environment is read even under a flag, so that a broken variable is
    /// reported rather than hidden until the day the flag is dropped.
    pub(super) fn get<T: FromText>(&self, name: &str, file: Option<T>) -> Result<Option<T>> {
        let env = (self.env)(name)?;
        let flag = self
            .flags
            .iter()
            .find(|f| f.setting == name)
            .and_then(|f| Some((f.flag, f.value?)));
        match (flag, env) {
            (Some((flag, text)), _) => T::from_text(flag, text).map(Some),
            (None, Some(text)) => T::from_text(name, &text).map(Some),
            (None, None) => Ok(file),
        }
    }

    /// `get`, where an empty value (in any layer) leaves the setting unset.
    pub(super) fn get_unless_blank<T: FromText + Blank>(
        &self,
        name: &str,
        file: Option<T>,
    ) -> Result<Option<T>> {
        Ok(self.get(name, file)?.filter(|v| !v.is_blank()))
    }
}

/// Reads one environment variable, or its `_FILE` variant (for secrets kept in files).
pub(super) fn env(name: &str) -> Result<Option<String>> {
    if let Some(value) = env_value(name, std::env::var(name))? {
        return Ok(Some(value));
    }
    let file_var = format!("{name}_FILE");
    // A path need not be Unicode; the file's content must be (read_to_string says so).
    match std::env::var_os(&file_var).map(PathBuf::from) {
        Some(path) => std::fs::read_to_string(&path)
            .map(|s| Some(s.trim().to_string()))
            .with_context(|| format!("{file_var}: cannot read {}", path.display())),
        None => Ok(None),
    }
}

/// A set variable that is not Unicode is a mistake to report, not a setting to ignore:
/// ignoring it would quietly fall back to the default.
pub(super) fn env_value(name: &str, value: Result<String, VarError>) -> Result<Option<String>> {
    match value {
        Ok(value) => Ok(Some(value)),
        Err(VarError::NotPresent) => Ok(None),
        Err(VarError::NotUnicode(_)) => bail!("{name} is set but is not valid Unicode"),
    }
}
