//! The primary station: a DLMS client's end of an HDLC link in normal response mode.

use std::collections::VecDeque;

use super::address::HdlcAddress;
use super::config::{DisconnectReason, HdlcConfig, HdlcEvent, HdlcStats};
use super::control::Control;
use super::deframer::Deframer;
use super::error::HdlcError;
use super::frame::{Frame, FrameReject};
use super::link::{Ack, LLC_REQUEST, LLC_RESPONSE, Link};
use super::params::HdlcParameters;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Disconnected,
    Connecting,
    Connected,
    Disconnecting(DisconnectReason),
}

/// Sans-IO HDLC client (primary station). Feed it received bytes and time-outs; poll it for bytes
/// to send, events and the next time-out.
///
/// In normal response mode the client holds the right to send: it sends frames ending with the
/// poll bit and waits for the server's frames ending with the final bit. Lost or corrupted
/// frames are recovered by go-back-N retransmission after `response_timeout_ms`, up to
/// `max_retries` times, after which the link fails with [`HdlcError::NoResponse`].
///
/// Unsolicited APDUs from the server (EventNotification, DataNotification, also ciphered) are
/// delivered as [`HdlcEvent::Apdu`] whether they come in UI frames or I-frames, before or after
/// the response to a pending request, without being taken for that response: the client keeps
/// polling for it. A meter can only send them when polled, so a client that holds a link
/// without requests receives them only if it polls: see [`HdlcConfig::idle_poll_ms`].
#[derive(Debug)]
pub struct HdlcClient {
    config: HdlcConfig,
    link: Link,
    state: State,
    deframer: Deframer,
    transmit: VecDeque<Vec<u8>>,
    events: VecDeque<HdlcEvent>,
    /// Deadline for the frame with the final bit; `None` while we hold the right to send.
    awaiting_final: Option<u64>,
    retries: u32,
    /// When to poll again for a response the server has not sent yet.
    poll_at: Option<u64>,
    expecting_response: bool,
    last_rx: u64,
    stats: HdlcStats,
}

impl HdlcClient {
    /// A disconnected client at `client` talking to `server`.
    pub fn new(config: HdlcConfig, client: HdlcAddress, server: HdlcAddress) -> Self {
        let max_apdu = config.max_apdu_size;
        Self {
            config,
            link: Link::new(client, server, LLC_REQUEST, LLC_RESPONSE, max_apdu),
            state: State::Disconnected,
            deframer: Deframer::new(),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            awaiting_final: None,
            retries: 0,
            poll_at: None,
            expecting_response: false,
            last_rx: 0,
            stats: HdlcStats::default(),
        }
    }

    /// Whether the link is up.
    pub fn is_connected(&self) -> bool {
        self.state == State::Connected
    }

    /// Negotiated parameters (meaningful once connected).
    pub fn parameters(&self) -> HdlcParameters {
        self.link.params
    }

    /// Counters.
    pub fn stats(&self) -> HdlcStats {
        self.stats
    }

    /// The configuration this client was built with.
    pub fn config(&self) -> &HdlcConfig {
        &self.config
    }

    /// Sends SNRM, proposing the configured parameters (none on the wire if they are the defaults).
    pub fn connect(&mut self, now_ms: u64) -> Result<(), HdlcError> {
        if self.state != State::Disconnected {
            return Err(HdlcError::AlreadyConnected);
        }
        self.state = State::Connecting;
        self.deframer.reset();
        self.send_snrm();
        self.start_wait(now_ms);
        Ok(())
    }

    /// Queues an APDU (LLC header added, segmented to the negotiated size) and sends what the
    /// window allows if it is our turn.
    pub fn send_apdu(&mut self, apdu: &[u8], now_ms: u64) -> Result<(), HdlcError> {
        if self.state != State::Connected {
            return Err(HdlcError::NotConnected);
        }
        self.link.queue_apdu(apdu);
        self.expecting_response = true;
        if self.awaiting_final.is_none() {
            self.poll_at = None;
            self.take_turn(now_ms);
        }
        Ok(())
    }

    /// Sends DISC; `Disconnected(Local)` follows on UA or DM (or after the retries).
    pub fn disconnect(&mut self, now_ms: u64) -> Result<(), HdlcError> {
        match self.state {
            State::Disconnected => Err(HdlcError::NotConnected),
            State::Disconnecting(_) => Ok(()),
            State::Connecting | State::Connected => {
                self.begin_disconnect(DisconnectReason::Local, now_ms);
                Ok(())
            }
        }
    }

    /// Feeds bytes received from the line.
    pub fn handle_bytes(&mut self, bytes: &[u8], now_ms: u64) {
        self.deframer.push(bytes);
        while let Some(result) = self.deframer.next_frame() {
            match result {
                Ok(frame) => self.handle_frame(frame, now_ms),
                Err(_) => self.stats.frame_errors += 1,
            }
        }
    }

