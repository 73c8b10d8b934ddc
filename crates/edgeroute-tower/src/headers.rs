//! Parsed header names and values, cached by content.
//!
//! A policy's header edits repeat on every request (`x-frame-options: DENY`, `x-cf-region:
//! us-east-1`, ...). Parsing a name or value into `http` types copies it into a new buffer; the
//! cache does that once per distinct content and then hands out clones (a reference-count
//! increment). Keyed by content, not by policy, so a reload needs no invalidation; bounded, so
//! values rendered from per-client data (`{client_ip}`) cannot grow it without limit (past the
//! bound they are parsed per request, as without a cache).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use http::header::{HeaderName, HeaderValue};

type Map<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// Most names, and most values, kept.
const MAX_CACHED: usize = 512;

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(256));
}

#[derive(Default)]
pub(crate) struct HeaderCache {
    names: ArcSwap<Map<Box<str>, HeaderName>>,
    values: ArcSwap<Map<Box<[u8]>, HeaderValue>>,
}

impl std::fmt::Debug for HeaderCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeaderCache")
            .field("names", &self.names.load().len())
            .field("values", &self.values.load().len())
            .finish()
    }
}

impl HeaderCache {
    pub(crate) fn name(&self, name: &str) -> Option<HeaderName> {
        if let Some(h) = self.names.load().get(name) {
            return Some(h.clone());
        }
        let h = HeaderName::from_bytes(name.as_bytes()).ok()?;
        let current = self.names.load_full();
        if current.len() < MAX_CACHED {
            // Copy on write; a concurrent insert may be lost, and is redone next time.
            let mut m = Map::clone(&current);
            m.insert(name.into(), h.clone());
            self.names.store(Arc::new(m));
        }
        Some(h)
    }

    pub(crate) fn value(&self, value: &[u8]) -> Option<HeaderValue> {
        if let Some(v) = self.values.load().get(value) {
            return Some(v.clone());
        }
        let v = HeaderValue::from_bytes(value).ok()?;
        let current = self.values.load_full();
        if current.len() < MAX_CACHED {
            let mut m = Map::clone(&current);
            m.insert(value.into(), v.clone());
            self.values.store(Arc::new(m));
        }
        Some(v)
    }

    /// A value with placeholders, rendered into a per-thread buffer, then looked up.
    pub(crate) fn rendered(&self, value: &edgeroute::HeaderValue<'_>) -> Option<HeaderValue> {
        SCRATCH.with_borrow_mut(|buf| {
            buf.clear();
            value.write_to(buf);
            self.value(buf)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values_are_parsed_once_and_bounded() {
        let c = HeaderCache::default();
        assert_eq!(c.name("X-Frame-Options").unwrap(), "x-frame-options");
        assert_eq!(c.names.load().len(), 1);
        let _ = c.name("X-Frame-Options");
        assert_eq!(c.names.load().len(), 1);
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
        assert_eq!(c.values.load().len(), MAX_CACHED);
    }
}
