//! Command semantics: unwrapping wrappers (`sudo`, `env`, `timeout 5`, ...),
//! interpreters and their code arguments, decoders, download and network
//! tools, and the detectors that turn a command into signals (recursive
//! delete of `/`, setuid bits, reverse shells, download-then-execute ...).
//!
//! Everything here works on evaluated words, never on raw text, so quoting
//! tricks are already gone. It reports facts; policies decide.
//!
//! This file owns running one simple command (wrapper loop, name signals,
//! argument strings, redirections) and the per-command dispatch table in
//! `semantics`; the behaviour of each family lives in its own file as a
//! further `impl Analyzer` block: `wrappers` (commands that run a command),
//! `exec` (eval, source, trap, crontab: shell code run by the shell),
//! `interpreters` (sh/python/node/perl... and awk), `embedded` (the
//! commands and sockets inside perl/ruby/php/lua/Tcl programs), `decoders`, `text`
//! (echo/printf/cat), `files` (rm, find, cp, dd, tee, chmod ...),
//! `indirect` (tools that run a command given in an option: tar, git, vim,
//! ssh -o ProxyCommand, sqlite3 .shell ...), `sedscript` (sed's `e`),
//! `environment` (read, printenv), `process` (kill) and `network`
//! (download and network tools).

mod decoders;
mod embedded;
mod environment;
mod exec;
mod files;
mod indirect;
mod interpreters;
mod network;
mod process;
mod sedscript;
mod tcl;
mod text;
mod wrappers;

use super::decode;
use super::paths;
use super::walk::{Analyzer, Input, Output, Redir, R};
use super::words::{Part, Taint, Word};
use crate::analyze::{FactKind, Span};
use embedded::Interp;
use files::is_setuid_mode;
use interpreters::interp_lang;
use network::{DOWNLOAD_TOOLS, NET_TOOLS};
use wrappers::{wrapper, Wrap};

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
pub(in crate::analyze::bash) enum Lang {
    Bash,
    Python,
    Javascript,
    /// perl, ruby, php, lua, Tcl ...: no parser, a lexical scan (`embedded`).
    Other(Interp),
}

const SILENT: &[&str] = &[
    ":", "true", "false", "cd", "pushd", "popd", "mkdir", "touch", "rm", "rmdir", "cp", "mv", "ln",
    "chmod", "chown", "chgrp", "sleep", "wait", "exit", "return", "shift", "shopt", "set", "unset",
    "export", "local", "umask", "trap", "ulimit", "break", "continue", "test", "[", "[[", "alias",
    "source", ".", "read",
];
/// Programs whose output can be computed from their own program text.
const COMPUTERS: &[&str] = &[
    "awk", "gawk", "mawk", "nawk", "sed", "perl", "python", "python2", "python3", "ruby", "node",
    "php", "lua", "bc", "expr", "m4",
];
const DATA_COMMANDS: &[&str] = &[
    "echo", "printf", "print", "logger", ":", "true", "false", "test", "[", "[[",
];

/// What a path lookup (`command -v x`, `which x`, `type -P x y`) prints,
/// as far as it matters: the name of the first program asked for, which is
/// what a script that runs the result runs (`$(which python3) -c ...`). The
/// directory it is found in is not known and not needed.
fn lookup_output(args: &[Word]) -> Option<String> {
    args.iter()
        .find(|a| !a.known_text().starts_with('-'))
        .and_then(Word::constant)
}

/// Whether the last path component of a command name is not known: the
/// program that runs cannot be named (`$x`, `c${x}`), unlike a known program
/// in an unknown directory (`"$ROOT/bin/tool"`).
fn unknown_basename(w: &Word) -> bool {
    for p in w.parts.iter().rev() {
        match p {
            Part::Unknown => return true,
            Part::Lit(l) if l.contains('/') => return false,
            _ => {}
        }
    }
    false
}

impl<'s> Analyzer<'s> {
    /// Runs one simple command given its evaluated words.
    pub fn run(&mut self, words: Vec<Word>, rc: &RunCtx) -> R<Output> {
        self.enter()?;
        let r = self.run_inner(words, rc);
        self.leave();
        r
    }

