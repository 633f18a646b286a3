//! Every supported SRV through whole mode C exchanges with a meter state machine, in simulated
//! time: data readout and programming mode, the baud-rate switch at the right moment, clock
//! setting, refusals, time-outs and damaged frames.

mod support;

use meterlab_iec62056_21::clock;
use meterlab_iec62056_21_adapter::Iec62056Adapter;
use meterlab_plugin::Adapter;
use meterlab_plugin::pb::{
    EnableSupply, ReadDeviceConfigurationMpxn, ReadFirmwareVersion,
    ReadInstantaneousImportRegisters, ServiceRequest, ServiceResponse, Srv, SynchroniseClock, Unit,
    service_error::Kind, service_request::Body, service_response::Outcome,
};
use support::{DMC_ID, Wire, config};

/// 2026-12-07T02:38:05Z
const NOW: i64 = 1_796_611_085_000;

fn request(body: Body) -> ServiceRequest {
    ServiceRequest {
        request_id: "r1".to_owned(),
        body: Some(body),
    }
}

fn outcome(response: ServiceResponse) -> Outcome {
    assert_eq!(response.request_id, "r1");
    match response.outcome {
        Some(Outcome::Error(error)) => panic!("failed: {:?}", error.kind),
        Some(outcome) => outcome,
        None => panic!("no outcome"),
    }
}

fn error(response: ServiceResponse) -> Kind {
    match response.outcome {
        Some(Outcome::Error(error)) => error.kind.expect("a kind"),
        other => panic!("expected an error, got {other:?}"),
    }
}

fn read_registers() -> ServiceRequest {
    request(Body::ReadInstantaneousImportRegisters(
        ReadInstantaneousImportRegisters {},
    ))
}

#[test]
fn readout_reads_the_register_and_clock_at_the_switched_rate() {
    let mut wire = Wire::new(&[], None, NOW);
    let Outcome::InstantaneousImportRegisters(registers) = outcome(wire.execute(read_registers()))
    else {
        panic!("wrong outcome");
    };
    let total = registers.total_import.expect("a total");
    assert_eq!(
        (total.value, total.scaler, total.unit()),
        (1_234_567, -3, Unit::KilowattHour)
    );
    // Whole seconds: the readout was taken 100 ms after the start.
    assert_eq!(registers.device_time_ms, NOW);
    // 300 to start, 9600 after the option select, 300 after the readout.
    assert_eq!(wire.switches, vec![300, 9600, 300]);
    assert_eq!(
        wire.garbled, 0,
        "no byte crossed the line at the wrong rate"
    );
    assert_eq!(wire.sent_by_adapter[0], b"/?!\r\n");
    assert_eq!(wire.sent_by_adapter[1], b"\x06050\r\n");
    assert_eq!(
        wire.timer, None,
        "the response timer is cancelled at the end"
    );
}

#[test]
fn programming_mode_reads_single_registers_with_the_password() {
    let mut wire = Wire::new(
        &[("password", "SECRET"), ("device_address", "12345678")],
        Some("SECRET"),
        NOW,
    );
    let Outcome::FirmwareVersion(version) =
        outcome(wire.execute(request(Body::ReadFirmwareVersion(ReadFirmwareVersion {}))))
    else {
        panic!("wrong outcome");
    };
    assert_eq!(version.version, "2.0.1");
    let sent = &wire.sent_by_adapter;
    assert_eq!(sent[0], b"/?12345678!\r\n");
    assert_eq!(sent[1], b"\x06051\r\n");
    assert_eq!(sent[2], b"\x01P1\x02(SECRET)\x03\x77");
    assert_eq!(sent[3], b"\x01R1\x020.2.0()\x03\x51");
    assert_eq!(sent[4], b"\x01B0\x03q");
    assert_eq!(wire.switches, vec![300, 9600, 300]);
    assert_eq!(wire.garbled, 0);
    assert!(
        !wire.meter.is_busy(),
        "B0 ended the meter's programming mode"
    );

    let Outcome::DeviceConfigurationMpxn(mpxn) = outcome(wire.execute(request(
        Body::ReadDeviceConfigurationMpxn(ReadDeviceConfigurationMpxn {}),
    ))) else {
        panic!("wrong outcome");
    };
    assert_eq!(mpxn.mpxn, "1200023456789");
}

