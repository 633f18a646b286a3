//! Resuming an ended run: its cases without a final result run again under its id.

use std::collections::HashSet;
use std::sync::Arc;

use meterlab_proto::v1 as pb;
use tokio_util::sync::CancellationToken;
use tonic::Status;

use super::record::RunLogEvent;
use super::{RunManager, nothing_to_resume, wall_clock};
use crate::auth::{Principal, Role};

impl RunManager {
    /// Runs again the cases of an ended run that have no final result, under its id.
    pub(super) async fn resume(
        self: &Arc<Self>,
        caller: &Principal,
        run_id: &str,
    ) -> Result<String, Status> {
        let record = self.run(run_id).map_err(|_| {
            Status::not_found(format!(
                "invalid field resume_run_id: no run {run_id:?} on this gateway"
            ))
        })?;
        if record.principal != caller.name && caller.role != Role::Admin {
            return Err(Status::permission_denied(format!(
                "run {run_id} was started by another principal; only they or an admin may \
                 resume it"
            )));
        }
        let (request, done) = {
            let inner = record.inner();
            if inner.is_active() {
                // Already running (a repeated resume): the same run.
                return Ok(run_id.to_owned());
            }
            let done: HashSet<(String, String)> = inner
                .tallies
                .iter()
                .filter(|(_, tally)| tally.is_final())
                .map(|(key, _)| key.clone())
                .collect();
            if done.len() >= inner.summary.cases_total as usize {
                return Err(nothing_to_resume(run_id));
            }
            (inner.request.clone(), done)
        };
        let mut planned = self.plan(run_id, &request).await?;
        for unit in &mut planned.plan.units {
            let device = unit.target.id().to_owned();
            unit.cases
                .retain(|c| !done.contains(&(c.case.id().to_owned(), device.clone())));
        }
        planned.plan.units.retain(|unit| !unit.cases.is_empty());
        if planned.plan.units.is_empty() {
            return Err(nothing_to_resume(run_id));
        }
        planned.device_ids = planned
            .plan
            .units
            .iter()
            .map(|u| u.target.id().to_owned())
            .collect();
        // Claimed before the durable record, so that a concurrent resume answers the run id
        // instead of resuming it twice.
        let previous = {
            let mut inner = record.inner();
            if inner.is_active() {
                return Ok(run_id.to_owned());
            }
            let previous = (inner.state, inner.summary.clone());
            inner.state = pb::RunState::Queued;
            previous
        };
        let resumed = RunLogEvent::resumed(run_id, &caller.name, wall_clock());
        if let Err(error) = resumed.append(self.ledger.store()).await {
            let mut inner = record.inner();
            inner.state = previous.0;
            inner.summary = previous.1;
            return Err(Status::unavailable(format!(
                "the resumption could not be recorded in the store: {error}"
            )));
        }
        let base_seq = {
            let mut inner = record.inner();
            let base = inner.last_seq();
            // The run goes on: its end is published again when it ends.
            if matches!(
                inner.events.last().and_then(|e| e.event.as_ref()),
                Some(pb::run_event::Event::Finished(_))
            ) {
                inner.events.pop();
            }
            inner.summary.resumes += 1;
            inner.summary.finished_at = None;
            inner.summary.error.clear();
            inner.cancel = None;
            inner.cancel_requested = None;
            inner.cancelled = CancellationToken::new();
            base
        };
        record.progress.send_replace((base_seq, false));
        self.bench.hand_over(&planned.device_ids, caller);
        tracing::info!(run = %run_id, principal = %caller.name, cases = planned.plan.cases_total(), "run resumed");
        let phase = request.phase.clone().unwrap_or_default();
        self.spawn(record, planned, phase, base_seq);
        Ok(run_id.to_owned())
    }
}
