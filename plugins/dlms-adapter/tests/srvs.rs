//! Every SRV through the adapter, in process (the `Adapter` trait, sans-IO), against the
//! emulator's devices in memory over the wrapper framing: positive and negative.
#![allow(clippy::unwrap_used)]

mod support;

use meterlab_emulator::events::{Alert as DeviceAlert, AlertKind};
use meterlab_emulator::hub::{HLS_CLIENT_SAP, LLS_CLIENT_SAP, PUBLIC_CLIENT_SAP};
use meterlab_plugin::pb::{
    ArmSupply, CommissionDevice, DisableSupply, EnableSupply, LogKind, ReadActiveImportProfileData,
    ReadDeviceConfigurationMpxn, ReadEventOrSecurityLog, ReadFirmwareVersion,
    ReadInstantaneousImportRegisters, ReadSupplyStatus, RetrieveImportDailyReadLog, Srv,
    SupplyState, SynchroniseClock, Unit, service_error::Kind, service_request::Body,
    service_response::Outcome,
};
use support::{Rig, START_MS, error, outcome, supply};

const DAY_MS: i64 = 86_400_000;

#[test]
fn instantaneous_registers_of_electricity_and_gas_carry_their_units() {
    let mut rig = Rig::new("active", "north-active.esme", LLS_CLIENT_SAP);
    let run = rig.run(Body::ReadInstantaneousImportRegisters(
        ReadInstantaneousImportRegisters {},
    ));
    let Outcome::InstantaneousImportRegisters(registers) = outcome(&run.response) else {
        panic!("{:?}", run.response)
    };
    let total = registers.total_import.expect("total import");
    let now = rig.sim_now();
    let expected = rig.device().register(now).expect("the esme has a register");
    // Read a few simulated milliseconds ago: at most 1 Wh behind.
    assert!(
        u64::try_from(total.value).unwrap().abs_diff(expected) <= 1,
        "{total:?} vs {expected}"
    );
    assert_eq!((total.scaler, total.unit()), (0, Unit::WattHour));
    assert!(
        (registers.device_time_ms - START_MS).abs() < 60_000,
        "{}",
        registers.device_time_ms
    );

    let mut gas = Rig::new("active", "north-active.gsme", LLS_CLIENT_SAP);
    let run = gas.run(Body::ReadInstantaneousImportRegisters(
        ReadInstantaneousImportRegisters {},
    ));
    let Outcome::InstantaneousImportRegisters(registers) = outcome(&run.response) else {
        panic!()
    };
    let total = registers.total_import.expect("total import");
    assert_eq!((total.scaler, total.unit()), (-3, Unit::CubicMetre));
}

#[test]
fn bravo_esme_register_is_read_at_its_relocated_obis() {
    let mut rig = Rig::new("active", "south-active.esme", LLS_CLIENT_SAP);
    let run = rig.run(Body::ReadInstantaneousImportRegisters(
        ReadInstantaneousImportRegisters {},
    ));
    let Outcome::InstantaneousImportRegisters(registers) = outcome(&run.response) else {
        panic!("{:?}", run.response)
    };
    let now = rig.sim_now();
    let expected = rig.device().register(now).expect("the esme has a register");
    let total = registers.total_import.expect("total import");
    assert!(
        u64::try_from(total.value).unwrap().abs_diff(expected) <= 1,
        "{total:?} vs {expected}"
    );
}

