//! The checked syntax tree of an expression, and its canonical printing.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::error::Span;
use crate::functions::Func;
use crate::scheme::{FieldId, Scheme};
use crate::types::Type;

/// A span stored in the tree. Two trees that differ only in spans are equal, so that
/// printing and parsing back gives an equal tree.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Loc(pub(crate) Span);

impl PartialEq for Loc {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// `and`, `xor`, `or`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogicOp {
    And,
    Xor,
    Or,
}

impl LogicOp {
    pub(crate) fn word(self) -> &'static str {
        match self {
            LogicOp::And => "and",
            LogicOp::Xor => "xor",
            LogicOp::Or => "or",
        }
    }
}

/// A Boolean-valued expression (or `Array<Boolean>` inside `any()`/`all()`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    /// Two or more terms joined by one operator (left-associative chains are flattened).
    Logic {
        op: LogicOp,
        terms: Vec<Node>,
    },
    Not {
        inner: Box<Node>,
        loc: Loc,
    },
    Group {
        inner: Box<Node>,
        loc: Loc,
    },
    Compare {
        lhs: Operand,
        op: CmpOp,
        rhs: Rhs,
        loc: Loc,
    },
    /// A Boolean operand used as a condition (`ssl`, `starts_with(..)`, `any(..)`).
    Bare {
        value: Operand,
    },
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    Matches,
    Wildcard,
    StrictWildcard,
    In,
    BitAnd,
}

impl CmpOp {
    pub(crate) fn word(self) -> &'static str {
        match self {
            CmpOp::Eq => "eq",
            CmpOp::Ne => "ne",
            CmpOp::Lt => "lt",
            CmpOp::Le => "le",
            CmpOp::Gt => "gt",
            CmpOp::Ge => "ge",
            CmpOp::Contains => "contains",
            CmpOp::Matches => "matches",
            CmpOp::Wildcard => "wildcard",
            CmpOp::StrictWildcard => "strict wildcard",
            CmpOp::In => "in",
            CmpOp::BitAnd => "&",
        }
    }
}

/// A value-producing term.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Operand {
    pub(crate) kind: OperandKind,
    /// The type of one value (the element type when `mapped`).
    pub(crate) ty: Type,
    /// Produced element-wise by `[*]`.
    pub(crate) mapped: bool,
    pub(crate) loc: Loc,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum OperandKind {
    Field(FieldId),
    Index {
        base: Box<Operand>,
        key: IndexKey,
    },
    Call {
        func: Func,
        args: Vec<Operand>,
    },
    /// `any(..)` / `all(..)` over an `Array<Boolean>`-valued condition.
    Reduce {
        all: bool,
        inner: Box<Node>,
    },
    /// `rate(<period>)`, in seconds.
    Rate(u32),
    Literal(Literal),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IndexKey {
    Key(Vec<u8>),
    Pos(u32),
    Star,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Literal {
    Int(i64),
    Bytes(Vec<u8>),
}

/// The right-hand side of a comparison, typed by the left-hand side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rhs {
    Int(i64),
    Bytes(Vec<u8>),
    Ip(IpAddr),
    /// A regex (already validated) for `matches`.
    Regex(String),
    /// A wildcard pattern (already validated).
    Wildcard(Vec<u8>),
    Set(Vec<SetItem>),
    List(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SetItem {
    Int(i64),
    IntRange(i64, i64),
    Bytes(Vec<u8>),
    Ip(IpAddr),
    Cidr(IpNet),
    IpRange(IpAddr, IpAddr),
}

/// Writes `bytes` as a quoted string literal that parses back to the same bytes.
pub(crate) fn write_quoted(f: &mut dyn fmt::Write, bytes: &[u8]) -> fmt::Result {
    f.write_char('"')?;
    let mut rest = bytes;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                write_str_escaped(f, s)?;
                break;
            }
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                // INVARIANT: `good` is valid UTF-8 by construction.
                write_str_escaped(f, std::str::from_utf8(good).unwrap_or(""))?;
                let bad_len = e.error_len().unwrap_or(bad.len()).max(1);
                let (invalid, after) = bad.split_at(bad_len.min(bad.len()));
                for b in invalid {
                    write!(f, "\\x{b:02x}")?;
                }
                rest = after;
            }
        }
    }
    f.write_char('"')
}

