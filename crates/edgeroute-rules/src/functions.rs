//! The built-in functions: signatures (checked at parse time) and evaluation.
//!
//! Functions that build strings (`lower`, `upper`, `concat`, `substring`, `url_decode`,
//! `to_string`, `regex_replace`, `wildcard_replace`, `remove_bytes`, `decode_base64`,
//! `encode_base64`, `lookup_json_*`) allocate their result; `len`, `starts_with`, `ends_with`,
//! `cidr`, `cidr6`, `any` and `all` do not (over a plain field).

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use base64::Engine as _;

use crate::ast::{Literal, Operand, OperandKind};
use crate::error::ParseError;
use crate::rt::{Arr, Rv};
use crate::types::Type;
use crate::wildcard::{self, Wildcard};

/// A built-in function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    Lower,
    Upper,
    Len,
    StartsWith,
    EndsWith,
    Concat,
    Substring,
    UrlDecode,
    ToString,
    RegexReplace,
    WildcardReplace,
    RemoveBytes,
    DecodeBase64,
    EncodeBase64,
    LookupJsonString,
    LookupJsonInteger,
    Cidr,
    Cidr6,
}

const ALL: &[Func] = &[
    Func::Lower,
    Func::Upper,
    Func::Len,
    Func::StartsWith,
    Func::EndsWith,
    Func::Concat,
    Func::Substring,
    Func::UrlDecode,
    Func::ToString,
    Func::RegexReplace,
    Func::WildcardReplace,
    Func::RemoveBytes,
    Func::DecodeBase64,
    Func::EncodeBase64,
    Func::LookupJsonString,
    Func::LookupJsonInteger,
    Func::Cidr,
    Func::Cidr6,
];

impl Func {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Func::Lower => "lower",
            Func::Upper => "upper",
            Func::Len => "len",
            Func::StartsWith => "starts_with",
            Func::EndsWith => "ends_with",
            Func::Concat => "concat",
            Func::Substring => "substring",
            Func::UrlDecode => "url_decode",
            Func::ToString => "to_string",
            Func::RegexReplace => "regex_replace",
            Func::WildcardReplace => "wildcard_replace",
            Func::RemoveBytes => "remove_bytes",
            Func::DecodeBase64 => "decode_base64",
            Func::EncodeBase64 => "encode_base64",
            Func::LookupJsonString => "lookup_json_string",
            Func::LookupJsonInteger => "lookup_json_integer",
            Func::Cidr => "cidr",
            Func::Cidr6 => "cidr6",
        }
    }

    pub(crate) fn by_name(name: &str) -> Option<Func> {
        ALL.iter().copied().find(|f| f.name() == name)
    }

    /// Every function name, plus `any` and `all` (for "did you mean").
    pub(crate) fn names() -> impl Iterator<Item = &'static str> {
        ALL.iter().map(|f| f.name()).chain(["any", "all"])
    }
}

fn lit_bytes(op: &Operand) -> Option<&[u8]> {
    match &op.kind {
        OperandKind::Literal(Literal::Bytes(b)) => Some(b),
        _ => None,
    }
}

fn lit_int(op: &Operand) -> Option<i64> {
    match &op.kind {
        OperandKind::Literal(Literal::Int(i)) => Some(*i),
        _ => None,
    }
}

fn is_literal(op: &Operand) -> bool {
    matches!(op.kind, OperandKind::Literal(_))
}

