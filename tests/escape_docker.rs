//! The escape and abuse suite against the real engine: each payload runs
//! only inside a cordon sandbox and tries to get out (privilege, host
//! access, network) or to exhaust the host (processes, memory, CPU, disk,
//! files, output, time); the test asserts that the barrier held, reading
//! the attempt's own report (`<attempt>: FAILED (<errno>)` or
//! `<attempt>: SUCCEEDED (...)`) and the termination reason cordon recorded.
//!
//! Payloads never target a real outside host: only TEST-NET 192.0.2.1,
//! loopback, and the host's Docker bridge gateway (with a listener of this
//! test behind it, so a leak would be seen on both sides). Attempts that
//! would change the host if they succeeded are chosen to be harmless even
//! then (files opened for writing are never written; `reboot` asks only to
//! disable Ctrl-Alt-Del; module calls name no real module).

#[macro_use]
mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cordon::audit::recorder::AuditRecorder;
use cordon::audit::{AuditConfig, AuditLog, QueryFilter, VerifyOptions};
use cordon::decide::LimitRequest;
use cordon::pipeline::{ExecutionResult, Pipeline, Submission};
use cordon::sandbox::docker::DockerBackend;
use cordon::sandbox::{NullSink, TerminationReason};
use cordon::Language;
use support::*;

/// Shared by the Python payloads: every attempt prints one line,
/// `<name>: SUCCEEDED (<what happened>)` or `<name>: FAILED (<errno>)`.
/// Raw syscalls run in a forked child so an unexpected success cannot change
/// the state later attempts start from.
const PY_PRELUDE: &str = r#"
import ctypes, errno, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

def say(name, ok, why):
    print(f"{name}: {'SUCCEEDED' if ok else 'FAILED'} ({why})", flush=True)

def ename(e):
    return errno.errorcode.get(e, str(e))

def attempt(name, fn):
    try:
        r = fn()
    except OSError as e:
        say(name, False, ename(e.errno) if e.errno else f"{type(e).__name__}: {e}")
        return
    except Exception as e:
        say(name, False, f"{type(e).__name__}: {e}")
        return
    say(name, True, repr(r))

def isolated(name, fn):
    pid = os.fork()
    if pid == 0:
        try:
            ctypes.set_errno(0)
            r = fn()
            if r == -1:
                say(name, False, ename(ctypes.get_errno()))
            else:
                say(name, True, f"returned {r}")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
"#;

/// One attempt's line: name -> (succeeded, detail).
fn outcomes(stdout: &str) -> HashMap<String, (bool, String)> {
    stdout
        .lines()
        .filter_map(|l| {
            let (name, rest) = l.split_once(": ")?;
            let (status, detail) = rest.split_once(' ')?;
            let ok = match status {
                "SUCCEEDED" => true,
                "FAILED" => false,
                _ => return None,
            };
            Some((
                name.to_string(),
                (
                    ok,
                    detail.trim_matches(|c| c == '(' || c == ')').to_string(),
                ),
            ))
        })
        .collect()
}

/// The payload ran to its end, no attempt succeeded, and each of `expected`
/// was attempted and failed with one of the errors listed for it (any error
/// when the list is empty).
fn assert_all_failed(r: &ExecutionResult, expected: &[(&str, &[&str])]) {
    eprintln!("{}", r.stdout);
    assert_eq!(
        r.termination_reason,
        TerminationReason::Exited,
        "{:?}\nstderr: {}",
        r.detail,
        r.stderr
    );
    assert_eq!(
        r.exit_code,
        Some(0),
        "payload crashed: {}\nstdout: {}",
        r.stderr,
        r.stdout
    );
    assert!(
        !r.stdout.contains(": SUCCEEDED"),
        "a barrier gave way:\n{}",
        r.stdout
    );
    let seen = outcomes(&r.stdout);
    for (name, errors) in expected {
        let (ok, detail) = seen.get(*name).unwrap_or_else(|| {
            panic!(
                "attempt {name} did not report:\n{}\nstderr: {}",
                r.stdout, r.stderr
            )
        });
        assert!(!ok, "{name} succeeded: {detail}");
        assert!(
            errors.is_empty() || errors.iter().any(|e| detail.starts_with(e)),
            "{name} failed for an unexpected reason: {detail}"
        );
    }
}

fn limits(f: impl FnOnce(&mut LimitRequest)) -> LimitRequest {
    let mut l = LimitRequest::default();
    f(&mut l);
    l
}

const NEIGHBOUR: &str = "print(sum(range(1000)))";

/// Runs an abusive payload and, started at the same moment, an ordinary one
/// that must complete normally: the host stayed responsive.
async fn abuse_with_neighbour(
    d: &DockerBackend,
    language: Language,
    code: &str,
    l: LimitRequest,
) -> ExecutionResult {
    let t = Instant::now();
    let (abuse, neighbour) = tokio::join!(
        run_with(d, language, code, l),
        run(d, Language::Python, NEIGHBOUR)
    );
    assert_eq!(
        neighbour.termination_reason,
        TerminationReason::Exited,
        "neighbour: {:?} {}",
        neighbour.detail,
        neighbour.stderr
    );
    assert_eq!(neighbour.stdout, "499500\n", "neighbour output");
    eprintln!(
        "abuse ended as {} after {:?}; neighbour took {} ms",
        abuse.termination_reason,
        t.elapsed(),
        neighbour.durations.total_ms
    );
    abuse
}

// ---------------------------------------------------------------- privilege

const PRIVILEGE: &str = r#"
import platform, shutil, stat, subprocess
X86 = platform.machine() == "x86_64"
NR = {
    "keyctl": 250 if X86 else 219, "add_key": 248 if X86 else 217,
    "init_module": 175 if X86 else 105, "finit_module": 313 if X86 else 273,
    "delete_module": 176 if X86 else 106, "bpf": 321 if X86 else 280,
    "process_vm_readv": 310 if X86 else 270, "kcmp": 312 if X86 else 272,
    "pidfd_open": 434, "pidfd_getfd": 438, "io_uring_setup": 425,
}
L = ctypes.c_long

# Identity and privilege tools.
for tool, argv in (("sudo", ["sudo", "-n", "id", "-u"]), ("su", ["su", "-c", "id -u", "root"]),
                   ("doas", ["doas", "-n", "id", "-u"]), ("pkexec", ["pkexec", "id", "-u"])):
    if shutil.which(tool) is None:
        say(tool, False, "not installed")
        continue
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=5)
    say(tool, p.returncode == 0 and p.stdout.strip() == "0", f"exit {p.returncode}: {p.stderr.strip()[:80]}")

# No file or directory in the image carries the setuid or setgid bit.
found = []
for root, dirs, files in os.walk("/"):
    if root == "/":
        dirs[:] = [x for x in dirs if x not in ("proc", "sys", "dev", "tmp")]
    for n in files + dirs:
        try:
            if os.lstat(os.path.join(root, n)).st_mode & (stat.S_ISUID | stat.S_ISGID):
                found.append(os.path.join(root, n))
        except OSError:
            pass
say("setuid-setgid-files", bool(found), ", ".join(found[:5]) or "none in the image")

isolated("setuid(0)", lambda: libc.setuid(0))
isolated("setgid(0)", lambda: libc.setgid(0))

