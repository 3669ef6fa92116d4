//! license-events' crash points (issue 16): its real bootstrap dies before and after each call
//! of a `License Change` invocation and of an expiry sweep, with a received license the ISV
//! deactivated and one ending in ten days; after Lambda's two retries and the next sweep,
//! `License Status Changed` and `License Expiring` are each on the bus under one
//! `occurrenceId`. Runs alone with `cargo test -p integration-tests --test crash_license_events`.

mod crash;

use crash::scenarios::LicenseTrigger;
use crash::{Crash, Suite, enumerate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_change_event_is_reported_whatever_call_the_process_dies_at() {
    enumerate(
        Suite::LicenseEvents {
            trigger: LicenseTrigger::Event,
        },
        &[Crash::Before, Crash::After],
    )
    .await
    .assert_all_held();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_expiry_sweep_reports_everything_due_whatever_call_the_process_dies_at() {
    enumerate(
        Suite::LicenseEvents {
            trigger: LicenseTrigger::Sweep,
        },
        &[Crash::Before, Crash::After],
    )
    .await
    .assert_all_held();
}
