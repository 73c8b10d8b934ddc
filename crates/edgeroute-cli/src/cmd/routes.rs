//! `edgeroute routes`: where the region map sends every country (and every subdivision the
//! map names), now and after marking regions, pools or endpoints down.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use edgeroute::Policy;
use edgeroute::routing::{CompiledRouting, HealthTable, RouteInput, RouteOutcome, ServiceId};
use serde::Serialize;

/// Print the region every country (and mapped subdivision) is routed to.
///
/// Each location is routed as a request from that place with every region healthy (monitors
/// not yet reporting count as the policy's `unknown_health` says), and, with `--down`, again
/// with the named regions, pools or endpoints marked down.
#[derive(Debug, clap::Args)]
#[command(after_long_help = FORMAT_HELP)]
pub(crate) struct Args {
    /// The policy file.
    #[arg(value_name = "POLICY")]
    policy: PathBuf,
    /// Mark a region, pool or endpoint (address or `pool/address`) down; repeatable.
    #[arg(long, value_name = "NAME")]
    down: Vec<String>,
    /// Only these services (default: every service with routing); repeatable.
    #[arg(long, value_name = "NAME")]
    service: Vec<String>,
    /// Environment overlay to load (default: the policy's default environment).
    #[arg(long, value_name = "ENV")]
    env: Option<String>,
    /// Every ISO 3166-2 subdivision, not only those the region map names.
    #[arg(long)]
    all_subdivisions: bool,
    /// Only locations whose region changes with `--down`.
    #[arg(long)]
    changed: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// Aligned columns, one per service.
    Table,
    /// `location,name,service,now,after` rows.
    Csv,
    /// One JSON object per location, one per line.
    Json,
}

