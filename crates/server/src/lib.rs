//! meterlab gateway: the tonic services over the store and the governance engine.
//!
//! Owns: `ResultService` (results streamed by any client, acknowledged only once durable,
//! idempotent by `(source, run, seq)`, with watermarks, size and in-flight limits),
//! `GovernanceService` (governance RPCs as events in the log, evaluations on the live
//! projection), gRPC health and reflection, the conversions between `meterlab.v1` protobuf types
//! and governance domain types ([`convert`], the only place they meet), and the wiring of
//! [`Gateway`] used by `meterlab serve`. Also who may do what: rustls TLS and mutual TLS
//! ([`tls`]), the serve config ([`serve_config`]), principals, roles, the one authorisation
//! table and the one tower layer in front of every service ([`auth`]), and the attribution of
//! every governance event to the principal that caused it.
//!
//! Must never depend on the CLI (`meterlab`); the governance engine and the store must never
//! depend on this crate. With a bench in the serve config it also serves DeviceService (devices,
//! health, leases owned by principals) and RunService (runs of the bench's suites through the
//! pinned adapters, their results stored through the same ingest as streamed results) — see
//! [`bench`].
//!
//! Start-up rebuilds the governance projection from the whole log (checking the hash chain and
//! the last recorded projection checkpoint); shutdown records a new checkpoint.
#![forbid(unsafe_code)]

pub mod auth;
pub mod bench;
pub mod convert;
pub mod dev_certs;
mod error;
pub mod evidence;
mod governance;
mod hardening;
mod ledger;
mod projector;
pub mod replica;
mod results;
pub mod serve_config;
pub mod tls;
pub mod upstream;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use meterlab_governance::{Profile, load_profile};
use meterlab_proto::v1::device_service_server::DeviceServiceServer;
use meterlab_proto::v1::governance_service_server::GovernanceServiceServer;
use meterlab_proto::v1::outbox_service_server::OutboxServiceServer;
use meterlab_proto::v1::result_service_server::ResultServiceServer;
use meterlab_proto::v1::run_service_server::RunServiceServer;
use meterlab_store::{ReplayReport, Store, StoreConfig};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::TcpIncoming;

pub use bench::devices::DeviceServiceImpl;
pub use bench::runs::{RUN_KIND, RunManager, RunServiceImpl};
pub use bench::{Bench, LeaseView};
pub use error::{ConfigError, ConfigProblem, FieldError, SecretFileError, ServerError};
pub use governance::{EXPORT_MESSAGE_BYTES, GovernanceServiceImpl, report_title};
pub use ledger::{Ledger, LedgerWaits};
pub use projector::{
    ACTOR_FIELD, Decision, DecisionSubject, GOVERNANCE_KIND, GovernanceProjector, PROJECTION_NAME,
};
pub use results::{RESULTS_RUN, ResultMetrics, ResultServiceImpl, StreamLimits};

/// Largest GovernanceService request accepted (Depth & Breadth documents can be long).
pub const MAX_GOVERNANCE_MESSAGE_BYTES: usize = 4 << 20;

/// What a gateway serves from.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// SQLite store file (created if absent).
    pub db: PathBuf,
    /// The rule profile evaluations use.
    pub profile: Profile,
    /// Limits of result streams.
    pub limits: StreamLimits,
    /// Store tuning (group commit size, queue depth).
    pub store: StoreConfig,
}

/// Reads and validates a rule profile file (TOML); errors name the file and every bad line.
pub fn load_profile_file(path: &Path) -> Result<Profile, ServerError> {
    let text = std::fs::read_to_string(path).map_err(|source| ServerError::ProfileRead {
        path: path.display().to_string(),
        source,
    })?;
    Ok(load_profile(&path.display().to_string(), &text)?)
}

