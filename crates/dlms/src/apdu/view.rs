//! Borrowed views of APDUs: the GET.response (which carries bulk data such as load-profile
//! buffers) decoded without allocating per value, every other APDU owned.
//!
//! [`ApduRef::decode`] accepts exactly the inputs [`Apdu::decode`] accepts, with the same
//! errors; [`ApduRef::to_apdu`] gives the owned APDU.

use super::{
    Apdu, DataAccessResult, GetDataResult, GetResponse, InvokeIdAndPriority, expect_tag,
    seq_capacity, tag,
};
use crate::axdr::reader::{write_length, write_length_prefixed};
use crate::axdr::{DataRef, DecodeError, Reader};

/// An APDU whose GET.response data is borrowed from the input.
#[derive(Debug, Clone, PartialEq)]
pub enum ApduRef<'a> {
    /// GET.response, borrowed.
    GetResponse(GetResponseRef<'a>),
    /// Any other APDU, owned.
    Other(Apdu),
}

/// `Get-Data-Result` borrowed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GetDataResultRef<'a> {
    /// data \[0\].
    Data(DataRef<'a>),
    /// data-access-result \[1\].
    Error(DataAccessResult),
}

/// GET.response borrowed (see [`GetResponse`] for the fields).
#[derive(Debug, Clone, PartialEq)]
pub enum GetResponseRef<'a> {
    /// get-response-normal.
    Normal {
        /// Invoke id and priority.
        invoke: InvokeIdAndPriority,
        /// The value or error.
        result: GetDataResultRef<'a>,
    },
    /// get-response-with-datablock.
    WithDataBlock {
        /// Invoke id and priority.
        invoke: InvokeIdAndPriority,
        /// True on the last block.
        last_block: bool,
        /// Block number (1-based).
        block_number: u32,
        /// raw-data or data-access-result.
        raw: Result<&'a [u8], DataAccessResult>,
    },
    /// get-response-with-list.
    WithList {
        /// Invoke id and priority.
        invoke: InvokeIdAndPriority,
        /// One result per requested attribute.
        results: Vec<GetDataResultRef<'a>>,
    },
}

impl<'a> ApduRef<'a> {
    /// Decodes a whole APDU (the same inputs and errors as [`Apdu::decode`]).
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        if bytes.first() != Some(&tag::GET_RESPONSE) {
            return Apdu::decode(bytes).map(ApduRef::Other);
        }
        let mut r = Reader::new(bytes);
        let response = GetResponseRef::decode(&mut r)?;
        r.finish("APDU")?;
        Ok(ApduRef::GetResponse(response))
    }

    /// Appends the encoding (the same bytes as the owned APDU's).
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            ApduRef::GetResponse(response) => response.encode(out),
            ApduRef::Other(apdu) => apdu.encode(out),
        }
    }

    /// The owned APDU.
    pub fn to_apdu(&self) -> Apdu {
        match self {
            ApduRef::GetResponse(response) => Apdu::GetResponse(response.to_owned_response()),
            ApduRef::Other(apdu) => apdu.clone(),
        }
    }
}

impl<'a> GetDataResultRef<'a> {
    /// Appends the encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            GetDataResultRef::Data(d) => {
                out.push(0);
                d.encode(out);
            }
            GetDataResultRef::Error(e) => out.extend_from_slice(&[1, e.code()]),
        }
    }

    /// Decodes (the same checks as [`GetDataResult::decode`]).
    pub fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        match r.u8("get-data-result choice")? {
            0 => Ok(GetDataResultRef::Data(DataRef::decode(r)?)),
            1 => Ok(GetDataResultRef::Error(DataAccessResult::decode(r)?)),
            other => Err(r.invalid("get-data-result choice", u32::from(other), 1)),
        }
    }

    /// The owned result.
    pub fn to_owned_result(&self) -> GetDataResult {
        match self {
            GetDataResultRef::Data(d) => GetDataResult::Data(d.to_data()),
            GetDataResultRef::Error(e) => GetDataResult::Error(*e),
        }
    }
}

impl<'a> GetResponseRef<'a> {
    /// Invoke id and priority.
    pub fn invoke(&self) -> InvokeIdAndPriority {
        match self {
            GetResponseRef::Normal { invoke, .. }
            | GetResponseRef::WithDataBlock { invoke, .. }
            | GetResponseRef::WithList { invoke, .. } => *invoke,
        }
    }

    /// Appends the encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(tag::GET_RESPONSE);
        match self {
            GetResponseRef::Normal { invoke, result } => {
                out.extend_from_slice(&[1, invoke.0]);
                result.encode(out);
            }
            GetResponseRef::WithDataBlock {
                invoke,
                last_block,
                block_number,
                raw,
            } => {
                out.extend_from_slice(&[2, invoke.0, u8::from(*last_block)]);
                out.extend_from_slice(&block_number.to_be_bytes());
                match raw {
                    Ok(bytes) => {
                        out.push(0);
                        write_length_prefixed(out, bytes);
                    }
                    Err(e) => out.extend_from_slice(&[1, e.code()]),
                }
            }
            GetResponseRef::WithList { invoke, results } => {
                out.extend_from_slice(&[3, invoke.0]);
                write_length(out, results.len());
                for result in results {
                    result.encode(out);
                }
            }
        }
    }

    /// Decodes (the same checks as [`GetResponse::decode`]).
    pub fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        expect_tag(r, tag::GET_RESPONSE, "get-response tag")?;
        let choice = r.u8("get-response choice")?;
        let invoke = InvokeIdAndPriority(r.u8("invoke-id-and-priority")?);
        Ok(match choice {
            1 => GetResponseRef::Normal {
                invoke,
                result: GetDataResultRef::decode(r)?,
            },
            2 => {
                let last_block = r.bool("last-block")?;
                let block_number = r.u32("block-number")?;
                let raw = match r.u8("datablock result choice")? {
                    0 => Ok(r.length_prefixed("raw-data")?),
                    1 => Err(DataAccessResult::decode(r)?),
                    other => return Err(r.invalid("datablock result choice", u32::from(other), 1)),
                };
                GetResponseRef::WithDataBlock {
                    invoke,
                    last_block,
                    block_number,
                    raw,
                }
            }
            3 => {
                let (n, cap) = seq_capacity(r, "get-response-with-list count")?;
                let mut results = Vec::with_capacity(cap);
                for _ in 0..n {
                    results.push(GetDataResultRef::decode(r)?);
                }
                GetResponseRef::WithList { invoke, results }
            }
            other => return Err(r.invalid("get-response choice", u32::from(other), 2)),
        })
    }

    /// The owned response.
    pub fn to_owned_response(&self) -> GetResponse {
        match self {
            GetResponseRef::Normal { invoke, result } => GetResponse::Normal {
                invoke: *invoke,
                result: result.to_owned_result(),
            },
            GetResponseRef::WithDataBlock {
                invoke,
                last_block,
                block_number,
                raw,
            } => GetResponse::WithDataBlock {
                invoke: *invoke,
                last_block: *last_block,
                block_number: *block_number,
                raw: raw.map(<[u8]>::to_vec),
            },
            GetResponseRef::WithList { invoke, results } => GetResponse::WithList {
                invoke: *invoke,
                results: results
                    .iter()
                    .map(GetDataResultRef::to_owned_result)
                    .collect(),
            },
        }
    }
}
