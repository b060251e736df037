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
        if took_effect {
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
    use super::*;

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
