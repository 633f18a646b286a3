//! SNRM/UA parameter negotiation (IEC 62056-46 clause 6.4.4.4.3.2, after ISO/IEC 13239 XID).
//!
//! The field is `81 80 <group length>` followed by `<id> <len> <value>` entries, values big-endian:
//! 05 max information field length transmit, 06 receive, 07 window size transmit, 08 receive.
//! Each side states its own transmit/receive view; absent parameters take the defaults 128/128/1/1.

use super::frame_error::FrameError;

const FORMAT_IDENTIFIER: u8 = 0x81;
const GROUP_IDENTIFIER: u8 = 0x80;
const MAX_INFO_TX: u8 = 0x05;
const MAX_INFO_RX: u8 = 0x06;
const WINDOW_TX: u8 = 0x07;
const WINDOW_RX: u8 = 0x08;

/// Default maximum information field length, both directions.
pub const DEFAULT_MAX_INFO: u16 = 128;
/// Default window size, both directions.
pub const DEFAULT_WINDOW: u8 = 1;
/// Largest window with modulo-8 sequence numbers.
pub const MAX_WINDOW: u8 = 7;
/// Largest information field that fits a frame with four-byte server addresses.
pub const MAX_INFO_LIMIT: u16 = 2030;
/// Smallest information field length: segmentation copes with anything from one byte up.
pub const MIN_INFO: u16 = 1;

/// HDLC link parameters as seen by one station.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HdlcParameters {
    /// Largest information field this station sends.
    pub max_info_tx: u16,
    /// Largest information field this station accepts.
    pub max_info_rx: u16,
    /// I-frames this station sends before it needs an acknowledgement.
    pub window_tx: u8,
    /// I-frames this station accepts before it acknowledges.
    pub window_rx: u8,
}

impl Default for HdlcParameters {
    fn default() -> Self {
        Self {
            max_info_tx: DEFAULT_MAX_INFO,
            max_info_rx: DEFAULT_MAX_INFO,
            window_tx: DEFAULT_WINDOW,
            window_rx: DEFAULT_WINDOW,
        }
    }
}

impl HdlcParameters {
    /// The same parameters brought into the ranges this implementation supports.
    pub fn clamped(self) -> Self {
        Self {
            max_info_tx: self.max_info_tx.clamp(MIN_INFO, MAX_INFO_LIMIT),
            max_info_rx: self.max_info_rx.clamp(MIN_INFO, MAX_INFO_LIMIT),
            window_tx: self.window_tx.clamp(1, MAX_WINDOW),
            window_rx: self.window_rx.clamp(1, MAX_WINDOW),
        }
    }

    /// What this station may use, given what the peer proposed from its own point of view:
    /// our transmit limit is the smaller of ours and the peer's receive limit, and vice versa.
    pub fn negotiate(&self, peer: &HdlcParameters) -> Self {
        Self {
            max_info_tx: self.max_info_tx.min(peer.max_info_rx),
            max_info_rx: self.max_info_rx.min(peer.max_info_tx),
            window_tx: self.window_tx.min(peer.window_rx),
            window_rx: self.window_rx.min(peer.window_tx),
        }
        .clamped()
    }

    /// Encodes the parameter field: lengths in two bytes, windows in four, as in the DLMS UA examples.
    pub fn encode(&self) -> Vec<u8> {
        let mut group = Vec::with_capacity(20);
        for (id, value) in [
            (MAX_INFO_TX, self.max_info_tx),
            (MAX_INFO_RX, self.max_info_rx),
        ] {
            group.extend_from_slice(&[id, 2]);
            group.extend_from_slice(&value.to_be_bytes());
        }
        for (id, value) in [(WINDOW_TX, self.window_tx), (WINDOW_RX, self.window_rx)] {
            group.extend_from_slice(&[id, 4, 0, 0, 0, value]);
        }
        let mut out = Vec::with_capacity(group.len() + 3);
        // The group is at most 20 bytes, so its length fits one byte.
        out.extend_from_slice(&[FORMAT_IDENTIFIER, GROUP_IDENTIFIER, group.len() as u8]);
        out.extend_from_slice(&group);
        out
    }

