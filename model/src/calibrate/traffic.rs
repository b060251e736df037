//! The traffic half of `hotcold calibrate`: a scenario's `traffic:` block fitted from the
//! analytics export's session summaries ([`AnalyticsRow`]), by inverting the generator of
//! [`crate::traffic`] (arrivals on a daily sinusoid, lognormal visits and think times, a logout or
//! a return after each visit).
//!
//! How the rows arise, and what the fits therefore use:
//! - A summary is written when a session changes tier or ends, so a row's counts are as of its
//!   last tier change or end. A *quiescent* row ([`AnalyticsRow::is_quiescent`]: ended, or last
//!   demoted after 30 idle minutes) has final counts for every visit it covers; only those rows
//!   feed the per-visit fits. A row last written by a promotion is mid-visit and only counts as
//!   a session created.
//! - A session still in its first visit has no row at all (the first demotion comes a visit gap
//!   or a little more after its last request), so every fit uses only the sessions created
//!   before the window's last [`SETTLE_GAPS`] visit gaps: "settled" sessions.
//! - Visits are told apart by gaps (τ, the visit gap the rows were counted with: the promotion
//!   threshold, [`crate::analytics::VISIT_GAP_MS`] = 30 min in production): a true return less than τ after
//!   the visit is merged into it (invisible; the fits below model that, see [`fit_traffic`]),
//!   and a think time over τ would look like a return. The latter is negligible: 1.5e-4 of think
//!   times for the tests' scenario (median 45 s, p95 4 m), 4e-4 for the defaults (20 s, 3 m).
//!
//! What cannot be fitted is kept from the base scenario and listed with the reason
//! ([`TrafficFit::kept`]): `travel_probability` (the table does not say which region served each
//! request), `growth_per_month` (needs months of data), every region's `utc_offset` (the export's
//! times are UTC), and the regions of the base that have no sessions in the export.

use std::collections::BTreeMap;
use std::f64::consts::{PI, TAU};

use super::stats::{Lognormal, nelder_mead, significant};
use super::{CalibrationError, Fit};
use crate::analytics::AnalyticsRow;
use crate::scenario::{RegionTraffic, Traffic};
use crate::units::{Bytes, Count, DistSpec, Seconds};

/// An hour, ms.
const HOUR_MS: u64 = 3_600_000;
/// A day, ms.
const DAY_MS: u64 = 86_400_000;
/// Creations less than this many visit gaps before the window's end are left out of every fit:
/// such a session may still be in its first visit and so have no row yet (which would bias the
/// rate down and the visits short). Four gaps (2 hours at 30 minutes) against the gap and a
/// little more before a first demotion writes a row.
pub const SETTLE_GAPS: u64 = 4;
/// Fewest sessions (or samples) a distribution or a rate is fitted from.
pub const MIN_SESSIONS: usize = 100;
/// Fewest two-visit sessions the return gap is fitted from: a lognormal's two parameters from
/// fewer, truncated at both ends, would be mostly noise.
pub const MIN_RETURNS: usize = 30;
/// z of a two-sided 95 % interval.
const Z975: f64 = 1.959_963_984_540_054;
/// Request counts at or above this are one censored class in the request-count likelihood, which
/// costs O(cap²) per evaluation (for both tests' and the default visits, under 1e-5 of visits).
const REQUESTS_CAP: usize = 500;
/// Largest fitted peak-to-trough amplitude, (1 + a) / (1 − a) = 99: a curve with a near-empty
/// trough is not a sinusoid and the ratio would be noise.
const MAX_AMPLITUDE: f64 = 0.98;

/// The span of time an export covers, ms since 1970.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Start, ms.
    pub start_ms: u64,
    /// End, ms.
    pub end_ms: u64,
}

impl Window {
    /// The span of `rows`: the earliest creation to the latest event, end or request (times of 0,
    /// "unknown", are ignored). `None` without a known creation time.
    pub fn of(rows: &[AnalyticsRow]) -> Option<Self> {
        let start_ms = rows.iter().map(|row| row.created_at_ms).filter(|t| *t > 0).min()?;
        let end_ms = rows
            .iter()
            .flat_map(|row| [row.last_event_at_ms, row.ended_at_ms.unwrap_or(0), row.last_request_at_ms])
            .max()
            .unwrap_or(start_ms)
            .max(start_ms);
        Some(Self { start_ms, end_ms })
    }

    /// How long the window is, ms.
    pub const fn span_ms(self) -> u64 {
        self.end_ms.saturating_sub(self.start_ms)
    }

    /// How long the window is, days.
    pub fn days(self) -> f64 {
        self.span_ms() as f64 / DAY_MS as f64
    }

    /// The end of the creations the fits use with visit gap `gap_ms` (see [`SETTLE_GAPS`]).
    fn settled_end_ms(self, gap_ms: u64) -> u64 {
        self.end_ms.saturating_sub(SETTLE_GAPS.saturating_mul(gap_ms))
    }
}

/// The fitted `traffic:` block and the evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficFit {
    /// The base scenario's traffic with every fitted value replaced.
    pub traffic: Traffic,
    /// One line per fitted value.
    pub fits: Vec<Fit>,
    /// The keys kept from the base, each with why it was not fitted.
    pub kept: Vec<(String, String)>,
}

