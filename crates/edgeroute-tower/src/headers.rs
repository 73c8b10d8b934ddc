//! Parsed header names and values, cached per thread, and the header edits of one request.
//!
//! A policy's header edits repeat on every request (`x-frame-options: DENY`, `x-cf-region:
//! us-east-1`, ...). Parsing a name or value into `http` types copies it into a new buffer; the
//! cache does that once per distinct edit (per thread) and then hands out clones (a
//! reference-count increment). Edits are found by where their texts are (the policy snapshot's
//! strings stay put while it lives) and every hit is checked against the texts, so a reload
//! needs no invalidation and memory reused for other text is a miss, never a wrong header.
//! Bounded, so values rendered from per-client data (`{client_ip}`) cannot grow it without limit
//! (past the bound they are parsed per request, as without a cache).
//!
//! One request takes the per-thread tables once for all its edits ([`HeaderCache::parse_all`]),
//! not once per header.

use std::cell::RefCell;
use std::collections::HashMap;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};

type Map<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// Most edits of each kind, and most values, kept (per thread).
const MAX_CACHED: usize = 512;

/// Most block bodies kept (per thread), and the largest one kept.
const MAX_BODIES: usize = 64;
const MAX_BODY_LEN: usize = 64 * 1024;

/// The parsed names and values of one thread: no lock, no atomic load, no shared cache line
/// per request (a gateway serves from a few worker threads, each filling its own copy once).
#[derive(Default)]
struct Tables {
    /// Edits with a static value, by where their name and value are (the policy snapshot's
    /// strings stay put while it lives): one probe of a pointer-sized key per edit instead of
    /// hashing both texts. Every hit is checked against the texts, so a key whose memory now
    /// holds other text is a miss, never a wrong header.
    pairs: Map<PairKey, Pair>,
    /// Edits whose value has placeholders, by where their name is and what the value rendered
    /// to: one probe after rendering instead of one for the name and one for the value.
    rendered: hashbrown::HashMap<RenderedKey, Rendered, foldhash::fast::FixedState>,
    values: Map<Box<[u8]>, HeaderValue>,
    bodies: Map<Box<str>, Bytes>,
    scratch: Vec<u8>,
}

thread_local! {
    static TABLES: RefCell<Tables> = RefCell::new(Tables::default());
}

/// Handle to the per-thread cache (see the module docs).
#[derive(Default, Debug, Clone, Copy)]
pub(crate) struct HeaderCache;

impl HeaderCache {
    /// Parses every edit of `edits` (invalid names or values are skipped) and hands each to `f`,
    /// borrowing the per-thread tables once.
    pub(crate) fn parse_all<'a>(
        &self,
        edits: impl Iterator<Item = (&'a str, edgeroute::HeaderValue<'a>)>,
        mut f: impl FnMut(HeaderName, HeaderValue),
    ) {
        TABLES.with_borrow_mut(|t| {
            for (name, value) in edits {
                if let Some((n, v)) = t.edit(name, &value) {
                    f(n, v);
                }
            }
        });
    }

    pub(crate) fn value(&self, value: &[u8]) -> Option<HeaderValue> {
        TABLES.with_borrow_mut(|t| cached_value(&mut t.values, value))
    }

    /// A body as `Bytes`, copied once per distinct content (per thread).
    pub(crate) fn body(&self, body: &str) -> Bytes {
        if body.len() > MAX_BODY_LEN {
            return Bytes::copy_from_slice(body.as_bytes());
        }
        TABLES.with_borrow_mut(|t| {
            if let Some(b) = t.bodies.get(body) {
                return b.clone();
            }
            let b = Bytes::copy_from_slice(body.as_bytes());
            if t.bodies.len() < MAX_BODIES {
                t.bodies.insert(body.into(), b.clone());
            }
            b
        })
    }
}

impl Tables {
    /// One edit, parsed: static values through [`Tables::pairs`], values with placeholders
    /// rendered into the scratch buffer, then through [`Tables::rendered`].
    fn edit(
        &mut self,
        name: &str,
        value: &edgeroute::HeaderValue<'_>,
    ) -> Option<(HeaderName, HeaderValue)> {
        let Some(text) = value.as_static() else {
            let Tables {
                rendered, scratch, ..
            } = self;
            scratch.clear();
            value.write_to(scratch);
            return rendered_pair(rendered, name, scratch);
        };
        self.static_pair(name, text)
    }

    fn static_pair(&mut self, name: &str, text: &str) -> Option<(HeaderName, HeaderValue)> {
        let key = PairKey::of(name, text);
        if let Some(p) = self.pairs.get(&key)
            && *p.name_text == *name
            && *p.value_text == *text
        {
            return Some((p.name.clone(), p.value.clone()));
        }
        let pair = Pair {
            name: HeaderName::from_bytes(name.as_bytes()).ok()?,
            value: HeaderValue::from_str(text).ok()?,
            name_text: name.into(),
            value_text: text.into(),
        };
        let out = (pair.name.clone(), pair.value.clone());
        if self.pairs.len() < MAX_CACHED || self.pairs.contains_key(&key) {
            self.pairs.insert(key, pair);
        }
        Some(out)
    }
}

