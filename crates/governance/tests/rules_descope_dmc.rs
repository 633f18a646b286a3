//! Rule 7 (equivalence de-scoping) and rule 8 (DMC de-selection and reintroduction).
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use meterlab_governance::event::DescopeRequest;
use meterlab_governance::model::*;
use meterlab_governance::*;

/// The standard request: de-scope SIT dormant T1 citing SIT active T1 (same SRV 4.1.1).
fn request(w: &World) -> DescopeRequest {
    DescopeRequest {
        phase: w.p("sit.dormant"),
        case: CaseId::new("T1"),
        cited: w.case_ref(&w.p("sit.active"), "T1"),
        rationale: "SIT for active meters stands for dormant meters: same Equivalent Steps".into(),
    }
}

struct Case {
    name: &'static str,
    setup: fn(&mut World) -> DescopeRequest,
    outcome: Outcome,
    failing: &'static [&'static str],
}

fn cited_passed(w: &mut World) -> DescopeRequest {
    let a = w.p("sit.active");
    w.start(&a).result(&a, "T1", 1, CaseStatus::Passed);
    request(w)
}

const CASES: &[Case] = &[
    Case {
        name: "valid equivalence",
        setup: cited_passed,
        outcome: Outcome::Exit,
        failing: &[],
    },
    Case {
        name: "cited result does not exist",
        setup: |w| request(w),
        outcome: Outcome::NotMet,
        failing: &["7.cited_exists", "7.cited_passed"],
    },
    Case {
        name: "cited result failed on its last attempt",
        setup: |w| {
            let r = cited_passed(w);
            let a = w.p("sit.active");
            w.result(&a, "T1", 2, CaseStatus::Failed);
            r
        },
        outcome: Outcome::NotMet,
        failing: &["7.cited_passed"],
    },
    Case {
        name: "cited case covers another SRV",
        setup: |w| {
            let a = w.p("sit.active");
            w.start(&a).result(&a, "T2", 1, CaseStatus::Passed);
            let mut r = request(w);
            r.cited = w.case_ref(&a, "T2");
            r
        },
        outcome: Outcome::NotMet,
        failing: &["7.same_srv"],
    },
    Case {
        name: "cross test type: MT M1 stands for SIT T1 (both SRV 4.1.1)",
        setup: |w| {
            let m = w.p("mt.dormant");
            w.start(&m).result(&m, "M1", 1, CaseStatus::Passed);
            let mut r = request(w);
            r.cited = w.case_ref(&m, "M1");
            r
        },
        outcome: Outcome::Exit,
        failing: &[],
    },
    Case {
        name: "no rationale",
        setup: |w| {
            let mut r = cited_passed(w);
            r.rationale = "  ".into();
            r
        },
        outcome: Outcome::NotMet,
        failing: &["7.rationale"],
    },
    Case {
        name: "case not on the phase's list",
        setup: |w| {
            let mut r = cited_passed(w);
            r.case = CaseId::new("T9");
            r
        },
        outcome: Outcome::NotMet,
        failing: &["7.target", "7.same_srv"],
    },
    Case {
        name: "a case cannot cite itself",
        setup: |w| {
            let d = w.p("sit.dormant");
            w.start(&d).result(&d, "T1", 1, CaseStatus::Passed);
            let mut r = request(w);
            r.cited = w.case_ref(&d, "T1");
            r
        },
        outcome: Outcome::NotMet,
        failing: &["7.target"],
    },
];

#[test]
fn descope_table() {
    for case in CASES {
        let mut w = World::new();
        let req = (case.setup)(&mut w);
        let v = evaluate_descope(&w.proj, &w.profile, &req);
        assert_eq!(v.outcome, case.outcome, "{}: {:#?}", case.name, v.criteria);
        let failing: Vec<&str> = v.failing().map(|c| c.id.as_str()).collect();
        assert_eq!(failing, case.failing, "{}", case.name);
        // Applying agrees with evaluating, and a rejection says which condition failed.
        match w.try_apply(Event::CaseDescoped(req)) {
            Ok(()) => assert!(case.failing.is_empty(), "{} applied", case.name),
            Err(DomainError::DescopeRejected { reasons, .. }) => {
                assert!(
                    !case.failing.is_empty(),
                    "{} rejected: {reasons}",
                    case.name
                );
                assert!(!reasons.is_empty());
            }
            Err(e) => panic!("{}: unexpected {e}", case.name),
        }
    }
}

#[test]
fn rejection_names_the_condition() {
    let mut w = World::new();
    let mut r = cited_passed(&mut w);
    r.rationale.clear();
    let err = w.try_apply(Event::CaseDescoped(r)).unwrap_err().to_string();
    assert!(err.contains("no rationale"), "{err}");
}

