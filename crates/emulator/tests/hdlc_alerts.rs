//! Alerts on the HDLC line: the serving loop wakes up when a device raises one and takes it for
//! the open association at once; HDLC being normal response mode, the EventNotification waits
//! in the meter's data link layer for a poll with nothing outstanding. A request issued while
//! it waits is answered first, with no time-out on the client; the notification follows at the
//! client's next idle poll.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use meterlab_dlms::association::{
    ClientAssociation, ClientAuthentication, ClientConfig, ClientEvent,
};
use meterlab_dlms::axdr::Data;
use meterlab_dlms::cosem::AttributeDescriptor;
use meterlab_dlms::hdlc::{HdlcAddress, HdlcClient, HdlcConfig, HdlcEvent};
use meterlab_dlms::obis::Obis;
use meterlab_emulator::SimTime;
use meterlab_emulator::hub::{Emulation, LLS_CLIENT_SAP};
use meterlab_emulator::scenario::Scenario;
use meterlab_emulator::serve::serial::{open_hub_line, serve_hdlc, serve_hub_line};
use meterlab_emulator::serve::{DeviceIndex, Emulator, Incident};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use tokio_serial::SerialPortBuilderExt;

const START: SimTime = SimTime::from_unix_secs(1_761_955_200);
const IDLE_POLL_MS: u64 = 2_000;
const ESME: DeviceIndex = DeviceIndex { hub: 0, device: 1 };

/// Our HDLC client and association on a line, driven by the client's own time-outs.
struct LineClient<S> {
    line: S,
    hdlc: HdlcClient,
    association: ClientAssociation,
    started: Instant,
}

impl<S: AsyncRead + AsyncWrite + Unpin> LineClient<S> {
    fn new(line: S) -> Self {
        Self {
            line,
            hdlc: HdlcClient::new(
                HdlcConfig {
                    idle_poll_ms: Some(IDLE_POLL_MS),
                    ..HdlcConfig::default()
                },
                HdlcAddress::client(LLS_CLIENT_SAP).unwrap(),
                HdlcAddress::four(2, 17).unwrap(),
            ),
            association: ClientAssociation::new(ClientConfig {
                authentication: ClientAuthentication::Lls {
                    password: b"00000001".to_vec(),
                },
                ..ClientConfig::default()
            })
            .unwrap(),
            started: Instant::now(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap()
    }

    async fn flush(&mut self) {
        while let Some(frame) = self.hdlc.poll_transmit() {
            self.line.write_all(&frame).await.unwrap();
        }
    }

    /// Reads or waits for the client's next time-out, then hands what arrived to the association.
    async fn turn(&mut self) {
        let mut buffer = [0u8; 1024];
        let wake = self
            .hdlc
            .poll_timeout()
            .map_or(Duration::from_secs(60), |at| {
                Duration::from_millis(at.saturating_sub(self.now()))
            });
        let read = tokio::time::timeout(wake, self.line.read(&mut buffer)).await;
        let now = self.now();
        match read {
            Ok(read) => self.hdlc.handle_bytes(&buffer[..read.unwrap()], now),
            Err(_) => self.hdlc.handle_timeout(now),
        }
        while let Some(event) = self.hdlc.poll_event() {
            match event {
                HdlcEvent::Apdu(apdu) => self.association.handle_apdu(now, &apdu).unwrap(),
                HdlcEvent::Connected(_) => {}
                other => panic!("HDLC: {other:?}"),
            }
        }
    }

    async fn next_event(&mut self) -> ClientEvent {
        loop {
            let now = self.now();
            while let Some(apdu) = self.association.poll_transmit() {
                self.hdlc.send_apdu(&apdu, now).unwrap();
            }
            self.flush().await;
            if let Some(event) = self.association.poll_event() {
                return event;
            }
            assert!(self.now() < 30_000, "the meter answers");
            self.turn().await;
        }
    }

    async fn associate(&mut self) {
        self.hdlc.connect(self.now()).unwrap();
        self.flush().await;
        while !self.hdlc.is_connected() {
            assert!(self.now() < 30_000, "the link comes up");
            self.turn().await;
        }
        let now = self.now();
        self.association.connect(now).unwrap();
        assert!(matches!(
            self.next_event().await,
            ClientEvent::Associated { .. }
        ));
    }
}

fn emulator() -> Emulator {
    Emulator::new(
        Emulation::build(&Scenario::generated(1), START).unwrap(),
        START,
    )
}

/// Raises a tamper alert on the ESME and waits until the line has taken it for the open
/// association (it is no longer queued on the device). The bound only stops a hung test: 10 s of
/// tokio time (paused, in the duplex tests) or of a loaded machine's time (over a PTY).
async fn raise_tamper(emulator: &Emulator) {
    emulator.inject(ESME, Incident::Tamper);
    for _ in 0..1_000 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        if emulator.hub(0).unwrap().devices[1].device.pending_alerts() == 0 {
            return;
        }
    }
    panic!("the line did not take the alert for its open association");
}

/// Whether the clock the client reads is tokio's paused one (timing is then deterministic and
/// asserted) or the machine's (over a PTY: only the order is asserted, since a loaded shared
/// machine can stretch any wall-clock bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clock {
    Paused,
    Wall,
}

