//! `meterlab run` end to end on the real binary against `meterlab emulate`: bad input, a
//! panicking adapter, and real suites through the DLMS adapter over TCP and PTY serial (also on
//! a lossy line), with the JUnit report checked by parsing it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod run_support;

use std::path::{Path, PathBuf};
use std::process::Output;

use quick_junit::{NonSuccessKind, Report, TestCaseStatus};
use run_support::{
    Emulator, fixture, meterlab_run, path, start_emulator, start_emulator_from,
    start_emulator_with, stderr, workspace,
};
use sha2::Digest as _;

#[tokio::test]
async fn bad_input_exits_2_naming_the_file_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sit = workspace().join("suites/sit");
    let db = dir.path().join("store.sqlite");
    let good_devices = dir.path().join("devices.toml");
    std::fs::write(
        &good_devices,
        "format = 1\n\n[[device]]\nname = \"m1\"\nhub = \"h\"\nrole = \"esme\"\ndmc = \"acme-ch1-e470-g4\"\n\
         smso = \"smso-north\"\nstate = \"active\"\nmodel = \"E\"\nfirmware = \"1\"\n\n\
         [device.tcp]\naddress = \"127.0.0.1:9\"\nwport = 2\n\n[[device.client]]\nsap = 16\n\
         authentication = \"none\"\nciphered = false\n",
    )
    .unwrap();
    let malformed = dir.path().join("malformed.toml");
    std::fs::write(&malformed, "format = 1\n[[device]]\nname = 7\n").unwrap();
    let missing = dir.path().join("missing.toml");
    let wrong_abi = fixture("fixture-wrong-abi");
    let echo = fixture("fixture-echo");
    let store_args = [
        "--db",
        path(&db),
        "--entry",
        "MOC/smso-north/acme-ch1-e470-g4",
    ];
    let cases: [(Vec<&str>, &str); 7] = [
        // Everything readable, but the store does not exist, so the phase is not planned.
        (
            vec![
                "--devices",
                path(&good_devices),
                "--suite",
                path(&sit),
                "--plugin",
                path(&echo),
            ],
            "must be planned",
        ),
        (
            vec!["--devices", path(&missing), "--suite", path(&sit)],
            "missing.toml",
        ),
        (
            vec!["--devices", path(&malformed), "--suite", path(&sit)],
            "malformed.toml:3:",
        ),
        (
            vec![
                "--devices",
                path(&good_devices),
                "--suite",
                "/nonexistent/suite",
            ],
            "/nonexistent/suite",
        ),
        (
            vec![
                "--devices",
                path(&good_devices),
                "--suite",
                path(&sit),
                "--plugin",
                path(&wrong_abi),
            ],
            "libfixture_wrong_abi.so",
        ),
        (
            vec![
                "--devices",
                path(&good_devices),
                "--suite",
                path(&sit),
                "--entry",
                "XYZ/a/b",
            ],
            "XYZ",
        ),
        // A worker scope without workers.
        (
            vec![
                "--devices",
                path(&good_devices),
                "--suite",
                path(&sit),
                "--workers",
                "per-session",
            ],
            "--workers applies only to --isolation process",
        ),
    ];
    for (args, named) in cases {
        let mut all = args.clone();
        all.extend_from_slice(&["--phase", "SIT", "--mode", "active"]);
        let journal = dir.path().join("runs");
        all.extend_from_slice(&["--journal-dir", path(&journal)]);
        if !all.contains(&"--entry") {
            all.extend_from_slice(&store_args);
        } else {
            all.extend_from_slice(&["--db", path(&db)]);
        }
        let output = meterlab_run(&all).await;
        let text = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {text}");
        assert!(
            text.contains(named),
            "{args:?}: error should name {named}: {text}"
        );
        assert_eq!(
            text.lines().filter(|l| l.starts_with("error:")).count(),
            1,
            "{text}"
        );
        assert!(!db.exists(), "{args:?} created the store");
    }
}

