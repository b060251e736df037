//! [`Trail`]: the production [`AuditSink`]. It seals each event into its writer's chain and
//! writes it to the [`AuditLog`]; when the log cannot take it (down, or slower than the adapter's
//! deadline) the record goes to a durable [`AuditOutbox`] (the region's Redis in production) and
//! [`Trail::drain`] delivers it later. Nothing is dropped silently: a record neither the log, the
//! outbox nor the in-process spill queue could take is counted as failed (a metric) and shows as
//! a gap in its chain.
//!
//! Why an outbox and not failing the operation: the ADR wants sessions to keep working through a
//! DynamoDB incident (sessions live in Redis), and a create must not wait seconds on the audit
//! table. After one failure the trail sends records straight to the outbox for [`BACKOFF`], so a
//! slow table costs one deadline, not one per request.

use std::collections::VecDeque;
use std::future::Future;
use std::slice;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::AuditEvent;
use super::chain::{AuditRecord, Chain, ChainHead};
use super::log::{AuditLog, AuditPage, AuditQuery};
use crate::error::StoreError;
use crate::memory::lock;
use crate::session::UserId;
use crate::store::AuditSink;
use crate::time::Timestamp;

/// How long the trail writes straight to the outbox after the log failed once.
pub const BACKOFF: Duration = Duration::from_secs(5);

/// Records a [`Trail`] holds in process when the outbox is down too. Default: 100,000 (about
/// 30 MB).
pub const DEFAULT_SPILL_CAPACITY: usize = 100_000;

/// Records delivered per log write while draining.
const DRAIN_BATCH: usize = 100;

/// A durable queue of records waiting for the log.
pub trait AuditOutbox: Send + Sync {
    /// Appends `records`.
    fn push(&self, records: &[AuditRecord]) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The oldest `limit` records, left in place.
    fn peek(&self, limit: usize) -> impl Future<Output = Result<Vec<AuditRecord>, StoreError>> + Send;
    /// Removes these records (delivered), wherever they are in the queue; one removal per
    /// record, so two drainers racing remove each record once.
    fn remove(&self, records: &[AuditRecord]) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Records waiting.
    fn len(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// True when no record waits.
    fn is_empty(&self) -> impl Future<Output = Result<bool, StoreError>> + Send {
        async { Ok(self.len().await? == 0) }
    }
}

impl<T: AuditOutbox + ?Sized> AuditOutbox for Arc<T> {
    fn push(&self, records: &[AuditRecord]) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).push(records)
    }
    fn peek(&self, limit: usize) -> impl Future<Output = Result<Vec<AuditRecord>, StoreError>> + Send {
        (**self).peek(limit)
    }
    fn remove(&self, records: &[AuditRecord]) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).remove(records)
    }
    fn len(&self) -> impl Future<Output = Result<u64, StoreError>> + Send {
        (**self).len()
    }
}

/// An outbox in memory (tests; a process without a durable outbox).
#[derive(Debug, Default)]
pub struct MemoryOutbox {
    queue: Mutex<VecDeque<AuditRecord>>,
    available: std::sync::atomic::AtomicBool,
}

impl MemoryOutbox {
    /// An empty outbox that is up.
    pub fn new() -> Self {
        Self { queue: Mutex::default(), available: std::sync::atomic::AtomicBool::new(true) }
    }

    /// Takes the outbox down or brings it back.
    pub fn set_available(&self, available: bool) {
        self.available.store(available, Ordering::Relaxed);
    }

    fn up(&self) -> Result<MutexGuard<'_, VecDeque<AuditRecord>>, StoreError> {
        if self.available.load(Ordering::Relaxed) {
            Ok(lock(&self.queue))
        } else {
            Err(StoreError::unavailable("memory outbox", "switched off"))
        }
    }
}

impl AuditOutbox for MemoryOutbox {
    async fn push(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        self.up()?.extend(records.iter().cloned());
        Ok(())
    }
    async fn peek(&self, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        Ok(self.up()?.iter().take(limit).cloned().collect())
    }
    async fn remove(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        let mut queue = self.up()?;
        for record in records {
            if let Some(at) = queue.iter().position(|r| r.writer == record.writer && r.seq == record.seq) {
                queue.remove(at);
            }
        }
        Ok(())
    }
    async fn len(&self) -> Result<u64, StoreError> {
        Ok(self.up()?.len() as u64)
    }
}

/// What the trail did since start (the `/metrics` counters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrailCounts {
    /// Records the log took at once.
    pub written: u64,
    /// Records sent to the outbox (or the spill queue) instead.
    pub deferred: u64,
    /// Records delivered from the outbox or spill queue later.
    pub delivered: u64,
    /// Records nothing could take: lost, each a gap in its chain.
    pub failed: u64,
}

