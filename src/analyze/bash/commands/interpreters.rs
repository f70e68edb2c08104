//! Interpreters started by a command: shells, python, node, perl, ruby,
//! php, lua, Tcl (expect, tclsh) and the `system("...")` one-liner
//! languages (their code flags, script operands, standard input and
//! interactive mode), shells started on purpose (`sh -p`, an interactive
//! shell with nothing to run) and awk programs with `system(...)` or
//! `/inet/` sockets. Running the code they are given is `exec`'s job;
//! reading programs of other languages is `embedded`'s.

use super::embedded::Interp;
use super::{Lang, RunCtx};
use crate::analyze::bash::paths;
use crate::analyze::bash::walk::{Analyzer, Output, Redir, R};
use crate::analyze::bash::words::{Part, Word};

fn is_shell(name: &str) -> bool {
    matches!(
        name,
        "sh" | "bash"
            | "dash"
            | "zsh"
            | "ksh"
            | "ash"
            | "mksh"
            | "yash"
            | "rbash"
            | "fish"
            | "csh"
            | "tcsh"
            | "ksh93"
    )
}

/// Shells whose `-p` is privileged mode (fish's `-p` is a profile file).
fn has_privileged_mode(name: &str) -> bool {
    is_shell(name) && !matches!(name, "fish" | "csh" | "tcsh")
}

pub(super) fn interp_lang(name: &str) -> Option<Lang> {
    if is_shell(name) {
        return Some(Lang::Bash);
    }
    let versioned = |prefix: &str| {
        name.strip_prefix(prefix)
            .is_some_and(|r| r.chars().all(|c| c.is_ascii_digit() || c == '.'))
    };
    if versioned("python") || versioned("pypy") {
        return Some(Lang::Python);
    }
    if matches!(name, "node" | "nodejs") {
        return Some(Lang::Javascript);
    }
    let interp = if versioned("perl") {
        Interp::Perl
    } else if versioned("ruby") {
        Interp::Ruby
    } else if versioned("php") {
        Interp::Php
    } else if versioned("lua") || name == "luajit" {
        Interp::Lua
    } else if name == "expect" || versioned("tclsh") || versioned("wish") || name == "jimsh" {
        Interp::Tcl
    } else if matches!(
        name,
        "R" | "Rscript"
            | "gnuplot"
            | "octave"
            | "octave-cli"
            | "slsh"
            | "bpftrace"
            | "julia"
            | "jrunscript"
    ) {
        Interp::Generic
    } else {
        return None;
    };
    Some(Lang::Other(interp))
}

/// Where an option of another interpreter puts its program.
enum CodeOpt {
    /// Not a code option.
    No,
    /// The next argument is code.
    Next,
    /// The code is glued to the option (`-e'...'`): skip this many bytes.
    Glued(usize),
    /// An option that takes the next argument as its value.
    Value,
}

/// Reads one option word of perl, ruby, php, lua, expect and the
/// `system()` one-liner languages: bundles (`-lne`), glued code (`-e'...'`).
fn other_code_opt(name: &str, interp: Interp, t: &str) -> CodeOpt {
    let long_code: &[&str] = match name {
        "octave" | "octave-cli" => &["--eval"],
        "R" | "Rscript" => &["-e"],
        _ => &[],
    };
    if long_code.contains(&t) {
        return CodeOpt::Next;
    }
    if t.starts_with("--") || !t.starts_with('-') || t.len() < 2 {
        return CodeOpt::No;
    }
    // Letters that start the code, and letters whose value is the rest of
    // the word or the next word.
    let (code, valued): (&str, &str) = match interp {
        Interp::Perl => ("eE", "MmIxCdDF"),
        Interp::Ruby => ("e", "rICEFxK"),
        Interp::Php => ("r", "cdzfF"),
        Interp::Lua => ("e", "l"),
        Interp::Tcl => ("c", "fbD"),
        Interp::Generic => match name {
            "gnuplot" | "slsh" | "bpftrace" | "julia" | "jrunscript" => ("e", "cdI"),
            _ => ("", ""),
        },
    };
    let bytes: Vec<char> = t.chars().collect();
    let mut k = 1;
    while k < bytes.len() {
        let c = bytes[k];
        if code.contains(c) {
            let at: usize = bytes[..=k].iter().map(|c| c.len_utf8()).sum();
            return if at == t.len() {
                CodeOpt::Next
            } else {
                CodeOpt::Glued(at)
            };
        }
        if valued.contains(c) {
            return if k + 1 == bytes.len() {
                CodeOpt::Value
            } else {
                CodeOpt::No
            };
        }
        k += 1;
        // `-l` and `-0` take optional digits in perl and ruby.
        while k < bytes.len() && bytes[k].is_ascii_digit() {
            k += 1;
        }
    }
    CodeOpt::No
}

