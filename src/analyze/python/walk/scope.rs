//! Scopes and bindings: the frame stack, name binding and lookup,
//! assignment targets, and function bodies deferred until the enclosing
//! scope is done (as Python runs them).
//!
//! What it must not do: emit facts about sinks (the call files do) or fold
//! values itself (it asks [`Walker::fold`]).

use super::{Binding, Deferred, Frame, Sym, Walker, R};
use crate::analyze::python::fold::Val;
use rustpython_parser::ast::{self, Expr, Stmt};

impl<'a> Walker<'a> {
    pub(super) fn bind(&mut self, name: &str, b: Binding) {
        // A constant kept in a scope is paid for; past the bound the name
        // is bound to something untracked (unknown), not to the value.
        let b = match b {
            Binding::Const(f) if !self.pay(f.val.size()) => Binding::Local,
            other => other,
        };
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

    pub(super) fn lookup(&self, name: &str) -> Option<&Binding> {
        self.frames.iter().rev().find_map(|f| f.vars.get(name))
    }

    pub(super) fn walk_deferred(&mut self, d: Deferred<'a>) -> R {
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

    pub(super) fn defer(
        &mut self,
        name: Option<String>,
        args: &'a ast::Arguments,
        body: &'a [Stmt],
    ) {
        let mut params: Vec<String> = args
            .posonlyargs
            .iter()
            .chain(&args.args)
            .chain(&args.kwonlyargs)
            .map(|a| a.def.arg.to_string())
            .collect();
        params.extend(args.vararg.iter().map(|a| a.arg.to_string()));
        params.extend(args.kwarg.iter().map(|a| a.arg.to_string()));
        // The body sees its enclosing functions' scopes, so they are copied:
        // paid for, or the body sees only the module (the rest unknown).
        let scopes = self.frames.get(1..).unwrap_or_default();
        let cost = scopes
            .iter()
            .flat_map(|f| f.vars.values())
            .map(|b| match b {
                Binding::Const(f) => f.val.size(),
                _ => 0,
            })
            .fold(0usize, usize::saturating_add);
        let outer = if cost == 0 || self.budget.charge(cost) {
            scopes.to_vec()
        } else {
            self.bounded.set(true);
            Vec::new()
        };
        self.pending.push(Deferred {
            name,
            params,
            body,
            outer,
        });
    }

    pub(super) fn walk_arguments(&mut self, args: &'a ast::Arguments) -> R {
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

    /// Binds assignment targets; `value` is the assigned expression when known.
    pub(super) fn assign(&mut self, target: &'a Expr, value: Option<&'a Expr>) -> R {
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

    pub(super) fn binding_of(&self, v: &Expr) -> Binding {
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
}
