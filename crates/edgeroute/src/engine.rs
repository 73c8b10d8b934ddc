//! [`Engine`]: runs a [`Policy`] against requests, holding the mutable state (counters,
//! health) outside the policy so hot reloads keep it.

use std::net::IpAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use edgeroute_rules::{FieldSource, Value};

use crate::config::CacheLevel;
use crate::decision::{
    Action, CacheDirective, CorsAnswer, Decision, Explanation, MatchedRules, RouteChoice, Step,
    TraceId,
};
use crate::diag::{Diagnostic, PolicyErrors};
use crate::fields::{RequestFields, Who, bare_host};
use crate::identity::{CountryCode, SubdivisionCode, client_from_forwarded_for, parse_ip};
use crate::policy::{Challenge, Characteristic, FwAction, Phase, Policy, RlAction};
use crate::ratelimit::{CounterStore, MemoryCounterStore, RateCheck};
use crate::request::{HttpScheme, RequestView};
use crate::routing::{Affinity, HealthTable, RouteInput, RouteOutcome};
use crate::time::Timestamp;

/// Looks up a client's location when no trusted header says it.
pub trait GeoLookup: Send + Sync {
    /// The country (and subdivision) of `ip`, if known.
    fn locate(&self, ip: IpAddr) -> Option<(CountryCode, Option<SubdivisionCode>)>;
}

/// The decision engine: `Send + Sync`, shared by all of a gateway's threads.
///
/// The compiled policy sits behind one [`ArcSwap`]: [`Engine::decide`] loads it lock-free and
/// keeps that snapshot for the whole decision, so a concurrent [`Engine::reload`] never mixes
/// two policies in one decision. Rate-limit counters live in a [`CounterStore`] keyed by the
/// rules' stable ids, and origin health in a [`HealthTable`] keyed by names; both survive
/// reloads.
pub struct Engine {
    policy: ArcSwap<Policy>,
    store: Arc<dyn CounterStore>,
    health: HealthTable,
    geo: Option<Arc<dyn GeoLookup>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("policy", &self.policy.load().name())
            .finish_non_exhaustive()
    }
}

/// Records what happened, for [`Engine::explain`]; compiled away for [`Engine::decide`].
trait Tracer {
    const ON: bool;
    fn step(&mut self, phase: Phase, rule: Option<&str>, matched: bool, note: String);
}

struct NoTrace;

impl Tracer for NoTrace {
    const ON: bool = false;
    #[inline(always)]
    fn step(&mut self, _: Phase, _: Option<&str>, _: bool, _: String) {}
}

impl Tracer for Vec<Step> {
    const ON: bool = true;
    fn step(&mut self, phase: Phase, rule: Option<&str>, matched: bool, note: String) {
        self.push(Step {
            phase,
            rule: rule.map(str::to_owned),
            matched,
            note,
        });
    }
}

macro_rules! trace {
    ($t:expr, $phase:expr, $rule:expr, $matched:expr, $($fmt:tt)+) => {
        if T::ON {
            $t.step($phase, $rule, $matched, format!($($fmt)+));
        }
    };
}

impl Engine {
    /// An engine with an in-process counter store sized by the policy's key budget.
    pub fn new(policy: Policy) -> Self {
        let store = Arc::new(MemoryCounterStore::new(policy.key_budget));
        Self::with_counter_store(policy, store)
    }

    /// An engine with an in-process counter store of `key_budget` keys, whatever the policy
    /// says (for tests and small tools).
    pub fn new_with_budget(policy: Policy, key_budget: u64) -> Self {
        Self::with_counter_store(policy, Arc::new(MemoryCounterStore::new(key_budget)))
    }

    /// An engine whose rate-limit counters live in `store` (for example shared on Redis).
    pub fn with_counter_store(mut policy: Policy, store: Arc<dyn CounterStore>) -> Self {
        let health = HealthTable::new();
        policy.health_binding = policy.routing.as_ref().map(|rt| health.bind(rt));
        Engine {
            policy: ArcSwap::from_pointee(policy),
            store,
            health,
            geo: None,
        }
    }

    /// Adds a geo lookup for clients whose country no trusted header gives.
    #[must_use]
    pub fn with_geo_lookup(mut self, geo: Arc<dyn GeoLookup>) -> Self {
        self.geo = Some(geo);
        self
    }

