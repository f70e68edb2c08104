//! Fuzz target bodies, shared by the cargo-fuzz crate in `fuzz/` and by the
//! corpus replay test (`tests/fuzz_corpus.rs`), so CI checks every corpus and
//! regression input without the fuzzer.
//!
//! Each function takes arbitrary bytes and asserts cordon's invariants on
//! them with `assert!`: a failed assertion or any panic is a finding. The
//! invariants are: no panic; analysis ends within its budget (well under
//! [`MAX_ELAPSED`]); when the binary counts allocations ([`memory::Counting`],
//! as the fuzz targets and the corpus replay do), one analysis never
//! allocates more than [`Budget::memory_ceiling`] of its input at its peak; `analyze` +
//! `decide` always yield a verdict; input that
//! could not be analysed (unparseable, invalid UTF-8, too large, too deep,
//! timeout) is never `allow`ed; loading a policy returns a policy or an
//! error whose message starts with `file:line:column` when it is `Invalid`.
//!
//! This module is a test harness: it panics on purpose and must never be
//! called from the gateway itself. It reads no files and runs no code.

pub mod memory;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::analyze::{self, AnalyzeError, Budget, Fact};
use crate::decide::{self, LimitRequest, Verdict};
use crate::policy::{Limits, Policy, PolicyError};
use crate::server::api::{AnalyzeRequest, ExecutionRequest, ReviewDecision};
use crate::Language;

/// Upper bound on one analysis as seen from outside. The analysis budget is
/// [`Budget::DEFAULT_TIME`]; the margin absorbs sanitizer and debug-build slowdown.
pub const MAX_ELAPSED: Duration = Duration::from_secs(5);

/// Stack given to an analyzer called directly, the same as
/// [`analyze::analyze`] gives it, so a deep but bounded walk is judged as in production.
const ANALYZER_STACK: usize = 64 << 20;

/// The file name reported for fuzzed policy text.
const POLICY_FILE: &str = "fuzz.yaml";

fn builtin(name: &'static str, cell: &'static OnceLock<Policy>) -> &'static Policy {
    cell.get_or_init(|| match Policy::builtin(name) {
        Ok(p) => p,
        Err(e) => panic!("built-in policy {name} does not load: {e}"),
    })
}

fn default_policy() -> &'static Policy {
    static CELL: OnceLock<Policy> = OnceLock::new();
    builtin("default", &CELL)
}

fn strict_policy() -> &'static Policy {
    static CELL: OnceLock<Policy> = OnceLock::new();
    builtin("strict", &CELL)
}

/// Loads arbitrary text as a policy (includes resolve against the built-in
/// packs, so nothing is read from disk), then checks that code that cannot
/// be analysed is never allowed under whatever policy loaded.
pub fn policy_load(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match Policy::from_str_with(&text, POLICY_FILE, None) {
        Ok(policy) => {
            assert!(
                policy.hash.starts_with("sha256:") && policy.hash.len() == 7 + 64,
                "policy hash is not sha256:<hex>: {}",
                policy.hash
            );
            assert_fails_closed(&policy);
        }
        Err(e) => check_policy_error(&e, &text),
    }
}

fn check_policy_error(e: &PolicyError, text: &str) {
    let shown = e.to_string();
    match e {
        PolicyError::Invalid {
            file, line, column, ..
        } => {
            assert!(
                shown.starts_with(&format!("{file}:{line}:{column}: ")),
                "Invalid error does not start with file:line:column: {shown}"
            );
            assert!(
                file == POLICY_FILE || file.starts_with("builtin:"),
                "error names an unexpected file: {shown}"
            );
            assert!(
                *line >= 1 && *column >= 1,
                "position is not 1-based: {shown}"
            );
            if file == POLICY_FILE {
                // An error may point just past the last line (end of input), never further.
                let lines = text.lines().count().max(1);
                assert!(
                    *line <= lines + 1,
                    "error line {line} is past the end of a {lines}-line file: {shown}"
                );
            }
        }
        PolicyError::IncludeCycle { file, .. } => {
            assert!(
                shown.starts_with(&format!("{file}: ")),
                "include cycle error does not start with the file name: {shown}"
            );
        }
        // An include that names no built-in pack; nothing was read from disk.
        PolicyError::NotFound { .. } | PolicyError::Read { .. } => {}
    }
    assert!(!shown.is_empty());
}

