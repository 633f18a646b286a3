//! Reading a devices file: TOML with spans, then validation that names `file:line:column`.

use std::collections::HashMap;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use crate::error::DevicesError;
use crate::location::Location;
use crate::model::{
    Authentication, ClientAccess, Device, DeviceRole, DevicesFile, FORMAT_VERSION, HexError,
    InstallationState, Key128, OpticalEndpoint, SecretText, SerialEndpoint, SystemTitle,
    TcpEndpoint,
};

/// Serial line speeds a meter's optical or RS-232 port may use.
pub const STANDARD_BAUD_RATES: [u32; 9] = [300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 115_200];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    format: Spanned<u32>,
    #[serde(default)]
    device: Vec<Spanned<RawDevice>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDevice {
    name: Spanned<String>,
    hub: Spanned<String>,
    role: Spanned<String>,
    dmc: Spanned<String>,
    smso: Spanned<String>,
    state: Spanned<String>,
    model: Spanned<String>,
    firmware: Spanned<String>,
    mpxn: Option<Spanned<String>>,
    system_title: Option<Spanned<String>>,
    tcp: Option<Spanned<RawTcp>>,
    serial: Option<Spanned<RawSerial>>,
    optical: Option<Spanned<RawOptical>>,
    #[serde(default)]
    client: Vec<Spanned<RawClient>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOptical {
    path: Spanned<String>,
    #[serde(default)]
    address: Option<Spanned<String>>,
    password: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTcp {
    address: Spanned<String>,
    wport: Spanned<u16>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSerial {
    path: Spanned<String>,
    baud: Spanned<u32>,
    logical_address: Spanned<u16>,
    physical_address: Spanned<u16>,
    address_size: Spanned<u8>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClient {
    sap: Spanned<u8>,
    authentication: Spanned<String>,
    password: Option<Spanned<String>>,
    #[serde(default)]
    ciphered: bool,
    system_title: Option<Spanned<String>>,
    encryption_key: Option<Spanned<String>>,
    authentication_key: Option<Spanned<String>>,
    master_key: Option<Spanned<String>>,
    password_file: Option<Spanned<String>>,
    encryption_key_file: Option<Spanned<String>>,
    authentication_key_file: Option<Spanned<String>>,
    master_key_file: Option<Spanned<String>>,
}

/// Reads the secret files a devices file names (`*_file` keys), by the path written in it.
pub trait SecretFiles {
    /// The file's text, or why it cannot be used (unreadable, readable by others, …).
    fn read(&self, path: &str) -> Result<SecretText, String>;
}

/// No secret files: a devices file parsed from text alone must hold its credentials inline.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSecretFiles;

impl SecretFiles for NoSecretFiles {
    fn read(&self, path: &str) -> Result<SecretText, String> {
        Err(format!(
            "cannot read {path:?}: secret files are read only when the devices file is loaded \
             from disk"
        ))
    }
}

/// Turns spans into errors that name the file.
struct Source<'a> {
    file: &'a str,
    text: &'a str,
    secrets: &'a dyn SecretFiles,
}

impl Source<'_> {
    fn invalid(&self, span: Range<usize>, message: impl Into<String>) -> DevicesError {
        DevicesError::Invalid {
            location: Location::at_offset(self.file, self.text, span.start),
            message: message.into(),
        }
    }

    fn non_empty(&self, value: &Spanned<String>, what: &str) -> Result<String, DevicesError> {
        let text = value.get_ref().trim();
        if text.is_empty() {
            return Err(self.invalid(value.span(), format!("{what} must not be empty")));
        }
        Ok(text.to_owned())
    }

    /// A credential given inline (`key = "…"`) or as a file (`key_file = "…"`), not both.
    fn secret(
        &self,
        inline: &Option<Spanned<String>>,
        file: &Option<Spanned<String>>,
        what: &str,
    ) -> Result<Option<Spanned<SecretText>>, DevicesError> {
        match (inline, file) {
            (Some(_), Some(file)) => {
                Err(self.invalid(file.span(), format!("give {what} or {what}_file, not both")))
            }
            (Some(inline), None) => Ok(Some(Spanned::new(
                inline.span(),
                SecretText::new(inline.get_ref().clone()),
            ))),
            (None, Some(file)) => {
                let text = self.secrets.read(file.get_ref()).map_err(|message| {
                    self.invalid(file.span(), format!("{what}_file: {message}"))
                })?;
                Ok(Some(Spanned::new(file.span(), text)))
            }
            (None, None) => Ok(None),
        }
    }

    fn secret_key(
        &self,
        inline: &Option<Spanned<String>>,
        file: &Option<Spanned<String>>,
        what: &str,
    ) -> Result<Option<Key128>, DevicesError> {
        self.secret(inline, file, what)?
            .map(|text| {
                // The error must not echo the key's text.
                Key128::from_hex(text.get_ref().expose().trim()).map_err(|error| {
                    self.invalid(
                        text.span(),
                        format!("{what}: expected {} hex digits", error.digits),
                    )
                })
            })
            .transpose()
    }

    fn hex<T>(
        &self,
        value: &Spanned<String>,
        parse: impl Fn(&str) -> Result<T, HexError>,
    ) -> Result<T, DevicesError> {
        parse(value.get_ref()).map_err(|error| self.invalid(value.span(), error.to_string()))
    }
}

/// Parses and validates devices-file text; `file` names it in errors. Credentials must be inline
/// (use [`parse_with_secrets`] or [`DevicesFile::load`](crate::DevicesFile::load) for `*_file`).
pub fn parse(file: &str, text: &str) -> Result<DevicesFile, DevicesError> {
    parse_with_secrets(file, text, &NoSecretFiles)
}

/// Parses and validates devices-file text, reading `*_file` credentials through `secrets`.
pub fn parse_with_secrets(
    file: &str,
    text: &str,
    secrets: &dyn SecretFiles,
) -> Result<DevicesFile, DevicesError> {
    let raw: RawFile = toml::from_str(text).map_err(|error| DevicesError::Syntax {
        location: Location::at_span(file, text, error.span()),
        message: crate::toml_error::describe(text, error.span(), error.message()),
    })?;
    let source = Source {
        file,
        text,
        secrets,
    };
    if *raw.format.get_ref() != FORMAT_VERSION {
        return Err(source.invalid(
            raw.format.span(),
            format!(
                "devices file format {} is not supported; this meterlab reads format {FORMAT_VERSION}",
                raw.format.get_ref()
            ),
        ));
    }
    Ok(DevicesFile {
        format: FORMAT_VERSION,
        devices: validate_devices(&source, &raw.device)?,
    })
}

/// The `[[device]]` tables of another TOML file (the serve config), in the devices file's format
/// without its `format` key: every other key of the file is left to its own reader. Errors name
/// `file:line:column` in that file; `*_file` credentials are read through `secrets`.
pub fn parse_device_tables(
    file: &str,
    text: &str,
    secrets: &dyn SecretFiles,
) -> Result<Vec<Device>, DevicesError> {
    #[derive(Deserialize)]
    struct RawTables {
        #[serde(default)]
        device: Vec<Spanned<RawDevice>>,
    }
    let raw: RawTables = toml::from_str(text).map_err(|error| DevicesError::Syntax {
        location: Location::at_span(file, text, error.span()),
        message: crate::toml_error::describe(text, error.span(), error.message()),
    })?;
    let source = Source {
        file,
        text,
        secrets,
    };
    validate_devices(&source, &raw.device)
}

/// Each device checked, then names, TCP wPorts and HDLC addresses unique across them.
fn validate_devices(
    source: &Source<'_>,
    raw: &[Spanned<RawDevice>],
) -> Result<Vec<Device>, DevicesError> {
    let (file, text) = (source.file, source.text);
    let mut devices = Vec::with_capacity(raw.len());
    let mut names: HashMap<String, Range<usize>> = HashMap::new();
    let mut wports: HashMap<(String, u16), String> = HashMap::new();
    let mut serial_addresses: HashMap<(String, u16, u16), String> = HashMap::new();
    for raw_device in raw {
        let device = validate_device(source, raw_device.get_ref())?;
        let name_span = raw_device.get_ref().name.span();
        if let Some(first) = names.get(&device.name) {
            let first = Location::at_offset(file, text, first.start);
            return Err(source.invalid(
                name_span,
                format!("device name {:?} is already used at {first}", device.name),
            ));
        }
        names.insert(device.name.clone(), name_span);
        if let (Some(tcp), Some(raw_tcp)) = (&device.tcp, &raw_device.get_ref().tcp) {
            let key = (tcp.address.clone(), tcp.wport);
            if let Some(other) = wports.insert(key, device.name.clone()) {
                return Err(source.invalid(
                    raw_tcp.get_ref().wport.span(),
                    format!(
                        "wport {} at {} is already used by device {other:?}",
                        tcp.wport, tcp.address
                    ),
                ));
            }
        }
        if let (Some(serial), Some(raw_serial)) = (&device.serial, &raw_device.get_ref().serial) {
            let key = (
                serial.path.clone(),
                serial.logical_address,
                serial.physical_address,
            );
            if let Some(other) = serial_addresses.insert(key, device.name.clone()) {
                return Err(source.invalid(
                    raw_serial.get_ref().logical_address.span(),
                    format!(
                        "HDLC address {}/{} on {} is already used by device {other:?}",
                        serial.logical_address, serial.physical_address, serial.path
                    ),
                ));
            }
        }
        devices.push(device);
    }
    Ok(devices)
}

fn validate_device(source: &Source<'_>, raw: &RawDevice) -> Result<Device, DevicesError> {
    let role = DeviceRole::parse(raw.role.get_ref()).ok_or_else(|| {
        source.invalid(
            raw.role.span(),
            format!(
                "unknown role {:?}; expected hub, esme or gsme",
                raw.role.get_ref()
            ),
        )
    })?;
    let state = InstallationState::parse(raw.state.get_ref()).ok_or_else(|| {
        source.invalid(
            raw.state.span(),
            format!(
                "unknown installation state {:?}; expected active or dormant \
                 (a mixed installation is a hub with one meter of each)",
                raw.state.get_ref()
            ),
        )
    })?;
    let mpxn = raw
        .mpxn
        .as_ref()
        .map(|mpxn| validate_mpxn(source, mpxn))
        .transpose()?;
    let system_title = raw
        .system_title
        .as_ref()
        .map(|title| source.hex(title, SystemTitle::from_hex))
        .transpose()?;
    let tcp = raw
        .tcp
        .as_ref()
        .map(|tcp| validate_tcp(source, tcp.get_ref()))
        .transpose()?;
    let serial = raw
        .serial
        .as_ref()
        .map(|serial| validate_serial(source, serial.get_ref()))
        .transpose()?;
    let optical = raw
        .optical
        .as_ref()
        .map(|optical| validate_optical(source, optical.get_ref()))
        .transpose()?;
    if tcp.is_none() && serial.is_none() {
        return Err(source.invalid(
            raw.name.span(),
            format!(
                "device {:?} has neither [device.tcp] nor [device.serial]: it cannot be reached",
                raw.name.get_ref()
            ),
        ));
    }
    if raw.client.is_empty() {
        return Err(source.invalid(
            raw.name.span(),
            format!(
                "device {:?} lists no [[device.client]]: no client could associate",
                raw.name.get_ref()
            ),
        ));
    }
    let mut clients: Vec<ClientAccess> = Vec::with_capacity(raw.client.len());
    for raw_client in &raw.client {
        let client = validate_client(source, raw_client.get_ref())?;
        if client.system_title.is_some() && system_title.is_none() {
            return Err(source.invalid(
                raw_client.span(),
                "a client with keys needs the device's server system_title",
            ));
        }
        if clients.iter().any(|other| other.sap == client.sap) {
            return Err(source.invalid(
                raw_client.get_ref().sap.span(),
                format!("client SAP {} is listed twice", client.sap),
            ));
        }
        clients.push(client);
    }
    Ok(Device {
        name: source.non_empty(&raw.name, "name")?,
        hub: source.non_empty(&raw.hub, "hub")?,
        role,
        dmc: source.non_empty(&raw.dmc, "dmc")?,
        smso: source.non_empty(&raw.smso, "smso")?,
        state,
        model: source.non_empty(&raw.model, "model")?,
        firmware: source.non_empty(&raw.firmware, "firmware")?,
        mpxn,
        system_title,
        tcp,
        serial,
        optical,
        clients,
    })
}

fn validate_optical(
    source: &Source<'_>,
    raw: &RawOptical,
) -> Result<OpticalEndpoint, DevicesError> {
    let path = source.non_empty(&raw.path, "optical path")?;
    let address = match &raw.address {
        Some(address) => {
            let text = address.get_ref();
            if text.len() > 32 || !text.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ') {
                return Err(source.invalid(
                    address.span(),
                    format!("optical address {text:?} is not up to 32 letters, digits or spaces"),
                ));
            }
            text.clone()
        }
        None => String::new(),
    };
    let password = match &raw.password {
        Some(password) => {
            let text = password.get_ref();
            if text.len() > 32
                || text
                    .chars()
                    .any(|c| !c.is_ascii_graphic() || "()*/!".contains(c))
            {
                return Err(source.invalid(
                    password.span(),
                    "an optical password is up to 32 printable characters without ( ) * / !",
                ));
            }
            Some(text.clone())
        }
        None => None,
    };
    Ok(OpticalEndpoint {
        path,
        address,
        password,
    })
}

fn validate_mpxn(source: &Source<'_>, mpxn: &Spanned<String>) -> Result<String, DevicesError> {
    let text = mpxn.get_ref();
    let digits = text.len();
    if !(6..=13).contains(&digits) || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(source.invalid(
            mpxn.span(),
            format!("MPxN {text:?} must be 6 to 13 digits (an MPRN or a 13-digit MPAN core)"),
        ));
    }
    Ok(text.clone())
}

