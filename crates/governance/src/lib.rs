//! SMETS1 MT/SIT governance: domain events, projections and the exit rules, as pure functions.
//!
//! Owns: the domain model of `governance.md` ([`model`]), the event vocabulary ([`event`]), the
//! incrementally updated state ([`Projection`]), the eleven rules ([`rules`]) returning
//! structured [`Verdict`]s, what-if scenarios ([`whatif`]), rule profiles loaded from TOML
//! ([`profile`]) and the combined completion report's data ([`report`]; Markdown, HTML and every
//! other text format are `meterlab-report`'s).
//!
//! Must never depend on tokio, any I/O, protobuf types or a template engine: callers pass events in and get
//! verdicts out; storing events is `meterlab-store`'s job, transport is `meterlab-server`'s.
#![forbid(unsafe_code)]

pub mod date;
pub mod error;
pub mod event;
pub mod model;
pub mod profile;
pub mod projection;
pub mod report;
pub mod rules;
pub mod verdict;
pub mod whatif;

pub use error::{DomainError, ProfileError, ProfileIssue};
pub use event::{EVENT_SCHEMA, Event, VersionedEvent};
pub use profile::{Profile, load_profile};
pub use projection::Projection;
pub use report::{CompletionReport, completion_report};
pub use rules::{
    decide_descope, decide_exit, decide_start, evaluate_descope, evaluate_entry,
    evaluate_phase_exit, evaluate_regression, evaluate_reintroduction, evaluate_replan,
    evaluate_start,
};
pub use verdict::{Criterion, CriterionOutcome, Outcome, Quantity, Subject, Verdict};
pub use whatif::{Scenario, what_if};
