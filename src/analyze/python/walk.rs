//! The Python tree walk: resolves names through imports and aliases, folds
//! constants, follows decoded payloads and shell strings into the other
//! analyzers, and records [`Fact`]s and technique signals.
//!
//! What it must not do: decide anything (rules do), execute anything, or
//! recurse without a bound. Statement and expression nesting is counted
//! against `budget.max_depth`; long operator chains are walked iteratively;
//! the clock is checked every few hundred nodes; payload recursion goes
//! through `budget.nested()`.
//!
//! Name resolution is deliberately simple and flow-insensitive within a
//! scope: module-level statements are walked in order and function bodies
//! are walked after the module body (as Python runs them: after the module
//! defined everything they refer to).

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

use rustpython_parser::ast::{self, Constant, Expr, Ranged, Stmt};
use rustpython_parser::text_size::TextRange;

use super::fold::{self, Val};
use super::tables::{self, Taint};
use crate::analyze::{AnalyzeError, Budget, Fact, FactKind, Span};

type R = Result<(), AnalyzeError>;

/// Maps byte offsets to 1-based line and character columns.
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(code: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(
            code.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1),
        );
        LineIndex { starts }
    }

    /// (line, column) of byte `offset`, both 1-based; columns count characters.
    pub fn position(&self, code: &str, offset: usize) -> (u32, u32) {
        let line = self.starts.partition_point(|s| *s <= offset).max(1);
        let start = self.starts[line - 1];
        let col = code
            .get(start..offset)
            .map_or(offset.saturating_sub(start), |s| s.chars().count());
        (
            u32::try_from(line).unwrap_or(u32::MAX),
            u32::try_from(col + 1).unwrap_or(u32::MAX),
        )
    }
}

/// What a resolved expression refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An imported module (`os`).
    Module,
    /// Something reached from a module or a builtin by attribute (`os.environ`, `os.system`, `eval`).
    Member,
    /// The result of calling a resolved callable (`socket.socket(...)`), and anything reached from it.
    Instance,
}

/// A resolved name: qualified, with where its data came from.
#[derive(Debug, Clone)]
struct Sym {
    qual: String,
    kind: Kind,
    /// For instances: the constant arguments of the constructing call (`Path('/etc/x')`).
    args: Vec<String>,
    taint: Option<Taint>,
}

/// A constant and how it was obtained.
#[derive(Debug, Clone)]
pub struct Folded {
    pub val: Val,
    /// Decoders applied, outermost first (`base64.b64decode`).
    pub steps: Vec<String>,
    /// Built from several fragments (concatenation, join, formatting).
    pub assembled: bool,
    /// Built with techniques that hide text: char codes, reversal, rot13, replace, byte lists.
    pub obfuscated: bool,
}

impl Folded {
    fn plain(val: Val) -> Self {
        Folded {
            val,
            steps: Vec::new(),
            assembled: false,
            obfuscated: false,
        }
    }

    fn absorb(&mut self, other: &Folded) {
        for s in &other.steps {
            if !self.steps.contains(s) {
                self.steps.push(s.clone());
            }
        }
        self.assembled |= other.assembled;
        self.obfuscated |= other.obfuscated;
    }

    fn tricky(&self) -> bool {
        self.assembled || self.obfuscated || !self.steps.is_empty()
    }
}

#[derive(Debug, Clone)]
enum Binding {
    Sym(Sym),
    Const(Folded),
    Taint(Taint),
    /// Bound to something the analyzer does not track (shadows builtins and modules).
    Local,
}

#[derive(Debug, Clone, Default)]
struct Frame {
    vars: HashMap<String, Binding>,
    globals: HashSet<String>,
}

/// A function body, walked after the enclosing scope finished.
struct Deferred<'a> {
    name: Option<String>,
    params: Vec<String>,
    body: &'a [Stmt],
    outer: Vec<Frame>,
}

/// How often (in nodes) the deadline is checked.
const CLOCK_EVERY: u32 = 256;
/// Folding recursion bound, independent of the tree-depth budget.
const FOLD_DEPTH: usize = 48;
/// Longest argument text kept in a fact.
const ARG_MAX: usize = 2048;
/// Elements beyond which a constant allocation is treated as a memory bomb.
const HUGE_ALLOC: i64 = 256 * 1024 * 1024;

/// Calls whose string arguments are plain data, not paths, hosts or code.
fn is_data_call(q: &str) -> bool {
    matches!(
        q,
        "print"
            | "len"
            | "str"
            | "repr"
            | "int"
            | "float"
            | "format"
            | "isinstance"
            | "ord"
            | "list"
            | "dict"
            | "set"
            | "tuple"
            | "sorted"
            | "input"
            | "hasattr"
            | "bool"
    ) || q.starts_with("logging.")
        || q.starts_with("sys.stdout")
        || q.starts_with("sys.stderr")
        || q.starts_with("re.")
        || q.starts_with("string.")
        || q.starts_with("textwrap.")
        || q.starts_with("argparse.")
        || q.starts_with("warnings.")
        || q.starts_with("unittest.")
        || q.starts_with("typing.")
        || q.starts_with("collections.")
        || q.starts_with("datetime.")
}

pub struct Walker<'a> {
    code: &'a str,
    lines: &'a LineIndex,
    budget: &'a Budget,
    frames: Vec<Frame>,
    stars: Vec<String>,
    facts: Vec<Fact>,
    pending: Vec<Deferred<'a>>,
    depth: usize,
    ticks: u32,
    /// Enclosing loops that never end (no break/return/raise).
    unbounded_loops: usize,
    /// Function whose body is being walked, for self-recursion.
    current_fn: Option<String>,
    fn_recurses: bool,
    fn_spawns: Vec<Span>,
    spawning_fns: HashSet<String>,
    /// Calls to user functions made inside unbounded loops.
    loop_calls: Vec<(String, Span)>,
    /// A socket was connected (first place seen).
    connected: Option<Span>,
    /// Standard streams wired to something: dup2 onto 0/1/2, stdio keywords, pty.spawn.
    wired: Vec<Span>,
    /// Paths that network data was saved to.
    downloaded: Vec<String>,
}

impl<'a> Walker<'a> {
    pub fn new(code: &'a str, lines: &'a LineIndex, budget: &'a Budget) -> Self {
        Walker {
            code,
            lines,
            budget,
            frames: vec![Frame::default()],
            stars: Vec::new(),
            facts: Vec::new(),
            pending: Vec::new(),
            depth: 0,
            ticks: 0,
            unbounded_loops: 0,
            current_fn: None,
            fn_recurses: false,
            fn_spawns: Vec::new(),
            spawning_fns: HashSet::new(),
            loop_calls: Vec::new(),
            connected: None,
            wired: Vec::new(),
            downloaded: Vec::new(),
        }
    }

    /// Walks a module and returns its facts, de-duplicated.
    pub fn run(mut self, body: &'a [Stmt]) -> Result<Vec<Fact>, AnalyzeError> {
        self.walk_body(body)?;
        while let Some(d) = self.pending.pop() {
            self.walk_deferred(d)?;
        }
        for (name, span) in std::mem::take(&mut self.loop_calls) {
            if self.spawning_fns.contains(&name) {
                self.signal("fork-bomb", vec![name], span);
            }
        }
        if let (Some(_), Some(span)) = (self.connected, self.wired.first().copied()) {
            self.signal("reverse-shell", vec!["socket-stdio".into()], span);
        }
        // Identity by hash: cloning every fact into a set costs more than the walk.
        let mut seen = HashSet::with_capacity(self.facts.len());
        let mut out = Vec::with_capacity(self.facts.len());
        for f in self.facts {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (f.kind, &f.name, f.span, &f.args, &f.via).hash(&mut h);
            if seen.insert(h.finish()) {
                out.push(f);
            }
        }
        Ok(out)
    }

    // ----- bookkeeping -------------------------------------------------

    fn span(&self, range: TextRange) -> Span {
        let (l1, c1) = self.lines.position(self.code, usize::from(range.start()));
        let (l2, c2) = self.lines.position(self.code, usize::from(range.end()));
        Span::new(l1, c1, l2, c2)
    }

    fn tick(&mut self) -> R {
        self.ticks = self.ticks.wrapping_add(1);
        if self.ticks.is_multiple_of(CLOCK_EVERY) && self.budget.expired() {
            return Err(AnalyzeError::Timeout);
        }
        Ok(())
    }

