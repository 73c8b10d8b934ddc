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
use crate::headers::{EditList, HeaderCache, apply, set};
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
                        apply(&list, resp.headers_mut());
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
    let h = r.headers_mut();
    if let Some(v) = content_type.filter(|v| !v.is_empty()) {
        h.insert(http::header::CONTENT_TYPE, v);
    }
    if matches!(
        decision.action,
        Action::Challenge | Action::ManagedChallenge | Action::JsChallenge
    ) {
        h.insert(
            HeaderName::from_static(CHALLENGE_HEADER),
            HeaderValue::from_static(decision.action.as_str()),
        );
    }
    if cached {
        // One shared list per distinct answer (preflights per origin, rate limits per
        // `Retry-After`): one probe instead of one per header.
        if let Some(list) = HeaderCache.decision_edits(decision, None) {
            apply(&list, h);
        }
    } else {
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
