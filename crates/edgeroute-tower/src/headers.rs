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
//! A decision's edits are found by its [`edit_key`](edgeroute::Decision::edit_key) in one probe
//! of a per-thread table bound to the decision's policy snapshot
//! ([`HeaderCache::decision_edits`]): both lists are parsed the first time a key is seen, and
//! every later request with that key clones the parsed request headers and the shared response
//! list (so the request's future holds a pointer, not the parsed headers) without walking the
//! engine's edit iterators or rendering placeholders. The response list itself is shared by
//! content across keys and snapshots (found by its texts), and single edits by where their
//! texts are.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Weak};

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};

type Map<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// Most edits of each kind, and most values, kept (per thread).
const MAX_CACHED: usize = 512;

/// Most (edit key -> parsed edits) entries kept per thread for one policy snapshot.
const MAX_KEYS: usize = 4096;

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
    /// Whole response edit lists, by their texts ([`Tables::list`]).
    lists: Map<Box<[u8]>, EditList>,
    scratch: Vec<u8>,
    list_key: Vec<u8>,
    /// Both parsed edit lists of a decision by its [`edgeroute::transform::EditKey`], for the
    /// snapshot `by_key_snapshot` (a `Weak` keeps its allocation, so no later snapshot can
    /// have the same address while the table is bound to it; another snapshot clears it).
    by_key: Map<edgeroute::transform::EditKey, Edits>,
    by_key_snapshot: Weak<edgeroute::Policy>,
}

/// The parsed edits of one (snapshot, edit key): the request's, set per request, and the
/// response's shared list.
struct Edits {
    request: Box<[(HeaderName, HeaderValue)]>,
    response: Option<EditList>,
}

thread_local! {
    static TABLES: RefCell<Tables> = RefCell::new(Tables::default());
}

/// Handle to the per-thread cache (see the module docs).
#[derive(Default, Debug, Clone, Copy)]
pub(crate) struct HeaderCache;

impl HeaderCache {
    /// The parsed list of `edits` (invalid names or values are skipped): found by the edits'
    /// texts (values rendered) in one probe, parsed on the first sight of the list only.
    /// `None` when there are no edits.
    #[cfg(test)]
    pub(crate) fn list<'a>(
        &self,
        mut edits: impl Iterator<Item = (&'a str, edgeroute::HeaderValue<'a>)>,
    ) -> Option<EditList> {
        TABLES.with_borrow_mut(|t| t.list(edits.by_ref()))
    }

    /// A decision's header edits: its request edits set on `request` (when given and the
    /// decision forwards), its response edits returned as a shared list (`None` when there
    /// are none). Found by the decision's [`edit_key`](edgeroute::Decision::edit_key) in one
    /// probe: the edit iterators are walked and their values rendered only the first time a
    /// key is seen (per thread and snapshot), or for every request past [`MAX_KEYS`] keys.
    pub(crate) fn decision_edits(
        &self,
        decision: &edgeroute::Decision,
        request: Option<&mut HeaderMap>,
    ) -> Option<EditList> {
        let key = decision.edit_key();
        TABLES.with_borrow_mut(|t| {
            let policy = decision.policy();
            if !std::ptr::eq(t.by_key_snapshot.as_ptr(), Arc::as_ptr(policy)) {
                t.by_key.clear();
                t.by_key_snapshot = Arc::downgrade(policy);
            }
            if let Some(e) = t.by_key.get(&key) {
                if let Some(headers) = request {
                    apply(&e.request, headers);
                }
                return e.response.clone();
            }
            let mut parsed = Vec::new();
            let mut edits = decision.request_headers();
            for (name, value) in edits.by_ref() {
                if let Some(pair) = t.edit(name, &value) {
                    parsed.push(pair);
                }
            }
            let mut edits = decision.response_headers();
            let e = Edits {
                request: parsed.into(),
                response: t.list(edits.by_ref()),
            };
            if let Some(headers) = request {
                apply(&e.request, headers);
            }
            let response = e.response.clone();
            if t.by_key.len() < MAX_KEYS {
                t.by_key.insert(key, e);
            }
            response
        })
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
    /// See [`HeaderCache::list`]. The key is every name and value text, length-prefixed, in
    /// order: the lookup compares content, so it holds whatever memory the texts live in.
    fn list<'a>(
        &mut self,
        edits: impl Iterator<Item = (&'a str, edgeroute::HeaderValue<'a>)>,
    ) -> Option<EditList> {
        let Tables {
            lists,
            list_key,
            values,
            ..
        } = self;
        list_key.clear();
        for (name, value) in edits {
            push_text(list_key, name.as_bytes());
            match value.as_static() {
                Some(text) => push_text(list_key, text.as_bytes()),
                None => {
                    let at = list_key.len();
                    list_key.extend_from_slice(&[0; 4]);
                    value.write_to(list_key);
                    let len = list_key.len().saturating_sub(at + 4);
                    let len = u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes();
                    if let Some(slot) = list_key.get_mut(at..at + 4) {
                        slot.copy_from_slice(&len);
                    }
                }
            }
        }
        if list_key.is_empty() {
            return None;
        }
        if let Some(list) = lists.get(list_key.as_slice()) {
            return Some(Arc::clone(list));
        }
        // A new list, or one of many (values rendered from per-client data, past the bound):
        // values through their own cache, so such lists copy only what is new.
        let list: EditList = Arc::new(ResponseEdits::new(
            decode(list_key.as_slice())
                .filter_map(|(name, value)| {
                    Some((
                        HeaderName::from_bytes(name).ok()?,
                        cached_value(values, value)?,
                    ))
                })
                .collect(),
        ));
        if lists.len() < MAX_CACHED {
            lists.insert(list_key.as_slice().into(), Arc::clone(&list));
        }
        Some(list)
    }

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

