//! Expressions: the expression walk (operator chains iteratively),
//! comprehensions, constant strings seen on the way, memory-bomb
//! allocations, attribute and subscript reads, reflection on internals.
//!
//! What it must not do: handle calls (see `call.rs`) or fold values
//! (see `eval.rs`).

use super::{Binding, Folded, Frame, Kind, Walker, FOLD_DEPTH, HUGE_ALLOC, R};
use crate::analyze::python::fold::Val;
use crate::analyze::FactKind;
use rustpython_parser::ast::{self, Constant, Expr, Ranged};

impl<'a> Walker<'a> {
    pub(super) fn walk_exprs(&mut self, es: &'a [Expr]) -> R {
        for e in es {
            self.walk_expr(e)?;
        }
        Ok(())
    }

    pub(super) fn walk_expr(&mut self, e: &'a Expr) -> R {
        self.enter()?;
        let r = self.walk_expr_inner(e);
        self.leave();
        r
    }

    pub(super) fn walk_expr_inner(&mut self, e: &'a Expr) -> R {
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

    pub(super) fn walk_comp(&mut self, elts: &[&'a Expr], gens: &'a [ast::Comprehension]) -> R {
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
    pub(super) fn check_huge(&mut self, b: &ast::ExprBinOp) {
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

    pub(super) fn attribute_read(&mut self, a: &ast::ExprAttribute, whole: &Expr) -> R {
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
    pub(super) fn reflection_attr(&mut self, a: &ast::ExprAttribute) {
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

    pub(super) fn subscript_read(&mut self, s: &ast::ExprSubscript, whole: &Expr) {
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
}
