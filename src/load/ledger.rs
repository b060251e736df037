//! DynamoDB usage of a `load` run, metered where the engine calls the cold store: request units
//! by the formulas of CONTRACT section 4 (the same as the simulated cold store), calls, and the
//! items this run holds (so a shared table's other items do not count).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hotcold_engine::{ColdLookup, ColdStore, ColdWrite, RegionId, Session, SessionId, StoreError, Timestamp, UserId};
use hotcold_model::metering::{Charge, Metering};
use hotcold_model::record::RegionUsage;

/// DynamoDB usage of this run, metered at the engine's calls (CONTRACT section 4).
#[derive(Debug, Default)]
pub(super) struct Ledger {
    pub(super) usage: Vec<RegionUsage>,
    /// Items this run holds in the table: bytes, last access (wall ms), home region.
    items: HashMap<SessionId, (u64, u64, usize)>,
    /// Items dropped once past the cold TTL (DynamoDB's TTL deletion).
    pub(super) purged: u64,
}

impl Ledger {
    pub(super) fn by_home(&self, region: usize) -> (u64, u64) {
        self.items
            .values()
            .filter(|(_, _, home)| *home == region)
            .fold((0, 0), |(n, b), (bytes, _, _)| (n + 1, b + bytes))
    }

    pub(super) fn stored(&self) -> (u64, u64) {
        (self.items.len() as u64, self.items.values().map(|(bytes, _, _)| bytes).sum())
    }

    /// Adds what one call cost `region`.
    fn charge(&mut self, region: usize, charge: Charge) {
        let usage = &mut self.usage[region];
        usage.wru += charge.wru;
        usage.rru += charge.rru;
        usage.replicated_wru += charge.replicated_wru;
        usage.replicated_bytes += charge.replicated_bytes;
    }

    /// Drops items whose last access is at least `ttl_ms` before `now_ms`.
    pub(super) fn purge(&mut self, now_ms: u64, ttl_ms: u64) {
        let before = self.items.len();
        self.items.retain(|_, (_, last_access, _)| last_access.saturating_add(ttl_ms) > now_ms);
        self.purged += (before - self.items.len()) as u64;
    }
}

/// The cold store with a [`Ledger`] of request units, calls and stored items.
pub(super) struct Metered<C> {
    pub(super) inner: C,
    pub(super) ledger: Arc<Mutex<Ledger>>,
    /// How calls are charged (CONTRACT section 4), as the simulated table charges them.
    pub(super) metering: Metering,
}

