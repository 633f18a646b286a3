//! The receive half of the client: AARE, HLS pass 4, GET block reassembly, SET blocks.

use super::{
    ClientAssociation, ClientAuthentication, ClientEvent, ClientState, Outstanding, Waiting,
};
use crate::apdu::set::DataBlock;
use crate::apdu::{
    AcseDiagnostic, ActionRequest, Apdu, AssociationResult, DataAccessResult, GetDataResult,
    GetRequest, GetResponse, SetRequest, SetResponse,
};
use crate::association::AssociationError;
use crate::axdr::{Data, Reader};
use crate::cosem::{MethodDescriptor, class_id};
use crate::obis::Obis;
use crate::security::{self, SystemTitle};

impl ClientAssociation {
    /// Processes one received APDU.
    pub fn handle_apdu(&mut self, now_ms: u64, bytes: &[u8]) -> Result<(), AssociationError> {
        let apdu = Apdu::decode(bytes)?;
        let apdu = match apdu {
            Apdu::Ciphered(c) => {
                let (Some(sec), Some(title)) = (self.config.security.as_ref(), self.server_title)
                else {
                    return Err(AssociationError::Unexpected(
                        "ciphered APDU without keys or server system title",
                    ));
                };
                self.server_guard.check(c.invocation_counter)?;
                let plain = security::unprotect(&c, &sec.keys, &title)?;
                self.server_guard.accept(c.invocation_counter);
                Apdu::decode(&plain)?
            }
            Apdu::GeneralGloCiphered(c) => {
                let (Some(sec), Some(title)) = (self.config.security.as_ref(), self.server_title)
                else {
                    return Err(AssociationError::Unexpected(
                        "ciphered APDU without keys or server system title",
                    ));
                };
                if c.system_title != title {
                    return Err(AssociationError::Unexpected(
                        "general-glo-ciphering from another system title",
                    ));
                }
                self.server_guard.check(c.invocation_counter)?;
                let plain = security::unprotect_general(&c, &sec.keys)?;
                self.server_guard.accept(c.invocation_counter);
                Apdu::decode(&plain)?
            }
            Apdu::GetResponse(_) | Apdu::SetResponse(_) | Apdu::ActionResponse(_)
                if self.config.cipher.is_some() =>
            {
                return Err(AssociationError::Unexpected(
                    "unciphered response in a ciphered association",
                ));
            }
            other => other,
        };
        self.dispatch(now_ms, apdu)?;
        self.pump(now_ms);
        Ok(())
    }

    fn dispatch(&mut self, now_ms: u64, apdu: Apdu) -> Result<(), AssociationError> {
        match apdu {
            Apdu::EventNotification(n) => self.events.push_back(ClientEvent::EventNotification(n)),
            Apdu::DataNotification(n) => self.events.push_back(ClientEvent::DataNotification(n)),
            Apdu::ExceptionResponse(response) => {
                let o = self.outstanding.take();
                let ends_association = matches!(
                    o.as_ref().map(|o| &o.waiting),
                    Some(Waiting::HlsResult | Waiting::Aare)
                );
                self.events.push_back(ClientEvent::Exception {
                    invoke_id: o.map(|o| o.invoke_id),
                    response,
                });
                if ends_association {
                    self.state = ClientState::Idle;
                    self.fail_queued("the association ended before the request was sent");
                }
            }
            Apdu::Aare(aare) => self.handle_aare(now_ms, aare)?,
            Apdu::Rlre(_) => {
                if !matches!(
                    self.outstanding.as_ref().map(|o| &o.waiting),
                    Some(Waiting::Release)
                ) {
                    return Err(AssociationError::Unexpected("RLRE without RLRQ"));
                }
                self.outstanding = None;
                self.state = ClientState::Idle;
                self.events.push_back(ClientEvent::Released);
            }
            Apdu::GetResponse(r) => self.handle_get(now_ms, r)?,
            Apdu::SetResponse(r) => self.handle_set(now_ms, r)?,
            Apdu::ActionResponse(r) => {
                let o = self.take_outstanding(r.invoke.invoke_id())?;
                match o.waiting {
                    Waiting::HlsResult => self.finish_hls(r.result, r.return_parameters),
                    Waiting::Action => self.events.push_back(ClientEvent::ActionCompleted {
                        invoke_id: o.invoke_id,
                        result: r.result,
                        return_parameters: r.return_parameters,
                    }),
                    _ => {
                        return Err(AssociationError::Unexpected(
                            "ACTION response to another request",
                        ));
                    }
                }
            }
            _ => return Err(AssociationError::Unexpected("APDU a server does not send")),
        }
        Ok(())
    }

