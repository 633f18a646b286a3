//! The control protocol's messages: requests, scopes, fault fields, responses.

use serde::{Deserialize, Serialize};

use crate::faults::{FaultConfig, FaultOverlay};

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
    pub(crate) fn touched(count: usize) -> Self {
        Self {
            ok: true,
            error: None,
            touched: Some(count),
            devices: None,
        }
    }

    pub(crate) fn error(message: impl Into<String>) -> Self {
        Self {
            ok: false,
            error: Some(message.into()),
            touched: None,
            devices: None,
        }
    }
}

/// Why fault fields were refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FaultValueError {
    /// `drop` or `corrupt` outside 0.0-1.0.
    #[error("faults.{field} {fraction} must be a fraction from 0.0 to 1.0")]
    Fraction {
        /// The field.
        field: &'static str,
        /// The value given.
        fraction: f64,
    },
    /// `serial_baud` is not a standard rate.
    #[error(
        "faults.serial_baud {0} is not a standard rate; expected 0 or one of {rates:?}",
        rates = meterlab_devices::STANDARD_BAUD_RATES
    )]
    BaudRate(u32),
    /// No field given.
    #[error(
        "faults: give at least one of drop, corrupt, latency_ms, silent, \
         refuse_associations, reboot_every_s, serial_baud"
    )]
    Empty,
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
    pub fn overlay(&self) -> Result<FaultOverlay, FaultValueError> {
        for (field, fraction) in [("drop", self.drop), ("corrupt", self.corrupt)] {
            if let Some(fraction) = fraction
                && !(0.0..=1.0).contains(&fraction)
            {
                return Err(FaultValueError::Fraction { field, fraction });
            }
        }
        if let Some(baud) = self.serial_baud
            && baud != 0
            && !meterlab_devices::STANDARD_BAUD_RATES.contains(&baud)
        {
            return Err(FaultValueError::BaudRate(baud));
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
            return Err(FaultValueError::Empty);
        }
        Ok(overlay)
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
            bad.overlay().map_err(|error| error.to_string()),
            Err("faults.corrupt 1.5 must be a fraction from 0.0 to 1.0".to_owned())
        );
        let baud = Faults {
            serial_baud: Some(1234),
            ..Faults::default()
        };
        assert!(
            baud.overlay()
                .is_err_and(|error| error.to_string().starts_with("faults.serial_baud 1234"))
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
