//! `meterlab demo`: the whole system on one machine with the embedded defaults, telling a story.
//!
//! It starts the gateway (ResultService and GovernanceService over an SQLite store) and an
//! emulator (`suites/scenarios/demo.toml`: two SMSOs, one DMC each, a hub per installation state
//! of each, a flaky link and a silent hub), both on loopback. The story
//! (`suites/scenarios/stories/demo.toml`) adds a wrong firmware version in the migration inventory,
//! the runner's timeouts and retries, and the de-scopes. Then, as a lab would, through the typed
//! client: it plans both EPCL entries and their phases, agrees the MT and SIT Depth & Breadth
//! documents, runs the MT and SIT suites for every phase through the production path (the
//! runner, the built DLMS adapter plugin, DLMS/COSEM over the TCP wrapper, every attempt
//! acknowledged durable by the ResultService), raises a Testing Issue for each failed case at
//! its suggested severity, asks for the de-scopes, evaluates every exit, and writes the
//! completion report and the sealed evidence bundle. Nothing is simulated beyond the meters
//! themselves; the demo only orchestrates.

mod execute;
mod issues;
mod plan;
mod render;
mod story;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use meterlab_catalog::Catalog;
use meterlab_emulator::SimTime;
use meterlab_emulator::hub::{Emulation, Endpoints};
use meterlab_emulator::scenario::{HubState, Scenario};
use meterlab_emulator::serve::Emulator;
use meterlab_emulator::serve::tcp::serve_tcp;
use meterlab_governance::model::Mode as InstallationMode;
use meterlab_runner::DmcLibrary;

use self::execute::{Bench, PhaseRun};
use self::plan::DemoPlan;
use self::story::Story;

const STORE_FILE: &str = "meterlab.sqlite";
const DEFAULT_SCENARIO: &str = include_str!("../../../../../suites/scenarios/demo.toml");
const DEFAULT_STORY: &str = include_str!("../../../../../suites/scenarios/stories/demo.toml");
const DEFAULT_PROFILE: &str = include_str!("../../../../../suites/profiles/illustrative.toml");
/// The shipped MT and SIT suites, built in so the demo runs from any directory (the DMC
/// descriptions come built in from `meterlab_dmc::SHIPPED`).
const SUITE: [(&str, &str); 10] = [
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
    (
        "suites/sit/clock.toml",
        include_str!("../../../../../suites/sit/clock.toml"),
    ),
    (
        "suites/sit/firmware.toml",
        include_str!("../../../../../suites/sit/firmware.toml"),
    ),
    (
        "suites/sit/logs.toml",
        include_str!("../../../../../suites/sit/logs.toml"),
    ),
    (
        "suites/sit/optical.toml",
        include_str!("../../../../../suites/sit/optical.toml"),
    ),
    (
        "suites/sit/reads.toml",
        include_str!("../../../../../suites/sit/reads.toml"),
    ),
    (
        "suites/sit/security.toml",
        include_str!("../../../../../suites/sit/security.toml"),
    ),
    (
        "suites/sit/supply.toml",
        include_str!("../../../../../suites/sit/supply.toml"),
    ),
];

/// Plan two EPCL entries, run the MT and SIT suites on emulated devices with injected faults,
/// raise issues, de-scope, evaluate every exit, and write the report and the evidence bundle.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory for the SQLite store, the report and the evidence bundle: created if missing,
    /// and must not already hold a store (default: a new directory under the system temp dir).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Scenario file (TOML: devices and line faults); default: the embedded
    /// `suites/scenarios/demo.toml`.
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Story file (TOML: phases, inventory errors, timeouts, de-scopes); default: the embedded
    /// `suites/scenarios/stories/demo.toml`.
    #[arg(long)]
    story: Option<PathBuf>,
    /// Run only these phases of the story (e.g. `--phase mt.active`; repeatable).
    #[arg(long = "phase", value_name = "PHASE")]
    phases: Vec<String>,
    /// Print the story (entries, phases, hubs and faults, inventory errors, de-scopes) and stop.
    #[arg(long)]
    plan_only: bool,
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
    let mut story = match &args.story {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the story {}", path.display()))?;
            Story::parse(&path.display().to_string(), &text, &scenario)?
        }
        None => Story::parse(
            "suites/scenarios/stories/demo.toml (embedded)",
            DEFAULT_STORY,
            &scenario,
        )?,
    };
    if !args.phases.is_empty() {
        story.only(&args.phases)?;
    }
    let plan = DemoPlan::new(&scenario, &story.phases)?;
    if args.plan_only {
        render::story(&scenario, &story, &plan);
        return Ok(());
    }
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
    runtime.block_on(demo(
        args,
        Setup {
            scenario,
            story,
            plan,
            profile,
        },
        dir,
    ))
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

/// What the demo tells, validated before anything starts.
struct Setup {
    scenario: Scenario,
    story: Story,
    plan: DemoPlan,
    profile: meterlab_governance::Profile,
}

