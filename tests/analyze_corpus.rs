//! Data-driven analysis tests over `tests/fixtures/analyze/<language>/`:
//!
//! - `rules/<RULE-ID>.<ext>`: lines ending in `expect: <RULE-ID>` must raise
//!   that rule; no other line may. Every rule of the language's pack needs a
//!   fixture.
//! - `evasion/*`, `malicious/*`: must be denied under `policies/default.yaml`
//!   (a line `expect-verdict: review` relaxes one file to review).
//! - `benign/*`: must be allowed under `policies/default.yaml`.
//!
//! Each test collects every failure before failing, so one run shows them all.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use cordon::analyze::analyze;
use cordon::decide::{decide, LimitRequest, Verdict};
use cordon::policy::Policy;
use cordon::Language;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/analyze")
}

fn policy() -> Policy {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/default.yaml");
    Policy::from_file(&p).unwrap_or_else(|e| panic!("default policy does not load: {e}"))
}

fn files(language: Language, sub: &str) -> Vec<PathBuf> {
    let dir = root().join(language.as_str()).join(sub);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn prefix(language: Language) -> &'static str {
    match language {
        Language::Python => "PY-",
        Language::Javascript => "JS-",
        Language::Bash => "SH-",
    }
}

fn expected_ids(line: &str) -> Vec<String> {
    match line.rfind("expect:") {
        Some(i) => line[i + 7..]
            .split([',', ' '])
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        None => Vec::new(),
    }
}

