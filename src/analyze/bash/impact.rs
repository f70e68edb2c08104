//! Defence evasion and impact: what a command does to the host's logs,
//! security controls, clock, permissions, availability and data (issue 12
//! item 5; MITRE ATT&CK T1070, T1562, T1529, T1486, T1222).
//!
//! Pure functions from an unwrapped command (name and evaluated words) or
//! from the facts already emitted, to signal ids: `log-tampering`,
//! `security-disable`, `timestomp`, `weaken-permissions`,
//! `system-shutdown`, `encrypt-files`. They never walk the tree and never
//! decide a verdict; the pack's rules do.
//!
//! Scratch directories (the working directory, `/tmp`, `/var/tmp`,
//! `/dev/shm`) stay ordinary: touching, encrypting or changing modes there
//! is what scripts do. A target whose value is entirely unknown (`"$f"`) is
//! not reported here; one with a known system prefix (`/etc/$f`) is.

use super::commands::RunCtx;
use super::paths;
use super::servers;
use super::walk::Analyzer;
use super::words::{Part, Word};
use crate::analyze::{Fact, FactKind, Span};

/// Services whose stop, disable or mask blinds logging, auditing, mandatory
/// access control, a firewall or an endpoint agent.
const SECURITY_SERVICES: &[&str] = &[
    "auditd",
    "audit",
    "rsyslog",
    "syslog",
    "syslog-ng",
    "systemd-journald",
    "journald",
    "apparmor",
    "selinux",
    "firewalld",
    "ufw",
    "iptables",
    "ip6tables",
    "nftables",
    "netfilter-persistent",
    "fail2ban",
    "falcon-sensor",
    "falco",
    "osqueryd",
    "wazuh-agent",
    "ossec",
    "clamav-daemon",
    "clamav-freshclam",
    "clamd",
    "sysmon",
    "sysdig",
    "cbagentd",
    "sentinelone",
    "elastic-agent",
    "auditbeat",
    "filebeat",
    "td-agent",
    "fluentd",
    "fluent-bit",
    "splunkd",
    "splunkforwarder",
    "aide",
    "tripwire",
    "snort",
    "suricata",
    "zeek",
    "mdatp",
    "qualys-cloud-agent",
];

/// Kernel settings whose zero value removes an exploit mitigation.
const MITIGATION_SYSCTLS: &[&str] = &[
    "kernel.randomize_va_space",
    "kernel.yama.ptrace_scope",
    "kernel.kptr_restrict",
    "kernel.dmesg_restrict",
    "fs.protected_symlinks",
    "fs.protected_hardlinks",
    "fs.protected_regular",
    "fs.protected_fifos",
];

/// What a value is known to start with: the whole constant, or the literal
/// prefix before the first unknown run (`/etc/$f` gives `/etc/`). `None`
/// when nothing leading is known.
fn known_prefix(w: &Word) -> Option<String> {
    if let Some(c) = w.constant() {
        return Some(c);
    }
    match w.parts.first() {
        Some(Part::Lit(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// Whether a target lies outside the scratch directories, as far as known.
fn outside_scratch(w: &Word) -> bool {
    match known_prefix(w) {
        Some(p) if !p.is_empty() => {
            if w.constant().is_none() && !paths::is_pathlike(&p) {
                return false;
            }
            !paths::is_scratch(&p)
        }
        _ => false,
    }
}

fn is_log_path(path: &str) -> bool {
    let p = paths::normalise(path);
    let under = |d: &str| p == d || p.starts_with(&format!("{d}/"));
    under("/var/log")
        || under("/var/adm")
        || under("/var/account")
        || matches!(
            p.as_str(),
            "/var/run/utmp" | "/run/utmp" | "/var/run/wtmp" | "/etc/wtmp"
        )
        || paths::is_history_name(paths::basename(&p))
}

fn service_name(unit: &str) -> &str {
    let u = paths::basename(unit);
    u.strip_suffix(".service")
        .or_else(|| u.strip_suffix(".socket"))
        .unwrap_or(u)
}

fn is_security_service(unit: &str) -> bool {
    let s = service_name(unit).to_ascii_lowercase();
    SECURITY_SERVICES.contains(&s.as_str())
        || s.starts_with("falcon")
        || s.starts_with("sentinel")
        || s.starts_with("cbdaemon")
        || s.starts_with("osquery")
        || s.starts_with("wazuh")
}

/// Operands: words that are not options. `with_value` lists options whose
/// value is the next word; `--` ends options.
fn operands<'a>(args: &'a [Word], texts: &[String], with_value: &[&str]) -> Vec<&'a Word> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut opts = true;
    while i < args.len() {
        let t = &texts[i];
        if opts && t == "--" {
            opts = false;
        } else if opts && t.starts_with('-') && t.len() > 1 {
            if with_value.contains(&t.as_str()) {
                i += 1;
            }
        } else {
            out.push(&args[i]);
        }
        i += 1;
    }
    out
}

/// Signals for one command after unwrapping (`sudo`, `busybox`, ...).
pub(super) fn command_signals(name: &str, args: &[Word]) -> Vec<&'static str> {
    let texts: Vec<String> = args.iter().map(Word::known_text).collect();
    let mut out = Vec::new();
    let mut add = |s: &'static str| {
        if !out.contains(&s) {
            out.push(s);
        }
    };
    if log_tampering(name, args, &texts) {
        add("log-tampering");
    }
    if security_disable(name, &texts) {
        add("security-disable");
    }
    if timestomp(name, args, &texts) {
        add("timestomp");
    }
    if weaken_permissions(name, args, &texts) {
        add("weaken-permissions");
    }
    if shutdown(name, &texts) {
        add("system-shutdown");
    }
    if encrypt_files(name, args, &texts) {
        add("encrypt-files");
    }
    out
}

