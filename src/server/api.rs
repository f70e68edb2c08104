//! The routes of the HTTP API and their handlers. Each handler carries its
//! `#[utoipa::path]` description, and the [`api!`] table below builds both
//! the axum router and the OpenAPI paths from the same list, so the
//! published description cannot drift from what is served.
//!
//! Request bodies are decoded here by hand (not with `Json<T>`) so every
//! malformed input gets a stable error code: `invalid_utf8`,
//! `malformed_json`, `unknown_field`, `invalid_request`, `unknown_language`,
//! `unknown_policy`, `payload_too_large`.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tracing::Instrument;
use utoipa::OpenApi;
use uuid::Uuid;

use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::exec::{final_status, Exec, ExecSink, Status, StreamEvent};
use super::limits::Slot;
use super::store::{Review, Role};
use super::{AppState, SelfTest};
use crate::audit::{EventKind, ExportFormat, QueryFilter, VerifyOptions};
use crate::decide::LimitRequest;
use crate::pipeline::{vet, ExecutionResult, Submission};
use crate::policy::{Enforcement, Policy};
use crate::Language;

// ---------------------------------------------------------------- requests

/// `POST /v1/analyze`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalyzeRequest {
    /// python | javascript | bash
    pub language: String,
    pub code: String,
    /// Policy name (default: the server's default policy).
    #[serde(default)]
    pub policy: Option<String>,
    /// Limits to request (each may only lower the policy's): cpus, memory, pids, wall, cpu_time, output, tmpfs.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub limits: Option<LimitRequest>,
}

/// `POST /v1/executions`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecutionRequest {
    /// python | javascript | bash
    pub language: String,
    pub code: String,
    #[serde(default)]
    pub policy: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub limits: Option<LimitRequest>,
    /// The program's standard input (UTF-8 text, at most `max_stdin`, 1 MiB by
    /// default). Not analysed: it is data. Sealed in the audit log beside the
    /// code, and given again to the run when a held execution is approved.
    #[serde(default)]
    pub stdin: Option<String>,
    /// Wait for the result (default true, bounded by the policy's wall limit).
    #[serde(default)]
    pub wait: Option<bool>,
}

/// `POST /v1/reviews/{id}/approve` and `/reject`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewDecision {
    /// Why (required for reject).
    #[serde(default)]
    pub comment: Option<String>,
}

// --------------------------------------------------------------- responses

/// `POST /v1/analyze` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AnalyzeResponse {
    /// allow | review | deny
    pub verdict: String,
    pub risk_score: u32,
    #[schema(value_type = Vec<Object>)]
    pub findings: Value,
    #[schema(value_type = Vec<Object>)]
    pub reasons: Value,
    pub policy: PolicyRefView,
    /// The limits a run would get.
    #[schema(value_type = Option<Object>)]
    pub limits: Value,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PolicyRefView {
    pub name: String,
    pub hash: String,
}

/// An execution as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExecutionView {
    pub id: String,
    pub status: Status,
    pub tenant: String,
    pub language: String,
    pub policy: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_execution_id: Option<String>,
    /// Present once the execution ended: stdout, stderr, exit_code,
    /// termination_reason, usage, limits, findings, durations. Executions no
    /// longer held in memory show their audit record instead (no output).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub audit_record: Option<Value>,
    pub events_url: String,
}

/// 202 answer of `POST /v1/executions` (not waited for, or held for review).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Accepted {
    pub id: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub risk_score: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub findings: Option<Value>,
    pub execution_url: String,
    pub events_url: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PolicySummary {
    pub name: String,
    pub hash: String,
    pub source: String,
    pub enforcement: String,
    pub languages: Vec<String>,
    pub rules: usize,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReviewActionResponse {
    pub review: Review,
    /// The execution that runs the approved code (approve only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_id: Option<String>,
}

// ------------------------------------------------------------ query params

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// RFC 3339, YYYY-MM-DD, or an age such as 24h, 7d.
    pub since: Option<String>,
    pub until: Option<String>,
    pub verdict: Option<String>,
    pub language: Option<String>,
    /// Only for keys of every tenant; others always see their own tenant.
    pub tenant: Option<String>,
    pub rule: Option<String>,
    pub reason: Option<String>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<usize>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct VerifyQuery {
    pub from: Option<i64>,
    /// Also check rows against events (keys of every tenant only).
    pub rows: Option<bool>,
    pub payloads: Option<bool>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// jsonl (default) | csv
    pub format: Option<String>,
    pub since: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReviewsQuery {
    /// pending (default) | approved | rejected | expired | all
    pub status: Option<String>,
    pub limit: Option<i64>,
}

// ------------------------------------------------------------------ helpers

fn classify_json(e: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::bad("malformed_json", format!("the body is not valid JSON: {e}"))
        }
        Category::Data if e.to_string().starts_with("unknown field") => {
            ApiError::bad("unknown_field", e.to_string())
        }
        Category::Data => ApiError::bad("invalid_request", e.to_string()),
    }
}

fn decode<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let body = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge("the request body is larger than allowed".into())
        } else {
            ApiError::bad("invalid_request", "the request body could not be read")
        }
    })?;
    let text = std::str::from_utf8(&body)
        .map_err(|e| ApiError::bad("invalid_utf8", format!("the body is not valid UTF-8: {e}")))?;
    serde_json::from_str(text).map_err(|e| classify_json(&e))
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(v)| v)
        .map_err(|e| ApiError::bad("invalid_query", e.body_text()))
}

fn parse_id(id: &str, what: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id.trim()).map_err(|_| ApiError::NotFound(what.into()))
}

fn parse_time(s: Option<&str>) -> Result<Option<chrono::DateTime<Utc>>, ApiError> {
    s.map(|s| crate::cli::audit::parse_time(s).map_err(|e| ApiError::bad("invalid_query", e)))
        .transpose()
}

struct Checked {
    language: Language,
    policy: Arc<Policy>,
    limits: LimitRequest,
}

