//! End-to-end tests of a sweep split into tasks for a batch scheduler (CONTRACT section 1:
//! `hotcold sweep SCENARIO --plan`, `--point I|auto --out DIR`, `--collect DIR`) and of sweeps over
//! seeds (`--seeds N`, `sweep: { seeds: [..] }`, `sweep-spread.csv`).

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;

use common::{assert_bad_input, hotcold};

/// The variables `--point auto` reads, one per scheduler.
const INDEX_VARIABLES: [&str; 3] = ["JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID", "AWS_BATCH_JOB_ARRAY_INDEX"];

fn scratch_dir(label: &str) -> PathBuf {
    common::scratch_dir("sweep-split", label)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `hotcold` with none of the schedulers' index variables, whatever the test runner has.
fn hotcold_clean() -> std::process::Command {
    let mut command = hotcold();
    for name in INDEX_VARIABLES {
        command.env_remove(name);
    }
    command
}

/// Runs `hotcold ARGS...` and asserts exit 0.
fn ok(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let output = hotcold_clean().args(args).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "hotcold {:?}: {}", os(args), stderr(&output));
    output
}

fn os(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<String> {
    args.iter().map(|a| a.as_ref().to_string_lossy().into_owned()).collect()
}

/// `scenarios/tiny.yaml` (about a quarter of a second per run in a debug build) with `grid` as its
/// `sweep:` block, written into `dir`.
fn tiny_with(dir: &Path, name: &str, grid: &str) -> PathBuf {
    let tiny = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/tiny.yaml")).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, format!("{tiny}\nsweep:\n{grid}")).unwrap();
    path
}

const THREE_THRESHOLDS: &str = "  session_config.hot_storage.promotion_threshold: [120, 300, 600]\n";

/// A `summary.json` without its `"run"` object (wall-clock figures).
fn summary(dir: &Path) -> serde_json::Value {
    let path = dir.join("summary.json");
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap();
    v.as_object_mut().unwrap().remove("run");
    v
}

/// The lines of a sweep's printed table: everything but the first line (which names the mode)
/// and the last (which names the directory).
fn table_rows(output: &Output) -> Vec<String> {
    let text = stdout(output);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() > 3, "{text}");
    assert!(lines[lines.len() - 1].contains("written to"), "{text}");
    lines[1..lines.len() - 1].iter().map(|l| (*l).to_string()).collect()
}

/// The plan's lines as (index, directory, arguments).
fn plan(scenario: &Path, extra: &[&str]) -> Vec<(String, String, String)> {
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"sweep", &scenario, &"--plan"];
    args.extend(extra.iter().map(|a| a as &dyn AsRef<std::ffi::OsStr>));
    let output = ok(&args);
    stdout(&output)
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            assert_eq!(fields.len(), 3, "index<TAB>dir<TAB>args: {line:?}");
            (fields[0].to_string(), fields[1].to_string(), fields[2].to_string())
        })
        .collect()
}

