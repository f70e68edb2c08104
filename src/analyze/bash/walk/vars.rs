//! Variables: assignments (plain, indexed, appended, arrays), declaration
//! builtins (`export`, `declare`, `local`, ...), `unset`, and the lookup of
//! `$name` with its known value and taint. Parameter expansion operators live
//! in `parameter`.

use tree_sitter::Node;

use super::{named_children, span_of, split_value, Analyzer, Ctx, Output, Var, R};
use crate::analyze::bash::words::{self, Taint, Word};
use crate::analyze::FactKind;

/// Environment variables whose assignment is security relevant; assigning
/// them is reported as a string fact `NAME=value`.
const WATCHED_VARS: &[&str] = &[
    "HISTFILE",
    "HISTSIZE",
    "HISTFILESIZE",
    "HISTCONTROL",
    "HISTIGNORE",
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "LD_AUDIT",
    "PROMPT_COMMAND",
    "BASH_ENV",
    "ENV",
];

fn secret_var_name(name: &str) -> bool {
    let u = name.to_ascii_uppercase();
    [
        "SECRET",
        "TOKEN",
        "PASSWORD",
        "PASSWD",
        "API_KEY",
        "APIKEY",
        "ACCESS_KEY",
        "PRIVATE_KEY",
        "CREDENTIAL",
    ]
    .iter()
    .any(|k| u.contains(k))
}

impl<'s> Analyzer<'s> {
    pub(super) fn assign(&mut self, node: Node<'s>, persist: bool) -> R<(String, Var)> {
        let name_node = node.child_by_field_name("name");
        let (name, index) = match name_node {
            Some(n) if n.kind() == "subscript" => {
                let base = n
                    .child_by_field_name("name")
                    .map(|x| self.text(x).to_string())
                    .unwrap_or_default();
                let idx = n
                    .child_by_field_name("index")
                    .map(|x| self.text(x).to_string());
                (base, idx)
            }
            Some(n) => (self.text(n).to_string(), None),
            None => (String::new(), None),
        };
        let append = {
            let mut c = node.walk();
            let found = node.children(&mut c).any(|x| x.kind() == "+=");
            found
        };
        let value_node = node.child_by_field_name("value");
        let mut var = Var::default();
        let mut raw = String::new();
        match value_node {
            Some(v) if v.kind() == "array" => {
                let mut items = Vec::new();
                for c in named_children(v) {
                    let w = self.word(c)?;
                    var.taint.merge(&w.taint);
                    for part in w.split() {
                        items.push(part.constant());
                    }
                }
                var.value = items.first().cloned().flatten();
                var.array = Some(items);
                if var_cost(&var) > self.budget.max_value_bytes {
                    var.value = None;
                    var.array = None;
                    self.report_bound(span_of(v));
                }
            }
            Some(v) => {
                let w = self.word_q(v, true)?;
                raw = w.lossy();
                var.taint = w.taint.clone();
                var.value = w.constant();
            }
            None => var.value = Some(String::new()),
        }
        if let (Some(idx), Some(prev)) = (index.as_ref(), self.vars.get(&name).cloned()) {
            let mut arr = prev.array.unwrap_or_else(|| vec![prev.value.clone()]);
            if let Ok(i) = idx.parse::<usize>() {
                if i < 4096 {
                    if arr.len() <= i {
                        arr.resize(i + 1, Some(String::new()));
                    }
                    arr[i] = var.value.clone();
                }
            }
            var.array = Some(arr);
            var.value = prev.value;
            // `a[i]=$big` grows the array one paid-for element at a time;
            // the array as a whole is capped like any other value.
            if var_cost(&var) > self.budget.max_value_bytes {
                var.value = None;
                var.array = None;
                self.report_bound(span_of(node));
            }
        } else if index.is_some() {
            var.value = None;
        }
        if append {
            // `a+=$b` copies `a`: paid for like any other copy.
            let need = self
                .vars
                .get(&name)
                .and_then(|prev| Some(prev.value.as_ref()?.len() + var.value.as_ref()?.len()));
            let fits = need.is_none_or(|n| self.keep(n, span_of(node)));
            if let Some(prev) = self.vars.get(&name) {
                var.value = match (&prev.value, &var.value) {
                    (Some(a), Some(b)) if fits => Some(format!("{a}{b}")),
                    _ => None,
                };
                let mut t = prev.taint.clone();
                t.merge(&var.taint);
                var.taint = t;
            }
        }
        if WATCHED_VARS.contains(&name.as_str()) {
            let span = span_of(node);
            self.emit(FactKind::String, format!("{name}={raw}"), Vec::new(), span);
        }
        // PAGER, LESSOPEN, GIT_SSH_COMMAND ...: a command some program runs.
        self.command_var(&name, var.value.as_deref(), span_of(node))?;
        if persist && words::is_var_name(&name) {
            self.vars.insert(name.clone(), var.clone());
        }
        Ok((name, var))
    }

