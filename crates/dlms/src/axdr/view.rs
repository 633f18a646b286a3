//! A borrowed view of A-XDR `Data`: decoded without allocating, from the bytes it points into.
//!
//! [`DataRef::from_bytes`] checks the whole value exactly as [`Data::from_bytes`] does (same
//! tags, lengths, nesting limit, UTF-8 check, same errors at the same offsets), but keeps
//! arrays and structures as their encoded elements ([`Items`]) and strings as slices of the
//! input. Iterating [`Items`] decodes one element at a time. This is for readers of bulk data
//! (a load-profile buffer of thousands of rows) that visit the values once and do not need an
//! owned tree; [`DataRef::to_data`] gives the owned [`Data`] when one is needed.

use super::reader::{Reader, write_length, write_length_prefixed};
use super::{CompactArray, Data, Date, DateTime, DecodeError, MAX_DEPTH, Time, tag};
use crate::axdr::BitString;

/// A COSEM data value borrowed from its encoding (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DataRef<'a> {
    /// `null-data` \[0\].
    Null,
    /// `array` \[1\].
    Array(Items<'a>),
    /// `structure` \[2\].
    Structure(Items<'a>),
    /// `boolean` \[3\].
    Boolean(bool),
    /// `bit-string` \[4\]: `len` bits in `ceil(len / 8)` bytes.
    BitString {
        /// Number of bits.
        len: usize,
        /// The bytes holding them.
        bytes: &'a [u8],
    },
    /// `double-long` \[5\].
    DoubleLong(i32),
    /// `double-long-unsigned` \[6\].
    DoubleLongUnsigned(u32),
    /// `octet-string` \[9\].
    OctetString(&'a [u8]),
    /// `visible-string` \[10\].
    VisibleString(&'a [u8]),
    /// `utf8-string` \[12\] (checked as UTF-8 when decoded).
    Utf8String(&'a str),
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
    /// `compact-array` \[19\]: its encoding after the tag (type description and contents),
    /// checked when decoded; [`DataRef::to_data`] decodes its elements.
    CompactArray(&'a [u8]),
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

/// The elements of an array or structure, still encoded (tags included), already checked.
///
/// Only the decoder builds one, after checking every element, so iterating never meets an
/// undecodable element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Items<'a> {
    bytes: &'a [u8],
    /// An A-XDR length has at most 4 bytes.
    count: u32,
    /// Nesting depth of the elements (at most [`MAX_DEPTH`]).
    depth: u32,
}

impl<'a> Items<'a> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The encoded elements, tags included.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The elements, decoded one at a time.
    pub fn iter(&self) -> ItemsIter<'a> {
        // Offsets inside the elements would only matter for errors, which cannot happen here.
        ItemsIter {
            reader: Reader::new(self.bytes),
            left: self.count as usize,
            depth: self.depth as usize,
        }
    }
}

impl<'a> IntoIterator for Items<'a> {
    type Item = DataRef<'a>;
    type IntoIter = ItemsIter<'a>;

    fn into_iter(self) -> ItemsIter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &Items<'a> {
    type Item = DataRef<'a>;
    type IntoIter = ItemsIter<'a>;

    fn into_iter(self) -> ItemsIter<'a> {
        self.iter()
    }
}

/// Iterator over [`Items`].
#[derive(Debug, Clone)]
pub struct ItemsIter<'a> {
    reader: Reader<'a>,
    left: usize,
    depth: usize,
}

impl<'a> Iterator for ItemsIter<'a> {
    type Item = DataRef<'a>;

    fn next(&mut self) -> Option<DataRef<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        Some(decode_checked(&mut self.reader, self.depth))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for ItemsIter<'_> {}

impl<'a> DataRef<'a> {
    /// Decodes exactly one value occupying all of `bytes`.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let value = Self::decode(&mut r)?;
        r.finish("data")?;
        Ok(value)
    }

    /// Decodes one tagged value from the reader (checking all of it).
    pub fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        decode_at(r, 0)
    }

    /// The A-XDR tag of this value.
    pub fn tag(&self) -> u8 {
        match self {
            DataRef::Null => tag::NULL_DATA,
            DataRef::Array(_) => tag::ARRAY,
            DataRef::Structure(_) => tag::STRUCTURE,
            DataRef::Boolean(_) => tag::BOOLEAN,
            DataRef::BitString { .. } => tag::BIT_STRING,
            DataRef::DoubleLong(_) => tag::DOUBLE_LONG,
            DataRef::DoubleLongUnsigned(_) => tag::DOUBLE_LONG_UNSIGNED,
            DataRef::OctetString(_) => tag::OCTET_STRING,
            DataRef::VisibleString(_) => tag::VISIBLE_STRING,
            DataRef::Utf8String(_) => tag::UTF8_STRING,
            DataRef::Bcd(_) => tag::BCD,
            DataRef::Integer(_) => tag::INTEGER,
            DataRef::Long(_) => tag::LONG,
            DataRef::Unsigned(_) => tag::UNSIGNED,
            DataRef::LongUnsigned(_) => tag::LONG_UNSIGNED,
            DataRef::CompactArray(_) => tag::COMPACT_ARRAY,
            DataRef::Long64(_) => tag::LONG64,
            DataRef::Long64Unsigned(_) => tag::LONG64_UNSIGNED,
            DataRef::Enum(_) => tag::ENUM,
            DataRef::Float32(_) => tag::FLOAT32,
            DataRef::Float64(_) => tag::FLOAT64,
            DataRef::DateTime(_) => tag::DATE_TIME,
            DataRef::Date(_) => tag::DATE,
            DataRef::Time(_) => tag::TIME,
            DataRef::DontCare => tag::DONT_CARE,
        }
    }

    /// Appends the tagged encoding (the same bytes as the owned value's). Elements are
    /// re-encoded, not copied: the input may carry non-canonical forms the owned encoder never
    /// writes (a boolean `03`, a long-form length), and both must give the same bytes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.tag());
        match self {
            DataRef::Null | DataRef::DontCare => {}
            DataRef::Array(items) | DataRef::Structure(items) => {
                write_length(out, items.len());
                for item in items.iter() {
                    item.encode(out);
                }
            }
            DataRef::Boolean(b) => out.push(u8::from(*b)),
            DataRef::BitString { len, bytes } => {
                write_length(out, *len);
                out.extend_from_slice(bytes);
            }
            DataRef::DoubleLong(v) => out.extend_from_slice(&v.to_be_bytes()),
            DataRef::DoubleLongUnsigned(v) => out.extend_from_slice(&v.to_be_bytes()),
            DataRef::OctetString(b) | DataRef::VisibleString(b) => write_length_prefixed(out, b),
            DataRef::Utf8String(s) => write_length_prefixed(out, s.as_bytes()),
            DataRef::Bcd(v) | DataRef::Integer(v) => out.push(*v as u8),
            DataRef::Long(v) => out.extend_from_slice(&v.to_be_bytes()),
            DataRef::Unsigned(v) | DataRef::Enum(v) => out.push(*v),
            DataRef::LongUnsigned(v) => out.extend_from_slice(&v.to_be_bytes()),
            DataRef::CompactArray(_) => {
                // Rare, and its contents may hold the same non-canonical forms: the owned
                // value's encoding after its tag.
                let mut owned = Vec::new();
                self.to_data().encode(&mut owned);
                out.extend_from_slice(owned.get(1..).unwrap_or_default());
            }
            DataRef::Long64(v) => out.extend_from_slice(&v.to_be_bytes()),
            DataRef::Long64Unsigned(v) => out.extend_from_slice(&v.to_be_bytes()),
            DataRef::Float32(v) => out.extend_from_slice(&v.to_be_bytes()),
            DataRef::Float64(v) => out.extend_from_slice(&v.to_be_bytes()),
            DataRef::DateTime(dt) => dt.encode(out),
            DataRef::Date(d) => d.encode(out),
            DataRef::Time(t) => t.encode(out),
        }
    }

    /// The owned value.
    pub fn to_data(&self) -> Data {
        match *self {
            DataRef::Null => Data::Null,
            DataRef::Array(items) => Data::Array(items.iter().map(|i| i.to_data()).collect()),
            DataRef::Structure(items) => {
                Data::Structure(items.iter().map(|i| i.to_data()).collect())
            }
            DataRef::Boolean(b) => Data::Boolean(b),
            DataRef::BitString { len, bytes } => Data::BitString(Box::new(BitString {
                len,
                bytes: bytes.to_vec(),
            })),
            DataRef::DoubleLong(v) => Data::DoubleLong(v),
            DataRef::DoubleLongUnsigned(v) => Data::DoubleLongUnsigned(v),
            DataRef::OctetString(b) => Data::OctetString(b.to_vec()),
            DataRef::VisibleString(b) => Data::VisibleString(b.to_vec()),
            DataRef::Utf8String(s) => Data::Utf8String(s.to_owned()),
            DataRef::Bcd(v) => Data::Bcd(v),
            DataRef::Integer(v) => Data::Integer(v),
            DataRef::Long(v) => Data::Long(v),
            DataRef::Unsigned(v) => Data::Unsigned(v),
            DataRef::LongUnsigned(v) => Data::LongUnsigned(v),
            DataRef::CompactArray(body) => {
                // Checked with this very decoder when the view was built, at a depth at least
                // as deep as 0, so it decodes again here.
                match CompactArray::decode_untagged(&mut Reader::new(body), 0) {
                    Ok(array) => Data::CompactArray(Box::new(array)),
                    Err(_) => Data::Null,
                }
            }
            DataRef::Long64(v) => Data::Long64(v),
            DataRef::Long64Unsigned(v) => Data::Long64Unsigned(v),
            DataRef::Enum(v) => Data::Enum(v),
            DataRef::Float32(v) => Data::Float32(v),
            DataRef::Float64(v) => Data::Float64(v),
            DataRef::DateTime(dt) => Data::DateTime(dt),
            DataRef::Date(d) => Data::Date(d),
            DataRef::Time(t) => Data::Time(t),
            DataRef::DontCare => Data::DontCare,
        }
    }

    /// The elements of an array or structure.
    pub fn as_items(&self) -> Option<Items<'a>> {
        match self {
            DataRef::Array(items) | DataRef::Structure(items) => Some(*items),
            _ => None,
        }
    }

    /// The bytes of an octet-string or visible-string.
    pub fn as_octets(&self) -> Option<&'a [u8]> {
        match self {
            DataRef::OctetString(b) | DataRef::VisibleString(b) => Some(b),
            _ => None,
        }
    }

    /// Any integer type (including enum and bcd) widened to i128.
    pub fn as_integer(&self) -> Option<i128> {
        Some(match *self {
            DataRef::DoubleLong(v) => v.into(),
            DataRef::DoubleLongUnsigned(v) => v.into(),
            DataRef::Bcd(v) | DataRef::Integer(v) => v.into(),
            DataRef::Long(v) => v.into(),
            DataRef::Unsigned(v) | DataRef::Enum(v) => v.into(),
            DataRef::LongUnsigned(v) => v.into(),
            DataRef::Long64(v) => v.into(),
            DataRef::Long64Unsigned(v) => v.into(),
            _ => return None,
        })
    }
}

