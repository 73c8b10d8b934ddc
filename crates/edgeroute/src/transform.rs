//! Transforms: header values with placeholders, and CORS preflight answers.

use std::fmt::{self, Write as _};

/// A placeholder in a header value template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placeholder {
    Region,
    Country,
    ClientIp,
    Service,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    Text(Box<str>),
    Var(Placeholder),
}

/// A header value such as `{region}` or `max-age=31536000; includeSubDomains`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    pieces: Box<[Piece]>,
    /// Whether a piece is `{client_ip}` (the one placeholder with per-client values, which
    /// [`EditKey`] carries only when some edit needs it).
    uses_client_ip: bool,
}

impl Template {
    /// Parses `{region}`, `{country}`, `{client_ip}`, `{service}`; `{{` and `}}` are literal
    /// braces.
    pub(crate) fn parse(text: &str) -> Result<Template, String> {
        if let Some(c) = text.chars().find(|&c| c == '\r' || c == '\n' || c == '\0') {
            return Err(format!(
                "header value `{}` contains `{}`, which is not allowed in a header",
                text.escape_debug(),
                c.escape_debug()
            ));
        }
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let mut rest = text;
        while let Some(i) = rest.find(['{', '}']) {
            lit.push_str(rest.get(..i).unwrap_or(""));
            let tail = rest.get(i..).unwrap_or("");
            if let Some(r) = tail.strip_prefix("{{") {
                lit.push('{');
                rest = r;
            } else if let Some(r) = tail.strip_prefix("}}") {
                lit.push('}');
                rest = r;
            } else if tail.starts_with('}') {
                return Err(format!(
                    "header value `{text}` has an unmatched `}}` (write `}}}}`)"
                ));
            } else {
                let end = tail
                    .find('}')
                    .ok_or_else(|| format!("header value `{text}` has an unclosed `{{`"))?;
                let name = tail.get(1..end).unwrap_or("");
                let var = match name {
                    "region" => Placeholder::Region,
                    "country" => Placeholder::Country,
                    "client_ip" => Placeholder::ClientIp,
                    "service" => Placeholder::Service,
                    _ => {
                        return Err(format!(
                            "unknown placeholder `{{{name}}}` in header value `{text}`; known: {{region}}, {{country}}, {{client_ip}}, {{service}}"
                        ));
                    }
                };
                if !lit.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut lit).into()));
                }
                pieces.push(Piece::Var(var));
                rest = tail.get(end + 1..).unwrap_or("");
            }
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            pieces.push(Piece::Text(lit.into()));
        }
        let uses_client_ip = pieces
            .iter()
            .any(|p| matches!(p, Piece::Var(Placeholder::ClientIp)));
        Ok(Template {
            pieces: pieces.into(),
            uses_client_ip,
        })
    }

    pub(crate) fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    /// Whether the value renders `{client_ip}`.
    pub(crate) fn uses_client_ip(&self) -> bool {
        self.uses_client_ip
    }

    /// The value when it has no placeholders.
    pub(crate) fn as_literal(&self) -> Option<&str> {
        match &*self.pieces {
            [] => Some(""),
            [Piece::Text(t)] => Some(t),
            _ => None,
        }
    }
}

/// Whether `name` is a valid HTTP header name (an RFC 9110 token).
pub(crate) fn valid_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// The values a template's placeholders take for one decision.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Vars<'a> {
    pub(crate) region: Option<&'a str>,
    pub(crate) country: Option<&'a str>,
    pub(crate) client_ip: std::net::IpAddr,
    pub(crate) service: Option<&'a str>,
}

/// A rendered header value: borrowed pieces that `Display` joins (no allocation until the
/// caller asks for a `String`). Missing placeholders render as empty strings, except
/// `{country}` which renders as `XX` as Cloudflare does.
#[derive(Debug, Clone, Copy)]
pub struct HeaderValue<'a> {
    kind: ValueKind<'a>,
}

