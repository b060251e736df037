//! `GET /metrics`: Prometheus text. Requests by operation and outcome, hot and cold gauges,
//! promotions, demotions, sync lag, audit records (written, deferred, delivered, failed, pending),
//! the region served and its readiness, lookup latency by tier, and the latency of every backend
//! call (the stores are wrapped in [`Timed`], so the engine itself stays free of metrics code).
//! The alert rules and dashboard of `hotcold infra --monitoring` (deploy/) query these names.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hotcold_engine::audit::trail::TrailCounts;
use hotcold_engine::store::IdleEntry;
use hotcold_engine::{
    ColdLookup, ColdStore, ColdWrite, ExpiredPage, ExpiryCursor, HotLookup, HotStore, HotTouch, HotUpdate, HotWrite,
    RegionId, Session, SessionData, SessionId, StoreError, SyncReport, Timestamp, UserId,
};
use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry, TextEncoder,
};

/// Latency buckets, seconds: 100 us to 10 s (Redis answers in about 0.2 ms on loopback, DynamoDB
/// in milliseconds, a timed-out call in 250 ms to 3 s).
/// Shared with `hotcold calibrate`, which fits the scenario's latencies from these buckets.
const LATENCY_BUCKETS: [f64; 16] = hotcold_model::calibrate::latency::LATENCY_BUCKETS_SECONDS;

