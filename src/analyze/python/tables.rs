//! Static knowledge the Python analyzer needs: builtin names, what star
//! imports of dangerous modules bring in, which calls decode data, which run
//! code or shell commands, and which paths and hosts are sensitive.
//!
//! This module only classifies names and strings; it never decides a verdict
//! (rules do that) and holds no state.

/// Python 3 builtins that resolve to their bare name when not shadowed.
pub const BUILTINS: &[&str] = &[
    "abs",
    "aiter",
    "all",
    "anext",
    "any",
    "ascii",
    "bin",
    "bool",
    "breakpoint",
    "bytearray",
    "bytes",
    "callable",
    "chr",
    "classmethod",
    "compile",
    "complex",
    "copyright",
    "credits",
    "delattr",
    "dict",
    "dir",
    "divmod",
    "enumerate",
    "eval",
    "exec",
    "execfile",
    "exit",
    "filter",
    "float",
    "format",
    "frozenset",
    "getattr",
    "globals",
    "hasattr",
    "hash",
    "help",
    "hex",
    "id",
    "input",
    "int",
    "isinstance",
    "issubclass",
    "iter",
    "len",
    "license",
    "list",
    "locals",
    "map",
    "max",
    "memoryview",
    "min",
    "next",
    "object",
    "oct",
    "open",
    "ord",
    "pow",
    "print",
    "property",
    "quit",
    "range",
    "repr",
    "reversed",
    "round",
    "set",
    "setattr",
    "slice",
    "sorted",
    "staticmethod",
    "str",
    "sum",
    "super",
    "tuple",
    "type",
    "vars",
    "zip",
    "__import__",
    "__build_class__",
    "reload",
    "raw_input",
    "unichr",
    "file",
];

pub fn is_builtin(name: &str) -> bool {
    BUILTINS.contains(&name)
}

/// Modules a snippet may use without its `import` line: gateway submissions
/// are often fragments cut out of a larger file, and `os.system(...)` means
/// the `os` module whether or not the import was pasted along. Only names
/// that are almost never anything else; a name the snippet binds itself
/// (a variable or parameter called `os`) shadows this table.
pub fn implicit_module(name: &str) -> bool {
    matches!(
        name,
        "os" | "sys"
            | "subprocess"
            | "base64"
            | "binascii"
            | "codecs"
            | "zlib"
            | "gzip"
            | "bz2"
            | "lzma"
            | "marshal"
            | "pickle"
            | "socket"
            | "pty"
            | "requests"
            | "urllib"
            | "urllib2"
            | "urllib3"
            | "httpx"
            | "shutil"
            | "ctypes"
            | "builtins"
            | "importlib"
            | "platform"
            | "getpass"
            | "commands"
            | "ftplib"
            | "smtplib"
            | "telnetlib"
            | "paramiko"
            | "dns"
            | "aiodns"
            | "browser_cookie3"
            | "win32crypt"
    )
}

/// Bare names that, unbound in a fragment, can only mean one well-known
/// callable (`Popen(...)` after a `from subprocess import Popen` that was
/// not pasted along).
pub fn implicit_member(name: &str) -> Option<&'static str> {
    Some(match name {
        "Popen" => "subprocess.Popen",
        "check_output" => "subprocess.check_output",
        "check_call" => "subprocess.check_call",
        "urlopen" => "urllib.request.urlopen",
        "urlretrieve" => "urllib.request.urlretrieve",
        "b64decode" => "base64.b64decode",
        _ => return None,
    })
}

