//! Property tests: any valid description renders to text that parses back equal; no text makes
//! the parser panic, and an edited shipped file yields a description or located errors.

use meterlab_dlms::obis::Obis;
use meterlab_dmc::{
    CosemObject, DEVICE_TYPES, DeviceDescription, DeviceRole, DlmsSettings, DmcDescription,
    ObjectRole, SrvSupport, Variation, VariationKind, all_srvs, required_methods, required_roles,
};
use proptest::prelude::*;

fn object(role: ObjectRole, index: usize, public: bool, scaler: i8) -> CosemObject {
    let register = role.has_scaler_unit();
    CosemObject {
        role,
        class_id: role.class_id(),
        version: u8::from(role.class_id() == 7),
        // Distinct per object within a device.
        obis: Obis::new(0, 0, 96, 50, u8::try_from(index).unwrap_or(0), 255),
        public,
        scaler: register.then_some(scaler),
        unit: register.then_some(30),
        unsupported_methods: if role == ObjectRole::DisconnectControl && public {
            vec![2]
        } else {
            Vec::new()
        },
    }
}

prop_compose! {
    fn device(device_type: DeviceRole)(
        present in proptest::collection::vec(any::<bool>(), ObjectRole::ALL.len()),
        public in proptest::collection::vec(any::<bool>(), ObjectRole::ALL.len()),
        scaler in -6i8..=6,
        model in "[A-Za-z0-9 ]{1,12}",
        firmware in "[0-9.]{1,8}",
        dormant in proptest::option::of("[0-9.]{1,8}"),
    ) -> DeviceDescription {
        let objects: Vec<CosemObject> = ObjectRole::ALL
            .into_iter()
            .enumerate()
            .filter(|(index, _)| present[*index])
            .map(|(index, role)| object(role, index, public[index], scaler))
            .collect();
        // A schedule is valid only beside the image transfer it activates.
        let has_image_transfer = objects.iter().any(|o| o.role == ObjectRole::ImageTransfer);
        let objects = objects
            .into_iter()
            .filter(|o| has_image_transfer || o.role != ObjectRole::ImageActivationSchedule)
            .collect();
        DeviceDescription {
            device_type,
            model: model.trim().to_owned() + "M",
            firmware: firmware + "1",
            dormant_firmware: dormant.map(|text| text + "0"),
            logical_address: match device_type { DeviceRole::Hub => 1, DeviceRole::Esme => 2, DeviceRole::Gsme => 3 },
            objects,
        }
    }
}

fn description() -> impl Strategy<Value = DmcDescription> {
    (
        device(DeviceRole::Hub),
        device(DeviceRole::Esme),
        device(DeviceRole::Gsme),
        proptest::collection::vec(any::<bool>(), 3),
        "[a-z0-9-]{1,20}",
        "[ -~]{1,30}",
        any::<bool>(),
    )
        .prop_map(|(hub, esme, gsme, keep, id, title, with_note)| {
            let mut devices: Vec<DeviceDescription> = [hub, esme, gsme]
                .into_iter()
                .zip(&keep)
                .filter(|(_, keep)| **keep)
                .map(|(device, _)| device)
                .collect();
            if devices.is_empty() {
                devices.push(DeviceDescription {
                    device_type: DEVICE_TYPES[1],
                    model: "M".into(),
                    firmware: "1".into(),
                    dormant_firmware: None,
                    logical_address: 2,
                    objects: Vec::new(),
                });
            }
            let srvs = all_srvs()
                .into_iter()
                .filter_map(|srv| {
                    let on: Vec<DeviceRole> = devices
                        .iter()
                        .filter(|device| {
                            required_roles(srv)
                                .iter()
                                .all(|role| device.object(*role).is_some())
                                && required_methods(srv).iter().all(|(role, method)| {
                                    device
                                        .object(*role)
                                        .is_none_or(|object| object.method_supported(*method))
                                })
                        })
                        .map(|device| device.device_type)
                        .collect();
                    (!on.is_empty()).then_some(SrvSupport { srv, devices: on })
                })
                .collect();
            let mut variations = Vec::new();
            for device in &devices {
                if let Some(first) = device.objects.first() {
                    variations.push(Variation {
                        srv: None,
                        device: device.device_type,
                        object: first.role,
                        kind: VariationKind::Relocated(first.obis),
                        note: with_note.then(|| "moved \"here\"".to_owned()),
                    });
                }
                if let Some(missing) = ObjectRole::ALL
                    .into_iter()
                    .find(|role| device.object(*role).is_none())
                {
                    variations.push(Variation {
                        srv: all_srvs().first().copied(),
                        device: device.device_type,
                        object: missing,
                        kind: VariationKind::Unsupported,
                        note: None,
                    });
                }
                if let Some(control) = device.object(ObjectRole::DisconnectControl)
                    && !control.unsupported_methods.is_empty()
                {
                    variations.push(Variation {
                        srv: None,
                        device: device.device_type,
                        object: ObjectRole::DisconnectControl,
                        kind: VariationKind::UnsupportedMethod(2),
                        note: None,
                    });
                }
            }
            DmcDescription {
                id,
                title: title.trim().to_owned() + "T",
                smso: "smso-x".into(),
                dlms: DlmsSettings {
                    security_suite: 0,
                    public_client_sap: 16,
                    management_client_sap: 1,
                    hls_client_sap: 48,
                    hdlc_address_size: 4,
                    max_pdu_size: 1024,
                },
                devices,
                srvs,
                variations,
                optical: None,
            }
        })
}

const SHIPPED: &str = include_str!("../../../suites/dmcs/bravo-h2-e2-g2.toml");

proptest! {
    #[test]
    fn render_then_parse_is_the_identity(description in description()) {
        let text = description.to_toml();
        let parsed = DmcDescription::parse("generated", &text);
        prop_assert!(parsed.is_ok(), "{text}\n{}", parsed.err().map(|e| e.to_string()).unwrap_or_default());
        prop_assert_eq!(parsed.ok(), Some(description));
    }

    #[test]
    fn any_text_parses_or_fails_with_located_errors(text in "\\PC{0,200}") {
        if let Err(errors) = DmcDescription::parse("any", &text) {
            prop_assert!(!errors.is_empty());
            for error in errors.errors() {
                prop_assert!(error.location().is_some(), "{error}");
            }
        }
    }

    #[test]
    fn an_edited_shipped_file_parses_or_fails_with_located_errors(
        at in 0usize..SHIPPED.len(),
        cut in 0usize..40,
        insert in "[ -~\n]{0,12}",
    ) {
        let mut start = at;
        while !SHIPPED.is_char_boundary(start) { start -= 1; }
        let mut end = (start + cut).min(SHIPPED.len());
        while !SHIPPED.is_char_boundary(end) { end -= 1; }
        let text = format!("{}{insert}{}", &SHIPPED[..start], &SHIPPED[end..]);
        if let Err(errors) = DmcDescription::parse("edited", &text) {
            for error in errors.errors() {
                let location = error.location();
                prop_assert!(location.is_some_and(|l| l.line >= 1 && l.line <= text.lines().count() + 1), "{error}");
            }
        }
    }
}
