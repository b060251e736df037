//! Configuration: the ADR-0010 `session_config` block (same keys, same meaning) and the engine's
//! own `engine` block. Durations are integer seconds (as in the ADR) or strings with a unit
//! (`250ms`, `30s`, `5m`, `2h`, `7d`, `3d12h`); see [`duration`].

use std::collections::HashSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::session::RegionId;

/// Longest region name, in bytes: real region names are far shorter, and the name travels in
/// every token, key and metric label.
const MAX_REGION_NAME_BYTES: usize = 64;

/// Largest `sync.batch_size`: a batch is held in memory and written in one go (in chunks of 25
/// for DynamoDB), so this bounds a pass's memory and the time between reading a session and
/// removing it from the hot tier.
const MAX_SYNC_BATCH_SIZE: usize = 10_000;

/// Largest `engine.max_data_bytes`: 390 KiB leaves room for a session's other attributes under
/// DynamoDB's limit of 400 KB per item.
const MAX_DATA_BYTES_CEILING: usize = 390 * 1024;

/// Shortest hot TTL, sync interval and write-behind interval: anything shorter is most likely a
/// unit mistake (the ADR's values are minutes to hours), and shorter sync intervals would run the
/// sync job back to back.
const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// The ADR's `session_config` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// Regional Redis clusters holding hot sessions.
    pub hot_storage: HotStorageConfig,
    /// The DynamoDB global table holding cold sessions.
    pub cold_storage: ColdStorageConfig,
    /// The background job that demotes idle sessions.
    pub sync: SyncConfig,
}

/// `session_config.hot_storage`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HotStorageConfig {
    /// Redis safety TTL, refreshed on every access. Default: 7200 s.
    #[serde(with = "duration")]
    pub ttl: Duration,
    /// Idle time after which the sync job demotes a hot session. Default: 1800 s.
    #[serde(with = "duration")]
    pub promotion_threshold: Duration,
    /// Region names; a region's position is its [`RegionId`]. Default: us-east-1, eu-west-1,
    /// ap-southeast-1.
    pub regions: Vec<String>,
}

impl Default for HotStorageConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(7200),
            promotion_threshold: Duration::from_secs(1800),
            regions: vec!["us-east-1".into(), "eu-west-1".into(), "ap-southeast-1".into()],
        }
    }
}

/// `session_config.cold_storage`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ColdStorageConfig {
    /// Cold sessions expire this long after their last access. Default: 2592000 s (30 days).
    #[serde(with = "duration")]
    pub ttl: Duration,
    /// How long audit records are kept. Default: 7776000 s (90 days).
    #[serde(with = "duration")]
    pub compliance_retention: Duration,
    /// How long analytics records are kept. Default: 31536000 s (1 year).
    #[serde(with = "duration")]
    pub analytics_retention: Duration,
}

impl Default for ColdStorageConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(2_592_000),
            compliance_retention: Duration::from_secs(7_776_000),
            analytics_retention: Duration::from_secs(31_536_000),
        }
    }
}

/// `session_config.sync`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncConfig {
    /// Sessions per demotion batch (cold writes go in chunks of at most 25). Default: 100.
    pub batch_size: usize,
    /// How often the sync job runs in each region. Default: 300 s.
    #[serde(with = "duration")]
    pub sync_interval: Duration,
    /// Mean global-table replication delay, used by the simulator. Default: 30 s.
    #[serde(with = "duration")]
    pub cross_region_delay: Duration,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self { batch_size: 100, sync_interval: Duration::from_secs(300), cross_region_delay: Duration::from_secs(30) }
    }
}

