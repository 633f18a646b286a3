//! The image activation schedule (class 22, `0.0.15.0.2.255`): a verified image is activated
//! when the meter's clock reaches the scheduled local time, lazily on the next access.
#![allow(clippy::unwrap_used)]

use meterlab_devices::{DeviceRole, InstallationState};
use meterlab_dlms::cosem::disconnect::{ControlMode, ControlState};
use meterlab_emulator::capture::RowSelection;
use meterlab_emulator::consumption::ConsumptionProfile;
use meterlab_emulator::device::execution_time_for;
use meterlab_emulator::events::{AlertKind, EventCode};
use meterlab_emulator::firmware::FirmwareImage;
use meterlab_emulator::hub::{device_keys, server_system_title};
use meterlab_emulator::objects::{ObjectRole, Target};
use meterlab_emulator::scenario::Smso;
use meterlab_emulator::security::{AccessLevel, ClientCredential};
use meterlab_emulator::time::SECOND_MS;
use meterlab_emulator::{AccessError, Data, DeviceConfig, LogicalDevice, MeteringConfig, SimTime};

const MANAGE: AccessLevel = AccessLevel::Management;
/// 2026-06-01T12:00:00Z: summer, when a GB meter's local time is BST.
const NOON: SimTime = SimTime::from_unix_secs(1_780_315_200);

fn meter(deviation: i16, clock_offset_ms: i64) -> LogicalDevice {
    let smso = Smso {
        id: "smso-test".into(),
        lls_password: "pw".into(),
        key_seed: "test seed 123".into(),
        ciphered: false,
    };
    let title = server_system_title(DeviceRole::Esme, 1);
    let config = DeviceConfig {
        role: DeviceRole::Esme,
        logical_device_name: "MLBE000000000001".into(),
        model: "ACME E470".into(),
        firmware: "1.2.0".into(),
        mpxn: Some("1200012345678".into()),
        state: InstallationState::Dormant,
        keys: device_keys(&smso, &title),
        system_title: title,
        clients: vec![ClientCredential {
            sap: 1,
            authentication: meterlab_devices::Authentication::Lls,
            password: Some(b"pw".to_vec()),
            ciphered: false,
            level: MANAGE,
        }],
        metering: Some(MeteringConfig {
            consumption: ConsumptionProfile::constant(1_000),
            initial_register: 100,
            control_mode: ControlMode::MODE_1,
            initial_state: ControlState::Connected,
            load_profile_capacity: 96,
            daily_log_capacity: 10,
        }),
        event_log_capacity: 100,
        image_block_size: 64,
        clock_offset_ms,
        clock_drift_ppm: 0,
        clock_deviation_min: deviation,
        history_ms: 0,
        variations: Vec::new(),
        objects: None,
    };
    LogicalDevice::new(config, NOON)
}

fn target(device: &LogicalDevice, role: ObjectRole, index: i8) -> Target {
    let entry = device.directory().by_role(role).unwrap();
    Target::new(entry.class_id, entry.obis, index)
}

fn action(device: &mut LogicalDevice, now: SimTime, role: ObjectRole, method: i8, p: Data) {
    let target = target(device, role, method);
    device.action(now, MANAGE, &target, &p).unwrap();
}

fn firmware(device: &mut LogicalDevice, now: SimTime) -> String {
    let target = target(device, ObjectRole::FirmwareVersion, 2);
    match device.get(now, MANAGE, &target, None).unwrap() {
        Data::OctetString(bytes) => String::from_utf8(bytes).unwrap(),
        other => panic!("firmware {other:?}"),
    }
}

/// Transfers and verifies (but does not activate) an image of `version`.
fn transfer_and_verify(device: &mut LogicalDevice, now: SimTime, version: &str) {
    let image = FirmwareImage::build("ACME E470", version, &[0x5A; 300]).unwrap();
    action(
        device,
        now,
        ObjectRole::ImageTransfer,
        1,
        Data::Structure(vec![
            Data::OctetString(b"fw".to_vec()),
            Data::DoubleLongUnsigned(image.len() as u32),
        ]),
    );
    for (number, block) in image.chunks(64).enumerate() {
        action(
            device,
            now,
            ObjectRole::ImageTransfer,
            2,
            Data::Structure(vec![
                Data::DoubleLongUnsigned(number as u32),
                Data::OctetString(block.to_vec()),
            ]),
        );
    }
    action(device, now, ObjectRole::ImageTransfer, 3, Data::Integer(0));
}

/// The execution_time value a client writes: one {time, date} in the meter's local time.
fn execution_time(local: meterlab_emulator::device::ExecutionTime) -> Data {
    let mut time = Vec::new();
    local.time.encode(&mut time);
    let mut date = Vec::new();
    local.date.encode(&mut date);
    Data::Array(vec![Data::Structure(vec![
        Data::OctetString(time),
        Data::OctetString(date),
    ])])
}

fn schedule(device: &mut LogicalDevice, now: SimTime, value: &Data) -> Result<(), AccessError> {
    let target = target(device, ObjectRole::ImageActivationSchedule, 4);
    device.set(now, MANAGE, &target, value)
}

