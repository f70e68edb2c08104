//! Host admission control: refuse (or briefly queue) a new execution when
//! the host has no room for it, instead of letting the kernel decide.
//!
//! An execution is admitted when both hold:
//! - fewer than `max_concurrent` executions are running in this process;
//! - the host's available memory (sysinfo), minus the memory limits of the
//!   executions already admitted that the kernel may not have charged yet,
//!   minus the new execution's memory limit, stays above `memory_reserve`.
//!
//! Defaults, derived from the host: `max_concurrent` = 4 per core (sandboxes
//! mostly wait; CPU is shared by `NanoCpus`), at least 2; `memory_reserve` =
//! 10% of total memory, at least 256 MiB; no queue (refuse at once). With a
//! queue, up to `queue` submissions wait up to `queue_timeout` for a slot.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sysinfo::System;
use tokio::sync::Notify;

/// Admission settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionConfig {
    pub max_concurrent: usize,
    pub memory_reserve_bytes: u64,
    /// How many submissions may wait for a slot (0: refuse at once).
    pub queue: usize,
    pub queue_timeout: Duration,
}

impl AdmissionConfig {
    /// Defaults derived from this host's size.
    pub fn for_host() -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let total = System::new()
            .map(|mut s| {
                s.refresh_memory();
                s.total_memory()
            })
            .unwrap_or(0);
        AdmissionConfig {
            max_concurrent: (cores * 4).max(2),
            memory_reserve_bytes: (total / 10).max(256 << 20),
            queue: 0,
            queue_timeout: Duration::from_secs(30),
        }
    }
}

/// Why an execution was not admitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("host overloaded: {running} executions running, the maximum is {max}")]
    Concurrency { running: usize, max: usize },
    #[error("host overloaded: {available_mib} MiB available after admitted executions, {needed_mib} MiB needed plus a {reserve_mib} MiB reserve")]
    Memory {
        available_mib: u64,
        needed_mib: u64,
        reserve_mib: u64,
    },
    #[error("host overloaded: the admission queue is full ({0} waiting)")]
    QueueFull(usize),
    #[error("host overloaded: no slot within {0:?} in the admission queue")]
    QueueTimeout(Duration),
}

#[derive(Debug, Default)]
struct State {
    running: usize,
    reserved: u64,
    queued: usize,
}

/// Admission control for one gateway process. Share it with `Arc`.
#[derive(Debug)]
pub struct Admission {
    cfg: AdmissionConfig,
    state: Mutex<State>,
    freed: Notify,
    /// Overrides the measured available memory (tests).
    fixed_available: Option<u64>,
}

/// Holds an admitted execution's slot; dropping it frees the slot.
#[derive(Debug)]
pub struct Permit {
    admission: Arc<Admission>,
    memory: u64,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Ok(mut s) = self.admission.state.lock() {
            s.running = s.running.saturating_sub(1);
            s.reserved = s.reserved.saturating_sub(self.memory);
        }
        self.admission.freed.notify_waiters();
    }
}

impl Admission {
    pub fn new(cfg: AdmissionConfig) -> Arc<Admission> {
        Arc::new(Admission {
            cfg,
            state: Mutex::new(State::default()),
            freed: Notify::new(),
            fixed_available: None,
        })
    }

    /// Test hook: pretend the host always has `bytes` available.
    pub fn with_fixed_available(cfg: AdmissionConfig, bytes: u64) -> Arc<Admission> {
        Arc::new(Admission {
            cfg,
            state: Mutex::new(State::default()),
            freed: Notify::new(),
            fixed_available: Some(bytes),
        })
    }

    pub fn config(&self) -> AdmissionConfig {
        self.cfg
    }

    /// Executions currently admitted.
    pub fn running(&self) -> usize {
        self.state.lock().map(|s| s.running).unwrap_or(0)
    }

    /// Submissions waiting for a slot.
    pub fn queued(&self) -> usize {
        self.state.lock().map(|s| s.queued).unwrap_or(0)
    }

