//! A deliberately naive tree-walking evaluator: the reference model the property tests
//! compare compiled filters against. It shares nothing with `compile.rs` except the
//! function bodies.

use std::borrow::Cow;
use std::net::IpAddr;

use crate::ast::{CmpOp, IndexKey, Literal, LogicOp, Node, Operand, OperandKind, Rhs, SetItem};
use crate::functions;
use crate::rt::{Arr, Rv};
use crate::scheme::{List, Scheme};
use crate::value::{FieldSource, OwnedValue};

type ElemTest<'a> = Box<dyn Fn(&OwnedValue) -> bool + 'a>;

pub(crate) struct Interp<'s> {
    pub(crate) scheme: &'s Scheme,
}

impl Interp<'_> {
    pub(crate) fn node(&self, node: &Node, src: &dyn FieldSource) -> bool {
        match node {
            Node::Logic {
                op: LogicOp::And,
                terms,
            } => terms.iter().all(|t| self.node(t, src)),
            Node::Logic {
                op: LogicOp::Or,
                terms,
            } => terms.iter().any(|t| self.node(t, src)),
            Node::Logic {
                op: LogicOp::Xor,
                terms,
            } => terms.iter().filter(|t| self.node(t, src)).count() % 2 == 1,
            Node::Not { inner, .. } => !self.node(inner, src),
            Node::Group { inner, .. } => self.node(inner, src),
            Node::Bare { value } => matches!(self.value(value, src), Some(OwnedValue::Bool(true))),
            Node::Compare { lhs, op, rhs, .. } => match self.value(lhs, src) {
                Some(v) => self.compare(*op, rhs, &v),
                None => false,
            },
        }
    }

    fn value(&self, op: &Operand, src: &dyn FieldSource) -> Option<OwnedValue> {
        match &op.kind {
            OperandKind::Field(id) => src.get(*id).map(OwnedValue::from_value),
            OperandKind::Rate(p) => src.rate(*p).map(OwnedValue::Int),
            OperandKind::Literal(Literal::Int(i)) => Some(OwnedValue::Int(*i)),
            OperandKind::Literal(Literal::Bytes(b)) => Some(OwnedValue::Bytes(b.clone())),
            OperandKind::Index { base, key } => index(self.value(base, src)?, key),
            OperandKind::Reduce { all, inner } => {
                let (elems, test): (Option<Vec<OwnedValue>>, ElemTest<'_>) = match &**inner {
                    Node::Compare { lhs, op, rhs, .. } => (
                        self.elements(lhs, src),
                        Box::new(move |v| self.compare(*op, rhs, v)),
                    ),
                    Node::Bare { value } => (
                        self.elements(value, src),
                        Box::new(|v| matches!(v, OwnedValue::Bool(true))),
                    ),
                    _ => (None, Box::new(|_| false)),
                };
                let elems = elems?;
                Some(OwnedValue::Bool(if *all {
                    elems.iter().all(&test)
                } else {
                    elems.iter().any(test)
                }))
            }
            OperandKind::Call { func, args } => {
                let limits = self.scheme.limits();
                let prep = functions::prepare(*func, args, limits);
                let first = args.first()?;
                let mut rest = Vec::new();
                for a in args.iter().skip(1) {
                    rest.push(self.value(a, src)?);
                }
                let apply = |first: &OwnedValue| {
                    let mut all = vec![to_rv(first)];
                    all.extend(rest.iter().map(to_rv));
                    functions::eval(*func, &prep, &all).map(from_rv)
                };
                if first.mapped {
                    let elems = self.elements(first, src)?;
                    Some(OwnedValue::Array(elems.iter().filter_map(apply).collect()))
                } else {
                    apply(&self.value(first, src)?)
                }
            }
        }
    }

    /// Elements of a `[*]` operand or an Array value.
    fn elements(&self, op: &Operand, src: &dyn FieldSource) -> Option<Vec<OwnedValue>> {
        if let OperandKind::Index { base, key } = &op.kind {
            if base.mapped {
                let elems = self.elements(base, src)?;
                return Some(elems.into_iter().filter_map(|e| index(e, key)).collect());
            }
            if *key == IndexKey::Star {
                return match self.value(base, src)? {
                    OwnedValue::Array(items) => Some(items),
                    OwnedValue::Map(entries) => Some(entries.into_iter().map(|(_, v)| v).collect()),
                    _ => None,
                };
            }
        }
        match self.value(op, src)? {
            OwnedValue::Array(items) => Some(items),
            _ => None,
        }
    }

    fn compare(&self, op: CmpOp, rhs: &Rhs, v: &OwnedValue) -> bool {
        match (v, rhs) {
            (OwnedValue::Int(x), Rhs::Int(n)) => match op {
                CmpOp::Eq => x == n,
                CmpOp::Ne => x != n,
                CmpOp::Lt => x < n,
                CmpOp::Le => x <= n,
                CmpOp::Gt => x > n,
                CmpOp::Ge => x >= n,
                CmpOp::BitAnd => x & n != 0,
                _ => false,
            },
            (OwnedValue::Bytes(x), Rhs::Bytes(b)) => match op {
                CmpOp::Eq => x == b,
                CmpOp::Ne => x != b,
                CmpOp::Lt => x < b,
                CmpOp::Le => x <= b,
                CmpOp::Gt => x > b,
                CmpOp::Ge => x >= b,
                CmpOp::Contains => b.is_empty() || x.windows(b.len()).any(|w| w == b.as_slice()),
                _ => false,
            },
            (OwnedValue::Ip(x), Rhs::Ip(ip)) => match op {
                CmpOp::Eq => x == ip,
                CmpOp::Ne => x != ip,
                _ => false,
            },
            (OwnedValue::Bytes(x), Rhs::Regex(p)) => {
                regex::bytes::Regex::new(p).is_ok_and(|re| re.is_match(x))
            }
            (OwnedValue::Bytes(x), Rhs::Wildcard(p)) => naive_wildcard(p, x, op == CmpOp::Wildcard),
            (v, Rhs::Set(items)) => items.iter().any(|item| match (v, item) {
                (OwnedValue::Int(x), SetItem::Int(n)) => x == n,
                (OwnedValue::Int(x), SetItem::IntRange(a, b)) => a <= x && x <= b,
                (OwnedValue::Bytes(x), SetItem::Bytes(b)) => x == b,
                (OwnedValue::Ip(x), SetItem::Ip(ip)) => x == ip,
                (OwnedValue::Ip(x), SetItem::Cidr(net)) => net.contains(x),
                (OwnedValue::Ip(x), SetItem::IpRange(a, b)) => {
                    same_family(x, a) && a <= x && x <= b
                }
                _ => false,
            }),
            (v, Rhs::List(name)) => match (v, self.scheme.list(name)) {
                (OwnedValue::Ip(x), Some(List::Ip(nets))) => nets.iter().any(|n| n.contains(x)),
                (OwnedValue::Bytes(x), Some(List::Bytes(items))) => items.contains(x),
                (OwnedValue::Int(x), Some(List::Int(items))) => items.contains(x),
                _ => false,
            },
            _ => false,
        }
    }
}

