//! Shared test support: a gateway on a loopback socket, clients, and a governance setup planned
//! through `meterlab-client` (the one client-side conversion to protobuf).
#![allow(clippy::unwrap_used, dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use meterlab_client::types::{DnbCase, DnbDocument};
use meterlab_client::{Client, ConnectOptions};
use meterlab_governance::model::{
    CaseId, CaseSpec, DeviceModel, DmcComponents, DmcId, DnbKey, DnbStatus, DocType, EntryKey,
    Mode, PhaseKind, Release, SmsoId, Srv, TestPhase, TestType,
};
use meterlab_governance::profile::ILLUSTRATIVE_TOML;
use meterlab_governance::{Profile, load_profile};
use meterlab_proto::v1 as pb;
use meterlab_proto::v1::governance_service_client::GovernanceServiceClient;
use meterlab_proto::v1::result_service_client::ResultServiceClient;
use meterlab_server::{
    Gateway, GovernanceProjector, Ledger, LedgerWaits, PROJECTION_NAME, ResultMetrics, StreamLimits,
};
use meterlab_store::{
    Backend, ReaderOpener, SqliteBackend, SqliteOptions, Store, StoreConfig, StoredEvent,
    Verification,
};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

pub fn profile() -> Profile {
    load_profile("illustrative.toml", ILLUSTRATIVE_TOML).unwrap()
}

/// A commit gate: while closed, the store's writer waits before starting a transaction.
#[derive(Clone, Default)]
pub struct Gate {
    state: Arc<(Mutex<bool>, Condvar)>,
    /// Transactions that have waited at the closed gate so far.
    held: Arc<AtomicUsize>,
}

