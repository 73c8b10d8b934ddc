//! Cache models against small, obviously correct reference models; policy sanity on Zipf
//! traces; TTL; trace reading.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    missing_docs,
    reason = "tests"
)]

use edgeroute_sim::cache::{
    Cache, CachePolicy, CacheStats, Capacity, S3FifoParams, SizeUnit, TtlCache, new_cache, replay,
};
use edgeroute_sim::trace::{TraceOptions, TraceReader};
use proptest::prelude::*;
use rand::{RngExt, SeedableRng, rngs::StdRng};
use rand_distr::{Distribution, Zipf};

// ------------------------------------------------------------------------------------------
// Reference models: a Vec ordered oldest first, linear scans, no cleverness.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RefPolicy {
    Lru,
    Fifo,
    Clock,
    Sieve,
}

#[derive(Debug)]
struct Entry {
    key: u64,
    size: u64,
    visited: bool,
}

#[derive(Debug)]
struct Reference {
    policy: RefPolicy,
    capacity: u64,
    objects: bool,
    /// Oldest first.
    entries: Vec<Entry>,
    /// SIEVE's hand: the key it points at, `None` for "start at the oldest".
    hand: Option<u64>,
}

impl Reference {
    fn new(policy: RefPolicy, capacity: Capacity) -> Self {
        Self {
            policy,
            capacity: capacity.amount,
            objects: capacity.unit == SizeUnit::Objects,
            entries: Vec::new(),
            hand: None,
        }
    }

    fn used(&self) -> u64 {
        self.entries.iter().map(|e| e.size).sum()
    }

    fn access(&mut self, key: u64, size: u32) -> bool {
        if let Some(i) = self.entries.iter().position(|e| e.key == key) {
            match self.policy {
                RefPolicy::Lru => {
                    let e = self.entries.remove(i);
                    self.entries.push(e);
                }
                RefPolicy::Fifo => {}
                RefPolicy::Clock | RefPolicy::Sieve => self.entries[i].visited = true,
            }
            return true;
        }
        let size = if self.objects { 1 } else { u64::from(size) };
        if size > self.capacity {
            return false;
        }
        while self.used() + size > self.capacity {
            self.evict();
        }
        self.entries.push(Entry {
            key,
            size,
            visited: false,
        });
        false
    }

    fn evict(&mut self) {
        match self.policy {
            RefPolicy::Lru | RefPolicy::Fifo => {
                self.entries.remove(0);
            }
            RefPolicy::Clock => loop {
                let mut e = self.entries.remove(0);
                if e.visited {
                    e.visited = false;
                    self.entries.push(e);
                } else {
                    break;
                }
            },
            RefPolicy::Sieve => {
                let mut i = self
                    .hand
                    .and_then(|k| self.entries.iter().position(|e| e.key == k))
                    .unwrap_or(0);
                while self.entries[i].visited {
                    self.entries[i].visited = false;
                    i = (i + 1) % self.entries.len();
                }
                self.entries.remove(i);
                // The hand rests on the next newer object, or restarts at the oldest.
                self.hand = self.entries.get(i).map(|e| e.key);
            }
        }
    }
}

fn policy_of(p: RefPolicy) -> CachePolicy {
    match p {
        RefPolicy::Lru => CachePolicy::Lru,
        RefPolicy::Fifo => CachePolicy::Fifo,
        RefPolicy::Clock => CachePolicy::Clock,
        RefPolicy::Sieve => CachePolicy::Sieve,
    }
}

const REF_POLICIES: [RefPolicy; 4] = [
    RefPolicy::Lru,
    RefPolicy::Fifo,
    RefPolicy::Clock,
    RefPolicy::Sieve,
];

/// Replays `trace` through the model and the reference; panics at the first divergence.
fn check_against_reference(p: RefPolicy, capacity: Capacity, trace: &[(u64, u32)]) {
    let mut model = new_cache(&policy_of(p), capacity);
    let mut reference = Reference::new(p, capacity);
    for (n, &(key, size)) in trace.iter().enumerate() {
        let want = reference.access(key, size);
        let got = model.access(key, size);
        assert_eq!(
            got, want,
            "{p:?} {capacity}: request {n} (key {key}, size {size})"
        );
        assert_eq!(
            model.len(),
            reference.entries.len(),
            "{p:?}: len after request {n}"
        );
        assert_eq!(
            model.used(),
            reference.used(),
            "{p:?}: used after request {n}"
        );
    }
    for e in &reference.entries {
        assert!(
            model.contains(e.key),
            "{p:?}: key {} should be cached",
            e.key
        );
    }
}

