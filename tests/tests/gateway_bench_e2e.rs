//! End to end with the real binaries: `meterlab emulate` + `meterlab serve --config` with a
//! bench (the DLMS adapter pinned by SHA-256, the emulator's devices, the shipped suites and
//! DMCs). A run started through RunService executes on the emulated devices, its events are
//! watched (and resumed from a seq), its results are stored through the result ingest under
//! `gateway-run/<run id>`, attributed to the principal; a repeated `request_id` returns the same
//! run. SIGTERM during a run, with a client holding a result stream open without sending and a
//! watcher that stops reading, ends the process with 0; every result the watcher saw is stored.
//! An adapter that panics blocks the run's cases and leaves the gateway serving.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bench_support;
mod run_support;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use bench_support::{BenchOptions, adapter, serve, write_bench_config};
use meterlab_proto::v1 as pb;
use meterlab_proto::v1::result_service_client::ResultServiceClient;
use meterlab_proto::v1::run_service_client::RunServiceClient;
use meterlab_server::RESULTS_RUN;
use meterlab_store::{Store, StoreConfig};
use run_support::start_emulator;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};
use tonic::transport::Channel;

const DMC: &str = "acme-ch1-e470-g4";

fn write_config(dir: &Path, devices: &Path, drain_s: u64) -> PathBuf {
    write_config_with(dir, devices, drain_s, &adapter())
}

/// A serve config whose one plugin (installed as `libmeterlab_dlms_adapter.so`) is `plugin`.
fn write_config_with(dir: &Path, devices: &Path, drain_s: u64, plugin: &Path) -> PathBuf {
    write_config_full(dir, devices, drain_s, plugin, "tcp")
}

fn write_config_full(
    dir: &Path,
    devices: &Path,
    drain_s: u64,
    plugin: &Path,
    transport: &str,
) -> PathBuf {
    let options = BenchOptions {
        transport: Some(transport),
        drain_s: Some(drain_s),
        ..BenchOptions::default()
    };
    write_bench_config(dir, devices, plugin, options)
}

fn phase() -> pb::PhaseKey {
    pb::PhaseKey {
        entry: Some(pb::EntryKey {
            release: pb::CapabilityRelease::Moc.into(),
            smso_id: "smso-north".into(),
            dmc_id: DMC.into(),
        }),
        test_type: pb::TestType::Mt.into(),
        mode: pb::InstallationMode::Active.into(),
    }
}

async fn plan(channel: Channel) {
    bench_support::register_phase(channel, phase()).await;
}

fn start_request(request_id: &str) -> pb::StartRunRequest {
    pb::StartRunRequest {
        suite: "mt-active".into(),
        phase: Some(phase()),
        request_id: request_id.into(),
        ..Default::default()
    }
}

/// Every stored result key of `source`, in log order; each records the principal that started
/// the run (`anonymous` on a gateway without principals).
fn stored_seqs(db: &Path, source: &str) -> Vec<u64> {
    let store = Store::open_sqlite(db, StoreConfig::default()).unwrap();
    let mut seqs = Vec::new();
    let mut from = 1;
    loop {
        let page = store.read_range(from, 1000).unwrap();
        let Some(last) = page.last() else { break };
        from = last.seq + 1;
        for event in &page {
            if let Some(key) = event.key.as_ref()
                && key.source == source
                && key.run == RESULTS_RUN
            {
                assert_eq!(
                    meterlab_server::convert::result::recorded_by(&event.payload.body).as_deref(),
                    Some("anonymous")
                );
                seqs.push(key.seq);
            }
        }
    }
    seqs
}

