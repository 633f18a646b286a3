//! The ResultService as served: `StreamResults` takes each message as bytes and decodes it in
//! the session (one message that is not valid protobuf is rejected, naming the field, and the
//! stream goes on); every other RPC goes to the generated server.

use std::convert::Infallible;
use std::task::{Context, Poll};

use bytes::{Buf as _, Bytes};
use futures::future::BoxFuture;
use meterlab_proto::v1 as pb;
use meterlab_proto::v1::result_service_server::ResultServiceServer;
use prost::Message as _;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::server::NamedService;
use tonic::{Request, Response, Status, Streaming};

use super::{ResponseStream, ResultServiceImpl};

const STREAM_RESULTS: &str = "/meterlab.v1.ResultService/StreamResults";

/// Messages in as bytes, answers out as protobuf.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

#[derive(Debug, Clone, Copy, Default)]
struct BytesDecoder;

#[derive(Debug, Clone, Copy, Default)]
struct AnswerEncoder;

impl Decoder for BytesDecoder {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        let len = src.remaining();
        Ok(Some(src.copy_to_bytes(len)))
    }
}

impl Encoder for AnswerEncoder {
    type Item = pb::ResultStreamResponse;
    type Error = Status;

    fn encode(&mut self, item: Self::Item, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst)
            .map_err(|e| Status::internal(format!("cannot encode an answer: {e}")))
    }
}

impl Codec for RawCodec {
    type Encode = pb::ResultStreamResponse;
    type Decode = Bytes;
    type Encoder = AnswerEncoder;
    type Decoder = BytesDecoder;

    fn encoder(&mut self) -> AnswerEncoder {
        AnswerEncoder
    }

    fn decoder(&mut self) -> BytesDecoder {
        BytesDecoder
    }
}

struct StreamResultsSvc(ResultServiceImpl);

impl tonic::server::StreamingService<Bytes> for StreamResultsSvc {
    type Response = pb::ResultStreamResponse;
    type ResponseStream = ResponseStream;
    type Future = BoxFuture<'static, Result<Response<ResponseStream>, Status>>;

    fn call(&mut self, request: Request<Streaming<Bytes>>) -> Self::Future {
        let stream = self.0.stream_raw(request);
        Box::pin(std::future::ready(Ok(Response::new(stream))))
    }
}

/// The ResultService with `StreamResults` decoded per message.
#[derive(Debug, Clone)]
pub struct RawResultServiceServer {
    service: ResultServiceImpl,
    generated: ResultServiceServer<ResultServiceImpl>,
    max_message_bytes: usize,
}

impl RawResultServiceServer {
    /// Serves `service`, refusing messages over its `max_message_bytes`.
    pub fn new(service: ResultServiceImpl) -> Self {
        let max_message_bytes = service.limits().max_message_bytes;
        Self {
            generated: ResultServiceServer::new(service.clone())
                .max_decoding_message_size(max_message_bytes),
            service,
            max_message_bytes,
        }
    }
}

impl NamedService for RawResultServiceServer {
    const NAME: &'static str = "meterlab.v1.ResultService";
}

impl<B> tower::Service<http::Request<B>> for RawResultServiceServer
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if request.uri().path() != STREAM_RESULTS {
            return tower::Service::call(&mut self.generated, request);
        }
        let service = self.service.clone();
        let max = self.max_message_bytes;
        Box::pin(async move {
            let mut grpc =
                tonic::server::Grpc::new(RawCodec).apply_max_message_size_config(Some(max), None);
            Ok(grpc.streaming(StreamResultsSvc(service), request).await)
        })
    }
}
