//! A meter's behaviour through its COSEM interface: what a DLMS client would observe.
#![allow(clippy::unwrap_used)]

use meterlab_devices::{DeviceRole, InstallationState, Key128};
use meterlab_dlms::cosem::disconnect::{ControlMode, ControlState, Trigger};
use meterlab_emulator::capture::status;
use meterlab_emulator::consumption::ConsumptionProfile;
use meterlab_emulator::device::range_parameters;
use meterlab_emulator::events::{AlertKind, EventCode};
use meterlab_emulator::firmware::FirmwareImage;
use meterlab_emulator::hub::{device_keys, server_system_title};
use meterlab_emulator::objects::{ObjectRole, ProfileKind, Target, Variation, VariationKind};
use meterlab_emulator::scenario::Smso;
use meterlab_emulator::security::{AccessLevel, ClientCredential};
use meterlab_emulator::time::{DAY_MS, HALF_HOUR_MS, MINUTE_MS};
use meterlab_emulator::{
    AccessError, Data, DeviceConfig, LogicalDevice, MeteringConfig, Obis, SimTime,
};

const MANAGE: AccessLevel = AccessLevel::Management;

fn wrap_key(kek: &Key128, key: &Key128) -> [u8; 24] {
    meterlab_dlms::security::wrap_key(&kek.0, &key.0).expect("a 16-byte key wraps")
}
/// 2026-11-01T00:00:00Z, a midnight.
const MIDNIGHT: SimTime = SimTime::from_unix_secs(1_761_955_200);

fn smso() -> Smso {
    Smso {
        id: "smso-test".into(),
        lls_password: "pw".into(),
        key_seed: "test seed 123".into(),
        ciphered: false,
    }
}

fn config(role: DeviceRole, state: InstallationState) -> DeviceConfig {
    let title = server_system_title(role, 1);
    DeviceConfig {
        role,
        logical_device_name: "MLBE000000000001".into(),
        model: "ACME E470".into(),
        firmware: "1.2.0".into(),
        mpxn: Some("1200012345678".into()),
        state,
        keys: device_keys(&smso(), &title),
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
        clock_offset_ms: 0,
        clock_drift_ppm: 0,
        clock_deviation_min: 0,
        history_ms: 0,
        variations: Vec::new(),
        objects: None,
    }
}

fn esme(state: InstallationState) -> LogicalDevice {
    LogicalDevice::new(config(DeviceRole::Esme, state), MIDNIGHT)
}

fn target(device: &LogicalDevice, role: ObjectRole, index: i8) -> Target {
    let entry = device.directory().by_role(role).unwrap();
    Target::new(entry.class_id, entry.obis, index)
}

fn get(
    device: &mut LogicalDevice,
    now: SimTime,
    role: ObjectRole,
    index: i8,
) -> Result<Data, AccessError> {
    let target = target(device, role, index);
    device.get(now, MANAGE, &target, None)
}

fn action(
    device: &mut LogicalDevice,
    now: SimTime,
    role: ObjectRole,
    method: i8,
    parameters: Data,
) -> Result<Option<Data>, AccessError> {
    let target = target(device, role, method);
    device.action(now, MANAGE, &target, &parameters)
}

fn set(
    device: &mut LogicalDevice,
    now: SimTime,
    role: ObjectRole,
    index: i8,
    value: Data,
) -> Result<(), AccessError> {
    let target = target(device, role, index);
    device.set(now, MANAGE, &target, &value)
}

fn after(minutes: i64) -> SimTime {
    MIDNIGHT.plus_millis(minutes * MINUTE_MS)
}

fn register(device: &mut LogicalDevice, now: SimTime) -> u32 {
    match get(device, now, ObjectRole::ImportRegister, 2).unwrap() {
        Data::DoubleLongUnsigned(value) => value,
        other => panic!("unexpected {other:?}"),
    }
}

fn rows(value: Data) -> Vec<Vec<Data>> {
    match value {
        Data::Array(rows) => rows
            .into_iter()
            .map(|row| match row {
                Data::Structure(columns) => columns,
                other => panic!("row {other:?}"),
            })
            .collect(),
        other => panic!("buffer {other:?}"),
    }
}