/// Type-checks a call; returns the result type of one application (the caller wraps it in
/// `Array<..>` when the first argument is mapped with `[*]`).
pub(crate) fn check(
    func: Func,
    args: &[Operand],
    call: crate::error::Span,
    limits: &crate::Limits,
) -> Result<Type, ParseError> {
    let name = func.name();
    let arity = |min: usize, max: usize| -> Result<(), ParseError> {
        if args.len() < min || args.len() > max {
            let expected = if min == max {
                format!("{min}")
            } else if max == usize::MAX {
                format!("at least {min}")
            } else {
                format!("{min} to {max}")
            };
            return Err(ParseError::new(
                call,
                format!(
                    "function `{name}` takes {expected} argument{}, found {}",
                    if max == 1 { "" } else { "s" },
                    args.len()
                ),
            ));
        }
        Ok(())
    };
    let want = |i: usize, ty: &Type| -> Result<&Operand, ParseError> {
        let arg = args.get(i).ok_or_else(|| {
            ParseError::new(
                call,
                format!("function `{name}` is missing argument {}", i + 1),
            )
        })?;
        if &arg.ty != ty {
            return Err(ParseError::new(
                arg.loc.0,
                format!(
                    "argument {} of `{name}` must be {ty}, found {}",
                    i + 1,
                    arg.ty
                ),
            ));
        }
        Ok(arg)
    };
    let want_lit_bytes = |i: usize| -> Result<&[u8], ParseError> {
        let arg = want(i, &Type::Bytes)?;
        lit_bytes(arg).ok_or_else(|| {
            ParseError::new(
                arg.loc.0,
                format!("argument {} of `{name}` must be a literal string", i + 1),
            )
        })
    };
    let want_lit_int = |i: usize| -> Result<i64, ParseError> {
        let arg = want(i, &Type::Int)?;
        lit_int(arg).ok_or_else(|| {
            ParseError::new(
                arg.loc.0,
                format!("argument {} of `{name}` must be a literal integer", i + 1),
            )
        })
    };
    // Only the first argument may use `[*]`.
    for arg in args.iter().skip(1) {
        if arg.mapped {
            return Err(ParseError::new(
                arg.loc.0,
                "`[*]` can only be used in a function's first argument",
            ));
        }
    }
    if func != Func::Concat
        && let Some(first) = args.first()
        && is_literal(first)
    {
        return Err(ParseError::new(
            first.loc.0,
            format!("the first argument of `{name}` must be a field or a function, not a literal"),
        ));
    }
    match func {
        Func::Lower | Func::Upper | Func::DecodeBase64 | Func::EncodeBase64 => {
            arity(1, 1)?;
            want(0, &Type::Bytes)?;
            Ok(Type::Bytes)
        }
        Func::Len => {
            arity(1, 1)?;
            let arg = args
                .first()
                .ok_or_else(|| ParseError::new(call, "`len` needs an argument"))?;
            match arg.ty {
                Type::Bytes | Type::Array(_) => Ok(Type::Int),
                _ => Err(ParseError::new(
                    arg.loc.0,
                    format!(
                        "argument 1 of `len` must be String or Array, found {}",
                        arg.ty
                    ),
                )),
            }
        }
        Func::StartsWith | Func::EndsWith => {
            arity(2, 2)?;
            want(0, &Type::Bytes)?;
            want_lit_bytes(1)?;
            Ok(Type::Bool)
        }
        Func::Concat => {
            arity(2, usize::MAX)?;
            let first = args
                .first()
                .ok_or_else(|| ParseError::new(call, "`concat` needs arguments"))?;
            let ty = first.ty.clone();
            if !matches!(ty, Type::Bytes | Type::Array(_)) {
                return Err(ParseError::new(
                    first.loc.0,
                    format!("arguments of `concat` must be String or Array, found {ty}"),
                ));
            }
            for (i, _) in args.iter().enumerate().skip(1) {
                want(i, &ty)?;
            }
            Ok(ty)
        }
        Func::Substring => {
            arity(2, 3)?;
            want(0, &Type::Bytes)?;
            want_lit_int(1)?;
            if args.len() == 3 {
                want_lit_int(2)?;
            }
            Ok(Type::Bytes)
        }
        Func::UrlDecode => {
            arity(1, 2)?;
            want(0, &Type::Bytes)?;
            if args.len() == 2 {
                let opts = want_lit_bytes(1)?;
                if let Some(bad) = opts.iter().find(|&&b| b != b'r' && b != b'u') {
                    let loc = args.get(1).map_or(call, |a| a.loc.0);
                    return Err(ParseError::new(
                        loc,
                        format!(
                            "unknown `url_decode` option `{}`",
                            char::from(*bad).escape_default()
                        ),
                    )
                    .with_help("options are `r` (recursive) and `u` (decode %uXXXX)"));
                }
            }
            Ok(Type::Bytes)
        }
        Func::ToString => {
            arity(1, 1)?;
            let arg = args
                .first()
                .ok_or_else(|| ParseError::new(call, "`to_string` needs an argument"))?;
            match arg.ty {
                Type::Int | Type::Bool | Type::Ip => Ok(Type::Bytes),
                _ => Err(ParseError::new(
                    arg.loc.0,
                    format!(
                        "argument 1 of `to_string` must be Integer, Boolean or IP address, found {}",
                        arg.ty
                    ),
                )),
            }
        }
        Func::RegexReplace => {
            arity(3, 3)?;
            want(0, &Type::Bytes)?;
            let pattern = want_lit_bytes(1)?;
            let loc = args.get(1).map_or(call, |a| a.loc.0);
            let re = build_regex(pattern, limits).map_err(|m| ParseError::new(loc, m))?;
            let replacement = want_lit_bytes(2)?;
            check_refs(
                replacement,
                re.captures_len().saturating_sub(1),
                args.get(2).map_or(call, |a| a.loc.0),
            )?;
            Ok(Type::Bytes)
        }
        Func::WildcardReplace => {
            arity(3, 4)?;
            want(0, &Type::Bytes)?;
            let pattern = want_lit_bytes(1)?;
            let loc = args.get(1).map_or(call, |a| a.loc.0);
            let segments = wildcard::validate(pattern).map_err(|m| ParseError::new(loc, m))?;
            let replacement = want_lit_bytes(2)?;
            check_refs(
                replacement,
                segments.len().saturating_sub(1),
                args.get(2).map_or(call, |a| a.loc.0),
            )?;
            if args.len() == 4 {
                let flags = want_lit_bytes(3)?;
                if flags != b"s" && !flags.is_empty() {
                    let loc = args.get(3).map_or(call, |a| a.loc.0);
                    return Err(ParseError::new(
                        loc,
                        "the only `wildcard_replace` flag is `s` (case-sensitive)",
                    ));
                }
            }
            Ok(Type::Bytes)
        }
        Func::RemoveBytes => {
            arity(2, 2)?;
            want(0, &Type::Bytes)?;
            want_lit_bytes(1)?;
            Ok(Type::Bytes)
        }
        Func::LookupJsonString | Func::LookupJsonInteger => {
            arity(2, usize::MAX)?;
            want(0, &Type::Bytes)?;
            for arg in args.iter().skip(1) {
                if lit_bytes(arg).is_none() && lit_int(arg).is_none() {
                    return Err(ParseError::new(
                        arg.loc.0,
                        format!("keys of `{name}` must be literal strings or integers"),
                    ));
                }
            }
            Ok(if func == Func::LookupJsonString {
                Type::Bytes
            } else {
                Type::Int
            })
        }
        Func::Cidr => {
            arity(3, 3)?;
            want(0, &Type::Ip)?;
            bits(args.get(1), want_lit_int(1)?, 32, name)?;
            bits(args.get(2), want_lit_int(2)?, 128, name)?;
            Ok(Type::Ip)
        }
        Func::Cidr6 => {
            arity(2, 2)?;
            want(0, &Type::Ip)?;
            bits(args.get(1), want_lit_int(1)?, 128, name)?;
            Ok(Type::Ip)
        }
    }
}

