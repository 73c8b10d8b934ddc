//! Execution allocates nothing for expressions without string-building functions: proved
//! with a counting global allocator (`allocation-counter`, which counts per thread, so
//! parallel tests do not interfere).

use edgeroute_rules::{Context, OwnedValue};

use crate::scheme;

#[test]
fn execution_without_functions_does_not_allocate() {
    let scheme = scheme();
    let mut ctx = Context::new(&scheme);
    ctx.set_by_name("ip.src", OwnedValue::Ip("10.1.2.3".parse().unwrap()))
        .unwrap();
    ctx.set_by_name(
        "http.request.uri.path",
        OwnedValue::Bytes(b"/api/v1/calls/42".to_vec()),
    )
    .unwrap();
    ctx.set_by_name("http.host", OwnedValue::Bytes(b"WWW.Example.com".to_vec()))
        .unwrap();
    ctx.set_by_name("cf.bot_management.verified_bot", OwnedValue::Bool(false))
        .unwrap();
    ctx.set_by_name("cf.threat_score", OwnedValue::Int(70))
        .unwrap();
    ctx.set_by_name("tcp.dstport", OwnedValue::Int(8443))
        .unwrap();
    ctx.set_by_name(
        "http.user_agent",
        OwnedValue::Bytes(b"Mozilla/5.0 sqlmap".to_vec()),
    )
    .unwrap();
    ctx.set_json(
        "http.request.headers",
        &serde_json::json!({"accept": ["text/html", "application/json"]}),
    )
    .unwrap();
    ctx.set_rate(60, 61);
    let expressions = [
        "ip.src eq 10.1.2.3",
        "ip.src in {10.0.0.0/8 192.168.0.0/16 2001:db8::/32}",
        "ip.src in $blocked",
        r#"(http.request.uri.path contains "/api/v1/calls" and not cf.bot_management.verified_bot)"#,
        "(rate(1m) > 60)",
        "(cf.threat_score gt 50)",
        r#"http.user_agent matches "(?i)sqlmap|nikto""#,
        r#"http.host wildcard "*.example.com" or http.host strict wildcard "www.*""#,
        r#"http.host in {"a.example" "WWW.Example.com"} xor tcp.dstport in {8000..8999}"#,
        r#"http.request.headers["accept"][1] eq "application/json""#,
        r#"any(http.request.headers["accept"][*] contains "json")"#,
        r#"all(http.request.headers["accept"][*] ne "")"#,
        "tcp.dstport & 3",
        r#"http.host ne "x" and http.host lt "z" and http.host ge "A""#,
        r#"len(http.host) gt 3 and starts_with(http.request.uri.path, "/api")"#,
        r#"http.request.headers["missing"][0] eq "x" or ssl or not ssl"#,
    ];
    for text in expressions {
        let filter = scheme.compile(text).unwrap();
        // Warm up (the regex crate fills a per-thread cache on first use).
        let first = filter.execute(&ctx);
        let info = allocation_counter::measure(|| {
            for _ in 0..100 {
                assert_eq!(
                    std::hint::black_box(filter.execute(std::hint::black_box(&ctx))),
                    first
                );
            }
        });
        assert_eq!(info.count_total, 0, "`{text}` allocated during execution");
    }
}

#[test]
fn the_counter_sees_allocations_from_functions() {
    let scheme = scheme();
    let mut ctx = Context::new(&scheme);
    ctx.set_by_name("http.host", OwnedValue::Bytes(b"WWW.Example.com".to_vec()))
        .unwrap();
    let filter = scheme
        .compile(r#"lower(http.host) eq "www.example.com""#)
        .unwrap();
    assert!(filter.execute(&ctx));
    let info = allocation_counter::measure(|| {
        std::hint::black_box(filter.execute(&ctx));
    });
    assert!(
        info.count_total > 0,
        "lower() builds a string, which the counter must see"
    );
}