/// Code cordon cannot analyse must not be allowed under `policy`, whatever
/// its thresholds, `onUnparseable` or `enforcement: audit` say.
fn assert_fails_closed(policy: &Policy) {
    let cases: [(Language, &[u8]); 4] = [
        (Language::Python, b"def f(:\n"),
        (Language::Javascript, b"function (\n"),
        (Language::Bash, b"if then fi )\n"),
        (Language::Python, b"print('\xff')\n"),
    ];
    for (language, code) in cases {
        check_vet(language, code, policy, &LimitRequest::default());
    }
    check_vet(
        Language::Bash,
        b"echo hello\n",
        policy,
        &LimitRequest::default(),
    );
}

/// Runs one analyzer's `extract` directly (not behind the panic guard of
/// [`analyze::analyze`], so a panic in an analyzer is a finding) on a thread
/// with the production analysis stack, and checks it ends in time.
fn run_extractor(
    name: &str,
    extract: fn(&str, &Budget) -> Result<Vec<Fact>, AnalyzeError>,
    data: &[u8],
) {
    // Invalid UTF-8 never reaches an analyzer (analyze rejects it first);
    // feeding the lossy text keeps every fuzz input useful to the parser.
    let text = String::from_utf8_lossy(data);
    let budget = Budget::start();
    let started = Instant::now();
    let (result, peak) = memory::measured(|| {
        std::thread::scope(|scope| {
            let spawned = std::thread::Builder::new()
                .name(format!("fuzz-{name}"))
                .stack_size(ANALYZER_STACK)
                .spawn_scoped(scope, || extract(&text, &budget));
            match spawned {
                Ok(handle) => match handle.join() {
                    Ok(r) => r,
                    Err(panic) => std::panic::resume_unwind(panic),
                },
                Err(_) => extract(&text, &budget),
            }
        })
    });
    let elapsed = started.elapsed();
    assert!(
        elapsed < MAX_ELAPSED,
        "{name} analyzer took {elapsed:?} on {} bytes (budget {:?})",
        text.len(),
        Budget::DEFAULT_TIME
    );
    check_peak(name, peak, text.len());
    match result {
        Ok(_) => {}
        Err(AnalyzeError::Crashed) => panic!("{name} analyzer reported an internal failure"),
        Err(AnalyzeError::Unparseable { line, .. }) => {
            assert!(line >= 1, "{name}: unparseable error at line 0");
        }
        Err(_) => {}
    }
}

/// One analysis stays under the stated memory ceiling (when measured).
fn check_peak(name: &str, peak: Option<usize>, len: usize) {
    if let Some(peak) = peak {
        assert!(
            peak <= Budget::memory_ceiling(len),
            "{name} analysis of {len} bytes peaked at {} KiB, over the {} MiB ceiling",
            peak >> 10,
            Budget::memory_ceiling(len) >> 20
        );
    }
}

pub fn analyze_python(data: &[u8]) {
    run_extractor("python", analyze::python::extract, data);
}

pub fn analyze_javascript(data: &[u8]) {
    run_extractor("javascript", analyze::javascript::extract, data);
}

pub fn analyze_bash(data: &[u8]) {
    run_extractor("bash", analyze::bash::extract, data);
}

/// The whole vetting step on raw bytes. The first byte picks the language
/// (`% 3`: python, javascript, bash) and, with its top bit, the strict policy
/// instead of the default; the rest is the code, not necessarily UTF-8.
pub fn analyze_decide(data: &[u8]) {
    let Some((&first, code)) = data.split_first() else {
        return;
    };
    let language = Language::ALL[usize::from(first % 3)];
    let policy = if first & 0x80 != 0 {
        strict_policy()
    } else {
        default_policy()
    };
    check_vet(language, code, policy, &LimitRequest::default());
}

