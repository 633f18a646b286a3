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
    #[inline]
    pub fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            pos: 0,
            base: 0,
        }
    }

    /// A reader over `bytes` that sit at absolute offset `base` of the outermost input.
    #[inline]
    pub(crate) fn with_base(bytes: &'a [u8], base: usize) -> Self {
        Self {
            bytes,
            pos: 0,
            base,
        }
    }

    /// Absolute offset of the next byte to read.
    #[inline]
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// Bytes not yet read.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// True when every byte has been read.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The unread bytes, without consuming them.
    #[inline]
    pub fn rest(&self) -> &'a [u8] {
        &self.bytes[self.pos..]
    }

    /// Looks at the next byte without consuming it.
    #[inline]
    pub fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Reads exactly `n` bytes.
    #[inline]
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

    /// Skips `n` bytes if there are that many (true), else reads nothing (false).
    #[inline]
    pub(crate) fn advance(&mut self, n: usize) -> bool {
        let available = self.remaining() >= n;
        if available {
            self.pos += n;
        }
        available
    }

    /// Reads one byte of input already checked by a decoder (0 past the end, which a checked
    /// input never reaches).
    #[inline]
    pub(crate) fn checked_u8(&mut self) -> u8 {
        let byte = self.bytes.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        byte
    }

    /// Reads `N` bytes of input already checked by a decoder (zeros past the end).
    #[inline]
    pub(crate) fn checked_array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        if let Some(bytes) = self.bytes.get(self.pos..self.pos + N) {
            out.copy_from_slice(bytes);
        }
        self.pos += N;
        out
    }

    /// Reads `n` bytes of input already checked by a decoder (empty past the end).
    #[inline]
    pub(crate) fn checked_take(&mut self, n: usize) -> &'a [u8] {
        let bytes = self.bytes.get(self.pos..self.pos + n).unwrap_or(&[]);
        self.pos += n;
        bytes
    }

    /// Reads an A-XDR length of input already checked by a decoder.
    #[inline]
    pub(crate) fn checked_length(&mut self) -> usize {
        let first = self.checked_u8();
        if first < 0x80 {
            return usize::from(first);
        }
        let mut len: usize = 0;
        for b in self.checked_take(usize::from(first & 0x7F)) {
            len = (len << 8) | usize::from(*b);
        }
        len
    }

    /// Reads a fixed-size array.
    #[inline]
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let slice = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        Ok(out)
    }

    /// Reads one byte.
    #[inline]
    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(what)?[0])
    }

    /// Reads a big-endian u16.
    #[inline]
    pub fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    /// Reads a big-endian u32.
    #[inline]
    pub fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    /// Reads a big-endian u64.
    #[inline]
    pub fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    /// Reads an A-XDR boolean (any non-zero byte is true, as the standard says).
    #[inline]
    pub fn bool(&mut self, what: &'static str) -> Result<bool, DecodeError> {
        Ok(self.u8(what)? != 0)
    }

    /// Reads an A-XDR length: one byte below 0x80, otherwise `0x80 | n` followed by `n`
    /// big-endian length bytes (n ≤ 4).
    #[inline]
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
    #[inline]
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
