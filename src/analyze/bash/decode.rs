//! Decoders the shell offers (`base64 -d`, `xxd -r -p`, `rev`, `tr`, `printf`
//! escapes, `echo -e`), reimplemented on constant text so that a payload
//! hidden behind them can be analysed. Pure functions: no tree, no facts.

use base64::engine::general_purpose::{
    GeneralPurpose, STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD,
};
use base64::Engine;

/// Which escape dialect to decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CEscapes {
    /// `$'...'`: `\NNN` octal with 1-3 digits, `\xHH`, `\uHHHH`, `\cX`.
    AnsiC,
    /// `echo -e` and `printf %b`: octal is `\0NNN` (printf %b also `\NNN`), `\c` stops output.
    Echo,
    /// A printf format string: `\NNN` octal.
    Printf,
}

/// Decodes C-style escapes. Returns the text and whether output stopped at `\c`.
pub(super) fn unescape_c(s: &str, mode: CEscapes) -> (String, bool) {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut bytes: Vec<u8> = Vec::new();
    let flush = |bytes: &mut Vec<u8>, out: &mut String| {
        if !bytes.is_empty() {
            out.push_str(&String::from_utf8_lossy(bytes));
            bytes.clear();
        }
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '\\' || i + 1 >= chars.len() {
            flush(&mut bytes, &mut out);
            out.push(c);
            i += 1;
            continue;
        }
        let n = chars[i + 1];
        i += 2;
        let simple = match n {
            'n' => Some('\n'),
            't' => Some('\t'),
            'r' => Some('\r'),
            'a' => Some('\u{7}'),
            'b' => Some('\u{8}'),
            'f' => Some('\u{c}'),
            'v' => Some('\u{b}'),
            'e' | 'E' => Some('\u{1b}'),
            '\\' => Some('\\'),
            '\'' if mode == CEscapes::AnsiC => Some('\''),
            '"' if mode != CEscapes::Echo => Some('"'),
            '?' if mode == CEscapes::AnsiC => Some('?'),
            _ => None,
        };
        if let Some(ch) = simple {
            flush(&mut bytes, &mut out);
            out.push(ch);
            continue;
        }
        match n {
            'x' => {
                let (v, used) = read_radix(&chars[i..], 16, 2);
                if used == 0 {
                    flush(&mut bytes, &mut out);
                    out.push_str("\\x");
                } else {
                    bytes.push(v as u8);
                    i += used;
                }
            }
            'u' | 'U' => {
                let max = if n == 'u' { 4 } else { 8 };
                let (v, used) = read_radix(&chars[i..], 16, max);
                flush(&mut bytes, &mut out);
                if used == 0 {
                    out.push('\\');
                    out.push(n);
                } else {
                    out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
                    i += used;
                }
            }
            'c' if mode == CEscapes::AnsiC => {
                if i < chars.len() {
                    flush(&mut bytes, &mut out);
                    let ctl = (chars[i] as u32) & 0x1f;
                    out.push(char::from_u32(ctl).unwrap_or('\u{fffd}'));
                    i += 1;
                }
            }
            'c' => {
                flush(&mut bytes, &mut out);
                return (out, true);
            }
            '0'..='7' => {
                let (start, max) = match mode {
                    CEscapes::Echo if n == '0' => (i, 3),
                    CEscapes::Echo => {
                        flush(&mut bytes, &mut out);
                        out.push('\\');
                        out.push(n);
                        continue;
                    }
                    _ => (i - 1, 3),
                };
                let (v, used) = read_radix(&chars[start..], 8, max);
                bytes.push((v & 0xff) as u8);
                i = start + used;
            }
            _ => {
                flush(&mut bytes, &mut out);
                out.push('\\');
                out.push(n);
            }
        }
    }
    flush(&mut bytes, &mut out);
    (out, false)
}

fn read_radix(chars: &[char], radix: u32, max: usize) -> (u32, usize) {
    let mut v: u32 = 0;
    let mut used = 0;
    for c in chars.iter().take(max) {
        match c.to_digit(radix) {
            Some(d) => {
                v = v.saturating_mul(radix).saturating_add(d);
                used += 1;
            }
            None => break,
        }
    }
    (v, used)
}

