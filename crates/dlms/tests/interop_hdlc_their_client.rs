//! Application-level interoperability over HDLC, direction 2: THEIR client (an implementation
//! we did not write) against OUR `ServerConnection` (`HdlcServer` + `ServerAssociation`).
//!
//! `dlms-cosem-rs` 0.1 has no byte-stream HDLC client station, so their client is their
//! application engine driven through their link pieces (`interop_support`), as their
//! cookbook's HDLC recipe does:
//!
//! * application layer — `client::ClientSession` with `ClientConfig { mechanism:
//!   AuthMechanism::Low, password }`: `associate_request` / `handle_associate_response` (AARQ,
//!   AARE with LLS), `get_request` / `get_next_block_request` / `handle_response` (GET-normal,
//!   GET-next, their decoding of our `get-response-with-datablock`), `BlockCollector`
//!   (reassembles our blocks and decodes the value with their A-XDR decoder), `release_request`
//!   (RLRQ, our RLRE → `Response::Released`); values compared as their `axdr::DataBuf`;
//!   with `AuthMechanism::HighGmac` and `SecurityPolicy::authenticated_encrypted(Suite0)` also
//!   `hls_reply_request` / `handle_hls_reply_response` and their AES-GCM on every xDLMS APDU;
//! * link layer — `Connection` in `Role::Client`: `connect` (SNRM with their `Parameters`),
//!   `Connection::segmenter` + `next_frame` (their I-frames and LLC_REQUEST header),
//!   `Connection::poll` (RR asking for our next segment when their `handle` says
//!   `PollRequired`), `disconnect` (DISC); every byte we send goes through their `Framer` and
//!   `Connection::handle` (UA parameter negotiation, N(S) checks, `Reassembler`).
#![allow(clippy::unwrap_used)]

mod interop_support;

use dlms_cosem_rs::acse::{AssociationResult, AuthMechanism, Diagnostic, UserDiagnostic};
use dlms_cosem_rs::axdr::DataBuf;
use dlms_cosem_rs::client::{
    AssociationStep, BlockCollector, ClientConfig as TheirClientConfig, ClientSession, Response,
};
use dlms_cosem_rs::security::{
    FixedRandom, KeyRing, RustCryptoProvider, Secret, SecurityPolicy, SecuritySuite, SystemTitle,
};
use dlms_cosem_rs::transport::hdlc::{Event, LLC_REQUEST, LLC_RESPONSE, LinkState, Parameters};
use dlms_cosem_rs::xdlms::AttributeDescriptor as TheirAttribute;
use interop_support::*;
use meterlab_dlms::apdu::{DataAccessResult, Mechanism};
use meterlab_dlms::association::{
    CosemObjectModel, RequestContext, SecurityMaterial, ServerAssociation, ServerAuthentication,
    ServerConfig, ServerEvent,
};
use meterlab_dlms::axdr::Data;
use meterlab_dlms::connection::{ServerConnection, ServerConnectionEvent, ServerTransport};
use meterlab_dlms::cosem::classes::ScalerUnit;
use meterlab_dlms::cosem::{AttributeDescriptor, MethodDescriptor, SelectiveAccess, class_id};
use meterlab_dlms::hdlc::{DisconnectReason, HdlcAddress, HdlcConfig, HdlcParameters, HdlcServer};
use meterlab_dlms::security::{Keys, SecurityControl};

const PASSWORD: &[u8] = b"12345678";

/// Our meter model: the energy register (value, scaler_unit) and the load profile.
struct OurObjects;

impl CosemObjectModel for OurObjects {
    fn get(
        &mut self,
        _: &RequestContext,
        a: &AttributeDescriptor,
        _: Option<&SelectiveAccess>,
    ) -> Result<Data, DataAccessResult> {
        match (a.class_id, a.instance.bytes(), a.attribute_id) {
            (class_id::REGISTER, ENERGY, 2) => Ok(Data::DoubleLongUnsigned(ENERGY_VALUE)),
            (class_id::REGISTER, ENERGY, 3) => Ok(ScalerUnit {
                scaler: ENERGY_SCALER,
                unit: ENERGY_UNIT,
            }
            .to_data()),
            (class_id::PROFILE_GENERIC, LOAD_PROFILE, 2) => Ok(Data::Array(
                (0..PROFILE_ROWS)
                    .map(|row| {
                        Data::Structure(vec![
                            Data::OctetString(profile_timestamp(row).to_vec()),
                            Data::DoubleLongUnsigned(profile_value(row)),
                        ])
                    })
                    .collect(),
            )),
            _ => Err(DataAccessResult::ObjectUndefined),
        }
    }