const FORMAT_HELP: &str = "\
Output:

  table (default): one row per location (countries by ISO code, then the subdivisions the map
  names), the match (subdivision, country, nearest, default) and one column per service with
  the region; with --down a changed cell reads `us-east-1 -> us-west-2`. A refusal reads
  `503:residency` (the residency group allows no healthy region) or `503:no_healthy_origin`.
  A last line counts the locations that change.

  csv:  location,name,service,now,after     (after is empty without --down)
  json: {\"location\":\"US-CA\",\"name\":\"California\",\"match\":\"subdivision\",
         \"group\":null,\"routes\":{\"api\":{\"now\":\"us-west-2\",\"after\":\"us-west-2\"}}}

Exit status: 0, or 1 when the policy does not load (errors on standard error), 2 on an unknown
--down or --service name.";

#[derive(Serialize)]
struct Cell {
    now: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    after: Option<String>,
}

#[derive(Serialize)]
struct Row {
    location: String,
    name: String,
    #[serde(rename = "match")]
    matched: &'static str,
    group: Option<String>,
    routes: std::collections::BTreeMap<String, Cell>,
}

/// Runs the command.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let policy = match Policy::load(&args.policy, args.env.as_deref()) {
        Ok((policy, _warnings)) => policy,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(ExitCode::from(1));
        }
    };
    let Some(routing) = policy.routing() else {
        anyhow::bail!("`{}` has no [routing] section", args.policy.display());
    };
    let services = select_services(routing, &args.service)?;
    let now = HealthTable::new();
    now.register(routing);
    let after = HealthTable::new();
    after.register(routing);
    for name in &args.down {
        if !after.set_down(routing, name) {
            anyhow::bail!(
                "unknown --down target `{name}`: not a region, pool or endpoint of the policy"
            );
        }
    }
    let with_down = !args.down.is_empty();
    let rows = rows(
        routing,
        &services,
        &now,
        with_down.then_some(&after),
        args.all_subdivisions,
    );
    let rows: Vec<Row> = if args.changed {
        rows.into_iter()
            .filter(|r| {
                r.routes
                    .values()
                    .any(|c| c.after.as_ref().is_some_and(|a| *a != c.now))
            })
            .collect()
    } else {
        rows
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let written = match args.format {
        Format::Table => write_table(&mut out, routing, &services, &rows, with_down),
        Format::Csv => write_csv(&mut out, &rows),
        Format::Json => write_json(&mut out, &rows),
    }
    .and_then(|()| out.flush());
    match written {
        // A closed pipe (`| head`) is not an error.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        other => {
            other.context("writing the routes")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn select_services(routing: &CompiledRouting, wanted: &[String]) -> anyhow::Result<Vec<ServiceId>> {
    if wanted.is_empty() {
        return Ok(routing
            .service_names()
            .filter_map(|n| routing.service_id(n))
            .collect());
    }
    wanted
        .iter()
        .map(|name| {
            routing.service_id(name).with_context(|| {
                let known: Vec<&str> = routing.service_names().collect();
                format!(
                    "unknown --service `{name}`; the routing section has {}",
                    known.join(", ")
                )
            })
        })
        .collect()
}

fn outcome_text(outcome: &RouteOutcome<'_>) -> String {
    match outcome {
        RouteOutcome::Routed(route) => route.region_name.to_owned(),
        RouteOutcome::Refused(refusal) => format!("503:{}", refusal.reason.as_str()),
    }
}

fn rows(
    routing: &CompiledRouting,
    services: &[ServiceId],
    now: &HealthTable,
    after: Option<&HealthTable>,
    all_subdivisions: bool,
) -> Vec<Row> {
    let mut places: Vec<(String, String, [u8; 2], Option<&str>)> = Vec::new();
    for country in edgeroute_geo::countries() {
        if let Ok(code) = <[u8; 2]>::try_from(country.iso2.as_bytes()) {
            places.push((country.iso2.to_owned(), country.name.to_owned(), code, None));
        }
    }
    let subdivisions: Vec<&'static edgeroute_geo::Subdivision> = if all_subdivisions {
        edgeroute_geo::subdivisions().iter().collect()
    } else {
        routing
            .mapped_subdivisions()
            .filter_map(edgeroute_geo::subdivision)
            .collect()
    };
    for sub in subdivisions {
        if let Ok(code) = <[u8; 2]>::try_from(sub.country.as_bytes()) {
            places.push((
                sub.code.to_owned(),
                sub.name.to_owned(),
                code,
                Some(sub.code),
            ));
        }
    }
    places
        .into_iter()
        .map(|(location, name, country, sub)| {
            let loc = routing.locate(Some(country), sub.map(str::as_bytes));
            let routes = services
                .iter()
                .map(|&service| {
                    let input = RouteInput {
                        country: Some(country),
                        subdivision: sub.map(str::as_bytes),
                        ..RouteInput::new(service)
                    };
                    let cell = Cell {
                        now: outcome_text(&routing.route(&input, now, 0, 0)),
                        after: after.map(|h| outcome_text(&routing.route(&input, h, 0, 0))),
                    };
                    (
                        routing.service_name(service).unwrap_or_default().to_owned(),
                        cell,
                    )
                })
                .collect();
            Row {
                location,
                name,
                matched: routing
                    .location_match(loc)
                    .map_or("unknown", |m| m.as_str()),
                group: routing
                    .location_group(loc)
                    .and_then(|g| routing.group_name(g))
                    .map(str::to_owned),
                routes,
            }
        })
        .collect()
}

fn write_table(
    out: &mut impl Write,
    routing: &CompiledRouting,
    services: &[ServiceId],
    rows: &[Row],
    with_down: bool,
) -> io::Result<()> {
    let names: Vec<&str> = services
        .iter()
        .filter_map(|&s| routing.service_name(s))
        .collect();
    let cell_text = |c: &Cell| match &c.after {
        Some(after) if *after != c.now => format!("{} -> {after}", c.now),
        _ => c.now.clone(),
    };
    let name_width = rows
        .iter()
        .map(|r| r.name.chars().count().min(28))
        .max()
        .unwrap_or(4)
        .max(4);
    let cell_width = rows
        .iter()
        .flat_map(|r| r.routes.values().map(|c| cell_text(c).len()))
        .chain(names.iter().map(|n| n.len()))
        .max()
        .unwrap_or(8);
    write!(
        out,
        "{:<8}  {:<name_width$}  {:<11}  {:<5}",
        "location", "name", "match", "group"
    )?;
    for n in &names {
        write!(out, "  {n:<cell_width$}")?;
    }
    writeln!(out)?;
    let mut changed = 0usize;
    for row in rows {
        let name: String = row.name.chars().take(28).collect();
        write!(
            out,
            "{:<8}  {:<name_width$}  {:<11}  {:<5}",
            row.location,
            name,
            row.matched,
            row.group.as_deref().unwrap_or("-")
        )?;
        for n in &names {
            let text = row.routes.get(*n).map(cell_text).unwrap_or_default();
            write!(out, "  {text:<cell_width$}")?;
        }
        writeln!(out)?;
        if row
            .routes
            .values()
            .any(|c| c.after.as_ref().is_some_and(|a| *a != c.now))
        {
            changed += 1;
        }
    }
    if with_down {
        writeln!(
            out,
            "{changed} of {} locations change region for at least one service",
            rows.len()
        )?;
    }
    Ok(())
}

fn write_csv(out: &mut impl Write, rows: &[Row]) -> io::Result<()> {
    writeln!(out, "location,name,service,now,after")?;
    for row in rows {
        for (service, cell) in &row.routes {
            writeln!(
                out,
                "{},{},{service},{},{}",
                row.location,
                csv_field(&row.name),
                cell.now,
                cell.after.as_deref().unwrap_or_default()
            )?;
        }
    }
    Ok(())
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

fn write_json(out: &mut impl Write, rows: &[Row]) -> io::Result<()> {
    for row in rows {
        serde_json::to_writer(&mut *out, row).map_err(io::Error::other)?;
        writeln!(out)?;
    }
    Ok(())
}
