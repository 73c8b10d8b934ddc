//! Wildcard patterns (`wildcard`, `strict wildcard`, `wildcard_replace`).
//!
//! `*` matches any run of bytes (including none); the whole value must match. `\*` is a
//! literal star and `\\` a literal backslash; any other escape and `**` are rejected.
//! `wildcard` compares ASCII letters case-insensitively; `strict wildcard` exactly.

use memchr::memmem;

/// A compiled wildcard pattern.
#[derive(Debug, Clone)]
pub(crate) struct Wildcard {
    /// Literal segments between stars: `segments.len() == stars + 1`.
    segments: Vec<Vec<u8>>,
    finders: Vec<memmem::Finder<'static>>,
    case_insensitive: bool,
}

/// Why a pattern is invalid (message for the parser).
pub(crate) fn validate(pattern: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut segments = vec![Vec::new()];
    let mut bytes = pattern.iter().copied().peekable();
    let mut prev_star = false;
    while let Some(b) = bytes.next() {
        match b {
            b'\\' => match bytes.next() {
                Some(c @ (b'*' | b'\\')) => {
                    if let Some(seg) = segments.last_mut() {
                        seg.push(c);
                    }
                    prev_star = false;
                }
                Some(c) => {
                    return Err(format!(
                        "invalid escape `\\{}` in wildcard pattern (only `\\*` and `\\\\` are allowed)",
                        char::from(c).escape_default()
                    ));
                }
                None => return Err("wildcard pattern ends with a lone `\\`".to_owned()),
            },
            b'*' => {
                if prev_star {
                    return Err("`**` is not allowed in a wildcard pattern".to_owned());
                }
                prev_star = true;
                segments.push(Vec::new());
            }
            other => {
                if let Some(seg) = segments.last_mut() {
                    seg.push(other);
                }
                prev_star = false;
            }
        }
    }
    Ok(segments)
}

impl Wildcard {
    /// Compiles a pattern that [`validate`] accepted (an invalid one matches nothing).
    pub(crate) fn new(pattern: &[u8], case_insensitive: bool) -> Self {
        let mut segments = validate(pattern).unwrap_or_else(|_| vec![b"\x00invalid".to_vec()]);
        if case_insensitive {
            for s in &mut segments {
                s.make_ascii_lowercase();
            }
        }
        let finders = segments
            .iter()
            .map(|s| memmem::Finder::new(s).into_owned())
            .collect();
        Wildcard {
            segments,
            finders,
            case_insensitive,
        }
    }

    fn eq(&self, a: &[u8], b: &[u8]) -> bool {
        if self.case_insensitive {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    }

    fn find(&self, index: usize, hay: &[u8]) -> Option<usize> {
        let needle = self.segments.get(index)?;
        if needle.is_empty() {
            return Some(0);
        }
        if self.case_insensitive {
            if needle.len() > hay.len() {
                return None;
            }
            (0..=hay.len() - needle.len()).find(|&i| {
                hay.get(i..i + needle.len())
                    .is_some_and(|w| w.eq_ignore_ascii_case(needle))
            })
        } else {
            self.finders.get(index)?.find(hay)
        }
    }

    /// Matches `input` (filters' fast path: no allocation).
    pub(crate) fn matches(&self, input: &[u8]) -> bool {
        self.captures(input, |_| {})
    }

    /// Matches `input`, reporting the byte range matched by each `*` in order as it is found:
    /// an input that does not match may have reported some stars before failing.
    fn captures(&self, input: &[u8], mut on_star: impl FnMut((usize, usize))) -> bool {
        let n = self.segments.len();
        let (Some(first), Some(last)) = (self.segments.first(), self.segments.last()) else {
            return false;
        };
        if n == 1 {
            return self.eq(input, first);
        }
        if input.len() < first.len() + last.len() {
            return false;
        }
        let tail_start = input.len() - last.len();
        if !input.get(..first.len()).is_some_and(|h| self.eq(h, first))
            || !input.get(tail_start..).is_some_and(|t| self.eq(t, last))
        {
            return false;
        }
        let mut hay = input.get(first.len()..tail_start).unwrap_or(&[]);
        let mut pos = first.len();
        for i in 1..n - 1 {
            let Some(at) = self.find(i, hay) else {
                return false;
            };
            let seg_len = self.segments.get(i).map_or(0, Vec::len);
            on_star((pos, pos + at));
            pos += at + seg_len;
            hay = hay.get(at + seg_len..).unwrap_or(&[]);
        }
        on_star((pos, tail_start));
        true
    }

    /// Replaces a whole-value match with `replacement`, where `${N}` (1-based) is the text the
    /// N-th star matched. `None` when the input does not match.
    pub(crate) fn replace(&self, input: &[u8], replacement: &[u8]) -> Option<Vec<u8>> {
        let mut caps = Vec::new();
        if !self.captures(input, |g| caps.push(g)) {
            return None;
        }
        Some(expand(replacement, &mut |n| {
            let (a, b) = *caps.get(n.checked_sub(1)?)?;
            input.get(a..b)
        }))
    }
}

/// Expands `${N}` references in a replacement; unknown references expand to nothing.
pub(crate) fn expand<'h>(
    replacement: &[u8],
    group: &mut dyn FnMut(usize) -> Option<&'h [u8]>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(replacement.len());
    let mut i = 0;
    while let Some(&b) = replacement.get(i) {
        if b == b'$'
            && replacement.get(i + 1) == Some(&b'{')
            && let Some(close) = replacement
                .get(i + 2..)
                .and_then(|r| r.iter().position(|&c| c == b'}'))
        {
            let digits = replacement.get(i + 2..i + 2 + close).unwrap_or(&[]);
            if let Some(n) = std::str::from_utf8(digits)
                .ok()
                .and_then(|d| d.parse::<usize>().ok())
            {
                out.extend_from_slice(group(n).unwrap_or(&[]));
                i += close + 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    out
}

/// The `${N}` references in a replacement string.
pub(crate) fn references(replacement: &[u8]) -> Vec<usize> {
    let mut refs = Vec::new();
    let _ = expand(replacement, &mut |n| {
        refs.push(n);
        None
    });
    refs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_matches_anything() {
        let w = Wildcard::new(b"/api/*/calls", true);
        assert!(w.matches(b"/API/v1/calls"));
        assert!(w.matches(b"/api//calls"));
        assert!(!w.matches(b"/api/v1/call"));
        let s = Wildcard::new(b"/AdminTeam/*", false);
        assert!(s.matches(b"/AdminTeam/x"));
        assert!(!s.matches(b"/adminteam/x"));
    }

    #[test]
    fn escapes_and_double_star() {
        assert!(validate(b"a**b").is_err());
        assert!(validate(b"a\\qb").is_err());
        let w = Wildcard::new(b"a\\*b*", false);
        assert!(w.matches(b"a*bzzz"));
        assert!(!w.matches(b"axbzzz"));
    }

    #[test]
    fn replace_uses_captures() {
        let w = Wildcard::new(b"https://*.example.com/*", false);
        let out = w.replace(
            b"https://www.example.com/a/b",
            b"https://example.com/${1}/${2}",
        );
        assert_eq!(out.as_deref(), Some(&b"https://example.com/www/a/b"[..]));
    }

    #[test]
    fn overlapping_head_and_tail_do_not_match() {
        let w = Wildcard::new(b"ab*ba", false);
        assert!(!w.matches(b"aba"));
        assert!(w.matches(b"abba"));
    }
}
