//! The reviewer's side of the log: query, show, verify, export, stats and
//! prune (the one sanctioned deletion, preceded by a signed checkpoint).
//! Everything here reads through [`Store`](super::store::Store) in pages, so
//! memory stays constant however long the chain is.

use std::collections::BTreeMap;
use std::io::Write;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::chain::{self, Break, ChainRow, Verifier, GENESIS_HASH};
use super::store::{ExecRow, RowFilter};
use super::{format_time, AuditError, AuditLog, EventKind};

const PAGE: i64 = 10_000;
/// Pages fetched ahead of the one being hashed by `verify`.
const PAGES_IN_FLIGHT: usize = 3;

/// Filters of `cordon audit query` (all optional, ANDed).
#[derive(Debug, Clone, Default)]
pub struct QueryFilter {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub verdict: Option<String>,
    pub language: Option<String>,
    pub tenant: Option<String>,
    /// A rule id that must be among the execution's `rule_ids`.
    pub rule: Option<String>,
    /// Termination reason (`exited`, `timeout`, `oom`, `denied`, `interrupted`, ...).
    pub reason: Option<String>,
    /// At most this many rows, newest first (default 100).
    pub limit: Option<usize>,
}

/// An `executions` row, JSON columns decoded, sealed code omitted.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ExecutionRecord {
    pub id: String,
    pub tenant: String,
    pub submitted_at: String,
    pub language: String,
    pub code_size: i64,
    pub code_sha256: String,
    pub code_key_id: String,
    /// The cordon process (writer id) that recorded the execution.
    pub writer_id: String,
    /// Size and SHA-256 of the program's stdin; `null` when it was given none.
    pub stdin_size: Option<i64>,
    pub stdin_sha256: Option<String>,
    pub policy_name: Option<String>,
    pub policy_hash: Option<String>,
    pub enforcement: Option<String>,
    pub verdict: Option<String>,
    pub risk_score: Option<i64>,
    pub findings: Value,
    pub rule_ids: Vec<String>,
    pub reasons: Vec<String>,
    pub spec: Value,
    pub exit_code: Option<i64>,
    pub termination_reason: Option<String>,
    pub usage: Value,
    pub durations: Value,
    pub stdout_truncated: Option<bool>,
    pub stderr_truncated: Option<bool>,
    pub finished_at: Option<String>,
}

fn parse_json(text: Option<&str>) -> Value {
    match text {
        None => Value::Null,
        Some(t) => serde_json::from_str(t).unwrap_or_else(|_| Value::String(t.to_string())),
    }
}

fn parse_list(text: Option<&str>) -> Vec<String> {
    text.and_then(|t| serde_json::from_str::<Vec<String>>(t).ok())
        .unwrap_or_default()
}

impl From<&ExecRow> for ExecutionRecord {
    fn from(r: &ExecRow) -> Self {
        ExecutionRecord {
            id: r.id.clone(),
            tenant: r.tenant.clone(),
            submitted_at: r.submitted_at.clone(),
            language: r.language.clone(),
            code_size: r.code_size,
            code_sha256: r.code_sha256.clone(),
            code_key_id: r.code_key_id.clone(),
            writer_id: r.writer_id.clone(),
            stdin_size: r.stdin_size,
            stdin_sha256: r.stdin_sha256.clone(),
            policy_name: r.policy_name.clone(),
            policy_hash: r.policy_hash.clone(),
            enforcement: r.enforcement.clone(),
            verdict: r.verdict.clone(),
            risk_score: r.risk_score,
            findings: parse_json(r.findings.as_deref()),
            rule_ids: parse_list(r.rule_ids.as_deref()),
            reasons: parse_list(r.reasons.as_deref()),
            spec: parse_json(r.spec.as_deref()),
            exit_code: r.exit_code,
            termination_reason: r.termination_reason.clone(),
            usage: parse_json(r.usage.as_deref()),
            durations: parse_json(r.durations.as_deref()),
            stdout_truncated: r.stdout_truncated,
            stderr_truncated: r.stderr_truncated,
            finished_at: r.finished_at.clone(),
        }
    }
}

