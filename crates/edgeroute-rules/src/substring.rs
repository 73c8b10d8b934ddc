//! `contains` with a literal needle. Request fields compared this way (paths, user agents,
//! hosts) are mostly shorter than a cache line: there a scan that checks the needle's first and
//! last byte at each start, and compares the rest inline, costs a fraction of the general
//! searcher's setup. Longer texts go to `memchr::memmem`, which is built for them.

use memchr::memmem;

/// Texts up to this long are scanned directly.
const SHORT: usize = 64;

/// A needle of at least two bytes, prepared once.
#[derive(Debug, Clone)]
pub(crate) struct Substring {
    needle: Box<[u8]>,
    first: u8,
    last: u8,
    finder: memmem::Finder<'static>,
}

impl Substring {
    /// `None` for needles shorter than two bytes (the caller handles those with `memchr` or
    /// a constant).
    pub(crate) fn new(needle: &[u8]) -> Option<Self> {
        if needle.len() < 2 {
            return None;
        }
        Some(Substring {
            needle: needle.into(),
            first: *needle.first()?,
            last: *needle.last()?,
            finder: memmem::Finder::new(needle).into_owned(),
        })
    }

    /// Whether `hay` contains the needle.
    #[inline]
    pub(crate) fn in_text(&self, hay: &[u8]) -> bool {
        let n = self.needle.len();
        let Some(starts) = hay.len().checked_sub(n) else {
            return false;
        };
        if hay.len() > SHORT {
            return self.finder.find(hay).is_some();
        }
        let Some(middle) = self.needle.get(1..n - 1) else {
            return false;
        };
        (0..=starts).any(|i| {
            hay.get(i) == Some(&self.first)
                && hay.get(i + n - 1) == Some(&self.last)
                && hay
                    .get(i + 1..i + n - 1)
                    .is_some_and(|h| h.iter().zip(middle).all(|(a, b)| a == b))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_and_long_texts() {
        let s = Substring::new(b"/api/v1/calls").unwrap();
        assert!(s.in_text(b"/api/v1/calls"));
        assert!(s.in_text(b"/x/api/v1/calls/42"));
        assert!(!s.in_text(b"/api/v1/call"));
        assert!(!s.in_text(b"/api/v1/sessions/91c2"));
        let long = [b"/".repeat(100), b"/api/v1/calls".to_vec()].concat();
        assert!(s.in_text(&long));
        assert!(!s.in_text(&b"/".repeat(100)));
        assert!(Substring::new(b"a").is_none());
        let two = Substring::new(b"ab").unwrap();
        assert!(two.in_text(b"xab") && !two.in_text(b"a") && !two.in_text(b"ba"));
    }

    proptest! {
        #[test]
        fn agrees_with_memmem(needle in "[ab/]{2,5}", hay in "[ab/]{0,80}") {
            let s = Substring::new(needle.as_bytes()).unwrap();
            let expected = memmem::find(hay.as_bytes(), needle.as_bytes()).is_some();
            prop_assert_eq!(s.in_text(hay.as_bytes()), expected);
        }
    }
}
