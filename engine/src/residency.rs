//! Data residency (CONTRACT `residency:`): for a home region, the regions allowed to store its
//! sessions. A restricted session's hot copy, cold record, audit records and analytics summary
//! are written only in its allowed regions; regions without a rule may store every session.
//!
//! What that takes, and where it lives:
//! - **Cold tier.** A DynamoDB global table replicates whole tables, so restricted sessions live
//!   in a table of their own whose replicas are only the allowed regions ([`ResidentCold`] routes
//!   each call to the table of the session's home). The manager reads and writes it through an
//!   allowed replica ([`Residency::store_region`]): the serving region's when it is allowed, the
//!   home's otherwise (a traveller's request pays that round trip; nothing is stored where they
//!   are).
//! - **Hot tier.** Only allowed regions' Redis holds a copy: a traveller outside them is served by
//!   the home's Redis, and a failover goes to an allowed region ([`Residency::failover_region`]);
//!   where there is none the session is served from the cold table, or the request fails: never
//!   copied elsewhere.
//! - **Audit and analytics.** [`ResidentAudit`] routes each record to the trail of its session's
//!   home (a trail whose tables, and outbox, are in allowed regions).
//!
//! The check is [`Residency::allows`]; the simulator counts every write that breaks it
//! (`residency.violations`), which the engine keeps at 0.

use std::collections::BTreeMap;
use std::future::Future;

use crate::audit::AuditEvent;
use crate::config::SessionConfig;
use crate::error::{ConfigError, StoreError};
use crate::session::{RegionId, Session, SessionId, UserId};
use crate::store::{AuditSink, ColdLookup, ColdStore, ColdWrite, ExpiredPage, ExpiryCursor};
use crate::time::Timestamp;

/// The residency rules of one deployment, by home region.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Residency {
    /// Per home region (by index): `None` when unrestricted, else its allowed regions in the
    /// configured order (the home first), which is also the order failovers try them in.
    allowed: Vec<Option<Vec<RegionId>>>,
}

impl Residency {
    /// No rules: every region may store every session.
    pub fn unrestricted() -> Self {
        Self::default()
    }

    /// Rules from the `residency:` map (home region name -> allowed region names), checked
    /// against the configured regions. `key` is where the map sits in its file (`residency`),
    /// for error messages. Every name must be a configured region, a list must not be empty or
    /// repeat a region, and it must hold the home itself (a region's sessions are created there).
    pub fn from_names(
        config: &SessionConfig,
        rules: &BTreeMap<String, Vec<String>>,
        key: &str,
    ) -> Result<Self, ConfigError> {
        let regions = config.hot_storage.regions.len();
        let mut allowed = vec![None; if rules.is_empty() { 0 } else { regions }];
        let known = || config.hot_storage.regions.join(", ");
        for (home_name, names) in rules {
            let at = format!("{key}.{home_name}");
            let home = config.region_id(home_name).ok_or_else(|| {
                ConfigError::new(&at, format!("{home_name:?} is not a configured region (configured: {})", known()))
            })?;
            if names.is_empty() {
                return Err(ConfigError::new(at, "list at least the home region itself"));
            }
            let mut list = Vec::with_capacity(names.len());
            for (i, name) in names.iter().enumerate() {
                let region = config.region_id(name).ok_or_else(|| {
                    ConfigError::new(
                        format!("{at}[{i}]"),
                        format!("{name:?} is not a configured region (configured: {})", known()),
                    )
                })?;
                if list.contains(&region) {
                    return Err(ConfigError::new(format!("{at}[{i}]"), format!("{name:?} is listed twice")));
                }
                list.push(region);
            }
            if !list.contains(&home) {
                return Err(ConfigError::new(
                    at,
                    format!("must include {home_name:?} itself: its sessions are created and served there"),
                ));
            }
            // The home first: it is where a restricted session is read from outside the set.
            list.sort_by_key(|r| *r != home);
            allowed[home.index()] = Some(list);
        }
        Ok(Self { allowed })
    }

    /// True when some region has a rule.
    pub fn is_configured(&self) -> bool {
        self.allowed.iter().any(Option::is_some)
    }

    /// The regions allowed to store sessions homed in `home`; `None` when unrestricted.
    pub fn allowed(&self, home: RegionId) -> Option<&[RegionId]> {
        self.allowed.get(home.index()).and_then(Option::as_deref)
    }

    /// True when sessions homed in `home` are restricted.
    pub fn is_restricted(&self, home: RegionId) -> bool {
        self.allowed(home).is_some()
    }

