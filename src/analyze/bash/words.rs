//! Shell word values: what a word evaluates to after quote removal, escape
//! decoding and expansion of the constants the analyzer knows.
//!
//! A word is a list of parts: literal text, an unknown run (an expansion the
//! analyzer could not resolve) and field separators (unquoted `${IFS}` or
//! whitespace inside an unquoted expansion). This module only models values;
//! it never walks the syntax tree and never decides what is dangerous.

/// One piece of a word's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Part {
    Lit(String),
    /// An expansion whose value is not known statically.
    Unknown,
    /// A field separator produced by unquoted word splitting.
    Split,
}

/// Where a value came from, as far as risk goes. Carried through variables,
/// command substitutions, pipes and files so that `x=$(curl ..); eval "$x"`
/// is seen as download-then-execute.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Taint {
    /// Data fetched from the network (download tools, sockets).
    pub download: bool,
    /// Secrets: the environment, credential files, secret-named variables.
    pub secret: bool,
    /// Decoders the data went through, first applied first (`base64 -d`).
    pub decoders: Vec<String>,
    /// Data read from the host: a file the script did not write itself, or
    /// what a command reports about the machine (`whoami`, `ls`, `ps`).
    /// Sending it to the network is exfiltration.
    pub local: bool,
    /// Data went through an encoder (`base64`, `xxd`, `gzip`): the shape
    /// of data being packed for a DNS name or a URL.
    pub encoded: bool,
    /// Typed or piped in at run time (`read`, `mapfile` on the script's own
    /// standard input): input the script does not control.
    pub input: bool,
    /// The value was spliced inside one word from an expansion and other
    /// pieces (`$a$b`, `c${x}rl` with known parts): the shape of a command
    /// name hidden in fragments. A directory prefix (`$DIR/tool`) is not a
    /// splice.
    pub spliced: bool,
    /// Computed from text the script holds by a command the analyzer does
    /// not follow (`sed`, `awk`, `sort` over a known here-string or pipe):
    /// the shape of a constant hidden behind a transformation.
    pub opaque: bool,
}

impl Taint {
    pub fn merge(&mut self, other: &Taint) {
        self.download |= other.download;
        self.secret |= other.secret;
        self.local |= other.local;
        self.encoded |= other.encoded;
        self.input |= other.input;
        self.spliced |= other.spliced;
        self.opaque |= other.opaque;
        for d in &other.decoders {
            if !self.decoders.contains(d) {
                self.decoders.push(d.clone());
            }
        }
    }

    /// Whether the value comes from somewhere the script does not control
    /// (the network, secrets, host data, run-time input) or was passed
    /// through a decoder or a transformation the analyzer does not follow.
    /// Only then is a computed command name or piece of code a way to hide
    /// what runs; one from the script's own arguments, environment or
    /// constants is ordinary shell.
    pub fn untrusted(&self) -> bool {
        self.download
            || self.secret
            || self.local
            || self.input
            || self.encoded
            || self.opaque
            || !self.decoders.is_empty()
    }
}

/// One piece of a word as `name_pieces` sees it: its known text (`None`
/// when unknown), whether it is an expansion, and whether its own value was
/// already spliced.
pub(super) type Piece = (Option<String>, bool, bool);

/// How the pieces of one word make up its last path component, the program
/// name when the word is a command name: whether an expansion contributes
/// to it, and whether it is spliced, made of two or more non-empty pieces
/// at least one of which is an expansion with a known value (`$a$b`,
/// `c${x}rl`), or of a piece spliced before (`c=$a$b; $c`). A directory
/// prefix (`$DIR/tool`, `${0%/*}/bin/x`) is neither.
pub(super) fn name_pieces(pieces: &[Piece]) -> (bool, bool) {
    let mut region: Vec<(Option<&str>, bool, bool)> = Vec::new();
    for (text, expansion, spliced) in pieces {
        match text
            .as_deref()
            .and_then(|t| t.rfind('/').map(|i| &t[i + 1..]))
        {
            Some(tail) => {
                region.clear();
                region.push((Some(tail), *expansion, *spliced));
            }
            None => region.push((text.as_deref(), *expansion, *spliced)),
        }
    }
    let region: Vec<_> = region
        .into_iter()
        .filter(|(t, _, _)| t.is_none_or(|t| !t.is_empty()))
        .collect();
    let expanded = region.iter().any(|(_, x, _)| *x);
    let all_known = region.iter().all(|(t, _, _)| t.is_some());
    let spliced = region.iter().any(|(_, _, s)| *s) || (all_known && region.len() >= 2 && expanded);
    (expanded, spliced)
}