fn log_tampering(name: &str, args: &[Word], texts: &[String]) -> bool {
    let logs = |ws: &[&Word]| {
        ws.iter()
            .any(|w| known_prefix(w).is_some_and(|p| is_log_path(&p)))
    };
    match name {
        "journalctl" => texts.iter().any(|t| t.starts_with("--vacuum")),
        "rm" | "unlink" | "shred" | "srm" | "wipe" => logs(&operands(args, texts, &["-n", "-s"])),
        "truncate" => logs(&operands(
            args,
            texts,
            &["-s", "--size", "-r", "--reference"],
        )),
        "mv" => {
            let ops = operands(args, texts, &["-t", "--target-directory", "-S"]);
            ops.len() >= 2 && logs(&ops[..ops.len() - 1])
        }
        "find" => {
            let starts: Vec<&Word> = args
                .iter()
                .zip(texts)
                .take_while(|(_, t)| !(t.starts_with('-') || *t == "(" || *t == "!"))
                .map(|(w, _)| w)
                .collect();
            let destroys = texts.iter().enumerate().any(|(i, t)| {
                t == "-delete"
                    || (matches!(t.as_str(), "-exec" | "-execdir" | "-ok")
                        && texts.get(i + 1).is_some_and(|c| {
                            matches!(
                                paths::basename(c),
                                "rm" | "shred" | "truncate" | "unlink" | "srm"
                            )
                        }))
            });
            destroys && logs(&starts)
        }
        _ => false,
    }
}