    /// The current policy snapshot.
    pub fn policy(&self) -> arc_swap::Guard<Arc<Policy>> {
        self.policy.load()
    }

    /// The counter store.
    #[must_use]
    pub fn counter_store(&self) -> &Arc<dyn CounterStore> {
        &self.store
    }

    /// Origin health: feed probe and passive results here, read snapshots from here.
    #[must_use]
    pub fn health(&self) -> &HealthTable {
        &self.health
    }

    /// Replaces the policy with one `ArcSwap` store. Decisions in flight finish on the old
    /// snapshot. Counters of rules whose ids (and periods) are unchanged carry on; health
    /// carries on for targets whose names are unchanged.
    pub fn reload(&self, mut policy: Policy) {
        policy.health_binding = policy.routing.as_ref().map(|rt| self.health.bind(rt));
        self.policy.store(Arc::new(policy));
    }

    /// Compiles `text` and, only if it compiles, swaps it in. On error the old policy keeps
    /// serving and the errors are returned.
    ///
    /// # Errors
    /// Whatever [`Policy::from_toml_str`] reports.
    pub fn reload_from_str(
        &self,
        text: &str,
        origin: &str,
        env: Option<&str>,
    ) -> Result<Vec<Diagnostic>, PolicyErrors> {
        let (policy, warnings) = Policy::from_toml_str(text, origin, env)?;
        self.reload(policy);
        Ok(warnings)
    }

    /// Decides what to do with a request at time `now`. Sync, no I/O, no clock; allocation
    /// free on the common path. Counts the request in the rate limiters it reaches.
    pub fn decide(&self, req: &RequestView<'_>, now: Timestamp) -> Decision {
        let policy = self.policy.load_full();
        self.run(policy, req, now, &mut NoTrace)
    }

    /// [`Engine::decide`] plus every rule considered, in order, with whether and why it
    /// matched. It counts the request exactly as `decide` would.
    pub fn explain(&self, req: &RequestView<'_>, now: Timestamp) -> Explanation {
        let policy = self.policy.load_full();
        let mut steps = Vec::new();
        let decision = self.run(policy, req, now, &mut steps);
        Explanation { decision, steps }
    }

