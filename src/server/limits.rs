//! Per-tenant rate limits: executions running at once and executions
//! created per rolling hour. In memory, per process: a restart forgets the
//! hourly window (documented; persisting it is a later step for replicas).
//! Refusals carry the number of seconds after which a retry can succeed.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::config::RateLimits;

const HOUR: Duration = Duration::from_secs(3600);

#[derive(Debug, Default)]
struct TenantState {
    running: u32,
    created: VecDeque<Instant>,
}

/// The limiter shared by every request.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    cfg: Arc<RateLimits>,
    state: Arc<Mutex<HashMap<String, TenantState>>>,
}

/// Why a creation was refused, and when to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limited {
    pub message: String,
    pub retry_after_secs: u64,
}

/// Holds one of the tenant's concurrent slots until dropped.
#[derive(Debug)]
pub struct Slot {
    limiter: RateLimiter,
    tenant: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(t) = self.limiter.lock().get_mut(&self.tenant) {
            t.running = t.running.saturating_sub(1);
        }
    }
}

impl RateLimiter {
    pub fn new(cfg: RateLimits) -> Self {
        RateLimiter {
            cfg: Arc::new(cfg),
            state: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, TenantState>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a concurrent slot and counts one creation, or says why not.
    pub fn acquire(&self, tenant: &str) -> Result<Slot, Limited> {
        let limits = self.cfg.for_tenant(tenant);
        let now = Instant::now();
        let mut map = self.lock();
        let t = map.entry(tenant.to_string()).or_default();
        while t
            .created
            .front()
            .is_some_and(|c| now.duration_since(*c) >= HOUR)
        {
            t.created.pop_front();
        }
        if t.created.len() >= limits.per_hour as usize {
            let oldest = t.created.front().copied().unwrap_or(now);
            let wait = HOUR.saturating_sub(now.duration_since(oldest));
            return Err(Limited {
                message: format!(
                    "tenant {tenant} created {} executions in the last hour; the limit is {}",
                    t.created.len(),
                    limits.per_hour
                ),
                retry_after_secs: wait.as_secs().max(1),
            });
        }
        if t.running >= limits.concurrent {
            return Err(Limited {
                message: format!(
                    "tenant {tenant} has {} executions running; the limit is {}",
                    t.running, limits.concurrent
                ),
                retry_after_secs: 1,
            });
        }
        t.running += 1;
        t.created.push_back(now);
        Ok(Slot {
            limiter: self.clone(),
            tenant: tenant.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::config::TenantLimits;

    #[test]
    fn concurrency_frees_on_drop_and_hourly_budget_does_not() {
        let cfg = RateLimits {
            default: TenantLimits {
                concurrent: 1,
                per_hour: 2,
            },
            ..Default::default()
        };
        let l = RateLimiter::new(cfg);
        let a = l.acquire("t").unwrap();
        assert_eq!(l.acquire("t").unwrap_err().retry_after_secs, 1);
        assert!(l.acquire("other").is_ok());
        drop(a);
        let _b = l.acquire("t").unwrap();
        drop(_b);
        let e = l.acquire("t").unwrap_err();
        assert!(e.retry_after_secs > 3500, "{e:?}");
    }
}
