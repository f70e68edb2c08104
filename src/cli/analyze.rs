//! `cordon analyze`: findings, score and verdict without running anything,
//! as compiler-style text, JSON, or SARIF 2.1.0.

use clap::{Args, ValueEnum};
use serde_json::json;

use super::run::language_for;
use super::{read_input, PolicyArgs};
use crate::analyze::{analyze, Analysis, Finding};
use crate::decide::{decide, Decision, LimitRequest, Verdict};
use crate::policy::{Policy, Severity};

/// Exit codes of `cordon analyze`.
pub const EXIT_ALLOW: i32 = 0;
pub const EXIT_REVIEW: i32 = 1;
pub const EXIT_DENY: i32 = 2;
pub const EXIT_ERROR: i32 = 3;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
    Sarif,
}

#[derive(Debug, Args)]
#[command(after_long_help = "EXIT CODES (the worst verdict over all files):
  0  allow    1  review    2  deny    3  error (unreadable file, unknown language, bad policy)

EXAMPLES:
  cordon analyze script.py
  cordon analyze --policy strict --format sarif src/*.py > cordon.sarif
  curl -s https://example.org/install.sh | cordon analyze -l bash -")]
pub struct AnalyzeArgs {
    /// Language (inferred from each file's extension or shebang when omitted).
    #[arg(long, short = 'l')]
    language: Option<crate::Language>,
    #[command(flatten)]
    policy: PolicyArgs,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value = "text")]
    format: Format,
    /// Files to analyse, or `-` for stdin.
    #[arg(required = true)]
    files: Vec<String>,
}

struct Report {
    file: String,
    code: String,
    analysis: Analysis,
    decision: Decision,
}

pub fn run(a: AnalyzeArgs) -> anyhow::Result<i32> {
    let policy = match a.policy.load() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("cordon: {e:#}");
            return Ok(EXIT_ERROR);
        }
    };
    let mut reports = Vec::new();
    let mut errored = false;
    for file in &a.files {
        let loaded =
            read_input(file).and_then(|code| Ok((language_for(a.language, file, &code)?, code)));
        let (language, code) = match loaded {
            Ok(x) => x,
            Err(e) => {
                eprintln!("cordon: {e:#}");
                errored = true;
                continue;
            }
        };
        let analysis = analyze(&code, language, &policy);
        let decision = decide(&policy, language, &analysis, &LimitRequest::default());
        reports.push(Report {
            file: file.clone(),
            code: String::from_utf8_lossy(&code).into_owned(),
            analysis,
            decision,
        });
    }
    match a.format {
        Format::Text => print_text(&reports),
        Format::Json => {
            let v: Vec<_> = reports.iter().map(json_report).collect();
            let out = if v.len() == 1 {
                v.into_iter().next().unwrap_or_default()
            } else {
                json!(v)
            };
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Format::Sarif => println!(
            "{}",
            serde_json::to_string_pretty(&sarif(&policy, &reports))?
        ),
    }
    if errored {
        return Ok(EXIT_ERROR);
    }
    let worst = reports
        .iter()
        .map(|r| r.decision.verdict)
        .max()
        .unwrap_or(Verdict::Allow);
    Ok(match worst {
        Verdict::Allow => EXIT_ALLOW,
        Verdict::Review => EXIT_REVIEW,
        Verdict::Deny => EXIT_DENY,
    })
}

fn json_report(r: &Report) -> serde_json::Value {
    json!({
        "file": r.file,
        "language": r.analysis.language,
        "verdict": r.decision.verdict,
        "would_be": r.decision.would_be,
        "risk_score": r.decision.risk_score,
        "findings": r.analysis.findings,
        "reasons": r.decision.reasons,
        "error": serde_json::to_value(&r.analysis).ok().and_then(|v| v.get("error").cloned()),
        "policy": r.decision.policy,
        "duration_us": r.analysis.duration.as_micros() as u64,
    })
}

fn label(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

fn print_text(reports: &[Report]) {
    for r in reports {
        for f in &r.analysis.findings {
            print_finding(&r.file, &r.code, f);
        }
        if let Some(e) = &r.analysis.error {
            println!("error[{}]: {e}\n  --> {}\n", e.reason_code(), r.file);
        }
        let reasons: Vec<String> = r
            .decision
            .reasons
            .iter()
            .map(|x| format!("{}: {}", x.code, x.message))
            .collect();
        println!(
            "{}: {} (risk score {}, {} finding{}) under policy {} {}",
            r.file,
            r.decision.verdict,
            r.decision.risk_score,
            r.analysis.findings.len(),
            if r.analysis.findings.len() == 1 {
                ""
            } else {
                "s"
            },
            r.decision.policy.name,
            short_hash(&r.decision.policy.hash),
        );
        for reason in reasons {
            println!("  - {reason}");
        }
    }
}

fn short_hash(h: &str) -> String {
    h.chars().take(19).collect()
}

fn print_finding(file: &str, code: &str, f: &Finding) {
    let s = f.span;
    println!(
        "{}[{}] {}: {} ({})",
        label(f.severity),
        f.rule_id,
        f.severity.as_str(),
        f.message,
        f.cwe
    );
    println!("  --> {file}:{}:{}", s.start_line, s.start_col);
    let line = code
        .lines()
        .nth(s.start_line.saturating_sub(1) as usize)
        .unwrap_or("");
    let num = s.start_line.to_string();
    let pad = " ".repeat(num.len());
    let width = if s.end_line == s.start_line && s.end_col > s.start_col {
        (s.end_col - s.start_col) as usize
    } else {
        line.chars()
            .count()
            .saturating_sub(s.start_col.saturating_sub(1) as usize)
            .max(1)
    };
    println!(" {pad} |");
    println!(" {num} | {line}");
    println!(
        " {pad} | {}{}",
        " ".repeat(s.start_col.saturating_sub(1) as usize),
        "^".repeat(width.clamp(1, 120))
    );
    if !f.via.is_empty() {
        println!(" {pad} = revealed via {}", f.via.join(" <- "));
    }
    println!();
}

/// SARIF 2.1.0: one run, the policy's rules as the tool's rules, one result per finding.
fn sarif(policy: &Policy, reports: &[Report]) -> serde_json::Value {
    let rules: Vec<_> = policy
        .rules
        .iter()
        .map(|r| {
            json!({
                "id": r.rule.id,
                "shortDescription": { "text": r.rule.message },
                "defaultConfiguration": { "level": label(r.rule.severity) },
                "properties": { "cwe": r.rule.cwe, "severity": r.rule.severity, "score": r.rule.score, "tags": [r.rule.cwe] },
            })
        })
        .collect();
    let mut results = Vec::new();
    for r in reports {
        for f in &r.analysis.findings {
            let idx = policy
                .rules
                .iter()
                .position(|x| x.rule.id == f.rule_id)
                .unwrap_or(0);
            results.push(json!({
                "ruleId": f.rule_id,
                "ruleIndex": idx,
                "level": label(f.severity),
                "message": { "text": if f.via.is_empty() { f.message.clone() } else { format!("{} (revealed via {})", f.message, f.via.join(" <- ")) } },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": r.file },
                        "region": {
                            "startLine": f.span.start_line.max(1),
                            "startColumn": f.span.start_col.max(1),
                            "endLine": f.span.end_line.max(f.span.start_line).max(1),
                            "endColumn": f.span.end_col.max(1),
                            "snippet": { "text": f.snippet },
                        }
                    }
                }],
                "properties": { "verdict": r.decision.verdict, "riskScore": r.decision.risk_score },
            }));
        }
        if let Some(e) = &r.analysis.error {
            results.push(json!({
                "ruleId": e.reason_code(),
                "level": "error",
                "message": { "text": e.to_string() },
                "locations": [{ "physicalLocation": { "artifactLocation": { "uri": r.file } } }],
            }));
        }
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "cordon",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/cordon-dev/cordon",
                "rules": rules,
            }},
            "properties": { "policy": { "name": policy.name(), "hash": policy.hash } },
            "results": results,
        }]
    })
}
