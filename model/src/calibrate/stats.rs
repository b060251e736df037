//! The few numerical pieces the fits share: the normal CDF, the lognormal both the traffic and
//! the latency fits estimate, a small simplex minimiser, and the rounding of what they print.

use std::f64::consts::TAU;

pub use crate::units::inverse_normal_cdf;

/// z of the 95th percentile.
const Z95: f64 = 1.644_853_626_951_472_2;

/// The standard normal CDF, Φ(x), from `libm::erfc` (accurate in both tails).
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// P(a < Z ≤ b) for a standard normal Z, from the tail nearer the interval, so that far-tail
/// intervals do not vanish in the rounding of 1 − ε.
pub fn normal_between(a: f64, b: f64) -> f64 {
    if a > 0.0 { normal_cdf(-a) - normal_cdf(-b) } else { normal_cdf(b) - normal_cdf(a) }
}

/// A lognormal by the mean `mu` and standard deviation `sigma` of its logarithm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Lognormal {
    pub(crate) mu: f64,
    pub(crate) sigma: f64,
}

impl Lognormal {
    /// From the optimiser's point `[mu, ln sigma]`.
    pub(crate) fn at(x: &[f64]) -> Self {
        Self { mu: x.first().copied().unwrap_or(0.0), sigma: x.get(1).copied().unwrap_or(0.0).exp() }
    }

    pub(crate) fn median(self) -> f64 {
        self.mu.exp()
    }

    pub(crate) fn p95(self) -> f64 {
        (self.mu + Z95 * self.sigma).exp()
    }

    pub(crate) fn cdf(self, x: f64) -> f64 {
        if x <= 0.0 {
            0.0
        } else if x == f64::INFINITY {
            1.0
        } else {
            normal_cdf((x.ln() - self.mu) / self.sigma)
        }
    }

    /// P(a < X ≤ b), accurate in both tails ([`normal_between`]).
    pub(crate) fn between(self, a: f64, b: f64) -> f64 {
        let z = |x: f64| if x <= 0.0 { f64::NEG_INFINITY } else { (x.ln() - self.mu) / self.sigma };
        normal_between(z(a), z(b))
    }

    pub(crate) fn ln_pdf(self, x: f64) -> f64 {
        let z = (x.ln() - self.mu) / self.sigma;
        -0.5 * z * z - self.sigma.ln() - x.ln() - 0.5 * TAU.ln()
    }

    /// The lognormal of the logarithms' sample mean and standard deviation (a start for the
    /// optimiser, or the MLE for uncensored data).
    pub(crate) fn of_logs(logs: impl Iterator<Item = f64> + Clone) -> Option<Self> {
        let (n, sum) = logs.clone().fold((0.0, 0.0), |(n, sum), x| (n + 1.0, sum + x));
        if n < 2.0 {
            return None;
        }
        let mu = sum / n;
        let variance = logs.map(|x| (x - mu) * (x - mu)).sum::<f64>() / n;
        let sigma = variance.sqrt().max(1e-3);
        (mu.is_finite() && sigma.is_finite()).then_some(Self { mu, sigma })
    }
}

/// `x` rounded to `digits` significant digits, as the fitted values are written (non-finite and
/// 0 unchanged).
pub fn significant(x: f64, digits: i32) -> f64 {
    if !x.is_finite() || x == 0.0 {
        return x;
    }
    let scale = 10f64.powi(digits - 1 - x.abs().log10().floor() as i32);
    if scale.is_finite() && (x * scale).is_finite() { (x * scale).round() / scale } else { x }
}

