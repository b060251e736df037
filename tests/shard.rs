//! A run split into processes, as a batch scheduler runs it: `hotcold simulate --shard K/N` in N
//! processes at once (the index from the flag or from a scheduler's variable), then
//! `hotcold merge`: the run directory of `hotcold simulate --shards N` in one process, and bad
//! sets of shards refused with exit 2.

use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};

mod common;

use common::hotcold;

fn scratch_dir(label: &str) -> PathBuf {
    common::scratch_dir("shard", label)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The summary's text before its wall-clock `"run"` object (as the golden tests pin it).
fn pinned_part(summary: &str) -> &str {
    &summary[..summary.find("\"run\"").expect("summary.json has a \"run\" object")]
}

fn summary(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("summary.json")).expect("summary.json")
}

/// Starts shard `index` of `shards` of `scenario` (with `extra` arguments) into `out`, the index
/// given as `--shard index/shards`, or as `auto/shards` with it in `variable`.
fn start_shard(scenario: &str, shard: &str, variable: Option<(&str, usize)>, out: &Path, extra: &[&str]) -> Child {
    let mut command = hotcold();
    command.args(["simulate", scenario, "--quiet", "--shard", shard, "--out"]).arg(out).args(extra);
    for name in ["JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID", "AWS_BATCH_JOB_ARRAY_INDEX"] {
        command.env_remove(name);
    }
    if let Some((name, index)) = variable {
        command.env(name, index.to_string());
    }
    command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start hotcold simulate --shard")
}

fn finished(child: Child) -> Output {
    let output = child.wait_with_output().expect("wait for a shard");
    assert_eq!(output.status.code(), Some(0), "a shard failed: {}", text(&output.stderr));
    output
}

fn merge(dirs: &[PathBuf], out: &Path) -> Output {
    hotcold().arg("merge").args(dirs).arg("--out").arg(out).output().expect("run hotcold merge")
}

/// Runs `scenario` in one process with `--shards n`, and as `n` shard processes at once (indices
/// from the flag and from each scheduler's variable in turn) merged; the two run directories.
fn both_ways(label: &str, scenario: &str, n: usize, extra: &[&str]) -> (PathBuf, PathBuf, Vec<PathBuf>) {
    let root = scratch_dir(label);
    let whole = root.join("one-process");
    let output = hotcold()
        .args(["simulate", scenario, "--quiet", "--shards", &n.to_string(), "--out"])
        .arg(&whole)
        .args(extra)
        .output()
        .expect("run hotcold simulate");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));

    let variables =
        [None, Some("JOB_COMPLETION_INDEX"), Some("SLURM_ARRAY_TASK_ID"), Some("AWS_BATCH_JOB_ARRAY_INDEX")];
    let dirs: Vec<PathBuf> = (0..n).map(|k| root.join(format!("shard-{k}"))).collect();
    let children: Vec<Child> = dirs
        .iter()
        .enumerate()
        .map(|(k, dir)| match variables[k % variables.len()] {
            None => start_shard(scenario, &format!("{k}/{n}"), None, dir, extra),
            Some(name) => start_shard(scenario, &format!("auto/{n}"), Some((name, k)), dir, extra),
        })
        .collect();
    for child in children {
        let output = finished(child);
        assert!(text(&output.stdout).contains("hotcold merge"), "a shard says how to merge: {}", text(&output.stdout));
    }
    // Given in reverse order, as a shell glob may list shard-10 before shard-2.
    let reversed: Vec<PathBuf> = dirs.iter().rev().cloned().collect();
    let merged = root.join("merged");
    let output = merge(&reversed, &merged);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains(&format!("{n} processes")), "{}", text(&output.stdout));
    (whole, merged, dirs)
}

#[test]
fn shards_run_as_separate_processes_merge_into_the_one_process_summary() {
    let (whole, merged, _) = both_ways("tiny", "scenarios/tiny.yaml", 4, &[]);
    let (one, parts) = (summary(&whole), summary(&merged));
    assert_eq!(
        pinned_part(&one),
        pinned_part(&parts),
        "summary.json differs between --shards 4 and 4 merged processes"
    );
    // Not a vacuous equality: the run served traffic, lost sessions to its outage, and the
    // merged run says it was four processes.
    let json: serde_json::Value = serde_json::from_str(&parts).expect("summary.json parses");
    assert!(json["requests"].as_u64().unwrap_or(0) > 10_000, "{json}");
    assert!(json["failover"]["sessions_at_risk"].as_u64().unwrap_or(0) > 0, "{json}");
    assert_eq!(json["run"]["processes"].as_u64(), Some(4));
    // The per-bucket percentiles and the costs merge the same way too.
    for file in ["timeseries.csv", "costs.csv", "baseline_costs.csv"] {
        let a = std::fs::read(whole.join(file)).expect(file);
        let b = std::fs::read(merged.join(file)).expect(file);
        assert!(a == b, "{file} differs between --shards 4 and 4 merged processes");
    }
}

