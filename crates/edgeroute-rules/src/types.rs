//! The value types of the Rules language.

use std::fmt;

/// The type of a field, a function result or a literal.
///
/// `Display` prints the names the Cloudflare documentation uses: `Boolean`, `Integer`, `String`,
/// `IP address`, `Array<String>`, `Map<Array<String>>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Type {
    /// `true` or `false`.
    Bool,
    /// A signed 64-bit integer.
    Int,
    /// A string of bytes (not necessarily UTF-8).
    Bytes,
    /// An IPv4 or IPv6 address.
    Ip,
    /// An ordered list of values of one type.
    Array(Box<Type>),
    /// A map from byte-string keys to values of one type.
    Map(Box<Type>),
}

impl Type {
    /// `Array<T>` for this `T`.
    #[must_use]
    pub fn array_of(self) -> Type {
        Type::Array(Box::new(self))
    }

    /// `Map<T>` for this `T`.
    #[must_use]
    pub fn map_of(self) -> Type {
        Type::Map(Box::new(self))
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Bool => f.write_str("Boolean"),
            Type::Int => f.write_str("Integer"),
            Type::Bytes => f.write_str("String"),
            Type::Ip => f.write_str("IP address"),
            Type::Array(t) => write!(f, "Array<{t}>"),
            Type::Map(t) => write!(f, "Map<{t}>"),
        }
    }
}
