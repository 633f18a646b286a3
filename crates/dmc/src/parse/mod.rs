//! Reading a DMC description: TOML with spans, then validation that collects every problem with
//! `file:line:column` and the field path.

mod optical;
mod references;

use std::collections::HashMap;
use std::ops::Range;

use meterlab_devices::{DeviceRole, Location};
use meterlab_dlms::obis::Obis;
use meterlab_plugin::pb::Srv;
use serde::Deserialize;
use toml::Spanned;

use crate::error::{DmcError, DmcErrors};
use crate::model::{
    CosemObject, DeviceDescription, DlmsSettings, DmcDescription, FORMAT_VERSION, ObjectRole,
    device_type_from_name, srv_from_number,
};
use references::{validate_srvs, validate_variation};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    format: Spanned<i64>,
    id: Spanned<String>,
    title: Spanned<String>,
    smso: Spanned<String>,
    dlms: Spanned<RawDlms>,
    hub: Option<Spanned<RawDevice>>,
    esme: Option<Spanned<RawDevice>>,
    gsme: Option<Spanned<RawDevice>>,
    #[serde(default)]
    srv: Vec<Spanned<RawSrv>>,
    #[serde(default)]
    variation: Vec<Spanned<RawVariation>>,
    optical: Option<Spanned<optical::RawOptical>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDlms {
    security_suite: Spanned<i64>,
    public_client_sap: Spanned<i64>,
    management_client_sap: Spanned<i64>,
    hls_client_sap: Spanned<i64>,
    hdlc_address_size: Spanned<i64>,
    max_pdu_size: Spanned<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDevice {
    model: Spanned<String>,
    firmware: Spanned<String>,
    dormant_firmware: Option<Spanned<String>>,
    logical_address: Spanned<i64>,
    #[serde(default)]
    object: Vec<Spanned<RawObject>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawObject {
    role: Spanned<String>,
    class: Spanned<i64>,
    version: Spanned<i64>,
    obis: Spanned<String>,
    public: Option<Spanned<bool>>,
    scaler: Option<Spanned<i64>>,
    unit: Option<Spanned<i64>>,
    #[serde(default)]
    unsupported_methods: Vec<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSrv {
    srv: Spanned<String>,
    devices: Spanned<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariation {
    srv: Option<Spanned<String>>,
    device: Spanned<String>,
    object: Spanned<String>,
    kind: Spanned<String>,
    obis: Option<Spanned<String>>,
    method: Option<Spanned<i64>>,
    note: Option<Spanned<String>>,
}

/// Collects problems with their locations while validation carries on.
struct Checker<'a> {
    file: &'a str,
    text: &'a str,
    errors: Vec<DmcError>,
}

impl Checker<'_> {
    fn report(&mut self, span: Range<usize>, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(DmcError::Invalid {
            location: Location::at_offset(self.file, self.text, span.start),
            field: field.into(),
            message: message.into(),
        });
    }

    fn location(&self, span: &Range<usize>) -> Location {
        Location::at_offset(self.file, self.text, span.start)
    }

    fn non_empty(&mut self, value: &Spanned<String>, field: &str) -> String {
        let text = value.get_ref().trim();
        if text.is_empty() {
            self.report(value.span(), field, "must not be empty");
        }
        text.to_owned()
    }

    /// `value` as an integer in `range`; reports and returns `fallback` otherwise.
    fn int<T: TryFrom<i64> + Copy>(
        &mut self,
        value: &Spanned<i64>,
        field: &str,
        range: std::ops::RangeInclusive<i64>,
        fallback: T,
    ) -> T {
        let number = *value.get_ref();
        match T::try_from(number) {
            Ok(converted) if range.contains(&number) => converted,
            _ => {
                self.report(
                    value.span(),
                    field,
                    format!(
                        "{number} is out of range; expected {}..={}",
                        range.start(),
                        range.end()
                    ),
                );
                fallback
            }
        }
    }

    fn obis(&mut self, value: &Spanned<String>, field: &str) -> Option<Obis> {
        match value.get_ref().parse::<Obis>() {
            Ok(obis) => Some(obis),
            Err(error) => {
                self.report(value.span(), field, error.to_string());
                None
            }
        }
    }

    fn srv(&mut self, value: &Spanned<String>, field: &str) -> Option<Srv> {
        let found = srv_from_number(value.get_ref());
        if found.is_none() {
            let known: Vec<&str> = crate::model::all_srvs()
                .into_iter()
                .map(Srv::number)
                .collect();
            self.report(
                value.span(),
                field,
                format!(
                    "unknown SRV {:?}; the vocabulary has {}",
                    value.get_ref(),
                    known.join(", ")
                ),
            );
        }
        found
    }

    fn device_type(&mut self, value: &Spanned<String>, field: &str) -> Option<DeviceRole> {
        let found = device_type_from_name(value.get_ref());
        if found.is_none() {
            self.report(
                value.span(),
                field,
                format!(
                    "unknown device type {:?}; expected hub, esme or gsme",
                    value.get_ref()
                ),
            );
        }
        found
    }

    fn role(&mut self, value: &Spanned<String>, field: &str) -> Option<ObjectRole> {
        let found = ObjectRole::from_name(value.get_ref());
        if found.is_none() {
            let known: Vec<&str> = ObjectRole::ALL.into_iter().map(ObjectRole::name).collect();
            self.report(
                value.span(),
                field,
                format!(
                    "unknown object role {:?}; expected one of {}",
                    value.get_ref(),
                    known.join(", ")
                ),
            );
        }
        found
    }
}

/// Parses and validates DMC description text; `file` names it in errors. Every problem is
/// reported; a description is returned only when there is none.
pub fn parse(file: &str, text: &str) -> Result<DmcDescription, DmcErrors> {
    let raw: RawFile = toml::from_str(text).map_err(|error| {
        DmcErrors::new(vec![DmcError::Syntax {
            location: Location::at_span(file, text, error.span()),
            message: error.message().trim().to_owned(),
        }])
    })?;
    let mut checker = Checker {
        file,
        text,
        errors: Vec::new(),
    };
    let description = validate(&mut checker, &raw);
    if checker.errors.is_empty() {
        Ok(description)
    } else {
        Err(DmcErrors::new(checker.errors))
    }
}

fn validate(checker: &mut Checker<'_>, raw: &RawFile) -> DmcDescription {
    if *raw.format.get_ref() != i64::from(FORMAT_VERSION) {
        checker.report(
            raw.format.span(),
            "format",
            format!(
                "DMC description format {} is not supported; this meterlab reads format {FORMAT_VERSION}",
                raw.format.get_ref()
            ),
        );
    }
    let id = checker.non_empty(&raw.id, "id");
    if id
        .chars()
        .any(|c| c.is_whitespace() || c == '/' || c == '\\')
    {
        checker.report(
            raw.id.span(),
            "id",
            format!("{id:?} must not contain spaces or path separators (it is a file stem)"),
        );
    }
    let title = checker.non_empty(&raw.title, "title");
    let smso = checker.non_empty(&raw.smso, "smso");
    let dlms = validate_dlms(checker, raw.dlms.get_ref());

    let mut devices = Vec::new();
    let mut logical_addresses: HashMap<u16, &'static str> = HashMap::new();
    for (device_type, raw_device) in [
        (DeviceRole::Hub, &raw.hub),
        (DeviceRole::Esme, &raw.esme),
        (DeviceRole::Gsme, &raw.gsme),
    ] {
        let Some(raw_device) = raw_device else {
            continue;
        };
        let device = validate_device(checker, device_type, raw_device.get_ref(), &dlms);
        if let Some(other) = logical_addresses.insert(device.logical_address, device_type.as_str())
        {
            checker.report(
                raw_device.get_ref().logical_address.span(),
                format!("{device_type}.logical_address"),
                format!(
                    "logical address {} is already used by {other}",
                    device.logical_address
                ),
            );
        }
        devices.push(device);
    }
    if devices.is_empty() {
        checker.report(
            raw.id.span(),
            "hub/esme/gsme",
            "the DMC describes no device: add a [hub], [esme] or [gsme] table",
        );
    }
    let mut description = DmcDescription {
        id,
        title,
        smso,
        dlms,
        devices,
        srvs: Vec::new(),
        variations: Vec::new(),
        optical: None,
    };
    description.srvs = validate_srvs(checker, &raw.srv, &description);
    description.variations = raw
        .variation
        .iter()
        .enumerate()
        .filter_map(|(index, variation)| {
            validate_variation(checker, index, variation.get_ref(), &description)
        })
        .collect();
    description.optical = raw
        .optical
        .as_ref()
        .and_then(|optical| optical::validate_optical(checker, optical, &description));
    description
}

fn validate_dlms(checker: &mut Checker<'_>, raw: &RawDlms) -> DlmsSettings {
    let security_suite = checker.int(&raw.security_suite, "dlms.security_suite", 0..=0, 0);
    let public_client_sap = checker.int(
        &raw.public_client_sap,
        "dlms.public_client_sap",
        1..=127,
        16,
    );
    let management_client_sap = checker.int(
        &raw.management_client_sap,
        "dlms.management_client_sap",
        1..=127,
        1,
    );
    let hls_client_sap = checker.int(&raw.hls_client_sap, "dlms.hls_client_sap", 1..=127, 48);
    let saps = [
        (
            "dlms.public_client_sap",
            public_client_sap,
            &raw.public_client_sap,
        ),
        (
            "dlms.management_client_sap",
            management_client_sap,
            &raw.management_client_sap,
        ),
        ("dlms.hls_client_sap", hls_client_sap, &raw.hls_client_sap),
    ];
    for (index, (field, sap, spanned)) in saps.iter().enumerate() {
        if let Some((other, _, _)) = saps[..index].iter().find(|(_, other, _)| other == sap) {
            checker.report(
                spanned.span(),
                *field,
                format!("client SAP {sap} is already {other}"),
            );
        }
    }
    let hdlc_address_size = checker.int(&raw.hdlc_address_size, "dlms.hdlc_address_size", 1..=4, 4);
    if hdlc_address_size == 3 {
        checker.report(
            raw.hdlc_address_size.span(),
            "dlms.hdlc_address_size",
            "an HDLC server address is 1, 2 or 4 bytes, not 3",
        );
    }
    let max_pdu_size = checker.int(&raw.max_pdu_size, "dlms.max_pdu_size", 12..=65535, 1024);
    DlmsSettings {
        security_suite,
        public_client_sap,
        management_client_sap,
        hls_client_sap,
        hdlc_address_size,
        max_pdu_size,
    }
}

fn validate_device(
    checker: &mut Checker<'_>,
    device_type: DeviceRole,
    raw: &RawDevice,
    dlms: &DlmsSettings,
) -> DeviceDescription {
    let model = checker.non_empty(&raw.model, &format!("{device_type}.model"));
    let firmware = checker.non_empty(&raw.firmware, &format!("{device_type}.firmware"));
    let dormant_firmware = raw
        .dormant_firmware
        .as_ref()
        .map(|text| checker.non_empty(text, &format!("{device_type}.dormant_firmware")));
    // A 1-byte server address has only the upper half, 7 bits; larger ones give it 14.
    let logical_max = if dlms.hdlc_address_size == 4 {
        0x3FFF
    } else {
        0x7F
    };
    let logical_address = checker.int(
        &raw.logical_address,
        &format!("{device_type}.logical_address"),
        1..=logical_max,
        1,
    );
    let mut objects: Vec<CosemObject> = Vec::with_capacity(raw.object.len());
    for (index, raw_object) in raw.object.iter().enumerate() {
        let field = format!("{device_type}.object[{index}]");
        let Some(object) = validate_object(checker, &field, raw_object.get_ref()) else {
            continue;
        };
        if objects.iter().any(|other| other.role == object.role) {
            checker.report(
                raw_object.get_ref().role.span(),
                format!("{field}.role"),
                format!("role {} is listed twice", object.role.name()),
            );
            continue;
        }
        if let Some(other) = objects.iter().find(|other| other.obis == object.obis) {
            checker.report(
                raw_object.get_ref().obis.span(),
                format!("{field}.obis"),
                format!(
                    "OBIS {} is already the {} object",
                    object.obis,
                    other.role.name()
                ),
            );
            continue;
        }
        objects.push(object);
    }
    // The schedule only says when `image_activate` runs: without the image transfer object
    // there is nothing for it to activate.
    if objects
        .iter()
        .any(|object| object.role == ObjectRole::ImageActivationSchedule)
        && !objects
            .iter()
            .any(|object| object.role == ObjectRole::ImageTransfer)
        && let Some((index, raw_object)) = raw.object.iter().enumerate().find(|(_, raw_object)| {
            raw_object.get_ref().role.get_ref() == ObjectRole::ImageActivationSchedule.name()
        })
    {
        checker.report(
            raw_object.get_ref().role.span(),
            format!("{device_type}.object[{index}].role"),
            "image_activation_schedule needs an image_transfer object on the same device \
             (it schedules that object's image_activate)",
        );
    }
    DeviceDescription {
        device_type,
        model,
        firmware,
        dormant_firmware,
        logical_address,
        objects,
    }
}

fn validate_object(checker: &mut Checker<'_>, field: &str, raw: &RawObject) -> Option<CosemObject> {
    let role = checker.role(&raw.role, &format!("{field}.role"));
    let class_id: u16 = checker.int(&raw.class, &format!("{field}.class"), 0..=65535, 0);
    let version: u8 = checker.int(&raw.version, &format!("{field}.version"), 0..=255, 0);
    let obis = checker.obis(&raw.obis, &format!("{field}.obis"));
    let role = role?;
    if class_id != role.class_id() {
        checker.report(
            raw.class.span(),
            format!("{field}.class"),
            format!(
                "a {} object is interface class {}, not {class_id}",
                role.name(),
                role.class_id()
            ),
        );
    }
    let mut scaler = None;
    let mut unit = None;
    if role.has_scaler_unit() {
        match (&raw.scaler, &raw.unit) {
            (Some(raw_scaler), Some(raw_unit)) => {
                scaler = Some(checker.int(raw_scaler, &format!("{field}.scaler"), -128..=127, 0));
                unit = Some(checker.int(raw_unit, &format!("{field}.unit"), 0..=255, 0));
            }
            _ => checker.report(
                raw.role.span(),
                field,
                format!("a {} needs both scaler and unit", role.name()),
            ),
        }
    } else {
        for (name, value) in [("scaler", &raw.scaler), ("unit", &raw.unit)] {
            if let Some(value) = value {
                checker.report(
                    value.span(),
                    format!("{field}.{name}"),
                    format!("only registers have a {name}; {} is not one", role.name()),
                );
            }
        }
    }
    let mut unsupported_methods: Vec<i8> = Vec::with_capacity(raw.unsupported_methods.len());
    for (index, method) in raw.unsupported_methods.iter().enumerate() {
        let method_field = format!("{field}.unsupported_methods[{index}]");
        let number: i8 = checker.int(method, &method_field, 1..=127, 1);
        if unsupported_methods.contains(&number) {
            checker.report(
                method.span(),
                method_field,
                format!("method {number} is listed twice"),
            );
        } else {
            unsupported_methods.push(number);
        }
    }
    Some(CosemObject {
        role,
        class_id,
        version,
        obis: obis?,
        public: raw.public.as_ref().is_some_and(|public| *public.get_ref()),
        scaler,
        unit,
        unsupported_methods,
    })
}
