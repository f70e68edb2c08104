//! The isolation self-test behind `cordon doctor` and `serve` startup.
//!
//! For every runtime in the policy, a probe container is started with the
//! exact [`SandboxSpec`] real work gets (same image, limits and hardening)
//! and a Bash probe reads the fence back from inside: identity,
//! capabilities, no-new-privileges, seccomp, read-only rootfs, the `/tmp`
//! tmpfs, network interfaces and a connect to a never-routed address, the
//! docker socket and host mounts, the environment, the cgroup limits, the
//! in-sandbox deadline (PID 1), and, where the image has `python3`, that
//! sockets of families beyond IP and `memfd_create` are refused.
//! Any failed check fails the whole test: callers refuse to serve.
//! [`engine_checks`] adds what the engine says about itself (rootless or
//! user-namespace remapping), which informs and never fails the test.
//!
//! The probe is a fixed script owned by cordon; it only reads and reports
//! (the socket probe creates sockets and closes them, never connects).

use serde::Serialize;
use uuid::Uuid;

use crate::policy::Policy;
use crate::sandbox::docker::DockerBackend;
use crate::sandbox::{Backend, CancelToken, NullSink, Program, SandboxSpec, TerminationReason};
use crate::Language;

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// The runtime image it ran in, or `host`.
    pub scope: String,
    pub name: String,
    pub passed: bool,
    /// Informational checks (host features) never fail the test.
    pub required: bool,
    pub detail: String,
}

/// All checks of one self-test.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DoctorReport {
    pub checks: Vec<Check>,
}

impl DoctorReport {
    /// Whether every required check passed.
    pub fn passed(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.passed || !c.required)
    }

    /// The required checks that failed.
    pub fn failures(&self) -> Vec<&Check> {
        self.checks
            .iter()
            .filter(|c| c.required && !c.passed)
            .collect()
    }

    /// A plain-text table of the checks.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<22} {:<26} {:<6} {}\n",
            "SCOPE", "CHECK", "RESULT", "DETAIL"
        );
        for c in &self.checks {
            let result = match (c.passed, c.required) {
                (true, _) => "pass",
                (false, true) => "FAIL",
                (false, false) => "info",
            };
            out.push_str(&format!(
                "{:<22} {:<26} {:<6} {}\n",
                c.scope, c.name, result, c.detail
            ));
        }
        out
    }
}

const PROBE: &str = r#"
echo "uid=$(id -u)"
echo "gid=$(id -g)"
while IFS=$':\t ' read -r k v _; do
  case "$k" in CapEff|CapPrm|CapBnd|NoNewPrivs|Seccomp) echo "$k=$v";; esac
done < /proc/self/status
if ( : > /cordon-probe ) 2>/dev/null; then echo "rootfs=writable"; else echo "rootfs=readonly"; fi
while read -r dev mnt fs opts _; do
  [ "$mnt" = /tmp ] && echo "tmp=$fs $opts"
done < /proc/mounts
echo "ifaces=$(ls /sys/class/net | tr '\n' ' ')"
if timeout 3 bash -c 'exec 3<>/dev/tcp/192.0.2.1/80' 2>/dev/null; then echo "connect=connected"; else echo "connect=blocked"; fi
for s in /var/run/docker.sock /run/docker.sock /run/containerd/containerd.sock; do
  [ -e "$s" ] && echo "socket=$s"
done
while read -r line; do
  # mountinfo: the optional fields before " - " vary; split there.
  set -- ${line%% - *}; mnt=$5
  set -- ${line#* - }; fs=$1; src=$2
  case "$mnt" in /etc/hosts|/etc/hostname|/etc/resolv.conf) continue;; esac
  case "$fs" in overlay|proc|tmpfs|sysfs|devpts|mqueue|cgroup|cgroup2) continue;; esac
  echo "mount=$mnt $fs $src"
