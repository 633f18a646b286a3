//! End to end with the real binaries: a gateway whose bench pins a second adapter for the
//! meters' optical ports (`[[plugin]] port = "optical"`, the IEC 62056-21 adapter) runs the
//! shipped SIT case that reads one register over DLMS and over the optical port
//! (`meterlab emulate --optical`) through RunService; without that plugin the same case ends
//! `not_run`, naming why, and the gateway's other cases still run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bench_support;
mod run_support;

use bench_support::{
    BenchOptions, adapter, optical_adapter, register_phase, run_to_end, serve, write_bench_config,
};
use meterlab_proto::v1 as pb;
use run_support::{path, start_emulator_from, workspace};

const DMC: &str = "acme-ch1-e470p-g4";

fn phase() -> pb::PhaseKey {
    pb::PhaseKey {
        entry: Some(pb::EntryKey {
            release: pb::CapabilityRelease::Moc.into(),
            smso_id: "smso-north".into(),
            dmc_id: DMC.into(),
        }),
        test_type: pb::TestType::Sit.into(),
        mode: pb::InstallationMode::Active.into(),
    }
}

/// Runs SIT-OPT-001 and SIT-RD-001 on the gateway; returns the attempts and the summary.
async fn run_cases(addr: &str, request_id: &str) -> (Vec<pb::TestCaseResult>, pb::RunSummary) {
    let channel = bench_support::channel(format!("http://{addr}")).await;
    register_phase(channel.clone(), phase()).await;
    run_to_end(
        channel,
        pb::StartRunRequest {
            suite: "sit".into(),
            phase: Some(phase()),
            case_ids: vec!["SIT-OPT-001".into(), "SIT-RD-001".into()],
            request_id: request_id.into(),
            ..Default::default()
        },
    )
    .await
}

fn status_of<'a>(attempts: &'a [pb::TestCaseResult], case: &str) -> &'a pb::TestCaseResult {
    attempts
        .iter()
        .find(|attempt| attempt.case_id == case)
        .unwrap_or_else(|| panic!("{case} has a result: {attempts:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_with_an_optical_adapter_runs_the_case_that_reads_both_ports() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = workspace().join("suites/scenarios/optical.toml");
    let emulator =
        start_emulator_from(dir.path(), &["--scenario", path(&scenario), "--optical"]).await;

    let with = dir.path().join("with");
    std::fs::create_dir_all(&with).unwrap();
    let optical = optical_adapter();
    let config = write_bench_config(
        &with,
        &emulator.devices,
        &adapter(),
        BenchOptions {
            transport: Some("tcp"),
            optical_plugin: Some(&optical),
            ..BenchOptions::default()
        },
    );
    let (mut server, addr) = serve(&config).await;
    let (attempts, summary) = run_cases(&addr, "with-optical").await;
    assert_eq!(summary.state(), pb::RunState::Finished, "{summary:?}");
    assert_eq!(summary.passed, 2, "{summary:?}\n{attempts:#?}");
    let optical_case = status_of(&attempts, "SIT-OPT-001");
    assert_eq!(optical_case.status(), pb::CaseStatus::Passed);
    assert_eq!(optical_case.device_id, "north-optical.esme");
    server.kill().await.unwrap();

    // The same bench without the optical adapter: the case cannot reach the port and says so.
    let without = dir.path().join("without");
    std::fs::create_dir_all(&without).unwrap();
    let config = write_bench_config(
        &without,
        &emulator.devices,
        &adapter(),
        BenchOptions {
            transport: Some("tcp"),
            ..BenchOptions::default()
        },
    );
    let (mut server, addr) = serve(&config).await;
    let (attempts, summary) = run_cases(&addr, "without-optical").await;
    assert_eq!(summary.passed, 1, "{summary:?}\n{attempts:#?}");
    assert_eq!(summary.failed, 0, "{summary:?}");
    let optical_case = status_of(&attempts, "SIT-OPT-001");
    assert_eq!(optical_case.status(), pb::CaseStatus::NotRun);
    assert!(
        optical_case
            .detail
            .contains("no [[plugin]] with port = \"optical\" for SMSO \"smso-north\""),
        "{optical_case:#?}"
    );
    server.kill().await.unwrap();
}
