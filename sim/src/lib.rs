//! hotcold-sim: the simulator of the hybrid hot/cold session store.
//!
//! The real [`hotcold_engine::SessionManager`] (one per region) and
//! [`hotcold_engine::SyncService`] run on simulated time over simulated stores: per-region Redis
//! tiers with latency and memory accounting, one DynamoDB global table with per-region
//! replication visibility and request-unit accounting, the model's synthetic multi-region
//! traffic ([`hotcold_model::TrafficGenerator`]) and injected faults. [`run()`] produces a
//! [`hotcold_model::RunRecord`] from a [`hotcold_model::Scenario`].
//!
//! # Map
//! - `run.rs`: [`run()`], its options and errors, shards on threads; `merge.rs` puts the shards'
//!   records together; [`shard`]: one shard as a process of its own, written to a directory, and
//!   the merge of such directories.
//! - `sim.rs`: one shard's event loop; `event.rs` what can happen; `queue.rs` when (a timing
//!   wheel).
//! - A shard's state: `population.rs` (the users), `backends.rs` (the engine over the stores),
//!   `fault.rs` (faults in force, and their start and end), `measure.rs` (what it measures, time
//!   series and peaks); what Redis alone would hold is the model's `RedisOnlyBaseline`;
//!   `migration.rs` the rollout from a legacy Redis-only store (a `migration:` block).
//! - What events do: `request.rs` (arrivals, requests, ends of visits), `periodic.rs` (the
//!   minute tick and the sync passes), `fault.rs`; `finish.rs` writes the shard's record.
//! - `analytics.rs`: the analytics table of `--analytics`, counted by the driver.
//! - [`stores`]: the simulated Redis, DynamoDB and audit trail; `prefetch.rs`: CPU cache hints.

mod analytics;
mod backends;
mod event;
mod fault;
mod finish;
mod measure;
mod merge;
mod migration;
mod periodic;
mod population;
mod prefetch;
mod queue;
mod request;
mod run;
pub mod shard;
mod sim;
pub mod stores;

pub use run::{DEFAULT_SHARDS, MAX_SHARDS, Progress, ProgressFn, RunOptions, SimError, run, run_with_analytics};