    fn set(
        &mut self,
        _: &RequestContext,
        _: &AttributeDescriptor,
        _: Option<&SelectiveAccess>,
        _: Data,
    ) -> Result<(), DataAccessResult> {
        Err(DataAccessResult::ReadWriteDenied)
    }

    fn action(
        &mut self,
        _: &RequestContext,
        _: &MethodDescriptor,
        _: Option<&Data>,
    ) -> Result<Option<Data>, DataAccessResult> {
        Err(DataAccessResult::ReadWriteDenied)
    }
}

struct Bench {
    server: ServerConnection,
    model: OurObjects,
    theirs: TheirStation,
    session: ClientSession<RustCryptoProvider<FixedRandom>>,
    now: u64,
    server_events: Vec<ServerConnectionEvent>,
    /// RRs their link sent asking our server for its next segment.
    segment_polls: usize,
    /// Link events their station reported (other than LSDUs and polls).
    link_events: Vec<Event>,
}

impl Bench {
    /// LLS: our server expects `PASSWORD`, their client sends `password`.
    fn new(ours: HdlcParameters, theirs: Parameters, password: &[u8]) -> Self {
        let server = ServerConfig {
            authentication: ServerAuthentication::Lls {
                password: PASSWORD.to_vec(),
            },
            ..ServerConfig::default()
        };
        let client = TheirClientConfig {
            client_sap: CLIENT_SAP,
            mechanism: AuthMechanism::Low,
            password: Some(Secret::new(password).unwrap()),
            ..TheirClientConfig::default()
        };
        Self::with(ours, theirs, server, client, KeyRing::default())
    }

    fn with(
        ours: HdlcParameters,
        theirs: Parameters,
        server: ServerConfig,
        client: TheirClientConfig,
        keys: KeyRing,
    ) -> Self {
        let hdlc = HdlcServer::new(
            HdlcConfig {
                parameters: ours,
                ..HdlcConfig::server()
            },
            HdlcAddress::server(SERVER_LOGICAL, Some(SERVER_PHYSICAL)).unwrap(),
        );
        let association = ServerAssociation::new(server).unwrap();
        Self {
            server: ServerConnection::new(ServerTransport::Hdlc(hdlc), association),
            model: OurObjects,
            theirs: TheirStation::client(theirs),
            // Their HLS CtoS challenge comes from this source.
            session: ClientSession::new(
                client,
                RustCryptoProvider::with_rng(keys, FixedRandom(0x33)),
            ),
            now: 0,
            server_events: Vec::new(),
            segment_polls: 0,
            link_events: Vec::new(),
        }
    }

    /// Sends their frames to our server and carries the answers back (their link polling for
    /// more while our server's answer is segmented); returns their LSDU, if one completed.
    fn deliver(&mut self, frames: Vec<Vec<u8>>) -> Option<Vec<u8>> {
        let mut to_server = frames;
        let mut lsdu = None;
        while !to_server.is_empty() {
            for frame in std::mem::take(&mut to_server) {
                self.now += 1;
                self.server.handle_bytes(&frame, self.now, &mut self.model);
            }
            while let Some(bytes) = self.server.poll_transmit() {
                for heard in self.theirs.receive(&bytes) {
                    match heard.event {
                        Event::PollRequired => {
                            self.segment_polls += 1;
                            to_server.push(self.theirs.poll());
                        }
                        Event::Lsdu => {
                            assert!(lsdu.is_none(), "one answer per request");
                            lsdu = heard.lsdu;
                        }
                        Event::Idle => {}
                        other => self.link_events.push(other),
                    }
                }
            }
            self.server_events
                .extend(std::iter::from_fn(|| self.server.poll_event()));
        }
        lsdu
    }

    /// One APDU of theirs through our server; their view of our answer (LLC checked).
    fn exchange(&mut self, apdu: &[u8]) -> Vec<u8> {
        let frames = self.theirs.frames_for(&with_llc(LLC_REQUEST, apdu));
        let lsdu = self
            .deliver(frames)
            .unwrap_or_else(|| panic!("our server did not answer: {:?}", self.server_events));
        lsdu.strip_prefix(&LLC_RESPONSE[..])
            .expect("our I-frames start with their LLC_RESPONSE header")
            .to_vec()
    }

    fn connect(&mut self) {
        let snrm = self.theirs.connect();
        assert_eq!(self.deliver(vec![snrm]), None);
        assert_eq!(self.link_events, [Event::Connected]);
        assert!(self.theirs.link.is_connected());
    }

