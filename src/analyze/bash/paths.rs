//! Classification of constant strings the shell acts on: paths (normalised
//! lexically so `/etc//../etc/shadow` is `/etc/shadow`), hosts and URLs
//! (including numeric spellings of the metadata address), sizes. Pure
//! functions; the walker decides where to apply them.

/// The last path component: `/usr/bin/curl` is `curl`.
pub(super) fn basename(s: &str) -> &str {
    let t = s.trim_end_matches('/');
    match t.rfind('/') {
        Some(i) => &t[i + 1..],
        None => t,
    }
}

/// Lexical normalisation: `$HOME`-style prefixes are already `~`; collapses
/// `//`, `/./` and resolves `..` without touching the file system.
pub(super) fn normalise(path: &str) -> String {
    let (prefix, rest) = if let Some(r) = path.strip_prefix("~/") {
        ("~/", r)
    } else if path == "~" {
        return "~".to_string();
    } else if let Some(r) = path.strip_prefix('/') {
        ("/", r)
    } else {
        ("", path)
    };
    let mut parts: Vec<&str> = Vec::new();
    for seg in rest.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if prefix.is_empty() {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    let trailing = path.len() > 1 && path.ends_with('/') && !joined.is_empty();
    let mut out = format!("{prefix}{joined}");
    if trailing {
        out.push('/');
    }
    if out.is_empty() {
        out.push('.');
    }
    if out == "~/" {
        out = "~".to_string();
    }
    out
}

/// Whether a string is used as a path (absolute or home-relative).
pub(super) fn is_pathlike(s: &str) -> bool {
    s.starts_with('/') || s == "~" || s.starts_with("~/")
}

const TOP_DIRS: &[&str] = &[
    "bin", "boot", "dev", "etc", "home", "lib", "lib32", "lib64", "libx32", "media", "mnt", "opt",
    "proc", "root", "run", "sbin", "snap", "srv", "sys", "usr", "var",
];

const SECOND_LEVEL: &[&str] = &[
    "/usr/bin",
    "/usr/sbin",
    "/usr/lib",
    "/usr/lib64",
    "/usr/local",
    "/usr/share",
    "/usr/include",
    "/var/lib",
    "/var/log",
    "/var/spool",
    "/var/www",
    "/etc/ssh",
    "/etc/ssl",
    "/etc/default",
    "/etc/systemd",
    "/etc/init.d",
    "/etc/security",
    "/etc/pam.d",
];

/// Whether deleting `target` recursively wipes the system or the user's home:
/// `/`, `/*`, `~`, `~/*`, a top-level directory, a few system directories,
/// or a glob right under `/`.
pub(super) fn is_root_class(target: &str) -> bool {
    let mut t = target.trim().to_string();
    if t.is_empty() {
        return false;
    }
    for suffix in ["/*", "/.*", "/"] {
        while t.len() > 1 && t.ends_with(suffix) {
            t.truncate(t.len() - suffix.len());
        }
    }
    if t.is_empty() || t == "/*" {
        return true;
    }
    let n = normalise(&t);
    if n == "/" || n == "~" || n == "~/*" || n == "~/.*" {
        return true;
    }
    if let Some(rest) = n.strip_prefix('/') {
        if !rest.contains('/') {
            return TOP_DIRS.contains(&rest) || rest.contains(['*', '?', '[']);
        }
        if SECOND_LEVEL.contains(&n.as_str()) {
            return true;
        }
        if let Some(home) = rest.strip_prefix("home/") {
            return !home.contains('/');
        }
    }
    false
}

/// What makes a path sensitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sensitive {
    /// Credentials and secrets: shadow, ssh keys, cloud and cluster credentials.
    Credential,
    /// Privilege configuration (sudoers).
    Privilege,
    /// Container or host escape surfaces: docker socket, /proc/1, cgroup release_agent.
    Escape,
    /// Raw devices and kernel memory.
    Device,
}

