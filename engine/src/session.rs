//! Session types: the token a client holds, the id the stores key by, user ids, data, and the
//! session record itself.
//!
//! A client holds a [`SessionToken`]: 128 random bits from a CSPRNG plus the session's home region.
//! Stores never see it: they key by the [`SessionId`], a SHA-256 digest of the token's secret, so a
//! leaked Redis dump or audit record cannot be replayed as a login. Neither type prints its secret:
//! `Debug` and `Display` show a short fingerprint.

use std::fmt;
use std::hash::{Hash, Hasher};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use compact_str::CompactString;
use hmac::{Hmac, Mac};
use rand::{CryptoRng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::analytics::Activity;
use crate::config::SessionConfig;
use crate::error::EngineError;
use crate::time::Timestamp;

/// A region's position in `session_config.hot_storage.regions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RegionId(pub u16);

impl RegionId {
    /// The region's index, for indexing per-region vectors.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// Length in characters of the base64url secret in a token's wire form (16 bytes, no padding).
const SECRET_CHARS: usize = 22;

/// What a client presents: 128 random bits and the session's home region.
///
/// Wire form: `<22 base64url characters>.<home region name>`. Never printed in clear.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SessionToken {
    secret: [u8; 16],
    home: RegionId,
}

impl SessionToken {
    /// A fresh token homed in `home`, with 128 bits from `rng` (which must be a CSPRNG).
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R, home: RegionId) -> Self {
        let mut secret = [0u8; 16];
        rng.fill_bytes(&mut secret);
        Self { secret, home }
    }

    /// The region that created the session.
    pub const fn home(&self) -> RegionId {
        self.home
    }

    /// The id stores key this session by: SHA-256 of the secret, truncated to 128 bits.
    pub fn id(&self) -> SessionId {
        let digest = Sha256::digest(self.secret);
        let mut hash = [0u8; 16];
        hash.copy_from_slice(&digest[..16]);
        SessionId { hash, home: self.home }
    }

    /// The token as handed to the client. Treat the result as a secret.
    pub fn to_wire(&self, config: &SessionConfig) -> String {
        format!("{}.{}", URL_SAFE_NO_PAD.encode(self.secret), config.region_name(self.home))
    }

    /// Parses a token a client presented. Anything but the exact wire form of a configured region
    /// is [`EngineError::MalformedToken`].
    pub fn parse(wire: &str, config: &SessionConfig) -> Result<Self, EngineError> {
        let (secret_text, region) = wire.split_once('.').ok_or(EngineError::MalformedToken)?;
        if secret_text.len() != SECRET_CHARS {
            return Err(EngineError::MalformedToken);
        }
        let decoded = URL_SAFE_NO_PAD.decode(secret_text).map_err(|_| EngineError::MalformedToken)?;
        let secret: [u8; 16] = decoded.try_into().map_err(|_| EngineError::MalformedToken)?;
        let home = config.region_id(region).ok_or(EngineError::MalformedToken)?;
        Ok(Self { secret, home })
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionToken({})", self.id())
    }
}

impl fmt::Display for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "token:{}", self.id())
    }
}

/// The key of a session in every store: a one-way digest of the token plus the home region.
///
/// Safe to log and to store: it cannot be turned back into a token.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SessionId {
    hash: [u8; 16],
    home: RegionId,
}

impl SessionId {
    /// Rebuilds an id from its parts, as a store decodes it from its own key.
    pub const fn from_parts(hash: [u8; 16], home: RegionId) -> Self {
        Self { hash, home }
    }

    /// The 128-bit digest.
    pub const fn hash_bytes(&self) -> &[u8; 16] {
        &self.hash
    }

    /// The region that created the session.
    pub const fn home(&self) -> RegionId {
        self.home
    }

    /// Lowercase hex of the digest (32 characters): the form stores use in keys.
    pub fn to_hex(&self) -> String {
        self.hash.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses [`SessionId::to_hex`] output back, with the home region the store kept beside it.
    pub fn from_hex(hex: &str, home: RegionId) -> Option<Self> {
        if hex.len() != 32 || !hex.is_ascii() {
            return None;
        }
        let mut hash = [0u8; 16];
        for (i, byte) in hash.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Self { hash, home })
    }
}

