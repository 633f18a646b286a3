//! Two gateways (replicas) serving one PostgreSQL database, each a real gRPC server on loopback:
//! writes on one are in the answers of the other, concurrent governance writes on both keep one
//! hash chain with no event refused, and every answer names the log position it reflects.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

#[path = "../../store/tests/support/postgres.rs"]
mod pg;

use std::net::SocketAddr;
use std::sync::Arc;

use common::{CASES, ResultStream, mt_active, profile, result, setup_governance, submit};
use meterlab_client::{Client, ConnectOptions};
use meterlab_governance::model::PhaseId;
use meterlab_proto::v1 as pb;
use meterlab_proto::v1::governance_service_client::GovernanceServiceClient;
use meterlab_proto::v1::result_service_client::ResultServiceClient;
use meterlab_server::replica::LOG_POSITION_HEADER;
use meterlab_server::{Gateway, GovernanceProjector, Ledger, StreamLimits};
use meterlab_store::{Store, StoreConfig, Verification};
use tokio::sync::oneshot;
use tonic::transport::Channel;

struct Replica {
    addr: SocketAddr,
    ledger: Arc<Ledger>,
    _stop: oneshot::Sender<()>,
}

impl Replica {
    async fn start(url: &str) -> Replica {
        let url = url.to_owned();
        let store =
            tokio::task::spawn_blocking(move || Store::open_url(&url, StoreConfig::default()))
                .await
                .unwrap()
                .unwrap();
        let gateway = Gateway::with_store(store, profile(), StreamLimits::default())
            .await
            .unwrap();
        let ledger = Arc::clone(gateway.ledger());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = gateway
                .serve(listener, async {
                    let _ = stopped.await;
                })
                .await;
        });
        Replica {
            addr,
            ledger,
            _stop: stop,
        }
    }

    async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    async fn governance(&self) -> GovernanceServiceClient<Channel> {
        GovernanceServiceClient::new(self.channel().await)
    }

    async fn client(&self) -> Client {
        Client::connect(&format!("http://{}", self.addr), &ConnectOptions::default())
            .await
            .unwrap()
    }
}

fn position<T>(response: &tonic::Response<T>) -> u64 {
    response
        .metadata()
        .get(LOG_POSITION_HEADER)
        .expect("every answer names its log position")
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

async fn evaluate(replica: &Replica) -> tonic::Response<pb::Verdict> {
    replica
        .governance()
        .await
        .evaluate_phase(pb::EvaluatePhaseRequest {
            phase: Some(mt_active()),
            profile: String::new(),
        })
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_on_one_replica_are_in_the_answers_of_the_other() {
    let url = pg::fresh_database();
    let a = Replica::start(&url).await;
    let b = Replica::start(&url).await;

    // Governance planned on A; results streamed to B, which must already know the phase.
    setup_governance(&a.client().await).await;
    let mut results = ResultServiceClient::new(b.channel().await);
    let (mut stream, _) = ResultStream::open(&mut results, "lab-b").await;
    for (i, case) in CASES.iter().enumerate() {
        stream
            .send(submit(
                "lab-b",
                i as u64 + 1,
                result(case, 1, pb::CaseStatus::Passed),
            ))
            .await;
    }
    let mut last_acked = 0;
    for _ in CASES {
        last_acked = last_acked.max(stream.ack().await.log_position);
    }

    // Asked of A right after B acknowledged: A's verdict reflects B's results.
    let on_a = evaluate(&a).await;
    let head = a.ledger.store().refresh_head().unwrap().unwrap().seq;
    assert_eq!(head, last_acked, "B's results are the last events");
    assert_eq!(position(&on_a), head);
    assert_eq!(on_a.get_ref().log_position, head);
    let on_b = evaluate(&b).await;
    assert_eq!(position(&on_b), head);
    assert_eq!(on_a.get_ref(), on_b.get_ref(), "replicas disagree");
    let passed = a.ledger.read(|projection, _| {
        let phase = projection
            .phase(&PhaseId::Test(common::mt_active_phase()))
            .unwrap();
        phase.coverage().passed
    });
    assert_eq!(passed as usize, CASES.len());

    // A position not reached yet is waited for (bounded), then refused, never answered stale.
    let mut gov = b.governance().await;
    let mut ahead = tonic::Request::new(pb::EvaluatePhaseRequest {
        phase: Some(mt_active()),
        profile: String::new(),
    });
    ahead.metadata_mut().insert(
        LOG_POSITION_HEADER,
        (head + 1_000).to_string().parse().unwrap(),
    );
    let refused = gov.evaluate_phase(ahead).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_governance_writes_on_two_replicas_keep_one_chain() {
    let url = pg::fresh_database();
    let a = Replica::start(&url).await;
    let b = Replica::start(&url).await;
    setup_governance(&a.client().await).await;

    const EACH: usize = 8;
    let mut writers = tokio::task::JoinSet::new();
    for replica in [&a, &b] {
        let mut gov = replica.governance().await;
        writers.spawn(async move {
            let mut ids = Vec::new();
            for n in 0..EACH {
                // The issue id is chosen from the replica's projection before the write; when
                // the other replica took it meanwhile the write is refused (ALREADY_EXISTS,
                // nothing written) and the client asks again, as on a single gateway.
                loop {
                    let raised = gov
                        .raise_issue(pb::RaiseIssueRequest {
                            severity: 3,
                            title: format!("issue {n}"),
                            cases: vec![pb::CaseRef {
                                phase: Some(mt_active()),
                                case_id: CASES[n % CASES.len()].into(),
                            }],
                            ..Default::default()
                        })
                        .await;
                    match raised {
                        Ok(issue) => {
                            ids.push(issue.into_inner().id);
                            break;
                        }
                        Err(status) if status.code() == tonic::Code::AlreadyExists => {}
                        Err(status) => panic!("{status:?}"),
                    }
                }
            }
            ids
        });
    }
    let mut ids = Vec::new();
    while let Some(written) = writers.join_next().await {
        ids.extend(written.unwrap());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(
        ids.len(),
        2 * EACH,
        "two replicas handed out the same issue id"
    );

    let store = a.ledger.store().clone();
    let (verification, refused) = tokio::task::spawn_blocking(move || {
        let verification = store.verify().unwrap();
        let mut fresh = GovernanceProjector::new();
        store.rebuild_projection(&mut fresh).unwrap();
        (verification, fresh.refused_count())
    })
    .await
    .unwrap();
    assert!(
        matches!(verification, Verification::Intact { .. }),
        "{verification:?}"
    );
    assert_eq!(
        refused, 0,
        "a replica wrote an event the projection refuses"
    );
    // Both replicas answer with the same issues at the same position.
    let on_a = evaluate(&a).await;
    let on_b = evaluate(&b).await;
    assert_eq!(position(&on_a), position(&on_b));
    for replica in [&a, &b] {
        assert_eq!(replica.ledger.read(|p, _| p.issues().count()), 2 * EACH);
    }
}
