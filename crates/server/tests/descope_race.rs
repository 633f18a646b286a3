//! A de-scope citing a case and a failing retest of that case arriving at once: the de-scope is
//! checked with results for the cited case held back, so the log never holds a de-scope the
//! projection refuses, and its answer agrees with the order the log holds.
//!
//! Retest first is forced with the store's commit gate (the retest is held at the commit when the
//! de-scope arrives: the de-scope waits for it and is refused by rule 7); de-scope first likewise
//! (the retest arriving while the de-scope is held at the commit waits, is stored after it and
//! counted). Each wait is observed on the ledger before the gate opens, so an interleaving that
//! was not reached fails the test. Then pairs are raced freely. Afterwards the chain verifies, the rebuilt projection
//! matches the live one's shutdown checkpoint, nothing is refused, and every accepted de-scope
//! precedes the failing retest of its round in the log, every refused one follows it.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use meterlab_governance::Event;
use meterlab_governance::model::{CaseId, CaseStatus};
use meterlab_proto::v1 as pb;
use meterlab_server::convert::keys::phase_from_proto;
use meterlab_server::{GovernanceProjector, StreamLimits};

/// The case every de-scope cites; its retests race the de-scopes.
const CITED: &str = "MT-001";
const RACED: usize = 30;
const SOURCE: &str = "retests";

fn target(round: usize) -> String {
    format!("MT-T{round:03}")
}

/// Registers the entry and its phases, agrees an MT list of the cited case plus one de-scope
/// target per round (all the same SRV), and starts the MT active phase.
async fn setup(client: &meterlab_client::Client) {
    let cases = std::iter::once(CITED.to_owned()).chain((0..RACED + 2).map(target));
    setup_governance_with_cases(client, cases).await;
}

fn descope(round: usize) -> pb::RequestDescopeRequest {
    pb::RequestDescopeRequest {
        case: Some(pb::CaseRef {
            phase: Some(mt_active()),
            case_id: target(round),
        }),
        cited: Some(pb::CitedResult {
            case: Some(pb::CaseRef {
                phase: Some(mt_active()),
                case_id: CITED.into(),
            }),
            ..Default::default()
        }),
        rationale: "MT-001 exercises the same SRV end to end".into(),
        meta: None,
    }
}

/// Log position of an accepted de-scope; `None` if refused, which must be for rule 7's
/// "cited result passed" condition alone.
fn decision_position(decision: &pb::DescopeDecision) -> Option<u64> {
    if decision.accepted {
        return Some(decision.recorded.as_ref().unwrap().log_position);
    }
    let unmet: Vec<_> = decision.checks.iter().filter(|c| !c.satisfied).collect();
    assert_eq!(unmet.len(), 1, "{decision:?}");
    assert_eq!(
        unmet[0].condition(),
        pb::DescopeCondition::CitedResultPassed,
        "{decision:?}"
    );
    let why = unmet[0].explanation.to_lowercase();
    assert!(why.contains("failed"), "{decision:?}");
    None
}

/// Sends a retest of the cited case; its answer must be an ack (results are never refused here).
struct Retests {
    stream: ResultStream,
    seq: u64,
    attempt: u32,
}