impl Hash for SessionId {
    // The digest is uniformly random, so its first 8 bytes are already a good hash.
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut first = [0u8; 8];
        first.copy_from_slice(&self.hash[..8]);
        state.write_u64(u64::from_le_bytes(first) ^ u64::from(self.home.0));
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({self})")
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.hash[..6] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "@{}", self.home.0)
    }
}

/// Longest user id accepted, in bytes.
pub const MAX_USER_ID_BYTES: usize = 128;

/// The application's user identifier: 1 to 128 bytes of printable UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(CompactString);

impl UserId {
    /// Validates and wraps a user id.
    pub fn new(id: &str) -> Result<Self, EngineError> {
        if id.is_empty() {
            return Err(EngineError::InvalidUserId("empty"));
        }
        if id.len() > MAX_USER_ID_BYTES {
            return Err(EngineError::InvalidUserId("longer than 128 bytes"));
        }
        if id.chars().any(char::is_control) {
            return Err(EngineError::InvalidUserId("contains control characters"));
        }
        Ok(Self(CompactString::new(id)))
    }

    /// The owner a tombstone carries: none. Empty, so no user can be given it ([`Self::new`]
    /// refuses empty ids) and no store indexes it under anyone.
    pub const fn removed() -> Self {
        Self(CompactString::const_new(""))
    }

    /// The id as text (empty only for [`Self::removed`]).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// This user's pseudonym under `key` (`anon-` + 16 hex digits of HMAC-SHA-256), used when a
    /// user is erased and their audit records must stay countable but no longer identify them.
    /// Keyed, so that whoever holds a candidate user id but not the key cannot recompute it and
    /// re-identify the records (an unkeyed hash could be).
    pub fn pseudonym(&self, key: &PseudonymKey) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(&key.0).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
        mac.update(self.0.as_bytes());
        let digest = mac.finalize().into_bytes();
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        Self(CompactString::new(format!("anon-{hex}")))
    }
}

/// The secret that keys erased users' pseudonyms ([`UserId::pseudonym`]). Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct PseudonymKey([u8; 32]);

impl PseudonymKey {
    /// Shortest secret accepted, in bytes: 128 bits, like a token's.
    pub const MIN_SECRET_BYTES: usize = 16;

    /// A key from the operating system's CSPRNG: pseudonyms nobody can recompute, stable for the
    /// life of the process (the engine's default).
    pub fn random() -> Self {
        let mut key = [0u8; 32];
        ChaCha20Rng::from_os_rng().fill_bytes(&mut key);
        Self(key)
    }

    /// The key of a deployment secret (e.g. a file every instance reads), so every instance
    /// gives a user the same pseudonym; `None` for a secret shorter than
    /// [`Self::MIN_SECRET_BYTES`].
    pub fn from_secret(secret: &[u8]) -> Option<Self> {
        (secret.len() >= Self::MIN_SECRET_BYTES).then(|| Self(Sha256::digest(secret).into()))
    }
}

impl PseudonymKey {
    /// HMAC-SHA-256 of `data` under this key, as 64 hex digits: the audit trail's address of a
    /// user's link, which only a key holder can compute from a user id.
    pub fn digest_hex(&self, data: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
        mac.update(data);
        mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PseudonymKey(redacted)")
    }
}

impl TryFrom<String> for UserId {
    type Error = EngineError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(&value)
    }
}

impl From<UserId> for String {
    fn from(value: UserId) -> Self {
        value.0.into()
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A shared buffer the simulator slices its payloads from, so simulated sessions allocate nothing.
static OPAQUE_PAYLOAD: [u8; 400 * 1024] = [b' '; 400 * 1024];

/// Session data: a JSON document, kept as its serialized bytes (cheap to clone and to store).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SessionData(Bytes);

impl SessionData {
    /// Serializes `value`, refusing more than `limit` bytes.
    pub fn from_json(value: &serde_json::Value, limit: usize) -> Result<Self, EngineError> {
        let bytes = serde_json::to_vec(value).map_err(|e| EngineError::InvalidData(e.to_string()))?;
        Self::check_size(bytes.len(), limit)?;
        Ok(Self(Bytes::from(bytes)))
    }

    /// Accepts already-serialized JSON after checking its size and that it parses.
    pub fn from_json_bytes(bytes: Bytes, limit: usize) -> Result<Self, EngineError> {
        Self::check_size(bytes.len(), limit)?;
        serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).map_err(|e| EngineError::InvalidData(e.to_string()))?;
        Ok(Self(bytes))
    }

    /// Wraps bytes a store read back (they were validated when written).
    pub const fn from_stored(bytes: Bytes) -> Self {
        Self(bytes)
    }

    /// `len` bytes of whitespace from a shared static buffer, for simulated payloads whose size is
    /// all that matters. Sizes above 400 KiB are clamped.
    pub fn opaque(len: usize) -> Self {
        Self(Bytes::from_static(&OPAQUE_PAYLOAD[..len.min(OPAQUE_PAYLOAD.len())]))
    }

    /// The serialized JSON.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for empty data.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Parses the data back into a JSON value (`null` when empty or opaque).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.0).unwrap_or(serde_json::Value::Null)
    }

