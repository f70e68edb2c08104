//! Constant strings that matter by themselves: sensitive paths, cloud
//! metadata hosts, mining pools; and reads of the environment.
//!
//! What it must not do: keep arbitrarily long strings (bounded by
//! `ARG_MAX` and a 4 KiB check limit).

use super::{Walker, ARG_MAX};
use crate::analyze::python::tables;
use crate::analyze::{FactKind, Span};
use rustpython_parser::ast::Expr;
use rustpython_parser::text_size::TextRange;

impl<'a> Walker<'a> {
    /// A string constant anywhere: only sensitive paths and metadata hosts matter.
    pub(super) fn check_constant(&mut self, s: &str, range: TextRange) {
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
    pub(super) fn check_arg(&mut self, s: &str, span: Span) {
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

    pub(super) fn is_environ(&self, e: &Expr) -> bool {
        matches!(&e, Expr::Attribute(_) | Expr::Name(_))
            && self
                .resolve(e)
                .is_some_and(|s| s.qual == "os.environ" || s.qual == "os.environb")
    }
}
