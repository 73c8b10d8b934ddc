//! The pingora example of the README's "Embedding in a gateway" section, on real pingora
//! (`pingora-proxy` 0.9, no TLS features): the engine decides in `ProxyHttp::request_filter`,
//! the policy's header edits are applied in `upstream_request_filter` and `response_filter`.
//!
//! Behind the `pingora` feature (pingora pulls in about 200 crates and needs `cmake` for
//! zlib-ng, so the default build leaves it out; CI builds and runs it):
//!
//! `cargo run -p edgeroute-tower --features pingora --example pingora_filter`
//!
//! `main` starts a local upstream and a pingora server on loopback, sends it a scanner probe,
//! an API call and a CORS preflight over TCP, checks the answers, and shuts pingora down.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::BodyExt;
use pingora_core::server::{RunArgs, Server, ShutdownSignal, ShutdownSignalWatch};
use pingora_core::upstreams::peer::HttpPeer;
use pingora_http::{RequestHeader, ResponseHeader};
use pingora_proxy::{ProxyHttp, Session};

type Error = Box<dyn std::error::Error + Send + Sync>;
type Result<T> = std::result::Result<T, Error>;

// README:begin pingora
use edgeroute::{Decision, Engine, HttpScheme, RequestView, Timestamp};
use edgeroute_tower::{Clock, MonotonicClock};

pub(crate) struct EdgeGateway {
    engine: Arc<Engine>,
    clock: MonotonicClock,
    /// Where forwarded requests go; a real gateway resolves `Decision::endpoint()`.
    upstream: SocketAddr,
}

#[async_trait]
impl ProxyHttp for EdgeGateway {
    type CTX = Option<Decision>;

    fn new_ctx(&self) -> Self::CTX {
        None
    }

    async fn request_filter(
        &self,
        session: &mut Session,
        ctx: &mut Self::CTX,
    ) -> pingora_core::Result<bool> {
        // The view borrows the request and is not `Send`: decide in a block, before any await.
        let decision = {
            let req = session.req_header();
            let headers: Vec<(&[u8], &[u8])> = req
                .headers
                .iter()
                .map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()))
                .collect();
            let peer = session
                .client_addr()
                .and_then(|a| a.as_inet())
                .map_or([0, 0, 0, 0].into(), |a| a.ip());
            let view = RequestView {
                method: req.method.as_str().as_bytes(),
                scheme: HttpScheme::Http, // Https on a TLS listener
                host: req.uri.host().map(str::as_bytes),
                path_and_query: req
                    .uri
                    .path_and_query()
                    .map_or(b"/", |p| p.as_str().as_bytes()),
                headers: &headers,
                ..RequestView::new(peer)
            };
            let micros = u64::try_from(self.clock.now().as_micros()).unwrap_or(u64::MAX);
            self.engine.decide(&view, Timestamp::from_micros(micros))
        };
        if decision.action.forwards() {
            *ctx = Some(decision); // header edits in the two filters below
            return Ok(false);
        }
        // Blocks, challenges, 429s, preflights: the layer's own answer, written by pingora.
        let (parts, body) = edgeroute_tower::answer(&decision).into_parts();
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let mut head = ResponseHeader::build(parts.status, Some(parts.headers.len() + 1))?;
        for (name, value) in &parts.headers {
            head.append_header(name.clone(), value.clone())?;
        }
        head.insert_header(http::header::CONTENT_LENGTH, body.len())?;
        session.write_response_header(Box::new(head), false).await?;
        session.write_response_body(Some(body), true).await?;
        Ok(true)
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        _ctx: &mut Self::CTX,
    ) -> pingora_core::Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(self.upstream, false, String::new())))
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut Self::CTX,
    ) -> pingora_core::Result<()> {
        for (name, value) in ctx.iter().flat_map(Decision::request_headers) {
            upstream_request.insert_header(name.to_owned(), value.to_string())?;
        }
        Ok(())
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut Self::CTX,
    ) -> pingora_core::Result<()> {
        for (name, value) in ctx.iter().flat_map(Decision::response_headers) {
            if name == "vary" {
                upstream_response.append_header(name.to_owned(), value.to_string())?;
            } else {
                upstream_response.insert_header(name.to_owned(), value.to_string())?;
            }
        }
        Ok(())
    }
}
// README:end pingora

