//! cordon: a security-policy-driven execution gateway.
//!
//! One pipeline, every step recorded: [`analyze`] parses submitted code and
//! produces findings, [`decide`] turns findings and the [`policy`] into a
//! verdict, [`sandbox`] runs allowed code in a hardened container, [`monitor`]
//! enforces limits while it runs, and [`audit`] records every step in an
//! append-only, tamper-evident log. [`pipeline`] is the one place that orders
//! these steps.

pub mod analyze;
pub mod audit;
pub mod cli;
pub mod decide;
pub mod doctor;
#[doc(hidden)]
pub mod fuzzing;
pub mod language;
pub mod monitor;
pub mod pipeline;
pub mod policy;
pub mod sandbox;
pub mod server;
pub mod units;

pub use language::Language;
