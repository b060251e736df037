//! `hotcold`: the command line of the hybrid hot/cold session store.
//!
//! Only commands that work are offered; `simulate`, `sweep`, `validate`, `report`, `serve` and
//! `load` arrive with the simulator, reports and backend work.

use clap::Parser;

/// Plan and run a hybrid hot/cold (Redis + DynamoDB) session store.
#[derive(Debug, Parser)]
#[command(name = "hotcold", version, about, long_about = None)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    println!("hotcold {}: no commands are available yet", env!("CARGO_PKG_VERSION"));
    Ok(())
}
