//! hotcold-tower-sessions: the hotcold engine as a [tower-sessions] [`SessionStore`].
//!
//! An axum app that uses tower-sessions swaps its store for a [`HotcoldStore`] and its sessions
//! get what the engine gives every session: a hot copy in the region's Redis, demotion to the
//! DynamoDB table when idle and promotion back on the next request (the sync job, driven by the
//! app, does the moving), versioned writes that no sync pass or promotion can overwrite, final
//! removals, and the audit trail. Nothing else in the app changes.
//!
//! Ownership runs one way: **tower-sessions => [`HotcoldStore`] => [`hotcold_engine::SessionManager`]
//! => hot and cold stores**. The store owns no state of its own beyond its configuration, so any
//! number of app instances share sessions through the engine's backends.
//!
//! How tower-sessions' ids map to the engine's tokens, how expiry maps to the engine's TTLs, and
//! the limits are documented on [`HotcoldStore`] and in the crate's README.
//!
//! [tower-sessions]: https://docs.rs/tower-sessions
//! [`SessionStore`]: tower_sessions_core::SessionStore

mod error;
mod payload;
mod store;

pub use error::SetupError;
pub use store::HotcoldStore;
