//! One `dlms-cosem-rs` HDLC station, built only from that crate's own link pieces, for the
//! application-level interoperability tests over HDLC.
//!
//! Every byte our side sends is parsed by their `Framer` (which checks flags, length, HCS and
//! FCS) and handed to their `Connection::handle` (addresses, control field, N(S), segment
//! reassembly into their `Reassembler`); every byte our side receives was encoded by their
//! `Connection::{connect, acknowledge, poll, disconnect, next_frame}` and `Segmenter`.
#![allow(dead_code, clippy::unwrap_used)]

use dlms_cosem_rs::axdr::DataBuf;
use dlms_cosem_rs::transport::hdlc::{
    Address, Connection, Control, Event, Found, Framer, Parameters, Reassembler, Role,
};

/// The client SAP and server address used on both sides.
pub const CLIENT_SAP: u8 = 0x10;
pub const SERVER_LOGICAL: u16 = 1;
pub const SERVER_PHYSICAL: u16 = 0x11;

/// Energy register and a half-hourly load profile, as both sides' meters expose them.
pub const ENERGY: [u8; 6] = [1, 0, 1, 8, 0, 255];
pub const LOAD_PROFILE: [u8; 6] = [1, 0, 99, 1, 0, 255];
pub const ENERGY_VALUE: u32 = 654_321;
/// scaler_unit of the energy register: 10^-1 Wh (unit 30).
pub const ENERGY_SCALER: i8 = -1;
pub const ENERGY_UNIT: u8 = 30;
/// Rows in the load profile: ~2.1 kB encoded, so more than one 1024-byte PDU (application
/// block transfer) and many 128-byte information fields (HDLC segmentation).
pub const PROFILE_ROWS: u32 = 100;

/// The date-time (as a 12-byte octet-string) of load profile row `row`: 2026-11-29, every
/// 15 minutes from midnight, deviation not specified.
pub fn profile_timestamp(row: u32) -> [u8; 12] {
    let minutes = row * 15;
    let [year_hi, year_lo] = 2026u16.to_be_bytes();
    [
        year_hi,
        year_lo,
        11,
        29,
        0xFF,
        (minutes / 60 % 24) as u8,
        (minutes % 60) as u8,
        0,
        0xFF,
        0x80,
        0x00,
        0x00,
    ]
}

/// The energy reading of load profile row `row`.
pub fn profile_value(row: u32) -> u32 {
    1_000_000 + row * 125
}

/// The whole load profile buffer, built with their owned A-XDR type.
pub fn their_profile_buffer() -> DataBuf {
    DataBuf::Array(
        (0..PROFILE_ROWS)
            .map(|row| {
                DataBuf::Structure(vec![
                    DataBuf::OctetString(profile_timestamp(row).to_vec()),
                    DataBuf::DoubleLongUnsigned(profile_value(row)),
                ])
            })
            .collect(),
    )
}

/// What one received frame meant to their station.
#[derive(Debug, Clone)]
pub struct Heard {
    /// The frame's control field, as their decoder read it.
    pub control: Control,
    /// What their `Connection::handle` made of it.
    pub event: Event,
    /// The reassembled LSDU (LLC header included) when `event` is `Lsdu`.
    pub lsdu: Option<Vec<u8>>,
}

/// Their HDLC station: `Framer` + `Connection` + `Reassembler`, fed a byte stream.
pub struct TheirStation {
    pub link: Connection,
    framer: Framer,
    stream: Vec<u8>,
    assembled: Reassembler<'static>,
    out: Vec<u8>,
}

impl TheirStation {
    pub fn client(parameters: Parameters) -> Self {
        Self::new(
            Role::Client,
            Address::client(CLIENT_SAP),
            Address::server(SERVER_LOGICAL, SERVER_PHYSICAL),
            parameters,
        )
    }

    pub fn server(parameters: Parameters) -> Self {
        Self::new(
            Role::Server,
            Address::server(SERVER_LOGICAL, SERVER_PHYSICAL),
            Address::client(CLIENT_SAP),
            parameters,
        )
    }

    fn new(role: Role, local: Address, peer: Address, parameters: Parameters) -> Self {
        // Their reassembler borrows caller storage; one leaked buffer per test station.
        let storage: &'static mut [u8] = Box::leak(vec![0u8; 16 * 1024].into_boxed_slice());
        Self {
            link: Connection::new(role, local, peer, parameters),
            framer: Framer::new(),
            stream: Vec::new(),
            assembled: Reassembler::new(storage),
            out: vec![0u8; 4096],
        }
    }

    /// Feeds bytes from the line; returns what each complete frame meant.
    pub fn receive(&mut self, bytes: &[u8]) -> Vec<Heard> {
        self.stream.extend_from_slice(bytes);
        let mut heard = Vec::new();
        loop {
            match self.framer.next_frame(&self.stream).unwrap() {
                Found::Frame { frame, consumed } => {
                    let control = frame.control;
                    let event = self.link.handle(&frame, &mut self.assembled).unwrap();
                    let lsdu = (event == Event::Lsdu).then(|| self.assembled.lsdu().to_vec());
                    heard.push(Heard {
                        control,
                        event,
                        lsdu,
                    });
                    self.stream.drain(..consumed);
                }
                Found::Incomplete { discard } => {
                    self.stream.drain(..discard);
                    return heard;
                }
            }
        }
    }

    /// Bytes their framer threw away as not part of any valid frame.
    pub fn discarded(&self) -> usize {
        self.framer.discarded()
    }

    /// The frames of one LSDU (their segmenter, their sequence numbers).
    pub fn frames_for(&mut self, lsdu: &[u8]) -> Vec<Vec<u8>> {
        let mut segmenter = self.link.segmenter(lsdu).unwrap();
        let mut frames = Vec::new();
        while let Some(n) = self.link.next_frame(&mut segmenter, &mut self.out).unwrap() {
            frames.push(self.out[..n].to_vec());
        }
        frames
    }

    pub fn connect(&mut self) -> Vec<u8> {
        let n = self.link.connect(&mut self.out).unwrap();
        self.out[..n].to_vec()
    }

    pub fn disconnect(&mut self) -> Vec<u8> {
        let n = self.link.disconnect(&mut self.out).unwrap();
        self.out[..n].to_vec()
    }

    pub fn acknowledge(&mut self) -> Vec<u8> {
        let n = self.link.acknowledge(&mut self.out).unwrap();
        self.out[..n].to_vec()
    }

    /// RR with their N(R) and the poll/final bit.
    pub fn poll(&mut self) -> Vec<u8> {
        let n = self.link.poll(&mut self.out).unwrap();
        self.out[..n].to_vec()
    }
}

/// LLC header + APDU.
pub fn with_llc(llc: [u8; 3], apdu: &[u8]) -> Vec<u8> {
    [&llc[..], apdu].concat()
}
