//! The policy file format: serde structs mirroring the TOML, with `deny_unknown_fields`.
//!
//! These types are the *syntax* of a policy. [`crate::Policy::from_toml_str`] validates them
//! (expressions, CIDRs, names, TTLs, cross references) and compiles them. Every default below is
//! documented on its field; `policies/aybiza.toml` is a complete example.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A whole policy file.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// `[policy]`: name and defaults.
    pub policy: PolicyMeta,
    /// `[identity]`: trusted proxies and the client-IP, country and trace headers.
    #[serde(default)]
    pub identity: IdentityConfig,
    /// `[services.<name>]`: host names served, proxied or not, websockets or not.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub services: BTreeMap<String, ServiceConfig>,
    /// `[lists.<name>]`: named IP or string lists usable as `$name` in expressions.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub lists: BTreeMap<String, ListConfig>,
    /// `[firewall]`: custom rules, evaluated in order.
    #[serde(default, skip_serializing_if = "FirewallConfig::is_empty")]
    pub firewall: FirewallConfig,
    /// `[rate_limiting]`: rate limiting rules and the counter key budget.
    #[serde(default, skip_serializing_if = "RateLimitingConfig::is_empty")]
    pub rate_limiting: RateLimitingConfig,
    /// `[cache]`: cache rules and content classes.
    #[serde(default, skip_serializing_if = "CacheConfig::is_empty")]
    pub cache: CacheConfig,
    /// `[transforms]`: header edits and CORS.
    #[serde(default, skip_serializing_if = "TransformsConfig::is_empty")]
    pub transforms: TransformsConfig,
    /// `[routing]`: origin routing (regions, pools, steering); see [`crate::routing`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<crate::routing::RoutingConfig>,
    /// `[environments.<name>]`: overlays chosen at load time.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environments: BTreeMap<String, EnvironmentOverlay>,
}

/// The names of the environments a policy file declares (`[environments.<name>]`), read
/// leniently: the rest of the file need not be valid.
#[must_use]
pub fn declared_environments(text: &str) -> Vec<String> {
    #[derive(Deserialize)]
    struct Envs {
        #[serde(default)]
        environments: BTreeMap<String, toml::Value>,
    }
    toml::from_str::<Envs>(text)
        .map(|e| e.environments.into_keys().collect())
        .unwrap_or_default()
}

