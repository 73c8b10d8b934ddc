//! `edgeroute-gateway`: an example HTTP/1 gateway that runs every request through the edgeroute
//! engine and proxies allowed ones to the endpoint the decision names.
//!
//! ```text
//! edgeroute-gateway --policy policies/aybiza.toml --listen 127.0.0.1:8080 --admin 127.0.0.1:9090 \
//!     --resolve api-use1-a.alb.aybiza.internal=127.0.0.1:8081 --upstream 127.0.0.1:8081
//! ```
//!
//! - `--resolve NAME=ADDR` maps an endpoint address of the policy to a socket address (the
//!   policy's endpoint names are ALB host names; this is the gateway's DNS).
//! - `--upstream ADDR` is where requests go when the decision names no endpoint (the policy has
//!   no routing for the host); without it such requests get `421`.
//! - Without `--policy` the gateway is a plain proxy to `--upstream` (the baseline of the
//!   throughput comparison).
//! - The policy reloads on SIGHUP and when the file changes (polled every `--watch-ms`); a bad
//!   file is logged and the old policy keeps serving.
//! - The policy's monitors probe every endpoint over plain HTTP (this example has no TLS; `https`
//!   monitors are probed over HTTP too) and feed the engine's health table; every upstream
//!   response or failure is reported passively (outlier detection).
//! - `--redis URL` shares rate-limit counters with other instances (`--redis-fail
//!   open|closed|local` says what happens while Redis is down).
//! - The admin port serves `/metrics` (Prometheus), `/healthz` and `/status` (health as JSON).
//!
//! It prints `listening on ADDR admin on ADDR` on stdout once both ports are bound.
// The workspace denies `unsafe`; only edgeroute-sim holds an exception (a cache prefetch).
#![forbid(unsafe_code)]

mod admin;
mod probe;
mod proxy;
mod reload;

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use clap::Parser;
use edgeroute::routing::{CompiledRouting, EndpointId, HealthTable, PassiveResult};
use edgeroute::{Decision, Engine, Policy, RouteChoice};
use edgeroute_tower::{Clock, ConnectInfo, MonotonicClock, PolicyLayer, SharedCounters};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tower::{Layer, ServiceExt};

use crate::proxy::{ForwardError, Target, UpBody, UpstreamClient};

#[derive(Debug, Parser)]
#[command(
    name = "edgeroute-gateway",
    version,
    about = "Example edgeroute gateway (HTTP/1)"
)]
struct Args {
    /// Policy file; without it the gateway only proxies to --upstream.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Policy environment overlay (production, staging, development).
    #[arg(long)]
    env: Option<String>,
    /// Address to serve on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Admin address (metrics, status).
    #[arg(long, default_value = "127.0.0.1:9090")]
    admin: SocketAddr,
    /// NAME=ADDR: where the policy's endpoint NAME is (repeatable).
    #[arg(long = "resolve", value_parser = parse_resolve)]
    resolve: Vec<(String, SocketAddr)>,
    /// Where requests go when the decision names no endpoint.
    #[arg(long)]
    upstream: Option<SocketAddr>,
    /// Share rate-limit counters through this Redis (redis://host:port/).
    #[arg(long)]
    redis: Option<String>,
    /// What shared counters read while Redis is down: open, closed or local.
    #[arg(long, default_value = "open")]
    redis_fail: String,
    /// How often to check the policy file for changes, in ms.
    #[arg(long, default_value_t = 1000)]
    watch_ms: u64,
    /// Largest request head accepted, in bytes (larger: 431).
    #[arg(long, default_value_t = 64 * 1024)]
    max_header_bytes: usize,
    /// Time a client has to send a request head, in seconds.
    #[arg(long, default_value_t = 10)]
    header_timeout_s: u64,
    /// Time an upstream has to answer, in ms (then 504).
    #[arg(long, default_value_t = 30_000)]
    upstream_timeout_ms: u64,
    /// Time to connect to an upstream, in ms.
    #[arg(long, default_value_t = 1_000)]
    connect_timeout_ms: u64,
}

