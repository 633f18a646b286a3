//! SET.request and SET.response (normal, with datablocks, with-list).

use super::get::AttributeSelection;
use super::{DataAccessResult, InvokeIdAndPriority, expect_tag, seq_capacity, tag};
use crate::axdr::reader::{write_length, write_length_prefixed};
use crate::axdr::{Data, DecodeError, Reader};
use crate::cosem::{AttributeDescriptor, SelectiveAccess};

/// `DataBlock-SA`: one block of an encoded value being written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataBlock {
    /// True on the last block.
    pub last_block: bool,
    /// Block number (1-based).
    pub block_number: u32,
    /// A slice of the encoded value.
    pub raw: Vec<u8>,
}

impl DataBlock {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(self.last_block));
        out.extend_from_slice(&self.block_number.to_be_bytes());
        write_length_prefixed(out, &self.raw);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            last_block: r.bool("last-block")?,
            block_number: r.u32("block-number")?,
            raw: r.length_prefixed("raw-data")?.to_vec(),
        })
    }
}

/// SET.request.
#[derive(Debug, Clone, PartialEq)]
pub enum SetRequest {
    /// set-request-normal.
    Normal {
        /// Invoke id and priority.
        invoke: InvokeIdAndPriority,
        /// The attribute.
        attribute: AttributeDescriptor,
        /// Optional selective access.
        access: Option<SelectiveAccess>,
        /// The value.
        value: Data,
    },
    /// set-request-with-first-datablock.
    WithFirstDataBlock {
        /// Invoke id and priority.
        invoke: InvokeIdAndPriority,
        /// The attribute.
        attribute: AttributeDescriptor,
        /// Optional selective access.
        access: Option<SelectiveAccess>,
        /// Block 1.
        block: DataBlock,
    },
    /// set-request-with-datablock.
    WithDataBlock {
        /// Invoke id and priority.
        invoke: InvokeIdAndPriority,
        /// Next block.
        block: DataBlock,
    },
    /// set-request-with-list.
    WithList {
        /// Invoke id and priority.
        invoke: InvokeIdAndPriority,
        /// The attributes.
        items: Vec<AttributeSelection>,
        /// One value per attribute.
        values: Vec<Data>,
    },
}

/// SET.response.
#[derive(Debug, Clone, PartialEq)]
pub enum SetResponse {
    /// set-response-normal.
    Normal {
        /// Invoke id and priority.
        invoke: InvokeIdAndPriority,
        /// Result.
        result: DataAccessResult,
    },
    /// set-response-datablock: block acknowledged, send the next.
    DataBlock {
        /// Invoke id and priority.
        invoke: InvokeIdAndPriority,
        /// Block acknowledged.
        block_number: u32,
    },
    /// set-response-last-datablock.
    LastDataBlock {
        /// Invoke id and priority.
        invoke: InvokeIdAndPriority,
        /// Result of the whole write.
        result: DataAccessResult,
        /// Last block number.
        block_number: u32,
    },
    /// set-response-with-list.
    WithList {
        /// Invoke id and priority.
        invoke: InvokeIdAndPriority,
        /// One result per attribute.
        results: Vec<DataAccessResult>,
    },
}

impl SetRequest {
    /// Invoke id and priority.
    pub fn invoke(&self) -> InvokeIdAndPriority {
        match self {
            SetRequest::Normal { invoke, .. }
            | SetRequest::WithFirstDataBlock { invoke, .. }
            | SetRequest::WithDataBlock { invoke, .. }
            | SetRequest::WithList { invoke, .. } => *invoke,
        }
    }

