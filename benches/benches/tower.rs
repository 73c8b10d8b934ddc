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

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use edgeroute::{Engine, Policy, Timestamp};
use edgeroute_tower::{Clock, ConnectInfo, ManualClock, PolicyLayer, with_request_view};
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

/// (method, host, path and query, extra headers) of each request shape.
type Shape = (
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

const SHAPES: &[Shape] = &[
    ("GET", "api.aybiza.com", "/static/app.js?v=42", &[]),
    ("GET", "api.aybiza.com", "/static/css/site.css", &[]),
    ("GET", "api.aybiza.com", "/api/v1/sessions/91c2", &[]),
    ("GET", "api.aybiza.com", "/api/v1/profiles/7", &[]),
    (
        "POST",
        "api.aybiza.com",
        "/api/v1/calls",
        &[("content-type", "application/json")],
    ),
    ("GET", "api.aybiza.com", "/api/v1/agents?page=2", &[]),
    ("GET", "voice.aybiza.com", "/stream/abc", &[]),
    ("GET", "ws.aybiza.com", "/events", &[]),
    ("GET", "api.aybiza.com", "/api/v1/search?q=x", &[]),
    (
        "OPTIONS",
        "api.aybiza.com",
        "/api/v1/calls",
        &[
            ("origin", "https://app.aybiza.com"),
            ("access-control-request-method", "POST"),
        ],
    ),
    ("GET", "api.aybiza.com", "/", &[]),
    ("GET", "api.aybiza.com", "/.env", &[]),
];

const COUNTRIES: &[&str] = &["US", "GB", "DE", "JP", "BR", "FR", "IN", "AU"];

/// Number of distinct returning clients.
const CLIENTS: u32 = 4_000;

/// Request `i` of the mix; `new_client` gives it a client never seen before.
fn request(i: u32, new_client: bool) -> Request<Full<Bytes>> {
    // A multiplicative hash spreads the clients over the shapes and over time.
    let h = i.wrapping_mul(0x9e37_79b9);
    let client = if new_client { i } else { h % CLIENTS };
    let ip = Ipv4Addr::from(0x5100_0000_u32.wrapping_add(client.wrapping_mul(7)));
    let n = SHAPES.len() as u32;
    let (method, host, path, extra) = SHAPES.get(((h >> 16) % n) as usize).copied().unwrap_or((
        "GET",
        "api.aybiza.com",
        "/",
        &[],
    ));
    let country = COUNTRIES
        .get((client as usize) % COUNTRIES.len())
        .copied()
        .unwrap_or("US");
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header("host", host)
        .header("cf-connecting-ip", ip.to_string())
        .header("cf-ipcountry", country)
        .header("cf-ray", "8f1b2c3d4e5f6a7b-LHR")
        .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64)")
        .header("accept", "application/json")
        .header("accept-encoding", "gzip, br");
    for (name, value) in extra {
        b = b.header(*name, *value);
    }
    let mut r = b.body(Full::new(Bytes::new())).unwrap_or_default();
    r.extensions_mut()
        .insert(ConnectInfo::new(SocketAddr::from(([173, 245, 48, 1], 443))));
    r
}

async fn inner(_req: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"ok"))))
}

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

    let mut bare = tower::service_fn(inner);
    group.bench_function("bare_inner_service", |b| {
        b.iter_batched(
            || next(false),
            |req| poll_once(bare.call(req)),
            BatchSize::SmallInput,
        );
    });

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

    // The engine alone on the same requests (view built the same way): the layer's own cost
    // is `policy_layer` minus this.
    for (name, new_client) in [("decide_only", false), ("decide_only_new_clients", true)] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || next(new_client),
                |req| {
                    let d = with_request_view(&req, |v| engine.decide(v, now(&clock)));
                    (req, d)
                },
                BatchSize::SmallInput,
            );
        });
    }

    for (name, metrics, new_client) in [
        ("policy_layer", false, false),
        ("policy_layer_with_metrics", true, false),
        ("policy_layer_new_clients", false, true),
    ] {
        let mut svc = PolicyLayer::new(Arc::clone(&engine))
            .with_clock(clock.clone())
            .with_metrics(metrics)
            .layer(tower::service_fn(inner));
        group.bench_function(name, |b| {
            b.iter_batched(
                || next(new_client),
                |req| poll_once(svc.call(req)),
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
