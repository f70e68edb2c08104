//! Static analysis: each language analyzer turns source into [`Fact`]s; the
//! policy's rules turn facts into [`Finding`]s; [`score`] turns findings
//! into a risk score.
//!
//! This module never decides (that is [`crate::decide`]) and never runs code.
//! It fails closed: input that is not UTF-8, too large, too deep, too slow
//! to analyse or that does not parse yields an [`AnalyzeError`], which the
//! decision turns into a deny.

pub mod bash;
pub mod budget;
pub mod fact;
pub mod javascript;
pub mod python;
pub mod rules;
pub mod score;
pub mod secrets;
pub mod signals;

use std::time::{Duration, Instant};

use serde::Serialize;

pub use budget::{Allowance, AnalyzeError, Budget};
pub use fact::{Fact, FactKind, Span};
pub use rules::Finding;

use crate::policy::Policy;
use crate::Language;

/// The result of analysing one submission.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    pub language: Language,
    pub findings: Vec<Finding>,
    pub risk_score: u32,
    /// Set when the code could not be analysed; the decision denies it.
    #[serde(serialize_with = "ser_error")]
    pub error: Option<AnalyzeError>,
    /// How many facts the analyzer produced.
    pub facts: usize,
    #[serde(rename = "duration_us", serialize_with = "ser_micros")]
    pub duration: Duration,
}

fn ser_error<S: serde::Serializer>(e: &Option<AnalyzeError>, s: S) -> Result<S::Ok, S::Error> {
    match e {
        None => s.serialize_none(),
        Some(e) => {
            serde_json::json!({ "code": e.reason_code(), "message": e.to_string() }).serialize(s)
        }
    }
}

fn ser_micros<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_micros() as u64)
}

/// Extracts facts from `code` with the analyzer for `language`.
pub fn extract(language: Language, code: &str, budget: &Budget) -> Result<Vec<Fact>, AnalyzeError> {
    if code.len() > budget.max_bytes {
        return Err(AnalyzeError::TooLarge {
            size: code.len(),
            limit: budget.max_bytes,
        });
    }
    match language {
        Language::Python => python::extract(code, budget),
        Language::Javascript => javascript::extract(code, budget),
        Language::Bash => bash::extract(code, budget),
    }
}

/// Stack for the analysis thread: the analyzers bound their own depth, this
/// is the second fence so a missed recursion cannot overflow the caller's stack.
const ANALYSIS_STACK: usize = 64 << 20;

/// Analyses `code` under `policy`: decode, parse, extract facts, match rules, score.
/// Never panics and never runs the code.
pub fn analyze(code: &[u8], language: Language, policy: &Policy) -> Analysis {
    analyze_with_budget(code, language, policy, Budget::start())
}

/// [`analyze`] with an explicit budget.
pub fn analyze_with_budget(
    code: &[u8],
    language: Language,
    policy: &Policy,
    budget: Budget,
) -> Analysis {
    let started = Instant::now();
    let done = |findings: Vec<Finding>, error: Option<AnalyzeError>, facts: usize| {
        let risk_score = score::risk_score(&findings);
        Analysis {
            language,
            findings,
            risk_score,
            error,
            facts,
            duration: started.elapsed(),
        }
    };
    if code.len() > budget.max_bytes {
        return done(
            Vec::new(),
            Some(AnalyzeError::TooLarge {
                size: code.len(),
                limit: budget.max_bytes,
            }),
            0,
        );
    }
    let text = match std::str::from_utf8(code) {
        Ok(t) => t,
        Err(e) => {
            return done(
                Vec::new(),
                Some(AnalyzeError::InvalidUtf8 {
                    offset: e.valid_up_to(),
                }),
                0,
            )
        }
    };
    match extract_isolated(language, text, budget) {
        Ok(facts) => {
            let found = rules::findings(policy, language, text, &facts);
            done(found, None, facts.len())
        }
        Err(e) => done(Vec::new(), Some(e), 0),
    }
}

/// Runs the extractor on its own thread with a large stack, turning a panic
/// into an error instead of a crash.
fn extract_isolated(
    language: Language,
    text: &str,
    budget: Budget,
) -> Result<Vec<Fact>, AnalyzeError> {
    let budget = &budget;
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("cordon-analyze".into())
            .stack_size(ANALYSIS_STACK)
            .spawn_scoped(scope, move || extract(language, text, budget));
        match handle {
            Ok(h) => h.join().unwrap_or(Err(AnalyzeError::Crashed)),
            // No thread available: analyse inline rather than fail open or crash.
            Err(_) => extract(language, text, budget),
        }
    })
}