#[derive(Debug, Clone, Copy)]
enum ValueKind<'a> {
    Template(&'a Template, Vars<'a>),
    Static(&'a str),
    Number(u64),
}

impl<'a> HeaderValue<'a> {
    pub(crate) fn template(t: &'a Template, vars: Vars<'a>) -> Self {
        HeaderValue {
            kind: ValueKind::Template(t, vars),
        }
    }

    pub(crate) fn text(s: &'a str) -> Self {
        HeaderValue {
            kind: ValueKind::Static(s),
        }
    }

    pub(crate) fn number(n: u64) -> Self {
        HeaderValue {
            kind: ValueKind::Number(n),
        }
    }

    /// The value when it is a single borrowed string (no placeholders).
    #[must_use]
    pub fn as_static(&self) -> Option<&'a str> {
        match self.kind {
            ValueKind::Static(s) => Some(s),
            ValueKind::Template(t, _) => t.as_literal(),
            ValueKind::Number(_) => None,
        }
    }

    /// Appends the value to `out` (no allocation beyond `out`'s growth).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let mut w = ByteWriter(out);
        let _ = write!(w, "{self}");
    }
}

struct ByteWriter<'a>(&'a mut Vec<u8>);

impl fmt::Write for ByteWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

impl fmt::Display for HeaderValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ValueKind::Static(s) => f.write_str(s),
            ValueKind::Number(n) => write!(f, "{n}"),
            ValueKind::Template(t, vars) => {
                for piece in t.pieces() {
                    match piece {
                        Piece::Text(s) => f.write_str(s)?,
                        Piece::Var(Placeholder::Region) => {
                            f.write_str(vars.region.unwrap_or(""))?
                        }
                        Piece::Var(Placeholder::Country) => {
                            f.write_str(vars.country.unwrap_or("XX"))?
                        }
                        Piece::Var(Placeholder::ClientIp) => write!(f, "{}", vars.client_ip)?,
                        Piece::Var(Placeholder::Service) => {
                            f.write_str(vars.service.unwrap_or(""))?
                        }
                    }
                }
                Ok(())
            }
        }
    }
}

impl PartialEq<&str> for HeaderValue<'_> {
    fn eq(&self, other: &&str) -> bool {
        match self.as_static() {
            Some(s) => s == *other,
            None => {
                let mut buf = Vec::new();
                self.write_to(&mut buf);
                buf == other.as_bytes()
            }
        }
    }
}

/// What determines a [`Decision`](crate::Decision)'s header edits within one policy snapshot:
/// two decisions made with the same snapshot ([`Decision::policy`](crate::Decision::policy),
/// compared by address) and equal keys have the same
/// [`request_headers`](crate::Decision::request_headers) and
/// [`response_headers`](crate::Decision::response_headers), in the same order, with the same
/// rendered values. A gateway can therefore parse both lists once per (snapshot, key) and skip
/// walking and rendering them on later requests.
///
/// It holds the matched transform rules, whether the request is forwarded, the CORS answer,
/// `Retry-After`, the region (routed region or the policy's default), the service, the country,
/// and the client address only when one of the decision's edits renders `{client_ip}` (so it
/// stays a small set of values per snapshot otherwise). Keys of different snapshots must not be
/// compared: the same key can mean other edits in another policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EditKey {
    /// The transform-rule mask.
    pub(crate) mask: u64,
    /// Region slot (0: not routed, `1 + id`: routed) in bits 0..16, service slot (0: none,
    /// `1 + index`) in bits 16..33, the country's two bytes in bits 33..49 (0: none), then
    /// flags: forwarded (49), CORS answer present (50), preflight (51).
    pub(crate) place: u64,
    /// `Retry-After` + 1 in the low 33 bits (0: none), the CORS origin slot (0: none, 1: any,
    /// `2 + index`) from bit 33 on.
    pub(crate) answer: u64,
    /// The client address, only when an edit renders it.
    pub(crate) client_ip: Option<std::net::IpAddr>,
}

