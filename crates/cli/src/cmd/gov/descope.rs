//! `meterlab descope`: ask to de-scope a case because an equivalent test passed (rule 7). Every
//! condition is printed, satisfied or not; a refusal exits 3.

use std::process::ExitCode;

use meterlab_client::types::{CitedResult, DescopeRequest, PhaseCase};
use meterlab_governance::model::{CaseId, EntryKey, PhaseKind};

use super::{Common, answer, parse, print_json, with_client};
use crate::output::OutputFormat;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The planned entry: RELEASE/SMSO/DMC.
    #[arg(long, value_parser = parse::entry)]
    entry: EntryKey,
    /// The phase of the case to de-scope, e.g. sit.active.
    #[arg(long, value_parser = parse::phase_kind)]
    phase: PhaseKind,
    /// The case to de-scope.
    #[arg(long)]
    case: String,
    /// The phase of the equivalent result cited (default: --phase).
    #[arg(long, value_parser = parse::phase_kind)]
    cite_phase: Option<PhaseKind>,
    /// The case whose passed result is cited.
    #[arg(long)]
    cite_case: String,
    /// A particular device of the cited result (with --cite-attempt).
    #[arg(long, requires = "cite_attempt")]
    cite_device: Option<String>,
    /// A particular attempt of the cited result (with --cite-device).
    #[arg(long, requires = "cite_device")]
    cite_attempt: Option<u32>,
    /// Why the cited test is equivalent (rule 7 requires one).
    #[arg(long)]
    rationale: String,
    #[command(flatten)]
    common: Common,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let request = DescopeRequest {
        case: PhaseCase {
            phase: parse::phase(&args.entry, args.phase),
            case: CaseId::new(args.case.clone()),
        },
        cited: CitedResult {
            case: PhaseCase {
                phase: parse::phase(&args.entry, args.cite_phase.unwrap_or(args.phase)),
                case: CaseId::new(args.cite_case.clone()),
            },
            device_and_attempt: args.cite_device.clone().zip(args.cite_attempt),
        },
        rationale: args.rationale.clone(),
    };
    let decision = with_client(&args.common, false, async |client| {
        Ok(client.request_descope(&request, &args.rationale).await?)
    })?;
    match args.common.output {
        OutputFormat::Json => print_json(&decision)?,
        OutputFormat::Text => {
            if decision.accepted {
                println!(
                    "de-scoped {} in {} (log position {})",
                    args.case,
                    args.phase,
                    decision.recorded.as_ref().map_or(0, |r| r.log_position)
                );
            } else {
                println!("de-scope of {} in {} REFUSED:", args.case, args.phase);
            }
            let (failed, met): (Vec<_>, Vec<_>) =
                decision.checks.iter().partition(|check| !check.satisfied);
            for check in failed.iter().chain(&met) {
                println!(
                    "  [{}] {}: {}",
                    if check.satisfied {
                        "met    "
                    } else {
                        "not met"
                    },
                    check.condition,
                    check.explanation
                );
            }
        }
    }
    Ok(answer(decision.accepted))
}
