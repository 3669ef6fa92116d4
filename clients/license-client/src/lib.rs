//! A client of the License Manager checkout API (the project's `checkout-proxy`) for
//! customer apps, and the `license-client` command line built on it.
//!
//! - [`Client`]: one method per route, each retried on 429 and 503 after their
//!   `Retry-After`, and on a lost answer, with one `Idempotency-Key` per logical operation
//!   (so a retried checkout never draws twice). Refusals are [`Error::Api`] with the API's
//!   [`ProblemCode`].
//! - [`Lease`]: a seat held by this process, extended before it expires (with jitter),
//!   reported at once when lost ([`Lease::lost`]), checked in on [`Lease::release`] or drop.
//! - [`Verifier`]: offline verification of a borrowed token against the issuer's keys
//!   (`GET /v1/keys`): signature, the license being yours, expiry with a bounded skew.
//! - [`node_id`]: a stable id of this machine, so that a restart gets its lease back.
//!
//! ```no_run
//! # async fn app() -> Result<(), license_client::Error> {
//! use license_client::{CheckoutRequest, Client, Entitlement, Lease, node_id};
//!
//! let client = Client::new("https://licenses.example.com", "eyJ...")?;
//! let request = CheckoutRequest::provisional(
//!     "contoso-notes-pro",
//!     vec![Entitlement::count("Users", 1)],
//!     &node_id(None)?,
//! );
//! let lease = Lease::hold(client.clone(), request).await?;
//! // ... the app works while the lease is kept alive ...
//! for held in client.leases().await? {
//!     println!("{} on {:?} until {:?}", held.lease_id, held.node_id, held.expiration);
//! }
//! lease.release().await?;
//! # Ok(())
//! # }
//! ```

pub mod cli;
mod client;
mod error;
mod lease;
mod node;
mod verify;

pub use client::{
    BorrowRequest, Checkout, CheckoutRequest, Client, Entitlement, Extension, LeaseInfo,
    RetryPolicy, new_idempotency_key,
};
pub use error::{Error, Problem, ProblemCode};
pub use lease::{Lease, LeaseLost, LeaseState, next_extension};
pub use node::node_id;
pub use verify::{Claims, DEFAULT_MAX_SKEW, Verifier};

/// The id `GET /v1/leases` gives the lease of `token`: SHA-256 (hex) of the token's length
/// (8 bytes, big-endian) and the token, so the id tells nothing of the token.
///
/// ```
/// let id = license_client::lease_id("f6a4f8e2c5f84d6b");
/// assert_eq!(id.len(), 64);
/// ```
pub fn lease_id(token: &str) -> String {
    let mut input = Vec::with_capacity(8 + token.len());
    input.extend_from_slice(&(token.len() as u64).to_be_bytes());
    input.extend_from_slice(token.as_bytes());
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &input)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
