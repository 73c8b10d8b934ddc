//! The field registry an expression is checked against.

use std::collections::HashMap;
use std::sync::Arc;

use ipnet::IpNet;

use crate::error::ParseErrors;
use crate::types::Type;
use crate::{Expr, Filter};

/// The id of a field in a [`Scheme`]: dense, from 0, in the order fields were added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldId(u32);

impl FieldId {
    /// The position of this field (0-based), for array-backed field sources.
    #[must_use]
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A named list, used in expressions as `$name` (`ip.src in $blocked`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum List {
    /// A list of IP addresses and CIDRs (Cloudflare "IP lists").
    Ip(Vec<IpNet>),
    /// A list of strings (hostname and redirect lists are matched as strings).
    Bytes(Vec<Vec<u8>>),
    /// A list of integers (Cloudflare "ASN lists").
    Int(Vec<i64>),
}

impl List {
    /// The type of the elements of this list.
    #[must_use]
    pub fn element_type(&self) -> Type {
        match self {
            List::Ip(_) => Type::Ip,
            List::Bytes(_) => Type::Bytes,
            List::Int(_) => Type::Int,
        }
    }
}

/// Parser limits. Every bound exists so that hostile input costs bounded time and memory.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Maximum expression length in bytes. Default 4,096 (Cloudflare's limit).
    pub max_len: usize,
    /// Maximum nesting depth of parentheses, `not` and function calls. Default 64.
    pub max_depth: usize,
    /// Maximum size of one compiled regex, in bytes (`regex::RegexBuilder::size_limit`).
    /// Default 1 MiB.
    pub regex_size_limit: usize,
    /// Maximum size of a regex's lazy DFA cache, in bytes. Default 2 MiB.
    pub regex_dfa_size_limit: usize,
    /// Maximum number of regexes (including `regex_replace` patterns) per expression. Default 64.
    pub max_regexes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_len: 4096,
            max_depth: 64,
            regex_size_limit: 1 << 20,
            regex_dfa_size_limit: 2 << 20,
            max_regexes: 64,
        }
    }
}

/// Errors building a [`Scheme`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemeError {
    /// A field or list with this name already exists.
    #[error("`{0}` is already defined")]
    Duplicate(String),
    /// Not a valid field name (`[a-z0-9_]` words separated by dots) or list name.
    #[error("`{0}` is not a valid name")]
    InvalidName(String),
    /// A field of a type the language cannot use (nested maps of maps, and so on).
    #[error("type {0} is not supported for a field")]
    UnsupportedType(Type),
}

#[derive(Debug, Default, Clone)]
pub(crate) struct SchemeData {
    pub(crate) names: Vec<String>,
    pub(crate) types: Vec<Type>,
    pub(crate) by_name: HashMap<String, FieldId>,
    pub(crate) lists: HashMap<String, Arc<List>>,
    pub(crate) limits: Limits,
}

/// A typed registry of fields and named lists. Expressions are parsed and type-checked
/// against a scheme.
///
/// Cheap to clone (shared, copy-on-write).
#[derive(Debug, Clone, Default)]
pub struct Scheme {
    pub(crate) data: Arc<SchemeData>,
}

fn valid_field_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
}

fn supported(ty: &Type) -> bool {
    match ty {
        Type::Bool | Type::Int | Type::Bytes | Type::Ip => true,
        Type::Array(inner) => matches!(**inner, Type::Bool | Type::Int | Type::Bytes | Type::Ip),
        Type::Map(inner) => match &**inner {
            Type::Bool | Type::Int | Type::Bytes | Type::Ip => true,
            Type::Array(x) => matches!(**x, Type::Bool | Type::Int | Type::Bytes | Type::Ip),
            Type::Map(_) => false,
        },
    }
}

