//! Runs outlive the gateway process: a store holding run records (`meterlab.gateway.run/1`, the
//! durable format a previous gateway wrote) and their results (`gateway-run/<run id>`) is opened
//! by a new gateway, and the typed client's GetRun, ListRuns and WatchRun answer from them. A
//! run without an end record is interrupted; an unreadable record is skipped, not fatal; a run
//! whose every case has a final result has nothing to resume.
#![allow(clippy::unwrap_used)]

use meterlab_client::{Client, ClientError, ConnectOptions};
use meterlab_proto::v1 as pb;
use meterlab_server::serve_config::ServeConfig;
use meterlab_server::{Gateway, GatewayConfig, RESULTS_RUN, RUN_KIND, StreamLimits};
use meterlab_store::{IngestKey, Payload, Store, StoreConfig};
use prost::Message as _;
use sha2::{Digest as _, Sha256};

const DEVICES: &str = include_str!("fixtures/one_esme.devices.toml");

const T0: i64 = 1_790_000_000_000;

fn phase() -> pb::PhaseKey {
    pb::PhaseKey {
        entry: Some(pb::EntryKey {
            release: pb::CapabilityRelease::Moc.into(),
            smso_id: "smso-north".into(),
            dmc_id: "acme".into(),
        }),
        test_type: pb::TestType::Mt.into(),
        mode: pb::InstallationMode::Active.into(),
    }
}

fn started(run_id: &str, cases_total: u32, at_ms: i64) -> Vec<u8> {
    let request = pb::StartRunRequest {
        suite: "mt-active".into(),
        phase: Some(phase()),
        request_id: format!("req-{run_id}"),
        ..Default::default()
    };
    serde_json::to_vec(&serde_json::json!({
        "event": "started",
        "run_id": run_id,
        "principal": "alice",
        "request": hex::encode(request.encode_to_vec()),
        "cases_total": cases_total,
        "device_ids": ["esme1"],
        "at_ms": at_ms,
    }))
    .unwrap()
}

fn result(run_id: &str, seq: u64, case: &str, status: pb::CaseStatus) -> (IngestKey, Payload) {
    let source = format!("gateway-run/{run_id}");
    let submit = pb::SubmitResult {
        key: Some(pb::ResultKey {
            source: source.clone(),
            run_id: run_id.into(),
            seq,
        }),
        result: Some(pb::TestCaseResult {
            phase: Some(phase()),
            case_id: case.into(),
            case_content_sha256: vec![7; 32],
            device_id: "esme1".into(),
            attempt: 1,
            status: status.into(),
            ..Default::default()
        }),
    };
    (
        IngestKey::new(source, RESULTS_RUN, seq),
        Payload::new(
            meterlab_server::convert::result::RESULT_KIND,
            submit.encode_to_vec(),
        ),
    )
}

/// What a gateway killed mid-run leaves in its store: run `gw-1` started (3 cases), two results,
/// no end; run `gw-2` started and finished with its one case passed; one record nobody can read.
async fn write_previous_gateways_log(db: &std::path::Path) {
    let store = Store::open_sqlite(db, StoreConfig::default()).unwrap();
    {
        store
            .append(Payload::new(RUN_KIND, started("gw-1", 3, T0)), T0)
            .await
            .unwrap();
        for (seq, case, status) in [
            (1, "MT-ACT-001", pb::CaseStatus::Passed),
            (2, "MT-ACT-002", pb::CaseStatus::Blocked),
        ] {
            let (key, payload) = result("gw-1", seq, case, status);
            store.ingest(key, payload, T0 + 10).await.unwrap();
        }
        store
            .append(Payload::new(RUN_KIND, b"{not json".to_vec()), T0 + 20)
            .await
            .unwrap();
        store
            .append(Payload::new(RUN_KIND, started("gw-2", 1, T0 + 30)), T0 + 30)
            .await
            .unwrap();
        let (key, payload) = result("gw-2", 1, "MT-ACT-001", pb::CaseStatus::Passed);
        store.ingest(key, payload, T0 + 40).await.unwrap();
        let finished = serde_json::json!({
            "event": "finished", "run_id": "gw-2", "state": "RUN_STATE_FINISHED",
            "error": "", "at_ms": T0 + 50,
        });
        store
            .append(
                Payload::new(RUN_KIND, serde_json::to_vec(&finished).unwrap()),
                T0 + 50,
            )
            .await
            .unwrap();
    }
    // Dropping the last handle stops the writer and releases the store for the gateway.
    drop(store);
}

