//! What-if: hypothetical events change the verdict, never the real projection.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use meterlab_governance::model::*;
use meterlab_governance::*;

#[test]
fn closing_an_issue_what_if() {
    let mut w = World::new();
    let p = w.p("mt.active");
    w.complete(&p);
    let blocker = w.raise(1, &[&p]);
    let real = evaluate_phase_exit(&w.proj, &w.profile, &p);
    assert_eq!(real.outcome, Outcome::NotMet);
    let seq = w.proj.seq();

    let v = what_if(&w.proj, &[Event::close_issue(blocker)], |proj| {
        evaluate_phase_exit(proj, &w.profile, &p)
    })
    .unwrap();
    assert_eq!(v.outcome, Outcome::Exit, "{:#?}", v.criteria);
    assert_eq!(v.assumptions, [format!("issue {blocker} becomes closed")]);
    // Nothing was written.
    assert_eq!(w.proj.seq(), seq);
    assert_eq!(evaluate_phase_exit(&w.proj, &w.profile, &p), real);
    assert_eq!(w.proj.issue(blocker).unwrap().status, IssueStatus::Open);
}

#[test]
fn downgrading_and_descoping_what_if() {
    let mut w = World::new();
    let a = w.p("sit.active");
    let d = w.p("sit.dormant");
    w.complete(&a);
    w.start(&d).result(&d, "T2", 1, CaseStatus::Passed);
    let severe = w.raise(2, &[&d]);
    assert_eq!(
        evaluate_phase_exit(&w.proj, &w.profile, &d).outcome,
        Outcome::NotMet
    );
    let scenario = Scenario::new(
        &w.proj,
        &[
            Event::change_severity(severe, Severity::new(4).unwrap()),
            Event::descope(
                d.clone(),
                CaseId::new("T1"),
                w.case_ref(&a, "T1"),
                "active stands for dormant",
            ),
        ],
    )
    .unwrap();
    let v = scenario.evaluate(|proj| evaluate_phase_exit(proj, &w.profile, &d));
    assert_eq!(v.outcome, Outcome::Exit, "{:#?}", v.criteria);
    assert_eq!(v.assumptions.len(), 2);
    let r = scenario
        .report(|proj| completion_report(proj, &w.profile, "what-if", std::slice::from_ref(&d)));
    assert_eq!(r.outcome, Outcome::Exit);
    assert_eq!(r.descopes.len(), 1);
    assert!(r.phases.iter().all(|v| v.assumptions.len() == 2));
    // The real projection still has the severity 2 issue and no de-scope.
    assert_eq!(w.proj.issue(severe).unwrap().severity.level(), 2);
    assert_eq!(w.proj.phase(&d).unwrap().descopes().count(), 0);
    assert!(w.proj.counter_mismatches().is_empty());
    assert!(scenario.projection().counter_mismatches().is_empty());
}

#[test]
fn an_impossible_hypothesis_is_refused() {
    let mut w = World::new();
    let d = w.p("sit.dormant");
    let err = Scenario::new(&w.proj, &[Event::close_issue(1)]).unwrap_err();
    assert_eq!(err.0, 0);
    let i = w.raise(3, &[&d]);
    let err = Scenario::new(
        &w.proj,
        &[
            Event::close_issue(i),
            Event::descope(d.clone(), CaseId::new("T1"), w.case_ref(&d, "T2"), "no"),
        ],
    )
    .unwrap_err();
    assert_eq!(err.0, 1);
    assert!(matches!(err.1, DomainError::DescopeRejected { .. }));
}
