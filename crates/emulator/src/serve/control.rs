//! Run-time control of a running emulator from outside the process: a line-delimited JSON
//! protocol over TCP. Each request is one JSON object on one line; each gets exactly one
//! response object on one line, in order.
//!
//! ```text
//! → {"command":"set_faults","scope":{"hub":2},"faults":{"drop":0.2,"latency_ms":150}}
//! ← {"ok":true,"touched":3}
//! → {"command":"clear_faults","scope":{"device":"hub-00002.esme"}}
//! ← {"ok":true,"touched":1}
//! → {"command":"raise_alert","device":"hub-00001.esme","kind":"tamper","after_s":30}
//! ← {"ok":true,"touched":1}
//! → {"command":"reboot","scope":"all"}
//! ← {"ok":true,"touched":6}
//! → {"command":"list"}
//! ← {"ok":true,"devices":[{"name":"hub-00001.hub","hub":"hub-00001","hub_number":1,...}]}
//! → {"command":"set_faults","scope":"all","faults":{"dorp":0.2}}
//! ← {"ok":false,"error":"unknown field `dorp`, expected one of `drop`, ... at line 1 column 52"}
//! ```
//!
//! Scopes: `"all"`, `{"hub":2}` (hub number) or `{"hub":"north-mixed-1"}` (hub id), `{"device":
//! "<hub>.<role>"}`, `{"link":2}` (a hub's serial line only). Fault fields: `drop`, `corrupt`
//! (fractions 0.0-1.0), `latency_ms`, `silent`, `refuse_associations`, `reboot_every_s` (0 turns
//! periodic reboots off), `serial_baud` (0 restores the configured rate). `clear_faults` sets
//! every fault of the scope to none, scenario faults included. Alert kinds: `tamper`,
//! `supply_interruption` (with `outage_s`, the device being silent meanwhile; the alert is raised
//! when the supply returns). A firmware-activated alert is raised by activating a transferred
//! image, as on a real meter.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::faults::{FaultConfig, FaultOverlay};
use crate::serve::runtime::{Emulator, FaultScope, Incident};

/// Longest request line accepted.
pub const MAX_REQUEST_LINE: usize = 64 * 1024;

/// One control request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Changes the given fault fields of every device (or line) in scope; others are kept.
    SetFaults {
        /// Which devices.
        scope: Scope,
        /// The fields to change.
        faults: Faults,
    },
    /// Removes every fault in scope.
    ClearFaults {
        /// Which devices.
        scope: Scope,
    },
    /// Makes a device raise an alert, pushed on every open association to it.
    RaiseAlert {
        /// Device name, `<hub>.<role>`.
        device: String,
        /// What happens.
        kind: AlertName,
        /// Seconds from now (default: at once).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after_s: Option<u32>,
        /// For a supply interruption: seconds without supply (default 0).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        outage_s: Option<u32>,
    },
    /// Reboots every device in scope now, dropping their links.
    Reboot {
        /// Which devices.
        scope: Scope,
    },
    /// Every device with its state and faults.
    List {},
}

/// Which devices a request applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Scope {
    /// Every device of every hub.
    All,
    /// Every device of one hub.
    Hub(HubRef),
    /// One device, `<hub>.<role>`.
    Device(String),
    /// One hub's serial line.
    Link(HubRef),
}

/// A hub, by its 1-based number or its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum HubRef {
    /// 1-based position in the emulation.
    Number(u32),
    /// Id from the scenario.
    Id(String),
}

/// Fault fields; each one given replaces the current value.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    /// Fraction of frames dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop: Option<f64>,
    /// Fraction of frames corrupted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrupt: Option<f64>,
    /// Extra delay before each reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u32>,
    /// Answer nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silent: Option<bool>,
    /// Reject association requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refuse_associations: Option<bool>,
    /// Reboot this often (0: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reboot_every_s: Option<u32>,
    /// Serial line rate (0: the configured one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_baud: Option<u32>,
}

/// Alerts that can be raised on command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertName {
    /// Terminal cover removed.
    Tamper,
    /// Supply interrupted, reported when it returns.
    SupplyInterruption,
}

