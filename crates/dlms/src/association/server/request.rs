//! GET / SET / ACTION service on the server, including block transfer and HLS pass 3/4.

use super::{PendingGet, PendingSet, Protection, ServerAssociation, ServerEvent, ServerState};
use crate::apdu::set::DataBlock;
use crate::apdu::{
    ActionRequest, ActionResponse, Apdu, DataAccessResult, GetDataResult, GetRequest, GetResponse,
    InvokeIdAndPriority, SetRequest, SetResponse,
};
use crate::association::{
    AssociationError, CIPHER_OVERHEAD, CosemObjectModel, GENERAL_GLO_EXTRA, RequestContext,
    is_hls_reply, pdu_limit,
};
use crate::axdr::Data;
use crate::axdr::reader::write_length;
use crate::security;

/// Header of a get-response-with-datablock: tag, choice, invoke, last, block number, choice and
/// a raw-data length of up to 5 bytes.
const GET_BLOCK_HEADER: usize = 1 + 1 + 1 + 1 + 4 + 1 + 5;

impl ServerAssociation {
    pub(super) fn serve(
        &mut self,
        ctx: &RequestContext,
        apdu: Apdu,
        protection: Protection,
        model: &mut dyn CosemObjectModel,
    ) -> Result<Vec<u8>, AssociationError> {
        let pending_hls = self.state == ServerState::AwaitingHlsReply;
        let response = match apdu {
            Apdu::ActionRequest(req) if is_hls_reply(&req.method) => {
                Apdu::ActionResponse(self.hls_reply(req)?)
            }
            Apdu::GetRequest(req) if pending_hls => Apdu::GetResponse(GetResponse::Normal {
                invoke: req.invoke(),
                result: GetDataResult::Error(DataAccessResult::ReadWriteDenied),
            }),
            Apdu::SetRequest(req) if pending_hls => Apdu::SetResponse(SetResponse::Normal {
                invoke: req.invoke(),
                result: DataAccessResult::ReadWriteDenied,
            }),
            Apdu::ActionRequest(req) if pending_hls => Apdu::ActionResponse(ActionResponse {
                invoke: req.invoke,
                result: DataAccessResult::ReadWriteDenied,
                return_parameters: None,
            }),
            Apdu::GetRequest(req) => Apdu::GetResponse(self.serve_get(ctx, req, protection, model)),
            Apdu::SetRequest(req) => Apdu::SetResponse(self.serve_set(ctx, req, model)),
            Apdu::ActionRequest(req) => {
                let (result, return_parameters) =
                    match model.action(ctx, &req.method, req.parameters.as_ref()) {
                        Ok(ret) => (DataAccessResult::Success, ret.map(GetDataResult::Data)),
                        Err(e) => (e, None),
                    };
                Apdu::ActionResponse(ActionResponse {
                    invoke: req.invoke,
                    result,
                    return_parameters,
                })
            }
            _ => {
                return Err(AssociationError::Unexpected(
                    "not a GET, SET or ACTION request",
                ));
            }
        };
        Ok(response.to_bytes())
    }