#[test]
fn identification_and_register_with_scaler_unit() {
    let mut meter = esme(InstallationState::Active);
    assert_eq!(
        get(&mut meter, MIDNIGHT, ObjectRole::LogicalDeviceName, 2).unwrap(),
        Data::OctetString(b"MLBE000000000001".to_vec())
    );
    assert_eq!(
        get(&mut meter, MIDNIGHT, ObjectRole::Mpxn, 2).unwrap(),
        Data::VisibleString(b"1200012345678".to_vec())
    );
    assert_eq!(
        get(&mut meter, MIDNIGHT, ObjectRole::ImportRegister, 3).unwrap(),
        Data::Structure(vec![Data::Integer(0), Data::Enum(30)])
    );
    assert_eq!(
        get(&mut meter, MIDNIGHT, ObjectRole::ImportRegister, 1).unwrap(),
        Data::OctetString(vec![1, 0, 1, 8, 0, 255])
    );
    // 1 kW for 90 minutes is 1.5 kWh on top of the initial 100 Wh.
    assert_eq!(register(&mut meter, after(90)), 1_600);
}

#[test]
fn load_profile_captures_each_half_hour_and_selects_by_range() {
    let mut meter = esme(InstallationState::Active);
    let now = after(5 * 60 + 10);
    let capture_objects = meter.capture_objects(ProfileKind::LoadProfile);
    let all = rows(get(&mut meter, now, ObjectRole::LoadProfile, 2).unwrap());
    assert_eq!(all.len(), 10, "00:30 .. 05:00");
    assert_eq!(all[0][0], after(30).to_data());
    assert_eq!(all[0][2], Data::DoubleLongUnsigned(600));
    assert_eq!(all[9][2], Data::DoubleLongUnsigned(5_100));
    assert_eq!(
        get(&mut meter, now, ObjectRole::LoadProfile, 7).unwrap(),
        Data::DoubleLongUnsigned(10)
    );
    assert_eq!(
        get(&mut meter, now, ObjectRole::LoadProfile, 4).unwrap(),
        Data::DoubleLongUnsigned(1800)
    );

    let parameters = range_parameters(capture_objects[0], after(60), after(120));
    let target = target(&meter, ObjectRole::LoadProfile, 2);
    let selected = rows(
        meter
            .get(now, MANAGE, &target, Some((1, &parameters)))
            .unwrap(),
    );
    let times: Vec<_> = selected.iter().map(|row| row[0].clone()).collect();
    assert_eq!(
        times,
        [
            after(60).to_data(),
            after(90).to_data(),
            after(120).to_data()
        ]
    );

    let by_entry = Data::Structure(vec![
        Data::DoubleLongUnsigned(9),
        Data::DoubleLongUnsigned(0),
        Data::LongUnsigned(3),
        Data::LongUnsigned(3),
    ]);
    let last_two = rows(
        meter
            .get(now, MANAGE, &target, Some((2, &by_entry)))
            .unwrap(),
    );
    assert_eq!(
        last_two,
        vec![
            vec![Data::DoubleLongUnsigned(4_600)],
            vec![Data::DoubleLongUnsigned(5_100)]
        ]
    );

    // Selective access on something that is not a profile is out of scope.
    let register = self::target(&meter, ObjectRole::ImportRegister, 2);
    assert_eq!(
        meter.get(now, MANAGE, &register, Some((2, &by_entry))),
        Err(AccessError::ScopeOfAccessViolated)
    );
    let wrong_restriction = range_parameters(capture_objects[2], after(60), after(120));
    assert_eq!(
        meter.get(now, MANAGE, &target, Some((1, &wrong_restriction))),
        Err(AccessError::ScopeOfAccessViolated)
    );
}

