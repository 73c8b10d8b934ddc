//! Stage B: one region's origin side. Takes the region's origin-bound requests from every
//! shard in a fixed merge order (time, shard, sequence), runs the upper-tier cache, the
//! regional and database caches, event effects (degradation, canary), and the origin queues.

use edgeroute::config::CacheTier;
use std::sync::Arc;

use edgeroute::Policy;
use edgeroute::routing::{EndpointId, HealthTable, PassiveEffect, PassiveResult};

use super::shard::ms_to_us;
use super::stats::{DATABASE, REGIONAL, Stats, UPPER};
use super::tier::TierCache;
use super::{Ctx, EpochState, OriginJob};
use crate::origin::{OriginOutcome, OriginQueue};
use crate::rng::{SimRng, mix64};
use crate::scenario::EventKind;
use crate::traffic::Source;

/// One region's origin side.
pub(crate) struct OriginSide {
    pub region: u16,
    upper: Option<TierCache>,
    regional: Option<TierCache>,
    database: Option<TierCache>,
    /// Per service.
    origins: Vec<OriginQueue>,
    rng: SimRng,
    pub stats: Stats,
    /// Passive results for each shard's engine (only endpoints with outlier detection).
    pub feedback: Vec<Vec<(u64, EndpointId, PassiveResult)>>,
    /// This epoch's canary requests and errors per event.
    pub canary: Vec<(u64, u64)>,
    /// One queue of origin-bound jobs per shard, swapped in each epoch.
    inputs: Vec<Vec<OriginJob>>,
    cursor: Vec<(usize, usize)>,
    policy: Arc<Policy>,
    /// A scratch health table, used only to ask whether an endpoint's pool has outlier
    /// detection (so passive results are sent back only where they matter).
    scratch: HealthTable,
    /// Per endpoint: 0 not yet known, 1 no outlier detection, 2 outlier detection.
    outlier: Vec<u8>,
}

impl OriginSide {
    pub(crate) fn new(ctx: &Ctx, region: u16, stats: Stats, policy: Arc<Policy>) -> Self {
        let scratch = HealthTable::new();
        if let Some(rt) = policy.routing() {
            scratch.register(rt);
        }
        OriginSide {
            policy,
            scratch,
            outlier: Vec::new(),
            region,
            upper: ctx.has_upper.then(|| ctx.upper_cache()),
            regional: ctx.regional.as_ref().map(|t| ctx.tier_cache(t)),
            database: ctx.database.as_ref().map(|t| ctx.tier_cache(&t.tier)),
            origins: (0..ctx.services.len())
                .map(|s| ctx.origin_queue(s, region))
                .collect(),
            rng: SimRng::stream(ctx.seed, "origin", u64::from(region)),
            stats,
            feedback: (0..ctx.shards).map(|_| Vec::new()).collect(),
            canary: vec![(0, 0); ctx.events.len()],
            inputs: (0..ctx.shards).map(|_| Vec::new()).collect(),
            cursor: Vec::new(),
        }
    }

    /// Swaps shard `s`'s queue for this region (`out[region]`) with this side's input slot
    /// `s`: the side gets the epoch's jobs, the shard gets back an empty queue with capacity.
    pub(crate) fn swap_input(&mut self, s: usize, out: &mut [Vec<OriginJob>], region: usize) {
        if let (Some(a), Some(b)) = (out.get_mut(region), self.inputs.get_mut(s)) {
            std::mem::swap(a, b);
        }
    }

