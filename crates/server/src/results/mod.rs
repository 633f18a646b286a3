//! ResultService: test case results streamed by any client, acknowledged once durable.
//!
//! # Contract (see `proto/meterlab/v1/result.proto`)
//! - A stream starts with `open{source}`; the server answers `opened{watermark, max_in_flight,
//!   max_message_bytes}`. Each `result` gets exactly one `ack` or `rejection`, in submission
//!   order. A rejection never ends the stream.
//! - An `ack` is sent only after the store has committed the result durably (WAL, fsync).
//! - `(source, run_id, seq)` with `seq` scoped to the source: the store key is
//!   `(source, RESULTS_RUN, seq)` and `run_id` is part of the stored content, so one watermark per
//!   source comes straight from the store.
//!
//! # Limits and backpressure
//! - `max_message_bytes`: larger messages fail the stream with RESOURCE_EXHAUSTED (tonic refuses
//!   to decode them); everything answered before stays answered and durable.
//! - `max_in_flight`: a result that arrives while that many are unanswered is rejected with
//!   OVERLOADED (the client should wait for answers). Beyond twice that, the server stops reading
//!   the stream until answers drain, so HTTP/2 flow control pushes back on the client and memory
//!   per stream stays bounded.
//! - A second stream for the same source supersedes the first, which ends with ABORTED.

mod local;
mod raw;
mod session;

pub use raw::RawResultServiceServer;

pub(crate) use local::{LocalRefusal, ingest_local};

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use meterlab_proto::v1 as pb;
use meterlab_proto::v1::result_service_server::ResultService;
use meterlab_store::IngestKey;
use tokio::sync::mpsc;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, Streaming};

use crate::ledger::Ledger;

/// The store `run` under which every result of a source is keyed (seq is per source).
pub const RESULTS_RUN: &str = "meterlab.v1/results";

/// Limits of one result stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// Unanswered results a client may have; more are rejected with OVERLOADED.
    pub max_in_flight: u32,
    /// Largest encoded request message accepted.
    pub max_message_bytes: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        StreamLimits {
            max_in_flight: 256,
            max_message_bytes: 64 * 1024,
        }
    }
}

/// Counters of the ResultService since start.
#[derive(Debug, Default)]
pub struct ResultMetrics {
    /// `result` messages read from streams.
    pub received: AtomicU64,
    /// Acks sent (new and replayed).
    pub acked: AtomicU64,
    /// Rejections sent (all reasons).
    pub rejected: AtomicU64,
    /// Rejections with OVERLOADED.
    pub overloaded: AtomicU64,
}

impl ResultMetrics {
    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Default)]
struct Registry {
    next_id: u64,
    open: HashMap<String, (u64, CancellationToken)>,
}

/// The ResultService implementation.
#[derive(Debug, Clone)]
pub struct ResultServiceImpl {
    ledger: Arc<Ledger>,
    limits: StreamLimits,
    registry: Arc<Mutex<Registry>>,
    metrics: Arc<ResultMetrics>,
    shutdown: CancellationToken,
}

impl ResultServiceImpl {
    pub fn new(ledger: Arc<Ledger>, limits: StreamLimits) -> Self {
        ResultServiceImpl {
            ledger,
            limits,
            registry: Arc::default(),
            metrics: Arc::default(),
            shutdown: CancellationToken::new(),
        }
    }

    pub fn limits(&self) -> StreamLimits {
        self.limits
    }

    /// Live counters (shared with every stream).
    pub fn metrics(&self) -> Arc<ResultMetrics> {
        self.metrics.clone()
    }

    /// Ends every open stream with UNAVAILABLE (answers already sent stand), so a graceful
    /// shutdown does not wait for clients that keep their streams open.
    pub fn shut_down_streams(&self) {
        self.shutdown.cancel();
    }

    /// Registers a stream for `source`, superseding (cancelling) any earlier one.
    fn register(&self, source: &str) -> (u64, CancellationToken) {
        let mut registry = self.registry.lock().unwrap_or_else(PoisonError::into_inner);
        registry.next_id += 1;
        let id = registry.next_id;
        let token = CancellationToken::new();
        if let Some((_, previous)) = registry.open.insert(source.to_owned(), (id, token.clone())) {
            previous.cancel();
        }
        (id, token)
    }