#[test]
fn daily_log_captures_at_midnight_and_history_prefills_buffers() {
    let mut cfg = config(DeviceRole::Esme, InstallationState::Active);
    cfg.history_ms = 3 * DAY_MS;
    let mut meter = LogicalDevice::new(cfg, after(60));
    let daily = rows(get(&mut meter, after(60), ObjectRole::DailyLog, 2).unwrap());
    // Commissioned at 01:00 three days ago: midnights of the last three days.
    assert_eq!(daily.len(), 3);
    assert_eq!(daily[2][0], MIDNIGHT.to_data());
    assert_eq!(daily[2][1], Data::DoubleLongUnsigned(100 + 71_000));
    let profile = meter.load_profile().unwrap();
    assert_eq!(profile.len(), 96, "a full buffer keeps its capacity");
}

#[test]
fn long_gaps_skip_ahead_without_losing_energy() {
    let mut meter = esme(InstallationState::Active);
    let year_later = MIDNIGHT.plus_millis(365 * DAY_MS);
    assert_eq!(register(&mut meter, year_later), 100 + 365 * 24_000);
    let profile = meter.load_profile().unwrap();
    assert_eq!(profile.len(), 96);
    assert_eq!(profile.last().unwrap().at, year_later);
    assert_eq!(meter.daily_log().unwrap().len(), 10);
}

#[test]
fn disconnecting_stops_consumption_and_marks_the_profile() {
    let mut meter = esme(InstallationState::Active);
    action(
        &mut meter,
        after(10),
        ObjectRole::DisconnectControl,
        1,
        Data::Integer(0),
    )
    .unwrap();
    assert_eq!(
        get(&mut meter, after(11), ObjectRole::DisconnectControl, 2).unwrap(),
        Data::Boolean(false)
    );
    assert_eq!(
        get(&mut meter, after(11), ObjectRole::DisconnectControl, 3).unwrap(),
        Data::Enum(0)
    );
    let at_disconnect = register(&mut meter, after(10));
    assert_eq!(register(&mut meter, after(100)), at_disconnect);
    action(
        &mut meter,
        after(100),
        ObjectRole::DisconnectControl,
        2,
        Data::Integer(0),
    )
    .unwrap();
    assert_eq!(register(&mut meter, after(160)), at_disconnect + 1_000);
    let profile = rows(get(&mut meter, after(160), ObjectRole::LoadProfile, 2).unwrap());
    assert_eq!(
        profile[0][1],
        Data::Unsigned(status::POWER_DOWN),
        "00:30 period had the supply off"
    );
    assert_eq!(profile.last().unwrap()[1], Data::Unsigned(0));
    let codes: Vec<_> = meter
        .events()
        .select(meterlab_emulator::capture::RowSelection::All)
        .unwrap()
        .iter()
        .map(|e| e.code)
        .collect();
    assert_eq!(
        codes,
        [EventCode::RemoteDisconnection, EventCode::RemoteConnection]
    );
}

#[test]
fn arming_needs_the_consumer_to_enable_the_supply() {
    let mut meter = esme(InstallationState::Active);
    set(
        &mut meter,
        after(1),
        ObjectRole::DisconnectControl,
        4,
        Data::Enum(2),
    )
    .unwrap();
    action(
        &mut meter,
        after(2),
        ObjectRole::DisconnectControl,
        1,
        Data::Integer(0),
    )
    .unwrap();
    action(
        &mut meter,
        after(3),
        ObjectRole::DisconnectControl,
        2,
        Data::Integer(0),
    )
    .unwrap();
    assert_eq!(
        get(&mut meter, after(4), ObjectRole::DisconnectControl, 3).unwrap(),
        Data::Enum(2)
    );
    assert_eq!(
        get(&mut meter, after(4), ObjectRole::DisconnectControl, 2).unwrap(),
        Data::Boolean(false)
    );
    assert_eq!(
        meter.switch_supply(after(5), Trigger::ManualReconnect),
        Ok(ControlState::Connected)
    );
    assert_eq!(
        get(&mut meter, after(6), ObjectRole::DisconnectControl, 2).unwrap(),
        Data::Boolean(true)
    );
    assert_eq!(
        set(
            &mut meter,
            after(7),
            ObjectRole::DisconnectControl,
            4,
            Data::Enum(7)
        ),
        Err(AccessError::TypeUnmatched)
    );
}

