//! YAML input with errors a user can act on: the file, the line and column, the dotted key path
//! (`traffic.regions.eu-west-1.sessions_per_day`) and what was expected. Scenarios and the
//! service's config file both parse through [`parse_yaml`].

use std::fmt;

/// A YAML file that cannot be used: where, and what was expected. Fatal for the command that
/// read it (exit 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// The file (or `<string>` for text given directly).
    pub file: String,
    /// 1-based line, when the parser knows it.
    pub line: Option<usize>,
    /// 1-based column, when the parser knows it.
    pub column: Option<usize>,
    /// Dotted key path of the offending value, when known.
    pub path: Option<String>,
    /// What was wrong or expected.
    pub message: String,
}

impl YamlError {
    /// An error about the value at `path` in `file`, where no line is known (a check made after
    /// parsing).
    pub fn at_path(file: &str, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { file: file.to_string(), line: None, column: None, path: Some(path.into()), message: message.into() }
    }

    /// An error about the whole file (it cannot be read, say).
    pub fn whole_file(file: &str, message: impl Into<String>) -> Self {
        Self { file: file.to_string(), line: None, column: None, path: None, message: message.into() }
    }
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, ":{line}:{column}")?;
        }
        if let Some(path) = &self.path {
            write!(f, ": {path}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for YamlError {}

/// Deserializes YAML text into `T`; a failure names `file`, the line and column, and the key path.
pub fn parse_yaml<T: serde::de::DeserializeOwned>(text: &str, file: &str) -> Result<T, YamlError> {
    let deserializer = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let location = inner.location();
        let mut message = inner.to_string();
        if let Some(cut) = message.rfind(" at line ") {
            message.truncate(cut);
        }
        // serde_yaml already prefixes some messages with the path; say it once.
        if let Some((head, rest)) = message.split_once(": ") {
            if !head.is_empty() && !head.contains(' ') && path.starts_with(head) {
                message = rest.to_string();
            }
        }
        YamlError {
            file: file.to_string(),
            line: location.as_ref().map(serde_yaml::Location::line),
            column: location.as_ref().map(serde_yaml::Location::column),
            path: (path != "." && !path.is_empty()).then_some(path),
            message,
        }
    })
}
