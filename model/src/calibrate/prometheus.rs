//! A reader of the Prometheus text exposition format (version 0.0.4), as `/metrics` and
//! Prometheus's `/federate` serve it, limited to what calibration needs: one histogram, summed
//! over the series a filter selects.
//!
//! Every line is checked, whatever metric it belongs to, so a truncated or garbled scrape is
//! refused rather than half read. Errors name the line (counted from 1) and what was expected.

use std::collections::BTreeMap;

use super::CalibrationError;

/// A histogram summed over one or more series.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// `(le, cumulative count)` by increasing `le`, seconds for a latency; the last bound is
    /// `f64::INFINITY` (`le="+Inf"`), whose count is every call.
    pub buckets: Vec<(f64, u64)>,
    /// Every observation (`_count`; the `+Inf` bucket's count when `_count` is absent).
    pub count: u64,
    /// The sum of the observations (`_sum`; 0 when absent).
    pub sum: f64,
}

/// The histogram `metric` summed over every series whose labels (sorted by name, without `le`)
/// pass `select`: its `_bucket` samples by `le`, its `_count` and its `_sum`. `None` when no
/// series of `metric` passes.
///
/// Every selected series must be a whole histogram: a `+Inf` bucket, cumulative counts that do
/// not decrease as `le` grows, a `_count` (if any) equal to the `+Inf` bucket's, and the same
/// bounds as the other selected series (series with different buckets cannot be summed).
/// Anything else, and any line of `text` that is not a comment, a blank or a well-formed sample,
/// is [`CalibrationError::Malformed`].
pub fn histogram(
    text: &str,
    metric: &str,
    select: impl Fn(&[(String, String)]) -> bool,
) -> Result<Option<Histogram>, CalibrationError> {
    let mut series: BTreeMap<Vec<(String, String)>, Series> = BTreeMap::new();
    for (index, raw) in text.split('\n').enumerate() {
        let number = index + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let malformed =
            |why: String| CalibrationError::Malformed(format!("metrics line {number} ({}): {why}", excerpt(line)));
        let sample = match parse_line(line).map_err(malformed)? {
            Line::Nothing => continue,
            Line::Type { name, kind } if name == metric && kind != "histogram" => {
                return Err(malformed(format!("{metric} is declared a {kind}, expected a histogram")));
            }
            Line::Type { .. } => continue,
            Line::Sample(sample) => sample,
        };
        let Some(part) = sample.name.strip_prefix(metric) else { continue };
        let part = match part {
            "_bucket" => Part::Bucket,
            "_count" => Part::Count,
            "_sum" => Part::Sum,
            _ => continue,
        };
        let mut labels = sample.labels;
        let le = labels.iter().position(|(name, _)| name == "le").map(|at| labels.swap_remove(at).1);
        labels.sort();
        let entry = series.entry(labels).or_insert_with(|| Series::new(number));
        entry.add(part, le, sample.value, number).map_err(malformed)?;
    }

    let mut selected = series.iter().filter(|(labels, _)| select(labels));
    let Some((first_labels, first)) = selected.next() else { return Ok(None) };
    let mut total = first.finish(metric, first_labels)?;
    for (labels, series) in selected {
        let histogram = series.finish(metric, labels)?;
        let same_bounds = total.buckets.len() == histogram.buckets.len()
            && total.buckets.iter().zip(&histogram.buckets).all(|(a, b)| a.0 == b.0);
        if !same_bounds {
            return Err(CalibrationError::Malformed(format!(
                "metrics line {}: {metric}_bucket{} has bucket bounds different from {metric}_bucket{} (line {}): \
                 they cannot be summed",
                series.first_line,
                label_text(labels),
                label_text(first_labels),
                first.first_line,
            )));
        }
        let overflow = || CalibrationError::Malformed(format!("{metric}: the summed counts overflow"));
        for (into, from) in total.buckets.iter_mut().zip(&histogram.buckets) {
            into.1 = into.1.checked_add(from.1).ok_or_else(overflow)?;
        }
        total.count = total.count.checked_add(histogram.count).ok_or_else(overflow)?;
        total.sum += histogram.sum;
    }
    Ok(Some(total))
}