#[test]
fn the_session_rate_can_be_capped_below_the_meters() {
    let mut wire = Wire::new(&[("max_baud", "2400")], None, NOW);
    outcome(wire.execute(read_registers()));
    assert_eq!(wire.switches, vec![300, 2400, 300]);
    assert_eq!(wire.sent_by_adapter[1], b"\x06030\r\n");
}

#[test]
fn a_clock_within_tolerance_is_left_alone() {
    let mut wire = Wire::new(&[("password", "SECRET")], Some("SECRET"), NOW + 3_000);
    let sync = request(Body::SynchroniseClock(SynchroniseClock {
        utc_ms: NOW,
        tolerance_ms: 5_000,
    }));
    let Outcome::ClockSynchronised(result) = outcome(wire.execute(sync)) else {
        panic!("wrong outcome");
    };
    assert!(!result.adjusted);
    assert_eq!(result.device_time_before_ms, result.device_time_after_ms);
    assert!(
        !wire
            .sent_by_adapter
            .iter()
            .any(|frame| frame.starts_with(b"\x01W1"))
    );
}

#[test]
fn a_clock_off_by_more_than_the_tolerance_is_set_in_programming_mode() {
    let mut wire = Wire::new(&[("password", "SECRET")], Some("SECRET"), NOW + 120_000);
    let sync = request(Body::SynchroniseClock(SynchroniseClock {
        utc_ms: NOW,
        tolerance_ms: 5_000,
    }));
    let Outcome::ClockSynchronised(result) = outcome(wire.execute(sync)) else {
        panic!("wrong outcome");
    };
    assert!(result.adjusted);
    assert!(
        (result.device_time_before_ms - (NOW + 120_000)).abs() < 2_000,
        "{result:?}"
    );
    assert!(
        (result.device_time_after_ms - NOW).abs() < 2_000,
        "{result:?}"
    );
    assert!(
        (wire.data.device_ms() - i64::try_from(wire.now_ms).expect("small") - NOW).abs() < 2_000
    );
    let writes: Vec<&Vec<u8>> = wire
        .sent_by_adapter
        .iter()
        .filter(|frame| frame.starts_with(b"\x01W1"))
        .collect();
    assert_eq!(writes.len(), 2, "date and time are written");
    assert!(
        writes[0]
            .windows(5)
            .any(|w| w == clock::DATE_ADDRESS.as_bytes())
    );
}

