//! Rules 2 (overlap) and 3 (entry criteria), one case per branch.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use meterlab_governance::model::*;
use meterlab_governance::*;

struct Case {
    name: &'static str,
    strict: bool,
    setup: fn(&mut World) -> PhaseId,
    outcome: Outcome,
    check: (&'static str, CriterionOutcome),
}

const CASES: &[Case] = &[
    Case {
        name: "SIT may start while MT has not even started (overlap)",
        strict: false,
        setup: |w| w.p("sit.active"),
        outcome: Outcome::Exit,
        check: ("2.overlap", CriterionOutcome::Met),
    },
    Case {
        name: "SIT may start while MT runs with failures",
        strict: false,
        setup: |w| {
            let mt = w.p("mt.active");
            w.start(&mt).result(&mt, "M1", 1, CaseStatus::Failed);
            w.raise(1, &[&mt]);
            w.p("sit.active")
        },
        outcome: Outcome::Exit,
        check: ("2.overlap", CriterionOutcome::Met),
    },
    Case {
        name: "an unregistered phase cannot start",
        strict: false,
        setup: |w| {
            let mut e = w.entry.clone();
            e.release = Release::Foc;
            PhaseId::test(e, TestType::Sit, Mode::Mixed)
        },
        outcome: Outcome::NotMet,
        check: ("3.registered", CriterionOutcome::NotMet),
    },
    Case {
        name: "a phase cannot start twice",
        strict: false,
        setup: |w| {
            let p = w.p("mt.mixed");
            w.start(&p);
            p
        },
        outcome: Outcome::NotMet,
        check: ("3.not_started", CriterionOutcome::NotMet),
    },
    Case {
        name: "a draft Depth & Breadth document refuses a start",
        strict: false,
        setup: |w| {
            w.draft(DocType::Sit, 2);
            w.p("sit.active")
        },
        outcome: Outcome::NotMet,
        check: ("3.dnb_status", CriterionOutcome::NotMet),
    },
    Case {
        name: "a referred document leaves the start pending",
        strict: false,
        setup: |w| {
            w.draft(DocType::Sit, 2)
                .set_dnb(DocType::Sit, DnbStatus::Disputed)
                .set_dnb(DocType::Sit, DnbStatus::Referred);
            w.p("sit.dormant")
        },
        outcome: Outcome::Pending,
        check: ("3.dnb_status", CriterionOutcome::Pending),
    },
    Case {
        name: "the illustrative profile names no precursors",
        strict: false,
        setup: |w| w.p("mt.dormant"),
        outcome: Outcome::Exit,
        check: ("3.dnb_status", CriterionOutcome::Met),
    },
    Case {
        name: "strict: mt.dormant waits for mt.active to exit",
        strict: true,
        setup: |w| {
            let a = w.p("mt.active");
            w.complete(&a);
            w.p("mt.dormant")
        },
        outcome: Outcome::NotMet,
        check: ("3.precursor.mt.active", CriterionOutcome::NotMet),
    },
    Case {
        name: "strict: mt.dormant may start once mt.active exited",
        strict: true,
        setup: |w| {
            let a = w.p("mt.active");
            w.complete(&a).exit(&a);
            w.p("mt.dormant")
        },
        outcome: Outcome::Exit,
        check: ("3.precursor.mt.active", CriterionOutcome::Met),
    },
    Case {
        name: "strict: SIT never waits for MT (SVTAD 12.6)",
        strict: true,
        setup: |w| w.p("sit.active"),
        outcome: Outcome::Exit,
        check: ("2.overlap", CriterionOutcome::Met),
    },
    Case {
        name: "a de-selected DMC blocks a start",
        strict: false,
        setup: |w| {
            w.apply(Event::DmcDeselected {
                dmc: DmcId::new("D1"),
                reason: "withdrawn".into(),
            });
            w.p("mt.active")
        },
        outcome: Outcome::Blocked,
        check: ("8.dmc_selected", CriterionOutcome::Blocked),
    },
];

#[test]
fn start_table() {
    for case in CASES {
        let mut w = World::new();
        if case.strict {
            w.profile = strict();
        }
        let phase = (case.setup)(&mut w);
        let v = evaluate_start(&w.proj, &w.profile, &phase);
        assert_eq!(v.outcome, case.outcome, "{}: {:#?}", case.name, v.criteria);
        assert_eq!(outcome_of(&v, case.check.0), case.check.1, "{}", case.name);
    }
}

#[test]
fn overlap_never_refuses_any_combination_of_mt_states() {
    // Every state of the MT phase; the SIT start verdict never fails on rule 2.
    for mt_state in 0..4 {
        let mut w = World::new();
        let mt = w.p("mt.active");
        if mt_state >= 1 {
            w.start(&mt);
        }
        if mt_state >= 2 {
            w.pass_all(&mt);
        }
        if mt_state >= 3 {
            w.exit(&mt);
        }
        let v = evaluate_start(&w.proj, &w.profile, &w.p("sit.active"));
        assert!(
            v.criteria
                .iter()
                .filter(|c| c.rule == 2)
                .all(|c| c.outcome == CriterionOutcome::Met)
        );
        assert_eq!(v.outcome, Outcome::Exit, "MT state {mt_state}");
    }
}
