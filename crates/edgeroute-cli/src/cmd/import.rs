//! `edgeroute import cloudflare RULESET.json`: Cloudflare rulesets -> policy TOML.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use edgeroute::Policy;
use edgeroute::interop::cloudflare;

/// Convert another system's rules into policy TOML.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    source: Source,
}

#[derive(Debug, clap::Subcommand)]
enum Source {
    /// A Cloudflare Rulesets API export (custom rules, rate limiting and cache settings phases:
    /// one ruleset, a list of rulesets, or an API response with `result`).
    Cloudflare {
        /// The JSON file.
        #[arg(value_name = "RULESET.json")]
        file: PathBuf,
        /// Replace the firewall, rate limiting and cache rules of this policy and keep the rest.
        #[arg(long, value_name = "POLICY.toml")]
        into: Option<PathBuf>,
        /// Write the TOML here instead of standard output.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// Runs the command.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let Source::Cloudflare { file, into, output } = args.source;
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read `{}`", file.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("`{}` is not JSON", file.display()))?;
    let base = match &into {
        Some(p) => match Policy::load(p, None) {
            Ok((policy, _)) => Some(policy.config().clone()),
            Err(e) => {
                eprintln!("{e}");
                return Ok(ExitCode::from(1));
            }
        },
        None => None,
    };
    let imported = match cloudflare::import(&json, base) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {}: {e}", file.display());
            return Ok(ExitCode::from(1));
        }
    };
    for w in &imported.warnings {
        eprintln!("warning: {w}");
    }
    let toml = cloudflare::to_toml(&imported.policy).map_err(anyhow::Error::msg)?;
    let header = format!(
        "# Imported from {} by `edgeroute import cloudflare`.\n\n",
        file.file_name().map_or_else(
            || file.display().to_string(),
            |n| n.to_string_lossy().into_owned()
        )
    );
    let out_text = format!("{header}{toml}");
    // What we write must load.
    let origin = output
        .as_ref()
        .map_or_else(|| "<imported>".to_owned(), |p| p.display().to_string());
    if let Err(e) = Policy::from_toml_str(&out_text, &origin, None) {
        eprintln!("{e}");
        eprintln!("error: the imported policy does not load (see above)");
        return Ok(ExitCode::from(1));
    }
    match output {
        Some(p) => std::fs::write(&p, out_text)
            .with_context(|| format!("cannot write `{}`", p.display()))?,
        None => print!("{out_text}"),
    }
    Ok(ExitCode::SUCCESS)
}