/// One event with its payload decoded.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EventView {
    pub seq: i64,
    pub execution_id: Option<String>,
    pub at: String,
    pub kind: String,
    pub payload: Value,
    pub prev_hash: String,
    pub hash: String,
}

impl From<&ChainRow> for EventView {
    fn from(r: &ChainRow) -> Self {
        EventView {
            seq: r.seq,
            execution_id: r.execution_id.clone(),
            at: r.at.clone(),
            kind: r.kind.clone(),
            payload: parse_json(Some(&r.payload)),
            prev_hash: r.prev_hash.clone(),
            hash: r.hash.clone(),
        }
    }
}

/// `cordon audit show`: the row, its events, optionally the code, and every
/// disagreement found between the row, the events and their hashes.
#[derive(Debug, Clone, Serialize)]
pub struct ShowRecord {
    pub execution: ExecutionRecord,
    pub events: Vec<EventView>,
    /// The code (lossy UTF-8), only when revealed with the key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The program's stdin (lossy UTF-8), only when revealed and there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
    /// Empty when the row agrees with its events and every event hashes correctly.
    pub mismatches: Vec<String>,
}

/// What an execution was given, as submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevealedInput {
    pub code: Vec<u8>,
    /// Empty when the execution was given no stdin.
    pub stdin: Vec<u8>,
}

/// Options of `cordon audit verify`.
#[derive(Debug, Clone, Copy, Default)]
pub struct VerifyOptions {
    /// Start at this seq, trusting its `prev_hash` (default: the first stored event).
    pub from: Option<i64>,
    /// Also check every executions row against its events (slower).
    pub rows: bool,
    /// Also check that every payload is canonical JSON (slower).
    pub payloads: bool,
}

/// Result of `verify`.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// Events whose link and hash were checked.
    pub checked: u64,
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
    /// Why the first checked event's `prev_hash` was trusted.
    pub anchor: String,
    /// The first break in the chain, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broken: Option<String>,
    #[serde(skip)]
    pub broken_at: Option<Break>,
    /// Other failures (row/event disagreements, bad checkpoint signatures).
    pub problems: Vec<String>,
    /// Things that could not be checked (e.g. signatures without the key).
    pub notes: Vec<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.broken_at.is_none() && self.problems.is_empty()
    }

    /// The seq of the first break, if any.
    pub fn broken_seq(&self) -> Option<i64> {
        self.broken_at.as_ref().map(Break::seq)
    }
}

/// Formats of `cordon audit export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// One JSON object per line: seq, execution_id, at, kind, payload (the
    /// canonical JSON, embedded verbatim), prev_hash, hash.
    Jsonl,
    /// RFC 4180 CSV with a header; `payload` is the canonical JSON text.
    Csv,
}

/// Counts of `cordon audit stats`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    pub since: Option<String>,
    pub until: Option<String>,
    pub total: u64,
    pub by_verdict: BTreeMap<String, u64>,
    pub by_reason: BTreeMap<String, u64>,
    pub by_language: BTreeMap<String, u64>,
    pub by_tenant: BTreeMap<String, u64>,
    pub by_rule: BTreeMap<String, u64>,
}

/// Result of `prune`.
#[derive(Debug, Clone, Serialize)]
pub struct PruneReport {
    /// Events with a seq below this were removed.
    pub below_seq: i64,
    pub removed: u64,
    /// The `prev_hash` of `below_seq`, vouched for by the checkpoint.
    pub anchor_hash: String,
}

