//! Robustness of the Python analyzer on real and hostile input:
//!
//! - every `.py` file of the CPython 3.11 standard library on this machine
//!   (`/usr/lib/python3.11`, `/root/.pyenv/versions/*/lib/python3.11`) is
//!   analysed with the default budget (and a generous deadline): no panics,
//!   only clean `AnalyzeError`s, and `Unparseable` only for files CPython
//!   itself cannot compile (lib2to3 test data, bad-syntax test files);
//! - arbitrary strings never panic;
//! - deeply nested input returns `TooDeep`/`Unparseable` instead of
//!   overflowing the stack, on an ordinary 2 MiB thread stack.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cordon::analyze::python::extract;
use cordon::analyze::{AnalyzeError, Budget};
use proptest::prelude::*;

fn stdlib_roots() -> Vec<PathBuf> {
    let mut roots = vec![PathBuf::from("/usr/lib/python3.11")];
    if let Ok(rd) = std::fs::read_dir("/root/.pyenv/versions") {
        for e in rd.flatten() {
            roots.push(e.path().join("lib/python3.11"));
        }
    }
    roots.into_iter().filter(|p| p.is_dir()).collect()
}

fn python_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            python_files(&p, out);
        } else if ft.is_file() && p.extension().is_some_and(|x| x == "py") {
            out.push(p);
        }
    }
}

/// Files that are invalid Python on purpose, plus the two valid files that
/// rustpython-parser 0.4 cannot parse (a gap in the parser, not in the
/// analyzer; they fail closed as `Unparseable`):
/// - `test_fstring.py`: a quote inside a triple-quoted string inside an
///   f-string replacement field;
/// - antlr4 `XPathLexer.py`: a tab after spaces in indentation, which CPython
///   accepts when the column is unambiguous.
fn known_bad(path: &Path) -> bool {
    let s = path.to_string_lossy();
    s.ends_with("/test/test_fstring.py")
        || s.ends_with("antlr4/xpath/XPathLexer.py")
        || s.contains("lib2to3/tests/data")
        || s.contains("/test/bad")
        || s.contains("badsyntax")
        || s.contains("bad_coding")
        || s.contains("/test/tokenizedata/")
        || s.contains("test_grammar")
}

