//! Properties over random well-typed expressions and random requests:
//! - the compiled filter agrees with the reference tree-walking interpreter;
//! - canonical printing parses back to an equal tree (and prints identically);
//! - execution never panics (a panic fails the property).

use edgeroute_rules::{Context, OwnedValue, Scheme};
use proptest::prelude::*;

use crate::scheme;

fn small_str() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "", "a", "A", "ab", "aB", "/api", "/api/v1", "x*y", "b", "é",
    ])
    .prop_map(str::to_owned)
}

fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn int_cmp() -> impl Strategy<Value = String> {
    let field = prop::sample::select(vec![
        "cf.threat_score",
        "tcp.dstport",
        "rate(1m)",
        "len(http.host)",
    ]);
    let op = prop::sample::select(vec![
        "eq", "ne", "lt", "le", "gt", "ge", "==", "!=", "<", "<=", ">", ">=", "&",
    ]);
    prop_oneof![
        (field.clone(), op, -3i64..6).prop_map(|(f, o, n)| format!("{f} {o} {n}")),
        (field, prop::collection::vec((-3i64..6, 0i64..3), 0..4)).prop_map(|(f, items)| {
            let items: Vec<String> = items
                .iter()
                .map(|(a, w)| {
                    if *w == 0 {
                        a.to_string()
                    } else {
                        format!("{a}..{}", a + w)
                    }
                })
                .collect();
            format!("{f} in {{{}}}", items.join(" "))
        }),
    ]
}

fn bytes_cmp() -> impl Strategy<Value = String> {
    let field = prop::sample::select(vec![
        "http.host",
        "http.request.uri.path",
        "lower(http.host)",
        "http.request.headers[\"x\"][0]",
        "concat(http.host, \"b\")",
        "substring(http.request.uri.path, 1)",
    ]);
    let op = prop::sample::select(vec![
        "eq", "ne", "lt", "le", "gt", "ge", "contains", "==", "!=",
    ]);
    let pattern = prop::sample::select(vec![
        "*", "a*", "*b", "a*b", "/api/*", "\\\\*", "A", "*a*", "",
    ]);
    let regex = prop::sample::select(vec!["^a", "b$", "(?i)ab", "a|/api", "^$", "[a-z]+"]);
    prop_oneof![
        (field.clone(), op, small_str()).prop_map(|(f, o, s)| format!("{f} {o} {}", quoted(&s))),
        (field.clone(), any::<bool>(), pattern).prop_map(|(f, strict, p)| format!(
            "{f} {}wildcard \"{p}\"",
            if strict { "strict " } else { "" }
        )),
        (field.clone(), any::<bool>(), regex).prop_map(|(f, tilde, r)| format!(
            "{f} {} \"{r}\"",
            if tilde { "~" } else { "matches" }
        )),
        (field.clone(), prop::collection::vec(small_str(), 0..4)).prop_map(|(f, items)| format!(
            "{f} in {{{}}}",
            items
                .iter()
                .map(|s| quoted(s))
                .collect::<Vec<_>>()
                .join(" ")
        )),
        Just("http.host in $hosts".to_owned()),
        (small_str(), any::<bool>()).prop_map(|(s, all)| format!(
            "{}(http.request.headers.names[*] contains {})",
            if all { "all" } else { "any" },
            quoted(&s)
        )),
        small_str().prop_map(|s| format!(
            "any(lower(http.request.headers[*][0])[*] eq {})",
            quoted(&s)
        )),
        small_str().prop_map(|s| format!("starts_with(http.request.uri.path, {})", quoted(&s))),
    ]
}

fn ip_cmp() -> impl Strategy<Value = String> {
    let cidr = prop::sample::select(vec![
        "10.0.0.0/8",
        "10.0.0.0/30",
        "192.168.0.1",
        "2001:db8::/32",
        "10.0.0.2..10.0.0.9",
        "::1",
    ]);
    prop_oneof![
        (any::<bool>(), 0u8..4)
            .prop_map(|(eq, n)| format!("ip.src {} 10.0.0.{n}", if eq { "eq" } else { "!=" })),
        prop::collection::vec(cidr, 0..4)
            .prop_map(|items| format!("ip.src in {{{}}}", items.join(" "))),
        Just("ip.src in $blocked".to_owned()),
        Just("cidr(ip.src, 30, 64) eq 10.0.0.0".to_owned()),
    ]
}

fn leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        int_cmp(),
        bytes_cmp(),
        ip_cmp(),
        prop::sample::select(vec!["ssl", "cf.client.bot"]).prop_map(str::to_owned),
    ]
}

