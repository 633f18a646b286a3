//! DeviceService (devices, health, leases) and RunService (start, watch, cancel, summary) calls.

use std::time::{Duration, SystemTime};

use meterlab_governance::model::TestPhase;
use meterlab_proto::v1 as pb;
use serde::Serialize;
use tokio_stream::StreamExt as _;

use crate::Client;
use crate::convert::phase_to_proto;
use crate::error::{ClientError, Result};

/// A device the gateway drives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Device {
    pub id: String,
    /// `comms_hub`, `esme`, `gsme`, `ppmid`, `ihd`.
    pub kind: String,
    pub dmc_id: String,
    pub smso_id: String,
    pub manufacturer: String,
    pub model: String,
    pub firmware_version: String,
    pub emulated: bool,
    /// `serial PATH@BAUD` or `tcp ADDRESS`; empty when the gateway does not say.
    pub transport: String,
    /// `available`, `leased` or `offline`.
    pub state: String,
    pub lease: Option<Lease>,
}

/// A lease on a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lease {
    pub lease_id: String,
    pub device_id: String,
    /// The principal (or run) holding it.
    pub holder: String,
    pub granted_at: Option<SystemTime>,
    pub expires_at: Option<SystemTime>,
}

fn time(ts: Option<&prost_types::Timestamp>) -> Option<SystemTime> {
    ts.and_then(|ts| SystemTime::try_from(*ts).ok())
}

fn lease_from_proto(lease: &pb::Lease) -> Lease {
    Lease {
        lease_id: lease.lease_id.clone(),
        device_id: lease.device_id.clone(),
        holder: lease.holder.clone(),
        granted_at: time(lease.granted_at.as_ref()),
        expires_at: time(lease.expires_at.as_ref()),
    }
}

fn device_kind(kind: pb::DeviceKind) -> &'static str {
    match kind {
        pb::DeviceKind::CommsHub => "comms_hub",
        pb::DeviceKind::Esme => "esme",
        pb::DeviceKind::Gsme => "gsme",
        pb::DeviceKind::Ppmid => "ppmid",
        pb::DeviceKind::Ihd => "ihd",
        pb::DeviceKind::Unspecified => "unspecified",
    }
}

fn device_from_proto(device: &pb::Device) -> Device {
    let transport = match &device.transport {
        Some(pb::device::Transport::Serial(serial)) => {
            format!("serial {}@{}", serial.path, serial.baud_rate)
        }
        Some(pb::device::Transport::Tcp(tcp)) => format!("tcp {}", tcp.address),
        None => String::new(),
    };
    Device {
        id: device.id.clone(),
        kind: device_kind(device.kind()).to_owned(),
        dmc_id: device.dmc_id.clone(),
        smso_id: device.smso_id.clone(),
        manufacturer: device.manufacturer.clone(),
        model: device.model.clone(),
        firmware_version: device.firmware_version.clone(),
        emulated: device.emulated,
        transport,
        state: match device.state() {
            pb::DeviceState::Available => "available",
            pb::DeviceState::Leased => "leased",
            pb::DeviceState::Offline => "offline",
            pb::DeviceState::Unspecified => "unspecified",
        }
        .to_owned(),
        lease: device.lease.as_ref().map(lease_from_proto),
    }
}

/// Which devices to list; empty fields mean any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceFilter {
    pub dmc_id: String,
    pub smso_id: String,
    pub available_only: bool,
}

/// A run to start on the gateway's devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRequest {
    pub suite: String,
    /// Empty: every case of the suite that applies.
    pub case_ids: Vec<String>,
    pub phase: TestPhase,
    pub device_ids: Vec<String>,
    /// Attempts per case (including the first) and the pause between them.
    pub retry: Option<(u32, Duration)>,
    /// Idempotency key: starting the same request twice answers the same run.
    pub request_id: String,
}

