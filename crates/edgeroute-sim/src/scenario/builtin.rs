//! Scenarios and policies embedded in the binary, so `edgeroute simulate` runs with no files.

use super::{Scenario, ScenarioError, ScenarioErrors};

/// The name of the default scenario.
pub const DEFAULT_NAME: &str = "aybiza-global";

/// Embedded scenarios: `(name, text)`; each refers to its policy as `../policies/NAME.toml`.
pub const SCENARIOS: &[(&str, &str)] = &[
    (
        "aybiza-global",
        include_str!("../../../../scenarios/aybiza-global.toml"),
    ),
    (
        "eu-residency",
        include_str!("../../../../scenarios/eu-residency.toml"),
    ),
    (
        "ddos-burst",
        include_str!("../../../../scenarios/ddos-burst.toml"),
    ),
    (
        "black-friday",
        include_str!("../../../../scenarios/black-friday.toml"),
    ),
    (
        "cost-volumes",
        include_str!("../../../../scenarios/cost-volumes.toml"),
    ),
];

/// Embedded policies: `(path as scenarios write it, text)`.
pub const POLICIES: &[(&str, &str)] = &[(
    "../policies/aybiza.toml",
    include_str!("../../../../policies/aybiza.toml"),
)];

/// The names of the embedded scenarios.
#[must_use]
pub fn names() -> Vec<&'static str> {
    SCENARIOS.iter().map(|(n, _)| *n).collect()
}

/// Loads the embedded scenario `name`, resolving its policy from the embedded policies.
///
/// # Errors
/// An unknown name, or problems in the embedded files (a test proves there are none).
pub fn load(name: &str) -> Result<Scenario, ScenarioErrors> {
    let origin = format!("<builtin:{name}>");
    let Some((_, text)) = SCENARIOS.iter().find(|(n, _)| *n == name) else {
        return Err(ScenarioErrors::one(ScenarioError::new(
            &origin,
            "",
            "",
            None,
            format!(
                "no built-in scenario `{name}` (known: {})",
                names().join(", ")
            ),
        )));
    };
    let mut found = String::new();
    let mut scenario = Scenario::from_toml_str(text, &origin, |path| {
        let Some((p, policy)) = POLICIES.iter().find(|(p, _)| *p == path) else {
            return Err("not embedded in the binary".to_owned());
        };
        found = (*p).to_owned();
        Ok((*policy).to_owned())
    })?;
    scenario.policy_origin = format!("<builtin:{found}>");
    Ok(scenario)
}
