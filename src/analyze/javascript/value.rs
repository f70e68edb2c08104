//! Abstract values for the JavaScript walker and the pure folding steps on
//! them (string methods, char codes, base64/hex/URI decoding, escapes).
//!
//! This module only computes values; it never emits facts and never walks
//! the tree. Every operation is bounded in output size so a hostile program
//! cannot make folding allocate without limit.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use tree_sitter::Node;

/// Largest string the folder builds; longer results become unknown.
pub const MAX_STR: usize = 256 << 10;
/// Largest constant array or object the folder keeps.
pub const MAX_ITEMS: usize = 4096;

/// Estimated bytes one array item or object entry occupies besides its
/// content (the `Val` record and its allocations), so that a large array of
/// small items is not counted as free.
pub const ITEM_COST: usize = 96;

/// Stands for `__filename` / `process.argv[1]`: the running script itself,
/// so self-spawning can be recognised in arguments and commands.
pub const SELF_MARK: &str = "__cordon_self__";

/// What a value is known to be.
#[derive(Debug, Clone, Default)]
pub enum V<'t> {
    #[default]
    Unknown,
    /// A constant string.
    Str(String),
    /// A string with unknown parts, each shown as `*` (for path and URL checks only).
    Partial(String),
    Num(f64),
    Bool(bool),
    Null,
    Arr(Vec<Val<'t>>),
    Obj(Vec<(String, Val<'t>)>),
    /// A resolved qualified name: a module (`child_process`), a member of one
    /// (`child_process.exec`), a global (`eval`, `process.env`), or the
    /// result of calling one (`net.Socket()`). The empty path is the global object.
    Path(String),
    /// A function written in the program.
    Func(Node<'t>),
    /// `x.constructor` of something that is not a function: one more
    /// `.constructor` reaches `Function`.
    Ctor,
    /// A regular expression literal: pattern and flags.
    Regex(String, String),
    /// A built-in method reached on a literal (`[]['filter']`); its
    /// constructor is `Function`.
    Native,
    /// A function built from constant code that only returns a global
    /// (`Function('return process')`): calling it gives that path.
    Thunk(String),
}

/// A value plus how it was obtained.
#[derive(Debug, Clone, Default)]
pub struct Val<'t> {
    pub v: V<'t>,
    /// Built with obfuscation-typical steps: char codes, decoding, reversing,
    /// escapes, slicing, radix tricks.
    pub obf: bool,
    /// Built by concatenating constants (`'ev' + 'al'`).
    pub concat: bool,
    /// Decoding steps the value went through, in order (`Buffer.from`, `atob`).
    pub decoders: Vec<&'static str>,
}

impl<'t> Val<'t> {
    pub fn unknown() -> Self {
        Val::default()
    }

    pub fn of(v: V<'t>) -> Self {
        Val {
            v,
            ..Val::default()
        }
    }

    pub fn str(s: impl Into<String>) -> Self {
        Val::of(V::Str(s.into()))
    }

    pub fn path(p: impl Into<String>) -> Self {
        Val::of(V::Path(p.into()))
    }

    /// Keeps `self`'s value and adds the provenance of `other`.
    pub fn taint_from(mut self, other: &Val<'_>) -> Self {
        self.obf |= other.obf;
        self.concat |= other.concat;
        for d in &other.decoders {
            if !self.decoders.contains(d) {
                self.decoders.push(d);
            }
        }
        self
    }

    pub fn obfuscated(mut self) -> Self {
        self.obf = true;
        self
    }

    pub fn decoded(mut self, step: &'static str) -> Self {
        if !self.decoders.contains(&step) {
            self.decoders.push(step);
        }
        self.obf = true;
        self
    }

    /// Estimated bytes the value occupies, for the analysis memory bound.
    /// Arrays and objects count every item, so this is linear in the value.
    pub fn size(&self) -> usize {
        let inner = match &self.v {
            V::Str(s) | V::Partial(s) | V::Path(s) | V::Thunk(s) => s.len(),
            V::Regex(p, f) => p.len().saturating_add(f.len()),
            V::Arr(items) => items
                .iter()
                .map(|i| ITEM_COST.saturating_add(i.size()))
                .fold(0usize, usize::saturating_add),
            V::Obj(props) => props
                .iter()
                .map(|(k, v)| ITEM_COST.saturating_add(k.len()).saturating_add(v.size()))
                .fold(0usize, usize::saturating_add),
            _ => 0,
        };
        inner.saturating_add(self.decoders.len() * std::mem::size_of::<&str>())
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.v {
            V::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_path(&self) -> Option<&str> {
        match &self.v {
            V::Path(p) => Some(p),
            _ => None,
        }
    }

    /// The value as a constant string, the way JavaScript would print it.
    pub fn to_const_string(&self) -> Option<String> {
        match &self.v {
            V::Str(s) => Some(s.clone()),
            V::Num(n) => Some(num_to_string(*n)),
            V::Bool(b) => Some(b.to_string()),
            V::Null => Some("null".into()),
            V::Arr(items) => {
                let mut parts = Vec::with_capacity(items.len());
                for i in items {
                    parts.push(i.to_const_string()?);
                }
                Some(parts.join(","))
            }
            _ => None,
        }
    }

    /// The value as a string with unknown parts shown as `*` (for path checks).
    pub fn to_partial_string(&self) -> Option<String> {
        match &self.v {
            V::Partial(s) => Some(s.clone()),
            _ => self.to_const_string(),
        }
    }

    pub fn as_num(&self) -> Option<f64> {
        match &self.v {
            V::Num(n) => Some(*n),
            V::Str(s) => parse_js_number(s),
            V::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            _ => None,
        }
    }

    /// JavaScript truthiness where it is known.
    pub fn truthy(&self) -> Option<bool> {
        match &self.v {
            V::Str(s) => Some(!s.is_empty()),
            V::Num(n) => Some(*n != 0.0 && !n.is_nan()),
            V::Bool(b) => Some(*b),
            V::Null => Some(false),
            V::Arr(_) | V::Obj(_) | V::Func(_) | V::Regex(..) => Some(true),
            _ => None,
        }
    }
}

/// Formats a number as JavaScript's `String(n)` does for the common cases.
pub fn num_to_string(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e21 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// `Number(s)` for decimal, hex, octal and binary literals.
pub fn parse_js_number(s: &str) -> Option<f64> {
    let t = s.trim().replace('_', "");
    let lower = t.to_ascii_lowercase();
    let radix_num =
        |digits: &str, radix: u32| i64::from_str_radix(digits, radix).ok().map(|v| v as f64);
    if let Some(h) = lower.strip_prefix("0x") {
        return radix_num(h, 16);
    }
    if let Some(o) = lower.strip_prefix("0o") {
        return radix_num(o, 8);
    }
    if let Some(b) = lower.strip_prefix("0b") {
        return radix_num(b, 2);
    }
    if lower.len() > 1 && lower.starts_with('0') && lower.chars().all(|c| c.is_ascii_digit()) {
        // Legacy octal literal (`0755`), as in sloppy-mode source.
        if lower.chars().all(|c| ('0'..='7').contains(&c)) {
            return radix_num(&lower[1..], 8);
        }
    }
    if lower.is_empty() {
        return None;
    }
    lower.parse::<f64>().ok()
}

/// `parseInt(s, radix)`: leading digits only.
pub fn parse_int(s: &str, radix: Option<u32>) -> Option<f64> {
    let t = s.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (radix, t) = match radix {
        Some(16) | None if t.to_ascii_lowercase().starts_with("0x") => (16, &t[2..]),
        Some(r) if (2..=36).contains(&r) => (r, t),
        None | Some(0) => (10, t),
        Some(_) => return None,
    };
    let digits: String = t.chars().take_while(|c| c.is_digit(radix)).collect();
    if digits.is_empty() || digits.len() > 15 {
        return None;
    }
    let v = i64::from_str_radix(&digits, radix).ok()? as f64;
    Some(if neg { -v } else { v })
}

/// `n.toString(radix)` for non-negative integers (the `(14).toString(36)` trick).
pub fn int_to_radix(n: f64, radix: u32) -> Option<String> {
    if !(2..=36).contains(&radix) || n.fract() != 0.0 || !(0.0..=9.0e15).contains(&n) {
        return None;
    }
    let mut v = n as u64;
    if v == 0 {
        return Some("0".into());
    }
    let mut out = Vec::new();
    while v > 0 {
        let d = (v % u64::from(radix)) as u32;
        out.push(std::char::from_digit(d, radix)?);
        v /= u64::from(radix);
    }
    out.reverse();
    Some(out.into_iter().collect())
}

/// Decodes the escapes of a JavaScript string literal body (quotes removed).
/// Returns the text and whether escapes that hide characters (`\x`, `\u`,
/// octal) were used.
pub fn unescape_js(body: &str) -> (String, bool) {
    let mut out = String::with_capacity(body.len());
    let mut hidden = false;
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = chars.next() else { break };
        match e {
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'v' => out.push('\u{b}'),
            '\n' => {}
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
            }
            'x' => {
                let h: String = chars.by_ref().take(2).collect();
                match u32::from_str_radix(&h, 16).ok().and_then(char::from_u32) {
                    Some(ch) => {
                        out.push(ch);
                        hidden = true;
                    }
                    None => out.push_str(&h),
                }
            }
            'u' => {
                let code = if chars.peek() == Some(&'{') {
                    chars.next();
                    let mut h = String::new();
                    for ch in chars.by_ref() {
                        if ch == '}' {
                            break;
                        }
                        h.push(ch);
                    }
                    u32::from_str_radix(&h, 16).ok()
                } else {
                    let h: String = chars.by_ref().take(4).collect();
                    u32::from_str_radix(&h, 16).ok()
                };
                if let Some(ch) = code.and_then(char::from_u32) {
                    out.push(ch);
                    hidden = true;
                }
            }
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                let mut n = 1;
                while n < 3 {
                    match chars.peek().and_then(|c| c.to_digit(8)) {
                        Some(d) if v * 8 + d <= 0o377 => {
                            v = v * 8 + d;
                            chars.next();
                            n += 1;
                        }
                        _ => break,
                    }
                }
                if let Some(ch) = char::from_u32(v) {
                    out.push(ch);
                    if v != 0 {
                        hidden = true;
                    }
                }
            }
            other => out.push(other),
        }
    }
    (out, hidden)
}

fn lenient_base64() -> GeneralPurpose {
    GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    )
}

/// Node's lenient base64 decode (`Buffer.from(s, 'base64')`, `atob`): ignores
/// whitespace and padding, accepts the URL-safe alphabet.
pub fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let cleaned: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '=')
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    if cleaned.is_empty() {
        return Some(Vec::new());
    }
    lenient_base64().decode(cleaned.as_bytes()).ok()
}

