//! Property tests over random event histories.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use meterlab_governance::event::{CaseResult, IssueLink};
use meterlab_governance::model::*;
use meterlab_governance::*;
use proptest::prelude::*;

const CASES: [&str; 6] = ["M1", "M2", "M3", "T1", "T2", "X9"];

#[derive(Debug, Clone)]
enum Op {
    Start(usize),
    Result {
        phase: usize,
        case: usize,
        attempt: u32,
        status: usize,
    },
    Raise {
        severity: u8,
        phases: u8,
    },
    Status {
        issue: u64,
        status: usize,
    },
    Severity {
        issue: u64,
        severity: u8,
    },
    Link {
        issue: u64,
        phase: usize,
    },
    Descope {
        phase: usize,
        cited_phase: usize,
        pair: usize,
    },
    Redraft {
        doc: usize,
        drop_last: bool,
    },
    Dnb {
        doc: usize,
        status: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (0..9usize).prop_map(Op::Start),
        6 => (0..9usize, 0..6usize, 1..4u32, 0..5usize)
            .prop_map(|(phase, case, attempt, status)| Op::Result { phase, case, attempt, status }),
        2 => (1..=5u8, 1..64u8).prop_map(|(severity, phases)| Op::Raise { severity, phases }),
        2 => (1..12u64, 0..4usize).prop_map(|(issue, status)| Op::Status { issue, status }),
        1 => (1..12u64, 1..=5u8).prop_map(|(issue, severity)| Op::Severity { issue, severity }),
        1 => (1..12u64, 0..9usize).prop_map(|(issue, phase)| Op::Link { issue, phase }),
        3 => (0..6usize, 0..6usize, 0..DESCOPE_PAIRS.len())
            .prop_map(|(phase, cited_phase, pair)| Op::Descope { phase, cited_phase, pair }),
        1 => (0..3usize, any::<bool>()).prop_map(|(doc, drop_last)| Op::Redraft { doc, drop_last }),
        1 => (0..3usize, 0..5usize).prop_map(|(doc, status)| Op::Dnb { doc, status }),
    ]
}

/// (case, cited case): mostly the same SRV (M1 and T1 are both 4.1.1), some not.
const DESCOPE_PAIRS: [(&str, &str); 8] = [
    ("M1", "M1"),
    ("M1", "T1"),
    ("T1", "M1"),
    ("T1", "T1"),
    ("M2", "M2"),
    ("T2", "T2"),
    ("M3", "M3"),
    ("M2", "T2"),
];

const STATUSES: [CaseStatus; 5] = [
    CaseStatus::Passed,
    CaseStatus::Failed,
    CaseStatus::Blocked,
    CaseStatus::NotRun,
    CaseStatus::Descoped,
];
const ISSUE_STATUSES: [IssueStatus; 4] = [
    IssueStatus::Open,
    IssueStatus::Fixed,
    IssueStatus::Closed,
    IssueStatus::KnownDefect,
];
const DOCS: [DocType; 3] = [DocType::Mt, DocType::Sit, DocType::Regression];
const DNB: [DnbStatus; 5] = [
    DnbStatus::Draft,
    DnbStatus::Agreed,
    DnbStatus::Disputed,
    DnbStatus::Referred,
    DnbStatus::Determined,
];

/// The six test phases then the three regression runs of the fixture entry.
fn phases(w: &World) -> Vec<PhaseId> {
    let mut v: Vec<PhaseId> = PhaseKind::all().map(|k| w.phase(k)).collect();
    v.extend(RegressionKind::ALL.map(|k| w.run(k)));
    v
}

