//! Rule 5's scope is a profile setting: under `aggregate_gates = "entry"` (the default) an entry
//! over its aggregate limit is blocked while its phases still exit, so the regression exception
//! (rule 6) can apply; under `"phase"` no phase of that entry may exit.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use meterlab_governance::model::*;
use meterlab_governance::profile::AggregateGates;
use meterlab_governance::*;

/// Twelve severity 3 issues (aggregate limit 10), four on each of three phases (phase limit 5):
/// every phase is within its own limit, the entry is over its aggregate.
fn over_aggregate(gates: AggregateGates) -> World {
    let mut w = World::new();
    w.profile.aggregate_gates = gates;
    for k in ["mt.mixed", "sit.dormant", "sit.mixed"] {
        let p = w.p(k);
        for _ in 0..4 {
            w.raise(3, &[&p]);
        }
    }
    w
}

fn cycle_entry_scope(w: &World) -> RegressionScope {
    RegressionScope::Entry(w.entry.clone())
}

#[test]
fn entry_scope_lets_phases_exit_and_blocks_the_entry() {
    let mut w = over_aggregate(AggregateGates::Entry);
    let mt = w.p("mt.active");
    w.complete(&mt);
    let v = evaluate_phase_exit(&w.proj, &w.profile, &mt);
    assert_eq!(v.outcome, Outcome::Exit, "{:#?}", v.criteria);
    let aggregate = v.criterion("5.aggregate.sev3").unwrap();
    assert_eq!(aggregate.outcome, CriterionOutcome::Information);
    assert_eq!(aggregate.measured, Quantity::Count(12));
    assert!(
        aggregate.explanation.contains("blocks the planned entry"),
        "{}",
        aggregate.explanation
    );
    assert_eq!(v.failing().count(), 0, "information never fails");
    let recorded = decide_exit(&w.proj, &w.profile, &mt).expect("the phase exit is recorded");
    w.apply(recorded);

    // MT exit, SIT exit, a later MT exit: the exception of rule 6 applies.
    let sit = w.p("sit.active");
    let mt_later = w.p("mt.dormant");
    for p in [&sit, &mt_later] {
        w.complete(p);
        let event = decide_exit(&w.proj, &w.profile, p).expect("exits under entry scope");
        w.apply(event);
    }
    let regression = evaluate_regression(&w.proj, &w.profile, &cycle_entry_scope(&w));
    assert_eq!(
        regression.outcome,
        Outcome::Exit,
        "{:#?}",
        regression.criteria
    );
    assert_eq!(
        regression.criterion("6.exception").unwrap().measured,
        Quantity::Flag(true)
    );

    let entry = evaluate_entry(&w.proj, &w.profile, &w.entry);
    assert_eq!(entry.outcome, Outcome::NotMet, "three phases have not run");
    assert_eq!(
        outcome_of(&entry, "5.aggregate.sev3"),
        CriterionOutcome::Blocked
    );

    let phases = vec![mt.clone(), sit.clone(), mt_later.clone()];
    let report = completion_report(&w.proj, &w.profile, "r", &phases);
    assert_eq!(
        report.outcome,
        Outcome::Blocked,
        "the report says the entry is blocked although each reported phase exits"
    );
}

#[test]
fn phase_scope_blocks_every_phase_exit_and_so_the_exception() {
    let mut w = over_aggregate(AggregateGates::Phase);
    let mt = w.p("mt.active");
    w.complete(&mt);
    let v = evaluate_phase_exit(&w.proj, &w.profile, &mt);
    assert_eq!(v.outcome, Outcome::Blocked);
    assert_eq!(
        outcome_of(&v, "5.aggregate.sev3"),
        CriterionOutcome::Blocked
    );
    let refused = decide_exit(&w.proj, &w.profile, &mt).unwrap_err();
    assert_eq!(refused.outcome, Outcome::Blocked);

    let regression = evaluate_regression(&w.proj, &w.profile, &cycle_entry_scope(&w));
    assert_eq!(regression.outcome, Outcome::NotMet);
    assert_eq!(
        regression.criterion("6.exception").unwrap().measured,
        Quantity::Flag(false),
        "no phase exit was recorded, so the exception cannot apply"
    );
}

#[test]
fn within_the_aggregate_both_scopes_agree() {
    for gates in [AggregateGates::Entry, AggregateGates::Phase] {
        let mut w = World::new();
        w.profile.aggregate_gates = gates;
        let mt = w.p("mt.active");
        w.complete(&mt);
        w.raise(3, &[&mt]);
        let v = evaluate_phase_exit(&w.proj, &w.profile, &mt);
        assert_eq!(v.outcome, Outcome::Exit, "{gates:?}");
        let expected = match gates {
            AggregateGates::Entry => CriterionOutcome::Information,
            AggregateGates::Phase => CriterionOutcome::Met,
        };
        assert_eq!(outcome_of(&v, "5.aggregate.sev3"), expected);
    }
}
