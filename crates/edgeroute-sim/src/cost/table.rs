//! Price tables: the TOML format, layering over the built-in default, and validation.
//!
//! A price source is read with `toml_edit` so every value keeps its span; each value is checked
//! against the schema below (unknown keys, wrong types, negative prices and badly shaped tiers are
//! errors at their line and column), then layered over what came before, key by key. `build`
//! checks that every item both architectures need is present.

use std::collections::BTreeMap;

use toml_edit::{Document, InlineTable, Item, Table, Value};

use super::error::{Location, PriceError, PriceErrorKind};
use super::rate::{Rate, Tiers};
use super::traffic::PriceZone;

/// The built-in price table, embedded from `data/prices/default.toml`.
pub const DEFAULT_PRICES_TOML: &str = include_str!("../../data/prices/default.toml");

/// The name errors use for the built-in price table.
pub const DEFAULT_PRICES_NAME: &str = "<built-in prices>";

/// What a key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Section,
    /// USD, a number >= 0.
    Price,
    /// A number >= 0 or tiers.
    Rate,
    /// An integer >= 0.
    Count,
    /// A number in [0, 1].
    Share,
    /// A number in (0, 1].
    Utilization,
    /// A number > 0.
    PositiveNumber,
    Bool,
    Text,
}

/// Which architecture needs a key (for the "missing item" message); `None`: optional.
fn needed_by(path: &[&str]) -> Option<&'static str> {
    match path {
        ["edge", ..] => Some("hybrid"),
        ["cloud_only", ..] => Some("cloud-only"),
        ["aws", _, "default" | "regions", ..] => None,
        ["aws", ..] | ["assumptions", ..] => Some("both"),
        _ => None,
    }
}

/// The schema of a price table: the kind of value at `path`, or `None` for an unknown key.
fn kind_of(path: &[&str]) -> Option<Kind> {
    use Kind::{Bool, Count, PositiveNumber, Price, Rate as R, Section, Share, Text, Utilization};
    Some(match path {
        [] | ["edge" | "cloud_only" | "aws" | "assumptions"] => Section,
        ["inherit"] => Bool,
        ["file"] => Text,
        ["edge", "plan"] => Text,
        [
            "edge",
            "plan_monthly" | "ddos_monthly" | "certificates_monthly",
        ] => Price,
        [
            "edge",
            "bandwidth_per_gb"
            | "requests_per_million"
            | "dns_queries_per_million"
            | "waf_requests_per_million"
            | "worker_requests_per_million",
        ] => R,
        ["edge", "addons"] => Section,
        ["edge", "addons", _] => Price,
        ["cloud_only", "certificates_monthly"] => Price,
        ["cloud_only", "cdn" | "dns" | "waf" | "shield"] => Section,
        ["cloud_only", "cdn", zone] if PriceZone::from_key(zone).is_some() => Section,
        [
            "cloud_only",
            "cdn",
            zone,
            "bandwidth_per_gb" | "https_requests_per_10k",
        ] if PriceZone::from_key(zone).is_some() => R,
        ["cloud_only", "dns", "queries_per_million"] => R,
        [
            "cloud_only",
            "dns",
            "hosted_zone_monthly" | "health_check_monthly" | "health_check_options_monthly",
        ] => Price,
        ["cloud_only", "waf", "web_acl_monthly" | "rule_monthly"] => Price,
        ["cloud_only", "waf", "requests_per_million"] => R,
        ["cloud_only", "waf", "included_with_shield_advanced"] => Bool,
        ["cloud_only", "shield", "enabled"] => Bool,
        ["cloud_only", "shield", "monthly"] => Price,
        ["cloud_only", "shield", "data_transfer_per_gb"] => R,
        ["aws", "compute" | "egress" | "inter_region" | "alb"] => Section,
        ["aws", "compute" | "egress" | "inter_region", "regions"] => Section,
        ["aws", "compute", "default"] | ["aws", "compute", "regions", _] => Price,
        ["aws", "egress" | "inter_region", "default"]
        | ["aws", "egress" | "inter_region", "regions", _] => R,
        ["aws", "alb", "hour" | "lcu_hour"] => Price,
        ["assumptions", "target_cpu_utilization"] => Utilization,
        ["assumptions", "edge_worker_request_share"] => Share,
        ["assumptions", "requests_per_connection"] => PositiveNumber,
        [
            "assumptions",
            "min_vcpus_per_region" | "hosted_zones" | "web_acls" | "waf_rules" | "health_checks",
        ] => Count,
        _ => return None,
    })
}

/// A checked value.
#[derive(Debug, Clone, PartialEq)]
enum Leaf {
    Number(f64),
    Rate(Rate),
    Count(u32),
    Bool(bool),
    Text(String),
}

/// Layers price sources over one another and builds a checked [`PriceTable`].
///
/// Later layers win key by key (a region or add-on map merges entry by entry). A source that says
/// `inherit = false` drops everything layered before it, so it must be complete itself.
///
/// ```
/// use edgeroute_sim::cost::PriceTableBuilder;
///
/// let mut builder = PriceTableBuilder::new();
/// builder.add_file("cheap.toml", "[edge]\nplan_monthly = 20\n")?;
/// let table = builder.build()?;
/// assert_eq!(table.edge.plan_monthly, 20.0);
/// # Ok::<(), edgeroute_sim::cost::PriceError>(())
/// ```
#[derive(Debug, Clone)]
pub struct PriceTableBuilder {
    entries: BTreeMap<Vec<String>, Leaf>,
    sections: BTreeMap<Vec<String>, Location>,
    last_source: Location,
}

impl Default for PriceTableBuilder {
    fn default() -> Self {
        Self::new()
    }
}

