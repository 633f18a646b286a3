//! The `meterlab-dlms` client against the emulator's sessions, in memory (a quinn-style pair):
//! association with each mechanism, reads, selective access, ACTION, key migration, faults.
#![allow(clippy::unwrap_used)]

use meterlab_devices::Key128;
use meterlab_dlms::apdu::{AcseDiagnostic, DataAccessResult};
use meterlab_dlms::association::{
    AssociationError, ClientAssociation, ClientAuthentication, ClientConfig, ClientEvent,
    SecurityMaterial,
};
use meterlab_dlms::axdr::Data;
use meterlab_dlms::cosem::{AttributeDescriptor, MethodDescriptor, SelectiveAccess};
use meterlab_dlms::security::wrap_key;
use meterlab_dlms::security::{Keys, SecurityControl};
use meterlab_emulator::device::range_parameters;
use meterlab_emulator::faults::FaultConfig;
use meterlab_emulator::hub::{
    Emulation, HLS_CLIENT_SAP, LLS_CLIENT_SAP, PUBLIC_CLIENT_SAP, client_system_title,
};
use meterlab_emulator::objects::ProfileKind;
use meterlab_emulator::scenario::Scenario;
use meterlab_emulator::serve::session::DeviceSessions;
use meterlab_emulator::{LogicalDevice, Obis, SimTime};

const START: SimTime = SimTime::from_unix_secs(1_761_955_200);

struct Pair {
    client: ClientAssociation,
    sessions: DeviceSessions,
    device: LogicalDevice,
    faults: FaultConfig,
    client_sap: u8,
    now_ms: u64,
    /// What the client refused of the emulator's answers: dropping a pair with any fails the
    /// test, so no answer is silently discarded.
    client_errors: Vec<AssociationError>,
}

impl Drop for Pair {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            assert!(
                self.client_errors.is_empty(),
                "the client refused answers the test did not assert: {:?}",
                self.client_errors
            );
        }
    }
}

impl Pair {
    fn new(device: LogicalDevice, client_sap: u8, config: ClientConfig) -> Self {
        Self {
            client: ClientAssociation::new(config).unwrap(),
            sessions: DeviceSessions::default(),
            device,
            faults: FaultConfig::NONE,
            client_sap,
            now_ms: 1_000,
            client_errors: Vec::new(),
        }
    }

    fn now(&self) -> SimTime {
        START.plus_millis(i64::try_from(self.now_ms).unwrap())
    }

    /// Moves APDUs both ways until both sides are quiet; returns the client's events.
    fn drive(&mut self) -> Vec<ClientEvent> {
        let mut events = Vec::new();
        loop {
            let mut moved = false;
            while let Some(request) = self.client.poll_transmit() {
                moved = true;
                let now = self.now();
                let served = self.sessions.handle(
                    &mut self.device,
                    &self.faults,
                    self.client_sap,
                    2,
                    &request,
                    self.now_ms,
                    now,
                );
                for response in served.responses {
                    if let Err(error) = self.client.handle_apdu(self.now_ms, &response) {
                        self.client_errors.push(error);
                    }
                }
            }
            while let Some(event) = self.client.poll_event() {
                events.push(event);
            }
            if !moved {
                return events;
            }
        }
    }

    fn associate(&mut self) -> Vec<ClientEvent> {
        self.client.connect(self.now_ms).unwrap();
        self.drive()
    }

    fn get(
        &mut self,
        class_id: u16,
        obis: [u8; 6],
        attribute: i8,
        access: Option<SelectiveAccess>,
    ) -> Result<Data, DataAccessResult> {
        let descriptor = AttributeDescriptor {
            class_id,
            instance: Obis(obis),
            attribute_id: attribute,
        };
        self.client.get(self.now_ms, descriptor, access).unwrap();
        match self.drive().pop() {
            Some(ClientEvent::GetCompleted { result, .. }) => result,
            other => panic!("get gave {other:?}"),
        }
    }

    fn action(
        &mut self,
        class_id: u16,
        obis: [u8; 6],
        method: i8,
        parameters: Data,
    ) -> DataAccessResult {
        let descriptor = MethodDescriptor {
            class_id,
            instance: Obis(obis),
            method_id: method,
        };
        self.client
            .action(self.now_ms, descriptor, Some(parameters))
            .unwrap();
        match self.drive().pop() {
            Some(ClientEvent::ActionCompleted { result, .. }) => result,
            other => panic!("action gave {other:?}"),
        }
    }
}

fn emulation() -> (Scenario, Emulation) {
    let scenario = Scenario::generated(1);
    let emulation = Emulation::build(&scenario, START).unwrap();
    (scenario, emulation)
}

fn esme() -> LogicalDevice {
    emulation().1.hubs[0].devices[1].device.clone()
}

fn lls(password: &str) -> ClientConfig {
    ClientConfig {
        authentication: ClientAuthentication::Lls {
            password: password.as_bytes().to_vec(),
        },
        ..ClientConfig::default()
    }
}

