//! ADR-0010 phase 3 in a shard: the scenario's `migration:` block. A share of sessions (the
//! rollout percentage in force, split by a stable bucket of the session) is served by the engine;
//! the rest by the legacy Redis-only store of ADR-0009, which holds a session until
//! `cold_storage.ttl` after its last access or its logout (what [`RedisOnlyBaseline`] counts for
//! the cost comparison; the legacy store's bytes are counted by one more of them).
//!
//! A session whose side changed since its last access moves on that access: into the engine with
//! [`SessionManager::import`](hotcold_engine::SessionManager::import) (its remaining TTL kept,
//! audited `migrated`), or back with
//! [`SessionManager::retire`](hotcold_engine::SessionManager::retire) (audited `rolled_back`) and
//! a write to the legacy store. The engine's own metering prices every move. The bulk import
//! (`hotcold migrate`) walks the legacy sessions once, from its start, at most `rate` a second.
//!
//! # The bucket
//! The engine splits by [`rollout_bucket`] of the session id. A session the simulated legacy
//! store creates gets an id drawn here (16 digest bytes from a counter of this shard mixed with
//! its seed: no random stream is drawn from, so a run's other draws are those of the run without
//! migration), and its bucket is that id's `rollout_bucket`; when it moves into the engine it
//! keeps that id, as the engine keeps a legacy session's id. The side of a *new* session must be
//! known before it is created, and the engine picks the id of a session it creates, so a new
//! session's bucket is drawn the same way for either side and kept with the user for the
//! session's life (uniform over the buckets, as `rollout_bucket` of a digest is).

use hdrhistogram::Histogram;
use hotcold_engine::migration::{Imported, LegacySession, Rollout, rollout_bucket};
use hotcold_engine::ready::now_or_panic;
use hotcold_engine::{EngineError, RegionId, SessionData, SessionId};
use hotcold_model::baseline::RedisOnlyBaseline;
use hotcold_model::migration::{MigrationBucket, MigrationRecord};
use hotcold_model::record::Hist;
use hotcold_model::rng::splitmix;
use hotcold_model::scenario::Scenario;
use hotcold_model::tally::{HIST_MAX_US, RequestClass, latency_histogram};

use crate::backends::Backends;
use crate::periodic::MINUTE_MS;
use crate::population::User;
use crate::sim::{Sim, millis};

/// Mixed into a shard's seed for the ids of legacy sessions.
const LEGACY_ID_SALT: u64 = 0x6C65_6761_6379;

/// Where a session the legacy store created (or took back) is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// In the legacy store.
    Legacy,
    /// Imported into the engine (by the bulk import, while its user was away).
    Imported,
    /// Gone: expired or logged out.
    Gone,
}

/// A session of the legacy store.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LegacyRecord {
    /// Its id (kept by the engine when it is imported).
    pub(crate) id: SessionId,
    /// Its last access, ms from the start.
    pub(crate) last_access: u64,
    /// Session data size.
    pub(crate) payload: u32,
    /// The region whose legacy store holds it (its user's region).
    pub(crate) home: u16,
    /// Its bucket of the split.
    pub(crate) bucket: u16,
    /// Where it is.
    pub(crate) place: Place,
}

/// The bulk import's plan and progress.
#[derive(Debug)]
struct BulkImport {
    /// Start, ms.
    at_ms: u64,
    /// Sessions this shard imports a minute: the rate × 60 × sample / shards.
    per_minute: f64,
    /// Imports allowed and not yet made.
    budget: f64,
    /// Next legacy record to look at.
    cursor: usize,
}

/// One shard's migration: the split, the legacy store and what moved.
pub(crate) struct Migrator {
    /// `(from ms, threshold)`, in time order: buckets below the threshold are hybrid.
    steps: Vec<(u64, u16)>,
    /// Every session the legacy store created or took back (never reused: a user holds its index).
    pub(crate) sessions: Vec<LegacyRecord>,
    /// Legacy records to check for expiry, by minute.
    expiries: Vec<Vec<u32>>,
    /// Bytes each region's legacy Redis holds.
    pub(crate) store: RedisOnlyBaseline,
    bulk: Option<BulkImport>,
    /// Ids drawn so far.
    ids: u64,
    seed: u64,
    /// The cold TTL, ms.
    cold_ttl_ms: u64,
    /// The counts, and the bulk import's end.
    pub(crate) record: MigrationRecord,
    /// Per region, the current time-series bucket's figures.
    pub(crate) bucket: Vec<MigrationBucket>,
    migrate_latency: Histogram<u64>,
    rollback_latency: Histogram<u64>,
    legacy_latency: Histogram<u64>,
}

