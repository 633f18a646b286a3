//! RunService: runs of the bench's suites on its devices through the pinned adapters, started
//! by a principal, watched as `RunEvent`s from any `after_seq`, cancelled, summarised.
//!
//! Every attempt a run finishes is stored through the result ingest the ResultService uses
//! (checked, reserved, durable before it is acknowledged, idempotent by `(source, run, seq)` with
//! source `gateway-run/<run id>`), attributed to the principal who started the run, and only
//! then published to watchers: a `case_finished` event a client sees is already durable.
//!
//! Runs are kept in memory: after a restart of the gateway the stored results remain, the run
//! records do not.

mod events;
mod plan;

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use futures::Stream;
use meterlab_proto::v1 as pb;
use meterlab_proto::v1::run_service_server::RunService;
use meterlab_runner::{CancelHandle, LinkConnector, RunEventKind, RunSettings, Runner, Timeouts};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use super::{Bench, principal_of};
use crate::ledger::Ledger;

/// Wall-clock time (the gateway stamps leases and runs with it).
#[allow(
    clippy::disallowed_methods,
    reason = "leases and runs are stamped with the wall clock"
)]
pub(crate) fn wall_clock() -> SystemTime {
    SystemTime::now()
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug)]
struct RunInner {
    state: pb::RunState,
    events: Vec<pb::RunEvent>,
    summary: pb::RunSummary,
    cancel: Option<CancelHandle>,
    cancel_requested: Option<String>,
}

/// One run the gateway started.
#[derive(Debug)]
struct RunRecord {
    run_id: String,
    principal: String,
    inner: Mutex<RunInner>,
    /// The last event's seq, and whether the run has finished.
    progress: watch::Sender<(u64, bool)>,
    /// Cancelled by CancelRun (also while the run is queued).
    cancelled: CancellationToken,
}

impl RunRecord {
    fn inner(&self) -> MutexGuard<'_, RunInner> {
        lock(&self.inner)
    }

    fn publish(&self, event: pb::RunEvent) {
        let seq = event.seq;
        let finished = matches!(event.event, Some(pb::run_event::Event::Finished(_)));
        self.inner().events.push(event);
        self.progress.send_replace((seq, finished));
    }

    fn summary(&self) -> pb::RunSummary {
        let inner = self.inner();
        pb::RunSummary {
            state: inner.state.into(),
            ..inner.summary.clone()
        }
    }
}

#[derive(Debug, Default)]
struct Registry {
    runs: HashMap<String, Arc<RunRecord>>,
    /// (principal, request_id) → run id.
    requests: HashMap<(String, String), String>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Starts, tracks and drains the gateway's runs.
#[derive(Debug)]
pub struct RunManager {
    bench: Arc<Bench>,
    ledger: Arc<Ledger>,
    registry: Mutex<Registry>,
    slots: Arc<Semaphore>,
    next: AtomicU64,
    draining: CancellationToken,
    /// Ends WatchRun streams when the server stops.
    stopping: CancellationToken,
}

impl RunManager {
    pub fn new(bench: Arc<Bench>, ledger: Arc<Ledger>) -> Self {
        let slots = Arc::new(Semaphore::new(bench.limits().run_concurrency.max(1)));
        Self {
            bench,
            ledger,
            registry: Mutex::default(),
            slots,
            next: AtomicU64::new(0),
            draining: CancellationToken::new(),
            stopping: CancellationToken::new(),
        }
    }

    fn run(&self, run_id: &str) -> Result<Arc<RunRecord>, Status> {
        lock(&self.registry)
            .runs
            .get(run_id)
            .cloned()
            .ok_or_else(|| Status::not_found(format!("no run {run_id:?} on this gateway")))
    }