/// A Zipf(alpha) trace over `objects` keys with per-object sizes in `1..=max_size`.
fn zipf_trace(seed: u64, len: usize, objects: u64, alpha: f64, max_size: u32) -> Vec<(u64, u32)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let sizes: Vec<u32> = (0..objects)
        .map(|_| rng.random_range(1..=max_size))
        .collect();
    let zipf = Zipf::new(objects as f64, alpha).unwrap();
    (0..len)
        .map(|_| {
            let rank = zipf.sample(&mut rng) as u64 - 1;
            // Scatter ranks over the key space so popularity is not key order.
            let key = rank.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 20;
            (key, sizes[rank as usize])
        })
        .collect()
}

#[test]
fn reference_models_match_on_zipf_traces_in_both_modes() {
    for (seed, alpha) in [(1, 0.8), (2, 1.0), (3, 1.2)] {
        let trace = zipf_trace(seed, 20_000, 2_000, alpha, 400);
        for p in REF_POLICIES {
            for cap in [1, 7, 50, 300] {
                check_against_reference(p, Capacity::objects(cap), &trace);
            }
            for cap in [100, 2_500, 40_000] {
                check_against_reference(p, Capacity::bytes(cap), &trace);
            }
        }
    }
}

#[test]
fn reference_models_match_with_oversized_and_zero_size_objects() {
    let trace: Vec<(u64, u32)> = (0..3_000u64)
        .map(|i| ((i * 7) % 23, [0, 5, 50, 500, 101][(i % 5) as usize]))
        .collect();
    for p in REF_POLICIES {
        check_against_reference(p, Capacity::bytes(100), &trace);
        check_against_reference(p, Capacity::bytes(0), &trace);
        check_against_reference(p, Capacity::objects(0), &trace);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn reference_models_match_on_random_traces(
        trace in proptest::collection::vec((0u64..40, 1u32..80), 0..400),
        cap in 0u64..600,
        objects in any::<bool>(),
        which in 0usize..4,
    ) {
        let capacity = if objects { Capacity::objects(cap / 10) } else { Capacity::bytes(cap) };
        check_against_reference(REF_POLICIES[which], capacity, &trace);
    }

    /// Every policy: never over capacity, `contains` agrees with hits, remove works.
    #[test]
    fn invariants_hold_for_every_policy(
        trace in proptest::collection::vec((0u64..60, 1u32..100), 0..400),
        cap in 0u64..800,
        objects in any::<bool>(),
        name in proptest::sample::select(CachePolicy::NAMES),
    ) {
        let policy: CachePolicy = name.parse().unwrap();
        let capacity = if objects { Capacity::objects(cap / 10) } else { Capacity::bytes(cap) };
        let mut cache = new_cache(&policy, capacity);
        for (n, &(key, size)) in trace.iter().enumerate() {
            let was_cached = cache.contains(key);
            let hit = cache.access(key, size);
            prop_assert_eq!(hit, was_cached, "request {}: hit iff cached before", n);
            prop_assert!(cache.used() <= capacity.amount, "over capacity after request {}", n);
            if n % 17 == 0 && cache.contains(key) {
                prop_assert!(cache.remove(key));
                prop_assert!(!cache.contains(key));
                prop_assert!(!cache.remove(key));
            }
        }
        prop_assert!(cache.len() as u64 <= cache.used().max(cache.len() as u64));
    }
}

// ------------------------------------------------------------------------------------------
// S3-FIFO and W-TinyLFU: no reference model (they are checked one to one against libCacheSim
// by benches/libcachesim/run.sh); here, hand-worked cases and sanity on Zipf traces.

#[test]
fn s3fifo_hand_worked() {
    // Capacity 10 objects: small 1, main 9, ghost 9.
    let mut c = new_cache(&"s3fifo".parse().unwrap(), Capacity::objects(10));
    // Object size 1 >= small size 1: libCacheSim never inserts into small. Nothing is cached,
    // until a key is in the ghost, which never happens: every request misses.
    for k in [1, 1, 2, 1] {
        assert!(!c.access(k, 1));
    }
    assert_eq!(c.len(), 0);

    // Capacity 20: small 2, main 18, ghost 18.
    let mut c = new_cache(&"s3fifo".parse().unwrap(), Capacity::objects(20));
    assert!(!c.access(1, 1));
    assert!(c.access(1, 1));
    // Small holds 1 object; before the first eviction, once small is full, new objects go to
    // main.
    for k in 2..=20 {
        assert!(!c.access(k, 1));
    }
    assert_eq!(c.len(), 20);
    // Small holds 1 (hit once) and 2; main holds 3..=20, exactly its 18. The next miss evicts
    // from small: 1 was hit fewer than 2 times there, so it goes to the ghost.
    assert!(!c.access(21, 1));
    assert!(!c.contains(1));
    assert!(c.contains(2) && c.contains(21));
    // A ghost hit is a miss, admitted straight to main (small's 2 makes room, to the ghost).
    assert!(!c.access(1, 1));
    assert!(c.contains(1));
    assert!(!c.contains(2));
    assert_eq!(c.len(), 20);
}

#[test]
fn s3fifo_ghost_hit_goes_to_main() {
    let params = S3FifoParams {
        small_size_ratio: 0.5,
        ..S3FifoParams::default()
    };
    let mut c = new_cache(&CachePolicy::S3Fifo(params), Capacity::objects(4));
    // small 2 (objects smaller than 2 fit), main 2, ghost 3.
    for k in [1, 2, 3, 4, 5, 6] {
        assert!(!c.access(k, 1));
    }
    // Some early key was evicted from small into the ghost; requesting it again misses, and it
    // is admitted straight to main, so it survives a burst of new keys.
    let ghosted = (1..=6).find(|&k| !c.contains(k)).unwrap();
    assert!(!c.access(ghosted, 1));
    assert!(c.contains(ghosted));
    for k in 100..102 {
        c.access(k, 1);
    }
    assert!(c.contains(ghosted), "main keeps it while small churns");
}

fn miss_ratio(policy: &str, capacity: Capacity, trace: &[(u64, u32)]) -> f64 {
    let mut c = new_cache(&policy.parse().unwrap(), capacity);
    replay(&mut c, trace.iter().copied()).miss_ratio()
}

#[test]
fn scan_resistant_policies_beat_lru_on_zipf() {
    let trace = zipf_trace(7, 200_000, 20_000, 1.0, 100);
    for cap in [200, 1_000, 4_000] {
        let capacity = Capacity::objects(cap);
        let lru = miss_ratio("lru", capacity, &trace);
        for p in ["s3fifo", "wtinylfu", "sieve"] {
            let m = miss_ratio(p, capacity, &trace);
            assert!(m <= lru, "{p} at {cap}: miss ratio {m:.4} > LRU's {lru:.4}");
        }
        assert!(
            miss_ratio("fifo", capacity, &trace) >= lru,
            "FIFO no better than LRU on Zipf"
        );
    }
}

#[test]
fn wtinylfu_resists_a_scan() {
    // A hot set of 50 keys, then a long one-time scan, then the hot set again.
    let hot: Vec<(u64, u32)> = (0..20).flat_map(|_| (0..50).map(|k| (k, 1))).collect();
    let scan: Vec<(u64, u32)> = (1_000..11_000).map(|k| (k, 1)).collect();
    let mut trace = hot.clone();
    trace.extend(&scan);
    trace.extend((0..50).map(|k| (k, 1)));
    for (policy, min_hits_after_scan) in [("wtinylfu", 45), ("s3fifo", 45), ("lru", 0)] {
        let mut c = new_cache(&policy.parse().unwrap(), Capacity::objects(100));
        for &(k, s) in &trace[..trace.len() - 50] {
            c.access(k, s);
        }
        let hits = (0..50).filter(|&k| c.access(k, 1)).count();
        assert!(
            hits >= min_hits_after_scan,
            "{policy}: {hits} hot keys survived the scan"
        );
        if policy == "lru" {
            assert_eq!(hits, 0, "LRU is flushed by a scan");
        }
    }
}

#[test]
fn byte_mode_rejects_oversized_objects_for_every_policy() {
    for name in CachePolicy::NAMES {
        let mut c = new_cache(&name.parse().unwrap(), Capacity::bytes(1_000));
        assert!(!c.access(1, 1_001), "{name}");
        assert!(!c.access(1, 1_001), "{name}: still a miss, never inserted");
        assert!(!c.contains(1), "{name}");
        assert_eq!(c.used(), 0, "{name}");
    }
}

#[test]
fn object_mode_ignores_sizes_for_every_policy() {
    for name in CachePolicy::NAMES {
        let mut c = new_cache(&name.parse().unwrap(), Capacity::objects(1_000));
        for k in 0..500 {
            c.access(k, u32::MAX);
        }
        assert!(c.used() <= 1_000, "{name}");
        assert_eq!(c.used(), c.len() as u64, "{name}");
    }
}

// ------------------------------------------------------------------------------------------
// TTL.

#[test]
fn ttl_cache_over_each_policy() {
    for name in CachePolicy::NAMES {
        let mut c = TtlCache::new(new_cache(&name.parse().unwrap(), Capacity::objects(1_000)));
        let mut hits = 0;
        for t in 0..1_000u64 {
            // 10 keys, each requested every 10 ticks, TTL 35: fresh for 3 reuses, then expired.
            if c.access_at(t % 10, 1, t, Some(35)) {
                hits += 1;
            }
        }
        // Per key: miss at 0, hits at 10, 20, 30, miss at 40 (expired), ...: 1 miss in 4.
        assert!(c.expired() > 0, "{name}");
        assert!((700..=760).contains(&hits), "{name}: {hits} hits");
    }
}

// ------------------------------------------------------------------------------------------
// Traces through the reader.

#[test]
fn trace_replay_matches_in_memory_replay() {
    let trace = zipf_trace(11, 5_000, 500, 1.0, 1_000);
    let mut csv = String::from("timestamp,key,size\n");
    for (i, (k, s)) in trace.iter().enumerate() {
        csv.push_str(&format!("{i},{k},{s}\n"));
    }
    let mut reader = TraceReader::from_reader(csv.as_bytes(), TraceOptions::default()).unwrap();
    let mut from_csv = new_cache(&CachePolicy::Lru, Capacity::bytes(50_000));
    let mut stats = CacheStats::default();
    while let Some(req) = reader.next_request().unwrap() {
        stats.record(from_csv.access(req.key, req.size), req.size);
    }
    let mut direct = new_cache(&CachePolicy::Lru, Capacity::bytes(50_000));
    assert_eq!(stats, replay(&mut direct, trace.iter().copied()));
    assert_eq!(stats.requests, 5_000);
}

#[test]
fn bad_trace_rows_error_or_are_counted() {
    let csv = "timestamp,key,size\n0,a,1\n1,b\n2,c,x\n3,,4\n4,d,5\n";
    let mut r = TraceReader::from_reader(csv.as_bytes(), TraceOptions::default()).unwrap();
    assert!(r.next_request().unwrap().is_some());
    let e = r.next_request().unwrap_err();
    assert_eq!((e.line(), e.column()), (3, 1));
    assert_eq!(e.to_string(), "line 3:1: expected 3 fields, found 2");

    let mut r = TraceReader::from_reader(
        csv.as_bytes(),
        TraceOptions {
            skip_bad_rows: true,
        },
    )
    .unwrap();
    let mut lines = Vec::new();
    while let Some(req) = r.next_request().unwrap() {
        lines.push(req.line);
    }
    assert_eq!(lines, [2, 6]);
    assert_eq!(r.skipped_rows(), 3);
}

proptest! {
    /// Arbitrary bytes never panic the reader, and it always terminates.
    #[test]
    fn trace_reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600), skip in any::<bool>()) {
        if let Ok(mut r) = TraceReader::from_reader(&bytes[..], TraceOptions { skip_bad_rows: skip }) {
            let mut n = 0;
            while let Ok(Some(_)) = r.next_request() {
                n += 1;
                prop_assert!(n <= bytes.len());
            }
        }
    }
}

