//! Property tests for the JavaScript analyzer: it never panics on any input,
//! and deep nesting fails closed (TooDeep / Unparseable) instead of
//! overflowing the stack. Runs `extract` directly on the test thread (no
//! big analysis stack), so a recursion bug would show up here.

use cordon::analyze::javascript::extract;
use cordon::analyze::{AnalyzeError, Budget};
use proptest::prelude::*;

fn fails_closed(r: &Result<Vec<cordon::analyze::Fact>, AnalyzeError>) -> bool {
    matches!(
        r,
        Err(AnalyzeError::TooDeep { .. }) | Err(AnalyzeError::Unparseable { .. })
    )
}

/// Fragments that stress the parser and the folder: brackets, strings,
/// templates, regexes, sinks and decoders.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("(".to_string()),
        Just(")".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just("'ev'+'al'".to_string()),
        Just("`${".to_string()),
        Just("`".to_string()),
        Just("/re/g".to_string()),
        Just("eval(".to_string()),
        Just("require('child_process')".to_string()),
        Just(".exec(".to_string()),
        Just("Buffer.from('ZXZhbA==','base64').toString()".to_string()),
        Just("String.fromCharCode(101,118)".to_string()),
        Just("global[".to_string()),
        Just("=>".to_string()),
        Just(";".to_string()),
        Just(",".to_string()),
        Just("const a = ".to_string()),
        Just("while(true)".to_string()),
        Just("function f(x){return ".to_string()),
        Just("f(".to_string()),
        Just("'\\x65'".to_string()),
        Just("\"".to_string()),
        Just("\n".to_string()),
        "[a-z0-9 .+*]{0,8}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(code in "\\PC{0,300}") {
        let _ = extract(&code, &Budget::start());
    }

    #[test]
    fn token_soup_never_panics(parts in proptest::collection::vec(fragment(), 0..80)) {
        let code = parts.concat();
        let _ = extract(&code, &Budget::start());
    }

    #[test]
    fn nesting_below_the_limit_is_analysed_or_rejected(depth in 1usize..120, open in 0usize..3) {
        let (o, c) = [("(", ")"), ("[", "]"), ("{", "}")][open];
        let code = format!("x = {}1{};", o.repeat(depth), c.repeat(depth));
        let r = extract(&code, &Budget::start());
        prop_assert!(r.is_ok() || fails_closed(&r), "{:?}", r.err());
    }
}

#[test]
fn deep_parens_fail_closed() {
    let code = "(".repeat(100_000) + "1" + &")".repeat(100_000);
    assert!(fails_closed(&extract(&code, &Budget::start())));
}

#[test]
fn deep_brackets_fail_closed() {
    let code = "x = ".to_string() + &"[".repeat(100_000) + &"]".repeat(100_000);
    assert!(fails_closed(&extract(&code, &Budget::start())));
}

#[test]
fn deep_braces_fail_closed() {
    let code = "{".repeat(100_000) + &"}".repeat(100_000);
    assert!(fails_closed(&extract(&code, &Budget::start())));
}

#[test]
fn unbalanced_deep_nesting_fails_closed() {
    let code = "f(".repeat(100_000);
    assert!(fails_closed(&extract(&code, &Budget::start())));
}

#[test]
fn long_operator_chains_fail_closed() {
    // No brackets at all, yet a tree 100,000 levels deep.
    let chain = "a".to_string() + &" + a".repeat(100_000);
    assert!(fails_closed(&extract(&chain, &Budget::start())));
    let unary = "!".repeat(100_000) + "x";
    assert!(fails_closed(&extract(&unary, &Budget::start())));
    let members = "a".to_string() + &".b".repeat(100_000);
    assert!(fails_closed(&extract(&members, &Budget::start())));
}

#[test]
fn deep_payload_inside_eval_fails_closed() {
    // The payload's nesting is checked with the nested budget too.
    let inner = "(".repeat(5_000) + "1" + &")".repeat(5_000);
    let code = format!("eval('{inner}')");
    assert!(fails_closed(&extract(&code, &Budget::start())));
}

#[test]
fn timeout_is_reported() {
    let mut b = Budget::start();
    b.deadline = std::time::Instant::now();
    assert_eq!(extract("const a = 1;", &b), Err(AnalyzeError::Timeout));
}
