//! Rule 7: equivalence de-scoping. A case may be de-scoped when an equivalent test has passed:
//! the cited result must exist and have passed, cover the same SRV, and carry a rationale.

use super::{clauses, criterion, met_if};
use crate::event::DescopeRequest;
use crate::profile::Profile;
use crate::projection::{DescopeFacts, DescopeFailure, Projection};
use crate::verdict::{CriterionOutcome as C, Quantity, Subject, Verdict};

/// One sentence per failed condition, for rejections.
pub(crate) fn failure_sentences(facts: &DescopeFacts) -> Vec<String> {
    facts.failures.iter().map(ToString::to_string).collect()
}

impl std::fmt::Display for DescopeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DescopeFailure::UnknownPhase => {
                f.write_str("the phase to de-scope from is not registered")
            }
            DescopeFailure::NotRequired => {
                f.write_str("the case is not on the phase's Depth & Breadth list")
            }
            DescopeFailure::CitesItself => f.write_str("a case cannot stand for itself"),
            DescopeFailure::CitedMissing => f.write_str("the cited result does not exist"),
            DescopeFailure::CitedNotPassed(s) => write!(
                f,
                "the cited result did not pass (its last attempt is {})",
                s.map_or("missing", |s| s.as_str())
            ),
            DescopeFailure::SrvUnknown => f.write_str(
                "the SRV of the case or of the cited case is not known from a Depth & Breadth list",
            ),
            DescopeFailure::SrvMismatch { target, cited } => {
                write!(f, "the cited result covers SRV {cited}, not SRV {target}")
            }
            DescopeFailure::NoRationale => f.write_str("the equivalence has no rationale"),
        }
    }
}

/// Would this de-scope be accepted? Each condition is a criterion, so a rejection says which
/// condition failed.
pub fn evaluate_descope(proj: &Projection, profile: &Profile, request: &DescopeRequest) -> Verdict {
    let facts = proj.descope_facts(request);
    let failed = |pred: &dyn Fn(&DescopeFailure) -> bool| facts.failures.iter().any(pred);
    let mut criteria = Vec::new();

    let target_bad = failed(&|f| {
        matches!(
            f,
            DescopeFailure::UnknownPhase
                | DescopeFailure::NotRequired
                | DescopeFailure::CitesItself
        )
    });
    let already = proj
        .phase(&request.phase)
        .is_some_and(|p| p.descopes().any(|d| d.request.case == request.case));
    criteria.push(criterion(
        7,
        "7.target",
        clauses::DESCOPE,
        Quantity::text(format!("{} case {}", request.phase, request.case)),
        Quantity::text("a required case of a registered phase, not yet de-scoped"),
        met_if(!target_bad && !already, C::NotMet),
        if already {
            "The case is already de-scoped.".to_string()
        } else if target_bad {
            let s = failure_sentences(&DescopeFacts {
                failures: facts
                    .failures
                    .iter()
                    .filter(|f| {
                        matches!(
                            f,
                            DescopeFailure::UnknownPhase
                                | DescopeFailure::NotRequired
                                | DescopeFailure::CitesItself
                        )
                    })
                    .cloned()
                    .collect(),
                ..facts.clone()
            });
            format!("Rejected because {}.", s.join(" and "))
        } else {
            "The case is required of the phase by its Depth & Breadth list.".to_string()
        },
    ));

    let exists = !failed(&|f| matches!(f, DescopeFailure::CitedMissing));
    criteria.push(criterion(
        7,
        "7.cited_exists",
        clauses::DESCOPE,
        Quantity::Flag(exists),
        Quantity::Flag(true),
        met_if(exists, C::NotMet),
        if exists {
            format!(
                "A result exists for {} case {}.",
                request.cited.phase, request.cited.case
            )
        } else {
            format!(
                "No result exists for {} case {}.",
                request.cited.phase, request.cited.case
            )
        },
    ));
    let passed = facts.cited_status == Some(crate::model::CaseStatus::Passed);
    criteria.push(criterion(
        7,
        "7.cited_passed",
        clauses::DESCOPE,
        facts
            .cited_status
            .map_or(Quantity::Missing, |s| Quantity::text(s.as_str())),
        Quantity::text("passed"),
        met_if(passed, C::NotMet),
        if passed {
            "The last attempt of the cited case passed.".to_string()
        } else {
            format!(
                "The last attempt of the cited case is {}, not passed.",
                facts.cited_status.map_or("missing", |s| s.as_str())
            )
        },
    ));
    let same_srv = matches!((&facts.target_srv, &facts.cited_srv), (Some(t), Some(c)) if t == c);
    criteria.push(criterion(
        7,
        "7.same_srv",
        clauses::DESCOPE,
        facts
            .cited_srv
            .as_ref()
            .map_or(Quantity::Missing, |s| Quantity::text(s.as_str())),
        facts
            .target_srv
            .as_ref()
            .map_or(Quantity::Missing, |s| Quantity::text(s.as_str())),
        met_if(same_srv, C::NotMet),
        match (&facts.target_srv, &facts.cited_srv) {
            (Some(t), Some(c)) if t == c => format!("Both cases cover SRV {t}."),
            (Some(t), Some(c)) => {
                format!("The cited case covers SRV {c} but the case covers SRV {t}.")
            }
            _ => {
                "The SRV of one of the cases is not known from a Depth & Breadth list.".to_string()
            }
        },
    ));
    let has_rationale = !request.rationale.trim().is_empty();
    criteria.push(criterion(
        7,
        "7.rationale",
        clauses::DESCOPE,
        Quantity::Flag(has_rationale),
        Quantity::Flag(true),
        met_if(has_rationale, C::NotMet),
        if has_rationale {
            "The equivalence carries a rationale."
        } else {
            "The equivalence has no rationale."
        },
    ));
    let subject = Subject::Descope {
        phase: request.phase.clone(),
        case: request.case.clone(),
    };
    Verdict::new(subject, profile, proj.seq(), criteria)
}