// ------------------------------------------------------------------------------------------
// Golden miss counts: every policy on fixed Zipf traces, both modes. The numbers were recorded
// from the implementation that matched libCacheSim in all 20 configurations of
// `benches/libcachesim/run.sh`; any change to a policy's decisions shows up here.

/// `(policy, capacity, misses, byte_misses)` over the three golden traces, summed per case.
/// `PolicyCache::replay` (which touches each request's slot a few requests early) decides
/// exactly as one `access` per request, for every policy, in both modes, in batches of any
/// length (shorter than the look-ahead too).
#[test]
fn batched_replay_matches_one_access_at_a_time() {
    let trace = zipf_trace(11, 20_000, 3_000, 0.9, 2_000);
    for name in CachePolicy::NAMES {
        let policy: CachePolicy = name.parse().unwrap();
        for cap in [
            Capacity::objects(30),
            Capacity::objects(600),
            Capacity::bytes(40_000),
            Capacity::bytes(600_000),
        ] {
            let mut one = new_cache(&policy, cap);
            let want = replay(&mut one, trace.iter().copied());
            for batch in [1, 5, 4096, trace.len()] {
                let mut batched = new_cache(&policy, cap);
                let mut got = CacheStats::default();
                for chunk in trace.chunks(batch) {
                    batched.replay(chunk, &mut got);
                }
                assert_eq!(got, want, "{name} {cap} batch {batch}");
                assert_eq!((batched.len(), batched.used()), (one.len(), one.used()));
            }
        }
    }
}