/// What one [`Trail::drain`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drained {
    /// Records delivered to the log.
    pub delivered: u64,
    /// Records still waiting (outbox plus spill queue) afterwards.
    pub pending: u64,
}

/// The production audit trail: chain, log, outbox.
#[derive(Debug)]
pub struct Trail<L, O> {
    log: L,
    outbox: O,
    chain: Mutex<Chain>,
    /// Records sealed but not yet in the log or the outbox (a head is reported only at zero).
    in_flight: AtomicU64,
    /// Records the outbox could not take either, oldest first, at most `spill_capacity`.
    spill: Mutex<VecDeque<AuditRecord>>,
    spill_capacity: usize,
    /// Until when records go straight to the outbox (ms; 0: not backing off).
    backoff_until: AtomicU64,
    /// The last head reported to the log.
    reported: Mutex<Option<ChainHead>>,
    written: AtomicU64,
    deferred: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
}

impl<L: AuditLog, O: AuditOutbox> Trail<L, O> {
    /// A trail writing as `writer` (unique per process: `<region>.<random hex>`, see
    /// [`writer_name`]) to `log`, deferring to `outbox`.
    pub fn new(writer: impl Into<String>, log: L, outbox: O) -> Self {
        Self {
            log,
            outbox,
            chain: Mutex::new(Chain::new(writer)),
            in_flight: AtomicU64::new(0),
            spill: Mutex::default(),
            spill_capacity: DEFAULT_SPILL_CAPACITY,
            backoff_until: AtomicU64::new(0),
            reported: Mutex::new(None),
            written: AtomicU64::new(0),
            deferred: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }

    /// Holds at most `capacity` records in process when the outbox is down too. Default:
    /// [`DEFAULT_SPILL_CAPACITY`].
    #[must_use]
    pub fn with_spill_capacity(mut self, capacity: usize) -> Self {
        self.spill_capacity = capacity;
        self
    }

    /// The log (for the compliance query and verification).
    pub const fn log(&self) -> &L {
        &self.log
    }

    /// The outbox.
    pub const fn outbox(&self) -> &O {
        &self.outbox
    }

    /// This writer's name.
    pub fn writer(&self) -> String {
        lock(&self.chain).writer().to_string()
    }

    /// Counters since start.
    pub fn counts(&self) -> TrailCounts {
        TrailCounts {
            written: self.written.load(Ordering::Relaxed),
            deferred: self.deferred.load(Ordering::Relaxed),
            delivered: self.delivered.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }

    /// Records waiting: in the outbox (all writers of this outbox) plus this process's spill
    /// queue.
    pub async fn pending(&self) -> Result<u64, StoreError> {
        let spilled = lock(&self.spill).len() as u64;
        Ok(self.outbox.len().await? + spilled)
    }

    /// Records held in this process because the outbox was down too: lost if the process ends
    /// before a drain delivers them.
    pub fn spilled(&self) -> u64 {
        lock(&self.spill).len() as u64
    }

    /// A page of `user`'s events, newest first (the compliance query).
    pub async fn user_page(&self, user: &UserId, query: &AuditQuery) -> Result<AuditPage, StoreError> {
        self.log.user_page(user, query).await
    }

    /// Delivers waiting records to the log: the spill queue first, then the outbox, in batches,
    /// until both are empty or the log fails (answered as the error; what was delivered stays
    /// delivered). Then reports this writer's head when nothing of it is still on its way.
    pub async fn drain(&self) -> Result<Drained, StoreError> {
        let mut delivered = 0;
        loop {
            let batch: Vec<AuditRecord> = lock(&self.spill).iter().take(DRAIN_BATCH).cloned().collect();
            if batch.is_empty() {
                break;
            }
            self.log.write(&batch).await?;
            // By number, not position: a concurrent drain (an erasure's) may have removed some.
            let sent: std::collections::HashSet<u64> = batch.iter().map(|r| r.seq).collect();
            lock(&self.spill).retain(|r| !sent.contains(&r.seq));
            delivered += batch.len() as u64;
        }
        loop {
            let batch = self.outbox.peek(DRAIN_BATCH).await?;
            if batch.is_empty() {
                break;
            }
            self.log.write(&batch).await?;
            self.outbox.remove(&batch).await?;
            delivered += batch.len() as u64;
        }
        self.delivered.fetch_add(delivered, Ordering::Relaxed);
        self.backoff_until.store(0, Ordering::Relaxed);
        // The head is taken before the count, so a record deferred in between holds it back.
        let head = self.settled_head();
        let pending = self.pending().await?;
        if pending == 0
            && let Some(head) = head
        {
            self.report_head(head).await?;
        }
        Ok(Drained { delivered, pending })
    }

    /// This writer's head, if it has one and no record up to it is still on its way to the log
    /// or the outbox.
    fn settled_head(&self) -> Option<ChainHead> {
        let chain = lock(&self.chain);
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        chain.head()
    }

    /// Reports `head` (taken with nothing waiting) to the log, unless it already was.
    async fn report_head(&self, head: ChainHead) -> Result<(), StoreError> {
        if *lock(&self.reported) == Some(head.clone()) {
            return Ok(());
        }
        self.log.report_head(&head).await?;
        *lock(&self.reported) = Some(head);
        Ok(())
    }

    /// Sends `record` to the outbox, else to the spill queue, else counts it failed.
    async fn defer(&self, record: AuditRecord) -> Result<(), StoreError> {
        let outboxed = self.outbox.push(slice::from_ref(&record)).await;
        let result = match outboxed {
            Ok(()) => Ok(()),
            Err(outbox_error) => {
                let mut spill = lock(&self.spill);
                if spill.len() < self.spill_capacity {
                    spill.push_back(record);
                    Ok(())
                } else {
                    self.failed.fetch_add(1, Ordering::Relaxed);
                    Err(outbox_error)
                }
            }
        };
        if result.is_ok() {
            self.deferred.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    fn backing_off(&self, now: Timestamp) -> bool {
        now.0 < self.backoff_until.load(Ordering::Relaxed)
    }
}

impl<L: AuditLog, O: AuditOutbox> AuditSink for Trail<L, O> {
    async fn append(&self, event: AuditEvent) -> Result<(), StoreError> {
        let now = event.at;
        let record = {
            let mut chain = lock(&self.chain);
            self.in_flight.fetch_add(1, Ordering::AcqRel);
            chain.seal(event)
        };
        let result = if self.backing_off(now) {
            self.defer(record).await
        } else {
            match self.log.write(slice::from_ref(&record)).await {
                Ok(()) => {
                    self.written.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                }
                Err(_) => {
                    self.backoff_until.store((now + BACKOFF).0, Ordering::Relaxed);
                    self.defer(record).await
                }
            }
        };
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        result
    }

    /// Delivers everything waiting first (so no record of the user arrives after the unlinking
    /// from this process), then unlinks as of `at`. Fails, to be repeated, if either step fails.
    /// The pseudonym is not needed: records carry no user id, only the link does.
    async fn pseudonymise_user(&self, user: &UserId, _pseudonym: &UserId, at: Timestamp) -> Result<u64, StoreError> {
        self.drain().await?;
        self.log.forget_user(user, at).await
    }
}

/// A writer name for a process serving `region`: the region and 64 random bits, so two processes
/// (or one restarted) never share a chain.
pub fn writer_name(region: &str) -> String {
    let suffix: u64 = rand::random();
    let region: String =
        region.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    format!("{region}.{suffix:016x}")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::audit::chain::verify;
    use crate::audit::log::MemoryAuditLog;
    use crate::audit::{AuditKind, Tier};
    use crate::ready::now_or_panic;
    use crate::session::{RegionId, SessionId};

    type TestTrail = Trail<Arc<MemoryAuditLog>, Arc<MemoryOutbox>>;

    fn trail() -> (TestTrail, Arc<MemoryAuditLog>, Arc<MemoryOutbox>) {
        let log = Arc::new(MemoryAuditLog::new());
        let outbox = Arc::new(MemoryOutbox::new());
        (Trail::new("test-1.00", Arc::clone(&log), Arc::clone(&outbox)), log, outbox)
    }

    fn event(at: u64, user: &str) -> AuditEvent {
        AuditEvent {
            at: Timestamp(at),
            kind: AuditKind::Updated,
            tier: Tier::Hot,
            region: RegionId(0),
            session: SessionId::from_parts([3; 16], RegionId(0)),
            user_id: Some(UserId::new(user).unwrap()),
            version: at,
            data_bytes: 0,
            created_at: crate::time::Timestamp(0),
            activity: crate::Activity::default(),
        }
    }

    fn all_of(trail: &TestTrail, user: &str) -> Vec<u64> {
        let query = AuditQuery { limit: 1000, ..AuditQuery::default() };
        let page = now_or_panic(trail.user_page(&UserId::new(user).unwrap(), &query)).unwrap();
        page.records.iter().map(|r| r.event.at.0).collect()
    }

    #[test]
    fn a_log_that_is_down_defers_to_the_outbox_and_the_drain_delivers_everything_once() {
        let (trail, log, outbox) = trail();
        now_or_panic(trail.append(event(1_000, "ann"))).unwrap();
        log.set_available(false);
        for at in 2_000..2_005 {
            now_or_panic(trail.append(event(at, "ann"))).unwrap();
        }
        assert_eq!(now_or_panic(outbox.len()).unwrap(), 5);
        assert_eq!(trail.counts(), TrailCounts { written: 1, deferred: 5, delivered: 0, failed: 0 });
        assert!(now_or_panic(trail.drain()).is_err(), "the log is still down");
        log.set_available(true);
        let drained = now_or_panic(trail.drain()).unwrap();
        assert_eq!(drained, Drained { delivered: 5, pending: 0 });
        assert_eq!(all_of(&trail, "ann"), vec![2_004, 2_003, 2_002, 2_001, 2_000, 1_000], "newest first, none twice");
        let heads = now_or_panic(log.heads()).unwrap();
        assert_eq!(heads.iter().map(|h| h.seq).collect::<Vec<_>>(), vec![6], "head reported once all is delivered");
        assert!(verify(log.records(), &heads).intact());
    }

    #[test]
    fn after_a_failure_records_go_straight_to_the_outbox_for_the_backoff() {
        let (trail, log, _) = trail();
        log.set_available(false);
        now_or_panic(trail.append(event(10_000, "bo"))).unwrap();
        log.set_available(true);
        now_or_panic(trail.append(event(10_000 + BACKOFF.as_millis() as u64 - 1, "bo"))).unwrap();
        assert_eq!(trail.counts().deferred, 2, "within the backoff: not tried");
        now_or_panic(trail.append(event(10_000 + BACKOFF.as_millis() as u64, "bo"))).unwrap();
        assert_eq!(trail.counts().written, 1, "after it: tried again");
    }

    #[test]
    fn with_the_outbox_down_too_records_spill_in_process_and_past_capacity_fail_loudly() {
        let (trail, log, outbox) = trail();
        let trail = trail.with_spill_capacity(2);
        log.set_available(false);
        outbox.set_available(false);
        now_or_panic(trail.append(event(1, "cy"))).unwrap();
        now_or_panic(trail.append(event(2, "cy"))).unwrap();
        assert!(now_or_panic(trail.append(event(3, "cy"))).is_err(), "nothing could take it: the caller hears");
        assert_eq!(trail.counts().failed, 1);
        assert_eq!(now_or_panic(trail.pending()).unwrap_err().to_string(), "memory outbox unavailable: switched off");
        log.set_available(true);
        outbox.set_available(true);
        now_or_panic(trail.append(event(6_000, "cy"))).unwrap();
        assert_eq!(now_or_panic(trail.drain()).unwrap(), Drained { delivered: 2, pending: 0 });
        assert_eq!(all_of(&trail, "cy"), vec![6_000, 2, 1]);
        let problems = verify(log.records(), &now_or_panic(log.heads()).unwrap()).problems;
        assert_eq!(
            problems,
            vec![crate::audit::chain::Problem::Missing { writer: "test-1.00".into(), from: 3, to: 3 }],
            "the lost record is a gap in the chain"
        );
    }

    #[test]
    fn erasure_delivers_what_waits_then_unlinks_and_keeps_the_records() {
        let (trail, log, outbox) = trail();
        now_or_panic(trail.append(event(1, "di"))).unwrap();
        log.set_available(false);
        now_or_panic(trail.append(event(2, "di"))).unwrap();
        now_or_panic(trail.append(event(3, "ed"))).unwrap();
        log.set_available(true);
        let user = UserId::new("di").unwrap();
        let unlinked = now_or_panic(trail.pseudonymise_user(&user, &user, Timestamp(4))).unwrap();
        assert_eq!(unlinked, 2, "both records, the deferred one included");
        assert_eq!(now_or_panic(outbox.len()).unwrap(), 0);
        assert!(all_of(&trail, "di").is_empty(), "nothing reaches them from the user id");
        assert_eq!(log.records().len(), 3, "still counted");
        // A record of the erased user that happened before the erasure, arriving late (another
        // process's outbox), is linked to nobody; a new one after it starts a new link.
        let mut late = Chain::new("other.01");
        now_or_panic(log.write(&[late.seal(event(3, "di"))])).unwrap();
        assert!(all_of(&trail, "di").is_empty());
        now_or_panic(trail.append(event(5, "di"))).unwrap();
        assert_eq!(all_of(&trail, "di"), vec![5]);
    }

    #[test]
    fn a_redelivered_record_is_kept_once() {
        let (trail, log, _) = trail();
        let mut chain = Chain::new("test-2.00");
        let record = chain.seal(event(7, "fa"));
        now_or_panic(log.write(&[record.clone(), record])).unwrap();
        assert_eq!(all_of(&trail, "fa"), vec![7]);
    }

    #[test]
    fn writer_names_are_unique_and_key_safe() {
        let (a, b) = (writer_name("us-east-1"), writer_name("us-east-1"));
        assert_ne!(a, b);
        assert!(writer_name("a#b c").starts_with("a_b_c."));
    }
}
