//! The validated devices file, as the emulator writes it and the runner and gateway read it.

use std::fmt;

use serde::{Serialize, Serializer};

/// The format version written in the `format` key; readers refuse other versions.
pub const FORMAT_VERSION: u32 = 1;

/// A whole devices file: every logical device a bench can reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DevicesFile {
    /// Always [`FORMAT_VERSION`] when written by this crate.
    pub format: u32,
    /// The devices, in file order; names are unique.
    #[serde(rename = "device")]
    pub devices: Vec<Device>,
}

impl Default for DevicesFile {
    fn default() -> Self {
        Self {
            format: FORMAT_VERSION,
            devices: Vec::new(),
        }
    }
}

impl DevicesFile {
    /// The device with this name.
    pub fn device(&self, name: &str) -> Option<&Device> {
        self.devices.iter().find(|device| device.name == name)
    }
}

/// One logical device (a comms hub's management device, an ESME or a GSME) and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Device {
    /// Unique name, e.g. `hub-0001.esme`.
    pub name: String,
    /// The comms hub this device is behind (or is).
    pub hub: String,
    /// What the device is.
    pub role: DeviceRole,
    /// The Device Model Combination it belongs to.
    pub dmc: String,
    /// The SMETS1 Service Operator whose adapter speaks to it.
    pub smso: String,
    /// Its SMETS1 installation state.
    pub state: InstallationState,
    /// Device model.
    pub model: String,
    /// Firmware version as reported by the device.
    pub firmware: String,
    /// MPAN or MPRN, for meters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mpxn: Option<String>,
    /// The server system title (8 bytes), needed for HLS-GMAC and ciphering.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_title: Option<SystemTitle>,
    /// Reachable over the DLMS TCP wrapper.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpEndpoint>,
    /// Reachable over HDLC on a serial line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<SerialEndpoint>,
    /// Its IEC 62056-21 optical port, when it has one (read by the IEC 62056-21 adapter).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optical: Option<OpticalEndpoint>,
    /// The client SAPs the device accepts, with their credentials.
    #[serde(rename = "client")]
    pub clients: Vec<ClientAccess>,
}

impl Device {
    /// The client entry for a SAP.
    pub fn client(&self, sap: u8) -> Option<&ClientAccess> {
        self.clients.iter().find(|client| client.sap == sap)
    }
}

/// What a logical device is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceRole {
    /// The comms hub's own (management) logical device.
    Hub,
    /// Electricity Smart Metering Equipment.
    Esme,
    /// Gas Smart Metering Equipment.
    Gsme,
}

impl DeviceRole {
    /// The word used in files and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hub => "hub",
            Self::Esme => "esme",
            Self::Gsme => "gsme",
        }
    }

    pub(crate) fn parse(word: &str) -> Option<Self> {
        [Self::Hub, Self::Esme, Self::Gsme]
            .into_iter()
            .find(|role| role.as_str() == word)
    }
}

impl fmt::Display for DeviceRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// SMETS1 installation state of one device. A *mixed* installation is a hub with one active and
/// one dormant meter, so it is not a state of a single device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstallationState {
    /// Operated by its SMSO, with SMSO-held credentials.
    Active,
    /// No supplier service: old firmware, supply and configuration commands refused until upgraded.
    Dormant,
}

impl InstallationState {
    /// The word used in files and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Dormant => "dormant",
        }
    }

    pub(crate) fn parse(word: &str) -> Option<Self> {
        [Self::Active, Self::Dormant]
            .into_iter()
            .find(|state| state.as_str() == word)
    }
}

impl fmt::Display for InstallationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A device behind a DLMS TCP wrapper listener (IEC 62056-47).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TcpEndpoint {
    /// `host:port` (IPv6 hosts in brackets).
    pub address: String,
    /// The device's wrapper port (its server SAP).
    pub wport: u16,
}

/// A device on an HDLC serial line (IEC 62056-46).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SerialEndpoint {
    /// The serial device path, e.g. `/dev/ttyUSB0` or a PTY such as `/dev/pts/7`.
    pub path: String,
    /// Line speed in baud (8N1).
    pub baud: u32,
    /// HDLC server upper address: the logical device.
    pub logical_address: u16,
    /// HDLC server lower address: the physical device.
    pub physical_address: u16,
    /// Server address size in bytes: 1, 2 or 4.
    pub address_size: u8,
}

