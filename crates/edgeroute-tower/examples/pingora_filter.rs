//! The pingora example of the README's "Embedding in a gateway" section.
//!
//! **This does not use pingora itself.** `pingora-proxy` 0.9 pulls in about 200 crates and
//! needs `cmake` for zlib-ng; a trial build on this project's 2-core machine failed for want of
//! cmake after half an hour, which is too heavy for a doc example in every CI run. So the
//! example compiles against [`pingora_mirror`], a minimal stand-in with the same shape as
//! pingora's `ProxyHttp` (`new_ctx`, `request_filter` returning `Ok(true)` when it answered,
//! `upstream_request_filter`, `response_filter`) and its `Session` / `RequestHeader` /
//! `ResponseHeader` methods used here. With real pingora the `impl` is the same apart from the
//! `#[async_trait]` attribute and pingora's own header types.
//!
//! Run: `cargo run -p edgeroute-tower --example pingora_filter`

use std::sync::Arc;
use std::time::Duration;

use pingora_mirror::{ProxyHttp, RequestHeader, ResponseHeader, Result, Session};

// README:begin pingora
use edgeroute::{Action, Decision, Engine, HttpScheme, RequestView, Timestamp};
use edgeroute_tower::{Clock, MonotonicClock};

pub(crate) struct EdgeGateway {
    engine: Arc<Engine>,
    clock: MonotonicClock,
}

impl ProxyHttp for EdgeGateway {
    type CTX = Option<Decision>;

    fn new_ctx(&self) -> Self::CTX {
        None
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Self::CTX) -> Result<bool> {
        let req = session.req_header();
        let headers: Vec<(&[u8], &[u8])> = req
            .headers
            .iter()
            .map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()))
            .collect();
        let peer = session
            .client_addr()
            .map(|a| a.ip())
            .unwrap_or([0, 0, 0, 0].into());
        let view = RequestView {
            method: req.method.as_str().as_bytes(),
            scheme: HttpScheme::Https,
            path_and_query: req
                .uri
                .path_and_query()
                .map_or(b"/", |p| p.as_str().as_bytes()),
            headers: &headers,
            ..RequestView::new(peer)
        };
        let now = Timestamp::from_micros(self.clock.now().as_micros() as u64);
        let decision = self.engine.decide(&view, now);
        if decision.action == Action::Allow {
            *ctx = Some(decision); // forwarded: header edits and route in the later filters
            return Ok(false);
        }
        // Blocks, challenges, 429s, preflights: answer here with the layer's own response.
        let answer = edgeroute_tower::answer(&decision);
        session.respond(answer).await?;
        Ok(true)
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut Self::CTX,
    ) -> Result<()> {
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
    ) -> Result<()> {
        for (name, value) in ctx.iter().flat_map(Decision::response_headers) {
            upstream_response.insert_header(name.to_owned(), value.to_string())?;
        }
        Ok(())
    }
}
// README:end pingora

/// A stand-in with the shape of the parts of pingora used above (see the module docs).
mod pingora_mirror {
    use std::net::SocketAddr;

    use bytes::Bytes;
    use http_body_util::Full;

    pub(crate) type Error = Box<dyn std::error::Error + Send + Sync>;
    pub(crate) type Result<T> = std::result::Result<T, Error>;

    /// pingora's `RequestHeader` derefs to `http::request::Parts`; so does this.
    pub(crate) struct RequestHeader(pub http::request::Parts);
    /// pingora's `ResponseHeader` derefs to `http::response::Parts`; so does this.
    pub(crate) struct ResponseHeader(pub http::response::Parts);

    impl std::ops::Deref for RequestHeader {
        type Target = http::request::Parts;
        fn deref(&self) -> &Self::Target {
            &self.0
        }
    }

    impl RequestHeader {
        pub(crate) fn insert_header(&mut self, name: String, value: String) -> Result<()> {
            let name = http::HeaderName::from_bytes(name.as_bytes())?;
            self.0
                .headers
                .insert(name, http::HeaderValue::from_str(&value)?);
            Ok(())
        }
    }