fn write_str_escaped(f: &mut dyn fmt::Write, s: &str) -> fmt::Result {
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            c if c.is_control() && (c as u32) < 0x80 => write!(f, "\\x{:02x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    Ok(())
}

/// `rate(..)` periods print in the largest unit that divides them.
pub(crate) fn format_period(secs: u32) -> String {
    if secs != 0 && secs.is_multiple_of(3600) {
        format!("{}h", secs / 3600)
    } else if secs != 0 && secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

pub(crate) struct Printer<'a> {
    pub(crate) scheme: &'a Scheme,
}

impl Printer<'_> {
    pub(crate) fn node(&self, f: &mut dyn fmt::Write, node: &Node) -> fmt::Result {
        match node {
            Node::Logic { op, terms } => {
                for (i, t) in terms.iter().enumerate() {
                    if i > 0 {
                        write!(f, " {} ", op.word())?;
                    }
                    self.node(f, t)?;
                }
                Ok(())
            }
            Node::Not { inner, .. } => {
                f.write_str("not ")?;
                self.node(f, inner)
            }
            Node::Group { inner, .. } => {
                f.write_char('(')?;
                self.node(f, inner)?;
                f.write_char(')')
            }
            Node::Compare { lhs, op, rhs, .. } => {
                self.operand(f, lhs)?;
                write!(f, " {} ", op.word())?;
                self.rhs(f, rhs)
            }
            Node::Bare { value } => self.operand(f, value),
        }
    }

    pub(crate) fn operand(&self, f: &mut dyn fmt::Write, op: &Operand) -> fmt::Result {
        match &op.kind {
            OperandKind::Field(id) => f.write_str(self.scheme.field_name(*id)),
            OperandKind::Index { base, key } => {
                self.operand(f, base)?;
                match key {
                    IndexKey::Key(k) => {
                        f.write_char('[')?;
                        write_quoted(f, k)?;
                        f.write_char(']')
                    }
                    IndexKey::Pos(n) => write!(f, "[{n}]"),
                    IndexKey::Star => f.write_str("[*]"),
                }
            }
            OperandKind::Call { func, args } => {
                write!(f, "{}(", func.name())?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    self.operand(f, a)?;
                }
                f.write_char(')')
            }
            OperandKind::Reduce { all, inner } => {
                f.write_str(if *all { "all(" } else { "any(" })?;
                self.node(f, inner)?;
                f.write_char(')')
            }
            OperandKind::Rate(secs) => write!(f, "rate({})", format_period(*secs)),
            OperandKind::Literal(Literal::Int(i)) => write!(f, "{i}"),
            OperandKind::Literal(Literal::Bytes(b)) => write_quoted(f, b),
        }
    }

    fn rhs(&self, f: &mut dyn fmt::Write, rhs: &Rhs) -> fmt::Result {
        match rhs {
            Rhs::Int(i) => write!(f, "{i}"),
            Rhs::Bytes(b) | Rhs::Wildcard(b) => write_quoted(f, b),
            Rhs::Regex(r) => write_quoted(f, r.as_bytes()),
            Rhs::Ip(ip) => write!(f, "{ip}"),
            Rhs::List(name) => write!(f, "${name}"),
            Rhs::Set(items) => {
                f.write_char('{')?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_char(' ')?;
                    }
                    match item {
                        SetItem::Int(n) => write!(f, "{n}")?,
                        SetItem::IntRange(a, b) => write!(f, "{a}..{b}")?,
                        SetItem::Bytes(b) => write_quoted(f, b)?,
                        SetItem::Ip(ip) => write!(f, "{ip}")?,
                        SetItem::Cidr(net) => write!(f, "{net}")?,
                        SetItem::IpRange(a, b) => write!(f, "{a}..{b}")?,
                    }
                }
                f.write_char('}')
            }
        }
    }
}
