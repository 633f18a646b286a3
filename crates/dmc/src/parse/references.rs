//! The parts of a description that refer to others: SRV support (device tables, required
//! objects and methods) and declared variations (checked against the object lists).

use std::collections::HashMap;
use std::ops::Range;

use meterlab_plugin::pb::Srv;
use toml::Spanned;

use super::{Checker, RawSrv, RawVariation};
use crate::model::{
    DmcDescription, SrvSupport, Variation, VariationKind, required_methods, required_roles,
};

pub(super) fn validate_srvs(
    checker: &mut Checker<'_>,
    raw: &[Spanned<RawSrv>],
    description: &DmcDescription,
) -> Vec<SrvSupport> {
    let mut srvs: Vec<SrvSupport> = Vec::with_capacity(raw.len());
    let mut first_seen: HashMap<Srv, Range<usize>> = HashMap::new();
    for (index, raw_srv) in raw.iter().enumerate() {
        let raw_srv = raw_srv.get_ref();
        let field = format!("srv[{index}]");
        let srv = checker.srv(&raw_srv.srv, &format!("{field}.srv"));
        if let Some(srv) = srv
            && let Some(first) = first_seen.insert(srv, raw_srv.srv.span())
        {
            let first = checker.location(&first);
            checker.report(
                raw_srv.srv.span(),
                format!("{field}.srv"),
                format!("SRV {} is already listed at {first}", srv.number()),
            );
            continue;
        }
        if raw_srv.devices.get_ref().is_empty() {
            checker.report(
                raw_srv.devices.span(),
                format!("{field}.devices"),
                "lists no device type",
            );
        }
        let mut devices = Vec::new();
        for (position, raw_device) in raw_srv.devices.get_ref().iter().enumerate() {
            let device_field = format!("{field}.devices[{position}]");
            let Some(device_type) = checker.device_type(raw_device, &device_field) else {
                continue;
            };
            if devices.contains(&device_type) {
                checker.report(
                    raw_device.span(),
                    device_field,
                    format!("{device_type} is listed twice"),
                );
                continue;
            }
            let Some(device) = description.device(device_type) else {
                checker.report(
                    raw_device.span(),
                    device_field,
                    format!("the DMC has no [{device_type}] table"),
                );
                continue;
            };
            if let Some(srv) = srv {
                let missing: Vec<&str> = required_roles(srv)
                    .iter()
                    .filter(|role| device.object(**role).is_none())
                    .map(|role| role.name())
                    .collect();
                if !missing.is_empty() {
                    checker.report(
                        raw_device.span(),
                        device_field,
                        format!(
                            "SRV {} needs the {} object(s), which {device_type} does not list",
                            srv.number(),
                            missing.join(", ")
                        ),
                    );
                    continue;
                }
                let unoffered: Vec<String> = required_methods(srv)
                    .iter()
                    .filter(|(role, method)| {
                        device
                            .object(*role)
                            .is_some_and(|object| !object.method_supported(*method))
                    })
                    .map(|(role, method)| format!("{} method {method}", role.name()))
                    .collect();
                if !unoffered.is_empty() {
                    checker.report(
                        raw_device.span(),
                        device_field,
                        format!(
                            "SRV {} invokes {}, which {device_type} does not offer",
                            srv.number(),
                            unoffered.join(", ")
                        ),
                    );
                    continue;
                }
            }
            devices.push(device_type);
        }
        if let Some(srv) = srv {
            srvs.push(SrvSupport { srv, devices });
        }
    }
    srvs
}

pub(super) fn validate_variation(
    checker: &mut Checker<'_>,
    index: usize,
    raw: &RawVariation,
    description: &DmcDescription,
) -> Option<Variation> {
    let field = format!("variation[{index}]");
    let srv = match &raw.srv {
        Some(raw_srv) => Some(checker.srv(raw_srv, &format!("{field}.srv"))?),
        None => None,
    };
    let device_type = checker.device_type(&raw.device, &format!("{field}.device"));
    let role = checker.role(&raw.object, &format!("{field}.object"));
    let note = raw
        .note
        .as_ref()
        .map(|note| checker.non_empty(note, &format!("{field}.note")));
    let kind_name = raw.kind.get_ref().as_str();
    let allowed: (bool, bool) = match kind_name {
        "relocated" => (true, false),
        "unsupported" => (false, false),
        "unsupported-method" => (false, true),
        other => {
            checker.report(
                raw.kind.span(),
                format!("{field}.kind"),
                format!(
                    "unknown kind {other:?}; expected relocated, unsupported or unsupported-method"
                ),
            );
            return None;
        }
    };
    let (wants_obis, wants_method) = allowed;
    if let (Some(obis), false) = (&raw.obis, wants_obis) {
        checker.report(
            obis.span(),
            format!("{field}.obis"),
            format!("a {kind_name} variation has no obis"),
        );
    }
    if let (Some(method), false) = (&raw.method, wants_method) {
        checker.report(
            method.span(),
            format!("{field}.method"),
            format!("a {kind_name} variation has no method"),
        );
    }
    let device_type = device_type?;
    let role = role?;
    let Some(device) = description.device(device_type) else {
        checker.report(
            raw.device.span(),
            format!("{field}.device"),
            format!("the DMC has no [{device_type}] table"),
        );
        return None;
    };
    let object = device.object(role);
    let kind = match kind_name {
        "relocated" => {
            let Some(raw_obis) = &raw.obis else {
                checker.report(
                    raw.kind.span(),
                    format!("{field}.obis"),
                    "a relocated variation needs the obis it is relocated to",
                );
                return None;
            };
            let obis = checker.obis(raw_obis, &format!("{field}.obis"))?;
            match object {
                Some(object) if object.obis == obis => VariationKind::Relocated(obis),
                Some(object) => {
                    checker.report(
                        raw_obis.span(),
                        format!("{field}.obis"),
                        format!(
                            "{device_type} lists {} at {}, not {obis}",
                            role.name(),
                            object.obis
                        ),
                    );
                    return None;
                }
                None => {
                    checker.report(
                        raw.object.span(),
                        format!("{field}.object"),
                        format!("{device_type} does not list a {} object", role.name()),
                    );
                    return None;
                }
            }
        }
        "unsupported" => {
            if object.is_some() {
                checker.report(
                    raw.object.span(),
                    format!("{field}.object"),
                    format!(
                        "{device_type} lists a {} object, so it is not unsupported",
                        role.name()
                    ),
                );
                return None;
            }
            VariationKind::Unsupported
        }
        _ => {
            let Some(raw_method) = &raw.method else {
                checker.report(
                    raw.kind.span(),
                    format!("{field}.method"),
                    "an unsupported-method variation needs the method number",
                );
                return None;
            };
            let method: i8 = checker.int(raw_method, &format!("{field}.method"), 1..=127, 1);
            match object {
                Some(object) if !object.method_supported(method) => {
                    VariationKind::UnsupportedMethod(method)
                }
                Some(_) => {
                    checker.report(
                        raw_method.span(),
                        format!("{field}.method"),
                        format!(
                            "method {method} is not in {device_type} {}'s unsupported_methods",
                            role.name()
                        ),
                    );
                    return None;
                }
                None => {
                    checker.report(
                        raw.object.span(),
                        format!("{field}.object"),
                        format!("{device_type} does not list a {} object", role.name()),
                    );
                    return None;
                }
            }
        }
    };
    Some(Variation {
        srv,
        device: device_type,
        object: role,
        kind,
        note,
    })
}