done < /proc/self/mountinfo
echo "env=$(env | cut -d= -f1 | sort | tr '\n' ' ')"
if [ -r /sys/fs/cgroup/memory/memory.limit_in_bytes ]; then
  echo "memory=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"
  echo "pids=$(cat /sys/fs/cgroup/pids/pids.max)"
else
  echo "memory=$(cat /sys/fs/cgroup/memory.max 2>/dev/null)"
  echo "pids=$(cat /sys/fs/cgroup/pids.max 2>/dev/null)"
fi
echo "pid1=$(tr '\0' ' ' < /proc/1/cmdline)"
if (exec 3<>/proc/1/mem) 2>/dev/null; then echo "pid1mem=opened"; else echo "pid1mem=refused"; fi
if command -v python3 >/dev/null 2>&1; then
python3 - <<'PY'
import ctypes, errno, os, platform
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
L = ctypes.c_long
nr = 41 if platform.machine() == "x86_64" else 198
seen = []
for name, family, kind, proto in (("AF_VSOCK", 40, 1, 0), ("AF_PACKET", 17, 3, 768), ("AF_ALG", 38, 5, 0),
                                  ("AF_KEY", 15, 3, 2), ("AF_TIPC", 30, 4, 0), ("AF_RDS", 21, 5, 0),
                                  ("AF_CAN", 29, 3, 1), ("AF_BLUETOOTH", 31, 3, 1), ("AF_XDP", 44, 3, 0),
                                  ("AF_NETLINK/uevent", 16, 3, 15)):
    ctypes.set_errno(0)
    fd = libc.syscall(L(nr), L(family), L(kind), L(proto))
    if fd >= 0:
        os.close(fd)
        seen.append(f"{name}:created")
    else:
        seen.append(f"{name}:{errno.errorcode.get(ctypes.get_errno(), '?')}")
print("families=" + " ".join(seen))
try:
    os.close(os.memfd_create("cordon-probe"))
    print("memfd=created")
except OSError as e:
    print("memfd=" + errno.errorcode.get(e.errno, "?"))
PY
else
  echo "families=unchecked"
  echo "memfd=unchecked"
fi
echo "probe=done"
"#;

/// Variables the sandbox may hold: what the spec sets and what the shell adds.
const ALLOWED_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "LANG",
    "TMPDIR",
    "HOSTNAME",
    "PWD",
    "SHLVL",
    "_",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONUNBUFFERED",
    "PYTHONNOUSERSITE",
    "OLDPWD",
];

fn value<'a>(out: &'a str, key: &str) -> Option<&'a str> {
    out.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
}

fn all_values<'a>(out: &'a str, key: &str) -> Vec<&'a str> {
    out.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .collect()
}

/// Runs the self-test for every runtime in `policy`.
pub async fn self_test(backend: &dyn Backend, policy: &Policy) -> DoctorReport {
    self_test_until(backend, policy, CancelToken::new()).await
}

/// [`self_test`] that stops (killing and removing the running probe) when
/// `cancel` fires; the report then holds a failed `interrupted` check.
pub async fn self_test_until(
    backend: &dyn Backend,
    policy: &Policy,
    cancel: CancelToken,
) -> DoctorReport {
    run_self_test(backend, policy, |s| s, cancel).await
}

/// [`self_test`] with a transformation applied to each probe's spec — used by
/// tests to prove that a weakened spec is caught.
pub async fn self_test_with(
    backend: &dyn Backend,
    policy: &Policy,
    adjust: impl Fn(SandboxSpec) -> SandboxSpec,
) -> DoctorReport {
    run_self_test(backend, policy, adjust, CancelToken::new()).await
}