/// A path named by a price table's `file` key, with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceFileRef {
    /// The path as written (the caller resolves it, e.g. against the scenario's directory).
    pub path: String,
    /// Where the `file` key's value is.
    pub location: Location,
}

impl PriceTableBuilder {
    /// A builder that starts from the built-in default prices.
    #[must_use]
    pub fn new() -> Self {
        let mut builder = Self::empty();
        // The built-in table is tested to load; should it ever fail, `build` reports what is
        // missing rather than panicking here.
        let _ = builder.add_file(DEFAULT_PRICES_NAME, DEFAULT_PRICES_TOML);
        builder
    }

    /// A builder with no prices at all.
    #[must_use]
    pub fn empty() -> Self {
        PriceTableBuilder {
            entries: BTreeMap::new(),
            sections: BTreeMap::new(),
            last_source: Location::at(DEFAULT_PRICES_NAME, "", None),
        }
    }

    /// Layers a whole price file (`name` is used in errors).
    ///
    /// # Errors
    /// A [`PriceError`] at the offending line and column: TOML syntax, an unknown key, a wrong
    /// type, a negative price, bad tiers, or a `file` key (only a scenario's table may name a
    /// file). Nothing is layered when there is an error.
    pub fn add_file(&mut self, name: &str, text: &str) -> Result<&mut Self, PriceError> {
        let doc = parse(name, text)?;
        if let Some(file) = doc.as_table().get("file") {
            return Err(PriceError::new(
                Location::at(name, text, file.span()),
                PriceErrorKind::Syntax("a price file cannot name another price file".into()),
            ));
        }
        self.add_table(name, text, doc.as_table())
    }

    /// Layers the table at `path` (such as `["prices"]`) inside a larger document, such as a
    /// scenario file. Does nothing if the document has no such table. A `file` key in it is not
    /// followed here: see [`PriceTableBuilder::file_reference`].
    ///
    /// # Errors
    /// As [`PriceTableBuilder::add_file`], with locations in the larger document.
    pub fn add_table_in(
        &mut self,
        name: &str,
        text: &str,
        path: &[&str],
    ) -> Result<&mut Self, PriceError> {
        let doc = parse(name, text)?;
        match find_table(doc.as_item(), path) {
            None => Ok(self),
            Some(Node::Table(table)) => self.add_table(name, text, table),
            Some(Node::Inline(inline)) => {
                let table = inline.clone().into_table();
                self.add_table(name, text, &table)
            }
            Some(Node::Value(value)) => Err(PriceError::new(
                Location::at(name, text, value.span()),
                PriceErrorKind::Syntax(format!("`{}` must be a table", path.join("."))),
            )),
        }
    }

    /// The price file named by the `file` key of the table at `path` in a document, if any.
    ///
    /// # Errors
    /// A TOML syntax error, or a `file` value that is not a string.
    pub fn file_reference(
        name: &str,
        text: &str,
        path: &[&str],
    ) -> Result<Option<PriceFileRef>, PriceError> {
        let doc = parse(name, text)?;
        let file = match find_table(doc.as_item(), path) {
            Some(Node::Table(t)) => t.get("file").and_then(Item::as_value).cloned(),
            Some(Node::Inline(t)) => t.get("file").cloned(),
            _ => None,
        };
        let Some(value) = file else { return Ok(None) };
        let location = Location::at(name, text, value.span());
        match value.as_str() {
            Some(path) => Ok(Some(PriceFileRef {
                path: path.to_owned(),
                location,
            })),
            None => Err(PriceError::new(
                location,
                PriceErrorKind::Syntax("`file` must be a string (a path)".into()),
            )),
        }
    }

    fn add_table(
        &mut self,
        name: &str,
        text: &str,
        table: &Table,
    ) -> Result<&mut Self, PriceError> {
        let mut layer = Layer {
            name,
            text,
            entries: Vec::new(),
            sections: Vec::new(),
        };
        let root_location = Location::at(name, text, table.span());
        layer.sections.push((Vec::new(), root_location));
        layer.walk_table(&mut Vec::new(), table)?;

        let inherit = layer
            .entries
            .iter()
            .find(|(k, _)| k.as_slice() == ["inherit"])
            .is_none_or(|(_, leaf)| *leaf != Leaf::Bool(false));
        if !inherit {
            self.entries.clear();
            self.sections.clear();
        }
        self.last_source = Location::at(name, text, Some(0..0));
        for (path, location) in layer.sections {
            self.sections.insert(path, location);
        }
        for (path, leaf) in layer.entries {
            if matches!(path.first().map(String::as_str), Some("inherit" | "file")) {
                continue;
            }
            self.entries.insert(path, leaf);
        }
        Ok(self)
    }

