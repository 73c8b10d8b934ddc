//! Checks on a deserialised scenario that serde cannot express: ranges, sums, references to
//! countries, regions and data centres, and which event keys apply to which kind.

use std::collections::BTreeSet;

use super::error::ScenarioError;
use super::model::{EventConfig, EventKind, ScenarioFile};
use super::spans::SpanIndex;

struct Ctx<'a> {
    text: &'a str,
    origin: &'a str,
    spans: &'a SpanIndex<'a>,
    errors: &'a mut Vec<ScenarioError>,
}

impl Ctx<'_> {
    fn error(&self, path: &str, message: String) -> ScenarioError {
        ScenarioError::new(self.origin, self.text, path, self.spans.span(path), message)
    }

    fn err(&mut self, path: &str, message: String) {
        let e = self.error(path, message);
        self.errors.push(e);
    }

    fn err_help(&mut self, path: &str, message: String, help: &str) {
        let e = self.error(path, message).with_help(help);
        self.errors.push(e);
    }

    fn non_negative(&mut self, path: &str, what: &str, v: f64) {
        if !(v.is_finite() && v >= 0.0) {
            self.err(
                path,
                format!("{what} must be a non-negative number, not `{v}`"),
            );
        }
    }

    fn positive(&mut self, path: &str, what: &str, v: f64) {
        if !(v.is_finite() && v > 0.0) {
            self.err(path, format!("{what} must be a positive number, not `{v}`"));
        }
    }

    fn share(&mut self, path: &str, what: &str, v: f64) {
        if !(0.0..=1.0).contains(&v) {
            self.err(path, format!("{what} must be between 0 and 1, not `{v}`"));
        }
    }

    fn range(&mut self, path: &str, what: &str, r: [i64; 2], lo: i64, hi: i64) {
        let [a, b] = r;
        if a > b || a < lo || b > hi {
            self.err(
                path,
                format!(
                    "{what} must be a range `[low, high]` within {lo}..={hi}, not `[{a}, {b}]`"
                ),
            );
        }
    }

    fn country(&mut self, path: &str, code: &str) {
        if edgeroute_geo::country(code).is_none() {
            self.err_help(
                path,
                format!("unknown country `{code}`"),
                "countries are ISO 3166-1 alpha-2 codes such as `US`, `DE`, `JP`",
            );
        }
    }

    fn region(&mut self, path: &str, code: &str) {
        if edgeroute_geo::aws_region(code).is_none() {
            self.err_help(
                path,
                format!("unknown region `{code}`"),
                "regions are AWS region codes such as `us-east-1`, `eu-west-2`",
            );
        }
    }
}

/// Policies the cache helper implements (checked by name here so the error points at the file).
const CACHE_POLICIES: &[&str] = &[
    "lru",
    "fifo",
    "clock",
    "sieve",
    "s3fifo",
    "s3-fifo",
    "wtinylfu",
    "w-tinylfu",
    "tinylfu",
];

const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
];

pub(super) fn check(
    f: &ScenarioFile,
    text: &str,
    origin: &str,
    spans: &SpanIndex<'_>,
    errors: &mut Vec<ScenarioError>,
) {
    let mut c = Ctx {
        text,
        origin,
        spans,
        errors,
    };
    let duration = f.duration.0;
    if duration <= 0.0 {
        c.err("duration", "duration must be longer than zero".to_owned());
    }
    if duration > 366.0 * 86_400.0 {
        c.err(
            "duration",
            format!("duration of `{duration}` s is longer than a year"),
        );
    }
    if f.start_utc.0 >= 86_400.0 {
        c.err(
            "start_utc",
            "start_utc is a time of day and must be below 24h".to_owned(),
        );
    }
    if f.series_interval.0 < 1.0 {
        c.err(
            "series_interval",
            "series_interval must be at least 1s".to_owned(),
        );
    }
    if !(0.001..=60.0).contains(&f.epoch.0) {
        c.err("epoch", "epoch must be between 1ms and 60s".to_owned());
    }
    if !(1..=4096).contains(&f.shards) {
        c.err(
            "shards",
            format!("shards must be between 1 and 4096, not `{}`", f.shards),
        );
    }
    check_traffic(f, &mut c);
    check_edge(f, &mut c);
    check_origins(f, &mut c);
    check_targets(f, &mut c);
    for (i, e) in f.events.iter().enumerate() {
        check_event(f, e, i, duration, &mut c);
    }
    if f.cost.volumes.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
        c.err(
            "cost.volumes",
            "every cost volume must be a positive factor".to_owned(),
        );
    }
    c.positive("cost.scale", "cost.scale", f.cost.scale);
}