/// The parsed response edits of one forwarded request: one list per distinct sequence of
/// edits (per thread), shared by every request with that sequence, so the request's future
/// holds one pointer instead of the parsed headers and the parsing is a single probe.
pub(crate) type EditList = Arc<ResponseEdits>;

/// A sequence of response edits, parsed, and the same edits applied to an empty map.
pub(crate) struct ResponseEdits {
    list: Box<[(HeaderName, HeaderValue)]>,
    /// `list` applied to an empty map: a response without headers (the layer's own answers,
    /// inner services that set none) gets a clone of it, two allocations and a copy per header,
    /// instead of hashing and probing for every edit.
    map: HeaderMap,
}

impl ResponseEdits {
    fn new(list: Box<[(HeaderName, HeaderValue)]>) -> Self {
        let mut map = HeaderMap::new();
        apply(&list, &mut map);
        ResponseEdits { list, map }
    }

    /// The edits, in order.
    #[cfg(test)]
    pub(crate) fn list(&self) -> &[(HeaderName, HeaderValue)] {
        &self.list
    }

    /// The edits applied to an empty map.
    pub(crate) fn map(&self) -> &HeaderMap {
        &self.map
    }

    /// Applies the edits to `headers` (see [`apply`]); what `headers` ends with does not
    /// depend on whether it was empty.
    pub(crate) fn apply_to(&self, headers: &mut HeaderMap) {
        if headers.is_empty() {
            headers.clone_from(&self.map);
        } else {
            apply(&self.list, headers);
        }
    }
}

/// Applies every edit of `list` to `headers` (see [`set`]), in order. Reserves first: a map
/// sized to what it holds (hyper parses a head into a map of exactly its headers) would
/// otherwise grow twice for three edits, each growth allocating and rehashing.
pub(crate) fn apply(list: &[(HeaderName, HeaderValue)], headers: &mut HeaderMap) {
    headers.reserve(list.len());
    for (name, value) in list {
        set(headers, name.clone(), value.clone());
    }
}

/// Appends `bytes` to `key` after its length, so a sequence of texts encodes unambiguously.
fn push_text(key: &mut Vec<u8>, bytes: &[u8]) {
    key.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_le_bytes());
    key.extend_from_slice(bytes);
}

