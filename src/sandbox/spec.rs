//! `SandboxSpec`: the one place where the hardened container configuration is
//! built. Its defaults are locked down; the builder methods can only tighten
//! them; [`SandboxSpec::to_docker`] is the single translation into an Engine
//! API request, so there is no second code path that could forget a barrier.
//!
//! What every sandbox gets, and why:
//! - read-only rootfs: the program cannot modify the image or plant files;
//! - `CapDrop: ALL` + `no-new-privileges`: no capabilities, and setuid
//!   binaries (there are none in our images anyway) cannot raise them back;
//! - cordon's own seccomp allowlist ([`super::seccomp`]): the engine
//!   default's refusals plus `ptrace` and its relatives (never `unconfined`);
//! - network mode `none` and `NetworkDisabled`: only `lo` exists;
//! - uid/gid 65534 (nobody): not root even inside the user namespace;
//! - `PidsLimit`, memory with memory+swap equal (no swap), `NanoCpus`;
//! - `/tmp` as a size-limited tmpfs with `noexec,nosuid,nodev`, and a small
//!   `/dev/shm`; ulimits `nofile` and `fsize` (a file cannot outgrow the tmpfs);
//! - no binds, no mounts, no devices, no docker socket; logging driver `none`
//!   so a flood of output never lands on the host's disk;
//! - an environment holding only what the runtime needs;
//! - label `cordon.execution=<id>` so a restarted gateway can reap orphans;
//! - code delivered through the attached stdin, never a host path;
//! - a deadline enforced from inside: the container's PID 1 is `timeout -s
//!   KILL` at the wall limit plus [`DEADLINE_GRACE`], so the sandbox ends
//!   even when cordon itself dies (SIGKILL, OOM, a lost client) and cannot
//!   kill it at the wall limit. PID 1 of a PID namespace ignores the signals
//!   it has no handler for when they come from inside, so the program can
//!   neither kill nor stop the wrapper, and when PID 1 exits the kernel
//!   kills every process left in the namespace. The wrapper runs from the
//!   images' execute-only copy ([`DEADLINE_BINARY`]), which makes it
//!   non-dumpable: the program, under the same uid, cannot open
//!   `/proc/1/mem` or trace it to disarm the deadline.

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{ContainerCreateBody, HostConfig, HostConfigLogConfig, ResourcesUlimits};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::policy::Limits;
use crate::Language;

/// Label carrying the execution id on every container cordon creates.
pub const EXECUTION_LABEL: &str = "cordon.execution";
/// The uid and gid code runs as (`nobody`).
pub const SANDBOX_USER: &str = "65534:65534";
const NOFILE: i64 = 256;
/// How long past the wall limit the in-sandbox deadline waits before it
/// kills the program: cordon's own deadline (at the wall limit) normally
/// comes first; this one only matters when cordon is gone or stalled.
pub const DEADLINE_GRACE: Duration = Duration::from_secs(2);

/// The in-sandbox deadline's binary: every cordon runtime image installs a
/// copy of `timeout` here with mode 0111 (images/*/Dockerfile). A process
/// started from a file its user cannot read is not dumpable, so ptrace and
/// `/proc/1/mem` are closed to the program even though it runs under the
/// same uid as PID 1.
pub const DEADLINE_BINARY: &str = "/usr/local/libexec/cordon/timeout";
/// Exit status the container reports when the in-sandbox deadline killed
/// the program (SIGKILL: 128 + 9).
pub const DEADLINE_EXIT: i64 = 137;
const PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Why a spec could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpecError {
    #[error("invalid image reference {0:?}")]
    Image(String),
    #[error("limit {field} is not applicable: {message}")]
    Limit {
        field: &'static str,
        message: String,
    },
}

/// The hardened configuration of one sandbox. Fields are private: the only
/// ways to change them are the tightening setters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SandboxSpec {
    execution_id: Uuid,
    language: Language,
    image: String,
    memory_bytes: u64,
    nano_cpus: i64,
    pids: u32,
    wall: Duration,
    cpu_time: Duration,
    output_bytes: u64,
    tmpfs_bytes: u64,
    nofile: i64,
    user: String,
    read_only_rootfs: bool,
    network: String,
    cap_drop: Vec<String>,
    security_opt: Vec<String>,
    /// Set when the program has its own stdin: the first this-many bytes on
    /// the attached stdin are the program, the rest is its stdin.
    #[serde(default)]
    script_bytes: Option<u64>,
}

