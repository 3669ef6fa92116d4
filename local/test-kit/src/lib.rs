//! The local test world, written once for every package's tests and for the demo: moto's
//! server, the resources the SAM template creates there (names included), SDK clients of the
//! local accounts, license-manager-local in-process ([`world::World`]), and the License
//! Manager fixtures (licenses, grants, the checkout license) that tests and the demo share.
//!
//! `local-stack` (the demo runner) builds on it; tests dev-depend on this crate, not on the
//! runner.

pub mod bus;
pub mod checkout;
pub mod clients;
pub mod licenses;
pub mod moto;
pub mod queues;
pub mod resources;
pub mod world;