/// The state of a run and its counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    /// `queued`, `running`, `finished`, `cancelled`, `errored`.
    pub state: String,
    pub suite: String,
    pub cases_total: u32,
    pub passed: u32,
    pub failed: u32,
    pub blocked: u32,
    pub not_run: u32,
    pub flaky: u32,
    pub error: String,
    pub started_by: String,
    pub resumes: u32,
    pub started_at: Option<SystemTime>,
    pub finished_at: Option<SystemTime>,
}

fn run_state(state: pb::RunState) -> &'static str {
    match state {
        pb::RunState::Queued => "queued",
        pb::RunState::Running => "running",
        pb::RunState::Finished => "finished",
        pb::RunState::Cancelled => "cancelled",
        pb::RunState::Errored => "errored",
        pb::RunState::Interrupted => "interrupted",
        pb::RunState::Unspecified => "unspecified",
    }
}

fn summary_from_proto(summary: &pb::RunSummary) -> RunSummary {
    RunSummary {
        run_id: summary.run_id.clone(),
        state: run_state(summary.state()).to_owned(),
        suite: summary.suite.clone(),
        cases_total: summary.cases_total,
        passed: summary.passed,
        failed: summary.failed,
        blocked: summary.blocked,
        not_run: summary.not_run,
        flaky: summary.flaky,
        error: summary.error.clone(),
        started_by: summary.started_by.clone(),
        resumes: summary.resumes,
        started_at: time(summary.started_at.as_ref()),
        finished_at: time(summary.finished_at.as_ref()),
    }
}

/// One event of a watched run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum RunUpdate {
    Started {
        cases_total: u32,
        device_ids: Vec<String>,
    },
    CaseStarted {
        case_id: String,
        device_id: String,
        attempt: u32,
    },
    StepFinished {
        case_id: String,
        device_id: String,
        step_index: u32,
        ok: bool,
        detail: String,
    },
    /// `status` is `passed`, `failed`, `blocked`, `not_run` or `descoped`.
    CaseFinished {
        case_id: String,
        device_id: String,
        attempt: u32,
        status: String,
        detail: String,
    },
    Log {
        level: String,
        message: String,
        device_id: String,
    },
    Finished(RunSummary),
}

fn update_from_proto(event: pb::RunEvent) -> Option<(u64, RunUpdate)> {
    use pb::run_event::Event;
    let update = match event.event? {
        Event::Started(s) => RunUpdate::Started {
            cases_total: s.cases_total,
            device_ids: s.device_ids,
        },
        Event::CaseStarted(c) => RunUpdate::CaseStarted {
            case_id: c.case_id,
            device_id: c.device_id,
            attempt: c.attempt,
        },
        Event::StepFinished(s) => RunUpdate::StepFinished {
            case_id: s.case_id,
            device_id: s.device_id,
            step_index: s.step_index,
            ok: s.ok,
            detail: s.detail,
        },
        Event::CaseFinished(r) => RunUpdate::CaseFinished {
            status: match r.status() {
                pb::CaseStatus::Passed => "passed",
                pb::CaseStatus::Failed => "failed",
                pb::CaseStatus::Blocked => "blocked",
                pb::CaseStatus::NotRun => "not_run",
                pb::CaseStatus::Descoped => "descoped",
                pb::CaseStatus::Unspecified => "unspecified",
            }
            .to_owned(),
            case_id: r.case_id,
            device_id: r.device_id,
            attempt: r.attempt,
            detail: r.detail,
        },
        Event::Log(l) => RunUpdate::Log {
            level: match l.level() {
                pb::LogLevel::Debug => "debug",
                pb::LogLevel::Info => "info",
                pb::LogLevel::Warn => "warn",
                pb::LogLevel::Error => "error",
                pb::LogLevel::Unspecified => "info",
            }
            .to_owned(),
            message: l.message,
            device_id: l.device_id,
        },
        Event::Finished(s) => RunUpdate::Finished(summary_from_proto(&s)),
    };
    Some((event.seq, update))
}