/// The standard fields of `Scheme::cloudflare()`, with their documented types.
const CLOUDFLARE_FIELDS: &[(&str, FieldKind)] = {
    use FieldKind::{ArrInt, ArrStr, Bool, Int, Ip, MapArrStr, Str};
    &[
        ("http.host", Str),
        ("http.request.uri", Str),
        ("http.request.uri.path", Str),
        ("http.request.uri.path.extension", Str),
        ("http.request.uri.query", Str),
        ("http.request.uri.args", MapArrStr),
        ("http.request.uri.args.names", ArrStr),
        ("http.request.uri.args.values", ArrStr),
        ("http.request.full_uri", Str),
        ("http.request.method", Str),
        ("http.request.version", Str),
        ("http.request.timestamp.sec", Int),
        ("http.request.timestamp.msec", Int),
        ("http.request.accepted_languages", ArrStr),
        ("http.user_agent", Str),
        ("http.referer", Str),
        ("http.cookie", Str),
        ("http.x_forwarded_for", Str),
        ("http.request.headers", MapArrStr),
        ("http.request.headers.names", ArrStr),
        ("http.request.headers.values", ArrStr),
        ("http.request.headers.truncated", Bool),
        ("http.request.cookies", MapArrStr),
        ("http.request.body.raw", Str),
        ("http.request.body.size", Int),
        ("http.request.body.truncated", Bool),
        ("http.request.body.mime", Str),
        ("http.request.body.form", MapArrStr),
        ("http.request.body.form.names", ArrStr),
        ("http.request.body.form.values", ArrStr),
        ("http.response.code", Int),
        ("http.response.headers", MapArrStr),
        ("http.response.headers.names", ArrStr),
        ("http.response.headers.values", ArrStr),
        ("raw.http.request.uri", Str),
        ("raw.http.request.uri.path", Str),
        ("raw.http.request.uri.query", Str),
        ("raw.http.request.full_uri", Str),
        ("ip.src", Ip),
        ("ip.src.country", Str),
        ("ip.src.continent", Str),
        ("ip.src.asnum", Int),
        ("ip.src.city", Str),
        ("ip.src.postal_code", Str),
        ("ip.src.region", Str),
        ("ip.src.region_code", Str),
        ("ip.src.metro_code", Str),
        ("ip.src.lat", Str),
        ("ip.src.lon", Str),
        ("ip.src.timezone.name", Str),
        ("ip.src.subdivision_1_iso_code", Str),
        ("ip.src.subdivision_2_iso_code", Str),
        ("ip.src.is_in_european_union", Bool),
        ("ip.geoip.country", Str),
        ("ip.geoip.continent", Str),
        ("ip.geoip.asnum", Int),
        ("ip.geoip.subdivision_1_iso_code", Str),
        ("ip.geoip.subdivision_2_iso_code", Str),
        ("ip.geoip.is_in_european_union", Bool),
        ("ssl", Bool),
        ("tcp.dstport", Int),
        ("cf.threat_score", Int),
        ("cf.waf.score", Int),
        ("cf.waf.score.sqli", Int),
        ("cf.waf.score.xss", Int),
        ("cf.waf.score.rce", Int),
        ("cf.waf.score.class", Str),
        ("cf.bot_management.score", Int),
        ("cf.bot_management.verified_bot", Bool),
        ("cf.bot_management.static_resource", Bool),
        ("cf.bot_management.js_detection.passed", Bool),
        ("cf.bot_management.corporate_proxy", Bool),
        ("cf.bot_management.ja3_hash", Str),
        ("cf.bot_management.ja4", Str),
        ("cf.bot_management.detection_ids", ArrInt),
        ("cf.verified_bot_category", Str),
        ("cf.client.bot", Bool),
        ("cf.client_trust_score", Int),
        ("cf.edge.server_ip", Ip),
        ("cf.edge.server_port", Int),
        ("cf.colo.id", Int),
        ("cf.colo.name", Str),
        ("cf.ray_id", Str),
        ("cf.tls_version", Str),
        ("cf.tls_cipher", Str),
        ("cf.tls_client_auth.cert_verified", Bool),
        ("cf.tls_client_auth.cert_presented", Bool),
        ("cf.worker.upstream_zone", Str),
        ("cf.hostname.metadata", Str),
        ("cf.random_seed", Str),
        ("cf.waf.credential_check.password_leaked", Bool),
    ]
};

#[derive(Clone, Copy)]
enum FieldKind {
    Str,
    Int,
    Bool,
    Ip,
    ArrStr,
    ArrInt,
    MapArrStr,
}

impl FieldKind {
    fn ty(self) -> Type {
        match self {
            FieldKind::Str => Type::Bytes,
            FieldKind::Int => Type::Int,
            FieldKind::Bool => Type::Bool,
            FieldKind::Ip => Type::Ip,
            FieldKind::ArrStr => Type::Bytes.array_of(),
            FieldKind::ArrInt => Type::Int.array_of(),
            FieldKind::MapArrStr => Type::Bytes.array_of().map_of(),
        }
    }
}

impl Scheme {
    /// An empty scheme with default [`Limits`].
    #[must_use]
    pub fn new() -> Self {
        Scheme::default()
    }