/// Fits the `traffic:` block to `rows`, an export covering `window`, keeping from `base` what
/// the data cannot tell. Refused ([`CalibrationError::Insufficient`], naming the key and the
/// numbers) when a region has fewer than [`MIN_SESSIONS`] settled sessions, the visits fewer
/// than [`MIN_SESSIONS`] samples, or the returns fewer than [`MIN_RETURNS`] two-visit sessions.
///
/// Order matters: the return gap and the logout and return probabilities come first
/// ([`fit_returns`]), because a true return within τ is merged into its visit with probability
/// m = (1 − L)·P·F_gap(τ) per visit end, and the request-count fit undoes that merging with m.
pub fn fit_traffic(
    rows: &[AnalyticsRow],
    window: Window,
    base: &Traffic,
    visit_gap_ms: u64,
) -> Result<TrafficFit, CalibrationError> {
    if visit_gap_ms == 0 {
        return Err(CalibrationError::Malformed("the visit gap must be positive".into()));
    }
    let gap = Gap { ms: visit_gap_ms as f64, text: minutes(visit_gap_ms) };
    let mut fits = Vec::new();
    let mut kept = Vec::new();
    let mut traffic = base.clone();
    let settle_ms = SETTLE_GAPS.saturating_mul(visit_gap_ms);
    traffic.regions = fit_regions(rows, settle_ms, window, base, &mut fits, &mut kept)?;

    let settled_end = window.settled_end_ms(visit_gap_ms);
    let quiescent: Vec<&AnalyticsRow> = rows
        .iter()
        .filter(|row| row.is_quiescent() && row.created_at_ms >= window.start_ms && row.created_at_ms < settled_end)
        .filter(|row| row.created_at_ms > 0 && row.requests > 0)
        .collect();

    let returns = fit_returns(&quiescent, window, &gap)?;
    traffic.visit.logout_probability = returns.logout;
    traffic.returns.probability = returns.probability;
    traffic.returns.gap = returns.gap_spec;
    fits.extend(returns.fits);

    let (requests, fit) = fit_requests(&quiescent, returns.merge, &gap)?;
    traffic.visit.requests = requests;
    fits.push(fit);
    let (think, fit) = fit_think_time(&quiescent, &gap)?;
    traffic.visit.think_time = think;
    fits.push(fit);
    let settled: Vec<&AnalyticsRow> =
        rows.iter().filter(|row| row.created_at_ms >= window.start_ms && row.created_at_ms < settled_end).collect();
    let (payload, fit) = fit_payload(&settled)?;
    traffic.visit.payload_bytes = payload;
    fits.push(fit);
    let (fraction, fit) = fit_update_fraction(&quiescent)?;
    traffic.visit.update_fraction = fraction;
    fits.push(fit);

    kept.push((
        "traffic.travel_probability".into(),
        "cannot be fitted: the analytics table does not record which region served each request".into(),
    ));
    kept.push((
        "traffic.growth_per_month".into(),
        format!(
            "not fitted: growth of a few % a month needs months of data against the daily curve's noise (the export \
             covers {:.1} days)",
            window.days()
        ),
    ));
    Ok(TrafficFit { traffic, fits, kept })
}

/// The visit gap τ the rows were counted with.
struct Gap {
    /// τ, ms.
    ms: f64,
    /// τ in words (`30 min`), for the goodness lines.
    text: String,
}

/// `ms` as minutes in words: `30 min`, `0.5 min`.
fn minutes(ms: u64) -> String {
    format!("{} min", significant(ms as f64 / 60_000.0, 3))
}

/// The minimum of `f` over two dimensions: Nelder–Mead, restarted once from its answer with
/// smaller steps (the first run can stall on a ridge).
fn minimise(f: impl Fn(&[f64]) -> f64, start: [f64; 2], step: f64) -> [f64; 2] {
    let (first, _) = nelder_mead(&f, &start, &[step, step], 1e-14, 4000);
    let (best, _) = nelder_mead(&f, &first, &[step / 10.0, step / 10.0], 1e-14, 4000);
    [best.first().copied().unwrap_or(start[0]), best.get(1).copied().unwrap_or(start[1])]
}

/// The covariance of a two-parameter MLE at `x`: the inverse of the numerical Hessian of the
/// negative log-likelihood `f` (the observed information); `None` when it is not positive
/// definite (a flat or non-finite likelihood).
fn covariance(f: impl Fn(&[f64]) -> f64, x: [f64; 2]) -> Option<[[f64; 2]; 2]> {
    let h = 1e-3;
    let at = |a: f64, b: f64| f(&[x[0] + a, x[1] + b]);
    let centre = at(0.0, 0.0);
    let h00 = (at(h, 0.0) - 2.0 * centre + at(-h, 0.0)) / (h * h);
    let h11 = (at(0.0, h) - 2.0 * centre + at(0.0, -h)) / (h * h);
    let h01 = (at(h, h) - at(h, -h) - at(-h, h) + at(-h, -h)) / (4.0 * h * h);
    let det = h00 * h11 - h01 * h01;
    (det.is_finite() && det > 0.0 && h00 > 0.0).then_some([[h11 / det, -h01 / det], [-h01 / det, h00 / det]])
}

/// The 95 % interval of a lognormal's median from the covariance of `[mu, ln sigma]`.
fn median_interval(fit: Lognormal, covariance: Option<[[f64; 2]; 2]>) -> String {
    match covariance {
        Some(c) if c[0][0] >= 0.0 => {
            let se = c[0][0].sqrt();
            format!(
                "95 % interval of the median {} to {}",
                significant(fit.mu.exp() / (Z975 * se).exp(), 3),
                significant((fit.mu + Z975 * se).exp(), 3)
            )
        }
        _ => "no interval (flat likelihood)".into(),
    }
}

/// A duration rounded to 3 significant digits in the largest unit it fills, and as a scenario
/// writes it (`45.2s`, `6.02h`, `2.01d`).
fn duration(seconds: f64) -> (f64, String) {
    let (unit, name) = match seconds {
        s if s >= 86_400.0 => (86_400.0, "d"),
        s if s >= 3_600.0 => (3_600.0, "h"),
        s if s >= 60.0 => (60.0, "m"),
        _ => (1.0, "s"),
    };
    let value = significant(seconds / unit, 3);
    (value * unit, format!("{value}{name}"))
}

/// Hours of the span `[start_ms, end_ms)` that fall in each UTC hour of the day.
fn hour_exposure(start_ms: u64, end_ms: u64) -> [f64; 24] {
    let whole_days = end_ms.saturating_sub(start_ms) / DAY_MS;
    let mut exposure = [whole_days as f64; 24];
    let mut t = start_ms.saturating_add(whole_days * DAY_MS);
    while t < end_ms {
        let next = (t / HOUR_MS + 1).saturating_mul(HOUR_MS).min(end_ms);
        exposure[((t / HOUR_MS) % 24) as usize] += (next - t) as f64 / HOUR_MS as f64;
        t = next;
    }
    exposure
}

