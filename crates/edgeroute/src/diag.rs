//! Diagnostics for policy files: errors and warnings that name the file, line:col, the TOML key
//! path and render a caret under the offending text.
//!
//! Any module that validates part of a policy (the routing module included) reports problems by
//! [`KeyPath`]; the loader resolves key paths to byte spans with `toml_edit` and from there to
//! line and column.

use std::fmt::{self, Write as _};
use std::ops::Range;

/// How serious a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The policy cannot be used.
    Error,
    /// The policy loads, but something in it is probably not what the author meant.
    Warning,
}

impl Severity {
    /// `"error"` or `"warning"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One segment of a [`KeyPath`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeySegment {
    /// A table key.
    Key(String),
    /// An array (or array of tables) index.
    Index(usize),
}

/// A path to a value in a TOML document, such as `firewall.rules[2].expression`.
///
/// `Display` prints keys separated by dots (quoted when they are not bare keys) and indices in
/// brackets; [`KeyPath::parse`] reads that form back.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct KeyPath(Vec<KeySegment>);

impl KeyPath {
    /// The empty path (the document root).
    #[must_use]
    pub const fn root() -> Self {
        KeyPath(Vec::new())
    }

    /// This path extended by a key.
    #[must_use]
    pub fn key(&self, key: &str) -> Self {
        let mut segments = self.0.clone();
        segments.push(KeySegment::Key(key.to_owned()));
        KeyPath(segments)
    }

    /// This path extended by an index.
    #[must_use]
    pub fn index(&self, index: usize) -> Self {
        let mut segments = self.0.clone();
        segments.push(KeySegment::Index(index));
        KeyPath(segments)
    }

    /// This path followed by all segments of `other`.
    #[must_use]
    pub fn join(&self, other: &KeyPath) -> Self {
        let mut segments = self.0.clone();
        segments.extend(other.0.iter().cloned());
        KeyPath(segments)
    }

    /// The segments of this path.
    #[must_use]
    pub fn segments(&self) -> &[KeySegment] {
        &self.0
    }

    /// Parses the `Display` form: `a.b[2]."quoted key".c`.
    ///
    /// # Errors
    /// Returns a message when the text is not a key path.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut segments = Vec::new();
        let mut chars = text.char_indices().peekable();
        let mut expect_key = true;
        while let Some(&(pos, c)) = chars.peek() {
            match c {
                '.' if !expect_key => {
                    chars.next();
                    expect_key = true;
                }
                '[' => {
                    chars.next();
                    let mut digits = String::new();
                    loop {
                        match chars.next() {
                            Some((_, d)) if d.is_ascii_digit() => digits.push(d),
                            Some((_, ']')) => break,
                            _ => return Err(format!("bad index at byte {pos} in `{text}`")),
                        }
                    }
                    let index = digits
                        .parse()
                        .map_err(|_| format!("bad index at byte {pos} in `{text}`"))?;
                    segments.push(KeySegment::Index(index));
                    expect_key = false;
                }
                '"' if expect_key => {
                    chars.next();
                    let mut key = String::new();
                    loop {
                        match chars.next() {
                            Some((_, '"')) => break,
                            Some((_, '\\')) => match chars.next() {
                                Some((_, e)) => key.push(e),
                                None => return Err(format!("unterminated quote in `{text}`")),
                            },
                            Some((_, k)) => key.push(k),
                            None => return Err(format!("unterminated quote in `{text}`")),
                        }
                    }
                    segments.push(KeySegment::Key(key));
                    expect_key = false;
                }
                _ if expect_key && is_bare_char(c) => {
                    let mut key = String::new();
                    while let Some(&(_, k)) = chars.peek() {
                        if !is_bare_char(k) {
                            break;
                        }
                        key.push(k);
                        chars.next();
                    }
                    segments.push(KeySegment::Key(key));
                    expect_key = false;
                }
                _ => return Err(format!("unexpected `{c}` at byte {pos} in `{text}`")),
            }
        }
        if expect_key && !segments.is_empty() {
            return Err(format!("key path `{text}` ends with a dot"));
        }
        Ok(KeyPath(segments))
    }
}

fn is_bare_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                KeySegment::Key(k) => {
                    if i > 0 {
                        f.write_char('.')?;
                    }
                    if !k.is_empty() && k.chars().all(is_bare_char) {
                        f.write_str(k)?;
                    } else {
                        f.write_char('"')?;
                        for c in k.chars() {
                            if c == '"' || c == '\\' {
                                f.write_char('\\')?;
                            }
                            f.write_char(c)?;
                        }
                        f.write_char('"')?;
                    }
                }
                KeySegment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// An error or warning about a policy file.
