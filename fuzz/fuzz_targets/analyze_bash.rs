//! Fuzz target `analyze_bash`: the body and its invariants live in
//! `cordon::fuzzing::analyze_bash`, shared with the corpus replay test.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cordon::fuzzing::analyze_bash(data));