/// Which sample of a histogram a line holds.
#[derive(Debug, Clone, Copy)]
enum Part {
    Bucket,
    Count,
    Sum,
}

/// One series of the histogram (one set of labels), as read.
#[derive(Debug)]
struct Series {
    /// `(le, cumulative count, line)`.
    buckets: Vec<(f64, u64, usize)>,
    /// `(count, line)`.
    count: Option<(u64, usize)>,
    sum: Option<f64>,
    first_line: usize,
}

impl Series {
    fn new(first_line: usize) -> Self {
        Self { buckets: Vec::new(), count: None, sum: None, first_line }
    }

    fn add(&mut self, part: Part, le: Option<String>, value: f64, line: usize) -> Result<(), String> {
        match part {
            Part::Bucket => {
                let le = le.ok_or("a _bucket sample needs an le label")?;
                let bound = parse_value(&le)
                    .ok()
                    .filter(|bound| !bound.is_nan())
                    .ok_or_else(|| format!("le=\"{le}\" is not a bucket bound (a number or +Inf)"))?;
                if self.buckets.iter().any(|(seen, _, _)| *seen == bound) {
                    return Err(format!("a second bucket le=\"{le}\" for the same series"));
                }
                self.buckets.push((bound, whole(value)?, line));
            }
            Part::Count if self.count.is_some() => return Err("a second _count for the same series".into()),
            Part::Count => self.count = Some((whole(value)?, line)),
            Part::Sum if self.sum.is_some() => return Err("a second _sum for the same series".into()),
            Part::Sum => self.sum = Some(value),
        }
        Ok(())
    }

    /// The series as a histogram, once its buckets are checked.
    fn finish(&self, metric: &str, labels: &[(String, String)]) -> Result<Histogram, CalibrationError> {
        let mut buckets = self.buckets.clone();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        let series = |suffix: &str| format!("{metric}{suffix}{}", label_text(labels));
        for pair in buckets.windows(2) {
            let [(low_le, low, _), (high_le, high, line)] = pair else { continue };
            if high < low {
                return Err(CalibrationError::Malformed(format!(
                    "metrics line {line}: {} counts {high} calls up to le={} but {low} up to le={}: \
                     cumulative bucket counts must not decrease as le grows",
                    series("_bucket"),
                    bound_text(*high_le),
                    bound_text(*low_le),
                )));
            }
        }
        let Some(&(_, all, _)) = buckets.last().filter(|(le, _, _)| *le == f64::INFINITY) else {
            return Err(CalibrationError::Malformed(format!(
                "metrics line {}: {} has no le=\"+Inf\" bucket",
                self.first_line,
                series("")
            )));
        };
        if let Some((count, line)) = self.count.filter(|(count, _)| *count != all) {
            return Err(CalibrationError::Malformed(format!(
                "metrics line {line}: {} is {count} but its le=\"+Inf\" bucket counts {all}: they must agree",
                series("_count")
            )));
        }
        Ok(Histogram {
            buckets: buckets.into_iter().map(|(le, count, _)| (le, count)).collect(),
            count: all,
            sum: self.sum.unwrap_or(0.0),
        })
    }
}

/// A count: a whole, non-negative number (written `12`, `12.0` or `1.2e1`).
fn whole(value: f64) -> Result<u64, String> {
    // 2^64: every whole f64 below it fits a u64.
    const LIMIT: f64 = 18_446_744_073_709_551_616.0;
    if value.is_finite() && value >= 0.0 && value.fract() == 0.0 && value < LIMIT {
        Ok(value as u64)
    } else {
        Err(format!("a count must be a whole non-negative number, got {value}"))
    }
}

/// One line of the exposition.
#[derive(Debug, PartialEq)]
enum Line<'a> {
    /// A blank line, a comment or a `# HELP`.
    Nothing,
    /// `# TYPE name kind`.
    Type { name: &'a str, kind: &'a str },
    /// `name{labels} value [timestamp]`.
    Sample(Sample<'a>),
}

