//! `meterlab dmc deselect|reintroduce|firmware|model-change`: DMC changes (rule 8). Each prints
//! the consultation route the change needs and the phases that must (re)run because of it.

use std::path::PathBuf;
use std::process::ExitCode;

use meterlab_client::types::{DmcChangeKind, DmcChangeOutcome, DmcChangeRequest};
use meterlab_governance::model::{DeviceModel, DmcComponents, DmcId};
use serde::Serialize;

use super::plan::components_from_file;
use super::{Common, parse, print_json, with_client};
use crate::gateway::BadInput;
use crate::output::OutputFormat;
use crate::verdicts;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// The DMC leaves testing; its entries are blocked until it is reintroduced.
    Deselect(Box<DeselectArgs>),
    /// A de-selected DMC comes back unchanged (TAG consultation).
    Reintroduce(Box<ChangedArgs>),
    /// A de-selected DMC comes back with new firmware only (TAG consultation).
    Firmware(Box<ChangedArgs>),
    /// A model changed: a new DMC (new id) supersedes this one and needs a full phase set.
    ModelChange(Box<ModelArgs>),
}

#[derive(Debug, clap::Args)]
struct DeselectArgs {
    /// The DMC's id.
    #[arg(long)]
    dmc: String,
    /// Why it leaves testing (required).
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    common: Common,
}

/// The DMC's devices after the change: from its description file or given one by one.
#[derive(Debug, clap::Args)]
struct Devices {
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
}

#[derive(Debug, clap::Args)]
struct ChangedArgs {
    /// The DMC's id.
    #[arg(long)]
    dmc: String,
    #[command(flatten)]
    devices: Devices,
    /// Reference of the TAG consultation relied on (SVTAD 13.9; required).
    #[arg(long)]
    tag_consultation: String,
    /// A major change: SIT and regression are required again after an MT exit (rule 6).
    #[arg(long)]
    major: bool,
    /// What changed (default: a description of the devices that changed).
    #[arg(long, default_value = "")]
    reason: String,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, clap::Args)]
struct ModelArgs {
    /// The DMC being superseded.
    #[arg(long)]
    dmc: String,
    /// The new DMC's id.
    #[arg(long)]
    new_dmc: String,
    #[command(flatten)]
    devices: Devices,
    /// What changed (default: a description of the devices that changed).
    #[arg(long, default_value = "")]
    reason: String,
    #[command(flatten)]
    common: Common,
}

impl Devices {
    fn components(&self, dmc: &DmcId, named_by: &str) -> anyhow::Result<DmcComponents> {
        match (&self.dmc_file, &self.hub) {
            (Some(path), _) => components_from_file(path, dmc, named_by),
            (None, Some(hub)) => Ok(DmcComponents {
                comms_hub: hub.clone(),
                esme: self.esme.clone(),
                gsme: self.gsme.clone(),
                ppmid: None,
                ihd: None,
            }),
            (None, None) => Err(BadInput("give --dmc-file or --hub".to_owned()).into()),
        }
    }
}

fn id(option: &str, text: &str) -> anyhow::Result<DmcId> {
    if text.trim().is_empty() {
        return Err(BadInput(format!("{option} must not be empty")).into());
    }
    Ok(DmcId::new(text))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (request, common) = match args.command {
        Command::Deselect(a) => {
            let a = *a;
            (
                DmcChangeRequest {
                    dmc: id("--dmc", &a.dmc)?,
                    kind: DmcChangeKind::Deselected,
                    major: false,
                    reason: a.reason.clone(),
                    tag_consultation: String::new(),
                },
                a.common,
            )
        }
        Command::Reintroduce(a) | Command::Firmware(a) if a.tag_consultation.trim().is_empty() => {
            return Err(BadInput(format!(
                "--tag-consultation must name the TAG consultation DMC {} relies on (SVTAD 13.9)",
                a.dmc
            ))
            .into());
        }
        Command::Reintroduce(a) => {
            let dmc = id("--dmc", &a.dmc)?;
            let changed = a.devices.components(&dmc, "--dmc")?;
            (
                changed_request(dmc, DmcChangeKind::Reintroduced { changed }, &a),
                a.common,
            )
        }
        Command::Firmware(a) => {
            let dmc = id("--dmc", &a.dmc)?;
            let changed = a.devices.components(&dmc, "--dmc")?;
            (
                changed_request(dmc, DmcChangeKind::FirmwareOnly { changed }, &a),
                a.common,
            )
        }
        Command::ModelChange(a) => {
            let new_id = id("--new-dmc", &a.new_dmc)?;
            let changed = a.devices.components(&new_id, "--new-dmc")?;
            (
                DmcChangeRequest {
                    dmc: id("--dmc", &a.dmc)?,
                    kind: DmcChangeKind::ModelChange { new_id, changed },
                    major: false,
                    reason: a.reason.clone(),
                    tag_consultation: String::new(),
                },
                a.common,
            )
        }
    };
    let reason = if request.reason.is_empty() {
        "recorded from the command line".to_owned()
    } else {
        request.reason.clone()
    };
    let outcome = with_client(&common, false, async |client| {
        Ok(client.record_dmc_change(&request, &reason).await?)
    })?;
    match common.output {
        OutputFormat::Json => print_json(&Changed::of(&request, &outcome))?,
        OutputFormat::Text => print(&request, &outcome),
    }
    Ok(ExitCode::SUCCESS)
}

fn changed_request(dmc: DmcId, kind: DmcChangeKind, a: &ChangedArgs) -> DmcChangeRequest {
    DmcChangeRequest {
        dmc,
        kind,
        major: a.major,
        reason: a.reason.clone(),
        tag_consultation: a.tag_consultation.clone(),
    }
}

fn kind_name(kind: &DmcChangeKind) -> &'static str {
    match kind {
        DmcChangeKind::Deselected => "deselected",
        DmcChangeKind::Reintroduced { .. } => "reintroduced",
        DmcChangeKind::FirmwareOnly { .. } => "firmware-only",
        DmcChangeKind::ModelChange { .. } => "model-change",
    }
}

#[derive(Debug, Serialize)]
struct Changed {
    dmc: String,
    change: &'static str,
    major: bool,
    log_position: u64,
    /// `none`, `tag` or `full`.
    consultation: String,
    required_phases: Vec<String>,
}

impl Changed {
    fn of(request: &DmcChangeRequest, outcome: &DmcChangeOutcome) -> Changed {
        Changed {
            dmc: request.dmc.to_string(),
            change: kind_name(&request.kind),
            major: request.major,
            log_position: outcome.recorded.log_position,
            consultation: outcome.route.clone(),
            required_phases: outcome
                .required_phases
                .iter()
                .map(verdicts::phase_name)
                .collect(),
        }
    }
}

fn print(request: &DmcChangeRequest, outcome: &DmcChangeOutcome) {
    println!(
        "DMC {} {}{} (log position {}); consultation: {}",
        request.dmc,
        kind_name(&request.kind),
        if request.major { ", major" } else { "" },
        outcome.recorded.log_position,
        outcome.route
    );
    if outcome.required_phases.is_empty() {
        println!("  no phase needs to (re)run");
    }
    for phase in &outcome.required_phases {
        println!("  must (re)run: {}", verdicts::phase_name(phase));
    }
}