fn check_traffic(f: &ScenarioFile, c: &mut Ctx<'_>) {
    let t = &f.traffic;
    if t.trace.is_none() {
        if t.rate < 0.0 || !t.rate.is_finite() {
            c.err_help(
                "traffic.rate",
                format!("negative rate `{}`", t.rate),
                "traffic.rate is the mean number of requests per second over a day",
            );
        } else if t.rate == 0.0 {
            c.err(
                "traffic.rate",
                "traffic.rate must be above zero for synthetic traffic".to_owned(),
            );
        }
        if t.classes.is_empty() {
            c.err_help(
                "traffic",
                "no traffic classes".to_owned(),
                "add `[[traffic.classes]]` tables, or a `[traffic.trace]` to replay",
            );
        }
    }
    if t.clients == 0 {
        c.err(
            "traffic.clients",
            "traffic.clients must be at least 1".to_owned(),
        );
    }
    if let Some(shape) = &t.daily_shape {
        if shape.len() != 24 {
            c.err(
                "traffic.daily_shape",
                format!("daily_shape needs 24 hourly values, not {}", shape.len()),
            );
        }
        if shape.iter().any(|v| !(v.is_finite() && *v >= 0.0)) || shape.iter().sum::<f64>() <= 0.0 {
            c.err(
                "traffic.daily_shape",
                "daily_shape values must be non-negative with a positive sum".to_owned(),
            );
        }
    }
    // Classes.
    let mut names = BTreeSet::new();
    let mut sum = 0.0;
    for (i, k) in t.classes.iter().enumerate() {
        let p = format!("traffic.classes[{i}]");
        if !names.insert(k.name.as_str()) {
            c.err(
                &format!("{p}.name"),
                format!("duplicate class name `{}`", k.name),
            );
        }
        c.share(&format!("{p}.share"), "a class share", k.share);
        sum += k.share;
        if k.objects == 0 {
            c.err(
                &format!("{p}.objects"),
                "objects must be at least 1".to_owned(),
            );
        }
        if !(k.zipf.is_finite() && (0.0..=10.0).contains(&k.zipf)) {
            c.err(
                &format!("{p}.zipf"),
                format!("zipf must be between 0 and 10, not `{}`", k.zipf),
            );
        }
        if k.size.median.0 == 0 {
            c.err(
                &format!("{p}.size.median"),
                "a size must be at least 1 byte".to_owned(),
            );
        }
        if let Some(p99) = k.size.p99
            && p99 < k.size.median
        {
            c.err(
                &format!("{p}.size.p99"),
                "size p99 must not be below its median".to_owned(),
            );
        }
        if let Some(l) = &k.compute {
            check_latency(c, &format!("{p}.compute"), l.p50_ms, l.p99_ms);
        }
        if !METHODS.contains(&k.method.as_str()) {
            c.err(
                &format!("{p}.method"),
                format!("unknown method `{}`", k.method),
            );
        }
        if !k.path.starts_with('/') {
            c.err(
                &format!("{p}.path"),
                format!("path `{}` must start with `/`", k.path),
            );
        }
        if let Err(why) = crate::traffic::Template::parse(&k.path) {
            c.err(&format!("{p}.path"), why);
        }
        if k.host.is_empty() || k.host.contains(['/', ' ']) {
            c.err(&format!("{p}.host"), format!("bad host `{}`", k.host));
        }
        if let Some(s) = &k.session
            && (s.median.0 <= 0.0 || s.p99.0 < s.median.0)
        {
            c.err(
                &format!("{p}.session"),
                "a session needs 0 < median <= p99".to_owned(),
            );
        }
        if let Some(rc) = &k.regional_cache {
            if rc.ttl.0 <= 0.0 {
                c.err(
                    &format!("{p}.regional_cache.ttl"),
                    "a cache ttl must be above zero".to_owned(),
                );
            }
            if f.regional_cache.is_none() {
                c.err_help(
                    &format!("{p}.regional_cache"),
                    format!(
                        "class `{}` uses the regional cache but there is none",
                        k.name
                    ),
                    "add a `[regional_cache]` table",
                );
            }
        }
        if k.database_queries > 0 && f.database_cache.is_none() {
            c.err_help(
                &format!("{p}.database_queries"),
                format!(
                    "class `{}` makes database queries but there is no database cache",
                    k.name
                ),
                "add a `[database_cache]` table",
            );
        }
        if k.database_keys == Some(0) {
            c.err(
                &format!("{p}.database_keys"),
                "database_keys must be at least 1".to_owned(),
            );
        }
    }
    if !t.classes.is_empty() && (sum - 1.0).abs() > 1e-6 {
        c.err_help(
            "traffic.classes",
            format!("class shares sum to {sum}, not 1"),
            "each class's `share` is its fraction of all requests",
        );
    }
    // Population.
    let pop = &t.population;
    if let Some(only) = &pop.only {
        for (i, code) in only.iter().enumerate() {
            c.country(&format!("traffic.population.only[{i}]"), code);
        }
        if only.is_empty() {
            c.err(
                "traffic.population.only",
                "population.only lists no country".to_owned(),
            );
        }
    }
    for (i, code) in pop.exclude.iter().enumerate() {
        c.country(&format!("traffic.population.exclude[{i}]"), code);
    }
    for (code, w) in &pop.boost {
        let p = format!("traffic.population.boost.{code}");
        c.country(&p, code);
        c.non_negative(&p, "a population boost", *w);
    }
    let b = &t.bots;
    c.share("traffic.bots.share", "the bot share", b.share);
    c.share(
        "traffic.bots.verified_share",
        "the verified bot share",
        b.verified_share,
    );
    c.range("traffic.bots.bot_score", "bot_score", b.bot_score, 1, 99);
    c.range(
        "traffic.bots.human_bot_score",
        "human_bot_score",
        b.human_bot_score,
        1,
        99,
    );
    c.range(
        "traffic.bots.threat_score",
        "threat_score",
        b.threat_score,
        0,
        100,
    );
    c.range(
        "traffic.bots.human_threat_score",
        "human_threat_score",
        b.human_threat_score,
        0,
        100,
    );
    c.positive("traffic.bots.activity", "bot activity", b.activity);
    if let Some(tr) = &t.trace {
        c.positive(
            "traffic.trace.time_units_per_second",
            "time_units_per_second",
            tr.time_units_per_second,
        );
    }
}

