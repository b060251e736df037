//! Engine hot paths on in-memory stores: what the engine itself costs per operation, without
//! any backend latency. `cargo bench -p hotcold-engine --bench engine`.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use hotcold_engine::memory::{MemoryAudit, MemoryColdStore, MemoryHotStore};
use hotcold_engine::ready::now_or_panic;
use hotcold_engine::{
    Engine, EngineConfig, ManualClock, RegionId, SessionConfig, SessionData, SessionId, SessionManager, SyncService,
    Timestamp, UserId,
};

type BenchEngine = Engine<Arc<MemoryHotStore>, Arc<MemoryColdStore>, Arc<MemoryAudit>, Arc<ManualClock>>;
type Manager = SessionManager<Arc<MemoryHotStore>, Arc<MemoryColdStore>, Arc<MemoryAudit>, Arc<ManualClock>>;

struct Setup {
    clock: Arc<ManualClock>,
    engine: Arc<BenchEngine>,
    manager: Manager,
    ids: Vec<SessionId>,
}

/// An engine with `sessions` sessions created in region 0, as the simulator builds it.
fn setup(sessions: usize) -> Setup {
    let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000)));
    let config = SessionConfig::default();
    let hot: Vec<_> =
        config.hot_storage.regions.iter().map(|r| Arc::new(MemoryHotStore::without_user_index(r.clone()))).collect();
    let engine = Arc::new(
        Engine::new(
            config,
            EngineConfig::default(),
            hot,
            Arc::new(MemoryColdStore::without_user_index("cold")),
            Arc::new(MemoryAudit::counting()),
            clock.clone(),
        )
        .expect("valid engine"),
    );
    let manager = SessionManager::with_token_seed(engine.clone(), RegionId(0), 1);
    let user = UserId::new("bench-user").expect("user id");
    let ids = (0..sessions)
        .map(|_| now_or_panic(manager.create(user.clone(), SessionData::opaque(1500))).expect("create").session.id)
        .collect();
    Setup { clock, engine, manager, ids }
}

fn hot_get(c: &mut Criterion) {
    let s = setup(100_000);
    let mut i = 0;
    c.bench_function("hot get (in-memory, 100k sessions)", |b| {
        b.iter(|| {
            i = (i + 1) % s.ids.len();
            now_or_panic(s.manager.get(&s.ids[i]))
        })
    });
}

fn cold_promotion(c: &mut Criterion) {
    let s = setup(10_000);
    let sync = SyncService::new(s.engine.clone());
    c.bench_function("cold promotion (in-memory)", |b| {
        b.iter_batched(
            || {
                // Demote everything, then promote one session per iteration.
                s.clock.advance(Duration::from_secs(1801));
                let report = now_or_panic(sync.run_once(RegionId(0)));
                assert_eq!(report.error, None);
            },
            |()| {
                for id in &s.ids[..100] {
                    now_or_panic(s.manager.get(id));
                }
            },
            BatchSize::PerIteration,
        )
    });
}

fn demotion(c: &mut Criterion) {
    c.bench_function("demote 10k idle sessions in batches of 100 (in-memory)", |b| {
        b.iter_batched(
            || {
                let s = setup(10_000);
                s.clock.advance(Duration::from_secs(1801));
                s
            },
            |s| {
                let report = now_or_panic(SyncService::new(s.engine.clone()).run_once(RegionId(0)));
                assert_eq!(report.demoted, 10_000);
                s
            },
            BatchSize::PerIteration,
        )
    });
}

criterion_group!(benches, hot_get, cold_promotion, demotion);
criterion_main!(benches);
