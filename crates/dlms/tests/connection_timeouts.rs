//! Coupling of the association's response time-out with HDLC's retransmission budget: a
//! default-configured client over HDLC must not give up at the association layer while the
//! link is still retransmitting, and when the link gives up the association fails at once.
#![allow(clippy::unwrap_used)]

use meterlab_dlms::apdu::DataAccessResult;
use meterlab_dlms::association::{
    ClientAssociation, ClientConfig, ClientEvent, CosemObjectModel, DEFAULT_RESPONSE_TIMEOUT_MS,
    RequestContext, ServerAssociation, ServerConfig,
};
use meterlab_dlms::axdr::Data;
use meterlab_dlms::connection::{
    ClientConnection, ClientConnectionEvent, ClientTransport, ConnectionError, ServerConnection,
    ServerTransport,
};
use meterlab_dlms::cosem::{AttributeDescriptor, MethodDescriptor, SelectiveAccess};
use meterlab_dlms::hdlc::{
    DisconnectReason, HdlcAddress, HdlcClient, HdlcConfig, HdlcError, HdlcServer,
};

struct NoObjects;

impl CosemObjectModel for NoObjects {
    fn get(
        &mut self,
        _: &RequestContext,
        _: &AttributeDescriptor,
        _: Option<&SelectiveAccess>,
    ) -> Result<Data, DataAccessResult> {
        Err(DataAccessResult::ObjectUndefined)
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

fn client_with(association: ClientConfig) -> ClientConnection {
    ClientConnection::new(
        ClientTransport::Hdlc(HdlcClient::new(
            HdlcConfig::default(),
            HdlcAddress::client(0x10).unwrap(),
            HdlcAddress::server(1, Some(0x11)).unwrap(),
        )),
        ClientAssociation::new(association).unwrap(),
    )
}

/// A default client and server over HDLC; the first `lost` client frames after the SNRM never
/// arrive. Returns the client's events with the time each was seen.
fn run(lost: usize, until_ms: u64) -> (Vec<(u64, ClientConnectionEvent)>, ClientConnection) {
    let mut client = client_with(ClientConfig::default());
    let mut server = ServerConnection::new(
        ServerTransport::Hdlc(HdlcServer::new(
            HdlcConfig::server(),
            HdlcAddress::server(1, Some(0x11)).unwrap(),
        )),
        ServerAssociation::new(ServerConfig::default()).unwrap(),
    );
    let mut model = NoObjects;
    let mut now = 0;
    let mut sent = 0usize;
    let mut events = Vec::new();
    client.connect(now).unwrap();
    while now <= until_ms {
        let mut moved = false;
        while let Some(bytes) = client.poll_transmit() {
            moved = true;
            sent += 1;
            // Frame 1 is the SNRM; the next `lost` ones vanish.
            if sent == 1 || sent > lost.saturating_add(1) {
                server.handle_bytes(&bytes, now, &mut model);
            }
        }
        while let Some(bytes) = server.poll_transmit() {
            moved = true;
            client.handle_bytes(&bytes, now);
        }
        events.extend(std::iter::from_fn(|| client.poll_event()).map(|e| (now, e)));
        if !moved {
            let next = [client.poll_timeout(), server.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(at) if at <= until_ms => {
                    now = now.max(at);
                    client.handle_timeout(now);
                    server.handle_timeout(now, &mut model);
                }
                _ => break,
            }
        }
    }
    (events, client)
}

fn association_failures(events: &[(u64, ClientConnectionEvent)]) -> Vec<(u64, String)> {
    events
        .iter()
        .filter_map(|(at, e)| match e {
            ClientConnectionEvent::Association(ClientEvent::OperationFailed { reason, .. }) => {
                Some((*at, reason.clone()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn the_default_association_time_out_outlasts_the_default_hdlc_retries() {
    let link = HdlcConfig::default();
    assert_eq!(link.give_up_after_ms(), 12_000);
    assert_eq!(
        ClientConfig::default().response_timeout_ms,
        DEFAULT_RESPONSE_TIMEOUT_MS
    );
    assert!(DEFAULT_RESPONSE_TIMEOUT_MS > link.give_up_after_ms());
}

/// The AARQ's I-frame is lost three times; HDLC's third retransmission (at 9 s) gets through.
/// With the old 5 s association default the client gave up at 5 s.
#[test]
fn a_default_client_over_hdlc_waits_for_the_links_retransmissions() {
    let (events, client) = run(3, 60_000);
    assert!(
        events.iter().any(|(at, e)| *at >= 9_000
            && matches!(
                e,
                ClientConnectionEvent::Association(ClientEvent::Associated { .. })
            )),
        "{events:?}"
    );
    assert_eq!(association_failures(&events), []);
    match client.transport() {
        ClientTransport::Hdlc(hdlc) => assert_eq!(hdlc.stats().retransmissions, 3),
        ClientTransport::Wrapper(_) => unreachable!(),
    }
}

/// Over HDLC a shorter association time-out is raised to the link's give-up time plus one
/// HDLC response time-out.
#[test]
fn a_connection_over_hdlc_raises_a_too_short_association_time_out() {
    let client = client_with(ClientConfig {
        response_timeout_ms: 5_000,
        ..ClientConfig::default()
    });
    assert_eq!(client.association().response_timeout_ms(), 15_000);
    let client = client_with(ClientConfig {
        response_timeout_ms: 40_000,
        ..ClientConfig::default()
    });
    assert_eq!(client.association().response_timeout_ms(), 40_000);
}

/// A dead link: HDLC gives up after 3 s × 4 and the pending AARQ fails at that moment, naming
/// the link, instead of a later association time-out.
#[test]
fn when_the_link_gives_up_the_association_fails_at_once() {
    let (events, _) = run(usize::MAX, 60_000);
    let link_down = events
        .iter()
        .find_map(|(at, e)| {
            matches!(
                e,
                ClientConnectionEvent::LinkDown(DisconnectReason::NoResponse)
            )
            .then_some(*at)
        })
        .unwrap_or_else(|| panic!("{events:?}"));
    assert!((12_000..13_000).contains(&link_down), "{link_down}");
    assert!(events.iter().any(|(_, e)| matches!(
        e,
        ClientConnectionEvent::Error(ConnectionError::Hdlc(HdlcError::NoResponse { .. }))
    )));
    let failures = association_failures(&events);
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].0, link_down);
    assert!(failures[0].1.contains("link went down"), "{failures:?}");
}