/// The value of one shell word (or of a string assembled from words).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Word {
    pub parts: Vec<Part>,
    /// A parameter expansion or command substitution contributed to it;
    /// for a word joined from pieces, to its last path component (see
    /// `name_pieces`), which is what matters when the word names a command.
    pub expanded: bool,
    /// Quoting or escaping inside the word changed how it reads (`c''url`,
    /// `\c\u\r\l`, `$'\x63url'`, `cat${IFS}x`): a hint of obfuscation when
    /// the word is a command name.
    pub obfuscated: bool,
    /// Some part was quoted, so the word survives even when empty.
    pub quoted: bool,
    /// The word is a process substitution `<(...)`.
    pub procsub: bool,
    /// The value refers to the running script itself (`$0`, `$BASH_SOURCE`).
    pub self_ref: bool,
    /// Some part went past the analysis memory bound and became unknown;
    /// the walker reports it (once) where the word is evaluated.
    pub bounded: bool,
    /// The script's own argument list forwarded (`"$@"`, `$*`, `${@:2}`):
    /// it may hold options as well as operands.
    pub forwarded: bool,
    pub taint: Taint,
}

/// Estimated bytes one field or array item occupies besides its text (its
/// record, the string header and the allocator's minimum chunk), so that a
/// word list of many empty fields is not counted as free.
pub(super) const PIECE_COST: usize = 64;

/// What [`split_value`](super::walk::split_value) of `v` will cost: its text plus one piece
/// per field, known before anything is built.
pub(super) fn split_cost(v: &str) -> usize {
    let fields = v
        .bytes()
        .filter(|b| matches!(b, b' ' | b'\t' | b'\n'))
        .count()
        + 1;
    v.len().saturating_add(fields.saturating_mul(PIECE_COST))
}

impl Word {
    pub fn lit(s: impl Into<String>) -> Word {
        Word {
            parts: vec![Part::Lit(s.into())],
            ..Word::default()
        }
    }

    pub fn unknown() -> Word {
        Word {
            parts: vec![Part::Unknown],
            expanded: true,
            ..Word::default()
        }
    }

    pub fn push_lit(&mut self, s: &str) {
        if let Some(Part::Lit(last)) = self.parts.last_mut() {
            last.push_str(s);
        } else {
            self.parts.push(Part::Lit(s.to_string()));
        }
    }

    pub fn push_unknown(&mut self) {
        if self.parts.last() != Some(&Part::Unknown) {
            self.parts.push(Part::Unknown);
        }
    }

    pub fn push_split(&mut self) {
        self.parts.push(Part::Split);
    }

