//! The session parameters (`SessionConfig.parameters`, contract in `SESSION_PARAMS.md`), checked
//! at `open`: every refusal names the key.

use std::collections::HashMap;
use std::sync::Arc;

use meterlab_dlms::security::{Key, SystemTitle};
use meterlab_dmc::{DeviceRole, DmcDescription, device_type_from_name};
use meterlab_plugin::OpenError;
use meterlab_plugin::pb::{LinkKind, SessionConfig};

/// How the session reaches the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportParams {
    /// IEC 62056-47 wrapper over TCP: the device's wPort.
    Wrapper {
        /// Server wPort.
        wport: u16,
    },
    /// HDLC on a serial line: the server address.
    Hdlc {
        /// Upper HDLC address.
        logical: u16,
        /// Lower HDLC address.
        physical: u16,
        /// Server address size: 1, 2 or 4 bytes.
        size: u8,
    },
}

impl TransportParams {
    /// HDLC on a serial line (one client address connected at a time).
    pub fn is_hdlc(self) -> bool {
        matches!(self, Self::Hdlc { .. })
    }
}

/// The authentication mechanism of the session's client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthenticationParams {
    /// Public client.
    None,
    /// LLS with this password.
    Lls(Vec<u8>),
    /// HLS-GMAC (keys in [`SessionParams::keys`]).
    HlsGmac,
}

/// Suite-0 key material of the session.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyParams {
    /// The client's system title.
    pub client_system_title: SystemTitle,
    /// The device's system title.
    pub server_system_title: Option<SystemTitle>,
    /// Global unicast encryption key.
    pub encryption: Key,
    /// Authentication key.
    pub authentication: Key,
    /// Master key (KEK), needed to verify a key transfer.
    pub master: Option<Key>,
}

impl std::fmt::Debug for KeyParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys are secrets: never in logs.
        f.debug_struct("KeyParams")
            .field("client_system_title", &hex(&self.client_system_title))
            .finish_non_exhaustive()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Everything `open` accepted.
#[derive(Debug, Clone)]
pub struct SessionParams {
    /// The parsed DMC description.
    pub dmc: Arc<DmcDescription>,
    /// Which device of the DMC this session talks to.
    pub device_role: DeviceRole,
    /// Transport and server address.
    pub transport: TransportParams,
    /// Client SAP.
    pub client_sap: u8,
    /// Authentication.
    pub authentication: AuthenticationParams,
    /// Glo-ciphering of xDLMS APDUs.
    pub ciphered: bool,
    /// Keys, when given.
    pub keys: Option<KeyParams>,
    /// Per-exchange response time-out.
    pub response_timeout_ms: Option<u64>,
    /// The first invocation counter this client uses.
    pub invocation_counter: u32,
    /// The session id (seeds HLS challenges).
    pub session_id: String,
    /// The device id the host gave (keys the frame counters shared between sessions).
    pub device_id: String,
}

struct Parameters<'a>(&'a HashMap<String, String>);

impl Parameters<'_> {
    fn required(&self, key: &str) -> Result<&str, OpenError> {
        self.0
            .get(key)
            .map(|value| value.trim())
            .filter(|value| !value.is_empty())
            .ok_or_else(|| OpenError::new(format!("session parameter {key} is missing")))
    }

    fn optional(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(|value| value.trim())
            .filter(|value| !value.is_empty())
    }

    fn number<T: std::str::FromStr>(
        &self,
        key: &str,
        value: &str,
        what: &str,
    ) -> Result<T, OpenError> {
        value.parse().map_err(|_| {
            OpenError::new(format!("session parameter {key} = {value:?} is not {what}"))
        })
    }

    fn hex_bytes<const N: usize>(&self, key: &str) -> Result<Option<[u8; N]>, OpenError> {
        let Some(text) = self.optional(key) else {
            return Ok(None);
        };
        let bad = || {
            OpenError::new(format!(
                "session parameter {key} must be {} hex digits",
                N * 2
            ))
        };
        if text.len() != N * 2 || !text.is_ascii() {
            return Err(bad());
        }
        let mut out = [0u8; N];
        for (index, slot) in out.iter_mut().enumerate() {
            *slot = u8::from_str_radix(&text[index * 2..index * 2 + 2], 16).map_err(|_| bad())?;
        }
        Ok(Some(out))
    }
}