impl SessionConfig {
    /// Checks the block for values that cannot work together; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let key = |k: &str| format!("session_config.{k}");
        let hot = &self.hot_storage;
        if hot.regions.is_empty() {
            return Err(ConfigError::new(key("hot_storage.regions"), "at least one region is required"));
        }
        if hot.regions.len() > usize::from(u16::MAX) {
            return Err(ConfigError::new(key("hot_storage.regions"), "too many regions"));
        }
        let mut seen = HashSet::new();
        for (i, name) in hot.regions.iter().enumerate() {
            let valid = !name.is_empty()
                && name.len() <= MAX_REGION_NAME_BYTES
                && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !valid {
                return Err(ConfigError::new(
                    key(&format!("hot_storage.regions[{i}]")),
                    format!("region name {name:?} must be 1 to {MAX_REGION_NAME_BYTES} characters of a-z, 0-9 and '-'"),
                ));
            }
            if !seen.insert(name.as_str()) {
                return Err(ConfigError::new(
                    key(&format!("hot_storage.regions[{i}]")),
                    format!("region {name:?} is listed twice"),
                ));
            }
        }
        if hot.ttl < MIN_INTERVAL {
            return Err(ConfigError::new(key("hot_storage.ttl"), at_least_min_interval()));
        }
        if hot.promotion_threshold.is_zero() {
            return Err(ConfigError::new(key("hot_storage.promotion_threshold"), "must be greater than 0"));
        }
        if hot.promotion_threshold >= hot.ttl {
            return Err(ConfigError::new(
                key("hot_storage.promotion_threshold"),
                format!(
                    "must be less than hot_storage.ttl ({} s), or sessions expire in Redis before they are demoted",
                    hot.ttl.as_secs()
                ),
            ));
        }
        let cold = &self.cold_storage;
        if cold.ttl < hot.ttl {
            return Err(ConfigError::new(
                key("cold_storage.ttl"),
                format!("must be at least hot_storage.ttl ({} s)", hot.ttl.as_secs()),
            ));
        }
        if cold.compliance_retention.is_zero() {
            return Err(ConfigError::new(key("cold_storage.compliance_retention"), "must be greater than 0"));
        }
        if cold.analytics_retention.is_zero() {
            return Err(ConfigError::new(key("cold_storage.analytics_retention"), "must be greater than 0"));
        }
        if self.sync.batch_size == 0 || self.sync.batch_size > MAX_SYNC_BATCH_SIZE {
            return Err(ConfigError::new(
                key("sync.batch_size"),
                format!("must be between 1 and {MAX_SYNC_BATCH_SIZE}"),
            ));
        }
        if self.sync.sync_interval < MIN_INTERVAL {
            return Err(ConfigError::new(key("sync.sync_interval"), at_least_min_interval()));
        }
        Ok(())
    }

    /// The id of the region called `name`, if configured.
    pub fn region_id(&self, name: &str) -> Option<RegionId> {
        let index = self.hot_storage.regions.iter().position(|r| r == name)?;
        u16::try_from(index).ok().map(RegionId)
    }

    /// The name of region `id`; `"?"` for an id outside the configuration.
    pub fn region_name(&self, id: RegionId) -> &str {
        self.hot_storage.regions.get(usize::from(id.0)).map_or("?", String::as_str)
    }

    /// Every configured region, in order.
    pub fn region_ids(&self) -> impl Iterator<Item = RegionId> + '_ {
        (0..self.hot_storage.regions.len()).filter_map(|i| u16::try_from(i).ok().map(RegionId))
    }
}

/// When the cold tier gets a copy of a session (CONTRACT section 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// DynamoDB is written only when the sync job demotes a session: cheapest; a region's hot-only
    /// changes are lost with that region. The default.
    #[default]
    OnDemotion,
    /// Like `on_demotion`, plus changed hot sessions are copied every `write_behind_interval`.
    WriteBehind,
    /// DynamoDB is written on every create and update: nothing is lost with a region.
    WriteThrough,
}

/// The `engine` block: how the engine behaves beyond the ADR's keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// When the cold tier gets a copy. Default: `on_demotion`.
    pub durability: Durability,
    /// With `write_behind`, how often changed hot sessions are copied to DynamoDB. Default: 60 s.
    #[serde(with = "duration")]
    pub write_behind_interval: Duration,
    /// A session accessed within this window counts as active (the ADR's 5-minute "Active" state).
    /// Default: 300 s.
    #[serde(with = "duration")]
    pub active_window: Duration,
    /// Largest session data accepted, in bytes of JSON. Default: 358400 (350 KiB; DynamoDB items
    /// stop at 400 KB).
    pub max_data_bytes: usize,
    /// A session ends this long after it was created, however active it is (OWASP's absolute
    /// timeout, e.g. `30d`); 0 means no such limit, as in the ADR. Default: 0.
    #[serde(with = "duration")]
    pub absolute_lifetime: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            durability: Durability::OnDemotion,
            write_behind_interval: Duration::from_secs(60),
            active_window: Duration::from_secs(300),
            max_data_bytes: 350 * 1024,
            absolute_lifetime: Duration::ZERO,
        }
    }
}