/// `[policy]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PolicyMeta {
    /// A short name, shown in reports.
    pub name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The environment the base document describes. Default `"production"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_environment: Option<String>,
    /// The region named by `{region}` until origin routing chooses one. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_region: Option<String>,
}

/// `[identity]`: how the real client is found behind proxies.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// Peers whose forwarding headers are believed: `"cloudflare"` (the complete published
    /// Cloudflare IPv4 and IPv6 list, built in), CIDRs or single addresses. Default
    /// `["cloudflare"]`; an empty list trusts nobody.
    #[serde(default = "default_trusted_proxies")]
    pub trusted_proxies: Vec<String>,
    /// Header carrying the client address set by the proxy. Default `"cf-connecting-ip"`;
    /// empty disables it.
    #[serde(default = "default_client_ip_header")]
    pub client_ip_header: String,
    /// The `X-Forwarded-For` header, consulted when the client-IP header is absent or invalid.
    /// Default `"x-forwarded-for"`; empty disables it.
    #[serde(default = "default_forwarded_for_header")]
    pub forwarded_for_header: String,
    /// Trusted-hop rule for `X-Forwarded-For`: entries are read from the right, entries that are
    /// themselves trusted proxies are skipped, and at most this many entries are examined; the
    /// first untrusted entry is the client. Default 5, at most 64.
    #[serde(default = "default_forwarded_max_hops")]
    pub forwarded_max_hops: u32,
    /// Header carrying the ISO 3166-1 country code. Default `"cf-ipcountry"`; empty disables it.
    #[serde(default = "default_country_header")]
    pub country_header: String,
    /// Header carrying the ISO 3166-2 subdivision code (without the country prefix, as
    /// Cloudflare sends it). Default `"cf-region-code"`; empty disables it.
    #[serde(default = "default_subdivision_header")]
    pub subdivision_header: String,
    /// Header carrying the trace id. Default `"cf-ray"`; empty disables it.
    #[serde(default = "default_trace_header")]
    pub trace_header: String,
}

fn default_trusted_proxies() -> Vec<String> {
    vec!["cloudflare".to_owned()]
}
fn default_client_ip_header() -> String {
    "cf-connecting-ip".to_owned()
}
fn default_forwarded_for_header() -> String {
    "x-forwarded-for".to_owned()
}
fn default_forwarded_max_hops() -> u32 {
    5
}
fn default_country_header() -> String {
    "cf-ipcountry".to_owned()
}
fn default_subdivision_header() -> String {
    "cf-region-code".to_owned()
}
fn default_trace_header() -> String {
    "cf-ray".to_owned()
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            trusted_proxies: default_trusted_proxies(),
            client_ip_header: default_client_ip_header(),
            forwarded_for_header: default_forwarded_for_header(),
            forwarded_max_hops: default_forwarded_max_hops(),
            country_header: default_country_header(),
            subdivision_header: default_subdivision_header(),
            trace_header: default_trace_header(),
        }
    }
}

/// `[services.<name>]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Host names (exact, lowercase) served by this service.
    pub hosts: Vec<String>,
    /// Whether traffic goes through the edge proxy (Cloudflare's orange cloud). Default true.
    #[serde(default = "yes")]
    pub proxied: bool,
    /// Whether the service carries websockets. Default false.
    #[serde(default)]
    pub websocket: bool,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

fn yes() -> bool {
    true
}

/// `[lists.<name>]`: exactly one of `ips` or `strings`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ListConfig {
    /// IP addresses, CIDRs or ranges `a-b`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ips: Option<Vec<String>>,
    /// Strings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strings: Option<Vec<String>>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `[firewall]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FirewallConfig {
    /// `[[firewall.rules]]`, evaluated in order; the first terminating action wins.
    #[serde(default)]
    pub rules: Vec<FirewallRuleConfig>,
}

impl FirewallConfig {
    fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// The action of a firewall rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FirewallAction {
    /// Answer with `status` (default 403) and `body`.
    Block,
    /// Answer with an interactive challenge (403).
    Challenge,
    /// Answer with a managed challenge (403).
    ManagedChallenge,
    /// Answer with a JavaScript challenge (403).
    JsChallenge,
    /// Record the match and continue.
    Log,
    /// Skip the rules or phases named in `skip`.
    Skip,
}

/// `[[firewall.rules]]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FirewallRuleConfig {
    /// Stable id: counters, `skip`, `matched_rules` and `explain` use it.
    pub id: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A Rules-language expression.
    pub expression: String,
    /// What to do when the expression matches.
    pub action: FirewallAction,
    /// HTTP status for `block` (default 403; 400..=599).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Response body for `block`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Content type of `body`. Default `"text/plain"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// For `skip`: what to skip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip: Option<SkipConfig>,
    /// Disabled rules are compiled (so errors still show) but never run. Default true.
    #[serde(default = "yes")]
    pub enabled: bool,
}

/// What a `skip` rule skips.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SkipConfig {
    /// Ids of later firewall rules to skip.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
    /// Skip all remaining firewall rules.
    #[serde(default, skip_serializing_if = "is_false")]
    pub remaining: bool,
    /// Later phases to skip.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<SkippablePhase>,
}

#[expect(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if signature"
)]
fn is_false(b: &bool) -> bool {
    !*b
}

/// A phase that a `skip` rule can skip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkippablePhase {
    /// The rest of the firewall rules (same as `remaining = true`).
    Firewall,
    /// All rate limiting rules.
    RateLimiting,
    /// All cache rules (the request is not cached: level bypass).
    Cache,
}