/// Names exported by dangerous modules, used to resolve bare names after
/// `from m import *` when several modules were star-imported.
pub fn star_exports(module: &str) -> &'static [&'static str] {
    match module {
        "os" => &[
            "system",
            "popen",
            "execl",
            "execle",
            "execlp",
            "execlpe",
            "execv",
            "execve",
            "execvp",
            "execvpe",
            "spawnl",
            "spawnle",
            "spawnlp",
            "spawnlpe",
            "spawnv",
            "spawnve",
            "spawnvp",
            "spawnvpe",
            "posix_spawn",
            "posix_spawnp",
            "fork",
            "forkpty",
            "kill",
            "killpg",
            "setuid",
            "setgid",
            "seteuid",
            "setegid",
            "setreuid",
            "setregid",
            "setresuid",
            "setresgid",
            "setgroups",
            "dup",
            "dup2",
            "environ",
            "getenv",
            "putenv",
            "chmod",
            "fchmod",
            "lchmod",
            "chown",
            "lchown",
            "remove",
            "unlink",
            "rmdir",
            "removedirs",
            "rename",
            "replace",
            "symlink",
            "link",
            "chroot",
            "open",
            "write",
            "listdir",
            "walk",
            "scandir",
            "getcwd",
            "chdir",
            "mkdir",
            "makedirs",
            "path",
            "_exit",
            "urandom",
            "getuid",
            "geteuid",
        ],
        "subprocess" => &[
            "Popen",
            "call",
            "run",
            "check_call",
            "check_output",
            "getoutput",
            "getstatusoutput",
            "PIPE",
            "STDOUT",
            "DEVNULL",
        ],
        "socket" => &[
            "socket",
            "create_connection",
            "create_server",
            "fromfd",
            "socketpair",
            "AF_INET",
            "AF_INET6",
            "AF_UNIX",
            "SOCK_STREAM",
            "SOCK_DGRAM",
            "SOCK_RAW",
            "gethostbyname",
            "getaddrinfo",
        ],
        "pty" => &["spawn", "fork", "openpty"],
        "ctypes" => &[
            "CDLL",
            "cdll",
            "PyDLL",
            "pydll",
            "CFUNCTYPE",
            "memmove",
            "cast",
            "c_char_p",
            "pythonapi",
            "util",
        ],
        "shutil" => &[
            "rmtree", "copy", "copy2", "copyfile", "copytree", "move", "chown", "which",
        ],
        "base64" => &[
            "b64decode",
            "b32decode",
            "b16decode",
            "a85decode",
            "b85decode",
            "urlsafe_b64decode",
            "decodebytes",
        ],
        "codecs" => &["decode", "encode", "open"],
        "binascii" => &["unhexlify", "a2b_hex", "a2b_base64"],
        "zlib" => &["decompress"],
        "marshal" => &["loads", "load"],
        "pickle" => &["loads", "load"],
        _ => &[],
    }
}

/// Calls that decode or decompress data; seeing one feed code execution is
/// the `decode-exec` technique even when the payload cannot be recovered.
pub fn is_decoder(qual: &str) -> bool {
    matches!(
        qual,
        "base64.b64decode"
            | "base64.b32decode"
            | "base64.b32hexdecode"
            | "base64.b16decode"
            | "base64.a85decode"
            | "base64.b85decode"
            | "base64.urlsafe_b64decode"
            | "base64.standard_b64decode"
            | "base64.decodebytes"
            | "base64.decodestring"
            | "codecs.decode"
            | "codecs.encode"
            | "binascii.unhexlify"
            | "binascii.a2b_hex"
            | "binascii.a2b_base64"
            | "binascii.a2b_uu"
            | "zlib.decompress"
            | "gzip.decompress"
            | "bz2.decompress"
            | "lzma.decompress"
            | "marshal.loads"
            | "pickle.loads"
            | "bytes.fromhex"
            | "bytearray.fromhex"
    ) || qual.ends_with(".decompress")
}

/// Calls that run their first argument as Python code.
pub fn is_code_sink(qual: &str) -> bool {
    matches!(qual, "exec" | "eval" | "compile" | "execfile")
}

/// Calls whose first argument is always a shell command line.
pub fn is_shell_sink(qual: &str) -> bool {
    matches!(
        qual,
        "os.system"
            | "os.popen"
            | "os.popen2"
            | "os.popen3"
            | "os.popen4"
            | "commands.getoutput"
            | "commands.getstatusoutput"
            | "subprocess.getoutput"
            | "subprocess.getstatusoutput"
            | "platform.popen"
            | "asyncio.create_subprocess_shell"
            | "popen2.popen2"
            | "popen2.popen3"
    )
}