fn security_disable(name: &str, texts: &[String]) -> bool {
    let has = |f: &str| texts.iter().any(|t| t == f);
    let ops: Vec<&String> = texts.iter().filter(|t| !t.starts_with('-')).collect();
    match name {
        "auditctl" => {
            has("-D")
                || texts.iter().any(|t| t == "-e0")
                || texts.windows(2).any(|w| w[0] == "-e" && w[1].trim() == "0")
        }
        "setenforce" => ops
            .first()
            .is_some_and(|o| o.as_str() == "0" || o.eq_ignore_ascii_case("permissive")),
        "aa-teardown" | "aa-disable" | "aa-complain" => true,
        "apparmor_parser" => has("-R") || has("--remove"),
        "systemctl" => {
            let verb = ops.first().map(|s| s.as_str()).unwrap_or("");
            matches!(verb, "stop" | "disable" | "mask" | "kill")
                && ops.iter().skip(1).any(|u| is_security_service(u))
        }
        "service" | "invoke-rc.d" | "rc-service" => {
            ops.first().is_some_and(|s| is_security_service(s))
                && ops
                    .get(1)
                    .is_some_and(|v| matches!(v.as_str(), "stop" | "disable" | "zap"))
        }
        "update-rc.d" => {
            ops.first().is_some_and(|s| is_security_service(s))
                && ops
                    .iter()
                    .any(|v| matches!(v.as_str(), "disable" | "remove"))
        }
        "chkconfig" => {
            ops.first().is_some_and(|s| is_security_service(s))
                && ops.iter().any(|v| v.as_str() == "off")
        }
        "rc-update" => {
            ops.first().is_some_and(|v| v.as_str() == "del")
                && ops.iter().skip(1).any(|s| is_security_service(s))
        }
        "pkill" | "killall" => ops.iter().any(|s| is_security_service(s)),
        "ufw" => {
            ops.first()
                .is_some_and(|v| matches!(v.as_str(), "disable" | "reset"))
                || ops.windows(2).any(|w| w[0] == "default" && w[1] == "allow")
        }
        "iptables" | "ip6tables" | "iptables-legacy" | "ip6tables-legacy" | "iptables-nft" => {
            texts.iter().any(|t| {
                matches!(t.as_str(), "--flush" | "--delete-chain")
                    || (t.starts_with('-')
                        && !t.starts_with("--")
                        && (t.contains('F') || t.contains('X')))
            }) || texts.windows(3).any(|w| {
                matches!(w[0].as_str(), "-P" | "--policy") && w[2].eq_ignore_ascii_case("accept")
            })
        }
        "nft" => {
            ops.windows(2).any(|w| w[0] == "flush" && w[1] == "ruleset")
                || ops.windows(2).any(|w| w[0] == "delete" && w[1] == "table")
        }
        "sysctl" => texts.iter().any(|t| weakens_mitigation(t)),
        // `/etc/init.d/auditd stop` reaches here under its basename.
        n if is_security_service(n) => ops
            .first()
            .is_some_and(|v| matches!(v.as_str(), "stop" | "disable")),
        _ => false,
    }
}

/// `kernel.randomize_va_space=0` (dots or slashes in the key).
fn weakens_mitigation(setting: &str) -> bool {
    let Some((k, v)) = setting.split_once('=') else {
        return false;
    };
    let key = k.trim().replace('/', ".");
    MITIGATION_SYSCTLS.contains(&key.as_str()) && v.trim() == "0"
}

/// Whether a write to this path (a `/proc/sys` file) removes a mitigation.
fn mitigation_file(path: &str) -> bool {
    path.strip_prefix("/proc/sys/")
        .is_some_and(|k| MITIGATION_SYSCTLS.contains(&k.replace('/', ".").as_str()))
}

fn timestomp(name: &str, args: &[Word], texts: &[String]) -> bool {
    match name {
        "touch" => {
            let mut stamped = false;
            let mut targets = Vec::new();
            let mut i = 0;
            let mut opts = true;
            while i < args.len() {
                let t = texts[i].as_str();
                if opts && t == "--" {
                    opts = false;
                } else if opts && t.starts_with("--") {
                    let (k, has_eq) = match t.split_once('=') {
                        Some((k, _)) => (k, true),
                        None => (t, false),
                    };
                    if matches!(k, "--date" | "--reference" | "--time") {
                        stamped |= k != "--time";
                        if !has_eq {
                            i += 1;
                        }
                    }
                } else if opts && t.starts_with('-') && t.len() > 1 {
                    // A cluster like `-acmr REF` or `-mt STAMP`: the first of
                    // d, r, t takes the rest of the cluster or the next word.
                    let body = &t[1..];
                    if let Some(pos) = body.find(['d', 'r', 't']) {
                        stamped = true;
                        if pos + 1 == body.len() {
                            i += 1;
                        }
                    }
                } else {
                    targets.push(&args[i]);
                }
                i += 1;
            }
            stamped && targets.iter().any(|w| outside_scratch(w))
        }
        "date" => {
            let set = texts
                .iter()
                .any(|t| t == "--set" || t.starts_with("--set=") || t.starts_with("-s"));
            // `date MMDDhhmm[[CC]YY][.ss]` sets the clock; `date -d 20200101`
            // only prints, so option values are not operands.
            let ops = operands(
                args,
                texts,
                &["-d", "--date", "-f", "--file", "-r", "--reference", "-I"],
            );
            set || ops.iter().any(|w| {
                let t = w.known_text();
                let digits = t.split('.').next().unwrap_or("").to_string();
                !t.starts_with('+')
                    && (8..=12).contains(&digits.len())
                    && digits.chars().all(|c| c.is_ascii_digit())
            })
        }
        "timedatectl" => texts.iter().any(|t| t == "set-time"),
        "hwclock" => texts.iter().any(|t| t == "--set"),
        "chronyc" => texts.iter().any(|t| t == "settime"),
        _ => false,
    }
}

