//! Interpreters started by a command: shells, python, node, perl, ruby,
//! php, lua (their code flags, script operands, standard input and
//! interactive mode) and awk programs with `system(...)` or `/inet/`
//! sockets. Running the code they are given is `exec`'s job.

use super::{Lang, RunCtx};
use crate::analyze::bash::paths;
use crate::analyze::bash::walk::{Analyzer, Output, R};
use crate::analyze::bash::words::Word;

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
    if versioned("perl")
        || versioned("ruby")
        || versioned("php")
        || versioned("lua")
        || name == "luajit"
    {
        return Some(Lang::Other);
    }
    None
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
        let mut i = 0;
        let code_flags: &[&str] = match lang {
            Lang::Bash => &["-c"],
            Lang::Python => &["-c"],
            Lang::Javascript => &["-e", "--eval", "-p", "--print"],
            Lang::Other => &["-e", "-E", "-r"],
        };
        let with_arg: &[&str] = match lang {
            Lang::Bash => &["-o", "+o", "--rcfile", "--init-file", "-O", "+O"],
            Lang::Python => &["-W", "-X", "-m", "--check-hash-based-pycs"],
            Lang::Javascript => &["-r", "--require", "--input-type", "--import", "--loader"],
            Lang::Other => &["-I", "-M", "-m", "-l", "-f", "-d"],
        };
        while i < args.len() {
            let t = args[i].known_text();
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
                        Lang::Other => t.ends_with('e') || t.ends_with('E') || t.ends_with('r'),
                        Lang::Python => t.ends_with('c'),
                        Lang::Javascript => false,
                    })
            {
                if lang == Lang::Bash && t.contains('i') {
                    interactive = true;
                }
                if let Some(c) = args.get(i + 1) {
                    code = Some((t.clone(), c.clone()));
                }
                break;
            }
            if lang == Lang::Python && t == "-m" {
                break;
            }
            if with_arg.contains(&t.as_str()) {
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
                i += 1;
                continue;
            }
            script = Some(args[i].clone());
            break;
        }
        if code.is_none()
            && script.is_none()
            && !(lang == Lang::Python && args.iter().any(|a| a.known_text() == "-m"))
        {
            stdin_mode = true;
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
            for cmd in awk_system_strings(&p) {
                self.payload(Lang::Bash, &cmd, vec![format!("{name} system")], span)?;
            }
        }
        out.taint.merge(&rc.stdin.taint);
        Ok(())
    }
}

/// Constant command strings passed to awk's `system("...")`.
fn awk_system_strings(prog: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = prog;
    while let Some(i) = rest.find("system(") {
        rest = &rest[i + 7..];
        let r = rest.trim_start();
        if let Some(body) = r.strip_prefix('"') {
            if let Some(end) = body.find('"') {
                out.push(body[..end].replace("\\\"", "\""));
            }
        }
        if out.len() > 16 {
            break;
        }
    }
    out
}
