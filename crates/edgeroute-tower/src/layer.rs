//! [`PolicyLayer`]: the engine as a tower middleware.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use edgeroute::{Action, Decision, Engine, Timestamp};
use http::header::{HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::{Either, Full};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::clock::{Clock, MonotonicClock};
use crate::headers::{EditList, HeaderCache, set};
use crate::request::with_request_view;

/// The response body of a [`PolicyService`]: the inner service's body, or the layer's own answer.
pub type PolicyBody<B> = Either<B, Full<Bytes>>;

/// Header naming the challenge a `403` answer stands for (`challenge`, `managed_challenge`,
/// `js_challenge`): this gateway cannot run Cloudflare's challenge pages, so it says which one
/// the policy asked for and refuses.
pub const CHALLENGE_HEADER: &str = "x-edgeroute-challenge";

/// A tower [`Layer`] that runs every request through an [`Engine`].
///
/// Its service answers by itself when the decision says so (block: the policy's status and
/// body; challenges: `403` with [`CHALLENGE_HEADER`]; rate limits: `429` with `Retry-After`;
/// CORS preflights: `204` with the CORS headers; no allowed origin: `503`) and otherwise forwards
/// the request to the inner service with the policy's request headers set and the [`Decision`]
/// in the request extensions, then sets the policy's response headers on the inner response.
///
/// The clock is injected: [`MonotonicClock`] by default, any [`Clock`] with
/// [`with_clock`](Self::with_clock).
#[derive(Clone)]
pub struct PolicyLayer {
    engine: Arc<Engine>,
    clock: Arc<dyn Clock>,
    metrics: bool,
    recorder: Arc<crate::metrics::DecisionMetrics>,
}

impl std::fmt::Debug for PolicyLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyLayer")
            .field("metrics", &self.metrics)
            .finish_non_exhaustive()
    }
}

impl PolicyLayer {
    /// A layer deciding with `engine` (an `Engine` or an `Arc<Engine>` shared with whoever
    /// reloads it and feeds it health reports).
    pub fn new(engine: impl Into<Arc<Engine>>) -> Self {
        PolicyLayer {
            engine: engine.into(),
            clock: Arc::new(MonotonicClock::new()),
            metrics: true,
            recorder: Arc::default(),
        }
    }

    /// The same layer reading time from `clock`.
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Whether to record [metrics](crate::metrics) for every decision (default on).
    #[must_use]
    pub fn with_metrics(mut self, on: bool) -> Self {
        self.metrics = on;
        self
    }

    /// The engine.
    #[must_use]
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }
}

impl<S> Layer<S> for PolicyLayer {
    type Service = PolicyService<S>;

    /// A service around `inner`. Servers call this once per connection: the service's state is
    /// one `Arc` of its own, so the clone a server makes per request touches a reference count
    /// private to the connection, not one every core shares.
    fn layer(&self, inner: S) -> Self::Service {
        PolicyService {
            inner,
            shared: Arc::new(Shared {
                engine: Arc::clone(&self.engine),
                clock: Arc::clone(&self.clock),
                metrics: self.metrics,
                recorder: Arc::clone(&self.recorder),
            }),
        }
    }
}

/// What a [`PolicyService`] and its clones share.
struct Shared {
    engine: Arc<Engine>,
    clock: Arc<dyn Clock>,
    metrics: bool,
    recorder: Arc<crate::metrics::DecisionMetrics>,
}

/// The service made by [`PolicyLayer`].
#[derive(Clone)]
pub struct PolicyService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for PolicyService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S> PolicyService<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Consumes the middleware, returning the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.shared.engine
    }

    /// Decides for `req` now, as `call` does (without recording metrics).
    pub fn decide<B>(&self, req: &Request<B>) -> Decision {
        self.decide_at(req, self.shared.clock.now())
    }

    fn decide_at<B>(&self, req: &Request<B>, now: std::time::Duration) -> Decision {
        let now = timestamp(now);
        let seed = next_seed();
        with_request_view(req, |v| {
            let v = edgeroute::RequestView { seed, ..*v };
            self.shared.engine.decide(&v, now)
        })
    }
}

/// A seed for randomised steering (weighted pools, canaries), distinct per request: a per-thread
/// counter, each thread starting 2^40 apart, so no cache line is shared between cores per
/// request (the engine mixes it with the client, path and time).
fn next_seed() -> u64 {
    static THREADS: AtomicU64 = AtomicU64::new(0);
    thread_local! {
        static NEXT: Cell<u64> = const { Cell::new(u64::MAX) };
    }
    NEXT.with(|n| {
        let mut v = n.get();
        if v == u64::MAX {
            v = THREADS.fetch_add(1, Ordering::Relaxed).wrapping_shl(40);
        }
        n.set(v.wrapping_add(1));
        v
    })
}

