//! Subcommands of the `edgeroute` binary, one module each.
pub(crate) mod cache;
pub(crate) mod check;
pub(crate) mod eval;
pub(crate) mod export;
pub(crate) mod expr;
pub(crate) mod import;
pub(crate) mod latency_matrix;
pub(crate) mod routes;
pub(crate) mod simulate;
pub(crate) mod snippet;
