//! Policy file -> compiled [`Policy`]: validation with key-path diagnostics, then assembly.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use edgeroute_rules::{Expr, List, ParseErrors, Scheme};
use ipnet::IpNet;

use crate::analysis::{self, Conjunct, Lit};
use crate::config::{
    CacheLevel, FirewallAction, PolicyFile, RateLimitAction, ServiceConfig, SkippablePhase,
};
use crate::diag::{Diagnostic, KeyPath, PolicyErrors, Severity, Sink};
use crate::fields::FieldMap;
use crate::identity::TrustedProxies;
use crate::pattern::UrlPattern;
use crate::policy::{
    CacheRule, CacheSet, Challenge, Characteristic, ContentClass, FastMap, FirewallIndex, FwAction,
    FwRule, HeaderEdit, IdentityRules, Phase, Policy, RateRule, RlAction, RuleInfo, Service,
    TransformRule, Transforms,
};
use crate::transform::{Cors, Template, valid_header_name};

/// Most firewall rules in one policy.
pub const MAX_FIREWALL_RULES: usize = 10_000;
/// Most rate limiting rules.
pub const MAX_RATE_LIMIT_RULES: usize = 1_000;
/// Most cache rules.
pub const MAX_CACHE_RULES: usize = 1_000;
/// Most transform rules (they are tracked in a 64-bit mask).
pub const MAX_TRANSFORM_RULES: usize = 64;
/// Most distinct `rate(..)` periods across a policy's expressions.
pub const MAX_RATE_PERIODS: usize = 4;
/// Longest TTL accepted (one year, Cloudflare's maximum edge TTL).
pub const MAX_TTL_S: u64 = 31_536_000;
/// Largest rate-limit key budget (2^26 keys, 1.5 GiB of counters).
pub const MAX_KEY_BUDGET: u64 = 1 << 26;
/// Firewall rule count from which the literal index is used.
const INDEX_THRESHOLD: usize = 16;

/// The id `rate(<period>)` counters are keyed by (no rule id can contain a NUL).
const RATE_KEY_ID: &str = "\0rate()";

pub(crate) fn compile(
    text: &str,
    origin: &str,
    env: Option<&str>,
) -> Result<(Policy, Vec<Diagnostic>), PolicyErrors> {
    let mut sink = Sink::new(text, origin);
    let file: PolicyFile = match toml::from_str(text) {
        Ok(f) => f,
        Err(e) => {
            sink.push_span(e.message().trim().to_owned(), e.span());
            return Err(finish_err(sink));
        }
    };
    let mut cx = Cx {
        sink,
        scheme: Scheme::cloudflare(),
        ids: BTreeMap::new(),
        rules: Vec::new(),
        rate_periods: Vec::new(),
        list_refs: BTreeSet::new(),
        scheme_lists: Vec::new(),
    };
    let policy = cx.build(&file, env);
    if cx.sink.has_errors() {
        return Err(finish_err(cx.sink));
    }
    match policy {
        Some(p) => Ok((p, cx.sink.finish())),
        None => {
            cx.sink
                .error(&KeyPath::root(), "the policy could not be compiled");
            Err(finish_err(cx.sink))
        }
    }
}

fn finish_err(sink: Sink<'_>) -> PolicyErrors {
    let items = sink.finish();
    match PolicyErrors::new(items) {
        Some(e) => e,
        None => PolicyErrors::one(Diagnostic::new(
            Severity::Error,
            "the policy could not be compiled",
            "",
        )),
    }
}

struct Cx<'a> {
    sink: Sink<'a>,
    scheme: Scheme,
    /// Rule id -> (global index, key path of its `id`).
    ids: BTreeMap<String, (u16, KeyPath)>,
    rules: Vec<RuleInfo>,
    rate_periods: Vec<(u32, KeyPath)>,
    list_refs: BTreeSet<String>,
    scheme_lists: Vec<String>,
}

fn root() -> KeyPath {
    KeyPath::root()
}

fn lower_bytes(s: &str) -> Box<[u8]> {
    s.to_ascii_lowercase().into_bytes().into_boxed_slice()
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        })
}

fn to_u32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

