//! edgeroute-sim: replays traffic through the edgeroute engine to predict latency, cache offload,
//! cost and failover before anything ships.
#![deny(missing_docs)]

pub mod cache;
pub mod charts;
pub mod cost;
pub mod dist;
mod hint;
pub mod histogram;
pub mod network;
pub mod origin;
pub mod report;
pub mod rng;
pub mod run;
pub mod scenario;
pub mod trace;
pub mod traffic;
