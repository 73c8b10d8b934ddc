//! Streaming CSV request traces.
//!
//! A trace is CSV with at least the columns `timestamp,key,size` and optionally
//! `host,path,method,client_ip,country,status`:
//!
//! ```text
//! timestamp,key,size,host,path
//! 0,17,4096,api.example.com,/static/app.js
//! 1,/img/logo.png,1200,api.example.com,/img/logo.png
//! ```
//!
//! - The first row is a header if none of its fields is an integer; it names the columns, in any
//!   order (names are case-insensitive; an unknown or repeated name is an error). Without a
//!   header the columns are positional, in the order above.
//! - `timestamp` is a non-negative integer in the trace's own unit; `size` is a byte count
//!   `0..=4294967295`; `key` is a non-negative integer used as is, or any other non-empty string,
//!   hashed to a `u64` with a fixed hash (64-bit FNV-1a), so every run sees the same keys.
//! - `client_ip` is an IPv4 or IPv6 address and `status` an HTTP status `100..=599`; empty
//!   optional fields are absent.
//!
//! The reader streams: it holds one record at a time, so memory does not grow with the trace.
//! A bad row is an error naming its line and column ([`TraceError`]); with
//! [`TraceOptions::skip_bad_rows`] bad rows are skipped and counted instead
//! ([`TraceReader::skipped_rows`]).
//!
//! ```
//! use edgeroute_sim::trace::{TraceOptions, TraceReader};
//!
//! let csv = "timestamp,key,size\n0,1,100\n1,two,200\n2,1,100\n";
//! let mut reader = TraceReader::from_reader(csv.as_bytes(), TraceOptions::default())?;
//! let mut sizes = 0;
//! while let Some(req) = reader.next_request()? {
//!     sizes += u64::from(req.size);
//! }
//! assert_eq!(sizes, 400);
//! # Ok::<(), edgeroute_sim::trace::TraceError>(())
//! ```

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::net::IpAddr;
use std::path::Path;

use csv::ByteRecord;

mod lines;

use lines::{Next, SplitError, Splitter, fill_record};

/// How to read a trace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TraceOptions {
    /// Skip rows that do not parse (counting them) instead of failing on the first.
    pub skip_bad_rows: bool,
}

/// A trace column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    /// `timestamp`: required.
    Timestamp,
    /// `key`: required.
    Key,
    /// `size`: required.
    Size,
    /// `host`.
    Host,
    /// `path`.
    Path,
    /// `method`.
    Method,
    /// `client_ip`.
    ClientIp,
    /// `country`.
    Country,
    /// `status`.
    Status,
}

impl Column {
    /// Every column, in positional (headerless) order.
    pub const ALL: [Self; 9] = [
        Self::Timestamp,
        Self::Key,
        Self::Size,
        Self::Host,
        Self::Path,
        Self::Method,
        Self::ClientIp,
        Self::Country,
        Self::Status,
    ];

