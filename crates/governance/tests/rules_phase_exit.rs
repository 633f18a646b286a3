//! Rule 4 (phase exit), rule 10 (disputes) and rule 5's block on a phase, one case per branch.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use meterlab_governance::model::*;
use meterlab_governance::*;

type Setup = fn(&mut World) -> PhaseId;

struct Case {
    name: &'static str,
    strict: bool,
    setup: Setup,
    outcome: Outcome,
    /// A criterion that must have this outcome.
    check: (&'static str, CriterionOutcome),
}

fn ready(w: &mut World) -> PhaseId {
    let p = w.p("mt.active");
    w.complete(&p);
    p
}

const CASES: &[Case] = &[
    Case {
        name: "all cases passed, no issues: exit",
        strict: false,
        setup: ready,
        outcome: Outcome::Exit,
        check: ("4.coverage", CriterionOutcome::Met),
    },
    Case {
        name: "unregistered phase is not met",
        strict: false,
        setup: |w| {
            let mut other = w.entry.clone();
            other.dmc = DmcId::new("nope");
            PhaseId::test(other, TestType::Mt, Mode::Active)
        },
        outcome: Outcome::NotMet,
        check: ("4.registered", CriterionOutcome::NotMet),
    },
    Case {
        name: "no recorded start is not met",
        strict: false,
        setup: |w| {
            let p = w.p("mt.active");
            w.pass_all(&p);
            p
        },
        outcome: Outcome::NotMet,
        check: ("4.started", CriterionOutcome::NotMet),
    },
    Case {
        name: "a case without a result is not met",
        strict: false,
        setup: |w| {
            let p = w.p("mt.active");
            w.start(&p).result(&p, "M1", 1, CaseStatus::Passed);
            p
        },
        outcome: Outcome::NotMet,
        check: ("4.coverage", CriterionOutcome::NotMet),
    },
    Case {
        name: "the last attempt counts: pass then fail is not met",
        strict: false,
        setup: |w| {
            let p = ready(w);
            w.result(&p, "M2", 2, CaseStatus::Failed);
            p
        },
        outcome: Outcome::NotMet,
        check: ("4.coverage", CriterionOutcome::NotMet),
    },
    Case {
        name: "the last attempt counts: fail then pass exits",
        strict: false,
        setup: |w| {
            let p = w.p("mt.active");
            w.start(&p).result(&p, "M1", 1, CaseStatus::Failed);
            w.result(&p, "M1", 2, CaseStatus::Passed);
            w.result(&p, "M2", 1, CaseStatus::Blocked);
            w.result(&p, "M2", 2, CaseStatus::Passed);
            p
        },
        outcome: Outcome::Exit,
        check: ("4.coverage", CriterionOutcome::Met),
    },
    Case {
        name: "a late lower attempt does not override the highest",
        strict: false,
        setup: |w| {
            let p = w.p("mt.active");
            w.start(&p).result(&p, "M1", 2, CaseStatus::Passed);
            w.result(&p, "M1", 1, CaseStatus::Failed);
            w.result(&p, "M2", 1, CaseStatus::Passed);
            p
        },
        outcome: Outcome::Exit,
        check: ("4.coverage", CriterionOutcome::Met),
    },
    Case {
        name: "a result marked descoped without a de-scope record is not met",
        strict: false,
        setup: |w| {
            let p = w.p("mt.active");
            w.start(&p).result(&p, "M1", 1, CaseStatus::Passed);
            w.result(&p, "M2", 1, CaseStatus::Descoped);
            p
        },
        outcome: Outcome::NotMet,
        check: ("4.coverage", CriterionOutcome::NotMet),
    },
    Case {
        name: "mode filter: dormant needs M3, active does not",
        strict: false,
        setup: |w| {
            let p = w.p("mt.dormant");
            w.start(&p).result(&p, "M1", 1, CaseStatus::Passed);
            w.result(&p, "M2", 1, CaseStatus::Passed);
            p
        },
        outcome: Outcome::NotMet,
        check: ("4.coverage", CriterionOutcome::NotMet),
    },
    Case {
        name: "document still draft is not met",
        strict: false,
        setup: |w| {
            let p = ready(w);
            w.draft(DocType::Mt, 2);
            w.pass_all(&p);
            p
        },
        outcome: Outcome::NotMet,
        check: ("10.dnb_status", CriterionOutcome::NotMet),
    },
    Case {
        name: "document disputed by the TAG is pending",
        strict: false,
        setup: |w| {
            let p = ready(w);
            w.draft(DocType::Mt, 2)
                .set_dnb(DocType::Mt, DnbStatus::Disputed);
            p
        },
        outcome: Outcome::Pending,
        check: ("10.dnb_status", CriterionOutcome::Pending),
    },
    Case {
        name: "document referred to the Secretary of State is pending even with failures",
        strict: false,
        setup: |w| {
            let p = w.p("mt.active");
            w.start(&p);
            w.draft(DocType::Mt, 2)
                .set_dnb(DocType::Mt, DnbStatus::Disputed)
                .set_dnb(DocType::Mt, DnbStatus::Referred);
            p
        },
        outcome: Outcome::Pending,
        check: ("10.dnb_status", CriterionOutcome::Pending),
    },
    Case {
        name: "document determined by the Secretary of State exits",
        strict: false,
        setup: |w| {
            let p = w.p("mt.active");
            w.start(&p);
            w.draft(DocType::Mt, 2)
                .set_dnb(DocType::Mt, DnbStatus::Disputed)
                .set_dnb(DocType::Mt, DnbStatus::Referred)
                .set_dnb(DocType::Mt, DnbStatus::Determined);
            w.pass_all(&p);
            p
        },
        outcome: Outcome::Exit,
        check: ("10.dnb_status", CriterionOutcome::Met),
    },
    Case {
        name: "one open severity 1 issue is not met",
        strict: false,
        setup: |w| {
            let p = ready(w);
            w.raise(1, &[&p]);
            p
        },
        outcome: Outcome::NotMet,
        check: ("4.issues.sev1", CriterionOutcome::NotMet),
    },
    Case {
        name: "a fixed but unverified severity 2 issue still counts",
        strict: false,
        setup: |w| {
            let p = ready(w);
            let i = w.raise(2, &[&p]);
            w.set_status(i, IssueStatus::Fixed);
            p
        },
        outcome: Outcome::NotMet,
        check: ("4.issues.sev2", CriterionOutcome::NotMet),
    },
    Case {
        name: "a closed severity 1 issue does not count",
        strict: false,
        setup: |w| {
            let p = ready(w);
            let i = w.raise(1, &[&p]);
            w.set_status(i, IssueStatus::Closed);
            p
        },
        outcome: Outcome::Exit,
        check: ("4.issues.sev1", CriterionOutcome::Met),
    },
    Case {
        name: "five severity 3 issues are within the illustrative limit",
        strict: false,
        setup: |w| {
            let p = ready(w);
            for _ in 0..5 {
                w.raise(3, &[&p]);
            }
            p
        },
        outcome: Outcome::Exit,
        check: ("4.issues.sev3", CriterionOutcome::Met),
    },
    Case {
        name: "six severity 3 issues exceed the illustrative limit",
        strict: false,
        setup: |w| {
            let p = ready(w);
            for _ in 0..6 {
                w.raise(3, &[&p]);
            }
            p
        },
        outcome: Outcome::NotMet,
        check: ("4.issues.sev3", CriterionOutcome::NotMet),
    },
    Case {
        name: "severity 5 is unlimited in the illustrative profile",
        strict: false,
        setup: |w| {
            let p = ready(w);
            for _ in 0..50 {
                w.raise(5, &[&p]);
            }
            p
        },
        outcome: Outcome::Exit,
        check: ("4.issues.sev5", CriterionOutcome::Met),
    },
    Case {
        name: "illustrative: a severity 1 known defect does not count at phase exit",
        strict: false,
        setup: |w| {
            let p = ready(w);
            let i = w.raise(1, &[&p]);
            w.set_status(i, IssueStatus::KnownDefect);
            p
        },
        outcome: Outcome::Exit,
        check: ("4.issues.sev1", CriterionOutcome::Met),
    },
    Case {
        name: "strict: a severity 1 known defect counts at phase exit",
        strict: true,
        setup: |w| {
            let p = ready(w);
            let i = w.raise(1, &[&p]);
            w.set_status(i, IssueStatus::KnownDefect);
            p
        },
        outcome: Outcome::NotMet,
        check: ("4.issues.sev1", CriterionOutcome::NotMet),
    },
    Case {
        name: "strict: SIT override allows 30 severity 5 issues",
        strict: true,
        setup: |w| {
            let p = w.p("sit.active");
            w.complete(&p);
            for _ in 0..25 {
                w.raise(5, &[&p]);
            }
            p
        },
        outcome: Outcome::Exit,
        check: ("4.issues.sev5", CriterionOutcome::Met),
    },
    Case {
        name: "strict: MT keeps the default of 20 severity 5 issues",
        strict: true,
        setup: |w| {
            let p = ready(w);
            for _ in 0..25 {
                w.raise(5, &[&p]);
            }
            p
        },
        outcome: Outcome::NotMet,
        check: ("4.issues.sev5", CriterionOutcome::NotMet),
    },
    Case {
        name: "aggregate (gates the entry by default): a phase still exits, the aggregate is information",
        strict: false,
        setup: |w| {
            let p = ready(w);
            let others: Vec<PhaseId> = ["mt.dormant", "mt.mixed", "sit.active"]
                .iter()
                .map(|k| w.p(k))
                .collect();
            for o in &others {
                for _ in 0..4 {
                    w.raise(3, &[o]);
                }
            }
            p
        },
        outcome: Outcome::Exit,
        check: ("5.aggregate.sev3", CriterionOutcome::Information),
    },
    Case {
        name: "aggregate (strict profile gates phases): issues on other phases block an exiting phase",
        strict: true,
        setup: |w| {
            let p = ready(w);
            let other = w.p("sit.active");
            w.raise(3, &[&other]);
            p
        },
        outcome: Outcome::Blocked,
        check: ("5.aggregate.sev3", CriterionOutcome::Blocked),
    },
    Case {
        name: "a de-selected DMC blocks an exiting phase",
        strict: false,
        setup: |w| {
            let p = ready(w);
            w.apply(Event::DmcDeselected {
                dmc: DmcId::new("D1"),
                reason: "ESME firmware defect".into(),
            });
            p
        },
        outcome: Outcome::Blocked,
        check: ("8.dmc_selected", CriterionOutcome::Blocked),
    },
    Case {
        name: "regression run uses the regression limits and counts known defects",
        strict: false,
        setup: |w| {
            let run = w.register_run(RegressionKind::Combined);
            w.complete(&run);
            let i = w.raise(1, &[&run]);
            w.set_status(i, IssueStatus::KnownDefect);
            run
        },
        outcome: Outcome::NotMet,
        check: ("4.regression_issues.sev1", CriterionOutcome::NotMet),
    },
];

#[test]
fn phase_exit_table() {
    for case in CASES {
        let mut w = World::new();
        if case.strict {
            w.profile = strict();
        }
        let phase = (case.setup)(&mut w);
        let v = evaluate_phase_exit(&w.proj, &w.profile, &phase);
        assert_eq!(v.outcome, case.outcome, "{}: {:#?}", case.name, v.criteria);
        assert_eq!(outcome_of(&v, case.check.0), case.check.1, "{}", case.name);
        assert_eq!(v.profile.name, w.profile.name, "{}", case.name);
        assert!(
            v.criteria
                .iter()
                .all(|c| !c.explanation.is_empty() && !c.clause.is_empty())
        );
        assert!(
            w.proj.counter_mismatches().is_empty(),
            "{}: {:?}",
            case.name,
            w.proj.counter_mismatches()
        );
    }
}

#[test]
fn every_failing_criterion_names_a_measured_value_and_limit() {
    let mut w = World::new();
    let p = w.p("mt.active");
    w.start(&p).result(&p, "M1", 1, CaseStatus::Failed);
    w.raise(1, &[&p]);
    let v = evaluate_phase_exit(&w.proj, &w.profile, &p);
    let cov = v.criterion("4.coverage").unwrap();
    assert_eq!(cov.measured, Quantity::Fraction { num: 0, den: 2 });
    assert!(
        cov.explanation.contains("M1 (failed)"),
        "{}",
        cov.explanation
    );
    assert!(
        cov.explanation.contains("M2 (no result)"),
        "{}",
        cov.explanation
    );
    let sev1 = v.criterion("4.issues.sev1").unwrap();
    assert_eq!(sev1.measured, Quantity::Count(1));
    assert_eq!(sev1.limit, Quantity::Limit(profile::Limit::Max(0)));
}