/// A meter's IEC 62056-21 mode C optical port (7E1, 300 baud at sign-on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpticalEndpoint {
    /// The serial device path of the optical head, e.g. a PTY such as `/dev/pts/8`.
    pub path: String,
    /// The sign-on device address (`/?<address>!`); empty: any meter on the port.
    pub address: String,
    /// The programming-mode (P1) password, when the port offers programming mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// How a client SAP authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Authentication {
    /// No authentication (the public client).
    None,
    /// Low-level security: a password.
    Lls,
    /// High-level security, mechanism 5 (GMAC), security suite 0.
    HlsGmac,
}

impl Authentication {
    /// The word used in files and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Lls => "lls",
            Self::HlsGmac => "hls-gmac",
        }
    }

    pub(crate) fn parse(word: &str) -> Option<Self> {
        [Self::None, Self::Lls, Self::HlsGmac]
            .into_iter()
            .find(|authentication| authentication.as_str() == word)
    }
}

impl fmt::Display for Authentication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One client SAP a device accepts. Validation guarantees: `password` is present exactly for LLS;
/// the two keys and the client system title are present together, and always for HLS-GMAC or
/// when `ciphered`. `Debug` shows neither the password nor the keys.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct ClientAccess {
    /// Client service access point (1..=127).
    pub sap: u8,
    /// Authentication mechanism.
    pub authentication: Authentication,
    /// LLS password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Whether xDLMS APDUs are glo-ciphered (AES-128-GCM) on this association.
    pub ciphered: bool,
    /// The client's system title (8 bytes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_title: Option<SystemTitle>,
    /// Global unicast encryption key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_key: Option<Key128>,
    /// Authentication key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authentication_key: Option<Key128>,
    /// Master key (KEK) used to wrap keys in key transfer, when the client holds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master_key: Option<Key128>,
}

impl std::fmt::Debug for ClientAccess {
    // The LLS password is as secret as the keys (which redact themselves).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientAccess")
            .field("sap", &self.sap)
            .field("authentication", &self.authentication)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("ciphered", &self.ciphered)
            .field("system_title", &self.system_title)
            .field("encryption_key", &self.encryption_key)
            .field("authentication_key", &self.authentication_key)
            .field("master_key", &self.master_key)
            .finish()
    }
}

impl ClientAccess {
    /// A client with no authentication and no keys.
    pub fn public(sap: u8) -> Self {
        Self {
            sap,
            authentication: Authentication::None,
            password: None,
            ciphered: false,
            system_title: None,
            encryption_key: None,
            authentication_key: None,
            master_key: None,
        }
    }
}

/// Text that is not the fixed number of hex digits a key or system title takes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {what} as {digits} hex digits, found {found:?}")]
pub struct HexError {
    /// What the digits were for, e.g. "AES-128 key".
    pub what: &'static str,
    /// How many hex digits it takes.
    pub digits: usize,
    /// The text found.
    pub found: String,
}

macro_rules! hex_bytes {
    ($name:ident, $len:literal, $what:literal, secret: $secret:literal) => {
        #[doc = concat!("A ", $what, " of ", stringify!($len), " bytes, written as hex.")]
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Parses exactly
            #[doc = stringify!($len)]
            /// bytes of hex (either case).
            pub fn from_hex(text: &str) -> Result<Self, HexError> {
                let mut bytes = [0u8; $len];
                hex::decode_to_slice(text, &mut bytes).map_err(|_| HexError {
                    what: $what,
                    digits: $len * 2,
                    found: text.to_owned(),
                })?;
                Ok(Self(bytes))
            }

            /// Lower-case hex.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                if $secret {
                    write!(f, "{}(<redacted>)", stringify!($name))
                } else {
                    write!(f, "{}({})", stringify!($name), self.to_hex())
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                if $secret {
                    f.write_str("<redacted>")
                } else {
                    f.write_str(&self.to_hex())
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.to_hex())
            }
        }
    };
}

// A key redacts itself in `Debug` and `Display` (logs, errors); only `to_hex` and the devices
// file writer show it. A system title is public.
hex_bytes!(Key128, 16, "AES-128 key", secret: true);
hex_bytes!(SystemTitle, 8, "system title", secret: false);

/// Text read from a secret file (or an inline credential) while it is parsed: held in a
/// `secrecy` box, zeroed when dropped, redacted in `Debug`.
pub struct SecretText(secrecy::SecretString);

impl SecretText {
    /// Wraps secret text.
    pub fn new(text: String) -> Self {
        Self(secrecy::SecretString::from(text))
    }

    /// The secret itself, for parsing.
    pub fn expose(&self) -> &str {
        secrecy::ExposeSecret::expose_secret(&self.0)
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretText(<redacted>)")
    }
}
