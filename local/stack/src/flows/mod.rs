//! The demo's flows, run in order. A flow is a list of steps sharing a
//! [`Context`](crate::context::Context); a new part of the demo adds its flow to [`all`].

pub mod bus;
pub mod checkout_proxy;
pub mod grant_acceptor;
pub mod host;
pub mod infrastructure;
pub mod license_client;
pub mod license_configurations;
pub mod license_events;
pub mod managed_entitlements;
pub mod scenario;
pub mod soft_limit_monitor;

use crate::context::Flow;

/// Every flow of the demo, in the order they run.
pub fn all() -> [Flow; 11] {
    [
        infrastructure::FLOW,
        host::FLOW,
        scenario::FLOW,
        grant_acceptor::FLOW,
        soft_limit_monitor::FLOW,
        managed_entitlements::FLOW,
        license_configurations::FLOW,
        license_events::FLOW,
        checkout_proxy::FLOW,
        license_client::FLOW,
        bus::FLOW,
    ]
}
