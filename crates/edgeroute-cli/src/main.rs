//! The `edgeroute` command: check, evaluate and simulate edge routing policies.
//!
//! Each subcommand lives in its own module under `cmd/`; this file only parses the command line
//! and dispatches.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

/// Edge routing policy engine and simulator.
#[derive(Debug, Parser)]
#[command(name = "edgeroute", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    // Subcommands are added here, one variant per module in `cmd/`.
    /// Evaluate a Rules language expression (`EXPR --field name=value`, or `--jsonl` on stdin).
    Expr(cmd::expr::Args),
    /// Print the latency model's median RTT from points to every AWS region and edge, as CSV.
    LatencyMatrix(cmd::latency_matrix::Args),
    /// Cache models: `cache replay --trace FILE.csv --policy NAME --capacity N`.
    Cache(cmd::cache::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: anyhow::Result<ExitCode> = match cli.command {
        Command::Expr(args) => cmd::expr::run(args),
        Command::LatencyMatrix(args) => cmd::latency_matrix::run(args),
        Command::Cache(args) => cmd::cache::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
