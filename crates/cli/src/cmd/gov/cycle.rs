//! `meterlab cycle define|exit` and `meterlab regression record`: test cycles that group planned
//! entries, and the regression runs of an entry or a cycle (rule 6) — registered, started (the
//! regression Depth & Breadth list must be agreed) and finished (only on an exit verdict) as one
//! recorded event each time.

use std::process::ExitCode;
use std::time::SystemTime;

use meterlab_client::types::RegressionRecord;
use meterlab_governance::Outcome;
use meterlab_governance::model::{CaseId, CycleId, EntryKey, RegressionKind, RegressionScope};
use serde::Serialize;

use super::{Common, answer, parse, print_json, with_client};
use crate::gateway::BadInput;
use crate::output::OutputFormat;
use crate::verdicts::{self, Style};

#[derive(Debug, clap::Args)]
pub struct CycleArgs {
    #[command(subcommand)]
    command: CycleCommand,
}

#[derive(Debug, clap::Subcommand)]
enum CycleCommand {
    /// Group planned entries into a test cycle (for end-of-cycle and combined regression).
    Define(DefineArgs),
    /// The cycle's regression verdict (rule 6); failing criteria first, exit 3 when not an exit.
    Exit(CycleExitArgs),
}

#[derive(Debug, clap::Args)]
struct DefineArgs {
    /// The cycle's id, e.g. cycle-1.
    #[arg(long)]
    cycle: String,
    /// A planned entry of the cycle: RELEASE/SMSO/DMC (repeat for each).
    #[arg(long = "entry", value_parser = parse::entry, required = true)]
    entries: Vec<EntryKey>,
    /// Why (recorded with the event).
    #[arg(long, default_value = "defined from the command line")]
    reason: String,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, clap::Args)]
struct CycleExitArgs {
    /// The cycle's id.
    #[arg(long)]
    cycle: String,
    /// Rule profile name; default: the gateway's.
    #[arg(long = "rule-profile")]
    rule_profile: Option<String>,
    /// List met criteria too.
    #[arg(long)]
    verbose: bool,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, clap::Args)]
pub struct RegressionArgs {
    #[command(subcommand)]
    command: RegressionCommand,
}

#[derive(Debug, clap::Subcommand)]
enum RegressionCommand {
    /// Record a regression run: registered if new; `--start` starts it, `--finish` records its
    /// exit (refused unless it meets its exit criteria). Nothing is recorded on a refusal.
    Record(Box<RecordArgs>),
}

#[derive(Debug, clap::Args)]
struct RecordArgs {
    /// The planned entry the run regresses: RELEASE/SMSO/DMC.
    #[arg(long, value_parser = parse::entry, conflicts_with = "cycle", required_unless_present = "cycle")]
    entry: Option<EntryKey>,
    /// Or the cycle it regresses.
    #[arg(long)]
    cycle: Option<String>,
    /// mt-end, sit-end or combined.
    #[arg(long, value_parser = regression_kind)]
    kind: RegressionKind,
    /// Your label for the run.
    #[arg(long = "id")]
    regression_id: String,
    /// The run id its results are streamed under (not interpreted).
    #[arg(long, default_value = "")]
    run_id: String,
    /// The run is on migrated devices (required for combined).
    #[arg(long)]
    on_migrated_devices: bool,
    /// A case the run means to run (repeatable); each must be on the regression list.
    #[arg(long = "case")]
    cases: Vec<String>,
    /// Start the run now (or at --started-at).
    #[arg(long)]
    start: bool,
    /// When it started (RFC 3339, e.g. 2026-03-01T09:00:00Z); implies --start.
    #[arg(long, value_parser = parse_time)]
    started_at: Option<SystemTime>,
    /// Record its exit now (or at --finished-at).
    #[arg(long)]
    finish: bool,
    /// When it finished (RFC 3339); implies --finish.
    #[arg(long, value_parser = parse_time)]
    finished_at: Option<SystemTime>,
    /// Why (recorded with the event).
    #[arg(long, default_value = "recorded from the command line")]
    reason: String,
    #[command(flatten)]
    common: Common,
}

fn regression_kind(text: &str) -> Result<RegressionKind, String> {
    match text.replace('_', "-").as_str() {
        "mt-end" => Ok(RegressionKind::MtEnd),
        "sit-end" => Ok(RegressionKind::SitEnd),
        "combined" => Ok(RegressionKind::Combined),
        _ => Err(format!("{text:?}: expected mt-end, sit-end or combined")),
    }
}