fn validate_tcp(source: &Source<'_>, raw: &RawTcp) -> Result<TcpEndpoint, DevicesError> {
    let address = raw.address.get_ref();
    let valid = address.rsplit_once(':').is_some_and(|(host, port)| {
        !host.is_empty()
            && port.parse::<u16>().is_ok_and(|port| port != 0)
            && (!host.contains(':') || (host.starts_with('[') && host.ends_with(']')))
    });
    if !valid {
        return Err(source.invalid(
            raw.address.span(),
            format!("address {address:?} must be host:port (IPv6 hosts in brackets, port 1-65535)"),
        ));
    }
    if *raw.wport.get_ref() == 0 {
        return Err(source.invalid(
            raw.wport.span(),
            "wport 0 is reserved (no-station); a server wport is 1-65535",
        ));
    }
    Ok(TcpEndpoint {
        address: address.clone(),
        wport: *raw.wport.get_ref(),
    })
}

fn validate_serial(source: &Source<'_>, raw: &RawSerial) -> Result<SerialEndpoint, DevicesError> {
    let path = source.non_empty(&raw.path, "serial path")?;
    let baud = *raw.baud.get_ref();
    if !STANDARD_BAUD_RATES.contains(&baud) {
        return Err(source.invalid(
            raw.baud.span(),
            format!("baud {baud} is not a standard rate; expected one of {STANDARD_BAUD_RATES:?}"),
        ));
    }
    let size = *raw.address_size.get_ref();
    // Each address half holds 7 bits per byte it is given (the low bit of each byte is the
    // HDLC extension bit), so a 1-byte address has only an upper half.
    let (logical_max, physical_max): (u16, u16) = match size {
        1 => (0x7F, 0),
        2 => (0x7F, 0x7F),
        4 => (0x3FFF, 0x3FFF),
        _ => {
            return Err(source.invalid(
                raw.address_size.span(),
                format!(
                    "address_size {size} is not an HDLC server address size; expected 1, 2 or 4"
                ),
            ));
        }
    };
    let logical = *raw.logical_address.get_ref();
    if logical == 0 || logical > logical_max {
        return Err(source.invalid(
            raw.logical_address.span(),
            format!("logical_address {logical} must be 1-{logical_max} for a {size}-byte address"),
        ));
    }
    let physical = *raw.physical_address.get_ref();
    if physical > physical_max {
        return Err(source.invalid(
            raw.physical_address.span(),
            format!(
                "physical_address {physical} must be 0-{physical_max} for a {size}-byte address"
            ),
        ));
    }
    Ok(SerialEndpoint {
        path,
        baud,
        logical_address: logical,
        physical_address: physical,
        address_size: size,
    })
}

