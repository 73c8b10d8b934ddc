//! [`Policy`]: a policy file loaded, validated and compiled into an immutable snapshot.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

use edgeroute_rules::{FieldId, Filter, Scheme};

use crate::config::{CacheKeyConfig, CacheLevel, CacheTier, PolicyFile};
use crate::diag::{Diagnostic, PolicyErrors, Severity};
use crate::fields::FieldMap;
use crate::identity::TrustedProxies;
use crate::pattern::UrlPattern;
use crate::routing::CompiledRouting;
use crate::transform::{Cors, Template};

pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// The phase a rule belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// Client identity (no rules; appears in explanations).
    Identity,
    /// Firewall custom rules.
    Firewall,
    /// Rate limiting rules.
    RateLimiting,
    /// Cache rules.
    Cache,
    /// Origin routing.
    Routing,
    /// Transform rules and CORS.
    Transforms,
}

impl Phase {
    /// `"identity"`, `"firewall"`, `"rate_limiting"`, `"cache"`, `"routing"`, `"transforms"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Phase::Identity => "identity",
            Phase::Firewall => "firewall",
            Phase::RateLimiting => "rate_limiting",
            Phase::Cache => "cache",
            Phase::Routing => "routing",
            Phase::Transforms => "transforms",
        }
    }
}

/// What a policy says about one rule (any phase).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleInfo {
    pub(crate) id: Box<str>,
    pub(crate) phase: Phase,
    pub(crate) description: Option<Box<str>>,
}

impl RuleInfo {
    /// The rule's stable id.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }
    /// Its phase.
    #[must_use]
    pub fn phase(&self) -> Phase {
        self.phase
    }
    /// Its description, if any.
    #[must_use]
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
}

/// A service: hosts and their properties in the chosen environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub(crate) name: Box<str>,
    pub(crate) hosts: Box<[Box<str>]>,
    pub(crate) proxied: bool,
    pub(crate) websocket: bool,
}

impl Service {
    /// Its name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Its hosts (lowercase).
    pub fn hosts(&self) -> impl Iterator<Item = &str> {
        self.hosts.iter().map(|h| &**h)
    }
    /// Whether it is proxied through the edge.
    #[must_use]
    pub fn proxied(&self) -> bool {
        self.proxied
    }
    /// Whether it carries websockets.
    #[must_use]
    pub fn websocket(&self) -> bool {
        self.websocket
    }
}

#[derive(Debug, Clone)]
pub(crate) struct IdentityRules {
    pub(crate) trusted: TrustedProxies,
    pub(crate) client_ip_header: Box<[u8]>,
    pub(crate) forwarded_for_header: Box<[u8]>,
    pub(crate) max_hops: u32,
    pub(crate) country_header: Box<[u8]>,
    pub(crate) subdivision_header: Box<[u8]>,
    pub(crate) trace_header: Box<[u8]>,
    /// For a header-name length, which of the five headers above have that length (bit 0:
    /// client IP, 1: forwarded-for, 2: country, 3: subdivision, 4: trace).
    pub(crate) by_len: [u8; 64],
    /// The five names' [`crate::ascii::name_key`] fingerprints, by the bits above.
    pub(crate) keys: [(u64, u64); 5],
}

impl IdentityRules {
    /// The lowercase name of header `which` (the bits of [`IdentityRules::by_len`]).
    pub(crate) fn name(&self, which: usize) -> &[u8] {
        match which {
            0 => &self.client_ip_header,
            1 => &self.forwarded_for_header,
            2 => &self.country_header,
            3 => &self.subdivision_header,
            _ => &self.trace_header,
        }
    }

    /// Which identity header `name` is, among the candidates `mask` (from
    /// [`IdentityRules::by_len`] for its length), when its fingerprint is `key` (its raw or
    /// its case-folded [`crate::ascii::name_key`]).
    #[inline]
    pub(crate) fn candidate(&self, mut mask: u8, key: (u64, u64), name: &[u8]) -> Option<usize> {
        while mask != 0 {
            let which = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            if self.keys.get(which) == Some(&key)
                && (name.len() <= 16 || crate::ascii::eq_lowercase(name, self.name(which)))
            {
                return Some(which);
            }
        }
        None
    }
}

