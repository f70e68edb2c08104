//! The expression and statement dispatcher: one match over node kinds
//! that hands each to its concern (literals, operators, members, calls,
//! loops, functions, imports) and evaluates what it can to a [`Val`].
//!
//! What it must not do: grow sink logic here; sinks live in their own files.

use super::Walker;
use crate::analyze::javascript::value::{self, Val, V};
use crate::analyze::FactKind;
use tree_sitter::Node;

impl<'t, 'b> Walker<'t, 'b> {
    pub(super) fn eval_inner(&mut self, node: Node<'t>) -> Val<'t> {
        match node.kind() {
            "program" => {
                self.visit_children(node);
                Val::unknown()
            }
            "statement_block" | "class_body" => {
                self.push_scope();
                self.visit_children(node);
                self.pop_scope();
                Val::unknown()
            }
            "comment"
            | "empty_statement"
            | "debugger_statement"
            | "hash_bang_line"
            | "statement_identifier"
            | "break_statement"
            | "continue_statement" => Val::unknown(),
            "lexical_declaration" | "variable_declaration" => {
                for i in 0..node.named_child_count() {
                    let Some(d) = node.named_child(i as u32) else {
                        continue;
                    };
                    if d.kind() != "variable_declarator" {
                        continue;
                    }
                    let val = self.field(d, "value").map(|v| self.eval(v));
                    if let Some(name) = self.field(d, "name") {
                        self.bind_pattern(name, val, true);
                    }
                }
                Val::unknown()
            }
            "identifier" => self.lookup(self.text(node)),
            "this" => {
                if self.ctx.this_global {
                    Val::path("")
                } else {
                    Val::unknown()
                }
            }
            "string" => self.string_literal(node),
            "template_string" => self.template(node),
            "number" => match value::parse_js_number(self.text(node)) {
                Some(n) => Val::of(V::Num(n)),
                None => Val::unknown(),
            },
            "true" => Val::of(V::Bool(true)),
            "false" => Val::of(V::Bool(false)),
            "null" => Val::of(V::Null),
            "regex" => {
                let pattern = self
                    .field(node, "pattern")
                    .map(|p| self.text(p))
                    .unwrap_or("");
                let flags = self
                    .field(node, "flags")
                    .map(|p| self.text(p))
                    .unwrap_or("");
                Val::of(V::Regex(pattern.to_string(), flags.to_string()))
            }
            "parenthesized_expression" | "sequence_expression" => {
                let mut last = Val::unknown();
                for i in 0..node.named_child_count() {
                    if let Some(c) = node.named_child(i as u32) {
                        last = self.eval(c);
                    }
                }
                last
            }
            "await_expression" | "template_substitution" | "computed_property_name" => {
                let mut last = Val::unknown();
                for i in 0..node.named_child_count() {
                    if let Some(c) = node.named_child(i as u32) {
                        last = self.eval(c);
                    }
                }
                last
            }
            "expression_statement" => {
                self.visit_children(node);
                Val::unknown()
            }
            "binary_expression" => self.binary(node),
            "unary_expression" => self.unary(node),
            "ternary_expression" => {
                let cond = self
                    .field(node, "condition")
                    .map(|c| self.eval(c))
                    .unwrap_or_default();
                let saved = self.ctx;
                self.ctx.in_cond = true;
                let a = self
                    .field(node, "consequence")
                    .map(|c| self.eval(c))
                    .unwrap_or_default();
                let b = self
                    .field(node, "alternative")
                    .map(|c| self.eval(c))
                    .unwrap_or_default();
                self.ctx = saved;
                match cond.truthy() {
                    Some(true) => a,
                    Some(false) => b,
                    None => Val::unknown(),
                }
            }
            "assignment_expression" => {
                let member_target = self.field(node, "left").is_some_and(|l| {
                    matches!(l.kind(), "member_expression" | "subscript_expression")
                });
                let val = self
                    .field(node, "right")
                    .map(|r| {
                        if member_target {
                            // `Foo.prototype.run = function () { this... }`: a method.
                            self.method_fn = Some(r.id());
                        }
                        self.eval(r)
                    })
                    .unwrap_or_default();
                if let Some(left) = self.field(node, "left") {
                    self.assign_target(left, val.clone());
                }
                val
            }
            "augmented_assignment_expression" => self.augmented(node),
            "update_expression" => {
                self.visit_children(node);
                Val::unknown()
            }
            "member_expression" | "subscript_expression" => {
                let suppressed = self.no_attr == Some(node.id());
                let val = self.member_value(node);
                if !suppressed {
                    if let V::Path(p) = &val.v {
                        if !p.is_empty() && !p.contains("()") {
                            let p = p.clone();
                            self.emit(FactKind::Attribute, p, node, Vec::new());
                        }
                    }
                }
                val
            }
            "call_expression" => self.call(node),
            "new_expression" => self.new_expr(node),
            "arrow_function" | "function_expression" | "function" | "generator_function" => {
                self.walk_function(node);
                Val::of(V::Func(node))
            }
            "function_declaration" | "generator_function_declaration" => {
                if let Some(name) = self.field(node, "name") {
                    let n = self.text(name).to_string();
                    self.declare(&n, Some(Val::of(V::Func(node))));
                }
                self.walk_function(node);
                Val::unknown()
            }
            "method_definition" => {
                self.walk_function(node);
                Val::of(V::Func(node))
            }
            "class_declaration" | "class" => {
                if let Some(name) = self.field(node, "name") {
                    let n = self.text(name).to_string();
                    self.declare(&n, Some(Val::unknown()));
                }
                let saved = self.ctx;
                self.ctx.this_global = false;
                self.visit_children(node);
                self.ctx = saved;
                Val::unknown()
            }
            "import_statement" => {
                self.import_statement(node);
                Val::unknown()
            }
            "export_statement" => {
                if let Some(src) = self.field(node, "source") {
                    let m = self.string_literal(src);
                    self.import_module(&m, node);
                }
                self.visit_children(node);
                Val::unknown()
            }
            "for_in_statement" => self.for_in(node),
            "for_statement" => self.for_loop(node),
            "while_statement" | "do_statement" => self.while_loop(node),
            "if_statement" => {
                if let Some(c) = self.field(node, "condition") {
                    self.eval(c);
                }
                let saved = self.ctx;
                self.ctx.in_cond = true;
                if let Some(c) = self.field(node, "consequence") {
                    self.eval(c);
                }
                if let Some(c) = self.field(node, "alternative") {
                    self.eval(c);
                }
                self.ctx = saved;
                Val::unknown()
            }
            "switch_statement" | "catch_clause" => {
                let saved = self.ctx;
                self.ctx.in_cond = true;
                self.push_scope();
                if let Some(p) = self.field(node, "parameter") {
                    self.bind_pattern(p, Some(Val::unknown()), true);
                }
                self.visit_children(node);
                self.pop_scope();
                self.ctx = saved;
                Val::unknown()
            }
            "return_statement" => {
                let mut v = Val::unknown();
                for i in 0..node.named_child_count() {
                    if let Some(c) = node.named_child(i as u32) {
                        v = self.eval(c);
                    }
                }
                if let Some(slot) = self.ret_slots.last_mut() {
                    if slot.is_none() {
                        *slot = Some(v);
                    }
                }
                Val::unknown()
            }
            "spread_element" => {
                let v = node
                    .named_child(0)
                    .map(|c| self.eval(c))
                    .unwrap_or_default();
                if v.as_path() == Some("process.env") && !self.spread_into_env_option(node) {
                    self.signal("env-harvest", node, vec!["...process.env".into()]);
                }
                v
            }
            "object" => self.object(node),
            "array" => self.array(node),
            _ => {
                self.visit_children(node);
                Val::unknown()
            }
        }
    }

    /// `{ env: { ...process.env, X: 1 } }`: handing the environment to a child
    /// process is ordinary, not harvesting.
    pub(super) fn spread_into_env_option(&self, spread: Node<'t>) -> bool {
        let Some(obj) = spread.parent() else {
            return false;
        };
        let Some(pair) = obj.parent() else {
            return false;
        };
        pair.kind() == "pair"
            && self
                .field(pair, "key")
                .map(|k| self.text(k).trim_matches(['"', '\'']))
                == Some("env")
    }
}
