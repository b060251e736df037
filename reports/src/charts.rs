//! Charts of a run (plotters), each drawn once as SVG (inlined in report.html) and once as PNG.
//!
//! Text in PNGs is rendered with the bundled DejaVu Sans (ab_glyph), so no system font library is
//! needed; SVGs name the `sans-serif` family and let the browser pick the face.

use std::path::Path;
use std::sync::Once;

use hotcold_model::RunRecord;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::ReportError;
use crate::cost::CostModel;

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

const FAMILY: &str = "sans-serif";

/// Registers the bundled font (once per process).
fn register_font() {
    REGISTER.call_once(|| {
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
        let _ = plotters::style::register_font(FAMILY, FontStyle::Bold, FONT);
    });
}

/// Colours used for series (colour-blind friendly Okabe-Ito order).
pub(crate) const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(120, 120, 120),
    RGBColor(240, 228, 66),
];
/// Minor grid lines: barely visible.
pub(crate) const LIGHT_MESH: RGBColor = RGBColor(243, 243, 243);
/// The Redis-only bar.
const BASELINE_BAR: RGBColor = RGBColor(120, 160, 200);
const GREY_BAND: RGBColor = RGBColor(200, 200, 200);
const OUTAGE_BAND: RGBColor = RGBColor(214, 39, 40);

/// A drawn chart.
#[derive(Debug, Clone)]
pub struct Chart {
    /// File stem under `charts/` (`latency-cdf`, ...).
    pub name: String,
    /// Title shown above it in the report.
    pub title: String,
    /// The SVG document.
    pub svg: String,
}

pub(crate) fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

pub(crate) type DrawResult = Result<(), String>;

/// A named, coloured line: (legend, points, colour).
type Line = (String, Vec<(f64, f64)>, RGBColor);
/// A latency curve: (legend, points, colour, width; 0 = dashed).
type Curve = (String, Vec<(f64, f64)>, RGBColor, u32);

/// A chart that can be drawn on any plotters backend.
pub(crate) trait Plot {
    /// Pixel size.
    fn size(&self) -> (u32, u32) {
        (960, 480)
    }
    /// Draws on the root area.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult;
}

/// Renders a plot to an SVG string and, when `png` is given, a PNG file.
pub(crate) fn render<P: Plot>(plot: &P, png: Option<&Path>) -> Result<String, ReportError> {
    register_font();
    let size = plot.size();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| ReportError::Chart(e.to_string()))?;
        plot.draw(&root).map_err(ReportError::Chart)?;
        root.present().map_err(|e| ReportError::Chart(e.to_string()))?;
    }
    if let Some(path) = png {
        let root = BitMapBackend::new(path, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| ReportError::Chart(e.to_string()))?;
        plot.draw(&root).map_err(ReportError::Chart)?;
        root.present().map_err(|e| ReportError::Chart(format!("{}: {e}", path.display())))?;
    }
    Ok(svg)
}

pub(crate) fn font(size: u32) -> TextStyle<'static> {
    (FAMILY, size).into_font().into()
}

/// Time axis: hours for runs up to two days, days beyond.
#[derive(Clone, Copy)]
struct TimeAxis {
    div: f64,
    unit: &'static str,
}

impl TimeAxis {
    fn of(record: &RunRecord) -> Self {
        if record.simulated_seconds > 2.0 * 86_400.0 {
            Self { div: 86_400.0, unit: "days" }
        } else {
            Self { div: 3600.0, unit: "hours" }
        }
    }
    fn x(self, seconds: f64) -> f64 {
        seconds / self.div
    }
    fn desc(self) -> String {
        format!("time since the start of the run ({})", self.unit)
    }
}

fn nice_max(x: f64) -> f64 {
    if !(x.is_finite() && x > 0.0) {
        return 1.0;
    }
    x * 1.08
}

fn scale_of(record: &RunRecord) -> f64 {
    if record.sample > 0.0 { 1.0 / record.sample } else { 1.0 }
}

/// Per-bucket series summed (or per region) from the time series.
fn series(
    record: &RunRecord,
    region: Option<u16>,
    f: impl Fn(&hotcold_model::record::BucketRow) -> f64,
) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::new();
    for row in &record.timeseries {
        if region.is_some_and(|r| r != row.region) {
            continue;
        }
        let t = row.t as f64 + record.bucket_seconds as f64 / 2.0;
        match out.last_mut() {
            Some(last) if last.0 == t => last.1 += f(row),
            _ => out.push((t, f(row))),
        }
    }
    out
}

