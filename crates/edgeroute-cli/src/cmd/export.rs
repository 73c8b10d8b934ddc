//! `edgeroute export cloudflare POLICY.toml`: policy -> Cloudflare rulesets JSON.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use edgeroute::Policy;
use edgeroute::interop::cloudflare;

/// Convert a policy's rules into another system's format.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    target: Target,
}

#[derive(Debug, clap::Subcommand)]
enum Target {
    /// Cloudflare rulesets for the custom rules, rate limiting and cache settings phases (a JSON
    /// array of three rulesets; rule `ref`s are the policy's rule ids).
    Cloudflare {
        /// The policy file.
        #[arg(value_name = "POLICY.toml")]
        policy: PathBuf,
        /// Environment whose hosts URL patterns use (default: the policy's default).
        #[arg(long, value_name = "ENV")]
        env: Option<String>,
        /// Write the JSON here instead of standard output.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// Runs the command.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let Target::Cloudflare {
        policy,
        env,
        output,
    } = args.target;
    let compiled = match Policy::load(&policy, env.as_deref()) {
        Ok((p, _)) => p,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(1));
        }
    };
    let export = cloudflare::export(&compiled);
    for w in &export.warnings {
        eprintln!("warning: {w}");
    }
    let mut text = serde_json::to_string_pretty(&export.rulesets)?;
    text.push('\n');
    match output {
        Some(p) => {
            std::fs::write(&p, text).with_context(|| format!("cannot write `{}`", p.display()))?
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
