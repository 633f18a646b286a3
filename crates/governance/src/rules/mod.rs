//! The eleven rules of `governance.md`, each an evaluation returning a [`Verdict`].
//!
//! | rule | evaluation |
//! |---|---|
//! | 1 phase set, 5 aggregate limit | [`evaluate_entry`] (5 also on [`evaluate_phase_exit`]: a block under `aggregate_gates = "phase"`, information under `"entry"`) |
//! | 2 overlap, 3 entry criteria | [`evaluate_start`] |
//! | 4 phase exit, 10 disputes | [`evaluate_phase_exit`] (10 also in [`evaluate_start`]) |
//! | 6 regression | [`evaluate_regression`] |
//! | 7 equivalence de-scoping | [`evaluate_descope`] |
//! | 8 DMC de-selection and reintroduction | [`evaluate_reintroduction`] |
//! | 9 combined completion report | [`crate::report::completion_report`] |
//! | 11 timetable | [`evaluate_replan`] |
//!
//! [`decide_exit`], [`decide_start`] and [`decide_descope`] return the event to record only on an
//! `exit` verdict.

pub(crate) mod clauses;
mod decide;
pub(crate) mod descope;
mod dmc;
mod entry;
mod phase;
mod regression;
mod start;
mod timetable;

pub use decide::{decide_descope, decide_exit, decide_start};
pub use descope::evaluate_descope;
pub use dmc::evaluate_reintroduction;
pub use entry::evaluate_entry;
pub use phase::evaluate_phase_exit;
pub use regression::evaluate_regression;
pub use start::evaluate_start;
pub use timetable::evaluate_replan;

use crate::model::Severity;
use crate::profile::{Limit, LimitContext, Profile};
use crate::projection::IssueCounts;
use crate::verdict::{Criterion, CriterionOutcome, Quantity};

/// Builds a criterion.
pub(crate) fn criterion(
    rule: u8,
    id: impl Into<String>,
    clause: &str,
    measured: Quantity,
    limit: Quantity,
    outcome: CriterionOutcome,
    explanation: impl Into<String>,
) -> Criterion {
    Criterion {
        rule,
        id: id.into(),
        clause: clause.to_string(),
        measured,
        limit,
        outcome,
        explanation: explanation.into(),
    }
}

pub(crate) fn met_if(ok: bool, otherwise: CriterionOutcome) -> CriterionOutcome {
    if ok { CriterionOutcome::Met } else { otherwise }
}

/// One criterion per severity: outstanding issues against the limit.
pub(crate) struct LimitCheck<'a> {
    pub rule: u8,
    pub id_prefix: &'a str,
    pub clause: &'a str,
    pub scope: String,
    pub context: LimitContext,
    pub on_fail: CriterionOutcome,
}

impl LimitCheck<'_> {
    pub(crate) fn criteria(
        &self,
        counts: &IssueCounts,
        profile: &Profile,
        limit_of: impl Fn(Severity) -> Limit,
    ) -> Vec<Criterion> {
        let known = if profile.counts_known_defects(self.context) {
            "open, fixed and known-defect"
        } else {
            "open and fixed (known defects excluded by the profile)"
        };
        Severity::ALL
            .into_iter()
            .map(|sev| {
                let n = counts.outstanding(sev, profile, self.context);
                let limit = limit_of(sev);
                let ok = limit.allows(n);
                let explanation = if ok {
                    format!(
                        "{n} {known} {sev} issue(s) on {} are within the limit of {limit}.",
                        self.scope
                    )
                } else {
                    format!(
                        "{n} {known} {sev} issue(s) on {} exceed the limit of {limit}.",
                        self.scope
                    )
                };
                criterion(
                    self.rule,
                    format!("{}.{sev}", self.id_prefix),
                    self.clause,
                    Quantity::Count(n),
                    Quantity::Limit(limit),
                    met_if(ok, self.on_fail),
                    explanation,
                )
            })
            .collect()
    }
}
