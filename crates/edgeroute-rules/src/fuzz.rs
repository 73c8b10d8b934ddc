//! The fuzz property, shared by `fuzz/fuzz_targets/expr.rs` and an ordinary test over
//! `testdata/fuzz-seeds/`.

use std::net::{IpAddr, Ipv4Addr};

use crate::{Context, OwnedValue, Scheme, Type};

/// Parses, compiles and executes arbitrary bytes; panics only if a property is broken:
/// - parsing never panics, and either fails with at least one error whose span lies inside
///   the input, or succeeds;
/// - a parsed expression prints to text that parses back to an equal expression;
/// - the compiled filter agrees with the reference interpreter on a few contexts.
#[expect(clippy::panic, reason = "a broken property must crash the fuzzer")]
pub fn check(data: &[u8]) {
    let scheme = scheme();
    match scheme.parse_bytes(data) {
        Err(errors) => {
            for e in &errors {
                let span = e.span();
                assert!(
                    span.start <= span.end && span.start <= data.len().max(scheme.limits().max_len),
                    "bad span {span:?}"
                );
                assert!(!e.message().is_empty());
            }
        }
        Ok(expr) => {
            let printed = expr.to_string();
            let again = match scheme.parse(&printed) {
                Ok(e) => e,
                Err(e) => panic!("canonical text `{printed}` does not parse: {e}"),
            };
            assert_eq!(again, expr, "round trip changed `{printed}`");
            let filter = expr.compile();
            for ctx in contexts(&scheme) {
                assert_eq!(
                    filter.execute(&ctx),
                    expr.interpret(&ctx),
                    "compiled and interpreted disagree on `{printed}`"
                );
            }
        }
    }
}

fn scheme() -> Scheme {
    let mut s = Scheme::cloudflare();
    let _ = s.add_list(
        "blocked",
        crate::List::Ip(vec![
            "10.0.0.0/8"
                .parse()
                .unwrap_or(ipnet::IpNet::V4(Default::default())),
        ]),
    );
    let _ = s.add_list("hosts", crate::List::Bytes(vec![b"example.com".to_vec()]));
    let _ = s.add_list("asns", crate::List::Int(vec![13335, 16509]));
    s
}

fn contexts(scheme: &Scheme) -> Vec<Context> {
    let empty = Context::new(scheme);
    let mut full = Context::new(scheme);
    for (id, _, ty) in scheme.fields() {
        full.set(id, sample(ty, 0));
    }
    full.set_rate(60, 61);
    full.set_rate(10, 3);
    let mut other = Context::new(scheme);
    for (id, _, ty) in scheme.fields() {
        if id.index() % 2 == 0 {
            other.set(id, sample(ty, 1));
        }
    }
    vec![empty, full, other]
}

fn sample(ty: &Type, k: u8) -> OwnedValue {
    match ty {
        Type::Bool => OwnedValue::Bool(k == 0),
        Type::Int => OwnedValue::Int(if k == 0 { 80 } else { -1 }),
        Type::Bytes => OwnedValue::Bytes(if k == 0 {
            b"/api/v1/calls?a=1".to_vec()
        } else {
            b"Example.COM".to_vec()
        }),
        Type::Ip => OwnedValue::Ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, k))),
        Type::Array(t) => OwnedValue::Array(vec![sample(t, k), sample(t, 1 - k.min(1))]),
        Type::Map(t) => OwnedValue::Map(vec![
            (b"user-agent".to_vec(), sample(t, k)),
            (b"accept".to_vec(), sample(t, 1)),
        ]),
    }
}
