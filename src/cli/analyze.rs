//! `cordon analyze`: findings, score and verdict without running anything,
//! as compiler-style text, JSON, or SARIF 2.1.0.
//!
//! Owns the command line around the analyzers: expanding directories into the
//! source files under them, analysing the inputs on every core, and printing
//! the reports in the order the inputs were given (the same bytes whatever the
//! number of threads). It must not run code or decide anything itself: the
//! analyzers find, `decide` decides.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use clap::{Args, ValueEnum};
use serde_json::json;

use super::run::language_for;
use super::{read_input, PolicyArgs};
use crate::analyze::{analyze, Analysis, Finding};
use crate::decide::{decide, Decision, LimitRequest, Verdict};
use crate::policy::{Policy, Severity};
use crate::Language;

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
    /// Files or directories to analyse, or `-` for stdin. A directory stands
    /// for the .py, .js, .mjs, .cjs, .sh and .bash files under it (of the
    /// --language only, when given), in path order.
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
    let (inputs, mut errored) = expand(&a.files, a.language);
    let keep_code = matches!(a.format, Format::Text);
    let mut reports = Vec::with_capacity(inputs.len());
    for outcome in analyze_all(&inputs, a.language, &policy, keep_code) {
        match outcome {
            Ok(r) => reports.push(r),
            Err(e) => {
                eprintln!("cordon: {e:#}");
                errored = true;
            }
        }
    }
    match a.format {
        Format::Text => print_text(&reports),
        Format::Json => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            if reports.len() == 1 {
                serde_json::to_writer_pretty(&mut out, &json_report(&reports[0]))?;
            } else {
                let v: Vec<_> = reports.iter().map(json_report).collect();
                serde_json::to_writer_pretty(&mut out, &v)?;
            }
            writeln!(out)?;
            out.flush()?;
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

/// The inputs in command-line order, each directory replaced by the source
/// files under it sorted by path. A directory that cannot be read is reported
/// on stderr and makes the run an error (fail closed: a file the user meant to
/// check was not checked).
fn expand(args: &[String], language: Option<Language>) -> (Vec<String>, bool) {
    let mut out = Vec::with_capacity(args.len());
    let mut errored = false;
    for arg in args {
        if arg != "-" && Path::new(arg).is_dir() {
            let mut found = Vec::new();
            if let Err(e) = walk(Path::new(arg), language, &mut found) {
                eprintln!("cordon: {e:#}");
                errored = true;
            }
            found.sort();
            out.extend(found);
        } else {
            out.push(arg.clone());
        }
    }
    (out, errored)
}

fn walk(dir: &Path, language: Option<Language>, out: &mut Vec<String>) -> anyhow::Result<()> {
    use anyhow::Context;
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        let path = entry.path();
        let kind = entry
            .file_type()
            .with_context(|| format!("cannot read {}", path.display()))?;
        // Symlinked directories are not followed: they can loop, and the tree
        // the user named is what gets checked.
        if kind.is_dir() {
            walk(&path, language, out)?;
        } else if kind.is_file() || (kind.is_symlink() && path.is_file()) {
            let wanted = match (Language::from_extension(&path), language) {
                (Some(found), Some(asked)) => found == asked,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if wanted {
                out.push(path.to_string_lossy().into_owned());
            }
        }
    }
    Ok(())
}

/// Analyses every input on all cores and returns the outcomes in input order.
///
/// Inputs are independent, so each worker thread takes the next unclaimed one,
/// largest first, until none is left (a big file does not hold up a fixed
/// share of small ones); results go to their input's slot, so the output does not depend on
/// which thread finished first. Stdin is read up front, on this thread.
fn analyze_all(
    inputs: &[String],
    language: Option<Language>,
    policy: &Policy,
    keep_code: bool,
) -> Vec<anyhow::Result<Report>> {
    let stdin = inputs
        .iter()
        .any(|f| f == "-")
        .then(|| read_input("-").map_err(|e| format!("{e:#}")));
    let one = |i: usize| -> anyhow::Result<Report> {
        let file = &inputs[i];
        let code = match (&stdin, file.as_str()) {
            (Some(Ok(buf)), "-") => buf.clone(),
            (Some(Err(e)), "-") => anyhow::bail!("{e}"),
            _ => read_input(file)?,
        };
        let language = language_for(language, file, &code)?;
        let analysis = analyze(&code, language, policy);
        let decision = decide(policy, language, &analysis, &LimitRequest::default());
        Ok(Report {
            file: file.clone(),
            code: if keep_code {
                String::from_utf8_lossy(&code).into_owned()
            } else {
                String::new()
            },
            analysis,
            decision,
        })
    };
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(inputs.len());
    if workers <= 1 {
        return (0..inputs.len()).map(one).collect();
    }
    // Largest first: the last file started is then a small one, so no core
    // idles while another finishes a big file at the end.
    let mut order: Vec<usize> = (0..inputs.len()).collect();
    let size = |f: &String| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0);
    let sizes: Vec<u64> = inputs.iter().map(size).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(sizes[i]));
    let next = AtomicUsize::new(0);
    let mut slots: Vec<Option<anyhow::Result<Report>>> = (0..inputs.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let (next, one, order) = (&next, &one, &order);
                scope.spawn(move || {
                    let mut done = Vec::new();
                    while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                        done.push((i, one(i)));
                    }
                    done
                })
            })
            .collect();
        for h in handles {
            // A worker that panicked leaves its slots empty; they become
            // errors below, so the run fails closed instead of dropping files.
            for (i, r) in h.join().unwrap_or_default() {
                slots[i] = Some(r);
            }
        }
    });
    slots
        .into_iter()
        .zip(inputs)
        .map(|(slot, file)| {
            slot.unwrap_or_else(|| Err(anyhow::anyhow!("{file}: analysis did not complete")))
        })
        .collect()
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