fn warmup_and_outages<DB: DrawingBackend>(
    chart: &mut ChartContext<
        '_,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    record: &RunRecord,
    axis: TimeAxis,
    y: (f64, f64),
) -> DrawResult {
    if record.warmup_seconds > 0.0 {
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(0.0, y.0), (axis.x(record.warmup_seconds), y.1)],
                GREY_BAND.mix(0.3).filled(),
            )))
            .map_err(err)?
            .label("warmup (excluded)")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 18, y + 5)], GREY_BAND.mix(0.6).filled()));
    }
    let mut first = true;
    for o in &record.failover.events {
        let s = chart
            .draw_series(std::iter::once(Rectangle::new(
                [(axis.x(o.at_seconds), y.0), (axis.x(o.at_seconds + o.duration_seconds), y.1)],
                OUTAGE_BAND.mix(0.15).filled(),
            )))
            .map_err(err)?;
        if first {
            s.label("region outage")
                .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 18, y + 5)], OUTAGE_BAND.mix(0.3).filled()));
            first = false;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Latency CDF

/// Cumulative distribution of hot-access and cold-promotion latency, all regions and per region.
pub(crate) struct LatencyCdf {
    curves: Vec<Curve>,
    slo_hot: f64,
    slo_cold: f64,
}

fn cdf(values_us: &[(u64, u64)]) -> Vec<(f64, f64)> {
    let total: u64 = values_us.iter().map(|v| v.1).sum();
    if total == 0 {
        return Vec::new();
    }
    let mut acc = 0u64;
    let mut out = Vec::with_capacity(values_us.len() + 1);
    for &(v, n) in values_us {
        let ms = (v.max(1) as f64) / 1000.0;
        if out.is_empty() {
            out.push((ms, 0.0));
        }
        acc += n;
        out.push((ms, acc as f64 / total as f64));
    }
    out
}

impl LatencyCdf {
    pub(crate) fn new(record: &RunRecord) -> Self {
        let mut curves = Vec::new();
        let l = &record.latency;
        curves.push(("hot access, all regions".to_string(), cdf(&l.hot_access.values_us), PALETTE[0], 3));
        curves.push(("cold promotion, all regions".to_string(), cdf(&l.cold_promotion.values_us), PALETTE[5], 3));
        for (i, (name, r)) in record.regions.iter().zip(&l.by_region).enumerate() {
            let c = PALETTE[(i + 1) % PALETTE.len()];
            let c = if c == PALETTE[5] { PALETTE[6] } else { c };
            curves.push((format!("hot access, {name}"), cdf(&r.hot_access.values_us), c, 1));
            curves.push((format!("cold promotion, {name} (dashed)"), cdf(&r.cold_promotion.values_us), c, 0));
        }
        curves.retain(|c| !c.1.is_empty());
        let positive = |x: f64, default: f64| if x.is_finite() && x > 0.0 { x } else { default };
        Self {
            curves,
            slo_hot: positive(record.scenario.slo.hot_access_p95_ms, 5.0),
            slo_cold: positive(record.scenario.slo.cold_promotion_p95_ms, 50.0),
        }
    }
}

impl Plot for LatencyCdf {
    fn size(&self) -> (u32, u32) {
        (960, 540)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let lo = self.curves.iter().flat_map(|c| c.1.iter().map(|p| p.0)).fold(f64::INFINITY, f64::min);
        let hi = self.curves.iter().flat_map(|c| c.1.iter().map(|p| p.0)).fold(0.0, f64::max);
        let lo = if lo.is_finite() { (lo * 0.8).max(0.001).min(self.slo_hot * 0.5) } else { 0.01 };
        let hi = (hi * 1.3).max(self.slo_cold * 1.5).max(lo * 10.0);
        let mut chart = ChartBuilder::on(root)
            .caption("Request latency: cumulative distribution (log scale)", font(22))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d((lo..hi).log_scale(), 0.0..1.0)
            .map_err(err)?;
        chart
            .configure_mesh()
            .light_line_style(LIGHT_MESH)
            .x_desc("latency (ms, log scale)")
            .y_desc("share of requests at or below")
            .axis_desc_style(font(16))
            .label_style(font(14))
            .y_label_formatter(&|y| format!("{:.0}%", y * 100.0))
            .x_label_formatter(&|x| if *x >= 1.0 { format!("{x:.0}") } else { format!("{x:.2}") })
            .draw()
            .map_err(err)?;
        // p95 line and SLO targets.
        chart
            .draw_series(DashedLineSeries::new(vec![(lo, 0.95), (hi, 0.95)], 6, 4, BLACK.mix(0.6).stroke_width(1)))
            .map_err(err)?
            .label("95th percentile")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK.mix(0.6)));
        for (target, what) in [(self.slo_hot, "hot-access"), (self.slo_cold, "cold-promotion")] {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(target, 0.0), (target, 1.0)],
                    RED.mix(0.5).stroke_width(1),
                )))
                .map_err(err)?;
            chart
                .draw_series(std::iter::once(Text::new(
                    format!("{what} SLO {target} ms"),
                    (target * 1.04, 0.52),
                    font(13).color(&RED.mix(0.8)),
                )))
                .map_err(err)?;
        }
        for (name, pts, color, width) in &self.curves {
            let color = *color;
            if *width == 0 {
                chart
                    .draw_series(DashedLineSeries::new(pts.clone(), 5, 3, color.stroke_width(1)))
                    .map_err(err)?
                    .label(name.as_str())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 6, y), (x + 10, y), (x + 18, y)], color));
            } else {
                let w = *width;
                chart
                    .draw_series(LineSeries::new(pts.clone(), color.stroke_width(w)))
                    .map_err(err)?
                    .label(name.as_str())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(w)));
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font(font(13))
            .draw()
            .map_err(err)?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Hot / cold over time