/// An octal or symbolic mode that lets every user write.
fn world_writable(mode: &str) -> bool {
    if !mode.is_empty() && mode.chars().all(|c| c.is_digit(8)) {
        return mode
            .chars()
            .last()
            .and_then(|c| c.to_digit(8))
            .is_some_and(|d| d & 2 != 0);
    }
    mode.split(',').any(|clause| {
        let who_end = clause
            .find(|c: char| !matches!(c, 'u' | 'g' | 'o' | 'a'))
            .unwrap_or(clause.len());
        let who = &clause[..who_end];
        let rest = &clause[who_end..];
        let others = who.contains('o') || who.contains('a');
        others && (rest.starts_with('+') || rest.starts_with('=')) && rest.contains('w')
    })
}

fn weaken_permissions(name: &str, args: &[Word], texts: &[String]) -> bool {
    match name {
        "chattr" | "chflags" => {
            let ops: Vec<&Word> = args
                .iter()
                .zip(texts)
                .filter(|(_, t)| !t.starts_with(['-', '+', '=']))
                .map(|(w, _)| w)
                .collect();
            let ops = if name == "chflags" {
                ops.get(1..).map(<[&Word]>::to_vec).unwrap_or_default()
            } else {
                ops
            };
            ops.iter()
                .any(|w| known_prefix(w).is_some_and(|p| paths::is_system_path(&p)))
        }
        "chmod" => {
            let ops = operands(args, texts, &["--reference"]);
            let Some((mode, targets)) = ops.split_first() else {
                return false;
            };
            let mode_text = mode.known_text();
            let dash_mode = texts
                .iter()
                .any(|t| t.starts_with('-') && world_writable(t.trim_start_matches('-')));
            (world_writable(&mode_text) || dash_mode)
                && targets
                    .iter()
                    .chain(std::iter::once(mode).filter(|_| dash_mode))
                    .any(|w| known_prefix(w).is_some_and(|p| paths::is_system_path(&p)))
        }
        _ => false,
    }
}

fn shutdown(name: &str, texts: &[String]) -> bool {
    let ops: Vec<&str> = texts
        .iter()
        .filter(|t| !t.starts_with('-'))
        .map(String::as_str)
        .collect();
    let power_target = |t: &str| {
        matches!(
            t.trim_end_matches(".target"),
            "poweroff"
                | "reboot"
                | "halt"
                | "kexec"
                | "soft-reboot"
                | "rescue"
                | "emergency"
                | "runlevel0"
                | "runlevel1"
                | "runlevel6"
        )
    };
    match name {
        "shutdown" => !texts.iter().any(|t| t == "-c" || t == "--help"),
        "reboot" | "halt" | "poweroff" | "openrc-shutdown" => !texts.iter().any(|t| t == "--help"),
        "systemctl" | "loginctl" => ops.iter().any(|t| power_target(t)),
        "init" | "telinit" => ops
            .first()
            .is_some_and(|t| matches!(*t, "0" | "1" | "6" | "s" | "S")),
        _ => false,
    }
}