///
/// `Display` renders `severity: message`, then `--> file:line:col`, the source line and a caret
/// under the offending text, the key path and an optional help line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    severity: Severity,
    message: String,
    origin: String,
    line: u32,
    col: u32,
    key_path: Option<String>,
    span: Option<Range<usize>>,
    help: Option<String>,
    source_line: Option<String>,
    caret_len: usize,
}

impl Diagnostic {
    /// A diagnostic with no location yet.
    #[must_use]
    pub fn new(severity: Severity, message: impl Into<String>, origin: &str) -> Self {
        Diagnostic {
            severity,
            message: message.into(),
            origin: origin.to_owned(),
            line: 0,
            col: 0,
            key_path: None,
            span: None,
            help: None,
            source_line: None,
            caret_len: 0,
        }
    }

    /// Adds a help line.
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Attaches a key path.
    #[must_use]
    pub fn with_key_path(mut self, path: &KeyPath) -> Self {
        self.key_path = Some(path.to_string());
        self
    }

    /// Attaches a byte span of `source` and computes line, column and the caret.
    #[must_use]
    pub fn with_span(mut self, source: &str, span: Range<usize>) -> Self {
        let start = source.floor_char_boundary(span.start);
        let end = source.floor_char_boundary(span.end.max(start));
        let line_start = source
            .get(..start)
            .and_then(|s| s.rfind('\n').map(|i| i + 1))
            .unwrap_or(0);
        let line_end = source
            .get(start..)
            .and_then(|s| s.find('\n').map(|i| start + i))
            .unwrap_or(source.len());
        let line_no = source
            .get(..start)
            .map_or(0, |s| s.bytes().filter(|&b| b == b'\n').count());
        let col = source
            .get(line_start..start)
            .map_or(0, |s| s.chars().count());
        let caret_end = end.min(line_end);
        let caret_len = source
            .get(start..caret_end)
            .map_or(1, |s| s.chars().count().max(1));
        self.line = u32::try_from(line_no + 1).unwrap_or(u32::MAX);
        self.col = u32::try_from(col + 1).unwrap_or(u32::MAX);
        self.source_line = source
            .get(line_start..line_end)
            .map(|s| s.trim_end_matches('\r').to_owned());
        self.caret_len = caret_len;
        self.span = Some(start..end);
        self
    }

    /// Error or warning.
    #[must_use]
    pub fn severity(&self) -> Severity {
        self.severity
    }

    /// The message, lowercase, with user input in backticks.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The file (or other origin name) the policy came from.
    #[must_use]
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// 1-based line, 0 when unknown.
    #[must_use]
    pub fn line(&self) -> u32 {
        self.line
    }

    /// 1-based column in characters, 0 when unknown.
    #[must_use]
    pub fn col(&self) -> u32 {
        self.col
    }

    /// The TOML key path of the offending value, when known.
    #[must_use]
    pub fn key_path(&self) -> Option<&str> {
        self.key_path.as_deref()
    }

    /// Byte span in the source, when known.
    #[must_use]
    pub fn span(&self) -> Option<Range<usize>> {
        self.span.clone()
    }

    /// A hint on how to fix the problem.
    #[must_use]
    pub fn help(&self) -> Option<&str> {
        self.help.as_deref()
    }

    /// True for errors.
    #[must_use]
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.severity, self.message)?;
        if self.line > 0 {
            write!(f, "\n  --> {}:{}:{}", self.origin, self.line, self.col)?;
        } else {
            write!(f, "\n  --> {}", self.origin)?;
        }
        if let Some(line) = &self.source_line {
            let gutter = self.line.to_string();
            let pad = " ".repeat(gutter.len());
            // Tabs keep their width so the caret lines up.
            let lead: String = line
                .chars()
                .take(self.col.saturating_sub(1) as usize)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            write!(
                f,
                "\n {pad} |\n {gutter} | {line}\n {pad} | {lead}{}",
                "^".repeat(self.caret_len.max(1))
            )?;
        }
        if let Some(path) = &self.key_path
            && !path.is_empty()
        {
            write!(f, "\n  = key: {path}")?;
        }
        if let Some(help) = &self.help {
            write!(f, "\n  = help: {help}")?;
        }
        Ok(())
    }
}

/// The errors that stopped a policy from loading: never empty, in file order where possible.
///
/// Warnings found along the way are included after the errors, so a person sees everything at
/// once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyErrors(Vec<Diagnostic>);

impl PolicyErrors {
    /// Wraps a list that contains at least one error. Returns `None` otherwise.
    #[must_use]
    pub fn new(diagnostics: Vec<Diagnostic>) -> Option<Self> {
        if diagnostics.iter().any(Diagnostic::is_error) {
            Some(PolicyErrors(diagnostics))
        } else {
            None
        }
    }

