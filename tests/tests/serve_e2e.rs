//! End to end with the real `meterlab serve` binary: stream results, SIGKILL the server in the
//! middle of the stream, restart it on the same store, resume from the watermark, and find every
//! acknowledged result stored exactly once. Also: SIGTERM stops the server gracefully.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use meterlab_proto::v1 as pb;
use meterlab_proto::v1::governance_service_client::GovernanceServiceClient;
use meterlab_proto::v1::result_service_client::ResultServiceClient;
use meterlab_server::RESULTS_RUN;
use meterlab_store::{Store, StoreConfig};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

const TOTAL: u64 = 300;
const KILL_AFTER_ACKS: u64 = 60;
/// Results sent and not yet acknowledged, at most.
const WINDOW: usize = 128;

/// The `meterlab` program cargo built for this test (see the crate README).
fn meterlab_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_meterlab-e2e"))
}

fn profile_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../suites/profiles/illustrative.toml")
}

/// Starts `meterlab serve` on a free port and returns it with the address it listens on.
fn serve(binary: &Path, db: &Path) -> (Child, String) {
    let mut child = Command::new(binary)
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .arg("--profile")
        .arg(profile_file())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("meterlab serve: listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in stdout.lines() {});
    (child, addr)
}

async fn connect(addr: &str) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

fn submit(seq: u64) -> pb::ResultStreamRequest {
    let phase = pb::PhaseKey {
        entry: Some(entry()),
        test_type: pb::TestType::Mt.into(),
        mode: pb::InstallationMode::Active.into(),
    };
    pb::ResultStreamRequest {
        kind: Some(pb::result_stream_request::Kind::Result(pb::SubmitResult {
            key: Some(pb::ResultKey {
                source: "e2e".into(),
                run_id: "run-1".into(),
                seq,
            }),
            result: Some(pb::TestCaseResult {
                phase: Some(phase),
                case_id: format!("E-{seq:04}"),
                case_content_sha256: vec![1; 32],
                device_id: "esme-1".into(),
                attempt: 1,
                status: pb::CaseStatus::Passed.into(),
                ..Default::default()
            }),
        })),
    }
}

fn entry() -> pb::EntryKey {
    pb::EntryKey {
        release: pb::CapabilityRelease::Moc.into(),
        smso_id: "smso-e2e".into(),
        dmc_id: "dmc-e2e".into(),
    }
}

async fn setup(channel: Channel) {
    let mut gov = GovernanceServiceClient::new(channel);
    gov.register_entry(pb::RegisterEntryRequest {
        entry: Some(entry()),
        dmc: Some(pb::Dmc {
            id: "dmc-e2e".into(),
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
        phase: Some(pb::PhaseKey {
            entry: Some(entry()),
            test_type: pb::TestType::Mt.into(),
            mode: pb::InstallationMode::Active.into(),
        }),
        ..Default::default()
    })
    .await
    .unwrap();
}

/// Streams seqs `from..=TOTAL`; returns the acknowledged seqs (in order) once the stream ends or
/// `on_ack` says stop.
async fn stream(
    channel: Channel,
    from: u64,
    mut on_ack: impl FnMut(u64) -> bool,
) -> (u64, Vec<u64>) {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tx.send(pb::ResultStreamRequest {
        kind: Some(pb::result_stream_request::Kind::Open(pb::OpenStream {
            source: "e2e".into(),
        })),
    })
    .await
    .unwrap();
    // A client window below the server's max_in_flight (256): without it a slow commit (the
    // machine is shared) lets more than 256 results go unanswered and they are refused as
    // OVERLOADED.
    let window = std::sync::Arc::new(tokio::sync::Semaphore::new(WINDOW));
    let credit = window.clone();
    let sender = tokio::spawn(async move {
        for seq in from..=TOTAL {
            let Ok(permit) = credit.acquire().await else {
                break;
            };
            permit.forget();
            if tx.send(submit(seq)).await.is_err() {
                break;
            }
        }
        // Keep the request stream open until the answers are read.
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let mut responses = ResultServiceClient::new(channel)
        .stream_results(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let mut opened_at = 0;
    let mut acked = Vec::new();
    // The stream ends with an error when the server dies: everything acknowledged so far must
    // survive it.
    while let Ok(Some(response)) = responses.message().await {
        match response.kind.unwrap() {
            pb::result_stream_response::Kind::Opened(o) => {
                opened_at = o.watermark.unwrap().acked_seq;
                if from > TOTAL {
                    break;
                }
            }
            pb::result_stream_response::Kind::Ack(ack) => {
                window.add_permits(1);
                let seq = ack.key.unwrap().seq;
                acked.push(seq);
                if !on_ack(seq) || seq == TOTAL {
                    break;
                }
            }
            pb::result_stream_response::Kind::Rejection(r) => {
                panic!("unexpected rejection {r:?}")
            }
        }
    }
    sender.abort();
    (opened_at, acked)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_then_resume_from_the_watermark_stores_every_ack_exactly_once() {
    let binary = meterlab_binary();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("lab.db");

    let (mut first, addr) = serve(&binary, &db);
    let channel = connect(&addr).await;
    setup(channel.clone()).await;
    let pid = first.id();
    let mut killed = false;
    let (opened_at, acked_before) = stream(channel, 1, |seq| {
        if seq == KILL_AFTER_ACKS && !killed {
            // SIGKILL: no shutdown, no checkpoint, whatever was in flight is lost unacked.
            first.kill().unwrap();
            killed = true;
        }
        true
    })
    .await;
    first.wait().unwrap();
    assert_eq!(opened_at, 0);
    assert!(killed, "server {pid} was never killed");
    assert!(acked_before.len() as u64 >= KILL_AFTER_ACKS);
    assert!(
        acked_before.windows(2).all(|w| w[1] == w[0] + 1),
        "acks are contiguous and in order"
    );
    let last_acked = *acked_before.last().unwrap();

    let (mut second, addr) = serve(&binary, &db);
    let channel = connect(&addr).await;
    let watermark = ResultServiceClient::new(channel.clone())
        .get_watermark(pb::GetWatermarkRequest {
            source: "e2e".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .acked_seq;
    assert!(
        watermark >= last_acked,
        "acknowledged seq {last_acked} lost: watermark after restart is {watermark}"
    );
    let (opened_at, acked_after) = stream(channel, watermark + 1, |_| true).await;
    assert_eq!(opened_at, watermark);
    if watermark < TOTAL {
        assert_eq!(acked_after.first(), Some(&(watermark + 1)));
        assert_eq!(acked_after.last(), Some(&TOTAL));
    }

    // SIGTERM: a graceful stop that records a projection checkpoint.
    let status = Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        second.wait().unwrap().success(),
        "meterlab serve failed on SIGTERM"
    );

    let store = Store::open_sqlite(&db, StoreConfig::default()).unwrap();
    let mut seqs = Vec::new();
    let mut from = 1;
    loop {
        let page = store.read_range(from, 1000).unwrap();
        let Some(last) = page.last() else { break };
        from = last.seq + 1;
        seqs.extend(
            page.iter()
                .filter_map(|e| e.key.as_ref())
                .filter(|k| k.source == "e2e" && k.run == RESULTS_RUN)
                .map(|k| k.seq),
        );
    }
    let expected: Vec<u64> = (1..=TOTAL).collect();
    assert_eq!(seqs, expected, "every result stored exactly once, in order");
    let verification = store.verify().unwrap();
    assert!(
        matches!(verification, meterlab_store::Verification::Intact { .. }),
        "{verification:?}"
    );
}
