//! Page-rule URL patterns such as `api.aybiza.com/static/*`, compiled to literal, prefix and
//! suffix checks before falling back to a general `*` matcher (the GlobSet approach).

use std::fmt;

/// A compiled `*` glob over bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Glob {
    /// `*`
    Any,
    /// No `*`.
    Exact(Box<[u8]>),
    /// `abc*`
    Prefix(Box<[u8]>),
    /// `*abc`
    Suffix(Box<[u8]>),
    /// `ab*cd`
    PrefixSuffix(Box<[u8]>, Box<[u8]>),
    /// Anything else: literal pieces separated by `*`, with flags for leading/trailing `*`.
    General {
        pieces: Box<[Box<[u8]>]>,
        anchored_start: bool,
        anchored_end: bool,
    },
}

impl Glob {
    pub(crate) fn new(pattern: &[u8]) -> Glob {
        let stars = pattern.iter().filter(|&&c| c == b'*').count();
        let starts = pattern.first() == Some(&b'*');
        let ends = pattern.last() == Some(&b'*');
        if pattern.iter().all(|&c| c == b'*') && !pattern.is_empty() {
            return Glob::Any;
        }
        match (stars, starts, ends) {
            (0, _, _) => Glob::Exact(pattern.into()),
            (1, false, true) => {
                Glob::Prefix(pattern.get(..pattern.len() - 1).unwrap_or(&[]).into())
            }
            (1, true, false) => Glob::Suffix(pattern.get(1..).unwrap_or(&[]).into()),
            (1, false, false) => {
                let pos = memchr::memchr(b'*', pattern).unwrap_or(0);
                Glob::PrefixSuffix(
                    pattern.get(..pos).unwrap_or(&[]).into(),
                    pattern.get(pos + 1..).unwrap_or(&[]).into(),
                )
            }
            _ => Glob::General {
                pieces: pattern
                    .split(|&c| c == b'*')
                    .filter(|p| !p.is_empty())
                    .map(Into::into)
                    .collect(),
                anchored_start: !starts,
                anchored_end: !ends,
            },
        }
    }

    /// Whether `text` matches; `fold` compares ASCII case-insensitively (the pattern is
    /// already lowercase).
    #[inline]
    pub(crate) fn matches(&self, text: &[u8], fold: bool) -> bool {
        // The usual URL-pattern path (`/static/*`, `*`): inline, so a rule whose path does
        // not match costs a length test and a word comparison.
        match self {
            Glob::Any => true,
            Glob::Prefix(p) if !fold => text
                .get(..p.len())
                .is_some_and(|t| crate::ascii::eq_bytes(t, p)),
            _ => self.matches_other(text, fold),
        }
    }

    #[inline(never)]
    fn matches_other(&self, text: &[u8], fold: bool) -> bool {
        let eq = |a: &[u8], b: &[u8]| {
            if fold {
                a.eq_ignore_ascii_case(b)
            } else {
                crate::ascii::eq_bytes(a, b)
            }
        };
        match self {
            Glob::Any => true,
            Glob::Exact(e) => eq(text, e),
            Glob::Prefix(p) => {
                text.len() >= p.len() && text.get(..p.len()).is_some_and(|t| eq(t, p))
            }
            Glob::Suffix(s) => {
                text.len() >= s.len() && text.get(text.len() - s.len()..).is_some_and(|t| eq(t, s))
            }
            Glob::PrefixSuffix(p, s) => {
                text.len() >= p.len() + s.len()
                    && text.get(..p.len()).is_some_and(|t| eq(t, p))
                    && text.get(text.len() - s.len()..).is_some_and(|t| eq(t, s))
            }
            Glob::General {
                pieces,
                anchored_start,
                anchored_end,
            } => general_match(pieces, *anchored_start, *anchored_end, text, fold),
        }
    }
}

fn find(hay: &[u8], needle: &[u8], fold: bool) -> Option<usize> {
    if !fold {
        return memchr::memmem::find(hay, needle);
    }
    if needle.len() > hay.len() {
        return None;
    }
    (0..=hay.len() - needle.len()).find(|&i| {
        hay.get(i..i + needle.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(needle))
    })
}

