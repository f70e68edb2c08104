//! Dynamic code and embedded languages: `eval`/`Function`/`vm` payloads
//! analysed recursively as JavaScript, shell strings as Bash, and other
//! interpreters' code, with their facts adopted.
//!
//! What it must not do: recurse without `budget.nested()`.

use super::{span_of, Walker};
use crate::analyze::javascript::names::{self, basename, is_cloud_metadata};
use crate::analyze::javascript::value::{Val, SELF_MARK};
use crate::analyze::{AnalyzeError, Fact, FactKind};
use tree_sitter::Node;

impl<'t, 'b> Walker<'t, 'b> {
    pub(super) fn dynamic_code(&mut self, node: Node<'t>, sink: &str, code: Option<&Val<'t>>) {
        self.signal("dynamic-code", node, vec![sink.to_string()]);
        let Some(code) = code else { return };
        if !code.decoders.is_empty() {
            let d: Vec<String> = code.decoders.iter().map(|s| s.to_string()).collect();
            self.signal("decode-exec", node, d);
        }
        if self.record_hoisted {
            return;
        }
        let Some(text) = code.as_str() else { return };
        let Some(nested) = self.budget.nested() else {
            return;
        };
        if text.len() > self.budget.max_payload_bytes {
            return;
        }
        let mut via = vec![sink.to_string()];
        via.extend(code.decoders.iter().map(|s| s.to_string()));
        match super::super::analyze_nested(text, &nested) {
            Ok(facts) => {
                let hides = facts.iter().any(reveals_capability);
                self.adopt(node, facts, &via);
                if !code.decoders.is_empty() {
                    self.signal("decoded-payload", node, via.clone());
                }
                if hides || code.obf {
                    self.signal(
                        "string-obfuscation",
                        node,
                        vec![format!("{sink}(constant code)")],
                    );
                }
            }
            Err(AnalyzeError::Timeout) => self.error = Some(AnalyzeError::Timeout),
            Err(AnalyzeError::TooDeep { limit }) => {
                self.error = Some(AnalyzeError::TooDeep { limit })
            }
            Err(_) => {}
        }
    }

    /// Takes facts found in a payload: they point at the sink's span and carry the chain.
    pub(super) fn adopt(&mut self, node: Node<'t>, facts: Vec<Fact>, via: &[String]) {
        let span = span_of(node);
        for mut f in facts {
            let mut chain = via.to_vec();
            chain.append(&mut f.via);
            f.via = chain;
            f.span = span;
            self.facts.push(f);
        }
    }

    /// A shell command string handed to `exec`: analysed by the bash analyzer.
    pub(super) fn shell_payload(&mut self, node: Node<'t>, sink: &str, cmd: &Val<'t>) {
        if !cmd.decoders.is_empty() {
            let d: Vec<String> = cmd.decoders.iter().map(|s| s.to_string()).collect();
            self.signal("decode-exec", node, d);
        }
        let Some(text) = cmd.to_partial_string() else {
            return;
        };
        if self.record_hoisted {
            return;
        }
        self.emit(FactKind::String, text.clone(), node, Vec::new());
        if text.contains(SELF_MARK) {
            self.fork_check(node, true);
        }
        if is_cloud_metadata(&text) {
            self.signal("cloud-metadata", node, vec![text.clone()]);
        }
        self.foreign_payload(node, sink, cmd, Foreign::Bash);
    }

    pub(super) fn foreign_payload(
        &mut self,
        node: Node<'t>,
        sink: &str,
        code: &Val<'t>,
        lang: Foreign,
    ) {
        let Some(text) = code.to_partial_string() else {
            return;
        };
        if self.record_hoisted || text.len() > self.budget.max_payload_bytes {
            return;
        }
        let mut via = vec![sink.to_string()];
        via.extend(code.decoders.iter().map(|s| s.to_string()));
        let result = match self.budget.nested() {
            Some(nested) => match lang {
                Foreign::Bash => crate::analyze::bash::extract(&text, &nested),
                Foreign::Python => crate::analyze::python::extract(&text, &nested),
            },
            None => Ok(Vec::new()),
        };
        let facts = match result {
            Ok(f) => f,
            Err(AnalyzeError::Timeout) => {
                self.error = Some(AnalyzeError::Timeout);
                return;
            }
            Err(AnalyzeError::TooDeep { limit }) => {
                self.error = Some(AnalyzeError::TooDeep { limit });
                return;
            }
            Err(_) => Vec::new(),
        };
        let has_commands = facts.iter().any(|f| f.kind == FactKind::Command);
        self.adopt(node, facts, &via);
        if lang == Foreign::Bash && !has_commands {
            // The bash analyzer saw no command (or could not parse it): name
            // the first word of each simple command so rules still apply.
            for (name, args) in fallback_commands(&text) {
                let span = span_of(node);
                self.facts.push(
                    Fact::new(FactKind::Command, name, span)
                        .with_args(args)
                        .with_via(via.clone()),
                );
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Foreign {
    Bash,
    Python,
}

/// A payload fact that shows a capability worth hiding (so running it
/// through `eval` counts as obfuscation).
pub(super) fn reveals_capability(f: &Fact) -> bool {
    match f.kind {
        FactKind::Import => {
            names::SENSITIVE_MODULES.contains(&names::module_path(&f.name).as_str())
        }
        FactKind::Call => {
            let root = f.name.split('.').next().unwrap_or("");
            matches!(
                root,
                "child_process"
                    | "net"
                    | "tls"
                    | "dgram"
                    | "http"
                    | "https"
                    | "fs"
                    | "vm"
                    | "fetch"
            ) || names::code_sink(&f.name).is_some()
                || f.name.starts_with("process.binding")
        }
        FactKind::Command => true,
        FactKind::Signal => matches!(
            f.name.as_str(),
            "reverse-shell"
                | "env-harvest"
                | "sensitive-path"
                | "cloud-metadata"
                | "fork-bomb"
                | "recursive-delete-root"
        ),
        _ => false,
    }
}

/// First words of the simple commands in a shell string, for when the bash
/// analyzer reports none. Deliberately crude: it only keeps rules working.
pub(super) fn fallback_commands(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for seg in text.split([';', '|', '&', '\n', '(', ')', '`']) {
        let mut words = seg
            .split_whitespace()
            .filter(|w| !w.contains('=') || w.starts_with('-'));
        let Some(first) = words.next() else { continue };
        let first = first.trim_matches(['"', '\'', '$', '{', '}']);
        if first.is_empty() || first.starts_with('>') || first.starts_with('<') {
            continue;
        }
        let name = basename(first).to_string();
        let args: Vec<String> = words
            .map(|w| w.trim_matches(['"', '\'']).to_string())
            .collect();
        out.push((name, args));
        if out.len() > 64 {
            break;
        }
    }
    out
}