impl Migrator {
    /// The migration of `scenario` for a shard with `seed`, one of `shards`; `None` without a
    /// `migration:` block.
    pub(crate) fn new(scenario: &Scenario, seed: u64, shards: usize, minutes: usize) -> Option<Self> {
        let migration = scenario.migration.as_ref()?;
        let regions = scenario.session_config.hot_storage.regions.len();
        let steps = migration
            .rollout
            .iter()
            .map(|step| {
                let threshold = Rollout::new(step.percent, "migration.rollout").map_or(0, |r| r.threshold());
                (millis(step.at), threshold)
            })
            .collect();
        let bulk = migration.bulk_import.as_ref().map(|bulk| BulkImport {
            at_ms: millis(bulk.at),
            per_minute: bulk.rate * 60.0 * scenario.sample / shards as f64,
            budget: 0.0,
            cursor: 0,
        });
        Some(Self {
            steps,
            sessions: Vec::new(),
            expiries: vec![Vec::new(); minutes],
            store: RedisOnlyBaseline::new(regions, minutes, scenario.costs.redis.bytes_overhead_per_session),
            bulk,
            ids: 0,
            seed: splitmix(seed ^ LEGACY_ID_SALT),
            cold_ttl_ms: millis(scenario.session_config.cold_storage.ttl),
            record: MigrationRecord::default(),
            bucket: vec![MigrationBucket::default(); regions],
            migrate_latency: latency_histogram(),
            rollback_latency: latency_histogram(),
            legacy_latency: latency_histogram(),
        })
    }

    /// Buckets below this are on the hybrid side at `t` ms (0 before the first step).
    pub(crate) fn threshold_at(&self, t: u64) -> u16 {
        self.steps.iter().take_while(|(at, _)| *at <= t).last().map_or(0, |(_, threshold)| *threshold)
    }

    /// A new session id homed in `home`, and its bucket.
    pub(crate) fn draw_id(&mut self, home: usize) -> (SessionId, u16) {
        self.ids += 1;
        let low = splitmix(self.seed ^ self.ids);
        let high = splitmix(low ^ self.seed.rotate_left(17));
        let mut hash = [0u8; 16];
        hash[..8].copy_from_slice(&low.to_le_bytes());
        hash[8..].copy_from_slice(&high.to_le_bytes());
        let id = SessionId::from_parts(hash, RegionId(u16::try_from(home).unwrap_or(u16::MAX)));
        (id, rollout_bucket(&id))
    }

    /// Puts a session into region `home`'s legacy store at `t` (created there, or taken back);
    /// returns its index. `home` is the user's region, where the Redis-only baseline counts the
    /// session too (the id's home is where the engine would home it: the region of its first
    /// request, another for a traveller).
    pub(crate) fn hold(&mut self, id: SessionId, bucket: u16, payload: u32, home: usize, t: u64) -> u32 {
        self.store.add(home, payload);
        let index = u32::try_from(self.sessions.len()).unwrap_or(u32::MAX);
        self.sessions.push(LegacyRecord {
            id,
            last_access: t,
            payload,
            home: u16::try_from(home).unwrap_or(u16::MAX),
            bucket,
            place: Place::Legacy,
        });
        index
    }

    /// The legacy session `index` leaves the store (imported, logged out or expired).
    pub(crate) fn release(&mut self, index: u32, place: Place) {
        if let Some(record) = self.sessions.get_mut(index as usize) {
            if record.place == Place::Legacy {
                self.store.remove(usize::from(record.home), record.payload);
            }
            record.place = place;
        }
    }

    /// Whether legacy session `index` is past its TTL (or already gone) at `t`.
    pub(crate) fn expired(&self, index: u32, t: u64) -> bool {
        self.sessions
            .get(index as usize)
            .is_none_or(|r| r.place == Place::Gone || t >= r.last_access.saturating_add(self.cold_ttl_ms))
    }

    /// A visit of legacy session `index` ended at `t`: it expires a cold TTL later unless used
    /// again.
    pub(crate) fn visit_ended(&mut self, index: u32, t: u64) {
        let minute = (t.saturating_add(self.cold_ttl_ms) / MINUTE_MS) as usize;
        if let Some(due) = self.expiries.get_mut(minute) {
            due.push(index);
        }
    }

