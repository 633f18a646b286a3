//! `meterlab runs list|show|watch|cancel|start`: runs on a gateway's bench (RunService).
//!
//! `show` and `watch` exit 0 for a run that finished with every case passed, 3 for one that
//! ended otherwise (failures, blocked, cancelled, errored, interrupted); `watch` prints each
//! event as it comes (one JSON object a line with `--output json`) and the summary at the end.

use std::process::ExitCode;
use std::time::Duration;

use meterlab_client::devices::{RunRequest, RunSummary, RunUpdate};
use meterlab_governance::model::{EntryKey, PhaseKind};

use super::{Common, answer, parse, print_json, with_client};
use crate::gateway::BadInput;
use crate::output::{OutputFormat, print_table};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// The gateway's runs, newest first (also those from before its last restart).
    List(ListArgs),
    /// One run's summary.
    Show(RunArgs),
    /// Follow a run's events until it ends.
    Watch(WatchArgs),
    /// Cancel a queued or running run.
    Cancel(CancelArgs),
    /// Start a run of a suite on the gateway's devices, or resume an ended one (--resume).
    Start(Box<StartArgs>),
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    /// Only runs in this state: queued, running, finished, cancelled, errored, interrupted.
    #[arg(long)]
    state: Option<String>,
    /// At most this many (0: the gateway's default).
    #[arg(long, default_value_t = 0)]
    limit: u32,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The run id.
    run_id: String,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, clap::Args)]
struct WatchArgs {
    /// The run id.
    run_id: String,
    /// Only events after this seq (the last one a previous watch printed).
    #[arg(long, default_value_t = 0)]
    after: u64,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, clap::Args)]
struct CancelArgs {
    /// The run id.
    run_id: String,
    /// Why (recorded with the run's end).
    #[arg(long, default_value = "")]
    reason: String,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, clap::Args)]
struct StartArgs {
    /// Resume this ended run: only its cases without a final result run again, attempt numbers
    /// continuing. The run's own suite, phase, cases and devices are used.
    #[arg(long, conflicts_with_all = ["suite", "entry", "phase", "cases", "devices", "request_id"])]
    resume: Option<String>,
    /// Suite id, e.g. mt-active.
    #[arg(long, required_unless_present = "resume")]
    suite: Option<String>,
    /// The planned entry: RELEASE/SMSO/DMC.
    #[arg(long, value_parser = parse::entry, required_unless_present = "resume")]
    entry: Option<EntryKey>,
    /// The phase the results are recorded against, e.g. mt.active.
    #[arg(long, value_parser = parse::phase_kind, required_unless_present = "resume")]
    phase: Option<PhaseKind>,
    /// Only this case (repeatable); default: every case of the suite for the phase.
    #[arg(long = "case")]
    cases: Vec<String>,
    /// Only this device (repeatable); default: the gateway picks the entry's devices.
    #[arg(long = "device")]
    devices: Vec<String>,
    /// Attempts per case including the first (0: the gateway's default).
    #[arg(long, default_value_t = 0)]
    max_attempts: u32,
    /// Pause between attempts, in milliseconds.
    #[arg(long, default_value_t = 500)]
    retry_delay_ms: u64,
    /// Idempotency key: starting again with the same key answers the same run.
    #[arg(long, default_value = "")]
    request_id: String,
    /// Follow the run until it ends, as `runs watch` does.
    #[arg(long)]
    watch: bool,
    #[command(flatten)]
    common: Common,
}

fn passed(summary: &RunSummary) -> bool {
    summary.state == "finished" && summary.passed == summary.cases_total
}

fn stamp(at: Option<std::time::SystemTime>) -> String {
    at.map_or_else(String::new, |at| {
        prost_types::Timestamp::from(at).to_string()
    })
}

fn print_summary(summary: &RunSummary) {
    println!(
        "run {} ({}) {}: {} case(s), {} passed, {} failed, {} blocked, {} not run, {} flaky",
        summary.run_id,
        summary.suite,
        summary.state,
        summary.cases_total,
        summary.passed,
        summary.failed,
        summary.blocked,
        summary.not_run,
        summary.flaky
    );
    if !summary.started_by.is_empty() {
        println!(
            "  started by {} at {}{}",
            summary.started_by,
            stamp(summary.started_at),
            match summary.resumes {
                0 => String::new(),
                n => format!(", resumed {n} time(s)"),
            }
        );
    }
    if summary.finished_at.is_some() {
        println!("  ended at {}", stamp(summary.finished_at));
    }
    if !summary.error.is_empty() {
        println!("  {}", summary.error);
    }
}

