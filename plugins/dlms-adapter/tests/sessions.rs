//! Later sessions to the same device: a runner opens a new session (a new adapter, a new
//! connection) after a blocked step or for a retry. A ciphered device keeps the last frame
//! counter it accepted from each client (replay protection), so a later session must start
//! above it: sessions of one loaded plugin share their counters per device; a session of a new
//! process reads the device's public `invocation_counter` object first; and the
//! `invocation_counter` session parameter sets the start.
#![allow(clippy::unwrap_used)]

mod support;

use meterlab_dlms::security::wrap_key;
use meterlab_emulator::hub::HLS_CLIENT_SAP;
use meterlab_plugin::pb::{
    KeyKind, KeyUpdate, ReadFirmwareVersion, UpdateSecurityCredentials, service_error::Kind,
    service_request::Body, service_response::Outcome,
};
use support::{Rig, error};

fn read(rig: &mut Rig) -> Outcome {
    rig.run(Body::ReadFirmwareVersion(ReadFirmwareVersion {}))
        .response
        .outcome
        .unwrap()
}

/// Opens a new session whose first frame counter is `counter` (None: the default, 1).
fn reopen(rig: &mut Rig, counter: Option<u32>) {
    let record = rig.record();
    let mut config = support::session_config(&record, HLS_CLIENT_SAP);
    if let Some(counter) = counter {
        config
            .parameters
            .insert("invocation_counter".into(), counter.to_string());
    }
    rig.reopen(config);
}

fn last_counter(rig: &mut Rig) -> u32 {
    rig.device()
        .security()
        .client_counter(HLS_CLIENT_SAP)
        .expect("the device recorded the client's counter")
}

#[test]
fn a_later_ciphered_session_in_the_same_process_goes_on_from_the_last_counter() {
    let mut rig = Rig::new("active", "south-active.esme", HLS_CLIENT_SAP);
    assert!(matches!(read(&mut rig), Outcome::FirmwareVersion(_)));
    let last = last_counter(&mut rig);
    // A new session (new adapter, new connection), as a runner opens after a blocked step.
    reopen(&mut rig, None);
    let later = read(&mut rig);
    assert!(matches!(later, Outcome::FirmwareVersion(_)), "{later:?}");
    assert!(last_counter(&mut rig) > last);
}

#[test]
fn invocation_counter_sets_where_a_session_starts() {
    let mut rig = Rig::new("active", "south-active.esme", HLS_CLIENT_SAP);
    assert!(matches!(read(&mut rig), Outcome::FirmwareVersion(_)));
    let last = last_counter(&mut rig);
    reopen(&mut rig, Some(last + 1000));
    assert!(matches!(read(&mut rig), Outcome::FirmwareVersion(_)));
    assert!(last_counter(&mut rig) >= last + 1000);
}

#[test]
fn after_a_key_transfer_a_later_session_starting_above_the_counter_associates() {
    let mut rig = Rig::new("active", "south-active.esme", HLS_CLIENT_SAP);
    let original = *rig.device().security().keys();
    let master = original.master.0;
    for key in [[0x51u8; 16], original.authentication.0] {
        let keys = vec![KeyUpdate {
            kind: KeyKind::Authentication.into(),
            wrapped_key: wrap_key(&master, &key).unwrap().to_vec(),
        }];
        let run = rig.run(Body::UpdateSecurityCredentials(UpdateSecurityCredentials {
            keys,
        }));
        assert!(
            matches!(
                run.response.outcome,
                Some(Outcome::SecurityCredentialsUpdated(_))
            ),
            "{:?}",
            run.response
        );
    }
    reopen(&mut rig, None);
    let later = read(&mut rig);
    assert!(matches!(later, Outcome::FirmwareVersion(_)), "{later:?}");
}

