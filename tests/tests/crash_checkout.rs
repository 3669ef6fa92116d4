//! checkout-proxy's crash points (issue 17): its real bootstrap, behind the local HTTP API,
//! dies before and after each call of a PROVISIONAL checkout with an `Idempotency-Key` (with
//! and without a `nodeId`, whose sticky lease adds calls); the
//! customer's app retries as the answer tells it; in the end exactly one seat is held and its
//! token checks in to zero. Runs alone with
//! `cargo test -p integration-tests --test crash_checkout`.

mod crash;

use crash::{Crash, Suite, enumerate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_holds_exactly_one_seat_whatever_call_the_process_dies_at() {
    enumerate(
        Suite::Checkout { node: false },
        &[Crash::Before, Crash::After],
    )
    .await
    .assert_all_held();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nodes_checkout_holds_exactly_one_seat_whatever_call_the_process_dies_at() {
    enumerate(
        Suite::Checkout { node: true },
        &[Crash::Before, Crash::After],
    )
    .await
    .assert_all_held();
}
