//! Load-independent evidence for the layer's cost: runs N requests of the criterion bench's mix
//! (`benches/benches/tower.rs`) through one arm, so an instruction counter can tell what one
//! request costs whatever else the machine is doing:
//!
//! ```sh
//! cargo build --release -p edgeroute-tower --example layer_cost
//! for n in 2000 12000; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/layer_cost layer $n
//! done   # instructions per request = (Ir(12000) - Ir(2000)) / 10000
//! ```
//!
//! Arms: `setup` (build and drop the requests only), `bare` (a `service_fn` answering 200),
//! `decide` (`with_request_view` + `Engine::decide`), `layer`, `layer_metrics`.

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use edgeroute::{Engine, Policy, Timestamp};
use edgeroute_tower::{Clock, ConnectInfo, ManualClock, PolicyLayer, with_request_view};
use http::{Request, Response};
use http_body_util::Full;
use tower::{Layer, Service};

type Shape = (
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

// The bench's mix (keep the two in step).
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
const CLIENTS: u32 = 4_000;

fn request(i: u32) -> Request<Full<Bytes>> {
    let h = i.wrapping_mul(0x9e37_79b9);
    let client = h % CLIENTS;
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

fn poll_once<F: Future>(f: F) -> Option<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(f).poll(&mut cx) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let arm = args.next().unwrap_or_else(|| "layer".into());
    let n: u32 = args.next().map_or(Ok(10_000), |s| s.parse())?;
    let text = include_str!("../../../policies/aybiza.toml");
    let (policy, _) = Policy::from_toml_str(text, "aybiza.toml", None)?;
    let engine = Arc::new(Engine::new(policy));
    let clock = ManualClock::new(Duration::from_secs(1_700_000_000));
    let layer = |metrics| {
        PolicyLayer::new(Arc::clone(&engine))
            .with_clock(clock.clone())
            .with_metrics(metrics)
            .layer(tower::service_fn(inner))
    };
    let mut bare = tower::service_fn(inner);
    let mut plain = layer(false);
    let mut metered = layer(true);
    let mut forwarded = 0u32;
    for i in 0..n {
        clock.advance(Duration::from_millis(1));
        let req = request(i);
        let status = match arm.as_str() {
            "setup" => black_box(req).headers().len() as u16,
            "bare" => poll_once(bare.call(req)).map_or(0, |r| r.map_or(0, |r| r.status().as_u16())),
            "decide" => {
                let now = Timestamp::from_micros(u64::try_from(clock.now().as_micros())?);
                let d = with_request_view(&req, |v| engine.decide(v, now));
                u16::from(d.action.forwards()) + 199
            }
            "layer" => {
                poll_once(plain.call(req)).map_or(0, |r| r.map_or(0, |r| r.status().as_u16()))
            }
            "layer_metrics" => {
                poll_once(metered.call(req)).map_or(0, |r| r.map_or(0, |r| r.status().as_u16()))
            }
            other => return Err(format!("unknown arm `{other}`").into()),
        };
        forwarded += u32::from(status == 200);
    }
    println!("{arm}: {n} requests, {forwarded} answered 200");
    Ok(())
}
