//! hotcold-model: what the simulator, `hotcold load` and the reports share, written once.
//!
//! Dependencies point one way: **engine <= model <= {simulator, reports} <= CLI**. The model
//! depends on the engine only for its configuration types ([`hotcold_engine::SessionConfig`],
//! [`hotcold_engine::EngineConfig`]); nothing here runs the engine or knows the simulator.
//!
//! - [`scenario`]: scenario files (CONTRACT section 2): parsing, defaults, validation, overrides,
//!   sweep points; [`yaml`]: YAML errors that name the file, line, column and key path.
//! - [`units`]: durations, byte sizes and distributions as scenarios write them.
//! - [`rng`]: the random streams, one seeded stream per purpose.
//! - [`traffic`]: the traffic generator (arrivals on the daily curve, visits, returns, travel),
//!   the same draws for `hotcold simulate` and `hotcold load`.
//! - [`metering`]: DynamoDB request units and bytes per call (CONTRACT section 4);
//!   [`baseline`]: what Redis alone would hold, for the cost comparison.
//! - [`migration`]: the scenario's `migration:` block (ADR phase 3) and what a run records of it.
//! - [`analytics`]: the analytics export's rows; [`calibrate`]: a scenario fitted from them and
//!   from Prometheus latency histograms (`hotcold calibrate`).
//! - [`record`]: the run record both worlds write and the reports read, and [`tally`], the pieces
//!   that build it (latency histograms, time-series buckets).

pub mod analytics;
pub mod baseline;
pub mod calibrate;
pub mod metering;
pub mod migration;
pub mod record;
pub mod rng;
pub mod scenario;
pub mod tally;
pub mod traffic;
pub mod units;
pub mod yaml;

/// The residency rules a scenario's `residency:` names ([`Scenario::residency_rules`]), for the
/// crates that read run records without the engine.
pub use hotcold_engine::{RegionId, Residency};
pub use record::{RunRecord, Summary};
pub use scenario::{Scenario, ScenarioError, Setting};
pub use traffic::TrafficGenerator;
pub use yaml::YamlError;
