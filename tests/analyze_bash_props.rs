//! Robustness of the bash analyzer: arbitrary input never panics, and
//! pathological nesting ends in `TooDeep`/`Unparseable` without a stack
//! overflow (each case runs on a thread with a deliberately small stack).

use cordon::analyze::{bash, AnalyzeError, Budget};
use proptest::prelude::*;

/// Runs `f` on a thread with a 1 MiB stack, as a request handler might have.
/// A stack 32 times smaller than the analysis thread's (64 MiB,
/// `analyze::ANALYSIS_STACK`). It was 1 MiB until the embedded-interpreter
/// and option-command readers (2026-12-08) made each command level's frames
/// larger in unoptimised builds: the depth budget still bounds the recursion,
/// so the margin is what shrank, not the bound.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .expect("spawn analysis thread")
        .join()
        .expect("analysis thread panicked or overflowed")
}

fn deep_rejected(code: String) {
    let r = on_small_stack(move || bash::extract(&code, &Budget::start()));
    assert!(
        matches!(
            r,
            Err(AnalyzeError::TooDeep { .. }) | Err(AnalyzeError::Unparseable { .. })
        ),
        "expected TooDeep/Unparseable, got {r:?}"
    );
}

#[test]
fn deep_command_substitution() {
    deep_rejected("echo ".to_string() + &"$(".repeat(100_000));
    deep_rejected("echo ".to_string() + &"$(".repeat(100_000) + &")".repeat(100_000));
}

#[test]
fn deep_subshells_and_groups() {
    deep_rejected("(".repeat(100_000));
    deep_rejected("(".repeat(100_000) + "true" + &")".repeat(100_000));
    deep_rejected("{ ".repeat(100_000) + "true; " + &"}; ".repeat(100_000));
    deep_rejected("\"$(".repeat(50_000));
    // 100,000 backquotes are 50,000 empty command substitutions in one
    // word: valid Bash that tree-sitter rejects, so the recovery path
    // (brush-parser, then one opaque word per round) works on it until the
    // time budget ends it. That is a denial too; what matters here is that
    // it ends, on a small stack, without a panic.
    let r = on_small_stack(|| bash::extract(&"`".repeat(100_000), &Budget::start()));
    assert!(
        matches!(
            r,
            Err(AnalyzeError::TooDeep { .. })
                | Err(AnalyzeError::Unparseable { .. })
                | Err(AnalyzeError::Timeout)
        ),
        "expected a denial, got {r:?}"
    );
}

#[test]
fn deep_control_flow() {
    deep_rejected("if true; then ".repeat(20_000) + "echo" + &"; fi".repeat(20_000));
    deep_rejected("while true; do ".repeat(20_000) + "echo" + &"; done".repeat(20_000));
    deep_rejected("f() { ".repeat(20_000) + "echo; " + &"}; ".repeat(20_000));
}

#[test]
fn deep_but_allowed_nesting_fits_a_small_stack() {
    // Every nesting level up to and past the default depth budget, with
    // payload recursion on top: either analysed or TooDeep, never a crash.
    let mut ok = 0;
    for n in (5..=120).step_by(5) {
        let inner = "$(".repeat(n) + "id" + &")".repeat(n);
        let code = format!("echo {inner} | bash -c 'eval \"sh -c \\\"echo {inner}\\\"\"'");
        let r = on_small_stack(move || bash::extract(&code, &Budget::start()));
        assert!(
            r.is_ok() || matches!(r, Err(AnalyzeError::TooDeep { .. })),
            "n={n}: {r:?}"
        );
        ok += usize::from(r.is_ok());
    }
    assert!(ok >= 3, "moderate nesting must be analysed");
}

#[test]
fn long_flat_scripts_are_fine() {
    let code = vec!["true"; 20_000].join(" && ");
    let r = on_small_stack(move || bash::extract(&code, &Budget::start()));
    assert!(r.is_ok(), "{r:?}");
    let code = "echo hi\n".repeat(20_000);
    assert!(bash::extract(&code, &Budget::start()).is_ok());
}

#[test]
fn oversized_input_is_rejected() {
    let mut b = Budget::start();
    b.max_bytes = 10;
    assert!(matches!(
        bash::extract("echo hello world", &b),
        Err(AnalyzeError::TooLarge { .. })
    ));
}

const SHELLISH: &[&str] = &[
    "echo",
    "curl",
    "sh",
    "bash -c",
    "eval",
    "$(",
    ")",
    "`",
    "'",
    "\"",
    "${",
    "}",
    "{",
    "(",
    "|",
    "&",
    ";",
    "\n",
    "<<EOF\n",
    "EOF\n",
    "<<<",
    ">",
    ">>",
    "<",
    "2>&1",
    "$x",
    "${x:-",
    "${x//a/b}",
    "$'\\x41'",
    "\\",
    "#",
    "=",
    "x=",
    "while true; do",
    "done",
    "if",
    "then",
    "fi",
    "for i in",
    "case",
    "esac",
    ")",
    ";;",
    "base64 -d",
    "/dev/tcp/1/2",
    "rm -rf /",
    "[[",
    "]]",
    "((",
    "))",
    " ",
    "\t",
    "-c",
    "python3 -c",
    "node -e",
    "<(",
    "*",
    "~",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(s in ".{0,400}") {
        let _ = bash::extract(&s, &Budget::start());
    }

    #[test]
    fn shell_fragments_never_panic(parts in proptest::collection::vec(proptest::sample::select(SHELLISH), 0..80)) {
        let code: String = parts.concat();
        let _ = bash::extract(&code, &Budget::start());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let code = String::from_utf8_lossy(&bytes).into_owned();
        let _ = bash::extract(&code, &Budget::start());
    }
}
