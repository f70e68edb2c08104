//! The seccomp profile every sandbox runs under: an allowlist, like the
//! engine's default profile, that additionally refuses every way one process
//! can read or steer another (`ptrace`, `process_vm_readv`/`writev`,
//! `pidfd_getfd`, `process_madvise`, `kcmp`), sockets of address families
//! the runtimes do not use, and `memfd_create`.
//!
//! Why not the engine default: it allows `ptrace` on kernels >= 4.8, so two
//! processes of one submission (same uid, same PID namespace) could trace
//! each other. Nothing outside the sandbox is visible to them, but a
//! sandbox should not hand out a debugger either.
//!
//! The shape, and why:
//! - the default action is `ENOSYS`, so a syscall this list does not know
//!   (one newer than the list) looks unimplemented and libc falls back to
//!   an older one, as glibc does for `clone3` and `faccessat2`;
//! - [`DENIED`] answers `EPERM`: the syscalls the engine default also
//!   refuses to a container without capabilities (modules, keyrings, mounts,
//!   namespaces, kexec, BPF, perf, NUMA policy, clock setting, ...), plus
//!   the process-inspection ones above and `io_uring` (a large kernel
//!   surface the three runtimes do not need);
//! - `socket` and `socketpair` are allowed only for the address families
//!   the runtimes use: `AF_UNIX`, `AF_INET`, `AF_INET6`, and `AF_NETLINK`
//!   with protocol `NETLINK_ROUTE` (glibc's `getifaddrs`, behind Node's
//!   `os.networkInterfaces()`, lists interfaces through it). Every other
//!   family answers `EAFNOSUPPORT`, as a kernel without it would: `network:
//!   none` empties the network namespace, but `AF_VSOCK` reaches the
//!   hypervisor host, `AF_ALG` the kernel's crypto API, and others make the
//!   kernel load a protocol module on the sandbox's behalf. The family is
//!   compared as all 64 bits of the register: a value with high bits set
//!   (the same `int` family to the kernel) matches no allowed family and
//!   is refused by the `> AF_NETLINK` rule;
//! - `memfd_create` answers `EPERM`: `/tmp` and `/dev/shm` are `noexec`,
//!   and a memfd is the one writable file left that `execve` would run.
//!   None of the three runtimes needs it (`tests/escape_docker.rs` runs
//!   multiprocessing, shared memory, worker threads, wasm and ctypes
//!   without it);
//! - `clone` is allowed only without namespace flags, `clone3` answers
//!   `ENOSYS` (its flags are in memory, where seccomp cannot look), and
//!   `personality` only with the values the engine default allows;
//! - native architectures only (x86-64, AArch64): a 32-bit syscall entry
//!   (`int 0x80`) matches no architecture of the filter and is refused.
//!
//! The lists were derived from the kernel's syscall table for x86-64
//! (`asm/unistd_64.h` of Linux 6.1); names unknown on AArch64 are skipped by
//! the runtime. The unit tests check that every syscall of the installed
//! table has a decision, so a new kernel header shows what to decide.

use std::sync::OnceLock;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Name of the profile in results and audit records (v2: socket families
/// narrowed, `memfd_create` refused).
pub const PROFILE_NAME: &str = "cordon-v2";

const EPERM: u32 = 1;
const ENOSYS: u32 = 38;
const EAFNOSUPPORT: u32 = 97;
/// Address families `socket`/`socketpair` may create.
const AF_UNIX: u64 = 1;
const AF_INET: u64 = 2;
const AF_INET6: u64 = 10;
const AF_NETLINK: u64 = 16;
/// The only netlink protocol allowed: routing (interface and address lists).
const NETLINK_ROUTE: u64 = 0;
/// Namespace flags of `clone`: NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET.
const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0000;

/// Allowed without conditions.
const ALLOWED: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "arch_prctl",
    "bind",
    "brk",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "clock_getres",
    "clock_gettime",
    "clock_nanosleep",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchown",
    "fchownat",
    "fcntl",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstatfs",
    "fsync",
    "ftruncate",
    "futex",
    "futex_waitv",
    "futimesat",
    "get_robust_list",
    "get_thread_area",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "geteuid",
    "getgid",
    "getgroups",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresuid",
    "getrlimit",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "gettid",
    "gettimeofday",
    "getuid",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_setup",
    "io_submit",
    "ioctl",
    "ioprio_get",
    "ioprio_set",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "madvise",
    "membarrier",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedsend",
    "mq_unlink",
    "mremap",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "nanosleep",
    "newfstatat",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recvfrom",
    "recvmmsg",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_tgsigqueueinfo",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "sendfile",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "set_robust_list",
    "set_thread_area",
    "set_tid_address",
    "setfsgid",
    "setfsuid",
    "setgid",
    "setgroups",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setresgid",
    "setresuid",
    "setreuid",
    "setrlimit",
    "setsid",
    "setsockopt",
    "setuid",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "splice",
    "stat",
    "statfs",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_settime",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_settime",
    "times",
    "tkill",
    "truncate",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "write",
    "writev",
];

