//! `edgeroute check`: load a policy in every environment and print its errors and warnings.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

use edgeroute::{Diagnostic, Phase, Policy};
use owo_colors::OwoColorize;

/// Check a policy file: errors and warnings with file, line:col and a caret.
///
/// Every environment the policy declares is compiled (unless --env names one), so a mistake in
/// a staging overlay is found before staging loads it. Exit status: 0 when the policy loads
/// (warnings allowed, unless --deny-warnings), 1 on errors, 2 when the file cannot be read.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The policy file.
    #[arg(value_name = "POLICY")]
    policy: PathBuf,
    /// Check only this environment.
    #[arg(long, value_name = "ENV")]
    env: Option<String>,
    /// Treat warnings as errors (exit 1).
    #[arg(long)]
    deny_warnings: bool,
}

/// Runs the command.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let origin = args.policy.display().to_string();
    let text = match std::fs::read_to_string(&args.policy) {
        Ok(t) => t,
        Err(e) => {
            anstream::eprintln!("{}: cannot read `{origin}`: {e}", "error".red().bold());
            return Ok(ExitCode::from(2));
        }
    };
    // The default environment first, then every declared overlay.
    let envs: Vec<Option<String>> = match &args.env {
        Some(e) => vec![Some(e.clone())],
        None => {
            let default_env = Policy::from_toml_str(&text, &origin, None)
                .ok()
                .map(|(p, _)| p.environment().to_owned());
            let mut v = vec![None];
            v.extend(
                edgeroute::config::declared_environments(&text)
                    .into_iter()
                    .filter(|e| Some(e) != default_env.as_ref())
                    .map(Some),
            );
            v
        }
    };
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut errors = 0usize;
    let mut warnings = 0usize;
    let mut summary = Vec::new();
    for env in &envs {
        let diags: Vec<Diagnostic> = match Policy::from_toml_str(&text, &origin, env.as_deref()) {
            Ok((p, w)) => {
                summary.push(describe(&p));
                w
            }
            Err(e) => e.into_vec(),
        };
        for d in diags {
            let shown = d.to_string();
            if !seen.insert(shown.clone()) {
                continue;
            }
            if d.is_error() {
                errors += 1;
            } else {
                warnings += 1;
            }
            let shown = match (d.is_error(), shown.split_once(':')) {
                (true, Some((head, rest))) => format!("{}:{rest}", head.red().bold()),
                (false, Some((head, rest))) => format!("{}:{rest}", head.yellow().bold()),
                _ => shown,
            };
            let env_note = env
                .as_deref()
                .map(|e| format!(" (environment `{e}`)"))
                .unwrap_or_default();
            anstream::eprintln!("{shown}{env_note}\n");
        }
    }
    if errors > 0 {
        eprintln!("{origin}: {errors} error(s), {warnings} warning(s)");
        return Ok(ExitCode::from(1));
    }
    for s in summary {
        println!("{origin}: ok: {s}");
    }
    if warnings > 0 {
        eprintln!("{origin}: {warnings} warning(s)");
        if args.deny_warnings {
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(p: &Policy) -> String {
    let count = |phase: Phase| p.rules().iter().filter(|r| r.phase() == phase).count();
    format!(
        "environment `{}`: {} service(s), {} firewall, {} rate limiting, {} cache, {} transform rule(s){}",
        p.environment(),
        p.services().len(),
        count(Phase::Firewall),
        count(Phase::RateLimiting),
        count(Phase::Cache),
        count(Phase::Transforms),
        if p.routing().is_some() {
            ", routing"
        } else {
            ""
        }
    )
}
