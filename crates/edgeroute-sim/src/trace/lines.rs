//! The trace's record splitter: a fast path for the common case, CSV rules where needed.
//!
//! Most traces are plain `digits,digits,digits` lines. Those are split on commas straight out
//! of a large read buffer, without the general CSV state machine. A line containing a double
//! quote (plus any following lines needed to close its quotes) is handed to the `csv` crate, so
//! quoted fields keep their CSV meaning. Empty lines are skipped, as the `csv` crate does; a
//! UTF-8 byte-order mark at the start is ignored.

use std::io::{self, Read};

use csv::{ByteRecord, Position};

/// Lines longer than this are an error rather than a reason to buffer without bound.
pub(super) const MAX_LINE: usize = 1 << 20;

const READ_SIZE: usize = 1 << 18;

/// Why the next record could not be read.
#[derive(Debug)]
pub(super) enum SplitError {
    Io(io::Error),
    /// A line (or a quoted record) longer than [`MAX_LINE`], starting at this line.
    TooLong(u64),
    /// Malformed quoting, at this line.
    Csv(u64, String),
}

#[derive(Debug)]
pub(super) struct Splitter<R> {
    inner: R,
    buf: Vec<u8>,
    /// Unconsumed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    eof: bool,
    /// Lines consumed so far.
    line: u64,
    first: bool,
}

impl<R: Read> Splitter<R> {
    pub(super) fn new(inner: R) -> Self {
        Self {
            inner,
            buf: vec![0; READ_SIZE],
            start: 0,
            end: 0,
            eof: false,
            line: 0,
            first: true,
        }
    }

    /// Reads more input after the unconsumed bytes; false at end of input.
    fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end + READ_SIZE / 2 > self.buf.len() {
            self.buf.resize(self.buf.len() + READ_SIZE, 0);
        }
        loop {
            let Some(spare) = self.buf.get_mut(self.end..) else {
                return Ok(false);
            };
            match self.inner.read(spare) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Length of the next line in `buf[start..end]` (without its `\n`) and whether it has a
    /// quote; `None` if no complete line is buffered.
    fn scan(&self) -> Option<(usize, usize)> {
        let pending = self.buf.get(self.start..self.end)?;
        let mut quotes = 0;
        for (i, &b) in pending.iter().enumerate() {
            if b == b'\n' {
                return Some((i, quotes));
            }
            quotes += usize::from(b == b'"');
        }
        None
    }

    /// Reads the next non-empty record into `record`; false at end of input.
    #[cfg(test)]
    pub(super) fn read_record(&mut self, record: &mut ByteRecord) -> Result<bool, SplitError> {
        match self.read(record)? {
            Next::Plain(line_no, line) => {
                fill_record(record, line, line_no);
                Ok(true)
            }
            Next::Record => Ok(true),
            Next::Eof => Ok(false),
        }
    }

    /// The next non-empty line: a plain one (no quotes) as a slice, without touching `record`;
    /// a quoted one parsed into `record`.
    pub(super) fn read(&mut self, record: &mut ByteRecord) -> Result<Next<'_>, SplitError> {
        if self.first {
            self.first = false;
            while self.end - self.start < 3 && self.fill().map_err(SplitError::Io)? {}
            if self
                .buf
                .get(self.start..self.end)
                .is_some_and(|b| b.starts_with(b"\xef\xbb\xbf"))
            {
                self.start += 3;
            }
        }
        let (line_no, from, len) = loop {
            // Find a complete line, reading more as needed.
            let (len, quotes, complete) = loop {
                if let Some((len, quotes)) = self.scan() {
                    break (len, quotes, true);
                }
                if self.end - self.start > MAX_LINE {
                    return Err(SplitError::TooLong(self.line + 1));
                }
                if !self.fill().map_err(SplitError::Io)? {
                    if self.start == self.end {
                        return Ok(Next::Eof);
                    }
                    // A last line without a newline.
                    let rest = self.buf.get(self.start..self.end).unwrap_or_default();
                    let quotes = rest.iter().filter(|&&b| b == b'"').count();
                    break (self.end - self.start, quotes, false);
                }
            };
            let line_no = self.line + 1;
            if quotes > 0 {
                self.read_quoted(record, line_no)?;
                return Ok(Next::Record);
            }
            let from = self.start;
            self.start += len + usize::from(complete);
            self.line += 1;
            let cr = self.buf.get(from + len.saturating_sub(1)) == Some(&b'\r');
            let len = len - usize::from(cr && len > 0);
            if len > 0 {
                break (line_no, from, len);
            }
        };
        Ok(Next::Plain(
            line_no,
            self.buf.get(from..from + len).unwrap_or_default(),
        ))
    }