async fn run_self_test(
    backend: &dyn Backend,
    policy: &Policy,
    adjust: impl Fn(SandboxSpec) -> SandboxSpec,
    cancel: CancelToken,
) -> DoctorReport {
    let mut report = DoctorReport::default();
    report.checks.extend(host_checks());
    for (language, runtime) in &policy.doc.runtimes {
        if cancel.is_cancelled() {
            report.checks.push(check(
                &runtime.image,
                "probe",
                false,
                "interrupted: not run".into(),
            ));
            continue;
        }
        let scope = runtime.image.clone();
        // The probe is Bash, run in this runtime's image with this runtime's limits.
        let spec = match SandboxSpec::new(
            Uuid::new_v4(),
            Language::Bash,
            &runtime.image,
            &runtime.limits,
        ) {
            Ok(s) => adjust(s),
            Err(e) => {
                report
                    .checks
                    .push(check(&scope, "spec", false, format!("{language}: {e}")));
                continue;
            }
        };
        let outcome = backend
            .run(
                &spec,
                Program::new(PROBE.as_bytes(), &[]),
                &mut NullSink,
                cancel.clone(),
            )
            .await;
        let out = match outcome {
            Ok(o) if o.reason == TerminationReason::Exited => {
                String::from_utf8_lossy(&o.stdout).into_owned()
            }
            Ok(o) => {
                report.checks.push(check(
                    &scope,
                    "probe",
                    false,
                    format!("probe ended as {}: {:?}", o.reason, o.detail),
                ));
                continue;
            }
            Err(e) => {
                report
                    .checks
                    .push(check(&scope, "probe", false, e.to_string()));
                continue;
            }
        };
        if value(&out, "probe") != Some("done") {
            report.checks.push(check(
                &scope,
                "probe",
                false,
                format!("probe output incomplete: {out:?}"),
            ));
            continue;
        }
        report.checks.extend(judge(&scope, &out, &spec));
    }
    report
}

fn check(scope: &str, name: &str, passed: bool, detail: String) -> Check {
    Check {
        scope: scope.to_string(),
        name: name.to_string(),
        passed,
        required: true,
        detail,
    }
}

