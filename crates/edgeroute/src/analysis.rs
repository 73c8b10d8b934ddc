//! Static analysis of expressions, from their canonical text (`Expr`'s `Display`): the
//! top-level `and` conjuncts and the literal equalities among them.
//!
//! Used for warnings (rules that can never match, rules shadowed by an earlier terminating
//! rule) and for the firewall index. It is conservative: anything it does not recognise is an
//! opaque conjunct, which only costs precision, never correctness, because the index only
//! pre-filters candidates and the compiled filter still decides.

use std::net::IpAddr;

/// A literal a field is required to equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Lit {
    Bytes(Vec<u8>),
    Ip(IpAddr),
    Int(i64),
}

/// A top-level conjunct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Conjunct {
    /// Canonical text of the conjunct.
    pub(crate) text: String,
    /// `field eq lit` or `field in {lits}`: the field name and the allowed literals.
    pub(crate) allowed: Option<(String, Vec<Lit>)>,
}

/// Splits canonical text into top-level conjuncts (looking through wrapping parentheses).
/// Returns `None` when the top level is an `or`/`xor` (no conjunct is required then).
pub(crate) fn conjuncts(text: &str) -> Option<Vec<Conjunct>> {
    let mut out = Vec::new();
    collect(text.trim(), &mut out, 0)?;
    Some(out)
}

fn collect(text: &str, out: &mut Vec<Conjunct>, depth: usize) -> Option<()> {
    let text = text.trim();
    let inner = strip_wrapping_parens(text);
    if depth > 64 {
        out.push(Conjunct {
            text: inner.to_owned(),
            allowed: None,
        });
        return Some(());
    }
    let parts = split_top(inner)?;
    if let [single] = parts.as_slice() {
        if single.len() < text.len() {
            // Parentheses were stripped: there may be more inside.
            return collect(single, out, depth + 1);
        }
        out.push(Conjunct {
            text: (*single).to_owned(),
            allowed: literal_constraint(single),
        });
        return Some(());
    }
    for p in parts {
        // A part that is itself an `or` is opaque, but still required as a whole.
        if collect(p, out, depth + 1).is_none() {
            out.push(Conjunct {
                text: p.trim().to_owned(),
                allowed: None,
            });
        }
    }
    Some(())
}