/// Greedy leftmost matching of literal pieces is exact for `*`-only globs.
fn general_match(pieces: &[Box<[u8]>], start: bool, end: bool, text: &[u8], fold: bool) -> bool {
    let eq = |a: &[u8], b: &[u8]| {
        if fold {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    };
    let mut rest = text;
    let mut pieces = pieces;
    if start {
        let Some((first, tail)) = pieces.split_first() else {
            return text.is_empty();
        };
        if rest.len() < first.len() || !rest.get(..first.len()).is_some_and(|t| eq(t, first)) {
            return false;
        }
        rest = rest.get(first.len()..).unwrap_or(&[]);
        pieces = tail;
    }
    let last = if end {
        match pieces.split_last() {
            Some((last, init)) => {
                pieces = init;
                Some(last)
            }
            None => None,
        }
    } else {
        None
    };
    for piece in pieces {
        match find(rest, piece, fold) {
            Some(i) => rest = rest.get(i + piece.len()..).unwrap_or(&[]),
            None => return false,
        }
    }
    match last {
        Some(l) => {
            rest.len() >= l.len() && rest.get(rest.len() - l.len()..).is_some_and(|t| eq(t, l))
        }
        None => !end || rest.is_empty(),
    }
}

/// The scheme part of a URL pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SchemeMatch {
    Any,
    Http,
    Https,
}

/// A page-rule URL pattern: `[http[s]://]host[/path]`, `*` anywhere.
///
/// The host is matched case-insensitively (ignoring a `:port`), the path and query
/// case-sensitively against the request's path and query string; a pattern without a path
/// matches only `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlPattern {
    text: Box<str>,
    host_text: Box<str>,
    path_text: Box<str>,
    scheme: SchemeMatch,
    hosts: HostMatch,
    /// The policy host ids the host part stands for, when they are all policy hosts: then a
    /// request's host id decides without comparing strings.
    host_ids: Option<Box<[u16]>>,
    path: Glob,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostMatch {
    Glob(Glob),
    /// The pattern named a service's base host; in the chosen environment it stands for these.
    OneOf(Box<[Box<[u8]>]>),
}