#[tokio::test]
async fn a_panicking_adapter_blocks_every_case_and_the_run_keeps_going() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = start_emulator(dir.path(), &[]).await;
    let junit = dir.path().join("junit.xml");
    let sit = workspace().join("suites/sit");
    let output = meterlab_run(&[
        "--devices",
        path(&emulator.devices),
        "--suite",
        path(&sit),
        "--phase",
        "SIT",
        "--mode",
        "active",
        "--plugin",
        path(&fixture("fixture-panic")),
        "--retries",
        "1",
        "--retry-delay-ms",
        "0",
        "--output",
        "json",
        "--junit",
        path(&junit),
    ])
    .await;
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let summary = &document["summary"];
    let total = summary["cases_total"].as_u64().unwrap();
    assert!(total >= 4, "{summary}");
    assert_eq!(summary["blocked"].as_u64(), Some(total));
    assert_eq!(summary["failed"].as_u64(), Some(0));
    let attempts = document["attempts"].as_array().unwrap();
    assert_eq!(
        attempts.len() as u64,
        2 * total,
        "two attempts of every case"
    );
    assert!(attempts.iter().all(|a| a["status"] == "blocked"));

    let report = Report::deserialize_from_str(&std::fs::read_to_string(&junit).unwrap()).unwrap();
    let mut cases = 0;
    for suite in &report.test_suites {
        let dmc = suite
            .properties
            .iter()
            .find(|p| p.name.as_str() == "dmc")
            .unwrap();
        assert_eq!(dmc.value.as_str(), "acme-ch1-e470-g4");
        assert!(suite.properties.iter().any(|p| p.name.as_str() == "device"));
        for case in &suite.test_cases {
            cases += 1;
            match &case.status {
                TestCaseStatus::NonSuccess {
                    kind, ty, reruns, ..
                } => {
                    assert_eq!(*kind, NonSuccessKind::Error);
                    assert_eq!(ty.as_ref().map(|t| t.as_str()), Some("blocked"));
                    assert_eq!(reruns.runs.len(), 1, "the first attempt is kept as a rerun");
                }
                other => panic!("{} should be blocked: {other:?}", case.name.as_str()),
            }
        }
    }
    assert_eq!(cases, total);
}

/// Cases every emulated active meter passes: a register read, the supply state, the firmware.
const ROBUST_CASES: [&str; 6] = [
    "--case",
    "SIT-RD-001",
    "--case",
    "SIT-SUP-001",
    "--case",
    "SIT-FW-001",
];

fn junit_cases(path: &Path) -> Vec<(String, String, TestCaseStatus)> {
    let report = Report::deserialize_from_str(&std::fs::read_to_string(path).unwrap())
        .expect("the JUnit report parses");
    let mut cases = Vec::new();
    for suite in &report.test_suites {
        let property = |name: &str| {
            suite
                .properties
                .iter()
                .find(|p| p.name.as_str() == name)
                .map(|p| p.value.as_str().to_owned())
                .unwrap_or_default()
        };
        assert_eq!(property("dmc"), "acme-ch1-e470-g4");
        for case in &suite.test_cases {
            cases.push((
                property("device"),
                case.name.as_str().to_owned(),
                case.status.clone(),
            ));
        }
    }
    cases
}

async fn run_robust_cases(emulator: &Emulator, dir: &Path, extra: &[&str]) -> (Output, PathBuf) {
    let junit = dir.join("junit.xml");
    let sit = workspace().join("suites/sit");
    let mut args = vec![
        "--devices",
        path(&emulator.devices),
        "--suite",
        path(&sit),
        "--phase",
        "SIT",
        "--mode",
        "active",
        "--junit",
        path(&junit),
        "--output",
        "json",
    ];
    args.extend_from_slice(&ROBUST_CASES);
    args.extend_from_slice(extra);
    (meterlab_run(&args).await, junit)
}