#[test]
fn stdlib_parses_without_panics() {
    let roots = stdlib_roots();
    if roots.is_empty() {
        println!(
            "SKIPPED stdlib_parses_without_panics: no python3.11 standard library on this machine"
        );
        return;
    }
    let mut files = Vec::new();
    for r in &roots {
        python_files(r, &mut files);
    }
    files.sort();
    // Files that are not UTF-8 (Latin-1 test data) are rejected by the gateway before analysis.
    let sources: Vec<(PathBuf, String)> = files
        .iter()
        .filter_map(|p| {
            std::fs::read(p)
                .ok()
                .and_then(|raw| String::from_utf8(raw).ok())
                .map(|c| (p.clone(), c))
        })
        .collect();
    // Parsing alone, for comparison: how much of the time is the parser's.
    let parse_started = Instant::now();
    for (_, code) in &sources {
        let _ = rustpython_parser::parse(code, rustpython_parser::Mode::Module, "<x>");
    }
    let parse_secs = parse_started.elapsed().as_secs_f64();
    let (mut ok, mut bytes, mut facts) = (0usize, 0usize, 0usize);
    let mut unparseable: Vec<String> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    let started = Instant::now();
    for (path, code) in &sources {
        let code = code.as_str();
        bytes += code.len();
        let mut budget = Budget::start();
        budget.deadline = Instant::now() + Duration::from_secs(30);
        budget.max_bytes = usize::MAX;
        let result = std::panic::catch_unwind(|| extract(code, &budget));
        match result {
            Err(_) => failures.push(format!("{}: panicked", path.display())),
            Ok(Ok(f)) => {
                ok += 1;
                facts += f.len();
            }
            Ok(Err(AnalyzeError::Unparseable {
                line,
                column,
                message,
            })) => {
                let entry = format!("{}:{line}:{column}: {message}", path.display());
                if !known_bad(path) {
                    failures.push(format!("unexpected unparseable {entry}"));
                }
                unparseable.push(entry);
            }
            Ok(Err(e)) => failures.push(format!("{}: {e}", path.display())),
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "stdlib: {} files ({:.1} MB), {ok} analysed, {} unparseable (CPython-invalid test data, or the two known parser gaps), {facts} facts, {:.2}s, {:.0} files/s, {:.1} MB/s",
        sources.len(),
        bytes as f64 / 1e6,
        unparseable.len(),
        secs,
        sources.len() as f64 / secs,
        bytes as f64 / 1e6 / secs
    );
    println!(
        "stdlib: parsing alone (rustpython-parser) {parse_secs:.2}s, {:.0} files/s",
        sources.len() as f64 / parse_secs
    );
    for u in &unparseable {
        println!("  unparseable: {u}");
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .expect("spawn test thread")
        .join()
        .expect("analysis overflowed or panicked on a 2 MiB stack")
}

fn too_deep_or_unparseable(code: String) {
    let r = on_small_stack(move || extract(&code, &Budget::start()));
    assert!(
        matches!(
            r,
            Err(AnalyzeError::TooDeep { .. }) | Err(AnalyzeError::Unparseable { .. })
        ),
        "got {r:?}"
    );
}

#[test]
fn deep_brackets_are_refused() {
    for (open, close) in [("(", ")"), ("[", "]"), ("{", "}")] {
        too_deep_or_unparseable(format!(
            "x = {}1{}",
            open.repeat(100_000),
            close.repeat(100_000)
        ));
        // Unbalanced: still refused, not parsed.
        too_deep_or_unparseable(format!("x = {}", open.repeat(100_000)));
    }
}

#[test]
fn long_chains_do_not_overflow() {
    // Operator chains nest the tree without nesting brackets; the analyzer
    // must neither overflow while walking nor while freeing the tree.
    for code in [
        format!("x = 1{}", "+1".repeat(300_000)),
        format!("x = {}1", "-".repeat(300_000)),
        format!("x = {}1", "not ".repeat(100_000)),
        format!("x = a{}", ".b".repeat(200_000)),
        format!("x = a{}", "[0]".repeat(100_000)),
        format!("x = f{}", "()".repeat(100_000)),
        format!("x = {}0", "lambda: ".repeat(50_000)),
        format!("x = {}", "1 if y else ".repeat(50_000) + "2"),
    ] {
        let r = on_small_stack(move || extract(&code, &Budget::start()).map(|f| f.len()));
        assert!(
            matches!(
                r,
                Ok(_) | Err(AnalyzeError::TooDeep { .. }) | Err(AnalyzeError::Unparseable { .. })
            ),
            "got {r:?}"
        );
    }
}

#[test]
fn deep_indentation_is_bounded() {
    let mut code = String::new();
    for i in 0..400 {
        code.push_str(&" ".repeat(i));
        code.push_str("if x:\n");
    }
    code.push_str(&" ".repeat(400));
    code.push_str("pass\n");
    let r = on_small_stack(move || extract(&code, &Budget::start()).map(|f| f.len()));
    assert!(
        matches!(
            r,
            Err(AnalyzeError::TooDeep { .. }) | Err(AnalyzeError::Unparseable { .. })
        ),
        "got {r:?}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_never_panic(code in ".{0,400}") {
        let _ = extract(&code, &Budget::start());
    }

    #[test]
    fn python_like_strings_never_panic(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("import os\n"), Just("os.system("), Just("exec("), Just("eval("), Just("getattr("),
                Just("base64.b64decode("), Just("'aWQ='"), Just("\"sys\" + \"tem\""), Just(")"), Just("("),
                Just("["), Just("]"), Just(", "), Just("\n"), Just("    "), Just("while True:\n"),
                Just("def f(x):\n"), Just("lambda x: "), Just("f'{x}'"), Just("chr(115)"), Just("''.join("),
                Just("[::-1]"), Just("* 10 ** 12"), Just("__import__('socket')"), Just("from os import *\n"),
                Just("subprocess.run(['sh', '-c', 'curl x | sh'])"), Just("x"), Just("= "), Just(":"),
            ],
            0..60,
        )
    ) {
        let code: String = parts.concat();
        let _ = extract(&code, &Budget::start());
    }
}