impl UrlPattern {
    /// Parses a pattern.
    ///
    /// # Errors
    /// A lowercase message for empty patterns, bad schemes, characters not allowed in URLs, and
    /// `**`.
    pub fn parse(text: &str) -> Result<UrlPattern, String> {
        let t = text.trim();
        if t.is_empty() {
            return Err("empty url pattern".to_owned());
        }
        if t.len() > 2048 {
            return Err("url pattern is longer than 2048 characters".to_owned());
        }
        if let Some(c) = t
            .chars()
            .find(|c| c.is_whitespace() || c.is_control() || !c.is_ascii())
        {
            return Err(format!(
                "url pattern `{t}` contains `{}`, which is not allowed",
                c.escape_debug()
            ));
        }
        if t.contains("**") {
            return Err(format!(
                "url pattern `{t}` contains `**`; one `*` already matches anything"
            ));
        }
        let (scheme, rest) = if let Some(r) = t.strip_prefix("https://") {
            (SchemeMatch::Https, r)
        } else if let Some(r) = t.strip_prefix("http://") {
            (SchemeMatch::Http, r)
        } else if let Some(r) = t.strip_prefix("*://") {
            (SchemeMatch::Any, r)
        } else if t.contains("://") {
            return Err(format!(
                "url pattern `{t}` has a scheme other than http or https"
            ));
        } else {
            (SchemeMatch::Any, t)
        };
        let (host, path) = match rest.find('/') {
            Some(i) => (rest.get(..i).unwrap_or(""), rest.get(i..).unwrap_or("/")),
            None => (rest, "/"),
        };
        if host.is_empty() {
            return Err(format!(
                "url pattern `{t}` has no host (write `*` for any host)"
            ));
        }
        let host = host.to_ascii_lowercase();
        let host = host.rsplit_once(':').map_or(host.as_str(), |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host.as_str()
            }
        });
        if !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'*' | b'_'))
        {
            return Err(format!("url pattern `{t}` has an invalid host `{host}`"));
        }
        Ok(UrlPattern {
            text: t.into(),
            host_text: host.into(),
            path_text: path.into(),
            scheme,
            hosts: HostMatch::Glob(Glob::new(host.as_bytes())),
            host_ids: None,
            path: Glob::new(path.as_bytes()),
        })
    }

    /// `Some(true)` for `https://` patterns, `Some(false)` for `http://`, `None` for any.
    #[must_use]
    pub fn scheme_match(&self) -> Option<bool> {
        match self.scheme {
            SchemeMatch::Any => None,
            SchemeMatch::Https => Some(true),
            SchemeMatch::Http => Some(false),
        }
    }

    /// The host part as written (lowercase, without port).
    #[must_use]
    pub fn host_text(&self) -> String {
        self.host_text.to_string()
    }

    /// The path part as written (`/` when the pattern has none).
    #[must_use]
    pub fn path_text(&self) -> String {
        self.path_text.to_string()
    }

    /// The literal host, when the host part has no `*`.
    pub(crate) fn literal_host(&self) -> Option<&[u8]> {
        match &self.hosts {
            HostMatch::Glob(Glob::Exact(h)) => Some(h),
            _ => None,
        }
    }

    /// Replaces a literal host by the hosts it stands for in the chosen environment.
    pub(crate) fn retarget(&mut self, hosts: &[String]) {
        self.hosts = HostMatch::OneOf(
            hosts
                .iter()
                .map(|h| h.to_ascii_lowercase().into_bytes().into_boxed_slice())
                .collect(),
        );
    }

    /// Resolves literal hosts to policy host ids (`lookup` maps a lowercase host to its id).
    pub(crate) fn resolve_host_ids(&mut self, lookup: impl Fn(&[u8]) -> Option<u16>) {
        let list: Option<Vec<u16>> = match &self.hosts {
            HostMatch::Glob(Glob::Exact(h)) => lookup(h).map(|id| vec![id]),
            HostMatch::OneOf(hs) => hs.iter().map(|h| lookup(h)).collect(),
            HostMatch::Glob(_) => None,
        };
        self.host_ids = list.map(Into::into);
    }

    /// Whether a request for policy host `host_id` (`None`: a host that is not a policy host)
    /// can match: `false` only when the answer is no whatever the path.
    pub(crate) fn may_match_host(&self, host_id: Option<u16>) -> bool {
        match (&self.host_ids, host_id) {
            (Some(ids), Some(id)) => ids.contains(&id),
            (Some(_), None) => false,
            (None, _) => true,
        }
    }

    /// [`UrlPattern::matches_bare_host`] with the request host's policy host id, which
    /// replaces the string comparison when the pattern's hosts are policy hosts.
    #[expect(
        clippy::manual_contains,
        reason = "lists of one or two ids: an inlined loop beats the out-of-line `contains` (~20 instructions a call on the decide path)"
    )]
    pub(crate) fn matches_host_id(
        &self,
        https: bool,
        host_id: Option<u16>,
        host: &[u8],
        path_and_query: &[u8],
    ) -> bool {
        match &self.host_ids {
            Some(ids) => {
                let scheme_ok = match self.scheme {
                    SchemeMatch::Any => true,
                    SchemeMatch::Https => https,
                    SchemeMatch::Http => !https,
                };
                scheme_ok
                    && host_id.is_some_and(|id| ids.iter().any(|&x| x == id))
                    && self.path.matches(path_and_query, false)
            }
            None => self.matches_bare_host(https, host, path_and_query),
        }
    }

    /// Whether a request matches. `host` without or with a port, `path_and_query` as sent.
    #[must_use]
    pub fn matches(&self, https: bool, host: &[u8], path_and_query: &[u8]) -> bool {
        self.matches_bare_host(https, strip_port(host.trim_ascii()), path_and_query)
    }

    /// [`UrlPattern::matches`] for a host already trimmed and without its port.
    pub(crate) fn matches_bare_host(
        &self,
        https: bool,
        host: &[u8],
        path_and_query: &[u8],
    ) -> bool {
        match self.scheme {
            SchemeMatch::Any => {}
            SchemeMatch::Https if !https => return false,
            SchemeMatch::Http if https => return false,
            _ => {}
        }
        let host_ok = match &self.hosts {
            HostMatch::Glob(g) => g.matches(host, true),
            HostMatch::OneOf(list) => list.iter().any(|h| h.eq_ignore_ascii_case(host)),
        };
        host_ok && self.path.matches(path_and_query, false)
    }
}