fn check_common(
    state: &AppState,
    language: &str,
    code: &str,
    policy: Option<&str>,
    limits: Option<LimitRequest>,
) -> Result<Checked, ApiError> {
    let language: Language = language
        .parse()
        .map_err(|e: crate::language::UnknownLanguage| {
            ApiError::bad("unknown_language", e.to_string())
        })?;
    within_limit("code", code.len(), state.config().max_code.0)?;
    let name = policy.unwrap_or(&state.config().default_policy);
    let policy = state.inner().policies.get(name).cloned().ok_or_else(|| {
        ApiError::bad(
            "unknown_policy",
            format!("no policy named {name:?} (see GET /v1/policies)"),
        )
    })?;
    Ok(Checked {
        language,
        policy,
        limits: limits.unwrap_or_default(),
    })
}

fn exec_view(e: &Exec) -> ExecutionView {
    let s = e.state();
    ExecutionView {
        id: e.id.to_string(),
        status: s.status,
        tenant: e.tenant.clone(),
        language: e.language.clone(),
        policy: e.policy.clone(),
        verdict: s.verdict.map(|v| v.as_str().to_string()),
        review_id: s.review_id.clone(),
        approved_execution_id: s.approved_execution_id.clone(),
        result: s
            .result
            .as_ref()
            .map(|r| serde_json::to_value(&**r).unwrap_or(Value::Null)),
        audit_record: None,
        events_url: format!("/v1/executions/{}/events", e.id),
    }
}

fn status_event(e: &Exec, status: Status, r: &ExecutionResult) -> StreamEvent {
    StreamEvent::Status(json!({
        "id": e.id.to_string(),
        "status": status,
        "verdict": r.verdict,
        "termination_reason": r.termination_reason,
        "exit_code": r.exit_code,
        "detail": r.detail,
        "usage": r.usage,
        "stdout_truncated": r.stdout_truncated,
        "stderr_truncated": r.stderr_truncated,
        "audit_error": r.audit_error,
    }))
}

/// Derives the policy an approved execution runs under: the same document in
/// `enforcement: audit`, so the findings are recorded again with their
/// would-be verdict but the reviewer's decision is not overridden, while
/// limits (and what cannot be analysed) are still enforced.
fn approval_policy(p: &Policy) -> Policy {
    let mut p = p.clone();
    p.doc.enforcement = Enforcement::Audit;
    p.hash = crate::policy::content_hash(&p.doc);
    p
}

/// Starts a submission on its own task; the returned entry reports progress.
fn launch(
    state: &AppState,
    sub: Submission,
    exec: Arc<Exec>,
    slot: Option<Slot>,
    submitted_by: String,
) {
    let st = state.clone();
    st.inner().registry.insert(exec.clone());
    let span = tracing::info_span!("execution", execution_id = %exec.id, tenant = %exec.tenant);
    tokio::spawn(
        async move {
            let mut sink = ExecSink(exec.clone());
            let limits = sub.limits;
            let result = st.inner().pipeline.execute(sub, &mut sink).await;
            st.inner().metrics.execution(&result);
            let status = final_status(&result);
            tracing::info!(verdict = %result.verdict, reason = %result.termination_reason, total_ms = result.durations.total_ms, "execution ended");
            let mut review_id = None;
            if status == Status::PendingReview && exec.approval.is_none() {
                let now = Utc::now();
                let ttl = chrono::Duration::from_std(st.config().review_ttl.0)
                    .unwrap_or_else(|_| chrono::Duration::hours(24));
                let review = Review {
                    id: Uuid::new_v4().to_string(),
                    execution_id: exec.id.to_string(),
                    tenant: exec.tenant.clone(),
                    language: exec.language.clone(),
                    policy_name: result.decision.policy.name.clone(),
                    policy_hash: result.decision.policy.hash.clone(),
                    limits: serde_json::to_value(limits).unwrap_or(Value::Null),
                    risk_score: i64::from(result.decision.risk_score),
                    findings: serde_json::to_value(&result.analysis.findings).unwrap_or(Value::Null),
                    submitted_by,
                    created_at: crate::audit::format_time(now),
                    expires_at: crate::audit::format_time(now + ttl),
                    status: "pending".into(),
                    reviewer: None,
                    comment: None,
                    decided_at: None,
                    run_execution_id: None,
                };
                match st.store().insert_review(&review).await {
                    Ok(()) => review_id = Some(review.id),
                    Err(e) => tracing::error!(error = %e, "could not queue the held execution for review"),
                }
            }
            let status = if status == Status::PendingReview && review_id.is_none() {
                Status::Denied
            } else {
                status
            };
            let ev = status_event(&exec, status, &result);
            exec.update(|s| {
                s.status = status;
                s.review_id = review_id;
                s.verdict = Some(result.verdict);
                s.decided = true;
                s.result = Some(Arc::new(result));
                s.events.push(ev);
                s.done = true;
                s.finished_at = Some(std::time::Instant::now());
            });
            drop(slot);
        }
        .instrument(span),
    );
}

/// How long a waiting request may wait for a run of `policy`'s `language`.
fn wait_bound(policy: &Policy, language: Language, limits: &LimitRequest) -> Duration {
    let wall = limits
        .wall
        .map(|w| w.0)
        .or_else(|| policy.doc.runtimes.get(&language).map(|r| r.limits.wall.0))
        .unwrap_or(Duration::from_secs(10));
    // Create, start and cleanup come on top of the program's own wall time.
    wall + Duration::from_secs(15)
}

// ----------------------------------------------------------------- handlers

/// Process liveness; needs no key.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is alive", body = Object)))]
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: engine reachable, images present, audit store writable, isolation self-test passed.
#[utoipa::path(get, path = "/readyz", tag = "operations", security(("bearer" = [])),
    responses((status = 200, description = "Ready", body = Object),
              (status = 503, description = "Not ready; `checks` says why", body = Object),
              (status = 401, description = "No valid key", body = ErrorBody)))]