    /// The column's header name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Timestamp => "timestamp",
            Self::Key => "key",
            Self::Size => "size",
            Self::Host => "host",
            Self::Path => "path",
            Self::Method => "method",
            Self::ClientIp => "client_ip",
            Self::Country => "country",
            Self::Status => "status",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name.trim()))
    }

    const fn slot(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One request of a trace. String fields borrow from the reader's current record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceRequest<'a> {
    /// The 1-based line the row starts on.
    pub line: u64,
    /// When the request arrives, in the trace's unit.
    pub timestamp: u64,
    /// The object's key (numeric keys as given, string keys hashed).
    pub key: u64,
    /// The object's size in bytes.
    pub size: u32,
    /// `host`, if the column exists and the field is not empty.
    pub host: Option<&'a str>,
    /// `path`.
    pub path: Option<&'a str>,
    /// `method`.
    pub method: Option<&'a str>,
    /// `client_ip`.
    pub client_ip: Option<IpAddr>,
    /// `country`.
    pub country: Option<&'a str>,
    /// `status`.
    pub status: Option<u16>,
}

/// What is wrong with a trace.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TraceErrorKind {
    /// The file could not be read.
    #[error("cannot read trace: {0}")]
    Io(#[source] std::io::Error),
    /// The CSV itself is malformed.
    #[error("malformed CSV: {0}")]
    Csv(String),
    /// The header names a column this format does not have.
    #[error(
        "unknown column `{name}` in header (known: timestamp, key, size, host, path, method, client_ip, country, status)"
    )]
    UnknownColumn {
        /// The name.
        name: String,
    },
    /// The header names a column twice.
    #[error("column `{0}` appears twice in header")]
    DuplicateColumn(Column),
    /// A line longer than 1 MiB.
    #[error("line longer than 1 MiB")]
    LineTooLong,
    /// The header lacks a required column.
    #[error("header has no `{0}` column (required: timestamp, key, size)")]
    MissingColumn(Column),
    /// A headerless trace row with too few or too many fields.
    #[error("expected {expected} fields, found {found}")]
    FieldCount {
        /// Fields the header (or the first row) has.
        expected: usize,
        /// Fields this row has.
        found: usize,
    },
    /// A field that does not parse.
    #[error("bad {column} `{value}`: {expected}")]
    BadField {
        /// The column.
        column: Column,
        /// The field as written (lossily decoded).
        value: String,
        /// What was expected.
        expected: &'static str,
    },
}

/// A trace error, with the 1-based line and column (for unquoted fields) where it was found.
///
/// Its message gives the column in characters, as every other error of the project does;
/// [`TraceError::column`] is the byte column, for a caret under the row's bytes.
#[derive(Debug, thiserror::Error)]
#[error("line {line}:{char_column}: {kind}")]
pub struct TraceError {
    line: u64,
    column: usize,
    char_column: usize,
    len: usize,
    #[source]
    kind: TraceErrorKind,
}

impl TraceError {
    /// 1-based line (0 if unknown, e.g. an error opening the file).
    #[must_use]
    pub fn line(&self) -> u64 {
        self.line
    }

    /// 1-based byte column of the offending field in its row.
    #[must_use]
    pub fn column(&self) -> usize {
        self.column
    }

    /// 1-based column of the offending field in characters (UTF-8; a byte that is not valid
    /// UTF-8 counts as one).
    #[must_use]
    pub fn char_column(&self) -> usize {
        self.char_column
    }

    /// Length in bytes of the offending field (for a caret), at least 1.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len.max(1)
    }

    /// Never true: a span is at least one byte. (Present because `len` is.)
    #[must_use]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// What went wrong.
    #[must_use]
    pub fn kind(&self) -> &TraceErrorKind {
        &self.kind
    }

    fn io(err: std::io::Error) -> Self {
        Self {
            line: 0,
            column: 1,
            char_column: 1,
            len: 1,
            kind: TraceErrorKind::Io(err),
        }
    }

    fn split(err: SplitError) -> Self {
        let (line, kind) = match err {
            SplitError::Io(e) => (0, TraceErrorKind::Io(e)),
            SplitError::TooLong(line) => (line, TraceErrorKind::LineTooLong),
            SplitError::Csv(line, message) => (line, TraceErrorKind::Csv(message)),
        };
        Self {
            line,
            column: 1,
            char_column: 1,
            len: 1,
            kind,
        }
    }
}

/// 64-bit FNV-1a: the fixed hash for string keys.
#[must_use]
pub fn hash_string_key(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Parses an unsigned decimal integer with no sign, spaces or leading `+`.
#[inline]
fn parse_u64(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() || bytes.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &b in bytes {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d))?;
    }
    Some(v)
}

/// Streams requests from a CSV trace.
#[derive(Debug)]
pub struct TraceReader<R> {
    source: Splitter<R>,
    record: ByteRecord,
    /// Field index of each [`Column`] (by `Column::slot`), if present.
    columns: [Option<usize>; 9],
    fields: usize,
    /// A headerless trace's first row, read while looking for a header.
    pending: bool,
    /// Field positions of timestamp, key and size when those are the only columns: plain lines
    /// are then parsed in place, without filling `record`.
    plain3: Option<[usize; 3]>,
    options: TraceOptions,
    skipped: u64,
    requests: u64,
}