#[tokio::test]
async fn a_new_gateway_answers_for_the_runs_its_store_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for sub in ["plugins", "suites/mt", "dmcs"] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    std::fs::write(root.join("plugins/libadapter.so"), b"never loaded").unwrap();
    std::fs::write(root.join("dmcs/acme.toml"), "# a DMC").unwrap();
    std::fs::write(root.join("bench.toml"), DEVICES).unwrap();
    std::fs::write(
        root.join("serve.toml"),
        format!(
            "plugin_dir = \"plugins\"\ndevices = \"bench.toml\"\nsuites = \"suites\"\n\
             dmcs = \"dmcs\"\n[[plugin]]\nfile = \"libadapter.so\"\nsha256 = \"{}\"\n\
             smso = \"smso-north\"\n",
            hex::encode(Sha256::digest(b"never loaded"))
        ),
    )
    .unwrap();
    let db = root.join("lab.sqlite");
    write_previous_gateways_log(&db).await;

    let config = ServeConfig::load(&root.join("serve.toml")).unwrap();
    let gateway = Gateway::open(GatewayConfig {
        db,
        profile: meterlab_governance::load_profile(
            "illustrative.toml",
            meterlab_governance::profile::ILLUSTRATIVE_TOML,
        )
        .unwrap(),
        limits: StreamLimits::default(),
        store: Default::default(),
    })
    .await
    .unwrap()
    .with_limits(config.limits)
    .with_bench(config.bench.clone().unwrap())
    .unwrap();
    let listener = meterlab_server::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        gateway
            .serve(listener, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    let client = Client::connect(
        &format!("http://127.0.0.1:{port}"),
        &ConnectOptions::default(),
    )
    .await
    .unwrap();

    let cut_off = client.get_run("gw-1").await.unwrap();
    assert_eq!(cut_off.state, "interrupted");
    assert_eq!(cut_off.started_by, "alice");
    assert_eq!(cut_off.suite, "mt-active");
    assert_eq!(
        (
            cut_off.cases_total,
            cut_off.passed,
            cut_off.blocked,
            cut_off.not_run
        ),
        (3, 1, 1, 1),
        "the case without a result counts as not run: {cut_off:?}"
    );
    assert!(cut_off.error.contains("interrupted"), "{cut_off:?}");
    assert!(cut_off.finished_at.is_none());

    let done = client.get_run("gw-2").await.unwrap();
    assert_eq!((done.state.as_str(), done.passed), ("finished", 1));
    assert!(done.finished_at.is_some());

    let all: Vec<String> = client
        .list_runs(None, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.run_id)
        .collect();
    assert_eq!(
        all,
        ["gw-2", "gw-1"],
        "newest first; the unreadable record skipped"
    );
    let interrupted = client.list_runs(Some("interrupted"), 0).await.unwrap();
    assert_eq!(interrupted.len(), 1);
    assert_eq!(client.list_runs(None, 1).await.unwrap().len(), 1);
    let bogus = client.list_runs(Some("paused"), 0).await.unwrap_err();
    assert!(matches!(bogus, ClientError::Input { .. }), "{bogus:?}");

    // The durable part of the run, replayed: its results, then its end.
    let mut updates = Vec::new();
    client
        .watch_run("gw-1", 0, |seq, update| updates.push((seq, update)))
        .await
        .unwrap();
    let seqs: Vec<u64> = updates.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert!(matches!(
        &updates[1].1,
        meterlab_client::devices::RunUpdate::CaseFinished { case_id, status, .. }
            if case_id == "MT-ACT-002" && status == "blocked"
    ));
    assert!(matches!(
        &updates[2].1,
        meterlab_client::devices::RunUpdate::Finished(s) if s.state == "interrupted"
    ));

    let nothing = client.resume_run("gw-2").await.unwrap_err();
    assert_eq!(nothing.code(), Some(tonic::Code::FailedPrecondition));
    assert!(
        nothing.to_string().contains("nothing to resume"),
        "{nothing}"
    );
    let unknown = client.resume_run("gw-9").await.unwrap_err();
    assert_eq!(unknown.code(), Some(tonic::Code::NotFound));
    assert!(unknown.to_string().contains("resume_run_id"), "{unknown}");

    let _ = stop.send(());
    task.await.unwrap();
}
