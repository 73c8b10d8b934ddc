//! Parse, compile and execute arbitrary bytes as a Rules language expression.
//! The property lives in the crate (`edgeroute_rules::fuzz::check`) so that it also runs as an
//! ordinary test over `crates/edgeroute-rules/testdata/fuzz-seeds/`.
//!
//! Run: `cargo +nightly fuzz run expr ../crates/edgeroute-rules/testdata/fuzz-seeds`
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    edgeroute_rules::fuzz::check(data);
});