    /// The homes with a rule, ascending.
    pub fn restricted_homes(&self) -> impl Iterator<Item = RegionId> + '_ {
        self.allowed
            .iter()
            .enumerate()
            .filter(|(_, rule)| rule.is_some())
            .filter_map(|(i, _)| u16::try_from(i).ok().map(RegionId))
    }

    /// True when `region` may store data of sessions homed in `home`.
    pub fn allows(&self, home: RegionId, region: RegionId) -> bool {
        self.allowed(home).is_none_or(|list| list.contains(&region))
    }

    /// Where a request served in `here` reads and writes the cold record (and the audit record)
    /// of a session homed in `home`: `here` when it is allowed (its own replica), the home's
    /// replica otherwise.
    pub fn store_region(&self, home: RegionId, here: RegionId) -> RegionId {
        if self.allows(home, here) { here } else { home }
    }

    /// How many regions hold a replica of `home`'s sessions table, out of `regions` configured.
    pub fn replicas(&self, home: RegionId, regions: usize) -> usize {
        self.allowed(home).map_or(regions, <[RegionId]>::len)
    }

    /// Where a session homed in `home`, whose home hot tier is down, gets its hot copy when
    /// served in `here`: `here` if it is allowed, else the first allowed region other than the
    /// home (and `here`) that `usable` accepts; `None` when there is none (the session is served
    /// from the cold table).
    pub fn failover_region(
        &self,
        home: RegionId,
        here: RegionId,
        usable: impl Fn(RegionId) -> bool,
    ) -> Option<RegionId> {
        match self.allowed(home) {
            None => usable(here).then_some(here),
            Some(list) if list.contains(&here) => usable(here).then_some(here),
            Some(list) => list.iter().copied().find(|r| *r != home && *r != here && usable(*r)),
        }
    }
}

/// One store per residency group: the shared one (every unrestricted home's) and each restricted
/// home's own. What [`ResidentCold`] and [`ResidentAudit`] route between.
#[derive(Debug)]
struct PerHome<T> {
    shared: T,
    /// `(home, store)` of each restricted home.
    restricted: Vec<(RegionId, T)>,
}

impl<T> PerHome<T> {
    /// Every restricted home of `residency` must have its store (`what` names it in the error).
    fn new(residency: &Residency, shared: T, restricted: Vec<(RegionId, T)>, what: &str) -> Result<Self, ConfigError> {
        if let Some(home) = residency.restricted_homes().find(|home| !restricted.iter().any(|(h, _)| h == home)) {
            return Err(ConfigError::new(
                "dynamodb.residency_tables",
                format!("region {} is restricted by `residency` but has no {what}", home.0),
            ));
        }
        Ok(Self { shared, restricted })
    }

    /// The store of sessions homed in `home`, with its position in [`Self::all`].
    fn of(&self, home: RegionId) -> (usize, &T) {
        self.restricted
            .iter()
            .position(|(h, _)| *h == home)
            .map_or((0, &self.shared), |i| (i + 1, &self.restricted[i].1))
    }

    /// The shared store (home `None`), then each restricted home's.
    fn all(&self) -> impl Iterator<Item = (Option<RegionId>, &T)> {
        std::iter::once((None, &self.shared)).chain(self.restricted.iter().map(|(h, t)| (Some(*h), t)))
    }
}

/// A cold tier split by residency: the sessions of each restricted home in a table of their own
/// (whose replicas are its allowed regions), every other session in the shared global table.
///
/// Calls about one session go to its home's table, through an allowed replica
/// ([`Residency::store_region`]: a caller outside the set reaches the home's). Calls about a user
/// ask every table and merge; the expiry sweep of a home reads that home's table.
#[derive(Debug)]
pub struct ResidentCold<C> {
    residency: Residency,
    tables: PerHome<C>,
}

impl<C: ColdStore> ResidentCold<C> {
    /// The shared table plus one table per restricted home. Every restricted home must have a
    /// table; a table for an unrestricted home is refused (it would split a global table for
    /// nothing), so a configuration that names the wrong home fails at start-up.
    pub fn new(residency: Residency, shared: C, restricted: Vec<(RegionId, C)>) -> Result<Self, ConfigError> {
        let tables = PerHome::new(&residency, shared, restricted, "tables")?;
        if let Some((home, _)) = tables.restricted.iter().find(|(h, _)| !residency.is_restricted(*h)) {
            return Err(ConfigError::new(
                "dynamodb.residency_tables",
                format!("region {} has tables but no `residency` rule", home.0),
            ));
        }
        Ok(Self { residency, tables })
    }

    /// The table of every unrestricted home.
    pub const fn shared(&self) -> &C {
        &self.tables.shared
    }

    /// The table holding sessions homed in `home`.
    pub fn table(&self, home: RegionId) -> &C {
        self.tables.of(home).1
    }