    fn resolve<'a>(&self, policy: &Policy, req: &RequestView<'a>) -> (Who<'a>, bool) {
        let id = &policy.identity;
        let peer = req.peer.to_canonical();
        let trusted = id.trusted.contains(peer);
        let mut who = Who {
            client_ip: peer,
            country: None,
            subdivision: None,
            ray: None,
        };
        if trusted {
            // One pass over the headers: the first client-IP, country, subdivision and trace
            // header, and the last x-forwarded-for (the one the nearest proxy appended to).
            // A table by name length picks the (usually single) candidate worth comparing, and
            // a case-folded two-word fingerprint compares it.
            let mut found: [Option<&[u8]>; 5] = [None; 5];
            for &(name, value) in req.headers {
                let mask = id.by_len.get(name.len()).copied().unwrap_or(0);
                if mask == 0 {
                    continue;
                }
                // Names usually arrive lowercase: try them as they are, and fold the case
                // only when that finds nothing.
                let raw = crate::ascii::raw_key(name);
                let mut hit = id.candidate(mask, raw, name);
                if hit.is_none() {
                    let folded = crate::ascii::name_key(name);
                    if folded != raw {
                        hit = id.candidate(mask, folded, name);
                    }
                }
                if let Some(which) = hit
                    && let Some(slot) = found.get_mut(which)
                    && (slot.is_none() || which == 1)
                {
                    *slot = Some(value);
                }
            }
            let [cip, xff, cc, sub, ray] = found;
            if let Some(ip) = cip.and_then(parse_ip) {
                who.client_ip = ip;
            } else if let Some(ip) =
                xff.and_then(|v| client_from_forwarded_for(v, &id.trusted, id.max_hops))
            {
                who.client_ip = ip;
            }
            who.country = cc.and_then(CountryCode::parse);
            who.subdivision = sub.and_then(SubdivisionCode::parse);
            who.ray = ray;
        }
        if who.country.is_none()
            && let Some(geo) = &self.geo
            && let Some((c, s)) = geo.locate(who.client_ip)
        {
            who.country = Some(c);
            who.subdivision = s;
        }
        (who, trusted)
    }

    #[expect(
        clippy::too_many_lines,
        reason = "the pipeline reads best as one function, phase by phase"
    )]
    fn run<T: Tracer>(
        &self,
        policy: Arc<Policy>,
        req: &RequestView<'_>,
        now: Timestamp,
        t: &mut T,
    ) -> Decision {
        // The decision owns the snapshot it was made on: moved in here, not cloned (one atomic
        // increment and decrement fewer per decision), and read through `p` from then on.
        let mut d = Decision {
            action: Action::Allow,
            status: None,
            retry_after_s: None,
            client_ip: req.peer,
            country: None,
            subdivision: None,
            cache: CacheDirective::default(),
            route: None,
            trace: TraceId::NONE,
            service: None,
            matched: MatchedRules::new(),
            transform_mask: 0,
            body: None,
            cors: None,
            policy,
        };
        let p: &Policy = &d.policy;
        // ---- 1. client identity ----
        let (who, trusted) = self.resolve(p, req);
        trace!(
            t,
            Phase::Identity,
            None,
            trusted,
            "peer {} is {}; client {} country {} subdivision {}",
            req.peer,
            if trusted {
                "a trusted proxy"
            } else {
                "not trusted: forwarding headers ignored"
            },
            who.client_ip,
            who.country
                .map_or_else(|| "unknown".to_owned(), |c| c.to_string()),
            who.subdivision
                .as_ref()
                .map_or("unknown", |s| s.as_str())
                .to_owned()
        );
        let host = bare_host(req);
        let host_entry = host.and_then(|h| p.host_lookup(h));
        let service = host_entry.map(|(_, svc)| svc);
        let host_id = host_entry.map(|(id, _)| id);
        let mut fields = RequestFields::new(&p.fields, req, who, host, now.as_micros());
        for (period, prefix) in p.rate_periods.iter() {
            let period = *period;
            let out = self.store.check(&RateCheck {
                key: prefix.finish_with_ip(who.client_ip),
                period_secs: period,
                now,
                count: true,
                limit: None,
                mitigation_timeout_secs: 0,
            });
            fields.set_rate(period, i64::from(out.estimate));
            trace!(
                t,
                Phase::Identity,
                None,
                false,
                "rate({period}s) for {} is {}",
                who.client_ip,
                out.estimate
            );
        }

        d.client_ip = who.client_ip;
        d.country = who.country;
        d.subdivision = who.subdivision;
        d.trace = who.ray.map_or(TraceId::NONE, TraceId::new);
        d.service = service;

        // ---- 2. firewall ----
        let mut skip_rate = false;
        let mut skip_cache = false;
        let mut skip_lists: [&[u32]; 8] = [&[]; 8];
        let mut skips = 0usize;
        let mut terminated = false;
        {
            let index = &p.fw_index;
            let lists: [&[u32]; 4] = if index.active && !T::ON {
                let host = match fields.value_of(p.fields.host) {
                    Some(Value::Bytes(b)) => index.by_host.get(b).map_or(&[][..], |v| &v[..]),
                    _ => &[],
                };
                let path = match fields.value_of(p.fields.path) {
                    Some(Value::Bytes(b)) => index.by_path.get(b).map_or(&[][..], |v| &v[..]),
                    _ => &[],
                };
                let ip = match fields.value_of(p.fields.ip_src) {
                    Some(Value::Ip(a)) => index
                        .by_ip
                        .get(&a.to_canonical())
                        .map_or(&[][..], |v| &v[..]),
                    _ => &[],
                };
                [&index.always, host, path, ip]
            } else {
                [&index.always, &[], &[], &[]]
            };
            // Every rule in order when explaining, or when the policy is too small to index
            // (its `always` list is then every rule: no merge needed).
            let all = T::ON || !index.active;
            let count = u32::try_from(p.firewall.len()).unwrap_or(u32::MAX);
            let mut merged = Merge4::new(lists);
            let mut next_all = 0u32;
            loop {
                let i = if all {
                    if next_all >= count {
                        break;
                    }
                    next_all += 1;
                    next_all - 1
                } else {
                    match merged.next() {
                        Some(i) => i,
                        None => break,
                    }
                };
                let Some(rule) = p.firewall.get(i as usize) else {
                    break;
                };
                let id = p.rule(rule.rule).map_or("", |r| &*r.id);
                if !rule.enabled {
                    trace!(t, Phase::Firewall, Some(id), false, "disabled");
                    continue;
                }
                if skip_lists
                    .iter()
                    .take(skips)
                    .any(|l| l.binary_search(&i).is_ok())
                {
                    trace!(
                        t,
                        Phase::Firewall,
                        Some(id),
                        false,
                        "skipped by an earlier skip rule"
                    );
                    continue;
                }
                if !rule.filter.execute(&fields) {
                    trace!(
                        t,
                        Phase::Firewall,
                        Some(id),
                        false,
                        "expression `{}` did not match",
                        rule.filter.text()
                    );
                    continue;
                }
                d.matched.push(rule.rule);
                match &rule.action {
                    FwAction::Log => {
                        trace!(
                            t,
                            Phase::Firewall,
                            Some(id),
                            true,
                            "matched: logged, evaluation continues"
                        );
                    }
                    FwAction::Block { status, body } => {
                        trace!(
                            t,
                            Phase::Firewall,
                            Some(id),
                            true,
                            "matched: block with status {status}"
                        );
                        d.action = Action::Block;
                        d.status = Some(*status);
                        d.body = *body;
                        terminated = true;
                        break;
                    }
                    FwAction::Challenge(c) => {
                        d.action = challenge(*c);
                        d.status = Some(403);
                        trace!(t, Phase::Firewall, Some(id), true, "matched: {}", d.action);
                        terminated = true;
                        break;
                    }
                    FwAction::Skip {
                        rules,
                        rest,
                        rate_limiting,
                        cache,
                    } => {
                        trace!(
                            t,
                            Phase::Firewall,
                            Some(id),
                            true,
                            "matched: skip {} rule(s){}{}{}",
                            rules.len(),
                            if *rest {
                                ", the rest of the firewall"
                            } else {
                                ""
                            },
                            if *rate_limiting {
                                ", rate limiting"
                            } else {
                                ""
                            },
                            if *cache { ", cache rules" } else { "" }
                        );
                        skip_rate |= rate_limiting;
                        skip_cache |= cache;
                        if let Some(slot) = skip_lists.get_mut(skips) {
                            *slot = rules;
                            skips += 1;
                        } else if !rules.is_empty() {
                            // More than 8 matched skip rules: skip everything they could name.
                            break;
                        }
                        if *rest {
                            break;
                        }
                    }
                }
            }
        }

        // ---- 3. rate limiting ----
        if !terminated && skip_rate {
            trace!(
                t,
                Phase::RateLimiting,
                None,
                false,
                "skipped by a firewall skip rule"
            );
        }
        if !terminated && !skip_rate {
            for rr in p.rate_rules.iter() {
                let id = p.rule(rr.rule).map_or("", |r| &*r.id);
                if !rr.enabled {
                    trace!(t, Phase::RateLimiting, Some(id), false, "disabled");
                    continue;
                }
                if let Some(f) = &rr.filter
                    && !f.execute(&fields)
                {
                    trace!(
                        t,
                        Phase::RateLimiting,
                        Some(id),
                        false,
                        "expression `{}` did not match",
                        f.text()
                    );
                    continue;
                }
                let counts = rr.counting.as_ref().is_none_or(|f| f.execute(&fields));
                let key = match &*rr.characteristics {
                    // The common per-client rule: one multiply-xorshift round on the rule's
                    // prefix hash, without copying the hash state.
                    [Characteristic::IpSrc] => match fields.value_of(fields_ip(&fields)) {
                        Some(Value::Ip(ip)) => rr.key.finish_with_ip(ip),
                        _ => {
                            let mut key = rr.key.clone();
                            key.add_missing();
                            key.finish()
                        }
                    },
                    characteristics => {
                        let mut key = rr.key.clone();
                        for c in characteristics {
                            add_characteristic(&mut key, c, &fields, req);
                        }
                        key.finish()
                    }
                };
                let out = self.store.check(&RateCheck {
                    key,
                    period_secs: rr.period,
                    now,
                    count: counts,
                    limit: Some(rr.limit),
                    mitigation_timeout_secs: rr.timeout,
                });
                if !out.limited {
                    trace!(
                        t,
                        Phase::RateLimiting,
                        Some(id),
                        false,
                        "estimate {} of {} per {}s{}",
                        out.estimate,
                        rr.limit,
                        rr.period,
                        if counts { "" } else { " (not counted)" }
                    );
                    continue;
                }
                d.matched.push(rr.rule);
                match rr.action {
                    RlAction::Log => {
                        trace!(
                            t,
                            Phase::RateLimiting,
                            Some(id),
                            true,
                            "over the limit ({} > {}): logged",
                            out.estimate,
                            rr.limit
                        );
                    }
                    RlAction::Block { status, body } => {
                        d.action = Action::Block;
                        d.status = Some(status);
                        d.body = body;
                        d.retry_after_s = Some(out.retry_after_secs);
                        trace!(
                            t,
                            Phase::RateLimiting,
                            Some(id),
                            true,
                            "over the limit ({} of {} per {}s): block with status {status}, retry after {}s",
                            out.estimate,
                            rr.limit,
                            rr.period,
                            out.retry_after_secs
                        );
                        terminated = true;
                        break;
                    }
                    RlAction::Challenge(c) => {
                        d.action = challenge(c);
                        d.status = Some(403);
                        trace!(
                            t,
                            Phase::RateLimiting,
                            Some(id),
                            true,
                            "over the limit: {}",
                            d.action
                        );
                        terminated = true;
                        break;
                    }
                }
            }
        }

        // ---- CORS preflight (answered at the edge, after the security phases) ----
        let cors = p.transforms.cors.as_ref().filter(|c| c.applies_to(service));
        let origin = cors.and(req.header_lower(b"origin"));
        if !terminated
            && let (Some(c), Some(o)) = (cors, origin)
            && req.method == b"OPTIONS"
            && req.header_lower(b"access-control-request-method").is_some()
        {
            let allowed = c.allow(o);
            d.action = Action::Preflight;
            d.status = Some(204);
            d.cors = Some(CorsAnswer {
                origin: allowed,
                preflight: true,
            });
            trace!(
                t,
                Phase::Transforms,
                None,
                allowed.is_some(),
                "CORS preflight from origin `{}`: {}",
                String::from_utf8_lossy(o),
                if allowed.is_some() {
                    "allowed"
                } else {
                    "origin not allowed"
                }
            );
            terminated = true;
        }

        // ---- 4. cache rules ----
        if !terminated && skip_cache {
            d.cache.level = CacheLevel::Bypass;
            trace!(
                t,
                Phase::Cache,
                None,
                false,
                "skipped by a firewall skip rule: bypass"
            );
        }
        if !terminated && !skip_cache {
            let https = req.scheme == HttpScheme::Https;
            let host = host.unwrap_or(b"");
            // Only the rules whose URL can match this host (all of them when explaining, so
            // every rule shows up in the steps).
            let candidates = p.cache_candidates(host_id);
            let count = if T::ON {
                p.cache_rules.len()
            } else {
                candidates.len()
            };
            for k in 0..count {
                let i = if T::ON {
                    k
                } else {
                    candidates.get(k).map_or(usize::MAX, |&i| usize::from(i))
                };
                let Some(cr) = p.cache_rules.get(i) else {
                    break;
                };
                let id = p.rule(cr.rule).map_or("", |r| &*r.id);
                if !cr.enabled {
                    trace!(t, Phase::Cache, Some(id), false, "disabled");
                    continue;
                }
                if let Some(u) = &cr.url
                    && !u.matches_host_id(https, host_id, host, req.path_and_query)
                {
                    trace!(
                        t,
                        Phase::Cache,
                        Some(id),
                        false,
                        "url pattern `{u}` did not match"
                    );
                    continue;
                }
                if let Some(f) = &cr.filter
                    && !f.execute(&fields)
                {
                    trace!(
                        t,
                        Phase::Cache,
                        Some(id),
                        false,
                        "expression `{}` did not match",
                        f.text()
                    );
                    continue;
                }
                d.matched.push(cr.rule);
                let s = &cr.set;
                if let Some(l) = s.level {
                    d.cache.level = l;
                }
                if let Some(v) = s.edge_ttl {
                    d.cache.edge_ttl_s = Some(v);
                }
                if let Some(v) = s.browser_ttl {
                    d.cache.browser_ttl_s = Some(v);
                }
                if let Some(c) = s.class {
                    d.cache.class = Some(c);
                    if let Some(cls) = p.classes.get(usize::from(c)) {
                        d.cache.tier = cls.tier;
                        d.cache.tier_ttl_s = Some(cls.ttl_s);
                    }
                }
                if let Some(tier) = s.tier {
                    d.cache.tier = tier;
                }
                if let Some(k) = s.key {
                    d.cache.key = Some(k);
                }
                trace!(
                    t,
                    Phase::Cache,
                    Some(id),
                    true,
                    "matched: level {}, edge ttl {}, browser ttl {}, tier {}{}",
                    d.cache.level.as_str(),
                    secs(d.cache.edge_ttl_s),
                    secs(d.cache.browser_ttl_s),
                    d.cache.tier.as_str(),
                    d.cache_class()
                        .map(|c| format!(", class {} ({}s)", c.name(), c.ttl_s()))
                        .unwrap_or_default()
                );
            }
        }

        // ---- 5. origin routing ----
        if !terminated && let (Some(rt), Some(svc)) = (p.routing.as_ref(), service) {
            if let Some(Some(rs)) = p.route_service.get(usize::from(svc)) {
                let affinity = match rt.affinity(*rs) {
                    Some(Affinity::Header(name)) => req.header(name.as_bytes()),
                    Some(Affinity::Cookie(name)) => req
                        .headers
                        .iter()
                        .filter(|(n, _)| n.eq_ignore_ascii_case(b"cookie"))
                        .find_map(|(_, v)| crate::routing::cookie_value(v, name.as_bytes())),
                    _ => None,
                };
                let sub = who.subdivision.as_ref().map(SubdivisionCode::as_bytes);
                let input = RouteInput {
                    service: *rs,
                    country: who.country.map(CountryCode::bytes),
                    subdivision: sub,
                    client_ip: Some(who.client_ip),
                    affinity,
                };
                // The seed is made only if a choice needs it (most pools have one endpoint
                // or hash on the client).
                let seed = || route_seed(req, who.client_ip, now);
                let now_ms = now.as_micros() / 1_000;
                let outcome = match &p.health_binding {
                    Some(bound) => rt.route_bound_lazy(&input, &self.health, bound, now_ms, seed),
                    None => rt.route(&input, &self.health, now_ms, seed()),
                };
                match outcome {
                    RouteOutcome::Routed(r) => {
                        d.route = Some(RouteChoice::Routed {
                            region: r.region,
                            pool: r.pool,
                            endpoint: r.endpoint,
                            failover: r.failover,
                            preferred_region: r.preferred_region,
                        });
                        trace!(
                            t,
                            Phase::Routing,
                            None,
                            true,
                            "region {} pool {} endpoint {}{}",
                            r.region_name,
                            r.pool_name,
                            r.endpoint_address,
                            r.failover
                                .map(|f| format!(" (failover: {})", f.as_str()))
                                .unwrap_or_default()
                        );
                    }
                    RouteOutcome::Refused(r) => {
                        d.route = Some(RouteChoice::Refused {
                            reason: r.reason,
                            preferred_region: r.preferred_region,
                        });
                        d.action = Action::Unavailable;
                        d.status = Some(503);
                        trace!(
                            t,
                            Phase::Routing,
                            None,
                            false,
                            "refused: {}",
                            r.reason.as_str()
                        );
                    }
                }
            } else {
                trace!(
                    t,
                    Phase::Routing,
                    None,
                    false,
                    "service has no routing section"
                );
            }
        }

        // ---- 6. transforms ----
        for (i, tr) in p.transforms.rules.iter().enumerate() {
            let id = p.rule(tr.rule).map_or("", |r| &*r.id);
            if !tr.enabled {
                trace!(t, Phase::Transforms, Some(id), false, "disabled");
                continue;
            }
            if tr.filter.execute(&fields) {
                d.transform_mask |= 1u64 << (i % 64);
                d.matched.push(tr.rule);
                trace!(
                    t,
                    Phase::Transforms,
                    Some(id),
                    true,
                    "matched: header edits apply"
                );
            } else {
                trace!(
                    t,
                    Phase::Transforms,
                    Some(id),
                    false,
                    "expression `{}` did not match",
                    tr.filter.text()
                );
            }
        }
        if d.cors.is_none()
            && let (Some(c), Some(o)) = (cors, origin)
        {
            d.cors = Some(CorsAnswer {
                origin: c.allow(o),
                preflight: false,
            });
        }
        drop(fields);
        d
    }
}

