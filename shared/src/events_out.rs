//! Events out: the project's own events. [`catalogue`] holds each detail-type and its detail
//! (the contract the README's "Events" section documents); [`publisher`] puts them on the
//! project's bus.

pub mod catalogue;
pub mod publisher;