    fn check_size(size: usize, limit: usize) -> Result<(), EngineError> {
        if size > limit { Err(EngineError::DataTooLarge { size, limit }) } else { Ok(()) }
    }
}

impl fmt::Debug for SessionData {
    // Session data may hold personal data: show its size only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionData({} bytes)", self.0.len())
    }
}

/// The version a tombstone carries: above any version a live session can reach (updates stop at
/// [`MAX_LIVE_VERSION`]), so every store's freshness rule keeps a tombstone over any state of the
/// session written after it. It fits the 32 bits the simulator stores versions in.
pub const TOMBSTONE_VERSION: u64 = u32::MAX as u64;

/// The highest version a live session reaches; an update of a session at this version is refused
/// (four billion updates of one session do not happen; a client sending this version is wrong).
pub const MAX_LIVE_VERSION: u64 = TOMBSTONE_VERSION - 1;

/// One session as the stores hold it, or a tombstone ([`Session::tombstone`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Store key.
    pub id: SessionId,
    /// Owner.
    pub user_id: UserId,
    /// Application data (JSON).
    pub data: SessionData,
    /// Starts at 1, grows by one with every data change; never decreases.
    pub version: u64,
    /// When the session was created.
    pub created_at: Timestamp,
    /// The last lookup or change; every lifecycle deadline counts from here.
    pub last_access: Timestamp,
    /// Newest version known to be in the cold tier (0: none). Hot stores use it to find sessions
    /// that write-behind must copy.
    pub persisted_version: u64,
    /// The region, other than home, that took the hot copy while home was down (failover); set on
    /// that hot copy and on every cold write made from it. `None` means the hot copy, if any, is in
    /// the home region.
    pub hot_region: Option<RegionId>,
    /// The requests the session has served, counted by the hot tier at every lookup and carried
    /// through demotion and promotion (see [`Activity`]); zero for a tombstone and for a session
    /// imported in bulk.
    pub activity: Activity,
}

impl Session {
    /// True when the cold tier lacks this session's newest data.
    pub const fn is_dirty(&self) -> bool {
        self.version > self.persisted_version
    }

    /// Ordering of two states of one session: a newer version wins, then a later access.
    pub fn freshness(&self) -> (u64, Timestamp) {
        (self.version, self.last_access)
    }

    /// The marker a logout, revoke or erase leaves where the session was: version
    /// [`TOMBSTONE_VERSION`], no owner, no data. Stores keep it like a session (it expires by
    /// `last_access` like one, so the caller picks how long it lasts through `last_access`), and
    /// their freshness rule then refuses every state of the session written after the removal by a
    /// sync pass, a promotion, a write-through or a replica that read it before.
    pub fn tombstone(id: SessionId, last_access: Timestamp) -> Self {
        Self {
            id,
            user_id: UserId::removed(),
            data: SessionData::default(),
            version: TOMBSTONE_VERSION,
            // Nothing about the ended session survives in its marker, not even when it began.
            created_at: Timestamp(0),
            last_access,
            persisted_version: TOMBSTONE_VERSION,
            hot_region: None,
            activity: Activity::default(),
        }
    }

    /// True for a removal's marker: never served, listed or copied.
    pub const fn is_tombstone(&self) -> bool {
        self.version >= TOMBSTONE_VERSION
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use super::*;

    fn config() -> SessionConfig {
        SessionConfig::default()
    }

    #[test]
    fn token_round_trips_through_its_wire_form() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let token = SessionToken::generate(&mut rng, RegionId(2));
        let wire = token.to_wire(&config());
        assert!(wire.ends_with(".ap-southeast-1"), "{wire}");
        assert_eq!(SessionToken::parse(&wire, &config()).unwrap(), token);
        assert_eq!(token.id().home(), RegionId(2));
    }

