//! Rule 4 (phase exit), with rule 10 (disputed Depth & Breadth) and rule 5 (the aggregate limit,
//! a block or information per the profile's `aggregate_gates`).

use super::{LimitCheck, clauses, criterion, met_if};
use crate::model::{EntryKey, PhaseId, Severity};
use crate::profile::{AggregateGates, LimitContext, Profile};
use crate::projection::{PhaseState, Projection};
use crate::verdict::{Criterion, CriterionOutcome as C, Quantity, Subject, Verdict};

/// May `phase` exit? Rule 4 with the rule 10 dispute check, blocked by a de-selected DMC (rule 8)
/// and, when the profile says `aggregate_gates = "phase"`, by rule 5's aggregate limit; under the
/// default `"entry"` the aggregate is shown as information and blocks only the entry.
pub fn evaluate_phase_exit(proj: &Projection, profile: &Profile, phase: &PhaseId) -> Verdict {
    let mut criteria = own_criteria(proj, profile, phase);
    if let Some(entry) = phase.entry() {
        let aggregate = aggregate_criteria(proj, profile, entry);
        match profile.aggregate_gates {
            AggregateGates::Phase => criteria.extend(aggregate),
            AggregateGates::Entry => criteria.extend(aggregate.into_iter().map(for_information)),
        }
        criteria.extend(dmc_selected(proj, entry));
    }
    Verdict::new(
        Subject::PhaseExit(phase.clone()),
        profile,
        proj.seq(),
        criteria,
    )
}

/// The criteria that concern the phase alone: registered, started, document settled, every
/// required case passed or validly de-scoped, issues within the phase (or regression) limits.
pub(crate) fn own_criteria(
    proj: &Projection,
    profile: &Profile,
    phase: &PhaseId,
) -> Vec<Criterion> {
    let Some(state) = proj.phase(phase) else {
        return vec![criterion(
            4,
            "4.registered",
            clauses::EVIDENCE,
            Quantity::Missing,
            Quantity::text("registered phase"),
            C::NotMet,
            format!("{phase} is not registered, so nothing about it can be shown."),
        )];
    };
    let mut out = Vec::new();
    out.push(criterion(
        4,
        "4.started",
        clauses::EVIDENCE,
        Quantity::Flag(state.started().is_some()),
        Quantity::Flag(true),
        met_if(state.started().is_some(), C::NotMet),
        if state.started().is_some() {
            "The phase has a recorded start."
        } else {
            "The phase has no recorded start, so it cannot exit."
        },
    ));
    out.push(dnb_criterion(proj, state));
    out.push(coverage_criterion(state));
    let (context, clause, prefix) = if phase.is_regression() {
        (
            LimitContext::RegressionExit,
            clauses::REGRESSION_LIMITS,
            "4.regression_issues",
        )
    } else {
        (LimitContext::PhaseExit, clauses::PHASE_LIMITS, "4.issues")
    };
    let check = LimitCheck {
        rule: 4,
        id_prefix: prefix,
        clause,
        scope: "this phase".to_string(),
        context,
        on_fail: C::NotMet,
    };
    out.extend(match phase {
        PhaseId::Test(t) => check.criteria(state.issue_counts(), profile, |sev: Severity| {
            profile.phase_limit(t.kind, sev)
        }),
        PhaseId::Regression(_) => check.criteria(state.issue_counts(), profile, |sev| {
            profile.regression_limits.get(sev)
        }),
    });
    out
}

/// Rule 10 / rule 3: the phase's Depth & Breadth document must be agreed or determined; while it
/// is disputed or referred the phase is pending.
pub(crate) fn dnb_criterion(proj: &Projection, state: &PhaseState) -> Criterion {
    let doc_key = state.doc();
    let Some(doc) = proj.doc(doc_key) else {
        return criterion(
            10,
            "10.dnb_status",
            clauses::DNB_SETTLED,
            Quantity::Missing,
            Quantity::text("agreed or determined"),
            C::NotMet,
            format!("{doc_key} has not been drafted, so the phase has no agreed case list."),
        );
    };
    let status = doc.status;
    let (outcome, explanation) = if status.is_settled() {
        (
            C::Met,
            format!(
                "{doc_key} revision {} is {}.",
                doc.revision,
                status.as_str()
            ),
        )
    } else if status.is_in_dispute() {
        (
            C::Pending,
            format!(
                "{doc_key} is {} by the TAG, so the phase is pending until the Secretary of State determines it.",
                status.as_str()
            ),
        )
    } else {
        (
            C::NotMet,
            format!("{doc_key} is still a draft, not agreed with the TAG."),
        )
    };
    let clause = if status.is_in_dispute() {
        clauses::DISPUTE
    } else {
        clauses::DNB_SETTLED
    };
    criterion(
        10,
        "10.dnb_status",
        clause,
        Quantity::text(status.as_str()),
        Quantity::text("agreed or determined"),
        outcome,
        explanation,
    )
}