/// `host:port` -> `host`; bracketed IPv6 kept whole.
pub(crate) fn strip_port(host: &[u8]) -> &[u8] {
    if host.first() == Some(&b'[') {
        return match host.iter().position(|&b| b == b']') {
            Some(i) => host.get(..=i).unwrap_or(host),
            None => host,
        };
    }
    // Walk back over the port's digits (a short loop; ports have at most 5).
    let digits = host.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    match host.len().checked_sub(digits + 1) {
        Some(colon) if host.get(colon) == Some(&b':') => host.get(..colon).unwrap_or(host),
        _ => host,
    }
}

impl fmt::Display for UrlPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, url_host: &str, pq: &str) -> bool {
        UrlPattern::parse(p)
            .unwrap()
            .matches(true, url_host.as_bytes(), pq.as_bytes())
    }

    #[test]
    fn page_rules_of_the_design() {
        assert!(m(
            "api.aybiza.com/static/*",
            "api.aybiza.com",
            "/static/app.js"
        ));
        assert!(m(
            "api.aybiza.com/static/*",
            "API.aybiza.com:443",
            "/static/a/b.css?v=2"
        ));
        assert!(!m(
            "api.aybiza.com/static/*",
            "api.aybiza.com",
            "/api/v1/static/x"
        ));
        assert!(!m(
            "api.aybiza.com/static/*",
            "voice.aybiza.com",
            "/static/x"
        ));
        assert!(m(
            "api.aybiza.com/api/v1/*",
            "api.aybiza.com",
            "/api/v1/calls"
        ));
        assert!(m("voice.aybiza.com/*", "voice.aybiza.com", "/"));
        assert!(!m("voice.aybiza.com/*", "evilvoice.aybiza.com", "/"));
    }

    #[test]
    fn globs_of_every_shape() {
        assert!(m("*.aybiza.com/*", "ws.aybiza.com", "/x"));
        assert!(!m("*.aybiza.com/*", "aybiza.com", "/x"));
        assert!(m("*aybiza.com/*", "aybiza.com", "/x"));
        assert!(m("example.com/*.js", "example.com", "/a/b.js"));
        assert!(!m("example.com/*.js", "example.com", "/a/b.jsx"));
        assert!(m("example.com/a*/b*/c", "example.com", "/ax/by/c"));
        assert!(!m("example.com/a*/b*/c", "example.com", "/ax/by/cd"));
        assert!(m("example.com/*/x/*", "example.com", "/q/x/r"));
        assert!(m("example.com", "example.com", "/"));
        assert!(!m("example.com", "example.com", "/a"));
        assert!(m("*/*", "anything", "/at/all"));
        assert!(m("example.com/Static/*", "example.com", "/Static/x"));
        assert!(!m("example.com/Static/*", "example.com", "/static/x"));
    }

    #[test]
    fn schemes() {
        let p = UrlPattern::parse("http://example.com/*").unwrap();
        assert!(p.matches(false, b"example.com", b"/"));
        assert!(!p.matches(true, b"example.com", b"/"));
        assert!(UrlPattern::parse("ftp://example.com/*").is_err());
    }

    #[test]
    fn bad_patterns_are_rejected() {
        assert!(UrlPattern::parse("").is_err());
        assert!(UrlPattern::parse("/static/*").is_err());
        assert!(UrlPattern::parse("a b.com/*").is_err());
        assert!(UrlPattern::parse("a.com/**").is_err());
        assert!(UrlPattern::parse("a\u{e9}.com/*").is_err());
        assert!(UrlPattern::parse("a$.com/*").is_err());
    }

    #[test]
    fn retargeted_hosts() {
        let mut p = UrlPattern::parse("api.aybiza.com/static/*").unwrap();
        assert_eq!(p.literal_host(), Some(&b"api.aybiza.com"[..]));
        p.retarget(&["api.staging.aybiza.com".to_owned()]);
        assert!(p.matches(true, b"api.staging.aybiza.com", b"/static/x"));
        assert!(!p.matches(true, b"api.aybiza.com", b"/static/x"));
    }

    #[test]
    fn strip_port_cases() {
        assert_eq!(strip_port(b"a.com:8080"), b"a.com");
        assert_eq!(strip_port(b"a.com"), b"a.com");
        assert_eq!(strip_port(b"[::1]:80"), b"[::1]");
        assert_eq!(strip_port(b"a.com:x"), b"a.com:x");
    }
}