/// One tagged value at `depth`, checked in full (the same checks, in the same order, as the
/// owned decoder, so both accept the same inputs and fail with the same errors).
fn decode_at<'a>(r: &mut Reader<'a>, depth: usize) -> Result<DataRef<'a>, DecodeError> {
    let t = r.u8("data tag")?;
    decode_tagged(r, t, depth)
}

/// [`decode_at`] after the tag byte `t`.
fn decode_tagged<'a>(r: &mut Reader<'a>, t: u8, depth: usize) -> Result<DataRef<'a>, DecodeError> {
    Ok(match t {
        tag::NULL_DATA => DataRef::Null,
        tag::DONT_CARE => DataRef::DontCare,
        tag::ARRAY => DataRef::Array(items(r, depth)?),
        tag::STRUCTURE => DataRef::Structure(items(r, depth)?),
        tag::BOOLEAN => DataRef::Boolean(r.bool("boolean")?),
        tag::BIT_STRING => {
            let len = r.length("bit-string length")?;
            let bytes = r.take(len.div_ceil(8), "bit-string")?;
            DataRef::BitString { len, bytes }
        }
        tag::DOUBLE_LONG => DataRef::DoubleLong(r.u32("double-long")? as i32),
        tag::DOUBLE_LONG_UNSIGNED => DataRef::DoubleLongUnsigned(r.u32("double-long-unsigned")?),
        tag::OCTET_STRING => DataRef::OctetString(r.length_prefixed("octet-string")?),
        tag::VISIBLE_STRING => DataRef::VisibleString(r.length_prefixed("visible-string")?),
        tag::UTF8_STRING => DataRef::Utf8String(utf8(r)?),
        tag::BCD => DataRef::Bcd(r.u8("bcd")? as i8),
        tag::INTEGER => DataRef::Integer(r.u8("integer")? as i8),
        tag::LONG => DataRef::Long(r.u16("long")? as i16),
        tag::UNSIGNED => DataRef::Unsigned(r.u8("unsigned")?),
        tag::LONG_UNSIGNED => DataRef::LongUnsigned(r.u16("long-unsigned")?),
        tag::COMPACT_ARRAY => DataRef::CompactArray(compact_array(r, depth)?),
        tag::LONG64 => DataRef::Long64(r.u64("long64")? as i64),
        tag::LONG64_UNSIGNED => DataRef::Long64Unsigned(r.u64("long64-unsigned")?),
        tag::ENUM => DataRef::Enum(r.u8("enum")?),
        tag::FLOAT32 => DataRef::Float32(f32::from_be_bytes(r.array("float32")?)),
        tag::FLOAT64 => DataRef::Float64(f64::from_be_bytes(r.array("float64")?)),
        tag::DATE_TIME => DataRef::DateTime(DateTime::decode(r)?),
        tag::DATE => DataRef::Date(Date::decode(r)?),
        tag::TIME => DataRef::Time(Time::decode(r)?),
        other => return Err(r.invalid("data tag", u32::from(other), 1)),
    })
}

