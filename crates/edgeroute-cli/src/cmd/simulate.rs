//! `edgeroute simulate [SCENARIO]`: runs a scenario through the engine and prints the report.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use edgeroute_sim::run::{RunOptions, SimError, Simulation};
use edgeroute_sim::scenario::{Scenario, builtin};

/// Run a scenario (default: the built-in `aybiza-global` day) and print its report.
#[derive(Debug, clap::Args)]
#[command(after_long_help = HELP)]
pub(crate) struct Args {
    /// A scenario file, or the name of a built-in scenario. Default: `aybiza-global`.
    #[arg(value_name = "SCENARIO")]
    scenario: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Write the time series as CSV files into this directory.
    #[arg(long, value_name = "DIR")]
    csv_dir: Option<PathBuf>,
    /// Write a self-contained HTML report page (charts inline, viewable offline).
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Write the same charts as SVG files into this directory.
    #[arg(long, value_name = "DIR")]
    svg_dir: Option<PathBuf>,
    /// Worker threads (default: one per core). The report does not depend on it.
    #[arg(long, value_name = "N", default_value_t = 0)]
    threads: usize,
    /// Scale every traffic rate by this factor (the timeline stays; costs are scaled back).
    #[arg(long, value_name = "FACTOR", conflicts_with = "short")]
    scale: Option<f64>,
    /// A quick run for CI: traffic scaled to 2%.
    #[arg(long)]
    short: bool,
    /// Override the scenario's seed.
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
    /// List the built-in scenarios and exit.
    #[arg(long)]
    list: bool,
}

const HELP: &str = "\
SCENARIO is a path to a scenario TOML file (its policy path is relative to it) or the name of a
built-in scenario (see --list). With no SCENARIO the built-in default runs: a day of global
traffic for the voice platform of the original design.

The JSON report (--format json) has: requests, latency_ms.global, latency_ms.by_continent.<NA|EU|
AS|SA|OC|AF> and latency_ms.by_region.<region> (p50, p95, p99, and target_ms, pass where a target
exists), cache.tiers.<edge|upper|regional|database>.hit_ratio, cache.origin_offload,
actions.<action>, population_within_50ms_share, events[] (kind, target, start_s, detected_s,
rerouted_s, recovered_s, failed_requests, rerouted_requests, latency_ms.before|during|after) and
more. The same scenario and seed give byte-identical JSON, on any number of threads.

--csv-dir writes timeseries.csv, regions.csv and events.csv. --html writes one self-contained
page (latency over time per continent, hit ratio per tier, failover timeline, cost breakdown);
--svg-dir writes the same charts as SVG files.

Exit status: 0 after a run, 1 for a bad scenario, policy or trace, 2 for other errors.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

fn load(arg: Option<&str>) -> Result<Scenario, edgeroute_sim::scenario::ScenarioErrors> {
    match arg {
        None => Scenario::builtin_default(),
        Some(name) if !Path::new(name).exists() && builtin::names().contains(&name) => {
            builtin::load(name)
        }
        Some(path) => Scenario::load(Path::new(path)),
    }
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.list {
        for n in builtin::names() {
            println!("{n}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut scenario = match load(args.scenario.as_deref()) {
        Ok(s) => s,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(ExitCode::from(1));
        }
    };
    if let Some(seed) = args.seed {
        scenario.file.seed = seed;
    }
    let scale = if args.short { Some(0.02) } else { args.scale };
    if let Some(f) = scale {
        anyhow::ensure!(
            f > 0.0 && f.is_finite(),
            "--scale must be a positive number, not `{f}`"
        );
        scenario.scale_traffic(f);
    }
    let sim = match Simulation::new(&scenario) {
        Ok(s) => s,
        Err(e) => return bad_input(&e),
    };
    let total = sim.duration_us();
    let bar = if args.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(total / 1_000_000),
            indicatif::ProgressDrawTarget::stderr(),
        );
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} simulating {pos}/{len} s of virtual time [{elapsed_precise}] {wide_bar}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    };
    let mut last = 0u64;
    let report = sim.run(
        RunOptions {
            threads: args.threads,
            ..RunOptions::default()
        },
        &mut |t_us| {
            let s = t_us / 1_000_000;
            if s >= last + 60 || t_us >= total {
                bar.set_position(s);
                last = s;
            }
        },
    );
    bar.finish_and_clear();
    let report = match report {
        Ok(r) => r,
        Err(e) => return bad_input(&e),
    };
    if let Some(dir) = &args.csv_dir {
        report
            .write_csv(dir)
            .with_context(|| format!("cannot write CSV files into `{}`", dir.display()))?;
    }
    if args.html.is_some() || args.svg_dir.is_some() {
        let data = report.chart_data();
        if let Some(path) = &args.html {
            edgeroute_sim::charts::write_html(path, &data)
                .with_context(|| format!("cannot write `{}`", path.display()))?;
        }
        if let Some(dir) = &args.svg_dir {
            edgeroute_sim::charts::write_svg_dir(dir, &data)
                .with_context(|| format!("cannot write SVG files into `{}`", dir.display()))?;
        }
    }
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => writeln!(out, "{}", report.to_json())?,
        Format::Text => write!(out, "{}", report.to_text())?,
    }
    Ok(ExitCode::SUCCESS)
}

fn bad_input(e: &SimError) -> anyhow::Result<ExitCode> {
    eprintln!("{e}");
    Ok(ExitCode::from(1))
}
