//! The guard at the fence: while a sandbox runs, sample its cgroup, keep the
//! peaks, and say when a limit the container settings alone do not bound
//! (CPU-time budget) or a limit that was hit (pids) requires a kill.
//!
//! Reading the cgroup files directly is precise and cheap (a few small file
//! reads per sample) where the Docker stats stream costs a second per
//! sample. cgroup v1 (`/sys/fs/cgroup/<controller>/docker/<id>/`) and v2
//! (`/sys/fs/cgroup/system.slice/docker-<id>.scope/` or
//! `/sys/fs/cgroup/docker/<id>/`) are both read. When no cgroup directory is
//! visible (a remote engine), [`ResourceMonitor::for_container`] returns a
//! monitor that measures nothing and enforces only the deadline, and says so.
//!
//! This module decides *whether* to kill and *why*; the backend does the kill.

pub mod admission;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::sandbox::{TerminationReason, Usage};

/// Default sampling period: a 1 s CPU budget is enforced within ~10%.
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(50);

#[derive(Debug, Clone)]
enum Layout {
    V1 {
        memory: PathBuf,
        cpuacct: PathBuf,
        pids: PathBuf,
    },
    V2 {
        dir: PathBuf,
    },
    Unavailable,
}

/// Samples one container's resource usage and checks it against its budget.
#[derive(Debug, Clone)]
pub struct ResourceMonitor {
    layout: Layout,
    cpu_budget: Duration,
    peak: Usage,
    pids_events_at_start: u64,
    oom_kills_at_start: u64,
    /// Whether a sample has seen the kernel's OOM killer act in this cgroup.
    oom_seen: bool,
}

fn read_u64(p: &Path) -> Option<u64> {
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}

/// `max N` from a pids.events file.
fn read_pids_events(p: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(p).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("max "))
        .and_then(|n| n.trim().parse().ok())
}

/// `oom_kill N` from a cgroup v1 `memory.oom_control` or v2 `memory.events`.
fn read_oom_kills(p: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(p).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|n| n.trim().parse().ok())
}

/// `usage_usec N` from a cgroup v2 cpu.stat file.
fn read_cpu_stat_usec(p: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(p).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("usage_usec "))
        .and_then(|n| n.trim().parse().ok())
}

impl ResourceMonitor {
    /// Finds the cgroup of container `id` under `root` (normally `/sys/fs/cgroup`).
    pub fn for_container_in(root: &Path, id: &str, cpu_budget: Duration) -> ResourceMonitor {
        let v1 = Layout::V1 {
            memory: root.join("memory/docker").join(id),
            cpuacct: root.join("cpuacct/docker").join(id),
            pids: root.join("pids/docker").join(id),
        };
        let layout = match &v1 {
            Layout::V1 { memory, .. } if memory.is_dir() => v1,
            _ => [
                root.join(format!("system.slice/docker-{id}.scope")),
                root.join("docker").join(id),
            ]
            .into_iter()
            .find(|d| d.join("cpu.stat").is_file())
            .map(|dir| Layout::V2 { dir })
            .unwrap_or(Layout::Unavailable),
        };
        let mut m = ResourceMonitor {
            layout,
            cpu_budget,
            peak: Usage::default(),
            pids_events_at_start: 0,
            oom_kills_at_start: 0,
            oom_seen: false,
        };
        m.pids_events_at_start = m.pids_limit_events().unwrap_or(0);
        m.oom_kills_at_start = m.oom_kills().unwrap_or(0);
        m
    }

    /// The monitor for container `id` on this host.
    pub fn for_container(id: &str, cpu_budget: Duration) -> ResourceMonitor {
        Self::for_container_in(Path::new("/sys/fs/cgroup"), id, cpu_budget)
    }

    /// Whether usage can be measured (false for a remote engine).
    pub fn available(&self) -> bool {
        !matches!(self.layout, Layout::Unavailable)
    }

    fn pids_limit_events(&self) -> Option<u64> {
        match &self.layout {
            Layout::V1 { pids, .. } => read_pids_events(&pids.join("pids.events")),
            Layout::V2 { dir } => read_pids_events(&dir.join("pids.events")),
            Layout::Unavailable => None,
        }
    }

    fn oom_kills(&self) -> Option<u64> {
        match &self.layout {
            Layout::V1 { memory, .. } => read_oom_kills(&memory.join("memory.oom_control")),
            Layout::V2 { dir } => read_oom_kills(&dir.join("memory.events")),
            Layout::Unavailable => None,
        }
    }

    /// Takes one sample, folds it into the peaks and returns the current peaks.
    pub fn sample(&mut self) -> Usage {
        let (mem, cpu_ns, pids) = match &self.layout {
            Layout::V1 {
                memory,
                cpuacct,
                pids,
            } => (
                read_u64(&memory.join("memory.max_usage_in_bytes")),
                read_u64(&cpuacct.join("cpuacct.usage")),
                read_u64(&pids.join("pids.current")),
            ),
            Layout::V2 { dir } => (
                read_u64(&dir.join("memory.peak"))
                    .or_else(|| read_u64(&dir.join("memory.current"))),
                read_cpu_stat_usec(&dir.join("cpu.stat")).map(|u| u * 1000),
                read_u64(&dir.join("pids.current")),
            ),
            Layout::Unavailable => (None, None, None),
        };
        if let Some(m) = mem {
            self.peak.peak_memory_bytes = self.peak.peak_memory_bytes.max(m);
        }
        if let Some(c) = cpu_ns {
            self.peak.cpu_time_ms = self.peak.cpu_time_ms.max(c / 1_000_000);
        }
        if let Some(p) = pids {
            self.peak.peak_pids = self.peak.peak_pids.max(p);
        }
        self.oom_killed();
        self.peak
    }