    /// Stops the gateway's runs: queued runs do not start; running ones get `grace` to finish,
    /// then are cancelled (cases in flight end `blocked`, the rest `not_run`), and every result
    /// they finished is stored before this returns (bounded by `grace` twice over).
    pub async fn drain(&self, grace: Duration) {
        self.draining.cancel();
        let tasks: Vec<_> = std::mem::take(&mut lock(&self.registry).tasks);
        if tasks.is_empty() {
            return;
        }
        tracing::info!(
            runs = tasks.len(),
            grace_s = grace.as_secs(),
            "draining runs"
        );
        let all = futures::future::join_all(tasks);
        tokio::pin!(all);
        if tokio::time::timeout(grace, &mut all).await.is_ok() {
            return;
        }
        let records: Vec<_> = lock(&self.registry).runs.values().cloned().collect();
        for record in records {
            let mut inner = record.inner();
            if let Some(cancel) = &inner.cancel {
                cancel.cancel();
            }
            inner
                .cancel_requested
                .get_or_insert_with(|| "the gateway is shutting down".to_owned());
        }
        tracing::warn!(
            "runs still going after the drain time: cancelled, cases in flight end blocked"
        );
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::error!("runs did not end after cancellation; stopping without them");
        }
    }

    /// Ends every WatchRun stream (the server is stopping).
    pub fn stop_watches(&self) {
        self.stopping.cancel();
    }

