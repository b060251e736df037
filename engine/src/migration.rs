//! Migration from the Redis-only store of ADR-0009 (ADR-0010 phase 3): which side of a
//! percentage rollout a session is on, the ids and the value layout of the legacy store, and the
//! two moves between the sides ([`SessionManager::import`], [`SessionManager::retire`]).
//!
//! The split is a stable hash of the session id ([`rollout_bucket`]), so a session stays on one
//! side for its whole life while the percentage stands, and raising it moves a fixed share of
//! sessions, the same ones on every instance. Sessions move on their next access (the caller
//! imports a legacy session the hybrid side misses, or hands a hybrid session back to the legacy
//! store on a rollback) or in bulk (`hotcold migrate`); nobody is logged out by either.
//!
//! While a session is in the legacy store, that copy is the authority: the import reads it,
//! writes it to the cold tier (durable) and the hot tier, and only then does the caller delete
//! it from the legacy store. A rollback writes the legacy copy first and then retires the
//! hybrid one. Callers look in the legacy store first, so the two sides never both serve a
//! session with different data.

use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::audit::{AuditEvent, AuditKind, Tier};
use crate::engine::Engine;
use crate::error::{ConfigError, EngineError};
use crate::manager::SessionManager;
use crate::session::{RegionId, Session, SessionData, SessionId, UserId};
use crate::store::{AuditSink, ColdLookup, ColdStore, ColdWrite, HotLookup, HotStore};
use crate::time::{Clock, Timestamp};

/// The split has this many buckets: a percentage is honoured to 0.01 %.
pub const ROLLOUT_BUCKETS: u16 = 10_000;

/// The bucket of a session in the rollout split, in `0..ROLLOUT_BUCKETS`: from the id's digest,
/// so it is the same on every instance and for the session's whole life.
pub fn rollout_bucket(id: &SessionId) -> u16 {
    let hash = id.hash_bytes();
    let mut tail = [0u8; 8];
    tail.copy_from_slice(&hash[8..]);
    // The digest is uniform, so its low 64 bits modulo 10,000 are uniform to within 10^-15.
    (u64::from_le_bytes(tail) % u64::from(ROLLOUT_BUCKETS)) as u16
}

/// The share of sessions the hybrid store serves. Default: 0 (all legacy).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Rollout {
    percent: f64,
}

impl Rollout {
    /// A rollout of `percent` (0 to 100) of sessions; anything else is an error on `key`.
    pub fn new(percent: f64, key: &str) -> Result<Self, ConfigError> {
        if percent.is_finite() && (0.0..=100.0).contains(&percent) {
            Ok(Self { percent })
        } else {
            Err(ConfigError::new(key, format!("expected a percentage from 0 to 100, found {percent}")))
        }
    }

    /// The percentage.
    pub const fn percent(&self) -> f64 {
        self.percent
    }

    /// Buckets below this are served by the hybrid store.
    pub fn threshold(&self) -> u16 {
        (self.percent * f64::from(ROLLOUT_BUCKETS) / 100.0).round() as u16
    }

    /// Whether the hybrid store serves `id` at this percentage.
    pub fn serves_hybrid(&self, id: &SessionId) -> bool {
        rollout_bucket(id) < self.threshold()
    }
}

/// Longest legacy id accepted, in bytes.
pub const MAX_LEGACY_ID_BYTES: usize = 128;

/// A session id of the legacy store, as its clients present it (express-session's id: 32
/// base64url characters from uid-safe). Accepted: 16 to 128 characters of `A-Z a-z 0-9 - _`,
/// which never contains the `.` every hotcold token has, so the two formats cannot be confused.
/// Never printed in clear: it is the legacy store's bearer secret.
#[derive(Clone, PartialEq, Eq)]
pub struct LegacyId(String);

impl LegacyId {
    /// Parses a presented id; anything else is [`EngineError::MalformedToken`].
    pub fn parse(wire: &str) -> Result<Self, EngineError> {
        let valid_char = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
        if (16..=MAX_LEGACY_ID_BYTES).contains(&wire.len()) && wire.bytes().all(valid_char) {
            Ok(Self(wire.to_owned()))
        } else {
            Err(EngineError::MalformedToken)
        }
    }

