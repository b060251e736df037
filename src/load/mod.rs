//! `hotcold load SCENARIO --config FILE [--speedup X] [--out DIR]`: the scenario's synthetic
//! traffic against the live engine (the backends of `hotcold serve`'s config), time compressed by
//! X, written as a run directory in the format of `hotcold simulate`.
//!
//! Compressing time: every duration of the scenario (its length, think times, return gaps) and of
//! the engine (TTLs, thresholds, sync interval) is divided by X and the engine runs on the system
//! clock, so a session's life has the same shape in fewer seconds. Latencies are the real ones.
//! Counts and request units come from the run; hot sessions are counted in Redis at the end of
//! each time-series bucket; cold items, stored bytes and request units are metered at the
//! engine's calls to DynamoDB by the formulas of CONTRACT section 4 (so they cover this run's
//! sessions only, even in a shared table). Redis bytes are estimated as hot sessions x (mean
//! payload + overhead) x fragmentation. Faults cannot be injected into live backends: a scenario
//! with `faults:` is refused, and so is `residency:` (in the scenario or the config) for now:
//! `load` meters one global table, not a restricted home's own.

mod driver;
mod ledger;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, anyhow};
use hotcold_engine::audit::trail::{MemoryOutbox, Trail, writer_name};
use hotcold_engine::backends::dynamodb::{DynamoAuditLog, DynamoColdStore};
use hotcold_engine::backends::redis::{RedisHotConfig, RedisHotStore};
use hotcold_engine::{Engine, EngineConfig, SessionConfig, SessionManager, SystemClock};
use hotcold_model::metering::Metering;
use hotcold_model::{RunRecord, Scenario};

use crate::Failure;
use crate::serve::config::ServeConfig;
use crate::serve::connect_backends;
use crate::serve::metrics::{Metrics, Timed};
use driver::{Driver, Lateness};
use ledger::{Ledger, Metered};

/// Arguments of `hotcold load`.
#[derive(Debug)]
pub(crate) struct Args {
    pub(crate) scenario: PathBuf,
    pub(crate) config: PathBuf,
    pub(crate) speedup: f64,
    pub(crate) out: Option<PathBuf>,
}

type Hot = Timed<RedisHotStore>;
type Cold = Metered<Timed<DynamoColdStore>>;
/// The audit trail: the audit table, deferring to memory (a load run is not production: what
/// waits when it ends is delivered by one last drain).
type Audit = Trail<DynamoAuditLog, MemoryOutbox>;
type LoadEngine = Engine<Hot, Cold, Audit, SystemClock>;
type Manager = SessionManager<Hot, Cold, Audit, SystemClock>;

/// Runs the scenario against the live backends and writes the run directory.
pub(crate) fn load(args: &Args) -> Result<(), Failure> {
    let scenario = Scenario::load(&args.scenario).map_err(|e| Failure::BadInput(e.into()))?;
    let config = ServeConfig::load(&args.config).map_err(|e| Failure::BadInput(anyhow!(e)))?;
    let plan = Plan::new(scenario, &config, args.speedup).map_err(Failure::BadInput)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(format!("{}-{}-load", plan.scenario.name, plan.scenario.seed)));
    std::fs::create_dir_all(&out)
        .with_context(|| format!("cannot create the run directory {}", out.display()))
        .map_err(Failure::Failed)?;
    eprintln!(
        "hotcold load: {} at {}x: {:.0} s of wall time against {} Redis tier(s) and DynamoDB",
        plan.scenario.name,
        speedup_text(plan.speedup),
        plan.scenario.duration.as_secs_f64() / plan.speedup,
        plan.redis.len()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .map_err(Failure::Failed)?;
    let (record, lateness, metrics) = runtime.block_on(drive(&plan, &config)).map_err(Failure::Failed)?;
    let full = hotcold_reports::write_run_directory(&out, &record).map_err(|e| Failure::Failed(e.into()))?;
    // What `/metrics` would have shown for this run's backend calls: `hotcold calibrate
    // --metrics` fits the scenario's latency block from it.
    let metrics_path = out.join("metrics.prom");
    std::fs::write(&metrics_path, metrics)
        .with_context(|| format!("cannot write {}", metrics_path.display()))
        .map_err(Failure::Failed)?;
    print!("{}", crate::simulate::one_screen("load", &record, &record.summary(), &out));
    println!(
        "  schedule        events started {:.1} ms late at p99 (wall time; max {:.1} ms){}",
        lateness.p99_ms,
        lateness.max_ms,
        if lateness.p99_ms > 1000.0 { ": the backends could not keep up, lower --speedup or sample" } else { "" }
    );
    print!("{}", crate::report::verdict_lines(&full));
    Ok(())
}

/// A checked run: the scenario with every duration of the engine divided by the speedup.
struct Plan {
    scenario: Scenario,
    speedup: f64,
    session_config: SessionConfig,
    engine_config: EngineConfig,
    redis: Vec<RedisHotConfig>,
}