pub async fn readyz(State(state): State<AppState>, _caller: Caller) -> Response {
    let mut checks = Vec::new();
    let mut images = BTreeSet::new();
    for p in state.inner().policies.values() {
        for rt in p.doc.runtimes.values() {
            images.insert(rt.image.clone());
        }
    }
    let engine =
        tokio::time::timeout(Duration::from_secs(5), state.inner().docker.client().ping()).await;
    // Ready only once the watcher, which gates admission, also sees the engine.
    let engine_ok = matches!(engine, Ok(Ok(_))) && state.inner().engine.up();
    checks.push(json!({ "name": "engine", "ok": engine_ok }));
    for image in images {
        let ok = engine_ok && state.inner().docker.preflight_image(&image).await.is_ok();
        checks.push(json!({ "name": format!("image {image}"), "ok": ok }));
    }
    let spooled = state.audit().degraded();
    let audit_ok = spooled.is_none()
        && state.audit().flush().await.is_ok()
        && state.store().writable().await.is_ok();
    checks.push(match spooled {
        Some(why) => json!({ "name": "audit_store_writable", "ok": false, "detail": why }),
        None => json!({ "name": "audit_store_writable", "ok": audit_ok }),
    });
    let st = state
        .inner()
        .self_test
        .lock()
        .map(|s| s.clone())
        .unwrap_or(SelfTest::NotRun);
    let (st_ok, st_detail) = match st {
        SelfTest::Passed => (true, "passed".to_string()),
        SelfTest::NotRun => (false, "not run".to_string()),
        SelfTest::Failed(_) => (false, "failed (see the server log)".to_string()),
    };
    checks.push(json!({ "name": "isolation_self_test", "ok": st_ok, "detail": st_detail }));
    let draining = state.draining();
    checks.push(json!({ "name": "accepting", "ok": !draining }));
    let ready = checks.iter().all(|c| c["ok"] == json!(true));
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(json!({ "ready": ready, "checks": checks }))).into_response()
}

/// Prometheus metrics (text format).
#[utoipa::path(get, path = "/metrics", tag = "operations", security(("bearer" = [])),
    responses((status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn metrics(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(&[Role::Auditor], "read metrics")?;
    let inner = state.inner();
    let gauges = super::metrics::Gauges {
        running: inner.registry.running(),
        queue_depth: inner.admission.queued(),
        pending_reviews: state.store().pending_count().await.unwrap_or(0),
    };
    let mut resp = inner.metrics.render(gauges).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(resp)
}

/// This description (OpenAPI 3.1), generated from the handlers.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", security(("bearer" = [])),
    responses((status = 200, description = "OpenAPI document", body = Object), (status = 401, body = ErrorBody)))]
pub async fn openapi_json(_caller: Caller) -> Json<utoipa::openapi::OpenApi> {
    Json(openapi())
}

/// Vet only: verdict, risk score, findings, policy name and hash. Nothing runs and nothing is recorded.
#[utoipa::path(post, path = "/v1/analyze", tag = "executions", security(("bearer" = [])),
    request_body = AnalyzeRequest,
    responses((status = 200, description = "The verdict", body = AnalyzeResponse),
              (status = 400, description = "Bad request (stable code)", body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn analyze(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<AnalyzeResponse>, ApiError> {
    caller.require(&[Role::Submitter], "submit code")?;
    let req: AnalyzeRequest = decode(body)?;
    let c = check_common(
        &state,
        &req.language,
        &req.code,
        req.policy.as_deref(),
        req.limits,
    )?;
    let code = req.code.into_bytes();
    let policy = c.policy.clone();
    let limits = c.limits;
    let language = c.language;
    // Analysis is CPU-bound (up to the analyzer's own time budget): keep it off the I/O threads.
    let (analysis, decision) =
        tokio::task::spawn_blocking(move || vet(language, &code, &policy, &limits))
            .await
            .map_err(ApiError::internal)?;
    Ok(Json(AnalyzeResponse {
        verdict: decision.verdict.as_str().into(),
        risk_score: decision.risk_score,
        findings: serde_json::to_value(&analysis.findings).map_err(ApiError::internal)?,
        reasons: serde_json::to_value(&decision.reasons).map_err(ApiError::internal)?,
        policy: PolicyRefView {
            name: decision.policy.name.clone(),
            hash: decision.policy.hash.clone(),
        },
        limits: serde_json::to_value(decision.limits).map_err(ApiError::internal)?,
    }))
}

/// Analyze, decide and, if allowed, run. Waits for the result unless `wait` is false.
#[utoipa::path(post, path = "/v1/executions", tag = "executions", security(("bearer" = [])),
    request_body = ExecutionRequest,
    responses((status = 200, description = "Ran (or engine error); full result", body = ExecutionView),
              (status = 202, description = "Accepted and running (wait=false or past the wait bound), or held for review (`pending_review`)", body = Accepted),
              (status = 400, description = "Bad request (stable code)", body = ErrorBody),
              (status = 401, body = ErrorBody),
              (status = 403, description = "`forbidden` (role) or `policy_denied` with findings and the audit id", body = ErrorBody),
              (status = 413, body = ErrorBody),
              (status = 429, description = "Tenant rate limit; see Retry-After", body = ErrorBody),
              (status = 503, description = "Host admission refused (`host_overloaded`), engine or audit store away (`engine_unavailable`, `audit_unavailable`), or shutting down; see Retry-After", body = ErrorBody)))]
pub async fn create_execution(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Submitter], "submit code")?;
    let req: ExecutionRequest = decode(body)?;
    let stdin = req.stdin.unwrap_or_default().into_bytes();
    within_limit("stdin", stdin.len(), state.config().max_stdin.0)?;
    let c = check_common(
        &state,
        &req.language,
        &req.code,
        req.policy.as_deref(),
        req.limits,
    )?;
    if state.draining() {
        return Err(ApiError::ShuttingDown);
    }
    // Refused before anything is recorded or run: without the engine nothing
    // can run, and without the store no start can be durably recorded.
    if !state.inner().engine.up() {
        return Err(ApiError::Unavailable {
            code: "engine_unavailable",
            message: format!(
                "the container engine at {} does not answer; nothing ran",
                state.inner().docker.endpoint()
            ),
        });
    }
    if let Some(why) = state.audit().degraded() {
        return Err(ApiError::Unavailable {
            code: "audit_unavailable",
            message: format!("{why}; nothing ran"),
        });
    }
    if caller.scope().is_none() {
        return Err(ApiError::Forbidden {
            role: caller.role.to_string(),
            action: "submit code without a tenant (keys of tenant '*' only read)",
        });
    }
    let slot = state.inner().limiter.acquire(&caller.tenant).map_err(|l| {
        state.inner().metrics.rate_limited();
        ApiError::RateLimited {
            message: l.message,
            retry_after_secs: l.retry_after_secs,
        }
    })?;
    let mut sub = Submission::new(c.language, req.code.into_bytes(), c.policy.clone());
    sub.stdin = stdin;
    sub.tenant = caller.tenant.clone();
    sub.limits = c.limits;
    let exec = Exec::new(
        sub.id,
        &caller.tenant,
        &caller.key_id,
        c.language.as_str(),
        c.policy.name(),
        None,
    );
    sub.cancel = exec.cancel.clone();
    tracing::Span::current().record("execution_id", tracing::field::display(exec.id));
    let bound = wait_bound(&c.policy, c.language, &c.limits);
    launch(&state, sub, exec.clone(), Some(slot), caller.key_id.clone());

    // The verdict and host admission are known within milliseconds; only then answer.
    exec.wait_for(bound, |s| s.started || s.done).await;
    let (done, status) = {
        let s = exec.state();
        (s.done, s.status)
    };
    if done {
        return Ok(ended_response(&exec, status));
    }
    if req.wait.unwrap_or(true) && exec.wait_for(bound, |s| s.done).await {
        let status = exec.state().status;
        return Ok(ended_response(&exec, status));
    }
    let status = exec.state().status;
    Ok((StatusCode::ACCEPTED, Json(accepted(&exec, status))).into_response())
}