fn check_latency(c: &mut Ctx<'_>, path: &str, p50: f64, p99: f64) {
    if !(p50.is_finite() && p50 > 0.0) {
        c.err(
            &format!("{path}.p50_ms"),
            format!("p50_ms must be above zero, not `{p50}`"),
        );
    }
    if !(p99.is_finite() && p99 >= p50) {
        c.err(
            &format!("{path}.p99_ms"),
            format!("p99_ms `{p99}` must not be below p50_ms `{p50}`"),
        );
    }
}

fn check_tier(c: &mut Ctx<'_>, path: &str, policy: &str, capacity: u64) {
    if !CACHE_POLICIES.contains(&policy.to_ascii_lowercase().as_str()) {
        c.err_help(
            &format!("{path}.policy"),
            format!("unknown cache policy `{policy}`"),
            "use lru, fifo, clock, sieve, s3fifo or wtinylfu",
        );
    }
    if capacity == 0 {
        c.err(
            &format!("{path}.capacity"),
            "a cache capacity must be above zero".to_owned(),
        );
    }
}

fn check_edge(f: &ScenarioFile, c: &mut Ctx<'_>) {
    let e = &f.edge;
    if let Some(colos) = &e.colos {
        if colos.is_empty() {
            c.err("edge.colos", "edge.colos lists no data centre".to_owned());
        }
        for (i, code) in colos.iter().enumerate() {
            if edgeroute_geo::colo(code).is_none() {
                c.err_help(
                    &format!("edge.colos[{i}]"),
                    format!("unknown data centre `{code}`"),
                    "data centres are IATA codes such as `IAD`, `LHR`, `NRT`",
                );
            }
        }
    }
    check_tier(c, "edge.cache", &e.cache.policy, e.cache.capacity.0);
    if let Some(u) = &e.upper_tier {
        check_tier(c, "edge.upper_tier", &u.policy, u.capacity.0);
    }
    c.non_negative("edge.processing_ms", "edge.processing_ms", e.processing_ms);
    if let Some(r) = &f.regional_cache {
        check_tier(c, "regional_cache", &r.policy, r.capacity.0);
        if let Some(h) = r.hit_ms {
            c.non_negative("regional_cache.hit_ms", "regional_cache.hit_ms", h);
        }
    }
    if let Some(d) = &f.database_cache {
        check_tier(c, "database_cache", &d.policy, d.capacity.0);
        c.non_negative("database_cache.hit_ms", "database_cache.hit_ms", d.hit_ms);
        check_latency(
            c,
            "database_cache.database",
            d.database.p50_ms,
            d.database.p99_ms,
        );
        if d.ttl.0 <= 0.0 {
            c.err(
                "database_cache.ttl",
                "a cache ttl must be above zero".to_owned(),
            );
        }
    }
}

