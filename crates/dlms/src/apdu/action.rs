//! ACTION.request and ACTION.response (normal, with and without parameters / return data).
//!
//! The parameter-block variants (with-pblock, next-pblock) are not implemented.

use super::get::GetDataResult;
use super::{DataAccessResult, InvokeIdAndPriority, expect_tag, tag};
use crate::axdr::{Data, DecodeError, Reader};
use crate::cosem::MethodDescriptor;

/// ACTION.request (action-request-normal).
#[derive(Debug, Clone, PartialEq)]
pub struct ActionRequest {
    /// Invoke id and priority.
    pub invoke: InvokeIdAndPriority,
    /// The method.
    pub method: MethodDescriptor,
    /// method-invocation-parameters (OPTIONAL).
    pub parameters: Option<Data>,
}

/// ACTION.response (action-response-normal).
#[derive(Debug, Clone, PartialEq)]
pub struct ActionResponse {
    /// Invoke id and priority.
    pub invoke: InvokeIdAndPriority,
    /// Action-Result (same codes as Data-Access-Result).
    pub result: DataAccessResult,
    /// return-parameters (OPTIONAL).
    pub return_parameters: Option<GetDataResult>,
}

impl ActionRequest {
    /// Appends the encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[tag::ACTION_REQUEST, 1, self.invoke.0]);
        self.method.encode(out);
        match &self.parameters {
            None => out.push(0),
            Some(p) => {
                out.push(1);
                p.encode(out);
            }
        }
    }

    /// Decodes.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        expect_tag(r, tag::ACTION_REQUEST, "action-request tag")?;
        let choice = r.u8("action-request choice")?;
        if choice != 1 {
            return Err(r.invalid(
                "action-request choice (only normal is supported)",
                u32::from(choice),
                1,
            ));
        }
        let invoke = InvokeIdAndPriority(r.u8("invoke-id-and-priority")?);
        let method = MethodDescriptor::decode(r)?;
        let parameters = match r.u8("method-invocation-parameters presence")? {
            0 => None,
            _ => Some(Data::decode(r)?),
        };
        Ok(Self {
            invoke,
            method,
            parameters,
        })
    }
}

impl ActionResponse {
    /// Appends the encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[tag::ACTION_RESPONSE, 1, self.invoke.0, self.result.code()]);
        match &self.return_parameters {
            None => out.push(0),
            Some(p) => {
                out.push(1);
                p.encode(out);
            }
        }
    }

    /// Decodes.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        expect_tag(r, tag::ACTION_RESPONSE, "action-response tag")?;
        let choice = r.u8("action-response choice")?;
        if choice != 1 {
            return Err(r.invalid(
                "action-response choice (only normal is supported)",
                u32::from(choice),
                1,
            ));
        }
        let invoke = InvokeIdAndPriority(r.u8("invoke-id-and-priority")?);
        let result = DataAccessResult::decode(r)?;
        let return_parameters = match r.u8("return-parameters presence")? {
            0 => None,
            _ => Some(GetDataResult::decode(r)?),
        };
        Ok(Self {
            invoke,
            result,
            return_parameters,
        })
    }
}
