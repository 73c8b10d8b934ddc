//! Shared counters against a real redis-server.

use std::time::{Duration, Instant};

use edgeroute_tower::redis_store::{EXHAUSTED, WindowOp};
use edgeroute_tower::{FailMode, RedisCounterConfig, RedisWindows, SharedCounters};

use crate::redis_server::RedisServer;

fn config(server: &RedisServer, prefix: &str, mode: FailMode) -> RedisCounterConfig {
    let mut c = RedisCounterConfig::new(server.url());
    c.key_prefix = prefix.to_owned();
    c.fail_mode = mode;
    c.timeout = Duration::from_millis(100);
    c
}

/// Polls `f` every 10 ms until it holds or `limit` passes.
async fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    f()
}

fn op(key: u64, window: u64, delta: u64, now_ms: u64) -> WindowOp {
    WindowOp {
        key,
        period_ms: 1000,
        window,
        delta_current: delta,
        delta_previous: 0,
        now_ms,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn increments_are_atomic_under_concurrency() {
    let server = RedisServer::start();
    let windows = RedisWindows::new(&config(&server, "atomic", FailMode::Open)).unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let w = windows.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..50 {
                w.apply(&[op(7, 100, 1, 100_000)]).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let totals = windows.apply(&[op(7, 100, 0, 100_000)]).await.unwrap();
    assert_eq!(totals[0].current, 400);
    // The previous window is a different key: untouched.
    assert_eq!(totals[0].previous, 0);
    let next = windows.apply(&[op(7, 101, 0, 101_000)]).await.unwrap();
    assert_eq!((next[0].previous, next[0].current), (400, 0));
}

#[tokio::test]
async fn keys_expire_with_their_window() {
    let server = RedisServer::start();
    let windows = RedisWindows::new(&config(&server, "ttl", FailMode::Open)).unwrap();
    // Window 100 of a 1 s period is [100 s, 101 s); it is "previous" until 102 s; +1 s margin.
    windows.apply(&[op(1, 100, 3, 100_250)]).await.unwrap();
    let key = windows.key_for(1, 1000, 100);
    let pttl: i64 = server.command(&["PTTL", &key])[1..].parse().unwrap();
    assert!((2_700..=2_750).contains(&pttl), "PTTL {pttl}");
    // A 100 ms window ends for good after 2 periods + 1 s; wait for it (bounded).
    let short = WindowOp {
        period_ms: 100,
        ..op(2, 5000, 1, 500_050)
    };
    windows.apply(&[short]).await.unwrap();
    let key = windows.key_for(2, 100, 5000);
    assert_eq!(server.command(&["EXISTS", &key]), ":1");
    let gone = eventually(Duration::from_secs(3), || {
        server.command(&["EXISTS", &key]) == ":0"
    })
    .await;
    assert!(gone, "key {key} did not expire");
}

#[tokio::test]
async fn two_stores_see_each_others_counts() {
    let server = RedisServer::start();
    let a = SharedCounters::connect(&config(&server, "share", FailMode::Open))
        .await
        .unwrap();
    let b = SharedCounters::connect(&config(&server, "share", FailMode::Open))
        .await
        .unwrap();
    let period = Duration::from_secs(60);
    let now = Duration::from_secs(6_000);
    for _ in 0..5 {
        let _ = a.count(42, period, now, 1);
    }
    for _ in 0..3 {
        let _ = b.count(42, period, now, 1);
    }
    a.sync_now().await.unwrap();
    b.sync_now().await.unwrap();
    a.sync_now().await.unwrap();
    assert_eq!(a.count(42, period, now, 0).current, 8);
    assert_eq!(b.count(42, period, now, 0).current, 8);
    // The next window sees them as previous.
    let later = now + period;
    let _ = a.count(42, period, later, 1);
    a.sync_now().await.unwrap();
    let c = a.count(42, period, later, 0);
    assert_eq!((c.previous, c.current), (8, 1));
}

/// Two gateway instances admit a request when the sliding estimate including it is at most the
/// limit. Requests alternate between them at a bounded pace; together they must stay within the
/// limit plus the documented overshoot bound (and far below the 2× that unshared counters give).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_enforce_one_limit_within_the_documented_error() {
    let server = RedisServer::start();
    let cfg = config(&server, "limit", FailMode::Open);
    let a = SharedCounters::connect(&cfg).await.unwrap();
    let b = SharedCounters::connect(&cfg).await.unwrap();
    let limit = 50.0;
    let period = Duration::from_secs(60);
    let base = Duration::from_secs(60 * 1_000);
    let pace = Duration::from_millis(3);
    let mut admitted = 0u32;
    let mut refused = 0u32;
    for i in 0..200u64 {
        let store = if i % 2 == 0 { &a } else { &b };
        let now = base + Duration::from_millis(i);
        let counts = store.count(77, period, now, 1);
        let elapsed = Duration::from_millis(i);
        if counts.estimate(period, elapsed) <= limit {
            admitted += 1;
        } else {
            refused += 1;
        }
        tokio::time::sleep(pace).await;
    }
    // Each instance sees one request per 2 × pace.
    let rate = 1.0 / (2.0 * pace.as_secs_f64());
    let bound = cfg.overshoot_bound(2, rate, Duration::from_millis(5));
    assert!(
        admitted >= 50,
        "admitted {admitted}: the limit refused too early"
    );
    assert!(
        f64::from(admitted) <= limit + bound,
        "admitted {admitted}, limit {limit} + bound {bound:.1}"
    );
    assert!(
        admitted < 100,
        "admitted {admitted}: counts were not shared"
    );
    assert_eq!(admitted + refused, 200);
}

async fn stop_mid_test(mode: FailMode) {
    let mut server = RedisServer::start();
    let store = SharedCounters::connect(&config(&server, "fail", mode))
        .await
        .unwrap();
    let period = Duration::from_secs(60);
    let now = Duration::from_secs(600);
    for _ in 0..3 {
        let _ = store.count(1, period, now, 1);
    }
    store.sync_now().await.unwrap();
    assert!(store.is_available());
    assert_eq!(store.count(1, period, now, 0).current, 3);

    server.stop();
    let down = eventually(Duration::from_secs(5), || {
        let _ = store.count(1, period, now, 1);
        !store.is_available()
    })
    .await;
    assert!(down, "{mode:?}: store did not notice redis stopped");
    let c = store.count(1, period, now, 1);
    match mode {
        FailMode::Open => assert_eq!(c.current + c.previous, 0),
        FailMode::Closed => assert_eq!(c.current, EXHAUSTED),
        FailMode::Local => assert!(c.current >= 5, "local counts kept: {c:?}"),
    }
    assert!(store.stats().failures >= 1);

    // Back on the same port: the connection manager reconnects and pending counts are sent.
    server.restart();
    let up = eventually(Duration::from_secs(10), || {
        let _ = store.count(1, period, now, 0);
        store.is_available()
    })
    .await;
    assert!(up, "{mode:?}: store did not reconnect");
    store.sync_now().await.unwrap();
    let c = store.count(1, period, now, 0);
    // Local knowledge never goes below what was seen: at least the 3 counted before plus the
    // increments made while down.
    assert!(c.current >= 5, "{mode:?}: {c:?}");
    let remote: u64 = server.command(&["GET", &store.remote().key_for(1, 60_000, 10)])[..]
        .lines()
        .last()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        remote >= 2,
        "increments made while down reached redis: {remote}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_open_reads_zero_while_redis_is_down() {
    stop_mid_test(FailMode::Open).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_closed_reads_exhausted_while_redis_is_down() {
    stop_mid_test(FailMode::Closed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_local_keeps_counting_while_redis_is_down() {
    stop_mid_test(FailMode::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_redis_times_out_and_recovers() {
    let server = RedisServer::start();
    let store = SharedCounters::connect(&config(&server, "slow", FailMode::Closed))
        .await
        .unwrap();
    let period = Duration::from_secs(60);
    let now = Duration::from_secs(600);
    let _ = store.count(3, period, now, 1);
    store.sync_now().await.unwrap();
    server.freeze();
    let started = Instant::now();
    let err = store.sync_now().await;
    let _ = store.count(3, period, now, 1);
    assert!(err.is_err(), "a frozen server must time out");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "timeout not honoured: {:?}",
        started.elapsed()
    );
    assert!(!store.is_available());
    assert_eq!(store.count(3, period, now, 0).current, EXHAUSTED);
    server.thaw();
    let up = eventually(Duration::from_secs(10), || {
        let _ = store.count(3, period, now, 0);
        store.is_available()
    })
    .await;
    assert!(up, "store did not recover after the server thawed");
}

#[tokio::test]
async fn a_bad_url_is_a_config_error() {
    let e = RedisWindows::new(&RedisCounterConfig::new("not a url")).unwrap_err();
    assert!(e.to_string().contains("`not a url`"), "{e}");
}

/// Two engines (two gateway instances) on `policies/aybiza.toml`, each with its own
/// `SharedCounters` on one Redis: the edge-worker limit (100 a minute per client IP) holds for
/// both together, within the documented bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_engines_sharing_redis_enforce_the_aybiza_limit_together() {
    use std::sync::Arc;

    use edgeroute::{Action, Engine, Timestamp};

    let server = RedisServer::start();
    let cfg = config(&server, "engines", FailMode::Open);
    let a = SharedCounters::connect(&cfg).await.unwrap();
    let b = SharedCounters::connect(&cfg).await.unwrap();
    let ea = Engine::with_counter_store(crate::layer::aybiza(), Arc::new(a));
    let eb = Engine::with_counter_store(crate::layer::aybiza(), Arc::new(b));
    let pace = Duration::from_millis(2);
    // Start of a minute, so the whole run is inside one window.
    let base_s = 60 * 30_000_000u64;
    let mut admitted = 0u32;
    let mut limited = 0u32;
    for i in 0..300u64 {
        let engine = if i % 2 == 0 { &ea } else { &eb };
        let mut req = http::Request::get("/api/v1/agents")
            .header("host", "api.aybiza.com")
            .header("cf-connecting-ip", "81.2.69.160")
            .body(())
            .unwrap();
        req.extensions_mut()
            .insert(edgeroute_tower::ConnectInfo::new(
                "173.245.48.1:443".parse().unwrap(),
            ));
        let now = Timestamp::from_micros(base_s * 1_000_000 + i * 1_000);
        let d = edgeroute_tower::with_request_view(&req, |v| engine.decide(v, now));
        match (d.action, d.status) {
            (Action::Allow, _) => admitted += 1,
            (Action::Block, Some(429)) => {
                limited += 1;
                assert!(d.retry_after_s.is_some());
            }
            other => panic!("unexpected {other:?}"),
        }
        tokio::time::sleep(pace).await;
    }
    let rate = 1.0 / (2.0 * pace.as_secs_f64());
    let bound = cfg.overshoot_bound(2, rate, Duration::from_millis(5));
    assert!(admitted >= 100, "admitted {admitted}");
    assert!(
        f64::from(admitted) <= 100.0 + bound,
        "admitted {admitted} > 100 + {bound:.1}"
    );
    assert!(admitted < 200, "admitted {admitted}: not shared");
    assert_eq!(admitted + limited, 300);
    eprintln!("two engines: admitted {admitted} of 300 (limit 100, bound +{bound:.1})");
}
