//! A held lease: checked out, extended before it expires (with jitter), reported the moment
//! it is lost, and checked in when released or dropped.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;

use crate::client::{Checkout, CheckoutRequest, Client};
use crate::error::Error;

/// The shortest wait between two extensions.
const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// Why a held lease is no longer held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseLost {
    /// The API no longer knows it as yours (404 `lease-not-found`) or it is checked in
    /// (409 `conflict`): freed by another node or an admin, or expired.
    Gone(String),
    /// It expired before an extension got through (the API unreachable, or refusing).
    Expired(String),
    /// The API refused the extension for another reason (e.g. 401: the bearer token
    /// expired).
    Refused(String),
}

impl std::fmt::Display for LeaseLost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Gone(why) => write!(f, "the lease is gone: {why}"),
            Self::Expired(why) => write!(f, "the lease expired before it could be extended: {why}"),
            Self::Refused(why) => write!(f, "the lease could not be extended: {why}"),
        }
    }
}

/// What the keep-alive reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseState {
    /// Held, expiring at the given time (RFC 3339).
    Held(String),
    /// Lost; the keep-alive has stopped.
    Lost(LeaseLost),
}

/// A PROVISIONAL lease held by this process: a task extends it at about half its remaining
/// time (less a random tenth, so that many nodes do not extend in step) and retries a failed
/// extension until the lease would expire. [`Lease::lost`] resolves as soon as it is lost.
/// [`Lease::release`] checks it in; dropping a lease checks it in too (in the background,
/// on the runtime it was held on).
///
/// ```no_run
/// # async fn app() -> Result<(), license_client::Error> {
/// use license_client::{CheckoutRequest, Client, Entitlement, Lease, node_id};
///
/// let client = Client::new("https://licenses.example.com", "eyJ...")?;
/// let request = CheckoutRequest::provisional(
///     "contoso-notes-pro",
///     vec![Entitlement::count("Users", 1)],
///     &node_id(None)?,
/// );
/// let mut lease = Lease::hold(client, request).await?;
/// tokio::select! {
///     lost = lease.lost() => eprintln!("stopping: {lost}"),
///     _ = tokio::signal::ctrl_c() => lease.release().await?,
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Lease {
    client: Client,
    checkout: Checkout,
    state: watch::Receiver<LeaseState>,
    keep_alive: JoinHandle<()>,
    released: Arc<Mutex<bool>>,
}

impl Lease {
    /// Checks out `request` (PROVISIONAL) and keeps the lease alive until it is released,
    /// dropped or lost.
    pub async fn hold(client: Client, request: CheckoutRequest) -> Result<Self, Error> {
        let checkout = client.checkout(&request).await?;
        Ok(Self::keep(client, checkout))
    }

    /// Keeps an existing `checkout` alive.
    pub fn keep(client: Client, checkout: Checkout) -> Self {
        let expiration = checkout.expiration.clone().unwrap_or_default();
        let (sender, state) = watch::channel(LeaseState::Held(expiration.clone()));
        let keep_alive = tokio::spawn(keep_alive(
            client.clone(),
            checkout.license_consumption_token.clone(),
            expiration,
            sender,
        ));
        Self {
            client,
            checkout,
            state,
            keep_alive,
            released: Arc::default(),
        }
    }

    /// The checkout it holds.
    pub fn checkout(&self) -> &Checkout {
        &self.checkout
    }

    /// The lease's consumption token.
    pub fn token(&self) -> &str {
        &self.checkout.license_consumption_token
    }

    /// What the keep-alive last reported.
    pub fn state(&self) -> LeaseState {
        self.state.borrow().clone()
    }

    /// Resolves when the lease is lost, with why (never, while it is held).
    pub async fn lost(&mut self) -> LeaseLost {
        loop {
            if let LeaseState::Lost(lost) = &*self.state.borrow_and_update() {
                return lost.clone();
            }
            if self.state.changed().await.is_err() {
                // The keep-alive stopped without a verdict: it was aborted by release.
                return LeaseLost::Gone("released".into());
            }
        }
    }

    /// Stops the keep-alive and checks the lease in (a lease already gone counts as
    /// checked in).
    pub async fn release(self) -> Result<(), Error> {
        self.keep_alive.abort();
        *self.released.lock().await = true;
        match self.client.check_in(self.token()).await {
            Err(error) if !error.lease_is_gone() => Err(error),
            _ => Ok(()),
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.keep_alive.abort();
        let released = Arc::clone(&self.released);
        let client = self.client.clone();
        let token = self.checkout.license_consumption_token.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if !*released.lock().await {
                    let _ = client.check_in(&token).await;
                }
            });
        }
    }
}

/// The instant of an RFC 3339 time.
fn parse_time(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

/// When to extend a lease expiring at `expiration`, seen at `now`: at half the remaining
/// time, less up to a tenth of it at random; at least [`MIN_INTERVAL`] from now.
pub fn next_extension(expiration: OffsetDateTime, now: OffsetDateTime) -> Duration {
    let remaining = Duration::try_from(expiration - now).unwrap_or_default();
    let half = remaining / 2;
    let jitter_cap = u64::try_from((remaining / 10).as_millis()).unwrap_or(0);
    let jitter = Duration::from_millis(rand::random_range(0..=jitter_cap));
    half.saturating_sub(jitter).max(MIN_INTERVAL)
}

async fn keep_alive(
    client: Client,
    token: String,
    mut expiration: String,
    state: watch::Sender<LeaseState>,
) {
    loop {
        let Some(expires) = parse_time(&expiration) else {
            // No expiration: nothing to keep alive (a PERPETUAL checkout), and never lost.
            std::future::pending::<()>().await;
            return;
        };
        tokio::time::sleep(next_extension(expires, OffsetDateTime::now_utc())).await;
        // Extend; a failure the client's retries did not overcome is tried again until
        // the lease would expire.
        loop {
            match client.extend(&token).await {
                Ok(extension) => {
                    expiration = extension.expiration;
                    let _ = state.send(LeaseState::Held(expiration.clone()));
                    break;
                }
                Err(error) if error.lease_is_gone() => {
                    let _ = state.send(LeaseState::Lost(LeaseLost::Gone(error.to_string())));
                    return;
                }
                Err(error @ Error::Api(_))
                    if !error
                        .problem()
                        .is_some_and(|p| matches!(p.status, 429 | 500..=599)) =>
                {
                    let _ = state.send(LeaseState::Lost(LeaseLost::Refused(error.to_string())));
                    return;
                }
                Err(error) => {
                    let now = OffsetDateTime::now_utc();
                    if now >= expires {
                        let _ = state.send(LeaseState::Lost(LeaseLost::Expired(error.to_string())));
                        return;
                    }
                    let wait = Duration::try_from(expires - now)
                        .unwrap_or_default()
                        .min(client.retry_policy().max_backoff)
                        .max(MIN_INTERVAL / 2);
                    tokio::time::sleep(wait / 2).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_come_at_about_half_the_remaining_time_with_jitter() {
        let now = OffsetDateTime::now_utc();
        for _ in 0..50 {
            let wait = next_extension(now + time::Duration::minutes(60), now);
            assert!(wait <= Duration::from_secs(30 * 60), "{wait:?}");
            assert!(wait >= Duration::from_secs(24 * 60), "{wait:?}");
        }
        assert_eq!(next_extension(now, now), MIN_INTERVAL);
        assert_eq!(
            next_extension(now - time::Duration::minutes(1), now),
            MIN_INTERVAL
        );
    }
}
