//! The tower layer over an echo service, on policies/aybiza.toml.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use edgeroute::{Action, Decision, Engine, Policy};
use edgeroute_tower::{CHALLENGE_HEADER, ConnectInfo, ManualClock, PolicyLayer};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{Layer, Service, ServiceExt};

pub fn aybiza_text() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../policies/aybiza.toml"
    ))
    .unwrap()
}

pub fn aybiza() -> Policy {
    let (p, _warnings) = Policy::from_toml_str(&aybiza_text(), "aybiza.toml", None).unwrap();
    p
}

/// A Cloudflare edge address (173.245.48.0/20): its forwarding headers are trusted.
const CF_PEER: &str = "173.245.48.1:443";

/// The inner service: answers 200 with the request headers it saw, as `name: value` lines, and
/// whether a Decision was in the extensions.
async fn echo(req: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut out = String::new();
    let d = req.extensions().get::<Decision>();
    out.push_str(&format!(
        "decision: {}\n",
        d.map_or("none", |d| d.action.as_str())
    ));
    for (n, v) in req.headers() {
        out.push_str(&format!(
            "{}: {}\n",
            n,
            String::from_utf8_lossy(v.as_bytes())
        ));
    }
    let mut r = Response::new(Full::new(Bytes::from(out)));
    r.headers_mut()
        .insert("vary", http::HeaderValue::from_static("Accept-Encoding"));
    Ok(r)
}

fn request(method: &str, url: &str, client: &str) -> Request<Full<Bytes>> {
    let (host, path) = url
        .split_once('/')
        .map_or((url, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let mut r = Request::builder()
        .method(method)
        .uri(path)
        .header("host", host)
        .header("cf-connecting-ip", client)
        .header("cf-ipcountry", "DE")
        .body(Full::new(Bytes::new()))
        .unwrap();
    r.extensions_mut()
        .insert(ConnectInfo::new(CF_PEER.parse::<SocketAddr>().unwrap()));
    r
}

async fn body_text<B: http_body::Body>(r: Response<B>) -> (http::response::Parts, String)
where
    B::Error: std::fmt::Debug,
{
    let (parts, body) = r.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (parts, String::from_utf8_lossy(&bytes).into_owned())
}

fn layer(clock: &ManualClock) -> PolicyLayer {
    PolicyLayer::new(Engine::new(aybiza())).with_clock(clock.clone())
}

#[tokio::test]
async fn allowed_requests_are_forwarded_with_header_edits_and_the_decision() {
    let clock = ManualClock::new(Duration::from_secs(1_000_000));
    let svc = layer(&clock).layer(tower::service_fn(echo));
    let resp = svc
        .oneshot(request(
            "GET",
            "api.aybiza.com/static/app.js",
            "81.2.69.160",
        ))
        .await
        .unwrap();
    let (parts, body) = body_text(resp).await;
    assert_eq!(parts.status, StatusCode::OK);
    assert!(body.contains("decision: allow"), "{body}");
    assert!(body.contains("x-cf-country: DE"), "{body}");
    assert!(body.contains("x-cf-region: "), "{body}");
    assert_eq!(parts.headers["x-content-type-options"], "nosniff");
    assert_eq!(parts.headers["x-frame-options"], "DENY");
    assert!(parts.headers.contains_key("strict-transport-security"));
}

#[tokio::test]
async fn blocked_requests_get_the_policy_status_and_body_and_never_reach_the_inner_service() {
    let clock = ManualClock::new(Duration::from_secs(1_000_000));
    let svc = layer(&clock).layer(tower::service_fn(|_req: Request<Full<Bytes>>| async {
        panic!("a blocked request reached the inner service");
        #[allow(unreachable_code, reason = "type inference")]
        Ok::<Response<Full<Bytes>>, Infallible>(Response::new(Full::new(Bytes::new())))
    }));
    let resp = svc
        .oneshot(request("GET", "api.aybiza.com/.env", "81.2.69.160"))
        .await
        .unwrap();
    let (parts, body) = body_text(resp).await;
    assert_eq!(parts.status, StatusCode::FORBIDDEN);
    assert_eq!(body, "forbidden");
    assert_eq!(parts.headers["x-frame-options"], "DENY");
}

#[tokio::test]
async fn the_101st_request_a_minute_gets_429_with_retry_after() {
    let clock = ManualClock::new(Duration::from_secs(60 * 20_000));
    let mut svc = layer(&clock).layer(tower::service_fn(echo));
    for i in 0..100 {
        let r = svc
            .ready()
            .await
            .unwrap()
            .call(request(
                "GET",
                "api.aybiza.com/api/v1/agents",
                "81.2.69.160",
            ))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "request {}", i + 1);
        clock.advance(Duration::from_millis(100));
    }
    let r = svc
        .ready()
        .await
        .unwrap()
        .call(request(
            "GET",
            "api.aybiza.com/api/v1/agents",
            "81.2.69.160",
        ))
        .await
        .unwrap();
    let (parts, body) = body_text(r).await;
    assert_eq!(parts.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body, "rate limit exceeded");
    let retry: u32 = parts.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // Up to two periods: the next window still carries this one's count.
    assert!((1..=120).contains(&retry), "retry-after {retry}");
    // Another client is not limited.
    let r = svc
        .ready()
        .await
        .unwrap()
        .call(request(
            "GET",
            "api.aybiza.com/api/v1/agents",
            "81.2.69.161",
        ))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn high_threat_scores_are_challenged_with_a_403_naming_the_challenge() {
    let clock = ManualClock::new(Duration::from_secs(1_000_000));
    let engine = Arc::new(Engine::new(aybiza()));
    let policy = engine.policy();
    let threat = policy.scheme().field("cf.threat_score").unwrap();
    drop(policy);
    let fields = [(threat, edgeroute_rules::Value::Int(80))];
    let req = request("GET", "api.aybiza.com/api/v1/agents", "81.2.69.160");
    let d = edgeroute_tower::with_request_view(&req, |v| {
        let v = edgeroute::RequestView {
            fields: &fields,
            ..*v
        };
        engine.decide(&v, edgeroute::Timestamp::from_secs(1_000_000))
    });
    assert_eq!(d.action, Action::Challenge);
    let resp = edgeroute_tower::answer(&d);
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(resp.headers()[CHALLENGE_HEADER], "challenge");
    let _ = clock;
}

#[tokio::test]
async fn cors_preflights_are_answered_at_the_edge() {
    let clock = ManualClock::new(Duration::from_secs(1_000_000));
    let svc = layer(&clock).layer(tower::service_fn(echo));
    let mut req = request("OPTIONS", "api.aybiza.com/api/v1/agents", "81.2.69.160");
    req.headers_mut().insert(
        "origin",
        http::HeaderValue::from_static("https://app.aybiza.com"),
    );
    req.headers_mut().insert(
        "access-control-request-method",
        http::HeaderValue::from_static("POST"),
    );
    let resp = svc.oneshot(req).await.unwrap();
    let (parts, body) = body_text(resp).await;
    assert_eq!(parts.status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(
        parts.headers["access-control-allow-origin"],
        "https://app.aybiza.com"
    );
    assert!(
        parts.headers["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    assert!(parts.headers.contains_key("access-control-max-age"));
}

#[tokio::test]
async fn vary_is_appended_not_replaced_and_the_inner_service_is_reachable() {
    let clock = ManualClock::new(Duration::from_secs(1_000_000));
    let mut svc = layer(&clock).layer(tower::service_fn(echo));
    let _ = svc.get_ref();
    let _ = svc.get_mut();
    let mut req = request("GET", "api.aybiza.com/api/v1/agents", "81.2.69.160");
    req.headers_mut().insert(
        "origin",
        http::HeaderValue::from_static("https://app.aybiza.com"),
    );
    let resp = svc.clone().oneshot(req).await.unwrap();
    let vary: Vec<_> = resp.headers().get_all("vary").iter().collect();
    assert!(vary.len() >= 2, "{vary:?}");
    let _inner = svc.into_inner();
}

/// Polls a future that is ready at once (the services here never wait).
fn ready<F: std::future::Future>(f: F) -> F::Output {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::pin!(f).poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("not ready"),
    }
}

async fn plain(_req: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"ok"))))
}

