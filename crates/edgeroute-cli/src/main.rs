//! The `edgeroute` command: check, evaluate and simulate edge routing policies.
//!
//! Each subcommand lives in its own module under `cmd/`; this file only parses the command line
//! and dispatches.
// The workspace denies `unsafe`; only edgeroute-sim holds an exception (a cache prefetch).
#![forbid(unsafe_code)]

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
    /// Print the region every country (and mapped subdivision) is routed to, now and with --down.
    Routes(cmd::routes::Args),
    /// Evaluate a Rules language expression (`EXPR --field name=value`, or `--jsonl` on stdin).
    Expr(cmd::expr::Args),
    /// Print the latency model's median RTT from points to every AWS region and edge, as CSV.
    LatencyMatrix(cmd::latency_matrix::Args),
    /// Cache models: `cache replay --trace FILE.csv --policy NAME --capacity N`.
    Cache(cmd::cache::Args),
    /// Check a policy file: errors and warnings with file, line:col and a caret.
    Check(cmd::check::Args),
    /// Replay requests (JSON lines) through one engine and print one decision per request.
    Eval(cmd::eval::Args),
    /// Import another system's rules as policy TOML (`import cloudflare RULESET.json`).
    Import(cmd::import::Args),
    /// Export a policy's rules for another system (`export cloudflare POLICY.toml`).
    Export(cmd::export::Args),
    /// Run a scenario (default: the built-in global day) and print the simulator's report.
    Simulate(cmd::simulate::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: anyhow::Result<ExitCode> = match cli.command {
        Command::Routes(args) => cmd::routes::run(args),
        Command::Expr(args) => cmd::expr::run(args),
        Command::LatencyMatrix(args) => cmd::latency_matrix::run(args),
        Command::Cache(args) => cmd::cache::run(args),
        Command::Check(args) => cmd::check::run(args),
        Command::Eval(args) => cmd::eval::run(args),
        Command::Import(args) => cmd::import::run(args),
        Command::Export(args) => cmd::export::run(args),
        Command::Simulate(args) => cmd::simulate::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