    impl ResponseHeader {
        pub(crate) fn insert_header(&mut self, name: String, value: String) -> Result<()> {
            let name = http::HeaderName::from_bytes(name.as_bytes())?;
            self.0
                .headers
                .insert(name, http::HeaderValue::from_str(&value)?);
            Ok(())
        }
    }

    /// The downstream session: its request head, peer, and what was answered.
    pub(crate) struct Session {
        pub(crate) header: RequestHeader,
        pub(crate) peer: Option<SocketAddr>,
        pub(crate) answered: Option<http::Response<Full<Bytes>>>,
    }

    impl Session {
        pub(crate) fn req_header(&self) -> &RequestHeader {
            &self.header
        }
        /// pingora returns its own `SocketAddr` (`.as_inet()` gives the std one).
        pub(crate) fn client_addr(&self) -> Option<&SocketAddr> {
            self.peer.as_ref()
        }
        /// pingora: `write_response_header` + `write_response_body`.
        pub(crate) async fn respond(&mut self, resp: http::Response<Full<Bytes>>) -> Result<()> {
            self.answered = Some(resp);
            Ok(())
        }
    }

    /// The filters of pingora's `ProxyHttp` used above (pingora declares it with `async_trait`).
    #[allow(async_fn_in_trait, reason = "mirrors an async_trait trait")]
    pub(crate) trait ProxyHttp {
        type CTX;
        fn new_ctx(&self) -> Self::CTX;
        async fn request_filter(&self, session: &mut Session, ctx: &mut Self::CTX) -> Result<bool>;
        async fn upstream_request_filter(
            &self,
            session: &mut Session,
            upstream_request: &mut RequestHeader,
            ctx: &mut Self::CTX,
        ) -> Result<()>;
        async fn response_filter(
            &self,
            session: &mut Session,
            upstream_response: &mut ResponseHeader,
            ctx: &mut Self::CTX,
        ) -> Result<()>;
    }
}

#[allow(
    dead_code,
    reason = "also compiled as a module of the integration tests"
)]
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    demo().await
}

/// Drives the filters by hand, as pingora would.
pub(crate) async fn demo() -> Result<()> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies/aybiza.toml");
    let (policy, _) = edgeroute::Policy::load(path.as_ref(), None)?;
    let gw = EdgeGateway {
        engine: Arc::new(Engine::new(policy)),
        clock: MonotonicClock::new(),
    };
    let session = |path: &str| -> Result<Session> {
        let (parts, ()) = http::Request::get(path)
            .header("host", "api.aybiza.com")
            .body(())?
            .into_parts();
        Ok(Session {
            header: RequestHeader(parts),
            peer: Some(([81, 2, 69, 160], 50_000).into()),
            answered: None,
        })
    };
    // A scanner probe is answered in request_filter.
    let mut s = session("/.env")?;
    let mut ctx = gw.new_ctx();
    assert!(gw.request_filter(&mut s, &mut ctx).await?);
    assert_eq!(s.answered.as_ref().map(|r| r.status().as_u16()), Some(403));
    // An API call goes on, with the geo headers added upstream and security headers downstream.
    let mut s = session("/api/v1/agents")?;
    let mut ctx = gw.new_ctx();
    assert!(!gw.request_filter(&mut s, &mut ctx).await?);
    let mut up = RequestHeader(http::Request::get("/").body(())?.into_parts().0);
    gw.upstream_request_filter(&mut s, &mut up, &mut ctx)
        .await?;
    assert!(up.headers.contains_key("x-cf-region"));
    let mut down = ResponseHeader(http::Response::new(()).into_parts().0);
    gw.response_filter(&mut s, &mut down, &mut ctx).await?;
    assert_eq!(
        down.0.headers.get("x-frame-options").map(|v| v.as_bytes()),
        Some(&b"DENY"[..])
    );
    tokio::time::sleep(Duration::ZERO).await;
    println!("ok: request_filter answered the probe and passed the API call with header edits");
    Ok(())
}
