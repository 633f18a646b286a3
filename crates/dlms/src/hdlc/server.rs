//! The secondary station: a DLMS server's (meter's) end of an HDLC link in normal response mode.

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
    /// Normal disconnected mode: only SNRM is accepted, polls are answered with DM.
    Disconnected,
    Connected,
    /// A frame was rejected; every poll is answered with this FRMR until SNRM or DISC.
    Rejected(FrameReject),
}

/// Sans-IO HDLC server (secondary station).
///
/// It only transmits when polled. Malformed input is handled the way a meter does: frames with
/// a bad HCS/FCS or addressed elsewhere are ignored (silence); polls in disconnected mode get
/// DM; an undefined control field, an information field where none is allowed or longer than
/// negotiated, or an invalid N(R) gets FRMR.
///
/// When a poll completes an APDU the answer is held (up to `response_hold_ms`) so the response
/// APDU passed to [`send_apdu`](Self::send_apdu) goes out as the reply to that poll.
///
/// Unsolicited APDUs (EventNotification, DataNotification) passed to
/// [`send_unsolicited`](Self::send_unsolicited) never overtake a response: they go out only in
/// answer to a poll while nothing is outstanding — no request being received or awaiting its
/// response, no response frames still to send — in UI frames, the last one with the final bit
/// (an APDU longer than one information field goes as I-frames instead). This is the procedure
/// of the DLMS UA's "How can a meter report an event?" (the EventNotification waits in the data
/// link layer for a send opportunity, the client gives one with a poll, the server answers with
/// the pending PDU in a UI frame); a poll is an RR with P=1 or, as that text describes, an
/// empty UI frame with P=1. Sending a notification in answer to the poll that carried a
/// request would leave the client, whose request was acknowledged, with the turn and no
/// response: it would wait out its response time-out.
#[derive(Debug)]
pub struct HdlcServer {
    config: HdlcConfig,
    link: Link,
    state: State,
    deframer: Deframer,
    transmit: VecDeque<Vec<u8>>,
    events: VecDeque<HdlcEvent>,
    owes_response: bool,
    /// Unsolicited APDUs waiting for a poll with nothing outstanding.
    unsolicited: VecDeque<Vec<u8>>,
    /// A poll waiting for the application's answer, and until when it may wait.
    held_poll: Option<u64>,
    last_rx: u64,
    stats: HdlcStats,
}

impl HdlcServer {
    /// A server in disconnected mode at `address`.
    pub fn new(config: HdlcConfig, address: HdlcAddress) -> Self {
        let max_apdu = config.max_apdu_size;
        Self {
            config,
            link: Link::new(
                address,
                HdlcAddress::One(0),
                LLC_RESPONSE,
                LLC_REQUEST,
                max_apdu,
            ),
            state: State::Disconnected,
            deframer: Deframer::new(),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            owes_response: false,
            unsolicited: VecDeque::new(),
            held_poll: None,
            last_rx: 0,
            stats: HdlcStats::default(),
        }
    }

    /// Whether a client is connected.
    pub fn is_connected(&self) -> bool {
        self.state != State::Disconnected
    }

    /// Address of the connected (or last connected) client.
    pub fn client_address(&self) -> HdlcAddress {
        self.link.peer
    }

    /// Negotiated parameters (meaningful once connected).
    pub fn parameters(&self) -> HdlcParameters {
        self.link.params
    }

    /// Counters.
    pub fn stats(&self) -> HdlcStats {
        self.stats
    }

    /// Queues a response APDU; it is sent at once if a poll is waiting for it, else at the next poll.
    pub fn send_apdu(&mut self, apdu: &[u8], now_ms: u64) -> Result<(), HdlcError> {
        if self.state != State::Connected {
            return Err(HdlcError::NotConnected);
        }
        self.link.queue_apdu(apdu);
        self.owes_response = false;
        if self.held_poll.take().is_some() {
            self.answer_poll(now_ms, false);
        }
        Ok(())
    }

    /// Queues an unsolicited APDU (an EventNotification or DataNotification); it goes out at the
    /// first poll that finds nothing outstanding, after any response (see the type's docs).
    pub fn send_unsolicited(&mut self, apdu: &[u8]) -> Result<(), HdlcError> {
        if self.state != State::Connected {
            return Err(HdlcError::NotConnected);
        }
        self.unsolicited.push_back(apdu.to_vec());
        Ok(())
    }

    /// Unsolicited APDUs still waiting for a poll.
    pub fn unsolicited_pending(&self) -> usize {
        self.unsolicited.len()
    }

