//! `hotcold calibrate [--analytics FILE.parquet] [--metrics FILE|URL] [--base SCENARIO]
//! [--speedup X] --out SCENARIO`: a scenario fitted to what production measured. The fits live in
//! [`hotcold_model::calibrate`]; this is the edge: reading the export and the exposition,
//! printing every fitted value, writing the scenario with its `calibration:` block.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, anyhow};
use hotcold_model::Scenario;
use hotcold_model::analytics::AnalyticsRow;
use hotcold_model::calibrate::traffic::{Window, fit_traffic};
use hotcold_model::calibrate::{CalibrationError, Fit, FittedKey, KeptKey, Provenance, latency};

use crate::Failure;

/// The environment variable holding the admin credential for a `/metrics` URL (an environment
/// variable, not a flag, so it shows in no process list).
pub(crate) const ADMIN_TOKEN_VAR: &str = "HOTCOLD_ADMIN_TOKEN";

/// How long fetching a `/metrics` URL may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest span an export may cover: ten years.
const MAX_EXPORT_SPAN_MS: u64 = 10 * 365 * 86_400_000;

/// The largest exposition read (a `/metrics` page is tens of kilobytes).
const MAX_EXPOSITION_BYTES: usize = 64 << 20;

/// The command line.
#[derive(Debug)]
pub(crate) struct Args {
    pub(crate) analytics: Option<PathBuf>,
    pub(crate) metrics: Option<String>,
    pub(crate) base: Option<PathBuf>,
    pub(crate) speedup: f64,
    pub(crate) out: PathBuf,
}

/// Fits, prints and writes the calibrated scenario.
pub(crate) fn calibrate(args: &Args) -> Result<(), Failure> {
    let bad = |e: anyhow::Error| Failure::BadInput(e);
    if args.analytics.is_none() && args.metrics.is_none() {
        return Err(bad(anyhow!(
            "nothing to fit from: pass --analytics FILE.parquet (fits traffic:), --metrics FILE|URL (fits latency:), \
             or both"
        )));
    }
    if !(args.speedup.is_finite() && args.speedup > 0.0) {
        return Err(bad(anyhow!("--speedup must be a positive number, got {}", args.speedup)));
    }
    let rows = match &args.analytics {
        Some(path) => Some(read_rows(path, args.speedup)?),
        None => None,
    };
    let mut scenario = match &args.base {
        Some(path) => crate::validate::load(path, &[])?,
        None => default_base(rows.as_deref())?,
    };
    let mut provenance = Provenance {
        calibrated_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        analytics: None,
        metrics: None,
        base: args.base.as_ref().map(|p| p.display().to_string()),
        fitted: Vec::new(),
        kept: Vec::new(),
    };
    let mut fits: Vec<Fit> = Vec::new();
    let mut kept: Vec<(String, String)> = Vec::new();
    if let (Some(rows), Some(path)) = (&rows, &args.analytics) {
        let window = Window::of(rows).ok_or_else(|| {
            refused(&CalibrationError::Insufficient {
                key: "traffic".into(),
                why: format!("none of the export's {} rows has a creation time", rows.len()),
            })
        })?;
        // A time far past the rest (a damaged row) would stretch the window and every rate with
        // it: refused, naming the row.
        if window.span_ms() > MAX_EXPORT_SPAN_MS {
            let latest = rows
                .iter()
                .position(|r| {
                    [r.last_event_at_ms, r.ended_at_ms.unwrap_or(0), r.last_request_at_ms].contains(&window.end_ms)
                })
                .map_or_else(String::new, |i| format!(" (row {}, session {})", i + 1, rows[i].session_id));
            return Err(bad(anyhow!(
                "--analytics {}: the export spans {:.0} days, more than 10 years: a time is wrong{latest}",
                path.display(),
                window.days()
            )));
        }
        // Visits were counted with the deployment's promotion threshold as the idle gap (a `load
        // --speedup` run's, compressed, is the base's once the times are stretched back).
        let promotion_threshold = scenario.session_config.hot_storage.promotion_threshold;
        let visit_gap = u64::try_from(promotion_threshold.as_millis()).unwrap_or(u64::MAX);
        let fitted = fit_traffic(rows, window, &scenario.traffic, visit_gap).map_err(|e| refused(&e))?;
        scenario.traffic = fitted.traffic;
        for region in scenario.traffic.regions.keys() {
            if !scenario.session_config.hot_storage.regions.contains(region) {
                return Err(bad(anyhow!(
                    "the export has sessions homed in {region}, which the base scenario does not configure: add it to \
                     session_config.hot_storage.regions (with its latency.rtt_ms pairs) in --base"
                )));
            }
        }
        let days = window.days();
        provenance.analytics = Some(format!(
            "{} ({} session summaries over {days:.1} days{})",
            path.display(),
            rows.len(),
            if args.speedup == 1.0 {
                String::new()
            } else {
                format!(", times stretched by --speedup {}", args.speedup)
            }
        ));
        fits.extend(fitted.fits);
        kept.extend(fitted.kept);
    }
    if let Some(source) = &args.metrics {
        let text = read_exposition(source)?;
        let (redis, redis_fit) = latency::fit_backend(&text, "redis").map_err(|e| refused(&e))?;
        let (dynamodb, dynamodb_fit) = latency::fit_backend(&text, "dynamodb").map_err(|e| refused(&e))?;
        scenario.latency.redis = redis;
        scenario.latency.dynamodb = dynamodb;
        fits.push(redis_fit);
        fits.push(dynamodb_fit);
        kept.push((
            "latency.rtt_ms".into(),
            "the backend histograms do not measure round trips between regions".into(),
        ));
        provenance.metrics = Some(source.clone());
    }
    provenance.fitted = fits.iter().map(FittedKey::from).collect();
    provenance.kept = kept.iter().map(|(key, why)| KeptKey { key: key.clone(), why: why.clone() }).collect();
    if args.base.is_some() && !scenario.name.ends_with("-calibrated") {
        scenario.name = format!("{}-calibrated", scenario.name);
    }
    scenario.calibration = Some(provenance);
    let text = format!(
        "# Fitted by `hotcold calibrate` from what production measured: see `calibration:` at the end for\n# where each \
         value came from and how well it fits.\n{}",
        scenario.to_yaml()
    );
    // The scenario written must load as it is: a fit outside what a scenario accepts is refused
    // here, not by the next `simulate`.
    Scenario::parse(&text, &args.out.display().to_string())
        .map_err(|e| bad(anyhow!("the fitted scenario does not validate: {e}")))?;
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create {}", dir.display()))
            .map_err(Failure::Failed)?;
    }
    std::fs::write(&args.out, text)
        .with_context(|| format!("cannot write {}", args.out.display()))
        .map_err(Failure::Failed)?;
    print!("{}", fit_table(&fits, &kept));
    println!("  written to {}", args.out.display());
    Ok(())
}