impl<C> Metered<C> {
    fn with<T>(&self, f: impl FnOnce(&mut Ledger) -> T) -> T {
        f(&mut self.ledger.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    fn written(&self, ledger: &mut Ledger, session: &Session, writer: usize, outcome: ColdWrite) {
        let data_len = session.data.len() as u64;
        let took_effect = outcome == ColdWrite::Written;
        ledger.charge(writer, self.metering.write(data_len, took_effect));
        if took_effect && session.is_tombstone() {
            // A removal: the session's item is gone; its tombstone, like the simulator's, is no
            // stored session (and its few bytes live two hours).
            ledger.items.remove(&session.id);
        } else if took_effect {
            let item = self.metering.item_bytes(data_len);
            ledger.items.insert(session.id, (item, session.last_access.0, usize::from(session.id.home().0)));
        }
    }

    fn called(&self, ledger: &mut Ledger, region: usize, calls: u64, failed: bool) {
        ledger.usage[region].dynamo_calls += calls;
        ledger.usage[region].dynamo_errors += u64::from(failed) * calls;
    }
}

impl<C: ColdStore> ColdStore for Metered<C> {
    async fn get(&self, id: &SessionId, reader: RegionId) -> ColdLookup {
        let lookup = self.inner.get(id, reader).await;
        self.with(|ledger| {
            let region = usize::from(reader.0);
            self.called(ledger, region, 1, matches!(lookup, ColdLookup::Unavailable(_)));
            match &lookup {
                ColdLookup::Found(session) => {
                    ledger.charge(region, self.metering.read(Some(session.data.len() as u64)))
                }
                ColdLookup::Miss => ledger.charge(region, self.metering.read(None)),
                ColdLookup::Unavailable(_) => {}
            }
        });
        lookup
    }

    async fn put(&self, session: &Session, writer: RegionId, now: Timestamp) -> Result<ColdWrite, StoreError> {
        let answer = self.inner.put(session, writer, now).await;
        self.with(|ledger| {
            let region = usize::from(writer.0);
            self.called(ledger, region, 1, answer.is_err());
            if let Ok(outcome) = answer {
                self.written(ledger, session, region, outcome);
            }
        });
        answer
    }

    async fn put_batch(
        &self,
        sessions: &[Session],
        writer: RegionId,
        now: Timestamp,
    ) -> Result<Vec<ColdWrite>, StoreError> {
        let answer = self.inner.put_batch(sessions, writer, now).await;
        self.with(|ledger| {
            let region = usize::from(writer.0);
            self.called(ledger, region, Metering::batch_calls(sessions.len()), answer.is_err());
            if let Ok(outcomes) = &answer {
                for (session, outcome) in sessions.iter().zip(outcomes) {
                    self.written(ledger, session, region, *outcome);
                }
            }
        });
        answer
    }

    async fn delete(&self, id: &SessionId, writer: RegionId, now: Timestamp) -> Result<Option<Session>, StoreError> {
        let answer = self.inner.delete(id, writer, now).await;
        self.with(|ledger| {
            let region = usize::from(writer.0);
            self.called(ledger, region, 1, answer.is_err());
            match &answer {
                Ok(Some(session)) => {
                    ledger.charge(region, self.metering.delete(Some(session.data.len() as u64)));
                    ledger.items.remove(id);
                }
                Ok(None) => ledger.charge(region, self.metering.delete(None)),
                Err(_) => {}
            }
        });
        answer
    }

    async fn sessions_of_user(&self, user: &UserId, reader: RegionId) -> Result<Vec<Session>, StoreError> {
        self.inner.sessions_of_user(user, reader).await
    }

    async fn sessions_of_user_page(
        &self,
        user: &UserId,
        after: Option<&SessionId>,
        limit: usize,
        reader: RegionId,
    ) -> Result<Vec<Session>, StoreError> {
        self.inner.sessions_of_user_page(user, after, limit, reader).await
    }
    hotcold_engine::forward_expiry_sweep!(inner);
}

impl Ledger {
    /// An empty ledger for these regions.
    pub(super) fn new(regions: &[String]) -> Self {
        Self {
            usage: regions.iter().map(|r| RegionUsage { region: r.clone(), ..RegionUsage::default() }).collect(),
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use hotcold_engine::memory::MemoryColdStore;
    use hotcold_engine::ready::now_or_panic;
    use hotcold_engine::{SessionData, UserId};

    use super::*;

    /// The meter over an in-memory table of `regions` replica regions, item overhead 100 bytes.
    fn metered(regions: &[&str]) -> Metered<MemoryColdStore> {
        let names: Vec<String> = regions.iter().map(|r| (*r).to_string()).collect();
        Metered {
            inner: MemoryColdStore::new("cold"),
            ledger: Arc::new(Mutex::new(Ledger::new(&names))),
            metering: Metering { item_overhead: 100, replicas: regions.len() as u64 },
        }
    }

    /// Session `n`, homed in region 0, holding `data_len` bytes, at `version` (also its last
    /// access, so a lower version is an older state).
    fn session(n: u8, data_len: usize, version: u64) -> Session {
        Session {
            id: SessionId::from_parts([n; 16], RegionId(0)),
            user_id: UserId::new("u").unwrap(),
            data: SessionData::opaque(data_len),
            version,
            created_at: Timestamp(0),
            last_access: Timestamp(version),
            persisted_version: 0,
            hot_region: None,
            activity: hotcold_engine::Activity::default(),
        }
    }

    /// (WRU, RRU, replicated WRU, replicated bytes, calls, failed calls) of region `i`.
    fn units(cold: &Metered<MemoryColdStore>, i: usize) -> (u64, u64, u64, u64, u64, u64) {
        let ledger = cold.ledger.lock().unwrap();
        let u = &ledger.usage[i];
        (u.wru, u.rru, u.replicated_wru, u.replicated_bytes, u.dynamo_calls, u.dynamo_errors)
    }

    const T: Timestamp = Timestamp(1);

    /// Items are data + 100 bytes; a write costs ceil(item / 1024) WRU (+2 for the expiry index
    /// when it takes effect), a read ceil(item / 4096) RRU, a delete the item's WRU + 1 for the
    /// index, a read or delete that finds nothing 1 unit; one region replicates nothing.
    #[test]
    fn one_region_pays_exact_units_per_call() {
        let cold = metered(&["us-east-1"]);
        let here = RegionId(0);
        // Writes: 924 + 100 = 1,024 B -> 1 WRU; 925 -> 1,025 B -> 2; 3,996 -> 4,096 B -> 4;
        // 3,997 -> 4,097 B -> 5; 0 -> 100 B -> 1. Sum 13, plus 2 x 5 for the index: 23.
        for (n, len) in [(1, 924), (2, 925), (3, 3996), (4, 3997), (5, 0)] {
            assert_eq!(now_or_panic(cold.put(&session(n, len, 2), here, T)), Ok(ColdWrite::Written));
        }
        assert_eq!(units(&cold, 0), (23, 0, 0, 0, 5, 0));
        // Reads: 1,024 B -> 1 RRU; 4,096 B -> 1; 4,097 B -> 2; 100 B -> 1; nothing -> 1. Sum 6.
        for n in [1, 3, 4, 5, 99] {
            now_or_panic(cold.get(&session(n, 0, 1).id, here));
        }
        assert_eq!(units(&cold, 0), (23, 6, 0, 0, 10, 0));
        // A write that fails its condition (an older state of session 1, 925 -> 1,025 B) still
        // pays its 2 WRU (no index change), and stores nothing.
        assert_eq!(now_or_panic(cold.put(&session(1, 925, 1), here, T)), Ok(ColdWrite::Stale));
        assert_eq!(units(&cold, 0), (25, 6, 0, 0, 11, 0));
        // Deletes: session 4 (4,097 B) -> 5 WRU + 1 for the index; nothing -> 1 WRU.
        assert!(now_or_panic(cold.delete(&session(4, 0, 1).id, here, T)).unwrap().is_some());
        assert!(now_or_panic(cold.delete(&session(98, 0, 1).id, here, T)).unwrap().is_none());
        assert_eq!(units(&cold, 0), (32, 6, 0, 0, 13, 0));
        // Held: 1,024 + 1,025 + 4,096 + 100 B (the stale write changed nothing).
        assert_eq!(cold.ledger.lock().unwrap().stored(), (4, 6_245));
    }

    /// In three replica regions every write that takes effect is paid again in the two others
    /// and its item bytes cross to each; a delete that removes an item is paid again there too,
    /// with no data; what fails its condition or finds nothing is paid once, where it was made.
    #[test]
    fn three_regions_pay_replicated_units_for_what_takes_effect() {
        let cold = metered(&["us-east-1", "eu-west-1", "ap-southeast-1"]);
        let (a, b, c) = (RegionId(0), RegionId(1), RegionId(2));
        // a writes session 1 (1,024 B): 1 WRU + 2 for the index, 2 x 3 replicated, 2 x 1,024 bytes.
        now_or_panic(cold.put(&session(1, 924, 2), a, T)).unwrap();
        assert_eq!(units(&cold, 0), (3, 0, 6, 2_048, 1, 0));
        // b writes session 2 (1,025 B): 2 + 2 WRU, 2 x 4 replicated, 2 x 1,025 bytes; then an
        // older state of session 1 (1,025 B), refused: 2 WRU, nothing replicated.
        now_or_panic(cold.put(&session(2, 925, 2), b, T)).unwrap();
        assert_eq!(now_or_panic(cold.put(&session(1, 925, 1), b, T)), Ok(ColdWrite::Stale));
        assert_eq!(units(&cold, 1), (6, 0, 8, 2_050, 2, 0));
        // c reads session 1 (1 RRU) and nothing (1 RRU), deletes session 2 (1,025 B: 2 + 1 WRU,
        // paid again in a and b: 6, no bytes) and nothing (1 WRU, here only).
        now_or_panic(cold.get(&session(1, 0, 1).id, c));
        now_or_panic(cold.get(&session(97, 0, 1).id, c));
        assert!(now_or_panic(cold.delete(&session(2, 0, 1).id, c, T)).unwrap().is_some());
        assert!(now_or_panic(cold.delete(&session(96, 0, 1).id, c, T)).unwrap().is_none());
        assert_eq!(units(&cold, 2), (4, 2, 6, 0, 4, 0));
        // a writes 26 sessions of no data (100 B: 1 + 2 WRU each) in one batch: two calls of at
        // most 25 items; 78 WRU, 2 x 78 replicated, 2 x 26 x 100 bytes.
        let batch: Vec<Session> = (10..36).map(|n| session(n, 0, 1)).collect();
        now_or_panic(cold.put_batch(&batch, a, T)).unwrap();
        assert_eq!(units(&cold, 0), (81, 0, 162, 2_048 + 5_200, 3, 0));
        // The other regions' figures did not move.
        assert_eq!(units(&cold, 1), (6, 0, 8, 2_050, 2, 0));
        assert_eq!(units(&cold, 2), (4, 2, 6, 0, 4, 0));
        // Held: session 1 (1,024 B) and the 26 (100 B each).
        assert_eq!(cold.ledger.lock().unwrap().stored(), (27, 1_024 + 2_600));
    }

    /// A call the table refuses (down or throttled) is counted as a failed call and charges no
    /// units.
    #[test]
    fn failed_calls_are_counted_and_charge_nothing() {
        let cold = metered(&["us-east-1", "eu-west-1"]);
        now_or_panic(cold.put(&session(1, 5_000, 1), RegionId(1), T)).unwrap();
        cold.inner.set_available(false);
        let here = RegionId(1);
        assert!(matches!(now_or_panic(cold.get(&session(1, 0, 1).id, here)), ColdLookup::Unavailable(_)));
        assert!(now_or_panic(cold.put(&session(2, 5_000, 1), here, T)).is_err());
        assert!(now_or_panic(cold.delete(&session(1, 0, 1).id, here, T)).is_err());
        let batch: Vec<Session> = (10..36).map(|n| session(n, 0, 1)).collect();
        assert!(now_or_panic(cold.put_batch(&batch, here, T)).is_err());
        // 5,100 B: 5 + 2 WRU, 7 replicated, 5,100 bytes from the one write that worked; 1 + 1 +
        // 1 + 2 calls failed.
        assert_eq!(units(&cold, 1), (7, 0, 7, 5_100, 6, 5));
        assert_eq!(units(&cold, 0), (0, 0, 0, 0, 0, 0));
    }

    #[test]
    fn purging_drops_items_past_the_ttl_and_counts_them() {
        let mut ledger = Ledger::new(&["a".to_string(), "b".to_string()]);
        let id = |n: u8| SessionId::from_parts([n; 16], RegionId(u16::from(n % 2)));
        ledger.items.insert(id(1), (1_000, 100, 1));
        ledger.items.insert(id(2), (2_000, 500, 0));
        assert_eq!(ledger.stored(), (2, 3_000));
        assert_eq!(ledger.by_home(0), (1, 2_000));
        ledger.purge(1_100, 1_000);
        assert_eq!((ledger.stored(), ledger.purged), ((1, 2_000), 1));
        assert_eq!(ledger.by_home(1), (0, 0));
    }
}