    fn associate(&mut self) -> AssociationStep {
        self.connect();
        let mut out = [0u8; 1024];
        let n = self.session.associate_request(&mut out).unwrap();
        let aare = self.exchange(&out[..n]);
        match self.session.handle_associate_response(&aare).unwrap() {
            AssociationStep::HlsReplyRequired => {
                let n = self.session.hls_reply_request(&mut out).unwrap();
                let reply = self.exchange(&out[..n]);
                self.session.handle_hls_reply_response(&reply).unwrap()
            }
            step => step,
        }
    }

    /// Their GET, following our blocks with their GET-next until the last one.
    fn get(&mut self, class: u16, obis: [u8; 6], attribute: i8) -> DataBuf {
        let [a, b, c, d, e, f] = obis;
        let descriptor = TheirAttribute::new(
            class,
            dlms_cosem_rs::obis::Obis::new(a, b, c, d, e, f),
            attribute,
        );
        let mut out = [0u8; 1024];
        let n = self
            .session
            .get_request(descriptor, None, &mut out)
            .unwrap();
        let mut answer = self.exchange(&out[..n]);
        let mut plain = vec![0u8; 4096];
        let mut storage = vec![0u8; 8192];
        let mut blocks = BlockCollector::new(&mut storage);
        loop {
            match self.session.handle_response(&answer, &mut plain).unwrap() {
                Response::Data(value) => return DataBuf::from_data(&value).unwrap(),
                Response::Block { last, number, data } => {
                    blocks.push(number, data).unwrap();
                    if last {
                        return DataBuf::from_data(&blocks.value().unwrap()).unwrap();
                    }
                    let n = self
                        .session
                        .get_next_block_request(number, &mut out)
                        .unwrap();
                    answer = self.exchange(&out[..n]);
                }
                other => panic!("unexpected answer {other:?}"),
            }
        }
    }

    fn our_stats(&self) -> meterlab_dlms::hdlc::HdlcStats {
        match self.server.transport() {
            ServerTransport::Hdlc(hdlc) => hdlc.stats(),
            ServerTransport::Wrapper(_) => unreachable!("HDLC bench"),
        }
    }

    fn assert_clean(&self) {
        let stats = self.our_stats();
        assert_eq!(
            (stats.retransmissions, stats.frame_errors),
            (0, 0),
            "{stats:?}"
        );
        assert_eq!(self.theirs.discarded(), 0, "their framer discarded bytes");
        assert!(
            !self
                .server_events
                .iter()
                .any(|e| matches!(e, ServerConnectionEvent::Error(_))),
            "{:?}",
            self.server_events
        );
    }
}

fn scaler_unit() -> DataBuf {
    DataBuf::Structure(vec![
        DataBuf::Integer(ENERGY_SCALER),
        DataBuf::Enum(ENERGY_UNIT),
    ])
}

#[test]
fn their_client_associates_with_lls_reads_a_register_and_releases() {
    let mut bench = Bench::new(HdlcParameters::default(), Parameters::default(), PASSWORD);
    assert_eq!(bench.associate(), AssociationStep::Established);
    assert!(bench.server_events.iter().any(|e| matches!(
        e,
        ServerConnectionEvent::Association(ServerEvent::Associated {
            mechanism: Mechanism::Lls,
            ..
        })
    )));

    assert_eq!(
        bench.get(3, ENERGY, 2),
        DataBuf::DoubleLongUnsigned(ENERGY_VALUE)
    );
    assert_eq!(bench.get(3, ENERGY, 3), scaler_unit());

    let mut out = [0u8; 64];
    let n = bench.session.release_request(&mut out).unwrap();
    let rlre = bench.exchange(&out[..n]);
    let mut plain = [0u8; 64];
    assert!(matches!(
        bench.session.handle_response(&rlre, &mut plain).unwrap(),
        Response::Released
    ));
    assert!(
        bench
            .server_events
            .contains(&ServerConnectionEvent::Association(ServerEvent::Released))
    );

    let disc = bench.theirs.disconnect();
    assert_eq!(bench.deliver(vec![disc]), None);
    assert_eq!(bench.link_events, [Event::Connected, Event::Disconnected]);
    assert_eq!(bench.theirs.link.state(), LinkState::Disconnected);
    assert!(
        bench
            .server_events
            .contains(&ServerConnectionEvent::LinkDown(DisconnectReason::Remote))
    );
    bench.assert_clean();
}

/// Our server splits the ~2.1 kB profile into `get-response-with-datablock` APDUs under their
/// 1024-byte PDU size, and each APDU into 128-byte I-frames (window 1: P on every frame, their
/// link polling for the next with RR).
#[test]
fn their_client_reads_a_long_load_profile_from_our_server() {
    let mut bench = Bench::new(HdlcParameters::default(), Parameters::default(), PASSWORD);
    assert_eq!(bench.associate(), AssociationStep::Established);
    assert_eq!(bench.get(7, LOAD_PROFILE, 2), their_profile_buffer());
    assert!(
        bench.segment_polls >= 15,
        "the profile needs many polled segments: {}",
        bench.segment_polls
    );
    bench.assert_clean();
}

