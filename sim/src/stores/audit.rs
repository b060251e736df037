//! [`SimAudit`]: an audit trail that only counts.

use hotcold_engine::{AuditEvent, AuditKind, AuditSink, StoreError, Tier, Timestamp, UserId};

use super::meter::Counter;

/// Tiers an event can happen in ([`Tier::Hot`], [`Tier::Cold`]).
const TIERS: usize = 2;

/// Audit records counted per region, kind and tier (the simulator reports hot and cold expiries
/// apart); nothing else of an event is kept.
#[derive(Debug)]
pub struct SimAudit {
    /// `counts[region][kind][tier]`, kinds in [`AuditKind::ALL`] order, tiers hot then cold.
    counts: Vec<[[Counter; TIERS]; AuditKind::ALL.len()]>,
}

impl SimAudit {
    /// A trail for `regions` regions.
    pub fn new(regions: usize) -> Self {
        Self { counts: (0..regions).map(|_| Default::default()).collect() }
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
        AuditKind::ALL
            .iter()
            .filter(|kind| !matches!(kind, AuditKind::Created | AuditKind::Updated))
            .map(|kind| self.count(region, *kind))
            .sum()
    }

    /// Counts `n` events of `kind` in `tier` written by `region` outside the engine (the cold
    /// expiry sweep the simulator runs as part of its daily purge).
    pub(crate) fn add(&self, region: usize, kind: AuditKind, tier: Tier, n: u64) {
        if let Some(by_kind) = self.counts.get(region) {
            by_kind[kind_index(kind)][tier_index(tier)].add(n);
        }
    }

    /// Events of `kind` in `tier` in `region`.
    pub(crate) fn count_in(&self, region: usize, kind: AuditKind, tier: Tier) -> u64 {
        self.counts.get(region).map_or(0, |by_kind| by_kind[kind_index(kind)][tier_index(tier)].get())
    }
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
    }
}

fn tier_index(tier: Tier) -> usize {
    match tier {
        Tier::Hot => 0,
        Tier::Cold => 1,
    }
}

impl AuditSink for SimAudit {
    async fn append(&self, event: AuditEvent) -> Result<(), StoreError> {
        if let Some(by_kind) = self.counts.get(event.region.index()) {
            by_kind[kind_index(event.kind)][tier_index(event.tier)].add(1);
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
