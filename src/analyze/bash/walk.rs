//! The tree walk: statements, words, redirections and the constant
//! environment (variables, files written, sockets opened) that lets the
//! analyzer see through `a=cu; b=rl; $a$b` and `cat > x.sh <<EOF ...; bash x.sh`.
//!
//! Recursion here follows the syntax tree and is bounded by an explicit depth
//! counter checked on every statement and word; the caller has already
//! verified the tree's depth, so the counter is a second line of defence.
//! This module emits facts but leaves command semantics to `commands.rs`.

use std::collections::{HashMap, HashSet};

use tree_sitter::Node;

use super::paths;
use super::words::{self, Taint, Word};
use crate::analyze::{AnalyzeError, Budget, Fact, FactKind, Span};

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

/// Environment variables whose assignment is security relevant; assigning
/// them is reported as a string fact `NAME=value`.
const WATCHED_VARS: &[&str] = &[
    "HISTFILE",
    "HISTSIZE",
    "HISTFILESIZE",
    "HISTCONTROL",
    "HISTIGNORE",
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "LD_AUDIT",
    "PROMPT_COMMAND",
    "BASH_ENV",
    "ENV",
];

fn secret_var_name(name: &str) -> bool {
    let u = name.to_ascii_uppercase();
    [
        "SECRET",
        "TOKEN",
        "PASSWORD",
        "PASSWD",
        "API_KEY",
        "APIKEY",
        "ACCESS_KEY",
        "PRIVATE_KEY",
        "CREDENTIAL",
    ]
    .iter()
    .any(|k| u.contains(k))
}

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
        }
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
        self.facts.push(Fact::new(kind, name, span).with_args(args));
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
        r
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

    fn redirected(&mut self, node: Node<'s>, ctx: &Ctx) -> R<Output> {
        let mut stdin = ctx.stdin.clone();
        let mut redirs = Vec::new();
        let mut after_pipe: Vec<Node<'s>> = Vec::new();
        let mut after_right: Option<Node<'s>> = None;
        let body = node.child_by_field_name("body");
        for c in named_children(node) {
            if Some(c) == body {
                continue;
            }
            match c.kind() {
                "heredoc_redirect" => {
                    self.heredoc(
                        c,
                        &mut redirs,
                        &mut stdin,
                        &mut after_pipe,
                        &mut after_right,
                    )?;
                }
                "file_redirect" | "herestring_redirect" => {
                    self.parse_redirect(c, &mut redirs, &mut stdin)?
                }
                _ => {}
            }
        }
        let span = span_of(node);
        let inner_ctx = Ctx {
            stdin,
            in_pipeline: ctx.in_pipeline || !after_pipe.is_empty(),
            ..ctx.clone()
        };
        let mut out = match body {
            Some(b) if b.kind() == "command" => self.command(b, &inner_ctx, &redirs)?,
            Some(b) => {
                let o = self.stmt(b, &inner_ctx)?;
                let (to_file, _) = self.apply_redirects(&redirs, &o, span, false);
                if to_file {
                    Output { text: None, ..o }
                } else {
                    o
                }
            }
            None => {
                let o = Output {
                    text: Some(String::new()),
                    ..Output::default()
                };
                self.apply_redirects(&redirs, &o, span, false);
                o
            }
        };
        if !after_pipe.is_empty() {
            out = self.pipeline(&after_pipe, ctx, Some(out), span)?;
        }
        if let Some(r) = after_right {
            out = self.stmt(r, ctx)?;
        }
        Ok(out)
    }

    fn heredoc(
        &mut self,
        node: Node<'s>,
        redirs: &mut Vec<Redir>,
        stdin: &mut Input,
        after_pipe: &mut Vec<Node<'s>>,
        after_right: &mut Option<Node<'s>>,
    ) -> R<()> {
        let mut quoted = false;
        let mut strip_tabs = false;
        let mut body_text = Some(String::new());
        let mut taint = Taint::default();
        for (field, c) in fielded_children(node).iter() {
            match (*field, c.kind()) {
                (_, "<<-") => strip_tabs = true,
                (_, "heredoc_start") => {
                    let t = self.text(*c);
                    quoted = t.contains(['\'', '"', '\\']);
                }
                (_, "heredoc_body") => {
                    let (text, t) = self.heredoc_body(*c, quoted)?;
                    body_text = text;
                    taint = t;
                }
                (Some("right"), _) => *after_right = Some(*c),
                (_, "pipeline") => {
                    for s in named_children(*c) {
                        after_pipe.push(s);
                    }
                }
                (_, "file_redirect") | (_, "herestring_redirect") => {
                    self.parse_redirect(*c, redirs, stdin)?;
                }
                _ => {}
            }
        }
        if strip_tabs {
            body_text = body_text.map(|t| {
                t.lines()
                    .map(|l| l.trim_start_matches('\t'))
                    .collect::<Vec<_>>()
                    .join("\n")
                    + "\n"
            });
        }
        *stdin = Input {
            text: body_text,
            taint,
            pipe: false,
            present: true,
            socket: false,
        };
        Ok(())
    }

    fn heredoc_body(&mut self, node: Node<'s>, quoted: bool) -> R<(Option<String>, Taint)> {
        if quoted || node.named_child_count() == 0 {
            return Ok((Some(self.text(node).to_string()), Taint::default()));
        }
        let mut w = Word::default();
        let mut pos = node.start_byte();
        for c in named_children(node) {
            if c.start_byte() > pos {
                w.push_lit(self.src.get(pos..c.start_byte()).unwrap_or(""));
            }
            match c.kind() {
                "heredoc_content" => w.push_lit(self.text(c)),
                _ => {
                    let v = self.word_q(c, true)?;
                    w.append(v);
                }
            }
            pos = c.end_byte();
        }
        if node.end_byte() > pos {
            w.push_lit(self.src.get(pos..node.end_byte()).unwrap_or(""));
        }
        Ok((w.constant(), w.taint))
    }

    /// Evaluates a file or here-string redirection; input redirections feed `stdin`.
    pub fn parse_redirect(
        &mut self,
        node: Node<'s>,
        redirs: &mut Vec<Redir>,
        stdin: &mut Input,
    ) -> R<()> {
        let span = span_of(node);
        if node.kind() == "herestring_redirect" {
            let mut w = Word::default();
            for c in named_children(node) {
                if c.kind() != "file_descriptor" {
                    w.append(self.word(c)?);
                }
            }
            *stdin = Input {
                text: w.constant().map(|t| t + "\n"),
                taint: w.taint,
                pipe: false,
                present: true,
                socket: false,
            };
            return Ok(());
        }
        let mut fd = None;
        let mut op = String::new();
        let mut target: Option<Word> = None;
        let mut cursor = node.walk();
        for c in node.children(&mut cursor) {
            match c.kind() {
                "file_descriptor" => fd = self.text(c).parse().ok(),
                "ERROR" => op.push_str(self.text(c).trim()),
                k if !c.is_named() => op.push_str(k),
                _ => {
                    if target.is_none() {
                        target = Some(self.word(c)?);
                    }
                }
            }
        }
        let Some(target) = target else { return Ok(()) };
        if op.starts_with('<') && op != "<<" {
            let t = target.known_text();
            let path = paths::normalise(&t);
            let is_fd = op.ends_with('&');
            if target.procsub {
                *stdin = Input {
                    text: None,
                    taint: target.taint.clone(),
                    pipe: true,
                    present: true,
                    socket: false,
                };
            } else if is_fd {
                if t.parse::<u32>().is_ok_and(|n| self.socket_fds.contains(&n)) {
                    *stdin = Input {
                        socket: true,
                        present: true,
                        ..Input::default()
                    };
                    stdin.taint.download = true;
                }
            } else if path.starts_with("/dev/tcp/") || path.starts_with("/dev/udp/") {
                *stdin = Input {
                    socket: true,
                    present: true,
                    ..Input::default()
                };
                stdin.taint.download = true;
            } else if fd.is_none_or(|f| f == 0) {
                let info = self
                    .files
                    .get(&path)
                    .cloned()
                    .or_else(|| self.file_by_basename(&path));
                *stdin = Input {
                    text: info.as_ref().and_then(|i| i.content.clone()),
                    taint: info.map(|i| i.taint).unwrap_or_default(),
                    pipe: false,
                    present: true,
                    socket: false,
                };
                if path.starts_with("/proc/") && path.ends_with("/environ") {
                    stdin.taint.secret = true;
                }
            }
        }
        redirs.push(Redir {
            fd,
            op,
            target,
            span,
        });
        Ok(())
    }

    pub fn file_by_basename(&self, path: &str) -> Option<FileInfo> {
        let base = paths::basename(path);
        if base.is_empty() {
            return None;
        }
        self.files
            .iter()
            .find(|(k, _)| paths::basename(k) == base)
            .map(|(_, v)| v.clone())
    }

    /// Emits redirect facts and their signals, records written files.
    /// Returns (stdout went to a file, a socket is involved).
    pub fn apply_redirects(
        &mut self,
        redirs: &[Redir],
        out: &Output,
        span: Span,
        _shell: bool,
    ) -> (bool, bool) {
        let mut to_file = false;
        let mut socket = false;
        for r in redirs {
            let raw = r.target.known_text();
            let dup = r.op.ends_with('&') || r.op == ">&" || r.op == "<&";
            if dup && (raw.chars().all(|c| c.is_ascii_digit()) || raw == "-") {
                if raw
                    .parse::<u32>()
                    .is_ok_and(|n| self.socket_fds.contains(&n))
                {
                    socket = true;
                }
                continue;
            }
            if raw.is_empty() {
                continue;
            }
            let name = paths::normalise(&raw);
            let op = match r.op.as_str() {
                ">&" | "&>" => "&>".to_string(),
                o => o.to_string(),
            };
            let is_write = op.contains('>');
            if name.starts_with("/dev/tcp/") || name.starts_with("/dev/udp/") {
                socket = true;
                self.net_sink.get_or_insert(span);
                if op.contains('<') && op.contains('>') {
                    if let Some(fd) = r.fd {
                        self.socket_fds.insert(fd);
                    }
                }
            }
            if matches!(
                name.as_str(),
                "/dev/null" | "/dev/stdout" | "/dev/stderr" | "/dev/stdin"
            ) || name.starts_with("/dev/fd/")
            {
                continue;
            }
            self.emit(FactKind::Redirect, name.clone(), vec![op.clone()], r.span);
            self.check_path(&name, r.span, !is_write);
            if paths::is_cloud_metadata(&name) {
                self.signal("cloud-metadata", r.span);
            }
            let stdout = r.fd.is_none_or(|f| f == 1) || op.starts_with('&');
            if is_write && stdout && !name.starts_with("/dev/") {
                to_file = true;
                let prev = self.files.get(&name).cloned().unwrap_or_default();
                let content = if op.contains(">>") {
                    match (prev.content, &out.text) {
                        (Some(a), Some(b)) => Some(a + b),
                        (None, Some(b)) if !self.files.contains_key(&name) => Some(b.clone()),
                        _ => None,
                    }
                } else {
                    out.text.clone()
                };
                let mut taint = out.taint.clone();
                if op.contains(">>") {
                    taint.merge(&prev.taint);
                }
                self.files.insert(name, FileInfo { content, taint });
            }
        }
        (to_file, socket)
    }

    /// Signals for a path the script touches.
    pub fn check_path(&mut self, path: &str, span: Span, read: bool) {
        match paths::sensitive(path) {
            Some(paths::Sensitive::Credential) => {
                self.signal("sensitive-path", span);
                if read {
                    self.secret_seen = true;
                }
                if path.starts_with("/proc/") && path.ends_with("/environ") {
                    self.signal("env-harvest", span);
                }
            }
            Some(_) => self.signal("sensitive-path", span),
            None => {}
        }
        if read && (path == "/etc/passwd" || path.ends_with("_history")) {
            self.secret_seen = true;
        }
        if !read && paths::is_protected_write(path) {
            self.signal("sensitive-write", span);
        }
    }

    // ---------------------------------------------------------------- assignments

    fn assign(&mut self, node: Node<'s>, persist: bool) -> R<(String, Var)> {
        let name_node = node.child_by_field_name("name");
        let (name, index) = match name_node {
            Some(n) if n.kind() == "subscript" => {
                let base = n
                    .child_by_field_name("name")
                    .map(|x| self.text(x).to_string())
                    .unwrap_or_default();
                let idx = n
                    .child_by_field_name("index")
                    .map(|x| self.text(x).to_string());
                (base, idx)
            }
            Some(n) => (self.text(n).to_string(), None),
            None => (String::new(), None),
        };
        let append = {
            let mut c = node.walk();
            let found = node.children(&mut c).any(|x| x.kind() == "+=");
            found
        };
        let value_node = node.child_by_field_name("value");
        let mut var = Var::default();
        let mut raw = String::new();
        match value_node {
            Some(v) if v.kind() == "array" => {
                let mut items = Vec::new();
                for c in named_children(v) {
                    let w = self.word(c)?;
                    var.taint.merge(&w.taint);
                    for part in w.split() {
                        items.push(part.constant());
                    }
                }
                var.value = items.first().cloned().flatten();
                var.array = Some(items);
            }
            Some(v) => {
                let w = self.word_q(v, true)?;
                raw = w.lossy();
                var.taint = w.taint.clone();
                var.value = w.constant();
            }
            None => var.value = Some(String::new()),
        }
        if let (Some(idx), Some(prev)) = (index.as_ref(), self.vars.get(&name).cloned()) {
            let mut arr = prev.array.unwrap_or_else(|| vec![prev.value.clone()]);
            if let Ok(i) = idx.parse::<usize>() {
                if i < 4096 {
                    if arr.len() <= i {
                        arr.resize(i + 1, Some(String::new()));
                    }
                    arr[i] = var.value.clone();
                }
            }
            var.array = Some(arr);
            var.value = prev.value;
        } else if index.is_some() {
            var.value = None;
        }
        if append {
            if let Some(prev) = self.vars.get(&name) {
                var.value = match (&prev.value, &var.value) {
                    (Some(a), Some(b)) => Some(format!("{a}{b}")),
                    _ => None,
                };
                let mut t = prev.taint.clone();
                t.merge(&var.taint);
                var.taint = t;
            }
        }
        if WATCHED_VARS.contains(&name.as_str()) {
            let span = span_of(node);
            self.emit(FactKind::String, format!("{name}={raw}"), Vec::new(), span);
        }
        if persist && words::is_var_name(&name) {
            self.vars.insert(name.clone(), var.clone());
        }
        Ok((name, var))
    }

    fn declaration(&mut self, node: Node<'s>, ctx: &Ctx) -> R<Output> {
        let mut cursor = node.walk();
        let mut keyword = String::new();
        let mut args = Vec::new();
        let mut has_names = false;
        for c in node.children(&mut cursor) {
            if !c.is_named() {
                if keyword.is_empty() {
                    keyword = c.kind().to_string();
                }
                continue;
            }
            match c.kind() {
                "variable_assignment" => {
                    let (n, v) = self.assign(c, true)?;
                    args.push(format!("{n}={}", v.value.unwrap_or_else(|| "*".into())));
                    has_names = true;
                }
                "variable_name" => {
                    args.push(self.text(c).to_string());
                    has_names = true;
                }
                _ => {
                    let w = self.word(c)?;
                    let t = w.lossy();
                    if !t.starts_with('-') {
                        has_names = true;
                    }
                    args.push(t);
                }
            }
        }
        let span = span_of(node);
        let only_flags = !has_names;
        let prints_all = only_flags
            && (args.is_empty() && keyword != "local"
                || args
                    .iter()
                    .any(|a| a.starts_with('-') && (a.contains('p') || a.contains('x'))));
        self.emit(FactKind::Command, keyword.clone(), args, span);
        if prints_all
            && matches!(
                keyword.as_str(),
                "export" | "declare" | "typeset" | "readonly"
            )
        {
            self.signal("env-harvest", span);
            self.secret_seen = true;
            return Ok(Output {
                taint: Taint {
                    secret: true,
                    ..Taint::default()
                },
                ..Output::default()
            });
        }
        let _ = ctx;
        Ok(Output {
            text: Some(String::new()),
            ..Output::default()
        })
    }

    fn unset(&mut self, node: Node<'s>) -> R<Output> {
        let mut args = Vec::new();
        for c in named_children(node) {
            let t = match c.kind() {
                "variable_name" => self.text(c).to_string(),
                _ => self.word(c)?.lossy(),
            };
            self.vars.remove(&t);
            args.push(t);
        }
        self.emit(FactKind::Command, "unset", args, span_of(node));
        Ok(Output {
            text: Some(String::new()),
            ..Output::default()
        })
    }

    // ---------------------------------------------------------------- control flow

    fn function(&mut self, node: Node<'s>) -> R<Output> {
        let name = node
            .child_by_field_name("name")
            .map(|n| self.text(n).to_string())
            .unwrap_or_default();
        let span = span_of(node);
        if let Some(body) = node.child_by_field_name("body") {
            let scan = self.scan(body, &name)?;
            if (scan.self_calls >= 2 && (scan.pipes || scan.background))
                || (scan.self_calls >= 1 && scan.background && scan.loops)
            {
                self.signal("fork-bomb", span);
            }
            let saved = std::mem::replace(&mut self.unset_is_empty, false);
            let r = self.stmt(body, &Ctx::default());
            self.unset_is_empty = saved;
            r?;
        }
        Ok(Output {
            text: Some(String::new()),
            ..Output::default()
        })
    }

    /// Iterative scan of a subtree: calls to `name`, pipes, background jobs,
    /// loops and loop exits.
    fn scan(&mut self, node: Node<'s>, name: &str) -> R<Scan> {
        let mut s = Scan::default();
        let mut cursor = node.walk();
        let mut steps = 0usize;
        loop {
            let n = cursor.node();
            steps += 1;
            if steps.is_multiple_of(4096) && self.budget.expired() {
                return Err(AnalyzeError::Timeout);
            }
            match n.kind() {
                "command_name" => {
                    let t = self.text(n);
                    if !name.is_empty() && t == name {
                        s.self_calls += 1;
                    }
                    if matches!(t, "break" | "exit" | "return") {
                        s.exits = true;
                    }
                    if matches!(
                        t,
                        "sleep" | "read" | "wait" | "nc" | "curl" | "wget" | "ping"
                    ) {
                        s.blocking = true;
                    }
                    if !matches!(t, ":" | "true" | "echo" | "printf" | "yes" | "let") {
                        s.nontrivial = true;
                    }
                }
                "pipeline" => s.pipes = true,
                "&" => s.background = true,
                "while_statement" | "for_statement" | "c_style_for_statement" => s.loops = true,
                "variable_assignment" => {
                    if let Some(v) = n.child_by_field_name("name") {
                        let var = self.text(v);
                        let val = n
                            .child_by_field_name("value")
                            .map(|x| self.text(x))
                            .unwrap_or("");
                        let mut c = n.walk();
                        let plus = n.children(&mut c).any(|x| x.kind() == "+=");
                        if plus
                            || val.contains(&format!("${var}"))
                            || val.contains(&format!("${{{var}}}"))
                        {
                            s.grows = true;
                        }
                    }
                }
                _ => {}
            }
            if cursor.goto_first_child() {
                continue;
            }
            loop {
                if cursor.goto_next_sibling() {
                    break;
                }
                if !cursor.goto_parent() || cursor.node() == node {
                    return Ok(s);
                }
            }
        }
    }

    fn loop_body(&mut self, node: Node<'s>, infinite: bool, span: Span, ctx: &Ctx) -> R<()> {
        let body = node.child_by_field_name("body");
        if infinite {
            let scan = match body {
                Some(b) => self.scan(b, "")?,
                None => Scan::default(),
            };
            if !scan.exits {
                self.signal("infinite-loop", span);
                if scan.grows || (!scan.nontrivial && !scan.blocking) {
                    self.signal("resource-exhaustion", span);
                }
            }
            if let Some(b) = body {
                let inf = !scan.exits;
                self.stmt(
                    b,
                    &Ctx {
                        infinite_loop: inf || ctx.infinite_loop,
                        bg: false,
                        ..ctx.clone()
                    },
                )?;
            }
        } else if let Some(b) = body {
            self.stmt(
                b,
                &Ctx {
                    bg: false,
                    ..ctx.clone()
                },
            )?;
        }
        Ok(())
    }

    fn while_loop(&mut self, node: Node<'s>, ctx: &Ctx) -> R<Output> {
        let until = node.child(0).is_some_and(|c| c.kind() == "until");
        let mut conds = Vec::new();
        let mut cursor = node.walk();
        for c in node.children_by_field_name("condition", &mut cursor) {
            if c.is_named() {
                conds.push(c);
            }
        }
        let infinite = conds.len() == 1 && {
            let t = self.text(conds[0]).trim();
            if until {
                matches!(t, "false" | "/bin/false" | "[ ]" | "((0))" | "(( 0 ))")
            } else {
                matches!(
                    t,
                    "true"
                        | ":"
                        | "/bin/true"
                        | "[ 1 ]"
                        | "((1))"
                        | "(( 1 ))"
                        | "[[ 1 ]]"
                        | "[ true ]"
                )
            }
        };
        for c in &conds {
            self.stmt(
                *c,
                &Ctx {
                    bg: false,
                    ..ctx.clone()
                },
            )?;
        }
        self.loop_body(node, infinite, span_of(node), ctx)?;
        Ok(Output::default())
    }

    fn c_for(&mut self, node: Node<'s>, ctx: &Ctx) -> R<Output> {
        let infinite = node.child_by_field_name("condition").is_none();
        for f in ["initializer", "condition", "update"] {
            if let Some(c) = node.child_by_field_name(f) {
                if WORDS.contains(&c.kind()) {
                    self.word(c)?;
                }
            }
        }
        self.loop_body(node, infinite, span_of(node), ctx)?;
        Ok(Output::default())
    }

    fn for_loop(&mut self, node: Node<'s>, ctx: &Ctx) -> R<Output> {
        let mut taint = Taint::default();
        let mut cursor = node.walk();
        let values: Vec<Node<'s>> = node.children_by_field_name("value", &mut cursor).collect();
        for v in values {
            let w = self.word(v)?;
            taint.merge(&w.taint);
            for part in w.split() {
                if let Some(c) = part.constant() {
                    if paths::is_pathlike(&c) {
                        let p = paths::normalise(&c);
                        let span = span_of(v);
                        self.check_path(&p, span, true);
                        self.emit(FactKind::String, p, Vec::new(), span);
                    }
                }
            }
        }
        if let Some(var) = node.child_by_field_name("variable") {
            let name = self.text(var).to_string();
            self.vars.insert(
                name,
                Var {
                    value: None,
                    array: None,
                    taint,
                },
            );
        }
        self.loop_body(node, false, span_of(node), ctx)?;
        Ok(Output::default())
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

    // ---------------------------------------------------------------- words

    /// The value of a word as an unquoted argument.
    pub fn word(&mut self, node: Node<'s>) -> R<Word> {
        self.word_q(node, false)
    }

    /// The value of a word; `quoted` means inside double quotes or an
    /// assignment value (no field splitting).
    pub fn word_q(&mut self, node: Node<'s>, quoted: bool) -> R<Word> {
        self.enter()?;
        let r = if self.opaque.contains(&(node.start_byte(), node.end_byte())) {
            self.generic(node, &Ctx::default()).map(|_| Word::unknown())
        } else {
            self.word_inner(node, quoted)
        };
        self.leave();
        r
    }

    fn word_inner(&mut self, node: Node<'s>, quoted: bool) -> R<Word> {
        let text = self.text(node);
        Ok(match node.kind() {
            "word" | "number" | "brace_expression" | "extglob_pattern" | "regex"
            | "variable_name" | "test_operator" | "file_descriptor" => {
                if quoted || node.kind() != "word" {
                    Word::lit(text)
                } else {
                    let (t, hid) = words::unescape_unquoted(text);
                    let mut w = Word::lit(t);
                    w.obfuscated = hid;
                    w
                }
            }
            "raw_string" => {
                let inner = text
                    .strip_prefix('\'')
                    .and_then(|t| t.strip_suffix('\''))
                    .unwrap_or(text);
                let mut w = Word::lit(inner);
                w.quoted = true;
                w
            }
            "ansi_c_string" => {
                let inner = text
                    .strip_prefix("$'")
                    .and_then(|t| t.strip_suffix('\''))
                    .unwrap_or(text);
                let mut w = Word::lit(words::decode_ansi_c(inner));
                w.quoted = true;
                w.obfuscated = inner.contains('\\');
                w
            }
            "string" | "translated_string" => self.dq_string(node)?,
            "concatenation" => {
                let mut w = Word::default();
                let kids = named_children(node);
                let mut quotes = false;
                let mut plain = false;
                let mut pos = node.start_byte();
                for c in &kids {
                    if c.start_byte() > pos {
                        w.push_lit(self.src.get(pos..c.start_byte()).unwrap_or(""));
                    }
                    match c.kind() {
                        "raw_string" | "string" | "ansi_c_string" => quotes = true,
                        "word" => plain = true,
                        _ => {}
                    }
                    let v = self.word_q(*c, quoted)?;
                    w.append(v);
                    pos = c.end_byte();
                }
                if quotes && plain {
                    w.obfuscated = true;
                }
                w
            }
            "simple_expansion" => {
                let name = text.trim_start_matches('$');
                self.lookup(name, quoted)
            }
            "expansion" => self.expansion(node, quoted)?,
            "command_substitution" => {
                let mut ctx = Ctx::default();
                ctx.stdin.present = false;
                let mut out = Output {
                    text: Some(String::new()),
                    ..Output::default()
                };
                for c in named_children(node) {
                    if c.kind() == "file_redirect" {
                        // `$(< file)` reads the file.
                        let mut redirs = Vec::new();
                        let mut input = Input::default();
                        self.parse_redirect(c, &mut redirs, &mut input)?;
                        self.apply_redirects(&redirs, &Output::default(), span_of(c), false);
                        out.text = input.text;
                        out.taint.merge(&input.taint);
                        continue;
                    }
                    let o = self.stmt(c, &ctx)?;
                    out.taint.merge(&o.taint);
                    out.text = match (out.text.take(), o.text) {
                        (Some(a), Some(b)) => Some(a + &b),
                        _ => None,
                    };
                }
                let mut w = match out.text {
                    Some(t) => {
                        let t = t.trim_end_matches('\n').to_string();
                        if quoted {
                            Word::lit(t)
                        } else {
                            split_value(&t)
                        }
                    }
                    None => Word::unknown(),
                };
                w.expanded = true;
                w.taint = out.taint;
                w
            }
            "process_substitution" => {
                let mut out = Output::default();
                for c in named_children(node) {
                    let o = self.stmt(c, &Ctx::default())?;
                    out.taint.merge(&o.taint);
                    out.net |= o.net;
                }
                let mut w = Word::unknown();
                w.procsub = true;
                w.taint = out.taint;
                w.taint.download |= out.net;
                w
            }
            "arithmetic_expansion" => {
                self.generic(node, &Ctx::default())?;
                Word::unknown()
            }
            _ => {
                if node.named_child_count() > 0 {
                    self.generic(node, &Ctx::default())?;
                }
                Word::lit(text)
            }
        })
    }

    fn dq_string(&mut self, node: Node<'s>) -> R<Word> {
        let mut w = Word {
            quoted: true,
            ..Word::default()
        };
        w.push_lit("");
        let start = node.start_byte() + usize::from(self.text(node).starts_with('$')) + 1;
        let end = node.end_byte().saturating_sub(1).max(start);
        let mut pos = start;
        for c in named_children(node) {
            if c.kind() == "string" {
                let v = self.dq_string(c)?;
                w.append(v);
                pos = c.end_byte();
                continue;
            }
            if c.start_byte() > pos {
                w.push_lit(&words::unescape_dquote(
                    self.src.get(pos..c.start_byte()).unwrap_or(""),
                ));
            }
            match c.kind() {
                "string_content" => w.push_lit(&words::unescape_dquote(self.text(c))),
                _ => {
                    let v = self.word_q(c, true)?;
                    w.append(v);
                }
            }
            pos = c.end_byte();
        }
        if end > pos {
            w.push_lit(&words::unescape_dquote(
                self.src.get(pos..end).unwrap_or(""),
            ));
        }
        w.quoted = true;
        Ok(w)
    }

    /// `$name`: known constants, `~` for HOME, separators for IFS.
    pub fn lookup(&self, name: &str, quoted: bool) -> Word {
        let name = name.trim_start_matches('{').trim_end_matches('}');
        let mut w = match self.vars.get(name) {
            Some(v) => match &v.value {
                Some(val) if quoted => Word::lit(val.clone()),
                Some(val) => split_value(val),
                None => Word::unknown(),
            },
            None => match name {
                "IFS" if quoted => Word::lit(" "),
                "IFS" => {
                    let mut w = Word::default();
                    w.push_split();
                    w
                }
                "HOME" => Word::lit("~"),
                "@" | "*" | "#" => Word::lit(if name == "#" { "0" } else { "" }),
                "0" | "BASH_SOURCE" => {
                    let mut w = Word::unknown();
                    w.self_ref = true;
                    w
                }
                n if self.unset_is_empty
                    && n.chars().any(|c| c.is_ascii_lowercase())
                    && words::is_var_name(n) =>
                {
                    Word::lit("")
                }
                _ => Word::unknown(),
            },
        };
        w.expanded = true;
        if let Some(v) = self.vars.get(name) {
            w.taint = v.taint.clone();
        } else if secret_var_name(name) {
            w.taint.secret = true;
        }
        w
    }

    fn expansion(&mut self, node: Node<'s>, quoted: bool) -> R<Word> {
        // Tokens between `${` and `}`: operators (by field) and operand nodes.
        let mut cursor = node.walk();
        let mut toks: Vec<(bool, Node<'s>)> = Vec::new();
        if cursor.goto_first_child() {
            loop {
                let n = cursor.node();
                let is_op = cursor.field_name() == Some("operator");
                if !matches!(n.kind(), "${" | "}") {
                    toks.push((is_op, n));
                }
                if !cursor.goto_next_sibling() {
                    break;
                }
            }
        }
        let mut unknown = Word::unknown();
        let mut i = 0;
        let mut prefix_op = None;
        if let Some((true, n)) = toks.first() {
            prefix_op = Some(self.text(*n).to_string());
            i = 1;
        }
        let Some((_, name_node)) = toks.get(i).copied() else {
            return Ok(unknown);
        };
        i += 1;
        let (name, index) = match name_node.kind() {
            "subscript" => (
                name_node
                    .child_by_field_name("name")
                    .map(|x| self.text(x).to_string())
                    .unwrap_or_default(),
                name_node
                    .child_by_field_name("index")
                    .map(|x| self.text(x).to_string()),
            ),
            _ => (self.text(name_node).to_string(), None),
        };
        // The value of the named variable (or array element).
        let base = match (&index, self.vars.get(&name)) {
            (Some(idx), Some(v)) => {
                let arr = v.array.clone().unwrap_or_else(|| vec![v.value.clone()]);
                let mut w = if idx == "@" || idx == "*" {
                    let all: Option<Vec<String>> = arr.iter().cloned().collect();
                    all.map(|a| Word::lit(a.join(" ")))
                        .unwrap_or_else(Word::unknown)
                } else {
                    match idx.parse::<usize>() {
                        Ok(i) => match arr.get(i) {
                            Some(Some(s)) => Word::lit(s.clone()),
                            Some(None) => Word::unknown(),
                            None => Word::lit(""),
                        },
                        Err(_) => Word::unknown(),
                    }
                };
                w.taint = v.taint.clone();
                w.expanded = true;
                w
            }
            (Some(_), None)
                if self.unset_is_empty && name.chars().any(|c| c.is_ascii_lowercase()) =>
            {
                let mut w = Word::lit("");
                w.expanded = true;
                w
            }
            (Some(_), None) => Word::unknown(),
            (None, _) => self.lookup(&name, true),
        };
        unknown.taint = base.taint.clone();
        match prefix_op.as_deref() {
            Some("!") => {
                if toks.len() > i {
                    return Ok(unknown);
                }
                return Ok(match base.constant() {
                    Some(target) if words::is_var_name(&target) => self.lookup(&target, quoted),
                    _ => unknown,
                });
            }
            Some("#") => {
                return Ok(match base.constant() {
                    Some(v) if toks.len() == i => {
                        let mut w = Word::lit(v.chars().count().to_string());
                        w.expanded = true;
                        w
                    }
                    _ => unknown,
                })
            }
            Some(_) => return Ok(unknown),
            None => {}
        }
        if toks.len() == i {
            let mut w = base;
            if !quoted {
                if let Some(v) = w.constant() {
                    let t = w.taint.clone();
                    w = split_value(&v);
                    w.taint = t;
                    w.expanded = true;
                }
            }
            return Ok(w);
        }
        let op = match toks.get(i) {
            Some((true, n)) => self.text(*n).to_string(),
            _ => return Ok(unknown),
        };
        i += 1;
        // Operand words until the next operator, and the rest after it.
        let mut first = Word::default();
        let mut second: Option<Word> = None;
        let mut pos = toks.get(i).map(|(_, n)| n.start_byte()).unwrap_or(0);
        for (is_op, n) in toks[i..].iter() {
            if *is_op {
                second = Some(Word::default());
                pos = n.end_byte();
                continue;
            }
            let target = second.as_mut().unwrap_or(&mut first);
            if n.start_byte() > pos {
                target.push_lit(self.src.get(pos..n.start_byte()).unwrap_or(""));
            }
            let v = self.word_q(*n, true)?;
            target.append(v);
            pos = n.end_byte();
        }
        let value = base.constant();
        let set_nonempty = value.as_ref().map(|v| !v.is_empty());
        let mut w = match op.as_str() {
            ":-" | "-" | ":=" | "=" => match set_nonempty {
                Some(true) => base.clone(),
                Some(false) => {
                    if op.contains('=') && words::is_var_name(&name) {
                        self.vars.insert(
                            name.clone(),
                            Var {
                                value: first.constant(),
                                array: None,
                                taint: first.taint.clone(),
                            },
                        );
                    }
                    first
                }
                None => unknown,
            },
            ":+" | "+" => match set_nonempty {
                Some(true) => first,
                Some(false) => Word::lit(""),
                None => unknown,
            },
            ":?" | "?" => base.clone(),
            ":" => {
                let off = first.constant().and_then(|s| s.trim().parse::<i64>().ok());
                let len = second
                    .as_ref()
                    .and_then(|s| s.constant())
                    .and_then(|s| s.trim().parse::<i64>().ok());
                match (value, off) {
                    (Some(v), Some(off)) => {
                        let chars: Vec<char> = v.chars().collect();
                        let n = chars.len() as i64;
                        let start = if off < 0 {
                            (n + off).max(0)
                        } else {
                            off.min(n)
                        };
                        let end = match len {
                            Some(l) if l < 0 => (n + l).max(start),
                            Some(l) => (start + l).min(n),
                            None if second.is_some() => start,
                            None => n,
                        };
                        Word::lit(
                            chars[start as usize..end as usize]
                                .iter()
                                .collect::<String>(),
                        )
                    }
                    _ => unknown,
                }
            }
            "#" | "##" | "%" | "%%" => match (value, first.constant()) {
                (Some(v), Some(p)) => Word::lit(strip_pattern(&v, &p, &op)),
                _ => unknown,
            },
            "/" | "//" | "/#" | "/%" => {
                let rep = second
                    .as_ref()
                    .map(|s| s.constant())
                    .unwrap_or(Some(String::new()));
                match (value, first.constant(), rep) {
                    (Some(v), Some(p), Some(r))
                        if !p.contains(['*', '?', '[']) && !p.is_empty() =>
                    {
                        Word::lit(match op.as_str() {
                            "//" => v.replace(&p, &r),
                            "/#" => match v.strip_prefix(&p) {
                                Some(rest) => format!("{r}{rest}"),
                                None => v,
                            },
                            "/%" => match v.strip_suffix(&p) {
                                Some(rest) => format!("{rest}{r}"),
                                None => v,
                            },
                            _ => v.replacen(&p, &r, 1),
                        })
                    }
                    _ => unknown,
                }
            }
            "^^" | "^" | ",," | "," => match value {
                Some(v) => Word::lit(match op.as_str() {
                    "^^" => v.to_uppercase(),
                    ",," => v.to_lowercase(),
                    "^" => {
                        let mut c = v.chars();
                        c.next()
                            .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                            .unwrap_or_default()
                    }
                    _ => {
                        let mut c = v.chars();
                        c.next()
                            .map(|f| f.to_lowercase().collect::<String>() + c.as_str())
                            .unwrap_or_default()
                    }
                }),
                None => unknown,
            },
            _ => unknown,
        };
        w.expanded = true;
        w.taint.merge(&base.taint);
        if !quoted {
            if let Some(v) = w.constant() {
                let t = w.taint.clone();
                w = split_value(&v);
                w.taint = t;
                w.expanded = true;
            }
        }
        Ok(w)
    }
}

/// `${v#pat}` and friends on known values.
fn strip_pattern(v: &str, p: &str, op: &str) -> String {
    let idx: Vec<usize> = v
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(v.len()))
        .collect();
    match op {
        "#" => idx
            .iter()
            .find(|&&i| words::glob_match(p, &v[..i]))
            .map(|&i| v[i..].to_string()),
        "##" => idx
            .iter()
            .rev()
            .find(|&&i| words::glob_match(p, &v[..i]))
            .map(|&i| v[i..].to_string()),
        "%" => idx
            .iter()
            .rev()
            .find(|&&i| words::glob_match(p, &v[i..]))
            .map(|&i| v[..i].to_string()),
        _ => idx
            .iter()
            .find(|&&i| words::glob_match(p, &v[i..]))
            .map(|&i| v[..i].to_string()),
    }
    .unwrap_or_else(|| v.to_string())
}

/// An unquoted expansion's value with whitespace turned into field separators.
pub(super) fn split_value(v: &str) -> Word {
    let mut w = Word::default();
    let mut first = true;
    for piece in v.split([' ', '\t', '\n']) {
        if !first {
            w.push_split();
        }
        first = false;
        w.push_lit(piece);
    }
    if w.parts.is_empty() {
        w.push_lit("");
    }
    w.expanded = true;
    w
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

#[derive(Debug, Default)]
struct Scan {
    self_calls: usize,
    pipes: bool,
    background: bool,
    loops: bool,
    exits: bool,
    blocking: bool,
    nontrivial: bool,
    grows: bool,
}