async fn demo(args: Args, setup: Setup, dir: PathBuf) -> anyhow::Result<()> {
    let Setup {
        scenario,
        story,
        plan,
        profile,
    } = setup;
    let clock = tokio::time::Instant::now();
    let db = dir.join(STORE_FILE);
    println!("meterlab demo — everything goes to {}", dir.display());
    render::story(&scenario, &story, &plan);

    // The gateway.
    let gateway = meterlab_server::Gateway::open(meterlab_server::GatewayConfig {
        db: db.clone(),
        profile: profile.clone(),
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

    // The emulated devices, and the migration inventory the runner reads (with its errors).
    let start = scenario
        .start
        .unwrap_or_else(|| SimTime::from_millis(i64::try_from(unix_millis()).unwrap_or(0)));
    let emulation = Emulation::build(&scenario, start)?;
    let device_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot listen for the emulator")?;
    let device_address = device_listener.local_addr()?.to_string();
    let mut devices = emulation.devices_file(
        &Endpoints {
            tcp_address: Some(device_address.clone()),
            ..Endpoints::default()
        },
        &scenario,
    );
    story.falsify_inventory(&mut devices)?;
    let emulator_task = tokio::spawn(serve_tcp(Emulator::new(emulation, start), device_listener));
    println!(
        "\n[1/6] gateway on {grpc_address}; {} emulated logical devices on {device_address}",
        devices.devices.len()
    );

    let suite = Catalog::parse_sources(&SUITE)
        .map_err(|errors| anyhow::anyhow!("the built-in suites have problems:\n{errors}"))?;
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
    let client = meterlab_client::Client::connect(
        &format!("http://{grpc_address}"),
        &meterlab_client::ConnectOptions::default(),
    )
    .await?
    .with_actor("meterlab demo");
    plan::plan(&client, &plan, &suite).await?;
    let phases: Vec<_> = plan.phases().collect();
    println!(
        "      planned {} entries; MT and SIT Depth & Breadth agreed; {} phases started [{:.1} s]",
        plan.entries.len(),
        phases.len(),
        clock.elapsed().as_secs_f64()
    );

    println!("\n[2/6] running the suites, phase by phase, on the hub in each phase's state");
    let bench = Bench {
        client: &client,
        plugin: &plugin,
        dmcs: &dmcs,
        suite: &suite,
        devices: &devices,
        story: &story,
        dir: &dir,
        run_stamp: unix_millis(),
    };
    let mut runs: Vec<PhaseRun> = Vec::new();
    for phase in &phases {
        for hub in scenario.hubs.iter().filter(|hub| {
            hub.dmc == phase.entry.dmc.as_str() && installation_mode(hub.state) == phase.kind.mode
        }) {
            runs.push(execute::run_phase(&bench, phase, hub).await?);
        }
    }
    let acknowledged: u64 = runs.iter().map(|run| run.acknowledged).sum();
    println!(
        "      {acknowledged} results acknowledged durable by the ResultService; what did not \
         pass:"
    );
    render::not_passed(&runs);

    println!("\n[3/6] raising a Testing Issue for every failed case");
    let raised = issues::raise_for_failures(&client, &suite, &runs).await?;
    if raised.is_empty() {
        println!("  no case failed");
    }
    println!("\n[4/6] asking for the story's de-scopes");
    let (accepted, refused) = issues::request_descopes(&client, &phases, &story.descopes).await?;
    println!("  {accepted} de-scope(s) accepted, {refused} refused");

    println!("\n[5/6] evaluating every exit");
    let evaluation = plan::evaluate(&client, &plan).await?;
    render::verdicts(&evaluation);

    println!("\n[6/6] the completion report and the sealed evidence bundle");
    let bundle = bundle(&client, &dir, &plan, &runs).await?;
    let _ = stop_gateway.send(());
    gateway_task.await.context("gateway task failed")??;
    emulator_task.abort();
    finish(&dir, &db, &bundle)?;
    println!("\ndone in {:.1} s", clock.elapsed().as_secs_f64());
    Ok(())
}

/// Writes every attempt's evidence document, then the report and the bundle from one
/// ExportResults snapshot of the gateway while it still serves (as a remote `meterlab report
/// --gateway --bundle` would); returns the bundle's path.
async fn bundle(
    client: &meterlab_client::Client,
    dir: &Path,
    plan: &DemoPlan,
    runs: &[PhaseRun],
) -> anyhow::Result<PathBuf> {
    let evidence = dir.join("evidence");
    for run in runs {
        super::run::report::write_evidence(&evidence, &run.collected)?;
    }
    let entries: Vec<_> = plan.entries.iter().map(|p| p.entry.clone()).collect();
    let bundle = dir.join("bundle");
    let (position, _) =
        super::report::report_and_bundle(client, &entries, dir, &bundle, &evidence).await?;
    println!("  exported from the gateway as of log position {position}");
    Ok(bundle)
}

/// Checks the event log (the gateway has stopped) and the bundle, and says where both are.
fn finish(dir: &Path, db: &Path, bundle: &Path) -> anyhow::Result<()> {
    let store = meterlab_store::Store::open_sqlite(db, meterlab_store::StoreConfig::default())?;
    match store.verify()? {
        meterlab_store::Verification::Intact { events, head } => println!(
            "  event log: {events} events, hash chain intact, head {}",
            head.map_or_else(|| "none".to_owned(), |head| hex::encode(head.hash))
        ),
        meterlab_store::Verification::Broken { seq, reason } => {
            bail!("event log hash chain broken at event {seq}: {reason}")
        }
    }
    drop(store);
    let verified = meterlab_report::bundle::verify_bundle(bundle)?;
    if let Some(problem) = verified.first_problem() {
        bail!("the bundle {} does not verify: {problem}", bundle.display());
    }
    println!(
        "  completion report: {} (and report.html)",
        dir.join("report.md").display()
    );
    println!(
        "  evidence bundle: {} — {} files, verified (`meterlab report verify` checks it again)",
        bundle.display(),
        verified.files
    );
    println!(
        "  decisions are attributed to \"anonymous\": this in-process gateway has no principals; \
         `meterlab serve` with client certificates or tokens names who recorded each one"
    );
    Ok(())
}

fn installation_mode(state: HubState) -> InstallationMode {
    match state {
        HubState::Active => InstallationMode::Active,
        HubState::Dormant => InstallationMode::Dormant,
        HubState::Mixed { .. } => InstallationMode::Mixed,
    }
}
