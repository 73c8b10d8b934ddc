//! Cloudflare Rulesets API interop: export a policy's firewall, rate limiting and cache rules
//! as rulesets for the `http_request_firewall_custom`, `http_ratelimit` and
//! `http_request_cache_settings` phases, and import such rulesets back into policy TOML.
//!
//! # What maps how
//! | edgeroute | Cloudflare |
//! |---|---|
//! | rule `id` | rule `ref` |
//! | firewall `block` with `status`/`body` | `block` with `action_parameters.response` |
//! | `challenge`, `managed_challenge`, `js_challenge`, `log` | the same action |
//! | `skip` with `remaining` / `phases = ["rate_limiting"]` | `skip` with `ruleset = "current"` / `phases = ["http_ratelimit"]` |
//! | rate limiting `characteristics`, `period`, `requests_per_period`, `mitigation_timeout`, `counting_expression` | `ratelimit` (plus the mandatory `cf.colo.id`) |
//! | cache `level` bypass / aggressive | `set_cache_settings` with `cache = false` / `true` |
//! | `edge_ttl`, `browser_ttl` | `edge_ttl` / `browser_ttl` with mode `override_origin` |
//! | `cache_key` | `cache_key.custom_key` |
//! | `url = "host/path*"` | `(http.host wildcard "host" and http.request.uri strict wildcard "/path*")` |
//!
//! What Cloudflare has no place for (cache `tier` and content `class`, level `standard`,
//! skipping named custom rules or the cache phase) travels in the rule description as a tag
//! `[edgeroute tier=regional class=sessions]`, so an export imported again decides the same.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use crate::config::{
    CacheKeyConfig, CacheLevel, CacheRuleConfig, CacheTier, DurationSecs, FirewallAction,
    FirewallRuleConfig, PolicyFile, RateLimitAction, RateLimitRuleConfig, SkipConfig,
    SkippablePhase,
};
use crate::pattern::UrlPattern;
use crate::policy::Policy;

/// The custom rules phase.
pub const PHASE_FIREWALL: &str = "http_request_firewall_custom";
/// The rate limiting phase.
pub const PHASE_RATE_LIMIT: &str = "http_ratelimit";
/// The cache settings phase.
pub const PHASE_CACHE: &str = "http_request_cache_settings";

/// Problems converting rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InteropError {
    /// The input is not a rulesets export.
    #[error("not a Cloudflare rulesets export: {0}")]
    Shape(String),
    /// A rule cannot be converted.
    #[error("{phase} rule {index} (`{rule}`): {message}")]
    Rule {
        /// The ruleset phase.
        phase: String,
        /// The rule's position in its ruleset.
        index: usize,
        /// The rule's ref or id.
        rule: String,
        /// What is wrong.
        message: String,
    },
}

// ---------------------------------------------------------------------------------------------
// Export
// ---------------------------------------------------------------------------------------------

/// The result of an export: the rulesets and what could not be expressed exactly.
#[derive(Debug, Clone)]
pub struct Export {
    /// A JSON array of three rulesets (custom rules, rate limiting, cache settings).
    pub rulesets: Value,
    /// Notes on anything Cloudflare cannot express and that travels only in description tags.
    pub warnings: Vec<String>,
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", u32::from(c) & 0xff);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn tagged(description: Option<&str>, tags: &[(String, String)]) -> Option<String> {
    let base = description.unwrap_or("").trim();
    if tags.is_empty() {
        return (!base.is_empty()).then(|| base.to_owned());
    }
    let tag: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let sep = if base.is_empty() { "" } else { " " };
    Some(format!("{base}{sep}[edgeroute {}]", tag.join(" ")))
}

