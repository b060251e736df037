//! `frontier-lookup.svg` of a sweep: what a promotion threshold changes. The cost of each point
//! against the latency a user feels over all session lookups (hot hits and promotions together),
//! and below it, on the same latency axis, the promotions per 1,000 requests: a shorter threshold
//! keeps fewer sessions hot (cheaper) and makes more requests pay a promotion (slower on average).
//!
//! `frontier.svg` (CONTRACT section 1: cost against hot-access p95) stays as it is, in
//! [`crate::charts`].

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::charts::{DrawResult, LIGHT_MESH, PALETTE, Plot, err, font, money};

/// One sweep point on the lookup frontier.
#[derive(Debug, Clone)]
pub struct LookupPoint {
    /// The value of the parameter that varies most in the grid (`600`): the marker's label.
    pub label: String,
    /// The values of every other parameter: points sharing them are joined by a line
    /// (`write_through`); empty when the grid has one parameter.
    pub series: String,
    /// Mean latency of every lookup, ms.
    pub lookup_mean_ms: f64,
    /// Monthly cost, USD.
    pub cost_usd: f64,
    /// Cold promotions per 1,000 requests.
    pub promotions_per_1k: f64,
    /// Whether every SLO passes.
    pub pass: bool,
}

/// Cost against mean lookup latency (upper panel) and promotions per 1,000 requests against the
/// same latency (lower panel), one marker per sweep point, labelled with its parameters; the
/// cheapest point passing every SLO is ringed.
pub(crate) struct LookupFrontier<'a> {
    pub(crate) points: &'a [LookupPoint],
    /// Index into `points` of the cheapest point passing every SLO.
    pub(crate) cheapest: Option<usize>,
    /// What the labels are (`promotion_threshold`).
    pub(crate) label_key: String,
    /// What the series are (`durability`), empty with one parameter.
    pub(crate) series_key: String,
}

/// Height of the title and key above the panels, px.
const HEADER: u32 = 78;
/// Most series drawn side by side, one column each; more share one column.
const MAX_COLUMNS: usize = 3;

/// An axis range around `values` with room for labels; a flat range is widened.
fn padded(values: impl Iterator<Item = f64>, low_pad: f64, high_pad: f64) -> (f64, f64) {
    let (lo, hi) =
        values.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let span = if hi - lo > hi.abs() * 1e-3 { hi - lo } else { hi.abs().max(1.0) * 0.1 };
    ((lo - span * low_pad).max(0.0), hi + span * high_pad)
}

/// What one panel plots against the mean lookup latency.
struct Measure<'f> {
    caption: String,
    y_desc: &'static str,
    y: &'f dyn Fn(&LookupPoint) -> f64,
    y_format: &'f dyn Fn(&f64) -> String,
}