    /// The standard Cloudflare fields at their documented types, including the deprecated
    /// `ip.geoip.*` aliases. Gateways add their own fields with [`Scheme::add_field`].
    ///
    /// `http.request.headers`, `http.request.cookies` and `http.request.uri.args` are
    /// `Map<Array<String>>` (headers keyed by lowercase name).
    #[must_use]
    pub fn cloudflare() -> Self {
        let mut scheme = Scheme::new();
        for (name, kind) in CLOUDFLARE_FIELDS {
            // INVARIANT: the table has unique, valid names of supported types.
            let _ = scheme.add_field(name, kind.ty());
        }
        scheme
    }

    /// This scheme with other parser limits.
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        Arc::make_mut(&mut self.data).limits = limits;
        self
    }

    /// The parser limits in force.
    #[must_use]
    pub fn limits(&self) -> &Limits {
        &self.data.limits
    }

    /// Adds a field.
    ///
    /// # Errors
    /// [`SchemeError::Duplicate`], [`SchemeError::InvalidName`] (field names are lowercase
    /// `[a-z0-9_]` words separated by dots), [`SchemeError::UnsupportedType`].
    pub fn add_field(&mut self, name: &str, ty: Type) -> Result<FieldId, SchemeError> {
        if !valid_field_name(name) || crate::parse::is_reserved_word(name) {
            return Err(SchemeError::InvalidName(name.to_owned()));
        }
        if !supported(&ty) {
            return Err(SchemeError::UnsupportedType(ty));
        }
        if self.data.by_name.contains_key(name) {
            return Err(SchemeError::Duplicate(name.to_owned()));
        }
        let data = Arc::make_mut(&mut self.data);
        let id = FieldId(
            u32::try_from(data.names.len())
                .map_err(|_| SchemeError::InvalidName(name.to_owned()))?,
        );
        data.names.push(name.to_owned());
        data.types.push(ty);
        data.by_name.insert(name.to_owned(), id);
        Ok(id)
    }

    /// The field called `name`.
    #[must_use]
    pub fn field(&self, name: &str) -> Option<FieldId> {
        self.data.by_name.get(name).copied()
    }

    /// The name of `id` (empty for an id from another scheme that is out of range).
    #[must_use]
    pub fn field_name(&self, id: FieldId) -> &str {
        self.data.names.get(id.index()).map_or("", String::as_str)
    }

    /// The type of `id` (`Boolean` for an id from another scheme that is out of range).
    #[must_use]
    pub fn field_type(&self, id: FieldId) -> &Type {
        self.data.types.get(id.index()).unwrap_or(&Type::Bool)
    }

    /// The number of fields.
    #[must_use]
    pub fn field_count(&self) -> usize {
        self.data.names.len()
    }

    /// Every field, in id order.
    pub fn fields(&self) -> impl Iterator<Item = (FieldId, &str, &Type)> + '_ {
        self.data
            .names
            .iter()
            .zip(&self.data.types)
            .enumerate()
            .map(|(i, (n, t))| (FieldId(u32::try_from(i).unwrap_or(u32::MAX)), n.as_str(), t))
    }

    /// Adds a named list, referred to as `$name` in expressions. Its contents are fixed
    /// into every filter compiled afterwards.
    ///
    /// # Errors
    /// [`SchemeError::Duplicate`], [`SchemeError::InvalidName`] (`[a-z0-9_]+`, no `$`).
    pub fn add_list(&mut self, name: &str, list: List) -> Result<(), SchemeError> {
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(SchemeError::InvalidName(name.to_owned()));
        }
        if self.data.lists.contains_key(name) {
            return Err(SchemeError::Duplicate(name.to_owned()));
        }
        Arc::make_mut(&mut self.data)
            .lists
            .insert(name.to_owned(), Arc::new(list));
        Ok(())
    }

    /// The list called `name` (without `$`).
    #[must_use]
    pub fn list(&self, name: &str) -> Option<&List> {
        self.data.lists.get(name).map(|l| &**l)
    }

    /// Parses and type-checks `text`.
    ///
    /// # Errors
    /// Every problem found, each with a byte span; see [`ParseErrors`].
    pub fn parse(&self, text: &str) -> Result<Expr, ParseErrors> {
        crate::parse::parse(self, text.as_bytes())
    }

    /// Parses and type-checks expression bytes that may not be UTF-8 (they are rejected with
    /// an error, never a panic).
    ///
    /// # Errors
    /// As [`Scheme::parse`].
    pub fn parse_bytes(&self, text: &[u8]) -> Result<Expr, ParseErrors> {
        crate::parse::parse(self, text)
    }

    /// Parses, checks and compiles `text`.
    ///
    /// # Errors
    /// As [`Scheme::parse`].
    pub fn compile(&self, text: &str) -> Result<Filter, ParseErrors> {
        Ok(self.parse(text)?.compile())
    }
}