/// `[rate_limiting]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RateLimitingConfig {
    /// Most counter keys the in-process store keeps (default 1,048,576). See
    /// [`crate::ratelimit::MemoryCounterStore`] for the eviction rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_budget: Option<u64>,
    /// `[[rate_limiting.rules]]`, all evaluated in order; the first that acts wins.
    #[serde(default)]
    pub rules: Vec<RateLimitRuleConfig>,
}

impl RateLimitingConfig {
    fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.key_budget.is_none()
    }
}

/// The action of a rate limiting rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitAction {
    /// Answer with `status` (default 429) and a `Retry-After`.
    Block,
    /// Interactive challenge.
    Challenge,
    /// Managed challenge.
    ManagedChallenge,
    /// JavaScript challenge.
    JsChallenge,
    /// Record and continue.
    Log,
}

/// `[[rate_limiting.rules]]`, in Cloudflare's form.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RateLimitRuleConfig {
    /// Stable id: counters survive a reload when the id (and period) are unchanged.
    pub id: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Which requests the rule applies to. Default: all requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// What identifies a counter: `ip.src`, `ip.src.country`, `http.host`,
    /// `http.request.uri.path`, `http.request.method`, `http.request.headers["name"]`,
    /// `http.request.cookies["name"]`, `cf.colo.id` (accepted, ignored: one edge) or any other
    /// scheme field supplied by the caller. Default `["ip.src"]`.
    #[serde(default = "default_characteristics")]
    pub characteristics: Vec<String>,
    /// Window length (seconds, or `"10s"`, `"1m"`, `"1h"`; 1 s ..= 1 day).
    pub period: DurationSecs,
    /// Requests allowed per period (at least 1).
    pub requests_per_period: u32,
    /// How long a key is acted on after it crosses the limit; 0 acts only on the excess.
    #[serde(default)]
    pub mitigation_timeout: DurationSecs,
    /// Which requests increment the counter. Default: those matching `expression`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counting_expression: Option<String>,
    /// What to do. Default `block`.
    #[serde(default = "default_rl_action")]
    pub action: RateLimitAction,
    /// HTTP status for `block` (default 429).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Response body for `block`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Content type of `body`. Default `"text/plain"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Default true.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn default_characteristics() -> Vec<String> {
    vec!["ip.src".to_owned()]
}
fn default_rl_action() -> RateLimitAction {
    RateLimitAction::Block
}

/// `[cache]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// `[[cache.rules]]`: every matching rule applies, in order; later fields override earlier.
    #[serde(default)]
    pub rules: Vec<CacheRuleConfig>,
    /// `[cache.classes.<name>]`: content classes and the TTL of their tier.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub classes: BTreeMap<String, ContentClassConfig>,
}

impl CacheConfig {
    fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.classes.is_empty()
    }
}

/// Cache level, as in Cloudflare's page rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CacheLevel {
    /// Never cached at the edge.
    Bypass,
    /// Cache static content by extension, honouring origin headers.
    #[default]
    Standard,
    /// Cache everything the rule matches.
    Aggressive,
}

impl CacheLevel {
    /// `"bypass"`, `"standard"` or `"aggressive"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            CacheLevel::Bypass => "bypass",
            CacheLevel::Standard => "standard",
            CacheLevel::Aggressive => "aggressive",
        }
    }
}

/// Cache tier of the design: edge, regional cache (Redis-like) or the database query cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CacheTier {
    /// The edge (PoP) cache.
    #[default]
    Edge,
    /// The regional cache next to the origin.
    Regional,
    /// The database query cache.
    Query,
}

impl CacheTier {
    /// `"edge"`, `"regional"` or `"query"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            CacheTier::Edge => "edge",
            CacheTier::Regional => "regional",
            CacheTier::Query => "query",
        }
    }
}