/// The run directories (names) directly under `dir`.
fn run_dirs(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("run.json").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn points_run_as_separate_scheduler_tasks_collect_to_the_same_sweep() {
    let dir = scratch_dir("split");
    let scenario = tiny_with(&dir, "grid.yaml", THREE_THRESHOLDS);
    let whole = dir.join("whole");
    let whole_output = ok(&[&"sweep", &scenario, &"--out", &whole]);

    // Three tasks at once, each given its index the way one scheduler gives it.
    let split = dir.join("split");
    let tasks: Vec<_> = INDEX_VARIABLES
        .iter()
        .enumerate()
        .map(|(i, name)| {
            hotcold_clean()
                .arg("sweep")
                .arg(&scenario)
                .args(["--point", "auto", "--out"])
                .arg(&split)
                .env(name, i.to_string())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (task, name) in tasks.into_iter().zip(INDEX_VARIABLES) {
        let output = task.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{name}: {}", stderr(&output));
    }
    assert_eq!(run_dirs(&split), run_dirs(&whole), "the points land where the whole sweep puts them");
    assert!(!split.join("sweep.csv").exists(), "a point writes only its run directory");

    let collected = ok(&[&"sweep", &scenario, &"--collect", &split]);
    for file in ["sweep.csv", "frontier.svg", "frontier-lookup.svg", "frontier.png", "frontier-lookup.png"] {
        let (a, b) = (std::fs::read(whole.join(file)).unwrap(), std::fs::read(split.join(file)).unwrap());
        assert!(a == b, "{file} differs between the whole sweep and the collected one");
    }
    assert!(!split.join("sweep-spread.csv").exists(), "no seed axis, no spread");
    assert_eq!(table_rows(&collected), table_rows(&whole_output), "the same table");
    for name in run_dirs(&whole) {
        assert_eq!(summary(&whole.join(&name)), summary(&split.join(&name)), "{name}");
    }
    let csv = std::fs::read_to_string(split.join("sweep.csv")).unwrap();
    assert_eq!(csv.lines().count(), 4, "a header and 3 points: {csv}");
}

#[test]
fn the_plan_lists_the_grid_and_its_set_arguments_make_each_point() {
    let dir = scratch_dir("plan");
    // A list value, which the plan must quote for the shell and write in flow style.
    let scenario = tiny_with(
        &dir,
        "grid.yaml",
        "  session_config.hot_storage.promotion_threshold: [120, 600]\n  residency.eu-west-1: [[eu-west-1], [eu-west-1, us-east-1]]\n",
    );
    let base = ["--set", "traffic.travel_probability=0.02"];
    let lines = plan(&scenario, &base);
    assert_eq!(lines.len(), 4, "{lines:?}");
    for (i, (index, _, args)) in lines.iter().enumerate() {
        assert_eq!(index, &i.to_string(), "indices count from 0");
        assert!(args.starts_with("--set traffic.travel_probability=0.02 --set "), "{args}");
    }
    // Nothing was run or written by the plan; the whole sweep writes exactly the plan's directories.
    let whole = dir.join("whole");
    assert!(!whole.exists());
    ok(&[&"sweep", &scenario, &"--out", &whole, &base[0], &base[1]]);
    let mut planned: Vec<String> = lines.iter().map(|(_, name, _)| name.clone()).collect();
    planned.sort();
    assert_eq!(planned, run_dirs(&whole));
    // Each line's arguments, through a POSIX shell, make the point with `hotcold simulate`.
    for (index, name, args) in &lines {
        let out = dir.join(format!("simulate-{index}"));
        let command = format!(
            "'{}' simulate '{}' --quiet --out '{}' {args}",
            env!("CARGO_BIN_EXE_hotcold"),
            scenario.display(),
            out.display()
        );
        let output = std::process::Command::new("sh").arg("-c").arg(&command).output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{command}: {}", stderr(&output));
        assert_eq!(summary(&out), summary(&whole.join(name)), "point {index} ({name}) against {args}");
    }
    // The list value is written so that it reads back as the list.
    assert!(lines.iter().any(|(_, _, args)| args.contains(r#"'residency.eu-west-1=["eu-west-1", "us-east-1"]'"#)));
}

#[test]
fn collect_refuses_missing_points_and_points_run_from_another_scenario() {
    let dir = scratch_dir("refuse");
    let scenario = tiny_with(&dir, "grid.yaml", THREE_THRESHOLDS);
    let names: Vec<String> = plan(&scenario, &[]).into_iter().map(|(_, name, _)| name).collect();
    let out = dir.join("out");
    for i in ["0", "2"] {
        let output = ok(&[&"sweep", &scenario, &"--point", &i, &"--out", &out]);
        assert!(stdout(&output).contains(&format!("point {i} of 3 (counted from 0)")), "{}", stdout(&output));
    }
    let collect = || hotcold_clean().arg("sweep").arg(&scenario).arg("--collect").arg(&out).output().unwrap();
    let missing = collect();
    assert_bad_input(&missing, "point 1 missing", &["1 of 3 points not run", &format!("1 {}", names[1])]);
    assert!(!stderr(&missing).contains(&names[0]) && !stderr(&missing).contains(&names[2]), "{}", stderr(&missing));
    assert!(!out.join("sweep.csv").exists(), "nothing written");

    // Point 1 run from a scenario other than the plan's point (its base changed with --set).
    ok(&[&"sweep", &scenario, &"--point", &"1", &"--out", &out, &"--set", &"traffic.travel_probability=0.02"]);
    let other = collect();
    assert_bad_input(
        &other,
        "point 1 from another scenario",
        &[
            "1 of 3 points run from another scenario",
            &format!(": 1 {} (", names[1]),
            "traffic.travel_probability: 0.02 in the run, 0.05 in the plan",
        ],
    );
    assert!(!out.join("sweep.csv").exists(), "nothing written");
    // Run again as planned, it collects.
    ok(&[&"sweep", &scenario, &"--point", &"1", &"--out", &out]);
    ok(&[&"sweep", &scenario, &"--collect", &out]);
    assert!(out.join("sweep.csv").is_file());

    // A scenario file changed after the points ran (another cost) is refused for every point.
    let changed = dir.join("changed.yaml");
    let text =
        std::fs::read_to_string(&scenario).unwrap().replace("travel_probability: 0.05", "travel_probability: 0.03");
    std::fs::write(&changed, text).unwrap();
    let output = hotcold_clean().arg("sweep").arg(&changed).arg("--collect").arg(&out).output().unwrap();
    let every = format!(
        "3 of 3 points run from another scenario than the plan's (the scenario file or --set changed since; run them again): 0 {}, 1 {}, 2 {} (traffic.travel_probability: 0.05 in the run, 0.03 in the plan)",
        names[0], names[1], names[2]
    );
    assert_bad_input(&output, "changed scenario", &[&every]);

    // Bad indices and directories.
    let bad = |args: &[&str]| hotcold_clean().arg("sweep").arg(&scenario).args(args).output().unwrap();
    let out_text = out.to_string_lossy().into_owned();
    assert_bad_input(&bad(&["--point", "99", "--out", &out_text]), "--point 99", &["--point 99", "below 3"]);
    assert_bad_input(&bad(&["--point=-1", "--out", &out_text]), "--point -1", &["--point -1"]);
    assert_bad_input(&bad(&["--point", "one", "--out", &out_text]), "--point one", &["--point one", "whole number"]);
    assert_bad_input(&bad(&["--point", "auto", "--out", &out_text]), "--point auto", &["JOB_COMPLETION_INDEX"]);
    let high = hotcold_clean()
        .arg("sweep")
        .arg(&scenario)
        .args(["--point", "auto", "--out", &out_text])
        .env("SLURM_ARRAY_TASK_ID", "3")
        .output()
        .unwrap();
    assert_bad_input(&high, "SLURM_ARRAY_TASK_ID=3", &["SLURM_ARRAY_TASK_ID=3", "below 3"]);
    let file = scenario.to_string_lossy().into_owned();
    assert_bad_input(&bad(&["--point", "0", "--out", &file]), "--out a file", &["--out", "not a directory"]);
    let nowhere = dir.join("no-such-dir").to_string_lossy().into_owned();
    assert_bad_input(&bad(&["--collect", &nowhere]), "--collect missing dir", &["no-such-dir", "not a directory"]);
    // Flags that make no sense together are usage errors (exit 2, clap's message).
    for args in [
        &["--plan", "--jobs", "2"][..],
        &["--plan", "--collect", &out_text],
        &["--point", "0", "--collect", &out_text],
        &["--point", "0", "--out", &out_text, "--jobs", "2"],
        &["--collect", &out_text, "--jobs", "2"],
        &["--point", "0"],
    ] {
        let output = bad(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", stderr(&output));
        assert!(!stderr(&output).contains("panicked"), "{args:?}");
    }
    // A scenario without a grid has no points.
    let plain = hotcold_clean().args(["sweep", "scenarios/tiny.yaml", "--plan"]).output().unwrap();
    assert_bad_input(&plain, "no grid", &["no sweep: grid"]);
}

/// The columns of a CSV file by header name (no quoted commas in these files).
fn csv_columns(path: &Path) -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(str::to_string).collect();
    let mut columns: Vec<(String, Vec<String>)> = header.into_iter().map(|h| (h, Vec::new())).collect();
    for line in lines {
        for (column, cell) in columns.iter_mut().zip(line.split(',')) {
            column.1.push(cell.to_string());
        }
    }
    columns
}

fn column<'a>(columns: &'a [(String, Vec<String>)], name: &str) -> &'a [String] {
    &columns.iter().find(|(h, _)| h == name).unwrap_or_else(|| panic!("no column {name}")).1
}

fn numbers(cells: &[String]) -> Vec<f64> {
    cells.iter().map(|c| c.parse().unwrap_or_else(|_| panic!("{c:?} is not a number"))).collect()
}

#[test]
fn a_sweep_over_seeds_reports_each_figures_spread() {
    let dir = scratch_dir("seeds");
    let scenario = tiny_with(&dir, "grid.yaml", "  session_config.hot_storage.promotion_threshold: [120, 600]\n");
    let out = dir.join("out");
    let output = ok(&[&"sweep", &scenario, &"--seeds", &"3", &"--out", &out]);
    let text = stdout(&output);
    assert!(text.contains("6 points") && text.contains("spread across seeds") && text.contains(" ± "), "{text}");
    assert_eq!(run_dirs(&out).len(), 6);

    let runs = csv_columns(&out.join("sweep.csv"));
    // The grid's keys in sorted order: `seed` before `session_config`, so the seed is outermost.
    assert_eq!(column(&runs, "seed"), ["7", "7", "8", "8", "9", "9"], "tiny's seed 7, then 8 and 9");
    let thresholds = column(&runs, "session_config.hot_storage.promotion_threshold");
    let spread = csv_columns(&out.join("sweep-spread.csv"));
    assert_eq!(column(&spread, "session_config.hot_storage.promotion_threshold"), ["120", "600"]);
    assert!(spread.iter().all(|(h, _)| h != "seed"), "the seed is what is spread over");
    assert_eq!(column(&spread, "seeds"), ["3", "3"]);
    assert_eq!(spread.len(), 1 + 4 * 11 + 2, "the threshold, 4 columns per figure, seeds, all_seeds_pass");
    // Each figure's spread is that of the threshold's three runs in sweep.csv.
    let rows_of = |threshold: &str| -> Vec<usize> { (0..6).filter(|&i| thresholds[i] == threshold).collect() };
    for figure in ["hot_ratio", "lookup_mean_ms", "cost_usd_month", "hot_access_p95_ms", "availability"] {
        let values = numbers(column(&runs, figure));
        for (row, threshold) in ["120", "600"].iter().enumerate() {
            let three: Vec<f64> = rows_of(threshold).into_iter().map(|i| values[i]).collect();
            assert_eq!(three.len(), 3);
            let mean = three.iter().sum::<f64>() / 3.0;
            let sd = (three.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
            let min = three.iter().copied().fold(f64::INFINITY, f64::min);
            let max = three.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            for (stat, want) in [("mean", mean), ("sd", sd), ("min", min), ("max", max)] {
                let got = numbers(column(&spread, &format!("{figure}_{stat}")))[row];
                assert!((got - want).abs() <= 1e-9 * want.abs().max(1.0), "{figure}_{stat} row {row}: {got} != {want}");
            }
        }
    }
    for figure in ["hot_ratio", "lookup_mean_ms"] {
        assert!(
            numbers(column(&spread, &format!("{figure}_sd"))).iter().all(|sd| *sd > 0.0),
            "{figure} varies by seed"
        );
    }
    let passes: Vec<bool> = column(&runs, "all_slos_pass").iter().map(|c| c == "true").collect();
    let expected: Vec<String> =
        ["120", "600"].iter().map(|t| rows_of(t).into_iter().all(|i| passes[i]).to_string()).collect();
    assert_eq!(column(&spread, "all_seeds_pass"), expected.as_slice());

    // Plan, point and collect all see the seed axis.
    let lines = plan(&scenario, &["--seeds", "3"]);
    assert_eq!(lines.len(), 6);
    assert!(lines[2].2.starts_with("--set seed=8 "), "{:?}", lines[2]);
    let one = dir.join("one");
    ok(&[&"sweep", &scenario, &"--seeds", &"3", &"--point", &"3", &"--out", &one]);
    assert_eq!(summary(&one.join(&lines[3].1)), summary(&out.join(&lines[3].1)));
    let (csv, spread_csv) =
        (std::fs::read(out.join("sweep.csv")).unwrap(), std::fs::read(out.join("sweep-spread.csv")).unwrap());
    std::fs::remove_file(out.join("sweep.csv")).unwrap();
    std::fs::remove_file(out.join("sweep-spread.csv")).unwrap();
    let collected = ok(&[&"sweep", &scenario, &"--seeds", &"3", &"--collect", &out]);
    assert_eq!(table_rows(&collected), table_rows(&output), "the same tables, the spread included");
    assert!(std::fs::read(out.join("sweep.csv")).unwrap() == csv, "sweep.csv");
    assert!(std::fs::read(out.join("sweep-spread.csv")).unwrap() == spread_csv, "sweep-spread.csv");
    // Without --seeds the plan has other points (two, without a seed): refused, not collected as
    // a sweep without seeds.
    let output = hotcold_clean().arg("sweep").arg(&scenario).arg("--collect").arg(&out).output().unwrap();
    assert_bad_input(&output, "collect without --seeds", &["2 of 2 points not run"]);
}

#[test]
fn sweep_seeds_is_the_seed_axis_and_seeds_are_checked() {
    let dir = scratch_dir("seeds-alias");
    let plural = tiny_with(&dir, "plural.yaml", "  seeds: [7, 8]\n  engine.durability: [on_demotion, write_through]\n");
    let singular =
        tiny_with(&dir, "singular.yaml", "  seed: [7, 8]\n  engine.durability: [on_demotion, write_through]\n");
    let validated = |path: &Path| stdout(&ok(&[&"validate", &path]));
    assert_eq!(validated(&plural), validated(&singular));
    assert!(validated(&plural).contains("\n  seed:\n"), "{}", validated(&plural));
    assert_eq!(plan(&plural, &[]), plan(&singular, &[]));
    // The same grid as --seeds 2 on the durability axis alone.
    let durability = tiny_with(&dir, "durability.yaml", "  engine.durability: [on_demotion, write_through]\n");
    assert_eq!(plan(&durability, &["--seeds", "2"]), plan(&singular, &[]));

    let both = tiny_with(&dir, "both.yaml", "  seed: [7]\n  seeds: [8]\n");
    for command in ["validate", "sweep"] {
        let output = hotcold_clean().arg(command).arg(&both).output().unwrap();
        assert_bad_input(&output, command, &["sweep.seeds", "sweep.seed"]);
    }
    let sweep = |path: &Path, args: &[&str]| hotcold_clean().arg("sweep").arg(path).args(args).output().unwrap();
    assert_bad_input(
        &sweep(&singular, &["--seeds", "2", "--plan"]),
        "--seeds on a seed axis",
        &["--seeds", "seed axis"],
    );
    assert_bad_input(&sweep(&durability, &["--seeds", "0", "--plan"]), "--seeds 0", &["--seeds", "at least 1"]);
    assert_bad_input(&sweep(&durability, &["--seeds", "600", "--plan"]), "--seeds 600", &["--seeds", "1000 points"]);
    let huge = sweep(&durability, &["--seeds", "18446744073709551615", "--plan"]);
    assert_bad_input(&huge, "--seeds u64::MAX", &["--seeds"]);
    let output = sweep(&durability, &["--seeds", "-1", "--plan"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    // One seed is a seed axis of one value: no spread.
    let out = dir.join("one-seed");
    ok(&[&"sweep", &durability, &"--seeds", &"1", &"--out", &out]);
    assert!(out.join("sweep.csv").is_file() && !out.join("sweep-spread.csv").exists());
}
