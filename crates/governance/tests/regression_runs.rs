//! Regression runs keep when they started and finished, what they recorded and whether they
//! exited; the completion report lists them in its model, its Markdown and its HTML. Events
//! written before start and finish times were recorded still read and replay.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use meterlab_governance::date::Timestamp;
use meterlab_governance::event::CaseResult;
use meterlab_governance::model::*;
use meterlab_governance::report::StatusCounts;
use meterlab_governance::*;

fn at(seconds: i64) -> Option<Timestamp> {
    Some(Timestamp::new(seconds, 0).unwrap())
}

fn on(run: &PhaseId, device: &str, attempt: u32, status: CaseStatus) -> Event {
    Event::ResultRecorded(CaseResult {
        phase: run.clone(),
        case: CaseId::new("R1"),
        case_hash: "h1".into(),
        device: device.into(),
        attempt,
        status,
    })
}

#[test]
fn old_start_and_exit_events_without_times_still_read_and_new_ones_round_trip() {
    let mut w = World::new();
    let run = w.register_run(RegressionKind::MtEnd);
    let old_start = r#"{"schema":"meterlab.governance/1","type":"phase_started","phase":{"regression":{"scope":{"entry":{"release":"IOC","smso":"S1","dmc":"D1"}},"kind":"mt_end"}}}"#;
    let event = serde_json::from_str::<VersionedEvent>(old_start)
        .unwrap()
        .into_event();
    assert_eq!(
        event,
        Event::PhaseStarted {
            phase: run.clone(),
            at: None
        }
    );
    w.apply(event);
    let state = w.proj.phase(&run).unwrap();
    assert!(state.started().is_some());
    assert_eq!(state.started_at(), None);

    let exit = Event::PhaseExited {
        phase: run.clone(),
        profile: w.profile.reference(),
        at: at(1_764_403_600),
    };
    let json = serde_json::to_string(&VersionedEvent::from(exit.clone())).unwrap();
    assert!(json.contains(r#""at":"2025-11-29T08:06:40Z""#), "{json}");
    let back = serde_json::from_str::<VersionedEvent>(&json)
        .unwrap()
        .into_event();
    assert_eq!(back, exit);
    let without_at = serde_json::to_string(&VersionedEvent::from(Event::PhaseStarted {
        phase: run,
        at: None,
    }))
    .unwrap();
    assert!(!without_at.contains("\"at\""), "{without_at}");

    let bad = r#"{"schema":"meterlab.governance/1","type":"phase_started","phase":{"regression":{"scope":{"cycle":"C"},"kind":"combined"}},"at":"2025-11-31T00:00:00Z"}"#;
    let err = serde_json::from_str::<VersionedEvent>(bad)
        .unwrap_err()
        .to_string();
    assert!(err.contains("2025-11-31T00:00:00Z"), "{err}");
}

#[test]
fn a_regression_run_keeps_its_times_result_counts_and_exit() {
    let mut w = World::new();
    let run = w.register_run(RegressionKind::MtEnd);
    w.apply(Event::PhaseStarted {
        phase: run.clone(),
        at: at(1_764_400_000),
    });
    w.apply(on(&run, "esme-1", 1, CaseStatus::Failed));
    w.apply(on(&run, "esme-1", 2, CaseStatus::Passed));
    w.apply(on(&run, "esme-2", 1, CaseStatus::Blocked));
    w.apply(on(&run, "esme-2", 2, CaseStatus::Passed));
    // A duplicate attempt is refused and not counted.
    assert!(
        w.try_apply(on(&run, "esme-2", 2, CaseStatus::Passed))
            .is_err()
    );

    let state = w.proj.phase(&run).unwrap();
    assert_eq!(state.started_at(), at(1_764_400_000));
    assert_eq!(state.exited_at(), None);
    let tally = state.result_tally();
    assert_eq!(
        (
            tally.get(CaseStatus::Passed),
            tally.get(CaseStatus::Failed),
            tally.get(CaseStatus::Blocked),
            tally.total()
        ),
        (2, 1, 1, 4)
    );

    let before = completion_report(&w.proj, &w.profile, "r", std::slice::from_ref(&run));
    assert_eq!(before.regressions.len(), 1);
    assert!(!before.regressions[0].exited);
    assert_eq!(before.regressions[0].finished_at, None);
    assert_eq!(before.regressions[0].outcome, Outcome::Exit);

    w.apply(Event::PhaseExited {
        phase: run.clone(),
        profile: w.profile.reference(),
        at: at(1_764_403_600),
    });
    let report = completion_report(&w.proj, &w.profile, "r", std::slice::from_ref(&run));
    let [summary] = report.regressions.as_slice() else {
        panic!("{:?}", report.regressions);
    };
    let PhaseId::Regression(expected) = &run else {
        unreachable!()
    };
    assert_eq!(&summary.run, expected);
    assert!(summary.exited);
    assert_eq!(summary.started_at, at(1_764_400_000));
    assert_eq!(summary.finished_at, at(1_764_403_600));
    assert_eq!(
        summary.results,
        StatusCounts {
            passed: 2,
            failed: 1,
            blocked: 1,
            not_run: 0,
            descoped: 0
        }
    );
    assert_eq!(summary.cases.required, 1);
    assert_eq!(summary.cases.cases.passed, 1);
    assert_eq!(summary.cases.missing, 0);
}

#[test]
fn a_report_on_an_entry_lists_its_cycle_runs_and_none_without_runs() {
    let mut w = World::new();
    let mt = w.p("mt.active");
    let empty = completion_report(&w.proj, &w.profile, "r", std::slice::from_ref(&mt));
    assert!(empty.regressions.is_empty());

    w.apply(Event::CycleDeclared {
        cycle: CycleId::new("C1"),
        release: w.entry.release,
        smso: SmsoId::new("S1"),
        entries: vec![w.entry.clone()],
    });
    let combined = PhaseId::regression(
        RegressionScope::Cycle(CycleId::new("C1")),
        RegressionKind::Combined,
    );
    w.apply(Event::PhaseRegistered {
        phase: combined.clone(),
    });
    let report = completion_report(&w.proj, &w.profile, "r", std::slice::from_ref(&mt));
    let runs: Vec<&RegressionRun> = report.regressions.iter().map(|r| &r.run).collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].kind, RegressionKind::Combined);
    assert!(!report.regressions[0].exited);
    assert_eq!(report.regressions[0].started_at, None);
    assert_eq!(report.regressions[0].cases.missing, 1);
}
