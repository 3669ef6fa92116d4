//! The demo's flows, run in order. A flow is a list of steps sharing a [`Context`]; later
//! issues add theirs to [`all`] (for example: the grant-acceptor accepting the seeded grant).

pub mod bus;
pub mod checkout_proxy;
pub mod grant_acceptor;
pub mod host;
pub mod infrastructure;
pub mod license_client;
pub mod license_configurations;
pub mod license_events;
pub mod licenses;
pub mod managed_entitlements;
pub mod scenario;
pub mod soft_limit_monitor;

use std::future::Future;
use std::pin::Pin;

use anyhow::Result;

use crate::clients::Clients;
use crate::report::Recorder;

/// What flows share: the clients and what earlier flows created.
pub struct Context {
    /// SDK clients of both accounts.
    pub clients: Clients,
    /// The resources the SAM template would create, once the infrastructure flow ran.
    pub infra: Option<infrastructure::Infra>,
    /// The seeded scenario, once the scenario flow ran.
    pub scenario: Option<scenario::Scenario>,
    /// How to run the template's functions (set by [`crate::demo`]).
    pub settings: Option<host::Settings>,
    /// The template's functions, HTTP API and issuer, once the host flow ran.
    pub app: Option<crate::app::App>,
    /// The functions' invocations since the host flow ran (flows print what they caused).
    pub records: Option<
        std::sync::Mutex<tokio::sync::broadcast::Receiver<crate::functions::InvocationRecord>>,
    >,
}

impl Context {
    /// A context with nothing created yet.
    pub fn new(clients: Clients) -> Self {
        Self {
            clients,
            infra: None,
            scenario: None,
            settings: None,
            app: None,
            records: None,
        }
    }
}

/// A flow's future, borrowing the context and the recorder.
pub type FlowFuture<'a> = Pin<Box<dyn Future<Output = Result<()>> + 'a>>;

/// A named sequence of steps.
pub struct Flow {
    /// Heading printed before its steps.
    pub title: &'static str,
    /// Runs the steps; an error ends the flow (later flows still run).
    pub run: for<'a> fn(&'a mut Context, &'a mut Recorder) -> FlowFuture<'a>,
}

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
