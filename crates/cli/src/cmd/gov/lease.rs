//! `meterlab lease take|renew|release`: exclusive leases on a gateway's devices.

use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use meterlab_client::devices::Lease;

use super::{Common, print_json, with_client};
use crate::output::OutputFormat;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Lease a device; prints the lease id that renews and releases it.
    Take(TakeArgs),
    /// Extend a lease from now, by its ttl or a new one (--ttl-s).
    Renew(RenewArgs),
    /// Give a lease back (an admin may force another principal's).
    Release(ReleaseArgs),
}

#[derive(Debug, clap::Args)]
struct TakeArgs {
    /// The device, as `meterlab devices` lists it.
    device: String,
    /// Who holds it (a person, a job), shown in the device list.
    #[arg(long)]
    holder: String,
    /// Lease duration in seconds (the gateway may shorten it to its maximum).
    #[arg(long = "ttl-s", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
    ttl_s: u64,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, clap::Args)]
struct RenewArgs {
    /// The lease id `lease take` printed.
    lease_id: String,
    /// A new lease duration in seconds; without it the lease keeps its ttl.
    #[arg(long = "ttl-s", value_parser = clap::value_parser!(u64).range(1..))]
    ttl_s: Option<u64>,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, clap::Args)]
struct ReleaseArgs {
    /// The lease id.
    lease_id: String,
    #[command(flatten)]
    common: Common,
}

fn print_lease(lease: &Lease, output: OutputFormat, now: SystemTime) -> anyhow::Result<()> {
    match output {
        OutputFormat::Json => print_json(lease),
        OutputFormat::Text => {
            let left = lease
                .expires_at
                .and_then(|at| at.duration_since(now).ok())
                .map_or_else(|| "unknown".to_owned(), |d| format!("{} s", d.as_secs()));
            println!(
                "{} on {} held by {:?}, expires in {left}",
                lease.lease_id, lease.device_id, lease.holder
            );
            Ok(())
        }
    }
}

#[allow(
    clippy::disallowed_methods,
    reason = "the time left on a lease is printed against the wall clock"
)]
fn now() -> SystemTime {
    SystemTime::now()
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Take(args) => {
            let lease = with_client(&args.common, false, async |client| {
                Ok(client
                    .lease_device(&args.device, &args.holder, Duration::from_secs(args.ttl_s))
                    .await?)
            })?;
            print_lease(&lease, args.common.output, now())?;
        }
        Command::Renew(args) => {
            let lease = with_client(&args.common, false, async |client| {
                Ok(client
                    .renew_lease(&args.lease_id, args.ttl_s.map(Duration::from_secs))
                    .await?)
            })?;
            print_lease(&lease, args.common.output, now())?;
        }
        Command::Release(args) => {
            with_client(&args.common, false, async |client| {
                Ok(client.release_device(&args.lease_id).await?)
            })?;
            match args.common.output {
                OutputFormat::Json => {
                    print_json(&serde_json::json!({ "released": args.lease_id }))?;
                }
                OutputFormat::Text => println!("{} released", args.lease_id),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