impl SessionParams {
    /// Checks `config`; the error names the first bad or missing key.
    pub fn from_config(config: &SessionConfig) -> Result<Self, OpenError> {
        let parameters = Parameters(&config.parameters);
        let dmc_text = parameters.required("dmc")?;
        let dmc = crate::dmc_cache::parse("dmc", dmc_text).map_err(|errors| {
            OpenError::new(format!(
                "session parameter dmc is not a valid DMC description:\n{errors}"
            ))
        })?;
        if !config.dmc_id.is_empty() && config.dmc_id != dmc.id {
            return Err(OpenError::new(format!(
                "SessionConfig.dmc_id {:?} differs from the dmc description's id {:?}",
                config.dmc_id, dmc.id
            )));
        }
        let role_text = parameters.required("device_role")?;
        let device_role = device_type_from_name(role_text).ok_or_else(|| {
            OpenError::new(format!(
                "session parameter device_role = {role_text:?} is not hub, esme or gsme"
            ))
        })?;
        if dmc.device(device_role).is_none() {
            return Err(OpenError::new(format!(
                "session parameter device_role = {role_text}: DMC {} has no {role_text}",
                dmc.id
            )));
        }
        let transport = Self::transport(&parameters, config, &dmc)?;
        let sap_text = parameters.required("client_sap")?;
        let client_sap: u8 = parameters.number("client_sap", sap_text, "a SAP 1..=127")?;
        if !(1..=127).contains(&client_sap) {
            return Err(OpenError::new(format!(
                "session parameter client_sap = {client_sap} is not a SAP 1..=127"
            )));
        }
        let authentication = match parameters.required("authentication")? {
            "none" => AuthenticationParams::None,
            "lls" => {
                AuthenticationParams::Lls(parameters.required("password")?.as_bytes().to_vec())
            }
            "hls-gmac" => AuthenticationParams::HlsGmac,
            other => {
                return Err(OpenError::new(format!(
                    "session parameter authentication = {other:?} is not none, lls or hls-gmac"
                )));
            }
        };
        let ciphered = match parameters.optional("ciphered").unwrap_or("false") {
            "true" => true,
            "false" => false,
            other => {
                return Err(OpenError::new(format!(
                    "session parameter ciphered = {other:?} is not true or false"
                )));
            }
        };
        let keys = Self::keys(&parameters)?;
        let needs_keys = ciphered || authentication == AuthenticationParams::HlsGmac;
        if needs_keys && keys.is_none() {
            return Err(OpenError::new(
                "session parameters client_system_title, encryption_key and authentication_key \
                 are required for hls-gmac or ciphered",
            ));
        }
        let response_timeout_ms = parameters
            .optional("association_timeout_ms")
            .map(|text| parameters.number::<u64>("association_timeout_ms", text, "milliseconds"))
            .transpose()?;
        if response_timeout_ms == Some(0) {
            return Err(OpenError::new(
                "session parameter association_timeout_ms must be above 0",
            ));
        }
        let invocation_counter = parameters
            .optional("invocation_counter")
            .map(|text| parameters.number::<u32>("invocation_counter", text, "a 32-bit counter"))
            .transpose()?
            .unwrap_or(1);
        Ok(Self {
            dmc,
            device_role,
            transport,
            client_sap,
            authentication,
            ciphered,
            keys,
            response_timeout_ms,
            invocation_counter,
            session_id: config.session_id.clone(),
            device_id: config.device_id.clone(),
        })
    }

