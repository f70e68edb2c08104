//! `cordon audit query|show|verify|export|stats|prune`: argument parsing and
//! presentation over the library's [`AuditLog`](crate::audit::AuditLog).
//! Nothing here touches the database directly.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Subcommand, ValueEnum};

use crate::audit::{AuditConfig, AuditLog, ExportFormat, QueryFilter, VerifyOptions};

/// Where the audit log lives (shared by every `cordon audit` subcommand).
#[derive(Debug, Clone, Default, Args)]
pub struct AuditArgs {
    /// Audit store URL: `sqlite://PATH` (default: $XDG_DATA_HOME/cordon/audit.db) or `postgres://USER@HOST/DB`.
    #[arg(long, env = "CORDON_AUDIT_URL", global = true)]
    pub audit_url: Option<String>,
    /// File holding the 32-byte audit key that seals submitted code (default: $XDG_DATA_HOME/cordon/audit.key).
    #[arg(long, env = "CORDON_AUDIT_KEY_FILE", global = true)]
    pub audit_key_file: Option<PathBuf>,
}

impl AuditArgs {
    /// The library configuration these arguments describe.
    pub fn config(&self) -> AuditConfig {
        AuditConfig {
            url: self.audit_url.clone(),
            key_file: self.audit_key_file.clone(),
            ..Default::default()
        }
    }
}

/// Output format of `query`, `show`, `verify` and `stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned text for people.
    Table,
    /// JSON for programs.
    Json,
}

/// Format of `export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormatArg {
    /// One JSON object per line, with seq, prev_hash and hash (re-verifiable, see `cordon audit verify`).
    Jsonl,
    /// CSV with a header line; the payload column holds the canonical JSON.
    Csv,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List recorded executions, newest first.
    Query {
        /// Only executions submitted at or after this time (RFC 3339, YYYY-MM-DD, or an age such as 24h, 7d).
        #[arg(long, value_parser = parse_time)]
        since: Option<DateTime<Utc>>,
        /// Only executions submitted before this time (same forms as --since).
        #[arg(long, value_parser = parse_time)]
        until: Option<DateTime<Utc>>,
        /// Only this verdict (allow, review, deny).
        #[arg(long)]
        verdict: Option<String>,
        /// Only this language (python, javascript, bash).
        #[arg(long)]
        language: Option<String>,
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// Only executions where this rule id matched (e.g. PY-PROC-001).
        #[arg(long = "rule", value_name = "ID")]
        rule: Option<String>,
        /// Only this termination reason (exited, timeout, cpu_time, oom, pids, output_limit, denied, engine_error, interrupted, host_overloaded).
        #[arg(long)]
        reason: Option<String>,
        /// At most this many executions.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// Show one execution: its record, every event, and any disagreement between them.
    Show {
        /// Execution id (UUID).
        id: String,
        /// Also decrypt and print the submitted code and the program's stdin, if
        /// it had one (needs the audit key).
        #[arg(long)]
        reveal_code: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// Recompute the hash chain; exit 0 when intact, 1 naming the first broken seq.
    Verify {
        /// Start at this seq, trusting its prev_hash (default: the first stored event).
        #[arg(long, value_name = "SEQ")]
        from: Option<i64>,
        /// Also check every execution row against its events.
        #[arg(long)]
        rows: bool,
        /// Also check that every payload is in canonical JSON form.
        #[arg(long)]
        payloads: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// Stream events with their hashes (for a SIEM or an outside verifier), in constant memory.
    Export {
        /// Output format.
        #[arg(long, value_enum, default_value_t = ExportFormatArg::Jsonl)]
        format: ExportFormatArg,
        /// Only events at or after this time (same forms as query --since).
        #[arg(long, value_parser = parse_time)]
        since: Option<DateTime<Utc>>,
        /// Write to this file instead of stdout.
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
    },
    /// Count executions by verdict, termination reason, language, tenant and rule.
    Stats {
        /// Only executions submitted at or after this time.
        #[arg(long, value_parser = parse_time)]
        since: Option<DateTime<Utc>>,
        /// Only executions submitted before this time.
        #[arg(long, value_parser = parse_time)]
        until: Option<DateTime<Utc>>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// Delete events older than a date, after appending a signed checkpoint the chain stays verifiable from.
    Prune {
        /// Delete events recorded before this time (RFC 3339, YYYY-MM-DD, or an age such as 90d).
        #[arg(long, value_parser = parse_time)]
        before: DateTime<Utc>,
    },
}

/// Parses RFC 3339, a date (midnight UTC) or an age (`30m`, `24h`, `7d`, `2w`) before now.
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0) {
            return Ok(t.and_utc());
        }
    }
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    if let Ok(n) = num.parse::<i64>() {
        let d = match unit {
            "s" => chrono::Duration::try_seconds(n),
            "m" => chrono::Duration::try_minutes(n),
            "h" => chrono::Duration::try_hours(n),
            "d" => chrono::Duration::try_days(n),
            "w" => chrono::Duration::try_weeks(n),
            _ => None,
        };
        if let Some(d) = d {
            return Ok(Utc::now() - d);
        }
    }
    Err(format!("`{s}` is not a time: use RFC 3339 (2024-05-01T12:00:00Z), a date (2024-05-01) or an age (24h, 7d)"))
}

