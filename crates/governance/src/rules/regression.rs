//! Rule 6: a cycle completes after the MT end-of-cycle run, the SIT end-of-cycle run and a
//! combined regression on migrated devices, each within its exit criteria — unless every entry
//! in scope is past an MT exit followed by a SIT exit, with no major change since (seed §2).

use super::phase::own_criteria;
use super::{clauses, criterion};
use crate::model::{ChangeClass, EntryKey, PhaseId, RegressionKind, RegressionScope, TestType};
use crate::profile::Profile;
use crate::projection::Projection;
use crate::verdict::{Criterion, CriterionOutcome as C, Quantity, Subject, Verdict};

/// Why an entry does or does not qualify for the exception.
enum Exception {
    /// An MT exit was followed by a SIT exit at `base`, a later MT exit exists, and no major
    /// change has been recorded since `base`.
    Applies {
        base: u64,
    },
    NoMtThenSit,
    NoSubsequentMtExit,
    MajorChange(String),
}

fn exception_for(proj: &Projection, entry: &EntryKey) -> Exception {
    let Some(state) = proj.entry(entry) else {
        return Exception::NoMtThenSit;
    };
    let exits = |test: TestType| -> Vec<u64> {
        let mut v: Vec<u64> = state
            .phases()
            .iter()
            .filter_map(|p| match p {
                PhaseId::Test(t) if t.kind.test == test => {
                    proj.phase(p).and_then(|s| s.exited()).map(|(seq, _)| *seq)
                }
                _ => None,
            })
            .collect();
        v.sort_unstable();
        v
    };
    let mt = exits(TestType::Mt);
    let sit = exits(TestType::Sit);
    let Some(first_mt) = mt.first() else {
        return Exception::NoMtThenSit;
    };
    let Some(base) = sit.iter().copied().find(|s| s > first_mt) else {
        return Exception::NoMtThenSit;
    };
    if let Some(change) = state
        .changes()
        .iter()
        .find(|c| c.class == ChangeClass::Major && c.seq > base)
    {
        return Exception::MajorChange(change.description.clone());
    }
    if !mt.iter().any(|m| *m > base) {
        return Exception::NoSubsequentMtExit;
    }
    Exception::Applies { base }
}

/// Has the regression of `scope` (one entry, or a declared cycle of entries) completed?
pub fn evaluate_regression(
    proj: &Projection,
    profile: &Profile,
    scope: &RegressionScope,
) -> Verdict {
    let subject = Subject::Regression(scope.clone());
    let entries: Vec<EntryKey> = match scope {
        RegressionScope::Entry(e) if proj.entry(e).is_some() => vec![e.clone()],
        RegressionScope::Cycle(c) => match proj.cycle(c) {
            Some(cycle) => cycle.entries.clone(),
            None => Vec::new(),
        },
        RegressionScope::Entry(_) => Vec::new(),
    };
    if entries.is_empty() {
        let c = criterion(
            6,
            "6.scope",
            clauses::EVIDENCE,
            Quantity::Missing,
            Quantity::text("known entry or cycle with entries"),
            C::NotMet,
            format!("{scope} is unknown or covers no planned entry."),
        );
        return Verdict::new(subject, profile, proj.seq(), vec![c]);
    }

    let mut reasons = Vec::new();
    let mut all_apply = true;
    for entry in &entries {
        let why = match exception_for(proj, entry) {
            Exception::Applies { base } => format!(
                "{entry}: MT exit followed by SIT exit (event {base}), later MT exit, no major change"
            ),
            Exception::NoMtThenSit => {
                all_apply = false;
                format!("{entry}: no MT exit followed by a SIT exit")
            }
            Exception::NoSubsequentMtExit => {
                all_apply = false;
                format!("{entry}: no MT exit after the first MT-then-SIT exit")
            }
            Exception::MajorChange(what) => {
                all_apply = false;
                format!("{entry}: major change recorded ({what})")
            }
        };
        reasons.push(why);
    }
    let mut criteria: Vec<Criterion> = vec![criterion(
        6,
        "6.exception",
        clauses::REGRESSION,
        Quantity::Flag(all_apply),
        Quantity::text("applies to every entry in scope, or all three runs exit"),
        C::Met,
        if all_apply {
            format!(
                "Later MT exits need no further SIT or regression: {}.",
                reasons.join("; ")
            )
        } else {
            format!("The full regression is required: {}.", reasons.join("; "))
        },
    )];
    if all_apply {
        return Verdict::new(subject, profile, proj.seq(), criteria);
    }
    for kind in RegressionKind::ALL {
        let run = PhaseId::regression(scope.clone(), kind);
        let own = own_criteria(proj, profile, &run);
        let registered = proj.phase(&run).is_some();
        let outcome = if !registered {
            C::NotMet
        } else if own.iter().any(|c| c.outcome == C::Pending) {
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
            6,
            format!("6.run.{}", kind.as_str()),
            clauses::REGRESSION,
            if registered {
                Quantity::text(outcome.as_str())
            } else {
                Quantity::Missing
            },
            Quantity::text("met"),
            outcome,
            if !registered {
                format!(
                    "The {} regression run has not been recorded.",
                    kind.as_str()
                )
            } else if failing.is_empty() {
                format!(
                    "The {} regression run meets its exit criteria.",
                    kind.as_str()
                )
            } else {
                format!(
                    "The {} regression run fails {}.",
                    kind.as_str(),
                    failing.join(", ")
                )
            },
        ));
    }
    Verdict::new(subject, profile, proj.seq(), criteria)
}