/// Per region: `sessions_per_day`, `peak_to_trough` and `peak_hour`.
///
/// Creations of the settled span `[start, end − 2 h)` are counted by UTC hour of day; each
/// hour's count over its exposure (hours of the span in that hour of day) is its rate r_h. The
/// first Fourier harmonic of r_h gives the amplitude a and the UTC peak φ; a is divided by
/// sinc(π/24) because an hour's count averages the cosine over the hour. Then `peak_to_trough`
/// = (1 + a)/(1 − a), `peak_hour` = (φ + utc_offset) mod 24 (the generator's rate is
/// base·(1 + a·cos(2π(t_utc + utc_offset − peak_hour)/24)); utc_offset is kept from the base), and
/// `sessions_per_day` = the count over the curve's integral across the span (the plain count per
/// day when the span is whole days), with a Poisson 95 % interval. Standard errors for n
/// creations: a ± √(2/n), φ ± √(2/n)/a radians. Goodness of the curve: χ²/dof of the 24 hourly
/// counts against it (21 dof).
fn fit_regions(
    rows: &[AnalyticsRow],
    settle_ms: u64,
    window: Window,
    base: &Traffic,
    fits: &mut Vec<Fit>,
    kept: &mut Vec<(String, String)>,
) -> Result<BTreeMap<String, RegionTraffic>, CalibrationError> {
    let (start, stop) = (window.start_ms, window.end_ms.saturating_sub(settle_ms));
    let mut created: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for row in rows {
        if row.created_at_ms > 0
            && row.created_at_ms >= start
            && row.created_at_ms < stop
            && !row.home_region.is_empty()
        {
            created.entry(row.home_region.as_str()).or_default().push(row.created_at_ms);
        }
    }
    if created.is_empty() {
        let hours = window.span_ms() as f64 / HOUR_MS as f64;
        return Err(CalibrationError::Insufficient {
            key: "traffic.regions".into(),
            why: format!(
                "no session was created before the export's last {:.1} hours ({} rows over {hours:.1} hours)",
                settle_ms as f64 / HOUR_MS as f64,
                rows.len()
            ),
        });
    }
    let mut regions = BTreeMap::new();
    for (name, region) in &base.regions {
        if !created.contains_key(name.as_str()) {
            regions.insert(name.clone(), region.clone());
            kept.push((format!("traffic.regions.{name}"), "no session of this region in the export".into()));
        }
    }
    let exposure = hour_exposure(start, stop);
    let days = (stop - start) as f64 / DAY_MS as f64;
    let binning = (PI / 24.0).sin() / (PI / 24.0);
    for (name, times) in created {
        let key = |k: &str| format!("traffic.regions.{name}.{k}");
        let n = times.len();
        if n < MIN_SESSIONS {
            return Err(CalibrationError::Insufficient {
                key: key("sessions_per_day"),
                why: format!(
                    "{n} sessions created in the {days:.2} days before the export's last {:.1} hours, at least \
                     {MIN_SESSIONS} needed",
                    settle_ms as f64 / HOUR_MS as f64
                ),
            });
        }
        let known = base.regions.get(name);
        let mut region = known.cloned().unwrap_or(RegionTraffic {
            sessions_per_day: 0.0,
            utc_offset: 0.0,
            peak_hour: 20.0,
            peak_to_trough: 3.0,
        });
        let added = if known.is_none() {
            "; region not in the base scenario: added with utc_offset 0 (so peak_hour is UTC)"
        } else {
            kept.push((key("utc_offset"), "cannot be fitted: the export's times are UTC; kept from the base".into()));
            ""
        };
        let mut counts = [0.0f64; 24];
        for t in &times {
            counts[((t / HOUR_MS) % 24) as usize] += 1.0;
        }
        let angle = |h: usize| TAU * (h as f64 + 0.5) / 24.0;
        let whole_day = exposure.iter().all(|e| *e > 0.0);
        // Amplitude as binned (a·sinc) and the UTC peak, radians.
        let (binned, phase) = if whole_day {
            let rates: Vec<f64> = counts.iter().zip(&exposure).map(|(c, e)| c / e).collect();
            let mean = rates.iter().sum::<f64>() / 24.0;
            let (cos, sin) = rates
                .iter()
                .enumerate()
                .fold((0.0, 0.0), |(c, s), (h, r)| (c + r * angle(h).cos(), s + r * angle(h).sin()));
            let amplitude = 2.0 * cos.hypot(sin) / (24.0 * mean);
            let amplitude = (amplitude / binning).clamp(0.0, MAX_AMPLITUDE) * binning;
            (if amplitude.is_finite() { amplitude } else { 0.0 }, sin.atan2(cos))
        } else {
            // Less than a day: no curve; the rate assumes the base's curve is flat over the span.
            kept.push((key("peak_to_trough"), format!("not fitted: the export covers {days:.2} days, under one")));
            kept.push((key("peak_hour"), format!("not fitted: the export covers {days:.2} days, under one")));
            (0.0, 0.0)
        };
        let shape = |h: usize| 1.0 + binned * (angle(h) - phase).cos();
        let curve_hours: f64 = (0..24).map(|h| exposure[h] * shape(h)).sum();
        let per_hour = n as f64 / curve_hours;
        let per_day = |count: f64| count / curve_hours * 24.0;
        let spread = Z975 * (n as f64).sqrt();
        region.sessions_per_day = significant(per_day(n as f64), 4);
        fits.push(Fit {
            key: key("sessions_per_day"),
            value: format!("{}", region.sessions_per_day),
            goodness: format!(
                "95 % interval {} to {} (Poisson), over {days:.2} days{added}",
                significant(per_day(n as f64 - spread), 4),
                significant(per_day(n as f64 + spread), 4)
            ),
            basis: n as u64,
            basis_unit: "sessions",
        });
        if whole_day {
            let a = binned / binning;
            let chi2: f64 = (0..24)
                .map(|h| {
                    let expected = per_hour * exposure[h] * shape(h);
                    if expected > 0.0 { (counts[h] - expected).powi(2) / expected } else { 0.0 }
                })
                .sum::<f64>()
                / 21.0;
            let se_a = (2.0 / n as f64).sqrt();
            let ratio = |a: f64| {
                let a = a.clamp(0.0, MAX_AMPLITUDE);
                significant((1.0 + a) / (1.0 - a), 3)
            };
            region.peak_to_trough = ratio(a);
            let utc_peak = (phase * 24.0 / TAU).rem_euclid(24.0);
            region.peak_hour = significant((utc_peak + region.utc_offset).rem_euclid(24.0), 3);
            fits.push(Fit {
                key: key("peak_to_trough"),
                value: format!("{}", region.peak_to_trough),
                goodness: format!(
                    "χ²/dof {:.2} of the 24 hourly counts against the fitted curve; 95 % interval {} to {}{added}",
                    chi2,
                    ratio(a - Z975 * se_a),
                    ratio(a + Z975 * se_a)
                ),
                basis: n as u64,
                basis_unit: "sessions",
            });
            let se_hours = if a > 0.0 { se_a / a * 24.0 / TAU } else { f64::INFINITY };
            fits.push(Fit {
                key: key("peak_hour"),
                value: format!("{}", region.peak_hour),
                goodness: format!(
                    "χ²/dof {chi2:.2}; UTC peak {utc_peak:.2} h ± {:.2} h (95 %) + utc_offset {}{added}",
                    Z975 * se_hours,
                    region.utc_offset
                ),
                basis: n as u64,
                basis_unit: "sessions",
            });
        }
        regions.insert(name.to_string(), region);
    }
    Ok(regions)
}

