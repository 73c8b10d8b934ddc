//! The `edgeroute` command.
fn main() {}