    fn take_outstanding(&mut self, invoke_id: u8) -> Result<Outstanding, AssociationError> {
        match self.outstanding.take_if(|o| o.invoke_id == invoke_id) {
            Some(o) => Ok(o),
            None => Err(AssociationError::Unexpected(
                "response with an invoke id that is not outstanding",
            )),
        }
    }

    fn handle_aare(
        &mut self,
        now_ms: u64,
        aare: crate::apdu::Aare,
    ) -> Result<(), AssociationError> {
        if !matches!(
            self.outstanding.as_ref().map(|o| &o.waiting),
            Some(Waiting::Aare)
        ) {
            return Err(AssociationError::Unexpected("AARE without AARQ"));
        }
        self.outstanding = None;
        if let Some(t) = aare
            .responding_ap_title
            .as_deref()
            .and_then(|t| <SystemTitle>::try_from(t).ok())
        {
            self.server_title = Some(t);
        }
        let initiate = match aare.user_information.as_deref() {
            Some(ui) => Some(self.open_user_information(ui)?),
            None => None,
        };
        if aare.result != AssociationResult::Accepted {
            self.state = ClientState::Idle;
            let initiate_error = match initiate {
                Some(Apdu::ConfirmedServiceError(e)) => Some(e),
                _ => None,
            };
            self.events.push_back(ClientEvent::Rejected {
                result: aare.result,
                diagnostic: aare.diagnostic,
                initiate_error,
            });
            self.fail_queued("the association ended before the request was sent");
            return Ok(());
        }
        let Some(Apdu::InitiateResponse(resp)) = initiate else {
            return Err(self.abandon_aare("accepted AARE without an InitiateResponse"));
        };
        self.conformance = resp.conformance;
        self.server_max_pdu = resp.server_max_receive_pdu_size;
        match &self.config.authentication {
            ClientAuthentication::HlsGmac { .. } => {
                let Some(stoc) = aare.responding_authentication_value else {
                    return Err(self.abandon_aare("HLS AARE without a StoC challenge"));
                };
                // The Green Book's AARE says authentication-required (14); some servers
                // (dlms-cosem-rs 0.1) send null (0) with the StoC challenge. Either way
                // passes 3 and 4 follow and f(CtoS) must verify, so both are accepted.
                if !matches!(
                    aare.diagnostic,
                    AcseDiagnostic::User(
                        AcseDiagnostic::USER_AUTHENTICATION_REQUIRED | AcseDiagnostic::USER_NULL
                    )
                ) {
                    return Err(self.abandon_aare(
                        "HLS AARE with a diagnostic other than authentication-required or null",
                    ));
                }
                let sec = self
                    .config
                    .security
                    .as_mut()
                    .ok_or(AssociationError::Config("HLS without keys"))?;
                let ic = sec.invocation_counter;
                sec.invocation_counter = ic
                    .checked_add(1)
                    .ok_or(security::SecurityError::CounterExhausted)?;
                let f_stoc = security::hls_gmac_response(&sec.keys, &sec.system_title, ic, &stoc)?;
                let id = self.next_invoke;
                self.next_invoke = (self.next_invoke + 1) & 0x0F;
                let req = ActionRequest {
                    invoke: self.invoke(id),
                    method: MethodDescriptor::new(
                        class_id::ASSOCIATION_LN,
                        Obis::CURRENT_ASSOCIATION,
                        1,
                    ),
                    parameters: Some(Data::OctetString(f_stoc)),
                };
                self.send_xdlms(Apdu::ActionRequest(req).to_bytes())?;
                self.state = ClientState::AwaitingHlsResult;
                self.outstanding = Some(Outstanding {
                    invoke_id: id,
                    waiting: Waiting::HlsResult,
                    deadline: now_ms.saturating_add(self.config.response_timeout_ms),
                });
            }
            _ => self.associated(),
        }
        Ok(())
    }