    /// A fresh id in express-session's format: 24 bytes from `rng` (a CSPRNG: 192 bits), as 32
    /// base64url characters. For new sessions while a migration runs.
    pub fn generate<R: rand::RngCore + rand::CryptoRng>(rng: &mut R) -> Self {
        use base64::Engine as _;
        let mut secret = [0u8; 24];
        rng.fill_bytes(&mut secret);
        Self(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret))
    }

    /// The id as the legacy store keys it. Treat it as a secret.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id the hybrid stores key this session by: a one-way digest of the legacy id (domain
    /// separated from hotcold's own tokens), homed in `home`. A leaked hybrid record cannot be
    /// turned back into the legacy cookie.
    pub fn session_id(&self, home: RegionId) -> SessionId {
        let digest = Sha256::new().chain_update(b"hotcold-legacy-id\0").chain_update(self.0.as_bytes()).finalize();
        let mut hash = [0u8; 16];
        hash.copy_from_slice(&digest[..16]);
        SessionId::from_parts(hash, home)
    }
}

impl std::fmt::Debug for LegacyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LegacyId({})", self.session_id(RegionId(0)))
    }
}

/// How the legacy store lays its sessions out. Only connect-redis is built in; another layout is
/// described by these fields (see docs/migration.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyLayout {
    /// Key prefix before the id. Default: `sess:` (connect-redis).
    pub prefix: String,
    /// JSON pointer (RFC 6901) of the user id inside the value. Default: `/passport/user`
    /// (express + passport). A session without it is imported under a user id of its own
    /// (`anonymous-<12 hex of its id digest>`), as anonymous carts are.
    pub user_field: String,
}

impl Default for LegacyLayout {
    fn default() -> Self {
        Self { prefix: "sess:".to_owned(), user_field: "/passport/user".to_owned() }
    }
}

/// The circumstances of a [`LegacyLayout::decode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    /// The time of the read.
    pub now: Timestamp,
    /// The expiry of a value with neither `cookie.expires` nor a key TTL, from now.
    pub fallback_ttl: Duration,
    /// The engine's `max_data_bytes`: a larger value is refused.
    pub max_bytes: usize,
}

impl Reading {
    /// A read by `engine` now: its clock, its cold TTL as the fallback expiry (what a hybrid
    /// session lasts without access), its `max_data_bytes`.
    pub fn of<H: HotStore, C: ColdStore, A: AuditSink, K: Clock>(engine: &Engine<H, C, A, K>) -> Self {
        Self {
            now: engine.clock().now(),
            fallback_ttl: engine.session_config().cold_storage.ttl,
            max_bytes: engine.engine_config().max_data_bytes,
        }
    }
}

/// A legacy value that cannot be imported. The session stays in the legacy store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LegacyError {
    /// Not a JSON object.
    #[error("the legacy value is not a JSON object: {0}")]
    NotJson(String),
    /// `cookie.expires` is present but not an RFC 3339 time.
    #[error("cookie.expires is not an RFC 3339 time")]
    BadExpiry,
    /// The user field is not a string or number of 1 to 128 printable characters.
    #[error("the user field is not a valid user id")]
    BadUser,
    /// Larger than the engine's `max_data_bytes`.
    #[error("the session is {size} bytes, more than the limit of {limit}")]
    TooLarge {
        /// Bytes of the value.
        size: usize,
        /// `engine.max_data_bytes`.
        limit: usize,
    },
}

impl LegacyLayout {
    /// The legacy store's key of `id`.
    pub fn key(&self, id: &LegacyId) -> String {
        format!("{}{}", self.prefix, id.as_str())
    }

