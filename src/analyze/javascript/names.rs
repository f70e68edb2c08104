//! Name tables for the JavaScript analyzer: Node built-ins and globals,
//! sensitive module and function names, sensitive filesystem paths and
//! cloud-metadata hosts.
//!
//! These tables only classify; whether a classification is dangerous is the
//! policy's call (rules match the facts and signals the walker emits).

/// Free identifiers that name a global; they resolve to a path of the same name.
pub const GLOBALS: &[&str] = &[
    "process",
    "require",
    "module",
    "exports",
    "eval",
    "Function",
    "setTimeout",
    "setInterval",
    "setImmediate",
    "fetch",
    "Buffer",
    "atob",
    "btoa",
    "String",
    "Array",
    "Object",
    "Reflect",
    "Proxy",
    "JSON",
    "Math",
    "WebSocket",
    "XMLHttpRequest",
    "EventSource",
    "Worker",
    "console",
    "unescape",
    "escape",
    "decodeURIComponent",
    "decodeURI",
    "encodeURIComponent",
    "encodeURI",
    "parseInt",
    "parseFloat",
    "Number",
    "Promise",
    "WebAssembly",
    "queueMicrotask",
    "navigator",
    "document",
    "location",
    "importScripts",
    "Deno",
    "Bun",
    "Symbol",
    "URL",
    "TextDecoder",
    "TextEncoder",
    "Uint8Array",
    "execScript",
    "structuredClone",
    "Date",
    "RegExp",
    "Boolean",
    "Error",
    "Map",
    "Set",
];

/// Free identifiers that are the global object itself.
pub const GLOBAL_OBJECTS: &[&str] = &["global", "globalThis", "window", "self", "frames"];

/// Calls that load a module, by resolved path.
pub const REQUIRE_LIKE: &[&str] = &[
    "require",
    "module.require",
    "process.mainModule.require",
    "require.main.require",
    "module.constructor._load",
    "module._load",
    "module.Module._load",
    "process.mainModule.constructor._load",
    "require.main.constructor._load",
];

/// Calls that run a string as JavaScript, with the index of the code argument
/// (`None` = the last argument, as for `Function`).
pub fn code_sink(path: &str) -> Option<Option<usize>> {
    match path {
        "eval"
        | "execScript"
        | "vm.runInThisContext"
        | "vm.runInNewContext"
        | "vm.runInContext"
        | "vm.Script"
        | "vm.compileFunction"
        | "vm.SourceTextModule"
        | "module._compile"
        | "module.constructor.prototype._compile"
        | "module.Module.prototype._compile"
        | "importScripts" => Some(Some(0)),
        "Function" | "AsyncFunction" | "GeneratorFunction" => Some(None),
        _ => None,
    }
}

/// `setTimeout`-like calls that run their first argument as code when it is a string.
pub fn is_timer(path: &str) -> bool {
    matches!(
        path,
        "setTimeout"
            | "setInterval"
            | "setImmediate"
            | "timers.setTimeout"
            | "timers.setInterval"
            | "timers.setImmediate"
    )
}

/// Node built-in modules whose names, when hidden, are worth a signal.
pub const SENSITIVE_MODULES: &[&str] = &[
    "child_process",
    "vm",
    "net",
    "dgram",
    "tls",
    "http",
    "https",
    "http2",
    "dns",
    "fs",
    "fs.promises",
    "os",
    "worker_threads",
    "cluster",
    "module",
    "v8",
    "inspector",
    "repl",
    "process",
    "ffi-napi",
    "ffi",
    "node-ffi",
    "koffi",
    "ref-napi",
    "zlib",
    "crypto",
];

