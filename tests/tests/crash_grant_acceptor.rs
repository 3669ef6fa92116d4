//! grant-acceptor's crash points (issue 16): its real bootstrap dies before and after each
//! call of a trusted grant's `Grant Change` invocation; after Lambda's two retries and the next
//! sweep the grant is ACTIVE and `Grant Accepted` is on the bus, every copy under one
//! `occurrenceId`. Runs alone with `cargo test -p integration-tests --test crash_grant_acceptor`.

mod crash;

use crash::{Crash, Suite, enumerate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_grant_is_activated_and_announced_whatever_call_the_process_dies_at() {
    enumerate(Suite::GrantAcceptor, &[Crash::Before, Crash::After])
        .await
        .assert_all_held();
}