fn same_family(a: &IpAddr, b: &IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

fn index(v: OwnedValue, key: &IndexKey) -> Option<OwnedValue> {
    match (v, key) {
        (OwnedValue::Map(entries), IndexKey::Key(k)) => {
            entries.into_iter().find(|(ek, _)| ek == k).map(|(_, v)| v)
        }
        (OwnedValue::Array(items), IndexKey::Pos(n)) => items.into_iter().nth(*n as usize),
        _ => None,
    }
}

fn to_rv(v: &OwnedValue) -> Rv<'_> {
    match v {
        OwnedValue::Bool(b) => Rv::Bool(*b),
        OwnedValue::Int(i) => Rv::Int(*i),
        OwnedValue::Bytes(b) => Rv::Bytes(Cow::Borrowed(b)),
        OwnedValue::Ip(ip) => Rv::Ip(*ip),
        OwnedValue::Array(items) => Rv::Array(Arr::Own(items.iter().map(to_rv).collect())),
        OwnedValue::Map(m) => Rv::Map(m),
    }
}

fn from_rv(v: Rv<'_>) -> OwnedValue {
    match v {
        Rv::Bool(b) => OwnedValue::Bool(b),
        Rv::Int(i) => OwnedValue::Int(i),
        Rv::Bytes(b) => OwnedValue::Bytes(b.into_owned()),
        Rv::Ip(ip) => OwnedValue::Ip(ip),
        Rv::Array(a) => {
            let mut out = Vec::new();
            a.for_each(&mut |v| {
                out.push(from_rv(v));
                true
            });
            OwnedValue::Array(out)
        }
        Rv::Map(m) => OwnedValue::from_value(crate::value::Value::Map(m)),
    }
}

/// Backtracking wildcard match over tokens (a literal byte or a star).
fn naive_wildcard(pattern: &[u8], input: &[u8], fold: bool) -> bool {
    let mut tokens: Vec<Option<u8>> = Vec::new();
    let mut it = pattern.iter().copied();
    while let Some(b) = it.next() {
        match b {
            b'\\' => tokens.push(it.next()),
            b'*' => tokens.push(None),
            other => tokens.push(Some(other)),
        }
    }
    // Escaped bytes are literal: re-mark them (a `\*` is Some(b'*')).
    fn go(t: &[Option<u8>], s: &[u8], fold: bool) -> bool {
        match t.split_first() {
            None => s.is_empty(),
            Some((None, rest)) => {
                (0..=s.len()).any(|i| s.get(i..).is_some_and(|tail| go(rest, tail, fold)))
            }
            Some((Some(c), rest)) => match s.split_first() {
                Some((x, tail)) => {
                    (if fold {
                        x.eq_ignore_ascii_case(c)
                    } else {
                        x == c
                    }) && go(rest, tail, fold)
                }
                None => false,
            },
        }
    }
    go(&tokens, input, fold)
}