#[test]
fn daily_log_and_load_profile_return_the_requested_range() {
    let mut rig = Rig::new("active", "north-active.esme", LLS_CLIENT_SAP);
    let from_ms = START_MS - 3 * DAY_MS;
    let run = rig.run(Body::RetrieveImportDailyReadLog(
        RetrieveImportDailyReadLog {
            from_ms,
            to_ms: START_MS,
        },
    ));
    let Outcome::DailyReadLog(log) = outcome(&run.response) else {
        panic!("{:?}", run.response)
    };
    assert!(!log.entries.is_empty());
    for entry in &log.entries {
        assert!(
            (from_ms..=START_MS).contains(&entry.captured_at_ms),
            "{entry:?}"
        );
        assert_eq!(entry.total_import.expect("value").unit(), Unit::WattHour);
    }

    let from_ms = START_MS - 6 * 3_600_000;
    let run = rig.run(Body::ReadActiveImportProfileData(
        ReadActiveImportProfileData {
            from_ms,
            to_ms: START_MS,
        },
    ));
    let Outcome::ProfileData(profile) = outcome(&run.response) else {
        panic!("{:?}", run.response)
    };
    assert_eq!(profile.interval_s, 1800);
    assert!(
        profile.entries.len() >= 10,
        "{} entries",
        profile.entries.len()
    );
    for entry in &profile.entries {
        assert!((from_ms..=START_MS).contains(&entry.period_end_ms));
        assert_eq!(entry.period_end_ms % 1_800_000, 0);
    }
}

#[test]
fn bravo_gsme_daily_log_is_not_supported_on_its_dmc() {
    let mut rig = Rig::new("active", "south-active.gsme", LLS_CLIENT_SAP);
    let run = rig.run(Body::RetrieveImportDailyReadLog(
        RetrieveImportDailyReadLog {
            from_ms: 0,
            to_ms: 0,
        },
    ));
    let Kind::NotSupportedOnDmc(not) = error(&run.response) else {
        panic!("{:?}", run.response)
    };
    assert_eq!(
        (not.dmc_id.as_str(), not.srv()),
        ("bravo-h2-e2-g2", Srv::Srv461RetrieveImportDailyReadLog)
    );
    assert_eq!(rig.timers_armed(), 0, "nothing was sent");
}

#[test]
fn mpxn_and_firmware_version_are_read() {
    let mut rig = Rig::new("active", "north-active.esme", LLS_CLIENT_SAP);
    let run = rig.run(Body::ReadDeviceConfigurationMpxn(
        ReadDeviceConfigurationMpxn {},
    ));
    assert_eq!(
        outcome(&run.response),
        &Outcome::DeviceConfigurationMpxn(meterlab_plugin::pb::DeviceConfigurationMpxn {
            mpxn: "1200012345678".into()
        })
    );
    let run = rig.run(Body::ReadFirmwareVersion(ReadFirmwareVersion {}));
    assert_eq!(
        outcome(&run.response),
        &Outcome::FirmwareVersion(meterlab_plugin::pb::FirmwareVersion {
            version: "2.0.1".into()
        })
    );
}

#[test]
fn the_public_client_reads_the_firmware_version_but_not_the_register() {
    let mut rig = Rig::new("active", "north-active.esme", PUBLIC_CLIENT_SAP);
    let run = rig.run(Body::ReadFirmwareVersion(ReadFirmwareVersion {}));
    assert!(matches!(
        outcome(&run.response),
        Outcome::FirmwareVersion(_)
    ));
    let run = rig.run(Body::ReadInstantaneousImportRegisters(
        ReadInstantaneousImportRegisters {},
    ));
    let Kind::DeviceRejected(rejected) = error(&run.response) else {
        panic!("{:?}", run.response)
    };
    assert_eq!(
        rejected.device_code, 3,
        "read-write-denied: {}",
        rejected.reason
    );
}

#[test]
fn clock_is_set_only_when_outside_the_tolerance_and_read_back() {
    // south-active's ESME runs 95 s fast.
    let mut rig = Rig::new("active", "south-active.esme", LLS_CLIENT_SAP);
    let utc_ms = START_MS + i64::try_from(rig.now_ms).unwrap();
    let run = rig.run(Body::SynchroniseClock(SynchroniseClock {
        utc_ms,
        tolerance_ms: 10_000,
    }));
    let Outcome::ClockSynchronised(sync) = outcome(&run.response) else {
        panic!("{:?}", run.response)
    };
    assert!(sync.adjusted);
    // 95 s fast plus its 40 ppm drift since installation.
    assert!(
        (90_000..110_000).contains(&(sync.device_time_before_ms - utc_ms)),
        "{sync:?}"
    );
    assert!(
        (sync.device_time_after_ms - utc_ms).abs() < 2_000,
        "{sync:?}"
    );

    let utc_ms = START_MS + i64::try_from(rig.now_ms).unwrap();
    let run = rig.run(Body::SynchroniseClock(SynchroniseClock {
        utc_ms,
        tolerance_ms: 10_000,
    }));
    let Outcome::ClockSynchronised(again) = outcome(&run.response) else {
        panic!()
    };
    assert!(!again.adjusted, "{again:?}");
    assert_eq!(again.device_time_before_ms, again.device_time_after_ms);

    // The adjustment is in the event log.
    let run = rig.run(Body::ReadEventOrSecurityLog(ReadEventOrSecurityLog {
        log: LogKind::Event.into(),
        from_ms: START_MS - DAY_MS,
        to_ms: 0,
    }));
    let Outcome::LogEntries(entries) = outcome(&run.response) else {
        panic!("{:?}", run.response)
    };
    assert_eq!(entries.log(), LogKind::Event);
    assert!(!entries.entries.is_empty());
}

