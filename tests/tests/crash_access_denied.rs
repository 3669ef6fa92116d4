//! AccessDenied on any call fails loudly (issue 16): for each asynchronous function's
//! scenario and each call k, every call from k on is refused with AccessDeniedException (an
//! IAM or SCP change); the invocation fails all three attempts and its invocation record ends
//! in the dead-letter queue, once, as NeedsAttention. Runs alone with
//! `cargo test -p integration-tests --test crash_access_denied`.

mod crash;

use crash::scenarios::LicenseTrigger;
use crash::{Crash, Suite, enumerate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grant_acceptor_dead_letters_access_denied_on_any_call() {
    enumerate(Suite::GrantAcceptor, &[Crash::Denied])
        .await
        .assert_all_held();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soft_limit_monitor_dead_letters_access_denied_on_any_call() {
    enumerate(Suite::SoftLimitMonitor { harden: true }, &[Crash::Denied])
        .await
        .assert_all_held();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn license_events_dead_letters_access_denied_on_any_call_of_an_event() {
    let suite = Suite::LicenseEvents {
        trigger: LicenseTrigger::Event,
    };
    enumerate(suite, &[Crash::Denied]).await.assert_all_held();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn license_events_dead_letters_access_denied_on_any_call_of_a_sweep() {
    let suite = Suite::LicenseEvents {
        trigger: LicenseTrigger::Sweep,
    };
    enumerate(suite, &[Crash::Denied]).await.assert_all_held();
}
