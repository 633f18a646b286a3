//! The typed client's DeviceService and RunService calls, and `meterlab devices`, against the
//! real `meterlab serve --config` with a bench (the emulator's devices, the DLMS adapter pinned,
//! the shipped suites): list, lease, renew and release a device; start a run, watch it to its
//! end and read its summary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bench_support;
mod run_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use bench_support::{BenchOptions, adapter, serve, write_bench_config};
use meterlab_client::devices::{DeviceFilter, RunRequest, RunUpdate};
use meterlab_client::{Client, ConnectOptions};
use meterlab_governance::model::{
    DeviceModel, DmcComponents, DmcId, EntryKey, Mode, PhaseKind, Release, SmsoId, TestPhase,
    TestType,
};
use run_support::start_emulator;
use tokio::process::Command;

const DMC: &str = "acme-ch1-e470-g4";

fn write_config(dir: &Path, devices: &Path) -> PathBuf {
    write_bench_config(dir, devices, &adapter(), BenchOptions::default())
}

fn mt_active() -> TestPhase {
    TestPhase {
        entry: EntryKey {
            release: Release::Moc,
            smso: SmsoId::new("smso-north"),
            dmc: DmcId::new(DMC),
        },
        kind: PhaseKind {
            test: TestType::Mt,
            mode: Mode::Active,
        },
    }
}

