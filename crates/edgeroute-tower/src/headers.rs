//! Parsed header names and values, cached by content.
//!
//! A policy's header edits repeat on every request (`x-frame-options: DENY`, `x-cf-region:
//! us-east-1`, ...). Parsing a name or value into `http` types copies it into a new buffer; the
//! cache does that once per distinct content (per thread) and then hands out clones (a
//! reference-count increment). Keyed by content, not by policy, so a reload needs no
//! invalidation; bounded, so
//! values rendered from per-client data (`{client_ip}`) cannot grow it without limit (past the
//! bound they are parsed per request, as without a cache).

use std::cell::RefCell;
use std::collections::HashMap;

use http::header::{HeaderName, HeaderValue};

type Map<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// Most names, and most values, kept (per thread).
const MAX_CACHED: usize = 512;

/// The parsed names and values of one thread: no lock, no atomic load, no shared cache line
/// per request (a gateway serves from a few worker threads, each filling its own copy once).
#[derive(Default)]
struct Tables {
    names: Map<Box<str>, HeaderName>,
    values: Map<Box<[u8]>, HeaderValue>,
    scratch: Vec<u8>,
}

thread_local! {
    static TABLES: RefCell<Tables> = RefCell::new(Tables::default());
}

/// Handle to the per-thread cache (see the module docs).
#[derive(Default, Debug, Clone, Copy)]
pub(crate) struct HeaderCache;

impl HeaderCache {
    pub(crate) fn name(&self, name: &str) -> Option<HeaderName> {
        TABLES.with_borrow_mut(|t| {
            if let Some(h) = t.names.get(name) {
                return Some(h.clone());
            }
            let h = HeaderName::from_bytes(name.as_bytes()).ok()?;
            if t.names.len() < MAX_CACHED {
                t.names.insert(name.into(), h.clone());
            }
            Some(h)
        })
    }

    pub(crate) fn value(&self, value: &[u8]) -> Option<HeaderValue> {
        TABLES.with_borrow_mut(|t| cached_value(&mut t.values, value))
    }

    /// A value with placeholders, rendered into a per-thread buffer, then looked up.
    pub(crate) fn rendered(&self, value: &edgeroute::HeaderValue<'_>) -> Option<HeaderValue> {
        TABLES.with_borrow_mut(|t| {
            let Tables {
                values, scratch, ..
            } = t;
            scratch.clear();
            value.write_to(scratch);
            cached_value(values, scratch)
        })
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values_are_parsed_once_and_bounded() {
        let c = HeaderCache;
        assert_eq!(c.name("X-Frame-Options").unwrap(), "x-frame-options");
        let names = || TABLES.with_borrow(|t| t.names.len());
        assert_eq!(names(), 1);
        let _ = c.name("X-Frame-Options");
        assert_eq!(names(), 1);
        assert!(c.name("bad name").is_none());
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
}
