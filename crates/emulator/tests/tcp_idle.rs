//! Wrapper connections that go silent are closed after the idle time-out, as an HDLC link drops
//! (issue 15); any byte from the client restarts the count. On tokio's paused clock.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use meterlab_dlms::association::{
    ClientAssociation, ClientAuthentication, ClientConfig, ClientEvent,
};
use meterlab_dlms::wrapper::{self, Reassembler};
use meterlab_emulator::SimTime;
use meterlab_emulator::hub::{Emulation, LLS_CLIENT_SAP};
use meterlab_emulator::scenario::Scenario;
use meterlab_emulator::serve::Emulator;
use meterlab_emulator::serve::tcp::{TcpOptions, serve_wrapper_stream, serve_wrapper_stream_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

const START: SimTime = SimTime::from_unix_secs(1_761_955_200);
const ESME_WPORT: u16 = 2;
const IDLE: Duration = TcpOptions::DEFAULT_IDLE_TIMEOUT;

fn emulator() -> Emulator {
    Emulator::new(
        Emulation::build(&Scenario::generated(1), START).unwrap(),
        START,
    )
}

/// Associates an LLS client on `stream` (bytes flow, so the idle count restarts).
async fn associate(stream: &mut DuplexStream) {
    let mut association = ClientAssociation::new(ClientConfig {
        authentication: ClientAuthentication::Lls {
            password: b"00000001".to_vec(),
        },
        ..ClientConfig::default()
    })
    .unwrap();
    association.connect(0).unwrap();
    let aarq = association.poll_transmit().unwrap();
    let bytes = wrapper::encode(u16::from(LLS_CLIENT_SAP), ESME_WPORT, &aarq).unwrap();
    stream.write_all(&bytes).await.unwrap();
    let mut reassembler = Reassembler::new(u16::MAX);
    let mut buffer = [0u8; 2048];
    loop {
        if let Some(pdu) = reassembler.next_pdu() {
            association.handle_apdu(0, &pdu.unwrap().apdu).unwrap();
            assert!(matches!(
                association.poll_event(),
                Some(ClientEvent::Associated { .. })
            ));
            return;
        }
        let read = stream.read(&mut buffer).await.unwrap();
        assert!(read > 0, "closed while associating");
        reassembler.push(&buffer[..read]);
    }
}

/// True when the emulator has closed the connection by `patience` from now.
async fn closed_within(stream: &mut DuplexStream, patience: Duration) -> bool {
    let mut buffer = [0u8; 64];
    matches!(
        tokio::time::timeout(patience, stream.read(&mut buffer)).await,
        Ok(Ok(0))
    )
}

#[tokio::test(start_paused = true)]
async fn a_silent_connection_is_closed_after_the_idle_timeout_and_not_before() {
    let (mut ours, theirs) = tokio::io::duplex(64 * 1024);
    let served = tokio::spawn(serve_wrapper_stream_with(
        emulator(),
        theirs,
        "idle",
        Some(IDLE),
    ));
    associate(&mut ours).await;
    // Just short of the time-out the connection is open; a byte restarts the count.
    assert!(!closed_within(&mut ours, IDLE - Duration::from_secs(1)).await);
    ours.write_all(&[0x00]).await.unwrap();
    assert!(!closed_within(&mut ours, IDLE - Duration::from_secs(1)).await);
    // Then a whole time-out of silence closes it, and the serving task ends cleanly.
    assert!(closed_within(&mut ours, Duration::from_secs(2)).await);
    served.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn without_a_timeout_a_silent_connection_stays_open() {
    let (mut ours, theirs) = tokio::io::duplex(64 * 1024);
    tokio::spawn(serve_wrapper_stream(emulator(), theirs, "forever"));
    associate(&mut ours).await;
    assert!(!closed_within(&mut ours, 10 * IDLE).await);
}