fn bits(arg: Option<&Operand>, n: i64, max: i64, name: &str) -> Result<(), ParseError> {
    if (1..=max).contains(&n) {
        return Ok(());
    }
    let span = arg.map(|a| a.loc.0).unwrap_or_default();
    Err(ParseError::new(
        span,
        format!("`{name}` prefix length must be between 1 and {max}, found {n}"),
    ))
}

fn check_refs(
    replacement: &[u8],
    groups: usize,
    span: crate::error::Span,
) -> Result<(), ParseError> {
    for r in wildcard::references(replacement) {
        if r == 0 || r > groups || r > 8 {
            return Err(ParseError::new(
                span,
                format!(
                    "replacement refers to `${{{r}}}`, but the pattern has {groups} capture(s)"
                ),
            ));
        }
    }
    Ok(())
}

/// Builds a regex under the scheme's size limits.
pub(crate) fn build_regex(
    pattern: &[u8],
    limits: &crate::Limits,
) -> Result<regex::bytes::Regex, String> {
    let text = std::str::from_utf8(pattern).map_err(|_| "regex is not valid UTF-8".to_owned())?;
    regex::bytes::RegexBuilder::new(text)
        .size_limit(limits.regex_size_limit)
        .dfa_size_limit(limits.regex_dfa_size_limit)
        .nest_limit(u32::try_from(limits.max_depth.max(1)).unwrap_or(64))
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(n) => {
                format!("regex is too big (the limit is {n} bytes compiled)")
            }
            other => format!(
                "invalid regex: {}",
                other
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or("syntax error")
                    .trim()
            ),
        })
}

/// Work done once per call site at compile time.
#[derive(Debug, Clone)]
pub(crate) enum Prepared {
    None,
    Regex(regex::bytes::Regex, Vec<u8>),
    Wildcard(Wildcard, Vec<u8>),
    ByteSet([bool; 256]),
}

