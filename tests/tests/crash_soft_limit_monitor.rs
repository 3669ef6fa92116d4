//! soft-limit-monitor's crash points (issue 16): its real bootstrap dies before and after each
//! call of a sweep that finds one configuration past its warning threshold and one past its
//! count; after Lambda's two retries and the next sweep each crossing's event is on the bus
//! under one `occurrenceId`, and with `Enforcement=harden` the breached configuration is hard
//! and has both `Soft Limit Exceeded` and `Soft Limit Enforced`. Runs alone with
//! `cargo test -p integration-tests --test crash_soft_limit_monitor`.

mod crash;

use crash::{Crash, Suite, enumerate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_mode_reports_each_crossing_whatever_call_the_process_dies_at() {
    enumerate(
        Suite::SoftLimitMonitor { harden: false },
        &[Crash::Before, Crash::After],
    )
    .await
    .assert_all_held();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harden_mode_never_hardens_silently_whatever_call_the_process_dies_at() {
    enumerate(
        Suite::SoftLimitMonitor { harden: true },
        &[Crash::Before, Crash::After],
    )
    .await
    .assert_all_held();
}
