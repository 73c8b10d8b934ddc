//! A small CSV reader for the embedded tables.
//!
//! The embedded files are RFC 4180 CSV with one record per line. Fields borrow from the
//! `&'static` input; only a quoted field holding an escaped quote (`""`) has to be copied.
//! Every problem is an error naming the file and line: nothing is skipped silently.

use std::borrow::Cow;

use crate::error::{DataError, DataErrorKind};

/// One data row of an embedded CSV file.
#[derive(Debug)]
pub(crate) struct Record {
    file: &'static str,
    /// 1-based line number in the file (the header is line 1).
    line: usize,
    header: &'static [&'static str],
    fields: Vec<Cow<'static, str>>,
}

/// Parses `text` (the content of `file`), checks that its header is exactly `header` and that
/// every row has as many fields as the header.
pub(crate) fn records(
    file: &'static str,
    text: &'static str,
    header: &'static [&'static str],
) -> Result<Vec<Record>, DataError> {
    let mut lines = text.split('\n').enumerate();
    let found = match lines.next() {
        Some((_, first)) => parse_line(file, 1, first.trim_end_matches('\r'))?,
        None => Vec::new(),
    };
    if found.iter().map(|f| f.as_ref()).ne(header.iter().copied()) {
        return Err(DataError::new(
            file,
            1,
            DataErrorKind::Header {
                expected: header.join(","),
                found: found.join(","),
            },
        ));
    }
    let mut out = Vec::new();
    for (index, raw) in lines {
        let line = index + 1;
        let raw = raw.trim_end_matches('\r');
        if raw.is_empty() {
            // Blank lines may only trail the data (a final newline).
            let rest_is_blank = text
                .split('\n')
                .skip(index)
                .all(|l| l.trim_end_matches('\r').is_empty());
            if rest_is_blank {
                break;
            }
            return Err(DataError::new(file, line, DataErrorKind::EmptyLine));
        }
        let fields = parse_line(file, line, raw)?;
        if fields.len() != header.len() {
            return Err(DataError::new(
                file,
                line,
                DataErrorKind::FieldCount {
                    expected: header.len(),
                    found: fields.len(),
                },
            ));
        }
        out.push(Record {
            file,
            line,
            header,
            fields,
        });
    }
    Ok(out)
}

/// Splits one line into fields, unquoting quoted fields.
fn parse_line(
    file: &'static str,
    line: usize,
    raw: &'static str,
) -> Result<Vec<Cow<'static, str>>, DataError> {
    let mut fields = Vec::new();
    let mut rest = raw;
    loop {
        if let Some(quoted) = rest.strip_prefix('"') {
            let (value, after) = unquote(quoted)
                .ok_or_else(|| DataError::new(file, line, DataErrorKind::UnterminatedQuote))?;
            fields.push(value);
            match after.strip_prefix(',') {
                Some(next) => rest = next,
                None if after.is_empty() => return Ok(fields),
                None => {
                    return Err(DataError::new(file, line, DataErrorKind::TextAfterQuote));
                }
            }
        } else {
            let (value, next) = match rest.split_once(',') {
                Some((value, next)) => (value, Some(next)),
                None => (rest, None),
            };
            if value.contains('"') {
                return Err(DataError::new(file, line, DataErrorKind::StrayQuote));
            }
            fields.push(Cow::Borrowed(value));
            match next {
                Some(next) => rest = next,
                None => return Ok(fields),
            }
        }
    }
}

/// Reads a quoted field whose opening quote is already consumed. Returns the value and the
/// text after the closing quote, or `None` if the quote is never closed.
fn unquote(quoted: &'static str) -> Option<(Cow<'static, str>, &'static str)> {
    let mut owned: Option<String> = None;
    let mut start = 0;
    let mut search = 0;
    loop {
        let at = search + quoted.get(search..)?.find('"')?;
        let after = quoted.get(at + 1..)?;
        if after.starts_with('"') {
            // An escaped quote: keep the text so far plus one quote.
            let buf = owned.get_or_insert_with(String::new);
            buf.push_str(quoted.get(start..at)?);
            buf.push('"');
            start = at + 2;
            search = at + 2;
        } else {
            let tail = quoted.get(start..at)?;
            let value = match owned {
                Some(mut buf) => {
                    buf.push_str(tail);
                    Cow::Owned(buf)
                }
                None => Cow::Borrowed(tail),
            };
            return Some((value, after));
        }
    }
}

impl Record {
    /// 1-based line number of this row.
    pub(crate) fn line(&self) -> usize {
        self.line
    }

    /// An error about this row.
    pub(crate) fn error(&self, kind: DataErrorKind) -> DataError {
        DataError::new(self.file, self.line, kind)
    }

