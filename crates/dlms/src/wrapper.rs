//! TCP/UDP wrapper of IEC 62056-47 (DLMS/COSEM transport over IP).
//!
//! Every APDU is preceded by an 8-byte header of big-endian 16-bit fields: version (0x0001),
//! source wPort, destination wPort and the length of the APDU that follows. TCP delivers a byte
//! stream, so [`Reassembler`] rebuilds whole APDUs from reads of any size.

/// The only wrapper protocol version defined by IEC 62056-47.
pub const WRAPPER_VERSION: u16 = 0x0001;
/// Bytes of the wrapper header.
pub const HEADER_LEN: usize = 8;
/// Well-known wPort of the public client.
pub const PUBLIC_CLIENT_WPORT: u16 = 0x0010;
/// Well-known wPort of the management logical device.
pub const MANAGEMENT_LOGICAL_DEVICE_WPORT: u16 = 0x0001;

/// Errors of the wrapper layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WrapperError {
    /// The header's version field is not 0x0001. The stream cannot be trusted after this, so the
    /// reassembler drops everything it had buffered.
    #[error(
        "wrapper header at stream offset {offset} has version 0x{version:04X}, expected 0x0001"
    )]
    BadVersion {
        /// Offset of the header in the stream.
        offset: u64,
        /// Version found.
        version: u16,
    },
    /// The declared APDU length is over the configured limit. The APDU is skipped so the stream
    /// stays in step.
    #[error("wrapper APDU at stream offset {offset} declares {length} bytes, limit is {limit}")]
    Oversize {
        /// Offset of the header in the stream.
        offset: u64,
        /// Declared length.
        length: u16,
        /// Configured limit.
        limit: u16,
    },
    /// An APDU to encode does not fit the 16-bit length field.
    #[error("APDU of {0} bytes does not fit the wrapper's 16-bit length field")]
    TooLong(usize),
    /// A buffer given to [`WrapperPdu::decode`] is not exactly one wrapped APDU.
    #[error("wrapper PDU of {actual} bytes, header says {expected}")]
    LengthMismatch {
        /// Header plus declared length.
        expected: usize,
        /// Bytes given.
        actual: usize,
    },
}

/// The wrapper header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrapperHeader {
    /// Protocol version (0x0001).
    pub version: u16,
    /// wPort of the sender.
    pub source: u16,
    /// wPort of the receiver.
    pub destination: u16,
    /// Bytes of APDU after the header.
    pub length: u16,
}

impl WrapperHeader {
    /// Encodes the header.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0; HEADER_LEN];
        out[0..2].copy_from_slice(&self.version.to_be_bytes());
        out[2..4].copy_from_slice(&self.source.to_be_bytes());
        out[4..6].copy_from_slice(&self.destination.to_be_bytes());
        out[6..8].copy_from_slice(&self.length.to_be_bytes());
        out
    }

    /// Decodes a header from the first 8 bytes of `bytes` (any version; see [`WrapperHeader::version`]).
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let field = |i: usize| Some(u16::from_be_bytes([*bytes.get(i)?, *bytes.get(i + 1)?]));
        Some(Self {
            version: field(0)?,
            source: field(2)?,
            destination: field(4)?,
            length: field(6)?,
        })
    }
}

/// One wrapped APDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrapperPdu {
    /// wPort of the sender.
    pub source: u16,
    /// wPort of the receiver.
    pub destination: u16,
    /// The APDU.
    pub apdu: Vec<u8>,
}

impl WrapperPdu {
    /// Encodes header and APDU.
    pub fn encode(&self) -> Result<Vec<u8>, WrapperError> {
        encode(self.source, self.destination, &self.apdu)
    }

    /// Decodes exactly one wrapped APDU.
    pub fn decode(bytes: &[u8]) -> Result<Self, WrapperError> {
        let mut reassembler = Reassembler::new(u16::MAX);
        reassembler.push(bytes);
        let expected =
            WrapperHeader::decode(bytes).map_or(HEADER_LEN, |h| HEADER_LEN + usize::from(h.length));
        match reassembler.next_pdu() {
            Some(Ok(pdu)) if expected == bytes.len() => Ok(pdu),
            Some(Err(error)) => Err(error),
            _ => Err(WrapperError::LengthMismatch {
                expected,
                actual: bytes.len(),
            }),
        }
    }
}