# chmod u+s on a copy in the writable places has no effect on exec.
for d in ("/tmp", "/dev/shm"):
    dst = d + "/id-copy"
    try:
        shutil.copy("/usr/bin/id", dst)
        os.chmod(dst, 0o4755)
        bit = bool(os.stat(dst).st_mode & stat.S_ISUID)
    except OSError as e:
        say(f"setuid-exec {d}", False, ename(e.errno))
        continue
    attempt(f"chown-root {d}", lambda: os.chown(dst, 0, 0))
    try:
        p = subprocess.run([dst, "-u"], capture_output=True, text=True, timeout=5)
        say(f"setuid-exec {d}", p.stdout.strip() == "0", f"ran as uid {p.stdout.strip()}, setuid bit {bit}")
    except OSError as e:
        say(f"setuid-exec {d}", False, f"{ename(e.errno)}, setuid bit {bit}")

# Namespaces.
CLONE = {"user": 0x10000000, "mount": 0x20000, "net": 0x40000000, "pid": 0x20000000}
for n, flag in CLONE.items():
    isolated(f"unshare({n})", lambda flag=flag: libc.unshare(flag))
for tool, argv in (("unshare -r", ["unshare", "-r", "id", "-u"]), ("nsenter", ["nsenter", "-t", "1", "-m", "-p", "true"])):
    if shutil.which(argv[0]) is None:
        say(tool, False, "not installed")
        continue
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=5)
    err = p.stderr.strip()
    say(tool, p.returncode == 0, ("EPERM " if "not permitted" in err else "") + f"exit {p.returncode}: {err[:80]}")

# Mounts and filesystem privileges.
MS_REMOUNT, MS_BIND = 32, 4096
isolated("mount", lambda: libc.mount(b"none", b"/tmp", b"tmpfs", 0, None))
isolated("mount remount / rw", lambda: libc.mount(None, b"/", None, MS_REMOUNT, None))
isolated("mount bind", lambda: libc.mount(b"/", b"/tmp", None, MS_BIND, None))
isolated("chroot", lambda: libc.chroot(b"/tmp"))
isolated("mknod", lambda: libc.mknod(b"/tmp/sda", 0o060600, os.makedev(8, 0)))

# Other processes: ptrace reaches no process outside the sandbox, because
# none is visible (own pid namespace) and an unseen pid does not exist here.
# PID 1 is the sandbox's own deadline (`timeout -s KILL ...`), the parent of this program.
own = {os.getpid()}
if os.getppid() == 1 and open("/proc/1/cmdline", "rb").read().startswith(b"/usr/local/libexec/cordon/timeout\0"):
    own.add(1)
# The deadline runs under the program's own uid, from an execute-only file, so
# it is not dumpable: its memory cannot be read or patched and it cannot be
# traced, which would disarm the wall limit that holds when cordon dies.
attempt("open /proc/1/mem for write", lambda: os.open("/proc/1/mem", os.O_RDWR))
attempt("open /proc/1/mem for read", lambda: os.open("/proc/1/mem", os.O_RDONLY))
attempt("read the deadline's binary", lambda: open("/usr/local/libexec/cordon/timeout", "rb").read(1))
isolated("ptrace seize pid 1", lambda: libc.ptrace(L(0x4206), L(1), None, None))
others = sorted(int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in own)
say("host-processes-visible", bool(others), f"other pids: {others}" if others else "only the sandbox's own processes")
unseen = 300000
while os.path.exists(f"/proc/{unseen}"):
    unseen += 1
PTRACE_SEIZE = 0x4206
isolated("ptrace outside", lambda: libc.ptrace(L(PTRACE_SEIZE), L(unseen), None, None))

# Other processes of the same submission: a sibling is visible (same uid, same
# PID namespace), but nothing can trace, read or steer it (cordon's seccomp
# profile; the engine default would allow all of these).
import time
sib = os.fork()
if sib == 0:
    time.sleep(30)
    os._exit(0)
PTRACE_TRACEME, PTRACE_ATTACH = 0, 16
isolated("ptrace seize sibling", lambda: libc.ptrace(L(PTRACE_SEIZE), L(sib), None, None))
isolated("ptrace attach sibling", lambda: libc.ptrace(L(PTRACE_ATTACH), L(sib), None, None))
isolated("ptrace traceme", lambda: libc.ptrace(L(PTRACE_TRACEME), L(0), None, None))
class Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
buf = ctypes.create_string_buffer(8)
local = Iovec(ctypes.cast(buf, ctypes.c_void_p), 8)
remote = Iovec(ctypes.cast(buf, ctypes.c_void_p), 8)  # mapped in the forked sibling too
isolated("process_vm_readv sibling", lambda: libc.syscall(L(NR["process_vm_readv"]), L(sib), ctypes.byref(local), L(1), ctypes.byref(remote), L(1), L(0)))
pidfd = libc.syscall(L(NR["pidfd_open"]), L(sib), L(0))
print(f"(pidfd of the sibling: {pidfd})")
isolated("pidfd_getfd sibling", lambda: libc.syscall(L(NR["pidfd_getfd"]), L(pidfd), L(1), L(0)))
KCMP_FILE = 0
isolated("kcmp sibling", lambda: libc.syscall(L(NR["kcmp"]), L(os.getpid()), L(sib), L(KCMP_FILE), L(1), L(1)))
params = ctypes.create_string_buffer(120)
isolated("io_uring_setup", lambda: libc.syscall(L(NR["io_uring_setup"]), L(4), params))
os.kill(sib, 9)
os.waitpid(sib, 0)

# Kernel keyring, modules, eBPF, reboot.
KEY_SPEC_SESSION_KEYRING = -3
isolated("keyctl", lambda: libc.syscall(L(NR["keyctl"]), L(0), L(KEY_SPEC_SESSION_KEYRING), L(0)))
isolated("add_key", lambda: libc.syscall(L(NR["add_key"]), b"user", b"cordon", b"x", L(1), L(KEY_SPEC_SESSION_KEYRING)))
image = ctypes.create_string_buffer(64)
isolated("init_module", lambda: libc.syscall(L(NR["init_module"]), image, L(64), b""))
null = os.open("/dev/null", os.O_RDONLY)
isolated("finit_module", lambda: libc.syscall(L(NR["finit_module"]), L(null), b"", L(0)))
isolated("delete_module", lambda: libc.syscall(L(NR["delete_module"]), b"cordon_no_such_module", L(0o4000)))
attr = ctypes.create_string_buffer(128)
isolated("bpf", lambda: libc.syscall(L(NR["bpf"]), L(0), attr, L(128)))
# RB_DISABLE_CAD (0): the most harmless reboot() command there is.
isolated("reboot", lambda: libc.reboot(0))

# Kernel tunables: opened for writing, never written.
for p in ("/proc/sys/kernel/core_pattern", "/proc/sys/kernel/modprobe", "/proc/sys/vm/drop_caches",
          "/proc/sys/kernel/hostname", "/proc/sysrq-trigger", "/sys/kernel/uevent_helper",
          "/sys/kernel/mm/transparent_hugepage/enabled", "/sys/class/net/lo/mtu",
          "/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/pids/pids.max",
          "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/pids.max"):
    attempt(f"open-for-write {p}", lambda p=p: os.close(os.open(p, os.O_WRONLY)))

def lower_oom_score():
    with open("/proc/self/oom_score_adj", "w") as f:
        f.write("-1000")
attempt("oom_score_adj -1000", lower_oom_score)
print("done")
"#;