/// One device as `list` reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceState {
    /// `<hub>.<role>`.
    pub name: String,
    /// Hub id.
    pub hub: String,
    /// Hub number (1-based).
    pub hub_number: u32,
    /// hub, esme or gsme.
    pub role: String,
    /// Installation state.
    pub state: String,
    /// Firmware version reported.
    pub firmware: String,
    /// wPort on the TCP wrapper.
    pub wport: u16,
    /// HDLC logical address on the hub's serial line.
    pub hdlc_logical: u16,
    /// Whether the supply is on.
    pub powered: bool,
    /// Associations open to it now.
    pub open_associations: u32,
    /// Alerts queued for the next association.
    pub pending_alerts: usize,
    /// The device's faults.
    pub faults: Faults,
    /// Its hub's serial line faults.
    pub link_faults: Faults,
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// Whether the request was carried out.
    pub ok: bool,
    /// Why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How many devices (or lines) it applied to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub touched: Option<usize>,
    /// For `list`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<Vec<DeviceState>>,
}

impl Response {
    fn touched(count: usize) -> Self {
        Self {
            ok: true,
            error: None,
            touched: Some(count),
            devices: None,
        }
    }

    fn error(message: impl Into<String>) -> Self {
        Self {
            ok: false,
            error: Some(message.into()),
            touched: None,
            devices: None,
        }
    }
}

/// Why a control exchange failed on the client side.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The connection failed.
    #[error("control connection to {address}: {source}")]
    Io {
        /// The control address.
        address: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The emulator closed the connection without answering.
    #[error("the emulator at {0} closed the control connection without answering")]
    Closed(SocketAddr),
    /// The answer is not a response object.
    #[error("malformed control response from {address}: {message}")]
    Malformed {
        /// The control address.
        address: SocketAddr,
        /// What is wrong.
        message: String,
    },
}

impl From<FaultConfig> for Faults {
    fn from(faults: FaultConfig) -> Self {
        Self {
            drop: Some(faults.drop),
            corrupt: Some(faults.corrupt),
            latency_ms: Some(faults.latency_ms),
            silent: Some(faults.silent),
            refuse_associations: Some(faults.refuse_associations),
            reboot_every_s: Some(faults.reboot_every_s.unwrap_or(0)),
            serial_baud: Some(faults.serial_baud.unwrap_or(0)),
        }
    }
}

impl Faults {
    /// Every fault off.
    pub fn cleared() -> Self {
        FaultConfig::NONE.into()
    }

    /// The overlay these fields make, checked.
    pub fn overlay(&self) -> Result<FaultOverlay, String> {
        for (name, fraction) in [("drop", self.drop), ("corrupt", self.corrupt)] {
            if let Some(fraction) = fraction
                && !(0.0..=1.0).contains(&fraction)
            {
                return Err(format!(
                    "faults.{name} {fraction} must be a fraction from 0.0 to 1.0"
                ));
            }
        }
        if let Some(baud) = self.serial_baud
            && baud != 0
            && !meterlab_devices::STANDARD_BAUD_RATES.contains(&baud)
        {
            return Err(format!(
                "faults.serial_baud {baud} is not a standard rate; expected 0 or one of {:?}",
                meterlab_devices::STANDARD_BAUD_RATES
            ));
        }
        let overlay = FaultOverlay {
            drop: self.drop,
            corrupt: self.corrupt,
            latency_ms: self.latency_ms,
            silent: self.silent,
            refuse_associations: self.refuse_associations,
            reboot_every_s: self.reboot_every_s,
            serial_baud: self.serial_baud,
        };
        if overlay == FaultOverlay::default() {
            return Err(
                "faults: give at least one of drop, corrupt, latency_ms, silent, \
                 refuse_associations, reboot_every_s, serial_baud"
                    .to_owned(),
            );
        }
        Ok(overlay)
    }
}

fn resolve_hub(emulator: &Emulator, hub: &HubRef, field: &str) -> Result<String, String> {
    match hub {
        HubRef::Id(id) => emulator
            .find_hub(id)
            .map(|_| id.clone())
            .ok_or_else(|| format!("{field}: no hub with id {id:?}")),
        HubRef::Number(number) => usize::try_from(*number)
            .ok()
            .and_then(|number| number.checked_sub(1))
            .and_then(|index| emulator.hub(index).map(|hub| hub.id.clone()))
            .ok_or_else(|| {
                format!(
                    "{field}: no hub {number} (hubs are numbered 1-{})",
                    emulator.hub_count()
                )
            }),
    }
}

fn resolve_scope(emulator: &Emulator, scope: &Scope) -> Result<FaultScope, String> {
    Ok(match scope {
        Scope::All => FaultScope::All,
        Scope::Hub(hub) => FaultScope::Hub(resolve_hub(emulator, hub, "scope.hub")?),
        Scope::Link(hub) => FaultScope::Link(resolve_hub(emulator, hub, "scope.link")?),
        Scope::Device(name) => {
            emulator
                .find_device(name)
                .ok_or_else(|| format!("scope.device: no device named {name:?}"))?;
            FaultScope::Device(name.clone())
        }
    })
}