/// What [`fit_returns`] found.
#[derive(Debug)]
struct Returns {
    logout: f64,
    probability: f64,
    gap_spec: DistSpec<Seconds>,
    /// The probability that a true visit end is followed by a return within τ (merged).
    merge: f64,
    fits: Vec<Fit>,
}

/// One settled quiescent session, as the return fits see it.
struct Ends {
    /// Visible returns (visits − 1).
    returns: f64,
    /// Whether its last visit ended with a logout.
    logged_out: bool,
    /// Time after its last request in which a return would have been seen, ms.
    open_ms: f64,
}

/// A two-visit session's gap and the bounds it was observed within.
struct TwoVisits {
    /// The gap, ms: last request − creation − think time.
    gap_ms: f64,
    /// The longest gap that would still have shown as a quiescent two-visit row, ms.
    bound_ms: f64,
    /// Time left after its second visit, ms: a third visit would have been seen within it.
    open_ms: f64,
}

/// `returns.gap`, `visit.logout_probability` and `returns.probability`, fitted together.
///
/// The model: after each true visit end the user logs out with probability L, or returns with
/// probability P (continuation c = (1 − L)·P) after a gap G ~ lognormal with CDF F. A return
/// with G ≤ τ is merged, so per *observed* visit end (normaliser D = 1 − c·F(τ)): a logout with
/// probability L/D, a visible return at G with density c·f(G)/D, and nothing by time U with
/// probability (1 − L − c·F(U))/D, where U is the time left to the window's end (to the session's
/// end for expired or revoked ones).
///
/// (L, P) given F: the multinomial likelihood over the settled quiescent sessions' visit ends
/// (`visits − 1` returns, then the last end: a logout when `end_reason` is `logged_out`, else
/// nothing by U), maximised on logits; exact given F, since a return's density factors into c
/// and f(G). Interval from the observed information (delta method on the logits).
///
/// G: only a two-visit session shows its gap exactly (last request − creation − think time),
/// observed within (τ, U₁], U₁ being the window's end less the creation, the think time and, for
/// a session not ended, τ (its row turns quiescent only after a demotion). MLE of the lognormal
/// truncated to that interval per session. Selecting *two*-visit sessions also selects on the
/// second visit not being followed by a visible return, which is likelier the longer G is (less
/// time left): each session is weighted by the inverse of that probability, 1 − c·(F(U₂) −
/// F(τ))/D, with U₂ the time left after its last request. Weights and (L, P) are iterated three
/// times from unweighted (the weights' dependence on G is weak: the fit moves by well under its
/// standard error after the first round).
fn fit_returns(quiescent: &[&AnalyticsRow], window: Window, gap: &Gap) -> Result<Returns, CalibrationError> {
    let gap_ms_tau = gap.ms;
    let tau = gap.text.as_str();
    let end = window.end_ms as f64;
    let mut ends = Vec::with_capacity(quiescent.len());
    let mut two = Vec::new();
    for row in quiescent {
        let visits = row.visits.max(1);
        let last = row.last_request_at_ms.max(row.created_at_ms) as f64;
        let logged_out = row.end_reason == "logged_out";
        // An expired (or revoked) session can no longer be returned to after its end.
        let horizon = row.ended_at_ms.map_or(end, |t| (t as f64).min(end));
        ends.push(Ends { returns: (visits - 1) as f64, logged_out, open_ms: (horizon - last).max(0.0) });
        if visits == 2 {
            let created = row.created_at_ms as f64;
            let think = row.think_ms as f64;
            let gap_ms = last - created - think;
            let lag = if row.ended_at_ms.is_some() { 0.0 } else { gap_ms_tau };
            if gap_ms > gap_ms_tau && gap_ms.is_finite() {
                let bound_ms = (end - created - think - lag).max(gap_ms);
                two.push(TwoVisits { gap_ms, bound_ms, open_ms: (end - last).max(0.0) });
            }
        }
    }
    if ends.len() < MIN_SESSIONS {
        return Err(CalibrationError::Insufficient {
            key: "traffic.visit.logout_probability".into(),
            why: format!(
                "{} settled sessions with final counts (ended or demoted), at least {MIN_SESSIONS} needed",
                ends.len()
            ),
        });
    }
    if two.len() < MIN_RETURNS {
        return Err(CalibrationError::Insufficient {
            key: "traffic.returns.gap".into(),
            why: format!(
                "{} two-visit sessions with final counts (the only ones that show a return gap), at least \
                 {MIN_RETURNS} needed",
                two.len()
            ),
        });
    }

    let two_visits = &two;
    let gap_nll = |weights: &[f64]| {
        let weights = weights.to_vec();
        move |x: &[f64]| {
            let fit = Lognormal::at(x);
            let below = fit.cdf(gap_ms_tau);
            -two_visits
                .iter()
                .zip(&weights)
                .map(|(s, w)| w * (fit.ln_pdf(s.gap_ms) - (fit.cdf(s.bound_ms) - below).max(1e-300).ln()))
                .sum::<f64>()
        }
    };
    // The visit ends: visible returns, then each session's last end (a logout, or nothing yet).
    let returned: f64 = ends.iter().map(|s| s.returns).sum();
    let logouts = ends.iter().filter(|s| s.logged_out).count() as f64;
    let all_ends = returned + ends.len() as f64;
    let lp_nll = |gap: Lognormal| {
        let below = gap.cdf(gap_ms_tau);
        let open: Vec<f64> = ends.iter().filter(|s| !s.logged_out).map(|s| gap.cdf(s.open_ms)).collect();
        move |x: &[f64]| {
            let logout = logistic(x.first().copied().unwrap_or(0.0));
            let probability = logistic(x.get(1).copied().unwrap_or(0.0));
            let c = (1.0 - logout) * probability;
            let norm = 1.0 - c * below;
            let nothing: f64 = open.iter().map(|f| (1.0 - logout - c * f).max(1e-300).ln()).sum();
            -(returned * (c * (1.0 - below)).max(1e-300).ln() + logouts * logout.max(1e-300).ln() + nothing
                - all_ends * norm.ln())
        }
    };

    let logs = two.iter().map(|s| s.gap_ms.ln());
    let start = Lognormal::of_logs(logs).unwrap_or(Lognormal { mu: gap_ms_tau.ln() + 1.0, sigma: 1.0 });
    let mut gap_x = [start.mu, start.sigma.ln()];
    let logout_0 = (logouts / all_ends).clamp(0.01, 0.99);
    let probability_0 = (returned / (all_ends - logouts).max(1.0)).clamp(0.01, 0.99);
    let mut lp_x = [logit(logout_0), logit(probability_0)];
    let mut weights = vec![1.0; two.len()];
    for _ in 0..3 {
        gap_x = minimise(gap_nll(&weights), gap_x, 0.2);
        let gap = Lognormal::at(&gap_x);
        lp_x = minimise(lp_nll(gap), lp_x, 0.2);
        let c = (1.0 - logistic(lp_x[0])) * logistic(lp_x[1]);
        let below = gap.cdf(gap_ms_tau);
        weights = two
            .iter()
            .map(|s| 1.0 / (1.0 - c * (gap.cdf(s.open_ms) - below).max(0.0) / (1.0 - c * below)).max(1e-3))
            .collect();
    }
    let gap = Lognormal::at(&gap_x);
    let gap_cov = covariance(gap_nll(&weights), gap_x);
    let lp_cov = covariance(lp_nll(gap), lp_x);
    let (logout, probability) = (logistic(lp_x[0]), logistic(lp_x[1]));
    let interval = |i: usize| match lp_cov {
        Some(c) if c[i][i] >= 0.0 => {
            let se = c[i][i].sqrt();
            format!(
                "95 % interval {} to {} (observed information)",
                significant(logistic(lp_x[i] - Z975 * se), 3),
                significant(logistic(lp_x[i] + Z975 * se), 3)
            )
        }
        _ => "no interval (flat likelihood)".into(),
    };
    let merge = (1.0 - logout) * probability * gap.cdf(gap_ms_tau);
    let (median_s, median_text) = duration(gap.median() / 1000.0);
    let (p95_s, p95_text) = duration(gap.p95() / 1000.0);
    let visit_ends = all_ends as u64;
    let fits = vec![
        Fit {
            key: "traffic.returns.gap".into(),
            value: format!("{{ dist: lognormal, median: {median_text}, p95: {p95_text} }}"),
            goodness: format!(
                "MLE truncated to ({tau}, time left) per session, weighted for two-visit selection; {}; {:.1} % of \
                 returns fall within {tau} and merge into the visit",
                median_interval(Lognormal { mu: gap.mu - 1000f64.ln(), sigma: gap.sigma }, gap_cov),
                100.0 * gap.cdf(gap_ms_tau)
            )
            .replace("median ", "median (s) "),
            basis: two.len() as u64,
            basis_unit: "returns",
        },
        Fit {
            key: "traffic.visit.logout_probability".into(),
            value: format!("{}", significant(logout, 3)),
            goodness: interval(0),
            basis: visit_ends,
            basis_unit: "visits",
        },
        Fit {
            key: "traffic.returns.probability".into(),
            value: format!("{}", significant(probability, 3)),
            goodness: format!("{}; returns merged into their visit: {:.2} % of visit ends", interval(1), 100.0 * merge),
            basis: visit_ends,
            basis_unit: "visits",
        },
    ];
    Ok(Returns {
        logout: significant(logout, 3),
        probability: significant(probability, 3),
        gap_spec: DistSpec::Lognormal { median: Seconds(median_s), p95: Some(Seconds(p95_s)), p99: None },
        merge,
        fits,
    })
}

fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

/// The distribution of an *observed* visit's request count: the generator draws X ~ lognormal
/// and uses max(1, round(X)), so n = 1 ↔ X < 1.5 and n = k ↔ k − ½ ≤ X < k + ½; an observed visit
/// is K true visits merged (K geometric, P(K = k) = (1 − m)·m^(k−1)), so its count Q solves
/// Q = (1 − m)·p + m·(p ∗ Q). Returns Q(1..REQUESTS_CAP) (index 0 unused) and the tail Q(≥ cap).
fn observed_counts(fit: Lognormal, merge: f64) -> (Vec<f64>, f64) {
    let mut p = vec![0.0; REQUESTS_CAP];
    for (n, slot) in p.iter_mut().enumerate().skip(1) {
        let low = if n == 1 { 0.0 } else { n as f64 - 0.5 };
        *slot = fit.between(low, n as f64 + 0.5);
    }
    let mut q = vec![0.0; REQUESTS_CAP];
    for n in 1..REQUESTS_CAP {
        let merged: f64 = if merge > 0.0 { (1..n).map(|j| p[j] * q[n - j]).sum() } else { 0.0 };
        q[n] = (1.0 - merge) * p[n] + merge * merged;
    }
    let tail = (1.0 - q.iter().sum::<f64>()).max(0.0);
    (q, tail)
}