/// Classifies a path as sensitive, if it is. Directory names match with
/// and without a trailing slash (`~/.aws` and `~/.aws/`), a relative path is
/// read as if the working directory were `/` or the home directory (`cd /;
/// cat etc/shadow`), and system files match under any prefix
/// (`/mnt/etc/shadow`, `/usr/local/etc/sudoers`).
pub(super) fn sensitive(path: &str) -> Option<Sensitive> {
    let p = normalise(path);
    let mut lower = p.to_ascii_lowercase();
    if !lower.starts_with('/') && !lower.starts_with('~') {
        lower.insert(0, '/');
    }
    // Component patterns below are written `/name/`: one trailing slash
    // makes `~/.aws` and `~/.aws/` the same path.
    let slashed = format!("{}/", lower.trim_end_matches('/'));
    let lower = slashed.trim_end_matches('/');
    let credential = [
        "/etc/shadow",
        "/etc/gshadow",
        "/etc/master.passwd",
        "/etc/security/opasswd",
        "/.ssh/",
        "authorized_keys",
        "id_rsa",
        "id_dsa",
        "id_ecdsa",
        "id_ed25519",
        "/.aws/",
        "/.kube/",
        "/.docker/config.json",
        "/.netrc/",
        "/.git-credentials/",
        "/.gnupg/",
        "/.config/gcloud/",
        "/.azure/",
        "/.pgpass/",
        "/.history/",
        "/var/run/secrets/",
        "/run/secrets/",
        "/etc/kubernetes/admin.conf",
        "/proc/self/environ",
    ];
    if credential.iter().any(|c| slashed.contains(c))
        || is_history_name(basename(lower))
        || (lower.contains("/etc/ssh/ssh_host_") && lower.ends_with("_key"))
        || (lower.starts_with("/proc/") && lower.ends_with("/environ"))
    {
        return Some(Sensitive::Credential);
    }
    if slashed.contains("/etc/sudoers")
        || slashed.contains("/sudoers.d/")
        || basename(lower) == "sudoers"
    {
        return Some(Sensitive::Privilege);
    }
    let escape = lower.contains("docker.sock")
        || lower.contains("containerd.sock")
        || lower.contains("crio.sock")
        || lower.contains("release_agent")
        || lower.contains("notify_on_release")
        || lower.starts_with("/proc/1/")
        || lower == "/proc/1"
        || lower.starts_with("/proc/sys/kernel/core_pattern")
        || lower.starts_with("/proc/sysrq-trigger")
        || lower.starts_with("/sys/kernel/uevent_helper")
        || lower == "/proc/kcore"
        || (lower.starts_with("/proc/")
            && (lower.ends_with("/root") || lower.contains("/root/") || lower.ends_with("/mem")));
    if escape {
        return Some(Sensitive::Escape);
    }
    if let Some(dev) = lower.strip_prefix("/dev/") {
        let raw = [
            "sd", "hd", "vd", "xvd", "nvme", "mmcblk", "dm-", "disk/", "mapper/", "loop",
        ];
        if raw.iter().any(|r| dev.starts_with(r)) || matches!(dev, "mem" | "kmem" | "port") {
            return Some(Sensitive::Device);
        }
    }
    // `/etc/sh*w` is a read of /etc/shadow however it is spelled.
    glob_target(&p).and_then(sensitive)
}

/// A shell or REPL history file: `.bash_history`, `.zsh_history`,
/// `.python_history`, `.history`.
pub(super) fn is_history_name(base: &str) -> bool {
    base == ".history" || (base.starts_with('.') && base.ends_with("_history"))
}

/// File and directory names that hold credentials wherever they are: an
/// argument naming one (`ls .aws`, `ssh -i id_rsa`, `find / -name .netrc`)
/// is credential access even when no path is spelled out.
const CREDENTIAL_NAMES: &[&str] = &[
    "authorized_keys",
    ".ssh",
    ".aws",
    ".gnupg",
    ".kube",
    ".azure",
    ".netrc",
    ".pgpass",
    ".git-credentials",
    ".history",
    "credentials.db",
    "access_tokens.db",
    "accesstokens.json",
    "msal_token_cache.json",
];