    fn enter(&mut self) -> R {
        self.depth += 1;
        if self.depth > self.budget.max_depth {
            return Err(AnalyzeError::TooDeep {
                limit: self.budget.max_depth,
            });
        }
        self.tick()
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn push(&mut self, kind: FactKind, name: impl Into<String>, args: Vec<String>, span: Span) {
        self.facts.push(Fact::new(kind, name, span).with_args(args));
    }

    fn signal(&mut self, id: &str, args: Vec<String>, span: Span) {
        self.push(FactKind::Signal, id, args, span);
    }

    fn bind(&mut self, name: &str, b: Binding) {
        let global = self.frames.last().is_some_and(|f| f.globals.contains(name));
        let frame = if global {
            self.frames.first_mut()
        } else {
            self.frames.last_mut()
        };
        if let Some(f) = frame {
            f.vars.insert(name.to_string(), b);
        }
    }

    fn lookup(&self, name: &str) -> Option<&Binding> {
        self.frames.iter().rev().find_map(|f| f.vars.get(name))
    }

    // ----- statements --------------------------------------------------

    fn walk_body(&mut self, body: &'a [Stmt]) -> R {
        for s in body {
            self.walk_stmt(s)?;
        }
        Ok(())
    }

    fn walk_deferred(&mut self, d: Deferred<'a>) -> R {
        self.frames.truncate(1);
        self.frames.extend(d.outer);
        let mut frame = Frame::default();
        for p in d.params {
            frame.vars.insert(p, Binding::Local);
        }
        self.frames.push(frame);
        let saved_loops = std::mem::replace(&mut self.unbounded_loops, 0);
        let saved_fn = std::mem::replace(&mut self.current_fn, d.name.clone());
        let saved_rec = std::mem::replace(&mut self.fn_recurses, false);
        let saved_spawns = std::mem::take(&mut self.fn_spawns);
        let r = self.walk_body(d.body);
        if let Some(name) = &d.name {
            if !self.fn_spawns.is_empty() {
                self.spawning_fns.insert(name.clone());
                if self.fn_recurses {
                    let span = self.fn_spawns[0];
                    self.signal("fork-bomb", vec![name.clone()], span);
                }
            }
        }
        self.unbounded_loops = saved_loops;
        self.current_fn = saved_fn;
        self.fn_recurses = saved_rec;
        self.fn_spawns = saved_spawns;
        self.frames.truncate(1);
        r
    }

    fn defer(&mut self, name: Option<String>, args: &'a ast::Arguments, body: &'a [Stmt]) {
        let mut params: Vec<String> = args
            .posonlyargs
            .iter()
            .chain(&args.args)
            .chain(&args.kwonlyargs)
            .map(|a| a.def.arg.to_string())
            .collect();
        params.extend(args.vararg.iter().map(|a| a.arg.to_string()));
        params.extend(args.kwarg.iter().map(|a| a.arg.to_string()));
        let outer = self
            .frames
            .get(1..)
            .map(<[Frame]>::to_vec)
            .unwrap_or_default();
        self.pending.push(Deferred {
            name,
            params,
            body,
            outer,
        });
    }

    fn walk_arguments(&mut self, args: &'a ast::Arguments) -> R {
        for a in args
            .posonlyargs
            .iter()
            .chain(&args.args)
            .chain(&args.kwonlyargs)
        {
            if let Some(d) = &a.default {
                self.walk_expr(d)?;
            }
            if let Some(t) = &a.def.annotation {
                self.walk_expr(t)?;
            }
        }
        Ok(())
    }

    fn walk_stmt(&mut self, s: &'a Stmt) -> R {
        self.enter()?;
        let r = self.walk_stmt_inner(s);
        self.leave();
        r
    }

    fn walk_stmt_inner(&mut self, s: &'a Stmt) -> R {
        match s {
            Stmt::FunctionDef(f) => {
                self.walk_exprs(&f.decorator_list)?;
                self.walk_arguments(&f.args)?;
                if let Some(r) = &f.returns {
                    self.walk_expr(r)?;
                }
                self.bind(f.name.as_str(), Binding::Local);
                self.defer(Some(f.name.to_string()), &f.args, &f.body);
            }
            Stmt::AsyncFunctionDef(f) => {
                self.walk_exprs(&f.decorator_list)?;
                self.walk_arguments(&f.args)?;
                if let Some(r) = &f.returns {
                    self.walk_expr(r)?;
                }
                self.bind(f.name.as_str(), Binding::Local);
                self.defer(Some(f.name.to_string()), &f.args, &f.body);
            }
            Stmt::ClassDef(c) => {
                self.walk_exprs(&c.decorator_list)?;
                self.walk_exprs(&c.bases)?;
                for k in &c.keywords {
                    self.walk_expr(&k.value)?;
                }
                self.bind(c.name.as_str(), Binding::Local);
                self.frames.push(Frame::default());
                let r = self.walk_body(&c.body);
                self.frames.pop();
                r?;
            }
            Stmt::Return(r) => {
                if let Some(v) = &r.value {
                    self.walk_expr(v)?;
                }
            }
            Stmt::Delete(d) => self.walk_exprs(&d.targets)?,
            Stmt::Assign(a) => {
                self.walk_expr(&a.value)?;
                for t in &a.targets {
                    self.assign(t, Some(&a.value))?;
                }
            }
            Stmt::TypeAlias(t) => self.walk_expr(&t.value)?,
            Stmt::AugAssign(a) => {
                self.walk_expr(&a.value)?;
                self.walk_expr(&a.target)?;
                if let Expr::Name(n) = &*a.target {
                    let combined = match (self.lookup(n.id.as_str()), self.fold(&a.value)) {
                        (Some(Binding::Const(l)), Some(r)) => self.binop_vals(l, a.op, &r),
                        _ => None,
                    };
                    let b = combined.map_or(Binding::Local, Binding::Const);
                    self.bind(n.id.as_str(), b);
                }
            }
            Stmt::AnnAssign(a) => {
                self.walk_expr(&a.annotation)?;
                if let Some(v) = &a.value {
                    self.walk_expr(v)?;
                }
                self.assign(&a.target, a.value.as_deref())?;
            }
            Stmt::For(f) => self.walk_for(&f.target, &f.iter, &f.body, &f.orelse)?,
            Stmt::AsyncFor(f) => self.walk_for(&f.target, &f.iter, &f.body, &f.orelse)?,
            Stmt::While(w) => {
                self.walk_expr(&w.test)?;
                let forever = self.fold(&w.test).is_some_and(|f| f.val.truthy());
                let endless = forever && !has_exit(&w.body, 0);
                if endless {
                    let span = self.span(w.range);
                    self.signal("infinite-loop", Vec::new(), span);
                    self.unbounded_loops += 1;
                }
                let r = self.walk_body(&w.body);
                if endless {
                    self.unbounded_loops -= 1;
                }
                r?;
                self.walk_body(&w.orelse)?;
            }
            Stmt::If(i) => {
                self.walk_expr(&i.test)?;
                self.walk_body(&i.body)?;
                self.walk_body(&i.orelse)?;
            }
            Stmt::With(w) => self.walk_with(&w.items, &w.body)?,
            Stmt::AsyncWith(w) => self.walk_with(&w.items, &w.body)?,
            Stmt::Match(m) => {
                self.walk_expr(&m.subject)?;
                for case in &m.cases {
                    self.walk_pattern(&case.pattern)?;
                    if let Some(g) = &case.guard {
                        self.walk_expr(g)?;
                    }
                    self.walk_body(&case.body)?;
                }
            }
            Stmt::Raise(r) => {
                if let Some(e) = &r.exc {
                    self.walk_expr(e)?;
                }
                if let Some(c) = &r.cause {
                    self.walk_expr(c)?;
                }
            }
            Stmt::Try(t) => self.walk_try(&t.body, &t.handlers, &t.orelse, &t.finalbody)?,
            Stmt::TryStar(t) => self.walk_try(&t.body, &t.handlers, &t.orelse, &t.finalbody)?,
            Stmt::Assert(a) => {
                self.walk_expr(&a.test)?;
                if let Some(m) = &a.msg {
                    self.walk_expr(m)?;
                }
            }
            Stmt::Import(i) => {
                let span = self.span(i.range);
                for alias in &i.names {
                    let name = alias.name.to_string();
                    self.push(FactKind::Import, name.clone(), Vec::new(), span);
                    match &alias.asname {
                        Some(as_) => self.bind(as_.as_str(), module(&name)),
                        None => {
                            let top = name.split('.').next().unwrap_or(&name).to_string();
                            self.bind(&top, module(&top));
                        }
                    }
                }
            }
            Stmt::ImportFrom(i) => {
                let span = self.span(i.range);
                let level = i.level.as_ref().map_or(0, |l| l.to_usize());
                let base = format!(
                    "{}{}",
                    ".".repeat(level),
                    i.module.as_ref().map_or("", |m| m.as_str())
                );
                if !base.is_empty() {
                    self.push(FactKind::Import, base.clone(), Vec::new(), span);
                }
                for alias in &i.names {
                    if alias.name.as_str() == "*" {
                        self.stars.push(base.clone());
                        continue;
                    }
                    let qual = if base.is_empty() || base.ends_with('.') {
                        format!("{base}{}", alias.name)
                    } else {
                        format!("{base}.{}", alias.name)
                    };
                    self.push(FactKind::Import, qual.clone(), Vec::new(), span);
                    let local = alias.asname.as_ref().unwrap_or(&alias.name).to_string();
                    let b = Binding::Sym(Sym {
                        qual,
                        kind: Kind::Member,
                        args: Vec::new(),
                        taint: None,
                    });
                    self.bind(&local, b);
                }
            }
            Stmt::Global(g) => {
                if self.frames.len() > 1 {
                    if let Some(f) = self.frames.last_mut() {
                        f.globals.extend(g.names.iter().map(|n| n.to_string()));
                    }
                }
            }
            Stmt::Nonlocal(_) | Stmt::Pass(_) | Stmt::Break(_) | Stmt::Continue(_) => {}
            Stmt::Expr(e) => {
                // A bare string statement is a docstring or a comment in disguise: data.
                if !matches!(&*e.value, Expr::Constant(c) if matches!(c.value, Constant::Str(_))) {
                    self.walk_expr(&e.value)?;
                }
            }
        }
        Ok(())
    }

    fn walk_for(
        &mut self,
        target: &'a Expr,
        iter: &'a Expr,
        body: &'a [Stmt],
        orelse: &'a [Stmt],
    ) -> R {
        self.walk_expr(iter)?;
        if self.is_environ(iter) {
            let span = self.span(iter.range());
            self.signal("env-harvest", vec!["iterate".into()], span);
        }
        self.assign(target, None)?;
        let endless = self.endless_iter(iter) && !has_exit(body, 0);
        if endless {
            self.unbounded_loops += 1;
        }
        let r = self.walk_body(body);
        if endless {
            self.unbounded_loops -= 1;
        }
        r?;
        self.walk_body(orelse)
    }

    /// `iter(f, sentinel)`, `itertools.count()`, `itertools.cycle(...)`, `itertools.repeat(x)`.
    fn endless_iter(&self, iter: &Expr) -> bool {
        let Expr::Call(c) = iter else { return false };
        match self.resolve(&c.func).map(|s| s.qual) {
            Some(q) if q == "iter" => c.args.len() == 2,
            Some(q) if q == "itertools.count" || q == "itertools.cycle" => true,
            Some(q) if q == "itertools.repeat" => c.args.len() == 1 && c.keywords.is_empty(),
            _ => false,
        }
    }

    fn walk_with(&mut self, items: &'a [ast::WithItem], body: &'a [Stmt]) -> R {
        for item in items {
            self.walk_expr(&item.context_expr)?;
            if let Some(v) = &item.optional_vars {
                self.assign(v, Some(&item.context_expr))?;
            }
        }
        self.walk_body(body)
    }

    fn walk_try(
        &mut self,
        body: &'a [Stmt],
        handlers: &'a [ast::ExceptHandler],
        orelse: &'a [Stmt],
        finalbody: &'a [Stmt],
    ) -> R {
        self.walk_body(body)?;
        for h in handlers {
            let ast::ExceptHandler::ExceptHandler(h) = h;
            if let Some(t) = &h.type_ {
                self.walk_expr(t)?;
            }
            if let Some(n) = &h.name {
                self.bind(n.as_str(), Binding::Local);
            }
            self.walk_body(&h.body)?;
        }
        self.walk_body(orelse)?;
        self.walk_body(finalbody)
    }

    fn walk_pattern(&mut self, p: &'a ast::Pattern) -> R {
        self.enter()?;
        let r = match p {
            ast::Pattern::MatchValue(v) => self.walk_expr(&v.value),
            ast::Pattern::MatchSingleton(_) | ast::Pattern::MatchStar(_) => Ok(()),
            ast::Pattern::MatchSequence(s) => {
                s.patterns.iter().try_for_each(|p| self.walk_pattern(p))
            }
            ast::Pattern::MatchMapping(m) => self
                .walk_exprs(&m.keys)
                .and_then(|_| m.patterns.iter().try_for_each(|p| self.walk_pattern(p))),
            ast::Pattern::MatchClass(c) => self.walk_expr(&c.cls).and_then(|_| {
                c.patterns
                    .iter()
                    .chain(&c.kwd_patterns)
                    .try_for_each(|p| self.walk_pattern(p))
            }),
            ast::Pattern::MatchAs(a) => match &a.pattern {
                Some(p) => self.walk_pattern(p),
                None => Ok(()),
            },
            ast::Pattern::MatchOr(o) => o.patterns.iter().try_for_each(|p| self.walk_pattern(p)),
        };
        self.leave();
        r
    }

    /// Binds assignment targets; `value` is the assigned expression when known.
    fn assign(&mut self, target: &'a Expr, value: Option<&'a Expr>) -> R {
        match target {
            Expr::Name(n) => {
                let b = match value {
                    Some(v) => self.binding_of(v),
                    None => Binding::Local,
                };
                self.bind(n.id.as_str(), b);
            }
            Expr::Tuple(ast::ExprTuple { elts, .. }) | Expr::List(ast::ExprList { elts, .. }) => {
                let values = match value {
                    Some(Expr::Tuple(t)) if t.elts.len() == elts.len() => Some(&t.elts),
                    Some(Expr::List(l)) if l.elts.len() == elts.len() => Some(&l.elts),
                    _ => None,
                };
                // `conn, addr = s.accept()`: each part keeps where the data came from.
                let whole = match (values, value) {
                    (None, Some(v)) => match self.binding_of(v) {
                        b @ (Binding::Sym(Sym { taint: Some(_), .. }) | Binding::Taint(_)) => {
                            Some(b)
                        }
                        _ => None,
                    },
                    _ => None,
                };
                for (i, t) in elts.iter().enumerate() {
                    match (&whole, t) {
                        (Some(b), Expr::Name(n)) => self.bind(n.id.as_str(), b.clone()),
                        _ => self.assign(t, values.and_then(|v| v.get(i)))?,
                    }
                }
            }
            Expr::Starred(s) => self.assign(&s.value, None)?,
            // Attribute and subscript stores: the expression parts are reads.
            other => self.walk_expr(other)?,
        }
        Ok(())
    }

    fn binding_of(&self, v: &Expr) -> Binding {
        if let Some(f) = self.fold(v) {
            if !matches!(f.val, Val::None | Val::Bool(_) | Val::Float(_)) {
                return Binding::Const(f);
            }
        }
        if let Some(s) = self.resolve(v) {
            return Binding::Sym(s);
        }
        match self.taint_of(v, 0) {
            Some(t) => Binding::Taint(t),
            None => Binding::Local,
        }
    }

    // ----- expressions -------------------------------------------------

    fn walk_exprs(&mut self, es: &'a [Expr]) -> R {
        for e in es {
            self.walk_expr(e)?;
        }
        Ok(())
    }

    fn walk_expr(&mut self, e: &'a Expr) -> R {
        self.enter()?;
        let r = self.walk_expr_inner(e);
        self.leave();
        r
    }

    fn walk_expr_inner(&mut self, e: &'a Expr) -> R {
        match e {
            Expr::BoolOp(b) => self.walk_exprs(&b.values)?,
            Expr::NamedExpr(n) => {
                self.walk_expr(&n.value)?;
                self.assign(&n.target, Some(&n.value))?;
            }
            Expr::BinOp(_) => {
                // Left-leaning chains (`a + b + c + ...`) are walked as a list,
                // so a long concatenation is not mistaken for deep nesting.
                let mut operands = Vec::new();
                let mut cur = e;
                while let Expr::BinOp(b) = cur {
                    self.tick()?;
                    if b.op == ast::Operator::Mult || b.op == ast::Operator::Pow {
                        self.check_huge(b);
                    }
                    operands.push(&*b.right);
                    cur = &b.left;
                }
                operands.push(cur);
                for o in operands.into_iter().rev() {
                    self.walk_expr(o)?;
                }
            }
            Expr::UnaryOp(u) => self.walk_expr(&u.operand)?,
            Expr::Lambda(l) => {
                self.walk_arguments(&l.args)?;
                let mut frame = Frame::default();
                for a in l
                    .args
                    .posonlyargs
                    .iter()
                    .chain(&l.args.args)
                    .chain(&l.args.kwonlyargs)
                {
                    frame.vars.insert(a.def.arg.to_string(), Binding::Local);
                }
                self.frames.push(frame);
                let r = self.walk_expr(&l.body);
                self.frames.pop();
                r?;
            }
            Expr::IfExp(i) => {
                self.walk_expr(&i.test)?;
                self.walk_expr(&i.body)?;
                self.walk_expr(&i.orelse)?;
            }
            Expr::Dict(d) => {
                for (k, v) in d.keys.iter().zip(&d.values) {
                    match k {
                        Some(k) => self.walk_expr(k)?,
                        None => {
                            if self.is_environ(v) {
                                let span = self.span(v.range());
                                self.signal("env-harvest", vec!["unpack".into()], span);
                            }
                        }
                    }
                    self.walk_expr(v)?;
                }
            }
            Expr::Set(s) => self.walk_exprs(&s.elts)?,
            Expr::ListComp(c) => self.walk_comp(&[&c.elt], &c.generators)?,
            Expr::SetComp(c) => self.walk_comp(&[&c.elt], &c.generators)?,
            Expr::GeneratorExp(c) => self.walk_comp(&[&c.elt], &c.generators)?,
            Expr::DictComp(c) => self.walk_comp(&[&c.key, &c.value], &c.generators)?,
            Expr::Await(a) => self.walk_expr(&a.value)?,
            Expr::Yield(y) => {
                if let Some(v) = &y.value {
                    self.walk_expr(v)?;
                }
            }
            Expr::YieldFrom(y) => self.walk_expr(&y.value)?,
            Expr::Compare(c) => {
                self.walk_expr(&c.left)?;
                self.walk_exprs(&c.comparators)?;
            }
            Expr::Call(c) => self.walk_call(c)?,
            Expr::FormattedValue(f) => {
                self.walk_expr(&f.value)?;
                if let Some(s) = &f.format_spec {
                    self.walk_expr(s)?;
                }
            }
            Expr::JoinedStr(j) => {
                self.walk_exprs(&j.values)?;
                if let Some(f) = self.fold(e) {
                    if let Some(t) = f.val.text() {
                        let t = t.to_string();
                        self.check_constant(&t, j.range);
                    }
                }
            }
            Expr::Constant(c) => {
                if let Constant::Str(s) = &c.value {
                    self.check_constant(s, c.range);
                }
            }
            Expr::Attribute(a) => {
                self.attribute_read(a, e)?;
                self.walk_expr(&a.value)?;
            }
            Expr::Subscript(s) => {
                self.walk_expr(&s.value)?;
                self.walk_expr(&s.slice)?;
                self.subscript_read(s, e);
            }
            Expr::Starred(s) => self.walk_expr(&s.value)?,
            Expr::Name(n) => {
                if n.id.as_str() == "__builtins__" && self.lookup("__builtins__").is_none() {
                    let span = self.span(n.range);
                    self.signal("reflection", vec!["__builtins__".into()], span);
                }
            }
            Expr::List(l) => self.walk_exprs(&l.elts)?,
            Expr::Tuple(t) => self.walk_exprs(&t.elts)?,
            Expr::Slice(s) => {
                for part in [&s.lower, &s.upper, &s.step].into_iter().flatten() {
                    self.walk_expr(part)?;
                }
            }
        }
        Ok(())
    }

    fn walk_comp(&mut self, elts: &[&'a Expr], gens: &'a [ast::Comprehension]) -> R {
        self.frames.push(Frame::default());
        let r = (|| {
            for g in gens {
                self.walk_expr(&g.iter)?;
                if self.is_environ(&g.iter) {
                    let span = self.span(g.iter.range());
                    self.signal("env-harvest", vec!["iterate".into()], span);
                }
                self.assign(&g.target, None)?;
                self.walk_exprs(&g.ifs)?;
            }
            for e in elts {
                self.walk_expr(e)?;
            }
            Ok(())
        })();
        self.frames.pop();
        r
    }

    /// `'A' * 10**10`, `bytearray(10**10)`: allocations no sandbox can satisfy.
    fn check_huge(&mut self, b: &ast::ExprBinOp) {
        let int_of = |w: &Self, e: &Expr| match w.fold_in(e, FOLD_DEPTH - 6, &[]) {
            Some(Folded {
                val: Val::Int(i), ..
            }) => Some(i),
            _ => None,
        };
        let huge = match b.op {
            ast::Operator::Mult => {
                let l = int_of(self, &b.left);
                let r = int_of(self, &b.right);
                let seq =
                    |e: &Expr| matches!(e, Expr::Constant(_) | Expr::List(_) | Expr::Tuple(_));
                (r.is_some_and(|n| n > HUGE_ALLOC) && seq(&b.left))
                    || (l.is_some_and(|n| n > HUGE_ALLOC) && seq(&b.right))
            }
            _ => false,
        };
        if huge {
            let span = self.span(b.range);
            self.signal("resource-exhaustion", vec!["allocation".into()], span);
        }
    }

    fn attribute_read(&mut self, a: &ast::ExprAttribute, whole: &Expr) -> R {
        self.reflection_attr(a);
        let attr = a.attr.as_str();
        if let Some(sym) = self.resolve(whole) {
            if sym.kind == Kind::Member {
                let span = self.span(a.range);
                if attr == "__dict__" {
                    self.signal("reflection", vec![sym.qual.clone()], span);
                }
                self.push(FactKind::Attribute, sym.qual, Vec::new(), span);
            }
        }
        Ok(())
    }

    /// Interpreter internals reached by attribute, read or called.
    fn reflection_attr(&mut self, a: &ast::ExprAttribute) {
        let attr = a.attr.as_str();
        const INTERNALS: &[&str] = &[
            "__subclasses__",
            "__globals__",
            "__code__",
            "__mro__",
            "__bases__",
            "__base__",
            "__builtins__",
            "__closure__",
            "f_globals",
            "f_locals",
            "f_builtins",
            "f_back",
            "gi_frame",
            "tb_frame",
            "co_code",
            "__getattribute__",
            "__loader__",
        ];
        if INTERNALS.contains(&attr) {
            let span = self.span(a.range);
            self.signal("reflection", vec![attr.to_string()], span);
        }
        // `().__class__`, `''.__class__.__mro__`: the classic way out of a restricted namespace.
        if matches!(attr, "__class__" | "__mro__" | "__bases__" | "__base__")
            && matches!(
                &*a.value,
                Expr::Constant(_) | Expr::Tuple(_) | Expr::List(_) | Expr::Dict(_)
            )
        {
            let span = self.span(a.range);
            self.signal("reflection", vec!["literal-class-walk".into()], span);
        }
    }

    fn subscript_read(&mut self, s: &ast::ExprSubscript, whole: &Expr) {
        let Some(base) = self.resolve(&s.value) else {
            return;
        };
        let span = self.span(s.range);
        let computed = matches!(base.qual.as_str(), "sys.modules" | "<globals>" | "builtins")
            || base.qual.ends_with(".__dict__");
        if !computed {
            return;
        }
        match self.fold(&s.slice) {
            Some(key) if key.val.text().is_some() => {
                if key.tricky() {
                    let name = key.val.text().unwrap_or_default().to_string();
                    self.signal("string-obfuscation", vec![name], span);
                }
                if let Some(sym) = self.resolve(whole) {
                    if sym.kind == Kind::Member {
                        self.push(FactKind::Attribute, sym.qual, Vec::new(), span);
                    }
                }
            }
            _ => self.signal("computed-name", vec![base.qual], span),
        }
    }

    // ----- calls -------------------------------------------------------

    fn walk_call(&mut self, c: &'a ast::ExprCall) -> R {
        // The callee itself is not an attribute read; its receiver is.
        match &*c.func {
            Expr::Attribute(a) => {
                self.reflection_attr(a);
                self.walk_expr(&a.value)?
            }
            other => self.walk_expr(other)?,
        }
        self.walk_exprs(&c.args)?;
        for k in &c.keywords {
            self.walk_expr(&k.value)?;
        }
        let span = self.span(c.range);
        for a in c.args.iter().chain(
            c.keywords
                .iter()
                .filter(|k| k.arg.as_ref().is_none_or(|n| n.as_str() != "env"))
                .map(|k| &k.value),
        ) {
            if self.is_environ(a) {
                let q = self.resolve(&c.func).map(|s| s.qual).unwrap_or_default();
                if !tables::is_subprocess(&q) && tables::exec_family(&q).is_none() {
                    self.signal("env-harvest", vec![q], span);
                }
            }
        }
        if let (Some(f), Expr::Name(n)) = (&self.current_fn, &*c.func) {
            if f == n.id.as_str() {
                self.fn_recurses = true;
            }
        }
        if let Expr::Name(n) = &*c.func {
            if self.unbounded_loops > 0
                && matches!(self.lookup(n.id.as_str()), Some(Binding::Local))
            {
                self.loop_calls.push((n.id.to_string(), span));
            }
        }
        if let Some(sym) = self.resolve(&c.func) {
            self.on_call(c, &sym, span)?;
        }
        Ok(())
    }

    fn fold_arg(&self, c: &ast::ExprCall, pos: usize, kw: &str) -> Option<Folded> {
        let e = c
            .args
            .get(pos)
            .filter(|a| !matches!(a, Expr::Starred(_)))
            .or_else(|| {
                c.keywords
                    .iter()
                    .find(|k| k.arg.as_ref().is_some_and(|n| n.as_str() == kw))
                    .map(|k| &k.value)
            })?;
        self.fold(e)
    }

    fn arg_expr<'c>(c: &'c ast::ExprCall, pos: usize, kw: &str) -> Option<&'c Expr> {
        c.args
            .get(pos)
            .filter(|a| !matches!(a, Expr::Starred(_)))
            .or_else(|| {
                c.keywords
                    .iter()
                    .find(|k| k.arg.as_ref().is_some_and(|n| n.as_str() == kw))
                    .map(|k| &k.value)
            })
    }

