//! ResultService over a real loopback socket: acks, replay, conflict, watermark, malformed
//! messages, the in-flight limit and the message size limit.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
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