    fn unregister(&self, source: &str, id: u64) {
        let mut registry = self.registry.lock().unwrap_or_else(PoisonError::into_inner);
        if registry
            .open
            .get(source)
            .is_some_and(|(open, _)| *open == id)
        {
            registry.open.remove(source);
        }
    }

    /// Starts a stream's session; its answers are the returned stream.
    fn open_session(&self, inbound: session::Inbound, principal: String) -> ResponseStream {
        let capacity = (self.limits.max_in_flight as usize).clamp(1, 4096) + 2;
        let (out, rx) = mpsc::channel(capacity);
        let service = self.clone();
        tokio::spawn(async move { session::run(service, inbound, out, principal).await });
        ReceiverStream::new(rx)
    }

    /// A result stream whose messages arrive as bytes: each is decoded here, so one that is not
    /// valid protobuf gets a rejection naming the field and the stream goes on.
    pub(crate) fn stream_raw(&self, request: Request<Streaming<bytes::Bytes>>) -> ResponseStream {
        let principal = request
            .extensions()
            .get::<crate::auth::Principal>()
            .map(|p| p.name.clone())
            .unwrap_or_default();
        let inbound: session::Inbound = Box::pin(request.into_inner().map(|message| {
            message.map(
                |bytes| match <pb::ResultStreamRequest as prost::Message>::decode(bytes) {
                    Ok(request) => session::Incoming::Request(Box::new(request)),
                    Err(error) => session::Incoming::Undecodable(error),
                },
            )
        }));
        self.open_session(inbound, principal)
    }

    /// The acknowledged watermark of a source, with the time its last result was stored: two
    /// reads of the store (on PostgreSQL round trips), made on a blocking thread so they do not
    /// hold a runtime worker.
    async fn watermark(&self, source: &str) -> Result<pb::Watermark, Status> {
        let ledger = Arc::clone(&self.ledger);
        let source = source.to_owned();
        tokio::task::spawn_blocking(move || read_watermark(&ledger, &source))
            .await
            .map_err(|e| Status::internal(format!("watermark read failed: {e}")))?
    }
}

fn read_watermark(ledger: &Ledger, source: &str) -> Result<pb::Watermark, Status> {
    let store = ledger.store();
    let acked_seq = store
        .watermark(source, RESULTS_RUN)
        .map_err(|e| crate::error::store_status(&e))?;
    let acked_at = if acked_seq == 0 {
        None
    } else {
        store
            .get(&IngestKey::new(source, RESULTS_RUN, acked_seq))
            .map_err(|e| crate::error::store_status(&e))?
            .map(|event| crate::convert::timestamp_from_ms(event.timestamp_ms))
    };
    Ok(pb::Watermark {
        source: source.to_owned(),
        acked_seq,
        acked_at,
    })
}

pub(crate) type ResponseStream = ReceiverStream<Result<pb::ResultStreamResponse, Status>>;

#[tonic::async_trait]
impl ResultService for ResultServiceImpl {
    type StreamResultsStream = ResponseStream;

    async fn stream_results(
        &self,
        request: Request<Streaming<pb::ResultStreamRequest>>,
    ) -> Result<Response<Self::StreamResultsStream>, Status> {
        let principal = request
            .extensions()
            .get::<crate::auth::Principal>()
            .map(|p| p.name.clone())
            .unwrap_or_default();
        let inbound: session::Inbound = Box::pin(
            request
                .into_inner()
                .map(|message| message.map(|r| session::Incoming::Request(Box::new(r)))),
        );
        Ok(Response::new(self.open_session(inbound, principal)))
    }

    async fn get_watermark(
        &self,
        request: Request<pb::GetWatermarkRequest>,
    ) -> Result<Response<pb::Watermark>, Status> {
        let source = request.into_inner().source;
        if source.trim().is_empty() {
            return Err(Status::invalid_argument(
                "invalid field source: must not be empty",
            ));
        }
        Ok(Response::new(self.watermark(&source).await?))
    }
}
