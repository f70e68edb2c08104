//! Loops: `while`, `for`, `for in/of`, whether a loop can end and
//! whether its body grows memory, disk or processes without bound.
//!
//! What it must not do: recurse on the loop body's depth (the scan is
//! iterative).

use super::{is_function_kind, Walker};
use crate::analyze::javascript::value::{Val, V};
use crate::analyze::FactKind;
use tree_sitter::Node;

impl<'t, 'b> Walker<'t, 'b> {
    pub(super) fn loop_body(&mut self, node: Node<'t>, body: Option<Node<'t>>, infinite: bool) {
        let saved = self.ctx;
        self.ctx.in_loop = true;
        if infinite {
            self.ctx.in_infinite = true;
        }
        let before = self.facts.len();
        if let Some(b) = body {
            self.eval(b);
        }
        self.ctx = saved;
        if infinite {
            if let Some(b) = body {
                let scan = scan_loop_body(b, self.src);
                if !scan.exits {
                    self.signal("infinite-loop", node, Vec::new());
                    let effects = self.facts[before..]
                        .iter()
                        .any(|f| f.kind == FactKind::Call && is_resource_effect(&f.name));
                    if scan.allocates || effects {
                        self.signal(
                            "resource-exhaustion",
                            node,
                            vec!["unbounded loop allocates".into()],
                        );
                    }
                }
            }
        }
    }

    pub(super) fn while_loop(&mut self, node: Node<'t>) -> Val<'t> {
        let cond_node = self.field(node, "condition");
        let cond = cond_node.map(|c| self.eval(c)).unwrap_or_default();
        let infinite = cond.truthy() == Some(true) && cond_node.is_some_and(is_constant_condition);
        let body = self.field(node, "body");
        self.loop_body(node, body, infinite);
        Val::unknown()
    }

    pub(super) fn for_loop(&mut self, node: Node<'t>) -> Val<'t> {
        self.push_scope();
        if let Some(init) = self.field(node, "initializer") {
            self.eval(init);
        }
        let mut infinite = true;
        let mut cursor = node.walk();
        let conditions: Vec<Node<'t>> = node
            .children_by_field_name("condition", &mut cursor)
            .collect();
        for c in conditions {
            if c.is_named() && c.kind() != "empty_statement" {
                let v = self.eval(c);
                if v.truthy() != Some(true) || !is_constant_condition(c) {
                    infinite = false;
                }
            }
        }
        if let Some(inc) = self.field(node, "increment") {
            self.eval(inc);
        }
        let body = self.field(node, "body");
        self.loop_body(node, body, infinite);
        self.pop_scope();
        Val::unknown()
    }

    pub(super) fn for_in(&mut self, node: Node<'t>) -> Val<'t> {
        let right = self
            .field(node, "right")
            .map(|r| self.eval(r))
            .unwrap_or_default();
        if right.as_path() == Some("process.env") {
            self.signal("env-harvest", node, vec!["for process.env".into()]);
        }
        self.push_scope();
        if let Some(left) = self.field(node, "left") {
            let item = match &right.v {
                V::Arr(items) if items.len() == 1 => items[0].clone(),
                _ => Val::unknown(),
            };
            self.bind_pattern(left, Some(item), true);
        }
        let body = self.field(node, "body");
        self.loop_body(node, body, false);
        self.pop_scope();
        Val::unknown()
    }
}

/// A loop condition that no variable can change (`true`, `1`, `!0`).
pub(super) fn is_constant_condition(cond: Node<'_>) -> bool {
    let mut stack = vec![cond];
    while let Some(n) = stack.pop() {
        if matches!(
            n.kind(),
            "identifier"
                | "call_expression"
                | "member_expression"
                | "subscript_expression"
                | "this"
        ) {
            return false;
        }
        for i in 0..n.named_child_count() {
            if let Some(c) = n.named_child(i as u32) {
                stack.push(c);
            }
        }
    }
    true
}

/// Calls that grow memory, disk or processes when repeated without bound.
pub(super) fn is_resource_effect(name: &str) -> bool {
    let root = name.split('.').next().unwrap_or(name);
    match root {
        "child_process" | "cluster" | "worker_threads" | "Worker" => true,
        "fs" => [
            "write",
            "append",
            "mkdir",
            "copy",
            "open",
            "createWriteStream",
        ]
        .iter()
        .any(|m| name.contains(m)),
        "Buffer" => name.contains("alloc"),
        "net" | "http" | "https" | "fetch" | "dgram" => true,
        _ => false,
    }
}

pub(super) struct LoopScan {
    exits: bool,
    allocates: bool,
}

/// Whether a loop body can leave the loop (break, return, throw, exit,
/// await/yield hand control back) and whether it allocates. Iterative:
/// the body can be as deep as the tree.
pub(super) fn scan_loop_body(body: Node<'_>, src: &str) -> LoopScan {
    let mut exits = false;
    let mut allocates = false;
    // (node, inside a nested loop or switch)
    let mut stack: Vec<(Node<'_>, bool)> = vec![(body, false)];
    while let Some((n, nested)) = stack.pop() {
        let kind = n.kind();
        match kind {
            // A labelled break may leave the outer loop from a nested one.
            "break_statement" if !nested || n.named_child_count() > 0 => exits = true,
            "return_statement" | "throw_statement" | "await_expression" | "yield_expression" => {
                exits = true
            }
            "call_expression" => {
                let f = n.child_by_field_name("function");
                let ftext = f
                    .and_then(|f| f.utf8_text(src.as_bytes()).ok())
                    .unwrap_or("");
                if ftext.ends_with("process.exit")
                    || ftext.ends_with("process.abort")
                    || ftext == "exit"
                {
                    exits = true;
                }
                if let Some(prop) = f.and_then(|f| f.child_by_field_name("property")) {
                    let p = prop.utf8_text(src.as_bytes()).unwrap_or("");
                    if matches!(
                        p,
                        "push"
                            | "unshift"
                            | "concat"
                            | "repeat"
                            | "fill"
                            | "alloc"
                            | "allocUnsafe"
                            | "set"
                            | "add"
                            | "padEnd"
                            | "padStart"
                    ) {
                        allocates = true;
                    }
                }
            }
            "new_expression" => {
                let c = n
                    .child_by_field_name("constructor")
                    .and_then(|c| c.utf8_text(src.as_bytes()).ok())
                    .unwrap_or("");
                if matches!(
                    c,
                    "Array"
                        | "ArrayBuffer"
                        | "Buffer"
                        | "SharedArrayBuffer"
                        | "Uint8Array"
                        | "Float64Array"
                        | "Worker"
                        | "Map"
                        | "Set"
                ) {
                    allocates = true;
                }
            }
            "augmented_assignment_expression" => {
                let op = n
                    .child_by_field_name("operator")
                    .and_then(|o| o.utf8_text(src.as_bytes()).ok());
                if op == Some("+=") {
                    // `s += s` doubles a string each turn.
                    allocates = true;
                }
            }
            _ => {}
        }
        if exits {
            break;
        }
        if is_function_kind(kind) && n.id() != body.id() {
            continue;
        }
        let nested_here = nested
            || (n.id() != body.id()
                && matches!(
                    kind,
                    "for_statement"
                        | "for_in_statement"
                        | "while_statement"
                        | "do_statement"
                        | "switch_statement"
                ));
        for i in 0..n.named_child_count() {
            if let Some(c) = n.named_child(i as u32) {
                stack.push((c, nested_here));
            }
        }
    }
    LoopScan { exits, allocates }
}