/// `413 payload_too_large` when a decoded field is over its configured size.
fn within_limit(what: &str, len: usize, max: u64) -> Result<(), ApiError> {
    if len as u64 > max {
        return Err(ApiError::PayloadTooLarge(format!(
            "{what} is {len} bytes; the limit is {max} bytes"
        )));
    }
    Ok(())
}

fn accepted(exec: &Exec, status: Status) -> Accepted {
    Accepted {
        id: exec.id.to_string(),
        status,
        review_id: None,
        risk_score: None,
        findings: None,
        execution_url: format!("/v1/executions/{}", exec.id),
        events_url: format!("/v1/executions/{}/events", exec.id),
    }
}

/// The answer for an execution that has ended.
fn ended_response(exec: &Exec, status: Status) -> Response {
    let result = exec.state().result.clone();
    let Some(r) = result else {
        return ApiError::Internal("ended without a result".into()).into_response();
    };
    let findings = serde_json::to_value(&r.analysis.findings).unwrap_or(Value::Null);
    match status {
        Status::Denied => ApiError::PolicyDenied {
            policy: r.decision.policy.name.clone(),
            body: json!({
                "execution_id": exec.id.to_string(),
                "audit_id": exec.id.to_string(),
                "verdict": r.verdict,
                "risk_score": r.decision.risk_score,
                "findings": findings,
                "reasons": r.decision.reasons,
                "policy": { "name": r.decision.policy.name, "hash": r.decision.policy.hash },
            }),
        }
        .into_response(),
        Status::PendingReview => {
            let mut a = accepted(exec, status);
            a.review_id = exec.state().review_id.clone();
            a.risk_score = Some(r.decision.risk_score);
            a.findings = Some(findings);
            (StatusCode::ACCEPTED, Json(a)).into_response()
        }
        Status::Refused => ApiError::HostOverloaded {
            message: r.detail.clone().unwrap_or_else(|| "host overloaded".into()),
            retry_after_secs: 2,
        }
        .into_response(),
        _ => (StatusCode::OK, Json(exec_view(exec))).into_response(),
    }
}