/// Names too common as words (`grep shadow style.css`) to count as bare
/// arguments, but a credential search when given to `find -name`/`locate`.
const SEARCH_ONLY_NAMES: &[&str] = &[
    "shadow",
    "gshadow",
    "master.passwd",
    "sudoers",
    "credentials",
    "wallet.dat",
    "keychain-db",
];

/// Whether an argument names a credential file or directory: `id_rsa`,
/// `*id_rsa*`, `.aws/`, `'.bash_history'`, `.*\.netrc$`, or a relative
/// path with such a component (`.aws/credentials`). `search` also accepts
/// the names in [`SEARCH_ONLY_NAMES`] (for find/locate patterns).
pub(super) fn names_credential(arg: &str, search: bool) -> bool {
    if arg.len() > 256 {
        return false;
    }
    let lower = arg.to_ascii_lowercase().replace('\\', "");
    lower.split('/').any(|c| {
        let c = c
            .trim_start_matches(['*', '?', '^', '(', '"', '\''])
            .trim_end_matches(['*', '?', '$', ')', '"', '\'']);
        if c.is_empty() {
            return false;
        }
        let key = ["id_rsa", "id_dsa", "id_ecdsa", "id_ed25519"]
            .iter()
            .any(|k| c.contains(k));
        let dotted = CREDENTIAL_NAMES
            .iter()
            .any(|n| c == *n || (n.starts_with('.') && c.ends_with(n) && c.len() > n.len()));
        key || dotted || c.ends_with("_history") || (search && SEARCH_ONLY_NAMES.contains(&c))
    })
}

/// Where a script may do as it likes: a relative path (the working
/// directory), `/tmp`, `/var/tmp` and `/dev/shm`.
pub(super) fn is_scratch(path: &str) -> bool {
    let p = normalise(path);
    if !p.starts_with('/') && !p.starts_with('~') {
        return !p.starts_with("..");
    }
    ["/tmp", "/var/tmp", "/dev/shm"]
        .iter()
        .any(|d| p == *d || p.strip_prefix(d).is_some_and(|r| r.starts_with('/')))
}

/// Whether `path` is part of the system rather than a scratch or project
/// directory: `/`, the home directory itself, or anything under the
/// top-level system directories.
pub(super) fn is_system_path(path: &str) -> bool {
    if is_scratch(path) {
        return false;
    }
    let p = normalise(path);
    if is_root_class(&p) {
        return true;
    }
    let top = p
        .strip_prefix('/')
        .and_then(|r| r.split('/').next())
        .unwrap_or("");
    matches!(
        top,
        "bin"
            | "boot"
            | "dev"
            | "etc"
            | "lib"
            | "lib32"
            | "lib64"
            | "libx32"
            | "opt"
            | "root"
            | "sbin"
            | "srv"
            | "sys"
            | "proc"
            | "usr"
            | "var"
            | "home"
    )
}

/// Paths a glob in a script could be aiming at: `/etc/sh*w`, `/e?c/shadow`
/// and `~/.ss[h]/id_*` are reads of these.
const SENSITIVE_TARGETS: &[&str] = &[
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/sudoers",
    "/etc/master.passwd",
    "/root/.ssh/id_rsa",
    "/root/.bash_history",
    "~/.ssh/id_rsa",
    "~/.ssh/id_ed25519",
    "~/.ssh/authorized_keys",
    "~/.aws/credentials",
    "~/.netrc",
    "~/.git-credentials",
    "~/.bash_history",
    "~/.kube/config",
    "/home/user/.ssh/id_rsa",
    "/home/user/.aws/credentials",
    "/var/run/docker.sock",
    "/proc/self/environ",
];

/// For a path with glob characters, the sensitive path it can match.
pub(super) fn glob_target(pattern: &str) -> Option<&'static str> {
    if !pattern.contains(['*', '?', '[']) || pattern.len() > 256 {
        return None;
    }
    let p = normalise(pattern);
    // `/etc/*` lists a directory; `/etc/sh*w` spells one file. A last
    // component with at least two literal characters is aiming at a name.
    let last = basename(&p);
    let mut literal = 0;
    let mut in_class = false;
    for c in last.chars() {
        match c {
            '[' => in_class = true,
            ']' => in_class = false,
            '*' | '?' => {}
            _ if !in_class => literal += 1,
            _ => {}
        }
    }
    if literal < 2 {
        return None;
    }
    SENSITIVE_TARGETS
        .iter()
        .find(|t| glob_match(p.as_bytes(), t.as_bytes(), 0))
        .copied()
}

