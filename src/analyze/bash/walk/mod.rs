//! The tree walk: statements, words, redirections and the constant
//! environment (variables, files written, sockets opened) that lets the
//! analyzer see through `a=cu; b=rl; $a$b` and `cat > x.sh <<EOF ...; bash x.sh`.
//!
//! Recursion here follows the syntax tree and is bounded by an explicit depth
//! counter checked on every statement and word; the caller has already
//! verified the tree's depth, so the counter is a second line of defence.
//! This module emits facts but leaves command semantics to `commands`.
//!
//! This file owns the analyzer's state and the statement dispatch (blocks,
//! lists, pipelines, simple commands); the other files of the module are
//! further `impl Analyzer` blocks, one concern each: `redirect` (redirections,
//! heredocs, the table of written files, path signals), `vars` (assignments,
//! declarations, variable lookup), `control` (functions and loops), `expand`
//! (word evaluation, quoting, substitutions) and `parameter` (`${...}`).

mod control;
mod expand;
mod parameter;
mod redirect;
mod vars;

use std::collections::{HashMap, HashSet};

use tree_sitter::Node;

use super::words::{Taint, Word};
use crate::analyze::{AnalyzeError, Budget, Fact, FactKind, Span};

pub(super) use expand::split_value;
pub(super) use vars::var_cost;

/// A variable's known value.
#[derive(Debug, Clone, Default)]
pub(super) struct Var {
    pub value: Option<String>,
    pub array: Option<Vec<Option<String>>>,
    pub taint: Taint,
}

/// What the script wrote to a file, as far as it is known.
#[derive(Debug, Clone, Default)]
pub(super) struct FileInfo {
    pub content: Option<String>,
    pub taint: Taint,
}

/// Standard input of a command.
#[derive(Debug, Clone, Default)]
pub(super) struct Input {
    pub text: Option<String>,
    pub taint: Taint,
    /// Comes from a pipe or a process substitution (not a heredoc or file).
    pub pipe: bool,
    /// Something other than the terminal feeds it.
    pub present: bool,
    /// Reads from a network socket.
    pub socket: bool,
}

/// What a statement writes to standard output, and what kind of stage it was.
#[derive(Debug, Clone, Default)]
pub(super) struct Output {
    pub text: Option<String>,
    pub taint: Taint,
    /// The stage talks to the network (nc, telnet, a socket).
    pub net: bool,
    /// The stage is a shell or interpreter executing its input or interactive.
    pub shell: bool,
}

/// Context a statement runs in.
#[derive(Debug, Clone, Default)]
pub(super) struct Ctx {
    pub stdin: Input,
    pub bg: bool,
    pub infinite_loop: bool,
    pub in_pipeline: bool,
}

/// One redirection, evaluated.
#[derive(Debug, Clone)]
pub(super) struct Redir {
    pub fd: Option<u32>,
    pub op: String,
    pub target: Word,
    pub span: Span,
}

pub(super) struct Analyzer<'s> {
    pub src: &'s str,
    pub budget: &'s Budget,
    pub depth: usize,
    pub limit: usize,
    pub facts: Vec<Fact>,
    pub vars: HashMap<String, Var>,
    pub files: HashMap<String, FileInfo>,
    pub socket_fds: HashSet<u32>,
    pub secret_seen: bool,
    pub net_sink: Option<Span>,
    /// Whether a never-assigned lowercase variable reads as empty (true at
    /// the top of a script). Function bodies and payloads run where the
    /// caller may have set it, so there it is unknown instead.
    pub unset_is_empty: bool,
    /// Byte ranges of placeholders for words tree-sitter could not read
    /// (see `recover.rs`): unknown values whose substitutions still run.
    pub opaque: Vec<(usize, usize)>,
    /// `analysis-bound` signals emitted so far (capped: once the allowance
    /// is spent every expansion is refused, and one report per line is plenty).
    pub bound_reports: usize,
    /// Names of the functions the script defines at its top level: calling
    /// one (`host`, `run_under_"$impl"`) runs the function, whose body is
    /// analysed where it is defined, not the program of that name.
    pub functions: HashSet<String>,
}

pub(super) type R<T> = Result<T, AnalyzeError>;

