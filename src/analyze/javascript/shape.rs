//! Obfuscator shapes: the structure obfuscation tools leave in a program,
//! found on the syntax tree rather than by folding values. The obfuscator.io
//! shape (a string array rotated with `a['push'](a['shift']())` until a checksum
//! matches, the self-replacing function that holds it, and `_0x`-named
//! accessors), JSFuck-like coercions (`!![]`,
//! `+!!false`, `+[]`, `[]+{}`), and loops that XOR character codes against a
//! cycling key (a decoder) are each reported as a signal; the rules judge them.
//!
//! What it must not do: walk without a bound (an explicit stack, bounded by
//! the tree the parser already checked against the depth budget, and by the
//! budget's clock), or resolve names (the walker does).

use tree_sitter::Node;

use crate::analyze::{Budget, Fact, FactKind, Span};

/// Distinct `_0x`-named identifiers from which a program is taken to be
/// machine-renamed (one or two occur in hand-written hex-heavy code).
const HEX_NAMES: usize = 4;
/// How often (in nodes) the deadline is checked.
const CLOCK_EVERY: usize = 1024;

#[derive(Default)]
struct Seen {
    hex_names: Vec<String>,
    first_hex: Option<Span>,
    rotation: Option<Span>,
    string_array: Option<Span>,
    coercion: Option<Span>,
    xor_loop: Option<Span>,
    code_sink: bool,
}

/// Signals for the obfuscator shapes in the tree under `root`.
pub fn signals(root: Node<'_>, code: &str, budget: &Budget) -> Vec<Fact> {
    let mut seen = Seen::default();
    let mut stack = vec![(root, 0usize)];
    let mut steps = 0usize;
    while let Some((node, loops)) = stack.pop() {
        steps += 1;
        if steps.is_multiple_of(CLOCK_EVERY) && budget.expired() {
            break;
        }
        let in_loop = loops
            + usize::from(matches!(
                node.kind(),
                "for_statement" | "while_statement" | "do_statement" | "for_in_statement"
            ));
        visit(node, code, in_loop > 0, &mut seen);
        // Reversed so that nodes pop in source order (first occurrences are reported).
        let mut cursor = node.walk();
        let children: Vec<Node<'_>> = node.named_children(&mut cursor).collect();
        stack.extend(children.into_iter().rev().map(|c| (c, in_loop)));
    }
    let mut out = Vec::new();
    let mut signal = |name: &str, arg: &str, span: Span| {
        out.push(Fact::new(FactKind::Signal, name, span).with_args(vec![arg.to_string()]));
    };
    if let Some(span) = seen.rotation {
        signal("obfuscator-shape", "string-array-rotation", span);
    }
    if let Some(span) = seen.string_array {
        signal("obfuscator-shape", "self-replacing-string-array", span);
    }
    if seen.hex_names.len() >= HEX_NAMES {
        if let Some(span) = seen.first_hex {
            signal("obfuscator-shape", "hex-identifiers", span);
        }
    }
    if let Some(span) = seen.coercion {
        signal("obfuscator-shape", "coercion", span);
    }
    if let Some(span) = seen.xor_loop {
        signal("decode-loop", "xor-char-codes", span);
        if seen.code_sink {
            signal("decode-exec", "xor-char-codes", span);
        }
    }
    out
}

fn text<'a>(node: Node<'_>, code: &'a str) -> &'a str {
    code.get(node.byte_range()).unwrap_or("")
}

fn span_of(node: Node<'_>) -> Span {
    let s = node.start_position();
    let e = node.end_position();
    Span::new(
        u32::try_from(s.row + 1).unwrap_or(u32::MAX),
        u32::try_from(s.column + 1).unwrap_or(u32::MAX),
        u32::try_from(e.row + 1).unwrap_or(u32::MAX),
        u32::try_from(e.column + 1).unwrap_or(u32::MAX),
    )
}

