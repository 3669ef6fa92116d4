//! Steps and their readable report: each step prints one `ok`/`FAIL` line and its details.

use std::fmt;
use std::future::Future;
use std::time::Instant;

use anyhow::Result;

use crate::flows::{Context, Flow};

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

    /// Runs a flow under its heading. A flow that stops on an error other than a reported
    /// step failure counts as one failed step, so nothing fails silently.
    pub async fn run(&mut self, flow: &Flow, context: &mut Context) {
        println!();
        println!("== {} ==", flow.title);
        if let Err(err) = (flow.run)(context, self).await {
            if !err.is::<StepFailed>() {
                self.failed += 1;
                println!("  FAIL  {}", flow.title);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::Clients;
    use crate::flows::FlowFuture;

    async fn context() -> Context {
        // Nothing is called: the flows below only exercise the recorder.
        Context::new(Clients::connect("http://127.0.0.1:9", "http://127.0.0.1:9").await)
    }

    async fn ok_fail_ok(_: &mut Context, recorder: &mut Recorder) -> Result<()> {
        recorder.step("first", async { done((), "fine") }).await?;
        recorder
            .step("second", async {
                Err::<Done<()>, _>(anyhow::anyhow!("broken"))
            })
            .await?;
        recorder.step("third", async { done((), "never") }).await?;
        Ok(())
    }

    fn ok_fail_ok_boxed<'a>(
        context: &'a mut Context,
        recorder: &'a mut Recorder,
    ) -> FlowFuture<'a> {
        Box::pin(ok_fail_ok(context, recorder))
    }

    fn not_a_step<'a>(_: &'a mut Context, _: &'a mut Recorder) -> FlowFuture<'a> {
        Box::pin(async { Err(anyhow::anyhow!("no infrastructure")) })
    }

    #[tokio::test]
    async fn a_failed_step_is_counted_and_ends_its_flow() {
        let mut context = context().await;
        let mut recorder = Recorder::new();
        let flow = Flow {
            title: "test",
            run: ok_fail_ok_boxed,
        };
        recorder.run(&flow, &mut context).await;
        let summary = recorder.summary();
        assert_eq!((summary.ok, summary.failed), (1, 1));
        assert!(
            summary
                .to_string()
                .starts_with("demo: 1 steps ok, 1 failed (")
        );
    }

    #[tokio::test]
    async fn a_flow_error_outside_a_step_still_counts_as_a_failure() {
        let mut context = context().await;
        let mut recorder = Recorder::new();
        let flow = Flow {
            title: "test",
            run: not_a_step,
        };
        recorder.run(&flow, &mut context).await;
        assert_eq!(recorder.summary().failed, 1);
    }
}