/// `visit.requests`: the lognormal X by interval-censored MLE on the settled single-visit
/// quiescent sessions' request counts (a single visit's count is exact; any longer session's is
/// a sum). Returns within τ merge true visits into one observed visit (probability `merge` per
/// visit end, from [`fit_returns`]); the likelihood models that ([`observed_counts`]), without
/// which the median would come out high by about the merge rate times the mean count over the
/// median (see the report: 1 % in the tests' scenario, 11 % of visit ends in the defaults').
/// Goodness: the KS distance between the observed and fitted count CDFs.
fn fit_requests(
    quiescent: &[&AnalyticsRow],
    merge: f64,
    gap: &Gap,
) -> Result<(DistSpec<Count>, Fit), CalibrationError> {
    let mut counts = vec![0.0f64; REQUESTS_CAP + 1];
    for row in quiescent.iter().filter(|row| row.visits <= 1) {
        counts[(row.requests as usize).clamp(1, REQUESTS_CAP)] += 1.0;
    }
    let n: f64 = counts.iter().sum();
    if n < MIN_SESSIONS as f64 {
        return Err(CalibrationError::Insufficient {
            key: "traffic.visit.requests".into(),
            why: format!("{n} settled single-visit sessions with final counts, at least {MIN_SESSIONS} needed"),
        });
    }
    let merge = if merge.is_finite() { merge.clamp(0.0, 0.9) } else { 0.0 };
    let nll = |x: &[f64]| {
        let (q, tail) = observed_counts(Lognormal::at(x), merge);
        let body: f64 =
            (1..REQUESTS_CAP).map(|k| if counts[k] > 0.0 { counts[k] * q[k].max(1e-300).ln() } else { 0.0 }).sum();
        -(body + counts[REQUESTS_CAP] * tail.max(1e-300).ln())
    };
    // Start from the logs of the counts (1 read as 1.2, the middle of X < 1.5 for typical fits).
    let logs = counts.iter().enumerate().skip(1).flat_map(|(k, c)| {
        let x = if k == 1 { 1.2f64 } else { k as f64 };
        std::iter::repeat_n(x.ln(), *c as usize)
    });
    let start = Lognormal::of_logs(logs).unwrap_or(Lognormal { mu: 1.0, sigma: 1.0 });
    let x = minimise(nll, [start.mu, start.sigma.ln()], 0.2);
    let fit = Lognormal::at(&x);
    let (q, _) = observed_counts(fit, merge);
    let (mut observed, mut fitted, mut ks) = (0.0, 0.0, 0.0f64);
    for k in 1..REQUESTS_CAP {
        observed += counts[k] / n;
        fitted += q[k];
        ks = ks.max((observed - fitted).abs());
    }
    let (median, p95) = (significant(fit.median(), 3), significant(fit.p95(), 3));
    let fit_line = Fit {
        key: "traffic.visit.requests".into(),
        value: format!("{{ dist: lognormal, median: {median}, p95: {p95} }}"),
        goodness: format!(
            "KS distance {ks:.4} between observed and fitted counts; {}; {:.2} % of visit ends merged by returns \
             within {}, accounted for",
            median_interval(fit, covariance(nll, x)),
            100.0 * merge,
            gap.text
        ),
        basis: n as u64,
        basis_unit: "sessions",
    };
    Ok((DistSpec::Lognormal { median: Count(median), p95: Some(Count(p95)), p99: None }, fit_line))
}

/// `visit.think_time`, from the quiescent sessions' `think_ms` over their `requests − visits`
/// gaps. Preferred: the sessions with exactly one gap give exact samples, fitted by lognormal MLE
/// right-truncated at τ (a longer think time would have started a visit). When fewer than
/// [`MIN_SESSIONS`] sessions have one gap: the method of moments over every session with a gap
/// (pooled mean μ = Σthink/Σgaps; Var(T) = Σ k·(mean_k − μ)²/(sessions − 1) for a session of k
/// gaps with mean mean_k; σ² = ln(1 + Var/μ²), median = μ·e^(−σ²/2)), far less precise: a
/// lognormal's sample variance rests on its fourth moment, e^(8σ²) large. A one-gap session's
/// gap is a merged return rather than a think time with probability m·p(1)²/p(2) (0.3 % for the
/// tests' and for the default scenario): ignored.
fn fit_think_time(quiescent: &[&AnalyticsRow], gap: &Gap) -> Result<(DistSpec<Seconds>, Fit), CalibrationError> {
    let gaps = |row: &AnalyticsRow| row.requests.saturating_sub(row.visits.max(1));
    let exact: Vec<f64> = quiescent
        .iter()
        .filter(|row| gaps(row) == 1 && row.think_ms > 0)
        .map(|row| row.think_ms as f64 / 1000.0)
        .collect();
    let bound = gap.ms / 1000.0;
    let (fit, goodness, basis) = if exact.len() >= MIN_SESSIONS {
        let nll = |x: &[f64]| {
            let fit = Lognormal::at(x);
            let inside = fit.cdf(bound).max(1e-300).ln();
            -exact.iter().map(|t| fit.ln_pdf(*t) - inside).sum::<f64>()
        };
        let start = Lognormal::of_logs(exact.iter().map(|t| t.ln())).unwrap_or(Lognormal { mu: 3.0, sigma: 1.0 });
        let x = minimise(nll, [start.mu, start.sigma.ln()], 0.2);
        let fit = Lognormal::at(&x);
        let mut sorted = exact.clone();
        sorted.sort_by(f64::total_cmp);
        let ks = ks_distance(&sorted, |t| fit.cdf(t) / fit.cdf(bound));
        let goodness = format!(
            "MLE (truncated at {}) on the sessions with exactly one think gap; KS distance {ks:.4}; {}",
            gap.text,
            median_interval(fit, covariance(nll, x))
        );
        (fit, goodness, exact.len())
    } else {
        let sessions: Vec<(f64, f64)> = quiescent
            .iter()
            .filter(|row| gaps(row) >= 1)
            .map(|row| (gaps(row) as f64, row.think_ms as f64 / 1000.0))
            .collect();
        if sessions.len() < MIN_SESSIONS {
            return Err(CalibrationError::Insufficient {
                key: "traffic.visit.think_time".into(),
                why: format!(
                    "{} settled sessions with final counts have a think gap ({} exactly one), at least {MIN_SESSIONS} \
                     needed",
                    sessions.len(),
                    exact.len()
                ),
            });
        }
        let (k_sum, t_sum) = sessions.iter().fold((0.0, 0.0), |(k, t), (gk, gt)| (k + gk, t + gt));
        let mean = t_sum / k_sum;
        let variance =
            sessions.iter().map(|(k, t)| k * (t / k - mean).powi(2)).sum::<f64>() / (sessions.len() as f64 - 1.0);
        let sigma2 = (1.0 + variance / (mean * mean)).ln();
        let fit = Lognormal { mu: mean.ln() - sigma2 / 2.0, sigma: sigma2.sqrt().max(1e-3) };
        if !(fit.mu.is_finite() && fit.sigma.is_finite()) {
            return Err(CalibrationError::Insufficient {
                key: "traffic.visit.think_time".into(),
                why: format!("the think times of {} sessions give no finite mean and variance", sessions.len()),
            });
        }
        let goodness = format!(
            "method of moments over {} think gaps (only {} sessions with exactly one gap, {MIN_SESSIONS} needed for \
             the MLE); mean {:.1} s",
            k_sum,
            exact.len(),
            mean
        );
        (fit, goodness, sessions.len())
    };
    let (median_s, median_text) = duration(fit.median());
    let (p95_s, p95_text) = duration(fit.p95());
    let fit_line = Fit {
        key: "traffic.visit.think_time".into(),
        value: format!("{{ dist: lognormal, median: {median_text}, p95: {p95_text} }}"),
        goodness: goodness.replace("median ", "median (s) "),
        basis: basis as u64,
        basis_unit: "sessions",
    };
    Ok((DistSpec::Lognormal { median: Seconds(median_s), p95: Some(Seconds(p95_s)), p99: None }, fit_line))
}

