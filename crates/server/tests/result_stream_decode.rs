//! A request that is not valid protobuf (invalid UTF-8 in a string field): on the result stream
//! it gets a rejection naming the field and the stream goes on answering the next messages; a
//! unary request gets INVALID_ARGUMENT naming the field, not INTERNAL.

use bytes::{Buf as _, BufMut as _, Bytes};
use meterlab_proto::v1 as pb;
use meterlab_server::{Gateway, GatewayConfig, StreamLimits};
use prost::Message as _;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::{Status, Streaming};

/// Requests out as raw bytes, answers in as protobuf `M`.
#[derive(Debug)]
struct RawClientCodec<M>(std::marker::PhantomData<M>);

impl<M> Clone for RawClientCodec<M> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M> Copy for RawClientCodec<M> {}

impl<M> Default for RawClientCodec<M> {
    fn default() -> Self {
        Self(std::marker::PhantomData)
    }
}

impl<M: Send + 'static> Encoder for RawClientCodec<M> {
    type Item = Bytes;
    type Error = Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl<M: prost::Message + Default + Send + 'static> Decoder for RawClientCodec<M> {
    type Item = M;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<M>, Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        M::decode(bytes)
            .map(Some)
            .map_err(|e| Status::internal(e.to_string()))
    }
}

impl<M: prost::Message + Default + Send + 'static> Codec for RawClientCodec<M> {
    type Encode = Bytes;
    type Decode = M;
    type Encoder = Self;
    type Decoder = Self;
    fn encoder(&mut self) -> Self {
        *self
    }
    fn decoder(&mut self) -> Self {
        *self
    }
}

fn submit(case_id: &str, seq: u64) -> pb::ResultStreamRequest {
    pb::ResultStreamRequest {
        kind: Some(pb::result_stream_request::Kind::Result(pb::SubmitResult {
            key: Some(pb::ResultKey {
                source: "rig".into(),
                run_id: "run".into(),
                seq,
            }),
            result: Some(pb::TestCaseResult {
                case_id: case_id.into(),
                ..Default::default()
            }),
        })),
    }
}

#[tokio::test]
async fn an_undecodable_message_is_rejected_by_field_and_the_stream_goes_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let gateway = Gateway::open(GatewayConfig {
        db: dir.path().join("lab.sqlite"),
        profile: meterlab_governance::load_profile(
            "illustrative.toml",
            meterlab_governance::profile::ILLUSTRATIVE_TOML,
        )
        .expect("profile"),
        limits: StreamLimits::default(),
        store: Default::default(),
    })
    .await
    .expect("gateway opens");
    let listener = meterlab_server::bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(gateway.serve(listener, async {
        let _ = stopped.await;
    }));

    let open = pb::ResultStreamRequest {
        kind: Some(pb::result_stream_request::Kind::Open(pb::OpenStream {
            source: "rig".into(),
        })),
    };
    let mut bad = submit("AAAA", 1).encode_to_vec();
    let at = bad
        .windows(4)
        .position(|w| w == b"AAAA")
        .expect("the case id is in the encoding");
    bad[at..at + 4].copy_from_slice(&[0xff, 0xfe, 0xfd, 0xfc]);
    let messages = vec![
        Bytes::from(open.encode_to_vec()),
        Bytes::from(bad),
        Bytes::from(submit("C-1", 0).encode_to_vec()),
    ];

    let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .expect("url")
        .connect()
        .await
        .expect("connect");
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("ready");
    let path = http::uri::PathAndQuery::from_static("/meterlab.v1.ResultService/StreamResults");
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    for message in messages {
        tx.send(message).await.expect("queued");
    }
    let mut answers: Streaming<pb::ResultStreamResponse> = grpc
        .streaming(
            tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx)),
            path,
            RawClientCodec::default(),
        )
        .await
        .expect("the stream opens")
        .into_inner();
    let mut next = async || {
        answers
            .message()
            .await
            .expect("an answer, not a stream error")
            .and_then(|r| r.kind)
            .expect("an answer")
    };
    assert!(matches!(
        next().await,
        pb::result_stream_response::Kind::Opened(_)
    ));
    let pb::result_stream_response::Kind::Rejection(undecodable) = next().await else {
        panic!("the undecodable message is rejected");
    };
    assert_eq!(undecodable.reason(), pb::RejectReason::Invalid);
    assert_eq!(undecodable.field, "result.case_id", "{undecodable:?}");
    assert!(undecodable.message.contains("UTF-8"), "{undecodable:?}");
    let pb::result_stream_response::Kind::Rejection(next_one) = next().await else {
        panic!("the stream answers the next message");
    };
    assert_eq!(next_one.field, "key.seq", "{next_one:?}");
    drop(tx);

    // A unary request with invalid UTF-8 in a string field.
    let mut entry = pb::RegisterEntryRequest {
        entry: Some(pb::EntryKey {
            release: pb::CapabilityRelease::Moc.into(),
            smso_id: "BBBB".into(),
            dmc_id: "dmc".into(),
        }),
        ..Default::default()
    }
    .encode_to_vec();
    let at = entry
        .windows(4)
        .position(|w| w == b"BBBB")
        .expect("the SMSO id is in the encoding");
    entry[at..at + 4].copy_from_slice(&[0xff, 0xfe, 0xfd, 0xfc]);
    grpc.ready().await.expect("ready");
    let refused = grpc
        .unary::<Bytes, pb::RecordedEvent, _>(
            tonic::Request::new(Bytes::from(entry)),
            http::uri::PathAndQuery::from_static("/meterlab.v1.GovernanceService/RegisterEntry"),
            RawClientCodec::default(),
        )
        .await
        .expect_err("an undecodable request is refused");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    assert!(
        refused.message().contains("EntryKey.smso_id"),
        "{refused:?}"
    );
    let _ = stop.send(());
    task.await.expect("task").expect("gateway stops");
}
