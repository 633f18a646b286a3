//! `meterlab demo`: the whole system on one machine with the embedded defaults.
//!
//! It starts the gateway (ResultService and GovernanceService over an SQLite store) and an
//! emulator with one comms hub per SMETS1 installation state, both on loopback. Then, as a lab
//! would: it plans the EPCL entry and its phases over gRPC, registers and agrees the MT Depth &
//! Breadth document, starts the MT phases, executes the MT suite against every emulated meter
//! over DLMS/COSEM (TCP wrapper), streams each result to the ResultService (acknowledged only
//! once durable), and asks the governance core for the exit verdicts and a completion report.
//! Nothing is simulated beyond the meters themselves.

mod dlms_client;
mod grpc;
mod render;
mod suite;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use meterlab_devices::{Authentication, Device, DeviceRole};
use meterlab_emulator::SimTime;
use meterlab_emulator::hub::{Emulation, Endpoints};
use meterlab_emulator::scenario::{HubState, Scenario};
use meterlab_emulator::serve::Emulator;
use meterlab_emulator::serve::tcp::serve_tcp;
use meterlab_proto::v1::InstallationMode;

use self::grpc::{DemoPlan, GatewayClient, PlannedResult};

const STORE_FILE: &str = "meterlab.sqlite";
const DEFAULT_SCENARIO: &str = include_str!("../../../../../suites/scenarios/demo.toml");
const DEFAULT_PROFILE: &str = include_str!("../../../../../suites/profiles/illustrative.toml");

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

    let plan = DemoPlan::from_scenario(&scenario)?;
    let mut client = GatewayClient::connect(grpc_address).await?;
    client.plan(&plan).await?;

    // Execute the suite, hub by hub (one hub per installation mode).
    let mut results = Vec::new();
    for hub in &scenario.hubs {
        let mode = installation_mode(hub.state);
        for device in devices.devices.iter().filter(|device| {
            device.hub == hub.id && matches!(device.role, DeviceRole::Esme | DeviceRole::Gsme)
        }) {
            let (sap, password) = lls_access(device)?;
            for case in &suite::CASES {
                let outcome = suite::run_case(case, device, &device_address, sap, &password).await;
                results.push(PlannedResult {
                    entry: plan.entry_for(&hub.dmc)?,
                    mode,
                    case: *case,
                    device: device.clone(),
                    outcome,
                });
            }
        }
    }
    let acks = client.stream_results(&results).await?;
    render::results_table(&results);
    println!("\n{acks} results acknowledged durable by the ResultService");

    let summary = client.evaluate(&plan, &dir).await?;
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

fn lls_access(device: &Device) -> anyhow::Result<(u8, String)> {
    for access in &device.clients {
        if access.authentication == Authentication::Lls
            && !access.ciphered
            && let Some(password) = &access.password
        {
            return Ok((access.sap, password.clone()));
        }
    }
    bail!(
        "device {} offers no unciphered LLS client: the demo needs one",
        device.name
    )
}
