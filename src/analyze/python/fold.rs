//! Constant values as the Python analyzer folds them, and the pure decoders
//! it applies to them (base64 family, hex, rot13, `%`/`format` formatting).
//!
//! Every function here is total and bounded: sizes are checked against the
//! caller's limit before anything is built, and malformed input yields
//! `None`, never a panic. Resolving names and walking the tree is the
//! walker's job, not this module's.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;

/// A folded constant.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Str(String),
    Bytes(Vec<u8>),
    Int(i64),
    Float(f64),
    Bool(bool),
    None,
    Seq(Vec<Val>),
}

impl Val {
    /// Rough size in bytes, for budget checks: the text, or for a sequence
    /// its items plus one `Val` record each (a list of small ints is not free).
    pub fn size(&self) -> usize {
        match self {
            Val::Str(s) => s.len(),
            Val::Bytes(b) => b.len(),
            Val::Seq(v) => v
                .iter()
                .map(|x| x.size().saturating_add(std::mem::size_of::<Val>()))
                .fold(0usize, usize::saturating_add),
            _ => 8,
        }
    }

    /// The value as text: strings as is, bytes when they are UTF-8.
    pub fn text(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            Val::Bytes(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    /// Raw bytes of a string or bytes value.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Val::Str(s) => Some(s.as_bytes()),
            Val::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// `str(value)` for scalars, as Python prints them.
    pub fn display(&self) -> Option<String> {
        Some(match self {
            Val::Str(s) => s.clone(),
            Val::Bytes(b) => format!("b'{}'", String::from_utf8_lossy(b)),
            Val::Int(i) => i.to_string(),
            Val::Float(f) => format!("{f:?}"),
            Val::Bool(true) => "True".into(),
            Val::Bool(false) => "False".into(),
            Val::None => "None".into(),
            Val::Seq(_) => return None,
        })
    }

    /// Flattened argument strings for a fact (`("10.0.0.1", 4444)` gives two).
    pub fn push_args(&self, out: &mut Vec<String>) {
        match self {
            Val::Seq(v) => {
                for x in v.iter().take(64) {
                    x.push_args(out);
                }
            }
            Val::Bytes(b) => out.push(String::from_utf8_lossy(b).into_owned()),
            other => {
                if let Some(s) = other.display() {
                    out.push(s);
                }
            }
        }
    }

    pub fn truthy(&self) -> bool {
        match self {
            Val::Str(s) => !s.is_empty(),
            Val::Bytes(b) => !b.is_empty(),
            Val::Int(i) => *i != 0,
            Val::Float(f) => *f != 0.0,
            Val::Bool(b) => *b,
            Val::None => false,
            Val::Seq(v) => !v.is_empty(),
        }
    }

    /// Elements when iterated: characters of a string, ints of bytes, items of a sequence.
    pub fn iter_items(&self) -> Option<Vec<Val>> {
        match self {
            Val::Str(s) => Some(s.chars().map(|c| Val::Str(c.to_string())).collect()),
            Val::Bytes(b) => Some(b.iter().map(|x| Val::Int(i64::from(*x))).collect()),
            Val::Seq(v) => Some(v.clone()),
            _ => None,
        }
    }
}

fn lenient(alpha: &alphabet::Alphabet) -> GeneralPurpose {
    GeneralPurpose::new(
        alpha,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    )
}

/// `base64.b64decode` as CPython does it by default: characters outside the
/// alphabet are dropped, padding is optional.
pub fn b64decode(input: &[u8], urlsafe: bool) -> Option<Vec<u8>> {
    let clean: Vec<u8> = input
        .iter()
        .copied()
        .filter(|c| {
            c.is_ascii_alphanumeric()
                || if urlsafe {
                    *c == b'-' || *c == b'_'
                } else {
                    *c == b'+' || *c == b'/'
                }
        })
        .collect();
    if clean.len() % 4 == 1 {
        return None;
    }
    let engine = if urlsafe {
        lenient(&alphabet::URL_SAFE)
    } else {
        lenient(&alphabet::STANDARD)
    };
    engine.decode(&clean).ok()
}

/// `base64.b32decode` (RFC 4648 alphabet, case-insensitive here for leniency).
pub fn b32decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() * 5 / 8);
    let (mut acc, mut bits) = (0u64, 0u32);
    for &c in input {
        let v = match c.to_ascii_uppercase() {
            b'A'..=b'Z' => c.to_ascii_uppercase() - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            b'=' | b'\n' | b'\r' | b' ' => continue,
            _ => return None,
        };
        acc = (acc << 5) | u64::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

/// Hex decoding as `bytes.fromhex`/`binascii.unhexlify`/`base64.b16decode` (whitespace ignored).
pub fn hexdecode(input: &[u8]) -> Option<Vec<u8>> {
    let digits: Vec<u8> = input
        .iter()
        .copied()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks(2)
        .map(|p| {
            let h = (p[0] as char).to_digit(16)?;
            let l = (p[1] as char).to_digit(16)?;
            Some((h * 16 + l) as u8)
        })
        .collect()
}

/// `base64.a85decode` (plain Ascii85 with `z`; `<~ ~>` framing tolerated).
pub fn a85decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut s: &[u8] = input;
    if let Some(x) = s.strip_prefix(b"<~") {
        s = x;
    }
    if let Some(x) = s.strip_suffix(b"~>") {
        s = x;
    }
    let mut out = Vec::new();
    let mut group: Vec<u32> = Vec::with_capacity(5);
    for &c in s {
        match c {
            b'z' if group.is_empty() => out.extend_from_slice(&[0, 0, 0, 0]),
            b'!'..=b'u' => {
                group.push(u32::from(c - b'!'));
                if group.len() == 5 {
                    out.extend_from_slice(&base85_group(&group)?);
                    group.clear();
                }
            }
            c if c.is_ascii_whitespace() => {}
            _ => return None,
        }
    }
    finish_base85(group, 84, &mut out)?;
    Some(out)
}

/// `base64.b85decode` (the git/RFC 1924 alphabet).
pub fn b85decode(input: &[u8]) -> Option<Vec<u8>> {
    const ALPHA: &[u8] =
        b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~";
    let mut out = Vec::new();
    let mut group: Vec<u32> = Vec::with_capacity(5);
    for &c in input {
        if c.is_ascii_whitespace() {
            continue;
        }
        let v = ALPHA.iter().position(|a| *a == c)? as u32;
        group.push(v);
        if group.len() == 5 {
            out.extend_from_slice(&base85_group(&group)?);
            group.clear();
        }
    }
    finish_base85(group, 84, &mut out)?;
    Some(out)
}

fn base85_group(g: &[u32]) -> Option<[u8; 4]> {
    let mut acc: u64 = 0;
    for v in g {
        acc = acc * 85 + u64::from(*v);
    }
    let acc = u32::try_from(acc).ok()?;
    Some(acc.to_be_bytes())
}

fn finish_base85(mut group: Vec<u32>, pad: u32, out: &mut Vec<u8>) -> Option<()> {
    if group.is_empty() {
        return Some(());
    }
    if group.len() == 1 {
        return None;
    }
    let n = group.len();
    while group.len() < 5 {
        group.push(pad);
    }
    let b = base85_group(&group)?;
    out.extend_from_slice(&b[..n - 1]);
    Some(())
}

/// The `rot13` codec.
pub fn rot13(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'a'..='z' => (((c as u8 - b'a') + 13) % 26 + b'a') as char,
            'A'..='Z' => (((c as u8 - b'A') + 13) % 26 + b'A') as char,
            _ => c,
        })
        .collect()
}