#[test]
fn a_descope_counts_for_exit_until_its_cited_result_fails() {
    let mut w = World::new();
    let req = cited_passed(&mut w);
    let d = w.p("sit.dormant");
    w.start(&d).result(&d, "T2", 1, CaseStatus::Passed);
    w.apply(Event::CaseDescoped(req.clone()));
    assert_eq!(
        evaluate_phase_exit(&w.proj, &w.profile, &d).outcome,
        Outcome::Exit
    );
    assert_eq!(w.proj.phase(&d).unwrap().coverage().descoped, 1);
    assert!(matches!(
        w.try_apply(Event::CaseDescoped(req)),
        Err(DomainError::AlreadyDescoped { .. })
    ));
    let a = w.p("sit.active");
    w.result(&a, "T1", 2, CaseStatus::Failed);
    let v = evaluate_phase_exit(&w.proj, &w.profile, &d);
    assert_eq!(v.outcome, Outcome::NotMet, "{:#?}", v.criteria);
    w.result(&a, "T1", 3, CaseStatus::Passed);
    assert_eq!(
        evaluate_phase_exit(&w.proj, &w.profile, &d).outcome,
        Outcome::Exit
    );
    assert!(w.proj.counter_mismatches().is_empty());
}

fn deselect(w: &mut World) {
    w.apply(Event::DmcDeselected {
        dmc: DmcId::new("D1"),
        reason: "ESME firmware defect".into(),
    });
}

struct DmcCase {
    name: &'static str,
    deselected: bool,
    proposed: fn() -> DmcComponents,
    tag: Option<&'static str>,
    outcome: Outcome,
    check: (&'static str, CriterionOutcome),
}

const DMC_CASES: &[DmcCase] = &[
    DmcCase {
        name: "firmware-only change with the TAG consulted",
        deselected: true,
        proposed: || components("1.1"),
        tag: Some("TAG-2019-42"),
        outcome: Outcome::Exit,
        check: ("8.change", CriterionOutcome::Met),
    },
    DmcCase {
        name: "firmware-only change waits for the TAG",
        deselected: true,
        proposed: || components("1.1"),
        tag: None,
        outcome: Outcome::Pending,
        check: ("8.tag_consulted", CriterionOutcome::Pending),
    },
    DmcCase {
        name: "a model change needs a new DMC",
        deselected: true,
        proposed: || {
            let mut c = components("1.0");
            c.gsme = Some(device("G-2", "1.0"));
            c
        },
        tag: Some("TAG-2019-42"),
        outcome: Outcome::NotMet,
        check: ("8.change", CriterionOutcome::NotMet),
    },
    DmcCase {
        name: "adding an IHD is a model change",
        deselected: true,
        proposed: || {
            let mut c = components("1.1");
            c.ihd = Some(device("IHD-1", "1.0"));
            c
        },
        tag: Some("TAG-2019-42"),
        outcome: Outcome::NotMet,
        check: ("8.change", CriterionOutcome::NotMet),
    },
    DmcCase {
        name: "a selected DMC cannot be reintroduced",
        deselected: false,
        proposed: || components("1.1"),
        tag: Some("TAG-2019-42"),
        outcome: Outcome::NotMet,
        check: ("8.deselected", CriterionOutcome::NotMet),
    },
];

#[test]
fn reintroduction_table() {
    for case in DMC_CASES {
        let mut w = World::new();
        if case.deselected {
            deselect(&mut w);
        }
        let proposed = (case.proposed)();
        let v =
            evaluate_reintroduction(&w.proj, &w.profile, &DmcId::new("D1"), &proposed, case.tag);
        assert_eq!(v.outcome, case.outcome, "{}: {:#?}", case.name, v.criteria);
        assert_eq!(outcome_of(&v, case.check.0), case.check.1, "{}", case.name);
        let applied = w.try_apply(Event::DmcReintroduced {
            dmc: DmcId::new("D1"),
            components: proposed,
            tag_consultation: case.tag.unwrap_or("").into(),
        });
        assert_eq!(
            applied.is_ok(),
            case.outcome == Outcome::Exit,
            "{}: {applied:?}",
            case.name
        );
    }
}

#[test]
fn a_model_change_registers_a_new_dmc_with_a_full_phase_set() {
    let mut w = World::new();
    deselect(&mut w);
    let mut changed = components("1.0");
    changed.esme = Some(device("E-2", "1.0"));
    let err = w
        .try_apply(Event::DmcReintroduced {
            dmc: DmcId::new("D1"),
            components: changed.clone(),
            tag_consultation: "TAG-1".into(),
        })
        .unwrap_err();
    assert!(
        matches!(err, DomainError::ModelChangeNeedsNewDmc { .. }),
        "{err}"
    );
    w.apply(Event::DmcRegistered {
        dmc: DmcId::new("D1b"),
        components: changed,
        supersedes: Some(DmcId::new("D1")),
    });
    let entry = entry_for(Release::Ioc, "D1b");
    w.apply(Event::EntryPlanned {
        entry: entry.clone(),
    });
    let v = evaluate_entry(&w.proj, &w.profile, &entry);
    assert_eq!(outcome_of(&v, "1.phase_set"), CriterionOutcome::NotMet);
    assert!(
        evaluate_reintroduction(
            &w.proj,
            &w.profile,
            &DmcId::new("nope"),
            &components("1"),
            None
        )
        .criterion("8.known")
        .is_some()
    );
}
