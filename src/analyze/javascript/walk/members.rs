//! Member access: `obj.key` and `obj[key]` to qualified paths, reads of
//! tracked objects, Attribute facts, computed names that hide something,
//! and reflection on functions (`constructor`).
//!
//! What it must not do: emit Call facts (see `calls.rs`).

use super::Walker;
use crate::analyze::javascript::names::{self, is_sensitive_path};
use crate::analyze::javascript::value::{Val, SELF_MARK, V};
use tree_sitter::Node;

impl<'t, 'b> Walker<'t, 'b> {
    /// The property of a member or subscript expression: its name and the
    /// value that produced it (for subscripts, to judge obfuscation).
    pub(super) fn member_key(&mut self, node: Node<'t>) -> Option<(String, Val<'t>)> {
        if node.kind() == "member_expression" {
            let p = self.field(node, "property")?;
            return Some((self.text(p).to_string(), Val::unknown()));
        }
        let idx = self.field(node, "index")?;
        let v = self.eval(idx);
        v.to_const_string().map(|s| (s, v))
    }

    pub(super) fn member_parts(&mut self, node: Node<'t>) -> (Val<'t>, Option<(String, Val<'t>)>) {
        let obj = match self.field(node, "object") {
            Some(o) => {
                self.no_attr = Some(o.id());
                self.eval(o)
            }
            None => Val::unknown(),
        };
        let key = self.member_key(node);
        (obj, key)
    }

    pub(super) fn member_value(&mut self, node: Node<'t>) -> Val<'t> {
        let (obj, key) = self.member_parts(node);
        self.resolve_member(node, obj, key)
    }

    pub(super) fn resolve_member(
        &mut self,
        node: Node<'t>,
        obj: Val<'t>,
        key: Option<(String, Val<'t>)>,
    ) -> Val<'t> {
        let Some((k, kval)) = key else {
            if let V::Path(p) = &obj.v {
                if computed_name_matters(p) {
                    let shown = if p.is_empty() {
                        "global[?]".to_string()
                    } else {
                        format!("{p}[?]")
                    };
                    self.signal("computed-name", node, vec![shown]);
                }
            }
            return Val::unknown();
        };
        let v = self.member_of(&obj, &k, node);
        if node.kind() == "subscript_expression" {
            let idx_literal = self
                .field(node, "index")
                .is_some_and(|i| matches!(i.kind(), "string" | "number"));
            let hidden = kval.obf || kval.concat || (!idx_literal && !matches!(kval.v, V::Num(_)));
            if let V::Path(p) = &v.v {
                if (hidden || kval.obf) && is_sensitive_path(p) {
                    let p = p.clone();
                    self.signal("string-obfuscation", node, vec![p]);
                }
            }
        }
        v
    }

    /// Pure member resolution (plus the reflection signal).
    pub(super) fn member_of(&mut self, obj: &Val<'t>, k: &str, node: Node<'t>) -> Val<'t> {
        if k == "__proto__" {
            self.signal("reflection", node, vec!["__proto__".into()]);
        }
        let v = match &obj.v {
            V::Path(p) => {
                if p.is_empty() {
                    if names::GLOBAL_OBJECTS.contains(&k) {
                        Val::path("")
                    } else if k == "constructor" {
                        // The global object's constructor is Object.
                        Val::of(V::Ctor)
                    } else {
                        Val::path(k)
                    }
                } else if matches!(p.as_str(), "module" | "process.mainModule" | "require.main")
                    && k == "constructor"
                {
                    // Module objects: their constructor is Module, whose `_load` requires.
                    Val::path("module.constructor")
                } else if k == "constructor" {
                    if is_function_path(p) {
                        self.reflect_function(node)
                    } else {
                        Val::of(V::Ctor)
                    }
                } else {
                    match (p.as_str(), k) {
                        ("process", "execPath") | ("process", "argv0") => Val::str("node"),
                        ("process.argv", "0") => Val::str("node"),
                        ("process.argv", "1") => Val::str(SELF_MARK),
                        ("Function.prototype", "constructor") => self.reflect_function(node),
                        _ => Val::path(format!("{p}.{k}")),
                    }
                }
            }
            V::Obj(props) => match props.iter().rev().find(|(pk, _)| pk == k) {
                Some((_, v)) => v.clone(),
                None if k == "constructor" => Val::of(V::Ctor),
                None => Val::unknown(),
            },
            V::Arr(items) => match k {
                "length" => Val::of(V::Num(items.len() as f64)),
                "constructor" => Val::of(V::Ctor),
                _ => match k.parse::<usize>() {
                    Ok(i) => items.get(i).cloned().unwrap_or_default(),
                    // `[]['filter']`: a built-in method, whose constructor is Function.
                    Err(_) => Val::of(V::Native),
                },
            },
            V::Str(s) => match k {
                "length" => Val::of(V::Num(s.chars().count() as f64)),
                "constructor" => Val::of(V::Ctor),
                _ => match k.parse::<usize>() {
                    Ok(i) => s
                        .chars()
                        .nth(i)
                        .map(|c| Val::str(c.to_string()).obfuscated())
                        .unwrap_or_default(),
                    Err(_) => Val::of(V::Native),
                },
            },
            V::Native if k == "constructor" => self.reflect_function(node),
            V::Func(_) if k == "constructor" => self.reflect_function(node),
            V::Ctor if k == "constructor" => self.reflect_function(node),
            V::Ctor if k == "prototype" => Val::of(V::Ctor),
            _ if k == "constructor" => Val::of(V::Ctor),
            _ => Val::unknown(),
        };
        v.taint_from(obj)
    }

    pub(super) fn reflect_function(&mut self, node: Node<'t>) -> Val<'t> {
        self.signal("reflection", node, vec!["constructor.constructor".into()]);
        Val::path("Function")
    }
}

/// Whether an unknown computed member of `path` hides something worth a signal.
pub(super) fn computed_name_matters(path: &str) -> bool {
    if path.is_empty() {
        return true;
    }
    if path.contains("()") || path.starts_with("process.env") || path == "process.argv" {
        return false;
    }
    let root = path.split('.').next().unwrap_or(path);
    names::SENSITIVE_MODULES.contains(&root) && root != "crypto" && root != "zlib" && root != "os"
        || matches!(root, "process" | "require" | "Reflect" | "module")
}

pub(super) fn is_function_path(p: &str) -> bool {
    matches!(
        p,
        "eval"
            | "Function"
            | "setTimeout"
            | "setInterval"
            | "setImmediate"
            | "require"
            | "fetch"
            | "atob"
            | "btoa"
            | "String"
            | "Object"
            | "Array"
            | "Number"
            | "Boolean"
            | "Symbol"
            | "parseInt"
            | "escape"
            | "unescape"
            | "decodeURIComponent"
            | "encodeURIComponent"
            | "Function.prototype"
    ) || p.ends_with(".constructor")
}