fn utf8<'a>(r: &mut Reader<'a>) -> Result<&'a str, DecodeError> {
    let bytes = r.length_prefixed("utf8-string")?;
    let offset = r.offset() - bytes.len();
    std::str::from_utf8(bytes).map_err(|_| DecodeError::Utf8 { offset })
}

/// One element of [`Items`]: input the decoder that built them has checked in full, so no
/// read here can fail (the `checked_*` reads cannot run past the end of checked input) and no
/// check is repeated. This is the iteration path, where the view spends its time.
fn decode_checked<'a>(r: &mut Reader<'a>, depth: usize) -> DataRef<'a> {
    match r.checked_u8() {
        tag::ARRAY => DataRef::Array(checked_items(r, depth)),
        tag::STRUCTURE => DataRef::Structure(checked_items(r, depth)),
        tag::BOOLEAN => DataRef::Boolean(r.checked_u8() != 0),
        tag::BIT_STRING => {
            let len = r.checked_length();
            DataRef::BitString {
                len,
                bytes: r.checked_take(len.div_ceil(8)),
            }
        }
        tag::DOUBLE_LONG => DataRef::DoubleLong(i32::from_be_bytes(r.checked_array())),
        tag::DOUBLE_LONG_UNSIGNED => {
            DataRef::DoubleLongUnsigned(u32::from_be_bytes(r.checked_array()))
        }
        tag::OCTET_STRING => {
            let len = r.checked_length();
            DataRef::OctetString(r.checked_take(len))
        }
        tag::VISIBLE_STRING => {
            let len = r.checked_length();
            DataRef::VisibleString(r.checked_take(len))
        }
        tag::BCD => DataRef::Bcd(r.checked_u8() as i8),
        tag::INTEGER => DataRef::Integer(r.checked_u8() as i8),
        tag::LONG => DataRef::Long(i16::from_be_bytes(r.checked_array())),
        tag::UNSIGNED => DataRef::Unsigned(r.checked_u8()),
        tag::LONG_UNSIGNED => DataRef::LongUnsigned(u16::from_be_bytes(r.checked_array())),
        tag::LONG64 => DataRef::Long64(i64::from_be_bytes(r.checked_array())),
        tag::LONG64_UNSIGNED => DataRef::Long64Unsigned(u64::from_be_bytes(r.checked_array())),
        tag::ENUM => DataRef::Enum(r.checked_u8()),
        tag::FLOAT32 => DataRef::Float32(f32::from_be_bytes(r.checked_array())),
        tag::FLOAT64 => DataRef::Float64(f64::from_be_bytes(r.checked_array())),
        tag::NULL_DATA => DataRef::Null,
        tag::DONT_CARE => DataRef::DontCare,
        // The rest (utf8-string, compact-array, date-time, date, time: rare in bulk data) go
        // through the checking decoder, which succeeds on checked input.
        t => match decode_tagged(r, t, depth) {
            Ok(value) => value,
            // Unreachable on checked input; an empty value rather than a panic.
            Err(_) => DataRef::Null,
        },
    }
}

