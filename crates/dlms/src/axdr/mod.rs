//! A-XDR encoding of COSEM `Data` (IEC 62056-6-2 and the xDLMS `Data` CHOICE of IEC 62056-5-3).
//!
//! Every value starts with its tag byte; variable-length values carry an A-XDR length (one byte
//! below 0x80, else `0x80|n` and `n` big-endian bytes). Decoding is total: any input yields a
//! value or a [`DecodeError`] naming what failed and at which byte offset. Nesting is bounded by
//! [`MAX_DEPTH`] so hostile input cannot exhaust the stack.

mod compact;
pub mod datetime;
pub mod reader;
pub mod view;

pub use compact::{CompactArray, TypeDescription};
pub use datetime::{ClockStatus, Date, DateTime, Time};
pub use reader::Reader;
pub use view::{DataRef, Items, ItemsIter};

use reader::{write_length, write_length_prefixed};

/// Maximum nesting of arrays/structures accepted by the decoder.
pub const MAX_DEPTH: usize = 64;

/// Why some bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended early.
    #[error("truncated {what} at byte {offset}: needed {needed} bytes, {available} available")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Byte offset where the read started.
        offset: usize,
        /// Bytes needed.
        needed: usize,
        /// Bytes left in the input.
        available: usize,
    },
    /// A byte (or field) had a value the standard does not allow here.
    #[error("invalid {what} {value:#04x} at byte {offset}")]
    Invalid {
        /// What was being read.
        what: &'static str,
        /// Byte offset of the bad value.
        offset: usize,
        /// The value found.
        value: u32,
    },
    /// Bytes were left over after a complete value.
    #[error("{count} unexpected trailing bytes after {what} at byte {offset}")]
    Trailing {
        /// What was complete.
        what: &'static str,
        /// Offset of the first extra byte.
        offset: usize,
        /// How many bytes were left.
        count: usize,
    },
    /// Arrays/structures nested deeper than [`MAX_DEPTH`].
    #[error("data nested deeper than {MAX_DEPTH} levels at byte {offset}")]
    TooDeep {
        /// Offset where the limit was hit.
        offset: usize,
    },
    /// A string was not valid UTF-8.
    #[error("utf8-string at byte {offset} is not valid UTF-8")]
    Utf8 {
        /// Offset of the string contents.
        offset: usize,
    },
}

/// A-XDR tag bytes of the `Data` CHOICE.
pub mod tag {
    #![allow(missing_docs)]
    pub const NULL_DATA: u8 = 0;
    pub const ARRAY: u8 = 1;
    pub const STRUCTURE: u8 = 2;
    pub const BOOLEAN: u8 = 3;
    pub const BIT_STRING: u8 = 4;
    pub const DOUBLE_LONG: u8 = 5;
    pub const DOUBLE_LONG_UNSIGNED: u8 = 6;
    pub const OCTET_STRING: u8 = 9;
    pub const VISIBLE_STRING: u8 = 10;
    pub const UTF8_STRING: u8 = 12;
    pub const BCD: u8 = 13;
    pub const INTEGER: u8 = 15;
    pub const LONG: u8 = 16;
    pub const UNSIGNED: u8 = 17;
    pub const LONG_UNSIGNED: u8 = 18;
    pub const COMPACT_ARRAY: u8 = 19;
    pub const LONG64: u8 = 20;
    pub const LONG64_UNSIGNED: u8 = 21;
    pub const ENUM: u8 = 22;
    pub const FLOAT32: u8 = 23;
    pub const FLOAT64: u8 = 24;
    pub const DATE_TIME: u8 = 25;
    pub const DATE: u8 = 26;
    pub const TIME: u8 = 27;
    pub const DONT_CARE: u8 = 255;
}

/// A bit-string: `len` bits, most significant bit of the first byte first.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct BitString {
    /// Number of bits.
    pub len: usize,
    /// `ceil(len / 8)` bytes holding the bits.
    pub bytes: Vec<u8>,
}

impl BitString {
    /// A bit-string from booleans.
    pub fn from_bits(bits: &[bool]) -> Self {
        let mut bytes = vec![0u8; bits.len().div_ceil(8)];
        for (i, _) in bits.iter().enumerate().filter(|(_, b)| **b) {
            bytes[i / 8] |= 0x80 >> (i % 8);
        }
        Self {
            len: bits.len(),
            bytes,
        }
    }