    /// HLS pass 3 (verify f(StoC)) and pass 4 (return f(CtoS)).
    fn hls_reply(&mut self, req: ActionRequest) -> Result<ActionResponse, AssociationError> {
        let denied = ActionResponse {
            invoke: req.invoke,
            result: DataAccessResult::ReadWriteDenied,
            return_parameters: None,
        };
        if self.state != ServerState::AwaitingHlsReply {
            return Ok(denied);
        }
        let (Some(sec), Some(client_title)) = (self.config.security.as_ref(), self.client_title)
        else {
            return Err(AssociationError::Config("HLS-GMAC needs security material"));
        };
        let f_stoc = match &req.parameters {
            Some(Data::OctetString(b)) => b.as_slice(),
            _ => &[],
        };
        let verified = security::verify_hls_gmac_response(
            &sec.keys,
            &client_title,
            &self.config.hls_challenge,
            f_stoc,
        );
        if verified.is_err() {
            self.state = ServerState::Idle;
            self.events.push_back(ServerEvent::AuthenticationFailed);
            return Ok(denied);
        }
        let sec = self
            .config
            .security
            .as_mut()
            .ok_or(AssociationError::Config("HLS-GMAC needs security material"))?;
        let ic = sec.invocation_counter;
        sec.invocation_counter = ic
            .checked_add(1)
            .ok_or(security::SecurityError::CounterExhausted)?;
        let f_ctos =
            security::hls_gmac_response(&sec.keys, &sec.system_title, ic, &self.client_challenge)?;
        self.state = ServerState::Associated;
        self.events.push_back(ServerEvent::Associated {
            mechanism: self.mechanism,
            client_system_title: self.client_title,
        });
        Ok(ActionResponse {
            invoke: req.invoke,
            result: DataAccessResult::Success,
            return_parameters: Some(GetDataResult::Data(Data::OctetString(f_ctos))),
        })
    }

    /// Largest APDU the client accepts, less the ciphering overhead of the response.
    fn max_response(&self, protection: Protection) -> usize {
        let overhead = match protection {
            Protection::Glo if self.config.cipher.is_some() => CIPHER_OVERHEAD,
            Protection::General(_) => CIPHER_OVERHEAD + GENERAL_GLO_EXTRA,
            _ => 0,
        };
        pdu_limit(self.client_max_pdu).saturating_sub(overhead)
    }

    fn serve_get(
        &mut self,
        ctx: &RequestContext,
        req: GetRequest,
        protection: Protection,
        model: &mut dyn CosemObjectModel,
    ) -> GetResponse {
        let limit = self.max_response(protection);
        match req {
            GetRequest::Normal {
                invoke,
                attribute,
                access,
            } => {
                self.pending_get = None;
                let result = match model.get(ctx, &attribute, access.as_ref()) {
                    Ok(d) => GetDataResult::Data(d),
                    Err(e) => GetDataResult::Error(e),
                };
                let response = GetResponse::Normal { invoke, result };
                let mut bytes = Vec::new();
                response.encode(&mut bytes);
                if bytes.len() <= limit {
                    return response;
                }
                let GetResponse::Normal {
                    result: GetDataResult::Data(d),
                    ..
                } = response
                else {
                    return response;
                };
                self.start_long_get(invoke, d.to_bytes(), limit)
            }
            GetRequest::WithList { invoke, items } => {
                self.pending_get = None;
                let results: Vec<GetDataResult> = items
                    .iter()
                    .map(|(a, s)| match model.get(ctx, a, s.as_ref()) {
                        Ok(d) => GetDataResult::Data(d),
                        Err(e) => GetDataResult::Error(e),
                    })
                    .collect();
                let mut encoded = Vec::new();
                write_length(&mut encoded, results.len());
                for r in &results {
                    r.encode(&mut encoded);
                }
                if 3 + encoded.len() <= limit {
                    GetResponse::WithList { invoke, results }
                } else {
                    self.start_long_get(invoke, encoded, limit)
                }
            }
            GetRequest::Next {
                invoke,
                block_number,
            } => match self.pending_get.take() {
                Some(p)
                    if p.block_number == block_number
                        && p.invoke.invoke_id() == invoke.invoke_id() =>
                {
                    self.next_block(p, limit)
                }
                Some(_) => GetResponse::WithDataBlock {
                    invoke,
                    last_block: true,
                    block_number,
                    raw: Err(DataAccessResult::DataBlockNumberInvalid),
                },
                None => GetResponse::WithDataBlock {
                    invoke,
                    last_block: true,
                    block_number,
                    raw: Err(DataAccessResult::NoLongGetInProgress),
                },
            },
        }
    }

    fn start_long_get(
        &mut self,
        invoke: InvokeIdAndPriority,
        encoded: Vec<u8>,
        limit: usize,
    ) -> GetResponse {
        let pending = PendingGet {
            invoke,
            encoded,
            offset: 0,
            block_number: 0,
        };
        self.next_block(pending, limit)
    }

