//! Replays every fuzz input kept in the repository through the same target
//! functions the fuzzer runs (`cordon::fuzzing`), so CI checks the seed
//! corpus (`fuzz/corpus/<target>/`) and the inputs that once broke a target
//! (`fuzz/regressions/<target>/`) without cargo-fuzz or a nightly compiler.
//!
//! This binary counts allocations (`cordon::fuzzing::memory::Counting`), so
//! each replayed analysis is also held to `Budget::memory_ceiling` of its size.
//!
//! A target with no corpus fails: an empty folder would make its replay pass
//! while checking nothing. Every failing file is named in the failure.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

// As in the fuzz targets: every replayed analysis is held to its memory ceiling.
#[global_allocator]
static ALLOC: cordon::fuzzing::memory::Counting = cordon::fuzzing::memory::Counting;

type Target = fn(&[u8]);

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn replay(name: &str, target: Target) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let corpus = files_in(&root.join("corpus").join(name));
    let regressions = files_in(&root.join("regressions").join(name));
    assert!(
        !corpus.is_empty(),
        "fuzz target {name} has no seed corpus in fuzz/corpus/{name}/"
    );
    let mut failures = Vec::new();
    for file in corpus.iter().chain(&regressions) {
        let data = match std::fs::read(file) {
            Ok(d) => d,
            Err(e) => {
                failures.push(format!("{}: cannot read: {e}", file.display()));
                continue;
            }
        };
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| target(&data))) {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(non-string panic)");
            failures.push(format!("{}: {message}", file.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "fuzz target {name}: {} of {} inputs fail:\n  {}",
        failures.len(),
        corpus.len() + regressions.len(),
        failures.join("\n  ")
    );
}

#[test]
fn policy_load() {
    replay("policy_load", cordon::fuzzing::policy_load);
}

#[test]
fn analyze_python() {
    replay("analyze_python", cordon::fuzzing::analyze_python);
}

#[test]
fn analyze_javascript() {
    replay("analyze_javascript", cordon::fuzzing::analyze_javascript);
}

#[test]
fn analyze_bash() {
    replay("analyze_bash", cordon::fuzzing::analyze_bash);
}

#[test]
fn analyze_decide() {
    replay("analyze_decide", cordon::fuzzing::analyze_decide);
}

#[test]
fn api_request() {
    replay("api_request", cordon::fuzzing::api_request);
}

/// Every fuzz target in `fuzz/Cargo.toml` has a replay above; a new target
/// without one would be fuzzed but never checked in CI.
#[test]
fn every_fuzz_target_is_replayed() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/Cargo.toml"))
            .unwrap_or_default();
    let replayed = [
        "policy_load",
        "analyze_python",
        "analyze_javascript",
        "analyze_bash",
        "analyze_decide",
        "api_request",
    ];
    let targets: Vec<&str> = manifest
        .lines()
        .filter_map(|l| l.trim().strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .filter(|n| *n != "cordon-fuzz")
        .collect();
    assert!(
        !targets.is_empty(),
        "no [[bin]] targets found in fuzz/Cargo.toml"
    );
    for t in targets {
        assert!(replayed.contains(&t), "fuzz target {t} has no replay test");
    }
}