fn parse_resolve(s: &str) -> Result<(String, SocketAddr), String> {
    let (name, addr) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}`: expected NAME=ADDR"))?;
    let addr = addr
        .parse()
        .map_err(|e| format!("`{addr}`: not a socket address: {e}"))?;
    Ok((name.to_owned(), addr))
}

/// What every connection shares.
struct Gateway {
    engine: Option<Arc<Engine>>,
    /// Looked up per routed request: foldhash, not the standard library's SipHash (about 100
    /// instructions per lookup of an endpoint name).
    resolve: HashMap<String, Target, foldhash::fast::FixedState>,
    upstream: Option<Target>,
    client: UpstreamClient,
    clock: MonotonicClock,
    upstream_timeout: Duration,
    counters: UpstreamCounters,
}

type GwBody = http_body_util::combinators::UnsyncBoxBody<Bytes, hyper::Error>;

fn text(status: StatusCode, msg: &'static str) -> Response<GwBody> {
    let mut r = Response::new(
        Full::new(Bytes::from_static(msg.as_bytes()))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain"),
    );
    r
}

/// Counts a request as outstanding on an endpoint until dropped. It borrows the health table
/// and the routing of the decision's own policy snapshot (the one the endpoint id belongs to),
/// so a request takes no reference count and no `ArcSwap` load on the engine.
struct Outstanding<'a> {
    health: &'a HealthTable,
    routing: &'a CompiledRouting,
    endpoint: EndpointId,
}

impl Drop for Outstanding<'_> {
    fn drop(&mut self) {
        self.health.request_finished(self.routing, self.endpoint);
    }
}

/// Handles of `edgeroute_upstream_responses_total`, one per outcome, taken once (after the
/// recorder is installed) instead of a registry lookup per request.
struct UpstreamCounters {
    response: metrics::Counter,
    connect_failure: metrics::Counter,
    reset: metrics::Counter,
    timeout: metrics::Counter,
    unresolved: metrics::Counter,
}

impl UpstreamCounters {
    fn new() -> Self {
        let c = |outcome: &'static str| metrics::counter!("edgeroute_upstream_responses_total", "outcome" => outcome);
        UpstreamCounters {
            response: c("response"),
            connect_failure: c("connect_failure"),
            reset: c("reset"),
            timeout: c("timeout"),
            unresolved: c("unresolved"),
        }
    }
}

impl Gateway {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.clock.now().as_millis()).unwrap_or(u64::MAX)
    }

    fn report(&self, routed: Option<&Outstanding<'_>>, result: PassiveResult) {
        if let Some(o) = routed {
            let _ = o
                .health
                .report_passive(o.routing, o.endpoint, result, self.now_ms());
        }
    }

    /// The inner service: forwards to the decision's endpoint (or the default upstream).
    async fn proxy(self: Arc<Self>, mut req: Request<Incoming>) -> Response<GwBody> {
        // The extensions are not forwarded: taken out whole, so the decision is read where it
        // is (no move out of its box). Its snapshot is the one its endpoint id refers to.
        let extensions = std::mem::take(req.extensions_mut());
        let decision = extensions.get::<Decision>();
        let endpoint_id = decision.and_then(|d| match d.route {
            Some(RouteChoice::Routed { endpoint, .. }) => Some(endpoint),
            _ => None,
        });
        let target = match decision.and_then(Decision::endpoint) {
            Some(name) => match self
                .resolve
                .get(name)
                .cloned()
                .or_else(|| name.parse().ok().and_then(Target::new))
            {
                Some(addr) => addr,
                None => {
                    self.counters.unresolved.increment(1);
                    return text(
                        StatusCode::BAD_GATEWAY,
                        "cannot resolve the chosen endpoint\n",
                    );
                }
            },
            None => match &self.upstream {
                Some(a) => a.clone(),
                None => {
                    return text(
                        StatusCode::MISDIRECTED_REQUEST,
                        "no service for this host\n",
                    );
                }
            },
        };
        let outstanding = match (&self.engine, decision, endpoint_id) {
            (Some(engine), Some(d), Some(id)) => d.policy().routing().map(|rt| {
                engine.health().request_started(rt, id);
                Outstanding {
                    health: engine.health(),
                    routing: rt,
                    endpoint: id,
                }
            }),
            _ => None,
        };
        let routed = outstanding.as_ref();
        let peer = extensions
            .get::<ConnectInfo>()
            .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |c| c.peer.ip());
        let (parts, body) = req.into_parts();
        let body: UpBody = body.boxed_unsync();
        let sent = tokio::time::timeout(
            self.upstream_timeout,
            proxy::forward(&self.client, target, peer, parts, body),
        )
        .await;
        match sent {
            Ok(Ok(resp)) => {
                self.report(routed, PassiveResult::Status(resp.status().as_u16()));
                self.counters.response.increment(1);
                resp.map(BodyExt::boxed_unsync)
            }
            Ok(Err(ForwardError::Connect)) => {
                self.report(routed, PassiveResult::ConnectFailure);
                self.counters.connect_failure.increment(1);
                text(StatusCode::BAD_GATEWAY, "upstream unreachable\n")
            }
            Ok(Err(ForwardError::Upstream)) => {
                self.report(routed, PassiveResult::ConnectFailure);
                self.counters.reset.increment(1);
                text(StatusCode::BAD_GATEWAY, "upstream failed\n")
            }
            Ok(Err(ForwardError::BadRequest)) => text(StatusCode::BAD_REQUEST, "bad request\n"),
            Err(_) => {
                self.report(routed, PassiveResult::Timeout);
                self.counters.timeout.increment(1);
                text(StatusCode::GATEWAY_TIMEOUT, "upstream timed out\n")
            }
        }
    }
}

struct StatusPage {
    engine: Option<Arc<Engine>>,
    clock: MonotonicClock,
}

impl admin::Status for StatusPage {
    fn status_text(&self) -> String {
        let Some(engine) = &self.engine else {
            return "{\"policy\":null}\n".to_owned();
        };
        let policy = engine.policy();
        let now_ms = u64::try_from(self.clock.now().as_millis()).unwrap_or(u64::MAX);
        let health = policy
            .routing()
            .map(|rt| engine.health().snapshot(rt, now_ms));
        let v = serde_json::json!({
            "policy": policy.name(),
            "health": health,
        });
        format!("{v}\n")
    }
}

fn load_policy(path: &std::path::Path, env: Option<&str>) -> anyhow::Result<Policy> {
    match Policy::load(path, env) {
        Ok((p, warnings)) => {
            for w in warnings {
                eprintln!("{w}");
            }
            Ok(p)
        }
        Err(errors) => anyhow::bail!("{errors}"),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("edgeroute-gateway: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let prometheus = admin::install_recorder().context("cannot install the metrics recorder")?;
    let clock = MonotonicClock::new();
    let engine = match &args.policy {
        None => None,
        Some(path) => {
            let policy = load_policy(path, args.env.as_deref())?;
            let engine = match &args.redis {
                None => Engine::new(policy),
                Some(url) => {
                    let mut cfg = edgeroute_tower::RedisCounterConfig::new(url.clone());
                    cfg.fail_mode = edgeroute_tower::FailMode::parse(&args.redis_fail)
                        .with_context(|| {
                            format!("`{}`: expected open, closed or local", args.redis_fail)
                        })?;
                    let store = SharedCounters::connect(&cfg).await?;
                    if !store.is_available() {
                        eprintln!(
                            "edgeroute-gateway: redis at {url} is not answering; counters fail {}",
                            args.redis_fail
                        );
                    }
                    Engine::with_counter_store(policy, Arc::new(store))
                }
            };
            Some(Arc::new(engine))
        }
    };
    let gateway = Arc::new(Gateway {
        engine: engine.clone(),
        resolve: args
            .resolve
            .iter()
            .filter_map(|(name, addr)| Some((name.clone(), Target::new(*addr)?)))
            .collect(),
        upstream: args.upstream.and_then(Target::new),
        client: proxy::client(Duration::from_millis(args.connect_timeout_ms)),
        clock,
        upstream_timeout: Duration::from_millis(args.upstream_timeout_ms),
        counters: UpstreamCounters::new(),
    });

    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let admin_listener = admin::bind(args.admin)
        .await
        .with_context(|| format!("cannot listen on {}", args.admin))?;
    let local = listener.local_addr()?;
    let admin_local = admin_listener.local_addr()?;

    tokio::spawn(admin::serve(
        admin_listener,
        prometheus,
        Arc::new(StatusPage {
            engine: engine.clone(),
            clock,
        }),
    ));
    if let (Some(engine), Some(path)) = (&engine, &args.policy) {
        let engine_for_reload = Arc::clone(engine);
        let env = args.env.clone();
        tokio::spawn(reload::watch(
            path.clone(),
            Duration::from_millis(args.watch_ms.max(10)),
            move |path, why| match load_policy(path, env.as_deref()) {
                Ok(p) => {
                    engine_for_reload.reload(p);
                    metrics::counter!("edgeroute_policy_reloads_total", "result" => "ok")
                        .increment(1);
                    eprintln!("edgeroute-gateway: reloaded {} ({why})", path.display());
                }
                Err(e) => {
                    metrics::counter!("edgeroute_policy_reloads_total", "result" => "error")
                        .increment(1);
                    eprintln!(
                        "edgeroute-gateway: reload of {} failed ({why}); the old policy keeps serving:\n{e:#}",
                        path.display()
                    );
                }
            },
        ));
        tokio::spawn(probe::run_monitors(
            Arc::clone(engine),
            args.resolve.iter().cloned().collect(),
            clock,
        ));
    }

    println!("listening on {local} admin on {admin_local}");
    let _ = std::io::stdout().flush();

    let policy_layer = engine
        .as_ref()
        .map(|e| PolicyLayer::new(Arc::clone(e)).with_clock(clock));
    let header_timeout = Duration::from_secs(args.header_timeout_s.max(1));
    let max_buf = args.max_header_bytes.max(8192);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                eprintln!("edgeroute-gateway: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let gateway = Arc::clone(&gateway);
        let policy_layer = policy_layer.clone();
        tokio::spawn(async move {
            let info = ConnectInfo::new(peer);
            let inner = tower::service_fn(move |req: Request<Incoming>| {
                let gateway = Arc::clone(&gateway);
                async move { Ok::<_, Infallible>(gateway.proxy(req).await) }
            });
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .max_buf_size(max_buf);
            let io = TokioIo::new(stream);
            match policy_layer {
                Some(layer) => {
                    let svc = layer.layer(inner);
                    let hyper_svc = service_fn(move |mut req: Request<Incoming>| {
                        req.extensions_mut().insert(info);
                        svc.clone().oneshot(req)
                    });
                    let _ = builder.serve_connection(io, hyper_svc).await;
                }
                None => {
                    let hyper_svc = service_fn(move |mut req: Request<Incoming>| {
                        req.extensions_mut().insert(info);
                        inner.clone().oneshot(req)
                    });
                    let _ = builder.serve_connection(io, hyper_svc).await;
                }
            }
        });
    }
}
