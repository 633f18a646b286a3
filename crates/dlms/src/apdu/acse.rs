//! ACSE APDUs (AARQ, AARE, RLRQ, RLRE) in BER, as profiled by IEC 62056-5-3 §9.
//!
//! Only the fields DLMS/COSEM uses are modelled; other ACSE fields are skipped when decoding.
//! `user_information` holds the raw xDLMS APDU (InitiateRequest/Response, a glo- ciphered
//! initiate, or a ConfirmedServiceError) so ciphering can be applied by the association layer.

use super::{code_enum, expect_tag, tag};
use crate::axdr::reader::write_length;
use crate::axdr::{DecodeError, Reader};

/// DLMS-UA arcs 2.16.756.5.8 (BER `60 85 74 05 08`).
const DLMS_UA_OID: [u8; 5] = [0x60, 0x85, 0x74, 0x05, 0x08];

code_enum! {
    /// Application context name (last arc of 2.16.756.5.8.1.x).
    ApplicationContext: "application context name" {
        LogicalName = 1,
        ShortName = 2,
        LogicalNameCiphering = 3,
        ShortNameCiphering = 4,
    }
}

impl ApplicationContext {
    /// True for the ciphering contexts.
    pub fn is_ciphered(self) -> bool {
        matches!(self, Self::LogicalNameCiphering | Self::ShortNameCiphering)
    }
}

code_enum! {
    /// Authentication mechanism name (last arc of 2.16.756.5.8.2.x).
    Mechanism: "authentication mechanism name" {
        None = 0,
        /// Low level security: password.
        Lls = 1,
        Hls = 2,
        HlsMd5 = 3,
        HlsSha1 = 4,
        /// HLS with GMAC (security suite 0).
        HlsGmac = 5,
        HlsSha256 = 6,
        HlsEcdsa = 7,
    }
}

code_enum! {
    /// Association-result of the AARE.
    AssociationResult: "association result" {
        Accepted = 0,
        RejectedPermanent = 1,
        RejectedTransient = 2,
    }
}

/// `Associate-source-diagnostic`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AcseDiagnostic {
    /// acse-service-user \[1\]; see the `USER_*` constants.
    User(u8),
    /// acse-service-provider \[2\]: 0 null, 1 no-reason-given, 2 no-common-acse-version.
    Provider(u8),
}

impl AcseDiagnostic {
    /// null.
    pub const USER_NULL: u8 = 0;
    /// no-reason-given.
    pub const USER_NO_REASON_GIVEN: u8 = 1;
    /// application-context-name-not-supported.
    pub const USER_APPLICATION_CONTEXT_NOT_SUPPORTED: u8 = 2;
    /// calling-AP-title-not-recognized.
    pub const USER_CALLING_AP_TITLE_NOT_RECOGNIZED: u8 = 3;
    /// authentication-mechanism-name-not-recognised.
    pub const USER_MECHANISM_NOT_RECOGNISED: u8 = 11;
    /// authentication-mechanism-name-required.
    pub const USER_MECHANISM_REQUIRED: u8 = 12;
    /// authentication-failure.
    pub const USER_AUTHENTICATION_FAILURE: u8 = 13;
    /// authentication-required (HLS: pass 3 and 4 follow).
    pub const USER_AUTHENTICATION_REQUIRED: u8 = 14;
}

/// A-ASSOCIATE.request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aarq {
    /// Application context.
    pub application_context: ApplicationContext,
    /// calling-AP-title: the client system title (required with ciphering).
    pub calling_ap_title: Option<Vec<u8>>,
    /// Mechanism; when present the sender-acse-requirements authentication bit is set.
    pub mechanism: Option<Mechanism>,
    /// calling-authentication-value: the LLS password or the HLS CtoS challenge.
    pub calling_authentication_value: Option<Vec<u8>>,
    /// The xDLMS initiate request (plain or glo- ciphered), raw.
    pub user_information: Option<Vec<u8>>,
}