#[tokio::test]
async fn a_suite_passes_over_the_tcp_wrapper_through_the_dlms_adapter() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = start_emulator(dir.path(), &[]).await;
    let evidence = dir.path().join("evidence");
    let (output, junit) =
        run_robust_cases(&emulator, dir.path(), &["--evidence-dir", path(&evidence)]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    // RD-001 on the ESME; SUP-001 on ESME and GSME; FW-001 on all three devices.
    assert_eq!(
        document["summary"]["passed"].as_u64(),
        Some(6),
        "{document}"
    );
    let health = document["health"].as_array().unwrap();
    assert_eq!(health.len(), 3);
    assert!(health.iter().all(|h| h["healthy"] == true), "{health:?}");
    let cases = junit_cases(&junit);
    assert_eq!(cases.len(), 6);
    for (device, case, status) in &cases {
        assert!(
            matches!(status, TestCaseStatus::Success { flaky_runs } if flaky_runs.is_empty()),
            "{device} {case}: {status:?}"
        );
    }
    let traffic: u64 = document["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["traffic_records"].as_u64().unwrap())
        .sum();
    assert!(traffic > 0, "every attempt carries its capture");
    // Each attempt's evidence file hashes to the evidence_sha256 its result carries.
    for attempt in document["attempts"].as_array().unwrap() {
        let file = evidence
            .join(attempt["device_id"].as_str().unwrap())
            .join(format!(
                "{}.attempt-{}.json",
                attempt["case_id"].as_str().unwrap(),
                attempt["attempt"]
            ));
        let bytes = std::fs::read(&file).unwrap();
        let digest = sha2::Sha256::digest(&bytes);
        assert_eq!(
            hex::encode(digest),
            attempt["evidence_sha256"].as_str().unwrap()
        );
    }

    // The health check alone.
    let check = meterlab_run(&["--devices", path(&emulator.devices), "--check"]).await;
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(
        text.contains("device reachable, firmware 2.0.1, clock skew"),
        "{text}"
    );
}

#[tokio::test]
async fn a_suite_passes_over_hdlc_on_a_pty_serial_line() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = start_emulator(dir.path(), &["--serial"]).await;
    let (output, junit) = run_robust_cases(&emulator, dir.path(), &["--transport", "serial"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let cases = junit_cases(&junit);
    assert_eq!(cases.len(), 6);
    assert!(
        cases
            .iter()
            .all(|(_, _, status)| matches!(status, TestCaseStatus::Success { .. })),
        "{cases:?}"
    );
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let attempt = &document["attempts"][0];
    assert!(attempt["traffic_records"].as_u64().unwrap() > 0);
}

/// HDLC's frame check sequence catches the corrupted frames and its retransmission recovers the
/// dropped ones. (The TCP wrapper has no checksum: on an unciphered association a flipped bit
/// in a payload reaches the adapter as data, so this is an HDLC test.)
#[tokio::test]
async fn a_lossy_hdlc_line_ends_cases_passed_or_blocked_never_failed() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = start_emulator(
        dir.path(),
        &["--serial", "--drop", "0.1", "--corrupt", "0.1"],
    )
    .await;
    let (output, junit) = run_robust_cases(
        &emulator,
        dir.path(),
        &[
            "--transport",
            "serial",
            "--retries",
            "3",
            "--retry-delay-ms",
            "0",
            "--exchange-timeout-ms",
            "400",
        ],
    )
    .await;
    let code = output.status.code();
    assert!(matches!(code, Some(0 | 3)), "{code:?}: {}", stderr(&output));
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        document["summary"]["failed"].as_u64(),
        Some(0),
        "{document}"
    );
    for attempt in document["attempts"].as_array().unwrap() {
        assert_ne!(attempt["status"], "failed", "{attempt}");
    }
    for (device, case, status) in junit_cases(&junit) {
        if let TestCaseStatus::NonSuccess { kind, .. } = status {
            assert_eq!(
                kind,
                NonSuccessKind::Error,
                "{device} {case} is not a failure"
            );
        }
    }
}