    /// Checks that every needed item is present and builds the table.
    ///
    /// # Errors
    /// [`PriceErrorKind::Missing`] for the first absent item, located at its section in the last
    /// source that has that section (or the start of the last source).
    pub fn build(&self) -> Result<PriceTable, PriceError> {
        let r = Resolver { b: self };
        let edge = EdgePrices {
            plan: r.text(&["edge", "plan"])?,
            plan_monthly: r.number(&["edge", "plan_monthly"])?,
            bandwidth_per_gb: r.rate(&["edge", "bandwidth_per_gb"])?,
            requests_per_million: r.rate(&["edge", "requests_per_million"])?,
            dns_queries_per_million: r.rate(&["edge", "dns_queries_per_million"])?,
            waf_requests_per_million: r.rate(&["edge", "waf_requests_per_million"])?,
            ddos_monthly: r.number(&["edge", "ddos_monthly"])?,
            certificates_monthly: r.number(&["edge", "certificates_monthly"])?,
            worker_requests_per_million: r.rate(&["edge", "worker_requests_per_million"])?,
            addons: r.map_numbers(&["edge", "addons"]),
        };
        let zone_prices = |zone: PriceZone| -> Result<CdnZonePrices, PriceError> {
            let key = zone.as_str();
            Ok(CdnZonePrices {
                bandwidth_per_gb: r.rate(&["cloud_only", "cdn", key, "bandwidth_per_gb"])?,
                https_requests_per_10k: r.rate(&[
                    "cloud_only",
                    "cdn",
                    key,
                    "https_requests_per_10k",
                ])?,
            })
        };
        let mut cdn = BTreeMap::new();
        for zone in PriceZone::ALL {
            cdn.insert(zone, zone_prices(zone)?);
        }
        Ok(PriceTable {
            edge,
            cloud_only: CloudOnlyPrices {
                cdn,
                dns: DnsPrices {
                    queries_per_million: r.rate(&["cloud_only", "dns", "queries_per_million"])?,
                    hosted_zone_monthly: r.number(&["cloud_only", "dns", "hosted_zone_monthly"])?,
                    health_check_monthly: r.number(&[
                        "cloud_only",
                        "dns",
                        "health_check_monthly",
                    ])?,
                    health_check_options_monthly: r.number(&[
                        "cloud_only",
                        "dns",
                        "health_check_options_monthly",
                    ])?,
                },
                waf: WafPrices {
                    web_acl_monthly: r.number(&["cloud_only", "waf", "web_acl_monthly"])?,
                    rule_monthly: r.number(&["cloud_only", "waf", "rule_monthly"])?,
                    requests_per_million: r.rate(&["cloud_only", "waf", "requests_per_million"])?,
                    included_with_shield_advanced: r.bool(&[
                        "cloud_only",
                        "waf",
                        "included_with_shield_advanced",
                    ])?,
                },
                shield: ShieldPrices {
                    enabled: r.bool(&["cloud_only", "shield", "enabled"])?,
                    monthly: r.number(&["cloud_only", "shield", "monthly"])?,
                    data_transfer_per_gb: r.rate(&[
                        "cloud_only",
                        "shield",
                        "data_transfer_per_gb",
                    ])?,
                },
                certificates_monthly: r.number(&["cloud_only", "certificates_monthly"])?,
            },
            aws: OriginPrices {
                compute_vcpu_hour: RegionPrices {
                    default: r.optional_number(&["aws", "compute", "default"]),
                    regions: r.map_numbers(&["aws", "compute", "regions"]),
                    location: r.section_location(&["aws", "compute"]),
                },
                alb_hour: r.number(&["aws", "alb", "hour"])?,
                alb_lcu_hour: r.number(&["aws", "alb", "lcu_hour"])?,
                internet_egress_per_gb: RegionPrices {
                    default: r.optional_rate(&["aws", "egress", "default"]),
                    regions: r.map_rates(&["aws", "egress", "regions"]),
                    location: r.section_location(&["aws", "egress"]),
                },
                inter_region_per_gb: RegionPrices {
                    default: r.optional_rate(&["aws", "inter_region", "default"]),
                    regions: r.map_rates(&["aws", "inter_region", "regions"]),
                    location: r.section_location(&["aws", "inter_region"]),
                },
            },
            assumptions: Assumptions {
                target_cpu_utilization: r.number(&["assumptions", "target_cpu_utilization"])?,
                min_vcpus_per_region: r.count(&["assumptions", "min_vcpus_per_region"])?,
                requests_per_connection: r.number(&["assumptions", "requests_per_connection"])?,
                edge_worker_request_share: r
                    .number(&["assumptions", "edge_worker_request_share"])?,
                hosted_zones: r.count(&["assumptions", "hosted_zones"])?,
                web_acls: r.count(&["assumptions", "web_acls"])?,
                waf_rules: r.count(&["assumptions", "waf_rules"])?,
                health_checks: r.count(&["assumptions", "health_checks"])?,
            },
        })
    }
}

fn parse<'t>(name: &str, text: &'t str) -> Result<Document<&'t str>, PriceError> {
    Document::parse(text).map_err(|e| {
        PriceError::new(
            Location::at(name, text, e.span()),
            PriceErrorKind::Syntax(e.message().trim().to_owned()),
        )
    })
}

enum Node<'a> {
    Table(&'a Table),
    Inline(&'a InlineTable),
    Value(&'a Value),
}

fn find_table<'a>(item: &'a Item, path: &[&str]) -> Option<Node<'a>> {
    let mut node = match item {
        Item::Table(t) => Node::Table(t),
        Item::Value(Value::InlineTable(t)) => Node::Inline(t),
        Item::Value(v) => Node::Value(v),
        Item::None | Item::ArrayOfTables(_) => return None,
    };
    for key in path {
        node = match node {
            Node::Table(t) => match t.get(key)? {
                Item::Table(t) => Node::Table(t),
                Item::Value(Value::InlineTable(t)) => Node::Inline(t),
                Item::Value(v) => Node::Value(v),
                Item::None | Item::ArrayOfTables(_) => return None,
            },
            Node::Inline(t) => match t.get(key)? {
                Value::InlineTable(t) => Node::Inline(t),
                v => Node::Value(v),
            },
            Node::Value(_) => return None,
        };
    }
    Some(node)
}