    fn available(&self) -> u64 {
        if let Some(b) = self.fixed_available {
            return b;
        }
        System::new()
            .map(|mut s| {
                s.refresh_memory();
                s.available_memory()
            })
            .unwrap_or(0)
    }

    fn try_admit(self: &Arc<Self>, memory: u64) -> Result<Permit, Refused> {
        let available = self.available();
        let mut s = self
            .state
            .lock()
            .map_err(|_| Refused::Concurrency { running: 0, max: 0 })?;
        if s.running >= self.cfg.max_concurrent {
            return Err(Refused::Concurrency {
                running: s.running,
                max: self.cfg.max_concurrent,
            });
        }
        // Admitted sandboxes may not have allocated yet; count their limits as taken.
        let free = available.saturating_sub(s.reserved);
        if free.saturating_sub(memory) < self.cfg.memory_reserve_bytes {
            return Err(Refused::Memory {
                available_mib: free >> 20,
                needed_mib: memory >> 20,
                reserve_mib: self.cfg.memory_reserve_bytes >> 20,
            });
        }
        s.running += 1;
        s.reserved += memory;
        Ok(Permit {
            admission: Arc::clone(self),
            memory,
        })
    }

    /// Admits an execution with this memory limit, waiting in the queue if configured.
    pub async fn admit(self: &Arc<Self>, memory: u64) -> Result<Permit, Refused> {
        let first = match self.try_admit(memory) {
            Ok(p) => return Ok(p),
            Err(e) => e,
        };
        if self.cfg.queue == 0 {
            return Err(first);
        }
        {
            let mut s = self.state.lock().map_err(|_| first.clone())?;
            if s.queued >= self.cfg.queue {
                return Err(Refused::QueueFull(s.queued));
            }
            s.queued += 1;
        }
        let deadline = tokio::time::Instant::now() + self.cfg.queue_timeout;
        let result = loop {
            let notified = self.freed.notified();
            if let Ok(p) = self.try_admit(memory) {
                break Ok(p);
            }
            // Memory can free up without a permit being dropped; poll as well.
            let wake = tokio::time::sleep(Duration::from_millis(250));
            tokio::select! {
                _ = notified => {}
                _ = wake => {}
                _ = tokio::time::sleep_until(deadline) => break Err(Refused::QueueTimeout(self.cfg.queue_timeout)),
            }
        };
        if let Ok(mut s) = self.state.lock() {
            s.queued = s.queued.saturating_sub(1);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(max: usize, queue: usize) -> AdmissionConfig {
        AdmissionConfig {
            max_concurrent: max,
            memory_reserve_bytes: 100,
            queue,
            queue_timeout: Duration::from_millis(300),
        }
    }

    #[tokio::test]
    async fn concurrency_cap_refuses_then_frees() {
        let a = Admission::with_fixed_available(cfg(2, 0), 1 << 40);
        let p1 = a.admit(10).await.unwrap();
        let _p2 = a.admit(10).await.unwrap();
        assert!(matches!(
            a.admit(10).await,
            Err(Refused::Concurrency { running: 2, max: 2 })
        ));
        drop(p1);
        assert!(a.admit(10).await.is_ok());
    }

    #[tokio::test]
    async fn memory_reserve_counts_admitted_limits() {
        let a = Admission::with_fixed_available(cfg(10, 0), 1000);
        let _p = a.admit(800).await.unwrap();
        assert!(matches!(a.admit(200).await, Err(Refused::Memory { .. })));
    }

    #[tokio::test]
    async fn queue_waits_for_a_slot_or_times_out() {
        let a = Admission::with_fixed_available(cfg(1, 1), 1 << 40);
        let p = a.admit(1).await.unwrap();
        let a2 = Arc::clone(&a);
        let waiter = tokio::spawn(async move { a2.admit(1).await.map(|_| ()) });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(a.queued(), 1);
        assert!(matches!(a.admit(1).await, Err(Refused::QueueFull(1))));
        drop(p);
        assert!(waiter.await.unwrap().is_ok());
        let _hold = a.admit(1).await.unwrap();
        assert!(matches!(a.admit(1).await, Err(Refused::QueueTimeout(_))));
    }
}
