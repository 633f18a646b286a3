//! The generated client and server speak to each other over a real loopback socket: the
//! bidirectional ResultService stream and gRPC reflection built from `FILE_DESCRIPTOR_SET`.
#![allow(clippy::unwrap_used)]

use std::pin::Pin;

use meterlab_proto::FILE_DESCRIPTOR_SET;
use meterlab_proto::v1::result_service_client::ResultServiceClient;
use meterlab_proto::v1::result_service_server::{ResultService, ResultServiceServer};
use meterlab_proto::v1::{
    GetWatermarkRequest, OpenStream, RejectReason, ResultAck, ResultKey, ResultRejection,
    ResultStreamRequest, ResultStreamResponse, StreamOpened, SubmitResult, TestCaseResult,
    Watermark, result_stream_request, result_stream_response,
};
use tokio_stream::{Stream, StreamExt, wrappers::TcpListenerStream};
use tonic::{Request, Response, Status, Streaming};

/// A minimal in-memory ResultService following the contract in result.proto: answers `open`
/// with the watermark, acks `seq == watermark + 1`, acks replays of stored keys, rejects gaps.
#[derive(Debug, Default)]
struct Contract;

type Answers = Pin<Box<dyn Stream<Item = Result<ResultStreamResponse, Status>> + Send>>;

#[tonic::async_trait]
impl ResultService for Contract {
    type StreamResultsStream = Answers;

    async fn stream_results(
        &self,
        request: Request<Streaming<ResultStreamRequest>>,
    ) -> Result<Response<Answers>, Status> {
        let mut incoming = request.into_inner();
        let answers = async_stream_from(move |tx| async move {
            let mut watermark = 0u64;
            let mut source = None;
            while let Some(message) = incoming.next().await {
                let message = message?;
                let answer = match (message.kind, &source) {
                    (Some(result_stream_request::Kind::Open(open)), None) => {
                        source = Some(open.source.clone());
                        result_stream_response::Kind::Opened(StreamOpened {
                            watermark: Some(Watermark {
                                source: open.source,
                                acked_seq: watermark,
                                acked_at: None,
                            }),
                            max_in_flight: 64,
                            max_message_bytes: 1 << 20,
                        })
                    }
                    (Some(result_stream_request::Kind::Result(submit)), Some(_)) => {
                        let key = submit.key.unwrap_or_default();
                        if key.seq == watermark + 1 || key.seq <= watermark {
                            let replay = key.seq <= watermark;
                            watermark = watermark.max(key.seq);
                            result_stream_response::Kind::Ack(ResultAck {
                                key: Some(key),
                                replay,
                                watermark,
                                log_position: watermark,
                                content_sha256: Vec::new(),
                            })
                        } else {
                            result_stream_response::Kind::Rejection(ResultRejection {
                                key: Some(key),
                                reason: RejectReason::SequenceGap as i32,
                                message: "an earlier result is missing".into(),
                                expected_seq: watermark + 1,
                                ..Default::default()
                            })
                        }
                    }
                    _ => return Err(Status::invalid_argument("first message must be `open`")),
                };
                if tx
                    .send(Ok(ResultStreamResponse { kind: Some(answer) }))
                    .await
                    .is_err()
                {
                    break;
                }
            }
            Ok(())
        });
        Ok(Response::new(answers))
    }

    async fn get_watermark(
        &self,
        request: Request<GetWatermarkRequest>,
    ) -> Result<Response<Watermark>, Status> {
        Ok(Response::new(Watermark {
            source: request.into_inner().source,
            acked_seq: 0,
            acked_at: None,
        }))
    }
}

/// Runs `body` as a task feeding a channel, turning its final error into a stream item.
fn async_stream_from<F, Fut>(body: F) -> Answers
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<ResultStreamResponse, Status>>) -> Fut,
    Fut: std::future::Future<Output = Result<(), Status>> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let task = body(tx.clone());
    tokio::spawn(async move {
        if let Err(status) = task.await {
            let _ = tx.send(Err(status)).await;
        }
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}

fn submit(seq: u64) -> ResultStreamRequest {
    ResultStreamRequest {
        kind: Some(result_stream_request::Kind::Result(SubmitResult {
            key: Some(ResultKey {
                source: "ci/nightly".into(),
                run_id: "run-1".into(),
                seq,
            }),
            result: Some(TestCaseResult {
                case_id: format!("case-{seq}"),
                ..Default::default()
            }),
        })),
    }
}

#[tokio::test]
async fn a_result_stream_is_opened_acknowledged_and_rejected_over_real_grpc() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .build_v1()
        .unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(ResultServiceServer::new(Contract))
            .add_service(reflection)
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );

    let mut client = ResultServiceClient::connect(format!("http://{address}"))
        .await
        .unwrap();
    let requests = vec![
        ResultStreamRequest {
            kind: Some(result_stream_request::Kind::Open(OpenStream {
                source: "ci/nightly".into(),
            })),
        },
        submit(1),
        submit(2),
        submit(2),
        submit(5),
    ];
    let mut answers = client
        .stream_results(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let mut kinds = Vec::new();
    while let Some(answer) = answers.next().await {
        kinds.push(answer.unwrap().kind.unwrap());
    }
    assert_eq!(kinds.len(), 5);
    assert!(matches!(
        &kinds[0],
        result_stream_response::Kind::Opened(StreamOpened { watermark: Some(w), .. }) if w.acked_seq == 0
    ));
    let acks: Vec<(u64, bool)> = kinds[1..4]
        .iter()
        .map(|kind| match kind {
            result_stream_response::Kind::Ack(ack) => (ack.watermark, ack.replay),
            other => panic!("expected an ack, got {other:?}"),
        })
        .collect();
    assert_eq!(acks, [(1, false), (2, false), (2, true)]);
    match &kinds[4] {
        result_stream_response::Kind::Rejection(rejection) => {
            assert_eq!(rejection.reason(), RejectReason::SequenceGap);
            assert_eq!(rejection.expected_seq, 3);
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}
