//! Exfiltration by data flow (issue 12 item 7): host data (a file the
//! script did not write, what `whoami`/`ls`/`ps` report, the environment,
//! credentials) that reaches an upload is `exfiltration`; the two merely
//! appearing in one script is not.
//!
//! Sources mark taint on a command's output ([`Analyzer::source_taint`]);
//! variables, pipes, command substitutions and files carry it (`words.rs`,
//! `walk.rs`). Sinks ([`Analyzer::exfil_sinks`]) look where data leaves:
//! curl/wget bodies, forms, uploads, headers and the query part of a URL;
//! the standard input of socket tools and ssh; scp/rsync/sftp/ftp towards a
//! remote; DNS names built from data for dig/nslookup/host; anything but a
//! constant sent to a chat webhook or paste service. A URL that is entirely
//! data (`curl "$(cat url.txt)"`) is a download address, not a leak.

use super::commands::RunCtx;
use super::paths;
use super::walk::Analyzer;
use super::words::{Part, Taint, Word};

/// Commands whose output is file content: their operands are read.
const READERS: &[&str] = &[
    "cat", "tac", "head", "tail", "more", "less", "strings", "nl", "od", "hexdump", "xxd",
    "base64", "base32", "basenc", "gzip", "bzip2", "xz", "zstd", "lzma", "tar", "zip", "7z",
    "cpio", "cut", "sort", "uniq", "column", "paste", "dd", "sqlite3", "file", "stat", "openssl",
    "gpg", "iconv", "fold", "rev",
];

/// Readers whose first operand is a program or pattern, not a file.
const PROGRAM_READERS: &[&str] = &["awk", "gawk", "mawk", "sed", "grep", "egrep", "fgrep", "jq"];

/// Commands whose output describes the host (reconnaissance output).
const HOST_INFO: &[&str] = &[
    "whoami",
    "id",
    "hostname",
    "hostnamectl",
    "ifconfig",
    "ip",
    "ps",
    "who",
    "w",
    "last",
    "lastlog",
    "netstat",
    "ss",
    "ls",
    "find",
    "history",
    "getent",
    "groups",
    "arp",
    "route",
    "lsof",
    "dmesg",
    "mount",
    "lsblk",
    "df",
    "du",
    "pwd",
    "tree",
];

/// Encoders: their output is data packed for transport.
const ENCODERS: &[&str] = &[
    "base64", "base32", "basenc", "xxd", "od", "hexdump", "gzip", "bzip2", "xz", "zstd",
];

/// Hosts whose only use from a script is to receive data: chat webhooks,
/// paste and file-drop services, request catchers.
const DROP_HOSTS: &[&str] = &[
    "hooks.slack.com",
    "discord.com",
    "discordapp.com",
    "api.telegram.org",
    "webhook.site",
    "requestbin",
    "pipedream.net",
    "ngrok.io",
    "ngrok-free.app",
    "interact.sh",
    "oast.",
    "burpcollaborator.net",
    "transfer.sh",
    "file.io",
    "0x0.st",
    "termbin.com",
    "pastebin.com",
    "paste.ee",
    "hastebin",
    "ix.io",
    "outlook.office.com/webhook",
    "webhook.office.com",
];

/// curl options whose value is sent as the request body or a form field.
const CURL_DATA: &[&str] = &[
    "-d",
    "--data",
    "--data-binary",
    "--data-raw",
    "--data-ascii",
    "--data-urlencode",
    "--json",
    "-F",
    "--form",
    "--form-string",
];

/// curl options whose value is sent as request metadata.
const CURL_META: &[&str] = &[
    "-H",
    "--header",
    "-A",
    "--user-agent",
    "-e",
    "--referer",
    "-b",
    "--cookie",
    "-u",
    "--user",
    "--url-query",
];

fn leaks(t: &Taint) -> bool {
    t.local || t.secret
}