/// Hot sessions per region, cold records, and the hot ratio over time.
pub(crate) struct HotCold<'a> {
    record: &'a RunRecord,
}

impl<'a> HotCold<'a> {
    pub(crate) fn new(record: &'a RunRecord) -> Self {
        Self { record }
    }
}

impl Plot for HotCold<'_> {
    fn size(&self) -> (u32, u32) {
        (960, 820)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let r = self.record;
        let axis = TimeAxis::of(r);
        let scale = scale_of(r);
        let x_max = axis.x(r.simulated_seconds).max(1e-6);
        let root = root.titled("Hot and cold sessions over time", font(22)).map_err(err)?;
        let panels = root.split_evenly((3, 1));
        // Hot per region.
        let hot: Vec<(String, Vec<(f64, f64)>)> = r
            .regions
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let pts = series(r, Some(i as u16), |b| b.hot as f64 * scale);
                (name.clone(), pts.into_iter().map(|(t, v)| (axis.x(t), v)).collect())
            })
            .collect();
        let total_hot: Vec<(f64, f64)> =
            series(r, None, |b| b.hot as f64 * scale).into_iter().map(|(t, v)| (axis.x(t), v)).collect();
        let cold: Vec<(f64, f64)> =
            series(r, None, |b| b.cold as f64 * scale).into_iter().map(|(t, v)| (axis.x(t), v)).collect();
        let ratio: Vec<(f64, f64)> = total_hot
            .iter()
            .zip(&cold)
            .map(|(h, c)| (h.0, if h.1 + c.1 > 0.0 { 100.0 * h.1 / (h.1 + c.1) } else { 0.0 }))
            .collect();
        let panel_specs: [(&str, &str, Vec<Line>); 3] = [
            (
                "hot sessions (in Redis)",
                "sessions",
                std::iter::once(("all regions".to_string(), total_hot.clone(), BLACK))
                    .chain(hot.into_iter().enumerate().map(|(i, (n, p))| (n, p, PALETTE[i % PALETTE.len()])))
                    .collect(),
            ),
            ("cold sessions (in DynamoDB only)", "sessions", vec![("all regions".to_string(), cold, PALETTE[5])]),
            ("hot ratio = hot / (hot + cold)", "%", vec![("hot ratio".to_string(), ratio, PALETTE[2])]),
        ];
        let warm_x = axis.x(r.warmup_seconds);
        for (area, (title, unit, lines)) in panels.iter().zip(panel_specs) {
            // The ratio starts at 100% (nothing is cold yet): scale its axis to the window after
            // warmup so that the steady part is readable.
            let after_warmup = unit == "%";
            let y_max = nice_max(
                lines
                    .iter()
                    .flat_map(|l| l.1.iter().filter(|p| !after_warmup || p.0 >= warm_x).map(|p| p.1))
                    .fold(0.0, f64::max),
            ) * 1.3;
            let y_max = if after_warmup { y_max.min(100.0) } else { y_max };
            let mut chart = ChartBuilder::on(area)
                .caption(title, font(17))
                .margin(8)
                .x_label_area_size(40)
                .y_label_area_size(80)
                .build_cartesian_2d(0.0..x_max, 0.0..y_max)
                .map_err(err)?;
            chart
                .configure_mesh()
                .light_line_style(LIGHT_MESH)
                .x_desc(axis.desc())
                .y_desc(unit)
                .axis_desc_style(font(14))
                .label_style(font(13))
                .y_label_formatter(&|v| human(*v))
                .draw()
                .map_err(err)?;
            warmup_and_outages(&mut chart, r, axis, (0.0, y_max))?;
            for (name, pts, color) in lines {
                let pts: Vec<(f64, f64)> = pts.into_iter().filter(|p| p.1 <= y_max).collect();
                chart
                    .draw_series(LineSeries::new(pts, color.stroke_width(2)))
                    .map_err(err)?
                    .label(name)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.4))
                .label_font(font(12))
                .draw()
                .map_err(err)?;
        }
        Ok(())
    }
}

