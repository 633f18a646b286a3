//! xDLMS InitiateRequest / InitiateResponse / ConfirmedServiceError and the conformance block.

use super::{code_enum, expect_tag, tag};
use crate::axdr::{DecodeError, Reader};

/// The 24-bit conformance block (`[APPLICATION 31] IMPLICIT BIT STRING (SIZE(24))`).
///
/// Bit *n* of the standard (0 = first, most significant) is `1 << (23 - n)` here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Conformance(pub u32);

#[allow(missing_docs)]
impl Conformance {
    pub const GENERAL_PROTECTION: u32 = 1 << (23 - 1);
    pub const GENERAL_BLOCK_TRANSFER: u32 = 1 << (23 - 2);
    pub const READ: u32 = 1 << (23 - 3);
    pub const WRITE: u32 = 1 << (23 - 4);
    pub const UNCONFIRMED_WRITE: u32 = 1 << (23 - 5);
    pub const DELTA_VALUE_ENCODING: u32 = 1 << (23 - 6);
    pub const ATTRIBUTE0_SUPPORTED_WITH_SET: u32 = 1 << (23 - 8);
    pub const PRIORITY_MGMT_SUPPORTED: u32 = 1 << (23 - 9);
    pub const ATTRIBUTE0_SUPPORTED_WITH_GET: u32 = 1 << (23 - 10);
    pub const BLOCK_TRANSFER_WITH_GET_OR_READ: u32 = 1 << (23 - 11);
    pub const BLOCK_TRANSFER_WITH_SET_OR_WRITE: u32 = 1 << (23 - 12);
    pub const BLOCK_TRANSFER_WITH_ACTION: u32 = 1 << (23 - 13);
    pub const MULTIPLE_REFERENCES: u32 = 1 << (23 - 14);
    pub const INFORMATION_REPORT: u32 = 1 << (23 - 15);
    pub const DATA_NOTIFICATION: u32 = 1 << (23 - 16);
    pub const ACCESS: u32 = 1 << (23 - 17);
    pub const PARAMETERIZED_ACCESS: u32 = 1 << (23 - 18);
    pub const GET: u32 = 1 << (23 - 19);
    pub const SET: u32 = 1 << (23 - 20);
    pub const SELECTIVE_ACCESS: u32 = 1 << (23 - 21);
    pub const EVENT_NOTIFICATION: u32 = 1 << (23 - 22);
    pub const ACTION: u32 = 1;

    /// What this crate's client and server implement for LN referencing.
    pub const LN_DEFAULT: Conformance = Conformance(
        Self::BLOCK_TRANSFER_WITH_GET_OR_READ
            | Self::BLOCK_TRANSFER_WITH_SET_OR_WRITE
            | Self::MULTIPLE_REFERENCES
            | Self::DATA_NOTIFICATION
            | Self::GET
            | Self::SET
            | Self::SELECTIVE_ACCESS
            | Self::EVENT_NOTIFICATION
            | Self::ACTION,
    );

    /// True when every bit of `mask` is set.
    pub fn has(self, mask: u32) -> bool {
        self.0 & mask == mask
    }

    /// Bits set in both.
    pub fn intersect(self, other: Conformance) -> Conformance {
        Conformance(self.0 & other.0)
    }

    fn encode(self, out: &mut Vec<u8>) {
        let b = self.0.to_be_bytes();
        out.extend_from_slice(&[0x5F, 0x1F, 0x04, 0x00, b[1], b[2], b[3]]);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let at = r.offset();
        let head = r.array::<4>("conformance header")?;
        if head[..3] != [0x5F, 0x1F, 0x04] {
            return Err(DecodeError::Invalid {
                what: "conformance tag",
                offset: at,
                value: u32::from(head[0]),
            });
        }
        let b = r.array::<3>("conformance bits")?;
        Ok(Conformance(u32::from_be_bytes([0, b[0], b[1], b[2]])))
    }
}

/// xDLMS InitiateRequest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitiateRequest {
    /// Dedicated key (only meaningful inside a ciphered initiate).
    pub dedicated_key: Option<Vec<u8>>,
    /// response-allowed (DEFAULT TRUE).
    pub response_allowed: bool,
    /// proposed-quality-of-service.
    pub proposed_quality_of_service: Option<i8>,
    /// proposed-dlms-version-number (6).
    pub dlms_version: u8,
    /// proposed-conformance.
    pub conformance: Conformance,
    /// client-max-receive-pdu-size.
    pub client_max_receive_pdu_size: u16,
}

/// xDLMS InitiateResponse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitiateResponse {
    /// negotiated-quality-of-service.
    pub negotiated_quality_of_service: Option<i8>,
    /// negotiated-dlms-version-number (6).
    pub dlms_version: u8,
    /// negotiated-conformance.
    pub conformance: Conformance,
    /// server-max-receive-pdu-size.
    pub server_max_receive_pdu_size: u16,
    /// vaa-name: 0x0007 for LN referencing, 0xFA00 for SN.
    pub vaa_name: u16,
}

