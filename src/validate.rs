//! `hotcold validate SCENARIO [--set KEY=VALUE]...`.

use std::path::Path;

use hotcold_model::{Scenario, Setting};

use crate::Failure;

/// Loads and checks the scenario with its `--set` values, then prints it fully resolved.
pub(crate) fn validate(path: &Path, settings: &[Setting]) -> Result<(), Failure> {
    let scenario = load(path, settings)?;
    print!("{}", scenario.to_yaml());
    Ok(())
}

/// Loads a scenario file and applies the command line's `--set` values (before validation, so
/// the result is checked as a whole); a bad file or setting is bad input (exit 2).
pub(crate) fn load(path: &Path, settings: &[Setting]) -> Result<Scenario, Failure> {
    let scenario = Scenario::load(path).map_err(|e| Failure::BadInput(e.into()))?;
    scenario.with_settings(settings, &path.display().to_string()).map_err(|e| Failure::BadInput(e.into()))
}