    fn kwarg<'c>(c: &'c ast::ExprCall, kw: &str) -> Option<&'c Expr> {
        c.keywords
            .iter()
            .find(|k| k.arg.as_ref().is_some_and(|n| n.as_str() == kw))
            .map(|k| &k.value)
    }

    fn on_call(&mut self, c: &'a ast::ExprCall, sym: &Sym, span: Span) -> R {
        let q = sym.qual.as_str();
        let mut args = Vec::new();
        let mut folded_args = Vec::new();
        for a in &c.args {
            let f = self.fold(a);
            if let Some(f) = &f {
                f.val.push_args(&mut args);
            }
            folded_args.push(f);
        }
        for k in &c.keywords {
            if let (Some(name), Some(f)) = (&k.arg, self.fold(&k.value)) {
                if let Some(v) = f.val.display() {
                    args.push(format!("{name}={v}"));
                }
            }
        }
        for a in &mut args {
            if a.len() > ARG_MAX {
                let mut cut = ARG_MAX;
                while !a.is_char_boundary(cut) {
                    cut -= 1;
                }
                a.truncate(cut);
            }
        }
        if sym.kind == Kind::Instance
            && sym.taint.is_none()
            && !sym.args.is_empty()
            && args.is_empty()
        {
            args = sym.args.clone();
        }
        self.push(FactKind::Call, q, args.clone(), span);
        if !is_data_call(q) {
            for a in &args {
                self.check_arg(a, span);
            }
        }

        match q {
            "__import__" | "importlib.import_module" | "importlib.__import__" => {
                match self.fold_arg(c, 0, "name") {
                    Some(f) if f.val.text().is_some() => {
                        let name = f.val.text().unwrap_or_default().to_string();
                        if f.tricky() {
                            self.signal("string-obfuscation", vec![name.clone()], span);
                        }
                        self.push(FactKind::Import, name, Vec::new(), span);
                    }
                    _ => self.signal("computed-name", vec![q.to_string()], span),
                }
            }
            "getattr" | "setattr" | "delattr" | "hasattr" => {
                if let Some(base) = c.args.first().and_then(|a| self.resolve(a)) {
                    if base.kind != Kind::Instance {
                        match self.fold_arg(c, 1, "name") {
                            Some(f) if f.val.text().is_some() => {
                                let name = f.val.text().unwrap_or_default();
                                let qual = normalize(&format!("{}.{name}", base.qual));
                                if f.tricky() {
                                    self.signal("string-obfuscation", vec![qual.clone()], span);
                                }
                                self.push(FactKind::Attribute, qual, Vec::new(), span);
                            }
                            _ => self.signal("computed-name", vec![base.qual.clone()], span),
                        }
                    }
                }
            }
            "globals"
            | "locals"
            | "sys._getframe"
            | "inspect.currentframe"
            | "inspect.stack"
            | "gc.get_objects"
            | "gc.get_referrers"
            | "gc.get_referents" => self.signal("reflection", vec![q.to_string()], span),
            "vars" | "dir" if c.args.is_empty() => {
                self.signal("reflection", vec![q.to_string()], span)
            }
            "vars"
                if c.args
                    .first()
                    .and_then(|a| self.resolve(a))
                    .is_some_and(|s| s.kind != Kind::Instance) =>
            {
                self.signal("reflection", vec![q.to_string()], span);
            }
            _ => {}
        }

        if tables::is_code_sink(q) {
            self.code_sink(c, q, span)?;
        }
        if tables::is_shell_sink(q) {
            if let Some(arg) = Self::arg_expr(c, 0, "cmd") {
                self.shell_arg(arg, q, span)?;
            }
        }
        if tables::is_subprocess(q) {
            self.subprocess(c, q, span)?;
        }
        if let Some((skip, vform)) = tables::exec_family(q) {
            let mut argv: Vec<Option<String>> = Vec::new();
            if vform {
                if let Some(list) = c.args.get(skip + 1) {
                    argv = self.fold_list(list);
                }
            } else {
                argv = c
                    .args
                    .iter()
                    .skip(skip + 1)
                    .map(|a| self.fold(a).and_then(|f| f.val.text().map(str::to_string)))
                    .collect();
            }
            let path = c
                .args
                .get(skip)
                .and_then(|a| self.fold(a))
                .and_then(|f| f.val.text().map(str::to_string));
            if argv.first().is_none_or(|a| a.is_none()) {
                if argv.is_empty() {
                    argv.push(path.clone());
                } else {
                    argv[0] = path.clone();
                }
            } else if let Some(p) = path {
                argv[0] = Some(p);
            }
            self.argv(&argv, vec![q.to_string()], span)?;
        }
        if matches!(q, "bytearray" | "bytes" | "os.urandom")
            && matches!(folded_args.first(), Some(Some(Folded { val: Val::Int(n), .. })) if *n > HUGE_ALLOC)
        {
            self.signal("resource-exhaustion", vec![q.to_string()], span);
        }
        if q == "pty.spawn" {
            let argv = c
                .args
                .first()
                .map(|a| self.fold_list(a))
                .unwrap_or_default();
            self.wired.push(span);
            self.argv(&argv, vec![q.to_string()], span)?;
        }
        if q == "os.dup2" {
            let target = folded_args.get(1).and_then(|f| f.as_ref()).map(|f| &f.val);
            let from_socket = c
                .args
                .first()
                .is_some_and(|a| self.taint_of(a, 0) == Some(Taint::Socket));
            if matches!(target, Some(Val::Int(0..=2)))
                && (from_socket || self.connected.is_some() || target.is_some())
            {
                self.wired.push(span);
            }
        }
        if (q.starts_with("socket.") && (q.ends_with(".connect") || q.ends_with(".connect_ex")))
            || q == "socket.create_connection"
            || q.starts_with("socket.create_connection.")
        {
            self.connected.get_or_insert(span);
        }

        self.file_effects(c, sym, &folded_args, span);
        self.spawn_effects(c, q, span);

        if q == "os.environ.items"
            || q == "os.environ.keys"
            || q == "os.environ.values"
            || q == "os.environ.copy"
            || q == "os.environb.items"
            || q == "os.environ.__iter__"
        {
            self.signal("env-harvest", vec![q.to_string()], span);
        }
        Ok(())
    }

    fn spawn_effects(&mut self, c: &ast::ExprCall, q: &str, span: Span) {
        let spawner = tables::is_spawner(q)
            || (matches!(q, "threading.Thread" | "multiprocessing.Process")
                && Self::kwarg(c, "target").is_some_and(|t| {
                    matches!((t, &self.current_fn), (Expr::Name(n), Some(f)) if n.id.as_str() == f)
                }));
        if !spawner {
            return;
        }
        if self.unbounded_loops > 0 {
            self.signal("fork-bomb", vec![q.to_string()], span);
        } else if self.current_fn.is_some() {
            self.fn_spawns.push(span);
        }
        if matches!(q, "threading.Thread" | "multiprocessing.Process") && self.current_fn.is_some()
        {
            self.fn_recurses = true;
        }
    }

    /// Writes to sensitive files, setuid bits, recursive deletion of roots, downloads to disk.
    fn file_effects(
        &mut self,
        c: &ast::ExprCall,
        sym: &Sym,
        folded: &[Option<Folded>],
        span: Span,
    ) {
        let q = sym.qual.as_str();
        let text_at = |i: usize| {
            folded
                .get(i)
                .and_then(|f| f.as_ref())
                .and_then(|f| f.val.text().map(str::to_string))
        };
        let mut written: Option<String> = None;
        match q {
            "open" | "io.open" | "codecs.open" | "os.fdopen" => {
                let mode = self
                    .fold_arg(c, 1, "mode")
                    .and_then(|f| f.val.text().map(str::to_string))
                    .unwrap_or_default();
                if mode.contains(['w', 'a', 'x', '+']) {
                    written = self
                        .fold_arg(c, 0, "file")
                        .and_then(|f| f.val.text().map(str::to_string));
                }
            }
            "os.open" => {
                let flags = c.args.get(1);
                let writes = flags.is_some_and(|f| {
                    self.mentions(
                        f,
                        &[
                            "os.O_WRONLY",
                            "os.O_RDWR",
                            "os.O_APPEND",
                            "os.O_CREAT",
                            "os.O_TRUNC",
                        ],
                        0,
                    ) || matches!(self.fold(f), Some(Folded { val: Val::Int(n), .. }) if n & 3 != 0)
                });
                if writes {
                    written = text_at(0);
                }
            }
            "shutil.copy" | "shutil.copy2" | "shutil.copyfile" | "shutil.copytree"
            | "shutil.move" | "os.rename" | "os.replace" | "os.link" | "os.symlink" => {
                written = text_at(1)
            }
            "urllib.request.urlretrieve" | "urllib.urlretrieve" | "wget.download" => {
                if let Some(p) = text_at(1).or_else(|| {
                    self.fold_arg(c, 9, "out")
                        .and_then(|f| f.val.text().map(str::to_string))
                }) {
                    self.downloaded.push(p.clone());
                    written = Some(p);
                }
            }
            "shutil.rmtree" | "os.removedirs" | "os.rmdir" => {
                if let Some(p) = text_at(0) {
                    if tables::is_root_like(&p) {
                        self.signal("recursive-delete-root", vec![p], span);
                    }
                }
            }
            _ => {}
        }
        if sym.kind == Kind::Instance {
            let base = q.rsplit_once('.').map_or("", |(b, _)| b);
            let method = q.rsplit('.').next().unwrap_or("");
            let path = sym.args.first().cloned();
            if base.starts_with("pathlib.") || base == "Path" {
                match method {
                    "write_text" | "write_bytes" | "touch" | "symlink_to" | "hardlink_to" => {
                        written = path.clone()
                    }
                    "open" => {
                        let mode = text_at(0).unwrap_or_default();
                        if mode.contains(['w', 'a', 'x', '+']) {
                            written = path.clone();
                        }
                    }
                    "unlink" | "rmdir" => {}
                    _ => {}
                }
            }
            // Network data written into a file opened earlier: that file is a download.
            if matches!(base, "open" | "io.open") && matches!(method, "write" | "writelines") {
                if let (Some(p), Some(Taint::Network)) =
                    (path, c.args.first().and_then(|a| self.taint_of(a, 0)))
                {
                    self.downloaded.push(p);
                }
            }
        }
        if q.ends_with("chmod") || q == "os.fchmodat" {
            let setuid = c.args.iter().chain(c.keywords.iter().map(|k| &k.value)).any(|a| {
                self.mentions(a, &["stat.S_ISUID", "stat.S_ISGID"], 0)
                    || matches!(self.fold(a), Some(Folded { val: Val::Int(n), .. }) if (0o2000..=0o7777).contains(&n) && n & 0o6000 != 0)
            });
            if setuid {
                self.signal("setuid", vec![q.to_string()], span);
            }
        }
        if let Some(p) = written {
            if tables::is_sensitive_write(&p) {
                self.signal("sensitive-write", vec![p], span);
            }
        }
    }

    /// Whether `e` mentions any of the qualified names (`stat.S_ISUID | 0o755`).
    fn mentions(&self, e: &Expr, names: &[&str], d: usize) -> bool {
        if d > FOLD_DEPTH {
            return false;
        }
        if let Some(s) = self.resolve(e) {
            if names.contains(&s.qual.as_str()) {
                return true;
            }
        }
        match e {
            Expr::BinOp(b) => {
                self.mentions(&b.left, names, d + 1) || self.mentions(&b.right, names, d + 1)
            }
            Expr::UnaryOp(u) => self.mentions(&u.operand, names, d + 1),
            _ => false,
        }
    }

    fn code_sink(&mut self, c: &'a ast::ExprCall, q: &str, span: Span) -> R {
        let Some(arg) = Self::arg_expr(c, 0, "source") else {
            return Ok(());
        };
        let folded = self.fold(arg);
        let mut chain = vec![q.to_string()];
        let decoders = match &folded {
            Some(f) if !f.steps.is_empty() => f.steps.clone(),
            // Char codes, reversal and byte lists hide code as well as base64 does.
            Some(f) if f.obfuscated => vec!["char-codes".to_string()],
            _ => self.decoders_in(arg, 0),
        };
        chain.extend(decoders.iter().cloned());
        match folded
            .as_ref()
            .and_then(|f| f.val.text().map(str::to_string))
        {
            Some(code) => {
                let f = folded
                    .as_ref()
                    .map_or_else(|| Folded::plain(Val::None), Clone::clone);
                if f.obfuscated || f.assembled {
                    self.signal("string-obfuscation", vec![q.to_string()], span);
                }
                self.payload(&code, chain.clone(), span, !decoders.is_empty())?;
            }
            None => self.signal("dynamic-code", vec![q.to_string()], span),
        }
        if !decoders.is_empty() {
            self.signal("decode-exec", chain, span);
        }
        match self.taint_of(arg, 0) {
            Some(Taint::Network) => self.signal("download-exec", vec![q.to_string()], span),
            Some(Taint::Socket) => self.signal("reverse-shell", vec![q.to_string()], span),
            _ => {}
        }
        Ok(())
    }

    /// Analyses a recovered Python payload with the nested budget.
    fn payload(&mut self, code: &str, via: Vec<String>, span: Span, decoded: bool) -> R {
        if decoded {
            self.signal("decoded-payload", via.clone(), span);
        }
        let Some(nested) = self.budget.nested() else {
            return Ok(());
        };
        if code.len() > self.budget.max_payload_bytes {
            self.signal("dynamic-code", vec!["payload-too-large".into()], span);
            return Ok(());
        }
        match super::extract(code, &nested) {
            Ok(facts) => self.adopt(facts, &via, span),
            Err(AnalyzeError::Timeout) => return Err(AnalyzeError::Timeout),
            Err(_) => self.signal("dynamic-code", vec!["unparseable-payload".into()], span),
        }
        Ok(())
    }

    fn adopt(&mut self, facts: Vec<Fact>, via: &[String], span: Span) {
        for mut f in facts {
            let mut chain = via.to_vec();
            chain.append(&mut f.via);
            f.via = chain;
            f.span = span;
            self.facts.push(f);
        }
    }

    /// The decoders applied anywhere inside `e`, outermost first.
    fn decoders_in(&self, e: &Expr, d: usize) -> Vec<String> {
        let mut out = Vec::new();
        if d > FOLD_DEPTH {
            return out;
        }
        match e {
            Expr::Call(c) => {
                if let Some(s) = self.resolve(&c.func) {
                    if tables::is_decoder(&s.qual) {
                        out.push(s.qual.clone());
                    }
                }
                if let Expr::Attribute(a) = &*c.func {
                    if matches!(
                        a.attr.as_str(),
                        "decode" | "decompress" | "fromhex" | "loads"
                    ) {
                        if let Some(codec) = c
                            .args
                            .first()
                            .and_then(|x| self.fold(x))
                            .and_then(|f| f.val.text().map(str::to_string))
                        {
                            if !matches!(
                                codec.to_ascii_lowercase().as_str(),
                                "utf-8" | "utf8" | "ascii" | "latin-1" | "latin1"
                            ) {
                                out.push(format!("decode:{codec}"));
                            }
                        } else if a.attr.as_str() != "decode" {
                            out.push(a.attr.to_string());
                        }
                    }
                    out.extend(self.decoders_in(&a.value, d + 1));
                }
                for a in &c.args {
                    out.extend(self.decoders_in(a, d + 1));
                }
            }
            Expr::Name(n) => match self.lookup(n.id.as_str()) {
                Some(Binding::Const(f)) => out.extend(f.steps.iter().cloned()),
                Some(Binding::Sym(s))
                    if tables::is_decoder(&s.qual) || s.taint == Some(Taint::Decoded) =>
                {
                    out.push(s.qual.clone());
                }
                Some(Binding::Taint(Taint::Decoded)) => out.push("decoded".into()),
                _ => {}
            },
            Expr::Attribute(a) => out.extend(self.decoders_in(&a.value, d + 1)),
            Expr::BinOp(b) => {
                out.extend(self.decoders_in(&b.left, d + 1));
                out.extend(self.decoders_in(&b.right, d + 1));
            }
            Expr::Subscript(s) => out.extend(self.decoders_in(&s.value, d + 1)),
            _ => {}
        }
        out.dedup();
        out
    }

    /// A shell command line argument: analyse it as bash when constant, and
    /// check where its data came from.
    fn shell_arg(&mut self, arg: &Expr, q: &str, span: Span) -> R {
        let folded = self.fold(arg);
        let mut via = vec![q.to_string()];
        let decoders = match &folded {
            Some(f) if !f.steps.is_empty() => f.steps.clone(),
            Some(f) if f.obfuscated => vec!["char-codes".to_string()],
            _ => self.decoders_in(arg, 0),
        };
        via.extend(decoders.iter().cloned());
        if let Some(f) = &folded {
            let text = match &f.val {
                Val::Seq(items) => Some(
                    items
                        .iter()
                        .filter_map(|i| i.text())
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
                v => v.text().map(str::to_string),
            };
            if let Some(t) = text {
                if f.obfuscated || !f.steps.is_empty() {
                    self.signal("string-obfuscation", vec![q.to_string()], span);
                }
                if !decoders.is_empty() {
                    self.signal("decoded-payload", via.clone(), span);
                }
                self.shell(&t, via.clone(), span)?;
            }
        }
        if !decoders.is_empty() {
            self.signal("decode-exec", via, span);
        }
        match self.taint_of(arg, 0) {
            Some(Taint::Network) => self.signal("download-exec", vec![q.to_string()], span),
            Some(Taint::Socket) => self.signal("reverse-shell", vec![q.to_string()], span),
            _ => {}
        }
        if self.downloaded.iter().any(|p| {
            folded
                .as_ref()
                .and_then(|f| f.val.text())
                .is_some_and(|t| t.contains(p.as_str()))
        }) {
            self.signal("download-exec", vec![q.to_string()], span);
        }
        Ok(())
    }

    fn subprocess(&mut self, c: &'a ast::ExprCall, q: &str, span: Span) -> R {
        let shell = Self::kwarg(c, "shell")
            .and_then(|e| self.fold(e))
            .is_some_and(|f| f.val.truthy());
        for stream in ["stdin", "stdout", "stderr"] {
            if Self::kwarg(c, stream).is_some_and(|e| self.taint_of(e, 0) == Some(Taint::Socket)) {
                self.wired.push(span);
            }
        }
        let first = if q == "asyncio.create_subprocess_exec" {
            None
        } else {
            Self::arg_expr(c, 0, "args")
        };
        if shell {
            if let Some(a) = first {
                self.shell_arg(a, q, span)?;
            }
            return Ok(());
        }
        let argv: Vec<Option<String>> = match first {
            Some(a) => match self.fold(a) {
                Some(Folded {
                    val: Val::Str(s), ..
                }) => vec![Some(s)],
                _ => self.fold_list(a),
            },
            None => c
                .args
                .iter()
                .map(|a| self.fold(a).and_then(|f| f.val.text().map(str::to_string)))
                .collect(),
        };
        if let Some(a) = first {
            match self.taint_of(a, 0) {
                Some(Taint::Network) => self.signal("download-exec", vec![q.to_string()], span),
                Some(Taint::Socket) => self.signal("reverse-shell", vec![q.to_string()], span),
                _ => {}
            }
            let decoders = self.decoders_in(a, 0);
            if !decoders.is_empty() {
                let mut via = vec![q.to_string()];
                via.extend(decoders);
                self.signal("decode-exec", via, span);
            }
        }
        self.argv(&argv, vec![q.to_string()], span)
    }

    /// Elements of a list/tuple expression, each folded when constant.
    fn fold_list(&self, e: &Expr) -> Vec<Option<String>> {
        match e {
            Expr::List(ast::ExprList { elts, .. }) | Expr::Tuple(ast::ExprTuple { elts, .. }) => {
                elts.iter()
                    .map(|x| self.fold(x).and_then(|f| f.val.text().map(str::to_string)))
                    .collect()
            }
            other => match self.fold(other) {
                Some(Folded {
                    val: Val::Seq(items),
                    ..
                }) => items.iter().map(|i| i.text().map(str::to_string)).collect(),
                Some(Folded {
                    val: Val::Str(s), ..
                }) => vec![Some(s)],
                _ => Vec::new(),
            },
        }
    }

    /// A process started from an argv: a Command fact for the program, and
    /// nested analysis of `sh -c`, `python -c` and `node -e` arguments.
    fn argv(&mut self, argv: &[Option<String>], via: Vec<String>, span: Span) -> R {
        let Some(Some(_)) = argv.first() else {
            return Ok(());
        };
        for a in argv.iter().flatten() {
            self.check_arg(a, span);
            if self.downloaded.iter().any(|p| a.contains(p.as_str())) {
                self.signal("download-exec", vec![a.clone()], span);
            }
        }
        // The argv as the shell would see it, so the bash analyzer (and the
        // bash rules) judge `["curl", ...]` exactly like `curl ...`; it also
        // follows `sh -c`, `python -c` and `node -e` itself.
        let line = argv
            .iter()
            .flatten()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" ");
        if self.shell_facts(&line, &via, span)? {
            return Ok(());
        }
        self.argv_fallback(argv, via, span)
    }

    /// What the coarse scan cannot do when the bash analyzer had nothing:
    /// follow `sh -c`, `python -c` and `node -e` arguments.
    fn argv_fallback(&mut self, argv: &[Option<String>], via: Vec<String>, span: Span) -> R {
        let Some(Some(prog_path)) = argv.first() else {
            return Ok(());
        };
        let prog = tables::basename(prog_path).to_string();
        let code_flag = |flag: &str| {
            argv.iter().position(|a| {
                a.as_deref().is_some_and(|a| {
                    a.starts_with('-') && !a.starts_with("--") && a.ends_with(flag)
                })
            })
        };
        let mut inner = via;
        inner.push(prog.clone());
        if tables::is_shell_program(&prog) {
            if let Some(i) = code_flag("c") {
                if let Some(Some(cmd)) = argv.get(i + 1) {
                    self.shell(cmd, inner, span)?;
                }
            }
        } else if prog.starts_with("python") {
            if let Some(i) = code_flag("c") {
                if let Some(Some(code)) = argv.get(i + 1) {
                    self.payload(code, inner, span, false)?;
                }
            }
        } else if prog == "node" || prog == "nodejs" {
            if let Some(i) = code_flag("e") {
                if let (Some(Some(code)), Some(nested)) = (argv.get(i + 1), self.budget.nested()) {
                    match crate::analyze::javascript::extract(code, &nested) {
                        Ok(facts) => self.adopt(facts, &inner, span),
                        Err(AnalyzeError::Timeout) => return Err(AnalyzeError::Timeout),
                        Err(_) => self.signal("dynamic-code", vec!["node -e".into()], span),
                    }
                }
            }
        }
        Ok(())
    }

    /// A constant shell command line: the bash analyzer's facts, or a coarse
    /// word scan when it has nothing to say.
    fn shell(&mut self, cmd: &str, via: Vec<String>, span: Span) -> R {
        self.check_arg(cmd, span);
        self.shell_facts(cmd, &via, span).map(|_| ())
    }

    /// Adopts the facts of `cmd` as bash; whether the bash analyzer produced
    /// them (`false` when the coarse scan stood in).
    fn shell_facts(&mut self, cmd: &str, via: &[String], span: Span) -> Result<bool, AnalyzeError> {
        let Some(nested) = self.budget.nested() else {
            return Ok(true);
        };
        let facts = match crate::analyze::bash::extract(cmd, &nested) {
            Ok(f) => f,
            Err(AnalyzeError::Timeout) => return Err(AnalyzeError::Timeout),
            Err(_) => Vec::new(),
        };
        if !facts.is_empty() {
            self.adopt(facts, via, span);
            return Ok(true);
        }
        let mut facts = super::shellscan::scan(cmd, span);
        crate::analyze::fact::tag_language(&mut facts, crate::Language::Bash);
        self.adopt(facts, via, span);
        Ok(false)
    }

    // ----- strings -----------------------------------------------------

    /// A string constant anywhere: only sensitive paths and metadata hosts matter.
    fn check_constant(&mut self, s: &str, range: TextRange) {
        if s.len() > 4096 || !tables::worth_checking(s) {
            return;
        }
        let span = self.span(range);
        if tables::is_cloud_metadata(s) {
            self.push(FactKind::String, s, Vec::new(), span);
            self.signal("cloud-metadata", vec![s.to_string()], span);
        }
        if s.starts_with("stratum+") {
            self.push(FactKind::String, s, Vec::new(), span);
        }
        if !s.contains(char::is_whitespace) && tables::is_sensitive_path(s) {
            self.push(FactKind::String, s, Vec::new(), span);
            self.signal("sensitive-path", vec![s.to_string()], span);
        }
    }

    /// A constant argument of a call that matters: a String fact, and its
    /// words checked for sensitive paths and metadata hosts.
    fn check_arg(&mut self, s: &str, span: Span) {
        if s.is_empty() || s.len() > ARG_MAX {
            return;
        }
        self.push(FactKind::String, s, Vec::new(), span);
        if tables::is_cloud_metadata(s) {
            self.signal("cloud-metadata", vec![s.to_string()], span);
        }
        for word in s.split(|c: char| {
            c.is_whitespace()
                || matches!(
                    c,
                    '"' | '\'' | '<' | '>' | ';' | '|' | '&' | '=' | '(' | ')' | '`'
                )
        }) {
            if !word.is_empty() && tables::is_sensitive_path(word) {
                if word != s {
                    self.push(FactKind::String, word, Vec::new(), span);
                }
                self.signal("sensitive-path", vec![word.to_string()], span);
            }
        }
    }

    // ----- environment -------------------------------------------------

    fn is_environ(&self, e: &Expr) -> bool {
        matches!(&e, Expr::Attribute(_) | Expr::Name(_))
            && self
                .resolve(e)
                .is_some_and(|s| s.qual == "os.environ" || s.qual == "os.environb")
    }

    // ----- resolution --------------------------------------------------

    fn resolve(&self, e: &Expr) -> Option<Sym> {
        self.resolve_in(e, 0)
    }

    fn resolve_in(&self, e: &Expr, d: usize) -> Option<Sym> {
        if d > FOLD_DEPTH {
            return None;
        }
        match e {
            Expr::Name(n) => self.resolve_name(n.id.as_str()),
            Expr::Attribute(a) => {
                let base = self.resolve_in(&a.value, d + 1)?;
                let kind = if base.kind == Kind::Instance {
                    Kind::Instance
                } else {
                    Kind::Member
                };
                let qual = normalize(&format!("{}.{}", base.qual, a.attr));
                Some(Sym {
                    qual,
                    kind,
                    args: base.args,
                    taint: base.taint,
                })
            }
            Expr::Call(c) => self.resolve_call(c, d),
            Expr::Subscript(s) => {
                let base = self.resolve_in(&s.value, d + 1)?;
                let key = self
                    .fold_in(&s.slice, d + 1, &[])
                    .and_then(|f| f.val.text().map(str::to_string));
                match (base.qual.as_str(), key) {
                    ("sys.modules", Some(k)) => Some(module_sym(&k)),
                    ("<globals>", Some(k)) => {
                        self.frames.first().and_then(|f| match f.vars.get(&k) {
                            Some(Binding::Sym(s)) => Some(s.clone()),
                            Some(_) => None,
                            None => self.resolve_name(&k),
                        })
                    }
                    ("builtins", Some(k)) => Some(member(&k)),
                    (q, Some(k)) if q.ends_with(".__dict__") => Some(member(&normalize(&format!(
                        "{}.{k}",
                        q.trim_end_matches(".__dict__")
                    )))),
                    _ if base.kind == Kind::Instance && base.taint.is_some() => Some(Sym {
                        qual: format!("{}[]", base.qual),
                        ..base
                    }),
                    _ => None,
                }
            }
            Expr::NamedExpr(n) => self.resolve_in(&n.value, d + 1),
            Expr::BinOp(b) if b.op == ast::Operator::Div => {
                let base = self.resolve_in(&b.left, d + 1)?;
                if base.kind != Kind::Instance || !base.qual.starts_with("pathlib.") {
                    return None;
                }
                let path = self
                    .fold_in(e, d + 1, &[])
                    .and_then(|f| f.val.text().map(str::to_string));
                Some(Sym {
                    args: path.into_iter().collect(),
                    ..base
                })
            }
            _ => None,
        }
    }

    fn resolve_name(&self, name: &str) -> Option<Sym> {
        match self.lookup(name) {
            Some(Binding::Sym(s)) => return Some(s.clone()),
            Some(_) => return None,
            None => {}
        }
        if name == "__builtins__" {
            return Some(module_sym("builtins"));
        }
        if tables::is_builtin(name) {
            return Some(member(name));
        }
        let star = match self.stars.as_slice() {
            [] => None,
            [only] => Some(only.clone()),
            many => many
                .iter()
                .rev()
                .find(|m| tables::star_exports(m).contains(&name))
                .cloned(),
        }?;
        Some(member(&format!("{star}.{name}")))
    }

    fn resolve_call(&self, c: &ast::ExprCall, d: usize) -> Option<Sym> {
        let f = self.resolve_in(&c.func, d + 1)?;
        let q = f.qual.as_str();
        let text_arg = |i: usize| {
            c.args
                .get(i)
                .and_then(|a| self.fold_in(a, d + 1, &[]))
                .and_then(|f| f.val.text().map(str::to_string))
        };
        match q {
            "__import__" => {
                let name = text_arg(0)?;
                let fromlist = c.args.get(3).is_some() || Self::kwarg(c, "fromlist").is_some();
                let top = if fromlist {
                    name
                } else {
                    name.split('.').next().unwrap_or(&name).to_string()
                };
                Some(module_sym(&top))
            }
            "importlib.import_module" | "importlib.__import__" => Some(module_sym(&text_arg(0)?)),
            "getattr" => {
                let base = self.resolve_in(c.args.first()?, d + 1)?;
                let name = text_arg(1)?;
                let kind = if base.kind == Kind::Instance {
                    Kind::Instance
                } else {
                    Kind::Member
                };
                Some(Sym {
                    qual: normalize(&format!("{}.{name}", base.qual)),
                    kind,
                    ..base
                })
            }
            "globals" | "locals" if c.args.is_empty() => Some(module_sym("<globals>")),
            "vars" => {
                let base = self.resolve_in(c.args.first()?, d + 1)?;
                Some(Sym {
                    qual: format!("{}.__dict__", base.qual),
                    kind: Kind::Member,
                    ..base
                })
            }
            _ => {
                let mut taint = f.taint.or_else(|| tables::network_source(q));
                if taint.is_none() && tables::is_decoder(q) {
                    taint = c
                        .args
                        .first()
                        .and_then(|a| self.taint_of(a, d + 1))
                        .or(Some(Taint::Decoded));
                }
                let args = if f.kind == Kind::Instance {
                    f.args.clone()
                } else {
                    c.args
                        .iter()
                        .take(4)
                        .filter_map(|a| self.fold_in(a, d + 1, &[]))
                        .filter_map(|f| f.val.text().map(str::to_string))
                        .collect()
                };
                Some(Sym {
                    qual: f.qual.clone(),
                    kind: Kind::Instance,
                    args,
                    taint,
                })
            }
        }
    }

    /// Where the data in `e` came from, if from the network, a socket or an unrecoverable decoder.
    fn taint_of(&self, e: &Expr, d: usize) -> Option<Taint> {
        if d > FOLD_DEPTH {
            return None;
        }
        if let Expr::Name(n) = e {
            return match self.lookup(n.id.as_str()) {
                Some(Binding::Sym(s)) => s.taint,
                Some(Binding::Taint(t)) => Some(*t),
                _ => None,
            };
        }
        if let Some(s) = self.resolve_in(e, d + 1) {
            if s.taint.is_some() {
                return s.taint;
            }
        }
        let kids: Vec<&Expr> = match e {
            Expr::Call(c) => std::iter::once(&*c.func).chain(c.args.iter()).collect(),
            Expr::Attribute(a) => vec![&a.value],
            Expr::Subscript(s) => vec![&s.value],
            Expr::BinOp(b) => vec![&b.left, &b.right],
            Expr::JoinedStr(j) => j.values.iter().collect(),
            Expr::FormattedValue(f) => vec![&f.value],
            Expr::List(l) => l.elts.iter().collect(),
            Expr::Tuple(t) => t.elts.iter().collect(),
            Expr::Await(a) => vec![&a.value],
            _ => Vec::new(),
        };
        kids.into_iter().find_map(|k| self.taint_of(k, d + 1))
    }

    // ----- folding -----------------------------------------------------

    pub fn fold(&self, e: &Expr) -> Option<Folded> {
        self.fold_in(e, 0, &[])
    }

    fn limit(&self) -> usize {
        self.budget.max_payload_bytes
    }

    fn checked(&self, f: Folded) -> Option<Folded> {
        (f.val.size() <= self.limit()).then_some(f)
    }

    fn fold_in(&self, e: &Expr, d: usize, vars: &[(&str, Val)]) -> Option<Folded> {
        if d > FOLD_DEPTH {
            return None;
        }
        let d = d + 1;
        let r = match e {
            Expr::Constant(c) => Folded::plain(constant(&c.value)?),
            Expr::Name(n) => {
                if let Some((_, v)) = vars.iter().rev().find(|(k, _)| *k == n.id.as_str()) {
                    return Some(Folded::plain(v.clone()));
                }
                match self.lookup(n.id.as_str())? {
                    Binding::Const(f) => f.clone(),
                    _ => return None,
                }
            }
            Expr::JoinedStr(j) => {
                let mut out = Folded::plain(Val::Str(String::new()));
                let mut s = String::new();
                for v in &j.values {
                    match v {
                        Expr::Constant(c) => s.push_str(constant(&c.value)?.text()?),
                        Expr::FormattedValue(fv) => {
                            if fv.format_spec.is_some() {
                                return None;
                            }
                            let inner = self.fold_in(&fv.value, d, vars)?;
                            s.push_str(&inner.val.display()?);
                            out.absorb(&inner);
                            out.assembled = true;
                        }
                        _ => return None,
                    }
                    if s.len() > self.limit() {
                        return None;
                    }
                }
                out.val = Val::Str(s);
                out
            }
            Expr::List(ast::ExprList { elts, .. })
            | Expr::Tuple(ast::ExprTuple { elts, .. })
            | Expr::Set(ast::ExprSet { elts, .. }) => {
                if elts.len() > self.limit() {
                    return None;
                }
                let mut out = Folded::plain(Val::None);
                let mut items = Vec::with_capacity(elts.len());
                for x in elts {
                    let f = self.fold_in(x, d, vars)?;
                    out.absorb(&f);
                    items.push(f.val);
                }
                out.val = Val::Seq(items);
                out
            }
            Expr::BinOp(_) => self.fold_binop(e, d, vars)?,
            Expr::UnaryOp(u) => {
                let f = self.fold_in(&u.operand, d, vars)?;
                let val = match (u.op, &f.val) {
                    (ast::UnaryOp::USub, Val::Int(i)) => Val::Int(i.checked_neg()?),
                    (ast::UnaryOp::UAdd, Val::Int(i)) => Val::Int(*i),
                    (ast::UnaryOp::Invert, Val::Int(i)) => Val::Int(!i),
                    (ast::UnaryOp::Not, v) => Val::Bool(!v.truthy()),
                    _ => return None,
                };
                Folded { val, ..f }
            }
            Expr::IfExp(i) => {
                let t = self.fold_in(&i.test, d, vars)?;
                if t.val.truthy() {
                    self.fold_in(&i.body, d, vars)?
                } else {
                    self.fold_in(&i.orelse, d, vars)?
                }
            }
            Expr::Subscript(s) => self.fold_subscript(s, d, vars)?,
            Expr::Call(c) => self.fold_call(c, d, vars)?,
            Expr::ListComp(c) => self.fold_comp(&c.elt, &c.generators, d, vars)?,
            Expr::GeneratorExp(c) => self.fold_comp(&c.elt, &c.generators, d, vars)?,
            Expr::NamedExpr(n) => self.fold_in(&n.value, d, vars)?,
            Expr::Attribute(_) => {
                let s = self.resolve_in(e, d)?;
                match s.qual.as_str() {
                    "os.sep" => Folded::plain(Val::Str("/".into())),
                    "stat.S_ISUID" => Folded::plain(Val::Int(0o4000)),
                    "stat.S_ISGID" => Folded::plain(Val::Int(0o2000)),
                    "sys.executable" => Folded::plain(Val::Str("python3".into())),
                    _ => return None,
                }
            }
            _ => return None,
        };
        self.checked(r)
    }

    fn fold_binop(&self, e: &Expr, d: usize, vars: &[(&str, Val)]) -> Option<Folded> {
        // Flatten a left-leaning chain of one operator to avoid deep recursion.
        let Expr::BinOp(top) = e else { return None };
        let op = top.op;
        let mut rights = Vec::new();
        let mut cur = e;
        while let Expr::BinOp(b) = cur {
            if b.op != op || rights.len() > self.limit() {
                break;
            }
            rights.push(&*b.right);
            cur = &b.left;
        }
        let mut acc = self.fold_in(cur, d, vars)?;
        for r in rights.into_iter().rev() {
            let rhs = self.fold_in(r, d, vars)?;
            acc = self.binop_vals(&acc, op, &rhs)?;
        }
        Some(acc)
    }

    fn binop_vals(&self, l: &Folded, op: ast::Operator, r: &Folded) -> Option<Folded> {
        use ast::Operator as O;
        let limit = self.limit();
        let mut out = l.clone();
        out.absorb(r);
        let val = match (op, &l.val, &r.val) {
            (O::Add, Val::Str(a), Val::Str(b)) => {
                out.assembled = true;
                if a.len() + b.len() > limit {
                    return None;
                }
                Val::Str(format!("{a}{b}"))
            }
            (O::Add, Val::Bytes(a), Val::Bytes(b)) => {
                out.assembled = true;
                if a.len() + b.len() > limit {
                    return None;
                }
                Val::Bytes([a.as_slice(), b.as_slice()].concat())
            }
            (O::Add, Val::Seq(a), Val::Seq(b)) => Val::Seq([a.as_slice(), b.as_slice()].concat()),
            (O::Mult, Val::Str(_) | Val::Bytes(_) | Val::Seq(_), Val::Int(n))
            | (O::Mult, Val::Int(n), Val::Str(_) | Val::Bytes(_) | Val::Seq(_)) => {
                let seq = if matches!(l.val, Val::Int(_)) {
                    &r.val
                } else {
                    &l.val
                };
                let n = usize::try_from(*n).unwrap_or(0);
                if seq.size().checked_mul(n)? > limit {
                    return None;
                }
                out.assembled = true;
                match seq {
                    Val::Str(s) => Val::Str(s.repeat(n)),
                    Val::Bytes(b) => Val::Bytes(b.repeat(n)),
                    Val::Seq(v) => Val::Seq(v.iter().cycle().take(v.len() * n).cloned().collect()),
                    _ => return None,
                }
            }
            (O::Mod, Val::Str(fmt), args) => {
                out.assembled = true;
                let list = match args {
                    Val::Seq(v) => v.clone(),
                    other => vec![other.clone()],
                };
                Val::Str(fold::percent_format(fmt, &list, limit)?)
            }
            (O::Div, Val::Str(a), Val::Str(b)) => {
                out.assembled = true;
                Val::Str(fold::path_join(&[a.clone(), b.clone()]))
            }
            (op, Val::Int(a), Val::Int(b)) => Val::Int(match op {
                O::Add => a.checked_add(*b)?,
                O::Sub => a.checked_sub(*b)?,
                O::Mult => a.checked_mul(*b)?,
                O::FloorDiv => a.checked_div_euclid(*b)?,
                O::Mod => a.checked_rem_euclid(*b)?,
                O::Pow => a.checked_pow(u32::try_from(*b).ok()?)?,
                O::BitXor => a ^ b,
                O::BitOr => a | b,
                O::BitAnd => a & b,
                O::LShift => a.checked_shl(u32::try_from(*b).ok()?)?,
                O::RShift => a.checked_shr(u32::try_from(*b).ok()?)?,
                _ => return None,
            }),
            _ => return None,
        };
        out.val = val;
        self.checked(out)
    }

    fn fold_subscript(
        &self,
        s: &ast::ExprSubscript,
        d: usize,
        vars: &[(&str, Val)],
    ) -> Option<Folded> {
        if let Some(base) = self.resolve_in(&s.value, d) {
            let key = self.fold_in(&s.slice, d, vars)?;
            return match (base.qual.as_str(), key.val.text()?) {
                ("os.environ", "HOME") => Some(Folded::plain(Val::Str("~".into()))),
                _ => None,
            };
        }
        let mut v = self.fold_in(&s.value, d, vars)?;
        match &*s.slice {
            Expr::Slice(sl) => {
                let int = |x: &Option<Box<Expr>>| -> Option<Option<i64>> {
                    match x {
                        None => Some(None),
                        Some(e) => match self.fold_in(e, d, vars)?.val {
                            Val::Int(i) => Some(Some(i)),
                            Val::None => Some(None),
                            _ => None,
                        },
                    }
                };
                let (lo, hi, st) = (int(&sl.lower)?, int(&sl.upper)?, int(&sl.step)?);
                if st.is_some_and(|s| s != 1) {
                    v.obfuscated = true;
                }
                v.val = fold::slice(&v.val, lo, hi, st)?;
            }
            other => match self.fold_in(other, d, vars)?.val {
                Val::Int(i) => v.val = fold::index(&v.val, i)?,
                _ => return None,
            },
        }
        Some(v)
    }

    fn fold_comp(
        &self,
        elt: &Expr,
        gens: &[ast::Comprehension],
        d: usize,
        vars: &[(&str, Val)],
    ) -> Option<Folded> {
        let [g] = gens else { return None };
        let Expr::Name(target) = &g.target else {
            return None;
        };
        let src = self.fold_in(&g.iter, d, vars)?;
        let items = src.val.iter_items()?;
        let mut out = Folded {
            val: Val::None,
            ..src.clone()
        };
        out.obfuscated = true;
        let mut vals = Vec::with_capacity(items.len());
        let mut scope: Vec<(&str, Val)> = vars.to_vec();
        scope.push((target.id.as_str(), Val::None));
        let last = scope.len() - 1;
        for item in items {
            scope[last].1 = item;
            if !g.ifs.is_empty() {
                let keep = g
                    .ifs
                    .iter()
                    .map(|c| self.fold_in(c, d, &scope).map(|f| f.val.truthy()))
                    .collect::<Option<Vec<bool>>>()?;
                if keep.contains(&false) {
                    continue;
                }
            }
            let f = self.fold_in(elt, d, &scope)?;
            out.absorb(&f);
            vals.push(f.val);
        }
        out.val = Val::Seq(vals);
        self.checked(out)
    }

    fn fold_call(&self, c: &ast::ExprCall, d: usize, vars: &[(&str, Val)]) -> Option<Folded> {
        // Methods on constants: 'x'.join(...), b'..'.decode(), '..'.format(...).
        if let Expr::Attribute(a) = &*c.func {
            if let Some(recv) = self.fold_in(&a.value, d, vars) {
                return self.fold_method(recv, a.attr.as_str(), c, d, vars);
            }
        }
        let sym = self.resolve_in(&c.func, d)?;
        let q = sym.qual.as_str();
        let arg = |i: usize| c.args.get(i).and_then(|a| self.fold_in(a, d, vars));
        let text = |i: usize| arg(i).and_then(|f| f.val.text().map(str::to_string));
        let bytes_of = |f: &Folded| f.val.bytes().map(<[u8]>::to_vec);
        let decoded = |f: Folded, out: Vec<u8>, step: &str| {
            let mut r = f;
            r.steps.insert(0, step.to_string());
            r.val = Val::Bytes(out);
            Some(r)
        };
        let r = match q {
            "chr" => match arg(0)? {
                Folded {
                    val: Val::Int(i), ..
                } => Folded {
                    val: Val::Str(char::from_u32(u32::try_from(i).ok()?)?.to_string()),
                    steps: Vec::new(),
                    assembled: false,
                    obfuscated: true,
                },
                _ => return None,
            },
            "ord" => {
                let f = arg(0)?;
                let mut chars = f.val.text()?.chars();
                let ch = chars.next()?;
                if chars.next().is_some() {
                    return None;
                }
                Folded {
                    val: Val::Int(i64::from(u32::from(ch))),
                    ..f
                }
            }
            "str" => {
                let f = arg(0)?;
                match (&f.val, c.args.len()) {
                    (Val::Bytes(b), n) if n >= 2 => Folded {
                        val: Val::Str(String::from_utf8(b.clone()).ok()?),
                        ..f
                    },
                    (v, 1) => Folded {
                        val: Val::Str(v.display()?),
                        ..f
                    },
                    _ => return None,
                }
            }
            "bytes" | "bytearray" => {
                let f = arg(0)?;
                let val = match &f.val {
                    Val::Str(s) if c.args.len() >= 2 => Val::Bytes(s.as_bytes().to_vec()),
                    Val::Bytes(b) => Val::Bytes(b.clone()),
                    Val::Seq(items) => Val::Bytes(
                        items
                            .iter()
                            .map(|i| match i {
                                Val::Int(n) => u8::try_from(*n).ok(),
                                _ => None,
                            })
                            .collect::<Option<Vec<u8>>>()?,
                    ),
                    _ => return None,
                };
                Folded {
                    val,
                    obfuscated: f.obfuscated || matches!(f.val, Val::Seq(_)),
                    ..f
                }
            }
            "int" => {
                let f = arg(0)?;
                let base = match arg(1) {
                    Some(Folded {
                        val: Val::Int(b), ..
                    }) => u32::try_from(b).ok()?,
                    None => 10,
                    _ => return None,
                };
                match &f.val {
                    Val::Str(s) => {
                        let t = s.trim();
                        let t = if base == 16 {
                            t.trim_start_matches("0x")
                        } else if base == 8 {
                            t.trim_start_matches("0o")
                        } else {
                            t
                        };
                        Folded {
                            val: Val::Int(i64::from_str_radix(t, base).ok()?),
                            ..f
                        }
                    }
                    Val::Int(i) => Folded {
                        val: Val::Int(*i),
                        ..f
                    },
                    _ => return None,
                }
            }
            "reversed" => {
                let f = arg(0)?;
                let mut items = f.val.iter_items()?;
                items.reverse();
                Folded {
                    val: Val::Seq(items),
                    obfuscated: true,
                    ..f
                }
            }
            "list" | "tuple" => {
                let f = arg(0)?;
                Folded {
                    val: Val::Seq(f.val.iter_items()?),
                    ..f
                }
            }
            "map" => {
                let src = arg(1)?;
                let items = src.val.iter_items()?;
                let mut out = Folded {
                    val: Val::None,
                    obfuscated: true,
                    ..src.clone()
                };
                let mut vals = Vec::with_capacity(items.len());
                match c.args.first()? {
                    Expr::Lambda(l) => {
                        let [p] = l.args.args.as_slice() else {
                            return None;
                        };
                        for item in items {
                            let scope = [vars, &[(p.def.arg.as_str(), item)]].concat();
                            let f = self.fold_in(&l.body, d, &scope)?;
                            out.absorb(&f);
                            vals.push(f.val);
                        }
                    }
                    func => {
                        let fname = self.resolve_in(func, d)?.qual;
                        for item in items {
                            vals.push(match (fname.as_str(), item) {
                                ("chr", Val::Int(i)) => {
                                    Val::Str(char::from_u32(u32::try_from(i).ok()?)?.to_string())
                                }
                                ("str", v) => Val::Str(v.display()?),
                                ("int", Val::Str(s)) => Val::Int(s.trim().parse().ok()?),
                                ("ord", Val::Str(s)) => {
                                    Val::Int(i64::from(u32::from(s.chars().next()?)))
                                }
                                _ => return None,
                            });
                        }
                    }
                }
                out.val = Val::Seq(vals);
                out
            }
            "base64.b64decode"
            | "base64.standard_b64decode"
            | "base64.decodebytes"
            | "base64.decodestring"
            | "binascii.a2b_base64" => {
                let f = arg(0)?;
                let out = fold::b64decode(&bytes_of(&f)?, false)?;
                decoded(f, out, q)?
            }
            "base64.urlsafe_b64decode" => {
                let f = arg(0)?;
                let out = fold::b64decode(&bytes_of(&f)?, true)?;
                decoded(f, out, q)?
            }
            "base64.b32decode" => {
                let f = arg(0)?;
                let out = fold::b32decode(&bytes_of(&f)?)?;
                decoded(f, out, q)?
            }
            "base64.b16decode" | "binascii.unhexlify" | "binascii.a2b_hex" | "bytes.fromhex"
            | "bytearray.fromhex" => {
                let f = arg(0)?;
                let out = fold::hexdecode(&bytes_of(&f)?)?;
                decoded(f, out, q)?
            }
            "base64.a85decode" => {
                let f = arg(0)?;
                let out = fold::a85decode(&bytes_of(&f)?)?;
                decoded(f, out, q)?
            }
            "base64.b85decode" => {
                let f = arg(0)?;
                let out = fold::b85decode(&bytes_of(&f)?)?;
                decoded(f, out, q)?
            }
            "codecs.decode" | "codecs.encode" => {
                let f = arg(0)?;
                let codec = text(1).unwrap_or_else(|| "utf-8".into());
                self.codec(f, &codec, q == "codecs.decode")?
            }
            "os.path.join"
            | "posixpath.join"
            | "pathlib.Path"
            | "pathlib.PosixPath"
            | "pathlib.PurePath"
            | "pathlib.PurePosixPath" => {
                let mut out = Folded::plain(Val::None);
                let mut parts = Vec::new();
                for a in &c.args {
                    let f = self.fold_in(a, d, vars)?;
                    parts.push(f.val.text()?.to_string());
                    out.absorb(&f);
                }
                out.val = Val::Str(fold::path_join(&parts));
                out
            }
            "os.path.expanduser" | "os.path.expandvars" | "os.path.abspath"
            | "os.path.normpath" | "os.path.realpath" | "os.fsencode" | "os.fsdecode" => arg(0)?,
            "pathlib.Path.home" | "pathlib.Path.home.__str__" => {
                Folded::plain(Val::Str("~".into()))
            }
            "os.getenv" | "os.environ.get" => match text(0)?.as_str() {
                "HOME" => Folded::plain(Val::Str("~".into())),
                _ => return None,
            },
            _ => return None,
        };
        self.checked(r)
    }

    fn codec(&self, f: Folded, codec: &str, decode: bool) -> Option<Folded> {
        let codec = codec.to_ascii_lowercase().replace('-', "_");
        let mut r = f;
        match codec.as_str() {
            "rot13" | "rot_13" => {
                let t = r.val.text()?.to_string();
                r.val = Val::Str(fold::rot13(&t));
                r.steps.insert(0, "codecs.rot13".into());
            }
            "hex" | "hex_codec" if decode => {
                r.val = Val::Bytes(fold::hexdecode(r.val.bytes()?)?);
                r.steps.insert(0, "codecs.hex".into());
            }
            "base64" | "base64_codec" | "base_64" if decode => {
                r.val = Val::Bytes(fold::b64decode(r.val.bytes()?, false)?);
                r.steps.insert(0, "codecs.base64".into());
            }
            "utf_8" | "utf8" | "ascii" | "latin_1" | "latin1" | "u8" => {
                r.val = if decode {
                    Val::Str(String::from_utf8(r.val.bytes()?.to_vec()).ok()?)
                } else {
                    Val::Bytes(r.val.bytes()?.to_vec())
                };
            }
            _ => return None,
        }
        Some(r)
    }

    fn fold_method(
        &self,
        recv: Folded,
        method: &str,
        c: &ast::ExprCall,
        d: usize,
        vars: &[(&str, Val)],
    ) -> Option<Folded> {
        let arg = |i: usize| c.args.get(i).and_then(|a| self.fold_in(a, d, vars));
        let mut out = recv.clone();
        let val = match (method, &recv.val) {
            ("join", Val::Str(_) | Val::Bytes(_)) if c.args.len() == 1 => {
                let f = arg(0)?;
                out.absorb(&f);
                out.assembled = true;
                let items = f.val.iter_items()?;
                match &recv.val {
                    Val::Bytes(sepb) => {
                        let parts: Vec<&[u8]> =
                            items.iter().map(Val::bytes).collect::<Option<_>>()?;
                        Val::Bytes(parts.join(sepb.as_slice()))
                    }
                    _ => {
                        let parts: Vec<&str> = items
                            .iter()
                            .map(|i| match i {
                                Val::Str(s) => Some(s.as_str()),
                                _ => None,
                            })
                            .collect::<Option<_>>()?;
                        Val::Str(parts.join(recv.val.text().unwrap_or_default()))
                    }
                }
            }
            ("format", Val::Str(fmt)) => {
                let mut args = Vec::new();
                for a in &c.args {
                    let f = self.fold_in(a, d, vars)?;
                    out.absorb(&f);
                    args.push(f.val);
                }
                let mut kwargs = Vec::new();
                for k in &c.keywords {
                    let f = self.fold_in(&k.value, d, vars)?;
                    out.absorb(&f);
                    kwargs.push((k.arg.as_ref()?.to_string(), f.val));
                }
                out.assembled = true;
                Val::Str(fold::brace_format(fmt, &args, &kwargs, self.limit())?)
            }
            ("decode", Val::Bytes(_)) | ("encode", Val::Str(_)) => {
                let codec = arg(0)
                    .and_then(|f| f.val.text().map(str::to_string))
                    .unwrap_or_else(|| "utf-8".into());
                return self.codec(recv, &codec, method == "decode");
            }
            ("replace", Val::Str(s)) => {
                let (a, b) = (arg(0)?, arg(1)?);
                out.obfuscated = true;
                let r = s.replace(a.val.text()?, b.val.text()?);
                if r.len() > self.limit() {
                    return None;
                }
                Val::Str(r)
            }
            ("replace", Val::Bytes(bs)) => {
                let (a, b) = (arg(0)?, arg(1)?);
                out.obfuscated = true;
                let s = String::from_utf8(bs.clone()).ok()?;
                let r = s.replace(a.val.text()?, b.val.text()?);
                if r.len() > self.limit() {
                    return None;
                }
                Val::Bytes(r.into_bytes())
            }
            ("upper", Val::Str(s)) => Val::Str(s.to_uppercase()),
            ("lower", Val::Str(s)) => Val::Str(s.to_lowercase()),
            ("swapcase", Val::Str(s)) => {
                out.obfuscated = true;
                Val::Str(
                    s.chars()
                        .map(|ch| {
                            if ch.is_uppercase() {
                                ch.to_lowercase().next().unwrap_or(ch)
                            } else {
                                ch.to_uppercase().next().unwrap_or(ch)
                            }
                        })
                        .collect(),
                )
            }
            ("strip", Val::Str(s)) => Val::Str(s.trim().to_string()),
            ("lstrip", Val::Str(s)) => Val::Str(s.trim_start().to_string()),
            ("rstrip", Val::Str(s)) => Val::Str(s.trim_end().to_string()),
            ("split", Val::Str(s)) => match arg(0) {
                Some(sep) => Val::Seq(
                    s.split(sep.val.text()?)
                        .map(|p| Val::Str(p.to_string()))
                        .collect(),
                ),
                None => Val::Seq(
                    s.split_whitespace()
                        .map(|p| Val::Str(p.to_string()))
                        .collect(),
                ),
            },
            ("hex", Val::Bytes(b)) => Val::Str(hex::encode(b)),
            _ => return None,
        };
        out.val = val;
        self.checked(out)
    }
}

