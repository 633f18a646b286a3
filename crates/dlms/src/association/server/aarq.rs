//! AARQ processing: application context, authentication and xDLMS initiate negotiation.

use super::{ServerAssociation, ServerAuthentication, ServerEvent, ServerState};
use crate::apdu::initiate::InitiateError;
use crate::apdu::{
    Aare, Aarq, AcseDiagnostic, Apdu, AssociationResult, ConfirmedServiceError, InitiateRequest,
    InitiateResponse, Mechanism,
};
use crate::association::{AssociationError, context_for};
use crate::security::{ReplayGuard, SystemTitle};

/// vaa-name of LN referencing.
const VAA_NAME_LN: u16 = 0x0007;

enum Verdict {
    Reject(AcseDiagnostic, Option<ConfirmedServiceError>),
    Accept(InitiateRequest),
}

impl ServerAssociation {
    pub(super) fn handle_aarq(&mut self, aarq: Aarq) -> Result<(), AssociationError> {
        self.reset();
        let title = aarq
            .calling_ap_title
            .as_deref()
            .and_then(|t| <SystemTitle>::try_from(t).ok());
        if self.client_title.is_some() && title != self.client_title {
            // A different client: its counters start afresh.
            self.client_guard = ReplayGuard::new();
        }
        self.client_title = title;
        let verdict = self.evaluate(&aarq)?;
        let context = context_for(self.config.cipher);
        let (initiate, diag, mechanism) = match verdict {
            Verdict::Reject(diagnostic, initiate_error) => {
                self.events.push_back(ServerEvent::Rejected { diagnostic });
                let aare = Aare {
                    application_context: aarq.application_context,
                    result: AssociationResult::RejectedPermanent,
                    diagnostic,
                    responding_ap_title: None,
                    mechanism: None,
                    responding_authentication_value: None,
                    user_information: initiate_error
                        .map(|e| Apdu::ConfirmedServiceError(e).to_bytes()),
                };
                self.transmit.push_back(Apdu::Aare(aare).to_bytes());
                return Ok(());
            }
            Verdict::Accept(initiate) => {
                let mechanism = aarq.mechanism.unwrap_or(Mechanism::None);
                let diag = if mechanism == Mechanism::HlsGmac {
                    AcseDiagnostic::USER_AUTHENTICATION_REQUIRED
                } else {
                    AcseDiagnostic::USER_NULL
                };
                (initiate, diag, mechanism)
            }
        };
        self.conformance = self.offered_conformance().intersect(initiate.conformance);
        self.client_max_pdu = initiate.client_max_receive_pdu_size;
        self.mechanism = mechanism;
        let response = InitiateResponse {
            negotiated_quality_of_service: None,
            dlms_version: 6,
            conformance: self.conformance,
            server_max_receive_pdu_size: self.config.max_receive_pdu_size,
            vaa_name: VAA_NAME_LN,
        }
        .to_bytes();
        let user_information = match self.config.cipher {
            Some(sc) => self.protect(&response, sc)?,
            None => response,
        };
        let hls = mechanism == Mechanism::HlsGmac;
        if hls {
            self.client_challenge = aarq
                .calling_authentication_value
                .clone()
                .unwrap_or_default();
        }
        let aare = Aare {
            application_context: context,
            result: AssociationResult::Accepted,
            diagnostic: AcseDiagnostic::User(diag),
            responding_ap_title: self
                .config
                .security
                .as_ref()
                .map(|s| s.system_title.to_vec()),
            mechanism: aarq.mechanism.filter(|m| *m != Mechanism::None),
            responding_authentication_value: hls.then(|| self.config.hls_challenge.clone()),
            user_information: Some(user_information),
        };
        self.transmit.push_back(Apdu::Aare(aare).to_bytes());
        if hls {
            self.state = ServerState::AwaitingHlsReply;
        } else {
            self.state = ServerState::Associated;
            self.events.push_back(ServerEvent::Associated {
                mechanism,
                client_system_title: self.client_title,
            });
        }
        Ok(())
    }

