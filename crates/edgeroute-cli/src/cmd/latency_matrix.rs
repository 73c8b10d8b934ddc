//! `edgeroute latency-matrix`: the network model's median RTT from points to every AWS region
//! and to each point's nearest Cloudflare data centre.

use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use edgeroute_sim::network::{
    InputError, NamedPoint, NetworkConfig, NetworkModel, country_points, parse_points,
};

use super::snippet::{self, Snippet};

/// Print the latency model's median round-trip times as CSV.
///
/// For each point, the median RTT (ms) of the built-in network model to every AWS region
/// (client -> nearest Cloudflare data centre -> region: great-circle distance at 200 km/ms
/// times the measured route inflation, plus the default access delay median), then the median
/// RTT to the point's nearest data centre.
#[derive(Debug, clap::Args)]
#[command(after_long_help = FORMAT_HELP)]
pub(crate) struct Args {
    /// CSV file of points `name,lat,lon` (header required; `#` comments and blank lines
    /// allowed; `-` reads standard input). Default: every country's population-weighted centre,
    /// named by its ISO 3166-1 alpha-2 code.
    #[arg(long, value_name = "FILE.csv")]
    points: Option<PathBuf>,
}

const FORMAT_HELP: &str = "\
Output (CSV on standard output, two sections separated by one blank line):

  name,region,rtt_ms        one row per point and AWS region, in point order
  DE,af-south-1,184.1       then region order (edgeroute_geo::aws_regions)
  ...

  name,edge,rtt_ms          one row per point: its nearest Cloudflare data centre
  DE,FRA,14.6               (IATA code) and the median RTT to it

rtt_ms has one decimal. Every value includes the median access delay (10 ms) and is never
below the fibre floor of the direct path.

Points file:

  name,lat,lon
  berlin,52.52,13.405
  sydney,-33.87,151.21

A malformed points file is an error naming its line and column; nothing is printed.";

/// Runs the command.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let points = match &args.points {
        None => country_points(),
        Some(path) => {
            let (origin, text) = read_points(path)?;
            match parse_points(&origin, &text) {
                Ok(points) => points,
                Err(err) => {
                    eprintln!("{}", render(&text, &err));
                    return Ok(ExitCode::from(2));
                }
            }
        }
    };
    let model = NetworkModel::new(&NetworkConfig::default())?;
    match write_matrix(&model, &points, &mut BufWriter::new(io::stdout().lock())) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        // A closed pipe (`| head`) is not an error.
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(err) => Err(err).context("cannot write to standard output"),
    }
}

fn read_points(path: &PathBuf) -> anyhow::Result<(String, String)> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        io::stdin()
            .read_to_string(&mut text)
            .context("cannot read points from standard input")?;
        return Ok(("<stdin>".to_owned(), text));
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read points file `{}`", path.display()))?;
    Ok((path.display().to_string(), text))
}

/// Writes both sections.
fn write_matrix(
    model: &NetworkModel,
    points: &[NamedPoint],
    out: &mut impl Write,
) -> io::Result<()> {
    let sites: Vec<_> = points.iter().map(|p| model.locate(p.point)).collect();
    writeln!(out, "name,region,rtt_ms")?;
    for (p, site) in points.iter().zip(&sites) {
        for (i, region) in model.regions().iter().enumerate() {
            let Some(id) = model.region_id(region.code) else {
                continue;
            };
            debug_assert_eq!(id.index(), i);
            writeln!(
                out,
                "{},{},{:.1}",
                p.name,
                region.code,
                model.median_rtt_ms(site, id)
            )?;
        }
    }
    writeln!(out)?;
    writeln!(out, "name,edge,rtt_ms")?;
    for (p, site) in points.iter().zip(&sites) {
        let iata = model.colo(site.colo()).map_or("?", |c| c.iata);
        writeln!(
            out,
            "{},{},{:.1}",
            p.name,
            iata,
            model.client_to_colo_rtt_ms(site)
        )?;
    }
    out.flush()
}

/// The error with the file, line:col and the line with a caret under the field.
fn render(text: &str, err: &InputError) -> String {
    let span = err.span();
    let line_no = u64::try_from(err.line()).unwrap_or(u64::MAX);
    let snippet = Snippet::in_source(
        text,
        line_no,
        span.start,
        span.end.saturating_sub(span.start),
    );
    let heading = format!(
        "{}:{}:{}: {}",
        err.origin(),
        err.line(),
        err.column(),
        err.message()
    );
    snippet::render(
        &heading,
        Some(&snippet),
        Some("the points file is CSV `name,lat,lon` with a header line"),
    )
}