fn secs(v: Option<u32>) -> String {
    v.map_or_else(|| "from origin".to_owned(), |s| format!("{s}s"))
}

fn challenge(c: Challenge) -> Action {
    match c {
        Challenge::Interactive => Action::Challenge,
        Challenge::Managed => Action::ManagedChallenge,
        Challenge::Js => Action::JsChallenge,
    }
}

fn add_ip(key: &mut crate::ratelimit::CounterKeyBuilder, ip: IpAddr) {
    match ip.to_canonical() {
        IpAddr::V4(a) => key.add(&a.octets()),
        IpAddr::V6(a) => key.add(&a.octets()),
    }
}

fn add_characteristic(
    key: &mut crate::ratelimit::CounterKeyBuilder,
    c: &Characteristic,
    fields: &RequestFields<'_>,
    req: &RequestView<'_>,
) {
    match c {
        Characteristic::Ignored => {}
        Characteristic::IpSrc => match fields.value_of(fields_ip(fields)) {
            Some(Value::Ip(ip)) => add_ip(key, ip),
            _ => key.add_missing(),
        },
        Characteristic::Field(id) => match fields.get(*id) {
            Some(Value::Bytes(b)) => key.add(b),
            Some(Value::Int(i)) => key.add(&i.to_le_bytes()),
            Some(Value::Bool(b)) => key.add(&[u8::from(b)]),
            Some(Value::Ip(ip)) => add_ip(key, ip),
            _ => key.add_missing(),
        },
        Characteristic::Header(name) => match req.header_lower(name) {
            Some(v) => key.add(v),
            None => key.add_missing(),
        },
        Characteristic::Cookie(name) => {
            let v = req
                .headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(b"cookie"))
                .find_map(|(_, v)| crate::routing::cookie_value(v, name));
            match v {
                Some(v) => key.add(v),
                None => key.add_missing(),
            }
        }
    }
}

