//! User functions: parameter binding, walking bodies, and bounded
//! inlining of calls with known arguments (`INLINE_CALLS`, `INLINE_DEPTH`).
//!
//! What it must not do: inline without those bounds.

use super::{Walker, INLINE_DEPTH};
use crate::analyze::javascript::value::{Val, V};
use tree_sitter::Node;

impl<'t, 'b> Walker<'t, 'b> {
    pub(super) fn bind_params(&mut self, func: Node<'t>, args: Option<&[Val<'t>]>) {
        if let Some(p) = self.field(func, "parameter") {
            let v = args.and_then(|a| a.first().cloned()).unwrap_or_default();
            self.bind_pattern(p, Some(v), true);
            return;
        }
        let Some(params) = self.field(func, "parameters") else {
            return;
        };
        let mut idx = 0usize;
        for i in 0..params.named_child_count() {
            let Some(p) = params.named_child(i as u32) else {
                continue;
            };
            if p.kind() == "comment" {
                continue;
            }
            let v = match (p.kind(), args) {
                ("rest_pattern", Some(a)) => Val::of(V::Arr(a.iter().skip(idx).cloned().collect())),
                (_, Some(a)) => a.get(idx).cloned().unwrap_or_default(),
                (_, None) => Val::unknown(),
            };
            self.bind_pattern(p, Some(v), true);
            idx += 1;
        }
    }

    /// Walks a function body once, where it is defined, with unknown parameters.
    pub(super) fn walk_function(&mut self, func: Node<'t>) {
        let saved = self.ctx;
        let method_like =
            matches!(func.kind(), "method_definition") || self.method_fn == Some(func.id());
        if func.kind() != "arrow_function" {
            self.ctx.this_global = saved.this_global && !method_like;
        }
        self.push_scope();
        self.bind_params(func, None);
        self.ret_slots.push(None);
        if let Some(body) = self.field(func, "body") {
            self.eval(body);
        }
        self.ret_slots.pop();
        self.pop_scope();
        self.ctx = saved;
    }

    /// Evaluates a call of a function written in the program with known
    /// arguments, so helper functions (`const d = s => atob(s)`) fold.
    pub(super) fn inline_call(&mut self, func: Node<'t>, args: &[Val<'t>]) -> Val<'t> {
        if self.inline_depth >= INLINE_DEPTH
            || self.inline_left == 0
            || self.inline_stack.contains(&func.id())
            || self.depth > self.budget.max_depth * 2
        {
            return Val::unknown();
        }
        self.inline_left -= 1;
        self.inline_depth += 1;
        self.inline_stack.push(func.id());
        self.push_scope();
        self.bind_params(func, Some(args));
        self.ret_slots.push(None);
        let mut result = Val::unknown();
        if let Some(body) = self.field(func, "body") {
            if body.kind() == "statement_block" {
                self.eval(body);
            } else {
                result = self.eval(body);
            }
        }
        if let Some(Some(r)) = self.ret_slots.pop() {
            result = r;
        }
        self.pop_scope();
        self.inline_stack.pop();
        self.inline_depth -= 1;
        result
    }
}

/// `return process` / `return this` as a whole function body: the global it hands out.
pub(super) fn returned_global(code: &str) -> Option<String> {
    let body = code
        .trim()
        .strip_prefix("return")?
        .trim()
        .trim_end_matches(';')
        .trim();
    match body {
        "this" | "global" | "globalThis" | "window" | "self" => Some(String::new()),
        "process" | "require" | "module" => Some(body.to_string()),
        "process.mainModule" | "process.mainModule.require" => Some(body.to_string()),
        _ => None,
    }
}
