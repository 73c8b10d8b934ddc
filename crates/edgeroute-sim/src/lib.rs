//! edgeroute-sim: replays traffic through the edgeroute engine to predict latency, cache offload,
//! cost and failover before anything ships.
#![deny(missing_docs)]

pub mod cache;
pub mod charts;
pub mod cost;
pub mod network;
pub mod trace;