/// The word without its first `n` bytes of literal text.
pub(super) fn strip_prefix_bytes(w: &Word, n: usize) -> Word {
    let mut out = w.clone();
    if let Some(Part::Lit(first)) = out.parts.first_mut() {
        if let Some(rest) = first.get(n..) {
            *first = rest.to_string();
        }
    }
    out
}

/// Standard input redirected from the terminal (`</dev/tty`, `0<&2`).
fn stdin_is_terminal(redirs: &[Redir]) -> bool {
    redirs.iter().any(|r| {
        let t = r.target.known_text();
        let to_stdin = r.fd.is_none_or(|f| f == 0) && r.op.starts_with('<') && r.op != "<<<";
        to_stdin
            && ((r.op.ends_with('&') && matches!(t.as_str(), "1" | "2"))
                || t == "/dev/tty"
                || t == "/dev/console"
                || t.starts_with("/dev/pts/"))
    })
}

/// Inline code for a language the analyzer cannot parse (or a quick check
/// for those it can): a socket together with process or shell execution is
/// a reverse or bind shell.
pub(super) fn inline_reverse_shell(code: &str) -> bool {
    let c = code.to_ascii_lowercase();
    let socket = [
        "socket",
        "fsockopen",
        "tcpsocket",
        "io::socket",
        "net.connect",
        "createconnection",
        "/dev/tcp/",
        "/inet/tcp",
    ]
    .iter()
    .any(|k| c.contains(k));
    let exec = [
        "exec",
        "system(",
        "spawn",
        "popen",
        "dup2",
        "/bin/sh",
        "/bin/bash",
        "cmd.exe",
        "pty",
        "sh -i",
        "`",
    ]
    .iter()
    .any(|k| c.contains(k));
    socket && exec
}

