//! Errors of the cost model: where in which file, and what is wrong.

use std::fmt;
use std::ops::Range;

/// A place in a price source: file name, 1-based line and column (in characters), byte span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    file: String,
    line: usize,
    column: usize,
    span: Option<Range<usize>>,
}

impl Location {
    /// The location of byte `span.start` in `text`, a source called `file`.
    pub(crate) fn at(file: &str, text: &str, span: Option<Range<usize>>) -> Self {
        let offset = span.as_ref().map_or(0, |s| s.start);
        let (line, column) = line_col(text, offset);
        Location {
            file: file.to_owned(),
            line,
            column,
            span,
        }
    }

    /// The file (or source) name, as the caller gave it.
    #[must_use]
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The 1-based line.
    #[must_use]
    pub fn line(&self) -> usize {
        self.line
    }

    /// The 1-based column, counted in characters.
    #[must_use]
    pub fn column(&self) -> usize {
        self.column
    }

    /// The byte span in the source, when there is one.
    #[must_use]
    pub fn span(&self) -> Option<Range<usize>> {
        self.span.clone()
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// The 1-based line and character column of byte `offset` in `text` (clamped to the text).
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut line = 1;
    let mut column = 1;
    for (i, c) in text.char_indices() {
        if i >= offset {
            break;
        }
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (line, column)
}

/// What is wrong with a price table.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PriceErrorKind {
    /// The TOML does not parse or does not fit the price table's shape (unknown key, wrong type).
    #[error("invalid price table: {0}")]
    Syntax(String),
    /// A price (or a tier break) below zero.
    #[error("negative price `{value}` for `{key}`")]
    Negative {
        /// The key path, such as `cloud_only.waf.rule_monthly`.
        key: String,
        /// The value found.
        value: f64,
    },
    /// A value that is not a finite number.
    #[error("price `{key}` is not a finite number")]
    NotFinite {
        /// The key path.
        key: String,
    },
    /// Tiers whose shape is wrong: breaks not increasing, or prices not one more than breaks.
    #[error("bad tiers for `{key}`: {reason}")]
    BadTiers {
        /// The key path.
        key: String,
        /// What is wrong, in a few words.
        reason: String,
    },
    /// A share or ratio outside its range.
    #[error("`{key}` must be {range}, found `{value}`")]
    OutOfRange {
        /// The key path.
        key: String,
        /// The allowed range, in words.
        range: &'static str,
        /// The value found.
        value: f64,
    },
    /// An item an architecture needs is absent from the (merged) table.
    #[error("price table has no `{key}`, which the {architecture} architecture needs")]
    Missing {
        /// The key path.
        key: String,
        /// `hybrid`, `cloud-only` or `both`.
        architecture: &'static str,
    },
}

/// An error in a price table, with the file, line and column it points at.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{location}: {kind}")]
pub struct PriceError {
    location: Location,
    kind: PriceErrorKind,
}

impl PriceError {
    pub(crate) fn new(location: Location, kind: PriceErrorKind) -> Self {
        PriceError { location, kind }
    }

    /// Where the error points.
    #[must_use]
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// What is wrong.
    #[must_use]
    pub fn kind(&self) -> &PriceErrorKind {
        &self.kind
    }

    /// A one-line hint on how to fix it, for people.
    #[must_use]
    pub fn help(&self) -> &'static str {
        match self.kind {
            PriceErrorKind::Syntax(_) => {
                "see crates/edgeroute-sim/data/prices/default.toml for every key a price table takes"
            }
            PriceErrorKind::Negative { .. } | PriceErrorKind::NotFinite { .. } => {
                "prices are USD per unit and must be zero or more"
            }
            PriceErrorKind::BadTiers { .. } => {
                "tiers are `{ breaks = [b1, b2], prices = [p0, p1, p2] }` with increasing breaks"
            }
            PriceErrorKind::OutOfRange { .. } => "check the documented range of this assumption",
            PriceErrorKind::Missing { .. } => {
                "add the item, or drop `inherit = false` to start from the built-in prices"
            }
        }
    }
}

/// An error computing a cost report.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CostError {
    /// The price table lacks a price the traffic needs (a region without a price and no default).
    #[error(transparent)]
    Prices(#[from] PriceError),
    /// The traffic totals cannot be extrapolated to a month.
    #[error("cannot extrapolate a month from a simulated duration of `{0}` seconds")]
    BadDuration(f64),
    /// A traffic volume factor that is not a positive finite number.
    #[error("traffic volume factor `{0}` must be a positive number")]
    BadVolume(f64),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_lines_and_characters() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        // `=` after the two-byte `é` is the fourth character of line 2.
        assert_eq!(line_col(text, 10), (2, 4));
        assert_eq!(line_col(text, 1000), (3, 1));
    }

    #[test]
    fn error_renders_file_line_col() {
        let err = PriceError::new(
            Location::at("p.toml", "x\ny = -1\n", Some(6..8)),
            PriceErrorKind::Negative {
                key: "y".into(),
                value: -1.0,
            },
        );
        assert_eq!(err.to_string(), "p.toml:2:5: negative price `-1` for `y`");
        assert_eq!(err.location().span(), Some(6..8));
    }
}
