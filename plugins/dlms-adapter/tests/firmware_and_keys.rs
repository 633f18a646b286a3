//! Firmware (11.1, 11.3) and key transfer (6.15.1) through the adapter, in process, against the
//! emulator's devices in memory: positive and negative.
#![allow(clippy::unwrap_used)]

mod support;

use meterlab_dlms::security::wrap_key;
use meterlab_emulator::firmware::FirmwareImage;
use meterlab_emulator::hub::{HLS_CLIENT_SAP, LLS_CLIENT_SAP};
use meterlab_plugin::pb::{
    ActivateFirmware, DisableSupply, KeyKind, KeyUpdate, ReadFirmwareVersion,
    ReadInstantaneousImportRegisters, SupplyState, UpdateFirmware, UpdateSecurityCredentials,
    service_error::Kind, service_request::Body, service_response::Outcome,
};
use support::{Rig, error, outcome, supply};

fn image(model: &str, version: &str) -> (Vec<u8>, Vec<u8>) {
    use sha2::Digest;
    let image = FirmwareImage::build(model, version, &[0x5A; 1000]).expect("image");
    let digest = sha2::Sha256::digest(&image).to_vec();
    (image, digest)
}

#[test]
fn firmware_is_transferred_verified_activated_and_read_back() {
    let mut rig = Rig::new("dormant", "north-dormant.esme", LLS_CLIENT_SAP);
    let (image, digest) = image("ACME E470", "2.1.0");
    let run = rig.run(Body::UpdateFirmware(UpdateFirmware {
        image_identifier: "E470-2.1.0".into(),
        image,
        image_sha256: digest,
    }));
    let Outcome::FirmwareImageTransferred(transferred) = outcome(&run.response) else {
        panic!("{:?}", run.response)
    };
    assert!(transferred.verified);
    assert!(
        run.logs.iter().any(|line| line.contains("blocks of 192")),
        "{:?}",
        run.logs
    );

    let run = rig.run(Body::ActivateFirmware(ActivateFirmware {
        image_identifier: "E470-2.1.0".into(),
        activate_at_ms: 0,
    }));
    assert_eq!(
        outcome(&run.response),
        &Outcome::FirmwareActivated(meterlab_plugin::pb::FirmwareActivated {
            active_version: "2.1.0".into(),
            scheduled_at_ms: 0,
        })
    );
    let run = rig.run(Body::ReadFirmwareVersion(ReadFirmwareVersion {}));
    assert_eq!(
        outcome(&run.response),
        &Outcome::FirmwareVersion(meterlab_plugin::pb::FirmwareVersion {
            version: "2.1.0".into()
        })
    );
    // The device pushed its firmware-activated alert on the open association.
    assert!(!rig.alerts.is_empty(), "no alert");
    // Upgraded, the once-dormant meter now accepts supply control.
    assert_eq!(
        supply(&mut rig, Body::DisableSupply(DisableSupply {})),
        SupplyState::Disabled
    );
}

#[test]
fn a_bad_image_is_refused_and_activation_needs_a_verified_image() {
    let mut rig = Rig::new("active", "north-active.esme", LLS_CLIENT_SAP);
    let (image, _) = image("ACME E470", "2.1.0");
    let run = rig.run(Body::UpdateFirmware(UpdateFirmware {
        image_identifier: "x".into(),
        image: image.clone(),
        image_sha256: vec![0; 32],
    }));
    assert!(
        matches!(error(&run.response), Kind::AdapterFault(_)),
        "{:?}",
        run.response
    );

    let (other_model, digest) = image_for_other_model();
    let run = rig.run(Body::UpdateFirmware(UpdateFirmware {
        image_identifier: "G4".into(),
        image: other_model,
        image_sha256: digest,
    }));
    assert!(
        matches!(error(&run.response), Kind::DeviceRejected(_)),
        "{:?}",
        run.response
    );

    let run = rig.run(Body::ActivateFirmware(ActivateFirmware {
        image_identifier: "never-sent".into(),
        activate_at_ms: 0,
    }));
    assert!(
        matches!(error(&run.response), Kind::DeviceRejected(_)),
        "{:?}",
        run.response
    );
}

fn image_for_other_model() -> (Vec<u8>, Vec<u8>) {
    image("ACME G4", "9.9.9")
}

fn keys_of(rig: &mut Rig) -> (Vec<u8>, Vec<u8>, [u8; 16]) {
    let keys = *rig.device().security().keys();
    (
        keys.encryption.0.to_vec(),
        keys.authentication.0.to_vec(),
        keys.master.0,
    )
}

#[test]
fn key_transfer_is_proved_by_new_keys_accepted_and_old_keys_refused() {
    for (scenario, device) in [
        ("active", "north-active.esme"),
        ("active", "south-active.esme"),
    ] {
        let mut rig = Rig::new(scenario, device, HLS_CLIENT_SAP);
        // Associated with the current keys first.
        let run = rig.run(Body::ReadFirmwareVersion(ReadFirmwareVersion {}));
        outcome(&run.response);
        let (_, _, master) = keys_of(&mut rig);
        let new_encryption = [0x42u8; 16];
        let new_authentication = [0x24u8; 16];
        let keys = vec![
            KeyUpdate {
                kind: KeyKind::GlobalUnicastEncryption.into(),
                wrapped_key: wrap_key(&master, &new_encryption).expect("wrap").to_vec(),
            },
            KeyUpdate {
                kind: KeyKind::Authentication.into(),
                wrapped_key: wrap_key(&master, &new_authentication)
                    .expect("wrap")
                    .to_vec(),
            },
        ];
        let run = rig.run(Body::UpdateSecurityCredentials(UpdateSecurityCredentials {
            keys,
        }));
        let Outcome::SecurityCredentialsUpdated(updated) = outcome(&run.response) else {
            panic!("{device}: {:?}", run.response)
        };
        assert_eq!(
            updated.updated,
            vec![
                KeyKind::GlobalUnicastEncryption as i32,
                KeyKind::Authentication as i32
            ]
        );
        assert!(
            run.logs
                .iter()
                .any(|l| l.contains("new keys: association accepted")),
            "{:?}",
            run.logs
        );
        assert!(
            run.logs
                .iter()
                .any(|l| l.contains("old keys: association refused")),
            "{:?}",
            run.logs
        );
        let (encryption, authentication, _) = keys_of(&mut rig);
        assert_eq!(
            (encryption, authentication),
            (new_encryption.to_vec(), new_authentication.to_vec())
        );
        // The session goes on with the new keys.
        let run = rig.run(Body::ReadInstantaneousImportRegisters(
            ReadInstantaneousImportRegisters {},
        ));
        outcome(&run.response);
    }
}

#[test]
fn a_key_wrapped_under_another_master_is_refused_before_sending() {
    let mut rig = Rig::new("active", "north-active.esme", HLS_CLIENT_SAP);
    let keys = vec![KeyUpdate {
        kind: KeyKind::Authentication.into(),
        wrapped_key: wrap_key(&[9; 16], &[1; 16]).expect("wrap").to_vec(),
    }];
    let run = rig.run(Body::UpdateSecurityCredentials(UpdateSecurityCredentials {
        keys,
    }));
    let Kind::AdapterFault(fault) = error(&run.response) else {
        panic!("{:?}", run.response)
    };
    assert!(fault.detail.contains("master_key"), "{fault:?}");
}