/// `(x)` -> `x` when the parentheses wrap the whole text.
fn strip_wrapping_parens(text: &str) -> &str {
    let t = text.trim();
    if !t.starts_with('(') || !t.ends_with(')') {
        return t;
    }
    let mut depth = 0i32;
    let mut in_str = false;
    let mut escape = false;
    for (i, c) in t.char_indices() {
        if in_str {
            match (escape, c) {
                (true, _) => escape = false,
                (false, '\\') => escape = true,
                (false, '"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            '(' | '{' | '[' => depth += 1,
            ')' | '}' | ']' => {
                depth -= 1;
                if depth == 0 && i + 1 < t.len() {
                    return t;
                }
            }
            _ => {}
        }
    }
    t.get(1..t.len() - 1).map_or(t, str::trim)
}

/// Splits on top-level ` and `; `None` if a top-level ` or ` / ` xor ` occurs.
fn split_top(text: &str) -> Option<Vec<&str>> {
    let bytes = text.as_bytes();
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut in_str = false;
    let mut escape = false;
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes.get(i).copied().unwrap_or(0);
        if in_str {
            match (escape, c) {
                (true, _) => escape = false,
                (false, b'\\') => escape = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        match c {
            b'"' => in_str = true,
            b'(' | b'{' | b'[' => depth += 1,
            b')' | b'}' | b']' => depth -= 1,
            b' ' if depth == 0 => {
                let rest = bytes.get(i..).unwrap_or(&[]);
                if rest.starts_with(b" or ") || rest.starts_with(b" xor ") {
                    return None;
                }
                if rest.starts_with(b" and ") {
                    parts.push(text.get(start..i)?);
                    i += 5;
                    start = i;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(text.get(start..)?);
    Some(parts)
}

fn is_field_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
}

fn literal_constraint(part: &str) -> Option<(String, Vec<Lit>)> {
    let (field, rest) = part.split_once(' ')?;
    if !is_field_name(field) {
        return None;
    }
    if let Some(value) = rest.strip_prefix("eq ") {
        let (lit, tail) = parse_lit(value)?;
        if !tail.is_empty() {
            return None;
        }
        return Some((field.to_owned(), vec![lit]));
    }
    if let Some(set) = rest.strip_prefix("in {") {
        let mut items = Vec::new();
        let mut rest = set;
        loop {
            rest = rest.trim_start();
            if let Some(tail) = rest.strip_prefix('}') {
                if !tail.is_empty() {
                    return None;
                }
                break;
            }
            let (lit, tail) = parse_lit(rest)?;
            // Ranges and CIDRs are not literals.
            if tail.starts_with("..") || tail.starts_with('/') {
                return None;
            }
            items.push(lit);
            rest = tail;
        }
        return if items.is_empty() {
            None
        } else {
            Some((field.to_owned(), items))
        };
    }
    None
}

/// Parses one literal at the start of `s`: a quoted string, an integer or an IP address.
fn parse_lit(s: &str) -> Option<(Lit, &str)> {
    if let Some(body) = s.strip_prefix('"') {
        let mut out = Vec::new();
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => return Some((Lit::Bytes(out), body.get(i + 1..)?)),
                '\\' => match chars.next()? {
                    (_, '"') => out.push(b'"'),
                    (_, '\\') => out.push(b'\\'),
                    (_, 'x') => {
                        let (_, h) = chars.next()?;
                        let (_, l) = chars.next()?;
                        let v = u8::from_str_radix(&format!("{h}{l}"), 16).ok()?;
                        out.push(v);
                    }
                    _ => return None,
                },
                c => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        return None;
    }
    let end = s.find([' ', '}']).unwrap_or(s.len());
    let token = s.get(..end)?;
    let tail = s.get(end..)?;
    if token.contains("..") || token.contains('/') {
        let cut = token
            .find("..")
            .or_else(|| token.find('/'))
            .unwrap_or(token.len());
        return Some((Lit::Int(0), s.get(cut..)?));
    }
    if let Ok(i) = token.parse::<i64>() {
        return Some((Lit::Int(i), tail));
    }
    if let Ok(ip) = token.parse::<IpAddr>() {
        return Some((Lit::Ip(ip), tail));
    }
    None
}

/// Whether the conjuncts are contradictory (two required literal sets for one field with no
/// common element).
pub(crate) fn contradictory(conj: &[Conjunct]) -> Option<String> {
    for (i, a) in conj.iter().enumerate() {
        let Some((fa, la)) = &a.allowed else { continue };
        for b in conj.iter().skip(i + 1) {
            let Some((fb, lb)) = &b.allowed else { continue };
            if fa == fb && !la.iter().any(|x| lb.contains(x)) {
                return Some(format!("`{}` and `{}` cannot both hold", a.text, b.text));
            }
        }
    }
    None
}

/// Whether every conjunct of `earlier` is also a conjunct of `later` (so `later` can only
/// match when `earlier` does).
pub(crate) fn implies(later: &[Conjunct], earlier: &[Conjunct]) -> bool {
    !earlier.is_empty()
        && earlier
            .iter()
            .all(|e| later.iter().any(|l| l.text == e.text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_chains_through_groups() {
        let c = conjuncts(
            "(http.request.uri.path contains \"/api/v1/calls\" and not cf.bot_management.verified_bot)",
        )
        .unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(
            c[0].text,
            "http.request.uri.path contains \"/api/v1/calls\""
        );
        assert_eq!(c[1].text, "not cf.bot_management.verified_bot");
        assert!(conjuncts("a or b").is_none());
        let c = conjuncts("(a or b) and http.host eq \"x\"").unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(
            c[1].allowed,
            Some(("http.host".into(), vec![Lit::Bytes(b"x".to_vec())]))
        );
    }

    #[test]
    fn literal_constraints() {
        let c = conjuncts(
            "ip.src eq 10.0.0.1 and http.host in {\"a\" \"b\\\"c\"} and tcp.dstport in {80..90}",
        )
        .unwrap();
        assert_eq!(
            c[0].allowed,
            Some(("ip.src".into(), vec![Lit::Ip("10.0.0.1".parse().unwrap())]))
        );
        assert_eq!(
            c[1].allowed,
            Some((
                "http.host".into(),
                vec![Lit::Bytes(b"a".to_vec()), Lit::Bytes(b"b\"c".to_vec())]
            ))
        );
        assert_eq!(c[2].allowed, None);
        let c = conjuncts("ip.src in {10.0.0.0/8}").unwrap();
        assert_eq!(c[0].allowed, None);
        let c = conjuncts("http.host eq \"a\\x00\"").unwrap();
        assert_eq!(
            c[0].allowed,
            Some(("http.host".into(), vec![Lit::Bytes(b"a\0".to_vec())]))
        );
    }

    #[test]
    fn contradictions_and_implication() {
        let c = conjuncts("http.host eq \"a\" and http.host eq \"b\"").unwrap();
        assert!(contradictory(&c).is_some());
        let c = conjuncts("http.host eq \"a\" and http.host in {\"a\" \"b\"}").unwrap();
        assert!(contradictory(&c).is_none());
        let general = conjuncts("cf.threat_score gt 50").unwrap();
        let specific = conjuncts("(cf.threat_score gt 50 and http.host eq \"a\")").unwrap();
        assert!(implies(&specific, &general));
        assert!(!implies(&general, &specific));
    }

    #[test]
    fn strings_with_keywords_are_not_split() {
        let c = conjuncts("http.request.uri.path eq \"/a and b or c\"").unwrap();
        assert_eq!(c.len(), 1);
        assert!(c[0].allowed.is_some());
        let c = conjuncts("(http.host eq \")\")").unwrap();
        assert_eq!(
            c[0].allowed,
            Some(("http.host".into(), vec![Lit::Bytes(b")".to_vec())]))
        );
    }
}
