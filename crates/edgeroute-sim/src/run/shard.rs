//! Stage A: one shard of data centres. Generates its clients' requests, runs each through its
//! own [`Engine`] (rate-limit counters and health tables are per shard, like gateways in
//! different data centres), looks them up in its data centres' edge caches, and hands what
//! must go further to the origin side of the routed region.

use std::sync::Arc;

use edgeroute::config::{CacheLevel, CacheTier};
use edgeroute::routing::{EndpointId, PassiveResult};
use edgeroute::{Action, Decision, Engine, Policy, RequestView, RouteChoice, Timestamp};
use edgeroute_rules::Value;

use super::events::region_down;
use super::stats::{EDGE, Stats};
use super::tier::TierCache;
use super::{Ctx, EpochState, OriginJob, TraceArrival};
use crate::rng::SimRng;
use crate::traffic::{Arrival, ShardTraffic, Source};

/// A request ready for the engine, whatever produced it.
pub(crate) struct Req<'a> {
    pub t_us: u64,
    /// Index among the shard's clients (synthetic traffic, [`Arrival::local`]), for DNS
    /// caching.
    pub client: Option<u32>,
    pub client_ip: &'a [u8],
    pub country: &'a [u8],
    pub subdivision: &'a [u8],
    pub group: u32,
    pub continent: u8,
    pub class: u16,
    pub source: Source,
    pub host: &'a [u8],
    pub method: &'a [u8],
    pub path: &'a [u8],
    pub extra_headers: &'a [(Vec<u8>, Vec<u8>)],
    pub websocket: bool,
    pub bot_score: i64,
    pub threat_score: i64,
    pub verified: bool,
    pub key: u64,
    pub size: u32,
    pub session_s: f64,
}

impl<'a> Req<'a> {
    /// A synthetic request as far as its arrival `a` and its client decide it: when, from whom
    /// and where (`client_ip`, `country`, `subdivision`, `continent`), its source and scores, and
    /// `path`. The rest is what the request's source (a traffic class or an attack) sets; here it
    /// is class 0, no host or method, no extra headers, no WebSocket upgrade, not a verified
    /// bot, object key 0 of size 0, no session.
    fn arrival(
        a: &Arrival,
        client_ip: &'a [u8],
        country: &'a [u8],
        subdivision: &'a [u8],
        continent: u8,
        path: &'a [u8],
    ) -> Self {
        Req {
            t_us: a.t_us,
            client: Some(a.local),
            client_ip,
            country,
            subdivision,
            group: a.group,
            continent,
            class: 0,
            source: a.source,
            host: b"",
            method: b"",
            path,
            extra_headers: &[],
            websocket: false,
            bot_score: i64::from(a.bot_score),
            threat_score: i64::from(a.threat_score),
            verified: false,
            key: 0,
            size: 0,
            session_s: 0.0,
        }
    }
}

/// One shard's state.
pub(crate) struct Shard {
    pub index: u32,
    pub engine: Engine,
    policy: Arc<Policy>,
    pub traffic: ShardTraffic,
    /// Edge cache per data centre (indexed by global colo index; `None` for colos of other
    /// shards).
    caches: Vec<Option<TierCache>>,
    rng: SimRng,
    arrivals: Vec<Arrival>,
    pub trace_inbox: Vec<TraceArrival>,
    /// Origin-bound jobs per region, filled during an epoch.
    pub out: Vec<Vec<OriginJob>>,
    probe_cursor: usize,
    /// Passive results from the origin side, applied at the start of the next epoch.
    pub feedback: Vec<(u64, EndpointId, PassiveResult)>,
    pub stats: Stats,
    seq: u64,
    path_buf: Vec<u8>,
    /// Requests routed to a region after its failure was detected (should stay 0).
    pub routed_after_detection: u64,
    /// Per client of this shard (by [`Arrival::local`], so the table is dense): when its DNS
    /// answer expires (seconds of virtual time + 1; 0 = never resolved). Allocated on first
    /// use.
    dns_expiry: Vec<u32>,
    trace_requests: u64,
    /// Attack requests and their outcomes, when asked for.
    pub attack_log: Option<Vec<super::AttackRecord>>,
}

