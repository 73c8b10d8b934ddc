//! The request mix of the tower layer's cost measurements, shared by the criterion bench
//! (`benches/benches/tower.rs`) and the instruction-count example (`examples/layer_cost.rs`)
//! through `#[path]`, so both measure the same traffic: a dozen request shapes on
//! `policies/aybiza.toml` (static assets, API reads and writes, websockets, a CORS preflight, a
//! scanner probe) from 4,000 returning clients, and the bare inner service.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};

use bytes::Bytes;
use edgeroute_tower::ConnectInfo;
use http::{Request, Response};
use http_body_util::Full;

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
pub(crate) fn request(i: u32, new_client: bool) -> Request<Full<Bytes>> {
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

pub(crate) async fn inner(_req: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"ok"))))
}
