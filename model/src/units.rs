//! Quantities in scenario files: fractional durations (latencies need sub-millisecond values),
//! byte sizes with units, plain counts, and the distributions built from them.
//!
//! Whole-run durations (`duration`, `warmup`, fault times) use the engine's
//! [`hotcold_engine::config::duration`] format; distribution parameters use [`Seconds`], which
//! accepts the same units plus `us` and keeps fractions of a millisecond.

use std::fmt;

use rand::Rng;
use rand_distr::{Distribution, Exp, LogNormal, Pareto};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// z-score of the 95th percentile of a standard normal.
const Z95: f64 = 1.644_853_626_951_472_2;
/// z-score of the 99th percentile of a standard normal.
const Z99: f64 = 2.326_347_874_040_841;

/// How a distribution's values are written and read: seconds, bytes or a plain number.
pub trait Quantity: Copy + fmt::Debug + PartialEq {
    /// The value in its base unit (seconds, bytes, count).
    fn base(self) -> f64;
    /// What the value is, for error messages.
    const WHAT: &'static str;
    /// The largest value accepted, in the base unit.
    const MAX: f64;
    /// [`Quantity::MAX`] as error messages name it.
    const MAX_TEXT: &'static str;
}

/// The longest duration a distribution accepts, seconds: the engine's bound on every duration
/// key, 100 years. A think time or gap is added to the scenario clock, a latency to the latency
/// totals, and their sums must stay far from overflowing.
const MAX_SECONDS: f64 = hotcold_engine::config::duration::MAX.as_secs_f64();
const _: () = assert!(MAX_SECONDS == 3_155_760_000.0, "Seconds::MAX_TEXT names this bound");

/// A duration in seconds, fractional; written as seconds or a string with units
/// (`us`, `ms`, `s`, `m`, `h`, `d`, `w`; `0.4ms`, `3d12h`).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Seconds(pub f64);

/// A byte size; written as an integer or a string with a unit (`B`, `KB`, `KiB`, `MB`, `MiB`,
/// `GB`, `GiB`: `8KiB`, `1.5MB`).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Bytes(pub f64);

/// A plain non-negative number (a count of requests).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Count(pub f64);

impl Quantity for Seconds {
    fn base(self) -> f64 {
        self.0
    }
    const WHAT: &'static str =
        "a duration: seconds as a number, or a string such as \"0.4ms\", \"30s\", \"5m\", \"2h\"";
    const MAX: f64 = MAX_SECONDS;
    const MAX_TEXT: &'static str = "100 years (3155760000 s)";
}

impl Quantity for Bytes {
    fn base(self) -> f64 {
        self.0
    }
    const WHAT: &'static str = "a byte size: an integer, or a string such as \"1500\", \"8KiB\", \"1.5MB\"";
    // Payloads are capped at `engine.max_data_bytes` when drawn: any finite size is safe.
    const MAX: f64 = f64::MAX;
    const MAX_TEXT: &'static str = "the largest finite number";
}

impl Quantity for Count {
    fn base(self) -> f64 {
        self.0
    }
    const WHAT: &'static str = "a non-negative number";
    // Counts are bounded by the checks on their mean (requests per visit: 1e6).
    const MAX: f64 = f64::MAX;
    const MAX_TEXT: &'static str = "the largest finite number";
}

fn check_finite(value: f64) -> Result<f64, String> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(format!("must be a non-negative number, got {value}"))
    }
}

/// Splits `text` into `<number><unit>` parts and sums them with `unit_of`.
fn parse_with_units(text: &str, unit_of: impl Fn(&str) -> Option<f64>, units: &str) -> Result<f64, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty value".into());
    }
    if let Ok(number) = text.parse::<f64>() {
        return check_finite(number);
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if number_len == 0 {
            return Err(format!("expected a number in {text:?}"));
        }
        let number: f64 =
            rest[..number_len].parse().map_err(|_| format!("bad number {:?} in {text:?}", &rest[..number_len]))?;
        rest = rest[number_len..].trim_start();
        let unit_len = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        let factor = unit_of(unit).ok_or_else(|| {
            if unit.is_empty() {
                format!("missing unit after {number} in {text:?} (use {units})")
            } else {
                format!("unknown unit {unit:?} in {text:?} (use {units})")
            }
        })?;
        rest = rest[unit_len..].trim_start();
        // Divide for sub-unit factors so `0.4ms` is exactly 0.4 / 1000.
        total += if factor < 1.0 { number / (1.0 / factor).round() } else { number * factor };
    }
    check_finite(total)
}

