//! The Rules-language view of a request: a [`FieldSource`] computed lazily from a
//! [`RequestView`] and the resolved client identity, without allocating on the common path.

use std::cell::{Cell, OnceCell};
use std::net::IpAddr;

use edgeroute_rules::{ArrayValue, FieldId, FieldSource, MapValue, Scheme, Value};

use crate::identity::{CountryCode, SubdivisionCode};
use crate::pattern::strip_port;
use crate::request::{HttpScheme, RequestView};

/// Which request-derived value a scheme field maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Derived {
    None,
    Host,
    Uri,
    Path,
    Extension,
    Query,
    Method,
    TimestampSec,
    TimestampMsec,
    UserAgent,
    Referer,
    Cookie,
    XForwardedFor,
    Headers,
    HeaderNames,
    HeaderValues,
    Cookies,
    Args,
    ArgNames,
    ArgValues,
    IpSrc,
    Country,
    Subdivision1,
    InEu,
    Continent,
    Ssl,
    RayId,
    DstPort,
}

/// Field id -> derived value, built once per policy.
#[derive(Debug, Clone)]
pub(crate) struct FieldMap {
    map: Box<[Derived]>,
    pub(crate) host: Option<FieldId>,
    pub(crate) path: Option<FieldId>,
    pub(crate) ip_src: Option<FieldId>,
}

impl FieldMap {
    pub(crate) fn new(scheme: &Scheme) -> Self {
        let mut map = vec![Derived::None; scheme.field_count()];
        for (id, name, _) in scheme.fields() {
            let d = match name {
                "http.host" => Derived::Host,
                "http.request.uri" | "raw.http.request.uri" => Derived::Uri,
                "http.request.uri.path" | "raw.http.request.uri.path" => Derived::Path,
                "http.request.uri.path.extension" => Derived::Extension,
                "http.request.uri.query" | "raw.http.request.uri.query" => Derived::Query,
                "http.request.method" => Derived::Method,
                "http.request.timestamp.sec" => Derived::TimestampSec,
                "http.request.timestamp.msec" => Derived::TimestampMsec,
                "http.user_agent" => Derived::UserAgent,
                "http.referer" => Derived::Referer,
                "http.cookie" => Derived::Cookie,
                "http.x_forwarded_for" => Derived::XForwardedFor,
                "http.request.headers" => Derived::Headers,
                "http.request.headers.names" => Derived::HeaderNames,
                "http.request.headers.values" => Derived::HeaderValues,
                "http.request.cookies" => Derived::Cookies,
                "http.request.uri.args" => Derived::Args,
                "http.request.uri.args.names" => Derived::ArgNames,
                "http.request.uri.args.values" => Derived::ArgValues,
                "ip.src" => Derived::IpSrc,
                "ip.src.country" | "ip.geoip.country" => Derived::Country,
                "ip.src.subdivision_1_iso_code" | "ip.geoip.subdivision_1_iso_code" => {
                    Derived::Subdivision1
                }
                "ip.src.is_in_european_union" | "ip.geoip.is_in_european_union" => Derived::InEu,
                "ip.src.continent" | "ip.geoip.continent" => Derived::Continent,
                "ssl" => Derived::Ssl,
                "cf.ray_id" => Derived::RayId,
                "tcp.dstport" | "cf.edge.server_port" => Derived::DstPort,
                _ => Derived::None,
            };
            if let Some(slot) = map.get_mut(id.index()) {
                *slot = d;
            }
        }
        FieldMap {
            map: map.into(),
            host: scheme.field("http.host"),
            path: scheme.field("http.request.uri.path"),
            ip_src: scheme.field("ip.src"),
        }
    }

    fn get(&self, id: FieldId) -> Derived {
        self.map.get(id.index()).copied().unwrap_or(Derived::None)
    }
}

/// The request's host, trimmed and without its port.
pub(crate) fn bare_host<'a>(req: &RequestView<'a>) -> Option<&'a [u8]> {
    req.host().map(|h| strip_port(h.trim_ascii()))
}

