//! The scenario's `latency.redis` and `latency.dynamodb`, fitted from the serve histograms of
//! `hotcold_backend_call_duration_seconds`: a lognormal by interval-censored maximum likelihood
//! (each bucket says only that its calls took between its two bounds), judged by the largest gap
//! between the histogram's cumulative shares and the fitted CDF at the bucket bounds.

use super::prometheus::{self, Histogram};
use super::stats::{Lognormal, inverse_normal_cdf, nelder_mead, normal_between, significant};
use super::{CalibrationError, Fit};
use crate::units::{DistSpec, Seconds};

/// The bucket bounds of `hotcold serve`'s latency histograms, seconds: 100 us to 10 s (Redis
/// answers in about 0.2 ms on loopback, DynamoDB in milliseconds, a timed-out call in 250 ms to
/// 3 s). Neighbouring bounds are 2 to 2.5 times apart, so a lognormal's median is read to well
/// within a bucket once there are a few hundred calls.
pub const LATENCY_BUCKETS_SECONDS: [f64; 16] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The histogram fitted, labelled `backend`, `call` and `result`.
pub const METRIC: &str = "hotcold_backend_call_duration_seconds";

/// The fewest calls a latency is fitted from: below it the p99 rests on about one call.
pub const MIN_CALLS: u64 = 100;

/// A lognormal fitted to a latency histogram.
#[derive(Debug, Clone, PartialEq)]
pub struct LognormalFit {
    /// The median, seconds: e^μ.
    pub median_seconds: f64,
    /// The 99th percentile, seconds: e^(μ + 2.326 σ).
    pub p99_seconds: f64,
    /// σ of ln(seconds).
    pub sigma: f64,
    /// The calls fitted (the histogram's count).
    pub calls: u64,
    /// The largest |cumulative share of the calls − fitted CDF| over the finite bucket bounds.
    pub ks: f64,
}

/// `latency.<backend>` (`backend` is `redis` or `dynamodb`) fitted from the exposition `text`:
/// the calls of [`METRIC`] with `backend="<backend>"` and `result="ok"`, summed over every
/// `call` and every other label (`instance`, `region`, `job` when scraped through Prometheus).
/// Failed calls are left out: their time is a timeout, not the backend's latency.
///
/// Returns the distribution as the scenario writes it (median and p99 rounded to three
/// significant figures, exactly the values [`Fit::value`] shows) and the fit behind it.
pub fn fit_backend(text: &str, backend: &str) -> Result<(DistSpec<Seconds>, Fit), CalibrationError> {
    let key = format!("latency.{backend}");
    let histogram = prometheus::histogram(text, METRIC, |labels| {
        let label = |name: &str| labels.iter().find(|(n, _)| n == name).map(|(_, value)| value.as_str());
        label("backend") == Some(backend) && label("result") == Some("ok")
    })?
    .ok_or_else(|| CalibrationError::Insufficient {
        key: key.clone(),
        why: format!("no {METRIC} series with backend=\"{backend}\" and result=\"ok\" in the metrics"),
    })?;
    let fit = fit_lognormal(&histogram, &key)?;
    let (median_ms, p99_ms) = (significant(fit.median_seconds * 1e3, 3), significant(fit.p99_seconds * 1e3, 3));
    // As `0.41ms` reads back: the number divided by 1000.
    let spec = DistSpec::Lognormal { median: Seconds(median_ms / 1e3), p95: None, p99: Some(Seconds(p99_ms / 1e3)) };
    spec.check().map_err(|why| CalibrationError::Insufficient {
        key: key.clone(),
        why: format!("the fitted lognormal (median {median_ms} ms, p99 {p99_ms} ms) is not a usable latency: {why}"),
    })?;
    let bounds = histogram.buckets.iter().filter(|(le, _)| le.is_finite()).count();
    let fit = Fit {
        key,
        value: format!("{{ dist: lognormal, median: {median_ms}ms, p99: {p99_ms}ms }}"),
        goodness: format!("KS distance {:.3} over {bounds} buckets", fit.ks),
        basis: fit.calls,
        basis_unit: "calls",
    };
    Ok((spec, fit))
}