/// The Kolmogorov–Smirnov distance between the sorted sample `sorted` and the CDF `cdf`.
fn ks_distance(sorted: &[f64], cdf: impl Fn(f64) -> f64) -> f64 {
    let n = sorted.len() as f64;
    sorted.iter().enumerate().fold(0.0f64, |ks, (i, x)| {
        let f = cdf(*x);
        ks.max((f - i as f64 / n).abs()).max(((i + 1) as f64 / n - f).abs())
    })
}

/// `visit.payload_bytes`: the lognormal MLE (mean and standard deviation of the logarithms) of
/// the settled sessions' `largest_payload_bytes` (drawn once per session, so the largest is the
/// size), over rows with a positive value; the rounding to whole bytes is ignored (under 0.1 %
/// of a size of a few hundred bytes). Goodness: the KS distance.
fn fit_payload(settled: &[&AnalyticsRow]) -> Result<(DistSpec<Bytes>, Fit), CalibrationError> {
    let mut sizes: Vec<f64> = settled
        .iter()
        .filter(|row| row.largest_payload_bytes > 0)
        .map(|row| row.largest_payload_bytes as f64)
        .collect();
    let fit = (sizes.len() >= MIN_SESSIONS).then(|| Lognormal::of_logs(sizes.iter().map(|b| b.ln()))).flatten();
    let Some(fit) = fit else {
        return Err(CalibrationError::Insufficient {
            key: "traffic.visit.payload_bytes".into(),
            why: format!("{} settled sessions with a payload size, at least {MIN_SESSIONS} needed", sizes.len()),
        });
    };
    sizes.sort_by(f64::total_cmp);
    let ks = ks_distance(&sizes, |b| fit.cdf(b));
    let se = fit.sigma / (sizes.len() as f64).sqrt();
    let (median, p95) = (significant(fit.median(), 4), significant(fit.p95(), 4));
    let fit_line = Fit {
        key: "traffic.visit.payload_bytes".into(),
        value: format!("{{ dist: lognormal, median: {median}, p95: {p95} }}"),
        goodness: format!(
            "KS distance {ks:.4}; 95 % interval of the median {} to {}",
            significant((fit.mu - Z975 * se).exp(), 4),
            significant((fit.mu + Z975 * se).exp(), 4)
        ),
        basis: sizes.len() as u64,
        basis_unit: "sessions",
    };
    Ok((DistSpec::Lognormal { median: Bytes(median), p95: Some(Bytes(p95)), p99: None }, fit_line))
}

