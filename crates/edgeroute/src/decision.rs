//! [`Decision`]: what the engine decided for one request, as data.
//!
//! # Why a decision does not allocate
//! A decision holds one `Arc` of the policy snapshot it was made with (a reference-count
//! increment, no allocation) and otherwise only small `Copy` data: indices into that snapshot
//! (matched rules in a fixed inline array, a bit mask of matched transform rules, the block
//! body, the route) plus the resolved client address, country and cache directive. Header
//! names and values are borrowed from the snapshot when iterated; values with `{region}` or
//! `{country}` placeholders render through `Display` only when the caller asks.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use crate::config::{CacheLevel, CacheTier};
use crate::identity::{CountryCode, SubdivisionCode};
use crate::policy::{ContentClass, Phase, Policy};
use crate::routing::{EndpointId, FailoverReason, PoolId, RefusalReason, RegionId};
use crate::transform::{AllowedOrigin, EditKey, HeaderValue, Vars};

/// What the gateway should do with the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Forward it (with the decision's header edits, to the decision's route).
    Allow,
    /// Answer with `status` (and the policy's body).
    Block,
    /// Answer with an interactive challenge.
    Challenge,
    /// Answer with a managed challenge.
    ManagedChallenge,
    /// Answer with a JavaScript challenge.
    JsChallenge,
    /// Answer a CORS preflight at the edge (204 with the CORS headers).
    Preflight,
    /// Answer 503: origin routing found nowhere allowed to send it.
    Unavailable,
}

impl Action {
    /// Every action, in [`Action::index`] order.
    pub const ALL: [Action; 7] = [
        Action::Allow,
        Action::Block,
        Action::Challenge,
        Action::ManagedChallenge,
        Action::JsChallenge,
        Action::Preflight,
        Action::Unavailable,
    ];

    /// How many actions there are (the length of tables indexed by [`Action::index`]).
    pub const COUNT: usize = Action::ALL.len();

    /// This action's position in [`Action::ALL`] (`Allow` is 0), for tables indexed by action
    /// (metrics, simulator statistics).
    #[must_use]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// `"allow"`, `"block"`, `"challenge"`, `"managed_challenge"`, `"js_challenge"`,
    /// `"preflight"` or `"unavailable"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Block => "block",
            Action::Challenge => "challenge",
            Action::ManagedChallenge => "managed_challenge",
            Action::JsChallenge => "js_challenge",
            Action::Preflight => "preflight",
            Action::Unavailable => "unavailable",
        }
    }

    /// Whether the request is forwarded to an origin.
    #[must_use]
    pub const fn forwards(self) -> bool {
        matches!(self, Action::Allow)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the request is cached: all matching cache rules merged in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheDirective {
    /// Edge cache level. Default `standard` when no rule sets one.
    pub level: CacheLevel,
    /// Edge TTL in seconds (`None`: honour the origin's headers).
    pub edge_ttl_s: Option<u32>,
    /// Browser TTL in seconds (`None`: honour the origin's headers).
    pub browser_ttl_s: Option<u32>,
    /// The tier that serves it when the edge does not. Default `edge`.
    pub tier: CacheTier,
    /// Content class: an index into [`Policy::content_classes`].
    pub class: Option<u16>,
    /// TTL of the tier, from the content class.
    pub tier_ttl_s: Option<u32>,
    /// Cache-key settings: an index into the policy's cache keys.
    pub key: Option<u16>,
}

impl Default for CacheDirective {
    fn default() -> Self {
        CacheDirective {
            level: CacheLevel::Standard,
            edge_ttl_s: None,
            browser_ttl_s: None,
            tier: CacheTier::Edge,
            class: None,
            tier_ttl_s: None,
            key: None,
        }
    }
}

/// Where origin routing sent the request (ids into [`Policy::routing`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteChoice {
    /// Forward to this endpoint.
    Routed {
        /// The region.
        region: RegionId,
        /// The pool.
        pool: PoolId,
        /// The endpoint.
        endpoint: EndpointId,
        /// Why the first choice was not used.
        failover: Option<FailoverReason>,
        /// The first choice, when it was not used.
        preferred_region: Option<RegionId>,
    },
    /// Nowhere allowed can serve it (answer 503).
    Refused {
        /// Why.
        reason: RefusalReason,
        /// The region that would have been preferred.
        preferred_region: Option<RegionId>,
    },
}

/// Most rule ids a decision records inline; more set [`MatchedRules::overflowed`].
pub const MAX_MATCHED: usize = 24;