impl LookupFrontier<'_> {
    /// The series in first-seen order, each with its colour.
    fn series(&self) -> Vec<(&str, RGBColor)> {
        let mut names: Vec<&str> = Vec::new();
        for p in self.points {
            if !names.contains(&p.series.as_str()) {
                names.push(&p.series);
            }
        }
        names.into_iter().enumerate().map(|(i, name)| (name, PALETTE[i % PALETTE.len()])).collect()
    }

    /// The panels' columns: one per series (`Some(name)`), or one for every point (`None`) when
    /// there is a single series or more than [`MAX_COLUMNS`].
    fn columns(&self) -> Vec<Option<&str>> {
        let series = self.series();
        if (2..=MAX_COLUMNS).contains(&series.len()) {
            series.into_iter().map(|(name, _)| Some(name)).collect()
        } else {
            vec![None]
        }
    }

    /// Draws the points of `series` (every series when `None`) on one panel, with its own axes:
    /// the latency differences within a series are small beside those between series (a
    /// durability mode, say), so a shared axis would squeeze each curve to a dot.
    fn panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        series: Option<&str>,
        measure: &Measure<'_>,
    ) -> DrawResult {
        let y = measure.y;
        let shown = |p: &&LookupPoint| series.is_none_or(|name| p.series == name);
        let x_range = padded(self.points.iter().filter(shown).map(|p| p.lookup_mean_ms), 0.1, 0.3);
        let (y_lo, y_hi) = padded(self.points.iter().filter(shown).map(y), 0.15, 0.2);
        let span = x_range.1 - x_range.0;
        let decimals = if span >= 5.0 {
            1
        } else if span >= 0.5 {
            2
        } else {
            3
        };
        let mut chart = ChartBuilder::on(area)
            .caption(&measure.caption, font(17))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(80)
            .build_cartesian_2d(x_range.0..x_range.1, y_lo..y_hi)
            .map_err(err)?;
        chart
            .configure_mesh()
            .light_line_style(LIGHT_MESH)
            .x_desc("mean lookup latency (ms)")
            .y_desc(measure.y_desc)
            .x_labels(6)
            .x_label_formatter(&|v| format!("{v:.decimals$}"))
            .y_label_formatter(measure.y_format)
            .axis_desc_style(font(14))
            .label_style(font(12))
            .draw()
            .map_err(err)?;
        for (name, colour) in self.series().into_iter().filter(|(name, _)| series.is_none_or(|s| s == *name)) {
            let mut line: Vec<(f64, f64)> =
                self.points.iter().filter(|p| p.series == name).map(|p| (p.lookup_mean_ms, y(p))).collect();
            line.sort_by(|a, b| a.0.total_cmp(&b.0));
            chart.draw_series(LineSeries::new(line, colour.mix(0.6).stroke_width(2))).map_err(err)?;
            let marker = |p: &LookupPoint| {
                let fill = if p.pass { colour.filled() } else { WHITE.filled() };
                EmptyElement::at((p.lookup_mean_ms, y(p)))
                    + Circle::new((0, 0), 6, fill)
                    + Circle::new((0, 0), 6, colour.stroke_width(2))
            };
            chart.draw_series(self.points.iter().filter(|p| p.series == name).map(marker)).map_err(err)?;
        }
        if let Some(p) = self.cheapest.and_then(|i| self.points.get(i)).filter(|p| shown(p)) {
            chart.draw_series([Circle::new((p.lookup_mean_ms, y(p)), 12, BLACK.stroke_width(2))]).map_err(err)?;
        }
        // One label per spot: points that would overlap on the plot share it.
        let (dx, dy) = ((x_range.1 - x_range.0) * 0.05, (y_hi - y_lo) * 0.06);
        let mut spots: Vec<(f64, f64, String)> = Vec::new();
        for p in self.points.iter().filter(shown) {
            let (px, py) = (p.lookup_mean_ms, y(p));
            match spots.iter_mut().find(|s| (s.0 - px).abs() <= dx && (s.1 - py).abs() <= dy) {
                Some(spot) => {
                    spot.2.push_str(" | ");
                    spot.2.push_str(&p.label);
                }
                None => spots.push((px, py, p.label.clone())),
            }
        }
        // Up and to the right of the marker, clear of the ring around the cheapest point.
        chart
            .draw_series(
                spots.into_iter().map(|(x, y, label)| EmptyElement::at((x, y)) + Text::new(label, (14, -18), font(12))),
            )
            .map_err(err)?;
        Ok(())
    }

    /// The title and the key of the markers.
    fn header<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult {
        let title =
            format!("Sweep: what the {} changes (marker labels); a lookup is a hot hit or a promotion", self.label_key);
        area.draw(&Text::new(title, (14, 10), font(18))).map_err(err)?;
        let cheapest = match self.cheapest.and_then(|i| self.points.get(i)) {
            Some(p) => {
                let name = if p.series.is_empty() { p.label.clone() } else { format!("{}, {}", p.label, p.series) };
                format!("ringed: cheapest passing every SLO ({name}, {}/month)", money(p.cost_usd))
            }
            None => "no point passes every SLO".to_string(),
        };
        let key = format!("\u{25cf} passes every SLO   \u{25cb} fails one   {cheapest}");
        area.draw(&Text::new(key, (14, 36), font(14))).map_err(err)?;
        let series = self.series();
        if series.len() > MAX_COLUMNS {
            // One column for every series: say which colour is which.
            let mut x = 14;
            for (name, colour) in series {
                let text = format!("\u{2014} {name}");
                let width = 8 * i32::try_from(text.chars().count()).unwrap_or(40) + 16;
                area.draw(&Text::new(text, (x, 58), font(13).color(&colour))).map_err(err)?;
                x += width;
            }
        }
        Ok(())
    }
}