/// `printf FORMAT ARGS...` on constant input: `%s %b %d %i %c %x %o %%`,
/// flags and widths skipped, the format reused while arguments remain.
/// `None` when the output would pass `max` bytes: reusing a large format for
/// every argument multiplies it, so the size is checked as it grows.
pub(super) fn printf(format: &str, args: &[String], max: usize) -> Option<String> {
    let mut out = String::new();
    let mut next = 0usize;
    // The shell reapplies the format until the arguments run out; bound the
    // rounds so a hostile argument list cannot make this slow.
    for _round in 0..256 {
        let consumed_before = next;
        let fmt: Vec<char> = format.chars().collect();
        let mut i = 0;
        let mut lit = String::new();
        while i < fmt.len() {
            let c = fmt[i];
            if c != '%' {
                lit.push(c);
                i += 1;
                continue;
            }
            out.push_str(&unescape_c(&lit, CEscapes::Printf).0);
            lit.clear();
            if out.len() > max {
                return None;
            }
            i += 1;
            while i < fmt.len() && "-+ #0123456789.".contains(fmt[i]) {
                i += 1;
            }
            let Some(&conv) = fmt.get(i) else { break };
            i += 1;
            if conv == '%' {
                out.push('%');
                continue;
            }
            let arg = args.get(next).cloned().unwrap_or_default();
            next += 1;
            match conv {
                's' | 'q' => out.push_str(&arg),
                'b' => {
                    let (t, stop) = unescape_c(&arg, CEscapes::Echo);
                    out.push_str(&t);
                    if stop {
                        return (out.len() <= max).then_some(out);
                    }
                }
                'd' | 'i' | 'u' => out.push_str(&parse_int(&arg).to_string()),
                'x' => out.push_str(&format!("{:x}", parse_int(&arg))),
                'X' => out.push_str(&format!("{:X}", parse_int(&arg))),
                'o' => out.push_str(&format!("{:o}", parse_int(&arg))),
                'c' => {
                    if let Some(ch) = arg.chars().next() {
                        out.push(ch);
                    }
                }
                _ => {}
            }
        }
        out.push_str(&unescape_c(&lit, CEscapes::Printf).0);
        if out.len() > max {
            return None;
        }
        if next >= args.len() || next == consumed_before {
            break;
        }
    }
    Some(out)
}

fn parse_int(s: &str) -> i64 {
    let t = s.trim();
    if let Some(c) = t.strip_prefix('\'').or_else(|| t.strip_prefix('"')) {
        return c.chars().next().map(|c| c as i64).unwrap_or(0);
    }
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return i64::from_str_radix(h, 16).unwrap_or(0);
    }
    if t.len() > 1 && t.starts_with('0') {
        return i64::from_str_radix(&t[1..], 8).unwrap_or(0);
    }
    t.parse().unwrap_or(0)
}

/// `echo` on constant arguments (with `-n`, `-e`, `-E` handled).
pub(super) fn echo(args: &[String]) -> String {
    let mut escapes = false;
    let mut newline = true;
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a.len() > 1 && a.starts_with('-') && a[1..].chars().all(|c| matches!(c, 'n' | 'e' | 'E'))
        {
            for c in a[1..].chars() {
                match c {
                    'n' => newline = false,
                    'e' => escapes = true,
                    _ => escapes = false,
                }
            }
            i += 1;
        } else {
            break;
        }
    }
    let joined = args[i..].join(" ");
    let mut out = if escapes {
        let (t, stop) = unescape_c(&joined, CEscapes::Echo);
        if stop {
            return t;
        }
        t
    } else {
        joined
    };
    if newline {
        out.push('\n');
    }
    out
}

/// Base64 in any common alphabet, padding optional, whitespace ignored.
pub(super) fn base64(s: &str) -> Option<String> {
    let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let engines: [&GeneralPurpose; 4] = [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD];
    let trimmed = clean.trim_end_matches('=');
    for e in engines {
        for candidate in [clean.as_str(), trimmed] {
            if let Ok(bytes) = e.decode(candidate) {
                return String::from_utf8(bytes).ok();
            }
        }
    }
    None
}

/// RFC 4648 base32.
pub(super) fn base32(s: &str) -> Option<String> {
    let mut bits: u64 = 0;
    let mut nbits = 0u32;
    let mut out = Vec::new();
    for c in s.chars().filter(|c| !c.is_whitespace() && *c != '=') {
        let v = match c.to_ascii_uppercase() {
            c @ 'A'..='Z' => c as u64 - 'A' as u64,
            c @ '2'..='7' => c as u64 - '2' as u64 + 26,
            _ => return None,
        };
        bits = (bits << 5) | v;
        nbits += 5;
        if nbits >= 8 {
            nbits -= 8;
            out.push(((bits >> nbits) & 0xff) as u8);
        }
    }
    String::from_utf8(out).ok()
}

