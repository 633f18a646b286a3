//! A run's record: its live state and events in memory, and the durable part in the store's log
//! so that a restarted gateway still knows its runs.
//!
//! The log holds [`RUN_KIND`] events (`started` with the run's request, `resumed`, `finished`
//! with its end state) beside the run's results (source `gateway-run/<run id>`). On start the
//! gateway reads both back ([`rebuild`]): a run with a `started` and no `finished` after its
//! last `started`/`resumed` was cut off by the restart and is `INTERRUPTED`. Its events are
//! rebuilt from what is durable — one `case_finished` per stored result, then `finished` — so
//! their seqs differ from those the run published live.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use meterlab_proto::v1 as pb;
use meterlab_runner::CancelHandle;
use meterlab_store::{Payload, Store, StoreError};
use prost::Message as _;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::lock;

/// Store `kind` of a run's lifecycle event.
pub const RUN_KIND: &str = "meterlab.gateway.run/1";

/// The ingest source of a run's results.
pub(crate) fn result_source(run_id: &str) -> String {
    format!("gateway-run/{run_id}")
}

/// A run's lifecycle event as stored (JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(crate) enum RunLogEvent {
    Started {
        run_id: String,
        principal: String,
        /// The `StartRunRequest`, protobuf-encoded, in hex: resuming replans from it.
        request: String,
        cases_total: u32,
        device_ids: Vec<String>,
        at_ms: i64,
    },
    Resumed {
        run_id: String,
        principal: String,
        at_ms: i64,
    },
    Finished {
        run_id: String,
        state: String,
        error: String,
        at_ms: i64,
    },
}

fn ms(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn from_ms(at_ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(at_ms).unwrap_or(0))
}

impl RunLogEvent {
    pub(crate) fn started(
        run_id: &str,
        principal: &str,
        request: &pb::StartRunRequest,
        cases_total: u32,
        device_ids: &[String],
        at: SystemTime,
    ) -> Self {
        Self::Started {
            run_id: run_id.to_owned(),
            principal: principal.to_owned(),
            request: hex::encode(request.encode_to_vec()),
            cases_total,
            device_ids: device_ids.to_vec(),
            at_ms: ms(at),
        }
    }

    pub(crate) fn resumed(run_id: &str, principal: &str, at: SystemTime) -> Self {
        Self::Resumed {
            run_id: run_id.to_owned(),
            principal: principal.to_owned(),
            at_ms: ms(at),
        }
    }

    pub(crate) fn finished(run_id: &str, state: pb::RunState, error: &str, at: SystemTime) -> Self {
        Self::Finished {
            run_id: run_id.to_owned(),
            state: state.as_str_name().to_owned(),
            error: error.to_owned(),
            at_ms: ms(at),
        }
    }

    /// Appends the event to the log durably.
    pub(crate) async fn append(&self, store: &Store) -> Result<(), String> {
        let body = serde_json::to_vec(self).map_err(|e| e.to_string())?;
        store
            .append(Payload::new(RUN_KIND, body), crate::ledger::now_ms())
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// The results a run recorded for one case on one device.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tally {
    pub last: pb::CaseStatus,
    pub attempts: u32,
    pub last_attempt: u32,
}

impl Tally {
    /// Passed or failed: the case does not run again when the run is resumed.
    pub fn is_final(&self) -> bool {
        matches!(self.last, pb::CaseStatus::Passed | pb::CaseStatus::Failed)
    }
}

#[derive(Debug)]
pub(crate) struct RunInner {
    pub state: pb::RunState,
    pub events: Vec<pb::RunEvent>,
    /// Identity, phase, suite, cases_total, times, error; the counts come from `tallies`.
    pub summary: pb::RunSummary,
    pub request: pb::StartRunRequest,
    /// (case, device) → what the run recorded for it.
    pub tallies: BTreeMap<(String, String), Tally>,
    /// The last `seq` of the run's results in the store.
    pub stored_seq: u64,
    pub cancel: Option<CancelHandle>,
    pub cancel_requested: Option<String>,
    /// Cancelled by CancelRun (also while the run is queued); replaced when it is resumed.
    pub cancelled: CancellationToken,
}

impl RunInner {
    pub fn tally(&mut self, result: &pb::TestCaseResult) {
        let tally = self
            .tallies
            .entry((result.case_id.clone(), result.device_id.clone()))
            .or_insert(Tally {
                last: pb::CaseStatus::Unspecified,
                attempts: 0,
                last_attempt: 0,
            });
        // Results arrive in attempt order per case and device; the highest attempt counts.
        if result.attempt >= tally.last_attempt {
            tally.last = result.status();
            tally.last_attempt = result.attempt;
        }
        tally.attempts += 1;
    }