/// The elements of checked [`Items`] nested in an element being iterated.
fn checked_items<'a>(r: &mut Reader<'a>, depth: usize) -> Items<'a> {
    let count = r.checked_length();
    let mut walk = Reader::new(r.rest());
    for _ in 0..count {
        checked_skip(&mut walk, depth + 1);
    }
    let used = walk.offset();
    Items {
        bytes: r.checked_take(used),
        count: u32::try_from(count).unwrap_or(u32::MAX),
        depth: u32::try_from(depth + 1).unwrap_or(u32::MAX),
    }
}

/// Steps over one value of checked input.
fn checked_skip(r: &mut Reader<'_>, depth: usize) {
    let t = r.checked_u8();
    let fixed = FIXED_LEN[usize::from(t)];
    if fixed != 0 {
        r.checked_take(usize::from(fixed - 1));
        return;
    }
    match t {
        tag::ARRAY | tag::STRUCTURE => {
            let count = r.checked_length();
            for _ in 0..count {
                checked_skip(r, depth + 1);
            }
        }
        tag::OCTET_STRING | tag::VISIBLE_STRING | tag::UTF8_STRING => {
            let len = r.checked_length();
            r.checked_take(len);
        }
        tag::BIT_STRING => {
            let len = r.checked_length();
            r.checked_take(len.div_ceil(8));
        }
        // compact-array (the only other tag checked input can hold).
        _ => {
            let _ = compact_array(r, depth);
        }
    }
}