impl EngineConfig {
    /// Checks the block; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.write_behind_interval < MIN_INTERVAL {
            return Err(ConfigError::new("engine.write_behind_interval", at_least_min_interval()));
        }
        if self.max_data_bytes == 0 || self.max_data_bytes > MAX_DATA_BYTES_CEILING {
            return Err(ConfigError::new(
                "engine.max_data_bytes",
                format!("must be between 1 and {MAX_DATA_BYTES_CEILING} (DynamoDB items are limited to 400 KB)"),
            ));
        }
        Ok(())
    }
}

/// The message for an interval below [`MIN_INTERVAL`].
fn at_least_min_interval() -> String {
    format!("must be at least {} s", MIN_INTERVAL.as_secs())
}

/// Serde support for durations written as integer seconds or strings with units.
///
/// Accepted: a non-negative integer or float (seconds), or a string of one or more
/// `<number><unit>` parts with units `ms`, `s`, `m`, `h`, `d`, `w` (`250ms`, `1.5s`, `3d12h`).
/// Written back as integer seconds when whole, else as `"<n>ms"`.
pub mod duration {
    use std::fmt;
    use std::time::Duration;

    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};

    /// Parses a duration string such as `30s`, `250ms`, `3d12h` or `1800` (seconds).
    pub fn parse(text: &str) -> Result<Duration, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("empty duration".into());
        }
        if let Ok(seconds) = text.parse::<f64>() {
            return from_seconds_f64(seconds);
        }
        let mut total_ms = 0f64;
        let mut rest = text;
        while !rest.is_empty() {
            let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
            if number_len == 0 {
                return Err(format!("expected a number in duration {text:?}"));
            }
            let number: f64 = rest[..number_len]
                .parse()
                .map_err(|_| format!("bad number {:?} in duration {text:?}", &rest[..number_len]))?;
            rest = &rest[number_len..];
            let unit_len = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len());
            let unit_ms = match &rest[..unit_len] {
                "ms" => 1.0,
                "s" => 1_000.0,
                "m" | "min" => 60_000.0,
                "h" => 3_600_000.0,
                "d" => 86_400_000.0,
                "w" => 604_800_000.0,
                "" => {
                    return Err(format!("missing unit after {number} in duration {text:?} (use ms, s, m, h, d or w)"));
                }
                other => return Err(format!("unknown unit {other:?} in duration {text:?} (use ms, s, m, h, d or w)")),
            };
            rest = &rest[unit_len..];
            total_ms += number * unit_ms;
        }
        from_seconds_f64(total_ms / 1000.0)
    }

    /// Longest duration accepted: 100 years (of 365.25 days). Durations are added to timestamps (a
    /// cold session expires `cold_storage.ttl` after its last access, an audit record
    /// `compliance_retention` after it is written), which are written as RFC 3339 (years up to
    /// 9999) and as DynamoDB TTL attributes: thousands of years overflow them (`ttl: 3e11` made
    /// every create fail), and no TTL, retention or interval needs more than a century.
    pub const MAX: Duration = Duration::from_secs(3_155_760_000);

    fn from_seconds_f64(seconds: f64) -> Result<Duration, String> {
        if !seconds.is_finite() || seconds < 0.0 {
            return Err(format!("duration must be a non-negative number of seconds, got {seconds}"));
        }
        if seconds > MAX.as_secs_f64() {
            return Err(format!(
                "duration of {seconds:e} s is longer than 100 years ({} s), the longest accepted: timestamps that \
                 far ahead overflow",
                MAX.as_secs()
            ));
        }
        Ok(Duration::from_millis((seconds * 1000.0).round() as u64))
    }

    /// Serializes as integer seconds when whole, else `"<n>ms"`.
    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        if value.subsec_millis() == 0 {
            serializer.serialize_u64(value.as_secs())
        } else {
            serializer.serialize_str(&format!("{}ms", value.as_millis()))
        }
    }

    /// Deserializes integer/float seconds or a unit string.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        deserializer.deserialize_any(DurationVisitor)
    }

    struct DurationVisitor;

    impl Visitor<'_> for DurationVisitor {
        type Value = Duration;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(
                "a duration: seconds as a number, or a string such as \"250ms\", \"30s\", \"5m\", \"2h\", \"7d\"",
            )
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
            from_seconds_f64(v as f64).map_err(E::custom)
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
            from_seconds_f64(v as f64).map_err(E::custom)
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
            from_seconds_f64(v).map_err(E::custom)
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
            parse(v).map_err(E::custom)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_adr_values_and_valid() {
        let config = SessionConfig::default();
        assert_eq!(config.hot_storage.ttl, Duration::from_secs(7200));
        assert_eq!(config.hot_storage.promotion_threshold, Duration::from_secs(1800));
        assert_eq!(config.cold_storage.ttl, Duration::from_secs(2_592_000));
        assert_eq!(config.sync.batch_size, 100);
        assert_eq!(config.sync.sync_interval, Duration::from_secs(300));
        assert_eq!(config.sync.cross_region_delay, Duration::from_secs(30));
        config.validate().unwrap();
        EngineConfig::default().validate().unwrap();
    }

    #[test]
    fn durations_parse_with_and_without_units() {
        let cases = [
            ("250ms", 250),
            ("30s", 30_000),
            ("5m", 300_000),
            ("2h", 7_200_000),
            ("7d", 604_800_000),
            ("3d12h", 302_400_000),
            ("1.5s", 1_500),
            ("1800", 1_800_000),
            ("1w", 604_800_000),
        ];
        for (text, ms) in cases {
            assert_eq!(duration::parse(text), Ok(Duration::from_millis(ms)), "{text}");
        }
        for bad in ["", "abc", "5", "5x", "-3s", "s", "1..2s", "3d-1h"] {
            if bad == "5" {
                continue; // a bare number is seconds
            }
            assert!(duration::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn adr_block_parses_from_json_with_integer_seconds() {
        let json = r#"{"hot_storage":{"ttl":7200,"promotion_threshold":"30m","regions":["a-1","b-2"]},
                       "cold_storage":{"ttl":"30d"},"sync":{"batch_size":50}}"#;
        let config: SessionConfig = serde_json::from_str(json).unwrap();
        assert_eq!(config.hot_storage.promotion_threshold, Duration::from_secs(1800));
        assert_eq!(config.cold_storage.ttl, Duration::from_secs(2_592_000));
        assert_eq!(config.cold_storage.compliance_retention, Duration::from_secs(7_776_000));
        assert_eq!(config.sync.batch_size, 50);
        assert_eq!(config.region_id("b-2"), Some(RegionId(1)));
        assert_eq!(config.region_name(RegionId(0)), "a-1");
        assert_eq!(config.region_name(RegionId(9)), "?");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = serde_json::from_str::<SessionConfig>(r#"{"hot_storage":{"tll":5}}"#).unwrap_err();
        assert!(err.to_string().contains("tll"), "{err}");
    }

    #[test]
    fn validation_names_the_key() {
        let mut config = SessionConfig::default();
        config.hot_storage.promotion_threshold = Duration::from_secs(7200);
        assert_eq!(config.validate().unwrap_err().key, "session_config.hot_storage.promotion_threshold");

        let mut config = SessionConfig::default();
        config.hot_storage.regions.clear();
        assert_eq!(config.validate().unwrap_err().key, "session_config.hot_storage.regions");

        let mut config = SessionConfig::default();
        config.hot_storage.regions.push("us-east-1".into());
        assert_eq!(config.validate().unwrap_err().key, "session_config.hot_storage.regions[3]");

        let mut config = SessionConfig::default();
        config.hot_storage.regions[1] = "EU West".into();
        assert_eq!(config.validate().unwrap_err().key, "session_config.hot_storage.regions[1]");

        let mut config = SessionConfig::default();
        config.sync.batch_size = 0;
        assert_eq!(config.validate().unwrap_err().key, "session_config.sync.batch_size");

        let mut config = SessionConfig::default();
        config.cold_storage.ttl = Duration::from_secs(60);
        assert_eq!(config.validate().unwrap_err().key, "session_config.cold_storage.ttl");

        let engine = EngineConfig { max_data_bytes: 0, ..EngineConfig::default() };
        assert_eq!(engine.validate().unwrap_err().key, "engine.max_data_bytes");
    }

    #[test]
    fn durations_serialize_as_seconds_when_whole() {
        let config = SyncConfig { cross_region_delay: Duration::from_millis(1500), ..SyncConfig::default() };
        let json = serde_json::to_string(&config).unwrap();
        assert_eq!(json, r#"{"batch_size":100,"sync_interval":300,"cross_region_delay":"1500ms"}"#);
    }

    #[test]
    fn the_absolute_lifetime_is_off_by_default_and_reads_with_units() {
        assert_eq!(EngineConfig::default().absolute_lifetime, Duration::ZERO, "the ADR sets no absolute limit");
        let config: EngineConfig = serde_json::from_str(r#"{"absolute_lifetime":"30d"}"#).expect("engine block");
        assert_eq!(config.absolute_lifetime, Duration::from_secs(30 * 86_400));
        assert_eq!(config.validate(), Ok(()));
    }
}
