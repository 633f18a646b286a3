//! `meterlab run`: run a suite's cases on the devices of a devices file through an adapter
//! plugin, with live progress, a summary table, JSON, JUnit XML, and results stored through the
//! ResultService when `--gateway` or `--db` is given.
//!
//! Exit codes: 0 every case passed; 1 a case failed (the device did the wrong thing); 2 bad
//! input (devices file, suite, DMC descriptions, plugin, options: nothing ran, nothing was
//! stored); 3 no case failed but some were blocked or not run (infrastructure); 4 the results
//! could not be stored.

pub(crate) mod input;
mod junit;
mod progress;
pub(crate) mod report;
pub(crate) mod sink;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use meterlab_runner::{LinkConnector, RunEventKind, RunSummary, Runner};
use tokio::sync::mpsc;

use crate::output::OutputFormat;

use self::input::Prepared;
use self::report::Collected;
use self::sink::{Journal, ResultSink, Stored};
use crate::gateway::InProcessGateway;

pub const EXIT_FAILED: u8 = 1;
pub const EXIT_BAD_INPUT: u8 = 2;
pub const EXIT_BLOCKED: u8 = 3;
pub const EXIT_NOT_STORED: u8 = 4;

/// Run test cases on devices.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Suite directory or case file (repeatable), e.g. `suites/sit`.
    #[arg(long, required_unless_present = "check")]
    suite: Vec<PathBuf>,
    /// Test phase of the cases to run: MT or SIT.
    #[arg(long)]
    phase: Option<String>,
    /// Installation mode of the cases to run: active, dormant or mixed.
    #[arg(long)]
    mode: Option<String>,
    /// Devices file (TOML), e.g. as written by `meterlab emulate --devices-out`.
    #[arg(long)]
    devices: PathBuf,
    /// Directory of DMC descriptions (`<dmc id>.toml`).
    #[arg(long, default_value = "suites/dmcs")]
    dmcs: PathBuf,
    /// Adapter plugin library; default: `libmeterlab_dlms_adapter.so` next to this binary.
    #[arg(long)]
    plugin: Option<PathBuf>,
    /// Adapter of the steps that read a meter's optical port (`via = "optical"`); default:
    /// `libmeterlab_iec62056_21_adapter.so` beside `--plugin` or this binary. Without one, such
    /// cases are skipped with the reason.
    #[arg(long)]
    optical_plugin: Option<PathBuf>,
    /// Where the plugin runs: `in-process`, or `process` (sessions in `meterlab-plugin-worker`
    /// processes, so a crash, hang or runaway allocation blocks only its own cases).
    #[arg(long, default_value = "in-process")]
    isolation: meterlab_plugin_host::Isolation,
    /// With `--isolation process`: `per-plugin` (one worker shared by the adapter's sessions)
    /// or `per-session` (a worker per device session: a crash ends only that device's case).
    #[arg(long, value_enum)]
    workers: Option<WorkerScopeArg>,
    /// Store results through this gateway's ResultService, e.g. `http://127.0.0.1:50051`.
    #[arg(long, conflicts_with = "db")]
    gateway: Option<String>,
    /// Store results in this SQLite store (served in-process through the same ResultService).
    #[arg(long)]
    db: Option<PathBuf>,
    /// TLS and token options for --gateway.
    #[command(flatten)]
    client: crate::gateway::GatewayClientArgs,
    /// The planned entry the results belong to: RELEASE/SMSO/DMC, e.g. `MOC/smso-north/acme-ch1-e470-g4`.
    #[arg(long)]
    entry: Option<String>,
    /// Identifies the run; give the same id to resume an interrupted run without duplicates.
    #[arg(long)]
    run_id: Option<String>,
    /// Where runs with `--gateway`/`--db` keep their journal (`<run id>.jsonl`).
    #[arg(long, default_value = ".meterlab/runs")]
    journal_dir: PathBuf,
    /// Extra attempts for a case that did not pass.
    #[arg(long, default_value_t = 0)]
    retries: u32,
    /// Pause before a retry, in milliseconds.
    #[arg(long, default_value_t = 500)]
    retry_delay_ms: u64,
    /// Devices (links) worked in parallel.
    #[arg(long, default_value_t = 4)]
    jobs: usize,
    /// Only these devices (repeatable); default: every device of the hubs installed in `--mode`
    /// (a hub is dormant or active when all its devices are, mixed otherwise).
    #[arg(long = "device")]
    devices_only: Vec<String>,
    /// Only these cases (repeatable).
    #[arg(long = "case")]
    cases_only: Vec<String>,
    /// tcp or serial; default: TCP when the device has a TCP endpoint.
    #[arg(long)]
    transport: Option<String>,
    /// Client SAP to associate as; default: HLS-GMAC, else LLS, else the public client.
    #[arg(long)]
    client_sap: Option<u8>,
    /// Timeout of one step (seconds).
    #[arg(long, default_value_t = 60)]
    step_timeout_s: u64,
    /// Timeout of one case attempt (seconds).
    #[arg(long, default_value_t = 300)]
    case_timeout_s: u64,
    /// Timeout of one exchange with the device, enforced by the adapter (milliseconds).
    #[arg(long, default_value_t = 3000)]
    exchange_timeout_ms: u64,
    /// Timeout of the whole run (seconds).
    #[arg(long, default_value_t = 4 * 3600)]
    run_timeout_s: u64,
    /// How to print the results on stdout.
    #[arg(long, value_enum, default_value_t)]
    output: OutputFormat,
    /// Also write JUnit XML here.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Also write CTRF JSON (Common Test Report Format) here.
    #[arg(long)]
    ctrf: Option<PathBuf>,
    /// Write each attempt's evidence document here, as `<device>/<case>.attempt-<n>.json`
    /// (its SHA-256 is the result's evidence_sha256).
    #[arg(long)]
    evidence_dir: Option<PathBuf>,
    /// Only check the devices: open a session, read firmware and clock.
    #[arg(long)]
    check: bool,
    /// No progress on stderr.
    #[arg(long)]
    quiet: bool,
}