impl TraceReader<File> {
    /// Opens the trace at `path`.
    ///
    /// # Errors
    /// If the file cannot be opened, or its header is invalid.
    pub fn open(path: impl AsRef<Path>, options: TraceOptions) -> Result<Self, TraceError> {
        let file = File::open(path).map_err(TraceError::io)?;
        Self::from_reader(file, options)
    }
}

impl<R: Read> TraceReader<R> {
    /// Reads a trace from `reader` (buffered internally), reading the header now.
    ///
    /// # Errors
    /// If the header is invalid or the first row cannot be read.
    pub fn from_reader(reader: R, options: TraceOptions) -> Result<Self, TraceError> {
        let mut this = Self {
            source: Splitter::new(reader),
            record: ByteRecord::new(),
            columns: [None; 9],
            fields: 0,
            pending: false,
            plain3: None,
            options,
            skipped: 0,
            requests: 0,
        };
        this.read_header()?;
        if this.fields == 3
            && let (Some(t), Some(k), Some(s)) = (
                this.column(Column::Timestamp),
                this.column(Column::Key),
                this.column(Column::Size),
            )
        {
            this.plain3 = Some([t, k, s]);
        }
        Ok(this)
    }

    /// Reads the next record into `self.record`; false at end of input.
    fn read_record(&mut self) -> Result<bool, TraceError> {
        match self
            .source
            .read(&mut self.record)
            .map_err(TraceError::split)?
        {
            Next::Plain(line_no, line) => {
                fill_record(&mut self.record, line, line_no);
                Ok(true)
            }
            Next::Record => Ok(true),
            Next::Eof => Ok(false),
        }
    }

    fn read_header(&mut self) -> Result<(), TraceError> {
        if !self.read_record()? {
            return Ok(()); // empty trace
        }
        let line = self.record.position().map_or(1, csv::Position::line);
        let is_header = self.record.iter().all(|f| parse_u64(trim(f)).is_none());
        self.fields = self.record.len();
        if !is_header {
            // Positional: timestamp, key, size, then the optional columns in order.
            for (i, col) in Column::ALL.iter().enumerate().take(self.fields) {
                if let Some(slot) = self.columns.get_mut(col.slot()) {
                    *slot = Some(i);
                }
            }
            if self.fields < 3 || self.fields > Column::ALL.len() {
                let found = self.fields;
                self.fields = found.clamp(3, Column::ALL.len());
                return Err(self.field_error(
                    line,
                    0,
                    TraceErrorKind::FieldCount {
                        expected: self.fields,
                        found,
                    },
                ));
            }
            self.pending = true;
            return Ok(());
        }
        for (i, name) in self.record.iter().enumerate() {
            let text = String::from_utf8_lossy(name);
            let Some(col) = Column::from_name(&text) else {
                return Err(self.field_error(
                    line,
                    i,
                    TraceErrorKind::UnknownColumn {
                        name: text.into_owned(),
                    },
                ));
            };
            let slot = self.columns.get_mut(col.slot());
            match slot {
                Some(Some(_)) => {
                    return Err(self.field_error(line, i, TraceErrorKind::DuplicateColumn(col)));
                }
                Some(slot) => *slot = Some(i),
                None => {}
            }
        }
        for col in [Column::Timestamp, Column::Key, Column::Size] {
            if self.column(col).is_none() {
                return Err(TraceError {
                    line,
                    column: 1,
                    char_column: 1,
                    len: 1,
                    kind: TraceErrorKind::MissingColumn(col),
                });
            }
        }
        Ok(())
    }

    fn column(&self, col: Column) -> Option<usize> {
        self.columns.get(col.slot()).copied().flatten()
    }

