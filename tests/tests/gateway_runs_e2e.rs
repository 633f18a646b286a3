//! End to end with the real binaries (`meterlab emulate` + `meterlab serve --config` with a
//! bench), driven through the CLI: `meterlab runs start|show|list|watch` and `--resume` across a
//! kill -9 of the gateway, and `meterlab lease take|renew|release` with `meterlab devices check`.
//!
//! A run cut off by kill -9 is `interrupted` after the restart, listed, and resumed under the
//! same id: only its cases without a final result run again, no (case, device, attempt) is
//! stored twice, and the run ends `finished` with every case counted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bench_support;
mod run_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use bench_support::{
    BenchOptions, NORTH_ENTRY, adapter, json, meterlab, plan_north_mt_active as plan, serve,
    write_bench_config,
};
use meterlab_proto::v1 as pb;
use meterlab_proto::v1::run_service_client::RunServiceClient;
use run_support::start_emulator;

const ENTRY: &str = NORTH_ENTRY;

/// Every stored result of `source`: its ingest seq and (case, device, attempt, status).
fn stored_results(db: &Path, source: &str) -> Vec<(u64, String, String, u32, pb::CaseStatus)> {
    bench_support::stored_results(db, source)
        .into_iter()
        .map(|(seq, result)| {
            let status = result.status();
            (
                seq,
                result.case_id,
                result.device_id,
                result.attempt,
                status,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_cut_off_by_kill_9_is_interrupted_listed_and_resumed_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    // Latency on every frame, so the whole run takes seconds and the kill lands mid-run
    // (unhindered, the 24 cases can finish in under 100 ms, before the kill).
    let emulator = start_emulator(dir.path(), &["--latency-ms", "20"]).await;
    let config = write_bench_config(
        dir.path(),
        &emulator.devices,
        &adapter(),
        BenchOptions::default(),
    );
    let (mut server, addr) = serve(&config).await;
    let url = format!("http://{addr}");
    let channel = bench_support::channel(url.clone()).await;
    plan(channel.clone()).await;

    let started = meterlab(&[
        "runs",
        "start",
        "--suite",
        "mt-active",
        "--entry",
        ENTRY,
        "--phase",
        "mt.active",
        "--gateway",
        &url,
        "--output",
        "json",
    ])
    .await;
    assert!(started.status.success(), "{started:?}");
    let run_id = json(&started)["run_id"].as_str().unwrap().to_owned();

    let mut watcher = RunServiceClient::new(channel)
        .watch_run(pb::WatchRunRequest {
            run_id: run_id.clone(),
            after_seq: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let mut seen = 0u32;
    while let Ok(Some(event)) = watcher.message().await {
        if matches!(event.event, Some(pb::run_event::Event::CaseFinished(_))) {
            seen += 1;
            if seen == 2 {
                break;
            }
        }
    }
    assert_eq!(seen, 2, "the run finished two cases before the kill");
    server.start_kill().unwrap();
    server.wait().await.unwrap();

    let (mut server, addr) = serve(&config).await;
    let url = format!("http://{addr}");
    let shown = meterlab(&[
        "runs",
        "show",
        &run_id,
        "--gateway",
        &url,
        "--output",
        "json",
    ])
    .await;
    assert_eq!(shown.status.code(), Some(3), "not a passed run: {shown:?}");
    let summary = json(&shown);
    assert_eq!(summary["state"], "interrupted", "{summary}");
    let total = summary["cases_total"].as_u64().unwrap();
    let counted = ["passed", "failed", "blocked"]
        .iter()
        .map(|k| summary[k].as_u64().unwrap())
        .sum::<u64>();
    assert!(counted >= u64::from(seen), "{summary}");
    assert!(counted < total, "the kill cut the run short: {summary}");
    assert_eq!(
        counted + summary["not_run"].as_u64().unwrap(),
        total,
        "{summary}"
    );

    let listed = meterlab(&[
        "runs",
        "list",
        "--state",
        "interrupted",
        "--gateway",
        &url,
        "--output",
        "json",
    ])
    .await;
    assert!(listed.status.success(), "{listed:?}");
    let listed = json(&listed);
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [run_id.as_str()]);

    let source = format!("gateway-run/{run_id}");
    let db = dir.path().join("lab.sqlite");
    let before_resume = stored_results(&db, &source);

    let resumed = meterlab(&[
        "runs",
        "start",
        "--resume",
        &run_id,
        "--watch",
        "--gateway",
        &url,
        "--output",
        "json",
    ])
    .await;
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&resumed.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let last = lines.last().expect("the watch printed events");
    assert!(
        last["event"]["Finished"].is_object(),
        "the watch ends with the summary: {last}"
    );

    let shown = meterlab(&[
        "runs",
        "show",
        &run_id,
        "--gateway",
        &url,
        "--output",
        "json",
    ])
    .await;
    let summary = json(&shown);
    assert_eq!(summary["state"], "finished", "{summary}");
    assert_eq!(summary["resumes"], 1, "{summary}");
    assert_eq!(summary["cases_total"].as_u64().unwrap(), total);
    assert_eq!(
        summary["not_run"], 0,
        "every case has a result now: {summary}"
    );

    // A case cut off mid-way may leave an emulated device in a state its later cases block on
    // (kill -9 restores nothing): blocked cases are not final, so a second resume runs just
    // those; with none left there is nothing to resume.
    let blocked_before_again: BTreeSet<(String, String)> = stored_results(&db, &source)
        .iter()
        .filter(|r| r.4 == pb::CaseStatus::Blocked)
        .map(|r| (r.1.clone(), r.2.clone()))
        .collect();
    let again = meterlab(&[
        "runs",
        "start",
        "--resume",
        &run_id,
        "--watch",
        "--gateway",
        &url,
    ])
    .await;
    if summary["blocked"] == 0 {
        assert!(!again.status.success(), "{again:?}");
        assert!(
            String::from_utf8_lossy(&again.stderr).contains("nothing to resume"),
            "{again:?}"
        );
    } else {
        assert!(
            String::from_utf8_lossy(&again.stdout).contains("resumed 2 time(s)"),
            "the blocked cases ran again: {again:?}"
        );
        let after_again = stored_results(&db, &source);
        let ran_again: BTreeSet<(String, String)> = after_again
            .iter()
            .filter(|r| r.3 > 1)
            .map(|r| (r.1.clone(), r.2.clone()))
            .collect();
        assert!(
            ran_again.is_subset(&blocked_before_again),
            "only blocked cases ran again: {ran_again:?} ⊄ {blocked_before_again:?}"
        );
    }

    let stored = stored_results(&db, &source);
    let seqs: Vec<u64> = stored.iter().map(|r| r.0).collect();
    assert_eq!(seqs, (1..=stored.len() as u64).collect::<Vec<_>>());
    let mut attempts: BTreeMap<(String, String), Vec<u32>> = BTreeMap::new();
    for (_, case, device, attempt, _) in &stored {
        attempts
            .entry((case.clone(), device.clone()))
            .or_default()
            .push(*attempt);
    }
    for (unit, numbers) in &attempts {
        let expected: Vec<u32> = (1..=numbers.len() as u32).collect();
        assert_eq!(
            numbers, &expected,
            "{unit:?}: attempts continue, none twice"
        );
    }
    assert_eq!(attempts.len() as u64, total, "every planned case ran");
    // A case that had a final result before the kill did not run again.
    let final_before: BTreeSet<(String, String)> = before_resume
        .iter()
        .filter(|r| matches!(r.4, pb::CaseStatus::Passed | pb::CaseStatus::Failed))
        .map(|r| (r.1.clone(), r.2.clone()))
        .collect();
    assert!(!final_before.is_empty());
    for unit in &final_before {
        assert_eq!(
            attempts[unit].len(),
            1,
            "{unit:?} ran again after it passed"
        );
    }
    assert!(stored.len() > before_resume.len());

    server.start_kill().unwrap();
    server.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(
    clippy::disallowed_methods,
    reason = "a lease's expiry is wall-clock time"
)]
async fn a_lease_is_taken_renewed_with_a_new_ttl_and_released_and_a_device_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = start_emulator(dir.path(), &[]).await;
    let config = write_bench_config(
        dir.path(),
        &emulator.devices,
        &adapter(),
        BenchOptions::default(),
    );
    let (mut server, addr) = serve(&config).await;
    let url = format!("http://{addr}");
    let listed = json(&meterlab(&["devices", "--gateway", &url, "--output", "json"]).await);
    let device = listed[0]["id"].as_str().unwrap().to_owned();

    let taken = meterlab(&[
        "lease",
        "take",
        &device,
        "--holder",
        "bench session",
        "--ttl-s",
        "60",
        "--gateway",
        &url,
        "--output",
        "json",
    ])
    .await;
    assert!(taken.status.success(), "{taken:?}");
    let lease_id = json(&taken)["lease_id"].as_str().unwrap().to_owned();

    // Leased: a check without the lease is refused, with it the device is checked.
    let refused = meterlab(&["devices", "check", &device, "--gateway", &url]).await;
    assert!(!refused.status.success(), "{refused:?}");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("bench session"),
        "names the holder: {refused:?}"
    );
    let checked = meterlab(&[
        "devices",
        "check",
        &device,
        "--lease",
        &lease_id,
        "--gateway",
        &url,
        "--output",
        "json",
    ])
    .await;
    assert!(checked.status.success(), "{checked:?}");
    let health = json(&checked);
    assert_eq!(health["healthy"], true, "{health}");
    assert!(
        health["clock_skew_ms"].is_i64(),
        "the clock was read: {health}"
    );
    assert!(health["device_clock"].is_object(), "{health}");

    let renewed = meterlab(&[
        "lease",
        "renew",
        &lease_id,
        "--ttl-s",
        "20",
        "--gateway",
        &url,
        "--output",
        "json",
    ])
    .await;
    assert!(renewed.status.success(), "{renewed:?}");
    let expires = json(&renewed)["expires_at"]["secs_since_epoch"]
        .as_u64()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        (now + 17..=now + 21).contains(&expires),
        "renewed for 20 s: expires at {expires}, now {now}"
    );

    let released = meterlab(&["lease", "release", &lease_id, "--gateway", &url]).await;
    assert!(released.status.success(), "{released:?}");
    let checked = meterlab(&["devices", "check", &device, "--gateway", &url]).await;
    assert!(checked.status.success(), "free again: {checked:?}");
    assert!(
        String::from_utf8_lossy(&checked.stdout).contains("healthy"),
        "{checked:?}"
    );
    let unknown = meterlab(&["devices", "check", "no-such-device", "--gateway", &url]).await;
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no-such-device"));

    server.start_kill().unwrap();
    server.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_runs_on_one_device_number_their_attempts_without_colliding() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = start_emulator(dir.path(), &[]).await;
    let config = write_bench_config(
        dir.path(),
        &emulator.devices,
        &adapter(),
        BenchOptions::default(),
    );
    let (mut server, addr) = serve(&config).await;
    let url = format!("http://{addr}");
    let channel = bench_support::channel(url.clone()).await;
    plan(channel.clone()).await;
    let start = |request_id: &'static str| {
        let url = url.clone();
        async move {
            let out = meterlab(&[
                "runs",
                "start",
                "--suite",
                "mt-active",
                "--entry",
                ENTRY,
                "--phase",
                "mt.active",
                "--request-id",
                request_id,
                "--gateway",
                &url,
                "--output",
                "json",
            ])
            .await;
            assert!(out.status.success(), "{out:?}");
            json(&out)["run_id"].as_str().unwrap().to_owned()
        }
    };
    // The gateway runs two at once (run_concurrency = 2): the second finds the devices leased
    // and records its cases not_run while the first records their results.
    let (first, second) = tokio::join!(start("first"), start("second"));
    assert_ne!(first, second);
    for run_id in [&first, &second] {
        let watched = meterlab(&[
            "runs",
            "watch",
            run_id,
            "--gateway",
            &url,
            "--output",
            "json",
        ])
        .await;
        let summary = json(
            &meterlab(&[
                "runs",
                "show",
                run_id,
                "--gateway",
                &url,
                "--output",
                "json",
            ])
            .await,
        );
        assert!(watched.status.code().is_some());
        assert_eq!(
            summary["state"], "finished",
            "no result was refused as a duplicate attempt: {summary}"
        );
    }
    let db = dir.path().join("lab.sqlite");
    let mut attempts: BTreeMap<(String, String), Vec<u32>> = BTreeMap::new();
    for run_id in [&first, &second] {
        for (_, case, device, attempt, _) in stored_results(&db, &format!("gateway-run/{run_id}")) {
            attempts.entry((case, device)).or_default().push(attempt);
        }
    }
    assert!(!attempts.is_empty());
    for (unit, numbers) in &mut attempts {
        numbers.sort_unstable();
        let expected: Vec<u32> = (1..=numbers.len() as u32).collect();
        assert_eq!(*numbers, expected, "{unit:?}: each attempt number once");
    }
    server.start_kill().unwrap();
    server.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_device_checks_unhealthy_and_then_shows_offline() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = start_emulator(dir.path(), &["--silent"]).await;
    let config = write_bench_config(
        dir.path(),
        &emulator.devices,
        &adapter(),
        BenchOptions::default(),
    );
    let (mut server, addr) = serve(&config).await;
    let url = format!("http://{addr}");
    let listed = json(&meterlab(&["devices", "--gateway", &url, "--output", "json"]).await);
    let device = listed[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(listed[0]["state"], "available");

    let checked = meterlab(&[
        "devices",
        "check",
        &device,
        "--gateway",
        &url,
        "--output",
        "json",
    ])
    .await;
    assert_eq!(checked.status.code(), Some(3), "unhealthy: {checked:?}");
    let health = json(&checked);
    assert_eq!(health["healthy"], false, "{health}");
    assert!(health["device_clock"].is_null(), "{health}");
    assert!(
        health["detail"].as_str().unwrap().contains("unreachable"),
        "{health}"
    );
    let listed = json(&meterlab(&["devices", "--gateway", &url, "--output", "json"]).await);
    assert_eq!(
        listed[0]["state"], "offline",
        "the check is the device's health now: {listed}"
    );
    server.start_kill().unwrap();
    server.wait().await.unwrap();
}