/// `[[cache.rules]]`: `url` (a page-rule pattern) or `expression`, or both (both must match).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CacheRuleConfig {
    /// Stable id.
    pub id: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Page-rule URL pattern such as `api.aybiza.com/static/*` (`*` matches any run of
    /// characters; an optional `http://` or `https://` prefix restricts the scheme).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// A Rules-language expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// Cache level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<CacheLevel>,
    /// Edge TTL (at most one year).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge_ttl: Option<DurationSecs>,
    /// Browser TTL (at most one year).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser_ttl: Option<DurationSecs>,
    /// Tier that serves the content when the edge does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<CacheTier>,
    /// Content class (a key of `[cache.classes]`); sets the tier and its TTL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// Cache key settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_key: Option<CacheKeyConfig>,
    /// Default true.
    #[serde(default = "yes")]
    pub enabled: bool,
}

/// `[cache.classes.<name>]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ContentClassConfig {
    /// Where this content is cached.
    pub tier: CacheTier,
    /// How long (at most one year, more than zero).
    pub ttl: DurationSecs,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Cache key settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CacheKeyConfig {
    /// Leave the query string out of the key. Default false.
    #[serde(default)]
    pub ignore_query_string: bool,
    /// Request headers whose values join the key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<String>,
    /// Cookies whose values join the key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cookies: Vec<String>,
    /// Add the client's country to the key. Default false.
    #[serde(default)]
    pub country: bool,
}

/// `[transforms]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TransformsConfig {
    /// Headers added to every forwarded request. Values may use `{region}`, `{country}`,
    /// `{client_ip}` and `{service}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub request_headers: BTreeMap<String, String>,
    /// Headers set on every response (forwarded or answered at the edge).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub response_headers: BTreeMap<String, String>,
    /// `[[transforms.rules]]`: conditional header edits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<TransformRuleConfig>,
    /// `[transforms.cors]`: answers CORS preflights at the edge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<CorsConfig>,
}

impl TransformsConfig {
    fn is_empty(&self) -> bool {
        self.request_headers.is_empty()
            && self.response_headers.is_empty()
            && self.rules.is_empty()
            && self.cors.is_none()
    }
}

/// `[[transforms.rules]]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TransformRuleConfig {
    /// Stable id.
    pub id: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// When the edits apply.
    pub expression: String,
    /// Request headers to set.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub request_headers: BTreeMap<String, String>,
    /// Response headers to set.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub response_headers: BTreeMap<String, String>,
    /// Default true.
    #[serde(default = "yes")]
    pub enabled: bool,
}

/// `[transforms.cors]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CorsConfig {
    /// Allowed origins (`https://app.example.com`), or `["*"]`.
    pub allow_origins: Vec<String>,
    /// Allowed methods. Default GET, POST, PUT, PATCH, DELETE, OPTIONS.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_methods: Vec<String>,
    /// Allowed request headers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_headers: Vec<String>,
    /// Response headers exposed to scripts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose_headers: Vec<String>,
    /// `Access-Control-Max-Age`. Default 86400 (one day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<DurationSecs>,
    /// `Access-Control-Allow-Credentials: true`. Default false (not allowed with `*`).
    #[serde(default)]
    pub allow_credentials: bool,
    /// Services whose hosts get CORS answers. Default: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
}

/// `[environments.<name>]`: what differs in one environment.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentOverlay {
    /// Per-service overrides. A URL pattern naming a base host of a service matches that
    /// service's hosts in this environment instead.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub services: BTreeMap<String, ServiceOverlay>,
    /// Replaces `policy.default_region`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_region: Option<String>,
    /// Replaces `transforms.cors.allow_origins`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors_allow_origins: Option<Vec<String>>,
    /// Ids of firewall, rate limiting, cache or transform rules turned off here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disable_rules: Vec<String>,
}

/// Per-service overrides in an environment.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServiceOverlay {
    /// Replaces the service's hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts: Option<Vec<String>>,
    /// Replaces `proxied`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxied: Option<bool>,
    /// Replaces `websocket`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub websocket: Option<bool>,
}

