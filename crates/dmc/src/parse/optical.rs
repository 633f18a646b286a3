//! The `[optical]` table: a device type's IEC 62056-21 mode C port.

use serde::Deserialize;
use toml::Spanned;

use super::Checker;
use crate::model::{DmcDescription, OPTICAL_BAUD_RATES, OPTICAL_SRVS, OpticalPort, required_roles};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOptical {
    device: Spanned<String>,
    manufacturer: Spanned<String>,
    max_baud: Spanned<i64>,
    #[serde(default)]
    programming: bool,
    srvs: Spanned<Vec<Spanned<String>>>,
}

pub(super) fn validate_optical(
    checker: &mut Checker<'_>,
    raw: &Spanned<RawOptical>,
    description: &DmcDescription,
) -> Option<OpticalPort> {
    let raw = raw.get_ref();
    let device = checker.device_type(&raw.device, "optical.device");
    let device_description = device.and_then(|device| description.device(device));
    if let Some(device) = device
        && device_description.is_none()
    {
        checker.report(
            raw.device.span(),
            "optical.device",
            format!("the DMC has no [{device}] table"),
        );
    }
    let manufacturer = raw.manufacturer.get_ref().clone();
    if manufacturer.len() != 3 || !manufacturer.chars().all(|c| c.is_ascii_alphabetic()) {
        checker.report(
            raw.manufacturer.span(),
            "optical.manufacturer",
            format!("{manufacturer:?} is not a three-letter manufacturer flag"),
        );
    }
    let max_baud = *raw.max_baud.get_ref();
    let max_baud = match u32::try_from(max_baud) {
        Ok(baud) if OPTICAL_BAUD_RATES.contains(&baud) => baud,
        _ => {
            checker.report(
                raw.max_baud.span(),
                "optical.max_baud",
                format!("{max_baud} is not a mode C rate; expected one of {OPTICAL_BAUD_RATES:?}"),
            );
            300
        }
    };
    let mut srvs = Vec::new();
    for (index, raw_srv) in raw.srvs.get_ref().iter().enumerate() {
        let field = format!("optical.srvs[{index}]");
        let Some(srv) = checker.srv(raw_srv, &field) else {
            continue;
        };
        if !OPTICAL_SRVS.contains(&srv) {
            let carried: Vec<&str> = OPTICAL_SRVS.iter().map(|srv| srv.number()).collect();
            checker.report(
                raw_srv.span(),
                field,
                format!(
                    "SRV {} cannot be carried by an optical port; it carries {}",
                    srv.number(),
                    carried.join(", ")
                ),
            );
            continue;
        }
        if srvs.contains(&srv) {
            checker.report(
                raw_srv.span(),
                field,
                format!("SRV {} is listed twice", srv.number()),
            );
            continue;
        }
        if let Some(device_description) = device_description
            && let Some(missing) = required_roles(srv)
                .iter()
                .find(|role| device_description.object(**role).is_none())
        {
            checker.report(
                raw_srv.span(),
                field,
                format!(
                    "SRV {} needs the {} object, which the {} does not have",
                    srv.number(),
                    missing.name(),
                    device_description.device_type
                ),
            );
            continue;
        }
        srvs.push(srv);
    }
    Some(OpticalPort {
        device: device?,
        manufacturer,
        max_baud,
        programming: raw.programming,
        srvs,
    })
}