/// A-ASSOCIATE.response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aare {
    /// Application context.
    pub application_context: ApplicationContext,
    /// Result.
    pub result: AssociationResult,
    /// Diagnostic.
    pub diagnostic: AcseDiagnostic,
    /// responding-AP-title: the server system title.
    pub responding_ap_title: Option<Vec<u8>>,
    /// Mechanism; when present the responder-acse-requirements authentication bit is set.
    pub mechanism: Option<Mechanism>,
    /// responding-authentication-value: the HLS StoC challenge.
    pub responding_authentication_value: Option<Vec<u8>>,
    /// The xDLMS initiate response or confirmed service error (plain or ciphered), raw.
    pub user_information: Option<Vec<u8>>,
}

/// A-RELEASE.request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rlrq {
    /// 0 normal, 1 urgent, 30 user-defined.
    pub reason: Option<u8>,
    /// Optional xDLMS initiate request, raw.
    pub user_information: Option<Vec<u8>>,
}

/// A-RELEASE.response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rlre {
    /// 0 normal, 1 not-finished, 30 user-defined.
    pub reason: Option<u8>,
    /// Optional xDLMS initiate response, raw.
    pub user_information: Option<Vec<u8>>,
}

fn tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    write_length(out, content.len());
    out.extend_from_slice(content);
}

fn oid(arc_group: u8, last: u8) -> Vec<u8> {
    let mut v = DLMS_UA_OID.to_vec();
    v.extend_from_slice(&[arc_group, last]);
    v
}

fn context_name(out: &mut Vec<u8>, tag: u8, ctx: ApplicationContext) {
    let mut inner = Vec::new();
    tlv(&mut inner, 0x06, &oid(1, ctx.code()));
    tlv(out, tag, &inner);
}

fn explicit_octets(out: &mut Vec<u8>, tag: u8, inner_tag: u8, value: &[u8]) {
    let mut inner = Vec::new();
    tlv(&mut inner, inner_tag, value);
    tlv(out, tag, &inner);
}

fn explicit_integer(out: &mut Vec<u8>, tag: u8, value: u8) {
    tlv(out, tag, &[0x02, 0x01, value]);
}

fn mechanism_fields(out: &mut Vec<u8>, req_tag: u8, mech_tag: u8, m: Option<Mechanism>) {
    if let Some(m) = m {
        tlv(out, req_tag, &[0x07, 0x80]);
        tlv(out, mech_tag, &oid(2, m.code()));
    }
}

fn parse_oid_last(
    r: &Reader<'_>,
    value: &[u8],
    group: u8,
    what: &'static str,
) -> Result<u8, DecodeError> {
    match value {
        [a, b, c, d, e, g, last] if [*a, *b, *c, *d, *e] == DLMS_UA_OID && *g == group => Ok(*last),
        _ => Err(r.invalid(
            what,
            value.first().copied().map_or(0, u32::from),
            value.len(),
        )),
    }
}

/// Reads `tag len value` of an element inside a constructed value.
fn element<'a>(r: &mut Reader<'a>, what: &'static str) -> Result<(u8, Reader<'a>), DecodeError> {
    let t = r.u8(what)?;
    let len = r.length(what)?;
    Ok((t, r.sub(len, what)?))
}

fn inner_value<'a>(
    v: &mut Reader<'a>,
    inner_tag: u8,
    what: &'static str,
) -> Result<&'a [u8], DecodeError> {
    expect_tag(v, inner_tag, what)?;
    let len = v.length(what)?;
    v.take(len, what)
}

fn inner_integer(v: &mut Reader<'_>, what: &'static str) -> Result<u8, DecodeError> {
    let bytes = inner_value(v, 0x02, what)?;
    match bytes {
        [b] => Ok(*b),
        _ => Err(v.invalid(what, bytes.len() as u32, bytes.len())),
    }
}

fn outer<'a>(
    r: &mut Reader<'a>,
    expected: u8,
    what: &'static str,
) -> Result<Reader<'a>, DecodeError> {
    expect_tag(r, expected, what)?;
    let len = r.length(what)?;
    r.sub(len, what)
}

