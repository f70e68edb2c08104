//! The tree walker: a small abstract interpreter over the tree-sitter syntax
//! tree that resolves bindings (`const cp = require('child_process')`),
//! folds constant strings (`'ev' + 'al'`, `atob(...)`, `String.fromCharCode`)
//! and emits facts for what the program reaches: imports, calls by
//! qualified name, member reads, commands, and technique signals.
//!
//! It never executes anything and never decides: rules judge the facts.
//! Recursion follows the syntax tree, whose depth the caller has already
//! bounded; a second counter (`depth`) and the time budget stop runaway
//! inline evaluation. Errors are recorded in `error` and end the walk.
//!
//! Layout: this file holds the walker's state, fact emission and the
//! evaluation entry point; each concern is one `impl Walker` block in its
//! own file: `expr` (node dispatch), `scope` (scopes, bindings,
//! destructuring), `literals`, `operators`, `members`, `functions`
//! (inlining), `imports`, `loops`, `calls` (call dispatch), `process`
//! (child_process sinks), `files` (fs sinks), `embedded` (eval/Function and
//! other languages' payloads), `fold_builtin` and `fold_method` (folding).

use std::collections::HashMap;

use tree_sitter::Node;

use super::value::Val;
use crate::analyze::{AnalyzeError, Budget, Fact, FactKind, Span};

mod calls;
mod embedded;
mod expr;
mod files;
mod fold_builtin;
mod fold_method;
mod functions;
mod imports;
mod literals;
mod loops;
mod members;
mod operators;
mod process;
mod scope;

/// Allocations at or above these sizes cannot be meant for a sandbox
/// (memory limits are in the hundreds of MiB).
const HUGE_BYTES: f64 = (1u64 << 30) as f64;
const HUGE_ITEMS: f64 = 1.0e8;

/// How many user functions may be inlined in one walk, and how deep.
const INLINE_CALLS: usize = 128;
const INLINE_DEPTH: usize = 3;
/// How many array elements `map`/`reduce` folding may run a callback on.
const FOLD_CALLBACKS: usize = 2048;

#[derive(Debug, Clone, Copy, Default)]
struct Ctx {
    in_loop: bool,
    in_infinite: bool,
    in_cond: bool,
    this_global: bool,
}

type Scope<'t> = HashMap<String, Option<Val<'t>>>;

pub struct Walker<'t, 'b> {
    src: &'t str,
    budget: &'b Budget,
    pub facts: Vec<Fact>,
    scopes: Vec<Scope<'t>>,
    /// Bindings seen anywhere in the first pass, so uses before the
    /// declaration (hoisting, functions declared above their imports) resolve.
    pub hoisted: HashMap<String, Val<'t>>,
    record_hoisted: bool,
    ctx: Ctx,
    inline_depth: usize,
    inline_left: usize,
    inline_stack: Vec<usize>,
    /// Elements that `map`/`reduce` folding may still run a callback on.
    fold_left: usize,
    /// The function expression being evaluated as an object or prototype
    /// method, where `this` is not the global object.
    method_fn: Option<usize>,
    ret_slots: Vec<Option<Val<'t>>>,
    /// Member expression whose Attribute fact is suppressed because it is
    /// the object of a longer chain or a callee.
    no_attr: Option<usize>,
    depth: usize,
    max_rec: usize,
    steps: usize,
    pub error: Option<AnalyzeError>,
    /// A value went past the analysis memory bound while evaluating the
    /// current node (set where no node is at hand, reported by `eval`).
    bounded: std::cell::Cell<bool>,
    /// `analysis-bound` signals emitted so far (capped).
    bound_reports: usize,
}

fn span_of(node: Node<'_>) -> Span {
    let s = node.start_position();
    let e = node.end_position();
    Span::new(
        s.row as u32 + 1,
        s.column as u32 + 1,
        e.row as u32 + 1,
        e.column as u32 + 1,
    )
}

