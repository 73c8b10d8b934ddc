//! Rate-limit checks with one million distinct keys: edgeroute's in-process sliding-window
//! store side by side with `governor`'s keyed rate limiter (GCRA over a DashMap).
//!
//! Memory per key is measured the same way for both: the growth of the process's resident set
//! while one million keys are inserted, and the heap bytes allocated (held at the end; a
//! counting allocator). edgeroute's default table is an anonymous memory map (huge pages where
//! granted) rather than a heap allocation, so its table size is printed too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "bench"
)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use edgeroute::Timestamp;
use edgeroute::ratelimit::{
    CounterKey, CounterKeyBuilder, CounterStore, MemoryCounterStore, RateCheck,
};
use governor::{Quota, RateLimiter};

const KEYS: u64 = 1_000_000;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// A cheap, well-spread sequence of key indices (an LCG), so lookups are random in the table.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        (self.next_raw() >> 33) % KEYS
    }

    fn next_raw(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0
    }
}

/// The key of client `i` (an IPv4 address) for a rule keyed by `ip.src`, as the engine
/// derives it: the rule's prefix hashed once, the address mixed in per request.
fn key_of(prefix: &CounterKeyBuilder, i: u64) -> CounterKey {
    prefix.finish_with_ip(IpAddr::V4(Ipv4Addr::from_bits(i as u32)))
}

/// A random cyclic order of the cache lines of an anonymous map (huge pages requested, as the
/// store's table): each line's first word names the next line.
struct LineChain {
    map: memmap2::MmapMut,
    /// The byte offset of a line of the chain.
    start: usize,
}

