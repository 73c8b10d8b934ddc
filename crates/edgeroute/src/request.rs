//! [`RequestView`]: what the engine reads of a request, borrowed from the gateway's own types.

use std::net::{IpAddr, Ipv4Addr};

use edgeroute_rules::{FieldId, Value};

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HttpScheme {
    /// Plain HTTP.
    Http,
    /// HTTPS (the Rules field `ssl` is true).
    #[default]
    Https,
}

/// A request as the engine sees it: borrowed, nothing copied.
///
/// Header names may be in any case (they are compared ASCII case-insensitively); values are
/// bytes and need not be UTF-8. `fields` supplies Rules-language fields the gateway knows and
/// the request does not carry (bot score, threat score, ...); they take precedence over values
/// the engine derives from the request. Field ids come from [`crate::Policy::scheme`] and are
/// stable across policies (the standard Cloudflare fields always have the same ids).
#[derive(Clone, Copy)]
pub struct RequestView<'a> {
    /// The address of the connection's peer (a proxy or the client).
    pub peer: IpAddr,
    /// `GET`, `POST`, ...
    pub method: &'a [u8],
    /// `http` or `https`.
    pub scheme: HttpScheme,
    /// The authority (`:authority` or the URL's host). When `None`, the `Host` header is used.
    pub host: Option<&'a [u8]>,
    /// Path and query string as sent, for example `/static/app.js?v=3`.
    pub path_and_query: &'a [u8],
    /// Request headers in order.
    pub headers: &'a [(&'a [u8], &'a [u8])],
    /// Extra Rules-language field values.
    pub fields: &'a [(FieldId, Value<'a>)],
    /// Seed for random choices in origin routing (weighted and canary steering); mixed with the
    /// request's client address and path so equal seeds still spread different requests.
    pub seed: u64,
}

impl<'a> RequestView<'a> {
    /// A `GET /` over HTTPS from `peer`, with no headers; fill in the rest with struct update
    /// syntax.
    #[must_use]
    pub const fn new(peer: IpAddr) -> Self {
        RequestView {
            peer,
            method: b"GET",
            scheme: HttpScheme::Https,
            host: None,
            path_and_query: b"/",
            headers: &[],
            fields: &[],
            seed: 0,
        }
    }

    /// The first header named `name` (ASCII case-insensitive).
    #[must_use]
    pub fn header(&self, name: &[u8]) -> Option<&'a [u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.len() == name.len() && n.eq_ignore_ascii_case(name))
            .map(|&(_, v)| v)
    }

    /// The first header named `lower` (which must be lowercase).
    pub(crate) fn header_lower(&self, lower: &[u8]) -> Option<&'a [u8]> {
        self.headers
            .iter()
            .find(|(n, _)| crate::ascii::eq_lowercase(n, lower))
            .map(|&(_, v)| v)
    }

    /// The host: `host`, else the `Host` header.
    #[must_use]
    pub fn host(&self) -> Option<&'a [u8]> {
        self.host.or_else(|| self.header_lower(b"host"))
    }

    /// The path, without the query string.
    #[must_use]
    pub fn path(&self) -> &'a [u8] {
        self.path_and_query_parts().0
    }

    /// The query string without `?` (`None` when there is no `?`).
    #[must_use]
    pub fn query(&self) -> Option<&'a [u8]> {
        self.path_and_query_parts().1
    }

    /// [`RequestView::path`] and [`RequestView::query`] from one scan for the `?` (paths are
    /// short: a byte loop beats a vectorised search).
    pub(crate) fn path_and_query_parts(&self) -> (&'a [u8], Option<&'a [u8]>) {
        let pq = self.path_and_query;
        match pq.iter().position(|&b| b == b'?') {
            Some(i) => (pq.get(..i).unwrap_or(b""), pq.get(i + 1..)),
            None => (pq, None),
        }
    }
}

impl Default for RequestView<'_> {
    fn default() -> Self {
        RequestView::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }
}

impl std::fmt::Debug for RequestView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        f.debug_struct("RequestView")
            .field("peer", &self.peer)
            .field("method", &lossy(self.method))
            .field("scheme", &self.scheme)
            .field("host", &self.host.map(lossy))
            .field("path_and_query", &lossy(self.path_and_query))
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(n, v)| (lossy(n), lossy(v)))
                    .collect::<Vec<_>>(),
            )
            .field("fields", &self.fields.len())
            .field("seed", &self.seed)
            .finish()
    }
}