#[tokio::test(flavor = "multi_thread")]
async fn privilege_escalation_attempts_all_fail() {
    let d = engine!("privilege_escalation_attempts_all_fail");
    let code = format!("{PY_PRELUDE}{PRIVILEGE}");
    let r = run(&d, Language::Python, &code).await;
    const EPERM: &[&str] = &["EPERM"];
    const DENIED: &[&str] = &["EACCES", "EROFS", "EPERM", "ENOENT"];
    let mut expected: Vec<(&str, &[&str])> = vec![
        ("sudo", &["not installed"]),
        ("su", &["not installed"]),
        ("pkexec", &["not installed"]),
        ("setuid-setgid-files", &["none in the image"]),
        ("setuid(0)", EPERM),
        ("setgid(0)", EPERM),
        ("setuid-exec /tmp", &["EACCES"]),
        ("setuid-exec /dev/shm", &["EACCES"]),
        ("chown-root /tmp", EPERM),
        ("unshare(user)", EPERM),
        ("unshare(mount)", EPERM),
        ("unshare(net)", EPERM),
        ("unshare(pid)", EPERM),
        ("unshare -r", EPERM),
        ("nsenter", &[]),
        ("mount", EPERM),
        ("mount remount / rw", EPERM),
        ("mount bind", EPERM),
        ("chroot", EPERM),
        ("mknod", EPERM),
        (
            "host-processes-visible",
            &["only the sandbox's own process"],
        ),
        ("ptrace outside", EPERM),
        ("open /proc/1/mem for write", &["EACCES", "EPERM"]),
        ("open /proc/1/mem for read", &["EACCES", "EPERM"]),
        ("read the deadline's binary", &["EACCES"]),
        ("ptrace seize pid 1", EPERM),
        ("ptrace seize sibling", EPERM),
        ("ptrace attach sibling", EPERM),
        ("ptrace traceme", EPERM),
        ("process_vm_readv sibling", EPERM),
        ("pidfd_getfd sibling", EPERM),
        ("kcmp sibling", EPERM),
        ("io_uring_setup", EPERM),
        ("keyctl", EPERM),
        ("add_key", EPERM),
        ("init_module", EPERM),
        ("finit_module", EPERM),
        ("delete_module", EPERM),
        ("bpf", EPERM),
        ("reboot", EPERM),
        ("oom_score_adj -1000", &["EACCES"]),
    ];
    let writes = [
        "/proc/sys/kernel/core_pattern",
        "/proc/sys/kernel/modprobe",
        "/proc/sys/vm/drop_caches",
        "/proc/sys/kernel/hostname",
        "/proc/sysrq-trigger",
        "/sys/kernel/uevent_helper",
        "/sys/kernel/mm/transparent_hugepage/enabled",
        "/sys/class/net/lo/mtu",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
        "/sys/fs/cgroup/pids/pids.max",
    ]
    .map(|p| format!("open-for-write {p}"));
    for w in &writes {
        expected.push((w.as_str(), DENIED));
    }
    assert_all_failed(&r, &expected);
    assert!(r.stdout.ends_with("done\n"), "{}", r.stdout);
}

/// Every runtime image: no setuid/setgid file anywhere, no privilege tools.
#[tokio::test(flavor = "multi_thread")]
async fn no_image_has_setuid_files_or_privilege_tools() {
    let d = engine!("no_image_has_setuid_files_or_privilege_tools");
    let probe = r#"find / -xdev \( -path /proc -o -path /sys -o -path /dev \) -prune -o -perm /6000 -print 2>/dev/null | sed 's/^/setuid-file: SUCCEEDED (/; s/$/)/'; for t in sudo su doas pkexec mount umount newgrp passwd chsh chfn gpasswd; do p=$(command -v $t) && echo "tool $t: SUCCEEDED ($p)" || echo "tool $t: FAILED (absent)"; done; echo done"#;
    let quoted = probe.replace('\\', "\\\\").replace('"', "\\\"");
    for (lang, code) in [
        (Language::Bash, probe.to_string()),
        (Language::Python, format!("import subprocess, sys\nsys.stdout.write(subprocess.run(['bash', '-c', \"{quoted}\"], capture_output=True, text=True).stdout)")),
        (Language::Javascript, format!("process.stdout.write(require('child_process').execFileSync('bash', ['-c', \"{quoted}\"]).toString())")),
    ] {
        let r = run(&d, lang, &code).await;
        let expected: Vec<String> = ["sudo", "su", "doas", "pkexec", "mount", "umount", "passwd"].iter().map(|t| format!("tool {t}")).collect();
        let expected: Vec<(&str, &[&str])> = expected.iter().map(|t| (t.as_str(), &["absent"][..])).collect();
        assert_all_failed(&r, &expected);
        assert!(r.stdout.ends_with("done\n"), "{lang}: {}", r.stdout);
    }
}

// ------------------------------------------------------------- host access

const HOST_ACCESS: &str = r#"
import socket
MARKER = "{MARKER}"
root = os.stat("/")
# PID 1 (the deadline) is not dumpable, so its /proc links refuse this
# program outright (EACCES); the sandbox's own are followed and must lead home.
for p in ("/proc/1/root", "/proc/self/root", "/proc/self/root/../..", "/proc/1/root/../../..", "/proc/1/cwd/../../..", "/../../.."):
    try:
        s = os.stat(p)
    except OSError as e:
        say(f"other root {p}", False, ename(e.errno))
        continue
    same = (s.st_dev, s.st_ino) == (root.st_dev, root.st_ino)
    say(f"other root {p}", not same, "is the sandbox's own root" if same else f"differs: dev {s.st_dev} ino {s.st_ino}")
# A file the test placed on the host must be unreachable by every route.
routes = [MARKER, "/proc/1/root" + MARKER, "/proc/self/root/../.." + MARKER, "/proc/1/cwd/../../../.." + MARKER]
routes += [f"/proc/{p}/root{MARKER}" for p in os.listdir("/proc") if p.isdigit()]
for p in routes:
    attempt(f"host file via {p}", lambda p=p: open(p).read())
for p in ("/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock", "/var/run/crio/crio.sock", "/run/podman/podman.sock"):
    def connect(p=p):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(2)
        s.connect(p)
    attempt(f"engine socket {p}", connect)
attempt("read /etc/shadow", lambda: open("/etc/shadow").read())
attempt("read /proc/1/root/etc/shadow", lambda: open("/proc/1/root/etc/shadow").read())
attempt("read /etc/gshadow", lambda: open("/etc/gshadow").read())
# Mounts that come from the host's disk: only the engine's own hosts/hostname/resolv.conf files.
host_mounts = []
for line in open("/proc/self/mountinfo"):
    pre, post = line.split(" - ", 1)
    mnt, fstype = pre.split()[4], post.split()[0]
    if fstype not in ("overlay", "proc", "tmpfs", "sysfs", "devpts", "mqueue", "cgroup", "cgroup2") and mnt not in ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf"):
        host_mounts.append(f"{mnt} {fstype}")
say("host mounts", bool(host_mounts), ", ".join(host_mounts) or "none")
for p in ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf"):
    attempt(f"open-for-write {p}", lambda p=p: os.close(os.open(p, os.O_WRONLY)))
for pid in ["self", "1"]:
    try:
        env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
    except PermissionError:
        print(f"environ {pid} refused")
        continue
    print(f"environ {pid} = " + " ".join(sorted(e.split(b"=", 1)[0].decode() for e in env if e)))
    for e in env:
        print(f"envvalue {e.decode(errors='replace')}")
print("done")
"#;

