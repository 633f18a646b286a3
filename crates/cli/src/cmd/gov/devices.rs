//! `meterlab devices`: the gateway's devices with their state and lease; `meterlab devices
//! check DEVICE` checks one now (associates, reads its firmware version and clock) and exits 3
//! when it is unhealthy.

use std::process::ExitCode;

use meterlab_client::devices::DeviceFilter;

use super::{Common, print_json, with_client};
use crate::output::{OutputFormat, print_table};

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Only devices of this DMC.
    #[arg(long, default_value = "")]
    dmc: String,
    /// Only devices of this SMSO.
    #[arg(long, default_value = "")]
    smso: String,
    /// Only devices nobody holds a lease on.
    #[arg(long)]
    available: bool,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Check one device now: associate and read its firmware version and clock.
    Check(CheckArgs),
}

#[derive(Debug, clap::Args)]
struct CheckArgs {
    /// The device, as `meterlab devices` lists it.
    device: String,
    /// Your lease on the device, when you hold it (`meterlab lease take`).
    #[arg(long)]
    lease: Option<String>,
    #[command(flatten)]
    common: Common,
}

fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let health = with_client(&args.common, false, async |client| {
        Ok(client
            .check_health(&args.device, args.lease.as_deref())
            .await?)
    })?;
    match args.common.output {
        OutputFormat::Json => print_json(&health)?,
        OutputFormat::Text => {
            println!(
                "{}: {} — {}",
                health.device_id,
                if health.healthy {
                    "healthy"
                } else {
                    "unhealthy"
                },
                health.detail
            );
            if let Some(clock) = health.device_clock {
                println!("  device clock {}", prost_types::Timestamp::from(clock));
            }
        }
    }
    Ok(super::answer(health.healthy))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(Command::Check(check_args)) = args.command {
        return check(check_args);
    }
    let filter = DeviceFilter {
        dmc_id: args.dmc.clone(),
        smso_id: args.smso.clone(),
        available_only: args.available,
    };
    let devices = with_client(&args.common, false, async |client| {
        match client.list_devices(&filter).await {
            Err(error) if error.code() == Some(tonic::Code::Unimplemented) => Err(anyhow::anyhow!(
                "{}: this gateway does not serve DeviceService (a local --db store has no \
                 devices; `meterlab serve` with a config lists them)",
                client.url()
            )),
            other => Ok(other?),
        }
    })?;
    match args.common.output {
        OutputFormat::Json => print_json(&devices)?,
        OutputFormat::Text => {
            let rows: Vec<[String; 6]> = devices
                .iter()
                .map(|d| {
                    [
                        d.id.clone(),
                        d.kind.clone(),
                        d.dmc_id.clone(),
                        d.state.clone(),
                        d.lease
                            .as_ref()
                            .map_or_else(String::new, |l| l.holder.clone()),
                        d.transport.clone(),
                    ]
                })
                .collect();
            print_table(
                ["ID", "KIND", "DMC", "STATE", "LEASED BY", "TRANSPORT"],
                &rows,
            );
            println!("{} device(s)", devices.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}