/// Per-request identity, resolved before any rule runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Who<'a> {
    pub(crate) client_ip: IpAddr,
    pub(crate) country: Option<CountryCode>,
    pub(crate) subdivision: Option<SubdivisionCode>,
    pub(crate) ray: Option<&'a [u8]>,
}

/// The [`FieldSource`] for one request.
pub(crate) struct RequestFields<'a> {
    map: &'a FieldMap,
    req: &'a RequestView<'a>,
    who: Who<'a>,
    host: Option<&'a [u8]>,
    path: &'a [u8],
    query: Option<&'a [u8]>,
    now_micros: u64,
    /// `rate(<period>)` values for this request.
    rates: [(u32, i64); 4],
    rate_len: usize,
    /// `CC-SUB` for `ip.src.subdivision_1_iso_code`, built on first use.
    subdivision_full: OnceCell<[u8; 6]>,
    extension: OnceCell<([u8; 16], usize)>,
    /// Map and array views, built on first use (most requests never need them). Boxed: they
    /// are large, and an inline cell would be copied with every move of this struct.
    maps: OnceCell<Box<Maps<'a>>>,
}

/// The Map and Array fields of a request.
struct Maps<'a> {
    headers: HeaderMap<'a>,
    header_names: HeaderList<'a>,
    header_values: HeaderList<'a>,
    cookies: PairMap<'a, Cookies<'a>>,
    args: PairMap<'a, Args<'a>>,
    arg_names: ArgList<'a>,
    arg_values: ArgList<'a>,
}

impl<'a> Maps<'a> {
    fn new(headers: Headers<'a>, query: &'a [u8]) -> Self {
        Maps {
            headers: HeaderMap {
                headers,
                slots: Slots::new(),
            },
            header_names: HeaderList {
                headers,
                names: true,
            },
            header_values: HeaderList {
                headers,
                names: false,
            },
            cookies: PairMap::new(Cookies(headers)),
            args: PairMap::new(Args(query)),
            arg_names: ArgList { query, names: true },
            arg_values: ArgList {
                query,
                names: false,
            },
        }
    }
}

impl<'a> RequestFields<'a> {
    /// `host` is the request's host, trimmed and without its port (see [`bare_host`]).
    pub(crate) fn new(
        map: &'a FieldMap,
        req: &'a RequestView<'a>,
        who: Who<'a>,
        host: Option<&'a [u8]>,
        now_micros: u64,
    ) -> Self {
        let (path, query) = req.path_and_query_parts();
        RequestFields {
            map,
            req,
            who,
            host,
            path,
            query,
            now_micros,
            rates: [(0, 0); 4],
            rate_len: 0,
            subdivision_full: OnceCell::new(),
            extension: OnceCell::new(),
            maps: OnceCell::new(),
        }
    }

    fn maps(&self) -> &Maps<'a> {
        self.maps
            .get_or_init(|| Box::new(Maps::new(self.req.headers, self.query.unwrap_or(b""))))
    }

    /// Records the value `rate(period)` reads.
    pub(crate) fn set_rate(&mut self, period: u32, value: i64) {
        if let Some(slot) = self.rates.get_mut(self.rate_len) {
            *slot = (period, value);
            self.rate_len += 1;
        }
    }

    /// The value of a field, for the index (same as the filters see).
    pub(crate) fn value_of(&self, id: Option<FieldId>) -> Option<Value<'_>> {
        id.and_then(|id| self.get(id))
    }

    /// The id of `ip.src` in this scheme.
    pub(crate) fn ip_field(&self) -> Option<FieldId> {
        self.map.ip_src
    }

    fn header(&self, name: &[u8]) -> Option<&'a [u8]> {
        self.req.header_lower(name)
    }

    fn extension(&self) -> Option<&[u8]> {
        let (buf, len) = self.extension.get_or_init(|| {
            let mut buf = [0u8; 16];
            let last = self.path.rsplit(|&b| b == b'/').next().unwrap_or(b"");
            let ext = match memchr::memrchr(b'.', last) {
                Some(i) => last.get(i + 1..).unwrap_or(b""),
                None => b"",
            };
            if ext.len() > buf.len() {
                return (buf, usize::MAX);
            }
            for (o, b) in buf.iter_mut().zip(ext) {
                *o = b.to_ascii_lowercase();
            }
            (buf, ext.len())
        });
        if *len == usize::MAX {
            // Longer than any real extension: give the raw bytes (not lowercased).
            let last = self.path.rsplit(|&b| b == b'/').next().unwrap_or(b"");
            return memchr::memrchr(b'.', last).and_then(|i| last.get(i + 1..));
        }
        buf.get(..*len)
    }
}