impl Cx<'_> {
    fn build(&mut self, file: &PolicyFile, env: Option<&str>) -> Option<Policy> {
        // ---- environment ----
        let default_env = file
            .policy
            .default_environment
            .clone()
            .unwrap_or_else(|| "production".to_owned());
        let env_name = env.map_or_else(|| default_env.clone(), str::to_owned);
        let overlay = file.environments.get(&env_name);
        if overlay.is_none() && env_name != default_env {
            let known: Vec<String> = std::iter::once(default_env.clone())
                .chain(file.environments.keys().cloned())
                .map(|e| format!("`{e}`"))
                .collect();
            self.sink.error_help(
                &root().key("environments"),
                format!("unknown environment `{env_name}`"),
                format!("known environments: {}", known.join(", ")),
            );
        }
        if file.policy.name.trim().is_empty() {
            self.sink.error(
                &root().key("policy").key("name"),
                "the policy name is empty",
            );
        }
        let env_path = root().key("environments").key(&env_name);

        // ---- lists (before any expression) ----
        self.lists(file);

        // ---- identity ----
        let identity = self.identity(file);

        // ---- services ----
        let (services, hosts, retarget) = self.services(
            file,
            overlay.map(|o| (&o.services, env_path.key("services"))),
        );
        let host_list: Box<[(Box<[u8]>, u16)]> = {
            let mut l: Vec<(Box<[u8]>, u16)> = hosts.iter().map(|(h, &i)| (h.clone(), i)).collect();
            l.sort();
            l.into()
        };
        let host_ids: FastMap<Box<[u8]>, u16> = host_list
            .iter()
            .enumerate()
            .map(|(i, (h, _))| (h.clone(), u16::try_from(i).unwrap_or(u16::MAX)))
            .collect();

        // ---- rule ids (all phases share one namespace) ----
        let fw = &file.firewall.rules;
        let rl = &file.rate_limiting.rules;
        let cache = &file.cache.rules;
        let tr = &file.transforms.rules;
        if fw.len() > MAX_FIREWALL_RULES {
            self.sink.error(
                &root().key("firewall").key("rules"),
                format!(
                    "{} firewall rules; at most {MAX_FIREWALL_RULES} are supported",
                    fw.len()
                ),
            );
        }
        if rl.len() > MAX_RATE_LIMIT_RULES {
            self.sink.error(
                &root().key("rate_limiting").key("rules"),
                format!(
                    "{} rate limiting rules; at most {MAX_RATE_LIMIT_RULES} are supported",
                    rl.len()
                ),
            );
        }
        if cache.len() > MAX_CACHE_RULES {
            self.sink.error(
                &root().key("cache").key("rules"),
                format!(
                    "{} cache rules; at most {MAX_CACHE_RULES} are supported",
                    cache.len()
                ),
            );
        }
        if tr.len() > MAX_TRANSFORM_RULES {
            self.sink.error(
                &root().key("transforms").key("rules"),
                format!(
                    "{} transform rules; at most {MAX_TRANSFORM_RULES} are supported",
                    tr.len()
                ),
            );
        }
        let fw_base = root().key("firewall").key("rules");
        let rl_base = root().key("rate_limiting").key("rules");
        let cache_base = root().key("cache").key("rules");
        let tr_base = root().key("transforms").key("rules");
        let fw_ids: Vec<u16> = fw
            .iter()
            .take(MAX_FIREWALL_RULES)
            .enumerate()
            .map(|(i, r)| {
                self.register(
                    &r.id,
                    Phase::Firewall,
                    r.description.as_deref(),
                    &fw_base.index(i),
                )
            })
            .collect();
        let rl_ids: Vec<u16> = rl
            .iter()
            .take(MAX_RATE_LIMIT_RULES)
            .enumerate()
            .map(|(i, r)| {
                self.register(
                    &r.id,
                    Phase::RateLimiting,
                    r.description.as_deref(),
                    &rl_base.index(i),
                )
            })
            .collect();
        let cache_ids: Vec<u16> = cache
            .iter()
            .take(MAX_CACHE_RULES)
            .enumerate()
            .map(|(i, r)| {
                self.register(
                    &r.id,
                    Phase::Cache,
                    r.description.as_deref(),
                    &cache_base.index(i),
                )
            })
            .collect();
        let tr_ids: Vec<u16> = tr
            .iter()
            .take(MAX_TRANSFORM_RULES)
            .enumerate()
            .map(|(i, r)| {
                self.register(
                    &r.id,
                    Phase::Transforms,
                    r.description.as_deref(),
                    &tr_base.index(i),
                )
            })
            .collect();

        // ---- disabled rules in this environment ----
        let mut disabled: BTreeSet<String> = BTreeSet::new();
        if let Some(o) = overlay {
            for (i, id) in o.disable_rules.iter().enumerate() {
                if self.ids.contains_key(id) {
                    disabled.insert(id.clone());
                } else {
                    self.sink.error(
                        &env_path.key("disable_rules").index(i),
                        format!("`disable_rules` names no rule `{id}`"),
                    );
                }
            }
        }

        let mut bodies: Vec<(Box<str>, Box<str>)> = Vec::new();

        // ---- firewall ----
        let mut firewall = Vec::new();
        let mut conj: Vec<Option<Vec<Conjunct>>> = Vec::new();
        for (i, (r, &gid)) in fw.iter().zip(&fw_ids).enumerate() {
            let path = fw_base.index(i);
            let expr = self.expression(&r.expression, &path.key("expression"));
            conj.push(
                expr.as_ref()
                    .and_then(|e| analysis::conjuncts(&e.to_string())),
            );
            let action = match r.action {
                FirewallAction::Block => {
                    let status = self.status(r.status, 403, &path.key("status"));
                    let body = self.body(&mut bodies, r.body.as_deref(), r.content_type.as_deref());
                    FwAction::Block { status, body }
                }
                FirewallAction::Challenge => FwAction::Challenge(Challenge::Interactive),
                FirewallAction::ManagedChallenge => FwAction::Challenge(Challenge::Managed),
                FirewallAction::JsChallenge => FwAction::Challenge(Challenge::Js),
                FirewallAction::Log => FwAction::Log,
                FirewallAction::Skip => self.skip(r.skip.as_ref(), i, fw, &path),
            };
            if r.action != FirewallAction::Block {
                for (key, set) in [
                    ("status", r.status.is_some()),
                    ("body", r.body.is_some()),
                    ("content_type", r.content_type.is_some()),
                ] {
                    if set {
                        self.sink.error(
                            &path.key(key),
                            format!("`{key}` applies only to action `block`"),
                        );
                    }
                }
            }
            if r.action != FirewallAction::Skip && r.skip.is_some() {
                self.sink
                    .error(&path.key("skip"), "`skip` applies only to action `skip`");
            }
            if let Some(e) = expr {
                firewall.push(FwRule {
                    rule: gid,
                    filter: e.compile(),
                    action,
                    enabled: r.enabled && !disabled.contains(&r.id),
                });
            }
        }
        self.firewall_warnings(fw, &conj, &fw_base);

        // ---- rate limiting ----
        let mut rate_rules = Vec::new();
        for (i, (r, &gid)) in rl.iter().zip(&rl_ids).enumerate() {
            let path = rl_base.index(i);
            let filter = r.expression.as_ref().and_then(|e| {
                self.expression(e, &path.key("expression"))
                    .map(|x| x.compile())
            });
            let counting = r.counting_expression.as_ref().and_then(|e| {
                self.expression(e, &path.key("counting_expression"))
                    .map(|x| x.compile())
            });
            if r.expression.is_some() && filter.is_none()
                || r.counting_expression.is_some() && counting.is_none()
            {
                continue;
            }
            let mut chars = Vec::new();
            if r.characteristics.is_empty() {
                self.sink.error(
                    &path.key("characteristics"),
                    "`characteristics` is empty; use `[\"ip.src\"]` to count per client",
                );
            }
            if r.characteristics.len() > 8 {
                self.sink.error(
                    &path.key("characteristics"),
                    "at most 8 characteristics are supported",
                );
            }
            for (j, c) in r.characteristics.iter().enumerate() {
                if let Some(ch) = self.characteristic(c, &path.key("characteristics").index(j)) {
                    chars.push(ch);
                }
            }
            let period = r.period.0;
            if period == 0 || period > 86_400 {
                self.sink.error(
                    &path.key("period"),
                    format!("period `{}` is out of range: 1 s to 1 day", r.period),
                );
            } else if ![10, 60, 120, 300, 600, 3600].contains(&period) {
                self.sink.warning(&path.key("period"), format!("Cloudflare accepts periods of 10s, 1m, 2m, 5m, 10m and 1h; `{}` will not export", r.period));
            }
            if r.requests_per_period == 0 {
                self.sink.error(
                    &path.key("requests_per_period"),
                    "`requests_per_period` must be at least 1",
                );
            }
            if r.mitigation_timeout.0 > 86_400 {
                self.sink.error(
                    &path.key("mitigation_timeout"),
                    format!(
                        "mitigation timeout `{}` is longer than one day",
                        r.mitigation_timeout
                    ),
                );
            }
            let action = match r.action {
                RateLimitAction::Block => RlAction::Block {
                    status: self.status(r.status, 429, &path.key("status")),
                    body: self.body(&mut bodies, r.body.as_deref(), r.content_type.as_deref()),
                },
                RateLimitAction::Challenge => RlAction::Challenge(Challenge::Interactive),
                RateLimitAction::ManagedChallenge => RlAction::Challenge(Challenge::Managed),
                RateLimitAction::JsChallenge => RlAction::Challenge(Challenge::Js),
                RateLimitAction::Log => RlAction::Log,
            };
            if r.action != RateLimitAction::Block {
                for (key, set) in [("status", r.status.is_some()), ("body", r.body.is_some())] {
                    if set {
                        self.sink.error(
                            &path.key(key),
                            format!("`{key}` applies only to action `block`"),
                        );
                    }
                }
            }
            let period = to_u32(period.clamp(1, 86_400));
            rate_rules.push(RateRule {
                rule: gid,
                key: crate::ratelimit::CounterKey::builder(&r.id, period),
                filter,
                counting,
                characteristics: chars.into(),
                period,
                limit: r.requests_per_period.max(1),
                timeout: to_u32(r.mitigation_timeout.0.min(86_400)),
                action,
                enabled: r.enabled && !disabled.contains(&r.id),
            });
        }

        // ---- cache ----
        let mut classes = Vec::new();
        let mut class_ids: BTreeMap<&str, u16> = BTreeMap::new();
        for (name, c) in &file.cache.classes {
            let path = root().key("cache").key("classes").key(name);
            if !valid_id(name) {
                self.sink
                    .error(&path, format!("invalid class name `{name}`"));
            }
            if c.ttl.0 == 0 || c.ttl.0 > MAX_TTL_S {
                self.sink.error(
                    &path.key("ttl"),
                    format!("ttl `{}` is impossible: use 1 s to 1 year", c.ttl),
                );
            }
            class_ids.insert(name, u16::try_from(classes.len()).unwrap_or(u16::MAX));
            classes.push(ContentClass {
                name: name.as_str().into(),
                tier: c.tier,
                ttl_s: to_u32(c.ttl.0.min(MAX_TTL_S)),
            });
        }
        let mut cache_keys = Vec::new();
        let mut cache_rules = Vec::new();
        for (i, (r, &gid)) in cache.iter().zip(&cache_ids).enumerate() {
            let path = cache_base.index(i);
            if r.url.is_none() && r.expression.is_none() {
                self.sink.error(
                    &path,
                    format!("cache rule `{}` has neither `url` nor `expression`", r.id),
                );
            }
            let url = match &r.url {
                Some(u) => match UrlPattern::parse(u) {
                    Ok(mut p) => {
                        if let Some(h) = p
                            .literal_host()
                            .map(|h| String::from_utf8_lossy(h).into_owned())
                        {
                            if let Some(env_hosts) = retarget.get(&h) {
                                p.retarget(env_hosts);
                            } else if !hosts.contains_key(h.as_bytes()) && !services.is_empty() {
                                self.sink.warning(
                                    &path.key("url"),
                                    format!(
                                        "host `{h}` of url pattern `{u}` belongs to no service"
                                    ),
                                );
                            }
                        }
                        p.resolve_host_ids(|h| host_ids.get(h).copied());
                        Some(p)
                    }
                    Err(m) => {
                        self.sink.error(&path.key("url"), m);
                        None
                    }
                },
                None => None,
            };
            let filter = r.expression.as_ref().and_then(|e| {
                self.expression(e, &path.key("expression"))
                    .map(|x| x.compile())
            });
            for (key, ttl) in [("edge_ttl", r.edge_ttl), ("browser_ttl", r.browser_ttl)] {
                if let Some(t) = ttl
                    && t.0 > MAX_TTL_S
                {
                    self.sink.error(
                        &path.key(key),
                        format!("{key} `{t}` is impossible: at most one year"),
                    );
                }
            }
            if r.level == Some(CacheLevel::Bypass) && r.edge_ttl.is_some() {
                self.sink.warning(
                    &path.key("edge_ttl"),
                    "`edge_ttl` has no effect with level `bypass`",
                );
            }
            let class = match &r.class {
                Some(c) => match class_ids.get(c.as_str()) {
                    Some(&id) => Some(id),
                    None => {
                        self.sink.error_help(
                            &path.key("class"),
                            format!("unknown content class `{c}`"),
                            "declare it under [cache.classes]",
                        );
                        None
                    }
                },
                None => None,
            };
            let key = r.cache_key.as_ref().map(|k| {
                for (j, h) in k.headers.iter().enumerate() {
                    if !valid_header_name(h) {
                        self.sink.error(
                            &path.key("cache_key").key("headers").index(j),
                            format!("invalid header name `{h}`"),
                        );
                    }
                }
                cache_keys.push(k.clone());
                u16::try_from(cache_keys.len() - 1).unwrap_or(u16::MAX)
            });
            if (r.url.is_some() && url.is_none()) || (r.expression.is_some() && filter.is_none()) {
                continue;
            }
            cache_rules.push(CacheRule {
                rule: gid,
                url,
                filter,
                set: CacheSet {
                    level: r.level,
                    edge_ttl: r.edge_ttl.map(|t| to_u32(t.0.min(MAX_TTL_S))),
                    browser_ttl: r.browser_ttl.map(|t| to_u32(t.0.min(MAX_TTL_S))),
                    tier: r.tier,
                    class,
                    key,
                },
                enabled: r.enabled && !disabled.contains(&r.id),
            });
        }

        // ---- transforms ----
        let transforms = self.transforms(
            file,
            &tr_ids,
            &disabled,
            &services,
            overlay.and_then(|o| o.cors_allow_origins.as_ref()),
            &env_path,
        );

        // ---- regions and routing ----
        let mut default_region = overlay
            .and_then(|o| o.default_region.clone())
            .or_else(|| file.policy.default_region.clone());
        if let Some(r) = &default_region
            && edgeroute_geo::aws_region(r).is_none()
        {
            let path = if overlay.and_then(|o| o.default_region.as_ref()).is_some() {
                env_path.key("default_region")
            } else {
                root().key("policy").key("default_region")
            };
            self.sink.error_help(
                &path,
                format!("unknown region `{r}`"),
                "regions are AWS region codes such as `us-east-1`",
            );
        }
        let (routing, route_service) = self.routing(file, &services);
        if let Some(rt) = &routing {
            let rd = rt.region_name(rt.default_region()).map(str::to_owned);
            if let (Some(pd), Some(rd)) = (&default_region, &rd)
                && pd != rd
            {
                self.sink.warning(
                    &root().key("policy").key("default_region"),
                    format!(
                        "default region `{pd}` differs from the routing default `{rd}`, which wins"
                    ),
                );
            }
            if rd.is_some() {
                default_region = rd;
            }
        }

        // ---- unused lists ----
        for name in file.lists.keys() {
            if !self.list_refs.contains(name) {
                self.sink.warning(
                    &root().key("lists").key(name),
                    format!("list `{name}` is never used"),
                );
            }
        }

        if self.rate_periods.len() > MAX_RATE_PERIODS
            && let Some((_, p)) = self.rate_periods.get(MAX_RATE_PERIODS)
        {
            let p = p.clone();
            self.sink.error(
                &p,
                format!("more than {MAX_RATE_PERIODS} distinct `rate(..)` periods in one policy"),
            );
        }

        if let Some(b) = file.rate_limiting.key_budget
            && !(1..=MAX_KEY_BUDGET).contains(&b)
        {
            self.sink.error(
                &root().key("rate_limiting").key("key_budget"),
                format!("key budget `{b}` is out of range: 1 to {MAX_KEY_BUDGET}"),
            );
        }
        let fields = FieldMap::new(&self.scheme);
        let fw_index = build_index(&firewall, &conj, &fields);
        if self.sink.has_errors() {
            return None;
        }
        let cache_by_host = (0..=host_list.len())
            .map(|h| {
                let host_id = u16::try_from(h).ok().filter(|_| h < host_list.len());
                cache_rules
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.url.as_ref().is_none_or(|u| u.may_match_host(host_id)))
                    .filter_map(|(i, _)| u16::try_from(i).ok())
                    .collect()
            })
            .collect();
        Some(Policy {
            name: file.policy.name.as_str().into(),
            origin: self.sink_origin(),
            environment: env_name.into(),
            scheme: self.scheme.clone(),
            fields,
            identity,
            services: services.into(),
            host_list,
            hosts: host_ids,
            rules: std::mem::take(&mut self.rules).into(),
            firewall: firewall.into(),
            fw_index,
            rate_periods: self
                .rate_periods
                .iter()
                .map(|(p, _)| (*p, crate::ratelimit::CounterKey::builder(RATE_KEY_ID, *p)))
                .collect(),
            rate_rules: rate_rules.into(),
            cache_rules: cache_rules.into(),
            cache_by_host,
            classes: classes.into(),
            cache_keys: cache_keys.into(),
            transforms,
            bodies: bodies.into(),
            default_region: default_region.map(Into::into),
            key_budget: file
                .rate_limiting
                .key_budget
                .unwrap_or(crate::ratelimit::MemoryCounterStore::DEFAULT_KEY_BUDGET),
            routing,
            route_service,
            health_binding: None,
            config: file.clone(),
        })
    }

    fn sink_origin(&self) -> Box<str> {
        self.sink.origin().into()
    }

    fn register(
        &mut self,
        id: &str,
        phase: Phase,
        description: Option<&str>,
        path: &KeyPath,
    ) -> u16 {
        let id_path = path.key("id");
        if !valid_id(id) {
            self.sink.error_help(
                &id_path,
                format!("invalid rule id `{id}`"),
                "ids are 1 to 64 letters, digits, `-`, `_` or `.`",
            );
        }
        if let Some((_, first)) = self.ids.get(id) {
            let first = first.clone();
            self.sink.error_help(
                &id_path,
                format!("duplicate rule id `{id}`"),
                format!("first used at `{first}`"),
            );
        }
        let gid = u16::try_from(self.rules.len()).unwrap_or(u16::MAX);
        self.ids.entry(id.to_owned()).or_insert((gid, id_path));
        self.rules.push(RuleInfo {
            id: id.into(),
            phase,
            description: description.map(Into::into),
        });
        gid
    }

    /// Parses an expression, reporting its errors at their place in the file.
    fn expression(&mut self, text: &str, path: &KeyPath) -> Option<Expr> {
        match self.scheme.parse(text) {
            Ok(e) => {
                for p in e.rate_periods() {
                    if !self.rate_periods.iter().any(|(q, _)| *q == p) {
                        self.rate_periods.push((p, path.clone()));
                    }
                }
                let canon = e.to_string();
                for name in self.list_names() {
                    if canon.contains(&format!("${name}")) {
                        self.list_refs.insert(name);
                    }
                }
                Some(e)
            }
            Err(errors) => {
                self.parse_errors(&errors, text, path);
                None
            }
        }
    }

    fn list_names(&self) -> Vec<String> {
        if self.list_refs.len() == self.scheme_lists.len() {
            return Vec::new();
        }
        self.scheme_lists.clone()
    }

    fn parse_errors(&mut self, errors: &ParseErrors, text: &str, path: &KeyPath) {
        let start = self.sink.string_content_start(path);
        let source_len = self.sink.source().len();
        for e in errors.iter() {
            let span = e.span();
            let range = match start {
                Some(s) if s + span.end <= source_len => {
                    (s + span.start)..(s + span.end.max(span.start + 1))
                }
                _ => self.sink.span_of(path).unwrap_or(0..0),
            };
            let _ = text;
            self.sink.push_at(
                Severity::Error,
                path,
                range,
                format!("invalid expression: {}", e.message()),
                e.help(),
            );
        }
    }

    fn status(&mut self, status: Option<u16>, default: u16, path: &KeyPath) -> u16 {
        match status {
            Some(s) if (400..=599).contains(&s) => s,
            Some(s) => {
                self.sink.error(
                    path,
                    format!("status `{s}` is not an error status (400 to 599)"),
                );
                default
            }
            None => default,
        }
    }

    fn body(
        &mut self,
        bodies: &mut Vec<(Box<str>, Box<str>)>,
        body: Option<&str>,
        content_type: Option<&str>,
    ) -> Option<u16> {
        let body = body?;
        bodies.push((body.into(), content_type.unwrap_or("text/plain").into()));
        u16::try_from(bodies.len() - 1).ok()
    }
}