    /// The shared table and each restricted home's, with the homes they hold (`None`: the rest).
    pub fn tables(&self) -> impl Iterator<Item = (Option<RegionId>, &C)> {
        self.tables.all()
    }

    /// `region` as the replica to use for `home`'s table.
    fn replica(&self, home: RegionId, region: RegionId) -> RegionId {
        self.residency.store_region(home, region)
    }

    /// The region to use for a user-wide call on `home`'s table (`None` for the shared table).
    fn reader_for(&self, home: Option<RegionId>, reader: RegionId) -> RegionId {
        home.map_or(reader, |home| self.replica(home, reader))
    }
}

impl<C: ColdStore> ColdStore for ResidentCold<C> {
    async fn get(&self, id: &SessionId, reader: RegionId) -> ColdLookup {
        self.table(id.home()).get(id, self.replica(id.home(), reader)).await
    }

    async fn put(&self, session: &Session, writer: RegionId, now: Timestamp) -> Result<ColdWrite, StoreError> {
        let home = session.id.home();
        self.table(home).put(session, self.replica(home, writer), now).await
    }

    async fn put_batch(
        &self,
        sessions: &[Session],
        writer: RegionId,
        now: Timestamp,
    ) -> Result<Vec<ColdWrite>, StoreError> {
        let group = |session: &Session| self.tables.of(session.id.home()).0;
        // The common case (a sync batch of one region's sessions, one table): one call.
        if let Some(first) = sessions.first()
            && sessions.iter().all(|s| group(s) == group(first))
        {
            let home = first.id.home();
            return self.table(home).put_batch(sessions, self.replica(home, writer), now).await;
        }
        let mut answers = vec![ColdWrite::Written; sessions.len()];
        for (index, (home, table)) in self.tables().enumerate() {
            let (positions, part): (Vec<usize>, Vec<Session>) =
                sessions.iter().enumerate().filter(|(_, s)| group(s) == index).map(|(i, s)| (i, s.clone())).unzip();
            if part.is_empty() {
                continue;
            }
            let written = table.put_batch(&part, self.reader_for(home, writer), now).await?;
            for (i, answer) in positions.into_iter().zip(written) {
                answers[i] = answer;
            }
        }
        Ok(answers)
    }

    async fn delete(&self, id: &SessionId, writer: RegionId, now: Timestamp) -> Result<Option<Session>, StoreError> {
        self.table(id.home()).delete(id, self.replica(id.home(), writer), now).await
    }

    async fn sessions_of_user(&self, user: &UserId, reader: RegionId) -> Result<Vec<Session>, StoreError> {
        let mut all = Vec::new();
        for (home, table) in self.tables() {
            all.extend(table.sessions_of_user(user, self.reader_for(home, reader)).await?);
        }
        Ok(all)
    }

    /// Each table's page after `after`, merged in id order and cut at `limit`: a merged page is
    /// short only when every table's was, so "short means the end" still holds.
    async fn sessions_of_user_page(
        &self,
        user: &UserId,
        after: Option<&SessionId>,
        limit: usize,
        reader: RegionId,
    ) -> Result<Vec<Session>, StoreError> {
        let mut merged = Vec::new();
        for (home, table) in self.tables() {
            merged.extend(table.sessions_of_user_page(user, after, limit, self.reader_for(home, reader)).await?);
        }
        merged.sort_by_key(|s| s.id);
        merged.truncate(limit);
        Ok(merged)
    }

    async fn expired_page(
        &self,
        home: RegionId,
        before: Timestamp,
        after: Option<&ExpiryCursor>,
        limit: usize,
    ) -> Result<ExpiredPage, StoreError> {
        self.table(home).expired_page(home, before, after, limit).await
    }

    fn sweep_mark(&self, home: RegionId) -> impl Future<Output = Result<Option<ExpiryCursor>, StoreError>> + Send {
        self.table(home).sweep_mark(home)
    }

    fn set_sweep_mark(
        &self,
        home: RegionId,
        mark: &ExpiryCursor,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.table(home).set_sweep_mark(home, mark)
    }
}

/// An audit trail split by residency: records of a restricted home's sessions go to that home's
/// trail (its audit and analytics tables, and its outbox, in allowed regions), every other record
/// to the shared trail. Erasure asks every trail.
#[derive(Debug)]
pub struct ResidentAudit<A> {
    trails: PerHome<A>,
}

impl<A: AuditSink> ResidentAudit<A> {
    /// The shared trail plus one per restricted home (the same rules as [`ResidentCold::new`]).
    pub fn new(residency: &Residency, shared: A, restricted: Vec<(RegionId, A)>) -> Result<Self, ConfigError> {
        Ok(Self { trails: PerHome::new(residency, shared, restricted, "audit trail")? })
    }

