//! `edgeroute eval`: replay requests through one engine and print one decision per line.

use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use edgeroute::routing::Forced;
use edgeroute::{Decision, Engine, HttpScheme, Policy, RequestView, Step, Timestamp};
use edgeroute_rules::{FieldId, OwnedValue, Value};
use serde::Deserialize;
use serde_json::{Map, json};

/// Replay requests through one engine, in order, and print one decision per request.
#[derive(Debug, clap::Args)]
#[command(after_long_help = FORMAT_HELP)]
pub(crate) struct Args {
    /// The policy file.
    #[arg(value_name = "POLICY")]
    policy: PathBuf,
    /// Requests, one JSON object per line (`-` for standard input).
    #[arg(long, value_name = "FILE.jsonl")]
    requests: PathBuf,
    /// Mark a region, pool or endpoint down from the start; repeatable.
    #[arg(long, value_name = "NAME")]
    down: Vec<String>,
    /// Add every rule considered, with whether and why it matched.
    #[arg(long)]
    explain: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,
    /// Environment overlay (default: the policy's default environment).
    #[arg(long, value_name = "ENV")]
    env: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// One JSON object per line.
    Json,
    /// One line per request for a person.
    Text,
}

const FORMAT_HELP: &str = "\
Input, one JSON object per line (blank lines and lines starting with # are skipped):

  {\"at\": 12.5, \"peer\": \"198.41.128.5\", \"method\": \"GET\",
   \"url\": \"https://api.aybiza.com/static/app.js\",
   \"headers\": {\"cf-connecting-ip\": \"81.2.69.160\", \"cf-ipcountry\": \"DE\"},
   \"fields\": {\"cf.threat_score\": 10}}

  at       seconds of virtual time (default 0); requests are replayed in file order
  peer     the connection's peer address (required)
  method   default GET
  url      absolute (`https://host/path?query`) or a path (the host then comes from `host`)
  headers  name -> value, or name -> [values] for a repeated header
  fields   Rules-language fields the request does not carry (bot score, threat score, ...)
  seed     optional routing seed

A health line marks a region, pool or endpoint down or back (as --down does) from then on:

  {\"at\": 30, \"health\": {\"target\": \"us-east-1\", \"up\": false}}

Output (--format json), one line per input line, keys in alphabetical order:

  {\"action\": \"allow\", \"status\": null, \"retry_after_s\": null, \"client_ip\": \"81.2.69.160\",
   \"country\": \"DE\", \"region\": \"eu-central-1\", \"service\": \"api\", \"pool\": ..., \"endpoint\": ...,
   \"failover\": null, \"cache\": {\"level\": \"aggressive\", \"edge_ttl_s\": 2592000,
   \"browser_ttl_s\": 86400, \"tier\": \"edge\", \"class\": null, \"tier_ttl_s\": null},
   \"request_headers\": {\"x-cf-region\": \"...\"}, \"response_headers\": {...},
   \"matched_rules\": [\"page-rule-static\"], \"at\": 12.5}

  action is allow, block, challenge, managed_challenge, js_challenge, preflight or unavailable;
  status is the HTTP status the gateway answers with (null when forwarding). With --explain an
  \"explain\" array lists {phase, rule, matched, note} for every rule considered. A health line
  prints {\"at\": 30, \"health\": {\"target\": ..., \"up\": ..., \"known\": true}}; a line that cannot
  be read prints {\"error\": \"line N: ...\"}.

Exit status: 0; 1 if the policy does not load or any input line was invalid; 2 on an unknown
--down name or an unreadable requests file.";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    #[serde(default)]
    at: f64,
    peer: Option<String>,
    method: Option<String>,
    url: Option<String>,
    #[serde(default)]
    headers: Map<String, serde_json::Value>,
    #[serde(default)]
    fields: Map<String, serde_json::Value>,
    health: Option<HealthLine>,
    seed: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HealthLine {
    target: String,
    up: bool,
}

/// Runs the command.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let policy = match Policy::load(&args.policy, args.env.as_deref()) {
        Ok((p, _)) => p,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(1));
        }
    };
    let engine = Engine::new(policy);
    {
        let snapshot = engine.policy();
        for name in &args.down {
            let known = snapshot
                .routing()
                .is_some_and(|rt| engine.health().set_down(rt, name));
            if !known {
                eprintln!(
                    "error: unknown --down target `{name}`: not a region, pool or endpoint of the policy"
                );
                return Ok(ExitCode::from(2));
            }
        }
    }
    let input: Box<dyn BufRead> = if args.requests.as_os_str() == "-" {
        Box::new(BufReader::new(io::stdin()))
    } else {
        match std::fs::File::open(&args.requests) {
            Ok(f) => Box::new(BufReader::new(f)),
            Err(e) => {
                eprintln!("error: cannot read `{}`: {e}", args.requests.display());
                return Ok(ExitCode::from(2));
            }
        }
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut bad = false;
    for (n, line) in input.lines().enumerate() {
        let line = line.with_context(|| format!("reading line {}", n + 1))?;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        match handle(&engine, trimmed, &args) {
            Ok(v) => write_out(&mut out, &v, args.format)?,
            Err(e) => {
                bad = true;
                let v = json!({ "error": format!("line {}: {e}", n + 1) });
                write_out(&mut out, &v, args.format)?;
            }
        }
    }
    out.flush()?;
    Ok(if bad {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn write_out(out: &mut impl Write, v: &serde_json::Value, format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => writeln!(out, "{v}")?,
        Format::Text => writeln!(out, "{}", text_line(v))?,
    }
    Ok(())
}

fn handle(engine: &Engine, text: &str, args: &Args) -> Result<serde_json::Value, String> {
    let line: Line = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if let Some(h) = &line.health {
        let snapshot = engine.policy();
        let known = snapshot.routing().is_some_and(|rt| {
            engine.health().set_forced(
                rt,
                &h.target,
                if h.up { Forced::Auto } else { Forced::Down },
            )
        });
        return Ok(
            json!({ "at": line.at, "health": { "target": h.target, "up": h.up, "known": known } }),
        );
    }
    let peer: IpAddr = line
        .peer
        .as_deref()
        .ok_or("`peer` is required")?
        .trim()
        .parse()
        .map_err(|_| {
            format!(
                "`peer` `{}` is not an IP address",
                line.peer.as_deref().unwrap_or("")
            )
        })?;
    let url = line.url.as_deref().ok_or("`url` is required")?;
    let (scheme, host, path) = split_url(url)?;
    let mut headers: Vec<(String, String)> = Vec::new();
    for (name, v) in &line.headers {
        match v {
            serde_json::Value::String(s) => headers.push((name.clone(), s.clone())),
            serde_json::Value::Array(items) => {
                for item in items {
                    let s = item
                        .as_str()
                        .ok_or_else(|| format!("header `{name}`: values must be strings"))?;
                    headers.push((name.clone(), s.to_owned()));
                }
            }
            _ => {
                return Err(format!(
                    "header `{name}`: value must be a string or an array of strings"
                ));
            }
        }
    }
    let snapshot = engine.policy();
    let scheme_fields = snapshot.scheme();
    let mut owned: Vec<(FieldId, OwnedValue)> = Vec::new();
    for (name, v) in &line.fields {
        let id = scheme_fields
            .field(name)
            .ok_or_else(|| format!("unknown field `{name}`"))?;
        let value = OwnedValue::from_json(scheme_fields.field_type(id), v)
            .map_err(|e| format!("field `{name}`: {e}"))?;
        owned.push((id, value));
    }
    let fields: Vec<(FieldId, Value<'_>)> =
        owned.iter().map(|(id, v)| (*id, v.as_value())).collect();
    let header_refs: Vec<(&[u8], &[u8])> = headers
        .iter()
        .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
        .collect();
    let method = line.method.as_deref().unwrap_or("GET");
    let req = RequestView {
        peer,
        method: method.as_bytes(),
        scheme,
        host: host.as_deref().map(str::as_bytes),
        path_and_query: path.as_bytes(),
        headers: &header_refs,
        fields: &fields,
        seed: line.seed.unwrap_or(0),
    };
    if !line.at.is_finite() || line.at < 0.0 {
        return Err(format!(
            "`at` {} must be a non-negative number of seconds",
            line.at
        ));
    }
    let now = Timestamp::from_secs_f64(line.at);
    let (decision, steps) = if args.explain {
        let e = engine.explain(&req, now);
        (e.decision, Some(e.steps))
    } else {
        (engine.decide(&req, now), None)
    };
    let mut v = decision_json(&decision);
    if let (Some(obj), Some(steps)) = (v.as_object_mut(), steps) {
        obj.insert("explain".into(), steps_json(&steps));
    }
    if let Some(obj) = v.as_object_mut() {
        obj.insert("at".into(), json!(line.at));
        obj.insert("method".into(), json!(method));
        obj.insert("url".into(), json!(url));
    }
    Ok(v)
}

/// `https://host:port/path?q` -> (scheme, Some(host:port), "/path?q"); `/path` -> (https, None, path).
fn split_url(url: &str) -> Result<(HttpScheme, Option<String>, String), String> {
    let (scheme, rest) = if let Some(r) = url.strip_prefix("https://") {
        (HttpScheme::Https, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (HttpScheme::Http, r)
    } else if url.starts_with('/') {
        return Ok((HttpScheme::Https, None, url.to_owned()));
    } else {
        return Err(format!(
            "`url` `{url}` must start with `https://`, `http://` or `/`"
        ));
    };
    let (host, path) = match rest.find(['/', '?']) {
        Some(i) => (rest.get(..i).unwrap_or(""), rest.get(i..).unwrap_or("/")),
        None => (rest, "/"),
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_owned()
    };
    if host.is_empty() {
        return Err(format!("`url` `{url}` has no host"));
    }
    Ok((scheme, Some(host.to_owned()), path))
}

/// The JSON form of a decision (also used by the golden tests).
pub(crate) fn decision_json(d: &Decision) -> serde_json::Value {
    let headers = |it: &mut dyn Iterator<Item = (&str, edgeroute::HeaderValue<'_>)>| {
        let mut m = Map::new();
        for (n, v) in it {
            m.insert(n.to_owned(), json!(v.to_string()));
        }
        serde_json::Value::Object(m)
    };
    let class = d.cache_class().map(|c| c.name().to_owned());
    json!({
        "action": d.action.as_str(),
        "status": d.status,
        "retry_after_s": d.retry_after_s,
        "client_ip": d.client_ip.to_string(),
        "country": d.country.map(|c| c.to_string()),
        "region": d.region(),
        "service": d.service(),
        "pool": d.pool(),
        "endpoint": d.endpoint(),
        "failover": d.failover().map(|f| f.as_str()),
        "refusal": d.refusal().map(|r| r.as_str()),
        "cache": {
            "level": d.cache.level.as_str(),
            "edge_ttl_s": d.cache.edge_ttl_s,
            "browser_ttl_s": d.cache.browser_ttl_s,
            "tier": d.cache.tier.as_str(),
            "class": class,
            "tier_ttl_s": d.cache.tier_ttl_s,
        },
        "request_headers": headers(&mut d.request_headers()),
        "response_headers": headers(&mut d.response_headers()),
        "matched_rules": d.matched_rules().collect::<Vec<_>>(),
    })
}

fn steps_json(steps: &[Step]) -> serde_json::Value {
    serde_json::Value::Array(
        steps
            .iter()
            .map(|s| json!({ "phase": s.phase.as_str(), "rule": s.rule, "matched": s.matched, "note": s.note }))
            .collect(),
    )
}

fn text_line(v: &serde_json::Value) -> String {
    let s = |k: &str| {
        v.get(k)
            .and_then(serde_json::Value::as_str)
            .unwrap_or("-")
            .to_owned()
    };
    if let Some(e) = v.get("error") {
        return format!("error: {}", e.as_str().unwrap_or(""));
    }
    if let Some(h) = v.get("health") {
        return format!(
            "{:>9.3}  health {} {}",
            v.get("at")
                .and_then(serde_json::Value::as_f64)
                .unwrap_or(0.0),
            h.get("target")
                .and_then(serde_json::Value::as_str)
                .unwrap_or(""),
            if h.get("up").and_then(serde_json::Value::as_bool) == Some(true) {
                "up"
            } else {
                "down"
            }
        );
    }
    let at = v
        .get("at")
        .and_then(serde_json::Value::as_f64)
        .unwrap_or(0.0);
    let status = v
        .get("status")
        .and_then(serde_json::Value::as_u64)
        .map_or_else(|| "-".to_owned(), |s| s.to_string());
    let cache = v.get("cache");
    let c = |k: &str| {
        cache
            .and_then(|c| c.get(k))
            .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
            .unwrap_or_default()
    };
    let rules: Vec<String> = v
        .get("matched_rules")
        .and_then(serde_json::Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut line = format!(
        "{at:>9.3}  {} {} -> {} {status} client={} country={} region={} cache={}/{}/{} rules=[{}]",
        s("method"),
        s("url"),
        s("action"),
        s("client_ip"),
        s("country"),
        s("region"),
        c("level"),
        c("edge_ttl_s"),
        c("browser_ttl_s"),
        rules.join(",")
    );
    if let Some(steps) = v.get("explain").and_then(serde_json::Value::as_array) {
        for st in steps {
            let g = |k: &str| {
                st.get(k)
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("")
                    .to_owned()
            };
            let matched = st.get("matched").and_then(serde_json::Value::as_bool) == Some(true);
            line.push_str(&format!(
                "\n           {} {:<14} {:<28} {}",
                if matched { "+" } else { " " },
                g("phase"),
                g("rule"),
                g("note")
            ));
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split() {
        let (s, h, p) = split_url("https://api.aybiza.com/static/app.js?v=1").unwrap();
        assert_eq!(
            (s, h.as_deref(), p.as_str()),
            (
                HttpScheme::Https,
                Some("api.aybiza.com"),
                "/static/app.js?v=1"
            )
        );
        let (s, h, p) = split_url("http://a.com:8080").unwrap();
        assert_eq!(
            (s, h.as_deref(), p.as_str()),
            (HttpScheme::Http, Some("a.com:8080"), "/")
        );
        let (_, h, p) = split_url("https://a.com?x=1").unwrap();
        assert_eq!((h.as_deref(), p.as_str()), (Some("a.com"), "/?x=1"));
        assert!(split_url("ftp://a").is_err());
        assert!(split_url("https:///x").is_err());
    }
}
