//! Living through outages without a restart: a watcher that pings the
//! engine, so readiness and admission know at once when it is gone and when
//! it is back, and the reaper that removes sandboxes of ended executions
//! (left by a crash of cordon, or by an engine that went away before a
//! container could be removed).
//!
//! The reaper only removes containers whose execution this audit log knows
//! and has already ended: containers of another live replica, or of another
//! cordon with its own log, are left alone. This module must not run,
//! decide or record executions; it records only the removal of an orphan.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;

use super::AppState;
use crate::audit::{AuditLog, EventKind};
use crate::sandbox::docker::DockerBackend;

/// How often the engine is pinged.
const PING_EVERY: Duration = Duration::from_secs(1);
/// A ping slower than this counts as the engine being away.
const PING_TIMEOUT: Duration = Duration::from_secs(3);
/// How often orphans are looked for while the engine is up.
const REAP_EVERY: Duration = Duration::from_secs(15);

/// What the watcher last saw of the engine.
#[derive(Debug)]
pub struct EngineHealth {
    up: AtomicBool,
}

impl Default for EngineHealth {
    fn default() -> Self {
        // `prepare` connected to the engine before the state exists.
        EngineHealth {
            up: AtomicBool::new(true),
        }
    }
}

impl EngineHealth {
    /// Whether the last ping was answered.
    pub fn up(&self) -> bool {
        self.up.load(Ordering::SeqCst)
    }

    fn set(&self, up: bool) -> bool {
        self.up.swap(up, Ordering::SeqCst)
    }
}

/// Whether the engine answers a ping within [`PING_TIMEOUT`].
pub async fn engine_answers(docker: &DockerBackend) -> bool {
    matches!(
        tokio::time::timeout(PING_TIMEOUT, docker.client().ping()).await,
        Ok(Ok(_))
    )
}

/// Pings the engine every second for as long as the server runs; on the
/// way back from an outage, removes what the outage left behind.
pub async fn watch_engine(state: AppState) {
    let inner = state.inner();
    let mut tick = tokio::time::interval(PING_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_reap = tokio::time::Instant::now();
    loop {
        tick.tick().await;
        let up = engine_answers(&inner.docker).await;
        let was_up = inner.engine.set(up);
        match (was_up, up) {
            (true, false) => tracing::error!(
                endpoint = inner.docker.endpoint(),
                "the engine does not answer: new executions are refused until it returns"
            ),
            (false, true) => {
                tracing::warn!(
                    endpoint = inner.docker.endpoint(),
                    "the engine answers again: accepting executions"
                );
                reap_logged(&inner.docker, &inner.audit).await;
                last_reap = tokio::time::Instant::now();
            }
            (true, true) if last_reap.elapsed() >= REAP_EVERY => {
                reap_logged(&inner.docker, &inner.audit).await;
                last_reap = tokio::time::Instant::now();
            }
            _ => {}
        }
    }
}

async fn reap_logged(docker: &DockerBackend, audit: &AuditLog) {
    if let Err(e) = reap_orphans(docker, audit, "removed after an engine outage or a crash").await {
        tracing::warn!(error = %e, "looking for orphan sandboxes failed");
    }
}

/// Removes sandboxes of executions this audit log shows as ended, and
/// records each removal as a `killed` event. Returns how many were removed.
pub async fn reap_orphans(
    docker: &DockerBackend,
    audit: &AuditLog,
    why: &str,
) -> Result<usize, crate::sandbox::SandboxError> {
    let mut removed = 0;
    for (container, id) in docker.labelled_containers().await? {
        let Ok(uuid) = uuid::Uuid::parse_str(&id) else {
            continue;
        };
        let ended = match audit.show(&id, false).await {
            Ok(s) => s.execution.termination_reason.is_some(),
            Err(_) => continue,
        };
        if !ended {
            continue;
        }
        let opts = bollard::query_parameters::RemoveContainerOptionsBuilder::default()
            .force(true)
            .build();
        if let Err(e) = docker
            .client()
            .remove_container(&container, Some(opts))
            .await
        {
            tracing::warn!(execution_id = %id, error = %e, "could not remove an orphan sandbox");
            continue;
        }
        removed += 1;
        tracing::warn!(execution_id = %id, "removed an orphan sandbox: {why}");
        let _ = audit
            .event(
                uuid,
                EventKind::Killed,
                json!({ "reason": "interrupted", "detail": format!("orphan container {why}") }),
            )
            .await;
    }
    Ok(removed)
}