#[test]
fn commissioning_sets_the_clock_to_the_reference_time() {
    let mut rig = Rig::new("active", "south-active.gsme", LLS_CLIENT_SAP);
    let utc_ms = START_MS + 3_600_000;
    let run = rig.run(Body::CommissionDevice(CommissionDevice { utc_ms }));
    let Outcome::DeviceCommissioned(done) = outcome(&run.response) else {
        panic!("{:?}", run.response)
    };
    assert!((done.device_time_ms - utc_ms).abs() < 2_000, "{done:?}");
}

#[test]
fn supply_is_disabled_enabled_armed_and_reported() {
    let mut rig = Rig::new("active", "north-active.esme", LLS_CLIENT_SAP);
    assert_eq!(
        supply(&mut rig, Body::ReadSupplyStatus(ReadSupplyStatus {})),
        SupplyState::Enabled
    );
    assert_eq!(
        supply(&mut rig, Body::DisableSupply(DisableSupply {})),
        SupplyState::Disabled
    );
    assert_eq!(
        supply(&mut rig, Body::EnableSupply(EnableSupply {})),
        SupplyState::Enabled
    );
    assert_eq!(
        supply(&mut rig, Body::DisableSupply(DisableSupply {})),
        SupplyState::Disabled
    );
    assert_eq!(
        supply(&mut rig, Body::ArmSupply(ArmSupply {})),
        SupplyState::Armed
    );
    assert_eq!(
        supply(&mut rig, Body::ReadSupplyStatus(ReadSupplyStatus {})),
        SupplyState::Armed
    );
    // The original control mode was restored: enabling reconnects directly again.
    assert_eq!(
        supply(&mut rig, Body::DisableSupply(DisableSupply {})),
        SupplyState::Disabled
    );
    assert_eq!(
        supply(&mut rig, Body::EnableSupply(EnableSupply {})),
        SupplyState::Enabled
    );

    // north-active's gas valve is in mode 4: a remote reconnect arms it.
    let mut gas = Rig::new("active", "north-active.gsme", LLS_CLIENT_SAP);
    assert_eq!(
        supply(&mut gas, Body::DisableSupply(DisableSupply {})),
        SupplyState::Disabled
    );
    assert_eq!(
        supply(&mut gas, Body::ArmSupply(ArmSupply {})),
        SupplyState::Armed
    );
}

#[test]
fn a_dormant_meter_refuses_disable_supply() {
    let mut rig = Rig::new("dormant", "north-dormant.esme", LLS_CLIENT_SAP);
    let run = rig.run(Body::DisableSupply(DisableSupply {}));
    let Kind::DeviceRejected(rejected) = error(&run.response) else {
        panic!("{:?}", run.response)
    };
    assert_ne!(rejected.device_code, 0, "{rejected:?}");
    assert!(rejected.reason.contains("ACTION"), "{rejected:?}");
}

#[test]
fn supply_control_is_not_supported_on_a_hub() {
    let mut rig = Rig::new("active", "north-active.hub", LLS_CLIENT_SAP);
    let run = rig.run(Body::DisableSupply(DisableSupply {}));
    assert!(
        matches!(error(&run.response), Kind::NotSupportedOnDmc(_)),
        "{:?}",
        run.response
    );
}