/// The kind of challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Challenge {
    Interactive,
    Managed,
    Js,
}

#[derive(Debug, Clone)]
pub(crate) enum FwAction {
    Block {
        status: u16,
        body: Option<u16>,
    },
    Challenge(Challenge),
    Log,
    Skip {
        rules: Box<[u32]>,
        rest: bool,
        rate_limiting: bool,
        cache: bool,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct FwRule {
    pub(crate) rule: u16,
    pub(crate) filter: Filter,
    pub(crate) action: FwAction,
    pub(crate) enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Characteristic {
    IpSrc,
    Field(FieldId),
    Header(Box<[u8]>),
    Cookie(Box<[u8]>),
    Ignored,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RlAction {
    Block { status: u16, body: Option<u16> },
    Challenge(Challenge),
    Log,
}

#[derive(Debug, Clone)]
pub(crate) struct RateRule {
    pub(crate) rule: u16,
    /// The counter key hashed as far as the rule's id and period (cloned per request).
    pub(crate) key: crate::ratelimit::CounterKeyBuilder,
    pub(crate) filter: Option<Filter>,
    pub(crate) counting: Option<Filter>,
    pub(crate) characteristics: Box<[Characteristic]>,
    pub(crate) period: u32,
    pub(crate) limit: u32,
    pub(crate) timeout: u32,
    pub(crate) action: RlAction,
    pub(crate) enabled: bool,
}

/// What a matching cache rule sets (unset fields leave earlier values).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CacheSet {
    pub(crate) level: Option<CacheLevel>,
    pub(crate) edge_ttl: Option<u32>,
    pub(crate) browser_ttl: Option<u32>,
    pub(crate) tier: Option<CacheTier>,
    pub(crate) class: Option<u16>,
    pub(crate) key: Option<u16>,
}

#[derive(Debug, Clone)]
pub(crate) struct CacheRule {
    pub(crate) rule: u16,
    pub(crate) url: Option<UrlPattern>,
    pub(crate) filter: Option<Filter>,
    pub(crate) set: CacheSet,
    pub(crate) enabled: bool,
}

/// A content class: where it is cached and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentClass {
    pub(crate) name: Box<str>,
    pub(crate) tier: CacheTier,
    pub(crate) ttl_s: u32,
}

impl ContentClass {
    /// Its name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Its tier.
    #[must_use]
    pub fn tier(&self) -> CacheTier {
        self.tier
    }
    /// Its TTL in seconds.
    #[must_use]
    pub fn ttl_s(&self) -> u32 {
        self.ttl_s
    }
}

#[derive(Debug, Clone)]
pub(crate) struct HeaderEdit {
    /// Lowercase.
    pub(crate) name: Box<str>,
    pub(crate) value: Template,
    /// Transform rules (bit i = rule i) at a later level that set the same name.
    pub(crate) shadowed_by: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct TransformRule {
    pub(crate) rule: u16,
    pub(crate) filter: Filter,
    pub(crate) request: Box<[HeaderEdit]>,
    pub(crate) response: Box<[HeaderEdit]>,
    pub(crate) enabled: bool,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Transforms {
    pub(crate) request: Box<[HeaderEdit]>,
    pub(crate) response: Box<[HeaderEdit]>,
    pub(crate) rules: Box<[TransformRule]>,
    pub(crate) cors: Option<Cors>,
    /// Whether a static request or response edit renders `{client_ip}` (fixed at load, so
    /// [`crate::Decision::edit_key`] need not walk the edits per request).
    pub(crate) client_ip_static: bool,
    /// Bit `i` set when transform rule `i` (of the first 64) has an edit rendering `{client_ip}`.
    pub(crate) client_ip_rules: u64,
}

impl Transforms {
    /// Whether any edit that applies under transform `mask` renders `{client_ip}` (shadowed or
    /// not, request edits even when the request is not forwarded: conservative).
    pub(crate) fn renders_client_ip(&self, mask: u64) -> bool {
        self.client_ip_static || mask & self.client_ip_rules != 0
    }
}

/// Firewall rules grouped by a literal they require, so a request only runs the rules that
/// can match it.
#[derive(Debug, Clone, Default)]
pub(crate) struct FirewallIndex {
    pub(crate) active: bool,
    pub(crate) by_host: FastMap<Box<[u8]>, Box<[u32]>>,
    pub(crate) by_path: FastMap<Box<[u8]>, Box<[u32]>>,
    pub(crate) by_ip: FastMap<IpAddr, Box<[u32]>>,
    pub(crate) always: Box<[u32]>,
}

/// A compiled policy: immutable, `Send + Sync + 'static`.
///
/// Build one with [`Policy::from_toml_str`] or [`Policy::load`]; run it with
/// [`crate::Engine`].
pub struct Policy {
    pub(crate) name: Box<str>,
    pub(crate) origin: Box<str>,
    pub(crate) environment: Box<str>,
    pub(crate) scheme: Scheme,
    pub(crate) fields: FieldMap,
    pub(crate) identity: IdentityRules,
    pub(crate) services: Box<[Service]>,
    /// Lowercase host -> host id (its position in `host_list`).
    pub(crate) hosts: FastMap<Box<[u8]>, u16>,
    /// (lowercase host, service index), sorted by host; the position is the host id.
    pub(crate) host_list: Box<[(Box<[u8]>, u16)]>,
    pub(crate) rules: Box<[RuleInfo]>,
    pub(crate) firewall: Box<[FwRule]>,
    pub(crate) fw_index: FirewallIndex,
    /// The `rate(<period>)` periods the expressions read, each with its counter key hashed as
    /// far as the period.
    pub(crate) rate_periods: Box<[(u32, crate::ratelimit::CounterKeyBuilder)]>,
    pub(crate) rate_rules: Box<[RateRule]>,
    pub(crate) cache_rules: Box<[CacheRule]>,
    /// For each host id, the cache rules whose URL pattern can match that host, in order (a
    /// request runs only those); the last entry is for hosts that are not policy hosts.
    pub(crate) cache_by_host: Box<[Box<[u16]>]>,
    pub(crate) classes: Box<[ContentClass]>,
    pub(crate) cache_keys: Box<[CacheKeyConfig]>,
    pub(crate) transforms: Transforms,
    pub(crate) bodies: Box<[(Box<str>, Box<str>)]>,
    pub(crate) default_region: Option<Box<str>>,
    pub(crate) key_budget: u64,
    pub(crate) routing: Option<CompiledRouting>,
    /// Routing service id per policy service index.
    pub(crate) route_service: Box<[Option<crate::routing::ServiceId>]>,
    /// The engine's health table bound to `routing`, set when an engine takes the policy (saves
    /// finding the binding on every routed request).
    pub(crate) health_binding: Option<crate::routing::HealthBinding>,
    pub(crate) config: PolicyFile,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("name", &self.name)
            .field("origin", &self.origin)
            .field("environment", &self.environment)
            .field("rules", &self.rules.len())
            .finish_non_exhaustive()
    }
}

impl Policy {
    /// Parses, validates and compiles a policy from TOML text. `origin` names the source in
    /// diagnostics (usually the file path). `env` chooses an environment overlay; `None` uses
    /// the policy's `default_environment` (default `"production"`).
    ///
    /// # Errors
    /// Every error found (with the warnings found along the way), each naming `origin`,
    /// line:col and key path. Nothing is half-loaded: either the whole policy compiles or none
    /// of it is returned.
    pub fn from_toml_str(
        text: &str,
        origin: &str,
        env: Option<&str>,
    ) -> Result<(Policy, Vec<Diagnostic>), PolicyErrors> {
        crate::compile::compile(text, origin, env)
    }

    /// Reads and compiles a policy file (the only function here that does I/O).
    ///
    /// # Errors
    /// An unreadable file, or anything [`Policy::from_toml_str`] reports.
    pub fn load(path: &Path, env: Option<&str>) -> Result<(Policy, Vec<Diagnostic>), PolicyErrors> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            let d = Diagnostic::new(
                Severity::Error,
                format!("cannot read policy file: {e}"),
                &origin,
            );
            PolicyErrors::one(d)
        })?;
        Self::from_toml_str(&text, &origin, env)
    }