fn is_function_kind(kind: &str) -> bool {
    matches!(
        kind,
        "arrow_function"
            | "function_expression"
            | "function"
            | "generator_function"
            | "function_declaration"
            | "generator_function_declaration"
            | "method_definition"
    )
}

impl<'t, 'b> Walker<'t, 'b> {
    pub fn new(
        src: &'t str,
        budget: &'b Budget,
        hoisted: HashMap<String, Val<'t>>,
        record_hoisted: bool,
    ) -> Self {
        Walker {
            src,
            budget,
            facts: Vec::new(),
            scopes: vec![HashMap::new()],
            hoisted,
            record_hoisted,
            ctx: Ctx {
                this_global: true,
                ..Ctx::default()
            },
            inline_depth: 0,
            inline_left: INLINE_CALLS,
            inline_stack: Vec::new(),
            fold_left: FOLD_CALLBACKS,
            method_fn: None,
            ret_slots: Vec::new(),
            no_attr: None,
            depth: 0,
            max_rec: budget.max_depth.saturating_mul(4).saturating_add(64),
            steps: 0,
            error: None,
            bounded: std::cell::Cell::new(false),
            bound_reports: 0,
        }
    }

    pub fn run(&mut self, root: Node<'t>) {
        self.eval(root);
    }

    fn emit(&mut self, kind: FactKind, name: impl Into<String>, node: Node<'t>, args: Vec<String>) {
        if self.record_hoisted {
            return;
        }
        let mut fact = Fact::new(kind, name, span_of(node)).with_args(args);
        // Facts are kept to the end of the analysis: paid for like bindings.
        if !self.budget.admit(fact.size()) {
            fact.shrink();
            self.bounded.set(true);
        }
        self.facts.push(fact);
    }

    /// Reports that a value went past the analysis memory bound at `node`.
    fn report_bound(&mut self, node: Node<'t>) {
        const MAX_REPORTS: usize = 64;
        if self.bound_reports < MAX_REPORTS && !self.record_hoisted {
            self.bound_reports += 1;
            self.facts
                .push(Fact::new(FactKind::Signal, "analysis-bound", span_of(node)));
        }
    }

    /// `v` if the analysis may keep it, else unknown with its provenance,
    /// flagged for `eval` to report.
    fn pay_for(&self, v: Val<'t>) -> Val<'t> {
        if self.budget.admit(v.size()) {
            return v;
        }
        self.bounded.set(true);
        Val::unknown().taint_from(&v)
    }

    fn signal(&mut self, id: &str, node: Node<'t>, args: Vec<String>) {
        self.emit(FactKind::Signal, id, node, args);
    }

    fn text(&self, node: Node<'t>) -> &'t str {
        node.utf8_text(self.src.as_bytes()).unwrap_or("")
    }

    fn eval(&mut self, node: Node<'t>) -> Val<'t> {
        if self.error.is_some() {
            return Val::unknown();
        }
        self.steps += 1;
        if self.steps.is_multiple_of(512) && self.budget.expired() {
            self.error = Some(AnalyzeError::Timeout);
            return Val::unknown();
        }
        if self.depth >= self.max_rec {
            self.error = Some(AnalyzeError::TooDeep {
                limit: self.budget.max_depth,
            });
            return Val::unknown();
        }
        self.depth += 1;
        let mut v = self.eval_inner(node);
        self.depth -= 1;
        // Every value is capped in size; what went past a bound is unknown
        // from here on, and reported where it happened.
        if v.size() > self.budget.max_value_bytes {
            v = Val::unknown().taint_from(&v);
            self.bounded.set(true);
        }
        if self.bounded.replace(false) {
            self.report_bound(node);
        }
        v
    }

    fn visit_children(&mut self, node: Node<'t>) {
        for i in 0..node.named_child_count() {
            if let Some(c) = node.named_child(i as u32) {
                self.eval(c);
            }
        }
    }

    fn field(&self, node: Node<'t>, name: &str) -> Option<Node<'t>> {
        node.child_by_field_name(name)
    }
}
