//! `matches` without a regex engine when the pattern only ever matches a finite set of literal
//! strings: `^/(\.env|\.git/|wp-admin)` is "starts with one of three strings", `^(GET|HEAD)$` is
//! "equals one of two", `/wp-login\.php` is "contains". Such patterns are common in firewall
//! rules, and a few byte comparisons cost a fraction of a regex search.
//!
//! The analysis is conservative: regex-syntax parses the pattern and its literal extractor must
//! report a finite set of *exact* literals (every match of the pattern is one of them, in
//! full). Look-around assertions other than a leading `^` (text start) and a trailing `$` (text
//! end) leave the regex in charge, as does anything the extractor cannot enumerate.

use crate::substring::Substring;
use regex_syntax::hir::literal::{ExtractKind, Extractor};
use regex_syntax::hir::{Hir, HirKind, Look};

/// At most this many literals are compared one by one; larger sets keep the regex (its own
/// literal optimisations handle them well).
const MAX_LITERALS: usize = 32;

/// A compiled `matches` right-hand side.
#[derive(Debug)]
pub(crate) enum RegexMatcher {
    /// `^(a|b|..)`: the text starts with one of the literals.
    Prefix(Literals),
    /// `^(a|b|..)$`: the text is one of the literals.
    Exact(Literals),
    /// `(a|b|..)` unanchored, one literal: the text contains it.
    Contains(Box<Substring>),
    /// Anything else.
    Regex(regex::bytes::Regex),
}

/// A literal set with its common prefix split off, so most texts are rejected on the first
/// byte that differs.
#[derive(Debug)]
pub(crate) struct Literals {
    common: Box<[u8]>,
    /// Each literal without the common prefix.
    rests: Box<[Box<[u8]>]>,
    /// The first bytes of the rests, as a 256-bit set: a text whose byte after the common
    /// prefix is not in it matches none of them (the usual case, answered without a loop).
    firsts: [u64; 4],
    /// Some rest is empty (the common prefix is itself a literal).
    empty_rest: bool,
}

fn byte_bit(b: u8) -> (usize, u64) {
    (usize::from(b >> 6), 1u64 << (b & 63))
}

impl Literals {
    fn new(mut lits: Vec<Vec<u8>>) -> Self {
        lits.sort();
        lits.dedup();
        let common_len = match (lits.first(), lits.last()) {
            // Sorted: the common prefix of all is the common prefix of the first and last.
            (Some(a), Some(b)) => a.iter().zip(b).take_while(|(x, y)| x == y).count(),
            _ => 0,
        };
        let common = lits
            .first()
            .and_then(|l| l.get(..common_len))
            .unwrap_or(&[])
            .into();
        let rests: Box<[Box<[u8]>]> = lits
            .iter()
            .map(|l| l.get(common_len..).unwrap_or(&[]).into())
            .collect();
        let mut firsts = [0u64; 4];
        let mut empty_rest = false;
        for r in &rests {
            match r.first() {
                Some(&b) => {
                    let (word, bit) = byte_bit(b);
                    if let Some(w) = firsts.get_mut(word) {
                        *w |= bit;
                    }
                }
                None => empty_rest = true,
            }
        }
        Literals {
            common,
            rests,
            firsts,
            empty_rest,
        }
    }

    /// `text` without the common prefix, when it starts with it. Common prefixes are a few
    /// bytes: compared inline rather than through a `memcmp` call.
    #[inline]
    fn after_common<'t>(&self, text: &'t [u8]) -> Option<&'t [u8]> {
        let n = self.common.len();
        let (head, rest) = (text.get(..n)?, text.get(n..)?);
        head.iter()
            .zip(self.common.iter())
            .all(|(a, b)| a == b)
            .then_some(rest)
    }

    /// Whether `b` starts some rest.
    #[inline]
    fn may_start(&self, b: u8) -> bool {
        let (word, bit) = byte_bit(b);
        self.firsts.get(word).is_some_and(|w| w & bit != 0)
    }

    #[inline]
    fn prefix_of(&self, text: &[u8]) -> bool {
        let Some(rest) = self.after_common(text) else {
            return false;
        };
        if self.empty_rest {
            return true;
        }
        match rest.first() {
            Some(&b) if self.may_start(b) => self
                .rests
                .iter()
                .any(|r| r.first() == Some(&b) && rest.starts_with(r)),
            _ => false,
        }
    }

    #[inline]
    fn equals(&self, text: &[u8]) -> bool {
        let Some(rest) = self.after_common(text) else {
            return false;
        };
        match rest.first() {
            None => self.empty_rest,
            Some(&b) if self.may_start(b) => self.rests.iter().any(|r| **r == *rest),
            Some(_) => false,
        }
    }
}

impl RegexMatcher {
    /// `re` compiled from `pattern` (with `utf8(false)` syntax, as `regex::bytes` does).
    pub(crate) fn new(pattern: &str, re: regex::bytes::Regex) -> Self {
        match analyse(pattern) {
            Some((Anchors::Start, lits)) => RegexMatcher::Prefix(Literals::new(lits)),
            Some((Anchors::Both, lits)) => RegexMatcher::Exact(Literals::new(lits)),
            Some((Anchors::None, lits)) if lits.len() == 1 => match lits.into_iter().next() {
                Some(lit) => match Substring::new(&lit) {
                    Some(sub) => RegexMatcher::Contains(Box::new(sub)),
                    None => RegexMatcher::Regex(re),
                },
                None => RegexMatcher::Regex(re),
            },
            _ => RegexMatcher::Regex(re),
        }
    }