impl<'s> Analyzer<'s> {
    pub(super) fn interpreter(
        &mut self,
        name: &str,
        lang: Lang,
        args: &[Word],
        rc: &RunCtx,
        socket: bool,
    ) -> R<Output> {
        let span = rc.span;
        let mut out = Output::default();
        let mut code: Option<(String, Word)> = None;
        let mut script: Option<Word> = None;
        let mut stdin_mode = false;
        let mut interactive = false;
        let mut privileged = false;
        let mut i = 0;
        let code_flags: &[&str] = match lang {
            Lang::Bash => &["-c"],
            Lang::Python => &["-c"],
            Lang::Javascript => &["-e", "--eval", "-p", "--print"],
            Lang::Other(_) => &[],
        };
        let with_arg: &[&str] = match lang {
            Lang::Bash => &["-o", "+o", "--rcfile", "--init-file", "-O", "+O"],
            Lang::Python => &["-W", "-X", "-m", "--check-hash-based-pycs"],
            Lang::Javascript => &["-r", "--require", "--input-type", "--import", "--loader"],
            Lang::Other(_) => &[],
        };
        let p_mode = lang == Lang::Bash && has_privileged_mode(name);
        while i < args.len() {
            let t = args[i].known_text();
            if let Lang::Other(interp) = lang {
                // Several `-e` pieces make one program (perl joins them by lines).
                match other_code_opt(name, interp, &t) {
                    CodeOpt::Next => {
                        if let Some(c) = args.get(i + 1) {
                            append_code(&mut code, &t, c.clone());
                        }
                        i += 2;
                        continue;
                    }
                    CodeOpt::Glued(n) => {
                        append_code(&mut code, &t[..n], strip_prefix_bytes(&args[i], n));
                        i += 1;
                        continue;
                    }
                    CodeOpt::Value => {
                        i += 2;
                        continue;
                    }
                    CodeOpt::No => {}
                }
                if code.is_some() && !t.starts_with('-') {
                    break;
                }
            }
            if t == "-" || t == "-s" {
                stdin_mode = true;
                i += 1;
                if t == "-" {
                    break;
                }
                continue;
            }
            if t == "--" {
                break;
            }
            if code_flags.contains(&t.as_str())
                || (t.starts_with('-')
                    && !t.starts_with("--")
                    && t.len() > 2
                    && match lang {
                        Lang::Bash => t.contains('c'),
                        Lang::Other(_) => false,
                        Lang::Python => t.ends_with('c'),
                        Lang::Javascript => false,
                    })
            {
                if lang == Lang::Bash && t.contains('i') {
                    interactive = true;
                }
                privileged |= p_mode && t.contains('p');
                if let Some(c) = args.get(i + 1) {
                    code = Some((t.clone(), c.clone()));
                }
                break;
            }
            if lang == Lang::Python && t == "-m" {
                break;
            }
            if with_arg.contains(&t.as_str()) {
                privileged |= p_mode
                    && t == "-o"
                    && args
                        .get(i + 1)
                        .is_some_and(|v| v.known_text() == "privileged");
                i += 2;
                continue;
            }
            if t.starts_with('-') || t.starts_with('+') {
                if !t.starts_with("--") && t.contains('i') && lang == Lang::Bash {
                    interactive = true;
                }
                if t.contains('s') && lang == Lang::Bash && !t.starts_with("--") {
                    stdin_mode = true;
                }
                if t == "-i" || t == "--interactive" {
                    interactive = true;
                }
                privileged |=
                    p_mode && t.starts_with('-') && !t.starts_with("--") && t.contains('p');
                i += 1;
                continue;
            }
            // tree-sitter-bash reads the `0` of `sh 0<&2` as an argument:
            // a bare descriptor number before a redirection is not a script.
            let descriptor = t.len() == 1
                && t.chars().all(|c| c.is_ascii_digit())
                && i + 1 == args.len()
                && !rc.redirs.is_empty();
            if code.is_none() && !descriptor {
                script = Some(args[i].clone());
            }
            break;
        }
        if code.is_none()
            && script.is_none()
            && !(lang == Lang::Python && args.iter().any(|a| a.known_text() == "-m"))
        {
            stdin_mode = true;
        }
        if privileged {
            self.signal("privileged-shell", span);
        }
        // A shell with nothing to run reads its commands from the terminal:
        // a person typing, which a gateway submission has no use for.
        let terminal = !rc.stdin.present || stdin_is_terminal(&rc.redirs);
        if lang == Lang::Bash && code.is_none() && script.is_none() && terminal {
            self.signal("interactive-shell", span);
        }
        if let Some((flag, c)) = &code {
            let flag = if lang == Lang::Bash {
                "-c"
            } else {
                flag.as_str()
            };
            self.exec_code(lang, &format!("{name} {flag}"), c, span, false)?;
        } else if let Some(s) = &script {
            if s.self_ref && (rc.bg || rc.in_pipeline || rc.infinite_loop) {
                self.signal("fork-bomb", span);
            }
            if s.procsub {
                self.signal("pipe-to-shell", span);
                if s.taint.download {
                    self.signal("download-exec", span);
                }
                if !s.taint.decoders.is_empty() {
                    self.signal("decode-exec", span);
                }
                self.signal("dynamic-code", span);
            } else if !s.has_unknown() {
                let p = paths::normalise(&s.known_text());
                if matches!(p.as_str(), "/dev/stdin" | "/proc/self/fd/0" | "/dev/fd/0") {
                    stdin_mode = true;
                } else if let Some(info) = self
                    .files
                    .get(&p)
                    .cloned()
                    .or_else(|| self.file_by_basename(&p))
                    .or_else(|| {
                        // `x.pyc` compiled from a `x.py` the script wrote
                        // runs that source.
                        let src = format!("{}.py", p.strip_suffix(".pyc")?);
                        self.files
                            .get(&src)
                            .cloned()
                            .or_else(|| self.file_by_basename(&src))
                    })
                {
                    self.run_file(&info, &format!("{name} {p}"), lang, span)?;
                }
            }
        }
        if stdin_mode && code.is_none() && (rc.stdin.present || rc.stdin.pipe) {
            self.exec_stdin(lang, name, &rc.stdin, span)?;
        }
        out.shell = (stdin_mode && code.is_none()) || interactive;
        if socket && (out.shell || lang == Lang::Bash) {
            self.signal("reverse-shell", span);
        }
        if rc.stdin.socket && stdin_mode {
            self.signal("reverse-shell", span);
        }
        Ok(out)
    }

