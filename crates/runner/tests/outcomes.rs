//! Outcomes under each fault class, on paused tokio time: a passing and a failing device, a
//! silent device (exchange and step timeouts), a link that drops, an unreachable device (health
//! check), an adapter that panics, a lost lease, case and run timeouts, retries, parallelism.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "outcomes/restore.rs"]
mod restore;
mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use meterlab_plugin::pb::SupplyState;
use meterlab_runner::{
    CaseStatus, Leases, RetryPolicy, RunEventKind, RunSettings, Runner, Timeouts,
};
use sha2::{Digest as _, Sha256};
use support::{
    Behaviour, ToyCase, ToyConnector, ToyStep, drain, isolated_plugin, plan, plugin, results,
    target,
};
use tokio::time::Instant;

fn settings() -> RunSettings {
    RunSettings {
        jobs: 4,
        retry: RetryPolicy::default(),
        timeouts: Timeouts {
            run: Duration::from_secs(3600),
            case: Duration::from_secs(300),
            step: Duration::from_secs(60),
            exchange: Duration::from_secs(5),
        },
        lease_ttl: Duration::from_secs(600),
        health_check: false,
        check_only: false,
    }
}

#[tokio::test(start_paused = true)]
async fn a_device_that_answers_right_passes_with_steps_traffic_and_evidence() {
    let connector = Arc::new(ToyConnector::default());
    let mut runner = Runner::new(plugin("fixture-echo"), Arc::clone(&connector), settings());
    let events = runner.subscribe();
    let case = ToyCase::shared(
        "C-1",
        &[
            ToyStep::Firmware("2.0.1"),
            ToyStep::Disable,
            ToyStep::Supply(SupplyState::Disabled),
        ],
    );
    let summary = runner
        .run(plan(vec![(target("m1", 2000), vec![case])]))
        .await;
    let events = drain(events);
    assert_eq!((summary.cases_total, summary.passed), (1, 1));
    assert!(summary.all_passed());

    let seqs: Vec<u64> = events.iter().map(|event| event.seq).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    assert!(matches!(
        events[0].kind,
        RunEventKind::Started { cases_total: 1, .. }
    ));
    assert!(matches!(
        events.last().unwrap().kind,
        RunEventKind::Finished(_)
    ));
    let steps_finished = events
        .iter()
        .filter(|event| matches!(event.kind, RunEventKind::StepFinished { ok: true, .. }))
        .count();
    assert_eq!(steps_finished, 3);

    let results = results(&events);
    assert_eq!(results.len(), 1);
    let result = &results[0];
    assert_eq!(result.status, CaseStatus::Passed);
    assert_eq!((result.attempt, result.max_attempts), (1, 1));
    assert_eq!(result.steps.len(), 3);
    assert!(result.steps.iter().all(|step| step.response.is_some()));
    let sent: Vec<String> = result
        .traffic
        .iter()
        .filter(|record| record.direction == "tx")
        .map(|record| record.data.to_text())
        .collect();
    assert_eq!(
        sent,
        [
            hex::encode("FW?\n"),
            hex::encode("SUPPLY=OFF\n"),
            hex::encode("SUPPLY?\n")
        ]
    );
    let digest: [u8; 32] = Sha256::digest(result.evidence_json.as_bytes()).into();
    assert_eq!(result.evidence_sha256, digest);
    assert!(result.evidence_json.contains("\"case_id\":\"C-1\""));
}

#[tokio::test(start_paused = true)]
async fn every_subscriber_gets_every_event_and_one_that_left_stops_nothing() {
    let connector = Arc::new(ToyConnector::default());
    let mut runner = Runner::new(plugin("fixture-echo"), Arc::clone(&connector), settings());
    let first = runner.subscribe();
    drop(runner.subscribe());
    let last = runner.subscribe();
    let case = ToyCase::shared("C-1", &[ToyStep::Firmware("2.0.1")]);
    let summary = runner
        .run(plan(vec![(target("m1", 2000), vec![case])]))
        .await;
    assert_eq!(summary.passed, 1);
    let (first, last) = (drain(first), drain(last));
    assert!(matches!(
        first.last().unwrap().kind,
        RunEventKind::Finished(_)
    ));
    assert!(
        first
            .iter()
            .any(|event| matches!(&event.kind, RunEventKind::CaseFinished(result) if !result.evidence_json.is_empty()))
    );
    assert_eq!(
        first, last,
        "the last subscriber gets the same events as the first"
    );
}