    /// Drops the link locally (e.g. the application closed it); the client's next poll gets DM.
    pub fn disconnect(&mut self) {
        if self.state != State::Disconnected {
            self.finish(DisconnectReason::Local);
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
            (State::Disconnected, _) | (_, None) => None,
            (_, Some(timeout)) => Some(self.last_rx.saturating_add(timeout)),
        };
        [self.held_poll, inactivity].into_iter().flatten().min()
    }

    /// Acts on every time-out that has expired at `now_ms`.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if let Some(deadline) = self.held_poll
            && now_ms >= deadline
        {
            // The application did not answer in time: release the poll so the client may poll again.
            self.held_poll = None;
            self.owes_response = false;
            self.answer_poll(now_ms, false);
        }
        if self.state != State::Disconnected
            && let Some(timeout) = self.config.inactivity_timeout_ms
            && now_ms >= self.last_rx.saturating_add(timeout)
        {
            self.finish(DisconnectReason::InactivityTimeout);
        }
    }

    fn handle_frame(&mut self, frame: Frame, now_ms: u64) {
        let for_us = frame.destination == self.link.local
            || (frame.destination.is_broadcast() && matches!(frame.control, Control::Ui { .. }));
        if !for_us {
            return;
        }
        self.stats.frames_received += 1;
        let pf = frame.control.poll_final();
        let from_other_client = self.state != State::Disconnected && frame.source != self.link.peer;
        if from_other_client {
            // One association per physical link: another client is told we are not its peer.
            if pf {
                let reply = Frame::new(frame.source, self.link.local, Control::Dm { pf: true });
                self.send(&reply);
            }
            return;
        }
        self.last_rx = now_ms;
        match (self.state, frame.control) {
            (_, Control::Snrm { .. }) => self.on_snrm(frame),
            (State::Disconnected, Control::Disc { .. }) => {
                self.reply_to(&frame, Control::Dm { pf: true })
            }
            (_, Control::Disc { .. }) => {
                self.reply_to(&frame, Control::Ua { pf: true });
                self.finish(DisconnectReason::Remote);
            }
            (_, Control::Ui { .. }) => self.on_ui(&frame, now_ms),
            (State::Disconnected, _) => {
                if pf {
                    self.reply_to(&frame, Control::Dm { pf: true });
                }
            }
            (State::Rejected(reject), _) => {
                if pf {
                    self.send_frame_reject(reject);
                }
            }
            (State::Connected, _) => self.on_connected_frame(frame, now_ms),
        }
    }

    fn on_snrm(&mut self, frame: Frame) {
        let peer = match HdlcParameters::decode(&frame.info) {
            Ok(peer) => peer,
            Err(error) => {
                self.events.push_back(HdlcEvent::Error(error.into()));
                match self.state {
                    State::Disconnected => self.reply_to(&frame, Control::Dm { pf: true }),
                    _ => self.reject(&frame, |r| r.information_not_permitted = true),
                }
                return;
            }
        };
        let params = self.config.parameters.clamped().negotiate(&peer);
        self.link.peer = frame.source;
        self.link.reset(params);
        self.state = State::Connected;
        self.owes_response = false;
        self.unsolicited.clear();
        self.held_poll = None;
        let ua = self
            .link
            .unnumbered(Control::Ua { pf: true }, params.encode());
        self.send(&ua);
        self.events.push_back(HdlcEvent::Connected(params));
    }

    fn on_ui(&mut self, frame: &Frame, now_ms: u64) {
        if frame.info.is_empty() {
            // The DLMS UA's trigger for a pending event: an empty UI frame with P=1 addressed
            // to us gives us the right to send.
            if frame.control.poll_final() && frame.destination == self.link.local {
                self.answer_poll(now_ms, false);
            }
            return;
        }
        match frame.info.strip_prefix(&LLC_REQUEST[..]) {
            Some(apdu) => self.events.push_back(HdlcEvent::Apdu(apdu.to_vec())),
            None => self
                .events
                .push_back(HdlcEvent::Error(HdlcError::MissingLlc {
                    expected: LLC_REQUEST,
                })),
        }
    }

    fn on_connected_frame(&mut self, frame: Frame, now_ms: u64) {
        let pf = frame.control.poll_final();
        match frame.control {
            Control::I { .. } | Control::Rr { .. } | Control::Rnr { .. } => {}
            // Responses (UA, DM, FRMR) are not valid commands, and unknown bytes are undefined.
            _ => return self.reject(&frame, |r| r.undefined_control = true),
        }
        if !frame.info.is_empty() && !frame.control.allows_information() {
            return self.reject(&frame, |r| r.information_not_permitted = true);
        }
        if frame.info.len() > usize::from(self.link.params.max_info_rx) {
            return self.reject(&frame, |r| r.information_too_long = true);
        }
        if let Some(nr) = frame.control.receive_sequence()
            && let Ack::Invalid = self.link.acknowledge(nr)
        {
            return self.reject(&frame, |r| r.invalid_nr = true);
        }
        if let Control::I { ns, .. } = frame.control {
            match self.link.receive(ns, frame.segmented, &frame.info) {
                Ok(Some(apdu)) => {
                    self.owes_response = true;
                    self.events.push_back(HdlcEvent::Apdu(apdu));
                }
                Ok(None) => {}
                Err(error) => self.events.push_back(HdlcEvent::Error(error)),
            }
        }
        if pf {
            self.answer_poll(now_ms, matches!(frame.control, Control::Rnr { .. }));
        }
    }

    /// Our turn to send, ending with the final bit.
    fn answer_poll(&mut self, now_ms: u64, client_busy: bool) {
        if self.state != State::Connected {
            return;
        }
        if self.link.has_unacked() {
            // The client polled without acknowledging: it missed frames, send them again.
            self.stats.retransmissions += self.link.go_back() as u64;
        }
        if !client_busy && self.link.has_pending() {
            let mut frames = VecDeque::new();
            self.link.burst(&mut frames);
            for frame in frames {
                self.send(&frame);
            }
        } else if self.owes_response && !self.link.rx_in_progress() && !self.link.rx_gap {
            self.held_poll = Some(now_ms + self.config.response_hold_ms);
        } else if !client_busy && self.may_send_unsolicited() {
            self.send_unsolicited_frames();
        } else {
            let rr = self.link.supervisory(true);
            self.send(&rr);
        }
    }

    /// Nothing is outstanding: no request half received, none waiting for its response, and the
    /// client knows our V(R) (a UI frame does not carry it).
    fn may_send_unsolicited(&self) -> bool {
        !self.unsolicited.is_empty()
            && !self.owes_response
            && !self.link.rx_in_progress()
            && !self.link.rx_gap
            && !self.link.has_pending()
            && !self.link.has_unacked()
    }

    /// Every queued unsolicited APDU that fits one information field goes in a UI frame, the
    /// last with the final bit; one that does not fit goes alone, segmented in I-frames.
    fn send_unsolicited_frames(&mut self) {
        let max_info = usize::from(self.link.params.max_info_tx);
        let fits = |apdu: &Vec<u8>| LLC_RESPONSE.len() + apdu.len() <= max_info;
        let count = self
            .unsolicited
            .iter()
            .take_while(|apdu| fits(apdu))
            .count();
        if count == 0 {
            if let Some(apdu) = self.unsolicited.pop_front() {
                self.link.queue_apdu(&apdu);
                let mut frames = VecDeque::new();
                self.link.burst(&mut frames);
                for frame in frames {
                    self.send(&frame);
                }
            }
            return;
        }
        for index in 0..count {
            let Some(apdu) = self.unsolicited.pop_front() else {
                break;
            };
            let mut info = Vec::with_capacity(LLC_RESPONSE.len() + apdu.len());
            info.extend_from_slice(&LLC_RESPONSE);
            info.extend_from_slice(&apdu);
            let control = Control::Ui {
                pf: index + 1 == count,
            };
            let frame = self.link.unnumbered(control, info);
            self.send(&frame);
        }
    }

    fn reject(&mut self, frame: &Frame, reason: impl FnOnce(&mut FrameReject)) {
        let mut reject = FrameReject {
            rejected_control: frame.control.to_byte(),
            vs: self.link.vs(),
            vr: self.link.vr(),
            ..FrameReject::default()
        };
        reason(&mut reject);
        self.state = State::Rejected(reject);
        self.held_poll = None;
        self.events
            .push_back(HdlcEvent::Error(HdlcError::ProtocolViolation(format!(
                "sent FRMR: {reject}"
            ))));
        if frame.control.poll_final() {
            self.send_frame_reject(reject);
        }
    }

    fn send_frame_reject(&mut self, reject: FrameReject) {
        let frame = self
            .link
            .unnumbered(Control::Frmr { pf: true }, reject.encode().to_vec());
        self.send(&frame);
    }

    fn reply_to(&mut self, to: &Frame, control: Control) {
        let frame = Frame::new(to.source, self.link.local, control);
        self.send(&frame);
    }

    fn finish(&mut self, reason: DisconnectReason) {
        self.state = State::Disconnected;
        self.owes_response = false;
        self.unsolicited.clear();
        self.held_poll = None;
        let params = self.link.params;
        self.link.reset(params);
        self.events.push_back(HdlcEvent::Disconnected(reason));
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
