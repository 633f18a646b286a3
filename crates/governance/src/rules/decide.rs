//! Turning verdicts into the events that record decisions: an exit or a start is only recorded
//! on an `exit` verdict, so the log never holds a decision the rules did not support.

use super::{evaluate_descope, evaluate_phase_exit, evaluate_start};
use crate::event::{DescopeRequest, Event};
use crate::model::PhaseId;
use crate::profile::Profile;
use crate::projection::Projection;
use crate::verdict::Verdict;

/// The `PhaseExited` event to store if the phase may exit; otherwise the verdict saying why not.
/// The event carries no finish time: set `at` when the caller knows it.
pub fn decide_exit(
    proj: &Projection,
    profile: &Profile,
    phase: &PhaseId,
) -> Result<Event, Box<Verdict>> {
    let v = evaluate_phase_exit(proj, profile, phase);
    if v.is_exit() {
        Ok(Event::PhaseExited {
            phase: phase.clone(),
            profile: profile.reference(),
            at: None,
        })
    } else {
        Err(Box::new(v))
    }
}

/// The `PhaseStarted` event to store if the phase may start; otherwise the verdict. The event
/// carries no start time: set `at` when the caller knows it.
pub fn decide_start(
    proj: &Projection,
    profile: &Profile,
    phase: &PhaseId,
) -> Result<Event, Box<Verdict>> {
    let v = evaluate_start(proj, profile, phase);
    if v.is_exit() {
        Ok(Event::PhaseStarted {
            phase: phase.clone(),
            at: None,
        })
    } else {
        Err(Box::new(v))
    }
}

/// The `CaseDescoped` event to store if the de-scope is valid; otherwise the verdict naming the
/// failed condition.
pub fn decide_descope(
    proj: &Projection,
    profile: &Profile,
    request: &DescopeRequest,
) -> Result<Event, Box<Verdict>> {
    let v = evaluate_descope(proj, profile, request);
    if v.is_exit() {
        Ok(Event::CaseDescoped(request.clone()))
    } else {
        Err(Box::new(v))
    }
}
