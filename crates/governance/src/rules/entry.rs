//! Rule 1 (phase set) and rule 5 (aggregate limit) for a planned EPCL entry.

use super::phase::{aggregate_criteria, dmc_selected, own_criteria};
use super::{clauses, criterion, met_if};
use crate::model::{EntryKey, PhaseId, PhaseKind, TestPhase};
use crate::profile::Profile;
use crate::projection::Projection;
use crate::verdict::{CriterionOutcome as C, Quantity, Subject, Verdict};

/// Can the planned entry complete? Every one of its six phases must be registered (rule 1) and
/// exit on its own terms (rule 4), and open issues across them, each counted once, must be
/// within the aggregate limits (rule 5) — otherwise the entry is blocked.
pub fn evaluate_entry(proj: &Projection, profile: &Profile, entry: &EntryKey) -> Verdict {
    let subject = Subject::Entry(entry.clone());
    if proj.entry(entry).is_none() {
        let c = criterion(
            1,
            "1.planned",
            clauses::EVIDENCE,
            Quantity::Missing,
            Quantity::text("planned entry"),
            C::NotMet,
            format!("{entry} is not a planned entry."),
        );
        return Verdict::new(subject, profile, proj.seq(), vec![c]);
    }
    let mut criteria = Vec::new();
    let kinds: Vec<PhaseKind> = PhaseKind::all().collect();
    let phase_of = |kind: PhaseKind| {
        PhaseId::Test(TestPhase {
            entry: entry.clone(),
            kind,
        })
    };
    let missing: Vec<String> = kinds
        .iter()
        .filter(|k| proj.phase(&phase_of(**k)).is_none())
        .map(ToString::to_string)
        .collect();
    let registered = (kinds.len() - missing.len()) as u64;
    criteria.push(criterion(
        1,
        "1.phase_set",
        clauses::PHASE_SET,
        Quantity::Fraction {
            num: registered,
            den: kinds.len() as u64,
        },
        Quantity::Fraction {
            num: kinds.len() as u64,
            den: kinds.len() as u64,
        },
        met_if(missing.is_empty(), C::NotMet),
        if missing.is_empty() {
            "MT and SIT phases are registered for active, dormant and mixed.".to_string()
        } else {
            format!("The entry lacks the phase(s) {}.", missing.join(", "))
        },
    ));
    for kind in kinds {
        let phase = phase_of(kind);
        if proj.phase(&phase).is_none() {
            continue;
        }
        let own = own_criteria(proj, profile, &phase);
        let outcome = if own.iter().any(|c| c.outcome == C::Pending) {
            C::Pending
        } else if own.iter().all(|c| c.outcome == C::Met) {
            C::Met
        } else {
            C::NotMet
        };
        let failing: Vec<&str> = own
            .iter()
            .filter(|c| c.outcome != C::Met)
            .map(|c| c.id.as_str())
            .collect();
        criteria.push(criterion(
            4,
            format!("4.phase.{kind}"),
            clauses::PHASE_LIMITS,
            Quantity::text(outcome.as_str()),
            Quantity::text("met"),
            outcome,
            if failing.is_empty() {
                format!("Phase {kind} meets its own exit criteria.")
            } else {
                format!("Phase {kind} fails {}.", failing.join(", "))
            },
        ));
    }
    criteria.extend(aggregate_criteria(proj, profile, entry));
    criteria.extend(dmc_selected(proj, entry));
    Verdict::new(subject, profile, proj.seq(), criteria)
}