type ServicesOut = (
    Vec<Service>,
    FastMap<Box<[u8]>, u16>,
    BTreeMap<String, Vec<String>>,
);

impl Cx<'_> {
    fn lists(&mut self, file: &PolicyFile) {
        for (name, l) in &file.lists {
            let path = root().key("lists").key(name);
            if !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                || name.is_empty()
            {
                self.sink.error_help(
                    &path,
                    format!("invalid list name `{name}`"),
                    "list names are lowercase letters, digits and `_`",
                );
                continue;
            }
            let list = match (&l.ips, &l.strings) {
                (Some(ips), None) => {
                    let mut nets = Vec::new();
                    for (i, item) in ips.iter().enumerate() {
                        match parse_ip_item(item) {
                            Ok(mut n) => nets.append(&mut n),
                            Err(m) => self.sink.error(&path.key("ips").index(i), m),
                        }
                    }
                    List::Ip(nets)
                }
                (None, Some(strings)) => {
                    List::Bytes(strings.iter().map(|s| s.as_bytes().to_vec()).collect())
                }
                _ => {
                    self.sink.error(
                        &path,
                        format!("list `{name}` needs exactly one of `ips` or `strings`"),
                    );
                    continue;
                }
            };
            if let Err(e) = self.scheme.add_list(name, list) {
                self.sink.error(&path, e.to_string());
            } else {
                self.scheme_lists.push(name.clone());
            }
        }
    }

    fn identity(&mut self, file: &PolicyFile) -> IdentityRules {
        let id = &file.identity;
        let path = root().key("identity");
        let mut trusted = TrustedProxies::none();
        for (i, item) in id.trusted_proxies.iter().enumerate() {
            if item == "cloudflare" {
                trusted = trusted.union(&TrustedProxies::cloudflare());
                continue;
            }
            match parse_ip_item(item) {
                Ok(nets) => trusted = trusted.union(&TrustedProxies::from_nets(nets)),
                Err(m) => self.sink.error_help(
                    &path.key("trusted_proxies").index(i),
                    m,
                    "use `cloudflare`, a CIDR such as `10.0.0.0/8`, or an address",
                ),
            }
        }
        let mut header = |key: &str, value: &str| -> Box<[u8]> {
            if !value.is_empty() && !valid_header_name(value) {
                self.sink
                    .error(&path.key(key), format!("invalid header name `{value}`"));
            }
            lower_bytes(value)
        };
        let client_ip_header = header("client_ip_header", &id.client_ip_header);
        let forwarded_for_header = header("forwarded_for_header", &id.forwarded_for_header);
        let country_header = header("country_header", &id.country_header);
        let subdivision_header = header("subdivision_header", &id.subdivision_header);
        let trace_header = header("trace_header", &id.trace_header);
        if id.forwarded_max_hops == 0 || id.forwarded_max_hops > 64 {
            self.sink.error(
                &path.key("forwarded_max_hops"),
                format!(
                    "`forwarded_max_hops` is {}; use 1 to 64",
                    id.forwarded_max_hops
                ),
            );
        }
        let names = [
            &client_ip_header,
            &forwarded_for_header,
            &country_header,
            &subdivision_header,
            &trace_header,
        ];
        let mut by_len = [0u8; 64];
        for (bit, name) in names.into_iter().enumerate() {
            if !name.is_empty()
                && let Some(slot) = by_len.get_mut(name.len())
            {
                *slot |= 1 << bit;
            } else if name.len() >= 64 {
                self.sink.error(
                    &path,
                    format!(
                        "header name `{}` is longer than 63 bytes",
                        String::from_utf8_lossy(name)
                    ),
                );
            }
        }
        let keys = names.map(|name| crate::ascii::name_key(name));
        IdentityRules {
            by_len,
            keys,
            trusted,
            client_ip_header,
            forwarded_for_header,
            max_hops: id.forwarded_max_hops.clamp(1, 64),
            country_header,
            subdivision_header,
            trace_header,
        }
    }

    fn services(
        &mut self,
        file: &PolicyFile,
        overlay: Option<(&BTreeMap<String, crate::config::ServiceOverlay>, KeyPath)>,
    ) -> ServicesOut {
        let mut services = Vec::new();
        let mut hosts: FastMap<Box<[u8]>, u16> = FastMap::default();
        let mut retarget: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut host_owner: BTreeMap<String, String> = BTreeMap::new();
        if let Some((ov, path)) = &overlay {
            for name in ov.keys() {
                if !file.services.contains_key(name) {
                    self.sink.error(
                        &path.key(name),
                        format!("environment overrides unknown service `{name}`"),
                    );
                }
            }
        }
        for (name, base) in &file.services {
            let path = root().key("services").key(name);
            if !valid_id(name) {
                self.sink
                    .error(&path, format!("invalid service name `{name}`"));
            }
            let ov = overlay
                .as_ref()
                .and_then(|(o, p)| o.get(name).map(|s| (s, p.key(name))));
            let mut svc: ServiceConfig = base.clone();
            let mut hosts_path = path.key("hosts");
            if let Some((o, opath)) = &ov {
                if let Some(h) = &o.hosts {
                    for b in &base.hosts {
                        retarget.insert(b.to_ascii_lowercase(), h.clone());
                    }
                    svc.hosts = h.clone();
                    hosts_path = opath.key("hosts");
                }
                if let Some(p) = o.proxied {
                    svc.proxied = p;
                }
                if let Some(w) = o.websocket {
                    svc.websocket = w;
                }
            }
            if svc.hosts.is_empty() {
                self.sink
                    .error(&hosts_path, format!("service `{name}` has no hosts"));
            }
            let index = u16::try_from(services.len()).unwrap_or(u16::MAX);
            for (i, h) in svc.hosts.iter().enumerate() {
                let lower = h.to_ascii_lowercase();
                if !valid_host(&lower) {
                    self.sink
                        .error(&hosts_path.index(i), format!("invalid host name `{h}`"));
                    continue;
                }
                if let Some(other) = host_owner.get(&lower) {
                    self.sink.error(
                        &hosts_path.index(i),
                        format!("host `{h}` already belongs to service `{other}`"),
                    );
                    continue;
                }
                host_owner.insert(lower.clone(), name.clone());
                hosts.insert(lower.into_bytes().into(), index);
            }
            services.push(Service {
                name: name.as_str().into(),
                hosts: svc
                    .hosts
                    .iter()
                    .map(|h| h.to_ascii_lowercase().into())
                    .collect(),
                proxied: svc.proxied,
                websocket: svc.websocket,
            });
        }
        (services, hosts, retarget)
    }

    fn skip(
        &mut self,
        skip: Option<&crate::config::SkipConfig>,
        me: usize,
        fw: &[crate::config::FirewallRuleConfig],
        path: &KeyPath,
    ) -> FwAction {
        let Some(skip) = skip else {
            self.sink.error_help(path, "action `skip` needs a `skip` table", "for example `skip = { rules = [\"some-rule\"] }` or `skip = { phases = [\"rate_limiting\"] }`");
            return FwAction::Log;
        };
        if skip.rules.is_empty() && !skip.remaining && skip.phases.is_empty() {
            self.sink
                .error(&path.key("skip"), "`skip` names nothing to skip");
        }
        let mut targets = Vec::new();
        for (j, id) in skip.rules.iter().enumerate() {
            let p = path.key("skip").key("rules").index(j);
            match fw.iter().position(|r| &r.id == id) {
                Some(t) if t > me => targets.push(u32::try_from(t).unwrap_or(u32::MAX)),
                Some(_) => self.sink.error(
                    &p,
                    format!("rule `{id}` comes before this skip rule, so it cannot be skipped"),
                ),
                None => {
                    if self.ids.contains_key(id) {
                        self.sink.error(&p, format!("`{id}` is not a firewall rule; skip rate limiting or cache rules with `phases`"));
                    } else {
                        self.sink.error(&p, format!("skip names no rule `{id}`"));
                    }
                }
            }
        }
        targets.sort_unstable();
        targets.dedup();
        FwAction::Skip {
            rules: targets.into(),
            rest: skip.remaining || skip.phases.contains(&SkippablePhase::Firewall),
            rate_limiting: skip.phases.contains(&SkippablePhase::RateLimiting),
            cache: skip.phases.contains(&SkippablePhase::Cache),
        }
    }

    fn firewall_warnings(
        &mut self,
        fw: &[crate::config::FirewallRuleConfig],
        conj: &[Option<Vec<Conjunct>>],
        base: &KeyPath,
    ) {
        for (i, (r, c)) in fw.iter().zip(conj).enumerate() {
            let Some(c) = c else { continue };
            if let Some(why) = analysis::contradictory(c) {
                self.sink.warning(
                    &base.index(i).key("expression"),
                    format!("rule `{}` can never match: {why}", r.id),
                );
                continue;
            }
            if !r.enabled {
                continue;
            }
            let terminating = |a: FirewallAction| {
                matches!(
                    a,
                    FirewallAction::Block
                        | FirewallAction::Challenge
                        | FirewallAction::ManagedChallenge
                        | FirewallAction::JsChallenge
                )
            };
            // A skip between the two may let the later rule act; stay quiet then.
            let any_skip_before = fw.iter().take(i).any(|e| e.action == FirewallAction::Skip);
            if any_skip_before {
                continue;
            }
            for (e, ec) in fw.iter().zip(conj).take(i) {
                let Some(ec) = ec else { continue };
                if e.enabled && terminating(e.action) && analysis::implies(c, ec) {
                    self.sink.warning(
                        &base.index(i).key("expression"),
                        format!("rule `{}` is shadowed by the earlier rule `{}`, which matches whenever it does and ends the firewall phase", r.id, e.id),
                    );
                    break;
                }
            }
        }
    }

    fn characteristic(&mut self, c: &str, path: &KeyPath) -> Option<Characteristic> {
        let c = c.trim();
        if c == "ip.src" {
            return Some(Characteristic::IpSrc);
        }
        if c == "cf.colo.id" {
            return Some(Characteristic::Ignored);
        }
        for (prefix, header) in [
            ("http.request.headers[\"", true),
            ("http.request.cookies[\"", false),
        ] {
            if let Some(rest) = c.strip_prefix(prefix) {
                let Some(name) = rest
                    .strip_suffix("\"]")
                    .or_else(|| rest.strip_suffix("\"][0]"))
                else {
                    self.sink
                        .error(path, format!("invalid characteristic `{c}`"));
                    return None;
                };
                if name.is_empty() || name.contains('"') {
                    self.sink
                        .error(path, format!("invalid characteristic `{c}`"));
                    return None;
                }
                return Some(if header {
                    Characteristic::Header(lower_bytes(name))
                } else {
                    Characteristic::Cookie(name.as_bytes().into())
                });
            }
        }
        match self.scheme.field(c) {
            Some(id) => {
                use edgeroute_rules::Type;
                match self.scheme.field_type(id) {
                    Type::Bool | Type::Int | Type::Bytes | Type::Ip => {
                        Some(Characteristic::Field(id))
                    }
                    t => {
                        self.sink.error(path, format!("characteristic `{c}` has type {t}; use a String, Integer, Boolean or IP address field"));
                        None
                    }
                }
            }
            None => {
                self.sink.error_help(path, format!("unknown characteristic `{c}`"), "use `ip.src`, `http.request.headers[\"name\"]`, `http.request.cookies[\"name\"]` or a field name");
                None
            }
        }
    }

    fn header_edits(&mut self, map: &BTreeMap<String, String>, path: &KeyPath) -> Vec<HeaderEdit> {
        let mut out = Vec::new();
        for (name, value) in map {
            let p = path.key(name);
            if !valid_header_name(name) {
                self.sink.error(&p, format!("invalid header name `{name}`"));
                continue;
            }
            let lower = name.to_ascii_lowercase();
            if out.iter().any(|e: &HeaderEdit| *e.name == *lower) {
                self.sink.error(
                    &p,
                    format!("header `{name}` is set twice (names are case-insensitive)"),
                );
                continue;
            }
            match Template::parse(value) {
                Ok(t) => out.push(HeaderEdit {
                    name: lower.into(),
                    value: t,
                    shadowed_by: 0,
                }),
                Err(m) => self.sink.error(&p, m),
            }
        }
        out
    }

    fn transforms(
        &mut self,
        file: &PolicyFile,
        ids: &[u16],
        disabled: &BTreeSet<String>,
        services: &[Service],
        env_origins: Option<&Vec<String>>,
        env_path: &KeyPath,
    ) -> Transforms {
        let t = &file.transforms;
        let base = root().key("transforms");
        let mut request = self.header_edits(&t.request_headers, &base.key("request_headers"));
        let mut response = self.header_edits(&t.response_headers, &base.key("response_headers"));
        let mut rules = Vec::new();
        for (i, (r, &gid)) in t.rules.iter().zip(ids).enumerate() {
            let path = base.key("rules").index(i);
            let filter = self
                .expression(&r.expression, &path.key("expression"))
                .map(|e| e.compile());
            let req = self.header_edits(&r.request_headers, &path.key("request_headers"));
            let resp = self.header_edits(&r.response_headers, &path.key("response_headers"));
            if r.request_headers.is_empty() && r.response_headers.is_empty() {
                self.sink
                    .warning(&path, format!("transform rule `{}` sets no headers", r.id));
            }
            if let Some(filter) = filter {
                rules.push(TransformRule {
                    rule: gid,
                    filter,
                    request: req.into(),
                    response: resp.into(),
                    enabled: r.enabled && !disabled.contains(&r.id),
                });
            }
        }
        // Later levels override earlier ones: base, then rules in order.
        let later_mask = |rules: &[TransformRule], from: usize, name: &str, req: bool| -> u64 {
            rules.iter().enumerate().skip(from).fold(0u64, |m, (j, r)| {
                let edits = if req { &r.request } else { &r.response };
                if edits.iter().any(|e| *e.name == *name) && j < 64 {
                    m | (1u64 << j)
                } else {
                    m
                }
            })
        };
        for e in &mut request {
            e.shadowed_by = later_mask(&rules, 0, &e.name, true);
        }
        for e in &mut response {
            e.shadowed_by = later_mask(&rules, 0, &e.name, false);
        }
        let masks: Vec<(Vec<u64>, Vec<u64>)> = rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                (
                    r.request
                        .iter()
                        .map(|e| later_mask(&rules, i + 1, &e.name, true))
                        .collect(),
                    r.response
                        .iter()
                        .map(|e| later_mask(&rules, i + 1, &e.name, false))
                        .collect(),
                )
            })
            .collect();
        for (r, (mq, ms)) in rules.iter_mut().zip(masks) {
            let mut req: Vec<HeaderEdit> = r.request.to_vec();
            for (e, m) in req.iter_mut().zip(mq) {
                e.shadowed_by = m;
            }
            let mut resp: Vec<HeaderEdit> = r.response.to_vec();
            for (e, m) in resp.iter_mut().zip(ms) {
                e.shadowed_by = m;
            }
            r.request = req.into();
            r.response = resp.into();
        }
        let cors = t.cors.as_ref().map(|c| {
            let path = base.key("cors");
            let (origins_src, origins_path) = match env_origins {
                Some(o) => (o, env_path.key("cors_allow_origins")),
                None => (&c.allow_origins, path.key("allow_origins")),
            };
            if origins_src.is_empty() {
                self.sink.error(&origins_path, "`allow_origins` is empty");
            }
            let mut origins: Vec<Box<str>> = Vec::new();
            let mut any = false;
            for (i, o) in origins_src.iter().enumerate() {
                if o == "*" {
                    any = true;
                    continue;
                }
                let ok = (o.starts_with("https://") || o.starts_with("http://"))
                    && o.split_once("://").is_some_and(|(_, h)| !h.is_empty() && !h.contains('/') && !h.contains(char::is_whitespace));
                if ok {
                    origins.push(o.to_ascii_lowercase().into());
                } else {
                    self.sink.error_help(&origins_path.index(i), format!("invalid origin `{o}`"), "an origin is `https://host` or `https://host:port`, without a path, or `*`");
                }
            }
            if any && c.allow_credentials {
                self.sink.error(&path.key("allow_credentials"), "`allow_credentials` cannot be used with origin `*`");
            }
            let methods: Vec<String> = if c.allow_methods.is_empty() {
                ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"].iter().map(|s| (*s).to_owned()).collect()
            } else {
                c.allow_methods.clone()
            };
            for (i, m) in methods.iter().enumerate() {
                if !valid_header_name(m) {
                    self.sink.error(&path.key("allow_methods").index(i), format!("invalid method `{m}`"));
                }
            }
            for (key, list) in [("allow_headers", &c.allow_headers), ("expose_headers", &c.expose_headers)] {
                for (i, h) in list.iter().enumerate() {
                    if !valid_header_name(h) && h != "*" {
                        self.sink.error(&path.key(key).index(i), format!("invalid header name `{h}`"));
                    }
                }
            }
            let max_age = c.max_age.map_or(86_400, |d| d.0);
            if max_age > 604_800 {
                self.sink.error(&path.key("max_age"), format!("max_age `{}` is longer than a week; browsers cap it far lower", c.max_age.unwrap_or_default()));
            }
            let mut svc = Vec::new();
            for (i, name) in c.services.iter().enumerate() {
                match services.iter().position(|s| &*s.name == name) {
                    Some(ix) => svc.push(u16::try_from(ix).unwrap_or(u16::MAX)),
                    None => self.sink.error(&path.key("services").index(i), format!("unknown service `{name}`")),
                }
            }
            Cors {
                origins: origins.into(),
                any_origin: any,
                methods: methods.join(", ").into(),
                headers: c.allow_headers.join(", ").into(),
                expose: c.expose_headers.join(", ").into(),
                max_age,
                credentials: c.allow_credentials,
                services: svc.into(),
            }
        });
        let renders_ip = |edits: &[HeaderEdit]| edits.iter().any(|e| e.value.uses_client_ip());
        let client_ip_static = renders_ip(&request) || renders_ip(&response);
        let client_ip_rules = rules
            .iter()
            .enumerate()
            .take(64)
            .filter(|(_, r)| renders_ip(&r.request) || renders_ip(&r.response))
            .fold(0u64, |bits, (i, _)| bits | 1u64 << i);
        Transforms {
            request: request.into(),
            response: response.into(),
            rules: rules.into(),
            cors,
            client_ip_static,
            client_ip_rules,
        }
    }

    fn routing(
        &mut self,
        file: &PolicyFile,
        services: &[Service],
    ) -> (
        Option<crate::routing::CompiledRouting>,
        Box<[Option<crate::routing::ServiceId>]>,
    ) {
        let none: Box<[Option<crate::routing::ServiceId>]> =
            services.iter().map(|_| None).collect();
        let Some(cfg) = &file.routing else {
            return (None, none);
        };
        let base = root().key("routing");
        for name in cfg.services.keys() {
            if !services.iter().any(|s| &*s.name == name) {
                self.sink.error_help(
                    &base.key("services").key(name),
                    format!("routing names unknown service `{name}`"),
                    "declare it under [services]",
                );
            }
        }
        match cfg.compile() {
            Ok(rt) => {
                let map = services.iter().map(|s| rt.service_id(&s.name)).collect();
                (Some(rt), map)
            }
            Err(errors) => {
                for e in errors {
                    let mut path = base.clone();
                    for seg in e.path().segments() {
                        path = match seg {
                            crate::routing::PathSegment::Key(k) => path.key(k),
                            crate::routing::PathSegment::Index(i) => path.index(*i),
                        };
                    }
                    match e.help() {
                        Some(h) => {
                            self.sink
                                .error_help(&path, e.message().to_owned(), h.to_owned())
                        }
                        None => self.sink.error(&path, e.message().to_owned()),
                    }
                }
                (None, none)
            }
        }
    }
}