/// A lognormal fitted to `histogram` (bounds in seconds) by interval-censored maximum
/// likelihood, for the scenario key `key` (named in errors).
///
/// Refused ([`CalibrationError::Insufficient`]) below [`MIN_CALLS`] calls and when the buckets
/// show no shape: calls in one bucket, in two neighbouring ones (any spread small enough fits
/// them, so σ runs to 0), only in the two open-ended ones (below the first bound and above the
/// last; σ runs to ∞), or at or below 0 s. Buckets out of order are
/// [`CalibrationError::Malformed`].
pub fn fit_lognormal(histogram: &Histogram, key: &str) -> Result<LognormalFit, CalibrationError> {
    let refuse = |why: String| CalibrationError::Insufficient { key: key.to_owned(), why };
    let intervals = intervals(histogram)?;
    let calls = histogram.buckets.last().map_or(0, |(_, count)| *count);
    if calls < MIN_CALLS {
        return Err(refuse(format!("{calls} calls, at least {MIN_CALLS} needed")));
    }
    if let Some(why) = shapeless(&intervals) {
        return Err(refuse(why));
    }

    let total = calls as f64;
    let negative_log_likelihood = |x: &[f64]| {
        let (mu, sigma) = (x[0], x[1].exp());
        let mut sum = 0.0;
        for interval in intervals.iter().filter(|interval| interval.calls > 0) {
            let p = normal_between((interval.lower - mu) / sigma, (interval.upper - mu) / sigma);
            // ln 0 is -∞: that (μ, σ) cannot have produced the calls; the simplex steps away.
            sum -= interval.calls as f64 * p.ln();
        }
        sum / total
    };
    let (mu, sigma) = quantile_guess(&intervals, total);
    let start = [mu, sigma.ln()];
    let step = [0.3, 0.3];
    let (best, _) = nelder_mead(negative_log_likelihood, &start, &step, 1e-12, 2000);
    // A restart frees a simplex that collapsed early on a ridge.
    let (best, value) = nelder_mead(negative_log_likelihood, &best, &step, 1e-12, 2000);
    let fitted = Lognormal::at(&best);
    let Lognormal { mu, sigma } = fitted;
    if !(value.is_finite() && mu.is_finite() && sigma.is_finite() && sigma > 0.0) {
        return Err(refuse("the likelihood has no maximum for these buckets".into()));
    }

    let ks = histogram
        .buckets
        .iter()
        .filter(|(le, _)| le.is_finite())
        .map(|&(le, count)| (count as f64 / total - fitted.cdf(le)).abs())
        .fold(0.0, f64::max);
    Ok(LognormalFit {
        median_seconds: fitted.median(),
        p99_seconds: (mu + inverse_normal_cdf(0.99) * sigma).exp(),
        sigma,
        calls,
        ks,
    })
}

/// One bucket as the likelihood sees it: its calls lie in (e^lower, e^upper] seconds.
#[derive(Debug, Clone, Copy)]
struct Interval {
    /// ln of the previous bound; -∞ for the first bucket (latencies are positive).
    lower: f64,
    /// ln of the bound; +∞ for the `+Inf` bucket, -∞ for a bound at or below 0.
    upper: f64,
    calls: u64,
}

impl Interval {
    fn open_ended(&self) -> bool {
        self.lower == f64::NEG_INFINITY || self.upper == f64::INFINITY
    }
}

/// The histogram's buckets as intervals in ln(seconds), checked for order.
fn intervals(histogram: &Histogram) -> Result<Vec<Interval>, CalibrationError> {
    let ln = |bound: f64| if bound > 0.0 { bound.ln() } else { f64::NEG_INFINITY };
    let mut intervals = Vec::with_capacity(histogram.buckets.len());
    let (mut previous_bound, mut previous_count) = (f64::NEG_INFINITY, 0);
    for &(bound, count) in &histogram.buckets {
        if bound.is_nan() || bound <= previous_bound || count < previous_count {
            return Err(CalibrationError::Malformed(format!(
                "histogram buckets must have increasing bounds and non-decreasing counts, got le={bound} \
                 ({count} calls) after le={previous_bound} ({previous_count} calls)"
            )));
        }
        intervals.push(Interval { lower: ln(previous_bound), upper: ln(bound), calls: count - previous_count });
        (previous_bound, previous_count) = (bound, count);
    }
    if previous_bound != f64::INFINITY {
        return Err(CalibrationError::Malformed("histogram buckets must end with le=\"+Inf\"".into()));
    }
    Ok(intervals)
}

