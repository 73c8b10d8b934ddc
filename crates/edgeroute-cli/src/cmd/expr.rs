//! `edgeroute expr`: evaluate Rules language expressions, for a person (`EXPR --field ...`)
//! or for a program (`--jsonl` on standard input).

use std::io::{self, BufRead, BufWriter, Write};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use edgeroute_rules::{Context, OwnedValue, ParseErrors, Scheme, Type};
use owo_colors::OwoColorize;
use serde_json::json;

/// Evaluate a Rules language expression against field values.
///
/// With EXPR: prints `matched` (exit 0) or `not matched` (exit 1), or the errors with a caret
/// under each (exit 2). With --jsonl: reads one JSON object per line on standard input and
/// writes one JSON line per input, in order.
#[derive(Debug, clap::Args)]
#[command(after_long_help = FORMAT_HELP)]
pub(crate) struct Args {
    /// The expression, for example `http.host eq "example.com" and ssl`.
    #[arg(required_unless_present = "jsonl", conflicts_with = "jsonl")]
    expr: Option<String>,

    /// A field value `name=value` (repeatable). Strings are taken as is; Integer, Boolean and
    /// IP address values are parsed; Array and Map values are JSON.
    #[arg(long = "field", short = 'f', value_name = "NAME=VALUE")]
    fields: Vec<String>,

    /// The value of a `rate(<period>)` term, `period=count` (repeatable), for example `1m=61`.
    #[arg(long = "rate", value_name = "PERIOD=COUNT")]
    rates: Vec<String>,

    /// Read `{"expr": "...", "fields": {...}}` lines on standard input; write one JSON line each.
    #[arg(long)]
    jsonl: bool,
}