/// Shell pathname matching of `pat` against `text`: `*` and `?` do not
/// cross `/`, `[...]` is a class with ranges and `!`/`^` negation. The
/// recursion is bounded by the pattern's stars, and both inputs are short.
fn glob_match(pat: &[u8], text: &[u8], depth: usize) -> bool {
    if depth > 32 {
        return false;
    }
    let (mut p, mut t) = (0, 0);
    while p < pat.len() {
        match pat[p] {
            b'*' => {
                while p < pat.len() && pat[p] == b'*' {
                    p += 1;
                }
                let mut k = t;
                loop {
                    if glob_match(&pat[p..], &text[k..], depth + 1) {
                        return true;
                    }
                    if k >= text.len() || text[k] == b'/' {
                        return false;
                    }
                    k += 1;
                }
            }
            b'?' => {
                if t >= text.len() || text[t] == b'/' {
                    return false;
                }
                p += 1;
                t += 1;
            }
            b'[' => {
                // A `]` right after `[` belongs to the class, as in the shell.
                let close = pat[p + 1..].iter().skip(1).position(|&c| c == b']');
                let ok = match close {
                    Some(close) => {
                        let hit =
                            t < text.len() && class_matches(&pat[p + 1..p + 2 + close], text[t]);
                        p += 3 + close;
                        hit
                    }
                    None => {
                        p += 1;
                        t < text.len() && text[t] == b'['
                    }
                };
                if !ok {
                    return false;
                }
                t += 1;
            }
            c => {
                if t >= text.len() || text[t] != c {
                    return false;
                }
                p += 1;
                t += 1;
            }
        }
    }
    t == text.len()
}

fn class_matches(class: &[u8], c: u8) -> bool {
    let (negate, body) = match class.first() {
        Some(b'!') | Some(b'^') => (true, &class[1..]),
        _ => (false, class),
    };
    let mut hit = false;
    let mut i = 0;
    while i < body.len() {
        if i + 2 < body.len() && body[i + 1] == b'-' {
            hit |= body[i] <= c && c <= body[i + 2];
            i += 3;
        } else {
            hit |= body[i] == c;
            i += 1;
        }
    }
    hit != negate
}

/// Whether writing to `path` changes the system, credentials or what runs at
/// login or boot (rc files, cron, systemd units, authorized_keys).
pub(super) fn is_protected_write(path: &str) -> bool {
    let p = normalise(path);
    let system = [
        "/etc/",
        "/boot/",
        "/usr/",
        "/bin/",
        "/sbin/",
        "/lib/",
        "/lib64/",
        "/var/spool/cron",
        "/root/",
        "/sys/",
        "/proc/",
    ];
    if system.iter().any(|d| p.starts_with(d)) {
        return true;
    }
    let startup = [
        ".bashrc",
        ".bash_profile",
        ".bash_login",
        ".bash_logout",
        ".profile",
        ".zshrc",
        ".zprofile",
        ".zshenv",
        ".zlogin",
        ".zlogout",
        ".shrc",
        ".kshrc",
        ".mkshrc",
        ".xinitrc",
        ".xprofile",
        ".bash_history",
    ];
    let base = basename(&p);
    if (p.starts_with("~/") || p.starts_with("/home/")) && startup.contains(&base) {
        return true;
    }
    p.contains("/.ssh/")
        || p.contains("/.config/autostart")
        || p.contains("/.config/systemd")
        || p.ends_with("authorized_keys")
}