/// `--workers`: how many sessions share a plugin worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WorkerScopeArg {
    PerPlugin,
    PerSession,
}

/// A problem with what the user gave (exit 2), found after the inputs were read: say, a phase
/// the store does not know, or an unusable --token-file.
pub use crate::gateway::BadInput;

pub fn main(args: Args) -> ExitCode {
    let prepared = match input::prepare(&args) {
        Ok(prepared) => prepared,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(EXIT_NOT_STORED);
        }
    };
    match runtime.block_on(execute(args, prepared)) {
        Ok(code) => ExitCode::from(code),
        Err(error) if error.downcast_ref::<BadInput>().is_some() => {
            eprintln!("error: {error:#}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(EXIT_NOT_STORED)
        }
    }
}

/// Where results go besides the terminal.
enum Store {
    None,
    Sink(Box<ResultSink>, Option<InProcessGateway>),
}

async fn open_store(args: &Args, prepared: &mut Prepared) -> anyhow::Result<Store> {
    let Some(phase) = prepared.phase_key.clone() else {
        return Ok(Store::None);
    };
    let (client, gateway) = if let Some(db) = &args.db {
        if !db.is_file() {
            return Err(BadInput(format!(
                "--db {}: no such store; its phase {} must be planned before results are stored",
                db.display(),
                input::describe_phase(&phase)
            ))
            .into());
        }
        let (url, gateway) = InProcessGateway::serve(db, input::default_profile()?, false).await?;
        let client = meterlab_client::Client::connect(&url, &Default::default())
            .await
            .context("cannot reach the in-process gateway")?;
        (client, Some(gateway))
    } else if let Some(url) = &args.gateway {
        (crate::gateway::connect(url, &args.client).await?, None)
    } else {
        return Ok(Store::None);
    };
    let phase =
        meterlab_client::convert::phase_from_proto(&phase).map_err(|(field, problem)| {
            BadInput(format!("--entry/--phase/--mode: {field} {problem}"))
        })?;
    check_phase(&client, &phase).await?;
    let journal_path = args
        .journal_dir
        .join(format!("{}.jsonl", prepared.plan.run_id));
    let journal = Journal::open(&journal_path)?;
    input::resume(&mut prepared.plan, &journal);
    let sink = ResultSink::open(&client, &prepared.plan.run_id, phase, journal).await?;
    Ok(Store::Sink(Box::new(sink), gateway))
}

