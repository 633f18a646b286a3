//! Verdict latency on a replica: `EvaluatePhase` over gRPC (loopback) on a gateway whose log holds
//! N results (default 1,000,000; `METERLAB_BENCH_RESULTS` overrides), on PostgreSQL — asked of a
//! second replica that rebuilt its projection from the shared log, each request first reading
//! the log's head from the database (the replica consistency rule) — against the same projection
//! on SQLite, in the same run. `verdict/postgres-replica ÷ verdict/sqlite` is the price of the
//! shared log on a read.
//!
//! The results are appended straight to the store (1,024 per submission) after the phase is
//! registered through the GovernanceService, so loading does not dominate the run.
//!
//! Run: `.ci/postgres` once, then `cargo bench -p meterlab-server --bench replica_verdict`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../store/tests/support/postgres.rs"]
mod pg;

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use futures::StreamExt;
use meterlab_governance::load_profile;
use meterlab_governance::profile::ILLUSTRATIVE_TOML;
use meterlab_proto::v1 as pb;
use meterlab_proto::v1::governance_service_client::GovernanceServiceClient;
use meterlab_server::convert::result::{RESULT_KIND, content_body};
use meterlab_server::{Gateway, Ledger, StreamLimits};
use meterlab_store::{IngestKey, NewEvent, Payload, Store, StoreConfig};
use tokio::sync::oneshot;
use tonic::transport::Channel;

const DEFAULT_RESULTS: u64 = 1_000_000;
const CASES: u64 = 1_000;
const SUBMISSION: u64 = 1_024;

fn results() -> u64 {
    std::env::var("METERLAB_BENCH_RESULTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_RESULTS)
}

fn entry() -> pb::EntryKey {
    pb::EntryKey {
        release: pb::CapabilityRelease::Ioc.into(),
        smso_id: "smso-bench".into(),
        dmc_id: "dmc-bench".into(),
    }
}

fn phase() -> pb::PhaseKey {
    pb::PhaseKey {
        entry: Some(entry()),
        test_type: pb::TestType::Mt.into(),
        mode: pb::InstallationMode::Active.into(),
    }
}

/// Result `i`: one of [`CASES`] cases, attempts numbered on, alternately passed and failed.
fn result(i: u64) -> pb::TestCaseResult {
    let status = if i.is_multiple_of(2) {
        pb::CaseStatus::Passed
    } else {
        pb::CaseStatus::Failed
    };
    pb::TestCaseResult {
        phase: Some(phase()),
        case_id: format!("C{}", i % CASES),
        case_content_sha256: vec![7; 32],
        device_id: "esme-1".into(),
        attempt: u32::try_from(i / CASES + 1).unwrap(),
        status: status.into(),
        evidence_sha256: vec![9; 32],
        srv: "4.1.1".into(),
        ..Default::default()
    }
}

struct Served {
    channel: Channel,
    ledger: Arc<Ledger>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

async fn serve(store: Store) -> Served {
    let profile = load_profile("illustrative.toml", ILLUSTRATIVE_TOML).unwrap();
    let gateway = Gateway::with_store(store, profile, StreamLimits::default())
        .await
        .unwrap();
    let ledger = gateway.ledger().clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        gateway
            .serve(listener, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    Served {
        channel,
        ledger,
        stop,
        task,
    }
}

async fn register(channel: Channel) {
    let mut gov = GovernanceServiceClient::new(channel);
    gov.register_entry(pb::RegisterEntryRequest {
        entry: Some(entry()),
        dmc: Some(pb::Dmc {
            id: "dmc-bench".into(),
            models: vec![pb::DeviceModelRef {
                kind: pb::DeviceKind::CommsHub.into(),
                manufacturer: "Acme".into(),
                model: "CH-1".into(),
                firmware_version: "1.0".into(),
            }],
        }),
        meta: None,
    })
    .await
    .unwrap();
    gov.register_phase(pb::RegisterPhaseRequest {
        phase: Some(phase()),
        ..Default::default()
    })
    .await
    .unwrap();
}

/// Appends `n` results under one run, four submissions in flight.
async fn load(store: &Store, n: u64) {
    let started = tokio::time::Instant::now();
    let submissions = (0..n.div_ceil(SUBMISSION)).map(|chunk| {
        let store = store.clone();
        async move {
            let events = (chunk * SUBMISSION..((chunk + 1) * SUBMISSION).min(n))
                .map(|i| NewEvent {
                    key: Some(IngestKey::new("bench", "run", i + 1)),
                    payload: Payload::new(RESULT_KIND, content_body("run", &result(i))),
                    timestamp_ms: 0,
                })
                .collect();
            for outcome in store.submit(events).await.unwrap() {
                outcome.unwrap();
            }
        }
    });
    futures::stream::iter(submissions)
        .buffer_unordered(4)
        .collect::<Vec<()>>()
        .await;
    eprintln!(
        "{}: loaded {n} results in {:.1} s",
        store.location(),
        started.elapsed().as_secs_f64()
    );
}

async fn evaluate(channel: &Channel) -> pb::Verdict {
    GovernanceServiceClient::new(channel.clone())
        .evaluate_phase(pb::EvaluatePhaseRequest {
            phase: Some(phase()),
            profile: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
}

fn bench_verdicts(c: &mut Criterion) {
    let n = results();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();

    // SQLite: one gateway, results appended through its store, projection caught up.
    let sqlite = runtime.block_on(async {
        let path = dir.path().join("verdict.db");
        let store = Store::open_sqlite(&path, StoreConfig::default()).unwrap();
        let served = serve(store.clone()).await;
        register(served.channel.clone()).await;
        load(&store, n).await;
        let ledger = served.ledger.clone();
        tokio::task::spawn_blocking(move || ledger.sync().unwrap())
            .await
            .unwrap();
        served
    });

    // PostgreSQL: replica A registers, the results are appended, replica B starts on the same
    // database (rebuilding its projection from the log) and answers.
    let url = pg::fresh_database();
    let postgres = runtime.block_on(async {
        let open = |url: String| {
            tokio::task::spawn_blocking(move || Store::open_url(&url, StoreConfig::default()))
        };
        let a = serve(open(url.clone()).await.unwrap().unwrap()).await;
        register(a.channel.clone()).await;
        let store = a.ledger.store().clone();
        load(&store, n).await;
        let _ = a.stop.send(());
        a.task.await.unwrap();
        drop((a.channel, a.ledger, store));
        let started = tokio::time::Instant::now();
        let b = serve(open(url.clone()).await.unwrap().unwrap()).await;
        eprintln!(
            "replica B rebuilt its projection of {n} results in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        b
    });

    let (on_sqlite, on_postgres) = runtime.block_on(async {
        (
            evaluate(&sqlite.channel).await,
            evaluate(&postgres.channel).await,
        )
    });
    assert_eq!(
        on_sqlite.criteria, on_postgres.criteria,
        "the two backends project different verdicts"
    );

    let mut group = c.benchmark_group("replica_verdict");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    group.bench_function(format!("verdict/sqlite/results={n}"), |b| {
        b.iter(|| runtime.block_on(evaluate(&sqlite.channel)))
    });
    group.bench_function(format!("verdict/postgres-replica/results={n}"), |b| {
        b.iter(|| runtime.block_on(evaluate(&postgres.channel)))
    });
    group.finish();
}

criterion_group!(benches, bench_verdicts);
criterion_main!(benches);