    /// An AARE we cannot proceed from: back to idle (not stuck waiting with no deadline),
    /// queued requests failed, and the error to report.
    fn abandon_aare(&mut self, reason: &'static str) -> AssociationError {
        self.state = ClientState::Idle;
        self.fail_queued("the association ended before the request was sent");
        AssociationError::Unexpected(reason)
    }

    fn associated(&mut self) {
        self.state = ClientState::Associated;
        self.events.push_back(ClientEvent::Associated {
            conformance: self.conformance,
            server_max_receive_pdu_size: self.server_max_pdu,
        });
    }

    fn open_user_information(&mut self, ui: &[u8]) -> Result<Apdu, AssociationError> {
        match Apdu::decode(ui)? {
            Apdu::Ciphered(c) => {
                let (Some(sec), Some(title)) = (self.config.security.as_ref(), self.server_title)
                else {
                    return Err(AssociationError::Unexpected(
                        "ciphered initiate without keys or server title",
                    ));
                };
                self.server_guard.check(c.invocation_counter)?;
                let plain = security::unprotect(&c, &sec.keys, &title)?;
                self.server_guard.accept(c.invocation_counter);
                Ok(Apdu::decode(&plain)?)
            }
            other => Ok(other),
        }
    }

    fn finish_hls(&mut self, result: DataAccessResult, ret: Option<GetDataResult>) {
        let verdict = (|| {
            if result != DataAccessResult::Success {
                return Err(format!("server refused f(StoC): {result:?}"));
            }
            let Some(GetDataResult::Data(Data::OctetString(f_ctos))) = ret else {
                return Err("no f(CtoS) in the HLS reply".to_owned());
            };
            let (Some(sec), Some(title)) = (self.config.security.as_ref(), self.server_title)
            else {
                return Err("no server system title to verify f(CtoS)".to_owned());
            };
            let ClientAuthentication::HlsGmac { client_challenge } = &self.config.authentication
            else {
                return Err("not an HLS association".to_owned());
            };
            security::verify_hls_gmac_response(&sec.keys, &title, client_challenge, &f_ctos)
                .map(|_| ())
                .map_err(|e| format!("f(CtoS) did not verify: {e}"))
        })();
        match verdict {
            Ok(()) => self.associated(),
            Err(reason) => {
                self.state = ClientState::Idle;
                self.events
                    .push_back(ClientEvent::AuthenticationFailed { reason });
                self.fail_queued("the association ended before the request was sent");
            }
        }
    }

    fn handle_get(&mut self, now_ms: u64, r: GetResponse) -> Result<(), AssociationError> {
        let mut o = self.take_outstanding(r.invoke().invoke_id())?;
        let Waiting::Get {
            list,
            buffer,
            last_block,
        } = &mut o.waiting
        else {
            return Err(AssociationError::Unexpected(
                "GET response to another request",
            ));
        };
        let id = o.invoke_id;
        match r {
            GetResponse::Normal { result, .. } if !*list => {
                let result = match result {
                    GetDataResult::Data(d) => Ok(d),
                    GetDataResult::Error(e) => Err(e),
                };
                self.events.push_back(ClientEvent::GetCompleted {
                    invoke_id: id,
                    result,
                });
            }
            GetResponse::WithList { results, .. } if *list => {
                self.events.push_back(ClientEvent::GetListCompleted {
                    invoke_id: id,
                    results,
                });
            }
            GetResponse::WithDataBlock {
                last_block: last,
                block_number,
                raw,
                ..
            } => {
                if block_number != *last_block + 1 {
                    self.events.push_back(ClientEvent::OperationFailed {
                        invoke_id: Some(id),
                        reason: format!("expected block {}, got {block_number}", *last_block + 1),
                    });
                    return Ok(());
                }
                match raw {
                    Err(e) => {
                        let ev = if *list {
                            ClientEvent::OperationFailed {
                                invoke_id: Some(id),
                                reason: format!("block transfer failed: {e:?}"),
                            }
                        } else {
                            ClientEvent::GetCompleted {
                                invoke_id: id,
                                result: Err(e),
                            }
                        };
                        self.events.push_back(ev);
                    }
                    Ok(bytes) if !last => {
                        buffer.extend_from_slice(&bytes);
                        *last_block = block_number;
                        o.deadline = now_ms.saturating_add(self.config.response_timeout_ms);
                        let next = GetRequest::Next {
                            invoke: self.invoke(id),
                            block_number,
                        };
                        self.outstanding = Some(o);
                        self.send_xdlms(Apdu::GetRequest(next).to_bytes())?;
                    }
                    Ok(bytes) => {
                        buffer.extend_from_slice(&bytes);
                        let ev = match reassemble(buffer, *list) {
                            Ok(ev) => ev.with_id(id),
                            Err(e) => ClientEvent::OperationFailed {
                                invoke_id: Some(id),
                                reason: e.to_string(),
                            },
                        };
                        self.events.push_back(ev);
                    }
                }
            }
            _ => {
                self.events.push_back(ClientEvent::OperationFailed {
                    invoke_id: Some(id),
                    reason: "GET response of the wrong kind".to_owned(),
                });
            }
        }
        Ok(())
    }

