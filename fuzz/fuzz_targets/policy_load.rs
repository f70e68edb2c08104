//! Fuzz target `policy_load`: the body and its invariants live in
//! `cordon::fuzzing::policy_load`, shared with the corpus replay test.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cordon::fuzzing::policy_load(data));
