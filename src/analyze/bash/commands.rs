//! Command semantics: unwrapping wrappers (`sudo`, `env`, `timeout 5`, ...),
//! interpreters and their code arguments, decoders, download and network
//! tools, and the detectors that turn a command into signals (recursive
//! delete of `/`, setuid bits, reverse shells, download-then-execute ...).
//!
//! Everything here works on evaluated words, never on raw text, so quoting
//! tricks are already gone. It reports facts; policies decide.

use super::decode;
use super::paths;
use super::walk::{Analyzer, FileInfo, Input, Output, Redir, Var, R};
use super::words::{Taint, Word};
use crate::analyze::{AnalyzeError, FactKind, Span};

/// Where and how a command runs.
#[derive(Debug, Clone)]
pub(super) struct RunCtx {
    pub span: Span,
    pub stdin: Input,
    pub redirs: Vec<Redir>,
    pub bg: bool,
    pub infinite_loop: bool,
    pub in_pipeline: bool,
}

/// Languages whose code the analyzer can recurse into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lang {
    Bash,
    Python,
    Javascript,
    /// perl, ruby, php, lua: no analyzer, heuristics only.
    Other,
}

const DOWNLOAD_TOOLS: &[&str] = &[
    "curl",
    "wget",
    "fetch",
    "aria2c",
    "tftp",
    "ftp",
    "axel",
    "lwp-download",
    "lwp-request",
];
const NET_TOOLS: &[&str] = &[
    "nc", "ncat", "netcat", "socat", "telnet", "ssh", "scp", "sftp", "rsync", "sshpass", "nmap",
    "masscan",
];
const SILENT: &[&str] = &[
    ":", "true", "false", "cd", "pushd", "popd", "mkdir", "touch", "rm", "rmdir", "cp", "mv", "ln",
    "chmod", "chown", "chgrp", "sleep", "wait", "exit", "return", "shift", "shopt", "set", "unset",
    "export", "local", "umask", "trap", "ulimit", "break", "continue", "test", "[", "[[", "alias",
    "source", ".", "read",
];
const DATA_COMMANDS: &[&str] = &[
    "echo", "printf", "print", "logger", ":", "true", "false", "test", "[", "[[",
];

/// How a wrapper hands over to the command it runs.
enum Wrap {
    /// Not a wrapper.
    No,
    /// Skip this many words after the wrapper's name; the rest is a command.
    Skip(usize),
    /// `command -v x`: a lookup, nothing runs.
    Lookup,
    /// The word at this index (after the wrapper name) is shell code.
    Code(usize),
    /// The remaining words joined are shell code (`watch`).
    Joined(usize),
}

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

