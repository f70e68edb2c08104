//! Commands that produce text the analyzer can follow: `printf` (folded,
//! also into a variable with `-v`) and `cat` and its relatives (reading
//! files the script wrote, `/proc/*/environ`, credentials). `echo` is a
//! one-liner in the dispatch.

use super::RunCtx;
use crate::analyze::bash::decode;
use crate::analyze::bash::paths;
use crate::analyze::bash::walk::{Analyzer, Output, Var};
use crate::analyze::bash::words::{self, Taint, Word};
use crate::analyze::Span;

impl<'s> Analyzer<'s> {
    /// `printf [-v var] FORMAT ARGS`, folded when every word is known.
    pub(super) fn printf(
        &mut self,
        args: &[Word],
        mut arg_taint: Taint,
        span: Span,
        out: &mut Output,
    ) {
        let mut a = args.to_vec();
        let mut var = None;
        if a.first().is_some_and(|w| w.known_text() == "-v") && a.len() >= 2 {
            var = Some(a[1].known_text());
            a.drain(..2);
        }
        let vals: Option<Vec<String>> = a.iter().map(Word::constant).collect();
        let max = self.budget.max_value_bytes;
        let mut bounded = false;
        let text = vals
            .and_then(|v| {
                v.split_first().map(|(f, rest)| {
                    let t = decode::printf(f, rest, max);
                    bounded = t.is_none();
                    t
                })
            })
            .flatten();
        // The output is new text (a reused format multiplies): paid for.
        let text = match text {
            Some(t) if !self.keep(t.len(), span) => None,
            t => t,
        };
        if bounded {
            self.report_bound(span);
        }
        let obf = a.first().is_some_and(|f| {
            f.known_text().contains("\\x")
                || f.known_text().contains("\\1")
                || f.known_text().contains("\\0")
        });
        if obf {
            arg_taint.decoders.push("printf".into());
        }
        match var {
            Some(v) if words::is_var_name(&v) => {
                self.vars.insert(
                    v,
                    Var {
                        value: text,
                        array: None,
                        taint: arg_taint,
                    },
                );
                out.text = Some(String::new());
            }
            _ => {
                out.text = text;
                out.taint = arg_taint;
            }
        }
    }

    /// `cat`, `head`, `less` ...: the content of files the script wrote and the
    /// taint of what they read.
    pub(super) fn cat_like(&mut self, name: &str, texts: &[String], rc: &RunCtx, out: &mut Output) {
        let span = rc.span;
        // `head -n 1`, `tail -c 10`: the count is no file.
        let counted = matches!(name, "head" | "tail");
        let files: Vec<&String> = texts
            .iter()
            .enumerate()
            .filter(|(i, t)| {
                let count_value = counted
                    && i.checked_sub(1)
                        .and_then(|p| texts.get(p))
                        .is_some_and(|p| matches!(p.as_str(), "-n" | "-c" | "--lines" | "--bytes"));
                (!t.starts_with('-') || t.as_str() == "-") && !count_value
            })
            .map(|(_, t)| t)
            .collect();
        out.taint.merge(&rc.stdin.taint);
        if files.is_empty() || files.iter().all(|f| f.as_str() == "-") {
            match name {
                "cat" => out.text = rc.stdin.text.clone(),
                "head" | "tail" => {
                    out.text = rc
                        .stdin
                        .text
                        .as_deref()
                        .and_then(|t| line_window(name, texts, t));
                }
                _ => {}
            }
        } else {
            let mut content = Some(String::new());
            for f in &files {
                let p = paths::normalise(f);
                if p.starts_with("/proc/") && p.ends_with("/environ") {
                    self.signal("env-harvest", span);
                    self.secret_seen = true;
                    out.taint.secret = true;
                }
                if paths::sensitive(&p) == Some(paths::Sensitive::Credential) {
                    out.taint.secret = true;
                }
                let info = self.files.get(&p).cloned();
                match info {
                    Some(i) => {
                        out.taint.merge(&i.taint);
                        content = match (content, i.content) {
                            (Some(a), Some(b)) if self.keep(a.len() + b.len(), span) => {
                                Some(a + &b)
                            }
                            _ => None,
                        };
                    }
                    None => content = None,
                }
            }
            if name == "cat" {
                out.text = content;
            }
        }
        if name == "head" {
            self.head_fill(texts, rc, span);
        }
    }
}

/// The lines `head`/`tail` keep of a known text, for the line-count forms
/// (`-n N`, `-N`, `-nN`, `tail -n +K`); any other option gives `None`.
fn line_window(name: &str, texts: &[String], text: &str) -> Option<String> {
    let mut count: Option<String> = None;
    let mut it = texts.iter();
    while let Some(t) = it.next() {
        if t == "-n" || t == "--lines" {
            count = it.next().cloned();
        } else if let Some(n) = t.strip_prefix("--lines=").or_else(|| t.strip_prefix("-n")) {
            count = Some(n.to_string());
        } else if t.len() > 1 && t.starts_with('-') && t[1..].bytes().all(|b| b.is_ascii_digit()) {
            count = Some(t[1..].to_string());
        } else {
            return None;
        }
    }
    let lines: Vec<&str> = text.lines().collect();
    let count = count.unwrap_or_else(|| "10".to_string());
    let kept: Vec<&str> = match (name, count.strip_prefix('+')) {
        ("tail", Some(from)) => {
            let k: usize = from.parse().ok()?;
            lines.iter().skip(k.saturating_sub(1)).copied().collect()
        }
        ("tail", None) => {
            let n: usize = count.parse().ok()?;
            lines
                .iter()
                .skip(lines.len().saturating_sub(n))
                .copied()
                .collect()
        }
        _ => {
            let n: usize = count.parse().ok()?;
            lines.iter().take(n).copied().collect()
        }
    };
    Some(kept.join("\n"))
}
