//! Path templates such as `/static/app-{object}.js`, rendered per request into a reused buffer.

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(Vec<u8>),
    Object,
    Client,
}

/// A parsed path template: literal text with `{object}` (the object's popularity rank) and
/// `{client}` (the client's number) placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Parses a template.
    ///
    /// # Errors
    /// An unknown `{placeholder}` or an unclosed `{`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            let (lit, after) = rest.split_at(open);
            if !lit.is_empty() {
                parts.push(Part::Literal(lit.as_bytes().to_vec()));
            }
            let after = after.get(1..).unwrap_or("");
            let Some(close) = after.find('}') else {
                return Err(format!("unclosed `{{` in template `{text}`"));
            };
            let (name, tail) = after.split_at(close);
            parts.push(match name {
                "object" => Part::Object,
                "client" => Part::Client,
                other => {
                    return Err(format!(
                        "unknown placeholder `{{{other}}}` in template `{text}` (use {{object}} or {{client}})"
                    ));
                }
            });
            rest = tail.get(1..).unwrap_or("");
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.as_bytes().to_vec()));
        }
        Ok(Template { parts })
    }

    /// A template that is all literal text (no placeholders).
    #[must_use]
    pub fn literal(text: &str) -> Self {
        Template {
            parts: vec![Part::Literal(text.as_bytes().to_vec())],
        }
    }

    /// Whether the rendered text depends on the client.
    #[must_use]
    pub fn uses_client(&self) -> bool {
        self.parts.contains(&Part::Client)
    }

    /// Whether the rendered text depends on the object.
    #[must_use]
    pub fn uses_object(&self) -> bool {
        self.parts.contains(&Part::Object)
    }

    /// Renders into `out` (cleared first).
    #[inline]
    pub fn render(&self, out: &mut Vec<u8>, object: u64, client: u64) {
        out.clear();
        for p in &self.parts {
            match p {
                Part::Literal(l) => out.extend_from_slice(l),
                Part::Object => push_u64(out, object),
                Part::Client => push_u64(out, client),
            }
        }
    }
}

/// Appends the decimal digits of `v`.
#[inline]
pub fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        if let Some(slot) = buf.get_mut(i) {
            let d = (v % 10) as u8;
            *slot = b'0' + d;
        }
        v /= 10;
        if v == 0 || i == 0 {
            break;
        }
    }
    out.extend_from_slice(buf.get(i..).unwrap_or(&[]));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders() {
        let t = Template::parse("/static/app-{object}.js?c={client}").unwrap();
        let mut out = Vec::new();
        t.render(&mut out, 42, 7);
        assert_eq!(out, b"/static/app-42.js?c=7");
        t.render(&mut out, 0, u64::MAX);
        assert_eq!(out, b"/static/app-0.js?c=18446744073709551615");
        assert!(t.uses_object());
        assert!(!Template::parse("/health").unwrap().uses_object());
    }

    #[test]
    fn rejects_bad_templates() {
        assert!(
            Template::parse("/a/{nope}")
                .unwrap_err()
                .contains("unknown placeholder `{nope}`")
        );
        assert!(
            Template::parse("/a/{object")
                .unwrap_err()
                .contains("unclosed")
        );
    }
}