    /// Estimated bytes the value occupies, for the analysis memory bound.
    pub fn cost(&self) -> usize {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Lit(s) => PIECE_COST.saturating_add(s.len()),
                _ => PIECE_COST,
            })
            .fold(0usize, usize::saturating_add)
    }

    /// Drops the value because it went past a bound: it becomes unknown
    /// (which is itself evidence), keeping its flags and taint.
    pub fn forget(&mut self) {
        self.parts = vec![Part::Unknown];
        self.expanded = true;
        self.bounded = true;
    }

    /// Appends `other` (concatenation), merging flags and taint.
    pub fn append(&mut self, other: Word) {
        self.expanded |= other.expanded;
        self.obfuscated |= other.obfuscated;
        self.quoted |= other.quoted;
        self.procsub |= other.procsub;
        self.self_ref |= other.self_ref;
        self.bounded |= other.bounded;
        self.forwarded |= other.forwarded;
        self.taint.merge(&other.taint);
        for p in other.parts {
            match p {
                Part::Lit(s) => self.push_lit(&s),
                Part::Unknown => self.push_unknown(),
                Part::Split => self.push_split(),
            }
        }
    }

    /// The value when every part is known (separators read as a space).
    pub fn constant(&self) -> Option<String> {
        let mut s = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(l) => s.push_str(l),
                Part::Split => s.push(' '),
                Part::Unknown => return None,
            }
        }
        Some(s)
    }

    /// The known text with unknown runs dropped.
    pub fn known_text(&self) -> String {
        let mut s = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(l) => s.push_str(l),
                Part::Split => s.push(' '),
                Part::Unknown => {}
            }
        }
        s
    }

    /// The value for reporting: unknown runs become `*`, so a partially known
    /// argument still shows its constant parts without pretending to be whole.
    pub fn lossy(&self) -> String {
        let mut s = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(l) => s.push_str(l),
                Part::Split => s.push(' '),
                Part::Unknown => s.push('*'),
            }
        }
        s
    }

    /// Whether nothing about the value is known.
    pub fn all_unknown(&self) -> bool {
        self.parts
            .iter()
            .all(|p| !matches!(p, Part::Lit(l) if !l.is_empty()))
            && self.parts.contains(&Part::Unknown)
    }

    pub fn has_unknown(&self) -> bool {
        self.parts.contains(&Part::Unknown)
    }

    /// Field splitting: cuts the word at separators. An unquoted word whose
    /// value is empty disappears, as in the shell (`$empty curl` runs `curl`).
    pub fn split(self) -> Vec<Word> {
        let mut out = Vec::new();
        let mut cur = Word {
            expanded: self.expanded,
            obfuscated: self.obfuscated,
            quoted: false,
            procsub: self.procsub,
            self_ref: self.self_ref,
            bounded: self.bounded,
            forwarded: self.forwarded,
            taint: self.taint.clone(),
            parts: Vec::new(),
        };
        let had_split = self.parts.contains(&Part::Split);
        for p in self.parts {
            match p {
                Part::Split => {
                    if !cur.parts.is_empty() && !cur.is_empty_text() {
                        out.push(cur.clone());
                    }
                    cur.parts.clear();
                }
                Part::Lit(s) => cur.push_lit(&s),
                Part::Unknown => cur.push_unknown(),
            }
        }
        let keep_empty = self.quoted && !had_split;
        if !cur.is_empty_text() || (keep_empty && out.is_empty()) {
            cur.quoted = self.quoted;
            out.push(cur);
        }
        if had_split {
            for w in &mut out {
                w.obfuscated = true;
            }
        }
        out
    }

    fn is_empty_text(&self) -> bool {
        self.parts
            .iter()
            .all(|p| matches!(p, Part::Lit(l) if l.is_empty()))
    }
}

/// Backslash handling outside quotes: `\x` is `x`, backslash-newline vanishes.
/// Returns the text and whether an escape hid a letter or digit.
pub(super) fn unescape_unquoted(s: &str) -> (String, bool) {
    let mut out = String::with_capacity(s.len());
    let mut hid = false;
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('\n') => {}
                Some(n) => {
                    hid |= n.is_alphanumeric();
                    out.push(n);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    (out, hid)
}

/// Backslash handling inside double quotes: only `\$ \` \" \\` and
/// backslash-newline are escapes; other backslashes stay.
pub(super) fn unescape_dquote(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.peek() {
                Some('$') | Some('`') | Some('"') | Some('\\') => {
                    if let Some(n) = it.next() {
                        out.push(n);
                    }
                }
                Some('\n') => {
                    it.next();
                }
                _ => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Decodes the body of an ANSI-C string `$'...'` (without the quotes).
pub(super) fn decode_ansi_c(s: &str) -> String {
    super::decode::unescape_c(s, super::decode::CEscapes::AnsiC).0
}

/// Whether `name` is a valid shell variable name.
pub(super) fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Minimal shell glob matching (`*`, `?`, everything else literal), used for
/// `${x#pat}` style operators on known values.
pub(super) fn glob_match(pattern: &str, text: &str) -> bool {
    crate::policy::glob::wildcard_match(pattern, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_drops_empty_unquoted_words() {
        let mut w = Word::lit("cat");
        w.push_split();
        w.push_lit("/etc/passwd");
        let parts = w.split();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1].constant().as_deref(), Some("/etc/passwd"));
        assert!(Word::lit("").split().is_empty());
    }

    #[test]
    fn escapes() {
        assert_eq!(
            unescape_unquoted("\\c\\u\\r\\l"),
            ("curl".to_string(), true)
        );
        assert_eq!(unescape_dquote("a\\$b\\n"), "a$b\\n");
        assert_eq!(decode_ansi_c("\\x63url"), "curl");
        assert_eq!(decode_ansi_c("\\143url"), "curl");
        assert!(glob_match("*/", "a/b/"));
        assert!(!glob_match("a*c", "abd"));
    }
}
