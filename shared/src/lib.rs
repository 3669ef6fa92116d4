//! The shared library of the License Manager automation functions.
//!
//! - [`calls`]: License Manager calls bounded, retried and classified (no operation of its own);
//! - [`checkout`]: the checkout API's request rules, idempotency and problem answers;
//! - [`config`]: typed configuration from the environment (DESIGN §5);
//! - [`trust`]: the grant-acceptor's trust policy;
//! - [`events_in`]: License Manager's EventBridge events and the ARN hints they carry;
//! - [`events_out`]: the project's own events and their publisher;
//! - [`limits`]: soft-limit levels, crossings and entitlement overage (pure rules);
//! - [`state`]: the state table (alert state, handled versions, processed events);
//! - [`ports`]: the state table and the event sink as traits, [`memory`]: their in-memory versions;
//! - [`arn`]: the account an ARN names;
//! - [`aws`]: the SDK configuration; [`telemetry`]: logs and EMF metrics.

pub mod arn;
pub mod aws;
pub mod calls;
pub mod checkout;
pub mod config;
pub mod events_in;
pub mod events_out;
pub mod limits;
pub mod memory;
pub mod ports;
pub mod state;
pub mod telemetry;
pub mod trust;