impl Client {
    /// Devices with their health and lease state.
    pub async fn list_devices(&self, filter: &DeviceFilter) -> Result<Vec<Device>> {
        let answer = self
            .device_service()
            .list_devices(pb::ListDevicesRequest {
                dmc_id: filter.dmc_id.clone(),
                smso_id: filter.smso_id.clone(),
                kind: pb::DeviceKind::Unspecified.into(),
                available_only: filter.available_only,
            })
            .await
            .map_err(|s| ClientError::status("ListDevices", &s))?
            .into_inner();
        Ok(answer.devices.iter().map(device_from_proto).collect())
    }

    /// Leases a device for `ttl`.
    pub async fn lease_device(
        &self,
        device_id: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Lease> {
        const RPC: &str = "LeaseDevice";
        let answer = self
            .device_service()
            .lease_device(pb::LeaseDeviceRequest {
                device_id: device_id.to_owned(),
                holder: holder.to_owned(),
                ttl: prost_types::Duration::try_from(ttl).ok(),
            })
            .await
            .map_err(|s| ClientError::status(RPC, &s))?
            .into_inner();
        answer
            .lease
            .as_ref()
            .map(lease_from_proto)
            .ok_or_else(|| ClientError::answer(RPC, "lease", "is missing"))
    }

    /// Extends a lease from now by `ttl` (its new ttl), or by the ttl it has when `None`.
    pub async fn renew_lease(&self, lease_id: &str, ttl: Option<Duration>) -> Result<Lease> {
        const RPC: &str = "RenewLease";
        let answer = self
            .device_service()
            .renew_lease(pb::RenewLeaseRequest {
                lease_id: lease_id.to_owned(),
                ttl: ttl.and_then(|ttl| prost_types::Duration::try_from(ttl).ok()),
            })
            .await
            .map_err(|s| ClientError::status(RPC, &s))?
            .into_inner();
        answer
            .lease
            .as_ref()
            .map(lease_from_proto)
            .ok_or_else(|| ClientError::answer(RPC, "lease", "is missing"))
    }

    /// Gives a lease back.
    pub async fn release_device(&self, lease_id: &str) -> Result<()> {
        self.device_service()
            .release_device(pb::ReleaseDeviceRequest {
                lease_id: lease_id.to_owned(),
            })
            .await
            .map_err(|s| ClientError::status("ReleaseDevice", &s))?;
        Ok(())
    }

    /// Starts a run on the gateway's devices; answers its id.
    pub async fn start_run(&self, run: &RunRequest) -> Result<String> {
        let answer = self
            .run_service()
            .start_run(pb::StartRunRequest {
                suite: run.suite.clone(),
                case_ids: run.case_ids.clone(),
                phase: Some(phase_to_proto(&run.phase)),
                device_ids: run.device_ids.clone(),
                retry: run.retry.map(|(max_attempts, delay)| pb::RetryPolicy {
                    max_attempts,
                    delay: prost_types::Duration::try_from(delay).ok(),
                }),
                request_id: run.request_id.clone(),
                requested_by: self.actor.clone(),
                resume_run_id: String::new(),
            })
            .await
            .map_err(|s| ClientError::status("StartRun", &s))?
            .into_inner();
        Ok(answer.run_id)
    }

    /// Follows a run from after event `after_seq`, calling `on_update` with each (seq, update),
    /// until the run finishes or the gateway ends the stream; answers the last seq seen.
    pub async fn watch_run(
        &self,
        run_id: &str,
        after_seq: u64,
        mut on_update: impl FnMut(u64, RunUpdate),
    ) -> Result<u64> {
        const RPC: &str = "WatchRun";
        let mut events = self
            .run_service()
            .watch_run(pb::WatchRunRequest {
                run_id: run_id.to_owned(),
                after_seq,
            })
            .await
            .map_err(|s| ClientError::status(RPC, &s))?
            .into_inner();
        let mut last = after_seq;
        while let Some(event) = events.next().await {
            let event = event.map_err(|s| ClientError::status(RPC, &s))?;
            if let Some((seq, update)) = update_from_proto(event) {
                last = last.max(seq);
                let finished = matches!(update, RunUpdate::Finished(_));
                on_update(seq, update);
                if finished {
                    break;
                }
            }
        }
        Ok(last)
    }

    /// Cancels a run; answers its state.
    pub async fn cancel_run(&self, run_id: &str, reason: &str) -> Result<String> {
        let answer = self
            .run_service()
            .cancel_run(pb::CancelRunRequest {
                run_id: run_id.to_owned(),
                reason: reason.to_owned(),
            })
            .await
            .map_err(|s| ClientError::status("CancelRun", &s))?
            .into_inner();
        Ok(run_state(answer.state()).to_owned())
    }

    /// The summary of a run.
    pub async fn get_run(&self, run_id: &str) -> Result<RunSummary> {
        let answer = self
            .run_service()
            .get_run(pb::GetRunRequest {
                run_id: run_id.to_owned(),
            })
            .await
            .map_err(|s| ClientError::status("GetRun", &s))?
            .into_inner();
        Ok(summary_from_proto(&answer))
    }

    /// Resumes an ended run: only its cases without a final result run again, under its id
    /// (answered), attempt numbers continuing.
    pub async fn resume_run(&self, run_id: &str) -> Result<String> {
        let answer = self
            .run_service()
            .start_run(pb::StartRunRequest {
                resume_run_id: run_id.to_owned(),
                requested_by: self.actor.clone(),
                ..Default::default()
            })
            .await
            .map_err(|s| ClientError::status("StartRun", &s))?
            .into_inner();
        Ok(answer.run_id)
    }

    /// The gateway's runs, newest first: all, or those in `state` (`"interrupted"`, …), at most
    /// `limit` (0: the gateway's default).
    pub async fn list_runs(&self, state: Option<&str>, limit: u32) -> Result<Vec<RunSummary>> {
        let state = match state {
            None => pb::RunState::Unspecified,
            Some(name) => run_state_named(name).ok_or_else(|| ClientError::Input {
                field: "state".to_owned(),
                problem: format!(
                    "{name:?} is not one of queued, running, finished, cancelled, errored, \
                     interrupted"
                ),
            })?,
        };
        let answer = self
            .run_service()
            .list_runs(pb::ListRunsRequest {
                state: state.into(),
                limit,
            })
            .await
            .map_err(|s| ClientError::status("ListRuns", &s))?
            .into_inner();
        Ok(answer.runs.iter().map(summary_from_proto).collect())
    }

    /// Checks one device now (associate, read its firmware version and clock), under
    /// `lease_id` when the caller holds the device.
    pub async fn check_health(&self, device_id: &str, lease_id: Option<&str>) -> Result<Health> {
        let answer = self
            .device_service()
            .check_health(pb::CheckHealthRequest {
                device_id: device_id.to_owned(),
                lease_id: lease_id.unwrap_or_default().to_owned(),
            })
            .await
            .map_err(|s| ClientError::status("CheckHealth", &s))?
            .into_inner();
        Ok(Health {
            device_id: answer.device_id,
            healthy: answer.healthy,
            device_clock: time(answer.device_clock.as_ref()),
            clock_skew_ms: answer.device_clock.map(|_| answer.clock_skew_ms),
            firmware_version: Some(answer.firmware_version).filter(|f| !f.is_empty()),
            detail: answer.detail,
            checked_at: time(answer.checked_at.as_ref()),
        })
    }
}

/// A device's health as one check found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Health {
    pub device_id: String,
    pub healthy: bool,
    /// The device's clock as read.
    pub device_clock: Option<SystemTime>,
    /// Device clock minus the gateway's, when the clock was read.
    pub clock_skew_ms: Option<i64>,
    pub firmware_version: Option<String>,
    /// `device reachable, firmware …, clock skew …` or what failed.
    pub detail: String,
    pub checked_at: Option<SystemTime>,
}

fn run_state_named(name: &str) -> Option<pb::RunState> {
    Some(match name {
        "queued" => pb::RunState::Queued,
        "running" => pb::RunState::Running,
        "finished" => pb::RunState::Finished,
        "cancelled" => pb::RunState::Cancelled,
        "errored" => pb::RunState::Errored,
        "interrupted" => pb::RunState::Interrupted,
        _ => return None,
    })
}