/// An expression equivalent to a page-rule URL pattern, for hosts as the chosen environment
/// has them.
fn url_expression(url: &str, policy: &Policy) -> Option<String> {
    let pattern = UrlPattern::parse(url).ok()?;
    let mut parts = Vec::new();
    match pattern.scheme_match() {
        Some(true) => parts.push("ssl".to_owned()),
        Some(false) => parts.push("not ssl".to_owned()),
        None => {}
    }
    let hosts: Vec<String> = match pattern
        .literal_host()
        .map(|h| String::from_utf8_lossy(h).into_owned())
    {
        Some(h) => {
            // Follow the service to its hosts in the compiled environment.
            let base_service = policy
                .config()
                .services
                .iter()
                .find(|(_, s)| s.hosts.iter().any(|b| b.eq_ignore_ascii_case(&h)))
                .map(|(name, _)| name.clone());
            match base_service.and_then(|n| policy.services().iter().find(|s| s.name() == n)) {
                Some(svc) => svc.hosts().map(str::to_owned).collect(),
                None => vec![h],
            }
        }
        None => vec![pattern.host_text()],
    };
    let host_terms: Vec<String> = hosts
        .iter()
        .map(|h| format!("http.host wildcard {}", quote(h)))
        .collect();
    match host_terms.as_slice() {
        [] => {}
        [one] if one != "http.host wildcard \"*\"" => parts.push(one.clone()),
        [_] => {}
        many => parts.push(format!("({})", many.join(" or "))),
    }
    let path = pattern.path_text();
    if path != "*" {
        parts.push(format!("http.request.uri strict wildcard {}", quote(&path)));
    }
    if parts.is_empty() {
        return Some("http.request.uri.path wildcard \"*\"".to_owned());
    }
    Some(format!("({})", parts.join(" and ")))
}

fn and(a: Option<String>, b: Option<&str>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(format!("{a} and ({b})")),
        (Some(a), None) => Some(a),
        (None, Some(b)) => Some(b.to_owned()),
        (None, None) => None,
    }
}

const MATCH_ALL: &str = "http.request.uri.path wildcard \"*\"";

fn disabled_in(policy: &Policy) -> Vec<String> {
    policy
        .config()
        .environments
        .get(policy.environment())
        .map(|o| o.disable_rules.clone())
        .unwrap_or_default()
}