fn expression() -> impl Strategy<Value = String> {
    leaf().prop_recursive(4, 24, 3, |inner| {
        let op = prop::sample::select(vec!["and", "or", "xor", "&&", "||", "^^"]);
        prop_oneof![
            (inner.clone(), op, inner.clone()).prop_map(|(a, o, b)| format!("{a} {o} {b}")),
            inner.clone().prop_map(|a| format!("({a})")),
            (any::<bool>(), inner)
                .prop_map(|(bang, a)| format!("{}{a}", if bang { "!" } else { "not " })),
        ]
    })
}

fn context(scheme: &Scheme) -> impl Strategy<Value = Context> {
    let scheme = scheme.clone();
    (
        prop::option::of(-3i64..6),
        prop::option::of(-3i64..6),
        prop::option::of(small_str()),
        prop::option::of(small_str()),
        prop::option::of(0u8..12),
        prop::option::of(any::<bool>()),
        prop::option::of(prop::collection::vec(small_str(), 0..3)),
        prop::option::of(prop::collection::vec(
            (
                prop::sample::select(vec!["x", "y"]),
                prop::collection::vec(small_str(), 0..3),
            ),
            0..3,
        )),
        prop::option::of(-3i64..6),
    )
        .prop_map(
            move |(threat, port, host, path, ip, ssl, names, headers, rate)| {
                let mut c = Context::new(&scheme);
                let mut set = |name: &str, v: Option<OwnedValue>| {
                    if let Some(v) = v {
                        c.set_by_name(name, v).unwrap();
                    }
                };
                set("cf.threat_score", threat.map(OwnedValue::Int));
                set("tcp.dstport", port.map(OwnedValue::Int));
                set("http.host", host.map(|s| OwnedValue::Bytes(s.into_bytes())));
                set(
                    "http.request.uri.path",
                    path.map(|s| OwnedValue::Bytes(s.into_bytes())),
                );
                set(
                    "ip.src",
                    ip.map(|n| {
                        OwnedValue::Ip(
                            if n < 10 {
                                format!("10.0.0.{n}")
                            } else {
                                format!("2001:db8::{n}")
                            }
                            .parse()
                            .unwrap(),
                        )
                    }),
                );
                set("ssl", ssl.map(OwnedValue::Bool));
                set("cf.client.bot", ssl.map(|b| OwnedValue::Bool(!b)));
                set(
                    "http.request.headers.names",
                    names.map(|v| {
                        OwnedValue::Array(
                            v.into_iter()
                                .map(|s| OwnedValue::Bytes(s.into_bytes()))
                                .collect(),
                        )
                    }),
                );
                set(
                    "http.request.headers",
                    headers.map(|entries| {
                        OwnedValue::Map(
                            entries
                                .into_iter()
                                .map(|(k, vs)| {
                                    (
                                        k.as_bytes().to_vec(),
                                        OwnedValue::Array(
                                            vs.into_iter()
                                                .map(|s| OwnedValue::Bytes(s.into_bytes()))
                                                .collect(),
                                        ),
                                    )
                                })
                                .collect(),
                        )
                    }),
                );
                if let Some(r) = rate {
                    c.set_rate(60, r);
                }
                c
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn compiled_filters_agree_with_the_interpreter(text in expression(), ctxs in prop::collection::vec(context(&scheme()), 4)) {
        let scheme = scheme();
        let expr = scheme.parse(&text).map_err(|e| TestCaseError::fail(format!("`{text}`: {}", e.render(&text, "gen"))))?;
        let filter = expr.compile();
        for ctx in &ctxs {
            prop_assert_eq!(filter.execute(ctx), expr.interpret(ctx), "`{}`", text);
        }
    }

    #[test]
    fn printing_then_parsing_gives_the_same_tree(text in expression()) {
        let scheme = scheme();
        let expr = scheme.parse(&text).unwrap();
        let printed = expr.to_string();
        let again = scheme.parse(&printed).map_err(|e| TestCaseError::fail(format!("`{printed}`: {e}")))?;
        prop_assert_eq!(&again, &expr);
        prop_assert_eq!(again.to_string(), printed);
    }

    #[test]
    fn execution_never_panics_on_arbitrary_text(text in "[a-z.\\[\\]\"()*{}0-9 =!<>&|^~$,-]{0,60}", ctx in context(&scheme())) {
        if let Ok(expr) = scheme().parse(&text) {
            let _ = expr.compile().execute(&ctx);
        }
    }
}
