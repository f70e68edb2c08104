//! Download and network tools: where `curl`/`wget` write what they fetch
//! (so running it later is download-exec), whether a transfer does more
//! than fetch into the script (`network-transfer`), uploads of secrets
//! (exfiltration), and `nc -e`/`socat exec:` shells.

use super::RunCtx;
use crate::analyze::bash::walk::Var;
use crate::analyze::bash::walk::{Analyzer, FileInfo, Output};
use crate::analyze::bash::words::{Taint, Word};
use crate::analyze::bash::{paths, transfer};
use crate::analyze::{FactKind, Span};

/// The descriptor cordon files a `ztcp` connection under when the script
/// does not choose one with `-d`: zsh hands it over in `$REPLY`.
const ZTCP_FD: u32 = 1_000_003;

pub(super) const DOWNLOAD_TOOLS: &[&str] = &[
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
pub(super) const NET_TOOLS: &[&str] = &[
    "nc", "ncat", "netcat", "socat", "telnet", "ssh", "scp", "sftp", "rsync", "sshpass", "nmap",
    "masscan",
];

impl<'s> Analyzer<'s> {
    /// zsh's `ztcp HOST PORT` (after `zmodload zsh/net/tcp`) opens a socket
    /// and puts its descriptor in `$REPLY`; `ztcp -l PORT` listens. The
    /// descriptor is recorded as a socket, so `zsh >&$REPLY 0>&$REPLY` is a
    /// reverse shell as `exec 3<>/dev/tcp/...` is.
    pub(super) fn ztcp(&mut self, texts: &[String], span: Span) {
        if texts.iter().any(|t| t == "-c" || t == "-L") {
            return;
        }
        self.net_sink.get_or_insert(span);
        let mut fd = ZTCP_FD;
        let mut it = texts.iter();
        while let Some(t) = it.next() {
            if t == "-d" {
                if let Some(n) = it.next().and_then(|v| v.parse::<u32>().ok()) {
                    fd = n;
                }
            }
        }
        if texts.iter().any(|t| t == "-l") {
            self.signal("network-server", span);
        }
        self.socket_fds.insert(fd);
        self.vars.insert(
            "REPLY".into(),
            Var {
                value: Some(fd.to_string()),
                array: None,
                taint: Taint {
                    download: true,
                    ..Taint::default()
                },
            },
        );
    }

    pub(super) fn download(
        &mut self,
        name: &str,
        texts: &[String],
        args: &[Word],
        rc: &RunCtx,
    ) -> Output {
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
        // A fetch into the script (stdout, a pipe, a variable) is the
        // everyday use and fails in the sandbox anyway; saving files,
        // sending data, a proxy or a borrowed user agent is more.
        // With the caller's arguments forwarded (`fetch -q "$@"`), where
        // the output goes is the caller's choice: only an explicit output
        // file counts then.
        let forwarded = args.iter().any(|a| a.forwarded);
        let saves = !to_stdout
            && name != "lwp-request"
            && !texts.iter().any(|t| t == "--spider")
            && (out_file.is_some() || !forwarded);
        let proxied = transfer::PROXY_VARS
            .iter()
            .any(|v| self.vars.contains_key(*v));
        if saves || proxied || transfer::beyond_fetch(name, texts) {
            self.signal("network-transfer", span);
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
        Output {
            text: None,
            taint,
            ..Output::default()
        }
    }

    pub(super) fn network(&mut self, name: &str, texts: &[String], rc: &RunCtx) -> Output {
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