    /// The fast path: if the buffer starts with a complete plain line of exactly three fields
    /// of 1 to 19 ASCII digits each (`\n` or `\r\n` ending), consumes it and returns its line
    /// number and the fields picked in the order `cols` gives (field positions). The third
    /// picked field (the size) must fit a `u32`. Anything else (a partial line at the end of
    /// the buffer, spaces, quotes, string keys, an empty line, the first line of the input)
    /// returns `None` without consuming anything, and [`Splitter::read`] handles it: the
    /// values returned here are exactly what the general path would parse.
    #[inline]
    pub(super) fn plain_digits3(&mut self, cols: [usize; 3]) -> Option<(u64, [u64; 3])> {
        if self.first {
            return None;
        }
        let pending = self.buf.get(self.start..self.end)?;
        let mut at = 0;
        let (a, sep_a) = digits(pending, &mut at)?;
        let (b, sep_b) = digits(pending, &mut at)?;
        let (c, end) = digits(pending, &mut at)?;
        if sep_a != b',' || sep_b != b',' {
            return None;
        }
        match end {
            b'\n' => {}
            b'\r' if pending.get(at) == Some(&b'\n') => at += 1,
            _ => return None,
        }
        let fields = [a, b, c];
        // 19 digits never reach u64::MAX, so it marks a bad column number.
        let picked = cols.map(|i| fields.get(i).copied().unwrap_or(u64::MAX));
        let [_, _, size] = picked;
        if picked.contains(&u64::MAX) || size > u64::from(u32::MAX) {
            return None;
        }
        self.start += at;
        self.line += 1;
        Some((self.line, picked))
    }

    /// Parses a record with quotes by CSV rules: extends it over following lines until its
    /// quotes balance.
    fn read_quoted(&mut self, record: &mut ByteRecord, line_no: u64) -> Result<(), SplitError> {
        let mut lines = 1u64;
        let mut end = self.start;
        loop {
            let pending = self.buf.get(end..self.end).unwrap_or_default();
            let newline = pending.iter().position(|&b| b == b'\n');
            end = newline.map_or(self.end, |i| end + i + 1);
            let text = self.buf.get(self.start..end).unwrap_or_default();
            let balanced = text.iter().filter(|&&b| b == b'"').count() % 2 == 0;
            if balanced || (newline.is_none() && self.eof) {
                break;
            }
            if newline.is_none() {
                if end - self.start > MAX_LINE {
                    return Err(SplitError::TooLong(line_no));
                }
                let offset = end - self.start;
                self.fill().map_err(SplitError::Io)?;
                end = self.start + offset;
            } else {
                lines += 1;
            }
        }
        let text = self.buf.get(self.start..end).unwrap_or_default();
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text);
        let got = csv
            .read_byte_record(record)
            .map_err(|e| SplitError::Csv(line_no, e.to_string()))?;
        if got
            && csv
                .read_byte_record(&mut ByteRecord::new())
                .is_ok_and(|more| more)
        {
            return Err(SplitError::Csv(line_no, "unbalanced quotes".to_owned()));
        }
        self.start = end;
        self.line += lines;
        set_line(record, line_no);
        Ok(())
    }
}