fn parse_time(text: &str) -> Result<SystemTime, String> {
    let ts: prost_types::Timestamp = text
        .parse()
        .map_err(|_| format!("{text:?}: expected an RFC 3339 time, e.g. 2026-03-01T09:00:00Z"))?;
    SystemTime::try_from(ts).map_err(|_| format!("{text:?}: out of range"))
}

#[allow(clippy::disallowed_methods)] // the binary is the edge that reads the wall clock
fn now() -> SystemTime {
    SystemTime::now()
}

pub fn cycle(args: CycleArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        CycleCommand::Define(args) => define(args),
        CycleCommand::Exit(args) => cycle_exit(args),
    }
}

pub fn regression(args: RegressionArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        RegressionCommand::Record(args) => record(*args),
    }
}

#[derive(Debug, Serialize)]
struct Defined {
    cycle: String,
    entries: Vec<String>,
    recorded: meterlab_client::types::Recorded,
}

fn define(args: DefineArgs) -> anyhow::Result<ExitCode> {
    let recorded = with_client(&args.common, false, async |client| {
        Ok(client
            .define_cycle(&args.cycle, &args.entries, &args.reason)
            .await?)
    })?;
    let defined = Defined {
        cycle: args.cycle.clone(),
        entries: args.entries.iter().map(verdicts::entry_name).collect(),
        recorded,
    };
    match args.common.output {
        OutputFormat::Json => print_json(&defined)?,
        OutputFormat::Text => println!(
            "defined cycle {} of {} (log position {})",
            defined.cycle,
            defined.entries.join(", "),
            defined.recorded.log_position
        ),
    }
    Ok(ExitCode::SUCCESS)
}

fn cycle_exit(args: CycleExitArgs) -> anyhow::Result<ExitCode> {
    let verdict = with_client(&args.common, false, async |client| {
        Ok(client
            .evaluate_cycle(&args.cycle, args.rule_profile.as_deref())
            .await?)
    })?;
    match args.common.output {
        OutputFormat::Json => print_json(&verdict)?,
        OutputFormat::Text => verdicts::print(&verdict, args.verbose, Style::for_stdout()),
    }
    Ok(answer(verdict.outcome == Outcome::Exit))
}

#[derive(Debug, Serialize)]
struct Recorded {
    regression: String,
    scope: String,
    kind: &'static str,
    started: bool,
    finished: bool,
    recorded: meterlab_client::types::Recorded,
}

fn record(args: RecordArgs) -> anyhow::Result<ExitCode> {
    let scope = match (&args.entry, &args.cycle) {
        (Some(entry), _) => RegressionScope::Entry(entry.clone()),
        (None, Some(cycle)) => RegressionScope::Cycle(CycleId::new(cycle.clone())),
        (None, None) => return Err(BadInput("give --entry or --cycle".to_owned()).into()),
    };
    let started_at = args.started_at.or_else(|| args.start.then(now));
    let finished_at = args.finished_at.or_else(|| args.finish.then(now));
    let run = RegressionRecord {
        regression_id: args.regression_id.clone(),
        scope: scope.clone(),
        kind: args.kind,
        run_id: args.run_id.clone(),
        on_migrated_devices: args.on_migrated_devices,
        case_ids: args.cases.iter().map(|c| CaseId::new(c.clone())).collect(),
        started_at,
        finished_at,
    };
    let recorded = with_client(&args.common, false, async |client| {
        Ok(client.record_regression_run(&run, &args.reason).await?)
    })?;
    let done = Recorded {
        regression: args.regression_id.clone(),
        scope: scope.to_string(),
        kind: args.kind.as_str(),
        started: started_at.is_some(),
        finished: finished_at.is_some(),
        recorded,
    };
    match args.common.output {
        OutputFormat::Json => print_json(&done)?,
        OutputFormat::Text => {
            let what = match (done.started, done.finished) {
                (_, true) => "exit recorded",
                (true, false) => "started",
                (false, false) => "registered",
            };
            println!(
                "regression {} ({} of {}): {what} (log position {})",
                done.regression, done.kind, done.scope, done.recorded.log_position
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_times_read_and_bad_ones_say_what_is_expected() {
        assert_eq!(regression_kind("mt-end"), Ok(RegressionKind::MtEnd));
        assert_eq!(regression_kind("sit_end"), Ok(RegressionKind::SitEnd));
        assert!(regression_kind("weekly").is_err_and(|e| e.contains("mt-end, sit-end")));
        assert!(parse_time("2026-03-01T09:00:00Z").is_ok());
        assert!(parse_time("yesterday").is_err_and(|e| e.contains("RFC 3339")));
    }
}
