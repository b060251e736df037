//! `--config FILE` of `hotcold serve` (CONTRACT section 5): which region this instance serves, the
//! ADR block, how to reach every region's Redis and the DynamoDB tables, who may call the API and
//! the bounds on every request.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hotcold_engine::backends::dynamodb::DynamoConfig;
use hotcold_engine::backends::redis::RedisHotConfig;
use hotcold_engine::migration::{LegacyLayout, Rollout};
use hotcold_engine::{ConfigError, EngineConfig, RegionId, Residency, SessionConfig};
use hotcold_model::yaml::{YamlError, parse_yaml};
use serde::Deserialize;

/// A config file that cannot be used: the file, the line and column or the key path, and what
/// was expected. Fatal at start-up (exit 2).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub(crate) struct ConfigFileError(#[from] YamlError);

/// The whole file. Unknown keys are rejected (a typo must not silently fall back to a default).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServeConfig {
    /// The region this instance serves; one of `session_config.hot_storage.regions`.
    pub(crate) region: String,
    /// The ADR's `session_config` block. Default: the ADR's values.
    #[serde(default)]
    pub(crate) session_config: SessionConfig,
    /// Durability and limits. Default: `on_demotion`, 350 KiB of data.
    #[serde(default)]
    pub(crate) engine: EngineConfig,
    /// Data residency, as in scenarios: for a home region, the regions allowed to store its
    /// sessions. Default: none (every region may store every session).
    #[serde(default)]
    pub(crate) residency: BTreeMap<String, Vec<String>>,
    /// Address of the HTTP API. Default: `127.0.0.1:8080`.
    #[serde(default = "default_listen")]
    pub(crate) listen: SocketAddr,
    /// Every region's Redis (the engine reads other regions' hot tiers for sessions homed there).
    pub(crate) redis: BTreeMap<String, RedisEntry>,
    /// The DynamoDB tables (one global table for sessions, one for the audit trail).
    #[serde(default)]
    pub(crate) dynamodb: DynamoEntry,
    /// Who may call the API. Optional in the file (`hotcold load` reads the same file and serves
    /// nothing), but `serve` refuses to start without it: see [`ServeConfig::require_auth`].
    #[serde(default)]
    pub(crate) auth: Option<AuthEntry>,
    /// Bounds on every request. Default: the [`Limits`] defaults.
    #[serde(default)]
    pub(crate) limits: Limits,
    /// The Redis-only store being migrated from (ADR-0010 phase 3). Default: none.
    #[serde(default)]
    pub(crate) legacy: Option<LegacyEntry>,
}

/// `legacy`: the Redis-only store of ADR-0009, its layout and the rollout percentage.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LegacyEntry {
    /// `redis://host:port` of the standalone server (a Cluster is not supported: SCAN walks one
    /// node).
    pub(crate) url: String,
    /// The value layout; only `connect-redis` is built in (keys `<prefix><id>`, JSON values with
    /// `cookie.expires`). Default: `connect-redis`.
    #[serde(default = "default_legacy_layout")]
    pub(crate) layout: String,
    /// Key prefix before the id. Default: `sess:` (connect-redis).
    #[serde(default = "default_legacy_prefix")]
    pub(crate) prefix: String,
    /// JSON pointer of the user id inside a value. Default: `/passport/user` (passport).
    #[serde(default = "default_legacy_user_field")]
    pub(crate) user_field: String,
    /// Share of sessions (by a stable hash of the id) the hybrid store serves, 0 to 100.
    /// Default: 0.
    #[serde(default)]
    pub(crate) rollout_percent: f64,
    /// The region legacy sessions are homed in once imported: keep it for as long as such
    /// sessions live. Default: the first of `session_config.hot_storage.regions`.
    #[serde(default)]
    pub(crate) region: Option<String>,
    /// Bound on each call to the legacy store. Default: 250 ms.
    #[serde(default = "default_legacy_timeout", with = "hotcold_engine::config::duration")]
    pub(crate) timeout: Duration,
}

fn default_legacy_layout() -> String {
    "connect-redis".into()
}

fn default_legacy_prefix() -> String {
    "sess:".into()
}

fn default_legacy_user_field() -> String {
    "/passport/user".into()
}

const fn default_legacy_timeout() -> Duration {
    Duration::from_millis(250)
}

