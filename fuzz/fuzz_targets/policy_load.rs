//! Fuzz target `policy_load`: the body and its invariants live in
//! `cordon::fuzzing::policy_load`, shared with the corpus replay test.
#![no_main]

use libfuzzer_sys::fuzz_target;

// Counts allocations so the target can hold each analysis to its memory ceiling.
#[global_allocator]
static ALLOC: cordon::fuzzing::memory::Counting = cordon::fuzzing::memory::Counting;

fuzz_target!(|data: &[u8]| cordon::fuzzing::policy_load(data));