/// Every metric the service exports, in one registry of its own.
#[derive(Clone)]
pub(crate) struct Metrics {
    registry: Registry,
    /// `hotcold_requests_total{op, outcome}`.
    requests: IntCounterVec,
    /// `hotcold_request_duration_seconds{op}`.
    request_seconds: HistogramVec,
    /// `hotcold_backend_call_duration_seconds{backend, call, result}`.
    backend_seconds: HistogramVec,
    /// `hotcold_promotions_total`: lookups served from DynamoDB and made hot again.
    promotions: IntCounter,
    /// `hotcold_migration_moves_total{move}`: sessions moved between the legacy store and the
    /// hybrid one on access during a migration: `imported`, `rolled_back`.
    migration_moves: IntCounterVec,
    /// `hotcold_sync_sessions_total{what}`: demoted, kept_hot, expired_hot, stale_dropped, copied,
    /// unreadable (records that did not decode, quarantined by the store), expired_cold (ended
    /// by the cold expiry sweep).
    sync_sessions: IntCounterVec,
    /// `hotcold_sync_passes_total{result}`.
    sync_passes: IntCounterVec,
    /// `hotcold_sync_lag_seconds`: time since the last sync pass that completed without error.
    sync_lag: Gauge,
    /// `hotcold_sessions{tier, region}`: hot sessions per region, cold items (DynamoDB's count).
    sessions: GaugeVec,
    /// `hotcold_requests_rejected_total{reason}`: requests refused before a handler answered
    /// (unauthenticated, forbidden, timeout, overloaded).
    rejected: IntCounterVec,
    /// `hotcold_sync_lease_held`: 1 while this instance holds its region's sync lease.
    lease_held: Gauge,
    /// `hotcold_audit_events_total{outcome}`: written (at once), deferred (to the outbox),
    /// delivered (from it, later), failed (nothing could take it: lost, a gap in the chain).
    audit_events: IntCounterVec,
    /// `hotcold_audit_events_pending`: records in the outbox and the spill queue.
    audit_pending: Gauge,
    /// The trail's counts at the last [`Self::set_audit`], to turn them into counter increments.
    audit_seen: Arc<Mutex<TrailCounts>>,
    /// `hotcold_analytics_writes_failed_total`: session summary updates that failed (their audit
    /// records landed; the summary misses that event).
    analytics_failed: IntCounter,
    /// `hotcold_serve_info{region}`: always 1, the region this instance serves. The other series
    /// of an instance carry no region (one instance serves one region), so rules join on it to
    /// break them down by region.
    serve_info: GaugeVec,
    /// `hotcold_ready{region}`: what `/readyz` answers (1 ready, 0 not), checked at each scrape,
    /// so an alert rule sees readiness without a probe of its own.
    ready: GaugeVec,
    /// `hotcold_lookup_duration_seconds{region, tier}`: lookups that found their session, by the
    /// tier that served it (`hot`, `promoted`, `cold`): the ADR's two latency targets are per
    /// tier, which the request histogram (all lookups together) cannot tell apart.
    lookup_seconds: HistogramVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub(crate) fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("hotcold_requests_total", "API requests by operation and outcome"),
            &["op", "outcome"],
        )?;
        let request_seconds = HistogramVec::new(
            HistogramOpts::new("hotcold_request_duration_seconds", "API request latency by operation")
                .buckets(LATENCY_BUCKETS.to_vec()),
            &["op"],
        )?;
        let backend_seconds = HistogramVec::new(
            HistogramOpts::new("hotcold_backend_call_duration_seconds", "Latency of calls to Redis and DynamoDB")
                .buckets(LATENCY_BUCKETS.to_vec()),
            &["backend", "call", "result"],
        )?;
        let promotions =
            IntCounter::new("hotcold_promotions_total", "Lookups served from DynamoDB and made hot again")?;
        let migration_moves = IntCounterVec::new(
            Opts::new("hotcold_migration_moves_total", "Sessions moved between the legacy and hybrid stores on access"),
            &["move"],
        )?;
        let sync_sessions = IntCounterVec::new(
            Opts::new("hotcold_sync_sessions_total", "Sessions handled by the sync job"),
            &["what"],
        )?;
        let sync_passes =
            IntCounterVec::new(Opts::new("hotcold_sync_passes_total", "Sync passes by result"), &["result"])?;
        let sync_lag = Gauge::new(
            "hotcold_sync_lag_seconds",
            "Seconds since the last sync pass that completed without error (grows while DynamoDB or Redis is down)",
        )?;
        let sessions = GaugeVec::new(
            Opts::new(
                "hotcold_sessions",
                "Sessions held: tier=hot per region (Redis), tier=cold (DynamoDB's item count, refreshed by AWS about every 6 h)",
            ),
            &["tier", "region"],
        )?;
        let rejected = IntCounterVec::new(
            Opts::new("hotcold_requests_rejected_total", "Requests refused before a handler answered, by reason"),
            &["reason"],
        )?;
        let lease_held = Gauge::new(
            "hotcold_sync_lease_held",
            "1 while this instance holds its region's sync lease (runs the region's sync job), else 0",
        )?;
        let audit_events = IntCounterVec::new(
            Opts::new(
                "hotcold_audit_events_total",
                "Audit records: written at once, deferred to the outbox, delivered from it later, failed (lost)",
            ),
            &["outcome"],
        )?;
        let audit_pending = Gauge::new(
            "hotcold_audit_events_pending",
            "Audit records waiting in the outbox (this region's Redis) and in process for the audit table",
        )?;
        let analytics_failed = IntCounter::new(
            "hotcold_analytics_writes_failed_total",
            "Session summary updates of the analytics table that failed (the audit record itself landed)",
        )?;
        let serve_info = GaugeVec::new(
            Opts::new(
                "hotcold_serve_info",
                "Always 1: the region this instance serves (join on instance for per-region rules)",
            ),
            &["region"],
        )?;
        let ready = GaugeVec::new(
            Opts::new(
                "hotcold_ready",
                "1 when /readyz answers ready (this region's Redis and DynamoDB answer), else 0; checked at each scrape",
            ),
            &["region"],
        )?;
        let lookup_seconds = HistogramVec::new(
            HistogramOpts::new(
                "hotcold_lookup_duration_seconds",
                "Latency of lookups that found their session, by the tier that served it (hot, promoted, cold)",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["region", "tier"],
        )?;
        registry.register(Box::new(serve_info.clone()))?;
        registry.register(Box::new(ready.clone()))?;
        registry.register(Box::new(lookup_seconds.clone()))?;
        registry.register(Box::new(analytics_failed.clone()))?;
        registry.register(Box::new(audit_events.clone()))?;
        registry.register(Box::new(audit_pending.clone()))?;
        registry.register(Box::new(rejected.clone()))?;
        registry.register(Box::new(lease_held.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(request_seconds.clone()))?;
        registry.register(Box::new(backend_seconds.clone()))?;
        registry.register(Box::new(promotions.clone()))?;
        registry.register(Box::new(migration_moves.clone()))?;
        registry.register(Box::new(sync_sessions.clone()))?;
        registry.register(Box::new(sync_passes.clone()))?;
        registry.register(Box::new(sync_lag.clone()))?;
        registry.register(Box::new(sessions.clone()))?;
        Ok(Self {
            registry,
            requests,
            request_seconds,
            backend_seconds,
            promotions,
            migration_moves,
            sync_sessions,
            sync_passes,
            sync_lag,
            sessions,
            rejected,
            lease_held,
            audit_events,
            audit_pending,
            audit_seen: Arc::default(),
            analytics_failed,
            serve_info,
            ready,
            lookup_seconds,
        })
    }

    /// Names the region this instance serves (`hotcold_serve_info{region} 1`).
    pub(crate) fn set_region(&self, region: &str) {
        self.serve_info.with_label_values(&[region]).set(1.0);
    }

    /// Whether `region` (this instance's) is ready, as `/readyz` found it.
    pub(crate) fn set_ready(&self, region: &str, ready: bool) {
        self.ready.with_label_values(&[region]).set(if ready { 1.0 } else { 0.0 });
    }

    /// A lookup served by `tier` (`hot`, `promoted` or `cold`) in `region`.
    pub(crate) fn lookup(&self, region: &str, tier: &str, took: Duration) {
        self.lookup_seconds.with_label_values(&[region, tier]).observe(took.as_secs_f64());
    }

    /// Summary updates failed since start (a running total: the counter moves by the difference).
    pub(crate) fn set_analytics_failed(&self, total: u64) {
        let seen = self.analytics_failed.get();
        self.analytics_failed.inc_by(total.saturating_sub(seen));
    }

    /// The audit trail's counters since start and the records waiting (`None`: the outbox did
    /// not answer; the gauge keeps its last value).
    pub(crate) fn set_audit(&self, counts: TrailCounts, pending: Option<u64>) {
        let mut seen = self.audit_seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for (outcome, now, before) in [
            ("written", counts.written, seen.written),
            ("deferred", counts.deferred, seen.deferred),
            ("delivered", counts.delivered, seen.delivered),
            ("failed", counts.failed, seen.failed),
        ] {
            self.audit_events.with_label_values(&[outcome]).inc_by(now.saturating_sub(before));
        }
        *seen = counts;
        if let Some(pending) = pending {
            self.audit_pending.set(pending as f64);
        }
    }

    /// A request refused by the credential check or the limits.
    pub(crate) fn rejected(&self, reason: &str) {
        self.rejected.with_label_values(&[reason]).inc();
    }

    /// Whether this instance holds its region's sync lease now.
    pub(crate) fn set_lease_held(&self, held: bool) {
        self.lease_held.set(if held { 1.0 } else { 0.0 });
    }

    /// A due sync pass this instance skipped: another instance holds the region's lease (or the
    /// lease could not be checked).
    pub(crate) fn sync_pass_skipped(&self) {
        self.sync_passes.with_label_values(&["skipped"]).inc();
    }

    /// One API request done.
    pub(crate) fn request(&self, op: &str, outcome: &str, took: Duration) {
        self.requests.with_label_values(&[op, outcome]).inc();
        self.request_seconds.with_label_values(&[op]).observe(took.as_secs_f64());
    }

    /// A lookup promoted a cold session.
    pub(crate) fn promotion(&self) {
        self.promotions.inc();
    }

    /// A session moved between the legacy store and the hybrid one (`imported`, `rolled_back`).
    pub(crate) fn migration_move(&self, kind: &'static str) {
        self.migration_moves.with_label_values(&[kind]).inc();
    }

    /// One sync pass (demotion or write-behind) done.
    pub(crate) fn sync_pass(&self, report: &SyncReport) {
        for (what, n) in [
            ("demoted", report.demoted),
            ("kept_hot", report.kept_hot),
            ("expired_hot", report.expired_hot),
            ("stale_dropped", report.stale_dropped),
            ("copied", report.copied),
            ("unreadable", report.unreadable),
            ("expired_cold", report.expired_cold),
            ("moved_home", report.moved_home),
        ] {
            self.sync_sessions.with_label_values(&[what]).inc_by(n);
        }
        let result = if report.error.is_some() { "error" } else { "ok" };
        self.sync_passes.with_label_values(&[result]).inc();
    }

    /// Seconds since the last clean sync pass.
    pub(crate) fn set_sync_lag(&self, lag: Duration) {
        self.sync_lag.set(lag.as_secs_f64());
    }

    /// Sessions held by a tier (`region` is empty for the global cold table).
    pub(crate) fn set_sessions(&self, tier: &str, region: &str, count: u64) {
        self.sessions.with_label_values(&[tier, region]).set(count as f64);
    }

    /// Every metric in Prometheus text format.
    pub(crate) fn render(&self) -> String {
        let mut buffer = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            return format!("# encoding the metrics failed: {e}\n");
        }
        String::from_utf8(buffer).unwrap_or_else(|e| format!("# metrics were not UTF-8: {e}\n"))
    }

    fn observe_backend(&self, backend: &str, call: &str, ok: bool, started: Instant) {
        let result = if ok { "ok" } else { "error" };
        self.backend_seconds.with_label_values(&[backend, call, result]).observe(started.elapsed().as_secs_f64());
    }
}

