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
        "watch" => Wrap::Joined(opts_skip(
            rest,
            &["-n", "--interval", "-d", "--differences", "-x"],
            false,
        )),
        _ => Wrap::No,
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
