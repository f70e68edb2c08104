//! The decision: findings + risk score + requested limits + policy become a
//! verdict (`allow`, `review`, `deny`) with the reasons listed and, when
//! allowed, the exact limits and image the run gets.
//!
//! Fail-closed rules live here and nowhere else: analysis errors deny (or
//! review, where the policy's `onUnparseable` says so), a language without a
//! runtime in the policy denies, and a request for more than the policy
//! grants denies rather than being silently clamped. This module does not
//! run anything and does not write the audit log.

use serde::{Deserialize, Serialize};

use crate::analyze::Analysis;
use crate::policy::{Action, Enforcement, Limits, Policy};
use crate::units::{ByteSize, HumanDuration};
use crate::Language;

/// What happens to a submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Allow,
    Review,
    Deny,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Review => "review",
            Verdict::Deny => "deny",
        }
    }

    fn from_action(a: Action) -> Verdict {
        match a {
            Action::Allow => Verdict::Allow,
            Action::Review => Verdict::Review,
            Action::Deny => Verdict::Deny,
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One reason for a verdict, with a stable code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// Stable code: `unparseable`, `too_large`, `analysis_timeout`, `analyzer_error`,
    /// `rule_action`, `category_action`, `score_deny`, `score_review`,
    /// `limits_exceed_policy`, `no_runtime`, `network_disabled`, `audit_mode`.
    pub code: String,
    pub message: String,
}

impl Reason {
    fn new(code: &str, message: impl Into<String>) -> Reason {
        Reason {
            code: code.to_string(),
            message: message.into(),
        }
    }
}

/// Limits asked for by the caller; each may only lower the policy's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<ByteSize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_time: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<ByteSize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<ByteSize>,
}

/// The policy identity recorded with every decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRef {
    pub name: String,
    pub hash: String,
}

/// The outcome of the decide step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The verdict that is enforced.
    pub verdict: Verdict,
    /// What `enforcement: enforce` would have decided; equals `verdict` unless in audit mode.
    pub would_be: Verdict,
    pub enforcement: Enforcement,
    pub risk_score: u32,
    pub reasons: Vec<Reason>,
    pub policy: PolicyRef,
    /// Image to run, when the policy has a runtime for the language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Effective limits (policy lowered by the request), when the policy has a runtime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
}

impl Decision {
    /// Rule ids behind the findings, for the audit record.
    pub fn allowed(&self) -> bool {
        self.verdict == Verdict::Allow
    }
}

/// Applies `request` to `base`: each requested value must be at most the policy's.
/// Returns the effective limits or the list of fields that ask for more.
pub fn apply_request(base: &Limits, request: &LimitRequest) -> Result<Limits, Vec<String>> {
    let mut out = *base;
    let mut over = Vec::new();
    macro_rules! lower {
        ($field:ident, $show:expr) => {
            if let Some(v) = request.$field {
                if v > base.$field {
                    over.push(format!(
                        "{} {} > policy {}",
                        stringify!($field),
                        $show(&v),
                        $show(&base.$field)
                    ));
                } else {
                    out.$field = v;
                }
            }
        };
    }
    lower!(memory, |v: &ByteSize| v.to_string());
    lower!(pids, |v: &u32| v.to_string());
    lower!(wall, |v: &HumanDuration| v.to_string());
    lower!(cpu_time, |v: &HumanDuration| v.to_string());
    lower!(output, |v: &ByteSize| v.to_string());
    lower!(tmpfs, |v: &ByteSize| v.to_string());
    if let Some(c) = request.cpus {
        if c.is_nan() || c <= 0.0 {
            over.push(format!("cpus {c} is not a positive CPU count"));
        } else if c > base.cpus {
            over.push(format!("cpus {c} > policy {}", base.cpus));
        } else {
            out.cpus = c;
        }
    }
    if over.is_empty() {
        Ok(out)
    } else {
        Err(over)
    }
}