/// A store whose every call is timed into [`Metrics`] (`backend` labels the series) and counted.
#[derive(Debug)]
pub(crate) struct Timed<S> {
    inner: S,
    backend: &'static str,
    metrics: Metrics,
    calls: AtomicU64,
    errors: AtomicU64,
}

impl<S> Timed<S> {
    pub(crate) const fn new(inner: S, backend: &'static str, metrics: Metrics) -> Self {
        Self { inner, backend, metrics, calls: AtomicU64::new(0), errors: AtomicU64::new(0) }
    }

    pub(crate) const fn inner(&self) -> &S {
        &self.inner
    }

    /// Calls made through this store, and how many of them failed.
    pub(crate) fn calls(&self) -> (u64, u64) {
        (self.calls.load(Ordering::Relaxed), self.errors.load(Ordering::Relaxed))
    }

    async fn time<T>(&self, call: &'static str, ok: impl Fn(&T) -> bool, work: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let answer = work.await;
        let ok = ok(&answer);
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.errors.fetch_add(u64::from(!ok), Ordering::Relaxed);
        self.metrics.observe_backend(self.backend, call, ok, started);
        answer
    }
}

const fn hot_ok(lookup: &HotLookup) -> bool {
    !matches!(lookup, HotLookup::Unavailable(_))
}