/// USD with thousands separators and cents.
pub(crate) fn money(x: f64) -> String {
    let cents = if x.is_finite() { (x.abs() * 100.0).round() as u64 } else { 0 };
    let digits = (cents / 100).to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{}${out}.{:02}", if x < 0.0 { "-" } else { "" }, cents % 100)
}

/// A number with a k/M/G suffix.
pub(crate) fn human(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 10.0 || a == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

// ---------------------------------------------------------------------------------------------
// Lifecycle rates

/// Promotions, demotions and expiries per minute over time.
pub(crate) struct Lifecycle<'a> {
    record: &'a RunRecord,
}

impl<'a> Lifecycle<'a> {
    pub(crate) fn new(record: &'a RunRecord) -> Self {
        Self { record }
    }
}

impl Plot for Lifecycle<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let r = self.record;
        let axis = TimeAxis::of(r);
        let per_min = scale_of(r) * 60.0 / (r.bucket_seconds.max(1) as f64);
        let lines: Vec<Line> = vec![
            ("promotions (cold -> hot)".into(), series(r, None, |b| b.promotions as f64 * per_min), PALETTE[0]),
            ("demotions (hot -> cold)".into(), series(r, None, |b| b.demotions as f64 * per_min), PALETTE[5]),
            ("expiries (hot and cold TTL)".into(), series(r, None, |b| b.expiries as f64 * per_min), PALETTE[6]),
        ];
        let lines: Vec<_> = lines
            .into_iter()
            .map(|(n, p, c)| (n, p.into_iter().map(|(t, v)| (axis.x(t), v)).collect::<Vec<_>>(), c))
            .collect();
        let y_max = nice_max(lines.iter().flat_map(|l| l.1.iter().map(|p| p.1)).fold(0.0, f64::max)) * 1.3;
        let x_max = axis.x(r.simulated_seconds).max(1e-6);
        let mut chart = ChartBuilder::on(root)
            .caption("Session lifecycle: transitions per minute (all regions)", font(22))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(80)
            .build_cartesian_2d(0.0..x_max, 0.0..y_max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .light_line_style(LIGHT_MESH)
            .x_desc(axis.desc())
            .y_desc("sessions per minute")
            .axis_desc_style(font(16))
            .label_style(font(14))
            .y_label_formatter(&|v| human(*v))
            .draw()
            .map_err(err)?;
        warmup_and_outages(&mut chart, r, axis, (0.0, y_max))?;
        for (name, pts, color) in lines {
            chart
                .draw_series(LineSeries::new(pts, color.stroke_width(1)))
                .map_err(err)?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font(font(13))
            .draw()
            .map_err(err)?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Monthly cost

/// Monthly cost stacked by component, hybrid against the Redis-only baseline.
pub(crate) struct CostBars {
    hybrid: [(String, f64); 6],
    baseline: f64,
    saving: f64,
}

impl CostBars {
    pub(crate) fn new(model: &CostModel) -> Self {
        let t = model.totals;
        Self {
            hybrid: [
                ("Redis nodes".into(), t.redis),
                ("DynamoDB".into(), t.dynamodb),
                ("sync job (Lambda)".into(), t.sync),
                ("cross-region transfer".into(), t.transfer),
                ("audit table".into(), t.audit),
                ("analytics table".into(), t.analytics),
            ],
            baseline: model.baseline.total,
            saving: model.saving,
        }
    }
}

impl Plot for CostBars {
    fn size(&self) -> (u32, u32) {
        (960, 520)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let total: f64 = self.hybrid.iter().map(|h| h.1).sum();
        let y_max = nice_max(total.max(self.baseline)) * 1.35;
        let mut chart = ChartBuilder::on(root)
            .caption("Monthly cost (730 h): hybrid vs Redis-only", font(22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(90)
            .build_cartesian_2d(0.0..2.0, 0.0..y_max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .light_line_style(LIGHT_MESH)
            .disable_x_mesh()
            .x_labels(5)
            .x_label_formatter(&|x: &f64| {
                if (x - 0.5).abs() < 1e-9 {
                    "hybrid (Redis + DynamoDB)".into()
                } else if (x - 1.5).abs() < 1e-9 {
                    "Redis-only baseline".into()
                } else {
                    String::new()
                }
            })
            .y_desc("USD per month")
            .y_label_formatter(&|v| format!("${}", human(*v)))
            .axis_desc_style(font(16))
            .label_style(font(14))
            .draw()
            .map_err(err)?;
        let mut base = 0.0;
        let colors = [PALETTE[0], PALETTE[5], PALETTE[2], PALETTE[3], PALETTE[6], PALETTE[4]];
        for ((name, usd), color) in self.hybrid.iter().zip(colors) {
            chart
                .draw_series(std::iter::once(Rectangle::new([(0.2, base), (0.8, base + usd)], color.filled())))
                .map_err(err)?
                .label(format!("{name}: {}", money(*usd)))
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled()));
            base += usd;
        }
        chart
            .draw_series(std::iter::once(Rectangle::new([(1.2, 0.0), (1.8, self.baseline)], BASELINE_BAR.filled())))
            .map_err(err)?
            .label(format!("Redis-only nodes: {}", money(self.baseline)))
            .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], BASELINE_BAR.filled()));
        chart
            .draw_series([
                Text::new(format!("{}/month", money(total)), (0.33, total + y_max * 0.02), font(16)),
                Text::new(format!("{}/month", money(self.baseline)), (1.33, self.baseline + y_max * 0.02), font(16)),
            ])
            .map_err(err)?;
        let verdict = if self.saving >= 0.0 {
            format!("hybrid session storage saves {:.1}%", self.saving * 100.0)
        } else {
            format!("hybrid session storage costs {:.1}% more", -self.saving * 100.0)
        };
        chart
            .draw_series(std::iter::once(Text::new(verdict, (0.05, y_max * 0.96), font(20).color(&BLACK))))
            .map_err(err)?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.4))
            .label_font(font(13))
            .draw()
            .map_err(err)?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Cost growth