impl Shard {
    pub(crate) fn new(
        ctx: &Ctx,
        index: u32,
        engine: Engine,
        traffic: ShardTraffic,
        stats: Stats,
    ) -> Self {
        let policy = Arc::clone(&engine.policy());
        let caches = ctx
            .colo_shard
            .iter()
            .map(|&s| (s == index).then(|| ctx.edge_cache()))
            .collect();
        Shard {
            index,
            engine,
            policy,
            traffic,
            caches,
            rng: SimRng::stream(ctx.seed, "shard", u64::from(index)),
            arrivals: Vec::new(),
            trace_inbox: Vec::new(),
            out: (0..ctx.regions.len()).map(|_| Vec::new()).collect(),
            probe_cursor: 0,
            feedback: Vec::new(),
            stats,
            seq: 0,
            path_buf: Vec::with_capacity(128),
            routed_after_detection: 0,
            dns_expiry: Vec::new(),
            trace_requests: 0,
            attack_log: None,
        }
    }

    /// The engine's policy snapshot.
    pub(crate) fn policy(&self) -> Arc<Policy> {
        Arc::clone(&self.policy)
    }

    /// Applies health checks known by `t`.
    fn apply_probes(&mut self, ctx: &Ctx, t: u64) {
        let Some(routing) = self.policy.routing() else {
            return;
        };
        while let Some(p) = ctx.probes.get(self.probe_cursor) {
            if p.t_us > t {
                break;
            }
            if let Some(&ep) = ctx.probe_endpoints.get(p.endpoint as usize) {
                let _ =
                    self.engine
                        .health()
                        .report_probe_endpoint(routing, ep, p.ok, p.t_us / 1000);
            }
            self.probe_cursor += 1;
        }
    }

    /// Runs one epoch `[from, to)`.
    pub(crate) fn run_epoch(&mut self, ctx: &Ctx, st: &EpochState, from: u64, to: u64) {
        if let Some(routing) = self.policy.routing() {
            for (t, ep, result) in self.feedback.drain(..) {
                let _ = self
                    .engine
                    .health()
                    .report_passive(routing, ep, result, t / 1000);
            }
        }
        self.arrivals.clear();
        let mut arrivals = std::mem::take(&mut self.arrivals);
        self.traffic
            .generate(&ctx.traffic, &ctx.population, from, to, &mut arrivals);
        for a in &arrivals {
            self.apply_probes(ctx, a.t_us);
            self.synthetic(ctx, st, a);
        }
        self.arrivals = arrivals;
        let inbox = std::mem::take(&mut self.trace_inbox);
        for r in &inbox {
            self.apply_probes(ctx, r.t_us);
            let req = Req {
                t_us: r.t_us,
                client: None,
                client_ip: r.ip.as_bytes(),
                country: r.country.as_bytes(),
                subdivision: b"",
                group: r.group,
                continent: r.continent,
                class: 0,
                source: Source::Normal,
                host: r.host.as_bytes(),
                method: r.method.as_bytes(),
                path: r.path.as_bytes(),
                extra_headers: &[],
                websocket: false,
                bot_score: 99,
                threat_score: 0,
                verified: false,
                key: r.key,
                size: r.size,
                session_s: 0.0,
            };
            self.handle(ctx, st, &req);
        }
        self.trace_inbox = inbox;
        self.trace_inbox.clear();
        self.apply_probes(ctx, to.saturating_sub(1));
    }

    fn synthetic(&mut self, ctx: &Ctx, st: &EpochState, a: &Arrival) {
        let Some(group) = ctx.population.groups.get(a.group as usize) else {
            return;
        };
        let ip = ctx.client_ip(a.client);
        let sub = ctx.subdivision_suffix(a.group);
        let continent = ctx.continent_index(group.continent);
        let mut path = std::mem::take(&mut self.path_buf);
        let req = match a.source {
            Source::Normal => {
                let Some(class) = ctx.traffic.classes.get(usize::from(a.class)) else {
                    self.path_buf = path;
                    return;
                };
                class.path.render(&mut path, a.rank, u64::from(a.client));
                let key = class.object_key(a.rank, a.client);
                let session_s = match &class.session {
                    Some(d) => d.sample(&mut self.rng),
                    None => 0.0,
                };
                Req {
                    class: a.class,
                    host: &class.host,
                    method: &class.method,
                    extra_headers: &class.headers,
                    websocket: class.session.is_some(),
                    verified: a.verified,
                    key,
                    size: class.size_of(a.rank, key),
                    session_s,
                    ..Req::arrival(a, ip, group.country.as_bytes(), sub, continent, &path)
                }
            }
            Source::Attack(ev) => {
                let Some(att) = ctx.attack(ev) else {
                    self.path_buf = path;
                    return;
                };
                path.clear();
                path.extend_from_slice(&att.path);
                Req {
                    class: ctx.attack_class(),
                    host: &att.host,
                    method: &att.method,
                    size: 1_000,
                    ..Req::arrival(a, ip, group.country.as_bytes(), sub, continent, &path)
                }
            }
        };
        self.handle(ctx, st, &req);
        self.path_buf = path;
    }