/// The rules that matched, as indices into [`Policy::rules`], in evaluation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatchedRules {
    ids: [u16; MAX_MATCHED],
    len: u8,
    overflowed: bool,
}

impl MatchedRules {
    pub(crate) const fn new() -> Self {
        MatchedRules {
            ids: [0; MAX_MATCHED],
            len: 0,
            overflowed: false,
        }
    }

    pub(crate) fn push(&mut self, rule: u16) {
        match self.ids.get_mut(usize::from(self.len)) {
            Some(slot) => {
                *slot = rule;
                self.len += 1;
            }
            None => self.overflowed = true,
        }
    }

    /// The recorded rule indices.
    #[must_use]
    pub fn indices(&self) -> &[u16] {
        self.ids.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// Whether more than [`MAX_MATCHED`] rules matched (the rest are not recorded).
    #[must_use]
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CorsAnswer {
    pub(crate) origin: Option<AllowedOrigin>,
    pub(crate) preflight: bool,
}

/// A short trace id (`cf-ray`), copied inline (at most 48 bytes are kept).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct TraceId {
    bytes: [u8; 48],
    len: u8,
}

impl TraceId {
    pub(crate) const NONE: TraceId = TraceId {
        bytes: [0; 48],
        len: 0,
    };

    pub(crate) fn new(src: &[u8]) -> Self {
        let mut t = TraceId::NONE;
        let keep = src.trim_ascii();
        let n = keep.len().min(48);
        if let (Some(dst), Some(s)) = (t.bytes.get_mut(..n), keep.get(..n)) {
            dst.copy_from_slice(s);
        }
        t.len = u8::try_from(n).unwrap_or(0);
        t
    }

    fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// The engine's answer for one request.
///
/// Plain data in public fields; what refers into the policy (rule ids, header edits, body,
/// route names) is read through methods.
#[must_use]
#[derive(Clone)]
pub struct Decision {
    /// What to do.
    pub action: Action,
    /// The HTTP status the gateway answers with; `None` when it forwards.
    pub status: Option<u16>,
    /// `Retry-After` in seconds, for rate limiting answers.
    pub retry_after_s: Option<u32>,
    /// The resolved client address.
    pub client_ip: IpAddr,
    /// The client's country, when known.
    pub country: Option<CountryCode>,
    /// The client's ISO 3166-2 subdivision (the part after the dash), when known.
    pub subdivision: Option<SubdivisionCode>,
    /// The cache directive.
    pub cache: CacheDirective,
    /// Where origin routing sent it, when the policy routes and the request is forwarded.
    pub route: Option<RouteChoice>,
    pub(crate) trace: TraceId,
    pub(crate) service: Option<u16>,
    pub(crate) matched: MatchedRules,
    pub(crate) transform_mask: u64,
    pub(crate) body: Option<u16>,
    pub(crate) cors: Option<CorsAnswer>,
    pub(crate) policy: Arc<Policy>,
}

impl Decision {
    /// The policy snapshot this decision was made with.
    #[must_use]
    pub fn policy(&self) -> &Arc<Policy> {
        &self.policy
    }

    /// Ids of the rules that matched and took part in the decision (firewall matches of any
    /// action, rate limits that acted, matching cache and transform rules), in order.
    pub fn matched_rules(&self) -> impl Iterator<Item = &str> + '_ {
        self.matched
            .indices()
            .iter()
            .filter_map(|&i| self.policy.rule(i).map(|r| &*r.id))
    }

    /// The matched rules with their phases.
    pub fn matched_rules_with_phase(&self) -> impl Iterator<Item = (Phase, &str)> + '_ {
        self.matched
            .indices()
            .iter()
            .filter_map(|&i| self.policy.rule(i).map(|r| (r.phase, &*r.id)))
    }

    /// The raw matched-rule record.
    #[must_use]
    pub fn matched(&self) -> &MatchedRules {
        &self.matched
    }

    /// The service the host belongs to.
    #[must_use]
    pub fn service(&self) -> Option<&str> {
        self.service
            .and_then(|s| self.policy.services.get(usize::from(s)))
            .map(|s| &*s.name)
    }

    /// The region: the routed one, else the policy's default region.
    #[must_use]
    pub fn region(&self) -> Option<&str> {
        if let (Some(RouteChoice::Routed { region, .. }), Some(rt)) =
            (self.route, self.policy.routing.as_ref())
        {
            return rt.region_name(region);
        }
        self.policy.default_region.as_deref()
    }