#[tokio::test(flavor = "multi_thread")]
async fn host_paths_sockets_secrets_and_env_are_unreachable() {
    let d = engine!("host_paths_sockets_secrets_and_env_are_unreachable");
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir
        .path()
        .join(format!("cordon-marker-{}", uuid::Uuid::new_v4()));
    std::fs::write(&marker, "host secret marker").expect("write marker");
    let marker = marker.display().to_string();
    let code = format!("{PY_PRELUDE}{}", HOST_ACCESS.replace("{MARKER}", &marker));
    let r = run(&d, Language::Python, &code).await;
    let via = |p: &str| format!("host file via {p}");
    let routes = [
        via(&marker),
        via(&format!("/proc/1/root{marker}")),
        via(&format!("/proc/self/root/../..{marker}")),
        via(&format!("/proc/1/cwd/../../../..{marker}")),
    ];
    let mut expected: Vec<(&str, &[&str])> = vec![
        (
            "other root /proc/1/root",
            &["is the sandbox's own root", "EACCES"],
        ),
        (
            "other root /proc/self/root/../..",
            &["is the sandbox's own root"],
        ),
        (
            "other root /proc/1/root/../../..",
            &["is the sandbox's own root", "EACCES"],
        ),
        (
            "other root /proc/1/cwd/../../..",
            &["is the sandbox's own root", "EACCES"],
        ),
        ("engine socket /var/run/docker.sock", &["ENOENT"]),
        ("engine socket /run/docker.sock", &["ENOENT"]),
        ("engine socket /run/containerd/containerd.sock", &["ENOENT"]),
        ("read /etc/shadow", &["EACCES"]),
        ("read /proc/1/root/etc/shadow", &["EACCES"]),
        ("host mounts", &["none"]),
        ("open-for-write /etc/hosts", &["EACCES", "EROFS"]),
        ("open-for-write /etc/resolv.conf", &["EACCES", "EROFS"]),
    ];
    for route in &routes {
        expected.push((route.as_str(), &["ENOENT", "EACCES"]));
    }
    assert_all_failed(&r, &expected);
    assert!(!r.stdout.contains("host secret marker"));
    // The host's environment does not reach the sandbox: only the spec's variables.
    let allowed = [
        "PATH",
        "HOME",
        "LANG",
        "TMPDIR",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONUNBUFFERED",
        "PYTHONNOUSERSITE",
        "HOSTNAME",
    ];
    for line in r.stdout.lines().filter(|l| l.starts_with("environ ")) {
        let names = line.split_once(" = ").map(|x| x.1).unwrap_or_default();
        for name in names.split_whitespace() {
            assert!(
                allowed.contains(&name),
                "host variable {name} leaked into the sandbox: {line}"
            );
        }
    }
    let sandbox_values: Vec<&str> = r
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("envvalue ")?.split_once('=').map(|x| x.1))
        .collect();
    for (k, v) in std::env::vars() {
        if v.len() >= 8 && !allowed.contains(&k.as_str()) {
            assert!(
                !sandbox_values.contains(&v.as_str()),
                "the value of host variable {k} is visible in the sandbox"
            );
        }
    }
}

/// Symlinks planted inside the sandbox (to host paths, to the bash runner's
/// script, dangling into host directories) never make cordon read or write a
/// host path: output comes only from the attached stdout/stderr streams.
#[tokio::test(flavor = "multi_thread")]
async fn sandbox_symlinks_never_make_cordon_touch_host_paths() {
    let d = engine!("sandbox_symlinks_never_make_cordon_touch_host_paths");
    let dir = tempfile::tempdir().expect("tempdir");
    let canary = dir.path().join("canary");
    std::fs::write(&canary, "canary unchanged").expect("write canary");
    let created = dir.path().join("created-by-sandbox");
    let code = format!(
        r#"
ln -s {canary} /tmp/stdout
ln -s {canary} /tmp/result.json
ln -s {created} /tmp/output
ln -sf {canary} /tmp/.cordon-main.sh 2>/dev/null
ln -s /etc/shadow /tmp/stderr
ln -s / /tmp/hostroot
for l in /tmp/stdout /tmp/output /tmp/hostroot/{canary}; do
  if echo overwritten > "$l" 2>/dev/null; then echo "write through $l: SUCCEEDED (wrote)"; else echo "write through $l: FAILED (denied)"; fi
done
ls -la /tmp
echo done
"#,
        canary = canary.display(),
        created = created.display(),
    );
    let r = run(&d, Language::Bash, &code).await;
    assert_eq!(
        r.termination_reason,
        TerminationReason::Exited,
        "{:?}",
        r.detail
    );
    assert!(r.stdout.ends_with("done\n"), "{}\n{}", r.stdout, r.stderr);
    assert!(!r.stdout.contains("canary unchanged") && !r.stderr.contains("canary unchanged"));
    assert_eq!(
        std::fs::read_to_string(&canary).expect("canary"),
        "canary unchanged",
        "a host file was written through a sandbox symlink"
    );
    assert!(
        !created.exists(),
        "a host path was created through a sandbox symlink"
    );
    // cordon never copies files out of a container by path: no archive or export call exists.
    let mut sources = vec![std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src"
    ))];
    while let Some(p) = sources.pop() {
        for entry in std::fs::read_dir(&p).expect("read src").flatten() {
            let path = entry.path();
            if path.is_dir() {
                sources.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("read source");
                for api in [
                    "download_from_container",
                    "get_container_archive",
                    "export_container",
                    "copy_from_container",
                ] {
                    assert!(
                        !text.contains(api),
                        "{} calls {api}: files must never be copied out of a container",
                        path.display()
                    );
                }
            }
        }
    }
}

// --------------------------------------------------------------- resources

