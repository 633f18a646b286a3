//! DMCs a scenario names by id without defining them: the shipped descriptions in `suites/dmcs/`.

use std::path::Path;
use std::sync::Arc;

use meterlab_devices::DeviceRole;
use meterlab_dmc::DmcDescription;
use toml::Spanned;

use super::parse::Source;
use super::{Dmc, ModelSpec, Smso};
use crate::error::EmulatorError;

/// The DMC a hub names by id without a `[[dmc]]`: the shipped description
/// `<scenario dir>/../dmcs/<id>.toml` (or, when no such file exists, the same description built
/// into the binary), its models and object maps as they are there.
pub(super) fn shipped_dmc(
    source: &Source<'_>,
    id: &Spanned<String>,
    hub: &str,
    smsos: &[Smso],
) -> Result<Dmc, EmulatorError> {
    let directory = Path::new(source.file)
        .parent()
        .unwrap_or(Path::new(""))
        .join("../dmcs");
    let path = directory.join(format!("{}.toml", id.get_ref()));
    // A file beside the scenario wins; without one (an embedded scenario, a scenario outside the
    // repository) the description built into the binary stands in for the shipped file.
    let loaded = match meterlab_dmc::shipped(id.get_ref()) {
        Some(built_in) if !path.exists() => built_in,
        _ => DmcDescription::load(&path),
    };
    let description = loaded.map_err(|errors| {
        source.error(
            id.span(),
            format!(
                "hub {hub:?} names DMC {:?}, which no [[dmc]] defines and {} does not describe:\n{errors}",
                id.get_ref(),
                path.display()
            ),
        )
    })?;
    if !smsos.iter().any(|smso| smso.id == description.smso) {
        return Err(source.error(
            id.span(),
            format!(
                "DMC {:?} ({}) is operated by SMSO {:?}, which no [[smso]] defines",
                id.get_ref(),
                path.display(),
                description.smso
            ),
        ));
    }
    let model = |role: DeviceRole| {
        description
            .device(role)
            .map(|device| ModelSpec {
                model: device.model.clone(),
                firmware: device.firmware.clone(),
                dormant_firmware: device.dormant_firmware.clone(),
            })
            .ok_or_else(|| {
                source.error(
                    id.span(),
                    format!(
                        "DMC {:?} ({}) describes no {role}",
                        id.get_ref(),
                        path.display()
                    ),
                )
            })
    };
    Ok(Dmc {
        id: description.id.clone(),
        smso: description.smso.clone(),
        hub: model(DeviceRole::Hub)?,
        esme: model(DeviceRole::Esme)?,
        gsme: model(DeviceRole::Gsme)?,
        // The description's object maps already place what its variations declare.
        variations: Vec::new(),
        description: Some(Arc::new(description)),
    })
}