const EU: [&[u8; 2]; 27] = [
    b"AT", b"BE", b"BG", b"HR", b"CY", b"CZ", b"DK", b"EE", b"FI", b"FR", b"DE", b"GR", b"HU",
    b"IE", b"IT", b"LV", b"LT", b"LU", b"MT", b"NL", b"PL", b"PT", b"RO", b"SK", b"SI", b"ES",
    b"SE",
];

impl FieldSource for RequestFields<'_> {
    fn get(&self, field: FieldId) -> Option<Value<'_>> {
        if let Some((_, v)) = self.req.fields.iter().find(|(id, _)| *id == field) {
            return Some(*v);
        }
        // The fields rules read most, answered here; the rest (header lookups, lazily built
        // views, geography) out of line, so this stays small enough to need no stack frame.
        Some(match self.map.get(field) {
            Derived::None => return None,
            Derived::Host => Value::Bytes(self.host?),
            Derived::Uri => Value::Bytes(self.req.path_and_query),
            Derived::Path => Value::Bytes(self.path),
            Derived::Method => Value::Bytes(self.req.method),
            Derived::IpSrc => Value::Ip(self.who.client_ip),
            Derived::Ssl => Value::Bool(self.req.scheme == HttpScheme::Https),
            other => return self.get_other(other),
        })
    }

    fn get_bytes(&self, field: FieldId) -> Option<&[u8]> {
        if let Some((_, v)) = self.req.fields.iter().find(|(id, _)| *id == field) {
            return match v {
                Value::Bytes(b) => Some(b),
                _ => None,
            };
        }
        match self.map.get(field) {
            Derived::Host => self.host,
            Derived::Uri => Some(self.req.path_and_query),
            Derived::Path => Some(self.path),
            Derived::Method => Some(self.req.method),
            other => match self.get_other(other)? {
                Value::Bytes(b) => Some(b),
                _ => None,
            },
        }
    }

    fn rate(&self, period_secs: u32) -> Option<i64> {
        self.rates
            .get(..self.rate_len)?
            .iter()
            .find(|(p, _)| *p == period_secs)
            .map(|(_, v)| *v)
    }
}

