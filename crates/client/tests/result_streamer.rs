//! The result streamer against a scripted ResultService: a stream that breaks mid-run is
//! resumed from GetWatermark and every result is stored exactly once; nothing counts as stored
//! before the service says so; a rejection is an error, not a retry; a service that stays away
//! is given up on after the bounded reconnects (on paused time).

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use meterlab_client::{Client, ClientError, ConnectOptions, ResultStreamer};
use meterlab_governance::model::{
    DmcId, EntryKey, Mode, PhaseKind, Release, SmsoId, TestPhase, TestType,
};
use meterlab_proto::v1 as pb;
use meterlab_proto::v1::result_service_server::{ResultService, ResultServiceServer};
use meterlab_runner::{CaseResult, CaseStatus};
use tokio_stream::{Stream, StreamExt as _};

/// What the scripted service does.
#[derive(Default)]
struct Script {
    /// Durable results by seq (the "store").
    stored: BTreeMap<u64, Vec<u8>>,
    /// Every submission seen, in order (seq), resends included.
    seen: Vec<u64>,
    /// Break the first stream after this many acks.
    break_after: Option<usize>,
    /// Reject this seq.
    reject: Option<u64>,
    /// Answer GetWatermark with UNAVAILABLE.
    watermark_down: bool,
    watermark_calls: usize,
}

#[derive(Clone, Default)]
struct Scripted(Arc<Mutex<Script>>);

type Responses =
    Pin<Box<dyn Stream<Item = Result<pb::ResultStreamResponse, tonic::Status>> + Send>>;

fn watermark(script: &Script) -> u64 {
    // Contiguous from 1, as the real service's watermark.
    let mut mark = 0;
    while script.stored.contains_key(&(mark + 1)) {
        mark += 1;
    }
    mark
}

#[tonic::async_trait]
impl ResultService for Scripted {
    type StreamResultsStream = Responses;

    async fn stream_results(
        &self,
        request: tonic::Request<tonic::Streaming<pb::ResultStreamRequest>>,
    ) -> Result<tonic::Response<Responses>, tonic::Status> {
        let mut incoming = request.into_inner();
        let script = Arc::clone(&self.0);
        let output = async_stream(move |tx| async move {
            let mut acks = 0;
            while let Some(Ok(message)) = incoming.next().await {
                let reply = {
                    let mut s = script.lock().expect("script lock");
                    match message.kind {
                        Some(pb::result_stream_request::Kind::Open(open)) => {
                            Ok(pb::result_stream_response::Kind::Opened(pb::StreamOpened {
                                watermark: Some(pb::Watermark {
                                    source: open.source,
                                    acked_seq: watermark(&s),
                                    acked_at: None,
                                }),
                                max_in_flight: 4,
                                max_message_bytes: 1 << 20,
                            }))
                        }
                        Some(pb::result_stream_request::Kind::Result(submit)) => {
                            let key = submit.key.unwrap_or_default();
                            s.seen.push(key.seq);
                            if s.break_after == Some(acks) {
                                s.break_after = None;
                                Err(tonic::Status::unavailable("link dropped"))
                            } else if s.reject == Some(key.seq) {
                                Ok(pb::result_stream_response::Kind::Rejection(
                                    pb::ResultRejection {
                                        key: Some(key),
                                        reason: pb::RejectReason::Conflict.into(),
                                        message: "different content under the same key".into(),
                                        ..Default::default()
                                    },
                                ))
                            } else {
                                let bytes = prost::Message::encode_to_vec(
                                    &submit.result.unwrap_or_default(),
                                );
                                let replay = s.stored.insert(key.seq, bytes).is_some();
                                acks += 1;
                                Ok(pb::result_stream_response::Kind::Ack(pb::ResultAck {
                                    watermark: watermark(&s),
                                    key: Some(key),
                                    replay,
                                    ..Default::default()
                                }))
                            }
                        }
                        None => continue,
                    }
                };
                let failed = reply.is_err();
                let _ = tx
                    .send(reply.map(|kind| pb::ResultStreamResponse { kind: Some(kind) }))
                    .await;
                if failed {
                    return;
                }
            }
        });
        Ok(tonic::Response::new(output))
    }

    async fn get_watermark(
        &self,
        request: tonic::Request<pb::GetWatermarkRequest>,
    ) -> Result<tonic::Response<pb::Watermark>, tonic::Status> {
        let mut s = self.0.lock().expect("script lock");
        s.watermark_calls += 1;
        if s.watermark_down {
            return Err(tonic::Status::unavailable("restarting"));
        }
        Ok(tonic::Response::new(pb::Watermark {
            source: request.into_inner().source,
            acked_seq: watermark(&s),
            acked_at: None,
        }))
    }
}

/// A response stream fed by a task.
fn async_stream<F, Fut>(body: F) -> Responses
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<pb::ResultStreamResponse, tonic::Status>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(body(tx));
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}

async fn serve(script: Scripted) -> Client {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(ResultServiceServer::new(script))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    Client::connect(&format!("http://{addr}"), &ConnectOptions::default())
        .await
        .expect("connects")
}