/// Refuses a phase the governance log does not know before any case runs (the ResultService
/// would reject every result).
async fn check_phase(
    client: &meterlab_client::Client,
    phase: &meterlab_governance::model::TestPhase,
) -> anyhow::Result<()> {
    match client.evaluate_phase(phase, None).await {
        Ok(_) => Ok(()),
        Err(error) if error.code() == Some(tonic::Code::NotFound) => Err(BadInput(format!(
            "--entry/--phase/--mode: {error}; plan the entry and its phases first"
        ))
        .into()),
        Err(error) => Err(anyhow::anyhow!(
            "cannot check the phase at the gateway: {error}"
        )),
    }
}

async fn execute(args: Args, mut prepared: Prepared) -> anyhow::Result<u8> {
    let mut store = open_store(&args, &mut prepared).await?;
    let settings = input::settings(&args);
    let check_only = settings.check_only;
    let per_device = prepared
        .plan
        .units
        .iter()
        .map(|unit| (unit.target.id().to_owned(), unit.cases.len() as u64))
        .collect();
    let mut progress = progress::Progress::new(args.quiet, per_device);
    let mut runner = Runner::new(prepared.plugin.clone(), LinkConnector::default(), settings);
    if let Some(optical) = &prepared.optical_plugin {
        runner = runner.with_optical_plugin(Arc::clone(optical));
    }
    for skipped in &prepared.skipped {
        if !args.quiet && args.output == OutputFormat::Text {
            eprintln!(
                "skipped {} on {}: {}",
                skipped.case_id, skipped.device_id, skipped.reason
            );
        }
    }
    let mut events = runner.subscribe();
    let cancel = runner.cancel_handle();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("interrupted: finishing the cases in flight as blocked");
            cancel.cancel();
        }
    });
    let run_id = prepared.plan.run_id.clone();
    let (store_errors, mut store_error) = mpsc::unbounded_channel::<String>();
    let skipped = prepared.skipped.clone();
    let consume = async {
        let mut collected = Collected {
            skipped,
            ..Collected::default()
        };
        while let Some(event) = events.recv().await {
            progress.show(&event);
            collected.take(&event);
            if let (RunEventKind::CaseFinished(result), Store::Sink(sink, _)) =
                (&event.kind, &mut store)
                && let Err(error) = sink.push(result).await
            {
                let _ = store_errors.send(format!("{error:#}"));
            }
        }
        collected
    };
    let (summary, collected) = tokio::join!(runner.run(prepared.plan), consume);
    progress.finish();
    let mut stored: Option<Stored> = None;
    let mut not_stored = store_error.try_recv().ok();
    if let Store::Sink(sink, gateway) = store {
        if not_stored.is_none() {
            match sink.finish().await {
                Ok(done) => stored = Some(done),
                Err(error) => not_stored = Some(format!("{error:#}")),
            }
        }
        if let Some(gateway) = gateway {
            gateway.stop().await?;
        }
    }
    let stored_json = stored.as_ref().map(serde_json::to_value).transpose()?;
    match args.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report::to_json(&collected, stored_json.as_ref()))?
        ),
        OutputFormat::Text if check_only => report::print_health(&collected.health),
        OutputFormat::Text => {
            report::print_text(&collected);
            if let Some(stored) = &stored {
                println!(
                    "{} results acknowledged durable by the ResultService ({} already stored), \
                     watermark {} of {}; journal {}",
                    stored.acknowledged,
                    stored.replayed,
                    stored.watermark,
                    stored.source,
                    stored.journal
                );
            }
        }
    }
    if let Some(path) = &args.junit {
        junit::write(path, &run_id, &collected)?;
    }
    if let Some(path) = &args.ctrf {
        junit::write_ctrf(path, &run_id, &collected)?;
    }
    if let Some(dir) = &args.evidence_dir {
        report::write_evidence(dir, &collected)?;
    }
    if let Some(error) = not_stored {
        eprintln!("error: results not stored: {error}");
        return Ok(EXIT_NOT_STORED);
    }
    Ok(exit_code(&summary, &collected, check_only))
}

fn exit_code(summary: &RunSummary, collected: &Collected, check_only: bool) -> u8 {
    if check_only {
        return if collected.health.iter().all(|h| h.healthy) {
            0
        } else {
            EXIT_BLOCKED
        };
    }
    if summary.failed > 0 {
        EXIT_FAILED
    } else if summary.all_passed() {
        0
    } else {
        EXIT_BLOCKED
    }
}
