//! Parse and type errors, with byte spans and a human rendering.

use std::fmt;

/// A byte range `start..end` in the expression text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// The span `start..end`.
    #[must_use]
    pub fn new(start: usize, end: usize) -> Self {
        Span {
            start,
            end: end.max(start),
        }
    }

    /// The smallest span covering both.
    #[must_use]
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// One problem in an expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    span: Span,
    message: String,
    help: Option<String>,
}

impl ParseError {
    pub(crate) fn new(span: Span, message: impl Into<String>) -> Self {
        ParseError {
            span,
            message: message.into(),
            help: None,
        }
    }

    pub(crate) fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Where the problem is.
    #[must_use]
    pub fn span(&self) -> Span {
        self.span
    }

    /// What the problem is (lowercase, user input in backticks).
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// A hint on how to fix it, when there is one.
    #[must_use]
    pub fn help(&self) -> Option<&str> {
        self.help.as_deref()
    }

    /// Renders the error for a person:
    ///
    /// ```text
    /// error: unknown field `http.hots`
    ///  --> rule.txt:1:1
    ///   |
    /// 1 | http.hots eq "a"
    ///   | ^^^^^^^^^
    /// ```
    #[must_use]
    pub fn render(&self, source: &str, origin: &str) -> String {
        let (line_no, col, line) = locate(source, self.span.start);
        let start_in_line = self.span.start.saturating_sub(line.0);
        let line_text = source.get(line.0..line.1).unwrap_or("");
        let end_in_line = self
            .span
            .end
            .min(line.1)
            .saturating_sub(line.0)
            .max(start_in_line + 1);
        let pad = line_text
            .get(..start_in_line.min(line_text.len()))
            .map_or(start_in_line, |p| p.chars().count());
        let width = line_text
            .get(start_in_line.min(line_text.len())..end_in_line.min(line_text.len()))
            .map_or(1, |p| p.chars().count())
            .max(1);
        let gutter = " ".repeat(line_no.to_string().len());
        let mut out = format!(
            "error: {}\n{gutter}--> {origin}:{line_no}:{col}\n{gutter} |\n",
            self.message
        );
        out.push_str(&format!(
            "{line_no} | {line_text}\n{gutter} | {}{}\n",
            " ".repeat(pad),
            "^".repeat(width)
        ));
        if let Some(help) = &self.help {
            out.push_str(&format!("{gutter} = help: {help}\n"));
        }
        out
    }

    /// 1-based line and column (in characters) of the start of the span in `source`.
    #[must_use]
    pub fn line_col(&self, source: &str) -> (usize, usize) {
        let (l, c, _) = locate(source, self.span.start);
        (l, c)
    }
}

/// (line number, column, (line start, line end)) of byte `offset`.
fn locate(source: &str, offset: usize) -> (usize, usize, (usize, usize)) {
    let offset = offset.min(source.len());
    let mut line_start = 0;
    let mut line_no = 1;
    for (i, b) in source.bytes().enumerate() {
        if i >= offset {
            break;
        }
        if b == b'\n' {
            line_no += 1;
            line_start = i + 1;
        }
    }
    let line_end = source
        .get(line_start..)
        .and_then(|rest| rest.find('\n'))
        .map_or(source.len(), |n| line_start + n);
    let col = source
        .get(line_start..offset)
        .map_or(offset - line_start, |p| p.chars().count())
        + 1;
    (line_no, col, (line_start, line_end))
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at {}..{}",
            self.message, self.span.start, self.span.end
        )
    }
}

impl std::error::Error for ParseError {}

/// The problems found in an expression: never empty, in source order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseErrors(Vec<ParseError>);

impl ParseErrors {
    pub(crate) fn from_vec(mut errors: Vec<ParseError>) -> Self {
        if errors.is_empty() {
            errors.push(ParseError::new(Span::default(), "invalid expression"));
        }
        errors.sort_by_key(|e| (e.span.start, e.span.end));
        errors.dedup();
        ParseErrors(errors)
    }

    /// The first error (by position).
    #[must_use]
    pub fn first(&self) -> &ParseError {
        // INVARIANT: never empty (from_vec).
        self.0.first().unwrap_or_else(|| unreachable_error())
    }

    /// Every error.
    pub fn iter(&self) -> std::slice::Iter<'_, ParseError> {
        self.0.iter()
    }

    /// The number of errors (at least 1).
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always `false`; present for API symmetry with `len`.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Renders every error (see [`ParseError::render`]).
    #[must_use]
    pub fn render(&self, source: &str, origin: &str) -> String {
        self.0
            .iter()
            .map(|e| e.render(source, origin))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn unreachable_error() -> &'static ParseError {
    static FALLBACK: std::sync::OnceLock<ParseError> = std::sync::OnceLock::new();
    FALLBACK.get_or_init(|| ParseError::new(Span::default(), "invalid expression"))
}

impl<'a> IntoIterator for &'a ParseErrors {
    type Item = &'a ParseError;
    type IntoIter = std::slice::Iter<'a, ParseError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for ParseErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let first = self.first();
        f.write_str(first.message())?;
        if self.0.len() > 1 {
            write!(f, " (and {} more)", self.0.len() - 1)?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseErrors {}
