//! The one error of this crate: building a store on a configuration that cannot work. Errors of
//! the store's operations are tower-sessions' own ([`tower_sessions_core::session_store::Error`]),
//! which is what the middleware expects.

use thiserror::Error;

/// Why [`crate::HotcoldStore::new`] refused to build a store. Fatal: fix the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SetupError {
    /// The region the store should serve is not one of the engine's configured regions
    /// (`session_config.hot_storage.regions`).
    #[error("region #{index} is not configured in the engine ({configured} regions are)")]
    UnknownRegion {
        /// The region's position that was asked for.
        index: u16,
        /// How many regions the engine has.
        configured: usize,
    },
    /// The owner key given to [`crate::HotcoldStore::with_owner_key`] is empty: no session data
    /// key is empty, so every session would be anonymous without anyone noticing.
    #[error("the owner key is empty")]
    EmptyOwnerKey,
}
