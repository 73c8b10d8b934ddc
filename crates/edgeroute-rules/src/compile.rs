//! Compilation of a checked tree into closures.
//!
//! All the work that does not depend on the request happens here: substring finders, merged
//! range sets, sorted string sets, regexes and wildcard matchers are built once; constant
//! terms are folded; comparisons on a plain field read the field and test it in one closure.

use std::sync::Arc;

use crate::ast::{CmpOp, IndexKey, Literal, LogicOp, Node, Operand, OperandKind, Rhs};
use crate::functions::{self, Func};
use crate::rt::{Arr, Rv, Sv};
use crate::scheme::{FieldId, List, Scheme};
use crate::sets::{BytesSet, IpSet, RangeSet, int_set};
use crate::substring::Substring;
use crate::value::{FieldSource, Value};
use crate::wildcard::Wildcard;

pub(crate) type BoolFn = Box<dyn Fn(&dyn FieldSource) -> bool + Send + Sync>;
/// The shared root closure of a [`Filter`](crate::Filter).
pub(crate) type SharedFn = Arc<dyn Fn(&dyn FieldSource) -> bool + Send + Sync>;
type ValFn = Box<dyn for<'a> Fn(&'a dyn FieldSource) -> Option<Rv<'a>> + Send + Sync>;
/// Calls the callback on each element; returns `false` when the array itself is missing.
type EachFn =
    Box<dyn for<'a> Fn(&'a dyn FieldSource, &mut dyn FnMut(Rv<'_>) -> bool) -> bool + Send + Sync>;
type PredFn = Box<dyn Fn(Sv<'_>) -> bool + Send + Sync>;

fn val_fn<F>(f: F) -> ValFn
where
    F: for<'a> Fn(&'a dyn FieldSource) -> Option<Rv<'a>> + Send + Sync + 'static,
{
    Box::new(f)
}

fn each_fn<F>(f: F) -> EachFn
where
    F: for<'a> Fn(&'a dyn FieldSource, &mut dyn FnMut(Rv<'_>) -> bool) -> bool
        + Send
        + Sync
        + 'static,
{
    Box::new(f)
}

/// A function argument: computed per request, or a literal borrowed from the closure.
enum ArgFn {
    Val(ValFn),
    Lit(Literal),
}

impl ArgFn {
    #[inline]
    fn get<'x>(&'x self, s: &'x dyn FieldSource) -> Option<Rv<'x>> {
        match self {
            ArgFn::Val(f) => f(s),
            ArgFn::Lit(Literal::Bytes(b)) => Some(Rv::Bytes(std::borrow::Cow::Borrowed(b))),
            ArgFn::Lit(Literal::Int(i)) => Some(Rv::Int(*i)),
        }
    }
}

/// A compiled condition, folded when constant.
pub(crate) enum Compiled {
    Const(bool),
    Dyn(BoolFn),
}

impl Compiled {
    pub(crate) fn into_fn(self) -> SharedFn {
        match self {
            Compiled::Const(b) => Arc::new(move |_: &dyn FieldSource| b),
            Compiled::Dyn(f) => Arc::from(f),
        }
    }
}

pub(crate) struct Compiler<'s> {
    pub(crate) scheme: &'s Scheme,
}

/// Receives a predicate over one scalar and wraps it for a particular left-hand side.
trait Sink {
    type Out;
    fn sink<P>(self, p: P) -> Self::Out
    where
        P: Fn(Sv<'_>) -> bool + Send + Sync + 'static;
}

/// A field read: String fields through [`FieldSource::get_bytes`] (an answer in registers),
/// the others through [`FieldSource::get`].
struct FieldSink {
    id: FieldId,
    bytes: bool,
}

impl FieldSink {
    fn new(scheme: &Scheme, id: FieldId) -> Self {
        FieldSink {
            id,
            bytes: *scheme.field_type(id) == crate::types::Type::Bytes,
        }
    }
}

impl Sink for FieldSink {
    type Out = BoolFn;
    fn sink<P>(self, p: P) -> BoolFn
    where
        P: Fn(Sv<'_>) -> bool + Send + Sync + 'static,
    {
        let id = self.id;
        if self.bytes {
            return Box::new(move |s: &dyn FieldSource| {
                s.get_bytes(id).is_some_and(|b| p(Sv::Bytes(b)))
            });
        }
        Box::new(move |s: &dyn FieldSource| match s.get(id) {
            Some(Value::Bytes(b)) => p(Sv::Bytes(b)),
            Some(Value::Int(i)) => p(Sv::Int(i)),
            Some(Value::Ip(ip)) => p(Sv::Ip(ip)),
            Some(Value::Bool(x)) => p(Sv::Bool(x)),
            _ => false,
        })
    }
}

struct RateSink(u32);
impl Sink for RateSink {
    type Out = BoolFn;
    fn sink<P>(self, p: P) -> BoolFn
    where
        P: Fn(Sv<'_>) -> bool + Send + Sync + 'static,
    {
        let period = self.0;
        Box::new(move |s: &dyn FieldSource| s.rate(period).is_some_and(|x| p(Sv::Int(x))))
    }
}

struct ValSink(ValFn);
impl Sink for ValSink {
    type Out = BoolFn;
    fn sink<P>(self, p: P) -> BoolFn
    where
        P: Fn(Sv<'_>) -> bool + Send + Sync + 'static,
    {
        let val = self.0;
        Box::new(move |s: &dyn FieldSource| val(s).as_ref().and_then(Rv::as_scalar).is_some_and(&p))
    }
}

struct PredSink;
impl Sink for PredSink {
    type Out = PredFn;
    fn sink<P>(self, p: P) -> PredFn
    where
        P: Fn(Sv<'_>) -> bool + Send + Sync + 'static,
    {
        Box::new(p)
    }
}

/// Whether a comparison can never be true (an empty set or list).
fn never_true(scheme: &Scheme, op: CmpOp, rhs: &Rhs) -> bool {
    match (op, rhs) {
        (CmpOp::In, Rhs::Set(items)) => items.is_empty(),
        (CmpOp::In, Rhs::List(name)) => match scheme.list(name) {
            None => true,
            Some(List::Ip(v)) => v.is_empty(),
            Some(List::Bytes(v)) => v.is_empty(),
            Some(List::Int(v)) => v.is_empty(),
        },
        _ => false,
    }
}

impl Compiler<'_> {
    pub(crate) fn node(&self, node: &Node) -> Compiled {
        match node {
            Node::Group { inner, .. } => self.node(inner),
            Node::Not { inner, .. } => match &**inner {
                // `not <bool field>`: one closure.
                Node::Bare {
                    value:
                        Operand {
                            kind: OperandKind::Field(id),
                            ..
                        },
                } => {
                    let id = *id;
                    Compiled::Dyn(Box::new(move |s: &dyn FieldSource| {
                        !matches!(s.get(id), Some(Value::Bool(true)))
                    }))
                }
                other => match self.node(other) {
                    Compiled::Const(b) => Compiled::Const(!b),
                    Compiled::Dyn(f) => Compiled::Dyn(Box::new(move |s: &dyn FieldSource| !f(s))),
                },
            },
            Node::Logic { op, terms } => self.logic(*op, terms),
            Node::Bare { value } => self.bare(value),
            Node::Compare { lhs, op, rhs, .. } => {
                if never_true(self.scheme, *op, rhs) {
                    return Compiled::Const(false);
                }
                Compiled::Dyn(match &lhs.kind {
                    OperandKind::Field(id) => self.pred(*op, rhs, FieldSink::new(self.scheme, *id)),
                    OperandKind::Rate(p) => self.pred(*op, rhs, RateSink(*p)),
                    _ => self.pred(*op, rhs, ValSink(self.value(lhs))),
                })
            }
        }
    }

    fn logic(&self, op: LogicOp, terms: &[Node]) -> Compiled {
        let mut fns: Vec<BoolFn> = Vec::with_capacity(terms.len());
        let mut parity = false;
        for t in terms {
            match (op, self.node(t)) {
                (LogicOp::And, Compiled::Const(false)) => return Compiled::Const(false),
                (LogicOp::Or, Compiled::Const(true)) => return Compiled::Const(true),
                (LogicOp::And | LogicOp::Or, Compiled::Const(_)) => {}
                (LogicOp::Xor, Compiled::Const(b)) => parity ^= b,
                (_, Compiled::Dyn(f)) => fns.push(f),
            }
        }
        let empty = match op {
            LogicOp::And => true,
            LogicOp::Or | LogicOp::Xor => false,
        };
        if fns.is_empty() {
            return Compiled::Const(if op == LogicOp::Xor { parity } else { empty });
        }
        let f: BoolFn = match op {
            LogicOp::And => match <[BoolFn; 2]>::try_from(fns) {
                Ok([a, b]) => Box::new(move |s: &dyn FieldSource| a(s) && b(s)),
                Err(fns) => match <[BoolFn; 1]>::try_from(fns) {
                    Ok([a]) => a,
                    Err(fns) => Box::new(move |s: &dyn FieldSource| fns.iter().all(|f| f(s))),
                },
            },
            LogicOp::Or => match <[BoolFn; 2]>::try_from(fns) {
                Ok([a, b]) => Box::new(move |s: &dyn FieldSource| a(s) || b(s)),
                Err(fns) => match <[BoolFn; 1]>::try_from(fns) {
                    Ok([a]) => a,
                    Err(fns) => Box::new(move |s: &dyn FieldSource| fns.iter().any(|f| f(s))),
                },
            },
            LogicOp::Xor => {
                Box::new(move |s: &dyn FieldSource| fns.iter().fold(parity, |acc, f| acc ^ f(s)))
            }
        };
        Compiled::Dyn(f)
    }

    fn bare(&self, value: &Operand) -> Compiled {
        match &value.kind {
            OperandKind::Field(id) => {
                let id = *id;
                Compiled::Dyn(Box::new(move |s: &dyn FieldSource| {
                    matches!(s.get(id), Some(Value::Bool(true)))
                }))
            }
            OperandKind::Reduce { all, inner } => Compiled::Dyn(self.reduce(*all, inner)),
            // `starts_with(field, "..")` / `ends_with(field, "..")` on a plain field: a byte
            // comparison on the field's value, without building argument values.
            OperandKind::Call {
                func: func @ (Func::StartsWith | Func::EndsWith),
                args,
            } if let [
                Operand {
                    kind: OperandKind::Field(id),
                    mapped: false,
                    ..
                },
                Operand {
                    kind: OperandKind::Literal(Literal::Bytes(lit)),
                    ..
                },
            ] = args.as_slice() =>
            {
                let lit: Box<[u8]> = lit.as_slice().into();
                let sink = FieldSink::new(self.scheme, *id);
                Compiled::Dyn(if *func == Func::StartsWith {
                    sink.sink(move |v| matches!(v, Sv::Bytes(x) if x.starts_with(&lit)))
                } else {
                    sink.sink(move |v| matches!(v, Sv::Bytes(x) if x.ends_with(&lit)))
                })
            }
            _ => {
                let v = self.value(value);
                Compiled::Dyn(Box::new(move |s: &dyn FieldSource| {
                    matches!(v(s), Some(Rv::Bool(true)))
                }))
            }
        }
    }

    /// `any(..)` / `all(..)`.
    fn reduce(&self, all: bool, inner: &Node) -> BoolFn {
        // The elements and the test applied to each.
        let (each, pred): (EachFn, PredFn) = match inner {
            Node::Compare { lhs, op, rhs, .. } => {
                if never_true(self.scheme, *op, rhs) {
                    (self.each(lhs), Box::new(|_: Sv<'_>| false))
                } else {
                    (self.each(lhs), self.pred(*op, rhs, PredSink))
                }
            }
            Node::Bare { value } => (
                self.each(value),
                Box::new(|v: Sv<'_>| matches!(v, Sv::Bool(true))),
            ),
            _ => return Box::new(|_: &dyn FieldSource| false),
        };
        if all {
            Box::new(move |s: &dyn FieldSource| {
                let mut ok = true;
                let present = each(s, &mut |v| {
                    ok = v.as_scalar().is_some_and(&pred);
                    ok
                });
                present && ok
            })
        } else {
            Box::new(move |s: &dyn FieldSource| {
                let mut found = false;
                let present = each(s, &mut |v| {
                    found = v.as_scalar().is_some_and(&pred);
                    !found
                });
                present && found
            })
        }
    }

    /// Elements of a mapped (`[*]`) operand, or of an `Array` value.
    fn each(&self, op: &Operand) -> EachFn {
        if let OperandKind::Index { base, key } = &op.kind {
            if *key == IndexKey::Star && !base.mapped {
                let v = self.value(base);
                return each_fn(move |s, f| match v(s) {
                    Some(Rv::Array(a)) => {
                        a.for_each(f);
                        true
                    }
                    Some(Rv::Map(m)) => {
                        m.for_each(&mut |_, v| f(Rv::from_value(v)));
                        true
                    }
                    _ => false,
                });
            }
            if base.mapped {
                let inner = self.each(base);
                let key = key.clone();
                return each_fn(move |s, f| {
                    inner(s, &mut |el| match index(&el, &key) {
                        Some(v) => f(v),
                        None => true,
                    })
                });
            }
        }
        // A plain Array value (for example `any(<Array<Boolean> field>)`).
        let v = self.value(op);
        each_fn(move |s, f| match v(s) {
            Some(Rv::Array(a)) => {
                a.for_each(f);
                true
            }
            _ => false,
        })
    }

    /// The value of a non-mapped operand.
    fn value(&self, op: &Operand) -> ValFn {
        match &op.kind {
            OperandKind::Field(id) => {
                let id = *id;
                val_fn(move |s| s.get(id).map(Rv::from_value))
            }
            OperandKind::Rate(p) => {
                let p = *p;
                val_fn(move |s| s.rate(p).map(Rv::Int))
            }
            OperandKind::Literal(Literal::Int(i)) => {
                let i = *i;
                val_fn(move |_| Some(Rv::Int(i)))
            }
            OperandKind::Literal(Literal::Bytes(b)) => {
                let b: Arc<[u8]> = Arc::from(b.as_slice());
                val_fn(move |_| Some(Rv::Bytes(std::borrow::Cow::Owned(b.to_vec()))))
            }
            OperandKind::Index { base, key } => {
                let key = key.clone();
                if let OperandKind::Field(id) = base.kind {
                    // One step from a field: no intermediate value.
                    return match key {
                        IndexKey::Key(k) => val_fn(move |s| match s.get(id) {
                            Some(Value::Map(m)) => m.get(&k).map(Rv::from_value),
                            _ => None,
                        }),
                        IndexKey::Pos(n) => {
                            let n = n as usize;
                            val_fn(move |s| match s.get(id) {
                                Some(Value::Array(a)) => a.get(n).map(Rv::from_value),
                                _ => None,
                            })
                        }
                        IndexKey::Star => val_fn(|_| None),
                    };
                }
                let b = self.value(base);
                val_fn(move |s| index(&b(s)?, &key))
            }
            OperandKind::Reduce { all, inner } => {
                let f = self.reduce(*all, inner);
                val_fn(move |s| Some(Rv::Bool(f(s))))
            }
            OperandKind::Call { func, args } => self.call(*func, args),
        }
    }

    fn arg(&self, op: &Operand) -> ArgFn {
        match &op.kind {
            OperandKind::Literal(lit) => ArgFn::Lit(lit.clone()),
            _ => ArgFn::Val(self.value(op)),
        }
    }

    fn call(&self, func: Func, args: &[Operand]) -> ValFn {
        let prep = Arc::new(functions::prepare(func, args, self.scheme.limits()));
        let first_mapped = args.first().is_some_and(|a| a.mapped);
        if first_mapped {
            let rest: Vec<ArgFn> = args.iter().skip(1).map(|a| self.arg(a)).collect();
            let each = args.first().map(|a| self.each(a));
            let Some(each) = each else {
                return val_fn(|_| None);
            };
            return val_fn(move |s| {
                let mut tail = Vec::with_capacity(rest.len());
                for r in &rest {
                    tail.push(r.get(s)?);
                }
                let mut out = Vec::new();
                let present = each(s, &mut |el| {
                    let mut all_args = Vec::with_capacity(tail.len() + 1);
                    all_args.push(el);
                    all_args.extend(tail.iter().cloned());
                    if let Some(v) = functions::eval(func, &prep, &all_args) {
                        out.push(v);
                    }
                    true
                });
                present.then_some(Rv::Array(Arr::Own(out)))
            });
        }
        let all: Vec<ArgFn> = args.iter().map(|a| self.arg(a)).collect();
        // Small arities without a heap-allocated argument list.
        match <[ArgFn; 1]>::try_from(all) {
            Ok([a]) => val_fn(move |s| functions::eval(func, &prep, &[a.get(s)?])),
            Err(all) => match <[ArgFn; 2]>::try_from(all) {
                Ok([a, b]) => {
                    val_fn(move |s| functions::eval(func, &prep, &[a.get(s)?, b.get(s)?]))
                }
                Err(all) => match <[ArgFn; 3]>::try_from(all) {
                    Ok([a, b, c]) => val_fn(move |s| {
                        functions::eval(func, &prep, &[a.get(s)?, b.get(s)?, c.get(s)?])
                    }),
                    Err(all) => val_fn(move |s| {
                        let mut vals = Vec::with_capacity(all.len());
                        for a in &all {
                            vals.push(a.get(s)?);
                        }
                        functions::eval(func, &prep, &vals)
                    }),
                },
            },
        }
    }

    /// Builds the test `<value> op rhs` and hands it to `sink`.
    fn pred<S: Sink>(&self, op: CmpOp, rhs: &Rhs, sink: S) -> S::Out {
        match (op, rhs) {
            (_, Rhs::Int(n)) => {
                let n = *n;
                match op {
                    CmpOp::Eq => sink.sink(move |v| matches!(v, Sv::Int(x) if x == n)),
                    CmpOp::Ne => sink.sink(move |v| matches!(v, Sv::Int(x) if x != n)),
                    CmpOp::Lt => sink.sink(move |v| matches!(v, Sv::Int(x) if x < n)),
                    CmpOp::Le => sink.sink(move |v| matches!(v, Sv::Int(x) if x <= n)),
                    CmpOp::Gt => sink.sink(move |v| matches!(v, Sv::Int(x) if x > n)),
                    CmpOp::Ge => sink.sink(move |v| matches!(v, Sv::Int(x) if x >= n)),
                    CmpOp::BitAnd => sink.sink(move |v| matches!(v, Sv::Int(x) if x & n != 0)),
                    _ => sink.sink(|_| false),
                }
            }
            (_, Rhs::Bytes(b)) => {
                let b = b.clone();
                match op {
                    CmpOp::Eq => sink.sink(move |v| matches!(v, Sv::Bytes(x) if x == b.as_slice())),
                    CmpOp::Ne => sink.sink(move |v| matches!(v, Sv::Bytes(x) if x != b.as_slice())),
                    CmpOp::Lt => sink.sink(move |v| matches!(v, Sv::Bytes(x) if x < b.as_slice())),
                    CmpOp::Le => sink.sink(move |v| matches!(v, Sv::Bytes(x) if x <= b.as_slice())),
                    CmpOp::Gt => sink.sink(move |v| matches!(v, Sv::Bytes(x) if x > b.as_slice())),
                    CmpOp::Ge => sink.sink(move |v| matches!(v, Sv::Bytes(x) if x >= b.as_slice())),
                    CmpOp::Contains => {
                        if b.is_empty() {
                            sink.sink(|v| matches!(v, Sv::Bytes(_)))
                        } else if b.len() == 1 {
                            let c = b.first().copied().unwrap_or(0);
                            sink.sink(move |v| matches!(v, Sv::Bytes(x) if memchr::memchr(c, x).is_some()))
                        } else if let Some(sub) = Substring::new(&b) {
                            sink.sink(move |v| matches!(v, Sv::Bytes(x) if sub.in_text(x)))
                        } else {
                            sink.sink(|_| false)
                        }
                    }
                    _ => sink.sink(|_| false),
                }
            }
            (_, Rhs::Ip(ip)) => {
                let ip = *ip;
                match op {
                    CmpOp::Eq => sink.sink(move |v| matches!(v, Sv::Ip(x) if x == ip)),
                    CmpOp::Ne => sink.sink(move |v| matches!(v, Sv::Ip(x) if x != ip)),
                    _ => sink.sink(|_| false),
                }
            }
            (_, Rhs::Regex(pattern)) => {
                match functions::build_regex(pattern.as_bytes(), self.scheme.limits()) {
                    Ok(re) => {
                        let m = crate::literal_regex::RegexMatcher::new(pattern, re);
                        sink.sink(move |v| matches!(v, Sv::Bytes(x) if m.is_match(x)))
                    }
                    Err(_) => sink.sink(|_| false),
                }
            }
            (_, Rhs::Wildcard(pattern)) => {
                let w = Wildcard::new(pattern, op == CmpOp::Wildcard);
                sink.sink(move |v| matches!(v, Sv::Bytes(x) if w.matches(x)))
            }
            (_, Rhs::Set(items)) => {
                let ints = int_set(items);
                let ips = IpSet::from_items(items);
                let bytes = BytesSet::new(
                    items
                        .iter()
                        .filter_map(|i| match i {
                            crate::ast::SetItem::Bytes(b) => Some(b.clone()),
                            _ => None,
                        })
                        .collect(),
                );
                set_pred(sink, ints, ips, bytes)
            }
            (_, Rhs::List(name)) => match self.scheme.list(name) {
                Some(List::Ip(_)) => {
                    let ips = self
                        .scheme
                        .list(name)
                        .map(IpSet::from_list)
                        .unwrap_or_default();
                    set_pred(sink, RangeSet::default(), ips, BytesSet::default())
                }
                Some(List::Bytes(items)) => set_pred(
                    sink,
                    RangeSet::default(),
                    IpSet::default(),
                    BytesSet::new(items.clone()),
                ),
                Some(List::Int(items)) => {
                    let ints = RangeSet::new(items.iter().map(|&n| (n, n)).collect());
                    set_pred(sink, ints, IpSet::default(), BytesSet::default())
                }
                None => sink.sink(|_| false),
            },
        }
    }
}

fn set_pred<S: Sink>(sink: S, ints: RangeSet<i64>, ips: IpSet, bytes: BytesSet) -> S::Out {
    if !ips.is_empty() {
        sink.sink(move |v| matches!(v, Sv::Ip(x) if ips.contains(x)))
    } else if !ints.is_empty() {
        sink.sink(move |v| matches!(v, Sv::Int(x) if ints.contains(x)))
    } else if !bytes.is_empty() {
        sink.sink(move |v| matches!(v, Sv::Bytes(x) if bytes.contains(x)))
    } else {
        sink.sink(|_| false)
    }
}

/// `value[key]`.
fn index<'a>(v: &Rv<'a>, key: &IndexKey) -> Option<Rv<'a>> {
    match (v, key) {
        (Rv::Map(m), IndexKey::Key(k)) => m.get(k).map(Rv::from_value),
        (Rv::Array(a), IndexKey::Pos(n)) => a.get(*n as usize),
        _ => None,
    }
}
