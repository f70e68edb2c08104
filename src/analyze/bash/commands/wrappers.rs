//! Wrappers: commands whose arguments are another command (`sudo`, `env`,
//! `timeout 5`, `nohup`, `xargs`, `su -c`, `watch` ...). This file says how
//! many words each wrapper consumes and what a wrapper does when it is given
//! no command (`sudo -i`, bare `env`); running the unwrapped command is
//! `run_inner`'s job in `mod.rs`.

use super::{Lang, RunCtx};
use crate::analyze::bash::walk::{Analyzer, Output, R};
use crate::analyze::bash::words::{self, Word};

/// How a wrapper hands over to the command it runs.
pub(super) enum Wrap {
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
    /// The command is these words (`start-stop-daemon -x PROG -- ARGS`).
    Argv(Vec<Word>),
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
                if words::is_var_name(k) {
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

pub(super) fn wrapper(name: &str, rest: &[Word]) -> Wrap {
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
        "watch" => {
            let j = opts_skip(rest, &["-n", "--interval", "-q", "--equexit"], false);
            // `watch -x` runs its words directly; without it they go to `sh -c`.
            if rest[..j]
                .iter()
                .any(|w| matches!(w.known_text().as_str(), "-x" | "--exec"))
            {
                Wrap::Skip(j)
            } else {
                Wrap::Joined(j)
            }
        }
        _ => more_wrappers(name, rest),
    }
}

impl<'s> Analyzer<'s> {
    pub(super) fn wrapper_alone(&mut self, name: &str, rest: &[Word], rc: &RunCtx) -> R<Output> {
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
                if shell && !rc.stdin.present {
                    self.signal("interactive-shell", span);
                }
                if shell && rc.stdin.pipe {
                    self.exec_stdin(Lang::Bash, name, &rc.stdin, span)?;
                }
            }
            _ => {}
        }
        self.apply_redirects(&rc.redirs, &out, span, out.shell);
        Ok(out)
    }
}

