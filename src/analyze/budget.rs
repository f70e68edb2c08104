//! The analysis budget: size, nesting depth, payload recursion and time.
//! Exceeding any of them is an error that the decision turns into a deny,
//! never a hang or a stack overflow.

use std::time::{Duration, Instant};

/// Limits for one analysis. Cheap to copy; `deadline` is absolute.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Largest source accepted, in bytes.
    pub max_bytes: usize,
    /// Deepest syntax-tree nesting walked before giving up.
    pub max_depth: usize,
    /// How many decoded/embedded payloads deep analysis recurses.
    pub max_payload_depth: usize,
    /// Largest decoded payload analysed, in bytes.
    pub max_payload_bytes: usize,
    /// When analysis must be over.
    pub deadline: Instant,
}

impl Budget {
    pub const DEFAULT_MAX_BYTES: usize = 1 << 20;
    pub const DEFAULT_MAX_DEPTH: usize = 200;
    pub const DEFAULT_TIME: Duration = Duration::from_secs(2);

    /// The default budget, starting now.
    pub fn start() -> Self {
        Budget {
            max_bytes: Self::DEFAULT_MAX_BYTES,
            max_depth: Self::DEFAULT_MAX_DEPTH,
            max_payload_depth: 3,
            max_payload_bytes: 256 << 10,
            deadline: Instant::now() + Self::DEFAULT_TIME,
        }
    }

    /// The budget for a payload one level down, or `None` when recursion is exhausted.
    pub fn nested(&self) -> Option<Budget> {
        (self.max_payload_depth > 0).then(|| Budget {
            max_payload_depth: self.max_payload_depth - 1,
            max_bytes: self.max_payload_bytes,
            ..*self
        })
    }

    pub fn expired(&self) -> bool {
        Instant::now() >= self.deadline
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