impl Gate {
    pub fn close(&self) {
        *self.state.0.lock().unwrap() = true;
    }
    pub fn open(&self) {
        *self.state.0.lock().unwrap() = false;
        self.state.1.notify_all();
    }
    /// Waits (up to 10 s) until `n` transactions in all have been held at the closed gate: the
    /// writer has taken a submission and cannot commit it.
    pub async fn until_held(&self, n: usize) {
        for _ in 0..2000 {
            if self.held.load(Ordering::SeqCst) >= n {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        panic!("the store writer never reached the closed gate");
    }
    fn wait(&self) {
        let mut closed = self.state.0.lock().unwrap();
        if *closed {
            self.held.fetch_add(1, Ordering::SeqCst);
        }
        while *closed {
            closed = self.state.1.wait(closed).unwrap();
        }
    }
}

/// SQLite, with a gate in front of every write transaction.
pub struct GatedSqlite {
    inner: SqliteBackend,
    gate: Gate,
}

impl Backend for GatedSqlite {
    type Reader = <SqliteBackend as Backend>::Reader;
    type Tx<'a> = <SqliteBackend as Backend>::Tx<'a>;

    fn location(&self) -> String {
        self.inner.location()
    }
    fn reader_opener(&self) -> ReaderOpener<Self::Reader> {
        self.inner.reader_opener()
    }
    fn begin(&mut self) -> meterlab_store::Result<Self::Tx<'_>> {
        self.gate.wait();
        self.inner.begin()
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub metrics: Arc<ResultMetrics>,
    pub gate: Gate,
    pub ledger: Arc<Ledger>,
    pub dir: Arc<tempfile::TempDir>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    pub async fn start(limits: StreamLimits) -> TestServer {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        TestServer::start_in(dir, limits).await
    }

    /// Starts a gateway on the store in `dir` (reopening it if it exists).
    pub async fn start_in(dir: Arc<tempfile::TempDir>, limits: StreamLimits) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        TestServer::start_with(dir, limits, listener, None).await
    }

    /// Starts a gateway on `listener` over the store in `dir`; a lab gateway with `upstream`.
    pub async fn start_with(
        dir: Arc<tempfile::TempDir>,
        limits: StreamLimits,
        listener: tokio::net::TcpListener,
        upstream: Option<meterlab_server::upstream::UpstreamConfig>,
    ) -> TestServer {
        let gate = Gate::default();
        let backend = GatedSqlite {
            inner: SqliteBackend::open(dir.path().join("lab.db"), SqliteOptions::default())
                .unwrap(),
            gate: gate.clone(),
        };
        let store = Store::start(backend, StoreConfig::default()).unwrap();
        // Where a gateway over `lab.db` keeps its runs' evidence, which ExportResults sends.
        let mut gateway = Gateway::with_store(store, profile(), limits)
            .await
            .unwrap()
            .with_evidence_dir(dir.path().join("lab.db.evidence"));
        if let Some(upstream) = upstream {
            gateway = gateway.with_upstream(upstream);
        }
        let metrics = gateway.result_metrics();
        let ledger = Arc::clone(gateway.ledger());
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            gateway
                .serve(listener, async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        TestServer {
            addr,
            metrics,
            gate,
            ledger,
            dir,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Waits (up to 10 s) until the ledger's waiters satisfy `reached`: a forced interleaving
    /// that was not reached fails the test instead of passing it silently.
    pub async fn until_waits(&self, what: &str, reached: impl Fn(LedgerWaits) -> bool) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while tokio::time::Instant::now() < deadline {
            if reached(self.ledger.waits()) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        panic!(
            "{what} never happened (ledger waits: {:?})",
            self.ledger.waits()
        );
    }

    /// Graceful shutdown; returns once the gateway has stopped and released the store.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
        // The store's writer lock goes with the last holder of the store, which can be a
        // connection task of a client that is still connected or the writer thread finishing:
        // wait for it, so a restart on the same directory never finds the store locked.
        let dir = Arc::clone(&self.dir);
        let lock = dir.path().join("lab.db-writer.lock");
        drop(self);
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let file = std::fs::OpenOptions::new().write(true).open(&lock).unwrap();
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock)
                    if tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
                Err(error) => panic!(
                    "the stopped gateway still holds {}: {error}",
                    lock.display()
                ),
            }
        }
        drop(dir);
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    pub async fn results(&self) -> ResultServiceClient<Channel> {
        ResultServiceClient::new(self.channel().await)
    }

    pub async fn governance(&self) -> GovernanceServiceClient<Channel> {
        GovernanceServiceClient::new(self.channel().await)
    }

    /// The typed client, as lab tools and the CLI reach a gateway.
    pub async fn client(&self) -> Client {
        Client::connect(&format!("http://{}", self.addr), &ConnectOptions::default())
            .await
            .unwrap()
    }
}

pub fn entry() -> pb::EntryKey {
    pb::EntryKey {
        release: pb::CapabilityRelease::Ioc.into(),
        smso_id: "smso-a".into(),
        dmc_id: "dmc-1".into(),
    }
}

pub fn phase(test: pb::TestType, mode: pb::InstallationMode) -> pb::PhaseKey {
    pb::PhaseKey {
        entry: Some(entry()),
        test_type: test.into(),
        mode: mode.into(),
    }
}

pub fn mt_active() -> pb::PhaseKey {
    phase(pb::TestType::Mt, pb::InstallationMode::Active)
}

pub const CASES: [&str; 3] = ["MT-001", "MT-002", "MT-003"];

/// The planned entry of [`entry`], as the governance domain names it.
pub fn entry_key() -> EntryKey {
    EntryKey {
        release: Release::Ioc,
        smso: SmsoId::new("smso-a"),
        dmc: DmcId::new("dmc-1"),
    }
}

/// [`mt_active`] in the governance domain.
pub fn mt_active_phase() -> TestPhase {
    TestPhase {
        entry: entry_key(),
        kind: PhaseKind {
            test: TestType::Mt,
            mode: Mode::Active,
        },
    }
}

/// Registers the entry, its six phases, an agreed MT Depth & Breadth list of [`CASES`] (SRV
/// 4.1.1) and starts MT active — through the typed client, as a lab tool plans.
pub async fn setup_governance(client: &Client) {
    setup_governance_with_cases(client, CASES.iter().map(|case| (*case).to_owned())).await;
}

fn device(model: &str) -> DeviceModel {
    DeviceModel {
        manufacturer: "Acme".into(),
        model: model.into(),
        firmware: "1.0".into(),
    }
}

/// Registers and agrees a Depth & Breadth document of `cases` (all SRV 4.1.1, content hash
/// `fill` repeated).
async fn agree_document(client: &Client, doc_type: DocType, cases: Vec<String>, fill: u8) {
    let key = DnbKey {
        release: Release::Ioc,
        smso: SmsoId::new("smso-a"),
        doc_type,
    };
    let document = DnbDocument {
        key: key.clone(),
        version: "1".into(),
        cases: cases
            .into_iter()
            .map(|case| DnbCase {
                spec: CaseSpec {
                    case: CaseId::new(case),
                    srv: Srv::new("4.1.1"),
                    modes: vec![],
                },
                content_sha256: [fill; 32],
            })
            .collect(),
    };
    client
        .register_depth_breadth(&document, "test setup")
        .await
        .unwrap();
    client
        .set_depth_breadth_status(&key, "1", DnbStatus::Agreed, "test setup")
        .await
        .unwrap();
}

/// [`setup_governance`] with another agreed MT case list (all SRV 4.1.1).
pub async fn setup_governance_with_cases(client: &Client, cases: impl IntoIterator<Item = String>) {
    let dmc = DmcComponents {
        comms_hub: device("CH-1"),
        esme: Some(device("E-1")),
        gsme: None,
        ppmid: None,
        ihd: None,
    };
    let planned = client
        .register_entry(&entry_key(), &dmc, "test setup")
        .await
        .unwrap();
    assert_eq!(planned.required_phases.len(), 6);
    for phase in &planned.required_phases {
        client
            .register_phase(phase, None, "test setup")
            .await
            .unwrap();
    }
    agree_document(client, DocType::Mt, cases.into_iter().collect(), 7).await;
    let started = client
        .start_phase(&mt_active_phase(), "test setup")
        .await
        .unwrap();
    assert!(started.started, "{:?}", started.entry_criteria);
}

pub const REGRESSION_CASES: [&str; 2] = ["RG-001", "RG-002"];

/// Registers and agrees the regression Depth & Breadth list of (IOC, smso-a).
pub async fn agree_regression_list(client: &Client) {
    agree_document(
        client,
        DocType::Regression,
        REGRESSION_CASES.iter().map(|c| (*c).to_owned()).collect(),
        3,
    )
    .await;
}

pub fn result(case: &str, attempt: u32, status: pb::CaseStatus) -> pb::TestCaseResult {
    pb::TestCaseResult {
        phase: Some(mt_active()),
        case_id: case.into(),
        case_content_sha256: vec![7; 32],
        device_id: "esme-1".into(),
        attempt,
        status: status.into(),
        evidence_sha256: vec![9; 32],
        srv: "4.1.1".into(),
        ..Default::default()
    }
}

pub fn submit(source: &str, seq: u64, result: pb::TestCaseResult) -> pb::ResultStreamRequest {
    pb::ResultStreamRequest {
        kind: Some(pb::result_stream_request::Kind::Result(pb::SubmitResult {
            key: Some(pb::ResultKey {
                source: source.into(),
                run_id: "run-1".into(),
                seq,
            }),
            result: Some(result),
        })),
    }
}

pub fn open(source: &str) -> pb::ResultStreamRequest {
    pb::ResultStreamRequest {
        kind: Some(pb::result_stream_request::Kind::Open(pb::OpenStream {
            source: source.into(),
        })),
    }
}

/// An open result stream: a sender of requests and the response stream.
pub struct ResultStream {
    pub tx: mpsc::Sender<pb::ResultStreamRequest>,
    pub rx: tonic::Streaming<pb::ResultStreamResponse>,
}

impl ResultStream {
    /// Opens a stream for `source` and returns it with the `opened` answer.
    pub async fn open(
        client: &mut ResultServiceClient<Channel>,
        source: &str,
    ) -> (ResultStream, pb::StreamOpened) {
        let (tx, rx) = mpsc::channel(1024);
        tx.send(open(source)).await.unwrap();
        let mut rx = client
            .stream_results(ReceiverStream::new(rx))
            .await
            .unwrap()
            .into_inner();
        let first = rx.message().await.unwrap().unwrap();
        let Some(pb::result_stream_response::Kind::Opened(opened)) = first.kind else {
            panic!("expected opened, got {first:?}");
        };
        (ResultStream { tx, rx }, opened)
    }