pub fn encode_base64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

pub fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let t: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !t.len().is_multiple_of(2) {
        return None;
    }
    t.chunks(2)
        .map(|p| {
            let hi = (p[0] as char).to_digit(16)?;
            let lo = (p[1] as char).to_digit(16)?;
            Some((hi * 16 + lo) as u8)
        })
        .collect()
}

/// Bytes as text, the way `buf.toString()` would show them (lossy UTF-8).
pub fn bytes_to_string(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `decodeURIComponent` / `unescape`: `%XX` (UTF-8 bytes) and `%uXXXX`.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |i: usize| bytes.get(i).and_then(|b| (*b as char).to_digit(16));
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if matches!(bytes.get(i + 1), Some(b'u') | Some(b'U')) {
                let code = (2..6).try_fold(0u32, |acc, k| hex(i + k).map(|d| acc * 16 + d));
                if let Some(ch) = code.and_then(char::from_u32) {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                    i += 6;
                    continue;
                }
            }
            if let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2)) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    bytes_to_string(&out)
}

/// `encodeURIComponent`-like escaping, enough to fold round trips.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Parses a JSON string literal (`JSON.parse('"\\u0065val"')`).
pub fn json_string(s: &str) -> Option<String> {
    serde_json::from_str::<String>(s.trim()).ok()
}