pub(crate) fn prepare(func: Func, args: &[Operand], limits: &crate::Limits) -> Prepared {
    let b = |i: usize| args.get(i).and_then(lit_bytes).unwrap_or(&[]);
    match func {
        Func::RegexReplace => match build_regex(b(1), limits) {
            Ok(re) => Prepared::Regex(re, b(2).to_vec()),
            Err(_) => Prepared::None,
        },
        Func::WildcardReplace => {
            let case_insensitive = b(3) != b"s";
            Prepared::Wildcard(Wildcard::new(b(1), case_insensitive), b(2).to_vec())
        }
        Func::RemoveBytes => {
            let mut set = [false; 256];
            for &x in b(1) {
                if let Some(slot) = set.get_mut(usize::from(x)) {
                    *slot = true;
                }
            }
            Prepared::ByteSet(set)
        }
        _ => Prepared::None,
    }
}

fn bytes<'b>(v: &'b Rv<'_>) -> Option<&'b [u8]> {
    match v {
        Rv::Bytes(b) => Some(b),
        _ => None,
    }
}

fn int(v: &Rv<'_>) -> Option<i64> {
    match v {
        Rv::Int(i) => Some(*i),
        _ => None,
    }
}

fn owned(v: Vec<u8>) -> Rv<'static> {
    Rv::Bytes(Cow::Owned(v))
}

/// Applies `func` to present argument values. `None` = the result is missing (bad base64,
/// JSON key not found, ...).
pub(crate) fn eval(func: Func, prep: &Prepared, args: &[Rv<'_>]) -> Option<Rv<'static>> {
    let arg = |i: usize| args.get(i);
    let b0 = || arg(0).and_then(bytes);
    match func {
        Func::Lower => Some(owned(b0()?.to_ascii_lowercase())),
        Func::Upper => Some(owned(b0()?.to_ascii_uppercase())),
        Func::Len => match arg(0)? {
            Rv::Bytes(b) => Some(Rv::Int(i64::try_from(b.len()).unwrap_or(i64::MAX))),
            Rv::Array(a) => Some(Rv::Int(i64::try_from(a.len()).unwrap_or(i64::MAX))),
            _ => None,
        },
        Func::StartsWith => Some(Rv::Bool(b0()?.starts_with(arg(1).and_then(bytes)?))),
        Func::EndsWith => Some(Rv::Bool(b0()?.ends_with(arg(1).and_then(bytes)?))),
        Func::Concat => match arg(0)? {
            Rv::Bytes(_) => {
                let mut out = Vec::new();
                for a in args {
                    out.extend_from_slice(bytes(a)?);
                }
                Some(owned(out))
            }
            Rv::Array(_) => {
                let mut out = Vec::new();
                for a in args {
                    let Rv::Array(items) = a else { return None };
                    items.for_each(&mut |v| {
                        if let Some(v) = v.into_owned() {
                            out.push(v);
                        }
                        true
                    });
                }
                Some(Rv::Array(Arr::Own(out)))
            }
            _ => None,
        },
        Func::Substring => {
            let s = b0()?;
            let len = i64::try_from(s.len()).unwrap_or(i64::MAX);
            let norm = |i: i64| if i < 0 { (len + i).max(0) } else { i.min(len) };
            let start = norm(arg(1).and_then(int)?);
            let end = match arg(2) {
                Some(e) => norm(int(e)?),
                None => len,
            };
            let (start, end) = (usize::try_from(start).ok()?, usize::try_from(end).ok()?);
            Some(owned(s.get(start..end.max(start)).unwrap_or(&[]).to_vec()))
        }
        Func::UrlDecode => {
            let opts = arg(1).and_then(bytes).unwrap_or(&[]);
            Some(owned(url_decode(
                b0()?,
                opts.contains(&b'r'),
                opts.contains(&b'u'),
            )))
        }
        Func::ToString => Some(owned(match arg(0)? {
            Rv::Int(i) => i.to_string().into_bytes(),
            Rv::Bool(b) => b.to_string().into_bytes(),
            Rv::Ip(ip) => ip.to_string().into_bytes(),
            _ => return None,
        })),
        Func::RegexReplace => {
            let Prepared::Regex(re, replacement) = prep else {
                return None;
            };
            let s = b0()?;
            match re.captures(s) {
                None => Some(owned(s.to_vec())),
                Some(caps) => {
                    let whole = caps.get(0)?;
                    let mut out = s.get(..whole.start())?.to_vec();
                    out.extend(wildcard::expand(replacement, &mut |n| {
                        caps.get(n).map(|m| m.as_bytes())
                    }));
                    out.extend_from_slice(s.get(whole.end()..)?);
                    Some(owned(out))
                }
            }
        }
        Func::WildcardReplace => {
            let Prepared::Wildcard(w, replacement) = prep else {
                return None;
            };
            let s = b0()?;
            Some(owned(
                w.replace(s, replacement).unwrap_or_else(|| s.to_vec()),
            ))
        }
        Func::RemoveBytes => {
            let Prepared::ByteSet(set) = prep else {
                return None;
            };
            Some(owned(
                b0()?
                    .iter()
                    .copied()
                    .filter(|&x| !set.get(usize::from(x)).copied().unwrap_or(false))
                    .collect(),
            ))
        }
        Func::DecodeBase64 => {
            let s = b0()?;
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(s))
                .ok()
                .map(owned)
        }
        Func::EncodeBase64 => Some(owned(
            base64::engine::general_purpose::STANDARD
                .encode(b0()?)
                .into_bytes(),
        )),
        Func::LookupJsonString | Func::LookupJsonInteger => {
            let doc: serde_json::Value = serde_json::from_slice(b0()?).ok()?;
            let mut cur = &doc;
            for key in args.get(1..)? {
                cur = match key {
                    Rv::Bytes(k) => cur.get(std::str::from_utf8(k).ok()?)?,
                    Rv::Int(i) => cur.get(usize::try_from(*i).ok()?)?,
                    _ => return None,
                };
            }
            if func == Func::LookupJsonString {
                cur.as_str().map(|s| owned(s.as_bytes().to_vec()))
            } else {
                cur.as_i64().map(Rv::Int)
            }
        }
        Func::Cidr => {
            let Rv::Ip(ip) = arg(0)? else { return None };
            let v4 = u32::try_from(arg(1).and_then(int)?).ok()?;
            let v6 = u32::try_from(arg(2).and_then(int)?).ok()?;
            Some(Rv::Ip(mask(*ip, v4, v6)))
        }
        Func::Cidr6 => {
            let Rv::Ip(ip) = arg(0)? else { return None };
            let v6 = u32::try_from(arg(1).and_then(int)?).ok()?;
            Some(Rv::Ip(mask(*ip, 32, v6)))
        }
    }
}

fn mask(ip: IpAddr, v4_bits: u32, v6_bits: u32) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let m = u32::MAX.checked_shl(32 - v4_bits.min(32)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & m))
        }
        IpAddr::V6(a) => {
            let m = u128::MAX.checked_shl(128 - v6_bits.min(128)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & m))
        }
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `%XX` and `+` decoding; with `unicode`, `%uXXXX` becomes UTF-8; with `recursive`, decode
/// until nothing changes (bounded by the input length).
pub(crate) fn url_decode(input: &[u8], recursive: bool, unicode: bool) -> Vec<u8> {
    let mut cur = decode_once(input, unicode);
    if recursive {
        for _ in 0..input.len() {
            let next = decode_once(&cur, unicode);
            if next == cur {
                break;
            }
            cur = next;
        }
    }
    cur
}