    /// A list of one error.
    pub(crate) fn one(mut d: Diagnostic) -> Self {
        d.severity = Severity::Error;
        PolicyErrors(vec![d])
    }

    /// All diagnostics, errors first.
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }

    /// Only the errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.is_error())
    }

    /// The first error.
    #[must_use]
    pub fn first(&self) -> Option<&Diagnostic> {
        self.errors().next()
    }

    /// Number of diagnostics (errors and warnings).
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: a `PolicyErrors` holds at least one error.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The diagnostics.
    #[must_use]
    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.0
    }
}

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyErrors {}

/// Collects diagnostics while a policy is validated, resolving key paths against the source.
pub(crate) struct Sink<'a> {
    source: &'a str,
    origin: &'a str,
    doc: Option<toml_edit::Document<&'a str>>,
    items: Vec<Diagnostic>,
}

impl<'a> Sink<'a> {
    pub(crate) fn new(source: &'a str, origin: &'a str) -> Self {
        Sink {
            source,
            origin,
            doc: toml_edit::Document::parse(source).ok(),
            items: Vec::new(),
        }
    }

    pub(crate) fn source(&self) -> &'a str {
        self.source
    }

    pub(crate) fn origin(&self) -> &'a str {
        self.origin
    }

    /// Span of the value at `path`, or of its deepest existing ancestor.
    pub(crate) fn span_of(&self, path: &KeyPath) -> Option<Range<usize>> {
        let doc = self.doc.as_ref()?;
        let mut item = doc.as_item();
        let mut best = None;
        for seg in path.segments() {
            let next = match seg {
                KeySegment::Key(k) => item.get(k.as_str()),
                KeySegment::Index(i) => item.get(*i),
            };
            match next {
                Some(n) => {
                    item = n;
                    if let Some(s) = n.span() {
                        best = Some(s);
                    }
                }
                None => break,
            }
        }
        best
    }

    /// Byte offset of the content of the string value at `path` (after its opening quote), when
    /// offsets inside the string map one to one onto the source (no escapes).
    pub(crate) fn string_content_start(&self, path: &KeyPath) -> Option<usize> {
        let span = self.span_of(path)?;
        let raw = self.source.get(span.clone())?;
        let (skip, escapes) = if raw.starts_with("'''") || raw.starts_with("\"\"\"") {
            let nl = if raw.get(3..)?.starts_with("\r\n") {
                2
            } else {
                usize::from(raw.get(3..)?.starts_with('\n'))
            };
            (3 + nl, raw.starts_with('"'))
        } else if raw.starts_with('\'') {
            (1, false)
        } else if raw.starts_with('"') {
            (1, true)
        } else {
            return None;
        };
        if escapes && raw.contains('\\') {
            return None;
        }
        Some(span.start + skip)
    }

    fn located(&self, mut d: Diagnostic, path: &KeyPath) -> Diagnostic {
        d = d.with_key_path(path);
        if let Some(span) = self.span_of(path) {
            d = d.with_span(self.source, span);
        }
        d
    }

    pub(crate) fn error(&mut self, path: &KeyPath, message: impl Into<String>) {
        let d = Diagnostic::new(Severity::Error, message, self.origin);
        let d = self.located(d, path);
        self.items.push(d);
    }

    pub(crate) fn error_help(
        &mut self,
        path: &KeyPath,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        let d = Diagnostic::new(Severity::Error, message, self.origin).with_help(help);
        let d = self.located(d, path);
        self.items.push(d);
    }

    pub(crate) fn warning(&mut self, path: &KeyPath, message: impl Into<String>) {
        let d = Diagnostic::new(Severity::Warning, message, self.origin);
        let d = self.located(d, path);
        self.items.push(d);
    }

    /// A diagnostic at an explicit byte span (for example inside an expression string).
    pub(crate) fn push_at(
        &mut self,
        severity: Severity,
        path: &KeyPath,
        span: Range<usize>,
        message: impl Into<String>,
        help: Option<&str>,
    ) {
        let mut d = Diagnostic::new(severity, message, self.origin)
            .with_key_path(path)
            .with_span(self.source, span);
        if let Some(h) = help {
            d = d.with_help(h);
        }
        self.items.push(d);
    }

    /// A diagnostic at a byte span (TOML syntax and structure errors); the key path is the
    /// deepest one whose value contains the span, when the document parses.
    pub(crate) fn push_span(&mut self, message: impl Into<String>, span: Option<Range<usize>>) {
        let mut d = Diagnostic::new(Severity::Error, message, self.origin);
        if let Some(s) = span {
            if let Some(path) = self.key_path_at(s.start) {
                d = d.with_key_path(&path);
            }
            d = d.with_span(self.source, s);
        }
        self.items.push(d);
    }

    /// The deepest key path whose key or value span contains `offset`.
    pub(crate) fn key_path_at(&self, offset: usize) -> Option<KeyPath> {
        fn walk(
            item: &toml_edit::Item,
            path: KeyPath,
            offset: usize,
            depth: usize,
        ) -> Option<KeyPath> {
            if depth > 64 {
                return None;
            }
            let inside = |span: Option<Range<usize>>| {
                span.is_some_and(|s| s.start <= offset && offset < s.end.max(s.start + 1))
            };
            if let Some(t) = item.as_table_like() {
                for (k, v) in t.iter() {
                    let key_span = t.key(k).and_then(toml_edit::Key::span);
                    let p = path.key(k);
                    if let Some(found) = walk(v, p.clone(), offset, depth + 1) {
                        return Some(found);
                    }
                    if inside(key_span) || inside(v.span()) {
                        return Some(p);
                    }
                }
            } else if let Some(a) = item.as_array_of_tables() {
                for (i, t) in a.iter().enumerate() {
                    let sub = toml_edit::Item::Table(t.clone());
                    if let Some(found) = walk(&sub, path.index(i), offset, depth + 1) {
                        return Some(found);
                    }
                }
            } else if let Some(a) = item.as_array() {
                for (i, v) in a.iter().enumerate() {
                    if inside(v.span()) {
                        return Some(path.index(i));
                    }
                }
            }
            None
        }
        let doc = self.doc.as_ref()?;
        walk(doc.as_item(), KeyPath::root(), offset, 0)
    }

    pub(crate) fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    /// Errors first (stable), then warnings.
    pub(crate) fn finish(mut self) -> Vec<Diagnostic> {
        self.items.sort_by_key(|d| d.severity);
        self.items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_path_display_and_parse_round_trip() {
        let p = KeyPath::root()
            .key("firewall")
            .key("rules")
            .index(2)
            .key("expression");
        assert_eq!(p.to_string(), "firewall.rules[2].expression");
        assert_eq!(KeyPath::parse("firewall.rules[2].expression").unwrap(), p);
        let q = KeyPath::root().key("services").key("api.x").key("hosts");
        assert_eq!(q.to_string(), "services.\"api.x\".hosts");
        assert_eq!(KeyPath::parse(&q.to_string()).unwrap(), q);
        assert!(KeyPath::parse("a..b").is_err());
        assert!(KeyPath::parse("a[x]").is_err());
        assert!(KeyPath::parse("a.").is_err());
    }

    #[test]
    fn sink_resolves_key_paths_to_line_and_column() {
        let src = "[policy]\nname = \"x\"\n\n[[firewall.rules]]\nid = \"a\"\n\n[[firewall.rules]]\nid = \"b\"\nexpression = 'http.host eq 1'\n";
        let mut sink = Sink::new(src, "p.toml");
        let path = KeyPath::parse("firewall.rules[1].expression").unwrap();
        sink.error(&path, "bad expression");
        let d = sink.finish().pop().unwrap();
        assert_eq!((d.line(), d.col()), (9, 14));
        let shown = d.to_string();
        assert!(shown.contains("p.toml:9:14"), "{shown}");
        assert!(shown.contains("^^^^^^^^^^^^^^^^"), "{shown}");
        assert!(
            shown.contains("key: firewall.rules[1].expression"),
            "{shown}"
        );
    }

    #[test]
    fn string_content_offsets() {
        let src = "a = 'xyz'\nb = \"q\\\"\"\nc = '''\nabc'''\n";
        let sink = Sink::new(src, "t");
        assert_eq!(
            sink.string_content_start(&KeyPath::root().key("a")),
            Some(5)
        );
        assert_eq!(sink.string_content_start(&KeyPath::root().key("b")), None);
        let c = sink
            .string_content_start(&KeyPath::root().key("c"))
            .unwrap();
        assert_eq!(&src[c..c + 3], "abc");
    }

    #[test]
    fn policy_errors_require_an_error() {
        let w = Diagnostic::new(Severity::Warning, "w", "o");
        assert!(PolicyErrors::new(vec![w.clone()]).is_none());
        let e = Diagnostic::new(Severity::Error, "e", "o");
        let errs = PolicyErrors::new(vec![e, w]).unwrap();
        assert_eq!(errs.errors().count(), 1);
        assert_eq!(errs.len(), 2);
    }
}
