//! `meterlab demo`: the whole system on one machine with the embedded defaults.
//!
//! It starts the gateway (ResultService and GovernanceService over an SQLite store) and an
//! emulator with one comms hub per SMETS1 installation state, both on loopback. Then, as a lab
//! would: it plans the EPCL entry and its phases over gRPC, registers and agrees the MT Depth &
//! Breadth document (the shipped MT suite's cases and content hashes), starts the MT phases,
//! runs the MT suite on each hub's devices through the production path — the runner, the built
//! DLMS adapter plugin, DLMS/COSEM over the TCP wrapper — streams every attempt to the
//! ResultService through `meterlab run`'s result sink (acknowledged only once durable), and asks
//! the governance core for the exit verdicts and a completion report. Nothing is simulated
//! beyond the meters themselves; the demo only orchestrates.

mod plan;
mod render;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, bail};
use meterlab_catalog::{Catalog, Mode, Phase};
use meterlab_emulator::SimTime;
use meterlab_emulator::hub::{Emulation, Endpoints};
use meterlab_emulator::scenario::{HubState, Scenario};
use meterlab_emulator::serve::Emulator;
use meterlab_emulator::serve::tcp::serve_tcp;
use meterlab_governance::model::Mode as InstallationMode;
use meterlab_runner::{
    DeviceTarget, DeviceUnit, DmcLibrary, LinkConnector, PlannedCase, RunEventKind, RunPlan,
    RunSettings, Runner, TestCase, Transport,
};

use self::plan::DemoPlan;
use super::run::report::Collected;
use super::run::sink::{Journal, ResultSink};

const STORE_FILE: &str = "meterlab.sqlite";
const DEFAULT_SCENARIO: &str = include_str!("../../../../../suites/scenarios/demo.toml");
const DEFAULT_PROFILE: &str = include_str!("../../../../../suites/profiles/illustrative.toml");
/// The shipped MT suite, built in so the demo runs from any directory (the DMC descriptions come
/// built in from `meterlab_dmc::SHIPPED`).
const MT_SUITE: [(&str, &str); 3] = [
    (
        "suites/mt/active.toml",
        include_str!("../../../../../suites/mt/active.toml"),
    ),
    (
        "suites/mt/dormant.toml",
        include_str!("../../../../../suites/mt/dormant.toml"),
    ),
    (
        "suites/mt/mixed.toml",
        include_str!("../../../../../suites/mt/mixed.toml"),
    ),
];

/// Run the gateway, an emulator and the MT suite together, and print the exit verdicts.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory for the SQLite store and the completion report: created if missing, and must
    /// not already hold a store (default: a new directory under the system temp dir).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Scenario file (TOML); default: the embedded `suites/scenarios/demo.toml`.
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Rule profile (TOML); default: the embedded illustrative profile.
    #[arg(long)]
    profile: Option<PathBuf>,
    /// Where the gateway listens (gRPC).
    #[arg(long, default_value = "127.0.0.1:0")]
    grpc_listen: SocketAddr,
    /// Adapter plugin; default: `libmeterlab_dlms_adapter.so` next to this binary.
    #[arg(long)]
    plugin: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let scenario = match &args.scenario {
        Some(path) => Scenario::load(path)?,
        None => Scenario::parse("suites/scenarios/demo.toml (embedded)", DEFAULT_SCENARIO)?,
    };
    let profile = match &args.profile {
        Some(path) => meterlab_server::load_profile_file(path)?,
        None => meterlab_governance::load_profile(
            "suites/profiles/illustrative.toml (embedded)",
            DEFAULT_PROFILE,
        )?,
    };
    let dir = match &args.dir {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!("meterlab-demo-{}", unix_millis())),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    if dir.join(STORE_FILE).exists() {
        bail!(
            "{} already holds a store: the demo plans its entries afresh, so give it a new --dir",
            dir.display()
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(demo(args, scenario, profile, dir))
}

#[allow(
    clippy::disallowed_methods,
    reason = "the binary names its demo run by the wall clock"
)]
fn unix_millis() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis())
}

