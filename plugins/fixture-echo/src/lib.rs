//! A well-behaved adapter for tests and benchmarks, speaking a toy line protocol.
//!
//! Protocol (ASCII lines ending in `\n`):
//! - `FW?` is answered `FW=<version>`; `SUPPLY?` is answered `SUPPLY=ON|OFF|ARMED`;
//!   `SUPPLY=ON|OFF|ARMED` sets the supply and is answered with the new state.
//! - The device answers `ERR <code> <reason>` when it refuses, and may interleave
//!   `ALERT <code> <message>` lines, which become alerts.
//! - Bytes arriving while no request is outstanding are echoed back (the toy device's loopback
//!   check).
//!
//! On `LinkOpened` over a serial link it switches the line to 9600 8N1 (as IEC 62056-21 devices
//! do after sign-on). Each request arms timer 1 for `response_timeout_ms` (session parameter,
//! default 2000 ms); when it fires, the request completes with a `Timeout` error.
//!
//! On `CloseSession` it sends `BYE` and answers `SessionClosed` at the device's next line, or
//! when timer 2 (`response_timeout_ms` again) fires without one.
//!
//! Must never depend on anything but `meterlab-plugin`.
#![forbid(unsafe_code)]

use meterlab_plugin::pb::{
    AdapterActions, AdapterInfo, Alert, AlertSeverity, DmcSupport, FirmwareVersion, HostEvent,
    LinkClosed, LinkKind, LogLevel, NotSupportedOnDmc, Parity, ReconfigureLink, ServiceRequest,
    ServiceResponse, Srv, SrvSupport, StopBits, SupplyState, SupplyStatus, action, host_event,
    service_error, service_request::Body, service_response::Outcome,
};
use meterlab_plugin::{Adapter, OpenError};

pub const ID: &str = env!("CARGO_PKG_NAME");
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const DMC_ID: &str = "TOY-CH-1/TOY-ESME-1";
const RESPONSE_TIMER: u64 = 1;
const CLOSE_TIMER: u64 = 2;
const DEFAULT_RESPONSE_TIMEOUT_MS: u64 = 2000;
/// Longest line accepted from the device before the input is considered garbage.
const MAX_LINE: usize = 256;

#[derive(Debug)]
struct Outstanding {
    request_id: String,
    srv: Srv,
}

#[derive(Debug)]
pub struct EchoAdapter {
    serial: bool,
    dmc_id: String,
    response_timeout_ms: u64,
    outstanding: Option<Outstanding>,
    line: Vec<u8>,
    /// `BYE` was sent; the next line from the device finishes the close.
    closing: bool,
}

impl EchoAdapter {
    fn start(&mut self, request: ServiceRequest) -> AdapterActions {
        let srv = request.srv();
        let command: &[u8] = match &request.body {
            Some(Body::ReadFirmwareVersion(_)) => b"FW?\n",
            Some(Body::ReadSupplyStatus(_)) => b"SUPPLY?\n",
            Some(Body::EnableSupply(_)) => b"SUPPLY=ON\n",
            Some(Body::DisableSupply(_)) => b"SUPPLY=OFF\n",
            Some(Body::ArmSupply(_)) => b"SUPPLY=ARMED\n",
            _ => {
                let error = service_error::Kind::NotSupportedOnDmc(NotSupportedOnDmc {
                    dmc_id: self.dmc_id.clone(),
                    srv: srv.into(),
                    reason: String::new(),
                });
                return AdapterActions::none()
                    .complete(ServiceResponse::error(request.request_id, error));
            }
        };
        self.outstanding = Some(Outstanding {
            request_id: request.request_id,
            srv,
        });
        self.line.clear();
        AdapterActions::none()
            .transmit(command)
            .set_timer(RESPONSE_TIMER, self.response_timeout_ms)
    }

    fn close(&mut self) -> AdapterActions {
        self.closing = true;
        self.line.clear();
        AdapterActions::none()
            .transmit(b"BYE\n".to_vec())
            .set_timer(CLOSE_TIMER, self.response_timeout_ms)
    }

    fn received(&mut self, data: Vec<u8>) -> AdapterActions {
        if self.closing {
            self.line.extend_from_slice(&data);
            if self.line.contains(&b'\n') {
                self.closing = false;
                return AdapterActions::none()
                    .cancel_timer(CLOSE_TIMER)
                    .session_closed();
            }
            return AdapterActions::none();
        }
        if self.outstanding.is_none() {
            return AdapterActions::none().transmit(data);
        }
        let mut actions = AdapterActions::none();
        for byte in data {
            if byte != b'\n' {
                if self.line.len() == MAX_LINE {
                    self.line.clear();
                    actions = actions.log(LogLevel::Warn, "over-long line from device dropped");
                }
                self.line.push(byte);
                continue;
            }
            let line = std::mem::take(&mut self.line);
            if let Some(alert) = line.strip_prefix(b"ALERT ") {
                let text = String::from_utf8_lossy(alert);
                let (code, message) = text.split_once(' ').unwrap_or((&text, ""));
                actions = actions.with(action::Action::Alert(Alert {
                    severity: AlertSeverity::Warning.into(),
                    code: code.to_owned(),
                    message: message.to_owned(),
                }));
            } else if let Some(outstanding) = self.outstanding.take() {
                actions = actions
                    .cancel_timer(RESPONSE_TIMER)
                    .complete(answer(&outstanding, &line));
            }
        }
        actions
    }

    fn finish_with(&mut self, error: service_error::Kind) -> AdapterActions {
        match self.outstanding.take() {
            Some(outstanding) => AdapterActions::none()
                .cancel_timer(RESPONSE_TIMER)
                .flush_input()
                .complete(ServiceResponse::error(outstanding.request_id, error)),
            None => AdapterActions::none(),
        }
    }
}

