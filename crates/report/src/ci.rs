//! JUnit XML and CTRF JSON for CI systems, from the attempts of a run's cases.
//!
//! JUnit (quick-junit): a test suite per device (DMC and device in its properties), a test case
//! per (device, case); earlier attempts of a retried case are `flakyFailure`/`flakyError` under a
//! pass and `rerunFailure`/`rerunError` under a non-pass. Blocked is an error (infrastructure),
//! failed a failure (the device), not run skipped.
//!
//! CTRF (<https://ctrf.io>): one test per (device, case) with its counting attempt's status —
//! `passed`, `failed`, `other` for blocked (`rawStatus` keeps `blocked`), `skipped` for not run —
//! earlier attempts as `retryAttempts`, `flaky` when a pass followed failures.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use quick_junit::{
    NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestRerun, TestSuite,
};
use serde_json::{Value, json};

use crate::error::CiError;

/// The status of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptStatus {
    Passed,
    Failed,
    Blocked,
    NotRun,
}

impl AttemptStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptStatus::Passed => "passed",
            AttemptStatus::Failed => "failed",
            AttemptStatus::Blocked => "blocked",
            AttemptStatus::NotRun => "not_run",
        }
    }

    fn ctrf(self) -> &'static str {
        match self {
            AttemptStatus::Passed => "passed",
            AttemptStatus::Failed => "failed",
            AttemptStatus::Blocked => "other",
            AttemptStatus::NotRun => "skipped",
        }
    }
}

/// One attempt at one case on one device.
#[derive(Debug, Clone)]
pub struct CaseAttempt {
    pub device: String,
    pub dmc: String,
    pub case_id: String,
    pub srv: String,
    /// 1-based.
    pub attempt: u32,
    pub status: AttemptStatus,
    /// For a non-pass: the failed check (step, expectation, expected, actual) or the cause.
    pub message: String,
    pub elapsed: Duration,
    pub started_at: SystemTime,
    pub finished_at: SystemTime,
    /// Hex SHA-256 of the case definition that ran.
    pub case_sha256: String,
    /// Hex SHA-256 of the attempt's evidence document.
    pub evidence_sha256: String,
}

/// Attempts grouped per (device, case) in first-seen order, each group in attempt order except
/// that the attempt that counts comes last: the last one that ran, as in governance (a
/// `not_run` after it — the device was busy, the run cancelled — tells nothing about the device
/// and is listed with the earlier attempts).
fn by_case(attempts: &[CaseAttempt]) -> Vec<Vec<&CaseAttempt>> {
    let mut groups: Vec<Vec<&CaseAttempt>> = Vec::new();
    for a in attempts {
        match groups
            .iter_mut()
            .find(|g| g[0].device == a.device && g[0].case_id == a.case_id)
        {
            Some(group) => group.push(a),
            None => groups.push(vec![a]),
        }
    }
    for g in &mut groups {
        g.sort_by_key(|a| a.attempt);
        if let Some(ran) = g.iter().rposition(|a| a.status != AttemptStatus::NotRun) {
            let counting = g.remove(ran);
            g.push(counting);
        }
    }
    groups
}

fn rerun(a: &CaseAttempt) -> TestRerun {
    let kind = match a.status {
        AttemptStatus::Failed => NonSuccessKind::Failure,
        _ => NonSuccessKind::Error,
    };
    let mut rerun = TestRerun::new(kind);
    rerun
        .set_type(a.status.as_str())
        .set_message(format!("attempt {}: {}", a.attempt, a.message))
        .set_time(a.elapsed);
    rerun
}