/// `fmt % args` for the `%s %d %r %i %x %%` conversions; anything else is not folded.
pub fn percent_format(fmt: &str, args: &[Val], limit: usize) -> Option<String> {
    let mut out = String::new();
    let mut it = fmt.chars().peekable();
    let mut next = args.iter();
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        // Skip flags/width/precision; they do not change what the text names.
        while matches!(it.peek(), Some('-' | '+' | ' ' | '#' | '0'..='9' | '.')) {
            it.next();
        }
        match it.next()? {
            '%' => out.push('%'),
            's' | 'r' | 'a' => out.push_str(&next.next()?.display()?),
            'd' | 'i' | 'u' => match next.next()? {
                Val::Int(i) => out.push_str(&i.to_string()),
                Val::Bool(b) => out.push_str(if *b { "1" } else { "0" }),
                _ => return None,
            },
            'x' => match next.next()? {
                Val::Int(i) => out.push_str(&format!("{i:x}")),
                _ => return None,
            },
            'c' => match next.next()? {
                Val::Int(i) => out.push(char::from_u32(u32::try_from(*i).ok()?)?),
                Val::Str(s) => out.push_str(s),
                _ => return None,
            },
            _ => return None,
        }
        if out.len() > limit {
            return None;
        }
    }
    Some(out)
}

/// `fmt.format(*args, **kwargs)` for plain `{}`, `{0}` and `{name}` fields.
pub fn brace_format(
    fmt: &str,
    args: &[Val],
    kwargs: &[(String, Val)],
    limit: usize,
) -> Option<String> {
    let mut out = String::new();
    let mut auto = 0usize;
    let mut it = fmt.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '{' if it.peek() == Some(&'{') => {
                it.next();
                out.push('{');
            }
            '}' if it.peek() == Some(&'}') => {
                it.next();
                out.push('}');
            }
            '{' => {
                let mut field = String::new();
                loop {
                    match it.next()? {
                        '}' => break,
                        ch => field.push(ch),
                    }
                }
                let name = field.split([':', '!']).next().unwrap_or("");
                let val = if name.is_empty() {
                    auto += 1;
                    args.get(auto - 1)?
                } else if let Ok(i) = name.parse::<usize>() {
                    args.get(i)?
                } else {
                    &kwargs.iter().find(|(k, _)| k == name)?.1
                };
                out.push_str(&val.display()?);
            }
            '}' => return None,
            _ => out.push(c),
        }
        if out.len() > limit {
            return None;
        }
    }
    Some(out)
}