#[test]
fn clock_can_be_set_and_shifted_and_logs_both_times() {
    let mut meter = esme(InstallationState::Active);
    let wanted = after(24 * 60 + 7);
    set(
        &mut meter,
        after(10),
        ObjectRole::Clock,
        2,
        wanted.to_data(),
    )
    .unwrap();
    assert_eq!(
        get(&mut meter, after(11), ObjectRole::Clock, 2).unwrap(),
        wanted.plus_millis(MINUTE_MS).to_data()
    );
    action(&mut meter, after(11), ObjectRole::Clock, 6, Data::Long(-60)).unwrap();
    assert_eq!(
        get(&mut meter, after(11), ObjectRole::Clock, 2).unwrap(),
        wanted.to_data()
    );
    assert_eq!(
        action(&mut meter, after(11), ObjectRole::Clock, 6, Data::Long(901)),
        Err(AccessError::TypeUnmatched)
    );
    assert_eq!(
        set(
            &mut meter,
            after(12),
            ObjectRole::Clock,
            2,
            Data::OctetString(vec![0xFF; 12])
        ),
        Err(AccessError::TypeUnmatched)
    );
    let codes: Vec<_> = meter
        .events()
        .select(meterlab_emulator::capture::RowSelection::All)
        .unwrap()
        .iter()
        .map(|e| e.code)
        .collect();
    assert_eq!(
        codes[..2],
        [EventCode::ClockAdjustedOld, EventCode::ClockAdjustedNew]
    );
    // Captures follow the device's new time (01:26 the next day at true 01:30), and the first
    // period after the adjustment is flagged.
    let next = rows(get(&mut meter, after(90), ObjectRole::LoadProfile, 2).unwrap());
    let times: Vec<_> = next.iter().map(|row| row[0].clone()).collect();
    assert_eq!(
        times,
        [after(24 * 60 + 30).to_data(), after(24 * 60 + 60).to_data()]
    );
    assert_eq!(next[0][1], Data::Unsigned(status::CLOCK_ADJUSTED));
    assert_eq!(next[1][1], Data::Unsigned(0));
}

#[test]
fn a_drifting_clock_gains_time() {
    let mut meter = esme(InstallationState::Active);
    meter.set_clock_drift(MIDNIGHT, 1_000);
    // 1000 ppm over 10 days is 864 s = 14 min 24 s.
    let later = MIDNIGHT.plus_millis(10 * DAY_MS);
    assert_eq!(meter.device_time(later), later.plus_millis(864_000));
}

#[test]
fn dormant_meters_answer_reads_but_refuse_supply_and_configuration_until_upgraded() {
    let mut meter = esme(InstallationState::Dormant);
    assert!(get(&mut meter, after(1), ObjectRole::ImportRegister, 2).is_ok());
    assert!(get(&mut meter, after(1), ObjectRole::LoadProfile, 2).is_ok());
    assert_eq!(
        action(
            &mut meter,
            after(2),
            ObjectRole::DisconnectControl,
            1,
            Data::Integer(0)
        ),
        Err(AccessError::ReadWriteDenied)
    );
    assert_eq!(
        set(
            &mut meter,
            after(2),
            ObjectRole::Clock,
            2,
            after(5).to_data()
        ),
        Err(AccessError::ReadWriteDenied)
    );
    assert_eq!(
        set(
            &mut meter,
            after(2),
            ObjectRole::DisconnectControl,
            4,
            Data::Enum(2)
        ),
        Err(AccessError::ReadWriteDenied)
    );
    assert_eq!(
        set(
            &mut meter,
            after(2),
            ObjectRole::Mpxn,
            2,
            Data::VisibleString(b"1200099999999".to_vec())
        ),
        Err(AccessError::ReadWriteDenied)
    );
    assert_eq!(
        meter.events().last().unwrap().code,
        EventCode::DormantCommandRefused
    );

    upgrade(&mut meter, after(3), "2.0.1");
    assert_eq!(meter.installation_state(), InstallationState::Dormant);
    assert!(!meter.is_restricted());
    action(
        &mut meter,
        after(4),
        ObjectRole::DisconnectControl,
        1,
        Data::Integer(0),
    )
    .unwrap();
    set(
        &mut meter,
        after(4),
        ObjectRole::Mpxn,
        2,
        Data::VisibleString(b"1200099999999".to_vec()),
    )
    .unwrap();
}