    /// The pool chosen by routing.
    #[must_use]
    pub fn pool(&self) -> Option<&str> {
        match (self.route, self.policy.routing.as_ref()) {
            (Some(RouteChoice::Routed { pool, .. }), Some(rt)) => rt.pool_name(pool),
            _ => None,
        }
    }

    /// The endpoint address chosen by routing.
    #[must_use]
    pub fn endpoint(&self) -> Option<&str> {
        match (self.route, self.policy.routing.as_ref()) {
            (Some(RouteChoice::Routed { endpoint, .. }), Some(rt)) => rt.endpoint_address(endpoint),
            _ => None,
        }
    }

    /// Why routing did not use its first choice.
    #[must_use]
    pub fn failover(&self) -> Option<FailoverReason> {
        match self.route {
            Some(RouteChoice::Routed { failover, .. }) => failover,
            _ => None,
        }
    }

    /// Why routing refused the request.
    #[must_use]
    pub fn refusal(&self) -> Option<RefusalReason> {
        match self.route {
            Some(RouteChoice::Refused { reason, .. }) => Some(reason),
            _ => None,
        }
    }

    /// The content class of the cache directive.
    #[must_use]
    pub fn cache_class(&self) -> Option<&ContentClass> {
        self.cache
            .class
            .and_then(|c| self.policy.classes.get(usize::from(c)))
    }

    /// The trace id (`cf-ray`) from a trusted proxy.
    #[must_use]
    pub fn trace_id(&self) -> Option<&[u8]> {
        let b = self.trace.as_bytes();
        (!b.is_empty()).then_some(b)
    }

    /// The body and its content type for a `block` answer, when the rule has one.
    #[must_use]
    pub fn body(&self) -> Option<(&str, &str)> {
        self.body
            .and_then(|b| self.policy.bodies.get(usize::from(b)))
            .map(|(body, ct)| (&**ct, &**body))
    }

