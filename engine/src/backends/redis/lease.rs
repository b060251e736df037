//! Leases: at most one holder of a named job at a time, among every process that shares this hot
//! tier. `hotcold serve` runs a region's sync job under one, so however many instances serve a
//! region, one of them runs its passes.
//!
//! A lease is one key, `{P:lease}:<name>`, whose value is the holder and whose PEXPIRE is the
//! lease's time to live: a holder that stops renewing (crashed, partitioned) loses it when the key
//! expires, and another takes it over. Taking and renewing is one Lua script (compare the holder,
//! then set with a fresh TTL), so two contenders never both win; releasing deletes the key only if
//! the caller still holds it, so a holder whose lease already passed to another cannot end the
//! other's.
//!
//! A lease is an optimisation, not a lock the data depends on: a holder paused past the TTL may
//! run on while the next holder starts. The sync passes are safe to run twice at once (every
//! write they make is conditional); the lease only keeps them from doing the work twice.

use std::sync::LazyLock;
use std::time::Duration;

use ::redis::{Script, Value};

use super::{RedisHotStore, kind, ttl_ms};
use crate::error::StoreError;

/// Takes the lease if free, renews it if the caller holds it. KEYS: lease. ARGV: holder, ttl ms.
/// Returns 1 held (taken or renewed), 0 held by another.
const ACQUIRE_LUA: &str = r"
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
";

/// Ends the lease if the caller holds it. KEYS: lease. ARGV: holder. Returns 1 released, 0 not
/// held by the caller.
const RELEASE_LUA: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

static ACQUIRE: LazyLock<Script> = LazyLock::new(|| Script::new(ACQUIRE_LUA));
static RELEASE: LazyLock<Script> = LazyLock::new(|| Script::new(RELEASE_LUA));

impl RedisHotStore {
    /// Takes the lease `name` for `holder` for `ttl`, or renews it when `holder` already has it.
    /// True when `holder` holds it now; false when another does. `ttl` must be longer than the
    /// holder's renewal period, or the lease lapses between renewals.
    pub async fn acquire_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        if holder.is_empty() || ttl.is_zero() {
            return Err(self.unavailable("a lease needs a holder and a time to live"));
        }
        let key = self.lease_key(name);
        let answer = self.eval(&ACQUIRE, &[&key], vec![holder.as_bytes().to_vec(), ttl_ms(ttl).into_bytes()]).await?;
        self.lease_answer(answer)
    }

    /// Ends the lease `name` if `holder` holds it (so another instance can take it over at once,
    /// not one TTL later); true when it did.
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<bool, StoreError> {
        let key = self.lease_key(name);
        let answer = self.eval(&RELEASE, &[&key], vec![holder.as_bytes().to_vec()]).await?;
        self.lease_answer(answer)
    }

    /// The lease's key, under the store's prefix like every other key.
    fn lease_key(&self, name: &str) -> String {
        format!("{{{}:lease}}:{name}", self.config.key_prefix)
    }

    fn lease_answer(&self, answer: Value) -> Result<bool, StoreError> {
        match answer {
            Value::Int(n) => Ok(n == 1),
            other => Err(self.corrupt(format!("unexpected lease answer {}", kind(&other)))),
        }
    }
}
