//! The catalogue's cases as the runner executes them.

use std::sync::Arc;

use meterlab_catalog::{Case, StepContext, StepVerdict, Via};
use meterlab_devices::Device;
use meterlab_plugin::pb::{ServiceRequest, ServiceResponse};

use crate::case::{CaseAttempt, Check, Judgement, Port, TestCase};

impl TestCase for Case {
    fn id(&self) -> &str {
        &self.id
    }

    fn content_sha256(&self) -> [u8; 32] {
        self.content_hash.0
    }

    fn srv(&self) -> String {
        self.steps
            .first()
            .map_or_else(String::new, |step| step.srv.number().to_owned())
    }

    fn uses_optical(&self) -> bool {
        Case::uses_optical(self)
    }

    fn start(self: Arc<Self>, device: &Device, reference_utc_ms: i64) -> Box<dyn CaseAttempt> {
        Box::new(CatalogAttempt {
            context: StepContext::new(device.clone(), reference_utc_ms),
            restore_context: StepContext::new(device.clone(), reference_utc_ms),
            case: self,
            next: 0,
            waits_done: 0,
        })
    }
}

/// One attempt: the case's steps in order, in one step context (captures carry over).
struct CatalogAttempt {
    case: Arc<Case>,
    context: StepContext,
    /// Restore steps see none of the case's captures (they run also when the case stopped
    /// before taking them).
    restore_context: StepContext,
    next: usize,
    /// Wait steps already taken (`Case::waits` are in file order).
    waits_done: usize,
}

impl CaseAttempt for CatalogAttempt {
    fn next_wait(&mut self) -> Option<std::time::Duration> {
        let wait = self.case.waits.get(self.waits_done)?;
        if wait.after_steps != self.next {
            return None;
        }
        self.waits_done += 1;
        Some(std::time::Duration::from_millis(wait.wait_ms))
    }

    fn next_request(
        &mut self,
        reference_utc_ms: i64,
    ) -> Option<Result<(String, ServiceRequest), String>> {
        let step = self.case.steps.get(self.next)?;
        self.next += 1;
        self.context.set_now_ms(reference_utc_ms);
        Some(
            step.request(&self.context)
                .map(|request| (step.srv.number().to_owned(), request))
                .map_err(|error| error.to_string()),
        )
    }

    fn port(&self) -> Port {
        let step = self
            .next
            .checked_sub(1)
            .and_then(|i| self.case.steps.get(i));
        match step.map(|step| step.via) {
            Some(Via::Optical) => Port::Optical,
            Some(Via::Run) | None => Port::Run,
        }
    }

    fn record_alert(&mut self, code: &str) {
        self.context.record_alert(code);
    }

    fn restore_request(
        &mut self,
        index: usize,
        reference_utc_ms: i64,
    ) -> Option<Result<(String, ServiceRequest), String>> {
        let step = self.case.restore.get(index)?;
        self.restore_context.set_now_ms(reference_utc_ms);
        Some(
            step.request(&self.restore_context)
                .map(|request| (step.srv.number().to_owned(), request))
                .map_err(|error| error.to_string()),
        )
    }

    fn judge_restore(&mut self, index: usize, response: &ServiceResponse) -> Judgement {
        let Some(step) = self.case.restore.get(index) else {
            return Judgement::Blocked {
                reason: format!("the case has no restore step {}", index + 1),
            };
        };
        judge_step(step, response, &mut self.restore_context)
    }

    fn judge(&mut self, response: &ServiceResponse) -> Judgement {
        let Some(step) = self
            .next
            .checked_sub(1)
            .and_then(|i| self.case.steps.get(i))
        else {
            return Judgement::Blocked {
                reason: "a response arrived before any request".to_owned(),
            };
        };
        judge_step(step, response, &mut self.context)
    }
}

fn judge_step(
    step: &meterlab_catalog::Step,
    response: &ServiceResponse,
    context: &mut StepContext,
) -> Judgement {
    match step.judge(response, context) {
        StepVerdict::Blocked(blocked) => Judgement::Blocked {
            reason: format!("{:?}: {}", blocked.kind, blocked.detail),
        },
        StepVerdict::Judged(judgement) => {
            let checks: Vec<Check> = judgement
                .checks
                .into_iter()
                .map(|record| Check {
                    expectation: record.expectation,
                    expected: record.expected,
                    actual: record.actual,
                    ok: record.ok,
                    note: record.note,
                })
                .collect();
            if judgement.passed {
                Judgement::Passed { checks }
            } else {
                let detail = checks.iter().find(|check| !check.ok).map_or_else(
                    || "an expectation did not hold".to_owned(),
                    |check| {
                        format!(
                            "{}: expected {}, actual {}",
                            check.expectation, check.expected, check.actual
                        )
                    },
                );
                Judgement::Failed { checks, detail }
            }
        }
    }
}