/// A refusal: the data cannot support a fit (exit 2, naming what is missing).
fn refused(e: &CalibrationError) -> Failure {
    Failure::BadInput(anyhow!("{e}"))
}

/// The export's rows, times stretched back by `speedup` around the earliest creation (a `hotcold
/// load --speedup X` run compresses every duration by X).
fn read_rows(path: &Path, speedup: f64) -> Result<Vec<AnalyticsRow>, Failure> {
    if !path.exists() {
        return Err(Failure::BadInput(anyhow!("--analytics {}: no such file", path.display())));
    }
    let mut rows = hotcold_reports::analytics::read(path)
        .map_err(|e| Failure::BadInput(anyhow!("--analytics {}: {e}", path.display())))?;
    if speedup != 1.0 {
        let origin = rows.iter().map(|r| r.created_at_ms).filter(|t| *t > 0).min().unwrap_or(0);
        let stretch = |t: u64| {
            if t == 0 { 0 } else { origin.saturating_add((t.saturating_sub(origin) as f64 * speedup).round() as u64) }
        };
        for row in &mut rows {
            row.created_at_ms = stretch(row.created_at_ms);
            row.last_event_at_ms = stretch(row.last_event_at_ms);
            row.ended_at_ms = row.ended_at_ms.map(stretch);
            row.last_request_at_ms = stretch(row.last_request_at_ms);
            row.think_ms = (row.think_ms as f64 * speedup).round() as u64;
        }
    }
    Ok(rows)
}