    fn evaluate(&mut self, aarq: &Aarq) -> Result<Verdict, AssociationError> {
        let reject = |d| Ok(Verdict::Reject(AcseDiagnostic::User(d), None));
        if aarq.application_context != context_for(self.config.cipher) {
            return reject(AcseDiagnostic::USER_APPLICATION_CONTEXT_NOT_SUPPORTED);
        }
        if aarq.application_context.is_ciphered() && self.client_title.is_none() {
            return reject(AcseDiagnostic::USER_CALLING_AP_TITLE_NOT_RECOGNIZED);
        }
        let requested = aarq.mechanism.unwrap_or(Mechanism::None);
        match &self.config.authentication {
            ServerAuthentication::None if requested != Mechanism::None => {
                return reject(AcseDiagnostic::USER_MECHANISM_NOT_RECOGNISED);
            }
            ServerAuthentication::None => {}
            ServerAuthentication::Lls { password } => {
                if requested == Mechanism::None {
                    return reject(AcseDiagnostic::USER_MECHANISM_REQUIRED);
                }
                if requested != Mechanism::Lls {
                    return reject(AcseDiagnostic::USER_MECHANISM_NOT_RECOGNISED);
                }
                let given = aarq
                    .calling_authentication_value
                    .as_deref()
                    .unwrap_or_default();
                if !constant_time_eq(given, password) {
                    return reject(AcseDiagnostic::USER_AUTHENTICATION_FAILURE);
                }
            }
            ServerAuthentication::HlsGmac => {
                if requested == Mechanism::None {
                    return reject(AcseDiagnostic::USER_MECHANISM_REQUIRED);
                }
                if requested != Mechanism::HlsGmac {
                    return reject(AcseDiagnostic::USER_MECHANISM_NOT_RECOGNISED);
                }
                if self.client_title.is_none() {
                    return reject(AcseDiagnostic::USER_CALLING_AP_TITLE_NOT_RECOGNIZED);
                }
                let ctos = aarq
                    .calling_authentication_value
                    .as_deref()
                    .unwrap_or_default();
                if !(8..=64).contains(&ctos.len())
                    || !(8..=64).contains(&self.config.hls_challenge.len())
                {
                    return reject(AcseDiagnostic::USER_AUTHENTICATION_FAILURE);
                }
            }
        }
        let Some(ui) = aarq.user_information.as_deref() else {
            return reject(AcseDiagnostic::USER_NO_REASON_GIVEN);
        };
        let initiate = match (Apdu::decode(ui), aarq.application_context.is_ciphered()) {
            (Ok(Apdu::InitiateRequest(i)), false) => i,
            (Ok(Apdu::Ciphered(c)), true) if c.tag == crate::apdu::tag::GLO_INITIATE_REQUEST => {
                match self.decipher(&c) {
                    Ok(Apdu::InitiateRequest(i)) => i,
                    Ok(_) => return reject(AcseDiagnostic::USER_NO_REASON_GIVEN),
                    Err(e) => {
                        self.events.push_back(ServerEvent::SecurityFailure {
                            reason: e.to_string(),
                        });
                        return reject(AcseDiagnostic::USER_NO_REASON_GIVEN);
                    }
                }
            }
            _ => return reject(AcseDiagnostic::USER_NO_REASON_GIVEN),
        };
        let initiate_error = if initiate.dlms_version < 6 {
            Some(InitiateError::DlmsVersionTooLow)
        } else if initiate.client_max_receive_pdu_size != 0
            && initiate.client_max_receive_pdu_size < 12
        {
            Some(InitiateError::PduSizeTooShort)
        } else if self.offered_conformance().intersect(initiate.conformance).0 == 0 {
            Some(InitiateError::IncompatibleConformance)
        } else {
            None
        };
        if let Some(e) = initiate_error {
            return Ok(Verdict::Reject(
                AcseDiagnostic::User(AcseDiagnostic::USER_NO_REASON_GIVEN),
                Some(ConfirmedServiceError::initiate(e)),
            ));
        }
        Ok(Verdict::Accept(initiate))
    }
}

/// Compares secrets without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