/// The (name, value) texts of a list key written by [`Tables::list`].
fn decode(mut key: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut text = move || {
        let (len, rest) = key.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_le_bytes(*len)).ok()?;
        let text = rest.get(..len)?;
        key = rest.get(len..)?;
        Some(text)
    };
    std::iter::from_fn(move || Some((text()?, text()?)))
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
    fn lists_are_shared_by_content_and_apply_in_order_and_vary_appends() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../policies/aybiza.toml"
        ))
        .unwrap();
        let (policy, _) = edgeroute::Policy::from_toml_str(&text, "aybiza.toml", None).unwrap();
        let engine = edgeroute::Engine::new(policy);
        let peer: std::net::IpAddr = "173.245.48.1".parse().unwrap();
        let decide = |origin: Option<&[u8]>, client: &str| {
            let mut headers: Vec<(&[u8], &[u8])> = vec![
                (b"host", b"api.aybiza.com"),
                (b"cf-connecting-ip", client.as_bytes()),
            ];
            if let Some(o) = origin {
                headers.push((b"origin", o));
            }
            let v = edgeroute::RequestView {
                method: b"GET",
                host: Some(b"api.aybiza.com"),
                path_and_query: b"/api/v1/agents",
                headers: &headers,
                ..edgeroute::RequestView::new(peer)
            };
            engine.decide(&v, edgeroute::Timestamp::from_micros(1_700_000_000_000_000))
        };
        let (a, b) = (decide(None, "81.2.69.1"), decide(None, "81.2.69.2"));
        let cors = decide(Some(b"https://app.aybiza.com"), "81.2.69.3");
        let la = HeaderCache.list(a.response_headers()).unwrap();
        let lb = HeaderCache.list(b.response_headers()).unwrap();
        assert!(Arc::ptr_eq(&la, &lb), "the same edits share one list");
        let lc = HeaderCache.list(cors.response_headers()).unwrap();
        assert!(!Arc::ptr_eq(&la, &lc));
        // The list holds exactly what the decision says, in order.
        for (d, list) in [(&a, &la), (&cors, &lc)] {
            let want: Vec<(String, String)> = d
                .response_headers()
                .map(|(n, v)| (n.to_owned(), v.to_string()))
                .collect();
            let got: Vec<(String, String)> = list
                .list()
                .iter()
                .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap().to_owned()))
                .collect();
            assert_eq!(got, want);
        }
        assert!(lc.list().iter().any(|(n, _)| n == http::header::VARY));
        let mut h = HeaderMap::new();
        h.insert(http::header::VARY, HeaderValue::from_static("Accept"));
        h.insert("x-frame-options", HeaderValue::from_static("old"));
        lc.apply_to(&mut h);
        assert_eq!(h["x-frame-options"], "DENY");
        let vary: Vec<_> = h.get_all(http::header::VARY).iter().collect();
        assert_eq!(vary, ["Accept", "Origin"]);
    }

    /// Every header of `h`, in order, values of one name together.
    fn pairs(h: &HeaderMap) -> Vec<(String, Vec<u8>)> {
        h.iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn an_empty_map_gets_what_applying_the_list_gives() {
        let list: Box<[(HeaderName, HeaderValue)]> = [
            ("vary", "Origin"),
            ("x-frame-options", "DENY"),
            ("x-a", "1"),
            ("vary", "Accept-Encoding"),
            ("x-a", "2"),
        ]
        .into_iter()
        .map(|(n, v)| (HeaderName::from_static(n), HeaderValue::from_static(v)))
        .collect();
        let edits = ResponseEdits::new(list.clone());
        let mut want = HeaderMap::new();
        apply(&list, &mut want);
        // The same map for an empty response (cloned) and a non-empty one (edited in place).
        let mut empty = HeaderMap::new();
        edits.apply_to(&mut empty);
        assert_eq!(pairs(&empty), pairs(&want));
        assert_eq!(pairs(edits.map()), pairs(&want));
        assert_eq!(
            empty.get_all("vary").iter().collect::<Vec<_>>(),
            ["Origin", "Accept-Encoding"]
        );
        assert_eq!(empty["x-a"], "2");
        let mut some = HeaderMap::new();
        some.insert("x-b", HeaderValue::from_static("0"));
        edits.apply_to(&mut some);
        want.insert("x-b", HeaderValue::from_static("0"));
        let mut got = pairs(&some);
        let mut want = pairs(&want);
        got.sort();
        want.sort();
        assert_eq!(got, want);
    }

    /// What the decision says, rendered: (request edits, response edits).
    type Rendered = (Vec<(String, String)>, Vec<(String, String)>);

    fn said(d: &edgeroute::Decision) -> Rendered {
        let r = if d.action.forwards() {
            d.request_headers()
                .map(|(n, v)| (n.to_owned(), v.to_string()))
                .collect()
        } else {
            Vec::new()
        };
        let s = d
            .response_headers()
            .map(|(n, v)| (n.to_owned(), v.to_string()))
            .collect();
        (r, s)
    }

    fn got(d: &edgeroute::Decision) -> Rendered {
        let mut h = HeaderMap::new();
        let list = HeaderCache.decision_edits(d, Some(&mut h));
        let r = h
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap().to_owned()))
            .collect();
        if let Some(l) = &list {
            let mut applied = HeaderMap::new();
            apply(l.list(), &mut applied);
            assert_eq!(pairs(l.map()), pairs(&applied));
        }
        let s = list
            .iter()
            .flat_map(|l| l.list().iter())
            .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap().to_owned()))
            .collect();
        (r, s)
    }

    #[test]
    fn edits_by_key_are_what_the_decision_says_across_reloads_and_client_ips() {
        let aybiza = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../policies/aybiza.toml"
        ))
        .unwrap();
        let by_ip = r#"
