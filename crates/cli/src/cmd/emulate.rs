//! `meterlab emulate`: serve emulated comms hubs and meters over the DLMS TCP wrapper and, with
//! `--serial`, HDLC on a pseudo-terminal per hub, until SIGINT or SIGTERM. With `--control` it
//! also listens for run-time control requests (line-delimited JSON; see `meterlab emulate-ctl`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use meterlab_devices::{Authentication, DevicesFile};
use meterlab_emulator::SimTime;
use meterlab_emulator::faults::FaultOverlay;
use meterlab_emulator::hub::{Emulation, Endpoints, MAX_HUBS};
use meterlab_emulator::scenario::Scenario;
use meterlab_emulator::serve::control::{Faults, serve_control};
use meterlab_emulator::serve::serial::{open_hub_line, serve_hub_line};
use meterlab_emulator::serve::tcp::serve_tcp;
use meterlab_emulator::serve::{Emulator, FaultScope};

use crate::cmd::fault_args::FaultArgs;
use crate::output::OutputFormat;

/// Emulate SMETS1 comms hubs with an ESME and a GSME behind each.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Scenario file (TOML) describing SMSOs, DMCs, hubs, states, keys, consumption and faults.
    #[arg(long, conflicts_with = "meters")]
    scenario: Option<PathBuf>,
    /// Start this many default meters instead (two per hub), all active.
    #[arg(long)]
    meters: Option<usize>,
    /// TCP wrapper listening address.
    #[arg(long, default_value = "127.0.0.1:4059")]
    listen: SocketAddr,
    /// Also open a pseudo-terminal per hub carrying HDLC.
    #[arg(long)]
    serial: bool,
    /// Listen for run-time control (faults, alerts, reboots, device list) on this address,
    /// e.g. 127.0.0.1:4060: one JSON request per line. `meterlab emulate-ctl` speaks it.
    #[arg(long, value_name = "ADDR")]
    control: Option<SocketAddr>,
    /// How to print the device table.
    #[arg(long, value_enum, default_value_t)]
    output: OutputFormat,
    /// Write the devices as a devices file (TOML) for the runner and the gateway.
    #[arg(long)]
    devices_out: Option<PathBuf>,
    /// Faults on every device from the start (changeable at run time with `emulate-ctl`).
    #[command(flatten)]
    faults: FaultArgs,
}

impl Args {
    fn fault_overlay(&self) -> anyhow::Result<FaultOverlay> {
        let faults = self.faults.faults();
        if faults == Faults::default() {
            return Ok(FaultOverlay::default());
        }
        faults
            .overlay()
            .map_err(|error| anyhow::anyhow!("fault flags: {error}"))
    }
}

#[allow(
    clippy::disallowed_methods,
    reason = "the binary starts simulated time at the wall clock"
)]
fn wall_clock() -> SimTime {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        });
    SimTime::from_millis(millis)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let scenario = match (&args.scenario, args.meters) {
        (Some(path), _) => Scenario::load(path)?,
        (None, Some(meters)) if meters == 0 || meters > 2 * MAX_HUBS => {
            bail!("--meters must be 1-{}", 2 * MAX_HUBS)
        }
        (None, Some(meters)) => Scenario::generated_meters(meters),
        (None, None) => bail!("give --scenario FILE or --meters N"),
    };
    let overlay = args.fault_overlay()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(args, scenario, overlay))
}