    fn decide(&self, ctx: &Ctx, r: &Req<'_>, t_us: u64) -> Decision {
        let mut headers: [(&[u8], &[u8]); 8] = [(b"", b""); 8];
        let mut n = 0;
        push_header(&mut headers, &mut n, (b"cf-connecting-ip", r.client_ip));
        push_header(&mut headers, &mut n, (b"cf-ipcountry", r.country));
        if !r.subdivision.is_empty() {
            push_header(&mut headers, &mut n, (b"cf-region-code", r.subdivision));
        }
        if r.websocket {
            push_header(&mut headers, &mut n, (b"upgrade", b"websocket"));
            push_header(&mut headers, &mut n, (b"connection", b"upgrade"));
        }
        for (k, v) in r.extra_headers.iter().take(3) {
            push_header(&mut headers, &mut n, (k, v));
        }
        let field_values;
        let fields: &[(edgeroute_rules::FieldId, Value<'_>)] = match ctx.fields {
            Some([bot, threat, verified]) => {
                field_values = [
                    (bot, Value::Int(r.bot_score)),
                    (threat, Value::Int(r.threat_score)),
                    (verified, Value::Bool(r.verified)),
                ];
                &field_values
            }
            None => &[],
        };
        let view = RequestView {
            peer: ctx.peer,
            method: r.method,
            scheme: edgeroute::HttpScheme::Https,
            host: Some(r.host),
            path_and_query: r.path,
            headers: headers.get(..n).unwrap_or(&[]),
            fields,
            seed: ctx.seed,
        };
        self.engine.decide(&view, Timestamp::from_micros(t_us))
    }

    fn handle(&mut self, ctx: &Ctx, st: &EpochState, r: &Req<'_>) {
        let t = r.t_us;
        let bucket = ctx.bucket(t);
        self.stats.requests += 1;
        if let Some(g) = self.stats.by_group.get_mut(r.group as usize) {
            g.0 += 1;
        }
        if let Some(b) = self.stats.series.get_mut(bucket) {
            b.requests += 1;
        }
        if let Some(c) = self.stats.classes.get_mut(usize::from(r.class)) {
            c.requests += 1;
        }
        self.count_dns(r);
        let mut decision = self.decide(ctx, r, t);
        let action_slot = decision.action.index();
        if let Some(a) = self.stats.actions.get_mut(action_slot) {
            *a += 1;
        }
        // The address is parsed only for a logged attack request (a tuple of the three
        // conditions would parse it for every request).
        if let Source::Attack(_) = r.source
            && let Some(log) = self.attack_log.as_mut()
            && let Some(ip) = std::str::from_utf8(r.client_ip)
                .ok()
                .and_then(|s| s.parse().ok())
        {
            log.push(super::AttackRecord {
                t_us: t,
                ip,
                bot_score: u8::try_from(r.bot_score).unwrap_or(0),
                threat_score: u8::try_from(r.threat_score).unwrap_or(0),
                action: decision.action.as_str(),
                status: decision.status,
            });
        }
        if let Source::Attack(ev) = r.source
            && let Some(e) = self.stats.events.get_mut(usize::from(ev))
        {
            if let Some(a) = e.actions.get_mut(action_slot) {
                *a += 1;
            }
            if matches!(
                decision.action,
                Action::Block | Action::Challenge | Action::ManagedChallenge | Action::JsChallenge
            ) {
                e.first_mitigation_us = Some(e.first_mitigation_us.map_or(t, |x| x.min(t)));
            }
        }
        let client_rtt_ms = ctx.lat.sample_client_rtt_ms(r.group, &mut self.rng);
        let edge_us = ms_to_us(client_rtt_ms) + ctx.edge_processing_us;
        match decision.action {
            Action::Allow => {}
            Action::Preflight => {
                self.answered(ctx, st, r, edge_us, None, None, bucket);
                return;
            }
            Action::Unavailable => {
                self.stats.failures.unavailable += 1;
                self.failed(ctx, st, r, route_regions(&decision), bucket);
                return;
            }
            _ => {
                if let Some(b) = self.stats.series.get_mut(bucket) {
                    b.mitigated += 1;
                }
                return;
            }
        }
        self.stats.forwarded += 1;
        let (mut region, mut preferred) = route_regions(&decision);
        let mut endpoint = routed_endpoint(&decision);
        if let Some(reg) = region
            && ctx.detected_down(reg, t)
        {
            self.routed_after_detection += 1;
        }
        // Edge cache.
        let cache = decision.cache;
        let get_like = matches!(r.method, b"GET" | b"HEAD");
        let cacheable = get_like
            && !r.websocket
            && cache.level != CacheLevel::Bypass
            && cache.tier == CacheTier::Edge
            && (cache.edge_ttl_s.is_some()
                || cache.level == CacheLevel::Aggressive
                || is_static(r.path));
        let edge_ttl_us = u64::from(cache.edge_ttl_s.unwrap_or(ctx.default_edge_ttl_s)) * 1_000_000;
        let colo = ctx.group_colo(r.group);
        if cacheable {
            let hit = self
                .caches
                .get_mut(colo as usize)
                .and_then(Option::as_mut)
                .is_some_and(|c| c.access(r.key, r.size, t, edge_ttl_us));
            self.stats.tiers[EDGE].record(hit, r.size);
            if let Some(b) = self.stats.series.get_mut(bucket) {
                b.tiers[EDGE].record(hit, r.size);
            }
            if let Some(c) = self.stats.classes.get_mut(usize::from(r.class)) {
                c.edge.record(hit, r.size);
            }
            if hit {
                if let Source::Normal = r.source {
                    self.stats.edge_hits.record(edge_us);
                }
                self.answered(ctx, st, r, edge_us, region, preferred, bucket);
                return;
            }
        }
        // Origin-bound: is the routed region reachable?
        let mut extra_us = 0u64;
        let mut attempts = 0;
        while let Some(reg) = region {
            if !region_down(&ctx.events, reg, t + extra_us) {
                break;
            }
            // The attempt times out; the gateway reports it and may retry.
            extra_us += ctx.connect_timeout_us;
            if let (Some(ep), Some(routing)) = (endpoint, self.policy.routing()) {
                let _ = self.engine.health().report_passive(
                    routing,
                    ep,
                    PassiveResult::ConnectFailure,
                    (t + extra_us) / 1000,
                );
            }
            attempts += 1;
            if attempts > ctx.retries {
                self.stats.failures.connect += 1;
                self.failed(ctx, st, r, (region, preferred), bucket);
                return;
            }
            self.stats.retries += 1;
            decision = self.decide(ctx, r, t + extra_us);
            if decision.action != Action::Allow {
                self.stats.failures.unavailable += 1;
                self.failed(ctx, st, r, route_regions(&decision), bucket);
                return;
            }
            (region, preferred) = route_regions(&decision);
            endpoint = routed_endpoint(&decision);
        }
        let Some(reg) = region else {
            // No routing: nothing to forward to. Counted as answered at the edge.
            self.answered(ctx, st, r, edge_us, None, None, bucket);
            return;
        };
        let service = ctx.service_index(decision.service());
        let tier_ttl_us = decision.cache.tier_ttl_s.map(|s| u64::from(s) * 1_000_000);
        let upper = cacheable && ctx.has_upper;
        let job = OriginJob {
            t_us: t,
            seq: self.seq,
            shard: self.index,
            region: reg,
            preferred: preferred.unwrap_or(reg),
            service,
            class: r.class,
            continent: r.continent,
            source: r.source,
            key: r.key,
            size: r.size,
            upper,
            edge_ttl_us,
            tier: decision.cache.tier,
            tier_ttl_us,
            base_us: edge_us + extra_us + ms_to_us(ctx.lat.colo_region_ms(colo, reg)),
            endpoint,
            session_s: r.session_s,
            group: r.group,
        };
        self.seq += 1;
        if let Some(o) = self.out.get_mut(usize::from(reg)) {
            o.push(job);
        }
    }

    /// Counts an authoritative DNS query when the client's cached answer (300 s, Cloudflare's
    /// TTL for proxied records) has expired. Trace rows have no client table: one query per ten
    /// requests is assumed.
    fn count_dns(&mut self, r: &Req<'_>) {
        const DNS_TTL_S: u64 = 300;
        match r.client {
            Some(c) => {
                if self.dns_expiry.is_empty() {
                    self.dns_expiry = vec![0; self.traffic.local_clients()];
                }
                let now_s = r.t_us / 1_000_000;
                if let Some(exp) = self.dns_expiry.get_mut(c as usize)
                    && u64::from(*exp) <= now_s + 1
                {
                    self.stats.dns_queries += 1;
                    *exp = u32::try_from(now_s + DNS_TTL_S + 1).unwrap_or(u32::MAX);
                }
            }
            None => {
                self.trace_requests += 1;
                if self.trace_requests % 10 == 1 {
                    self.stats.dns_queries += 1;
                }
            }
        }
    }

    /// A request answered at the edge (cache hit, preflight).
    #[expect(
        clippy::too_many_arguments,
        reason = "a private helper of the hot path"
    )]
    fn answered(
        &mut self,
        ctx: &Ctx,
        st: &EpochState,
        r: &Req<'_>,
        latency_us: u64,
        region: Option<u16>,
        preferred: Option<u16>,
        bucket: usize,
    ) {
        self.stats.bytes_out += u64::from(r.size);
        if let Some(e) = self.stats.by_group.get_mut(r.group as usize) {
            e.1 += u64::from(r.size);
        }
        super::record_latency(
            &mut self.stats,
            ctx,
            st,
            r.class,
            r.continent,
            r.source,
            region,
            preferred,
            r.t_us,
            (latency_us, latency_us),
            bucket,
        );
    }

    fn failed(
        &mut self,
        ctx: &Ctx,
        st: &EpochState,
        r: &Req<'_>,
        (region, preferred): (Option<u16>, Option<u16>),
        bucket: usize,
    ) {
        super::record_failure(
            &mut self.stats,
            ctx,
            st,
            r.source,
            region,
            preferred,
            r.t_us,
            bucket,
        );
    }
}

