//! `hotcold validate SCENARIO`.

use std::path::Path;

use hotcold_model::Scenario;

use crate::Failure;

/// Loads and checks the scenario, then prints it fully resolved.
pub(crate) fn validate(path: &Path) -> Result<(), Failure> {
    let scenario = Scenario::load(path).map_err(|e| Failure::BadInput(e.into()))?;
    print!("{}", scenario.to_yaml());
    Ok(())
}
