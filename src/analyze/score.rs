//! The risk score, 0-100.
//!
//! Formula (documented for users in the README): take each distinct rule id
//! once, at its rule score; sort descending `s1 >= s2 >= ...`; the score is
//! `min(100, s1 + s2/2 + s3/4 + s4/8 + ...)` (integer division at each term).
//! The strongest finding dominates, further distinct findings add with
//! diminishing weight, and repeating one finding many times adds nothing, so
//! a long benign program with one `print(open(...))` does not drift upward.
//! Obfuscation is scored through the obfuscation signals' own rules, which
//! add on top of whatever the payload reveals.

use std::collections::BTreeMap;

use super::rules::Finding;

/// Computes the risk score of a set of findings.
pub fn risk_score(findings: &[Finding]) -> u32 {
    let mut by_rule: BTreeMap<&str, u32> = BTreeMap::new();
    for f in findings {
        let e = by_rule.entry(f.rule_id.as_str()).or_insert(0);
        *e = (*e).max(f.score);
    }
    let mut scores: Vec<u32> = by_rule.into_values().collect();
    scores.sort_unstable_by(|a, b| b.cmp(a));
    let total: u64 = scores
        .iter()
        .enumerate()
        .map(|(i, s)| if i >= 32 { 0 } else { u64::from(*s) >> i })
        .sum();
    total.min(100) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::Span;
    use crate::policy::Severity;

    fn f(id: &str, score: u32) -> Finding {
        Finding {
            rule_id: id.into(),
            severity: Severity::High,
            cwe: "CWE-78".into(),
            category: None,
            message: String::new(),
            score,
            action: None,
            span: Span::default(),
            snippet: String::new(),
            matched: String::new(),
            via: vec![],
        }
    }

    #[test]
    fn diminishing_and_capped() {
        assert_eq!(risk_score(&[]), 0);
        assert_eq!(risk_score(&[f("A", 40)]), 40);
        assert_eq!(risk_score(&[f("A", 40), f("B", 40)]), 60);
        assert_eq!(risk_score(&[f("A", 40), f("A", 40), f("A", 10)]), 40);
        assert_eq!(risk_score(&[f("A", 90), f("B", 80), f("C", 80)]), 100);
        assert_eq!(
            risk_score(&[f("A", 10), f("B", 40), f("C", 20)]),
            40 + 10 + 2
        );
    }
}