/// An opened gateway: the store, the rebuilt projection and the services, ready to serve.
#[derive(Debug)]
pub struct Gateway {
    ledger: Arc<Ledger>,
    results: ResultServiceImpl,
    governance: GovernanceServiceImpl,
    replay: ReplayReport,
    limits: serve_config::Limits,
    bench: Option<(Arc<Bench>, Arc<RunManager>)>,
    /// Where the evidence documents of its runs are kept (see [`evidence`]).
    evidence: Option<Arc<evidence::EvidenceStore>>,
    /// A lab gateway's forwarding to the central service.
    outbox: Option<upstream::Outbox>,
}

impl Gateway {
    /// Opens the store and rebuilds the governance projection from its log.
    pub async fn open(config: GatewayConfig) -> Result<Gateway, ServerError> {
        let GatewayConfig {
            db,
            profile,
            limits,
            store,
        } = config;
        // `db` is an SQLite path or a `postgres://` URL (meterlab-store picks the backend).
        let db_text = db.to_string_lossy().into_owned();
        // An SQLite store keeps its runs' evidence beside it; a PostgreSQL store needs a
        // configured directory ([`Gateway::with_evidence_dir`]).
        let evidence = (!meterlab_store::is_postgres_url(&db_text))
            .then(|| evidence::EvidenceStore::beside(&db));
        let store = tokio::task::spawn_blocking(move || Store::open_url(&db_text, store)).await??;
        let mut gateway = Gateway::with_store(store, profile, limits).await?;
        if let Some(evidence) = evidence {
            gateway = gateway.with_evidence(evidence);
        }
        tracing::info!(
            events = gateway.replay.events,
            checked = gateway.replay.checked.is_some(),
            "governance projection rebuilt from the log"
        );
        Ok(gateway)
    }

    /// A gateway over an already started store (any backend), e.g. for tests and benches.
    pub async fn with_store(
        store: Store,
        profile: Profile,
        limits: StreamLimits,
    ) -> Result<Gateway, ServerError> {
        let (ledger, replay) =
            tokio::task::spawn_blocking(move || Ledger::open(store, profile)).await??;
        let ledger = Arc::new(ledger);
        replica::follow(&ledger);
        Ok(Gateway {
            results: ResultServiceImpl::new(ledger.clone(), limits),
            governance: GovernanceServiceImpl::new(ledger.clone()),
            ledger,
            replay,
            limits: serve_config::Limits {
                max_result_message_bytes: limits.max_message_bytes,
                max_in_flight: limits.max_in_flight,
                ..serve_config::Limits::default()
            },
            bench: None,
            evidence: None,
            outbox: None,
        })
    }

    /// Keeps the evidence documents of the bench's runs in `dir` (created if absent) instead
    /// of beside the SQLite store; call before [`Gateway::with_bench`].
    pub fn with_evidence_dir(self, dir: impl Into<PathBuf>) -> Gateway {
        self.with_evidence(evidence::EvidenceStore::new(dir))
    }

    fn with_evidence(mut self, store: evidence::EvidenceStore) -> Gateway {
        let store = Arc::new(store);
        self.governance = self.governance.with_evidence(store.clone());
        self.evidence = Some(store);
        self
    }

    /// Where the evidence documents of the bench's runs are kept, if anywhere.
    pub fn evidence_dir(&self) -> Option<&Path> {
        self.evidence.as_deref().map(evidence::EvidenceStore::dir)
    }

    /// Makes this a lab gateway: results are acknowledged once durable here and forwarded to
    /// `config`'s upstream while serving; governance requests are refused, naming the upstream
    /// (see [`upstream`]).
    pub fn with_upstream(mut self, config: upstream::UpstreamConfig) -> Gateway {
        self.ledger.defer_phases_upstream();
        self.outbox = Some(upstream::Outbox::new(self.ledger.clone(), config));
        self
    }

    /// The forwarding state of a lab gateway.
    pub fn outbox(&self) -> Option<&upstream::Outbox> {
        self.outbox.as_ref()
    }

    /// Sets the limits the server enforces (message sizes, streams, deadlines, drain time); the
    /// result stream limits stay as opened.
    pub fn with_limits(mut self, limits: serve_config::Limits) -> Gateway {
        self.limits = limits;
        self
    }