    /// Drops the legacy sessions expiring in `minute` (those not used since their visit ended).
    fn expire_due(&mut self, minute: u64) {
        let Some(due) = self.expiries.get_mut(minute as usize).map(std::mem::take) else { return };
        for index in due {
            let Some(record) = self.sessions.get(index as usize) else { continue };
            let expiry_minute = record.last_access.saturating_add(self.cold_ttl_ms) / MINUTE_MS;
            if record.place == Place::Legacy && expiry_minute == minute {
                self.release(index, Place::Gone);
            }
        }
    }

    /// Records a request the legacy store served, `latency_us` long, in `region`.
    pub(crate) fn served(&mut self, region: usize, latency_us: u64) {
        self.record.legacy_requests += 1;
        if let Some(bucket) = self.bucket.get_mut(region) {
            bucket.legacy_requests += 1;
        }
        let _ = self.legacy_latency.record(latency_us.clamp(1, HIST_MAX_US));
    }

    /// Records a session moved into the engine on access, by a request of `latency_us`.
    pub(crate) fn migrated(&mut self, region: usize, latency_us: u64) {
        self.record.migrated += 1;
        if let Some(bucket) = self.bucket.get_mut(region) {
            bucket.migrated += 1;
        }
        let _ = self.migrate_latency.record(latency_us.clamp(1, HIST_MAX_US));
    }

    /// Records a session moved back to the legacy store on access.
    pub(crate) fn rolled_back(&mut self, region: usize, latency_us: u64) {
        self.record.rolled_back += 1;
        if let Some(bucket) = self.bucket.get_mut(region) {
            bucket.rolled_back += 1;
        }
        let _ = self.rollback_latency.record(latency_us.clamp(1, HIST_MAX_US));
    }

    /// Closes the time-series bucket of every region: one row each, in region order (the
    /// simulator's time-series rows' order).
    pub(crate) fn close_bucket(&mut self) {
        for (region, bucket) in self.bucket.iter_mut().enumerate() {
            bucket.legacy_bytes = self.store.bytes(region);
            self.record.buckets.push(std::mem::take(bucket));
        }
    }

    /// What the shard recorded (the weeks are computed after the shards are merged).
    pub(crate) fn finish(mut self) -> MigrationRecord {
        self.record.migrate_latency = Hist::from_histogram(&self.migrate_latency);
        self.record.rollback_latency = Hist::from_histogram(&self.rollback_latency);
        self.record.legacy_latency = Hist::from_histogram(&self.legacy_latency);
        self.record
    }
}

impl Sim {
    /// The minute tick's share of the migration at `t` ms: legacy expiries, then the bulk import.
    pub(crate) fn migration_tick(&mut self, t: u64) {
        let Some(migration) = self.migration.as_mut() else { return };
        migration.expire_due(t / MINUTE_MS);
        let threshold = migration.threshold_at(t);
        // Taken out while it runs, so the loop can change the records it walks.
        let Some(mut bulk) = migration.bulk.take() else { return };
        if t >= bulk.at_ms && migration.record.bulk_import_done_s.is_none() {
            self.bulk_import(&mut bulk, threshold, t);
        }
        if let Some(migration) = self.migration.as_mut() {
            migration.bulk = Some(bulk);
        }
    }

