//! Interoperability with other systems' rule formats.

pub mod cloudflare;