fn print_json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "-".to_string(), ToString::to_string)
}

/// Runs one `cordon audit` subcommand; returns the process exit code.
pub async fn run(cmd: AuditCommand, args: &AuditArgs) -> anyhow::Result<i32> {
    let cfg = args.config();
    let url = cfg.resolved_url()?;
    let what = || {
        format!(
            "cannot open the audit log at {}",
            crate::audit::redact_url(&url)
        )
    };
    match cmd {
        AuditCommand::Query {
            since,
            until,
            verdict,
            language,
            tenant,
            rule,
            reason,
            limit,
            format,
        } => {
            let log = AuditLog::open_reader(&cfg).await.with_context(what)?;
            let filter = QueryFilter {
                since,
                until,
                verdict,
                language,
                tenant,
                rule,
                reason,
                limit: Some(limit),
            };
            let rows = log.query(&filter).await?;
            match format {
                OutputFormat::Json => print_json(&rows)?,
                OutputFormat::Table => {
                    let mut out = std::io::stdout().lock();
                    writeln!(
                        out,
                        "{:<27} {:<36} {:<12} {:<10} {:<7} {:>5} {:<14} {:>4}  RULES",
                        "SUBMITTED",
                        "ID",
                        "TENANT",
                        "LANGUAGE",
                        "VERDICT",
                        "SCORE",
                        "REASON",
                        "EXIT"
                    )?;
                    for r in &rows {
                        writeln!(
                            out,
                            "{:<27} {:<36} {:<12} {:<10} {:<7} {:>5} {:<14} {:>4}  {}",
                            r.submitted_at,
                            r.id,
                            r.tenant,
                            r.language,
                            opt(&r.verdict),
                            opt(&r.risk_score),
                            opt(&r.termination_reason),
                            opt(&r.exit_code),
                            r.rule_ids.join(",")
                        )?;
                    }
                }
            }
            Ok(0)
        }
        AuditCommand::Show {
            id,
            reveal_code,
            format,
        } => {
            let log = AuditLog::open_reader(&cfg).await.with_context(what)?;
            let rec = log.show(&id, reveal_code).await?;
            match format {
                OutputFormat::Json => print_json(&rec)?,
                OutputFormat::Table => {
                    let mut out = std::io::stdout().lock();
                    let e = &rec.execution;
                    writeln!(out, "execution   {}", e.id)?;
                    writeln!(out, "tenant      {}", e.tenant)?;
                    writeln!(out, "submitted   {}", e.submitted_at)?;
                    writeln!(
                        out,
                        "language    {} ({} bytes, sha256 {})",
                        e.language, e.code_size, e.code_sha256
                    )?;
                    if let (Some(size), Some(sha)) = (e.stdin_size, &e.stdin_sha256) {
                        writeln!(out, "stdin       {size} bytes, sha256 {sha}")?;
                    }
                    writeln!(
                        out,
                        "policy      {} {} ({})",
                        opt(&e.policy_name),
                        opt(&e.policy_hash),
                        opt(&e.enforcement)
                    )?;
                    writeln!(
                        out,
                        "verdict     {} (score {})",
                        opt(&e.verdict),
                        opt(&e.risk_score)
                    )?;
                    writeln!(out, "rules       {}", e.rule_ids.join(", "))?;
                    writeln!(
                        out,
                        "ended       {} (exit {}) at {}",
                        opt(&e.termination_reason),
                        opt(&e.exit_code),
                        opt(&e.finished_at)
                    )?;
                    writeln!(out, "events")?;
                    for ev in &rec.events {
                        writeln!(
                            out,
                            "  {:>8}  {}  {:<11} {}",
                            ev.seq, ev.at, ev.kind, ev.payload
                        )?;
                    }
                    if rec.mismatches.is_empty() {
                        writeln!(out, "consistency ok: the row matches its events and every event matches its hash")?;
                    } else {
                        for m in &rec.mismatches {
                            writeln!(out, "MISMATCH    {m}")?;
                        }
                    }
                    if let Some(code) = &rec.code {
                        writeln!(out, "code\n{code}")?;
                    }
                    if let Some(stdin) = &rec.stdin {
                        writeln!(out, "stdin\n{stdin}")?;
                    }
                }
            }
            Ok(if rec.mismatches.is_empty() { 0 } else { 1 })
        }
        AuditCommand::Verify {
            from,
            rows,
            payloads,
            format,
        } => {
            let log = AuditLog::open_reader(&cfg).await.with_context(what)?;
            let started = std::time::Instant::now();
            let report = log
                .verify(VerifyOptions {
                    from,
                    rows,
                    payloads,
                })
                .await?;
            match format {
                OutputFormat::Json => print_json(&report)?,
                OutputFormat::Table => {
                    for note in &report.notes {
                        eprintln!("note: {note}");
                    }
                    if let Some(b) = &report.broken {
                        println!("BROKEN: {b}");
                    }
                    for p in &report.problems {
                        println!("PROBLEM: {p}");
                    }
                    if report.ok() {
                        println!(
                            "ok: {} events verified (seq {}..{}, anchor: {}) in {:.2?}",
                            report.checked,
                            opt(&report.first_seq),
                            opt(&report.last_seq),
                            report.anchor,
                            started.elapsed()
                        );
                    } else {
                        println!(
                            "{} events verified before the first failure",
                            report.checked
                        );
                    }
                }
            }
            Ok(if report.ok() { 0 } else { 1 })
        }
        AuditCommand::Export {
            format,
            since,
            output,
        } => {
            let log = AuditLog::open_reader(&cfg).await.with_context(what)?;
            let fmt = match format {
                ExportFormatArg::Jsonl => ExportFormat::Jsonl,
                ExportFormatArg::Csv => ExportFormat::Csv,
            };
            let n = match output {
                Some(path) => {
                    let f = std::fs::File::create(&path)
                        .with_context(|| format!("cannot create {}", path.display()))?;
                    let mut w = std::io::BufWriter::new(f);
                    log.export(fmt, since, &mut w).await?
                }
                None => {
                    let mut w = std::io::BufWriter::new(std::io::stdout());
                    log.export(fmt, since, &mut w).await?
                }
            };
            eprintln!("exported {n} events");
            Ok(0)
        }
        AuditCommand::Stats {
            since,
            until,
            format,
        } => {
            let log = AuditLog::open_reader(&cfg).await.with_context(what)?;
            let s = log.stats(since, until).await?;
            match format {
                OutputFormat::Json => print_json(&s)?,
                OutputFormat::Table => {
                    let mut out = std::io::stdout().lock();
                    writeln!(
                        out,
                        "executions: {} (since {}, until {})",
                        s.total,
                        opt(&s.since),
                        opt(&s.until)
                    )?;
                    for (title, map) in [
                        ("verdict", &s.by_verdict),
                        ("reason", &s.by_reason),
                        ("language", &s.by_language),
                        ("tenant", &s.by_tenant),
                        ("rule", &s.by_rule),
                    ] {
                        writeln!(out, "\nby {title}:")?;
                        let mut rows: Vec<_> = map.iter().collect();
                        rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
                        for (k, v) in rows {
                            writeln!(out, "  {v:>8}  {k}")?;
                        }
                    }
                }
            }
            Ok(0)
        }
        AuditCommand::Prune { before } => {
            let log = AuditLog::open(&cfg).await.with_context(what)?;
            super::leftovers::remove(&log, None, "audit prune").await;
            let r = log.prune(before).await?;
            log.close().await?;
            println!(
                "pruned {} events below seq {}; the chain now starts from {} (vouched for by a signed checkpoint)",
                r.removed, r.below_seq, r.anchor_hash
            );
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse() {
        assert!(parse_time("2024-05-01").is_ok());
        assert!(parse_time("2024-05-01T12:00:00Z").is_ok());
        let t = parse_time("24h").unwrap();
        assert!((Utc::now() - t).num_hours() == 24 || (Utc::now() - t).num_hours() == 23);
        assert!(parse_time("yesterday").is_err());
    }
}