/// A duration in whole seconds, written as an integer or as a string with a unit: `"60s"`,
/// `"5m"`, `"24h"`, `"30d"`, `"1w"`, or a sum such as `"1h30m"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct DurationSecs(pub u64);

impl DurationSecs {
    /// Parses `"30d"`, `"1h30m"`, `"60"` ...
    ///
    /// # Errors
    /// A lowercase message naming the input.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        if t.is_empty() {
            return Err("empty duration".to_owned());
        }
        let mut total: u64 = 0;
        let mut num: Option<u64> = None;
        for c in t.chars() {
            if let Some(d) = c.to_digit(10) {
                let n = num.unwrap_or(0);
                num = Some(
                    n.checked_mul(10)
                        .and_then(|n| n.checked_add(u64::from(d)))
                        .ok_or_else(|| format!("duration `{text}` is too large"))?,
                );
            } else {
                let unit = match c {
                    's' => 1,
                    'm' => 60,
                    'h' => 3_600,
                    'd' => 86_400,
                    'w' => 604_800,
                    _ => {
                        return Err(format!(
                            "invalid duration `{text}`: expected seconds or a number with unit s, m, h, d or w"
                        ));
                    }
                };
                let n = num.take().ok_or_else(|| {
                    format!("invalid duration `{text}`: unit `{c}` without a number")
                })?;
                total = n
                    .checked_mul(unit)
                    .and_then(|v| total.checked_add(v))
                    .ok_or_else(|| format!("duration `{text}` is too large"))?;
            }
        }
        if let Some(n) = num {
            if total != 0 || t.chars().any(|c| !c.is_ascii_digit()) {
                return Err(format!(
                    "invalid duration `{text}`: number `{n}` has no unit"
                ));
            }
            total = n;
        }
        Ok(DurationSecs(total))
    }
}

impl fmt::Display for DurationSecs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        for (unit, size) in [("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60)] {
            if s >= size && s.is_multiple_of(size) {
                return write!(f, "{}{unit}", s / size);
            }
        }
        write!(f, "{s}s")
    }
}

impl Serialize for DurationSecs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DurationSecs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = DurationSecs;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration: seconds, or a string such as \"30d\", \"24h\", \"5m\"")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<DurationSecs, E> {
                u64::try_from(v)
                    .map(DurationSecs)
                    .map_err(|_| E::custom(format!("duration `{v}` is negative")))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<DurationSecs, E> {
                Ok(DurationSecs(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<DurationSecs, E> {
                DurationSecs::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(DurationSecs::parse("30d").unwrap().0, 2_592_000);
        assert_eq!(DurationSecs::parse("1h30m").unwrap().0, 5_400);
        assert_eq!(DurationSecs::parse("60s").unwrap().0, 60);
        assert_eq!(DurationSecs::parse("60").unwrap().0, 60);
        assert!(DurationSecs::parse("1h30").is_err());
        assert!(DurationSecs::parse("x").is_err());
        assert!(DurationSecs::parse("h").is_err());
        assert!(DurationSecs::parse("").is_err());
        assert!(DurationSecs::parse("99999999999999999999s").is_err());
        assert_eq!(DurationSecs(86_400).to_string(), "1d");
        assert_eq!(DurationSecs(90).to_string(), "90s");
    }

    #[test]
    fn duration_deserializes_from_int_and_string() {
        #[derive(Deserialize)]
        struct T {
            a: DurationSecs,
            b: DurationSecs,
        }
        let t: T = toml::from_str("a = 5\nb = \"5m\"").unwrap();
        assert_eq!((t.a.0, t.b.0), (5, 300));
        let err = toml::from_str::<T>("a = -5\nb = 1").err().unwrap();
        assert!(err.to_string().contains("negative"), "{err}");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = toml::from_str::<PolicyFile>("[policy]\nname = \"x\"\nnmae = 1\n")
            .err()
            .unwrap();
        assert!(err.message().contains("nmae"), "{err}");
    }
}
