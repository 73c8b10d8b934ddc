//! The scenario file as written: serde structs with `deny_unknown_fields` and documented
//! defaults. [`super::Scenario::from_toml_str`] checks these and turns them into a runnable
//! scenario.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::units::{ByteSize, Secs};

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// A short name shown in the report (default: the file name).
    pub name: Option<String>,
    /// What the scenario is for.
    pub description: Option<String>,
    /// The policy file, relative to the scenario file.
    pub policy: String,
    /// The policy environment overlay to load (`production`, `staging`, `development`).
    pub environment: Option<String>,
    /// The seed of every random stream (default 1).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Simulated time (default `"24h"`).
    #[serde(default = "default_duration")]
    pub duration: Secs,
    /// UTC time of day at virtual time zero (default `"0h"`, midnight UTC).
    #[serde(default)]
    pub start_utc: Secs,
    /// Width of one time-series interval in the report and `--csv-dir` (default `"15m"`).
    #[serde(default = "default_series_interval")]
    pub series_interval: Secs,
    /// Number of data-centre shards (default 16). Fixed by the scenario, not by the machine, so
    /// the report is the same on any number of threads.
    #[serde(default = "default_shards")]
    pub shards: u32,
    /// Synchronisation step between shards (default `"1s"`): health, alarms and rollbacks are
    /// evaluated at epoch boundaries.
    #[serde(default = "default_epoch")]
    pub epoch: Secs,
    /// Who sends what.
    pub traffic: TrafficConfig,
    /// Edge data centres and their caches.
    #[serde(default)]
    pub edge: EdgeConfig,
    /// Origin service times and capacity.
    #[serde(default)]
    pub origins: OriginsConfig,
    /// The regional (Redis-like) cache in each region.
    #[serde(default)]
    pub regional_cache: Option<TierConfig>,
    /// The database query cache in each region.
    #[serde(default)]
    pub database_cache: Option<DatabaseCacheConfig>,
    /// The network model (see the "Network model" section of the crate README).
    #[serde(default)]
    pub network: Option<toml::Table>,
    /// Latency targets (defaults: the design's).
    #[serde(default)]
    pub targets: TargetsConfig,
    /// Things that happen during the run.
    #[serde(default)]
    pub events: Vec<EventConfig>,
    /// Price overrides merged over the built-in price table.
    #[serde(default)]
    pub prices: Option<toml::Table>,
    /// How the cost section of the report is computed.
    #[serde(default)]
    pub cost: CostConfig,
}

fn default_seed() -> u64 {
    1
}
fn default_duration() -> Secs {
    Secs(86_400.0)
}
fn default_series_interval() -> Secs {
    Secs(900.0)
}
fn default_shards() -> u32 {
    16
}
fn default_epoch() -> Secs {
    Secs(1.0)
}

/// `[traffic]`: synthetic classes or a trace to replay.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficConfig {
    /// Mean requests per second over a whole day, before surges and attacks (synthetic only).
    #[serde(default)]
    pub rate: f64,
    /// Distinct client addresses (default 100,000).
    #[serde(default = "default_clients")]
    pub clients: u64,
    /// Relative traffic by the client's local hour, 24 values (default: a business-day curve
    /// peaking at 10:00-16:00 local and bottoming at 03:00-05:00, three to one).
    pub daily_shape: Option<Vec<f64>>,
    /// Where clients are.
    #[serde(default)]
    pub population: PopulationConfig,
    /// Automated clients.
    #[serde(default)]
    pub bots: BotConfig,
    /// Synthetic request classes; shares sum to 1.
    #[serde(default)]
    pub classes: Vec<ClassConfig>,
    /// Replay a CSV trace instead of synthetic classes.
    pub trace: Option<TraceConfig>,
}

fn default_clients() -> u64 {
    100_000
}

