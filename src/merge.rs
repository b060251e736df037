//! `hotcold merge DIR... --out RUN_DIR`: the shards of a run, each written by
//! `hotcold simulate --shard K/N` (in processes of their own, on any machines), put together into
//! the run directory `hotcold simulate --shards N` would have written.

use std::path::PathBuf;

use anyhow::{Context, anyhow};
use hotcold_sim::shard::{ShardError, merge_shard_dirs};

use crate::Failure;

/// The command's arguments.
#[derive(Debug)]
pub(crate) struct Args {
    pub(crate) shard_dirs: Vec<PathBuf>,
    pub(crate) out: Option<PathBuf>,
}

/// Merges the shard directories and writes the run directory.
pub(crate) fn merge(args: &Args) -> Result<(), Failure> {
    let record = merge_shard_dirs(&args.shard_dirs).map_err(|e| match e {
        ShardError::Io { missing: false, .. } => Failure::Failed(anyhow!(e)),
        ShardError::Io { missing: true, .. } | ShardError::Mismatch(_) => Failure::BadInput(anyhow!(e)),
    })?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(format!("{}-{}", record.scenario.name, record.seed)));
    std::fs::create_dir_all(&out)
        .with_context(|| format!("cannot create the run directory {}", out.display()))
        .map_err(Failure::Failed)?;
    let full = hotcold_reports::write_run_directory(&out, &record).map_err(|e| Failure::Failed(e.into()))?;
    print!("{}", crate::simulate::one_screen("merge", &record, &record.summary(), &out));
    print!("{}", crate::report::verdict_lines(&full));
    Ok(())
}