/// Status and result of one execution of the caller's tenant.
#[utoipa::path(get, path = "/v1/executions/{id}", tag = "executions", security(("bearer" = [])),
    params(("id" = String, Path, description = "Execution id")),
    responses((status = 200, body = ExecutionView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_execution(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ExecutionView>, ApiError> {
    let id = parse_id(&id, "execution")?;
    tracing::Span::current().record("execution_id", tracing::field::display(id));
    if let Some(e) = state.inner().registry.get(&id) {
        if !caller.sees(&e.tenant) {
            return Err(ApiError::NotFound("execution".into()));
        }
        return Ok(Json(exec_view(&e)));
    }
    // Not in memory (older, or from before a restart): the audit record.
    let show = state.audit().show(&id.to_string(), false).await?;
    let rec = show.execution;
    if !caller.sees(&rec.tenant) {
        return Err(ApiError::NotFound("execution".into()));
    }
    let review = state
        .store()
        .review_of_execution(&rec.id)
        .await
        .map_err(ApiError::internal)?;
    let status = match (
        &review,
        rec.termination_reason.as_deref(),
        rec.verdict.as_deref(),
    ) {
        (Some(r), _, _) => match r.status.as_str() {
            "approved" => Status::Approved,
            "rejected" => Status::Rejected,
            "expired" => Status::Expired,
            _ => Status::PendingReview,
        },
        (None, None, _) => Status::Running,
        (None, Some("denied"), _) => Status::Denied,
        (None, Some("host_overloaded"), _) => Status::Refused,
        (None, Some("interrupted"), _) => Status::Interrupted,
        (None, Some(_), _) => Status::Completed,
    };
    Ok(Json(ExecutionView {
        id: rec.id.clone(),
        status,
        tenant: rec.tenant.clone(),
        language: rec.language.clone(),
        policy: rec.policy_name.clone().unwrap_or_default(),
        verdict: rec.verdict.clone(),
        review_id: review.as_ref().map(|r| r.id.clone()),
        approved_execution_id: review.and_then(|r| r.run_execution_id),
        result: None,
        events_url: format!("/v1/executions/{}/events", rec.id),
        audit_record: Some(serde_json::to_value(&rec).map_err(ApiError::internal)?),
    }))
}

/// Server-Sent Events: `stdout`/`stderr` chunks, `usage` snapshots, then one final `status`, in order.
#[utoipa::path(get, path = "/v1/executions/{id}/events", tag = "executions", security(("bearer" = [])),
    params(("id" = String, Path, description = "Execution id")),
    responses((status = 200, description = "text/event-stream; each event's data is JSON with a `seq`", content_type = "text/event-stream", body = String),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn execution_events(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id, "execution")?;
    let Some(exec) = state.inner().registry.get(&id) else {
        // Known only to the audit log: no output kept, just the final status.
        let show = state.audit().show(&id.to_string(), false).await?;
        if !caller.sees(&show.execution.tenant) {
            return Err(ApiError::NotFound("execution".into()));
        }
        let data = json!({
            "id": show.execution.id,
            "status": show.execution.termination_reason.as_deref().map_or("running", |r| if r == "interrupted" { "interrupted" } else { "completed" }),
            "termination_reason": show.execution.termination_reason,
            "exit_code": show.execution.exit_code,
            "seq": 0,
            "note": "output is not kept after an execution leaves memory",
        });
        let stream = futures_util::stream::iter([Ok::<_, Infallible>(
            Event::default().event("status").data(data.to_string()),
        )]);
        return Ok(Sse::new(stream).into_response());
    };
    if !caller.sees(&exec.tenant) {
        return Err(ApiError::NotFound("execution".into()));
    }
    let stream = async_stream::stream! {
        let mut rx = exec.subscribe();
        let mut next = 0usize;
        loop {
            let (batch, done) = {
                let s = exec.state();
                (s.events.get(next..).map(<[_]>::to_vec).unwrap_or_default(), s.done)
            };
            for ev in batch {
                let data = ev.data(next).to_string();
                next += 1;
                yield Ok::<_, Infallible>(Event::default().event(ev.name()).id(next.to_string()).data(data));
            }
            if done {
                // `done` is set together with the final status event, so everything was sent.
                let len = exec.state().events.len();
                if next >= len {
                    break;
                }
                continue;
            }
            if rx.changed().await.is_err() {
                break;
            }
        }
    };
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

/// Cancels a pending or running execution; it ends `interrupted`.
#[utoipa::path(post, path = "/v1/executions/{id}/cancel", tag = "executions", security(("bearer" = [])),
    params(("id" = String, Path, description = "Execution id")),
    responses((status = 202, description = "Cancellation requested", body = Object),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, description = "`not_cancellable`: already ended", body = ErrorBody)))]
pub async fn cancel_execution(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Submitter], "cancel executions")?;
    let id = parse_id(&id, "execution")?;
    tracing::Span::current().record("execution_id", tracing::field::display(id));
    let exec = state
        .inner()
        .registry
        .get(&id)
        .filter(|e| caller.sees(&e.tenant))
        .ok_or_else(|| ApiError::NotFound("execution".into()))?;
    if exec.state().done {
        return Err(ApiError::Conflict {
            code: "not_cancellable",
            message: "the execution has already ended".into(),
        });
    }
    let _ = state
        .audit()
        .event(
            id,
            EventKind::Cancelled,
            json!({ "requested_by": caller.audit_name() }),
        )
        .await;
    exec.cancel.cancel();
    tracing::info!("cancellation requested");
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "id": id.to_string(), "status": "cancelling" })),
    )
        .into_response())
}

/// The review queue of the caller's tenant (pending first, oldest first).
#[utoipa::path(get, path = "/v1/reviews", tag = "reviews", security(("bearer" = [])),
    params(ReviewsQuery),
    responses((status = 200, body = Vec<Review>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_reviews(
    State(state): State<AppState>,
    caller: Caller,
    q: Result<Query<ReviewsQuery>, QueryRejection>,
) -> Result<Json<Vec<Review>>, ApiError> {
    caller.require(&[Role::Reviewer], "read the review queue")?;
    let q = query(q)?;
    expire_reviews(&state).await;
    let status = match q.status.as_deref() {
        None => Some("pending"),
        Some("all") => None,
        Some(s @ ("pending" | "approved" | "rejected" | "expired")) => Some(s),
        Some(other) => {
            return Err(ApiError::bad(
                "invalid_query",
                format!("unknown review status {other:?}"),
            ))
        }
    };
    let list = state
        .store()
        .reviews(
            caller.scope(),
            status,
            q.limit.unwrap_or(100).clamp(1, 1000),
        )
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(list))
}

async fn review_for(state: &AppState, caller: &Caller, id: &str) -> Result<Review, ApiError> {
    let id = parse_id(id, "review")?;
    state
        .store()
        .review(&id.to_string())
        .await
        .map_err(ApiError::internal)?
        .filter(|r| caller.sees(&r.tenant))
        .ok_or_else(|| ApiError::NotFound("review".into()))
}

fn not_pending(r: &Review) -> ApiError {
    ApiError::Conflict {
        code: "review_not_pending",
        message: format!("review {} is {}", r.id, r.status),
    }
}

fn is_expired(r: &Review) -> bool {
    chrono::DateTime::parse_from_rfc3339(&r.expires_at).is_ok_and(|t| t <= Utc::now())
}

/// Approves a held execution: its code runs as a new execution (same tenant,
/// limits and sandbox), with the reviewer and the link recorded in the audit log.
#[utoipa::path(post, path = "/v1/reviews/{id}/approve", tag = "reviews", security(("bearer" = [])),
    params(("id" = String, Path, description = "Review id")),
    request_body = ReviewDecision,
    responses((status = 202, description = "Approved; `execution_id` runs the code", body = ReviewActionResponse),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, description = "`review_not_pending` or `review_expired`", body = ErrorBody),
              (status = 429, body = ErrorBody)))]
