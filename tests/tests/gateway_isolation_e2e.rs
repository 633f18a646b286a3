//! End to end with the real binaries: a gateway whose pinned adapter is configured
//! `isolation = "process"` runs it in plugin workers (`meterlab plugin-worker`, the gateway's own
//! executable). An adapter that segfaults inside `handle()` — which in-process would end the
//! whole gateway — blocks only the run's cases, with the signal named, and the gateway keeps
//! serving: a second run restarts the worker and ends the same way.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bench_support;
mod run_support;

use bench_support::{BenchOptions, register_phase, run_to_end, serve, write_bench_config};
use meterlab_proto::v1 as pb;
use meterlab_proto::v1::device_service_client::DeviceServiceClient;
use run_support::{fixture, start_emulator};

fn phase() -> pb::PhaseKey {
    pb::PhaseKey {
        entry: Some(pb::EntryKey {
            release: pb::CapabilityRelease::Moc.into(),
            smso_id: "smso-north".into(),
            dmc_id: "acme-ch1-e470-g4".into(),
        }),
        test_type: pb::TestType::Mt.into(),
        mode: pb::InstallationMode::Active.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_segfaulting_adapter_in_a_worker_blocks_its_cases_and_the_gateway_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = start_emulator(dir.path(), &[]).await;
    let config = write_bench_config(
        dir.path(),
        &emulator.devices,
        &fixture("fixture-segfault"),
        BenchOptions {
            transport: Some("tcp"),
            isolation: Some("process"),
            ..BenchOptions::default()
        },
    );
    let (mut server, addr) = serve(&config).await;
    let channel = bench_support::channel(format!("http://{addr}")).await;
    register_phase(channel.clone(), phase()).await;
    for request_id in ["segv-1", "segv-2"] {
        let (results, summary) = run_to_end(
            channel.clone(),
            pb::StartRunRequest {
                suite: "mt-active".into(),
                phase: Some(phase()),
                case_ids: vec!["MT-ACT-001".into()],
                request_id: request_id.into(),
                ..Default::default()
            },
        )
        .await;
        assert_eq!(summary.state(), pb::RunState::Finished, "{summary:?}");
        assert!(summary.cases_total > 0, "{summary:?}");
        assert_eq!(summary.passed + summary.failed, 0, "{summary:?}");
        assert!(!results.is_empty());
        for result in &results {
            assert!(
                matches!(
                    result.status(),
                    pb::CaseStatus::Blocked | pb::CaseStatus::NotRun
                ),
                "{result:?}"
            );
        }
        assert!(
            results
                .iter()
                .any(|result| result.detail.contains("SIGSEGV")),
            "the cause is named: {results:#?}"
        );
        assert!(
            server.try_wait().unwrap().is_none(),
            "the gateway survived the worker's crash"
        );
    }
    let devices = DeviceServiceClient::new(channel)
        .list_devices(pb::ListDevicesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .devices;
    assert!(!devices.is_empty(), "still serving");
    server.kill().await.unwrap();
}
