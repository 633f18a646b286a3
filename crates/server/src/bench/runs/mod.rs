//! RunService: runs of the bench's suites on its devices through the pinned adapters, started
//! by a principal, watched as `RunEvent`s from any `after_seq`, cancelled, summarised, listed,
//! and resumed after an interruption.
//!
//! Every attempt a run finishes is stored through the result ingest the ResultService uses
//! (checked, reserved, durable before it is acknowledged, idempotent by `(source, run, seq)` with
//! source `gateway-run/<run id>`), attributed to the principal who started the run, and only
//! then published to watchers: a `case_finished` event a client sees is already durable.
//!
//! A run's start, resumptions and end are recorded in the store's log too ([`record`]), so a
//! restarted gateway still answers GetRun, WatchRun and ListRuns for the runs it had, shows a
//! run the restart cut off as `INTERRUPTED`, and can resume it: only the cases without a final
//! result run again, under the same run id, attempt numbers continuing.

mod events;
#[cfg(test)]
mod evidence_tests;
mod plan;
mod record;
mod resume;
mod service;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use meterlab_proto::v1 as pb;
use meterlab_runner::{LinkConnector, RunEventKind, RunSettings, Runner, Timeouts};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tonic::Status;

use super::Bench;
use crate::auth::Principal;
use crate::evidence::EvidenceStore;
use crate::ledger::Ledger;
pub use record::RUN_KIND;
use record::{RunInner, RunLogEvent, RunRecord};
pub use service::RunServiceImpl;

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

fn nothing_to_resume(run_id: &str) -> Status {
    Status::failed_precondition(format!(
        "run {run_id} has nothing to resume: every case has a final result (passed or failed)"
    ))
}