#[test]
fn a_scheduled_activation_runs_when_the_local_time_is_reached_in_bst() {
    let mut esme = meter(-60, 0);
    transfer_and_verify(&mut esme, NOON, "2.0.1");
    // Activate at 12:00:30Z, written as 13:00:30 local (BST, deviation −60).
    let due = NOON.plus_millis(30 * SECOND_MS);
    let local = execution_time_for(due, -60);
    assert_eq!((local.time.hour, local.time.minute), (13, 0));
    schedule(&mut esme, NOON, &execution_time(local)).unwrap();
    let read_back = esme
        .get(
            NOON,
            MANAGE,
            &target(&esme, ObjectRole::ImageActivationSchedule, 4),
            None,
        )
        .unwrap();
    assert_eq!(read_back, execution_time(local));

    assert_eq!(firmware(&mut esme, due.plus_millis(-1)), "1.2.0");
    assert!(esme.is_restricted(), "still dormant before the activation");
    assert_eq!(firmware(&mut esme, due.plus_millis(5 * SECOND_MS)), "2.0.1");
    assert!(!esme.is_restricted(), "an activated upgrade lifts dormancy");
    // Logged at the scheduled instant, not at the later access, and alerted once.
    let activated: Vec<_> = esme
        .events()
        .select(RowSelection::All)
        .unwrap()
        .into_iter()
        .filter(|event| event.code == EventCode::FirmwareActivated)
        .collect();
    assert_eq!(activated.len(), 1);
    assert_eq!(activated[0].at, due);
    let alerts = esme.take_alerts();
    assert_eq!(
        alerts
            .iter()
            .filter(|alert| alert.kind == AlertKind::FirmwareActivated)
            .count(),
        1
    );
    assert!(esme.activation_schedule().entries().is_empty(), "one-off");
}

#[test]
fn the_schedule_reads_the_local_time_with_the_clock_deviation_not_as_utc() {
    // The same 13:00:30 local on a GMT meter (deviation 0) is an hour later.
    let mut esme = meter(0, 0);
    transfer_and_verify(&mut esme, NOON, "2.0.1");
    let local = execution_time_for(NOON.plus_millis(30 * SECOND_MS), -60);
    schedule(&mut esme, NOON, &execution_time(local)).unwrap();
    assert_eq!(
        firmware(&mut esme, NOON.plus_millis(60 * SECOND_MS)),
        "1.2.0"
    );
    assert_eq!(
        firmware(&mut esme, NOON.plus_millis(3_630 * SECOND_MS)),
        "2.0.1"
    );
}

#[test]
fn the_meters_own_clock_decides_when_a_fast_clock_runs_early() {
    // The meter's clock is 20 s fast: at true 12:00:10 it reads 12:00:30 and activates.
    let mut esme = meter(-60, 20 * SECOND_MS);
    transfer_and_verify(&mut esme, NOON, "2.0.1");
    let local = execution_time_for(NOON.plus_millis(30 * SECOND_MS), -60);
    schedule(&mut esme, NOON, &execution_time(local)).unwrap();
    assert_eq!(
        firmware(&mut esme, NOON.plus_millis(9 * SECOND_MS)),
        "1.2.0"
    );
    assert_eq!(
        firmware(&mut esme, NOON.plus_millis(10 * SECOND_MS)),
        "2.0.1"
    );
}

#[test]
fn a_schedule_without_a_verified_image_activates_nothing_and_logs_it() {
    let mut esme = meter(-60, 0);
    let local = execution_time_for(NOON.plus_millis(5 * SECOND_MS), -60);
    schedule(&mut esme, NOON, &execution_time(local)).unwrap();
    assert_eq!(
        firmware(&mut esme, NOON.plus_millis(60 * SECOND_MS)),
        "1.2.0"
    );
    assert!(esme.is_restricted());
    assert!(
        esme.events()
            .select(RowSelection::All)
            .unwrap()
            .iter()
            .any(|event| event.code == EventCode::ScheduledActivationWithoutImage)
    );
    assert!(
        !esme
            .events()
            .select(RowSelection::All)
            .unwrap()
            .iter()
            .any(|event| event.code == EventCode::FirmwareActivated)
    );
    // A verified image later is not activated by the spent schedule.
    transfer_and_verify(&mut esme, NOON.plus_millis(61 * SECOND_MS), "2.0.1");
    assert_eq!(
        firmware(&mut esme, NOON.plus_millis(120 * SECOND_MS)),
        "1.2.0"
    );
}

#[test]
fn an_empty_execution_time_cancels_and_a_malformed_one_is_refused() {
    let mut esme = meter(-60, 0);
    transfer_and_verify(&mut esme, NOON, "2.0.1");
    let local = execution_time_for(NOON.plus_millis(5 * SECOND_MS), -60);
    schedule(&mut esme, NOON, &execution_time(local)).unwrap();
    schedule(&mut esme, NOON, &Data::Array(Vec::new())).unwrap();
    assert_eq!(
        firmware(&mut esme, NOON.plus_millis(60 * SECOND_MS)),
        "1.2.0"
    );
    assert_eq!(
        schedule(&mut esme, NOON, &Data::OctetString(vec![1, 2])),
        Err(AccessError::TypeUnmatched)
    );
    // The public client may not schedule.
    let target = target(&esme, ObjectRole::ImageActivationSchedule, 4);
    assert!(
        esme.set(NOON, AccessLevel::Public, &target, &Data::Array(Vec::new()))
            .is_err()
    );
}

#[test]
fn the_clock_reports_local_time_with_its_deviation() {
    let mut esme = meter(-60, 0);
    let clock = target(&esme, ObjectRole::Clock, 2);
    let Data::OctetString(octets) = esme.get(NOON, MANAGE, &clock, None).unwrap() else {
        panic!("clock time is an octet-string");
    };
    let time = meterlab_dlms::axdr::DateTime::from_octets(&octets).unwrap();
    assert_eq!(time.deviation, Some(-60));
    assert_eq!(time.time.hour, 13, "local time is BST");
    assert_eq!(time.to_unix(), Some(NOON.millis() / 1000));
    let zone = target(&esme, ObjectRole::Clock, 3);
    assert_eq!(
        esme.get(NOON, MANAGE, &zone, None).unwrap(),
        Data::Long(-60)
    );
}