/// Refused with EPERM.
const DENIED: &[&str] = &[
    "_sysctl",
    "acct",
    "add_key",
    "afs_syscall",
    "bpf",
    "chroot",
    "clock_adjtime",
    "clock_settime",
    "create_module",
    "delete_module",
    "fanotify_init",
    "finit_module",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "get_kernel_syms",
    "get_mempolicy",
    "getpmsg",
    "init_module",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "ioperm",
    "iopl",
    "kcmp",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mbind",
    "memfd_create",
    "migrate_pages",
    "modify_ldt",
    "mount",
    "mount_setattr",
    "move_mount",
    "move_pages",
    "name_to_handle_at",
    "nfsservctl",
    "open_by_handle_at",
    "open_tree",
    "perf_event_open",
    "pidfd_getfd",
    "pivot_root",
    "process_madvise",
    "process_vm_readv",
    "process_vm_writev",
    "ptrace",
    "putpmsg",
    "query_module",
    "quotactl",
    "quotactl_fd",
    "reboot",
    "request_key",
    "security",
    "set_mempolicy",
    "set_mempolicy_home_node",
    "setdomainname",
    "sethostname",
    "setns",
    "settimeofday",
    "swapoff",
    "swapon",
    "sysfs",
    "syslog",
    "tuxcall",
    "umount2",
    "unshare",
    "uselib",
    "userfaultfd",
    "ustat",
    "vhangup",
    "vserver",
];

/// The profile as the Engine API takes it (`SecurityOpt: seccomp=<json>`).
pub fn profile_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| profile().to_string())
}

/// `cordon-v2 sha256:<hex>`: which profile, exactly, a sandbox ran under.
pub fn profile_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let digest = Sha256::digest(profile_json().as_bytes());
        format!("{PROFILE_NAME} sha256:{}", hex::encode(digest))
    })
}

fn profile() -> Value {
    let personality_values: [u64; 5] = [0x0, 0x8, 0x2_0000, 0x2_0008, 0xffff_ffff];
    let mut syscalls = vec![
        json!({ "names": ALLOWED, "action": "SCMP_ACT_ALLOW" }),
        json!({ "names": DENIED, "action": "SCMP_ACT_ERRNO", "errnoRet": EPERM }),
        json!({
            "names": ["clone"],
            "action": "SCMP_ACT_ALLOW",
            "args": [{
                "index": 0,
                "value": CLONE_NAMESPACE_FLAGS,
                "valueTwo": 0,
                "op": "SCMP_CMP_MASKED_EQ"
            }]
        }),
        json!({ "names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS }),
    ];
    syscalls.extend(socket_rules());
    for value in personality_values {
        syscalls.push(json!({
            "names": ["personality"],
            "action": "SCMP_ACT_ALLOW",
            "args": [{ "index": 0, "value": value, "valueTwo": 0, "op": "SCMP_CMP_EQ" }]
        }));
    }
    json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": ENOSYS,
        "archMap": [
            { "architecture": "SCMP_ARCH_X86_64", "subArchitectures": [] },
            { "architecture": "SCMP_ARCH_AARCH64", "subArchitectures": [] }
        ],
        "syscalls": syscalls
    })
}

/// `socket` and `socketpair` by address family (argument 0). The rules
/// cover every 64-bit value without overlapping, so no two actions compete:
/// the allowed families by equality, netlink split by protocol (argument
/// 2), each refused family below netlink by equality, and everything above
/// netlink (including values with high bits set) by one comparison.
fn socket_rules() -> Vec<Value> {
    let names = ["socket", "socketpair"];
    let eq = |index: u32, value: u64| json!({ "index": index, "value": value, "valueTwo": 0, "op": "SCMP_CMP_EQ" });
    let mut rules = Vec::new();
    for family in [AF_UNIX, AF_INET, AF_INET6] {
        rules.push(json!({ "names": names, "action": "SCMP_ACT_ALLOW", "args": [eq(0, family)] }));
    }
    rules.push(json!({
        "names": names,
        "action": "SCMP_ACT_ALLOW",
        "args": [eq(0, AF_NETLINK), eq(2, NETLINK_ROUTE)]
    }));
    rules.push(json!({
        "names": names,
        "action": "SCMP_ACT_ERRNO",
        "errnoRet": EAFNOSUPPORT,
        "args": [
            eq(0, AF_NETLINK),
            { "index": 2, "value": NETLINK_ROUTE, "valueTwo": 0, "op": "SCMP_CMP_NE" }
        ]
    }));
    for family in (0..AF_NETLINK).filter(|f| ![AF_UNIX, AF_INET, AF_INET6].contains(f)) {
        rules.push(json!({
            "names": names,
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": EAFNOSUPPORT,
            "args": [eq(0, family)]
        }));
    }
    rules.push(json!({
        "names": names,
        "action": "SCMP_ACT_ERRNO",
        "errnoRet": EAFNOSUPPORT,
        "args": [{ "index": 0, "value": AF_NETLINK, "valueTwo": 0, "op": "SCMP_CMP_GT" }]
    }));
    rules
}

