//! The pipeline's [`Recorder`] backed by the audit log: each pipeline step
//! becomes the matching audit event. Before a sandbox starts, everything
//! recorded so far is flushed, so code never runs without a durable record
//! of its submission and decision.

use chrono::Utc;
use futures_util::future::BoxFuture;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{AuditLog, DecisionRecord, EventKind, FinishRecord, NewExecution};
use crate::pipeline::{Recorder, Step};

/// Records pipeline steps in an [`AuditLog`].
#[derive(Debug, Clone)]
pub struct AuditRecorder {
    log: AuditLog,
}

impl AuditRecorder {
    pub fn new(log: AuditLog) -> Self {
        AuditRecorder { log }
    }

    pub fn log(&self) -> &AuditLog {
        &self.log
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

impl Recorder for AuditRecorder {
    fn record<'a>(&'a self, id: Uuid, step: Step<'a>) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let log = &self.log;
            let r = match step {
                Step::Received {
                    tenant,
                    language,
                    code,
                    stdin,
                } => {
                    log.begin(NewExecution {
                        id,
                        tenant: tenant.to_string(),
                        language: language.to_string(),
                        code: code.to_vec(),
                        stdin: stdin.to_vec(),
                        submitted_at: Utc::now(),
                    })
                    .await
                }
                Step::Analyzed(a) => {
                    let error = a
                        .error
                        .as_ref()
                        .map(|e| json!({ "code": e.reason_code(), "message": e.to_string() }));
                    let mut rule_ids: Vec<&str> =
                        a.findings.iter().map(|f| f.rule_id.as_str()).collect();
                    rule_ids.dedup();
                    log.event(
                        id,
                        EventKind::Analyzed,
                        json!({
                            "findings": a.findings.len(),
                            "rule_ids": rule_ids,
                            "risk_score": a.risk_score,
                            "facts": a.facts,
                            "duration_us": a.duration.as_micros() as u64,
                            "error": error,
                        }),
                    )
                    .await
                }
                Step::Decided(d, a) => {
                    let mut rule_ids: Vec<String> =
                        a.findings.iter().map(|f| f.rule_id.clone()).collect();
                    rule_ids.sort();
                    rule_ids.dedup();
                    log.decided(
                        id,
                        DecisionRecord {
                            verdict: d.verdict.as_str().to_string(),
                            risk_score: i64::from(d.risk_score),
                            findings: to_json(&a.findings),
                            rule_ids,
                            reasons: d
                                .reasons
                                .iter()
                                .map(|r| format!("{}: {}", r.code, r.message))
                                .collect(),
                            policy_name: d.policy.name.clone(),
                            policy_hash: d.policy.hash.clone(),
                            enforcement: match d.enforcement {
                                crate::policy::Enforcement::Enforce => "enforce".into(),
                                crate::policy::Enforcement::Audit => {
                                    format!("audit (would be {})", d.would_be)
                                }
                            },
                        },
                    )
                    .await
                }
                Step::Started { spec } => {
                    let started = log
                        .event(
                            id,
                            EventKind::Started,
                            json!({ "image": spec.image(), "spec": spec.summary() }),
                        )
                        .await;
                    match started {
                        Ok(()) => log.flush().await,
                        Err(e) => Err(e),
                    }
                }
                Step::Killed { reason, detail } => {
                    let hit = log
                        .event(
                            id,
                            EventKind::LimitHit,
                            json!({ "limit": reason.as_str(), "detail": detail }),
                        )
                        .await;
                    let killed = log
                        .event(
                            id,
                            EventKind::Killed,
                            json!({ "reason": reason.as_str(), "detail": detail }),
                        )
                        .await;
                    hit.and(killed)
                }
                Step::Finished(r) => {
                    let mut spec = r.sandbox.clone().unwrap_or(Value::Null);
                    if let Some(obj) = spec.as_object_mut() {
                        obj.insert("image_id".into(), json!(r.image_id));
                    }
                    log.finish(
                        id,
                        FinishRecord {
                            exit_code: r.exit_code,
                            reason: r.termination_reason.as_str().to_string(),
                            spec,
                            usage: json!({
                                "peak_memory_bytes": r.usage.peak_memory_bytes,
                                "cpu_time_ms": r.usage.cpu_time_ms,
                                "peak_pids": r.usage.peak_pids,
                                "wall_ms": r.usage.wall_ms,
                                "limits": to_json(&r.limits),
                                "detail": r.detail,
                            }),
                            durations: to_json(&r.durations),
                            stdout_truncated: r.stdout_truncated,
                            stderr_truncated: r.stderr_truncated,
                        },
                    )
                    .await
                }
                Step::Error { stage, message } => {
                    log.event(
                        id,
                        EventKind::Error,
                        json!({ "stage": stage, "message": message }),
                    )
                    .await
                }
            };
            r.map_err(|e| e.to_string())
        })
    }
}
