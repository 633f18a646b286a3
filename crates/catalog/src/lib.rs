//! The meterlab **test catalogue**: MT and SIT test cases written in TOML, validated against the
//! SRV vocabulary of the adapter plugins (`meterlab_plugin::pb`), identified by id and the
//! SHA-256 of their canonical form, and executed step by step by a runner:
//! [`Step::request`] builds a `ServiceRequest` for a device, [`Step::judge`] turns its
//! `ServiceResponse` into checks (or `Blocked` for infrastructure failures).
//!
//! Loading ([`Catalog::load`]) reports every problem of every file at once, each with
//! `file:line:column`, and never yields a partial catalogue. The case-file format is described
//! in this crate's README.
//!
//! Must never do I/O beyond reading case files and never read a clock: the reference time comes
//! from the caller through [`StepContext`]. Must never depend on the runner, plugin host, server
//! or store.
#![forbid(unsafe_code)]

mod canonical;
mod catalog;
mod context;
pub mod dmc;
pub mod duis;
mod error;
mod image;
mod judge;
mod model;
pub mod parse;
pub mod path;
mod request;
pub mod schema;
mod value;

pub use canonical::CANONICAL_FORM;
pub use catalog::{Catalog, NOT_CASE_DIRECTORIES};
pub use context::StepContext;
pub use error::{
    CatalogErrors, DateTimeError, DuisError, ParamError, Problem, ResolveError, StepCause,
    StepError,
};
pub use judge::{Blocked, BlockedKind, CheckRecord, Judgement, StepVerdict};
pub use model::{
    Capture, Case, Check, ContentHash, DeviceField, Expectation, Expectations, ExpectedOutcome,
    ImageSpec, KeySpec, Mode, Op, Operand, Param, ParamValue, Phase, Severity, Step, Via, Wait,
};
pub use value::Value;

/// Re-exported so callers name devices and SRVs with the same types.
pub use meterlab_devices::{Device, DeviceRole, InstallationState, Location};
pub use meterlab_plugin::pb::Srv;