pub(super) fn span_of(node: Node) -> Span {
    let s = node.start_position();
    let e = node.end_position();
    let c = |v: usize| u32::try_from(v).unwrap_or(u32::MAX).saturating_add(1);
    Span::new(c(s.row), c(s.column), c(e.row), c(e.column))
}

const STATEMENTS: &[&str] = &[
    "c_style_for_statement",
    "case_statement",
    "command",
    "compound_statement",
    "declaration_command",
    "for_statement",
    "function_definition",
    "if_statement",
    "list",
    "negated_command",
    "pipeline",
    "redirected_statement",
    "subshell",
    "test_command",
    "unset_command",
    "variable_assignment",
    "variable_assignments",
    "while_statement",
];

const WORDS: &[&str] = &[
    "word",
    "string",
    "raw_string",
    "ansi_c_string",
    "translated_string",
    "concatenation",
    "simple_expansion",
    "expansion",
    "command_substitution",
    "process_substitution",
    "arithmetic_expansion",
    "number",
    "brace_expression",
];

impl<'s> Analyzer<'s> {
    pub fn new(src: &'s str, budget: &'s Budget, depth: usize, limit: usize) -> Self {
        Analyzer {
            src,
            budget,
            depth,
            limit,
            facts: Vec::new(),
            vars: HashMap::new(),
            files: HashMap::new(),
            socket_fds: HashSet::new(),
            secret_seen: false,
            net_sink: None,
            unset_is_empty: true,
            opaque: Vec::new(),
            bound_reports: 0,
            functions: HashSet::new(),
        }
    }

    /// Reports that a value went past the analysis memory bound at `span`.
    pub fn report_bound(&mut self, span: Span) {
        const MAX_REPORTS: usize = 64;
        if self.bound_reports < MAX_REPORTS {
            self.bound_reports += 1;
            self.signal("analysis-bound", span);
        }
    }

    /// Whether a value of `bytes` built or copied at `span` may be kept
    /// (per-value cap and allowance); reports the bound when not.
    pub fn keep(&mut self, bytes: usize, span: Span) -> bool {
        if self.budget.admit(bytes) {
            return true;
        }
        self.report_bound(span);
        false
    }