/// Carries out one request.
pub fn execute(emulator: &Emulator, request: &Request) -> Response {
    let result = match request {
        Request::SetFaults { scope, faults } => faults.overlay().and_then(|overlay| {
            let scope = resolve_scope(emulator, scope)?;
            Ok(Response::touched(emulator.set_faults(&scope, &overlay)))
        }),
        Request::ClearFaults { scope } => resolve_scope(emulator, scope).and_then(|scope| {
            let overlay = Faults::cleared().overlay()?;
            Ok(Response::touched(emulator.set_faults(&scope, &overlay)))
        }),
        Request::RaiseAlert {
            device,
            kind,
            after_s,
            outage_s,
        } => emulator
            .find_device(device)
            .ok_or_else(|| format!("device: no device named {device:?}"))
            .and_then(|at| {
                let incident = match (kind, outage_s) {
                    (AlertName::Tamper, Some(_)) => {
                        return Err("outage_s applies to kind supply_interruption only".to_owned());
                    }
                    (AlertName::Tamper, None) => Incident::Tamper,
                    (AlertName::SupplyInterruption, outage) => Incident::SupplyInterruption {
                        outage: Duration::from_secs(u64::from(outage.unwrap_or(0))),
                    },
                };
                let delay = Duration::from_secs(u64::from(after_s.unwrap_or(0)));
                emulator.schedule(at, incident, delay);
                Ok(Response::touched(1))
            }),
        Request::Reboot { scope } => {
            resolve_scope(emulator, scope).map(|scope| Response::touched(emulator.reboot(&scope)))
        }
        Request::List {} => Ok(Response {
            devices: Some(list(emulator)),
            ..Response::touched(0)
        }),
    };
    result.unwrap_or_else(Response::error)
}

fn list(emulator: &Emulator) -> Vec<DeviceState> {
    let mut devices = Vec::new();
    for index in 0..emulator.hub_count() {
        let Some(hub) = emulator.hub(index) else {
            continue;
        };
        for (device_index, emulated) in hub.devices.iter().enumerate() {
            let device = &emulated.device;
            devices.push(DeviceState {
                name: emulated.name.clone(),
                hub: hub.id.clone(),
                hub_number: hub.number,
                role: device.role().to_string(),
                state: device.installation_state().to_string(),
                firmware: device.firmware().to_owned(),
                wport: emulated.wport,
                hdlc_logical: emulated.hdlc_logical,
                powered: device.is_powered(),
                open_associations: emulator.open_associations(crate::serve::DeviceIndex {
                    hub: index,
                    device: device_index,
                }),
                pending_alerts: device.pending_alerts(),
                faults: emulated.faults.into(),
                link_faults: hub.faults.into(),
            });
        }
    }
    devices
}

/// Parses and carries out one request line.
pub fn handle_line(emulator: &Emulator, line: &str) -> Response {
    match serde_json::from_str::<Request>(line) {
        Ok(request) => {
            tracing::info!(?request, "control request");
            execute(emulator, &request)
        }
        Err(error) => Response::error(error.to_string()),
    }
}

/// Serves control connections until the listener fails.
pub async fn serve_control(emulator: Emulator, listener: TcpListener) -> std::io::Result<()> {
    loop {
        let (stream, peer) = listener.accept().await?;
        let emulator = emulator.clone();
        tokio::spawn(async move {
            if let Err(error) = serve_control_stream(&emulator, stream).await {
                tracing::debug!(%peer, %error, "control connection ended");
            }
        });
    }
}

/// Serves one control connection (TCP in production, any stream in tests).
pub async fn serve_control_stream<S>(emulator: &Emulator, stream: S) -> std::io::Result<()>
where
    S: AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (reader, mut writer) = tokio::io::split(stream);
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    loop {
        line.clear();
        let limit = u64::try_from(MAX_REQUEST_LINE + 1).unwrap_or(u64::MAX);
        let read = (&mut reader)
            .take(limit)
            .read_until(b'\n', &mut line)
            .await?;
        if read == 0 {
            return Ok(());
        }
        let complete = line.last() == Some(&b'\n');
        if !complete && line.len() > MAX_REQUEST_LINE {
            let response = Response::error(format!(
                "request longer than {MAX_REQUEST_LINE} bytes; one JSON object per line"
            ));
            write_response(&mut writer, &response).await?;
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line);
        if text.trim().is_empty() {
            continue;
        }
        let response = handle_line(emulator, text.trim());
        write_response(&mut writer, &response).await?;
    }
}

