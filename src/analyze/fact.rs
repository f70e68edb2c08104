//! Facts: what a language analyzer observed in the syntax tree, normalised so
//! that one rule engine can match every language.
//!
//! An analyzer's only job is to turn source into facts; it never decides
//! what is dangerous. Policies do that by matching rules against facts
//! (see [`crate::policy::Match`]). A fact's `name` is already normalised:
//! aliases resolved (`from os import system as s; s()` gives call `os.system`),
//! constant strings folded (`getattr(os, 'sys'+'tem')` gives `os.system`),
//! quotes and escapes removed from shell words (`c''url` gives command `curl`).

use serde::{Deserialize, Serialize};

/// Where in the source a fact was seen: 1-based lines and columns, end inclusive
/// of the last character's line and exclusive of its column.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Span {
    pub start_line: u32,
    pub start_col: u32,
    pub end_line: u32,
    pub end_col: u32,
}

impl Span {
    pub fn new(start_line: u32, start_col: u32, end_line: u32, end_col: u32) -> Self {
        Span {
            start_line,
            start_col,
            end_line,
            end_col,
        }
    }

    /// Whether `other` lies within this span (inclusive).
    pub fn contains(&self, other: &Span) -> bool {
        (self.start_line, self.start_col) <= (other.start_line, other.start_col)
            && (other.end_line, other.end_col) <= (self.end_line, self.end_col)
    }
}

/// What kind of thing a fact records; the rule key that matches it has the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FactKind {
    /// A module imported or required: `import socket`, `require('net')`, `import('fs')`.
    Import,
    /// A call by resolved, qualified name: `os.system`, `child_process.exec`, `eval`.
    Call,
    /// An attribute or member read on a module or builtin: `os.environ`, `process.env`.
    Attribute,
    /// A shell command name after quote removal and expansion of constants: `curl`.
    Command,
    /// A redirection or file path target in shell: `/dev/tcp/10.0.0.1/4444`.
    Redirect,
    /// A constant string value after folding, when it is used as code, a path,
    /// a host or an argument (plain data strings are not reported).
    String,
    /// A built-in detector fired (see [`crate::analyze::signals`]): `fork-bomb`,
    /// `decode-exec`, `computed-name`, ...
    Signal,
}

impl FactKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FactKind::Import => "import",
            FactKind::Call => "call",
            FactKind::Attribute => "attribute",
            FactKind::Command => "command",
            FactKind::Redirect => "redirect",
            FactKind::String => "string",
            FactKind::Signal => "signal",
        }
    }
}

/// One observation in the syntax tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fact {
    pub kind: FactKind,
    /// The normalised name: qualified call or attribute, module, command, path,
    /// string value or signal id.
    pub name: String,
    /// Constant arguments, folded to strings where they are known (calls and
    /// commands); unknown arguments are left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    pub span: Span,
    /// For facts found inside a decoded or embedded payload, the chain that
    /// revealed it, outermost first (`["exec", "base64.b64decode"]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub via: Vec<String>,
    /// The language the fact was found in, when it differs from the
    /// submission's: a shell command inside `os.system("...")` is Bash, and
    /// Bash rules apply to it. Set by [`tag_language`] at each analyzer's entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<crate::Language>,
}

/// Marks facts that do not carry a language yet as found in `language`.
/// Each analyzer's public `extract` calls this on its result, so facts from
/// an embedded payload keep the language of the analyzer that found them.
pub fn tag_language(facts: &mut [Fact], language: crate::Language) {
    for f in facts {
        f.language.get_or_insert(language);
    }
}

impl Fact {
    pub fn new(kind: FactKind, name: impl Into<String>, span: Span) -> Self {
        Fact {
            kind,
            name: name.into(),
            args: Vec::new(),
            span,
            via: Vec::new(),
            language: None,
        }
    }

    pub fn with_args(mut self, args: Vec<String>) -> Self {
        self.args = args;
        self
    }

    pub fn with_via(mut self, via: Vec<String>) -> Self {
        self.via = via;
        self
    }

    /// Estimated bytes the fact occupies, for the analysis memory bound.
    pub fn size(&self) -> usize {
        let strings = |v: &[String]| {
            v.iter()
                .map(|s| s.len().saturating_add(std::mem::size_of::<String>()))
                .fold(0usize, usize::saturating_add)
        };
        self.name
            .len()
            .saturating_add(strings(&self.args))
            .saturating_add(strings(&self.via))
    }

    /// Cuts the fact down to what fits any bound: its kind, span and the
    /// start of its name and first arguments. Used when the analysis cannot
    /// pay for the whole fact; what is cut is reported as `analysis-bound`.
    pub fn shrink(&mut self) {
        const KEEP_ARGS: usize = 8;
        const KEEP_BYTES: usize = 256;
        let cut = |s: &mut String| {
            if s.len() > KEEP_BYTES {
                let mut end = KEEP_BYTES;
                while !s.is_char_boundary(end) {
                    end -= 1;
                }
                s.truncate(end);
            }
        };
        cut(&mut self.name);
        self.args.truncate(KEEP_ARGS);
        self.args.iter_mut().for_each(cut);
        self.args.shrink_to_fit();
    }
}
