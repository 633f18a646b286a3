//! Store-and-forward end to end on real processes (issue 13): two central `meterlab serve`
//! replicas on one throwaway PostgreSQL database, one lab gateway (`serve --upstream A
//! --upstream B`, SQLite outbox), and a client streaming results into the lab gateway. Mid-stream
//! each process is killed with SIGKILL in turn (central A, the lab gateway, central B — which
//! leaves the central side down for a while — and the client's stream, abandoned without a
//! goodbye), and restarted. At the end every result the lab acknowledged is stored exactly once
//! centrally, `meterlab store verify` passes on both stores, and both replicas give identical
//! verdicts and status.
//!
//! The replicas' projections follow the shared log (crates/server/src/replica.rs), so the
//! verdicts are compared live, without restarting them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../crates/store/tests/support/postgres.rs"]
mod pg;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use meterlab_client::{Client, ConnectOptions, ResultStreamer};
use meterlab_proto::v1 as pb;
use meterlab_proto::v1::governance_service_client::GovernanceServiceClient;
use meterlab_server::RESULTS_RUN;
use prost::Message as _;

const SOURCE: &str = "rig-e2e";
const TOTAL: u64 = 240;
const ENTRY: &str = "MOC/smso-up/dmc-up";

fn meterlab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_meterlab-e2e"))
}

fn profile_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../suites/profiles/illustrative.toml")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One `meterlab serve` process on a fixed port, restartable on the same port and store.
struct Serve {
    name: &'static str,
    args: Vec<String>,
    port: u16,
    child: Option<Child>,
}