#[test]
fn re_installing_the_keys_in_use_succeeds_without_an_old_key_check() {
    let mut rig = Rig::new("active", "north-active.esme", HLS_CLIENT_SAP);
    let keys = *rig.device().security().keys();
    let update = vec![KeyUpdate {
        kind: KeyKind::Authentication.into(),
        wrapped_key: wrap_key(&keys.master.0, &keys.authentication.0)
            .unwrap()
            .to_vec(),
    }];
    let run = rig.run(Body::UpdateSecurityCredentials(UpdateSecurityCredentials {
        keys: update,
    }));
    assert!(
        matches!(
            run.response.outcome,
            Some(Outcome::SecurityCredentialsUpdated(_))
        ),
        "{:?}",
        run.response
    );
    assert!(
        run.logs
            .iter()
            .any(|line| line.contains("equal the old ones")),
        "{:?}",
        run.logs
    );
    assert!(matches!(read(&mut rig), Outcome::FirmwareVersion(_)));
}

/// A session as a new process would open it: no session of this plugin has talked to the
/// device under this id.
fn reopen_as_new_process(rig: &mut Rig, process: &str) {
    let record = rig.record();
    let mut config = support::session_config(&record, HLS_CLIENT_SAP);
    config.device_id = format!("{}@{process}", record.name);
    rig.reopen(config);
}

#[test]
fn a_new_process_reads_the_device_counter_and_starts_above_it() {
    let mut rig = Rig::new("active", "south-active.esme", HLS_CLIENT_SAP);
    reopen_as_new_process(&mut rig, "first-run");
    for _ in 0..3 {
        assert!(matches!(read(&mut rig), Outcome::FirmwareVersion(_)));
    }
    let last = last_counter(&mut rig);
    assert!(last > 1, "the first run used counters up to {last}");
    // A second `meterlab run`: its adapter has never seen the device.
    reopen_as_new_process(&mut rig, "second-run");
    let run = rig.run(Body::ReadFirmwareVersion(ReadFirmwareVersion {}));
    assert!(
        matches!(run.response.outcome, Some(Outcome::FirmwareVersion(_))),
        "{:?} {:?}",
        run.response,
        run.logs
    );
    assert!(
        run.logs
            .iter()
            .any(|line| line.contains(&format!("last accepted frame counter {last}"))),
        "{:?}",
        run.logs
    );
    assert!(last_counter(&mut rig) > last);
    // Read once per device and process: the next request goes straight to its association.
    let run = rig.run(Body::ReadFirmwareVersion(ReadFirmwareVersion {}));
    assert!(!run.logs.iter().any(|line| line.contains("frame counter")));
}

#[test]
fn a_counter_pushed_ahead_by_another_client_is_read_again_after_a_refusal() {
    let mut rig = Rig::new("active", "south-active.esme", HLS_CLIENT_SAP);
    reopen_as_new_process(&mut rig, "own-run");
    assert!(matches!(read(&mut rig), Outcome::FirmwareVersion(_)));
    // Another process (or tool) goes far ahead with the same client.
    reopen(&mut rig, Some(50_000));
    assert!(matches!(read(&mut rig), Outcome::FirmwareVersion(_)));
    assert!(last_counter(&mut rig) >= 50_000);
    // This process's record is stale: the refusal makes it read the device's again.
    reopen_as_new_process(&mut rig, "own-run");
    let run = rig.run(Body::ReadFirmwareVersion(ReadFirmwareVersion {}));
    assert!(
        matches!(run.response.outcome, Some(Outcome::FirmwareVersion(_))),
        "{:?} {:?}",
        run.response,
        run.logs
    );
    assert!(
        run.logs
            .iter()
            .any(|line| line.contains("reading the device's frame counter")),
        "{:?}",
        run.logs
    );
}

/// Sends a 6.15.1 of a new authentication key whose answer (or request) is lost.
fn unanswered_transfer(rig: &mut Rig, new_authentication: [u8; 16]) {
    let master = rig.device().security().keys().master.0;
    let keys = vec![KeyUpdate {
        kind: KeyKind::Authentication.into(),
        wrapped_key: wrap_key(&master, &new_authentication).unwrap().to_vec(),
    }];
    let run = rig.run(Body::UpdateSecurityCredentials(UpdateSecurityCredentials {
        keys,
    }));
    assert!(
        matches!(error(&run.response), Kind::Timeout(_)),
        "{:?}",
        run.response
    );
}

