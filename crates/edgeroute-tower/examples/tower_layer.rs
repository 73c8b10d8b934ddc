//! The tower example of the README's "Embedding in a gateway" section (compiled by `cargo test`;
//! the README shows the part between the `README` markers, checked by a test).
//!
//! Run: `cargo run -p edgeroute-tower --example tower_layer`

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;

use bytes::Bytes;
use http_body_util::Full;
use tower::{Layer, ServiceExt};

// README:begin tower
use edgeroute::{Decision, Engine, Policy};
use edgeroute_tower::{ConnectInfo, PolicyLayer};
use http::{Request, Response, StatusCode};

async fn origin(req: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    // Forwarded requests carry the decision: region, endpoint, cache directive, matched rules.
    let region = req
        .extensions()
        .get::<Decision>()
        .and_then(|d| d.region())
        .unwrap_or("?");
    Ok(Response::new(Full::new(Bytes::from(format!(
        "served in {region}\n"
    )))))
}

pub(crate) async fn run(policy_file: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let (policy, _warnings) = Policy::load(policy_file, None)?;
    let service = PolicyLayer::new(Engine::new(policy)).layer(tower::service_fn(origin));

    let mut req = Request::get("/.env")
        .header("host", "api.aybiza.com")
        .body(Full::default())?;
    // The server puts the connection's peer address here (hyper: from `accept()`).
    req.extensions_mut()
        .insert(ConnectInfo::new(SocketAddr::from((
            [81, 2, 69, 160],
            50_000,
        ))));
    let resp = service.oneshot(req).await?;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN); // the policy's scanner rule
    assert_eq!(
        resp.headers().get("x-frame-options").map(|v| v.as_bytes()),
        Some(&b"DENY"[..])
    ); // its security headers
    Ok(())
}
// README:end tower

#[allow(
    dead_code,
    reason = "also compiled as a module of the integration tests"
)]
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    run(concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies/aybiza.toml").as_ref()).await?;
    println!("ok: /.env was blocked with the policy's status and headers");
    Ok(())
}