/// `'word'` with embedded quotes escaped, for rebuilding a command line from an argv.
fn shell_quote(a: &str) -> String {
    if !a.is_empty()
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c))
    {
        return a.to_string();
    }
    format!("'{}'", a.replace('\'', "'\\''"))
}

fn constant(c: &Constant) -> Option<Val> {
    Some(match c {
        Constant::Str(s) => Val::Str(s.clone()),
        Constant::Bytes(b) => Val::Bytes(b.clone()),
        Constant::Int(i) => Val::Int(i.to_string().parse().ok()?),
        Constant::Bool(b) => Val::Bool(*b),
        Constant::None => Val::None,
        Constant::Float(f) => Val::Float(*f),
        Constant::Tuple(items) => Val::Seq(items.iter().map(constant).collect::<Option<_>>()?),
        Constant::Complex { .. } | Constant::Ellipsis => return None,
    })
}

fn module(name: &str) -> Binding {
    Binding::Sym(module_sym(name))
}

fn module_sym(name: &str) -> Sym {
    Sym {
        qual: name.to_string(),
        kind: Kind::Module,
        args: Vec::new(),
        taint: None,
    }
}

fn member(qual: &str) -> Sym {
    Sym {
        qual: qual.to_string(),
        kind: Kind::Member,
        args: Vec::new(),
        taint: None,
    }
}