/// Whether a resolved path is something programs hide on purpose: a
/// sensitive module or one of its members, a code sink, or process internals.
pub fn is_sensitive_path(path: &str) -> bool {
    if path.starts_with("process.env") || path.is_empty() {
        return false;
    }
    let root = path.split('.').next().unwrap_or(path);
    let root2 = path.splitn(3, '.').take(2).collect::<Vec<_>>().join(".");
    SENSITIVE_MODULES.contains(&root)
        || SENSITIVE_MODULES.contains(&root2.as_str())
        || code_sink(path).is_some()
        || is_timer(path)
        || REQUIRE_LIKE.contains(&path)
        || matches!(
            root,
            "require" | "eval" | "Function" | "fetch" | "WebSocket" | "XMLHttpRequest"
        )
        || path.starts_with("process.")
        || path == "process"
}

/// Module names normalised the way paths are written: `node:` removed,
/// built-in sub-modules joined with dots, drop-in `fs` replacements folded.
pub fn module_path(name: &str) -> String {
    let n = name.strip_prefix("node:").unwrap_or(name);
    match n {
        "fs-extra" | "graceful-fs" | "original-fs" => "fs".into(),
        "fs/promises" | "dns/promises" | "stream/promises" | "timers/promises"
        | "readline/promises" | "path/posix" | "path/win32" | "util/types" | "assert/strict"
        | "inspector/promises" => n.replace('/', "."),
        "child-process-promise" | "execa" | "shelljs" | "cross-spawn" => {
            // Thin wrappers over child_process keep their own name; the
            // rules list them next to child_process.
            n.into()
        }
        _ => n.into(),
    }
}

/// The import name recorded in facts: `node:` prefix removed.
pub fn import_name(name: &str) -> String {
    name.strip_prefix("node:").unwrap_or(name).to_string()
}

/// Shells and interpreters: spawning one of these runs arbitrary code.
pub fn is_shell(cmd: &str) -> bool {
    let b = basename(cmd).to_ascii_lowercase();
    let b = b.strip_suffix(".exe").unwrap_or(&b);
    matches!(
        b,
        "sh" | "bash"
            | "zsh"
            | "dash"
            | "ksh"
            | "csh"
            | "tcsh"
            | "ash"
            | "busybox"
            | "fish"
            | "cmd"
            | "powershell"
            | "pwsh"
    )
}

/// Interpreters that take code on the command line.
pub fn is_interpreter(cmd: &str) -> bool {
    let b = basename(cmd).to_ascii_lowercase();
    b.starts_with("python")
        || matches!(
            b.as_str(),
            "node" | "nodejs" | "perl" | "ruby" | "php" | "lua" | "deno" | "bun"
        )
}

/// Commands that only download.
pub fn is_download_tool(cmd: &str) -> bool {
    matches!(
        basename(cmd),
        "curl" | "wget" | "tftp" | "ftp" | "aria2c" | "fetch"
    )
}

pub fn basename(p: &str) -> &str {
    p.rsplit(['/', '\\']).next().unwrap_or(p)
}

/// Normalises a path for classification and for rule arguments: backslashes
/// to slashes, repeated slashes collapsed, relative paths anchored at `/`
/// (`.ssh/id_rsa` is checked as `/.ssh/id_rsa`), `~` kept.
pub fn normalize_path(p: &str) -> String {
    let mut s = p.trim().replace('\\', "/");
    if let Some(rest) = s.strip_prefix("file://") {
        s = rest.to_string();
    }
    while s.contains("//") {
        s = s.replace("//", "/");
    }
    while s.contains("/./") {
        s = s.replace("/./", "/");
    }
    if let Some(rest) = s.strip_prefix("./") {
        s = format!("/{rest}");
    }
    if !s.starts_with('/') && !s.starts_with('~') && !s.starts_with('*') {
        s = format!("/{s}");
    }
    s
}