code_enum! {
    /// `ServiceError` initiate values.
    InitiateError: "initiate error" {
        Other = 0,
        DlmsVersionTooLow = 1,
        IncompatibleConformance = 2,
        PduSizeTooShort = 3,
        RefusedByTheVdeHandler = 4,
    }
}

/// ConfirmedServiceError: `[service] ServiceError` where ServiceError is a CHOICE of enums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConfirmedServiceError {
    /// Which service failed: 1 initiateError, 2 getStatus, … (ConfirmedServiceError CHOICE index).
    pub service: u8,
    /// ServiceError CHOICE index: 6 initiate, 0 application-reference, 1 hardware-resource, ….
    pub kind: u8,
    /// The enumerated value within `kind`.
    pub value: u8,
}

impl ConfirmedServiceError {
    /// An initiateError with the given reason (e.g. `0E 01 06 01` for dlms-version-too-low).
    pub fn initiate(e: InitiateError) -> Self {
        Self {
            service: 1,
            kind: 6,
            value: e.code(),
        }
    }

    /// Appends the encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[
            tag::CONFIRMED_SERVICE_ERROR,
            self.service,
            self.kind,
            self.value,
        ]);
    }

    /// Decodes.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        expect_tag(
            r,
            tag::CONFIRMED_SERVICE_ERROR,
            "confirmed-service-error tag",
        )?;
        Ok(Self {
            service: r.u8("confirmed-service-error service")?,
            kind: r.u8("service-error choice")?,
            value: r.u8("service-error value")?,
        })
    }
}

impl InitiateRequest {
    /// A request for LN referencing with DLMS version 6.
    pub fn new(conformance: Conformance, client_max_receive_pdu_size: u16) -> Self {
        Self {
            dedicated_key: None,
            response_allowed: true,
            proposed_quality_of_service: None,
            dlms_version: 6,
            conformance,
            client_max_receive_pdu_size,
        }
    }

    /// Appends the A-XDR encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(tag::INITIATE_REQUEST);
        match &self.dedicated_key {
            None => out.push(0),
            Some(k) => {
                out.push(1);
                crate::axdr::reader::write_length_prefixed(out, k);
            }
        }
        if self.response_allowed {
            out.push(0);
        } else {
            out.extend_from_slice(&[1, 0]);
        }
        match self.proposed_quality_of_service {
            None => out.push(0),
            Some(q) => out.extend_from_slice(&[1, q as u8]),
        }
        out.push(self.dlms_version);
        self.conformance.encode(out);
        out.extend_from_slice(&self.client_max_receive_pdu_size.to_be_bytes());
    }

    /// The encoding as a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }

    /// Decodes.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        expect_tag(r, tag::INITIATE_REQUEST, "initiate-request tag")?;
        let dedicated_key = match r.u8("dedicated-key presence")? {
            0 => None,
            _ => Some(r.length_prefixed("dedicated-key")?.to_vec()),
        };
        let response_allowed = match r.u8("response-allowed presence")? {
            0 => true,
            _ => r.bool("response-allowed")?,
        };
        let proposed_quality_of_service = match r.u8("quality-of-service presence")? {
            0 => None,
            _ => Some(r.u8("quality-of-service")? as i8),
        };
        Ok(Self {
            dedicated_key,
            response_allowed,
            proposed_quality_of_service,
            dlms_version: r.u8("dlms-version-number")?,
            conformance: Conformance::decode(r)?,
            client_max_receive_pdu_size: r.u16("client-max-receive-pdu-size")?,
        })
    }

    /// Decodes from a whole byte string.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let v = Self::decode(&mut r)?;
        r.finish("initiate-request")?;
        Ok(v)
    }
}

impl InitiateResponse {
    /// Appends the A-XDR encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(tag::INITIATE_RESPONSE);
        match self.negotiated_quality_of_service {
            None => out.push(0),
            Some(q) => out.extend_from_slice(&[1, q as u8]),
        }
        out.push(self.dlms_version);
        self.conformance.encode(out);
        out.extend_from_slice(&self.server_max_receive_pdu_size.to_be_bytes());
        out.extend_from_slice(&self.vaa_name.to_be_bytes());
    }

    /// The encoding as a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }

    /// Decodes.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        expect_tag(r, tag::INITIATE_RESPONSE, "initiate-response tag")?;
        let negotiated_quality_of_service = match r.u8("quality-of-service presence")? {
            0 => None,
            _ => Some(r.u8("quality-of-service")? as i8),
        };
        Ok(Self {
            negotiated_quality_of_service,
            dlms_version: r.u8("dlms-version-number")?,
            conformance: Conformance::decode(r)?,
            server_max_receive_pdu_size: r.u16("server-max-receive-pdu-size")?,
            vaa_name: r.u16("vaa-name")?,
        })
    }
}
