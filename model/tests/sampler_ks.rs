//! The simulator and `hotcold load` draw every distribution through [`FastSampler`] (an inverse-CDF
//! table); `rand_distr` is the reference. For each distribution and a spread of the parameters
//! scenarios allow, a million draws of each are compared: the two-sample Kolmogorov-Smirnov
//! distance, and quantiles from 0.1 % to 99.9 % within their sampling error.
#![allow(missing_docs)]

use hotcold_model::units::{Count, DistSpec, Seconds};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const DRAWS: usize = 1_000_000;

/// The two-sample KS critical value at significance 1e-4 for two samples of `DRAWS`:
/// c(α) · sqrt(2 / n) with c(α) = sqrt(-ln(α / 2) / 2) = 2.2239 for α = 1e-4. With the 16 cases
/// below, a false alarm in one of them has probability under 0.2 % (and the seeds are fixed, so a
/// passing run passes every time).
fn ks_critical() -> f64 {
    let c = (-(1e-4_f64 / 2.0).ln() / 2.0).sqrt();
    c * (2.0 / DRAWS as f64).sqrt()
}

/// The largest distance between the empirical CDFs of two sorted samples.
fn ks_distance(a: &[f64], b: &[f64]) -> f64 {
    let (mut i, mut j, mut worst) = (0usize, 0usize, 0.0f64);
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        worst = worst.max((i as f64 / a.len() as f64 - j as f64 / b.len() as f64).abs());
    }
    worst
}

fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_unstable_by(f64::total_cmp);
    values
}

/// Compares the fast sampler of `spec` with rand_distr's over [`DRAWS`] draws each.
fn compare<Q>(name: &str, spec: DistSpec<Q>, seed: u64)
where
    Q: hotcold_model::units::Quantity + Send + Sync + 'static,
{
    assert!(spec.check().is_ok(), "{name}: invalid spec");
    let (fast, exact) = (spec.fast_sampler(), spec.sampler());
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let fast_values = sorted((0..DRAWS).map(|_| fast.sample(&mut rng)).collect());
    let exact_values = sorted((0..DRAWS).map(|_| exact.sample(&mut rng)).collect());

    let d = ks_distance(&fast_values, &exact_values);
    assert!(d < ks_critical(), "{name}: KS distance {d:.5} over the critical {:.5}", ks_critical());

    // Quantiles: the fast sample's p-quantile must fall where the reference sample puts
    // p ± 5 standard errors of a sample proportion (sqrt(p (1 - p) / n)), i.e. between the
    // reference's quantiles at those probabilities.
    for p in [0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999] {
        let se = (p * (1.0 - p) / DRAWS as f64).sqrt();
        let at = |q: f64| exact_values[((q.clamp(0.0, 1.0) * DRAWS as f64) as usize).min(DRAWS - 1)];
        let got = fast_values[(p * DRAWS as f64) as usize];
        let (low, high) = (at(p - 5.0 * se), at(p + 5.0 * se));
        assert!(low <= got && got <= high, "{name}: q{p} = {got} outside the reference's [{low}, {high}]");
    }
}

fn lognormal(median: f64, p95: f64) -> DistSpec<Seconds> {
    DistSpec::Lognormal { median: Seconds(median), p95: Some(Seconds(p95)), p99: None }
}

#[test]
fn the_fast_sampler_matches_rand_distr_for_every_distribution() {
    // Lognormal: from nearly constant to a thousandfold tail (the shipped scenarios use ratios of
    // 1.6 to 60: requests 8/40, think time 20 s/3 min, a return gap 2 h/5 d, latencies).
    compare("lognormal 1.05x", lognormal(1.0, 1.05), 1);
    compare("lognormal 5x (requests 8/40)", lognormal(8.0, 40.0), 2);
    compare("lognormal 9x (think 20s/3m)", lognormal(20.0, 180.0), 3);
    compare("lognormal 60x (gap 2h/5d)", lognormal(7_200.0, 432_000.0), 4);
    compare("lognormal 1000x", lognormal(0.001, 1.0), 5);
    compare(
        "lognormal by p99 (redis 0.4ms/1.3ms)",
        DistSpec::Lognormal { median: Seconds(0.0004), p95: None, p99: Some(Seconds(0.0013)) },
        6,
    );
    // Exponential at three scales.
    compare("exponential 15 s", DistSpec::Exponential { mean: Seconds(15.0) }, 7);
    compare("exponential 1 ms", DistSpec::Exponential { mean: Seconds(0.001) }, 8);
    compare("exponential 5 d", DistSpec::Exponential { mean: Seconds(432_000.0) }, 9);
    // Uniform, narrow and wide.
    compare("uniform 1..2", DistSpec::Uniform { min: Count(1.0), max: Count(2.0) }, 10);
    compare("uniform 0..1e6", DistSpec::Uniform { min: Count(0.0), max: Count(1e6) }, 11);
    // Pareto: infinite mean, infinite variance, light.
    compare("pareto alpha 0.5", DistSpec::Pareto { min: Count(1.0), alpha: 0.5 }, 12);
    compare("pareto alpha 1.5", DistSpec::Pareto { min: Count(2.0), alpha: 1.5 }, 13);
    compare("pareto alpha 3", DistSpec::Pareto { min: Count(100.0), alpha: 3.0 }, 14);
    compare("pareto alpha 10", DistSpec::Pareto { min: Count(1.0), alpha: 10.0 }, 15);
    // Constant: every draw is the value.
    compare("constant", DistSpec::Constant { value: Count(3.0) }, 16);
}

#[test]
fn the_comparison_catches_a_sampler_that_is_off() {
    // The check is not vacuous: a lognormal whose tail is 10 % heavier than the reference's, or a
    // Pareto with a slightly different shape, is told apart at a million draws.
    let reference = lognormal(8.0, 40.0).sampler();
    let heavier = lognormal(8.0, 44.0).fast_sampler();
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let a = sorted((0..DRAWS).map(|_| heavier.sample(&mut rng)).collect());
    let b = sorted((0..DRAWS).map(|_| reference.sample(&mut rng)).collect());
    assert!(ks_distance(&a, &b) > ks_critical(), "a 10 % heavier tail went unnoticed");

    let reference = DistSpec::Pareto { min: Count(2.0), alpha: 1.5 }.sampler();
    let other = DistSpec::Pareto { min: Count(2.0), alpha: 1.45 }.fast_sampler();
    let a = sorted((0..DRAWS).map(|_| other.sample(&mut rng)).collect());
    let b = sorted((0..DRAWS).map(|_| reference.sample(&mut rng)).collect());
    assert!(ks_distance(&a, &b) > ks_critical(), "alpha 1.45 against 1.5 went unnoticed");
}

#[test]
fn ks_distance_of_known_samples() {
    assert_eq!(ks_distance(&[1.0, 2.0, 3.0, 4.0], &[1.0, 2.0, 3.0, 4.0]), 0.0);
    assert_eq!(ks_distance(&[1.0, 2.0], &[3.0, 4.0]), 1.0);
    assert!((ks_distance(&[1.0, 2.0, 3.0, 4.0], &[3.0, 4.0, 5.0, 6.0]) - 0.5).abs() < 1e-12);
}