pub async fn approve_review(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Reviewer], "decide reviews")?;
    let decision: ReviewDecision = decode_optional(body)?;
    let review = review_for(&state, &caller, &id).await?;
    if review.status != "pending" {
        return Err(not_pending(&review));
    }
    if is_expired(&review) {
        expire_reviews(&state).await;
        return Err(ApiError::Conflict {
            code: "review_expired",
            message: format!("review {} expired at {}", review.id, review.expires_at),
        });
    }
    if state.draining() {
        return Err(ApiError::ShuttingDown);
    }
    let held = parse_id(&review.execution_id, "execution")?;
    let policy = state
        .inner()
        .policies
        .get(&review.policy_name)
        .cloned()
        .ok_or_else(|| ApiError::Conflict {
            code: "policy_unavailable",
            message: format!("policy {} is no longer loaded", review.policy_name),
        })?;
    let language: Language = review.language.parse().map_err(ApiError::internal)?;
    let limits: LimitRequest =
        serde_json::from_value(review.limits.clone()).map_err(ApiError::internal)?;
    // Exactly what was vetted and held: code and stdin, checked against their digests.
    let held_input = state
        .audit()
        .reveal_input(&review.execution_id)
        .await
        .map_err(|e| ApiError::Internal(format!("the held code could not be revealed: {e}")))?;
    let slot =
        state
            .inner()
            .limiter
            .acquire(&review.tenant)
            .map_err(|l| ApiError::RateLimited {
                message: l.message,
                retry_after_secs: l.retry_after_secs,
            })?;
    let run_id = Uuid::new_v4();
    let reviewer = caller.audit_name();
    let comment = decision.comment.unwrap_or_default();
    if !state
        .store()
        .decide_review(
            &review.id,
            "approved",
            Some(&reviewer),
            Some(&comment),
            Some(&run_id.to_string()),
        )
        .await
        .map_err(ApiError::internal)?
    {
        let now = review_for(&state, &caller, &id).await?;
        return Err(not_pending(&now));
    }
    let _ = state
        .audit()
        .event(
            held,
            EventKind::Reviewed,
            json!({
                "decision": "approved",
                "review_id": review.id,
                "reviewer": reviewer,
                "comment": comment,
                "run_execution_id": run_id.to_string(),
            }),
        )
        .await;
    if let Some(h) = state.inner().registry.get(&held) {
        h.update(|s| {
            s.status = Status::Approved;
            s.approved_execution_id = Some(run_id.to_string());
        });
    }
    let mut sub = Submission::new(
        language,
        held_input.code,
        Arc::new(approval_policy(&policy)),
    );
    sub.stdin = held_input.stdin;
    sub.id = run_id;
    sub.tenant = review.tenant.clone();
    sub.limits = limits;
    let exec = Exec::new(
        run_id,
        &review.tenant,
        &review.submitted_by,
        language.as_str(),
        policy.name(),
        Some((review.execution_id.clone(), reviewer, comment)),
    );
    sub.cancel = exec.cancel.clone();
    launch(&state, sub, exec, Some(slot), review.submitted_by.clone());
    let review = review_for(&state, &caller, &id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ReviewActionResponse {
            review,
            execution_id: Some(run_id.to_string()),
        }),
    )
        .into_response())
}

fn decode_optional<T: serde::de::DeserializeOwned + Default>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    match &body {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Ok(T::default()),
        _ => decode(body),
    }
}