fn validate_client(source: &Source<'_>, raw: &RawClient) -> Result<ClientAccess, DevicesError> {
    let sap = *raw.sap.get_ref();
    if sap == 0 || sap > 0x7F {
        return Err(source.invalid(raw.sap.span(), format!("client SAP {sap} must be 1-127")));
    }
    let authentication = Authentication::parse(raw.authentication.get_ref()).ok_or_else(|| {
        source.invalid(
            raw.authentication.span(),
            format!(
                "unknown authentication {:?}; expected none, lls or hls-gmac",
                raw.authentication.get_ref()
            ),
        )
    })?;
    let password = source.secret(&raw.password, &raw.password_file, "password")?;
    let password = match (authentication, &password) {
        (Authentication::Lls, Some(password)) => {
            let text = password.get_ref().expose().trim_end_matches(['\n', '\r']);
            if text.is_empty() || text.len() > 64 || !text.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(source.invalid(
                    password.span(),
                    "an LLS password is 1-64 printable ASCII characters without spaces",
                ));
            }
            Some(text.to_owned())
        }
        (Authentication::Lls, None) => {
            return Err(source.invalid(
                raw.authentication.span(),
                format!("client SAP {sap} uses lls but has no password"),
            ));
        }
        (_, Some(password)) => {
            return Err(source.invalid(
                password.span(),
                format!("a password is only used with lls, not with {authentication}"),
            ));
        }
        (_, None) => None,
    };
    let system_title = raw
        .system_title
        .as_ref()
        .map(|title| source.hex(title, SystemTitle::from_hex))
        .transpose()?;
    let encryption_key = source.secret_key(
        &raw.encryption_key,
        &raw.encryption_key_file,
        "encryption_key",
    )?;
    let authentication_key = source.secret_key(
        &raw.authentication_key,
        &raw.authentication_key_file,
        "authentication_key",
    )?;
    let master_key = source.secret_key(&raw.master_key, &raw.master_key_file, "master_key")?;
    let has_keys = [
        system_title.is_some(),
        encryption_key.is_some(),
        authentication_key.is_some(),
    ];
    let needs_keys = authentication == Authentication::HlsGmac || raw.ciphered;
    if (has_keys.contains(&true) && has_keys.contains(&false))
        || (needs_keys && has_keys != [true; 3])
    {
        return Err(source.invalid(
            raw.sap.span(),
            format!(
                "client SAP {sap}: system_title, encryption_key and authentication_key go together, \
                 and are required for hls-gmac or ciphered"
            ),
        ));
    }
    Ok(ClientAccess {
        sap,
        authentication,
        password,
        ciphered: raw.ciphered,
        system_title,
        encryption_key,
        authentication_key,
        master_key,
    })
}
