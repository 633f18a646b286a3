//! Application-level interoperability over HDLC, direction 1: OUR `ClientConnection`
//! (`HdlcClient` + `ClientAssociation`) against THEIR meter, an implementation we did not write.
//!
//! `dlms-cosem-rs` 0.1 has no byte-stream HDLC server station, so their meter is assembled from
//! their public pieces exactly as their cookbook's HDLC recipe does (`interop_support`):
//!
//! * link layer — `transport::hdlc::Framer::next_frame` (flag/length/HCS/FCS/address parsing of
//!   every byte we send), `Connection::handle` in `Role::Server` (SNRM parameter negotiation,
//!   N(S) sequencing, `Reassembler` for our segmented APDUs, DISC), and for every byte we receive
//!   `Connection::acknowledge` (UA with their negotiated `Parameters`), `Connection::poll` (RR
//!   asking for our next segment, or answering our RR poll), `Connection::segmenter` +
//!   `Connection::next_frame` (their I-frames, segmented to the negotiated size);
//! * application layer — `server::Server::handle` with `ServerConfig { mechanism:
//!   AuthMechanism::Low, password }` for AARQ→AARE (LLS, InitiateRequest/Response),
//!   GET-normal, GET-next with their block transfer (`get-response-with-datablock`) and
//!   RLRQ→RLRE; values come from their `ObjectStore` and are encoded with their
//!   `axdr::Data`/`DataBuf` encoders. With `AuthMechanism::HighGmac` and
//!   `SecurityPolicy::authenticated_encrypted(SecuritySuite::Suite0)` also their 4-pass HLS
//!   (StoC from `RustCryptoProvider::with_rng`, GMAC check of our f(StoC), their f(CtoS)) and
//!   their AES-GCM glo- ciphering of every xDLMS APDU.
//!
//! Their link layer does not limit a burst to the negotiated window (their segmenter sends
//! every segment of an LSDU back to back, P/F on the last) and never retransmits; our receiver
//! accepts in-sequence frames beyond its window, so that is not exercised as an error here.
//!
//! The LLC headers are checked against their `LLC_REQUEST` and produced from their
//! `LLC_RESPONSE`. Their `Framer::discarded()` staying at zero proves every byte we sent was
//! part of a frame they accepted.
#![allow(clippy::unwrap_used)]

mod interop_support;

use dlms_cosem_rs::acse::AuthMechanism;
use dlms_cosem_rs::axdr::{Data as TheirData, DataBuf};
use dlms_cosem_rs::codec::{Encode, Writer};
use dlms_cosem_rs::cosem::AttributeAccess;
use dlms_cosem_rs::security::{
    FixedRandom, KeyRing, RustCryptoProvider, Secret, SecurityPolicy, SecuritySuite, SystemTitle,
};
use dlms_cosem_rs::server::{ObjectStore, Server, ServerConfig, ServerState, StoreResult};
use dlms_cosem_rs::transport::hdlc::{
    Control, Event, LLC_REQUEST, LLC_RESPONSE, LinkState, Parameters,
};
use dlms_cosem_rs::xdlms::{DataAccessResult as TheirResult, SelectiveAccess as TheirAccess};
use interop_support::*;
use meterlab_dlms::apdu::{AcseDiagnostic, AssociationResult, DataAccessResult};
use meterlab_dlms::association::{
    ClientAssociation, ClientAuthentication, ClientConfig, ClientEvent, SecurityMaterial,
};
use meterlab_dlms::axdr::Data;
use meterlab_dlms::connection::{ClientConnection, ClientConnectionEvent, ClientTransport};
use meterlab_dlms::cosem::classes::ScalerUnit;
use meterlab_dlms::cosem::{AttributeDescriptor, class_id};
use meterlab_dlms::hdlc::{
    DisconnectReason, HdlcAddress, HdlcClient, HdlcConfig, HdlcParameters, HdlcStats,
};
use meterlab_dlms::obis::Obis;
use meterlab_dlms::security::{Keys, SecurityControl};

const PASSWORD: &[u8] = b"12345678";

/// Their meter's objects: the energy register (value, scaler_unit) and the load profile.
struct TheirObjects;

