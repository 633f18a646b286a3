//! Rules 2 (overlap) and 3 (entry criteria): may a phase start?

use super::phase::{dmc_selected, dnb_criterion};
use super::{clauses, criterion, met_if};
use crate::model::{PhaseId, PhaseKind, TestPhase, TestType};
use crate::profile::Profile;
use crate::projection::Projection;
use crate::verdict::{CriterionOutcome as C, Quantity, Subject, Verdict};

/// May `phase` start? Its Depth & Breadth document must be agreed or determined (pending while
/// disputed or referred) and the profile's precursor phases of the same entry must have exited.
/// The state of the other test type is reported but never refuses a start (rule 2).
pub fn evaluate_start(proj: &Projection, profile: &Profile, phase: &PhaseId) -> Verdict {
    let subject = Subject::PhaseStart(phase.clone());
    let Some(state) = proj.phase(phase) else {
        let c = criterion(
            3,
            "3.registered",
            clauses::EVIDENCE,
            Quantity::Missing,
            Quantity::text("registered phase"),
            C::NotMet,
            format!("{phase} is not registered."),
        );
        return Verdict::new(subject, profile, proj.seq(), vec![c]);
    };
    let mut criteria = Vec::new();
    criteria.push(criterion(
        3,
        "3.not_started",
        clauses::EVIDENCE,
        Quantity::Flag(state.started().is_some()),
        Quantity::Flag(false),
        met_if(state.started().is_none(), C::NotMet),
        if state.started().is_some() {
            "The phase has already started."
        } else {
            "The phase has not started yet."
        },
    ));
    let mut dnb = dnb_criterion(proj, state);
    dnb.rule = if dnb.outcome == C::Pending { 10 } else { 3 };
    dnb.id = "3.dnb_status".to_string();
    criteria.push(dnb);

    if let PhaseId::Test(t) = phase {
        criteria.push(overlap_note(proj, t));
        for precursor in profile.precursors_of(t.kind) {
            let before = PhaseId::Test(TestPhase {
                entry: t.entry.clone(),
                kind: *precursor,
            });
            let exited = proj.phase(&before).and_then(|p| p.exited()).is_some();
            criteria.push(criterion(
                3,
                format!("3.precursor.{precursor}"),
                clauses::PRECURSORS,
                Quantity::Flag(exited),
                Quantity::Flag(true),
                met_if(exited, C::NotMet),
                if exited {
                    format!("Precursor phase {precursor} has exited.")
                } else {
                    format!("Precursor phase {precursor} named by the profile has not exited.")
                },
            ));
        }
        criteria.extend(dmc_selected(proj, &t.entry));
    }
    Verdict::new(subject, profile, proj.seq(), criteria)
}

/// Rule 2 is a permission, not a condition: it is always met and says what it allowed.
fn overlap_note(proj: &Projection, t: &TestPhase) -> crate::verdict::Criterion {
    let other_type = match t.kind.test {
        TestType::Mt => TestType::Sit,
        TestType::Sit => TestType::Mt,
    };
    let other = PhaseId::Test(TestPhase {
        entry: t.entry.clone(),
        kind: PhaseKind {
            test: other_type,
            mode: t.kind.mode,
        },
    });
    let state = match proj.phase(&other) {
        None => "not registered",
        Some(p) if p.exited().is_some() => "exited",
        Some(p) if p.started().is_some() => "running",
        Some(_) => "not started",
    };
    let other_name = other_type.as_str().to_uppercase();
    criterion(
        2,
        "2.overlap",
        clauses::OVERLAP,
        Quantity::text(state),
        Quantity::text("any"),
        C::Met,
        format!(
            "{other_name} {} is {state}; MT and SIT may overlap and complete together, so this never refuses a start.",
            t.kind.mode.as_str()
        ),
    )
}