/// Small information fields and a window of 7: their AARQ and GETs arrive segmented, and our
/// server answers each of their polls with a burst of up to 7 I-frames, P on the last.
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
    let mut window_one = Bench::new(
        HdlcParameters {
            window_tx: 1,
            window_rx: 1,
            ..ours
        },
        theirs,
        PASSWORD,
    );
    assert_eq!(window_one.associate(), AssociationStep::Established);
    assert_eq!(window_one.get(7, LOAD_PROFILE, 2), their_profile_buffer());

    let mut bench = Bench::new(ours, theirs, PASSWORD);
    assert_eq!(bench.associate(), AssociationStep::Established);
    assert_eq!(bench.theirs.link.parameters(), theirs);
    assert_eq!(
        bench.get(3, ENERGY, 2),
        DataBuf::DoubleLongUnsigned(ENERGY_VALUE)
    );
    assert_eq!(bench.get(7, LOAD_PROFILE, 2), their_profile_buffer());
    // Same bytes, a seventh of the polls.
    assert!(
        bench.segment_polls * 5 < window_one.segment_polls,
        "window 7: {} polls, window 1: {}",
        bench.segment_polls,
        window_one.segment_polls
    );
    bench.assert_clean();
}

#[test]
fn our_server_rejects_their_wrong_lls_password_with_diagnostic_13() {
    let mut bench = Bench::new(
        HdlcParameters::default(),
        Parameters::default(),
        b"other-pw",
    );
    assert_eq!(
        bench.associate(),
        AssociationStep::Rejected {
            result: AssociationResult::RejectedPermanent,
            diagnostic: Diagnostic::User(UserDiagnostic::AuthenticationFailure),
        }
    );
    assert!(bench.server_events.iter().any(|e| matches!(
        e,
        ServerConnectionEvent::Association(ServerEvent::Rejected { .. })
    )));
}

const GUEK: [u8; 16] = *b"0123456789ABCDEF";
const GAK: [u8; 16] = *b"authentication-k";
const CLIENT_TITLE: [u8; 8] = *b"DCR\x00\x00\x00\x00\x07";
const METER_TITLE: [u8; 8] = *b"MLB\x00\x12\x34\x56\x78";

/// HLS-GMAC (mechanism 5, suite 0) and glo- ciphering (authenticated and encrypted) from their
/// `ClientSession` with `SecurityPolicy::authenticated_encrypted(Suite0)`: `associate_request`,
/// `hls_reply_request` / `handle_hls_reply_response` (their f(StoC), their check of our
/// f(CtoS)), their AES-GCM protection and unprotection of every xDLMS APDU, including our
/// blocked, segmented, ciphered load profile.
#[test]
fn their_client_hls_gmac_ciphered_association_with_our_server() {
    let server = ServerConfig {
        authentication: ServerAuthentication::HlsGmac,
        security: Some(SecurityMaterial {
            system_title: METER_TITLE,
            keys: Keys {
                encryption: GUEK,
                authentication: GAK,
            },
            invocation_counter: 1,
        }),
        cipher: Some(SecurityControl::AUTHENTICATED_ENCRYPTED),
        hls_challenge: b"our-StoC-challng".to_vec(),
        ..ServerConfig::default()
    };
    let client = TheirClientConfig {
        client_sap: CLIENT_SAP,
        system_title: Some(SystemTitle::new(CLIENT_TITLE)),
        mechanism: AuthMechanism::HighGmac,
        security: SecurityPolicy::authenticated_encrypted(SecuritySuite::Suite0),
        ..TheirClientConfig::default()
    };
    let mut bench = Bench::with(
        HdlcParameters::default(),
        Parameters::default(),
        server,
        client,
        KeyRing::new(GUEK, GAK),
    );
    assert_eq!(bench.associate(), AssociationStep::Established);
    assert!(bench.server_events.iter().any(|e| matches!(
        e,
        ServerConnectionEvent::Association(ServerEvent::Associated {
            mechanism: Mechanism::HlsGmac,
            client_system_title: Some(CLIENT_TITLE),
        })
    )));
    assert_eq!(
        bench.get(3, ENERGY, 2),
        DataBuf::DoubleLongUnsigned(ENERGY_VALUE)
    );
    assert_eq!(bench.get(7, LOAD_PROFILE, 2), their_profile_buffer());
    bench.assert_clean();
}