/// Heap allocations of `n` forwarded requests through `svc`, the requests built beforehand.
fn allocations<S>(svc: &mut S, clock: &ManualClock, n: u32, first: u32) -> u64
where
    S: Service<Request<Full<Bytes>>, Error = Infallible>,
    S::Response: std::fmt::Debug,
{
    let reqs: Vec<_> = (first..first + n)
        .map(|i| {
            request(
                "GET",
                "api.aybiza.com/static/app.js",
                &format!("81.2.{}.{}", i / 200, i % 200 + 1),
            )
        })
        .collect();
    let info = allocation_counter::measure(|| {
        for req in reqs {
            clock.advance(Duration::from_millis(1));
            let _ = ready(svc.call(req)).unwrap();
        }
    });
    info.count_total
}

/// A forwarded request costs the layer three heap allocations beyond the inner service: the
/// `Decision` boxed into the request's extensions and the response header map's two tables (the
/// inner service's response had no headers). Header names, values and metric handles come from
/// caches filled by the first requests.
#[test]
fn a_forwarded_request_allocates_three_times_beyond_the_inner_service() {
    let clock = ManualClock::new(Duration::from_secs(1_000_000));
    let mut bare = tower::service_fn(plain);
    for metrics in [false, true] {
        let mut svc = layer(&clock)
            .with_metrics(metrics)
            .layer(tower::service_fn(plain));
        // Warm up: caches, the rate-limit table's first keys, metric handles.
        let _ = allocations(&mut svc, &clock, 50, 0);
        let n = 200;
        let inner = allocations(&mut bare, &clock, n, 1_000);
        let layered = allocations(&mut svc, &clock, n, 1_000);
        let extra = (layered - inner) as f64 / f64::from(n);
        assert!(
            extra <= 3.0,
            "metrics {metrics}: {extra} allocations per request beyond the inner service's ({inner} / {layered} for {n})"
        );
        assert!(extra >= 1.0, "the Decision is boxed into the extensions");
    }
}