/// The JUnit XML document of a run.
pub fn junit_xml(run_name: &str, attempts: &[CaseAttempt]) -> Result<String, CiError> {
    let mut report = Report::new(run_name.to_string());
    let mut suites: Vec<TestSuite> = Vec::new();
    for group in by_case(attempts) {
        let Some((last, earlier)) = group.split_last() else {
            continue;
        };
        let mut status = match last.status {
            AttemptStatus::Passed => TestCaseStatus::success(),
            AttemptStatus::Failed => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_type("failed").set_message(last.message.clone());
                s
            }
            AttemptStatus::Blocked => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                s.set_type("blocked").set_message(last.message.clone());
                s
            }
            AttemptStatus::NotRun => {
                let mut s = TestCaseStatus::skipped();
                s.set_type("not_run").set_message(last.message.clone());
                s
            }
        };
        for a in earlier {
            status.add_rerun(rerun(a));
        }
        let mut case = TestCase::new(last.case_id.clone(), status);
        case.set_classname(format!("{}.{}", last.dmc, last.device))
            .set_time(last.elapsed);
        case.add_property(Property::new("srv", last.srv.clone()));
        case.add_property(Property::new("case_sha256", last.case_sha256.clone()));
        case.add_property(Property::new("attempt", last.attempt.to_string()));
        case.add_property(Property::new(
            "evidence_sha256",
            last.evidence_sha256.clone(),
        ));
        let index = match suites.iter().position(|s| s.name.as_str() == last.device) {
            Some(i) => i,
            None => {
                let mut suite = TestSuite::new(last.device.clone());
                suite.add_property(Property::new("device", last.device.clone()));
                suite.add_property(Property::new("dmc", last.dmc.clone()));
                suites.push(suite);
                suites.len() - 1
            }
        };
        suites[index].add_test_case(case);
    }
    report.add_test_suites(suites);
    Ok(report.to_string()?)
}

fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The CTRF JSON document of a run. `tool_version` is meterlab's version.
pub fn ctrf_json(
    run_id: &str,
    tool_version: &str,
    attempts: &[CaseAttempt],
) -> Result<String, CiError> {
    let mut tests = Vec::new();
    let (mut passed, mut failed, mut skipped, mut other, mut flaky) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let start = attempts
        .iter()
        .map(|a| epoch_ms(a.started_at))
        .min()
        .unwrap_or(0);
    let stop = attempts
        .iter()
        .map(|a| epoch_ms(a.finished_at))
        .max()
        .unwrap_or(start);
    let groups = by_case(attempts);
    for group in &groups {
        let Some((last, earlier)) = group.split_last() else {
            continue;
        };
        match last.status {
            AttemptStatus::Passed => passed += 1,
            AttemptStatus::Failed => failed += 1,
            AttemptStatus::Blocked => other += 1,
            AttemptStatus::NotRun => skipped += 1,
        }
        // Flaky: a pass after attempts that ran and did not pass (a not-run attempt never ran).
        let is_flaky = last.status == AttemptStatus::Passed
            && earlier
                .iter()
                .any(|a| matches!(a.status, AttemptStatus::Failed | AttemptStatus::Blocked));
        if is_flaky {
            flaky += 1;
        }
        let mut test = json!({
            "name": format!("{} {}", last.device, last.case_id),
            "status": last.status.ctrf(),
            "rawStatus": last.status.as_str(),
            "duration": ms(last.elapsed),
            "start": epoch_ms(last.started_at),
            "stop": epoch_ms(last.finished_at),
            "suite": [last.dmc.clone(), last.device.clone()],
            "device": last.device.clone(),
            "retries": earlier.len(),
            "flaky": is_flaky,
            "labels": {
                "case": last.case_id.clone(),
                "srv": last.srv.clone(),
                "dmc": last.dmc.clone(),
                "attempt": last.attempt,
                "case_sha256": last.case_sha256.clone(),
                "evidence_sha256": last.evidence_sha256.clone(),
            },
        });
        if last.status != AttemptStatus::Passed && !last.message.is_empty() {
            test["message"] = Value::from(last.message.clone());
        }
        if !earlier.is_empty() {
            test["retryAttempts"] = earlier
                .iter()
                .map(|a| {
                    json!({
                        "attempt": a.attempt,
                        "status": a.status.ctrf(),
                        "duration": ms(a.elapsed),
                        "message": a.message.clone(),
                        "start": epoch_ms(a.started_at),
                        "stop": epoch_ms(a.finished_at),
                    })
                })
                .collect();
        }
        tests.push(test);
    }
    let suites = {
        let mut devices: Vec<&str> = groups.iter().map(|g| g[0].device.as_str()).collect();
        devices.sort_unstable();
        devices.dedup();
        devices.len()
    };
    let doc = json!({
        "reportFormat": "CTRF",
        "specVersion": "1.0.0",
        "generatedBy": "meterlab",
        "results": {
            "tool": { "name": "meterlab", "version": tool_version },
            "summary": {
                "tests": tests.len(),
                "passed": passed,
                "failed": failed,
                "skipped": skipped,
                "pending": 0,
                "other": other,
                "flaky": flaky,
                "suites": suites,
                "start": start,
                "stop": stop,
                "duration": stop.saturating_sub(start),
            },
            "tests": tests,
        },
        "extra": { "runId": run_id },
    });
    Ok(serde_json::to_string_pretty(&doc)?)
}
