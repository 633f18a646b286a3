//! One data set: `address(value*unit)`, the item of readouts, commands and data messages.

use crate::{EncodeError, FrameError};

/// Longest address (e.g. `1.8.0`, `C.1.0`) the standard allows.
pub const MAX_ADDRESS_LEN: usize = 16;
/// Longest value the standard allows.
pub const MAX_VALUE_LEN: usize = 32;
/// Longest unit the standard allows.
pub const MAX_UNIT_LEN: usize = 16;

/// One `address(value*unit)` item. The address is empty in a command's data (`(password)`) and
/// in an error message (`(ERROR)`); the unit is absent when the value has none.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DataSet {
    pub address: String,
    pub value: String,
    pub unit: Option<String>,
}

impl DataSet {
    /// A data set with a unit.
    pub fn new(address: impl Into<String>, value: impl Into<String>, unit: Option<&str>) -> Self {
        Self {
            address: address.into(),
            value: value.into(),
            unit: unit.map(str::to_owned),
        }
    }

    /// A data set with only a value (`(value)`): command data and error messages.
    pub fn bare(value: impl Into<String>) -> Self {
        Self::new("", value, None)
    }

    /// Appends `address(value*unit)` to `out`, or refuses a field the line cannot carry.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        check("address", &self.address, MAX_ADDRESS_LEN, b"()/!")?;
        check("value", &self.value, MAX_VALUE_LEN, b"()*/!")?;
        if let Some(unit) = &self.unit {
            check("unit", unit, MAX_UNIT_LEN, b"()*/!")?;
        }
        out.extend_from_slice(self.address.as_bytes());
        out.push(b'(');
        out.extend_from_slice(self.value.as_bytes());
        if let Some(unit) = &self.unit {
            out.push(b'*');
            out.extend_from_slice(unit.as_bytes());
        }
        out.push(b')');
        Ok(())
    }
}

fn check(
    field: &'static str,
    text: &str,
    limit: usize,
    reserved: &[u8],
) -> Result<(), EncodeError> {
    if let Some(character) = text
        .chars()
        .find(|c| !c.is_ascii() || c.is_ascii_control() || reserved.contains(&(*c as u8)))
    {
        return Err(EncodeError::ReservedCharacter {
            field,
            value: text.to_owned(),
            character,
        });
    }
    if text.len() > limit {
        return Err(EncodeError::TooLong {
            field,
            value: text.to_owned(),
            limit,
        });
    }
    Ok(())
}

/// Parses a run of data sets, allowing CR LF between them (readout data lines).
pub(crate) fn parse_data_sets(bytes: &[u8]) -> Result<Vec<DataSet>, FrameError> {
    let mut sets = Vec::new();
    let mut rest = bytes;
    loop {
        while let [b'\r' | b'\n', tail @ ..] = rest {
            rest = tail;
        }
        if rest.is_empty() {
            return Ok(sets);
        }
        let (set, tail) = parse_one(rest)?;
        sets.push(set);
        rest = tail;
    }
}

fn parse_one(bytes: &[u8]) -> Result<(DataSet, &[u8]), FrameError> {
    let open = bytes
        .iter()
        .position(|byte| *byte == b'(')
        .ok_or_else(|| FrameError::malformed("data set", "no '(' after the address"))?;
    let address = field("address", &bytes[..open], MAX_ADDRESS_LEN, b")/!*")?;
    let inner = &bytes[open + 1..];
    let close = inner
        .iter()
        .position(|byte| *byte == b')')
        .ok_or_else(|| FrameError::malformed("data set", format!("{address}: no ')'")))?;
    let body = &inner[..close];
    let (value, unit) = match body.iter().position(|byte| *byte == b'*') {
        Some(star) => (
            field("value", &body[..star], MAX_VALUE_LEN, b"(/!")?,
            Some(field("unit", &body[star + 1..], MAX_UNIT_LEN, b"(*/!")?),
        ),
        None => (field("value", body, MAX_VALUE_LEN, b"(/!")?, None),
    };
    Ok((
        DataSet {
            address,
            value,
            unit,
        },
        &inner[close + 1..],
    ))
}

fn field(
    what: &'static str,
    bytes: &[u8],
    limit: usize,
    reserved: &[u8],
) -> Result<String, FrameError> {
    if bytes.len() > limit {
        return Err(FrameError::malformed(
            what,
            format!("{} characters, at most {limit} allowed", bytes.len()),
        ));
    }
    if let Some(byte) = bytes
        .iter()
        .find(|byte| byte.is_ascii_control() || reserved.contains(byte) || **byte > 0x7e)
    {
        return Err(FrameError::malformed(
            what,
            format!("character {byte:#04x} is not allowed"),
        ));
    }
    // Every byte is printable ASCII here.
    Ok(bytes.iter().map(|byte| char::from(*byte)).collect())
}
