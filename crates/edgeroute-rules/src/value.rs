//! Runtime values: what an embedder hands to a [`Filter`](crate::Filter) at execution time.

use std::fmt;
use std::net::IpAddr;

use crate::scheme::{FieldId, Scheme};
use crate::types::Type;

/// A borrowed field value, as returned by a [`FieldSource`].
#[derive(Clone, Copy)]
pub enum Value<'a> {
    /// A Boolean.
    Bool(bool),
    /// An Integer.
    Int(i64),
    /// A String (bytes).
    Bytes(&'a [u8]),
    /// An IP address.
    Ip(IpAddr),
    /// An Array.
    Array(&'a dyn ArrayValue),
    /// A Map.
    Map(&'a dyn MapValue),
}

impl fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "Bool({b})"),
            Value::Int(i) => write!(f, "Int({i})"),
            Value::Bytes(b) => write!(f, "Bytes({:?})", String::from_utf8_lossy(b)),
            Value::Ip(ip) => write!(f, "Ip({ip})"),
            Value::Array(a) => {
                let mut list = f.debug_list();
                for i in 0..a.len() {
                    if let Some(v) = a.get(i) {
                        list.entry(&v);
                    }
                }
                list.finish()
            }
            Value::Map(m) => {
                let mut map = f.debug_map();
                m.for_each(&mut |k, v| {
                    map.entry(&String::from_utf8_lossy(k), &v);
                    true
                });
                map.finish()
            }
        }
    }
}

/// An Array value supplied by the embedder.
pub trait ArrayValue {
    /// The number of elements.
    fn len(&self) -> usize;
    /// Whether the array has no elements.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The element at `index`, or `None` past the end.
    fn get(&self, index: usize) -> Option<Value<'_>>;
}

/// A Map value supplied by the embedder (keys are byte strings).
pub trait MapValue {
    /// The value under `key`, or `None` when absent.
    fn get(&self, key: &[u8]) -> Option<Value<'_>>;
    /// Calls `f` on every entry until it returns `false`.
    fn for_each(&self, f: &mut dyn FnMut(&[u8], Value<'_>) -> bool);
}

/// Where a [`Filter`](crate::Filter) reads field values from during execution.
///
/// Implementations are called on the hot path and must not allocate.
pub trait FieldSource {
    /// The value of `field`, or `None` when the field is missing for this request.
    fn get(&self, field: FieldId) -> Option<Value<'_>>;

    /// The bytes of a String field: what [`FieldSource::get`] answers for it when that is a
    /// String, else `None` (the default does exactly that). Compiled filters read String
    /// fields through this; an implementation may answer it without building a [`Value`].
    fn get_bytes(&self, field: FieldId) -> Option<&[u8]> {
        match self.get(field) {
            Some(Value::Bytes(b)) => Some(b),
            _ => None,
        }
    }

    /// The value of a `rate(<period>)` term (a request count over the last `period_secs`
    /// seconds), or `None` when the embedder does not track it (the term is then missing).
    fn rate(&self, period_secs: u32) -> Option<i64> {
        let _ = period_secs;
        None
    }
}

/// An owned value, for [`Context`] and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedValue {
    /// A Boolean.
    Bool(bool),
    /// An Integer.
    Int(i64),
    /// A String (bytes).
    Bytes(Vec<u8>),
    /// An IP address.
    Ip(IpAddr),
    /// An Array.
    Array(Vec<OwnedValue>),
    /// A Map, in insertion order; the first entry with a key wins on lookup.
    Map(Vec<(Vec<u8>, OwnedValue)>),
}

impl ArrayValue for Vec<OwnedValue> {
    fn len(&self) -> usize {
        <[OwnedValue]>::len(self)
    }

    fn get(&self, index: usize) -> Option<Value<'_>> {
        <[OwnedValue]>::get(self, index).map(OwnedValue::as_value)
    }
}

impl MapValue for Vec<(Vec<u8>, OwnedValue)> {
    fn get(&self, key: &[u8]) -> Option<Value<'_>> {
        self.iter()
            .find(|(k, _)| k.as_slice() == key)
            .map(|(_, v)| v.as_value())
    }

    fn for_each(&self, f: &mut dyn FnMut(&[u8], Value<'_>) -> bool) {
        for (k, v) in self {
            if !f(k, v.as_value()) {
                break;
            }
        }
    }
}

