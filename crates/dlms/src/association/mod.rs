//! Client and server association state machines over whole APDU byte strings.
//!
//! Both are sans-IO in the style of `quinn-proto`: feed received APDUs in with `handle_apdu`,
//! take APDUs to send with `poll_transmit`, and take completed operations with `poll_event`.
//! Nothing here reads a clock or draws random numbers: callers pass `now_ms` and the HLS
//! challenges. The transport (HDLC or the TCP wrapper) is composed around them elsewhere.
//!
//! The server answers requests through a [`CosemObjectModel`] supplied by the caller (the
//! emulator); it handles the current association's `reply_to_HLS_authentication` itself.

mod client;
mod server;

pub use client::{
    ClientAssociation, ClientAuthentication, ClientConfig, ClientEvent, ClientState,
    DEFAULT_RESPONSE_TIMEOUT_MS,
};
pub use server::{ServerAssociation, ServerAuthentication, ServerConfig, ServerEvent, ServerState};

use crate::apdu::{ApplicationContext, DataAccessResult, Mechanism};
use crate::axdr::{Data, DecodeError};
use crate::cosem::{AttributeDescriptor, MethodDescriptor, SelectiveAccess};
use crate::security::{Keys, SecurityControl, SecurityError, SystemTitle};

/// What the server knows about the request it is asking the object model to serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestContext {
    /// The caller's clock, as passed to `handle_apdu`.
    pub now_ms: u64,
    /// The authentication mechanism of the association.
    pub mechanism: Mechanism,
    /// True when the request arrived glo- ciphered.
    pub ciphered: bool,
    /// Negotiated conformance of the association (Association LN `xDLMS_context_info`).
    pub conformance: crate::apdu::Conformance,
    /// server-max-receive-pdu-size the AARE announced.
    pub server_max_receive_pdu: u16,
    /// client-max-receive-pdu-size from the AARQ: the largest APDU the server may send.
    pub client_max_receive_pdu: u16,
}

/// The server's view of the COSEM objects it exposes.
///
/// `ServerAssociation` calls it for every GET, SET and ACTION once the association is
/// established (and, for HLS, authenticated). Return `Err` with the Data-Access-Result (or
/// Action-Result) the client should see, e.g. [`DataAccessResult::ObjectUndefined`] for an
/// unknown object or [`DataAccessResult::ReadWriteDenied`] when access rights forbid it.
pub trait CosemObjectModel {
    /// Reads an attribute, applying `access` (e.g. a Profile Generic range) when given.
    fn get(
        &mut self,
        ctx: &RequestContext,
        attribute: &AttributeDescriptor,
        access: Option<&SelectiveAccess>,
    ) -> Result<Data, DataAccessResult>;

    /// Writes an attribute.
    fn set(
        &mut self,
        ctx: &RequestContext,
        attribute: &AttributeDescriptor,
        access: Option<&SelectiveAccess>,
        value: Data,
    ) -> Result<(), DataAccessResult>;

    /// Invokes a method; `Ok(Some(data))` is returned to the client as return-parameters.
    fn action(
        &mut self,
        ctx: &RequestContext,
        method: &MethodDescriptor,
        parameters: Option<&Data>,
    ) -> Result<Option<Data>, DataAccessResult>;
}

/// Security material of one side: its system title, the suite-0 keys and its next invocation
/// counter. Needed for ciphering and for HLS-GMAC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityMaterial {
    /// This side's system title.
    pub system_title: SystemTitle,
    /// EK and AK (shared with the peer).
    pub keys: Keys,
    /// The next invocation counter this side will use.
    pub invocation_counter: u32,
}

/// Errors from the association state machines.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssociationError {
    /// The received bytes are not a valid APDU.
    #[error("malformed APDU: {0}")]
    Decode(#[from] DecodeError),
    /// Ciphering or authentication failed.
    #[error("security: {0}")]
    Security(#[from] SecurityError),
    /// The operation is not possible in the current state.
    #[error("{operation} not possible in state {state}")]
    InvalidState {
        /// What was attempted.
        operation: &'static str,
        /// The current state.
        state: &'static str,
    },
    /// The configuration cannot work (e.g. HLS-GMAC without keys).
    #[error("configuration: {0}")]
    Config(&'static str),
    /// The peer sent an APDU that makes no sense here.
    #[error("unexpected APDU: {0}")]
    Unexpected(&'static str),
    /// A service or protection the association's negotiated conformance does not include.
    #[error("{0} was not negotiated in this association's conformance")]
    NotNegotiated(&'static str),
}

/// Security policy for xDLMS APDUs when the ciphering application context is used.
pub(crate) fn context_for(cipher: Option<SecurityControl>) -> ApplicationContext {
    if cipher.is_some() {
        ApplicationContext::LogicalNameCiphering
    } else {
        ApplicationContext::LogicalName
    }
}

/// Overhead of a glo- ciphered APDU: tag, up to 3 length bytes, SC, IC and the tag.
pub(crate) const CIPHER_OVERHEAD: usize = 1 + 3 + 5 + crate::security::TAG_LEN;

/// Extra overhead of general-glo-ciphering over glo-: the length-prefixed system title.
pub(crate) const GENERAL_GLO_EXTRA: usize = 1 + 8;

/// The effective limit for a peer's max-receive-pdu-size (0 means no limit).
pub(crate) fn pdu_limit(max: u16) -> usize {
    if max == 0 {
        usize::MAX
    } else {
        usize::from(max)
    }
}

/// The Association LN object of the current association and its method 1.
pub(crate) fn is_hls_reply(method: &MethodDescriptor) -> bool {
    method.class_id == crate::cosem::class_id::ASSOCIATION_LN
        && method.instance == crate::obis::Obis::CURRENT_ASSOCIATION
        && method.method_id == 1
}