/// The text of a key path for messages: `cloud_only.cdn.eu`, with odd segments quoted.
fn display_path(path: &[String]) -> String {
    path.iter()
        .map(|s| {
            if !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                s.clone()
            } else {
                format!("{s:?}")
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// One source being checked.
struct Layer<'a> {
    name: &'a str,
    text: &'a str,
    entries: Vec<(Vec<String>, Leaf)>,
    sections: Vec<(Vec<String>, Location)>,
}

impl Layer<'_> {
    fn location(&self, span: Option<std::ops::Range<usize>>) -> Location {
        Location::at(self.name, self.text, span)
    }

    fn error(&self, span: Option<std::ops::Range<usize>>, kind: PriceErrorKind) -> PriceError {
        PriceError::new(self.location(span), kind)
    }

    fn kind(path: &[String]) -> Option<Kind> {
        let parts: Vec<&str> = path.iter().map(String::as_str).collect();
        kind_of(&parts)
    }

    fn unknown(&self, path: &[String], span: Option<std::ops::Range<usize>>) -> PriceError {
        self.error(
            span,
            PriceErrorKind::Syntax(format!("unknown key `{}`", display_path(path))),
        )
    }

    fn walk_table(&mut self, path: &mut Vec<String>, table: &Table) -> Result<(), PriceError> {
        for (key, item) in table.iter() {
            let key_span = table.key(key).and_then(toml_edit::Key::span);
            path.push(key.to_owned());
            match item {
                Item::Table(t) => self.section(path, key_span.or(t.span()), Node::Table(t))?,
                Item::Value(v) => self.value(path, key_span, v)?,
                Item::ArrayOfTables(a) => return Err(self.unknown(path, a.span().or(key_span))),
                Item::None => {}
            }
            path.pop();
        }
        Ok(())
    }

    fn walk_inline(
        &mut self,
        path: &mut Vec<String>,
        table: &InlineTable,
    ) -> Result<(), PriceError> {
        for (key, value) in table.iter() {
            let key_span = table.key(key).and_then(toml_edit::Key::span);
            path.push(key.to_owned());
            self.value(path, key_span, value)?;
            path.pop();
        }
        Ok(())
    }

    /// A table at `path`: a section to walk, or a tiered rate written as a table.
    fn section(
        &mut self,
        path: &mut Vec<String>,
        span: Option<std::ops::Range<usize>>,
        node: Node<'_>,
    ) -> Result<(), PriceError> {
        match Self::kind(path) {
            Some(Kind::Section) => {
                self.sections.push((path.clone(), self.location(span)));
                match node {
                    Node::Table(t) => self.walk_table(path, t),
                    Node::Inline(t) => self.walk_inline(path, t),
                    Node::Value(_) => Ok(()),
                }
            }
            Some(Kind::Rate) => {
                let (breaks, prices, tiers_span) = match node {
                    Node::Table(t) => (
                        t.get("breaks").and_then(Item::as_value),
                        t.get("prices").and_then(Item::as_value),
                        self.tier_keys(path, t.iter().map(|(k, _)| k), t.span())?,
                    ),
                    Node::Inline(t) => (
                        t.get("breaks"),
                        t.get("prices"),
                        self.tier_keys(path, t.iter().map(|(k, _)| k), t.span())?,
                    ),
                    Node::Value(_) => return Err(self.unknown(path, span)),
                };
                let rate = self.tiers(path, breaks, prices, tiers_span.or(span))?;
                self.entries.push((path.clone(), Leaf::Rate(rate)));
                Ok(())
            }
            Some(_) => Err(self.error(
                span,
                PriceErrorKind::Syntax(format!(
                    "`{}` must be a value, not a table",
                    display_path(path)
                )),
            )),
            None => Err(self.unknown(path, span)),
        }
    }

    /// Checks that a tiers table has only `breaks` and `prices`; returns its span.
    fn tier_keys<'k>(
        &self,
        path: &[String],
        keys: impl Iterator<Item = &'k str>,
        span: Option<std::ops::Range<usize>>,
    ) -> Result<Option<std::ops::Range<usize>>, PriceError> {
        for key in keys {
            if key != "breaks" && key != "prices" {
                let mut p = path.to_vec();
                p.push(key.to_owned());
                return Err(self.unknown(&p, span));
            }
        }
        Ok(span)
    }

    fn tiers(
        &self,
        path: &[String],
        breaks: Option<&Value>,
        prices: Option<&Value>,
        span: Option<std::ops::Range<usize>>,
    ) -> Result<Rate, PriceError> {
        let key = display_path(path);
        let numbers = |value: Option<&Value>, what: &str| -> Result<Vec<f64>, PriceError> {
            let Some(value) = value else {
                return Err(self.error(
                    span.clone(),
                    PriceErrorKind::BadTiers {
                        key: key.clone(),
                        reason: format!("`{what}` is missing"),
                    },
                ));
            };
            let Some(array) = value.as_array() else {
                return Err(self.error(
                    value.span(),
                    PriceErrorKind::Syntax(format!("`{key}.{what}` must be an array of numbers")),
                ));
            };
            let mut out = Vec::with_capacity(array.len());
            for v in array {
                let n = self.number(&format!("{key}.{what}"), v)?;
                out.push(n);
            }
            Ok(out)
        };
        let breaks = numbers(breaks, "breaks")?;
        let prices = numbers(prices, "prices")?;
        let bad = |reason: String| {
            self.error(
                span.clone(),
                PriceErrorKind::BadTiers {
                    key: key.clone(),
                    reason,
                },
            )
        };
        if prices.len() != breaks.len() + 1 {
            return Err(bad(format!(
                "{} breaks need {} prices, found {}",
                breaks.len(),
                breaks.len() + 1,
                prices.len()
            )));
        }
        if breaks.first().is_some_and(|b| *b <= 0.0) {
            return Err(bad("the first break must be above zero".into()));
        }
        if !breaks.windows(2).all(|w| matches!(w, [a, b] if a < b)) {
            return Err(bad("breaks must increase".into()));
        }
        Tiers::new(breaks, prices)
            .map(Rate::Tiered)
            .ok_or_else(|| bad("invalid tiers".into()))
    }

    /// A finite, non-negative number.
    fn number(&self, key: &str, value: &Value) -> Result<f64, PriceError> {
        #[expect(
            clippy::cast_precision_loss,
            reason = "prices written as integers are far below 2^53"
        )]
        let n = match value {
            Value::Float(f) => *f.value(),
            Value::Integer(i) => *i.value() as f64,
            _ => {
                return Err(self.error(
                    value.span(),
                    PriceErrorKind::Syntax(format!("`{key}` must be a number")),
                ));
            }
        };
        if !n.is_finite() {
            return Err(self.error(
                value.span(),
                PriceErrorKind::NotFinite {
                    key: key.to_owned(),
                },
            ));
        }
        if n < 0.0 {
            return Err(self.error(
                value.span(),
                PriceErrorKind::Negative {
                    key: key.to_owned(),
                    value: n,
                },
            ));
        }
        Ok(n)
    }

    fn value(
        &mut self,
        path: &mut Vec<String>,
        key_span: Option<std::ops::Range<usize>>,
        value: &Value,
    ) -> Result<(), PriceError> {
        let Some(kind) = Self::kind(path) else {
            return Err(self.unknown(path, key_span.or(value.span())));
        };
        if let Value::InlineTable(t) = value {
            return self.section(path, t.span().or(key_span), Node::Inline(t));
        }
        let key = display_path(path);
        let span = value.span().or(key_span);
        let type_error = |what: &str| {
            self.error(
                span.clone(),
                PriceErrorKind::Syntax(format!("`{key}` must be {what}")),
            )
        };
        let leaf = match kind {
            Kind::Section => return Err(type_error("a table")),
            Kind::Price => Leaf::Number(self.number(&key, value)?),
            Kind::Rate => Leaf::Rate(Rate::Flat(self.number(&key, value)?)),
            Kind::Count => match value {
                Value::Integer(i) => {
                    let n = *i.value();
                    if n < 0 {
                        #[expect(clippy::cast_precision_loss, reason = "for the message only")]
                        let value = n as f64;
                        return Err(self.error(span, PriceErrorKind::Negative { key, value }));
                    }
                    Leaf::Count(u32::try_from(n).map_err(|_| {
                        #[expect(clippy::cast_precision_loss, reason = "for the message only")]
                        let value = n as f64;
                        self.error(
                            span.clone(),
                            PriceErrorKind::OutOfRange {
                                key: key.clone(),
                                range: "at most 4294967295",
                                value,
                            },
                        )
                    })?)
                }
                _ => return Err(type_error("a whole number")),
            },
            Kind::Share | Kind::Utilization | Kind::PositiveNumber => {
                let n = self.number(&key, value)?;
                let (ok, range) = match kind {
                    Kind::Share => ((0.0..=1.0).contains(&n), "between 0 and 1"),
                    Kind::Utilization => (n > 0.0 && n <= 1.0, "above 0 and at most 1"),
                    _ => (n > 0.0, "above 0"),
                };
                if !ok {
                    return Err(self.error(
                        span,
                        PriceErrorKind::OutOfRange {
                            key,
                            range,
                            value: n,
                        },
                    ));
                }
                Leaf::Number(n)
            }
            Kind::Bool => match value {
                Value::Boolean(b) => Leaf::Bool(*b.value()),
                _ => return Err(type_error("true or false")),
            },
            Kind::Text => match value {
                Value::String(s) => Leaf::Text(s.value().clone()),
                _ => return Err(type_error("a string")),
            },
        };
        self.entries.push((path.clone(), leaf));
        Ok(())
    }
}