    /// One minute of the bulk import at `t`: imports the next legacy sessions on the hybrid side
    /// of `threshold`, as many as the rate allows, idle ones into the cold tier only (the engine
    /// decides from their last access).
    fn bulk_import(&mut self, bulk: &mut BulkImport, threshold: u16, t: u64) {
        let Some(migration) = self.migration.as_mut() else { return };
        bulk.budget = (bulk.budget + bulk.per_minute).min(bulk.per_minute.max(1.0) * 2.0);
        while bulk.budget >= 1.0 {
            let Some(&record) = migration.sessions.get(bulk.cursor) else { break };
            let index = bulk.cursor as u32;
            bulk.cursor += 1;
            let live = t < record.last_access.saturating_add(migration.cold_ttl_ms);
            if record.place != Place::Legacy || !live || record.bucket >= threshold {
                continue;
            }
            bulk.budget -= 1.0;
            let home = record.id.home().index();
            let Some(manager) = self.backends.managers.get(home) else { continue };
            self.backends.context.begin(home);
            let legacy = LegacySession {
                id: record.id,
                user_id: self.backends.context.user().clone(),
                data: SessionData::opaque(record.payload as usize),
                expires_at: Backends::timestamp(record.last_access.saturating_add(migration.cold_ttl_ms)),
            };
            match now_or_panic(manager.import(legacy, false)) {
                Ok(Imported::Imported { hot, .. }) => {
                    migration.release(index, Place::Imported);
                    migration.record.bulk_imported += 1;
                    migration.record.bulk_imported_cold += u64::from(!hot);
                    if let Some(bucket) = migration.bucket.get_mut(home) {
                        bucket.bulk_imported += 1;
                    }
                }
                Ok(Imported::Expired | Imported::Removed) => migration.release(index, Place::Gone),
                // A store is down: the session stays in the legacy store (its next access imports
                // it) and the import moves on.
                Err(_) => migration.record.failed_moves += 1,
            }
            let _ = self.backends.drain_latency_us();
        }
        if bulk.cursor >= migration.sessions.len() {
            migration.record.bulk_import_done_s = Some(t as f64 / 1000.0);
        }
    }
}

/// A session that changed sides on this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Move {
    /// Imported into the engine.
    Migrated,
    /// Handed back to the legacy store.
    RolledBack,
}

/// Who serves a request under a migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Routed {
    /// The engine, as without a migration (or there is no session yet: it is created next).
    Engine,
    /// Done here: served by the legacy store (`moved: None`) or after a move.
    Done {
        /// The request's class for the latency figures.
        class: RequestClass,
        /// Whether a store was down.
        failed: bool,
        /// The move it made, if any.
        moved: Option<Move>,
    },
}

impl Sim {
    /// The legacy store's side of a request of `user` at `t` ms served by region `serving`:
    /// serves it when the session is in the legacy store and stays there, moves it when its side
    /// changed, and leaves everything else to the engine. A session found expired leaves
    /// `user.has_session` false, so the request creates one (on the side the split gives).
    pub(crate) fn route_migration(&mut self, user: &mut User, serving: usize, t: u64, updates: bool) -> Routed {
        let Some(migration) = self.migration.as_mut() else { return Routed::Engine };
        if !user.has_session {
            return Routed::Engine;
        }
        let threshold = migration.threshold_at(t);
        if let Some(index) = user.legacy() {
            let Some(&record) = migration.sessions.get(index as usize) else { return Routed::Engine };
            if record.place == Place::Imported {
                // The bulk import moved it while its user was away: the engine numbers its
                // versions afresh, so the version the user saw says nothing of a loss.
                user.id = record.id;
                user.set_legacy(None);
                user.version = 0;
            } else if migration.expired(index, t) {
                migration.release(index, Place::Gone);
                user.set_legacy(None);
                user.has_session = false;
                self.meters.counts.invalid_lookups += 1;
                // As the Redis-only baseline counts it: the user signs in again.
                self.baseline.add(usize::from(user.home), user.payload);
                return Routed::Engine;
            } else if record.bucket < threshold {
                return self.migrate_on_access(user, index, serving, updates);
            } else {
                if let Some(held) = migration.sessions.get_mut(index as usize) {
                    held.last_access = t;
                }
                // One Redis call, two with an update.
                self.backends.context.meter().redis_calls.add(1 + u64::from(updates));
                let counts = &mut self.meters.counts;
                counts.hot_hits += 1;
                counts.updates += u64::from(updates);
                self.meters.bucket[serving].hot_hits += 1;
                return Routed::Done { class: RequestClass::HotAccess, failed: false, moved: None };
            }
        }
        if user.bucket >= threshold {
            return self.roll_back(user, serving, t, updates);
        }
        Routed::Engine
    }