/// A URL with a constant scheme and host and data after it
/// (`http://x/?d=$(...)`), as opposed to an address that is all data.
fn url_carries_data(w: &Word) -> bool {
    match w.parts.first() {
        Some(Part::Lit(s)) => {
            paths::is_url(s) && w.has_unknown() && {
                let rest = s.split_once("://").map(|x| x.1).unwrap_or("");
                !rest.is_empty()
            }
        }
        _ => false,
    }
}

fn is_drop_host(url: &str) -> bool {
    let l = url.to_ascii_lowercase();
    DROP_HOSTS.iter().any(|h| l.contains(h))
}

/// `user@host:path`, `host:path`, `host::module`, `scheme://`: a remote
/// operand of scp/rsync. `./a:b` and `/x:y` are local.
fn is_remote(op: &str) -> bool {
    if op.contains("://") {
        return true;
    }
    match op.find(':') {
        Some(i) if i > 0 => !op[..i].contains('/'),
        _ => false,
    }
}

impl Analyzer<'_> {
    /// Taint of a file the command reads: what the script wrote there, or
    /// host data when the script did not write it.
    fn file_taint(&self, path: &str) -> Taint {
        let p = paths::normalise(path);
        if matches!(
            p.as_str(),
            "-" | "/dev/null" | "/dev/zero" | "/dev/urandom" | "/dev/random" | "/dev/stdin"
        ) {
            return Taint::default();
        }
        let mut t = match self.files.get(&p) {
            Some(info) => info.taint.clone(),
            None => Taint {
                local: true,
                ..Taint::default()
            },
        };
        if paths::sensitive(&p) == Some(paths::Sensitive::Credential) {
            t.secret = true;
        }
        t
    }

    /// Taint of files redirected into standard input (`< file`).
    fn redirected_input(&self, rc: &RunCtx) -> Taint {
        let mut t = Taint::default();
        for r in &rc.redirs {
            if r.op == "<" && r.fd.is_none_or(|f| f == 0) {
                let target = r.target.known_text();
                if !target.is_empty() && !target.starts_with("/dev/tcp/") {
                    t.merge(&self.file_taint(&target));
                }
            }
        }
        t
    }

    /// What a command's output carries as a source: host data for readers
    /// of files the script did not write and for reconnaissance commands,
    /// `encoded` for encoders.
    pub(super) fn source_taint(&self, name: &str, args: &[Word], rc: &RunCtx) -> Taint {
        let mut t = Taint::default();
        let texts: Vec<String> = args.iter().map(Word::known_text).collect();
        let reader = READERS.contains(&name);
        let program = PROGRAM_READERS.contains(&name);
        if reader || program {
            // `head -n 1`, `tail -n +2`: the count is no file.
            let counted = matches!(name, "head" | "tail");
            let mut ops = args
                .iter()
                .zip(&texts)
                .enumerate()
                .filter(|(i, (_, t))| {
                    let count_value = counted
                        && i.checked_sub(1)
                            .and_then(|p| texts.get(p))
                            .is_some_and(|p| {
                                matches!(p.as_str(), "-n" | "-c" | "--lines" | "--bytes")
                            });
                    !t.starts_with('-') && !count_value
                })
                .map(|(_, (w, _))| w);
            let explicit_program = texts.iter().any(|t| t == "-e" || t == "-f");
            if program && !explicit_program {
                ops.next();
            }
            for w in ops {
                match w.constant() {
                    Some(c) => {
                        let c = c.strip_prefix("if=").unwrap_or(&c).to_string();
                        t.merge(&self.file_taint(&c));
                    }
                    // An unknown operand of a reader is a file the script
                    // did not create as far as is known.
                    None => t.local = true,
                }
            }
            t.merge(&self.redirected_input(rc));
        }
        if HOST_INFO.contains(&name) || (name == "uname" && texts.iter().any(|t| t == "-a")) {
            t.local = true;
        }
        let decoding = texts.iter().any(|t| {
            matches!(
                t.as_str(),
                "-d" | "-D" | "--decode" | "-r" | "--revert" | "--decompress"
            )
        });
        if ENCODERS.contains(&name) && !decoding {
            t.encoded = true;
        }
        if name == "openssl"
            && texts
                .first()
                .is_some_and(|s| matches!(s.as_str(), "base64" | "enc"))
            && !decoding
        {
            t.encoded = true;
        }
        t
    }

    /// Looks for host data leaving through this command.
    pub(super) fn exfil_sinks(&mut self, name: &str, args: &[Word], rc: &RunCtx) {
        let leaked = match name {
            "curl" => self.curl_leaks(args, rc),
            "wget" => self.wget_leaks(args, rc),
            "nc" | "ncat" | "netcat" | "socat" | "telnet" | "ssh" | "openssl" | "cryptcat"
            | "pwncat" => self.stream_leaks(name, args, rc),
            "scp" | "rsync" => self.copy_leaks(name, args),
            "sftp" | "ftp" | "tftp" | "lftp" | "ncftp" | "ncftpput" => {
                self.ftp_leaks(name, args, rc)
            }
            "dig" | "nslookup" | "host" | "drill" | "delv" | "kdig" | "resolvectl" | "ping"
            | "ping6" | "traceroute" => dns_leaks(args),
            _ => false,
        };
        if leaked {
            self.signal("exfiltration", rc.span);
        }
    }

    fn stdin_leaks(&self, rc: &RunCtx) -> bool {
        leaks(&rc.stdin.taint) || leaks(&self.redirected_input(rc))
    }

    /// A file named in an upload (`@file`, `<file`, `-T file`): host data
    /// unless the script wrote it with clean content; `-` is stdin.
    fn upload_file_leaks(&self, file: &Word, rc: &RunCtx) -> bool {
        let text = file.known_text();
        if text == "-" || text == "." {
            return self.stdin_leaks(rc);
        }
        match file.constant() {
            Some(c) => leaks(&self.file_taint(&c)),
            None => true,
        }
    }

    fn curl_leaks(&self, args: &[Word], rc: &RunCtx) -> bool {
        let texts: Vec<String> = args.iter().map(Word::known_text).collect();
        let to_drop = texts.iter().any(|t| is_drop_host(t));
        let mut i = 0;
        while i < args.len() {
            let t = texts[i].as_str();
            // `-d@x`, `--data=@x`, `-Ffile=@x` and `-d @x` alike.
            let (flag, value): (&str, Option<Word>) = match CURL_DATA
                .iter()
                .chain(CURL_META)
                .chain(&["-T", "--upload-file"])
                .find(|f| t == **f || glued_flag(t, f))
            {
                Some(f) if t == *f => {
                    i += 1;
                    (*f, args.get(i).cloned())
                }
                Some(f) => {
                    let skip = f.len() + usize::from(f.starts_with("--"));
                    (*f, strip_word_prefix(&args[i], skip))
                }
                None => {
                    if url_carries_data(&args[i]) && leaks(&args[i].taint) {
                        return true;
                    }
                    i += 1;
                    continue;
                }
            };
            i += 1;
            let Some(value) = value else { continue };
            if leaks(&value.taint) {
                return true;
            }
            let vt = value.known_text();
            if matches!(flag, "-T" | "--upload-file") {
                if self.upload_file_leaks(&value, rc) {
                    return true;
                }
                continue;
            }
            if CURL_DATA.contains(&flag) {
                // `name=@file`, `name=<file`, `@file`, `name@file` (urlencode).
                let file = if let Some(rest) = vt.strip_prefix('@') {
                    Some(rest.to_string())
                } else if let Some((_, v)) = vt.split_once('=') {
                    v.strip_prefix('@')
                        .or_else(|| v.strip_prefix('<'))
                        .map(|s| s.split(';').next().unwrap_or(s).to_string())
                } else if flag == "--data-urlencode" {
                    vt.split_once('@').map(|x| x.1.to_string())
                } else {
                    None
                };
                if let Some(f) = file {
                    // A file name with unknown runs is some file the
                    // script did not write, as far as is known.
                    let fw = if value.has_unknown() && !paths::is_pathlike(&f) {
                        Word::unknown()
                    } else {
                        Word::lit(f)
                    };
                    if self.upload_file_leaks(&fw, rc) {
                        return true;
                    }
                }
                if to_drop && value.has_unknown() {
                    return true;
                }
            }
        }
        false
    }

    fn wget_leaks(&self, args: &[Word], rc: &RunCtx) -> bool {
        let texts: Vec<String> = args.iter().map(Word::known_text).collect();
        let to_drop = texts.iter().any(|t| is_drop_host(t));
        for (i, (w, t)) in args.iter().zip(&texts).enumerate() {
            for flag in ["--post-file", "--body-file"] {
                let file = if t == flag {
                    args.get(i + 1).cloned()
                } else if t.starts_with(&format!("{flag}=")) {
                    strip_word_prefix(w, flag.len() + 1)
                } else {
                    None
                };
                if file.is_some_and(|f| self.upload_file_leaks(&f, rc)) {
                    return true;
                }
            }
            let data_flag = ["--post-data", "--body-data", "--header"]
                .iter()
                .any(|f| t == f || t.starts_with(&format!("{f}=")));
            let value = if ["--post-data", "--body-data", "--header"].contains(&t.as_str()) {
                args.get(i + 1)
            } else if data_flag {
                Some(w)
            } else {
                None
            };
            if let Some(v) = value {
                if leaks(&v.taint) || (to_drop && v.has_unknown()) {
                    return true;
                }
            }
            if url_carries_data(w) && leaks(&w.taint) {
                return true;
            }
        }
        false
    }

    /// Socket tools and ssh send what they read on stdin; socat also sends
    /// a file named in an address (`FILE:/etc/passwd`, `OPEN:...`).
    fn stream_leaks(&self, name: &str, args: &[Word], rc: &RunCtx) -> bool {
        let texts: Vec<String> = args.iter().map(Word::known_text).collect();
        if name == "openssl" && texts.first().is_none_or(|s| s != "s_client") {
            return false;
        }
        if name == "ssh" && texts.iter().any(|t| t == "-W" || t == "-N") {
            return false;
        }
        if self.stdin_leaks(rc) {
            return true;
        }
        if name == "socat" {
            let net = texts.iter().any(|t| {
                let l = t.to_ascii_lowercase();
                l.contains("tcp") || l.contains("udp") || l.contains("ssl")
            });
            let file = args.iter().zip(&texts).any(|(_, t)| {
                let l = t.to_ascii_lowercase();
                ["file:", "open:", "gopen:"].iter().any(|p| {
                    l.strip_prefix(p).is_some_and(|f| {
                        let f = f.split(',').next().unwrap_or(f);
                        leaks(&self.file_taint(f))
                    })
                })
            });
            return net && file;
        }
        false
    }

    /// scp/rsync: local operands copied to a remote destination.
    fn copy_leaks(&self, name: &str, args: &[Word]) -> bool {
        let texts: Vec<String> = args.iter().map(Word::known_text).collect();
        let with_value: &[&str] = if name == "scp" {
            &["-P", "-i", "-o", "-F", "-c", "-l", "-S", "-J", "-D", "-X"]
        } else {
            &[
                "-e",
                "--rsh",
                "-f",
                "--filter",
                "--exclude",
                "--include",
                "--port",
                "-T",
                "--temp-dir",
                "-B",
                "--block-size",
                "--exclude-from",
                "--include-from",
                "--files-from",
                "--password-file",
                "--log-file",
            ]
        };
        let mut ops: Vec<(&Word, &String)> = Vec::new();
        let mut i = 0;
        while i < args.len() {
            let t = &texts[i];
            if t.starts_with('-') && t.len() > 1 {
                if with_value.contains(&t.as_str()) {
                    i += 1;
                }
            } else {
                ops.push((&args[i], t));
            }
            i += 1;
        }
        let Some(((_, dest), sources)) = ops.split_last() else {
            return false;
        };
        is_remote(dest)
            && sources
                .iter()
                .any(|(w, t)| !is_remote(t) && (w.has_unknown() || !t.is_empty()))
    }

    /// ftp-style clients: a `put` in the commands they are given.
    fn ftp_leaks(&self, name: &str, args: &[Word], rc: &RunCtx) -> bool {
        let texts: Vec<String> = args.iter().map(Word::known_text).collect();
        let puts = |script: &str| {
            script.lines().flat_map(|l| l.split(';')).any(|l| {
                let cmd = l.split_whitespace().next().unwrap_or("");
                matches!(cmd, "put" | "mput" | "reput" | "send" | "append")
            })
        };
        let mut scripts: Vec<String> = Vec::new();
        if let Some(t) = &rc.stdin.text {
            scripts.push(t.clone());
        }
        for (i, t) in texts.iter().enumerate() {
            if matches!(t.as_str(), "-c" | "-e" | "-b") {
                if let Some(v) = texts.get(i + 1) {
                    scripts.push(v.clone());
                    if t == "-b" {
                        if let Some(info) = self.files.get(&paths::normalise(v)) {
                            scripts.push(info.content.clone().unwrap_or_default());
                        }
                    }
                }
            }
        }
        // `tftp host -c put file` puts the operands after `put`.
        if name == "tftp" {
            scripts.push(
                texts
                    .join(" ")
                    .split(" -c ")
                    .nth(1)
                    .unwrap_or("")
                    .to_string(),
            );
        }
        if name == "ncftpput" {
            return texts.iter().filter(|t| !t.starts_with('-')).count() >= 3;
        }
        scripts.iter().any(|s| puts(s)) || (name == "sftp" && rc.stdin.pipe && self.stdin_leaks(rc))
    }
}

