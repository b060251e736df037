//! Calibration (`hotcold calibrate`): a scenario's `traffic:` block fitted from an analytics
//! export ([`traffic`]) and its `latency:` block from Prometheus histograms of the backend calls
//! ([`latency`], read by [`prometheus`]), every fitted value with its goodness of fit and the
//! number of sessions or calls behind it ([`Fit`]).

use serde::{Deserialize, Serialize};

pub mod latency;
pub mod prometheus;
pub mod stats;
pub mod traffic;

/// One fitted scenario value and the evidence behind it, as `hotcold calibrate` prints it and the
/// calibrated scenario's `calibration:` block records it.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    /// The scenario key, by its dotted path (`traffic.visit.requests`,
    /// `traffic.regions.eu-west-1.sessions_per_day`, `latency.redis`).
    pub key: String,
    /// The value as the scenario writes it (`{ dist: lognormal, median: 8.1, p95: 39 }`, `0.45`).
    pub value: String,
    /// How well the fitted value describes the data, in words a reader can check
    /// (`KS distance 0.012`, `95 % interval 0.43 to 0.47`).
    pub goodness: String,
    /// How many observations it rests on.
    pub basis: u64,
    /// What they are: `sessions`, `visits`, `returns`, `calls`, `days`.
    pub basis_unit: &'static str,
}

/// Why the data cannot support a fit; `hotcold calibrate` exits 2 naming it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalibrationError {
    /// Too few observations of something a fit needs, or none at all.
    #[error("cannot fit {key}: {why}")]
    Insufficient {
        /// The scenario key that could not be fitted.
        key: String,
        /// What is missing, e.g. `12 single-visit sessions, at least 100 needed`.
        why: String,
    },
    /// The input is not what it should be (a malformed exposition, a column out of range).
    #[error("{0}")]
    Malformed(String),
}

/// Where a calibrated scenario's numbers came from: the scenario's `calibration:` block, written
/// by `hotcold calibrate` and shown by the report. It changes nothing in a run; a scenario edited
/// by hand after calibration should drop or amend it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// When the scenario was fitted (RFC 3339, UTC).
    pub calibrated_at: String,
    /// The analytics export `traffic:` was fitted from, and the span it covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analytics: Option<String>,
    /// The Prometheus exposition (file or URL) `latency:` was fitted from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<String>,
    /// The scenario every other key came from (none: the defaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// Each fitted value.
    #[serde(default)]
    pub fitted: Vec<FittedKey>,
    /// Keys of the fitted blocks that were not fitted, and why.
    #[serde(default)]
    pub kept: Vec<KeptKey>,
}

/// One fitted key in a [`Provenance`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FittedKey {
    /// The key, by its dotted path.
    pub key: String,
    /// The value fitted, as written.
    pub value: String,
    /// Its goodness of fit.
    pub fit: String,
    /// What it rests on (`12,345 sessions`).
    pub basis: String,
}

/// One key kept from the base in a [`Provenance`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeptKey {
    /// The key, by its dotted path.
    pub key: String,
    /// Why it was not fitted.
    pub why: String,
}

impl From<&Fit> for FittedKey {
    fn from(fit: &Fit) -> Self {
        Self {
            key: fit.key.clone(),
            value: fit.value.clone(),
            fit: fit.goodness.clone(),
            basis: format!("{} {}", fit.basis, fit.basis_unit),
        }
    }
}
