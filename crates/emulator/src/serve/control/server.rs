//! The control endpoint: resolves scopes, carries out requests, serves connections.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use super::protocol::{
    AlertName, DeviceState, FaultValueError, Faults, HubRef, MAX_REQUEST_LINE, Request, Response,
    Scope,
};
use crate::serve::runtime::{Emulator, FaultScope, Incident};

/// Why a well-formed request could not be carried out.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RequestError {
    /// A fault field's value.
    #[error(transparent)]
    Faults(#[from] FaultValueError),
    /// No hub with this id.
    #[error("{field}: no hub with id {id:?}")]
    NoHubId {
        /// The request field.
        field: &'static str,
        /// The id given.
        id: String,
    },
    /// No hub with this number.
    #[error("{field}: no hub {number} (hubs are numbered 1-{count})")]
    NoHubNumber {
        /// The request field.
        field: &'static str,
        /// The number given.
        number: u32,
        /// Hubs in the emulation.
        count: usize,
    },
    /// No device with this name.
    #[error("{field}: no device named {name:?}")]
    NoDevice {
        /// The request field.
        field: &'static str,
        /// The name given.
        name: String,
    },
    /// `outage_s` given for an alert other than a supply interruption.
    #[error("outage_s applies to kind supply_interruption only")]
    OutageWithoutInterruption,
}

fn resolve_hub(
    emulator: &Emulator,
    hub: &HubRef,
    field: &'static str,
) -> Result<String, RequestError> {
    match hub {
        HubRef::Id(id) => {
            emulator
                .find_hub(id)
                .map(|_| id.clone())
                .ok_or_else(|| RequestError::NoHubId {
                    field,
                    id: id.clone(),
                })
        }
        HubRef::Number(number) => usize::try_from(*number)
            .ok()
            .and_then(|number| number.checked_sub(1))
            .and_then(|index| emulator.hub(index).map(|hub| hub.id.clone()))
            .ok_or_else(|| RequestError::NoHubNumber {
                field,
                number: *number,
                count: emulator.hub_count(),
            }),
    }
}

fn resolve_scope(emulator: &Emulator, scope: &Scope) -> Result<FaultScope, RequestError> {
    Ok(match scope {
        Scope::All => FaultScope::All,
        Scope::Hub(hub) => FaultScope::Hub(resolve_hub(emulator, hub, "scope.hub")?),
        Scope::Link(hub) => FaultScope::Link(resolve_hub(emulator, hub, "scope.link")?),
        Scope::Device(name) => {
            emulator
                .find_device(name)
                .ok_or_else(|| RequestError::NoDevice {
                    field: "scope.device",
                    name: name.clone(),
                })?;
            FaultScope::Device(name.clone())
        }
    })
}

/// Carries out one request.
pub fn execute(emulator: &Emulator, request: &Request) -> Response {
    let result = match request {
        Request::SetFaults { scope, faults } => faults
            .overlay()
            .map_err(RequestError::from)
            .and_then(|overlay| {
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
            .ok_or_else(|| RequestError::NoDevice {
                field: "device",
                name: device.clone(),
            })
            .and_then(|at| {
                let incident = match (kind, outage_s) {
                    (AlertName::Tamper, Some(_)) => {
                        return Err(RequestError::OutageWithoutInterruption);
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
    result.unwrap_or_else(|error| Response::error(error.to_string()))
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