    /// An error at field `field` of the current record.
    fn field_error(&self, line: u64, field: usize, kind: TraceErrorKind) -> TraceError {
        // Column of an unquoted field: the fields before it plus their commas, in bytes and in
        // characters (every byte but a UTF-8 continuation byte starts one).
        let mut column = 1;
        let mut char_column = 1;
        for f in self.record.iter().take(field) {
            column += f.len() + 1;
            char_column += f.iter().filter(|&&b| b & 0xc0 != 0x80).count() + 1;
        }
        let len = self.record.get(field).map_or(1, <[u8]>::len);
        TraceError {
            line,
            column,
            char_column,
            len,
            kind,
        }
    }

    /// Rows skipped so far because they did not parse (with [`TraceOptions::skip_bad_rows`]).
    #[must_use]
    pub fn skipped_rows(&self) -> u64 {
        self.skipped
    }

    /// Requests returned so far.
    #[must_use]
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// Whether the trace has the optional `col`.
    #[must_use]
    pub fn has_column(&self, col: Column) -> bool {
        self.column(col).is_some()
    }

    /// The next request, or `None` at the end of the trace.
    ///
    /// # Errors
    /// On a read error, malformed CSV, or (unless skipping bad rows) a bad row.
    pub fn next_request(&mut self) -> Result<Option<TraceRequest<'_>>, TraceError> {
        if !self.pending
            && let Some(cols) = self.plain3
            && let Some((line_no, [timestamp, key, size])) = self.source.plain_digits3(cols)
        {
            self.requests += 1;
            return Ok(Some(TraceRequest::plain(line_no, timestamp, key, size)));
        }
        let row = loop {
            if self.pending {
                self.pending = false;
            } else {
                match self
                    .source
                    .read(&mut self.record)
                    .map_err(TraceError::split)?
                {
                    Next::Eof => return Ok(None),
                    Next::Record => {}
                    Next::Plain(line_no, line) => {
                        // The fast path: a plain `timestamp,key,size` line parsed in place.
                        if let Some(cols) = self.plain3
                            && let Some([timestamp, key, size]) = parse_plain3(line, cols)
                        {
                            self.requests += 1;
                            return Ok(Some(TraceRequest::plain(line_no, timestamp, key, size)));
                        }
                        fill_record(&mut self.record, line, line_no);
                    }
                }
            }
            match self.parse_row() {
                Ok(row) => break row,
                Err(_) if self.options.skip_bad_rows => self.skipped += 1,
                Err(e) => return Err(e),
            }
        };
        self.requests += 1;
        Ok(Some(TraceRequest {
            line: row.line,
            timestamp: row.timestamp,
            key: row.key,
            size: row.size,
            host: self.text(Column::Host),
            path: self.text(Column::Path),
            method: self.text(Column::Method),
            client_ip: row.client_ip,
            country: self.text(Column::Country),
            status: row.status,
        }))
    }

    /// A text field of the current (validated) record; `None` if absent or empty.
    fn text(&self, col: Column) -> Option<&str> {
        let f = trim(self.record.get(self.column(col)?)?);
        if f.is_empty() {
            None
        } else {
            std::str::from_utf8(f).ok()
        }
    }

    /// Validates the current record and parses its non-text fields.
    fn parse_row(&self) -> Result<Row, TraceError> {
        let rec = &self.record;
        let line = rec.position().map_or(0, csv::Position::line);
        if rec.len() != self.fields {
            return Err(self.field_error(
                line,
                0,
                TraceErrorKind::FieldCount {
                    expected: self.fields,
                    found: rec.len(),
                },
            ));
        }
        let field = |col: Column| -> Option<(usize, &[u8])> {
            let i = self.column(col)?;
            rec.get(i).map(|f| (i, f))
        };
        let bad = |col: Column, i: usize, value: &[u8], expected: &'static str| {
            self.field_error(
                line,
                i,
                TraceErrorKind::BadField {
                    column: col,
                    value: String::from_utf8_lossy(value).into_owned(),
                    expected,
                },
            )
        };
        let (ti, tf) = field(Column::Timestamp).unwrap_or((0, b""));
        let timestamp = parse_u64(trim(tf))
            .ok_or_else(|| bad(Column::Timestamp, ti, tf, "expected a non-negative integer"))?;
        let (ki, kf) = field(Column::Key).unwrap_or((1, b""));
        let kt = trim(kf);
        if kt.is_empty() {
            return Err(bad(Column::Key, ki, kf, "expected a non-empty key"));
        }
        let key = parse_u64(kt).unwrap_or_else(|| hash_string_key(kt));
        let (si, sf) = field(Column::Size).unwrap_or((2, b""));
        let size = parse_u64(trim(sf))
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| bad(Column::Size, si, sf, "expected an integer 0..=4294967295"))?;
        let text = |col: Column| -> Result<Option<&[u8]>, TraceError> {
            match field(col) {
                None => Ok(None),
                Some((i, f)) => {
                    let f = trim(f);
                    if f.is_empty() {
                        return Ok(None);
                    }
                    std::str::from_utf8(f)
                        .map(|_| Some(f))
                        .map_err(|_| bad(col, i, f, "expected UTF-8 text"))
                }
            }
        };
        for col in [Column::Host, Column::Path, Column::Method, Column::Country] {
            text(col)?;
        }
        let client_ip = match text(Column::ClientIp)? {
            None => None,
            Some(s) => Some(parse_ip(s).ok_or_else(|| {
                let (i, f) = field(Column::ClientIp).unwrap_or((0, b""));
                bad(Column::ClientIp, i, f, "expected an IPv4 or IPv6 address")
            })?),
        };
        let status = match field(Column::Status) {
            Some((i, f)) if !trim(f).is_empty() => Some(
                parse_u64(trim(f))
                    .and_then(|v| u16::try_from(v).ok())
                    .filter(|v| (100..=599).contains(v))
                    .ok_or_else(|| {
                        bad(Column::Status, i, f, "expected an HTTP status 100..=599")
                    })?,
            ),
            _ => None,
        };
        Ok(Row {
            line,
            timestamp,
            key,
            size,
            client_ip,
            status,
        })
    }
}

