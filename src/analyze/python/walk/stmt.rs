//! Statements: the statement walk, imports and their aliases, loops
//! (and whether they can end), `with`, `try` and `match`.
//!
//! What it must not do: judge calls (the call files do) or recurse without
//! counting depth (`enter`/`leave`).

use super::names::module;
use super::{Binding, Frame, Kind, Sym, Walker, R};
use crate::analyze::FactKind;
use rustpython_parser::ast::{self, Constant, Expr, Ranged, Stmt};

impl<'a> Walker<'a> {
    pub(super) fn walk_body(&mut self, body: &'a [Stmt]) -> R {
        for s in body {
            self.walk_stmt(s)?;
        }
        Ok(())
    }

    pub(super) fn walk_stmt(&mut self, s: &'a Stmt) -> R {
        self.enter()?;
        let r = self.walk_stmt_inner(s);
        self.leave();
        if self.bounded.replace(false) {
            let span = self.span(s.range());
            self.report_bound(span);
        }
        r
    }

    pub(super) fn walk_stmt_inner(&mut self, s: &'a Stmt) -> R {
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

    pub(super) fn walk_for(
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
    pub(super) fn endless_iter(&self, iter: &Expr) -> bool {
        let Expr::Call(c) = iter else { return false };
        match self.resolve(&c.func).map(|s| s.qual) {
            Some(q) if q == "iter" => c.args.len() == 2,
            Some(q) if q == "itertools.count" || q == "itertools.cycle" => true,
            Some(q) if q == "itertools.repeat" => c.args.len() == 1 && c.keywords.is_empty(),
            _ => false,
        }
    }

    pub(super) fn walk_with(&mut self, items: &'a [ast::WithItem], body: &'a [Stmt]) -> R {
        for item in items {
            self.walk_expr(&item.context_expr)?;
            if let Some(v) = &item.optional_vars {
                self.assign(v, Some(&item.context_expr))?;
            }
        }
        self.walk_body(body)
    }

    pub(super) fn walk_try(
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

    pub(super) fn walk_pattern(&mut self, p: &'a ast::Pattern) -> R {
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
}

/// Whether a loop body can end the loop: `break` at this level, or any
/// `return`/`raise`/`sys.exit`.
pub(super) fn has_exit(body: &[Stmt], d: usize) -> bool {
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

pub(super) fn has_exit_nested(body: &[Stmt], d: usize) -> bool {
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

pub(super) fn is_exit_call(e: &Expr) -> bool {
    let Expr::Call(c) = e else { return false };
    match &*c.func {
        Expr::Name(n) => matches!(n.id.as_str(), "exit" | "quit"),
        Expr::Attribute(a) => matches!(a.attr.as_str(), "exit" | "_exit"),
        _ => false,
    }
}
