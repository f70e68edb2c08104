//! Literals: strings, template strings, object and array literals, and
//! property keys, folded to values where they are constant.
//!
//! What it must not do: build values past `MAX_STR`/`MAX_ITEMS`.

use super::Walker;
use crate::analyze::javascript::value::{self, Val, MAX_ITEMS, MAX_STR, V};
use tree_sitter::Node;

impl<'t, 'b> Walker<'t, 'b> {
    pub(super) fn string_literal(&self, node: Node<'t>) -> Val<'t> {
        let raw = self.text(node);
        if raw.len() < 2 {
            return Val::unknown();
        }
        let body = &raw[1..raw.len() - 1];
        let (s, hidden) = value::unescape_js(body);
        let mut v = Val::str(s);
        v.obf = hidden;
        v
    }

    pub(super) fn template(&mut self, node: Node<'t>) -> Val<'t> {
        let mut out = String::new();
        let mut known = true;
        let mut any_known_part = false;
        let mut acc = Val::unknown();
        let mut substitutions = false;
        for i in 0..node.child_count() {
            let Some(c) = node.child(i) else { continue };
            match c.kind() {
                "string_fragment" => {
                    out.push_str(self.text(c));
                    any_known_part = true;
                }
                "escape_sequence" => {
                    let (s, hidden) = value::unescape_js(self.text(c));
                    out.push_str(&s);
                    acc.obf |= hidden;
                    any_known_part = true;
                }
                "template_substitution" => {
                    substitutions = true;
                    let v = self.eval(c);
                    acc = acc.taint_from(&v);
                    match v.to_const_string() {
                        Some(s) => {
                            out.push_str(&s);
                            any_known_part = true;
                        }
                        None => match v.to_partial_string() {
                            Some(p) => out.push_str(&p),
                            None => {
                                known = false;
                                out.push('*');
                            }
                        },
                    }
                    if matches!(v.v, V::Partial(_)) {
                        known = false;
                    }
                }
                _ => {}
            }
            if out.len() > MAX_STR {
                self.bounded.set(true);
                return Val::unknown();
            }
        }
        let mut v = if known {
            Val::str(out)
        } else if any_known_part {
            Val::of(V::Partial(out))
        } else {
            Val::unknown()
        }
        .taint_from(&acc);
        v.concat |= substitutions;
        v
    }

    pub(super) fn object(&mut self, node: Node<'t>) -> Val<'t> {
        let mut props: Vec<(String, Val<'t>)> = Vec::new();
        for i in 0..node.named_child_count() {
            let Some(c) = node.named_child(i as u32) else {
                continue;
            };
            match c.kind() {
                "pair" => {
                    let key = self.field(c, "key").map(|k| self.property_key(k));
                    let val = self
                        .field(c, "value")
                        .map(|v| {
                            self.method_fn = Some(v.id());
                            self.eval(v)
                        })
                        .unwrap_or_default();
                    if let Some(Some(k)) = key {
                        props.push((k, val));
                    }
                }
                "shorthand_property_identifier" => {
                    let name = self.text(c).to_string();
                    let v = self.lookup(&name);
                    props.push((name, v));
                }
                "method_definition" => {
                    let key = self.field(c, "name").map(|k| self.property_key(k));
                    let v = self.eval(c);
                    if let Some(Some(k)) = key {
                        props.push((k, v));
                    }
                }
                "spread_element" => {
                    let v = self.eval(c);
                    if let V::Obj(inner) = v.v {
                        props.extend(inner);
                    }
                }
                _ => {
                    self.eval(c);
                }
            }
            if props.len() > MAX_ITEMS {
                return Val::unknown();
            }
        }
        Val::of(V::Obj(props))
    }

    pub(super) fn property_key(&mut self, key: Node<'t>) -> Option<String> {
        match key.kind() {
            "property_identifier" | "private_property_identifier" => {
                Some(self.text(key).to_string())
            }
            "string" => self.string_literal(key).as_str().map(str::to_string),
            "number" => value::parse_js_number(self.text(key)).map(value::num_to_string),
            _ => {
                let v = self.eval(key);
                v.to_const_string()
            }
        }
    }

    pub(super) fn array(&mut self, node: Node<'t>) -> Val<'t> {
        let mut items: Vec<Val<'t>> = Vec::new();
        let mut taint = Val::unknown();
        for i in 0..node.named_child_count() {
            let Some(c) = node.named_child(i as u32) else {
                continue;
            };
            let v = self.eval(c);
            taint = taint.taint_from(&v);
            if c.kind() == "spread_element" {
                match v.v {
                    V::Arr(inner) => items.extend(inner),
                    V::Str(s) => items.extend(s.chars().map(|ch| Val::str(ch.to_string()))),
                    _ => items.push(Val::unknown()),
                }
            } else if c.kind() != "comment" {
                items.push(v);
            }
            if items.len() > MAX_ITEMS {
                return Val::unknown();
            }
        }
        let mut v = Val::of(V::Arr(items));
        v.obf = taint.obf;
        v.decoders = taint.decoders;
        v
    }
}
