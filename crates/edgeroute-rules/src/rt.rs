//! Values during execution: borrowed from the field source or produced by functions.

use std::borrow::Cow;
use std::net::IpAddr;

use crate::value::{ArrayValue, MapValue, Value};

/// A runtime value. Field values are borrowed; function results may be owned.
#[derive(Clone)]
pub(crate) enum Rv<'a> {
    Bool(bool),
    Int(i64),
    Bytes(Cow<'a, [u8]>),
    Ip(IpAddr),
    Array(Arr<'a>),
    Map(&'a dyn MapValue),
}

#[derive(Clone)]
pub(crate) enum Arr<'a> {
    Ext(&'a dyn ArrayValue),
    Own(Vec<Rv<'a>>),
}

impl<'a> Arr<'a> {
    pub(crate) fn len(&self) -> usize {
        match self {
            Arr::Ext(a) => a.len(),
            Arr::Own(v) => v.len(),
        }
    }

    pub(crate) fn get(&self, index: usize) -> Option<Rv<'a>> {
        match self {
            Arr::Ext(a) => a.get(index).map(Rv::from_value),
            Arr::Own(v) => v.get(index).cloned(),
        }
    }

    /// Calls `f` on each element until it returns `false`.
    pub(crate) fn for_each(&self, f: &mut dyn FnMut(Rv<'_>) -> bool) {
        match self {
            Arr::Ext(a) => {
                for i in 0..a.len() {
                    if let Some(v) = a.get(i)
                        && !f(Rv::from_value(v))
                    {
                        return;
                    }
                }
            }
            Arr::Own(v) => {
                for item in v {
                    if !f(item.clone()) {
                        return;
                    }
                }
            }
        }
    }
}

impl<'a> Rv<'a> {
    #[inline]
    pub(crate) fn from_value(v: Value<'a>) -> Rv<'a> {
        match v {
            Value::Bool(b) => Rv::Bool(b),
            Value::Int(i) => Rv::Int(i),
            Value::Bytes(b) => Rv::Bytes(Cow::Borrowed(b)),
            Value::Ip(ip) => Rv::Ip(ip),
            Value::Array(a) => Rv::Array(Arr::Ext(a)),
            Value::Map(m) => Rv::Map(m),
        }
    }

    /// A copy that borrows nothing. Maps cannot be copied (no function produces one).
    pub(crate) fn into_owned(self) -> Option<Rv<'static>> {
        Some(match self {
            Rv::Bool(b) => Rv::Bool(b),
            Rv::Int(i) => Rv::Int(i),
            Rv::Bytes(b) => Rv::Bytes(Cow::Owned(b.into_owned())),
            Rv::Ip(ip) => Rv::Ip(ip),
            Rv::Array(a) => {
                let mut out = Vec::with_capacity(a.len());
                let mut ok = true;
                a.for_each(&mut |v| match v.into_owned() {
                    Some(v) => {
                        out.push(v);
                        true
                    }
                    None => {
                        ok = false;
                        false
                    }
                });
                if !ok {
                    return None;
                }
                Rv::Array(Arr::Own(out))
            }
            Rv::Map(_) => return None,
        })
    }

    pub(crate) fn as_scalar(&self) -> Option<Sv<'_>> {
        Some(match self {
            Rv::Bool(b) => Sv::Bool(*b),
            Rv::Int(i) => Sv::Int(*i),
            Rv::Bytes(b) => Sv::Bytes(b),
            Rv::Ip(ip) => Sv::Ip(*ip),
            Rv::Array(_) | Rv::Map(_) => return None,
        })
    }
}

/// A scalar view of a value, what comparisons look at.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Sv<'a> {
    Bool(bool),
    Int(i64),
    Bytes(&'a [u8]),
    Ip(IpAddr),
}