/// Minimises `f` over `start.len()` dimensions with the Nelder–Mead simplex method, starting
/// from `start` with initial steps `step`; stops after `max_iterations` or when the simplex's
/// values agree within `tolerance`. Returns the best point and its value. A non-finite value
/// counts as +∞, so `f` may refuse a region by answering NaN or ∞.
pub fn nelder_mead(
    f: impl Fn(&[f64]) -> f64,
    start: &[f64],
    step: &[f64],
    tolerance: f64,
    max_iterations: usize,
) -> (Vec<f64>, f64) {
    let n = start.len();
    let value = |x: &[f64]| {
        let v = f(x);
        if v.is_finite() { v } else { f64::INFINITY }
    };
    let mut simplex: Vec<(Vec<f64>, f64)> = Vec::with_capacity(n + 1);
    simplex.push((start.to_vec(), value(start)));
    for i in 0..n {
        let mut x = start.to_vec();
        x[i] += step.get(i).copied().unwrap_or(1.0);
        let v = value(&x);
        simplex.push((x, v));
    }
    for _ in 0..max_iterations {
        simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
        let (best, worst) = (simplex[0].1, simplex[n].1);
        if worst.is_finite() && (worst - best).abs() <= tolerance * (best.abs() + tolerance) {
            break;
        }
        let centroid: Vec<f64> =
            (0..n).map(|d| simplex[..n].iter().map(|(x, _)| x[d]).sum::<f64>() / n as f64).collect();
        let towards =
            |t: f64| -> Vec<f64> { centroid.iter().zip(&simplex[n].0).map(|(c, w)| c + t * (w - c)).collect() };
        let reflected = towards(-1.0);
        let reflected_value = value(&reflected);
        if reflected_value < simplex[0].1 {
            let expanded = towards(-2.0);
            let expanded_value = value(&expanded);
            simplex[n] = if expanded_value < reflected_value {
                (expanded, expanded_value)
            } else {
                (reflected, reflected_value)
            };
        } else if reflected_value < simplex[n - 1].1 {
            simplex[n] = (reflected, reflected_value);
        } else {
            let contracted = if reflected_value < simplex[n].1 { towards(-0.5) } else { towards(0.5) };
            let contracted_value = value(&contracted);
            if contracted_value < simplex[n].1.min(reflected_value) {
                simplex[n] = (contracted, contracted_value);
            } else {
                // Shrink towards the best point.
                let best_point = simplex[0].0.clone();
                for (x, v) in simplex.iter_mut().skip(1) {
                    for (xi, bi) in x.iter_mut().zip(&best_point) {
                        *xi = bi + 0.5 * (*xi - bi);
                    }
                    *v = value(x);
                }
            }
        }
    }
    simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
    simplex.swap_remove(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_to_three_significant_figures() {
        assert_eq!(significant(0.412_34, 3), 0.412);
        assert_eq!(significant(1234.5, 3), 1230.0);
        assert_eq!(significant(9.049, 3), 9.05);
        assert_eq!(significant(0.0, 3), 0.0);
    }

    #[test]
    fn the_normal_cdf_inverts_the_quantile_function() {
        for p in [1e-6, 0.01, 0.3, 0.5, 0.95, 0.999] {
            assert!((normal_cdf(inverse_normal_cdf(p)) - p).abs() < 1e-8 * p.max(1e-3), "{p}");
        }
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-15);
    }

    #[test]
    fn nelder_mead_finds_the_minimum_of_a_bowl_and_respects_refused_regions() {
        let (x, v) =
            nelder_mead(|x| (x[0] - 3.0).powi(2) + 10.0 * (x[1] + 1.0).powi(2), &[0.0, 0.0], &[1.0, 1.0], 1e-12, 2000);
        assert!((x[0] - 3.0).abs() < 1e-4 && (x[1] + 1.0).abs() < 1e-4 && v < 1e-8, "{x:?} {v}");
        // The minimum of (x - 2)² restricted to x <= 1 is at 1.
        let (x, _) =
            nelder_mead(|x| if x[0] > 1.0 { f64::NAN } else { (x[0] - 2.0).powi(2) }, &[-3.0], &[0.5], 1e-12, 2000);
        assert!((x[0] - 1.0).abs() < 1e-3, "{x:?}");
    }
}