    /// Processes the jobs of one epoch (in `self.inputs`, one queue per shard). They are taken
    /// in (time, shard, sequence) order by a k-way merge over the shards' queues (each already
    /// in that order), so nothing is copied or sorted; the queues are left empty.
    pub(crate) fn run_epoch(&mut self, ctx: &Ctx, st: &EpochState) {
        for c in &mut self.canary {
            *c = (0, 0);
        }
        let mut inputs = std::mem::take(&mut self.inputs);
        if inputs.iter().all(Vec::is_empty) {
            self.inputs = inputs;
            return;
        }
        for v in &mut inputs {
            if !v.is_sorted_by_key(|j| (j.t_us, j.seq)) {
                v.sort_by_key(|j| (j.t_us, j.seq));
            }
        }
        // Only the shards that sent something take part in the merge (in a typical epoch a
        // region hears from a few of them): (shard index, next position) per such shard.
        let mut cursor = std::mem::take(&mut self.cursor);
        cursor.clear();
        cursor.extend(
            inputs
                .iter()
                .enumerate()
                .filter(|(_, v)| !v.is_empty())
                .map(|(s, _)| (s, 0)),
        );
        loop {
            // INVARIANT: (t, shard, seq) is unique, so the order is total and thread-independent.
            let mut best: Option<(u64, u32, u64, usize)> = None;
            for (k, &(s, c)) in cursor.iter().enumerate() {
                if let Some(j) = inputs.get(s).and_then(|v| v.get(c)) {
                    let key = (j.t_us, j.shard, j.seq, k);
                    if best.is_none_or(|b| key < b) {
                        best = Some(key);
                    }
                }
            }
            let Some((_, _, _, k)) = best else { break };
            let Some(&mut (s, ref mut c)) = cursor.get_mut(k) else {
                break;
            };
            let idx = *c;
            *c += 1;
            let input = inputs.get(s);
            if input.is_some_and(|v| *c >= v.len()) {
                cursor.swap_remove(k);
            }
            if let Some(job) = input.and_then(|v| v.get(idx)) {
                self.job(ctx, st, job);
            }
        }
        for v in &mut inputs {
            v.clear();
        }
        self.inputs = inputs;
        self.cursor = cursor;
    }

