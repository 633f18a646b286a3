//! The health check before a device's cases: open a session (the adapter associates), read the
//! firmware version and the clock. A device that cannot be reached or does not answer is
//! unhealthy and its cases are skipped with the reason. An adapter fault is not the device's
//! health: the device stays eligible and its cases end `blocked`.

use meterlab_devices::DeviceRole;
use meterlab_plugin::pb::{
    ReadFirmwareVersion, ReadInstantaneousImportRegisters, ServiceRequest, ServiceResponse,
    SynchroniseClock, service_error, service_request::Body, service_response::Outcome,
};

use crate::event::DeviceHealth;
use crate::executor::ExecError;
use crate::target::DeviceTarget;

/// The reads of a health check: firmware version, then the clock — from the meter's register
/// read (its capture time), or on a comms hub from Synchronise Clock with a tolerance no skew
/// reaches, so the adapter reads the clock and leaves it alone.
pub(crate) fn requests(target: &DeviceTarget, now_ms: i64) -> Vec<ServiceRequest> {
    let clock = match target.device.role {
        DeviceRole::Hub => Body::SynchroniseClock(SynchroniseClock {
            utc_ms: now_ms,
            tolerance_ms: u32::MAX,
        }),
        DeviceRole::Esme | DeviceRole::Gsme => {
            Body::ReadInstantaneousImportRegisters(ReadInstantaneousImportRegisters {})
        }
    };
    [
        (
            "health/firmware",
            Body::ReadFirmwareVersion(ReadFirmwareVersion {}),
        ),
        ("health/clock", clock),
    ]
    .into_iter()
    .map(|(id, body)| ServiceRequest {
        request_id: id.to_owned(),
        body: Some(body),
    })
    .collect()
}

/// Whether a health read ended for want of an answer (time-out, link failure), which the
/// line may have caused, rather than with one (a refusal is an answer) or an adapter fault.
pub(crate) fn lost_on_the_line(outcome: &Result<ServiceResponse, ExecError>) -> bool {
    match outcome {
        Err(error) => !error.adapter_fault,
        Ok(response) => matches!(
            &response.outcome,
            Some(Outcome::Error(error)) if matches!(
                error.kind,
                Some(service_error::Kind::Timeout(_) | service_error::Kind::LinkFailure(_))
            )
        ),
    }
}

/// What the reads found.
#[derive(Debug, Default)]
pub(crate) struct Reads {
    answered: bool,
    firmware: Option<String>,
    clock_skew_ms: Option<i64>,
    device_problem: Option<String>,
    notes: Vec<String>,
}

impl Reads {
    pub(crate) fn record(
        &mut self,
        request: &ServiceRequest,
        outcome: Result<ServiceResponse, ExecError>,
        sent_at_ms: i64,
        received_at_ms: i64,
    ) {
        let what = request.request_id.trim_start_matches("health/");
        let response = match outcome {
            Ok(response) => response,
            Err(error) if error.adapter_fault => {
                self.notes.push(format!("{what} read: {}", error.text));
                return;
            }
            Err(error) => {
                self.device_problem
                    .get_or_insert(format!("{what} read: {}", error.text));
                return;
            }
        };
        // The device clock was read somewhere between sending and receiving: take the middle.
        let reference = sent_at_ms + (received_at_ms - sent_at_ms) / 2;
        match response.outcome {
            Some(Outcome::FirmwareVersion(firmware)) => {
                self.answered = true;
                self.firmware = Some(firmware.version);
            }
            Some(Outcome::InstantaneousImportRegisters(registers)) => {
                self.answered = true;
                self.clock_skew_ms = Some(registers.device_time_ms - reference);
            }
            Some(Outcome::ClockSynchronised(clock)) => {
                self.answered = true;
                self.clock_skew_ms = Some(clock.device_time_before_ms - reference);
            }
            Some(Outcome::Error(error)) => match error.kind {
                Some(service_error::Kind::DeviceRejected(rejected)) => {
                    self.answered = true;
                    self.notes.push(format!(
                        "{what} refused: {} ({})",
                        rejected.reason, rejected.device_code
                    ));
                }
                Some(service_error::Kind::NotSupportedOnDmc(_)) => {
                    self.notes.push(format!("{what} not supported on the DMC"));
                }
                Some(service_error::Kind::AdapterFault(fault)) => {
                    self.notes
                        .push(format!("adapter fault on {what}: {}", fault.detail));
                }
                Some(service_error::Kind::Timeout(timeout)) => {
                    self.device_problem.get_or_insert(format!(
                        "{what} read timed out after {} ms waiting for {}",
                        timeout.elapsed_ms, timeout.waiting_for
                    ));
                }
                Some(service_error::Kind::LinkFailure(failure)) => {
                    self.device_problem
                        .get_or_insert(format!("{what} read: link failure: {}", failure.detail));
                }
                None => self.notes.push(format!("{what}: an error without a kind")),
            },
            Some(_) | None => self.notes.push(format!("{what}: an unexpected response")),
        }
    }

    pub(crate) fn into_health(self, device_id: String) -> DeviceHealth {
        // Unhealthy only for what the device (or the line to it) did; a session that opened
        // with nothing but adapter trouble is left to the cases, which will be blocked.
        let healthy = self.answered || self.device_problem.is_none();
        let mut reasons = Vec::new();
        if let Some(problem) = self.device_problem {
            reasons.push(problem);
        }
        reasons.extend(self.notes);
        DeviceHealth {
            device_id,
            healthy,
            firmware: self.firmware,
            clock_skew_ms: self.clock_skew_ms,
            reason: (!reasons.is_empty()).then(|| reasons.join("; ")),
        }
    }
}
