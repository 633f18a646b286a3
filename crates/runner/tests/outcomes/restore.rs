//! Restore steps (`[[case.restore]]`): a case that changes device state puts it back whatever
//! its outcome, and a device whose state could not be put back runs no more cases.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use meterlab_plugin::pb::SupplyState;
use meterlab_runner::{CaseStatus, RunEventKind, Runner};

use super::settings;
use crate::support::{
    Behaviour, ToyCase, ToyConnector, ToyStep, drain, plan, plugin, results, target,
};

/// Disables the supply, then loses the link before its second step; restores the supply.
fn switching_case() -> Arc<dyn meterlab_runner::TestCase> {
    ToyCase::restoring(
        "C-SWITCH",
        &[ToyStep::Disable, ToyStep::Supply(SupplyState::Disabled)],
        &[ToyStep::Enable, ToyStep::Supply(SupplyState::Enabled)],
    )
}

fn reading_case(id: &str) -> Arc<dyn meterlab_runner::TestCase> {
    ToyCase::shared(id, &[ToyStep::Supply(SupplyState::Enabled)])
}

#[tokio::test(start_paused = true)]
async fn a_case_blocked_half_way_is_restored_so_the_next_case_starts_from_a_known_state() {
    // Without restore steps the blocked case leaves the supply off and the next case fails:
    // the failure the lossy SIT run showed (SIT-SUP-001).
    let unrestored = ToyCase::shared(
        "C-SWITCH",
        &[ToyStep::Disable, ToyStep::Supply(SupplyState::Disabled)],
    );
    let connector = Arc::new(ToyConnector::with(
        "m1",
        &[Behaviour::HangsUpAfter(1), Behaviour::Answering],
    ));
    let runner = Runner::new(plugin("fixture-echo"), connector, settings());
    let summary = runner
        .run(plan(vec![(
            target("m1", 2000),
            vec![unrestored, reading_case("C-READ")],
        )]))
        .await;
    assert_eq!((summary.blocked, summary.failed), (1, 1), "control run");

    let connector = Arc::new(ToyConnector::with(
        "m1",
        &[Behaviour::HangsUpAfter(1), Behaviour::Answering],
    ));
    let mut runner = Runner::new(plugin("fixture-echo"), connector, settings());
    let events = runner.subscribe();
    let summary = runner
        .run(plan(vec![(
            target("m1", 2000),
            vec![switching_case(), reading_case("C-READ")],
        )]))
        .await;
    assert_eq!((summary.passed, summary.failed, summary.blocked), (1, 0, 1));
    let results = results(&drain(events));
    let switched = results.iter().find(|r| r.case_id == "C-SWITCH").unwrap();
    assert_eq!(switched.status, CaseStatus::Blocked);
    let statuses: Vec<(String, CaseStatus)> = switched
        .steps
        .iter()
        .map(|step| (step.srv.clone(), step.status))
        .collect();
    assert_eq!(
        statuses,
        [
            ("7.2".to_owned(), CaseStatus::Passed),
            ("7.4".to_owned(), CaseStatus::Blocked),
            ("7.1".to_owned(), CaseStatus::Passed),
            ("7.4".to_owned(), CaseStatus::Passed),
        ]
    );
    let restore_request = switched.steps[2].request.as_ref().unwrap();
    assert_eq!(restore_request.request_id, "C-SWITCH/restore-1");
    let read = results.iter().find(|r| r.case_id == "C-READ").unwrap();
    assert_eq!(read.status, CaseStatus::Passed);
}

#[tokio::test(start_paused = true)]
async fn restore_steps_run_after_a_passing_case_too() {
    let connector = Arc::new(ToyConnector::default());
    let mut runner = Runner::new(plugin("fixture-echo"), Arc::clone(&connector), settings());
    let events = runner.subscribe();
    let summary = runner
        .run(plan(vec![(
            target("m1", 2000),
            vec![switching_case(), reading_case("C-READ")],
        )]))
        .await;
    assert_eq!((summary.passed, summary.failed), (2, 0));
    let results = results(&drain(events));
    assert_eq!(results[0].steps.len(), 4, "two steps and two restore steps");
    assert_eq!(connector.total.load(Ordering::SeqCst), 1, "one session");
}

#[tokio::test(start_paused = true)]
async fn a_restore_that_does_not_pass_blocks_the_remaining_cases_with_the_reason() {
    // The link goes silent after the first request: the case is blocked, its restore step is
    // tried twice (at least two tries even without --retries) and times out both times.
    let connector = Arc::new(ToyConnector::with(
        "m1",
        &[Behaviour::HangsUpAfter(1), Behaviour::Silent],
    ));
    let mut runner = Runner::new(plugin("fixture-echo"), Arc::clone(&connector), settings());
    let events = runner.subscribe();
    let summary = runner
        .run(plan(vec![(
            target("m1", 2000),
            vec![
                switching_case(),
                reading_case("C-READ-1"),
                reading_case("C-READ-2"),
            ],
        )]))
        .await;
    let events = drain(events);
    assert_eq!(
        (summary.passed, summary.failed, summary.blocked),
        (0, 0, 3),
        "never failed: the device's state is unknown, not wrong"
    );
    let results = results(&events);
    let switched = results.iter().find(|r| r.case_id == "C-SWITCH").unwrap();
    assert!(
        switched.detail.contains("device state not restored")
            && switched
                .detail
                .contains("restore step 1 did not pass in 2 tries"),
        "{}",
        switched.detail
    );
    let restore_tries = switched
        .steps
        .iter()
        .filter(|step| step.detail.starts_with("restore step 1 (7.1"))
        .count();
    assert_eq!(restore_tries, 2);
    for id in ["C-READ-1", "C-READ-2"] {
        let read = results.iter().find(|r| r.case_id == id).unwrap();
        assert_eq!(read.status, CaseStatus::Blocked);
        assert!(
            read.detail.contains("state was not restored")
                && read.detail.contains("case C-SWITCH (attempt 1)"),
            "{}",
            read.detail
        );
        assert!(read.steps.is_empty(), "not run against the device");
    }
    assert_eq!(
        connector.total.load(Ordering::SeqCst),
        3,
        "the case's session and one per restore try; none for the blocked cases"
    );
    assert!(events.iter().any(|event| matches!(
        &event.kind,
        RunEventKind::Log { message, .. } if message.contains("did not restore the device")
    )));
}

#[tokio::test(start_paused = true)]
async fn a_restore_the_device_answers_wrongly_fails_a_passed_case() {
    // The restore step expects the supply off, the toy device keeps it on: judged, not lost.
    let case = ToyCase::restoring(
        "C-WRONG",
        &[ToyStep::Firmware("2.0.1")],
        &[ToyStep::Supply(SupplyState::Disabled)],
    );
    let mut runner = Runner::new(
        plugin("fixture-echo"),
        Arc::new(ToyConnector::default()),
        settings(),
    );
    let events = runner.subscribe();
    let summary = runner
        .run(plan(vec![(
            target("m1", 2000),
            vec![case, reading_case("C-READ")],
        )]))
        .await;
    assert_eq!((summary.passed, summary.failed, summary.blocked), (0, 1, 1));
    let results = results(&drain(events));
    assert_eq!(results[0].status, CaseStatus::Failed);
    assert!(
        results[0].detail.contains("device state not restored"),
        "{}",
        results[0].detail
    );
    assert_eq!(results[1].status, CaseStatus::Blocked);
}
