//! The tower layer's cost per request over a bare inner service (issue 7: at most 1 µs).
//!
//! Both arms build the same request outside the timed part, call the service and poll its
//! future once (both futures are ready at once, so no runtime is involved). The layer arm runs
//! `policies/aybiza.toml`: client identity from Cloudflare headers, four WAF rules, the
//! 100-a-minute rate limit (100,000 rotating client IPs, so nothing is limited), cache rules and
//! the header transforms, plus building the `RequestView` and applying the header edits.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use edgeroute::{Engine, Policy};
use edgeroute_tower::{Clock, ConnectInfo, ManualClock, PolicyLayer};
use http::{Request, Response};
use http_body_util::Full;
use tower::{Layer, Service};

fn poll_once<F: Future>(f: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    let mut f = pin!(f);
    match f.as_mut().poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => unreachable!("the bench services are always ready"),
    }
}

fn request(i: u32) -> Request<Full<Bytes>> {
    let ip = std::net::Ipv4Addr::from(0x5102_0000 + (i % 100_000));
    let mut r = Request::get("/api/v1/agents?page=2")
        .header("host", "api.aybiza.com")
        .header("cf-connecting-ip", ip.to_string())
        .header("cf-ipcountry", "GB")
        .header("cf-ray", "8f1b2c3d4e5f6a7b-LHR")
        .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64)")
        .header("accept", "application/json")
        .header("accept-encoding", "gzip, br")
        .body(Full::new(Bytes::new()))
        .unwrap_or_default();
    r.extensions_mut()
        .insert(ConnectInfo::new(SocketAddr::from(([173, 245, 48, 1], 443))));
    r
}

async fn inner(_req: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"ok"))))
}

fn bench(c: &mut Criterion) {
    let text = include_str!("../../policies/aybiza.toml");
    let Ok((policy, _)) = Policy::from_toml_str(text, "aybiza.toml", None) else {
        return;
    };
    let engine = std::sync::Arc::new(Engine::new(policy));
    let clock = ManualClock::new(Duration::from_secs(1_700_000_000));
    let mut group = c.benchmark_group("tower");

    let mut bare = tower::service_fn(inner);
    let mut i = 0u32;
    group.bench_function("bare_inner_service", |b| {
        b.iter_batched(
            || {
                i = i.wrapping_add(1);
                request(i)
            },
            |req| poll_once(bare.call(req)),
            BatchSize::SmallInput,
        );
    });

    // The engine alone on the same requests (view built the same way): the layer's own cost is
    // `policy_layer` minus this.
    {
        let engine = std::sync::Arc::clone(&engine);
        let clock = clock.clone();
        group.bench_function("decide_only", |b| {
            b.iter_batched(
                || {
                    i = i.wrapping_add(1);
                    clock.advance(Duration::from_millis(1));
                    request(i)
                },
                |req| {
                    let now = edgeroute::Timestamp::from_micros(
                        u64::try_from(clock.now().as_micros()).unwrap_or(u64::MAX),
                    );
                    let d = edgeroute_tower::with_request_view(&req, |v| engine.decide(v, now));
                    (req, d)
                },
                BatchSize::SmallInput,
            );
        });
    }

    for (name, metrics) in [("policy_layer", false), ("policy_layer_with_metrics", true)] {
        let mut svc = PolicyLayer::new(std::sync::Arc::clone(&engine))
            .with_clock(clock.clone())
            .with_metrics(metrics)
            .layer(tower::service_fn(inner));
        let clock = clock.clone();
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    i = i.wrapping_add(1);
                    clock.advance(Duration::from_millis(1));
                    request(i)
                },
                |req| poll_once(svc.call(req)),
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