/// Reads the merged entries of a builder into typed values.
struct Resolver<'a> {
    b: &'a PriceTableBuilder,
}

impl Resolver<'_> {
    fn key(path: &[&str]) -> Vec<String> {
        path.iter().map(|s| (*s).to_owned()).collect()
    }

    fn section_location(&self, path: &[&str]) -> Location {
        let mut key = Self::key(path);
        loop {
            if let Some(location) = self.b.sections.get(&key) {
                return location.clone();
            }
            if key.pop().is_none() {
                return self.b.last_source.clone();
            }
        }
    }

    fn get(&self, path: &[&str]) -> Result<&Leaf, PriceError> {
        self.b.entries.get(&Self::key(path)).ok_or_else(|| {
            let parent = path.split_last().map_or(path, |(_, p)| p);
            PriceError::new(
                self.section_location(parent),
                PriceErrorKind::Missing {
                    key: path.join("."),
                    architecture: needed_by(path).unwrap_or("both"),
                },
            )
        })
    }

    fn number(&self, path: &[&str]) -> Result<f64, PriceError> {
        match self.get(path)? {
            Leaf::Number(n) => Ok(*n),
            Leaf::Rate(Rate::Flat(n)) => Ok(*n),
            _ => Ok(0.0),
        }
    }

    fn optional_number(&self, path: &[&str]) -> Option<f64> {
        self.number(path).ok()
    }

    fn rate(&self, path: &[&str]) -> Result<Rate, PriceError> {
        match self.get(path)? {
            Leaf::Rate(r) => Ok(r.clone()),
            Leaf::Number(n) => Ok(Rate::Flat(*n)),
            _ => Ok(Rate::Flat(0.0)),
        }
    }

    fn optional_rate(&self, path: &[&str]) -> Option<Rate> {
        self.rate(path).ok()
    }

    fn count(&self, path: &[&str]) -> Result<u32, PriceError> {
        match self.get(path)? {
            Leaf::Count(n) => Ok(*n),
            _ => Ok(0),
        }
    }

    fn bool(&self, path: &[&str]) -> Result<bool, PriceError> {
        Ok(matches!(self.get(path)?, Leaf::Bool(true)))
    }

    fn text(&self, path: &[&str]) -> Result<String, PriceError> {
        match self.get(path)? {
            Leaf::Text(s) => Ok(s.clone()),
            _ => Ok(String::new()),
        }
    }

    fn map_entries(&self, path: &[&str]) -> impl Iterator<Item = (&String, &Leaf)> {
        let prefix = Self::key(path);
        self.b
            .entries
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .filter(move |(k, _)| k.len() == path.len() + 1)
            .filter_map(|(k, leaf)| k.last().map(|name| (name, leaf)))
    }

    fn map_numbers(&self, path: &[&str]) -> BTreeMap<String, f64> {
        self.map_entries(path)
            .filter_map(|(k, leaf)| match leaf {
                Leaf::Number(n) | Leaf::Rate(Rate::Flat(n)) => Some((k.clone(), *n)),
                _ => None,
            })
            .collect()
    }

    fn map_rates(&self, path: &[&str]) -> BTreeMap<String, Rate> {
        self.map_entries(path)
            .filter_map(|(k, leaf)| match leaf {
                Leaf::Rate(r) => Some((k.clone(), r.clone())),
                Leaf::Number(n) => Some((k.clone(), Rate::Flat(*n))),
                _ => None,
            })
            .collect()
    }
}

