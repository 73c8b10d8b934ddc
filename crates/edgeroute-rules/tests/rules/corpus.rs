//! The conformance corpus: every `testdata/*.toml` case, checked against both the compiled
//! filter and the reference interpreter, and for round-trip printing.

use std::collections::BTreeMap;
use std::path::Path;

use edgeroute_rules::Context;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    case: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    expr: String,
    #[serde(default)]
    fields: BTreeMap<String, toml::Value>,
    /// `rate(<seconds>)` values, keyed by the period in seconds.
    #[serde(default)]
    rates: BTreeMap<String, i64>,
    expect: Expect,
    error_contains: Option<String>,
    source: String,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Expect {
    Bool(bool),
    Error(String),
}

fn to_json(v: &toml::Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap()
}

#[test]
fn conformance_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let scheme = crate::scheme();
    let mut total = 0;
    let mut failures = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    for path in paths
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
    {
        let text = std::fs::read_to_string(path).unwrap();
        let file: File =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for (i, case) in file.case.iter().enumerate() {
            total += 1;
            let name = format!(
                "{}#{} `{}`",
                path.file_name().unwrap().to_string_lossy(),
                i + 1,
                case.expr
            );
            assert!(
                case.source.starts_with("https://"),
                "{name}: source must be a URL"
            );
            if let Err(msg) = run(&scheme, case) {
                failures.push(format!("{name}: {msg}"));
            }
        }
    }
    assert!(total >= 150, "only {total} corpus cases");
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn run(scheme: &edgeroute_rules::Scheme, case: &Case) -> Result<(), String> {
    let parsed = scheme.parse(&case.expr);
    match (&case.expect, parsed) {
        (Expect::Error(e), _) if e != "error" => Err(format!(
            "expect must be true, false or \"error\", found {e:?}"
        )),
        (Expect::Error(_), Ok(expr)) => Err(format!("expected an error, parsed as `{expr}`")),
        (Expect::Error(_), Err(errors)) => {
            let all: Vec<String> = errors.iter().map(|e| e.message().to_owned()).collect();
            for e in &errors {
                if e.span().end > case.expr.len().max(e.span().start) {
                    return Err(format!("span {:?} outside the input", e.span()));
                }
            }
            match &case.error_contains {
                Some(want) if !all.iter().any(|m| m.contains(want.as_str())) => {
                    Err(format!("no error contains {want:?}; got {all:?}"))
                }
                _ => Ok(()),
            }
        }
        (Expect::Bool(_), Err(errors)) => Err(format!(
            "unexpected error: {}",
            errors.render(&case.expr, "case")
        )),
        (Expect::Bool(want), Ok(expr)) => {
            let mut ctx = Context::new(scheme);
            for (name, value) in &case.fields {
                ctx.set_json(name, &to_json(value))
                    .map_err(|e| format!("bad field {name}: {e}"))?;
            }
            for (period, value) in &case.rates {
                ctx.set_rate(
                    period
                        .parse()
                        .map_err(|_| format!("bad rate period {period}"))?,
                    *value,
                );
            }
            let compiled = expr.compile().execute(&ctx);
            let interpreted = expr.interpret(&ctx);
            if compiled != *want {
                return Err(format!("compiled filter gave {compiled}, expected {want}"));
            }
            if interpreted != *want {
                return Err(format!("interpreter gave {interpreted}, expected {want}"));
            }
            let printed = expr.to_string();
            let again = scheme
                .parse(&printed)
                .map_err(|e| format!("canonical `{printed}` does not parse: {e}"))?;
            if again != expr {
                return Err(format!("canonical `{printed}` parses to a different tree"));
            }
            if again.compile().execute(&ctx) != *want {
                return Err(format!("canonical `{printed}` evaluates differently"));
            }
            Ok(())
        }
    }
}