/// Parses a fractional duration into seconds.
pub fn parse_seconds(text: &str) -> Result<f64, String> {
    parse_with_units(
        text,
        |unit| match unit {
            "us" => Some(1e-6),
            "ms" => Some(1e-3),
            "s" => Some(1.0),
            "m" | "min" => Some(60.0),
            "h" => Some(3600.0),
            "d" => Some(86_400.0),
            "w" => Some(604_800.0),
            _ => None,
        },
        "us, ms, s, m, h, d or w",
    )
}

/// Parses a byte size into bytes.
pub fn parse_bytes(text: &str) -> Result<f64, String> {
    parse_with_units(
        text,
        |unit| match unit {
            "B" | "b" => Some(1.0),
            "KB" | "kB" => Some(1e3),
            "KiB" => Some(1024.0),
            "MB" => Some(1e6),
            "MiB" => Some(1_048_576.0),
            "GB" => Some(1e9),
            "GiB" => Some(1_073_741_824.0),
            _ => None,
        },
        "B, KB, KiB, MB, MiB, GB or GiB",
    )
}

struct QuantityVisitor<F> {
    what: &'static str,
    parse: F,
}

impl<F: Fn(&str) -> Result<f64, String>> Visitor<'_> for QuantityVisitor<F> {
    type Value = f64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.what)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        check_finite(v as f64).map_err(E::custom)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        check_finite(v).map_err(E::custom)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
        (self.parse)(v).map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(QuantityVisitor { what: Self::WHAT, parse: parse_seconds }).map(Self)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(QuantityVisitor { what: Self::WHAT, parse: parse_bytes }).map(Self)
    }
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let parse = |text: &str| text.trim().parse::<f64>().map_err(|e| e.to_string()).and_then(check_finite);
        deserializer.deserialize_any(QuantityVisitor { what: Self::WHAT, parse }).map(Self)
    }
}

/// A number for an error message: in exponent notation when it is huge (`1e300`, not three
/// hundred digits).
pub fn short_number(value: f64) -> String {
    if value.abs() < 1e9 { format!("{value}") } else { format!("{value:e}") }
}

/// Writes a float without a trailing `.0` when it is whole.
fn number_text(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 { format!("{}", value as i64) } else { format!("{value}") }
}

impl Serialize for Seconds {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0.fract() == 0.0 && self.0 < 1e15 {
            serializer.serialize_u64(self.0 as u64)
        } else if (self.0 * 1000.0).fract().abs() < 1e-9 || self.0 >= 1e-3 {
            serializer.serialize_str(&format!("{}ms", number_text((self.0 * 1e6).round() / 1e3)))
        } else {
            serializer.serialize_str(&format!("{}us", number_text((self.0 * 1e9).round() / 1e3)))
        }
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0.fract() == 0.0 && self.0 < 1e15 {
            serializer.serialize_u64(self.0 as u64)
        } else {
            serializer.serialize_f64(self.0)
        }
    }
}

impl Serialize for Count {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0.fract() == 0.0 && self.0 < 1e15 {
            serializer.serialize_u64(self.0 as u64)
        } else {
            serializer.serialize_f64(self.0)
        }
    }
}

/// A distribution as written in a scenario: `{dist: constant, value: X}`, `{dist: uniform, min,
/// max}`, `{dist: exponential, mean}`, `{dist: lognormal, median, p95 | p99}`, `{dist: pareto,
/// min, alpha}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "snake_case", deny_unknown_fields)]
pub enum DistSpec<Q> {
    /// Always `value`.
    Constant {
        /// The value.
        value: Q,
    },
    /// Uniform on `[min, max]`.
    Uniform {
        /// Lower bound.
        min: Q,
        /// Upper bound.
        max: Q,
    },
    /// Exponential with mean `mean`.
    Exponential {
        /// The mean.
        mean: Q,
    },
    /// Lognormal given by its median and its 95th or 99th percentile (exactly one of them).
    Lognormal {
        /// The median.
        median: Q,
        /// The 95th percentile.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        p95: Option<Q>,
        /// The 99th percentile.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        p99: Option<Q>,
    },
    /// Pareto (type I) with scale `min` and shape `alpha`.
    Pareto {
        /// The minimum value (scale).
        min: Q,
        /// The shape (tail index); the mean is finite for `alpha > 1`.
        alpha: f64,
    },
}