fn coverage_criterion(state: &PhaseState) -> Criterion {
    let cov = state.coverage();
    let measured = Quantity::Fraction {
        num: u64::from(cov.satisfied()),
        den: u64::from(cov.required),
    };
    let limit = Quantity::Fraction {
        num: u64::from(cov.required),
        den: u64::from(cov.required),
    };
    if cov.required == 0 {
        return criterion(
            4,
            "4.coverage",
            clauses::COVERAGE,
            measured,
            limit,
            C::NotMet,
            "The Depth & Breadth list requires no case of this phase, so there is no evidence it was tested.",
        );
    }
    const SHOWN: usize = 5;
    let missing = cov.required.saturating_sub(cov.satisfied());
    let explanation = if missing == 0 {
        format!(
            "All {} required cases are passed ({}) or validly de-scoped ({}).",
            cov.required, cov.passed, cov.descoped
        )
    } else {
        let shown: Vec<String> = state
            .unsatisfied_first(SHOWN)
            .iter()
            .map(|(case, status)| {
                format!("{case} ({})", status.map_or("no result", |s| s.as_str()))
            })
            .collect();
        let more = match (missing as usize).checked_sub(shown.len()) {
            Some(extra) if extra > 0 => format!(" and {extra} more"),
            _ => String::new(),
        };
        format!(
            "{missing} of {} required cases are neither passed nor validly de-scoped: {}{more}.",
            cov.required,
            shown.join(", ")
        )
    };
    criterion(
        4,
        "4.coverage",
        clauses::COVERAGE,
        measured,
        limit,
        met_if(missing == 0, C::NotMet),
        explanation,
    )
}

/// Rule 5: open issues across every phase of the entry, each counted once.
pub(crate) fn aggregate_criteria(
    proj: &Projection,
    profile: &Profile,
    entry: &EntryKey,
) -> Vec<Criterion> {
    let Some(state) = proj.entry(entry) else {
        return vec![criterion(
            5,
            "5.entry",
            clauses::EVIDENCE,
            Quantity::Missing,
            Quantity::text("planned entry"),
            C::NotMet,
            format!("Planned entry {entry} is unknown, so its aggregate cannot be measured."),
        )];
    };
    LimitCheck {
        rule: 5,
        id_prefix: "5.aggregate",
        clause: clauses::AGGREGATE,
        scope: format!("all phases of {entry}"),
        context: LimitContext::Aggregate,
        on_fail: C::Blocked,
    }
    .criteria(state.issue_counts(), profile, |sev| {
        profile.aggregate_limits.get(sev)
    })
}

/// Rule 5 on a phase verdict under `aggregate_gates = "entry"`: measured and shown, not deciding.
fn for_information(mut c: Criterion) -> Criterion {
    let gates = if c.outcome == C::Met {
        "it would block the planned entry, not this phase, if exceeded"
    } else {
        "it blocks the planned entry, not this phase"
    };
    c.outcome = C::Information;
    c.explanation = format!(
        "{} For information: under this profile (aggregate_gates = \"entry\") {gates}.",
        c.explanation
    );
    c
}

/// Rule 8: a de-selected DMC's entries cannot complete until it is reintroduced.
pub(crate) fn dmc_selected(proj: &Projection, entry: &EntryKey) -> Option<Criterion> {
    let dmc = proj.dmc(&entry.dmc)?;
    let deselected = dmc.deselected.as_deref();
    Some(criterion(
        8,
        "8.dmc_selected",
        clauses::DMC,
        Quantity::Flag(deselected.is_none()),
        Quantity::Flag(true),
        met_if(deselected.is_none(), C::Blocked),
        match deselected {
            None => format!("DMC {} is selected.", entry.dmc),
            Some(reason) => format!("DMC {} is de-selected ({reason}).", entry.dmc),
        },
    ))
}
