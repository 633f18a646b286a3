//! DMC descriptions: one TOML file per **Device Model Combination** (`suites/dmcs/*.toml`, format
//! specified in `suites/dmcs/README.md`) holding the DMC's device facts — DLMS client SAPs and
//! address sizes, each device type's model, firmware, HDLC logical address and COSEM objects by
//! [`ObjectRole`] (class, version, OBIS, public readability, scaler/unit, unsupported methods),
//! the SRVs supported per device type, the declared variations, and an optional IEC 62056-21
//! optical port ([`OpticalPort`]).
//!
//! Read by the DLMS adapter plugin (at `open` and in `describe`), the emulator (to build object
//! models) and the catalogue (to check cases against supported SRVs).
//!
//! Pure: serde + toml, [`Obis`](meterlab_dlms::obis::Obis) from `meterlab-dlms`,
//! [`Srv`](meterlab_plugin::pb::Srv) from `meterlab-plugin`, `DeviceRole` and `Location` from
//! `meterlab-devices`. **Must never depend on tokio, the emulator, the runner or the catalogue**, and
//! does no I/O beyond [`DmcDescription::load`].
//!
//! [`DmcDescription::parse`] reports every problem at once, each naming `file:line:column` and
//! the field path (`esme.object[2].obis`).

#![forbid(unsafe_code)]

mod error;
mod model;
mod parse;
mod render;
mod shipped;

use std::path::Path;

pub use error::{DmcError, DmcErrors, Location};
pub use meterlab_devices::DeviceRole;
pub use model::{
    CosemObject, DEVICE_TYPES, DeviceDescription, DlmsSettings, DmcDescription, FORMAT_VERSION,
    OPTICAL_BAUD_RATES, OPTICAL_SRVS, ObjectRole, OpticalPort, SrvSupport, Variation,
    VariationKind, all_srvs, device_type_from_name, optical_address, required_methods,
    required_roles, srv_from_number,
};
pub use shipped::{SHIPPED, shipped};

impl DmcDescription {
    /// Parses and validates description text; `file_name` names it in errors.
    pub fn parse(file_name: &str, text: &str) -> Result<Self, DmcErrors> {
        parse::parse(file_name, text)
    }

    /// Reads, parses and validates the file at `path`, and checks that its `id` equals the file
    /// stem (the runner finds a description by id).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, DmcErrors> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| {
            DmcErrors::new(vec![DmcError::Read {
                path: shown.clone(),
                message: error.to_string(),
            }])
        })?;
        let description = Self::parse(&shown, &text)?;
        let stem = path.file_stem().and_then(|stem| stem.to_str());
        if stem != Some(description.id.as_str()) {
            let offset = text.find("id").unwrap_or(0);
            return Err(DmcErrors::new(vec![DmcError::Invalid {
                location: Location::at_offset(&shown, &text, offset),
                field: "id".to_owned(),
                message: format!(
                    "id {:?} must equal the file stem {:?}",
                    description.id,
                    stem.unwrap_or_default()
                ),
            }]));
        }
        Ok(description)
    }

    /// Loads every `*.toml` description in `directory`, sorted by id; the problems of every file
    /// are reported together.
    pub fn load_dir(directory: impl AsRef<Path>) -> Result<Vec<Self>, DmcErrors> {
        let directory = directory.as_ref();
        let entries = std::fs::read_dir(directory).map_err(|error| {
            DmcErrors::new(vec![DmcError::Read {
                path: directory.display().to_string(),
                message: error.to_string(),
            }])
        })?;
        let mut paths: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
            .collect();
        paths.sort();
        let mut descriptions = Vec::with_capacity(paths.len());
        let mut errors = Vec::new();
        for path in paths {
            match Self::load(&path) {
                Ok(description) => descriptions.push(description),
                Err(problems) => errors.extend(problems),
            }
        }
        if errors.is_empty() {
            descriptions.sort_by(|a, b| a.id.cmp(&b.id));
            Ok(descriptions)
        } else {
            Err(DmcErrors::new(errors))
        }
    }
}
