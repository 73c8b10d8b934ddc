//! Scenario files: what to simulate.
//!
//! A scenario names a policy, a seed and a duration, the traffic (synthetic classes or a CSV
//! trace), the edge and its caches, origins, the network model, latency targets, events and
//! price overrides. The pipeline is text -> [`ScenarioFile`] (serde, `deny_unknown_fields`) ->
//! [`Scenario`] (checked, with the policy text resolved). Every error names the file, line and
//! column; several are reported at once.
//!
//! ```
//! use edgeroute_sim::scenario::Scenario;
//!
//! let text = r#"
//! policy = "policy.toml"
//! duration = "1h"
//! [traffic]
//! rate = 10.0
//! [[traffic.classes]]
//! name = "api"
//! share = 1.0
//! host = "api.example.com"
//! path = "/v1/items/{object}"
//! "#;
//! let scenario = Scenario::from_toml_str(text, "demo.toml", |_| Ok("# empty policy".to_owned()))?;
//! assert_eq!(scenario.duration_micros(), 3_600_000_000);
//! # Ok::<(), edgeroute_sim::scenario::ScenarioErrors>(())
//! ```

mod error;
pub mod model;
mod spans;
pub mod units;

use std::path::{Path, PathBuf};

pub use error::{ScenarioError, ScenarioErrors, line_col};
pub use model::{EventConfig, EventKind, ScenarioFile};
pub use spans::SpanIndex;

/// The built-in default scenario (`scenarios/aybiza-global.toml`) and the files it refers to.
pub mod builtin;

/// A checked scenario, ready to run.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The scenario as written (checked).
    pub file: ScenarioFile,
    /// Where it came from (a path, or `<builtin:NAME>`).
    pub origin: String,
    /// Its text, kept so later checks can point at a line and column.
    pub text: String,
    /// The directory relative paths are resolved against (`None` for built-in scenarios).
    pub base_dir: Option<PathBuf>,
    /// The policy file's text.
    pub policy_text: String,
    /// Where the policy came from.
    pub policy_origin: String,
}

impl Scenario {
    /// Parses and checks a scenario. `read_policy` is given the `policy` value as written and
    /// returns the policy text (or a message saying why it could not).
    ///
    /// # Errors
    /// Every problem found, each with file, line and column.
    pub fn from_toml_str(
        text: &str,
        origin: &str,
        read_policy: impl FnOnce(&str) -> Result<String, String>,
    ) -> Result<Scenario, ScenarioErrors> {
        let file: ScenarioFile = toml::from_str(text).map_err(|e| {
            let msg = e.message().trim_end().to_owned();
            ScenarioErrors::one(ScenarioError::new(
                origin,
                text,
                "",
                e.span(),
                lowercase_first(&msg),
            ))
        })?;
        let spans = SpanIndex::new(text);
        let mut errors = Vec::new();
        check::check(&file, text, origin, &spans, &mut errors);
        let policy_text = match read_policy(&file.policy) {
            Ok(t) => t,
            Err(why) => {
                errors.push(ScenarioError::new(
                    origin,
                    text,
                    "policy",
                    spans.span("policy"),
                    format!("cannot read policy file `{}`: {why}", file.policy),
                ));
                String::new()
            }
        };
        if let Some(errs) = ScenarioErrors::from_vec(errors) {
            return Err(errs);
        }
        Ok(Scenario {
            policy_origin: file.policy.clone(),
            file,
            origin: origin.to_owned(),
            text: text.to_owned(),
            base_dir: None,
            policy_text,
        })
    }

    /// Reads a scenario file and the policy it names (relative to the scenario's directory).
    ///
    /// # Errors
    /// An unreadable file, or every problem found in it.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioErrors> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            ScenarioErrors::one(ScenarioError::new(
                &origin,
                "",
                "",
                None,
                format!("cannot read scenario file: {e}"),
            ))
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut policy_path = PathBuf::new();
        let mut scenario = Scenario::from_toml_str(&text, &origin, |p| {
            policy_path = base.join(p);
            std::fs::read_to_string(&policy_path).map_err(|e| e.to_string())
        })?;
        scenario.policy_origin = policy_path.display().to_string();
        scenario.base_dir = Some(base);
        Ok(scenario)
    }

    /// The built-in default scenario (`scenarios/aybiza-global.toml`, embedded).
    ///
    /// # Errors
    /// Never for the shipped file (a test proves it); the signature keeps the pipeline uniform.
    pub fn builtin_default() -> Result<Scenario, ScenarioErrors> {
        builtin::load(builtin::DEFAULT_NAME)
    }

    /// An error about `key_path` in this scenario, pointing at its line and column.
    #[must_use]
    pub fn error_at(&self, key_path: &str, message: impl Into<String>) -> ScenarioError {
        let spans = SpanIndex::new(&self.text);
        ScenarioError::new(
            &self.origin,
            &self.text,
            key_path,
            spans.span(key_path),
            message,
        )
    }

    /// A path named in the scenario, resolved against the scenario's directory.
    #[must_use]
    pub fn resolve_path(&self, relative: &str) -> PathBuf {
        match &self.base_dir {
            Some(base) => base.join(relative),
            None => PathBuf::from(relative),
        }
    }

    /// The scenario's name: `name`, or the file name without extension.
    #[must_use]
    pub fn name(&self) -> String {
        if let Some(n) = &self.file.name {
            return n.clone();
        }
        let stem = Path::new(&self.origin)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("scenario");
        stem.trim_start_matches("<builtin:")
            .trim_end_matches('>')
            .to_owned()
    }

    /// Simulated time in microseconds.
    #[must_use]
    pub fn duration_micros(&self) -> u64 {
        self.file.duration.as_micros()
    }

    /// Scales every traffic rate (synthetic rate, clients, attack rates) by `factor`, keeping
    /// the timeline, so a scenario runs quickly in CI. The cost model is told that each request
    /// now stands for `1 / factor` real ones, so monthly costs stay comparable.
    pub fn scale_traffic(&mut self, factor: f64) {
        if !(factor > 0.0 && factor.is_finite()) {
            return;
        }
        let t = &mut self.file.traffic;
        t.rate *= factor;
        let clients = ((t.clients as f64 * factor).round().max(100.0)) as u64;
        t.clients = clients.min(t.clients);
        for e in &mut self.file.events {
            if let Some(r) = &mut e.rate {
                *r *= factor;
            }
            if let Some(a) = &mut e.addresses {
                let scaled = ((*a as f64 * factor).round().max(10.0)) as u64;
                *a = scaled.min(*a);
            }
        }
        self.file.cost.scale /= factor;
    }
}

fn lowercase_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

mod check;
