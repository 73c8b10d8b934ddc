//! [`RequestView`] from an [`http::Request`], without touching the body.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use edgeroute::{HttpScheme, RequestView};
use http::Request;

/// The connection a request arrived on, put in the request's extensions by the server (the
/// example gateway does; so should yours, or the engine sees the peer as `0.0.0.0`, which is
/// never a trusted proxy, and identifies every client as that address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectInfo {
    /// The peer's address: the client, or the proxy in front of this gateway.
    pub peer: SocketAddr,
    /// Whether the connection is TLS (the Rules field `ssl`). Absolute-form request URIs with a
    /// scheme override it.
    pub tls: bool,
}

impl ConnectInfo {
    /// A plain-HTTP connection from `peer`.
    #[must_use]
    pub const fn new(peer: SocketAddr) -> Self {
        ConnectInfo { peer, tls: false }
    }
}

/// Most headers viewed without a heap allocation; requests with more still work (one `Vec`).
pub const INLINE_HEADERS: usize = 48;

type Pair<'a> = (&'a [u8], &'a [u8]);

/// Calls `f` with a [`RequestView`] of `req`: peer from [`ConnectInfo`], method, scheme, host (from
/// an absolute URI; otherwise the engine reads the `Host` header), path and query, and every
/// header value as raw bytes (non-UTF-8 values included). The body is never read.
///
/// Up to [`INLINE_HEADERS`] headers are viewed from a stack buffer; more go to one `Vec`.
pub fn with_request_view<B, R>(req: &Request<B>, f: impl FnOnce(&RequestView<'_>) -> R) -> R {
    let info = req.extensions().get::<ConnectInfo>();
    let peer = info.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.peer.ip());
    let scheme = match req.uri().scheme_str() {
        Some("https") => HttpScheme::Https,
        Some(_) => HttpScheme::Http,
        None if info.is_some_and(|c| c.tls) => HttpScheme::Https,
        None => HttpScheme::Http,
    };
    let path_and_query = req
        .uri()
        .path_and_query()
        .map_or(&b"/"[..], |p| p.as_str().as_bytes());
    let host = req.uri().host().map(str::as_bytes);
    let view = |headers: &[Pair<'_>]| {
        let v = RequestView {
            peer,
            method: req.method().as_str().as_bytes(),
            scheme,
            host,
            path_and_query,
            headers,
            ..RequestView::new(peer)
        };
        f(&v)
    };
    let n = req.headers().len();
    // Two stack sizes: a typical request's dozen headers do not pay for blanking 48 slots. The
    // buffer is filled where it lives (returning it would copy it once more).
    if n <= SMALL_HEADERS {
        let mut buf: [Pair<'_>; SMALL_HEADERS] = [(&[], &[]); SMALL_HEADERS];
        view(fill(&mut buf, req))
    } else if n <= INLINE_HEADERS {
        let mut buf: [Pair<'_>; INLINE_HEADERS] = [(&[], &[]); INLINE_HEADERS];
        view(fill(&mut buf, req))
    } else {
        let all: Vec<Pair<'_>> = req
            .headers()
            .iter()
            .map(|(name, value)| (name.as_str().as_bytes(), value.as_bytes()))
            .collect();
        view(&all)
    }
}

const SMALL_HEADERS: usize = 16;

/// Writes the headers of `req` into `buf` (as many as fit) and returns the written part.
fn fill<'a, 'b, B>(buf: &'b mut [Pair<'a>], req: &'a Request<B>) -> &'b [Pair<'a>] {
    let mut n = 0;
    for (slot, (name, value)) in buf.iter_mut().zip(req.headers()) {
        *slot = (name.as_str().as_bytes(), value.as_bytes());
        n += 1;
    }
    buf.get(..n).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_reads_peer_method_path_and_raw_headers() {
        let mut req = Request::post("/api/v1/calls?x=1")
            .header("Host", "api.aybiza.com")
            .header("x-raw", http::HeaderValue::from_bytes(b"\xff\xfe").unwrap())
            .body(())
            .unwrap();
        req.extensions_mut()
            .insert(ConnectInfo::new("198.41.128.5:4000".parse().unwrap()));
        with_request_view(&req, |v| {
            assert_eq!(v.peer, "198.41.128.5".parse::<IpAddr>().unwrap());
            assert_eq!(v.method, b"POST");
            assert_eq!(v.scheme, HttpScheme::Http);
            assert_eq!(v.host(), Some(&b"api.aybiza.com"[..]));
            assert_eq!(v.path(), b"/api/v1/calls");
            assert_eq!(v.query(), Some(&b"x=1"[..]));
            assert_eq!(v.header(b"x-raw"), Some(&b"\xff\xfe"[..]));
        });
    }

    #[test]
    fn absolute_uri_gives_host_and_scheme_and_missing_peer_is_unspecified() {
        let req = Request::get("https://voice.aybiza.com/ws")
            .body(())
            .unwrap();
        with_request_view(&req, |v| {
            assert_eq!(v.peer, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
            assert_eq!(v.scheme, HttpScheme::Https);
            assert_eq!(v.host(), Some(&b"voice.aybiza.com"[..]));
        });
    }

    #[test]
    fn many_headers_are_all_seen() {
        let mut b = Request::get("/");
        for i in 0..(INLINE_HEADERS + 10) {
            b = b.header(format!("x-h{i}"), "v");
        }
        let req = b.body(()).unwrap();
        with_request_view(&req, |v| {
            assert_eq!(v.headers.len(), INLINE_HEADERS + 10);
            assert!(
                v.header(format!("x-h{}", INLINE_HEADERS + 9).as_bytes())
                    .is_some()
            );
        });
    }

    #[test]
    fn every_stack_size_sees_every_header() {
        for count in [
            0,
            1,
            SMALL_HEADERS - 1,
            SMALL_HEADERS,
            SMALL_HEADERS + 1,
            INLINE_HEADERS,
            INLINE_HEADERS + 1,
        ] {
            let mut b = Request::get("/");
            for i in 0..count {
                b = b.header(format!("x-h{i}"), format!("v{i}"));
            }
            let req = b.body(()).unwrap();
            with_request_view(&req, |v| {
                assert_eq!(v.headers.len(), count);
                for i in 0..count {
                    assert_eq!(
                        v.header(format!("x-h{i}").as_bytes()),
                        Some(format!("v{i}").as_bytes()),
                        "{count} headers, header {i}"
                    );
                }
            });
        }
    }

    #[test]
    fn tls_connections_are_https() {
        let mut req = Request::get("/").body(()).unwrap();
        req.extensions_mut().insert(ConnectInfo {
            peer: "127.0.0.1:1".parse().unwrap(),
            tls: true,
        });
        with_request_view(&req, |v| assert_eq!(v.scheme, HttpScheme::Https));
    }
}