fn check_origins(f: &ScenarioFile, c: &mut Ctx<'_>) {
    let o = &f.origins;
    check_latency(c, "origins", o.p50_ms, o.p99_ms);
    if o.capacity == 0 {
        c.err(
            "origins.capacity",
            "origin capacity must be at least 1".to_owned(),
        );
    }
    for (i, ov) in o.overrides.iter().enumerate() {
        let p = format!("origins.override[{i}]");
        if let Some(r) = &ov.region {
            c.region(&format!("{p}.region"), r);
        }
        if ov.capacity == Some(0) {
            c.err(
                &format!("{p}.capacity"),
                "origin capacity must be at least 1".to_owned(),
            );
        }
        let p50 = ov.p50_ms.unwrap_or(o.p50_ms);
        let p99 = ov.p99_ms.unwrap_or(o.p99_ms.max(p50));
        check_latency(c, &p, p50, p99);
    }
}

fn check_targets(f: &ScenarioFile, c: &mut Ctx<'_>) {
    let t = &f.targets;
    if !(t.quantile > 0.0 && t.quantile < 1.0) {
        c.err(
            "targets.quantile",
            format!(
                "targets.quantile must be between 0 and 1, not `{}`",
                t.quantile
            ),
        );
    }
    c.positive("targets.global_ms", "targets.global_ms", t.global_ms);
    for (k, v) in &t.continents {
        let p = format!("targets.continents.{k}");
        if !matches!(k.as_str(), "NA" | "EU" | "AS" | "OC" | "SA" | "AF" | "AN") {
            c.err_help(
                &p,
                format!("unknown continent `{k}`"),
                "use NA, EU, AS, OC, SA or AF",
            );
        }
        c.positive(&p, "a latency target", *v);
    }
    c.share(
        "targets.population_within_50ms",
        "targets.population_within_50ms",
        t.population_within_50ms,
    );
}

