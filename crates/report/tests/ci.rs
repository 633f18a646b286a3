//! JUnit XML and CTRF JSON from a run's attempts: the last attempt counts, earlier ones are
//! reruns (flaky under a pass), blocked is an infrastructure error, not run is skipped.

use std::time::{Duration, UNIX_EPOCH};

use meterlab_report::ci::{AttemptStatus, CaseAttempt, ctrf_json, junit_xml};

fn attempt(device: &str, case: &str, n: u32, status: AttemptStatus, message: &str) -> CaseAttempt {
    let start = UNIX_EPOCH + Duration::from_secs(1_800_000_000 + u64::from(n) * 10);
    CaseAttempt {
        device: device.into(),
        dmc: "D1".into(),
        case_id: case.into(),
        srv: "4.1.1".into(),
        attempt: n,
        status,
        message: message.into(),
        elapsed: Duration::from_millis(1500),
        started_at: start,
        finished_at: start + Duration::from_millis(1500),
        case_sha256: "ab".repeat(32),
        evidence_sha256: "cd".repeat(32),
    }
}

fn run() -> Vec<CaseAttempt> {
    use AttemptStatus::*;
    vec![
        attempt("esme-1", "M1", 1, Passed, ""),
        attempt(
            "esme-1",
            "M2",
            1,
            Failed,
            "step 2 (4.1.2): tariff — expected 3, actual 2",
        ),
        attempt("esme-1", "M2", 2, Passed, ""),
        attempt("esme-1", "M3", 1, Blocked, "link down"),
        attempt("hub-1", "H1", 1, NotRun, "device unhealthy"),
        attempt("hub-1", "H2", 1, Failed, "no answer"),
        attempt("hub-1", "H2", 2, Failed, "still no answer"),
    ]
}

#[test]
fn junit_has_a_suite_per_device_and_reruns() {
    let xml = junit_xml("meterlab run r1", &run()).expect("junit");
    assert!(
        xml.contains("<testsuite name=\"esme-1\" tests=\"3\""),
        "{xml}"
    );
    assert!(
        xml.contains("<testsuite name=\"hub-1\" tests=\"2\""),
        "{xml}"
    );
    assert!(
        xml.contains("<flakyFailure"),
        "M2 passed after a failure: {xml}"
    );
    assert!(xml.contains("<rerunFailure"), "H2 failed twice: {xml}");
    assert!(
        xml.contains("<error message=\"link down\" type=\"blocked\""),
        "{xml}"
    );
    assert!(
        xml.contains("<skipped message=\"device unhealthy\" type=\"not_run\""),
        "{xml}"
    );
    assert!(xml.contains("name=\"evidence_sha256\""), "{xml}");
}

#[test]
fn ctrf_counts_the_last_attempts() {
    let doc: serde_json::Value =
        serde_json::from_str(&ctrf_json("r1", "0.1.0", &run()).expect("ctrf")).expect("json");
    assert_eq!(doc["reportFormat"], "CTRF");
    let summary = &doc["results"]["summary"];
    assert_eq!(summary["tests"], 5);
    assert_eq!(summary["passed"], 2);
    assert_eq!(summary["failed"], 1);
    assert_eq!(summary["other"], 1);
    assert_eq!(summary["skipped"], 1);
    assert_eq!(summary["flaky"], 1);
    assert_eq!(summary["suites"], 2);
    assert_eq!(summary["start"], 1_800_000_010_000u64);
    assert_eq!(summary["stop"], 1_800_000_021_500u64);
    let tests = doc["results"]["tests"].as_array().expect("tests");
    let m2 = tests.iter().find(|t| t["name"] == "esme-1 M2").expect("M2");
    assert_eq!(m2["status"], "passed");
    assert_eq!(m2["flaky"], true);
    assert_eq!(m2["retries"], 1);
    assert_eq!(m2["retryAttempts"][0]["status"], "failed");
    let m3 = tests.iter().find(|t| t["name"] == "esme-1 M3").expect("M3");
    assert_eq!(m3["status"], "other");
    assert_eq!(m3["rawStatus"], "blocked");
    assert_eq!(m3["message"], "link down");
}

/// A later attempt that did not run (another run held the device) does not hide the pass: the
/// pass counts, as in governance, and the not-run attempt is listed beside it.
#[test]
fn a_not_run_after_a_pass_leaves_the_pass_counting() {
    use AttemptStatus::*;
    let attempts = vec![
        attempt("esme-1", "M1", 1, Passed, ""),
        attempt("esme-1", "M1", 2, NotRun, "device leased by run r2"),
    ];
    let doc: serde_json::Value =
        serde_json::from_str(&ctrf_json("r1", "0.1.0", &attempts).expect("ctrf")).expect("json");
    let summary = &doc["results"]["summary"];
    assert_eq!(summary["passed"], 1, "{doc}");
    assert_eq!(summary["skipped"], 0, "{doc}");
    let test = &doc["results"]["tests"][0];
    assert_eq!(test["labels"]["attempt"], 1, "{test}");
    assert_eq!(test["flaky"], false, "nothing failed: {test}");

    let xml = junit_xml("meterlab run r1", &attempts).expect("junit");
    assert!(!xml.contains("<skipped"), "{xml}");
    assert!(xml.contains("attempt 2: device leased by run r2"), "{xml}");
}