/// The monthly cost now and after +3, +6 and +12 months of traffic growth: hybrid total, its
/// session storage, and the Redis-only baseline.
pub(crate) struct CostGrowth {
    growth_per_month: f64,
    lines: Vec<Line>,
}

impl CostGrowth {
    pub(crate) fn new(model: &CostModel) -> Self {
        let points = &model.growth.points;
        let line = |name: &str, f: &dyn Fn(&crate::options::GrowthPoint) -> f64, color: RGBColor| -> Line {
            (name.into(), points.iter().map(|p| (f64::from(p.months), f(p))).collect(), color)
        };
        Self {
            growth_per_month: model.growth.growth_per_month,
            lines: vec![
                line("hybrid total", &|p| p.total, PALETTE[0]),
                line("hybrid session storage", &|p| p.session_storage, PALETTE[2]),
                line("Redis-only", &|p| p.baseline_total, BASELINE_BAR),
            ],
        }
    }
}

impl Plot for CostGrowth {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let y_max = nice_max(self.lines.iter().flat_map(|l| l.1.iter().map(|p| p.1)).fold(0.0, f64::max)) * 1.15;
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!("Monthly cost with traffic growing {:.1}% a month", self.growth_per_month * 100.0),
                font(22),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(90)
            .build_cartesian_2d(0.0..12.5, 0.0..y_max.max(1.0))
            .map_err(err)?;
        chart
            .configure_mesh()
            .light_line_style(LIGHT_MESH)
            .x_desc("months from now")
            .y_desc("USD per month")
            .y_label_formatter(&|v| format!("${}", human(*v)))
            .axis_desc_style(font(16))
            .label_style(font(14))
            .draw()
            .map_err(err)?;
        for (name, points, color) in &self.lines {
            let color = *color;
            chart
                .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))
                .map_err(err)?
                .label(format!("{name}: {}", points.last().map_or_else(String::new, |p| money(p.1))))
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2)));
            chart.draw_series(points.iter().map(|p| Circle::new(*p, 4, color.filled()))).map_err(err)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.4))
            .label_font(font(13))
            .draw()
            .map_err(err)?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Migration: the weekly cost of a rollout

/// Per week of a rollout, the legacy Redis and the hybrid store stacked, against the Redis-only
/// baseline and the hybrid store alone (lines).
pub(crate) struct MigrationCost {
    weeks: Vec<WeekBar>,
}