fn check_rules(language: Language) {
    let policy = policy();
    let mut failures = Vec::new();
    let mut covered = BTreeSet::new();
    let fixtures = files(language, "rules");
    for path in &fixtures {
        let id = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        covered.insert(id.clone());
        if !policy.rules.iter().any(|r| r.rule.id == id) {
            failures.push(format!(
                "{}: no rule {id} in the default policy",
                path.display()
            ));
            continue;
        }
        let code = std::fs::read(path).unwrap_or_default();
        let analysis = analyze(&code, language, &policy);
        if let Some(e) = &analysis.error {
            failures.push(format!("{}: analysis error: {e}", path.display()));
            continue;
        }
        let text = String::from_utf8_lossy(&code);
        let want: BTreeSet<u32> = text
            .lines()
            .enumerate()
            .filter(|(_, l)| expected_ids(l).contains(&id))
            .map(|(i, _)| i as u32 + 1)
            .collect();
        let got: BTreeSet<u32> = analysis
            .findings
            .iter()
            .filter(|f| f.rule_id == id)
            .map(|f| f.span.start_line)
            .collect();
        if want.is_empty() {
            failures.push(format!(
                "{}: no line is marked `expect: {id}`",
                path.display()
            ));
        }
        for missing in want.difference(&got) {
            failures.push(format!(
                "{}:{missing}: expected {id}, not raised",
                path.display()
            ));
        }
        for extra in got.difference(&want) {
            failures.push(format!(
                "{}:{extra}: {id} raised on a line not marked for it",
                path.display()
            ));
        }
    }
    for rule in policy
        .rules
        .iter()
        .filter(|r| r.rule.id.starts_with(prefix(language)))
    {
        if !covered.contains(&rule.rule.id) {
            failures.push(format!(
                "rule {} has no fixture rules/{}.*",
                rule.rule.id, rule.rule.id
            ));
        }
    }
    println!(
        "{language}: {} rule fixtures, {} failures",
        fixtures.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} rule fixture failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn check_verdicts(language: Language, sub: &str, want: Verdict, min_files: usize) {
    let policy = policy();
    let mut failures = Vec::new();
    let list = files(language, sub);
    for path in &list {
        let code = std::fs::read(path).unwrap_or_default();
        let text = String::from_utf8_lossy(&code);
        let mut expected = want;
        if text
            .lines()
            .take(3)
            .any(|l| l.contains("expect-verdict: review"))
        {
            expected = Verdict::Review;
        }
        let analysis = analyze(&code, language, &policy);
        let decision = decide(&policy, language, &analysis, &LimitRequest::default());
        if decision.verdict != expected {
            let rules: Vec<String> = analysis
                .findings
                .iter()
                .map(|f| format!("{}@{}", f.rule_id, f.span.start_line))
                .collect();
            let err = analysis
                .error
                .as_ref()
                .map(|e| format!(" error: {e}"))
                .unwrap_or_default();
            failures.push(format!(
                "{}: verdict {} (score {}), expected {expected}; findings: [{}]{err}",
                path.display(),
                decision.verdict,
                decision.risk_score,
                rules.join(", ")
            ));
        }
    }
    println!(
        "{language}/{sub}: {} files, {} failures",
        list.len(),
        failures.len()
    );
    assert!(
        list.len() >= min_files,
        "{language}/{sub}: only {} fixtures, want at least {min_files}",
        list.len()
    );
    assert!(
        failures.is_empty(),
        "{} {sub} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

macro_rules! corpus {
    ($lang:ident, $language:expr) => {
        mod $lang {
            use super::*;
            #[test]
            fn rules() {
                check_rules($language);
            }
            #[test]
            fn evasion() {
                check_verdicts($language, "evasion", Verdict::Deny, 20);
            }
            #[test]
            fn malicious() {
                check_verdicts($language, "malicious", Verdict::Deny, 10);
            }
            #[test]
            fn benign() {
                check_verdicts($language, "benign", Verdict::Allow, 30);
            }
        }
    };
}

corpus!(python, Language::Python);
corpus!(javascript, Language::Javascript);
corpus!(bash, Language::Bash);

/// One snapshot per rule fixture: every finding with its position, what
/// matched and the decode chain, rendered compactly. A change in what a rule
/// catches shows up as a reviewable snapshot diff.
#[test]
fn rule_fixture_snapshots() {
    let policy = policy();
    for language in Language::ALL {
        for path in files(language, "rules") {
            let code = std::fs::read(&path).unwrap_or_default();
            let analysis = analyze(&code, language, &policy);
            let lines: Vec<String> = analysis
                .findings
                .iter()
                .map(|f| {
                    let via = if f.via.is_empty() {
                        String::new()
                    } else {
                        format!(" via {}", f.via.join(" <- "))
                    };
                    format!(
                        "{}:{}-{}:{} {} {} [{}]{via}",
                        f.span.start_line,
                        f.span.start_col,
                        f.span.end_line,
                        f.span.end_col,
                        f.rule_id,
                        f.severity.as_str(),
                        f.matched
                    )
                })
                .collect();
            let name = format!(
                "{}__{}",
                language,
                path.file_stem().and_then(|s| s.to_str()).unwrap_or("x")
            );
            insta::with_settings!({ snapshot_path => "fixtures/analyze/snapshots", prepend_module_to_snapshot => false, omit_expression => true }, {
                insta::assert_snapshot!(name, lines.join("\n"));
            });
        }
    }
}

/// One place, one line: a chained `require(...).fn().more()` and a string
/// folded again in each expression around it each give one finding per rule,
/// and a category hit by several findings gives one reason.
#[test]
fn one_finding_per_rule_and_place_and_no_repeated_reasons() {
    let policy = policy();
    let js = "console.log(require('child_process').execSync('id').toString())\n";
    let a = analyze(js.as_bytes(), Language::Javascript, &policy);
    let proc: Vec<_> = a
        .findings
        .iter()
        .filter(|f| f.rule_id == "JS-PROC-001")
        .collect();
    assert_eq!(proc.len(), 1, "{:#?}", a.findings);
    assert_eq!(proc[0].matched, "call:child_process.execSync");

    let py = "import os\nopen(os.path.expanduser('~/.ssh/id_rsa')).read()\n";
    let a = analyze(py.as_bytes(), Language::Python, &policy);
    let sec: Vec<_> = a
        .findings
        .iter()
        .filter(|f| f.rule_id == "PY-SEC-001")
        .collect();
    assert_eq!(sec.len(), 1, "{:#?}", a.findings);

    let strict =
        Policy::from_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/strict.yaml"))
            .expect("strict policy loads");
    let js = "const cp = require('child_process')\ncp.execSync('a')\ncp.execSync('b')\n";
    let a = analyze(js.as_bytes(), Language::Javascript, &strict);
    let d = decide(&strict, Language::Javascript, &a, &LimitRequest::default());
    let texts: Vec<_> = d.reasons.iter().map(|r| (&r.code, &r.message)).collect();
    let unique: BTreeSet<_> = texts.iter().collect();
    assert_eq!(texts.len(), unique.len(), "{texts:#?}");
    assert_eq!(d.verdict, Verdict::Deny);
}