/// The host part of a URL-ish string (`http://h:80/x` gives `h`, `h:80` gives `h`).
pub(super) fn host_of(s: &str) -> &str {
    let rest = match s.find("://") {
        Some(i) => &s[i + 3..],
        None => s,
    };
    let rest = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let hostport = &rest[..end];
    if let Some(inner) = hostport.strip_prefix('[') {
        return inner.split(']').next().unwrap_or(inner);
    }
    match hostport.rfind(':') {
        Some(i) if hostport[i + 1..].chars().all(|c| c.is_ascii_digit()) => &hostport[..i],
        _ => hostport,
    }
}

/// inet_aton-style IPv4 parsing: `2852039166`, `0xa9fea9fe`, `0251.0376.0251.0376`,
/// `169.254.43518` all name 169.254.169.254.
pub(super) fn parse_ipv4_loose(host: &str) -> Option<u32> {
    if host.is_empty() || host.len() > 64 {
        return None;
    }
    let parts: Vec<&str> = host.split('.').collect();
    if parts.len() > 4 || parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    let nums: Option<Vec<u64>> = parts
        .iter()
        .map(|p| {
            let lp = p.to_ascii_lowercase();
            if let Some(h) = lp.strip_prefix("0x") {
                u64::from_str_radix(h, 16).ok()
            } else if lp.len() > 1 && lp.starts_with('0') {
                u64::from_str_radix(&lp[1..], 8).ok()
            } else {
                lp.parse::<u64>().ok()
            }
        })
        .collect();
    let nums = nums?;
    let (last, head) = nums.split_last()?;
    if head.iter().any(|n| *n > 255) {
        return None;
    }
    let shift = 8 * (4 - head.len() as u32);
    if shift < 32 && *last >= (1u64 << shift) {
        return None;
    }
    let mut v: u64 = 0;
    for (i, n) in head.iter().enumerate() {
        v |= n << (24 - 8 * i as u64);
    }
    u32::try_from(v | last).ok()
}

/// Whether the string names a cloud instance metadata service.
pub(super) fn is_cloud_metadata(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    let names = [
        "169.254.169.254",
        "metadata.google.internal",
        "fd00:ec2::254",
        "169.254.170.2",
        "100.100.100.200",
        "metadata.azure.com",
        "metadata.tencentyun.com",
        "instance-data",
    ];
    if names.iter().any(|n| lower.contains(n)) {
        return true;
    }
    let host = host_of(&lower);
    let host = host.strip_prefix("::ffff:").unwrap_or(host);
    if host == "a9fe:a9fe" {
        return true;
    }
    matches!(
        parse_ipv4_loose(host),
        Some(0xa9fe_a9fe) | Some(0xa9fe_aa02) | Some(0x6464_64c8)
    )
}

/// Whether the string is a URL (`scheme://...`).
pub(super) fn is_url(s: &str) -> bool {
    match s.find("://") {
        Some(i) if i > 0 => s[..i]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.'),
        _ => false,
    }
}

/// Whether the string is a dotted IPv4 address, optionally with a port.
pub(super) fn is_ipv4(s: &str) -> bool {
    let host = s.split(':').next().unwrap_or(s);
    let parts: Vec<&str> = host.split('.').collect();
    parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.chars().all(|c| c.is_ascii_digit()))
}

