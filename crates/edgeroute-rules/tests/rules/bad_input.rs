//! Hostile input gets an error, never a panic, a stack overflow or a hang.

use edgeroute_rules::Scheme;

use crate::scheme;

#[test]
fn ten_thousand_open_parentheses_are_an_error() {
    // Within the length limit, the depth limit stops it.
    let text = "(".repeat(4000);
    let errors = scheme().parse(&text).unwrap_err();
    assert!(
        errors.first().message().contains("nested too deeply"),
        "{errors}"
    );
    // Beyond it, the length limit does.
    let text = "(".repeat(10_000) + "ssl" + &")".repeat(10_000);
    let errors = scheme().parse(&text).unwrap_err();
    assert!(errors.first().message().contains("too long"));
    // With the length limit lifted, depth still protects the stack.
    let mut limits = edgeroute_rules::Limits::default();
    limits.max_len = usize::MAX;
    let unlimited = Scheme::cloudflare().with_limits(limits);
    let errors = unlimited.parse(&text).unwrap_err();
    assert!(errors.first().message().contains("nested too deeply"));
    let nots = "not ".repeat(10_000) + "ssl";
    assert!(unlimited.parse(&nots).is_err());
    let calls = "lower(".repeat(10_000) + "http.host" + &")".repeat(10_000) + " eq \"a\"";
    assert!(unlimited.parse(&calls).is_err());
}

#[test]
fn limit_is_4096_characters() {
    let ok = format!("http.host eq \"{}\"", "a".repeat(4096 - 15));
    assert_eq!(ok.len(), 4096);
    assert!(scheme().parse(&ok).is_ok());
    let too_long = format!("http.host eq \"{}\"", "a".repeat(4096 - 14));
    let errors = scheme().parse(&too_long).unwrap_err();
    assert_eq!(
        errors.first().message(),
        "expression is too long: 4097 bytes, the limit is 4096"
    );
}

#[test]
fn one_megabyte_string_is_rejected() {
    let text = format!("http.host eq \"{}\"", "x".repeat(1 << 20));
    assert!(scheme().parse(&text).is_err());
    let unterminated = format!("http.host eq \"{}", "x".repeat(1 << 20));
    assert!(scheme().parse(&unterminated).is_err());
}

#[test]
fn invalid_utf8_is_an_error() {
    let errors = scheme().parse_bytes(b"http.host eq \"\xff\"").unwrap_err();
    assert_eq!(errors.first().span().start, 14);
    assert!(errors.first().message().contains("UTF-8"));
}

#[test]
fn pathological_regexes_are_rejected_or_linear() {
    // Too big once compiled.
    let big = r#"http.host matches "(\\w{100}){100}""#;
    let errors = scheme().parse(big).unwrap_err();
    assert!(errors.first().message().contains("too big"), "{errors}");
    // Classic catastrophic backtracking patterns are linear in the regex crate.
    let filter = scheme().compile(r#"http.host matches "^(a+)+$""#).unwrap();
    let mut ctx = edgeroute_rules::Context::new(&scheme());
    ctx.set_by_name(
        "http.host",
        edgeroute_rules::OwnedValue::Bytes([b"a".repeat(5000), b"!".to_vec()].concat()),
    )
    .unwrap();
    assert!(!filter.execute(&ctx));
    // Backreferences and look-around do not exist.
    assert!(scheme().parse(r#"http.host matches "(a)\\1""#).is_err());
    assert!(scheme().parse(r#"http.host matches "(?=a)""#).is_err());
}

#[test]
fn too_many_regexes_are_rejected() {
    let text = vec![r#"http.host matches "a""#; 65].join(" or ");
    let errors = scheme().parse(&text).unwrap_err();
    assert!(
        errors
            .iter()
            .any(|e| e.message().contains("too many regular expressions"))
    );
}

#[test]
fn a_4kb_expression_compiles() {
    let mut text = String::new();
    let mut i = 0;
    while text.len() < 4000 {
        if !text.is_empty() {
            text.push_str(" or ");
        }
        text.push_str(&format!(
            "http.request.uri.path contains \"/p{i}\" and ip.src in {{10.{}.0.0/16}}",
            i % 256
        ));
        i += 1;
    }
    let text: String = text.chars().take(4096).collect();
    // Either compiles or is rejected (the cut may land mid-token); never panics.
    if let Ok(expr) = scheme().parse(&text) {
        let _ = expr.compile();
    }
}

#[test]
fn garbage_never_panics() {
    for text in [
        "",
        " ",
        "(",
        ")",
        "{",
        "\"",
        "r#",
        "r#\"",
        "$",
        "[",
        "]",
        "&",
        "&&",
        "!",
        "not",
        "in",
        "ssl in",
        "ip.src in {",
        "ip.src in {1.1.1.1..}",
        "any(",
        "any()",
        "rate(",
        "rate()",
        "rate(0s)",
        "lower()",
        "http.request.headers[",
        "http.request.headers[\"a\"",
        "http.request.headers[99999999999]",
        "ip.src eq ::",
        "ip.src in {::/129}",
        "tcp.dstport eq -",
        "tcp.dstport eq 0x",
        "tcp.dstport eq -9223372036854775808",
        "tcp.dstport eq 9223372036854775808",
        "\u{1F600}",
        "http.host eq \"\\x\"",
        "http.host eq \"\\xZZ\"",
    ] {
        let _ = scheme().parse(text);
    }
    assert!(
        scheme()
            .parse("tcp.dstport eq -9223372036854775808")
            .is_ok()
    );
}