    /// The policy's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where it was loaded from.
    #[must_use]
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The environment it was compiled for.
    #[must_use]
    pub fn environment(&self) -> &str {
        &self.environment
    }

    /// The Rules-language scheme (standard fields plus the policy's lists). Use it to find the
    /// [`FieldId`]s of fields a gateway supplies in [`crate::RequestView::fields`].
    #[must_use]
    pub fn scheme(&self) -> &Scheme {
        &self.scheme
    }

    /// Every rule, in phase order.
    #[must_use]
    pub fn rules(&self) -> &[RuleInfo] {
        &self.rules
    }

    /// The services.
    #[must_use]
    pub fn services(&self) -> &[Service] {
        &self.services
    }

    /// The content classes.
    #[must_use]
    pub fn content_classes(&self) -> &[ContentClass] {
        &self.classes
    }

    /// Cache-key settings by index (see [`crate::CacheDirective::key`]).
    #[must_use]
    pub fn cache_key(&self, index: u16) -> Option<&CacheKeyConfig> {
        self.cache_keys.get(usize::from(index))
    }

    /// The region named by `{region}` when routing chooses none.
    #[must_use]
    pub fn default_region(&self) -> Option<&str> {
        self.default_region.as_deref()
    }

    /// The counter key budget of the in-process store.
    #[must_use]
    pub fn key_budget(&self) -> u64 {
        self.key_budget
    }