impl<Q: Quantity> DistSpec<Q> {
    /// Checks the parameters; the error says what is wrong (the caller adds the key path).
    pub fn check(&self) -> Result<(), String> {
        if let Some(value) = self.parameters().into_iter().flatten().find(|value| *value > Q::MAX) {
            return Err(format!("{} is more than {}, the largest accepted", short_number(value), Q::MAX_TEXT));
        }
        match *self {
            Self::Constant { .. } => Ok(()),
            Self::Uniform { min, max } if min.base() > max.base() => {
                Err(format!("uniform: min ({}) is greater than max ({})", min.base(), max.base()))
            }
            Self::Uniform { .. } => Ok(()),
            Self::Exponential { mean } if mean.base() <= 0.0 => Err("exponential: mean must be greater than 0".into()),
            Self::Exponential { .. } => Ok(()),
            Self::Lognormal { median, p95, p99 } => {
                let tail = match (p95, p99) {
                    (Some(p), None) | (None, Some(p)) => p,
                    (Some(_), Some(_)) => return Err("lognormal: give p95 or p99, not both".into()),
                    (None, None) => return Err("lognormal: missing p95 or p99".into()),
                };
                if median.base() <= 0.0 {
                    Err("lognormal: median must be greater than 0".into())
                } else if tail.base() < median.base() {
                    Err("lognormal: the tail percentile must be at least the median".into())
                } else {
                    Ok(())
                }
            }
            Self::Pareto { min, alpha } => {
                if min.base() <= 0.0 {
                    Err("pareto: min must be greater than 0".into())
                } else if !(alpha.is_finite() && alpha > 0.0) {
                    Err("pareto: alpha must be greater than 0".into())
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Every value given (not the Pareto shape), in base units.
    fn parameters(&self) -> [Option<f64>; 3] {
        match *self {
            Self::Constant { value: q } | Self::Exponential { mean: q } | Self::Pareto { min: q, .. } => {
                [Some(q.base()), None, None]
            }
            Self::Uniform { min, max } => [Some(min.base()), Some(max.base()), None],
            Self::Lognormal { median, p95, p99 } => [Some(median.base()), p95.map(Q::base), p99.map(Q::base)],
        }
    }

    /// A sampler of this distribution in base units. Call [`DistSpec::check`] first; an invalid
    /// spec samples a constant 0 rather than panicking.
    pub fn sampler(&self) -> Sampler {
        let sampler = match *self {
            Self::Constant { value } => Some(Sampler::Constant(value.base())),
            Self::Uniform { min, max } => Some(Sampler::Uniform(min.base(), max.base() - min.base())),
            Self::Exponential { mean } => Exp::new(1.0 / mean.base()).ok().map(Sampler::Exponential),
            Self::Lognormal { median, p95, p99 } => {
                let sigma = match (p95, p99) {
                    (Some(p), _) => (p.base() / median.base()).ln() / Z95,
                    (None, Some(p)) => (p.base() / median.base()).ln() / Z99,
                    (None, None) => 0.0,
                };
                LogNormal::new(median.base().ln(), sigma).ok().map(Sampler::Lognormal)
            }
            Self::Pareto { min, alpha } => Pareto::new(min.base(), alpha).ok().map(Sampler::Pareto),
        };
        sampler.unwrap_or(Sampler::Constant(0.0))
    }

    /// The mean in base units (infinite for a Pareto with `alpha <= 1`).
    pub fn mean(&self) -> f64 {
        match *self {
            Self::Constant { value } => value.base(),
            Self::Uniform { min, max } => (min.base() + max.base()) / 2.0,
            Self::Exponential { mean } => mean.base(),
            Self::Lognormal { median, .. } => match self.sampler() {
                Sampler::Lognormal(_) => {
                    let sigma = self.sigma();
                    median.base() * (sigma * sigma / 2.0).exp()
                }
                _ => median.base(),
            },
            Self::Pareto { min, alpha } => {
                if alpha > 1.0 {
                    alpha * min.base() / (alpha - 1.0)
                } else {
                    f64::INFINITY
                }
            }
        }
    }

    fn sigma(&self) -> f64 {
        match *self {
            Self::Lognormal { median, p95: Some(p), .. } => (p.base() / median.base()).ln() / Z95,
            Self::Lognormal { median, p99: Some(p), .. } => (p.base() / median.base()).ln() / Z99,
            _ => 0.0,
        }
    }
}

impl<Q: Quantity> DistSpec<Q> {
    /// The `p` quantile (inverse CDF) in base units, for `p` in [0, 1).
    pub fn quantile(&self, p: f64) -> f64 {
        let p = p.clamp(0.0, 1.0 - f64::EPSILON);
        match *self {
            Self::Constant { value } => value.base(),
            Self::Uniform { min, max } => min.base() + p * (max.base() - min.base()),
            Self::Exponential { mean } => -mean.base() * (1.0 - p).ln(),
            Self::Lognormal { median, .. } => median.base() * (self.sigma() * inverse_normal_cdf(p)).exp(),
            Self::Pareto { min, alpha } => min.base() * (1.0 - p).powf(-1.0 / alpha),
        }
    }

    /// A table-driven sampler of this distribution (see [`FastSampler`]).
    pub fn fast_sampler(&self) -> FastSampler
    where
        Q: Send + Sync + 'static,
    {
        let spec = *self;
        FastSampler::new(move |p| spec.quantile(p))
    }
}

/// Bins of a [`FastSampler`]'s inverse-CDF table.
const FAST_BINS: usize = 1024;
const _: () = assert!(FAST_BINS.is_power_of_two(), "FastSampler splits random bits at a power of two");

/// Samples a distribution by inverting its CDF from a table of 1025 quantiles with linear
/// interpolation inside each 1/1024 probability bin; the two outer bins (where a lognormal or
/// Pareto tail curves most) are computed exactly. One uniform draw per sample, no `exp`/`ln` in
/// the common case: several times faster than sampling a normal and exponentiating, with a
/// distribution identical to the exact one at every 1/1024 quantile.
pub struct FastSampler {
    table: Box<[f64; FAST_BINS + 1]>,
    quantile: Box<dyn Fn(f64) -> f64 + Send + Sync>,
}

impl std::fmt::Debug for FastSampler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FastSampler").field("median", &self.table[FAST_BINS / 2]).finish()
    }
}

impl FastSampler {
    /// A sampler for the distribution with quantile function `quantile`.
    pub fn new(quantile: impl Fn(f64) -> f64 + Send + Sync + 'static + Clone) -> Self {
        let table = Box::new(std::array::from_fn(|i| quantile(i as f64 / FAST_BINS as f64)));
        Self { table, quantile: Box::new(quantile) }
    }

    /// One value.
    #[inline]
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        // u = bits / 2^53 with 53 random bits; its bin is the top 10 of them and its place in the
        // bin the other 43: the same numbers as `u * 1024` split into whole and fraction, exactly
        // (scaling by powers of two), without converting between floats and integers.
        const FRACTION_BITS: u32 = 53 - FAST_BINS.trailing_zeros();
        let bits = rng.next_u64() >> 11;
        let bin = (bits >> FRACTION_BITS) as usize;
        if bin == 0 || bin >= FAST_BINS - 1 {
            return (self.quantile)(bits as f64 * (1.0 / (1u64 << 53) as f64));
        }
        let fraction = (bits & ((1 << FRACTION_BITS) - 1)) as f64 * (1.0 / (1u64 << FRACTION_BITS) as f64);
        let (low, high) = (self.table[bin], self.table[bin + 1]);
        low + fraction * (high - low)
    }
}

/// The standard normal quantile function (Acklam's rational approximation, relative error below
/// 1.2e-9), for `p` in (0, 1); 0 gives a large negative number rather than infinity.
pub fn inverse_normal_cdf(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] =
        [7.784_695_709_041_462e-3, 3.224_671_290_700_398e-1, 2.445_134_137_142_996, 3.754_408_661_907_416];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let low = 0.024_25;
    if p < low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    }
}