/// Where an edit's name and static value are: (address, length) of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PairKey([usize; 4]);

impl std::hash::Hash for PairKey {
    /// One word for the hasher to mix (the derived hash writes five).
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let [name, name_len, value, value_len] = self.0.map(|w| w as u64);
        state.write_u64(name ^ value.rotate_left(29) ^ (name_len << 48) ^ (value_len << 56));
    }
}

impl PairKey {
    fn of(name: &str, value: &str) -> Self {
        PairKey([
            name.as_ptr().addr(),
            name.len(),
            value.as_ptr().addr(),
            value.len(),
        ])
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct RenderedKey {
    name: usize,
    name_len: usize,
    value: Box<[u8]>,
}

// INVARIANT: hashes exactly like `RenderedKey` (same field order; `Box<[u8]>` hashes as `[u8]`).
#[derive(Hash)]
struct RenderedRef<'a> {
    name: usize,
    name_len: usize,
    value: &'a [u8],
}

impl hashbrown::Equivalent<RenderedKey> for RenderedRef<'_> {
    fn equivalent(&self, k: &RenderedKey) -> bool {
        self.name == k.name && self.name_len == k.name_len && *self.value == *k.value
    }
}

/// A parsed edit with a rendered value, and the name's text (checked on every hit).
struct Rendered {
    name: HeaderName,
    value: HeaderValue,
    name_text: Box<str>,
}

fn rendered_pair(
    map: &mut hashbrown::HashMap<RenderedKey, Rendered, foldhash::fast::FixedState>,
    name: &str,
    value: &[u8],
) -> Option<(HeaderName, HeaderValue)> {
    let key = RenderedRef {
        name: name.as_ptr().addr(),
        name_len: name.len(),
        value,
    };
    if let Some(r) = map.get(&key)
        && *r.name_text == *name
    {
        return Some((r.name.clone(), r.value.clone()));
    }
    let r = Rendered {
        name: HeaderName::from_bytes(name.as_bytes()).ok()?,
        value: HeaderValue::from_bytes(value).ok()?,
        name_text: name.into(),
    };
    let out = (r.name.clone(), r.value.clone());
    let key = RenderedKey {
        name: key.name,
        name_len: key.name_len,
        value: value.into(),
    };
    if map.len() < MAX_CACHED || map.contains_key(&key) {
        map.insert(key, r);
    }
    Some(out)
}

/// A parsed edit and the texts it was parsed from.
struct Pair {
    name: HeaderName,
    value: HeaderValue,
    name_text: Box<str>,
    value_text: Box<str>,
}

fn cached_value(values: &mut Map<Box<[u8]>, HeaderValue>, value: &[u8]) -> Option<HeaderValue> {
    if let Some(v) = values.get(value) {
        return Some(v.clone());
    }
    let v = HeaderValue::from_bytes(value).ok()?;
    if values.len() < MAX_CACHED {
        values.insert(value.into(), v.clone());
    }
    Some(v)
}

/// Sets `name: value` on `headers`, replacing what was there; `vary` is appended instead.
pub(crate) fn set(headers: &mut HeaderMap, name: HeaderName, value: HeaderValue) {
    if name == http::header::VARY {
        headers.append(name, value);
    } else {
        headers.insert(name, value);
    }
}

/// Edits kept inline (no allocation) by [`Edits`]; more go to a `Vec`.
const INLINE_EDITS: usize = 6;

/// Parsed header edits waiting for the response: inline up to [`INLINE_EDITS`], so holding them
/// costs no allocation and no reference to the decision (which moves into the request's
/// extensions instead of being cloned).
#[derive(Debug, Default)]
pub(crate) struct Edits {
    inline: [Option<(HeaderName, HeaderValue)>; INLINE_EDITS],
    len: usize,
    more: Vec<(HeaderName, HeaderValue)>,
}

impl Edits {
    pub(crate) fn push(&mut self, name: HeaderName, value: HeaderValue) {
        match self.inline.get_mut(self.len) {
            Some(slot) => {
                *slot = Some((name, value));
                self.len += 1;
            }
            None => self.more.push((name, value)),
        }
    }

