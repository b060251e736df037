//! What the table-driven sampler saves: nanoseconds per draw of [`FastSampler`] against
//! rand_distr's sampler of the same distribution (`tests/sampler_ks.rs` shows they draw the same
//! distribution). `cargo bench -p hotcold-model --bench sampler`.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use hotcold_model::units::{Count, DistSpec, Seconds};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn draws(c: &mut Criterion) {
    let cases: [(&str, DistSpec<Seconds>); 3] = [
        ("lognormal", DistSpec::Lognormal { median: Seconds(20.0), p95: Some(Seconds(180.0)), p99: None }),
        ("exponential", DistSpec::Exponential { mean: Seconds(15.0) }),
        ("uniform", DistSpec::Uniform { min: Seconds(1.0), max: Seconds(2.0) }),
    ];
    let mut group = c.benchmark_group("draw");
    group.measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    for (name, spec) in cases {
        let (fast, exact) = (spec.fast_sampler(), spec.sampler());
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        group.bench_function(format!("{name}/fast table"), |b| b.iter(|| black_box(fast.sample(&mut rng))));
        group.bench_function(format!("{name}/rand_distr"), |b| b.iter(|| black_box(exact.sample(&mut rng))));
    }
    let pareto: DistSpec<Count> = DistSpec::Pareto { min: Count(2.0), alpha: 1.5 };
    let (fast, exact) = (pareto.fast_sampler(), pareto.sampler());
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    group.bench_function("pareto/fast table", |b| b.iter(|| black_box(fast.sample(&mut rng))));
    group.bench_function("pareto/rand_distr", |b| b.iter(|| black_box(exact.sample(&mut rng))));
    group.finish();
}

criterion_group!(benches, draws);
criterion_main!(benches);