    /// The header name of column `index`.
    pub(crate) fn column(&self, index: usize) -> &'static str {
        self.header.get(index).copied().unwrap_or("?")
    }

    fn raw(&self, index: usize) -> Result<&Cow<'static, str>, DataError> {
        self.fields.get(index).ok_or_else(|| {
            self.error(DataErrorKind::FieldCount {
                expected: self.header.len(),
                found: self.fields.len(),
            })
        })
    }

    /// A field that may be empty, as a `&'static str` borrowed from the embedded text.
    pub(crate) fn text(&self, index: usize) -> Result<&'static str, DataError> {
        match self.raw(index)? {
            Cow::Borrowed(s) => Ok(s),
            Cow::Owned(_) => Err(self.error(DataErrorKind::EscapedQuote {
                column: self.column(index),
            })),
        }
    }

    /// A field that may hold escaped quotes (and so may need a copy).
    pub(crate) fn text_cow(&self, index: usize) -> Result<Cow<'static, str>, DataError> {
        self.raw(index).cloned()
    }

    /// A field that must not be empty.
    pub(crate) fn required(&self, index: usize) -> Result<&'static str, DataError> {
        let value = self.text(index)?;
        if value.is_empty() {
            return Err(self.error(DataErrorKind::Missing {
                column: self.column(index),
            }));
        }
        Ok(value)
    }

    /// A field that is `None` when empty.
    pub(crate) fn optional(&self, index: usize) -> Result<Option<&'static str>, DataError> {
        let value = self.text(index)?;
        Ok((!value.is_empty()).then_some(value))
    }

    /// A required finite number.
    pub(crate) fn f64(&self, index: usize) -> Result<f64, DataError> {
        let value = self.required(index)?;
        match value.parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(n),
            _ => Err(self.error(DataErrorKind::BadNumber {
                column: self.column(index),
                value: value.to_owned(),
            })),
        }
    }

    /// An optional finite number (`None` when the field is empty).
    pub(crate) fn opt_f64(&self, index: usize) -> Result<Option<f64>, DataError> {
        if self.text(index)?.is_empty() {
            return Ok(None);
        }
        self.f64(index).map(Some)
    }

    /// A required unsigned integer.
    pub(crate) fn u64(&self, index: usize) -> Result<u64, DataError> {
        let value = self.required(index)?;
        value.parse::<u64>().map_err(|_| {
            self.error(DataErrorKind::BadNumber {
                column: self.column(index),
                value: value.to_owned(),
            })
        })
    }

    /// An optional unsigned integer.
    pub(crate) fn opt_u64(&self, index: usize) -> Result<Option<u64>, DataError> {
        if self.text(index)?.is_empty() {
            return Ok(None);
        }
        self.u64(index).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &[&str] = &["a", "b", "c"];

    #[test]
    fn plain_and_quoted_fields() {
        let rows = records("t.csv", "a,b,c\n1,\"x, y\",\"say \"\"hi\"\"\"\n", HEADER).unwrap();
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!(row.line(), 2);
        assert_eq!(row.text(0).unwrap(), "1");
        assert_eq!(row.text(1).unwrap(), "x, y");
        assert_eq!(row.text_cow(2).unwrap(), "say \"hi\"");
        assert!(row.text(2).is_err(), "an escaped quote cannot be borrowed");
    }

    #[test]
    fn empty_fields_and_crlf() {
        let rows = records("t.csv", "a,b,c\r\n,,\r\n", HEADER).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].optional(0).unwrap(), None);
        assert_eq!(rows[0].opt_f64(2).unwrap(), None);
        assert!(rows[0].required(1).is_err());
    }

    #[test]
    fn wrong_header_is_an_error() {
        let err = records("t.csv", "a,b\n1,2\n", HEADER).unwrap_err();
        assert_eq!(err.line(), 1);
        assert!(err.to_string().contains("header"), "{err}");
    }

    #[test]
    fn wrong_field_count_names_the_line() {
        let err = records("t.csv", "a,b,c\n1,2,3\n1,2\n", HEADER).unwrap_err();
        assert_eq!(err.line(), 3);
        assert_eq!(err.file(), "t.csv");
    }

    #[test]
    fn blank_line_inside_is_an_error() {
        let err = records("t.csv", "a,b,c\n1,2,3\n\n4,5,6\n", HEADER).unwrap_err();
        assert_eq!(err.line(), 3);
    }

    #[test]
    fn quote_errors() {
        assert!(records("t.csv", "a,b,c\n\"1,2,3\n", HEADER).is_err());
        assert!(records("t.csv", "a,b,c\n\"1\"x,2,3\n", HEADER).is_err());
        assert!(records("t.csv", "a,b,c\n1\"x,2,3\n", HEADER).is_err());
    }

    #[test]
    fn bad_numbers() {
        let rows = records("t.csv", "a,b,c\nx,1e999,-3\n", HEADER).unwrap();
        assert!(rows[0].f64(0).is_err());
        assert!(rows[0].f64(1).is_err(), "infinity is rejected");
        assert!(rows[0].u64(2).is_err());
        assert_eq!(rows[0].f64(2).unwrap(), -3.0);
    }
}
