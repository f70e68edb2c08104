//! Folding of method calls on known values: string, array and buffer
//! methods (`split`, `reverse`, `join`, `map`, `reduce`, ...), bounded by
//! `FOLD_CALLBACKS`.
//!
//! What it must not do: call anything for real or exceed the value limits.

use super::{Walker, HUGE_BYTES};
use crate::analyze::javascript::value::{self, Val, MAX_ITEMS, MAX_STR, V};
use tree_sitter::Node;

impl<'t, 'b> Walker<'t, 'b> {
    /// Methods on constant strings, arrays and numbers.
    pub(super) fn fold_method(
        &mut self,
        node: Node<'t>,
        recv: &Val<'t>,
        k: &str,
        args: &[Val<'t>],
    ) -> Option<Val<'t>> {
        let arg_str = |i: usize| args.get(i).and_then(|a| a.to_const_string());
        let arg_num = |i: usize| args.get(i).and_then(|a| a.as_num());
        let mut taint = recv.clone();
        taint.v = V::Unknown;
        for a in args {
            taint = taint.taint_from(a);
        }
        let with = |v: V<'t>, obf: bool| {
            let mut out = Val::of(v).taint_from(&taint);
            out.obf |= obf;
            out
        };
        match &recv.v {
            V::Str(s) => {
                let v = match k {
                    "toString" | "valueOf" | "normalize" | "toLocaleString" => match arg_str(0)
                        .as_deref()
                    {
                        Some("base64") => with(V::Str(value::encode_base64(s.as_bytes())), false),
                        Some("hex") => with(
                            V::Str(s.bytes().map(|b| format!("{b:02x}")).collect()),
                            false,
                        ),
                        _ => with(V::Str(s.clone()), false),
                    },
                    "split" => {
                        let items: Vec<Val<'t>> = match args.first().map(|a| &a.v) {
                            // One item past the limit is enough to know it is past.
                            Some(V::Str(sep)) if sep.is_empty() => s
                                .chars()
                                .take(MAX_ITEMS + 1)
                                .map(|c| Val::str(c.to_string()))
                                .collect(),
                            Some(V::Str(sep)) => s
                                .split(sep.as_str())
                                .take(MAX_ITEMS + 1)
                                .map(Val::str)
                                .collect(),
                            Some(V::Regex(pat, _)) => match value::regex_literal_text(pat) {
                                Some(t) if t.is_empty() => s
                                    .chars()
                                    .take(MAX_ITEMS + 1)
                                    .map(|c| Val::str(c.to_string()))
                                    .collect(),
                                Some(t) => s
                                    .split(t.as_str())
                                    .take(MAX_ITEMS + 1)
                                    .map(Val::str)
                                    .collect(),
                                None => return Some(Val::unknown()),
                            },
                            None => vec![Val::str(s.clone())],
                            _ => return Some(Val::unknown()),
                        };
                        if items.len() > MAX_ITEMS {
                            self.bounded.set(true);
                            return Some(Val::unknown());
                        }
                        with(V::Arr(items), true)
                    }
                    "concat" => {
                        let mut out = s.clone();
                        for a in args {
                            out.push_str(&a.to_const_string()?);
                        }
                        let mut v = with(V::Str(out), false);
                        v.concat = true;
                        v
                    }
                    "replace" | "replaceAll" => {
                        let rep = arg_str(1)?;
                        // A value replaced into itself squares its length:
                        // its size (at most the input plus `rep` per hit) is
                        // checked before it is built.
                        let count = |pat: &str, all: bool| {
                            let n = if pat.is_empty() {
                                s.chars().count() + 1
                            } else {
                                s.matches(pat).count()
                            };
                            if all {
                                n
                            } else {
                                n.min(1)
                            }
                        };
                        let hits = match args.first().map(|a| &a.v) {
                            Some(V::Str(pat)) => count(pat, k == "replaceAll"),
                            Some(V::Regex(pat, flags)) => match value::regex_literal_text(pat) {
                                Some(t) => count(&t, flags.contains('g')),
                                None => s.chars().count(),
                            },
                            _ => 0,
                        };
                        if s.len().saturating_add(hits.saturating_mul(rep.len())) > MAX_STR {
                            return None;
                        }
                        let out = match args.first().map(|a| &a.v) {
                            Some(V::Str(pat)) => {
                                if k == "replaceAll" {
                                    s.replace(pat.as_str(), &rep)
                                } else {
                                    s.replacen(pat.as_str(), &rep, 1)
                                }
                            }
                            Some(V::Regex(pat, flags)) => {
                                if let Some(t) = value::regex_literal_text(pat) {
                                    if flags.contains('g') {
                                        s.replace(t.as_str(), &rep)
                                    } else {
                                        s.replacen(t.as_str(), &rep, 1)
                                    }
                                } else if let Some(set) = value::regex_char_class(pat) {
                                    let mut out = String::new();
                                    let mut done = false;
                                    for c in s.chars() {
                                        if set.contains(&c) && (!done || flags.contains('g')) {
                                            out.push_str(&rep);
                                            done = true;
                                        } else {
                                            out.push(c);
                                        }
                                    }
                                    out
                                } else {
                                    return Some(Val::unknown());
                                }
                            }
                            _ => return Some(Val::unknown()),
                        };
                        with(V::Str(out), true)
                    }
                    "slice" => with(V::Str(value::js_slice(s, arg_num(0), arg_num(1))), true),
                    "substring" => {
                        with(V::Str(value::js_substring(s, arg_num(0), arg_num(1))), true)
                    }
                    "substr" => with(V::Str(value::js_substr(s, arg_num(0), arg_num(1))), true),
                    "charAt" | "at" => {
                        let i = arg_num(0).unwrap_or(0.0) as i64;
                        let n = s.chars().count() as i64;
                        let i = if i < 0 { n + i } else { i };
                        let c = s
                            .chars()
                            .nth(i.max(0) as usize)
                            .map(|c| c.to_string())
                            .unwrap_or_default();
                        with(V::Str(c), true)
                    }
                    "charCodeAt" | "codePointAt" => {
                        let i = arg_num(0).unwrap_or(0.0) as usize;
                        match s.chars().nth(i) {
                            Some(c) => with(V::Num(c as u32 as f64), true),
                            None => Val::unknown(),
                        }
                    }
                    "toLowerCase" | "toLocaleLowerCase" => with(V::Str(s.to_lowercase()), false),
                    "toUpperCase" | "toLocaleUpperCase" => with(V::Str(s.to_uppercase()), false),
                    "trim" => with(V::Str(s.trim().to_string()), false),
                    "trimStart" | "trimLeft" => with(V::Str(s.trim_start().to_string()), false),
                    "trimEnd" | "trimRight" => with(V::Str(s.trim_end().to_string()), false),
                    "repeat" => {
                        let n = arg_num(0)?;
                        if (s.len().max(1) as f64) * n >= HUGE_BYTES {
                            self.signal(
                                "resource-exhaustion",
                                node,
                                vec![format!("repeat({})", value::num_to_string(n))],
                            );
                        }
                        if n < 0.0 || (s.len() as f64) * n > MAX_STR as f64 {
                            self.bounded.set(n >= 0.0);
                            return Some(Val::unknown());
                        }
                        with(V::Str(s.repeat(n as usize)), false)
                    }
                    "padStart" | "padEnd" => with(V::Str(s.clone()), false),
                    "indexOf" => match arg_str(0) {
                        Some(t) => with(
                            V::Num(
                                s.find(&t)
                                    .map(|i| s[..i].chars().count() as f64)
                                    .unwrap_or(-1.0),
                            ),
                            false,
                        ),
                        None => Val::unknown(),
                    },
                    "includes" | "startsWith" | "endsWith" => match arg_str(0) {
                        Some(t) => {
                            let b = match k {
                                "includes" => s.contains(&t),
                                "startsWith" => s.starts_with(&t),
                                _ => s.ends_with(&t),
                            };
                            Val::of(V::Bool(b))
                        }
                        None => Val::unknown(),
                    },
                    _ => return None,
                };
                Some(v)
            }
            V::Arr(items) => {
                let v = match k {
                    "join" => {
                        let sep = match args.first() {
                            Some(a) => a.to_const_string()?,
                            None => ",".into(),
                        };
                        let mut parts = Vec::with_capacity(items.len());
                        let mut t = taint.clone();
                        for i in items {
                            t = t.taint_from(i);
                            match i.to_const_string() {
                                Some(s) => parts.push(s),
                                None => return Some(Val::unknown().taint_from(&t)),
                            }
                        }
                        let total = parts
                            .iter()
                            .map(String::len)
                            .fold(sep.len().saturating_mul(parts.len()), usize::saturating_add);
                        if total > MAX_STR {
                            self.bounded.set(true);
                            return Some(Val::unknown());
                        }
                        let joined = parts.join(&sep);
                        let mut v = Val::str(joined).taint_from(&t);
                        v.obf |= items.len() > 1;
                        v
                    }
                    "toString" => {
                        let parts: Option<Vec<String>> =
                            items.iter().map(|i| i.to_const_string()).collect();
                        match parts {
                            Some(p) => with(V::Str(p.join(",")), true),
                            None => Val::unknown(),
                        }
                    }
                    "reverse" | "toReversed" => {
                        let mut r = items.clone();
                        r.reverse();
                        with(V::Arr(r), true)
                    }
                    "concat" => {
                        let mut r = items.clone();
                        for a in args {
                            match &a.v {
                                V::Arr(more) => r.extend(more.iter().cloned()),
                                _ => r.push(a.clone()),
                            }
                        }
                        if r.len() > MAX_ITEMS {
                            return Some(Val::unknown());
                        }
                        with(V::Arr(r), false)
                    }
                    "slice" => {
                        let len = items.len() as i64;
                        let norm = |v: f64| {
                            let v = v as i64;
                            if v < 0 {
                                (len + v).max(0)
                            } else {
                                v.min(len)
                            }
                        };
                        let a = arg_num(0).map(norm).unwrap_or(0);
                        let b = arg_num(1).map(norm).unwrap_or(len);
                        let r = if a < b {
                            items[a as usize..b as usize].to_vec()
                        } else {
                            Vec::new()
                        };
                        with(V::Arr(r), true)
                    }
                    "flat" => {
                        let mut r = Vec::new();
                        for i in items {
                            match &i.v {
                                V::Arr(inner) => r.extend(inner.iter().cloned()),
                                _ => r.push(i.clone()),
                            }
                        }
                        with(V::Arr(r), false)
                    }
                    "at" => {
                        let i = arg_num(0).unwrap_or(0.0) as i64;
                        let i = if i < 0 { items.len() as i64 + i } else { i };
                        items.get(i.max(0) as usize).cloned().unwrap_or_default()
                    }
                    "map" => {
                        let f = args.first()?;
                        let mut out = Vec::with_capacity(items.len());
                        for (idx, item) in items.iter().enumerate().take(512) {
                            let r = match &f.v {
                                V::Func(func) => {
                                    let func = *func;
                                    if self.fold_left == 0 {
                                        return Some(Val::unknown());
                                    }
                                    self.fold_left -= 1;
                                    self.inline_left += 1;
                                    self.inline_call(
                                        func,
                                        &[item.clone(), Val::of(V::Num(idx as f64))],
                                    )
                                }
                                V::Path(p) => {
                                    let p = p.clone();
                                    self.fold_builtin(node, &p, std::slice::from_ref(item))
                                        .unwrap_or_default()
                                }
                                _ => Val::unknown(),
                            };
                            out.push(r);
                        }
                        with(V::Arr(out), true)
                    }
                    "reduce" => {
                        let V::Func(func) = args.first()?.v else {
                            return Some(Val::unknown());
                        };
                        let mut acc = match args.get(1) {
                            Some(init) => init.clone(),
                            None => items.first().cloned().unwrap_or_default(),
                        };
                        let skip = usize::from(args.get(1).is_none());
                        for item in items.iter().skip(skip).take(512) {
                            if self.fold_left == 0 {
                                return Some(Val::unknown());
                            }
                            self.fold_left -= 1;
                            self.inline_left += 1;
                            acc = self.inline_call(func, &[acc, item.clone()]);
                        }
                        acc.obfuscated()
                    }
                    _ => return None,
                };
                Some(v)
            }
            V::Num(n) => match k {
                "toString" => {
                    let radix = arg_num(0).map(|r| r as u32).unwrap_or(10);
                    let s = if radix == 10 {
                        Some(value::num_to_string(*n))
                    } else {
                        value::int_to_radix(*n, radix)
                    };
                    Some(match s {
                        Some(s) => with(V::Str(s), radix != 10),
                        None => Val::unknown(),
                    })
                }
                _ => None,
            },
            _ => None,
        }
    }
}