fn to_event(w: &World, all: &[PhaseId], op: &Op, revision: &mut [u32; 3]) -> Event {
    match op {
        Op::Start(p) => Event::PhaseStarted {
            phase: all[*p].clone(),
            at: None,
        },
        Op::Result {
            phase,
            case,
            attempt,
            status,
        } => Event::ResultRecorded(CaseResult {
            phase: all[*phase].clone(),
            case: CaseId::new(CASES[*case]),
            case_hash: "h".into(),
            device: "d".into(),
            attempt: *attempt,
            status: STATUSES[*status],
        }),
        Op::Raise { severity, phases } => Event::IssueRaised {
            issue: w.proj.issues().count() as u64 + 1,
            severity: Severity::new(*severity).unwrap(),
            title: "t".into(),
            description: String::new(),
            links: (0..6)
                .filter(|i| phases & (1 << i) != 0)
                .map(|i| IssueLink {
                    phase: all[i].clone(),
                    case: None,
                })
                .collect(),
        },
        Op::Status { issue, status } => Event::IssueStatusChanged {
            issue: *issue,
            status: ISSUE_STATUSES[*status],
            note: "workaround".into(),
        },
        Op::Severity { issue, severity } => {
            Event::change_severity(*issue, Severity::new(*severity).unwrap())
        }
        Op::Link { issue, phase } => Event::IssueLinked {
            issue: *issue,
            link: IssueLink {
                phase: all[*phase].clone(),
                case: None,
            },
        },
        Op::Descope {
            phase,
            cited_phase,
            pair,
        } => Event::descope(
            all[*phase].clone(),
            CaseId::new(DESCOPE_PAIRS[*pair].0),
            w.case_ref(&all[*cited_phase], DESCOPE_PAIRS[*pair].1),
            "equivalent",
        ),
        Op::Redraft { doc: d, drop_last } => {
            revision[*d] += 1;
            let mut list = cases(DOCS[*d]);
            if *drop_last {
                list.pop();
            }
            Event::DnbDrafted {
                doc: doc(Release::Ioc, DOCS[*d]),
                revision: revision[*d],
                cases: list,
            }
        }
        Op::Dnb { doc: d, status } => Event::DnbStatusChanged {
            doc: doc(Release::Ioc, DOCS[*d]),
            status: DNB[*status],
            note: String::new(),
        },
    }
}

/// Runs the ops against a fresh fixture world, returning it and the accepted events in order.
/// With `complete_first` every phase starts with all its cases passed, so exits are common.
fn build(ops: &[Op], complete_first: bool) -> (World, Vec<Event>) {
    let mut w = World::new();
    for kind in RegressionKind::ALL {
        w.register_run(kind);
    }
    let all = phases(&w);
    if complete_first {
        for p in &all {
            w.complete(p);
        }
    }
    let mut revision = [1u32; 3];
    let mut accepted = Vec::new();
    for op in ops {
        let event = to_event(&w, &all, op, &mut revision);
        if w.try_apply(event.clone()).is_ok() {
            accepted.push(event);
        }
    }
    (w, accepted)
}