/// A regex literal that is only a literal text (optionally escaped
/// characters), so `replace(/-/g, '')` can be folded.
pub fn regex_literal_text(pattern: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let e = chars.next()?;
                if e.is_ascii_alphanumeric() {
                    return None;
                }
                out.push(e);
            }
            '.' | '*' | '+' | '?' | '(' | ')' | '[' | ']' | '{' | '}' | '|' | '^' | '$' => {
                return None
            }
            c => out.push(c),
        }
    }
    Some(out)
}

/// A character class of single literal characters (`/[-_.]/g`), as its set.
pub fn regex_char_class(pattern: &str) -> Option<Vec<char>> {
    let inner = pattern.strip_prefix('[')?.strip_suffix(']')?;
    if inner.starts_with('^') {
        return None;
    }
    let mut set = Vec::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => set.push(chars.next()?),
            '-' if !set.is_empty() => return None,
            c => set.push(c),
        }
    }
    Some(set)
}

/// Character-index slicing with JavaScript's negative-index rules.
pub fn js_slice(s: &str, start: Option<f64>, end: Option<f64>) -> String {
    let chars: Vec<char> = s.chars().collect();
    let len = chars.len() as i64;
    let norm = |v: f64| -> i64 {
        let v = v as i64;
        if v < 0 {
            (len + v).max(0)
        } else {
            v.min(len)
        }
    };
    let a = start.map(norm).unwrap_or(0);
    let b = end.map(norm).unwrap_or(len);
    if a >= b {
        return String::new();
    }
    chars[a as usize..b as usize].iter().collect()
}

