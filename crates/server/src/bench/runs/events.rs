//! Runner events as `meterlab.v1.RunEvent`s, and a case result as the `TestCaseResult` stored
//! through the result ingest.

use std::time::SystemTime;

use meterlab_proto::v1 as pb;
use meterlab_runner::{CaseResult, CaseStatus, LogLevel, RunEvent, RunEventKind, RunSummary};

fn timestamp(at: SystemTime) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp::from(at))
}

/// The wire form of one attempt, recorded against `phase`.
pub(crate) fn result_to_proto(result: &CaseResult, phase: &pb::PhaseKey) -> pb::TestCaseResult {
    let status = match result.status {
        CaseStatus::Passed => pb::CaseStatus::Passed,
        CaseStatus::Failed => pb::CaseStatus::Failed,
        CaseStatus::Blocked => pb::CaseStatus::Blocked,
        CaseStatus::NotRun => pb::CaseStatus::NotRun,
    };
    pb::TestCaseResult {
        phase: Some(phase.clone()),
        case_id: result.case_id.clone(),
        case_content_sha256: result.case_sha256.to_vec(),
        device_id: result.device_id.clone(),
        attempt: result.attempt,
        status: status.into(),
        started_at: timestamp(result.started_at),
        finished_at: timestamp(result.finished_at),
        elapsed: prost_types::Duration::try_from(result.elapsed).ok(),
        evidence_sha256: result.evidence_sha256.to_vec(),
        srv: result.srv.clone(),
        detail: result.detail.clone(),
        regression: None,
    }
}

fn level(level: LogLevel) -> pb::LogLevel {
    match level {
        LogLevel::Debug => pb::LogLevel::Debug,
        LogLevel::Info => pb::LogLevel::Info,
        LogLevel::Warn => pb::LogLevel::Warn,
        LogLevel::Error => pb::LogLevel::Error,
    }
}

/// Run summary counters as the proto summary (state and times are filled by the caller).
pub(crate) fn summary_to_proto(summary: &RunSummary) -> pb::RunSummary {
    pb::RunSummary {
        run_id: summary.run_id.clone(),
        cases_total: summary.cases_total,
        passed: summary.passed,
        failed: summary.failed,
        blocked: summary.blocked,
        not_run: summary.not_run,
        flaky: summary.flaky,
        error: summary.error.clone().unwrap_or_default(),
        ..Default::default()
    }
}

/// One runner event as the proto event. A health check, which the proto has no event for, is a
/// log line naming the device.
pub(crate) fn event_to_proto(event: &RunEvent, phase: &pb::PhaseKey) -> pb::RunEvent {
    use pb::run_event::Event;
    let body = match &event.kind {
        RunEventKind::Started {
            cases_total,
            device_ids,
        } => Event::Started(pb::RunStarted {
            cases_total: *cases_total,
            device_ids: device_ids.clone(),
        }),
        RunEventKind::DeviceChecked(health) => Event::Log(pb::RunLog {
            level: if health.healthy {
                pb::LogLevel::Info
            } else {
                pb::LogLevel::Warn
            }
            .into(),
            message: format!(
                "health check of {}: {}",
                health.device_id,
                health.describe()
            ),
            device_id: health.device_id.clone(),
        }),
        RunEventKind::CaseStarted {
            case_id,
            device_id,
            attempt,
            srv,
        } => Event::CaseStarted(pb::CaseStarted {
            case_id: case_id.clone(),
            device_id: device_id.clone(),
            attempt: *attempt,
            srv: srv.clone(),
        }),
        RunEventKind::StepFinished {
            case_id,
            device_id,
            attempt,
            step_index,
            ok,
            detail,
            elapsed,
        } => Event::StepFinished(pb::StepFinished {
            case_id: case_id.clone(),
            device_id: device_id.clone(),
            attempt: *attempt,
            step_index: *step_index,
            ok: *ok,
            detail: detail.clone(),
            elapsed: prost_types::Duration::try_from(*elapsed).ok(),
        }),
        RunEventKind::CaseFinished(result) => Event::CaseFinished(result_to_proto(result, phase)),
        RunEventKind::Log {
            level: l,
            message,
            device_id,
        } => Event::Log(pb::RunLog {
            level: level(*l).into(),
            message: message.clone(),
            device_id: device_id.clone().unwrap_or_default(),
        }),
        RunEventKind::Finished(summary) => Event::Finished(summary_to_proto(summary)),
    };
    pb::RunEvent {
        run_id: event.run_id.clone(),
        seq: event.seq,
        at: timestamp(event.at),
        event: Some(body),
    }
}