/// Parses `10.0.0.0/8`, `10.0.0.1`, or a range `10.0.0.1-10.0.0.9` into networks.
fn parse_ip_item(item: &str) -> Result<Vec<IpNet>, String> {
    let t = item.trim();
    if let Ok(n) = t.parse::<IpNet>() {
        if n.trunc() != n {
            return Err(format!(
                "`{t}` has host bits set; did you mean `{}`?",
                n.trunc()
            ));
        }
        return Ok(vec![n]);
    }
    if let Ok(ip) = t.parse::<IpAddr>() {
        return Ok(vec![IpNet::from(ip)]);
    }
    if let Some((a, b)) = t.split_once('-') {
        let (a, b) = (a.trim().parse::<IpAddr>(), b.trim().parse::<IpAddr>());
        match (a, b) {
            (Ok(IpAddr::V4(a)), Ok(IpAddr::V4(b))) if a <= b => {
                return Ok(ipnet::Ipv4Subnets::new(a, b, 0).map(IpNet::V4).collect());
            }
            (Ok(IpAddr::V6(a)), Ok(IpAddr::V6(b))) if a <= b => {
                return Ok(ipnet::Ipv6Subnets::new(a, b, 0).map(IpNet::V6).collect());
            }
            _ => return Err(format!("invalid address range `{t}`")),
        }
    }
    Err(format!("invalid CIDR or address `{t}`"))
}

