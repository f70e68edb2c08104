//! Scopes and bindings: the scope stack, declarations and assignments
//! (with hoisting in the first pass), destructuring patterns and assignment
//! targets, including writes to members of tracked objects.
//!
//! What it must not do: emit facts about sinks (the call files do).

use super::Walker;
use crate::analyze::javascript::names::{self, is_sensitive_path};
use crate::analyze::javascript::value::{Val, SELF_MARK, V};
use crate::analyze::FactKind;
use std::collections::HashMap;
use tree_sitter::Node;

impl<'t, 'b> Walker<'t, 'b> {
    pub(super) fn push_scope(&mut self) {
        self.scopes.push(HashMap::new());
    }

    pub(super) fn pop_scope(&mut self) {
        if self.scopes.len() > 1 {
            self.scopes.pop();
        }
    }

    pub(super) fn declare(&mut self, name: &str, val: Option<Val<'t>>) {
        let val = val.map(|v| self.pay_for(v));
        if self.record_hoisted {
            if let Some(v) = &val {
                if !matches!(v.v, V::Unknown) || !v.decoders.is_empty() {
                    self.hoisted.insert(name.to_string(), v.clone());
                }
            }
        }
        if let Some(scope) = self.scopes.last_mut() {
            scope.insert(name.to_string(), val);
        }
    }

    pub(super) fn assign(&mut self, name: &str, val: Val<'t>) {
        let val = self.pay_for(val);
        if self.record_hoisted && (!matches!(val.v, V::Unknown) || !val.decoders.is_empty()) {
            self.hoisted.insert(name.to_string(), val.clone());
        }
        for scope in self.scopes.iter_mut().rev() {
            if let Some(slot) = scope.get_mut(name) {
                *slot = Some(val);
                return;
            }
        }
        if let Some(global) = self.scopes.first_mut() {
            global.insert(name.to_string(), Some(val));
        }
    }

    /// A copy of a bound value, paid for before it is made: copying values
    /// out of the environment is what makes `a = a + a` grow.
    fn copy_out(&self, v: &Val<'t>) -> Val<'t> {
        if self.budget.admit(v.size()) {
            return v.clone();
        }
        self.bounded.set(true);
        Val::unknown().taint_from(v)
    }

    pub(super) fn lookup(&self, name: &str) -> Val<'t> {
        for scope in self.scopes.iter().rev() {
            if let Some(entry) = scope.get(name) {
                return match entry {
                    Some(v) => self.copy_out(v),
                    None => self
                        .hoisted
                        .get(name)
                        .map(|v| self.copy_out(v))
                        .unwrap_or_default(),
                };
            }
        }
        if let Some(v) = self.hoisted.get(name) {
            return self.copy_out(v);
        }
        if names::GLOBAL_OBJECTS.contains(&name) {
            return Val::path("");
        }
        if names::GLOBALS.contains(&name) {
            return Val::path(name);
        }
        match name {
            "__filename" => Val::str(SELF_MARK),
            "__dirname" => Val::str("."),
            "NaN" => Val::of(V::Num(f64::NAN)),
            "Infinity" => Val::of(V::Num(f64::INFINITY)),
            _ => Val::unknown(),
        }
    }

