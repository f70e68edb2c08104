//! The languages cordon accepts. Anything else is rejected before analysis
//! (fail closed): there is no "unknown" variant to fall through.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A language cordon can analyze and run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Python,
    Javascript,
    Bash,
}

impl Language {
    /// All languages, in a stable order.
    pub const ALL: [Language; 3] = [Language::Python, Language::Javascript, Language::Bash];

    /// The canonical lowercase name used in policies, the CLI and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::Javascript => "javascript",
            Language::Bash => "bash",
        }
    }

    /// Infers the language from a file name's extension.
    pub fn from_extension(path: &std::path::Path) -> Option<Language> {
        match path.extension()?.to_str()? {
            "py" | "pyw" => Some(Language::Python),
            "js" | "mjs" | "cjs" => Some(Language::Javascript),
            "sh" | "bash" => Some(Language::Bash),
            _ => None,
        }
    }

    /// Infers the language from a `#!` line (`#!/usr/bin/env python3`, `#!/bin/bash`).
    pub fn from_shebang(code: &str) -> Option<Language> {
        let first = code.lines().next()?.strip_prefix("#!")?;
        let mut words = first.split_whitespace();
        let mut prog = words.next()?.rsplit('/').next()?;
        if prog == "env" {
            prog = words.find(|w| !w.starts_with('-'))?;
        }
        if prog.starts_with("python") {
            Some(Language::Python)
        } else if prog == "node" || prog.starts_with("nodejs") {
            Some(Language::Javascript)
        } else if prog == "bash" || prog == "sh" || prog == "dash" {
            Some(Language::Bash)
        } else {
            None
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a language name cordon does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown language {0:?}: expected one of python, javascript, bash")]
pub struct UnknownLanguage(pub String);

impl FromStr for Language {
    type Err = UnknownLanguage;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "python" | "py" | "python3" => Ok(Language::Python),
            "javascript" | "js" | "node" | "nodejs" => Ok(Language::Javascript),
            "bash" | "sh" | "shell" => Ok(Language::Bash),
            _ => Err(UnknownLanguage(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebangs() {
        assert_eq!(
            Language::from_shebang("#!/usr/bin/env python3\n"),
            Some(Language::Python)
        );
        assert_eq!(
            Language::from_shebang("#!/bin/bash -e\n"),
            Some(Language::Bash)
        );
        assert_eq!(
            Language::from_shebang("#!/usr/bin/env -S node\n"),
            Some(Language::Javascript)
        );
        assert_eq!(Language::from_shebang("print(1)"), None);
    }

    #[test]
    fn parse_names() {
        assert_eq!("JS".parse::<Language>(), Ok(Language::Javascript));
        assert!("ruby".parse::<Language>().is_err());
    }
}