/// A line of [`MigrationCost`]: its legend, its value in a week, its colour.
type Series = (&'static str, fn(&WeekBar) -> f64, RGBColor);

/// One week of [`MigrationCost`], USD.
struct WeekBar {
    week: f64,
    legacy: f64,
    hybrid: f64,
    redis_only: f64,
    end_state: f64,
    percent: f64,
}

impl MigrationCost {
    pub(crate) fn new(migration: &crate::migration::MigrationOut) -> Self {
        let weeks = migration
            .weeks
            .iter()
            .map(|w| WeekBar {
                week: f64::from(w.week),
                legacy: w.cost_usd.legacy_redis,
                hybrid: w.cost_usd.hybrid,
                redis_only: w.redis_only_usd,
                end_state: w.hybrid_end_state_usd,
                percent: w.percent_avg,
            })
            .collect();
        Self { weeks }
    }
}

impl Plot for MigrationCost {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let top =
            self.weeks.iter().map(|w| (w.legacy + w.hybrid).max(w.redis_only).max(w.end_state)).fold(0.0, f64::max);
        let y_max = nice_max(top) * 1.2;
        let x_max = self.weeks.len() as f64 + 0.5;
        let mut chart = ChartBuilder::on(root)
            .caption("Weekly cost during the rollout", font(22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(90)
            .build_cartesian_2d(0.5..x_max.max(1.5), 0.0..y_max.max(1.0))
            .map_err(err)?;
        let percent: Vec<f64> = self.weeks.iter().map(|w| w.percent).collect();
        chart
            .configure_mesh()
            .light_line_style(LIGHT_MESH)
            .x_labels(self.weeks.len().max(1))
            .x_label_formatter(&|x| {
                let week = x.round();
                let share = percent.get((week as usize).wrapping_sub(1)).copied();
                if (x - week).abs() > 1e-6 || share.is_none() {
                    return String::new();
                }
                format!("week {week:.0} ({:.0}%)", share.unwrap_or(0.0))
            })
            .y_desc("USD per week")
            .y_label_formatter(&|v| format!("${}", human(*v)))
            .axis_desc_style(font(16))
            .label_style(font(14))
            .draw()
            .map_err(err)?;
        let (legacy_color, hybrid_color) = (PALETTE[1], PALETTE[0]);
        let bars = |base: &dyn Fn(&WeekBar) -> f64, height: &dyn Fn(&WeekBar) -> f64, color: RGBColor| {
            self.weeks
                .iter()
                .map(|w| Rectangle::new([(w.week - 0.3, base(w)), (w.week + 0.3, base(w) + height(w))], color.filled()))
                .collect::<Vec<_>>()
        };
        chart
            .draw_series(bars(&|_| 0.0, &|w| w.legacy, legacy_color))
            .map_err(err)?
            .label("legacy Redis")
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], legacy_color.filled()));
        chart
            .draw_series(bars(&|w| w.legacy, &|w| w.hybrid, hybrid_color))
            .map_err(err)?
            .label("hybrid store")
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], hybrid_color.filled()));
        let lines: [Series; 2] =
            [("Redis-only", |w| w.redis_only, BASELINE_BAR), ("hybrid end state", |w| w.end_state, PALETTE[2])];
        for (name, value, color) in lines {
            let points: Vec<(f64, f64)> = self.weeks.iter().map(|w| (w.week, value(w))).collect();
            chart
                .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(3)))
                .map_err(err)?
                .label(name)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(3)));
            chart.draw_series(points.iter().map(|p| Circle::new(*p, 4, color.filled()))).map_err(err)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.4))
            .label_font(font(13))
            .draw()
            .map_err(err)?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Failover timeline

/// Requests, losses and latency around one region outage.
pub(crate) struct FailoverTimeline<'a> {
    record: &'a RunRecord,
    index: usize,
}

impl<'a> FailoverTimeline<'a> {
    pub(crate) fn new(record: &'a RunRecord, index: usize) -> Self {
        Self { record, index }
    }
}