    pub(super) fn bind_pattern(&mut self, pattern: Node<'t>, val: Option<Val<'t>>, declare: bool) {
        match pattern.kind() {
            "identifier" | "shorthand_property_identifier_pattern" => {
                let name = self.text(pattern).to_string();
                if declare {
                    self.declare(&name, val);
                } else {
                    self.assign(&name, val.unwrap_or_default());
                }
            }
            "object_pattern" => {
                let src = val.unwrap_or_default();
                for i in 0..pattern.named_child_count() {
                    let Some(c) = pattern.named_child(i as u32) else {
                        continue;
                    };
                    match c.kind() {
                        "shorthand_property_identifier_pattern" => {
                            let key = self.text(c).to_string();
                            let v = self.destructure_member(&src, &key, c);
                            self.bind_pattern(c, Some(v), declare);
                        }
                        "pair_pattern" => {
                            let key_node = self.field(c, "key");
                            let computed =
                                key_node.is_some_and(|k| k.kind() == "computed_property_name");
                            let key = key_node.and_then(|k| self.property_key(k));
                            let v = match &key {
                                Some(k) => self.destructure_member(&src, k, c),
                                None => Val::unknown(),
                            };
                            if let (true, Some(p)) = (computed, v.as_path()) {
                                if is_sensitive_path(p) {
                                    let p = p.to_string();
                                    self.signal("string-obfuscation", c, vec![p]);
                                }
                            }
                            if let Some(target) = self.field(c, "value") {
                                self.bind_pattern(target, Some(v), declare);
                            }
                        }
                        "object_assignment_pattern" => {
                            let left = self.field(c, "left");
                            let default = self.field(c, "right").map(|r| self.eval(r));
                            if let Some(l) = left {
                                let key = self.text(l).to_string();
                                let mut v = self.destructure_member(&src, &key, c);
                                if matches!(v.v, V::Unknown) {
                                    v = default.unwrap_or_default();
                                }
                                self.bind_pattern(l, Some(v), declare);
                            }
                        }
                        "rest_pattern" => {
                            if src.as_path() == Some("process.env") {
                                self.signal("env-harvest", c, vec!["...process.env".into()]);
                            }
                            if let Some(inner) = c.named_child(0) {
                                self.bind_pattern(inner, Some(Val::unknown()), declare);
                            }
                        }
                        _ => {}
                    }
                }
            }
            "array_pattern" => {
                let src = val.unwrap_or_default();
                let mut idx = 0usize;
                for i in 0..pattern.named_child_count() {
                    let Some(c) = pattern.named_child(i as u32) else {
                        continue;
                    };
                    if c.kind() == "comment" {
                        continue;
                    }
                    let item = match &src.v {
                        V::Arr(items) => items.get(idx).cloned().unwrap_or_default(),
                        V::Str(s) => s
                            .chars()
                            .nth(idx)
                            .map(|ch| Val::str(ch.to_string()))
                            .unwrap_or_default(),
                        _ => Val::unknown(),
                    };
                    if c.kind() == "rest_pattern" {
                        if let Some(inner) = c.named_child(0) {
                            self.bind_pattern(inner, Some(Val::unknown()), declare);
                        }
                    } else {
                        self.bind_pattern(c, Some(item), declare);
                    }
                    idx += 1;
                }
            }
            "assignment_pattern" => {
                let default = self.field(pattern, "right").map(|r| self.eval(r));
                let v = match val {
                    Some(v) if !matches!(v.v, V::Unknown) => Some(v),
                    Some(v) if default.is_none() => Some(v),
                    _ => default,
                };
                if let Some(l) = self.field(pattern, "left") {
                    self.bind_pattern(l, v, declare);
                }
            }
            "rest_pattern" => {
                if let Some(inner) = pattern.named_child(0) {
                    self.bind_pattern(inner, val, declare);
                }
            }
            "member_expression" | "subscript_expression" | "parenthesized_expression" => {
                self.assign_target(pattern, val.unwrap_or_default());
            }
            _ => {}
        }
    }

    /// A member taken by destructuring; reads of module and environment
    /// members are recorded as attributes.
    pub(super) fn destructure_member(
        &mut self,
        src: &Val<'t>,
        key: &str,
        node: Node<'t>,
    ) -> Val<'t> {
        let v = self.member_of(src, key, node);
        if let V::Path(p) = &v.v {
            if !p.is_empty() && !p.contains("()") {
                let p = p.clone();
                self.emit(FactKind::Attribute, p, node, Vec::new());
            }
        }
        v
    }

    pub(super) fn assign_target(&mut self, target: Node<'t>, val: Val<'t>) {
        match target.kind() {
            "identifier" => {
                let name = self.text(target).to_string();
                self.assign(&name, val);
            }
            "member_expression" | "subscript_expression" => {
                let Some(obj_node) = self.field(target, "object") else {
                    return;
                };
                self.no_attr = Some(obj_node.id());
                let obj = self.eval(obj_node);
                let prop = self.member_key(target);
                if let Some((k, _)) = &prop {
                    let builtin_proto = obj.as_path().is_some_and(|p| {
                        p.ends_with(".prototype")
                            && names::GLOBALS.contains(&p.trim_end_matches(".prototype"))
                    });
                    if k == "__proto__"
                        || builtin_proto
                        || (k == "prototype" && obj.as_path().is_some_and(|p| !p.is_empty()))
                    {
                        self.signal("reflection", target, vec![format!("{k} assignment")]);
                    }
                    // Keep simple object bindings current: `o.run = cp.exec; o.run()`.
                    if obj_node.kind() == "identifier" {
                        let name = self.text(obj_node).to_string();
                        if let V::Obj(mut props) = obj.v {
                            props.retain(|(pk, _)| pk != k);
                            props.push((k.clone(), val));
                            self.assign(&name, Val::of(V::Obj(props)));
                        }
                    }
                }
            }
            "object_pattern" | "array_pattern" => self.bind_pattern(target, Some(val), false),
            "parenthesized_expression" => {
                if let Some(inner) = target.named_child(0) {
                    self.assign_target(inner, val);
                }
            }
            _ => {}
        }
    }
}