impl ObjectStore for TheirObjects {
    fn get_attribute(
        &self,
        class_id: u16,
        logical_name: dlms_cosem_rs::obis::Obis,
        attribute_id: i8,
        _: Option<TheirAccess<'_>>,
        w: &mut dyn Writer,
    ) -> StoreResult<()> {
        let encoded = match (class_id, *logical_name.as_bytes(), attribute_id) {
            (3, ENERGY, 2) => TheirData::DoubleLongUnsigned(ENERGY_VALUE).encode(w),
            (3, ENERGY, 3) => DataBuf::Structure(vec![
                DataBuf::Integer(ENERGY_SCALER),
                DataBuf::Enum(ENERGY_UNIT),
            ])
            .encode(w),
            (7, LOAD_PROFILE, 2) => their_profile_buffer().encode(w),
            _ => return Err(TheirResult::ObjectUndefined),
        };
        encoded.map_err(|_| TheirResult::OtherReason)
    }

    fn attribute_access(&self, _: u16, _: dlms_cosem_rs::obis::Obis, _: i8) -> AttributeAccess {
        AttributeAccess::READ
    }
}

/// Their meter: their HDLC station in front of their `Server`.
struct TheirMeter {
    station: TheirStation,
    server: Box<Server<TheirObjects, RustCryptoProvider<FixedRandom>, 8192>>,
    /// RR polls from us answered with their RR (we asked before they had anything to say).
    idle_polls: usize,
    /// RRs they sent asking for our next segment.
    segment_polls: usize,
}

impl TheirMeter {
    fn new(parameters: Parameters, config: ServerConfig, keys: KeyRing) -> Self {
        Self {
            station: TheirStation::server(parameters),
            server: Box::new(Server::new(
                config,
                TheirObjects,
                // Their HLS StoC challenge comes from this source.
                RustCryptoProvider::with_rng(keys, FixedRandom(0x5A)),
            )),
            idle_polls: 0,
            segment_polls: 0,
        }
    }

    /// Everything their meter sends in answer to `bytes` from us.
    fn respond(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut replies = Vec::new();
        for heard in self.station.receive(bytes) {
            match heard.event {
                Event::AcknowledgeRequired => replies.push(self.station.acknowledge()),
                Event::PollRequired => {
                    self.segment_polls += 1;
                    replies.push(self.station.poll());
                }
                Event::Lsdu => {
                    let lsdu = heard.lsdu.unwrap();
                    let apdu = lsdu
                        .strip_prefix(&LLC_REQUEST[..])
                        .expect("our I-frames start with their LLC_REQUEST header");
                    let mut out = vec![0u8; 8192];
                    let n = self.server.handle(apdu, &mut out).unwrap();
                    assert!(n > 0, "their server answers every request we send");
                    replies.extend(self.station.frames_for(&with_llc(LLC_RESPONSE, &out[..n])));
                }
                Event::Idle if matches!(heard.control, Control::Rr { pf: true, .. }) => {
                    self.idle_polls += 1;
                    replies.push(self.station.poll());
                }
                Event::Idle => {}
                other => panic!("their meter got {other:?} from {:?}", heard.control),
            }
        }
        replies
    }
}

struct Bench {
    client: ClientConnection,
    meter: TheirMeter,
    now: u64,
    events: Vec<ClientConnectionEvent>,
}

impl Bench {
    /// LLS: we send `PASSWORD`, their meter expects `password`.
    fn new(ours: HdlcParameters, theirs: Parameters, password: &[u8]) -> Self {
        let association = ClientConfig {
            authentication: ClientAuthentication::Lls {
                password: PASSWORD.to_vec(),
            },
            ..ClientConfig::default()
        };
        let meter = ServerConfig {
            mechanism: AuthMechanism::Low,
            password: Some(Secret::new(password).unwrap()),
            ..ServerConfig::default()
        };
        Self::with(ours, theirs, association, meter, KeyRing::default())
    }