#[test]
fn a_run_with_residency_and_another_seed_merges_the_same_way() {
    let extra = ["--seed", "11", "--set", "residency={eu-west-1: [eu-west-1]}"];
    let (whole, merged, _) = both_ways("residency", "scenarios/tiny.yaml", 3, &extra);
    let (one, parts) = (summary(&whole), summary(&merged));
    assert_eq!(pinned_part(&one), pinned_part(&parts));
    let json: serde_json::Value = serde_json::from_str(&parts).expect("summary.json parses");
    assert_eq!(json["seed"].as_u64(), Some(11));
    assert_eq!(json["residency"]["restricted_regions"][0].as_str(), Some("eu-west-1"), "{json}");
}

#[test]
fn a_bad_set_of_shards_is_refused_naming_the_problem() {
    let root = scratch_dir("bad");
    let run =
        |shard: &str, dir: &Path, extra: &[&str]| finished(start_shard("scenarios/tiny.yaml", shard, None, dir, extra));
    let (a, b, c, d) = (root.join("a"), root.join("b"), root.join("c"), root.join("d"));
    run("0/3", &a, &[]);
    run("1/3", &b, &[]);
    run("2/3", &d, &[]);
    run("1/3", &c, &["--set", "session_config.hot_storage.promotion_threshold=10m"]);
    let out = root.join("run");
    let refused = |dirs: &[&PathBuf], fragment: &str| {
        let dirs: Vec<PathBuf> = dirs.iter().map(|d| (*d).clone()).collect();
        let output = merge(&dirs, &out);
        assert_eq!(output.status.code(), Some(2), "expected exit 2 for {fragment}: {}", text(&output.stderr));
        let stderr = text(&output.stderr);
        assert!(stderr.contains(fragment), "expected {fragment:?} in: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!out.join("summary.json").exists(), "nothing is written from a refused merge");
    };
    refused(&[&a, &b], "missing shard 2 of 3");
    refused(&[&a, &b, &b], "given twice");
    refused(&[&a, &c, &d], "different scenario");
    // A shard of another run (another seed) and a directory that holds no shard.
    let other = root.join("other");
    run("2/3", &other, &["--seed", "8"]);
    refused(&[&a, &b, &other], "different runs");
    let empty = root.join("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    refused(&[&a, &empty], "shard.json");
    // Corrupt data behind a good header.
    let corrupt = root.join("corrupt");
    run("2/3", &corrupt, &[]);
    std::fs::write(corrupt.join("shard.msgpack"), b"\x93not a shard").expect("overwrite");
    refused(&[&a, &b, &corrupt], "not a readable hotcold shard");
    // A header that is not JSON.
    std::fs::write(corrupt.join("shard.json"), b"{ nope").expect("overwrite");
    refused(&[&a, &b, &corrupt], "not a hotcold shard header");
}

#[test]
fn a_bad_shard_flag_is_refused() {
    let dir = scratch_dir("flag");
    for (shard, fragment) in
        [("3", "expected K/N"), ("3/3", "below 3"), ("0/0", "from 1 to"), ("auto/3", "JOB_COMPLETION_INDEX")]
    {
        let output = start_shard("scenarios/tiny.yaml", shard, None, &dir, &[]).wait_with_output().expect("run");
        assert_eq!(output.status.code(), Some(2), "--shard {shard}: {}", text(&output.stderr));
        assert!(text(&output.stderr).contains(fragment), "--shard {shard}: {}", text(&output.stderr));
    }
    let both = hotcold()
        .args(["simulate", "scenarios/tiny.yaml", "--shard", "0/2", "--shards", "2"])
        .output()
        .expect("run hotcold");
    assert_eq!(both.status.code(), Some(2), "--shard with --shards: {}", text(&both.stderr));
    assert!(!dir.join("shard.json").exists());
}
