//! The safe, sans-IO adapter trait plugin authors implement.

use crate::OpenError;
use crate::pb::{AdapterActions, AdapterInfo, HostEvent, SessionConfig};

/// A head-end protocol adapter: one value per session, driven entirely by host events.
///
/// An adapter never performs I/O, reads a clock, sleeps or spawns threads. It reacts to each
/// [`HostEvent`] (using `now_ms` as its only notion of time) with [`AdapterActions`] the host
/// performs: transmit bytes, arm timers, reconfigure the link, complete the service request.
///
/// Calls on one session are never concurrent, but successive calls may come from different
/// threads, hence `Send`.
pub trait Adapter: Send + 'static {
    /// What this adapter supports. Its `id` and `version` must equal the ones exported by
    /// [`export_adapter!`](crate::export_adapter); the host refuses the plugin otherwise.
    fn describe() -> AdapterInfo
    where
        Self: Sized;

    /// Starts a session for one device, or refuses the configuration with a reason.
    fn open(config: SessionConfig) -> Result<Self, OpenError>
    where
        Self: Sized;

    /// Reacts to one event. Must return promptly: the host calls it from its async executor.
    fn handle(&mut self, event: HostEvent) -> AdapterActions;
}