    /// Applies every edit to `headers` (see [`set`]), in order.
    pub(crate) fn apply(&mut self, headers: &mut HeaderMap) {
        headers.reserve(self.len + self.more.len());
        for (name, value) in self.inline.iter_mut().filter_map(Option::take) {
            set(headers, name, value);
        }
        self.len = 0;
        for (name, value) in self.more.drain(..) {
            set(headers, name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_parsed_once_and_bounded() {
        let c = HeaderCache;
        assert_eq!(c.value(b"DENY").unwrap(), "DENY");
        assert!(c.value(b"a\\nb").is_some());
        assert!(c.value(b"a\\x00b").is_some());
        assert!(
            c.value(b"a\0b").is_none(),
            "control bytes are not a header value"
        );
        for i in 0..(MAX_CACHED + 100) {
            let _ = c.value(format!("v{i}").as_bytes());
        }
        assert_eq!(TABLES.with_borrow(|t| t.values.len()), MAX_CACHED);
    }

    #[test]
    fn static_pairs_are_keyed_by_address_but_checked_by_content() {
        let name = String::from("x-frame-options");
        let mut value = String::from("DENY");
        let pair = |n: &str, v: &str| TABLES.with_borrow_mut(|t| t.static_pair(n, v));
        let (n, v) = pair(&name, &value).unwrap();
        assert_eq!(
            (n.as_str(), v.to_str().unwrap()),
            ("x-frame-options", "DENY")
        );
        let ptr = value.as_ptr();
        // Same address and length, other text: never the cached pair.
        value.replace_range(.., "SAME");
        assert_eq!(value.as_ptr(), ptr);
        let (_, v) = pair(&name, &value).unwrap();
        assert_eq!(v, "SAME");
        let (_, v) = pair(&name, &value).unwrap();
        assert_eq!(v, "SAME");
        assert!(pair("bad name", "x").is_none());
        assert!(pair("x-ok", "bad\0value").is_none());
        let size = TABLES.with_borrow(|t| t.pairs.len());
        for i in 0..(MAX_CACHED + 10) {
            let v = format!("v{i}");
            assert_eq!(pair("x-many", &v).unwrap().1, v.as_str());
        }
        assert!(TABLES.with_borrow(|t| t.pairs.len()) <= MAX_CACHED.max(size));
    }

    #[test]
    fn rendered_pairs_are_keyed_by_name_address_and_value_and_checked_by_name() {
        let mut name = String::from("x-cf-region");
        let pair =
            |n: &str, v: &[u8]| TABLES.with_borrow_mut(|t| rendered_pair(&mut t.rendered, n, v));
        let (n, v) = pair(&name, b"us-east-1").unwrap();
        assert_eq!(
            (n.as_str(), v.to_str().unwrap()),
            ("x-cf-region", "us-east-1")
        );
        let (_, v) = pair(&name, b"eu-west-2").unwrap();
        assert_eq!(v, "eu-west-2");
        // Same address and length, other name: never the cached pair.
        let ptr = name.as_ptr();
        name.replace_range(.., "x-cf-regiom");
        assert_eq!(name.as_ptr(), ptr);
        let (n, v) = pair(&name, b"us-east-1").unwrap();
        assert_eq!(
            (n.as_str(), v.to_str().unwrap()),
            ("x-cf-regiom", "us-east-1")
        );
        assert!(pair("bad name", b"x").is_none());
        assert!(pair("x-ok", b"bad\0value").is_none());
        for i in 0..(MAX_CACHED + 10) {
            let v = format!("10.0.{}.{}", i / 256, i % 256);
            assert_eq!(pair("x-client", v.as_bytes()).unwrap().1, v.as_str());
        }
        assert!(TABLES.with_borrow(|t| t.rendered.len()) <= MAX_CACHED);
    }

    #[test]
    fn bodies_are_copied_once_and_bounded() {
        let c = HeaderCache;
        let a = c.body("forbidden");
        let b = c.body("forbidden");
        assert_eq!(a, b);
        assert_eq!(a.as_ptr(), b.as_ptr(), "the second is a clone of the first");
        for i in 0..(MAX_BODIES + 10) {
            assert_eq!(c.body(&format!("b{i}")), format!("b{i}").as_bytes());
        }
        assert_eq!(TABLES.with_borrow(|t| t.bodies.len()), MAX_BODIES);
        let big = "x".repeat(MAX_BODY_LEN + 1);
        assert_eq!(c.body(&big).len(), MAX_BODY_LEN + 1);
    }

    #[test]
    fn edits_apply_in_order_inline_and_beyond_and_vary_appends() {
        let mut e = Edits::default();
        for i in 0..(INLINE_EDITS + 3) {
            e.push(
                HeaderName::from_bytes(format!("x-e{i}").as_bytes()).unwrap(),
                HeaderValue::from_str(&i.to_string()).unwrap(),
            );
        }
        e.push(http::header::VARY, HeaderValue::from_static("Origin"));
        e.push(
            HeaderName::from_static("x-e0"),
            HeaderValue::from_static("last"),
        );
        let mut h = HeaderMap::new();
        h.insert(http::header::VARY, HeaderValue::from_static("Accept"));
        h.insert("x-e1", HeaderValue::from_static("old"));
        e.apply(&mut h);
        assert_eq!(h["x-e0"], "last");
        assert_eq!(h["x-e1"], "1");
        assert_eq!(h[format!("x-e{}", INLINE_EDITS + 2).as_str()], "8");
        let vary: Vec<_> = h.get_all(http::header::VARY).iter().collect();
        assert_eq!(vary, ["Accept", "Origin"]);
        // Applying again is a no-op: the edits were taken.
        let before = h.clone();
        e.apply(&mut h);
        assert_eq!(h, before);
    }
}
