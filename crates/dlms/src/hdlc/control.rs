//! The HDLC control field (modulo-8 numbering, IEC 62056-46 clause 6.4.3).

/// Control field of a frame. Sequence numbers are 0..=7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Control {
    /// Information frame.
    I {
        /// Send sequence number N(S).
        ns: u8,
        /// Receive sequence number N(R): the next frame expected from the peer.
        nr: u8,
        /// Poll (command) / final (response) bit.
        pf: bool,
    },
    /// Receive ready.
    Rr {
        /// Receive sequence number N(R).
        nr: u8,
        /// Poll/final bit.
        pf: bool,
    },
    /// Receive not ready.
    Rnr {
        /// Receive sequence number N(R).
        nr: u8,
        /// Poll/final bit.
        pf: bool,
    },
    /// Set normal response mode (command).
    Snrm {
        /// Poll bit.
        pf: bool,
    },
    /// Disconnect (command).
    Disc {
        /// Poll bit.
        pf: bool,
    },
    /// Unnumbered acknowledge (response).
    Ua {
        /// Final bit.
        pf: bool,
    },
    /// Disconnected mode (response).
    Dm {
        /// Final bit.
        pf: bool,
    },
    /// Frame reject (response).
    Frmr {
        /// Final bit.
        pf: bool,
    },
    /// Unnumbered information.
    Ui {
        /// Poll/final bit.
        pf: bool,
    },
    /// A control byte this implementation does not know (e.g. REJ, SREJ, XID, TEST). Kept so a
    /// secondary station can answer it with FRMR naming the rejected byte.
    Unknown(u8),
}

const PF: u8 = 0x10;
const SNRM: u8 = 0x83;
const DISC: u8 = 0x43;
const UA: u8 = 0x63;
const DM: u8 = 0x0F;
const FRMR: u8 = 0x87;
const UI: u8 = 0x03;
const RR: u8 = 0x01;
const RNR: u8 = 0x05;

impl Control {
    /// Decodes a control byte; never fails (unknown bytes become [`Control::Unknown`]).
    pub fn from_byte(byte: u8) -> Self {
        let pf = byte & PF != 0;
        let nr = byte >> 5;
        if byte & 1 == 0 {
            return Self::I {
                ns: (byte >> 1) & 7,
                nr,
                pf,
            };
        }
        match byte & !PF {
            b if b & 0x0F == RR => Self::Rr { nr, pf },
            b if b & 0x0F == RNR => Self::Rnr { nr, pf },
            SNRM => Self::Snrm { pf },
            DISC => Self::Disc { pf },
            UA => Self::Ua { pf },
            DM => Self::Dm { pf },
            FRMR => Self::Frmr { pf },
            UI => Self::Ui { pf },
            _ => Self::Unknown(byte),
        }
    }

    /// Encodes the control byte. Sequence numbers are taken modulo 8.
    pub fn to_byte(self) -> u8 {
        let pf = |pf: bool| if pf { PF } else { 0 };
        let nr = |nr: u8| (nr & 7) << 5;
        match self {
            Self::I { ns, nr: r, pf: p } => nr(r) | pf(p) | ((ns & 7) << 1),
            Self::Rr { nr: r, pf: p } => nr(r) | pf(p) | RR,
            Self::Rnr { nr: r, pf: p } => nr(r) | pf(p) | RNR,
            Self::Snrm { pf: p } => SNRM | pf(p),
            Self::Disc { pf: p } => DISC | pf(p),
            Self::Ua { pf: p } => UA | pf(p),
            Self::Dm { pf: p } => DM | pf(p),
            Self::Frmr { pf: p } => FRMR | pf(p),
            Self::Ui { pf: p } => UI | pf(p),
            Self::Unknown(byte) => byte,
        }
    }

    /// The poll/final bit.
    pub fn poll_final(self) -> bool {
        match self {
            Self::I { pf, .. }
            | Self::Rr { pf, .. }
            | Self::Rnr { pf, .. }
            | Self::Snrm { pf }
            | Self::Disc { pf }
            | Self::Ua { pf }
            | Self::Dm { pf }
            | Self::Frmr { pf }
            | Self::Ui { pf } => pf,
            Self::Unknown(byte) => byte & PF != 0,
        }
    }

    /// N(R) of I, RR and RNR frames.
    pub fn receive_sequence(self) -> Option<u8> {
        match self {
            Self::I { nr, .. } | Self::Rr { nr, .. } | Self::Rnr { nr, .. } => Some(nr),
            _ => None,
        }
    }

    /// Whether frames of this type may carry an information field.
    pub fn allows_information(self) -> bool {
        matches!(
            self,
            Self::I { .. }
                | Self::Snrm { .. }
                | Self::Ua { .. }
                | Self::Frmr { .. }
                | Self::Ui { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_bytes() {
        assert_eq!(Control::Snrm { pf: true }.to_byte(), 0x93);
        assert_eq!(Control::Ua { pf: true }.to_byte(), 0x73);
        assert_eq!(Control::Disc { pf: true }.to_byte(), 0x53);
        assert_eq!(Control::Dm { pf: true }.to_byte(), 0x1F);
        assert_eq!(Control::Frmr { pf: true }.to_byte(), 0x97);
        assert_eq!(
            Control::I {
                ns: 0,
                nr: 0,
                pf: true
            }
            .to_byte(),
            0x10
        );
        assert_eq!(
            Control::from_byte(0xB2),
            Control::I {
                ns: 1,
                nr: 5,
                pf: true
            }
        );
        assert_eq!(Control::from_byte(0x31), Control::Rr { nr: 1, pf: true });
    }

    #[test]
    fn every_byte_round_trips() {
        for byte in 0..=u8::MAX {
            assert_eq!(
                Control::from_byte(byte).to_byte(),
                byte,
                "byte 0x{byte:02X}"
            );
        }
    }
}