/// Exports a compiled policy's firewall, rate limiting and cache rules as Cloudflare rulesets.
/// URL patterns use the hosts of the environment the policy was compiled for.
#[must_use]
pub fn export(policy: &Policy) -> Export {
    let cfg = policy.config();
    let name = &cfg.policy.name;
    let mut warnings = Vec::new();
    let off = disabled_in(policy);
    let enabled = |id: &str, e: bool| e && !off.iter().any(|d| d == id);

    let mut fw = Vec::new();
    for r in &cfg.firewall.rules {
        if policy
            .scheme()
            .parse(&r.expression)
            .is_ok_and(|e| e.rate_periods().next().is_some())
        {
            warnings.push(format!(
                "firewall rule `{}`: Cloudflare custom rules have no `rate(..)`; express it as a rate limiting rule before deploying",
                r.id
            ));
        }
        let mut tags = Vec::new();
        let mut params = Map::new();
        let action = match r.action {
            FirewallAction::Block => {
                if r.status.is_some() || r.body.is_some() {
                    let mut resp = Map::new();
                    resp.insert("status_code".into(), json!(r.status.unwrap_or(403)));
                    if let Some(b) = &r.body {
                        resp.insert("content".into(), json!(b));
                        resp.insert(
                            "content_type".into(),
                            json!(r.content_type.as_deref().unwrap_or("text/plain")),
                        );
                    }
                    params.insert("response".into(), Value::Object(resp));
                }
                "block"
            }
            FirewallAction::Challenge => "challenge",
            FirewallAction::ManagedChallenge => "managed_challenge",
            FirewallAction::JsChallenge => "js_challenge",
            FirewallAction::Log => "log",
            FirewallAction::Skip => {
                let skip = r.skip.clone().unwrap_or_default();
                if skip.remaining || skip.phases.contains(&SkippablePhase::Firewall) {
                    params.insert("ruleset".into(), json!("current"));
                }
                if skip.phases.contains(&SkippablePhase::RateLimiting) {
                    params.insert("phases".into(), json!([PHASE_RATE_LIMIT]));
                }
                if skip.phases.contains(&SkippablePhase::Cache) {
                    tags.push(("skip_phases".to_owned(), "cache".to_owned()));
                    warnings.push(format!("firewall rule `{}`: Cloudflare custom rules cannot skip cache rules; kept as a description tag", r.id));
                }
                if !skip.rules.is_empty() {
                    tags.push(("skip_rules".to_owned(), skip.rules.join(",")));
                    warnings.push(format!("firewall rule `{}`: Cloudflare custom rules cannot skip named custom rules; kept as a description tag", r.id));
                }
                "skip"
            }
        };
        let mut rule = Map::new();
        rule.insert("ref".into(), json!(r.id));
        if let Some(d) = tagged(r.description.as_deref(), &tags) {
            rule.insert("description".into(), json!(d));
        }
        rule.insert("expression".into(), json!(r.expression));
        rule.insert("action".into(), json!(action));
        if !params.is_empty() {
            rule.insert("action_parameters".into(), Value::Object(params));
        }
        rule.insert("enabled".into(), json!(enabled(&r.id, r.enabled)));
        fw.push(Value::Object(rule));
    }

    let mut rl = Vec::new();
    for r in &cfg.rate_limiting.rules {
        let mut rule = Map::new();
        rule.insert("ref".into(), json!(r.id));
        if let Some(d) = tagged(r.description.as_deref(), &[]) {
            rule.insert("description".into(), json!(d));
        }
        rule.insert(
            "expression".into(),
            json!(r.expression.as_deref().unwrap_or(MATCH_ALL)),
        );
        let action = match r.action {
            RateLimitAction::Block => {
                if r.status.is_some() || r.body.is_some() {
                    let mut resp = Map::new();
                    resp.insert("status_code".into(), json!(r.status.unwrap_or(429)));
                    if let Some(b) = &r.body {
                        resp.insert("content".into(), json!(b));
                        resp.insert(
                            "content_type".into(),
                            json!(r.content_type.as_deref().unwrap_or("text/plain")),
                        );
                    }
                    rule.insert("action_parameters".into(), json!({ "response": resp }));
                }
                "block"
            }
            RateLimitAction::Challenge => "challenge",
            RateLimitAction::ManagedChallenge => "managed_challenge",
            RateLimitAction::JsChallenge => "js_challenge",
            RateLimitAction::Log => "log",
        };
        rule.insert("action".into(), json!(action));
        let mut chars = vec![json!("cf.colo.id")];
        chars.extend(
            r.characteristics
                .iter()
                .filter(|c| *c != "cf.colo.id")
                .map(|c| json!(c)),
        );
        let mut limit = Map::new();
        limit.insert("characteristics".into(), Value::Array(chars));
        limit.insert("period".into(), json!(r.period.0));
        limit.insert("requests_per_period".into(), json!(r.requests_per_period));
        limit.insert("mitigation_timeout".into(), json!(r.mitigation_timeout.0));
        if let Some(c) = &r.counting_expression {
            limit.insert("counting_expression".into(), json!(c));
        }
        rule.insert("ratelimit".into(), Value::Object(limit));
        rule.insert("enabled".into(), json!(enabled(&r.id, r.enabled)));
        rl.push(Value::Object(rule));
    }

    let mut cache = Vec::new();
    for r in &cfg.cache.rules {
        let mut tags = Vec::new();
        let mut params = Map::new();
        match r.level {
            Some(CacheLevel::Bypass) => {
                params.insert("cache".into(), json!(false));
            }
            Some(CacheLevel::Aggressive) => {
                params.insert("cache".into(), json!(true));
            }
            Some(CacheLevel::Standard) => tags.push(("level".to_owned(), "standard".to_owned())),
            None => {}
        }
        if let Some(t) = r.edge_ttl {
            params.insert(
                "edge_ttl".into(),
                json!({ "mode": "override_origin", "default": t.0 }),
            );
        }
        if let Some(t) = r.browser_ttl {
            params.insert(
                "browser_ttl".into(),
                json!({ "mode": "override_origin", "default": t.0 }),
            );
        }
        if let Some(k) = &r.cache_key {
            params.insert("cache_key".into(), cache_key_json(k));
        }
        if let Some(t) = r.tier {
            tags.push(("tier".to_owned(), t.as_str().to_owned()));
        }
        if let Some(c) = &r.class {
            tags.push(("class".to_owned(), c.clone()));
        }
        let url_expr = r.url.as_deref().and_then(|u| url_expression(u, policy));
        let Some(expression) = and(url_expr, r.expression.as_deref()) else {
            warnings.push(format!(
                "cache rule `{}` has neither url nor expression; skipped",
                r.id
            ));
            continue;
        };
        let mut rule = Map::new();
        rule.insert("ref".into(), json!(r.id));
        if let Some(d) = tagged(r.description.as_deref(), &tags) {
            rule.insert("description".into(), json!(d));
        }
        rule.insert("expression".into(), json!(expression));
        rule.insert("action".into(), json!("set_cache_settings"));
        rule.insert("action_parameters".into(), Value::Object(params));
        rule.insert("enabled".into(), json!(enabled(&r.id, r.enabled)));
        cache.push(Value::Object(rule));
    }
    if !cfg.cache.classes.is_empty() {
        warnings.push("content classes ([cache.classes]) have no Cloudflare equivalent; cache rules name them in description tags".to_owned());
    }

    let ruleset = |phase: &str, title: &str, rules: Vec<Value>| json!({ "name": format!("{name} {title}"), "kind": "zone", "phase": phase, "rules": rules });
    Export {
        rulesets: json!([
            ruleset(PHASE_FIREWALL, "custom rules", fw),
            ruleset(PHASE_RATE_LIMIT, "rate limiting rules", rl),
            ruleset(PHASE_CACHE, "cache rules", cache),
        ]),
        warnings,
    }
}