/// `-dX` (short option with its value glued) or `--data=X`.
fn glued_flag(t: &str, flag: &str) -> bool {
    if flag.starts_with("--") {
        t.strip_prefix(flag).is_some_and(|r| r.starts_with('='))
    } else {
        t.starts_with(flag) && t.len() > flag.len()
    }
}

/// dig/nslookup/host: a name to resolve built from host data or encoded
/// data in front of a constant domain (`$(whoami).x.example`,
/// `$(base64 <<< ...).example`). A name that is all data (`dig
/// "$(hostname)"`) looks the host itself up.
fn dns_leaks(args: &[Word]) -> bool {
    args.iter().any(|w| {
        let t = w.known_text();
        let domain_suffix = matches!(w.parts.last(), Some(Part::Lit(s)) if s.contains('.'));
        !t.starts_with('@')
            && !t.starts_with('-')
            && w.has_unknown()
            && domain_suffix
            && (leaks(&w.taint) || w.taint.encoded)
    })
}

/// The word without its first `n` bytes of literal text (`--post-file=x`
/// gives `x`), keeping taint and unknown runs.
fn strip_word_prefix(w: &Word, n: usize) -> Option<Word> {
    let mut out = w.clone();
    let mut left = n;
    while left > 0 {
        match out.parts.first_mut() {
            Some(Part::Lit(s)) => {
                if s.len() > left {
                    if !s.is_char_boundary(left) {
                        return None;
                    }
                    s.replace_range(..left, "");
                    left = 0;
                } else {
                    left -= s.len();
                    out.parts.remove(0);
                }
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remotes() {
        assert!(is_remote("user@10.0.0.1:/tmp/"));
        assert!(is_remote("host::module"));
        assert!(is_remote("rsync://h/m"));
        assert!(!is_remote("./a:b"));
        assert!(!is_remote("/etc/passwd"));
        assert!(!is_remote("file.txt"));
    }

    #[test]
    fn data_in_urls() {
        let mut w = Word::lit("http://x.example/?d=");
        w.push_unknown();
        assert!(url_carries_data(&w));
        let mut all = Word::unknown();
        all.push_lit("/path");
        assert!(!url_carries_data(&all));
        assert!(!url_carries_data(&Word::lit("http://x.example/")));
        assert_eq!(
            strip_word_prefix(&Word::lit("--post-file=/etc/passwd"), 12).and_then(|w| w.constant()),
            Some("/etc/passwd".to_string())
        );
    }
}
