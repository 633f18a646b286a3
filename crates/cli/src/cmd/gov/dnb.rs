//! `meterlab dnb`: register a Depth & Breadth document from a suite's cases, and record its
//! status — agree, dispute, refer, determine (rule 10). An illegal transition is refused by the
//! gateway, naming both statuses (exit 2).

use std::path::PathBuf;
use std::process::ExitCode;

use meterlab_catalog::{Catalog, Mode as CatalogMode, Phase};
use meterlab_client::types::{DnbCase, DnbDocument, Recorded};
use meterlab_governance::model::{CaseId, CaseSpec, DnbStatus, DocType, Mode, Srv};
use serde::Serialize;

use super::parse::DnbKeyArgs;
use super::{Common, print_json, with_client};
use crate::gateway::BadInput;
use crate::output::OutputFormat;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Register a document (or a new version) from a suite's cases; it starts as a draft.
    Register(RegisterArgs),
    /// Record agreement with the Testing Advisory Group.
    Agree(StatusArgs),
    /// Record a dispute (dependent phases are pending until it is settled).
    Dispute(StatusArgs),
    /// Record referral of a dispute to the Secretary of State.
    Refer(StatusArgs),
    /// Record the Secretary of State's determination of a referred dispute.
    Determine(StatusArgs),
}

#[derive(Debug, clap::Args)]
struct RegisterArgs {
    #[command(flatten)]
    key: DnbKeyArgs,
    /// Document version, e.g. 1.
    #[arg(long)]
    version: String,
    /// Suite directory or case file (repeatable) whose cases the document lists, e.g. suites/mt;
    /// MT and SIT documents take the suite's cases of that phase.
    #[arg(long, required = true)]
    suite: Vec<PathBuf>,
    /// Only these cases (repeatable).
    #[arg(long = "case")]
    cases: Vec<String>,
    /// Why (recorded with the event).
    #[arg(long, default_value = "registered from the command line")]
    reason: String,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, clap::Args)]
struct StatusArgs {
    #[command(flatten)]
    key: DnbKeyArgs,
    /// The document version the status applies to (the latest registered).
    #[arg(long)]
    version: String,
    /// Why: e.g. the TAG minutes or the determination reference (recorded with the event).
    #[arg(long, required = true)]
    reason: String,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Serialize)]
struct Answer {
    document: String,
    version: String,
    status: &'static str,
    cases: Option<usize>,
    recorded: Recorded,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (args, status) = match args.command {
        Command::Register(args) => return register(args),
        Command::Agree(args) => (args, DnbStatus::Agreed),
        Command::Dispute(args) => (args, DnbStatus::Disputed),
        Command::Refer(args) => (args, DnbStatus::Referred),
        Command::Determine(args) => (args, DnbStatus::Determined),
    };
    let key = args.key.key();
    let recorded = with_client(&args.common, false, async |client| {
        Ok(client
            .set_depth_breadth_status(&key, &args.version, status, &args.reason)
            .await?)
    })?;
    print(
        args.common.output,
        &Answer {
            document: key.to_string(),
            version: args.version,
            status: status.as_str(),
            cases: None,
            recorded,
        },
    )
}

fn print(output: OutputFormat, answer: &Answer) -> anyhow::Result<ExitCode> {
    match output {
        OutputFormat::Json => print_json(answer)?,
        OutputFormat::Text => {
            let cases = answer
                .cases
                .map_or_else(String::new, |n| format!(" with {n} case(s)"));
            println!(
                "{} version {}{cases}: {} (log position {})",
                answer.document, answer.version, answer.status, answer.recorded.log_position
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn register(args: RegisterArgs) -> anyhow::Result<ExitCode> {
    let catalog = Catalog::load(&args.suite)
        .map_err(|errors| BadInput(format!("--suite has problems:\n{errors}")))?;
    let phase = match args.key.doc_type {
        DocType::Mt => Some(Phase::Mt),
        DocType::Sit => Some(Phase::Sit),
        DocType::Regression => None,
    };
    let mut cases: Vec<DnbCase> = catalog
        .select(phase, None, None)
        .into_iter()
        .filter(|case| args.cases.is_empty() || args.cases.contains(&case.id))
        .map(dnb_case)
        .collect();
    cases.sort_by(|a, b| a.spec.case.cmp(&b.spec.case));
    if let Some(missing) = args
        .cases
        .iter()
        .find(|id| !cases.iter().any(|c| c.spec.case.as_str() == id.as_str()))
    {
        return Err(BadInput(format!(
            "--case {missing}: not a case of the suite for this document type"
        ))
        .into());
    }
    if cases.is_empty() {
        return Err(BadInput("--suite: no case of this document type".to_owned()).into());
    }
    let key = args.key.key();
    let document = DnbDocument {
        key: key.clone(),
        version: args.version.clone(),
        cases,
    };
    let recorded = with_client(&args.common, false, async |client| {
        Ok(client
            .register_depth_breadth(&document, &args.reason)
            .await?)
    })?;
    print(
        args.common.output,
        &Answer {
            document: key.to_string(),
            version: args.version,
            status: DnbStatus::Draft.as_str(),
            cases: Some(document.cases.len()),
            recorded,
        },
    )
}

/// A catalogue case as a Depth & Breadth document lists it: id, SRV (its first step's), modes
/// and the content hash the document agrees.
pub(crate) fn dnb_case(case: &meterlab_catalog::Case) -> DnbCase {
    DnbCase {
        spec: CaseSpec {
            case: CaseId::new(case.id.clone()),
            srv: Srv::new(
                case.steps
                    .first()
                    .map_or_else(String::new, |step| step.srv.number().to_owned()),
            ),
            modes: case
                .modes
                .iter()
                .map(|mode| match mode {
                    CatalogMode::Active => Mode::Active,
                    CatalogMode::Dormant => Mode::Dormant,
                    CatalogMode::Mixed => Mode::Mixed,
                })
                .collect(),
        },
        content_sha256: case.content_hash.0,
    }
}
