//! Rule 1 (phase set), rule 5 (aggregate limit) and rule 6 (regression), one case per branch.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use meterlab_governance::model::*;
use meterlab_governance::*;

fn complete_all(w: &mut World) {
    for kind in PhaseKind::all() {
        let p = w.phase(kind);
        w.complete(&p);
    }
}

struct EntryCase {
    name: &'static str,
    setup: fn(&mut World),
    outcome: Outcome,
    check: (&'static str, CriterionOutcome),
}

const ENTRY_CASES: &[EntryCase] = &[
    EntryCase {
        name: "six phases, all exiting, no issues: exit",
        setup: complete_all,
        outcome: Outcome::Exit,
        check: ("1.phase_set", CriterionOutcome::Met),
    },
    EntryCase {
        name: "one phase failing its own criteria: not met",
        setup: |w| {
            complete_all(w);
            let p = w.p("sit.mixed");
            w.result(&p, "T2", 2, CaseStatus::Failed);
        },
        outcome: Outcome::NotMet,
        check: ("4.phase.sit.mixed", CriterionOutcome::NotMet),
    },
    EntryCase {
        name: "every phase within its limit but the aggregate exceeded: blocked",
        setup: |w| {
            complete_all(w);
            // 4 severity 3 issues on each of three phases: 12 > aggregate 10, each phase 4 <= 5.
            for k in ["mt.active", "mt.dormant", "sit.mixed"] {
                let p = w.p(k);
                for _ in 0..4 {
                    w.raise(3, &[&p]);
                }
            }
        },
        outcome: Outcome::Blocked,
        check: ("5.aggregate.sev3", CriterionOutcome::Blocked),
    },
    EntryCase {
        name: "an issue seen in several phases counts once in the aggregate",
        setup: |w| {
            complete_all(w);
            let all: Vec<PhaseId> = PhaseKind::all().map(|k| w.phase(k)).collect();
            let refs: Vec<&PhaseId> = all.iter().collect();
            for _ in 0..5 {
                w.raise(3, &refs);
            }
        },
        outcome: Outcome::Exit,
        check: ("5.aggregate.sev3", CriterionOutcome::Met),
    },
    EntryCase {
        name: "a phase under a referred document makes the entry pending",
        setup: |w| {
            complete_all(w);
            w.draft(DocType::Sit, 2)
                .set_dnb(DocType::Sit, DnbStatus::Disputed)
                .set_dnb(DocType::Sit, DnbStatus::Referred);
        },
        outcome: Outcome::Pending,
        check: ("4.phase.sit.active", CriterionOutcome::Pending),
    },
];

#[test]
fn entry_table() {
    for case in ENTRY_CASES {
        let mut w = World::new();
        (case.setup)(&mut w);
        let v = evaluate_entry(&w.proj, &w.profile, &w.entry);
        assert_eq!(v.outcome, case.outcome, "{}: {:#?}", case.name, v.criteria);
        assert_eq!(outcome_of(&v, case.check.0), case.check.1, "{}", case.name);
    }
}

#[test]
fn missing_phases_are_named() {
    let mut w = World::new();
    let other = entry_for(Release::Moc, "D1");
    w.apply(Event::EntryPlanned {
        entry: other.clone(),
    });
    w.apply(Event::PhaseRegistered {
        phase: PhaseId::test(other.clone(), TestType::Mt, Mode::Active),
    });
    let v = evaluate_entry(&w.proj, &w.profile, &other);
    assert_eq!(v.outcome, Outcome::NotMet);
    let c = v.criterion("1.phase_set").unwrap();
    assert_eq!(c.measured, Quantity::Fraction { num: 1, den: 6 });
    assert!(c.explanation.contains("sit.dormant"), "{}", c.explanation);
    let unknown = evaluate_entry(&w.proj, &w.profile, &entry_for(Release::Foc, "D9"));
    assert_eq!(outcome_of(&unknown, "1.planned"), CriterionOutcome::NotMet);
}

fn runs_exit(w: &mut World) {
    for kind in RegressionKind::ALL {
        let run = w.register_run(kind);
        w.complete(&run);
    }
}

/// MT exit, then SIT exit, then a later MT exit.
fn mt_sit_mt(w: &mut World) {
    for k in ["mt.active", "sit.active", "mt.dormant"] {
        let p = w.p(k);
        w.complete(&p).exit(&p);
    }
}

struct RegressionCase {
    name: &'static str,
    setup: fn(&mut World),
    outcome: Outcome,
    check: (&'static str, CriterionOutcome),
}

const REGRESSION_CASES: &[RegressionCase] = &[
    RegressionCase {
        name: "no runs recorded: not met",
        setup: |_| {},
        outcome: Outcome::NotMet,
        check: ("6.run.combined", CriterionOutcome::NotMet),
    },
    RegressionCase {
        name: "all three runs exit: exit",
        setup: runs_exit,
        outcome: Outcome::Exit,
        check: ("6.run.mt_end", CriterionOutcome::Met),
    },
    RegressionCase {
        name: "the combined run fails: not met",
        setup: |w| {
            runs_exit(w);
            let run = w.run(RegressionKind::Combined);
            w.result(&run, "R1", 2, CaseStatus::Failed);
        },
        outcome: Outcome::NotMet,
        check: ("6.run.combined", CriterionOutcome::NotMet),
    },
    RegressionCase {
        name: "a known defect counts in regression exit (Table 13.1)",
        setup: |w| {
            runs_exit(w);
            let run = w.run(RegressionKind::SitEnd);
            let i = w.raise(2, &[&run]);
            w.set_status(i, IssueStatus::KnownDefect);
        },
        outcome: Outcome::NotMet,
        check: ("6.run.sit_end", CriterionOutcome::NotMet),
    },
    RegressionCase {
        name: "MT exit followed by SIT exit, then a later MT exit: no regression needed",
        setup: mt_sit_mt,
        outcome: Outcome::Exit,
        check: ("6.exception", CriterionOutcome::Met),
    },
    RegressionCase {
        name: "MT then SIT but no later MT exit: the full regression is needed",
        setup: |w| {
            for k in ["mt.active", "sit.active"] {
                let p = w.p(k);
                w.complete(&p).exit(&p);
            }
        },
        outcome: Outcome::NotMet,
        check: ("6.run.mt_end", CriterionOutcome::NotMet),
    },
    RegressionCase {
        name: "SIT exit before any MT exit does not qualify",
        setup: |w| {
            for k in ["sit.active", "mt.active", "mt.dormant"] {
                let p = w.p(k);
                w.complete(&p).exit(&p);
            }
        },
        outcome: Outcome::NotMet,
        check: ("6.run.sit_end", CriterionOutcome::NotMet),
    },
    RegressionCase {
        name: "a major change voids the exception",
        setup: |w| {
            mt_sit_mt(w);
            let entry = w.entry.clone();
            w.apply(Event::ChangeRecorded {
                entry,
                class: ChangeClass::Major,
                description: "new head-end release".into(),
            });
        },
        outcome: Outcome::NotMet,
        check: ("6.run.combined", CriterionOutcome::NotMet),
    },
    RegressionCase {
        name: "a minor change keeps the exception",
        setup: |w| {
            mt_sit_mt(w);
            let entry = w.entry.clone();
            w.apply(Event::ChangeRecorded {
                entry,
                class: ChangeClass::Minor,
                description: "config tweak".into(),
            });
        },
        outcome: Outcome::Exit,
        check: ("6.exception", CriterionOutcome::Met),
    },
];

#[test]
fn regression_table() {
    for case in REGRESSION_CASES {
        let mut w = World::new();
        (case.setup)(&mut w);
        let scope = RegressionScope::Entry(w.entry.clone());
        let v = evaluate_regression(&w.proj, &w.profile, &scope);
        assert_eq!(v.outcome, case.outcome, "{}: {:#?}", case.name, v.criteria);
        assert_eq!(outcome_of(&v, case.check.0), case.check.1, "{}", case.name);
    }
}

#[test]
fn cycle_scope_needs_every_entry_to_qualify() {
    let mut w = World::new();
    let second = entry_for(Release::Ioc, "D2");
    w.apply(Event::DmcRegistered {
        dmc: DmcId::new("D2"),
        components: components("2.0"),
        supersedes: None,
    });
    w.apply(Event::EntryPlanned {
        entry: second.clone(),
    });
    let cycle = CycleId::new("C1");
    w.apply(Event::CycleDeclared {
        cycle: cycle.clone(),
        release: Release::Ioc,
        smso: SmsoId::new("S1"),
        entries: vec![w.entry.clone(), second],
    });
    mt_sit_mt(&mut w);
    let scope = RegressionScope::Cycle(cycle.clone());
    let v = evaluate_regression(&w.proj, &w.profile, &scope);
    assert_eq!(v.outcome, Outcome::NotMet, "{:#?}", v.criteria);
    assert!(
        v.criterion("6.exception")
            .unwrap()
            .explanation
            .contains("D2")
    );
    for kind in RegressionKind::ALL {
        let run = PhaseId::regression(scope.clone(), kind);
        w.apply(Event::PhaseRegistered { phase: run.clone() });
        w.complete(&run);
    }
    let v = evaluate_regression(&w.proj, &w.profile, &scope);
    assert_eq!(v.outcome, Outcome::Exit, "{:#?}", v.criteria);
    let unknown = evaluate_regression(
        &w.proj,
        &w.profile,
        &RegressionScope::Cycle(CycleId::new("nope")),
    );
    assert_eq!(outcome_of(&unknown, "6.scope"), CriterionOutcome::NotMet);
    // A cycle may not mix releases.
    let moc = entry_for(Release::Moc, "D1");
    w.apply(Event::EntryPlanned { entry: moc.clone() });
    let err = w
        .try_apply(Event::CycleDeclared {
            cycle: CycleId::new("C2"),
            release: Release::Ioc,
            smso: SmsoId::new("S1"),
            entries: vec![moc],
        })
        .unwrap_err();
    assert!(
        matches!(err, DomainError::CycleEntryMismatch { .. }),
        "{err}"
    );
}