fn print_update(seq: u64, update: &RunUpdate, output: OutputFormat) {
    if output == OutputFormat::Json {
        let line = serde_json::json!({ "seq": seq, "event": update });
        println!("{line}");
        return;
    }
    match update {
        RunUpdate::Started {
            cases_total,
            device_ids,
        } => println!(
            "[{seq}] started: {cases_total} case(s) on {}",
            device_ids.join(", ")
        ),
        RunUpdate::CaseStarted {
            case_id,
            device_id,
            attempt,
        } => println!("[{seq}] {case_id} on {device_id}, attempt {attempt}"),
        RunUpdate::StepFinished { .. } => {}
        RunUpdate::CaseFinished {
            case_id,
            device_id,
            attempt,
            status,
            detail,
        } => {
            let detail = if detail.is_empty() {
                String::new()
            } else {
                format!(": {detail}")
            };
            println!("[{seq}] {case_id} on {device_id}, attempt {attempt}: {status}{detail}");
        }
        RunUpdate::Log {
            level,
            message,
            device_id: _,
        } => println!("[{seq}] {level}: {message}"),
        RunUpdate::Finished(summary) => print_summary(summary),
    }
}

/// Follows `run_id` from `after`, printing; answers its summary at the end.
async fn follow(
    client: &meterlab_client::Client,
    run_id: &str,
    after: u64,
    output: OutputFormat,
) -> anyhow::Result<RunSummary> {
    client
        .watch_run(run_id, after, |seq, update| {
            print_update(seq, &update, output);
        })
        .await?;
    Ok(client.get_run(run_id).await?)
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::List(args) => {
            let runs = with_client(&args.common, false, async |client| {
                Ok(client.list_runs(args.state.as_deref(), args.limit).await?)
            })?;
            match args.common.output {
                OutputFormat::Json => print_json(&runs)?,
                OutputFormat::Text => {
                    let rows: Vec<[String; 7]> = runs
                        .iter()
                        .map(|r| {
                            [
                                r.run_id.clone(),
                                r.state.clone(),
                                r.suite.clone(),
                                format!("{}/{}", r.passed, r.cases_total),
                                r.failed.to_string(),
                                (r.blocked + r.not_run).to_string(),
                                r.started_by.clone(),
                            ]
                        })
                        .collect();
                    print_table(
                        [
                            "RUN",
                            "STATE",
                            "SUITE",
                            "PASSED",
                            "FAILED",
                            "BLOCKED/NOT RUN",
                            "BY",
                        ],
                        &rows,
                    );
                    println!("{} run(s)", runs.len());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Show(args) => {
            let summary = with_client(&args.common, false, async |client| {
                Ok(client.get_run(&args.run_id).await?)
            })?;
            match args.common.output {
                OutputFormat::Json => print_json(&summary)?,
                OutputFormat::Text => print_summary(&summary),
            }
            Ok(answer(passed(&summary)))
        }
        Command::Watch(args) => {
            let output = args.common.output;
            let summary = with_client(&args.common, false, async |client| {
                follow(client, &args.run_id, args.after, output).await
            })?;
            Ok(answer(passed(&summary)))
        }
        Command::Cancel(args) => {
            let state = with_client(&args.common, false, async |client| {
                Ok(client.cancel_run(&args.run_id, &args.reason).await?)
            })?;
            match args.common.output {
                OutputFormat::Json => {
                    print_json(&serde_json::json!({ "run_id": args.run_id, "state": state }))?;
                }
                OutputFormat::Text => println!("run {}: {state}", args.run_id),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Start(args) => start(*args),
    }
}

enum Start {
    New(RunRequest),
    Resume(String),
}

fn start(args: StartArgs) -> anyhow::Result<ExitCode> {
    let output = args.common.output;
    let start = match (&args.resume, &args.suite, &args.entry, args.phase) {
        (Some(run_id), ..) => Start::Resume(run_id.clone()),
        (None, Some(suite), Some(entry), Some(kind)) => Start::New(RunRequest {
            suite: suite.clone(),
            case_ids: args.cases.clone(),
            phase: parse::phase(entry, kind),
            device_ids: args.devices.clone(),
            retry: (args.max_attempts > 0).then(|| {
                (
                    args.max_attempts,
                    Duration::from_millis(args.retry_delay_ms),
                )
            }),
            request_id: args.request_id.clone(),
        }),
        _ => {
            return Err(BadInput(
                "runs start needs --suite, --entry and --phase, or --resume RUN".to_owned(),
            )
            .into());
        }
    };
    let (run_id, summary) = with_client(&args.common, false, async |client| {
        let run_id = match &start {
            Start::New(request) => client.start_run(request).await?,
            Start::Resume(run_id) => client.resume_run(run_id).await?,
        };
        if !args.watch {
            return Ok((run_id, None));
        }
        if output == OutputFormat::Text {
            println!("run {run_id}");
        }
        let summary = follow(client, &run_id, 0, output).await?;
        Ok((run_id, Some(summary)))
    })?;
    match summary {
        Some(summary) => Ok(answer(passed(&summary))),
        None => {
            match output {
                OutputFormat::Json => print_json(&serde_json::json!({ "run_id": run_id }))?,
                OutputFormat::Text => println!("run {run_id}"),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
