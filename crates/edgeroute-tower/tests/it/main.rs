//! Integration tests of edgeroute-tower: shared counters on a real redis-server, the layer, and
//! the example gateway on loopback.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]
#![allow(unreachable_pub, reason = "test helpers")]

mod gateway;
mod layer;
mod readme;
mod redis;
mod redis_server;
