//! 11.3 Activate Firmware at a later time: the adapter writes the meter's image activation
//! schedule (class 22) in the meter's local time, read from its clock; the emulated meter
//! activates when its clock reaches it. In process, against the emulator's devices in memory.
#![allow(clippy::unwrap_used)]

mod support;

use meterlab_emulator::firmware::FirmwareImage;
use meterlab_emulator::hub::LLS_CLIENT_SAP;
use meterlab_emulator::scenario::Scenario;
use meterlab_plugin::Adapter as _;
use meterlab_plugin::pb::{
    ActivateFirmware, FirmwareActivated, FirmwareVersion, ReadFirmwareVersion, UpdateFirmware,
    service_error::Kind, service_request::Body, service_response::Outcome,
};
use support::{Rig, START_MS, error, outcome, repo_path, session_config};

const ESME: &str = "north-dormant.esme";

/// The shipped dormant scenario with the north ESME's clock on BST (deviation −60).
fn bst_scenario() -> Scenario {
    let text = std::fs::read_to_string(repo_path("suites/scenarios/dormant.toml")).unwrap();
    let from = "esme = { mpxn = \"1200012345679\", consumption = 250, history_days = 3 }";
    assert!(text.contains(from), "the fixture line moved");
    let text = text.replacen(
        from,
        "esme = { mpxn = \"1200012345679\", consumption = 250, history_days = 3, clock_deviation_min = -60 }",
        1,
    );
    Scenario::parse("dormant-bst.toml", &text).unwrap()
}

fn rig_with(scenario: Scenario, strip_schedule: bool) -> Rig {
    Rig::with_scenario(scenario, ESME, |record| {
        let mut config = session_config(record, LLS_CLIENT_SAP);
        if strip_schedule {
            let dmc = config.parameters.get_mut("dmc").unwrap();
            let block = "\n[[esme.object]]\nrole = \"image_activation_schedule\"          # class 22: when image_activate runs (local time)\nclass = 22\nversion = 0\nobis = \"0.0.15.0.2.255\"\n";
            assert!(dmc.contains(block), "the shipped DMC lists the schedule");
            *dmc = dmc.replacen(block, "", 1);
        }
        let mut adapter = meterlab_dlms_adapter::DlmsAdapter::open(config).unwrap();
        Box::new(move |event| adapter.handle(event))
    })
}

fn transfer(rig: &mut Rig, version: &str) {
    use sha2::Digest;
    let image = FirmwareImage::build("ACME E470", version, &[0x5A; 600]).unwrap();
    let digest = sha2::Sha256::digest(&image).to_vec();
    let run = rig.run(Body::UpdateFirmware(UpdateFirmware {
        image_identifier: format!("E470-{version}"),
        image,
        image_sha256: digest,
    }));
    let Outcome::FirmwareImageTransferred(transferred) = outcome(&run.response) else {
        panic!("{:?}", run.response)
    };
    assert!(transferred.verified);
}

fn version(rig: &mut Rig) -> String {
    let run = rig.run(Body::ReadFirmwareVersion(ReadFirmwareVersion {}));
    let Outcome::FirmwareVersion(FirmwareVersion { version }) = outcome(&run.response) else {
        panic!("{:?}", run.response)
    };
    version.clone()
}

fn activate(rig: &mut Rig, version: &str, at_ms: i64) -> meterlab_plugin::pb::ServiceResponse {
    rig.run(Body::ActivateFirmware(ActivateFirmware {
        image_identifier: format!("E470-{version}"),
        activate_at_ms: at_ms,
    }))
    .response
}

fn utc_now_ms(rig: &Rig) -> i64 {
    START_MS + i64::try_from(rig.now_ms).unwrap()
}

#[test]
fn a_later_activation_is_scheduled_in_the_meters_local_time_and_runs_when_due() {
    let mut rig = rig_with(bst_scenario(), false);
    assert_eq!(version(&mut rig), "1.2.0");
    transfer(&mut rig, "2.2.0");
    // 30.5 s from now: written as whole seconds, rounded up.
    let at = utc_now_ms(&rig) + 30_500;
    let expected_at = (at / 1000 + 1) * 1000;
    assert_eq!(
        outcome(&activate(&mut rig, "2.2.0", at)),
        &Outcome::FirmwareActivated(FirmwareActivated {
            active_version: "1.2.0".into(),
            scheduled_at_ms: expected_at,
        })
    );
    // What the meter holds is local time: one hour ahead of UTC on BST.
    let entries = rig.device().activation_schedule().entries().to_vec();
    assert_eq!(entries.len(), 1);
    let utc_hour = ((expected_at / 1000).rem_euclid(86_400) / 3600) as u8;
    assert_eq!(entries[0].time.hour, (utc_hour + 1) % 24);
    assert_eq!(entries[0].utc(-60).map(|t| t.millis()), Some(expected_at));

    rig.advance(25_000);
    assert_eq!(
        version(&mut rig),
        "1.2.0",
        "before the time: the old version"
    );
    rig.advance(10_000);
    assert_eq!(
        version(&mut rig),
        "2.2.0",
        "after the time: the new version"
    );
}

#[test]
fn a_time_the_meters_clock_has_reached_activates_now() {
    let mut rig = rig_with(bst_scenario(), false);
    transfer(&mut rig, "2.3.0");
    let past = utc_now_ms(&rig) - 5_000;
    assert_eq!(
        outcome(&activate(&mut rig, "2.3.0", past)),
        &Outcome::FirmwareActivated(FirmwareActivated {
            active_version: "2.3.0".into(),
            scheduled_at_ms: 0,
        })
    );
    assert!(rig.device().activation_schedule().entries().is_empty());
}

#[test]
fn a_later_activation_needs_a_verified_image() {
    let mut rig = rig_with(bst_scenario(), false);
    let at = utc_now_ms(&rig) + 30_000;
    assert!(
        matches!(
            error(&activate(&mut rig, "never-sent", at)),
            Kind::DeviceRejected(_)
        ),
        "nothing is scheduled without an image"
    );
    assert!(rig.device().activation_schedule().entries().is_empty());
}

#[test]
fn without_a_schedule_object_a_later_activation_is_not_supported_and_says_why() {
    let mut rig = rig_with(bst_scenario(), true);
    transfer(&mut rig, "2.4.0");
    let at = utc_now_ms(&rig) + 30_000;
    let response = activate(&mut rig, "2.4.0", at);
    let Kind::NotSupportedOnDmc(refusal) = error(&response) else {
        panic!("{response:?}")
    };
    assert_eq!(refusal.dmc_id, "acme-ch1-e470-g4");
    assert!(
        refusal
            .reason
            .contains("no image_activation_schedule object"),
        "{}",
        refusal.reason
    );
    assert_eq!(version(&mut rig), "1.2.0", "nothing was activated");
    // Immediate activation still works on that DMC.
    assert_eq!(
        outcome(&activate(&mut rig, "2.4.0", 0)),
        &Outcome::FirmwareActivated(FirmwareActivated {
            active_version: "2.4.0".into(),
            scheduled_at_ms: 0,
        })
    );
}
