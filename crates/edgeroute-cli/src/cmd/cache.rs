//! `edgeroute cache replay`: replays a CSV trace through one cache model and prints its miss
//! counts, counted as libCacheSim's `cachesim` counts them.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use edgeroute_sim::cache::{CachePolicy, CacheStats, Capacity, PolicyCache, new_cache};
use edgeroute_sim::trace::{TraceError, TraceOptions, TraceReader};

use super::snippet::{self, Snippet};

/// Cache models.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Replay a `timestamp,key,size` CSV trace through one cache and print its miss ratios.
    #[command(after_long_help = REPLAY_HELP)]
    Replay(ReplayArgs),
}

const REPLAY_HELP: &str = "\
Counting follows libCacheSim's cachesim: every request counts (first-time misses included, no
warm-up); with --objects every object has size 1 and the capacity is an object count; in byte
mode an object larger than the cache is a miss and is not inserted; a hit keeps the stored size.
byte_misses always sums the sizes written in the trace.

Policies: lru, fifo, clock, sieve, s3fifo, wtinylfu. Parameters follow a colon, e.g.
  s3fifo:small-size-ratio=0.1,ghost-size-ratio=0.9,move-to-main-threshold=2
  wtinylfu:window-size=0.01,protected-ratio=0.8

Trace: CSV with a header naming the columns (timestamp,key,size required; host, path, method,
client_ip, country, status optional), or headerless timestamp,key,size. Keys are integers or
strings (hashed). A bad row is an error naming its line; --skip-bad-rows skips and counts them.

JSON output: {\"policy\", \"capacity\", \"unit\", \"requests\", \"misses\", \"miss_ratio\",
\"byte_misses\", \"byte_miss_ratio\", \"bytes\", \"skipped_rows\"}.";

#[derive(Debug, clap::Args)]
struct ReplayArgs {
    /// The trace (CSV; `-` reads standard input).
    #[arg(long, value_name = "FILE.csv")]
    trace: PathBuf,
    /// Eviction policy, optionally with parameters (`name:key=value,...`).
    #[arg(long, value_name = "NAME")]
    policy: CachePolicy,
    /// Capacity: bytes (suffixes K, M, G = 10^3.., KiB, MiB, GiB = 2^10..), or objects with
    /// --objects.
    #[arg(long, value_name = "N", value_parser = parse_capacity)]
    capacity: u64,
    /// Count objects, not bytes: every object has size 1.
    #[arg(long)]
    objects: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Skip rows that do not parse, and report how many, instead of stopping at the first.
    #[arg(long)]
    skip_bad_rows: bool,
    /// Threads: 1 parses and replays on one thread; 2 parses the trace on a second thread
    /// while the first replays (same counts, in the same order); 0 picks 2 when the machine
    /// has more than one core.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=2))]
    threads: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

fn parse_capacity(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '_')
        .unwrap_or(s.len());
    let (digits, suffix) = s.split_at(split);
    let n: u64 = digits.replace('_', "").parse().map_err(|_| {
        format!("`{s}` is not a capacity (an integer, optionally with K, M, G, KiB, MiB, GiB)")
    })?;
    let mult: u64 = match suffix.trim() {
        "" => 1,
        "K" | "k" | "KB" | "kB" => 1_000,
        "M" | "MB" => 1_000_000,
        "G" | "GB" => 1_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        other => {
            return Err(format!(
                "unknown capacity suffix `{other}` (K, M, G, KiB, MiB, GiB)"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("capacity `{s}` is too large"))
}

/// Requests parsed before they are replayed.
const BATCH: usize = 4096;

/// Batches in flight between the parsing thread and the replaying one (64 KiB each), so the
/// memory of a replay stays bounded whatever the trace's length.
const IN_FLIGHT: usize = 4;

/// Parses `reader` in batches and replays each through `cache` ([`PolicyCache::replay`]
/// dispatches on the policy once per batch); the counts are those of one access per row.
/// Returns the rows skipped.
fn replay_batches<R: io::Read>(
    mut reader: TraceReader<R>,
    cache: &mut PolicyCache,
    stats: &mut CacheStats,
) -> Result<u64, TraceError> {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let full = fill_batch(&mut reader, &mut batch)?;
        cache.replay(&batch, stats);
        if !full {
            return Ok(reader.skipped_rows());
        }
    }
}

/// Clears `batch` and parses up to [`BATCH`] requests into it; false at the end of the trace.
fn fill_batch<R: io::Read>(
    reader: &mut TraceReader<R>,
    batch: &mut Vec<(u64, u32)>,
) -> Result<bool, TraceError> {
    batch.clear();
    while batch.len() < BATCH {
        match reader.next_request()? {
            Some(req) => batch.push((req.key, req.size)),
            None => return Ok(false),
        }
    }
    Ok(true)
}

/// [`replay_batches`] with the parsing on a second thread: it fills batches while this one
/// replays the previous ones, in order, so the counts are the same. [`IN_FLIGHT`] buffers go
/// round between the two. An error stops the parser after the batches before it were sent;
/// it is returned once they are replayed, as on one thread.
fn replay_pipelined<R: io::Read + Send>(
    mut reader: TraceReader<R>,
    cache: &mut PolicyCache,
    stats: &mut CacheStats,
) -> Result<u64, TraceError> {
    use std::sync::mpsc;
    let (full_tx, full_rx) = mpsc::sync_channel::<Vec<(u64, u32)>>(IN_FLIGHT);
    let (empty_tx, empty_rx) = mpsc::channel::<Vec<(u64, u32)>>();
    for _ in 0..IN_FLIGHT {
        // Cannot fail: the receiver is alive.
        let _ = empty_tx.send(Vec::with_capacity(BATCH));
    }
    std::thread::scope(|scope| {
        let parser = scope.spawn(move || -> Result<u64, TraceError> {
            // The replaying side gone (it never stops early) ends the loop too.
            while let Ok(mut batch) = empty_rx.recv() {
                let full = fill_batch(&mut reader, &mut batch)?;
                if full_tx.send(batch).is_err() || !full {
                    break;
                }
            }
            Ok(reader.skipped_rows())
        });
        for batch in full_rx {
            cache.replay(&batch, stats);
            // The parser may have finished: a buffer it will not take back is dropped.
            let _ = empty_tx.send(batch);
        }
        // A panic in the parser (a bug) goes on here, as it would on one thread.
        parser
            .join()
            .unwrap_or_else(|payload| std::panic::resume_unwind(payload))
    })
}

/// Runs the command.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Sub::Replay(args) => replay(&args),
    }
}

#[derive(Debug, serde::Serialize)]
struct Report {
    policy: String,
    capacity: u64,
    unit: &'static str,
    requests: u64,
    misses: u64,
    miss_ratio: f64,
    byte_misses: u64,
    byte_miss_ratio: f64,
    bytes: u64,
    skipped_rows: u64,
}

fn replay(args: &ReplayArgs) -> anyhow::Result<ExitCode> {
    let options = TraceOptions {
        skip_bad_rows: args.skip_bad_rows,
    };
    let capacity = if args.objects {
        Capacity::objects(args.capacity)
    } else {
        Capacity::bytes(args.capacity)
    };
    let stdin = args.trace.as_os_str() == "-";
    let origin = if stdin {
        "<stdin>".to_owned()
    } else {
        args.trace.display().to_string()
    };
    let source: Box<dyn io::Read + Send> = if stdin {
        Box::new(io::stdin())
    } else {
        Box::new(File::open(&args.trace).with_context(|| format!("cannot open trace `{origin}`"))?)
    };
    let mut cache = new_cache(&args.policy, capacity);
    let mut stats = CacheStats::default();
    let threads = match args.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get().min(2)),
        n => usize::from(n),
    };
    let result = TraceReader::from_reader(source, options).and_then(|reader| {
        if threads > 1 {
            replay_pipelined(reader, &mut cache, &mut stats)
        } else {
            replay_batches(reader, &mut cache, &mut stats)
        }
    });
    let skipped_rows = match result {
        Ok(n) => n,
        Err(err) => {
            let line = if stdin {
                None
            } else {
                read_line(&args.trace, err.line())
            };
            eprintln!("{}", render(&origin, line, &err));
            return Ok(ExitCode::from(2));
        }
    };
    let report = Report {
        policy: args.policy.to_string(),
        capacity: args.capacity,
        unit: if args.objects { "objects" } else { "bytes" },
        requests: stats.requests,
        misses: stats.misses,
        miss_ratio: stats.miss_ratio(),
        byte_misses: stats.byte_misses,
        byte_miss_ratio: stats.byte_miss_ratio(),
        bytes: stats.bytes,
        skipped_rows,
    };
    let mut out = io::stdout().lock();
    let written = match args.format {
        Format::Json => serde_json::to_writer_pretty(&mut out, &report)
            .map_err(io::Error::from)
            .and_then(|()| writeln!(out)),
        Format::Text => write_text(&mut out, &report),
    };
    match written {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(err) => Err(err).context("cannot write to standard output"),
    }
}