/// A ready-to-sample distribution in base units (seconds, bytes, count).
#[derive(Debug, Clone, Copy)]
pub enum Sampler {
    /// Always this value.
    Constant(f64),
    /// `min + U(0,1) * width`.
    Uniform(f64, f64),
    /// Exponential.
    Exponential(Exp<f64>),
    /// Lognormal.
    Lognormal(LogNormal<f64>),
    /// Pareto.
    Pareto(Pareto<f64>),
}

impl Sampler {
    /// One value.
    #[inline]
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        match self {
            Self::Constant(v) => *v,
            Self::Uniform(min, width) => min + rng.random::<f64>() * width,
            Self::Exponential(d) => d.sample(rng),
            Self::Lognormal(d) => d.sample(rng),
            Self::Pareto(d) => d.sample(rng),
        }
    }

    /// True when every sample is the same value.
    pub const fn is_constant(&self) -> bool {
        matches!(self, Self::Constant(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_and_bytes_parse_with_units() {
        assert_eq!(parse_seconds("0.4ms"), Ok(0.0004));
        assert_eq!(parse_seconds("3d12h"), Ok(302_400.0));
        assert_eq!(parse_seconds("250us").map(|s| (s * 1e6).round()), Ok(250.0));
        assert!(parse_seconds("5x").is_err());
        assert!(parse_seconds("ms").is_err());
        assert_eq!(parse_bytes("8KiB"), Ok(8192.0));
        assert_eq!(parse_bytes("1.5MB"), Ok(1_500_000.0));
        assert!(parse_bytes("3 parsecs").is_err());
    }

    #[test]
    fn lognormal_matches_its_percentiles() {
        let spec: DistSpec<Count> = DistSpec::Lognormal { median: Count(8.0), p95: Some(Count(40.0)), p99: None };
        spec.check().unwrap();
        let sampler = spec.sampler();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut values: Vec<f64> = (0..100_000).map(|_| sampler.sample(&mut rng)).collect();
        values.sort_by(f64::total_cmp);
        let median = values[50_000];
        let p95 = values[95_000];
        assert!((median - 8.0).abs() / 8.0 < 0.03, "{median}");
        assert!((p95 - 40.0).abs() / 40.0 < 0.05, "{p95}");
    }

    #[test]
    fn fast_sampler_matches_the_exact_distribution() {
        let spec: DistSpec<Seconds> =
            DistSpec::Lognormal { median: Seconds(0.0004), p95: None, p99: Some(Seconds(0.0013)) };
        assert!((inverse_normal_cdf(0.99) - Z99).abs() < 1e-8);
        assert!((spec.quantile(0.5) - 0.0004).abs() < 1e-12);
        assert!((spec.quantile(0.99) - 0.0013).abs() < 1e-9);
        let fast = spec.fast_sampler();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        let mut values: Vec<f64> = (0..200_000).map(|_| fast.sample(&mut rng)).collect();
        values.sort_by(f64::total_cmp);
        for (q, expected) in [(0.5, 0.0004), (0.99, 0.0013)] {
            let got = values[(q * values.len() as f64) as usize];
            assert!((got - expected).abs() / expected < 0.03, "q{q}: {got} vs {expected}");
        }
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        assert!((mean - spec.mean()).abs() / spec.mean() < 0.02, "{mean} vs {}", spec.mean());
        let pareto: DistSpec<Count> = DistSpec::Pareto { min: Count(2.0), alpha: 3.0 };
        assert_eq!(pareto.quantile(0.0), 2.0);
        let exp: DistSpec<Count> = DistSpec::Exponential { mean: Count(5.0) };
        assert!((exp.quantile(1.0 - (-1.0f64).exp()) - 5.0).abs() < 1e-9);
    }

    use rand::SeedableRng;
}
