//! `bench-load`: see `bench::load`, and bench/run.sh, which builds what it measures and calls it.

use clap::Parser as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let runs = bench::load::run(bench::load::LoadOptions::parse()).await?;
    if runs.iter().all(bench::load::report::invariant_holds) {
        Ok(())
    } else {
        anyhow::bail!(
            "a run broke the invariant: seats drawn must equal successful checkouts, and be zero after check-in"
        )
    }
}