impl Plot for FailoverTimeline<'_> {
    fn size(&self) -> (u32, u32) {
        (960, 860)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let r = self.record;
        let Some(o) = r.failover.events.get(self.index) else { return Ok(()) };
        let scale = scale_of(r);
        let pad = (o.duration_seconds).clamp(600.0, 3.0 * 3600.0);
        let (t0, t1) =
            ((o.at_seconds - pad).max(0.0), (o.at_seconds + o.duration_seconds + pad).min(r.simulated_seconds));
        let (t0, t1) = if t1 > t0 { (t0, t1) } else { (0.0, r.simulated_seconds.max(60.0)) };
        let minutes = |t: f64| (t - o.at_seconds) / 60.0;
        let (x0, x1) = (minutes(t0), minutes(t1));
        let per_min = scale * 60.0 / (r.bucket_seconds.max(1) as f64);
        let in_window = |t: u64| (t as f64) >= t0 && (t as f64) <= t1;
        let title = format!(
            "Outage {} of {}: {} hot tier down {:.0} min, traffic to {}",
            self.index + 1,
            r.failover.events.len(),
            o.region,
            o.duration_seconds / 60.0,
            o.failover_to
        );
        let root = root.titled(&title, font(20)).map_err(err)?;
        let panels = root.split_evenly((3, 1));
        type Lines = Vec<Line>;
        let per_region = |f: &dyn Fn(&hotcold_model::record::BucketRow) -> f64| -> Lines {
            r.regions
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    let pts = series(r, Some(i as u16), f)
                        .into_iter()
                        .filter(|(t, _)| in_window(*t as u64))
                        .map(|(t, v)| (minutes(t), v))
                        .collect();
                    (name.clone(), pts, PALETTE[i % PALETTE.len()])
                })
                .collect()
        };
        let all = |f: &dyn Fn(&hotcold_model::record::BucketRow) -> f64| -> Vec<(f64, f64)> {
            series(r, None, f).into_iter().filter(|(t, _)| in_window(*t as u64)).map(|(t, v)| (minutes(t), v)).collect()
        };
        let specs: [(&str, &str, Lines); 3] = [
            (
                "requests served per minute, by serving region",
                "requests / min",
                per_region(&|b| b.requests as f64 * per_min),
            ),
            (
                "lost sessions and failed requests per minute (all regions)",
                "per min",
                vec![
                    ("lost sessions (lookups)".into(), all(&|b| b.losses as f64 * per_min), PALETTE[5]),
                    ("failed requests".into(), all(&|b| b.failures as f64 * per_min), PALETTE[6]),
                ],
            ),
            ("request latency p95 per minute, by serving region", "ms", per_region(&|b| b.p95_ms)),
        ];
        for (area, (caption, unit, lines)) in panels.iter().zip(specs) {
            let y_max = nice_max(lines.iter().flat_map(|l| l.1.iter().map(|p| p.1)).fold(0.0, f64::max)) * 1.3;
            let mut chart = ChartBuilder::on(area)
                .caption(caption, font(16))
                .margin(8)
                .x_label_area_size(40)
                .y_label_area_size(80)
                .build_cartesian_2d(x0..x1, 0.0..y_max)
                .map_err(err)?;
            chart
                .configure_mesh()
                .light_line_style(LIGHT_MESH)
                .x_desc("minutes from the start of the outage")
                .x_label_formatter(&|v| format!("{v:.0}"))
                .y_desc(unit)
                .axis_desc_style(font(14))
                .label_style(font(13))
                .y_label_formatter(&|v| human(*v))
                .draw()
                .map_err(err)?;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(0.0, 0.0), (o.duration_seconds / 60.0, y_max)],
                    OUTAGE_BAND.mix(0.15).filled(),
                )))
                .map_err(err)?
                .label(format!("{} outage", o.region))
                .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 18, y + 5)], OUTAGE_BAND.mix(0.3).filled()));
            for (name, pts, color) in lines {
                chart
                    .draw_series(LineSeries::new(pts, color.stroke_width(2)))
                    .map_err(err)?
                    .label(name)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.4))
                .label_font(font(12))
                .draw()
                .map_err(err)?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Sweep frontier

/// One point of a sweep on the frontier chart.
#[derive(Debug, Clone)]
pub struct FrontierPoint {
    /// Label (point number).
    pub label: String,
    /// Hot-access p95, ms.
    pub hot_p95_ms: f64,
    /// Monthly cost, USD.
    pub cost_usd: f64,
    /// Whether every SLO passes.
    pub pass: bool,
}

/// Cost against hot-access p95, one marker per sweep point, the cheapest passing point marked.
pub(crate) struct Frontier<'a> {
    pub(crate) points: &'a [FrontierPoint],
    pub(crate) cheapest: Option<usize>,
    pub(crate) slo_hot: f64,
}

