//! `meterlab issues add|update|list`: Testing Issues.

use std::process::ExitCode;

use meterlab_client::types::{IssueFilter, IssueUpdate, NewIssue, PhaseCase, TestingIssue};
use meterlab_governance::model::{CaseId, EntryKey, IssueStatus, PhaseKind, Severity};

use super::{Common, parse, print_json, with_client};
use crate::gateway::BadInput;
use crate::output::{OutputFormat, print_table};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Raise a Testing Issue against phases (and cases) of an entry.
    Add(AddArgs),
    /// Change an issue's status, severity or text, or link more phases and cases.
    Update(UpdateArgs),
    /// List Testing Issues, optionally of one entry, phase, status or severity range.
    List(ListArgs),
}

/// Phases and cases of one entry an issue is about.
#[derive(Debug, clap::Args)]
struct Links {
    /// The planned entry: RELEASE/SMSO/DMC (needed with --phase).
    #[arg(long, value_parser = parse::entry)]
    entry: Option<EntryKey>,
    /// A phase of the entry the issue was seen in, e.g. mt.active (repeatable).
    #[arg(long = "phase", value_parser = parse::phase_kind, requires = "entry")]
    phases: Vec<PhaseKind>,
    /// A case of those phases (repeatable); links the case in every --phase given.
    #[arg(long = "case", requires = "phases")]
    cases: Vec<String>,
}

impl Links {
    fn resolve(&self) -> (Vec<meterlab_governance::model::TestPhase>, Vec<PhaseCase>) {
        let Some(entry) = &self.entry else {
            return (Vec::new(), Vec::new());
        };
        let phases: Vec<_> = self
            .phases
            .iter()
            .map(|kind| parse::phase(entry, *kind))
            .collect();
        let cases = phases
            .iter()
            .flat_map(|phase| {
                self.cases.iter().map(move |case| PhaseCase {
                    phase: phase.clone(),
                    case: CaseId::new(case.clone()),
                })
            })
            .collect();
        (phases, cases)
    }
}

#[derive(Debug, clap::Args)]
struct AddArgs {
    /// 1 (most severe) to 5.
    #[arg(long, value_parser = parse::severity)]
    severity: Severity,
    /// One line saying what is wrong.
    #[arg(long)]
    title: String,
    /// What was seen.
    #[arg(long, default_value = "")]
    description: String,
    /// The issue id; default: the gateway assigns one.
    #[arg(long)]
    id: Option<String>,
    #[command(flatten)]
    links: Links,
    /// Why (recorded with the event).
    #[arg(long, default_value = "raised from the command line")]
    reason: String,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, clap::Args)]
struct UpdateArgs {
    /// The issue id.
    id: String,
    /// New status: open, fixed, closed or known_defect (a known defect needs --workaround).
    #[arg(long, value_parser = parse::issue_status)]
    status: Option<IssueStatus>,
    /// New severity, 1 to 5.
    #[arg(long, value_parser = parse::severity)]
    severity: Option<Severity>,
    #[arg(long)]
    title: Option<String>,
    #[arg(long)]
    description: Option<String>,
    /// The workaround of a known defect.
    #[arg(long)]
    workaround: Option<String>,
    #[command(flatten)]
    links: Links,
    /// Why (recorded with the event), e.g. the fix verified.
    #[arg(long, required = true)]
    reason: String,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    /// Only issues linked to a phase of this entry: RELEASE/SMSO/DMC.
    #[arg(long, value_parser = parse::entry)]
    entry: Option<EntryKey>,
    /// Only issues of this phase of --entry, e.g. sit.mixed.
    #[arg(long, value_parser = parse::phase_kind, requires = "entry")]
    phase: Option<PhaseKind>,
    /// Only these statuses (repeatable).
    #[arg(long = "status", value_parser = parse::issue_status)]
    statuses: Vec<IssueStatus>,
    /// Only this severity or more severe (1 is the most severe).
    #[arg(long, value_parser = parse::severity)]
    max_severity: Option<Severity>,
    #[command(flatten)]
    common: Common,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Add(args) => add(args),
        Command::Update(args) => update(args),
        Command::List(args) => list(args),
    }
}

fn print_issue(output: OutputFormat, verb: &str, issue: &TestingIssue) -> anyhow::Result<()> {
    match output {
        OutputFormat::Json => print_json(issue),
        OutputFormat::Text => {
            println!(
                "{verb} issue {}: {} {} {:?} (log position {})",
                issue.id,
                issue.severity,
                issue.status.as_str(),
                issue.title,
                issue.log_position
            );
            Ok(())
        }
    }
}

fn add(args: AddArgs) -> anyhow::Result<ExitCode> {
    let (phases, cases) = args.links.resolve();
    let issue = NewIssue {
        id: args.id.clone(),
        severity: args.severity,
        title: args.title.clone(),
        description: args.description.clone(),
        phases,
        cases,
    };
    let raised = with_client(&args.common, false, async |client| {
        Ok(client.raise_issue(&issue, &args.reason).await?)
    })?;
    print_issue(args.common.output, "raised", &raised)?;
    Ok(ExitCode::SUCCESS)
}

fn update(args: UpdateArgs) -> anyhow::Result<ExitCode> {
    let (add_phases, add_cases) = args.links.resolve();
    let update = IssueUpdate {
        severity: args.severity,
        status: args.status,
        title: args.title.clone(),
        description: args.description.clone(),
        workaround: args.workaround.clone(),
        add_phases,
        add_cases,
    };
    if update == IssueUpdate::default() {
        return Err(BadInput(format!(
            "issues update {}: nothing to change (give --status, --severity, --title, \
             --description, --workaround or --phase)",
            args.id
        ))
        .into());
    }
    let updated = with_client(&args.common, false, async |client| {
        Ok(client.update_issue(&args.id, &update, &args.reason).await?)
    })?;
    print_issue(args.common.output, "updated", &updated)?;
    Ok(ExitCode::SUCCESS)
}

fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let filter = IssueFilter {
        phase: args
            .entry
            .as_ref()
            .zip(args.phase)
            .map(|(entry, kind)| parse::phase(entry, kind)),
        entry: args.entry.clone().filter(|_| args.phase.is_none()),
        statuses: args.statuses.clone(),
        min_severity: None,
        max_severity: args.max_severity,
    };
    let issues = with_client(&args.common, false, async |client| {
        Ok(client.list_issues(&filter).await?)
    })?;
    match args.common.output {
        OutputFormat::Json => print_json(&issues)?,
        OutputFormat::Text => {
            let rows: Vec<[String; 5]> = issues
                .iter()
                .map(|issue| {
                    [
                        issue.id.clone(),
                        issue.severity.to_string(),
                        issue.status.as_str().to_owned(),
                        issue
                            .phases
                            .iter()
                            .map(|p| p.kind.to_string())
                            .collect::<Vec<_>>()
                            .join(","),
                        issue.title.clone(),
                    ]
                })
                .collect();
            print_table(["ID", "SEVERITY", "STATUS", "PHASES", "TITLE"], &rows);
            println!("{} issue(s)", issues.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}
