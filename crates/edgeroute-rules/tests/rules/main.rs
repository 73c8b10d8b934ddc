//! Integration tests of edgeroute-rules: the conformance corpus, properties, allocation,
//! hostile input and the fuzz seeds. One binary for the crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod alloc;
mod bad_input;
mod corpus;
mod errors;
mod fuzz_seeds;
mod props;

use edgeroute_rules::{List, Scheme};

/// The scheme every test uses: the Cloudflare fields plus three lists.
pub(crate) fn scheme() -> Scheme {
    let mut s = Scheme::cloudflare();
    s.add_list(
        "blocked",
        List::Ip(vec![
            "10.0.0.0/8".parse().unwrap(),
            "2001:db8::/32".parse().unwrap(),
        ]),
    )
    .unwrap();
    s.add_list(
        "hosts",
        List::Bytes(vec![b"example.com".to_vec(), b"example.net".to_vec()]),
    )
    .unwrap();
    s.add_list("asns", List::Int(vec![13335, 16509])).unwrap();
    s
}
