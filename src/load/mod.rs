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
//! with `faults:` is refused.

mod driver;
mod ledger;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, anyhow};
use hotcold_engine::backends::dynamodb::{DynamoAudit, DynamoColdStore};
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
type LoadEngine = Engine<Hot, Cold, DynamoAudit, SystemClock>;
type Manager = SessionManager<Hot, Cold, DynamoAudit, SystemClock>;

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
        plan.speedup,
        plan.scenario.duration.as_secs_f64() / plan.speedup,
        plan.redis.len()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .map_err(Failure::Failed)?;
    let (record, lateness) = runtime.block_on(drive(&plan, &config)).map_err(Failure::Failed)?;
    let full = hotcold_reports::write_run_directory(&out, &record).map_err(|e| Failure::Failed(e.into()))?;
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

fn scaled(d: Duration, speedup: f64) -> Duration {
    Duration::from_secs_f64(d.as_secs_f64() / speedup)
}

impl Plan {
    fn new(scenario: Scenario, config: &ServeConfig, speedup: f64) -> anyhow::Result<Self> {
        if !(speedup.is_finite() && speedup > 0.0) {
            return Err(anyhow!("--speedup must be a positive number, got {speedup}"));
        }
        if !scenario.faults.is_empty() {
            return Err(anyhow!(
                "{}: `faults:` cannot be injected into live backends; remove them to run `load`, or use `simulate`",
                scenario.name
            ));
        }
        let regions = &scenario.session_config.hot_storage.regions;
        let threshold = scaled(scenario.session_config.hot_storage.promotion_threshold, speedup);
        let mut redis = Vec::new();
        for region in regions {
            let entry = config.redis_config_for(region, threshold).ok_or_else(|| {
                anyhow!("the config has no `redis.{region}` entry, and the scenario has traffic for that region")
            })?;
            redis.push(entry);
        }
        let mut session_config = scenario.session_config.clone();
        let hot = &mut session_config.hot_storage;
        hot.ttl = scaled(hot.ttl, speedup);
        hot.promotion_threshold = scaled(hot.promotion_threshold, speedup);
        let cold = &mut session_config.cold_storage;
        cold.ttl = scaled(cold.ttl, speedup);
        cold.compliance_retention = scaled(cold.compliance_retention, speedup);
        cold.analytics_retention = scaled(cold.analytics_retention, speedup);
        let sync = &mut session_config.sync;
        sync.sync_interval = scaled(sync.sync_interval, speedup);
        sync.cross_region_delay = scaled(sync.cross_region_delay, speedup);
        let mut engine_config = scenario.engine.clone();
        engine_config.write_behind_interval = scaled(engine_config.write_behind_interval, speedup);
        engine_config.active_window = scaled(engine_config.active_window, speedup);
        let too_fast = |e: hotcold_engine::ConfigError| {
            anyhow!("at --speedup {speedup}, {}: {} (lower --speedup)", e.key, e.message)
        };
        session_config.validate().map_err(too_fast)?;
        engine_config.validate().map_err(too_fast)?;
        Ok(Self { scenario, speedup, session_config, engine_config, redis })
    }
}

/// Connects the backends, builds the engine over metered stores, and runs the traffic.
async fn drive(plan: &Plan, config: &ServeConfig) -> anyhow::Result<(RunRecord, Lateness)> {
    let sc = &plan.scenario;
    let mut dynamo = config.dynamo_config();
    dynamo.cold_ttl = plan.session_config.cold_storage.ttl;
    dynamo.compliance_retention = plan.session_config.cold_storage.compliance_retention;
    let (hot, cold, audit) = connect_backends(plan.redis.clone(), dynamo, config.dynamodb.create_tables).await?;
    // The service's metrics registry is not served here; the wrappers' call counts are used.
    let metrics = Metrics::new().context("cannot register the metrics")?;
    let hot: Vec<Hot> = hot.into_iter().map(|store| Timed::new(store, "redis", metrics.clone())).collect();
    let ledger = Arc::new(Mutex::new(Ledger::new(&sc.session_config.hot_storage.regions)));
    let cold = Metered {
        inner: Timed::new(cold, "dynamodb", metrics),
        ledger: Arc::clone(&ledger),
        metering: Metering {
            item_overhead: sc.costs.dynamodb.item_overhead_bytes,
            replicas: sc.session_config.hot_storage.regions.len() as u64,
        },
    };
    let engine = Engine::new(plan.session_config.clone(), plan.engine_config.clone(), hot, cold, audit, SystemClock)
        .context("the engine refused the configuration")?;
    Driver::new(plan, Arc::new(engine), ledger).run().await
}
