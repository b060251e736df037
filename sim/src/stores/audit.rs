//! [`SimAudit`]: an audit trail that only counts.

use std::sync::Arc;

use hotcold_engine::{AuditEvent, AuditKind, AuditSink, RegionId, SessionId, StoreError, Tier, Timestamp, UserId};

use super::StoreContext;
use super::meter::Counter;
use crate::analytics::SimAnalytics;

/// Tiers an event can happen in ([`Tier::Hot`], [`Tier::Cold`]).
const TIERS: usize = 2;

/// Audit records counted per region, kind and tier (the simulator reports hot and cold expiries
/// apart); nothing else of an event is kept.
#[derive(Debug)]
pub struct SimAudit {
    /// `counts[region][kind][tier]`, kinds in [`AuditKind::ALL`] order, tiers hot then cold;
    /// `region` is where the record is stored.
    counts: Vec<[[Counter; TIERS]; AuditKind::ALL.len()]>,
    /// Per home region, analytics summary writes of its sessions (with residency a restricted
    /// home's summaries go to a table of its own).
    home_analytics: Vec<Counter>,
    /// With residency: the context whose rules route each record (to the trail of its session's
    /// home, in an allowed region) and meter where it is stored; and whether the audit table is
    /// a global table. `None`: records stay where they happen, unmetered.
    resident: Option<(Arc<StoreContext>, bool)>,
    /// With `--analytics`: the session summaries the analytics table would hold.
    analytics: Option<SimAnalytics>,
}

impl SimAudit {
    /// A trail for `regions` regions, each record stored where it happens.
    pub fn new(regions: usize) -> Self {
        Self {
            counts: (0..regions).map(|_| Default::default()).collect(),
            home_analytics: (0..regions).map(|_| Counter::default()).collect(),
            resident: None,
            analytics: None,
        }
    }

    /// A trail that stores each record as the production sink does with the context's residency
    /// rules (in the serving region when allowed, else in the home's trail), metered in `context`
    /// (violations, replicas, exposure); `replicated` when the audit table is a global table.
    pub fn resident(context: Arc<StoreContext>, replicated: bool) -> Self {
        Self { resident: Some((Arc::clone(&context), replicated)), ..Self::new(context.regions()) }
    }

    /// The trail that also keeps the analytics table's session summaries (`--analytics`), visits
    /// split by idle gaps longer than `visit_gap_ms`.
    pub(crate) fn with_analytics(self, visit_gap_ms: u64) -> Self {
        Self { analytics: Some(SimAnalytics::new(visit_gap_ms)), ..self }
    }

    /// The analytics table being kept, if the run asked for it.
    pub(crate) fn analytics(&self) -> Option<&SimAnalytics> {
        self.analytics.as_ref()
    }

    /// Analytics summary writes of sessions homed in `home`.
    pub(crate) fn home_analytics_writes(&self, home: usize) -> u64 {
        self.home_analytics.get(home).map_or(0, Counter::get)
    }

    /// Stores `n` records of `kind` in `tier` about the session `session` in `region`'s trail:
    /// counted there, and (with residency) metered where they are stored.
    pub(crate) fn store(&self, session: &SessionId, region: usize, kind: AuditKind, tier: Tier, n: u64) {
        if let Some(by_kind) = self.counts.get(region) {
            by_kind[kind_index(kind)][tier_index(tier)].add(n);
        }
        if is_analytics(kind) {
            if let Some(counter) = self.home_analytics.get(session.home().index()) {
                counter.add(n);
            }
        }
        if let Some((context, replicated)) = &self.resident {
            context.audit_stored(session, region, *replicated, n);
        }
    }

    /// Events of `kind` in `region`, in either tier.
    pub(crate) fn count(&self, region: usize, kind: AuditKind) -> u64 {
        self.count_in(region, kind, Tier::Hot) + self.count_in(region, kind, Tier::Cold)
    }

    /// Every event in `region`: the audit table's items written there.
    pub(crate) fn total(&self, region: usize) -> u64 {
        AuditKind::ALL.iter().map(|kind| self.count(region, *kind)).sum()
    }

    /// Analytics summary writes of `region`: one per session each time it changes tier or ends
    /// (promoted, demoted, expired, logged out, revoked, erased; creates and updates are not).
    pub(crate) fn analytics_writes(&self, region: usize) -> u64 {
        AuditKind::ALL.iter().filter(|kind| is_analytics(**kind)).map(|kind| self.count(region, *kind)).sum()
    }