    fn with(
        ours: HdlcParameters,
        theirs: Parameters,
        association: ClientConfig,
        meter: ServerConfig,
        keys: KeyRing,
    ) -> Self {
        let hdlc = HdlcClient::new(
            HdlcConfig {
                parameters: ours,
                ..HdlcConfig::default()
            },
            HdlcAddress::client(CLIENT_SAP).unwrap(),
            HdlcAddress::server(SERVER_LOGICAL, Some(SERVER_PHYSICAL)).unwrap(),
        );
        let association = ClientAssociation::new(association).unwrap();
        Self {
            client: ClientConnection::new(ClientTransport::Hdlc(hdlc), association),
            meter: TheirMeter::new(theirs, meter, keys),
            now: 0,
            events: Vec::new(),
        }
    }

    /// Carries bytes both ways (and fires our time-outs) until `done` holds.
    fn run_until(&mut self, done: impl Fn(&[ClientConnectionEvent]) -> bool) {
        for _ in 0..100_000 {
            let mut moved = false;
            while let Some(bytes) = self.client.poll_transmit() {
                moved = true;
                self.now += 1;
                for reply in self.meter.respond(&bytes) {
                    self.client.handle_bytes(&reply, self.now);
                }
            }
            self.events
                .extend(std::iter::from_fn(|| self.client.poll_event()));
            if done(&self.events) {
                return;
            }
            if !moved {
                let at = self
                    .client
                    .poll_timeout()
                    .unwrap_or_else(|| panic!("stalled: {:?}", self.events));
                self.now = self.now.max(at);
                self.client.handle_timeout(self.now);
            }
        }
        panic!("never finished: {:?}", self.events);
    }

    fn associate(&mut self) {
        self.client.connect(self.now).unwrap();
        self.run_until(|events| {
            events.iter().any(|e| {
                matches!(
                    e,
                    ClientConnectionEvent::Association(
                        ClientEvent::Associated { .. } | ClientEvent::Rejected { .. }
                    )
                )
            })
        });
    }

    fn get(&mut self, class: u16, obis: [u8; 6], attribute: i8) -> Result<Data, DataAccessResult> {
        let [a, b, c, d, e, f] = obis;
        let descriptor = AttributeDescriptor::new(class, Obis::new(a, b, c, d, e, f), attribute);
        let id = self.client.get(self.now, descriptor, None).unwrap();
        let completed = |events: &[ClientConnectionEvent]| {
            events.iter().find_map(|e| match e {
                ClientConnectionEvent::Association(ClientEvent::GetCompleted {
                    invoke_id,
                    result,
                }) if *invoke_id == id => Some(result.clone()),
                _ => None,
            })
        };
        self.run_until(|events| completed(events).is_some());
        completed(&self.events).unwrap()
    }

    fn hdlc_stats(&self) -> HdlcStats {
        match self.client.transport() {
            ClientTransport::Hdlc(hdlc) => hdlc.stats(),
            ClientTransport::Wrapper(_) => unreachable!("HDLC bench"),
        }
    }

    fn negotiated(&self) -> HdlcParameters {
        match self.client.transport() {
            ClientTransport::Hdlc(hdlc) => hdlc.parameters(),
            ClientTransport::Wrapper(_) => unreachable!("HDLC bench"),
        }
    }

    /// Nothing lost, nothing retransmitted, nothing they could not parse.
    fn assert_clean(&self) {
        let stats = self.hdlc_stats();
        assert_eq!(
            (stats.retransmissions, stats.timeouts, stats.frame_errors),
            (0, 0, 0),
            "{stats:?}"
        );
        assert_eq!(
            self.meter.station.discarded(),
            0,
            "their framer discarded bytes"
        );
        assert!(
            !self
                .events
                .iter()
                .any(|e| matches!(e, ClientConnectionEvent::Error(_))),
            "{:?}",
            self.events
        );
    }
}

fn expected_profile() -> Data {
    Data::Array(
        (0..PROFILE_ROWS)
            .map(|row| {
                Data::Structure(vec![
                    Data::OctetString(profile_timestamp(row).to_vec()),
                    Data::DoubleLongUnsigned(profile_value(row)),
                ])
            })
            .collect(),
    )
}