    /// Whether the pattern matches somewhere in `text` (what `regex::bytes::Regex::is_match`
    /// answers).
    #[inline]
    pub(crate) fn is_match(&self, text: &[u8]) -> bool {
        match self {
            RegexMatcher::Prefix(l) => l.prefix_of(text),
            RegexMatcher::Exact(l) => l.equals(text),
            RegexMatcher::Contains(f) => f.in_text(text),
            RegexMatcher::Regex(re) => re.is_match(text),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Anchors {
    None,
    Start,
    Both,
}

/// The anchoring and the exact literal set of `pattern`, when it has one.
fn analyse(pattern: &str) -> Option<(Anchors, Vec<Vec<u8>>)> {
    let hir = regex_syntax::ParserBuilder::new()
        .utf8(false)
        .build()
        .parse(pattern)
        .ok()?;
    let (start, body, end) = split_anchors(&hir);
    if !body.properties().look_set().is_empty() {
        return None;
    }
    let anchors = match (start, end) {
        (true, true) => Anchors::Both,
        (true, false) => Anchors::Start,
        (false, false) => Anchors::None,
        (false, true) => return None,
    };
    let seq = Extractor::new().kind(ExtractKind::Prefix).extract(&body);
    let lits = seq.literals()?;
    if lits.is_empty() || lits.len() > MAX_LITERALS || !lits.iter().all(|l| l.is_exact()) {
        return None;
    }
    Some((
        anchors,
        lits.iter().map(|l| l.as_bytes().to_vec()).collect(),
    ))
}

/// Splits a leading `^` and a trailing `$` (text start and end, not line ones) off a
/// concatenation.
fn split_anchors(hir: &Hir) -> (bool, Hir, bool) {
    let HirKind::Concat(parts) = hir.kind() else {
        return (false, hir.clone(), false);
    };
    let mut parts: &[Hir] = parts;
    let mut start = false;
    let mut end = false;
    if let Some((first, rest)) = parts.split_first()
        && *first.kind() == HirKind::Look(Look::Start)
    {
        start = true;
        parts = rest;
    }
    if let Some((last, rest)) = parts.split_last()
        && *last.kind() == HirKind::Look(Look::End)
    {
        end = true;
        parts = rest;
    }
    (start, Hir::concat(parts.to_vec()), end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn matcher(p: &str) -> RegexMatcher {
        RegexMatcher::new(p, regex::bytes::Regex::new(p).unwrap())
    }

    #[test]
    fn literal_patterns_skip_the_regex() {
        let scanner = r"^/(\.env|\.git/|wp-admin|wp-login\.php|phpmyadmin)";
        assert!(matches!(matcher(scanner), RegexMatcher::Prefix(_)));
        assert!(matches!(matcher("^(GET|HEAD)$"), RegexMatcher::Exact(_)));
        assert!(matches!(
            matcher(r"wp-login\.php"),
            RegexMatcher::Contains(_)
        ));
        // Not literal sets, or anchors the fast paths do not model: the regex stays.
        for p in [
            r"^/api/v\d+/",
            "(?m)^abc",
            r"\babc",
            "abc$",
            "a|b",
            "^a*",
            "x.y",
        ] {
            assert!(matches!(matcher(p), RegexMatcher::Regex(_)), "{p}");
        }
        let m = matcher(scanner);
        assert!(m.is_match(b"/.env"));
        assert!(m.is_match(b"/wp-admin/setup.php"));
        assert!(m.is_match(b"/phpmyadmin"));
        assert!(!m.is_match(b"/api/v1/calls"));
        assert!(!m.is_match(b"/x/.env"));
        assert!(!m.is_match(b""));
        let m = matcher("(?i)^(get|head)$");
        assert!(m.is_match(b"GET") && m.is_match(b"hEaD") && !m.is_match(b"GETS"));
    }

    fn pattern() -> impl Strategy<Value = String> {
        let atom = prop_oneof![
            Just("a".to_owned()),
            Just("b".to_owned()),
            Just("ab".to_owned()),
            Just(r"\.".to_owned()),
            Just("(?i)a".to_owned()),
            Just("a{2}".to_owned()),
            Just("[ab]".to_owned()),
            Just("a?".to_owned()),
            Just("b*".to_owned()),
            Just("".to_owned()),
        ];
        (
            proptest::collection::vec(proptest::collection::vec(atom, 1..4), 1..4),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(alts, start, end)| {
                let body = alts
                    .iter()
                    .map(|a| a.concat())
                    .collect::<Vec<_>>()
                    .join("|");
                format!(
                    "{}({body}){}",
                    if start { "^" } else { "" },
                    if end { "$" } else { "" }
                )
            })
    }

    proptest! {
        #[test]
        fn agrees_with_the_regex(p in pattern(), texts in proptest::collection::vec("[abA.]{0,6}", 1..8)) {
            let re = regex::bytes::Regex::new(&p).unwrap();
            let m = RegexMatcher::new(&p, re.clone());
            for t in &texts {
                prop_assert_eq!(m.is_match(t.as_bytes()), re.is_match(t.as_bytes()), "{} on {}", p, t);
            }
        }
    }
}