impl Serve {
    fn new(name: &'static str, db: &str, extra: &[String]) -> Serve {
        let port = free_port();
        let mut args: Vec<String> = vec![
            "serve".into(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--db".into(),
            db.into(),
            "--profile".into(),
            profile_file().display().to_string(),
        ];
        args.extend_from_slice(extra);
        let mut serve = Serve {
            name,
            args,
            port,
            child: None,
        };
        serve.start();
        serve
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn start(&mut self) {
        let mut child = meterlab()
            .args(&self.args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        loop {
            let mut line = String::new();
            assert!(
                stdout.read_line(&mut line).unwrap() > 0,
                "{} exited before listening",
                self.name
            );
            if line.starts_with("meterlab serve: listening on ") {
                break;
            }
        }
        std::thread::spawn(move || for _ in stdout.lines() {});
        self.child = Some(child);
    }

    fn kill_9(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// SIGTERM: a graceful stop (drain, checkpoint).
    fn stop(&mut self) {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = child.wait().unwrap();
        assert!(exit.success(), "{} stopped with {exit}", self.name);
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn entry() -> pb::EntryKey {
    pb::EntryKey {
        release: pb::CapabilityRelease::Moc.into(),
        smso_id: "smso-up".into(),
        dmc_id: "dmc-up".into(),
    }
}

fn phase() -> pb::PhaseKey {
    pb::PhaseKey {
        entry: Some(entry()),
        test_type: pb::TestType::Mt.into(),
        mode: pb::InstallationMode::Active.into(),
    }
}

async fn plan_entry(url: &str) {
    let channel = tonic::transport::Channel::from_shared(url.to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut gov = GovernanceServiceClient::new(channel);
    gov.register_entry(pb::RegisterEntryRequest {
        entry: Some(entry()),
        dmc: Some(pb::Dmc {
            id: "dmc-up".into(),
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

fn result(seq: u64) -> Vec<u8> {
    let status = if seq.is_multiple_of(7) {
        pb::CaseStatus::Failed
    } else {
        pb::CaseStatus::Passed
    };
    pb::TestCaseResult {
        phase: Some(phase()),
        case_id: format!("MT-{:03}", seq % 5 + 1),
        case_content_sha256: vec![1; 32],
        device_id: "esme-1".into(),
        attempt: u32::try_from(seq).unwrap(),
        status: status.into(),
        ..Default::default()
    }
    .encode_to_vec()
}

/// Streams results 1..=TOTAL into the lab gateway, resuming from its watermark whenever the
/// stream gives up (the lab gateway is down for longer than the streamer's own retries) and
/// when told to abandon its stream (the client "crashing"). Publishes how far it has sent, and
/// returns the lab's final watermark.
async fn stream_into_lab(url: String, sent: Arc<AtomicU64>, abandon: Arc<AtomicU64>) -> u64 {
    let mut abandoned = 0;
    loop {
        let Ok(client) = Client::connect(&url, &ConnectOptions::default()).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let Ok(mut streamer) = ResultStreamer::open(&client, SOURCE, "run-e2e").await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let mut broken = false;
        for seq in streamer.watermark() + 1..=TOTAL {
            if streamer.resubmit(seq, &result(seq)).await.is_err() {
                broken = true;
                break;
            }
            sent.fetch_max(seq, Ordering::SeqCst);
            if abandon.load(Ordering::SeqCst) > abandoned {
                abandoned += 1;
                broken = true;
                break;
            }
            // Paced so that the kills land mid-stream.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if broken {
            continue;
        }
        match streamer.finish().await {
            Ok(stats) => return stats.watermark,
            Err(_) => continue,
        }
    }
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..600 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} never happened");
}

/// `meterlab ARGS --output json`, which must succeed.
fn json(args: &[&str]) -> serde_json::Value {
    json_exiting(args, 0)
}

/// `meterlab ARGS --output json`, which must exit with `code` (3: a verdict that is not an exit).
fn json_exiting(args: &[&str], code: i32) -> serde_json::Value {
    let output = meterlab()
        .args(args)
        .args(["--output", "json"])
        .output()
        .unwrap();
    assert!(
        output.status.code() == Some(code),
        "meterlab {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn outbox(lab: &Serve) -> serde_json::Value {
    json(&["status", "--gateway", &lab.url()])["outbox"].clone()
}

fn verify(db: &str) {
    let output = meterlab()
        .args(["store", "verify", "--db", db])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "store verify {db}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_result_a_lab_gateway_acknowledged_is_stored_once_centrally_through_kills() {
    let database = pg::fresh_database();
    let mut central_a = Serve::new("central A", &database, &[]);
    plan_entry(&central_a.url()).await;
    // Started after the planning so that its projection (rebuilt at start) knows the phase.
    let mut central_b = Serve::new("central B", &database, &[]);

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lab.toml");
    std::fs::write(
        &config,
        format!(
            "[upstream]\nurl = [{:?}, {:?}]\nbackoff_first_ms = 50\nbackoff_max_ms = 400\n",
            central_a.url(),
            central_b.url()
        ),
    )
    .unwrap();
    let lab_db = dir.path().join("lab.sqlite").display().to_string();
    let mut lab = Serve::new(
        "lab gateway",
        &lab_db,
        &["--config".into(), config.display().to_string()],
    );

    // Governance lives upstream: the lab gateway refuses it, naming the central URL.
    let refused = meterlab()
        .args(["status", "--entry", ENTRY, "--gateway", &lab.url()])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains(&central_a.url()), "{message}");

    let sent = Arc::new(AtomicU64::new(0));
    let abandon = Arc::new(AtomicU64::new(0));
    let client = tokio::spawn(stream_into_lab(lab.url(), sent.clone(), abandon.clone()));
    let at = |n: u64| {
        let sent = sent.clone();
        move || sent.load(Ordering::SeqCst) >= n
    };

    until("40 results sent", at(40)).await;
    central_a.kill_9();
    until("80 results sent", at(80)).await;
    lab.kill_9();
    lab.start();
    until("120 results sent", at(120)).await;
    abandon.fetch_add(1, Ordering::SeqCst);
    until("140 results sent", at(140)).await;
    central_b.kill_9();
    assert!(
        sent.load(Ordering::SeqCst) < TOTAL,
        "every kill must land mid-stream"
    );
    // The whole central side is down: the lab keeps acknowledging into its outbox.
    until("170 results sent", at(170)).await;
    // `meterlab status` on the lab gateway shows the backlog and why forwarding fails.
    let mut during = serde_json::Value::Null;
    until("the outage shown by meterlab status", || {
        during = outbox(&lab);
        during["last_error"].is_string() && during["backlog"].as_u64().is_some_and(|b| b > 0)
    })
    .await;
    let shown = during["last_error"].as_str().unwrap();
    assert!(
        shown.contains("127.0.0.1"),
        "the error names the upstream URL: {shown}"
    );
    central_a.start();
    central_b.start();
    assert_eq!(
        client.await.unwrap(),
        TOTAL,
        "the lab acknowledged every result"
    );

    let mut last = serde_json::Value::Null;
    until("the outbox drained", || {
        last = outbox(&lab);
        last["backlog"] == 0 && last["sources"][0]["confirmed"] == TOTAL
    })
    .await;
    assert_eq!(last["sources"][0]["upstream_watermark"], TOTAL, "{last}");
    assert!(last["last_forward"]["url"].is_string(), "{last}");

    // Exactly once centrally: every seq of the source, once.
    let reader = meterlab_store::Store::open_reader(&database).unwrap();
    let events = reader.read_range(1, usize::MAX).unwrap();
    let mut seqs: Vec<u64> = events
        .iter()
        .filter_map(|e| e.key.as_ref())
        .filter(|k| k.source == SOURCE && k.run == RESULTS_RUN)
        .map(|k| k.seq)
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=TOTAL).collect::<Vec<_>>());
    drop(reader);

    lab.stop();
    verify(&lab_db);
    verify(&database);

    // Both replicas follow the shared log (LISTEN/NOTIFY, and every request first syncs to the
    // committed head), so they answer alike without a restart.
    let status_a = json(&["status", "--entry", ENTRY, "--gateway", &central_a.url()]);
    let status_b = json(&["status", "--entry", ENTRY, "--gateway", &central_b.url()]);
    assert_eq!(status_a, status_b);
    // Both answer at the same log position, which holds the plan and every forwarded result.
    assert!(
        status_a["log_position"].as_u64().unwrap() >= TOTAL + 2,
        "{status_a}"
    );
    let entry = |url: &str| json_exiting(&["entry", "--entry", ENTRY, "--gateway", url], 3);
    let exit_a = entry(&central_a.url());
    let exit_b = entry(&central_b.url());
    assert_eq!(exit_a["outcome"], "not_met", "{exit_a}");
    assert_eq!(exit_a, exit_b);
    // And they stop cleanly after all the kills.
    central_a.stop();
    central_b.stop();
}