fn hls(device: &LogicalDevice, ciphered: bool) -> ClientConfig {
    let keys = device.security().keys();
    ClientConfig {
        authentication: ClientAuthentication::HlsGmac {
            client_challenge: b"CtoS-challenge-1".to_vec(),
        },
        security: Some(SecurityMaterial {
            system_title: client_system_title("smso-default").0,
            keys: Keys {
                encryption: keys.encryption.0,
                authentication: keys.authentication.0,
            },
            invocation_counter: 1,
        }),
        cipher: ciphered.then_some(SecurityControl::AUTHENTICATED_ENCRYPTED),
        ..ClientConfig::default()
    }
}

fn associated(events: &[ClientEvent]) -> bool {
    events
        .iter()
        .any(|event| matches!(event, ClientEvent::Associated { .. }))
}

const LDN: [u8; 6] = [0, 0, 42, 0, 0, 255];
const ENERGY: [u8; 6] = [1, 0, 1, 8, 0, 255];
const LOAD_PROFILE: [u8; 6] = [1, 0, 99, 1, 0, 255];
const DISCONNECT: [u8; 6] = [0, 0, 96, 3, 10, 255];
const SECURITY_SETUP: [u8; 6] = [0, 0, 43, 0, 0, 255];

#[test]
fn lls_client_reads_name_energy_profile_and_disconnects() {
    let mut pair = Pair::new(esme(), LLS_CLIENT_SAP, lls("00000001"));
    assert!(associated(&pair.associate()));
    assert_eq!(
        pair.get(1, LDN, 2, None),
        Ok(Data::OctetString(b"MLBE000000000001".to_vec()))
    );
    assert_eq!(
        pair.get(3, ENERGY, 3, None),
        Ok(Data::Structure(vec![Data::Integer(0), Data::Enum(30)]))
    );
    // 400 W for the one day of history.
    assert_eq!(
        pair.get(3, ENERGY, 2, None),
        Ok(Data::DoubleLongUnsigned(9_600))
    );

    let clock = pair.device.capture_objects(ProfileKind::LoadProfile)[0];
    let range = range_parameters(clock, START.plus_millis(-3 * 3_600_000), START);
    let access = SelectiveAccess {
        selector: 1,
        parameters: range,
    };
    let Ok(Data::Array(rows)) = pair.get(7, LOAD_PROFILE, 2, Some(access)) else {
        panic!("profile")
    };
    assert_eq!(rows.len(), 7, "half hours from -3 h to 0 inclusive");

    assert_eq!(
        pair.action(70, DISCONNECT, 1, Data::Integer(0)),
        DataAccessResult::Success
    );
    assert_eq!(pair.get(70, DISCONNECT, 2, None), Ok(Data::Boolean(false)));
    assert_eq!(
        pair.get(9, LDN, 2, None),
        Err(DataAccessResult::ObjectClassInconsistent)
    );
}

#[test]
fn wrong_lls_password_is_rejected_with_diagnostic_13_and_logged() {
    let mut pair = Pair::new(esme(), LLS_CLIENT_SAP, lls("guess"));
    let events = pair.associate();
    assert!(
        events.iter().any(|event| matches!(
            event,
            ClientEvent::Rejected {
                diagnostic: AcseDiagnostic::User(13),
                ..
            }
        )),
        "{events:?}"
    );
    assert_eq!(pair.device.events().last().unwrap().code.code(), 46);
}

#[test]
fn public_client_reads_identity_but_not_energy() {
    let mut pair = Pair::new(esme(), PUBLIC_CLIENT_SAP, ClientConfig::default());
    assert!(associated(&pair.associate()));
    assert!(pair.get(1, LDN, 2, None).is_ok());
    assert_eq!(
        pair.get(3, ENERGY, 2, None),
        Err(DataAccessResult::ReadWriteDenied)
    );
    let Ok(Data::Array(objects)) = pair.get(15, [0, 0, 40, 0, 0, 255], 2, None) else {
        panic!("object list")
    };
    assert_eq!(
        objects.len(),
        5,
        "LDN, clock, firmware version, the invocation counter and the association itself"
    );
    // The frame counter a client needs to start above is public, and a new device has
    // accepted none.
    assert_eq!(
        pair.get(1, [0, 0, 43, 1, 0, 255], 2, None),
        Ok(Data::DoubleLongUnsigned(0))
    );
}

#[test]
fn hls_gmac_with_per_device_keys_plain_and_ciphered() {
    for ciphered in [false, true] {
        let device = esme();
        let config = hls(&device, ciphered);
        let mut pair = Pair::new(device, HLS_CLIENT_SAP, config);
        if ciphered {
            // Make the device's HLS client demand ciphering.
            let (mut scenario, _) = emulation();
            scenario.smsos[0].ciphered = true;
            pair.device = Emulation::build(&scenario, START).unwrap().hubs[0].devices[1]
                .device
                .clone();
        }
        let events = pair.associate();
        assert!(associated(&events), "ciphered={ciphered}: {events:?}");
        assert_eq!(
            pair.get(3, ENERGY, 2, None),
            Ok(Data::DoubleLongUnsigned(9_600))
        );
    }
}

