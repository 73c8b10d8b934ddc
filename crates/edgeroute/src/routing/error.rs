//! Load errors of the routing section, each addressed by a TOML key path.

use std::fmt;

/// One step of a TOML key path: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathSegment {
    /// A key in a table, such as `services` or `us-east-1`.
    Key(String),
    /// An index into an array, such as the `0` in `pools[0]`.
    Index(usize),
}

/// A path of keys and indices from the routing section's table to the offending value, for
/// example `services.api.pools[0].endpoints`. The engine's loader resolves it to a file, line
/// and column.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct KeyPath(Vec<PathSegment>);

impl KeyPath {
    /// The empty path: the routing section itself.
    #[must_use]
    pub fn root() -> Self {
        Self(Vec::new())
    }

    /// This path extended by a table key.
    #[must_use]
    pub fn key(&self, key: &str) -> Self {
        let mut segments = self.0.clone();
        segments.push(PathSegment::Key(key.to_owned()));
        Self(segments)
    }

    /// This path extended by an array index.
    #[must_use]
    pub fn index(&self, index: usize) -> Self {
        let mut segments = self.0.clone();
        segments.push(PathSegment::Index(index));
        Self(segments)
    }

    /// The segments, outermost first.
    #[must_use]
    pub fn segments(&self) -> &[PathSegment] {
        &self.0
    }
}

impl fmt::Display for KeyPath {
    /// Dotted keys and bracketed indices; keys that are not bare TOML keys are quoted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                PathSegment::Key(key) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    let bare = !key.is_empty()
                        && key
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                    if bare {
                        f.write_str(key)?;
                    } else {
                        write!(f, "{key:?}")?;
                    }
                }
                PathSegment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// A semantic error in the routing section found while compiling it: an unknown region, an
/// empty pool, a residency group without regions, and so on. Nothing is half-applied: compiling
/// returns every error at once and no [`CompiledRouting`](super::CompiledRouting).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RoutingError {
    path: KeyPath,
    message: String,
    help: Option<String>,
}

impl RoutingError {
    pub(crate) fn new(path: KeyPath, message: impl Into<String>) -> Self {
        Self {
            path,
            message: message.into(),
            help: None,
        }
    }

    pub(crate) fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Where the error is, relative to the routing section.
    #[must_use]
    pub fn path(&self) -> &KeyPath {
        &self.path
    }

    /// The lowercase message, with user input in backticks.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// An optional hint on how to fix it.
    #[must_use]
    pub fn help(&self) -> Option<&str> {
        self.help.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_paths_render_like_toml() {
        let path = KeyPath::root()
            .key("services")
            .key("api")
            .key("pools")
            .index(0)
            .key("endpoints");
        assert_eq!(path.to_string(), "services.api.pools[0].endpoints");
        let odd = KeyPath::root().key("map").key("a.b");
        assert_eq!(odd.to_string(), "map.\"a.b\"");
    }
}