/// One sample line.
#[derive(Debug, PartialEq)]
struct Sample<'a> {
    name: &'a str,
    /// In the order written, values unescaped.
    labels: Vec<(String, String)>,
    value: f64,
}

/// Spaces and tabs separate tokens; nothing else does.
fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn parse_line(line: &str) -> Result<Line<'_>, String> {
    let line = line.trim_start_matches(is_blank);
    if line.trim_end_matches(is_blank).is_empty() {
        return Ok(Line::Nothing);
    }
    if let Some(comment) = line.strip_prefix('#') {
        return parse_comment(comment);
    }
    parse_sample(line).map(Line::Sample)
}

/// `# HELP name text`, `# TYPE name kind` or any other comment.
fn parse_comment(comment: &str) -> Result<Line<'_>, String> {
    let mut tokens = comment.split(is_blank).filter(|token| !token.is_empty());
    match tokens.next() {
        Some("HELP") => {
            let name = tokens.next().ok_or("expected a metric name after # HELP")?;
            if !is_metric_name(name) {
                return Err(format!("expected a metric name after # HELP, got {name:?}"));
            }
            Ok(Line::Nothing)
        }
        Some("TYPE") => {
            let name = tokens.next().ok_or("expected a metric name after # TYPE")?;
            if !is_metric_name(name) {
                return Err(format!("expected a metric name after # TYPE, got {name:?}"));
            }
            let kind = tokens.next().ok_or("expected a type after the metric name")?;
            if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                return Err(format!("expected a type (counter, gauge, histogram, summary or untyped), got {kind:?}"));
            }
            if let Some(extra) = tokens.next() {
                return Err(format!("unexpected {extra:?} after the type"));
            }
            Ok(Line::Type { name, kind })
        }
        _ => Ok(Line::Nothing),
    }
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `name`, optional `{label="value",...}`, a value and an optional timestamp (integer ms).
fn parse_sample(line: &str) -> Result<Sample<'_>, String> {
    let name_end = line.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')).unwrap_or(line.len());
    let name = &line[..name_end];
    if !is_metric_name(name) {
        return Err("expected a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*), a comment or a blank line".into());
    }
    let mut rest = line[name_end..].trim_start_matches(is_blank);
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = parse_labels(after, &mut labels)?;
        if !rest.starts_with(is_blank) {
            return Err("expected a blank and a value after the labels".into());
        }
    } else if rest.len() == line[name_end..].len() {
        // Nothing separated the name from what follows.
        return Err(format!("expected '{{', or a blank and a value, after the metric name {name:?}"));
    }
    let mut tokens = rest.split(is_blank).filter(|token| !token.is_empty());
    let value_text = tokens.next().ok_or("expected a value after the metric")?;
    let value = parse_value(value_text)
        .map_err(|_| format!("expected a value (a number, +Inf, -Inf or NaN), got {:?}", excerpt(value_text)))?;
    if let Some(timestamp) = tokens.next().filter(|timestamp| timestamp.parse::<i64>().is_err()) {
        return Err(format!("expected a timestamp (whole milliseconds), got {:?}", excerpt(timestamp)));
    }
    if let Some(extra) = tokens.next() {
        return Err(format!("unexpected {:?} after the timestamp", excerpt(extra)));
    }
    Ok(Sample { name, labels, value })
}

