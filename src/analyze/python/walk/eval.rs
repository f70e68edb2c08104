//! Constant folding of expressions: literals, names bound to constants,
//! operators, subscripts and comprehensions, to a [`Folded`] value. The
//! value operations themselves live in `python/fold.rs`.
//!
//! What it must not do: recurse past `FOLD_DEPTH` or build values over
//! the budget's limit (`checked`).

use super::{Binding, Folded, Walker, FOLD_DEPTH};
use crate::analyze::python::fold::{self, Val};
use rustpython_parser::ast::{self, Constant, Expr};

impl<'a> Walker<'a> {
    pub fn fold(&self, e: &Expr) -> Option<Folded> {
        self.fold_in(e, 0, &[])
    }

    pub(super) fn limit(&self) -> usize {
        self.budget.max_value_bytes
    }

    pub(super) fn checked(&self, f: Folded) -> Option<Folded> {
        if f.val.size() <= self.limit() {
            return Some(f);
        }
        self.bounded.set(true);
        None
    }

    pub(super) fn fold_in(&self, e: &Expr, d: usize, vars: &[(&str, Val)]) -> Option<Folded> {
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
                    // A copy out of the environment, paid for before it is made.
                    Binding::Const(f) if self.pay(f.val.size()) => f.clone(),
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

    pub(super) fn fold_binop(&self, e: &Expr, d: usize, vars: &[(&str, Val)]) -> Option<Folded> {
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

    pub(super) fn binop_vals(&self, l: &Folded, op: ast::Operator, r: &Folded) -> Option<Folded> {
        use ast::Operator as O;
        let limit = self.limit();
        let mut out = l.clone();
        out.absorb(r);
        let val = match (op, &l.val, &r.val) {
            (O::Add, Val::Str(a), Val::Str(b)) => {
                out.assembled = true;
                if a.len() + b.len() > limit {
                    self.bounded.set(true);
                    return None;
                }
                Val::Str(format!("{a}{b}"))
            }
            (O::Add, Val::Bytes(a), Val::Bytes(b)) => {
                out.assembled = true;
                if a.len() + b.len() > limit {
                    self.bounded.set(true);
                    return None;
                }
                Val::Bytes([a.as_slice(), b.as_slice()].concat())
            }
            (O::Add, Val::Seq(a), Val::Seq(b)) => {
                if a.len() + b.len() > limit || l.val.size() + r.val.size() > limit {
                    self.bounded.set(true);
                    return None;
                }
                Val::Seq([a.as_slice(), b.as_slice()].concat())
            }
            (O::Mult, Val::Str(_) | Val::Bytes(_) | Val::Seq(_), Val::Int(n))
            | (O::Mult, Val::Int(n), Val::Str(_) | Val::Bytes(_) | Val::Seq(_)) => {
                let seq = if matches!(l.val, Val::Int(_)) {
                    &r.val
                } else {
                    &l.val
                };
                let n = usize::try_from(*n).unwrap_or(0);
                if seq.size().checked_mul(n).is_none_or(|total| total > limit) {
                    self.bounded.set(true);
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

    pub(super) fn fold_subscript(
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

    pub(super) fn fold_comp(
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
}

pub(super) fn constant(c: &Constant) -> Option<Val> {
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
