//! Tcl programs (`expect -c`, `tclsh`, `wish`): commands split at `;` and
//! newlines, words with Tcl's quoting (braces literal, `"..."` and bare
//! words with `$x` or `[cmd]` unknown), and the scripts inside braces and
//! brackets scanned again. It finds what `spawn`, `exec`, `system` and
//! `open "|cmd"` run and the `socket` and `http::geturl` calls; the
//! analysis of what it finds is `embedded`'s.

use super::embedded::{ident_char, piped_open, quote_into, Scan, MAX_COMMANDS};
use crate::analyze::bash::words::Word;

/// One Tcl word: its value (braces literal, quotes and bare words with `$`
/// or `[...]` unknown) and, for braces and brackets, the script inside.
struct TclWord {
    value: Word,
    script: Option<String>,
}

/// Splits a Tcl script into commands of words.
fn tcl_commands(code: &str) -> Vec<Vec<TclWord>> {
    let chars: Vec<char> = code.chars().collect();
    let mut cmds: Vec<Vec<TclWord>> = Vec::new();
    let mut cur: Vec<TclWord> = Vec::new();
    let mut i = 0;
    while i < chars.len() && cmds.len() < 4096 {
        let c = chars[i];
        if c == '\n' || c == ';' {
            if !cur.is_empty() {
                cmds.push(std::mem::take(&mut cur));
            }
            i += 1;
            continue;
        }
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '#' && cur.is_empty() {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == '{' {
            let mut depth = 0usize;
            let start = i + 1;
            while i < chars.len() {
                match chars[i] {
                    '\\' => i += 1,
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            let inner: String = chars[start..i.min(chars.len())].iter().collect();
            cur.push(TclWord {
                value: Word::lit(inner.clone()),
                script: Some(inner),
            });
            i += 1;
            continue;
        }
        // A quoted or bare word; `$x` and `[cmd]` are unknown.
        let quoted = c == '"';
        if quoted {
            i += 1;
        }
        let mut w = Word::default();
        let mut script = None;
        while i < chars.len() {
            let ch = chars[i];
            if quoted && ch == '"' {
                i += 1;
                break;
            }
            if !quoted && (ch.is_whitespace() || ch == ';') {
                break;
            }
            if ch == '\\' && i + 1 < chars.len() {
                let n = chars[i + 1];
                w.push_lit(&match n {
                    'n' => "\n".to_string(),
                    't' => "\t".to_string(),
                    '\n' => " ".to_string(),
                    o => o.to_string(),
                });
                i += 2;
                continue;
            }
            if ch == '$' {
                w.push_unknown();
                i += 1;
                if i < chars.len() && chars[i] == '{' {
                    while i < chars.len() && chars[i] != '}' {
                        i += 1;
                    }
                    i += 1;
                } else {
                    while i < chars.len() && (ident_char(chars[i]) || chars[i] == ':') {
                        i += 1;
                    }
                }
                continue;
            }
            if ch == '[' {
                let mut depth = 0usize;
                let start = i + 1;
                while i < chars.len() {
                    match chars[i] {
                        '[' => depth += 1,
                        ']' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
                script = Some(chars[start..i.min(chars.len())].iter().collect::<String>());
                w.push_unknown();
                i += 1;
                continue;
            }
            w.push_lit(&ch.to_string());
            i += 1;
        }
        w.quoted = quoted;
        cur.push(TclWord { value: w, script });
    }
    if !cur.is_empty() {
        cmds.push(cur);
    }
    cmds
}

pub(super) fn scan_tcl(code: &str, depth: usize) -> Scan {
    let mut s = Scan::default();
    if depth > 8 {
        return s;
    }
    for cmd in tcl_commands(code) {
        if s.commands.len() >= MAX_COMMANDS {
            break;
        }
        // Scripts inside braces and brackets (proc bodies, `if` arms, `[exec ..]`).
        for w in &cmd {
            if let Some(inner) = &w.script {
                let sub = scan_tcl(inner, depth + 1);
                s.commands.extend(sub.commands);
                s.dynamic |= sub.dynamic;
                s.network |= sub.network;
                s.server |= sub.server;
            }
        }
        let Some(name) = cmd.first().and_then(|w| w.value.constant()) else {
            continue;
        };
        let rest = &cmd[1..];
        let operands = |skip_opts: bool| -> Vec<Word> {
            let mut v = Vec::new();
            let mut opts = skip_opts;
            for w in rest {
                let t = w.value.known_text();
                if opts && t.starts_with('-') && w.value.constant().is_some() {
                    if t == "--" {
                        opts = false;
                    }
                    continue;
                }
                opts = false;
                v.push(w.value.clone());
            }
            v
        };
        match name.as_str() {
            "spawn" | "exec" | "system" => {
                let ops = operands(true);
                if ops.is_empty() {
                    continue;
                }
                let cmdw = if name == "system" || ops.len() == 1 {
                    let mut j = Word::default();
                    for (k, o) in ops.iter().enumerate() {
                        if k > 0 {
                            j.push_lit(" ");
                        }
                        j.append(o.clone());
                    }
                    j
                } else {
                    // exec's `|`, `<`, `>` and `&` are pipeline syntax: keep them bare.
                    let mut j = Word::default();
                    for (k, o) in ops.iter().enumerate() {
                        if k > 0 {
                            j.push_lit(" ");
                        }
                        match o.constant() {
                            Some(t)
                                if matches!(t.as_str(), "|" | "&" | "2>@1")
                                    || t.starts_with('<')
                                    || t.starts_with('>') =>
                            {
                                j.push_lit(&t)
                            }
                            _ => quote_into(&mut j, o),
                        }
                    }
                    j
                };
                s.commands.push((name.clone(), cmdw));
            }
            "open" => {
                if let Some(first) = rest.first() {
                    if let Some(p) = piped_open(&first.value) {
                        s.commands.push(("open".into(), p));
                    }
                }
            }
            "socket" => {
                s.network = true;
                if rest.iter().any(|w| w.value.known_text() == "-server") {
                    s.server = true;
                }
            }
            "http::geturl" => {
                s.network = true;
                if let Some(u) = rest.first().and_then(|w| w.value.constant()) {
                    s.urls.push(u);
                }
            }
            "eval" | "uplevel" if rest.iter().any(|w| w.value.has_unknown()) => {
                s.dynamic = true;
            }
            _ => {}
        }
    }
    s
}