    /// The trail of every unrestricted home's sessions.
    pub const fn shared(&self) -> &A {
        &self.trails.shared
    }

    /// The trail that records sessions homed in `home`.
    pub fn trail(&self, home: RegionId) -> &A {
        self.trails.of(home).1
    }

    /// The shared trail and each restricted home's (`None`: the rest).
    pub fn trails(&self) -> impl Iterator<Item = (Option<RegionId>, &A)> {
        self.trails.all()
    }
}

impl<A: AuditSink> AuditSink for ResidentAudit<A> {
    fn append(&self, event: AuditEvent) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.trail(event.session.home()).append(event)
    }

    async fn pseudonymise_user(&self, user: &UserId, pseudonym: &UserId, at: Timestamp) -> Result<u64, StoreError> {
        let mut affected = 0;
        for (_, trail) in self.trails() {
            affected += trail.pseudonymise_user(user, pseudonym, at).await?;
        }
        Ok(affected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SessionConfig {
        let mut config = SessionConfig::default();
        config.hot_storage.regions = vec!["us-east-1".into(), "eu-west-1".into(), "eu-central-1".into()];
        config
    }

    fn rules(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        pairs
            .iter()
            .map(|(home, list)| ((*home).to_string(), list.iter().map(|r| (*r).to_string()).collect()))
            .collect()
    }

    const US: RegionId = RegionId(0);
    const EU_WEST: RegionId = RegionId(1);
    const EU_CENTRAL: RegionId = RegionId(2);

    #[test]
    fn no_rules_allow_every_region() {
        let residency = Residency::from_names(&config(), &BTreeMap::new(), "residency").unwrap();
        assert!(!residency.is_configured());
        assert!(residency.allows(EU_WEST, US));
        assert_eq!(residency.store_region(EU_WEST, US), US);
        assert_eq!(residency.replicas(EU_WEST, 3), 3);
        assert_eq!(residency.failover_region(EU_WEST, US, |_| true), Some(US));
    }

    #[test]
    fn a_rule_keeps_a_homes_sessions_in_its_list_with_the_home_first() {
        let rules = rules(&[("eu-west-1", &["eu-central-1", "eu-west-1"])]);
        let residency = Residency::from_names(&config(), &rules, "residency").unwrap();
        assert_eq!(residency.allowed(EU_WEST), Some(&[EU_WEST, EU_CENTRAL][..]));
        assert!(residency.allows(EU_WEST, EU_CENTRAL));
        assert!(!residency.allows(EU_WEST, US));
        assert!(residency.allows(US, EU_WEST), "only the homes named are restricted");
        assert_eq!(residency.store_region(EU_WEST, US), EU_WEST);
        assert_eq!(residency.store_region(EU_WEST, EU_CENTRAL), EU_CENTRAL);
        assert_eq!(residency.replicas(EU_WEST, 3), 2);
        assert_eq!(residency.restricted_homes().collect::<Vec<_>>(), vec![EU_WEST]);
        // From outside the set the failover goes to another allowed region, never to `here`.
        assert_eq!(residency.failover_region(EU_WEST, US, |_| true), Some(EU_CENTRAL));
        assert_eq!(residency.failover_region(EU_WEST, US, |r| r != EU_CENTRAL), None);
        assert_eq!(residency.failover_region(EU_WEST, EU_CENTRAL, |_| true), Some(EU_CENTRAL));
    }

    #[test]
    fn a_pinned_home_has_nowhere_to_fail_over_to() {
        let residency =
            Residency::from_names(&config(), &rules(&[("eu-west-1", &["eu-west-1"])]), "residency").unwrap();
        assert_eq!(residency.failover_region(EU_WEST, US, |_| true), None);
        assert_eq!(residency.failover_region(EU_WEST, EU_CENTRAL, |_| true), None);
    }

    #[test]
    fn malformed_rules_are_refused_with_the_key_that_is_wrong() {
        type Rules<'a> = &'a [(&'a str, &'a [&'a str])];
        let cases: [(Rules<'_>, &str); 5] = [
            (&[("mars-1", &["eu-west-1"])], "residency.mars-1"),
            (&[("eu-west-1", &[])], "residency.eu-west-1"),
            (&[("eu-west-1", &["eu-west-1", "moon-2"])], "residency.eu-west-1[1]"),
            (&[("eu-west-1", &["eu-west-1", "eu-west-1"])], "residency.eu-west-1[1]"),
            (&[("eu-west-1", &["eu-central-1"])], "residency.eu-west-1"),
        ];
        for (pairs, key) in cases {
            let error = Residency::from_names(&config(), &rules(pairs), "residency").unwrap_err();
            assert_eq!(error.key, key, "{pairs:?}: {error}");
        }
    }
}