    /// Next encoded frame to put on the line.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    /// Next event for the caller.
    pub fn poll_event(&mut self) -> Option<HdlcEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    pub fn poll_timeout(&self) -> Option<u64> {
        let inactivity = match (self.state, self.config.inactivity_timeout_ms) {
            (State::Connected, Some(timeout)) => Some(self.last_rx.saturating_add(timeout)),
            _ => None,
        };
        [self.awaiting_final, self.poll_at, inactivity]
            .into_iter()
            .flatten()
            .min()
    }

    /// Acts on every time-out that has expired at `now_ms`.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if let Some(deadline) = self.awaiting_final
            && now_ms >= deadline
        {
            self.stats.timeouts += 1;
            self.retries += 1;
            if self.retries > self.config.max_retries {
                self.fail_no_response();
                return;
            }
            self.retransmit(now_ms);
        }
        if let Some(at) = self.poll_at
            && now_ms >= at
            && self.awaiting_final.is_none()
        {
            self.poll_at = None;
            self.send_poll(now_ms);
        }
        if let (State::Connected, Some(timeout)) = (self.state, self.config.inactivity_timeout_ms)
            && now_ms >= self.last_rx.saturating_add(timeout)
        {
            self.begin_disconnect(DisconnectReason::InactivityTimeout, now_ms);
        }
    }

    fn handle_frame(&mut self, frame: Frame, now_ms: u64) {
        if frame.destination != self.link.local || frame.source != self.link.peer {
            return;
        }
        self.stats.frames_received += 1;
        self.last_rx = now_ms;
        match self.state {
            State::Disconnected => {}
            State::Connecting => self.on_connect_response(frame, now_ms),
            State::Disconnecting(reason) => {
                if matches!(frame.control, Control::Ua { .. } | Control::Dm { .. }) {
                    self.finish(reason);
                }
            }
            State::Connected => self.on_connected_frame(frame, now_ms),
        }
    }

    fn on_connect_response(&mut self, frame: Frame, now_ms: u64) {
        match frame.control {
            Control::Ua { .. } => match HdlcParameters::decode(&frame.info) {
                Ok(peer) => {
                    let params = self.config.parameters.clamped().negotiate(&peer);
                    self.link.reset(params);
                    self.state = State::Connected;
                    self.awaiting_final = None;
                    self.retries = 0;
                    self.events.push_back(HdlcEvent::Connected(params));
                    self.poll_at = self.config.idle_poll_ms.map(|idle| now_ms + idle);
                }
                Err(error) => {
                    self.events.push_back(HdlcEvent::Error(error.into()));
                    self.finish(DisconnectReason::ProtocolError);
                }
            },
            Control::Dm { .. } => {
                self.events
                    .push_back(HdlcEvent::Error(HdlcError::ConnectionRefused));
                self.finish(DisconnectReason::Refused);
            }
            _ => {}
        }
    }

    fn on_connected_frame(&mut self, frame: Frame, now_ms: u64) {
        let pf = frame.control.poll_final();
        if let Some(nr) = frame.control.receive_sequence()
            && let Ack::Invalid = self.link.acknowledge(nr)
        {
            let reason = format!(
                "N(R)={nr} acknowledges frames never sent (V(S)={})",
                self.link.vs()
            );
            self.events
                .push_back(HdlcEvent::Error(HdlcError::ProtocolViolation(reason)));
            self.begin_disconnect(DisconnectReason::ProtocolError, now_ms);
            return;
        }
        match frame.control {
            Control::I { ns, .. } => {
                match self.link.receive(ns, frame.segmented, &frame.info) {
                    Ok(Some(apdu)) => {
                        if !is_unsolicited(&apdu) {
                            self.expecting_response = false;
                        }
                        self.events.push_back(HdlcEvent::Apdu(apdu));
                    }
                    Ok(None) => {}
                    Err(error) => self.events.push_back(HdlcEvent::Error(error)),
                }
                if pf {
                    self.on_final(now_ms, false);
                }
            }
            Control::Rr { .. } if pf => self.on_final(now_ms, false),
            Control::Rnr { .. } if pf => self.on_final(now_ms, true),
            Control::Ui { .. } => {
                if !frame.info.is_empty() {
                    match frame.info.strip_prefix(&LLC_RESPONSE[..]) {
                        Some(apdu) => self.events.push_back(HdlcEvent::Apdu(apdu.to_vec())),
                        None => self
                            .events
                            .push_back(HdlcEvent::Error(HdlcError::MissingLlc {
                                expected: LLC_RESPONSE,
                            })),
                    }
                }
                // A UI frame with the final bit ends the server's turn like any other.
                if pf {
                    self.on_final(now_ms, false);
                }
            }
            Control::Dm { .. } => {
                self.stop();
                self.finish(DisconnectReason::Remote);
            }
            Control::Frmr { .. } => {
                let error = match FrameReject::decode(&frame.info) {
                    Ok(reject) => HdlcError::FrameRejected(reject),
                    Err(error) => HdlcError::Frame(error),
                };
                self.events.push_back(HdlcEvent::Error(error));
                self.stop();
                self.finish(DisconnectReason::FrameRejected);
            }
            _ => {}
        }
    }

    /// The server finished its turn: the right to send is ours again.
    fn on_final(&mut self, now_ms: u64, peer_busy: bool) {
        self.awaiting_final = None;
        self.retries = 0;
        if self.link.has_unacked() {
            self.stats.retransmissions += self.link.go_back() as u64;
        }
        if peer_busy {
            self.poll_at = Some(now_ms + self.config.poll_interval_ms);
            return;
        }
        self.take_turn(now_ms);
    }

    fn take_turn(&mut self, now_ms: u64) {
        if self.link.has_pending() || self.link.rx_in_progress() || self.link.rx_gap {
            self.send_burst(now_ms);
        } else if self.expecting_response {
            self.poll_at = Some(now_ms + self.config.poll_interval_ms);
        } else if let Some(idle) = self.config.idle_poll_ms {
            self.poll_at = Some(now_ms + idle);
        }
    }

    fn send_burst(&mut self, now_ms: u64) {
        let mut frames = VecDeque::new();
        self.link.burst(&mut frames);
        for frame in frames {
            self.send(&frame);
        }
        self.start_wait(now_ms);
    }

    fn send_poll(&mut self, now_ms: u64) {
        let frame = self.link.supervisory(true);
        self.send(&frame);
        self.start_wait(now_ms);
    }

    fn retransmit(&mut self, now_ms: u64) {
        self.stats.retransmissions += 1;
        match self.state {
            State::Connecting => self.send_snrm(),
            State::Disconnecting(_) => {
                let frame = self.link.unnumbered(Control::Disc { pf: true }, Vec::new());
                self.send(&frame);
            }
            State::Connected => {
                self.link.go_back();
                let mut frames = VecDeque::new();
                self.link.burst(&mut frames);
                for frame in frames {
                    self.send(&frame);
                }
            }
            State::Disconnected => return,
        }
        self.start_wait(now_ms);
    }

    fn send_snrm(&mut self) {
        let proposed = self.config.parameters.clamped();
        let info = if proposed == HdlcParameters::default() {
            Vec::new()
        } else {
            proposed.encode()
        };
        let frame = self.link.unnumbered(Control::Snrm { pf: true }, info);
        self.send(&frame);
    }

    fn begin_disconnect(&mut self, reason: DisconnectReason, now_ms: u64) {
        self.stop();
        self.state = State::Disconnecting(reason);
        let frame = self.link.unnumbered(Control::Disc { pf: true }, Vec::new());
        self.send(&frame);
        self.start_wait(now_ms);
    }

    fn fail_no_response(&mut self) {
        let attempts = self.retries;
        let timeout_ms = self.config.response_timeout_ms;
        let reason = match self.state {
            State::Disconnecting(reason) => reason,
            _ => {
                self.events
                    .push_back(HdlcEvent::Error(HdlcError::NoResponse {
                        attempts,
                        timeout_ms,
                    }));
                DisconnectReason::NoResponse
            }
        };
        self.stop();
        self.finish(reason);
    }

    /// Forgets all link state, keeping queued events and frames.
    fn stop(&mut self) {
        self.awaiting_final = None;
        self.poll_at = None;
        self.retries = 0;
        self.expecting_response = false;
        let params = self.link.params;
        self.link.reset(params);
    }

    fn finish(&mut self, reason: DisconnectReason) {
        self.stop();
        self.state = State::Disconnected;
        self.events.push_back(HdlcEvent::Disconnected(reason));
    }

    /// We sent a frame with the poll bit: the server's answer is due, and any scheduled poll is
    /// superseded by this one.
    fn start_wait(&mut self, now_ms: u64) {
        self.awaiting_final = Some(now_ms + self.config.response_timeout_ms);
        self.poll_at = None;
    }

    fn send(&mut self, frame: &Frame) {
        match frame.encode() {
            Ok(bytes) => {
                self.stats.frames_sent += 1;
                self.transmit.push_back(bytes);
            }
            Err(error) => self.events.push_back(HdlcEvent::Error(error.into())),
        }
    }
}

/// APDUs a server sends of its own accord, never as a response: event-notification-request
/// (0xC2), data-notification (0x0F) and their glo- (0xCA) and ded- (0xD2) ciphered forms.
/// General ciphering (0xDB-0xDD) may carry either and counts as a response.
fn is_unsolicited(apdu: &[u8]) -> bool {
    use crate::apdu::tag;
    matches!(
        apdu.first(),
        Some(
            &(tag::EVENT_NOTIFICATION_REQUEST
                | tag::DATA_NOTIFICATION
                | tag::GLO_EVENT_NOTIFICATION_REQUEST
                | DED_EVENT_NOTIFICATION_REQUEST)
        )
    )
}

/// ded-event-notification-request (IEC 62056-5-3); not decoded by this crate, but recognised
/// so a dedicated-key notification is not taken for a response.
const DED_EVENT_NOTIFICATION_REQUEST: u8 = 0xD2;