fn interp_lang(name: &str) -> Option<Lang> {
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

fn opts_skip(rest: &[Word], with_arg: &[&str], env_style: bool) -> usize {
    let mut j = 0;
    while j < rest.len() {
        let t = rest[j].known_text();
        if t == "--" {
            return j + 1;
        }
        if t.starts_with('-') && t.len() > 1 {
            j += if with_arg.contains(&t.as_str()) { 2 } else { 1 };
            continue;
        }
        if env_style {
            if let Some((k, _)) = t.split_once('=') {
                if super::words::is_var_name(k) {
                    j += 1;
                    continue;
                }
            }
        }
        break;
    }
    j.min(rest.len())
}

fn position_of(rest: &[Word], flag: &str) -> Option<usize> {
    rest.iter().position(|w| w.known_text() == flag)
}

fn wrapper(name: &str, rest: &[Word]) -> Wrap {
    match name {
        "sudo" => Wrap::Skip(opts_skip(
            rest,
            &[
                "-u", "-g", "-p", "-C", "-D", "-h", "-r", "-t", "-T", "-U", "--user", "--group",
                "--prompt", "--chdir",
            ],
            true,
        )),
        "doas" => Wrap::Skip(opts_skip(rest, &["-u", "-C"], false)),
        "pkexec" => Wrap::Skip(opts_skip(rest, &["--user"], false)),
        "runuser" | "su" | "sg" => {
            match position_of(rest, "-c").or_else(|| position_of(rest, "--command")) {
                Some(i) => Wrap::Code(i + 1),
                None if name == "runuser" => Wrap::Skip(opts_skip(
                    rest,
                    &["-u", "-g", "-G", "--user", "--group"],
                    false,
                )),
                None => Wrap::Skip(rest.len()),
            }
        }
        "env" => Wrap::Skip(opts_skip(
            rest,
            &["-u", "--unset", "-C", "--chdir", "-S", "--split-string"],
            true,
        )),
        "nohup" | "builtin" | "chronic" | "unbuffer" | "caffeinate" | "proxychains"
        | "proxychains4" | "torsocks" | "tsocks" | "catchsegv" | "setsid" | "doas-keepenv"
        | "ltrace" | "faketime" | "fakeroot" => Wrap::Skip(opts_skip(rest, &[], false)),
        "time" => Wrap::Skip(opts_skip(
            rest,
            &["-f", "-o", "--format", "--output"],
            false,
        )),
        "stdbuf" => Wrap::Skip(opts_skip(rest, &["-i", "-o", "-e"], false)),
        "nice" => Wrap::Skip(opts_skip(rest, &["-n", "--adjustment"], false)),
        "ionice" => Wrap::Skip(opts_skip(
            rest,
            &["-c", "-n", "-t", "--class", "--classdata"],
            false,
        )),
        "strace" => Wrap::Skip(opts_skip(
            rest,
            &[
                "-o", "-e", "-p", "-s", "-P", "-E", "-u", "-a", "-b", "-O", "-S", "-X",
            ],
            false,
        )),
        "taskset" => {
            let j = opts_skip(rest, &["-c", "--cpu-list"], false);
            let has_list = rest
                .iter()
                .any(|w| matches!(w.known_text().as_str(), "-c" | "--cpu-list"));
            Wrap::Skip(if has_list { j } else { (j + 1).min(rest.len()) })
        }
        "timeout" => {
            let j = opts_skip(rest, &["-s", "--signal", "-k", "--kill-after"], false);
            Wrap::Skip((j + 1).min(rest.len()))
        }
        "xargs" => Wrap::Skip(opts_skip(
            rest,
            &[
                "-I",
                "-L",
                "-n",
                "-P",
                "-s",
                "-d",
                "-E",
                "-a",
                "--arg-file",
                "--delimiter",
                "--max-args",
                "--max-procs",
            ],
            false,
        )),
        "command" => {
            if rest
                .iter()
                .take_while(|w| w.known_text().starts_with('-'))
                .any(|w| {
                    let t = w.known_text();
                    t.contains('v') || t.contains('V')
                })
            {
                Wrap::Lookup
            } else {
                Wrap::Skip(opts_skip(rest, &[], false))
            }
        }
        "exec" => Wrap::Skip(opts_skip(rest, &["-a"], false)),
        "busybox" | "toybox" => {
            if rest
                .first()
                .is_some_and(|w| w.known_text().starts_with('-'))
            {
                Wrap::Lookup
            } else {
                Wrap::Skip(0)
            }
        }
        "flock" => {
            let j = opts_skip(
                rest,
                &["-w", "--timeout", "-E", "--conflict-exit-code"],
                false,
            );
            match position_of(rest, "-c") {
                Some(i) => Wrap::Code(i + 1),
                None => Wrap::Skip((j + 1).min(rest.len())),
            }
        }
        "chroot" => {
            let j = opts_skip(rest, &["--userspec", "--groups"], false);
            Wrap::Skip((j + 1).min(rest.len()))
        }
        "nsenter" => Wrap::Skip(opts_skip(
            rest,
            &[
                "-t", "--target", "-S", "--setuid", "-G", "--setgid", "-r", "-w",
            ],
            false,
        )),
        "unshare" => Wrap::Skip(opts_skip(
            rest,
            &[
                "--propagation",
                "--setgroups",
                "-S",
                "-G",
                "--setuid",
                "--setgid",
            ],
            false,
        )),
        "setpriv" => Wrap::Skip(opts_skip(rest, &[], false)),
        "script" => match position_of(rest, "-c").or_else(|| position_of(rest, "--command")) {
            Some(i) => Wrap::Code(i + 1),
            None => Wrap::Skip(rest.len()),
        },
        "watch" => Wrap::Joined(opts_skip(
            rest,
            &["-n", "--interval", "-d", "--differences", "-x"],
            false,
        )),
        _ => Wrap::No,
    }
}

/// Whether a chmod/install mode sets the setuid or setgid bit.
pub(super) fn is_setuid_mode(mode: &str) -> bool {
    let m = mode.trim_start_matches('=');
    if !m.is_empty() && m.chars().all(|c| c.is_digit(8)) {
        let digits: Vec<u32> = m.chars().filter_map(|c| c.to_digit(8)).collect();
        let special = match digits.len() {
            4 => digits[0],
            5 => digits[1],
            _ => 0,
        };
        return special & 6 != 0;
    }
    m.split(',').any(|clause| {
        let perms = clause.trim_start_matches(['u', 'g', 'o', 'a']);
        (perms.starts_with('+') || perms.starts_with('=')) && perms.contains('s')
    })
}

/// Inline code for a language the analyzer cannot parse (or a quick check
/// for those it can): a socket together with process or shell execution is
/// a reverse or bind shell.
fn inline_reverse_shell(code: &str) -> bool {
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
    /// Runs one simple command given its evaluated words.
    pub fn run(&mut self, words: Vec<Word>, rc: &RunCtx) -> R<Output> {
        self.enter()?;
        let r = self.run_inner(words, rc);
        self.leave();
        r
    }

    fn name_signals(&mut self, w: &Word, span: Span) {
        if w.expanded {
            self.signal("variable-command", span);
        }
        if w.has_unknown() && !w.self_ref {
            self.signal("computed-name", span);
        }
        if w.obfuscated {
            self.signal("string-obfuscation", span);
        }
    }

    fn run_inner(&mut self, words: Vec<Word>, rc: &RunCtx) -> R<Output> {
        let span = rc.span;
        if words.is_empty() {
            let (to_file, _) = self.apply_redirects(&rc.redirs, &Output::default(), span, false);
            let _ = to_file;
            return Ok(Output {
                text: Some(String::new()),
                ..Output::default()
            });
        }
        self.name_signals(&words[0], span);
        let mut i = 0;
        let mut wrapped = false;
        while let Some(w) = words.get(i) {
            let full = w.known_text();
            let name = paths::basename(&full).to_string();
            let rest = &words[i + 1..];
            match wrapper(&name, rest) {
                Wrap::No => break,
                Wrap::Lookup => {
                    self.emit_command(&name, rest, span);
                    self.apply_redirects(&rc.redirs, &Output::default(), span, false);
                    return Ok(Output::default());
                }
                Wrap::Code(idx) => {
                    self.emit_command(&name, rest, span);
                    if let Some(code) = rest.get(idx) {
                        let code = code.clone();
                        self.exec_code(Lang::Bash, &format!("{name} -c"), &code, span, false)?;
                    }
                    self.apply_redirects(&rc.redirs, &Output::default(), span, false);
                    return Ok(Output {
                        shell: true,
                        ..Output::default()
                    });
                }
                Wrap::Joined(skip) => {
                    self.emit_command(&name, rest, span);
                    let mut joined = Word::default();
                    for (k, w) in rest.iter().skip(skip).enumerate() {
                        if k > 0 {
                            joined.push_lit(" ");
                        }
                        joined.append(w.clone());
                    }
                    self.exec_code(Lang::Bash, &name, &joined, span, false)?;
                    self.apply_redirects(&rc.redirs, &Output::default(), span, false);
                    return Ok(Output::default());
                }
                Wrap::Skip(n) => {
                    self.emit_command(&name, rest, span);
                    wrapped = true;
                    if name == "env" {
                        if let Some(p) = rest.iter().position(|w| {
                            matches!(w.known_text().as_str(), "-S" | "--split-string")
                        }) {
                            if let Some(code) = rest.get(p + 1) {
                                let code = code.clone();
                                self.exec_code(Lang::Bash, "env -S", &code, span, false)?;
                                return Ok(Output::default());
                            }
                        }
                    }
                    if i + 1 + n >= words.len() {
                        return self.wrapper_alone(&name, rest, rc);
                    }
                    i += 1 + n;
                }
            }
        }
        if wrapped {
            self.name_signals(&words[i], span);
        }
        let cmd_word = words[i].clone();
        let full = cmd_word.known_text();
        let name = paths::basename(&full).to_string();
        let args: Vec<Word> = words[i + 1..].to_vec();
        if !name.is_empty() {
            self.emit_command(&name, &args, span);
        }
        let data = DATA_COMMANDS.contains(&name.as_str());
        if !data {
            self.arg_strings(&args, span);
        }
        self.technique_signals(&name, &args, rc, data);
        // Running a file the script downloaded or wrote.
        if full.contains('/') && !cmd_word.has_unknown() {
            let path = paths::normalise(&full);
            let info = self.files.get(&path).cloned().or_else(|| {
                if path.starts_with("./") || !path.starts_with('/') {
                    self.file_by_basename(&path)
                } else {
                    self.files
                        .iter()
                        .find(|(k, _)| {
                            paths::basename(k) == paths::basename(&path) && k.starts_with('.')
                        })
                        .map(|(_, v)| v.clone())
                }
            });
            if let Some(info) = info {
                self.run_file(&info, &format!("exec {path}"), Lang::Bash, span)?;
            }
        }
        let socket = self.redirs_socket(&rc.redirs);
        if cmd_word.self_ref && (rc.bg || rc.in_pipeline || rc.infinite_loop) {
            self.signal("fork-bomb", span);
        }
        if rc.bg && rc.infinite_loop {
            self.signal("fork-bomb", span);
        }
        if cmd_word.has_unknown() && socket {
            self.signal("reverse-shell", span);
        }
        let mut out = self.semantics(&name, &args, rc, socket)?;
        out.taint.merge(&self.source_taint(&name, &args, rc));
        self.exfil_sinks(&name, &args, rc);
        let (to_file, _) = self.apply_redirects(&rc.redirs, &out, span, out.shell);
        if to_file {
            out.text = None;
            if name == "cat"
                && args.iter().any(|a| {
                    matches!(
                        a.known_text().as_str(),
                        "/dev/zero" | "/dev/urandom" | "/dev/random"
                    )
                })
            {
                self.signal("resource-exhaustion", span);
            }
        }
        if name == "yes" && (rc.bg || rc.infinite_loop || self.stdout_devnull(&rc.redirs)) {
            self.signal("resource-exhaustion", span);
        }
        Ok(out)
    }

    fn stdout_devnull(&self, redirs: &[Redir]) -> bool {
        redirs
            .iter()
            .any(|r| r.op.contains('>') && r.target.known_text() == "/dev/null")
    }

    fn redirs_socket(&self, redirs: &[Redir]) -> bool {
        redirs.iter().any(|r| {
            let t = r.target.known_text();
            t.starts_with("/dev/tcp/")
                || t.starts_with("/dev/udp/")
                || (r.op.ends_with('&')
                    && t.parse::<u32>().is_ok_and(|n| self.socket_fds.contains(&n)))
        })
    }

    fn emit_command(&mut self, name: &str, args: &[Word], span: Span) {
        let a: Vec<String> = args
            .iter()
            .filter(|w| !w.all_unknown())
            .map(Word::lossy)
            .collect();
        self.emit(FactKind::Command, name.to_string(), a, span);
    }

    /// String facts and path signals for a command's arguments.
    fn arg_strings(&mut self, args: &[Word], span: Span) {
        for a in args {
            if a.all_unknown() {
                continue;
            }
            let text = a.lossy();
            let mut candidates = vec![text.clone()];
            if let Some((k, v)) = text.split_once('=') {
                if !k.contains('/') {
                    candidates.push(v.trim_start_matches('@').to_string());
                }
            }
            if let Some(v) = text.strip_prefix('@') {
                candidates.push(v.to_string());
            }
            for c in candidates {
                if paths::is_cloud_metadata(&c) {
                    self.signal("cloud-metadata", span);
                }
                if paths::is_url(&c) || paths::is_ipv4(&c) {
                    self.emit(FactKind::String, c.clone(), Vec::new(), span);
                } else if paths::is_pathlike(&c) {
                    let p = paths::normalise(&c);
                    self.check_path(&p, span, true);
                    self.emit(FactKind::String, p, Vec::new(), span);
                }
            }
        }
    }

    fn wrapper_alone(&mut self, name: &str, rest: &[Word], rc: &RunCtx) -> R<Output> {
        let span = rc.span;
        let mut out = Output::default();
        match name {
            "env" => {
                self.signal("env-harvest", span);
                self.secret_seen = true;
                out.taint.secret = true;
            }
            "sudo" | "doas" | "su" | "pkexec" | "chroot" | "nsenter" | "unshare" | "script"
            | "runuser" | "sg" => {
                let shell = name != "sudo"
                    || rest.iter().any(|w| {
                        matches!(w.known_text().as_str(), "-i" | "-s" | "--login" | "--shell")
                    });
                out.shell = shell;
                if shell && rc.stdin.pipe {
                    self.exec_stdin(Lang::Bash, name, &rc.stdin, span)?;
                }
            }
            _ => {}
        }
        self.apply_redirects(&rc.redirs, &out, span, out.shell);
        Ok(out)
    }

    /// Analyses code passed as a string (`bash -c`, `eval`, `python -c`).
    pub fn exec_code(
        &mut self,
        lang: Lang,
        via: &str,
        code: &Word,
        span: Span,
        dynamic: bool,
    ) -> R<()> {
        if code.taint.download {
            self.signal("download-exec", span);
        }
        if !code.taint.decoders.is_empty() {
            self.signal("decode-exec", span);
        }
        if dynamic {
            self.signal("dynamic-code", span);
        }
        match code.constant() {
            Some(text) => {
                if lang != Lang::Bash && inline_reverse_shell(&text) {
                    self.signal("reverse-shell", span);
                }
                let mut chain = vec![via.to_string()];
                chain.extend(code.taint.decoders.iter().cloned());
                if !code.taint.decoders.is_empty() {
                    self.signal("decoded-payload", span);
                }
                self.payload(lang, &text, chain, span)?;
            }
            None => self.signal("dynamic-code", span),
        }
        Ok(())
    }

    /// An interpreter reading its program from standard input.
    pub fn exec_stdin(&mut self, lang: Lang, via: &str, stdin: &Input, span: Span) -> R<()> {
        if stdin.pipe {
            self.signal("pipe-to-shell", span);
        }
        if stdin.taint.download || stdin.socket {
            self.signal("download-exec", span);
        }
        if !stdin.taint.decoders.is_empty() {
            self.signal("decode-exec", span);
        }
        match &stdin.text {
            Some(text) => {
                if lang != Lang::Bash && inline_reverse_shell(text) {
                    self.signal("reverse-shell", span);
                }
                let mut chain = vec![via.to_string()];
                chain.extend(stdin.taint.decoders.iter().cloned());
                if !stdin.taint.decoders.is_empty() {
                    self.signal("decoded-payload", span);
                }
                let text = text.clone();
                self.payload(lang, &text, chain, span)?;
            }
            None if !stdin.pipe => self.signal("dynamic-code", span),
            None => {}
        }
        Ok(())
    }

    /// Runs a file whose origin the script itself determined.
    fn run_file(&mut self, info: &FileInfo, via: &str, lang: Lang, span: Span) -> R<()> {
        if info.taint.download {
            self.signal("download-exec", span);
        }
        if !info.taint.decoders.is_empty() {
            self.signal("decode-exec", span);
        }
        if let Some(text) = &info.content {
            let mut chain = vec![via.to_string()];
            chain.extend(info.taint.decoders.iter().cloned());
            if !info.taint.decoders.is_empty() {
                self.signal("decoded-payload", span);
            }
            let text = text.clone();
            self.payload(lang, &text, chain, span)?;
        }
        Ok(())
    }

    /// Recursively analyses a payload; its facts take the outer span and the chain in `via`.
    fn payload(&mut self, lang: Lang, code: &str, via: Vec<String>, span: Span) -> R<()> {
        let Some(nested) = self.budget.nested() else {
            return Ok(());
        };
        if code.len() > nested.max_bytes || code.trim().is_empty() {
            return Ok(());
        }
        let result = match lang {
            Lang::Bash => super::extract_with(code, &nested, self.depth, Some(self.vars.clone())),
            Lang::Python => crate::analyze::python::extract(code, &nested),
            Lang::Javascript => crate::analyze::javascript::extract(code, &nested),
            Lang::Other => return Ok(()),
        };
        match result {
            Ok(facts) => {
                for mut f in facts {
                    if f.kind == FactKind::Signal && f.name == "env-harvest" {
                        self.secret_seen = true;
                    }
                    if f.kind == FactKind::Command
                        && (DOWNLOAD_TOOLS.contains(&f.name.as_str())
                            || NET_TOOLS.contains(&f.name.as_str()))
                    {
                        self.net_sink.get_or_insert(span);
                    }
                    f.span = span;
                    let mut chain = via.clone();
                    chain.append(&mut f.via);
                    f.via = chain;
                    self.facts.push(f);
                }
                Ok(())
            }
            Err(AnalyzeError::TooLarge { .. }) => Ok(()),
            Err(AnalyzeError::Unparseable {
                line,
                column,
                message,
            }) => Err(AnalyzeError::Unparseable {
                line: span.start_line,
                column: span.start_col,
                message: format!(
                    "payload via {} does not parse at {line}:{column}: {message}",
                    via.join(" > ")
                ),
            }),
            Err(e) => Err(e),
        }
    }

    /// Per-command behaviour: output, decoders, interpreters, detectors.
    fn semantics(&mut self, name: &str, args: &[Word], rc: &RunCtx, socket: bool) -> R<Output> {
        let span = rc.span;
        let texts: Vec<String> = args.iter().map(Word::known_text).collect();
        let consts: Option<Vec<String>> = args.iter().map(Word::constant).collect();
        let mut arg_taint = Taint::default();
        for a in args {
            arg_taint.merge(&a.taint);
        }
        let mut out = Output::default();
        if SILENT.contains(&name) {
            out.text = Some(String::new());
        }
        let passthrough = |out: &mut Output| {
            out.taint.merge(&rc.stdin.taint);
        };
        if let Some(lang) = interp_lang(name) {
            return self.interpreter(name, lang, args, rc, socket);
        }
        match name {
            "echo" => {
                out.text = consts.map(|c| decode::echo(&c));
                out.taint = arg_taint;
            }
            "printf" => {
                let mut a = args.to_vec();
                let mut var = None;
                if a.first().is_some_and(|w| w.known_text() == "-v") && a.len() >= 2 {
                    var = Some(a[1].known_text());
                    a.drain(..2);
                }
                let vals: Option<Vec<String>> = a.iter().map(Word::constant).collect();
                let text =
                    vals.and_then(|v| v.split_first().map(|(f, rest)| decode::printf(f, rest)));
                let obf = a.first().is_some_and(|f| {
                    f.known_text().contains("\\x")
                        || f.known_text().contains("\\1")
                        || f.known_text().contains("\\0")
                });
                if obf {
                    arg_taint.decoders.push("printf".into());
                }
                match var {
                    Some(v) if super::words::is_var_name(&v) => {
                        self.vars.insert(
                            v,
                            Var {
                                value: text,
                                array: None,
                                taint: arg_taint,
                            },
                        );
                        out.text = Some(String::new());
                    }
                    _ => {
                        out.text = text;
                        out.taint = arg_taint;
                    }
                }
            }
            "cat" | "tac" | "more" | "less" | "head" | "tail" | "strings" | "nl" | "od"
            | "hexdump" => {
                let files: Vec<&String> = texts
                    .iter()
                    .filter(|t| !t.starts_with('-') || t.as_str() == "-")
                    .collect();
                passthrough(&mut out);
                if files.is_empty() || files.iter().all(|f| f.as_str() == "-") {
                    if name == "cat" {
                        out.text = rc.stdin.text.clone();
                    }
                } else {
                    let mut content = Some(String::new());
                    for f in &files {
                        let p = paths::normalise(f);
                        if p.starts_with("/proc/") && p.ends_with("/environ") {
                            self.signal("env-harvest", span);
                            self.secret_seen = true;
                            out.taint.secret = true;
                        }
                        if paths::sensitive(&p) == Some(paths::Sensitive::Credential) {
                            out.taint.secret = true;
                        }
                        let info = self.files.get(&p).cloned();
                        match info {
                            Some(i) => {
                                out.taint.merge(&i.taint);
                                content = match (content, i.content) {
                                    (Some(a), Some(b)) => Some(a + &b),
                                    _ => None,
                                };
                            }
                            None => content = None,
                        }
                    }
                    if name == "cat" {
                        out.text = content;
                    }
                }
                if name == "head" {
                    self.head_fill(&texts, rc, span);
                }
            }
            "base64" | "base32" | "basenc" | "openssl" | "xxd" | "rev" | "tr" | "gunzip"
            | "zcat" | "gzip" | "bzip2" | "bunzip2" | "bzcat" | "xz" | "unxz" | "xzcat"
            | "uudecode" | "zstd" | "unzstd" | "lzma" | "unlzma" => {
                out = self.decoder(name, args, &texts, rc)?;
            }
            "eval" => {
                let mut joined = Word::default();
                for (k, a) in args.iter().enumerate() {
                    if k > 0 {
                        joined.push_lit(" ");
                    }
                    joined.append(a.clone());
                }
                self.exec_code(Lang::Bash, "eval", &joined, span, true)?;
            }
            "source" | "." => {
                if let Some(first) = args.first() {
                    let t = first.known_text();
                    if first.procsub {
                        self.signal("dynamic-code", span);
                        if first.taint.download {
                            self.signal("download-exec", span);
                        }
                        if !first.taint.decoders.is_empty() {
                            self.signal("decode-exec", span);
                        }
                    } else if matches!(
                        t.as_str(),
                        "/dev/stdin" | "-" | "/proc/self/fd/0" | "/dev/fd/0"
                    ) {
                        self.exec_stdin(Lang::Bash, name, &rc.stdin, span)?;
                    } else if !first.has_unknown() {
                        let p = paths::normalise(&t);
                        if let Some(info) = self
                            .files
                            .get(&p)
                            .cloned()
                            .or_else(|| self.file_by_basename(&p))
                        {
                            self.run_file(&info, &format!("source {p}"), Lang::Bash, span)?;
                        }
                    } else {
                        self.signal("dynamic-code", span);
                    }
                }
            }
            "alias" => {
                for a in args {
                    if let Some(c) = a.constant() {
                        if let Some((_, v)) = c.split_once('=') {
                            self.payload(Lang::Bash, v, vec!["alias".into()], span)?;
                        }
                    }
                }
            }
            "trap" => {
                if let Some(code) = args.iter().find(|a| !a.known_text().starts_with('-')) {
                    let code = code.clone();
                    self.exec_code(Lang::Bash, "trap", &code, span, false)?;
                }
            }
            "rm" => self.rm(&texts, args, span),
            "find" => self.find(args, rc)?,
            "chmod"
                if texts
                    .iter()
                    .filter(|t| !t.starts_with("--"))
                    .any(|t| is_setuid_mode(t.trim_start_matches('-'))) =>
            {
                self.signal("setuid", span);
            }
            "install" => {
                let mut it = texts.iter();
                while let Some(t) = it.next() {
                    let mode = if t == "-m" || t == "--mode" {
                        it.next().cloned()
                    } else {
                        t.strip_prefix("--mode=")
                            .or_else(|| t.strip_prefix("-m"))
                            .map(str::to_string)
                    };
                    if mode.is_some_and(|m| is_setuid_mode(&m)) {
                        self.signal("setuid", span);
                    }
                }
                self.copy_like(&texts, span);
            }
            "cp" | "mv" | "ln" | "rsync"
                if name != "rsync" || !texts.iter().any(|t| t.contains(':')) =>
            {
                self.copy_like(&texts, span);
            }
            "tee" => {
                let append = texts.iter().any(|t| t == "-a" || t == "--append");
                for t in texts.iter().filter(|t| !t.starts_with('-')) {
                    let p = paths::normalise(t);
                    self.emit(
                        FactKind::Redirect,
                        p.clone(),
                        vec![if append { ">>" } else { ">" }.into()],
                        span,
                    );
                    self.check_path(&p, span, false);
                    self.files.insert(
                        p,
                        FileInfo {
                            content: rc.stdin.text.clone(),
                            taint: rc.stdin.taint.clone(),
                        },
                    );
                }
                out.text = rc.stdin.text.clone();
                passthrough(&mut out);
            }
            "sed" | "perl-i" => {
                let inplace = texts
                    .iter()
                    .any(|t| t.starts_with("-i") || t.starts_with("--in-place"));
                if inplace {
                    let files: Vec<&String> = texts
                        .iter()
                        .skip(1)
                        .filter(|t| !t.starts_with('-'))
                        .collect();
                    for f in files
                        .iter()
                        .skip(usize::from(!texts.iter().any(|t| t == "-e")))
                    {
                        let p = paths::normalise(f);
                        if paths::is_pathlike(&p) || !p.contains(' ') {
                            self.emit(FactKind::Redirect, p.clone(), vec![">".into()], span);
                            self.check_path(&p, span, false);
                        }
                    }
                }
                passthrough(&mut out);
            }
            "dd" => self.dd(&texts, span),
            "fallocate" | "truncate" => {
                let mut it = texts.iter();
                while let Some(t) = it.next() {
                    let size = match t.as_str() {
                        "-l" | "--length" | "-s" | "--size" => it.next().cloned(),
                        _ => t
                            .strip_prefix("-l")
                            .or_else(|| t.strip_prefix("--length="))
                            .map(str::to_string),
                    };
                    if size
                        .and_then(|s| paths::parse_size(&s))
                        .is_some_and(|n| n >= 1 << 30)
                        && name == "fallocate"
                    {
                        self.signal("resource-exhaustion", span);
                    }
                }
            }
            "printenv" | "set" | "compgen" | "export" | "declare" | "typeset" => {
                let harvest = match name {
                    "printenv" | "set" | "export" | "declare" | "typeset" => {
                        texts.is_empty()
                            || texts.iter().all(|t| t == "-p" || t == "-x" || t == "-0")
                    }
                    _ => texts.iter().any(|t| t == "-v" || t == "-e" || t == "-A"),
                };
                if harvest {
                    self.signal("env-harvest", span);
                    self.secret_seen = true;
                    out.taint.secret = true;
                }
            }
            "read" | "mapfile" | "readarray" => {
                let mut taint = rc.stdin.taint.clone();
                if rc.stdin.socket {
                    taint.download = true;
                }
                let mut it = texts.iter();
                while let Some(t) = it.next() {
                    if matches!(
                        t.as_str(),
                        "-p" | "-d" | "-n" | "-N" | "-t" | "-u" | "-C" | "-c" | "-O" | "-s"
                    ) && name != "read"
                        || matches!(t.as_str(), "-p" | "-d" | "-n" | "-N" | "-t" | "-u" | "-i")
                    {
                        if t == "-u" {
                            if let Some(fd) = it.next() {
                                if fd
                                    .parse::<u32>()
                                    .is_ok_and(|n| self.socket_fds.contains(&n))
                                {
                                    taint.download = true;
                                }
                            }
                        } else {
                            it.next();
                        }
                        continue;
                    }
                    if t == "-a" {
                        continue;
                    }
                    if super::words::is_var_name(t) {
                        self.vars.insert(
                            t.clone(),
                            Var {
                                value: None,
                                array: None,
                                taint: taint.clone(),
                            },
                        );
                    }
                }
                if texts.iter().all(|t| t.starts_with('-')) && name == "read" {
                    self.vars.insert(
                        "REPLY".into(),
                        Var {
                            value: None,
                            array: None,
                            taint: taint.clone(),
                        },
                    );
                }
            }
            "kill" => {
                let mut pids = false;
                let mut it = texts.iter().peekable();
                let mut first = true;
                while let Some(t) = it.next() {
                    if first && (t == "-s" || t == "-n") {
                        it.next();
                        first = false;
                        continue;
                    }
                    if t == "--" {
                        pids = true;
                        first = false;
                        continue;
                    }
                    if first && t.starts_with('-') && !pids {
                        first = false;
                        continue;
                    }
                    first = false;
                    if t == "-1" || t == "1" {
                        self.signal("kill-all", span);
                    }
                    pids = true;
                }
            }
            "killall5" => self.signal("kill-all", span),
            "crontab" | "at" | "batch" => {
                let content = rc.stdin.text.clone().or_else(|| {
                    texts
                        .iter()
                        .rev()
                        .find(|t| !t.starts_with('-'))
                        .and_then(|t| {
                            let p = paths::normalise(t);
                            self.files.get(&p).and_then(|i| i.content.clone())
                        })
                });
                if rc.stdin.taint.download {
                    self.signal("download-exec", span);
                }
                if let Some(c) = content {
                    for line in c.lines() {
                        let l = line.trim();
                        if l.is_empty() || l.starts_with('#') {
                            continue;
                        }
                        let cmd = if name == "crontab" {
                            if l.starts_with('@') {
                                l.split_once(char::is_whitespace).map(|x| x.1).unwrap_or("")
                            } else if l.split_whitespace().next().is_some_and(|f| f.contains('=')) {
                                ""
                            } else {
                                let mut rest = l;
                                for _ in 0..5 {
                                    rest = rest.trim_start();
                                    rest = rest
                                        .split_once(char::is_whitespace)
                                        .map(|x| x.1)
                                        .unwrap_or("");
                                }
                                rest
                            }
                        } else {
                            l
                        };
                        if !cmd.trim().is_empty() {
                            self.payload(Lang::Bash, cmd, vec![name.to_string()], span)?;
                        }
                    }
                }
            }
            "awk" | "gawk" | "mawk" | "nawk" | "busybox-awk" => {
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
                passthrough(&mut out);
            }
            "xterm" if texts.iter().any(|t| t == "-display") => self.signal("reverse-shell", span),
            n if DOWNLOAD_TOOLS.contains(&n) => out = self.download(n, &texts, args, rc),
            n if NET_TOOLS.contains(&n) => {
                out = self.network(n, &texts, rc);
                if arg_taint.secret {
                    self.signal("exfiltration", span);
                }
            }
            "yes" => {}
            "grep" | "egrep" | "fgrep" | "sort" | "uniq" | "cut" | "wc" | "fold" | "column"
            | "paste" | "jq" | "xargs" | "sha256sum" | "md5sum" | "iconv" | "expand" | "fmt"
            | "pr" => passthrough(&mut out),
            _ => {}
        }
        if socket && out.shell {
            self.signal("reverse-shell", span);
        }
        Ok(out)
    }

    fn interpreter(
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

    fn decoder(&mut self, name: &str, args: &[Word], texts: &[String], rc: &RunCtx) -> R<Output> {
        let has = |flags: &[&str]| texts.iter().any(|t| flags.contains(&t.as_str()));
        let short_flag = |c: char| {
            texts
                .iter()
                .any(|t| t.starts_with('-') && !t.starts_with("--") && t.contains(c))
        };
        let mut input_text = rc.stdin.text.clone();
        let mut taint = rc.stdin.taint.clone();
        let operands: Vec<&String> = texts.iter().filter(|t| !t.starts_with('-')).collect();
        let (label, decoded): (Option<String>, Option<Option<String>>) = match name {
            "base64" | "basenc" if short_flag('d') || short_flag('D') || has(&["--decode"]) => {
                if let Some(f) = operands.first() {
                    let p = paths::normalise(f);
                    let info = self.files.get(&p).cloned();
                    input_text = info.as_ref().and_then(|i| i.content.clone());
                    if let Some(i) = info {
                        taint.merge(&i.taint);
                    }
                }
                (
                    Some("base64 -d".into()),
                    Some(input_text.as_deref().and_then(decode::base64)),
                )
            }
            "base32" if short_flag('d') || has(&["--decode"]) => (
                Some("base32 -d".into()),
                Some(input_text.as_deref().and_then(decode::base32)),
            ),
            "xxd" if short_flag('r') || has(&["--revert"]) => {
                let plain = short_flag('p') || has(&["-ps", "-plain", "--plain"]);
                let text = if plain {
                    input_text.as_deref().and_then(decode::hex)
                } else {
                    None
                };
                (Some("xxd -r".into()), Some(text))
            }
            "openssl" => {
                let sub = texts.first().map(String::as_str).unwrap_or("");
                if sub == "s_client" {
                    self.net_sink.get_or_insert(rc.span);
                    let out = Output {
                        net: true,
                        taint: Taint {
                            download: true,
                            ..Taint::default()
                        },
                        ..Output::default()
                    };
                    return Ok(out);
                }
                let decrypt = texts.iter().any(|t| t == "-d");
                let b64 = sub == "base64"
                    || texts
                        .iter()
                        .any(|t| t == "-a" || t == "-base64" || t == "-A");
                if decrypt {
                    let text = if b64
                        && (sub == "base64"
                            || texts.iter().all(|t| {
                                !t.starts_with("-aes")
                                    && !t.starts_with("-des")
                                    && !t.starts_with("-chacha")
                                    && !t.contains("cbc")
                                    && t != "-k"
                                    && t != "-pass"
                            })) {
                        input_text.as_deref().and_then(decode::base64)
                    } else {
                        None
                    };
                    (Some(format!("openssl {sub} -d")), Some(text))
                } else {
                    (None, None)
                }
            }
            "rev" => (
                Some("rev".into()),
                Some(input_text.as_deref().map(decode::rev)),
            ),
            "tr" => {
                let consts: Option<Vec<String>> = args.iter().map(Word::constant).collect();
                let cipher = consts.as_ref().is_some_and(|c| decode::tr_is_cipher(c));
                let text = match (&input_text, &consts) {
                    (Some(t), Some(c)) => decode::tr(t, c),
                    _ => None,
                };
                if cipher {
                    (Some("tr".into()), Some(text))
                } else {
                    return Ok(Output {
                        text,
                        taint,
                        ..Output::default()
                    });
                }
            }
            "gunzip" | "zcat" | "bunzip2" | "bzcat" | "unxz" | "xzcat" | "uudecode" | "unzstd"
            | "unlzma" => (Some(name.to_string()), Some(None)),
            "gzip" | "bzip2" | "xz" | "zstd" | "lzma"
                if short_flag('d') || has(&["--decompress"]) =>
            {
                (Some(format!("{name} -d")), Some(None))
            }
            _ => (None, None),
        };
        let mut out = Output {
            taint,
            ..Output::default()
        };
        if let Some(l) = label {
            if !out.taint.decoders.contains(&l) {
                out.taint.decoders.push(l);
            }
            out.text = decoded.flatten();
        }
        Ok(out)
    }

    fn rm(&mut self, texts: &[String], args: &[Word], span: Span) {
        let mut recursive = false;
        let mut no_preserve = false;
        let mut targets = Vec::new();
        let mut opts_done = false;
        for (t, w) in texts.iter().zip(args) {
            if !opts_done && t == "--" {
                opts_done = true;
                continue;
            }
            if !opts_done && t.starts_with("--") {
                recursive |= t == "--recursive";
                no_preserve |= t == "--no-preserve-root";
                continue;
            }
            if !opts_done && t.starts_with('-') && t.len() > 1 {
                recursive |= t.contains('r') || t.contains('R');
                continue;
            }
            if let Some(c) = w.constant() {
                targets.push(c);
            }
        }
        if recursive && targets.iter().any(|t| paths::is_root_class(t)) {
            self.signal("recursive-delete-root", span);
        }
        if no_preserve && recursive {
            self.signal("recursive-delete-root", span);
        }
    }

    fn find(&mut self, args: &[Word], rc: &RunCtx) -> R<()> {
        let span = rc.span;
        let texts: Vec<String> = args.iter().map(Word::known_text).collect();
        let start_paths: Vec<String> = args
            .iter()
            .take_while(|w| {
                let t = w.known_text();
                !(t.starts_with('-') || t == "(" || t == "!")
            })
            .filter_map(Word::constant)
            .collect();
        let root = start_paths.iter().any(|p| paths::is_root_class(p));
        if root && texts.iter().any(|t| t == "-delete") {
            self.signal("recursive-delete-root", span);
        }
        let mut i = 0;
        while i < args.len() {
            if matches!(texts[i].as_str(), "-exec" | "-execdir" | "-ok" | "-okdir") {
                let start = i + 1;
                let mut end = start;
                while end < args.len() && !matches!(texts[end].as_str(), ";" | "+") {
                    end += 1;
                }
                // `{}` is each file found under the start path: `-exec
                // openssl enc -in {}` below /home works on /home's files.
                let found = match start_paths.as_slice() {
                    [one] => format!("{}/{{}}", one.trim_end_matches('/')),
                    _ => "{}".to_string(),
                };
                let sub: Vec<Word> = args[start..end]
                    .iter()
                    .map(|w| match w.constant() {
                        Some(c) if c.contains("{}") => Word::lit(c.replace("{}", &found)),
                        _ => w.clone(),
                    })
                    .collect();
                if let Some(first) = sub.first() {
                    let n = first.known_text();
                    let n = paths::basename(&n);
                    if root && matches!(n, "rm" | "shred" | "unlink") {
                        self.signal("recursive-delete-root", span);
                    }
                }
                let sub_rc = RunCtx {
                    redirs: Vec::new(),
                    stdin: Input::default(),
                    ..rc.clone()
                };
                self.run(sub, &sub_rc)?;
                i = end + 1;
            } else {
                i += 1;
            }
        }
        Ok(())
    }

    fn copy_like(&mut self, texts: &[String], span: Span) {
        let operands: Vec<&String> = texts.iter().filter(|t| !t.starts_with('-')).collect();
        let has_target_flag = texts
            .iter()
            .any(|t| t == "-t" || t.starts_with("--target-directory"));
        if operands.len() < 2 || has_target_flag {
            return;
        }
        let dest = paths::normalise(operands[operands.len() - 1]);
        self.emit(FactKind::Redirect, dest.clone(), vec![">".into()], span);
        self.check_path(&dest, span, false);
        let src = paths::normalise(operands[0]);
        if let Some(info) = self.files.get(&src).cloned() {
            self.files.insert(dest, info);
        }
    }

    fn dd(&mut self, texts: &[String], span: Span) {
        let get = |k: &str| {
            texts
                .iter()
                .find_map(|t| t.strip_prefix(k).map(str::to_string))
        };
        let input = get("if=");
        let output = get("of=");
        if let Some(o) = &output {
            let p = paths::normalise(o);
            self.emit(FactKind::Redirect, p.clone(), vec![">".into()], span);
            self.check_path(&p, span, false);
        }
        let zero = input
            .as_deref()
            .is_some_and(|i| matches!(i, "/dev/zero" | "/dev/urandom" | "/dev/random"));
        let to_file = output.as_deref().is_some_and(|o| o != "/dev/null");
        if zero && to_file {
            let bs = get("bs=")
                .and_then(|b| paths::parse_size(&b))
                .unwrap_or(512);
            let total = match get("count=").and_then(|c| c.parse::<u64>().ok()) {
                Some(c) => c.saturating_mul(bs),
                None => u64::MAX,
            };
            if total >= 1 << 30 {
                self.signal("resource-exhaustion", span);
            }
        }
    }

    fn head_fill(&mut self, texts: &[String], rc: &RunCtx, span: Span) {
        let mut size = None;
        let mut it = texts.iter();
        while let Some(t) = it.next() {
            if t == "-c" || t == "--bytes" {
                size = it.next().and_then(|s| paths::parse_size(s));
            } else if let Some(s) = t.strip_prefix("-c").or_else(|| t.strip_prefix("--bytes=")) {
                size = paths::parse_size(s);
            }
        }
        let zero = texts
            .iter()
            .any(|t| matches!(t.as_str(), "/dev/zero" | "/dev/urandom" | "/dev/random"));
        if zero && size.is_some_and(|s| s >= 1 << 30) {
            let _ = rc;
            self.signal("resource-exhaustion", span);
        }
    }

    fn download(&mut self, name: &str, texts: &[String], args: &[Word], rc: &RunCtx) -> Output {
        let span = rc.span;
        self.net_sink.get_or_insert(span);
        let url = texts.iter().find(|t| {
            paths::is_url(t) || (!t.starts_with('-') && t.contains('.') && t.contains('/'))
        });
        let url_base = url.map(|u| {
            let path = u.split(['?', '#']).next().unwrap_or(u);
            let b = paths::basename(path.split_once("://").map(|x| x.1).unwrap_or(path));
            if b.is_empty()
                || !path
                    .split_once("://")
                    .map(|x| x.1)
                    .unwrap_or(path)
                    .contains('/')
            {
                "index.html".to_string()
            } else {
                b.to_string()
            }
        });
        let mut out_file: Option<String> = None;
        let mut to_stdout = name == "curl";
        let mut it = texts.iter().peekable();
        let mut secret = false;
        while let Some(t) = it.next() {
            match (name, t.as_str()) {
                ("curl", "-o") | ("curl", "--output") => out_file = it.next().cloned(),
                ("curl", "-O") | ("curl", "--remote-name") => out_file = url_base.clone(),
                ("wget", "-O") | ("wget", "--output-document") => out_file = it.next().cloned(),
                ("curl", "-d")
                | ("curl", "--data")
                | ("curl", "--data-binary")
                | ("curl", "--data-raw")
                | ("curl", "--data-urlencode")
                | ("curl", "-F")
                | ("curl", "--form")
                | ("curl", "-T")
                | ("curl", "--upload-file") => {
                    if let Some(v) = it.next() {
                        let file = v.rsplit_once('@').map(|x| x.1).unwrap_or(
                            if t == "-T" || t == "--upload-file" {
                                v
                            } else {
                                ""
                            },
                        );
                        if file == "-" || v == "@-" {
                            secret |= rc.stdin.taint.secret;
                        } else if !file.is_empty() {
                            let p = paths::normalise(file.trim_start_matches('<'));
                            self.check_path(&p, span, true);
                            if self.files.get(&p).is_some_and(|i| i.taint.secret)
                                || paths::sensitive(&p) == Some(paths::Sensitive::Credential)
                                || p == "/etc/passwd"
                            {
                                secret = true;
                            }
                        }
                    }
                }
                ("wget", s) if s.starts_with("--output-document=") => {
                    out_file = Some(s.trim_start_matches("--output-document=").to_string())
                }
                ("wget", s) if s.starts_with("--post-file=") || s.starts_with("--body-file=") => {
                    let p = paths::normalise(s.split_once('=').map(|x| x.1).unwrap_or(""));
                    self.check_path(&p, span, true);
                    secret |= paths::sensitive(&p).is_some();
                }
                ("wget", s) if s.starts_with('-') && !s.starts_with("--") && s.ends_with('O') => {
                    out_file = it.next().cloned();
                }
                ("wget", s) if s.starts_with('-') && !s.starts_with("--") && s.contains('O') => {
                    out_file = s.split_once('O').map(|x| x.1.to_string());
                }
                ("curl", s) if s.starts_with("-o") && s.len() > 2 => {
                    out_file = Some(s[2..].to_string())
                }
                ("curl", s) if s.starts_with('-') && !s.starts_with("--") && s.ends_with('o') => {
                    out_file = it.next().cloned()
                }
                ("curl", s) if s.starts_with('-') && !s.starts_with("--") && s.contains('O') => {
                    out_file = url_base.clone()
                }
                _ => {}
            }
        }
        if name == "wget" && out_file.is_none() {
            out_file = url_base.clone();
        }
        if matches!(name, "aria2c" | "axel" | "lwp-download" | "fetch") && out_file.is_none() {
            out_file = url_base.clone();
            if name == "lwp-download" {
                out_file = texts
                    .iter()
                    .filter(|t| !t.starts_with('-'))
                    .nth(1)
                    .cloned()
                    .or(url_base);
            }
        }
        if out_file.as_deref() == Some("-") {
            out_file = None;
            to_stdout = true;
        } else if out_file.is_some() {
            to_stdout = false;
        }
        if args.iter().any(|a| a.taint.secret) || secret || rc.stdin.taint.secret {
            self.signal("exfiltration", span);
        }
        let taint = Taint {
            download: true,
            ..Taint::default()
        };
        if let Some(f) = out_file {
            let p = paths::normalise(&f);
            self.emit(FactKind::Redirect, p.clone(), vec![">".into()], span);
            self.check_path(&p, span, false);
            self.files.insert(
                p,
                FileInfo {
                    content: None,
                    taint: taint.clone(),
                },
            );
        }
        let _ = to_stdout;
        Output {
            text: None,
            taint,
            ..Output::default()
        }
    }

    fn network(&mut self, name: &str, texts: &[String], rc: &RunCtx) -> Output {
        let span = rc.span;
        self.net_sink.get_or_insert(span);
        let mut out = Output {
            taint: Taint {
                download: true,
                ..Taint::default()
            },
            ..Output::default()
        };
        out.net = matches!(name, "nc" | "ncat" | "netcat" | "socat" | "telnet");
        match name {
            "nc" | "ncat" | "netcat" => {
                let exec = texts.iter().any(|t| {
                    matches!(t.as_str(), "--exec" | "--sh-exec" | "--lua-exec")
                        || t.starts_with("--exec=")
                        || t.starts_with("--sh-exec=")
                        || (t.starts_with('-')
                            && !t.starts_with("--")
                            && (t.contains('e') || t.contains('c')))
                });
                if exec {
                    self.signal("reverse-shell", span);
                }
            }
            "socat" => {
                let lower: Vec<String> = texts.iter().map(|t| t.to_ascii_lowercase()).collect();
                let exec = lower.iter().any(|t| {
                    t.starts_with("exec:") || t.starts_with("system:") || t.contains(",exec:")
                });
                let net = lower.iter().any(|t| {
                    t.contains("tcp")
                        || t.contains("udp")
                        || t.contains("ssl")
                        || t.contains("sctp")
                });
                if exec && net {
                    self.signal("reverse-shell", span);
                }
            }
            _ => {}
        }
        if rc.stdin.taint.secret {
            self.signal("exfiltration", span);
        }
        out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setuid_modes() {
        for m in [
            "4755", "2755", "6755", "04755", "u+s", "g+s", "+s", "a+xs", "u=rwxs", "=4755",
        ] {
            assert!(is_setuid_mode(m), "{m}");
        }
        for m in ["755", "644", "+x", "u+x", "0755", "1777", "u-s"] {
            assert!(!is_setuid_mode(m), "{m}");
        }
    }
}