impl TraceRequest<'static> {
    fn plain(line: u64, timestamp: u64, key: u64, size: u64) -> Self {
        Self {
            line,
            timestamp,
            key,
            // INVARIANT: parse_plain3 checked the size fits.
            size: u32::try_from(size).unwrap_or(u32::MAX),
            host: None,
            path: None,
            method: None,
            client_ip: None,
            country: None,
            status: None,
        }
    }
}

/// Parses a quote-free line of exactly three fields into [timestamp, key, size] (by field
/// positions `cols`), or `None` if anything is unusual (the general path then parses it and
/// names the error).
#[inline]
fn parse_plain3(line: &[u8], cols: [usize; 3]) -> Option<[u64; 3]> {
    let mut fields = line.splitn(4, |&b| b == b',');
    let f = [fields.next()?, fields.next()?, fields.next()?];
    if fields.next().is_some() {
        return None;
    }
    let [t, k, s] = cols.map(|i| f.get(i).map(|f| trim(f)));
    let (t, k, s) = (t?, k?, s?);
    let timestamp = parse_u64(t)?;
    let size = parse_u64(s).filter(|&v| v <= u64::from(u32::MAX))?;
    if k.is_empty() {
        return None;
    }
    let key = parse_u64(k).unwrap_or_else(|| hash_string_key(k));
    Some([timestamp, key, size])
}

/// The parsed non-text fields of a valid row.
struct Row {
    line: u64,
    timestamp: u64,
    key: u64,
    size: u32,
    client_ip: Option<IpAddr>,
    status: Option<u16>,
}

fn parse_ip(bytes: &[u8]) -> Option<IpAddr> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