/// Wrappers added for issue 12 item 3: programs GTFOBins lists as running
/// the command they are given (`setarch`, `rlwrap`, `cpulimit`,
/// `start-stop-daemon`, `logsave`, `chrt`, `ssh-agent`, `perf stat`,
/// `ip netns exec`, `npm exec` ...).
fn more_wrappers(name: &str, rest: &[Word]) -> Wrap {
    let first = rest.first().map(Word::known_text).unwrap_or_default();
    let skip_then = |with_arg: &[&str], operands: usize| {
        let j = opts_skip(rest, with_arg, false);
        Wrap::Skip((j + operands).min(rest.len()))
    };
    match name {
        "setarch" => {
            // `setarch [arch] [options] [program]`: the arch may be left out.
            let j = opts_skip(rest, &[], false);
            let op = rest.get(j).map(Word::known_text).unwrap_or_default();
            let base = op.rsplit('/').next().unwrap_or("");
            if op.contains('/') || super::interpreters::interp_lang(base).is_some() {
                Wrap::Skip(j)
            } else {
                let k = j + 1 + opts_skip(rest.get(j + 1..).unwrap_or(&[]), &[], false);
                Wrap::Skip(k.min(rest.len()))
            }
        }
        "linux32" | "linux64" | "i386" | "x86_64" | "uname26" => skip_then(&[], 0),
        "rlwrap" => skip_then(
            &[
                "-b", "-C", "-D", "-e", "-f", "-g", "-H", "-l", "-O", "-p", "-P", "-q", "-S", "-s",
                "-t", "-w", "-z", "-M",
            ],
            0,
        ),
        "cpulimit" => {
            let opts = &rest[..opts_skip(rest, &["-l", "--limit", "-c", "--cpu"], false)];
            if opts.iter().any(|w| {
                let t = w.known_text();
                matches!(t.as_str(), "-p" | "--pid" | "-e" | "--exe")
                    || t.starts_with("--pid=")
                    || t.starts_with("--exe=")
            }) {
                Wrap::Lookup
            } else {
                skip_then(&["-l", "--limit", "-c", "--cpu"], 0)
            }
        }
        "start-stop-daemon" => {
            let mut prog: Option<Word> = None;
            let mut k = 0;
            while k < rest.len() {
                let t = rest[k].known_text();
                if t == "--" {
                    break;
                }
                if matches!(t.as_str(), "-x" | "--exec" | "-a" | "--startas") {
                    if let Some(v) = rest.get(k + 1) {
                        if prog.is_none() || t == "-a" || t == "--startas" {
                            prog = Some(v.clone());
                        }
                    }
                    k += 2;
                    continue;
                }
                if let Some(v) = t
                    .strip_prefix("--exec=")
                    .or_else(|| t.strip_prefix("--startas="))
                {
                    prog = Some(Word::lit(v));
                }
                k += 1;
            }
            match prog {
                Some(p) => {
                    let mut argv = vec![p];
                    argv.extend(rest.iter().skip(k + 1).cloned());
                    Wrap::Argv(argv)
                }
                None => Wrap::Lookup,
            }
        }
        "logsave" | "setlock" => skip_then(&[], 1),
        "chrt" => {
            let opts = &rest[..opts_skip(rest, &["-T", "-P", "-D"], false)];
            if opts
                .iter()
                .any(|w| matches!(w.known_text().as_str(), "-p" | "--pid" | "-m" | "--max"))
            {
                Wrap::Lookup
            } else {
                skip_then(
                    &[
                        "-T",
                        "-P",
                        "-D",
                        "--sched-runtime",
                        "--sched-period",
                        "--sched-deadline",
                    ],
                    1,
                )
            }
        }
        "choom" => {
            let opts = &rest[..opts_skip(rest, &["-n", "--adjust"], false)];
            if opts.iter().any(|w| w.known_text() == "-p") {
                Wrap::Lookup
            } else {
                skip_then(&["-n", "--adjust"], 0)
            }
        }
        "aa-exec" => skip_then(&["-p", "--profile", "-n", "--namespace"], 0),
        "softlimit" => skip_then(
            &[
                "-m", "-d", "-s", "-l", "-a", "-o", "-p", "-f", "-c", "-r", "-t",
            ],
            0,
        ),
        "ssh-agent" => skip_then(&["-a", "-E", "-P", "-t", "-O"], 0),
        "torify" | "aoss" | "firejail" | "distcc" | "grc" | "valgrind" | "dbus-launch"
        | "multitime" | "pexec" | "eatmydata" | "xtrace" => skip_then(&["-n"], 0),
        "systemd-run" => skip_then(
            &[
                "-u",
                "--unit",
                "-p",
                "--property",
                "--description",
                "--slice",
                "-E",
                "--setenv",
                "--uid",
                "--gid",
                "--nice",
                "-M",
                "--machine",
                "--working-directory",
                "-H",
                "--host",
                "--on-calendar",
                "--on-active",
                "--on-boot",
                "--on-startup",
                "--on-unit-active",
                "--on-unit-inactive",
                "--timer-property",
                "--path-property",
                "--socket-property",
                "--service-type",
            ],
            0,
        ),
        "openvt" => skip_then(&["-c", "--console", "-u"], 0),
        "perf" if matches!(first.as_str(), "stat" | "record" | "trace") => {
            let j = 1 + opts_skip(
                &rest[1..],
                &[
                    "-e", "--event", "-o", "--output", "-p", "-t", "-C", "-G", "-r", "-x", "-I",
                    "-u", "-c", "-F", "-m",
                ],
                false,
            );
            Wrap::Skip(j.min(rest.len()))
        }
        "ip" if first == "netns" && rest.get(1).is_some_and(|w| w.known_text() == "exec") => {
            Wrap::Skip(3.min(rest.len()))
        }
        "xdotool" if first == "exec" => {
            let j = 1 + opts_skip(&rest[1..], &["--args", "--terminator"], false);
            Wrap::Skip(j.min(rest.len()))
        }
        "npm" | "yarn" | "pnpm" | "bundle" | "cabal" | "stack"
            if matches!(first.as_str(), "exec" | "x") =>
        {
            match position_of(rest, "-c").or_else(|| position_of(rest, "--call")) {
                Some(i) => Wrap::Code(i + 1),
                None => {
                    let j =
                        1 + opts_skip(&rest[1..], &["-p", "--package", "-w", "--workspace"], false);
                    Wrap::Skip(j.min(rest.len()))
                }
            }
        }
        "uv" | "poetry" | "pipenv" | "pdm" | "hatch" | "rye" if first == "run" => {
            let j = 1 + opts_skip(
                &rest[1..],
                &["--with", "-p", "--python", "--project", "--directory"],
                false,
            );
            Wrap::Skip(j.min(rest.len()))
        }
        // `pidstat -e PROGRAM ARGS...` runs the program and reports on it.
        "pidstat" => match position_of(rest, "-e") {
            Some(i) => Wrap::Skip(i + 1),
            None => Wrap::No,
        },
        "npx" | "bunx" => skip_then(&["-p", "--package", "-c", "--call"], 0),
        _ => Wrap::No,
    }
}
