//! Fuzz target `api_request`: the body and its invariants live in
//! `cordon::fuzzing::api_request`, shared with the corpus replay test.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cordon::fuzzing::api_request(data));
