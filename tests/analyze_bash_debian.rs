//! Every Bash script that `bash -n` accepts is analysed: the Bash analyzer
//! runs over the real shell scripts of this Debian machine and none may come
//! back `Unparseable` (or any other error).
//!
//! The corpus is chosen here, not shipped: the scripts of the
//! `bash-completion` package (everything under `/usr/share/bash-completion`
//! that is not another language), the files under `/usr/bin` and
//! `/usr/share` whose `#!` line names `sh`, `bash` or `dash`, and the Debian
//! maintainer scripts (`/var/lib/dpkg/info/*.{preinst,postinst,prerm,postrm}`);
//! of those, the UTF-8 files that `bash -n` (which only parses) accepts.
//! `scripts/setup.sh` installs `bash-completion`; without it the test still
//! runs over the rest, and it fails when `CORDON_REQUIRE_DOCKER` is set (CI,
//! which ran the setup).
//!
//! Each failure is reported with its path and the position the analyzer gave.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cordon::analyze::bash::extract;
use cordon::analyze::{AnalyzeError, Budget};

const COMPLETION_DIR: &str = "/usr/share/bash-completion";
const MAINTAINER_SCRIPTS: &[&str] = &["preinst", "postinst", "prerm", "postrm"];
/// Larger files are data, not scripts people send.
const MAX_FILE: u64 = 1 << 20;

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let Ok(ft) = e.file_type() else { continue };
        let p = e.path();
        if ft.is_dir() {
            walk(&p, out);
        } else if ft.is_file() {
            out.push(p);
        }
    }
}

/// The first line, when the file starts with `#!`.
fn shebang(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut head = [0u8; 128];
    let n = std::fs::File::open(path).ok()?.read(&mut head).ok()?;
    let head = head.get(..n)?;
    if !head.starts_with(b"#!") {
        return None;
    }
    let line = head.split(|&b| b == b'\n').next()?;
    Some(String::from_utf8_lossy(line).into_owned())
}

/// `#!/bin/sh`, `#! /bin/bash -e`, `#!/usr/bin/env bash`, ...
fn shell_shebang(line: &str) -> bool {
    let mut parts = line.trim_start_matches("#!").split_whitespace();
    let Some(first) = parts.next() else {
        return false;
    };
    let prog = if first.ends_with("/env") {
        parts.find(|p| !p.starts_with('-')).unwrap_or("")
    } else {
        first
    };
    matches!(
        prog.rsplit('/').next().unwrap_or(""),
        "sh" | "bash" | "dash"
    )
}

fn small(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.len() <= MAX_FILE)
}

fn candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut completion = Vec::new();
    walk(Path::new(COMPLETION_DIR), &mut completion);
    // Completion scripts are sourced, so most have no `#!` line; skip the
    // few helpers in other languages.
    out.extend(
        completion
            .into_iter()
            .filter(|p| shebang(p).is_none_or(|l| shell_shebang(&l))),
    );
    for dir in ["/usr/bin", "/usr/share"] {
        let mut files = Vec::new();
        walk(Path::new(dir), &mut files);
        out.extend(
            files
                .into_iter()
                .filter(|p| small(p) && shebang(p).is_some_and(|l| shell_shebang(&l))),
        );
    }
    if let Ok(rd) = std::fs::read_dir("/var/lib/dpkg/info") {
        out.extend(rd.flatten().map(|e| e.path()).filter(|p| {
            p.extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| MAINTAINER_SCRIPTS.contains(&x))
        }));
    }
    out.retain(|p| small(p));
    out.sort();
    out.dedup();
    out
}

fn bash_accepts(path: &Path) -> bool {
    Command::new("bash")
        .arg("-n")
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The corpus: UTF-8 candidates that `bash -n` accepts, checked on two
/// threads (one `bash` process per file).
fn corpus() -> Vec<(PathBuf, String)> {
    let files = candidates();
    let half = files.len().div_ceil(2).max(1);
    let mut out: Vec<(PathBuf, String)> = std::thread::scope(|scope| {
        let workers: Vec<_> = files
            .chunks(half)
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .filter_map(|p| {
                            let code = String::from_utf8(std::fs::read(p).ok()?).ok()?;
                            bash_accepts(p).then(|| (p.clone(), code))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    });
    out.sort();
    out
}

#[test]
fn debian_bash_scripts_are_all_analysed() {
    let have_completion = Path::new(COMPLETION_DIR).join("bash_completion").is_file();
    if !have_completion {
        assert!(
            std::env::var_os("CORDON_REQUIRE_DOCKER").is_none(),
            "bash-completion is not installed; scripts/setup.sh installs it"
        );
        println!("bash-completion is not installed (scripts/setup.sh installs it); its scripts are left out");
    }
    let corpus = corpus();
    let from_completion = corpus
        .iter()
        .filter(|(p, _)| p.starts_with(COMPLETION_DIR))
        .count();
    if have_completion {
        // The package (2.11 in bookworm) ships about 600 completion files, of
        // which 468 pass `bash -n`: a corpus of a few would let this test pass
        // without testing anything.
        assert!(
            from_completion >= 400,
            "only {from_completion} bash-completion scripts found under {COMPLETION_DIR}"
        );
    }
    let mut failures = Vec::new();
    let mut bytes = 0usize;
    let started = Instant::now();
    for (path, code) in &corpus {
        bytes += code.len();
        let mut budget = Budget::start();
        budget.deadline = Instant::now() + Duration::from_secs(30);
        budget.max_bytes = usize::MAX;
        let result = std::panic::catch_unwind(|| extract(code, &budget));
        match result {
            Ok(Ok(_)) => {}
            Ok(Err(AnalyzeError::Unparseable {
                line,
                column,
                message,
            })) => failures.push(format!(
                "{}:{line}:{column}: unparseable: {message}",
                path.display()
            )),
            Ok(Err(e)) => failures.push(format!("{}: {e}", path.display())),
            Err(_) => failures.push(format!("{}: panicked", path.display())),
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "debian bash corpus: {} scripts accepted by `bash -n` ({from_completion} from bash-completion, {:.1} MB), analysed in {secs:.2}s, {} failures",
        corpus.len(),
        bytes as f64 / 1e6,
        failures.len()
    );
    assert!(
        corpus.len() >= 50,
        "only {} shell scripts found: is this a Debian machine?",
        corpus.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} valid Bash scripts were not analysed:\n{}",
        failures.len(),
        corpus.len(),
        failures.join("\n")
    );
}

#[test]
fn shebang_selection() {
    for yes in [
        "#!/bin/sh",
        "#! /bin/sh -e",
        "#!/bin/bash",
        "#!/usr/bin/env bash",
        "#!/usr/bin/env -S bash -e",
        "#!/bin/dash",
    ] {
        assert!(shell_shebang(yes), "{yes}");
    }
    for no in [
        "#!/usr/bin/python3",
        "#!/usr/bin/env perl",
        "#!/bin/zsh",
        "#!",
        "#!/usr/bin/shellcheck",
    ] {
        assert!(!shell_shebang(no), "{no}");
    }
}