[policy]
name = "t"
[transforms.request_headers]
"X-A" = "{region}/{country}/{client_ip}"
[transforms.response_headers]
"x-static" = "1"
[transforms.cors]
allow_origins = ["*"]
"#;
        let compile = |text: &str| {
            edgeroute::Policy::from_toml_str(text, "p.toml", None)
                .unwrap()
                .0
        };
        let engine = edgeroute::Engine::new(compile(&aybiza));
        let mut t = 1_700_000_000_000_000u64;
        let mut check = |engine: &edgeroute::Engine| {
            for host in ["api.aybiza.com", "voice.aybiza.com", "a.example"] {
                for (method, origin) in [
                    (&b"GET"[..], None),
                    (b"OPTIONS", Some(&b"https://app.aybiza.com"[..])),
                    (b"GET", Some(b"https://app.aybiza.com")),
                ] {
                    for n in 1..=3u8 {
                        let client = format!("81.2.69.{n}");
                        let mut headers: Vec<(&[u8], &[u8])> = vec![
                            (b"host", host.as_bytes()),
                            (b"cf-connecting-ip", client.as_bytes()),
                            (b"cf-ipcountry", b"DE"),
                        ];
                        if let Some(o) = origin {
                            headers.push((b"origin", o));
                            headers.push((b"access-control-request-method", b"GET"));
                        }
                        let v = edgeroute::RequestView {
                            method,
                            host: Some(host.as_bytes()),
                            path_and_query: b"/api/v1/agents",
                            headers: &headers,
                            // Peers vary too: the second policy trusts no proxy, so its
                            // `{client_ip}` is the peer.
                            ..edgeroute::RequestView::new(
                                format!("173.245.48.{n}").parse().unwrap(),
                            )
                        };
                        t += 1_000;
                        let d = engine.decide(&v, edgeroute::Timestamp::from_micros(t));
                        // Twice: the first parses, the second is the cached entry.
                        assert_eq!(got(&d), said(&d), "{d:?}");
                        assert_eq!(got(&d), said(&d), "{d:?}");
                    }
                }
            }
        };
        check(&engine);
        // Another snapshot (other edits, the client in a value), then the first again.
        engine.reload(compile(by_ip));
        check(&engine);
        engine.reload(compile(&aybiza));
        check(&engine);
        assert!(TABLES.with_borrow(|t| t.by_key.len()) <= MAX_KEYS);
    }

    #[test]
    fn list_keys_are_unambiguous_and_bad_edits_are_skipped() {
        let mut key = Vec::new();
        for t in [&b"ab"[..], b"", b"c:d", b"bad\0"] {
            push_text(&mut key, t);
        }
        let pairs: Vec<_> = decode(&key).collect();
        assert_eq!(pairs, [(&b"ab"[..], &b""[..]), (b"c:d", b"bad\0")]);
        // A truncated key decodes to the whole pairs before the cut only.
        assert_eq!(decode(key.get(..key.len() - 1).unwrap()).count(), 1);
    }
}