    /// The summary with the counts of the run's results (a case without a final result counts
    /// as `not_run` once the run has ended).
    pub fn summary(&self) -> pb::RunSummary {
        let mut summary = pb::RunSummary {
            state: self.state.into(),
            passed: 0,
            failed: 0,
            blocked: 0,
            not_run: 0,
            flaky: 0,
            ..self.summary.clone()
        };
        for tally in self.tallies.values() {
            match tally.last {
                pb::CaseStatus::Passed => {
                    summary.passed += 1;
                    if tally.attempts > 1 {
                        summary.flaky += 1;
                    }
                }
                pb::CaseStatus::Failed => summary.failed += 1,
                pb::CaseStatus::Blocked => summary.blocked += 1,
                _ => summary.not_run += 1,
            }
        }
        if !matches!(self.state, pb::RunState::Queued | pb::RunState::Running) {
            let counted = summary.passed + summary.failed + summary.blocked + summary.not_run;
            summary.not_run += summary.cases_total.saturating_sub(counted);
        }
        summary
    }

    pub fn last_seq(&self) -> u64 {
        self.events.last().map_or(0, |e| e.seq)
    }

    pub fn is_active(&self) -> bool {
        matches!(self.state, pb::RunState::Queued | pb::RunState::Running)
    }
}

/// One run the gateway knows.
#[derive(Debug)]
pub(crate) struct RunRecord {
    pub run_id: String,
    pub principal: String,
    pub inner: Mutex<RunInner>,
    /// The last event's seq, and whether the run has finished.
    pub progress: watch::Sender<(u64, bool)>,
}

impl RunRecord {
    pub fn new(run_id: String, principal: String, inner: RunInner) -> Self {
        let at = (inner.last_seq(), !inner.is_active());
        Self {
            run_id,
            principal,
            inner: Mutex::new(inner),
            progress: watch::channel(at).0,
        }
    }

    pub fn inner(&self) -> MutexGuard<'_, RunInner> {
        lock(&self.inner)
    }

    pub fn publish(&self, event: pb::RunEvent) {
        let seq = event.seq;
        let finished = matches!(event.event, Some(pb::run_event::Event::Finished(_)));
        self.inner().events.push(event);
        self.progress.send_replace((seq, finished));
    }

    pub fn summary(&self) -> pb::RunSummary {
        self.inner().summary()
    }
}

/// The runs found in the log, in the order they were started.
#[derive(Debug, Default)]
pub(crate) struct Rebuilt {
    pub runs: Vec<Arc<RunRecord>>,
}

fn state_named(name: &str) -> pb::RunState {
    pb::RunState::from_str_name(name).unwrap_or(pb::RunState::Errored)
}