/// Judges one probe's output against the spec it ran under.
fn judge(scope: &str, out: &str, spec: &SandboxSpec) -> Vec<Check> {
    let mut c = Vec::new();
    let v = |k: &str| value(out, k).unwrap_or("?").trim().to_string();
    let (uid, gid) = (v("uid"), v("gid"));
    c.push(check(
        scope,
        "uid and gid not 0",
        uid != "0" && gid != "0" && uid != "?",
        format!("uid {uid}, gid {gid}"),
    ));
    for cap in ["CapEff", "CapPrm", "CapBnd"] {
        let val = v(cap);
        c.push(check(
            scope,
            &format!("{cap} is 0"),
            val.chars().all(|ch| ch == '0') && !val.is_empty() && val != "?",
            val,
        ));
    }
    c.push(check(
        scope,
        "NoNewPrivs is 1",
        v("NoNewPrivs") == "1",
        v("NoNewPrivs"),
    ));
    c.push(check(
        scope,
        "seccomp filtering",
        v("Seccomp") == "2",
        format!("Seccomp: {}", v("Seccomp")),
    ));
    c.push(check(
        scope,
        "rootfs read-only",
        v("rootfs") == "readonly",
        v("rootfs"),
    ));
    let tmp = v("tmp");
    let size_ok = tmp.split(',').any(|o| o.starts_with("size="));
    let tmp_ok = tmp.starts_with("tmpfs")
        && ["noexec", "nosuid", "nodev"]
            .iter()
            .all(|o| tmp.contains(o))
        && size_ok;
    c.push(check(scope, "/tmp noexec, size-limited", tmp_ok, tmp));
    let ifaces = v("ifaces");
    c.push(check(
        scope,
        "only lo interface",
        ifaces.split_whitespace().collect::<Vec<_>>() == ["lo"],
        ifaces,
    ));
    c.push(check(
        scope,
        "no route out (192.0.2.1)",
        v("connect") == "blocked",
        v("connect"),
    ));
    let sockets = all_values(out, "socket");
    c.push(check(
        scope,
        "no engine socket",
        sockets.is_empty(),
        if sockets.is_empty() {
            "none visible".into()
        } else {
            sockets.join(", ")
        },
    ));
    let mounts = all_values(out, "mount");
    c.push(check(
        scope,
        "no host mounts",
        mounts.is_empty(),
        if mounts.is_empty() {
            "none".into()
        } else {
            mounts.join("; ")
        },
    ));
    let env = v("env");
    let extra: Vec<&str> = env
        .split_whitespace()
        .filter(|k| !ALLOWED_ENV.contains(k))
        .collect();
    c.push(check(
        scope,
        "environment is clean",
        extra.is_empty(),
        if extra.is_empty() {
            env.clone()
        } else {
            format!("unexpected: {}", extra.join(" "))
        },
    ));
    let mem: Option<u64> = v("memory").parse().ok();
    c.push(check(
        scope,
        "memory limit in force",
        mem.is_some_and(|m| m <= spec.memory_bytes()),
        format!(
            "cgroup {} for {}",
            v("memory"),
            crate::units::ByteSize(spec.memory_bytes())
        ),
    ));
    let pids: Option<u64> = v("pids").parse().ok();
    c.push(check(
        scope,
        "pids limit in force",
        pids.is_some_and(|p| p <= u64::from(spec.pids())),
        format!("cgroup {} for {}", v("pids"), spec.pids()),
    ));
    let pid1 = v("pid1");
    let deadline = format!(
        "{} -s KILL {} ",
        crate::sandbox::spec::DEADLINE_BINARY,
        spec.in_sandbox_deadline().as_secs()
    );
    c.push(check(
        scope,
        "in-sandbox deadline",
        pid1.starts_with(&deadline),
        format!("PID 1: {pid1}"),
    ));
    // The deadline runs under the program's uid; only its execute-only
    // binary (non-dumpable process) keeps the program from patching it.
    c.push(check(
        scope,
        "deadline out of reach",
        v("pid1mem") == "refused",
        match v("pid1mem").as_str() {
            "refused" => "/proc/1/mem refused to the program".to_string(),
            "opened" => "the program can open /proc/1/mem: the image's deadline binary is readable (rebuild with `cordon images build`)".to_string(),
            other => format!("not reported ({other:?})"),
        },
    ));
    let families = v("families");
    let mut side_doors = check(
        scope,
        "socket families beyond IP",
        families != "?"
            && families
                .split_whitespace()
                .all(|f| f.ends_with(":EAFNOSUPPORT")),
        families.clone(),
    );
    let memfd = v("memfd");
    let mut memfd_check = check(
        scope,
        "memfd_create refused",
        memfd == "EPERM",
        format!("memfd_create: {memfd}"),
    );
    // Without python3 nothing in the image can call socket() with an
    // arbitrary family; the profile is the same in every sandbox, so the
    // check of another image covers it. Say so instead of failing.
    for (probe, value) in [(&mut side_doors, &families), (&mut memfd_check, &memfd)] {
        if value == "unchecked" {
            probe.passed = false;
            probe.required = false;
            probe.detail =
                "not checked here (no python3 in this image; the seccomp profile is the same in every sandbox)".into();
        }
    }
    c.push(side_doors);
    c.push(memfd_check);
    c
}

/// What the engine says about its own isolation from the host: whether it
/// runs rootless or remaps user namespaces. Informational: cordon cannot set
/// either, but without one the engine (and a process that escapes a
/// container) is root on the host.
pub async fn engine_checks(docker: &DockerBackend) -> Vec<Check> {
    let info = match docker.client().info().await {
        Ok(i) => i,
        Err(e) => {
            return vec![Check {
                scope: "engine".into(),
                name: "user namespace".into(),
                passed: false,
                required: false,
                detail: format!("cannot read the engine's info: {e}"),
            }]
        }
    };
    let options = info.security_options.unwrap_or_default();
    vec![judge_engine(&options)]
}