/// Reads `label="value", ...}` (the `{` already read) into `labels`; returns what follows `}`.
fn parse_labels<'a>(mut rest: &'a str, labels: &mut Vec<(String, String)>) -> Result<&'a str, String> {
    loop {
        rest = rest.trim_start_matches(is_blank);
        if let Some(after) = rest.strip_prefix('}') {
            return Ok(after);
        }
        let name_end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
        let name = &rest[..name_end];
        if !name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            return Err("expected a label name ([a-zA-Z_][a-zA-Z0-9_]*) or '}'".into());
        }
        if labels.iter().any(|(seen, _)| seen == name) {
            return Err(format!("label {name:?} appears twice"));
        }
        rest = rest[name_end..].trim_start_matches(is_blank);
        rest = rest.strip_prefix('=').ok_or_else(|| format!("expected '=' after the label name {name:?}"))?;
        rest = rest.trim_start_matches(is_blank);
        rest = rest.strip_prefix('"').ok_or_else(|| format!("expected '\"' to open the value of label {name:?}"))?;
        let (value, after) = parse_label_value(rest).map_err(|why| format!("label {name:?}: {why}"))?;
        labels.push((name.to_owned(), value));
        rest = after.trim_start_matches(is_blank);
        if let Some(after) = rest.strip_prefix(',') {
            rest = after;
        } else if !rest.starts_with('}') {
            return Err(format!("expected ',' or '}}' after the value of label {name:?}"));
        }
    }
}

/// A quoted label value (the opening `"` already read), unescaped; returns it and what follows
/// the closing `"`.
fn parse_label_value(text: &str) -> Result<(String, &str), String> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return Ok((value, &text[at + 1..])),
            '\\' => match chars.next() {
                Some((_, '\\')) => value.push('\\'),
                Some((_, '"')) => value.push('"'),
                Some((_, 'n')) => value.push('\n'),
                Some((_, other)) => return Err(format!("unknown escape \\{other} (use \\\\, \\\" or \\n)")),
                None => break,
            },
            other => value.push(other),
        }
    }
    Err("the value has no closing '\"'".into())
}

/// A sample value: a decimal number, `+Inf`, `-Inf` or `NaN` (any case, as Go's parser reads).
fn parse_value(text: &str) -> Result<f64, std::num::ParseFloatError> {
    text.parse::<f64>()
}

/// The start of a line or token for an error message, at most 60 characters.
fn excerpt(text: &str) -> String {
    const MAX: usize = 60;
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        format!("{}...", text.chars().take(MAX).collect::<String>())
    }
}

