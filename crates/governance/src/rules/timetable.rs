//! Rule 11: the timetable can be amended while testing runs; a re-plan is a new event.

use super::{clauses, criterion, met_if};
use crate::date::PlanDate;
use crate::model::PhaseId;
use crate::profile::Profile;
use crate::projection::Projection;
use crate::verdict::{CriterionOutcome as C, Quantity, Subject, Verdict};

/// Would re-planning `phase` to `start..=end` for `reason` be accepted? Granted re-plans are
/// recorded as `TimetableAmended` events; earlier versions stay in the history.
pub fn evaluate_replan(
    proj: &Projection,
    profile: &Profile,
    phase: &PhaseId,
    start: PlanDate,
    end: PlanDate,
    reason: &str,
) -> Verdict {
    let subject = Subject::Replan(phase.clone());
    let Some(state) = proj.phase(phase) else {
        let c = criterion(
            11,
            "11.registered",
            clauses::EVIDENCE,
            Quantity::Missing,
            Quantity::text("registered phase"),
            C::NotMet,
            format!("{phase} is not registered."),
        );
        return Verdict::new(subject, profile, proj.seq(), vec![c]);
    };
    let versions = state.timetable().len() as u64;
    let running = if state.exited().is_some() {
        "exited"
    } else if state.started().is_some() {
        "running"
    } else {
        "not started"
    };
    let criteria = vec![
        criterion(
            11,
            "11.planned",
            clauses::TIMETABLE,
            Quantity::Count(versions),
            Quantity::text("at least 1 earlier version"),
            met_if(versions > 0, C::NotMet),
            if versions > 0 {
                format!(
                    "The phase has {versions} timetable version(s); the amendment adds one and edits none."
                )
            } else {
                "The phase has no timetable to amend; plan it first.".to_string()
            },
        ),
        criterion(
            11,
            "11.window",
            clauses::TIMETABLE,
            Quantity::text(format!("{start}..{end}")),
            Quantity::text("end on or after start"),
            met_if(end >= start, C::NotMet),
            if end >= start {
                "The new window is well formed."
            } else {
                "The new window ends before it starts."
            },
        ),
        criterion(
            11,
            "11.reason",
            clauses::TIMETABLE,
            Quantity::Flag(!reason.trim().is_empty()),
            Quantity::Flag(true),
            met_if(!reason.trim().is_empty(), C::NotMet),
            if reason.trim().is_empty() {
                "A re-plan must say why the timetable changes."
            } else {
                "The re-plan records its reason."
            },
        ),
        criterion(
            11,
            "11.while_running",
            clauses::TIMETABLE,
            Quantity::text(running),
            Quantity::text("any"),
            C::Met,
            format!("The phase is {running}; the timetable may be amended while testing runs."),
        ),
    ];
    Verdict::new(subject, profile, proj.seq(), criteria)
}