#[test]
fn after_key_transfer_old_keys_are_refused_and_new_ones_work() {
    let device = esme();
    let old_config = hls(&device, false);
    let master = device.security().keys().master;
    let mut pair = Pair::new(device, HLS_CLIENT_SAP, old_config.clone());
    assert!(associated(&pair.associate()));
    let new_auth = Key128([0x5A; 16]);
    let new_enc = Key128([0xA5; 16]);
    let entry = |id: u8, key: &Key128| {
        Data::Structure(vec![
            Data::Enum(id),
            Data::OctetString(wrap_key(&master.0, &key.0).expect("wraps").to_vec()),
        ])
    };
    let result = pair.action(
        64,
        SECURITY_SETUP,
        2,
        Data::Array(vec![entry(0, &new_enc), entry(2, &new_auth)]),
    );
    assert_eq!(result, DataAccessResult::Success);

    // A new association with the SMSO's old keys fails HLS; the new keys succeed.
    let device = pair.device.clone();
    let mut old = Pair::new(device.clone(), HLS_CLIENT_SAP, old_config.clone());
    let events = old.associate();
    assert!(!associated(&events), "{events:?}");
    let mut new_config = old_config;
    new_config.security.as_mut().unwrap().keys = Keys {
        encryption: new_enc.0,
        authentication: new_auth.0,
    };
    let mut new = Pair::new(device, HLS_CLIENT_SAP, new_config);
    assert!(associated(&new.associate()));
}

#[test]
fn refused_associations_and_unknown_clients_get_a_rejection() {
    let mut pair = Pair::new(esme(), LLS_CLIENT_SAP, lls("00000001"));
    pair.faults.refuse_associations = true;
    let events = pair.associate();
    assert!(
        events
            .iter()
            .any(|event| matches!(event, ClientEvent::Rejected { .. })),
        "{events:?}"
    );
    let mut stranger = Pair::new(esme(), 77, ClientConfig::default());
    let events = stranger.associate();
    assert!(
        events
            .iter()
            .any(|event| matches!(event, ClientEvent::Rejected { .. })),
        "{events:?}"
    );
}

#[test]
fn queued_alerts_are_pushed_as_event_notifications() {
    let mut device = esme();
    device.tamper(START);
    let mut pair = Pair::new(device, LLS_CLIENT_SAP, lls("00000001"));
    // Pushed as soon as the association is open, right after the AARE.
    let events = pair.associate();
    let notification = events.iter().find_map(|event| match event {
        ClientEvent::EventNotification(notification) => Some(notification.clone()),
        _ => None,
    });
    let notification = notification.expect("tamper alert pushed");
    assert_eq!(notification.value, Data::Unsigned(40));
    assert_eq!(pair.device.pending_alerts(), 0);
}

#[test]
fn garbage_apdus_never_panic_and_leave_the_association_usable() {
    let mut pair = Pair::new(esme(), LLS_CLIENT_SAP, lls("00000001"));
    assert!(associated(&pair.associate()));
    for garbage in [
        &[][..],
        &[0xC0],
        &[0xC0, 0x01, 0xC1, 0x00, 0x03],
        &[0xFF; 40],
        &[0x60, 0x80, 0x01],
    ] {
        let now = pair.now();
        let _ = pair.sessions.handle(
            &mut pair.device,
            &FaultConfig::NONE,
            LLS_CLIENT_SAP,
            2,
            garbage,
            5,
            now,
        );
    }
    assert!(pair.get(1, LDN, 2, None).is_ok());
}

#[test]
fn a_replayed_invocation_counter_is_refused_in_a_later_association() {
    let (mut scenario, _) = emulation();
    scenario.smsos[0].ciphered = true;
    let device = Emulation::build(&scenario, START).unwrap().hubs[0].devices[1]
        .device
        .clone();
    let config = hls(&device, true);
    let mut first = Pair::new(device, HLS_CLIENT_SAP, config.clone());
    assert!(associated(&first.associate()));
    assert!(first.get(3, ENERGY, 2, None).is_ok());
    assert!(
        first
            .device
            .security()
            .client_counter(HLS_CLIENT_SAP)
            .is_some()
    );
    // A new connection whose client restarts its counter at 1 replays old counters.
    let mut replay = Pair::new(first.device.clone(), HLS_CLIENT_SAP, config.clone());
    assert!(
        !associated(&replay.associate()),
        "replayed counters must be refused"
    );
    let mut fresh_config = config;
    fresh_config.security.as_mut().unwrap().invocation_counter = 1_000;
    let mut fresh = Pair::new(first.device.clone(), HLS_CLIENT_SAP, fresh_config);
    assert!(associated(&fresh.associate()));
}