const FORMAT_HELP: &str = "\
JSON lines mode (--jsonl), one object per input line (blank lines are skipped):

  {\"expr\": \"ip.src in {10.0.0.0/8}\", \"fields\": {\"ip.src\": \"10.1.2.3\"}}

answers, one line per input, in order:

  {\"matched\": true}
  {\"matched\": false}
  {\"error\": \"<message>\", \"span\": [start, end]}   the expression is rejected (byte offsets)
  {\"error\": \"<message>\"}                           the input line itself is invalid

Field values are typed by the standard Cloudflare scheme: String and IP address as JSON
strings, Integer as a number, Boolean as a bool, Array as an array, Map as an object of arrays.
A field absent from \"fields\" is missing (every comparison on it is false). An optional
\"rates\" object gives rate(<period>) values: {\"rates\": {\"1m\": 61}}.";

/// Runs the command.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let scheme = Scheme::cloudflare();
    if args.jsonl {
        return run_jsonl(&scheme);
    }
    let Some(text) = args.expr else {
        bail!("give an expression or --jsonl")
    };
    let mut ctx = Context::new(&scheme);
    for field in &args.fields {
        let (name, value) = field
            .split_once('=')
            .with_context(|| format!("`--field {field}`: expected NAME=VALUE"))?;
        set_field_from_text(&scheme, &mut ctx, name, value)
            .with_context(|| format!("`--field {field}`"))?;
    }
    for rate in &args.rates {
        let (period, count) = rate
            .split_once('=')
            .with_context(|| format!("`--rate {rate}`: expected PERIOD=COUNT"))?;
        let secs = parse_period(period)
            .with_context(|| format!("`--rate {rate}`: bad period `{period}`"))?;
        let count: i64 = count
            .trim()
            .parse()
            .with_context(|| format!("`--rate {rate}`: bad count `{count}`"))?;
        ctx.set_rate(secs, count);
    }
    match scheme.parse(&text) {
        Err(errors) => {
            anstream::eprint!("{}", colored(&errors, &text));
            Ok(ExitCode::from(2))
        }
        Ok(expr) => {
            let matched = expr.compile().execute(&ctx);
            if matched {
                anstream::println!("{}", "matched".green().bold());
                Ok(ExitCode::SUCCESS)
            } else {
                anstream::println!("{}", "not matched".yellow().bold());
                Ok(ExitCode::from(1))
            }
        }
    }
}

/// `10s`, `1m`, `1h` or plain seconds.
fn parse_period(text: &str) -> Option<u32> {
    let text = text.trim();
    let (digits, mult) = match text.as_bytes().last()? {
        b's' => (text.get(..text.len() - 1)?, 1),
        b'm' => (text.get(..text.len() - 1)?, 60),
        b'h' => (text.get(..text.len() - 1)?, 3600),
        _ => (text, 1),
    };
    digits.parse::<u32>().ok()?.checked_mul(mult)
}

fn set_field_from_text(
    scheme: &Scheme,
    ctx: &mut Context,
    name: &str,
    value: &str,
) -> anyhow::Result<()> {
    let id = scheme
        .field(name)
        .with_context(|| format!("unknown field `{name}`"))?;
    let value = match scheme.field_type(id) {
        Type::Bytes => OwnedValue::Bytes(value.as_bytes().to_vec()),
        Type::Int => OwnedValue::Int(
            value
                .trim()
                .parse()
                .with_context(|| format!("`{value}` is not an Integer"))?,
        ),
        Type::Bool => OwnedValue::Bool(match value.trim() {
            "true" => true,
            "false" => false,
            other => bail!("`{other}` is not a Boolean (true or false)"),
        }),
        Type::Ip => OwnedValue::Ip(
            value
                .trim()
                .parse()
                .with_context(|| format!("`{value}` is not an IP address"))?,
        ),
        ty @ (Type::Array(_) | Type::Map(_)) => {
            let json: serde_json::Value = serde_json::from_str(value)
                .with_context(|| format!("a value of type {ty} is written as JSON"))?;
            OwnedValue::from_json(ty, &json)?
        }
    };
    ctx.set(id, value);
    Ok(())
}

/// The errors rendered with line:col and a caret, in color when the terminal allows it.
fn colored(errors: &ParseErrors, text: &str) -> String {
    let mut out = String::new();
    for line in errors.render(text, "<expr>").lines() {
        if let Some(rest) = line.strip_prefix("error:") {
            out.push_str(&format!(
                "{}{}\n",
                "error".red().bold(),
                format!(":{rest}").bold()
            ));
        } else if let Some((gutter, marks)) = line
            .split_once(" | ")
            .filter(|(_, m)| m.trim_start().starts_with('^'))
        {
            out.push_str(&format!("{gutter} | {}\n", marks.red().bold()));
        } else if let Some((gutter, help)) = line.split_once(" = help:") {
            out.push_str(&format!("{gutter} = {}{help}\n", "help:".cyan().bold()));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn run_jsonl(scheme: &Scheme) -> anyhow::Result<ExitCode> {
    let stdin = io::stdin();
    let mut out = BufWriter::new(io::stdout().lock());
    for line in stdin.lock().lines() {
        let line = line.context("reading standard input")?;
        if line.trim().is_empty() {
            continue;
        }
        let answer = answer_line(scheme, &line);
        serde_json::to_writer(&mut out, &answer)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    expr: String,
    #[serde(default)]
    fields: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    rates: serde_json::Map<String, serde_json::Value>,
}

fn answer_line(scheme: &Scheme, line: &str) -> serde_json::Value {
    let input: Input = match serde_json::from_str(line) {
        Ok(i) => i,
        Err(e) => return json!({ "error": format!("invalid input line: {e}") }),
    };
    let expr = match scheme.parse(&input.expr) {
        Ok(e) => e,
        Err(errors) => {
            let first = errors.first();
            return json!({ "error": first.message(), "span": [first.span().start, first.span().end] });
        }
    };
    let mut ctx = Context::new(scheme);
    for (name, value) in &input.fields {
        if let Err(e) = ctx.set_json(name, value) {
            return json!({ "error": e.to_string() });
        }
    }
    for (period, value) in &input.rates {
        let (Some(secs), Some(count)) = (parse_period(period), value.as_i64()) else {
            return json!({ "error": format!("invalid rate `{period}`: expected a period such as `1m` and an integer") });
        };
        ctx.set_rate(secs, count);
    }
    json!({ "matched": expr.compile().execute(&ctx) })
}