/// The elements of an array or structure whose tag has been read: checked by walking them,
/// kept as their bytes.
fn items<'a>(r: &mut Reader<'a>, depth: usize) -> Result<Items<'a>, DecodeError> {
    if depth >= MAX_DEPTH {
        return Err(DecodeError::TooDeep { offset: r.offset() });
    }
    let count = r.length("array/structure length")?;
    let base = r.offset();
    let mut walk = Reader::with_base(r.rest(), base);
    for _ in 0..count {
        skip(&mut walk, depth + 1)?;
    }
    let used = walk.offset() - base;
    let bytes = r.take(used, "array/structure")?;
    Ok(Items {
        bytes,
        // `Reader::length` reads at most 4 length bytes; depth is below `MAX_DEPTH`.
        count: u32::try_from(count).unwrap_or(u32::MAX),
        depth: u32::try_from(depth + 1).unwrap_or(u32::MAX),
    })
}

fn compact_array<'a>(r: &mut Reader<'a>, depth: usize) -> Result<&'a [u8], DecodeError> {
    if depth >= MAX_DEPTH {
        return Err(DecodeError::TooDeep { offset: r.offset() });
    }
    let start = r.rest();
    let before = r.remaining();
    // Compact arrays are rare: check this one with the owned decoder.
    CompactArray::decode_untagged(r, depth + 1)?;
    Ok(&start[..before - r.remaining()])
}

