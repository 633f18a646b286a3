//! GET.request and GET.response (normal, next / with-datablock, with-list).

use super::{DataAccessResult, InvokeIdAndPriority, expect_tag, seq_capacity, tag};
use crate::axdr::reader::write_length;
use crate::axdr::{Data, DecodeError, Reader};
use crate::cosem::{AttributeDescriptor, SelectiveAccess};

/// An attribute reference with optional selective access (an element of GET-with-list).
pub type AttributeSelection = (AttributeDescriptor, Option<SelectiveAccess>);

/// GET.request.
#[derive(Debug, Clone, PartialEq)]
pub enum GetRequest {
    /// get-request-normal.
    Normal {
        /// Invoke id and priority.
        invoke: InvokeIdAndPriority,
        /// The attribute.
        attribute: AttributeDescriptor,
        /// Optional selective access.
        access: Option<SelectiveAccess>,
    },
    /// get-request-next: ask for the block after `block_number`.
    Next {
        /// Invoke id and priority.
        invoke: InvokeIdAndPriority,
        /// Number of the last block received.
        block_number: u32,
    },
    /// get-request-with-list.
    WithList {
        /// Invoke id and priority.
        invoke: InvokeIdAndPriority,
        /// The attributes.
        items: Vec<AttributeSelection>,
    },
}

/// `Get-Data-Result`: a value or why there is none.
#[derive(Debug, Clone, PartialEq)]
pub enum GetDataResult {
    /// data \[0\].
    Data(Data),
    /// data-access-result \[1\].
    Error(DataAccessResult),
}

impl GetDataResult {
    /// Appends the encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            GetDataResult::Data(d) => {
                out.push(0);
                d.encode(out);
            }
            GetDataResult::Error(e) => out.extend_from_slice(&[1, e.code()]),
        }
    }

    /// Decodes.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8("get-data-result choice")? {
            0 => Ok(GetDataResult::Data(Data::decode(r)?)),
            1 => Ok(GetDataResult::Error(DataAccessResult::decode(r)?)),
            other => Err(r.invalid("get-data-result choice", u32::from(other), 1)),
        }
    }
}

/// GET.response.
#[derive(Debug, Clone, PartialEq)]
pub enum GetResponse {
    /// get-response-normal.
    Normal {
        /// Invoke id and priority.
        invoke: InvokeIdAndPriority,
        /// The value or error.
        result: GetDataResult,
    },
    /// get-response-with-datablock.
    WithDataBlock {
        /// Invoke id and priority.
        invoke: InvokeIdAndPriority,
        /// True on the last block.
        last_block: bool,
        /// Block number (1-based).
        block_number: u32,
        /// raw-data \[0\] (a slice of the encoded result) or data-access-result \[1\].
        raw: Result<Vec<u8>, DataAccessResult>,
    },
    /// get-response-with-list.
    WithList {
        /// Invoke id and priority.
        invoke: InvokeIdAndPriority,
        /// One result per requested attribute.
        results: Vec<GetDataResult>,
    },
}

impl GetRequest {
    /// Invoke id and priority.
    pub fn invoke(&self) -> InvokeIdAndPriority {
        match self {
            GetRequest::Normal { invoke, .. }
            | GetRequest::Next { invoke, .. }
            | GetRequest::WithList { invoke, .. } => *invoke,
        }
    }

    /// Appends the encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(tag::GET_REQUEST);
        match self {
            GetRequest::Normal {
                invoke,
                attribute,
                access,
            } => {
                out.extend_from_slice(&[1, invoke.0]);
                attribute.encode(out);
                SelectiveAccess::encode_optional(access.as_ref(), out);
            }
            GetRequest::Next {
                invoke,
                block_number,
            } => {
                out.extend_from_slice(&[2, invoke.0]);
                out.extend_from_slice(&block_number.to_be_bytes());
            }
            GetRequest::WithList { invoke, items } => {
                out.extend_from_slice(&[3, invoke.0]);
                write_length(out, items.len());
                for (a, s) in items {
                    a.encode(out);
                    SelectiveAccess::encode_optional(s.as_ref(), out);
                }
            }
        }
    }

    /// Decodes.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        expect_tag(r, tag::GET_REQUEST, "get-request tag")?;
        let choice = r.u8("get-request choice")?;
        let invoke = InvokeIdAndPriority(r.u8("invoke-id-and-priority")?);
        Ok(match choice {
            1 => GetRequest::Normal {
                invoke,
                attribute: AttributeDescriptor::decode(r)?,
                access: SelectiveAccess::decode_optional(r)?,
            },
            2 => GetRequest::Next {
                invoke,
                block_number: r.u32("block-number")?,
            },
            3 => {
                let (n, cap) = seq_capacity(r, "get-request-with-list count")?;
                let mut items = Vec::with_capacity(cap);
                for _ in 0..n {
                    items.push((
                        AttributeDescriptor::decode(r)?,
                        SelectiveAccess::decode_optional(r)?,
                    ));
                }
                GetRequest::WithList { invoke, items }
            }
            other => return Err(r.invalid("get-request choice", u32::from(other), 2)),
        })
    }
}

impl GetResponse {
    /// Invoke id and priority.
    pub fn invoke(&self) -> InvokeIdAndPriority {
        match self {
            GetResponse::Normal { invoke, .. }
            | GetResponse::WithDataBlock { invoke, .. }
            | GetResponse::WithList { invoke, .. } => *invoke,
        }
    }

    /// Appends the encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(tag::GET_RESPONSE);
        match self {
            GetResponse::Normal { invoke, result } => {
                out.extend_from_slice(&[1, invoke.0]);
                result.encode(out);
            }
            GetResponse::WithDataBlock {
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
                        crate::axdr::reader::write_length_prefixed(out, bytes);
                    }
                    Err(e) => out.extend_from_slice(&[1, e.code()]),
                }
            }
            GetResponse::WithList { invoke, results } => {
                out.extend_from_slice(&[3, invoke.0]);
                write_length(out, results.len());
                for res in results {
                    res.encode(out);
                }
            }
        }
    }

    /// Decodes.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        expect_tag(r, tag::GET_RESPONSE, "get-response tag")?;
        let choice = r.u8("get-response choice")?;
        let invoke = InvokeIdAndPriority(r.u8("invoke-id-and-priority")?);
        Ok(match choice {
            1 => GetResponse::Normal {
                invoke,
                result: GetDataResult::decode(r)?,
            },
            2 => {
                let last_block = r.bool("last-block")?;
                let block_number = r.u32("block-number")?;
                let raw = match r.u8("datablock result choice")? {
                    0 => Ok(r.length_prefixed("raw-data")?.to_vec()),
                    1 => Err(DataAccessResult::decode(r)?),
                    other => return Err(r.invalid("datablock result choice", u32::from(other), 1)),
                };
                GetResponse::WithDataBlock {
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
                    results.push(GetDataResult::decode(r)?);
                }
                GetResponse::WithList { invoke, results }
            }
            other => return Err(r.invalid("get-response choice", u32::from(other), 2)),
        })
    }
}