/// Why a path is sensitive, or `None`.
pub fn sensitive_path(p: &str) -> Option<&'static str> {
    let s = normalize_path(p);
    let l = s.to_ascii_lowercase();
    let has = |needle: &str| l.contains(needle);
    let ends = |needle: &str| l.ends_with(needle);
    if has("docker.sock")
        || has("containerd.sock")
        || has("crio.sock")
        || has("/run/containerd")
        || has("/var/run/docker")
        || has("podman.sock")
        || has("kubelet")
    {
        return Some("container-socket");
    }
    if l.starts_with("/proc/") {
        if has("/environ") {
            return Some("process-environment");
        }
        if has("/root")
            || l.starts_with("/proc/1/")
            || has("/mem")
            || has("/exe")
            || has("sysrq")
            || has("kcore")
            || has("/cwd")
            || has("/fd/")
        {
            return Some("host-escape");
        }
    }
    if has("release_agent")
        || l.starts_with("/sys/fs/cgroup")
        || l.starts_with("/sys/kernel")
        || l.starts_with("/dev/mem")
        || l.starts_with("/dev/kmem")
        || l.starts_with("/dev/sd")
        || l.starts_with("/dev/nvme")
        || l.starts_with("/dev/vd")
        || l.starts_with("/dev/xvd")
        || l.starts_with("/var/lib/docker")
        || l.starts_with("/var/lib/kubelet")
    {
        return Some("host-escape");
    }
    if has("/.ssh/") || ends("/.ssh") {
        return Some(if has("authorized_keys") {
            "ssh-authorized-keys"
        } else {
            "ssh"
        });
    }
    if l.starts_with("/etc/shadow")
        || l.starts_with("/etc/gshadow")
        || l.starts_with("/etc/sudoers")
        || l.starts_with("/etc/master.passwd")
    {
        return Some("system-credentials");
    }
    if l.starts_with("/etc/passwd") || l.starts_with("/etc/group") {
        return Some("system-accounts");
    }
    if has("/.aws/")
        || ends("/.aws")
        || has("/.azure/")
        || has("/.config/gcloud")
        || has("/.kube/")
        || has("/.docker/config.json")
        || ends("/.npmrc")
        || ends("/.netrc")
        || ends("/.git-credentials")
        || ends("/.pgpass")
        || has("/.gnupg")
        || ends("_history")
        || has("/.password-store")
        || has("/.config/gh/")
        || ends("/.pypirc")
        || has("/.mozilla/")
        || has("/.config/google-chrome")
        || has("/var/run/secrets")
        || has("/run/secrets")
        || has("/.vault-token")
        || l.starts_with("/etc/ssl/private")
    {
        return Some("credentials");
    }
    if ends("/.bashrc")
        || ends("/.bash_profile")
        || ends("/.profile")
        || ends("/.zshrc")
        || ends("/.zprofile")
        || ends("/.bash_login")
        || ends("/.zshenv")
        || ends("/.bash_logout")
        || l.starts_with("/etc/profile")
        || l.starts_with("/etc/bash.bashrc")
        || l.starts_with("/etc/environment")
        || has("/.config/fish/")
    {
        return Some("shell-startup");
    }
    if l.starts_with("/etc/cron")
        || l.starts_with("/var/spool/cron")
        || l.starts_with("/etc/anacrontab")
        || has("/crontabs/")
    {
        return Some("cron");
    }
    if l.starts_with("/etc/systemd")
        || has("/.config/systemd")
        || l.starts_with("/lib/systemd")
        || l.starts_with("/usr/lib/systemd")
        || l.starts_with("/etc/init.d")
        || l.starts_with("/etc/rc.local")
        || has("/.config/autostart")
        || l.starts_with("/etc/init/")
        || l.starts_with("/etc/xdg/autostart")
        || l.starts_with("/library/launch")
        || has("/library/launchagents")
    {
        return Some("service");
    }
    if l.starts_with("/etc/ld.so.preload") || l.starts_with("/etc/ld.so.conf") {
        return Some("loader");
    }
    None
}

/// Whether a deletion target is `/`, the home directory or a top-level system directory.
pub fn is_root_like(p: &str) -> bool {
    let s = normalize_path(p);
    // An unknown prefix (`${dir}/`) says nothing about where the path is.
    if s.starts_with('*') {
        return false;
    }
    let t = s.trim_end_matches(['/', '*']);
    if t.is_empty() || t == "~" || t == "$HOME" || t == "/*" {
        return true;
    }
    const TOP: &[&str] = &[
        "/etc", "/usr", "/bin", "/sbin", "/lib", "/lib64", "/var", "/home", "/boot", "/root",
        "/opt", "/sys", "/dev", "/srv", "/app", "/proc",
    ];
    TOP.contains(&t)
}

