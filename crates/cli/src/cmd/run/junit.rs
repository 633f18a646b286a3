//! JUnit XML and CTRF JSON of a run, written by `meterlab-report` from the run's attempts.

use std::path::Path;

use anyhow::Context as _;
use meterlab_report::ci::{AttemptStatus, CaseAttempt, ctrf_json, junit_xml};
use meterlab_runner::{CaseResult, CaseStatus};

use super::report::{Collected, explain};

fn attempt(result: &CaseResult) -> CaseAttempt {
    CaseAttempt {
        device: result.device_id.clone(),
        dmc: result.dmc_id.clone(),
        case_id: result.case_id.clone(),
        srv: result.srv.clone(),
        attempt: result.attempt,
        status: match result.status {
            CaseStatus::Passed => AttemptStatus::Passed,
            CaseStatus::Failed => AttemptStatus::Failed,
            CaseStatus::Blocked => AttemptStatus::Blocked,
            CaseStatus::NotRun => AttemptStatus::NotRun,
        },
        message: match result.status {
            CaseStatus::Passed => String::new(),
            CaseStatus::NotRun => result.detail.clone(),
            CaseStatus::Failed | CaseStatus::Blocked => explain(result),
        },
        elapsed: result.elapsed,
        started_at: result.started_at,
        finished_at: result.finished_at,
        case_sha256: hex::encode(result.case_sha256),
        evidence_sha256: hex::encode(result.evidence_sha256),
    }
}

fn attempts(collected: &Collected) -> Vec<CaseAttempt> {
    collected.attempts.iter().map(attempt).collect()
}

/// `--junit FILE`: a test suite per device, a test case per case, retries as reruns.
pub fn write(path: &Path, run_id: &str, collected: &Collected) -> anyhow::Result<()> {
    let xml = junit_xml(&format!("meterlab run {run_id}"), &attempts(collected))
        .context("cannot render the JUnit report")?;
    std::fs::write(path, xml).with_context(|| format!("cannot write {}", path.display()))
}

/// `--ctrf FILE`: the Common Test Report Format, one test per (device, case).
pub fn write_ctrf(path: &Path, run_id: &str, collected: &Collected) -> anyhow::Result<()> {
    let json = ctrf_json(run_id, env!("CARGO_PKG_VERSION"), &attempts(collected))
        .context("cannot render the CTRF report")?;
    std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))
}