fn encrypt_files(name: &str, args: &[Word], texts: &[String]) -> bool {
    let outside = |ws: &[&Word]| ws.iter().any(|w| outside_scratch(w));
    match name {
        "gpg" | "gpg2" => {
            let encrypting = texts.iter().any(|t| {
                matches!(
                    t.as_str(),
                    "--symmetric" | "--encrypt" | "--encrypt-files" | "--sign-and-encrypt"
                ) || (t.starts_with('-')
                    && !t.starts_with("--")
                    && t.len() > 1
                    && t[1..].chars().all(|c| c.is_ascii_alphabetic())
                    && (t.contains('c') || t.contains('e')))
            });
            let decrypting = texts
                .iter()
                .any(|t| t == "-d" || t == "--decrypt" || t == "--decrypt-files");
            let with_value = [
                "-o",
                "--output",
                "-r",
                "--recipient",
                "-u",
                "--local-user",
                "-z",
                "--passphrase",
                "--passphrase-fd",
                "--passphrase-file",
                "--cipher-algo",
                "--digest-algo",
                "--compress-algo",
                "--homedir",
                "--default-key",
                "--trust-model",
                "--pinentry-mode",
                "--s2k-cipher-algo",
                "--s2k-digest-algo",
                "--s2k-mode",
                "--s2k-count",
            ];
            encrypting && !decrypting && outside(&operands(args, texts, &with_value))
        }
        "openssl" => {
            let sub = texts.first().map(String::as_str).unwrap_or("");
            let cipher = sub == "enc"
                || [
                    "aes", "des", "bf", "camellia", "chacha", "rc4", "rc2", "cast", "sm4", "aria",
                    "seed", "idea",
                ]
                .iter()
                .any(|c| sub.starts_with(c));
            let public_key = matches!(sub, "rsautl" | "pkeyutl" | "smime" | "cms")
                && texts.iter().any(|t| t == "-encrypt");
            let decrypting = texts.iter().any(|t| t == "-d" || t == "-decrypt");
            if !(cipher || public_key) || decrypting {
                return false;
            }
            let inputs: Vec<&Word> = texts
                .iter()
                .enumerate()
                .filter(|(_, t)| t.as_str() == "-in")
                .filter_map(|(i, _)| args.get(i + 1))
                .collect();
            outside(&inputs)
        }
        "7z" | "7za" | "7zr" => {
            let ops = operands(args, texts, &[]);
            let adding = ops
                .first()
                .is_some_and(|w| matches!(w.known_text().as_str(), "a" | "u"));
            let password = texts.iter().any(|t| t.starts_with("-p"));
            adding && password && ops.len() > 2 && outside(&ops[2..])
        }
        "zip" => {
            let password = texts.iter().any(|t| {
                t == "--encrypt"
                    || t == "--password"
                    || (t.starts_with('-')
                        && !t.starts_with("--")
                        && (t.contains('e') || t.contains('P')))
            });
            let ops = operands(
                args,
                texts,
                &["-P", "--password", "-b", "-t", "-tt", "-n", "-Z"],
            );
            password && ops.len() > 1 && outside(&ops[1..])
        }
        "ccencrypt" | "ccrypt" => {
            let decrypting = texts
                .iter()
                .any(|t| matches!(t.as_str(), "-d" | "--decrypt" | "-c" | "--cat"));
            !decrypting && outside(&operands(args, texts, &["-K", "--key", "-k", "--keyfile"]))
        }
        _ => false,
    }
}

/// Signals read off redirect facts, whichever command wrote them (`>`,
/// `tee`, `cp`, `ln -sf`, `dd of=`, `sed -i`): truncating or overwriting a
/// log or a history file, or writing a `/proc/sys` mitigation switch.
/// Appending (`>>`) to a log is what logging programs do and stays out.
pub(super) fn redirect_signals(facts: &[Fact]) -> Vec<(&'static str, Span)> {
    let mut out = Vec::new();
    for f in facts.iter().filter(|f| f.kind == FactKind::Redirect) {
        let op = f.args.first().map(String::as_str).unwrap_or("");
        if !op.contains('>') {
            continue;
        }
        let base = paths::basename(&f.name);
        if is_log_path(&f.name) && (!op.contains(">>") || paths::is_history_name(base)) {
            out.push(("log-tampering", f.span));
        }
        if mitigation_file(&f.name) {
            out.push(("security-disable", f.span));
        }
    }
    out
}

