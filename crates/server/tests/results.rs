//! ResultService over a real loopback socket: acks, replay, conflict, watermark, malformed
//! messages, the in-flight limit and the message size limit.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use meterlab_governance::model::{CaseId, PhaseId};
use meterlab_proto::v1 as pb;
use meterlab_server::{ResultMetrics, StreamLimits};
use tonic::Code;

#[tokio::test]
async fn results_are_acked_in_order_and_replays_return_the_original_ack() {
    let server = TestServer::start(StreamLimits::default()).await;
    setup_governance(&server.client().await).await;
    let mut client = server.results().await;

    let (mut stream, opened) = ResultStream::open(&mut client, "bench-1").await;
    assert_eq!(opened.watermark.unwrap().acked_seq, 0);
    assert_eq!(opened.max_in_flight, StreamLimits::default().max_in_flight);
    for (seq, case) in CASES.iter().enumerate() {
        let seq = seq as u64 + 1;
        stream
            .send(submit(
                "bench-1",
                seq,
                result(case, 1, pb::CaseStatus::Passed),
            ))
            .await;
    }
    let mut first_acks = Vec::new();
    for seq in 1..=3 {
        let ack = stream.ack().await;
        assert_eq!(ack.key.as_ref().unwrap().seq, seq);
        assert!(!ack.replay);
        assert_eq!(ack.watermark, seq);
        assert_eq!(ack.content_sha256.len(), 32);
        first_acks.push(ack);
    }
    drop(stream);

    let watermark = client
        .get_watermark(pb::GetWatermarkRequest {
            source: "bench-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(watermark.acked_seq, 3);
    assert!(watermark.acked_at.is_some());

    // A new stream resumes at the watermark; a replay answers the original ack.
    let (mut stream, opened) = ResultStream::open(&mut client, "bench-1").await;
    assert_eq!(opened.watermark.unwrap().acked_seq, 3);
    stream
        .send(submit(
            "bench-1",
            2,
            result(CASES[1], 1, pb::CaseStatus::Passed),
        ))
        .await;
    let replay = stream.ack().await;
    assert!(replay.replay);
    assert_eq!(replay.log_position, first_acks[1].log_position);
    assert_eq!(replay.content_sha256, first_acks[1].content_sha256);

    // Same key, different content: a conflict naming both hashes; the stream goes on.
    stream
        .send(submit(
            "bench-1",
            2,
            result(CASES[1], 1, pb::CaseStatus::Failed),
        ))
        .await;
    let conflict = stream.rejection().await;
    assert_eq!(conflict.reason(), pb::RejectReason::Conflict);
    assert_eq!(conflict.stored_content_sha256, first_acks[1].content_sha256);
    assert_ne!(
        conflict.submitted_content_sha256,
        conflict.stored_content_sha256
    );

    stream
        .send(submit(
            "bench-1",
            4,
            result(CASES[2], 2, pb::CaseStatus::Passed),
        ))
        .await;
    let ack = stream.ack().await;
    assert_eq!(
        (ack.key.unwrap().seq, ack.watermark, ack.replay),
        (4, 4, false)
    );
    server.stop().await;
}

#[tokio::test]
async fn malformed_results_are_rejected_per_message_naming_the_field() {
    let server = TestServer::start(StreamLimits::default()).await;
    setup_governance(&server.client().await).await;
    let mut client = server.results().await;
    let (mut stream, _) = ResultStream::open(&mut client, "bench-2").await;

    stream
        .send(submit(
            "bench-2",
            1,
            result(CASES[0], 1, pb::CaseStatus::Passed),
        ))
        .await;
    assert_eq!(stream.ack().await.watermark, 1);

    let mut no_phase = result(CASES[1], 1, pb::CaseStatus::Passed);
    no_phase.phase = None;
    let mut bad_status = result(CASES[1], 1, pb::CaseStatus::Passed);
    bad_status.status = 99;
    let mut bad_mode = result(CASES[1], 1, pb::CaseStatus::Passed);
    bad_mode.phase.as_mut().unwrap().mode = 0;
    let mut short_hash = result(CASES[1], 1, pb::CaseStatus::Passed);
    short_hash.case_content_sha256 = vec![1, 2, 3];
    let mut zero_attempt = result(CASES[1], 1, pb::CaseStatus::Passed);
    zero_attempt.attempt = 0;
    let cases = [
        (no_phase, "result.phase"),
        (bad_status, "result.status"),
        (bad_mode, "result.phase.mode"),
        (short_hash, "result.case_content_sha256"),
        (zero_attempt, "result.attempt"),
    ];
    for (bad, field) in cases {
        stream.send(submit("bench-2", 2, bad)).await;
        let rejection = stream.rejection().await;
        assert_eq!(
            rejection.reason(),
            pb::RejectReason::Invalid,
            "{rejection:?}"
        );
        assert_eq!(rejection.field, field);
        assert!(rejection.message.contains(field), "{}", rejection.message);
    }

    // Skipping a seq, another source, an unknown phase, a duplicate attempt.
    stream
        .send(submit(
            "bench-2",
            5,
            result(CASES[1], 1, pb::CaseStatus::Passed),
        ))
        .await;
    let gap = stream.rejection().await;
    assert_eq!(
        (gap.reason(), gap.expected_seq),
        (pb::RejectReason::SequenceGap, 2)
    );
    stream
        .send(submit(
            "other",
            2,
            result(CASES[1], 1, pb::CaseStatus::Passed),
        ))
        .await;
    assert_eq!(
        stream.rejection().await.reason(),
        pb::RejectReason::SourceMismatch
    );
    let mut unknown = result(CASES[1], 1, pb::CaseStatus::Passed);
    unknown
        .phase
        .as_mut()
        .unwrap()
        .entry
        .as_mut()
        .unwrap()
        .dmc_id = "dmc-unknown".into();
    stream.send(submit("bench-2", 2, unknown)).await;
    assert_eq!(
        stream.rejection().await.reason(),
        pb::RejectReason::UnknownPhase
    );
    stream
        .send(submit(
            "bench-2",
            2,
            result(CASES[0], 1, pb::CaseStatus::Failed),
        ))
        .await;
    let duplicate = stream.rejection().await;
    assert_eq!(duplicate.field, "result.attempt");

    // A message with neither open nor result.
    stream.send(pb::ResultStreamRequest { kind: None }).await;
    assert_eq!(stream.rejection().await.field, "kind");

    // Nothing accepted earlier is lost and the stream still works.
    stream
        .send(submit(
            "bench-2",
            2,
            result(CASES[1], 1, pb::CaseStatus::Passed),
        ))
        .await;
    assert_eq!(stream.ack().await.watermark, 2);
    server.stop().await;
}

#[tokio::test]
async fn a_stream_must_start_with_open() {
    let server = TestServer::start(StreamLimits::default()).await;
    let mut client = server.results().await;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(submit("x", 1, result(CASES[0], 1, pb::CaseStatus::Passed)))
        .await
        .unwrap();
    let mut responses = client
        .stream_results(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let status = responses.message().await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("open"), "{}", status.message());
    server.stop().await;
}

#[tokio::test]
async fn results_beyond_the_in_flight_limit_are_rejected_as_overloaded() {
    let limits = StreamLimits {
        max_in_flight: 4,
        ..StreamLimits::default()
    };
    let server = TestServer::start(limits).await;
    setup_governance(&server.client().await).await;
    let mut client = server.results().await;
    let (mut stream, opened) = ResultStream::open(&mut client, "bench-3").await;
    assert_eq!(opened.max_in_flight, 4);

    // Hold every commit: nothing can be acknowledged, so all 7 stay unanswered.
    server.gate.close();
    for seq in 1..=7u64 {
        let case = format!("MT-{seq:03}");
        stream
            .send(submit(
                "bench-3",
                seq,
                result(&case, 1, pb::CaseStatus::Passed),
            ))
            .await;
    }
    while ResultMetrics::get(&server.metrics.received) < 7 {
        tokio::task::yield_now().await;
    }
    server.gate.open();

    for seq in 1..=4 {
        assert_eq!(stream.ack().await.key.unwrap().seq, seq);
    }
    for seq in 5..=7 {
        let overloaded = stream.rejection().await;
        assert_eq!(overloaded.reason(), pb::RejectReason::Overloaded);
        assert_eq!(overloaded.key.unwrap().seq, seq);
    }
    assert_eq!(ResultMetrics::get(&server.metrics.overloaded), 3);
    // Resending after the answers is accepted.
    stream
        .send(submit(
            "bench-3",
            5,
            result("MT-005", 1, pb::CaseStatus::Passed),
        ))
        .await;
    assert_eq!(stream.ack().await.watermark, 5);
    server.stop().await;
}

#[tokio::test]
async fn an_oversized_message_ends_the_stream_and_keeps_earlier_results() {
    let limits = StreamLimits {
        max_message_bytes: 1024,
        ..StreamLimits::default()
    };
    let server = TestServer::start(limits).await;
    setup_governance(&server.client().await).await;
    let mut client = server.results().await;
    let (mut stream, opened) = ResultStream::open(&mut client, "bench-4").await;
    assert_eq!(opened.max_message_bytes, 1024);

    stream
        .send(submit(
            "bench-4",
            1,
            result(CASES[0], 1, pb::CaseStatus::Passed),
        ))
        .await;
    assert_eq!(stream.ack().await.watermark, 1);
    let mut huge = result(CASES[1], 1, pb::CaseStatus::Failed);
    huge.detail = "x".repeat(4096);
    stream.send(submit("bench-4", 2, huge)).await;
    let status = stream.rx.message().await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("1024"), "{}", status.message());

    let watermark = client
        .get_watermark(pb::GetWatermarkRequest {
            source: "bench-4".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(watermark.acked_seq, 1);
    server.stop().await;
}

#[tokio::test]
async fn a_second_stream_for_the_same_source_supersedes_the_first() {
    let server = TestServer::start(StreamLimits::default()).await;
    let mut client = server.results().await;
    let (mut first, _) = ResultStream::open(&mut client, "bench-5").await;
    let (_second, _) = ResultStream::open(&mut client, "bench-5").await;
    let status = first.rx.message().await.unwrap_err();
    assert_eq!(status.code(), Code::Aborted);
    server.stop().await;
}

/// A lab gateway's outbox status, asked over gRPC.
async fn outbox_status(lab: &TestServer) -> pb::OutboxStatus {
    pb::outbox_service_client::OutboxServiceClient::new(lab.channel().await)
        .get_outbox_status(pb::GetOutboxStatusRequest {})
        .await
        .unwrap()
        .into_inner()
}

/// Polls the lab's outbox (up to 20 s) until `done` holds.
async fn until_outbox(lab: &TestServer, what: &str, done: impl Fn(&pb::OutboxStatus) -> bool) {
    let mut last = None;
    for _ in 0..400 {
        let status = outbox_status(lab).await;
        if done(&status) {
            return;
        }
        last = Some(status);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{what} never happened; outbox: {last:#?}");
}

fn submit_in(run: &str, source: &str, seq: u64, r: pb::TestCaseResult) -> pb::ResultStreamRequest {
    let mut request = submit(source, seq, r);
    if let Some(pb::result_stream_request::Kind::Result(s)) = &mut request.kind {
        s.key.as_mut().unwrap().run_id = run.into();
    }
    request
}

#[tokio::test]
async fn a_lab_gateway_acknowledges_locally_and_forwards_once_the_central_side_is_up() {
    // The central address is reserved but nothing listens on it yet.
    let reserved = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let central_addr = reserved.local_addr().unwrap();
    drop(reserved);
    let central_url = format!("http://{central_addr}");
    let mut upstream = meterlab_server::upstream::UpstreamConfig::new(vec![central_url.clone()]);
    upstream.backoff = meterlab_server::upstream::BackoffPolicy {
        first: std::time::Duration::from_millis(20),
        max: std::time::Duration::from_millis(200),
    };
    let lab = TestServer::start_with(
        std::sync::Arc::new(tempfile::tempdir().unwrap()),
        StreamLimits::default(),
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        Some(upstream),
    )
    .await;

    // Acknowledged by the lab although its own log registers no phase: phases live upstream.
    let mut lab_results = lab.results().await;
    let (mut stream, _) = ResultStream::open(&mut lab_results, "rig-1").await;
    let runs = ["run-1", "run-1", "run-2"];
    for (seq, (case, run)) in CASES.iter().zip(runs).enumerate() {
        let r = result(case, 1, pb::CaseStatus::Passed);
        stream
            .send(submit_in(run, "rig-1", seq as u64 + 1, r))
            .await;
        assert_eq!(stream.ack().await.watermark, seq as u64 + 1);
    }
    // The same key under the other source, with content the central side will hold otherwise.
    let (mut other, _) = ResultStream::open(&mut lab_results, "rig-2").await;
    other
        .send(submit(
            "rig-2",
            1,
            result(CASES[0], 2, pb::CaseStatus::Passed),
        ))
        .await;
    other.ack().await;

    // Governance on a lab gateway is refused, naming the central service.
    let refused = lab
        .client()
        .await
        .evaluate_entry(&entry_key(), None)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains(&central_url), "{refused}");
    assert!(refused.to_string().contains("lab gateway"), "{refused}");

    until_outbox(
        &lab,
        "a failed forward while the central side is down",
        |s| !s.last_error.is_empty() && s.last_error_at.is_some(),
    )
    .await;
    let status = outbox_status(&lab).await;
    assert_eq!(status.upstream_urls, vec![central_url.clone()]);
    assert!(!status.backlog_known, "{status:?}");

    // The central side is prepared where the lab cannot reach it: its phases are registered,
    // and rig-2's key already holds a different result there (a conflict that must stop rig-2
    // only). Then it comes up at the lab's upstream address.
    let central_dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let hidden = TestServer::start_in(central_dir.clone(), StreamLimits::default()).await;
    setup_governance(&hidden.client().await).await;
    let mut hidden_results = hidden.results().await;
    let (mut direct, _) = ResultStream::open(&mut hidden_results, "rig-2").await;
    direct
        .send(submit(
            "rig-2",
            1,
            result(CASES[1], 9, pb::CaseStatus::Failed),
        ))
        .await;
    direct.ack().await;
    drop(direct);
    drop(hidden_results);
    hidden.stop().await;
    let central = TestServer::start_with(
        central_dir.clone(),
        StreamLimits::default(),
        tokio::net::TcpListener::bind(central_addr).await.unwrap(),
        None,
    )
    .await;

    until_outbox(&lab, "rig-1 forwarded and rig-2 stopped", |s| {
        let rig = |name: &str| s.sources.iter().find(|x| x.source == name).cloned();
        rig("rig-1").is_some_and(|r| r.upstream_watermark == 3)
            && rig("rig-2").is_some_and(|r| !r.stopped.is_empty())
    })
    .await;
    let status = outbox_status(&lab).await;
    let rig2 = status.sources.iter().find(|s| s.source == "rig-2").unwrap();
    assert!(rig2.stopped.contains("CONFLICT"), "{rig2:?}");
    assert_eq!(
        rig2.local_watermark, 1,
        "the conflicting result stays in the outbox"
    );
    assert_eq!(
        rig2.confirmed, 0,
        "covered by the upstream watermark, but not ours"
    );
    assert_eq!(status.backlog, 1, "{status:?}");
    assert!(status.backlog_known);
    assert_eq!(status.last_forward_source, "rig-1");
    assert_eq!(status.last_forward_seq, 3);
    assert_eq!(status.last_forward_url, central_url);
    assert!(
        status.last_error.contains("CONFLICT"),
        "a stopped source keeps its error shown"
    );

    // Each forwarded result is stored centrally exactly once, in its own run, in seq order.
    let mut next = 4;
    stream
        .send(submit_in(
            "run-2",
            "rig-1",
            next,
            result("MT-004", 1, pb::CaseStatus::Failed),
        ))
        .await;
    stream.ack().await;
    next += 1;
    until_outbox(&lab, "a later result forwarded too", |s| {
        s.sources
            .iter()
            .any(|x| x.source == "rig-1" && x.upstream_watermark == next - 1)
    })
    .await;
    // A restarted lab gateway keeps its confirmed positions (outbox checkpoints): nothing
    // confirmed is sent again, and the stopped source is tried again (and stops again).
    let lab_dir = lab.dir.clone();
    lab.stop().await;
    let mut upstream = meterlab_server::upstream::UpstreamConfig::new(vec![central_url.clone()]);
    upstream.backoff.first = std::time::Duration::from_millis(20);
    let lab = TestServer::start_with(
        lab_dir,
        StreamLimits::default(),
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        Some(upstream),
    )
    .await;
    let received = central
        .metrics
        .received
        .load(std::sync::atomic::Ordering::SeqCst);
    until_outbox(&lab, "rig-2 stopped again after the restart", |s| {
        s.sources
            .iter()
            .any(|x| x.source == "rig-2" && !x.stopped.is_empty())
    })
    .await;
    let status = outbox_status(&lab).await;
    let rig1 = status.sources.iter().find(|s| s.source == "rig-1").unwrap();
    assert_eq!(rig1.confirmed, 4, "{status:?}");
    assert_eq!(
        central
            .metrics
            .received
            .load(std::sync::atomic::Ordering::SeqCst),
        received + 1,
        "only rig-2's unconfirmed result was sent again"
    );
    let lab_dir = lab.dir.clone();
    lab.stop().await;
    central.stop().await;
    // The lab's own log: intact, its projection matches the checkpoint, and its results are
    // counted as governed upstream rather than refused.
    let (_, lab_projection) = reopen_and_check_log(lab_dir.path().join("lab.db")).await;
    assert_eq!(lab_projection.governed_upstream_count(), 5);
    let (log, _) = reopen_and_check_log(central_dir.path().join("lab.db")).await;
    let forwarded: Vec<(u64, String)> = log
        .iter()
        .filter_map(|e| {
            let key = e.key.as_ref().filter(|k| k.source == "rig-1")?;
            let submit =
                <pb::SubmitResult as prost::Message>::decode(e.payload.body.as_slice()).unwrap();
            Some((key.seq, submit.key.unwrap().run_id))
        })
        .collect();
    let expected = [(1, "run-1"), (2, "run-1"), (3, "run-2"), (4, "run-2")];
    assert_eq!(
        forwarded,
        expected.map(|(seq, run)| (seq, run.to_owned())).to_vec()
    );
}

/// The live projection follows acknowledged results from the store's memory of its own
/// commits: no result costs a read of the log, and the projection still holds every one.
#[tokio::test]
async fn acknowledged_results_are_projected_without_reading_the_log() {
    let server = TestServer::start(StreamLimits::default()).await;
    setup_governance(&server.client().await).await;
    let store = server.ledger.store().clone();
    let before = store.catch_up_stats();
    let mut client = server.results().await;
    let (mut stream, _) = ResultStream::open(&mut client, "bench-1").await;
    for (seq, case) in CASES.iter().enumerate() {
        let seq = seq as u64 + 1;
        stream
            .send(submit(
                "bench-1",
                seq,
                result(case, 1, pb::CaseStatus::Passed),
            ))
            .await;
        // One at a time: each ack comes after its own catch-up.
        let ack = stream.ack().await;
        assert!(server.ledger.position() >= ack.log_position);
    }
    let after = store.catch_up_stats();
    assert_eq!(after.log_reads, before.log_reads, "{after:?}");
    assert!(
        after.from_memory >= before.from_memory + CASES.len() as u64,
        "{after:?}"
    );
    let recorded = server.ledger.read(|projection, _| {
        let phase = projection.phase(&PhaseId::Test(mt_active_phase())).unwrap();
        CASES
            .iter()
            .filter(|case| {
                phase
                    .case(&CaseId::new(**case))
                    .is_some_and(|c| c.has_attempt("esme-1", 1))
            })
            .count()
    });
    assert_eq!(recorded, CASES.len());
    // The store's writer lock goes with its last handle: ours must not outlive the gateway.
    drop(store);
    drop(stream);
    server.stop().await;
}