#[test]
fn a_wrong_password_is_refused_by_the_device() {
    let mut rig = Rig::with_config("active", "north-active.esme", |device| {
        let mut config = support::session_config(device, LLS_CLIENT_SAP);
        config
            .parameters
            .insert("password".into(), "not-the-password".into());
        config
    });
    let run = rig.run(Body::ReadFirmwareVersion(ReadFirmwareVersion {}));
    let Kind::DeviceRejected(rejected) = error(&run.response) else {
        panic!("{:?}", run.response)
    };
    assert!(rejected.reason.contains("association"), "{rejected:?}");
}

#[test]
fn a_silent_device_times_out_after_the_exchange_timeout() {
    let mut rig = Rig::with_config("active", "north-active.esme", |device| {
        let mut config = support::session_config(device, LLS_CLIENT_SAP);
        config
            .parameters
            .insert("association_timeout_ms".into(), "3000".into());
        config
    });
    rig.mute = true;
    let run = rig.run(Body::ReadFirmwareVersion(ReadFirmwareVersion {}));
    let Kind::Timeout(timeout) = error(&run.response) else {
        panic!("{:?}", run.response)
    };
    assert_eq!(timeout.elapsed_ms, 3000);
    assert_eq!(run.elapsed_ms, 3000);
    assert!(timeout.waiting_for.contains("association"), "{timeout:?}");
    // Once the device answers again, the next request associates afresh and succeeds.
    rig.mute = false;
    let run = rig.run(Body::ReadFirmwareVersion(ReadFirmwareVersion {}));
    outcome(&run.response);
}

#[test]
fn a_closed_link_fails_the_outstanding_request() {
    let mut rig = Rig::new("active", "north-active.esme", LLS_CLIENT_SAP);
    rig.mute = true;
    assert!(
        rig.start(Body::ReadFirmwareVersion(ReadFirmwareVersion {}))
            .is_none()
    );
    let response = rig.close_link("peer reset").expect("completed at once");
    let Kind::LinkFailure(failure) = error(&response) else {
        panic!("{response:?}")
    };
    assert!(failure.detail.contains("peer reset"), "{failure:?}");
}

#[test]
fn alerts_pushed_while_idle_become_alert_actions() {
    let mut rig = Rig::new("active", "north-active.esme", LLS_CLIENT_SAP);
    outcome(
        &rig.run(Body::ReadFirmwareVersion(ReadFirmwareVersion {}))
            .response,
    );
    let at = rig.sim_now();
    rig.push_alert(DeviceAlert {
        at,
        kind: AlertKind::Tamper,
    });
    rig.deliver_idle();
    assert_eq!(rig.alerts.len(), 1, "{:?}", rig.alerts);
    assert!(
        rig.alerts[0].message.contains("event notification"),
        "{:?}",
        rig.alerts
    );
}

#[test]
fn a_ciphered_hls_session_reads_and_controls_supply() {
    // smso-south's HLS client is glo-ciphered.
    let mut rig = Rig::new("active", "south-active.esme", HLS_CLIENT_SAP);
    outcome(
        &rig.run(Body::ReadInstantaneousImportRegisters(
            ReadInstantaneousImportRegisters {},
        ))
        .response,
    );
    assert_eq!(
        supply(&mut rig, Body::DisableSupply(DisableSupply {})),
        SupplyState::Disabled
    );
}

#[test]
fn an_association_the_device_dropped_while_idle_is_reopened_once() {
    let mut rig = Rig::new("active", "north-active.esme", LLS_CLIENT_SAP);
    outcome(
        &rig.run(Body::ReadFirmwareVersion(ReadFirmwareVersion {}))
            .response,
    );
    // The device forgets every association (as after an inactivity time-out).
    rig.forget_associations();
    let run = rig.run(Body::ReadFirmwareVersion(ReadFirmwareVersion {}));
    assert!(matches!(
        outcome(&run.response),
        Outcome::FirmwareVersion(_)
    ));
    assert!(
        run.logs
            .iter()
            .any(|line| line.contains("associating again")),
        "{:?}",
        run.logs
    );
}