impl RequestFields<'_> {
    #[inline(never)]
    fn get_other(&self, derived: Derived) -> Option<Value<'_>> {
        let v = match derived {
            Derived::None => return None,
            Derived::Host => Value::Bytes(self.host?),
            Derived::Uri => Value::Bytes(self.req.path_and_query),
            Derived::Path => Value::Bytes(self.path),
            Derived::Extension => Value::Bytes(self.extension()?),
            Derived::Query => Value::Bytes(self.query.unwrap_or(b"")),
            Derived::Method => Value::Bytes(self.req.method),
            Derived::TimestampSec => Value::Int(i64::try_from(self.now_micros / 1_000_000).ok()?),
            Derived::TimestampMsec => Value::Int(i64::try_from(self.now_micros / 1_000).ok()?),
            Derived::UserAgent => Value::Bytes(self.header(b"user-agent")?),
            Derived::Referer => Value::Bytes(self.header(b"referer")?),
            Derived::Cookie => Value::Bytes(self.header(b"cookie")?),
            Derived::XForwardedFor => Value::Bytes(self.header(b"x-forwarded-for")?),
            Derived::Headers => Value::Map(&self.maps().headers),
            Derived::HeaderNames => Value::Array(&self.maps().header_names),
            Derived::HeaderValues => Value::Array(&self.maps().header_values),
            Derived::Cookies => Value::Map(&self.maps().cookies),
            Derived::Args => Value::Map(&self.maps().args),
            Derived::ArgNames => Value::Array(&self.maps().arg_names),
            Derived::ArgValues => Value::Array(&self.maps().arg_values),
            Derived::IpSrc => Value::Ip(self.who.client_ip),
            Derived::Country => {
                let c = self.who.country.as_ref()?;
                Value::Bytes(c.as_bytes())
            }
            Derived::Subdivision1 => {
                let (Some(c), Some(s)) = (self.who.country, self.who.subdivision) else {
                    return None;
                };
                let full = self.subdivision_full.get_or_init(|| {
                    let mut full = [0u8; 6];
                    let parts = c
                        .bytes()
                        .into_iter()
                        .chain(*b"-")
                        .chain(s.as_bytes().iter().copied());
                    for (o, b) in full.iter_mut().zip(parts) {
                        *o = b;
                    }
                    full
                });
                let len = full.iter().position(|&b| b == 0).unwrap_or(6);
                Value::Bytes(full.get(..len)?)
            }
            Derived::InEu => {
                let c = self.who.country?.bytes();
                Value::Bool(EU.iter().any(|e| **e == c))
            }
            Derived::Continent => {
                let c = edgeroute_geo::country(self.who.country?.as_str())?;
                Value::Bytes(c.continent.as_str().as_bytes())
            }
            Derived::Ssl => Value::Bool(self.req.scheme == HttpScheme::Https),
            Derived::RayId => Value::Bytes(self.who.ray?),
            Derived::DstPort => Value::Int(match self.req.scheme {
                HttpScheme::Https => 443,
                HttpScheme::Http => 80,
            }),
        };
        Some(v)
    }
}

/// Lazily interned values with stable addresses: 8 inline slots, then further chunks
/// allocated only when a request needs more than 8 distinct entries.
struct Slots<T> {
    items: [OnceCell<T>; 8],
    used: Cell<usize>,
    next: OnceCell<Box<Slots<T>>>,
}

impl<T> Slots<T> {
    fn new() -> Self {
        Slots {
            items: Default::default(),
            used: Cell::new(0),
            next: OnceCell::new(),
        }
    }

    fn intern(&self, value: T, same: impl Fn(&T, &T) -> bool) -> Option<&T> {
        let used = self.used.get();
        if let Some(existing) = self
            .items
            .get(..used)?
            .iter()
            .filter_map(OnceCell::get)
            .find(|v| same(v, &value))
        {
            return Some(existing);
        }
        if let Some(slot) = self.items.get(used) {
            self.used.set(used + 1);
            return Some(slot.get_or_init(|| value));
        }
        self.next
            .get_or_init(|| Box::new(Slots::new()))
            .intern(value, same)
    }
}

// ---- headers ----------------------------------------------------------------------------

type Headers<'a> = &'a [(&'a [u8], &'a [u8])];

struct HeaderMap<'a> {
    headers: Headers<'a>,
    slots: Slots<HeaderArray<'a>>,
}

/// All values of one header name; `first` is the index of its first occurrence.
struct HeaderArray<'a> {
    headers: Headers<'a>,
    first: usize,
}

impl HeaderArray<'_> {
    fn name(&self) -> &[u8] {
        self.headers.get(self.first).map_or(&b""[..], |(n, _)| n)
    }

    fn values(&self) -> impl Iterator<Item = &[u8]> {
        let name = self.name();
        self.headers
            .get(self.first..)
            .unwrap_or(&[])
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

impl ArrayValue for HeaderArray<'_> {
    fn len(&self) -> usize {
        self.values().count()
    }

    fn get(&self, index: usize) -> Option<Value<'_>> {
        self.values().nth(index).map(Value::Bytes)
    }
}