fn golden_counts() -> Vec<(String, String, u64, u64)> {
    let traces: Vec<Vec<(u64, u32)>> = [(21, 0.7), (22, 1.0), (23, 1.3)]
        .into_iter()
        .map(|(seed, alpha)| zipf_trace(seed, 30_000, 5_000, alpha, 2_000))
        .collect();
    let mut out = Vec::new();
    let variants = [
        "s3fifo:small-size-ratio=0.2,ghost-size-ratio=0,move-to-main-threshold=1",
        "s3fifo:small-size-ratio=0.05,ghost-size-ratio=0.5,move-to-main-threshold=3",
        "wtinylfu:window-size=0.2,protected-ratio=0.5",
    ];
    for name in CachePolicy::NAMES.iter().chain(&variants) {
        let policy: CachePolicy = name.parse().unwrap();
        for cap in [
            Capacity::objects(20),
            Capacity::objects(250),
            Capacity::objects(1_500),
            Capacity::bytes(20_000),
            Capacity::bytes(250_000),
            Capacity::bytes(1_500_000),
        ] {
            let mut misses = 0;
            let mut byte_misses = 0;
            for trace in &traces {
                let mut cache = new_cache(&policy, cap);
                let s = replay(&mut cache, trace.iter().copied());
                misses += s.misses;
                byte_misses += s.byte_misses;
            }
            out.push(((*name).to_owned(), cap.to_string(), misses, byte_misses));
        }
    }
    out
}

