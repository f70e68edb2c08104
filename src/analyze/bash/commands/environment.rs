//! The environment: commands that dump it (`printenv`, bare `set`/`export`,
//! `compgen -v`) and `read`/`mapfile`, whose variables take the taint of
//! their input (a socket makes them downloaded data).

use super::RunCtx;
use crate::analyze::bash::walk::{Analyzer, Output, Var};
use crate::analyze::bash::words;
use crate::analyze::Span;

impl<'s> Analyzer<'s> {
    /// `printenv`, `set`, `export -p` ... with no names print every variable.
    pub(super) fn env_dump(&mut self, name: &str, texts: &[String], span: Span, out: &mut Output) {
        let harvest = match name {
            // `set -x` and `set -o` change or list shell options; only a
            // bare `set` prints the variables.
            "set" => texts.is_empty(),
            "printenv" | "export" | "declare" | "typeset" => {
                texts.is_empty() || texts.iter().all(|t| t == "-p" || t == "-x" || t == "-0")
            }
            _ => texts.iter().any(|t| t == "-v" || t == "-e" || t == "-A"),
        };
        if harvest {
            self.signal("env-harvest", span);
            self.secret_seen = true;
            out.taint.secret = true;
        }
    }

    /// `read`/`mapfile` variables carry the taint of standard input.
    pub(super) fn read_vars(&mut self, name: &str, texts: &[String], rc: &RunCtx) {
        let mut taint = rc.stdin.taint.clone();
        if rc.stdin.socket {
            taint.download = true;
        }
        // Nothing redirected: what the caller types or sends at run time.
        taint.input |= !rc.stdin.present;
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
            if words::is_var_name(t) {
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
}