#[allow(
    dead_code,
    reason = "also compiled as a module of the integration tests"
)]
fn main() -> Result<()> {
    demo()?;
    println!(
        "ok: pingora answered the probe and the preflight, and proxied the API call with header edits"
    );
    Ok(())
}

/// Shuts pingora down when told.
struct Stop(Arc<tokio::sync::Notify>);

#[async_trait]
impl ShutdownSignalWatch for Stop {
    async fn recv(&self) -> ShutdownSignal {
        self.0.notified().await;
        ShutdownSignal::FastShutdown
    }
}

/// A local upstream answering `region=<x-cf-region it received>`, on a thread of its own.
fn upstream() -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::spawn(move || {
        rt.block_on(async move {
            let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                return;
            };
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(|req: http::Request<_>| async move {
                        let region = req
                            .headers()
                            .get("x-cf-region")
                            .map(|v: &http::HeaderValue| v.as_bytes().to_vec())
                            .unwrap_or_default();
                        let body = [b"region=".as_slice(), &region].concat();
                        let _: &hyper::body::Incoming = req.body();
                        Ok::<_, std::convert::Infallible>(http::Response::new(
                            http_body_util::Full::new(Bytes::from(body)),
                        ))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
    });
    Ok(addr)
}

/// One HTTP/1.1 exchange over a fresh connection; the raw response, head and body.
fn exchange(addr: SocketAddr, request: &str) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut stream = loop {
        match TcpStream::connect(addr) {
            Ok(s) => break s,
            // pingora is still starting.
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(e.into()),
        }
    };
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(request.as_bytes())?;
    let mut out = String::new();
    stream.read_to_string(&mut out)?;
    Ok(out)
}

/// Runs pingora with [`EdgeGateway`] on loopback and checks its answers.
pub(crate) fn demo() -> Result<()> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies/aybiza.toml");
    let (policy, _) = edgeroute::Policy::load(path.as_ref(), None)?;
    let gw = EdgeGateway {
        engine: Arc::new(Engine::new(policy)),
        clock: MonotonicClock::new(),
        upstream: upstream()?,
    };
    // A free loopback port for pingora's listener.
    let listen = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let mut server = Server::new(None)?;
    server.bootstrap();
    let mut proxy = pingora_proxy::http_proxy_service(&server.configuration, gw);
    proxy.add_tcp(&listen.to_string());
    server.add_service(proxy);
    let stop = Arc::new(tokio::sync::Notify::new());
    let shutdown = Stop(Arc::clone(&stop));
    let running = std::thread::spawn(move || {
        server.run(RunArgs {
            shutdown_signal: Box::new(shutdown),
        });
    });

    let checks = || -> Result<()> {
        let get = |path: &str| {
            format!("GET {path} HTTP/1.1\r\nHost: api.aybiza.com\r\nConnection: close\r\n\r\n")
        };
        // A scanner probe is answered in request_filter, with the policy's security headers.
        let probe = exchange(listen, &get("/.env"))?;
        if !probe.starts_with("HTTP/1.1 403")
            || !probe.to_ascii_lowercase().contains("x-frame-options: deny")
        {
            return Err(format!("probe: expected 403 with x-frame-options, got:\n{probe}").into());
        }
        // An API call is proxied: the upstream saw the region header, the client gets the
        // security headers.
        let call = exchange(listen, &get("/api/v1/agents"))?;
        if !call.starts_with("HTTP/1.1 200")
            || !call.to_ascii_lowercase().contains("x-frame-options: deny")
            || call.ends_with("region=")
            || !call.contains("region=")
        {
            return Err(format!("API call: expected 200 with a region, got:\n{call}").into());
        }
        // A CORS preflight is answered at the edge.
        let preflight = exchange(
            listen,
            "OPTIONS /api/v1/calls HTTP/1.1\r\nHost: api.aybiza.com\r\n\
             Origin: https://app.aybiza.com\r\nAccess-Control-Request-Method: POST\r\n\
             Connection: close\r\n\r\n",
        )?;
        if !preflight.starts_with("HTTP/1.1 204")
            || !preflight
                .to_ascii_lowercase()
                .contains("access-control-allow-origin: https://app.aybiza.com")
        {
            return Err(
                format!("preflight: expected 204 with CORS headers, got:\n{preflight}").into(),
            );
        }
        Ok(())
    };
    let result = checks();
    stop.notify_one();
    running
        .join()
        .map_err(|_| "the pingora server thread panicked")?;
    result
}
