//! `meterlab emulate`: serve emulated comms hubs and meters over the DLMS TCP wrapper and, with
//! `--serial`, HDLC on a pseudo-terminal per hub, until SIGINT or SIGTERM. With `--control` it
//! also listens for run-time control requests (line-delimited JSON; see `meterlab emulate-ctl`).
//! With `--optical`, every meter whose DMC has an `[optical]` port also gets a pseudo-terminal
//! speaking IEC 62056-21 mode C, listed as `[device.optical]` in the devices file.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use meterlab_devices::{Authentication, DevicesFile, OpticalEndpoint};
use meterlab_emulator::SimTime;
use meterlab_emulator::faults::FaultOverlay;
use meterlab_emulator::hub::{Emulation, Endpoints, MAX_HUBS};
use meterlab_emulator::scenario::Scenario;
use meterlab_emulator::serve::control::{Faults, serve_control};
use meterlab_emulator::serve::optical::{open_optical_line, optical_devices, serve_optical_line};
use meterlab_emulator::serve::serial::{open_hub_line, serve_hub_line};
use meterlab_emulator::serve::tcp::{TcpOptions, serve_tcp_with};
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
    /// Close a TCP wrapper connection after this many seconds without a byte from the client
    /// (0: never). HDLC links drop after 120 s of inactivity; so do wrapper connections.
    #[arg(long, value_name = "SECONDS", default_value_t = TcpOptions::DEFAULT_IDLE_TIMEOUT.as_secs())]
    idle_timeout: u64,
    /// Serve at most this many TCP wrapper connections at once; more are closed on arrival
    /// (logged once each time the limit is reached).
    #[arg(long, value_name = "N", default_value_t = TcpOptions::DEFAULT_MAX_CONNECTIONS as u32,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// Also open a pseudo-terminal per hub carrying HDLC.
    #[arg(long)]
    serial: bool,
    /// Also open a pseudo-terminal per meter with an optical port (its DMC's `[optical]`),
    /// speaking IEC 62056-21 mode C from the same device model.
    #[arg(long)]
    optical: bool,
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
    fn tcp_options(&self) -> TcpOptions {
        TcpOptions {
            idle_timeout: (self.idle_timeout > 0).then(|| Duration::from_secs(self.idle_timeout)),
            max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
        }
    }

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
    let mut optical_lines = Vec::new();
    if args.optical {
        for port in optical_devices(&scenario, &emulation) {
            let line = open_optical_line().with_context(|| {
                format!("cannot open a PTY for the optical port of {}", port.name)
            })?;
            optical_lines.push((port, line));
        }
    }
    let mut devices = emulation.devices_file(&endpoints, &scenario);
    for (port, line) in &optical_lines {
        if let Some(device) = devices
            .devices
            .iter_mut()
            .find(|device| device.name == port.name)
        {
            device.optical = Some(OpticalEndpoint {
                path: line.path.clone(),
                address: port.config.address.clone(),
                password: port.config.password.clone(),
            });
        }
    }
    let emulator = Emulator::new(emulation, start);
    if overlay != FaultOverlay::default() {
        emulator.set_faults(&FaultScope::All, &overlay);
    }
    emulator.schedule_scenario_alerts(&scenario);
    let tcp = tokio::spawn(serve_tcp_with(
        emulator.clone(),
        listener,
        args.tcp_options(),
    ));
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
    for (port, line) in optical_lines {
        let emulator = emulator.clone();
        tokio::spawn(async move {
            let name = port.name.clone();
            if let Err(error) = serve_optical_line(emulator, port, line).await {
                tracing::error!(device = %name, %error, "optical port stopped");
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
        OutputFormat::Text => {
            print_table(&devices, &address, control_address.as_deref());
            for device in &devices.devices {
                if let Some(optical) = &device.optical {
                    println!(
                        "optical port (IEC 62056-21) of {}: {} (sign-on address {})",
                        device.name, optical.path, optical.address
                    );
                }
            }
        }
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