    #[test]
    fn tokens_carry_128_random_bits() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let a = SessionToken::generate(&mut rng, RegionId(0));
        let b = SessionToken::generate(&mut rng, RegionId(0));
        assert_ne!(a, b);
        assert_ne!(a.id(), b.id());
        assert_eq!(a.secret.len() * 8, 128);
    }

    #[test]
    fn token_never_prints_its_secret() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let token = SessionToken::generate(&mut rng, RegionId(0));
        let wire = token.to_wire(&config());
        let secret = wire.split('.').next().unwrap();
        for shown in [format!("{token}"), format!("{token:?}"), format!("{:?}", token.id())] {
            assert!(!shown.contains(secret), "{shown} leaks the secret");
        }
    }

    #[test]
    fn malformed_tokens_are_rejected() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let good = SessionToken::generate(&mut rng, RegionId(0)).to_wire(&config());
        let secret = good.split('.').next().unwrap();
        let cases = [
            String::new(),
            "nodot".into(),
            format!("{secret}.mars-1"),
            secret.to_string(),
            format!("{}.us-east-1", &secret[..21]),
            format!("{secret}A.us-east-1"),
            format!("{}!.us-east-1", &secret[..21]),
            ".us-east-1".into(),
            format!("{secret}.us-east-1.extra"),
            "\u{0}\u{0}".into(),
        ];
        for case in cases {
            assert_eq!(SessionToken::parse(&case, &config()), Err(EngineError::MalformedToken), "{case:?}");
        }
    }

    #[test]
    fn session_id_hex_round_trips() {
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let id = SessionToken::generate(&mut rng, RegionId(1)).id();
        assert_eq!(SessionId::from_hex(&id.to_hex(), RegionId(1)), Some(id));
        assert_eq!(SessionId::from_hex("zz", RegionId(1)), None);
        assert_eq!(SessionId::from_hex(&"g".repeat(32), RegionId(1)), None);
    }

    #[test]
    fn user_ids_are_validated() {
        assert!(UserId::new("alice").is_ok());
        assert_eq!(UserId::new(""), Err(EngineError::InvalidUserId("empty")));
        assert!(UserId::new(&"x".repeat(129)).is_err());
        assert!(UserId::new("a\nb").is_err());
    }

    #[test]
    fn pseudonyms_are_keyed_so_a_candidate_id_does_not_reidentify_them() {
        let alice = UserId::new("alice").unwrap();
        let key = PseudonymKey::from_secret(b"deployment secret of 32 bytes...").unwrap();
        let pseudonym = alice.pseudonym(&key);
        assert!(pseudonym.as_str().starts_with("anon-") && pseudonym.as_str().len() == 21);
        assert!(!pseudonym.as_str().contains("alice"));
        assert_eq!(alice.pseudonym(&key), pseudonym, "stable under one key: the records stay countable");
        // Without the key, hashing the candidate id finds nothing.
        let unkeyed: String = Sha256::digest(b"alice")[..8].iter().map(|b| format!("{b:02x}")).collect();
        assert_ne!(pseudonym.as_str(), format!("anon-{unkeyed}"), "not the unkeyed hash");
        let other = PseudonymKey::from_secret(b"another deployment secret.......").unwrap();
        assert_ne!(alice.pseudonym(&other), pseudonym, "another key, another pseudonym");
        assert_ne!(alice.pseudonym(&PseudonymKey::random()), pseudonym);
        assert_eq!(PseudonymKey::from_secret(b"too short"), None, "at least 128 bits of secret");
        assert_eq!(format!("{key:?}"), "PseudonymKey(redacted)");
    }

    #[test]
    fn session_data_enforces_size_and_json() {
        let value = serde_json::json!({"cart": [1, 2, 3]});
        let data = SessionData::from_json(&value, 100).unwrap();
        assert_eq!(data.to_json(), value);
        assert_eq!(
            SessionData::from_json(&serde_json::json!("x".repeat(200)), 100),
            Err(EngineError::DataTooLarge { size: 202, limit: 100 })
        );
        assert!(matches!(
            SessionData::from_json_bytes(Bytes::from_static(b"{not json"), 100),
            Err(EngineError::InvalidData(_))
        ));
        assert_eq!(SessionData::opaque(1500).len(), 1500);
        assert_eq!(format!("{:?}", SessionData::opaque(3)), "SessionData(3 bytes)");
    }
}