fn fields_ip(fields: &RequestFields<'_>) -> Option<edgeroute_rules::FieldId> {
    fields.ip_field()
}

/// A per-request routing seed: the caller's seed mixed with the client, path and time
/// (splitmix64 finalisers; cheap and deterministic).
fn route_seed(req: &RequestView<'_>, client: IpAddr, now: Timestamp) -> u64 {
    fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    let ip = match client.to_canonical() {
        IpAddr::V4(a) => u64::from(u32::from(a)),
        IpAddr::V6(a) => {
            let v = u128::from(a);
            (v as u64) ^ ((v >> 64) as u64)
        }
    };
    let path = req
        .path_and_query
        .iter()
        .take(64)
        .fold(req.path_and_query.len() as u64, |h, &b| {
            h.wrapping_mul(0x100_0000_01b3) ^ u64::from(b)
        });
    mix(mix(req.seed ^ ip) ^ path ^ now.as_micros())
}

/// Merges up to four ascending lists of rule indices into one ascending sequence.
struct Merge4<'a> {
    lists: [&'a [u32]; 4],
}

impl<'a> Merge4<'a> {
    fn new(lists: [&'a [u32]; 4]) -> Self {
        Merge4 { lists }
    }
}

impl Iterator for Merge4<'_> {
    type Item = u32;
    #[inline]
    fn next(&mut self) -> Option<u32> {
        let mut best: Option<(usize, u32)> = None;
        for (k, l) in self.lists.iter().enumerate() {
            if let Some(&v) = l.first()
                && best.is_none_or(|(_, b)| v < b)
            {
                best = Some((k, v));
            }
        }
        let (k, v) = best?;
        // Drop the value from every list that has it (a rule may be indexed twice).
        for l in &mut self.lists {
            if l.first() == Some(&v) {
                *l = l.get(1..).unwrap_or(&[]);
            }
        }
        let _ = k;
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge4_merges_in_order_without_duplicates() {
        let m: Vec<u32> = Merge4::new([&[1, 5, 9], &[2, 5], &[], &[0, 10]]).collect();
        assert_eq!(m, vec![0, 1, 2, 5, 9, 10]);
    }

    #[test]
    fn engine_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Engine>();
        assert_send_sync::<Policy>();
        assert_send_sync::<Decision>();
    }
}