/// Without `--base`: the defaults, configured with the regions the export's sessions are homed
/// in (the ADR's three carry their round trips; other names need a base scenario that gives them).
fn default_base(rows: Option<&[AnalyticsRow]>) -> Result<Scenario, Failure> {
    let Some(rows) = rows else {
        return Err(Failure::BadInput(anyhow!(
            "--metrics alone needs --base SCENARIO: the regions and traffic come from a base scenario or an analytics \
             export"
        )));
    };
    let mut regions: Vec<String> = rows.iter().map(|r| r.home_region.clone()).collect();
    regions.sort();
    regions.dedup();
    if regions.is_empty() {
        return Err(Failure::BadInput(anyhow!("the analytics export holds no session summaries: nothing to fit")));
    }
    let mut text =
        format!("name: calibrated\nsession_config:\n  hot_storage:\n    regions: {regions:?}\ntraffic:\n  regions:\n");
    for region in &regions {
        text.push_str(&format!("    {region:?}: {{ sessions_per_day: 1 }}\n"));
    }
    Scenario::parse(&text, "the default base").map_err(|e| {
        Failure::BadInput(anyhow!(
            "the export's regions need a base scenario ({e}); pass --base with their latency.rtt_ms round trips"
        ))
    })
}

/// The exposition text of `source`: a file, or an `http://` URL fetched with the admin
/// credential from [`ADMIN_TOKEN_VAR`].
fn read_exposition(source: &str) -> Result<String, Failure> {
    if source.starts_with("https://") {
        return Err(Failure::BadInput(anyhow!(
            "--metrics {source}: https is not supported; fetch it first (curl -H \"Authorization: Bearer $TOKEN\" \
             {source} > metrics.txt) and pass the file"
        )));
    }
    if let Some(rest) = source.strip_prefix("http://") {
        let token = std::env::var(ADMIN_TOKEN_VAR).ok();
        return fetch(rest, token.as_deref())
            .with_context(|| format!("cannot read --metrics {source}"))
            .map_err(Failure::Failed);
    }
    let bytes = std::fs::read(source).map_err(|e| Failure::BadInput(anyhow!("--metrics {source}: {e}")))?;
    String::from_utf8(bytes).map_err(|_| Failure::BadInput(anyhow!("--metrics {source}: not UTF-8 text")))
}

/// GET `http://<authority_and_path>` with a bearer `token`, over one HTTP/1.1 connection.
fn fetch(authority_and_path: &str, token: Option<&str>) -> anyhow::Result<String> {
    use http_body_util::{BodyExt, Empty, Limited};
    use hyper::body::Bytes;

    let (authority, path) = match authority_and_path.find('/') {
        Some(at) => authority_and_path.split_at(at),
        None => (authority_and_path, "/"),
    };
    let address = if authority.contains(':') { authority.to_string() } else { format!("{authority}:80") };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        tokio::time::timeout(FETCH_TIMEOUT, async {
            let stream = tokio::net::TcpStream::connect(&address)
                .await
                .with_context(|| format!("cannot connect to {address}"))?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
            tokio::spawn(connection);
            let mut request = hyper::Request::get(path).header(hyper::header::HOST, authority);
            if let Some(token) = token {
                request = request.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
            }
            let response = sender.send_request(request.body(Empty::<Bytes>::new())?).await?;
            let status = response.status();
            if status == hyper::StatusCode::UNAUTHORIZED || status == hyper::StatusCode::FORBIDDEN {
                return Err(anyhow!("{status}: /metrics needs an admin credential in {ADMIN_TOKEN_VAR}"));
            }
            if !status.is_success() {
                return Err(anyhow!("the server answered {status}"));
            }
            let body = Limited::new(response.into_body(), MAX_EXPOSITION_BYTES)
                .collect()
                .await
                .map_err(|e| anyhow!("reading the body: {e}"))?
                .to_bytes();
            String::from_utf8(body.to_vec()).map_err(|_| anyhow!("the exposition is not UTF-8 text"))
        })
        .await
        .map_err(|_| anyhow!("no answer within {} s", FETCH_TIMEOUT.as_secs()))?
    })
}

/// Every fitted value, its fit and its basis, then what was kept from the base.
fn fit_table(fits: &[Fit], kept: &[(String, String)]) -> String {
    let mut out = String::from("hotcold calibrate: fitted values\n");
    let width = fits.iter().map(|f| f.key.len()).max().unwrap_or(0);
    for fit in fits {
        out.push_str(&format!(
            "  {:width$}  {}\n  {:width$}    fit: {}; from {} {}\n",
            fit.key, fit.value, "", fit.goodness, fit.basis, fit.basis_unit
        ));
    }
    if !kept.is_empty() {
        out.push_str("  kept from the base:\n");
        for (key, why) in kept {
            out.push_str(&format!("    {key}: {why}\n"));
        }
    }
    out
}