fn answer(outstanding: &Outstanding, line: &[u8]) -> ServiceResponse {
    let id = outstanding.request_id.clone();
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end_matches('\r');
    if let Some(rest) = text.strip_prefix("ERR ") {
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        let rejected = meterlab_plugin::pb::DeviceRejected {
            device_code: code.parse().unwrap_or(0),
            reason: reason.to_owned(),
        };
        return ServiceResponse::error(id, service_error::Kind::DeviceRejected(rejected));
    }
    let outcome = match (outstanding.srv, text.split_once('=')) {
        (Srv::Srv112ReadFirmwareVersion, Some(("FW", version))) => {
            Some(Outcome::FirmwareVersion(FirmwareVersion {
                version: version.to_owned(),
            }))
        }
        (
            Srv::Srv74ReadSupplyStatus
            | Srv::Srv71EnableSupply
            | Srv::Srv72DisableSupply
            | Srv::Srv73ArmSupply,
            Some(("SUPPLY", state)),
        ) => supply_state(state).map(|state| {
            Outcome::SupplyStatus(SupplyStatus {
                state: state.into(),
            })
        }),
        _ => None,
    };
    match outcome {
        Some(outcome) => ServiceResponse::result(id, outcome),
        None => ServiceResponse::error(
            id,
            service_error::Kind::DeviceRejected(meterlab_plugin::pb::DeviceRejected {
                device_code: 0,
                reason: format!("unexpected answer {text:?}"),
            }),
        ),
    }
}

fn supply_state(text: &str) -> Option<SupplyState> {
    match text {
        "ON" => Some(SupplyState::Enabled),
        "OFF" => Some(SupplyState::Disabled),
        "ARMED" => Some(SupplyState::Armed),
        _ => None,
    }
}

impl Adapter for EchoAdapter {
    fn describe() -> AdapterInfo {
        let srvs = [
            Srv::Srv71EnableSupply,
            Srv::Srv72DisableSupply,
            Srv::Srv73ArmSupply,
            Srv::Srv74ReadSupplyStatus,
            Srv::Srv112ReadFirmwareVersion,
        ];
        AdapterInfo {
            id: ID.to_owned(),
            version: VERSION.to_owned(),
            smso_ids: vec!["TOY-SMSO".to_owned()],
            dmcs: vec![DmcSupport {
                dmc_id: DMC_ID.to_owned(),
                description: "toy comms hub with a toy ESME".to_owned(),
                srvs: srvs
                    .into_iter()
                    .map(|srv| SrvSupport {
                        srv: srv.into(),
                        variations: match srv {
                            Srv::Srv73ArmSupply => {
                                vec!["arming is immediate; no interlock button".to_owned()]
                            }
                            _ => Vec::new(),
                        },
                    })
                    .collect(),
            }],
        }
    }

    fn open(config: meterlab_plugin::pb::SessionConfig) -> Result<Self, OpenError> {
        let response_timeout_ms = match config.parameters.get("response_timeout_ms") {
            Some(text) => text.parse().map_err(|_| {
                OpenError::new(format!("response_timeout_ms {text:?} is not a number"))
            })?,
            None => DEFAULT_RESPONSE_TIMEOUT_MS,
        };
        Ok(EchoAdapter {
            serial: config.link_kind() == LinkKind::Serial,
            dmc_id: config.dmc_id,
            response_timeout_ms,
            outstanding: None,
            line: Vec::new(),
            closing: false,
        })
    }

    fn handle(&mut self, event: HostEvent) -> AdapterActions {
        match event.event {
            Some(host_event::Event::Execute(execute)) => match execute.request {
                Some(request) if self.outstanding.is_none() => self.start(request),
                Some(request) => AdapterActions::none().complete(ServiceResponse::error(
                    request.request_id,
                    service_error::Kind::AdapterFault(meterlab_plugin::pb::AdapterFault {
                        detail: "a request is already outstanding".to_owned(),
                    }),
                )),
                None => AdapterActions::none().log(LogLevel::Warn, "execute without a request"),
            },
            Some(host_event::Event::BytesReceived(bytes)) => self.received(bytes.data),
            Some(host_event::Event::TimerFired(timer)) if timer.timer_id == RESPONSE_TIMER => {
                let elapsed_ms = self.response_timeout_ms;
                self.finish_with(service_error::Kind::Timeout(meterlab_plugin::pb::Timeout {
                    elapsed_ms,
                    waiting_for: "an answer line".to_owned(),
                }))
            }
            Some(host_event::Event::TimerFired(timer)) if timer.timer_id == CLOSE_TIMER => {
                self.closing = false;
                AdapterActions::none()
                    .log(LogLevel::Info, "no answer to BYE: closed anyway")
                    .session_closed()
            }
            Some(host_event::Event::CloseSession(_)) => self.close(),
            Some(host_event::Event::LinkOpened(_)) if self.serial => {
                AdapterActions::none().with(action::Action::ReconfigureLink(ReconfigureLink {
                    baud: 9600,
                    parity: Parity::None.into(),
                    data_bits: 8,
                    stop_bits: StopBits::One.into(),
                }))
            }
            Some(host_event::Event::LinkClosed(LinkClosed { reason })) => {
                self.finish_with(service_error::Kind::LinkFailure(
                    meterlab_plugin::pb::LinkFailure { detail: reason },
                ))
            }
            _ => AdapterActions::none(),
        }
    }
}

meterlab_plugin::export_adapter!(EchoAdapter);
