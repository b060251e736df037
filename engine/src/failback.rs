//! Failback: a session's hot copy that a failover put in another region goes home once its home
//! hot tier answers again.
//!
//! While a region's hot tier is down, the region serving its users keeps their sessions' hot
//! copies (failover copies: stored with `hot_region` set to the holder, which the cold record
//! names too). Left there, every request of those users after the recovery would pay the round
//! trip to the holder until the session went idle. So a copy is moved home:
//!
//! - on the session's next access in its home region (the lookup misses home, finds the holder
//!   in the cold record and takes the copy: [`crate::SessionManager::get`]);
//! - by the holder's sync job, in batches, for the copies nobody accessed at home yet
//!   ([`crate::SyncService::move_home`]), which uses [`Engine::move_home`] below. An access in
//!   the holder's own region (a traveller) is served from the copy there until that pass runs.
//!
//! The move writes home first and removes the holder's copy only if it is unchanged, so a crash
//! in between leaves two equal copies (the next pass finds the holder's and finishes the move),
//! never none; a change made at the holder in between is carried home by a second, conditional
//! put. Every store write is conditional on freshness ([`Session::freshness`]), so a fresher state
//! at home (an update there, a removal's tombstone) is never overwritten.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::audit::{AuditEvent, AuditKind, Tier};
use crate::engine::Engine;
use crate::error::StoreError;
use crate::session::{RegionId, Session};
use crate::store::{AuditSink, ColdStore, HotLookup, HotStore};
use crate::time::{Clock, Timestamp};

/// How long a hot tier whose call failed is taken to be down by the calls that can wait (a
/// create homed there, failback): they skip it meanwhile, so an outage costs them one failed
/// call (up to the store's timeout) per this interval instead of one per request.
pub const HOT_DOWN_BACKOFF: Duration = Duration::from_secs(5);

/// What [`Engine::move_home`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MoveHome {
    /// The home hot tier holds the session now (or a fresher state of it), the holder none.
    Moved,
    /// Nothing left to move: the holder's copy went meanwhile (removed, demoted, expired, or
    /// moved by an access at home).
    Gone,
    /// The home hot tier did not answer: the copy stays where it is.
    HomeDown(StoreError),
    /// The holder did not answer after home took the copy: the holder may still hold it (the
    /// next pass finishes the move).
    HolderDown(StoreError),
}

impl<H: HotStore, C: ColdStore, A: AuditSink, K: Clock> Engine<H, C, A, K> {
    /// True while `region`'s hot tier is taken to be down (a call to it failed less than
    /// [`HOT_DOWN_BACKOFF`] ago).
    pub(crate) fn hot_seems_down(&self, region: RegionId, now: Timestamp) -> bool {
        self.hot_down_until(region).is_some_and(|until| now.0 < until.load(Ordering::Relaxed))
    }

    /// Notes that a call to `region`'s hot tier failed at `now`.
    pub(crate) fn note_hot_down(&self, region: RegionId, now: Timestamp) {
        if let Some(until) = self.hot_down_until(region) {
            until.fetch_max((now + HOT_DOWN_BACKOFF).0, Ordering::Relaxed);
        }
    }

    /// Moves the failover copy `copy`, as read from `holder`'s hot tier, into its home region's
    /// hot tier, and records `moved_home` (in the home region, whose tier it moved into, as a
    /// promotion is recorded in the region it was promoted into) when it did.
    pub(crate) async fn move_home(&self, copy: Session, holder: RegionId, now: Timestamp) -> MoveHome {
        let home = copy.id.home();
        let ttl = self.policy().hot_ttl;
        let at_home = Session { hot_region: None, ..copy };
        if let Err(e) = self.hot(home).put(&at_home, ttl).await {
            self.note_hot_down(home, now);
            return MoveHome::HomeDown(e);
        }
        let moved = match self.hot(holder).remove_if_unchanged(&at_home.id, at_home.version, at_home.last_access).await
        {
            Ok(true) => at_home,
            Ok(false) => match self.hot(holder).take(&at_home.id).await {
                // Changed at the holder since it was read: carry the change home too.
                HotLookup::Hit(newer) if newer.is_tombstone() => {
                    // Removed meanwhile: the removal buried home too. Leave its tombstone here.
                    let _ = self.hot(holder).put(&newer, ttl).await;
                    return MoveHome::Gone;
                }
                HotLookup::Hit(newer) => {
                    let newer = Session { hot_region: None, ..newer };
                    if let Err(e) = self.hot(home).put(&newer, ttl).await {
                        // Home went down between the two puts: the change goes back where it was.
                        let _ = self.hot(holder).put(&Session { hot_region: Some(holder), ..newer }, ttl).await;
                        self.note_hot_down(home, now);
                        return MoveHome::HomeDown(e);
                    }
                    newer
                }
                // Gone from the holder meanwhile (demoted, expired, moved by an access at home);
                // home holds what was put or fresher, and whoever took it recorded it.
                HotLookup::Miss | HotLookup::Expired => return MoveHome::Gone,
                HotLookup::Unavailable(e) => return MoveHome::HolderDown(e),
            },
            Err(e) => return MoveHome::HolderDown(e),
        };
        self.record(AuditEvent::about(&moved, AuditKind::MovedHome, Tier::Hot, home, now)).await;
        MoveHome::Moved
    }
}