/// Compares a row with the payloads of its events.
pub(crate) fn row_mismatches(row: &ExecRow, events: &[ChainRow]) -> Vec<String> {
    let mut out = Vec::new();
    for e in events {
        let recomputed = e.recompute();
        if recomputed != e.hash {
            out.push(format!(
                "event seq {} ({}) does not match its hash",
                e.seq, e.kind
            ));
        }
    }
    let last = |kind: &str| {
        events
            .iter()
            .rev()
            .find(|e| e.kind == kind)
            .map(|e| (e, parse_json(Some(&e.payload))))
    };
    let mut diffs: Vec<String> = Vec::new();
    let mut check = |what: &str, row_val: Value, ev_val: Option<&Value>| {
        let ev_val = ev_val.cloned().unwrap_or(Value::Null);
        if row_val != ev_val {
            diffs.push(format!("{what}: row has {row_val}, event has {ev_val}"));
        }
    };
    let jtext = |t: &Option<String>| parse_json(t.as_deref());
    match last("received") {
        Some((_, p)) => {
            check("tenant", json!(row.tenant), p.get("tenant"));
            check("language", json!(row.language), p.get("language"));
            check("code_size", json!(row.code_size), p.get("size"));
            check("code_sha256", json!(row.code_sha256), p.get("code_sha256"));
            check("code_key_id", json!(row.code_key_id), p.get("key_id"));
            check("stdin_size", json!(row.stdin_size), p.get("stdin_size"));
            check(
                "stdin_sha256",
                json!(row.stdin_sha256),
                p.get("stdin_sha256"),
            );
            check(
                "submitted_at",
                json!(row.submitted_at),
                p.get("submitted_at"),
            );
        }
        None => out.push("no `received` event for this execution".into()),
    }
    match last("decided") {
        Some((_, p)) => {
            check("verdict", json!(row.verdict), p.get("verdict"));
            check("risk_score", json!(row.risk_score), p.get("risk_score"));
            check("policy_name", json!(row.policy_name), p.get("policy_name"));
            check("policy_hash", json!(row.policy_hash), p.get("policy_hash"));
            check("enforcement", json!(row.enforcement), p.get("enforcement"));
            check("findings", jtext(&row.findings), p.get("findings"));
            check("rule_ids", jtext(&row.rule_ids), p.get("rule_ids"));
            check("reasons", jtext(&row.reasons), p.get("reasons"));
        }
        None if row.verdict.is_some() => {
            out.push("row has a verdict but there is no `decided` event".into())
        }
        None => {}
    }
    let end = events
        .iter()
        .rev()
        .find(|e| e.kind == "finished" || e.kind == "interrupted");
    match end {
        Some(e) if e.kind == "finished" => {
            let p = parse_json(Some(&e.payload));
            check("exit_code", json!(row.exit_code), p.get("exit_code"));
            check(
                "termination_reason",
                json!(row.termination_reason),
                p.get("termination_reason"),
            );
            check("spec", jtext(&row.spec), p.get("spec"));
            check("usage", jtext(&row.usage), p.get("usage"));
            check("durations", jtext(&row.durations), p.get("durations"));
            check(
                "stdout_truncated",
                json!(row.stdout_truncated),
                p.get("stdout_truncated"),
            );
            check(
                "stderr_truncated",
                json!(row.stderr_truncated),
                p.get("stderr_truncated"),
            );
            check("finished_at", json!(row.finished_at), Some(&json!(e.at)));
        }
        Some(e) => {
            check(
                "termination_reason",
                json!(row.termination_reason),
                Some(&json!("interrupted")),
            );
            check("finished_at", json!(row.finished_at), Some(&json!(e.at)));
        }
        None if row.finished_at.is_some() || row.termination_reason.is_some() => {
            out.push("row is finished but there is no `finished` or `interrupted` event".into())
        }
        None => {}
    }
    out.extend(diffs);
    out
}