    fn next_block(&mut self, mut p: PendingGet, limit: usize) -> GetResponse {
        let chunk = limit.saturating_sub(GET_BLOCK_HEADER).max(1);
        let end = (p.offset + chunk).min(p.encoded.len());
        let raw = p.encoded[p.offset..end].to_vec();
        p.offset = end;
        p.block_number += 1;
        let last_block = end == p.encoded.len();
        let response = GetResponse::WithDataBlock {
            invoke: p.invoke,
            last_block,
            block_number: p.block_number,
            raw: Ok(raw),
        };
        if !last_block {
            self.pending_get = Some(p);
        }
        response
    }

    fn serve_set(
        &mut self,
        ctx: &RequestContext,
        req: SetRequest,
        model: &mut dyn CosemObjectModel,
    ) -> SetResponse {
        match req {
            SetRequest::Normal {
                invoke,
                attribute,
                access,
                value,
            } => {
                self.pending_set = None;
                let result = model
                    .set(ctx, &attribute, access.as_ref(), value)
                    .err()
                    .unwrap_or(DataAccessResult::Success);
                SetResponse::Normal { invoke, result }
            }
            SetRequest::WithList {
                invoke,
                items,
                values,
            } => {
                self.pending_set = None;
                let results = if items.len() == values.len() {
                    items
                        .iter()
                        .zip(values)
                        .map(|((a, s), v)| {
                            model
                                .set(ctx, a, s.as_ref(), v)
                                .err()
                                .unwrap_or(DataAccessResult::Success)
                        })
                        .collect()
                } else {
                    vec![DataAccessResult::OtherReason; items.len()]
                };
                SetResponse::WithList { invoke, results }
            }
            SetRequest::WithFirstDataBlock {
                invoke,
                attribute,
                access,
                block,
            } => {
                if block.block_number != 1 {
                    self.pending_set = None;
                    return SetResponse::LastDataBlock {
                        invoke,
                        result: DataAccessResult::DataBlockNumberInvalid,
                        block_number: block.block_number,
                    };
                }
                let pending = PendingSet {
                    invoke,
                    attribute,
                    access,
                    buffer: Vec::new(),
                    block_number: 0,
                };
                self.continue_set(ctx, pending, block, model)
            }
            SetRequest::WithDataBlock { invoke, block } => match self.pending_set.take() {
                Some(p)
                    if p.block_number + 1 == block.block_number
                        && p.invoke.invoke_id() == invoke.invoke_id() =>
                {
                    self.continue_set(ctx, p, block, model)
                }
                Some(_) => SetResponse::LastDataBlock {
                    invoke,
                    result: DataAccessResult::DataBlockNumberInvalid,
                    block_number: block.block_number,
                },
                None => SetResponse::LastDataBlock {
                    invoke,
                    result: DataAccessResult::NoLongSetInProgress,
                    block_number: block.block_number,
                },
            },
        }
    }

    fn continue_set(
        &mut self,
        ctx: &RequestContext,
        mut p: PendingSet,
        block: DataBlock,
        model: &mut dyn CosemObjectModel,
    ) -> SetResponse {
        p.buffer.extend_from_slice(&block.raw);
        p.block_number = block.block_number;
        if !block.last_block {
            let response = SetResponse::DataBlock {
                invoke: p.invoke,
                block_number: p.block_number,
            };
            self.pending_set = Some(p);
            return response;
        }
        let result = match Data::from_bytes(&p.buffer) {
            Ok(value) => model
                .set(ctx, &p.attribute, p.access.as_ref(), value)
                .err()
                .unwrap_or(DataAccessResult::Success),
            Err(_) => DataAccessResult::TypeUnmatched,
        };
        SetResponse::LastDataBlock {
            invoke: p.invoke,
            result,
            block_number: p.block_number,
        }
    }
}