    /// The peaks so far.
    pub fn usage(&self) -> Usage {
        self.peak
    }

    /// Checks the last sample against the budget: `Some(reason)` means kill now.
    /// Precedence among what this check can see: pids > cpu_time.
    pub fn check(&self) -> Option<(TerminationReason, String)> {
        if let Some(n) = self.pids_limit_events() {
            if n > self.pids_events_at_start {
                return Some((
                    TerminationReason::Pids,
                    format!("process limit reached ({} processes)", self.peak.peak_pids),
                ));
            }
        }
        if self.peak.cpu_time_ms > self.cpu_budget.as_millis() as u64 {
            return Some((
                TerminationReason::CpuTime,
                format!(
                    "cpu_time budget of {} ms exceeded ({} ms used)",
                    self.cpu_budget.as_millis(),
                    self.peak.cpu_time_ms
                ),
            ));
        }
        None
    }

    /// Whether the kernel's OOM killer acted in this cgroup, as seen by any
    /// sample so far or by a read now. The engine's own `OOMKilled` flag
    /// comes from an asynchronous event that can arrive after the exit (a
    /// known race in Docker 20.10); the cgroup counter does not.
    pub fn oom_killed(&mut self) -> bool {
        if !self.oom_seen {
            self.oom_seen = self
                .oom_kills()
                .is_some_and(|n| n > self.oom_kills_at_start);
        }
        self.oom_seen
    }

    /// Whether the pids limit was hit at any point (checked once more after exit).
    pub fn pids_limit_hit(&self) -> bool {
        self.pids_limit_events()
            .is_some_and(|n| n > self.pids_events_at_start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_v1_layout() {
        let root = tempfile::tempdir().unwrap();
        let id = "abc";
        for (ctrl, file, value) in [
            ("memory", "memory.max_usage_in_bytes", "104857600"),
            ("cpuacct", "cpuacct.usage", "1500000000"),
            ("pids", "pids.current", "7"),
            ("pids", "pids.events", "max 0"),
        ] {
            let d = root.path().join(ctrl).join("docker").join(id);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join(file), value).unwrap();
        }
        let mut m = ResourceMonitor::for_container_in(root.path(), id, Duration::from_secs(1));
        assert!(m.available());
        let u = m.sample();
        assert_eq!(u.peak_memory_bytes, 100 << 20);
        assert_eq!(u.cpu_time_ms, 1500);
        assert_eq!(u.peak_pids, 7);
        assert_eq!(m.check().map(|c| c.0), Some(TerminationReason::CpuTime));
        std::fs::write(root.path().join("pids/docker/abc/pids.events"), "max 3").unwrap();
        assert_eq!(m.check().map(|c| c.0), Some(TerminationReason::Pids));
    }

    #[test]
    fn oom_kills_are_counted_from_the_start_in_v1_and_v2() {
        let root = tempfile::tempdir().unwrap();
        let v1 = root.path().join("memory/docker/a");
        std::fs::create_dir_all(&v1).unwrap();
        let control = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";
        std::fs::write(v1.join("memory.oom_control"), control).unwrap();
        let mut m = ResourceMonitor::for_container_in(root.path(), "a", Duration::from_secs(1));
        m.sample();
        assert!(!m.oom_killed(), "kills before the start do not count");
        std::fs::write(v1.join("memory.oom_control"), control.replace('2', "3")).unwrap();
        m.sample();
        std::fs::remove_dir_all(&v1).unwrap();
        assert!(
            m.oom_killed(),
            "seen by a sample, kept after the cgroup is gone"
        );

        let v2 = root.path().join("system.slice/docker-b.scope");
        std::fs::create_dir_all(&v2).unwrap();
        std::fs::write(v2.join("cpu.stat"), "usage_usec 10\n").unwrap();
        std::fs::write(
            v2.join("memory.events"),
            "low 0\nhigh 0\nmax 4\noom 1\noom_kill 0\n",
        )
        .unwrap();
        let mut m = ResourceMonitor::for_container_in(root.path(), "b", Duration::from_secs(1));
        assert!(!m.oom_killed());
        std::fs::write(
            v2.join("memory.events"),
            "low 0\nhigh 0\nmax 9\noom 2\noom_kill 1\n",
        )
        .unwrap();
        assert!(m.oom_killed(), "a read after exit sees it too");
    }

    #[test]
    fn missing_cgroup_is_unavailable() {
        let root = tempfile::tempdir().unwrap();
        let mut m = ResourceMonitor::for_container_in(root.path(), "nope", Duration::from_secs(1));
        assert!(!m.available());
        assert_eq!(m.sample(), Usage::default());
        assert!(m.check().is_none());
    }
}