async fn meterlab(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_meterlab-e2e"))
        .args(args)
        .env_remove("METERLAB_TOKEN_FILE")
        .output()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_are_leased_and_a_run_is_started_watched_and_summarised_through_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = start_emulator(dir.path(), &[]).await;
    let config = write_config(dir.path(), &emulator.devices);
    let (mut server, addr) = serve(&config).await;
    let url = format!("http://{addr}");
    let client = Client::connect(&url, &ConnectOptions::default())
        .await
        .unwrap()
        .with_actor("client test");

    let devices = client.list_devices(&DeviceFilter::default()).await.unwrap();
    assert!(!devices.is_empty());
    assert!(
        devices.iter().all(|d| d.state == "available"),
        "{devices:?}"
    );
    let device = devices[0].id.clone();
    let listed = meterlab(&["devices", "--gateway", &url]).await;
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{text}");
    assert!(
        text.contains(&device) && text.contains(&format!("{} device(s)", devices.len())),
        "{text}"
    );

    let lease = client
        .lease_device(&device, "bench session", Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(lease.device_id, device);
    let leased = client
        .list_devices(&DeviceFilter::default())
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.id == device)
        .unwrap();
    assert_eq!(leased.state, "leased");
    assert_eq!(
        leased.lease.as_ref().map(|l| l.lease_id.clone()),
        Some(lease.lease_id.clone())
    );
    let available = client
        .list_devices(&DeviceFilter {
            available_only: true,
            ..DeviceFilter::default()
        })
        .await
        .unwrap();
    assert!(
        available.iter().all(|d| d.id != device),
        "a leased device is not available"
    );
    let json = meterlab(&["devices", "--gateway", &url, "--output", "json"]).await;
    let listed: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let shown = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == device.as_str())
        .unwrap();
    assert_eq!(shown["state"], "leased");

    // A renewal extends the lease by its granted ttl from now (the gateway's clock moves on).
    tokio::time::sleep(Duration::from_millis(50)).await;
    let renewed = client
        .renew_lease(&lease.lease_id, Some(Duration::from_secs(60)))
        .await
        .unwrap();
    assert!(
        renewed.expires_at > lease.expires_at,
        "{renewed:?} vs {lease:?}"
    );
    client.release_device(&lease.lease_id).await.unwrap();
    let released = client
        .list_devices(&DeviceFilter::default())
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.id == device)
        .unwrap();
    assert_eq!(released.state, "available");
    let error = client
        .release_device(&lease.lease_id)
        .await
        .expect_err("released twice");
    assert!(error.code().is_some(), "{error}");

    // A run on the gateway's devices, in a planned phase.
    let hub = DeviceModel {
        manufacturer: "ACME".into(),
        model: "ACME CH1".into(),
        firmware: "1.4.0".into(),
    };
    let dmc = DmcComponents {
        comms_hub: hub,
        esme: None,
        gsme: None,
        ppmid: None,
        ihd: None,
    };
    client
        .register_entry(&mt_active().entry, &dmc, "test")
        .await
        .unwrap();
    client
        .register_phase(&mt_active(), None, "test")
        .await
        .unwrap();
    let request = RunRequest {
        suite: "mt-active".into(),
        case_ids: Vec::new(),
        phase: mt_active(),
        device_ids: Vec::new(),
        retry: None,
        request_id: "client-test-1".into(),
    };
    let run_id = client.start_run(&request).await.unwrap();
    assert_eq!(
        client.start_run(&request).await.unwrap(),
        run_id,
        "idempotent by request_id"
    );
    let mut updates = Vec::new();
    let last = client
        .watch_run(&run_id, 0, |seq, update| updates.push((seq, update)))
        .await
        .unwrap();
    assert!(
        matches!(updates.first(), Some((_, RunUpdate::Started { .. }))),
        "{updates:?}"
    );
    let Some((_, RunUpdate::Finished(summary))) = updates.last() else {
        panic!("the watch ends with the summary: {updates:?}");
    };
    assert_eq!(summary.state, "finished", "{summary:?}");
    let finished_cases = updates
        .iter()
        .filter(|(_, u)| matches!(u, RunUpdate::CaseFinished { .. }))
        .count() as u32;
    assert!(finished_cases > 0);
    assert_eq!(
        summary.passed + summary.failed + summary.blocked + summary.not_run,
        finished_cases - summary.flaky,
        "{summary:?}"
    );
    let got = client.get_run(&run_id).await.unwrap();
    assert_eq!(&got, summary);
    // Resuming the watch after the last event seen yields nothing new but the end.
    let mut resumed = Vec::new();
    client
        .watch_run(&run_id, last, |seq, update| resumed.push((seq, update)))
        .await
        .unwrap();
    assert!(resumed.iter().all(|(seq, _)| *seq > last), "{resumed:?}");
    // Cancelling a finished run changes nothing.
    assert_eq!(
        client.cancel_run(&run_id, "too late").await.unwrap(),
        "finished"
    );
    assert_eq!(client.get_run(&run_id).await.unwrap().state, "finished");

    // Cancelling a run in flight ends it cancelled, with its summary. It runs in another entry's
    // phase: the gateway numbers attempts per run, so a second run of the same cases in the same
    // phase would collide with the first one's attempt 1.
    let mut other = mt_active();
    other.entry.release = Release::Foc;
    client
        .register_entry(&other.entry, &dmc, "test")
        .await
        .unwrap();
    client.register_phase(&other, None, "test").await.unwrap();
    let second = client
        .start_run(&RunRequest {
            request_id: "client-test-2".into(),
            phase: other,
            ..request
        })
        .await
        .unwrap();
    assert_ne!(second, run_id);
    let before = client.cancel_run(&second, "bench needed").await.unwrap();
    let mut end = None;
    client
        .watch_run(&second, 0, |_, update| {
            if let RunUpdate::Finished(summary) = update {
                end = Some(summary);
            }
        })
        .await
        .unwrap();
    let end = end.expect("the watch ends with the summary");
    match before.as_str() {
        // Asked while queued or running: the run ends cancelled.
        "queued" | "running" => assert_eq!(end.state, "cancelled", "{end:?}"),
        // It had already finished before the cancel arrived: nothing changed.
        "finished" => assert_eq!(end.state, "finished", "{end:?}"),
        other => panic!("unexpected state {other} before cancel"),
    }
    assert_eq!(client.get_run(&second).await.unwrap(), end);
    let unknown = client
        .cancel_run("no-such-run", "x")
        .await
        .expect_err("unknown run");
    assert!(unknown.is_bad_request(), "{unknown}");
    server.kill().await.unwrap();
}