    pub(super) fn declaration(&mut self, node: Node<'s>, ctx: &Ctx) -> R<Output> {
        let mut cursor = node.walk();
        let mut keyword = String::new();
        let mut args = Vec::new();
        let mut has_names = false;
        for c in node.children(&mut cursor) {
            if !c.is_named() {
                if keyword.is_empty() {
                    keyword = c.kind().to_string();
                }
                continue;
            }
            match c.kind() {
                "variable_assignment" => {
                    let (n, v) = self.assign(c, true)?;
                    args.push(format!("{n}={}", v.value.unwrap_or_else(|| "*".into())));
                    has_names = true;
                }
                "variable_name" => {
                    args.push(self.text(c).to_string());
                    has_names = true;
                }
                _ => {
                    let w = self.word(c)?;
                    let t = w.lossy();
                    if !t.starts_with('-') {
                        has_names = true;
                    }
                    args.push(t);
                }
            }
        }
        let span = span_of(node);
        let only_flags = !has_names;
        let prints_all = only_flags
            && (args.is_empty() && keyword != "local"
                || args
                    .iter()
                    .any(|a| a.starts_with('-') && (a.contains('p') || a.contains('x'))));
        self.emit(FactKind::Command, keyword.clone(), args, span);
        if prints_all
            && matches!(
                keyword.as_str(),
                "export" | "declare" | "typeset" | "readonly"
            )
        {
            self.signal("env-harvest", span);
            self.secret_seen = true;
            return Ok(Output {
                taint: Taint {
                    secret: true,
                    ..Taint::default()
                },
                ..Output::default()
            });
        }
        let _ = ctx;
        Ok(Output {
            text: Some(String::new()),
            ..Output::default()
        })
    }

    pub(super) fn unset(&mut self, node: Node<'s>) -> R<Output> {
        let mut args = Vec::new();
        for c in named_children(node) {
            let t = match c.kind() {
                "variable_name" => self.text(c).to_string(),
                _ => self.word(c)?.lossy(),
            };
            self.vars.remove(&t);
            args.push(t);
        }
        self.emit(FactKind::Command, "unset", args, span_of(node));
        Ok(Output {
            text: Some(String::new()),
            ..Output::default()
        })
    }

    /// `$name`: known constants, `~` for HOME, separators for IFS.
    pub fn lookup(&self, name: &str, quoted: bool) -> Word {
        let name = name.trim_start_matches('{').trim_end_matches('}');
        let mut w = match self.vars.get(name) {
            Some(v) => match &v.value {
                // Copying a value out of the environment is what makes
                // `a=$a$a` grow: it is paid for before the copy is made.
                Some(val) if !self.budget.admit(expansion_cost(val, quoted)) => {
                    let mut w = Word::unknown();
                    w.bounded = true;
                    w
                }
                Some(val) if quoted => Word::lit(val.clone()),
                Some(val) => split_value(val),
                None => Word::unknown(),
            },
            None => match name {
                "IFS" if quoted => Word::lit(" "),
                "IFS" => {
                    let mut w = Word::default();
                    w.push_split();
                    w
                }
                "HOME" => Word::lit("~"),
                "@" | "*" | "#" => Word::lit(if name == "#" { "0" } else { "" }),
                "0" | "BASH_SOURCE" => {
                    let mut w = Word::unknown();
                    w.self_ref = true;
                    w
                }
                n if self.unset_is_empty
                    && n.chars().any(|c| c.is_ascii_lowercase())
                    && words::is_var_name(n) =>
                {
                    Word::lit("")
                }
                _ => Word::unknown(),
            },
        };
        w.expanded = true;
        w.forwarded = matches!(name, "@" | "*");
        if let Some(v) = self.vars.get(name) {
            w.taint = v.taint.clone();
        } else if secret_var_name(name) {
            w.taint.secret = true;
        }
        w
    }
}

/// What expanding a variable holding `v` costs (quoted: one piece; unquoted: split into fields).
fn expansion_cost(v: &str, quoted: bool) -> usize {
    if quoted {
        v.len().saturating_add(words::PIECE_COST)
    } else {
        words::split_cost(v)
    }
}

/// Estimated bytes a variable's value and array occupy.
pub(in crate::analyze::bash) fn var_cost(v: &Var) -> usize {
    let value = v.value.as_ref().map_or(0, String::len);
    let array = v.array.as_ref().map_or(0, |a| {
        a.iter()
            .map(|i| words::PIECE_COST.saturating_add(i.as_ref().map_or(0, String::len)))
            .fold(0usize, usize::saturating_add)
    });
    words::PIECE_COST
        .saturating_add(value)
        .saturating_add(array)
}
