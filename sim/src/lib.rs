//! hotcold-sim: the simulator of the hybrid hot/cold session store.
//!
//! The real [`hotcold_engine::SessionManager`] (one per region) and
//! [`hotcold_engine::SyncService`] run on simulated time over simulated stores: per-region Redis
//! tiers with latency and memory accounting, one DynamoDB global table with per-region
//! replication visibility and request-unit accounting, synthetic multi-region traffic and
//! injected faults. [`run`] produces a [`RunRecord`] from a [`Scenario`].

pub mod scenario;
pub mod stores;
pub mod units;

pub use scenario::{Scenario, ScenarioError};
pub mod queue;
pub mod record;
pub mod rng;
pub mod sim;

pub use record::{RunRecord, Summary};
pub use sim::{Progress, ProgressFn, RunOptions, SimError, run};
