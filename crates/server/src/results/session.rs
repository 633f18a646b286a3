//! One StreamResults stream: reads submissions, answers them in order, keeps the pipeline bounded.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures::StreamExt;
use futures::stream::FuturesOrdered;
use meterlab_proto::v1 as pb;
use meterlab_proto::v1::result_stream_request::Kind as RequestKind;
use meterlab_proto::v1::result_stream_response::Kind as ResponseKind;
use meterlab_store::{IngestKey, Payload, StoreError, StoredEvent};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tonic::{Code, Status};

use super::{RESULTS_RUN, ResultServiceImpl};
use crate::convert::result::{
    CheckedResult, RESULT_KIND, attribute, check_submission, content_of, same_content,
};
use crate::ledger::{Ledger, ResultRefusal, now_ms};

/// What the stream sends for one submission.
pub(super) enum Answer {
    Reply(pb::ResultStreamResponse),
    /// The store failed: the stream ends with this status (acks sent so far stand).
    Fatal(Status),
}

type Pending = Pin<Box<dyn Future<Output = Answer> + Send>>;

/// One message of a result stream: a request, or bytes that are not a `ResultStreamRequest`
/// (answered with a rejection naming the field; the stream goes on).
pub(crate) enum Incoming {
    Request(Box<pb::ResultStreamRequest>),
    Undecodable(prost::DecodeError),
}

/// The inbound messages of a result stream.
pub(crate) type Inbound =
    Pin<Box<dyn futures::Stream<Item = Result<Incoming, Status>> + Send + 'static>>;

async fn next(inbound: &mut Inbound) -> Result<Option<Incoming>, Status> {
    inbound.next().await.transpose()
}