fn upgrade(meter: &mut LogicalDevice, now: SimTime, version: &str) {
    let image = FirmwareImage::build("ACME E470", version, &[0x5A; 700]).unwrap();
    action(
        meter,
        now,
        ObjectRole::ImageTransfer,
        1,
        Data::Structure(vec![
            Data::OctetString(b"fw".to_vec()),
            Data::DoubleLongUnsigned(image.len() as u32),
        ]),
    )
    .unwrap();
    for (number, block) in image.chunks(64).enumerate() {
        action(
            meter,
            now,
            ObjectRole::ImageTransfer,
            2,
            Data::Structure(vec![
                Data::DoubleLongUnsigned(number as u32),
                Data::OctetString(block.to_vec()),
            ]),
        )
        .unwrap();
    }
    action(meter, now, ObjectRole::ImageTransfer, 3, Data::Integer(0)).unwrap();
    // Verified but not activated: the old version is still reported.
    assert_eq!(
        get(meter, now, ObjectRole::FirmwareVersion, 2).unwrap(),
        Data::OctetString(b"1.2.0".to_vec())
    );
    assert_eq!(
        get(meter, now, ObjectRole::ImageTransfer, 6).unwrap(),
        Data::Enum(3)
    );
    action(meter, now, ObjectRole::ImageTransfer, 4, Data::Integer(0)).unwrap();
    assert_eq!(
        get(meter, now, ObjectRole::FirmwareVersion, 2).unwrap(),
        Data::OctetString(version.as_bytes().to_vec())
    );
    assert_eq!(
        get(meter, now, ObjectRole::ImageTransfer, 6).unwrap(),
        Data::Enum(6)
    );
}

#[test]
fn firmware_activation_queues_an_alert() {
    let mut meter = esme(InstallationState::Active);
    upgrade(&mut meter, after(1), "2.1.0");
    let alerts = meter.take_alerts();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].kind, AlertKind::FirmwareActivated);
    assert_eq!(meter.pending_alerts(), 0);
}

#[test]
fn supply_interruption_and_tamper_alerts() {
    let mut meter = esme(InstallationState::Active);
    meter.power_fail(after(10));
    assert!(!meter.is_powered());
    let during = register(&mut meter, after(10));
    meter.power_restore(after(70));
    assert_eq!(
        register(&mut meter, after(70)),
        during,
        "no consumption without power"
    );
    meter.tamper(after(71));
    let kinds: Vec<_> = meter.take_alerts().iter().map(|alert| alert.kind).collect();
    assert_eq!(kinds, [AlertKind::SupplyInterruption, AlertKind::Tamper]);
}

#[test]
fn key_transfer_migrates_credentials_and_old_keys_stop_working() {
    let mut meter = esme(InstallationState::Active);
    let old = *meter.security().keys();
    let new_keys = [Key128([0x11; 16]), Key128([0x22; 16]), Key128([0x33; 16])];
    let transfer = |kek: &Key128, keys: &[Key128; 3]| {
        Data::Array(
            [(0u8, keys[0]), (2, keys[1]), (3, keys[2])]
                .iter()
                .map(|(id, key)| {
                    Data::Structure(vec![
                        Data::Enum(*id),
                        Data::OctetString(wrap_key(kek, key).to_vec()),
                    ])
                })
                .collect(),
        )
    };
    action(
        &mut meter,
        after(1),
        ObjectRole::SecuritySetup,
        2,
        transfer(&old.master, &new_keys),
    )
    .unwrap();
    assert_eq!(meter.security().keys().encryption, new_keys[0]);
    assert_eq!(meter.security().keys().authentication, new_keys[1]);
    assert_eq!(
        meter.events().last().unwrap().code,
        EventCode::SecurityKeysChanged
    );
    // The SMSO's old master key is refused from now on.
    let again = transfer(&old.master, &[Key128([9; 16]); 3]);
    assert_eq!(
        action(&mut meter, after(2), ObjectRole::SecuritySetup, 2, again),
        Err(AccessError::OtherReason)
    );
    assert_eq!(meter.security().keys().encryption, new_keys[0]);
}