/// What the profile answers to `socket(family, _, protocol)`: `None` for
/// allowed, `Some(errno)` for refused. Evaluates [`socket_rules`] the way
/// the kernel's filter does, so tests can check the rules, not a copy of them.
#[cfg(test)]
fn socket_verdict(family: u64, protocol: u64) -> Option<u32> {
    let holds = |cond: &Value| {
        let arg = match cond["index"].as_u64() {
            Some(0) => family,
            Some(2) => protocol,
            _ => return false,
        };
        let value = cond["value"].as_u64().unwrap_or(u64::MAX);
        match cond["op"].as_str() {
            Some("SCMP_CMP_EQ") => arg == value,
            Some("SCMP_CMP_NE") => arg != value,
            Some("SCMP_CMP_GT") => arg > value,
            _ => false,
        }
    };
    let matching: Vec<Value> = socket_rules()
        .into_iter()
        .filter(|r| r["args"].as_array().is_some_and(|a| a.iter().all(holds)))
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "family {family:#x} protocol {protocol}: {matching:?}"
    );
    match matching[0]["action"].as_str() {
        Some("SCMP_ACT_ALLOW") => None,
        _ => Some(matching[0]["errnoRet"].as_u64().unwrap_or(0) as u32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn lists_are_disjoint_and_ptrace_family_is_denied() {
        let allowed: BTreeSet<_> = ALLOWED.iter().collect();
        let denied: BTreeSet<_> = DENIED.iter().collect();
        assert_eq!(allowed.len(), ALLOWED.len(), "duplicate in ALLOWED");
        assert_eq!(denied.len(), DENIED.len(), "duplicate in DENIED");
        assert!(allowed.is_disjoint(&denied));
        for name in [
            "ptrace",
            "process_vm_readv",
            "process_vm_writev",
            "pidfd_getfd",
            "kcmp",
            "unshare",
            "setns",
            "mount",
            "keyctl",
            "bpf",
            "init_module",
            "io_uring_setup",
        ] {
            assert!(denied.contains(&name), "{name} must be denied");
        }
        assert!(
            denied.contains(&"memfd_create"),
            "memfd_create must be denied"
        );
        for name in ["clone", "clone3", "personality", "socket", "socketpair"] {
            assert!(
                !allowed.contains(&name) && !denied.contains(&name),
                "{name} is conditional"
            );
        }
    }

    #[test]
    fn profile_shape() {
        let v: Value = serde_json::from_str(profile_json()).unwrap();
        assert_eq!(v["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(v["defaultErrnoRet"], ENOSYS);
        let rules = v["syscalls"].as_array().unwrap();
        let clone = rules.iter().find(|r| r["names"][0] == "clone").unwrap();
        assert_eq!(clone["args"][0]["value"], CLONE_NAMESPACE_FLAGS);
        assert!(profile_id().starts_with("cordon-v2 sha256:"));
        assert_eq!(profile_id().len(), "cordon-v2 sha256:".len() + 64);
    }

    #[test]
    fn only_the_runtimes_socket_families_are_allowed() {
        // Exactly one rule matches each value (no competing actions).
        for family in 0..200u64 {
            for protocol in [0, 1, 9, 15, 16, 21] {
                let verdict = socket_verdict(family, protocol);
                let allowed = matches!(family, AF_UNIX | AF_INET | AF_INET6)
                    || (family == AF_NETLINK && protocol == NETLINK_ROUTE);
                if allowed {
                    assert_eq!(verdict, None, "family {family} protocol {protocol}");
                } else {
                    assert_eq!(
                        verdict,
                        Some(EAFNOSUPPORT),
                        "family {family} protocol {protocol}"
                    );
                }
            }
        }
        // AF_VSOCK, AF_INET and AF_NETLINK with high bits set: the kernel
        // truncates to int, the filter must not.
        for value in [
            (1u64 << 32) | 40,
            (1 << 32) | AF_INET,
            (1 << 63) | AF_NETLINK,
            u64::MAX,
        ] {
            assert_eq!(socket_verdict(value, 0), Some(EAFNOSUPPORT), "{value:#x}");
        }
        assert_eq!(socket_verdict(AF_NETLINK, 1 << 32), Some(EAFNOSUPPORT));
    }

    /// Every syscall in the installed x86-64 table is allowed, denied or
    /// conditional: a syscall added by a newer kernel header fails this test
    /// until someone decides about it (until then the sandbox answers ENOSYS).
    #[test]
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    fn every_syscall_of_the_installed_table_has_a_decision() {
        let header = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h";
        let Ok(text) = std::fs::read_to_string(header) else {
            eprintln!("{header} not installed (linux-libc-dev); nothing to compare");
            return;
        };
        let known: BTreeSet<&str> = ALLOWED
            .iter()
            .chain(DENIED)
            .copied()
            .chain(["clone", "clone3", "personality", "socket", "socketpair"])
            .collect();
        let missing: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("#define __NR_"))
            .filter_map(|l| l.split_whitespace().next())
            .filter(|name| !known.contains(name))
            .collect();
        assert!(missing.is_empty(), "no decision for: {missing:?}");
    }
}