/// `substring(a, b)`: clamps negatives to 0 and swaps when `a > b`.
pub fn js_substring(s: &str, start: Option<f64>, end: Option<f64>) -> String {
    let chars: Vec<char> = s.chars().collect();
    let len = chars.len() as f64;
    let clamp = |v: f64| v.max(0.0).min(len) as usize;
    let mut a = start.map(clamp).unwrap_or(0);
    let mut b = end.map(clamp).unwrap_or(chars.len());
    if a > b {
        std::mem::swap(&mut a, &mut b);
    }
    chars[a..b].iter().collect()
}

/// `substr(start, length)`.
pub fn js_substr(s: &str, start: Option<f64>, length: Option<f64>) -> String {
    let chars: Vec<char> = s.chars().collect();
    let len = chars.len() as i64;
    let a = match start.map(|v| v as i64).unwrap_or(0) {
        v if v < 0 => (len + v).max(0),
        v => v.min(len),
    };
    let n = length.map(|v| v.max(0.0) as i64).unwrap_or(len - a);
    let b = (a + n).min(len);
    if a >= b {
        return String::new();
    }
    chars[a as usize..b as usize].iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_decoders() {
        assert_eq!(unescape_js(r"\x65val"), ("eval".to_string(), true));
        assert_eq!(unescape_js(r"\u0065\u{76}al"), ("eval".to_string(), true));
        assert_eq!(unescape_js(r"\145val"), ("eval".to_string(), true));
        assert_eq!(unescape_js(r"a\'b\n"), ("a'b\n".to_string(), false));
        assert_eq!(decode_base64("ZXZhbA==").as_deref(), Some(&b"eval"[..]));
        assert_eq!(decode_base64("ZXZhbA").as_deref(), Some(&b"eval"[..]));
        assert_eq!(decode_hex("6576616c").as_deref(), Some(&b"eval"[..]));
        assert_eq!(percent_decode("%65%76%61%6c"), "eval");
        assert_eq!(percent_decode("%u0065val%"), "eval%");
        assert_eq!(int_to_radix(14.0, 36).as_deref(), Some("e"));
        assert_eq!(parse_int("ff", Some(16)), Some(255.0));
        assert_eq!(parse_js_number("0o4755"), Some(2541.0));
        assert_eq!(js_slice("abcdef", Some(-3.0), None), "def");
        assert_eq!(regex_literal_text(r"\-"), Some("-".into()));
        assert_eq!(regex_char_class("[-_]"), Some(vec!['-', '_']));
    }
}