fn timestamp(d: std::time::Duration) -> Timestamp {
    Timestamp::from_micros(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

impl<S, B, RB> Service<Request<B>> for PolicyService<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
{
    type Response = Response<PolicyBody<RB>>;
    type Error = S::Error;
    type Future = PolicyFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let shared = &*self.shared;
        let decision = if shared.metrics {
            // One clock reading for both the decision's time and the latency metric.
            let started = Instant::now();
            let decision = self.decide_at(&req, shared.clock.now_at(started));
            shared.recorder.record(&decision, started.elapsed());
            decision
        } else {
            self.decide(&req)
        };
        if decision.action.forwards() {
            // Both edit lists are parsed now, so the decision moves into the extensions (no
            // clone) and the future holds only the (shared) parsed response edits.
            let response = HeaderCache.decision_edits(&decision, Some(req.headers_mut()));
            req.extensions_mut().insert(decision);
            PolicyFuture {
                state: State::Forward {
                    fut: self.inner.call(req),
                    edits: response,
                },
            }
        } else {
            PolicyFuture {
                state: State::Answer {
                    response: Some(answer_with(&decision, true)),
                },
            }
        }
    }
}

pin_project! {
    /// The future of [`PolicyService::call`].
    pub struct PolicyFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Forward { #[pin] fut: F, edits: Option<EditList> },
        Answer { response: Option<Response<Full<Bytes>>> },
    }
}

impl<F, RB, E> Future for PolicyFuture<F>
where
    F: Future<Output = Result<Response<RB>, E>>,
{
    type Output = Result<Response<PolicyBody<RB>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Forward { fut, edits } => match fut.poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Ready(Ok(mut resp)) => {
                    if let Some(list) = edits.take() {
                        list.apply_to(resp.headers_mut());
                    }
                    Poll::Ready(Ok(resp.map(Either::Left)))
                }
            },
            StateProj::Answer { response } => {
                let resp = response.take().unwrap_or_else(|| {
                    // Polled after completion: answer something defined rather than panic.
                    status_only(StatusCode::INTERNAL_SERVER_ERROR)
                });
                Poll::Ready(Ok(resp.map(Either::Right)))
            }
        }
    }
}

fn status_only(status: StatusCode) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = status;
    r
}

/// The layer's own answer for a decision that does not forward.
#[must_use]
pub fn answer(decision: &Decision) -> Response<Full<Bytes>> {
    answer_with(decision, false)
}

