//! glo- ciphered APDUs: `tag, length, security header (SC ‖ IC), ciphered text ‖ tag`.
//!
//! This module only frames them; [`crate::security`] encrypts and decrypts.

use super::tag;
use crate::axdr::reader::write_length;
use crate::axdr::{DecodeError, Reader};

/// A glo- ciphered APDU as carried on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CipheredApdu {
    /// The glo- tag (e.g. 0xC8 glo-get-request, 0x21 glo-initiateRequest).
    pub tag: u8,
    /// Security control byte.
    pub security_control: u8,
    /// Invocation counter (the low 4 bytes of the IV).
    pub invocation_counter: u32,
    /// Ciphertext followed by the 12-byte authentication tag when authenticated.
    pub payload: Vec<u8>,
}

impl CipheredApdu {
    /// True for the glo- tags this crate handles.
    pub fn is_glo_tag(t: u8) -> bool {
        matches!(
            t,
            tag::GLO_INITIATE_REQUEST
                | tag::GLO_INITIATE_RESPONSE
                | tag::GLO_CONFIRMED_SERVICE_ERROR
                | tag::GLO_GET_REQUEST
                | tag::GLO_SET_REQUEST
                | tag::GLO_EVENT_NOTIFICATION_REQUEST
                | tag::GLO_ACTION_REQUEST
                | tag::GLO_GET_RESPONSE
                | tag::GLO_SET_RESPONSE
                | tag::GLO_ACTION_RESPONSE
        )
    }

    /// The glo- tag protecting a plaintext APDU with tag `plain`.
    pub fn glo_tag_for(plain: u8) -> Option<u8> {
        Some(match plain {
            tag::INITIATE_REQUEST => tag::GLO_INITIATE_REQUEST,
            tag::INITIATE_RESPONSE => tag::GLO_INITIATE_RESPONSE,
            tag::CONFIRMED_SERVICE_ERROR => tag::GLO_CONFIRMED_SERVICE_ERROR,
            tag::GET_REQUEST => tag::GLO_GET_REQUEST,
            tag::SET_REQUEST => tag::GLO_SET_REQUEST,
            tag::EVENT_NOTIFICATION_REQUEST => tag::GLO_EVENT_NOTIFICATION_REQUEST,
            tag::ACTION_REQUEST => tag::GLO_ACTION_REQUEST,
            tag::GET_RESPONSE => tag::GLO_GET_RESPONSE,
            tag::SET_RESPONSE => tag::GLO_SET_RESPONSE,
            tag::ACTION_RESPONSE => tag::GLO_ACTION_RESPONSE,
            _ => return None,
        })
    }

    /// Appends the encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.tag);
        write_length(out, 5 + self.payload.len());
        out.push(self.security_control);
        out.extend_from_slice(&self.invocation_counter.to_be_bytes());
        out.extend_from_slice(&self.payload);
    }

    /// The encoding as a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.payload.len() + 8);
        self.encode(&mut v);
        v
    }

    /// Decodes.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let t = r.u8("ciphered APDU tag")?;
        if !Self::is_glo_tag(t) {
            return Err(r.invalid("ciphered APDU tag", u32::from(t), 1));
        }
        let len = r.length("ciphered APDU length")?;
        let at = r.offset();
        let mut body = r.sub(len, "ciphered APDU")?;
        if len < 5 {
            return Err(DecodeError::Invalid {
                what: "ciphered APDU length (< security header)",
                offset: at,
                value: len as u32,
            });
        }
        Ok(Self {
            tag: t,
            security_control: body.u8("security control")?,
            invocation_counter: body.u32("invocation counter")?,
            payload: body.rest().to_vec(),
        })
    }

    /// Decodes from a whole byte string.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let v = Self::decode(&mut r)?;
        r.finish("ciphered APDU")?;
        Ok(v)
    }
}

/// `general-glo-ciphering` (tag 0xDB): the sender's system title travels with the APDU, so any
/// APDU — including a DataNotification, which has no glo- tag — can be protected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneralGloCiphered {
    /// The sender's system title (normally 8 bytes).
    pub system_title: Vec<u8>,
    /// Security control byte.
    pub security_control: u8,
    /// Invocation counter.
    pub invocation_counter: u32,
    /// Ciphertext followed by the 12-byte authentication tag when authenticated.
    pub payload: Vec<u8>,
}

impl GeneralGloCiphered {
    /// Appends the encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(tag::GENERAL_GLO_CIPHERING);
        crate::axdr::reader::write_length_prefixed(out, &self.system_title);
        write_length(out, 5 + self.payload.len());
        out.push(self.security_control);
        out.extend_from_slice(&self.invocation_counter.to_be_bytes());
        out.extend_from_slice(&self.payload);
    }

    /// Decodes.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        super::expect_tag(r, tag::GENERAL_GLO_CIPHERING, "general-glo-ciphering tag")?;
        let system_title = r.length_prefixed("system-title")?.to_vec();
        let len = r.length("ciphered-content length")?;
        let at = r.offset();
        let mut body = r.sub(len, "ciphered-content")?;
        if len < 5 {
            return Err(DecodeError::Invalid {
                what: "ciphered-content length (< security header)",
                offset: at,
                value: len as u32,
            });
        }
        Ok(Self {
            system_title,
            security_control: body.u8("security control")?,
            invocation_counter: body.u32("invocation counter")?,
            payload: body.rest().to_vec(),
        })
    }
}
