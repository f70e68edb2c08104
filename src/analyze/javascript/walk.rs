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

use std::collections::HashMap;

use tree_sitter::Node;

use super::names::{
    self, basename, is_cloud_metadata, is_root_like, is_sensitive_path, sensitive_path,
};
use super::value::{self, Val, MAX_ITEMS, MAX_STR, SELF_MARK, V};
use crate::analyze::{AnalyzeError, Budget, Fact, FactKind, Span};

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
        }
    }

    pub fn run(&mut self, root: Node<'t>) {
        self.eval(root);
    }

    // ---------------------------------------------------------------- facts

    fn emit(&mut self, kind: FactKind, name: impl Into<String>, node: Node<'t>, args: Vec<String>) {
        if self.record_hoisted {
            return;
        }
        self.facts
            .push(Fact::new(kind, name, span_of(node)).with_args(args));
    }

    fn signal(&mut self, id: &str, node: Node<'t>, args: Vec<String>) {
        self.emit(FactKind::Signal, id, node, args);
    }

    fn text(&self, node: Node<'t>) -> &'t str {
        node.utf8_text(self.src.as_bytes()).unwrap_or("")
    }

    // ---------------------------------------------------------------- scopes

    fn push_scope(&mut self) {
        self.scopes.push(HashMap::new());
    }

    fn pop_scope(&mut self) {
        if self.scopes.len() > 1 {
            self.scopes.pop();
        }
    }

    fn declare(&mut self, name: &str, val: Option<Val<'t>>) {
        if self.record_hoisted {
            if let Some(v) = &val {
                if !matches!(v.v, V::Unknown) || !v.decoders.is_empty() {
                    self.hoisted.insert(name.to_string(), v.clone());
                }
            }
        }
        if let Some(scope) = self.scopes.last_mut() {
            scope.insert(name.to_string(), val);
        }
    }

    fn assign(&mut self, name: &str, val: Val<'t>) {
        if self.record_hoisted && (!matches!(val.v, V::Unknown) || !val.decoders.is_empty()) {
            self.hoisted.insert(name.to_string(), val.clone());
        }
        for scope in self.scopes.iter_mut().rev() {
            if let Some(slot) = scope.get_mut(name) {
                *slot = Some(val);
                return;
            }
        }
        if let Some(global) = self.scopes.first_mut() {
            global.insert(name.to_string(), Some(val));
        }
    }

    fn lookup(&self, name: &str) -> Val<'t> {
        for scope in self.scopes.iter().rev() {
            if let Some(entry) = scope.get(name) {
                return match entry {
                    Some(v) => v.clone(),
                    None => self.hoisted.get(name).cloned().unwrap_or_default(),
                };
            }
        }
        if let Some(v) = self.hoisted.get(name) {
            return v.clone();
        }
        if names::GLOBAL_OBJECTS.contains(&name) {
            return Val::path("");
        }
        if names::GLOBALS.contains(&name) {
            return Val::path(name);
        }
        match name {
            "__filename" => Val::str(SELF_MARK),
            "__dirname" => Val::str("."),
            "NaN" => Val::of(V::Num(f64::NAN)),
            "Infinity" => Val::of(V::Num(f64::INFINITY)),
            _ => Val::unknown(),
        }
    }

    // ---------------------------------------------------------------- walking

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
        let v = self.eval_inner(node);
        self.depth -= 1;
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

    fn eval_inner(&mut self, node: Node<'t>) -> Val<'t> {
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
    fn spread_into_env_option(&self, spread: Node<'t>) -> bool {
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

    // ---------------------------------------------------------------- literals

    fn string_literal(&self, node: Node<'t>) -> Val<'t> {
        let raw = self.text(node);
        if raw.len() < 2 {
            return Val::unknown();
        }
        let body = &raw[1..raw.len() - 1];
        let (s, hidden) = value::unescape_js(body);
        let mut v = Val::str(s);
        v.obf = hidden;
        v
    }

    fn template(&mut self, node: Node<'t>) -> Val<'t> {
        let mut out = String::new();
        let mut known = true;
        let mut any_known_part = false;
        let mut acc = Val::unknown();
        let mut substitutions = false;
        for i in 0..node.child_count() {
            let Some(c) = node.child(i) else { continue };
            match c.kind() {
                "string_fragment" => {
                    out.push_str(self.text(c));
                    any_known_part = true;
                }
                "escape_sequence" => {
                    let (s, hidden) = value::unescape_js(self.text(c));
                    out.push_str(&s);
                    acc.obf |= hidden;
                    any_known_part = true;
                }
                "template_substitution" => {
                    substitutions = true;
                    let v = self.eval(c);
                    acc = acc.taint_from(&v);
                    match v.to_const_string() {
                        Some(s) => {
                            out.push_str(&s);
                            any_known_part = true;
                        }
                        None => match v.to_partial_string() {
                            Some(p) => out.push_str(&p),
                            None => {
                                known = false;
                                out.push('*');
                            }
                        },
                    }
                    if matches!(v.v, V::Partial(_)) {
                        known = false;
                    }
                }
                _ => {}
            }
            if out.len() > MAX_STR {
                return Val::unknown();
            }
        }
        let mut v = if known {
            Val::str(out)
        } else if any_known_part {
            Val::of(V::Partial(out))
        } else {
            Val::unknown()
        }
        .taint_from(&acc);
        v.concat |= substitutions;
        v
    }

    fn object(&mut self, node: Node<'t>) -> Val<'t> {
        let mut props: Vec<(String, Val<'t>)> = Vec::new();
        for i in 0..node.named_child_count() {
            let Some(c) = node.named_child(i as u32) else {
                continue;
            };
            match c.kind() {
                "pair" => {
                    let key = self.field(c, "key").map(|k| self.property_key(k));
                    let val = self
                        .field(c, "value")
                        .map(|v| {
                            self.method_fn = Some(v.id());
                            self.eval(v)
                        })
                        .unwrap_or_default();
                    if let Some(Some(k)) = key {
                        props.push((k, val));
                    }
                }
                "shorthand_property_identifier" => {
                    let name = self.text(c).to_string();
                    let v = self.lookup(&name);
                    props.push((name, v));
                }
                "method_definition" => {
                    let key = self.field(c, "name").map(|k| self.property_key(k));
                    let v = self.eval(c);
                    if let Some(Some(k)) = key {
                        props.push((k, v));
                    }
                }
                "spread_element" => {
                    let v = self.eval(c);
                    if let V::Obj(inner) = v.v {
                        props.extend(inner);
                    }
                }
                _ => {
                    self.eval(c);
                }
            }
            if props.len() > MAX_ITEMS {
                return Val::unknown();
            }
        }
        Val::of(V::Obj(props))
    }

    fn property_key(&mut self, key: Node<'t>) -> Option<String> {
        match key.kind() {
            "property_identifier" | "private_property_identifier" => {
                Some(self.text(key).to_string())
            }
            "string" => self.string_literal(key).as_str().map(str::to_string),
            "number" => value::parse_js_number(self.text(key)).map(value::num_to_string),
            _ => {
                let v = self.eval(key);
                v.to_const_string()
            }
        }
    }

    fn array(&mut self, node: Node<'t>) -> Val<'t> {
        let mut items: Vec<Val<'t>> = Vec::new();
        let mut taint = Val::unknown();
        for i in 0..node.named_child_count() {
            let Some(c) = node.named_child(i as u32) else {
                continue;
            };
            let v = self.eval(c);
            taint = taint.taint_from(&v);
            if c.kind() == "spread_element" {
                match v.v {
                    V::Arr(inner) => items.extend(inner),
                    V::Str(s) => items.extend(s.chars().map(|ch| Val::str(ch.to_string()))),
                    _ => items.push(Val::unknown()),
                }
            } else if c.kind() != "comment" {
                items.push(v);
            }
            if items.len() > MAX_ITEMS {
                return Val::unknown();
            }
        }
        let mut v = Val::of(V::Arr(items));
        v.obf = taint.obf;
        v.decoders = taint.decoders;
        v
    }

    // ---------------------------------------------------------------- operators

    fn binary(&mut self, node: Node<'t>) -> Val<'t> {
        let op = self
            .field(node, "operator")
            .map(|o| self.text(o))
            .unwrap_or("");
        let left = self
            .field(node, "left")
            .map(|l| self.eval(l))
            .unwrap_or_default();
        let saved = self.ctx;
        if matches!(op, "&&" | "||" | "??") {
            self.ctx.in_cond = true;
        }
        let right = self
            .field(node, "right")
            .map(|r| self.eval(r))
            .unwrap_or_default();
        self.ctx = saved;
        match op {
            "+" => add(&left, &right),
            "&&" => match left.truthy() {
                Some(true) => right,
                Some(false) => left,
                None => Val::unknown(),
            },
            "||" => match left.truthy() {
                Some(true) => left,
                Some(false) => right,
                None => Val::unknown(),
            },
            "??" => match left.v {
                V::Null => right,
                V::Unknown => Val::unknown(),
                _ => left,
            },
            "===" | "==" | "!==" | "!=" => {
                match (left.to_const_string(), right.to_const_string()) {
                    (Some(a), Some(b)) => Val::of(V::Bool((a == b) == op.starts_with('='))),
                    _ => Val::unknown(),
                }
            }
            _ => match (left.as_num(), right.as_num()) {
                (Some(a), Some(b)) => {
                    let r = match op {
                        "-" => a - b,
                        "*" => a * b,
                        "/" => a / b,
                        "%" => a % b,
                        "**" => a.powf(b),
                        "|" => ((a as i64 as i32) | (b as i64 as i32)) as f64,
                        "&" => ((a as i64 as i32) & (b as i64 as i32)) as f64,
                        "^" => ((a as i64 as i32) ^ (b as i64 as i32)) as f64,
                        "<<" => (a as i64 as i32).wrapping_shl(b as u32 & 31) as f64,
                        ">>" => (a as i64 as i32).wrapping_shr(b as u32 & 31) as f64,
                        ">>>" => (a as i64 as u32).wrapping_shr(b as u32 & 31) as f64,
                        "<" => return Val::of(V::Bool(a < b)),
                        ">" => return Val::of(V::Bool(a > b)),
                        "<=" => return Val::of(V::Bool(a <= b)),
                        ">=" => return Val::of(V::Bool(a >= b)),
                        _ => return Val::unknown(),
                    };
                    Val::of(V::Num(r)).taint_from(&left).taint_from(&right)
                }
                _ => Val::unknown(),
            },
        }
    }

    fn unary(&mut self, node: Node<'t>) -> Val<'t> {
        let op = self
            .field(node, "operator")
            .map(|o| self.text(o))
            .unwrap_or("");
        let arg = self
            .field(node, "argument")
            .map(|a| self.eval(a))
            .unwrap_or_default();
        match op {
            "!" => match arg.truthy() {
                Some(b) => Val::of(V::Bool(!b)),
                None => Val::unknown(),
            },
            "-" => arg
                .as_num()
                .map(|n| Val::of(V::Num(-n)))
                .unwrap_or_default(),
            "+" => arg.as_num().map(|n| Val::of(V::Num(n))).unwrap_or_default(),
            "~" => arg
                .as_num()
                .map(|n| Val::of(V::Num(!(n as i64 as i32) as f64)))
                .unwrap_or_default(),
            "typeof" => match arg.v {
                V::Str(_) => Val::str("string"),
                V::Num(_) => Val::str("number"),
                V::Func(_) => Val::str("function"),
                _ => Val::unknown(),
            },
            _ => Val::unknown(),
        }
    }

    fn augmented(&mut self, node: Node<'t>) -> Val<'t> {
        let op = self
            .field(node, "operator")
            .map(|o| self.text(o))
            .unwrap_or("");
        let right = self
            .field(node, "right")
            .map(|r| self.eval(r))
            .unwrap_or_default();
        let Some(left) = self.field(node, "left") else {
            return Val::unknown();
        };
        if left.kind() == "identifier" {
            let name = self.text(left).to_string();
            let cur = self.lookup(&name);
            let new = if op == "+=" {
                add(&cur, &right)
            } else {
                match (cur.as_num(), right.as_num()) {
                    (Some(a), Some(b)) if op == "-=" => Val::of(V::Num(a - b)),
                    _ => Val::unknown(),
                }
            };
            self.assign(&name, new.clone());
            return new;
        }
        self.assign_target(left, Val::unknown());
        Val::unknown()
    }

    // ---------------------------------------------------------------- bindings

    fn bind_pattern(&mut self, pattern: Node<'t>, val: Option<Val<'t>>, declare: bool) {
        match pattern.kind() {
            "identifier" | "shorthand_property_identifier_pattern" => {
                let name = self.text(pattern).to_string();
                if declare {
                    self.declare(&name, val);
                } else {
                    self.assign(&name, val.unwrap_or_default());
                }
            }
            "object_pattern" => {
                let src = val.unwrap_or_default();
                for i in 0..pattern.named_child_count() {
                    let Some(c) = pattern.named_child(i as u32) else {
                        continue;
                    };
                    match c.kind() {
                        "shorthand_property_identifier_pattern" => {
                            let key = self.text(c).to_string();
                            let v = self.destructure_member(&src, &key, c);
                            self.bind_pattern(c, Some(v), declare);
                        }
                        "pair_pattern" => {
                            let key_node = self.field(c, "key");
                            let computed =
                                key_node.is_some_and(|k| k.kind() == "computed_property_name");
                            let key = key_node.and_then(|k| self.property_key(k));
                            let v = match &key {
                                Some(k) => self.destructure_member(&src, k, c),
                                None => Val::unknown(),
                            };
                            if let (true, Some(p)) = (computed, v.as_path()) {
                                if is_sensitive_path(p) {
                                    let p = p.to_string();
                                    self.signal("string-obfuscation", c, vec![p]);
                                }
                            }
                            if let Some(target) = self.field(c, "value") {
                                self.bind_pattern(target, Some(v), declare);
                            }
                        }
                        "object_assignment_pattern" => {
                            let left = self.field(c, "left");
                            let default = self.field(c, "right").map(|r| self.eval(r));
                            if let Some(l) = left {
                                let key = self.text(l).to_string();
                                let mut v = self.destructure_member(&src, &key, c);
                                if matches!(v.v, V::Unknown) {
                                    v = default.unwrap_or_default();
                                }
                                self.bind_pattern(l, Some(v), declare);
                            }
                        }
                        "rest_pattern" => {
                            if src.as_path() == Some("process.env") {
                                self.signal("env-harvest", c, vec!["...process.env".into()]);
                            }
                            if let Some(inner) = c.named_child(0) {
                                self.bind_pattern(inner, Some(Val::unknown()), declare);
                            }
                        }
                        _ => {}
                    }
                }
            }
            "array_pattern" => {
                let src = val.unwrap_or_default();
                let mut idx = 0usize;
                for i in 0..pattern.named_child_count() {
                    let Some(c) = pattern.named_child(i as u32) else {
                        continue;
                    };
                    if c.kind() == "comment" {
                        continue;
                    }
                    let item = match &src.v {
                        V::Arr(items) => items.get(idx).cloned().unwrap_or_default(),
                        V::Str(s) => s
                            .chars()
                            .nth(idx)
                            .map(|ch| Val::str(ch.to_string()))
                            .unwrap_or_default(),
                        _ => Val::unknown(),
                    };
                    if c.kind() == "rest_pattern" {
                        if let Some(inner) = c.named_child(0) {
                            self.bind_pattern(inner, Some(Val::unknown()), declare);
                        }
                    } else {
                        self.bind_pattern(c, Some(item), declare);
                    }
                    idx += 1;
                }
            }
            "assignment_pattern" => {
                let default = self.field(pattern, "right").map(|r| self.eval(r));
                let v = match val {
                    Some(v) if !matches!(v.v, V::Unknown) => Some(v),
                    Some(v) if default.is_none() => Some(v),
                    _ => default,
                };
                if let Some(l) = self.field(pattern, "left") {
                    self.bind_pattern(l, v, declare);
                }
            }
            "rest_pattern" => {
                if let Some(inner) = pattern.named_child(0) {
                    self.bind_pattern(inner, val, declare);
                }
            }
            "member_expression" | "subscript_expression" | "parenthesized_expression" => {
                self.assign_target(pattern, val.unwrap_or_default());
            }
            _ => {}
        }
    }

    /// A member taken by destructuring; reads of module and environment
    /// members are recorded as attributes.
    fn destructure_member(&mut self, src: &Val<'t>, key: &str, node: Node<'t>) -> Val<'t> {
        let v = self.member_of(src, key, node);
        if let V::Path(p) = &v.v {
            if !p.is_empty() && !p.contains("()") {
                let p = p.clone();
                self.emit(FactKind::Attribute, p, node, Vec::new());
            }
        }
        v
    }

    fn assign_target(&mut self, target: Node<'t>, val: Val<'t>) {
        match target.kind() {
            "identifier" => {
                let name = self.text(target).to_string();
                self.assign(&name, val);
            }
            "member_expression" | "subscript_expression" => {
                let Some(obj_node) = self.field(target, "object") else {
                    return;
                };
                self.no_attr = Some(obj_node.id());
                let obj = self.eval(obj_node);
                let prop = self.member_key(target);
                if let Some((k, _)) = &prop {
                    let builtin_proto = obj.as_path().is_some_and(|p| {
                        p.ends_with(".prototype")
                            && names::GLOBALS.contains(&p.trim_end_matches(".prototype"))
                    });
                    if k == "__proto__"
                        || builtin_proto
                        || (k == "prototype" && obj.as_path().is_some_and(|p| !p.is_empty()))
                    {
                        self.signal("reflection", target, vec![format!("{k} assignment")]);
                    }
                    // Keep simple object bindings current: `o.run = cp.exec; o.run()`.
                    if obj_node.kind() == "identifier" {
                        let name = self.text(obj_node).to_string();
                        if let V::Obj(mut props) = obj.v {
                            props.retain(|(pk, _)| pk != k);
                            props.push((k.clone(), val));
                            self.assign(&name, Val::of(V::Obj(props)));
                        }
                    }
                }
            }
            "object_pattern" | "array_pattern" => self.bind_pattern(target, Some(val), false),
            "parenthesized_expression" => {
                if let Some(inner) = target.named_child(0) {
                    self.assign_target(inner, val);
                }
            }
            _ => {}
        }
    }

    // ---------------------------------------------------------------- members

    /// The property of a member or subscript expression: its name and the
    /// value that produced it (for subscripts, to judge obfuscation).
    fn member_key(&mut self, node: Node<'t>) -> Option<(String, Val<'t>)> {
        if node.kind() == "member_expression" {
            let p = self.field(node, "property")?;
            return Some((self.text(p).to_string(), Val::unknown()));
        }
        let idx = self.field(node, "index")?;
        let v = self.eval(idx);
        v.to_const_string().map(|s| (s, v))
    }

    fn member_parts(&mut self, node: Node<'t>) -> (Val<'t>, Option<(String, Val<'t>)>) {
        let obj = match self.field(node, "object") {
            Some(o) => {
                self.no_attr = Some(o.id());
                self.eval(o)
            }
            None => Val::unknown(),
        };
        let key = self.member_key(node);
        (obj, key)
    }

    fn member_value(&mut self, node: Node<'t>) -> Val<'t> {
        let (obj, key) = self.member_parts(node);
        self.resolve_member(node, obj, key)
    }

    fn resolve_member(
        &mut self,
        node: Node<'t>,
        obj: Val<'t>,
        key: Option<(String, Val<'t>)>,
    ) -> Val<'t> {
        let Some((k, kval)) = key else {
            if let V::Path(p) = &obj.v {
                if computed_name_matters(p) {
                    let shown = if p.is_empty() {
                        "global[?]".to_string()
                    } else {
                        format!("{p}[?]")
                    };
                    self.signal("computed-name", node, vec![shown]);
                }
            }
            return Val::unknown();
        };
        let v = self.member_of(&obj, &k, node);
        if node.kind() == "subscript_expression" {
            let idx_literal = self
                .field(node, "index")
                .is_some_and(|i| matches!(i.kind(), "string" | "number"));
            let hidden = kval.obf || kval.concat || (!idx_literal && !matches!(kval.v, V::Num(_)));
            if let V::Path(p) = &v.v {
                if (hidden || kval.obf) && is_sensitive_path(p) {
                    let p = p.clone();
                    self.signal("string-obfuscation", node, vec![p]);
                }
            }
        }
        v
    }

    /// Pure member resolution (plus the reflection signal).
    fn member_of(&mut self, obj: &Val<'t>, k: &str, node: Node<'t>) -> Val<'t> {
        if k == "__proto__" {
            self.signal("reflection", node, vec!["__proto__".into()]);
        }
        let v = match &obj.v {
            V::Path(p) => {
                if p.is_empty() {
                    if names::GLOBAL_OBJECTS.contains(&k) {
                        Val::path("")
                    } else if k == "constructor" {
                        // The global object's constructor is Object.
                        Val::of(V::Ctor)
                    } else {
                        Val::path(k)
                    }
                } else if matches!(p.as_str(), "module" | "process.mainModule" | "require.main")
                    && k == "constructor"
                {
                    // Module objects: their constructor is Module, whose `_load` requires.
                    Val::path("module.constructor")
                } else if k == "constructor" {
                    if is_function_path(p) {
                        self.reflect_function(node)
                    } else {
                        Val::of(V::Ctor)
                    }
                } else {
                    match (p.as_str(), k) {
                        ("process", "execPath") | ("process", "argv0") => Val::str("node"),
                        ("process.argv", "0") => Val::str("node"),
                        ("process.argv", "1") => Val::str(SELF_MARK),
                        ("Function.prototype", "constructor") => self.reflect_function(node),
                        _ => Val::path(format!("{p}.{k}")),
                    }
                }
            }
            V::Obj(props) => match props.iter().rev().find(|(pk, _)| pk == k) {
                Some((_, v)) => v.clone(),
                None if k == "constructor" => Val::of(V::Ctor),
                None => Val::unknown(),
            },
            V::Arr(items) => match k {
                "length" => Val::of(V::Num(items.len() as f64)),
                "constructor" => Val::of(V::Ctor),
                _ => match k.parse::<usize>() {
                    Ok(i) => items.get(i).cloned().unwrap_or_default(),
                    // `[]['filter']`: a built-in method, whose constructor is Function.
                    Err(_) => Val::of(V::Native),
                },
            },
            V::Str(s) => match k {
                "length" => Val::of(V::Num(s.chars().count() as f64)),
                "constructor" => Val::of(V::Ctor),
                _ => match k.parse::<usize>() {
                    Ok(i) => s
                        .chars()
                        .nth(i)
                        .map(|c| Val::str(c.to_string()).obfuscated())
                        .unwrap_or_default(),
                    Err(_) => Val::of(V::Native),
                },
            },
            V::Native if k == "constructor" => self.reflect_function(node),
            V::Func(_) if k == "constructor" => self.reflect_function(node),
            V::Ctor if k == "constructor" => self.reflect_function(node),
            V::Ctor if k == "prototype" => Val::of(V::Ctor),
            _ if k == "constructor" => Val::of(V::Ctor),
            _ => Val::unknown(),
        };
        v.taint_from(obj)
    }

    fn reflect_function(&mut self, node: Node<'t>) -> Val<'t> {
        self.signal("reflection", node, vec!["constructor.constructor".into()]);
        Val::path("Function")
    }

    // ---------------------------------------------------------------- functions

    fn bind_params(&mut self, func: Node<'t>, args: Option<&[Val<'t>]>) {
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
    fn walk_function(&mut self, func: Node<'t>) {
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
    fn inline_call(&mut self, func: Node<'t>, args: &[Val<'t>]) -> Val<'t> {
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

    // ---------------------------------------------------------------- imports

    fn import_statement(&mut self, node: Node<'t>) {
        let Some(src) = self.field(node, "source") else {
            return;
        };
        let m = self.string_literal(src);
        let module = self.import_module(&m, node);
        for i in 0..node.named_child_count() {
            let Some(clause) = node.named_child(i as u32) else {
                continue;
            };
            if clause.kind() != "import_clause" {
                continue;
            }
            for j in 0..clause.named_child_count() {
                let Some(c) = clause.named_child(j as u32) else {
                    continue;
                };
                match c.kind() {
                    "identifier" => {
                        let n = self.text(c).to_string();
                        self.declare(&n, Some(module.clone()));
                    }
                    "namespace_import" => {
                        if let Some(id) = c.named_child(0) {
                            let n = self.text(id).to_string();
                            self.declare(&n, Some(module.clone()));
                        }
                    }
                    "named_imports" => {
                        for k in 0..c.named_child_count() {
                            let Some(spec) = c.named_child(k as u32) else {
                                continue;
                            };
                            if spec.kind() != "import_specifier" {
                                continue;
                            }
                            let Some(name) = self.field(spec, "name") else {
                                continue;
                            };
                            let imported = if name.kind() == "string" {
                                self.string_literal(name).as_str().unwrap_or("").to_string()
                            } else {
                                self.text(name).to_string()
                            };
                            let local = self.field(spec, "alias").unwrap_or(name);
                            let local = self.text(local).to_string();
                            let v = if imported == "default" {
                                module.clone()
                            } else {
                                self.member_of(&module, &imported, spec)
                            };
                            if let V::Path(p) = &v.v {
                                let p = p.clone();
                                self.emit(FactKind::Attribute, p, spec, Vec::new());
                            }
                            self.declare(&local, Some(v));
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// Records an import of the module named by `name` and returns the module's path value.
    fn import_module(&mut self, name: &Val<'t>, node: Node<'t>) -> Val<'t> {
        match &name.v {
            V::Str(s) => {
                let import = names::import_name(s);
                let path = names::module_path(s);
                self.emit(FactKind::Import, import.clone(), node, Vec::new());
                if (name.obf || name.concat || !name.decoders.is_empty())
                    && (names::SENSITIVE_MODULES.contains(&path.as_str())
                        || is_sensitive_path(&path))
                {
                    self.signal("string-obfuscation", node, vec![import]);
                }
                if let Some(why) = sensitive_path(s).filter(|_| s.starts_with('/')) {
                    self.signal(
                        "sensitive-path",
                        node,
                        vec![names::normalize_path(s), why.into()],
                    );
                }
                Val::path(path)
            }
            other => {
                let shown = match other {
                    V::Partial(p) => p.clone(),
                    _ => "?".into(),
                };
                self.signal("computed-name", node, vec![format!("require({shown})")]);
                Val::unknown()
            }
        }
    }

    // ---------------------------------------------------------------- loops

    fn loop_body(&mut self, node: Node<'t>, body: Option<Node<'t>>, infinite: bool) {
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

    fn while_loop(&mut self, node: Node<'t>) -> Val<'t> {
        let cond_node = self.field(node, "condition");
        let cond = cond_node.map(|c| self.eval(c)).unwrap_or_default();
        let infinite = cond.truthy() == Some(true) && cond_node.is_some_and(is_constant_condition);
        let body = self.field(node, "body");
        self.loop_body(node, body, infinite);
        Val::unknown()
    }

    fn for_loop(&mut self, node: Node<'t>) -> Val<'t> {
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

    fn for_in(&mut self, node: Node<'t>) -> Val<'t> {
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

    // ---------------------------------------------------------------- calls

    fn eval_args(&mut self, args_node: Option<Node<'t>>) -> Vec<Val<'t>> {
        let Some(a) = args_node else {
            return Vec::new();
        };
        if a.kind() == "template_string" {
            return vec![self.eval(a)];
        }
        let mut out = Vec::new();
        for i in 0..a.named_child_count() {
            let Some(c) = a.named_child(i as u32) else {
                continue;
            };
            if c.kind() == "comment" {
                continue;
            }
            let v = self.eval(c);
            if c.kind() == "spread_element" {
                match v.v {
                    V::Arr(items) => out.extend(items),
                    _ => out.push(Val::unknown()),
                }
            } else {
                out.push(v);
            }
        }
        out
    }

    fn call(&mut self, node: Node<'t>) -> Val<'t> {
        let Some(fnode) = self.field(node, "function") else {
            return Val::unknown();
        };
        let args_node = self.field(node, "arguments");
        if fnode.kind() == "import" {
            let args = self.eval_args(args_node);
            let first = args.into_iter().next().unwrap_or_default();
            return self.import_module(&first, node);
        }
        let (callee, recv, key) =
            if matches!(fnode.kind(), "member_expression" | "subscript_expression") {
                let (obj, key) = self.member_parts(fnode);
                let callee = self.resolve_member(fnode, obj.clone(), key.clone());
                (callee, Some(obj), key.map(|(k, _)| k))
            } else {
                (self.eval(fnode), None, None)
            };
        let saved = self.ctx;
        // A callback repeated with no real delay is an unbounded loop; one
        // on a timer of a second is a periodic job.
        let slow_timer = args_node
            .and_then(|a| a.named_child(1))
            .filter(|d| d.kind() == "number")
            .and_then(|d| value::parse_js_number(self.text(d)))
            .is_some_and(|ms| ms >= 100.0);
        if callee.as_path().is_some_and(|p| p.ends_with("setInterval")) && !slow_timer {
            self.ctx.in_infinite = true;
            self.ctx.in_loop = true;
        }
        let args = self.eval_args(args_node);
        self.ctx = saved;
        self.apply(node, callee, recv, key.as_deref(), args, false)
    }

    fn new_expr(&mut self, node: Node<'t>) -> Val<'t> {
        let callee = match self.field(node, "constructor") {
            Some(c) => {
                self.no_attr = Some(c.id());
                self.eval(c)
            }
            None => Val::unknown(),
        };
        let args = self.eval_args(self.field(node, "arguments"));
        self.apply(node, callee, None, None, args, true)
    }

    /// Applies a call: folds built-ins, follows `call`/`apply`/`bind`,
    /// inlines program functions, and records calls of resolved names.
    fn apply(
        &mut self,
        node: Node<'t>,
        callee: Val<'t>,
        recv: Option<Val<'t>>,
        key: Option<&str>,
        args: Vec<Val<'t>>,
        is_new: bool,
    ) -> Val<'t> {
        if let (Some(r), Some(k)) = (&recv, key) {
            if let Some(v) = self.fold_method(node, r, k, &args) {
                return v;
            }
            let fn_like = matches!(r.v, V::Func(_)) || r.as_path().is_some_and(|p| !p.is_empty());
            if fn_like {
                match k {
                    "call" => {
                        let rest = args.into_iter().skip(1).collect();
                        return self.apply(node, r.clone(), None, None, rest, false);
                    }
                    "apply" => {
                        let rest = match args.into_iter().nth(1).map(|a| a.v) {
                            Some(V::Arr(items)) => items,
                            _ => Vec::new(),
                        };
                        return self.apply(node, r.clone(), None, None, rest, false);
                    }
                    "bind" => return r.clone(),
                    _ => {}
                }
            }
            // `import('child_process').then(cp => cp.exec(...))`.
            if k == "then"
                && r.as_path()
                    .is_some_and(|p| !p.is_empty() && !p.contains("()"))
            {
                if let Some(V::Func(f)) = args.first().map(|a| &a.v) {
                    let f = *f;
                    self.inline_call(f, std::slice::from_ref(r));
                }
            }
            if k == "pipe" {
                self.check_pipe(node, r, &args);
            }
        }
        self.check_args(node, &callee, &args);
        match &callee.v {
            V::Path(p) if !p.is_empty() => {
                let p = p.clone();
                self.call_path(node, &p, args, is_new).taint_from(&callee)
            }
            V::Func(f) => {
                let f = *f;
                self.inline_call(f, &args)
            }
            V::Thunk(target) => Val::path(target.clone()),
            _ => {
                if recv.as_ref().is_some_and(|r| !r.decoders.is_empty())
                    && key.is_some_and(|k| {
                        matches!(k, "toString" | "trim" | "replace" | "slice" | "toLowerCase")
                    })
                {
                    // Decoded bytes of unknown content keep their provenance.
                    let mut v = Val::unknown();
                    if let Some(r) = &recv {
                        v = v.taint_from(r);
                    }
                    return v;
                }
                Val::unknown()
            }
        }
    }

    /// Checks every call's arguments for the whole environment, cloud
    /// metadata addresses, and function references passed as callbacks.
    fn check_args(&mut self, node: Node<'t>, callee: &Val<'t>, args: &[Val<'t>]) {
        let path = callee.as_path().unwrap_or("");
        let root = path.split('.').next().unwrap_or("");
        let passes_env = matches!(
            root,
            "child_process" | "worker_threads" | "Worker" | "cluster" | "execa" | "cross-spawn"
        );
        let logging = root == "console";
        // Writing into the environment (`Object.assign(process.env, parsed)`) is not reading it.
        let skip = usize::from(matches!(
            path,
            "Object.assign" | "Object.defineProperty" | "Object.defineProperties"
        ));
        let mut env = false;
        let mut meta: Option<String> = None;
        for a in args.iter().skip(skip) {
            visit_deep(a, 0, &mut |v, key| {
                if v.as_path() == Some("process.env") && !(passes_env && key == Some("env")) {
                    env = true;
                }
                if let Some(s) = v.to_partial_string() {
                    if meta.is_none() && !logging && is_cloud_metadata(&s) {
                        meta = Some(s);
                    }
                }
            });
        }
        if env {
            self.signal("env-harvest", node, vec![format!("{path}(process.env)")]);
        }
        if let Some(m) = meta {
            self.signal("cloud-metadata", node, vec![m]);
        }
        // Sinks handed over as callbacks: `.then(eval)`, `arr.forEach(cp.exec)`.
        for a in args {
            if let V::Path(p) = &a.v {
                if names::code_sink(p).is_some() {
                    let p = p.clone();
                    self.emit(FactKind::Call, p.clone(), node, Vec::new());
                    self.signal("dynamic-code", node, vec![p]);
                } else if p.starts_with("child_process.") && !p.contains("()") {
                    let p = p.clone();
                    self.emit(FactKind::Call, p, node, Vec::new());
                }
            }
        }
    }

    /// `socket.pipe(sh.stdin)` / `sh.stdout.pipe(socket)`.
    fn check_pipe(&mut self, node: Node<'t>, recv: &Val<'t>, args: &[Val<'t>]) {
        let r = recv.as_path().unwrap_or("");
        let a = args.first().and_then(|a| a.as_path()).unwrap_or("");
        let is_net = |p: &str| {
            ["net.", "tls.", "dgram.", "WebSocket", "ws."]
                .iter()
                .any(|n| p.starts_with(n))
                && p.contains("()")
        };
        let is_proc = |p: &str| p.starts_with("child_process.") && p.contains("()");
        if (is_net(r) && is_proc(a)) || (is_proc(r) && is_net(a)) {
            self.signal("reverse-shell", node, vec![format!("{r} -> {a}")]);
        }
    }

    fn emit_call(&mut self, node: Node<'t>, path: &str, args: &[Val<'t>]) {
        let consts: Vec<String> = args.iter().filter_map(|a| a.to_partial_string()).collect();
        self.emit(FactKind::Call, path, node, consts.clone());
        let root = path.split('.').next().unwrap_or("");
        let data_sink = matches!(
            root,
            "child_process"
                | "fs"
                | "net"
                | "tls"
                | "dgram"
                | "http"
                | "https"
                | "http2"
                | "fetch"
                | "WebSocket"
                | "vm"
                | "eval"
                | "Function"
                | "require"
                | "dns"
                | "axios"
                | "got"
                | "node-fetch"
                | "request"
                | "undici"
                | "process"
        );
        if data_sink {
            for a in args {
                if let Some(s) = a
                    .to_partial_string()
                    .filter(|_| matches!(a.v, V::Str(_) | V::Partial(_)))
                {
                    if !s.is_empty() && s.len() <= 4096 {
                        let s = s.to_string();
                        self.emit(FactKind::String, s, node, Vec::new());
                    }
                }
            }
        }
    }

    fn call_path(&mut self, node: Node<'t>, p: &str, args: Vec<Val<'t>>, is_new: bool) -> Val<'t> {
        let _ = is_new;
        self.emit_call(node, p, &args);
        let first = args.first().cloned().unwrap_or_default();
        let root = p.split('.').next().unwrap_or("");
        let method = p.rsplit('.').next().unwrap_or(p);

        if names::REQUIRE_LIKE.contains(&p) || p.ends_with("createRequire()") {
            if p.contains("_load") {
                self.signal("reflection", node, vec![p.to_string()]);
            }
            return self.import_module(&first, node);
        }
        if matches!(
            p,
            "module.createRequire" | "createRequire" | "module.Module.createRequire"
        ) {
            return Val::path("require");
        }
        if let Some(idx) = names::code_sink(p) {
            let code = match idx {
                Some(i) => args.get(i).cloned(),
                None => args.last().cloned(),
            };
            self.dynamic_code(node, p, code.as_ref());
            if idx.is_none() {
                if let Some(target) = code
                    .as_ref()
                    .and_then(|c| c.as_str())
                    .and_then(returned_global)
                {
                    return Val::of(V::Thunk(target));
                }
            }
            return Val::path(format!("{p}()"));
        }
        if names::is_timer(p) && matches!(first.v, V::Str(_) | V::Partial(_))
            || names::is_timer(p) && !first.decoders.is_empty()
        {
            self.dynamic_code(node, p, Some(&first));
            return Val::unknown();
        }
        if matches!(p, "process.binding" | "process._linkedBinding") {
            self.signal("reflection", node, vec![p.to_string()]);
            // Name the binding so its members resolve: `process.binding('spawn_sync').spawn(...)`.
            if let Some(b) = first.as_str() {
                return Val::path(format!("process.binding.{b}"));
            }
        }
        if p == "process.binding.spawn_sync.spawn" {
            self.binding_spawn(node, p, &first);
        }
        if is_process_api(p) {
            self.process_call(node, p, &args);
            return Val::path(format!("{p}()"));
        }
        if matches!(p, "cluster.fork" | "worker_threads.Worker" | "Worker") {
            let self_spawn = args
                .iter()
                .any(|a| a.to_partial_string().is_some_and(|s| s.contains(SELF_MARK)));
            self.fork_check(node, self_spawn);
            if let Some(V::Obj(opts)) = args.get(1).map(|a| &a.v) {
                if opts
                    .iter()
                    .any(|(k, v)| k == "eval" && v.truthy() == Some(true))
                {
                    self.dynamic_code(node, p, Some(&first));
                }
            }
            return Val::path(format!("{p}()"));
        }
        if root == "fs" || matches!(root, "rimraf" | "del" | "trash") {
            self.fs_call(node, p, &args);
        }
        if p == "process.kill" && first.as_num().is_some_and(|n| n == -1.0 || n == 1.0) {
            self.signal(
                "kill-all",
                node,
                vec![value::num_to_string(first.as_num().unwrap_or(0.0))],
            );
        }
        if matches!(
            p,
            "Buffer.alloc"
                | "Buffer.allocUnsafe"
                | "Buffer.allocUnsafeSlow"
                | "ArrayBuffer"
                | "SharedArrayBuffer"
        ) && first.as_num().is_some_and(|n| n >= HUGE_BYTES)
            || matches!(p, "Array" | "Float64Array" | "Uint8Array" | "Int32Array")
                && first.as_num().is_some_and(|n| n >= HUGE_ITEMS)
        {
            self.signal(
                "resource-exhaustion",
                node,
                vec![format!(
                    "{p}({})",
                    value::num_to_string(first.as_num().unwrap_or(0.0))
                )],
            );
        }
        if matches!(root, "net" | "tls" | "http" | "https" | "http2" | "process")
            || p.contains("()")
        {
            for a in &args {
                let mut found: Vec<(String, &'static str)> = Vec::new();
                visit_deep(a, 0, &mut |v, _| {
                    if let Some(s) = v.to_partial_string() {
                        if s.starts_with('/') {
                            if let Some(why) = sensitive_path(&s) {
                                found.push((names::normalize_path(&s), why));
                            }
                        }
                    }
                });
                for (s, why) in found {
                    self.signal("sensitive-path", node, vec![s, why.into()]);
                }
            }
        }
        if let Some(v) = self.fold_builtin(node, p, &args) {
            return v;
        }
        if p.contains("createDecipher")
            || p.starts_with("zlib.")
                && (method.contains("nflate")
                    || method.contains("unzip")
                    || method.contains("ecompress"))
        {
            return Val::unknown().taint_from(&first).decoded("zlib");
        }
        Val::path(format!("{p}()"))
    }

    fn fork_check(&mut self, node: Node<'t>, self_spawn: bool) {
        if self.ctx.in_infinite || (self_spawn && (self.ctx.in_loop || !self.ctx.in_cond)) {
            self.signal("fork-bomb", node, Vec::new());
        }
    }

    // ---------------------------------------------------------------- sinks

    fn dynamic_code(&mut self, node: Node<'t>, sink: &str, code: Option<&Val<'t>>) {
        self.signal("dynamic-code", node, vec![sink.to_string()]);
        let Some(code) = code else { return };
        if !code.decoders.is_empty() {
            let d: Vec<String> = code.decoders.iter().map(|s| s.to_string()).collect();
            self.signal("decode-exec", node, d);
        }
        if self.record_hoisted {
            return;
        }
        let Some(text) = code.as_str() else { return };
        let Some(nested) = self.budget.nested() else {
            return;
        };
        if text.len() > self.budget.max_payload_bytes {
            return;
        }
        let mut via = vec![sink.to_string()];
        via.extend(code.decoders.iter().map(|s| s.to_string()));
        match super::analyze_nested(text, &nested) {
            Ok(facts) => {
                let hides = facts.iter().any(reveals_capability);
                self.adopt(node, facts, &via);
                if !code.decoders.is_empty() {
                    self.signal("decoded-payload", node, via.clone());
                }
                if hides || code.obf {
                    self.signal(
                        "string-obfuscation",
                        node,
                        vec![format!("{sink}(constant code)")],
                    );
                }
            }
            Err(AnalyzeError::Timeout) => self.error = Some(AnalyzeError::Timeout),
            Err(AnalyzeError::TooDeep { limit }) => {
                self.error = Some(AnalyzeError::TooDeep { limit })
            }
            Err(_) => {}
        }
    }

    /// Takes facts found in a payload: they point at the sink's span and carry the chain.
    fn adopt(&mut self, node: Node<'t>, facts: Vec<Fact>, via: &[String]) {
        let span = span_of(node);
        for mut f in facts {
            let mut chain = via.to_vec();
            chain.append(&mut f.via);
            f.via = chain;
            f.span = span;
            self.facts.push(f);
        }
    }

    fn process_call(&mut self, node: Node<'t>, p: &str, args: &[Val<'t>]) {
        let method = p.rsplit('.').next().unwrap_or(p).trim_end_matches("()");
        let first = args.first().cloned().unwrap_or_default();
        let self_spawn = args.iter().any(|a| {
            let mut hit = false;
            visit_deep(a, 0, &mut |v, _| {
                if v.to_partial_string().is_some_and(|s| s.contains(SELF_MARK)) {
                    hit = true;
                }
            });
            hit
        });
        self.fork_check(node, self_spawn);
        if !first.decoders.is_empty() {
            let d: Vec<String> = first.decoders.iter().map(|s| s.to_string()).collect();
            self.signal("decode-exec", node, d);
        }
        if first.obf {
            self.signal(
                "string-obfuscation",
                node,
                vec![format!("{p}(hidden command)")],
            );
        }
        let shell_method = matches!(method, "exec" | "execSync" | "command" | "commandSync")
            || p == "shelljs.exec"
            || p == "execa.command";
        if shell_method && !p.starts_with("execa")
            || p == "execa.command"
            || p == "execa.commandSync"
        {
            self.shell_payload(node, p, &first);
            return;
        }
        // spawn / execFile / fork style: file + argv + options.
        let argv: Vec<Val<'t>> = match args.get(1).map(|a| &a.v) {
            Some(V::Arr(items)) => items.clone(),
            _ => Vec::new(),
        };
        let opts = args.iter().skip(1).find_map(|a| match &a.v {
            V::Obj(o) => Some(o.clone()),
            _ => None,
        });
        let shell_opt = opts.as_ref().is_some_and(|o| {
            o.iter()
                .any(|(k, v)| k == "shell" && v.truthy() != Some(false))
        });
        let Some(file) = first.to_partial_string() else {
            return;
        };
        let argv_s: Vec<String> = argv
            .iter()
            .map(|a| a.to_partial_string().unwrap_or_else(|| "*".into()))
            .collect();
        if method == "fork" {
            return;
        }
        if shell_opt {
            let mut cmd = file.clone();
            for a in &argv_s {
                cmd.push(' ');
                cmd.push_str(a);
            }
            self.shell_payload(node, p, &Val::str(cmd).taint_from(&first));
            return;
        }
        let name = basename(&file).to_string();
        self.emit_command(node, &name, argv_s.clone(), p);
        for s in &argv_s {
            if let Some(why) =
                sensitive_path(s).filter(|_| s.starts_with('/') || s.starts_with('~'))
            {
                self.signal(
                    "sensitive-path",
                    node,
                    vec![names::normalize_path(s), why.into()],
                );
            }
            if is_cloud_metadata(s) {
                self.signal("cloud-metadata", node, vec![s.clone()]);
            }
        }
        let code_flag = |flags: &[&str]| {
            argv.iter()
                .position(|a| a.as_str().is_some_and(|s| flags.contains(&s)))
                .and_then(|i| argv.get(i + 1).cloned())
        };
        if names::is_shell(&file) {
            if let Some(script) =
                code_flag(&["-c", "/c", "/C", "-Command", "-command", "-EncodedCommand"])
            {
                let via = format!("{p}({name} -c)");
                self.shell_payload(node, &via, &script);
            }
        } else if names::is_interpreter(&file) {
            let lower = name.to_ascii_lowercase();
            if lower.starts_with("node") || lower == "deno" || lower == "bun" {
                if let Some(code) = code_flag(&["-e", "--eval", "-p", "--print"]) {
                    self.dynamic_code(node, &format!("{p}(node -e)"), Some(&code));
                }
            } else if lower.starts_with("python") {
                if let Some(code) = code_flag(&["-c"]) {
                    self.signal("dynamic-code", node, vec![format!("{p}(python -c)")]);
                    self.foreign_payload(node, &format!("{p}(python -c)"), &code, Foreign::Python);
                }
            } else if let Some(code) = code_flag(&["-e", "-r", "-E"]) {
                self.signal("dynamic-code", node, vec![format!("{p}({name} -e)")]);
                let _ = code;
            }
        }
    }

    /// `process.binding('spawn_sync').spawn({ file, args })`: the raw spawn
    /// behind child_process, used to bypass hooks on the module.
    fn binding_spawn(&mut self, node: Node<'t>, p: &str, opts: &Val<'t>) {
        let V::Obj(props) = &opts.v else { return };
        let get = |k: &str| {
            props
                .iter()
                .rev()
                .find(|(pk, _)| pk == k)
                .map(|(_, v)| v.clone())
        };
        let file = get("file").unwrap_or_default();
        let argv = match get("args").map(|a| a.v) {
            // argv[0] is the program name again.
            Some(V::Arr(items)) => items.into_iter().skip(1).collect(),
            _ => Vec::new(),
        };
        self.process_call(node, &format!("{p}()"), &[file, Val::of(V::Arr(argv))]);
    }

    fn emit_command(&mut self, node: Node<'t>, name: &str, args: Vec<String>, via: &str) {
        if self.record_hoisted {
            return;
        }
        self.facts.push(
            Fact::new(FactKind::Command, name, span_of(node))
                .with_args(args)
                .with_via(vec![via.to_string()]),
        );
    }

    /// A shell command string handed to `exec`: analysed by the bash analyzer.
    fn shell_payload(&mut self, node: Node<'t>, sink: &str, cmd: &Val<'t>) {
        if !cmd.decoders.is_empty() {
            let d: Vec<String> = cmd.decoders.iter().map(|s| s.to_string()).collect();
            self.signal("decode-exec", node, d);
        }
        let Some(text) = cmd.to_partial_string() else {
            return;
        };
        if self.record_hoisted {
            return;
        }
        self.emit(FactKind::String, text.clone(), node, Vec::new());
        if text.contains(SELF_MARK) {
            self.fork_check(node, true);
        }
        if is_cloud_metadata(&text) {
            self.signal("cloud-metadata", node, vec![text.clone()]);
        }
        self.foreign_payload(node, sink, cmd, Foreign::Bash);
    }

    fn foreign_payload(&mut self, node: Node<'t>, sink: &str, code: &Val<'t>, lang: Foreign) {
        let Some(text) = code.to_partial_string() else {
            return;
        };
        if self.record_hoisted || text.len() > self.budget.max_payload_bytes {
            return;
        }
        let mut via = vec![sink.to_string()];
        via.extend(code.decoders.iter().map(|s| s.to_string()));
        let result = match self.budget.nested() {
            Some(nested) => match lang {
                Foreign::Bash => crate::analyze::bash::extract(&text, &nested),
                Foreign::Python => crate::analyze::python::extract(&text, &nested),
            },
            None => Ok(Vec::new()),
        };
        let facts = match result {
            Ok(f) => f,
            Err(AnalyzeError::Timeout) => {
                self.error = Some(AnalyzeError::Timeout);
                return;
            }
            Err(AnalyzeError::TooDeep { limit }) => {
                self.error = Some(AnalyzeError::TooDeep { limit });
                return;
            }
            Err(_) => Vec::new(),
        };
        let has_commands = facts.iter().any(|f| f.kind == FactKind::Command);
        self.adopt(node, facts, &via);
        if lang == Foreign::Bash && !has_commands {
            // The bash analyzer saw no command (or could not parse it): name
            // the first word of each simple command so rules still apply.
            for (name, args) in fallback_commands(&text) {
                let span = span_of(node);
                self.facts.push(
                    Fact::new(FactKind::Command, name, span)
                        .with_args(args)
                        .with_via(via.clone()),
                );
            }
        }
    }

    fn fs_call(&mut self, node: Node<'t>, p: &str, args: &[Val<'t>]) {
        let method = p.rsplit('.').next().unwrap_or(p);
        let two_paths = ["copy", "cp", "rename", "symlink", "link", "move"]
            .iter()
            .any(|m| method.starts_with(m));
        let n = if two_paths { 2 } else { 1 };
        for a in args.iter().take(n) {
            let Some(path) = a.to_partial_string() else {
                continue;
            };
            if let Some(why) = sensitive_path(&path) {
                self.signal(
                    "sensitive-path",
                    node,
                    vec![names::normalize_path(&path), why.into()],
                );
            }
            if path.contains("/proc/self/environ")
                || path.contains("/environ") && path.starts_with("/proc/")
            {
                self.signal("env-harvest", node, vec![path.clone()]);
            }
        }
        let writes = [
            "write",
            "append",
            "createWriteStream",
            "copy",
            "cp",
            "rename",
            "symlink",
            "link",
            "move",
            "outputFile",
            "outputJson",
            "truncate",
            "ensureFile",
            "ensureSymlink",
            "ensureLink",
            "mkdir",
        ]
        .iter()
        .any(|m| method.starts_with(m) || method == *m)
            || method.starts_with("open")
                && args
                    .get(1)
                    .and_then(|f| f.as_str())
                    .is_some_and(|f| f.contains(['w', 'a', '+']));
        if writes {
            // The written path is the destination: the second argument for copies and links.
            let dest = if two_paths { args.get(1) } else { args.first() };
            if let Some(d) = dest.and_then(|d| d.to_partial_string()) {
                if let Some(why) = protected_write(&d) {
                    self.signal(
                        "sensitive-write",
                        node,
                        vec![names::normalize_path(&d), why.into()],
                    );
                }
            }
        }
        let target = args.first().and_then(|a| a.to_partial_string());
        let deletes = ["rm", "rmdir", "unlink", "remove", "emptyDir", "sync"]
            .iter()
            .any(|m| method.starts_with(m))
            || matches!(p, "rimraf" | "del" | "trash" | "rimraf.sync" | "del.sync");
        if deletes {
            if let Some(t) = &target {
                if is_root_like(t) {
                    self.signal("recursive-delete-root", node, vec![t.clone()]);
                }
            }
        }
        if method.contains("chmod") {
            let mode = args.get(1).and_then(|m| match &m.v {
                V::Num(n) => Some(*n as i64),
                V::Str(s) => i64::from_str_radix(s.trim_start_matches("0o"), 8).ok(),
                _ => None,
            });
            if let Some(m) = mode {
                if m & 0o6000 != 0 {
                    self.signal(
                        "setuid",
                        node,
                        vec![target.unwrap_or_default(), format!("{m:o}")],
                    );
                }
            }
        }
    }

    // ---------------------------------------------------------------- folding

    /// Built-in functions whose result can be computed.
    fn fold_builtin(&mut self, node: Node<'t>, p: &str, args: &[Val<'t>]) -> Option<Val<'t>> {
        let _ = node;
        let first = args.first().cloned().unwrap_or_default();
        let str0 = first.to_const_string();
        let v = match p {
            "Buffer.from" | "Buffer" | "buffer.Buffer.from" | "buffer.Buffer" => {
                let enc = args
                    .get(1)
                    .and_then(|e| e.as_str())
                    .map(|s| s.to_ascii_lowercase());
                match (&first.v, enc.as_deref()) {
                    (V::Arr(items), _) => {
                        let bytes: Option<Vec<u8>> =
                            items.iter().map(|i| i.as_num().map(|n| n as u8)).collect();
                        match bytes {
                            Some(b) => Val::str(value::bytes_to_string(&b)),
                            None => Val::unknown(),
                        }
                        .taint_from(&first)
                        .decoded("Buffer.from")
                    }
                    (V::Str(s), Some("base64") | Some("base64url")) => {
                        match value::decode_base64(s) {
                            Some(b) => Val::str(value::bytes_to_string(&b))
                                .taint_from(&first)
                                .decoded("Buffer.from"),
                            None => Val::unknown().taint_from(&first).decoded("Buffer.from"),
                        }
                    }
                    (V::Str(s), Some("hex")) => match value::decode_hex(s) {
                        Some(b) => Val::str(value::bytes_to_string(&b))
                            .taint_from(&first)
                            .decoded("Buffer.from"),
                        None => Val::unknown().taint_from(&first).decoded("Buffer.from"),
                    },
                    (
                        V::Str(_),
                        None | Some("utf8") | Some("utf-8") | Some("latin1") | Some("binary")
                        | Some("ascii"),
                    ) => first.clone(),
                    (_, Some("base64") | Some("hex") | Some("base64url")) => {
                        Val::unknown().taint_from(&first).decoded("Buffer.from")
                    }
                    _ => Val::unknown().taint_from(&first),
                }
            }
            "atob" | "window.atob" => match str0.as_deref().and_then(value::decode_base64) {
                Some(b) => Val::str(value::bytes_to_string(&b))
                    .taint_from(&first)
                    .decoded("atob"),
                None => Val::unknown().taint_from(&first).decoded("atob"),
            },
            "btoa" => match &str0 {
                Some(s) => Val::str(value::encode_base64(s.as_bytes())),
                None => Val::unknown(),
            },
            "unescape" | "decodeURIComponent" | "decodeURI" | "querystring.unescape" => match &str0
            {
                Some(s) => {
                    let d = value::percent_decode(s);
                    if d != *s {
                        Val::str(d).taint_from(&first).decoded("unescape")
                    } else {
                        first.clone()
                    }
                }
                None => Val::unknown().taint_from(&first),
            },
            "escape" | "encodeURIComponent" | "encodeURI" => match &str0 {
                Some(s) => Val::str(value::percent_encode(s)),
                None => Val::unknown(),
            },
            "String.fromCharCode" | "String.fromCodePoint" => {
                let mut out = String::new();
                for a in args {
                    match &a.v {
                        V::Arr(items) => {
                            for i in items {
                                out.push(i.as_num().and_then(|n| char::from_u32(n as u32))?);
                            }
                        }
                        _ => out.push(a.as_num().and_then(|n| char::from_u32(n as u32))?),
                    }
                }
                let mut v = Val::str(out);
                for a in args {
                    v = v.taint_from(a);
                }
                v.decoded("String.fromCharCode")
            }
            "String" => match &str0 {
                Some(s) => Val::str(s.clone()).taint_from(&first),
                None => first.clone(),
            },
            "String.raw" => first.clone(),
            "JSON.parse" => match str0.as_deref().and_then(value::json_string) {
                Some(s) => Val::str(s).taint_from(&first).obfuscated(),
                None => Val::unknown().taint_from(&first),
            },
            "JSON.stringify" => match &first.v {
                V::Str(s) => Val::str(serde_json::to_string(s).unwrap_or_default()),
                _ => Val::unknown(),
            },
            "parseInt" | "Number.parseInt" => {
                let radix = args.get(1).and_then(|r| r.as_num()).map(|r| r as u32);
                match str0.as_deref().and_then(|s| value::parse_int(s, radix)) {
                    Some(n) => Val::of(V::Num(n)).taint_from(&first),
                    None => Val::unknown(),
                }
            }
            "Number" | "parseFloat" => match first.as_num() {
                Some(n) => Val::of(V::Num(n)),
                None => Val::unknown(),
            },
            "Array.from" => match &first.v {
                V::Str(s) => Val::of(V::Arr(s.chars().map(|c| Val::str(c.to_string())).collect())),
                V::Arr(_) => first.clone(),
                _ => Val::unknown(),
            },
            "Array.of" | "Array" => Val::of(V::Arr(args.to_vec())),
            "Reflect.get" => {
                let key = args.get(1).cloned().unwrap_or_default();
                let k = key.to_const_string().map(|k| (k, key.clone()));
                let hidden_key = k.as_ref().is_some_and(|(_, kv)| kv.obf || kv.concat);
                let v = self.resolve_member(node, first.clone(), k);
                if let V::Path(mp) = &v.v {
                    if is_sensitive_path(mp) {
                        let mp = mp.clone();
                        self.signal("reflection", node, vec![format!("Reflect.get {mp}")]);
                        if hidden_key {
                            self.signal("string-obfuscation", node, vec![mp]);
                        }
                    }
                }
                v
            }
            "Reflect.apply" => {
                let rest = match args.get(2).map(|a| &a.v) {
                    Some(V::Arr(items)) => items.clone(),
                    _ => Vec::new(),
                };
                self.apply(node, first.clone(), None, None, rest, false)
            }
            "Reflect.construct" => {
                let rest = match args.get(1).map(|a| &a.v) {
                    Some(V::Arr(items)) => items.clone(),
                    _ => Vec::new(),
                };
                self.apply(node, first.clone(), None, None, rest, true)
            }
            "Object.getPrototypeOf" | "Reflect.getPrototypeOf" => match &first.v {
                V::Func(_) => Val::path("Function.prototype"),
                _ => Val::of(V::Ctor),
            },
            "util.promisify" | "util.callbackify" => first.clone(),
            "path.join" | "path.resolve" | "path.normalize" | "path.posix.join"
            | "path.posix.resolve" => {
                let mut parts = Vec::new();
                let mut t = Val::unknown();
                for a in args {
                    t = t.taint_from(a);
                    parts.push(a.to_partial_string().unwrap_or_else(|| "*".into()));
                }
                let joined = join_paths(&parts, p.ends_with("resolve"));
                let all_known = args.iter().all(|a| a.to_const_string().is_some());
                let mut v = if all_known {
                    Val::str(joined)
                } else {
                    Val::of(V::Partial(joined))
                };
                v = v.taint_from(&t);
                v
            }
            "path.basename" => match &str0 {
                Some(s) => Val::str(basename(s).to_string()),
                None => Val::unknown(),
            },
            "os.homedir" => Val::str("~"),
            "os.tmpdir" => Val::str("/tmp"),
            "os.userInfo" => Val::of(V::Obj(vec![("homedir".into(), Val::str("~"))])),
            "TextDecoder().decode" | "util.TextDecoder().decode" => first.clone(),
            _ => return None,
        };
        Some(v)
    }

    /// Methods on constant strings, arrays and numbers.
    fn fold_method(
        &mut self,
        node: Node<'t>,
        recv: &Val<'t>,
        k: &str,
        args: &[Val<'t>],
    ) -> Option<Val<'t>> {
        let arg_str = |i: usize| args.get(i).and_then(|a| a.to_const_string());
        let arg_num = |i: usize| args.get(i).and_then(|a| a.as_num());
        let mut taint = recv.clone();
        taint.v = V::Unknown;
        for a in args {
            taint = taint.taint_from(a);
        }
        let with = |v: V<'t>, obf: bool| {
            let mut out = Val::of(v).taint_from(&taint);
            out.obf |= obf;
            out
        };
        match &recv.v {
            V::Str(s) => {
                let v = match k {
                    "toString" | "valueOf" | "normalize" | "toLocaleString" => match arg_str(0)
                        .as_deref()
                    {
                        Some("base64") => with(V::Str(value::encode_base64(s.as_bytes())), false),
                        Some("hex") => with(
                            V::Str(s.bytes().map(|b| format!("{b:02x}")).collect()),
                            false,
                        ),
                        _ => with(V::Str(s.clone()), false),
                    },
                    "split" => {
                        let items: Vec<Val<'t>> = match args.first().map(|a| &a.v) {
                            Some(V::Str(sep)) if sep.is_empty() => {
                                s.chars().map(|c| Val::str(c.to_string())).collect()
                            }
                            Some(V::Str(sep)) => s.split(sep.as_str()).map(Val::str).collect(),
                            Some(V::Regex(pat, _)) => match value::regex_literal_text(pat) {
                                Some(t) if t.is_empty() => {
                                    s.chars().map(|c| Val::str(c.to_string())).collect()
                                }
                                Some(t) => s.split(t.as_str()).map(Val::str).collect(),
                                None => return Some(Val::unknown()),
                            },
                            None => vec![Val::str(s.clone())],
                            _ => return Some(Val::unknown()),
                        };
                        if items.len() > MAX_ITEMS {
                            return Some(Val::unknown());
                        }
                        with(V::Arr(items), true)
                    }
                    "concat" => {
                        let mut out = s.clone();
                        for a in args {
                            out.push_str(&a.to_const_string()?);
                        }
                        let mut v = with(V::Str(out), false);
                        v.concat = true;
                        v
                    }
                    "replace" | "replaceAll" => {
                        let rep = arg_str(1)?;
                        let out = match args.first().map(|a| &a.v) {
                            Some(V::Str(pat)) => {
                                if k == "replaceAll" {
                                    s.replace(pat.as_str(), &rep)
                                } else {
                                    s.replacen(pat.as_str(), &rep, 1)
                                }
                            }
                            Some(V::Regex(pat, flags)) => {
                                if let Some(t) = value::regex_literal_text(pat) {
                                    if flags.contains('g') {
                                        s.replace(t.as_str(), &rep)
                                    } else {
                                        s.replacen(t.as_str(), &rep, 1)
                                    }
                                } else if let Some(set) = value::regex_char_class(pat) {
                                    let mut out = String::new();
                                    let mut done = false;
                                    for c in s.chars() {
                                        if set.contains(&c) && (!done || flags.contains('g')) {
                                            out.push_str(&rep);
                                            done = true;
                                        } else {
                                            out.push(c);
                                        }
                                    }
                                    out
                                } else {
                                    return Some(Val::unknown());
                                }
                            }
                            _ => return Some(Val::unknown()),
                        };
                        with(V::Str(out), true)
                    }
                    "slice" => with(V::Str(value::js_slice(s, arg_num(0), arg_num(1))), true),
                    "substring" => {
                        with(V::Str(value::js_substring(s, arg_num(0), arg_num(1))), true)
                    }
                    "substr" => with(V::Str(value::js_substr(s, arg_num(0), arg_num(1))), true),
                    "charAt" | "at" => {
                        let i = arg_num(0).unwrap_or(0.0) as i64;
                        let n = s.chars().count() as i64;
                        let i = if i < 0 { n + i } else { i };
                        let c = s
                            .chars()
                            .nth(i.max(0) as usize)
                            .map(|c| c.to_string())
                            .unwrap_or_default();
                        with(V::Str(c), true)
                    }
                    "charCodeAt" | "codePointAt" => {
                        let i = arg_num(0).unwrap_or(0.0) as usize;
                        match s.chars().nth(i) {
                            Some(c) => with(V::Num(c as u32 as f64), true),
                            None => Val::unknown(),
                        }
                    }
                    "toLowerCase" | "toLocaleLowerCase" => with(V::Str(s.to_lowercase()), false),
                    "toUpperCase" | "toLocaleUpperCase" => with(V::Str(s.to_uppercase()), false),
                    "trim" => with(V::Str(s.trim().to_string()), false),
                    "trimStart" | "trimLeft" => with(V::Str(s.trim_start().to_string()), false),
                    "trimEnd" | "trimRight" => with(V::Str(s.trim_end().to_string()), false),
                    "repeat" => {
                        let n = arg_num(0)?;
                        if (s.len().max(1) as f64) * n >= HUGE_BYTES {
                            self.signal(
                                "resource-exhaustion",
                                node,
                                vec![format!("repeat({})", value::num_to_string(n))],
                            );
                        }
                        if n < 0.0 || (s.len() as f64) * n > MAX_STR as f64 {
                            return Some(Val::unknown());
                        }
                        with(V::Str(s.repeat(n as usize)), false)
                    }
                    "padStart" | "padEnd" => with(V::Str(s.clone()), false),
                    "indexOf" => match arg_str(0) {
                        Some(t) => with(
                            V::Num(
                                s.find(&t)
                                    .map(|i| s[..i].chars().count() as f64)
                                    .unwrap_or(-1.0),
                            ),
                            false,
                        ),
                        None => Val::unknown(),
                    },
                    "includes" | "startsWith" | "endsWith" => match arg_str(0) {
                        Some(t) => {
                            let b = match k {
                                "includes" => s.contains(&t),
                                "startsWith" => s.starts_with(&t),
                                _ => s.ends_with(&t),
                            };
                            Val::of(V::Bool(b))
                        }
                        None => Val::unknown(),
                    },
                    _ => return None,
                };
                Some(v)
            }
            V::Arr(items) => {
                let v = match k {
                    "join" => {
                        let sep = match args.first() {
                            Some(a) => a.to_const_string()?,
                            None => ",".into(),
                        };
                        let mut parts = Vec::with_capacity(items.len());
                        let mut t = taint.clone();
                        for i in items {
                            t = t.taint_from(i);
                            match i.to_const_string() {
                                Some(s) => parts.push(s),
                                None => return Some(Val::unknown().taint_from(&t)),
                            }
                        }
                        let joined = parts.join(&sep);
                        if joined.len() > MAX_STR {
                            return Some(Val::unknown());
                        }
                        let mut v = Val::str(joined).taint_from(&t);
                        v.obf |= items.len() > 1;
                        v
                    }
                    "toString" => {
                        let parts: Option<Vec<String>> =
                            items.iter().map(|i| i.to_const_string()).collect();
                        match parts {
                            Some(p) => with(V::Str(p.join(",")), true),
                            None => Val::unknown(),
                        }
                    }
                    "reverse" | "toReversed" => {
                        let mut r = items.clone();
                        r.reverse();
                        with(V::Arr(r), true)
                    }
                    "concat" => {
                        let mut r = items.clone();
                        for a in args {
                            match &a.v {
                                V::Arr(more) => r.extend(more.iter().cloned()),
                                _ => r.push(a.clone()),
                            }
                        }
                        if r.len() > MAX_ITEMS {
                            return Some(Val::unknown());
                        }
                        with(V::Arr(r), false)
                    }
                    "slice" => {
                        let len = items.len() as i64;
                        let norm = |v: f64| {
                            let v = v as i64;
                            if v < 0 {
                                (len + v).max(0)
                            } else {
                                v.min(len)
                            }
                        };
                        let a = arg_num(0).map(norm).unwrap_or(0);
                        let b = arg_num(1).map(norm).unwrap_or(len);
                        let r = if a < b {
                            items[a as usize..b as usize].to_vec()
                        } else {
                            Vec::new()
                        };
                        with(V::Arr(r), true)
                    }
                    "flat" => {
                        let mut r = Vec::new();
                        for i in items {
                            match &i.v {
                                V::Arr(inner) => r.extend(inner.iter().cloned()),
                                _ => r.push(i.clone()),
                            }
                        }
                        with(V::Arr(r), false)
                    }
                    "at" => {
                        let i = arg_num(0).unwrap_or(0.0) as i64;
                        let i = if i < 0 { items.len() as i64 + i } else { i };
                        items.get(i.max(0) as usize).cloned().unwrap_or_default()
                    }
                    "map" => {
                        let f = args.first()?;
                        let mut out = Vec::with_capacity(items.len());
                        for (idx, item) in items.iter().enumerate().take(512) {
                            let r = match &f.v {
                                V::Func(func) => {
                                    let func = *func;
                                    if self.fold_left == 0 {
                                        return Some(Val::unknown());
                                    }
                                    self.fold_left -= 1;
                                    self.inline_left += 1;
                                    self.inline_call(
                                        func,
                                        &[item.clone(), Val::of(V::Num(idx as f64))],
                                    )
                                }
                                V::Path(p) => {
                                    let p = p.clone();
                                    self.fold_builtin(node, &p, std::slice::from_ref(item))
                                        .unwrap_or_default()
                                }
                                _ => Val::unknown(),
                            };
                            out.push(r);
                        }
                        with(V::Arr(out), true)
                    }
                    "reduce" => {
                        let V::Func(func) = args.first()?.v else {
                            return Some(Val::unknown());
                        };
                        let mut acc = match args.get(1) {
                            Some(init) => init.clone(),
                            None => items.first().cloned().unwrap_or_default(),
                        };
                        let skip = usize::from(args.get(1).is_none());
                        for item in items.iter().skip(skip).take(512) {
                            if self.fold_left == 0 {
                                return Some(Val::unknown());
                            }
                            self.fold_left -= 1;
                            self.inline_left += 1;
                            acc = self.inline_call(func, &[acc, item.clone()]);
                        }
                        acc.obfuscated()
                    }
                    _ => return None,
                };
                Some(v)
            }
            V::Num(n) => match k {
                "toString" => {
                    let radix = arg_num(0).map(|r| r as u32).unwrap_or(10);
                    let s = if radix == 10 {
                        Some(value::num_to_string(*n))
                    } else {
                        value::int_to_radix(*n, radix)
                    };
                    Some(match s {
                        Some(s) => with(V::Str(s), radix != 10),
                        None => Val::unknown(),
                    })
                }
                _ => None,
            },
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Foreign {
    Bash,
    Python,
}

/// `a + b` in JavaScript for the values we know.
fn add<'t>(left: &Val<'t>, right: &Val<'t>) -> Val<'t> {
    let mut out = match (&left.v, &right.v) {
        (V::Num(a), V::Num(b)) => Val::of(V::Num(a + b)),
        (V::Str(_) | V::Num(_) | V::Bool(_) | V::Null | V::Arr(_), V::Str(_))
        | (V::Str(_), V::Num(_) | V::Bool(_) | V::Null | V::Arr(_)) => {
            match (left.to_const_string(), right.to_const_string()) {
                (Some(a), Some(b)) if a.len() + b.len() <= MAX_STR => {
                    let mut v = Val::str(a + &b);
                    v.concat = true;
                    v
                }
                _ => Val::unknown(),
            }
        }
        _ => {
            let l = left.to_partial_string();
            let r = right.to_partial_string();
            match (l, r) {
                (Some(a), Some(b)) if a.len() + b.len() <= MAX_STR => Val::of(V::Partial(a + &b)),
                (Some(a), None) if a.len() < MAX_STR && is_stringish(left) => {
                    Val::of(V::Partial(a + "*"))
                }
                (None, Some(b)) if b.len() < MAX_STR && is_stringish(right) => {
                    Val::of(V::Partial(format!("*{b}")))
                }
                _ => Val::unknown(),
            }
        }
    };
    out = out.taint_from(left).taint_from(right);
    out
}

fn is_stringish(v: &Val<'_>) -> bool {
    matches!(v.v, V::Str(_) | V::Partial(_))
}

/// Whether an unknown computed member of `path` hides something worth a signal.
fn computed_name_matters(path: &str) -> bool {
    if path.is_empty() {
        return true;
    }
    if path.contains("()") || path.starts_with("process.env") || path == "process.argv" {
        return false;
    }
    let root = path.split('.').next().unwrap_or(path);
    names::SENSITIVE_MODULES.contains(&root) && root != "crypto" && root != "zlib" && root != "os"
        || matches!(root, "process" | "require" | "Reflect" | "module")
}

fn is_function_path(p: &str) -> bool {
    matches!(
        p,
        "eval"
            | "Function"
            | "setTimeout"
            | "setInterval"
            | "setImmediate"
            | "require"
            | "fetch"
            | "atob"
            | "btoa"
            | "String"
            | "Object"
            | "Array"
            | "Number"
            | "Boolean"
            | "Symbol"
            | "parseInt"
            | "escape"
            | "unescape"
            | "decodeURIComponent"
            | "encodeURIComponent"
            | "Function.prototype"
    ) || p.ends_with(".constructor")
}

fn is_process_api(p: &str) -> bool {
    let Some((root, method)) = p.split_once('.') else {
        return matches!(p, "execa" | "cross-spawn" | "execa.execa");
    };
    match root {
        "child_process" => matches!(
            method,
            "exec" | "execSync" | "spawn" | "spawnSync" | "execFile" | "execFileSync" | "fork"
        ),
        "shelljs" => method == "exec",
        "execa" => matches!(
            method,
            "command" | "commandSync" | "execa" | "execaSync" | "sync"
        ),
        "child-process-promise" => matches!(method, "exec" | "spawn" | "execFile"),
        _ => false,
    }
}

/// `return process` / `return this` as a whole function body: the global it hands out.
fn returned_global(code: &str) -> Option<String> {
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

/// Why writing `path` is sensitive: a sensitive file, or anywhere in the
/// system directories (the scratch space is /tmp).
fn protected_write(path: &str) -> Option<&'static str> {
    if let Some(why) = sensitive_path(path) {
        return Some(why);
    }
    let n = names::normalize_path(path);
    const SYSTEM: &[&str] = &[
        "/etc/",
        "/usr/",
        "/bin/",
        "/sbin/",
        "/lib",
        "/boot/",
        "/root/",
        "/var/spool/",
        "/proc/",
        "/sys/",
        "/opt/",
    ];
    if n.starts_with("/dev/")
        && !matches!(
            n.as_str(),
            "/dev/null" | "/dev/stdout" | "/dev/stderr" | "/dev/tty"
        )
    {
        return Some("device");
    }
    SYSTEM.iter().any(|d| n.starts_with(d)).then_some("system")
}

/// A loop condition that no variable can change (`true`, `1`, `!0`).
fn is_constant_condition(cond: Node<'_>) -> bool {
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
fn is_resource_effect(name: &str) -> bool {
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

struct LoopScan {
    exits: bool,
    allocates: bool,
}

/// Whether a loop body can leave the loop (break, return, throw, exit,
/// await/yield hand control back) and whether it allocates. Iterative:
/// the body can be as deep as the tree.
fn scan_loop_body(body: Node<'_>, src: &str) -> LoopScan {
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

/// Visits a value and the members of arrays and objects inside it, with the
/// object key each value sits under.
fn visit_deep<'t>(v: &Val<'t>, depth: usize, f: &mut dyn FnMut(&Val<'t>, Option<&str>)) {
    visit_deep_keyed(v, None, depth, f);
}

fn visit_deep_keyed<'t>(
    v: &Val<'t>,
    key: Option<&str>,
    depth: usize,
    f: &mut dyn FnMut(&Val<'t>, Option<&str>),
) {
    f(v, key);
    if depth > 4 {
        return;
    }
    match &v.v {
        V::Arr(items) => {
            for i in items.iter().take(256) {
                visit_deep_keyed(i, key, depth + 1, f);
            }
        }
        V::Obj(props) => {
            for (k, i) in props.iter().take(256) {
                visit_deep_keyed(i, Some(k), depth + 1, f);
            }
        }
        _ => {}
    }
}

/// Joins path segments like `path.join` (or `path.resolve`, where an
/// absolute segment restarts the path).
fn join_paths(parts: &[String], resolve: bool) -> String {
    let mut out = String::new();
    for p in parts {
        if p.is_empty() {
            continue;
        }
        if resolve && (p.starts_with('/') || p.starts_with('~')) {
            out.clear();
        }
        if !out.is_empty() && !out.ends_with('/') {
            out.push('/');
        }
        out.push_str(p);
    }
    let mut s = out.replace("//", "/");
    while s.contains("/./") {
        s = s.replace("/./", "/");
    }
    s
}

/// A payload fact that shows a capability worth hiding (so running it
/// through `eval` counts as obfuscation).
fn reveals_capability(f: &Fact) -> bool {
    match f.kind {
        FactKind::Import => {
            names::SENSITIVE_MODULES.contains(&names::module_path(&f.name).as_str())
        }
        FactKind::Call => {
            let root = f.name.split('.').next().unwrap_or("");
            matches!(
                root,
                "child_process"
                    | "net"
                    | "tls"
                    | "dgram"
                    | "http"
                    | "https"
                    | "fs"
                    | "vm"
                    | "fetch"
            ) || names::code_sink(&f.name).is_some()
                || f.name.starts_with("process.binding")
        }
        FactKind::Command => true,
        FactKind::Signal => matches!(
            f.name.as_str(),
            "reverse-shell"
                | "env-harvest"
                | "sensitive-path"
                | "cloud-metadata"
                | "fork-bomb"
                | "recursive-delete-root"
        ),
        _ => false,
    }
}

/// First words of the simple commands in a shell string, for when the bash
/// analyzer reports none. Deliberately crude: it only keeps rules working.
fn fallback_commands(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for seg in text.split([';', '|', '&', '\n', '(', ')', '`']) {
        let mut words = seg
            .split_whitespace()
            .filter(|w| !w.contains('=') || w.starts_with('-'));
        let Some(first) = words.next() else { continue };
        let first = first.trim_matches(['"', '\'', '$', '{', '}']);
        if first.is_empty() || first.starts_with('>') || first.starts_with('<') {
            continue;
        }
        let name = basename(first).to_string();
        let args: Vec<String> = words
            .map(|w| w.trim_matches(['"', '\'']).to_string())
            .collect();
        out.push((name, args));
        if out.len() > 64 {
            break;
        }
    }
    out
}
