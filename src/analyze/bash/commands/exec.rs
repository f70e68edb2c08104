//! Shell code the shell itself runs: code passed as a string (`eval`,
//! `bash -c`, `trap`), read from standard input, sourced from a file the
//! script wrote, defined as an alias or scheduled with `crontab`/`at`; and
//! the recursive analysis of such payloads in the right language under the
//! nested budget. It does not decide which command runs code; the dispatch
//! and `interpreters` do.

use std::collections::HashMap;

use super::interpreters::inline_reverse_shell;
use super::network::{DOWNLOAD_TOOLS, NET_TOOLS};
use super::{Lang, RunCtx};
use crate::analyze::bash::paths;
use crate::analyze::bash::walk::{var_cost, Analyzer, FileInfo, Input, R};
use crate::analyze::bash::words::Word;
use crate::analyze::{AnalyzeError, FactKind, Span};

impl<'s> Analyzer<'s> {
    /// Analyses code passed as a string (`bash -c`, `eval`, `python -c`).
    pub fn exec_code(
        &mut self,
        lang: Lang,
        via: &str,
        code: &Word,
        span: Span,
        dynamic: bool,
    ) -> R<()> {
        if code.taint.download {
            self.signal("download-exec", span);
        }
        if !code.taint.decoders.is_empty() {
            self.signal("decode-exec", span);
        }
        if dynamic {
            self.signal("dynamic-code", span);
        }
        match code.constant() {
            Some(text) => {
                if lang != Lang::Bash && inline_reverse_shell(&text) {
                    self.signal("reverse-shell", span);
                }
                let mut chain = vec![via.to_string()];
                chain.extend(code.taint.decoders.iter().cloned());
                if !code.taint.decoders.is_empty() {
                    self.signal("decoded-payload", span);
                }
                self.payload(lang, &text, chain, span)?;
            }
            None => self.signal("dynamic-code", span),
        }
        Ok(())
    }

    /// An interpreter reading its program from standard input.
    pub fn exec_stdin(&mut self, lang: Lang, via: &str, stdin: &Input, span: Span) -> R<()> {
        if stdin.pipe {
            self.signal("pipe-to-shell", span);
        }
        if stdin.taint.download || stdin.socket {
            self.signal("download-exec", span);
        }
        if !stdin.taint.decoders.is_empty() {
            self.signal("decode-exec", span);
        }
        match &stdin.text {
            Some(text) => {
                if lang != Lang::Bash && inline_reverse_shell(text) {
                    self.signal("reverse-shell", span);
                }
                let mut chain = vec![via.to_string()];
                chain.extend(stdin.taint.decoders.iter().cloned());
                if !stdin.taint.decoders.is_empty() {
                    self.signal("decoded-payload", span);
                }
                let text = text.clone();
                self.payload(lang, &text, chain, span)?;
            }
            None if !stdin.pipe => self.signal("dynamic-code", span),
            None => {}
        }
        Ok(())
    }

    /// Runs a file whose origin the script itself determined.
    pub(super) fn run_file(&mut self, info: &FileInfo, via: &str, lang: Lang, span: Span) -> R<()> {
        if info.taint.download {
            self.signal("download-exec", span);
        }
        if !info.taint.decoders.is_empty() {
            self.signal("decode-exec", span);
        }
        if let Some(text) = &info.content {
            let mut chain = vec![via.to_string()];
            chain.extend(info.taint.decoders.iter().cloned());
            if !info.taint.decoders.is_empty() {
                self.signal("decoded-payload", span);
            }
            let text = text.clone();
            self.payload(lang, &text, chain, span)?;
        }
        Ok(())
    }

    /// Recursively analyses a payload; its facts take the outer span and the chain in `via`.
    pub(super) fn payload(
        &mut self,
        lang: Lang,
        code: &str,
        via: Vec<String>,
        span: Span,
    ) -> R<()> {
        let Some(nested) = self.budget.nested() else {
            return Ok(());
        };
        if code.len() > nested.max_bytes || code.trim().is_empty() {
            return Ok(());
        }
        // Re-analysing a payload is folding work, and so is handing it a copy
        // of every variable: both are paid for, or the payload is skipped
        // (its variables unknown).
        if !self.keep(code.len(), span) {
            return Ok(());
        }
        let inherited = if lang == Lang::Bash {
            let cost = self
                .vars
                .iter()
                .map(|(k, v)| k.len().saturating_add(var_cost(v)))
                .fold(0usize, usize::saturating_add);
            if self.budget.charge(cost) {
                self.vars.clone()
            } else {
                self.report_bound(span);
                HashMap::new()
            }
        } else {
            HashMap::new()
        };
        let result = match lang {
            Lang::Bash => {
                crate::analyze::bash::extract_with(code, &nested, self.depth, Some(inherited))
            }
            Lang::Python => crate::analyze::python::extract(code, &nested),
            Lang::Javascript => crate::analyze::javascript::extract(code, &nested),
            Lang::Other(interp) => return self.embedded(interp, code, &via, span),
        };
        match result {
            Ok(facts) => {
                for mut f in facts {
                    if f.kind == FactKind::Signal && f.name == "env-harvest" {
                        self.secret_seen = true;
                    }
                    if f.kind == FactKind::Command
                        && (DOWNLOAD_TOOLS.contains(&f.name.as_str())
                            || NET_TOOLS.contains(&f.name.as_str()))
                    {
                        self.net_sink.get_or_insert(span);
                    }
                    f.span = span;
                    let mut chain = via.clone();
                    chain.append(&mut f.via);
                    f.via = chain;
                    self.facts.push(f);
                }
                Ok(())
            }
            Err(AnalyzeError::TooLarge { .. }) => Ok(()),
            Err(AnalyzeError::Unparseable {
                line,
                column,
                message,
            }) => Err(AnalyzeError::Unparseable {
                line: span.start_line,
                column: span.start_col,
                message: format!(
                    "payload via {} does not parse at {line}:{column}: {message}",
                    via.join(" > ")
                ),
            }),
            Err(e) => Err(e),
        }
    }