impl Analyzer<'_> {
    /// Signals read off one unwrapped command by name and arguments:
    /// evasion and impact (this module), network servers, credential access.
    pub(super) fn technique_signals(&mut self, name: &str, args: &[Word], rc: &RunCtx, data: bool) {
        for id in command_signals(name, args) {
            self.signal(id, rc.span);
        }
        let texts: Vec<String> = args.iter().map(Word::known_text).collect();
        if servers::starts_server(name, &texts) {
            self.signal("network-server", rc.span);
        }
        self.credential_access(name, args, rc, data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sigs(line: &[&str]) -> Vec<&'static str> {
        let args: Vec<Word> = line[1..].iter().map(|s| Word::lit(*s)).collect();
        command_signals(line[0], &args)
    }

    #[test]
    fn modes() {
        for m in ["777", "0666", "1777", "o+w", "a+rwx", "ugo=rwx", "u+x,o+w"] {
            assert!(world_writable(m), "{m}");
        }
        for m in ["755", "644", "+w", "u+w", "g+w", "o-w", "1755"] {
            assert!(!world_writable(m), "{m}");
        }
    }

    #[test]
    fn each_family() {
        assert_eq!(sigs(&["journalctl", "--vacuum-time=1s"]), ["log-tampering"]);
        assert_eq!(sigs(&["rm", "-f", "/var/log/auth.log"]), ["log-tampering"]);
        assert_eq!(
            sigs(&["truncate", "-s0", "/var/log/wtmp"]),
            ["log-tampering"]
        );
        assert!(sigs(&["rm", "-f", "/tmp/app.log"]).is_empty());
        assert_eq!(sigs(&["auditctl", "-e", "0"]), ["security-disable"]);
        assert!(sigs(&["auditctl", "-e", "1"]).is_empty());
        assert_eq!(
            sigs(&["systemctl", "stop", "auditd.service"]),
            ["security-disable"]
        );
        assert!(sigs(&["systemctl", "status", "auditd"]).is_empty());
        assert!(sigs(&["systemctl", "stop", "nginx"]).is_empty());
        assert_eq!(sigs(&["service", "rsyslog", "stop"]), ["security-disable"]);
        assert_eq!(sigs(&["iptables", "-t", "nat", "-F"]), ["security-disable"]);
        assert!(sigs(&["iptables", "-L"]).is_empty());
        assert_eq!(
            sigs(&["sysctl", "-w", "kernel.randomize_va_space=0"]),
            ["security-disable"]
        );
        assert_eq!(
            sigs(&["touch", "-acmr", "/bin/ls", "/usr/bin/x"]),
            ["timestomp"]
        );
        assert!(sigs(&["touch", "-r", "/bin/ls", "/tmp/x"]).is_empty());
        assert!(sigs(&["touch", "/etc/x"]).is_empty());
        assert_eq!(sigs(&["date", "010100001971"]), ["timestomp"]);
        assert!(sigs(&["date", "+%s"]).is_empty());
        assert!(sigs(&["date", "-d", "20200101", "+%s"]).is_empty());
        assert_eq!(sigs(&["ufw", "default", "allow"]), ["security-disable"]);
        assert_eq!(sigs(&["auditd", "stop"]), ["security-disable"]);
        assert_eq!(
            sigs(&["chmod", "-R", "a+w", "/etc"]),
            ["weaken-permissions"]
        );
        assert!(sigs(&["chmod", "-R", "a+w", "./build"]).is_empty());
        assert_eq!(
            sigs(&["chattr", "-i", "/etc/passwd"]),
            ["weaken-permissions"]
        );
        assert_eq!(sigs(&["shutdown", "-h", "now"]), ["system-shutdown"]);
        assert!(sigs(&["shutdown", "-c"]).is_empty());
        assert_eq!(
            sigs(&["systemctl", "isolate", "rescue.target"]),
            ["system-shutdown"]
        );
        assert_eq!(sigs(&["gpg", "-c", "/home/u/doc.pdf"]), ["encrypt-files"]);
        assert!(sigs(&["gpg", "--verify", "/home/u/x.sig"]).is_empty());
        assert!(sigs(&["gpg", "-c", "notes.txt"]).is_empty());
        assert_eq!(
            sigs(&[
                "openssl",
                "enc",
                "-aes-256-cbc",
                "-in",
                "/etc/hosts",
                "-out",
                "x"
            ]),
            ["encrypt-files"]
        );
        assert!(sigs(&["openssl", "dgst", "-sha256", "/etc/hosts"]).is_empty());
        assert_eq!(
            sigs(&["7z", "a", "-psecret", "x.7z", "/home/u"]),
            ["encrypt-files"]
        );
        assert_eq!(
            sigs(&["ccencrypt", "-K", "k", "/srv/db"]),
            ["encrypt-files"]
        );
    }
}
