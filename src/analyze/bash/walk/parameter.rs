//! Parameter expansion `${...}`: indirection, length, defaults and
//! assignments, substrings, pattern removal and replacement, case changes,
//! folded on known values; anything it cannot fold is unknown, carrying the
//! variable's taint.

use tree_sitter::Node;

use super::{span_of, split_value, var_cost, Analyzer, Var, R};
use crate::analyze::bash::words::{self, Word};

impl<'s> Analyzer<'s> {
    pub(super) fn expansion(&mut self, node: Node<'s>, quoted: bool) -> R<Word> {
        // Tokens between `${` and `}`: operators (by field) and operand nodes.
        let mut cursor = node.walk();
        let mut toks: Vec<(bool, Node<'s>)> = Vec::new();
        if cursor.goto_first_child() {
            loop {
                let n = cursor.node();
                let is_op = cursor.field_name() == Some("operator");
                if !matches!(n.kind(), "${" | "}") {
                    toks.push((is_op, n));
                }
                if !cursor.goto_next_sibling() {
                    break;
                }
            }
        }
        let mut unknown = Word::unknown();
        let mut i = 0;
        let mut prefix_op = None;
        if let Some((true, n)) = toks.first() {
            prefix_op = Some(self.text(*n).to_string());
            i = 1;
        }
        let Some((_, name_node)) = toks.get(i).copied() else {
            return Ok(unknown);
        };
        i += 1;
        let (name, index) = match name_node.kind() {
            "subscript" => (
                name_node
                    .child_by_field_name("name")
                    .map(|x| self.text(x).to_string())
                    .unwrap_or_default(),
                name_node
                    .child_by_field_name("index")
                    .map(|x| self.text(x).to_string()),
            ),
            _ => (self.text(name_node).to_string(), None),
        };
        // The value of the named variable (or array element).
        let base = match (&index, self.vars.get(&name)) {
            (Some(_), Some(v)) if !self.budget.admit(var_cost(v)) => {
                let mut w = Word::unknown();
                w.bounded = true;
                w.taint = v.taint.clone();
                w
            }
            (Some(idx), Some(v)) => {
                let arr = v.array.clone().unwrap_or_else(|| vec![v.value.clone()]);
                let mut w = if idx == "@" || idx == "*" {
                    let all: Option<Vec<String>> = arr.iter().cloned().collect();
                    all.map(|a| Word::lit(a.join(" ")))
                        .unwrap_or_else(Word::unknown)
                } else {
                    match idx.parse::<usize>() {
                        Ok(i) => match arr.get(i) {
                            Some(Some(s)) => Word::lit(s.clone()),
                            Some(None) => Word::unknown(),
                            None => Word::lit(""),
                        },
                        Err(_) => Word::unknown(),
                    }
                };
                w.taint = v.taint.clone();
                w.expanded = true;
                w
            }
            (Some(_), None)
                if self.unset_is_empty && name.chars().any(|c| c.is_ascii_lowercase()) =>
            {
                let mut w = Word::lit("");
                w.expanded = true;
                w
            }
            (Some(_), None) => Word::unknown(),
            (None, _) => self.lookup(&name, true),
        };
        unknown.taint = base.taint.clone();
        match prefix_op.as_deref() {
            Some("!") => {
                if toks.len() > i {
                    return Ok(unknown);
                }
                return Ok(match base.constant() {
                    Some(target) if words::is_var_name(&target) => self.lookup(&target, quoted),
                    _ => unknown,
                });
            }
            Some("#") => {
                return Ok(match base.constant() {
                    Some(v) if toks.len() == i => {
                        let mut w = Word::lit(v.chars().count().to_string());
                        w.expanded = true;
                        w
                    }
                    _ => unknown,
                })
            }
            Some(_) => return Ok(unknown),
            None => {}
        }
        if toks.len() == i {
            let mut w = base;
            if !quoted {
                if let Some(v) = w.constant() {
                    let t = w.taint.clone();
                    w = split_value(&v);
                    w.taint = t;
                    w.expanded = true;
                }
            }
            return Ok(w);
        }
        let op = match toks.get(i) {
            Some((true, n)) => self.text(*n).to_string(),
            _ => return Ok(unknown),
        };
        i += 1;
        // Operand words until the next operator, and the rest after it.
        let mut first = Word::default();
        let mut second: Option<Word> = None;
        let mut pos = toks.get(i).map(|(_, n)| n.start_byte()).unwrap_or(0);
        for (is_op, n) in toks[i..].iter() {
            if *is_op {
                second = Some(Word::default());
                pos = n.end_byte();
                continue;
            }
            let target = second.as_mut().unwrap_or(&mut first);
            if n.start_byte() > pos {
                target.push_lit(self.src.get(pos..n.start_byte()).unwrap_or(""));
            }
            let v = self.word_q(*n, true)?;
            target.append(v);
            pos = n.end_byte();
        }
        let value = base.constant();
        let set_nonempty = value.as_ref().map(|v| !v.is_empty());
        let mut w = match op.as_str() {
            ":-" | "-" | ":=" | "=" => match set_nonempty {
                Some(true) => base.clone(),
                Some(false) => {
                    if op.contains('=') && words::is_var_name(&name) {
                        self.vars.insert(
                            name.clone(),
                            Var {
                                value: first.constant(),
                                array: None,
                                taint: first.taint.clone(),
                            },
                        );
                    }
                    first
                }
                None => unknown,
            },
            ":+" | "+" => match set_nonempty {
                Some(true) => first,
                Some(false) => Word::lit(""),
                None => unknown,
            },
            ":?" | "?" => base.clone(),
            ":" => {
                let off = first.constant().and_then(|s| s.trim().parse::<i64>().ok());
                let len = second
                    .as_ref()
                    .and_then(|s| s.constant())
                    .and_then(|s| s.trim().parse::<i64>().ok());
                match (value, off) {
                    (Some(v), Some(off)) => {
                        let chars: Vec<char> = v.chars().collect();
                        let n = chars.len() as i64;
                        let start = if off < 0 {
                            (n + off).max(0)
                        } else {
                            off.min(n)
                        };
                        let end = match len {
                            Some(l) if l < 0 => (n + l).max(start),
                            Some(l) => (start + l).min(n),
                            None if second.is_some() => start,
                            None => n,
                        };
                        Word::lit(
                            chars[start as usize..end as usize]
                                .iter()
                                .collect::<String>(),
                        )
                    }
                    _ => unknown,
                }
            }
            "#" | "##" | "%" | "%%" => match (value, first.constant()) {
                (Some(v), Some(p)) => Word::lit(strip_pattern(&v, &p, &op)),
                _ => unknown,
            },
            "/" | "//" | "/#" | "/%" => {
                let rep = second
                    .as_ref()
                    .map(|s| s.constant())
                    .unwrap_or(Some(String::new()));
                match (value, first.constant(), rep) {
                    // `${a//x/$a}` multiplies: the result's size is known before it is built.
                    (Some(v), Some(p), Some(r))
                        if !p.contains(['*', '?', '['])
                            && !p.is_empty()
                            && !self.keep(replaced_len(&v, &p, &r, op == "//"), span_of(node)) =>
                    {
                        unknown
                    }
                    (Some(v), Some(p), Some(r))
                        if !p.contains(['*', '?', '[']) && !p.is_empty() =>
                    {
                        Word::lit(match op.as_str() {
                            "//" => v.replace(&p, &r),
                            "/#" => match v.strip_prefix(&p) {
                                Some(rest) => format!("{r}{rest}"),
                                None => v,
                            },
                            "/%" => match v.strip_suffix(&p) {
                                Some(rest) => format!("{rest}{r}"),
                                None => v,
                            },
                            _ => v.replacen(&p, &r, 1),
                        })
                    }
                    _ => unknown,
                }
            }
            "^^" | "^" | ",," | "," => match value {
                Some(v) => Word::lit(match op.as_str() {
                    "^^" => v.to_uppercase(),
                    ",," => v.to_lowercase(),
                    "^" => {
                        let mut c = v.chars();
                        c.next()
                            .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                            .unwrap_or_default()
                    }
                    _ => {
                        let mut c = v.chars();
                        c.next()
                            .map(|f| f.to_lowercase().collect::<String>() + c.as_str())
                            .unwrap_or_default()
                    }
                }),
                None => unknown,
            },
            _ => unknown,
        };
        w.expanded = true;
        w.taint.merge(&base.taint);
        if !quoted {
            if let Some(v) = w.constant() {
                let t = w.taint.clone();
                w = split_value(&v);
                w.taint = t;
                w.expanded = true;
            }
        }
        Ok(w)
    }
}

/// Length of `v` with `p` replaced by `r` (every occurrence or the first),
/// computed without building it.
fn replaced_len(v: &str, p: &str, r: &str, all: bool) -> usize {
    let n = if all {
        v.matches(p).count()
    } else {
        usize::from(v.contains(p))
    };
    v.len()
        .saturating_sub(n.saturating_mul(p.len()))
        .saturating_add(n.saturating_mul(r.len()))
}

/// `${v#pat}` and friends on known values.
fn strip_pattern(v: &str, p: &str, op: &str) -> String {
    let idx: Vec<usize> = v
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(v.len()))
        .collect();
    match op {
        "#" => idx
            .iter()
            .find(|&&i| words::glob_match(p, &v[..i]))
            .map(|&i| v[i..].to_string()),
        "##" => idx
            .iter()
            .rev()
            .find(|&&i| words::glob_match(p, &v[..i]))
            .map(|&i| v[i..].to_string()),
        "%" => idx
            .iter()
            .rev()
            .find(|&&i| words::glob_match(p, &v[i..]))
            .map(|&i| v[..i].to_string()),
        _ => idx
            .iter()
            .find(|&&i| words::glob_match(p, &v[i..]))
            .map(|&i| v[..i].to_string()),
    }
    .unwrap_or_else(|| v.to_string())
}