    pub fn text(&self, node: Node) -> &'s str {
        self.src.get(node.byte_range()).unwrap_or("")
    }

    pub fn enter(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth > self.limit {
            return Err(AnalyzeError::TooDeep { limit: self.limit });
        }
        if self.budget.expired() {
            return Err(AnalyzeError::Timeout);
        }
        Ok(())
    }

    pub fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    pub fn emit(&mut self, kind: FactKind, name: impl Into<String>, args: Vec<String>, span: Span) {
        let mut fact = Fact::new(kind, name, span).with_args(args);
        // Facts are kept to the end of the analysis: paid for like values.
        if !self.budget.admit(fact.size()) {
            fact.shrink();
            self.report_bound(span);
        }
        self.facts.push(fact);
    }

    pub fn signal(&mut self, id: &str, span: Span) {
        let dup = self
            .facts
            .iter()
            .any(|f| f.kind == FactKind::Signal && f.name == id && f.span == span);
        if !dup {
            self.facts.push(Fact::new(FactKind::Signal, id, span));
        }
    }

    // ---------------------------------------------------------------- statements

    pub fn stmt(&mut self, node: Node<'s>, ctx: &Ctx) -> R<Output> {
        self.enter()?;
        let r = self.stmt_inner(node, ctx);
        self.leave();
        let mut out = r?;
        // What a statement prints is built from words already paid for; only
        // its size is bounded here.
        if out
            .text
            .as_ref()
            .is_some_and(|t| t.len() > self.budget.max_value_bytes)
        {
            out.text = None;
            self.report_bound(span_of(node));
        }
        Ok(out)
    }

    fn stmt_inner(&mut self, node: Node<'s>, ctx: &Ctx) -> R<Output> {
        match node.kind() {
            "comment" => Ok(Output::default()),
            "program" | "compound_statement" | "subshell" | "do_group" | "else_clause"
            | "elif_clause" | "case_item" => self.block(node, ctx),
            "list" => self.list(node, ctx),
            "pipeline" => {
                let stages = named_children(node);
                self.pipeline(&stages, ctx, None, span_of(node))
            }
            "redirected_statement" => self.redirected(node, ctx),
            "command" => self.command(node, ctx, &[]),
            "variable_assignment" => {
                self.assign(node, true)?;
                Ok(Output::default())
            }
            "variable_assignments" => {
                for c in named_children(node) {
                    if c.kind() == "variable_assignment" {
                        self.assign(c, true)?;
                    }
                }
                Ok(Output::default())
            }
            "declaration_command" => self.declaration(node, ctx),
            "unset_command" => self.unset(node),
            "function_definition" => self.function(node),
            "while_statement" => self.while_loop(node, ctx),
            "c_style_for_statement" => self.c_for(node, ctx),
            "for_statement" => self.for_loop(node, ctx),
            _ => self.generic(node, ctx),
        }
    }

    /// Walks every child: statements as statements, words for the command
    /// substitutions they may run, anything else structurally.
    pub fn generic(&mut self, node: Node<'s>, ctx: &Ctx) -> R<Output> {
        let mut out = Output::default();
        for c in named_children(node) {
            let k = c.kind();
            if STATEMENTS.contains(&k)
                || k == "case_item"
                || k == "elif_clause"
                || k == "else_clause"
            {
                let o = self.stmt(
                    c,
                    &Ctx {
                        bg: false,
                        ..ctx.clone()
                    },
                )?;
                out.taint.merge(&o.taint);
            } else if WORDS.contains(&k) {
                self.word(c)?;
            } else if c.named_child_count() > 0 {
                self.enter()?;
                let r = self.generic(c, ctx);
                self.leave();
                r?;
            }
        }
        Ok(out)
    }

    fn block(&mut self, node: Node<'s>, ctx: &Ctx) -> R<Output> {
        let mut out = Output {
            text: Some(String::new()),
            ..Output::default()
        };
        let mut cursor = node.walk();
        let children: Vec<Node<'s>> = node.children(&mut cursor).collect();
        for (i, c) in children.iter().enumerate() {
            if !c.is_named() || c.kind() == "comment" {
                continue;
            }
            let bg = children.get(i + 1).is_some_and(|n| n.kind() == "&");
            let k = c.kind();
            let o = if STATEMENTS.contains(&k) || k == "elif_clause" || k == "else_clause" {
                self.stmt(
                    *c,
                    &Ctx {
                        bg: bg || ctx.bg,
                        ..ctx.clone()
                    },
                )?
            } else if WORDS.contains(&k) {
                self.word(*c)?;
                Output::default()
            } else {
                self.generic(*c, ctx)?
            };
            out.taint.merge(&o.taint);
            out.net |= o.net;
            out.shell |= o.shell;
            out.text = match (out.text.take(), o.text) {
                (Some(a), Some(b)) => Some(a + &b),
                (Some(a), None) if !STATEMENTS.contains(&k) || k == "variable_assignment" => {
                    Some(a)
                }
                _ => None,
            };
        }
        Ok(out)
    }

    /// `a && b || c` nests to the left; flatten it so long chains do not
    /// count as depth.
    fn list(&mut self, node: Node<'s>, ctx: &Ctx) -> R<Output> {
        let mut items: Vec<Node<'s>> = Vec::new();
        let mut cur = node;
        loop {
            let kids = named_children(cur);
            let Some((first, rest)) = kids.split_first() else {
                break;
            };
            for r in rest.iter().rev() {
                items.push(*r);
            }
            if first.kind() == "list" {
                cur = *first;
            } else {
                items.push(*first);
                break;
            }
        }
        items.reverse();
        let mut out = Output::default();
        for it in items {
            if it.kind() == "comment" {
                continue;
            }
            let o = self.stmt(it, ctx)?;
            out.taint.merge(&o.taint);
            out.text = o.text;
        }
        Ok(out)
    }

    pub fn pipeline(
        &mut self,
        stages: &[Node<'s>],
        ctx: &Ctx,
        first: Option<Output>,
        span: Span,
    ) -> R<Output> {
        let mut prev = first;
        let mut outs: Vec<Output> = prev.iter().cloned().collect();
        let stages: Vec<Node<'s>> = stages
            .iter()
            .copied()
            .filter(|n| n.kind() != "comment")
            .collect();
        let multi = stages.len() + outs.len() > 1;
        for st in stages {
            let stdin = match &prev {
                Some(p) => Input {
                    text: p.text.clone(),
                    taint: p.taint.clone(),
                    pipe: true,
                    present: true,
                    socket: p.net,
                },
                None => ctx.stdin.clone(),
            };
            let o = self.stmt(
                st,
                &Ctx {
                    stdin,
                    in_pipeline: multi,
                    ..ctx.clone()
                },
            )?;
            outs.push(o.clone());
            prev = Some(o);
        }
        if outs.iter().any(|o| o.net) && outs.iter().any(|o| o.shell) && outs.len() > 1 {
            self.signal("reverse-shell", span);
        }
        Ok(prev.unwrap_or_default())
    }

    // ---------------------------------------------------------------- commands

    fn command(&mut self, node: Node<'s>, ctx: &Ctx, extra: &[Redir]) -> R<Output> {
        let span = span_of(node);
        let mut stdin = ctx.stdin.clone();
        let mut redirs: Vec<Redir> = extra.to_vec();
        let mut words: Vec<Word> = Vec::new();
        // tree-sitter-bash 0.25 glues a line that starts with a backslash onto
        // the previous command as an argument whose text begins with a
        // newline; bash runs it as a command of its own, so split there.
        let mut earlier: Vec<(Vec<Word>, Span)> = Vec::new();
        let mut seg_start = span;
        let items = fielded_children(node);
        for (field, c) in items {
            match (field, c.kind()) {
                (Some("name"), _) => {
                    for inner in named_children(c) {
                        words.extend(self.word(inner)?.split());
                    }
                }
                (Some("argument"), _) | (None, "word") => {
                    let raw = self.text(c);
                    if raw.starts_with('\n') || raw.starts_with("\r\n") {
                        let mut w = self.word(c)?;
                        if let Some(super::words::Part::Lit(first)) = w.parts.first_mut() {
                            *first = first.trim_start_matches(['\r', '\n']).to_string();
                        }
                        earlier.push((std::mem::take(&mut words), seg_start));
                        let s = span_of(c);
                        seg_start = Span::new(s.start_line + 1, 1, span.end_line, span.end_col);
                        words.extend(w.split());
                    } else {
                        words.extend(self.word(c)?.split());
                    }
                }
                (Some("redirect"), _) => self.parse_redirect(c, &mut redirs, &mut stdin)?,
                (_, "variable_assignment") => {
                    // Applies to this command only; watched names are still reported.
                    self.assign(c, false)?;
                }
                (_, "subshell") => {
                    self.stmt(c, ctx)?;
                }
                (_, k) if WORDS.contains(&k) => words.extend(self.word(c)?.split()),
                _ => {}
            }
        }
        for (ws, sp) in earlier {
            let rc = super::commands::RunCtx {
                span: Span::new(sp.start_line, sp.start_col, sp.start_line, sp.end_col),
                stdin: Input::default(),
                redirs: Vec::new(),
                bg: false,
                infinite_loop: ctx.infinite_loop,
                in_pipeline: false,
            };
            self.run(ws, &rc)?;
        }
        let rc = super::commands::RunCtx {
            span: seg_start,
            stdin,
            redirs,
            bg: ctx.bg,
            infinite_loop: ctx.infinite_loop,
            in_pipeline: ctx.in_pipeline,
        };
        self.run(words, &rc)
    }
}

/// Every child with its field name, in order.
pub(super) fn fielded_children<'t>(node: Node<'t>) -> Vec<(Option<&'t str>, Node<'t>)> {
    let mut out = Vec::new();
    let mut cursor = node.walk();
    if cursor.goto_first_child() {
        loop {
            out.push((cursor.field_name(), cursor.node()));
            if !cursor.goto_next_sibling() {
                break;
            }
        }
    }
    out
}

pub(super) fn named_children(node: Node<'_>) -> Vec<Node<'_>> {
    let mut c = node.walk();
    node.named_children(&mut c).collect()
}