/// `10G`, `512M`, `1GiB`, `100000` (bytes) as a byte count.
pub(super) fn parse_size(s: &str) -> Option<u64> {
    let t = s.trim();
    let digits: String = t.chars().take_while(|c| c.is_ascii_digit()).collect();
    let n: u64 = digits.parse().ok()?;
    let unit = t[digits.len()..].to_ascii_lowercase();
    let mult: u64 = match unit.trim_end_matches("ib").trim_end_matches('b') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        "p" => 1 << 50,
        _ => return None,
    };
    n.checked_mul(mult).or(Some(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert_eq!(basename("/usr/bin/curl"), "curl");
        assert_eq!(normalise("/etc//../etc/./shadow"), "/etc/shadow");
        assert!(is_root_class("/"));
        assert!(is_root_class("/*"));
        assert!(is_root_class("~"));
        assert!(is_root_class("~/"));
        assert!(is_root_class("/etc"));
        assert!(is_root_class("/home/"));
        assert!(!is_root_class("/tmp/build"));
        assert!(!is_root_class("./dist"));
        assert!(!is_root_class("/var/lib/apt/lists/*"));
        assert_eq!(sensitive("/etc/shadow"), Some(Sensitive::Credential));
        assert_eq!(sensitive("~/.ssh/id_rsa"), Some(Sensitive::Credential));
        assert_eq!(sensitive("~/.aws/credentials"), Some(Sensitive::Credential));
        assert_eq!(sensitive("/var/run/docker.sock"), Some(Sensitive::Escape));
        assert_eq!(sensitive("/proc/1/root"), Some(Sensitive::Escape));
        assert_eq!(sensitive("/dev/sda"), Some(Sensitive::Device));
        assert_eq!(sensitive("/tmp/x"), None);
        assert_eq!(sensitive("/dev/null"), None);
        assert!(is_cloud_metadata(
            "http://169.254.169.254/latest/meta-data/"
        ));
        assert!(is_cloud_metadata("http://2852039166/latest"));
        assert!(is_cloud_metadata("http://0xa9fea9fe/"));
        assert!(is_cloud_metadata("http://0251.0376.0251.0376/"));
        assert!(is_cloud_metadata("http://[::ffff:a9fe:a9fe]/"));
        assert!(!is_cloud_metadata("http://example.com/"));
        assert_eq!(parse_size("10G"), Some(10 << 30));
    }

    #[test]
    fn credentials_in_every_spelling() {
        for p in [
            "~/.aws",
            "~/.aws/",
            "~/.ssh",
            "/home/u/.gnupg",
            "~/.netrc",
            "~/.history",
            "/root/.zsh_history",
            "etc/shadow",
            "../../etc/shadow",
            "/mnt/etc/shadow",
            ".aws/credentials",
        ] {
            assert_eq!(sensitive(p), Some(Sensitive::Credential), "{p}");
        }
        for p in [
            "/etc/sudoers",
            "/usr/local/etc/sudoers",
            "/mnt/etc/sudoers.d/x",
        ] {
            assert_eq!(sensitive(p), Some(Sensitive::Privilege), "{p}");
        }
        for p in ["~/.config", "~/.awsome", "/tmp/history.txt", "~/.sshrc.bak"] {
            assert_eq!(sensitive(p), None, "{p}");
        }
        for a in [
            "id_rsa",
            "*id_rsa*",
            ".netrc",
            ".gnupg",
            ".aws/",
            "*_history",
            ".history",
            ".*\\.netrc$",
        ] {
            assert!(names_credential(a, false), "{a}");
        }
        for a in [
            "rsa", "-name", "*.py", "history", "config", "shadow", ".sshrc",
        ] {
            assert!(!names_credential(a, false), "{a}");
        }
        assert!(names_credential("shadow", true));
    }

    #[test]
    fn scratch_and_system() {
        for p in ["x", "./a/b", "/tmp/x", "/var/tmp", "/dev/shm/y"] {
            assert!(is_scratch(p), "{p}");
            assert!(!is_system_path(p), "{p}");
        }
        for p in [
            "/etc/passwd",
            "/usr/bin",
            "/",
            "~",
            "/var/log/syslog",
            "/tmpx",
        ] {
            assert!(!is_scratch(p), "{p}");
        }
        for p in ["/etc", "/usr/bin/ls", "/", "~", "/var/www"] {
            assert!(is_system_path(p), "{p}");
        }
        assert!(!is_system_path("~/project"));
    }

    #[test]
    fn globs_aiming_at_secrets() {
        assert_eq!(glob_target("/etc/sh*w"), Some("/etc/shadow"));
        assert_eq!(glob_target("/e?c/s[g-i]adow"), Some("/etc/shadow"));
        assert_eq!(glob_target("~/.ss[h]/id_*"), Some("~/.ssh/id_rsa"));
        assert_eq!(glob_target("/etc/*"), None);
        assert_eq!(glob_target("/etc/s*"), None);
        assert_eq!(glob_target("/tmp/*.log"), None);
        assert_eq!(glob_target("/etc/shadow"), None);
    }
}
