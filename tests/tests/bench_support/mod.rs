//! Shared by the tests that run `meterlab serve --config` with a bench: the DLMS adapter cargo
//! built next to the binary, a serve config that pins it by SHA-256 and names the emulator's
//! devices and the shipped suites, and the gateway process itself.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use meterlab_proto::v1 as pb;
use meterlab_proto::v1::governance_service_client::GovernanceServiceClient;
use meterlab_server::RESULTS_RUN;
use meterlab_store::Store;
use prost::Message as _;
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

use crate::run_support::workspace;

/// The DLMS adapter cargo built next to the binary.
pub fn adapter() -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_meterlab-e2e"));
    let dir = bin.parent().unwrap();
    [
        dir.join("libmeterlab_dlms_adapter.so"),
        dir.join("deps/libmeterlab_dlms_adapter.so"),
    ]
    .into_iter()
    .find(|p| p.is_file())
    .expect("libmeterlab_dlms_adapter.so is built with the binary")
}

/// The IEC 62056-21 (optical port) adapter cargo built next to the binary.
pub fn optical_adapter() -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_meterlab-e2e"));
    let dir = bin.parent().unwrap();
    [
        dir.join("libmeterlab_iec62056_21_adapter.so"),
        dir.join("deps/libmeterlab_iec62056_21_adapter.so"),
    ]
    .into_iter()
    .find(|p| p.is_file())
    .expect("libmeterlab_iec62056_21_adapter.so is built with the binary")
}

/// What a bench config may set beyond its defaults.
#[derive(Debug, Default)]
pub struct BenchOptions<'a> {
    /// `transport = "…"`; the config's default when `None`.
    pub transport: Option<&'a str>,
    /// `[limits] drain_s`; the config's default when `None`.
    pub drain_s: Option<u64>,
    /// A second plugin of `smso-north`, pinned with `port = "optical"`.
    pub optical_plugin: Option<&'a Path>,
    /// `isolation = "…"` of the (DLMS) plugin; in-process when `None`.
    pub isolation: Option<&'a str>,
}

/// Writes `dir/serve.toml`: `plugin` installed as the one (pinned) plugin of `smso-north`,
/// `devices`, the shipped suites, DMCs and illustrative profile.
pub fn write_bench_config(
    dir: &Path,
    devices: &Path,
    plugin: &Path,
    options: BenchOptions<'_>,
) -> PathBuf {
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let bytes = std::fs::read(plugin).unwrap();
    std::fs::write(plugins.join("libmeterlab_dlms_adapter.so"), &bytes).unwrap();
    let suites = workspace().join("suites");
    let mut config = format!(
        "db = \"lab.sqlite\"\nprofile = \"{profile}\"\nplugin_dir = \"plugins\"\n\
         devices = \"{devices}\"\nsuites = \"{suites}\"\ndmcs = \"{dmcs}\"\n",
        profile = suites.join("profiles/illustrative.toml").display(),
        devices = devices.display(),
        suites = suites.display(),
        dmcs = suites.join("dmcs").display(),
    );
    if let Some(transport) = options.transport {
        config.push_str(&format!("transport = \"{transport}\"\n"));
    }
    if let Some(drain_s) = options.drain_s {
        config.push_str(&format!("[limits]\ndrain_s = {drain_s}\n"));
    }
    config.push_str(&format!(
        "[[plugin]]\nfile = \"libmeterlab_dlms_adapter.so\"\nsha256 = \"{pin}\"\n\
         smso = [\"smso-north\"]\n",
        pin = hex::encode(Sha256::digest(&bytes)),
    ));
    if let Some(isolation) = options.isolation {
        config.push_str(&format!("isolation = \"{isolation}\"\n"));
    }
    if let Some(optical) = options.optical_plugin {
        let bytes = std::fs::read(optical).unwrap();
        let file = "libmeterlab_iec62056_21_adapter.so";
        std::fs::write(plugins.join(file), &bytes).unwrap();
        config.push_str(&format!(
            "[[plugin]]\nfile = \"{file}\"\nsha256 = \"{pin}\"\nsmso = [\"smso-north\"]\n\
             port = \"optical\"\n",
            pin = hex::encode(Sha256::digest(&bytes)),
        ));
    }
    let path = dir.join("serve.toml");
    std::fs::write(&path, config).unwrap();
    path
}

