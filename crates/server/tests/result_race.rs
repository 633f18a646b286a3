//! The same regression result (run, case, device, attempt) arriving at once inline with
//! RecordRegressionRun and through ResultService: exactly one is appended, the other is answered
//! (ALREADY_EXISTS on the RPC, a rejection on the stream) before anything is written, so the log
//! never holds an event the projection refuses.
//!
//! Both orders are forced with the store's commit gate (the first write is held at the commit
//! while the second arrives), then pairs are raced freely. Afterwards the chain verifies, the
//! projection rebuilt from the log matches the live one's shutdown checkpoint, nothing is
//! refused, and each attempt is in the log and counted exactly once.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use meterlab_governance::model::{CaseId, CaseStatus, PhaseId, RegressionKind, RegressionScope};
use meterlab_governance::{Event, Projection};
use meterlab_proto::v1 as pb;
use meterlab_proto::v1::governance_service_client::GovernanceServiceClient;
use meterlab_server::convert::keys::entry_from_proto;
use meterlab_server::{GovernanceProjector, StreamLimits};
use tonic::Code;
use tonic::transport::Channel;

type Gov = GovernanceServiceClient<Channel>;

const CASE: &str = "RG-001";
const DEVICE: &str = "esme-race";
const RACED: u32 = 30;

fn key() -> pb::RegressionKey {
    pb::RegressionKey {
        scope: Some(pb::regression_key::Scope::Entry(entry())),
        kind: pb::RegressionKind::MtEnd.into(),
    }
}

fn attempt(n: u32) -> pb::TestCaseResult {
    pb::TestCaseResult {
        phase: None,
        regression: Some(key()),
        device_id: DEVICE.into(),
        ..result(CASE, n, pb::CaseStatus::Passed)
    }
}

fn run(results: Vec<pb::TestCaseResult>, start: bool) -> pb::RecordRegressionRunRequest {
    pb::RecordRegressionRunRequest {
        run: Some(pb::RegressionRun {
            scope: Some(pb::regression_run::Scope::Entry(entry())),
            kind: pb::RegressionKind::MtEnd.into(),
            started_at: start.then_some(prost_types::Timestamp {
                seconds: 1_764_400_000,
                nanos: 0,
            }),
            results,
            ..Default::default()
        }),
        meta: None,
    }
}

/// Records attempt `n` inline; `true` if appended, `false` if refused as already recorded.
async fn inline(gov: &mut Gov, n: u32) -> bool {
    match gov
        .record_regression_run(run(vec![attempt(n)], false))
        .await
    {
        Ok(_) => true,
        Err(status) => {
            assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
            false
        }
    }
}

/// The stream's answer to attempt `n`: `true` if acknowledged, `false` if refused as recorded.
async fn streamed(stream: &mut ResultStream) -> bool {
    match stream.next().await {
        pb::result_stream_response::Kind::Ack(ack) => {
            assert!(!ack.replay);
            true
        }
        pb::result_stream_response::Kind::Rejection(r) => {
            assert_eq!(r.field, "result.attempt", "{r:?}");
            assert!(r.message.contains("already recorded"), "{r:?}");
            false
        }
        other => panic!("unexpected answer {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_arriving_both_ways_at_once_is_appended_exactly_once() {
    let server = TestServer::start(StreamLimits::default()).await;
    let dir = server.dir.clone();
    let mut gov = server.governance().await;
    setup_governance(&server.client().await).await;
    agree_regression_list(&server.client().await).await;
    gov.record_regression_run(run(vec![], true)).await.unwrap();
    let mut results = server.results().await;
    let (mut stream, _) = ResultStream::open(&mut results, "race").await;

    // Stream first: its result is held at the commit when the RPC arrives, which is refused at
    // once (it would wait for the gate if it were appended).
    server.gate.close();
    stream.send(submit("race", 1, attempt(1))).await;
    server.gate.until_held(1).await;
    let answered = tokio::time::timeout(
        Duration::from_secs(5),
        gov.record_regression_run(run(vec![attempt(1)], false)),
    )
    .await;
    // Opened before any assertion, so that a failure does not leave the writer held.
    server.gate.open();
    let refused = answered
        .expect("the RPC waited for the commit: it was appended")
        .unwrap_err();
    assert_eq!(refused.code(), Code::AlreadyExists, "{refused:?}");
    assert!(refused.message().contains("ResultService"), "{refused:?}");
    assert!(streamed(&mut stream).await);

    // RPC first: held at the commit when the stream's copy arrives, which is rejected at once.
    server.gate.close();
    let mut held = gov.clone();
    let first = tokio::spawn(async move {
        held.record_regression_run(run(vec![attempt(2)], false))
            .await
    });
    server.gate.until_held(2).await;
    // A rejected seq is not used up: the stream's next result reuses it.
    stream.send(submit("race", 2, attempt(2))).await;
    let answer = tokio::time::timeout(Duration::from_secs(5), streamed(&mut stream)).await;
    server.gate.open();
    assert!(
        !answer.expect("the stream waited for the commit: it was appended"),
        "the stream's copy was acknowledged"
    );
    first.await.unwrap().unwrap();

    // Free races: exactly one of each pair wins, whichever it is.
    let mut winners = BTreeMap::new();
    let mut seq = 2;
    for n in 3..3 + RACED {
        let (by_rpc, by_stream) = tokio::join!(inline(&mut gov, n), async {
            stream.send(submit("race", seq, attempt(n))).await;
            streamed(&mut stream).await
        });
        assert!(
            by_rpc != by_stream,
            "attempt {n}: rpc {by_rpc}, stream {by_stream}"
        );
        if by_stream {
            seq += 1;
        }
        *winners
            .entry(if by_rpc { "rpc" } else { "stream" })
            .or_insert(0) += 1;
    }
    eprintln!("free races won: {winners:?}");

    drop(stream);
    server.stop().await;

    let (log, rebuilt) = reopen_and_check_log(dir.path().join("lab.db")).await;

    let regression = PhaseId::regression(
        RegressionScope::Entry(entry_from_proto(&entry()).unwrap()),
        RegressionKind::MtEnd,
    );
    let mut copies = BTreeMap::new();
    for stored in &log {
        if let Some(Event::ResultRecorded(r)) = GovernanceProjector::decode(stored).unwrap()
            && r.phase == regression
        {
            *copies.entry(r.attempt).or_insert(0) += 1;
        }
    }
    let expected: BTreeMap<u32, i32> = (1..3 + RACED).map(|n| (n, 1)).collect();
    assert_eq!(copies, expected, "copies of each attempt in the log");
    let projection: &Projection = rebuilt.projection();
    let state = projection.phase(&regression).unwrap();
    assert_eq!(state.result_tally().total(), u64::from(2 + RACED));
    assert_eq!(state.result_tally().get(CaseStatus::Passed), 2 + RACED);
    let case = state.case(&CaseId::new(CASE)).unwrap();
    assert_eq!(case.attempts.len(), (2 + RACED) as usize);
}