impl Aarq {
    /// Appends the BER encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut c = Vec::new();
        context_name(&mut c, 0xA1, self.application_context);
        if let Some(t) = &self.calling_ap_title {
            explicit_octets(&mut c, 0xA6, 0x04, t);
        }
        mechanism_fields(&mut c, 0x8A, 0x8B, self.mechanism);
        if let Some(v) = &self.calling_authentication_value {
            explicit_octets(&mut c, 0xAC, 0x80, v);
        }
        if let Some(ui) = &self.user_information {
            explicit_octets(&mut c, 0xBE, 0x04, ui);
        }
        tlv(out, tag::AARQ, &c);
    }

    /// Decodes an AARQ.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut body = outer(r, tag::AARQ, "AARQ")?;
        let mut out = Aarq {
            application_context: ApplicationContext::LogicalName,
            calling_ap_title: None,
            mechanism: None,
            calling_authentication_value: None,
            user_information: None,
        };
        let mut saw_context = false;
        while !body.is_empty() {
            let (t, mut v) = element(&mut body, "AARQ element")?;
            match t {
                0xA1 => {
                    let value = inner_value(&mut v, 0x06, "application-context-name")?;
                    let c = parse_oid_last(&v, value, 1, "application-context-name")?;
                    out.application_context = ApplicationContext::from_code(c)
                        .ok_or_else(|| v.invalid("application-context-name", u32::from(c), 1))?;
                    saw_context = true;
                }
                0xA6 => {
                    out.calling_ap_title =
                        Some(inner_value(&mut v, 0x04, "calling-AP-title")?.to_vec())
                }
                0x8B => {
                    let value = v.rest();
                    let m = parse_oid_last(&v, value, 2, "mechanism-name")?;
                    out.mechanism = Some(
                        Mechanism::from_code(m)
                            .ok_or_else(|| v.invalid("mechanism-name", u32::from(m), 1))?,
                    );
                }
                0xAC => {
                    let (_, mut inner) = element(&mut v, "calling-authentication-value")?;
                    out.calling_authentication_value = Some(
                        inner
                            .take(inner.remaining(), "authentication value")?
                            .to_vec(),
                    );
                }
                0xBE => {
                    out.user_information =
                        Some(inner_value(&mut v, 0x04, "user-information")?.to_vec())
                }
                // protocol-version, called/calling AE fields, acse-requirements, implementation-information.
                _ => {}
            }
        }
        if !saw_context {
            return Err(body.invalid("AARQ without application-context-name", 0, 0));
        }
        Ok(out)
    }
}