/// `auth`: the credential files, or `disabled: true`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuthEntry {
    /// No credentials at all: every route is open (a trusted network only; the start-up line
    /// warns). Default: false.
    #[serde(default)]
    pub(crate) disabled: bool,
    /// Credentials of the callers of the session routes (API gateway, auth service), one a line.
    #[serde(default)]
    pub(crate) service_credentials_file: Option<PathBuf>,
    /// Credentials of the operators (user-wide routes, `/metrics`), one a line.
    #[serde(default)]
    pub(crate) admin_credentials_file: Option<PathBuf>,
    /// A secret of at least 16 bytes that keys erased users' pseudonyms, the same file for
    /// every instance so that a user gets one pseudonym whichever instance erases them.
    /// Default: none, a random key per process (pseudonyms nobody can recompute; two instances
    /// would give one user two).
    #[serde(default)]
    pub(crate) pseudonym_key_file: Option<PathBuf>,
}

/// `limits`: what bounds one request and the requests in flight (DESIGN: "everything is bounded").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Limits {
    /// A request not answered within this answers 503. Default: 5 s.
    #[serde(with = "hotcold_engine::config::duration")]
    pub(crate) request_timeout: Duration,
    /// Requests handled at once; one more answers 503 at once rather than queue. Default: 1024.
    pub(crate) max_in_flight: usize,
    /// A client that has not sent a request's headers this long after it started (or after the
    /// previous answer on the connection) is disconnected. Default: 10 s.
    #[serde(with = "hotcold_engine::config::duration")]
    pub(crate) header_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self { request_timeout: Duration::from_secs(5), max_in_flight: 1024, header_timeout: Duration::from_secs(10) }
    }
}

/// One region's Redis.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RedisEntry {
    /// `redis://host:port` of the server, or of one node of a Cluster.
    pub(crate) url: String,
    /// True for a Redis Cluster. Default: false.
    #[serde(default)]
    pub(crate) cluster: bool,
    /// Prefix of every key, so several deployments can share a server. Default: `hotcold`.
    #[serde(default = "default_prefix")]
    pub(crate) key_prefix: String,
    /// With a `rediss://` URL (TLS): a PEM file of the authority that signed the server's
    /// certificate, for a private CA (relative paths from the config file's directory).
    /// Default: none, the operating system's trusted roots.
    #[serde(default)]
    pub(crate) tls_ca_file: Option<PathBuf>,
    /// That file's content, read when the config is loaded.
    #[serde(skip)]
    pub(crate) tls_ca: Option<Vec<u8>>,
}

/// The DynamoDB tables.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DynamoEntry {
    /// Endpoint override (DynamoDB Local); absent for AWS, with credentials from the usual chain.
    #[serde(default)]
    pub(crate) endpoint: Option<String>,
    /// AWS region of the client. Default: `us-east-1`.
    #[serde(default = "default_aws_region")]
    pub(crate) region: String,
    /// Default: `hotcold-sessions`.
    #[serde(default = "default_sessions_table")]
    pub(crate) sessions_table: String,
    /// Default: `hotcold-audit`.
    #[serde(default = "default_audit_table")]
    pub(crate) audit_table: String,
    /// The session summaries for BI and fraud tools. Default: `hotcold-analytics`.
    #[serde(default = "default_analytics_table")]
    pub(crate) analytics_table: String,
    /// AWS region whose endpoint reaches the analytics table, when it has no replica in `region`.
    /// The cost model's default plan (`costs.dynamodb.analytics_replicated: false`) keeps one
    /// analytics table, in the first region, and `hotcold infra` creates it there: the other
    /// regions' instances name that region here. Default: `region`.
    #[serde(default)]
    pub(crate) analytics_region: Option<String>,
    /// Create the tables when they are missing. Default: false (production tables are provisioned
    /// by infrastructure code, not by the service).
    #[serde(default)]
    pub(crate) create_tables: bool,
    /// The tables of each home region restricted by `residency` (a global table replicates
    /// whole tables, so restricted sessions live in tables whose replicas are only their allowed
    /// regions). Default for a restricted home missing here: the tables above suffixed with
    /// `-<home>`, reached through the home's AWS region.
    #[serde(default)]
    pub(crate) residency_tables: BTreeMap<String, ResidencyTables>,
}