impl OwnedValue {
    /// Borrows this value as a [`Value`].
    #[must_use]
    pub fn as_value(&self) -> Value<'_> {
        match self {
            OwnedValue::Bool(b) => Value::Bool(*b),
            OwnedValue::Int(i) => Value::Int(*i),
            OwnedValue::Bytes(b) => Value::Bytes(b),
            OwnedValue::Ip(ip) => Value::Ip(*ip),
            OwnedValue::Array(a) => Value::Array(a),
            OwnedValue::Map(m) => Value::Map(m),
        }
    }

    /// Copies a borrowed value.
    #[must_use]
    pub fn from_value(value: Value<'_>) -> Self {
        match value {
            Value::Bool(b) => OwnedValue::Bool(b),
            Value::Int(i) => OwnedValue::Int(i),
            Value::Bytes(b) => OwnedValue::Bytes(b.to_vec()),
            Value::Ip(ip) => OwnedValue::Ip(ip),
            Value::Array(a) => OwnedValue::Array(
                (0..a.len())
                    .filter_map(|i| a.get(i))
                    .map(Self::from_value)
                    .collect(),
            ),
            Value::Map(m) => {
                let mut out = Vec::new();
                m.for_each(&mut |k, v| {
                    out.push((k.to_vec(), Self::from_value(v)));
                    true
                });
                OwnedValue::Map(out)
            }
        }
    }

    /// Whether this value has type `ty`.
    #[must_use]
    pub fn has_type(&self, ty: &Type) -> bool {
        match (self, ty) {
            (OwnedValue::Bool(_), Type::Bool)
            | (OwnedValue::Int(_), Type::Int)
            | (OwnedValue::Bytes(_), Type::Bytes)
            | (OwnedValue::Ip(_), Type::Ip) => true,
            (OwnedValue::Array(items), Type::Array(t)) => items.iter().all(|v| v.has_type(t)),
            (OwnedValue::Map(items), Type::Map(t)) => items.iter().all(|(_, v)| v.has_type(t)),
            _ => false,
        }
    }

    /// Decodes the JSON encoding of a field value used by `edgeroute expr --jsonl` and the
    /// conformance corpus: String and IP address as JSON strings, Integer as a number, Boolean
    /// as a bool, Array as an array, Map as an object.
    ///
    /// # Errors
    /// [`ContextError::Type`] when `v` does not encode a value of type `ty`,
    /// [`ContextError::InvalidIp`] for a string that is not an IP address.
    pub fn from_json(ty: &Type, v: &serde_json::Value) -> Result<Self, ContextError> {
        use serde_json::Value as J;
        let mismatch = || ContextError::Type {
            expected: ty.clone(),
            found: json_kind(v),
        };
        match (ty, v) {
            (Type::Bool, J::Bool(b)) => Ok(OwnedValue::Bool(*b)),
            (Type::Int, J::Number(n)) => n.as_i64().map(OwnedValue::Int).ok_or_else(mismatch),
            (Type::Bytes, J::String(s)) => Ok(OwnedValue::Bytes(s.as_bytes().to_vec())),
            (Type::Ip, J::String(s)) => s
                .trim()
                .parse::<IpAddr>()
                .map(OwnedValue::Ip)
                .map_err(|_| ContextError::InvalidIp(s.clone())),
            (Type::Array(t), J::Array(items)) => items
                .iter()
                .map(|item| Self::from_json(t, item))
                .collect::<Result<Vec<_>, _>>()
                .map(OwnedValue::Array),
            (Type::Map(t), J::Object(entries)) => entries
                .iter()
                .map(|(k, item)| Ok((k.as_bytes().to_vec(), Self::from_json(t, item)?)))
                .collect::<Result<Vec<_>, _>>()
                .map(OwnedValue::Map),
            _ => Err(mismatch()),
        }
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Errors setting values in a [`Context`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContextError {
    /// The scheme has no field of this name.
    #[error("unknown field `{0}`")]
    UnknownField(String),
    /// A value of the wrong type.
    #[error("expected a value of type {expected}, found {found}")]
    Type {
        /// The field's type.
        expected: Type,
        /// What was given instead.
        found: &'static str,
    },
    /// A string that does not parse as an IP address.
    #[error("`{0}` is not an IP address")]
    InvalidIp(String),
    /// A field of this name got a value of the wrong type.
    #[error("field `{field}`: {source}")]
    Field {
        /// The field name.
        field: String,
        /// What was wrong.
        #[source]
        source: Box<ContextError>,
    },
}

/// An owned set of field values for one request: for tests, the CLI and the simulator.
#[derive(Debug, Clone)]
pub struct Context {
    scheme: Scheme,
    values: Vec<Option<OwnedValue>>,
    rates: Vec<(u32, i64)>,
}

impl Context {
    /// An empty context (every field missing) for `scheme`.
    #[must_use]
    pub fn new(scheme: &Scheme) -> Self {
        Context {
            scheme: scheme.clone(),
            values: vec![None; scheme.field_count()],
            rates: Vec::new(),
        }
    }

    /// Sets `field` to `value`. The caller is responsible for the type matching the scheme;
    /// a value of the wrong type behaves as a missing one.
    pub fn set(&mut self, field: FieldId, value: OwnedValue) {
        let index = field.index();
        if index >= self.values.len() {
            self.values.resize(index + 1, None);
        }
        if let Some(slot) = self.values.get_mut(index) {
            *slot = Some(value);
        }
    }

    /// Sets the field called `name`, checking its type.
    ///
    /// # Errors
    /// [`ContextError::UnknownField`] or [`ContextError::Type`].
    pub fn set_by_name(&mut self, name: &str, value: OwnedValue) -> Result<(), ContextError> {
        let id = self
            .scheme
            .field(name)
            .ok_or_else(|| ContextError::UnknownField(name.to_owned()))?;
        let ty = self.scheme.field_type(id);
        if !value.has_type(ty) {
            return Err(ContextError::Type {
                expected: ty.clone(),
                found: value.kind(),
            });
        }
        self.set(id, value);
        Ok(())
    }

    /// Sets a field from its JSON encoding (see [`OwnedValue::from_json`]).
    ///
    /// # Errors
    /// As [`Context::set_by_name`] and [`OwnedValue::from_json`].
    pub fn set_json(&mut self, name: &str, v: &serde_json::Value) -> Result<(), ContextError> {
        let id = self
            .scheme
            .field(name)
            .ok_or_else(|| ContextError::UnknownField(name.to_owned()))?;
        let value = OwnedValue::from_json(self.scheme.field_type(id), v).map_err(|e| {
            ContextError::Field {
                field: name.to_owned(),
                source: Box::new(e),
            }
        })?;
        self.set(id, value);
        Ok(())
    }

    /// Marks `field` missing again.
    pub fn unset(&mut self, field: FieldId) {
        if let Some(slot) = self.values.get_mut(field.index()) {
            *slot = None;
        }
    }

    /// Sets the value of `rate(<period_secs>)`.
    pub fn set_rate(&mut self, period_secs: u32, value: i64) {
        if let Some(slot) = self.rates.iter_mut().find(|(p, _)| *p == period_secs) {
            slot.1 = value;
        } else {
            self.rates.push((period_secs, value));
        }
    }

    /// The scheme this context was made for.
    #[must_use]
    pub fn scheme(&self) -> &Scheme {
        &self.scheme
    }
}

impl OwnedValue {
    fn kind(&self) -> &'static str {
        match self {
            OwnedValue::Bool(_) => "a Boolean",
            OwnedValue::Int(_) => "an Integer",
            OwnedValue::Bytes(_) => "a String",
            OwnedValue::Ip(_) => "an IP address",
            OwnedValue::Array(_) => "an Array",
            OwnedValue::Map(_) => "a Map",
        }
    }
}

impl FieldSource for Context {
    fn get(&self, field: FieldId) -> Option<Value<'_>> {
        self.values
            .get(field.index())?
            .as_ref()
            .map(OwnedValue::as_value)
    }

    fn rate(&self, period_secs: u32) -> Option<i64> {
        self.rates
            .iter()
            .find(|(p, _)| *p == period_secs)
            .map(|(_, v)| *v)
    }
}
