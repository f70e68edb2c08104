//! Matching facts against a policy's rules, producing findings.
//!
//! A rule fires on a fact when the fact's name matches one of the rule's
//! patterns for that fact's kind and, if the rule lists `args`, one of the
//! fact's constant arguments matches one of those. The rule engine knows
//! nothing about languages beyond the rule's optional `language:` filter.

use serde::{Deserialize, Serialize};

use super::fact::{Fact, FactKind, Span};
use crate::policy::glob::Glob;
use crate::policy::{Action, CompiledRule, Policy, Severity};
use crate::Language;

/// One rule that fired, where, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub rule_id: String,
    pub severity: Severity,
    pub cwe: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub message: String,
    pub score: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
    pub span: Span,
    /// The source line the finding is on (trimmed, at most 200 characters).
    pub snippet: String,
    /// What matched, as `kind:name` (`call:os.system`).
    pub matched: String,
    /// For findings inside decoded or embedded payloads, the chain that revealed them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub via: Vec<String>,
}

fn any(globs: &[Glob], text: &str) -> bool {
    globs.iter().any(|g| g.matches(text))
}

impl CompiledRule {
    /// Whether this rule fires on `fact`.
    pub fn matches(&self, fact: &Fact) -> bool {
        let list = match fact.kind {
            FactKind::Import => &self.import,
            FactKind::Call => &self.call,
            FactKind::Attribute => &self.attribute,
            FactKind::Command => &self.command,
            FactKind::Redirect => &self.redirect,
            FactKind::String => &self.string,
            FactKind::Signal => &self.signal,
        };
        if !any(list, &fact.name) {
            return false;
        }
        self.args.is_empty() || fact.args.iter().any(|a| any(&self.args, a))
    }

    fn applies_to(&self, language: Language) -> bool {
        self.rule.language.is_none_or(|l| l == language)
    }
}

/// Lines of the submitted code, found once: a file can have hundreds of
/// findings, and walking to each one's line from the top was quadratic.
struct Lines<'a> {
    lines: Vec<&'a str>,
}

impl<'a> Lines<'a> {
    fn new(code: &'a str) -> Self {
        Lines {
            lines: code.lines().collect(),
        }
    }

    /// The source line for `span`, trimmed for display.
    fn snippet(&self, span: Span) -> String {
        let line = self
            .lines
            .get(span.start_line.saturating_sub(1) as usize)
            .copied()
            .unwrap_or("");
        trimmed(line)
    }
}

fn trimmed(line: &str) -> String {
    let t = line.trim_end();
    if t.chars().count() > 200 {
        t.chars().take(200).collect::<String>() + "..."
    } else {
        t.to_string()
    }
}

/// At most this many findings of one rule are reported for one analysis.
pub const MAX_FINDINGS_PER_RULE: usize = 200;

/// Every finding the policy's rules raise on `facts`, ordered by position then rule id,
/// one per rule and start position.
pub fn findings(policy: &Policy, language: Language, code: &str, facts: &[Fact]) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    let lines = Lines::new(code);
    // Languages of the facts: mostly just the submission's. Rules of no
    // language present are skipped up front (two thirds of the rules, for a
    // file in one language).
    let mut present = vec![language];
    for f in facts {
        if let Some(l) = f.language {
            if !present.contains(&l) {
                present.push(l);
            }
        }
    }
    for rule in policy
        .rules
        .iter()
        .filter(|r| present.iter().any(|l| r.applies_to(*l)))
    {
        // A fact is judged by the rules of the language it was written in
        // (Bash rules see the shell command inside `os.system(...)`) and by
        // those of the submission's language (a JavaScript rule may name the
        // shell commands a Node program spawns).
        let relevant = |f: &&Fact| {
            (rule.applies_to(f.language.unwrap_or(language)) || rule.applies_to(language))
                && rule.matches(f)
        };
        // This rule's findings are the tail of `out` from here: only they
        // can be the same place, and there are at most
        // `MAX_FINDINGS_PER_RULE` of them, so merging stays linear in the
        // facts (30,000 `os.system` lines once took minutes here, outside
        // the analysis's time budget).
        let first = out.len();
        for fact in facts.iter().filter(relevant) {
            // One finding per rule and place. `require('x').y().z()` yields
            // an import and two calls that all start at `require`; a folded
            // string is seen again in each expression around it. The reader
            // needs one line there: the outermost span, and a call or
            // attribute rather than the bare import, because it says what
            // the code does.
            let matched = format!("{}:{}", fact.kind.as_str(), fact.name);
            let same_place = out[first..].iter().position(|f| {
                f.rule_id == rule.rule.id
                    && ((f.span.start_line, f.span.start_col)
                        == (fact.span.start_line, fact.span.start_col)
                        || (f.matched == matched
                            && (f.span.contains(&fact.span) || fact.span.contains(&f.span))))
            });
            if let Some(i) = same_place {
                let f = &mut out[first + i];
                let better = f.matched.starts_with("import:")
                    && matches!(fact.kind, FactKind::Call | FactKind::Attribute);
                if better
                    || (f.matched == matched && fact.span != f.span && fact.span.contains(&f.span))
                {
                    f.span = fact.span;
                    f.snippet = lines.snippet(fact.span);
                    f.matched = matched;
                    f.via = fact.via.clone();
                }
                continue;
            }
            if out.len() - first >= MAX_FINDINGS_PER_RULE {
                // The rule has fired; more places add nothing to the verdict
                // or the score (both count rules, not places).
                break;
            }
            let r = &rule.rule;
            out.push(Finding {
                rule_id: r.id.clone(),
                severity: r.severity,
                cwe: r.cwe.clone(),
                category: r.category.clone(),
                message: r.message.clone(),
                score: r.score,
                action: r.action,
                span: fact.span,
                snippet: lines.snippet(fact.span),
                matched,
                via: fact.via.clone(),
            });
        }
    }
    out.sort_by(|a, b| a.span.cmp(&b.span).then_with(|| a.rule_id.cmp(&b.rule_id)));
    out
}
