//! What `meterlab run` prints when the run is over: the summary table (for each case that did
//! not pass, the step, what was expected and what the device answered) or one JSON document.

use std::collections::BTreeMap;

use meterlab_runner::{CaseResult, CaseStatus, DeviceHealth, RunEvent, RunEventKind, RunSummary};
use serde_json::{Value, json};

use crate::output::print_table;

/// Everything a run reported, kept for the reports written at its end.
#[derive(Debug, Default)]
pub struct Collected {
    pub health: Vec<DeviceHealth>,
    /// Every attempt, in the order they finished.
    pub attempts: Vec<CaseResult>,
    pub summary: Option<RunSummary>,
    /// Cases left out on devices that cannot carry them, with the reason.
    pub skipped: Vec<super::input::Skipped>,
}

impl Collected {
    pub fn take(&mut self, event: &RunEvent) {
        match &event.kind {
            RunEventKind::DeviceChecked(health) => self.health.push(health.clone()),
            RunEventKind::CaseFinished(result) => self.attempts.push((**result).clone()),
            RunEventKind::Finished(summary) => self.summary = Some(summary.clone()),
            _ => {}
        }
    }

    /// Attempts grouped per (device, case), in first-seen order; the last one counts.
    pub fn by_case(&self) -> Vec<Vec<&CaseResult>> {
        let mut order: Vec<(String, String)> = Vec::new();
        let mut groups: BTreeMap<(String, String), Vec<&CaseResult>> = BTreeMap::new();
        for result in &self.attempts {
            let key = (result.device_id.clone(), result.case_id.clone());
            if !groups.contains_key(&key) {
                order.push(key.clone());
            }
            groups.entry(key).or_default().push(result);
        }
        order
            .into_iter()
            .filter_map(|key| groups.remove(&key))
            .collect()
    }
}

/// The detail of a non-pass: the failed check (step, expectation, expected, actual), or why.
pub fn explain(result: &CaseResult) -> String {
    match result.first_failed_check() {
        Some((step, check)) => format!(
            "step {} ({}): {} — expected {}, actual {}",
            step.index + 1,
            step.srv,
            check.expectation,
            check.expected,
            check.actual
        ),
        None => result.detail.clone(),
    }
}

pub fn print_health(health: &[DeviceHealth]) {
    let rows: Vec<[String; 2]> = health
        .iter()
        .map(|h| [h.device_id.clone(), h.describe()])
        .collect();
    print_table(["DEVICE", "HEALTH"], &rows);
}

pub fn print_text(collected: &Collected) {
    if !collected.health.is_empty() {
        print_health(&collected.health);
        println!();
    }
    let rows: Vec<[String; 6]> = collected
        .by_case()
        .into_iter()
        .filter_map(|attempts| {
            let last = attempts.last()?;
            let status = if last.status == CaseStatus::Passed && attempts.len() > 1 {
                "passed (flaky)".to_owned()
            } else {
                last.status.to_string()
            };
            Some([
                last.device_id.clone(),
                last.case_id.clone(),
                last.srv.clone(),
                status,
                last.attempt.to_string(),
                if last.status == CaseStatus::Passed {
                    String::new()
                } else {
                    explain(last)
                },
            ])
        })
        .collect();
    if !rows.is_empty() {
        print_table(
            ["DEVICE", "CASE", "SRV", "STATUS", "ATTEMPT", "DETAIL"],
            &rows,
        );
    }
    if let Some(summary) = &collected.summary {
        println!(
            "\n{} cases: {} passed ({} flaky), {} failed, {} blocked, {} not run",
            summary.cases_total,
            summary.passed,
            summary.flaky,
            summary.failed,
            summary.blocked,
            summary.not_run
        );
        if let Some(error) = &summary.error {
            println!("run stopped early: {error}");
        }
    }
}

fn attempt_json(result: &CaseResult) -> Value {
    let steps: Vec<Value> = result
        .steps
        .iter()
        .map(|step| {
            json!({
                "index": step.index,
                "srv": step.srv,
                "status": step.status,
                "detail": step.detail,
                "elapsed_ms": step.elapsed.as_millis() as u64,
                "request": step.request.as_ref().map(|r| format!("{r:?}")),
                "response": step.response.as_ref().map(|r| format!("{r:?}")),
                "error": step.error,
                "checks": step.checks,
            })
        })
        .collect();
    json!({
        "case_id": result.case_id,
        "case_sha256": hex::encode(result.case_sha256),
        "srv": result.srv,
        "device_id": result.device_id,
        "dmc_id": result.dmc_id,
        "attempt": result.attempt,
        "max_attempts": result.max_attempts,
        "status": result.status,
        "detail": result.detail,
        "elapsed_ms": result.elapsed.as_millis() as u64,
        "evidence_sha256": hex::encode(result.evidence_sha256),
        "steps": steps,
        "traffic_records": result.traffic.len(),
    })
}

/// Writes every attempt's evidence document as `<dir>/<device>/<case>.attempt-<n>.json`.
pub fn write_evidence(dir: &std::path::Path, collected: &Collected) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let safe = |name: &str| name.replace(['/', '\\'], "_");
    for result in &collected.attempts {
        let device_dir = dir.join(safe(&result.device_id));
        std::fs::create_dir_all(&device_dir)
            .with_context(|| format!("cannot create {}", device_dir.display()))?;
        let path = device_dir.join(format!(
            "{}.attempt-{}.json",
            safe(&result.case_id),
            result.attempt
        ));
        std::fs::write(&path, &result.evidence_json)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

pub fn to_json(collected: &Collected, stored: Option<&Value>) -> Value {
    json!({
        "summary": collected.summary,
        "health": collected.health,
        "attempts": collected.attempts.iter().map(attempt_json).collect::<Vec<_>>(),
        "skipped": collected.skipped,
        "store": stored,
    })
}