    /// Counts `n` events of `kind` in `tier` of sessions homed in `home`, written by the home's
    /// sync job outside the engine (the cold expiry sweep the simulator runs as part of its
    /// daily purge).
    pub(crate) fn add(&self, home: usize, kind: AuditKind, tier: Tier, n: u64) {
        let session = SessionId::from_parts([0; 16], RegionId(u16::try_from(home).unwrap_or(u16::MAX)));
        self.store(&session, home, kind, tier, n);
    }

    /// Events of `kind` in `tier` in `region`.
    pub(crate) fn count_in(&self, region: usize, kind: AuditKind, tier: Tier) -> u64 {
        self.counts.get(region).map_or(0, |by_kind| by_kind[kind_index(kind)][tier_index(tier)].get())
    }
}

/// Whether an event of `kind` also writes its session's analytics summary (a tier change or an
/// end; creates and updates do not).
fn is_analytics(kind: AuditKind) -> bool {
    !matches!(kind, AuditKind::Created | AuditKind::Updated)
}

/// Index of `kind` in [`AuditKind::ALL`].
fn kind_index(kind: AuditKind) -> usize {
    match kind {
        AuditKind::Created => 0,
        AuditKind::Promoted => 1,
        AuditKind::Demoted => 2,
        AuditKind::Updated => 3,
        AuditKind::Expired => 4,
        AuditKind::LoggedOut => 5,
        AuditKind::Revoked => 6,
        AuditKind::Erased => 7,
        AuditKind::MovedHome => 8,
        AuditKind::Migrated => 9,
        AuditKind::RolledBack => 10,
    }
}

fn tier_index(tier: Tier) -> usize {
    match tier {
        Tier::Hot => 0,
        Tier::Cold => 1,
    }
}

impl AuditSink for SimAudit {
    /// Stored where the production sink stores it: with residency, a restricted session's
    /// record goes to its home's trail unless the serving region is allowed.
    async fn append(&self, event: AuditEvent) -> Result<(), StoreError> {
        let storage = match &self.resident {
            Some((context, _)) => context.residency().store_region(event.session.home(), event.region),
            None => event.region,
        };
        self.store(&event.session, storage.index(), event.kind, event.tier, 1);
        if let Some(analytics) = &self.analytics {
            analytics.event(&event);
        }
        Ok(())
    }

    async fn pseudonymise_user(&self, _user: &UserId, _pseudonym: &UserId, _at: Timestamp) -> Result<u64, StoreError> {
        Ok(0) // counts only: no user ids are kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotcold_engine::ready::now_or_panic;
    use hotcold_engine::{RegionId, SessionId, Timestamp};

    fn event(kind: AuditKind, tier: Tier, region: u16) -> AuditEvent {
        AuditEvent {
            at: Timestamp(0),
            kind,
            tier,
            region: RegionId(region),
            session: SessionId::from_parts([1; 16], RegionId(0)),
            user_id: None,
            version: 0,
            data_bytes: 0,
            created_at: hotcold_engine::Timestamp(0),
            activity: hotcold_engine::Activity::default(),
        }
    }

    #[test]
    fn counts_by_region_kind_and_tier() {
        let audit = SimAudit::new(2);
        for e in [
            event(AuditKind::Expired, Tier::Hot, 0),
            event(AuditKind::Expired, Tier::Cold, 0),
            event(AuditKind::Expired, Tier::Cold, 0),
            event(AuditKind::Created, Tier::Cold, 1),
            event(AuditKind::Created, Tier::Hot, 9), // no such region: not counted
        ] {
            now_or_panic(audit.append(e)).unwrap();
        }
        assert_eq!(audit.count_in(0, AuditKind::Expired, Tier::Hot), 1);
        assert_eq!(audit.count_in(0, AuditKind::Expired, Tier::Cold), 2);
        assert_eq!(audit.count(0, AuditKind::Expired), 3);
        assert_eq!(audit.count(1, AuditKind::Created), 1);
        assert_eq!(audit.count(1, AuditKind::Expired), 0);
        assert_eq!(audit.count(9, AuditKind::Created), 0);
        assert_eq!(audit.total(0), 3);
        assert_eq!(audit.analytics_writes(0), 3);
        assert_eq!(audit.total(1), 1);
        assert_eq!(audit.analytics_writes(1), 0);
    }
}