impl Retests {
    async fn send(&mut self, status: pb::CaseStatus) {
        self.seq += 1;
        self.attempt += 1;
        let retest = result(CITED, self.attempt, status);
        self.stream.send(submit(SOURCE, self.seq, retest)).await;
    }
    async fn log_position(&mut self) -> u64 {
        self.stream.ack().await.log_position
    }
    async fn passed(&mut self) {
        self.send(pb::CaseStatus::Passed).await;
        self.log_position().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_descope_and_a_failing_retest_of_its_cited_case_agree_with_the_log() {
    let server = TestServer::start(StreamLimits::default()).await;
    let dir = server.dir.clone();
    let mut gov = server.governance().await;
    setup(&server.client().await).await;
    let mut results = server.results().await;
    let (stream, _) = ResultStream::open(&mut results, SOURCE).await;
    let mut retests = Retests {
        stream,
        seq: 0,
        attempt: 0,
    };
    // (de-scope position if accepted, failing retest position) per round.
    let mut rounds = Vec::new();

    // Retest first: held at the commit when the de-scope (which passes the first check on the
    // projection) arrives; the de-scope waits for it, checks again and is refused.
    retests.passed().await;
    server.gate.close();
    retests.send(pb::CaseStatus::Failed).await;
    server.gate.until_held(1).await;
    let mut held = gov.clone();
    let refused = tokio::spawn(async move { held.request_descope(descope(0)).await });
    server
        .until_waits("the de-scope waiting for the held retest", |w| {
            w.governance_writes == 1
        })
        .await;
    server.gate.open();
    let failed_at = retests.log_position().await;
    let decision = refused.await.unwrap().unwrap().into_inner();
    assert_eq!(decision_position(&decision), None, "{decision:?}");
    rounds.push((None, failed_at));

    // De-scope first: held at the commit when the retest arrives, which waits, then is stored
    // after it and counted; the de-scope stands (invalid once the retest is projected).
    retests.passed().await;
    server.gate.close();
    let mut held = gov.clone();
    let accepted = tokio::spawn(async move { held.request_descope(descope(1)).await });
    server.gate.until_held(2).await;
    retests.send(pb::CaseStatus::Failed).await;
    server
        .until_waits("the retest waiting for the held de-scope", |w| {
            w.results == 1
        })
        .await;
    server.gate.open();
    let decision = accepted.await.unwrap().unwrap().into_inner();
    let failed_at = retests.log_position().await;
    let at = decision_position(&decision).expect("the held de-scope was refused");
    assert!(at < failed_at, "de-scope #{at}, retest #{failed_at}");
    rounds.push((Some(at), failed_at));

    // Free races, one de-scope target per round; the cited case passes again before each.
    for round in 2..RACED + 2 {
        retests.passed().await;
        let (decision, failed_at) = tokio::join!(gov.request_descope(descope(round)), async {
            retests.send(pb::CaseStatus::Failed).await;
            retests.log_position().await
        });
        let decision = decision
            .unwrap_or_else(|s| panic!("round {round}: {s:?}"))
            .into_inner();
        let at = decision_position(&decision);
        if let Some(at) = at {
            assert!(
                at < failed_at,
                "round {round}: de-scope #{at}, retest #{failed_at}"
            );
        }
        rounds.push((at, failed_at));
    }
    let accepted = rounds.iter().filter(|(at, _)| at.is_some()).count();
    eprintln!(
        "de-scopes accepted {accepted}, refused {}",
        rounds.len() - accepted
    );

    drop(retests);
    server.stop().await;

    let (log, rebuilt) = reopen_and_check_log(dir.path().join("lab.db")).await;

    // The log holds exactly the accepted de-scopes, where their answers said.
    let mut descoped_at = Vec::new();
    for stored in &log {
        if let Some(Event::CaseDescoped(_)) = GovernanceProjector::decode(stored).unwrap() {
            descoped_at.push(stored.seq);
        }
    }
    let answered: Vec<u64> = rounds.iter().filter_map(|(at, _)| *at).collect();
    assert_eq!(descoped_at, answered);

    // Every retest counts; the cited case ends failed, so no de-scope citing it is valid.
    let phase = phase_from_proto("phase", &Some(mt_active())).unwrap();
    let state = rebuilt.projection().phase(&phase).unwrap();
    let cited = state.case(&CaseId::new(CITED)).unwrap();
    assert_eq!(cited.attempts.len(), 2 * rounds.len());
    assert_eq!(cited.last_status(), Some(CaseStatus::Failed));
    let tally = state.result_tally();
    assert_eq!(tally.get(CaseStatus::Failed) as usize, rounds.len());
    assert_eq!(tally.get(CaseStatus::Passed) as usize, rounds.len());
    assert_eq!(state.descopes().count(), accepted);
    assert!(state.descopes().all(|d| !d.valid));
    assert_eq!(state.coverage().descoped, 0);
}