#[derive(Debug, Default)]
struct Registry {
    runs: HashMap<String, Arc<RunRecord>>,
    /// Run ids in the order the runs were started.
    order: Vec<String>,
    /// (principal, request_id) → run id.
    requests: HashMap<(String, String), String>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Registry {
    fn insert(&mut self, record: Arc<RunRecord>) {
        let request_id = record.inner().request.request_id.clone();
        if !request_id.is_empty() {
            self.requests.insert(
                (record.principal.clone(), request_id),
                record.run_id.clone(),
            );
        }
        self.order.push(record.run_id.clone());
        self.runs.insert(record.run_id.clone(), record);
    }
}

/// Starts, tracks and drains the gateway's runs.
#[derive(Debug)]
pub struct RunManager {
    bench: Arc<Bench>,
    ledger: Arc<Ledger>,
    /// Where each result's evidence document is kept before the result is stored.
    evidence: Arc<EvidenceStore>,
    registry: Mutex<Registry>,
    slots: Arc<Semaphore>,
    next: AtomicU64,
    draining: CancellationToken,
    /// Ends WatchRun streams when the server stops.
    stopping: CancellationToken,
}

impl RunManager {
    /// The gateway's runs, with those its store recorded before this start (blocking: it reads
    /// the log); their evidence documents are kept in `evidence`.
    pub fn new(bench: Arc<Bench>, ledger: Arc<Ledger>, evidence: Arc<EvidenceStore>) -> Self {
        let slots = Arc::new(Semaphore::new(bench.limits().run_concurrency.max(1)));
        let mut registry = Registry::default();
        match record::rebuild(ledger.store()) {
            Ok(rebuilt) => {
                if !rebuilt.runs.is_empty() {
                    tracing::info!(runs = rebuilt.runs.len(), "runs read back from the store");
                }
                for run in rebuilt.runs {
                    registry.insert(run);
                }
            }
            Err(error) => {
                tracing::error!(%error, "the runs recorded in the store could not be read back");
            }
        }
        Self {
            bench,
            ledger,
            evidence,
            registry: Mutex::new(registry),
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

    /// The runs, newest first, optionally only those in `state`.
    fn list(&self, state: pb::RunState, limit: usize) -> Vec<pb::RunSummary> {
        let registry = lock(&self.registry);
        registry
            .order
            .iter()
            .rev()
            .filter_map(|id| registry.runs.get(id))
            .map(|record| record.summary())
            .filter(|s| state == pb::RunState::Unspecified || s.state() == state)
            .take(limit)
            .collect()
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
            if !inner.is_active() {
                continue;
            }
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

    async fn plan(
        &self,
        run_id: &str,
        request: &pb::StartRunRequest,
    ) -> Result<plan::Planned, Status> {
        let bench = self.bench.clone();
        let (run_id, request) = (run_id.to_owned(), request.clone());
        tokio::task::spawn_blocking(move || plan::plan(&bench, &run_id, &request))
            .await
            .map_err(|e| Status::internal(format!("planning the run failed: {e}")))?
    }

    async fn start(
        self: &Arc<Self>,
        caller: &Principal,
        request: pb::StartRunRequest,
    ) -> Result<String, Status> {
        if self.draining.is_cancelled() {
            return Err(Status::unavailable(
                "the gateway is shutting down; start the run elsewhere or later",
            ));
        }
        if !request.resume_run_id.trim().is_empty() {
            return self.resume(caller, request.resume_run_id.trim()).await;
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
        let started_at = wall_clock();
        let run_id = format!(
            "gw-{}-{}",
            started_at
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis()),
            self.next.fetch_add(1, Ordering::Relaxed) + 1
        );
        let planned = self.plan(&run_id, &request).await?;
        let cases_total = planned.plan.cases_total();
        let record = Arc::new(RunRecord::new(
            run_id.clone(),
            caller.name.clone(),
            RunInner {
                state: pb::RunState::Queued,
                events: Vec::new(),
                summary: pb::RunSummary {
                    run_id: run_id.clone(),
                    phase: Some(phase.clone()),
                    suite: request.suite.clone(),
                    cases_total,
                    started_at: Some(started_at.into()),
                    started_by: caller.name.clone(),
                    ..Default::default()
                },
                request: request.clone(),
                tallies: Default::default(),
                stored_seq: 0,
                cancel: None,
                cancel_requested: None,
                cancelled: CancellationToken::new(),
            },
        ));
        {
            let mut registry = lock(&self.registry);
            // A concurrent StartRun with the same key may have won the race.
            if !request.request_id.is_empty()
                && let Some(run_id) = registry.requests.get(&request_key)
            {
                return Ok(run_id.clone());
            }
            registry.insert(record.clone());
        }
        let started = RunLogEvent::started(
            &run_id,
            &caller.name,
            &request,
            cases_total,
            &planned.device_ids,
            started_at,
        );
        if let Err(error) = started.append(self.ledger.store()).await {
            let mut registry = lock(&self.registry);
            registry.runs.remove(&run_id);
            registry.order.retain(|id| *id != run_id);
            registry.requests.remove(&request_key);
            tracing::error!(run = %run_id, %error, "the run could not be recorded");
            return Err(Status::unavailable(format!(
                "the run could not be recorded in the store: {error}"
            )));
        }
        self.bench.hand_over(&planned.device_ids, caller);
        tracing::info!(run = %run_id, principal = %caller.name, suite = %request.suite, "run started");
        self.spawn(record, planned, phase, 0);
        Ok(run_id)
    }

    fn spawn(
        self: &Arc<Self>,
        record: Arc<RunRecord>,
        planned: plan::Planned,
        phase: pb::PhaseKey,
        base_seq: u64,
    ) {
        let manager = self.clone();
        let task =
            tokio::spawn(async move { manager.execute(record, planned, phase, base_seq).await });
        lock(&self.registry).tasks.push(task);
    }

    async fn execute(
        self: Arc<Self>,
        record: Arc<RunRecord>,
        planned: plan::Planned,
        phase: pb::PhaseKey,
        base_seq: u64,
    ) {
        let cancelled = record.inner().cancelled.clone();
        let slot = tokio::select! {
            slot = self.slots.clone().acquire_owned() => slot.ok(),
            () = self.draining.cancelled() => None,
            () = cancelled.cancelled() => None,
        };
        if slot.is_none() || record.inner().cancel_requested.is_some() {
            let reason = record
                .inner()
                .cancel_requested
                .clone()
                .unwrap_or_else(|| "the gateway is shutting down".to_owned());
            self.finish_unstarted(&record, &reason).await;
            return;
        }
        record.inner().state = pb::RunState::Running;
        let mut planned = planned;
        self.continue_attempts(&record, &mut planned.plan, &phase);
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
        let source = record::result_source(&record.run_id);
        let consume = async {
            let mut store_error: Option<String> = None;
            while let Some(event) = events.recv().await {
                let mut proto = events::event_to_proto(&event, &phase);
                proto.seq += base_seq;
                match &event.kind {
                    RunEventKind::DeviceChecked(health) => self.bench.record_health(health.clone()),
                    RunEventKind::CaseFinished(result) => {
                        match self.store_result(&record, &source, result, &phase).await {
                            Ok(stored) => {
                                record.inner().tally(&stored);
                                // Watchers see the attempt number the result is stored under.
                                proto.event = Some(pb::run_event::Event::CaseFinished(stored));
                            }
                            Err(error) => {
                                tracing::error!(run = %record.run_id, %error, "a run result was not stored");
                                store_error.get_or_insert(format!(
                                    "result of case {} on {} (attempt {}) not stored: {error}",
                                    result.case_id, result.device_id, result.attempt
                                ));
                            }
                        }
                    }
                    RunEventKind::Finished(runner_summary) => {
                        let (state, error) = {
                            let inner = record.inner();
                            let mut error = runner_summary.error.clone().unwrap_or_default();
                            if let Some(store_error) = &store_error {
                                error = store_error.clone();
                            }
                            let state = if store_error.is_some() {
                                pb::RunState::Errored
                            } else if let Some(reason) = &inner.cancel_requested {
                                // The runner's summary may carry no reason (say, cancelled
                                // before its first case): the watcher still learns why.
                                if error.is_empty() {
                                    error = format!("cancelled: {reason}");
                                }
                                pb::RunState::Cancelled
                            } else {
                                pb::RunState::Finished
                            };
                            (state, error)
                        };
                        let summary = self.end(&record, state, &error).await;
                        proto.event = Some(pb::run_event::Event::Finished(summary));
                    }
                    _ => {}
                }
                record.publish(proto);
            }
        };
        let (_summary, ()) = tokio::join!(runner.run(planned.plan), consume);
        drop(slot);
    }

    /// Stores one result of the run under its next seq. An attempt number another writer holds
    /// for the same phase, case and device (another run on the device, a remote stream) is
    /// refused before anything is written: the result takes the next number instead, so
    /// concurrent runs never collide. Its evidence document is kept durably first, so no stored
    /// result lacks it: a document that cannot be kept refuses the result. Answers the result as
    /// stored.
    async fn store_result(
        &self,
        record: &RunRecord,
        source: &str,
        result: &meterlab_runner::CaseResult,
        phase: &pb::PhaseKey,
    ) -> Result<pb::TestCaseResult, crate::results::LocalRefusal> {
        /// More writers than this on one case and device at once is not a lab.
        const RENUMBER_LIMIT: u32 = 64;
        self.keep_evidence(result).await?;
        let seq = {
            let mut inner = record.inner();
            inner.stored_seq += 1;
            inner.stored_seq
        };
        let mut stored = events::result_to_proto(result, phase);
        let mut renumbered = 0;
        loop {
            let submit = pb::SubmitResult {
                key: Some(pb::ResultKey {
                    source: source.to_owned(),
                    run_id: record.run_id.clone(),
                    seq,
                }),
                result: Some(stored.clone()),
            };
            match crate::results::ingest_local(&self.ledger, submit, &record.principal).await {
                Ok(_) => return Ok(stored),
                Err(crate::results::LocalRefusal::AttemptTaken(taken))
                    if renumbered < RENUMBER_LIMIT =>
                {
                    tracing::debug!(run = %record.run_id, %taken, "attempt number taken; the next one");
                    stored.attempt += 1;
                    renumbered += 1;
                }
                Err(refusal) => return Err(refusal),
            }
        }
    }

    /// Keeps the evidence document of `result` in the evidence directory, durably.
    async fn keep_evidence(
        &self,
        result: &meterlab_runner::CaseResult,
    ) -> Result<(), crate::results::LocalRefusal> {
        let evidence = self.evidence.clone();
        let (sha256, document) = (result.evidence_sha256, result.evidence_json.clone());
        tokio::task::spawn_blocking(move || evidence.put(&sha256, document.as_bytes()))
            .await
            .map_err(|e| format!("keeping its evidence failed: {e}"))?
            .map_err(|e| format!("its evidence was not kept, so it was not stored: {e}"))?;
        Ok(())
    }

    /// Records the run's end durably, then in memory; answers the final summary.
    async fn end(&self, record: &RunRecord, state: pb::RunState, error: &str) -> pb::RunSummary {
        let at = wall_clock();
        let finished = RunLogEvent::finished(&record.run_id, state, error, at);
        let mut error = error.to_owned();
        if let Err(store) = finished.append(self.ledger.store()).await {
            // Its results are stored; after a restart the run shows as interrupted.
            tracing::error!(run = %record.run_id, %store, "the run's end could not be recorded");
            if error.is_empty() {
                error = format!("the run's end could not be recorded in the store: {store}");
            }
        }
        let summary = {
            let mut inner = record.inner();
            inner.state = state;
            inner.summary.error = error;
            inner.summary.finished_at = Some(at.into());
            inner.summary()
        };
        tracing::info!(run = %record.run_id, state = state.as_str_name(), "run finished");
        summary
    }

    /// Numbers each case's attempts on a device after those the phase already records (an
    /// earlier run, gateway or remote) and those this run recorded (a resumed run on a lab
    /// gateway, whose phases are upstream), so a re-run adds attempts instead of colliding.
    fn continue_attempts(
        &self,
        record: &RunRecord,
        plan: &mut meterlab_runner::RunPlan,
        phase: &pb::PhaseKey,
    ) {
        {
            let inner = record.inner();
            for unit in &mut plan.units {
                let device = unit.target.id().to_owned();
                for planned in &mut unit.cases {
                    if let Some(tally) = inner
                        .tallies
                        .get(&(planned.case.id().to_owned(), device.clone()))
                    {
                        planned.attempts_before = planned.attempts_before.max(tally.last_attempt);
                    }
                }
            }
        }
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

    async fn finish_unstarted(&self, record: &RunRecord, reason: &str) {
        let summary = self.end(record, pb::RunState::Cancelled, reason).await;
        let seq = record.inner().last_seq() + 1;
        record.publish(pb::RunEvent {
            run_id: record.run_id.clone(),
            seq,
            at: Some(wall_clock().into()),
            event: Some(pb::run_event::Event::Finished(summary)),
        });
    }
}