fn verdicts(w: &World, proj: &Projection) -> Vec<Verdict> {
    let mut out: Vec<Verdict> = phases(w)
        .iter()
        .map(|p| evaluate_phase_exit(proj, &w.profile, p))
        .collect();
    out.push(evaluate_entry(proj, &w.profile, &w.entry));
    out.push(evaluate_regression(
        proj,
        &w.profile,
        &RegressionScope::Entry(w.entry.clone()),
    ));
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn incremental_counters_equal_a_recount(ops in prop::collection::vec(op(), 0..150), complete_first in any::<bool>()) {
        let (w, _) = build(&ops, complete_first);
        let mismatches = w.proj.counter_mismatches();
        prop_assert!(mismatches.is_empty(), "{:?}", mismatches);
    }

    #[test]
    fn replaying_the_stored_order_is_deterministic(ops in prop::collection::vec(op(), 0..150), complete_first in any::<bool>()) {
        let (w, accepted) = build(&ops, complete_first);
        // Replay the whole history (fixture included) from its JSON form.
        let (w2, accepted2) = build(&ops, complete_first);
        prop_assert_eq!(&accepted, &accepted2);
        let json: Vec<String> = accepted
            .iter()
            .map(|e| serde_json::to_string(&VersionedEvent::from(e.clone())).unwrap())
            .collect();
        let mut replay = World::new();
        for kind in RegressionKind::ALL {
            replay.register_run(kind);
        }
        if complete_first {
            for p in phases(&replay) {
                replay.complete(&p);
            }
        }
        for j in &json {
            let e = serde_json::from_str::<VersionedEvent>(j).unwrap().into_event();
            prop_assert!(replay.try_apply(e).is_ok());
        }
        prop_assert_eq!(verdicts(&w, &w.proj), verdicts(&w2, &w2.proj));
        prop_assert_eq!(verdicts(&w, &w.proj), verdicts(&replay, &replay.proj));
    }

    #[test]
    fn closing_an_issue_never_turns_exit_into_not_met(
        ops in prop::collection::vec(op(), 0..150), complete_first in any::<bool>(),
        strict_profile in any::<bool>(),
    ) {
        let (mut w, _) = build(&ops, complete_first);
        if strict_profile {
            w.profile = strict();
        }
        let before = verdicts(&w, &w.proj);
        let open: Vec<u64> = w.proj.issues().filter(|i| i.status != IssueStatus::Closed).map(|i| i.id).collect();
        for id in open {
            let s = Scenario::new(&w.proj, &[Event::close_issue(id)]).unwrap();
            let after = verdicts(&w, s.projection());
            for (b, a) in before.iter().zip(&after) {
                if b.outcome == Outcome::Exit {
                    prop_assert_eq!(a.outcome, Outcome::Exit, "closing {} changed {}", id, b.subject);
                }
                // No criterion gets worse either.
                for (cb, ca) in b.criteria.iter().zip(&a.criteria) {
                    if cb.outcome == CriterionOutcome::Met {
                        prop_assert_eq!(ca.outcome, CriterionOutcome::Met, "{}", cb.id);
                    }
                }
            }
        }
    }

    #[test]
    fn a_descope_never_lowers_coverage_below_the_passed_set(
        ops in prop::collection::vec(op(), 0..150), complete_first in any::<bool>(),
        phase in 0..6usize, cited_phase in 0..6usize, pair in 0..DESCOPE_PAIRS.len(),
    ) {
        let (w, _) = build(&ops, complete_first);
        for p in phases(&w) {
            let c = w.proj.phase(&p).unwrap().coverage();
            prop_assert!(c.satisfied() >= c.passed);
            prop_assert!(c.satisfied() <= c.required);
        }
        let all = phases(&w);
        let op = Op::Descope { phase, cited_phase, pair };
        let event = to_event(&w, &all, &op, &mut [1; 3]);
        if let Ok(s) = Scenario::new(&w.proj, &[event]) {
            for p in &all {
                let before = w.proj.phase(p).unwrap().coverage();
                let after = s.projection().phase(p).unwrap().coverage();
                prop_assert_eq!(after.passed, before.passed);
                prop_assert!(after.satisfied() >= before.satisfied());
                prop_assert!(after.satisfied() >= after.passed);
            }
        }
    }
}

/// Guards the properties against going vacuous: the generator must reach exits, valid and
/// invalidated de-scopes, and known defects.
#[test]
fn generator_reaches_interesting_states() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut exits, mut descopes, mut invalid, mut kd, mut n) = (0, 0, 0, 0, 0);
    for _ in 0..200 {
        let ops = prop::collection::vec(op(), 0..150)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        let (w, _) = build(&ops, n % 2 == 0);
        n += 1;
        exits += verdicts(&w, &w.proj)
            .iter()
            .filter(|v| v.outcome == Outcome::Exit)
            .count();
        for p in phases(&w) {
            for d in w.proj.phase(&p).unwrap().descopes() {
                descopes += 1;
                if !d.valid {
                    invalid += 1;
                }
            }
        }
        kd += w
            .proj
            .issues()
            .filter(|i| i.status == IssueStatus::KnownDefect)
            .count();
    }
    assert!(
        n == 200 && exits > 50 && descopes > 20 && invalid > 0 && kd > 20,
        "{exits} {descopes} {invalid} {kd}"
    );
}