/// Rejects a held execution (a comment is required); nothing runs.
#[utoipa::path(post, path = "/v1/reviews/{id}/reject", tag = "reviews", security(("bearer" = [])),
    params(("id" = String, Path, description = "Review id")),
    request_body = ReviewDecision,
    responses((status = 200, body = ReviewActionResponse),
              (status = 400, description = "`comment_required`", body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub async fn reject_review(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ReviewActionResponse>, ApiError> {
    caller.require(&[Role::Reviewer], "decide reviews")?;
    let decision: ReviewDecision = decode_optional(body)?;
    let comment = decision
        .comment
        .filter(|c| !c.trim().is_empty())
        .ok_or_else(|| ApiError::bad("comment_required", "a rejection needs a comment"))?;
    let review = review_for(&state, &caller, &id).await?;
    if review.status != "pending" {
        return Err(not_pending(&review));
    }
    let reviewer = caller.audit_name();
    if !state
        .store()
        .decide_review(
            &review.id,
            "rejected",
            Some(&reviewer),
            Some(&comment),
            None,
        )
        .await
        .map_err(ApiError::internal)?
    {
        let now = review_for(&state, &caller, &id).await?;
        return Err(not_pending(&now));
    }
    if let Ok(held) = parse_id(&review.execution_id, "execution") {
        let _ = state
            .audit()
            .event(
                held,
                EventKind::Reviewed,
                json!({ "decision": "rejected", "review_id": review.id, "reviewer": reviewer, "comment": comment }),
            )
            .await;
        if let Some(h) = state.inner().registry.get(&held) {
            h.update(|s| s.status = Status::Rejected);
        }
    }
    let review = review_for(&state, &caller, &id).await?;
    Ok(Json(ReviewActionResponse {
        review,
        execution_id: None,
    }))
}

/// Marks pending reviews past their expiry `expired`, with an audit event each.
pub async fn expire_reviews(state: &AppState) {
    let Ok(list) = state.store().expired_pending(Utc::now()).await else {
        return;
    };
    for r in list {
        if let Ok(true) = state
            .store()
            .decide_review(&r.id, "expired", None, None, None)
            .await
        {
            if let Ok(held) = Uuid::parse_str(&r.execution_id) {
                let _ = state
                    .audit()
                    .event(
                        held,
                        EventKind::Reviewed,
                        json!({ "decision": "expired", "review_id": r.id }),
                    )
                    .await;
                if let Some(h) = state.inner().registry.get(&held) {
                    h.update(|s| s.status = Status::Expired);
                }
            }
        }
    }
}

/// Periodic work: expire reviews, drop old finished executions from memory.
pub async fn housekeeping(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(15));
    loop {
        tick.tick().await;
        expire_reviews(&state).await;
        state
            .inner()
            .registry
            .evict(state.config().retain_finished.0);
    }
}

/// Recorded executions of the caller's tenant, newest first (filters as `cordon audit query`).
#[utoipa::path(get, path = "/v1/audit", tag = "audit", security(("bearer" = [])),
    params(AuditQuery),
    responses((status = 200, body = Vec<Object>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn audit_query(
    State(state): State<AppState>,
    caller: Caller,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&[Role::Auditor], "read the audit log")?;
    let q = query(q)?;
    let tenant = match caller.scope() {
        Some(t) => Some(t.to_string()),
        None => q.tenant.clone(),
    };
    let filter = QueryFilter {
        since: parse_time(q.since.as_deref())?,
        until: parse_time(q.until.as_deref())?,
        verdict: q.verdict,
        language: q.language,
        tenant,
        rule: q.rule,
        reason: q.reason,
        limit: Some(q.limit.unwrap_or(100).clamp(1, 1000)),
    };
    let rows = state.audit().query(&filter).await?;
    Ok(Json(
        serde_json::to_value(rows).map_err(ApiError::internal)?,
    ))
}

/// One recorded execution with its events (the code stays sealed).
#[utoipa::path(get, path = "/v1/audit/{id}", tag = "audit", security(("bearer" = [])),
    params(("id" = String, Path, description = "Execution id")),
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn audit_show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&[Role::Auditor], "read the audit log")?;
    let id = parse_id(&id, "execution")?;
    let show = state.audit().show(&id.to_string(), false).await?;
    if !caller.sees(&show.execution.tenant) {
        return Err(ApiError::NotFound("execution".into()));
    }
    Ok(Json(
        serde_json::to_value(show).map_err(ApiError::internal)?,
    ))
}

/// Recomputes the hash chain and reports the first break.
#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit", security(("bearer" = [])),
    params(VerifyQuery),
    responses((status = 200, description = "`ok` tells whether the chain is intact", body = Object),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn audit_verify(
    State(state): State<AppState>,
    caller: Caller,
    q: Result<Query<VerifyQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&[Role::Auditor], "verify the audit log")?;
    let q = query(q)?;
    // Row checks name executions of every tenant: only for keys of every tenant.
    let rows = q.rows.unwrap_or(false) && caller.scope().is_none();
    let report = state
        .audit()
        .verify(VerifyOptions {
            from: q.from,
            rows,
            payloads: q.payloads.unwrap_or(false),
        })
        .await?;
    let mut v = serde_json::to_value(&report).map_err(ApiError::internal)?;
    if let Some(o) = v.as_object_mut() {
        o.insert("ok".into(), json!(report.ok()));
    }
    Ok(Json(v))
}

/// Streams audit events with their hashes (JSON lines or CSV). Keys bound to
/// one tenant get only that tenant's events.
#[utoipa::path(get, path = "/v1/audit/export", tag = "audit", security(("bearer" = [])),
    params(ExportQuery),
    responses((status = 200, description = "application/x-ndjson or text/csv, streamed", body = String),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn audit_export(
    State(state): State<AppState>,
    caller: Caller,
    q: Result<Query<ExportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Auditor], "export the audit log")?;
    let q = query(q)?;
    let (format, ctype) = match q.format.as_deref().unwrap_or("jsonl") {
        "jsonl" => (ExportFormat::Jsonl, "application/x-ndjson"),
        "csv" => (ExportFormat::Csv, "text/csv; charset=utf-8"),
        other => {
            return Err(ApiError::bad(
                "invalid_query",
                format!("unknown export format {other:?}: use jsonl or csv"),
            ))
        }
    };
    let since = parse_time(q.since.as_deref())?;
    let allowed: Option<std::collections::HashSet<String>> = match caller.scope() {
        None => None,
        Some(t) => {
            let mut ids = std::collections::HashSet::new();
            let filter = QueryFilter {
                tenant: Some(t.to_string()),
                limit: Some(usize::MAX),
                ..Default::default()
            };
            for r in state.audit().query(&filter).await? {
                ids.insert(r.id);
            }
            Some(ids)
        }
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let log = state.audit().clone();
    let handle = tokio::runtime::Handle::current();
    // The export writes synchronously; on a blocking thread the writer may wait for the client.
    tokio::task::spawn_blocking(move || {
        let mut w = ChannelWriter {
            tx,
            buf: Vec::new(),
            pending: Vec::new(),
            allowed,
            format,
            header_done: false,
        };
        let r = handle.block_on(log.export(format, since, &mut w));
        if let Err(e) = r {
            tracing::warn!(error = %e, "audit export ended early");
        }
    });
    let stream = async_stream::stream! {
        while let Some(chunk) = rx.recv().await {
            yield Ok::<_, Infallible>(chunk);
        }
    };
    let mut resp = Body::from_stream(stream).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    Ok(resp)
}

/// Sends export output to the response in chunks, keeping only the lines of
/// allowed executions when a tenant filter applies.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Bytes>,
    buf: Vec<u8>,
    pending: Vec<u8>,
    allowed: Option<std::collections::HashSet<String>>,
    format: ExportFormat,
    header_done: bool,
}

impl ChannelWriter {
    fn keep(&mut self, line: &[u8]) -> bool {
        let Some(allowed) = &self.allowed else {
            return true;
        };
        if self.format == ExportFormat::Csv && !self.header_done {
            self.header_done = true;
            return true;
        }
        let text = String::from_utf8_lossy(line);
        let id = match self.format {
            ExportFormat::Jsonl => serde_json::from_str::<Value>(&text).ok().and_then(|v| {
                v.get("execution_id")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            }),
            ExportFormat::Csv => text.split(',').nth(1).map(str::to_string),
        };
        id.is_some_and(|id| allowed.contains(&id))
    }

    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let mut chunk = Bytes::from(std::mem::take(&mut self.buf));
        // This runs inside `block_on` on a blocking thread, where tokio forbids
        // `blocking_send`; waiting by polling keeps the back-pressure.
        loop {
            match self.tx.try_send(chunk) {
                Ok(()) => return Ok(()),
                Err(tokio::sync::mpsc::error::TrySendError::Full(c)) => {
                    chunk = c;
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::BrokenPipe,
                        "client went away",
                    ))
                }
            }
        }
    }
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(data);
        while let Some(pos) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=pos).collect();
            if self.keep(&line) {
                self.buf.extend_from_slice(&line);
            }
        }
        if self.buf.len() >= 64 * 1024 {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// The policies this server offers.
#[utoipa::path(get, path = "/v1/policies", tag = "policies", security(("bearer" = [])),
    responses((status = 200, body = Vec<PolicySummary>), (status = 401, body = ErrorBody)))]