/// Whether a string names or addresses a cloud instance-metadata service.
pub fn is_cloud_metadata(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    const NAMES: &[&str] = &[
        "169.254.169.254",
        "169.254.170.2",
        "100.100.100.200",
        "fd00:ec2::254",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data.ec2.internal",
        "metadata.azure.com",
        "169.254.169.253",
        "/latest/meta-data",
        "/computemetadata/v1",
        "/metadata/instance",
        "/latest/api/token",
    ];
    if NAMES.iter().any(|n| l.contains(n)) {
        return true;
    }
    let host = url_host(&l);
    matches!(
        parse_ipv4(host),
        Some(0xA9FE_A9FE) | Some(0xA9FE_AA02) | Some(0x6464_64C8)
    )
}

/// The host part of a URL or `host:port` string.
fn url_host(s: &str) -> &str {
    let rest = match s.find("://") {
        Some(i) => &s[i + 3..],
        None => s,
    };
    let rest = rest.rsplit('@').next().unwrap_or(rest);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let hostport = &rest[..end];
    if let Some(inner) = hostport.strip_prefix('[') {
        return inner.split(']').next().unwrap_or(inner);
    }
    hostport.split(':').next().unwrap_or(hostport)
}

/// `inet_aton`-style IPv4 parsing: dotted, decimal, hex and octal forms
/// (`2852039166`, `0xa9fea9fe`, `0251.0376.0251.0376`).
pub fn parse_ipv4(host: &str) -> Option<u32> {
    if host.is_empty() || host.len() > 64 {
        return None;
    }
    let parts: Vec<&str> = host.split('.').collect();
    if parts.len() > 4 {
        return None;
    }
    let mut nums = Vec::with_capacity(4);
    for p in &parts {
        let v = if let Some(h) = p.strip_prefix("0x") {
            u64::from_str_radix(h, 16).ok()?
        } else if p.len() > 1 && p.starts_with('0') {
            u64::from_str_radix(&p[1..], 8).ok()?
        } else {
            p.parse::<u64>().ok()?
        };
        nums.push(v);
    }
    let (last, head) = nums.split_last()?;
    let mut addr: u64 = 0;
    for (i, v) in head.iter().enumerate() {
        if *v > 255 {
            return None;
        }
        addr |= v << (24 - 8 * i);
    }
    let remaining_bits = 32 - 8 * head.len() as u32;
    if remaining_bits < 64 && *last >= (1u64 << remaining_bits) {
        return None;
    }
    addr |= last;
    u32::try_from(addr).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_paths_and_hosts() {
        assert_eq!(sensitive_path("~/.ssh/id_rsa"), Some("ssh"));
        assert_eq!(
            sensitive_path(".ssh/authorized_keys"),
            Some("ssh-authorized-keys")
        );
        assert_eq!(
            sensitive_path("/var/run/docker.sock"),
            Some("container-socket")
        );
        assert_eq!(
            sensitive_path("/proc/self/environ"),
            Some("process-environment")
        );
        assert_eq!(sensitive_path("/tmp/data.json"), None);
        assert_eq!(sensitive_path("/home/*/.bashrc"), Some("shell-startup"));
        assert!(is_root_like("/"));
        assert!(is_root_like("~"));
        assert!(is_root_like("/*"));
        assert!(!is_root_like("/tmp/build"));
        assert!(!is_root_like("*/"));
        assert!(!is_root_like("*"));
        assert!(is_cloud_metadata(
            "http://169.254.169.254/latest/meta-data/"
        ));
        assert!(is_cloud_metadata("http://2852039166/latest"));
        assert!(is_cloud_metadata("http://0xa9fea9fe/"));
        assert!(is_cloud_metadata("http://0251.0376.0251.0376/"));
        assert!(!is_cloud_metadata("https://example.com/api"));
        assert_eq!(module_path("node:fs/promises"), "fs.promises");
    }
}