fn cache_key_json(k: &CacheKeyConfig) -> Value {
    let mut custom = Map::new();
    if k.ignore_query_string {
        custom.insert("query_string".into(), json!({ "exclude": { "all": true } }));
    }
    if !k.headers.is_empty() {
        custom.insert("header".into(), json!({ "include": k.headers }));
    }
    if !k.cookies.is_empty() {
        custom.insert("cookie".into(), json!({ "include": k.cookies }));
    }
    if k.country {
        custom.insert("user".into(), json!({ "geo": true }));
    }
    json!({ "custom_key": custom })
}

// ---------------------------------------------------------------------------------------------
// Import
// ---------------------------------------------------------------------------------------------

/// The result of an import.
#[derive(Debug, Clone)]
pub struct Import {
    /// The policy: `base` with its firewall, rate limiting and cache rules replaced, or a new
    /// policy holding only those.
    pub policy: PolicyFile,
    /// Rules skipped or approximated.
    pub warnings: Vec<String>,
}

fn rulesets_of(v: &Value) -> Result<Vec<&Value>, InteropError> {
    match v {
        Value::Array(items) => Ok(items.iter().collect()),
        Value::Object(o) => {
            if let Some(r) = o.get("result") {
                return rulesets_of(r);
            }
            if let Some(r) = o.get("rulesets") {
                return rulesets_of(r);
            }
            if o.contains_key("rules") || o.contains_key("phase") {
                return Ok(vec![v]);
            }
            Err(InteropError::Shape(
                "expected a ruleset, a list of rulesets or an API response with `result`".into(),
            ))
        }
        _ => Err(InteropError::Shape(
            "expected a JSON object or array".into(),
        )),
    }
}

fn parse_tags(description: Option<&str>) -> (Option<String>, BTreeMap<String, String>) {
    let Some(d) = description else {
        return (None, BTreeMap::new());
    };
    let mut tags = BTreeMap::new();
    let mut base = d.trim().to_owned();
    if let Some(start) = d.rfind("[edgeroute ")
        && let Some(body) = d.get(start + 11..).and_then(|r| r.strip_suffix(']'))
    {
        for kv in body.split_whitespace() {
            if let Some((k, v)) = kv.split_once('=') {
                tags.insert(k.to_owned(), v.to_owned());
            }
        }
        base = d.get(..start).unwrap_or("").trim().to_owned();
    }
    ((!base.is_empty()).then_some(base), tags)
}

