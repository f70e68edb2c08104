//! The one place that knows the YAML crate. Everything else sees typed
//! values or a [`YamlError`] with a line and column, so the YAML library can
//! be swapped without touching the loader's callers.

use serde::de::DeserializeOwned;

/// A YAML syntax or shape error with its 1-based position when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Parses `text` into `T`, keeping the position of the first error.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    serde_yaml::from_str(text).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((1, 1));
        // serde_yaml appends " at line X column Y" to its messages; the
        // caller prints the position itself, so strip the duplicate.
        let mut message = e.to_string();
        if let Some(i) = message.find(" at line ") {
            message.truncate(i);
        }
        YamlError {
            line,
            column,
            message,
        }
    })
}

/// Serialises a value as YAML (for `cordon policy show`).
#[allow(dead_code)]
pub fn to_string<T: serde::Serialize>(value: &T) -> Result<String, YamlError> {
    serde_yaml::to_string(value).map_err(|e| YamlError {
        line: 0,
        column: 0,
        message: e.to_string(),
    })
}
