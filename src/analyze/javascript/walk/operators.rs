//! Operators: binary, unary and augmented assignment, with JavaScript's
//! coercions for the values we know, and huge allocations by arithmetic.
//!
//! What it must not do: guess a value it cannot compute (unknown stays
//! unknown).

use super::Walker;
use crate::analyze::javascript::value::{Val, MAX_STR, V};
use tree_sitter::Node;

impl<'t, 'b> Walker<'t, 'b> {
    /// `a + b`, flagging a string result that would pass the size cap.
    fn add_bounded(&self, left: &Val<'t>, right: &Val<'t>) -> Val<'t> {
        let text = |v: &Val<'t>| match &v.v {
            V::Str(s) | V::Partial(s) => s.len(),
            _ => 0,
        };
        if text(left).saturating_add(text(right)) > MAX_STR {
            self.bounded.set(true);
        }
        add(left, right)
    }

    pub(super) fn binary(&mut self, node: Node<'t>) -> Val<'t> {
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
            "+" => self.add_bounded(&left, &right),
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

    pub(super) fn unary(&mut self, node: Node<'t>) -> Val<'t> {
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

    pub(super) fn augmented(&mut self, node: Node<'t>) -> Val<'t> {
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
                self.add_bounded(&cur, &right)
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
}

/// `a + b` in JavaScript for the values we know.
pub(super) fn add<'t>(left: &Val<'t>, right: &Val<'t>) -> Val<'t> {
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

pub(super) fn is_stringish(v: &Val<'_>) -> bool {
    matches!(v.v, V::Str(_) | V::Partial(_))
}