#[inline]
fn trim(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;

    type Requests = Vec<(u64, u64, u32)>;

    fn read_all(csv: &str, options: TraceOptions) -> Result<(Requests, u64), TraceError> {
        let mut r = TraceReader::from_reader(csv.as_bytes(), options)?;
        let mut out = Vec::new();
        while let Some(req) = r.next_request()? {
            out.push((req.timestamp, req.key, req.size));
        }
        Ok((out, r.skipped_rows()))
    }

    #[test]
    fn header_and_positional() {
        let with = read_all(
            "timestamp,key,size\n0,5,10\n1,6,20\n",
            TraceOptions::default(),
        )
        .unwrap();
        let without = read_all("0,5,10\n1,6,20\n", TraceOptions::default()).unwrap();
        assert_eq!(with, without);
        assert_eq!(with.0, [(0, 5, 10), (1, 6, 20)]);
        let reordered = read_all("Size,KEY,timestamp\n10,5,0\n", TraceOptions::default()).unwrap();
        assert_eq!(reordered.0, [(0, 5, 10)]);
        assert_eq!(read_all("", TraceOptions::default()).unwrap().0, []);
        assert_eq!(
            read_all("timestamp,key,size\n", TraceOptions::default())
                .unwrap()
                .0,
            []
        );
    }

    #[test]
    fn string_keys_hash_stably() {
        let (reqs, _) = read_all(
            "timestamp,key,size\n0,/a.png,1\n1,/a.png,1\n2,7,1\n",
            TraceOptions::default(),
        )
        .unwrap();
        assert_eq!(reqs[0].1, reqs[1].1);
        assert_eq!(reqs[0].1, hash_string_key(b"/a.png"));
        assert_eq!(hash_string_key(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(
            hash_string_key(b"a"),
            0xaf63_dc4c_8601_ec8c,
            "FNV-1a test vector"
        );
        assert_eq!(reqs[2].1, 7);
    }

    #[test]
    fn optional_columns() {
        let csv = "timestamp,key,size,host,path,method,client_ip,country,status\n\
                   5,1,2,a.com,/x,GET,2001:db8::1,DE,200\n6,1,2,,,,,,\n";
        let mut r = TraceReader::from_reader(csv.as_bytes(), TraceOptions::default()).unwrap();
        let req = r.next_request().unwrap().unwrap();
        assert_eq!(req.host, Some("a.com"));
        assert_eq!(req.path, Some("/x"));
        assert_eq!(req.method, Some("GET"));
        assert_eq!(req.client_ip, Some("2001:db8::1".parse().unwrap()));
        assert_eq!(req.country, Some("DE"));
        assert_eq!(req.status, Some(200));
        assert_eq!(req.line, 2);
        let req = r.next_request().unwrap().unwrap();
        assert_eq!((req.host, req.client_ip, req.status), (None, None, None));
        assert!(r.next_request().unwrap().is_none());
    }

    #[test]
    fn columns_count_characters_in_the_message_and_bytes_for_the_caret() {
        let csv = "timestamp,key,size\n1,\u{fc}\u{fc},x1\n";
        let e = read_all(csv, TraceOptions::default()).unwrap_err();
        assert_eq!(
            (e.line(), e.column(), e.char_column(), e.len()),
            (2, 8, 6, 2)
        );
        assert!(e.to_string().starts_with("line 2:6: bad size `x1`"), "{e}");
    }

    #[test]
    fn bad_rows_name_line_and_column() {
        let csv = "timestamp,key,size\n0,1,10\n1,2,ten\n2,3,30\n";
        let e = read_all(csv, TraceOptions::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 3:5: bad size `ten`: expected an integer 0..=4294967295"
        );
        assert_eq!((e.line(), e.column(), e.len()), (3, 5, 3));
        let (reqs, skipped) = read_all(
            csv,
            TraceOptions {
                skip_bad_rows: true,
            },
        )
        .unwrap();
        assert_eq!((reqs.len(), skipped), (2, 1));
    }

    #[test]
    fn every_kind_of_bad_row() {
        let cases = [
            (
                "timestamp,key,size\n-1,1,1\n",
                "line 2:1: bad timestamp `-1`",
            ),
            (
                "timestamp,key,size\n1.5,1,1\n",
                "line 2:1: bad timestamp `1.5`",
            ),
            ("timestamp,key,size\n1,,1\n", "line 2:3: bad key ``"),
            (
                "timestamp,key,size\n1,1,4294967296\n",
                "line 2:5: bad size `4294967296`",
            ),
            (
                "timestamp,key,size\n1,1\n",
                "line 2:1: expected 3 fields, found 2",
            ),
            (
                "timestamp,key,size\n1,1,1,1\n",
                "line 2:1: expected 3 fields, found 4",
            ),
            (
                "timestamp,key,size,client_ip\n1,1,1,300.1.1.1\n",
                "line 2:7: bad client_ip `300.1.1.1`",
            ),
            (
                "timestamp,key,size,status\n1,1,1,99\n",
                "line 2:7: bad status `99`",
            ),
            (
                "timestamp,key,size,color\n",
                "line 1:20: unknown column `color`",
            ),
            (
                "timestamp,key,size,key\n",
                "line 1:20: column `key` appears twice",
            ),
            ("timestamp,key\n", "line 1:1: header has no `size` column"),
            ("1,2\n", "line 1:1: expected 3 fields, found 2"),
        ];
        for (csv, want) in cases {
            let e = read_all(csv, TraceOptions::default()).unwrap_err();
            assert!(
                e.to_string().starts_with(want),
                "{csv:?}: got {e}, want {want}"
            );
        }
    }

    #[test]
    fn parse_u64_edges() {
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b"+1"), None);
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"007"), Some(7));
    }

    /// One field as written in a generated trace: digits (maybe zero-padded or spaced), a
    /// string, or something else.
    fn field_text(v: u64, style: u8) -> String {
        match style % 8 {
            0 => format!("{v:0>22}"),
            1 => format!(" {v}"),
            2 => format!("k{v}"),
            3 => String::new(),
            4 => format!("{v}0000000000000000000"),
            _ => v.to_string(),
        }
    }

    /// The documented meaning of a field, independent of the reader's fast paths.
    fn expected_row(fields: [&str; 3]) -> Option<(u64, u64, u32)> {
        let [t, k, s] = fields.map(str::trim);
        let t = parse_u64(t.as_bytes())?;
        if k.is_empty() {
            return None;
        }
        let k = parse_u64(k.as_bytes()).unwrap_or_else(|| hash_string_key(k.as_bytes()));
        let s = u32::try_from(parse_u64(s.as_bytes())?).ok()?;
        Some((t, k, s))
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// The fast paths agree with the documented field rules on every row, in either
        /// column order, with either line ending, across buffer boundaries.
        #[test]
        fn fast_paths_agree_with_the_field_rules(
            rows in proptest::collection::vec(
                ((0u64..u64::MAX, 0u8..16), (0u64..u64::MAX, 0u8..16), (0u64..(1 << 33), 0u8..16)),
                0..300,
            ),
            crlf in proptest::bool::ANY,
            reordered in proptest::bool::ANY,
            pad in 0usize..300_000,
        ) {
            let eol = if crlf { "\r\n" } else { "\n" };
            let mut csv = if reordered { "size,timestamp,key" } else { "timestamp,key,size" }.to_owned();
            csv.push_str(eol);
            // Leading rows that shift where the buffer boundaries fall.
            let filler = pad / 8;
            for i in 0..filler {
                csv.push_str(&if reordered { format!("2,{i},1{eol}") } else { format!("{i},1,2{eol}") });
            }
            let mut want: Vec<(u64, u64, u32)> = (0..filler as u64).map(|i| (i, 1, 2)).collect();
            for &((t, ts), (k, ks), (s, ss)) in &rows {
                // Small values too, so sizes fit a u32 often.
                let (t, k, s) = (t >> (t % 64), k >> (k % 64), s >> (s % 34));
                let f = [field_text(t, ts), field_text(k, ks), field_text(s, ss)];
                if let Some(row) = expected_row([&f[0], &f[1], &f[2]]) {
                    want.push(row);
                }
                let line = if reordered {
                    format!("{},{},{}", f[2], f[0], f[1])
                } else {
                    f.join(",")
                };
                csv.push_str(&line);
                csv.push_str(eol);
            }
            let (got, _) = read_all(&csv, TraceOptions { skip_bad_rows: true }).unwrap();
            proptest::prop_assert_eq!(got, want);
        }
    }
}