/// `[traffic.population]`: clients placed by population over countries and subdivisions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PopulationConfig {
    /// Only these countries (ISO 3166-1 alpha-2); default every country.
    pub only: Option<Vec<String>>,
    /// Countries to leave out.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Multipliers on a country's population weight (e.g. `{ US = 3.0 }` for a US-heavy user
    /// base).
    #[serde(default)]
    pub boost: BTreeMap<String, f64>,
    /// Place clients in subdivisions (by their population share) where the data has them
    /// (default true).
    #[serde(default = "yes")]
    pub subdivisions: bool,
}

fn yes() -> bool {
    true
}

impl Default for PopulationConfig {
    fn default() -> Self {
        PopulationConfig {
            only: None,
            exclude: Vec::new(),
            boost: BTreeMap::new(),
            subdivisions: true,
        }
    }
}

/// `[traffic.bots]`: the share of clients that are bots and the scores they carry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BotConfig {
    /// Share of clients that are bots (default 0.02).
    #[serde(default = "default_bot_share")]
    pub share: f64,
    /// Share of bots that are verified (search engines and the like; default 0.3).
    #[serde(default = "default_verified")]
    pub verified_share: f64,
    /// `cf.bot_management.score` range for bots (default `[1, 29]`).
    #[serde(default = "default_bot_score")]
    pub bot_score: [i64; 2],
    /// `cf.threat_score` range for bots (default `[0, 100]`).
    #[serde(default = "default_bot_threat")]
    pub threat_score: [i64; 2],
    /// `cf.bot_management.score` range for people (default `[30, 99]`).
    #[serde(default = "default_human_score")]
    pub human_bot_score: [i64; 2],
    /// `cf.threat_score` range for people (default `[0, 10]`).
    #[serde(default = "default_human_threat")]
    pub human_threat_score: [i64; 2],
    /// Share of a bot's requests relative to a person's (default 3.0: bots are busier).
    #[serde(default = "default_bot_activity")]
    pub activity: f64,
}

fn default_bot_share() -> f64 {
    0.02
}
fn default_verified() -> f64 {
    0.3
}
fn default_bot_score() -> [i64; 2] {
    [1, 29]
}
fn default_bot_threat() -> [i64; 2] {
    [0, 100]
}
fn default_human_score() -> [i64; 2] {
    [30, 99]
}
fn default_human_threat() -> [i64; 2] {
    [0, 10]
}
fn default_bot_activity() -> f64 {
    3.0
}

impl Default for BotConfig {
    fn default() -> Self {
        BotConfig {
            share: default_bot_share(),
            verified_share: default_verified(),
            bot_score: default_bot_score(),
            threat_score: default_bot_threat(),
            human_bot_score: default_human_score(),
            human_threat_score: default_human_threat(),
            activity: default_bot_activity(),
        }
    }
}

/// `[[traffic.classes]]`: one kind of request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassConfig {
    /// Name in the report.
    pub name: String,
    /// Share of requests (all shares sum to 1).
    pub share: f64,
    /// Host header.
    pub host: String,
    /// Path template: `{object}` is the object's rank, `{client}` the client's number.
    pub path: String,
    /// Method (default `GET`).
    #[serde(default = "default_method")]
    pub method: String,
    /// Number of distinct objects (default 1).
    #[serde(default = "one")]
    pub objects: u64,
    /// Zipf exponent of object popularity (default 0.8; 0 is uniform).
    #[serde(default = "default_zipf")]
    pub zipf: f64,
    /// Response size (default median 2 KB, p99 20 KB).
    #[serde(default)]
    pub size: SizeConfig,
    /// Origin service time for this class (default: the origin's).
    pub compute: Option<LatencyConfig>,
    /// Extra request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Content class cached in the regional cache, with its TTL (default: not cached there).
    pub regional_cache: Option<ContentClassConfig>,
    /// Database queries per origin request, through the database query cache (default 0).
    #[serde(default)]
    pub database_queries: u32,
    /// Number of distinct database queries this class issues (default: `objects`).
    pub database_keys: Option<u64>,
    /// Each request opens a websocket session of this length.
    pub session: Option<SessionConfig>,
}

fn default_method() -> String {
    "GET".to_owned()
}
fn one() -> u64 {
    1
}
fn default_zipf() -> f64 {
    0.8
}

