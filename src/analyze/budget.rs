//! The analysis budget: size, nesting depth, payload recursion, memory and time.
//! Exceeding the size, depth or time bound is an error that the decision
//! turns into a deny, never a hang or a stack overflow.
//!
//! Memory is bounded differently, because running out of it must not turn
//! into a deny of ordinary code: every folded value (a string, an array, a
//! word list) is capped at [`Budget::max_value_bytes`], and every analysis
//! has one byte [`Allowance`] that folding charges for what it builds or
//! copies out of its environment. A value past either bound is treated as
//! unknown (evidence: the analyzer reports the `analysis-bound` signal where
//! it happened), and the deadline stays the second line behind both.
//! This module only keeps the accounts; each analyzer decides where to charge.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bytes one analysis may spend on folded values, shared by the whole
/// analysis (payloads analysed recursively draw on the same allowance).
/// Charges are cumulative: freeing a value does not give its bytes back, so
/// the allowance also bounds the work folding can do, not only what it keeps.
#[derive(Debug)]
pub struct Allowance {
    limit: usize,
    used: AtomicUsize,
    refused: AtomicUsize,
}

impl Allowance {
    fn new(limit: usize) -> Self {
        Allowance {
            limit,
            used: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
        }
    }

    /// Takes `bytes` from the allowance, or refuses (and takes nothing) when
    /// they do not fit in what is left.
    fn charge(&self, bytes: usize) -> bool {
        let taken = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(bytes).filter(|&total| total <= self.limit)
            });
        if taken.is_err() {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        taken.is_ok()
    }
}

/// Limits for one analysis. Cloning shares the byte allowance (a clone is
/// the same analysis); [`Budget::start`] makes a fresh one. `deadline` is absolute.
#[derive(Debug, Clone)]
pub struct Budget {
    /// Largest source accepted, in bytes.
    pub max_bytes: usize,
    /// Deepest syntax-tree nesting walked before giving up.
    pub max_depth: usize,
    /// How many decoded/embedded payloads deep analysis recurses.
    pub max_payload_depth: usize,
    /// Largest decoded payload analysed, in bytes.
    pub max_payload_bytes: usize,
    /// Largest folded value kept (string bytes, or the estimated footprint of
    /// an array or word list); larger values are unknown.
    pub max_value_bytes: usize,
    /// When analysis must be over.
    pub deadline: Instant,
    allowance: Arc<Allowance>,
}

impl Budget {
    pub const DEFAULT_MAX_BYTES: usize = 1 << 20;
    pub const DEFAULT_MAX_DEPTH: usize = 200;
    pub const DEFAULT_TIME: Duration = Duration::from_secs(2);
    /// Per-value cap: as large as the largest payload analysed, so any
    /// payload small enough to analyse can also be folded.
    pub const DEFAULT_MAX_VALUE: usize = 256 << 10;
    /// Bytes of folded values one analysis may build or copy.
    pub const DEFAULT_ALLOWANCE: usize = 16 << 20;
    /// The fixed part of [`Self::memory_ceiling`]: what one analysis may
    /// hold beyond its parse tree and per-statement facts (folded values
    /// under [`Self::DEFAULT_ALLOWANCE`], scopes, findings, the policy's
    /// matchers). A folding blow-up (a value doubled 60 times) breaks this
    /// part first, so small inputs are held to little more than it.
    pub const MEMORY_FIXED: usize = 32 << 20;
    /// The part of [`Self::memory_ceiling`] that grows with the source: parse
    /// trees and facts cost memory per token, and the densest sources (one-
    /// character commands in a 500,000-stage pipeline, `!!!...a` in
    /// JavaScript) measured up to 536 bytes per source byte at the peak
    /// (tree-sitter's subtrees are most of it; the Bash walker's per-stage
    /// facts the rest). Not bounded separately yet: capping the parse tree
    /// itself is what would lower this.
    pub const MEMORY_PER_SOURCE_BYTE: usize = 640;
    /// The memory one analysis of at most [`Self::DEFAULT_MAX_BYTES`] of
    /// source stays under: 672 MiB for 1 MiB of the densest source, about
    /// 33 MiB for a 4 KiB snippet. Stated so tests and the fuzzer can hold
    /// us to it (see [`Self::memory_ceiling`]).
    pub const MEMORY_CEILING: usize =
        Self::MEMORY_FIXED + Self::MEMORY_PER_SOURCE_BYTE * Self::DEFAULT_MAX_BYTES;

    /// The peak allocation one analysis of `source_len` bytes must stay
    /// under: [`Self::MEMORY_FIXED`] plus [`Self::MEMORY_PER_SOURCE_BYTE`]
    /// per source byte. Linear in the input, never exponential.
    pub fn memory_ceiling(source_len: usize) -> usize {
        Self::MEMORY_FIXED.saturating_add(Self::MEMORY_PER_SOURCE_BYTE.saturating_mul(source_len))
    }
    /// Values this small are kept even when the allowance is spent: names,
    /// commands and paths stay visible, and at most one such value per
    /// binding or fact can exist, which the source size already bounds.
    pub const SMALL_VALUE: usize = 64;

