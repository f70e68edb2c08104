//! Glob patterns for rule matching: `*` matches any run of characters
//! (including none and including dots), `?` exactly one character, anything
//! else itself. Matching is case-sensitive and linear in practice (classic
//! two-pointer algorithm with one backtrack point), so a hostile name cannot
//! make matching slow.

/// A validated glob pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    source: String,
    shape: Shape,
}

/// Most rule patterns are a literal (`os.system`) or a literal with one
/// trailing `*` (`subprocess.*`); those need no wildcard walk. Rule matching
/// runs every pattern against every fact, so this is on the hot path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Literal,
    /// Literal prefix of this many bytes, then one `*`.
    Prefix(usize),
    Wild,
}

/// Why a pattern was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GlobError {
    #[error("empty pattern")]
    Empty,
    #[error("pattern {0:?} is only wildcards and would match everything")]
    MatchesEverything(String),
    #[error("pattern {0:?} contains a control character")]
    Control(String),
    #[error("pattern {0:?} is longer than 256 characters")]
    TooLong(String),
}

impl Glob {
    pub fn new(pattern: &str) -> Result<Glob, GlobError> {
        if pattern.is_empty() {
            return Err(GlobError::Empty);
        }
        if pattern.chars().count() > 256 {
            return Err(GlobError::TooLong(pattern.to_string()));
        }
        if pattern.chars().any(char::is_control) {
            return Err(GlobError::Control(pattern.to_string()));
        }
        if pattern.chars().all(|c| c == '*') {
            return Err(GlobError::MatchesEverything(pattern.to_string()));
        }
        let wild = |c: char| c == '*' || c == '?';
        let shape = match pattern.strip_suffix('*') {
            _ if !pattern.contains(wild) => Shape::Literal,
            Some(prefix) if !prefix.contains(wild) => Shape::Prefix(prefix.len()),
            _ => Shape::Wild,
        };
        Ok(Glob {
            source: pattern.to_string(),
            shape,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub fn matches(&self, text: &str) -> bool {
        match self.shape {
            Shape::Literal => text == self.source,
            Shape::Prefix(n) => text.starts_with(&self.source[..n]),
            // ASCII on both sides: bytes are characters, no allocation.
            Shape::Wild => wildcard_match(&self.source, text),
        }
    }
}

/// `*` and `?` matching of `text` against `pattern` given as plain strings,
/// for callers without a compiled [`Glob`] (the Bash analyzer's `${x#pat}`).
pub(crate) fn wildcard_match(pattern: &str, text: &str) -> bool {
    if pattern.is_ascii() && text.is_ascii() {
        return wildcard(pattern.as_bytes(), text.as_bytes(), b'*', b'?');
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    wildcard(&p, &t, '*', '?')
}

/// The two-pointer wildcard match with one backtrack point. A `*` in the
/// pattern is always a wildcard, also where the text has a literal `*`.
fn wildcard<T: Copy + PartialEq>(p: &[T], t: &[T], star_sym: T, one: T) -> bool {
    let (mut ti, mut pi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == one || (p[pi] != star_sym && p[pi] == t[ti])) {
            ti += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == star_sym {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == star_sym)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, t: &str) -> bool {
        Glob::new(p).unwrap().matches(t)
    }

    #[test]
    fn globs() {
        assert!(m("subprocess.*", "subprocess.Popen"));
        assert!(m("os.exec*", "os.execvp"));
        assert!(!m("os.exec*", "os.system"));
        assert!(m("os.system", "os.system"));
        assert!(!m("os.system", "os.systemx"));
        assert!(m("/proc/*/root", "/proc/1/root"));
        assert!(m("?url", "curl"));
        // Each shape, including non-ASCII text against `?`.
        assert!(m("a*", "a") && m("a*", "abc") && !m("a*", "ba"));
        assert!(m("a?c", "aéc") && !m("a?c", "aééc"));
        assert!(m("*.ssh/*", "~/.ssh/id_rsa") && m("é*", "éa") && !m("é", "e"));
        assert!(
            m("*a*", "x*a*b") && m("a?*", "a**b"),
            "a * in the text is just a character"
        );
        assert!(m("*169.254.169.254*", "http://169.254.169.254/latest"));
        assert!(!m("eval", "model.eval"));
        assert!(Glob::new("**").is_err());
        assert!(Glob::new("").is_err());
    }
}