impl MapValue for HeaderMap<'_> {
    fn get(&self, key: &[u8]) -> Option<Value<'_>> {
        let first = self
            .headers
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(key))?;
        let arr = self.slots.intern(
            HeaderArray {
                headers: self.headers,
                first,
            },
            |a, b| a.first == b.first,
        )?;
        Some(Value::Array(arr))
    }

    fn for_each(&self, f: &mut dyn FnMut(&[u8], Value<'_>) -> bool) {
        for (i, (name, _)) in self.headers.iter().enumerate() {
            // Visit each name once, at its first occurrence.
            let seen = self
                .headers
                .get(..i)
                .is_some_and(|before| before.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)));
            if seen {
                continue;
            }
            let Some(arr) = self.slots.intern(
                HeaderArray {
                    headers: self.headers,
                    first: i,
                },
                |a, b| a.first == b.first,
            ) else {
                return;
            };
            if !f(name, Value::Array(arr)) {
                return;
            }
        }
    }
}

/// The names (or the values) of all headers, in order.
struct HeaderList<'a> {
    headers: Headers<'a>,
    names: bool,
}

impl ArrayValue for HeaderList<'_> {
    fn len(&self) -> usize {
        self.headers.len()
    }
    fn get(&self, index: usize) -> Option<Value<'_>> {
        self.headers
            .get(index)
            .map(|(n, v)| Value::Bytes(if self.names { n } else { v }))
    }
}

// ---- name/value pairs: cookies and query arguments ------------------------------------------

/// Where the `name=value` pairs of a Map field come from. Copied into every view of it; each
/// call walks the pairs again (nothing is collected, so nothing is allocated).
trait Pairs<'a>: Copy {
    fn pairs(self) -> impl Iterator<Item = (&'a [u8], &'a [u8])>;
}

/// The cookies of every `Cookie` header, in order.
#[derive(Clone, Copy)]
struct Cookies<'a>(Headers<'a>);

impl<'a> Pairs<'a> for Cookies<'a> {
    fn pairs(self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> {
        cookie_pairs(self.0)
    }
}

/// The arguments of a query string (raw, not percent-decoded), in order.
#[derive(Clone, Copy)]
struct Args<'a>(&'a [u8]);

impl<'a> Pairs<'a> for Args<'a> {
    fn pairs(self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> {
        arg_pairs(self.0)
    }
}

/// A Map of name -> the Array of that name's values, names compared exactly.
struct PairMap<'a, P> {
    source: P,
    slots: Slots<PairArray<'a, P>>,
}

impl<P> PairMap<'_, P> {
    fn new(source: P) -> Self {
        PairMap {
            source,
            slots: Slots::new(),
        }
    }
}

/// All values of one name, in order.
struct PairArray<'a, P> {
    source: P,
    name: &'a [u8],
}

impl<'a, P: Pairs<'a>> PairArray<'a, P> {
    fn values(&self) -> impl Iterator<Item = &'a [u8]> {
        let name = self.name;
        self.source
            .pairs()
            .filter(move |(n, _)| *n == name)
            .map(|(_, v)| v)
    }
}

impl<'a, P: Pairs<'a>> ArrayValue for PairArray<'a, P> {
    fn len(&self) -> usize {
        self.values().count()
    }
    fn get(&self, index: usize) -> Option<Value<'_>> {
        self.values().nth(index).map(Value::Bytes)
    }
}

impl<'a, P: Pairs<'a>> PairMap<'a, P> {
    fn array(&self, name: &'a [u8]) -> Option<&PairArray<'a, P>> {
        self.slots.intern(
            PairArray {
                source: self.source,
                name,
            },
            |a, b| a.name == b.name,
        )
    }
}

