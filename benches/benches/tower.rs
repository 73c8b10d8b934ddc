//! The tower layer's cost per request over a bare inner service (issue 7: at most 1 µs).
//!
//! Every arm builds its request outside the timed part, calls the service and polls its future
//! once (the futures are ready at once, so no runtime is involved); the timed part includes
//! dropping the response. The layer arms run `policies/aybiza.toml`: client identity from
//! Cloudflare headers, the WAF rules, the 100-a-minute rate limit, cache rules and the header
//! transforms, plus building the `RequestView` and applying the header edits.
//!
//! The request mix is that of real traffic: a dozen request shapes (static assets, API reads
//! and writes, websockets, a CORS preflight, a scanner probe) from 4,000 clients that come
//! back (1 ms of virtual time per request, so each client sends about 15 a minute, under the
//! limits). `*_new_clients` arms send every request from a client never seen before: the
//! worst case of the engine's rate-limit table (a cold key per request), reported apart.
//!
//! Criterion's `SmallInput` batches build thousands of requests before timing them, so each
//! request reaches the service long after it was built, out of the CPU's caches; the layer
//! reads every header, the bare service none, so the layer pays those misses alone. A gateway
//! hands the layer a request hyper has just parsed, in cache. The `*_hot_requests` arms time
//! batches of `HOT_BATCH` requests built just before, which is that case; both are reported.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use edgeroute::{Engine, Policy, Timestamp};
use edgeroute_tower::{Clock, ManualClock, PolicyLayer, with_request_view};
use tower::{Layer, Service};

fn poll_once<F: Future>(f: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    let mut f = pin!(f);
    match f.as_mut().poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => unreachable!("the bench services are always ready"),
    }
}

#[path = "../../crates/edgeroute-tower/examples/common/request_mix.rs"]
mod request_mix;

use request_mix::{inner, request};

/// Requests per timed batch in the `*_hot_requests` arms: built right before they are timed,
/// a few kilobytes in all, in cache as a just-parsed request is (one clock reading per batch).
const HOT_BATCH: u64 = 8;

fn now(clock: &ManualClock) -> Timestamp {
    Timestamp::from_micros(u64::try_from(clock.now().as_micros()).unwrap_or(u64::MAX))
}

fn bench(c: &mut Criterion) {
    let text = include_str!("../../policies/aybiza.toml");
    let Ok((policy, _)) = Policy::from_toml_str(text, "aybiza.toml", None) else {
        return;
    };
    let engine = Arc::new(Engine::new(policy));
    let clock = ManualClock::new(Duration::from_secs(1_700_000_000));
    let mut group = c.benchmark_group("tower");
    let mut i = 0u32;
    // Every arm's setup: the next request of the mix, 1 ms later.
    let mut next = |new_client: bool| {
        i = i.wrapping_add(1);
        clock.advance(Duration::from_millis(1));
        request(i, new_client)
    };

    // What the mix is: how many of its requests the layer forwards, and its answers.
    if let Ok((policy, _)) = Policy::from_toml_str(text, "aybiza.toml", None) {
        let clock = ManualClock::new(Duration::from_secs(1_700_000_000));
        let mut svc = PolicyLayer::new(Engine::new(policy))
            .with_clock(clock.clone())
            .with_metrics(false)
            .layer(tower::service_fn(inner));
        let mut statuses = std::collections::BTreeMap::<u16, u32>::new();
        for j in 0..12_000 {
            clock.advance(Duration::from_millis(1));
            let Ok(resp) = poll_once(svc.call(request(j, false)));
            {
                *statuses.entry(resp.status().as_u16()).or_default() += 1;
            }
        }
        eprintln!("tower mix, status: count of 12000 = {statuses:?}");
    }

    let hot = BatchSize::NumIterations(HOT_BATCH);
    let mut bare = tower::service_fn(inner);
    for (name, batch) in [
        ("bare_inner_service", BatchSize::SmallInput),
        ("bare_inner_service_hot_requests", hot),
    ] {
        group.bench_function(name, |b| {
            b.iter_batched(|| next(false), |req| poll_once(bare.call(req)), batch);
        });
    }

    // Building the view alone (what the engine is handed).
    group.bench_function("request_view_only", |b| {
        b.iter_batched(
            || next(false),
            |req| {
                let n = with_request_view(&req, |v| black_box(v).headers.len());
                (req, n)
            },
            BatchSize::SmallInput,
        );
    });

    // A fresh engine for each new-client arm: an arm runs some 500,000 requests, and the
    // engine's rate-limit table, once it holds about 600,000 live clients, gets an order of
    // magnitude slower per new key (tens of µs per decide; reported to the engine's owner);
    // sharing one engine across both arms would measure that instead of the layer.
    let fresh = || {
        Policy::from_toml_str(text, "aybiza.toml", None)
            .ok()
            .map(|(p, _)| Arc::new(Engine::new(p)))
    };

    // The engine alone on the same requests (view built the same way): the layer's own cost
    // is `policy_layer` minus this.
    for (name, new_client, batch) in [
        ("decide_only", false, BatchSize::SmallInput),
        ("decide_only_hot_requests", false, hot),
        ("decide_only_new_clients", true, BatchSize::SmallInput),
    ] {
        let engine = if new_client {
            fresh().unwrap_or_else(|| Arc::clone(&engine))
        } else {
            Arc::clone(&engine)
        };
        group.bench_function(name, |b| {
            b.iter_batched(
                || next(new_client),
                |req| {
                    let d = with_request_view(&req, |v| engine.decide(v, now(&clock)));
                    (req, d)
                },
                batch,
            );
        });
    }

    for (name, metrics, new_client, batch) in [
        ("policy_layer", false, false, BatchSize::SmallInput),
        ("policy_layer_hot_requests", false, false, hot),
        (
            "policy_layer_with_metrics",
            true,
            false,
            BatchSize::SmallInput,
        ),
        ("policy_layer_with_metrics_hot_requests", true, false, hot),
        (
            "policy_layer_new_clients",
            false,
            true,
            BatchSize::SmallInput,
        ),
    ] {
        let engine = if new_client {
            fresh().unwrap_or_else(|| Arc::clone(&engine))
        } else {
            Arc::clone(&engine)
        };
        let mut svc = PolicyLayer::new(engine)
            .with_clock(clock.clone())
            .with_metrics(metrics)
            .layer(tower::service_fn(inner));
        group.bench_function(name, |b| {
            b.iter_batched(|| next(new_client), |req| poll_once(svc.call(req)), batch);
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