    /// Serves DeviceService and RunService on `bench` (devices, plugins, suites, DMCs). Its runs
    /// keep their evidence in the gateway's evidence directory, which must be usable (it is
    /// created here): without one (a PostgreSQL store and no [`Gateway::with_evidence_dir`])
    /// the bench is refused.
    pub fn with_bench(mut self, bench: serve_config::BenchConfig) -> Result<Gateway, ServerError> {
        let evidence = self.evidence.clone().ok_or(ServerError::NoEvidenceDir)?;
        evidence.prepare()?;
        let bench = Arc::new(Bench::open(bench, self.limits)?);
        let runs = Arc::new(RunManager::new(
            bench.clone(),
            self.ledger.clone(),
            evidence,
        ));
        self.bench = Some((bench, runs));
        Ok(self)
    }

    /// The bench, when one is served.
    pub fn bench(&self) -> Option<&Arc<Bench>> {
        self.bench.as_ref().map(|(bench, _)| bench)
    }

    /// What the start-up replay found.
    pub fn replay(&self) -> &ReplayReport {
        &self.replay
    }

    /// The store and live projection.
    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }

    /// ResultService counters.
    pub fn result_metrics(&self) -> Arc<ResultMetrics> {
        self.results.metrics()
    }

    /// [`Gateway::serve_secured`] without TLS and without principals: every caller is an
    /// anonymous admin. For loopback use and tests only.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServerError> {
        self.serve_secured(listener, Security::default(), shutdown)
            .await
    }

    /// Serves ResultService, GovernanceService, health and reflection on `listener` until
    /// `shutdown` completes, behind TLS when configured and behind the one authorisation
    /// layer; then ends open result streams, waits for in-flight requests and records a
    /// projection checkpoint.
    pub async fn serve_secured(
        self,
        listener: TcpListener,
        security: Security,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServerError> {
        let (health, health_service) = tonic_health::server::health_reporter();
        health
            .set_serving::<ResultServiceServer<ResultServiceImpl>>()
            .await;
        health
            .set_serving::<GovernanceServiceServer<GovernanceServiceImpl>>()
            .await;
        let mut reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(meterlab_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET);
        for name in self.served_services() {
            reflection = reflection.with_service_name(name);
        }
        let reflection = reflection.build_v1()?;
        let limits = self.limits;
        let mut auth_layer = auth::AuthLayer::new(security.principals);
        if let Some(limit) = security.streams_per_principal {
            auth_layer = auth_layer.with_streams_per_principal(limit);
        }
        let mut builder = tonic::transport::Server::builder()
            .max_concurrent_streams(Some(limits.max_concurrent_streams))
            .timeout(limits.rpc_deadline);
        if let Some(tls) = security.tls {
            builder = builder.tls_config(tls)?;
        }
        let (bench, runs) = match &self.bench {
            Some((bench, runs)) => (Some(bench.clone()), Some(runs.clone())),
            None => (None, None),
        };
        if bench.is_some() {
            health
                .set_serving::<DeviceServiceServer<DeviceServiceImpl>>()
                .await;
            health
                .set_serving::<RunServiceServer<RunServiceImpl>>()
                .await;
        }
        health
            .set_serving::<OutboxServiceServer<upstream::OutboxServiceImpl>>()
            .await;
        let governance = GovernanceServiceServer::new(self.governance.clone())
            .max_decoding_message_size(limits.max_governance_message_bytes);
        let (governance, lab_governance) = match &self.outbox {
            None => (Some(governance), None),
            Some(outbox) => {
                let urls = outbox.urls().to_vec();
                let refuse =
                    move |_: tonic::Request<()>| -> Result<tonic::Request<()>, tonic::Status> {
                        Err(upstream::governance_refusal(&urls))
                    };
                (
                    None,
                    Some(tonic::service::interceptor::InterceptedService::new(
                        governance, refuse,
                    )),
                )
            }
        };
        let forwarding = CancellationToken::new();
        let forwarder = self
            .outbox
            .clone()
            .map(|outbox| tokio::spawn(outbox.run(forwarding.clone())));
        let router = builder
            .layer(auth_layer)
            .layer(hardening::StatusLayer)
            .layer(replica::ConsistencyLayer::new(self.ledger.clone()))
            .add_service(health_service)
            .add_service(reflection)
            .add_service(results::RawResultServiceServer::new(self.results.clone()))
            .add_service(OutboxServiceServer::new(upstream::OutboxServiceImpl::new(
                self.outbox.clone(),
            )))
            .add_optional_service(governance)
            .add_optional_service(lab_governance)
            .add_optional_service(bench.map(|bench| {
                DeviceServiceServer::new(DeviceServiceImpl::new(bench))
                    .max_decoding_message_size(limits.max_governance_message_bytes)
            }))
            .add_optional_service(runs.clone().map(|runs| {
                RunServiceServer::new(RunServiceImpl::new(runs))
                    .max_decoding_message_size(limits.max_governance_message_bytes)
            }));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        // Small gRPC frames (a result's ack) go out at once: with Nagle's algorithm on, an
        // answer written while an earlier one is unacknowledged waits for the peer's delayed
        // ACK, and streams sharing a connection stall one another. `serve_with_incoming` leaves
        // the accepted sockets as they are, so the option is set here.
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let server = router.serve_with_incoming_shutdown(incoming, async {
            let _ = stopped.await;
        });
        tokio::pin!(server);
        tokio::select! {
            served = &mut server => {
                forwarding.cancel();
                served?;
                self.ledger.checkpoint().await?;
                return Ok(());
            }
            () = shutdown => {}
        }
        // Forwarding stops first: what it has not sent stays in the log for the next start.
        forwarding.cancel();
        if let Some(forwarder) = forwarder {
            let _ = forwarder.await;
        }
        tracing::info!(
            drain_s = limits.drain.as_secs(),
            "shutting down: draining runs"
        );
        if let Some(runs) = &runs {
            let drain = runs.drain(limits.drain);
            tokio::pin!(drain);
            // Keep serving (watchers, result streams) while the runs drain.
            tokio::select! {
                () = &mut drain => {}
                served = &mut server => {
                    served?;
                }
            }
            runs.stop_watches();
        }
        tracing::info!("ending result streams and closing connections");
        self.results.shut_down_streams();
        let _ = stop.send(());
        // A client that holds a stream open or stops reading would keep a graceful close waiting
        // for ever: after the grace time its connection is dropped (every answer it was sent was
        // already durable).
        match tokio::time::timeout(CLOSE_GRACE, &mut server).await {
            Ok(served) => served?,
            Err(_) => tracing::warn!(
                grace_s = CLOSE_GRACE.as_secs(),
                "connections still open after the grace time; dropping them"
            ),
        }
        self.ledger.checkpoint().await?;
        tracing::info!("projection checkpoint recorded; gateway stopped");
        Ok(())
    }
}

/// How long connections get to close after the runs have drained and streams have ended.
pub const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

impl Gateway {
    /// The gRPC services this gateway serves (and reflection lists): nothing it does not serve.
    pub fn served_services(&self) -> Vec<&'static str> {
        let mut names = vec![
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "meterlab.v1.ResultService",
            "meterlab.v1.GovernanceService",
            "meterlab.v1.OutboxService",
        ];
        if self.bench.is_some() {
            names.push("meterlab.v1.DeviceService");
            names.push("meterlab.v1.RunService");
        }
        names
    }
}

/// Transport security and who is allowed in, for [`Gateway::serve_secured`].
#[derive(Debug, Clone, Default)]
pub struct Security {
    /// TLS (and mutual TLS when it has a client CA); `None` serves plaintext HTTP/2.
    pub tls: Option<tonic::transport::ServerTlsConfig>,
    /// Configured principals; `None` lets every caller in as an anonymous admin.
    pub principals: Option<Arc<auth::Principals>>,
    /// Concurrent result streams each principal may have open; `None`: unlimited.
    pub streams_per_principal: Option<usize>,
}

/// Binds `addr` for [`Gateway::serve`].
pub async fn bind(addr: std::net::SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })
}