    /// Reads a legacy value: the whole JSON object becomes the session's data (the `cookie`
    /// object included, so a rollback gives the application back what it stored). The session
    /// expires at `cookie.expires`, or, for a browser-session cookie (`expires: null`), when the
    /// key's own TTL (`key_ttl`, from Redis PTTL) runs out; with neither it expires
    /// `reading.fallback_ttl` from `reading.now`.
    pub fn decode(
        &self,
        id: &LegacyId,
        home: RegionId,
        value: &[u8],
        key_ttl: Option<Duration>,
        reading: Reading,
    ) -> Result<LegacySession, LegacyError> {
        let Reading { now, fallback_ttl, max_bytes } = reading;
        if value.len() > max_bytes {
            return Err(LegacyError::TooLarge { size: value.len(), limit: max_bytes });
        }
        let json: Value = serde_json::from_slice(value).map_err(|e| LegacyError::NotJson(e.to_string()))?;
        if !json.is_object() {
            return Err(LegacyError::NotJson("not an object".to_owned()));
        }
        let session_id = id.session_id(home);
        let expires_at = match json.pointer("/cookie/expires") {
            Some(Value::String(text)) => {
                let at = humantime::parse_rfc3339_weak(text).map_err(|_| LegacyError::BadExpiry)?;
                let millis = at.duration_since(std::time::UNIX_EPOCH).map_err(|_| LegacyError::BadExpiry)?.as_millis();
                Timestamp(u64::try_from(millis).map_err(|_| LegacyError::BadExpiry)?)
            }
            None | Some(Value::Null) => Timestamp(now.millis().saturating_add(millis(key_ttl.unwrap_or(fallback_ttl)))),
            Some(_) => return Err(LegacyError::BadExpiry),
        };
        let user_id = match json.pointer(&self.user_field) {
            Some(Value::String(user)) => UserId::new(user).map_err(|_| LegacyError::BadUser)?,
            Some(Value::Number(user)) => UserId::new(&user.to_string()).map_err(|_| LegacyError::BadUser)?,
            None | Some(Value::Null) => {
                let hex = session_id.to_hex();
                UserId::new(&format!("anonymous-{}", &hex[..12])).map_err(|_| LegacyError::BadUser)?
            }
            Some(_) => return Err(LegacyError::BadUser),
        };
        let data = SessionData::from_json(&json, max_bytes).map_err(|e| LegacyError::NotJson(e.to_string()))?;
        Ok(LegacySession { id: session_id, user_id, data, expires_at })
    }

