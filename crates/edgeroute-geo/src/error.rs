//! Errors found while parsing the embedded tables.
//!
//! The embedded data is checked by this crate's tests, so none of these can occur in a released
//! build; they exist so that a bad edit of a data file is reported with its file and line
//! instead of being skipped or causing a panic.

/// A problem in one of the embedded data files, with the file name and 1-based line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}:{line}: {kind}")]
pub struct DataError {
    file: &'static str,
    line: usize,
    kind: DataErrorKind,
}

impl DataError {
    pub(crate) fn new(file: &'static str, line: usize, kind: DataErrorKind) -> Self {
        Self { file, line, kind }
    }

    /// The embedded file's name, such as `countries.csv`.
    #[must_use]
    pub fn file(&self) -> &'static str {
        self.file
    }

    /// The 1-based line of the problem (the header is line 1).
    #[must_use]
    pub fn line(&self) -> usize {
        self.line
    }

    /// What is wrong.
    #[must_use]
    pub fn kind(&self) -> &DataErrorKind {
        &self.kind
    }
}

/// What is wrong with a line of an embedded data file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DataErrorKind {
    /// The header is not the one the parser was written for.
    #[error("unexpected header `{found}`, expected `{expected}`")]
    Header {
        /// The expected header line.
        expected: String,
        /// The header found.
        found: String,
    },
    /// A row has the wrong number of fields.
    #[error("expected {expected} fields, found {found}")]
    FieldCount {
        /// Fields in the header.
        expected: usize,
        /// Fields in this row.
        found: usize,
    },
    /// A blank line before the end of the file.
    #[error("blank line inside the data")]
    EmptyLine,
    /// A quoted field is never closed.
    #[error("unterminated quoted field")]
    UnterminatedQuote,
    /// Text follows the closing quote of a field.
    #[error("text after the closing quote of a field")]
    TextAfterQuote,
    /// A quote inside an unquoted field.
    #[error("quote inside an unquoted field")]
    StrayQuote,
    /// An escaped quote in a field that must be borrowed from the embedded text.
    #[error("escaped quote in column `{column}` is not supported")]
    EscapedQuote {
        /// The column.
        column: &'static str,
    },
    /// A required field is empty.
    #[error("column `{column}` is empty")]
    Missing {
        /// The column.
        column: &'static str,
    },
    /// A field is not a valid number of the expected kind.
    #[error("column `{column}`: `{value}` is not a valid number")]
    BadNumber {
        /// The column.
        column: &'static str,
        /// The text found.
        value: String,
    },
    /// A field holds a value outside its allowed set or range.
    #[error("column `{column}`: invalid value `{value}` ({reason})")]
    Invalid {
        /// The column.
        column: &'static str,
        /// The text found.
        value: String,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// A key appears twice.
    #[error("duplicate key `{key}`")]
    Duplicate {
        /// The repeated key.
        key: String,
    },
    /// A row refers to a key that another table does not hold.
    #[error("column `{column}`: unknown {table} key `{value}`")]
    UnknownReference {
        /// The column.
        column: &'static str,
        /// The table that should hold the key.
        table: &'static str,
        /// The key.
        value: String,
    },
    /// The rows are not sorted by their key (lookups use binary search).
    #[error("key `{key}` is out of order")]
    Unsorted {
        /// The first key found out of order.
        key: String,
    },
}