fn push_header<'a>(
    headers: &mut [(&'a [u8], &'a [u8]); 8],
    n: &mut usize,
    h: (&'a [u8], &'a [u8]),
) {
    if let Some(slot) = headers.get_mut(*n) {
        *slot = h;
        *n += 1;
    }
}

/// The routed region and (if failover happened) the preferred one, as region indices.
fn route_regions(d: &Decision) -> (Option<u16>, Option<u16>) {
    match d.route {
        Some(RouteChoice::Routed {
            region,
            preferred_region,
            ..
        }) => (
            u16::try_from(region.index()).ok(),
            preferred_region.and_then(|p| u16::try_from(p.index()).ok()),
        ),
        Some(RouteChoice::Refused {
            preferred_region, ..
        }) => (
            None,
            preferred_region.and_then(|p| u16::try_from(p.index()).ok()),
        ),
        None => (None, None),
    }
}

fn routed_endpoint(d: &Decision) -> Option<EndpointId> {
    match d.route {
        Some(RouteChoice::Routed { endpoint, .. }) => Some(endpoint),
        _ => None,
    }
}

/// Milliseconds to whole microseconds (negative and NaN give 0).
#[inline]
pub(crate) fn ms_to_us(ms: f64) -> u64 {
    (ms * 1000.0).clamp(0.0, 1e15) as u64
}

/// Cloudflare caches these extensions by default at the `standard` level.
fn is_static(path: &[u8]) -> bool {
    const EXT: &[&[u8]] = &[
        b".css", b".js", b".png", b".jpg", b".jpeg", b".gif", b".ico", b".svg", b".webp", b".woff",
        b".woff2", b".ttf", b".mp3", b".mp4", b".wav", b".pdf", b".zip", b".txt", b".json",
    ];
    let p = match memchr_q(path) {
        Some(i) => path.get(..i).unwrap_or(path),
        None => path,
    };
    EXT.iter().any(|e| p.ends_with(e))
}

fn memchr_q(p: &[u8]) -> Option<usize> {
    p.iter().position(|b| *b == b'?')
}

impl std::fmt::Debug for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shard")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}
