//! Sequencing shared by both stations: send window with go-back-N retransmission, segmentation
//! of outgoing APDUs (LLC header on the first segment) and reassembly of incoming ones.

use std::collections::VecDeque;

use super::address::HdlcAddress;
use super::control::Control;
use super::error::HdlcError;
use super::frame::Frame;
use super::params::HdlcParameters;

/// LLC header of APDUs sent by a client (destination LSAP E6, source LSAP E6, quality 00).
pub const LLC_REQUEST: [u8; 3] = [0xE6, 0xE6, 0x00];
/// LLC header of APDUs sent by a server (source LSAP E7).
pub const LLC_RESPONSE: [u8; 3] = [0xE6, 0xE7, 0x00];

#[derive(Debug, Clone)]
struct Segment {
    info: Vec<u8>,
    more: bool,
}

/// Sequence numbers, queues and reassembly of one side of a connected link.
#[derive(Debug, Clone)]
pub(crate) struct Link {
    pub local: HdlcAddress,
    pub peer: HdlcAddress,
    pub params: HdlcParameters,
    llc_tx: [u8; 3],
    llc_rx: [u8; 3],
    max_apdu: usize,
    vs: u8,
    vr: u8,
    pending: VecDeque<Segment>,
    unacked: VecDeque<Segment>,
    rx_apdu: Vec<u8>,
    rx_in_progress: bool,
    rx_oversize: bool,
    /// An I-frame was discarded as out of sequence since we last told the peer our V(R).
    pub rx_gap: bool,
}

/// Outcome of checking an N(R) against what we have sent.
pub(crate) enum Ack {
    Ok,
    Invalid,
}

impl Link {
    pub fn new(
        local: HdlcAddress,
        peer: HdlcAddress,
        llc_tx: [u8; 3],
        llc_rx: [u8; 3],
        max_apdu: usize,
    ) -> Self {
        Self {
            local,
            peer,
            params: HdlcParameters::default(),
            llc_tx,
            llc_rx,
            max_apdu,
            vs: 0,
            vr: 0,
            pending: VecDeque::new(),
            unacked: VecDeque::new(),
            rx_apdu: Vec::new(),
            rx_in_progress: false,
            rx_oversize: false,
            rx_gap: false,
        }
    }

    /// Fresh sequence state for a new connection with the negotiated parameters.
    pub fn reset(&mut self, params: HdlcParameters) {
        self.params = params;
        self.vs = 0;
        self.vr = 0;
        self.pending.clear();
        self.unacked.clear();
        self.rx_apdu.clear();
        self.rx_in_progress = false;
        self.rx_oversize = false;
        self.rx_gap = false;
    }

    pub fn vs(&self) -> u8 {
        self.vs
    }

    pub fn vr(&self) -> u8 {
        self.vr
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    pub fn has_unacked(&self) -> bool {
        !self.unacked.is_empty()
    }

    /// The peer is in the middle of sending a segmented APDU.
    pub fn rx_in_progress(&self) -> bool {
        self.rx_in_progress
    }

    /// Queues an APDU, split into information fields of at most the negotiated size.
    pub fn queue_apdu(&mut self, apdu: &[u8]) {
        let mut data = Vec::with_capacity(apdu.len() + 3);
        data.extend_from_slice(&self.llc_tx);
        data.extend_from_slice(apdu);
        let size = usize::from(self.params.max_info_tx.max(1));
        let count = data.len().div_ceil(size);
        for (index, chunk) in data.chunks(size).enumerate() {
            self.pending.push_back(Segment {
                info: chunk.to_vec(),
                more: index + 1 < count,
            });
        }
    }

    /// Applies an acknowledgement: every frame before N(R) has been received by the peer.
    pub fn acknowledge(&mut self, nr: u8) -> Ack {
        // unacked.len() <= 7, so the cast is lossless.
        let first_unacked = self.vs.wrapping_sub(self.unacked.len() as u8) & 7;
        let acked = usize::from(nr.wrapping_sub(first_unacked) & 7);
        if acked > self.unacked.len() {
            return Ack::Invalid;
        }
        self.unacked.drain(..acked);
        Ack::Ok
    }

    /// Go-back-N: everything not acknowledged is sent again, starting from the oldest.
    pub fn go_back(&mut self) -> usize {
        let count = self.unacked.len();
        while let Some(segment) = self.unacked.pop_back() {
            self.pending.push_front(segment);
        }
        self.vs = self.vs.wrapping_sub(count as u8) & 7;
        count
    }

    /// Handles a received I-frame; returns a complete APDU (LLC header removed) when this frame
    /// ended one.
    pub fn receive(
        &mut self,
        ns: u8,
        segmented: bool,
        info: &[u8],
    ) -> Result<Option<Vec<u8>>, HdlcError> {
        if ns != self.vr {
            self.rx_gap = true;
            return Ok(None);
        }
        self.vr = (self.vr + 1) & 7;
        if !self.rx_oversize {
            if self.rx_apdu.len() + info.len() > self.max_apdu + self.llc_rx.len() {
                self.rx_oversize = true;
                self.rx_apdu.clear();
            } else {
                self.rx_apdu.extend_from_slice(info);
            }
        }
        self.rx_in_progress = segmented;
        if segmented {
            return Ok(None);
        }
        let apdu = std::mem::take(&mut self.rx_apdu);
        if std::mem::replace(&mut self.rx_oversize, false) {
            return Err(HdlcError::ApduTooLarge {
                limit: self.max_apdu,
            });
        }
        match apdu.strip_prefix(&self.llc_rx[..]) {
            Some(body) => Ok(Some(body.to_vec())),
            None => Err(HdlcError::MissingLlc {
                expected: self.llc_rx,
            }),
        }
    }

    /// Sends what the window allows, the poll/final bit on the last frame; an RR carries the
    /// poll/final bit when no I-frame can go.
    pub fn burst(&mut self, out: &mut VecDeque<Frame>) {
        let room = usize::from(self.params.window_tx).saturating_sub(self.unacked.len());
        let count = room.min(self.pending.len());
        for index in 0..count {
            let Some(segment) = self.pending.pop_front() else {
                break;
            };
            let control = Control::I {
                ns: self.vs,
                nr: self.vr,
                pf: index + 1 == count,
            };
            out.push_back(Frame {
                segmented: segment.more,
                destination: self.peer,
                source: self.local,
                control,
                info: segment.info.clone(),
            });
            self.vs = (self.vs + 1) & 7;
            self.unacked.push_back(segment);
        }
        if count == 0 {
            out.push_back(self.supervisory(true));
        }
        self.rx_gap = false;
    }

    /// An RR with our V(R).
    pub fn supervisory(&mut self, pf: bool) -> Frame {
        self.rx_gap = false;
        Frame::new(self.peer, self.local, Control::Rr { nr: self.vr, pf })
    }

    /// An unnumbered frame to the peer.
    pub fn unnumbered(&self, control: Control, info: Vec<u8>) -> Frame {
        Frame {
            segmented: false,
            destination: self.peer,
            source: self.local,
            control,
            info,
        }
    }
}
