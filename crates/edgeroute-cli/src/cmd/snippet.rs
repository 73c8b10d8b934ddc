//! The offending line and a caret under the offending text, for the errors in the CLI's own
//! inputs (trace rows, points files):
//!
//! ```text
//! error: points.csv:2:3: latitude `91` is outside -90..90
//!   |
//! 2 | ü,91,0
//!   |   ^^
//!   = help: the points file is CSV `name,lat,lon` with a header line
//! ```
//!
//! The caret counts characters, as the columns of the policy and scenario errors do.

use std::fmt::Write as _;

/// One line of an input and a byte range in it.
pub(crate) struct Snippet<'a> {
    /// 1-based line number.
    pub(crate) line_no: u64,
    /// The line, without its line end.
    pub(crate) text: &'a str,
    /// Byte offset in `text` where the offending text starts.
    pub(crate) start: usize,
    /// Its length in bytes (the caret is at least one character wide).
    pub(crate) len: usize,
}

impl Snippet<'_> {
    /// The line that holds byte range `start..start + len` of `source`.
    pub(crate) fn in_source(source: &str, line_no: u64, start: usize, len: usize) -> Snippet<'_> {
        let start = source.floor_char_boundary(start);
        let line_start = source
            .get(..start)
            .and_then(|s| s.rfind('\n'))
            .map_or(0, |i| i + 1);
        let line_end = source
            .get(start..)
            .and_then(|s| s.find('\n'))
            .map_or(source.len(), |i| start + i);
        let text = source.get(line_start..line_end).unwrap_or("");
        Snippet {
            line_no,
            text: text.strip_suffix('\r').unwrap_or(text),
            start: start - line_start,
            len,
        }
    }

    /// The line under a gutter and the caret line (two lines, each ending in a newline).
    fn write(&self, out: &mut String) {
        let start = self.text.floor_char_boundary(self.start);
        let end = self
            .text
            .floor_char_boundary(start.saturating_add(self.len));
        let before = self.text.get(..start).unwrap_or("");
        let width = self
            .text
            .get(start..end)
            .map_or(0, |s| s.chars().count())
            .max(1);
        // Tabs stay tabs under the text, so the caret lines up in any terminal.
        let pad: String = before
            .chars()
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let number = self.line_no.to_string();
        let gutter = " ".repeat(number.len());
        let _ = writeln!(out, "{gutter} |");
        let _ = writeln!(out, "{number} | {}", self.text);
        let _ = writeln!(out, "{gutter} | {pad}{}", "^".repeat(width));
    }
}

/// `error: {heading}`, then the snippet when there is one, then the help line.
pub(crate) fn render(heading: &str, snippet: Option<&Snippet<'_>>, help: Option<&str>) -> String {
    let mut out = format!("error: {heading}\n");
    if let Some(s) = snippet {
        s.write(&mut out);
    }
    if let Some(help) = help {
        let _ = writeln!(out, "  = help: {help}");
    }
    out.truncate(out.trim_end().len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_counts_characters_and_skips_the_carriage_return() {
        let source = "name,lat,lon\r\nü,91,0\r\n";
        let at = source.find("91").unwrap_or(0);
        let s = Snippet::in_source(source, 2, at, 2);
        assert_eq!(s.text, "ü,91,0");
        let text = render("p.csv:2:3: bad", Some(&s), Some("fix it"));
        assert_eq!(
            text,
            "error: p.csv:2:3: bad\n  |\n2 | ü,91,0\n  |   ^^\n  = help: fix it"
        );
    }

    #[test]
    fn tabs_stay_and_a_range_past_the_line_is_cut_at_its_end() {
        let s = Snippet {
            line_no: 10,
            text: "\tab,ü",
            start: 4,
            len: 50,
        };
        assert_eq!(
            render("x", Some(&s), None),
            "error: x\n   |\n10 | \tab,ü\n   | \t   ^"
        );
    }

    #[test]
    fn offsets_inside_a_character_or_past_the_end_do_not_panic() {
        let s = Snippet {
            line_no: 1,
            text: "ü",
            start: 1,
            len: 1,
        };
        assert_eq!(
            render("x", Some(&s), None),
            "error: x\n  |\n1 | \u{fc}\n  | ^"
        );
        let far = Snippet {
            line_no: 1,
            text: "ab",
            start: 99,
            len: 0,
        };
        assert_eq!(
            render("x", Some(&far), None),
            "error: x\n  |\n1 | ab\n  |   ^"
        );
        assert_eq!(Snippet::in_source("", 1, 5, 1).text, "");
        assert_eq!(render("only", None, None), "error: only");
    }
}