/// With an alert waiting in the meter, a GET is answered first; the alert follows at the next
/// idle poll. On the paused clock, the answer also comes without a time-out or retransmission,
/// and the alert within one idle poll.
async fn response_first_then_alert<S: AsyncRead + AsyncWrite + Unpin>(
    emulator: &Emulator,
    client: &mut LineClient<S>,
    clock: Clock,
) {
    client.associate().await;
    raise_tamper(emulator).await;

    let name = AttributeDescriptor {
        class_id: 1,
        instance: Obis([0, 0, 42, 0, 0, 255]),
        attribute_id: 2,
    };
    let asked = client.now();
    client.association.get(asked, name, None).unwrap();
    match client.next_event().await {
        ClientEvent::GetCompleted { result, .. } => assert!(result.is_ok(), "{result:?}"),
        other => panic!("expected the GET's response first, got {other:?}"),
    }
    let answered_in = client.now() - asked;
    if clock == Clock::Paused {
        let timeout = client.hdlc.config().response_timeout_ms;
        assert!(
            answered_in < timeout,
            "the response took {answered_in} ms (client time-out {timeout} ms)"
        );
        let stats = client.hdlc.stats();
        assert_eq!(stats.timeouts, 0, "{stats:?}");
        assert_eq!(stats.retransmissions, 0, "{stats:?}");
    }

    match client.next_event().await {
        ClientEvent::EventNotification(notification) => {
            assert_eq!(notification.value, Data::Unsigned(40));
        }
        other => panic!("expected the tamper notification, got {other:?}"),
    }
    if clock == Clock::Paused {
        let delivered_in = client.now() - asked;
        assert!(
            delivered_in <= answered_in + IDLE_POLL_MS + 1_000,
            "the notification came {delivered_in} ms after the request"
        );
        assert_eq!(client.hdlc.stats().timeouts, 0);
    }
}

#[tokio::test(start_paused = true)]
async fn a_request_made_while_an_alert_waits_is_answered_first() {
    let emulator = emulator();
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    tokio::spawn(serve_hdlc(emulator.clone(), 0, theirs, "duplex"));
    let mut client = LineClient::new(ours);
    response_first_then_alert(&emulator, &mut client, Clock::Paused).await;
}

#[tokio::test(start_paused = true)]
async fn an_idle_client_receives_the_alert_at_its_next_poll() {
    let emulator = emulator();
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    tokio::spawn(serve_hdlc(emulator.clone(), 0, theirs, "duplex"));
    let mut client = LineClient::new(ours);
    client.associate().await;
    let raised = client.now();
    raise_tamper(&emulator).await;
    match client.next_event().await {
        ClientEvent::EventNotification(notification) => {
            assert_eq!(notification.value, Data::Unsigned(40));
        }
        other => panic!("expected the tamper notification, got {other:?}"),
    }
    let waited = client.now() - raised;
    assert!(waited <= IDLE_POLL_MS + 500, "delivered after {waited} ms");
    assert_eq!(client.hdlc.stats().timeouts, 0);
}

/// The same order over a real pseudo-terminal, paced at the line's baud rate, in real time (a
/// PTY is outside tokio's paused clock, so its timing is left to the paused tests above).
#[tokio::test]
async fn over_a_pty_the_response_goes_before_the_alert() {
    let emulator = emulator();
    let line = open_hub_line().unwrap();
    let path = line.path.clone();
    tokio::spawn(serve_hub_line(emulator.clone(), 0, line));
    let port = tokio_serial::new(&path, 9600).open_native_async().unwrap();
    let mut client = LineClient::new(port);
    response_first_then_alert(&emulator, &mut client, Clock::Wall).await;
}