    /// Bit `i` (false when out of range).
    pub fn get(&self, i: usize) -> bool {
        i < self.len
            && self
                .bytes
                .get(i / 8)
                .is_some_and(|b| b & (0x80 >> (i % 8)) != 0)
    }
}

/// A COSEM data value (the xDLMS `Data` CHOICE).
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// `null-data` \[0\].
    Null,
    /// `array` \[1\]: elements of one type.
    Array(Vec<Data>),
    /// `structure` \[2\].
    Structure(Vec<Data>),
    /// `boolean` \[3\].
    Boolean(bool),
    /// `bit-string` \[4\] (boxed, like compact arrays, to keep every `Data` at 32 bytes).
    BitString(Box<BitString>),
    /// `double-long` \[5\].
    DoubleLong(i32),
    /// `double-long-unsigned` \[6\].
    DoubleLongUnsigned(u32),
    /// `octet-string` \[9\].
    OctetString(Vec<u8>),
    /// `visible-string` \[10\] (bytes as sent; normally ASCII).
    VisibleString(Vec<u8>),
    /// `utf8-string` \[12\].
    Utf8String(String),
    /// `bcd` \[13\].
    Bcd(i8),
    /// `integer` \[15\].
    Integer(i8),
    /// `long` \[16\].
    Long(i16),
    /// `unsigned` \[17\].
    Unsigned(u8),
    /// `long-unsigned` \[18\].
    LongUnsigned(u16),
    /// `compact-array` \[19\] (boxed: it is rare and large, and every other value pays for
    /// the size of the largest variant).
    CompactArray(Box<CompactArray>),
    /// `long64` \[20\].
    Long64(i64),
    /// `long64-unsigned` \[21\].
    Long64Unsigned(u64),
    /// `enum` \[22\].
    Enum(u8),
    /// `float32` \[23\].
    Float32(f32),
    /// `float64` \[24\].
    Float64(f64),
    /// `date-time` \[25\].
    DateTime(DateTime),
    /// `date` \[26\].
    Date(Date),
    /// `time` \[27\].
    Time(Time),
    /// `dont-care` \[255\].
    DontCare,
}

impl Data {
    /// The A-XDR tag of this value.
    pub fn tag(&self) -> u8 {
        match self {
            Data::Null => tag::NULL_DATA,
            Data::Array(_) => tag::ARRAY,
            Data::Structure(_) => tag::STRUCTURE,
            Data::Boolean(_) => tag::BOOLEAN,
            Data::BitString(_) => tag::BIT_STRING,
            Data::DoubleLong(_) => tag::DOUBLE_LONG,
            Data::DoubleLongUnsigned(_) => tag::DOUBLE_LONG_UNSIGNED,
            Data::OctetString(_) => tag::OCTET_STRING,
            Data::VisibleString(_) => tag::VISIBLE_STRING,
            Data::Utf8String(_) => tag::UTF8_STRING,
            Data::Bcd(_) => tag::BCD,
            Data::Integer(_) => tag::INTEGER,
            Data::Long(_) => tag::LONG,
            Data::Unsigned(_) => tag::UNSIGNED,
            Data::LongUnsigned(_) => tag::LONG_UNSIGNED,
            Data::CompactArray(_) => tag::COMPACT_ARRAY,
            Data::Long64(_) => tag::LONG64,
            Data::Long64Unsigned(_) => tag::LONG64_UNSIGNED,
            Data::Enum(_) => tag::ENUM,
            Data::Float32(_) => tag::FLOAT32,
            Data::Float64(_) => tag::FLOAT64,
            Data::DateTime(_) => tag::DATE_TIME,
            Data::Date(_) => tag::DATE,
            Data::Time(_) => tag::TIME,
            Data::DontCare => tag::DONT_CARE,
        }
    }

