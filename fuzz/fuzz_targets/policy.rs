//! Load arbitrary bytes as a policy file, and when it compiles, decide a few requests with it.
//! The property lives in the crate (`edgeroute::fuzz::check`) so that it also runs as an
//! ordinary test over `crates/edgeroute/testdata/fuzz-seeds/policy/` and the policy corpora.
//!
//! Run: `cargo +nightly fuzz run policy ../crates/edgeroute/testdata/fuzz-seeds/policy`
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    edgeroute::fuzz::check(data);
});