/// `subprocess` style calls: the first argument is an argv list, or a shell
/// command line with `shell=True`.
pub fn is_subprocess(qual: &str) -> bool {
    matches!(
        qual,
        "subprocess.Popen"
            | "subprocess.call"
            | "subprocess.run"
            | "subprocess.check_call"
            | "subprocess.check_output"
            | "asyncio.create_subprocess_exec"
    )
}

/// `os.exec*` / `os.spawn*` / `os.posix_spawn*`: how many leading arguments
/// to skip to reach the program path, and whether the argv follows as a list
/// (`v` forms) or as separate arguments (`l` forms).
pub fn exec_family(qual: &str) -> Option<(usize, bool)> {
    let name = qual.strip_prefix("os.")?;
    if let Some(rest) = name.strip_prefix("exec") {
        return Some((0, rest.starts_with('v')));
    }
    if let Some(rest) = name.strip_prefix("spawn") {
        return Some((1, rest.starts_with('v')));
    }
    if name == "posix_spawn" || name == "posix_spawnp" {
        return Some((0, true));
    }
    None
}

/// Calls that spawn a copy of a process or a worker; inside an unbounded
/// loop or a self-recursive function they make a fork bomb.
pub fn is_spawner(qual: &str) -> bool {
    matches!(
        qual,
        "os.fork"
            | "os.forkpty"
            | "pty.fork"
            | "multiprocessing.Process"
            | "multiprocessing.Process.start"
            | "subprocess.Popen"
            | "os.spawnl"
            | "os.spawnv"
            | "os.spawnlp"
            | "os.spawnvp"
            | "os.posix_spawn"
            | "os.posix_spawnp"
    )
}

/// Module prefixes whose call results carry network data.
pub fn network_source(qual: &str) -> Option<Taint> {
    const HTTP: &[&str] = &[
        "requests.",
        "urllib.request.",
        "urllib.urlopen",
        "urllib.urlretrieve",
        "urllib2.",
        "urllib3.",
        "http.client.",
        "httplib.",
        "httpx.",
        "aiohttp.",
        "pycurl.",
        "ftplib.",
        "paramiko.",
        "telnetlib.",
        "websocket.",
        "websockets.",
        "wget.",
        "xmlrpc.client.",
        "smtplib.",
        "poplib.",
        "imaplib.",
    ];
    if qual.starts_with("socket.") || qual.starts_with("ssl.") {
        return Some(Taint::Socket);
    }
    HTTP.iter()
        .any(|p| qual.starts_with(p))
        .then_some(Taint::Network)
}

/// Where a value came from, for source-to-sink checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taint {
    /// Fetched over HTTP/FTP or similar.
    Network,
    /// Read from a raw socket (a command channel).
    Socket,
    /// Produced by a decoder whose output could not be recovered statically.
    Decoded,
    /// A secret: a credential-named environment variable, the whole
    /// environment, or the contents of a credential file.
    Secret,
}

pub use crate::analyze::secrets::is_secret_env;

/// Modules that capture keystrokes, screens, the clipboard or browser secrets.
pub fn is_capture_module(name: &str) -> bool {
    let top = name.split('.').next().unwrap_or(name);
    matches!(
        top,
        "pynput"
            | "keyboard"
            | "pyxhook"
            | "browser_cookie3"
            | "win32crypt"
            | "mss"
            | "pyscreenshot"
            | "pyperclip"
            | "lazagne"
    ) || name == "PIL.ImageGrab"
}