    /// Signals about how the command name is written. An expansion as the
    /// name is ordinary shell (`"$@"`, `nohup "$@" &`, `"$EDITOR" "$f"`,
    /// `$PYTHON x.py`): it only hides what runs when the name was spliced
    /// from fragments or comes from data the script does not control (the
    /// network, a decoder, host data, run-time input).
    fn name_signals(&mut self, w: &Word, span: Span) {
        let untrusted = w.taint.untrusted();
        let own_function = w.constant().is_some_and(|n| self.functions.contains(&n));
        if w.expanded && (untrusted || (w.taint.spliced && !own_function)) {
            self.signal("variable-command", span);
        }
        if untrusted && unknown_basename(w) && !w.self_ref {
            self.signal("computed-name", span);
        }
        if w.obfuscated && !own_function {
            self.signal("string-obfuscation", span);
        }
        // A directory named only with dots (`~/.../sh`) hides where a
        // program lives; no tool installs itself there.
        if w.known_text()
            .split('/')
            .any(|c| c.len() >= 3 && c.bytes().all(|b| b == b'.'))
        {
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
                    let prints_path = name == "command"
                        && rest.iter().any(|w| {
                            let t = w.known_text();
                            t.starts_with('-') && t.contains('v')
                        });
                    return Ok(Output {
                        text: lookup_output(rest).filter(|_| prints_path),
                        ..Output::default()
                    });
                }
                Wrap::Code(idx) => {
                    self.emit_command(&name, rest, span);
                    // Other operands can name files (`script -c CMD LOGFILE`).
                    let others: Vec<Word> = rest
                        .iter()
                        .enumerate()
                        .filter(|(k, _)| *k != idx)
                        .map(|(_, w)| w.clone())
                        .collect();
                    self.arg_strings(&others, span);
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
                Wrap::Argv(argv) => {
                    self.emit_command(&name, rest, span);
                    return self.run(argv, rc);
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
                    // The wrapper's own options can name files (`rlwrap -l
                    // LOG`, `strace -o OUT`).
                    self.arg_strings(&rest[..n.min(rest.len())], span);
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
        let own_function = !wrapped && name == full && self.functions.contains(&name);
        if !name.is_empty() && !own_function {
            self.emit_command(&name, &args, span);
        }
        // `logger -f FILE` sends a file to the system log: a reader then.
        let data = DATA_COMMANDS.contains(&name.as_str())
            && !(name == "logger" && args.iter().any(|a| a.known_text() == "-f"));
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
        // Known text in, unknown text out: a transformation the analyzer
        // does not follow (`sed`, `cut`, `awk` over a here-string), or a
        // program that computes its output from its own text (`awk
        // 'BEGIN{print "cu" "rl"}'`, `perl -e`) with nothing else to read.
        let known_in = rc
            .stdin
            .text
            .as_deref()
            .is_some_and(|t| !t.trim().is_empty());
        let computes = COMPUTERS.contains(&name.as_str())
            && args.iter().all(|a| !a.has_unknown())
            && (known_in || !rc.stdin.present);
        if out.text.is_none() && (known_in || computes) {
            out.taint.opaque = true;
        }
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
        self.indirect(name, args, rc)?;
        if let Some(lang) = interp_lang(name) {
            return self.interpreter(name, lang, args, rc, socket);
        }
        match name {
            "echo" => {
                out.text = consts.map(|c| decode::echo(&c));
                out.taint = arg_taint;
            }
            "printf" => self.printf(args, arg_taint, span, &mut out),
            "cat" | "tac" | "more" | "less" | "head" | "tail" | "strings" | "nl" | "od"
            | "hexdump" => self.cat_like(name, &texts, rc, &mut out),
            "base64" | "base32" | "basenc" | "openssl" | "xxd" | "rev" | "tr" | "gunzip"
            | "zcat" | "gzip" | "bzip2" | "bunzip2" | "bzcat" | "xz" | "unxz" | "xzcat"
            | "uudecode" | "zstd" | "unzstd" | "lzma" | "unlzma" => {
                out = self.decoder(name, args, &texts, rc)?;
            }
            "which" => out.text = lookup_output(args),
            "type" | "whence"
                if texts
                    .iter()
                    .any(|t| t.starts_with('-') && (t.contains('p') || t.contains('P'))) =>
            {
                out.text = lookup_output(args);
            }
            "eval" => self.eval(args, span)?,
            "source" | "." => self.source(name, args, rc)?,
            "alias" => self.alias(args, span)?,
            "trap" => self.trap(args, span)?,
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
            "install" => self.install(&texts, span),
            "cp" | "mv" | "ln" | "rsync"
                if name != "rsync" || !texts.iter().any(|t| t.contains(':')) =>
            {
                self.copy_like(&texts, span);
            }
            "tee" => self.tee(&texts, rc, &mut out),
            "sed" | "perl-i" => {
                if name == "sed" {
                    self.sed_exec(args, span)?;
                }
                self.sed_inplace(&texts, rc, &mut out)
            }
            "ztcp" => self.ztcp(&texts, span),
            "dd" => self.dd(&texts, span),
            "fallocate" | "truncate" => self.fallocate(name, &texts, span),
            "printenv" | "set" | "compgen" | "export" | "declare" | "typeset" => {
                self.env_dump(name, &texts, span, &mut out)
            }
            "read" | "mapfile" | "readarray" => self.read_vars(name, &texts, rc),
            "kill" => self.kill(&texts, span),
            "killall5" => self.signal("kill-all", span),
            "crontab" | "at" | "batch" => self.schedule(name, &texts, rc)?,
            "awk" | "gawk" | "mawk" | "nawk" | "busybox-awk" => {
                self.awk(name, &texts, args, rc, &mut out)?
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
            | "pr" => out.taint.merge(&rc.stdin.taint),
            _ => {}
        }
        if socket && out.shell {
            self.signal("reverse-shell", span);
        }
        Ok(out)
    }
}
