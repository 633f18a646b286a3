//! The one stream of run events (the shape of `meterlab.v1.RunEvent`, as plain Rust types):
//! the CLI's progress, the result sink and the report writers all subscribe to it.

use std::time::{Duration, SystemTime};

use crate::result::{CaseResult, RunSummary};

/// One event of a run. `seq` is strictly increasing per run, starting at 1.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEvent {
    pub run_id: String,
    pub seq: u64,
    pub at: SystemTime,
    pub kind: RunEventKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RunEventKind {
    Started {
        /// Case × device pairs selected.
        cases_total: u32,
        device_ids: Vec<String>,
    },
    /// The health check of a device before its first case.
    DeviceChecked(DeviceHealth),
    CaseStarted {
        case_id: String,
        device_id: String,
        attempt: u32,
        srv: String,
    },
    StepFinished {
        case_id: String,
        device_id: String,
        attempt: u32,
        step_index: u32,
        ok: bool,
        detail: String,
        elapsed: Duration,
    },
    /// A finished attempt (every attempt is reported, retries included).
    CaseFinished(Box<CaseResult>),
    Log {
        level: LogLevel,
        message: String,
        device_id: Option<String>,
    },
    /// The last event of a run.
    Finished(RunSummary),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// What the health check found on a device: reachable (a session opened and a read answered),
/// its firmware and its clock skew against the reference clock.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeviceHealth {
    pub device_id: String,
    pub healthy: bool,
    pub firmware: Option<String>,
    /// Device clock minus the reference clock, in milliseconds.
    pub clock_skew_ms: Option<i64>,
    /// Why the device is unhealthy, or what could not be read.
    pub reason: Option<String>,
}

impl DeviceHealth {
    /// `device reachable, firmware 2.0.1, clock skew +3 s` or `unreachable: …`.
    pub fn describe(&self) -> String {
        if !self.healthy {
            return format!(
                "unreachable: {}",
                self.reason.as_deref().unwrap_or("no reason given")
            );
        }
        if self.firmware.is_none() && self.clock_skew_ms.is_none() {
            return format!(
                "not confirmed ({}); its cases run",
                self.reason.as_deref().unwrap_or("nothing could be read")
            );
        }
        let mut text = "device reachable".to_owned();
        if let Some(firmware) = &self.firmware {
            text.push_str(&format!(", firmware {firmware}"));
        }
        match self.clock_skew_ms {
            Some(skew) => text.push_str(&format!(", clock skew {}", format_skew(skew))),
            None => text.push_str(", clock not read"),
        }
        if let Some(reason) = &self.reason {
            text.push_str(&format!(" ({reason})"));
        }
        text
    }
}

fn format_skew(skew_ms: i64) -> String {
    if skew_ms.unsigned_abs() < 1000 {
        format!("{skew_ms:+} ms")
    } else if skew_ms.unsigned_abs() >= 10_000 || skew_ms % 1000 == 0 {
        format!("{:+} s", skew_ms / 1000)
    } else {
        format!("{:+.1} s", skew_ms as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::format_skew;

    #[test]
    fn clock_skew_reads_in_the_unit_a_person_expects() {
        assert_eq!(format_skew(3000), "+3 s");
        assert_eq!(format_skew(-3200), "-3.2 s");
        assert_eq!(format_skew(-30), "-30 ms");
        assert_eq!(format_skew(0), "+0 ms");
        assert_eq!(format_skew(125_400), "+125 s");
    }
}