impl Plot for LookupFrontier<'_> {
    fn size(&self) -> (u32, u32) {
        let columns = u32::try_from(self.columns().len()).unwrap_or(1);
        ((480 * columns).max(960), 820)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let (header, body) = root.split_vertically(HEADER);
        self.header(&header)?;
        let columns = self.columns();
        let areas = body.split_evenly((2, columns.len()));
        let cost = |p: &LookupPoint| p.cost_usd;
        let promotions = |p: &LookupPoint| p.promotions_per_1k;
        // Whole dollars: the costs of a sweep are close together, "$3.8k" would label two ticks.
        let dollars = |v: &f64| {
            let text = money(v.round());
            text.strip_suffix(".00").map_or(text.clone(), str::to_string)
        };
        let one_decimal = |v: &f64| format!("{v:.1}");
        for (i, column) in columns.iter().enumerate() {
            let name = match column {
                Some(name) => format!("{}: {name}", self.series_key),
                None => "every point".to_string(),
            };
            let upper = Measure {
                caption: format!("monthly cost ({name})"),
                y_desc: "USD per month",
                y: &cost,
                y_format: &dollars,
            };
            let lower = Measure {
                caption: format!("requests paying a promotion ({name})"),
                y_desc: "promotions per 1,000 requests",
                y: &promotions,
                y_format: &one_decimal,
            };
            if let (Some(top), Some(bottom)) = (areas.get(i), areas.get(columns.len() + i)) {
                self.panel(top, *column, &upper)?;
                self.panel(bottom, *column, &lower)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::charts::render;

    fn point(label: &str, series: &str, mean: f64, cost: f64, promotions: f64) -> LookupPoint {
        LookupPoint {
            label: label.into(),
            series: series.into(),
            lookup_mean_ms: mean,
            cost_usd: cost,
            promotions_per_1k: promotions,
            pass: cost < 150.0,
        }
    }

    #[test]
    fn one_series_or_many_share_one_column_and_every_point_is_labelled() {
        let one = [point("600", "", 4.3, 140.0, 25.0), point("3600", "", 4.2, 120.0, 15.0)];
        let plot = LookupFrontier { points: &one, cheapest: Some(1), label_key: "x".into(), series_key: String::new() };
        assert_eq!(plot.columns(), vec![None]);
        let svg = render(&plot, None).unwrap();
        assert!(svg.contains("600") && svg.contains("3600") && svg.contains("$120.00/month"), "{svg}");
        let many: Vec<LookupPoint> =
            (0..8).map(|i| point(&format!("p{i}"), &format!("s{}", i % 4), 4.0 + f64::from(i), 100.0, 1.0)).collect();
        let plot = LookupFrontier { points: &many, cheapest: None, label_key: "x".into(), series_key: "s".into() };
        assert_eq!(plot.columns(), vec![None]);
        let svg = render(&plot, None).unwrap();
        assert!((0..8).all(|i| svg.contains(&format!("p{i}"))) && svg.contains("no point passes"));
        let two = [point("a", "s1", 4.0, 100.0, 1.0), point("b", "s2", f64::NAN, 100.0, 1.0)];
        let plot = LookupFrontier { points: &two, cheapest: None, label_key: "x".into(), series_key: "s".into() };
        assert_eq!(plot.columns(), vec![Some("s1"), Some("s2")]);
        render(&plot, None).unwrap();
    }
}
