//! Steps and their readable report: each step prints one `ok`/`FAIL` line and its details.

use std::fmt;
use std::future::Future;
use std::time::Instant;

use anyhow::Result;

/// The error a flow returns after one of its steps failed (already reported).
#[derive(Debug)]
pub struct StepFailed;

impl fmt::Display for StepFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a step failed")
    }
}

impl std::error::Error for StepFailed {}

/// What a successful step hands back: its value and the details to print under it.
pub struct Done<T> {
    value: T,
    details: String,
}

/// A successful step's value, with the details (one or more lines) to print under it.
pub fn done<T>(value: T, details: impl Into<String>) -> Result<Done<T>> {
    Ok(Done {
        value,
        details: details.into(),
    })
}

/// Counts and prints the steps of the demo.
pub struct Recorder {
    ok: usize,
    failed: usize,
    started: Instant,
}

/// The demo's outcome.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// Steps that succeeded.
    pub ok: usize,
    /// Steps that failed (a failed step ends its flow).
    pub failed: usize,
    /// Wall time since the recorder was created, in seconds.
    pub seconds: f64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "demo: {} steps ok, {} failed ({:.1} s)",
            self.ok, self.failed, self.seconds
        )
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    /// A recorder with no steps yet; its clock starts now.
    pub fn new() -> Self {
        Self {
            ok: 0,
            failed: 0,
            started: Instant::now(),
        }
    }

    /// Runs one step, prints its outcome, and returns its value. A failure is printed and
    /// counted here and comes back as [`StepFailed`], so flows just use `?`.
    pub async fn step<T>(
        &mut self,
        title: &str,
        work: impl Future<Output = Result<Done<T>>>,
    ) -> Result<T> {
        match work.await {
            Ok(done) => {
                self.ok += 1;
                println!("  ok    {title}");
                print_details(&done.details);
                Ok(done.value)
            }
            Err(err) => {
                self.failed += 1;
                println!("  FAIL  {title}");
                print_details(&format!("{err:#}"));
                Err(StepFailed.into())
            }
        }
    }

    /// Prints the heading of a group of steps (a flow).
    pub fn begin(&mut self, title: &str) {
        println!();
        println!("== {title} ==");
    }

    /// Records how a group of steps ended. An error other than a reported step failure
    /// counts as one failed step, so nothing fails silently.
    pub fn end(&mut self, title: &str, outcome: Result<()>) {
        if let Err(err) = outcome {
            if !err.is::<StepFailed>() {
                self.failed += 1;
                println!("  FAIL  {title}");
                print_details(&format!("{err:#}"));
            }
            println!("  (the rest of this flow was skipped)");
        }
    }

    /// Counts so far.
    pub fn summary(&self) -> Summary {
        Summary {
            ok: self.ok,
            failed: self.failed,
            seconds: self.started.elapsed().as_secs_f64(),
        }
    }
}

fn print_details(details: &str) {
    for line in details.lines() {
        println!("          {line}");
    }
}