/// Encodes `apdu` with a version-1 header.
pub fn encode(source: u16, destination: u16, apdu: &[u8]) -> Result<Vec<u8>, WrapperError> {
    let length = u16::try_from(apdu.len()).map_err(|_| WrapperError::TooLong(apdu.len()))?;
    let header = WrapperHeader {
        version: WRAPPER_VERSION,
        source,
        destination,
        length,
    };
    let mut out = Vec::with_capacity(HEADER_LEN + apdu.len());
    out.extend_from_slice(&header.encode());
    out.extend_from_slice(apdu);
    Ok(out)
}

/// Rebuilds wrapped APDUs from a TCP byte stream read in arbitrary chunks.
#[derive(Debug, Clone)]
pub struct Reassembler {
    buffer: Vec<u8>,
    max_apdu: u16,
    /// Stream offset of `buffer[0]`, for error messages.
    offset: u64,
    /// Bytes of an oversize APDU still to be thrown away.
    skip: usize,
}

impl Reassembler {
    /// A reassembler accepting APDUs of up to `max_apdu` bytes.
    pub fn new(max_apdu: u16) -> Self {
        Self {
            buffer: Vec::new(),
            max_apdu,
            offset: 0,
            skip: 0,
        }
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        let skipped = self.skip.min(bytes.len());
        self.skip -= skipped;
        self.offset += skipped as u64;
        self.buffer.extend_from_slice(&bytes[skipped..]);
    }

    /// Bytes buffered towards the next APDU.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// The next complete APDU or error, or `None` when more bytes are needed.
    pub fn next_pdu(&mut self) -> Option<Result<WrapperPdu, WrapperError>> {
        let header = WrapperHeader::decode(&self.buffer)?;
        let offset = self.offset;
        if header.version != WRAPPER_VERSION {
            self.offset += self.buffer.len() as u64;
            self.buffer.clear();
            return Some(Err(WrapperError::BadVersion {
                offset,
                version: header.version,
            }));
        }
        if header.length > self.max_apdu {
            let total = HEADER_LEN + usize::from(header.length);
            let drop = total.min(self.buffer.len());
            self.buffer.drain(..drop);
            self.skip = total - drop;
            self.offset += drop as u64;
            return Some(Err(WrapperError::Oversize {
                offset,
                length: header.length,
                limit: self.max_apdu,
            }));
        }
        let total = HEADER_LEN + usize::from(header.length);
        if self.buffer.len() < total {
            return None;
        }
        let apdu = self.buffer[HEADER_LEN..total].to_vec();
        self.buffer.drain(..total);
        self.offset += total as u64;
        Some(Ok(WrapperPdu {
            source: header.source,
            destination: header.destination,
            apdu,
        }))
    }
}

impl Iterator for Reassembler {
    type Item = Result<WrapperPdu, WrapperError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_pdu()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn header_layout() {
        let bytes = encode(0x0010, 0x0001, &[0x60, 0x00]).unwrap();
        assert_eq!(
            bytes,
            [0x00, 0x01, 0x00, 0x10, 0x00, 0x01, 0x00, 0x02, 0x60, 0x00]
        );
    }

    #[test]
    fn oversize_is_skipped_and_stream_stays_in_step() {
        let mut stream = encode(1, 2, &[0xAA; 20]).unwrap();
        stream.extend(encode(1, 2, &[0xBB; 4]).unwrap());
        let mut reassembler = Reassembler::new(10);
        for byte in &stream {
            reassembler.push(std::slice::from_ref(byte));
        }
        // Feeding byte by byte, the oversize error is reported once the header is in.
        let mut reassembler2 = Reassembler::new(10);
        let mut results = Vec::new();
        for byte in &stream {
            reassembler2.push(std::slice::from_ref(byte));
            results.extend(reassembler2.by_ref());
        }
        assert_eq!(
            results,
            vec![
                Err(WrapperError::Oversize {
                    offset: 0,
                    length: 20,
                    limit: 10
                }),
                Ok(WrapperPdu {
                    source: 1,
                    destination: 2,
                    apdu: vec![0xBB; 4]
                })
            ]
        );
        let all: Vec<_> = reassembler.collect();
        assert_eq!(all.len(), 2);
        assert_eq!(
            all[1],
            Ok(WrapperPdu {
                source: 1,
                destination: 2,
                apdu: vec![0xBB; 4]
            })
        );
    }

    #[test]
    fn bad_version_is_an_error() {
        let mut stream = encode(1, 2, &[1, 2, 3]).unwrap();
        stream[1] = 2;
        let mut reassembler = Reassembler::new(100);
        reassembler.push(&stream);
        assert_eq!(
            reassembler.next_pdu(),
            Some(Err(WrapperError::BadVersion {
                offset: 0,
                version: 2
            }))
        );
        assert_eq!(reassembler.next_pdu(), None);
        assert_eq!(reassembler.buffered(), 0);
    }
}