    /// The legacy value of a session handed to the legacy store (a rollback, or a new session of
    /// the legacy share), expiring at `expires_at`: its data with `cookie.expires` and
    /// `cookie.originalMaxAge` moved to that time (express rereads both), the owner at the user
    /// field when the data does not say (so [`Self::decode`] finds the same user), and the TTL
    /// to give the key.
    pub fn encode(
        &self,
        user: &UserId,
        data: &SessionData,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> (Vec<u8>, Duration) {
        let ttl = Duration::from_millis(expires_at.millis().saturating_sub(now.millis()).max(1));
        let mut json = data.to_json();
        if json.pointer(&self.user_field).is_none() && !user.as_str().starts_with("anonymous-") {
            set_pointer(&mut json, &self.user_field, Value::String(user.as_str().to_owned()));
        }
        if let Some(object) = json.as_object_mut() {
            let cookie = object.entry("cookie").or_insert_with(|| Value::Object(serde_json::Map::new()));
            if let Some(cookie) = cookie.as_object_mut() {
                let at = std::time::UNIX_EPOCH + Duration::from_millis(expires_at.millis());
                cookie.insert("expires".to_owned(), Value::String(humantime::format_rfc3339_millis(at).to_string()));
                cookie.insert("originalMaxAge".to_owned(), Value::from(millis(ttl)));
            }
        }
        (serde_json::to_vec(&json).unwrap_or_default(), ttl)
    }
}

/// Sets the value at JSON pointer `pointer` in `json`, making the objects on the way (a pointer
/// through something that is not an object is left alone).
fn set_pointer(json: &mut Value, pointer: &str, value: Value) {
    let Some(path) = pointer.strip_prefix('/') else { return };
    let mut at = json;
    let steps: Vec<String> = path.split('/').map(|step| step.replace("~1", "/").replace("~0", "~")).collect();
    for (i, step) in steps.iter().enumerate() {
        let Some(object) = at.as_object_mut() else { return };
        if i + 1 == steps.len() {
            object.insert(step.clone(), value);
            return;
        }
        at = object.entry(step.clone()).or_insert_with(|| Value::Object(serde_json::Map::new()));
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A legacy session decoded, ready for [`SessionManager::import`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacySession {
    /// Its id in the hybrid stores ([`LegacyId::session_id`]).
    pub id: SessionId,
    /// Its owner.
    pub user_id: UserId,
    /// The legacy value, whole.
    pub data: SessionData,
    /// When the legacy store would have dropped it.
    pub expires_at: Timestamp,
}

/// What [`SessionManager::import`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Imported {
    /// Written to the cold tier (durable) and, when `hot`, to the home hot tier: the caller may
    /// now delete the legacy copy.
    Imported {
        /// The session as stored.
        session: Session,
        /// True when the hot tier holds it too.
        hot: bool,
    },
    /// The hybrid store holds a removal marker (logged out, revoked or erased after an earlier
    /// import): the legacy copy is a leftover; delete it and answer "unknown".
    Removed,
    /// Past its legacy expiry: nothing imported; delete the legacy copy.
    Expired,
}

impl<H: HotStore, C: ColdStore, A: AuditSink, K: Clock> SessionManager<H, C, A, K> {
    /// Imports a legacy session into the hybrid store, keeping its id, data and expiry.
    ///
    /// `accessed`: the import serves a request (the session is active and `last_access` is now);
    /// otherwise (bulk import) the session keeps the expiry the legacy store gave it, as far as
    /// the cold TTL allows: `last_access` = the earlier of expiry − `cold_storage.ttl` and now
    /// (a legacy expiry further away than the cold TTL is shortened to it), and it goes to the
    /// hot tier only when that is within `promotion_threshold` of now, so idle sessions go
    /// straight to the cold tier.
    ///
    /// The legacy copy is the authority while it exists, so a hybrid record left behind by an
    /// earlier rollback is overwritten (the import takes the next version); a removal marker
    /// never is ([`Imported::Removed`]). The cold write comes first: when this returns
    /// [`Imported::Imported`], the session is durable and the legacy copy may go. Audited as
    /// `migrated`.
    pub async fn import(&self, legacy: LegacySession, accessed: bool) -> Result<Imported, EngineError> {
        if legacy.expires_at <= self.engine().clock().now() {
            return Ok(Imported::Expired);
        }
        let held = self.hybrid_record(&legacy.id).await?;
        self.place(legacy, accessed, AuditKind::Migrated, held.as_ref()).await
    }

    /// [`Self::import`] for a caller that has read [`Self::hybrid_record`] already (the bulk
    /// import, which counts a session the hybrid store holds as "already migrated"): the same
    /// import, without reading the record again.
    pub async fn import_over(
        &self,
        legacy: LegacySession,
        accessed: bool,
        held: Option<&Session>,
    ) -> Result<Imported, EngineError> {
        self.place(legacy, accessed, AuditKind::Migrated, held).await
    }

    /// The hybrid store's record of `id`, read consistently from the cold tier an import writes
    /// to: a live session, a rollback's leftover, a removal marker, or `None`.
    pub async fn hybrid_record(&self, id: &SessionId) -> Result<Option<Session>, EngineError> {
        match self.engine().cold().get(id, self.cold_region(self.import_home(id))).await {
            ColdLookup::Found(record) => Ok(Some(record)),
            ColdLookup::Miss => Ok(None),
            ColdLookup::Unavailable(e) => Err(e.into()),
        }
    }

    /// The region an imported session is homed in: its id's, or this one for a region not
    /// configured.
    fn import_home(&self, id: &SessionId) -> RegionId {
        if self.engine().has_region(id.home()) { id.home() } else { self.region() }
    }

    /// Creates a session under a legacy-format id (a new session of the hybrid share while a
    /// migration runs, so that a rollback can hand it to the legacy store): as an import that
    /// serves a request, audited `created`. [`Imported::Removed`] when the id was used before.
    pub async fn create_with_legacy_id(&self, session: LegacySession) -> Result<Imported, EngineError> {
        let held = self.hybrid_record(&session.id).await?;
        self.place(session, true, AuditKind::Created, held.as_ref()).await
    }

    /// Writes `legacy` over `held` (what [`Self::hybrid_record`] answered): the next version
    /// over a live record, nothing over a removal marker.
    async fn place(
        &self,
        legacy: LegacySession,
        accessed: bool,
        kind: AuditKind,
        held: Option<&Session>,
    ) -> Result<Imported, EngineError> {
        let engine = &**self.engine();
        let now = engine.clock().now();
        if legacy.expires_at <= now {
            return Ok(Imported::Expired);
        }
        let policy = engine.policy();
        let cold_ttl = millis(policy.cold_ttl);
        let last_access = if accessed {
            now
        } else {
            Timestamp(legacy.expires_at.millis().saturating_sub(cold_ttl).min(now.millis()))
        };
        let home = self.import_home(&legacy.id);
        let store_at = self.cold_region(home);
        let version = match held {
            Some(record) if record.is_tombstone() => return Ok(Imported::Removed),
            Some(record) => record.version + 1,
            None => 1,
        };
        let mut session = Session {
            id: legacy.id,
            user_id: legacy.user_id,
            data: legacy.data,
            version,
            created_at: last_access,
            last_access,
            persisted_version: version,
            hot_region: None,
            // An import on access counts like a creation (that request is its first here); a
            // bulk import knows of no request.
            activity: if accessed { crate::Activity::first(now) } else { crate::Activity::default() },
        };
        if engine.cold().put(&session, store_at, now).await? == ColdWrite::Stale {
            // A fresher state landed in between: a removal, or a concurrent import of this copy.
            return match engine.cold().get(&session.id, store_at).await {
                ColdLookup::Found(record) if record.is_tombstone() => Ok(Imported::Removed),
                ColdLookup::Found(record) => Ok(Imported::Imported { session: record, hot: false }),
                ColdLookup::Miss => Err(EngineError::Contention),
                ColdLookup::Unavailable(e) => Err(e.into()),
            };
        }
        let active = now.since(last_access) < policy.promotion_threshold;
        let hot = active && engine.hot(home).put(&session, policy.hot_ttl).await.is_ok();
        session.persisted_version = session.version;
        let (tier, region) = if hot { (Tier::Hot, home) } else { (Tier::Cold, store_at) };
        engine.record(AuditEvent::about(&session, kind, tier, region, now)).await;
        Ok(Imported::Imported { session, hot })
    }

    /// Removes a session from the hybrid store without a removal marker, once a rollback has
    /// written it to the legacy store: from every hot tier that may hold it (this region, its
    /// home, a failover holder) and from the cold tier. Audited as `rolled_back`; true when a
    /// copy was found.
    ///
    /// No marker, so that raising the percentage again can import it once more. A sync pass that
    /// read the hot copy before this call may still write it to the cold tier afterwards; that
    /// leftover is harmless because callers look in the legacy store first and the next import
    /// overwrites it. Every store must answer: one that is down fails the call (retry).
    pub async fn retire(&self, id: &SessionId) -> Result<bool, EngineError> {
        let engine = &**self.engine();
        if !engine.has_region(id.home()) {
            return Ok(false);
        }
        let now = engine.clock().now();
        let store_at = self.cold_region(id.home());
        let cold = match engine.cold().get(id, store_at).await {
            ColdLookup::Found(record) if record.is_tombstone() => return Ok(false),
            ColdLookup::Found(record) => Some(record),
            ColdLookup::Miss => None,
            ColdLookup::Unavailable(e) => return Err(e.into()),
        };
        let mut regions = vec![self.region(), id.home()];
        regions.extend(cold.as_ref().and_then(|record| record.hot_region).filter(|r| engine.has_region(*r)));
        regions.sort_unstable();
        regions.dedup();
        let mut found: Option<Session> = cold;
        for region in regions {
            match engine.hot(region).take(id).await {
                HotLookup::Hit(session) if !session.is_tombstone() => found = Some(session),
                HotLookup::Hit(_) | HotLookup::Miss | HotLookup::Expired => {}
                HotLookup::Unavailable(e) => return Err(e.into()),
            }
        }
        if let Some(deleted) = engine.cold().delete(id, store_at, now).await?
            && found.is_none()
            && !deleted.is_tombstone()
        {
            found = Some(deleted);
        }
        let Some(session) = found else { return Ok(false) };
        engine.record(AuditEvent::about(&session, AuditKind::RolledBack, Tier::Hot, self.region(), now)).await;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn id(n: u8) -> SessionId {
        let mut hash = [0u8; 16];
        hash[8] = n;
        hash[15] = n.wrapping_mul(37);
        SessionId::from_parts(hash, RegionId(0))
    }

    #[test]
    fn rollout_thresholds_cover_the_range() {
        assert_eq!(Rollout::new(0.0, "k").expect("0").threshold(), 0);
        assert_eq!(Rollout::new(10.0, "k").expect("10").threshold(), 1_000);
        assert_eq!(Rollout::new(100.0, "k").expect("100").threshold(), ROLLOUT_BUCKETS);
        assert!(Rollout::new(100.5, "k").is_err());
        assert!(Rollout::new(-1.0, "k").is_err());
        assert!(Rollout::new(f64::NAN, "legacy.rollout_percent").unwrap_err().to_string().contains("legacy.rollout"));
    }

    #[test]
    fn everything_is_hybrid_at_100_and_nothing_at_0() {
        let (none, all) = (Rollout::new(0.0, "k").expect("0"), Rollout::new(100.0, "k").expect("100"));
        for n in 0..=255 {
            assert!(!none.serves_hybrid(&id(n)));
            assert!(all.serves_hybrid(&id(n)));
        }
    }

    #[test]
    fn raising_the_percentage_only_adds_sessions_and_the_share_matches() {
        let ids: Vec<SessionId> = (0..20_000u32)
            .map(|i| LegacyId::parse(&format!("legacy-session-{i:08}")).expect("id").session_id(RegionId(0)))
            .collect();
        let (ten, fifty) = (Rollout::new(10.0, "k").expect("10"), Rollout::new(50.0, "k").expect("50"));
        let at_ten = ids.iter().filter(|id| ten.serves_hybrid(id)).count();
        let at_fifty = ids.iter().filter(|id| fifty.serves_hybrid(id)).count();
        assert!(ids.iter().all(|id| !ten.serves_hybrid(id) || fifty.serves_hybrid(id)), "10 % is inside 50 %");
        // Binomial(20,000, p): 4 standard deviations.
        assert!((at_ten as f64 - 2_000.0).abs() < 4.0 * 42.5, "{at_ten}");
        assert!((at_fifty as f64 - 10_000.0).abs() < 4.0 * 70.8, "{at_fifty}");
    }

    #[test]
    fn legacy_ids_are_accepted_only_in_their_own_form() {
        assert!(LegacyId::parse("Q3k9mV0aXbq1pZ7sT2yW8eR4uI6oP5lK").is_ok(), "express-session's uid-safe(24)");
        for bad in ["", "short", "has.dot.in.it.like.a.hotcold.token", "with space 0123456789", &"x".repeat(129)] {
            assert_eq!(LegacyId::parse(bad), Err(EngineError::MalformedToken), "{bad:?}");
        }
        let legacy = LegacyId::parse("Q3k9mV0aXbq1pZ7sT2yW8eR4uI6oP5lK").expect("id");
        assert!(!format!("{legacy:?}").contains("Q3k9"), "the legacy id is a secret: never printed");
        assert_ne!(legacy.session_id(RegionId(0)).to_hex(), hex_of("Q3k9mV0aXbq1pZ7sT2yW8eR4uI6oP5lK"));
    }

    fn hex_of(text: &str) -> String {
        text.bytes().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn a_connect_redis_value_decodes_with_its_expiry_and_user() {
        let layout = LegacyLayout::default();
        let legacy = LegacyId::parse("Q3k9mV0aXbq1pZ7sT2yW8eR4uI6oP5lK").expect("id");
        let value = br#"{"cookie":{"originalMaxAge":86400000,"expires":"2026-12-02T08:00:00.000Z","httpOnly":true,"path":"/"},"passport":{"user":"alice"},"cart":[1,2]}"#;
        let now = Timestamp(1_764_576_000_000); // 2025-12-01T08:00:00Z
        let session = layout
            .decode(
                &legacy,
                RegionId(1),
                value,
                None,
                Reading { now, fallback_ttl: Duration::from_secs(60), max_bytes: 4096 },
            )
            .expect("decodes");
        assert_eq!(session.user_id.as_str(), "alice");
        assert_eq!(session.expires_at, Timestamp(1_796_198_400_000), "2026-12-02T08:00:00Z");
        assert_eq!(session.id.home(), RegionId(1));
        assert_eq!(session.data.to_json()["cart"], serde_json::json!([1, 2]));
        assert_eq!(layout.key(&legacy), "sess:Q3k9mV0aXbq1pZ7sT2yW8eR4uI6oP5lK");
    }

    #[test]
    fn a_browser_session_cookie_takes_the_keys_ttl_and_an_anonymous_session_its_own_user() {
        let layout = LegacyLayout::default();
        let legacy = LegacyId::parse("anonymousCartSession0123456789ab").expect("id");
        let value = br#"{"cookie":{"originalMaxAge":null,"expires":null},"cart":[]}"#;
        let now = Timestamp(1_000_000);
        let session = layout
            .decode(
                &legacy,
                RegionId(0),
                value,
                Some(Duration::from_secs(90)),
                Reading { now, fallback_ttl: Duration::from_secs(60), max_bytes: 4096 },
            )
            .expect("decodes");
        assert_eq!(session.expires_at, Timestamp(1_090_000));
        assert!(session.user_id.as_str().starts_with("anonymous-"));
        let no_ttl = layout
            .decode(
                &legacy,
                RegionId(0),
                value,
                None,
                Reading { now, fallback_ttl: Duration::from_secs(60), max_bytes: 4096 },
            )
            .expect("ok");
        assert_eq!(no_ttl.expires_at, Timestamp(1_060_000), "falls back to the given TTL");
    }

    #[test]
    fn malformed_legacy_values_are_refused_with_the_reason() {
        let layout = LegacyLayout::default();
        let legacy = LegacyId::parse("Q3k9mV0aXbq1pZ7sT2yW8eR4uI6oP5lK").expect("id");
        let decode = |value: &[u8]| {
            layout.decode(
                &legacy,
                RegionId(0),
                value,
                None,
                Reading { now: Timestamp(0), fallback_ttl: Duration::ZERO, max_bytes: 64 },
            )
        };
        assert!(matches!(decode(b"not json"), Err(LegacyError::NotJson(_))));
        assert!(matches!(decode(b"[1,2]"), Err(LegacyError::NotJson(_))));
        assert_eq!(decode(br#"{"cookie":{"expires":"tomorrow"}}"#), Err(LegacyError::BadExpiry));
        assert_eq!(decode(br#"{"cookie":{"expires":5}}"#), Err(LegacyError::BadExpiry));
        assert_eq!(decode(br#"{"passport":{"user":{"id":1}}}"#), Err(LegacyError::BadUser));
        assert_eq!(decode(br#"{"passport":{"user":""}}"#), Err(LegacyError::BadUser));
        assert!(matches!(decode(&[b' '; 65]), Err(LegacyError::TooLarge { size: 65, limit: 64 })));
    }

    #[test]
    fn a_rolled_back_session_is_written_back_with_its_expiry() {
        let layout = LegacyLayout::default();
        let data =
            SessionData::from_json(&serde_json::json!({"cookie": {"path": "/"}, "cart": [3]}), 4096).expect("data");
        let user = UserId::new("bob").expect("user");
        let (value, ttl) = layout.encode(&user, &data, Timestamp(1_796_198_400_000), Timestamp(1_796_198_340_000));
        assert_eq!(ttl, Duration::from_secs(60));
        let json: Value = serde_json::from_slice(&value).expect("json");
        assert_eq!(json["cookie"]["expires"], "2026-12-02T08:00:00.000Z");
        assert_eq!(json["cookie"]["originalMaxAge"], 60_000);
        assert_eq!(json["cookie"]["path"], "/");
        assert_eq!(json["cart"], serde_json::json!([3]));
        assert_eq!(json["passport"]["user"], "bob", "the owner is written where decode reads it");
        let legacy = LegacyId::parse("Q3k9mV0aXbq1pZ7sT2yW8eR4uI6oP5lK").expect("id");
        let back = layout
            .decode(
                &legacy,
                RegionId(0),
                &value,
                None,
                Reading { now: Timestamp(1_796_198_340_000), fallback_ttl: Duration::ZERO, max_bytes: 4096 },
            )
            .expect("decodes");
        assert_eq!(back.user_id, user);
        assert_eq!(back.expires_at, Timestamp(1_796_198_400_000));
    }

    #[test]
    fn generated_ids_are_express_sized_and_parse() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let id = LegacyId::generate(&mut rng);
        assert_eq!(id.as_str().len(), 32);
        assert_eq!(LegacyId::parse(id.as_str()), Ok(id.clone()));
        assert_ne!(LegacyId::generate(&mut rng), id);
    }
}
