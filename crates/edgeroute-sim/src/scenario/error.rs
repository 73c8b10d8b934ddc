//! Scenario errors: each names the file, line and column, and the key path it is about.

use std::fmt;
use std::ops::Range;

/// One problem with a scenario file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    origin: String,
    key_path: String,
    message: String,
    help: Option<String>,
    span: Option<Range<usize>>,
    line: usize,
    col: usize,
    source_line: String,
}

impl ScenarioError {
    /// An error about `key_path` (empty for the whole file) at byte `span` of `text`.
    #[must_use]
    pub fn new(
        origin: &str,
        text: &str,
        key_path: impl Into<String>,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) -> Self {
        let (line, col, source_line) = match &span {
            Some(s) => line_col(text, s.start),
            None => (1, 1, text.lines().next().unwrap_or("").to_owned()),
        };
        ScenarioError {
            origin: origin.to_owned(),
            key_path: key_path.into(),
            message: message.into(),
            help: None,
            span,
            line,
            col,
            source_line,
        }
    }

    /// The same error with a help line.
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// The file the error is in (a path, or `<builtin:...>` for embedded scenarios).
    #[must_use]
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The dotted key path the error is about, e.g. `traffic.classes[2].share`.
    #[must_use]
    pub fn key_path(&self) -> &str {
        &self.key_path
    }

    /// The message (lowercase, user input in backticks).
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// An optional hint on how to fix it.
    #[must_use]
    pub fn help(&self) -> Option<&str> {
        self.help.as_deref()
    }

    /// The byte range in the file, when known.
    #[must_use]
    pub fn span(&self) -> Option<Range<usize>> {
        self.span.clone()
    }

    /// The 1-based line.
    #[must_use]
    pub fn line(&self) -> usize {
        self.line
    }

    /// The 1-based column (in characters).
    #[must_use]
    pub fn col(&self) -> usize {
        self.col
    }
}

/// The 1-based line and column of byte `offset`, and the text of that line.
#[must_use]
pub fn line_col(text: &str, offset: usize) -> (usize, usize, String) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.bytes().filter(|b| *b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = text
        .get(line_start..offset)
        .map_or(1, |s| s.chars().count() + 1);
    let line_text = text
        .get(line_start..)
        .and_then(|rest| rest.lines().next())
        .unwrap_or("")
        .to_owned();
    (line, col, line_text)
}

impl fmt::Display for ScenarioError {
    /// `file:line:col: error: message`, the source line, a caret, and the help line if any.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: error: {}",
            self.origin, self.line, self.col, self.message
        )?;
        if !self.key_path.is_empty() {
            write!(f, " (at `{}`)", self.key_path)?;
        }
        if self.span.is_some() {
            let gutter = self.line.to_string().len();
            write!(
                f,
                "\n{:gutter$} |\n{} | {}\n{:gutter$} | ",
                "", self.line, self.source_line, ""
            )?;
            let width = self.span.as_ref().map_or(1, |s| s.len().clamp(1, 80)).min(
                self.source_line
                    .chars()
                    .count()
                    .saturating_sub(self.col - 1)
                    .max(1),
            );
            write!(f, "{:pad$}{}", "", "^".repeat(width), pad = self.col - 1)?;
        }
        if let Some(help) = &self.help {
            write!(f, "\n  = help: {help}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioError {}

/// Every problem found in one scenario (never empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioErrors(Vec<ScenarioError>);

impl ScenarioErrors {
    /// Wraps a list; `None` when it is empty.
    #[must_use]
    pub fn from_vec(errors: Vec<ScenarioError>) -> Option<Self> {
        if errors.is_empty() {
            None
        } else {
            Some(ScenarioErrors(errors))
        }
    }

    /// One error.
    #[must_use]
    pub fn one(error: ScenarioError) -> Self {
        ScenarioErrors(vec![error])
    }

    /// The errors, in file order.
    #[must_use]
    pub fn errors(&self) -> &[ScenarioError] {
        &self.0
    }
}

impl fmt::Display for ScenarioErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column() {
        let text = "a = 1\nbb = 2\n";
        assert_eq!(line_col(text, 0), (1, 1, "a = 1".to_owned()));
        assert_eq!(line_col(text, 6), (2, 1, "bb = 2".to_owned()));
        assert_eq!(line_col(text, 11), (2, 6, "bb = 2".to_owned()));
    }

    #[test]
    fn renders_with_caret() {
        let text = "seed = 1\nrate = -5\n";
        let e = ScenarioError::new("s.toml", text, "rate", Some(16..18), "negative rate `-5`")
            .with_help("a rate is requests per second");
        let shown = e.to_string();
        assert!(
            shown.starts_with("s.toml:2:8: error: negative rate `-5` (at `rate`)"),
            "{shown}"
        );
        assert!(shown.contains("2 | rate = -5\n  |        ^^"), "{shown}");
        assert!(shown.contains("help: a rate"), "{shown}");
    }
}