#[tokio::test(flavor = "multi_thread")]
async fn fork_bomb_is_stopped_at_the_pids_limit() {
    let d = engine!("fork_bomb_is_stopped_at_the_pids_limit");
    let l = limits(|l| {
        l.pids = Some(32);
        l.cpus = Some(0.5);
        l.wall = wall("10s");
    });
    let r = abuse_with_neighbour(&d, Language::Bash, ":(){ :|:& };: ; sleep 5", l).await;
    assert_eq!(
        r.termination_reason,
        TerminationReason::Pids,
        "{:?}",
        r.detail
    );
    assert!(r.usage.peak_pids <= 32, "peak pids {}", r.usage.peak_pids);
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_bomb_is_oom_killed_at_its_limit() {
    let d = engine!("memory_bomb_is_oom_killed_at_its_limit");
    let l = limits(|l| l.memory = size("64Mi"));
    let r = abuse_with_neighbour(
        &d,
        Language::Python,
        "x = []\nwhile True: x.append(b'x' * (8 << 20))",
        l,
    )
    .await;
    assert_eq!(
        r.termination_reason,
        TerminationReason::Oom,
        "{:?}",
        r.detail
    );
    assert!(
        r.usage.peak_memory_bytes <= 64 << 20,
        "peak {}",
        r.usage.peak_memory_bytes
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cpu_spin_on_every_core_is_killed_at_its_cpu_time_budget() {
    let d = engine!("cpu_spin_on_every_core_is_killed_at_its_cpu_time_budget");
    let code = "import os\nfor _ in range(2 * (os.cpu_count() or 2) - 1):\n    if os.fork() == 0:\n        break\nwhile True: pass";
    let l = limits(|l| {
        l.cpu_time = wall("1s");
        l.wall = wall("15s");
    });
    let t = Instant::now();
    let r = abuse_with_neighbour(&d, Language::Python, code, l).await;
    assert_eq!(
        r.termination_reason,
        TerminationReason::CpuTime,
        "{:?}",
        r.detail
    );
    assert!(
        r.usage.cpu_time_ms <= 2000,
        "cpu time {} ms",
        r.usage.cpu_time_ms
    );
    assert!(
        t.elapsed() < Duration::from_secs(12),
        "took {:?}",
        t.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn filling_tmp_ends_in_enospc_inside_the_sandbox() {
    let d = engine!("filling_tmp_ends_in_enospc_inside_the_sandbox");
    let code = r#"
import errno, os
chunk, n, i = b"x" * (1 << 20), 0, 0
try:
    while True:
        with open(f"/tmp/fill{i}", "wb") as f:
            for _ in range(4):
                f.write(chunk)
                n += 1
        i += 1
except OSError as e:
    print(f"fill /tmp: FAILED ({errno.errorcode[e.errno]} after {n} MiB)")
st = os.statvfs("/tmp")
print(f"tmp size {st.f_blocks * st.f_frsize}")
"#;
    let r = abuse_with_neighbour(&d, Language::Python, code, LimitRequest::default()).await;
    assert_eq!(
        r.termination_reason,
        TerminationReason::Exited,
        "{:?} {}",
        r.detail,
        r.stderr
    );
    let line = r.stdout.lines().next().unwrap_or_default();
    assert!(
        line.starts_with("fill /tmp: FAILED (ENOSPC")
            || line.starts_with("fill /tmp: FAILED (EFBIG"),
        "{}",
        r.stdout
    );
    let mib: u64 = line
        .split(" after ")
        .nth(1)
        .and_then(|x| x.split(' ').next())
        .and_then(|x| x.parse().ok())
        .expect("MiB count");
    assert!(mib <= 17, "wrote {mib} MiB into a 16Mi tmpfs");
    assert!(
        r.stdout.contains(&format!("tmp size {}", 16 << 20)),
        "{}",
        r.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_thousand_open_files_stop_at_the_nofile_limit() {
    let d = engine!("ten_thousand_open_files_stop_at_the_nofile_limit");
    let code = r#"
import resource
fds = []
try:
    for _ in range(10000):
        fds.append(os.open("/dev/null", os.O_RDONLY))
    say("open 10000 files", True, "all opened")
except OSError as e:
    say("open 10000 files", False, f"{ename(e.errno)} after {len(fds)}")
attempt("raise nofile to 10000", lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (10000, 10000)))
print("done")
"#;
    let r = abuse_with_neighbour(
        &d,
        Language::Python,
        &format!("{PY_PRELUDE}{code}"),
        LimitRequest::default(),
    )
    .await;
    assert_all_failed(
        &r,
        &[
            ("open 10000 files", &["EMFILE"]),
            ("raise nofile to 10000", &["ValueError"]),
        ],
    );
    let opened: u32 = outcomes(&r.stdout)["open 10000 files"]
        .1
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("count");
    assert!(opened < 256, "opened {opened} files");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_2gb_sparse_file_is_refused() {
    let d = engine!("a_2gb_sparse_file_is_refused");
    let code = r#"
def truncate():
    with open("/tmp/sparse", "wb") as f:
        f.truncate(2 << 30)
def seek_write():
    with open("/tmp/sparse2", "wb") as f:
        f.seek((2 << 30) - 1)
        f.write(b"\0")
attempt("sparse 2G truncate", truncate)
attempt("sparse 2G seek+write", seek_write)
print("done")
"#;
    let r = abuse_with_neighbour(
        &d,
        Language::Python,
        &format!("{PY_PRELUDE}{code}"),
        LimitRequest::default(),
    )
    .await;
    assert_all_failed(
        &r,
        &[
            ("sparse 2G truncate", &["EFBIG"]),
            ("sparse 2G seek+write", &["EFBIG"]),
        ],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn output_flood_is_cut_at_the_cap_and_killed() {
    let d = engine!("output_flood_is_cut_at_the_cap_and_killed");
    let l = limits(|l| l.output = size("64Ki"));
    let r = abuse_with_neighbour(&d, Language::Bash, "yes cordon-flood", l).await;
    assert_eq!(
        r.termination_reason,
        TerminationReason::OutputLimit,
        "{:?}",
        r.detail
    );
    assert!(r.stdout_truncated);
    assert_eq!(r.stdout.len(), 64 << 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn sleep_infinity_is_killed_at_the_deadline() {
    let d = engine!("sleep_infinity_is_killed_at_the_deadline");
    let l = limits(|l| l.wall = wall("2s"));
    let r = abuse_with_neighbour(&d, Language::Bash, "sleep infinity", l).await;
    assert_eq!(
        r.termination_reason,
        TerminationReason::Timeout,
        "{:?}",
        r.detail
    );
    assert!(
        (1900..6000).contains(&r.usage.wall_ms),
        "{}",
        r.usage.wall_ms
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn zombie_producing_parent_is_stopped_at_the_pids_limit() {
    let d = engine!("zombie_producing_parent_is_stopped_at_the_pids_limit");
    let code = r#"
import errno, os, time
children = 0
try:
    while True:
        if os.fork() == 0:
            os._exit(0)
        children += 1
except OSError as e:
    zombies = 0
    for p in os.listdir("/proc"):
        try:
            if p.isdigit() and open(f"/proc/{p}/stat").read().rsplit(") ", 1)[1].startswith("Z"):
                zombies += 1
        except OSError:
            pass
    print(f"forked {children}, {zombies} zombies, then {errno.errorcode[e.errno]}", flush=True)
time.sleep(3600)
"#;
    let l = limits(|l| {
        l.pids = Some(32);
        l.wall = wall("10s");
    });
    let r = abuse_with_neighbour(&d, Language::Python, code, l).await;
    assert_eq!(
        r.termination_reason,
        TerminationReason::Pids,
        "{:?} {}",
        r.detail,
        r.stdout
    );
    assert!(r.usage.peak_pids <= 32, "peak pids {}", r.usage.peak_pids);
}

// ----------------------------------------------------------------- network

const NETWORK: &str = r#"
import socket, time
PORT = {PORT}
print("interfaces " + " ".join(sorted(os.listdir("/sys/class/net"))))
def tcp(host, family=socket.AF_INET):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect((host, PORT))
    finally:
        s.close()
def udp(host):
    # A refused datagram is only reported on the next send, so send twice.
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect((host, PORT))
        s.send(b"cordon-probe")
        time.sleep(0.2)
        s.send(b"cordon-probe")
        s.settimeout(1)
        return s.recv(64)
    finally:
        s.close()
for host in ("192.0.2.1", "127.0.0.1", "{GATEWAY}"):
    attempt(f"tcp {host}", lambda: tcp(host))
    attempt(f"udp {host}", lambda: udp(host))
attempt("tcp [2001:db8::1]", lambda: tcp("2001:db8::1", socket.AF_INET6))
attempt("dns cordon-probe.example", lambda: socket.getaddrinfo("cordon-probe.example", 80))
attempt("raw icmp socket", lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))
attempt("raw tcp socket", lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP))
attempt("packet socket", lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3)))
def ping():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
    try:
        s.sendto(b"\x08\x00\xf7\xff\x00\x00\x00\x00", ("192.0.2.1", 0))
    finally:
        s.close()
attempt("icmp ping 192.0.2.1", ping)
print("done")
"#;

/// The host's address on the engine's default bridge (the "loopback of the
/// host" as a container would reach it).
async fn bridge_gateway(d: &DockerBackend) -> String {
    let inspect = d.client().inspect_network("bridge", None).await;
    inspect
        .ok()
        .and_then(|n| n.ipam?.config?.into_iter().find_map(|c| c.gateway))
        .unwrap_or_else(|| "172.17.0.1".to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn network_attempts_all_fail_and_nothing_reaches_the_host() {
    let d = engine!("network_attempts_all_fail_and_nothing_reaches_the_host");
    let gateway = bridge_gateway(&d).await;
    // Listeners of this test on every host address, TCP and UDP on one port:
    // if the sandbox had a route to the host, they would see it.
    let (tcp, udp) = loop {
        let tcp = std::net::TcpListener::bind("0.0.0.0:0").expect("bind tcp");
        let port = tcp.local_addr().expect("addr").port();
        if let Ok(udp) = std::net::UdpSocket::bind(("0.0.0.0", port)) {
            break (tcp, udp);
        }
    };
    let port = tcp.local_addr().expect("addr").port();
    tcp.set_nonblocking(true).expect("nonblocking");
    udp.set_nonblocking(true).expect("nonblocking");
    let code = format!(
        "{PY_PRELUDE}{}",
        NETWORK
            .replace("{PORT}", &port.to_string())
            .replace("{GATEWAY}", &gateway)
    );
    let r = run(&d, Language::Python, &code).await;
    const UNREACH: &[&str] = &["ENETUNREACH"];
    let expected: Vec<(String, &[&str])> = vec![
        ("tcp 192.0.2.1".into(), UNREACH),
        ("udp 192.0.2.1".into(), UNREACH),
        // 127.0.0.1 is the sandbox's own loopback: nothing listens there.
        ("tcp 127.0.0.1".into(), &["ECONNREFUSED"]),
        ("udp 127.0.0.1".into(), &["ECONNREFUSED"]),
        (format!("tcp {gateway}"), UNREACH),
        (format!("udp {gateway}"), UNREACH),
        (
            "tcp [2001:db8::1]".into(),
            &["ENETUNREACH", "EADDRNOTAVAIL", "EAFNOSUPPORT"],
        ),
        // -3 is EAI_AGAIN: no resolver could be reached. A reached resolver
        // would answer NXDOMAIN for the reserved .example name (-2, EAI_NONAME).
        ("dns cordon-probe.example".into(), &["-3"]),
        ("raw icmp socket".into(), &["EPERM"]),
        ("raw tcp socket".into(), &["EPERM"]),
        // Refused by family in cordon's profile (EPERM, no CAP_NET_RAW, without it).
        ("packet socket".into(), &["EAFNOSUPPORT"]),
        ("icmp ping 192.0.2.1".into(), UNREACH),
    ];
    let expected: Vec<(&str, &[&str])> = expected.iter().map(|(n, e)| (n.as_str(), *e)).collect();
    assert_all_failed(&r, &expected);
    assert!(r.stdout.starts_with("interfaces lo\n"), "{}", r.stdout);
    assert!(
        matches!(tcp.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "a connection reached the host listener"
    );
    let mut buf = [0u8; 64];
    assert!(
        matches!(udp.recv_from(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "a datagram reached the host"
    );
}

// -------------------------------------------------------------- side doors

/// Families outside the runtimes' needs: each one reaches something that
/// `network: none` does not cover (the hypervisor through vsock, link-layer
/// frames, the kernel's crypto API, key management, cluster transports) or
/// makes the kernel load a protocol module on the sandbox's behalf.
const SIDE_DOOR_FAMILIES: &str = r#"
import socket
L = ctypes.c_long
X86 = __import__("platform").machine() == "x86_64"
SYS_SOCKET, SYS_SOCKETPAIR = (41, 53) if X86 else (198, 199)
STREAM, DGRAM, RAW, RDM, SEQPACKET = 1, 2, 3, 4, 5
# (name, family, type, protocol). Creating the socket is the whole check:
# nothing is ever bound, connected or sent.
FAMILIES = [
    ("AF_VSOCK", 40, STREAM, 0),
    ("AF_PACKET", 17, RAW, socket.htons(3)),
    ("AF_BLUETOOTH", 31, RAW, 1),
    ("AF_CAN", 29, RAW, 1),
    ("AF_XDP", 44, RAW, 0),
    ("AF_KEY", 15, RAW, 2),
    ("AF_TIPC", 30, RDM, 0),
    ("AF_RDS", 21, SEQPACKET, 0),
    ("AF_ALG", 38, SEQPACKET, 0),
    # Netlink protocols other than NETLINK_ROUTE (uevents, audit, crypto, generic).
    ("AF_NETLINK uevent", 16, RAW, 15),
    ("AF_NETLINK audit", 16, RAW, 9),
    ("AF_NETLINK crypto", 16, RAW, 21),
    ("AF_NETLINK generic", 16, RAW, 16),
]
for name, family, kind, proto in FAMILIES:
    isolated(f"socket {name}", lambda: libc.syscall(L(SYS_SOCKET), L(family), L(kind), L(proto)))
# The family is an int: a value with high bits set is the same family to
# the kernel, so it must not slip past a filter that compares 64 bits.
isolated("socket AF_VSOCK, high bits set", lambda: libc.syscall(L(SYS_SOCKET), L((1 << 32) | 40), L(STREAM), L(0)))
isolated("socket AF_ALG, high bits set", lambda: libc.syscall(L(SYS_SOCKET), L((7 << 32) | 38), L(SEQPACKET), L(0)))
pair = (ctypes.c_int * 2)()
isolated("socketpair AF_VSOCK", lambda: libc.syscall(L(SYS_SOCKETPAIR), L(40), L(STREAM), L(0), pair))
isolated("socketpair AF_TIPC", lambda: libc.syscall(L(SYS_SOCKETPAIR), L(30), L(RDM), L(0), pair))
print("done")
"#;

/// The families the runtimes need keep working in the same sandbox.
const ORDINARY_FAMILIES: &str = r#"
import socket
def unix_pair():
    a, b = socket.socketpair()
    a.sendall(b"ping")
    return b.recv(4)
def inet_loopback(family, host):
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.bind((host, 0))
    srv.listen(1)
    c = socket.create_connection(srv.getsockname()[:2])
    conn, _ = srv.accept()
    c.sendall(b"pong")
    return conn.recv(4)
def netlink_route():
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
    s.close()
    return [n for _, n in socket.if_nameindex()]
for name, fn in (("AF_UNIX socketpair", unix_pair),
                 ("AF_INET loopback", lambda: inet_loopback(socket.AF_INET, "127.0.0.1")),
                 # IPv6 is switched off in a namespace without a network: the socket is made, ::1 is not there.
                 ("AF_INET6 socket", lambda: socket.socket(socket.AF_INET6, socket.SOCK_STREAM).close()),
                 ("AF_NETLINK route", netlink_route)):
    try:
        print(f"{name}: ok {fn()!r}")
    except OSError as e:
        print(f"{name}: error {ename(e.errno)}")
"#;

#[tokio::test(flavor = "multi_thread")]
async fn sockets_of_families_beyond_ip_cannot_be_created() {
    let d = engine!("sockets_of_families_beyond_ip_cannot_be_created");
    let r = run(
        &d,
        Language::Python,
        &format!("{PY_PRELUDE}{SIDE_DOOR_FAMILIES}"),
    )
    .await;
    // cordon's profile answers EAFNOSUPPORT for every family it does not
    // allow, as a kernel without that family would.
    const REFUSED: &[&str] = &["EAFNOSUPPORT"];
    let names = [
        "AF_VSOCK",
        "AF_PACKET",
        "AF_BLUETOOTH",
        "AF_CAN",
        "AF_XDP",
        "AF_KEY",
        "AF_TIPC",
        "AF_RDS",
        "AF_ALG",
        "AF_NETLINK uevent",
        "AF_NETLINK audit",
        "AF_NETLINK crypto",
        "AF_NETLINK generic",
        "AF_VSOCK, high bits set",
        "AF_ALG, high bits set",
    ];
    let mut expected: Vec<(String, &[&str])> = names
        .iter()
        .map(|n| (format!("socket {n}"), REFUSED))
        .collect();
    expected.push(("socketpair AF_VSOCK".into(), REFUSED));
    expected.push(("socketpair AF_TIPC".into(), REFUSED));
    let expected: Vec<(&str, &[&str])> = expected.iter().map(|(n, e)| (n.as_str(), *e)).collect();
    assert_all_failed(&r, &expected);

    let r = run(
        &d,
        Language::Python,
        &format!("{PY_PRELUDE}{ORDINARY_FAMILIES}"),
    )
    .await;
    assert_eq!(r.exit_code, Some(0), "{}", r.stderr);
    for line in [
        "AF_UNIX socketpair: ok b'ping'",
        "AF_INET loopback: ok b'pong'",
        "AF_INET6 socket: ok None",
        "AF_NETLINK route: ok ['lo']",
    ] {
        assert!(r.stdout.lines().any(|l| l == line), "{line}\n{}", r.stdout);
    }
}

/// `memfd_create` is refused, so a program cannot write a binary to memory
/// and `execve` it past the `noexec` mounts; the other writable places are
/// `noexec`, so a dropped binary runs nowhere.
const MEMFD: &str = r#"
import shutil, subprocess
attempt("memfd_create", lambda: os.memfd_create("payload"))
X86 = __import__("platform").machine() == "x86_64"
isolated("memfd_create raw", lambda: libc.syscall(ctypes.c_long(319 if X86 else 279), b"payload", ctypes.c_long(0)))
for d in ("/tmp", "/dev/shm"):
    dst = d + "/true-copy"
    try:
        shutil.copy("/bin/true", dst)
        os.chmod(dst, 0o755)
    except OSError as e:
        say(f"exec from {d}", False, ename(e.errno))
        continue
    attempt(f"exec from {d}", lambda: subprocess.run([dst], timeout=5).returncode)
print("done")
"#;

#[tokio::test(flavor = "multi_thread")]
async fn binaries_cannot_be_executed_from_memory_or_writable_mounts() {
    let d = engine!("binaries_cannot_be_executed_from_memory_or_writable_mounts");
    let r = run(&d, Language::Python, &format!("{PY_PRELUDE}{MEMFD}")).await;
    assert_all_failed(
        &r,
        &[
            ("memfd_create", &["EPERM"]),
            ("memfd_create raw", &["EPERM"]),
            ("exec from /tmp", &["EACCES"]),
            ("exec from /dev/shm", &["EACCES"]),
        ],
    );
}

const ORDINARY_PYTHON: &str = r#"
import ctypes, ctypes.util, hashlib, multiprocessing as mp, socket, sqlite3, subprocess, uuid
from multiprocessing import shared_memory
from concurrent.futures import ThreadPoolExecutor
def square(x):
    return x * x
if __name__ == "__main__":
    mp.set_start_method("fork")
    with mp.Pool(2) as pool:
        print("pool", sum(pool.map(square, range(10))))
    shared = mp.Value("i", 41)
    p = mp.Process(target=square, args=(3,))
    p.start(); p.join()
    print("process", p.exitcode, shared.value + 1)
    with ThreadPoolExecutor(4) as ex:
        print("threads", sum(ex.map(square, range(10))))
    libm = ctypes.CDLL(ctypes.util.find_library("m"))
    libm.cbrt.restype = ctypes.c_double
    libm.cbrt.argtypes = [ctypes.c_double]
    print("ctypes", libm.cbrt(27.0))
    db = sqlite3.connect(":memory:")
    print("sqlite", db.execute("select 6 * 7").fetchone()[0])
    print("sha256", hashlib.sha256(b"cordon").hexdigest()[:8])
    print("subprocess", subprocess.run(["echo", "hi"], capture_output=True, text=True).stdout.strip())
    shm = shared_memory.SharedMemory(create=True, size=4096)
    shm.buf[:2] = b"ok"
    print("shared_memory", bytes(shm.buf[:2]).decode())
    shm.close(); shm.unlink()
    print("uuid", len(str(uuid.uuid4())))
    print("hostname", socket.gethostname())
    print("getaddrinfo", socket.getaddrinfo("127.0.0.1", 80, type=socket.SOCK_STREAM)[0][4][0])
    print("done")
"#;

const ORDINARY_JAVASCRIPT: &str = r#"
const { Worker } = require('worker_threads');
const os = require('os');
const crypto = require('crypto');
const zlib = require('zlib');
const net = require('net');
const { execSync } = require('child_process');
// (module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))
const wasm = new Uint8Array([0,97,115,109,1,0,0,0,1,7,1,96,2,127,127,1,127,3,2,1,0,7,7,1,3,97,100,100,0,0,10,9,1,7,0,32,0,32,1,106,11]);
(async () => {
  const { instance } = await WebAssembly.instantiate(wasm);
  console.log('wasm', instance.exports.add(40, 2));
  const w = new Worker('require("worker_threads").parentPort.postMessage(6 * 7);', { eval: true });
  console.log('worker', await new Promise((res, rej) => { w.on('message', res); w.on('error', rej); }));
  let hot = 0; for (let i = 0; i < 5e6; i++) hot += i % 7;
  console.log('jit', hot);
  console.log('sha256', crypto.createHash('sha256').update('cordon').digest('hex').slice(0, 8));
  console.log('zlib', zlib.gunzipSync(zlib.gzipSync('abc')).toString());
  console.log('interfaces', Object.keys(os.networkInterfaces()).join(','));
  console.log('child', execSync('echo hi').toString().trim());
  const srv = net.createServer(c => c.end('pong')).listen(0, '127.0.0.1', () => {
    const c = net.connect(srv.address().port, '127.0.0.1');
    c.on('data', d => { console.log('tcp', d.toString()); c.destroy(); srv.close(); console.log('done'); });
  });
})().catch(e => { console.log('error', e.code || e.message); process.exit(1); });
"#;

const ORDINARY_BASH: &str = r#"
set -euo pipefail
echo "pipe $(seq 1 100 | awk '{s+=$1} END {print s}')"
read -r x <<< "here-string"; echo "$x"
cat <<DOC | tr a-z A-Z
here-doc
DOC
diff <(echo a) <(echo a) && echo "process substitution"
coproc upper { tr a-z A-Z; }
echo "coproc" >&"${upper[1]}"; exec {upper[1]}>&-; read -r y <&"${upper[0]}"; echo "$y"
( sleep 0.1; echo "background" ) & wait
mapfile -t lines < <(printf '%s\n' one two three); echo "mapfile ${#lines[@]}"
echo done
"#;

/// Ordinary programs that lean on the kernel in less common ways (worker
/// threads and processes, shared memory, wasm, JIT-compiled code, native
/// code through ctypes, loopback TCP, shell plumbing) run the same without
/// `memfd_create` and with the narrowed socket families.
#[tokio::test(flavor = "multi_thread")]
async fn ordinary_programs_run_under_the_narrowed_profile() {
    let d = engine!("ordinary_programs_run_under_the_narrowed_profile");
    let (py, js, sh) = tokio::join!(
        run(&d, Language::Python, ORDINARY_PYTHON),
        run(&d, Language::Javascript, ORDINARY_JAVASCRIPT),
        run(&d, Language::Bash, ORDINARY_BASH)
    );
    let cases: [(&ExecutionResult, &[&str]); 3] = [
        (
            &py,
            &[
                "pool 285",
                "process 0 42",
                "threads 285",
                "ctypes 3.0",
                "sqlite 42",
                "sha256 ",
                "subprocess hi",
                "shared_memory ok",
                "uuid 36",
                "hostname sandbox",
                "getaddrinfo 127.0.0.1",
                "done",
            ],
        ),
        (
            &js,
            &[
                "wasm 42",
                "worker 42",
                "jit ",
                "sha256 ",
                "zlib abc",
                "interfaces lo",
                "child hi",
                "tcp pong",
                "done",
            ],
        ),
        (
            &sh,
            &[
                "pipe 5050",
                "here-string",
                "HERE-DOC",
                "process substitution",
                "COPROC",
                "background",
                "mapfile 3",
                "done",
            ],
        ),
    ];
    for (r, want) in cases {
        assert_eq!(
            (r.termination_reason, r.exit_code),
            (TerminationReason::Exited, Some(0)),
            "{:?}\nstdout: {}\nstderr: {}",
            r.detail,
            r.stdout,
            r.stderr
        );
        for w in want {
            assert!(
                r.stdout.lines().any(|l| l.starts_with(w)),
                "missing {w:?}:\n{}\nstderr: {}",
                r.stdout,
                r.stderr
            );
        }
    }
}

// ------------------------------------------------------------- concurrency

/// 20 executions at once through one pipeline and one audit log, a mix of
/// ordinary and abusive programs: every ordinary one completes correctly,
/// every abusive one is contained with its reason, all 20 are audited with
/// that reason, and the hash chain verifies.
#[tokio::test(flavor = "multi_thread")]
async fn twenty_concurrent_executions_mixed_abuse_all_contained_and_audited() {
    let d = engine!("twenty_concurrent_executions_mixed_abuse_all_contained_and_audited");
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = AuditConfig {
        url: Some(format!(
            "sqlite://{}",
            dir.path().join("audit.db").display()
        )),
        key_file: Some(dir.path().join("audit.key")),
        ..Default::default()
    };
    let log = AuditLog::open(&cfg).await.expect("open audit log");
    let pipeline = Pipeline::new(
        Arc::new(d.clone()),
        Arc::new(AuditRecorder::new(log.clone())),
    );

    // (language, code, limits, expected reason, expected stdout for ordinary ones)
    type Case = (
        Language,
        String,
        LimitRequest,
        TerminationReason,
        Option<String>,
    );
    let mut cases: Vec<Case> = Vec::new();
    for i in 0..4 {
        cases.push((
            Language::Python,
            format!("print(sum(j * j for j in range(1000)) + {i})"),
            LimitRequest::default(),
            TerminationReason::Exited,
            Some(format!("{}\n", 332_833_500 + i)),
        ));
        cases.push((
            Language::Javascript,
            "console.log([1, 2, 3].map(x => x * 2).join(','))".into(),
            LimitRequest::default(),
            TerminationReason::Exited,
            Some("2,4,6\n".into()),
        ));
        cases.push((
            Language::Bash,
            "echo $((6 * 7))".into(),
            LimitRequest::default(),
            TerminationReason::Exited,
            Some("42\n".into()),
        ));
    }
    let abusive: Vec<Case> = vec![
        (Language::Bash, ":(){ :|:& };: ; sleep 5".into(), limits(|l| { l.pids = Some(32); l.cpus = Some(0.5); l.wall = wall("15s"); }), TerminationReason::Pids, None),
        (Language::Python, "x = []\nwhile True: x.append(b'x' * (8 << 20))".into(), limits(|l| l.memory = size("64Mi")), TerminationReason::Oom, None),
        (Language::Python, "while True: pass".into(), limits(|l| { l.cpu_time = wall("1s"); l.wall = wall("20s"); }), TerminationReason::CpuTime, None),
        (Language::Bash, "sleep infinity".into(), limits(|l| l.wall = wall("3s")), TerminationReason::Timeout, None),
        (Language::Bash, "yes cordon-flood".into(), limits(|l| l.output = size("64Ki")), TerminationReason::OutputLimit, None),
        (Language::Python, "import os, time\ntry:\n    while True:\n        if os.fork() == 0: os._exit(0)\nexcept OSError:\n    time.sleep(3600)".into(), limits(|l| { l.pids = Some(32); l.wall = wall("15s"); }), TerminationReason::Pids, None),
        (Language::Python, "try:\n    with open('/tmp/f', 'wb') as f:\n        while True: f.write(b'x' * (1 << 20))\nexcept OSError as e:\n    print('contained', e.errno in (27, 28))".into(), LimitRequest::default(), TerminationReason::Exited, Some("contained True\n".into())),
        (Language::Python, "import socket\ns = socket.socket(); s.settimeout(2)\ntry:\n    s.connect(('192.0.2.1', 80)); print('connected')\nexcept OSError as e:\n    print('contained', e.errno)".into(), LimitRequest::default(), TerminationReason::Exited, Some("contained 101\n".into())),
    ];
    // Interleave so abusive and ordinary runs start together.
    for (i, a) in abusive.into_iter().enumerate() {
        cases.insert(i * 2 + 1, a);
    }
    assert_eq!(cases.len(), 20);

    let t = Instant::now();
    let runs = cases.iter().enumerate().map(|(i, (lang, code, l, _, _))| {
        let p = pipeline.clone();
        let mut sub = Submission::new(*lang, code.as_bytes().to_vec(), permissive());
        sub.limits = *l;
        sub.tenant = format!("t{i}");
        async move { p.execute(sub, &mut NullSink).await }
    });
    let results = futures_util::future::join_all(runs).await;
    eprintln!("20 concurrent executions took {:?}", t.elapsed());

    for (i, (r, (lang, code, _, reason, stdout))) in results.iter().zip(&cases).enumerate() {
        assert_eq!(
            r.termination_reason, *reason,
            "#{i} {lang} {code:?}: {:?} {}",
            r.detail, r.stderr
        );
        if *reason == TerminationReason::Exited {
            assert_eq!(r.exit_code, Some(0), "#{i} {lang}: {}", r.stderr);
        }
        if let Some(want) = stdout {
            assert_eq!(&r.stdout, want, "#{i} {lang}");
        }
        assert_no_container(&d, &r.id.to_string()).await;
    }

    log.flush().await.expect("flush");
    let rows = log
        .query(&QueryFilter {
            limit: Some(100),
            ..Default::default()
        })
        .await
        .expect("query");
    assert_eq!(rows.len(), 20, "every execution is recorded");
    for r in &results {
        let row = rows
            .iter()
            .find(|x| x.id == r.id.to_string())
            .unwrap_or_else(|| panic!("{} not audited", r.id));
        assert_eq!(
            row.termination_reason.as_deref(),
            Some(r.termination_reason.as_str()),
            "{}",
            r.id
        );
        assert_eq!(row.verdict.as_deref(), Some("allow"));
        assert!(row.finished_at.is_some());
    }
    let report = log
        .verify(VerifyOptions {
            rows: true,
            payloads: true,
            ..Default::default()
        })
        .await
        .expect("verify");
    assert!(
        report.ok(),
        "chain broken: {:?} {:?}",
        report.broken,
        report.problems
    );
    assert!(
        report.checked >= 20 * 5,
        "only {} events checked",
        report.checked
    );
    log.close().await.expect("close");
}
