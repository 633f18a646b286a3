//! `meterlab emulate-ctl`: change a running `meterlab emulate --control ADDR` from outside —
//! faults, alerts, reboots — and list its devices, without hand-writing the JSON protocol.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use meterlab_emulator::serve::control::{
    AlertName, ControlClient, DeviceState, Faults, HubRef, Request, Response, Scope,
};

use crate::cmd::fault_args::FaultArgs;
use crate::output::OutputFormat;

/// Control a running emulator (started with `meterlab emulate --control ADDR`).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The emulator's control address.
    #[arg(
        long,
        value_name = "ADDR",
        env = "METERLAB_CONTROL",
        default_value = "127.0.0.1:4060"
    )]
    control: SocketAddr,
    /// How to print the answer.
    #[arg(long, value_enum, default_value_t)]
    output: OutputFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Set faults; only the fields given change.
    Faults {
        #[command(flatten)]
        scope: ScopeArgs,
        #[command(flatten)]
        faults: FaultArgs,
    },
    /// Remove every fault in scope (scenario faults included).
    ClearFaults {
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Make a device raise an alert, pushed on every association open to it.
    Alert {
        /// Device name, `<hub>.<role>` (e.g. hub-00001.esme).
        #[arg(long)]
        device: String,
        /// What happens.
        #[arg(long, value_enum)]
        kind: AlertKind,
        /// Seconds from now (default: at once).
        #[arg(long)]
        after_s: Option<u32>,
        /// Supply interruption only: seconds without supply (the device is silent meanwhile).
        #[arg(long)]
        outage_s: Option<u32>,
    },
    /// Reboot devices now, dropping their links.
    Reboot {
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// List every device with its state, open associations and faults.
    List,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum AlertKind {
    /// Terminal cover removed.
    Tamper,
    /// Supply interrupted (reported when it returns).
    SupplyInterruption,
}

/// Which devices: exactly one of these.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
struct ScopeArgs {
    /// Every device of every hub.
    #[arg(long)]
    all: bool,
    /// Every device of one hub, by number (1, 2, ...) or id.
    #[arg(long, value_name = "HUB")]
    hub: Option<String>,
    /// One device, `<hub>.<role>`.
    #[arg(long, value_name = "NAME")]
    device: Option<String>,
    /// One hub's serial line only, by number or id.
    #[arg(long, value_name = "HUB")]
    link: Option<String>,
}

fn hub_ref(text: &str) -> HubRef {
    match text.parse() {
        Ok(number) => HubRef::Number(number),
        Err(_) => HubRef::Id(text.to_owned()),
    }
}

impl ScopeArgs {
    fn scope(&self) -> Scope {
        match (&self.hub, &self.device, &self.link) {
            (Some(hub), _, _) => Scope::Hub(hub_ref(hub)),
            (_, Some(device), _) => Scope::Device(device.clone()),
            (_, _, Some(link)) => Scope::Link(hub_ref(link)),
            _ => Scope::All,
        }
    }
}

impl Command {
    fn request(&self) -> Request {
        match self {
            Self::Faults { scope, faults } => Request::SetFaults {
                scope: scope.scope(),
                faults: faults.faults(),
            },
            Self::ClearFaults { scope } => Request::ClearFaults {
                scope: scope.scope(),
            },
            Self::Alert {
                device,
                kind,
                after_s,
                outage_s,
            } => Request::RaiseAlert {
                device: device.clone(),
                kind: match kind {
                    AlertKind::Tamper => AlertName::Tamper,
                    AlertKind::SupplyInterruption => AlertName::SupplyInterruption,
                },
                after_s: *after_s,
                outage_s: *outage_s,
            },
            Self::Reboot { scope } => Request::Reboot {
                scope: scope.scope(),
            },
            Self::List => Request::List {},
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let request = args.command.request();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let response: Response = runtime.block_on(async {
        let mut client = ControlClient::connect(args.control).await?;
        client.request(&request).await
    })?;
    if !response.ok {
        bail!(
            "the emulator refused the request: {}",
            response.error.as_deref().unwrap_or("no reason given")
        );
    }
    match args.output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&response)?),
        OutputFormat::Text => match &response.devices {
            Some(devices) => print_devices(devices),
            None => println!(
                "done: {} {}",
                response.touched.unwrap_or(0),
                match args.command {
                    Command::Faults { ref scope, .. } | Command::ClearFaults { ref scope }
                        if scope.link.is_some() =>
                        "serial line(s)",
                    _ => "device(s)",
                }
            ),
        },
    }
    Ok(())
}

fn faults_text(faults: &Faults) -> String {
    let mut parts = Vec::new();
    if let Some(drop) = faults.drop.filter(|drop| *drop > 0.0) {
        parts.push(format!("drop={drop}"));
    }
    if let Some(corrupt) = faults.corrupt.filter(|corrupt| *corrupt > 0.0) {
        parts.push(format!("corrupt={corrupt}"));
    }
    if let Some(latency) = faults.latency_ms.filter(|latency| *latency > 0) {
        parts.push(format!("latency={latency}ms"));
    }
    if faults.silent == Some(true) {
        parts.push("silent".to_owned());
    }
    if faults.refuse_associations == Some(true) {
        parts.push("refuse-associations".to_owned());
    }
    if let Some(every) = faults.reboot_every_s.filter(|every| *every > 0) {
        parts.push(format!("reboot-every={every}s"));
    }
    if let Some(baud) = faults.serial_baud.filter(|baud| *baud > 0) {
        parts.push(format!("serial-baud={baud}"));
    }
    if parts.is_empty() {
        "-".to_owned()
    } else {
        parts.join(",")
    }
}

fn print_devices(devices: &[DeviceState]) {
    let header = [
        "DEVICE", "STATE", "FIRMWARE", "WPORT", "POWER", "ASSOC", "ALERTS", "FAULTS", "LINE",
    ];
    let rows: Vec<[String; 9]> = devices
        .iter()
        .map(|device| {
            [
                device.name.clone(),
                device.state.clone(),
                device.firmware.clone(),
                device.wport.to_string(),
                if device.powered { "on" } else { "off" }.to_owned(),
                device.open_associations.to_string(),
                device.pending_alerts.to_string(),
                faults_text(&device.faults),
                faults_text(&device.link_faults),
            ]
        })
        .collect();
    crate::output::print_table(header, &rows);
}
