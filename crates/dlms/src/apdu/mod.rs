//! xDLMS and ACSE APDUs (IEC 62056-5-3): encode to and decode from whole APDU byte strings.
//!
//! [`Apdu::decode`] accepts every APDU this crate implements and never panics; an unknown or
//! malformed APDU gives a [`DecodeError`] naming the field and byte offset.

pub mod acse;
pub mod action;
pub mod ciphered;
pub mod get;
pub mod initiate;
pub mod notification;
pub mod set;
pub mod view;

pub use acse::{
    Aare, Aarq, AcseDiagnostic, ApplicationContext, AssociationResult, Mechanism, Rlre, Rlrq,
};
pub use action::{ActionRequest, ActionResponse};
pub use ciphered::{CipheredApdu, GeneralGloCiphered};
pub use get::{GetDataResult, GetRequest, GetResponse};
pub use initiate::{ConfirmedServiceError, Conformance, InitiateRequest, InitiateResponse};
pub use notification::{DataNotification, EventNotification, ExceptionResponse, ServiceError};
pub use set::{SetRequest, SetResponse};
pub use view::{ApduRef, GetDataResultRef, GetResponseRef};

use crate::axdr::{DecodeError, Reader};

/// APDU tag bytes.
pub mod tag {
    #![allow(missing_docs)]
    pub const INITIATE_REQUEST: u8 = 0x01;
    pub const INITIATE_RESPONSE: u8 = 0x08;
    pub const CONFIRMED_SERVICE_ERROR: u8 = 0x0E;
    pub const DATA_NOTIFICATION: u8 = 0x0F;
    pub const GLO_INITIATE_REQUEST: u8 = 0x21;
    pub const GLO_INITIATE_RESPONSE: u8 = 0x28;
    pub const GLO_CONFIRMED_SERVICE_ERROR: u8 = 0x2E;
    pub const AARQ: u8 = 0x60;
    pub const AARE: u8 = 0x61;
    pub const RLRQ: u8 = 0x62;
    pub const RLRE: u8 = 0x63;
    pub const GET_REQUEST: u8 = 0xC0;
    pub const SET_REQUEST: u8 = 0xC1;
    pub const EVENT_NOTIFICATION_REQUEST: u8 = 0xC2;
    pub const ACTION_REQUEST: u8 = 0xC3;
    pub const GET_RESPONSE: u8 = 0xC4;
    pub const SET_RESPONSE: u8 = 0xC5;
    pub const ACTION_RESPONSE: u8 = 0xC7;
    pub const GLO_GET_REQUEST: u8 = 0xC8;
    pub const GLO_SET_REQUEST: u8 = 0xC9;
    pub const GLO_EVENT_NOTIFICATION_REQUEST: u8 = 0xCA;
    pub const GLO_ACTION_REQUEST: u8 = 0xCB;
    pub const GLO_GET_RESPONSE: u8 = 0xCC;
    pub const GLO_SET_RESPONSE: u8 = 0xCD;
    pub const GLO_ACTION_RESPONSE: u8 = 0xCF;
    pub const EXCEPTION_RESPONSE: u8 = 0xD8;
    pub const GENERAL_GLO_CIPHERING: u8 = 0xDB;
}

/// `Invoke-Id-And-Priority`: bits 0-3 invoke id, bit 6 confirmed service, bit 7 high priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InvokeIdAndPriority(pub u8);

impl InvokeIdAndPriority {
    /// Builds the byte; `invoke_id` is taken modulo 16.
    pub fn new(invoke_id: u8, confirmed: bool, high_priority: bool) -> Self {
        Self((invoke_id & 0x0F) | (u8::from(confirmed) << 6) | (u8::from(high_priority) << 7))
    }

    /// Invoke id (0..=15).
    pub fn invoke_id(self) -> u8 {
        self.0 & 0x0F
    }

    /// Confirmed service class.
    pub fn confirmed(self) -> bool {
        self.0 & 0x40 != 0
    }

