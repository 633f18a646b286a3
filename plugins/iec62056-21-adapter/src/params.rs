//! The session parameters (`SessionConfig.parameters`), checked at `open`: every refusal names
//! the key.

use meterlab_dmc::{DeviceRole, DmcDescription, OpticalPort, device_type_from_name};
use meterlab_iec62056_21::BaudRate;
use meterlab_plugin::OpenError;
use meterlab_plugin::pb::{LinkKind, SessionConfig};

/// How long the meter may take to answer, or stay silent in the middle of an answer, by
/// default: the standard's longest reaction time (1500 ms) plus margin for a loaded host.
pub const DEFAULT_RESPONSE_TIMEOUT_MS: u64 = 2000;

/// Everything `open` accepted.
#[derive(Debug, Clone)]
pub struct SessionParams {
    /// The parsed DMC description.
    pub dmc: DmcDescription,
    /// Its optical port.
    pub port: OpticalPort,
    /// The sign-on address (empty: any meter on the port).
    pub device_address: String,
    /// The programming-mode password; with it (on a port offering programming mode) reads are
    /// single R1 commands and 6.11 can set the clock.
    pub password: Option<String>,
    /// The fastest rate the session switches to.
    pub max_baud: BaudRate,
    /// Response and inactivity time-out.
    pub response_timeout_ms: u64,
}

impl SessionParams {
    /// Whether reads go through programming mode.
    pub fn programming(&self) -> bool {
        self.port.programming && self.password.is_some()
    }

    pub fn from_config(config: &SessionConfig) -> Result<Self, OpenError> {
        let parameters = &config.parameters;
        let optional = |key: &str| {
            parameters
                .get(key)
                .map(|value| value.trim())
                .filter(|value| !value.is_empty())
        };
        let text =
            optional("dmc").ok_or_else(|| OpenError::new("session parameter dmc is missing"))?;
        let dmc = DmcDescription::parse("dmc", text)
            .map_err(|errors| OpenError::new(format!("session parameter dmc: {errors}")))?;
        if !config.dmc_id.is_empty() && config.dmc_id != dmc.id {
            return Err(OpenError::new(format!(
                "the session is for DMC {:?} but session parameter dmc describes {:?}",
                config.dmc_id, dmc.id
            )));
        }
        let Some(port) = dmc.optical.clone() else {
            return Err(OpenError::new(format!(
                "DMC {:?} has no [optical] port: this adapter speaks only IEC 62056-21",
                dmc.id
            )));
        };
        if let Some(role) = optional("device_role") {
            let role: DeviceRole = device_type_from_name(role).ok_or_else(|| {
                OpenError::new(format!(
                    "session parameter device_role = {role:?} is not hub, esme or gsme"
                ))
            })?;
            if role != port.device {
                return Err(OpenError::new(format!(
                    "session parameter device_role = {role}: the optical port of DMC {:?} is on the {}",
                    dmc.id, port.device
                )));
            }
        }
        if config.link_kind() == LinkKind::Tcp {
            return Err(OpenError::new(
                "an optical port is a serial line: link kind tcp is not supported",
            ));
        }
        let device_address = optional("device_address").unwrap_or_default().to_owned();
        if device_address.len() > 32
            || !device_address
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == ' ')
        {
            return Err(OpenError::new(format!(
                "session parameter device_address = {device_address:?} is not up to 32 letters, digits or spaces"
            )));
        }
        let password = optional("password").map(str::to_owned);
        if let Some(password) = &password
            && (password.len() > 32
                || password
                    .chars()
                    .any(|c| !c.is_ascii() || c.is_ascii_control() || "()*/!".contains(c)))
        {
            return Err(OpenError::new(
                "session parameter password must be up to 32 printable ASCII characters without ( ) * / !",
            ));
        }
        let port_max = BaudRate::from_bits_per_second(port.max_baud).unwrap_or(BaudRate::B300);
        let max_baud = match optional("max_baud") {
            None => port_max,
            Some(text) => text
                .parse()
                .ok()
                .and_then(BaudRate::from_bits_per_second)
                .ok_or_else(|| {
                    OpenError::new(format!(
                        "session parameter max_baud = {text:?} is not a mode C rate (300, 600, 1200, 2400, 4800, 9600, 19200)"
                    ))
                })?
                .min(port_max),
        };
        let response_timeout_ms = match optional("response_timeout_ms") {
            None => DEFAULT_RESPONSE_TIMEOUT_MS,
            Some(text) => text.parse().ok().filter(|ms| *ms > 0).ok_or_else(|| {
                OpenError::new(format!(
                    "session parameter response_timeout_ms = {text:?} is not a positive number of milliseconds"
                ))
            })?,
        };
        Ok(Self {
            dmc,
            port,
            device_address,
            password,
            max_baud,
            response_timeout_ms,
        })
    }
}
