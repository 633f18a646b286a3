//! Restore steps: after every attempt that sent a request, whatever its outcome, the worker runs
//! the case's restore steps (`[[case.restore]]`) so a case blocked half-way does not leave the
//! device changed for the cases after it. Each restore step is tried up to `retries + 1` times
//! (at least twice), on a fresh session after any infrastructure error, within the step timeout
//! and the run's deadline — not the case's, which may be what stopped the case. A restore step
//! that still does not pass leaves the device's state unknown: the worker stops running cases
//! on it and ends them `blocked` with the reason.

use tokio::time::Instant;

use meterlab_plugin::pb::ServiceRequest;

use super::{DeviceWorker, stop_reason, utc_now_ms};
use crate::case::{CaseAttempt, Judgement};
use crate::event::RunEventKind;
use crate::result::{CaseStatus, StepRecord};
use crate::settings::PlannedCase;
use crate::target::Connector;

/// How one try of a restore step ended.
enum Try {
    Restored,
    /// Worth trying again: why it did not pass, and whether the device answered wrongly (as
    /// opposed to infrastructure keeping the answer from being judged).
    Again(String, bool),
}

/// Why a case's restore steps did not pass.
pub(super) struct Unrestored {
    pub reason: String,
    /// The device's last answer was judged wrong: a device defect, not only unknown state.
    pub device_wrong: bool,
}

impl<C: Connector> DeviceWorker<C> {
    /// Runs the restore steps of `script` in order; `Err` names the step that could not be
    /// completed and why.
    pub(super) async fn restore(
        &mut self,
        planned: &PlannedCase,
        attempt: u32,
        script: &mut dyn CaseAttempt,
        steps: &mut Vec<StepRecord>,
    ) -> Result<(), Unrestored> {
        let unrestored = |reason: String, device_wrong: bool| Unrestored {
            reason,
            device_wrong,
        };
        let tries = self.shared.settings.retry.retries.max(1) + 1;
        for index in 0usize.. {
            let mut last = (String::new(), false);
            let mut restored = false;
            for try_number in 1..=tries {
                let (srv, request) = match script.restore_request(index, utc_now_ms()) {
                    None => return Ok(()),
                    Some(Err(reason)) => {
                        return Err(unrestored(
                            format!("restore step {} could not be built: {reason}", index + 1),
                            false,
                        ));
                    }
                    Some(Ok(next)) => next,
                };
                if let Some(reason) = stop_reason(&self.cancel, self.shared.run_deadline) {
                    return Err(unrestored(
                        format!("restore step {} not run: {reason}", index + 1),
                        false,
                    ));
                }
                let name = format!(
                    "restore step {} ({srv}, try {try_number}/{tries})",
                    index + 1
                );
                let outcome = self
                    .restore_try(planned, attempt, &name, &srv, request, index, script, steps)
                    .await;
                match outcome {
                    Try::Restored => {
                        restored = true;
                        break;
                    }
                    Try::Again(why, device_wrong) => last = (why, device_wrong),
                }
            }
            if !restored {
                return Err(unrestored(
                    format!(
                        "restore step {} did not pass in {tries} tries: {}",
                        index + 1,
                        last.0
                    ),
                    last.1,
                ));
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn restore_try(
        &mut self,
        planned: &PlannedCase,
        attempt: u32,
        name: &str,
        srv: &str,
        request: ServiceRequest,
        index: usize,
        script: &mut dyn CaseAttempt,
        steps: &mut Vec<StepRecord>,
    ) -> Try {
        let step = self.shared.settings.timeouts.step;
        let left = self
            .shared
            .run_deadline
            .saturating_duration_since(Instant::now());
        let (budget, limit) = if step <= left {
            (step, "step")
        } else {
            (left, "run")
        };
        let started = Instant::now();
        let executed = match self.ensure_session(budget).await {
            Ok(()) => self.execute(&request, budget, limit).await,
            Err(error) => Err(error),
        };
        let (response, status, checks, why) = match executed {
            Err(error) => (None, CaseStatus::Blocked, Vec::new(), error.text),
            Ok(response) => {
                self.drain_alerts();
                match script.judge_restore(index, &response) {
                    Judgement::Passed { checks } => {
                        (Some(response), CaseStatus::Passed, checks, String::new())
                    }
                    Judgement::Failed { checks, detail } => {
                        (Some(response), CaseStatus::Failed, checks, detail)
                    }
                    Judgement::Blocked { reason } => {
                        self.close_session(&reason);
                        (Some(response), CaseStatus::Blocked, Vec::new(), reason)
                    }
                }
            }
        };
        let elapsed = started.elapsed();
        let detail = if why.is_empty() {
            String::new()
        } else {
            format!("{name}: {why}")
        };
        let record = StepRecord {
            index: u32::try_from(steps.len()).unwrap_or(u32::MAX),
            srv: srv.to_owned(),
            error: response.is_none().then(|| why.clone()),
            request: Some(request),
            response,
            checks,
            status,
            detail: detail.clone(),
            elapsed,
        };
        self.shared.report(RunEventKind::StepFinished {
            case_id: planned.case.id().to_owned(),
            device_id: self.device_id(),
            attempt,
            step_index: record.index,
            ok: status == CaseStatus::Passed,
            detail: record.detail.clone(),
            elapsed,
        });
        steps.push(record);
        if status == CaseStatus::Passed {
            Try::Restored
        } else {
            Try::Again(detail, status == CaseStatus::Failed)
        }
    }
}