    fn handle_set(&mut self, now_ms: u64, r: SetResponse) -> Result<(), AssociationError> {
        let mut o = self.take_outstanding(r.invoke().invoke_id())?;
        let id = o.invoke_id;
        let Waiting::Set { blocks, next_block } = &mut o.waiting else {
            return Err(AssociationError::Unexpected(
                "SET response to another request",
            ));
        };
        match r {
            SetResponse::Normal { result, .. } | SetResponse::LastDataBlock { result, .. } => {
                self.events.push_back(ClientEvent::SetCompleted {
                    invoke_id: id,
                    result,
                });
            }
            SetResponse::DataBlock { block_number, .. } if block_number + 1 == *next_block => {
                let Some(raw) = blocks.pop_front() else {
                    self.events.push_back(ClientEvent::OperationFailed {
                        invoke_id: Some(id),
                        reason: "server acknowledged more blocks than were sent".to_owned(),
                    });
                    return Ok(());
                };
                let block = DataBlock {
                    last_block: blocks.is_empty(),
                    block_number: *next_block,
                    raw,
                };
                *next_block += 1;
                o.deadline = now_ms.saturating_add(self.config.response_timeout_ms);
                let req = SetRequest::WithDataBlock {
                    invoke: self.invoke(id),
                    block,
                };
                self.outstanding = Some(o);
                self.send_xdlms(Apdu::SetRequest(req).to_bytes())?;
            }
            _ => self.events.push_back(ClientEvent::OperationFailed {
                invoke_id: Some(id),
                reason: "unexpected SET response".to_owned(),
            }),
        }
        Ok(())
    }
}

impl ClientEvent {
    fn with_id(self, id: u8) -> Self {
        match self {
            ClientEvent::GetCompleted { result, .. } => ClientEvent::GetCompleted {
                invoke_id: id,
                result,
            },
            ClientEvent::GetListCompleted { results, .. } => ClientEvent::GetListCompleted {
                invoke_id: id,
                results,
            },
            other => other,
        }
    }
}

/// Decodes the reassembled raw data of a block transfer: one Data, or a list of results.
fn reassemble(buffer: &[u8], list: bool) -> Result<ClientEvent, crate::axdr::DecodeError> {
    let mut r = Reader::new(buffer);
    if list {
        let n = r.length("get-with-list block result count")?;
        let mut results = Vec::with_capacity(n.min(r.remaining()));
        for _ in 0..n {
            results.push(GetDataResult::decode(&mut r)?);
        }
        r.finish("get-with-list block results")?;
        Ok(ClientEvent::GetListCompleted {
            invoke_id: 0,
            results,
        })
    } else {
        let d = Data::decode(&mut r)?;
        r.finish("block-transferred data")?;
        Ok(ClientEvent::GetCompleted {
            invoke_id: 0,
            result: Ok(d),
        })
    }
}