pub async fn list_policies(
    State(state): State<AppState>,
    _caller: Caller,
) -> Json<Vec<PolicySummary>> {
    Json(
        state
            .inner()
            .policies
            .iter()
            .map(|(name, p)| summary(name, p))
            .collect(),
    )
}

fn summary(name: &str, p: &Policy) -> PolicySummary {
    PolicySummary {
        name: name.to_string(),
        hash: p.hash.clone(),
        source: p.source.rsplit('/').next().unwrap_or(&p.source).to_string(),
        enforcement: match p.doc.enforcement {
            Enforcement::Enforce => "enforce".into(),
            Enforcement::Audit => "audit".into(),
        },
        languages: p.doc.runtimes.keys().map(|l| l.to_string()).collect(),
        rules: p.rules.len(),
    }
}

/// One policy: the effective document (rule packs merged) and its hash.
#[utoipa::path(get, path = "/v1/policies/{name}", tag = "policies", security(("bearer" = [])),
    params(("name" = String, Path, description = "Policy name")),
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_policy(
    State(state): State<AppState>,
    _caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let p = state
        .inner()
        .policies
        .get(&name)
        .ok_or_else(|| ApiError::NotFound("policy".into()))?;
    Ok(Json(json!({
        "summary": summary(&name, p),
        "policy": p.doc,
    })))
}

// ------------------------------------------------------------------ routing

/// One table builds both the router and the OpenAPI paths, so they cannot drift.
macro_rules! api {
    ($( $method:ident $doc:ident => $handler:ident ),* $(,)?) => {
        fn routes() -> Router<AppState> {
            Router::new() $( .route(&<$doc as utoipa::Path>::path(), axum::routing::$method($handler)) )*
        }

        /// Every (method, path) served, as documented.
        pub fn documented_routes() -> Vec<(String, String)> {
            let mut v = Vec::new();
            $( for m in <$doc as utoipa::Path>::methods() {
                let m = serde_json::to_value(&m).ok().and_then(|v| v.as_str().map(str::to_ascii_uppercase)).unwrap_or_default();
                v.push((m, <$doc as utoipa::Path>::path()));
            } )*
            v
        }

        fn paths() -> utoipa::openapi::path::Paths {
            utoipa::openapi::path::PathsBuilder::new() $( .path_from::<$doc>() )* .build()
        }
    };
}

api! {
    get __path_healthz => healthz,
    get __path_readyz => readyz,
    get __path_metrics => metrics,
    get __path_openapi_json => openapi_json,
    post __path_analyze => analyze,
    post __path_create_execution => create_execution,
    get __path_get_execution => get_execution,
    get __path_execution_events => execution_events,
    post __path_cancel_execution => cancel_execution,
    get __path_list_reviews => list_reviews,
    post __path_approve_review => approve_review,
    post __path_reject_review => reject_review,
    get __path_audit_query => audit_query,
    get __path_audit_verify => audit_verify,
    get __path_audit_export => audit_export,
    get __path_audit_show => audit_show,
    get __path_list_policies => list_policies,
    get __path_get_policy => get_policy,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "cordon", description = "Security-policy-driven execution gateway: analyze, decide, run sandboxed, monitor, audit."),
    components(schemas(
        ErrorBody, super::error::ErrorDetail, AnalyzeRequest, AnalyzeResponse, PolicyRefView,
        ExecutionRequest, ExecutionView, Accepted, Status, ReviewDecision, ReviewActionResponse,
        Review, PolicySummary, Role
    )),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI document of this server.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc.paths = paths();
    doc
}

async fn not_found() -> ApiError {
    ApiError::NotFound("route".into())
}

async fn method_not_allowed() -> Response {
    let mut r = ApiError::bad(
        "method_not_allowed",
        "this method is not allowed on this route",
    )
    .into_response();
    *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    r
}

/// Logs each request in a span (with the execution id when there is one)
/// and counts responses by status. Never logs bodies or keys.
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let span = tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        key = tracing::field::Empty,
        execution_id = tracing::field::Empty,
    );
    async move {
        let t = std::time::Instant::now();
        let resp = next.run(req).await;
        state.inner().metrics.http(resp.status().as_u16());
        tracing::info!(
            status = resp.status().as_u16(),
            ms = t.elapsed().as_millis() as u64,
            "request"
        );
        resp
    }
    .instrument(span)
    .await
}

/// The whole service as a router (tests may drive it without a socket).
pub fn app(state: AppState) -> Router {
    // JSON escaping can at most sextuple a byte (`\u0000`); the sizes of code
    // and stdin themselves are checked after decoding.
    let body_limit = usize::try_from(
        state
            .config()
            .max_code
            .0
            .saturating_add(state.config().max_stdin.0),
    )
    .unwrap_or(usize::MAX / 8)
    .saturating_mul(6)
    .saturating_add(64 * 1024);
    routes()
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented_once() {
        let doc = openapi();
        let routes = documented_routes();
        assert_eq!(routes.len(), 18);
        for (m, p) in &routes {
            assert!(
                doc.paths.paths.contains_key(p),
                "{m} {p} missing from the OpenAPI paths"
            );
        }
        let json = serde_json::to_value(&doc).unwrap();
        assert!(json["openapi"].as_str().unwrap().starts_with("3."));
    }

    #[test]
    fn json_errors_have_stable_codes() {
        let e = serde_json::from_str::<ExecutionRequest>("{").unwrap_err();
        assert_eq!(classify_json(&e).code(), "malformed_json");
        let e =
            serde_json::from_str::<ExecutionRequest>(r#"{"language":"python","code":"1","x":1}"#)
                .unwrap_err();
        assert_eq!(classify_json(&e).code(), "unknown_field");
        let e = serde_json::from_str::<ExecutionRequest>(r#"{"language":"python"}"#).unwrap_err();
        assert_eq!(classify_json(&e).code(), "invalid_request");
    }
}