    /// `eval` runs its arguments joined by spaces as shell code.
    pub(super) fn eval(&mut self, args: &[Word], span: Span) -> R<()> {
        let mut joined = Word::default();
        for (k, a) in args.iter().enumerate() {
            if k > 0 {
                joined.push_lit(" ");
            }
            joined.append(a.clone());
        }
        self.exec_code(Lang::Bash, "eval", &joined, span, true)?;
        Ok(())
    }

    /// `source file`: a file the script wrote, standard input or a process
    /// substitution.
    pub(super) fn source(&mut self, name: &str, args: &[Word], rc: &RunCtx) -> R<()> {
        let span = rc.span;
        if let Some(first) = args.first() {
            let t = first.known_text();
            if first.procsub {
                self.signal("dynamic-code", span);
                if first.taint.download {
                    self.signal("download-exec", span);
                }
                if !first.taint.decoders.is_empty() {
                    self.signal("decode-exec", span);
                }
            } else if matches!(
                t.as_str(),
                "/dev/stdin" | "-" | "/proc/self/fd/0" | "/dev/fd/0"
            ) {
                self.exec_stdin(Lang::Bash, name, &rc.stdin, span)?;
            } else if !first.has_unknown() {
                let p = paths::normalise(&t);
                if let Some(info) = self
                    .files
                    .get(&p)
                    .cloned()
                    .or_else(|| self.file_by_basename(&p))
                {
                    self.run_file(&info, &format!("source {p}"), Lang::Bash, span)?;
                }
            } else {
                self.signal("dynamic-code", span);
            }
        }
        Ok(())
    }

    /// An alias body is shell code that runs when the alias is used.
    pub(super) fn alias(&mut self, args: &[Word], span: Span) -> R<()> {
        for a in args {
            if let Some(c) = a.constant() {
                if let Some((_, v)) = c.split_once('=') {
                    self.payload(Lang::Bash, v, vec!["alias".into()], span)?;
                }
            }
        }
        Ok(())
    }

    /// `trap CODE SIGNAL...` runs its first operand as shell code.
    pub(super) fn trap(&mut self, args: &[Word], span: Span) -> R<()> {
        if let Some(code) = args.iter().find(|a| !a.known_text().starts_with('-')) {
            let code = code.clone();
            self.exec_code(Lang::Bash, "trap", &code, span, false)?;
        }
        Ok(())
    }

    /// `crontab`, `at`, `batch`: each scheduled line is shell code.
    pub(super) fn schedule(&mut self, name: &str, texts: &[String], rc: &RunCtx) -> R<()> {
        let span = rc.span;
        let content = rc.stdin.text.clone().or_else(|| {
            texts
                .iter()
                .rev()
                .find(|t| !t.starts_with('-'))
                .and_then(|t| {
                    let p = paths::normalise(t);
                    self.files.get(&p).and_then(|i| i.content.clone())
                })
        });
        if rc.stdin.taint.download {
            self.signal("download-exec", span);
        }
        if let Some(c) = content {
            for line in c.lines() {
                let l = line.trim();
                if l.is_empty() || l.starts_with('#') {
                    continue;
                }
                let cmd = if name == "crontab" {
                    if l.starts_with('@') {
                        l.split_once(char::is_whitespace).map(|x| x.1).unwrap_or("")
                    } else if l.split_whitespace().next().is_some_and(|f| f.contains('=')) {
                        ""
                    } else {
                        let mut rest = l;
                        for _ in 0..5 {
                            rest = rest.trim_start();
                            rest = rest
                                .split_once(char::is_whitespace)
                                .map(|x| x.1)
                                .unwrap_or("");
                        }
                        rest
                    }
                } else {
                    l
                };
                if !cmd.trim().is_empty() {
                    self.payload(Lang::Bash, cmd, vec![name.to_string()], span)?;
                }
            }
        }
        Ok(())
    }
}
