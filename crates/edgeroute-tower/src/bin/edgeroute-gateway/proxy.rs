//! Forwarding a request to one upstream address over a pooled HTTP/1 client.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, Uri};
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// The request body type sent upstream.
pub(crate) type UpBody = UnsyncBoxBody<Bytes, hyper::Error>;

/// A pooled HTTP/1 client for upstreams.
pub(crate) type UpstreamClient = Client<HttpConnector, UpBody>;

/// Builds the upstream client: connect timeout, keep-alive pool, no automatic retries (the
/// gateway retries itself, on another endpoint).
pub(crate) fn client(connect_timeout: Duration) -> UpstreamClient {
    let mut conn = HttpConnector::new();
    conn.set_connect_timeout(Some(connect_timeout));
    conn.set_nodelay(true);
    conn.enforce_http(true);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(256)
        .retry_canceled_requests(false)
        .build(conn)
}

/// Why forwarding failed.
#[derive(Debug)]
pub(crate) enum ForwardError {
    /// No connection could be made: nothing was sent, the request may go elsewhere.
    Connect,
    /// The upstream failed after the request was (maybe) sent.
    Upstream,
    /// The request could not be rewritten (should not happen with a valid path).
    BadRequest,
}

/// Headers that describe one hop and are not forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::UPGRADE,
];

pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Names listed in `Connection` are hop-by-hop too.
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in listed.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(n);
    }
}

/// An upstream address and its URI authority, written once (not per request).
#[derive(Debug, Clone)]
pub(crate) struct Target {
    authority: Authority,
}

impl Target {
    pub(crate) fn new(addr: SocketAddr) -> Option<Self> {
        Some(Target {
            authority: addr.to_string().parse().ok()?,
        })
    }
}

/// Sends `parts` + `body` to `target` and returns the upstream's response head and streaming
/// body.
pub(crate) async fn forward(
    client: &UpstreamClient,
    target: Target,
    peer: IpAddr,
    mut parts: http::request::Parts,
    body: UpBody,
) -> Result<Response<Incoming>, ForwardError> {
    // The upstream URI from its parts: the target's authority and the request's own path and
    // query (a reference count each), no formatting and no parsing.
    let path = match parts.uri.path_and_query() {
        Some(p) if p.as_str().starts_with('/') => p.clone(),
        Some(_) => return Err(ForwardError::BadRequest),
        None => PathAndQuery::from_static("/"),
    };
    let mut uri = http::uri::Parts::default();
    uri.scheme = Some(Scheme::HTTP);
    uri.authority = Some(target.authority);
    uri.path_and_query = Some(path);
    let uri = Uri::from_parts(uri).map_err(|_| ForwardError::BadRequest)?;
    // Keep the client's Host (origins route on it). A request without one (HTTP/1.0) gets the
    // authority of its absolute-form target if it has one; otherwise hyper's client sets the
    // upstream address.
    if !parts.headers.contains_key(header::HOST)
        && let Some(authority) = parts.uri.authority()
        && let Ok(v) = HeaderValue::from_str(authority.as_str())
    {
        parts.headers.insert(header::HOST, v);
    }
    parts.uri = uri;
    parts.version = http::Version::HTTP_11;
    strip_hop_by_hop(&mut parts.headers);
    append_forwarded_for(&mut parts.headers, peer);
    let req = Request::from_parts(parts, body);
    match client.request(req).await {
        Ok(mut resp) => {
            strip_hop_by_hop(resp.headers_mut());
            Ok(resp)
        }
        Err(e) if e.is_connect() => Err(ForwardError::Connect),
        Err(_) => Err(ForwardError::Upstream),
    }
}

fn append_forwarded_for(headers: &mut HeaderMap, peer: IpAddr) {
    use std::io::Write as _;
    let name = HeaderName::from_static("x-forwarded-for");
    // Written into the buffer the value keeps (one allocation, no copy into a `HeaderValue`).
    let mut value = Vec::with_capacity(64);
    match headers.get(&name).and_then(|v| v.to_str().ok()) {
        // A hostile, huge chain is replaced rather than grown.
        Some(prev) if prev.len() < 4096 => {
            value.reserve(prev.len());
            value.extend_from_slice(prev.as_bytes());
            value.extend_from_slice(b", ");
        }
        _ => {}
    }
    if write!(value, "{peer}").is_ok()
        && let Ok(v) = HeaderValue::from_maybe_shared(Bytes::from(value))
    {
        headers.insert(name, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_those_named_in_connection_are_removed() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("close, x-secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("5"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        assert!(h.get("x-secret").is_none());
        assert!(h.get("keep-alive").is_none());
        assert!(h.get(header::CONNECTION).is_none());
        assert!(h.get("x-kept").is_some());
    }

    #[test]
    fn forwarded_for_appends_the_peer_and_resets_huge_chains() {
        let mut h = HeaderMap::new();
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        append_forwarded_for(&mut h, peer);
        assert_eq!(h["x-forwarded-for"], "10.0.0.1");
        append_forwarded_for(&mut h, "10.0.0.2".parse().unwrap());
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 10.0.0.2");
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_str(&"1.1.1.1, ".repeat(1000)).unwrap(),
        );
        append_forwarded_for(&mut h, peer);
        assert_eq!(h["x-forwarded-for"], "10.0.0.1");
    }
}