    /// An awk program: `/inet/` sockets and the commands given to `system`.
    pub(super) fn awk(
        &mut self,
        name: &str,
        texts: &[String],
        args: &[Word],
        rc: &RunCtx,
        out: &mut Output,
    ) -> R<()> {
        let span = rc.span;
        let prog = texts.iter().zip(args).scan(false, |skip, (t, w)| {
            if *skip {
                *skip = false;
                return Some(None);
            }
            if matches!(t.as_str(), "-v" | "-F" | "-f") {
                *skip = true;
                return Some(None);
            }
            if t.starts_with('-') {
                return Some(None);
            }
            Some(Some(w.clone()))
        });
        let prog = prog.flatten().next();
        if let Some(p) = prog.and_then(|w| w.constant()) {
            if p.contains("/inet/")
                && (p.contains("system") || p.contains("|&") || p.contains("getline"))
            {
                self.signal("reverse-shell", span);
                self.net_sink.get_or_insert(span);
            }
            let (cmds, dynamic) = awk_system_strings(&p);
            for cmd in cmds {
                self.payload(Lang::Bash, &cmd, vec![format!("{name} system")], span)?;
            }
            if dynamic {
                self.signal("dynamic-code", span);
            }
        }
        out.taint.merge(&rc.stdin.taint);
        Ok(())
    }
}

/// Adds one `-e` piece to the program (perl and ruby join them by lines).
fn append_code(code: &mut Option<(String, Word)>, flag: &str, piece: Word) {
    match code {
        Some((_, w)) => {
            w.push_lit("\n");
            w.append(piece);
        }
        None => *code = Some((flag.to_string(), piece)),
    }
}

/// Commands an awk program runs: `system("...")`, `"cmd" | getline` and
/// `print ... | "cmd"` with a constant string; `true` in the second place
/// when `system` is given something else (a command built at run time).
fn awk_system_strings(prog: &str) -> (Vec<String>, bool) {
    let mut out = Vec::new();
    let mut dynamic = false;
    let mut rest = prog;
    while let Some(i) = rest.find("system(") {
        rest = &rest[i + 7..];
        let r = rest.trim_start();
        if let Some(body) = r.strip_prefix('"') {
            if let Some(end) = body.find('"') {
                out.push(body[..end].replace("\\\"", "\""));
            }
        } else if !r.starts_with(')') {
            dynamic = true;
        }
        if out.len() > 16 {
            break;
        }
    }
    // String literals next to a pipe.
    let bytes: Vec<char> = prog.chars().collect();
    let mut i = 0;
    while i < bytes.len() && out.len() <= 16 {
        if bytes[i] != '"' {
            i += 1;
            continue;
        }
        let start = i;
        let mut j = i + 1;
        let mut lit = String::new();
        while j < bytes.len() && bytes[j] != '"' {
            if bytes[j] == '\\' && j + 1 < bytes.len() {
                j += 1;
            }
            lit.push(bytes[j]);
            j += 1;
        }
        let before: String = bytes[..start].iter().collect();
        let after: String = bytes[(j + 1).min(bytes.len())..].iter().collect();
        let before = before.trim_end();
        let after = after.trim_start();
        let piped_in = after.starts_with('|') && !after.starts_with("||");
        let piped_to = before.ends_with('|') && !before.ends_with("||");
        if (piped_in || piped_to) && !lit.starts_with("/inet") {
            out.push(lit);
        }
        i = j + 1;
    }
    (out, dynamic)
}