const fn result_ok<T>(result: &Result<T, StoreError>) -> bool {
    result.is_ok()
}

impl<H: HotStore> HotStore for Timed<H> {
    async fn get_and_touch(&self, id: &SessionId, now: Timestamp, ttl: Duration) -> HotLookup {
        self.time("get_and_touch", hot_ok, self.inner.get_and_touch(id, now, ttl)).await
    }
    async fn touch(&self, id: &SessionId, now: Timestamp, ttl: Duration) -> HotTouch {
        self.time("touch", |t| !matches!(t, HotTouch::Unavailable(_)), self.inner.touch(id, now, ttl)).await
    }
    async fn put(&self, session: &Session, ttl: Duration) -> Result<HotWrite, StoreError> {
        self.time("put", result_ok, self.inner.put(session, ttl)).await
    }
    async fn update(
        &self,
        id: &SessionId,
        data: &SessionData,
        expected_version: u64,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<HotUpdate, StoreError> {
        self.time("update", result_ok, self.inner.update(id, data, expected_version, now, ttl)).await
    }
    async fn take(&self, id: &SessionId) -> HotLookup {
        self.time("take", hot_ok, self.inner.take(id)).await
    }
    async fn remove(&self, id: &SessionId) -> Result<bool, StoreError> {
        self.time("remove", result_ok, self.inner.remove(id)).await
    }
    async fn remove_if_unchanged(
        &self,
        id: &SessionId,
        version: u64,
        last_access: Timestamp,
    ) -> Result<bool, StoreError> {
        self.time("remove_if_unchanged", result_ok, self.inner.remove_if_unchanged(id, version, last_access)).await
    }
    async fn idle_candidates(
        &self,
        idle_since: Timestamp,
        limit: usize,
        now: Timestamp,
    ) -> Result<Vec<IdleEntry>, StoreError> {
        self.time("idle_candidates", result_ok, self.inner.idle_candidates(idle_since, limit, now)).await
    }
    async fn dirty(&self, limit: usize) -> Result<Vec<Session>, StoreError> {
        self.time("dirty", result_ok, self.inner.dirty(limit)).await
    }
    async fn mark_persisted(&self, id: &SessionId, version: u64) -> Result<(), StoreError> {
        self.time("mark_persisted", result_ok, self.inner.mark_persisted(id, version)).await
    }
    async fn sessions_of_user(&self, user: &UserId) -> Result<Vec<Session>, StoreError> {
        self.time("sessions_of_user", result_ok, self.inner.sessions_of_user(user)).await
    }
    async fn sessions_of_user_page(
        &self,
        user: &UserId,
        after: Option<&SessionId>,
        limit: usize,
    ) -> Result<Vec<Session>, StoreError> {
        self.time("sessions_of_user_page", result_ok, self.inner.sessions_of_user_page(user, after, limit)).await
    }
    async fn session_count(&self) -> Result<u64, StoreError> {
        self.time("session_count", result_ok, self.inner.session_count()).await
    }
    async fn guests(&self, home: RegionId, limit: usize, now: Timestamp) -> Result<Vec<Session>, StoreError> {
        self.time("guests", result_ok, self.inner.guests(home, limit, now)).await
    }
}

impl<C: ColdStore> ColdStore for Timed<C> {
    async fn get(&self, id: &SessionId, reader: RegionId) -> ColdLookup {
        self.time("get", |l| !matches!(l, ColdLookup::Unavailable(_)), self.inner.get(id, reader)).await
    }
    async fn put(&self, session: &Session, writer: RegionId, now: Timestamp) -> Result<ColdWrite, StoreError> {
        self.time("put", result_ok, self.inner.put(session, writer, now)).await
    }
    async fn put_batch(
        &self,
        sessions: &[Session],
        writer: RegionId,
        now: Timestamp,
    ) -> Result<Vec<ColdWrite>, StoreError> {
        self.time("put_batch", result_ok, self.inner.put_batch(sessions, writer, now)).await
    }
    async fn delete(&self, id: &SessionId, writer: RegionId, now: Timestamp) -> Result<Option<Session>, StoreError> {
        self.time("delete", result_ok, self.inner.delete(id, writer, now)).await
    }
    async fn sessions_of_user(&self, user: &UserId, reader: RegionId) -> Result<Vec<Session>, StoreError> {
        self.time("sessions_of_user", result_ok, self.inner.sessions_of_user(user, reader)).await
    }
    async fn sessions_of_user_page(
        &self,
        user: &UserId,
        after: Option<&SessionId>,
        limit: usize,
        reader: RegionId,
    ) -> Result<Vec<Session>, StoreError> {
        let page = self.inner.sessions_of_user_page(user, after, limit, reader);
        self.time("sessions_of_user_page", result_ok, page).await
    }
    async fn expired_page(
        &self,
        home: RegionId,
        before: Timestamp,
        after: Option<&ExpiryCursor>,
        limit: usize,
    ) -> Result<ExpiredPage, StoreError> {
        self.time("expired_page", result_ok, self.inner.expired_page(home, before, after, limit)).await
    }
    async fn sweep_mark(&self, home: RegionId) -> Result<Option<ExpiryCursor>, StoreError> {
        self.time("sweep_mark", result_ok, self.inner.sweep_mark(home)).await
    }
    async fn set_sweep_mark(&self, home: RegionId, mark: &ExpiryCursor) -> Result<(), StoreError> {
        self.time("set_sweep_mark", result_ok, self.inner.set_sweep_mark(home, mark)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_renders_once_observed() {
        let metrics = Metrics::new().expect("registry");
        metrics.request("get", "ok", Duration::from_millis(2));
        metrics.promotion();
        metrics.sync_pass(&SyncReport { demoted: 3, ..SyncReport::default() });
        metrics.set_sync_lag(Duration::from_secs(4));
        metrics.set_sessions("hot", "us-east-1", 7);
        metrics.observe_backend("redis", "touch", true, Instant::now());
        metrics.rejected("timeout");
        metrics.set_lease_held(true);
        metrics.sync_pass_skipped();
        metrics.set_region("us-east-1");
        metrics.set_ready("us-east-1", false);
        metrics.lookup("us-east-1", "promoted", Duration::from_millis(9));
        let text = metrics.render();
        for line in [
            "hotcold_requests_total{op=\"get\",outcome=\"ok\"} 1",
            "hotcold_promotions_total 1",
            "hotcold_sync_sessions_total{what=\"demoted\"} 3",
            "hotcold_sync_passes_total{result=\"ok\"} 1",
            "hotcold_sync_lag_seconds 4",
            "hotcold_sessions{region=\"us-east-1\",tier=\"hot\"} 7",
            "hotcold_backend_call_duration_seconds_count{backend=\"redis\",call=\"touch\",result=\"ok\"} 1",
            "hotcold_request_duration_seconds_count{op=\"get\"} 1",
            "hotcold_requests_rejected_total{reason=\"timeout\"} 1",
            "hotcold_sync_lease_held 1",
            "hotcold_sync_passes_total{result=\"skipped\"} 1",
            "hotcold_serve_info{region=\"us-east-1\"} 1",
            "hotcold_ready{region=\"us-east-1\"} 0",
            "hotcold_lookup_duration_seconds_bucket{region=\"us-east-1\",tier=\"promoted\",le=\"0.01\"} 1",
        ] {
            assert!(text.contains(line), "missing {line:?} in:\n{text}");
        }
    }
}