/// `visit.update_fraction` = Σupdates / Σ(requests − 1) over the settled quiescent sessions (the
/// creating request never updates; every other one does with this probability, merged visits or
/// not), with a Wilson 95 % interval.
fn fit_update_fraction(quiescent: &[&AnalyticsRow]) -> Result<(f64, Fit), CalibrationError> {
    let (updates, lookups) = quiescent.iter().fold((0u64, 0u64), |(u, l), row| {
        let lookups = row.requests.saturating_sub(1);
        (u.saturating_add(row.updates.min(lookups)), l.saturating_add(lookups))
    });
    if lookups < MIN_SESSIONS as u64 {
        return Err(CalibrationError::Insufficient {
            key: "traffic.visit.update_fraction".into(),
            why: format!(
                "{lookups} requests after the creating one in settled sessions, at least {MIN_SESSIONS} needed"
            ),
        });
    }
    let (n, p) = (lookups as f64, updates as f64 / lookups as f64);
    let z2 = Z975 * Z975;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z975 / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    let fraction = significant(p, 3);
    Ok((
        fraction,
        Fit {
            key: "traffic.visit.update_fraction".into(),
            value: format!("{fraction}"),
            goodness: format!(
                "95 % interval {} to {} (Wilson)",
                significant(centre - half, 3),
                significant(centre + half, 3)
            ),
            basis: lookups,
            basis_unit: "requests",
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hour_exposure_counts_each_hour_of_day_the_span_covers() {
        // 1 day and 90 minutes from 23:30: every hour once, then 23:30-24:00 and 00:00-01:00 again.
        let start = 23 * HOUR_MS + HOUR_MS / 2;
        let exposure = hour_exposure(start, start + DAY_MS + 3 * HOUR_MS / 2);
        assert!((exposure.iter().sum::<f64>() - 25.5).abs() < 1e-9, "{exposure:?}");
        assert!((exposure[23] - 1.5).abs() < 1e-9 && (exposure[0] - 2.0).abs() < 1e-9, "{exposure:?}");
        assert!((exposure[1] - 1.0).abs() < 1e-9 && (exposure[12] - 1.0).abs() < 1e-9, "{exposure:?}");
    }

    #[test]
    fn merged_visits_lengthen_the_observed_counts_by_one_over_one_minus_the_merge_rate() {
        let fit = Lognormal { mu: 4f64.ln(), sigma: 0.8 };
        let mean = |q: &[f64]| q.iter().enumerate().map(|(k, p)| k as f64 * p).sum::<f64>();
        let (alone, tail) = observed_counts(fit, 0.0);
        assert!((alone.iter().sum::<f64>() + tail - 1.0).abs() < 1e-12 && tail < 1e-6, "{tail}");
        let (merged, tail) = observed_counts(fit, 0.2);
        assert!(tail < 1e-6, "{tail}");
        // A geometric number of visits, mean 1 / (1 − m), each of the unmerged mean.
        assert!((mean(&merged) / mean(&alone) - 1.25).abs() < 1e-6, "{} {}", mean(&merged), mean(&alone));
    }

    #[test]
    fn too_few_sessions_are_refused_naming_the_key_and_the_numbers() {
        let row = |i: u64| AnalyticsRow {
            session_id: format!("{i:032x}"),
            home_region: "eu-west-1".into(),
            created_at_ms: 1_000_000 + i * HOUR_MS,
            last_event_at_ms: 1_000_000 + i * HOUR_MS + 2_000_000,
            end_reason: "open".into(),
            demotions: 1,
            requests: 3,
            visits: 1,
            think_ms: 30_000,
            last_request_at_ms: 1_000_000 + i * HOUR_MS + 30_000,
            largest_payload_bytes: 500,
            ..AnalyticsRow::default()
        };
        let rows: Vec<AnalyticsRow> = (0..40).map(row).collect();
        let window = Window::of(&rows).expect("a window");
        assert_eq!(window.start_ms, 1_000_000);
        let error = fit_traffic(&rows, window, &base(), VISIT_GAP_MS_FOR_TESTS).unwrap_err();
        let CalibrationError::Insufficient { key, why } = &error else { panic!("{error:?}") };
        assert_eq!(key, "traffic.regions.eu-west-1.sessions_per_day", "{error}");
        assert!(why.contains("at least 100 needed") && why.contains("last 2.0 hours"), "{why}");
        // Too short an export: nothing settled at all.
        let early: Vec<AnalyticsRow> = rows.iter().take(2).cloned().collect();
        let error = fit_traffic(&early, Window::of(&early).expect("a window"), &base(), VISIT_GAP_MS_FOR_TESTS);
        assert!(
            matches!(&error, Err(CalibrationError::Insufficient { key, .. }) if key == "traffic.regions"),
            "{error:?}"
        );
        assert!(matches!(fit_traffic(&rows, window, &base(), 0), Err(CalibrationError::Malformed(_))));
        // No creation time at all: no window.
        assert_eq!(Window::of(&[AnalyticsRow::default()]), None);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 48, ..Default::default() })]

        /// Whatever an export holds (counts that contradict each other, times out of order,
        /// extremes), the fit answers a scenario or a refusal, never a panic; shares it answers
        /// are probabilities.
        #[test]
        fn any_export_gets_a_fit_or_a_refusal(
            rows in proptest::collection::vec(
                (
                    0u64..4 * DAY_MS,
                    proptest::prelude::any::<u64>(),
                    0u64..600,
                    0u64..40,
                    0u64..8 * HOUR_MS,
                    proptest::option::of(0u64..5 * DAY_MS),
                    0u8..4,
                    0u64..5,
                    0u64..100_000,
                    0u64..3 * DAY_MS,
                ),
                0..400,
            ),
            gap in 1u64..4 * HOUR_MS,
        ) {
            let reasons = ["logged_out", "expired", "open", "revoked"];
            let rows: Vec<AnalyticsRow> = rows
                .into_iter()
                .enumerate()
                .map(|(i, (created, noise, requests, visits, think, ended, reason, demotions, payload, last))| {
                    AnalyticsRow {
                        session_id: format!("{i:032x}"),
                        home_region: if noise % 3 == 0 { "ap-southeast-1".into() } else { "eu-west-1".into() },
                        created_at_ms: if noise % 17 == 0 { 0 } else { DAY_MS + created },
                        last_event_at_ms: if noise % 13 == 0 { u64::MAX } else { DAY_MS + last },
                        ended_at_ms: ended.map(|t| DAY_MS + t),
                        end_reason: reasons[usize::from(reason)].into(),
                        updates: noise % 50,
                        promotions: noise % 4,
                        demotions,
                        largest_payload_bytes: payload,
                        requests,
                        visits,
                        think_ms: think,
                        last_request_at_ms: DAY_MS + last,
                        ..AnalyticsRow::default()
                    }
                })
                .collect();
            let Some(window) = Window::of(&rows) else { return Ok(()) };
            if let Ok(fit) = fit_traffic(&rows, window, &base(), gap) {
                let visit = &fit.traffic.visit;
                for share in [visit.update_fraction, visit.logout_probability, fit.traffic.returns.probability] {
                    proptest::prop_assert!((0.0..=1.0).contains(&share), "{share}");
                }
                proptest::prop_assert!(fit.fits.iter().all(|f| !f.value.is_empty() && !f.goodness.is_empty()));
            }
        }
    }

    /// The production visit gap, 30 minutes.
    const VISIT_GAP_MS_FOR_TESTS: u64 = crate::analytics::VISIT_GAP_MS;

    fn base() -> Traffic {
        Traffic {
            regions: BTreeMap::new(),
            visit: crate::scenario::Visit::default(),
            returns: crate::scenario::Returns::default(),
            travel_probability: 0.01,
            growth_per_month: 0.0,
        }
    }
}