impl<'a, P: Pairs<'a>> MapValue for PairMap<'a, P> {
    fn get(&self, key: &[u8]) -> Option<Value<'_>> {
        let (name, _) = self.source.pairs().find(|(n, _)| *n == key)?;
        Some(Value::Array(self.array(name)?))
    }

    fn for_each(&self, f: &mut dyn FnMut(&[u8], Value<'_>) -> bool) {
        for (i, (name, _)) in self.source.pairs().enumerate() {
            // Visit each name once, at its first occurrence.
            if self.source.pairs().take(i).any(|(n, _)| n == name) {
                continue;
            }
            let Some(arr) = self.array(name) else {
                return;
            };
            if !f(name, Value::Array(arr)) {
                return;
            }
        }
    }
}

/// `name=value` pairs of every `Cookie` header, in order.
fn cookie_pairs<'a>(headers: Headers<'a>) -> impl Iterator<Item = (&'a [u8], &'a [u8])> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(b"cookie"))
        .flat_map(|(_, v)| v.split(|&b| b == b';'))
        .filter_map(|pair| {
            let pair = pair.trim_ascii();
            if pair.is_empty() {
                return None;
            }
            Some(match memchr::memchr(b'=', pair) {
                Some(i) => (pair.get(..i)?.trim_ascii(), pair.get(i + 1..)?.trim_ascii()),
                None => (pair, &b""[..]),
            })
        })
}

/// `name=value` arguments of a query string (raw, not percent-decoded), in order.
fn arg_pairs(query: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    query
        .split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|pair| match memchr::memchr(b'=', pair) {
            Some(i) => (
                pair.get(..i).unwrap_or(b""),
                pair.get(i + 1..).unwrap_or(b""),
            ),
            None => (pair, &b""[..]),
        })
}

/// The names (or the values) of all query arguments, in order.
struct ArgList<'a> {
    query: &'a [u8],
    names: bool,
}