    /// Appends the tagged encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        // Fixed-size values go out as one slice with their tag (one capacity check, not two).
        match self {
            Data::DoubleLong(v) => push_tagged(out, tag::DOUBLE_LONG, v.to_be_bytes()),
            Data::DoubleLongUnsigned(v) => {
                push_tagged(out, tag::DOUBLE_LONG_UNSIGNED, v.to_be_bytes());
            }
            Data::Long(v) => push_tagged(out, tag::LONG, v.to_be_bytes()),
            Data::LongUnsigned(v) => push_tagged(out, tag::LONG_UNSIGNED, v.to_be_bytes()),
            Data::Unsigned(v) => out.extend_from_slice(&[tag::UNSIGNED, *v]),
            Data::Enum(v) => out.extend_from_slice(&[tag::ENUM, *v]),
            Data::Integer(v) => out.extend_from_slice(&[tag::INTEGER, *v as u8]),
            Data::Boolean(b) => out.extend_from_slice(&[tag::BOOLEAN, u8::from(*b)]),
            Data::OctetString(b) => push_tagged_octets(out, tag::OCTET_STRING, b),
            _ => {
                out.push(self.tag());
                self.encode_untagged(out);
            }
        }
    }

    /// The tagged encoding as a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// Appends the encoding without the tag byte (as used inside compact arrays).
    pub fn encode_untagged(&self, out: &mut Vec<u8>) {
        match self {
            Data::Null | Data::DontCare => {}
            Data::Array(items) | Data::Structure(items) => {
                write_length(out, items.len());
                for item in items {
                    item.encode(out);
                }
            }
            Data::Boolean(b) => out.push(u8::from(*b)),
            Data::BitString(bits) => {
                write_length(out, bits.len);
                out.extend_from_slice(&bits.bytes);
            }
            Data::DoubleLong(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::DoubleLongUnsigned(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::OctetString(b) | Data::VisibleString(b) => write_length_prefixed(out, b),
            Data::Utf8String(s) => write_length_prefixed(out, s.as_bytes()),
            Data::Bcd(v) | Data::Integer(v) => out.push(*v as u8),
            Data::Long(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::Unsigned(v) | Data::Enum(v) => out.push(*v),
            Data::LongUnsigned(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::CompactArray(ca) => ca.encode_untagged(out),
            Data::Long64(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::Long64Unsigned(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::Float32(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::Float64(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::DateTime(dt) => dt.encode(out),
            Data::Date(d) => d.encode(out),
            Data::Time(t) => t.encode(out),
        }
    }

    /// Decodes exactly one value occupying all of `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Data, DecodeError> {
        let mut r = Reader::new(bytes);
        let d = Data::decode(&mut r)?;
        r.finish("data")?;
        Ok(d)
    }

    /// Decodes one tagged value from the reader.
    pub fn decode(r: &mut Reader<'_>) -> Result<Data, DecodeError> {
        decode_depth(r, 0)
    }

    /// Decodes one value of the given tag whose tag byte has already been read.
    pub fn decode_untagged(r: &mut Reader<'_>, tag: u8) -> Result<Data, DecodeError> {
        decode_untagged_depth(r, tag, 0)
    }

    /// The elements of an array or structure.
    pub fn as_items(&self) -> Option<&[Data]> {
        match self {
            Data::Array(v) | Data::Structure(v) => Some(v),
            _ => None,
        }
    }

    /// The bytes of an octet-string or visible-string.
    pub fn as_octets(&self) -> Option<&[u8]> {
        match self {
            Data::OctetString(b) | Data::VisibleString(b) => Some(b),
            _ => None,
        }
    }

    /// Any integer type (including enum and bcd) widened to i128.
    pub fn as_integer(&self) -> Option<i128> {
        Some(match *self {
            Data::DoubleLong(v) => v.into(),
            Data::DoubleLongUnsigned(v) => v.into(),
            Data::Bcd(v) | Data::Integer(v) => v.into(),
            Data::Long(v) => v.into(),
            Data::Unsigned(v) | Data::Enum(v) => v.into(),
            Data::LongUnsigned(v) => v.into(),
            Data::Long64(v) => v.into(),
            Data::Long64Unsigned(v) => v.into(),
            _ => return None,
        })
    }

    /// A boolean value.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Data::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// A date-time given either as `date-time` or as its 12-octet `octet-string` form.
    pub fn as_date_time(&self) -> Option<DateTime> {
        match self {
            Data::DateTime(dt) => Some(*dt),
            Data::OctetString(b) if b.len() == DateTime::LEN => DateTime::from_octets(b).ok(),
            _ => None,
        }
    }
}

#[inline(always)]
fn push_tagged<const N: usize>(out: &mut Vec<u8>, tag: u8, bytes: [u8; N]) {
    out.reserve(N + 1);
    out.push(tag);
    out.extend_from_slice(&bytes);
}

#[inline(always)]
fn push_tagged_octets(out: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
    // Tag, at most 5 length bytes, contents.
    out.reserve(bytes.len() + 6);
    out.push(tag);
    write_length_prefixed(out, bytes);
}

fn decode_depth(r: &mut Reader<'_>, depth: usize) -> Result<Data, DecodeError> {
    let tag = r.u8("data tag")?;
    decode_untagged_depth(r, tag, depth)
}

pub(crate) fn decode_untagged_depth(
    r: &mut Reader<'_>,
    tag: u8,
    depth: usize,
) -> Result<Data, DecodeError> {
    decode_value(r, tag, depth)
}

/// The elements of an array or structure whose tag has been read: its length, then that many
/// tagged values, pushed straight into the vector that is returned. Decoding each element in
/// this loop (rather than through a call returning a `Data`) keeps the values out of a
/// returned temporary that would be copied once more into the vector.
fn decode_items(r: &mut Reader<'_>, depth: usize) -> Result<Vec<Data>, DecodeError> {
    if depth >= MAX_DEPTH {
        return Err(DecodeError::TooDeep { offset: r.offset() });
    }
    let count = r.length("array/structure length")?;
    // Each element takes at least one byte; cap the pre-allocation by what is left.
    let mut items = Vec::with_capacity(count.min(r.remaining()));
    for _ in 0..count {
        let tag = r.u8("data tag")?;
        items.push(decode_value(r, tag, depth + 1)?);
    }
    Ok(items)
}

#[inline(always)]
fn decode_value(r: &mut Reader<'_>, tag: u8, depth: usize) -> Result<Data, DecodeError> {
    Ok(match tag {
        tag::NULL_DATA => Data::Null,
        tag::DONT_CARE => Data::DontCare,
        tag::ARRAY => Data::Array(decode_items(r, depth)?),
        tag::STRUCTURE => Data::Structure(decode_items(r, depth)?),
        tag::BOOLEAN => Data::Boolean(r.bool("boolean")?),
        tag::BIT_STRING => {
            let len = r.length("bit-string length")?;
            let bytes = r.take(len.div_ceil(8), "bit-string")?.to_vec();
            Data::BitString(Box::new(BitString { len, bytes }))
        }
        tag::DOUBLE_LONG => Data::DoubleLong(r.u32("double-long")? as i32),
        tag::DOUBLE_LONG_UNSIGNED => Data::DoubleLongUnsigned(r.u32("double-long-unsigned")?),
        tag::OCTET_STRING => Data::OctetString(r.length_prefixed("octet-string")?.to_vec()),
        tag::VISIBLE_STRING => Data::VisibleString(r.length_prefixed("visible-string")?.to_vec()),
        tag::UTF8_STRING => {
            let bytes = r.length_prefixed("utf8-string")?;
            let offset = r.offset() - bytes.len();
            let s = std::str::from_utf8(bytes).map_err(|_| DecodeError::Utf8 { offset })?;
            Data::Utf8String(s.to_owned())
        }
        tag::BCD => Data::Bcd(r.u8("bcd")? as i8),
        tag::INTEGER => Data::Integer(r.u8("integer")? as i8),
        tag::LONG => Data::Long(r.u16("long")? as i16),
        tag::UNSIGNED => Data::Unsigned(r.u8("unsigned")?),
        tag::LONG_UNSIGNED => Data::LongUnsigned(r.u16("long-unsigned")?),
        tag::COMPACT_ARRAY => {
            if depth >= MAX_DEPTH {
                return Err(DecodeError::TooDeep { offset: r.offset() });
            }
            Data::CompactArray(Box::new(CompactArray::decode_untagged(r, depth + 1)?))
        }
        tag::LONG64 => Data::Long64(r.u64("long64")? as i64),
        tag::LONG64_UNSIGNED => Data::Long64Unsigned(r.u64("long64-unsigned")?),
        tag::ENUM => Data::Enum(r.u8("enum")?),
        tag::FLOAT32 => Data::Float32(f32::from_be_bytes(r.array("float32")?)),
        tag::FLOAT64 => Data::Float64(f64::from_be_bytes(r.array("float64")?)),
        tag::DATE_TIME => Data::DateTime(DateTime::decode(r)?),
        tag::DATE => Data::Date(Date::decode(r)?),
        tag::TIME => Data::Time(Time::decode(r)?),
        other => return Err(r.invalid("data tag", u32::from(other), 1)),
    })
}

pub(crate) use decode_untagged_depth as decode_untagged_at_depth;