fn write_text(out: &mut impl Write, r: &Report) -> io::Result<()> {
    writeln!(out, "policy           {}", r.policy)?;
    writeln!(out, "capacity         {} {}", r.capacity, r.unit)?;
    writeln!(out, "requests         {}", r.requests)?;
    writeln!(out, "misses           {}", r.misses)?;
    writeln!(out, "miss_ratio       {:.6}", r.miss_ratio)?;
    writeln!(out, "byte_misses      {}", r.byte_misses)?;
    writeln!(out, "byte_miss_ratio  {:.6}", r.byte_miss_ratio)?;
    if r.skipped_rows > 0 {
        writeln!(out, "skipped_rows     {}", r.skipped_rows)?;
    }
    Ok(())
}

/// Line `line` (1-based) of `path`, read again only to show an error.
fn read_line(path: &Path, line: u64) -> Option<String> {
    let index = usize::try_from(line.checked_sub(1)?).ok()?;
    let file = File::open(path).ok()?;
    let mut text = BufReader::new(file).lines().nth(index)?.ok()?;
    text.truncate(text.trim_end_matches('\r').len());
    Some(text)
}

/// The error with the file, line:col (the column in characters) and, when the line can be
/// read again, the line with a caret under the field.
fn render(origin: &str, line_text: Option<String>, err: &TraceError) -> String {
    let snippet = line_text
        .as_deref()
        .filter(|_| err.line() > 0)
        .map(|text| Snippet {
            line_no: err.line(),
            text,
            start: err.column().saturating_sub(1),
            len: err.len(),
        });
    let heading = if err.line() > 0 {
        format!(
            "{origin}:{}:{}: {}",
            err.line(),
            err.char_column(),
            err.kind()
        )
    } else {
        format!("{origin}: {}", err.kind())
    };
    snippet::render(&heading, snippet.as_ref(), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacities() {
        assert_eq!(parse_capacity("1000"), Ok(1000));
        assert_eq!(parse_capacity("64MiB"), Ok(64 << 20));
        assert_eq!(parse_capacity("2G"), Ok(2_000_000_000));
        assert_eq!(parse_capacity("1_000k"), Ok(1_000_000));
        assert!(parse_capacity("ten").is_err());
        assert!(parse_capacity("5TB").is_err());
        assert!(parse_capacity("99999999999999GiB").is_err());
    }
}