fn check_event(f: &ScenarioFile, e: &EventConfig, i: usize, duration: f64, c: &mut Ctx<'_>) {
    let p = format!("events[{i}]");
    let kind = e.kind;
    // Which keys apply to which kind.
    let allowed: &[&str] = match kind {
        EventKind::RegionOutage => &["target", "end", "duration"],
        EventKind::OriginDegradation => &[
            "target",
            "service",
            "end",
            "duration",
            "added_latency_ms",
            "error_rate",
        ],
        EventKind::Deploy => &[
            "target",
            "service",
            "end",
            "duration",
            "added_latency_ms",
            "error_rate",
            "canary_weight",
            "rollback_threshold",
            "window",
            "min_requests",
            "rollback",
        ],
        EventKind::Attack => &[
            "end",
            "duration",
            "rate",
            "countries",
            "addresses",
            "host",
            "path",
            "method",
            "bot_score",
            "threat_score",
        ],
        EventKind::Surge => &[
            "end",
            "duration",
            "multiplier",
            "ramp",
            "countries",
            "classes",
        ],
    };
    let present: &[(&str, bool)] = &[
        ("target", e.target.is_some()),
        ("service", e.service.is_some()),
        ("end", e.end.is_some()),
        ("duration", e.duration.is_some()),
        ("added_latency_ms", e.added_latency_ms.is_some()),
        ("error_rate", e.error_rate.is_some()),
        ("canary_weight", e.canary_weight.is_some()),
        ("rollback_threshold", e.rollback_threshold.is_some()),
        ("window", e.window.is_some()),
        ("min_requests", e.min_requests.is_some()),
        ("rollback", e.rollback.is_some()),
        ("rate", e.rate.is_some()),
        ("countries", e.countries.is_some()),
        ("addresses", e.addresses.is_some()),
        ("host", e.host.is_some()),
        ("path", e.path.is_some()),
        ("method", e.method.is_some()),
        ("bot_score", e.bot_score.is_some()),
        ("threat_score", e.threat_score.is_some()),
        ("multiplier", e.multiplier.is_some()),
        ("ramp", e.ramp.is_some()),
        ("classes", e.classes.is_some()),
    ];
    for &(key, is_set) in present {
        if is_set && !allowed.contains(&key) {
            c.err(
                &format!("{p}.{key}"),
                format!("`{key}` does not apply to `{}` events", kind.as_str()),
            );
        }
    }
    if kind == EventKind::Surge && e.multiplier.is_none() {
        c.err(&p, "a surge needs a `multiplier`".to_owned());
    }
    // Timing.
    let start = e.start.0;
    if start >= duration {
        c.err_help(
            &format!("{p}.start"),
            format!("event starts at {start} s, after the scenario ends ({duration} s)"),
            "events must happen inside the scenario's duration",
        );
    }
    if e.end.is_some() && e.duration.is_some() {
        c.err(
            &format!("{p}.duration"),
            "give `end` or `duration`, not both".to_owned(),
        );
    }
    let end = e.end.map(|x| x.0).or(e.duration.map(|d| start + d.0));
    if let Some(end) = end {
        if end <= start {
            c.err(
                &format!("{p}.end"),
                "an event must end after it starts".to_owned(),
            );
        }
        if end > duration {
            let key = if e.end.is_some() { "end" } else { "duration" };
            c.err_help(
                &format!("{p}.{key}"),
                format!("event ends at {end} s, after the scenario ends ({duration} s)"),
                "events must happen inside the scenario's duration",
            );
        }
    } else {
        let auto = kind == EventKind::Deploy && e.rollback_threshold.is_some();
        if !auto {
            c.err(
                &p,
                format!("a `{}` event needs `end` or `duration`", kind.as_str()),
            );
        }
    }
    // Targets.
    match kind {
        EventKind::RegionOutage | EventKind::OriginDegradation | EventKind::Deploy => {
            match &e.target {
                None => c.err(
                    &p,
                    format!("a `{}` event needs a `target` region", kind.as_str()),
                ),
                Some(t) => c.region(&format!("{p}.target"), t),
            }
        }
        EventKind::Attack | EventKind::Surge => {}
    }
    if let Some(er) = e.error_rate {
        c.share(&format!("{p}.error_rate"), "error_rate", er);
    }
    if let Some(ms) = e.added_latency_ms {
        c.non_negative(&format!("{p}.added_latency_ms"), "added_latency_ms", ms);
    }
    if kind == EventKind::Deploy {
        match e.canary_weight {
            None => c.err(&p, "a deploy needs a `canary_weight`".to_owned()),
            Some(w) => c.share(&format!("{p}.canary_weight"), "canary_weight", w),
        }
        if let Some(th) = e.rollback_threshold {
            c.share(&format!("{p}.rollback_threshold"), "rollback_threshold", th);
        }
        if let Some(w) = e.window
            && w.0 < 1.0
        {
            c.err(
                &format!("{p}.window"),
                "an alarm window must be at least 1s".to_owned(),
            );
        }
    }
    if kind == EventKind::Attack {
        match e.rate {
            None => c.err(
                &p,
                "an attack needs a `rate` (requests per second)".to_owned(),
            ),
            Some(r) if !(r.is_finite() && r > 0.0) => {
                c.err(
                    &format!("{p}.rate"),
                    format!("an attack rate must be above zero, not `{r}`"),
                );
            }
            Some(_) => {}
        }
        if e.addresses == Some(0) {
            c.err(
                &format!("{p}.addresses"),
                "an attack needs at least one address".to_owned(),
            );
        }
        if let Some(r) = e.bot_score {
            c.range(&format!("{p}.bot_score"), "bot_score", r, 1, 99);
        }
        if let Some(r) = e.threat_score {
            c.range(&format!("{p}.threat_score"), "threat_score", r, 0, 100);
        }
        if let Some(m) = &e.method
            && !METHODS.contains(&m.as_str())
        {
            c.err(&format!("{p}.method"), format!("unknown method `{m}`"));
        }
        if let Some(path) = &e.path
            && !path.starts_with('/')
        {
            c.err(
                &format!("{p}.path"),
                format!("path `{path}` must start with `/`"),
            );
        }
    }
    if let Some(countries) = &e.countries {
        for (j, code) in countries.iter().enumerate() {
            c.country(&format!("{p}.countries[{j}]"), code);
        }
    }
    if let Some(m) = e.multiplier
        && !(m.is_finite() && m > 0.0)
    {
        c.err(
            &format!("{p}.multiplier"),
            format!("a surge multiplier must be above zero, not `{m}`"),
        );
    }
    if let Some(classes) = &e.classes {
        for (j, name) in classes.iter().enumerate() {
            if !f.traffic.classes.iter().any(|k| &k.name == name) {
                c.err(
                    &format!("{p}.classes[{j}]"),
                    format!("unknown traffic class `{name}`"),
                );
            }
        }
    }
}