    /// High priority.
    pub fn high_priority(self) -> bool {
        self.0 & 0x80 != 0
    }
}

macro_rules! code_enum {
    ($(#[$m:meta])* $name:ident : $what:literal { $($(#[$vm:meta])* $v:ident = $n:literal,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[allow(missing_docs)]
        pub enum $name { $($(#[$vm])* $v = $n,)* }
        impl $name {
            /// All values.
            pub const ALL: &'static [$name] = &[$($name::$v,)*];
            /// The wire value.
            pub fn code(self) -> u8 { self as u8 }
            /// From the wire value.
            pub fn from_code(c: u8) -> Option<Self> {
                match c { $($n => Some($name::$v),)* _ => None }
            }
            /// Reads the wire value.
            pub fn decode(r: &mut $crate::axdr::Reader<'_>) -> Result<Self, $crate::axdr::DecodeError> {
                let c = r.u8($what)?;
                Self::from_code(c).ok_or_else(|| r.invalid($what, u32::from(c), 1))
            }
        }
    };
}
pub(crate) use code_enum;

code_enum! {
    /// `Data-Access-Result` (also used for `Action-Result`, which has the same codes; 15 and 16
    /// then mean long-action-aborted and no-long-action-in-progress).
    DataAccessResult: "data-access-result" {
        Success = 0,
        HardwareFault = 1,
        TemporaryFailure = 2,
        ReadWriteDenied = 3,
        ObjectUndefined = 4,
        ObjectClassInconsistent = 9,
        ObjectUnavailable = 11,
        TypeUnmatched = 12,
        ScopeOfAccessViolated = 13,
        DataBlockUnavailable = 14,
        LongGetAborted = 15,
        NoLongGetInProgress = 16,
        LongSetAborted = 17,
        NoLongSetInProgress = 18,
        DataBlockNumberInvalid = 19,
        OtherReason = 250,
    }
}

/// Any APDU this crate implements.
#[derive(Debug, Clone, PartialEq)]
pub enum Apdu {
    /// A-ASSOCIATE request.
    Aarq(Aarq),
    /// A-ASSOCIATE response.
    Aare(Aare),
    /// A-RELEASE request.
    Rlrq(Rlrq),
    /// A-RELEASE response.
    Rlre(Rlre),
    /// xDLMS InitiateRequest (normally inside the AARQ user-information).
    InitiateRequest(InitiateRequest),
    /// xDLMS InitiateResponse (normally inside the AARE user-information).
    InitiateResponse(InitiateResponse),
    /// ConfirmedServiceError.
    ConfirmedServiceError(ConfirmedServiceError),
    /// GET.request.
    GetRequest(GetRequest),
    /// GET.response.
    GetResponse(GetResponse),
    /// SET.request.
    SetRequest(SetRequest),
    /// SET.response.
    SetResponse(SetResponse),
    /// ACTION.request.
    ActionRequest(ActionRequest),
    /// ACTION.response.
    ActionResponse(ActionResponse),
    /// EventNotification.request.
    EventNotification(EventNotification),
    /// DataNotification.
    DataNotification(DataNotification),
    /// ExceptionResponse.
    ExceptionResponse(ExceptionResponse),
    /// Any glo- ciphered APDU (still ciphered; see [`crate::security`]).
    Ciphered(CipheredApdu),
    /// general-glo-ciphering (still ciphered), carrying the sender's system title.
    GeneralGloCiphered(GeneralGloCiphered),
}

impl Apdu {
    /// Decodes one APDU occupying all of `bytes`.
    pub fn decode(bytes: &[u8]) -> Result<Apdu, DecodeError> {
        let mut r = Reader::new(bytes);
        let Some(t) = r.peek() else {
            return Err(DecodeError::Truncated {
                what: "APDU tag",
                offset: 0,
                needed: 1,
                available: 0,
            });
        };
        let apdu = match t {
            tag::AARQ => Apdu::Aarq(Aarq::decode(&mut r)?),
            tag::AARE => Apdu::Aare(Aare::decode(&mut r)?),
            tag::RLRQ => Apdu::Rlrq(Rlrq::decode(&mut r)?),
            tag::RLRE => Apdu::Rlre(Rlre::decode(&mut r)?),
            tag::INITIATE_REQUEST => Apdu::InitiateRequest(InitiateRequest::decode(&mut r)?),
            tag::INITIATE_RESPONSE => Apdu::InitiateResponse(InitiateResponse::decode(&mut r)?),
            tag::CONFIRMED_SERVICE_ERROR => {
                Apdu::ConfirmedServiceError(ConfirmedServiceError::decode(&mut r)?)
            }
            tag::GET_REQUEST => Apdu::GetRequest(GetRequest::decode(&mut r)?),
            tag::GET_RESPONSE => Apdu::GetResponse(GetResponse::decode(&mut r)?),
            tag::SET_REQUEST => Apdu::SetRequest(SetRequest::decode(&mut r)?),
            tag::SET_RESPONSE => Apdu::SetResponse(SetResponse::decode(&mut r)?),
            tag::ACTION_REQUEST => Apdu::ActionRequest(ActionRequest::decode(&mut r)?),
            tag::ACTION_RESPONSE => Apdu::ActionResponse(ActionResponse::decode(&mut r)?),
            tag::EVENT_NOTIFICATION_REQUEST => {
                Apdu::EventNotification(EventNotification::decode(&mut r)?)
            }
            tag::DATA_NOTIFICATION => Apdu::DataNotification(DataNotification::decode(&mut r)?),
            tag::EXCEPTION_RESPONSE => Apdu::ExceptionResponse(ExceptionResponse::decode(&mut r)?),
            tag::GENERAL_GLO_CIPHERING => {
                Apdu::GeneralGloCiphered(GeneralGloCiphered::decode(&mut r)?)
            }
            t if CipheredApdu::is_glo_tag(t) => Apdu::Ciphered(CipheredApdu::decode(&mut r)?),
            other => return Err(r.invalid("APDU tag", u32::from(other), 0)),
        };
        r.finish("APDU")?;
        Ok(apdu)
    }

    /// Appends the encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Apdu::Aarq(a) => a.encode(out),
            Apdu::Aare(a) => a.encode(out),
            Apdu::Rlrq(a) => a.encode(out),
            Apdu::Rlre(a) => a.encode(out),
            Apdu::InitiateRequest(a) => a.encode(out),
            Apdu::InitiateResponse(a) => a.encode(out),
            Apdu::ConfirmedServiceError(a) => a.encode(out),
            Apdu::GetRequest(a) => a.encode(out),
            Apdu::GetResponse(a) => a.encode(out),
            Apdu::SetRequest(a) => a.encode(out),
            Apdu::SetResponse(a) => a.encode(out),
            Apdu::ActionRequest(a) => a.encode(out),
            Apdu::ActionResponse(a) => a.encode(out),
            Apdu::EventNotification(a) => a.encode(out),
            Apdu::DataNotification(a) => a.encode(out),
            Apdu::ExceptionResponse(a) => a.encode(out),
            Apdu::Ciphered(a) => a.encode(out),
            Apdu::GeneralGloCiphered(a) => a.encode(out),
        }
    }

    /// The encoding as a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

/// Reads the expected tag byte.
pub(crate) fn expect_tag(
    r: &mut Reader<'_>,
    expected: u8,
    what: &'static str,
) -> Result<(), DecodeError> {
    let t = r.u8(what)?;
    if t == expected {
        Ok(())
    } else {
        Err(r.invalid(what, u32::from(t), 1))
    }
}

/// Reads an A-XDR SEQUENCE OF count and pre-allocates safely.
pub(crate) fn seq_capacity(
    r: &mut Reader<'_>,
    what: &'static str,
) -> Result<(usize, usize), DecodeError> {
    let n = r.length(what)?;
    Ok((n, n.min(r.remaining())))
}