    fn job(&mut self, ctx: &Ctx, st: &EpochState, j: &OriginJob) {
        let t = j.t_us;
        let bucket = ctx.bucket(t);
        // Upper tier (Cloudflare's tiered cache), near the origin.
        if j.upper {
            let hit = self
                .upper
                .as_mut()
                .is_some_and(|c| c.access(j.key, j.size, t, j.edge_ttl_us));
            self.stats.tiers[UPPER].record(hit, j.size);
            if let Some(b) = self.stats.series.get_mut(bucket) {
                b.tiers[UPPER].record(hit, j.size);
            }
            if hit {
                let lat = j.base_us + ctx.edge_processing_us;
                self.deliver(ctx, st, j, (lat, lat), bucket, false);
                return;
            }
        }
        // At the origin: event effects for this request.
        let service_name = ctx.services.get(usize::from(j.service)).map(String::as_str);
        let mut added_us = 0u64;
        let mut error_p = 0.0f64;
        let mut canary_events: u32 = 0;
        for (i, e) in ctx.events.iter().enumerate() {
            if e.region != Some(j.region) || !e.applies_to_service(service_name) {
                continue;
            }
            match e.kind {
                EventKind::OriginDegradation if e.active(t) => {
                    added_us += e.added_us;
                    error_p = 1.0 - (1.0 - error_p) * (1.0 - e.error_rate);
                }
                EventKind::Deploy => {
                    let share = st.deploys.get(i).map_or(0.0, |d| d.canary_share(e, t));
                    if share > 0.0 {
                        // Which version serves it: fixed by the request, as an ALB's weighted
                        // target groups would split it.
                        let u = (mix64(j.seq ^ (u64::from(j.shard) << 48) ^ t) >> 11) as f64
                            / (1u64 << 53) as f64;
                        if u < share {
                            added_us += e.added_us;
                            error_p = 1.0 - (1.0 - error_p) * (1.0 - e.error_rate);
                            if i < 32 {
                                canary_events |= 1 << i;
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        self.stats.origin_requests += 1;
        if let Some(b) = self.stats.series.get_mut(bucket) {
            b.origin_requests += 1;
        }
        if let Some(c) = self.stats.classes.get_mut(usize::from(j.class)) {
            c.origin += 1;
        }
        let class = match j.source {
            Source::Normal => ctx.traffic.classes.get(usize::from(j.class)),
            Source::Attack(_) => None,
        };
        // Service time: the regional cache may answer; else compute plus database queries.
        let regional_ttl = match (j.tier, j.tier_ttl_us) {
            (CacheTier::Regional, Some(ttl)) => Some(ttl),
            _ => class.and_then(|c| c.regional.as_ref().map(|(_, ttl)| *ttl)),
        };
        let mut service_us;
        let regional_hit = match (regional_ttl, self.regional.as_mut()) {
            (Some(ttl), Some(cache)) => {
                let hit = cache.access(j.key, j.size, t, ttl);
                self.stats.tiers[REGIONAL].record(hit, j.size);
                if let Some(b) = self.stats.series.get_mut(bucket) {
                    b.tiers[REGIONAL].record(hit, j.size);
                }
                hit
            }
            _ => false,
        };
        if regional_hit {
            service_us = ctx.regional.as_ref().map_or(1_000, |r| r.hit_us);
        } else {
            let dist = class.and_then(|c| c.compute).unwrap_or_else(|| {
                self.origins
                    .get(usize::from(j.service))
                    .map_or(ctx.default_service, OriginQueue::service)
            });
            service_us = OriginQueue::draw_us(&dist, &mut self.rng);
            let queries = match (j.tier, class) {
                (_, Some(c)) if c.db_queries > 0 => c.db_queries,
                (CacheTier::Query, _) => 1,
                _ => 0,
            };
            if queries > 0
                && let (Some(db), Some(cfg)) = (self.database.as_mut(), ctx.database.as_ref())
            {
                let ttl = match (j.tier, j.tier_ttl_us) {
                    (CacheTier::Query, Some(ttl)) => ttl,
                    _ => cfg.ttl_us,
                };
                for q in 0..queries {
                    let rank = class.map_or(j.key, |c| c.db_zipf.sample(&mut self.rng));
                    let qkey = mix64(
                        rank ^ u64::from(q).wrapping_mul(0x9E37) ^ class.map_or(0, |c| c.salt),
                    );
                    let hit = db.access(qkey, 1, t, ttl);
                    self.stats.tiers[DATABASE].record(hit, 1);
                    if let Some(b) = self.stats.series.get_mut(bucket) {
                        b.tiers[DATABASE].record(hit, 1);
                    }
                    service_us += if hit {
                        cfg.hit_us
                    } else {
                        OriginQueue::draw_us(&cfg.database, &mut self.rng)
                    };
                }
            }
        }
        let queue = self.origins.get_mut(usize::from(j.service));
        let outcome = match queue {
            Some(q) => q.admit(t, service_us),
            None => OriginOutcome::Served {
                queue_us: 0,
                service_us,
            },
        };
        let region_stats = self.stats.regions.get_mut(usize::from(j.region));
        let (queue_us, served_us) = match outcome {
            OriginOutcome::Overloaded => {
                if let Some(rs) = region_stats {
                    rs.overloaded += 1;
                }
                self.stats.failures.overload += 1;
                self.passive(j, PassiveResult::Status(503));
                self.fail(ctx, st, j, bucket);
                return;
            }
            OriginOutcome::Served {
                queue_us,
                service_us,
            } => (queue_us, service_us),
        };
        if let Some(rs) = region_stats {
            rs.origin_requests += 1;
            rs.origin_bytes += u64::from(j.size);
            rs.busy_us += u128::from(served_us);
        }
        let error = error_p > 0.0 && self.rng.chance(error_p);
        for i in 0..ctx.events.len().min(32) {
            if canary_events & (1 << i) != 0
                && let Some(c) = self.canary.get_mut(i)
            {
                c.0 += 1;
                c.1 += u64::from(error);
            }
        }
        if error {
            if let Some(rs) = self.stats.regions.get_mut(usize::from(j.region)) {
                rs.errors += 1;
            }
            self.stats.failures.origin_error += 1;
            self.passive(j, PassiveResult::Status(500));
            self.fail(ctx, st, j, bucket);
            return;
        }
        self.passive(j, PassiveResult::Status(200));
        // Websocket sessions hold a connection to the region.
        if j.session_s > 0.0 {
            self.session(ctx, j);
        }
        let lat = j.base_us + queue_us + served_us + added_us;
        self.deliver(ctx, st, j, (lat, j.base_us), bucket, true);
    }

    fn session(&mut self, ctx: &Ctx, j: &OriginJob) {
        let start = j.t_us;
        let planned_end = start
            .saturating_add(ms_to_us(j.session_s * 1000.0))
            .min(ctx.duration_us);
        // An outage of the region cuts the session.
        let cut = ctx
            .events
            .iter()
            .filter(|e| e.kind == EventKind::RegionOutage && e.region == Some(j.region))
            .filter(|e| e.start_us > start && e.start_us < planned_end)
            .map(|e| e.start_us)
            .min();
        let end = cut.unwrap_or(planned_end);
        let secs = end.saturating_sub(start) as f64 / 1e6;
        self.stats.sessions += 1;
        self.stats.session_s += secs;
        if cut.is_some() {
            self.stats.sessions_dropped += 1;
        }
        if let Some(rs) = self.stats.regions.get_mut(usize::from(j.region)) {
            rs.websocket_s += secs;
        }
    }

    fn passive(&mut self, j: &OriginJob, result: PassiveResult) {
        let Some(ep) = j.endpoint else { return };
        if !self.has_outlier(ep) {
            return;
        }
        if let Some(f) = self.feedback.get_mut(j.shard as usize) {
            f.push((j.t_us, ep, result));
        }
    }

    fn has_outlier(&mut self, ep: EndpointId) -> bool {
        let i = ep.index();
        if self.outlier.len() <= i {
            self.outlier.resize(i + 1, 0);
        }
        match self.outlier.get(i).copied() {
            Some(2) => true,
            Some(1) => false,
            _ => {
                let yes = self.policy.routing().is_some_and(|rt| {
                    self.scratch
                        .report_passive(rt, ep, PassiveResult::Status(200), 0)
                        != PassiveEffect::Ignored
                });
                if let Some(slot) = self.outlier.get_mut(i) {
                    *slot = if yes { 2 } else { 1 };
                }
                yes
            }
        }
    }

    /// The most origin slots busy at once in any of the region's origins.
    pub(crate) fn peak_busy(&self) -> u64 {
        self.origins
            .iter()
            .map(|o| o.peak_busy as u64)
            .max()
            .unwrap_or(0)
    }

    fn deliver(
        &mut self,
        ctx: &Ctx,
        st: &EpochState,
        j: &OriginJob,
        (lat, network_us): (u64, u64),
        bucket: usize,
        from_origin: bool,
    ) {
        self.stats.bytes_out += u64::from(j.size);
        if let Some(e) = self.stats.by_group.get_mut(j.group as usize) {
            e.1 += u64::from(j.size);
        }
        if from_origin
            && j.preferred != j.region
            && let Some(b) = self.stats.inter_region_bytes.get_mut(usize::from(j.region))
        {
            *b += u64::from(j.size);
        }
        super::record_latency(
            &mut self.stats,
            ctx,
            st,
            j.class,
            j.continent,
            j.source,
            Some(j.region),
            Some(j.preferred),
            j.t_us,
            (lat, network_us),
            bucket,
        );
    }

    fn fail(&mut self, ctx: &Ctx, st: &EpochState, j: &OriginJob, bucket: usize) {
        super::record_failure(
            &mut self.stats,
            ctx,
            st,
            j.source,
            Some(j.region),
            Some(j.preferred),
            j.t_us,
            bucket,
        );
    }
}

impl std::fmt::Debug for OriginSide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OriginSide")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}