/// `{a="x",b="y"}` as written (nothing for no labels), for error messages.
fn label_text(labels: &[(String, String)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let pairs: Vec<String> = labels.iter().map(|(name, value)| format!("{name}={value:?}")).collect();
    format!("{{{}}}", pairs.join(","))
}

/// A bucket bound as an exposition writes it (`"0.25"`, `"+Inf"`).
fn bound_text(le: f64) -> String {
    if le == f64::INFINITY { "\"+Inf\"".into() } else { format!("\"{le}\"") }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// What `hotcold serve` exposes, after two Prometheus-style extras: a series scraped with
    /// `instance` and `region` labels and timestamps, and a label value with every escape.
    const EXPOSITION: &str = "\
# HELP hotcold_backend_call_duration_seconds Latency of calls to Redis and DynamoDB
# TYPE hotcold_backend_call_duration_seconds histogram
hotcold_backend_call_duration_seconds_bucket{backend=\"redis\",call=\"get\",result=\"ok\",le=\"0.0001\"} 2
hotcold_backend_call_duration_seconds_bucket{backend=\"redis\",call=\"get\",result=\"ok\",le=\"0.00025\"} 30
hotcold_backend_call_duration_seconds_bucket{backend=\"redis\",call=\"get\",result=\"ok\",le=\"0.0005\"} 90
hotcold_backend_call_duration_seconds_bucket{backend=\"redis\",call=\"get\",result=\"ok\",le=\"+Inf\"} 100
hotcold_backend_call_duration_seconds_sum{backend=\"redis\",call=\"get\",result=\"ok\"} 0.031
hotcold_backend_call_duration_seconds_count{backend=\"redis\",call=\"get\",result=\"ok\"} 100
hotcold_backend_call_duration_seconds_bucket{backend=\"redis\",call=\"touch\",result=\"ok\",le=\"0.0001\"} 1
hotcold_backend_call_duration_seconds_bucket{backend=\"redis\",call=\"touch\",result=\"ok\",le=\"0.00025\"} 5
hotcold_backend_call_duration_seconds_bucket{backend=\"redis\",call=\"touch\",result=\"ok\",le=\"0.0005\"} 9
hotcold_backend_call_duration_seconds_bucket{backend=\"redis\",call=\"touch\",result=\"ok\",le=\"+Inf\"} 10
hotcold_backend_call_duration_seconds_sum{backend=\"redis\",call=\"touch\",result=\"ok\"} 0.003
hotcold_backend_call_duration_seconds_count{backend=\"redis\",call=\"touch\",result=\"ok\"} 10
hotcold_backend_call_duration_seconds_bucket{backend=\"redis\",call=\"get\",result=\"error\",le=\"0.0001\"} 0
hotcold_backend_call_duration_seconds_bucket{backend=\"redis\",call=\"get\",result=\"error\",le=\"0.00025\"} 0
hotcold_backend_call_duration_seconds_bucket{backend=\"redis\",call=\"get\",result=\"error\",le=\"0.0005\"} 0
hotcold_backend_call_duration_seconds_bucket{backend=\"redis\",call=\"get\",result=\"error\",le=\"+Inf\"} 7
hotcold_backend_call_duration_seconds_sum{backend=\"redis\",call=\"get\",result=\"error\"} 17.5
hotcold_backend_call_duration_seconds_count{backend=\"redis\",call=\"get\",result=\"error\"} 7
hotcold_backend_call_duration_seconds_bucket{backend=\"redis\", call=\"set\",instance=\"10.0.0.7:9100\",region=\"eu-west-1\",result=\"ok\",le=\"0.0001\"} 0 1717000000000
hotcold_backend_call_duration_seconds_bucket{backend=\"redis\", call=\"set\",instance=\"10.0.0.7:9100\",region=\"eu-west-1\",result=\"ok\",le=\"0.00025\"} 100 1717000000000
hotcold_backend_call_duration_seconds_bucket{backend=\"redis\", call=\"set\",instance=\"10.0.0.7:9100\",region=\"eu-west-1\",result=\"ok\",le=\"0.0005\"} 200 1717000000000
hotcold_backend_call_duration_seconds_bucket{backend=\"redis\", call=\"set\",instance=\"10.0.0.7:9100\",region=\"eu-west-1\",result=\"ok\",le=\"+Inf\"} 400 1717000000000
hotcold_backend_call_duration_seconds_count{backend=\"redis\", call=\"set\",instance=\"10.0.0.7:9100\",region=\"eu-west-1\",result=\"ok\"} 400 1717000000000

hotcold_backend_call_duration_seconds_bucket{backend=\"dynamodb\",call=\"get\",result=\"ok\",le=\"0.0001\"} 0
hotcold_backend_call_duration_seconds_bucket{backend=\"dynamodb\",call=\"get\",result=\"ok\",le=\"0.00025\"} 0
hotcold_backend_call_duration_seconds_bucket{backend=\"dynamodb\",call=\"get\",result=\"ok\",le=\"0.0005\"} 1
hotcold_backend_call_duration_seconds_bucket{backend=\"dynamodb\",call=\"get\",result=\"ok\",le=\"+Inf\"} 50
hotcold_backend_call_duration_seconds_sum{backend=\"dynamodb\",call=\"get\",result=\"ok\"} NaN
# A comment, then a metric of another kind with every escape.
# TYPE hotcold_serve_info gauge
hotcold_serve_info{region=\"us-east-1\",note=\"back\\\\slash \\\"quoted\\\"\\nnext\"} 1
hotcold_sync_lag_seconds -Inf
hotcold_sync_lease_held +Inf\r
";

    fn backend_ok(backend: &str) -> impl Fn(&[(String, String)]) -> bool + '_ {
        move |labels| {
            let label = |name: &str| labels.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
            label("backend") == Some(backend) && label("result") == Some("ok")
        }
    }

    const METRIC: &str = "hotcold_backend_call_duration_seconds";

    #[test]
    fn sums_the_selected_series_of_a_realistic_exposition() {
        let redis = histogram(EXPOSITION, METRIC, backend_ok("redis")).unwrap().unwrap();
        // get + touch + set (the scraped series with extra labels); the error series left out.
        assert_eq!(redis.buckets, vec![(0.0001, 3), (0.00025, 135), (0.0005, 299), (f64::INFINITY, 510)]);
        assert_eq!(redis.count, 510);
        // The set series has no _sum: it counts as 0.
        assert!((redis.sum - 0.034).abs() < 1e-12, "{}", redis.sum);

        let dynamodb = histogram(EXPOSITION, METRIC, backend_ok("dynamodb")).unwrap().unwrap();
        assert_eq!(dynamodb.count, 50);
        assert!(dynamodb.sum.is_nan());

        assert_eq!(histogram(EXPOSITION, METRIC, backend_ok("memcached")).unwrap(), None);
        assert_eq!(histogram(EXPOSITION, "hotcold_missing_seconds", |_| true).unwrap(), None);
        // Every series, errors included.
        assert_eq!(histogram(EXPOSITION, METRIC, |_| true).unwrap().unwrap().count, 567);
    }

    #[test]
    fn reads_samples_with_escapes_special_values_and_timestamps() {
        let sample = |line| match parse_line(line) {
            Ok(Line::Sample(sample)) => sample,
            other => panic!("{line}: {other:?}"),
        };
        let info = sample(r#"info{note="back\\slash \"quoted\"\nnext",b="x,}"} 1"#);
        assert_eq!(
            info.labels,
            vec![("note".to_owned(), "back\\slash \"quoted\"\nnext".to_owned()), ("b".to_owned(), "x,}".to_owned()),]
        );
        assert_eq!(sample("up +Inf").value, f64::INFINITY);
        assert_eq!(sample("up -Inf").value, f64::NEG_INFINITY);
        assert!(sample("up NaN").value.is_nan());
        assert_eq!(sample("  up{ a = \"1\" , } \t 2.5e-3  -17 ").value, 0.0025);
        assert_eq!(sample("up{} 3 1717000000000").labels, vec![]);
        assert_eq!(parse_line("# TYPE up gauge"), Ok(Line::Type { name: "up", kind: "gauge" }));
        for nothing in ["", "  \t", "# just a comment", "#", "# HELP up Whether \\n it is up", "# EOF"] {
            assert_eq!(parse_line(nothing), Ok(Line::Nothing), "{nothing:?}");
        }
    }

    #[test]
    fn bad_input_is_malformed_naming_the_line_and_what_was_expected() {
        let good = "# TYPE m histogram\nm_bucket{le=\"1\"} 1\nm_bucket{le=\"+Inf\"} 2\nm_count 2\n";
        assert!(histogram(good, "m", |_| true).unwrap().is_some());
        let cases = [
            ("m_bucket{le=\"1\"} 1\nm_bucket{le=\"+Inf\"} 2\n{le=\"1\"} 3\n", "line 3", "metric name"),
            ("m_bucket{le=\"1\" 1\n", "line 1", "expected ',' or '}'"),
            ("m_bucket{le=1} 1\n", "line 1", "expected '\"'"),
            ("m_bucket{le\"1\"} 1\n", "line 1", "expected '='"),
            ("m_bucket{le=\"1} 1\n", "line 1", "no closing"),
            ("x 1\nm_bucket{le=\"\\t\"} 1\n", "line 2", "unknown escape"),
            ("m_bucket{le=\"1\",le=\"2\"} 1\n", "line 1", "appears twice"),
            ("m_bucket{1le=\"1\"} 1\n", "line 1", "label name"),
            ("m_bucket{le=\"1\"}\n", "line 1", "value"),
            ("m_bucket{le=\"1\"}1\n", "line 1", "blank and a value"),
            ("m_count one\n", "line 1", "expected a value"),
            ("m_count 1 12.5\n", "line 1", "timestamp"),
            ("m_count 1 12 13\n", "line 1", "after the timestamp"),
            ("m\"x\" 1\n", "line 1", "after the metric name"),
            ("# TYPE m\n", "line 1", "expected a type"),
            ("# TYPE m histo\n", "line 1", "expected a type"),
            ("# TYPE 1m gauge\n", "line 1", "metric name"),
            ("# HELP\n", "line 1", "metric name"),
            ("# TYPE m summary\n", "line 1", "expected a histogram"),
            ("m_bucket 1\n", "line 1", "needs an le label"),
            ("m_bucket{le=\"fast\"} 1\n", "line 1", "not a bucket bound"),
            ("m_bucket{le=\"1\"} 1.5\n", "line 1", "whole non-negative"),
            ("m_bucket{le=\"1\"} -1\n", "line 1", "whole non-negative"),
            ("m_bucket{le=\"1\"} 1\nm_bucket{le=\"1.0\"} 1\n", "line 2", "second bucket"),
            ("m_count 1\nm_count 1\n", "line 2", "second _count"),
            // Decreasing counts, the offending bucket named wherever it is written.
            ("m_bucket{le=\"+Inf\"} 9\nm_bucket{le=\"2\"} 4\nm_bucket{le=\"1\"} 5\n", "line 2", "must not decrease"),
            ("m_bucket{le=\"1\"} 1\nm_count 1\n", "line 1", "no le=\"+Inf\""),
            ("m_bucket{le=\"+Inf\"} 2\nm_count 3\n", "line 2", "must agree"),
            (
                "m_bucket{a=\"x\",le=\"1\"} 1\nm_bucket{a=\"x\",le=\"+Inf\"} 1\nm_bucket{a=\"y\",le=\"2\"} 1\n\
                 m_bucket{a=\"y\",le=\"+Inf\"} 1\n",
                "line 3",
                "cannot be summed",
            ),
        ];
        for (text, line, expected) in cases {
            match histogram(text, "m", |_| true) {
                Err(CalibrationError::Malformed(message)) => {
                    assert!(message.contains(&format!("metrics {line}")), "{text:?}: {message}");
                    assert!(message.contains(expected), "{text:?}: {message}");
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn counts_lines_across_crlf_and_blank_lines() {
        let text = "# TYPE m histogram\r\n\r\nm_bucket{le=\"+Inf\"} 1\r\nm_count 2\r\n";
        let Err(CalibrationError::Malformed(message)) = histogram(text, "m", |_| true) else { panic!() };
        assert_eq!(message, "metrics line 4: m_count is 2 but its le=\"+Inf\" bucket counts 1: they must agree");
        let text = "# TYPE m histogram\r\n\r\nm_bucket{le=\"+Inf\"} 1\r\nm_count two\r\n";
        let Err(CalibrationError::Malformed(message)) = histogram(text, "m", |_| true) else { panic!() };
        assert!(message.starts_with("metrics line 4 (m_count two): expected a value"), "{message}");
    }

    proptest! {
        #[test]
        fn never_panics_on_any_text(text in "\\PC*", metric in "[a-z_]{0,4}") {
            let _ = histogram(&text, &metric, |_| true);
        }

        #[test]
        fn never_panics_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let text = String::from_utf8_lossy(&bytes);
            let _ = histogram(&text, "m", |_| true);
        }

        /// Near-misses of valid lines: the pieces of the format in any order.
        #[test]
        fn never_panics_on_shuffled_pieces_of_the_format(
            pieces in proptest::collection::vec(
                prop::sample::select(vec![
                    "m", "m_bucket", "m_count", "m_sum", "{", "}", "le", "=", "\"", "\\", ",", " ", "\t",
                    "\n", "\r", "1", "-1", "+Inf", "NaN", "0.5", "#", "TYPE", "HELP", "histogram", "é", "1e400",
                ]),
                0..60,
            )
        ) {
            let _ = histogram(&pieces.concat(), "m", |_| true);
        }
    }
}