/// A response size distribution: lognormal from median and p99, or fixed.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizeConfig {
    /// Median size.
    pub median: ByteSize,
    /// 99th percentile size (default: the median, i.e. fixed).
    pub p99: Option<ByteSize>,
}

impl Default for SizeConfig {
    fn default() -> Self {
        SizeConfig {
            median: ByteSize(2_000),
            p99: Some(ByteSize(20_000)),
        }
    }
}

/// A latency distribution: lognormal from p50 and p99 in milliseconds.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyConfig {
    /// Median in milliseconds.
    pub p50_ms: f64,
    /// 99th percentile in milliseconds.
    pub p99_ms: f64,
}

/// A content class held in the regional cache.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentClassConfig {
    /// The class name (e.g. `profiles`), for the report.
    pub class: String,
    /// Time to live in the regional cache.
    pub ttl: Secs,
}

/// A websocket (voice) session: its length.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    /// Median session length.
    pub median: Secs,
    /// 99th percentile session length.
    pub p99: Secs,
}

/// `[traffic.trace]`: replay a CSV trace (`timestamp,key,size` and optionally
/// `host,path,method,client_ip,country,status`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceConfig {
    /// The CSV file, relative to the scenario file.
    pub file: String,
    /// Skip malformed rows (counted in the report) instead of stopping at the first.
    #[serde(default)]
    pub skip_bad_rows: bool,
    /// Host for rows without one (default `api.aybiza.com`).
    #[serde(default = "default_trace_host")]
    pub host: String,
    /// Timestamps are in these units per second (default 1: seconds).
    #[serde(default = "one_f")]
    pub time_units_per_second: f64,
}

fn default_trace_host() -> String {
    "api.aybiza.com".to_owned()
}
fn one_f() -> f64 {
    1.0
}

/// `[edge]`: data centres and their caches.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeConfig {
    /// Data centres in use, by IATA code (default: every built-in data centre).
    pub colos: Option<Vec<String>>,
    /// The cache in each data centre (default S3-FIFO, 256 MiB).
    #[serde(default = "default_edge_cache")]
    pub cache: TierConfig,
    /// An upper-tier cache per region (Cloudflare's tiered cache); default none.
    pub upper_tier: Option<TierConfig>,
    /// Time a data centre spends on a request it answers itself (default 1 ms).
    #[serde(default = "default_edge_ms")]
    pub processing_ms: f64,
    /// Retry a request whose origin fails on the next healthy region (default true, as an
    /// edge load balancer does for connection errors).
    #[serde(default = "yes")]
    pub retry_on_failure: bool,
    /// Time an attempt to a dead origin takes to fail (default `"2s"`: connect timeout).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: Secs,
}

fn default_edge_cache() -> TierConfig {
    TierConfig {
        policy: "s3fifo".to_owned(),
        capacity: ByteSize(256 * 1_048_576),
        objects: false,
        hit_ms: None,
    }
}
fn default_edge_ms() -> f64 {
    1.0
}
fn default_connect_timeout() -> Secs {
    Secs(2.0)
}

impl Default for EdgeConfig {
    fn default() -> Self {
        EdgeConfig {
            colos: None,
            cache: default_edge_cache(),
            upper_tier: None,
            processing_ms: default_edge_ms(),
            retry_on_failure: true,
            connect_timeout: default_connect_timeout(),
        }
    }
}

/// One cache: eviction policy and capacity.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierConfig {
    /// Eviction policy: `lru`, `fifo`, `clock`, `sieve`, `s3fifo`, `wtinylfu`.
    pub policy: String,
    /// Capacity in bytes (or in objects when `objects = true`).
    pub capacity: ByteSize,
    /// Count capacity in objects instead of bytes (default false).
    #[serde(default)]
    pub objects: bool,
    /// Time to answer a hit, in milliseconds (regional cache default 1 ms).
    pub hit_ms: Option<f64>,
}