    /// Imports legacy session `index` into the engine on its user's request (read from the legacy
    /// store, written to the cold and hot tiers by the engine), then applies the request's update.
    fn migrate_on_access(&mut self, user: &mut User, index: u32, serving: usize, updates: bool) -> Routed {
        let Some(migration) = self.migration.as_mut() else { return Routed::Engine };
        let Some(&record) = migration.sessions.get(index as usize) else { return Routed::Engine };
        let context = &self.backends.context;
        // The legacy read.
        context.meter().redis_calls.add(1);
        let legacy = LegacySession {
            id: record.id,
            user_id: context.user().clone(),
            data: SessionData::opaque(record.payload as usize),
            expires_at: Backends::timestamp(record.last_access.saturating_add(migration.cold_ttl_ms)),
        };
        let manager = &self.backends.managers[serving];
        let counts = &mut self.meters.counts;
        match now_or_panic(manager.import(legacy, true)) {
            Ok(Imported::Imported { session, .. }) => {
                migration.release(index, Place::Imported);
                user.id = record.id;
                user.set_legacy(None);
                user.version = u32::try_from(session.version).unwrap_or(u32::MAX);
                let mut failed = false;
                if updates {
                    let data = SessionData::opaque(user.payload as usize);
                    match now_or_panic(manager.update(&user.id, data, session.version)) {
                        Ok(updated) => {
                            counts.updates += 1;
                            user.version = u32::try_from(updated.version).unwrap_or(u32::MAX);
                        }
                        Err(e) => {
                            counts.failed_updates += 1;
                            failed = matches!(e, EngineError::Store(_));
                        }
                    }
                }
                Routed::Done { class: RequestClass::Other, failed, moved: Some(Move::Migrated) }
            }
            Ok(found) => {
                // Expired (checked before, so not expected), or a removal marker the engine holds:
                // the session is gone, and only an expired one was meant to be.
                migration.release(index, Place::Gone);
                user.set_legacy(None);
                user.has_session = false;
                counts.invalid_lookups += 1;
                if found == Imported::Removed {
                    counts.lost += 1;
                    self.meters.bucket[serving].losses += 1;
                } else {
                    self.baseline.add(usize::from(user.home), user.payload);
                }
                Routed::Engine
            }
            Err(_) => {
                migration.record.failed_moves += 1;
                Routed::Done { class: RequestClass::Other, failed: true, moved: None }
            }
        }
    }

    /// Hands the user's session back to the legacy store (the percentage went down past its
    /// bucket): the engine retires it, the legacy store takes it with the request's update.
    fn roll_back(&mut self, user: &mut User, serving: usize, t: u64, updates: bool) -> Routed {
        let Some(migration) = self.migration.as_mut() else { return Routed::Engine };
        let counts = &mut self.meters.counts;
        match now_or_panic(self.backends.managers[serving].retire(&user.id)) {
            Ok(true) => {
                // The legacy write.
                self.backends.context.meter().redis_calls.add(1);
                let index = migration.hold(user.id, user.bucket, user.payload, usize::from(user.home), t);
                user.set_legacy(Some(index));
                counts.updates += u64::from(updates);
                Routed::Done { class: RequestClass::Other, failed: false, moved: Some(Move::RolledBack) }
            }
            Ok(false) => {
                // The engine no longer had it: as a lookup that found nothing.
                counts.invalid_lookups += 1;
                if t < user.last_access.saturating_add(self.timing.cold_ttl_ms) {
                    counts.lost += 1;
                    self.meters.bucket[serving].losses += 1;
                } else {
                    self.baseline.add(usize::from(user.home), user.payload);
                }
                user.has_session = false;
                Routed::Engine
            }
            Err(_) => {
                migration.record.failed_moves += 1;
                Routed::Done { class: RequestClass::Other, failed: true, moved: None }
            }
        }
    }

    /// Creates the user's session in the legacy store at `t`, with `id`.
    pub(crate) fn create_legacy(&mut self, user: &mut User, id: SessionId, t: u64) {
        let Some(migration) = self.migration.as_mut() else { return };
        self.backends.context.meter().redis_calls.add(1);
        let index = migration.hold(id, user.bucket, user.payload, usize::from(user.home), t);
        user.set_legacy(Some(index));
        user.id = id;
        user.version = 1;
        user.has_session = true;
        migration.record.legacy_created += 1;
    }

    /// Logs the user out of the legacy store; false when the engine holds the session (the
    /// caller logs it out there).
    pub(crate) fn legacy_logout(&mut self, user: &mut User) -> bool {
        let Some(migration) = self.migration.as_mut() else { return false };
        let Some(index) = user.legacy() else { return false };
        match migration.sessions.get(index as usize).map(|r| (r.place, r.id)) {
            Some((Place::Imported, id)) => {
                user.id = id;
                user.set_legacy(None);
                false
            }
            _ => {
                migration.release(index, Place::Gone);
                true
            }
        }
    }
}