async fn write_response<W: tokio::io::AsyncWrite + Unpin>(
    writer: &mut W,
    response: &Response,
) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec(response).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    writer.write_all(&bytes).await?;
    writer.flush().await
}

/// A control client: one connection, requests answered in order.
#[derive(Debug)]
pub struct ControlClient {
    address: SocketAddr,
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl ControlClient {
    /// Connects to an emulator's control address.
    pub async fn connect(address: SocketAddr) -> Result<Self, ControlError> {
        let stream = TcpStream::connect(address)
            .await
            .map_err(|source| ControlError::Io { address, source })?;
        let (reader, writer) = stream.into_split();
        Ok(Self {
            address,
            reader: BufReader::new(reader),
            writer,
        })
    }

    /// Sends one request and reads its response.
    pub async fn request(&mut self, request: &Request) -> Result<Response, ControlError> {
        let address = self.address;
        let mut bytes = serde_json::to_vec(request).map_err(|error| ControlError::Malformed {
            address,
            message: error.to_string(),
        })?;
        bytes.push(b'\n');
        self.writer
            .write_all(&bytes)
            .await
            .map_err(|source| ControlError::Io { address, source })?;
        let mut line = String::new();
        let read = self
            .reader
            .read_line(&mut line)
            .await
            .map_err(|source| ControlError::Io { address, source })?;
        if read == 0 {
            return Err(ControlError::Closed(address));
        }
        serde_json::from_str(line.trim()).map_err(|error| ControlError::Malformed {
            address,
            message: error.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_in_the_documented_shape() {
        let request = Request::SetFaults {
            scope: Scope::Hub(HubRef::Number(2)),
            faults: Faults {
                drop: Some(0.2),
                ..Faults::default()
            },
        };
        let text = serde_json::to_string(&request).unwrap_or_default();
        assert_eq!(
            text,
            r#"{"command":"set_faults","scope":{"hub":2},"faults":{"drop":0.2}}"#
        );
        let parsed: Request = serde_json::from_str(&text).unwrap_or(Request::List {});
        assert_eq!(parsed, request);
        let all: Request = serde_json::from_str(r#"{"command":"reboot","scope":"all"}"#)
            .unwrap_or(Request::List {});
        assert_eq!(all, Request::Reboot { scope: Scope::All });
        let by_id: Request =
            serde_json::from_str(r#"{"command":"clear_faults","scope":{"link":"north-1"}}"#)
                .unwrap_or(Request::List {});
        assert_eq!(
            by_id,
            Request::ClearFaults {
                scope: Scope::Link(HubRef::Id("north-1".into()))
            }
        );
        assert_eq!(
            serde_json::to_string(&Request::List {}).unwrap_or_default(),
            r#"{"command":"list"}"#
        );
    }

    fn parse_error(line: &str) -> String {
        match serde_json::from_str::<Request>(line) {
            Ok(request) => format!("parsed as {request:?}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn malformed_requests_name_the_field() {
        let unknown = parse_error(r#"{"command":"set_faults","scope":"all","faults":{"dorp":1}}"#);
        assert!(unknown.contains("unknown field `dorp`"), "{unknown}");
        let missing = parse_error(r#"{"command":"set_faults","faults":{"drop":0.1}}"#);
        assert!(missing.contains("missing field `scope`"), "{missing}");
        let command = parse_error(r#"{"command":"explode"}"#);
        assert!(command.contains("unknown variant `explode`"), "{command}");
        let extra = parse_error(r#"{"command":"list","verbose":true}"#);
        assert!(extra.contains("unknown field `verbose`"), "{extra}");
        let kind = parse_error(r#"{"command":"raise_alert","device":"x","kind":"flood"}"#);
        assert!(kind.contains("unknown variant `flood`"), "{kind}");
    }

    #[test]
    fn fault_values_are_checked_by_name() {
        let bad = Faults {
            corrupt: Some(1.5),
            ..Faults::default()
        };
        assert_eq!(
            bad.overlay(),
            Err("faults.corrupt 1.5 must be a fraction from 0.0 to 1.0".to_owned())
        );
        let baud = Faults {
            serial_baud: Some(1234),
            ..Faults::default()
        };
        assert!(
            baud.overlay()
                .is_err_and(|error| error.starts_with("faults.serial_baud 1234"))
        );
        assert!(Faults::default().overlay().is_err());
        assert_eq!(
            Faults::cleared()
                .overlay()
                .map(|overlay| overlay.apply(FaultConfig {
                    drop: 0.5,
                    silent: true,
                    reboot_every_s: Some(9),
                    ..FaultConfig::NONE
                })),
            Ok(FaultConfig::NONE)
        );
    }
}
