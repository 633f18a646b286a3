//! The runner: executes test cases on devices through an adapter plugin, after cargo-nextest's
//! dispatcher/executor split.
//!
//! - A run is suite selection × devices ([`RunPlan`]). The [`Runner`] (the dispatcher) starts an
//!   executor per link — a device, or the devices sharing a serial line — up to `jobs` at a
//!   time, numbers their events into one stream ([`RunEvent`], the shape of
//!   `meterlab.v1.RunEvent` as plain Rust types) and fans it out to every subscriber: the CLI's
//!   progress, the result sink, the report writers.
//! - An executor takes an exclusive [`Lease`] on each device (with expiry, renewed before each
//!   step), checks the device's health (open a session, read firmware and clock), then runs its
//!   cases in a `meterlab-plugin-host` [`Session`](meterlab_plugin_host::Session) over a
//!   `meterlab-link` link, with hierarchical timeouts (run > case > step > exchange) and
//!   retries, every attempt kept and numbered.
//! - Each attempt ends [`CaseStatus::Passed`], `Failed` (the device did the wrong thing),
//!   `Blocked` (infrastructure: link down, adapter fault or panic, lease lost, a timeout — never
//!   a device defect) or `NotRun`, with step records, the traffic capture and its evidence hash.
//!
//! - A step may go through the device's IEC 62056-21 optical port instead ([`Port::Optical`],
//!   a catalogue step `via = "optical"`): a second session on the port of
//!   [`DeviceTarget::optical`] ([`Transport::Optical`]: 7E1 at 300 baud, the adapter switching
//!   the rate) through the runner's optical adapter ([`Runner::with_optical_plugin`]); a device
//!   whose optical port the run cannot reach has such cases `not_run` with the reason.
//!
//! Cases are anything implementing [`TestCase`]; the catalogue's cases (`meterlab_catalog::Case`)
//! do, which is how `meterlab run` and `meterlab demo` execute the shipped suites.
//!
//! Must never depend on the server or the store: results leave through the event stream.
#![forbid(unsafe_code)]

mod case;
mod catalog;
mod dispatcher;
mod error;
mod event;
mod evidence;
mod executor;
mod health;
mod lease;
mod optical;
mod result;
mod settings;
mod target;

pub use case::{CaseAttempt, Check, Judgement, Port, TestCase};
pub use dispatcher::{CancelHandle, Runner};
pub use error::{ConnectError, LeaseError, PlanError};
pub use event::{DeviceHealth, LogLevel, RunEvent, RunEventKind};
pub use lease::{Lease, Leases};
pub use optical::{OPTICAL_SIGN_ON_BAUD, OpticalRoute};
pub use result::{CaseResult, CaseStatus, RunSummary, StepRecord, TrafficData, TrafficRecord};
pub use settings::{DeviceUnit, PlannedCase, RetryPolicy, RunPlan, RunSettings, Timeouts};
pub use target::{Connected, Connector, DeviceTarget, DmcLibrary, LinkConnector, Transport};
