//! Sandboxes left by a cordon process that died (SIGKILL, OOM, power loss).
//! Opening the audit log for writing marks that process's unfinished
//! executions `interrupted`; this removes their containers, and those of any
//! other execution this log already records as ended, when the engine can
//! be reached. Their in-sandbox deadline has stopped them already (or soon
//! will); this is the removal nobody was left to do.
//!
//! It removes only containers whose execution this log knows and has
//! closed: containers of live executions, of another cordon with its own
//! log, or of other tools are left alone. It never fails the command: a
//! warning says what could not be removed.

use serde_json::json;

use crate::audit::{AuditLog, EventKind};
use crate::sandbox::docker::DockerBackend;

/// Removes the leftovers of dead cordon processes. `docker` is the engine
/// the command already connected to, if any; without one, cordon connects
/// only when opening the log found something to clean up.
pub(crate) async fn remove(log: &AuditLog, docker: Option<&DockerBackend>, command: &str) {
    let swept = log.interrupted_on_open();
    let connected;
    let docker = match docker {
        Some(d) => d,
        None if swept.is_empty() => return,
        None => match DockerBackend::connect().await {
            Ok(d) => {
                connected = d;
                &connected
            }
            Err(e) => {
                eprintln!(
                    "cordon: warning: {} execution(s) of a stopped cordon process were marked interrupted, but their sandboxes could not be removed: {e}",
                    swept.len()
                );
                return;
            }
        },
    };
    let containers = match docker.labelled_containers().await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cordon: warning: cannot list sandboxes to remove leftovers: {e}");
            return;
        }
    };
    let mut left = Vec::new();
    for (_, execution) in containers {
        let ended = swept.contains(&execution)
            || log
                .show(&execution, false)
                .await
                .is_ok_and(|s| s.execution.termination_reason.is_some());
        if ended && !left.contains(&execution) {
            left.push(execution);
        }
    }
    if left.is_empty() {
        return;
    }
    let removed = match docker.remove_containers_of(&left).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "cordon: warning: cannot remove sandboxes left by a stopped cordon process: {e}"
            );
            return;
        }
    };
    for execution in &removed {
        tracing::warn!(execution_id = %execution, "removed a sandbox left by a stopped cordon process");
        let Ok(id) = uuid::Uuid::parse_str(execution) else {
            continue;
        };
        let detail =
            format!("sandbox left by a stopped cordon process removed by `cordon {command}`");
        if let Err(e) = log
            .event(
                id,
                EventKind::Killed,
                json!({ "reason": "interrupted", "detail": detail }),
            )
            .await
        {
            eprintln!("cordon: warning: could not record the removal of {execution}: {e}");
        }
    }
}
