//! Dynamic code: `exec`/`eval`/`compile` and friends, the decoders that
//! feed them, and payloads (decoded or constant code) analysed
//! recursively as Python, with their facts adopted.
//!
//! What it must not do: recurse without `budget.nested()`.

use super::{Binding, Folded, Walker, FOLD_DEPTH, R};
use crate::analyze::python::fold::Val;
use crate::analyze::python::tables::{self, Taint};
use crate::analyze::{AnalyzeError, Fact, Span};
use rustpython_parser::ast::{self, Expr};

impl<'a> Walker<'a> {
    pub(super) fn code_sink(&mut self, c: &'a ast::ExprCall, q: &str, span: Span) -> R {
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
    pub(super) fn payload(&mut self, code: &str, via: Vec<String>, span: Span, decoded: bool) -> R {
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
        // Re-analysing a payload is folding work: paid for, or skipped.
        if !self.budget.admit(code.len()) {
            self.report_bound(span);
            return Ok(());
        }
        match super::super::extract(code, &nested) {
            Ok(facts) => self.adopt(facts, &via, span),
            Err(AnalyzeError::Timeout) => return Err(AnalyzeError::Timeout),
            Err(_) => self.signal("dynamic-code", vec!["unparseable-payload".into()], span),
        }
        Ok(())
    }

    pub(super) fn adopt(&mut self, facts: Vec<Fact>, via: &[String], span: Span) {
        for mut f in facts {
            let mut chain = via.to_vec();
            chain.append(&mut f.via);
            f.via = chain;
            f.span = span;
            self.facts.push(f);
        }
    }

    /// The decoders applied anywhere inside `e`, outermost first.
    pub(super) fn decoders_in(&self, e: &Expr, d: usize) -> Vec<String> {
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
}