fn rule_id(rule: &Map<String, Value>, phase: &str, index: usize, used: &mut Vec<String>) -> String {
    let raw = rule
        .get("ref")
        .or_else(|| rule.get("id"))
        .and_then(Value::as_str)
        .map_or_else(|| format!("{phase}-{index}"), str::to_owned);
    let mut id: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    if id.is_empty() {
        id = format!("{phase}-{index}");
    }
    let mut candidate = id.clone();
    let mut n = 2;
    while used.contains(&candidate) {
        candidate = format!("{id}-{n}");
        n += 1;
    }
    used.push(candidate.clone());
    candidate
}

fn response(params: Option<&Value>) -> (Option<u16>, Option<String>, Option<String>) {
    let resp = params.and_then(|p| p.get("response"));
    let status = resp
        .and_then(|r| r.get("status_code"))
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok());
    let body = resp
        .and_then(|r| r.get("content"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let ct = resp
        .and_then(|r| r.get("content_type"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    (status, body, ct)
}

fn expression_of(rule: &Map<String, Value>) -> String {
    rule.get("expression")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .to_owned()
}

fn ttl(
    params: &Map<String, Value>,
    key: &str,
    warnings: &mut Vec<String>,
    id: &str,
) -> Option<DurationSecs> {
    let t = params.get(key)?;
    let mode = t
        .get("mode")
        .and_then(Value::as_str)
        .unwrap_or("override_origin");
    match mode {
        "override_origin" => t.get("default").and_then(Value::as_u64).map(DurationSecs),
        other => {
            warnings.push(format!("cache rule `{id}`: {key} mode `{other}` is not supported; the origin's headers apply"));
            None
        }
    }
}

/// Imports Cloudflare rulesets (custom rules, rate limiting and cache settings phases). With
/// `base`, its firewall, rate limiting and cache rules are replaced and everything else kept.
///
/// # Errors
/// When the JSON is not a rulesets export.
pub fn import(json: &Value, base: Option<PolicyFile>) -> Result<Import, InteropError> {
    let sets = rulesets_of(json)?;
    let mut warnings = Vec::new();
    let mut policy = base.unwrap_or_else(|| {
        let mut p = PolicyFile::default();
        p.policy.name = sets
            .first()
            .and_then(|s| s.get("name"))
            .and_then(Value::as_str)
            .map_or_else(|| "imported".to_owned(), str::to_owned);
        p
    });
    let mut fw_rules = Vec::new();
    let mut rl_rules = Vec::new();
    let mut cache_rules = Vec::new();
    let mut used = Vec::new();
    for set in sets {
        let phase = set.get("phase").and_then(Value::as_str).unwrap_or("");
        let rules = set
            .get("rules")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        if !matches!(phase, PHASE_FIREWALL | PHASE_RATE_LIMIT | PHASE_CACHE) {
            warnings.push(format!(
                "ruleset phase `{phase}` is not imported ({} rules skipped)",
                rules.len()
            ));
            continue;
        }
        for (i, r) in rules.iter().enumerate() {
            let Some(rule) = r.as_object() else {
                return Err(InteropError::Rule {
                    phase: phase.into(),
                    index: i,
                    rule: String::new(),
                    message: "not an object".into(),
                });
            };
            let id = rule_id(rule, phase, i, &mut used);
            let err = |m: String| InteropError::Rule {
                phase: phase.into(),
                index: i,
                rule: id.clone(),
                message: m,
            };
            let (description, tags) = parse_tags(rule.get("description").and_then(Value::as_str));
            let enabled = rule.get("enabled").and_then(Value::as_bool).unwrap_or(true);
            let action = rule.get("action").and_then(Value::as_str).unwrap_or("");
            let params = rule.get("action_parameters");
            let expression = expression_of(rule);
            match phase {
                PHASE_FIREWALL => {
                    let (status, body, content_type) = response(params);
                    let mut skip = None;
                    let action = match action {
                        "block" => FirewallAction::Block,
                        "challenge" => FirewallAction::Challenge,
                        "managed_challenge" => FirewallAction::ManagedChallenge,
                        "js_challenge" => FirewallAction::JsChallenge,
                        "log" => FirewallAction::Log,
                        "skip" => {
                            let mut s = SkipConfig::default();
                            let p = params.and_then(Value::as_object);
                            if p.and_then(|p| p.get("ruleset")).and_then(Value::as_str)
                                == Some("current")
                            {
                                s.remaining = true;
                            }
                            let phases = p.and_then(|p| p.get("phases")).and_then(Value::as_array);
                            for ph in phases.into_iter().flatten().filter_map(Value::as_str) {
                                match ph {
                                    PHASE_RATE_LIMIT => s.phases.push(SkippablePhase::RateLimiting),
                                    other => warnings.push(format!("rule `{id}`: skipping phase `{other}` has no edgeroute equivalent; ignored")),
                                }
                            }
                            if let Some(list) = tags.get("skip_rules") {
                                s.rules = list
                                    .split(',')
                                    .filter(|x| !x.is_empty())
                                    .map(str::to_owned)
                                    .collect();
                            }
                            if tags
                                .get("skip_phases")
                                .is_some_and(|v| v.split(',').any(|x| x == "cache"))
                            {
                                s.phases.push(SkippablePhase::Cache);
                            }
                            if p.and_then(|p| p.get("products")).is_some() {
                                warnings.push(format!("rule `{id}`: skipping products has no edgeroute equivalent; ignored"));
                            }
                            skip = Some(s);
                            FirewallAction::Skip
                        }
                        other => {
                            warnings.push(format!("custom rule `{id}`: action `{other}` is not supported; rule skipped"));
                            continue;
                        }
                    };
                    if expression.is_empty() {
                        return Err(err("no expression".into()));
                    }
                    let is_block = action == FirewallAction::Block;
                    fw_rules.push(FirewallRuleConfig {
                        id,
                        description,
                        expression,
                        action,
                        status: if is_block { status } else { None },
                        body: if is_block { body } else { None },
                        content_type: if is_block {
                            content_type.filter(|c| c != "text/plain")
                        } else {
                            None
                        },
                        skip,
                        enabled,
                    });
                }
                PHASE_RATE_LIMIT => {
                    let limit = rule
                        .get("ratelimit")
                        .and_then(Value::as_object)
                        .ok_or_else(|| err("no `ratelimit` object".into()))?;
                    let num = |k: &str| limit.get(k).and_then(Value::as_u64);
                    let period =
                        num("period").ok_or_else(|| err("no `ratelimit.period`".into()))?;
                    let rpp = num("requests_per_period")
                        .ok_or_else(|| err("no `ratelimit.requests_per_period`".into()))?;
                    let chars: Vec<String> = limit
                        .get("characteristics")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(Value::as_str)
                                .filter(|c| *c != "cf.colo.id")
                                .map(str::to_owned)
                                .collect()
                        })
                        .unwrap_or_default();
                    if limit.get("requests_to_origin").and_then(Value::as_bool) == Some(true) {
                        warnings.push(format!("rate limiting rule `{id}`: `requests_to_origin` is not modelled; all requests count"));
                    }
                    let (status, body, content_type) = response(params);
                    let action = match action {
                        "block" => RateLimitAction::Block,
                        "challenge" => RateLimitAction::Challenge,
                        "managed_challenge" => RateLimitAction::ManagedChallenge,
                        "js_challenge" => RateLimitAction::JsChallenge,
                        "log" => RateLimitAction::Log,
                        other => {
                            warnings.push(format!("rate limiting rule `{id}`: action `{other}` is not supported; rule skipped"));
                            continue;
                        }
                    };
                    let is_block = action == RateLimitAction::Block;
                    rl_rules.push(RateLimitRuleConfig {
                        id,
                        description,
                        expression: (!expression.is_empty()
                            && expression != "true"
                            && expression != MATCH_ALL)
                            .then_some(expression),
                        characteristics: if chars.is_empty() {
                            vec!["ip.src".to_owned()]
                        } else {
                            chars
                        },
                        period: DurationSecs(period),
                        requests_per_period: u32::try_from(rpp).unwrap_or(u32::MAX),
                        mitigation_timeout: DurationSecs(num("mitigation_timeout").unwrap_or(0)),
                        counting_expression: limit
                            .get("counting_expression")
                            .and_then(Value::as_str)
                            .filter(|c| !c.trim().is_empty())
                            .map(str::to_owned),
                        action,
                        status: if is_block {
                            status.filter(|s| *s != 429)
                        } else {
                            None
                        },
                        body: if is_block { body } else { None },
                        content_type: if is_block {
                            content_type.filter(|c| c != "text/plain")
                        } else {
                            None
                        },
                        enabled,
                    });
                }
                _ => {
                    if action != "set_cache_settings" {
                        warnings.push(format!(
                            "cache rule `{id}`: action `{action}` is not supported; rule skipped"
                        ));
                        continue;
                    }
                    let empty = Map::new();
                    let p = params.and_then(Value::as_object).unwrap_or(&empty);
                    let level = match (
                        p.get("cache").and_then(Value::as_bool),
                        tags.get("level").map(String::as_str),
                    ) {
                        (Some(false), _) => Some(CacheLevel::Bypass),
                        (Some(true), _) => Some(CacheLevel::Aggressive),
                        (None, Some("standard")) => Some(CacheLevel::Standard),
                        _ => None,
                    };
                    let edge_ttl = ttl(p, "edge_ttl", &mut warnings, &id);
                    let browser_ttl = ttl(p, "browser_ttl", &mut warnings, &id);
                    let cache_key = p
                        .get("cache_key")
                        .and_then(|k| k.get("custom_key"))
                        .map(|c| CacheKeyConfig {
                            ignore_query_string: c
                                .pointer("/query_string/exclude/all")
                                .and_then(Value::as_bool)
                                == Some(true),
                            headers: strings(c.pointer("/header/include")),
                            cookies: strings(c.pointer("/cookie/include")),
                            country: c.pointer("/user/geo").and_then(Value::as_bool) == Some(true),
                        });
                    let tier = tags.get("tier").and_then(|t| match t.as_str() {
                        "edge" => Some(CacheTier::Edge),
                        "regional" => Some(CacheTier::Regional),
                        "query" => Some(CacheTier::Query),
                        _ => None,
                    });
                    if expression.is_empty() {
                        return Err(err("no expression".into()));
                    }
                    cache_rules.push(CacheRuleConfig {
                        id,
                        description,
                        url: None,
                        expression: (expression != "true")
                            .then_some(expression)
                            .or_else(|| Some(MATCH_ALL.to_owned())),
                        level,
                        edge_ttl,
                        browser_ttl,
                        tier,
                        class: tags.get("class").cloned(),
                        cache_key,
                        enabled,
                    });
                }
            }
        }
    }
    // Content classes named by tags must exist in the policy imported into.
    for r in &mut cache_rules {
        if let Some(c) = &r.class
            && !policy.cache.classes.contains_key(c)
        {
            warnings.push(format!(
                "cache rule `{}`: content class `{c}` is not declared here; dropped",
                r.id
            ));
            r.class = None;
        }
    }
    policy.firewall.rules = fw_rules;
    policy.rate_limiting.rules = rl_rules;
    policy.cache.rules = cache_rules;
    // Environment switches naming rules that no longer exist would not load.
    for overlay in policy.environments.values_mut() {
        overlay.disable_rules.retain(|id| used.contains(id));
    }
    Ok(Import { policy, warnings })
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Renders a policy file as TOML.
///
/// # Errors
/// When serialisation fails (it does not for policies built by [`import`]).
pub fn to_toml(policy: &PolicyFile) -> Result<String, String> {
    toml::to_string_pretty(policy).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip() {
        let d = tagged(
            Some("Session reads"),
            &[
                ("class".into(), "sessions".into()),
                ("tier".into(), "regional".into()),
            ],
        );
        assert_eq!(
            d.as_deref(),
            Some("Session reads [edgeroute class=sessions tier=regional]")
        );
        let (base, tags) = parse_tags(d.as_deref());
        assert_eq!(base.as_deref(), Some("Session reads"));
        assert_eq!(tags.get("class").map(String::as_str), Some("sessions"));
        assert_eq!(parse_tags(Some("plain")).0.as_deref(), Some("plain"));
    }

    #[test]
    fn accepts_the_api_response_shapes() {
        let one = json!({"phase": PHASE_FIREWALL, "rules": []});
        assert_eq!(rulesets_of(&one).unwrap().len(), 1);
        assert_eq!(
            rulesets_of(&json!({"result": one.clone()})).unwrap().len(),
            1
        );
        assert_eq!(
            rulesets_of(&json!({"result": [one.clone(), one.clone()]}))
                .unwrap()
                .len(),
            2
        );
        assert!(rulesets_of(&json!(5)).is_err());
        assert!(rulesets_of(&json!({"x": 1})).is_err());
    }

    #[test]
    fn imports_a_cloudflare_custom_rule_and_rate_limit() {
        let v = json!([
            {"phase": PHASE_FIREWALL, "rules": [
                {"id": "abc123", "expression": "(cf.threat_score gt 50)", "action": "managed_challenge", "description": "threats"},
                {"ref": "ban", "expression": "ip.src eq 1.2.3.4", "action": "block",
                 "action_parameters": {"response": {"status_code": 451, "content": "no", "content_type": "text/plain"}}},
                {"expression": "true", "action": "execute", "action_parameters": {"id": "managed"}}
            ]},
            {"phase": PHASE_RATE_LIMIT, "rules": [
                {"ref": "login", "expression": "http.request.uri.path eq \"/login\"", "action": "block",
                 "ratelimit": {"characteristics": ["cf.colo.id", "ip.src"], "period": 60, "requests_per_period": 5, "mitigation_timeout": 600}}
            ]},
            {"phase": "http_request_transform", "rules": [{"expression": "true", "action": "rewrite"}]}
        ]);
        let imp = import(&v, None).unwrap();
        assert_eq!(imp.policy.firewall.rules.len(), 2);
        assert_eq!(imp.policy.firewall.rules[0].id, "abc123");
        assert_eq!(imp.policy.firewall.rules[1].status, Some(451));
        assert_eq!(
            imp.policy.rate_limiting.rules[0].characteristics,
            vec!["ip.src"]
        );
        assert_eq!(imp.policy.rate_limiting.rules[0].mitigation_timeout.0, 600);
        assert_eq!(imp.warnings.len(), 2, "{:?}", imp.warnings);
        let text = to_toml(&imp.policy).unwrap();
        let (p, _) = Policy::from_toml_str(&text, "imported.toml", None).unwrap();
        assert_eq!(p.rules().len(), 3);
    }

    #[test]
    fn url_patterns_become_equivalent_expressions() {
        let (p, _) = Policy::from_toml_str(
            "[policy]\nname = \"x\"\n[services.api]\nhosts = [\"api.example.com\"]\n",
            "x.toml",
            None,
        )
        .unwrap();
        assert_eq!(
            url_expression("api.example.com/static/*", &p).unwrap(),
            "(http.host wildcard \"api.example.com\" and http.request.uri strict wildcard \"/static/*\")"
        );
        assert_eq!(
            url_expression("https://*.example.com/*", &p).unwrap(),
            "(ssl and http.host wildcard \"*.example.com\" and http.request.uri strict wildcard \"/*\")"
        );
        assert_eq!(
            url_expression("*/*", &p).unwrap(),
            "(http.request.uri strict wildcard \"/*\")"
        );
    }
}