    fn transport(
        parameters: &Parameters<'_>,
        config: &SessionConfig,
        dmc: &DmcDescription,
    ) -> Result<TransportParams, OpenError> {
        let serial = config.link_kind() == LinkKind::Serial;
        match parameters.required("transport")? {
            "wrapper" if serial => Err(OpenError::new(
                "session parameter transport = wrapper, but the link is serial (HDLC only)",
            )),
            "wrapper" => {
                let text = parameters.required("wport")?;
                let wport: u16 = parameters.number("wport", text, "a wPort 1..=65535")?;
                if wport == 0 {
                    return Err(OpenError::new("session parameter wport must be 1..=65535"));
                }
                Ok(TransportParams::Wrapper { wport })
            }
            "hdlc" => {
                let size = match parameters.optional("hdlc_address_size") {
                    Some(text) => {
                        parameters.number::<u8>("hdlc_address_size", text, "1, 2 or 4")?
                    }
                    None => dmc.dlms.hdlc_address_size,
                };
                let max = match size {
                    1 | 2 => 0x7F,
                    4 => 0x3FFF,
                    _ => {
                        return Err(OpenError::new(format!(
                            "session parameter hdlc_address_size = {size} is not 1, 2 or 4"
                        )));
                    }
                };
                let logical_text = parameters.required("hdlc_logical_address")?;
                let logical: u16 =
                    parameters.number("hdlc_logical_address", logical_text, "an HDLC address")?;
                if logical > max {
                    return Err(OpenError::new(format!(
                        "session parameter hdlc_logical_address = {logical} does not fit a {size}-byte address"
                    )));
                }
                let physical = match parameters.optional("hdlc_physical_address") {
                    Some(text) => parameters.number::<u16>(
                        "hdlc_physical_address",
                        text,
                        "an HDLC address",
                    )?,
                    None if size == 1 => 0,
                    None => {
                        return Err(OpenError::new(
                            "session parameter hdlc_physical_address is missing",
                        ));
                    }
                };
                if (size == 1 && physical != 0) || physical > max {
                    return Err(OpenError::new(format!(
                        "session parameter hdlc_physical_address = {physical} does not fit a {size}-byte address"
                    )));
                }
                Ok(TransportParams::Hdlc {
                    logical,
                    physical,
                    size,
                })
            }
            other => Err(OpenError::new(format!(
                "session parameter transport = {other:?} is not wrapper or hdlc"
            ))),
        }
    }

    fn keys(parameters: &Parameters<'_>) -> Result<Option<KeyParams>, OpenError> {
        let client_system_title = parameters.hex_bytes::<8>("client_system_title")?;
        let server_system_title = parameters.hex_bytes::<8>("server_system_title")?;
        let encryption = parameters.hex_bytes::<16>("encryption_key")?;
        let authentication = parameters.hex_bytes::<16>("authentication_key")?;
        let master = parameters.hex_bytes::<16>("master_key")?;
        match (client_system_title, encryption, authentication) {
            (Some(client_system_title), Some(encryption), Some(authentication)) => {
                Ok(Some(KeyParams {
                    client_system_title,
                    server_system_title,
                    encryption,
                    authentication,
                    master,
                }))
            }
            (None, None, None) => Ok(None),
            (title, encryption, _) => {
                let missing = if title.is_none() {
                    "client_system_title"
                } else if encryption.is_none() {
                    "encryption_key"
                } else {
                    "authentication_key"
                };
                Err(OpenError::new(format!(
                    "session parameter {missing} is missing: client_system_title, encryption_key \
                     and authentication_key go together"
                )))
            }
        }
    }

    /// The object of `role` on this session's device.
    pub fn object(&self, role: meterlab_dmc::ObjectRole) -> Option<&meterlab_dmc::CosemObject> {
        self.dmc.object(self.device_role, role)
    }
}