/// A checked price table: every unit price both architectures need.
///
/// Build one with [`PriceTable::builtin`], [`PriceTable::from_scenario`] or a
/// [`PriceTableBuilder`]. The fields are public for inspection and for tests that scale a price;
/// the loaders are what guarantee prices are finite and not negative.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceTable {
    /// The hybrid architecture's edge network.
    pub edge: EdgePrices,
    /// The cloud-only edge.
    pub cloud_only: CloudOnlyPrices,
    /// The origins behind either edge.
    pub aws: OriginPrices,
    /// How traffic turns into billable units.
    pub assumptions: Assumptions,
}

/// The hybrid's edge: plan, per-unit prices, add-ons.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgePrices {
    /// The plan's name, for the report.
    pub plan: String,
    /// The plan's monthly fee.
    pub plan_monthly: f64,
    /// Per GB served from the edge.
    pub bandwidth_per_gb: Rate,
    /// Per million edge requests.
    pub requests_per_million: Rate,
    /// Per million authoritative DNS queries.
    pub dns_queries_per_million: Rate,
    /// Per million WAF-evaluated requests.
    pub waf_requests_per_million: Rate,
    /// DDoS protection per month.
    pub ddos_monthly: f64,
    /// Certificates per month.
    pub certificates_monthly: f64,
    /// Per million requests that run edge code.
    pub worker_requests_per_million: Rate,
    /// Fixed monthly add-on fees by name.
    pub addons: BTreeMap<String, f64>,
}

/// CloudFront prices in one price zone.
#[derive(Debug, Clone, PartialEq)]
pub struct CdnZonePrices {
    /// Per GB to the internet, tiered per zone.
    pub bandwidth_per_gb: Rate,
    /// Per 10,000 HTTPS requests.
    pub https_requests_per_10k: Rate,
}

/// Route 53 prices.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsPrices {
    /// Per million queries.
    pub queries_per_million: Rate,
    /// Per hosted zone per month.
    pub hosted_zone_monthly: f64,
    /// Per health check per month.
    pub health_check_monthly: f64,
    /// Optional health check features per check per month.
    pub health_check_options_monthly: f64,
}

/// AWS WAF prices.
#[derive(Debug, Clone, PartialEq)]
pub struct WafPrices {
    /// Per web ACL per month.
    pub web_acl_monthly: f64,
    /// Per rule per month.
    pub rule_monthly: f64,
    /// Per million inspected requests.
    pub requests_per_million: Rate,
    /// Whether Shield Advanced includes WAF at no charge for protected resources.
    pub included_with_shield_advanced: bool,
}

/// AWS Shield Advanced prices.
#[derive(Debug, Clone, PartialEq)]
pub struct ShieldPrices {
    /// Whether the cloud-only architecture subscribes.
    pub enabled: bool,
    /// The monthly subscription.
    pub monthly: f64,
    /// Data transfer out fee on protected CloudFront traffic, per GB.
    pub data_transfer_per_gb: Rate,
}

/// The cloud-only edge: CloudFront per zone, Route 53, AWS WAF, Shield Advanced, certificates.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudOnlyPrices {
    /// CloudFront prices per zone (every zone is present).
    pub cdn: BTreeMap<PriceZone, CdnZonePrices>,
    /// Route 53.
    pub dns: DnsPrices,
    /// AWS WAF.
    pub waf: WafPrices,
    /// AWS Shield Advanced.
    pub shield: ShieldPrices,
    /// Certificates per month.
    pub certificates_monthly: f64,
}

/// A price per AWS region, with an optional default for regions not listed.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionPrices<T> {
    /// The price for regions not listed.
    pub default: Option<T>,
    /// Prices by region code.
    pub regions: BTreeMap<String, T>,
    location: Location,
}

impl<T> RegionPrices<T> {
    /// The price for `region`: its own, else the default.
    ///
    /// # Errors
    /// [`PriceErrorKind::Missing`] at the table's section when there is neither.
    pub fn for_region(&self, region: &str, key: &str) -> Result<&T, PriceError> {
        self.regions
            .get(region)
            .or(self.default.as_ref())
            .ok_or_else(|| {
                PriceError::new(
                    self.location.clone(),
                    PriceErrorKind::Missing {
                        key: format!("{key}.regions.\"{region}\" (or {key}.default)"),
                        architecture: "both",
                    },
                )
            })
    }
}

/// The origins: compute, load balancers, transfer.
#[derive(Debug, Clone, PartialEq)]
pub struct OriginPrices {
    /// Per vCPU-hour.
    pub compute_vcpu_hour: RegionPrices<f64>,
    /// Per ALB-hour.
    pub alb_hour: f64,
    /// Per LCU-hour.
    pub alb_lcu_hour: f64,
    /// Internet egress per GB (the hybrid's origin -> edge traffic).
    pub internet_egress_per_gb: RegionPrices<Rate>,
    /// Inter-region transfer per GB, by source region.
    pub inter_region_per_gb: RegionPrices<Rate>,
}