#[tokio::test(start_paused = true)]
async fn a_wrong_answer_fails_with_the_check_that_did_not_hold() {
    let connector = Arc::new(ToyConnector::default());
    let mut runner = Runner::new(plugin("fixture-echo"), connector, settings());
    let events = runner.subscribe();
    let case = ToyCase::shared("C-FW", &[ToyStep::Firmware("9.9.9"), ToyStep::Disable]);
    let summary = runner
        .run(plan(vec![(target("m1", 2000), vec![case])]))
        .await;
    assert_eq!((summary.failed, summary.blocked), (1, 0));
    let result = &results(&drain(events))[0];
    assert_eq!(result.status, CaseStatus::Failed);
    // The case stops at the failed step.
    assert_eq!(result.steps.len(), 1);
    let (step, check) = result.first_failed_check().expect("a failed check");
    assert_eq!(step.srv, "11.2");
    assert_eq!(
        (check.expected.as_str(), check.actual.as_str()),
        ("9.9.9", "2.0.1")
    );
}

#[tokio::test(start_paused = true)]
async fn a_silent_device_is_blocked_by_the_exchange_timeout_never_failed() {
    let connector = Arc::new(ToyConnector::with("m1", &[Behaviour::Silent]));
    let mut runner = Runner::new(plugin("fixture-echo"), connector, settings());
    let events = runner.subscribe();
    let started = Instant::now();
    let case = ToyCase::shared("C-1", &[ToyStep::Firmware("2.0.1")]);
    let summary = runner
        .run(plan(vec![(target("m1", 2000), vec![case])]))
        .await;
    assert_eq!((summary.blocked, summary.failed), (1, 0));
    let result = &results(&drain(events))[0];
    assert_eq!(result.status, CaseStatus::Blocked);
    assert!(result.detail.contains("Timeout"), "{}", result.detail);
    // The adapter's own 2 s exchange timer ended it, well inside the 60 s step.
    assert_eq!(started.elapsed(), Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn a_step_longer_than_its_timeout_is_blocked_by_the_step_timeout() {
    let connector = Arc::new(ToyConnector::with("m1", &[Behaviour::Silent]));
    let mut runner = Runner::new(plugin("fixture-echo"), Arc::clone(&connector), settings());
    let events = runner.subscribe();
    let cases = vec![
        ToyCase::shared("C-1", &[ToyStep::Firmware("2.0.1")]),
        ToyCase::shared("C-2", &[ToyStep::Firmware("2.0.1")]),
    ];
    // The adapter would wait 10 minutes; the 60 s step timeout comes first.
    let summary = runner.run(plan(vec![(target("m1", 600_000), cases)])).await;
    assert_eq!(summary.blocked, 2);
    let results = results(&drain(events));
    assert!(
        results[0].detail.contains("step timeout"),
        "{}",
        results[0].detail
    );
    // A session whose request timed out is not reused: each case opened its own.
    assert_eq!(connector.total.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_link_blocks_the_case_and_the_next_case_reconnects() {
    let connector = Arc::new(ToyConnector::with(
        "m1",
        &[Behaviour::HangsUp, Behaviour::Answering],
    ));
    let mut runner = Runner::new(plugin("fixture-echo"), Arc::clone(&connector), settings());
    let events = runner.subscribe();
    let cases = vec![
        ToyCase::shared("C-1", &[ToyStep::Firmware("2.0.1")]),
        ToyCase::shared("C-2", &[ToyStep::Firmware("2.0.1")]),
    ];
    let summary = runner.run(plan(vec![(target("m1", 2000), cases)])).await;
    assert_eq!((summary.blocked, summary.passed, summary.failed), (1, 1, 0));
    let results = results(&drain(events));
    assert_eq!(results[0].status, CaseStatus::Blocked);
    assert!(
        results[0].detail.to_lowercase().contains("link"),
        "{}",
        results[0].detail
    );
    assert_eq!(results[1].status, CaseStatus::Passed);
}

#[tokio::test(start_paused = true)]
async fn retries_keep_every_attempt_numbered_and_a_late_pass_is_flaky() {
    let connector = Arc::new(ToyConnector::with(
        "m1",
        &[Behaviour::HangsUp, Behaviour::Silent, Behaviour::Answering],
    ));
    let mut settings = settings();
    settings.retry = RetryPolicy {
        retries: 3,
        delay: Duration::from_secs(1),
    };
    let mut runner = Runner::new(plugin("fixture-echo"), connector, settings);
    let events = runner.subscribe();
    let case = ToyCase::shared("C-1", &[ToyStep::Firmware("2.0.1")]);
    let summary = runner
        .run(plan(vec![(target("m1", 2000), vec![case])]))
        .await;
    assert_eq!(
        (summary.passed, summary.flaky, summary.cases_total),
        (1, 1, 1)
    );
    let results = results(&drain(events));
    let attempts: Vec<(u32, CaseStatus)> = results.iter().map(|r| (r.attempt, r.status)).collect();
    assert_eq!(
        attempts,
        [
            (1, CaseStatus::Blocked),
            (2, CaseStatus::Blocked),
            (3, CaseStatus::Passed)
        ]
    );
    assert!(results.iter().all(|r| r.max_attempts == 4));
}

#[tokio::test(start_paused = true)]
async fn a_failed_case_is_retried_and_stays_failed_when_the_device_keeps_failing() {
    let connector = Arc::new(ToyConnector::default());
    let mut settings = settings();
    settings.retry.retries = 1;
    let mut runner = Runner::new(plugin("fixture-echo"), connector, settings);
    let events = runner.subscribe();
    let case = ToyCase::shared("C-1", &[ToyStep::Firmware("1.0.0")]);
    let summary = runner
        .run(plan(vec![(target("m1", 2000), vec![case])]))
        .await;
    assert_eq!((summary.failed, summary.flaky), (1, 0));
    let attempts: Vec<u32> = results(&drain(events)).iter().map(|r| r.attempt).collect();
    assert_eq!(attempts, [1, 2]);
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_device_fails_its_health_check_and_its_cases_are_not_run() {
    let connector = Arc::new(ToyConnector::with("down", &[Behaviour::Unreachable]));
    let mut settings = settings();
    settings.health_check = true;
    let mut runner = Runner::new(plugin("fixture-echo"), connector, settings);
    let events = runner.subscribe();
    let cases = || {
        vec![
            ToyCase::shared("C-1", &[ToyStep::Firmware("2.0.1")]),
            ToyCase::shared("C-2", &[ToyStep::Disable]),
        ]
    };
    let summary = runner
        .run(plan(vec![
            (target("down", 2000), cases()),
            (target("up", 2000), cases()),
        ]))
        .await;
    assert_eq!((summary.not_run, summary.passed, summary.failed), (2, 2, 0));
    let events = drain(events);
    let health: Vec<_> = events
        .iter()
        .filter_map(|event| match &event.kind {
            RunEventKind::DeviceChecked(health) => Some(health.clone()),
            _ => None,
        })
        .collect();
    let down = health.iter().find(|h| h.device_id == "down").unwrap();
    assert!(!down.healthy);
    assert!(
        down.describe().contains("connection refused"),
        "{}",
        down.describe()
    );
    let up = health.iter().find(|h| h.device_id == "up").unwrap();
    assert!(up.healthy);
    assert_eq!(up.firmware.as_deref(), Some("2.0.1"));
    assert!(
        up.describe()
            .starts_with("device reachable, firmware 2.0.1")
    );
    for result in results(&events).iter().filter(|r| r.device_id == "down") {
        assert_eq!(result.status, CaseStatus::NotRun);
        assert!(
            result.detail.contains("device unhealthy"),
            "{}",
            result.detail
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_health_read_lost_on_the_line_is_retried_before_the_device_is_called_unhealthy() {
    for (retries, healthy) in [(0, false), (1, true)] {
        let connector = Arc::new(ToyConnector::with("m1", &[Behaviour::LosesFirstAnswer]));
        let mut settings = settings();
        settings.health_check = true;
        settings.retry.retries = retries;
        let mut runner = Runner::new(plugin("fixture-echo"), connector, settings);
        let events = runner.subscribe();
        let case = ToyCase::shared("C-1", &[ToyStep::Firmware("2.0.1")]);
        let summary = runner
            .run(plan(vec![(target("m1", 2000), vec![case])]))
            .await;
        let events = drain(events);
        let health = events
            .iter()
            .find_map(|event| match &event.kind {
                RunEventKind::DeviceChecked(health) => Some(health.clone()),
                _ => None,
            })
            .expect("a health event");
        assert_eq!(
            health.healthy,
            healthy,
            "retries {retries}: {}",
            health.describe()
        );
        if healthy {
            assert_eq!(health.firmware.as_deref(), Some("2.0.1"));
            assert_eq!(summary.passed, 1);
        } else {
            assert_eq!(summary.not_run, 1);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn an_adapter_that_panics_blocks_every_case_and_the_run_goes_on() {
    let connector = Arc::new(ToyConnector::default());
    let mut settings = settings();
    settings.health_check = true;
    settings.retry.retries = 1;
    let mut runner = Runner::new(plugin("fixture-panic"), Arc::clone(&connector), settings);
    let events = runner.subscribe();
    let cases = || {
        vec![
            ToyCase::shared("C-1", &[ToyStep::Firmware("2.0.1")]),
            ToyCase::shared("C-2", &[ToyStep::Disable]),
        ]
    };
    let summary = runner
        .run(plan(vec![
            (target("m1", 2000), cases()),
            (target("m2", 2000), cases()),
        ]))
        .await;
    assert_eq!((summary.blocked, summary.cases_total), (4, 4));
    assert_eq!((summary.failed, summary.not_run), (0, 0));
    let results = results(&drain(events));
    // Two attempts of each of four cases, every one blocked by the panic.
    assert_eq!(results.len(), 8);
    for result in &results {
        assert_eq!(result.status, CaseStatus::Blocked);
        assert!(result.detail.contains("panicked"), "{}", result.detail);
    }
}

#[tokio::test(start_paused = true)]
async fn an_isolated_adapter_that_crashes_blocks_its_cases_with_the_signal_and_the_run_goes_on() {
    let connector = Arc::new(ToyConnector::default());
    let mut settings = settings();
    settings.health_check = true;
    settings.retry.retries = 1;
    let plugin = isolated_plugin("fixture-segfault");
    let mut runner = Runner::new(Arc::clone(&plugin), Arc::clone(&connector), settings);
    let events = runner.subscribe();
    let cases = || {
        vec![
            ToyCase::shared("C-1", &[ToyStep::Firmware("2.0.1")]),
            ToyCase::shared("C-2", &[ToyStep::Disable]),
        ]
    };
    let summary = runner
        .run(plan(vec![
            (target("m1", 2000), cases()),
            (target("m2", 2000), cases()),
        ]))
        .await;
    assert_eq!((summary.blocked, summary.cases_total), (4, 4));
    assert_eq!((summary.failed, summary.not_run), (0, 0));
    let results = results(&drain(events));
    assert_eq!(results.len(), 8);
    for result in &results {
        assert_eq!(result.status, CaseStatus::Blocked);
        assert!(
            result.detail.contains("signal 11 (SIGSEGV)"),
            "{}",
            result.detail
        );
    }
    // Every attempt after a crash ran in a fresh worker.
    assert!(plugin.workers_started().unwrap() > 1);
}

#[tokio::test(start_paused = true)]
async fn a_lease_that_expires_during_a_slow_step_blocks_the_case() {
    let connector = Arc::new(ToyConnector::with(
        "m1",
        &[Behaviour::Slow(Duration::from_secs(45))],
    ));
    let mut settings = settings();
    settings.lease_ttl = Duration::from_secs(30);
    let mut runner = Runner::new(plugin("fixture-echo"), connector, settings);
    let events = runner.subscribe();
    let case = ToyCase::shared("C-1", &[ToyStep::Firmware("2.0.1"), ToyStep::Disable]);
    let summary = runner
        .run(plan(vec![(target("m1", 60_000), vec![case])]))
        .await;
    assert_eq!((summary.blocked, summary.failed), (1, 0));
    let result = &results(&drain(events))[0];
    assert!(
        result.detail.contains("lease on device m1 lost"),
        "{}",
        result.detail
    );
    // The first step completed; the lease was found lost before the second.
    assert_eq!(result.steps.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_device_leased_by_someone_else_is_not_run_and_a_revoked_lease_blocks() {
    let leases = Leases::new();
    let _held = leases
        .acquire("m1", "another-run", Duration::from_secs(3600))
        .unwrap();
    let connector = Arc::new(ToyConnector::default());
    let mut runner =
        Runner::new(plugin("fixture-echo"), Arc::clone(&connector), settings()).with_leases(leases);
    let events = runner.subscribe();
    let case = ToyCase::shared("C-1", &[ToyStep::Firmware("2.0.1")]);
    let summary = runner
        .run(plan(vec![(target("m1", 2000), vec![case])]))
        .await;
    assert_eq!(summary.not_run, 1);
    let result = &results(&drain(events))[0];
    assert!(
        result.detail.contains("leased by another-run"),
        "{}",
        result.detail
    );
    assert_eq!(
        connector.total.load(Ordering::SeqCst),
        0,
        "never touched the device"
    );
}

#[tokio::test(start_paused = true)]
async fn the_case_timeout_cuts_the_step_budget_and_the_run_timeout_leaves_cases_not_run() {
    let connector = Arc::new(ToyConnector::with(
        "m1",
        &[Behaviour::Slow(Duration::from_secs(6))],
    ));
    let mut settings = settings();
    settings.timeouts.case = Duration::from_secs(10);
    settings.timeouts.run = Duration::from_secs(25);
    let mut runner = Runner::new(plugin("fixture-echo"), connector, settings);
    let events = runner.subscribe();
    let two_steps = [ToyStep::Firmware("2.0.1"), ToyStep::Disable];
    let cases = vec![
        ToyCase::shared("C-1", &two_steps),
        ToyCase::shared("C-2", &[ToyStep::Firmware("2.0.1")]),
        ToyCase::shared("C-3", &[ToyStep::Firmware("2.0.1")]),
        ToyCase::shared("C-4", &[ToyStep::Firmware("2.0.1")]),
        ToyCase::shared("C-5", &[ToyStep::Firmware("2.0.1")]),
    ];
    let started = Instant::now();
    let summary = runner.run(plan(vec![(target("m1", 60_000), cases)])).await;
    let results = results(&drain(events));
    let statuses: Vec<CaseStatus> = results.iter().map(|r| r.status).collect();
    // C-1: 6 s step, then 4 s left of its 10 s case. C-2 and C-3 pass (12 s); C-4 starts at
    // 22 s with 3 s left of the run; C-5 never starts.
    assert_eq!(
        statuses,
        [
            CaseStatus::Blocked,
            CaseStatus::Passed,
            CaseStatus::Passed,
            CaseStatus::Blocked,
            CaseStatus::NotRun
        ]
    );
    assert!(
        results[0].detail.contains("case timeout"),
        "{}",
        results[0].detail
    );
    assert!(
        results[3].detail.contains("run timeout"),
        "{}",
        results[3].detail
    );
    assert!(
        results[4].detail.contains("run timeout"),
        "{}",
        results[4].detail
    );
    assert_eq!(started.elapsed(), Duration::from_secs(25));
    assert_eq!(summary.not_run, 1);
}

#[tokio::test(start_paused = true)]
async fn devices_run_in_parallel_up_to_jobs_and_attempt_numbers_continue_on_resume() {
    let connector = Arc::new(ToyConnector::default());
    for name in ["m1", "m2", "m3", "m4"] {
        connector.set(name, &[Behaviour::Slow(Duration::from_secs(10))]);
    }
    let mut settings = settings();
    settings.jobs = 2;
    let mut runner = Runner::new(plugin("fixture-echo"), connector, settings);
    let events = runner.subscribe();
    let mut plan = plan(
        ["m1", "m2", "m3", "m4"]
            .into_iter()
            .map(|name| {
                (
                    target(name, 60_000),
                    vec![ToyCase::shared("C-1", &[ToyStep::Firmware("2.0.1")])],
                )
            })
            .collect(),
    );
    plan.units[0].cases[0].attempts_before = 3;
    let started = Instant::now();
    let summary = runner.run(plan).await;
    assert_eq!(summary.passed, 4);
    // Four 10 s devices, two at a time.
    assert_eq!(started.elapsed(), Duration::from_secs(20));
    let results = results(&drain(events));
    let m1 = results.iter().find(|r| r.device_id == "m1").unwrap();
    assert_eq!((m1.attempt, m1.max_attempts), (4, 4));
}

#[tokio::test(start_paused = true)]
async fn cancelling_blocks_the_case_in_flight_and_leaves_the_rest_not_run() {
    let connector = Arc::new(ToyConnector::with(
        "m1",
        &[Behaviour::Slow(Duration::from_secs(10))],
    ));
    let mut runner = Runner::new(plugin("fixture-echo"), connector, settings());
    let events = runner.subscribe();
    let cancel = runner.cancel_handle();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(15)).await;
        cancel.cancel();
    });
    let cases = vec![
        ToyCase::shared("C-1", &[ToyStep::Firmware("2.0.1")]),
        ToyCase::shared("C-2", &[ToyStep::Firmware("2.0.1")]),
        ToyCase::shared("C-3", &[ToyStep::Firmware("2.0.1")]),
    ];
    let summary = runner.run(plan(vec![(target("m1", 60_000), cases)])).await;
    let statuses: Vec<CaseStatus> = results(&drain(events)).iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [CaseStatus::Passed, CaseStatus::Blocked, CaseStatus::NotRun]
    );
    assert_eq!(summary.error.as_deref(), Some("the run was cancelled"));
}

#[tokio::test(start_paused = true)]
async fn catalogue_cases_run_through_the_runner_and_are_judged_by_their_expectations() {
    let text = r#"
format = 1

[[case]]
id = "SIT-T-001"
title = "Supply is enabled"
phase = "SIT"
modes = ["active"]
devices = ["esme"]
dnb = "T-1"
severity = 3

[[case.step]]
srv = "7.4"
[case.step.expect]
check = [{ field = "state", op = "==", value = "enabled" }]

[[case]]
id = "SIT-T-002"
title = "Disable then read: the supply is still enabled (wrong on purpose)"
phase = "SIT"
modes = ["active"]
devices = ["esme"]
dnb = "T-2"
severity = 3

[[case.step]]
srv = "7.2"

[[case.step]]
srv = "7.4"
[case.step.expect]
check = [{ field = "state", op = "==", value = "enabled" }]
"#;
    let catalog = meterlab_catalog::Catalog::parse_str("inline.toml", text).expect("cases load");
    let cases: Vec<Arc<dyn meterlab_runner::TestCase>> = catalog
        .cases()
        .iter()
        .map(|case| Arc::new(case.clone()) as Arc<dyn meterlab_runner::TestCase>)
        .collect();
    let mut runner = Runner::new(
        plugin("fixture-echo"),
        Arc::new(ToyConnector::default()),
        settings(),
    );
    let events = runner.subscribe();
    let summary = runner.run(plan(vec![(target("m1", 2000), cases)])).await;
    assert_eq!((summary.passed, summary.failed), (1, 1));
    let results = results(&drain(events));
    let passed = results.iter().find(|r| r.case_id == "SIT-T-001").unwrap();
    assert_eq!(passed.status, CaseStatus::Passed);
    assert_eq!(passed.srv, "7.4");
    assert_eq!(
        passed.case_sha256,
        catalog.get("SIT-T-001").unwrap().content_hash.0
    );
    let failed = results.iter().find(|r| r.case_id == "SIT-T-002").unwrap();
    assert_eq!(failed.status, CaseStatus::Failed);
    assert_eq!(failed.steps.len(), 2);
    let (step, check) = failed.first_failed_check().unwrap();
    assert_eq!(step.srv, "7.4");
    assert!(check.actual.contains("disabled"), "{check:?}");
}

/// A step `via = "optical"` runs in a second session on the device's optical route, through the
/// runner's optical adapter, and captures cross between the two sessions; on a device without a
/// usable optical route the case is `not_run` with the reason, never failed.
#[tokio::test(start_paused = true)]
async fn an_optical_step_runs_in_a_second_session_and_without_a_route_the_case_is_skipped() {
    let text = r#"
format = 1

[[case]]
id = "SIT-T-OPT"
title = "The firmware reads alike over both ports"
phase = "SIT"
modes = ["active"]
devices = ["esme"]
dnb = "T-3"
severity = 3

[[case.step]]
srv = "11.2"
capture = { run_port = "version" }

[[case.step]]
srv = "11.2"
via = "optical"
[case.step.expect]
check = [{ field = "version", op = "==", value = { capture = "run_port" } }]
"#;
    let catalog = meterlab_catalog::Catalog::parse_str("inline.toml", text).expect("case loads");
    let case: Arc<dyn meterlab_runner::TestCase> =
        Arc::new(catalog.get("SIT-T-OPT").expect("the case").clone());
    let connector = Arc::new(ToyConnector::default());
    let mut with_port = target("m1", 2000);
    let mut optical = target("m1", 2000);
    optical.transport = meterlab_runner::Transport::Optical;
    with_port.optical = meterlab_runner::OpticalRoute::Ready(Box::new(optical));
    let mut runner = Runner::new(plugin("fixture-echo"), Arc::clone(&connector), settings())
        .with_optical_plugin(plugin("fixture-echo"));
    let events = runner.subscribe();
    let summary = runner
        .run(plan(vec![
            (with_port, vec![Arc::clone(&case)]),
            (target("m2", 2000), vec![case]),
        ]))
        .await;
    assert_eq!((summary.passed, summary.not_run), (1, 1), "{summary:?}");
    let results = results(&drain(events));
    let passed = results.iter().find(|r| r.device_id == "m1").unwrap();
    assert_eq!(passed.status, CaseStatus::Passed, "{}", passed.detail);
    assert_eq!(passed.steps.len(), 2);
    assert!(passed.steps[1].checks.iter().all(|check| check.ok));
    // Two links to m1: the run port's and the optical port's.
    assert_eq!(connector.connections.lock().unwrap().get("m1"), Some(&2));
    assert!(
        passed
            .traffic
            .iter()
            .any(|record| record.data.to_text().contains("optical port of m1")),
        "the optical session's traffic is in the evidence"
    );
    let skipped = results.iter().find(|r| r.device_id == "m2").unwrap();
    assert_eq!(skipped.status, CaseStatus::NotRun);
    assert!(
        skipped.detail.contains(
            "skipped: the case reads the optical port, but the toy device has no optical port"
        ),
        "{}",
        skipped.detail
    );
    assert!(skipped.steps.is_empty());
}

/// What each device heard after its last case (the lines after its last `FW?`).
fn heard_after_cases(connector: &ToyConnector, device: &str) -> Vec<String> {
    let heard: Vec<String> = connector
        .heard
        .lock()
        .unwrap()
        .iter()
        .filter(|(from, _)| from == device)
        .map(|(_, line)| line.clone())
        .collect();
    let last_case_line = heard.iter().rposition(|line| line == "FW?").unwrap();
    heard[last_case_line + 1..].to_vec()
}

async fn sessions_are_closed_gracefully_after_the_last_case(
    plugin: Arc<meterlab_plugin_host::Plugin>,
) {
    let connector = Arc::new(ToyConnector::default());
    let runner = Runner::new(plugin, Arc::clone(&connector), settings());
    let case = |id: &str| ToyCase::shared(id, &[ToyStep::Firmware("2.0.1")]);
    let started = Instant::now();
    let summary = runner
        .run(plan(vec![
            (target("m1", 2000), vec![case("C-1"), case("C-2")]),
            (target("m2", 2000), vec![case("C-1")]),
        ]))
        .await;
    assert_eq!(summary.passed, 3);
    // The adapter's close went over each device's link once, after its cases, and the device's
    // answer ended it (no waiting for the budget).
    assert_eq!(heard_after_cases(&connector, "m1"), ["BYE"]);
    assert_eq!(heard_after_cases(&connector, "m2"), ["BYE"]);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn each_devices_session_is_closed_gracefully_after_its_last_case() {
    sessions_are_closed_gracefully_after_the_last_case(plugin("fixture-echo")).await;
}

#[tokio::test(start_paused = true)]
async fn an_isolated_adapters_session_is_closed_gracefully_too() {
    sessions_are_closed_gracefully_after_the_last_case(isolated_plugin("fixture-echo")).await;
}

#[tokio::test(start_paused = true)]
async fn a_device_that_never_answers_the_close_holds_its_worker_two_exchanges_at_most() {
    let connector = Arc::new(ToyConnector::with("m1", &[Behaviour::IgnoresClose]));
    // The echo adapter would wait a minute for the answer to its BYE.
    let runner = Runner::new(plugin("fixture-echo"), Arc::clone(&connector), settings());
    let started = Instant::now();
    let summary = runner
        .run(plan(vec![(
            target("m1", 60_000),
            vec![ToyCase::shared("C-1", &[ToyStep::Firmware("2.0.1")])],
        )]))
        .await;
    assert_eq!(summary.passed, 1);
    assert_eq!(heard_after_cases(&connector, "m1"), ["BYE"]);
    // Two exchange time-outs (settings: 5 s each).
    assert_eq!(started.elapsed(), Duration::from_secs(10));
}
