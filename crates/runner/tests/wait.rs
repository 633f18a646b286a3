//! Wait steps of catalogue cases (`[[case.step]] wait_ms`), on paused tokio time: the runner
//! waits on its own clock between requests, and a wait the case timeout cannot hold ends the
//! attempt `blocked` at once, never hanging.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use meterlab_catalog::Catalog;
use meterlab_runner::{CaseStatus, RetryPolicy, RunSettings, Runner, TestCase, Timeouts};
use support::{ToyConnector, drain, plan, plugin, results, target};
use tokio::time::Instant;

fn settings(case_timeout: Duration) -> RunSettings {
    RunSettings {
        jobs: 1,
        retry: RetryPolicy::default(),
        timeouts: Timeouts {
            run: Duration::from_secs(3600),
            case: case_timeout,
            step: Duration::from_secs(60),
            exchange: Duration::from_secs(5),
        },
        lease_ttl: Duration::from_secs(600),
        health_check: false,
        check_only: false,
    }
}

/// A catalogue case: read the firmware, wait `wait_ms`, read it again.
fn waiting_case(wait_ms: u64) -> Arc<dyn TestCase> {
    let text = format!(
        "format = 1\n\n[[case]]\nid = \"W-1\"\ntitle = \"read, wait, read\"\nphase = \"SIT\"\nmodes = [\"active\"]\ndevices = [\"esme\"]\ndnb = \"D-1\"\nseverity = 3\n\n[[case.step]]\nsrv = \"11.2\"\n\n[[case.step]]\nwait_ms = {wait_ms}\n\n[[case.step]]\nsrv = \"11.2\"\n"
    );
    let catalog = Catalog::parse_str("wait.toml", &text).unwrap_or_else(|e| panic!("{e}"));
    Arc::new(catalog.cases()[0].clone())
}

#[tokio::test(start_paused = true)]
async fn a_wait_within_the_case_timeout_passes_after_that_long_on_the_runners_clock() {
    let connector = Arc::new(ToyConnector::default());
    let mut runner = Runner::new(
        plugin("fixture-echo"),
        connector,
        settings(Duration::from_secs(300)),
    );
    let events = runner.subscribe();
    let started = Instant::now();
    let summary = runner
        .run(plan(vec![(target("m1", 2000), vec![waiting_case(4000)])]))
        .await;
    let results = results(&drain(events));
    assert_eq!(summary.passed, 1, "{results:#?}");
    let steps = &results[0].steps;
    let srvs: Vec<&str> = steps.iter().map(|step| step.srv.as_str()).collect();
    assert_eq!(srvs, ["11.2", "wait", "11.2"]);
    assert_eq!(steps[1].status, CaseStatus::Passed);
    assert!(steps[1].request.is_none() && steps[1].response.is_none());
    assert_eq!(steps[1].elapsed, Duration::from_secs(4));
    assert!(started.elapsed() >= Duration::from_secs(4));
    assert!(results[0].elapsed >= Duration::from_secs(4));
}

#[tokio::test(start_paused = true)]
async fn a_wait_longer_than_the_case_timeout_leaves_blocks_at_once_and_the_next_case_runs() {
    let connector = Arc::new(ToyConnector::default());
    let mut runner = Runner::new(
        plugin("fixture-echo"),
        connector,
        settings(Duration::from_secs(3)),
    );
    let events = runner.subscribe();
    let started = Instant::now();
    let summary = runner
        .run(plan(vec![(
            target("m1", 2000),
            vec![waiting_case(4000), waiting_case(1000)],
        )]))
        .await;
    let results = results(&drain(events));
    let statuses: Vec<CaseStatus> = results.iter().map(|result| result.status).collect();
    assert_eq!(statuses, [CaseStatus::Blocked, CaseStatus::Passed]);
    assert_eq!((summary.blocked, summary.passed), (1, 1));
    let blocked = &results[0];
    assert!(
        blocked
            .detail
            .contains("step 2 (wait): waiting 4000 ms would outlast the case timeout"),
        "{}",
        blocked.detail
    );
    assert_eq!(blocked.steps.len(), 2, "the read after the wait never ran");
    assert_eq!(blocked.steps[1].status, CaseStatus::Blocked);
    // Not slept into: the blocked case cost no waiting, the passing one its second.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}