/// Why the occupied buckets cannot determine both μ and σ, if they cannot.
fn shapeless(intervals: &[Interval]) -> Option<String> {
    let occupied: Vec<usize> = (0..intervals.len()).filter(|&at| intervals[at].calls > 0).collect();
    let bound = |ln_bound: f64| format!("{} s", ln_bound.exp());
    if let Some(at) = occupied.iter().find(|&&at| intervals[at].upper == f64::NEG_INFINITY) {
        return Some(format!("{} calls at or below 0 s, which no lognormal produces", intervals[*at].calls));
    }
    match occupied[..] {
        [] | [_] => Some(format!(
            "all calls in {} bucket: at least two buckets must hold calls to show a spread",
            occupied.len()
        )),
        [low, high] if high == low + 1 => Some(format!(
            "all calls in two neighbouring buckets (around {}): any spread small enough fits them",
            bound(intervals[low].upper)
        )),
        _ if occupied.iter().all(|&at| intervals[at].open_ended()) => Some(format!(
            "all calls below {} or above {}, none between: any spread large enough fits them",
            bound(intervals[0].upper),
            bound(intervals[intervals.len() - 1].lower)
        )),
        _ => None,
    }
}

/// μ and σ from the 16th, 50th and 84th percentiles (μ ± σ for a normal), read off the buckets
/// by interpolating in ln(seconds); open-ended buckets are taken as 2.5 bounds wide, like the
/// widest of [`LATENCY_BUCKETS_SECONDS`].
fn quantile_guess(intervals: &[Interval], total: f64) -> (f64, f64) {
    let width = 2.5f64.ln();
    let quantile = |p: f64| {
        let mut below = 0.0;
        for interval in intervals {
            let share = interval.calls as f64 / total;
            if below + share >= p && share > 0.0 {
                let (lower, upper) = match (interval.lower.is_finite(), interval.upper.is_finite()) {
                    (true, true) => (interval.lower, interval.upper),
                    (false, true) => (interval.upper - width, interval.upper),
                    (true, false) => (interval.lower, interval.lower + width),
                    (false, false) => (-width, width),
                };
                return lower + (p - below) / share * (upper - lower);
            }
            below += share;
        }
        intervals.last().map_or(0.0, |last| if last.lower.is_finite() { last.lower } else { 0.0 })
    };
    let (low, median, high) = (quantile(0.16), quantile(0.5), quantile(0.84));
    (median, ((high - low) / 2.0).clamp(0.05, 5.0))
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, LogNormal};

    use super::*;
    use crate::calibrate::stats::normal_cdf;

    /// z of the 99th percentile.
    fn z99() -> f64 {
        inverse_normal_cdf(0.99)
    }

    /// `draws` latencies from the lognormal with this median and p99, bucketed as `hotcold serve`
    /// buckets them: per-bucket (not cumulative) counts, the last above 10 s.
    fn draw(median: f64, p99: f64, draws: usize, seed: u64) -> [u64; 17] {
        let sigma = (p99 / median).ln() / z99();
        let lognormal = LogNormal::new(median.ln(), sigma).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut counts = [0u64; 17];
        for _ in 0..draws {
            let seconds = lognormal.sample(&mut rng);
            counts[LATENCY_BUCKETS_SECONDS.iter().position(|le| seconds <= *le).unwrap_or(16)] += 1;
        }
        counts
    }

    /// One series of the histogram as `hotcold serve` exposes it.
    fn series(labels: &str, counts: &[u64; 17]) -> String {
        let mut text = String::new();
        let mut cumulative = 0;
        let bounds = LATENCY_BUCKETS_SECONDS.iter().map(|le| le.to_string()).chain(["+Inf".to_owned()]);
        for (le, count) in bounds.zip(counts) {
            cumulative += count;
            text += &format!("{METRIC}_bucket{{{labels},le=\"{le}\"}} {cumulative}\n");
        }
        text += &format!("{METRIC}_sum{{{labels}}} 1.5\n{METRIC}_count{{{labels}}} {cumulative}\n");
        text
    }

    /// An exposition with `counts` split over two `call` series of `backend` (one scraped with
    /// extra labels), plus failed calls of `backend` ten times slower that must not count.
    fn exposition(backend: &str, counts: &[u64; 17]) -> String {
        let get: [u64; 17] = std::array::from_fn(|at| counts[at] / 3);
        let touch: [u64; 17] = std::array::from_fn(|at| counts[at] - get[at]);
        let mut errors = [0u64; 17];
        errors[12..].copy_from_slice(&[500, 400, 300, 200, 100]);
        format!(
            "# HELP {METRIC} Latency of calls to Redis and DynamoDB\n# TYPE {METRIC} histogram\n{}{}{}",
            series(&format!("backend=\"{backend}\",call=\"get\",result=\"ok\""), &get),
            series(
                &format!(
                    "backend=\"{backend}\",call=\"touch\",instance=\"10.0.0.7:9100\",job=\"hotcold\",region=\"eu-west-1\",result=\"ok\""
                ),
                &touch
            ),
            series(&format!("backend=\"{backend}\",call=\"get\",result=\"error\""), &errors),
        )
    }

    fn histogram_of(counts: &[u64; 17]) -> Histogram {
        let mut cumulative = 0;
        let buckets = LATENCY_BUCKETS_SECONDS
            .iter()
            .chain([f64::INFINITY].iter())
            .zip(counts)
            .map(|(le, count)| {
                cumulative += count;
                (*le, cumulative)
            })
            .collect();
        Histogram { buckets, count: cumulative, sum: 0.0 }
    }

    /// The standard errors of (ln median, σ, ln p99) that `draws` calls bucketed this way allow:
    /// the inverse of the multinomial Fisher information N Σ ∂p·∂pᵀ / p over the 17 buckets, at
    /// the true (μ, σ), with the delta method for ln p99 = μ + z σ.
    fn standard_errors(median: f64, p99: f64, draws: usize) -> (f64, f64, f64) {
        let (mu, sigma) = (median.ln(), (p99 / median).ln() / z99());
        // Written apart from the fit's own likelihood, so that a fault there cannot move the
        // tolerance along with the estimate.
        let shares = |mu: f64, sigma: f64| -> Vec<f64> {
            let cdf = |le: f64| normal_cdf((le.ln() - mu) / sigma);
            let mut below = 0.0;
            let mut shares: Vec<f64> = LATENCY_BUCKETS_SECONDS
                .iter()
                .map(|le| {
                    let share = cdf(*le) - below;
                    below = cdf(*le);
                    share
                })
                .collect();
            shares.push(1.0 - below);
            shares
        };
        let h = 1e-6;
        let (p, plus_mu, minus_mu) = (shares(mu, sigma), shares(mu + h, sigma), shares(mu - h, sigma));
        let (plus_sigma, minus_sigma) = (shares(mu, sigma + h), shares(mu, sigma - h));
        let mut information = [[0.0; 2]; 2];
        for at in 0..p.len() {
            if p[at] < 1e-300 {
                continue;
            }
            let gradient = [(plus_mu[at] - minus_mu[at]) / (2.0 * h), (plus_sigma[at] - minus_sigma[at]) / (2.0 * h)];
            for a in 0..2 {
                for b in 0..2 {
                    information[a][b] += draws as f64 * gradient[a] * gradient[b] / p[at];
                }
            }
        }
        let determinant = information[0][0] * information[1][1] - information[0][1] * information[1][0];
        let (var_mu, var_sigma, covariance) =
            (information[1][1] / determinant, information[0][0] / determinant, -information[0][1] / determinant);
        let z = z99();
        (var_mu.sqrt(), var_sigma.sqrt(), (var_mu + z * z * var_sigma + 2.0 * z * covariance).sqrt())
    }

    /// Draws, exposes, parses and fits; asserts the fit within 4 standard errors of the truth.
    ///
    /// Why 4: the estimates are asymptotically normal with the standard errors the Fisher
    /// information of the bucketed sample gives ([`standard_errors`], which already counts the
    /// information lost to buckets 2 to 2.5 times wide, about 0.6 to 1.5 σ); a correct fit lands
    /// outside 4 s.e. with probability 6e-5 per quantity. With 20 000 calls 4 s.e. is about 2 %
    /// on the median and 4 % on the p99, so a fit that misplaces the buckets by one (a factor of
    /// 2 or more) or mistakes the spread fails by far.
    ///
    /// The KS distance of a right model is the largest of 16 binomial errors of the cumulative
    /// shares, each with s.d. at most 0.5/√N = 0.0035: below 4 of those, 0.014.
    fn round_trip(backend: &str, median: f64, p99: f64, seed: u64) -> LognormalFit {
        const DRAWS: usize = 20_000;
        let counts = draw(median, p99, DRAWS, seed);
        let text = exposition(backend, &counts);
        let histogram = prometheus::histogram(&text, METRIC, |labels| {
            labels.contains(&("backend".into(), backend.into())) && labels.contains(&("result".into(), "ok".into()))
        })
        .unwrap()
        .unwrap();
        assert_eq!(histogram.count, DRAWS as u64);
        let fit = fit_lognormal(&histogram, "latency").unwrap();

        let (se_median, se_sigma, se_p99) = standard_errors(median, p99, DRAWS);
        let sigma = (p99 / median).ln() / z99();
        let report = format!("{backend}: {fit:?}; s.e. ln median {se_median:.4}, σ {se_sigma:.4}, ln p99 {se_p99:.4}");
        assert!((fit.median_seconds / median).ln().abs() < 4.0 * se_median, "{report}");
        assert!((fit.p99_seconds / p99).ln().abs() < 4.0 * se_p99, "{report}");
        assert!((fit.sigma - sigma).abs() < 4.0 * se_sigma, "{report}");
        assert!(fit.ks < 4.0 * 0.5 / (DRAWS as f64).sqrt(), "{report}");
        assert_eq!(fit.calls, DRAWS as u64);

        // The same through fit_backend: the scenario's value, rounded, is the one printed.
        let (spec, printed) = fit_backend(&text, backend).unwrap();
        let DistSpec::Lognormal { median: Seconds(m), p95: None, p99: Some(Seconds(p)) } = spec else {
            panic!("{spec:?}")
        };
        assert!((m / fit.median_seconds - 1.0).abs() < 0.005 && (p / fit.p99_seconds - 1.0).abs() < 0.005, "{spec:?}");
        assert_eq!(yaml_serde::from_str::<DistSpec<Seconds>>(&printed.value).unwrap(), spec, "{}", printed.value);
        assert_eq!(
            (printed.key.as_str(), printed.basis, printed.basis_unit),
            (&*format!("latency.{backend}"), DRAWS as u64, "calls")
        );
        assert_eq!(printed.goodness, format!("KS distance {:.3} over 16 buckets", fit.ks));
        fit
    }

    #[test]
    fn recovers_known_lognormals_through_the_exposition() {
        // Both unlike the defaults (0.4/1.3 ms and 4/15 ms), with wider and narrower spreads.
        let redis = round_trip("redis", 0.0007, 0.003, 7);
        let dynamodb = round_trip("dynamodb", 0.009, 0.060, 8);
        // A two-mode mixture (half the calls near 0.3 ms, half near 20 ms) is no lognormal: its
        // KS distance is many times a lognormal's.
        let mut mixture = draw(0.0003, 0.0005, 10_000, 9);
        for (into, from) in mixture.iter_mut().zip(draw(0.020, 0.035, 10_000, 10)) {
            *into += from;
        }
        let mixture = fit_lognormal(&histogram_of(&mixture), "latency").unwrap();
        assert!(
            mixture.ks > 0.05 && mixture.ks > 5.0 * redis.ks.max(dynamodb.ks),
            "{mixture:?} {redis:?} {dynamodb:?}"
        );
    }

    #[test]
    fn prints_the_fit_as_the_scenario_writes_it() {
        let text = exposition("redis", &draw(0.00041, 0.00132, 5_000, 1));
        let (_, fit) = fit_backend(&text, "redis").unwrap();
        assert!(fit.value.starts_with("{ dist: lognormal, median: 0.4"), "{fit:?}");
        assert!(fit.value.ends_with("ms }") && fit.value.contains(", p99: 1."), "{fit:?}");
        assert_eq!(fit.basis, 5_000);
    }

    #[test]
    fn refuses_what_cannot_support_a_fit() {
        let insufficient = |result: Result<LognormalFit, CalibrationError>| match result {
            Err(CalibrationError::Insufficient { key, why }) => {
                assert_eq!(key, "latency.redis");
                why
            }
            other => panic!("{other:?}"),
        };
        let fit = |counts: &[u64; 17]| fit_lognormal(&histogram_of(counts), "latency.redis");
        let mut counts = [0; 17];
        counts[3..6].copy_from_slice(&[30, 40, 29]);
        assert!(insufficient(fit(&counts)).contains("99 calls, at least 100 needed"));
        counts[4] = 41;
        assert!(fit(&counts).is_ok());
        let one = std::array::from_fn(|at| if at == 5 { 10_000 } else { 0 });
        assert!(insufficient(fit(&one)).contains("in 1 bucket"));
        let two = std::array::from_fn(|at| [0, 0, 0, 0, 0, 700, 300, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0][at]);
        assert!(insufficient(fit(&two)).contains("two neighbouring buckets"));
        let ends = std::array::from_fn(|at| if at == 0 || at == 16 { 500 } else { 0 });
        assert!(insufficient(fit(&ends)).contains("none between"));
        // Two buckets apart do show a spread.
        let apart = std::array::from_fn(|at| [0, 0, 0, 0, 0, 700, 0, 300, 0, 0, 0, 0, 0, 0, 0, 0, 0][at]);
        assert!(fit(&apart).is_ok());

        let zero = Histogram {
            buckets: vec![(0.0, 50), (0.001, 100), (0.01, 150), (f64::INFINITY, 200)],
            count: 200,
            sum: 0.0,
        };
        assert!(insufficient(fit_lognormal(&zero, "latency.redis")).contains("at or below 0 s"));
        let unordered =
            Histogram { buckets: vec![(0.01, 50), (0.001, 100), (f64::INFINITY, 200)], count: 200, sum: 0.0 };
        assert!(matches!(fit_lognormal(&unordered, "x"), Err(CalibrationError::Malformed(_))));
        let open = Histogram { buckets: vec![(0.001, 100), (0.01, 200)], count: 200, sum: 0.0 };
        assert!(matches!(fit_lognormal(&open, "x"), Err(CalibrationError::Malformed(_))));
    }

    #[test]
    fn a_backend_without_series_names_the_metric_and_the_label() {
        let text = exposition("redis", &draw(0.0007, 0.003, 1_000, 2));
        match fit_backend(&text, "dynamodb") {
            Err(CalibrationError::Insufficient { key, why }) => {
                assert_eq!(key, "latency.dynamodb");
                assert!(why.contains(METRIC) && why.contains("backend=\"dynamodb\""), "{why}");
            }
            other => panic!("{other:?}"),
        }
        // Only failed calls: nothing to fit either.
        let failed = series("backend=\"dynamodb\",call=\"get\",result=\"error\"", &draw(0.009, 0.06, 1_000, 3));
        assert!(matches!(fit_backend(&failed, "dynamodb"), Err(CalibrationError::Insufficient { .. })));
        assert!(matches!(fit_backend("bad line\n", "redis"), Err(CalibrationError::Malformed(_))));
    }
}
