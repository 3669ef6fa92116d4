//! The shared library of the License Manager automation functions: only what two or more of
//! them use. A rule that serves one function lives in that function's crate (the trust policy
//! in grant-acceptor, the checkout API's rules in checkout-proxy, each single-function
//! variable's reader next to that function's `Config`).
//!
//! - [`calls`]: License Manager calls bounded, retried, paginated and classified, and the frame
//!   of every function's adapter (no operation of its own);
//! - [`attention`]: which errors will not heal without a person (they fail the invocation);
//! - [`retry`]: the retry policy of the call gate and the publisher;
//! - [`deadline`]: an invocation's time budget, which the call gate keeps to;
//! - [`config`]: configuration plumbing and the variables several functions read (the README's
//!   Configuration section);
//! - [`ids`]: account ids and key fingerprints;
//! - [`events_in`]: License Manager's EventBridge events and the ARN hints they carry;
//! - [`events_out`]: the project's own events ([`events_out::catalogue`]) and their publisher
//!   ([`events_out::publisher`]);
//! - [`limits`]: soft-limit levels, crossings and entitlement overage (pure rules);
//! - [`state`]: the state table (alert state, handled versions, processed events);
//! - [`ports`]: the state table and the event sink as traits, [`memory`]: their in-memory versions;
//! - [`outbox`]: intents recorded before effects and events, delivered at least once;
//! - [`arn`]: the account an ARN names;
//! - [`aws`]: the SDK configuration; [`telemetry`]: logs and EMF metrics.

pub mod arn;
pub mod attention;
pub mod aws;
pub mod calls;
pub mod coalesce;
pub mod config;
pub mod deadline;
pub mod events_in;
pub mod events_out;
pub mod ids;
pub mod limits;
pub mod memory;
pub mod outbox;
pub mod ports;
pub mod retry;
pub mod state;
pub mod telemetry;
