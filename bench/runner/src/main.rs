//! `bench`: see the library, and bench/run.sh, which builds what it measures and calls it.

use clap::Parser as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let results = bench::run(bench::Options::parse()).await?;
    eprintln!("measured in {:.0} s", results.measured_seconds);
    Ok(())
}
