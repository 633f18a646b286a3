//! What the ingest benches share: one planned phase on a served gateway, and result streams
//! submitted the way clients submit them (a window of unacknowledged results per stream).
#![allow(dead_code, clippy::unwrap_used)]

use meterlab_governance::profile::{ILLUSTRATIVE_TOML, load_profile};
use meterlab_proto::v1 as pb;
use meterlab_proto::v1::governance_service_client::GovernanceServiceClient;
use meterlab_proto::v1::result_service_client::ResultServiceClient;
use meterlab_server::{Gateway, GatewayConfig, StreamLimits};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

pub fn entry() -> pb::EntryKey {
    pb::EntryKey {
        release: pb::CapabilityRelease::Ioc.into(),
        smso_id: "smso-bench".into(),
        dmc_id: "dmc-bench".into(),
    }
}

pub fn phase() -> pb::PhaseKey {
    pb::PhaseKey {
        entry: Some(entry()),
        test_type: pb::TestType::Mt.into(),
        mode: pb::InstallationMode::Active.into(),
    }
}

pub fn result(case: String) -> pb::TestCaseResult {
    pb::TestCaseResult {
        phase: Some(phase()),
        case_id: case,
        case_content_sha256: vec![7; 32],
        device_id: "esme-1".into(),
        attempt: 1,
        status: pb::CaseStatus::Passed.into(),
        evidence_sha256: vec![9; 32],
        srv: "4.1.1".into(),
        ..Default::default()
    }
}

/// A gateway served on loopback for a bench; dropping it stops the gateway.
pub struct BenchGateway {
    pub channel: Channel,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), meterlab_server::ServerError>>,
}

impl BenchGateway {
    /// Stops serving and waits until the gateway has closed its store (and its connections).
    pub async fn stop(self) {
        drop(self.channel);
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}

/// Serves a gateway on `db` (an SQLite path or a `postgres://` URL) on loopback, with the
/// phase the results belong to planned.
pub async fn start_gateway(db: std::path::PathBuf, limits: StreamLimits) -> BenchGateway {
    let profile = load_profile("illustrative.toml", ILLUSTRATIVE_TOML).unwrap();
    let gateway = Gateway::open(GatewayConfig {
        db,
        profile,
        limits,
        store: Default::default(),
    })
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(gateway.serve(listener, async {
        let _ = stopped.await;
    }));
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut gov = GovernanceServiceClient::new(channel.clone());
    let model = pb::DeviceModelRef {
        kind: pb::DeviceKind::CommsHub.into(),
        manufacturer: "Acme".into(),
        model: "CH-1".into(),
        firmware_version: "1.0".into(),
    };
    gov.register_entry(pb::RegisterEntryRequest {
        entry: Some(entry()),
        dmc: Some(pb::Dmc {
            id: "dmc-bench".into(),
            models: vec![model],
        }),
        meta: None,
    })
    .await
    .unwrap();
    gov.register_phase(pb::RegisterPhaseRequest {
        phase: Some(phase()),
        ..Default::default()
    })
    .await
    .unwrap();
    BenchGateway {
        channel,
        stop,
        task,
    }
}

/// Streams `count` new results under `source` with at most `window` unacknowledged at a time
/// (1: the next result only after the previous one's ack), and waits for every ack.
pub async fn stream_results(channel: Channel, source: String, count: u64, window: usize) {
    let (tx, rx) = tokio::sync::mpsc::channel(window.max(1) + 1);
    let mut client = ResultServiceClient::new(channel);
    tx.send(pb::ResultStreamRequest {
        kind: Some(pb::result_stream_request::Kind::Open(pb::OpenStream {
            source: source.clone(),
        })),
    })
    .await
    .unwrap();
    let mut responses = client
        .stream_results(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let submit = |seq: u64| pb::ResultStreamRequest {
        kind: Some(pb::result_stream_request::Kind::Result(pb::SubmitResult {
            key: Some(pb::ResultKey {
                source: source.clone(),
                run_id: "run".into(),
                seq,
            }),
            result: Some(result(format!("{source}-{seq}"))),
        })),
    };
    let (mut sent, mut acks) = (0u64, 0u64);
    while acks < count {
        while sent < count && (sent - acks) < window as u64 {
            sent += 1;
            tx.send(submit(sent)).await.unwrap();
        }
        let response = responses.message().await.unwrap().unwrap();
        match response.kind {
            Some(pb::result_stream_response::Kind::Ack(_)) => acks += 1,
            Some(pb::result_stream_response::Kind::Opened(_)) => {}
            other => panic!("unexpected answer {other:?}"),
        }
    }
}