/// Reads the runs and their results back from the log. Blocking (it reads the whole log).
pub(crate) fn rebuild(store: &Store) -> Result<Rebuilt, StoreError> {
    const PAGE: usize = 2048;
    let mut order: Vec<String> = Vec::new();
    let mut runs: HashMap<String, (String, RunInner)> = HashMap::new();
    let mut results: HashMap<String, Vec<(u64, pb::TestCaseResult, i64)>> = HashMap::new();
    let mut from = 1;
    loop {
        let page = store.read_range(from, PAGE)?;
        let Some(last) = page.last() else { break };
        from = last.seq + 1;
        for event in &page {
            if event.payload.kind == RUN_KIND {
                let parsed: RunLogEvent = match serde_json::from_slice(&event.payload.body) {
                    Ok(parsed) => parsed,
                    Err(error) => {
                        tracing::warn!(seq = event.seq, %error, "unreadable run record skipped");
                        continue;
                    }
                };
                apply(&mut runs, &mut order, parsed, event.seq);
            } else if event.payload.kind == crate::convert::result::RESULT_KIND
                && let Some(key) = &event.key
                && let Some(run_id) = key.source.strip_prefix("gateway-run/")
                && let Ok(submit) = pb::SubmitResult::decode(event.payload.body.as_slice())
                && let Some(result) = submit.result
            {
                results.entry(run_id.to_owned()).or_default().push((
                    key.seq,
                    result,
                    event.timestamp_ms,
                ));
            }
        }
    }
    let mut rebuilt = Rebuilt::default();
    for run_id in order {
        let Some((principal, mut inner)) = runs.remove(&run_id) else {
            continue;
        };
        let mut seq = 0;
        for (stored_seq, result, at_ms) in results.remove(&run_id).unwrap_or_default() {
            inner.stored_seq = inner.stored_seq.max(stored_seq);
            inner.tally(&result);
            seq += 1;
            inner.events.push(pb::RunEvent {
                run_id: run_id.clone(),
                seq,
                at: Some(from_ms(at_ms).into()),
                event: Some(pb::run_event::Event::CaseFinished(result)),
            });
        }
        if inner.state == pb::RunState::Running {
            inner.state = pb::RunState::Interrupted;
            inner.summary.error =
                "interrupted: the gateway stopped before the run finished".to_owned();
        }
        let summary = inner.summary();
        inner.events.push(pb::RunEvent {
            run_id: run_id.clone(),
            seq: seq + 1,
            at: summary.finished_at.or(summary.started_at),
            event: Some(pb::run_event::Event::Finished(summary)),
        });
        rebuilt
            .runs
            .push(Arc::new(RunRecord::new(run_id, principal, inner)));
    }
    Ok(rebuilt)
}

fn apply(
    runs: &mut HashMap<String, (String, RunInner)>,
    order: &mut Vec<String>,
    event: RunLogEvent,
    seq: u64,
) {
    match event {
        RunLogEvent::Started {
            run_id,
            principal,
            request,
            cases_total,
            at_ms,
            ..
        } => {
            let request = hex::decode(&request)
                .ok()
                .and_then(|bytes| pb::StartRunRequest::decode(bytes.as_slice()).ok());
            let Some(request) = request else {
                tracing::warn!(seq, run = %run_id, "run record with an unreadable request skipped");
                return;
            };
            let inner = RunInner {
                state: pb::RunState::Running,
                events: Vec::new(),
                summary: pb::RunSummary {
                    run_id: run_id.clone(),
                    phase: request.phase.clone(),
                    suite: request.suite.clone(),
                    cases_total,
                    started_at: Some(from_ms(at_ms).into()),
                    started_by: principal.clone(),
                    ..Default::default()
                },
                request,
                tallies: BTreeMap::new(),
                stored_seq: 0,
                cancel: None,
                cancel_requested: None,
                cancelled: CancellationToken::new(),
            };
            if runs.insert(run_id.clone(), (principal, inner)).is_none() {
                order.push(run_id);
            }
        }
        RunLogEvent::Resumed { run_id, .. } => {
            if let Some((_, inner)) = runs.get_mut(&run_id) {
                inner.state = pb::RunState::Running;
                inner.summary.resumes += 1;
                inner.summary.finished_at = None;
                inner.summary.error.clear();
            }
        }
        RunLogEvent::Finished {
            run_id,
            state,
            error,
            at_ms,
        } => {
            if let Some((_, inner)) = runs.get_mut(&run_id) {
                inner.state = state_named(&state);
                inner.summary.error = error;
                inner.summary.finished_at = Some(from_ms(at_ms).into());
            }
        }
    }
}