impl Aare {
    /// Appends the BER encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut c = Vec::new();
        context_name(&mut c, 0xA1, self.application_context);
        explicit_integer(&mut c, 0xA2, self.result.code());
        let (choice, code) = match self.diagnostic {
            AcseDiagnostic::User(d) => (0xA1, d),
            AcseDiagnostic::Provider(d) => (0xA2, d),
        };
        let mut diag = Vec::new();
        explicit_integer(&mut diag, choice, code);
        tlv(&mut c, 0xA3, &diag);
        if let Some(t) = &self.responding_ap_title {
            explicit_octets(&mut c, 0xA4, 0x04, t);
        }
        mechanism_fields(&mut c, 0x88, 0x89, self.mechanism);
        if let Some(v) = &self.responding_authentication_value {
            explicit_octets(&mut c, 0xAA, 0x80, v);
        }
        if let Some(ui) = &self.user_information {
            explicit_octets(&mut c, 0xBE, 0x04, ui);
        }
        tlv(out, tag::AARE, &c);
    }

    /// Decodes an AARE.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut body = outer(r, tag::AARE, "AARE")?;
        let mut context = None;
        let mut result = None;
        let mut diagnostic = None;
        let mut out_title = None;
        let mut mechanism = None;
        let mut auth = None;
        let mut ui = None;
        while !body.is_empty() {
            let (t, mut v) = element(&mut body, "AARE element")?;
            match t {
                0xA1 => {
                    let value = inner_value(&mut v, 0x06, "application-context-name")?;
                    let c = parse_oid_last(&v, value, 1, "application-context-name")?;
                    context =
                        Some(ApplicationContext::from_code(c).ok_or_else(|| {
                            v.invalid("application-context-name", u32::from(c), 1)
                        })?);
                }
                0xA2 => {
                    let c = inner_integer(&mut v, "association result")?;
                    result = Some(
                        AssociationResult::from_code(c)
                            .ok_or_else(|| v.invalid("association result", u32::from(c), 1))?,
                    );
                }
                0xA3 => {
                    let (choice, mut inner) = element(&mut v, "result-source-diagnostic")?;
                    let code = inner_integer(&mut inner, "result-source-diagnostic")?;
                    diagnostic = Some(match choice {
                        0xA1 => AcseDiagnostic::User(code),
                        0xA2 => AcseDiagnostic::Provider(code),
                        other => {
                            return Err(v.invalid(
                                "result-source-diagnostic choice",
                                u32::from(other),
                                0,
                            ));
                        }
                    });
                }
                0xA4 => {
                    out_title = Some(inner_value(&mut v, 0x04, "responding-AP-title")?.to_vec())
                }
                0x89 => {
                    let value = v.rest();
                    let m = parse_oid_last(&v, value, 2, "mechanism-name")?;
                    mechanism = Some(
                        Mechanism::from_code(m)
                            .ok_or_else(|| v.invalid("mechanism-name", u32::from(m), 1))?,
                    );
                }
                0xAA => {
                    let (_, mut inner) = element(&mut v, "responding-authentication-value")?;
                    auth = Some(
                        inner
                            .take(inner.remaining(), "authentication value")?
                            .to_vec(),
                    );
                }
                0xBE => ui = Some(inner_value(&mut v, 0x04, "user-information")?.to_vec()),
                _ => {}
            }
        }
        let missing = |what| body.invalid(what, 0, 0);
        Ok(Aare {
            application_context: context
                .ok_or_else(|| missing("AARE without application-context-name"))?,
            result: result.ok_or_else(|| missing("AARE without result"))?,
            diagnostic: diagnostic
                .ok_or_else(|| missing("AARE without result-source-diagnostic"))?,
            responding_ap_title: out_title,
            mechanism,
            responding_authentication_value: auth,
            user_information: ui,
        })
    }
}

fn encode_release(out: &mut Vec<u8>, t: u8, reason: Option<u8>, ui: Option<&[u8]>) {
    let mut c = Vec::new();
    if let Some(reason) = reason {
        tlv(&mut c, 0x80, &[reason]);
    }
    if let Some(ui) = ui {
        explicit_octets(&mut c, 0xBE, 0x04, ui);
    }
    tlv(out, t, &c);
}

type Release = (Option<u8>, Option<Vec<u8>>);

fn decode_release(r: &mut Reader<'_>, t: u8, what: &'static str) -> Result<Release, DecodeError> {
    let mut body = outer(r, t, what)?;
    let (mut reason, mut ui) = (None, None);
    while !body.is_empty() {
        let (t, mut v) = element(&mut body, what)?;
        match t {
            0x80 => reason = Some(v.u8("release reason")?),
            0xBE => ui = Some(inner_value(&mut v, 0x04, "user-information")?.to_vec()),
            _ => {}
        }
    }
    Ok((reason, ui))
}

impl Rlrq {
    /// Appends the BER encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        encode_release(
            out,
            tag::RLRQ,
            self.reason,
            self.user_information.as_deref(),
        );
    }

    /// Decodes an RLRQ.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let (reason, user_information) = decode_release(r, tag::RLRQ, "RLRQ")?;
        Ok(Self {
            reason,
            user_information,
        })
    }
}

impl Rlre {
    /// Appends the BER encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        encode_release(
            out,
            tag::RLRE,
            self.reason,
            self.user_information.as_deref(),
        );
    }

    /// Decodes an RLRE.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let (reason, user_information) = decode_release(r, tag::RLRE, "RLRE")?;
        Ok(Self {
            reason,
            user_information,
        })
    }
}