/// Canonical spelling of a qualified name: builtins reached through the
/// `builtins` module are their bare name; `sys.modules['x']` is `x`.
fn normalize(q: &str) -> String {
    if let Some(rest) = q.strip_prefix("builtins.") {
        if !rest.contains('.') && rest != "__dict__" {
            return rest.to_string();
        }
    }
    if let Some(rest) = q.strip_prefix("sys.modules.") {
        return rest.to_string();
    }
    q.to_string()
}

/// Whether a loop body can end the loop: `break` at this level, or any
/// `return`/`raise`/`sys.exit`.
fn has_exit(body: &[Stmt], d: usize) -> bool {
    if d > 64 {
        return true;
    }
    body.iter().any(|s| match s {
        Stmt::Break(_) => true,
        Stmt::Return(_) | Stmt::Raise(_) => true,
        Stmt::Expr(e) => is_exit_call(&e.value),
        Stmt::If(i) => has_exit(&i.body, d) || has_exit(&i.orelse, d),
        Stmt::Try(t) => {
            has_exit(&t.body, d)
                || has_exit(&t.orelse, d)
                || has_exit(&t.finalbody, d)
                || t.handlers.iter().any(|h| {
                    let ast::ExceptHandler::ExceptHandler(h) = h;
                    has_exit(&h.body, d)
                })
        }
        Stmt::With(w) => has_exit(&w.body, d),
        Stmt::Match(m) => m.cases.iter().any(|c| has_exit(&c.body, d)),
        // A break inside a nested loop ends that loop, not this one.
        Stmt::For(f) => has_exit_nested(&f.body, d + 1),
        Stmt::While(w) => has_exit_nested(&w.body, d + 1),
        _ => false,
    })
}

fn has_exit_nested(body: &[Stmt], d: usize) -> bool {
    if d > 64 {
        return true;
    }
    body.iter().any(|s| match s {
        Stmt::Return(_) | Stmt::Raise(_) => true,
        Stmt::Expr(e) => is_exit_call(&e.value),
        Stmt::If(i) => has_exit_nested(&i.body, d) || has_exit_nested(&i.orelse, d),
        Stmt::For(f) => has_exit_nested(&f.body, d + 1),
        Stmt::While(w) => has_exit_nested(&w.body, d + 1),
        Stmt::With(w) => has_exit_nested(&w.body, d),
        Stmt::Try(t) => has_exit_nested(&t.body, d),
        _ => false,
    })
}

fn is_exit_call(e: &Expr) -> bool {
    let Expr::Call(c) = e else { return false };
    match &*c.func {
        Expr::Name(n) => matches!(n.id.as_str(), "exit" | "quit"),
        Expr::Attribute(a) => matches!(a.attr.as_str(), "exit" | "_exit"),
        _ => false,
    }
}
