//! Cloudflare's Rules language (the wirefilter syntax of WAF custom rules, rate limiting
//! rules and cache rules), compiled to fast closures.
//!
//! The pipeline has one type per stage: text -> [`Expr`] (parsed and type-checked against a
//! [`Scheme`], with byte spans) -> [`Filter`] (compiled closures, `Send + Sync`) ->
//! [`Filter::execute`] against a [`FieldSource`] that supplies field values for one request.
//!
//! ```
//! use edgeroute_rules::{Context, OwnedValue, Scheme};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let scheme = Scheme::cloudflare();
//! let filter = scheme.compile(
//!     r#"http.request.uri.path contains "/api/v1/calls" and not cf.bot_management.verified_bot"#,
//! )?;
//!
//! let mut request = Context::new(&scheme);
//! request.set_by_name("http.request.uri.path", OwnedValue::Bytes(b"/api/v1/calls/42".to_vec()))?;
//! request.set_by_name("cf.bot_management.verified_bot", OwnedValue::Bool(false))?;
//! assert!(filter.execute(&request));
//!
//! // A missing value makes every comparison false (`!=` too).
//! let empty = Context::new(&scheme);
//! assert!(!scheme.compile(r#"http.host ne "example.com""#)?.execute(&empty));
//! # Ok(())
//! # }
//! ```
//!
//! Errors carry byte spans and render with line, column and a caret:
//!
//! ```
//! let scheme = edgeroute_rules::Scheme::cloudflare();
//! let errors = scheme.parse("ip.src contains \"1\" and http.hots eq \"a\"").unwrap_err();
//! assert_eq!(errors.len(), 2);
//! assert!(errors.render("rule", "x").contains("not defined on IP address"));
//! ```
//!
//! # Should I use this?
//! Use it to evaluate Cloudflare-style conditions inside a Rust gateway or simulator. It
//! follows Cloudflare's documentation (fields, operators, values, functions, missing values)
//! and, where the documentation is silent, the behaviour of `cloudflare/wirefilter`.
//!
//! # Main types
//! - [`Scheme`]: the typed registry of fields ([`Scheme::cloudflare`] has the standard ones)
//!   and named lists ([`List`]), with parser [`Limits`].
//! - [`Expr`]: a checked expression; `Display` prints canonical text.
//! - [`Filter`]: a compiled expression. Execution does not allocate, except inside functions
//!   that build a value (`lower`, `upper`, `concat`, `substring`, `url_decode`, `to_string`,
//!   `regex_replace`, `wildcard_replace`, `remove_bytes`, `decode_base64`, `encode_base64`,
//!   `lookup_json_*`) and when a function is applied over `[*]`. `len`, `starts_with`,
//!   `ends_with`, `cidr`, `cidr6`, `any` and `all` do not allocate.
//! - [`FieldSource`], [`Value`], [`ArrayValue`], [`MapValue`]: how an embedder supplies
//!   values lazily; [`Context`] and [`OwnedValue`] are an owned implementation.
//! - [`ParseErrors`], [`ParseError`], [`Span`]: every problem found, with spans.
//!
//! # The language
//! Types Boolean, Integer, String (bytes), IP address, `Array<T>`, `Map<T>`. Comparisons
//! `eq ==`, `ne !=`, `lt <`, `le <=`, `gt >`, `ge >=`, `contains`, `matches ~`, `wildcard`,
//! `strict wildcard`, `in {..}`, `in $list`, `&`; logic `not !`, `and &&`, `xor ^^`,
//! `or ||` (in that order of precedence, left-associative); indexing `["key"]`, `[N]`,
//! `[*]`; `any()`, `all()`; functions `lower`, `upper`, `len`, `starts_with`, `ends_with`,
//! `concat`, `substring`, `url_decode`, `to_string`, `regex_replace`, `wildcard_replace`,
//! `remove_bytes`, `decode_base64`, `encode_base64`, `lookup_json_string`,
//! `lookup_json_integer`, `cidr`, `cidr6`; and `rate(<period>)`, an Integer the embedder
//! supplies through [`FieldSource::rate`].
// The workspace denies `unsafe`; only edgeroute-sim holds an exception (a cache prefetch).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod ast;
mod compile;
mod error;
mod expr;
mod functions;
mod interp;
mod literal_regex;
mod parse;
mod rt;
mod scheme;
mod sets;
mod substring;
mod types;
mod value;
mod wildcard;

#[doc(hidden)]
pub mod fuzz;

pub use error::{ParseError, ParseErrors, Span};
pub use expr::{Expr, Filter};
pub use scheme::{FieldId, Limits, List, Scheme, SchemeError};
pub use types::Type;
pub use value::{ArrayValue, Context, ContextError, FieldSource, MapValue, OwnedValue, Value};