#[test]
fn setting_the_clock_without_programming_mode_is_an_adapter_fault_not_a_device_failure() {
    let mut wire = Wire::new(&[], None, NOW + 120_000);
    let sync = request(Body::SynchroniseClock(SynchroniseClock {
        utc_ms: NOW,
        tolerance_ms: 5_000,
    }));
    match error(wire.execute(sync)) {
        Kind::AdapterFault(fault) => {
            assert!(fault.detail.contains("needs programming mode"), "{fault:?}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_srv_the_port_does_not_carry_is_refused_at_once() {
    let mut wire = Wire::new(&[], None, NOW);
    match error(wire.execute(request(Body::EnableSupply(EnableSupply {})))) {
        Kind::NotSupportedOnDmc(refusal) => {
            assert_eq!(refusal.dmc_id, DMC_ID);
            assert_eq!(refusal.srv(), Srv::Srv71EnableSupply);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        wire.sent_by_adapter.is_empty(),
        "nothing is sent for a refused SRV"
    );
}

#[test]
fn a_wrong_password_is_a_device_rejection_and_the_line_returns_to_300() {
    let mut wire = Wire::new(&[("password", "GUESS")], Some("SECRET"), NOW);
    match error(wire.execute(read_registers())) {
        Kind::DeviceRejected(rejection) => {
            assert_eq!(rejection.device_code, 0x15);
            assert!(rejection.reason.contains("password"), "{rejection:?}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(wire.switches.last(), Some(&300));
    assert_eq!(
        wire.sent_by_adapter.last().map(Vec::as_slice),
        Some(&b"\x01B0\x03q"[..])
    );
}

#[test]
fn a_silent_meter_times_out_naming_what_was_awaited() {
    let mut wire = Wire::new(&[("response_timeout_ms", "1500")], None, NOW);
    wire.faults.silent = true;
    match error(wire.execute(read_registers())) {
        Kind::Timeout(timeout) => {
            assert_eq!(timeout.waiting_for, "the identification message");
            assert!(timeout.elapsed_ms >= 1500, "{timeout:?}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_damaged_block_is_asked_for_again_with_nak() {
    let mut wire = Wire::new(&[("password", "SECRET")], Some("SECRET"), NOW);
    // The P0 prompt and the first R1 answer arrive with a bad BCC.
    wire.faults.damage_first = 2;
    let Outcome::FirmwareVersion(version) =
        outcome(wire.execute(request(Body::ReadFirmwareVersion(ReadFirmwareVersion {}))))
    else {
        panic!("wrong outcome");
    };
    assert_eq!(version.version, "2.0.1");
    assert_eq!(
        wire.sent_by_adapter
            .iter()
            .filter(|frame| frame.as_slice() == b"\x15")
            .count(),
        2
    );
}

#[test]
fn too_many_damaged_blocks_are_a_link_failure() {
    // A damaged readout is not repeated by the meter (it is back at 300 baud, idle).
    let mut wire = Wire::new(&[], None, NOW);
    wire.faults.damage_first = 1;
    match error(wire.execute(read_registers())) {
        Kind::LinkFailure(failure) => {
            assert!(failure.detail.contains("block check"), "{failure:?}")
        }
        other => panic!("{other:?}"),
    }
    // In programming mode each damaged answer is asked for again, twice at most.
    let mut wire = Wire::new(&[("password", "SECRET")], Some("SECRET"), NOW);
    wire.faults.damage_first = 10;
    match error(wire.execute(read_registers())) {
        Kind::LinkFailure(failure) => {
            assert!(failure.detail.contains("block check"), "{failure:?}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn open_refuses_bad_parameters_naming_the_key() {
    for (parameters, expected) in [
        (vec![("max_baud", "1000")], "max_baud"),
        (vec![("device_role", "gsme")], "device_role"),
        (vec![("password", "a(b")], "password"),
        (vec![("response_timeout_ms", "0")], "response_timeout_ms"),
        (vec![("device_address", "12!")], "device_address"),
    ] {
        let error = Iec62056Adapter::open(config(&parameters)).expect_err("refused");
        assert!(error.reason().contains(expected), "{}", error.reason());
    }
    let mut no_port = config(&[]);
    let text = support::dmc_text();
    let cut = text.rfind("[optical]").expect("has a port");
    no_port
        .parameters
        .insert("dmc".to_owned(), text[..cut].to_owned());
    let error = Iec62056Adapter::open(no_port).expect_err("refused");
    assert!(
        error.reason().contains("no [optical] port"),
        "{}",
        error.reason()
    );
}

#[test]
fn describe_lists_exactly_the_srvs_of_the_optical_port() {
    let info = Iec62056Adapter::describe();
    assert_eq!(info.id, meterlab_iec62056_21_adapter::ID);
    assert_eq!(info.dmcs.len(), 1);
    let dmc = &info.dmcs[0];
    assert_eq!(dmc.dmc_id, DMC_ID);
    let srvs: Vec<Srv> = dmc.srvs.iter().map(|support| support.srv()).collect();
    assert_eq!(
        srvs,
        vec![
            Srv::Srv411ReadInstantaneousImportRegisters,
            Srv::Srv627ReadDeviceConfigurationMpxn,
            Srv::Srv611SynchroniseClock,
            Srv::Srv112ReadFirmwareVersion
        ]
    );
    assert_eq!(info.smso_ids, vec!["smso-north".to_owned()]);
}