/// A field of 1 to 19 ASCII digits at `bytes[*at..]` and the byte after it, with `*at` moved
/// past that byte; `None` if the field is empty, longer, or the input ends first.
///
/// Eight bytes at a time where the buffer allows (fields of up to 15 digits, the common case,
/// take one or two 8-byte words and no per-byte loop); a field running to the buffer's end, or
/// longer than 15 digits, goes byte by byte. Both give the same answer (test
/// `word_and_byte_parsers_agree`).
#[inline(always)]
fn digits(bytes: &[u8], at: &mut usize) -> Option<(u64, u8)> {
    let start = *at;
    if let Some(first) = word_at(bytes, start) {
        let (n, digits) = leading_digits(first);
        if n < 8 {
            // `n` digits then a byte that is not one (n = 0: an empty field).
            if n == 0 {
                return None;
            }
            *at = start + n + 1;
            return Some((value_of(digits, n), byte(first, n)));
        }
        if let Some(second) = word_at(bytes, start + 8) {
            let (m, rest) = leading_digits(second);
            if m < 8 {
                // m < 8, so the lookup cannot miss.
                let scale = *POW10.get(m)?;
                *at = start + 8 + m + 1;
                return Some((
                    value_of(digits, 8) * scale + value_of(rest, m),
                    byte(second, m),
                ));
            }
        }
    }
    digits_bytewise(bytes, at)
}

/// 10^0 to 10^7.
const POW10: [u64; 8] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000];

/// The 8 bytes at `bytes[at..]` as a little-endian word (first byte lowest), if there are 8.
#[inline(always)]
fn word_at(bytes: &[u8], at: usize) -> Option<u64> {
    let chunk: [u8; 8] = bytes.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_le_bytes(chunk))
}

/// Byte `i` (0 to 7) of `word`.
#[inline(always)]
fn byte(word: u64, i: usize) -> u8 {
    (word >> (8 * i)) as u8
}

/// How many of `word`'s bytes, from the first, are ASCII digits (0 to 8), and the word with
/// `'0'` taken from every byte (the digits' values in the bytes before the first non-digit).
#[inline(always)]
fn leading_digits(word: u64) -> (usize, u64) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    // A borrow or a carry only moves towards later bytes, so the bytes before the first
    // non-digit are exact, and the first non-digit is flagged: below '0' its byte wraps to
    // 0xd0 or more (top bit), above '9' adding 0x76 to 10 or more sets the top bit.
    let x = word.wrapping_sub(ONES * u64::from(b'0'));
    let flags = (x.wrapping_add(ONES * 0x76) | x) & (ONES * 0x80);
    ((flags.trailing_zeros() / 8) as usize, x)
}

/// The number written by the first `n` (0 to 8) digit values of `x` (as [`leading_digits`]
/// leaves them): shifted to the top, so the bytes below read as leading zeros.
#[inline(always)]
fn value_of(x: u64, n: usize) -> u64 {
    match n {
        0 => 0,
        _ => eight_digits(x << (8 * (8 - n.min(8)))),
    }
}

/// The number written by eight digit values, one per byte, the first (most significant) in
/// the lowest byte: pairs, then quads, then the whole, by multiplication.
#[inline(always)]
fn eight_digits(x: u64) -> u64 {
    let pairs = x.wrapping_mul(10).wrapping_add(x >> 8);
    let low = (pairs & 0x0000_00ff_0000_00ff).wrapping_mul(100 + (1_000_000 << 32));
    let high = ((pairs >> 16) & 0x0000_00ff_0000_00ff).wrapping_mul(1 + (10_000 << 32));
    low.wrapping_add(high) >> 32
}

/// [`digits`] one byte at a time.
#[inline]
fn digits_bytewise(bytes: &[u8], at: &mut usize) -> Option<(u64, u8)> {
    let mut v: u64 = 0;
    let mut n = 0usize;
    loop {
        let &b = bytes.get(*at + n)?;
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            // At most 19 digits: below 10^19 < 2^64, so the value did not wrap.
            *at += n + 1;
            return (n > 0 && n <= 19).then_some((v, b));
        }
        v = v.wrapping_mul(10).wrapping_add(u64::from(d));
        n += 1;
    }
}

/// What [`Splitter::read`] found.
#[derive(Debug)]
pub(super) enum Next<'a> {
    /// A line without quotes (line number, bytes without the line ending).
    Plain(u64, &'a [u8]),
    /// A quoted record, now in the caller's record.
    Record,
    /// End of input.
    Eof,
}

