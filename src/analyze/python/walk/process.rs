//! Process sinks: `os.system`-like shell strings, `subprocess.*` argv
//! lists, the `os.exec*`/`os.spawn*` family, and process-spawning effects
//! (fork bombs). Shell strings go to the Bash analyzer.
//!
//! What it must not do: run anything; a command it cannot fold is
//! recorded as dynamic, never guessed.

use super::{Folded, Walker, R};
use crate::analyze::python::fold::Val;
use crate::analyze::python::tables::{self, Taint};
use crate::analyze::{AnalyzeError, Span};
use rustpython_parser::ast::{self, Expr};

impl<'a> Walker<'a> {
    pub(super) fn spawn_effects(&mut self, c: &ast::ExprCall, q: &str, span: Span) {
        let spawner = tables::is_spawner(q)
            || (matches!(q, "threading.Thread" | "multiprocessing.Process")
                && Self::kwarg(c, "target").is_some_and(|t| {
                    matches!((t, &self.current_fn), (Expr::Name(n), Some(f)) if n.id.as_str() == f)
                }));
        if !spawner {
            return;
        }
        if self.unbounded_loops > 0 {
            self.signal("fork-bomb", vec![q.to_string()], span);
        } else if self.current_fn.is_some() {
            self.fn_spawns.push(span);
        }
        if matches!(q, "threading.Thread" | "multiprocessing.Process") && self.current_fn.is_some()
        {
            self.fn_recurses = true;
        }
    }

    /// A shell command line argument: analyse it as bash when constant, and
    /// check where its data came from.
    pub(super) fn shell_arg(&mut self, arg: &Expr, q: &str, span: Span) -> R {
        let folded = self.fold(arg);
        let mut via = vec![q.to_string()];
        let decoders = match &folded {
            Some(f) if !f.steps.is_empty() => f.steps.clone(),
            Some(f) if f.obfuscated => vec!["char-codes".to_string()],
            _ => self.decoders_in(arg, 0),
        };
        via.extend(decoders.iter().cloned());
        if let Some(f) = &folded {
            let text = match &f.val {
                Val::Seq(items) => Some(
                    items
                        .iter()
                        .filter_map(|i| i.text())
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
                v => v.text().map(str::to_string),
            };
            if let Some(t) = text {
                if f.obfuscated || !f.steps.is_empty() {
                    self.signal("string-obfuscation", vec![q.to_string()], span);
                }
                if !decoders.is_empty() {
                    self.signal("decoded-payload", via.clone(), span);
                }
                self.shell(&t, via.clone(), span)?;
            }
        }
        if !decoders.is_empty() {
            self.signal("decode-exec", via, span);
        }
        match self.taint_of(arg, 0) {
            Some(Taint::Network) => self.signal("download-exec", vec![q.to_string()], span),
            Some(Taint::Socket) => self.signal("reverse-shell", vec![q.to_string()], span),
            _ => {}
        }
        if self.downloaded.iter().any(|p| {
            folded
                .as_ref()
                .and_then(|f| f.val.text())
                .is_some_and(|t| t.contains(p.as_str()))
        }) {
            self.signal("download-exec", vec![q.to_string()], span);
        }
        Ok(())
    }

    pub(super) fn subprocess(&mut self, c: &'a ast::ExprCall, q: &str, span: Span) -> R {
        let shell = Self::kwarg(c, "shell")
            .and_then(|e| self.fold(e))
            .is_some_and(|f| f.val.truthy());
        for stream in ["stdin", "stdout", "stderr"] {
            if Self::kwarg(c, stream).is_some_and(|e| self.taint_of(e, 0) == Some(Taint::Socket)) {
                self.wired.push(span);
            }
        }
        let first = if q == "asyncio.create_subprocess_exec" {
            None
        } else {
            Self::arg_expr(c, 0, "args")
        };
        if shell {
            if let Some(a) = first {
                self.shell_arg(a, q, span)?;
            }
            return Ok(());
        }
        let argv: Vec<Option<String>> = match first {
            Some(a) => match self.fold(a) {
                Some(Folded {
                    val: Val::Str(s), ..
                }) => vec![Some(s)],
                _ => self.fold_list(a),
            },
            None => c
                .args
                .iter()
                .map(|a| self.fold(a).and_then(|f| f.val.text().map(str::to_string)))
                .collect(),
        };
        if let Some(a) = first {
            match self.taint_of(a, 0) {
                Some(Taint::Network) => self.signal("download-exec", vec![q.to_string()], span),
                Some(Taint::Socket) => self.signal("reverse-shell", vec![q.to_string()], span),
                _ => {}
            }
            let decoders = self.decoders_in(a, 0);
            if !decoders.is_empty() {
                let mut via = vec![q.to_string()];
                via.extend(decoders);
                self.signal("decode-exec", via, span);
            }
        }
        self.argv(&argv, vec![q.to_string()], span)
    }

    /// Elements of a list/tuple expression, each folded when constant.
    pub(super) fn fold_list(&self, e: &Expr) -> Vec<Option<String>> {
        match e {
            Expr::List(ast::ExprList { elts, .. }) | Expr::Tuple(ast::ExprTuple { elts, .. }) => {
                elts.iter()
                    .map(|x| self.fold(x).and_then(|f| f.val.text().map(str::to_string)))
                    .collect()
            }
            other => match self.fold(other) {
                Some(Folded {
                    val: Val::Seq(items),
                    ..
                }) => items.iter().map(|i| i.text().map(str::to_string)).collect(),
                Some(Folded {
                    val: Val::Str(s), ..
                }) => vec![Some(s)],
                _ => Vec::new(),
            },
        }
    }

    /// A process started from an argv: a Command fact for the program, and
    /// nested analysis of `sh -c`, `python -c` and `node -e` arguments.
    pub(super) fn argv(&mut self, argv: &[Option<String>], via: Vec<String>, span: Span) -> R {
        let Some(Some(_)) = argv.first() else {
            return Ok(());
        };
        for a in argv.iter().flatten() {
            self.check_arg(a, span);
            if self.downloaded.iter().any(|p| a.contains(p.as_str())) {
                self.signal("download-exec", vec![a.clone()], span);
            }
        }
        // The argv as the shell would see it, so the bash analyzer (and the
        // bash rules) judge `["curl", ...]` exactly like `curl ...`; it also
        // follows `sh -c`, `python -c` and `node -e` itself.
        let line = argv
            .iter()
            .flatten()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" ");
        if self.shell_facts(&line, &via, span)? {
            return Ok(());
        }
        self.argv_fallback(argv, via, span)
    }

