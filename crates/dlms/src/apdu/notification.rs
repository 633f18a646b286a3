//! Unsolicited and error APDUs: EventNotification.request, DataNotification, ExceptionResponse.

use super::{code_enum, expect_tag, tag};
use crate::axdr::reader::write_length_prefixed;
use crate::axdr::{Data, DateTime, DecodeError, Reader};
use crate::cosem::AttributeDescriptor;

/// EventNotification.request (an attribute value pushed by the server).
#[derive(Debug, Clone, PartialEq)]
pub struct EventNotification {
    /// Optional time stamp (the 12 octets of a date-time).
    pub time: Option<Vec<u8>>,
    /// The attribute whose value is reported.
    pub attribute: AttributeDescriptor,
    /// The value.
    pub value: Data,
}

/// DataNotification (push of a structure of captured values).
#[derive(Debug, Clone, PartialEq)]
pub struct DataNotification {
    /// long-invoke-id-and-priority (invoke id in bits 0-23).
    pub long_invoke_id_and_priority: u32,
    /// Optional time stamp (encoded as an octet-string: empty or 12 octets).
    pub date_time: Option<DateTime>,
    /// notification-body.
    pub body: Data,
}

code_enum! {
    /// ExceptionResponse state-error.
    StateError: "state-error" {
        ServiceNotAllowed = 1,
        ServiceUnknown = 2,
    }
}

/// ExceptionResponse service-error.
///
/// The ASN.1 of IEC 62056-5-3 numbers the CHOICE alternatives from 1 (`operation-not-possible
/// [1]` … `invocation-counter-error [6]`), and the A-XDR encoding carries that number: a GET
/// before any association is `D8 01 01`, not `D8 01 00`. Gurux and dlms-cosem decode it so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceError {
    /// operation-not-possible \[1\].
    OperationNotPossible,
    /// service-not-supported \[2\].
    ServiceNotSupported,
    /// other-reason \[3\].
    OtherReason,
    /// pdu-too-long \[4\].
    PduTooLong,
    /// deciphering-error \[5\].
    DecipheringError,
    /// invocation-counter-error \[6\]: the lowest counter value the receiver would accept.
    InvocationCounterError(u32),
}

impl ServiceError {
    /// The CHOICE number on the wire.
    pub fn code(self) -> u8 {
        match self {
            Self::OperationNotPossible => 1,
            Self::ServiceNotSupported => 2,
            Self::OtherReason => 3,
            Self::PduTooLong => 4,
            Self::DecipheringError => 5,
            Self::InvocationCounterError(_) => 6,
        }
    }
}

/// ExceptionResponse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExceptionResponse {
    /// state-error.
    pub state_error: StateError,
    /// service-error.
    pub service_error: ServiceError,
}

impl EventNotification {
    /// Appends the encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(tag::EVENT_NOTIFICATION_REQUEST);
        match &self.time {
            None => out.push(0),
            Some(t) => {
                out.push(1);
                write_length_prefixed(out, t);
            }
        }
        self.attribute.encode(out);
        self.value.encode(out);
    }

    /// Decodes.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        expect_tag(r, tag::EVENT_NOTIFICATION_REQUEST, "event-notification tag")?;
        let time = match r.u8("time presence")? {
            0 => None,
            _ => Some(r.length_prefixed("time")?.to_vec()),
        };
        Ok(Self {
            time,
            attribute: AttributeDescriptor::decode(r)?,
            value: Data::decode(r)?,
        })
    }
}

impl DataNotification {
    /// Appends the encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(tag::DATA_NOTIFICATION);
        out.extend_from_slice(&self.long_invoke_id_and_priority.to_be_bytes());
        match &self.date_time {
            None => out.push(0),
            Some(dt) => {
                out.push(DateTime::LEN as u8);
                dt.encode(out);
            }
        }
        self.body.encode(out);
    }

    /// Decodes.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        expect_tag(r, tag::DATA_NOTIFICATION, "data-notification tag")?;
        let long_invoke_id_and_priority = r.u32("long-invoke-id-and-priority")?;
        let at = r.offset();
        let date_time = match r.length("data-notification date-time")? {
            0 => None,
            12 => Some(DateTime::decode(r)?),
            other => {
                return Err(DecodeError::Invalid {
                    what: "data-notification date-time length",
                    offset: at,
                    value: other as u32,
                });
            }
        };
        Ok(Self {
            long_invoke_id_and_priority,
            date_time,
            body: Data::decode(r)?,
        })
    }
}

impl ExceptionResponse {
    /// Appends the encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[
            tag::EXCEPTION_RESPONSE,
            self.state_error.code(),
            self.service_error.code(),
        ]);
        if let ServiceError::InvocationCounterError(ic) = self.service_error {
            out.extend_from_slice(&ic.to_be_bytes());
        }
    }

    /// Decodes.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        expect_tag(r, tag::EXCEPTION_RESPONSE, "exception-response tag")?;
        let state_error = StateError::decode(r)?;
        let service_error = match r.u8("service-error")? {
            1 => ServiceError::OperationNotPossible,
            2 => ServiceError::ServiceNotSupported,
            3 => ServiceError::OtherReason,
            4 => ServiceError::PduTooLong,
            5 => ServiceError::DecipheringError,
            6 => ServiceError::InvocationCounterError(r.u32("invocation-counter")?),
            other => return Err(r.invalid("service-error", u32::from(other), 1)),
        };
        Ok(Self {
            state_error,
            service_error,
        })
    }
}