    async fn start(
        self: &Arc<Self>,
        caller: &crate::auth::Principal,
        request: pb::StartRunRequest,
    ) -> Result<String, Status> {
        if self.draining.is_cancelled() {
            return Err(Status::unavailable(
                "the gateway is shutting down; start the run elsewhere or later",
            ));
        }
        let request_key = (caller.name.clone(), request.request_id.clone());
        if !request.request_id.is_empty()
            && let Some(run_id) = lock(&self.registry).requests.get(&request_key)
        {
            return Ok(run_id.clone());
        }
        let phase = request.phase.clone().unwrap_or_default();
        let phase_id =
            crate::convert::keys::phase_from_proto("phase", &request.phase).map_err(|e| {
                Status::invalid_argument(format!("invalid field {}: {}", e.field, e.message))
            })?;
        if !self
            .ledger
            .read(|projection, _| projection.phase(&phase_id).is_some())
        {
            return Err(Status::failed_precondition(format!(
                "phase {phase_id} is not registered in the governance log; plan it first"
            )));
        }
        let run_id = format!(
            "gw-{}-{}",
            wall_clock()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis()),
            self.next.fetch_add(1, Ordering::Relaxed) + 1
        );
        let bench = self.bench.clone();
        let planned = {
            let (run_id, request) = (run_id.clone(), request.clone());
            tokio::task::spawn_blocking(move || plan::plan(&bench, &run_id, &request))
                .await
                .map_err(|e| Status::internal(format!("planning the run failed: {e}")))??
        };
        let record = Arc::new(RunRecord {
            run_id: run_id.clone(),
            principal: caller.name.clone(),
            inner: Mutex::new(RunInner {
                state: pb::RunState::Queued,
                events: Vec::new(),
                summary: pb::RunSummary {
                    run_id: run_id.clone(),
                    phase: Some(phase.clone()),
                    suite: request.suite.clone(),
                    cases_total: planned.plan.cases_total(),
                    ..Default::default()
                },
                cancel: None,
                cancel_requested: None,
            }),
            progress: watch::channel((0, false)).0,
            cancelled: CancellationToken::new(),
        });
        {
            let mut registry = lock(&self.registry);
            // A concurrent StartRun with the same key may have won the race.
            if !request.request_id.is_empty()
                && let Some(run_id) = registry.requests.get(&request_key)
            {
                return Ok(run_id.clone());
            }
            registry.runs.insert(run_id.clone(), record.clone());
            if !request.request_id.is_empty() {
                registry.requests.insert(request_key, run_id.clone());
            }
        }
        self.bench.hand_over(&planned.device_ids, caller);
        tracing::info!(run = %run_id, principal = %caller.name, suite = %request.suite, "run started");
        let manager = self.clone();
        let task = tokio::spawn(async move { manager.execute(record, planned, phase).await });
        lock(&self.registry).tasks.push(task);
        Ok(run_id)
    }

    async fn execute(
        self: Arc<Self>,
        record: Arc<RunRecord>,
        planned: plan::Planned,
        phase: pb::PhaseKey,
    ) {
        let slot = tokio::select! {
            slot = self.slots.clone().acquire_owned() => slot.ok(),
            () = self.draining.cancelled() => None,
            () = record.cancelled.cancelled() => None,
        };
        if slot.is_none() || record.inner().cancel_requested.is_some() {
            let reason = record
                .inner()
                .cancel_requested
                .clone()
                .unwrap_or_else(|| "the gateway is shutting down".to_owned());
            self.finish_unstarted(&record, &reason);
            return;
        }
        {
            let mut inner = record.inner();
            inner.state = pb::RunState::Running;
            inner.summary.started_at = Some(wall_clock().into());
        }
        let mut planned = planned;
        self.continue_attempts(&mut planned.plan, &phase);
        let limits = *self.bench.limits();
        let settings = RunSettings {
            jobs: limits.run_jobs,
            retry: planned.retry,
            timeouts: Timeouts {
                step: Duration::from_secs(60),
                exchange: Duration::from_secs(3),
                ..Timeouts::default()
            },
            ..RunSettings::default()
        };
        let mut runner = Runner::new(planned.plugin, LinkConnector::default(), settings)
            .with_leases(self.bench.leases().clone());
        if let Some(optical) = planned.optical_plugin {
            runner = runner.with_optical_plugin(optical);
        }
        let mut events = runner.subscribe();
        {
            let mut inner = record.inner();
            let cancel = runner.cancel_handle();
            if inner.cancel_requested.is_some() {
                cancel.cancel();
            }
            inner.cancel = Some(cancel);
        }
        let source = format!("gateway-run/{}", record.run_id);
        let consume = async {
            let mut stored_seq = 0u64;
            let mut store_error: Option<String> = None;
            while let Some(event) = events.recv().await {
                let mut proto = events::event_to_proto(&event, &phase);
                match &event.kind {
                    RunEventKind::DeviceChecked(health) => self.bench.record_health(health.clone()),
                    RunEventKind::CaseFinished(result) => {
                        stored_seq += 1;
                        let submit = pb::SubmitResult {
                            key: Some(pb::ResultKey {
                                source: source.clone(),
                                run_id: record.run_id.clone(),
                                seq: stored_seq,
                            }),
                            result: Some(events::result_to_proto(result, &phase)),
                        };
                        if let Err(error) =
                            crate::results::ingest_local(&self.ledger, submit, &record.principal)
                                .await
                        {
                            tracing::error!(run = %record.run_id, %error, "a run result was not stored");
                            store_error.get_or_insert(format!(
                                "result of case {} on {} (attempt {}) not stored: {error}",
                                result.case_id, result.device_id, result.attempt
                            ));
                        }
                    }
                    RunEventKind::Finished(_) => {
                        let state = {
                            let mut inner = record.inner();
                            if let Some(pb::run_event::Event::Finished(summary)) = &mut proto.event
                            {
                                if let Some(error) = &store_error {
                                    summary.error = error.clone();
                                }
                                let state = if store_error.is_some() {
                                    pb::RunState::Errored
                                } else if let Some(reason) = &inner.cancel_requested {
                                    // The runner's summary may carry no reason (say, cancelled
                                    // before its first case): the watcher still learns why.
                                    if summary.error.is_empty() {
                                        summary.error = format!("cancelled: {reason}");
                                    }
                                    pb::RunState::Cancelled
                                } else {
                                    pb::RunState::Finished
                                };
                                summary.state = state.into();
                                summary.phase = inner.summary.phase.clone();
                                summary.suite = inner.summary.suite.clone();
                                summary.started_at = inner.summary.started_at;
                                summary.finished_at = Some(wall_clock().into());
                                inner.summary = summary.clone();
                                inner.state = state;
                            }
                            inner.state
                        };
                        tracing::info!(run = %record.run_id, state = state.as_str_name(), "run finished");
                    }
                    _ => {}
                }
                record.publish(proto);
            }
        };
        let (_summary, ()) = tokio::join!(runner.run(planned.plan), consume);
        drop(slot);
    }

    /// Numbers each case's attempts on a device after those the phase already records (an
    /// earlier run, gateway or remote), so a re-run adds attempts instead of colliding.
    fn continue_attempts(&self, plan: &mut meterlab_runner::RunPlan, phase: &pb::PhaseKey) {
        let Ok(phase_id) = crate::convert::keys::phase_from_proto("phase", &Some(phase.clone()))
        else {
            return;
        };
        self.ledger.read(|projection, _| {
            let Some(state) = projection.phase(&phase_id) else {
                return;
            };
            for unit in &mut plan.units {
                let device = unit.target.id().to_owned();
                for planned in &mut unit.cases {
                    let case = meterlab_governance::model::CaseId::new(planned.case.id());
                    if let Some(last) = state.case(&case).and_then(|c| c.last_on(&device)) {
                        planned.attempts_before = planned.attempts_before.max(last.attempt);
                    }
                }
            }
        });
    }

    fn finish_unstarted(&self, record: &RunRecord, reason: &str) {
        let summary = {
            let mut inner = record.inner();
            inner.state = pb::RunState::Cancelled;
            inner.summary.not_run = inner.summary.cases_total;
            inner.summary.error = reason.to_owned();
            inner.summary.finished_at = Some(wall_clock().into());
            pb::RunSummary {
                state: pb::RunState::Cancelled.into(),
                ..inner.summary.clone()
            }
        };
        let seq = record.inner().events.len() as u64 + 1;
        record.publish(pb::RunEvent {
            run_id: record.run_id.clone(),
            seq,
            at: Some(wall_clock().into()),
            event: Some(pb::run_event::Event::Finished(summary)),
        });
    }
}