    /// What the coarse scan cannot do when the bash analyzer had nothing:
    /// follow `sh -c`, `python -c` and `node -e` arguments.
    pub(super) fn argv_fallback(
        &mut self,
        argv: &[Option<String>],
        via: Vec<String>,
        span: Span,
    ) -> R {
        let Some(Some(prog_path)) = argv.first() else {
            return Ok(());
        };
        let prog = tables::basename(prog_path).to_string();
        let code_flag = |flag: &str| {
            argv.iter().position(|a| {
                a.as_deref().is_some_and(|a| {
                    a.starts_with('-') && !a.starts_with("--") && a.ends_with(flag)
                })
            })
        };
        let mut inner = via;
        inner.push(prog.clone());
        if tables::is_shell_program(&prog) {
            if let Some(i) = code_flag("c") {
                if let Some(Some(cmd)) = argv.get(i + 1) {
                    self.shell(cmd, inner, span)?;
                }
            }
        } else if prog.starts_with("python") {
            if let Some(i) = code_flag("c") {
                if let Some(Some(code)) = argv.get(i + 1) {
                    self.payload(code, inner, span, false)?;
                }
            }
        } else if prog == "node" || prog == "nodejs" {
            if let Some(i) = code_flag("e") {
                if let (Some(Some(code)), Some(nested)) = (argv.get(i + 1), self.budget.nested()) {
                    match crate::analyze::javascript::extract(code, &nested) {
                        Ok(facts) => self.adopt(facts, &inner, span),
                        Err(AnalyzeError::Timeout) => return Err(AnalyzeError::Timeout),
                        Err(_) => self.signal("dynamic-code", vec!["node -e".into()], span),
                    }
                }
            }
        }
        Ok(())
    }

    /// A constant shell command line: the bash analyzer's facts, or a coarse
    /// word scan when it has nothing to say.
    pub(super) fn shell(&mut self, cmd: &str, via: Vec<String>, span: Span) -> R {
        self.check_arg(cmd, span);
        self.shell_facts(cmd, &via, span).map(|_| ())
    }

    /// Adopts the facts of `cmd` as bash; whether the bash analyzer produced
    /// them (`false` when the coarse scan stood in).
    pub(super) fn shell_facts(
        &mut self,
        cmd: &str,
        via: &[String],
        span: Span,
    ) -> Result<bool, AnalyzeError> {
        let Some(nested) = self.budget.nested() else {
            return Ok(true);
        };
        let facts = match crate::analyze::bash::extract(cmd, &nested) {
            Ok(f) => f,
            Err(AnalyzeError::Timeout) => return Err(AnalyzeError::Timeout),
            Err(_) => Vec::new(),
        };
        if !facts.is_empty() {
            self.adopt(facts, via, span);
            return Ok(true);
        }
        let mut facts = super::super::shellscan::scan(cmd, span);
        crate::analyze::fact::tag_language(&mut facts, crate::Language::Bash);
        self.adopt(facts, via, span);
        Ok(false)
    }
}

/// `'word'` with embedded quotes escaped, for rebuilding a command line from an argv.
pub(super) fn shell_quote(a: &str) -> String {
    if !a.is_empty()
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c))
    {
        return a.to_string();
    }
    format!("'{}'", a.replace('\'', "'\\''"))
}