    pub async fn send(&self, request: pb::ResultStreamRequest) {
        self.tx.send(request).await.unwrap();
    }

    pub async fn next(&mut self) -> pb::result_stream_response::Kind {
        self.rx.message().await.unwrap().unwrap().kind.unwrap()
    }

    pub async fn ack(&mut self) -> pb::ResultAck {
        match self.next().await {
            pb::result_stream_response::Kind::Ack(a) => a,
            other => panic!("expected an ack, got {other:?}"),
        }
    }

    pub async fn rejection(&mut self) -> pb::ResultRejection {
        match self.next().await {
            pb::result_stream_response::Kind::Rejection(r) => r,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }
}

/// Reopens the stopped gateway's store and checks what every race test relies on: the hash
/// chain is intact, a rebuilt projection matches the checkpoint the live one wrote at shutdown,
/// and the projection refused no event. Returns the whole log and the rebuilt projection.
pub async fn reopen_and_check_log(
    db: std::path::PathBuf,
) -> (Vec<StoredEvent>, GovernanceProjector) {
    let store = Store::open_sqlite(db, StoreConfig::default()).unwrap();
    let (verification, rebuilt, report, log) = tokio::task::spawn_blocking(move || {
        let verification = store.verify().unwrap();
        let mut rebuilt = GovernanceProjector::new();
        let (report, _) = store.rebuild_projection(&mut rebuilt).unwrap();
        let log = store.read_range(1, usize::MAX).unwrap();
        (verification, rebuilt, report, log)
    })
    .await
    .unwrap();
    let Verification::Intact { events, .. } = verification else {
        panic!("chain broken: {verification:?}");
    };
    assert_eq!(events, log.len() as u64);
    let checked = report.checked.expect("no checkpoint was compared");
    assert_eq!(checked.projection, PROJECTION_NAME);
    assert_eq!(checked.seq, events);
    assert_eq!(checked.fingerprint, report.fingerprint);
    assert_eq!(rebuilt.refused_count(), 0);
    (log, rebuilt)
}
