//! GNU sed scripts that run commands: the `e command` command (the rest of
//! its line is a shell command) and the `e` flag of `s///e` (the pattern
//! space after the substitution is run; a constant replacement is analysed
//! as the command, anything else is dynamic code). It reads addresses,
//! regexes with any delimiter, `a`/`i`/`c` text and labels only to find
//! where each command starts; it does not model what sed prints.

use super::Lang;
use crate::analyze::bash::walk::{Analyzer, R};
use crate::analyze::bash::words::Word;
use crate::analyze::Span;

/// What a sed script runs.
#[derive(Debug, Default, PartialEq)]
pub(super) struct SedExec {
    pub commands: Vec<String>,
    /// `s///e` whose replacement is built from the input (`\1`, `&`).
    pub dynamic: bool,
}

/// Reads a delimited part (regex or replacement) from `i`; returns its
/// text and the index after the closing delimiter.
fn delimited(chars: &[char], mut i: usize, d: char) -> (String, usize) {
    let mut out = String::new();
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            if chars[i + 1] == d {
                out.push(d);
            } else {
                out.push(c);
                out.push(chars[i + 1]);
            }
            i += 2;
            continue;
        }
        if c == d {
            return (out, i + 1);
        }
        out.push(c);
        i += 1;
    }
    (out, i)
}

fn rest_of_line(chars: &[char], mut i: usize) -> (String, usize) {
    let mut out = String::new();
    while i < chars.len() && chars[i] != '\n' {
        out.push(chars[i]);
        i += 1;
    }
    (out, i)
}

/// Scans a sed script for the commands it executes.
pub(super) fn sed_exec(script: &str) -> SedExec {
    let chars: Vec<char> = script.chars().collect();
    let mut out = SedExec::default();
    let mut i = 0;
    let mut guard = 0;
    while i < chars.len() && guard < 10_000 {
        guard += 1;
        // Separators and blocks.
        while i < chars.len() && (chars[i].is_whitespace() || matches!(chars[i], ';' | '{' | '}')) {
            i += 1;
        }
        if i >= chars.len() {
            break;
        }
        // Addresses: numbers, `$`, `/re/`, `\cREc`, `first~step`, `,`, `+N`, `!`.
        while let Some(&c) = chars.get(i) {
            if c.is_ascii_digit() || matches!(c, '$' | ',' | '~' | '+' | '!' | ' ') {
                i += 1;
            } else if c == '/' {
                i = delimited(&chars, i + 1, '/').1;
                while chars.get(i).is_some_and(|c| matches!(c, 'I' | 'M')) {
                    i += 1;
                }
            } else if c == '\\' && i + 1 < chars.len() {
                let d = chars[i + 1];
                i = delimited(&chars, i + 2, d).1;
            } else {
                break;
            }
        }
        let Some(&cmd) = chars.get(i) else { break };
        i += 1;
        match cmd {
            '#' | 'a' | 'i' | 'c' | 'r' | 'R' | 'w' | 'W' | ':' | 'b' | 't' | 'T' | 'v' => {
                // Text, file names and labels run to the end of the line
                // (labels of b/t/T may also end at `;`).
                let (mut text, mut j) = rest_of_line(&chars, i);
                // `a\` text goes on over lines that end in a backslash.
                while matches!(cmd, 'a' | 'i' | 'c') && text.ends_with('\\') && j < chars.len() {
                    let (more, k) = rest_of_line(&chars, j + 1);
                    text = more;
                    j = k;
                }
                i = j;
                if matches!(cmd, 'b' | 't' | 'T') {
                    if let Some(k) = text.find(';') {
                        i = j - (text.chars().count() - text[..k].chars().count());
                    }
                }
            }
            'e' => {
                let (text, j) = rest_of_line(&chars, i);
                i = j;
                let t = text.trim();
                if t.is_empty() {
                    // `e` alone runs the pattern space: the input decides.
                    out.dynamic = true;
                } else {
                    out.commands.push(t.to_string());
                }
            }
            's' | 'y' => {
                let Some(&d) = chars.get(i) else { break };
                let (_, j) = delimited(&chars, i + 1, d);
                let (replacement, k) = delimited(&chars, j, d);
                i = k;
                let mut flags = String::new();
                while let Some(&f) = chars.get(i) {
                    if f == ';' || f == '\n' || f == '}' {
                        break;
                    }
                    if f == 'w' {
                        i = rest_of_line(&chars, i).1;
                        break;
                    }
                    flags.push(f);
                    i += 1;
                }
                if cmd == 's' && flags.contains('e') {
                    if replacement.contains('&') || replacement.contains('\\') {
                        out.dynamic = true;
                    } else {
                        out.commands.push(replacement);
                    }
                }
            }
            _ => {
                // q/Q/l/L take an optional number; the rest take nothing.
                while chars.get(i).is_some_and(|c| c.is_ascii_digit()) {
                    i += 1;
                }
            }
        }
        if out.commands.len() > 16 {
            break;
        }
    }
    out
}

impl<'s> Analyzer<'s> {
    /// `sed -e SCRIPT` / `sed SCRIPT`: commands run by `e` and `s///e`.
    pub(super) fn sed_exec(&mut self, args: &[Word], span: Span) -> R<()> {
        let mut scripts: Vec<Word> = Vec::new();
        let mut operand_script = true;
        let mut i = 0;
        while i < args.len() {
            let t = args[i].known_text();
            if t == "--" {
                break;
            }
            if t == "-e" || t == "--expression" {
                if let Some(s) = args.get(i + 1) {
                    scripts.push(s.clone());
                }
                operand_script = false;
                i += 2;
                continue;
            }
            if let Some(s) = t.strip_prefix("--expression=") {
                scripts.push(Word::lit(s));
                operand_script = false;
            } else if t == "-f" || t == "--file" || t.starts_with("--file=") {
                operand_script = false;
                if t == "-f" || t == "--file" {
                    i += 1;
                }
            } else if t == "-l" || t == "--line-length" {
                i += 1;
            } else if !t.starts_with('-') && operand_script {
                scripts.push(args[i].clone());
                break;
            }
            i += 1;
        }
        for s in scripts {
            let text = s.known_text();
            if !text.contains('e') {
                continue;
            }
            let found = sed_exec(&text);
            if found.dynamic || (s.has_unknown() && !found.commands.is_empty()) {
                self.signal("dynamic-code", span);
            }
            for c in found.commands {
                self.lexed_payload(Lang::Bash, &c, vec!["sed e".into()], span)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sed_scripts() {
        assert_eq!(
            sed_exec("1e exec /bin/sh 1>&0").commands,
            ["exec /bin/sh 1>&0"]
        );
        assert_eq!(sed_exec("s/x/id/e").commands, ["id"]);
        assert!(sed_exec("s/.*/&/e").dynamic);
        assert_eq!(sed_exec("s/e/E/g; /^#/d").commands, Vec::<String>::new());
        assert_eq!(sed_exec("/exec/ s/e/f/").commands, Vec::<String>::new());
        assert_eq!(
            sed_exec("a\\\nhello e world").commands,
            Vec::<String>::new()
        );
        assert_eq!(sed_exec("$!N;e id").commands, ["id"]);
        assert_eq!(sed_exec("s|/usr|/opt|;1e uname").commands, ["uname"]);
        assert!(!sed_exec("y/abc/xyz/").dynamic);
    }
}
