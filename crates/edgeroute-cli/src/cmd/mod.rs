//! Subcommands of the `edgeroute` binary, one module each.