/// Splits a plain line on commas into `record`.
pub(super) fn fill_record(record: &mut ByteRecord, line: &[u8], line_no: u64) {
    record.clear();
    for field in line.split(|&b| b == b',') {
        record.push_field(field);
    }
    set_line(record, line_no);
}

fn set_line(record: &mut ByteRecord, line: u64) {
    let mut pos = Position::new();
    pos.set_line(line);
    record.set_position(Some(pos));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_and_byte_parsers_agree() {
        // Fields of 0 to 21 digits (leading zeros included), then every kind of byte after
        // them, then 0 to 9 more bytes: the word path, the two-word path, the byte fallback at
        // the buffer's end and past 15 digits all meet the byte-by-byte answer.
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let ends = [
            b',',
            b'\n',
            b'\r',
            b' ',
            b'/',
            b':',
            b'a',
            0,
            0xff,
            b'0' - 1,
            b'9' + 1,
        ];
        for _ in 0..200_000 {
            let len = (next() % 22) as usize;
            let mut field: Vec<u8> = (0..len).map(|_| b'0' + (next() % 10) as u8).collect();
            if next() % 4 == 0 {
                // A run of leading zeros.
                for b in field.iter_mut().take((next() % 8) as usize) {
                    *b = b'0';
                }
            }
            let end = ends[(next() % ends.len() as u64) as usize];
            let tail = (next() % 10) as usize;
            let mut bytes = field.clone();
            let ended = next() % 8 != 0;
            if ended {
                bytes.push(end);
            }
            bytes.extend((0..tail).map(|_| next() as u8));
            let (mut a, mut b) = (0, 0);
            let fast = digits(&bytes, &mut a);
            let slow = digits_bytewise(&bytes, &mut b);
            assert_eq!(fast, slow, "{:?}", String::from_utf8_lossy(&bytes));
            if fast.is_some() {
                assert_eq!(a, b, "{:?}", String::from_utf8_lossy(&bytes));
                if ended {
                    assert_eq!(a, len + 1, "{:?}", String::from_utf8_lossy(&bytes));
                }
            }
        }
    }

    #[test]
    fn eight_digit_words_convert_exactly() {
        for v in [
            0u64, 1, 9, 10, 12_345_678, 99_999_999, 10_000_000, 90_000_009,
        ] {
            let text = format!("{v:08}");
            let word = u64::from_le_bytes(text.as_bytes().try_into().unwrap());
            let (n, x) = leading_digits(word);
            assert_eq!(n, 8);
            assert_eq!(eight_digits(x), v);
        }
    }

    fn records(input: &[u8]) -> Vec<(u64, Vec<String>)> {
        let mut s = Splitter::new(input);
        let mut r = ByteRecord::new();
        let mut out = Vec::new();
        while s.read_record(&mut r).unwrap() {
            let line = r.position().unwrap().line();
            out.push((
                line,
                r.iter()
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .collect(),
            ));
        }
        out
    }

    #[test]
    fn splits_plain_quoted_and_multiline_records() {
        let got = records(b"\xef\xbb\xbfa,b\r\n\n1,\"x,y\",3\n2,\"multi\nline\",4\n5,6,7");
        assert_eq!(
            got,
            [
                (1, vec!["a".into(), "b".into()]),
                (3, vec!["1".into(), "x,y".into(), "3".into()]),
                (4, vec!["2".into(), "multi\nline".into(), "4".into()]),
                (6, vec!["5".into(), "6".into(), "7".into()]),
            ]
        );
    }

    #[test]
    fn long_input_crosses_buffer_boundaries() {
        let mut text = String::new();
        for i in 0..100_000 {
            text.push_str(&format!("{i},{},{}\n", i * 3, i % 7));
        }
        let got = records(text.as_bytes());
        assert_eq!(got.len(), 100_000);
        assert_eq!(
            got[99_999],
            (100_000, vec!["99999".into(), "299997".into(), "4".into()])
        );
    }

    #[test]
    fn overlong_line_is_an_error() {
        let text = vec![b'x'; MAX_LINE + 10];
        let mut s = Splitter::new(&text[..]);
        assert!(matches!(
            s.read_record(&mut ByteRecord::new()),
            Err(SplitError::TooLong(1))
        ));
    }
}