#[test]
fn our_client_associates_with_lls_reads_a_register_and_releases() {
    let mut bench = Bench::new(HdlcParameters::default(), Parameters::default(), PASSWORD);
    bench.associate();
    assert!(
        matches!(
            bench.events[..],
            [
                ClientConnectionEvent::LinkUp,
                ClientConnectionEvent::Association(ClientEvent::Associated { .. })
            ]
        ),
        "{:?}",
        bench.events
    );
    assert_eq!(bench.meter.server.state(), ServerState::Associated);

    assert_eq!(
        bench.get(class_id::REGISTER, ENERGY, 2),
        Ok(Data::DoubleLongUnsigned(ENERGY_VALUE))
    );
    let scaler_unit = bench.get(class_id::REGISTER, ENERGY, 3).unwrap();
    assert_eq!(
        ScalerUnit::from_data(&scaler_unit),
        Some(ScalerUnit {
            scaler: ENERGY_SCALER,
            unit: ENERGY_UNIT
        })
    );
    assert_eq!(
        bench.get(class_id::REGISTER, [9, 9, 9, 9, 9, 9], 2),
        Err(DataAccessResult::ObjectUndefined)
    );

    bench.client.release(bench.now).unwrap();
    bench.run_until(|events| {
        events
            .iter()
            .any(|e| matches!(e, ClientConnectionEvent::Association(ClientEvent::Released)))
    });
    assert_ne!(bench.meter.server.state(), ServerState::Associated);
    bench.client.disconnect(bench.now).unwrap();
    bench.run_until(|events| {
        events
            .iter()
            .any(|e| matches!(e, ClientConnectionEvent::LinkDown(_)))
    });
    assert!(
        bench
            .events
            .contains(&ClientConnectionEvent::LinkDown(DisconnectReason::Local))
    );
    assert_eq!(bench.meter.station.link.state(), LinkState::Disconnected);
    bench.assert_clean();
    assert_eq!(bench.meter.idle_polls, 0, "every answer came straight back");
}

/// Their block transfer (3 `get-response-with-datablock` APDUs under our 1024-byte PDU size),
/// each APDU split by their segmenter into 128-byte I-frames that we reassemble.
#[test]
fn our_client_reads_a_long_load_profile_from_their_meter() {
    let mut bench = Bench::new(HdlcParameters::default(), Parameters::default(), PASSWORD);
    bench.associate();
    let received_before = bench.hdlc_stats().frames_received;
    assert_eq!(
        bench.get(class_id::PROFILE_GENERIC, LOAD_PROFILE, 2),
        Ok(expected_profile())
    );
    let frames = bench.hdlc_stats().frames_received - received_before;
    // ~2.1 kB of profile in 128-byte information fields.
    assert!(frames >= 17, "only {frames} frames carried the profile");
    bench.assert_clean();
}

/// Small information fields and a window of 7 on both sides: our AARQ and GET requests are
/// segmented (bursts of up to 7 I-frames, P on the last) into their reassembler, and their
/// segmented responses come back to ours.
#[test]
fn segmentation_both_ways_with_small_frames_and_a_window_of_seven() {
    let ours = HdlcParameters {
        max_info_tx: 24,
        max_info_rx: 24,
        window_tx: 7,
        window_rx: 7,
    };
    let theirs = Parameters {
        max_info_tx: 24,
        max_info_rx: 24,
        window_tx: 7,
        window_rx: 7,
    };
    let mut bench = Bench::new(ours, theirs, PASSWORD);
    bench.associate();
    assert_eq!(bench.negotiated(), ours);
    assert_eq!(bench.meter.station.link.parameters(), theirs);
    assert_eq!(
        bench.get(class_id::REGISTER, ENERGY, 2),
        Ok(Data::DoubleLongUnsigned(ENERGY_VALUE))
    );
    assert_eq!(
        bench.get(class_id::PROFILE_GENERIC, LOAD_PROFILE, 2),
        Ok(expected_profile())
    );
    assert_eq!(
        bench.meter.segment_polls, 0,
        "with a window of 7 our multi-frame requests fit one burst each"
    );
    bench.assert_clean();
}