/// `dynamodb.residency_tables.<home>`: where a restricted home's sessions, audit records and
/// summaries are kept.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResidencyTables {
    /// AWS region whose endpoint reaches the tables (one of their replicas). Default: the home.
    #[serde(default)]
    pub(crate) region: Option<String>,
    /// Default: `<dynamodb.sessions_table>-<home>`.
    #[serde(default)]
    pub(crate) sessions_table: Option<String>,
    /// Default: `<dynamodb.audit_table>-<home>`.
    #[serde(default)]
    pub(crate) audit_table: Option<String>,
    /// Default: `<dynamodb.analytics_table>-<home>`.
    #[serde(default)]
    pub(crate) analytics_table: Option<String>,
}

impl Default for DynamoEntry {
    fn default() -> Self {
        Self {
            endpoint: None,
            region: default_aws_region(),
            sessions_table: default_sessions_table(),
            audit_table: default_audit_table(),
            analytics_table: default_analytics_table(),
            analytics_region: None,
            create_tables: false,
            residency_tables: BTreeMap::new(),
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

fn default_prefix() -> String {
    "hotcold".into()
}

fn default_aws_region() -> String {
    "us-east-1".into()
}

fn default_sessions_table() -> String {
    "hotcold-sessions".into()
}

fn default_audit_table() -> String {
    "hotcold-audit".into()
}

fn default_analytics_table() -> String {
    "hotcold-analytics".into()
}

impl ServeConfig {
    /// Reads, parses and checks a config file; errors name the file, line and column or the key.
    pub(crate) fn load(path: &Path) -> Result<Self, ConfigFileError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| YamlError::whole_file(&file, format!("cannot read the config: {e}")))?;
        let mut config = Self::parse(&text, &file)?;
        let dir = path.parent().unwrap_or_else(|| Path::new("."));
        for (region, entry) in &mut config.redis {
            if let Some(ca_file) = &entry.tls_ca_file {
                let read = std::fs::read(dir.join(ca_file)).map_err(|e| {
                    YamlError::at_path(&file, format!("redis.{region}.tls_ca_file"), format!("cannot read it: {e}"))
                })?;
                entry.tls_ca = Some(read);
            }
        }
        Ok(config)
    }

    /// Parses and checks config text; `file` names it in errors.
    pub(crate) fn parse(text: &str, file: &str) -> Result<Self, ConfigFileError> {
        let config: Self = parse_yaml(text, file)?;
        let invalid = |path: &str, message: String| ConfigFileError(YamlError::at_path(file, path, message));
        if let Err(e) = config.session_config.validate() {
            return Err(invalid(&e.key, e.message));
        }
        if let Err(e) = config.engine.validate() {
            return Err(invalid(&e.key, e.message));
        }
        let residency = Residency::from_names(&config.session_config, &config.residency, "residency")
            .map_err(|e| invalid(&e.key, e.message))?;
        if let Some(home) = config
            .dynamodb
            .residency_tables
            .keys()
            .find(|home| config.session_config.region_id(home).is_none_or(|home| !residency.is_restricted(home)))
        {
            return Err(invalid(
                &format!("dynamodb.residency_tables.{home}"),
                "not a region restricted by `residency` (only restricted homes have tables of their own)".into(),
            ));
        }
        let regions = &config.session_config.hot_storage.regions;
        if !regions.contains(&config.region) {
            return Err(invalid(
                "region",
                format!(
                    "`{}` is not one of session_config.hot_storage.regions ({})",
                    config.region,
                    regions.join(", ")
                ),
            ));
        }
        if let Some(missing) = regions.iter().find(|r| !config.redis.contains_key(*r)) {
            return Err(invalid(
                "redis",
                format!("no entry for region `{missing}` (every configured region needs one)"),
            ));
        }
        if let Some((region, _)) =
            config.redis.iter().find(|(_, e)| e.tls_ca_file.is_some() && !e.url.starts_with("rediss://"))
        {
            return Err(invalid(
                &format!("redis.{region}.tls_ca_file"),
                "applies to TLS connections only: the url must start with rediss://".into(),
            ));
        }
        if let Some(extra) = config.redis.keys().find(|r| !regions.contains(r)) {
            return Err(invalid(&format!("redis.{extra}"), "not one of session_config.hot_storage.regions".into()));
        }
        for (region, entry) in &config.redis {
            if !entry.url.starts_with("redis://") && !entry.url.starts_with("rediss://") {
                return Err(invalid(
                    &format!("redis.{region}.url"),
                    format!("expected redis://host:port or rediss://host:port, got `{}`", entry.url),
                ));
            }
            if entry.key_prefix.is_empty() || entry.key_prefix.contains(['{', '}']) {
                return Err(invalid(
                    &format!("redis.{region}.key_prefix"),
                    "must be non-empty and contain no `{` or `}` (they mark Cluster hash tags)".into(),
                ));
            }
        }
        if let Some(legacy) = &config.legacy {
            check_legacy(legacy, regions).map_err(|e| invalid(&e.key, e.message))?;
        }
        if let Some(auth) = &config.auth {
            let files = [
                ("auth.service_credentials_file", &auth.service_credentials_file),
                ("auth.admin_credentials_file", &auth.admin_credentials_file),
            ];
            for (key, file) in files {
                match (auth.disabled, file) {
                    (true, Some(_)) => {
                        return Err(invalid(
                            key,
                            "not allowed with `disabled: true` (which checks no credential)".into(),
                        ));
                    }
                    (false, None) => {
                        return Err(invalid(key, "required (or `auth: { disabled: true }` to check none)".into()));
                    }
                    _ => {}
                }
            }
        }
        let limits = &config.limits;
        if limits.request_timeout.is_zero() {
            return Err(invalid("limits.request_timeout", "must be more than 0".into()));
        }
        if limits.header_timeout.is_zero() {
            return Err(invalid("limits.header_timeout", "must be more than 0".into()));
        }
        if limits.max_in_flight == 0 {
            return Err(invalid("limits.max_in_flight", "must be at least 1".into()));
        }
        if let Some(region) = &config.dynamodb.analytics_region {
            let valid =
                !region.is_empty() && region.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !valid {
                return Err(invalid(
                    "dynamodb.analytics_region",
                    format!("`{region}` is not an AWS region name (like us-east-1)"),
                ));
            }
        }
        let mut tables = vec![
            ("dynamodb.sessions_table".to_string(), config.dynamodb.sessions_table.clone()),
            ("dynamodb.audit_table".to_string(), config.dynamodb.audit_table.clone()),
            ("dynamodb.analytics_table".to_string(), config.dynamodb.analytics_table.clone()),
        ];
        for home in residency.restricted_homes() {
            let name = config.session_config.region_name(home);
            let at = format!("dynamodb.residency_tables.{name}");
            let resident = config.dynamo_config_for(home);
            tables.push((format!("{at}.sessions_table"), resident.sessions_table));
            tables.push((format!("{at}.audit_table"), resident.audit_table));
            tables.push((format!("{at}.analytics_table"), resident.analytics_table));
        }
        for (key, table) in &tables {
            let valid = (3..=255).contains(&table.len())
                && table.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
            if !valid {
                return Err(invalid(
                    key,
                    format!("`{table}` is not a DynamoDB table name (3 to 255 of a-z A-Z 0-9 _ - .)"),
                ));
            }
            if let Some((other, _)) = tables.iter().find(|(k, t)| t == table && k != key) {
                return Err(invalid(key, format!("`{table}` is also {other}: each table holds one kind of data")));
            }
        }
        Ok(config)
    }

    /// The `auth` block, which `serve` requires: without it the file names no credential, and a
    /// service open to anyone by omission is not one to start. `file` names the config in the error.
    pub(crate) fn require_auth(&self, file: &str) -> Result<&AuthEntry, ConfigFileError> {
        self.auth.as_ref().ok_or_else(|| {
            ConfigFileError(YamlError::at_path(
                file,
                "auth",
                "missing: `hotcold serve` needs `auth: { service_credentials_file: FILE, admin_credentials_file: FILE }` \
                 (or `auth: { disabled: true }` to check no credential)",
            ))
        })
    }

    /// The legacy store's layout, the rollout and the home of legacy sessions, when a `legacy`
    /// block is configured (checked by [`Self::parse`]).
    pub(crate) fn legacy_plan(&self) -> Option<(LegacyLayout, Rollout)> {
        let legacy = self.legacy.as_ref()?;
        let layout = LegacyLayout { prefix: legacy.prefix.clone(), user_field: legacy.user_field.clone() };
        Some((layout, Rollout::new(legacy.rollout_percent, "legacy.rollout_percent").unwrap_or_default()))
    }

    /// The region legacy ids are homed in: `legacy.region`, else the first region. Legacy ids
    /// are accepted with or without a `legacy` block, so sessions imported before the block is
    /// removed keep being served.
    pub(crate) fn legacy_home(&self) -> RegionId {
        self.legacy
            .as_ref()
            .and_then(|legacy| legacy.region.as_deref())
            .and_then(|name| self.session_config.region_id(name))
            .unwrap_or(RegionId(0))
    }

    /// The id of the served region.
    pub(crate) fn region_id(&self) -> RegionId {
        self.session_config.region_id(&self.region).unwrap_or(RegionId(0))
    }

    /// The hot store settings of every configured region, in region order.
    pub(crate) fn redis_configs(&self) -> Vec<RedisHotConfig> {
        let threshold = self.session_config.hot_storage.promotion_threshold;
        self.session_config
            .hot_storage
            .regions
            .iter()
            .filter_map(|region| self.redis_config_for(region, threshold))
            .collect()
    }

    /// The hot store settings of `region`, if the file has a Redis entry for it, for a deployment
    /// demoting sessions idle for `promotion_threshold`.
    ///
    /// Redis records an access in full (last access, idle index) at most once per touch
    /// granularity, which must stay far below the threshold: the store's 10 s against the ADR's
    /// 30 minutes, so 1/180 of the threshold when that is shorter (tests, compressed `load` runs).
    pub(crate) fn redis_config_for(&self, region: &str, promotion_threshold: Duration) -> Option<RedisHotConfig> {
        let entry = self.redis.get(region)?;
        let base = if entry.cluster {
            RedisHotConfig::cluster([entry.url.clone()])
        } else {
            RedisHotConfig::standalone(entry.url.clone())
        };
        let base = match &entry.tls_ca {
            Some(pem) => base.with_tls_root_cert(pem.clone()),
            None => base,
        };
        let granularity = base.touch_granularity.min(promotion_threshold / 180);
        Some(
            base.with_prefix(entry.key_prefix.clone())
                .with_label(format!("redis {region}"))
                .with_touch_granularity(granularity)
                .with_visit_gap(promotion_threshold),
        )
    }

    /// The DynamoDB settings, retention periods taken from the ADR block.
    pub(crate) fn dynamo_config(&self) -> DynamoConfig {
        let cold = &self.session_config.cold_storage;
        DynamoConfig {
            endpoint: self.dynamodb.endpoint.clone(),
            region: self.dynamodb.region.clone(),
            sessions_table: self.dynamodb.sessions_table.clone(),
            audit_table: self.dynamodb.audit_table.clone(),
            analytics_table: self.dynamodb.analytics_table.clone(),
            analytics_region: self.dynamodb.analytics_region.clone(),
            cold_ttl: cold.ttl,
            compliance_retention: cold.compliance_retention,
            analytics_retention: cold.analytics_retention,
            ..DynamoConfig::default()
        }
    }

    /// The residency rules (checked by [`Self::parse`]).
    pub(crate) fn residency(&self) -> Residency {
        Residency::from_names(&self.session_config, &self.residency, "residency").unwrap_or_default()
    }

    /// Every set of tables: the shared one, then each restricted home's (`hotcold audit` and
    /// `hotcold analytics` read them all).
    pub(crate) fn dynamo_configs(&self) -> Vec<DynamoConfig> {
        let residency = self.residency();
        std::iter::once(self.dynamo_config())
            .chain(residency.restricted_homes().map(|home| self.dynamo_config_for(home)))
            .collect()
    }

    /// How to reach the tables of restricted home `home` (see [`ResidencyTables`]).
    pub(crate) fn dynamo_config_for(&self, home: RegionId) -> DynamoConfig {
        let name = self.session_config.region_name(home);
        let tables = self.dynamodb.residency_tables.get(name).cloned().unwrap_or_default();
        let or_suffixed = |table: Option<String>, base: &str| table.unwrap_or_else(|| format!("{base}-{name}"));
        DynamoConfig {
            region: tables.region.unwrap_or_else(|| name.to_string()),
            sessions_table: or_suffixed(tables.sessions_table, &self.dynamodb.sessions_table),
            audit_table: or_suffixed(tables.audit_table, &self.dynamodb.audit_table),
            analytics_table: or_suffixed(tables.analytics_table, &self.dynamodb.analytics_table),
            // A restricted home's tables, summaries included, are all reached through its region.
            analytics_region: None,
            label: format!("dynamodb ({name} residency)"),
            ..self.dynamo_config()
        }
    }
}

/// Checks a `legacy` block; errors name the key.
fn check_legacy(legacy: &LegacyEntry, regions: &[String]) -> Result<(), ConfigError> {
    if !legacy.url.starts_with("redis://") && !legacy.url.starts_with("rediss://") {
        return Err(ConfigError::new("legacy.url", format!("expected redis://host:port, got `{}`", legacy.url)));
    }
    if legacy.layout != "connect-redis" {
        return Err(ConfigError::new(
            "legacy.layout",
            format!(
                "`{}` is not a known layout (connect-redis; describe another with prefix and user_field)",
                legacy.layout
            ),
        ));
    }
    if legacy.prefix.is_empty() {
        return Err(ConfigError::new("legacy.prefix", "must not be empty"));
    }
    if !legacy.user_field.is_empty() && !legacy.user_field.starts_with('/') {
        return Err(ConfigError::new("legacy.user_field", "expected a JSON pointer such as /passport/user"));
    }
    if let Some(region) = &legacy.region
        && !regions.contains(region)
    {
        return Err(ConfigError::new(
            "legacy.region",
            format!("`{region}` is not one of session_config.hot_storage.regions"),
        ));
    }
    if legacy.timeout.is_zero() {
        return Err(ConfigError::new("legacy.timeout", "must be more than 0"));
    }
    Rollout::new(legacy.rollout_percent, "legacy.rollout_percent").map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
region: us-east-1
session_config:
  hot_storage: { regions: [us-east-1, eu-west-1] }
engine: { durability: write_through }
listen: 127.0.0.1:9090
redis:
  us-east-1: { url: redis://127.0.0.1:6379, cluster: false }
  eu-west-1: { url: redis://127.0.0.1:6380, cluster: true, key_prefix: shop }
dynamodb:
  endpoint: http://127.0.0.1:8000
  create_tables: true
auth:
  service_credentials_file: /etc/hotcold/service-credentials
  admin_credentials_file: /etc/hotcold/admin-credentials
limits: { request_timeout: 2s, max_in_flight: 64 }
";

    fn error_of(text: &str) -> String {
        match ServeConfig::parse(text, "serve.yaml") {
            Ok(config) => panic!("accepted a bad config: {config:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn the_contract_example_parses_with_defaults_filled() {
        let config = ServeConfig::parse(GOOD, "serve.yaml").expect("valid");
        assert_eq!(config.region_id(), RegionId(0));
        assert_eq!(config.listen, "127.0.0.1:9090".parse().expect("address"));
        let redis = config.redis_configs();
        assert_eq!(redis.len(), 2);
        assert!(!redis[0].cluster && redis[1].cluster);
        assert_eq!(redis[1].key_prefix, "shop");
        assert_eq!(redis[0].label, "redis us-east-1");
        assert_eq!(redis[0].touch_granularity, Duration::from_secs(10), "the store's default at the ADR's 30 minutes");
        let short = config.redis_config_for("eu-west-1", Duration::from_secs(90)).expect("configured region");
        assert_eq!(short.touch_granularity, Duration::from_millis(500), "1/180 of a shorter threshold");
        let dynamo = config.dynamo_config();
        assert_eq!(dynamo.sessions_table, "hotcold-sessions");
        assert_eq!(dynamo.endpoint.as_deref(), Some("http://127.0.0.1:8000"));
        assert_eq!(dynamo.cold_ttl, Duration::from_secs(2_592_000));
        assert!(config.dynamodb.create_tables);
        assert_eq!(config.session_config.sync.sync_interval, Duration::from_secs(300));
        let auth = config.require_auth("serve.yaml").expect("auth block");
        assert!(!auth.disabled);
        assert_eq!(auth.admin_credentials_file, Some(PathBuf::from("/etc/hotcold/admin-credentials")));
        let limits = Limits { request_timeout: Duration::from_secs(2), max_in_flight: 64, ..Limits::default() };
        assert_eq!(config.limits, limits);
        assert_eq!(limits.header_timeout, Duration::from_secs(10), "the default");
    }

    #[test]
    fn a_tls_authority_is_read_at_load_and_only_for_rediss_urls() {
        // On a plain redis:// URL the file would be ignored silently: refused, naming the key.
        let plain = GOOD.replace(
            "us-east-1: { url: redis://127.0.0.1:6379, cluster: false }",
            "us-east-1: { url: redis://127.0.0.1:6379, tls_ca_file: ca.pem }",
        );
        let error = error_of(&plain);
        assert!(error.contains("redis.us-east-1.tls_ca_file") && error.contains("rediss://"), "{error}");

        let dir = std::env::temp_dir().join(format!("hotcold-tls-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let tls = GOOD.replace(
            "us-east-1: { url: redis://127.0.0.1:6379, cluster: false }",
            "us-east-1: { url: rediss://127.0.0.1:6379, tls_ca_file: ca.pem }",
        );
        std::fs::write(dir.join("serve.yaml"), &tls).expect("write config");
        // The file missing: exit 2 material, naming the key.
        let error = ServeConfig::load(&dir.join("serve.yaml")).expect_err("no ca.pem yet").to_string();
        assert!(error.contains("redis.us-east-1.tls_ca_file") && error.contains("cannot read"), "{error}");
        // Present: read relative to the config file, handed to the store's settings.
        std::fs::write(dir.join("ca.pem"), "-----BEGIN CERTIFICATE-----\n").expect("write ca");
        let config = ServeConfig::load(&dir.join("serve.yaml")).expect("valid");
        let redis = config.redis_configs();
        assert_eq!(redis[0].tls_root_cert.as_deref(), Some(&b"-----BEGIN CERTIFICATE-----\n"[..]));
        assert_eq!(redis[1].tls_root_cert, None, "the other region trusts the system's roots");
        std::fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn serve_needs_an_auth_block_which_load_does_not() {
        let start = GOOD.find("auth:").expect("auth block");
        let end = GOOD.find("limits:").expect("limits");
        let without = format!("{}{}", &GOOD[..start], &GOOD[end..]);
        let config = ServeConfig::parse(&without, "serve.yaml").expect("parses: `hotcold load` reads it");
        let error = config.require_auth("serve.yaml").expect_err("serve refuses it").to_string();
        assert!(error.starts_with("serve.yaml: auth: missing"), "{error}");
        let disabled = format!("{}auth: {{ disabled: true }}\n{}", &GOOD[..start], &GOOD[end..]);
        let config = ServeConfig::parse(&disabled, "serve.yaml").expect("disabled auth");
        assert!(config.require_auth("serve.yaml").expect("auth block").disabled);
    }

    #[test]
    fn bad_configs_name_the_place() {
        let cases: [(&str, &str); 17] = [
            ("region: [", "serve.yaml:1:"),
            (&GOOD.replace("listen: 127.0.0.1:9090", "listen: nowhere"), "listen"),
            (&GOOD.replace("create_tables: true", "create_table: true"), "create_table"),
            (&GOOD.replace("region: us-east-1\nsession", "region: mars-1\nsession"), "region: `mars-1`"),
            (
                &GOOD.replace("  eu-west-1: { url: redis://127.0.0.1:6380, cluster: true, key_prefix: shop }\n", ""),
                "`eu-west-1`",
            ),
            (&GOOD.replace("redis://127.0.0.1:6379", "127.0.0.1:6379"), "redis.us-east-1.url"),
            (&GOOD.replace("key_prefix: shop", "key_prefix: \"{shop}\""), "redis.eu-west-1.key_prefix"),
            (
                &GOOD.replace("create_tables: true", "create_tables: true\n  sessions_table: x"),
                "dynamodb.sessions_table",
            ),
            (&GOOD.replace("write_through", "write_sometimes"), "engine.durability"),
            (&GOOD.replace("regions: [us-east-1, eu-west-1]", "regions: [us-east-1, eu-west-1], ttl: 60"), "ttl"),
            (
                &GOOD.replace("  admin_credentials_file: /etc/hotcold/admin-credentials\n", ""),
                "auth.admin_credentials_file: required",
            ),
            (&GOOD.replace("auth:\n", "auth:\n  disabled: true\n"), "auth.service_credentials_file: not allowed"),
            (&GOOD.replace("admin_credentials_file", "admin_credential_file"), "admin_credential_file"),
            (&GOOD.replace("max_in_flight: 64", "max_in_flight: 0"), "limits.max_in_flight"),
            (&GOOD.replace("request_timeout: 2s", "request_timeout: 0s"), "limits.request_timeout"),
            (&GOOD.replace("request_timeout: 2s", "request_timeout: 2 parsecs"), "request_timeout"),
            (
                &GOOD.replace("create_tables: true", "create_tables: true\n  analytics_region: US East"),
                "dynamodb.analytics_region: `US East` is not an AWS region name",
            ),
        ];
        for (text, expected) in cases {
            let message = error_of(text);
            assert!(message.contains(expected), "{message:?} should mention {expected:?}");
        }
        let missing = ServeConfig::load(Path::new("/nonexistent/serve.yaml")).expect_err("missing file");
        assert!(missing.to_string().contains("cannot read the config"), "{missing}");
    }

    /// The default plan keeps one analytics table, in the first region: another region's
    /// instance reaches it through that region, while a restricted home's summaries stay home.
    #[test]
    fn the_analytics_table_is_reached_through_analytics_region() {
        let config = ServeConfig::parse(GOOD, "serve.yaml").expect("valid");
        assert!(!config.dynamo_config().analytics_elsewhere(), "default: this region");
        let text = GOOD
            .replace("create_tables: true", "create_tables: true\n  analytics_region: us-east-1\n  region: eu-west-1")
            .replace("listen:", "residency: { eu-west-1: [eu-west-1] }\nlisten:");
        let config = ServeConfig::parse(&text, "serve.yaml").expect("valid");
        let shared = config.dynamo_config();
        assert_eq!((shared.region.as_str(), shared.analytics_region.as_deref()), ("eu-west-1", Some("us-east-1")));
        assert!(shared.analytics_elsewhere());
        let home = config.session_config.region_id("eu-west-1").expect("configured");
        assert!(!config.dynamo_config_for(home).analytics_elsewhere(), "a restricted home's summaries stay home");
    }

    #[test]
    fn residency_rules_and_their_tables_are_checked_with_the_key_named() {
        let pinned = GOOD.replace("listen:", "residency: { eu-west-1: [eu-west-1] }\nlisten:");
        let config = ServeConfig::parse(&pinned, "serve.yaml").expect("valid");
        let home = config.session_config.region_id("eu-west-1").expect("configured");
        assert!(config.residency().is_restricted(home));
        let tables = config.dynamo_config_for(home);
        assert_eq!(tables.region, "eu-west-1", "reached through the home by default");
        assert_eq!(tables.sessions_table, format!("{}-eu-west-1", config.dynamodb.sessions_table));
        let named = pinned.replace(
            "create_tables: true",
            "create_tables: true\n  residency_tables: { eu-west-1: { sessions_table: eu-sessions, region: eu-central-1 } }",
        );
        let config = ServeConfig::parse(&named, "serve.yaml").expect("valid");
        assert_eq!(config.dynamo_config_for(home).sessions_table, "eu-sessions");
        assert_eq!(config.dynamo_config_for(home).region, "eu-central-1");
        let cases = [
            (GOOD.replace("listen:", "residency: { mars-1: [us-east-1] }\nlisten:"), "residency.mars-1: \"mars-1\""),
            (
                GOOD.replace("listen:", "residency: { eu-west-1: [us-east-1] }\nlisten:"),
                "residency.eu-west-1: must include",
            ),
            (GOOD.replace("listen:", "residency: { eu-west-1: [] }\nlisten:"), "residency.eu-west-1"),
            (
                GOOD.replace("create_tables: true", "create_tables: true\n  residency_tables: { eu-west-1: {} }"),
                "dynamodb.residency_tables.eu-west-1: not a region restricted",
            ),
            (
                pinned.replace(
                    "create_tables: true",
                    "create_tables: true\n  residency_tables: { eu-west-1: { sessions_table: hotcold-audit } }",
                ),
                "is also dynamodb.residency_tables.eu-west-1.sessions_table",
            ),
            (
                pinned.replace(
                    "create_tables: true",
                    "create_tables: true\n  residency_tables: { eu-west-1: { tables: x } }",
                ),
                "tables",
            ),
        ];
        for (text, expected) in cases {
            let message = error_of(&text);
            assert!(message.contains(expected), "{message:?} should mention {expected:?}");
        }
    }
}