/// Plain hex (`xxd -r -p`), whitespace and `\x`/`0x` prefixes ignored.
pub(super) fn hex(s: &str) -> Option<String> {
    let clean: String = s
        .replace("\\x", "")
        .replace("0x", "")
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .collect();
    if !clean.len().is_multiple_of(2) || clean.is_empty() {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..clean.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&clean[i..i + 2], 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

/// `rev`: each line reversed.
pub(super) fn rev(s: &str) -> String {
    let mut out: Vec<String> = s.split('\n').map(|l| l.chars().rev().collect()).collect();
    if s.ends_with('\n') {
        out.pop();
        return out.join("\n") + "\n";
    }
    out.join("\n")
}

/// Expands a `tr` set: ranges, escapes and the common classes.
fn tr_set(set: &str) -> Vec<char> {
    let mut src: Vec<char> = Vec::new();
    let mut rest = set;
    while !rest.is_empty() {
        let class = [
            ("[:lower:]", ('a', 'z')),
            ("[:upper:]", ('A', 'Z')),
            ("[:digit:]", ('0', '9')),
        ]
        .iter()
        .find(|(name, _)| rest.starts_with(name))
        .copied();
        if let Some((name, (a, b))) = class {
            src.extend(a..=b);
            rest = &rest[name.len()..];
            continue;
        }
        if let Some(r) = rest.strip_prefix("[:alpha:]") {
            src.extend('a'..='z');
            src.extend('A'..='Z');
            rest = r;
            continue;
        }
        let mut it = rest.chars();
        let Some(c) = it.next() else { break };
        let c = if c == '\\' {
            match it.next() {
                Some('n') => '\n',
                Some('t') => '\t',
                Some(o) => o,
                None => '\\',
            }
        } else {
            c
        };
        src.push(c);
        rest = it.as_str();
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < src.len() {
        if i + 2 < src.len() && src[i + 1] == '-' && src[i] <= src[i + 2] {
            out.extend(src[i]..=src[i + 2]);
            i += 3;
        } else {
            out.push(src[i]);
            i += 1;
        }
    }
    out
}

/// `tr SET1 SET2` and `tr -d SET1` on constant text.
pub(super) fn tr(input: &str, args: &[String]) -> Option<String> {
    let delete = args.iter().any(|a| a.starts_with('-') && a.contains('d'));
    let sets: Vec<&String> = args
        .iter()
        .filter(|a| !(a.starts_with('-') && a.len() > 1))
        .collect();
    let set1 = tr_set(sets.first()?);
    if delete {
        return Some(input.chars().filter(|c| !set1.contains(c)).collect());
    }
    let set2 = tr_set(sets.get(1)?);
    let last = *set2.last()?;
    Some(
        input
            .chars()
            .map(|c| match set1.iter().position(|x| *x == c) {
                Some(i) => set2.get(i).copied().unwrap_or(last),
                None => c,
            })
            .collect(),
    )
}

/// Whether a `tr` invocation looks like a cipher (rot13 and friends) rather
/// than case folding or cleanup.
pub(super) fn tr_is_cipher(args: &[String]) -> bool {
    let sets: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    if sets.len() < 2 {
        return false;
    }
    let (a, b) = (tr_set(sets[0]), tr_set(sets[1]));
    let upper: Vec<char> = ('A'..='Z').collect();
    let lower: Vec<char> = ('a'..='z').collect();
    let folding = (a == upper && b == lower) || (a == lower && b == upper);
    let alpha = a.iter().filter(|c| c.is_ascii_alphabetic()).count() >= 13;
    alpha && !folding && a != b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoders() {
        assert_eq!(base64("Y3VybA==").as_deref(), Some("curl"));
        assert_eq!(base64("Y3VybA").as_deref(), Some("curl"));
        assert_eq!(base32("MN2XE3A=").as_deref(), Some("curl"));
        assert_eq!(hex("6375726c").as_deref(), Some("curl"));
        assert_eq!(rev("lruc\n"), "curl\n");
        let rot = ["A-Za-z".to_string(), "N-ZA-Mn-za-m".to_string()];
        assert_eq!(tr("phey", &rot).as_deref(), Some("curl"));
        assert!(tr_is_cipher(&rot));
        assert!(!tr_is_cipher(&["a-z".to_string(), "A-Z".to_string()]));
        assert_eq!(printf("\\x63\\x75rl", &[], 64).as_deref(), Some("curl"));
        assert_eq!(
            printf("%s%s", &["cu".into(), "rl".into()], 64).as_deref(),
            Some("curl")
        );
        assert_eq!(printf("\\143url\\n", &[], 64).as_deref(), Some("curl\n"));
        // A format reused for every argument multiplies: past the cap it is unknown.
        let args: Vec<String> = (0..200).map(|i| i.to_string()).collect();
        let format = format!("%s{}", "x".repeat(1000));
        assert_eq!(printf(&format, &args, 1 << 16), None);
        assert!(printf(&format, &args[..2], 1 << 16).is_some());
        assert_eq!(echo(&["-e".into(), "\\x63url".into()]), "curl\n");
        assert_eq!(echo(&["-n".into(), "a".into(), "b".into()]), "a b");
    }
}
