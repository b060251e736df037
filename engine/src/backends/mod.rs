//! Real backends of the store traits, each behind its own cargo feature so the default build of
//! the engine (and the simulator) stays free of tokio, redis and the AWS SDK.
//!
//! - `redis`: [`redis::RedisHotStore`], a region's hot tier on a standalone Redis server or a
//!   Redis Cluster.
//! - `dynamodb`: [`dynamodb::DynamoColdStore`] (the cold table) and [`dynamodb::DynamoAudit`]
//!   (the audit trail) on DynamoDB or DynamoDB Local.
//! - `redis` also: [`legacy::LegacyStore`], the Redis-only store a migration moves sessions from.
//!
//! Adapters own their timeouts and retries and map every backend failure to
//! [`crate::StoreError`]; they never panic on what a backend returns.

#[cfg(feature = "dynamodb")]
pub mod dynamodb;
#[cfg(feature = "redis")]
pub mod legacy;
#[cfg(feature = "redis")]
pub mod redis;