fn visit(node: Node<'_>, code: &str, in_loop: bool, seen: &mut Seen) {
    match node.kind() {
        "identifier" => {
            let t = text(node, code);
            if is_hex_name(t)
                && seen.hex_names.len() < HEX_NAMES
                && !seen.hex_names.iter().any(|n| n == t)
            {
                seen.hex_names.push(t.to_string());
                seen.first_hex.get_or_insert(span_of(node));
            }
        }
        "call_expression" => {
            let callee = node.child_by_field_name("function");
            let name = callee.map(|c| method_name(c, code)).unwrap_or_default();
            if matches!(
                name.as_str(),
                "eval" | "Function" | "runInThisContext" | "runInNewContext"
            ) {
                seen.code_sink = true;
            }
            // `q.push(q.shift())` is a round-robin idiom; the obfuscator's
            // rotation goes through string subscripts or `_0x` names.
            let obfuscated_receiver = callee.is_some_and(|c| {
                c.kind() == "subscript_expression"
                    || c.child_by_field_name("object")
                        .is_some_and(|o| is_hex_name(text(o, code)))
            });
            if name == "push" && obfuscated_receiver && seen.rotation.is_none() {
                let arg = node
                    .child_by_field_name("arguments")
                    .and_then(|a| a.named_child(0));
                let shifted = arg.is_some_and(|a| {
                    a.kind() == "call_expression"
                        && a.child_by_field_name("function")
                            .is_some_and(|f| method_name(f, code) == "shift")
                });
                if shifted {
                    seen.rotation = Some(span_of(node));
                }
            }
        }
        "function_declaration" if seen.string_array.is_none() && is_string_array_fn(node, code) => {
            seen.string_array = Some(span_of(node));
        }
        "new_expression" => {
            let ctor = node.child_by_field_name("constructor");
            if ctor.is_some_and(|c| text(c, code) == "Function") {
                seen.code_sink = true;
            }
        }
        "unary_expression" if seen.coercion.is_none() && is_coercion(node, code) => {
            seen.coercion = Some(span_of(node));
        }
        "binary_expression" => {
            let op = node.child_by_field_name("operator").map(|o| o.kind());
            let l = node.child_by_field_name("left");
            let r = node.child_by_field_name("right");
            match op {
                Some("+") if seen.coercion.is_none() => {
                    let empty = |n: Option<Node<'_>>| {
                        n.is_some_and(|n| {
                            matches!(n.kind(), "array" | "object") && n.named_child_count() == 0
                        })
                    };
                    if empty(l) && empty(r) {
                        seen.coercion = Some(span_of(node));
                    }
                }
                Some("^") if in_loop && seen.xor_loop.is_none() => {
                    let codes = |n: Option<Node<'_>>| {
                        n.is_some_and(|n| text(n, code).contains("charCodeAt"))
                    };
                    if (codes(l) || codes(r)) && is_cipher(node, code) {
                        seen.xor_loop = Some(span_of(node));
                    }
                }
                _ => {}
            }
        }
        "augmented_assignment_expression" if in_loop && seen.xor_loop.is_none() => {
            let op = node.child_by_field_name("operator").map(|o| o.kind());
            let r = node.child_by_field_name("right");
            if op == Some("^=")
                && r.is_some_and(|r| text(r, code).contains("charCodeAt"))
                && is_cipher(node, code)
            {
                seen.xor_loop = Some(span_of(node));
            }
        }
        _ => {}
    }
}

/// An XOR of character codes is a cipher, not a hash, when the key cycles
/// (`key.charCodeAt(i % key.length)`) or the result becomes text again
/// (`String.fromCharCode(...)` around it).
fn is_cipher(node: Node<'_>, code: &str) -> bool {
    if node.byte_range().len() <= 4096 && text(node, code).contains('%') {
        return true;
    }
    let mut up = node.parent();
    for _ in 0..3 {
        // Bounded: a large enclosing block says nothing about this expression.
        let Some(p) = up.filter(|p| p.byte_range().len() <= 4096) else {
            break;
        };
        if text(p, code).contains("fromCharCode") {
            return true;
        }
        up = p.parent();
    }
    false
}

/// The obfuscator.io string-array function: `function f() { var a = ['..',
/// ...]; f = function () { return a; }; return f(); }`, a function that
/// replaces itself with an accessor to a table of strings.
fn is_string_array_fn(node: Node<'_>, code: &str) -> bool {
    let (Some(name), Some(body)) = (
        node.child_by_field_name("name"),
        node.child_by_field_name("body"),
    ) else {
        return false;
    };
    if body.byte_range().len() > 64 * 1024 {
        return false;
    }
    let name = text(name, code);
    let compact: String = text(body, code)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if !compact.contains(&format!("{name}=function")) {
        return false;
    }
    // An array of at least five string literals somewhere in the body.
    let mut stack = vec![body];
    let mut seen = 0usize;
    while let Some(n) = stack.pop() {
        seen += 1;
        if seen > 4096 {
            return false;
        }
        if n.kind() == "array" {
            let mut cursor = n.walk();
            let strings = n
                .named_children(&mut cursor)
                .filter(|c| c.kind() == "string")
                .count();
            if strings >= 5 {
                return true;
            }
        }
        let mut cursor = n.walk();
        stack.extend(n.named_children(&mut cursor));
    }
    false
}

/// `_0x4cfd`, `_0x19b533`: the renaming of obfuscator.io and its kin.
fn is_hex_name(t: &str) -> bool {
    t.strip_prefix("_0x")
        .is_some_and(|h| h.len() >= 3 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The property a call goes through: `a.push`, `a['push']`, or a bare name.
fn method_name(callee: Node<'_>, code: &str) -> String {
    match callee.kind() {
        "identifier" => text(callee, code).to_string(),
        "member_expression" => callee
            .child_by_field_name("property")
            .map(|p| text(p, code).to_string())
            .unwrap_or_default(),
        "subscript_expression" => callee
            .child_by_field_name("index")
            .filter(|i| i.kind() == "string")
            .map(|i| {
                text(i, code)
                    .trim_matches(|c| c == '\'' || c == '"' || c == '`')
                    .to_string()
            })
            .unwrap_or_default(),
        _ => String::new(),
    }
}

/// `!![]` (negation of an empty literal), `+[]`, `+!!false`:
/// values produced by coercing literals, which no one writes by hand.
fn is_coercion(node: Node<'_>, code: &str) -> bool {
    let op = node.child_by_field_name("operator").map(|o| o.kind());
    let Some(arg) = node.child_by_field_name("argument") else {
        return false;
    };
    let empty_literal =
        |n: Node<'_>| matches!(n.kind(), "array" | "object") && n.named_child_count() == 0;
    match op {
        // !![] / ![] / !{}
        Some("!") => empty_literal(arg),
        // +[] / +{} / +!!false / +!![]
        Some("+") => {
            let t: String = text(arg, code)
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            empty_literal(arg)
                || matches!(
                    t.as_str(),
                    "!!false" | "!!true" | "!![]" | "![]" | "!false" | "!true" | "!!{}"
                )
        }
        _ => false,
    }
}