fn sigterm(child: &Child) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().unwrap().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_started_through_run_service_is_watched_and_stored() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = start_emulator(dir.path(), &[]).await;
    let config = write_config(dir.path(), &emulator.devices, 20);
    let (mut server, addr) = serve(&config).await;
    let channel = bench_support::channel(format!("http://{addr}")).await;
    plan(channel.clone()).await;
    let mut runs = RunServiceClient::new(channel.clone());
    let run_id = runs
        .start_run(start_request("first"))
        .await
        .unwrap()
        .into_inner()
        .run_id;
    let again = runs
        .start_run(start_request("first"))
        .await
        .unwrap()
        .into_inner()
        .run_id;
    assert_eq!(again, run_id, "a repeated request_id returns the same run");

    let mut events = Vec::new();
    let mut stream = runs
        .watch_run(pb::WatchRunRequest {
            run_id: run_id.clone(),
            after_seq: 0,
        })
        .await
        .unwrap()
        .into_inner();
    while let Some(event) = stream.message().await.unwrap() {
        events.push(event);
    }
    assert!(
        events.windows(2).all(|w| w[1].seq == w[0].seq + 1),
        "seqs are contiguous"
    );
    let finished: Vec<&pb::TestCaseResult> = events
        .iter()
        .filter_map(|e| match &e.event {
            Some(pb::run_event::Event::CaseFinished(r)) => Some(r),
            _ => None,
        })
        .collect();
    assert!(
        !finished.is_empty(),
        "the MT active suite has cases for the emulated hub"
    );
    let Some(pb::run_event::Event::Finished(summary)) = &events.last().unwrap().event else {
        panic!("the last event is the summary: {:?}", events.last());
    };
    assert_eq!(summary.state(), pb::RunState::Finished, "{summary:?}");
    assert_eq!(
        summary.passed + summary.failed + summary.blocked + summary.not_run,
        summary.cases_total
    );
    assert!(summary.passed > 0, "{summary:?}");

    // Resuming a watch from a seq replays only what follows it.
    let middle = events[events.len() / 2].seq;
    let mut resumed = runs
        .watch_run(pb::WatchRunRequest {
            run_id: run_id.clone(),
            after_seq: middle,
        })
        .await
        .unwrap()
        .into_inner();
    let first = resumed
        .message()
        .await
        .unwrap()
        .expect("an event after the resume point");
    assert_eq!(first.seq, middle + 1);

    let got = runs
        .get_run(pb::GetRunRequest {
            run_id: run_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.state(), pb::RunState::Finished);
    let source = format!("gateway-run/{run_id}");
    let watermark = ResultServiceClient::new(channel)
        .get_watermark(pb::GetWatermarkRequest {
            source: source.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .acked_seq;
    assert_eq!(
        watermark,
        finished.len() as u64,
        "every finished attempt is stored"
    );

    // A cancelled run ends with its summary, CANCELLED; what it finished is stored.
    let cancelled = runs
        .start_run(start_request("second"))
        .await
        .unwrap()
        .into_inner()
        .run_id;
    let state = runs
        .cancel_run(pb::CancelRunRequest {
            run_id: cancelled.clone(),
            reason: "bench needed".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .state();
    assert!(
        matches!(state, pb::RunState::Queued | pb::RunState::Running),
        "{state:?}"
    );
    let mut stream = runs
        .watch_run(pb::WatchRunRequest {
            run_id: cancelled.clone(),
            after_seq: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let mut last = None;
    let mut cancelled_results = 0u64;
    while let Some(event) = stream.message().await.unwrap() {
        if matches!(event.event, Some(pb::run_event::Event::CaseFinished(_))) {
            cancelled_results += 1;
        }
        last = Some(event);
    }
    let Some(pb::run_event::Event::Finished(summary)) = last.and_then(|e| e.event) else {
        panic!("a cancelled run still ends with its summary");
    };
    assert_eq!(summary.state(), pb::RunState::Cancelled, "{summary:?}");
    assert!(summary.passed < summary.cases_total, "{summary:?}");
    assert!(
        summary.error.contains("bench needed") || summary.error.contains("cancelled"),
        "{summary:?}"
    );

    sigterm(&server);
    let status = server.wait().await.unwrap();
    assert!(
        status.success(),
        "the gateway ended with {status} after SIGTERM"
    );
    let db = dir.path().join("lab.sqlite");
    let expected: Vec<u64> = (1..=finished.len() as u64).collect();
    assert_eq!(stored_seqs(&db, &source), expected);
    let cancelled_source = format!("gateway-run/{cancelled}");
    assert_eq!(
        stored_seqs(&db, &cancelled_source).len() as u64,
        cancelled_results
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_run_drains_and_exits_zero_despite_idle_and_stalled_clients() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = start_emulator(dir.path(), &[]).await;
    let config = write_config(dir.path(), &emulator.devices, 1);
    let (mut server, addr) = serve(&config).await;
    let channel = bench_support::channel(format!("http://{addr}")).await;
    plan(channel.clone()).await;

    // A client that opens a result stream and then sends nothing more.
    let (idle_tx, idle_rx) = tokio::sync::mpsc::channel(4);
    idle_tx
        .send(pb::ResultStreamRequest {
            kind: Some(pb::result_stream_request::Kind::Open(pb::OpenStream {
                source: "idle-client".into(),
            })),
        })
        .await
        .unwrap();
    let mut idle = ResultServiceClient::new(channel.clone())
        .stream_results(tokio_stream::wrappers::ReceiverStream::new(idle_rx))
        .await
        .unwrap()
        .into_inner();
    assert!(
        idle.message().await.unwrap().is_some(),
        "the idle stream is opened"
    );

    let mut runs = RunServiceClient::new(channel.clone());
    let run_id = runs
        .start_run(start_request("drained"))
        .await
        .unwrap()
        .into_inner()
        .run_id;
    // One watcher reads until the first case finished, then stops reading (keeps the stream).
    let mut watcher = runs
        .watch_run(pb::WatchRunRequest {
            run_id: run_id.clone(),
            after_seq: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let mut seen_results = 0u64;
    while let Some(event) = watcher.message().await.unwrap() {
        if matches!(event.event, Some(pb::run_event::Event::CaseFinished(_))) {
            seen_results += 1;
            break;
        }
    }
    assert_eq!(seen_results, 1);

    sigterm(&server);
    let status = server.wait().await.unwrap();
    assert!(
        status.success(),
        "meterlab serve exits 0 on SIGTERM: {status:?}"
    );
    drop((idle, idle_tx, watcher));

    let stored = stored_seqs(
        &dir.path().join("lab.sqlite"),
        &format!("gateway-run/{run_id}"),
    );
    assert!(
        stored.len() as u64 >= seen_results,
        "a result a watcher saw is stored: {stored:?}"
    );
    let expected: Vec<u64> = (1..=stored.len() as u64).collect();
    assert_eq!(stored, expected, "stored once each, in order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_adapter_blocks_the_run_and_the_gateway_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = start_emulator(dir.path(), &[]).await;
    let panicking = run_support::fixture("fixture-panic");
    let config = write_config_with(dir.path(), &emulator.devices, 20, &panicking);
    let (mut server, addr) = serve(&config).await;
    let channel = bench_support::channel(format!("http://{addr}")).await;
    plan(channel.clone()).await;
    let mut runs = RunServiceClient::new(channel.clone());
    for attempt in ["panic-1", "panic-2"] {
        let run_id = runs
            .start_run(start_request(attempt))
            .await
            .unwrap()
            .into_inner()
            .run_id;
        let mut stream = runs
            .watch_run(pb::WatchRunRequest {
                run_id: run_id.clone(),
                after_seq: 0,
            })
            .await
            .unwrap()
            .into_inner();
        let mut last = None;
        while let Some(event) = stream.message().await.unwrap() {
            last = Some(event);
        }
        let Some(pb::run_event::Event::Finished(summary)) = last.and_then(|e| e.event) else {
            panic!("the run ends with its summary");
        };
        assert_eq!(summary.passed + summary.failed, 0, "{summary:?}");
        assert_eq!(
            summary.blocked + summary.not_run,
            summary.cases_total,
            "an adapter fault is infrastructure, never a device verdict: {summary:?}"
        );
        // The second run's attempts follow the first's in the same phase: all are stored.
        assert!(summary.error.is_empty(), "{summary:?}");
        assert_eq!(summary.state(), pb::RunState::Finished, "{summary:?}");
    }
    // Still serving: devices are listed and the process is alive.
    let devices = meterlab_proto::v1::device_service_client::DeviceServiceClient::new(channel)
        .list_devices(pb::ListDevicesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .devices;
    assert!(!devices.is_empty());
    assert!(
        server.try_wait().unwrap().is_none(),
        "the gateway is still running"
    );
    sigterm(&server);
    let status = server.wait().await.unwrap();
    assert!(
        status.success(),
        "the gateway ended with {status} after SIGTERM"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_run_then_restart_loses_no_result_a_watcher_saw() {
    let dir = tempfile::tempdir().unwrap();
    // Latency on every frame, so the whole run takes seconds and the kill lands mid-run
    // (unhindered, the 24 cases can finish in under 100 ms, before the kill).
    let emulator = start_emulator(dir.path(), &["--latency-ms", "20"]).await;
    let config = write_config(dir.path(), &emulator.devices, 20);
    let (mut server, addr) = serve(&config).await;
    let channel = bench_support::channel(format!("http://{addr}")).await;
    plan(channel.clone()).await;
    let mut runs = RunServiceClient::new(channel);
    let run_id = runs
        .start_run(start_request("killed"))
        .await
        .unwrap()
        .into_inner()
        .run_id;
    let mut watcher = runs
        .watch_run(pb::WatchRunRequest {
            run_id: run_id.clone(),
            after_seq: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let mut seen = 0u64;
    while let Ok(Some(event)) = watcher.message().await {
        if matches!(event.event, Some(pb::run_event::Event::CaseFinished(_))) {
            seen += 1;
            if seen == 2 {
                break;
            }
        }
    }
    // SIGKILL: no drain, no checkpoint.
    server.start_kill().unwrap();
    server.wait().await.unwrap();
    assert!(seen >= 1, "the run finished cases before the kill");

    let (mut restarted, addr) = serve(&config).await;
    let channel = bench_support::channel(format!("http://{addr}")).await;
    let source = format!("gateway-run/{run_id}");
    let watermark = ResultServiceClient::new(channel.clone())
        .get_watermark(pb::GetWatermarkRequest {
            source: source.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .acked_seq;
    assert!(
        watermark >= seen,
        "{seen} results were seen, {watermark} survived the kill"
    );
    // The run's record is in the log too: cut off by the kill, it is interrupted (resuming it
    // is gateway_runs_e2e's).
    let after = RunServiceClient::new(channel)
        .get_run(pb::GetRunRequest { run_id })
        .await
        .expect("the run is known after the restart")
        .into_inner();
    assert_eq!(after.state(), pb::RunState::Interrupted, "{after:?}");
    assert!(
        u64::from(after.passed + after.failed + after.blocked) >= seen,
        "{after:?}"
    );
    sigterm(&restarted);
    let status = restarted.wait().await.unwrap();
    assert!(
        status.success(),
        "the gateway ended with {status} after SIGTERM"
    );
    let stored = stored_seqs(&dir.path().join("lab.sqlite"), &source);
    let expected: Vec<u64> = (1..=stored.len() as u64).collect();
    assert_eq!(stored, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_device_credential_appears_in_a_trace_level_gateway_run() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = start_emulator(dir.path(), &[]).await;
    let devices = meterlab_devices::DevicesFile::load(&emulator.devices).unwrap();
    let mut secrets = Vec::new();
    for client in devices.devices.iter().flat_map(|d| &d.clients) {
        secrets.extend(client.password.clone());
        for key in [
            client.encryption_key,
            client.authentication_key,
            client.master_key,
        ]
        .into_iter()
        .flatten()
        {
            secrets.push(key.to_hex());
            secrets.push(key.to_hex().to_uppercase());
        }
    }
    assert!(!secrets.is_empty(), "the emulated devices have credentials");
    let config = write_config(dir.path(), &emulator.devices, 20);
    let log = dir.path().join("serve.log");
    let mut server = Command::new(env!("CARGO_BIN_EXE_meterlab-e2e"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .env("METERLAB_LOG", "trace")
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("serve prints its address");
        if let Some(addr) = line.strip_prefix("meterlab serve: listening on ") {
            break addr.to_owned();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let channel = bench_support::channel(format!("http://{addr}")).await;
    plan(channel.clone()).await;
    let mut runs = RunServiceClient::new(channel);
    let run_id = runs
        .start_run(start_request("traced"))
        .await
        .unwrap()
        .into_inner()
        .run_id;
    let mut stream = runs
        .watch_run(pb::WatchRunRequest {
            run_id,
            after_seq: 0,
        })
        .await
        .unwrap()
        .into_inner();
    while stream.message().await.unwrap().is_some() {}
    sigterm(&server);
    let status = server.wait().await.unwrap();
    assert!(
        status.success(),
        "the gateway ended with {status} after SIGTERM"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("TRACE") || text.contains("trace"),
        "trace logging was on"
    );
    for secret in &secrets {
        assert!(
            !text.contains(secret.as_str()),
            "a device credential is in the trace log"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_reaches_its_devices_over_pty_serial_when_the_bench_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = start_emulator(dir.path(), &["--serial"]).await;
    // The TCP endpoints point nowhere: only the serial lines can reach the devices.
    let mut devices = meterlab_devices::DevicesFile::load(&emulator.devices).unwrap();
    for device in &mut devices.devices {
        assert!(device.serial.is_some(), "the emulator opened a PTY per hub");
        if let Some(tcp) = &mut device.tcp {
            tcp.address = "127.0.0.1:9".into();
        }
    }
    let serial_only = dir.path().join("serial-devices.toml");
    devices.save(&serial_only).unwrap();
    let config = write_config_full(dir.path(), &serial_only, 20, &adapter(), "serial");
    let (mut server, addr) = serve(&config).await;
    let channel = bench_support::channel(format!("http://{addr}")).await;
    plan(channel.clone()).await;
    let mut runs = RunServiceClient::new(channel);
    let run_id = runs
        .start_run(start_request("serial"))
        .await
        .unwrap()
        .into_inner()
        .run_id;
    let mut stream = runs
        .watch_run(pb::WatchRunRequest {
            run_id,
            after_seq: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let mut last = None;
    while let Some(event) = stream.message().await.unwrap() {
        last = Some(event);
    }
    let Some(pb::run_event::Event::Finished(summary)) = last.and_then(|e| e.event) else {
        panic!("the run ends with its summary");
    };
    assert_eq!(summary.state(), pb::RunState::Finished, "{summary:?}");
    assert!(
        summary.passed > 0,
        "cases pass over HDLC on the PTY: {summary:?}"
    );
    sigterm(&server);
    let status = server.wait().await.unwrap();
    assert!(
        status.success(),
        "the gateway ended with {status} after SIGTERM"
    );
}