/// Judges the engine's `SecurityOptions` (`name=rootless`, `name=userns`, ...).
fn judge_engine(options: &[String]) -> Check {
    let has = |name: &str| {
        options
            .iter()
            .any(|o| o.split(',').any(|kv| kv == format!("name={name}")))
    };
    let (passed, detail) = if has("rootless") {
        (true, "rootless: the engine and its containers run as an unprivileged host user; an escape lands as that user".to_string())
    } else if has("userns") {
        (true, "userns-remap: container uids map to an unprivileged host range; an escape lands as an unprivileged host uid".to_string())
    } else {
        (
            false,
            format!(
                "the engine runs as root without user-namespace remapping ({}): an escape from a container lands as root on the host; run dockerd rootless or with --userns-remap (see README)",
                if options.is_empty() {
                    "no security options reported".to_string()
                } else {
                    options.join("; ")
                }
            ),
        )
    };
    Check {
        scope: "engine".into(),
        name: "user namespace".into(),
        passed,
        required: false,
        detail,
    }
}

/// Host features worth knowing; they inform, they do not fail the test.
fn host_checks() -> Vec<Check> {
    let apparmor = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .map(|s| s.trim() == "Y")
        .unwrap_or(false);
    let selinux = std::path::Path::new("/sys/fs/selinux/enforce").exists();
    vec![Check {
        scope: "host".into(),
        name: "LSM profile".into(),
        passed: apparmor || selinux,
        required: false,
        detail: if apparmor {
            "AppArmor enabled: the engine's docker-default profile applies".into()
        } else if selinux {
            "SELinux present: the engine's container labels apply".into()
        } else {
            "neither AppArmor nor SELinux is available on this host; seccomp, capabilities and namespaces still apply".into()
        },
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Limits;
    use crate::units::{ByteSize, HumanDuration};
    use std::time::Duration;

    fn spec() -> SandboxSpec {
        let l = Limits {
            cpus: 0.5,
            memory: ByteSize(256 << 20),
            pids: 64,
            wall: HumanDuration(Duration::from_secs(10)),
            cpu_time: HumanDuration(Duration::from_secs(5)),
            output: ByteSize(1 << 20),
            tmpfs: ByteSize(16 << 20),
        };
        SandboxSpec::new(Uuid::nil(), Language::Bash, "img", &l).unwrap()
    }

    const GOOD: &str = "uid=65534\ngid=65534\nCapPrm=0000000000000000\nCapEff=0000000000000000\nCapBnd=0000000000000000\nNoNewPrivs=1\nSeccomp=2\nrootfs=readonly\ntmp=tmpfs rw,nosuid,nodev,noexec,relatime,size=16384k\nifaces=lo \nconnect=blocked\nenv=HOME LANG PATH PWD SHLVL TMPDIR _ \nmemory=268435456\npids=64\npid1=/usr/local/libexec/cordon/timeout -s KILL 12 /bin/bash -c cat > /tmp/.cordon-main.sh \npid1mem=refused\nfamilies=AF_VSOCK:EAFNOSUPPORT AF_ALG:EAFNOSUPPORT\nmemfd=EPERM\nprobe=done\n";

    #[test]
    fn a_good_probe_passes_every_check() {
        let checks = judge("img", GOOD, &spec());
        assert!(checks.iter().all(|c| c.passed), "{checks:#?}");
    }

    #[test]
    fn each_weakness_is_caught() {
        for (from, to, name) in [
            ("uid=65534", "uid=0", "uid and gid not 0"),
            (
                "CapEff=0000000000000000",
                "CapEff=00000000a80425fb",
                "CapEff is 0",
            ),
            ("NoNewPrivs=1", "NoNewPrivs=0", "NoNewPrivs is 1"),
            ("Seccomp=2", "Seccomp=0", "seccomp filtering"),
            ("rootfs=readonly", "rootfs=writable", "rootfs read-only"),
            ("nodev,noexec,", "nodev,", "/tmp noexec, size-limited"),
            ("ifaces=lo ", "ifaces=eth0 lo ", "only lo interface"),
            (
                "connect=blocked",
                "connect=connected",
                "no route out (192.0.2.1)",
            ),
            (
                "env=HOME",
                "env=AWS_SECRET_ACCESS_KEY HOME",
                "environment is clean",
            ),
            (
                "memory=268435456",
                "memory=9223372036854771712",
                "memory limit in force",
            ),
            ("pids=64", "pids=max", "pids limit in force"),
            (
                "pid1=/usr/local/libexec/cordon/timeout -s KILL 12 ",
                "pid1=/bin/bash -c ",
                "in-sandbox deadline",
            ),
            (
                "pid1=/usr/local/libexec/cordon/timeout -s KILL 12 ",
                "pid1=/usr/local/libexec/cordon/timeout -s KILL 99 ",
                "in-sandbox deadline",
            ),
            (
                "pid1=/usr/local/libexec/cordon/timeout -s KILL 12 ",
                "pid1=timeout -s KILL 12 ",
                "in-sandbox deadline",
            ),
            ("pid1mem=refused", "pid1mem=opened", "deadline out of reach"),
            ("pid1mem=refused", "pid1mem=", "deadline out of reach"),
            (
                "AF_VSOCK:EAFNOSUPPORT",
                "AF_VSOCK:created",
                "socket families beyond IP",
            ),
            (
                "AF_ALG:EAFNOSUPPORT",
                "AF_ALG:EPERM",
                "socket families beyond IP",
            ),
            ("memfd=EPERM", "memfd=created", "memfd_create refused"),
        ] {
            let out = GOOD.replace(from, to);
            let checks = judge("img", &out, &spec());
            let failed: Vec<&str> = checks
                .iter()
                .filter(|c| !c.passed)
                .map(|c| c.name.as_str())
                .collect();
            assert_eq!(failed, vec![name], "weakening {from} -> {to}");
        }
        let with_socket = format!("{GOOD}socket=/var/run/docker.sock\nmount=/data ext4 /dev/vda\n");
        let failed: Vec<String> = judge("img", &with_socket, &spec())
            .into_iter()
            .filter(|c| !c.passed)
            .map(|c| c.name)
            .collect();
        assert_eq!(failed, vec!["no engine socket", "no host mounts"]);
    }

    #[test]
    fn an_image_without_python_reports_the_side_doors_unchecked() {
        let out = GOOD
            .replace(
                "families=AF_VSOCK:EAFNOSUPPORT AF_ALG:EAFNOSUPPORT",
                "families=unchecked",
            )
            .replace("memfd=EPERM", "memfd=unchecked");
        let checks = judge("img", &out, &spec());
        let info: Vec<&Check> = checks.iter().filter(|c| !c.passed).collect();
        assert_eq!(info.len(), 2, "{checks:#?}");
        assert!(info
            .iter()
            .all(|c| !c.required && c.detail.contains("no python3")));
        let report = DoctorReport { checks };
        assert!(report.passed(), "informational checks do not fail the test");
    }

    #[test]
    fn the_engine_user_namespace_is_reported() {
        let root = judge_engine(&[
            "name=seccomp,profile=default".into(),
            "name=cgroupns".into(),
        ]);
        assert!(!root.passed && !root.required, "{root:?}");
        assert!(root.detail.contains("lands as root"), "{}", root.detail);
        let rootless = judge_engine(&[
            "name=seccomp,profile=default".into(),
            "name=rootless".into(),
        ]);
        assert!(rootless.passed && rootless.detail.starts_with("rootless"));
        let remapped = judge_engine(&["name=userns".into()]);
        assert!(remapped.passed && remapped.detail.starts_with("userns-remap"));
    }
}
