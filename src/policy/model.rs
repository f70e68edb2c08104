//! The policy as written in YAML: plain serde types with
//! `deny_unknown_fields`, so a misspelt key is an error, not a silent default.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::units::{ByteSize, HumanDuration};
use crate::Language;

pub const API_VERSION: &str = "cordon.dev/v1";

/// A whole policy file (`kind: Policy`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PolicyDoc {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    #[serde(default)]
    pub enforcement: Enforcement,
    pub thresholds: Thresholds,
    pub runtimes: BTreeMap<Language, Runtime>,
    #[serde(default)]
    pub network: NetworkMode,
    /// What to do with code that does not parse: `deny` (default) or `review`.
    #[serde(default = "default_unparseable")]
    pub on_unparseable: Action,
    /// Rule packs to include, relative to this file.
    #[serde(default)]
    pub include: Vec<String>,
    /// Force at least this action for every finding of a category.
    #[serde(default)]
    pub category_actions: BTreeMap<String, Action>,
    #[serde(default)]
    pub rules: Vec<Rule>,
}

fn default_unparseable() -> Action {
    Action::Deny
}

/// A rule pack file (`kind: RulePack`): rules only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RulePackDoc {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    #[serde(default)]
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `enforce` blocks; `audit` evaluates and records the would-be verdict but allows (dry run).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Enforcement {
    #[default]
    Enforce,
    Audit,
}

/// Risk-score thresholds: `score >= review` holds for review, `score >= deny` denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    pub review: u32,
    pub deny: u32,
}

/// The only network mode in v1. Anything else is rejected at load time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    #[default]
    None,
}

/// Image and limits for one language.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runtime {
    pub image: String,
    pub limits: Limits,
}

/// Resource limits. Every field is required in a policy, so a policy always
/// states what it allows; requests may only lower them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// CPU share in cores (`0.5` = half a core).
    pub cpus: f64,
    pub memory: ByteSize,
    pub pids: u32,
    /// Wall-clock deadline.
    pub wall: HumanDuration,
    /// Total CPU time budget.
    pub cpu_time: HumanDuration,
    /// Cap on captured stdout and on stderr, each.
    pub output: ByteSize,
    /// Size of the `/tmp` scratch tmpfs.
    pub tmpfs: ByteSize,
}

/// The verdict a rule may force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Allow,
    Review,
    Deny,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Review => "review",
            Action::Deny => "deny",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// One rule: when `match` matches a fact, a finding is raised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Stable id, `PY-PROC-001` style. Never reused for another meaning.
    pub id: String,
    /// Restricts the rule to one language; absent means every language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<Language>,
    #[serde(rename = "match")]
    pub matcher: Match,
    pub severity: Severity,
    /// Contribution to the risk score, 0-100.
    pub score: u32,
    /// `CWE-78` style reference.
    pub cwe: String,
    pub message: String,
    /// Grouping used by `categoryActions`: process, network, filesystem,
    /// dynamic-code, obfuscation, privilege, persistence, resource, secrets, escape, info.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Forces at least this verdict when the rule fires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
}

/// What a rule matches. Each key lists glob patterns (`*` matches any run of
/// characters, `?` one character) for facts of the same kind; a fact matches
/// when its name matches a pattern of its kind's list. `args`, when present,
/// further requires one of the fact's constant arguments to match one of its
/// patterns (so `command: [chmod], args: ["+s", "*u+s*"]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Match {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub import: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub call: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attribute: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirect: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub string: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signal: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
}
