//! JUnit XML (quick-junit): a test suite per device (DMC and device in its properties), a test
//! case per case; earlier attempts of a retried case are `flakyFailure`/`flakyError` under a
//! pass and `rerunFailure`/`rerunError` under a non-pass. Blocked is an error (infrastructure),
//! failed a failure (the device), not run skipped.

use std::path::Path;

use anyhow::Context as _;
use quick_junit::{
    NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestRerun, TestSuite,
};

use super::report::{Collected, explain};
use meterlab_runner::{CaseResult, CaseStatus};

fn rerun(result: &CaseResult) -> TestRerun {
    let kind = match result.status {
        CaseStatus::Failed => NonSuccessKind::Failure,
        _ => NonSuccessKind::Error,
    };
    let mut rerun = TestRerun::new(kind);
    rerun
        .set_type(result.status.as_str())
        .set_message(format!("attempt {}: {}", result.attempt, explain(result)))
        .set_time(result.elapsed);
    rerun
}

pub fn write(path: &Path, run_id: &str, collected: &Collected) -> anyhow::Result<()> {
    let mut report = Report::new(format!("meterlab run {run_id}"));
    let mut suites: Vec<TestSuite> = Vec::new();
    for attempts in collected.by_case() {
        let Some((last, earlier)) = attempts.split_last() else {
            continue;
        };
        let mut status = match last.status {
            CaseStatus::Passed => TestCaseStatus::success(),
            CaseStatus::Failed => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status.set_type("failed").set_message(explain(last));
                status
            }
            CaseStatus::Blocked => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                status.set_type("blocked").set_message(explain(last));
                status
            }
            CaseStatus::NotRun => {
                let mut status = TestCaseStatus::skipped();
                status.set_type("not_run").set_message(last.detail.clone());
                status
            }
        };
        for attempt in earlier.iter() {
            status.add_rerun(rerun(attempt));
        }
        let mut case = TestCase::new(last.case_id.clone(), status);
        case.set_classname(format!("{}.{}", last.dmc_id, last.device_id))
            .set_time(last.elapsed);
        case.add_property(Property::new("srv", last.srv.clone()));
        case.add_property(Property::new("case_sha256", hex::encode(last.case_sha256)));
        case.add_property(Property::new("attempt", last.attempt.to_string()));
        case.add_property(Property::new(
            "evidence_sha256",
            hex::encode(last.evidence_sha256),
        ));
        let suite = match suites
            .iter_mut()
            .find(|s| s.name.as_str() == last.device_id)
        {
            Some(suite) => suite,
            None => {
                let mut suite = TestSuite::new(last.device_id.clone());
                suite.add_property(Property::new("device", last.device_id.clone()));
                suite.add_property(Property::new("dmc", last.dmc_id.clone()));
                suites.push(suite);
                suites.last_mut().context("a suite was just pushed")?
            }
        };
        suite.add_test_case(case);
    }
    report.add_test_suites(suites);
    let xml = report
        .to_string()
        .context("cannot render the JUnit report")?;
    std::fs::write(path, xml).with_context(|| format!("cannot write {}", path.display()))
}
