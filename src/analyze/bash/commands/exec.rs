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
use crate::analyze::bash::words::{Part, Word};
use crate::analyze::{AnalyzeError, FactKind, Span};

/// Stand for an unknown piece of code in `code_template`: a variable nobody
/// sets (upper case, so it reads as unknown rather than empty) in Bash, a
/// plain name no real program or API has in the other languages.
const HOLE_VAR: &str = "__CORDON_UNKNOWN__";
const PLACEHOLDER: &str = "__cordon_unknown__";

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
            None => self.code_template(lang, via, code, span)?,
        }
        Ok(())
    }

    /// Code with unknown pieces (`eval "$2=(\"$a\")"`, `trap "rm -f '$tmp'"
    /// EXIT`, `eval "$(tool init -)"`, `python -c "print('$1')"`). Running
    /// code is what the script is for; code it cannot see is a way to hide
    /// an attack only when it comes from data the script does not control
    /// (the network, a decoder, host files, run-time input, a transformation
    /// of its own constants the analyzer does not follow). Otherwise the
    /// known part is analysed with each unknown piece as an unknown value
    /// (Bash: a variable nobody sets; other languages: a placeholder name),
    /// and code that does not read even so is dynamic.
    fn code_template(&mut self, lang: Lang, via: &str, code: &Word, span: Span) -> R<()> {
        // Once the memory bound has refused a value, an unknown piece may be
        // that value (a variable doubled past the bound, then `eval`ed): the
        // script built it, but nobody can read it, so it is dynamic code.
        if code.taint.untrusted() || self.bound_reports > 0 {
            self.signal("dynamic-code", span);
            return Ok(());
        }
        let hole = if lang == Lang::Bash {
            format!("${{{HOLE_VAR}}}")
        } else {
            PLACEHOLDER.to_string()
        };
        let mut text = String::new();
        let mut known = false;
        for (i, p) in code.parts.iter().enumerate() {
            match p {
                Part::Lit(l) => {
                    text.push_str(l);
                    known |= !l.trim().is_empty();
                }
                Part::Split => text.push(' '),
                // `eval "$name=(...)"`, `eval "$1+=x"`: the caller names the
                // variable the code assigns; a name stands in for it.
                Part::Unknown if assigns_to(&text, code.parts.get(i + 1)) => {
                    text.push_str(PLACEHOLDER)
                }
                Part::Unknown => text.push_str(&hole),
            }
        }
        if !known || matches!(lang, Lang::Other(_)) {
            return Ok(());
        }
        let before = self.facts.len();
        // A stand-in that does not fit where the piece sits (`load(x)$acc`)
        // gets a second reading with the piece empty, one of its values.
        let empty = code.parts.iter().fold(String::new(), |mut t, p| {
            match p {
                Part::Lit(l) => t.push_str(l),
                Part::Split => t.push(' '),
                Part::Unknown => {}
            }
            t
        });
        let via = vec![via.to_string()];
        let read = match self.payload(lang, &text, via.clone(), span) {
            Err(AnalyzeError::Unparseable { .. }) => self.payload(lang, &empty, via, span),
            r => r,
        };
        match read {
            Ok(()) => {}
            Err(AnalyzeError::Unparseable { .. }) => self.signal("dynamic-code", span),
            Err(e) => return Err(e),
        }
        // The placeholder is no program: a call that names it says nothing.
        let new = self.facts.split_off(before);
        self.facts.extend(
            new.into_iter()
                .filter(|f| !(f.kind == FactKind::Command && f.name.contains(PLACEHOLDER))),
        );
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
        self.exec_code(Lang::Bash, "eval", &joined, span, false)?;
        Ok(())
    }

    /// `source file`: a file the script wrote, standard input, a process
    /// substitution or a path from untrusted data.
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
            } else if first.taint.untrusted() {
                // Loading a library from a computed path (`source
                // "$ROOT/lib/x.bash"`, `for f in hooks/*; do . "$f"`) is how
                // shell programs are split into files; it is dynamic only
                // when the path comes from data the script does not control.
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

/// Whether an unknown piece after the code `before` and followed by `next`
/// is the name of a variable the code assigns: at the start of a command
/// and followed by `=`, `+=` or `[`.
fn assigns_to(before: &str, next: Option<&Part>) -> bool {
    let starts = before.is_empty() || before.ends_with([' ', '\t', '\n', ';', '&', '|', '(', '{']);
    let assigns = matches!(
        next,
        Some(Part::Lit(l)) if l.starts_with('=') || l.starts_with("+=") || l.starts_with('[')
    );
    starts && assigns
}
