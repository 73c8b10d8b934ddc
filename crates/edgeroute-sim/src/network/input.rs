//! Small user-supplied CSV files (RTT matrices, point lists): reading with positions.
//!
//! Both formats are plain CSV with a fixed header, `#` comment lines and blank lines allowed.
//! Every error names the file, line and column, and carries the byte span of the offending field
//! so a front end can underline it.

use std::ops::Range;

/// An error in a user-supplied CSV file, with its position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}:{line}:{column}: {message}")]
pub struct InputError {
    origin: String,
    line: usize,
    column: usize,
    span: Range<usize>,
    message: String,
}

impl InputError {
    /// The file name (or other origin label) given to the parser.
    #[must_use]
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// 1-based line.
    #[must_use]
    pub fn line(&self) -> usize {
        self.line
    }

    /// 1-based column (in characters) of the offending field.
    #[must_use]
    pub fn column(&self) -> usize {
        self.column
    }

    /// Byte range of the offending field in the input (empty at the end of a short row).
    #[must_use]
    pub fn span(&self) -> Range<usize> {
        self.span.clone()
    }

    /// What is wrong, without the position.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// One field of a row, with its place in the input.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field<'a> {
    /// The text, trimmed of surrounding spaces.
    pub(crate) text: &'a str,
    /// Byte offset of the field's first character in the whole input.
    pub(crate) offset: usize,
}

/// One data row.
#[derive(Debug)]
pub(crate) struct Row<'a> {
    origin: &'a str,
    input: &'a str,
    /// 1-based line.
    pub(crate) line: usize,
    line_start: usize,
    line_end: usize,
    pub(crate) fields: Vec<Field<'a>>,
}

impl Row<'_> {
    /// An error pointing at field `index` (or the end of the line if there is no such field).
    pub(crate) fn error_at(&self, index: usize, message: impl Into<String>) -> InputError {
        let (start, end) = match self.fields.get(index) {
            Some(f) => (f.offset, f.offset + f.text.len()),
            None => (self.line_end, self.line_end),
        };
        make_error(
            self.origin,
            self.input,
            self.line,
            self.line_start,
            start..end,
            message,
        )
    }
}

fn make_error(
    origin: &str,
    input: &str,
    line: usize,
    line_start: usize,
    span: Range<usize>,
    message: impl Into<String>,
) -> InputError {
    let column = input
        .get(line_start..span.start)
        .map_or(1, |prefix| prefix.chars().count() + 1);
    InputError {
        origin: origin.to_owned(),
        line,
        column,
        span,
        message: message.into(),
    }
}

/// Splits `input` into rows of comma-separated fields after checking the header is `header`
/// (compared case-insensitively, spaces ignored). Blank lines and lines starting with `#` are
/// skipped. Quoting is not supported: a field holding `"` is an error, so a name cannot be
/// silently mangled.
pub(crate) fn rows<'a>(
    origin: &'a str,
    input: &'a str,
    header: &[&str],
) -> Result<Vec<Row<'a>>, InputError> {
    let mut rows = Vec::new();
    let mut saw_header = false;
    let mut offset = 0;
    for (index, raw_line) in input.split_inclusive('\n').enumerate() {
        let line_start = offset;
        offset += raw_line.len();
        let content = raw_line.trim_end_matches(['\n', '\r']);
        let line = index + 1;
        let trimmed = content.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut fields = Vec::new();
        let mut field_start = line_start;
        for part in content.split(',') {
            let lead = part.len() - part.trim_start().len();
            fields.push(Field {
                text: part.trim(),
                offset: field_start + lead,
            });
            field_start += part.len() + 1;
        }
        let row = Row {
            origin,
            input,
            line,
            line_start,
            line_end: line_start + content.len(),
            fields,
        };
        if let Some(i) = row.fields.iter().position(|f| f.text.contains('"')) {
            return Err(row.error_at(i, "quoted fields are not supported; remove the quotes"));
        }
        if !saw_header {
            saw_header = true;
            let matches = row.fields.len() == header.len()
                && row
                    .fields
                    .iter()
                    .zip(header)
                    .all(|(f, h)| f.text.eq_ignore_ascii_case(h));
            if !matches {
                return Err(row.error_at(0, format!("expected the header `{}`", header.join(","))));
            }
            continue;
        }
        if row.fields.len() != header.len() {
            let index = header.len().min(row.fields.len());
            return Err(row.error_at(
                index,
                format!(
                    "expected {} fields (`{}`), found {}",
                    header.len(),
                    header.join(","),
                    row.fields.len()
                ),
            ));
        }
        rows.push(row);
    }
    if !saw_header {
        let end = input.len();
        let line = input.lines().count().max(1);
        let line_start = input.rfind('\n').map_or(0, |i| i + 1).min(end);
        return Err(make_error(
            origin,
            input,
            line,
            line_start,
            end..end,
            format!("empty file: expected the header `{}`", header.join(",")),
        ));
    }
    Ok(rows)
}

/// Parses field `index` of `row` as a finite number.
pub(crate) fn number(row: &Row<'_>, index: usize, what: &str) -> Result<f64, InputError> {
    let text = row.fields.get(index).map_or("", |f| f.text);
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(row.error_at(index, format!("{what} `{text}` is not a finite number"))),
    }
}

/// Field `index`'s text (empty if the row is short, which [`rows`] rules out).
pub(crate) fn text<'a>(row: &Row<'a>, index: usize) -> &'a str {
    row.fields.get(index).map_or("", |f| f.text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_point_at_the_field() {
        let input = "a,b\n# note\n\nx, yy\n1,2,3\n";
        let err = rows("f.csv", input, &["a", "b"]).unwrap_err();
        assert_eq!((err.line(), err.column()), (5, 5));
        assert_eq!(
            err.to_string(),
            "f.csv:5:5: expected 2 fields (`a,b`), found 3"
        );
        let ok = rows("f.csv", "a,b\nx, yy\n", &["a", "b"]).unwrap();
        let f = ok[0].fields[1];
        assert_eq!(f.text, "yy");
        assert_eq!(&"a,b\nx, yy\n"[f.offset..f.offset + 2], "yy");
        let e = ok[0].error_at(1, "bad");
        assert_eq!((e.line(), e.column(), e.span()), (2, 4, 7..9));
    }

    #[test]
    fn header_is_required() {
        let err = rows("f.csv", "x,1,2\n", &["name", "lat", "lon"]).unwrap_err();
        assert_eq!((err.line(), err.column()), (1, 1));
        assert!(err.message().contains("name,lat,lon"));
        let err = rows("f.csv", "", &["a"]).unwrap_err();
        assert!(err.message().contains("empty file"));
        assert!(rows("f.csv", " Name , LAT,lon\r\n", &["name", "lat", "lon"]).is_ok());
    }

    #[test]
    fn quotes_are_rejected() {
        let err = rows("f.csv", "a,b\n\"x\",1\n", &["a", "b"]).unwrap_err();
        assert_eq!((err.line(), err.column()), (2, 1));
    }

    #[test]
    fn columns_count_characters() {
        let err = rows("f.csv", "a,b\nZürich,x,y\n", &["a", "b"]).unwrap_err();
        assert_eq!(err.column(), 10);
    }
}
