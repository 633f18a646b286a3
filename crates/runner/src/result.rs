//! What a run produces: one [`CaseResult`] per attempt of a case on a device, with its step
//! records and traffic, and a [`RunSummary`].

use std::fmt;
use std::time::{Duration, SystemTime};

use meterlab_plugin::pb::{ServiceRequest, ServiceResponse};

use crate::case::Check;

/// The outcome of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    /// Every step's expectations held.
    Passed,
    /// The device did the wrong thing.
    Failed,
    /// Infrastructure stopped the case (link down, adapter fault or panic, lease lost, a
    /// timeout): never counted as a device defect.
    Blocked,
    /// The case was not executed (device unhealthy, run cancelled or out of time).
    NotRun,
}

impl CaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Failed => "failed",
            Self::Blocked => "blocked",
            Self::NotRun => "not_run",
        }
    }
}

impl fmt::Display for CaseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One executed step: the decoded request and response (or why there is none) and the checks.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRecord {
    /// 0-based position in the case.
    pub index: u32,
    pub srv: String,
    pub request: Option<ServiceRequest>,
    pub response: Option<ServiceResponse>,
    /// Why no response was produced (session error), if so.
    pub error: Option<String>,
    pub checks: Vec<Check>,
    pub status: CaseStatus,
    pub detail: String,
    pub elapsed: Duration,
}

/// Bytes that crossed the link during an attempt, with their offset from the link's opening.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TrafficRecord {
    pub offset_ns: u64,
    /// `tx`, `rx`, or `event` for a link event.
    pub direction: &'static str,
    /// The bytes (serialised as lowercase hex), or the event text.
    pub data: TrafficData,
}

/// What a [`TrafficRecord`] carries. The bytes are kept as captured and hex-encoded only where
/// they are written (the evidence document): no second, twice as large, copy per frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrafficData {
    Bytes(Vec<u8>),
    Text(String),
}

impl TrafficData {
    /// The bytes as lowercase hex, or the event text: what the evidence document holds.
    pub fn to_text(&self) -> String {
        match self {
            Self::Bytes(bytes) => hex::encode(bytes),
            Self::Text(text) => text.clone(),
        }
    }

    /// How many link bytes the record carries (0 for an event).
    pub fn byte_len(&self) -> usize {
        match self {
            Self::Bytes(bytes) => bytes.len(),
            Self::Text(_) => 0,
        }
    }
}

impl serde::Serialize for TrafficData {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Bytes(bytes) => crate::evidence::serialize_hex(bytes, serializer),
            Self::Text(text) => serializer.serialize_str(text),
        }
    }
}

/// The outcome of one attempt of one case on one device.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseResult {
    pub case_id: String,
    pub case_sha256: [u8; 32],
    pub srv: String,
    pub device_id: String,
    pub dmc_id: String,
    /// 1-based; continues across restarts of a run.
    pub attempt: u32,
    /// Attempts the retry policy allows this case on this device (including the first).
    pub max_attempts: u32,
    pub status: CaseStatus,
    /// For a non-pass: the failed check, or the blocking cause.
    pub detail: String,
    pub steps: Vec<StepRecord>,
    pub traffic: Vec<TrafficRecord>,
    /// SHA-256 of [`CaseResult::evidence_json`].
    pub evidence_sha256: [u8; 32],
    /// The evidence document: steps (decoded and protobuf-encoded), checks and traffic.
    pub evidence_json: String,
    pub started_at: SystemTime,
    pub finished_at: SystemTime,
    /// Monotonic (tokio clock), not derived from the wall-clock timestamps.
    pub elapsed: Duration,
}

impl CaseResult {
    /// The first check that did not hold, with its step.
    pub fn first_failed_check(&self) -> Option<(&StepRecord, &Check)> {
        self.steps.iter().find_map(|step| {
            step.checks
                .iter()
                .find(|c| !c.ok)
                .map(|check| (step, check))
        })
    }
}

/// Counts over the counting (last) attempt of every case on every device.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub cases_total: u32,
    pub passed: u32,
    pub failed: u32,
    pub blocked: u32,
    pub not_run: u32,
    /// Passed only after a failed or blocked attempt.
    pub flaky: u32,
    /// Why the run stopped early, if it did.
    pub error: Option<String>,
}

impl RunSummary {
    pub fn all_passed(&self) -> bool {
        self.passed == self.cases_total && self.error.is_none()
    }
}