/// The RunService implementation.
#[derive(Debug, Clone)]
pub struct RunServiceImpl {
    manager: Arc<RunManager>,
}

impl RunServiceImpl {
    pub fn new(manager: Arc<RunManager>) -> Self {
        Self { manager }
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::RunEvent, Status>> + Send>>;

#[tonic::async_trait]
impl RunService for RunServiceImpl {
    type WatchRunStream = EventStream;

    async fn start_run(
        &self,
        request: Request<pb::StartRunRequest>,
    ) -> Result<Response<pb::StartRunResponse>, Status> {
        let caller = principal_of(&request);
        let run_id = self.manager.start(&caller, request.into_inner()).await?;
        Ok(Response::new(pb::StartRunResponse { run_id }))
    }

    async fn watch_run(
        &self,
        request: Request<pb::WatchRunRequest>,
    ) -> Result<Response<Self::WatchRunStream>, Status> {
        let r = request.into_inner();
        let record = self.manager.run(&r.run_id)?;
        let stopping = self.manager.stopping.clone();
        let (out, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            let mut progress = record.progress.subscribe();
            let mut cursor = r.after_seq;
            loop {
                let pending: Vec<pb::RunEvent> = {
                    let inner = record.inner();
                    let start = inner.events.partition_point(|e| e.seq <= cursor);
                    inner.events[start..].to_vec()
                };
                let mut finished = false;
                for event in pending {
                    cursor = event.seq;
                    finished |= matches!(event.event, Some(pb::run_event::Event::Finished(_)));
                    tokio::select! {
                        sent = out.send(Ok(event)) => if sent.is_err() { return },
                        () = stopping.cancelled() => return,
                    }
                }
                // A watcher that resumes after the last event gets the stream's end at once.
                if finished || (progress.borrow().1 && cursor >= progress.borrow().0) {
                    return;
                }
                tokio::select! {
                    changed = progress.changed() => if changed.is_err() { return },
                    () = stopping.cancelled() => {
                        let _ = out.try_send(Err(Status::unavailable(
                            "the gateway is shutting down; watch again from the last seq",
                        )));
                        return;
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn cancel_run(
        &self,
        request: Request<pb::CancelRunRequest>,
    ) -> Result<Response<pb::CancelRunResponse>, Status> {
        let caller = principal_of(&request);
        let r = request.into_inner();
        let record = self.manager.run(&r.run_id)?;
        let state = {
            let mut inner = record.inner();
            if matches!(inner.state, pb::RunState::Queued | pb::RunState::Running) {
                let reason = if r.reason.trim().is_empty() {
                    format!("cancelled by {}", caller.name)
                } else {
                    format!("cancelled by {}: {}", caller.name, r.reason.trim())
                };
                inner.cancel_requested.get_or_insert(reason);
                if let Some(cancel) = &inner.cancel {
                    cancel.cancel();
                }
                record.cancelled.cancel();
                tracing::info!(run = %r.run_id, principal = %caller.name, "run cancel requested");
            }
            inner.state
        };
        Ok(Response::new(pb::CancelRunResponse {
            state: state.into(),
        }))
    }

    async fn get_run(
        &self,
        request: Request<pb::GetRunRequest>,
    ) -> Result<Response<pb::RunSummary>, Status> {
        let record = self.manager.run(&request.into_inner().run_id)?;
        Ok(Response::new(record.summary()))
    }
}
