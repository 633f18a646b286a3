//! The shipped MT case MT-DOR-903 end to end: `meterlab run` (runner → DLMS adapter plugin →
//! TCP wrapper) against `meterlab emulate`, on a dormant hub whose ESME keeps BST (clock
//! deviation −60) and whose GSME keeps GMT. The image is transferred now, its activation
//! scheduled 3 s later on each meter's own clock in its local time, the old version read
//! before, a wait step, the new version read after.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod run_support;

use tokio::time::Instant;

use run_support::{meterlab_run, path, start_emulator_with, stderr, workspace};

const SCENARIO: &str = r#"
seed = 5

[[smso]]
id = "smso-north"
lls_password = "north-lls-0001"
key_seed = "smso-north head-end secret"
ciphered = false

[[hub]]
id = "e2e-dormant"
dmc = "acme-ch1-e470-g4"
state = "dormant"
esme = { mpxn = "1200012345609", consumption = 250, clock_deviation_min = -60 }
gsme = { mpxn = "7300123409" }
"#;

#[tokio::test]
async fn the_scheduled_dormant_upgrade_case_passes_on_bst_and_gmt_meters() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = start_emulator_with(dir.path(), SCENARIO, &[]).await;
    let started = Instant::now();
    let output = meterlab_run(&[
        "--devices",
        path(&emulator.devices),
        "--suite",
        path(&workspace().join("suites/mt")),
        "--phase",
        "MT",
        "--mode",
        "dormant",
        "--case",
        "MT-DOR-903",
        "--output",
        "json",
    ])
    .await;
    let elapsed = started.elapsed();
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{}\n{text}", stderr(&output));
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let summary = &document["summary"];
    assert_eq!(summary["cases_total"].as_u64(), Some(2), "{summary}");
    assert_eq!(summary["passed"].as_u64(), Some(2), "{summary}");
    let attempts = document["attempts"].as_array().unwrap();
    for attempt in attempts {
        assert_eq!(attempt["case_id"], "MT-DOR-903");
        assert_eq!(attempt["status"], "passed", "{attempt}");
        let steps = attempt["steps"].as_array().unwrap();
        let srvs: Vec<&str> = steps.iter().map(|s| s["srv"].as_str().unwrap()).collect();
        assert_eq!(
            srvs,
            ["11.2", "11.1", "11.3", "11.2", "wait", "11.2"],
            "{attempt}"
        );
        assert!(
            steps[4]["elapsed_ms"].as_u64().unwrap() >= 5000,
            "the wait waited: {}",
            steps[4]
        );
        // The activation was scheduled, not run: the response names the time.
        let scheduled = steps[2]["response"].as_str().unwrap();
        assert!(
            scheduled.contains("scheduled_at_ms") && !scheduled.contains("scheduled_at_ms: 0"),
            "{scheduled}"
        );
        let after = steps[5]["response"].as_str().unwrap();
        assert!(after.contains("99.1.0-sched"), "{after}");
    }
    let devices: Vec<&str> = attempts
        .iter()
        .map(|a| a["device_id"].as_str().unwrap())
        .collect();
    assert!(devices.iter().any(|d| d.ends_with("esme")), "{devices:?}");
    assert!(devices.iter().any(|d| d.ends_with("gsme")), "{devices:?}");
    assert!(elapsed.as_secs() >= 5, "{elapsed:?}");
}