    /// Decodes a parameter field. An empty field means "all defaults". Unknown parameters are
    /// skipped; values that do not fit the parameter are errors.
    pub fn decode(info: &[u8]) -> Result<Self, FrameError> {
        let mut params = Self::default();
        if info.is_empty() {
            return Ok(params);
        }
        let [format, group_id, group_len, rest @ ..] = info else {
            return Err(FrameError::BadParameters("shorter than its 3-byte header"));
        };
        if *format != FORMAT_IDENTIFIER {
            return Err(FrameError::BadParameters("format identifier is not 0x81"));
        }
        if *group_id != GROUP_IDENTIFIER {
            return Err(FrameError::BadParameters("group identifier is not 0x80"));
        }
        let mut group = rest
            .get(..usize::from(*group_len))
            .ok_or(FrameError::BadParameters("group length beyond the field"))?;
        while let [id, len, tail @ ..] = group {
            let value_bytes = tail
                .get(..usize::from(*len))
                .ok_or(FrameError::BadParameters(
                    "parameter value beyond the group",
                ))?;
            group = &tail[usize::from(*len)..];
            if !matches!(*id, MAX_INFO_TX | MAX_INFO_RX | WINDOW_TX | WINDOW_RX) {
                continue;
            }
            if value_bytes.is_empty() || value_bytes.len() > 4 {
                return Err(FrameError::BadParameters(
                    "parameter value is not 1 to 4 bytes",
                ));
            }
            let value = value_bytes
                .iter()
                .fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
            match *id {
                MAX_INFO_TX | MAX_INFO_RX => {
                    let v = u16::try_from(value).map_err(|_| {
                        FrameError::BadParameters("information field length over 65535")
                    })?;
                    if *id == MAX_INFO_TX {
                        params.max_info_tx = v;
                    } else {
                        params.max_info_rx = v;
                    }
                }
                _ => {
                    let v = u8::try_from(value)
                        .ok()
                        .filter(|w| (1..=MAX_WINDOW).contains(w))
                        .ok_or(FrameError::BadParameters("window size not in 1..=7"))?;
                    if *id == WINDOW_TX {
                        params.window_tx = v;
                    } else {
                        params.window_rx = v;
                    }
                }
            }
        }
        if !group.is_empty() {
            return Err(FrameError::BadParameters("truncated parameter in group"));
        }
        Ok(params)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn kmethy_ua_parameters() {
        let field = [
            0x81, 0x80, 0x14, 0x05, 0x02, 0x00, 0x80, 0x06, 0x02, 0x00, 0x80, 0x07, 0x04, 0x00,
            0x00, 0x00, 0x01, 0x08, 0x04, 0x00, 0x00, 0x00, 0x01,
        ];
        assert_eq!(
            HdlcParameters::decode(&field).unwrap(),
            HdlcParameters::default()
        );
    }

    #[test]
    fn negotiation_takes_the_minimum_crosswise() {
        let client = HdlcParameters {
            max_info_tx: 1000,
            max_info_rx: 200,
            window_tx: 7,
            window_rx: 3,
        };
        let server = HdlcParameters {
            max_info_tx: 500,
            max_info_rx: 2000,
            window_tx: 2,
            window_rx: 7,
        };
        let server_view = server.negotiate(&client);
        assert_eq!(
            server_view,
            HdlcParameters {
                max_info_tx: 200,
                max_info_rx: 1000,
                window_tx: 2,
                window_rx: 7
            }
        );
        let client_view = client.negotiate(&server_view);
        assert_eq!(
            client_view,
            HdlcParameters {
                max_info_tx: 1000,
                max_info_rx: 200,
                window_tx: 7,
                window_rx: 2
            }
        );
    }
}