/// Longest a duration may last once divided by a speedup below 1: the bound of every duration
/// key (100 years), for the same reason: timestamps that far ahead overflow (an expiry of
/// thousands of years fails every create), and a run that long never ends.
const MAX_SCALED: Duration = hotcold_engine::config::duration::MAX;

/// `d` divided by `speedup`; `None` when that is longer than [`MAX_SCALED`] (or longer than any
/// `Duration`: a tiny speedup makes seconds into more than 2^64 of them).
fn scaled(d: Duration, speedup: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(d.as_secs_f64() / speedup).ok().filter(|scaled| *scaled <= MAX_SCALED)
}

/// Every duration `load` divides by the speedup, by key: the scenario's length (the run's wall
/// time), and the engine's TTLs, thresholds and intervals.
fn scaled_durations(scenario: &Scenario) -> [(&'static str, Duration); 11] {
    let (session, engine) = (&scenario.session_config, &scenario.engine);
    [
        ("duration", scenario.duration),
        ("session_config.hot_storage.ttl", session.hot_storage.ttl),
        ("session_config.hot_storage.promotion_threshold", session.hot_storage.promotion_threshold),
        ("session_config.cold_storage.ttl", session.cold_storage.ttl),
        ("session_config.cold_storage.compliance_retention", session.cold_storage.compliance_retention),
        ("session_config.cold_storage.analytics_retention", session.cold_storage.analytics_retention),
        ("session_config.sync.sync_interval", session.sync.sync_interval),
        ("session_config.sync.cross_region_delay", session.sync.cross_region_delay),
        ("engine.write_behind_interval", engine.write_behind_interval),
        ("engine.active_window", engine.active_window),
        ("engine.absolute_lifetime", engine.absolute_lifetime),
    ]
}

/// The speedup as typed: plain decimals in the usual range, exponent notation outside it (`1e-300`,
/// not three hundred zeros).
fn speedup_text(speedup: f64) -> String {
    if speedup == 0.0 || !speedup.is_finite() || (1e-4..1e9).contains(&speedup.abs()) {
        format!("{speedup}")
    } else {
        format!("{speedup:e}")
    }
}

/// The smallest speedup of two significant digits that stretches `longest` no further than
/// [`MAX_SCALED`], as text (`0.01` for a year). Checked against [`scaled`] itself, so that the
/// speedup the message suggests is one that works.
fn smallest_speedup(longest: Duration) -> String {
    let exact = longest.as_secs_f64() / MAX_SCALED.as_secs_f64();
    let exponent = exact.log10().floor() as i32 - 1;
    let decimals = usize::try_from(-exponent).unwrap_or(0);
    let first = (exact / 10f64.powi(exponent)).floor();
    // Rounding error can put the answer a digit or two above `first`, never further.
    for digits in [first, first + 1.0, first + 2.0] {
        let text = format!("{:.*}", decimals, digits * 10f64.powi(exponent));
        if text.parse().is_ok_and(|speedup| scaled(longest, speedup).is_some()) {
            return if text.contains('.') {
                text.trim_end_matches('0').trim_end_matches('.').to_string()
            } else {
                text
            };
        }
    }
    format!("{:e}", exact * 1.01)
}

/// Checks that `speedup` is a positive number that stretches no duration of the scenario past
/// [`MAX_SCALED`]; the error names the longest duration and the smallest speedup that works.
fn check_speedup(scenario: &Scenario, speedup: f64) -> anyhow::Result<()> {
    if !(speedup.is_finite() && speedup > 0.0) {
        return Err(anyhow!("--speedup must be a positive number, got {}", speedup_text(speedup)));
    }
    let durations = scaled_durations(scenario);
    let Some(&(key, longest)) = durations.iter().max_by_key(|(_, d)| *d) else { return Ok(()) };
    if scaled(longest, speedup).is_none() {
        return Err(anyhow!(
            "--speedup {} makes {key} ({} s) last longer than 100 years ({} s), the longest any duration may be; use a \
             speedup of at least {}",
            speedup_text(speedup),
            longest.as_secs_f64(),
            MAX_SCALED.as_secs(),
            smallest_speedup(longest)
        ));
    }
    Ok(())
}

impl Plan {
    fn new(scenario: Scenario, config: &ServeConfig, speedup: f64) -> anyhow::Result<Self> {
        check_speedup(&scenario, speedup)?;
        // Every duration fits once scaled (checked just above); the fallback is never taken.
        let scale = |d: Duration| scaled(d, speedup).unwrap_or(MAX_SCALED);
        if !scenario.faults.is_empty() {
            return Err(anyhow!(
                "{}: `faults:` cannot be injected into live backends; remove them to run `load`, or use `simulate`",
                scenario.name
            ));
        }
        if !scenario.residency.is_empty() || !config.residency.is_empty() {
            // Not yet: load meters one global table; a restricted home's own tables are not.
            return Err(anyhow!(
                "{}: `residency:` is not supported by `load` yet (it drives and meters the shared tables only); \
                 remove it from the scenario and the config to run `load`, or use `simulate` (or `serve`)",
                scenario.name
            ));
        }
        let regions = &scenario.session_config.hot_storage.regions;
        let threshold = scale(scenario.session_config.hot_storage.promotion_threshold);
        let mut redis = Vec::new();
        for region in regions {
            let entry = config.redis_config_for(region, threshold).ok_or_else(|| {
                anyhow!("the config has no `redis.{region}` entry, and the scenario has traffic for that region")
            })?;
            redis.push(entry);
        }
        let mut session_config = scenario.session_config.clone();
        let hot = &mut session_config.hot_storage;
        hot.ttl = scale(hot.ttl);
        hot.promotion_threshold = scale(hot.promotion_threshold);
        let cold = &mut session_config.cold_storage;
        cold.ttl = scale(cold.ttl);
        cold.compliance_retention = scale(cold.compliance_retention);
        cold.analytics_retention = scale(cold.analytics_retention);
        let sync = &mut session_config.sync;
        sync.sync_interval = scale(sync.sync_interval);
        sync.cross_region_delay = scale(sync.cross_region_delay);
        let mut engine_config = scenario.engine.clone();
        engine_config.write_behind_interval = scale(engine_config.write_behind_interval);
        engine_config.active_window = scale(engine_config.active_window);
        engine_config.absolute_lifetime = scale(engine_config.absolute_lifetime);
        let too_fast = |e: hotcold_engine::ConfigError| {
            anyhow!("at --speedup {}, {}: {} (lower --speedup)", speedup_text(speedup), e.key, e.message)
        };
        session_config.validate().map_err(too_fast)?;
        engine_config.validate().map_err(too_fast)?;
        Ok(Self { scenario, speedup, session_config, engine_config, redis })
    }
}

/// Connects the backends, builds the engine over metered stores, and runs the traffic; also
/// answers the metrics registry's text (the backend call histograms).
async fn drive(plan: &Plan, config: &ServeConfig) -> anyhow::Result<(RunRecord, Lateness, String)> {
    let sc = &plan.scenario;
    let mut dynamo = config.dynamo_config();
    dynamo.cold_ttl = plan.session_config.cold_storage.ttl;
    dynamo.compliance_retention = plan.session_config.cold_storage.compliance_retention;
    let link_key = crate::serve::public_link_key();
    let (hot, cold, audit) =
        connect_backends(plan.redis.clone(), dynamo, config.dynamodb.create_tables, link_key).await?;
    let audit = Trail::new(writer_name(&config.region), audit, MemoryOutbox::new());
    // The service's metrics registry is not served here: the wrappers' call counts are used, and
    // its text is written to the run directory.
    let metrics = Metrics::new().context("cannot register the metrics")?;
    let hot: Vec<Hot> = hot.into_iter().map(|store| Timed::new(store, "redis", metrics.clone())).collect();
    let ledger = Arc::new(Mutex::new(Ledger::new(&sc.session_config.hot_storage.regions)));
    let cold = Metered {
        inner: Timed::new(cold, "dynamodb", metrics.clone()),
        ledger: Arc::clone(&ledger),
        metering: Metering {
            item_overhead: sc.costs.dynamodb.item_overhead_bytes,
            replicas: sc.session_config.hot_storage.regions.len() as u64,
        },
    };
    let engine = Engine::new(plan.session_config.clone(), plan.engine_config.clone(), hot, cold, audit, SystemClock)
        .context("the engine refused the configuration")?;
    let engine = Arc::new(engine);
    let outcome = Driver::new(plan, Arc::clone(&engine), ledger).run().await;
    crate::serve::write_held_counts(&engine).await;
    engine.audit().drain().await.context("delivering the deferred audit records")?;
    crate::serve::wait_for_summaries(engine.audit().log(), "load").await;
    let (record, lateness) = outcome?;
    Ok((record, lateness, metrics.render()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smallest_speedup_suggested_works_and_is_close_to_the_exact_one() {
        let year = Duration::from_secs(31_536_000);
        assert_eq!(smallest_speedup(year), "0.01");
        for (longest, expected) in [(Duration::from_secs(400 * 86_400), "0.011"), (MAX_SCALED, "1")] {
            assert_eq!(smallest_speedup(longest), expected);
        }
        for seconds in [1, 59, 3_600, 86_400, 31_536_000, 34_560_000, 3_155_759_999] {
            let longest = Duration::from_secs(seconds);
            let suggested: f64 = smallest_speedup(longest).parse().unwrap();
            assert!(scaled(longest, suggested).is_some(), "{seconds} s: {suggested}");
            // Two significant digits: within a tenth of the exact smallest.
            let exact = longest.as_secs_f64() / MAX_SCALED.as_secs_f64();
            assert!(suggested < exact * 1.1, "{seconds} s: {suggested} is not the smallest");
        }
    }

    #[test]
    fn speedups_are_written_as_typed() {
        assert_eq!(speedup_text(1e-300), "1e-300");
        assert_eq!(speedup_text(1e300), "1e300");
        assert_eq!(speedup_text(0.005), "0.005");
        assert_eq!(speedup_text(60.0), "60");
        assert_eq!(speedup_text(-1.0), "-1");
        assert_eq!(speedup_text(f64::NAN), "NaN");
    }
}