/// Window 1 and small frames: after each of our segments (P set) their link asks for the
/// next with RR, which our client must act on.
#[test]
fn our_segmented_requests_follow_their_rr_polls_with_a_window_of_one() {
    let ours = HdlcParameters {
        max_info_tx: 16,
        max_info_rx: 16,
        ..HdlcParameters::default()
    };
    let theirs = Parameters {
        max_info_tx: 16,
        max_info_rx: 16,
        ..Parameters::default()
    };
    let mut bench = Bench::new(ours, theirs, PASSWORD);
    bench.associate();
    assert!(
        bench.meter.segment_polls >= 3,
        "the AARQ needs several 16-byte segments, each polled for: {}",
        bench.meter.segment_polls
    );
    assert_eq!(
        bench.get(class_id::REGISTER, ENERGY, 2),
        Ok(Data::DoubleLongUnsigned(ENERGY_VALUE))
    );
    bench.assert_clean();
}

#[test]
fn their_meter_rejects_our_wrong_lls_password_with_diagnostic_13() {
    let mut bench = Bench::new(
        HdlcParameters::default(),
        Parameters::default(),
        b"other-pw",
    );
    bench.associate();
    let rejected = bench.events.iter().find_map(|e| match e {
        ClientConnectionEvent::Association(ClientEvent::Rejected {
            result, diagnostic, ..
        }) => Some((*result, *diagnostic)),
        _ => None,
    });
    assert_eq!(
        rejected,
        Some((
            AssociationResult::RejectedPermanent,
            AcseDiagnostic::User(AcseDiagnostic::USER_AUTHENTICATION_FAILURE)
        ))
    );
    assert_ne!(bench.meter.server.state(), ServerState::Associated);
}

const GUEK: [u8; 16] = *b"0123456789ABCDEF";
const GAK: [u8; 16] = *b"authentication-k";
const CLIENT_TITLE: [u8; 8] = *b"MLB\x00\x00\x00\x00\x01";
const METER_TITLE: [u8; 8] = *b"LGZ\x00\x12\x34\x56\x78";

/// HLS-GMAC (mechanism 5, suite 0) and glo- ciphering (authenticated and encrypted) against
/// their `Server` with `SecurityPolicy::authenticated_encrypted(Suite0)`: their GMAC check of
/// our f(StoC), our check of their f(CtoS), their AES-GCM on every xDLMS APDU both ways
/// (including the ciphered InitiateRequest/Response and the blocked, segmented profile).
#[test]
fn our_client_hls_gmac_ciphered_association_with_their_meter() {
    let association = ClientConfig {
        authentication: ClientAuthentication::HlsGmac {
            client_challenge: b"our-CtoS-challng".to_vec(),
        },
        security: Some(SecurityMaterial {
            system_title: CLIENT_TITLE,
            keys: Keys {
                encryption: GUEK,
                authentication: GAK,
            },
            invocation_counter: 1,
        }),
        cipher: Some(SecurityControl::AUTHENTICATED_ENCRYPTED),
        ..ClientConfig::default()
    };
    let meter = ServerConfig {
        system_title: Some(SystemTitle::new(METER_TITLE)),
        mechanism: AuthMechanism::HighGmac,
        security: SecurityPolicy::authenticated_encrypted(SecuritySuite::Suite0),
        ..ServerConfig::default()
    };
    let mut bench = Bench::with(
        HdlcParameters::default(),
        Parameters::default(),
        association,
        meter,
        KeyRing::new(GUEK, GAK),
    );
    bench.associate();
    assert!(
        bench.events.iter().any(|e| matches!(
            e,
            ClientConnectionEvent::Association(ClientEvent::Associated { .. })
        )),
        "{:?}",
        bench.events
    );
    assert_eq!(bench.meter.server.state(), ServerState::Associated);
    assert_eq!(
        bench.client.association().server_system_title(),
        Some(METER_TITLE)
    );
    assert_eq!(
        bench.get(class_id::REGISTER, ENERGY, 2),
        Ok(Data::DoubleLongUnsigned(ENERGY_VALUE))
    );
    assert_eq!(
        bench.get(class_id::PROFILE_GENERIC, LOAD_PROFILE, 2),
        Ok(expected_profile())
    );
    bench.client.release(bench.now).unwrap();
    bench.run_until(|events| {
        events
            .iter()
            .any(|e| matches!(e, ClientConnectionEvent::Association(ClientEvent::Released)))
    });
    bench.assert_clean();
}