/// `[database_cache]`: the query cache in front of each region's database.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseCacheConfig {
    /// Eviction policy.
    pub policy: String,
    /// Capacity in bytes (or objects).
    pub capacity: ByteSize,
    /// Count capacity in objects (default true: one entry per query).
    #[serde(default = "yes")]
    pub objects: bool,
    /// Time to live of a cached query (default `"60s"`, the design's query cache).
    #[serde(default = "default_query_ttl")]
    pub ttl: Secs,
    /// Time to answer from the cache (default 0.5 ms).
    #[serde(default = "default_query_hit_ms")]
    pub hit_ms: f64,
    /// Database time for a query the cache misses (default p50 4 ms, p99 40 ms).
    #[serde(default = "default_query_db")]
    pub database: LatencyConfig,
}

fn default_query_ttl() -> Secs {
    Secs(60.0)
}
fn default_query_hit_ms() -> f64 {
    0.5
}
fn default_query_db() -> LatencyConfig {
    LatencyConfig {
        p50_ms: 4.0,
        p99_ms: 40.0,
    }
}

/// `[origins]`: service time and capacity per service and region.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OriginsConfig {
    /// Median service time in milliseconds (default 25).
    #[serde(default = "default_p50")]
    pub p50_ms: f64,
    /// 99th percentile service time in milliseconds (default 250).
    #[serde(default = "default_p99")]
    pub p99_ms: f64,
    /// Requests served at once per service and region (default 512).
    #[serde(default = "default_capacity")]
    pub capacity: u32,
    /// A request that would wait longer than this for a free slot is refused with 503
    /// (default `"1s"`).
    #[serde(default = "default_max_queue")]
    pub max_queue: Secs,
    /// Overrides for one service and/or region.
    #[serde(default, rename = "override")]
    pub overrides: Vec<OriginOverride>,
}

fn default_p50() -> f64 {
    25.0
}
fn default_p99() -> f64 {
    250.0
}
fn default_capacity() -> u32 {
    512
}
fn default_max_queue() -> Secs {
    Secs(1.0)
}

impl Default for OriginsConfig {
    fn default() -> Self {
        OriginsConfig {
            p50_ms: default_p50(),
            p99_ms: default_p99(),
            capacity: default_capacity(),
            max_queue: default_max_queue(),
            overrides: Vec::new(),
        }
    }
}

/// `[[origins.override]]`: the most specific match (service and region, then region, then
/// service) wins.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OriginOverride {
    /// The service (as the policy names it), or any.
    pub service: Option<String>,
    /// The region, or any.
    pub region: Option<String>,
    /// Median service time in milliseconds.
    pub p50_ms: Option<f64>,
    /// 99th percentile service time in milliseconds.
    pub p99_ms: Option<f64>,
    /// Requests served at once.
    pub capacity: Option<u32>,
}

/// `[targets]`: latency targets for p95 in milliseconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetsConfig {
    /// Percentile the targets apply to (default 0.95).
    #[serde(default = "default_target_quantile")]
    pub quantile: f64,
    /// Global target (default 120 ms).
    #[serde(default = "default_global_target")]
    pub global_ms: f64,
    /// Per continent (`NA`, `EU`, `AS`, `OC`, `SA`, `AF`); defaults NA 80, EU 100, AS 150,
    /// OC 150 (Asia Pacific), SA 180 (Latin America).
    #[serde(default = "default_continent_targets")]
    pub continents: BTreeMap<String, f64>,
    /// Share of the population that should be within 50 ms of an edge data centre (default 0.95,
    /// the design's claim).
    #[serde(default = "default_within_50")]
    pub population_within_50ms: f64,
}

fn default_target_quantile() -> f64 {
    0.95
}
fn default_global_target() -> f64 {
    120.0
}
fn default_within_50() -> f64 {
    0.95
}