/// Network calls that carry a body: the senders of an upload.
pub fn is_upload_call(qual: &str) -> bool {
    let method = qual.rsplit('.').next().unwrap_or(qual);
    is_network_sink(qual)
        && matches!(
            method,
            "post"
                | "put"
                | "patch"
                | "request"
                | "urlopen"
                | "Request"
                | "sendmail"
                | "send_message"
                | "send"
                | "sendall"
                | "sendto"
                | "storbinary"
                | "storlines"
                | "upload"
        )
}

/// Calls that send data off the machine (HTTP clients, sockets, mail, DNS
/// lookups whose name can carry data).
pub fn is_network_sink(qual: &str) -> bool {
    network_source(qual).is_some()
        || qual.starts_with("dns.")
        || qual.starts_with("aiodns.")
        || qual.starts_with("socket.gethostbyname")
        || qual.starts_with("socket.getaddrinfo")
}

/// Cloud instance-metadata hosts, in the spellings used to dodge filters.
const METADATA: &[&str] = &[
    "169.254.169.254",
    "169.254.170.2",
    "metadata.google.internal",
    "metadata.goog",
    "100.100.100.200",
    "fd00:ec2::254",
    "2852039166",
    "0xa9fea9fe",
    "0xa9.0xfe.0xa9.0xfe",
    "0251.0376.0251.0376",
    "a9fe:a9fe",
    "metadata.azure.com",
    "/metadata/instance",
    "/latest/meta-data",
    "/latest/api/token",
    "computemetadata/v1",
];

/// Whether `s` names a cloud instance-metadata endpoint.
pub fn is_cloud_metadata(s: &str) -> bool {
    METADATA.iter().any(|m| contains_ci(s, m))
}

/// ASCII case-insensitive substring test without allocating.
fn contains_ci(hay: &str, needle: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    n.len() <= h.len() && h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

/// Cheap pre-filter for string constants: only strings that could be a path,
/// a URL, a host or a miner pool are checked further.
pub fn worth_checking(s: &str) -> bool {
    s.len() >= 6 && s.bytes().any(|b| matches!(b, b'/' | b'.' | b':' | b'~'))
        || s.contains("2852039166")
}

/// Whether `p` (a whole path-like token) is a credential, secret-store or
/// container-escape path: reading it is credential theft or an escape attempt.
pub fn is_sensitive_path(p: &str) -> bool {
    if !p.contains('/') && !p.starts_with(['~', '.']) && !p.starts_with("id_") {
        return false;
    }
    let l = p.to_ascii_lowercase();
    const CONTAINS: &[&str] = &[
        "/etc/shadow",
        "/etc/gshadow",
        "/etc/sudoers",
        "/etc/master.passwd",
        "/.ssh/",
        "/.aws/credentials",
        "/.aws/config",
        "/.config/gcloud",
        "application_default_credentials.json",
        "/.azure/",
        "/.kube/config",
        "/.docker/config.json",
        "/.netrc",
        "/.git-credentials",
        "/.pgpass",
        "/.pypirc",
        "/.npmrc",
        "/.gnupg",
        "/.bash_history",
        "/.zsh_history",
        "/.mysql_history",
        "/.password-store",
        "docker.sock",
        "containerd.sock",
        "crio.sock",
        "/run/secrets",
        "/var/run/secrets",
        "serviceaccount/token",
        "/etc/kubernetes/",
        "/proc/sys/kernel/core_pattern",
        "release_agent",
        "notify_on_release",
        "/dev/mem",
        "/dev/kmem",
        "/dev/port",
        "/sys/kernel/",
        "/proc/kcore",
        "/proc/sysrq-trigger",
        "/login data",
        "cookies.sqlite",
        "/cookies",
        "logins.json",
        "key4.db",
        "wallet.dat",
        "/.electrum",
        "/keychains/",
        "/.vault-token",
        "/.terraform.d/credentials",
        "credentials.json",
        "/.config/gh/hosts.yml",
        "/.boto",
        "/.s3cfg",
    ];
    if CONTAINS.iter().any(|c| l.contains(c)) {
        return true;
    }
    for start in [
        "~/.ssh",
        ".ssh/",
        "~/.aws",
        ".aws/",
        "~/.kube",
        "~/.docker",
        "~/.gnupg",
        "~/.netrc",
        ".netrc",
        ".git-credentials",
        "~/.git-credentials",
    ] {
        if l == start
            || l.starts_with(&format!("{start}/"))
            || (start.ends_with('/') && l.starts_with(start))
        {
            return true;
        }
    }
    if l.ends_with("/.ssh")
        || l.ends_with("/.aws")
        || l == "~/.ssh"
        || l == "id_rsa"
        || l == "id_ed25519"
    {
        return true;
    }
    proc_escape(&l)
}

/// `/proc/<pid>/root`, `/proc/<pid>/environ`, `/proc/<pid>/mem`, `/proc/<pid>/cwd`:
/// another process's filesystem, environment or memory.
fn proc_escape(l: &str) -> bool {
    let Some(rest) = l.strip_prefix("/proc/") else {
        return false;
    };
    let mut parts = rest.splitn(3, '/');
    let pid = parts.next().unwrap_or("");
    let what = parts.next().unwrap_or("");
    let pid_ok = pid == "self"
        || pid == "*"
        || pid == "thread-self"
        || (!pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()));
    pid_ok
        && matches!(
            what,
            "root" | "environ" | "mem" | "cwd" | "exe" | "fd" | "map_files"
        )
        && !(pid == "self" && matches!(what, "fd" | "exe" | "cwd"))
}