/// [`answer`]; with `cached`, header names, values and the body come from the per-thread cache
/// instead of being parsed and copied per request.
fn answer_with(decision: &Decision, cached: bool) -> Response<Full<Bytes>> {
    let default_status = match decision.action {
        Action::Allow | Action::Preflight => StatusCode::NO_CONTENT,
        Action::Block | Action::Challenge | Action::ManagedChallenge | Action::JsChallenge => {
            StatusCode::FORBIDDEN
        }
        Action::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    };
    let status = decision
        .status
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(default_status);
    let text_plain = || Some(HeaderValue::from_static("text/plain"));
    let (content_type, body): (Option<HeaderValue>, Bytes) = match decision.action {
        Action::Preflight | Action::Allow => (None, Bytes::new()),
        Action::Block => match decision.body() {
            Some((ct, body)) if cached => {
                (HeaderCache.value(ct.as_bytes()), HeaderCache.body(body))
            }
            Some((ct, body)) => (
                HeaderValue::from_str(ct).ok(),
                Bytes::copy_from_slice(body.as_bytes()),
            ),
            None if status == StatusCode::TOO_MANY_REQUESTS => {
                (text_plain(), Bytes::from_static(b"rate limited\n"))
            }
            None => (text_plain(), Bytes::from_static(b"blocked\n")),
        },
        Action::Challenge | Action::ManagedChallenge | Action::JsChallenge => {
            (text_plain(), Bytes::from_static(b"challenge required\n"))
        }
        Action::Unavailable => (text_plain(), Bytes::from_static(b"no origin available\n")),
    };
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    let content_type = content_type.filter(|v| !v.is_empty());
    let challenge = matches!(
        decision.action,
        Action::Challenge | Action::ManagedChallenge | Action::JsChallenge
    )
    .then(|| HeaderValue::from_static(decision.action.as_str()));
    let h = r.headers_mut();
    if cached {
        // One shared list per distinct answer (preflights per origin, rate limits per
        // `Retry-After`), found in one probe, its headers cloned as one map. The policy's edits
        // win over the layer's own headers, as when they are applied last (below).
        if let Some(list) = HeaderCache.decision_edits(decision, None) {
            h.clone_from(list.map());
        }
        if let Some(v) = content_type {
            h.entry(http::header::CONTENT_TYPE).or_insert(v);
        }
        if let Some(v) = challenge {
            h.entry(HeaderName::from_static(CHALLENGE_HEADER))
                .or_insert(v);
        }
    } else {
        if let Some(v) = content_type {
            h.insert(http::header::CONTENT_TYPE, v);
        }
        if let Some(v) = challenge {
            h.insert(HeaderName::from_static(CHALLENGE_HEADER), v);
        }
        let mut buf = Vec::new();
        for (name, value) in decision.response_headers() {
            let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
                continue;
            };
            buf.clear();
            value.write_to(&mut buf);
            if let Ok(value) = HeaderValue::from_bytes(&buf) {
                set(h, name, value);
            }
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Status, headers (sorted, values of one name in order) and body of an answer.
    fn parts(r: Response<Full<Bytes>>) -> (StatusCode, Vec<(String, Vec<u8>)>, Bytes) {
        use http_body_util::BodyExt as _;
        let (parts, body) = r.into_parts();
        let mut h: Vec<_> = parts
            .headers
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
            .collect();
        h.sort_by(|a, b| a.0.cmp(&b.0));
        let body = std::pin::pin!(body.collect());
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let Poll::Ready(Ok(body)) = body.poll(&mut cx) else {
            panic!("a full body is ready")
        };
        (parts.status, h, body.to_bytes())
    }

    #[test]
    fn cached_answers_are_the_uncached_ones() {
        let aybiza = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../policies/aybiza.toml"
        ))
        .unwrap();
        // Response edits naming the layer's own headers: the policy's win either way.
        let overriding = r#"
[policy]
name = "t"
[[firewall.rules]]
id = "b"
expression = 'http.request.uri.path eq "/b"'
action = "block"
status = 418
body = "nope"
content_type = "text/html"
[[firewall.rules]]
id = "c"
expression = 'http.request.uri.path eq "/c"'
action = "managed_challenge"
[transforms.response_headers]
"Content-Type" = "application/x-policy"
"X-Edgeroute-Challenge" = "policy"
"Vary" = "Origin"
"#;
        let mut kinds = std::collections::BTreeSet::new();
        for text in [&aybiza[..], overriding] {
            let (policy, _) = edgeroute::Policy::from_toml_str(text, "p.toml", None).unwrap();
            let engine = Engine::new(policy);
            let threat = engine.policy().scheme().field("cf.threat_score");
            let peer: std::net::IpAddr = "173.245.48.1".parse().unwrap();
            let mut t = 1_700_000_000_000_000u64;
            let shapes: [(&[u8], &[u8], i64); 6] = [
                (b"OPTIONS", b"/api/v1/calls", 0),
                (b"GET", b"/.env", 0),
                (b"GET", b"/b", 0),
                (b"GET", b"/c", 0),
                (b"GET", b"/api/v1/agents", 80),
                (b"GET", b"/api/v1/agents", 0),
            ];
            for (method, path, score) in shapes {
                let fields: Vec<_> = threat
                    .iter()
                    .map(|f| (*f, edgeroute_rules::Value::Int(score)))
                    .collect();
                // 101 of the last shape: the last ones are rate limited.
                for _ in 0..if score == 0 && path == b"/api/v1/agents" {
                    101
                } else {
                    1
                } {
                    let headers: [(&[u8], &[u8]); 5] = [
                        (b"host", b"api.aybiza.com"),
                        (b"cf-connecting-ip", b"81.2.69.1"),
                        (b"cf-ipcountry", b"DE"),
                        (b"origin", b"https://app.aybiza.com"),
                        (b"access-control-request-method", b"POST"),
                    ];
                    let v = edgeroute::RequestView {
                        method,
                        host: Some(b"api.aybiza.com"),
                        path_and_query: path,
                        headers: &headers,
                        fields: &fields,
                        ..edgeroute::RequestView::new(peer)
                    };
                    t += 1_000;
                    let d = engine.decide(&v, Timestamp::from_micros(t));
                    if d.action.forwards() {
                        continue;
                    }
                    kinds.insert((d.action.as_str(), d.status));
                    // Twice cached: the first fills the cache, the second reads it.
                    let want = parts(answer_with(&d, false));
                    assert_eq!(parts(answer_with(&d, true)), want, "{d:?}");
                    assert_eq!(parts(answer_with(&d, true)), want, "{d:?}");
                }
            }
        }
        for kind in [
            ("preflight", Some(204)),
            ("block", Some(403)),
            ("block", Some(429)),
            ("block", Some(418)),
            ("challenge", Some(403)),
            ("managed_challenge", Some(403)),
        ] {
            assert!(kinds.contains(&kind), "{kind:?} not seen in {kinds:?}");
        }
    }
}