/// How simulated traffic turns into billable units.
#[derive(Debug, Clone, PartialEq)]
pub struct Assumptions {
    /// Busy time as a share of provisioned vCPU time.
    pub target_cpu_utilization: f64,
    /// Always-on vCPUs per region.
    pub min_vcpus_per_region: u32,
    /// Requests per new ALB connection.
    pub requests_per_connection: f64,
    /// Share of edge requests that run edge code.
    pub edge_worker_request_share: f64,
    /// Route 53 hosted zones.
    pub hosted_zones: u32,
    /// AWS WAF web ACLs.
    pub web_acls: u32,
    /// Firewall rules, when the simulator does not count them.
    pub waf_rules: u32,
    /// Health checks, when the simulator does not count them.
    pub health_checks: u32,
}

impl PriceTable {
    /// The built-in default prices.
    ///
    /// # Errors
    /// Only if the embedded table were broken (a test guards against that).
    pub fn builtin() -> Result<PriceTable, PriceError> {
        PriceTableBuilder::new().build()
    }

    /// A standalone price file layered over the built-in default (unless it says
    /// `inherit = false`).
    ///
    /// # Errors
    /// Any [`PriceError`], located in the file.
    pub fn from_file_text(name: &str, text: &str) -> Result<PriceTable, PriceError> {
        PriceTableBuilder::new().add_file(name, text)?.build()
    }

    /// The prices of a scenario: the built-in default, then the file named by the scenario's
    /// `[prices] file = "..."` (read through `read`, which resolves the path as the caller sees
    /// fit and returns its name for messages and its text), then the `[prices]` table's own keys.
    ///
    /// # Errors
    /// Any [`PriceError`], located in the scenario or the price file; a file `read` cannot read
    /// is reported at the `file` key.
    pub fn from_scenario(
        scenario_name: &str,
        scenario_text: &str,
        read: impl FnOnce(&str) -> Result<(String, String), String>,
    ) -> Result<PriceTable, PriceError> {
        let mut builder = PriceTableBuilder::new();
        if let Some(file) =
            PriceTableBuilder::file_reference(scenario_name, scenario_text, &["prices"])?
        {
            let (name, text) = read(&file.path).map_err(|reason| {
                PriceError::new(
                    file.location.clone(),
                    PriceErrorKind::Syntax(format!(
                        "cannot read price file `{}`: {reason}",
                        file.path
                    )),
                )
            })?;
            builder.add_file(&name, &text)?;
        }
        builder.add_table_in(scenario_name, scenario_text, &["prices"])?;
        builder.build()
    }