fn build_index(
    rules: &[FwRule],
    conj: &[Option<Vec<Conjunct>>],
    fields: &FieldMap,
) -> FirewallIndex {
    let mut index = FirewallIndex::default();
    if rules.len() < INDEX_THRESHOLD || rules.len() != conj.len() {
        index.always = (0..u32::try_from(rules.len()).unwrap_or(0)).collect();
        return index;
    }
    let _ = fields;
    index.active = true;
    let mut by_host: BTreeMap<Vec<u8>, Vec<u32>> = BTreeMap::new();
    let mut by_path: BTreeMap<Vec<u8>, Vec<u32>> = BTreeMap::new();
    let mut by_ip: BTreeMap<IpAddr, Vec<u32>> = BTreeMap::new();
    let mut always = Vec::new();
    for (i, c) in conj.iter().enumerate() {
        let i = u32::try_from(i).unwrap_or(u32::MAX);
        let find = |field: &str| -> Option<&Vec<Lit>> {
            c.as_ref()?.iter().find_map(|x| match &x.allowed {
                Some((f, lits)) if f == field => Some(lits),
                _ => None,
            })
        };
        let bytes = |lits: &Vec<Lit>| -> Option<Vec<Vec<u8>>> {
            lits.iter()
                .map(|l| {
                    if let Lit::Bytes(b) = l {
                        Some(b.clone())
                    } else {
                        None
                    }
                })
                .collect()
        };
        if let Some(keys) = find("http.host").and_then(bytes) {
            for k in keys {
                by_host.entry(k).or_default().push(i);
            }
        } else if let Some(keys) = find("http.request.uri.path").and_then(bytes) {
            for k in keys {
                by_path.entry(k).or_default().push(i);
            }
        } else if let Some(ips) = find("ip.src").and_then(|l| {
            l.iter()
                .map(|x| {
                    if let Lit::Ip(ip) = x {
                        Some(ip.to_canonical())
                    } else {
                        None
                    }
                })
                .collect::<Option<Vec<_>>>()
        }) {
            for ip in ips {
                by_ip.entry(ip).or_default().push(i);
            }
        } else {
            always.push(i);
        }
    }
    let fin = |mut v: Vec<u32>| -> Box<[u32]> {
        v.sort_unstable();
        v.dedup();
        v.into()
    };
    index.by_host = by_host
        .into_iter()
        .map(|(k, v)| (k.into(), fin(v)))
        .collect();
    index.by_path = by_path
        .into_iter()
        .map(|(k, v)| (k.into(), fin(v)))
        .collect();
    index.by_ip = by_ip.into_iter().map(|(k, v)| (k, fin(v))).collect();
    index.always = fin(always);
    index
}
