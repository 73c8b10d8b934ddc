//! Resolves a key path such as `traffic.classes[2].share` to the byte span of its value in the
//! scenario text, so checks made after deserialisation can still point at the right place.

use std::ops::Range;

use toml_edit::{Document, Item, Table, Value};

/// A parsed TOML document kept only for its spans.
#[derive(Debug)]
pub struct SpanIndex<'a> {
    doc: Option<Document<&'a str>>,
}

enum Seg<'p> {
    Key(&'p str),
    Index(usize),
}

fn segments(path: &str) -> Vec<Seg<'_>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, rest) = part.split_once('[').unwrap_or((part, ""));
        if !key.is_empty() {
            out.push(Seg::Key(key));
        }
        for idx in rest.split('[') {
            if let Ok(i) = idx.trim_end_matches(']').parse::<usize>() {
                out.push(Seg::Index(i));
            }
        }
    }
    out
}

#[derive(Clone, Copy)]
enum Node<'d> {
    Item(&'d Item),
    Value(&'d Value),
    Table(&'d Table),
}

impl Node<'_> {
    fn span(self) -> Option<Range<usize>> {
        match self {
            Node::Item(i) => i.span(),
            Node::Value(v) => v.span(),
            Node::Table(t) => t.span(),
        }
    }
}

impl<'a> SpanIndex<'a> {
    /// Parses `text`; a document that does not parse yields no spans (errors then fall back to
    /// the start of the file).
    #[must_use]
    pub fn new(text: &'a str) -> Self {
        SpanIndex {
            doc: Document::parse(text).ok(),
        }
    }

    /// The span of the value at `path`, or of the nearest ancestor (or its key) that exists.
    #[must_use]
    pub fn span(&self, path: &str) -> Option<Range<usize>> {
        let doc = self.doc.as_ref()?;
        let mut node = Node::Table(doc.as_table());
        let mut best: Option<Range<usize>> = None;
        for seg in segments(path) {
            let next = match (node, seg) {
                (Node::Table(t), Seg::Key(k)) | (Node::Item(Item::Table(t)), Seg::Key(k)) => {
                    if let Some(s) = t.key(k).and_then(|key| key.span()) {
                        best = Some(s);
                    }
                    t.get(k).map(Node::Item)
                }
                (Node::Item(Item::Value(Value::InlineTable(t))), Seg::Key(k))
                | (Node::Value(Value::InlineTable(t)), Seg::Key(k)) => {
                    if let Some(s) = t.key(k).and_then(|key| key.span()) {
                        best = Some(s);
                    }
                    t.get(k).map(Node::Value)
                }
                (Node::Item(Item::ArrayOfTables(a)), Seg::Index(i)) => a.get(i).map(Node::Table),
                (Node::Item(Item::Value(Value::Array(a))), Seg::Index(i))
                | (Node::Value(Value::Array(a)), Seg::Index(i)) => a.get(i).map(Node::Value),
                _ => None,
            };
            let Some(next) = next else { return best };
            if let Some(s) = next.span() {
                best = Some(s);
            }
            node = next;
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_values() {
        let text = "seed = 3\n[traffic]\nrate = 10\n[[traffic.classes]]\nname = \"a\"\n[[traffic.classes]]\nname = \"b\"\nsize = { median = 5 }\n";
        let idx = SpanIndex::new(text);
        let s = idx.span("seed").unwrap();
        assert_eq!(&text[s], "3");
        let s = idx.span("traffic.rate").unwrap();
        assert_eq!(&text[s], "10");
        let s = idx.span("traffic.classes[1].name").unwrap();
        assert_eq!(&text[s], "\"b\"");
        let s = idx.span("traffic.classes[1].size.median").unwrap();
        assert_eq!(&text[s], "5");
        // A missing key falls back to the nearest thing that exists.
        let s = idx.span("traffic.classes[1].share").unwrap();
        assert_eq!(&text[s.clone()], "[[traffic.classes]]");
        assert_eq!(s.start, 60);
    }
}