#[test]
fn public_clients_read_only_identification_and_time() {
    let mut meter = esme(InstallationState::Active);
    let name = target(&meter, ObjectRole::LogicalDeviceName, 2);
    assert!(
        meter
            .get(after(1), AccessLevel::Public, &name, None)
            .is_ok()
    );
    let register = target(&meter, ObjectRole::ImportRegister, 2);
    assert_eq!(
        meter.get(after(1), AccessLevel::Public, &register, None),
        Err(AccessError::ReadWriteDenied)
    );
    let disconnect = target(&meter, ObjectRole::DisconnectControl, 1);
    assert_eq!(
        meter.action(
            after(1),
            AccessLevel::Public,
            &disconnect,
            &Data::Integer(0)
        ),
        Err(AccessError::ReadWriteDenied)
    );
    let clock = target(&meter, ObjectRole::Clock, 2);
    assert_eq!(
        meter.set(after(1), AccessLevel::Public, &clock, &after(1).to_data()),
        Err(AccessError::ReadWriteDenied)
    );
}

#[test]
fn unknown_objects_wrong_classes_and_read_only_attributes() {
    let mut meter = esme(InstallationState::Active);
    let missing = Target::new(1, Obis::new(9, 9, 9, 9, 9, 9), 2);
    assert_eq!(
        meter.get(after(1), MANAGE, &missing, None),
        Err(AccessError::ObjectUndefined)
    );
    let wrong_class = Target::new(1, Obis::new(1, 0, 1, 8, 0, 255), 2);
    assert_eq!(
        meter.get(after(1), MANAGE, &wrong_class, None),
        Err(AccessError::ObjectClassInconsistent)
    );
    assert_eq!(
        get(&mut meter, after(1), ObjectRole::ImportRegister, 9),
        Err(AccessError::ObjectUndefined)
    );
    assert_eq!(
        set(
            &mut meter,
            after(1),
            ObjectRole::ImportRegister,
            2,
            Data::DoubleLongUnsigned(0)
        ),
        Err(AccessError::ReadWriteDenied)
    );
    assert_eq!(
        action(
            &mut meter,
            after(1),
            ObjectRole::ImageTransfer,
            2,
            Data::Null
        ),
        Err(AccessError::TypeUnmatched)
    );
}

#[test]
fn variations_relocate_and_remove_objects_and_methods() {
    let mut cfg = config(DeviceRole::Esme, InstallationState::Active);
    cfg.variations = vec![
        Variation {
            srv: Some("4.1.1".into()),
            kind: VariationKind::Relocated(
                ObjectRole::ImportRegister,
                Obis::new(1, 0, 1, 8, 1, 255),
            ),
        },
        Variation {
            srv: Some("7.2".into()),
            kind: VariationKind::UnsupportedMethod(ObjectRole::DisconnectControl, 1),
        },
        Variation {
            srv: None,
            kind: VariationKind::Unsupported(ObjectRole::DailyLog),
        },
    ];
    let mut meter = LogicalDevice::new(cfg, MIDNIGHT);
    let standard = Target::new(3, Obis::new(1, 0, 1, 8, 0, 255), 2);
    assert_eq!(
        meter.get(after(60), MANAGE, &standard, None),
        Err(AccessError::ObjectUndefined)
    );
    let relocated = Target::new(3, Obis::new(1, 0, 1, 8, 1, 255), 2);
    assert_eq!(
        meter.get(after(60), MANAGE, &relocated, None),
        Ok(Data::DoubleLongUnsigned(1_100))
    );
    // The load profile captures the relocated register.
    let columns = meter.capture_objects(ProfileKind::LoadProfile);
    assert_eq!(columns[2].logical_name, Obis::new(1, 0, 1, 8, 1, 255));
    assert_eq!(
        action(
            &mut meter,
            after(61),
            ObjectRole::DisconnectControl,
            1,
            Data::Integer(0)
        ),
        Err(AccessError::ObjectUndefined)
    );
    assert!(
        action(
            &mut meter,
            after(61),
            ObjectRole::DisconnectControl,
            2,
            Data::Integer(0)
        )
        .is_ok()
    );
    assert!(meter.directory().by_role(ObjectRole::DailyLog).is_none());
}