    /// The default budget, starting now.
    pub fn start() -> Self {
        Budget {
            max_bytes: Self::DEFAULT_MAX_BYTES,
            max_depth: Self::DEFAULT_MAX_DEPTH,
            max_payload_depth: 3,
            max_payload_bytes: 256 << 10,
            max_value_bytes: Self::DEFAULT_MAX_VALUE,
            deadline: Instant::now() + Self::DEFAULT_TIME,
            allowance: Arc::new(Allowance::new(Self::DEFAULT_ALLOWANCE)),
        }
    }

    /// This budget with a fresh allowance of `bytes` (tests and benchmarks).
    pub fn with_allowance(mut self, bytes: usize) -> Self {
        self.allowance = Arc::new(Allowance::new(bytes));
        self
    }

    /// The budget for a payload one level down, or `None` when recursion is
    /// exhausted. It shares this budget's allowance and deadline.
    pub fn nested(&self) -> Option<Budget> {
        (self.max_payload_depth > 0).then(|| Budget {
            max_payload_depth: self.max_payload_depth - 1,
            max_bytes: self.max_payload_bytes,
            ..self.clone()
        })
    }

    pub fn expired(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Charges `bytes` of folding to the allowance; `false` means the value
    /// must be treated as unknown (nothing was charged).
    pub fn charge(&self, bytes: usize) -> bool {
        self.allowance.charge(bytes)
    }

    /// Whether a value of `bytes` may be kept: within the per-value cap and
    /// paid for from the allowance. `false` means it must become unknown.
    /// Values up to [`Self::SMALL_VALUE`] are always kept (and still counted):
    /// spending the allowance must not blind the analyzer to `c=curl; $c`.
    pub fn admit(&self, bytes: usize) -> bool {
        if bytes <= Self::SMALL_VALUE {
            self.allowance.used.fetch_add(bytes, Ordering::Relaxed);
            return true;
        }
        bytes <= self.max_value_bytes && self.charge(bytes)
    }

    /// Bytes charged so far by this analysis.
    pub fn allowance_used(&self) -> usize {
        self.allowance.used.load(Ordering::Relaxed)
    }

    /// How many charges the allowance refused so far.
    pub fn allowance_refusals(&self) -> usize {
        self.allowance.refused.load(Ordering::Relaxed)
    }
}

/// Why an analyzer could not produce facts. Every variant leads to a deny
/// (or a review where the policy says so for `unparseable`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnalyzeError {
    #[error("does not parse at {line}:{column}: {message}")]
    Unparseable {
        line: u32,
        column: u32,
        message: String,
    },
    #[error("code is not valid UTF-8 (first bad byte at offset {offset})")]
    InvalidUtf8 { offset: usize },
    #[error("code is {size} bytes, over the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("syntax nesting deeper than {limit} levels")]
    TooDeep { limit: usize },
    #[error("analysis took longer than its time budget")]
    Timeout,
    #[error("the analyzer failed internally on this input")]
    Crashed,
}

impl AnalyzeError {
    /// The stable reason code recorded with a deny.
    pub fn reason_code(&self) -> &'static str {
        match self {
            AnalyzeError::Unparseable { .. } | AnalyzeError::InvalidUtf8 { .. } => "unparseable",
            AnalyzeError::TooLarge { .. } | AnalyzeError::TooDeep { .. } => "too_large",
            AnalyzeError::Timeout => "analysis_timeout",
            AnalyzeError::Crashed => "analyzer_error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowance_refuses_what_does_not_fit_and_takes_nothing_for_it() {
        let b = Budget::start().with_allowance(1000);
        assert!(b.charge(600));
        assert!(!b.charge(600), "600 more would pass 1000");
        assert_eq!(b.allowance_used(), 600, "a refused charge takes nothing");
        assert!(b.charge(400));
        assert!(!b.charge(1));
        assert_eq!(b.allowance_refusals(), 2);
    }

    #[test]
    fn nested_budgets_and_clones_share_one_allowance_a_new_start_does_not() {
        let b = Budget::start().with_allowance(1000);
        let nested = b.nested().expect("payload depth left");
        let copy = b.clone();
        assert!(nested.charge(700));
        assert!(
            !copy.charge(700),
            "the payload spent the analysis's allowance"
        );
        assert_eq!(b.allowance_used(), 700);
        assert_eq!(Budget::start().allowance_used(), 0);
    }

    #[test]
    fn admit_caps_each_value_and_always_keeps_small_ones() {
        let b = Budget::start().with_allowance(Budget::SMALL_VALUE * 4);
        assert!(!b.admit(b.max_value_bytes + 1), "over the per-value cap");
        assert_eq!(b.allowance_used(), 0);
        assert!(b.admit(Budget::SMALL_VALUE * 4));
        assert!(!b.admit(Budget::SMALL_VALUE + 1), "the allowance is spent");
        assert!(
            b.admit(Budget::SMALL_VALUE),
            "small values stay visible when the allowance is spent"
        );
    }
}