fn phase() -> TestPhase {
    TestPhase {
        entry: EntryKey {
            release: Release::Moc,
            smso: SmsoId::new("smso-north"),
            dmc: DmcId::new("dmc-1"),
        },
        kind: PhaseKind {
            test: TestType::Mt,
            mode: Mode::Active,
        },
    }
}

fn result(n: u32) -> CaseResult {
    CaseResult {
        case_id: format!("MT-{n:03}"),
        case_sha256: [7; 32],
        srv: "4.1.1".into(),
        device_id: "esme-1".into(),
        dmc_id: "dmc-1".into(),
        attempt: 1,
        max_attempts: 1,
        status: CaseStatus::Passed,
        detail: String::new(),
        steps: Vec::new(),
        traffic: Vec::new(),
        evidence_sha256: [9; 32],
        evidence_json: String::new(),
        started_at: SystemTime::UNIX_EPOCH,
        finished_at: SystemTime::UNIX_EPOCH,
        elapsed: Duration::from_millis(5),
    }
}

#[tokio::test]
async fn a_broken_stream_resumes_from_the_watermark_and_stores_each_result_once() {
    let script = Scripted::default();
    script.0.lock().expect("lock").break_after = Some(3);
    let client = serve(script.clone()).await;
    let mut streamer = ResultStreamer::open(&client, "rig-1", "run-1")
        .await
        .expect("opens");
    assert_eq!(streamer.watermark(), 0);
    for n in 1..=10 {
        streamer
            .submit(u64::from(n), &result(n), &phase())
            .await
            .expect("submits");
    }
    let stats = streamer.finish().await.expect("finishes");
    let s = script.0.lock().expect("lock");
    assert_eq!(
        s.stored.keys().copied().collect::<Vec<_>>(),
        (1..=10).collect::<Vec<_>>()
    );
    assert_eq!(stats.acknowledged, 10, "{stats:?}");
    assert_eq!(stats.watermark, 10);
    assert_eq!(stats.reconnects, 1);
    assert!(s.watermark_calls >= 1, "the resume asked GetWatermark");
    // The result the break swallowed was sent again; nothing acknowledged was.
    let resent = s.seen.iter().filter(|seq| **seq == 4).count();
    assert_eq!(resent, 2, "seen {:?}", s.seen);
    assert_eq!(
        s.seen.iter().filter(|seq| **seq == 1).count(),
        1,
        "seen {:?}",
        s.seen
    );
}

#[tokio::test]
async fn a_reopened_stream_skips_what_the_gateway_already_stored() {
    let script = Scripted::default();
    let client = serve(script.clone()).await;
    let mut first = ResultStreamer::open(&client, "rig-1", "run-1")
        .await
        .expect("opens");
    for n in 1..=3 {
        first
            .submit(u64::from(n), &result(n), &phase())
            .await
            .expect("submits");
    }
    first.finish().await.expect("finishes");
    let mut again = ResultStreamer::open(&client, "rig-1", "run-1")
        .await
        .expect("reopens");
    assert_eq!(again.watermark(), 3);
    for n in 1..=5 {
        again
            .submit(u64::from(n), &result(n), &phase())
            .await
            .expect("submits");
    }
    let stats = again.finish().await.expect("finishes");
    assert_eq!(
        stats.acknowledged, 2,
        "only 4 and 5 were new to send: {stats:?}"
    );
    assert_eq!(script.0.lock().expect("lock").seen, vec![1, 2, 3, 4, 5]);
}

#[tokio::test]
async fn a_rejection_is_an_error_naming_the_result_and_is_not_retried() {
    let script = Scripted::default();
    script.0.lock().expect("lock").reject = Some(2);
    let client = serve(script.clone()).await;
    let mut streamer = ResultStreamer::open(&client, "rig-1", "run-1")
        .await
        .expect("opens");
    for n in 1..=2 {
        streamer
            .submit(u64::from(n), &result(n), &phase())
            .await
            .expect("submits");
    }
    let error = streamer.finish().await.expect_err("rejected");
    assert!(
        matches!(error, ClientError::Rejected { seq: 2, .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains("REJECT_REASON_CONFLICT"),
        "{error}"
    );
    assert_eq!(script.0.lock().expect("lock").seen, vec![1, 2]);
}

#[tokio::test(start_paused = true)]
async fn a_gateway_that_stays_away_is_given_up_on_after_bounded_reconnects() {
    let script = Scripted::default();
    {
        let mut s = script.0.lock().expect("lock");
        s.break_after = Some(0);
        s.watermark_down = true;
    }
    let client = serve(script.clone()).await;
    let mut streamer = ResultStreamer::open(&client, "rig-1", "run-1")
        .await
        .expect("opens");
    let started = tokio::time::Instant::now();
    streamer
        .submit(1, &result(1), &phase())
        .await
        .expect("submits");
    let error = streamer.finish().await.expect_err("gives up");
    assert!(
        error
            .to_string()
            .contains("could not resume after 5 attempts"),
        "{error}"
    );
    assert_eq!(script.0.lock().expect("lock").watermark_calls, 5);
    // 100 + 200 + 400 + 800 + 1600 ms of backoff, on tokio's clock.
    assert!(
        started.elapsed() >= Duration::from_millis(3100),
        "{:?}",
        started.elapsed()
    );
    assert!(script.0.lock().expect("lock").stored.is_empty());
}