fn decode_once(input: &[u8], unicode: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        if b == b'+' {
            out.push(b' ');
            i += 1;
            continue;
        }
        if b == b'%' {
            if let (Some(h), Some(l)) = (
                input.get(i + 1).copied().and_then(hex),
                input.get(i + 2).copied().and_then(hex),
            ) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
            if unicode && matches!(input.get(i + 1), Some(b'u' | b'U')) {
                let digits: Option<Vec<u8>> = (2..6)
                    .map(|k| input.get(i + k).copied().and_then(hex))
                    .collect();
                if let Some(d) = digits {
                    let code = d.iter().fold(0u32, |acc, &x| acc * 16 + u32::from(x));
                    if let Some(c) = char::from_u32(code) {
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                        i += 6;
                        continue;
                    }
                }
            }
        }
        out.push(b);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_decode_handles_plus_percent_and_unicode() {
        assert_eq!(url_decode(b"a%20b+c", false, false), b"a b c");
        assert_eq!(url_decode(b"%2541", false, false), b"%41");
        assert_eq!(url_decode(b"%2541", true, false), b"A");
        assert_eq!(url_decode(b"%u00e4", false, true), "ä".as_bytes());
        assert_eq!(url_decode(b"%zz%", false, false), b"%zz%");
    }

    #[test]
    fn cidr_masks() {
        let ip: IpAddr = "192.0.2.77".parse().unwrap();
        assert_eq!(mask(ip, 24, 64).to_string(), "192.0.2.0");
        let ip6: IpAddr = "2001:db8:1:2:3::1".parse().unwrap();
        assert_eq!(mask(ip6, 24, 48).to_string(), "2001:db8:1::");
    }
}