/// The field a decode error is about, as a dotted path from `SubmitResult` (the first frame,
/// `ResultStreamRequest.kind`, is the oneof that holds it), and the error's description.
pub(crate) fn decode_error_field(error: &prost::DecodeError) -> String {
    let text = error.to_string();
    let text = text
        .strip_prefix("failed to decode Protobuf message: ")
        .unwrap_or(&text);
    // prost lists the innermost frame first.
    let mut fields: Vec<&str> = text
        .split(": ")
        .map_while(|frame| {
            let (message, field) = frame.split_once('.')?;
            (!message.is_empty()
                && message
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !field.is_empty()
                && field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .then_some(field)
        })
        .collect();
    fields.reverse();
    fields.get(1..).unwrap_or_default().join(".")
}
type Out = mpsc::Sender<Result<pb::ResultStreamResponse, Status>>;

struct Session {
    service: ResultServiceImpl,
    source: String,
    /// Who the stream belongs to, recorded with every result it stores.
    principal: String,
    /// The seq a new result must carry: everything below is stored or in the pipeline.
    next_seq: u64,
    /// Contiguous acknowledged seq, as answered on this stream.
    acked: u64,
    pending: FuturesOrdered<Pending>,
}

pub(super) async fn run(
    service: ResultServiceImpl,
    mut inbound: Inbound,
    out: Out,
    principal: String,
) {
    let not_open = || {
        Status::invalid_argument(
            "the first message of StreamResults must be `open` with a non-empty source",
        )
    };
    let source = match next(&mut inbound).await {
        Ok(Some(Incoming::Request(request))) => match request.kind {
            Some(RequestKind::Open(open)) if !open.source.trim().is_empty() => open.source,
            _ => {
                let _ = out.send(Err(not_open())).await;
                return;
            }
        },
        Ok(Some(Incoming::Undecodable(error))) => {
            let status = Status::invalid_argument(format!(
                "the first message of StreamResults is not a valid ResultStreamRequest: {error}"
            ));
            let _ = out.send(Err(status)).await;
            return;
        }
        Ok(None) => return,
        Err(status) => {
            let _ = out.send(Err(inbound_error(status, &service))).await;
            return;
        }
    };
    let watermark = match service.watermark(&source).await {
        Ok(w) => w,
        Err(status) => {
            let _ = out.send(Err(status)).await;
            return;
        }
    };
    let (id, cancelled) = service.register(&source);
    let acked = watermark.acked_seq;
    let opened = pb::StreamOpened {
        watermark: Some(watermark),
        max_in_flight: service.limits.max_in_flight,
        max_message_bytes: u32::try_from(service.limits.max_message_bytes).unwrap_or(u32::MAX),
    };
    if out
        .send(Ok(response(ResponseKind::Opened(opened))))
        .await
        .is_err()
    {
        service.unregister(&source, id);
        return;
    }
    tracing::debug!(%source, acked, "result stream opened");
    let mut session = Session {
        service: service.clone(),
        source: source.clone(),
        principal,
        next_seq: acked + 1,
        acked,
        pending: FuturesOrdered::new(),
    };
    let read_cap = (service.limits.max_in_flight as usize).max(1) * 2;
    let mut inbound_done = false;
    let mut inbound_failure = None;
    loop {
        if inbound_done && session.pending.is_empty() {
            if let Some(status) = inbound_failure.take() {
                let _ = out.send(Err(status)).await;
            }
            break;
        }
        let can_read = !inbound_done && session.pending.len() < read_cap;
        tokio::select! {
            biased;
            () = service.shutdown.cancelled() => {
                let status = Status::unavailable(
                    "the server is shutting down; reconnect and resume from the watermark",
                );
                // Never wait for room: the client may have stopped reading.
                let _ = out.try_send(Err(status));
                break;
            }
            () = cancelled.cancelled() => {
                let status = Status::aborted(format!(
                    "another StreamResults stream for source {source:?} superseded this one"
                ));
                let _ = out.send(Err(status)).await;
                break;
            }
            Some(answer) = session.pending.next(), if !session.pending.is_empty() => {
                match answer {
                    Answer::Reply(reply) => {
                        // A client that stops reading must not hold a stopping server: the
                        // answer waits for room only until shutdown (what it acknowledges is
                        // durable either way, and the watermark tells the client on reconnect).
                        let reply = session.stamp(reply);
                        tokio::select! {
                            sent = out.send(Ok(reply)) => if sent.is_err() { break },
                            () = service.shutdown.cancelled() => {
                                let _ = out.try_send(Err(Status::unavailable(
                                    "the server is shutting down; reconnect and resume from the \
                                     watermark",
                                )));
                                break;
                            }
                        }
                    }
                    Answer::Fatal(status) => {
                        let _ = out.send(Err(status)).await;
                        break;
                    }
                }
            }
            message = next(&mut inbound), if can_read => match message {
                Ok(Some(Incoming::Request(request))) => session.handle(*request),
                Ok(Some(Incoming::Undecodable(error))) => session.undecodable(&error),
                Ok(None) => inbound_done = true,
                Err(status) => {
                    inbound_failure = Some(inbound_error(status, &service));
                    inbound_done = true;
                }
            },
        }
    }
    service.unregister(&source, id);
    tracing::debug!(%source, acked = session.acked, "result stream closed");
}

/// A decoding failure of the inbound stream; an oversized message becomes RESOURCE_EXHAUSTED.
fn inbound_error(status: Status, service: &ResultServiceImpl) -> Status {
    if status.code() == Code::OutOfRange && status.message().contains("too large") {
        Status::resource_exhausted(format!(
            "message larger than max_message_bytes ({} bytes): {}",
            service.limits.max_message_bytes,
            status.message()
        ))
    } else {
        status
    }
}

fn response(kind: ResponseKind) -> pb::ResultStreamResponse {
    pb::ResultStreamResponse { kind: Some(kind) }
}

fn rejection(
    key: Option<pb::ResultKey>,
    reason: pb::RejectReason,
    field: &str,
    message: impl Into<String>,
) -> pb::ResultRejection {
    pb::ResultRejection {
        key,
        reason: reason.into(),
        message: message.into(),
        field: field.to_owned(),
        ..Default::default()
    }
}

/// SHA-256 of a stored body's content (its attribution left out).
fn stored_content_sha256(stored: &StoredEvent) -> Vec<u8> {
    let content = content_of(&stored.payload.body).unwrap_or_else(|| stored.payload.body.clone());
    Sha256::digest(content).to_vec()
}

pub(super) fn ack_from_stored(
    key: pb::ResultKey,
    stored: &StoredEvent,
    replay: bool,
) -> pb::ResultAck {
    pb::ResultAck {
        key: Some(key),
        replay,
        watermark: 0,
        log_position: stored.seq,
        content_sha256: stored_content_sha256(stored),
    }
}

fn conflict(key: pb::ResultKey, stored: &StoredEvent, submitted: [u8; 32]) -> pb::ResultRejection {
    pb::ResultRejection {
        message: format!(
            "seq {} of source {:?} was stored as log event #{} with different content",
            key.seq, key.source, stored.seq
        ),
        stored_content_sha256: stored_content_sha256(stored),
        submitted_content_sha256: submitted.to_vec(),
        ..rejection(Some(key), pb::RejectReason::Conflict, "", "")
    }
}

impl Session {
    fn ledger(&self) -> &Arc<Ledger> {
        &self.service.ledger
    }

    fn ready(&mut self, answer: Answer) {
        self.pending.push_back(Box::pin(std::future::ready(answer)));
    }

    fn reject(&mut self, r: pb::ResultRejection) {
        self.ready(Answer::Reply(response(ResponseKind::Rejection(r))));
    }

    /// Counts and stamps an answer as it leaves, in submission order.
    fn stamp(&mut self, mut reply: pb::ResultStreamResponse) -> pb::ResultStreamResponse {
        let metrics = &self.service.metrics;
        match &mut reply.kind {
            Some(ResponseKind::Ack(ack)) => {
                metrics.acked.fetch_add(1, Ordering::Relaxed);
                if let Some(key) = &ack.key
                    && key.seq == self.acked + 1
                {
                    self.acked = key.seq;
                }
                ack.watermark = self.acked;
            }
            Some(ResponseKind::Rejection(r)) => {
                metrics.rejected.fetch_add(1, Ordering::Relaxed);
                if r.reason == i32::from(pb::RejectReason::Overloaded) {
                    metrics.overloaded.fetch_add(1, Ordering::Relaxed);
                }
            }
            _ => {}
        }
        reply
    }

    fn undecodable(&mut self, error: &prost::DecodeError) {
        self.service
            .metrics
            .received
            .fetch_add(1, Ordering::Relaxed);
        let field = decode_error_field(error);
        self.reject(rejection(
            None,
            pb::RejectReason::Invalid,
            &field,
            format!("the message is not a valid ResultStreamRequest: {error}"),
        ));
    }

    fn handle(&mut self, request: pb::ResultStreamRequest) {
        match request.kind {
            Some(RequestKind::Result(submit)) => self.submit(submit),
            Some(RequestKind::Open(_)) => self.reject(rejection(
                None,
                pb::RejectReason::Invalid,
                "open",
                "`open` may only be the first message of a stream",
            )),
            None => self.reject(rejection(
                None,
                pb::RejectReason::Invalid,
                "kind",
                "the message sets neither `open` nor `result`",
            )),
        }
    }

    fn submit(&mut self, submit: pb::SubmitResult) {
        self.service
            .metrics
            .received
            .fetch_add(1, Ordering::Relaxed);
        let echo = submit.key.clone();
        let max = self.service.limits.max_in_flight as usize;
        if self.pending.len() >= max {
            return self.reject(rejection(
                echo,
                pb::RejectReason::Overloaded,
                "",
                format!("more than max_in_flight = {max} results are unanswered; wait for answers"),
            ));
        }
        let checked = match check_submission(&submit) {
            Ok(mut c) => {
                attribute(&mut c, &self.principal);
                c
            }
            Err(e) => {
                let message = format!("invalid field {}: {}", e.field, e.message);
                return self.reject(rejection(
                    echo,
                    pb::RejectReason::Invalid,
                    &e.field,
                    message,
                ));
            }
        };
        let key_pb = pb::ResultKey {
            source: checked.source.clone(),
            run_id: checked.run_id.clone(),
            seq: checked.seq,
        };
        if checked.source != self.source {
            let message = format!(
                "key.source {:?} differs from the stream's source {:?}",
                checked.source, self.source
            );
            return self.reject(rejection(
                Some(key_pb),
                pb::RejectReason::SourceMismatch,
                "key.source",
                message,
            ));
        }
        if checked.seq > self.next_seq {
            let message = format!(
                "seq {} skips ahead: resend from seq {}",
                checked.seq, self.next_seq
            );
            return self.reject(pb::ResultRejection {
                expected_seq: self.next_seq,
                ..rejection(
                    Some(key_pb),
                    pb::RejectReason::SequenceGap,
                    "key.seq",
                    message,
                )
            });
        }
        let key = IngestKey::new(self.source.clone(), RESULTS_RUN, checked.seq);
        let reserved = if checked.seq < self.next_seq {
            // Already stored or earlier in this pipeline: answer a stored key without writing.
            if self.answer_stored(&key, &key_pb, &checked) {
                return;
            }
            false
        } else {
            match self.ledger().reserve_result(&checked.case, &key) {
                Ok(()) => true,
                Err(refusal) => {
                    if self.answer_stored(&key, &key_pb, &checked) {
                        return;
                    }
                    let (reason, field, message) = match refusal {
                        ResultRefusal::UnknownPhase(m) => {
                            (pb::RejectReason::UnknownPhase, "result.phase", m)
                        }
                        ResultRefusal::DuplicateAttempt(m) => {
                            (pb::RejectReason::Invalid, "result.attempt", m)
                        }
                    };
                    return self.reject(rejection(Some(key_pb), reason, field, message));
                }
            }
        };
        if checked.seq == self.next_seq {
            self.next_seq += 1;
        }
        let ledger = self.ledger().clone();
        self.pending
            .push_back(Box::pin(ingest(ledger, key, key_pb, checked, reserved)));
    }

    /// Answers a key that is already stored (replay or conflict); false if it is not stored.
    fn answer_stored(
        &mut self,
        key: &IngestKey,
        key_pb: &pb::ResultKey,
        checked: &CheckedResult,
    ) -> bool {
        match self.ledger().store().get(key) {
            Ok(Some(stored)) => {
                if stored.payload.kind == RESULT_KIND
                    && same_content(&stored.payload.body, &checked.body)
                {
                    let ack = ack_from_stored(key_pb.clone(), &stored, true);
                    self.ready(Answer::Reply(response(ResponseKind::Ack(ack))));
                } else {
                    self.reject(conflict(key_pb.clone(), &stored, checked.content_sha256));
                }
                true
            }
            Ok(None) => false,
            Err(e) => {
                self.ready(Answer::Fatal(crate::error::store_status(&e)));
                true
            }
        }
    }
}

/// Writes one result durably, projects it, and builds its answer.
pub(super) async fn ingest(
    ledger: Arc<Ledger>,
    key: IngestKey,
    key_pb: pb::ResultKey,
    checked: CheckedResult,
    reserved: bool,
) -> Answer {
    // Held back while a governance write depends on the case; counted until projected.
    let admitted = ledger.admit_result(&checked.case).await;
    let payload = Payload::new(RESULT_KIND, checked.body.clone());
    let outcome = ledger.store().ingest(key.clone(), payload, now_ms()).await;
    let answer = match outcome {
        Ok(receipt) => {
            if !receipt.replayed
                && let Err(error) = ledger.project_up_to(receipt.ack.global_seq).await
            {
                // The result is durable, so it is acknowledged; the projection retries on the
                // next write.
                tracing::error!(%error, "governance projection could not catch up with the log");
            }
            Answer::Reply(response(ResponseKind::Ack(pb::ResultAck {
                key: Some(key_pb),
                replay: receipt.replayed,
                watermark: 0,
                log_position: receipt.ack.global_seq,
                content_sha256: checked.content_sha256.to_vec(),
            })))
        }
        Err(StoreError::Conflict { .. }) => match ledger.store().get(&key) {
            // The same result stored under another principal's attribution: a replay.
            Ok(Some(stored))
                if stored.payload.kind == RESULT_KIND
                    && same_content(&stored.payload.body, &checked.body) =>
            {
                Answer::Reply(response(ResponseKind::Ack(ack_from_stored(
                    key_pb, &stored, true,
                ))))
            }
            Ok(Some(stored)) => Answer::Reply(response(ResponseKind::Rejection(conflict(
                key_pb,
                &stored,
                checked.content_sha256,
            )))),
            Ok(None) => Answer::Fatal(Status::internal(format!(
                "the store reported a conflict for {key} but holds no event under it"
            ))),
            Err(e) => Answer::Fatal(crate::error::store_status(&e)),
        },
        Err(StoreError::InvalidEvent { what, reason, .. }) => {
            let field = match what {
                "source" => "key.source",
                "run" | "seq" => "key.seq",
                _ => "result",
            };
            let message = format!("the store refuses the result: {what} {reason}");
            Answer::Reply(response(ResponseKind::Rejection(rejection(
                Some(key_pb),
                pb::RejectReason::Invalid,
                field,
                message,
            ))))
        }
        Err(e) => Answer::Fatal(crate::error::store_status(&e)),
    };
    if reserved {
        ledger.release(&checked.case, &key);
    }
    drop(admitted);
    answer
}
