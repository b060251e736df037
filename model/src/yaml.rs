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
    let deserializer = yaml_serde::Deserializer::from_str(text);
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let location = inner.location();
        let mut message = inner.to_string();
        if let Some(cut) = message.rfind(" at line ") {
            message.truncate(cut);
        }
        // yaml_serde already prefixes some messages with the path; say it once.
        if let Some((head, rest)) = message.split_once(": ") {
            if !head.is_empty() && !head.contains(' ') && path.starts_with(head) {
                message = rest.to_string();
            }
        }
        YamlError {
            file: file.to_string(),
            line: location.as_ref().map(yaml_serde::Location::line),
            column: location.as_ref().map(yaml_serde::Location::column),
            path: (path != "." && !path.is_empty()).then_some(path),
            message,
        }
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code, reason = "only parsed, to check where errors point")]
    struct Region {
        sessions_per_day: u64,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code, reason = "only parsed, to check where errors point")]
    struct File {
        name: String,
        regions: BTreeMap<String, Region>,
    }

    /// A wrong type deep in the file names the file, its line and column and the key path, as the
    /// contract asks of every bad scenario (the YAML crate was swapped once: this pins it).
    #[test]
    fn a_wrong_value_names_file_line_column_and_key_path() {
        let text = "name: x\nregions:\n  eu-west-1:\n    sessions_per_day: lots\n";
        let e = parse_yaml::<File>(text, "s.yaml").unwrap_err();
        assert_eq!((e.line, e.column), (Some(4), Some(23)), "{e}");
        assert_eq!(e.path.as_deref(), Some("regions.eu-west-1.sessions_per_day"), "{e}");
        assert!(e.to_string().starts_with("s.yaml:4:23: regions.eu-west-1.sessions_per_day: invalid type"), "{e}");
    }

    #[test]
    fn a_syntax_error_and_an_unknown_key_name_their_line() {
        let broken = parse_yaml::<File>("name: x\nregions: {a: {sessions_per_day: 1}\n", "s.yaml").unwrap_err();
        assert!(broken.line.is_some_and(|line| line >= 2), "{broken}");
        let unknown =
            parse_yaml::<File>("name: x\nregions:\n  a: {sessions_per_day: 1, nope: 2}\n", "s.yaml").unwrap_err();
        assert_eq!(unknown.line, Some(3), "{unknown}");
        assert!(unknown.message.contains("unknown field `nope`"), "{unknown}");
    }
}