fn checkpoint_message(payload: &Value) -> Option<(String, String)> {
    let mut p = payload.as_object()?.clone();
    let sig = p.remove("signature")?.as_str()?.to_string();
    Some((chain::canonical_json(&Value::Object(p)), sig))
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

impl AuditLog {
    fn row_filter(f: &QueryFilter) -> RowFilter {
        RowFilter {
            since: f.since.map(format_time),
            until: f.until.map(format_time),
            verdict: f.verdict.clone(),
            language: f.language.clone(),
            tenant: f.tenant.clone(),
            rule_like: f
                .rule
                .as_ref()
                .map(|r| format!("%{}%", chain::canonical_json(&json!(r)))),
            reason: f.reason.clone(),
        }
    }

    /// One keyset page of executions matching `rf` after `after`, which it
    /// advances to the page's last row.
    async fn executions_after(
        &self,
        rf: &RowFilter,
        after: &mut Option<(String, String)>,
        descending: bool,
        size: i64,
    ) -> Result<Vec<ExecRow>, AuditError> {
        let page = self
            .inner
            .store
            .executions_page(
                rf,
                after.as_ref().map(|(a, b)| (a.as_str(), b.as_str())),
                descending,
                size,
            )
            .await?;
        if let Some(last) = page.last() {
            *after = Some((last.submitted_at.clone(), last.id.clone()));
        }
        Ok(page)
    }

    /// Executions matching `filter`, newest first.
    pub async fn query(&self, filter: &QueryFilter) -> Result<Vec<ExecutionRecord>, AuditError> {
        let limit = filter.limit.unwrap_or(100);
        let rf = Self::row_filter(filter);
        let mut out = Vec::new();
        let mut after: Option<(String, String)> = None;
        while out.len() < limit {
            let page = self.executions_after(&rf, &mut after, true, 500).await?;
            if page.is_empty() {
                break;
            }
            let full = page.len() == 500;
            for row in &page {
                let rec = ExecutionRecord::from(row);
                if filter
                    .rule
                    .as_ref()
                    .is_some_and(|r| !rec.rule_ids.contains(r))
                {
                    continue;
                }
                out.push(rec);
                if out.len() >= limit {
                    break;
                }
            }
            if !full {
                break;
            }
        }
        Ok(out)
    }

    /// The exact code and stdin of an execution, unsealed with the key, to
    /// run it again (an approved review). Refuses when either does not match
    /// the digest recorded beside it: what runs must be what was vetted.
    pub async fn reveal_input(&self, id: &str) -> Result<RevealedInput, AuditError> {
        let (_, row) = self.row_of(id).await?;
        let (input, problems) = self.open_input(&row)?;
        if !problems.is_empty() {
            return Err(AuditError::Unseal(problems.join("; ")));
        }
        Ok(input)
    }

    /// The normalised id and the row of one execution.
    async fn row_of(&self, id: &str) -> Result<(String, ExecRow), AuditError> {
        let id = id.trim().to_ascii_lowercase();
        let row = self
            .inner
            .store
            .execution(&id)
            .await?
            .ok_or_else(|| AuditError::UnknownExecution(id.clone()))?;
        Ok((id, row))
    }

    /// Unseals code and stdin; digest mismatches are returned, not raised.
    fn open_input(&self, row: &ExecRow) -> Result<(RevealedInput, Vec<String>), AuditError> {
        let key = self.inner.key.as_ref().ok_or(AuditError::NoKey)?;
        let mut problems = Vec::new();
        let code = key.open(&row.id, &row.code_key_id, &row.code_sealed)?;
        if hex::encode(Sha256::digest(&code)) != row.code_sha256 {
            problems.push("revealed code does not match code_sha256".into());
        }
        let stdin = match &row.stdin_sealed {
            Some(sealed) => {
                let plain = key.open(&super::stdin_aad(&row.id), &row.code_key_id, sealed)?;
                if Some(hex::encode(Sha256::digest(&plain))) != row.stdin_sha256 {
                    problems.push("revealed stdin does not match stdin_sha256".into());
                }
                plain
            }
            None => Vec::new(),
        };
        Ok((RevealedInput { code, stdin }, problems))
    }

    /// The full record of one execution; the code only with `reveal_code` and the key.
    pub async fn show(&self, id: &str, reveal_code: bool) -> Result<ShowRecord, AuditError> {
        let (id, row) = self.row_of(id).await?;
        let events = self.inner.store.events_of(&id).await?;
        let mut mismatches = row_mismatches(&row, &events);
        let (code, stdin) = if reveal_code {
            let (input, problems) = self.open_input(&row)?;
            mismatches.extend(problems);
            let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            let stdin = row.stdin_sealed.is_some().then(|| text(&input.stdin));
            (Some(text(&input.code)), stdin)
        } else {
            (None, None)
        };
        Ok(ShowRecord {
            execution: ExecutionRecord::from(&row),
            events: events.iter().map(EventView::from).collect(),
            code,
            stdin,
            mismatches,
        })
    }

    /// Recomputes the chain (see [`chain`]) and reports the first break.
    pub async fn verify(&self, opts: VerifyOptions) -> Result<VerifyReport, AuditError> {
        let store = &self.inner.store;
        let (head_seq, head_hash) = store.head().await?;
        let mut report = VerifyReport {
            checked: 0,
            first_seq: None,
            last_seq: None,
            anchor: String::new(),
            broken: None,
            broken_at: None,
            problems: Vec::new(),
            notes: Vec::new(),
        };
        let first_stored = store.first_seq().await?;
        let Some(first_stored) = first_stored else {
            if head_seq != 0 {
                report.broken_at = Some(Break::Head {
                    head_seq,
                    head_hash,
                    last_seq: 0,
                    last_hash: GENESIS_HASH.into(),
                });
            }
            report.anchor = "empty log".into();
            return Ok(finish_report(report));
        };
        let start = opts.from.unwrap_or(first_stored).max(first_stored);
        let (prev, mut needs_checkpoint) = if start == 1 {
            report.anchor = "genesis (seq 1)".into();
            (GENESIS_HASH.to_string(), false)
        } else {
            let Some(row) = store.event_at(start).await? else {
                report.broken_at = Some(Break::Gap {
                    expected_seq: start,
                    found_seq: start + 1,
                });
                return Ok(finish_report(report));
            };
            if opts.from.is_some() {
                report.anchor =
                    format!("--from {start}: prev_hash of seq {start} trusted as given");
                (row.prev_hash, false)
            } else {
                (row.prev_hash, true)
            }
        };
        let anchor_prev = prev.clone();
        let mut v = Verifier::new(start, prev).with_payload_check(opts.payloads);
        // Keep several pages in flight while hashing the current one: each
        // fetch decodes on its own connection (SQLite: its own worker thread),
        // so on two cores decoding and SHA-256 overlap. Pages are seq ranges;
        // a missing seq shows up as a gap in the page that should hold it.
        let fetch = |from: i64| {
            let store = store.clone();
            let n = PAGE.min(head_seq - from + 1);
            (
                n,
                tokio::spawn(async move { store.chain_page(from, None, n).await }),
            )
        };
        let mut next_from = start;
        let mut pending = std::collections::VecDeque::new();
        let mut refill = |pending: &mut std::collections::VecDeque<_>| {
            while pending.len() < PAGES_IN_FLIGHT && next_from <= head_seq {
                let (n, handle) = fetch(next_from);
                next_from += n;
                pending.push_back(handle);
            }
        };
        refill(&mut pending);
        'walk: while let Some(handle) = pending.pop_front() {
            let page = handle
                .await
                .map_err(|e| AuditError::Invalid(format!("verify reader stopped: {e}")))??;
            refill(&mut pending);
            if page.is_empty() {
                break;
            }
            for row in &page {
                if row.seq > head_seq {
                    break 'walk;
                }
                if let Err(b) = v.push(row) {
                    report.broken_at = Some(b);
                    break 'walk;
                }
                if row.kind == EventKind::Checkpoint.as_str() {
                    let payload = parse_json(Some(&row.payload));
                    self.check_checkpoint(row.seq, &payload, &mut report);
                    if needs_checkpoint
                        && payload.get("below_seq").and_then(Value::as_i64) == Some(start)
                        && payload.get("anchor_hash").and_then(Value::as_str)
                            == Some(anchor_prev.as_str())
                    {
                        needs_checkpoint = false;
                        report.anchor =
                            format!("checkpoint seq {} (prune below seq {start})", row.seq);
                    }
                }
            }
        }
        for h in pending {
            h.abort();
        }
        report.checked = v.checked();
        report.first_seq = Some(start);
        report.last_seq = if v.checked() > 0 {
            Some(v.next_seq() - 1)
        } else {
            None
        };
        if report.broken_at.is_none() {
            let last_seq = v.next_seq() - 1;
            if last_seq != head_seq || v.last_hash() != head_hash {
                report.broken_at = Some(Break::Head {
                    head_seq,
                    head_hash,
                    last_seq,
                    last_hash: v.last_hash().to_string(),
                });
            }
        }
        if needs_checkpoint && report.broken_at.is_none() {
            report.broken_at = Some(Break::Gap {
                expected_seq: 1,
                found_seq: start,
            });
            report.problems.push(format!(
                "the chain starts at seq {start} but no checkpoint vouches for the removed prefix"
            ));
        }
        if opts.rows {
            self.verify_rows(&mut report).await?;
        }
        Ok(finish_report(report))
    }

    fn check_checkpoint(&self, seq: i64, payload: &Value, report: &mut VerifyReport) {
        let Some((message, sig)) = checkpoint_message(payload) else {
            report
                .problems
                .push(format!("checkpoint seq {seq} has no signature"));
            return;
        };
        let key_id = payload.get("key_id").and_then(Value::as_str).unwrap_or("");
        match &self.inner.key {
            Some(k) if k.id() == key_id => {
                if k.sign(message.as_bytes()) != sig {
                    report.problems.push(format!("checkpoint seq {seq} has an invalid signature"));
                }
            }
            _ => report.notes.push(format!(
                "checkpoint seq {seq}: signature not checked (signed with key {key_id}, which is not loaded)"
            )),
        }
    }

    async fn verify_rows(&self, report: &mut VerifyReport) -> Result<(), AuditError> {
        let rf = RowFilter::default();
        let mut after: Option<(String, String)> = None;
        loop {
            let page = self.executions_after(&rf, &mut after, false, 1000).await?;
            if page.is_empty() {
                break;
            }
            for row in &page {
                let events = self.inner.store.events_of(&row.id).await?;
                for m in row_mismatches(row, &events) {
                    report.problems.push(format!("execution {}: {m}", row.id));
                }
            }
            if page.len() < 1000 {
                break;
            }
        }
        Ok(())
    }

    /// Streams events (with hashes) to `out`; returns how many were written.
    pub async fn export<W: Write + Send>(
        &self,
        format: ExportFormat,
        since: Option<DateTime<Utc>>,
        out: &mut W,
    ) -> Result<u64, AuditError> {
        let since = since.map(format_time);
        let mut next = self.inner.store.first_seq().await?.unwrap_or(1);
        let mut n = 0u64;
        if format == ExportFormat::Csv {
            writeln!(out, "seq,execution_id,at,kind,payload,prev_hash,hash")
                .map_err(AuditError::Output)?;
        }
        loop {
            let page = self
                .inner
                .store
                .chain_page(next, since.as_deref(), 1000)
                .await?;
            let Some(last) = page.last() else { break };
            next = last.seq + 1;
            for r in &page {
                match format {
                    ExportFormat::Jsonl => {
                        let id = r.execution_id.as_ref().map_or(Value::Null, |i| json!(i));
                        writeln!(
                            out,
                            "{{\"seq\":{},\"execution_id\":{},\"at\":{},\"kind\":{},\"payload\":{},\"prev_hash\":{},\"hash\":{}}}",
                            r.seq,
                            chain::canonical_json(&id),
                            chain::canonical_json(&json!(r.at)),
                            chain::canonical_json(&json!(r.kind)),
                            r.payload,
                            chain::canonical_json(&json!(r.prev_hash)),
                            chain::canonical_json(&json!(r.hash)),
                        )
                    }
                    ExportFormat::Csv => writeln!(
                        out,
                        "{},{},{},{},{},{},{}",
                        r.seq,
                        csv_field(r.execution_id.as_deref().unwrap_or("")),
                        csv_field(&r.at),
                        csv_field(&r.kind),
                        csv_field(&r.payload),
                        r.prev_hash,
                        r.hash
                    ),
                }
                .map_err(AuditError::Output)?;
                n += 1;
            }
            if page.len() < 1000 {
                break;
            }
        }
        out.flush().map_err(AuditError::Output)?;
        Ok(n)
    }

    /// Counts by verdict, termination reason, language, tenant and rule.
    pub async fn stats(
        &self,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> Result<Stats, AuditError> {
        let filter = QueryFilter {
            since,
            until,
            ..Default::default()
        };
        let rf = Self::row_filter(&filter);
        let mut stats = Stats {
            since: since.map(format_time),
            until: until.map(format_time),
            ..Default::default()
        };
        let mut after: Option<(String, String)> = None;
        loop {
            let page = self.executions_after(&rf, &mut after, false, 1000).await?;
            if page.is_empty() {
                break;
            }
            for r in &page {
                stats.total += 1;
                *stats
                    .by_verdict
                    .entry(r.verdict.clone().unwrap_or_else(|| "(none)".into()))
                    .or_default() += 1;
                *stats
                    .by_reason
                    .entry(
                        r.termination_reason
                            .clone()
                            .unwrap_or_else(|| "(unfinished)".into()),
                    )
                    .or_default() += 1;
                *stats.by_language.entry(r.language.clone()).or_default() += 1;
                *stats.by_tenant.entry(r.tenant.clone()).or_default() += 1;
                for rule in parse_list(r.rule_ids.as_deref()) {
                    *stats.by_rule.entry(rule).or_default() += 1;
                }
            }
            if page.len() < 1000 {
                break;
            }
        }
        Ok(stats)
    }

    /// Removes events older than `before`: first appends a checkpoint event,
    /// signed with a key derived from the audit key, that records the seq
    /// below which events go and the hash the remaining chain starts from;
    /// then deletes that prefix (and executions with no events left).
    pub async fn prune(&self, before: DateTime<Utc>) -> Result<PruneReport, AuditError> {
        let key = self.inner.key.as_ref().ok_or(AuditError::NoKey)?;
        self.flush().await?;
        let store = &self.inner.store;
        let Some(first) = store.first_seq().await? else {
            return Ok(PruneReport {
                below_seq: 1,
                removed: 0,
                anchor_hash: GENESIS_HASH.into(),
            });
        };
        let (head_seq, _) = store.head().await?;
        let before_s = format_time(before);
        let below = match store.chain_page(first, Some(&before_s), 1).await?.first() {
            Some(r) => r.seq,
            None => head_seq,
        };
        let Some(anchor_row) = store.event_at(below).await? else {
            return Err(AuditError::Invalid(format!("event seq {below} not found")));
        };
        if below <= first {
            return Ok(PruneReport {
                below_seq: first,
                removed: 0,
                anchor_hash: anchor_row.prev_hash,
            });
        }
        let mut payload = json!({
            "action": "prune",
            "before": before_s,
            "below_seq": below,
            "first_removed_seq": first,
            "anchor_hash": anchor_row.prev_hash,
            "key_id": key.id(),
        });
        let sig = key.sign(chain::canonical_json(&payload).as_bytes());
        if let Some(obj) = payload.as_object_mut() {
            obj.insert("signature".into(), json!(sig));
        }
        self.append_global(EventKind::Checkpoint, &payload).await?;
        let removed = store.prune(below).await?;
        Ok(PruneReport {
            below_seq: below,
            removed,
            anchor_hash: anchor_row.prev_hash,
        })
    }
}

fn finish_report(mut r: VerifyReport) -> VerifyReport {
    r.broken = r.broken_at.as_ref().map(ToString::to_string);
    r
}