/// Two `meterlab run`s, one process each, against one emulator whose SMSO glo-ciphers: the
/// device refuses a frame counter it has seen (replay protection), so the second run's adapter
/// must learn where the first one stopped (the device's public invocation counter).
#[tokio::test]
async fn a_second_run_against_a_ciphered_device_is_not_refused_as_a_replay() {
    let dir = tempfile::tempdir().unwrap();
    let ciphered = run_support::SCENARIO.replace("ciphered = false", "ciphered = true");
    assert_ne!(ciphered, run_support::SCENARIO);
    let emulator = start_emulator_with(dir.path(), &ciphered, &[]).await;
    let sit = workspace().join("suites/sit");
    let mt = workspace().join("suites/mt");
    let run = |suite: &Path, phase: &'static str| {
        let devices = emulator.devices.clone();
        let suite = suite.to_owned();
        async move {
            meterlab_run(&[
                "--devices",
                path(&devices),
                "--suite",
                path(&suite),
                "--phase",
                phase,
                "--mode",
                "active",
                "--output",
                "json",
            ])
            .await
        }
    };
    for (suite, phase) in [(&sit, "SIT"), (&mt, "MT"), (&sit, "SIT")] {
        let output = run(suite, phase).await;
        let document: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|_| panic!("{phase}: {}", stderr(&output)));
        assert_eq!(
            output.status.code(),
            Some(0),
            "{phase}: {}",
            document["attempts"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|attempt| attempt["status"] != "passed")
                .map(|attempt| attempt.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        );
        assert!(document["summary"]["passed"].as_u64().unwrap() > 0);
    }
}

/// A step expecting `alerts` is judged against the alerts the device raised during it: the
/// firmware-activated alert (event 18) arrives on the open association while 11.3 runs.
#[tokio::test]
async fn an_alert_raised_during_a_step_meets_its_expectation() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = start_emulator(dir.path(), &[]).await;
    let sit = workspace().join("suites/sit");
    let output = meterlab_run(&[
        "--devices",
        path(&emulator.devices),
        "--suite",
        path(&sit),
        "--phase",
        "SIT",
        "--mode",
        "active",
        "--case",
        "SIT-FW-007",
        "--device",
        "e2e-active.esme",
        "--output",
        "json",
    ])
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let text = document.to_string();
    assert!(text.contains("alert 18 raised"), "{text}");
}

/// `meterlab emulate --meters N` serves DMC `meterlab-reference`, which ships a description:
/// `meterlab run` accepts its devices and their cases pass.
#[tokio::test]
async fn the_default_meters_of_emulate_meters_run_their_suite() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = start_emulator_from(dir.path(), &["--meters", "2"]).await;
    let sit = workspace().join("suites/sit");
    let output = meterlab_run(&[
        "--devices",
        path(&emulator.devices),
        "--suite",
        path(&sit),
        "--phase",
        "SIT",
        "--mode",
        "active",
        "--case",
        "SIT-RD-001",
        "--case",
        "SIT-FW-001",
        "--output",
        "json",
    ])
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        document["summary"]["passed"].as_u64().unwrap() >= 3,
        "{document}"
    );
}

/// `--isolation process` on the real binary: the adapter runs in plugin workers (`meterlab`
/// itself, as `meterlab plugin-worker`, so no other executable is needed) and the cases pass;
/// an adapter that segfaults (a worker per session) blocks every case with the signal named,
/// and the run completes.
#[tokio::test]
async fn a_run_with_process_isolation_passes_and_a_crashing_adapter_only_blocks_its_cases() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = start_emulator(dir.path(), &[]).await;
    let (output, _) = run_robust_cases(&emulator, dir.path(), &["--isolation", "process"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        document["summary"]["passed"].as_u64(),
        Some(6),
        "{document}"
    );

    let segfault = fixture("fixture-segfault");
    let (output, _) = run_robust_cases(
        &emulator,
        dir.path(),
        &[
            "--isolation",
            "process",
            "--workers",
            "per-session",
            "--plugin",
            path(&segfault),
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let summary = &document["summary"];
    assert_eq!(summary["blocked"].as_u64(), Some(6), "{document}");
    assert_eq!(summary["cases_total"].as_u64(), Some(6), "{document}");
    for attempt in document["attempts"].as_array().unwrap() {
        assert_eq!(attempt["status"], "blocked", "{attempt}");
        let detail = attempt["detail"].as_str().unwrap();
        assert!(detail.contains("signal 11 (SIGSEGV)"), "{detail}");
    }
}