/// Compiled CORS settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cors {
    /// Lowercase origins; empty with `any_origin`.
    pub(crate) origins: Box<[Box<str>]>,
    pub(crate) any_origin: bool,
    pub(crate) methods: Box<str>,
    pub(crate) headers: Box<str>,
    pub(crate) expose: Box<str>,
    pub(crate) max_age: u64,
    pub(crate) credentials: bool,
    /// Service indices; empty = all requests.
    pub(crate) services: Box<[u16]>,
}

/// Which origin a CORS answer allows: an index into the policy's list, or `*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AllowedOrigin {
    Any,
    Listed(u16),
}

impl Cors {
    #[expect(
        clippy::manual_contains,
        reason = "lists of one or two ids: an inlined loop beats the out-of-line `contains` (~20 instructions a call on the decide path)"
    )]
    pub(crate) fn applies_to(&self, service: Option<u16>) -> bool {
        self.services.is_empty() || service.is_some_and(|s| self.services.iter().any(|&x| x == s))
    }

    /// The allowed-origin answer for a request's `Origin` header.
    pub(crate) fn allow(&self, origin: &[u8]) -> Option<AllowedOrigin> {
        let origin = origin.trim_ascii();
        if let Some(i) = self
            .origins
            .iter()
            .position(|o| o.as_bytes().eq_ignore_ascii_case(origin))
        {
            return u16::try_from(i).ok().map(AllowedOrigin::Listed);
        }
        if self.any_origin && !origin.is_empty() {
            return Some(AllowedOrigin::Any);
        }
        None
    }

    pub(crate) fn origin_text(&self, o: AllowedOrigin) -> &str {
        match o {
            AllowedOrigin::Any => "*",
            AllowedOrigin::Listed(i) => self.origins.get(usize::from(i)).map_or("", |s| s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars<'static> {
        Vars {
            region: Some("eu-west-2"),
            country: None,
            client_ip: "81.2.69.160".parse().unwrap(),
            service: Some("api"),
        }
    }

    #[test]
    fn templates_render_placeholders() {
        let t = Template::parse("{region}/{country}/{client_ip}/{service} {{x}}").unwrap();
        let v = HeaderValue::template(&t, vars());
        assert_eq!(v.to_string(), "eu-west-2/XX/81.2.69.160/api {x}");
        let mut buf = Vec::new();
        v.write_to(&mut buf);
        assert_eq!(buf, b"eu-west-2/XX/81.2.69.160/api {x}");
        let lit = Template::parse("nosniff").unwrap();
        assert_eq!(lit.as_literal(), Some("nosniff"));
        assert!(HeaderValue::template(&lit, vars()) == "nosniff");
    }

    #[test]
    fn bad_templates() {
        assert!(
            Template::parse("{regoin}")
                .unwrap_err()
                .contains("unknown placeholder `{regoin}`")
        );
        assert!(Template::parse("{region").is_err());
        assert!(Template::parse("a}b").is_err());
        assert!(Template::parse("a\r\nb").is_err());
    }

    #[test]
    fn header_names() {
        assert!(valid_header_name("X-CF-Region"));
        assert!(!valid_header_name("X CF"));
        assert!(!valid_header_name(""));
        assert!(!valid_header_name("a:b"));
    }

    #[test]
    fn cors_origins() {
        let c = Cors {
            origins: vec!["https://app.aybiza.com".into()].into(),
            any_origin: false,
            methods: "GET".into(),
            headers: "".into(),
            expose: "".into(),
            max_age: 10,
            credentials: false,
            services: Box::new([]),
        };
        assert_eq!(
            c.allow(b"https://APP.aybiza.com"),
            Some(AllowedOrigin::Listed(0))
        );
        assert_eq!(c.allow(b"https://evil.com"), None);
        assert_eq!(
            c.origin_text(AllowedOrigin::Listed(0)),
            "https://app.aybiza.com"
        );
    }
}
