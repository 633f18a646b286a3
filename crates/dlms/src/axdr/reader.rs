//! Byte cursor shared by the A-XDR, ACSE (BER) and xDLMS decoders.
//!
//! Every read is bounds-checked and reports the byte offset where it failed, so a malformed APDU
//! produces an error naming what was being read and where, never a panic.

use super::DecodeError;

/// A forward-only cursor over an input slice.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// Offset of `bytes[0]` in the outermost input, so nested readers report absolute offsets.
    base: usize,
}

impl<'a> Reader<'a> {
    /// A reader over the whole of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            pos: 0,
            base: 0,
        }
    }

    /// Absolute offset of the next byte to read.
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// True when every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The unread bytes, without consuming them.
    pub fn rest(&self) -> &'a [u8] {
        &self.bytes[self.pos..]
    }

    /// Looks at the next byte without consuming it.
    pub fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Reads exactly `n` bytes.
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated {
                what,
                offset: self.offset(),
                needed: n,
                available: self.remaining(),
            });
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Reads a fixed-size array.
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let slice = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        Ok(out)
    }

    /// Reads one byte.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(what)?[0])
    }

    /// Reads a big-endian u16.
    pub fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    /// Reads a big-endian u32.
    pub fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    /// Reads a big-endian u64.
    pub fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    /// Reads an A-XDR boolean (any non-zero byte is true, as the standard says).
    pub fn bool(&mut self, what: &'static str) -> Result<bool, DecodeError> {
        Ok(self.u8(what)? != 0)
    }

    /// Reads an A-XDR length: one byte below 0x80, otherwise `0x80 | n` followed by `n`
    /// big-endian length bytes (n ≤ 4).
    pub fn length(&mut self, what: &'static str) -> Result<usize, DecodeError> {
        let at = self.offset();
        let first = self.u8(what)?;
        if first < 0x80 {
            return Ok(usize::from(first));
        }
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 4 {
            return Err(DecodeError::Invalid {
                what: "length-of-length",
                offset: at,
                value: u32::from(first),
            });
        }
        let mut len: usize = 0;
        for b in self.take(n, what)? {
            len = (len << 8) | usize::from(*b);
        }
        Ok(len)
    }

    /// Reads an A-XDR length and then that many bytes.
    pub fn length_prefixed(&mut self, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = self.length(what)?;
        self.take(len, what)
    }

    /// Splits off a sub-reader over the next `n` bytes (offsets stay absolute).
    pub fn sub(&mut self, n: usize, what: &'static str) -> Result<Reader<'a>, DecodeError> {
        let base = self.offset();
        let bytes = self.take(n, what)?;
        Ok(Reader {
            bytes,
            pos: 0,
            base,
        })
    }

    /// Fails unless every byte has been consumed.
    pub fn finish(&self, what: &'static str) -> Result<(), DecodeError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Trailing {
                what,
                offset: self.offset(),
                count: self.remaining(),
            })
        }
    }

    /// An `Invalid` error at the current offset (minus `back` bytes already read).
    pub fn invalid(&self, what: &'static str, value: u32, back: usize) -> DecodeError {
        DecodeError::Invalid {
            what,
            offset: self.offset().saturating_sub(back),
            value,
        }
    }
}

/// Appends an A-XDR length (see [`Reader::length`]).
pub fn write_length(out: &mut Vec<u8>, len: usize) {
    let (bytes, used) = length_bytes(len);
    out.extend_from_slice(&bytes[..used]);
}

/// The A-XDR encoding of `len`: the first `used` bytes of the array.
pub(crate) fn length_bytes(len: usize) -> ([u8; 5], usize) {
    if len < 0x80 {
        ([len as u8, 0, 0, 0, 0], 1)
    } else if len <= 0xFF {
        ([0x81, len as u8, 0, 0, 0], 2)
    } else if len <= 0xFFFF {
        let [high, low] = (len as u16).to_be_bytes();
        ([0x82, high, low, 0, 0], 3)
    } else {
        let [a, b, c, d] = (len as u32).to_be_bytes();
        ([0x84, a, b, c, d], 5)
    }
}

/// Appends an A-XDR length followed by the bytes.
pub fn write_length_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    write_length(out, bytes.len());
    out.extend_from_slice(bytes);
}