/// Python slicing `seq[lower:upper:step]` on strings, bytes and sequences.
pub fn slice(v: &Val, lower: Option<i64>, upper: Option<i64>, step: Option<i64>) -> Option<Val> {
    let step = step.unwrap_or(1);
    if step == 0 {
        return None;
    }
    let pick = |len: usize| -> Vec<usize> {
        let n = len as i64;
        let norm = |x: i64, lo: i64, hi: i64| {
            if x < 0 {
                (x + n).clamp(lo, hi)
            } else {
                x.clamp(lo, hi)
            }
        };
        let mut idx = Vec::new();
        if step > 0 {
            let (mut i, end) = (
                lower.map_or(0, |x| norm(x, 0, n)),
                upper.map_or(n, |x| norm(x, 0, n)),
            );
            while i < end {
                idx.push(i as usize);
                i += step;
            }
        } else {
            let (mut i, end) = (
                lower.map_or(n - 1, |x| norm(x, -1, n - 1)),
                upper.map_or(-1, |x| norm(x, -1, n - 1)),
            );
            while i > end {
                idx.push(i as usize);
                i += step;
            }
        }
        idx
    };
    match v {
        Val::Str(s) => {
            let chars: Vec<char> = s.chars().collect();
            Some(Val::Str(
                pick(chars.len())
                    .into_iter()
                    .filter_map(|i| chars.get(i))
                    .collect(),
            ))
        }
        Val::Bytes(b) => Some(Val::Bytes(
            pick(b.len())
                .into_iter()
                .filter_map(|i| b.get(i).copied())
                .collect(),
        )),
        Val::Seq(items) => Some(Val::Seq(
            pick(items.len())
                .into_iter()
                .filter_map(|i| items.get(i).cloned())
                .collect(),
        )),
        _ => None,
    }
}

/// `seq[i]` with Python's negative indexing.
pub fn index(v: &Val, i: i64) -> Option<Val> {
    let at = |len: usize| -> Option<usize> {
        let n = len as i64;
        let j = if i < 0 { i + n } else { i };
        (0..n).contains(&j).then_some(j as usize)
    };
    match v {
        Val::Str(s) => {
            let chars: Vec<char> = s.chars().collect();
            chars.get(at(chars.len())?).map(|c| Val::Str(c.to_string()))
        }
        Val::Bytes(b) => b.get(at(b.len())?).map(|x| Val::Int(i64::from(*x))),
        Val::Seq(items) => items.get(at(items.len())?).cloned(),
        _ => None,
    }
}

/// `os.path.join` semantics: an absolute later part restarts the path.
pub fn path_join(parts: &[String]) -> String {
    let mut out = String::new();
    for p in parts {
        if p.starts_with('/') || out.is_empty() {
            out = p.clone();
        } else if out.ends_with('/') {
            out.push_str(p);
        } else {
            out.push('/');
            out.push_str(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoders() {
        assert_eq!(b64decode(b"aWQ=", false).as_deref(), Some(&b"id"[..]));
        assert_eq!(b64decode(b"aWQ", false).as_deref(), Some(&b"id"[..]));
        assert_eq!(b32decode(b"NFSA====").as_deref(), Some(&b"id"[..]));
        assert_eq!(hexdecode(b"6964").as_deref(), Some(&b"id"[..]));
        assert_eq!(a85decode(b"BOu!rDZ").as_deref(), Some(&b"hello"[..]));
        assert_eq!(b85decode(b"Xk~0{Zv").as_deref(), Some(&b"hello"[..]));
        assert_eq!(rot13("flfgrz"), "system");
        assert_eq!(
            percent_format("%s-%d%%", &[Val::Str("a".into()), Val::Int(3)], 100).as_deref(),
            Some("a-3%")
        );
        assert_eq!(
            brace_format(
                "{}{x}{0}",
                &[Val::Str("a".into())],
                &[("x".into(), Val::Int(1))],
                100
            )
            .as_deref(),
            Some("a1a")
        );
        assert_eq!(
            slice(&Val::Str("metsys".into()), None, None, Some(-1)),
            Some(Val::Str("system".into()))
        );
        assert_eq!(
            slice(&Val::Str("abcdef".into()), Some(1), Some(-1), None),
            Some(Val::Str("bcde".into()))
        );
        assert_eq!(
            path_join(&["~".into(), ".ssh".into(), "id_rsa".into()]),
            "~/.ssh/id_rsa"
        );
    }
}