/// Whether writing to `p` would change the system, credentials or what runs
/// at startup (anything absolute outside the scratch directories, and
/// dotfiles in the home directory).
pub fn is_sensitive_write(p: &str) -> bool {
    if p.is_empty() {
        return false;
    }
    for ok in [
        "/tmp/",
        "/var/tmp/",
        "/dev/shm/",
        "/dev/null",
        "/dev/stdout",
        "/dev/stderr",
        "/dev/tty",
    ] {
        if p.starts_with(ok) || p == ok.trim_end_matches('/') {
            return false;
        }
    }
    if p.starts_with('/') {
        return true;
    }
    if let Some(rest) = p.strip_prefix("~/") {
        return rest.starts_with('.');
    }
    let name = p.rsplit('/').next().unwrap_or(p);
    is_startup_file(name)
}

/// Shell rc files and other files that run on login or interpreter start.
pub fn is_startup_file(name: &str) -> bool {
    matches!(
        name,
        ".bashrc"
            | ".bash_profile"
            | ".bash_login"
            | ".profile"
            | ".zshrc"
            | ".zprofile"
            | ".zshenv"
            | ".bash_logout"
            | "authorized_keys"
            | "crontab"
            | "sitecustomize.py"
            | "usercustomize.py"
            | "rc.local"
            | "ld.so.preload"
            | ".xinitrc"
            | ".xsessionrc"
    )
}

/// Paths that deleting recursively destroys the system or the user's home.
pub fn is_root_like(p: &str) -> bool {
    let t = p.trim_end_matches('/');
    if t.is_empty() || t == "~" || t == "/*" || t == "~/*" || t == "$HOME" {
        return true;
    }
    const TOP: &[&str] = &[
        "/bin",
        "/boot",
        "/dev",
        "/etc",
        "/home",
        "/lib",
        "/lib32",
        "/lib64",
        "/media",
        "/mnt",
        "/opt",
        "/proc",
        "/root",
        "/run",
        "/sbin",
        "/srv",
        "/sys",
        "/usr",
        "/var",
        "/app",
        "/workspace",
    ];
    TOP.contains(&t) || TOP.iter().any(|d| t.strip_suffix("/*") == Some(d))
}

/// Shells whose `-c` argument is a command line.
pub fn is_shell_program(name: &str) -> bool {
    matches!(
        name,
        "sh" | "bash" | "dash" | "zsh" | "ksh" | "ash" | "busybox" | "fish" | "csh" | "tcsh"
    )
}

/// The last path component: `/usr/bin/curl` -> `curl`.
pub fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}