#[test]
fn golden_miss_counts() {
    let got = golden_counts();
    #[rustfmt::skip]
    let want: &[(&str, &str, u64, u64)] = &[
        ("lru", "20 objects", 64605, 64662094),
        ("lru", "250 objects", 41427, 41789041),
        ("lru", "1500 objects", 21720, 21834146),
        ("lru", "20000 bytes", 64588, 64816016),
        ("lru", "250000 bytes", 41525, 41895177),
        ("lru", "1500000 bytes", 21804, 21917113),
        ("fifo", "20 objects", 67623, 67325192),
        ("fifo", "250 objects", 44707, 45023082),
        ("fifo", "1500 objects", 24186, 24298062),
        ("fifo", "20000 bytes", 67571, 67439600),
        ("fifo", "250000 bytes", 44815, 45134910),
        ("fifo", "1500000 bytes", 24275, 24408810),
        ("clock", "20 objects", 63607, 63649964),
        ("clock", "250 objects", 40549, 40902454),
        ("clock", "1500 objects", 21268, 21364760),
        ("clock", "20000 bytes", 63639, 63844931),
        ("clock", "250000 bytes", 40659, 41013661),
        ("clock", "1500000 bytes", 21342, 21430695),
        ("sieve", "20 objects", 55379, 55938667),
        ("sieve", "250 objects", 35543, 35592515),
        ("sieve", "1500 objects", 20129, 20262995),
        ("sieve", "20000 bytes", 55445, 56682752),
        ("sieve", "250000 bytes", 35634, 35803390),
        ("sieve", "1500000 bytes", 20206, 20342294),
        ("s3fifo", "20 objects", 54972, 55693306),
        ("s3fifo", "250 objects", 34948, 35177474),
        ("s3fifo", "1500 objects", 20149, 20256034),
        ("s3fifo", "20000 bytes", 54557, 55532348),
        ("s3fifo", "250000 bytes", 35016, 35283182),
        ("s3fifo", "1500000 bytes", 20166, 20286268),
        ("wtinylfu", "20 objects", 55459, 56275828),
        ("wtinylfu", "250 objects", 35927, 35984338),
        ("wtinylfu", "1500 objects", 19947, 20057453),
        ("wtinylfu", "20000 bytes", 54109, 55584214),
        ("wtinylfu", "250000 bytes", 33793, 34798887),
        ("wtinylfu", "1500000 bytes", 19442, 20143000),
        ("s3fifo:small-size-ratio=0.2,ghost-size-ratio=0,move-to-main-threshold=1", "20 objects", 55641, 56436225),
        ("s3fifo:small-size-ratio=0.2,ghost-size-ratio=0,move-to-main-threshold=1", "250 objects", 35655, 35920519),
        ("s3fifo:small-size-ratio=0.2,ghost-size-ratio=0,move-to-main-threshold=1", "1500 objects", 20184, 20280030),
        ("s3fifo:small-size-ratio=0.2,ghost-size-ratio=0,move-to-main-threshold=1", "20000 bytes", 54780, 56159389),
        ("s3fifo:small-size-ratio=0.2,ghost-size-ratio=0,move-to-main-threshold=1", "250000 bytes", 35676, 35966373),
        ("s3fifo:small-size-ratio=0.2,ghost-size-ratio=0,move-to-main-threshold=1", "1500000 bytes", 20230, 20337957),
        ("s3fifo:small-size-ratio=0.05,ghost-size-ratio=0.5,move-to-main-threshold=3", "20 objects", 90000, 83960745),
        ("s3fifo:small-size-ratio=0.05,ghost-size-ratio=0.5,move-to-main-threshold=3", "250 objects", 34596, 34836574),
        ("s3fifo:small-size-ratio=0.05,ghost-size-ratio=0.5,move-to-main-threshold=3", "1500 objects", 19850, 19971138),
        ("s3fifo:small-size-ratio=0.05,ghost-size-ratio=0.5,move-to-main-threshold=3", "20000 bytes", 59466, 70647378),
        ("s3fifo:small-size-ratio=0.05,ghost-size-ratio=0.5,move-to-main-threshold=3", "250000 bytes", 34597, 34838691),
        ("s3fifo:small-size-ratio=0.05,ghost-size-ratio=0.5,move-to-main-threshold=3", "1500000 bytes", 19905, 20032651),
        ("wtinylfu:window-size=0.2,protected-ratio=0.5", "20 objects", 57893, 58656940),
        ("wtinylfu:window-size=0.2,protected-ratio=0.5", "250 objects", 37355, 37482851),
        ("wtinylfu:window-size=0.2,protected-ratio=0.5", "1500 objects", 20044, 20184142),
        ("wtinylfu:window-size=0.2,protected-ratio=0.5", "20000 bytes", 55776, 57259074),
        ("wtinylfu:window-size=0.2,protected-ratio=0.5", "250000 bytes", 34848, 35879627),
        ("wtinylfu:window-size=0.2,protected-ratio=0.5", "1500000 bytes", 19631, 20357274),
    ];
    let got: Vec<(&str, &str, u64, u64)> = got
        .iter()
        .map(|(p, c, m, b)| (p.as_str(), c.as_str(), *m, *b))
        .collect();
    assert_eq!(got, want);
}
