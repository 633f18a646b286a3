//! `meterlab plan`: plan an EPCL entry with its six phases, and start a phase.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use meterlab_governance::model::{DeviceModel, DmcComponents, DmcId, EntryKey, PhaseKind};
use serde::Serialize;

use super::{Common, answer, parse, print_json, with_client};
use crate::gateway::BadInput;
use crate::output::OutputFormat;
use crate::verdicts::{self, Style};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Plan an entry and register every phase rule 1 requires of it (MT and SIT × three modes).
    Entry(Box<EntryArgs>),
    /// Start a phase: the gateway checks its entry criteria (rule 3) and records the start.
    Start(Box<StartArgs>),
}

#[derive(Debug, clap::Args)]
struct EntryArgs {
    /// The planned entry: RELEASE/SMSO/DMC.
    #[arg(long, value_parser = parse::entry)]
    entry: EntryKey,
    /// The DMC's devices from its description file (suites/dmcs/<id>.toml).
    #[arg(long, conflicts_with_all = ["hub", "esme", "gsme"], required_unless_present = "hub")]
    dmc_file: Option<PathBuf>,
    /// The comms hub: MANUFACTURER:MODEL:FIRMWARE.
    #[arg(long, value_parser = parse::device_model)]
    hub: Option<DeviceModel>,
    /// The electricity meter: MANUFACTURER:MODEL:FIRMWARE.
    #[arg(long, value_parser = parse::device_model, requires = "hub")]
    esme: Option<DeviceModel>,
    /// The gas meter: MANUFACTURER:MODEL:FIRMWARE.
    #[arg(long, value_parser = parse::device_model, requires = "hub")]
    gsme: Option<DeviceModel>,
    /// Why (recorded with the events).
    #[arg(long, default_value = "planned from the command line")]
    reason: String,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, clap::Args)]
struct StartArgs {
    /// The planned entry: RELEASE/SMSO/DMC.
    #[arg(long, value_parser = parse::entry)]
    entry: EntryKey,
    /// The phase: TEST.MODE, e.g. mt.active.
    #[arg(value_parser = parse::phase_kind)]
    phase: PhaseKind,
    /// Why (recorded with the event).
    #[arg(long, default_value = "started from the command line")]
    reason: String,
    /// List met criteria too.
    #[arg(long)]
    verbose: bool,
    #[command(flatten)]
    common: Common,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Entry(args) => plan_entry(*args),
        Command::Start(args) => start(*args),
    }
}

/// The devices of the DMC `dmc` from its description file; `named_by` is the option that named
/// the DMC (for the error when the file describes another).
pub(super) fn components_from_file(
    path: &Path,
    dmc: &DmcId,
    named_by: &str,
) -> anyhow::Result<DmcComponents> {
    let description = meterlab_dmc::DmcDescription::load(path)
        .map_err(|errors| BadInput(format!("--dmc-file: {errors}")))?;
    if description.id != dmc.as_str() {
        return Err(BadInput(format!(
            "--dmc-file {}: describes DMC {:?}, but {named_by} names DMC {:?}",
            path.display(),
            description.id,
            dmc.as_str()
        ))
        .into());
    }
    let model = |role| {
        description.device(role).map(|device| DeviceModel {
            manufacturer: device
                .model
                .split_whitespace()
                .next()
                .unwrap_or(&device.model)
                .to_owned(),
            model: device.model.clone(),
            firmware: device.firmware.clone(),
        })
    };
    let comms_hub = model(meterlab_dmc::DeviceRole::Hub).ok_or_else(|| {
        BadInput(format!(
            "--dmc-file {}: the DMC has no comms hub",
            path.display()
        ))
    })?;
    Ok(DmcComponents {
        comms_hub,
        esme: model(meterlab_dmc::DeviceRole::Esme),
        gsme: model(meterlab_dmc::DeviceRole::Gsme),
        ppmid: None,
        ihd: None,
    })
}

#[derive(Debug, Serialize)]
struct Planned {
    entry: String,
    recorded: meterlab_client::types::Recorded,
    phases: Vec<PlannedPhase>,
}

#[derive(Debug, Serialize)]
struct PlannedPhase {
    phase: String,
    log_position: u64,
}

fn plan_entry(args: EntryArgs) -> anyhow::Result<ExitCode> {
    let components = match (&args.dmc_file, &args.hub) {
        (Some(path), _) => components_from_file(path, &args.entry.dmc, "--entry")?,
        (None, Some(hub)) => DmcComponents {
            comms_hub: hub.clone(),
            esme: args.esme.clone(),
            gsme: args.gsme.clone(),
            ppmid: None,
            ihd: None,
        },
        (None, None) => return Err(BadInput("give --dmc-file or --hub".to_owned()).into()),
    };
    let planned = with_client(&args.common, true, async |client| {
        let planned = client
            .register_entry(&args.entry, &components, &args.reason)
            .await?;
        let mut phases = Vec::new();
        for phase in &planned.required_phases {
            let recorded = client.register_phase(phase, None, &args.reason).await?;
            phases.push(PlannedPhase {
                phase: phase.kind.to_string(),
                log_position: recorded.log_position,
            });
        }
        Ok(Planned {
            entry: verdicts::entry_name(&args.entry),
            recorded: planned.recorded,
            phases,
        })
    })?;
    match args.common.output {
        OutputFormat::Json => print_json(&planned)?,
        OutputFormat::Text => {
            println!(
                "planned entry {} (log position {})",
                planned.entry, planned.recorded.log_position
            );
            for phase in &planned.phases {
                println!(
                    "  phase {:<12} registered (log position {})",
                    phase.phase, phase.log_position
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn start(args: StartArgs) -> anyhow::Result<ExitCode> {
    let phase = parse::phase(&args.entry, args.phase);
    let started = with_client(&args.common, false, async |client| {
        Ok(client.start_phase(&phase, &args.reason).await?)
    })?;
    match args.common.output {
        OutputFormat::Json => print_json(&started)?,
        OutputFormat::Text => {
            if started.started {
                println!("started {}", verdicts::phase_name(&phase));
            } else {
                println!(
                    "{} NOT started: its entry criteria are not met",
                    verdicts::phase_name(&phase)
                );
            }
            verdicts::print(&started.entry_criteria, args.verbose, Style::for_stdout());
        }
    }
    Ok(answer(started.started))
}