    /// The compiled origin routing, when the policy has a `[routing]` section.
    #[must_use]
    pub fn routing(&self) -> Option<&CompiledRouting> {
        self.routing.as_ref()
    }

    /// The policy file as parsed (before the environment overlay).
    #[must_use]
    pub fn config(&self) -> &PolicyFile {
        &self.config
    }

    /// The service a host belongs to (ASCII case-insensitive, port ignored).
    #[must_use]
    pub fn service_for_host(&self, host: &[u8]) -> Option<&Service> {
        self.service_index(host)
            .and_then(|i| self.services.get(usize::from(i)))
    }

    pub(crate) fn service_index(&self, host: &[u8]) -> Option<u16> {
        self.host_lookup(crate::pattern::strip_port(host.trim_ascii()))
            .map(|(_, service)| service)
    }

    /// (host id, service index) for a host already trimmed and without its port.
    pub(crate) fn host_lookup(&self, host: &[u8]) -> Option<(u16, u16)> {
        // A handful of hosts: compare directly, no hashing.
        if self.host_list.len() <= 16 {
            let first = host.first().map(u8::to_ascii_lowercase);
            return self
                .host_list
                .iter()
                .position(|(h, _)| {
                    h.len() == host.len()
                        && h.first().copied() == first
                        && crate::ascii::eq_lowercase(host, h)
                })
                .and_then(|i| Some((u16::try_from(i).ok()?, self.host_list.get(i)?.1)));
        }
        let mut buf = [0u8; 255];
        let lower = buf.get_mut(..host.len())?;
        for (o, b) in lower.iter_mut().zip(host) {
            *o = b.to_ascii_lowercase();
        }
        let id = *self.hosts.get(&*lower)?;
        Some((id, self.host_list.get(usize::from(id))?.1))
    }

    /// The cache rules (indices into `cache_rules`) a request for `host_id` can match.
    pub(crate) fn cache_candidates(&self, host_id: Option<u16>) -> &[u16] {
        let i = host_id.map_or(self.cache_by_host.len().saturating_sub(1), usize::from);
        self.cache_by_host.get(i).map_or(&[], |v| &v[..])
    }

    pub(crate) fn rule(&self, index: u16) -> Option<&RuleInfo> {
        self.rules.get(usize::from(index))
    }
}