impl SandboxSpec {
    /// A spec for one execution, with `limits` as the policy settled them.
    pub fn new(
        execution_id: Uuid,
        language: Language,
        image: &str,
        limits: &Limits,
    ) -> Result<SandboxSpec, SpecError> {
        if image.is_empty() || image.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(SpecError::Image(image.to_string()));
        }
        let spec = SandboxSpec {
            execution_id,
            language,
            image: image.to_string(),
            memory_bytes: limits.memory.0,
            nano_cpus: (limits.cpus * 1e9).round() as i64,
            pids: limits.pids,
            wall: limits.wall.0,
            cpu_time: limits.cpu_time.0,
            output_bytes: limits.output.0,
            tmpfs_bytes: limits.tmpfs.0,
            nofile: NOFILE,
            user: SANDBOX_USER.to_string(),
            read_only_rootfs: true,
            network: "none".to_string(),
            cap_drop: vec!["ALL".to_string()],
            security_opt: vec!["no-new-privileges:true".to_string()],
            script_bytes: None,
        };
        spec.validate()?;
        Ok(spec)
    }

    fn validate(&self) -> Result<(), SpecError> {
        let fail = |field, message: &str| {
            Err(SpecError::Limit {
                field,
                message: message.to_string(),
            })
        };
        if self.memory_bytes < 6 << 20 {
            return fail("memory", "the engine needs at least 6Mi");
        }
        if self.nano_cpus < 10_000_000 {
            return fail("cpus", "below 0.01 CPU");
        }
        if self.pids < 2 {
            return fail("pids", "a runtime needs at least 2 processes");
        }
        if self.wall.is_zero() || self.cpu_time.is_zero() {
            return fail("wall", "durations must be above zero");
        }
        if self.tmpfs_bytes < 1 << 20 {
            return fail("tmpfs", "at least 1Mi");
        }
        if self.output_bytes == 0 {
            return fail("output", "must be above zero");
        }
        Ok(())
    }

    /// Gives the program its own stdin: the attached stdin will carry the
    /// `code_len` bytes of code and then the program's stdin. The code goes
    /// to the tmpfs first (like a Bash script always does), so it must fit.
    pub fn with_program_stdin(mut self, code_len: usize) -> Result<Self, SpecError> {
        let n = code_len as u64;
        if n >= self.tmpfs_bytes {
            return Err(SpecError::Limit {
                field: "tmpfs",
                message: format!(
                    "the program ({}) must fit in /tmp ({}) when it is given stdin",
                    crate::units::ByteSize(n),
                    crate::units::ByteSize(self.tmpfs_bytes)
                ),
            });
        }
        self.script_bytes = Some(n);
        Ok(self)
    }

    /// Whether the program gets stdin after its code (see [`Self::with_program_stdin`]).
    pub fn has_program_stdin(&self) -> bool {
        self.script_bytes.is_some()
    }

    /// Lowers the wall-clock limit (never raises it).
    pub fn tighten_wall(mut self, wall: Duration) -> Self {
        self.wall = self.wall.min(wall).max(Duration::from_millis(1));
        self
    }

    /// Lowers the file-descriptor limit (never raises it).
    pub fn tighten_nofile(mut self, nofile: i64) -> Self {
        self.nofile = self.nofile.min(nofile).max(16);
        self
    }

    pub fn execution_id(&self) -> Uuid {
        self.execution_id
    }
    pub fn language(&self) -> Language {
        self.language
    }
    pub fn image(&self) -> &str {
        &self.image
    }
    pub fn wall(&self) -> Duration {
        self.wall
    }
    pub fn cpu_time(&self) -> Duration {
        self.cpu_time
    }
    pub fn output_bytes(&self) -> u64 {
        self.output_bytes
    }
    pub fn memory_bytes(&self) -> u64 {
        self.memory_bytes
    }
    pub fn pids(&self) -> u32 {
        self.pids
    }
    pub fn tmpfs_bytes(&self) -> u64 {
        self.tmpfs_bytes
    }

    /// The in-sandbox deadline: the wall limit rounded up to whole seconds
    /// (the unit every `timeout` implementation takes) plus [`DEADLINE_GRACE`].
    pub fn in_sandbox_deadline(&self) -> Duration {
        let wall_secs = self.wall.as_millis().div_ceil(1000) as u64;
        Duration::from_secs(wall_secs.max(1)) + DEADLINE_GRACE
    }

    /// The container's command: [`Self::program_command`] under the
    /// in-sandbox deadline. `timeout` is PID 1; the program is its child and
    /// inherits the attached stdin.
    pub fn command(&self) -> Vec<String> {
        let mut cmd = vec![
            DEADLINE_BINARY.to_string(),
            "-s".to_string(),
            "KILL".to_string(),
            self.in_sandbox_deadline().as_secs().to_string(),
        ];
        cmd.extend(self.program_command());
        cmd
    }

    /// The command that reads the program from stdin and runs it.
    ///
    /// Without program stdin, the program's own stdin is empty: Python and
    /// Node read the whole script before running it; Bash would otherwise
    /// read its script line by line from the same stdin the program's
    /// commands read, so the script goes to the tmpfs first and runs with
    /// stdin from /dev/null.
    ///
    /// With program stdin, `head -c N` (which reads no byte past N) copies
    /// the script to the tmpfs and the runtime runs that file, inheriting the
    /// rest of the attached stdin.
    pub fn program_command(&self) -> Vec<String> {
        if let Some(n) = self.script_bytes {
            let (shell, runtime, ext) = match self.language {
                Language::Python => ("/bin/sh", "python3", "py"),
                Language::Javascript => ("/bin/sh", "node", "js"),
                Language::Bash => ("/bin/bash", "/bin/bash", "sh"),
            };
            return vec![
                shell.to_string(),
                "-c".to_string(),
                format!(
                    "head -c {n} > /tmp/.cordon-main.{ext} && exec {runtime} /tmp/.cordon-main.{ext}"
                ),
            ];
        }
        let v: &[&str] = match self.language {
            Language::Python => &["python3", "-"],
            Language::Javascript => &["node", "-"],
            Language::Bash => &[
                "/bin/bash",
                "-c",
                "cat > /tmp/.cordon-main.sh && exec /bin/bash /tmp/.cordon-main.sh </dev/null",
            ],
        };
        v.iter().map(|s| s.to_string()).collect()
    }

    /// The environment: only what the runtime needs, nothing of the host's.
    pub fn env(&self) -> Vec<String> {
        let mut env = vec![
            PATH.to_string(),
            "HOME=/tmp".to_string(),
            "LANG=C.UTF-8".to_string(),
            "TMPDIR=/tmp".to_string(),
        ];
        if self.language == Language::Python {
            env.push("PYTHONDONTWRITEBYTECODE=1".to_string());
            env.push("PYTHONUNBUFFERED=1".to_string());
        }
        env
    }

    /// `SecurityOpt` as sent to the engine: the spec's options plus the
    /// seccomp profile itself (the API takes the JSON, not a path).
    fn docker_security_opt(&self) -> Vec<String> {
        let mut opts = self.security_opt.clone();
        opts.push(format!("seccomp={}", super::seccomp::profile_json()));
        opts
    }

    /// The Engine API request for this spec: the only translation there is.
    pub fn to_docker(&self) -> ContainerCreateBody {
        let mut tmpfs = HashMap::new();
        tmpfs.insert(
            "/tmp".to_string(),
            format!("rw,noexec,nosuid,nodev,size={}", self.tmpfs_bytes),
        );
        let mut labels = HashMap::new();
        labels.insert(EXECUTION_LABEL.to_string(), self.execution_id.to_string());
        labels.insert("cordon.language".to_string(), self.language.to_string());
        let host = HostConfig {
            readonly_rootfs: Some(self.read_only_rootfs),
            cap_drop: Some(self.cap_drop.clone()),
            cap_add: Some(Vec::new()),
            security_opt: Some(self.docker_security_opt()),
            privileged: Some(false),
            network_mode: Some(self.network.clone()),
            pids_limit: Some(i64::from(self.pids)),
            memory: Some(self.memory_bytes as i64),
            memory_swap: Some(self.memory_bytes as i64),
            memory_swappiness: Some(0),
            nano_cpus: Some(self.nano_cpus),
            // Relative weight under contention (half the default 1024), beside the hard quota (CIS 5.12).
            cpu_shares: Some(512),
            oom_kill_disable: Some(false),
            // The kernel should pick the sandbox, not the gateway, under host memory pressure.
            oom_score_adj: Some(1000),
            tmpfs: Some(tmpfs),
            shm_size: Some(1 << 20),
            ulimits: Some(vec![
                ResourcesUlimits {
                    name: Some("nofile".into()),
                    soft: Some(self.nofile),
                    hard: Some(self.nofile),
                },
                ResourcesUlimits {
                    name: Some("fsize".into()),
                    soft: Some(self.tmpfs_bytes as i64),
                    hard: Some(self.tmpfs_bytes as i64),
                },
                ResourcesUlimits {
                    name: Some("core".into()),
                    soft: Some(0),
                    hard: Some(0),
                },
            ]),
            binds: Some(Vec::new()),
            mounts: Some(Vec::new()),
            devices: Some(Vec::new()),
            ipc_mode: Some("private".into()),
            log_config: Some(HostConfigLogConfig {
                typ: Some("none".into()),
                config: Some(HashMap::new()),
            }),
            auto_remove: Some(false),
            init: Some(false),
            ..Default::default()
        };
        ContainerCreateBody {
            image: Some(self.image.clone()),
            cmd: Some(self.command()),
            entrypoint: Some(Vec::new()),
            env: Some(self.env()),
            user: Some(self.user.clone()),
            working_dir: Some("/tmp".into()),
            hostname: Some("sandbox".into()),
            labels: Some(labels),
            attach_stdin: Some(true),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            open_stdin: Some(true),
            stdin_once: Some(true),
            tty: Some(false),
            network_disabled: Some(true),
            host_config: Some(host),
            ..Default::default()
        }
    }

    /// A summary of the applied configuration for results and the audit log.
    pub fn summary(&self) -> serde_json::Value {
        serde_json::json!({
            "image": self.image,
            "user": self.user,
            "read_only_rootfs": self.read_only_rootfs,
            "network": self.network,
            "cap_drop": self.cap_drop,
            "security_opt": self.security_opt,
            "seccomp": super::seccomp::profile_id(),
            "memory_bytes": self.memory_bytes,
            "memory_swap_bytes": self.memory_bytes,
            "nano_cpus": self.nano_cpus,
            "pids": self.pids,
            "wall_ms": self.wall.as_millis() as u64,
            "cpu_time_ms": self.cpu_time.as_millis() as u64,
            "output_bytes": self.output_bytes,
            "tmpfs": format!("/tmp rw,noexec,nosuid,nodev,size={}", self.tmpfs_bytes),
            "ulimits": { "nofile": self.nofile, "fsize": self.tmpfs_bytes, "core": 0 },
            "program_stdin": self.script_bytes.is_some(),
            "in_sandbox_deadline_ms": self.in_sandbox_deadline().as_millis() as u64,
        })
    }

    /// Test-only: a deliberately weakened copy (a capability added back), used
    /// to prove that the isolation self-test catches a broken fence.
    #[doc(hidden)]
    pub fn weakened_for_selftest(mut self) -> Self {
        self.cap_drop.clear();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::{ByteSize, HumanDuration};

    fn limits() -> Limits {
        Limits {
            cpus: 0.5,
            memory: ByteSize(256 << 20),
            pids: 64,
            wall: HumanDuration(Duration::from_secs(10)),
            cpu_time: HumanDuration(Duration::from_secs(5)),
            output: ByteSize(1 << 20),
            tmpfs: ByteSize(16 << 20),
        }
    }

    #[test]
    fn program_stdin_splits_the_attached_stdin_after_the_code() {
        let base = |l| SandboxSpec::new(Uuid::nil(), l, "img", &limits()).unwrap();
        assert_eq!(base(Language::Python).program_command(), ["python3", "-"]);
        assert!(!base(Language::Python).summary()["program_stdin"]
            .as_bool()
            .unwrap());
        let py = base(Language::Python).with_program_stdin(1234).unwrap();
        assert_eq!(
            py.program_command(),
            [
                "/bin/sh",
                "-c",
                "head -c 1234 > /tmp/.cordon-main.py && exec python3 /tmp/.cordon-main.py"
            ]
        );
        assert_eq!(py.summary()["program_stdin"], true);
        assert_eq!(
            py.to_docker().cmd,
            Some(py.command()),
            "the engine runs the split command"
        );
        let js = base(Language::Javascript).with_program_stdin(7).unwrap();
        assert!(js.program_command()[2].ends_with("exec node /tmp/.cordon-main.js"));
        let sh = base(Language::Bash).with_program_stdin(7).unwrap();
        assert_eq!(sh.program_command()[0], "/bin/bash");
        assert!(
            !sh.program_command()[2].contains("/dev/null"),
            "bash keeps the program's stdin"
        );
        // The code must fit in the tmpfs it is copied to: refused, not truncated.
        let err = base(Language::Python)
            .with_program_stdin(16 << 20)
            .unwrap_err();
        assert!(
            matches!(err, SpecError::Limit { field: "tmpfs", .. }),
            "{err}"
        );
    }

    #[test]
    fn docker_request_is_hardened() {
        let spec = SandboxSpec::new(
            Uuid::nil(),
            Language::Python,
            "cordon/python:3.11",
            &limits(),
        )
        .unwrap();
        let body = spec.to_docker();
        let h = body.host_config.clone().unwrap();
        assert_eq!(h.readonly_rootfs, Some(true));
        assert_eq!(h.cap_drop, Some(vec!["ALL".to_string()]));
        assert_eq!(h.network_mode.as_deref(), Some("none"));
        assert_eq!(h.memory, h.memory_swap);
        assert_eq!(h.nano_cpus, Some(500_000_000));
        assert_eq!(h.pids_limit, Some(64));
        assert!(h
            .security_opt
            .as_ref()
            .unwrap()
            .iter()
            .any(|s| s.starts_with("no-new-privileges")));
        let opts = h.security_opt.clone().unwrap();
        let seccomp = opts
            .iter()
            .find_map(|s| s.strip_prefix("seccomp="))
            .expect("seccomp profile sent");
        let profile: serde_json::Value = serde_json::from_str(seccomp).unwrap();
        assert_eq!(profile["defaultAction"], "SCMP_ACT_ERRNO");
        assert!(spec.summary()["seccomp"]
            .as_str()
            .unwrap()
            .starts_with("cordon-v2 sha256:"));
        assert!(h.binds.unwrap().is_empty());
        assert!(h.tmpfs.unwrap()["/tmp"].contains("noexec"));
        assert_eq!(body.user.as_deref(), Some(SANDBOX_USER));
        assert_eq!(
            body.labels.unwrap()[EXECUTION_LABEL],
            Uuid::nil().to_string()
        );
        assert!(body.env.unwrap().iter().all(|e| !e.starts_with("CORDON")));
    }

    #[test]
    fn the_program_runs_under_an_in_sandbox_deadline() {
        let spec = SandboxSpec::new(Uuid::nil(), Language::Python, "img", &limits()).unwrap();
        // 10 s wall + 2 s grace; the program's own command follows unchanged.
        assert_eq!(spec.in_sandbox_deadline(), Duration::from_secs(12));
        assert_eq!(
            spec.to_docker().cmd,
            Some(
                [DEADLINE_BINARY, "-s", "KILL", "12", "python3", "-"]
                    .map(String::from)
                    .to_vec()
            )
        );
        // A fraction of a second rounds up, never down to an earlier kill.
        let short = spec.clone().tighten_wall(Duration::from_millis(1500));
        assert_eq!(short.in_sandbox_deadline(), Duration::from_secs(4));
        let tiny = spec.tighten_wall(Duration::from_millis(1));
        assert_eq!(tiny.in_sandbox_deadline(), Duration::from_secs(3));
        let sh = SandboxSpec::new(Uuid::nil(), Language::Bash, "img", &limits())
            .unwrap()
            .with_program_stdin(7)
            .unwrap();
        assert_eq!(&sh.command()[..4], [DEADLINE_BINARY, "-s", "KILL", "12"]);
        assert_eq!(&sh.command()[4..], sh.program_command().as_slice());
        assert_eq!(sh.summary()["in_sandbox_deadline_ms"], 12_000);
    }

    #[test]
    fn tighten_never_loosens() {
        let spec =
            SandboxSpec::new(Uuid::nil(), Language::Bash, "cordon/bash:5", &limits()).unwrap();
        assert_eq!(
            spec.clone().tighten_wall(Duration::from_secs(60)).wall(),
            Duration::from_secs(10)
        );
        assert_eq!(
            spec.tighten_wall(Duration::from_secs(2)).wall(),
            Duration::from_secs(2)
        );
    }
}