impl Plot for Frontier<'_> {
    fn size(&self) -> (u32, u32) {
        (900, 560)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let xs = self.points.iter().map(|p| p.hot_p95_ms).filter(|x| x.is_finite());
        let ys = self.points.iter().map(|p| p.cost_usd).filter(|x| x.is_finite());
        let slo_hot = if self.slo_hot.is_finite() { self.slo_hot } else { 0.0 };
        let x_hi = nice_max(xs.clone().fold(slo_hot, f64::max)) * 1.05;
        let y_top = ys.clone().fold(0.0, f64::max);
        let y_low = ys.clone().fold(f64::INFINITY, f64::min);
        // Costs of a sweep are often close together: start the axis below the cheapest point
        // rather than at 0 so that they can be told apart.
        let y_lo =
            if y_low.is_finite() && y_top > 0.0 { (y_low - (y_top - y_low).max(y_top * 0.05)).max(0.0) } else { 0.0 };
        let y_hi = y_top + (y_top - y_lo).max(1.0) * 0.25;
        let mut chart = ChartBuilder::on(root)
            .caption("Sweep: monthly cost against hot-access p95", font(22))
            .margin(14)
            .x_label_area_size(48)
            .y_label_area_size(90)
            .build_cartesian_2d(0.0..x_hi, y_lo..y_hi)
            .map_err(err)?;
        chart
            .configure_mesh()
            .light_line_style(LIGHT_MESH)
            .x_desc("hot-access latency p95 (ms)")
            .y_desc("USD per month")
            .y_label_formatter(&|v| format!("${}", human(*v)))
            .axis_desc_style(font(16))
            .label_style(font(14))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(DashedLineSeries::new(
                vec![(self.slo_hot, y_lo), (self.slo_hot, y_hi)],
                6,
                4,
                RED.mix(0.6).stroke_width(1),
            ))
            .map_err(err)?
            .label(format!("hot-access SLO {} ms", self.slo_hot))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], RED.mix(0.6)));
        let pass: Vec<&FrontierPoint> = self.points.iter().filter(|p| p.pass).collect();
        let fail: Vec<&FrontierPoint> = self.points.iter().filter(|p| !p.pass).collect();
        chart
            .draw_series(pass.iter().map(|p| Circle::new((p.hot_p95_ms, p.cost_usd), 6, PALETTE[2].filled())))
            .map_err(err)?
            .label("passes every SLO")
            .legend(|(x, y)| Circle::new((x + 8, y), 5, PALETTE[2].filled()));
        chart
            .draw_series(fail.iter().map(|p| Circle::new((p.hot_p95_ms, p.cost_usd), 6, PALETTE[5].stroke_width(2))))
            .map_err(err)?
            .label("fails an SLO")
            .legend(|(x, y)| Circle::new((x + 8, y), 5, PALETTE[5].stroke_width(2)));
        // One label per spot: points close together on the plot of each other share it.
        let mut spots: Vec<(f64, f64, String)> = Vec::new();
        let (dx, dy) = (x_hi * 0.03, (y_hi - y_lo) * 0.045);
        for p in self.points {
            match spots.iter_mut().find(|s| (s.0 - p.hot_p95_ms).abs() <= dx && (s.1 - p.cost_usd).abs() <= dy) {
                Some(spot) => {
                    spot.2.push_str(", ");
                    spot.2.push_str(&p.label);
                }
                None => spots.push((p.hot_p95_ms, p.cost_usd, p.label.clone())),
            }
        }
        chart
            .draw_series(
                spots
                    .into_iter()
                    .map(|(x, y, label)| Text::new(label, (x + x_hi * 0.012, y + (y_hi - y_lo) * 0.015), font(13))),
            )
            .map_err(err)?;
        if let Some(p) = self.cheapest.and_then(|i| self.points.get(i)) {
            chart
                .draw_series([Circle::new((p.hot_p95_ms, p.cost_usd), 12, BLACK.stroke_width(2))])
                .map_err(err)?
                .label(format!("cheapest passing every SLO: {} ({}/month)", p.label, money(p.cost_usd)))
                .legend(|(x, y)| Circle::new((x + 8, y), 6, BLACK.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.4))
            .label_font(font(13))
            .draw()
            .map_err(err)?;
        Ok(())
    }
}

/// Draws every chart of a run into `dir` (PNG) and returns them (SVG kept for the report and
/// written next to the PNG).
pub fn run_charts(record: &RunRecord, model: &CostModel, dir: &Path) -> Result<Vec<Chart>, ReportError> {
    std::fs::create_dir_all(dir).map_err(|e| ReportError::io(dir, e))?;
    let mut charts = Vec::new();
    let mut add = |name: String, title: String, svg: String| -> Result<(), ReportError> {
        let path = dir.join(format!("{name}.svg"));
        std::fs::write(&path, svg.as_bytes()).map_err(|e| ReportError::io(&path, e))?;
        charts.push(Chart { name, title, svg });
        Ok(())
    };
    let png = |name: &str| dir.join(format!("{name}.png"));
    add(
        "latency-cdf".into(),
        "Latency distribution".into(),
        render(&LatencyCdf::new(record), Some(&png("latency-cdf")))?,
    )?;
    add("hot-cold".into(), "Hot and cold sessions".into(), render(&HotCold::new(record), Some(&png("hot-cold")))?)?;
    add("lifecycle".into(), "Lifecycle transitions".into(), render(&Lifecycle::new(record), Some(&png("lifecycle")))?)?;
    add("cost".into(), "Monthly cost".into(), render(&CostBars::new(model), Some(&png("cost")))?)?;
    add(
        "cost-growth".into(),
        "Monthly cost with traffic growth".into(),
        render(&CostGrowth::new(model), Some(&png("cost-growth")))?,
    )?;
    if let Some(migration) = crate::migration::migration_out(record) {
        add(
            "migration_cost".into(),
            "Weekly cost during the rollout".into(),
            render(&MigrationCost::new(&migration), Some(&png("migration_cost")))?,
        )?;
    }
    for i in 0..record.failover.events.len() {
        let name = format!("failover-{}", i + 1);
        let svg = render(&FailoverTimeline::new(record, i), Some(&png(&name)))?;
        add(name, format!("Failover {}", i + 1), svg)?;
    }
    Ok(charts)
}