async fn serve(args: Args, scenario: Scenario, overlay: FaultOverlay) -> anyhow::Result<()> {
    let start = scenario.start.unwrap_or_else(wall_clock);
    let emulation = Emulation::build(&scenario, start)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr()?.to_string();
    let control = match args.control {
        Some(control) => Some(
            tokio::net::TcpListener::bind(control)
                .await
                .with_context(|| format!("cannot listen for control on {control}"))?,
        ),
        None => None,
    };
    let control_address = control
        .as_ref()
        .map(tokio::net::TcpListener::local_addr)
        .transpose()?
        .map(|address| address.to_string());
    let mut endpoints = Endpoints {
        tcp_address: Some(address.clone()),
        ..Endpoints::default()
    };
    let mut lines = Vec::new();
    if args.serial {
        for (index, hub) in emulation.hubs.iter().enumerate() {
            let line =
                open_hub_line().with_context(|| format!("cannot open a PTY for hub {}", hub.id))?;
            endpoints
                .serial_paths
                .insert(hub.id.clone(), line.path.clone());
            lines.push((index, line));
        }
    }
    let devices = emulation.devices_file(&endpoints, &scenario);
    let emulator = Emulator::new(emulation, start);
    if overlay != FaultOverlay::default() {
        emulator.set_faults(&FaultScope::All, &overlay);
    }
    emulator.schedule_scenario_alerts(&scenario);
    let tcp = tokio::spawn(serve_tcp(emulator.clone(), listener));
    if let Some(control) = control {
        let emulator = emulator.clone();
        tokio::spawn(async move {
            if let Err(error) = serve_control(emulator, control).await {
                tracing::error!(%error, "control listener stopped");
            }
        });
    }
    for (index, line) in lines {
        let emulator = emulator.clone();
        tokio::spawn(async move {
            if let Err(error) = serve_hub_line(emulator, index, line).await {
                tracing::error!(hub = index, %error, "serial line stopped");
            }
        });
    }
    if let Some(path) = &args.devices_out {
        devices.save(path)?;
    }
    match args.output {
        OutputFormat::Json => {
            // The devices file's shape, plus where the listeners are.
            let mut document = serde_json::to_value(&devices)?;
            if let Some(fields) = document.as_object_mut() {
                fields.insert("tcp_address".into(), address.clone().into());
                fields.insert(
                    "control_address".into(),
                    control_address
                        .clone()
                        .map_or(serde_json::Value::Null, Into::into),
                );
            }
            println!("{}", serde_json::to_string_pretty(&document)?);
        }
        OutputFormat::Text => print_table(&devices, &address, control_address.as_deref()),
    }
    wait_for_shutdown(tcp).await
}

async fn wait_for_shutdown(
    tcp: tokio::task::JoinHandle<std::io::Result<()>>,
) -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot watch SIGTERM")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("cannot watch SIGINT")?,
        _ = terminate.recv() => {}
        result = tcp => {
            result.context("TCP listener task failed")?.context("TCP listener failed")?;
        }
    }
    eprintln!("emulator stopped");
    Ok(())
}

fn clients(device: &meterlab_devices::Device) -> String {
    device
        .clients
        .iter()
        .map(|client| match (client.authentication, &client.password) {
            (Authentication::Lls, Some(password)) => format!("{}:lls({password})", client.sap),
            (authentication, _) if client.ciphered => {
                format!("{}:{authentication}+ciphered", client.sap)
            }
            (authentication, _) => format!("{}:{authentication}", client.sap),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn print_table(devices: &DevicesFile, address: &str, control: Option<&str>) {
    let rows: Vec<[String; 9]> = devices
        .devices
        .iter()
        .map(|device| {
            [
                device.hub.clone(),
                device.role.to_string(),
                device.dmc.clone(),
                device.smso.clone(),
                device.state.to_string(),
                device
                    .tcp
                    .as_ref()
                    .map_or_else(String::new, |tcp| tcp.wport.to_string()),
                device
                    .serial
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), |serial| serial.path.clone()),
                device.serial.as_ref().map_or_else(
                    || "-".to_owned(),
                    |serial| format!("{}/{}", serial.logical_address, serial.physical_address),
                ),
                clients(device),
            ]
        })
        .collect();
    let header = [
        "HUB", "DEVICE", "DMC", "SMSO", "STATE", "WPORT", "PTY", "HDLC", "CLIENTS",
    ];
    println!(
        "TCP wrapper listening on {address}; {} logical devices",
        rows.len()
    );
    if let Some(control) = control {
        println!("control listening on {control} (meterlab emulate-ctl --control {control} ...)");
    }
    crate::output::print_table(header, &rows);
}
