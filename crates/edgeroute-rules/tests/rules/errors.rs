//! Error reporting: spans, several errors at once, rendering.

use crate::scheme;

#[test]
fn each_bad_term_of_an_and_chain_is_reported() {
    let text = r#"ip.src contains "1" and http.hots eq "a" and ssl and cf.waf.score eq "x""#;
    let errors = scheme().parse(text).unwrap_err();
    let messages: Vec<&str> = errors.iter().map(|e| e.message()).collect();
    assert_eq!(errors.len(), 3, "{messages:?}");
    assert!(messages[0].contains("operator `contains` is not defined on IP address"));
    assert!(messages[1].contains("unknown field `http.hots`"));
    assert!(messages[2].contains("expected an integer"));
    // Spans point at the offending text.
    let span = errors.iter().nth(1).unwrap().span();
    assert_eq!(&text[span.start..span.end], "http.hots");
}

#[test]
fn errors_inside_groups_and_or_chains_are_all_reported() {
    let text = r#"(http.hots eq "a" or ip.src lt 1.1.1.1) and lowerr(http.host) eq "x""#;
    let errors = scheme().parse(text).unwrap_err();
    assert_eq!(errors.len(), 3, "{errors:?}");
}

#[test]
fn unknown_field_suggests_the_closest_name() {
    let errors = scheme().parse(r#"http.hots eq "a""#).unwrap_err();
    assert_eq!(errors.first().help(), Some("did you mean `http.host`?"));
}

#[test]
fn render_shows_origin_line_column_and_caret() {
    let text = "ssl and\n  ip.src contains \"1\"";
    let errors = scheme().parse(text).unwrap_err();
    let rendered = errors.first().render(text, "rule.txt");
    let expected = "error: operator `contains` is not defined on IP address\n --> rule.txt:2:10\n  |\n2 |   ip.src contains \"1\"\n  |          ^^^^^^^^\n";
    assert_eq!(rendered, expected);
    assert_eq!(errors.first().line_col(text), (2, 10));
}

#[test]
fn unbalanced_parenthesis_points_at_the_open_paren() {
    let text = r#"ssl and (http.host eq "a""#;
    let errors = scheme().parse(text).unwrap_err();
    assert!(errors.first().message().contains("unbalanced parenthesis"));
    assert_eq!(errors.first().span().start, 8);
}

#[test]
fn display_of_errors_names_the_first_and_counts_the_rest() {
    let errors = scheme().parse(r#"a.b eq "1" and c.d eq "2""#).unwrap_err();
    assert_eq!(errors.to_string(), "unknown field `a.b` (and 1 more)");
}

#[test]
fn recovery_after_a_bad_call_keeps_the_rest_of_the_chain() {
    let cases = [
        (r#"lower(cf.waf.score) eq "a" and http.hots eq "b""#, 2),
        (r#"(lower(cf.waf.score) eq "a") and http.hots eq "b""#, 2),
        (
            r#"concat(lower(http.host), http.hots) eq "a" and ip.src lt 1.1.1.1"#,
            2,
        ),
        (r#"lowerr(http.host) eq "x" and ssl"#, 1),
        (r#"lower(http.host "x") eq "y" and http.hots eq "b""#, 2),
    ];
    for (text, n) in cases {
        let errors = scheme().parse(text).unwrap_err();
        assert_eq!(errors.len(), n, "{text}: {errors:?}");
    }
}