    /// Checks that every region in `regions` has a compute, egress and inter-region price, so
    /// a run can fail before it starts rather than after.
    ///
    /// # Errors
    /// [`PriceErrorKind::Missing`] for the first region without a price.
    pub fn check_regions<'r>(
        &self,
        regions: impl IntoIterator<Item = &'r str>,
    ) -> Result<(), PriceError> {
        for region in regions {
            self.aws
                .compute_vcpu_hour
                .for_region(region, "aws.compute")?;
            self.aws
                .internet_egress_per_gb
                .for_region(region, "aws.egress")?;
            self.aws
                .inter_region_per_gb
                .for_region(region, "aws.inter_region")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_table_is_complete() {
        let table = PriceTable::builtin().unwrap();
        assert_eq!(table.cloud_only.cdn.len(), 8);
        assert!((table.cloud_only.shield.monthly - 3000.0).abs() < 1e-9);
        assert!(table.edge.addons.contains_key("load_balancing"));
        assert!(
            table
                .aws
                .compute_vcpu_hour
                .regions
                .contains_key("us-east-1")
        );
        table
            .check_regions(["us-east-1", "somewhere-new-1"])
            .unwrap();
    }

    #[test]
    fn every_schema_key_in_the_default_is_known() {
        // Walk the default with an empty builder: it must not report an unknown key.
        let mut b = PriceTableBuilder::empty();
        b.add_file("default.toml", DEFAULT_PRICES_TOML).unwrap();
        b.build().unwrap();
    }

    #[test]
    fn override_merges_key_by_key() {
        let table = PriceTable::from_file_text(
            "p.toml",
            "[aws.compute.regions]\n\"us-east-1\" = 0.1\n[edge.addons]\nargo = 5\n",
        )
        .unwrap();
        assert!((table.aws.compute_vcpu_hour.regions["us-east-1"] - 0.1).abs() < 1e-12);
        assert!(
            table
                .aws
                .compute_vcpu_hour
                .regions
                .contains_key("eu-west-1")
        );
        assert_eq!(table.edge.addons.get("argo"), Some(&5.0));
        assert!(table.edge.addons.contains_key("workers_paid"));
    }

    #[test]
    fn unknown_key_has_line_and_column() {
        let err = PriceTable::from_file_text("p.toml", "[edge]\nplan_montly = 5\n").unwrap_err();
        assert_eq!(err.location().line(), 2);
        assert_eq!(err.location().column(), 1);
        assert!(
            err.to_string().contains("unknown key `edge.plan_montly`"),
            "{err}"
        );
    }

    #[test]
    fn unknown_zone_is_an_unknown_key() {
        let err = PriceTable::from_file_text(
            "p.toml",
            "[cloud_only.cdn.mars]\nhttps_requests_per_10k = 1\n",
        )
        .unwrap_err();
        assert_eq!(err.location().line(), 1);
        assert!(err.to_string().contains("cloud_only.cdn.mars"), "{err}");
    }

    #[test]
    fn negative_price_points_at_value() {
        let err = PriceTable::from_file_text("p.toml", "[cloud_only.waf]\nrule_monthly = -1.5\n")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "p.toml:2:16: negative price `-1.5` for `cloud_only.waf.rule_monthly`"
        );
    }

    #[test]
    fn negative_tier_price_points_at_element() {
        let src = "[aws.egress]\ndefault = { breaks = [10], prices = [0.1, -0.2] }\n";
        let err = PriceTable::from_file_text("p.toml", src).unwrap_err();
        assert_eq!(err.location().line(), 2);
        assert_eq!(err.location().column(), 43);
        assert!(matches!(err.kind(), PriceErrorKind::Negative { .. }));
    }

    #[test]
    fn bad_tier_shapes() {
        let src = "[edge]\nbandwidth_per_gb = { breaks = [10, 5], prices = [1, 1, 1] }\n";
        let err = PriceTable::from_file_text("p.toml", src).unwrap_err();
        assert!(err.to_string().contains("breaks must increase"), "{err}");
        let src = "[edge]\nbandwidth_per_gb = { breaks = [10], prices = [1] }\n";
        let err = PriceTable::from_file_text("p.toml", src).unwrap_err();
        assert!(err.to_string().contains("1 breaks need 2 prices"), "{err}");
        let src = "[edge]\nbandwidth_per_gb = { breaks = [10], prices = [1, 2], x = 1 }\n";
        let err = PriceTable::from_file_text("p.toml", src).unwrap_err();
        assert!(err.to_string().contains("edge.bandwidth_per_gb.x"), "{err}");
    }

    #[test]
    fn tiers_as_a_table_section() {
        let src = "[edge.bandwidth_per_gb]\nbreaks = [10]\nprices = [0.0, 0.5]\n";
        let table = PriceTable::from_file_text("p.toml", src).unwrap();
        assert!((table.edge.bandwidth_per_gb.cost(20.0) - 5.0).abs() < 1e-12);
    }

    #[test]
    fn missing_item_without_inheritance() {
        let src = "inherit = false\n[edge]\nplan = \"x\"\n";
        let err = PriceTable::from_file_text("p.toml", src).unwrap_err();
        assert!(
            matches!(err.kind(), PriceErrorKind::Missing { .. }),
            "{err}"
        );
        // Points at the [edge] header.
        assert_eq!(err.location().line(), 2);
        assert!(err.to_string().contains("`edge.plan_monthly`"), "{err}");
        assert!(err.to_string().contains("hybrid"), "{err}");
    }

    #[test]
    fn missing_region_price() {
        let src = format!(
            "{}\n",
            DEFAULT_PRICES_TOML.replace("[aws.compute]\ndefault = 0.0500\n", "[aws.compute]\n")
        );
        let src = format!("inherit = false\n{src}");
        let table = PriceTable::from_file_text("p.toml", &src).unwrap();
        let err = table.check_regions(["us-east-1", "mars-1"]).unwrap_err();
        assert!(err.to_string().contains("mars-1"), "{err}");
        assert!(err.location().line() > 1);
    }

    #[test]
    fn out_of_range_assumptions() {
        let err =
            PriceTable::from_file_text("p.toml", "[assumptions]\ntarget_cpu_utilization = 0\n")
                .unwrap_err();
        assert!(err.to_string().contains("above 0 and at most 1"), "{err}");
        let err =
            PriceTable::from_file_text("p.toml", "[assumptions]\nwaf_rules = -2\n").unwrap_err();
        assert!(
            matches!(err.kind(), PriceErrorKind::Negative { .. }),
            "{err}"
        );
        let err =
            PriceTable::from_file_text("p.toml", "[assumptions]\nwaf_rules = 2.5\n").unwrap_err();
        assert!(err.to_string().contains("whole number"), "{err}");
    }

    #[test]
    fn syntax_errors_have_locations() {
        let err = PriceTable::from_file_text("p.toml", "[edge]\nplan_monthly = \n").unwrap_err();
        assert_eq!(err.location().line(), 2);
        assert!(matches!(err.kind(), PriceErrorKind::Syntax(_)));
    }

    #[test]
    fn scenario_table_and_file() {
        let scenario =
            "name = \"x\"\n[prices]\nfile = \"cheap.toml\"\n[prices.edge]\nplan_monthly = 25\n";
        let table = PriceTable::from_scenario("s.toml", scenario, |path| {
            assert_eq!(path, "cheap.toml");
            Ok((
                "cheap.toml".into(),
                "[edge]\nplan_monthly = 1\ncertificates_monthly = 0\n".into(),
            ))
        })
        .unwrap();
        // The scenario's own key wins over the file, the file over the default.
        assert!((table.edge.plan_monthly - 25.0).abs() < 1e-12);
        assert!(table.edge.certificates_monthly.abs() < 1e-12);

        let err = PriceTable::from_scenario("s.toml", scenario, |_| Err("no such file".into()))
            .unwrap_err();
        assert_eq!(err.location().line(), 3);
        assert!(err.to_string().contains("no such file"), "{err}");

        let bad = "[prices.cloud_only.dns]\nqueries_per_million = -3\n";
        let err = PriceTable::from_scenario("s.toml", bad, |_| Err(String::new())).unwrap_err();
        assert_eq!(err.to_string().split(": ").next(), Some("s.toml:2:23"));

        let inline = "prices = { edge = { plan_monthly = 7 } }\n";
        let table = PriceTable::from_scenario("s.toml", inline, |_| Err(String::new())).unwrap();
        assert!((table.edge.plan_monthly - 7.0).abs() < 1e-12);
    }

    #[test]
    fn a_price_file_cannot_name_a_file() {
        let err = PriceTable::from_file_text("p.toml", "file = \"x.toml\"\n").unwrap_err();
        assert_eq!(err.location().line(), 1);
    }
}