impl ArrayValue for ArgList<'_> {
    fn len(&self) -> usize {
        arg_pairs(self.query).count()
    }
    fn get(&self, index: usize) -> Option<Value<'_>> {
        arg_pairs(self.query)
            .nth(index)
            .map(|(n, v)| Value::Bytes(if self.names { n } else { v }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who() -> Who<'static> {
        Who {
            client_ip: "81.2.69.160".parse().unwrap(),
            country: CountryCode::parse(b"US"),
            subdivision: SubdivisionCode::parse(b"CA"),
            ray: Some(b"8a1b-FRA"),
        }
    }

    /// `get_bytes` is a shortcut for `get`: the same answer for every field of the scheme,
    /// derived or supplied by the gateway.
    #[test]
    fn get_bytes_agrees_with_get_for_every_field() {
        let scheme = Scheme::cloudflare();
        let map = FieldMap::new(&scheme);
        let headers: &[(&[u8], &[u8])] = &[
            (b"user-agent", b"curl/8"),
            (b"referer", b"https://a.example/"),
            (b"cookie", b"sid=1"),
            (b"x-forwarded-for", b"1.2.3.4"),
        ];
        let ua = scheme.field("http.user_agent").unwrap();
        let score = scheme.field("cf.threat_score").unwrap();
        let supplied = [(ua, Value::Bytes(b"supplied")), (score, Value::Int(7))];
        for extra in [&supplied[..], &[]] {
            let req = RequestView {
                path_and_query: b"/static/app.JS?v=3",
                host: Some(b"api.aybiza.com"),
                headers,
                fields: extra,
                ..RequestView::new("198.41.128.5".parse().unwrap())
            };
            let fields = RequestFields::new(&map, &req, who(), bare_host(&req), 12_000_000);
            for (id, name, _) in scheme.fields() {
                let via_get = match fields.get(id) {
                    Some(Value::Bytes(b)) => Some(b),
                    _ => None,
                };
                assert_eq!(fields.get_bytes(id), via_get, "{name}");
            }
        }
    }

    #[test]
    fn request_fields_feed_filters() {
        let scheme = Scheme::cloudflare();
        let map = FieldMap::new(&scheme);
        let headers: &[(&[u8], &[u8])] = &[
            (b"Host", b"api.aybiza.com:443"),
            (b"X-Key", b"a"),
            (b"cookie", b"sid=1; theme=dark"),
            (b"x-key", b"b"),
            (b"User-Agent", b"curl/8"),
        ];
        let req = RequestView {
            path_and_query: b"/static/App.JS?v=3&v=4&x",
            headers,
            ..RequestView::new("198.41.128.5".parse().unwrap())
        };
        let fields = RequestFields::new(&map, &req, who(), bare_host(&req), 12_000_000);
        let check = |e: &str| scheme.compile(e).unwrap().execute(&fields);
        assert!(check(r#"http.host eq "api.aybiza.com""#));
        assert!(check(r#"http.request.uri.path eq "/static/App.JS""#));
        assert!(check(r#"http.request.uri.path.extension eq "js""#));
        assert!(check(r#"http.request.uri.query eq "v=3&v=4&x""#));
        assert!(check(r#"http.request.headers["x-key"][1] eq "b""#));
        assert!(check(r#"len(http.request.headers["x-key"]) eq 2"#));
        assert!(check(r#"http.request.cookies["theme"][0] eq "dark""#));
        assert!(check(r#"http.request.uri.args["v"][1] eq "4""#));
        assert!(check(r#"any(http.request.uri.args.names[*] eq "x")"#));
        assert!(check(
            r#"any(http.request.headers.names[*] eq "User-Agent")"#
        ));
        assert!(check(r#"http.user_agent eq "curl/8""#));
        assert!(check("ip.src eq 81.2.69.160"));
        assert!(check(
            r#"ip.src.country eq "US" and ip.geoip.country eq "US""#
        ));
        assert!(check(r#"ip.src.subdivision_1_iso_code eq "US-CA""#));
        assert!(check(r#"ip.src.continent eq "NA""#));
        assert!(check("not ip.src.is_in_european_union"));
        assert!(check("ssl and http.request.timestamp.sec eq 12"));
        assert!(check(r#"cf.ray_id eq "8a1b-FRA""#));
        assert!(!check(r#"http.referer eq """#), "missing header is missing");
        assert!(!check("cf.threat_score gt 0"));
    }

    #[test]
    fn caller_fields_take_precedence_and_rates_are_read() {
        let scheme = Scheme::cloudflare();
        let map = FieldMap::new(&scheme);
        let ts = scheme.field("cf.threat_score").unwrap();
        let ip = scheme.field("ip.src").unwrap();
        let extra = [
            (ts, Value::Int(70)),
            (ip, Value::Ip("10.0.0.1".parse().unwrap())),
        ];
        let req = RequestView {
            fields: &extra,
            ..RequestView::new("198.41.128.5".parse().unwrap())
        };
        let mut fields = RequestFields::new(&map, &req, who(), bare_host(&req), 0);
        fields.set_rate(60, 61);
        let check = |e: &str, f: &RequestFields<'_>| scheme.compile(e).unwrap().execute(f);
        assert!(check("cf.threat_score gt 50", &fields));
        assert!(check("ip.src eq 10.0.0.1", &fields));
        assert!(check("rate(1m) > 60", &fields));
        assert!(!check("rate(10s) > 0", &fields));
    }

    #[test]
    fn many_distinct_header_lookups_stay_correct() {
        let scheme = Scheme::cloudflare();
        let map = FieldMap::new(&scheme);
        let names: Vec<String> = (0..20).map(|i| format!("h{i}")).collect();
        let headers: Vec<(&[u8], &[u8])> =
            names.iter().map(|n| (n.as_bytes(), n.as_bytes())).collect();
        let req = RequestView {
            headers: &headers,
            ..RequestView::new("1.1.1.1".parse().unwrap())
        };
        let fields = RequestFields::new(&map, &req, who(), bare_host(&req), 0);
        for n in &names {
            let e = format!(r#"http.request.headers["{n}"][0] eq "{n}""#);
            assert!(scheme.compile(&e).unwrap().execute(&fields), "{e}");
        }
    }
}
