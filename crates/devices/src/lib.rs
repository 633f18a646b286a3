//! The meterlab **devices file**: a TOML list of logical devices (comms hub, ESME, GSME) saying how
//! each is reached — TCP wrapper address and wPort, or serial path, baud and HDLC addresses — which
//! SMSO and DMC it belongs to, its installation state, and the client SAPs it accepts with their
//! credentials (LLS password, HLS-GMAC keys).
//!
//! The emulator writes it (`meterlab emulate --devices-out FILE`); the runner and the gateway read
//! it. The format is defined once, here: [`parse`] validates everything and names `file:line:column`
//! in every error; [`DevicesFile::to_toml`] writes text that [`parse`] reads back unchanged.
//!
//! ```toml
//! format = 1
//!
//! [[device]]
//! name = "hub-0001.esme"
//! hub = "hub-0001"
//! role = "esme"            # hub | esme | gsme
//! dmc = "acme-ch1"
//! smso = "smso-north"
//! state = "active"         # active | dormant
//! model = "ACME E470"
//! firmware = "2.0.1"
//! mpxn = "1200012345678"
//! system_title = "4d4c420000000002"
//!
//! [device.tcp]
//! address = "127.0.0.1:4059"
//! wport = 2
//!
//! [device.serial]
//! path = "/dev/pts/7"
//! baud = 9600
//! logical_address = 2
//! physical_address = 17
//! address_size = 4
//!
//! [device.optical]         # optional: the meter's IEC 62056-21 optical port
//! path = "/dev/pts/8"      # the optical head's serial device (7E1, 300 baud at sign-on)
//! address = "00000001"     # sign-on address (/?00000001!); empty: any meter on the port
//! password = "secret"      # optional: programming-mode (P1) password
//!
//! [[device.client]]
//! sap = 16
//! authentication = "none"
//! ciphered = false
//!
//! [[device.client]]
//! sap = 1
//! authentication = "lls"
//! password = "00000001"
//! ciphered = false
//! ```
//!
//! `[device.optical]` is read by `meterlab run` for the steps of a case written `via = "optical"`
//! (through the IEC 62056-21 adapter, on the DMC's `[optical]` port; see
//! `crates/catalog/README.md`): a device without it, or whose DMC declares no optical port, has
//! such cases skipped with the reason. `meterlab emulate --optical --devices-out FILE` writes it
//! for every emulated meter with an optical port.
//!
//! Credentials may be inline (as the emulator writes them for its throwaway devices) or, for real
//! devices, in secret files named by `password_file`, `encryption_key_file`,
//! `authentication_key_file` and `master_key_file` (hex; paths relative to the devices file),
//! which [`DevicesFile::load`] refuses when group- or world-readable. Keys redact themselves in
//! `Debug` and `Display` (an LLS password in `Debug`). A file with inline credentials must be
//! protected like a lab secret.
//!
//! The serve config may hold `[[device]]` tables itself; [`parse_device_tables`] reads them from
//! its text with the same checks, errors at the config's own line and column.
//!
//! Must never depend on anything but serde, TOML and secrecy: it is pure data and validation, no
//! I/O beyond reading and writing the one file and the secret files it names.
#![forbid(unsafe_code)]

mod error;
pub mod location;
mod model;
mod parse;
mod secret_file;
pub mod toml_error;

use std::path::Path;

pub use error::DevicesError;
pub use location::Location;
pub use model::{
    Authentication, ClientAccess, Device, DeviceRole, DevicesFile, FORMAT_VERSION, HexError,
    InstallationState, Key128, OpticalEndpoint, SecretText, SerialEndpoint, SystemTitle,
    TcpEndpoint,
};
pub use parse::{
    NoSecretFiles, STANDARD_BAUD_RATES, SecretFiles, parse, parse_device_tables, parse_with_secrets,
};
pub use secret_file::SecretFilesNextTo;

impl DevicesFile {
    /// Reads and validates a devices file; `*_file` credentials are read relative to its
    /// directory and refused when group- or world-readable.
    pub fn load(path: &Path) -> Result<Self, DevicesError> {
        let text = std::fs::read_to_string(path).map_err(|source| DevicesError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let secrets = SecretFilesNextTo::new(path.parent().unwrap_or(Path::new(".")));
        parse_with_secrets(&path.display().to_string(), &text, &secrets)
    }

    /// Renders the file as TOML, with a header comment saying what it is.
    pub fn to_toml(&self) -> Result<String, DevicesError> {
        let body =
            toml::to_string(self).map_err(|error| DevicesError::Render(error.to_string()))?;
        Ok(format!(
            "# meterlab devices file (format {}): how to reach each logical device.\n\
             # It holds credentials in clear; protect it like any lab secret.\n\n{body}",
            self.format
        ))
    }

    /// Writes the file as TOML.
    pub fn save(&self, path: &Path) -> Result<(), DevicesError> {
        std::fs::write(path, self.to_toml()?).map_err(|source| DevicesError::Write {
            path: path.display().to_string(),
            source,
        })
    }
}
