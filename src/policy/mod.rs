//! Policies: the YAML model, loading with file:line:column errors,
//! validation, compiled glob patterns and the content hash.
//!
//! This module owns what a policy says; it does not look at code (that is
//! [`crate::analyze`]) nor turn findings into verdicts ([`crate::decide`]).

pub mod glob;
pub mod load;
pub mod model;
mod yaml;

pub use load::{content_hash, CompiledRule, Policy, PolicyError, CATEGORIES};
pub use model::*;