/// One more than the encoded length (after the tag) of each fixed-size type; 0 for the others.
const FIXED_LEN: [u8; 256] = {
    let mut table = [0u8; 256];
    table[tag::NULL_DATA as usize] = 1;
    table[tag::DONT_CARE as usize] = 1;
    table[tag::BOOLEAN as usize] = 2;
    table[tag::DOUBLE_LONG as usize] = 5;
    table[tag::DOUBLE_LONG_UNSIGNED as usize] = 5;
    table[tag::BCD as usize] = 2;
    table[tag::INTEGER as usize] = 2;
    table[tag::LONG as usize] = 3;
    table[tag::UNSIGNED as usize] = 2;
    table[tag::LONG_UNSIGNED as usize] = 3;
    table[tag::LONG64 as usize] = 9;
    table[tag::LONG64_UNSIGNED as usize] = 9;
    table[tag::ENUM as usize] = 2;
    table[tag::FLOAT32 as usize] = 5;
    table[tag::FLOAT64 as usize] = 9;
    table[tag::DATE_TIME as usize] = 1 + DateTime::LEN as u8;
    table[tag::DATE as usize] = 1 + Date::LEN as u8;
    table[tag::TIME as usize] = 1 + Time::LEN as u8;
    table
};

/// Steps over one tagged value at `depth`, checking it as [`decode_at`] does.
fn skip(r: &mut Reader<'_>, depth: usize) -> Result<(), DecodeError> {
    let t = r.u8("data tag")?;
    // Fixed-size values (every byte pattern is valid) in one bounds check; a truncated one
    // goes through the per-type reads below for the owned decoder's exact error.
    let fixed = FIXED_LEN[usize::from(t)];
    if fixed != 0 && r.advance(usize::from(fixed - 1)) {
        return Ok(());
    }
    match t {
        tag::NULL_DATA | tag::DONT_CARE => {}
        tag::ARRAY | tag::STRUCTURE => {
            if depth >= MAX_DEPTH {
                return Err(DecodeError::TooDeep { offset: r.offset() });
            }
            let count = r.length("array/structure length")?;
            for _ in 0..count {
                skip(r, depth + 1)?;
            }
        }
        tag::BOOLEAN => {
            r.take(1, "boolean")?;
        }
        tag::BIT_STRING => {
            let len = r.length("bit-string length")?;
            r.take(len.div_ceil(8), "bit-string")?;
        }
        tag::DOUBLE_LONG => {
            r.take(4, "double-long")?;
        }
        tag::DOUBLE_LONG_UNSIGNED => {
            r.take(4, "double-long-unsigned")?;
        }
        tag::OCTET_STRING => {
            r.length_prefixed("octet-string")?;
        }
        tag::VISIBLE_STRING => {
            r.length_prefixed("visible-string")?;
        }
        tag::UTF8_STRING => {
            utf8(r)?;
        }
        tag::BCD => {
            r.take(1, "bcd")?;
        }
        tag::INTEGER => {
            r.take(1, "integer")?;
        }
        tag::LONG => {
            r.take(2, "long")?;
        }
        tag::UNSIGNED => {
            r.take(1, "unsigned")?;
        }
        tag::LONG_UNSIGNED => {
            r.take(2, "long-unsigned")?;
        }
        tag::COMPACT_ARRAY => {
            compact_array(r, depth)?;
        }
        tag::LONG64 => {
            r.take(8, "long64")?;
        }
        tag::LONG64_UNSIGNED => {
            r.take(8, "long64-unsigned")?;
        }
        tag::ENUM => {
            r.take(1, "enum")?;
        }
        tag::FLOAT32 => {
            r.take(4, "float32")?;
        }
        tag::FLOAT64 => {
            r.take(8, "float64")?;
        }
        tag::DATE_TIME => {
            DateTime::decode(r)?;
        }
        tag::DATE => {
            Date::decode(r)?;
        }
        tag::TIME => {
            Time::decode(r)?;
        }
        other => return Err(r.invalid("data tag", u32::from(other), 1)),
    }
    Ok(())
}
