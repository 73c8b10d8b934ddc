//! edgeroute-sim: replays traffic through the edgeroute engine to predict latency, cache offload,
//! cost and failover before anything ships.
#![deny(missing_docs)]

pub mod cache;
pub mod charts;
pub mod cost;
pub mod network;
pub mod trace;
pub mod dist;
pub mod histogram;
pub mod rng;
pub mod scenario;
pub mod traffic;
pub mod origin;
pub mod report;
pub mod run;