impl LineChain {
    fn new(bytes: usize) -> Self {
        const HUGE: usize = 2 << 20;
        let mut map = memmap2::MmapMut::map_anon(bytes + HUGE).unwrap();
        let base = (HUGE - map.as_ptr() as usize % HUGE) % HUGE;
        let _ = map.advise(memmap2::Advice::HugePage);
        let lines = bytes / 64;
        // A shuffled order of the lines; each points at the next in it: one cycle through all.
        let mut order: Vec<usize> = (0..lines).collect();
        let mut rng = Lcg(3);
        for i in (1..lines).rev() {
            let j = ((rng.next_raw() >> 11) % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        for (i, &line) in order.iter().enumerate() {
            let at = base + line * 64;
            let next = (base + order[(i + 1) % lines] * 64) as u64;
            map[at..at + 8].copy_from_slice(&next.to_ne_bytes());
        }
        LineChain { map, start: base }
    }

    /// The byte offset of the line after the one at byte offset `at`.
    #[inline(always)]
    fn next(&self, at: usize) -> usize {
        let word: [u8; 8] = self.map[at..at + 8].try_into().unwrap();
        u64::from_ne_bytes(word) as usize
    }
}

fn prehashed(i: u64) -> CounterKey {
    CounterKey((i + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

fn query(key: CounterKey, now: Timestamp) -> RateCheck {
    RateCheck {
        key,
        period_secs: 60,
        now,
        count: true,
        limit: Some(100),
        mitigation_timeout_secs: 0,
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("ratelimit_1M_keys");
    group.throughput(Throughput::Elements(1));

    // edgeroute: populate one million keys (both key forms, in two stores of the default
    // budget; the first is measured).
    let prefix = CounterKey::builder("edge-worker-rate-limit", 60);
    let before = rss_bytes();
    let now = Timestamp::from_secs(30);
    let mut built = None;
    let alloc = allocation_counter::measure(|| {
        let store = MemoryCounterStore::default();
        for i in 0..KEYS {
            let _ = store.check(&query(key_of(&prefix, i), now));
        }
        built = Some(store);
    });
    let store = built.unwrap();
    let ours = rss_bytes().saturating_sub(before);
    // Large tables are anonymous maps (huge pages where granted), not heap allocations: the
    // table's size and the resident growth are the figures to compare with governor's heap.
    println!(
        "edgeroute MemoryCounterStore: {} keys held, table {:.1} bytes/key, resident growth {:.1} bytes/key, heap allocated {:.1} bytes/key",
        store.key_count().unwrap_or(0),
        store.table_bytes() as f64 / KEYS as f64,
        ours as f64 / KEYS as f64,
        alloc.bytes_current as f64 / KEYS as f64,
    );
    let hashed = MemoryCounterStore::default();
    for i in 0..KEYS {
        let _ = hashed.check(&query(prehashed(i), now));
    }
    let mut rng = Lcg(7);
    group.bench_function("edgeroute_check_ip_key", |b| {
        // Includes mixing the characteristic (an IPv4 address) into the counter key.
        b.iter(|| {
            let i = rng.next();
            black_box(store.check(&query(key_of(&prefix, black_box(i)), now)))
        });
    });
    let mut rng = Lcg(11);
    group.bench_function("edgeroute_check_prehashed", |b| {
        // The key of an already hashed characteristic (one multiply; no table of keys, whose
        // own cache misses would be measured too).
        b.iter(|| {
            let i = rng.next();
            black_box(hashed.check(&query(prehashed(black_box(i)), now)))
        });
    });

    drop(hashed);

    // The floor under any of the arms above: one load of a random cache line of a table the
    // size of the store's (18 MiB, huge pages requested the same way), each load's address
    // read from the line before, so loads cannot overlap. A check reads and writes one random
    // line and takes a lock (a locked instruction orders it with the loads around it), so
    // consecutive checks cannot overlap their misses either: no check of a random key among
    // 1M can beat this line on this machine.
    let chain = LineChain::new(store.table_bytes());
    let mut at = chain.start;
    group.bench_function("memory_floor_dependent_line_load", |b| {
        b.iter(|| {
            at = chain.next(black_box(at));
            at
        });
    });
    drop(chain);

    // New keys, on a table kept under 25% full (a fresh store once it holds 250,000 keys,
    // created outside the timed part; its zero pages are faulted in by the first checks, nine
    // huge pages spread over 250,000 keys): a client's first request.
    let mut fresh = MemoryCounterStore::default();
    let mut next_key = 0u64;
    group.bench_function("edgeroute_check_new_key", |b| {
        b.iter_custom(|iters| {
            let mut total = std::time::Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let room = (250_000 - (next_key % 250_000)).min(left);
                let start = std::time::Instant::now();
                for k in next_key..next_key + room {
                    black_box(fresh.check(&query(key_of(&prefix, KEYS + k), now)));
                }
                total += start.elapsed();
                next_key += room;
                left -= room;
                if next_key.is_multiple_of(250_000) {
                    fresh = MemoryCounterStore::default();
                }
            }
            total
        });
    });
    drop(fresh);

    // The engine's pattern: two counters per request of one client (the `rate(1m)` count and
    // a 100-per-minute rule keyed by `ip.src`), both keys known once the client address is.
    // 500,000 clients with two keys each: one million keys in a default store. The arm checks
    // a client's two keys per iteration and reports the time per check (two elements). The
    // keys share their place (`CounterKeyBuilder::finish_with_ip`), so the second check finds
    // the line the first one loaded.
    let rule = CounterKey::builder("edge-worker-rate-limit-rule", 60);
    let paired = MemoryCounterStore::default();
    for i in 0..KEYS / 2 {
        let _ = paired.check(&query(key_of(&prefix, i), now));
        let _ = paired.check(&query(key_of(&rule, i), now));
    }
    group.throughput(Throughput::Elements(2));
    let mut rng = Lcg(13);
    group.bench_function("edgeroute_check_pair", |b| {
        b.iter(|| {
            let i = black_box(rng.next() % (KEYS / 2));
            let (k1, k2) = (key_of(&prefix, i), key_of(&rule, i));
            (
                black_box(paired.check(&query(k1, now))),
                black_box(paired.check(&query(k2, now))),
            )
        });
    });
    group.throughput(Throughput::Elements(1));
    drop(paired);

    // governor: keyed GCRA limiter, 100 per minute, same key population.
    let before = rss_bytes();
    let mut built = None;
    let alloc = allocation_counter::measure(|| {
        let limiter = RateLimiter::keyed(Quota::per_minute(NonZeroU32::new(100).unwrap()));
        for i in 0..KEYS {
            let _ = limiter.check_key(&(i as u32));
        }
        built = Some(limiter);
    });
    let limiter = built.unwrap();
    let theirs = rss_bytes().saturating_sub(before);
    println!(
        "governor keyed (dashmap): {} keys held, allocated {:.1} bytes/key, resident growth {:.1} bytes/key",
        limiter.len(),
        alloc.bytes_current as f64 / KEYS as f64,
        theirs as f64 / KEYS as f64
    );
    let mut rng = Lcg(7);
    group.bench_function("governor_check_key", |b| {
        b.iter(|| {
            let i = rng.next() as u32;
            black_box(limiter.check_key(&black_box(i)).is_ok())
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