#[test]
fn keys_a_device_applied_without_answering_are_tried_and_kept() {
    let mut rig = Rig::new("active", "south-active.esme", HLS_CLIENT_SAP);
    reopen_as_new_process(&mut rig, "lost-transfer-answer");
    let original = rig.record();
    assert!(matches!(read(&mut rig), Outcome::FirmwareVersion(_)));
    let new_authentication = [0x77u8; 16];
    rig.lose_answers = true;
    unanswered_transfer(&mut rig, new_authentication);
    rig.lose_answers = false;
    assert_eq!(
        rig.device().security().keys().authentication.0,
        new_authentication,
        "the device applied the transfer"
    );
    let run = rig.run(Body::ReadFirmwareVersion(ReadFirmwareVersion {}));
    assert!(
        matches!(run.response.outcome, Some(Outcome::FirmwareVersion(_))),
        "{:?} {:?}",
        run.response,
        run.logs
    );
    assert!(
        run.logs
            .iter()
            .any(|line| line.contains("using them from now on")),
        "{:?}",
        run.logs
    );
    // A later session of the process, opened with the devices file as it was (the old keys),
    // starts with the confirmed ones.
    let mut config = support::session_config(&original, HLS_CLIENT_SAP);
    config.device_id = format!("{}@lost-transfer-answer", original.name);
    rig.reopen(config);
    let run = rig.run(Body::ReadFirmwareVersion(ReadFirmwareVersion {}));
    assert!(
        matches!(run.response.outcome, Some(Outcome::FirmwareVersion(_))),
        "{:?} {:?}",
        run.response,
        run.logs
    );
    assert!(
        !run.logs
            .iter()
            .any(|line| line.contains("trying the other keys")),
        "{:?}",
        run.logs
    );
}

#[test]
fn keys_of_a_transfer_that_never_arrived_are_dropped_for_the_old_ones() {
    let mut rig = Rig::new("active", "south-active.esme", HLS_CLIENT_SAP);
    reopen_as_new_process(&mut rig, "lost-transfer-request");
    assert!(matches!(read(&mut rig), Outcome::FirmwareVersion(_)));
    let before = rig.device().security().keys().authentication.0;
    rig.mute = true;
    unanswered_transfer(&mut rig, [0x78u8; 16]);
    rig.mute = false;
    assert_eq!(rig.device().security().keys().authentication.0, before);
    let run = rig.run(Body::ReadFirmwareVersion(ReadFirmwareVersion {}));
    assert!(
        matches!(run.response.outcome, Some(Outcome::FirmwareVersion(_))),
        "{:?} {:?}",
        run.response,
        run.logs
    );
    assert!(
        run.logs
            .iter()
            .any(|line| line.contains("did not take effect")),
        "{:?}",
        run.logs
    );
    // Settled: the next request associates without trying keys.
    let run = rig.run(Body::ReadFirmwareVersion(ReadFirmwareVersion {}));
    assert!(
        !run.logs
            .iter()
            .any(|line| line.contains("trying the other keys"))
    );
}

#[test]
fn close_session_releases_the_association_and_answers_session_closed() {
    let mut rig = Rig::new("active", "south-active.esme", HLS_CLIENT_SAP);
    assert!(matches!(read(&mut rig), Outcome::FirmwareVersion(_)));
    assert!(rig.device_associated());
    rig.close_session();
    assert!(!rig.device_associated(), "the device saw the release");
    assert!(
        rig.logs.iter().any(|line| line == "association released"),
        "{:?}",
        rig.logs
    );
}

#[test]
fn close_session_without_an_association_sends_nothing() {
    let mut rig = Rig::new("active", "south-active.esme", HLS_CLIENT_SAP);
    rig.mute = true;
    assert_eq!(rig.close_session(), 0);
    assert_eq!(rig.timers_armed(), 0);
}

#[test]
fn an_unanswered_release_still_closes_after_the_exchange_timeout() {
    let mut rig = Rig::new("active", "south-active.esme", HLS_CLIENT_SAP);
    assert!(matches!(read(&mut rig), Outcome::FirmwareVersion(_)));
    rig.mute = true;
    let took = rig.close_session();
    assert!(took > 0, "it waited for the RLRE");
    assert!(
        rig.logs
            .iter()
            .any(|line| line.contains("closing (Releasing) failed")),
        "{:?}",
        rig.logs
    );
    // Closing is over: a request is refused only while it runs.
    rig.mute = false;
    assert!(matches!(read(&mut rig), Outcome::FirmwareVersion(_)));
}