async fn demo(
    args: Args,
    scenario: Scenario,
    profile: meterlab_governance::Profile,
    dir: PathBuf,
) -> anyhow::Result<()> {
    let db = dir.join(STORE_FILE);
    println!("meterlab demo — store {}", db.display());

    // The gateway.
    let gateway = meterlab_server::Gateway::open(meterlab_server::GatewayConfig {
        db: db.clone(),
        profile,
        limits: meterlab_server::StreamLimits::default(),
        store: meterlab_store::StoreConfig::default(),
    })
    .await?;
    let listener = meterlab_server::bind(args.grpc_listen).await?;
    let grpc_address = listener.local_addr()?;
    let (stop_gateway, stopped) = tokio::sync::oneshot::channel::<()>();
    let gateway_task = tokio::spawn(gateway.serve(listener, async {
        let _ = stopped.await;
    }));

    // The emulated devices.
    let start = scenario
        .start
        .unwrap_or_else(|| SimTime::from_millis(i64::try_from(unix_millis()).unwrap_or(0)));
    let emulation = Emulation::build(&scenario, start)?;
    let device_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot listen for the emulator")?;
    let device_address = device_listener.local_addr()?.to_string();
    let devices = emulation.devices_file(
        &Endpoints {
            tcp_address: Some(device_address.clone()),
            ..Endpoints::default()
        },
        &scenario,
    );
    let emulator_task = tokio::spawn(serve_tcp(Emulator::new(emulation, start), device_listener));
    println!(
        "gateway on {grpc_address}; {} emulated logical devices on {device_address}",
        devices.devices.len()
    );

    let suite = Catalog::parse_sources(&MT_SUITE)
        .map_err(|errors| anyhow::anyhow!("the built-in MT suite has problems:\n{errors}"))?;
    let plugin_path = match &args.plugin {
        Some(path) => path.clone(),
        None => super::run::input::default_plugin()?,
    };
    let plugin = Arc::new(
        meterlab_plugin_host::inspect_file(&plugin_path)
            .with_context(|| format!("plugin {} refused", plugin_path.display()))?,
    );
    let dmcs = DmcLibrary::from_texts(
        "suites/dmcs (built in)",
        meterlab_dmc::SHIPPED.map(|(id, text)| (id.to_owned(), text.to_owned())),
    );

    let plan = DemoPlan::from_scenario(&scenario)?;
    let client = meterlab_client::Client::connect(
        &format!("http://{grpc_address}"),
        &meterlab_client::ConnectOptions::default(),
    )
    .await?
    .with_actor("meterlab demo");
    plan::plan(&client, &plan, &suite).await?;

    // Run the MT suite hub by hub (one hub per installation mode), each as its own run whose
    // results belong to that mode's phase.
    let run_stamp = unix_millis();
    let mut collected = Collected::default();
    let mut total = meterlab_runner::RunSummary {
        run_id: format!("demo-{run_stamp}"),
        ..meterlab_runner::RunSummary::default()
    };
    let mut acknowledged = 0;
    for hub in &scenario.hubs {
        let mode = installation_mode(hub.state);
        let catalog_mode = match mode {
            InstallationMode::Dormant => Mode::Dormant,
            InstallationMode::Mixed => Mode::Mixed,
            InstallationMode::Active => Mode::Active,
        };
        let mut units = Vec::new();
        for device in devices.devices.iter().filter(|device| device.hub == hub.id) {
            let cases: Vec<PlannedCase> = suite
                .select(Some(Phase::Mt), Some(catalog_mode), Some(device.role))
                .into_iter()
                .map(|case| PlannedCase {
                    case: Arc::new(case.clone()) as Arc<dyn TestCase>,
                    attempts_before: 0,
                })
                .collect();
            if cases.is_empty() {
                continue;
            }
            let target =
                DeviceTarget::for_dlms(device, &dmcs, Transport::Tcp, None, &BTreeMap::new())?;
            units.push(DeviceUnit { target, cases });
        }
        let run_id = format!("demo-{run_stamp}-{}", hub.id);
        let phase = plan::phase(&plan.entry_for(&hub.dmc)?, mode);
        let journal = Journal::open(&dir.join("runs").join(format!("{run_id}.jsonl")))?;
        let mut sink = ResultSink::open(&client, &run_id, phase, journal).await?;
        let mut runner = Runner::new(
            Arc::clone(&plugin),
            LinkConnector::default(),
            RunSettings {
                jobs: 4,
                ..RunSettings::default()
            },
        );
        let mut events = runner.subscribe();
        let consume = async {
            let mut pushed = Ok(());
            while let Some(event) = events.recv().await {
                collected.take(&event);
                if let RunEventKind::CaseFinished(result) = &event.kind
                    && pushed.is_ok()
                {
                    pushed = sink.push(result).await;
                }
            }
            pushed
        };
        let (summary, pushed) = tokio::join!(runner.run(RunPlan { run_id, units }), consume);
        pushed?;
        total.cases_total += summary.cases_total;
        total.passed += summary.passed;
        total.failed += summary.failed;
        total.blocked += summary.blocked;
        total.not_run += summary.not_run;
        total.flaky += summary.flaky;
        acknowledged += sink.finish().await?.acknowledged;
    }
    // The summary of all three runs, not the last one's.
    collected.summary = Some(total);
    render::results(&collected);
    println!("\n{acknowledged} results acknowledged durable by the ResultService");

    let summary = plan::evaluate(&client, &plan, &dir).await?;
    render::verdicts(&summary);

    let _ = stop_gateway.send(());
    gateway_task.await.context("gateway task failed")??;
    emulator_task.abort();

    let store = meterlab_store::Store::open_sqlite(&db, meterlab_store::StoreConfig::default())?;
    match store.verify()? {
        meterlab_store::Verification::Intact { events, head } => println!(
            "\nevent log: {events} events, hash chain intact, head {}",
            head.map_or_else(|| "none".to_owned(), |head| hex::encode(head.hash))
        ),
        meterlab_store::Verification::Broken { seq, reason } => {
            bail!("event log hash chain broken at event {seq}: {reason}")
        }
    }
    println!("completion report: {}", summary.report_path.display());
    Ok(())
}

fn installation_mode(state: HubState) -> InstallationMode {
    match state {
        HubState::Active => InstallationMode::Active,
        HubState::Dormant => InstallationMode::Dormant,
        HubState::Mixed { .. } => InstallationMode::Mixed,
    }
}
