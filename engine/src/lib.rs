//! hotcold-engine: the hybrid hot/cold session store of ADR-0010.
//!
//! Ownership runs one way: **request => [`SessionManager`] => hot tier ([`HotStore`], Redis per
//! region) => cold tier ([`ColdStore`], one DynamoDB global table)**, with the [`SyncService`]
//! moving idle sessions from hot to cold and every lifecycle event going to the [`AuditSink`].
//!
//! The engine does no I/O of its own, never reads the wall clock (time comes from a [`Clock`]),
//! never spawns and never sleeps: background work is [`SyncService::run_once`], called by a driver
//! (a tokio loop in production, the event loop in the simulator). Lifecycle decisions are pure
//! functions in [`lifecycle`].

pub mod analytics;
pub mod audit;
#[cfg(any(feature = "redis", feature = "dynamodb"))]
pub mod backends;
pub mod config;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod engine;
pub mod error;
pub mod failback;
pub mod lifecycle;
pub mod manager;
pub mod memory;
pub mod migration;
pub mod ready;
pub mod residency;
pub mod session;
pub mod store;
pub mod sync;
pub mod time;

pub use analytics::Activity;
pub use audit::{AuditEvent, AuditKind, Tier};
pub use config::{Durability, EngineConfig, SessionConfig};
pub use engine::Engine;
pub use error::{ConfigError, EngineError, StoreError};
pub use manager::{Created, Lookup, Served, SessionManager, SessionPage, Touched};
pub use residency::Residency;
pub use session::{PseudonymKey, RegionId, Session, SessionData, SessionId, SessionToken, UserId};
pub use store::{
    AuditSink, ColdLookup, ColdStore, ColdWrite, ExpiredPage, ExpiryCursor, HotLookup, HotStore, HotTouch, HotUpdate,
    HotWrite,
};
pub use sync::{Pass, SyncReport, SyncSchedule, SyncService};
pub use time::{Clock, ManualClock, SystemClock, Timestamp};
