//! The device's refusals, SRV by SRV: a dormant SMETS1 meter refuses supply control and clock
//! changes; the public client may not read consumption, logs or the MPxN; a range that ends
//! before it starts is refused before anything is sent.
#![allow(clippy::unwrap_used)]

mod support;

use meterlab_emulator::hub::{LLS_CLIENT_SAP, PUBLIC_CLIENT_SAP};
use meterlab_plugin::pb::{
    ArmSupply, CommissionDevice, EnableSupply, LogKind, ReadActiveImportProfileData,
    ReadDeviceConfigurationMpxn, ReadEventOrSecurityLog, RetrieveImportDailyReadLog,
    SynchroniseClock, service_error::Kind, service_request::Body, service_response::Outcome,
};
use support::{Rig, START_MS};

fn kind(rig: &mut Rig, body: Body) -> Kind {
    match rig.run(body).response.outcome {
        Some(Outcome::Error(error)) => error.kind.unwrap(),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn a_dormant_meter_refuses_supply_control_and_clock_changes() {
    let mut rig = Rig::new("dormant", "north-dormant.esme", LLS_CLIENT_SAP);
    for body in [
        Body::EnableSupply(EnableSupply {}),
        Body::ArmSupply(ArmSupply {}),
        Body::SynchroniseClock(SynchroniseClock {
            utc_ms: START_MS + 3_600_000,
            tolerance_ms: 1_000,
        }),
        Body::CommissionDevice(CommissionDevice {
            utc_ms: START_MS + 3_600_000,
        }),
    ] {
        let what = format!("{body:?}");
        let Kind::DeviceRejected(rejected) = kind(&mut rig, body) else {
            panic!("{what}: not a device rejection")
        };
        assert_ne!(rejected.device_code, 0, "{what}: {rejected:?}");
    }
}

#[test]
fn the_public_client_may_not_read_consumption_logs_or_the_mpxn() {
    let mut rig = Rig::new("active", "north-active.esme", PUBLIC_CLIENT_SAP);
    for body in [
        Body::RetrieveImportDailyReadLog(RetrieveImportDailyReadLog {
            from_ms: 0,
            to_ms: 0,
        }),
        Body::ReadActiveImportProfileData(ReadActiveImportProfileData {
            from_ms: 0,
            to_ms: 0,
        }),
        Body::ReadEventOrSecurityLog(ReadEventOrSecurityLog {
            log: LogKind::Security.into(),
            from_ms: 0,
            to_ms: 0,
        }),
        Body::ReadDeviceConfigurationMpxn(ReadDeviceConfigurationMpxn {}),
    ] {
        let what = format!("{body:?}");
        let Kind::DeviceRejected(rejected) = kind(&mut rig, body) else {
            panic!("{what}: not a device rejection")
        };
        assert_eq!(
            rejected.device_code, 3,
            "{what}: read-write-denied: {rejected:?}"
        );
    }
}

#[test]
fn a_range_ending_before_it_starts_is_refused_without_traffic() {
    let mut rig = Rig::new("active", "north-active.esme", LLS_CLIENT_SAP);
    let Kind::AdapterFault(fault) = kind(
        &mut rig,
        Body::ReadActiveImportProfileData(ReadActiveImportProfileData {
            from_ms: START_MS,
            to_ms: START_MS - 1,
        }),
    ) else {
        panic!("not refused")
    };
    assert!(fault.detail.contains("ends"), "{fault:?}");
    assert_eq!(rig.timers_armed(), 0, "nothing was sent");
}