/// Starts `meterlab serve --config` on a free loopback port; returns it and its address.
pub async fn serve(config: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_meterlab-e2e"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(config)
        .env_remove("METERLAB_LOG")
        // A deliberately panicking adapter would fill the log with backtraces.
        .env("RUST_BACKTRACE", "0")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
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
    (child, addr)
}

/// The DMC of the bench's comms hub, and the entry the bench's runs record against.
pub const NORTH_DMC: &str = "acme-ch1-e470-g4";
pub const NORTH_ENTRY: &str = "MOC/smso-north/acme-ch1-e470-g4";

/// Runs the program (unaffected by the caller's gateway, token and log settings) to its end.
pub async fn meterlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meterlab-e2e"))
        .args(args)
        .env_remove("METERLAB_TOKEN_FILE")
        .env_remove("METERLAB_GATEWAY")
        .env_remove("METERLAB_LOG")
        .output()
        .await
        .unwrap()
}

/// What a finished command printed, for assertion messages.
pub fn said(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A command's `--output json` answer.
pub fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("not JSON ({error}): {}", said(output)))
}

/// A connected gRPC channel to the gateway at `url` (`http://…`).
pub async fn channel(url: String) -> tonic::transport::Channel {
    tonic::transport::Channel::from_shared(url)
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// Registers the MT active phase of [`NORTH_ENTRY`], which the bench's runs record against.
pub async fn plan_north_mt_active(channel: tonic::transport::Channel) {
    let phase = pb::PhaseKey {
        entry: Some(pb::EntryKey {
            release: pb::CapabilityRelease::Moc.into(),
            smso_id: "smso-north".into(),
            dmc_id: NORTH_DMC.into(),
        }),
        test_type: pb::TestType::Mt.into(),
        mode: pb::InstallationMode::Active.into(),
    };
    register_phase(channel, phase).await;
}

/// Every result stored for `source`, with its ingest seq. Read beside the running gateway,
/// which holds the store's writer lock.
pub fn stored_results(db: &Path, source: &str) -> Vec<(u64, pb::TestCaseResult)> {
    let store = Store::open_reader(db.to_str().unwrap()).unwrap();
    let mut found = Vec::new();
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
                let result = pb::SubmitResult::decode(event.payload.body.as_slice())
                    .unwrap()
                    .result
                    .unwrap();
                found.push((key.seq, result));
            }
        }
    }
    found
}

/// Registers the entry of `phase` (its DMC with one comms hub model) and the phase itself, so
/// a run's results have a planned phase to land in.
pub async fn register_phase(channel: tonic::transport::Channel, phase: pb::PhaseKey) {
    let mut gov = GovernanceServiceClient::new(channel);
    let dmc_id = phase
        .entry
        .as_ref()
        .map(|entry| entry.dmc_id.clone())
        .unwrap_or_default();
    gov.register_entry(pb::RegisterEntryRequest {
        entry: phase.entry.clone(),
        dmc: Some(pb::Dmc {
            id: dmc_id,
            models: vec![pb::DeviceModelRef {
                kind: pb::DeviceKind::CommsHub.into(),
                manufacturer: "Acme".into(),
                model: "ACME CH1".into(),
                firmware_version: "1.4.0".into(),
            }],
        }),
        meta: None,
    })
    .await
    .unwrap();
    gov.register_phase(pb::RegisterPhaseRequest {
        phase: Some(phase),
        ..Default::default()
    })
    .await
    .unwrap();
}

/// Starts a run on the gateway and watches it to its end: every finished attempt, in order, and
/// the summary it ends with.
pub async fn run_to_end(
    channel: tonic::transport::Channel,
    request: pb::StartRunRequest,
) -> (Vec<pb::TestCaseResult>, pb::RunSummary) {
    use meterlab_proto::v1::run_service_client::RunServiceClient;
    let mut runs = RunServiceClient::new(channel);
    let run_id = runs.start_run(request).await.unwrap().into_inner().run_id;
    let mut stream = runs
        .watch_run(pb::WatchRunRequest {
            run_id,
            after_seq: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let mut results = Vec::new();
    let mut summary = None;
    while let Some(event) = stream.message().await.unwrap() {
        match event.event {
            Some(pb::run_event::Event::CaseFinished(result)) => results.push(result),
            Some(pb::run_event::Event::Finished(finished)) => summary = Some(finished),
            _ => {}
        }
    }
    (results, summary.expect("the run ends with its summary"))
}