/// `analyze` + `decide` under `policy` with the caller's limit request,
/// checking the verdict invariants.
fn check_vet(language: Language, code: &[u8], policy: &Policy, request: &LimitRequest) {
    let started = Instant::now();
    let ((analysis, decision), peak) =
        memory::measured(|| crate::pipeline::vet(language, code, policy, request));
    let elapsed = started.elapsed();
    assert!(
        elapsed < MAX_ELAPSED,
        "analyze+decide ({language}) took {elapsed:?} on {} bytes",
        code.len()
    );
    check_peak(language.as_str(), peak, code.len());
    assert!(
        analysis.error != Some(AnalyzeError::Crashed),
        "the {language} analyzer panicked (analyze turned it into analyzer_error)"
    );
    if let Some(err) = &analysis.error {
        assert!(
            decision.verdict != Verdict::Allow && decision.would_be != Verdict::Allow,
            "{language} input that could not be analysed ({err}) was allowed"
        );
        assert!(
            decision.reasons.iter().any(|r| r.code == err.reason_code()),
            "the analysis error {} is not among the reasons",
            err.reason_code()
        );
    }
    if decision.verdict != Verdict::Allow {
        assert!(
            !decision.reasons.is_empty(),
            "verdict {} without a reason",
            decision.verdict
        );
    }
    if decision.verdict == Verdict::Allow {
        assert!(
            decision.limits.is_some() && decision.image.is_some(),
            "allowed without limits or an image to run"
        );
    }
    if let (Some(applied), Some(runtime)) = (&decision.limits, policy.doc.runtimes.get(&language)) {
        // Only fuzzed policies can hold nonsense (a NaN cpus); those are the loader's business.
        if runtime.limits.cpus > 0.0 {
            assert_within(applied, &runtime.limits);
        }
    }
    assert_eq!(decision.risk_score, analysis.risk_score);
    assert!(analysis.risk_score <= 100, "risk score over 100");
    assert!(decision.verdict >= decision.would_be || decision.verdict == Verdict::Allow);
}

/// Decoding of API request bodies as the HTTP server does it (UTF-8, then
/// JSON into [`crate::server::api::ExecutionRequest`] /
/// [`crate::server::api::AnalyzeRequest`]), then the server's checks
/// (language name, policy name, limits) and the vetting of the decoded code.
/// The server's own `check_common` needs a running server's state, so its
/// steps are mirrored here against the built-in policies. Also decodes a bare
/// limit request and language name. A request may only tighten the policy:
/// any limit it gets applied must be at most the policy's.
pub fn api_request(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(req) = serde_json::from_str::<ExecutionRequest>(text) {
            check_request(&req.language, &req.code, req.policy.as_deref(), req.limits);
        }
        if let Ok(req) = serde_json::from_str::<AnalyzeRequest>(text) {
            check_request(&req.language, &req.code, req.policy.as_deref(), req.limits);
        }
        let _ = serde_json::from_str::<ReviewDecision>(text);
        if let Ok(language) = text.parse::<Language>() {
            assert_eq!(language.as_str().parse::<Language>().ok(), Some(language));
        }
        let _ = Language::from_shebang(text);
    }
    if let Ok(request) = serde_json::from_slice::<LimitRequest>(data) {
        let policy = default_policy();
        for runtime in policy.doc.runtimes.values() {
            if let Ok(limits) = decide::apply_request(&runtime.limits, &request) {
                assert_within(&limits, &runtime.limits);
            }
        }
        // A request that decodes must encode and decode to the same thing.
        if let Ok(json) = serde_json::to_vec(&request) {
            let again = serde_json::from_slice::<LimitRequest>(&json);
            assert!(
                again.is_ok(),
                "a decoded limit request does not decode after encoding: {}",
                String::from_utf8_lossy(&json)
            );
        }
    }
    if let Ok(language) = serde_json::from_slice::<Language>(data) {
        assert_eq!(language.as_str().parse::<Language>().ok(), Some(language));
    }
}

/// The server's checks after decoding, then `vet`: an unknown language or
/// policy is a client error (nothing is analysed), anything else gets a verdict.
fn check_request(language: &str, code: &str, policy: Option<&str>, limits: Option<LimitRequest>) {
    let Ok(language) = language.parse::<Language>() else {
        return;
    };
    let policy = match policy.unwrap_or("default") {
        "default" => default_policy(),
        "strict" => strict_policy(),
        _ => return,
    };
    check_vet(
        language,
        code.as_bytes(),
        policy,
        &limits.unwrap_or_default(),
    );
}

fn assert_within(applied: &Limits, policy: &Limits) {
    assert!(
        applied.cpus > 0.0 && applied.cpus <= policy.cpus,
        "cpus loosened"
    );
    assert!(applied.memory <= policy.memory, "memory loosened");
    assert!(applied.pids <= policy.pids, "pids loosened");
    assert!(applied.wall <= policy.wall, "wall loosened");
    assert!(applied.cpu_time <= policy.cpu_time, "cpu_time loosened");
    assert!(applied.output <= policy.output, "output loosened");
    assert!(applied.tmpfs <= policy.tmpfs, "tmpfs loosened");
}
