//! The property behind the `policy` fuzz target (`fuzz/fuzz_targets/policy.rs`), kept in the
//! crate so it also runs as an ordinary test over `testdata/fuzz-seeds/policy/`.

use crate::{Engine, Policy, RequestView, Timestamp};

/// Loads arbitrary bytes as a policy. Must never panic or hang: either the policy compiles (and
/// then decides a few requests, in every environment it declares) or every error renders with
/// a location inside the input.
pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.len() > 64 * 1024 {
        return;
    }
    let mut envs = vec![None];
    envs.extend(
        crate::config::declared_environments(text)
            .into_iter()
            .take(4)
            .map(Some),
    );
    for env in envs {
        match Policy::from_toml_str(text, "fuzz.toml", env.as_deref()) {
            Ok((policy, warnings)) => {
                for w in &warnings {
                    let _ = w.to_string();
                }
                let engine = Engine::new_with_budget(policy, 1024);
                let headers: [(&[u8], &[u8]); 3] = [
                    (b"cf-connecting-ip", b"81.2.69.160"),
                    (b"origin", b"https://app.example.com"),
                    (b"access-control-request-method", b"POST"),
                ];
                for (method, path) in [
                    (&b"GET"[..], &b"/static/x.js"[..]),
                    (b"OPTIONS", b"/api/v1/calls?q=1"),
                ] {
                    let req = RequestView {
                        method,
                        host: Some(b"api.aybiza.com"),
                        path_and_query: path,
                        headers: &headers,
                        ..RequestView::new(std::net::IpAddr::from([198, 41, 128, 5]))
                    };
                    let d = engine.decide(&req, Timestamp::from_secs(1));
                    for (n, v) in d.request_headers().chain(d.response_headers()) {
                        let _ = (n, v.to_string());
                    }
                    let _ = engine.explain(&req, Timestamp::from_secs(2));
                }
            }
            Err(errors) => {
                for d in errors.iter() {
                    let shown = d.to_string();
                    assert!(!shown.is_empty());
                    if let Some(span) = d.span() {
                        assert!(span.end <= text.len(), "span {span:?} outside the input");
                    }
                }
            }
        }
    }
}