    fn vars(&self) -> Vars<'_> {
        Vars {
            region: self.region(),
            country: self.country.as_ref().map(CountryCode::as_str),
            client_ip: self.client_ip,
            service: self.service(),
        }
    }

    /// What determines this decision's [`request_headers`](Self::request_headers) and
    /// [`response_headers`](Self::response_headers) within its policy snapshot (see
    /// [`EditKey`]): equal keys of one snapshot mean equal edit lists. A few dozen instructions;
    /// no allocation.
    pub fn edit_key(&self) -> EditKey {
        let mask = self.transform_mask;
        let t = &self.policy.transforms;
        let region = match (self.route, self.policy.routing.is_some()) {
            (Some(RouteChoice::Routed { region, .. }), true) => 1 + region.index() as u64,
            _ => 0,
        };
        let service = self.service.map_or(0, |s| 1 + u64::from(s));
        let country = self.country.map_or(0, |c| match c.as_bytes() {
            &[a, b] => u64::from(u16::from_le_bytes([a, b])),
            _ => 0,
        });
        let forwards = u64::from(self.action.forwards());
        let (cors, preflight, origin) = match self.cors {
            Some(c) => (
                1,
                u64::from(c.preflight),
                match c.origin {
                    None => 0,
                    Some(AllowedOrigin::Any) => 1,
                    Some(AllowedOrigin::Listed(i)) => 2 + u64::from(i),
                },
            ),
            None => (0, 0, 0),
        };
        let retry = self.retry_after_s.map_or(0, |r| 1 + u64::from(r));
        let renders_ip = t.renders_client_ip(mask);
        EditKey {
            mask,
            place: region
                | service << 16
                | country << 33
                | forwards << 49
                | cors << 50
                | preflight << 51,
            answer: retry | origin << 33,
            client_ip: renders_ip.then_some(self.client_ip),
        }
    }

    /// Headers to set on the request forwarded to the origin (lowercase names). Empty unless
    /// the action is [`Action::Allow`].
    pub fn request_headers(&self) -> impl Iterator<Item = (&str, HeaderValue<'_>)> + '_ {
        let vars = self.vars();
        let on = self.action.forwards();
        let mask = self.transform_mask;
        let t = &self.policy.transforms;
        let base = t.request.iter();
        let rules = t
            .rules
            .iter()
            .enumerate()
            .filter(move |(i, _)| *i < 64 && mask & (1u64 << i) != 0)
            .flat_map(|(_, r)| r.request.iter());
        base.chain(rules)
            .filter(move |e| on && e.shadowed_by & mask == 0)
            .map(move |e| (&*e.name, HeaderValue::template(&e.value, vars)))
    }

    /// Headers to set on the response to the client (lowercase names): the policy's response
    /// headers, CORS headers, and `retry-after` for rate limiting answers.
    pub fn response_headers(&self) -> impl Iterator<Item = (&str, HeaderValue<'_>)> + '_ {
        let vars = self.vars();
        let mask = self.transform_mask;
        let t = &self.policy.transforms;
        let base = t.response.iter();
        let rules = t
            .rules
            .iter()
            .enumerate()
            .filter(move |(i, _)| *i < 64 && mask & (1u64 << i) != 0)
            .flat_map(|(_, r)| r.response.iter());
        let edits = base
            .chain(rules)
            .filter(move |e| e.shadowed_by & mask == 0)
            .map(move |e| (&*e.name, HeaderValue::template(&e.value, vars)));
        let mut extra: [Option<(&str, HeaderValue<'_>)>; 7] =
            [None, None, None, None, None, None, None];
        if let (Some(ans), Some(cors)) = (self.cors, t.cors.as_ref()) {
            if let Some(origin) = ans.origin {
                extra[0] = Some((
                    "access-control-allow-origin",
                    HeaderValue::text(cors.origin_text(origin)),
                ));
                if cors.credentials {
                    extra[1] = Some((
                        "access-control-allow-credentials",
                        HeaderValue::text("true"),
                    ));
                }
                if ans.preflight {
                    extra[2] = Some((
                        "access-control-allow-methods",
                        HeaderValue::text(&cors.methods),
                    ));
                    if !cors.headers.is_empty() {
                        extra[3] = Some((
                            "access-control-allow-headers",
                            HeaderValue::text(&cors.headers),
                        ));
                    }
                    extra[4] = Some(("access-control-max-age", HeaderValue::number(cors.max_age)));
                } else if !cors.expose.is_empty() {
                    extra[2] = Some((
                        "access-control-expose-headers",
                        HeaderValue::text(&cors.expose),
                    ));
                }
            }
            extra[5] = Some(("vary", HeaderValue::text("Origin")));
        }
        if let Some(r) = self.retry_after_s {
            extra[6] = Some(("retry-after", HeaderValue::number(u64::from(r))));
        }
        edits.chain(extra.into_iter().flatten())
    }
}

impl fmt::Debug for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decision")
            .field("action", &self.action)
            .field("status", &self.status)
            .field("retry_after_s", &self.retry_after_s)
            .field("client_ip", &self.client_ip)
            .field("country", &self.country)
            .field("region", &self.region())
            .field("cache", &self.cache)
            .field("route", &self.route)
            .field("matched_rules", &self.matched_rules().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// One step of an [`Explanation`]: a rule (or phase) considered and what came of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The phase.
    pub phase: Phase,
    /// The rule id, or `None` for a phase-level note.
    pub rule: Option<String>,
    /// Whether the rule matched.
    pub matched: bool,
    /// What happened and why, for a person.
    pub note: String,
}

/// A decision plus every rule considered, in order, with whether and why it matched.
#[derive(Debug, Clone)]
pub struct Explanation {
    /// The decision (identical to what [`crate::Engine::decide`] returns for the same
    /// request and state).
    pub decision: Decision,
    /// The steps.
    pub steps: Vec<Step>,
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::net::{IpAddr, Ipv4Addr};

    use crate::transform::EditKey;
    use crate::{Decision, Engine, Policy, RequestView, Timestamp};

    type Lists = (Vec<(String, String)>, Vec<(String, String)>);

    fn lists(d: &Decision) -> Lists {
        let r = d
            .request_headers()
            .map(|(n, v)| (n.to_owned(), v.to_string()))
            .collect();
        let s = d
            .response_headers()
            .map(|(n, v)| (n.to_owned(), v.to_string()))
            .collect();
        (r, s)
    }

    /// Decides a grid of requests (hosts, paths, methods, origins, countries, clients, enough
    /// repeats to hit rate limits) and checks that equal keys always mean equal edit lists.
    /// Returns the keys by list and how many distinct keys there were.
    fn check(engine: &Engine, hosts: &[&str], paths: &[&str]) -> (usize, usize) {
        let mut seen: HashMap<EditKey, Lists> = HashMap::new();
        let mut distinct_lists = std::collections::HashSet::new();
        let mut t = 1_700_000_000_000_000u64;
        for round in 0..3u8 {
            for host in hosts {
                for path in paths {
                    for method in [&b"GET"[..], b"OPTIONS", b"POST"] {
                        for origin in [
                            None,
                            Some(&b"https://app.aybiza.com"[..]),
                            Some(b"https://x.example"),
                        ] {
                            for country in [None, Some(&b"DE"[..]), Some(b"US")] {
                                for client in 1..=3u8 {
                                    let peer = IpAddr::V4(Ipv4Addr::new(81, 2, 69, client + round));
                                    let mut headers: Vec<(&[u8], &[u8])> =
                                        vec![(b"host", host.as_bytes())];
                                    if let Some(o) = origin {
                                        headers.push((b"origin", o));
                                        headers.push((b"access-control-request-method", b"GET"));
                                    }
                                    if let Some(c) = country {
                                        headers.push((b"cf-ipcountry", c));
                                    }
                                    let v = RequestView {
                                        method,
                                        host: Some(host.as_bytes()),
                                        path_and_query: path.as_bytes(),
                                        headers: &headers,
                                        ..RequestView::new(peer)
                                    };
                                    t += 1_000;
                                    let d = engine.decide(&v, Timestamp::from_micros(t));
                                    let l = lists(&d);
                                    distinct_lists.insert(l.clone());
                                    match seen.get(&d.edit_key()) {
                                        Some(prev) => assert_eq!(prev, &l, "{d:?}"),
                                        None => {
                                            seen.insert(d.edit_key(), l);
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        (seen.len(), distinct_lists.len())
    }

    #[test]
    fn equal_edit_keys_mean_equal_edit_lists() {
        let text = include_str!("../../../policies/aybiza.toml");
        let (policy, _) = Policy::from_toml_str(text, "aybiza.toml", None).unwrap();
        let engine = Engine::new(policy);
        let (keys, lists) = check(
            &engine,
            &[
                "api.aybiza.com",
                "voice.aybiza.com",
                "ws.aybiza.com",
                "other.example",
            ],
            &["/", "/api/v1/agents", "/.env", "/static/app.js"],
        );
        assert!(lists > 4, "the grid has varied edits: {lists}");
        // No `{client_ip}` in aybiza's edits: clients share keys.
        assert!(keys < 200, "{keys} keys for {lists} distinct lists");

        let text = r#"
[policy]
name = "t"
[transforms.request_headers]
"X-A" = "{region}/{country}/{service}"
[transforms.response_headers]
"x-static" = "1"
[[transforms.rules]]
id = "ip"
expression = 'http.request.uri.path eq "/ip"'
response_headers = { "x-client" = "{client_ip}" }
[[transforms.rules]]
id = "opt"
expression = 'http.request.method eq "OPTIONS"'
request_headers = { "x-a" = "override" }
[transforms.cors]
allow_origins = ["*"]
expose_headers = ["x-a"]
"#;
        let (policy, _) = Policy::from_toml_str(text, "t.toml", None).unwrap();
        let engine = Engine::new(policy);
        check(&engine, &["a.example"], &["/", "/ip"]);
        let decide = |path: &[u8], client: u8| {
            let headers: [(&[u8], &[u8]); 1] = [(b"host", b"a.example")];
            let v = RequestView {
                method: b"GET",
                host: Some(b"a.example"),
                path_and_query: path,
                headers: &headers,
                ..RequestView::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, client)))
            };
            engine.decide(&v, Timestamp::from_micros(1_700_000_000_000_000))
        };
        // Only the rule that renders `{client_ip}` puts the client in the key.
        assert_eq!(decide(b"/", 1).edit_key(), decide(b"/", 2).edit_key());
        assert_ne!(decide(b"/ip", 1).edit_key(), decide(b"/ip", 2).edit_key());
        assert_ne!(decide(b"/", 1).edit_key(), decide(b"/ip", 1).edit_key());

        // A static edit rendering `{client_ip}` puts the client in every key.
        let text =
            "[policy]\nname = \"s\"\n[transforms.request_headers]\n\"x-c\" = \"{client_ip}\"\n";
        let (policy, _) = Policy::from_toml_str(text, "s.toml", None).unwrap();
        let (_, keys) = check(&Engine::new(policy), &["a.example"], &["/"]);
        assert!(keys >= 3, "one key per client at least: {keys}");
    }
}