#[test]
fn a_gas_meter_counts_litres_reported_in_cubic_metres() {
    let mut cfg = config(DeviceRole::Gsme, InstallationState::Active);
    cfg.metering.as_mut().unwrap().consumption = ConsumptionProfile::constant(60);
    let mut meter = LogicalDevice::new(cfg, MIDNIGHT);
    let entry = meter
        .directory()
        .by_role(ObjectRole::ImportRegister)
        .unwrap();
    assert_eq!(entry.obis, Obis::new(7, 0, 3, 0, 0, 255));
    assert_eq!(
        get(&mut meter, after(30), ObjectRole::ImportRegister, 3).unwrap(),
        Data::Structure(vec![Data::Integer(-3), Data::Enum(13)])
    );
    assert_eq!(register(&mut meter, after(30)), 130);
}

#[test]
fn a_hub_has_no_metering_objects() {
    let mut cfg = config(DeviceRole::Hub, InstallationState::Active);
    cfg.metering = None;
    cfg.mpxn = None;
    let mut hub = LogicalDevice::new(cfg, MIDNIGHT);
    assert!(
        hub.directory()
            .by_role(ObjectRole::ImportRegister)
            .is_none()
    );
    assert!(
        hub.directory()
            .by_role(ObjectRole::DisconnectControl)
            .is_none()
    );
    assert_eq!(
        hub.switch_supply(after(1), Trigger::RemoteDisconnect),
        Err(AccessError::ObjectUndefined)
    );
    assert!(get(&mut hub, after(1), ObjectRole::EventLog, 2).is_ok());
    let _ = HALF_HOUR_MS;
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn any_value() -> impl Strategy<Value = Data> {
        let leaf = prop_oneof![
            Just(Data::Null),
            any::<bool>().prop_map(Data::Boolean),
            any::<u8>().prop_map(Data::Enum),
            any::<i16>().prop_map(Data::Long),
            any::<u32>().prop_map(Data::DoubleLongUnsigned),
            proptest::collection::vec(any::<u8>(), 0..20).prop_map(Data::OctetString),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Data::Structure),
                proptest::collection::vec(inner, 0..5).prop_map(Data::Array),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Whatever a client sends to whatever it names, the model answers without panicking
        /// and the register never runs backwards.
        #[test]
        fn any_request_is_answered_and_registers_only_grow(
            requests in proptest::collection::vec((0usize..13, -2i8..12, 0u8..4, any_value(), 0i64..100_000), 1..40),
        ) {
            let mut meter = esme(InstallationState::Active);
            let mut now = MIDNIGHT;
            let mut last = 0u64;
            for (object, index, kind, value, step) in requests {
                now = now.plus_millis(step * 1000);
                let role = ObjectRole::ALL[object];
                let Some(entry) = meter.directory().by_role(role).copied() else { continue };
                let target = Target::new(entry.class_id, entry.obis, index);
                let _ = match kind {
                    0 => meter.get(now, MANAGE, &target, None).map(|_| ()),
                    1 => meter.get(now, MANAGE, &target, Some((index as u8, &value))).map(|_| ()),
                    2 => meter.set(now, MANAGE, &target, &value),
                    _ => meter.action(now, MANAGE, &target, &value).map(|_| ()),
                };
                let value = meter.register(now).unwrap();
                prop_assert!(value >= last);
                last = value;
            }
        }
    }
}