/// The design's latency targets by continent.
#[must_use]
pub fn default_continent_targets() -> BTreeMap<String, f64> {
    [
        ("NA", 80.0),
        ("EU", 100.0),
        ("AS", 150.0),
        ("OC", 150.0),
        ("SA", 180.0),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

impl Default for TargetsConfig {
    fn default() -> Self {
        TargetsConfig {
            quantile: default_target_quantile(),
            global_ms: default_global_target(),
            continents: default_continent_targets(),
            population_within_50ms: default_within_50(),
        }
    }
}

/// `[[events]]`: one event. Which keys apply depends on `kind`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventConfig {
    /// `region_outage`, `origin_degradation`, `deploy`, `attack` or `surge`.
    pub kind: EventKind,
    /// The region (or `pool` / endpoint name) affected; attacks and surges take none.
    pub target: Option<String>,
    /// Restrict to one service (degradation and deploy; default every service).
    pub service: Option<String>,
    /// When it starts, from the beginning of the run.
    pub start: Secs,
    /// When it ends (give `end` or `duration`; a deploy with automatic rollback needs neither).
    pub end: Option<Secs>,
    /// How long it lasts.
    pub duration: Option<Secs>,
    /// Degradation and deploy: latency added to every affected request, in milliseconds.
    pub added_latency_ms: Option<f64>,
    /// Degradation and deploy: share of affected requests answered with 5xx.
    pub error_rate: Option<f64>,
    /// Deploy: share of the target's requests served by the new version.
    pub canary_weight: Option<f64>,
    /// Deploy: roll back automatically when the canary's error rate over `window` exceeds this.
    pub rollback_threshold: Option<f64>,
    /// Deploy: alarm evaluation window (default `"60s"`).
    pub window: Option<Secs>,
    /// Deploy: fewest canary requests in the window before the alarm may fire (default 20).
    pub min_requests: Option<u64>,
    /// Deploy: time from the alarm to the old version serving everything (default `"3m"`, the
    /// design's CodeDeploy figure; `"30s"` models switching the edge's origin instead).
    pub rollback: Option<Secs>,
    /// Attack: requests per second.
    pub rate: Option<f64>,
    /// Attack and surge: source countries (default: the normal population).
    pub countries: Option<Vec<String>>,
    /// Attack: distinct source addresses (default 1,000).
    pub addresses: Option<u64>,
    /// Attack: host (default `api.aybiza.com`).
    pub host: Option<String>,
    /// Attack: path (default `/api/v1/calls`).
    pub path: Option<String>,
    /// Attack: method (default `POST`).
    pub method: Option<String>,
    /// Attack: `cf.bot_management.score` range (default `[1, 10]`).
    pub bot_score: Option<[i64; 2]>,
    /// Attack: `cf.threat_score` range (default `[20, 90]`).
    pub threat_score: Option<[i64; 2]>,
    /// Surge: traffic multiplier at the peak (e.g. 3.0).
    pub multiplier: Option<f64>,
    /// Surge: time to ramp up to the multiplier and back down (default `"10m"`).
    pub ramp: Option<Secs>,
    /// Surge: only these traffic classes (default all).
    pub classes: Option<Vec<String>>,
    /// A label for the report (default `kind` and target).
    pub name: Option<String>,
}

/// The kinds of event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A whole region stops answering.
    RegionOutage,
    /// An origin gets slower and/or starts failing some requests.
    OriginDegradation,
    /// A new version goes out to a canary share, maybe bad, maybe rolled back.
    Deploy,
    /// An attack burst from some countries and addresses.
    Attack,
    /// More traffic than usual.
    Surge,
}

impl EventKind {
    /// The name used in the report (`region_outage`, ...).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::RegionOutage => "region_outage",
            EventKind::OriginDegradation => "origin_degradation",
            EventKind::Deploy => "deploy",
            EventKind::Attack => "attack",
            EventKind::Surge => "surge",
        }
    }
}

/// `[cost]`: the cost comparison.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostConfig {
    /// Also cost the same traffic scaled by these factors (e.g. `[0.1, 1, 10]`).
    #[serde(default)]
    pub volumes: Vec<f64>,
    /// Each simulated request stands for this many real ones in the cost model (default 1).
    #[serde(default = "one_f")]
    pub scale: f64,
}

impl Default for CostConfig {
    fn default() -> Self {
        CostConfig {
            volumes: Vec::new(),
            scale: 1.0,
        }
    }
}