    /// Appends the encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(tag::SET_REQUEST);
        match self {
            SetRequest::Normal {
                invoke,
                attribute,
                access,
                value,
            } => {
                out.extend_from_slice(&[1, invoke.0]);
                attribute.encode(out);
                SelectiveAccess::encode_optional(access.as_ref(), out);
                value.encode(out);
            }
            SetRequest::WithFirstDataBlock {
                invoke,
                attribute,
                access,
                block,
            } => {
                out.extend_from_slice(&[2, invoke.0]);
                attribute.encode(out);
                SelectiveAccess::encode_optional(access.as_ref(), out);
                block.encode(out);
            }
            SetRequest::WithDataBlock { invoke, block } => {
                out.extend_from_slice(&[3, invoke.0]);
                block.encode(out);
            }
            SetRequest::WithList {
                invoke,
                items,
                values,
            } => {
                out.extend_from_slice(&[4, invoke.0]);
                write_length(out, items.len());
                for (a, s) in items {
                    a.encode(out);
                    SelectiveAccess::encode_optional(s.as_ref(), out);
                }
                write_length(out, values.len());
                for v in values {
                    v.encode(out);
                }
            }
        }
    }

    /// Decodes.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        expect_tag(r, tag::SET_REQUEST, "set-request tag")?;
        let choice = r.u8("set-request choice")?;
        let invoke = InvokeIdAndPriority(r.u8("invoke-id-and-priority")?);
        Ok(match choice {
            1 => SetRequest::Normal {
                invoke,
                attribute: AttributeDescriptor::decode(r)?,
                access: SelectiveAccess::decode_optional(r)?,
                value: Data::decode(r)?,
            },
            2 => SetRequest::WithFirstDataBlock {
                invoke,
                attribute: AttributeDescriptor::decode(r)?,
                access: SelectiveAccess::decode_optional(r)?,
                block: DataBlock::decode(r)?,
            },
            3 => SetRequest::WithDataBlock {
                invoke,
                block: DataBlock::decode(r)?,
            },
            4 => {
                let (n, cap) = seq_capacity(r, "set-request-with-list count")?;
                let mut items = Vec::with_capacity(cap);
                for _ in 0..n {
                    items.push((
                        AttributeDescriptor::decode(r)?,
                        SelectiveAccess::decode_optional(r)?,
                    ));
                }
                let (n, cap) = seq_capacity(r, "set-request-with-list value count")?;
                let mut values = Vec::with_capacity(cap);
                for _ in 0..n {
                    values.push(Data::decode(r)?);
                }
                SetRequest::WithList {
                    invoke,
                    items,
                    values,
                }
            }
            other => return Err(r.invalid("set-request choice", u32::from(other), 2)),
        })
    }
}

impl SetResponse {
    /// Invoke id and priority.
    pub fn invoke(&self) -> InvokeIdAndPriority {
        match self {
            SetResponse::Normal { invoke, .. }
            | SetResponse::DataBlock { invoke, .. }
            | SetResponse::LastDataBlock { invoke, .. }
            | SetResponse::WithList { invoke, .. } => *invoke,
        }
    }

    /// Appends the encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(tag::SET_RESPONSE);
        match self {
            SetResponse::Normal { invoke, result } => {
                out.extend_from_slice(&[1, invoke.0, result.code()]);
            }
            SetResponse::DataBlock {
                invoke,
                block_number,
            } => {
                out.extend_from_slice(&[2, invoke.0]);
                out.extend_from_slice(&block_number.to_be_bytes());
            }
            SetResponse::LastDataBlock {
                invoke,
                result,
                block_number,
            } => {
                out.extend_from_slice(&[3, invoke.0, result.code()]);
                out.extend_from_slice(&block_number.to_be_bytes());
            }
            SetResponse::WithList { invoke, results } => {
                out.extend_from_slice(&[5, invoke.0]);
                write_length(out, results.len());
                out.extend(results.iter().map(|r| r.code()));
            }
        }
    }

    /// Decodes.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        expect_tag(r, tag::SET_RESPONSE, "set-response tag")?;
        let choice = r.u8("set-response choice")?;
        let invoke = InvokeIdAndPriority(r.u8("invoke-id-and-priority")?);
        Ok(match choice {
            1 => SetResponse::Normal {
                invoke,
                result: DataAccessResult::decode(r)?,
            },
            2 => SetResponse::DataBlock {
                invoke,
                block_number: r.u32("block-number")?,
            },
            3 => SetResponse::LastDataBlock {
                invoke,
                result: DataAccessResult::decode(r)?,
                block_number: r.u32("block-number")?,
            },
            5 => {
                let (n, cap) = seq_capacity(r, "set-response-with-list count")?;
                let mut results = Vec::with_capacity(cap);
                for _ in 0..n {
                    results.push(DataAccessResult::decode(r)?);
                }
                SetResponse::WithList { invoke, results }
            }
            other => return Err(r.invalid("set-response choice", u32::from(other), 2)),
        })
    }
}