/// Decides what happens to analysed code.
pub fn decide(
    policy: &Policy,
    language: Language,
    analysis: &Analysis,
    request: &LimitRequest,
) -> Decision {
    let doc = &policy.doc;
    let mut reasons = Vec::new();
    let mut verdict = Verdict::Allow;
    let mut raise = |v: Verdict, reason: Reason, reasons: &mut Vec<Reason>| {
        verdict = verdict.max(v);
        // The same reason twice (a category hit by several findings) says nothing new.
        if !reasons.contains(&reason) {
            reasons.push(reason);
        }
    };

    if let Some(err) = &analysis.error {
        let v = match err.reason_code() {
            "unparseable" => Verdict::from_action(doc.on_unparseable).max(Verdict::Review),
            _ => Verdict::Deny,
        };
        raise(
            v,
            Reason::new(err.reason_code(), err.to_string()),
            &mut reasons,
        );
    }

    for f in &analysis.findings {
        if let Some(a) = f.action {
            if a > Action::Allow {
                raise(
                    Verdict::from_action(a),
                    Reason::new(
                        "rule_action",
                        format!(
                            "{} ({}) at {}:{}: {}",
                            f.rule_id,
                            a.as_str(),
                            f.span.start_line,
                            f.span.start_col,
                            f.message
                        ),
                    ),
                    &mut reasons,
                );
            }
        }
        if let Some(a) = f
            .category
            .as_ref()
            .and_then(|c| doc.category_actions.get(c))
        {
            if *a > Action::Allow {
                raise(
                    Verdict::from_action(*a),
                    Reason::new(
                        "category_action",
                        format!(
                            "{} is in category {} which this policy sets to {}",
                            f.rule_id,
                            f.category.as_deref().unwrap_or(""),
                            a.as_str()
                        ),
                    ),
                    &mut reasons,
                );
            }
        }
    }

    let score = analysis.risk_score;
    if score >= doc.thresholds.deny {
        raise(
            Verdict::Deny,
            Reason::new(
                "score_deny",
                format!(
                    "risk score {score} >= deny threshold {}",
                    doc.thresholds.deny
                ),
            ),
            &mut reasons,
        );
    } else if score >= doc.thresholds.review {
        raise(
            Verdict::Review,
            Reason::new(
                "score_review",
                format!(
                    "risk score {score} >= review threshold {}",
                    doc.thresholds.review
                ),
            ),
            &mut reasons,
        );
    }

    // Explain, not score: networking code will simply fail in the sandbox.
    if analysis
        .findings
        .iter()
        .any(|f| f.category.as_deref() == Some("network"))
    {
        reasons.push(Reason::new("network_disabled", "the code uses networking, but the sandbox has no network (network: none): connections will fail"));
    }

    let runtime = doc.runtimes.get(&language);
    let mut limits = None;
    match runtime {
        None => raise(
            Verdict::Deny,
            Reason::new(
                "no_runtime",
                format!("policy {} has no runtime for {language}", policy.name()),
            ),
            &mut reasons,
        ),
        Some(rt) => match apply_request(&rt.limits, request) {
            Ok(l) => limits = Some(l),
            Err(over) => raise(
                Verdict::Deny,
                Reason::new(
                    "limits_exceed_policy",
                    format!("requested limits exceed the policy: {}", over.join(", ")),
                ),
                &mut reasons,
            ),
        },
    }

    let would_be = verdict;
    let mut enforced = would_be;
    if doc.enforcement == Enforcement::Audit && would_be != Verdict::Allow {
        // Dry run: record what would have happened, but only for policy
        // judgements. What cordon cannot check or isolate stays denied.
        let unsafe_to_run = analysis.error.is_some() || limits.is_none();
        if !unsafe_to_run {
            enforced = Verdict::Allow;
            reasons.push(Reason::new(
                "audit_mode",
                format!("enforcement: audit — would have been {would_be}, allowed as a dry run"),
            ));
        }
    }

    Decision {
        verdict: enforced,
        would_be,
        enforcement: doc.enforcement,
        risk_score: score,
        reasons,
        policy: PolicyRef {
            name: policy.name().to_string(),
            hash: policy.hash.clone(),
        },
        image: runtime.map(|r| r.image.clone()),
        limits,
    }
}
