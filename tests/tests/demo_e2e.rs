//! `meterlab demo` end to end on the real binary: the whole story (two SMSOs' DMCs, MT and SIT
//! for all six phases, a flaky link, a wrong firmware version in the migration inventory, a
//! silent hub) ends with the exits, issues, de-scopes, report and bundle it should — checked
//! afterwards from the store through the governance commands, not only from what it printed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod run_support;

use std::path::Path;
use std::process::Output;

use run_support::{path, stderr};
use serde_json::Value;
use tokio::process::Command;

const NORTH: &str = "MOC/smso-north/acme-ch1-e470-g4";
const SOUTH: &str = "MOC/smso-south/bravo-h2-e2-g2";

async fn meterlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meterlab-e2e"))
        .args(args)
        .env_remove("METERLAB_LOG")
        .output()
        .await
        .unwrap()
}

/// `meterlab status --output json` of an entry: per phase, its outcome and failing criteria.
async fn status(db: &Path, entry: &str) -> Vec<(String, String, Vec<String>)> {
    let output = meterlab(&[
        "status",
        "--db",
        path(db),
        "--entry",
        entry,
        "--output",
        "json",
    ])
    .await;
    assert!(output.status.success(), "{}", stderr(&output));
    let document: Value = serde_json::from_slice(&output.stdout).unwrap();
    document["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|phase| {
            (
                phase["phase"].as_str().unwrap().to_owned(),
                phase["outcome"].as_str().unwrap().to_owned(),
                phase["failing"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|id| id.as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect()
}

fn phase<'a>(
    phases: &'a [(String, String, Vec<String>)],
    name: &str,
) -> &'a (String, String, Vec<String>) {
    phases
        .iter()
        .find(|(phase, _, _)| phase == name)
        .unwrap_or_else(|| panic!("no phase {name} in {phases:?}"))
}

#[tokio::test]
async fn the_demo_tells_its_story_and_the_store_bears_it_out() {
    let dir = tempfile::tempdir().unwrap();
    let demo_dir = dir.path().join("demo");
    let output = meterlab(&["--log", "error", "demo", "--dir", path(&demo_dir)]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", stderr(&output));

    // It says where it is while it works.
    for step in ["[1/6]", "[2/6]", "[3/6]", "[4/6]", "[5/6]", "[6/6]"] {
        assert!(stdout.contains(step), "missing {step} in:\n{stdout}");
    }
    // The flaky link costs retries, never a failed case: the line is not the meter's fault.
    let north_active: Vec<&str> = stdout
        .lines()
        .filter(|line| line.contains(&format!("{NORTH} ")) && line.contains("on north-active"))
        .collect();
    assert_eq!(north_active.len(), 2, "{stdout}");
    for line in north_active {
        assert!(line.contains(" 0 failed"), "{line}");
    }

    let db = demo_dir.join("meterlab.sqlite");
    // North: no fault but the mild link, and every phase that has no flaky link exits.
    let north = status(&db, NORTH).await;
    assert_eq!(north.len(), 6, "{north:?}");
    for name in ["mt.dormant", "mt.mixed", "sit.dormant", "sit.mixed"] {
        assert_eq!(phase(&north, name).1, "exit", "{north:?}");
    }
    // South: active exits; the wrong inventory firmware fails mixed with severity 1 and 2
    // issues; the silent hub leaves dormant with no evidence at all.
    let south = status(&db, SOUTH).await;
    assert_eq!(south.len(), 6, "{south:?}");
    assert_eq!(phase(&south, "mt.active").1, "exit", "{south:?}");
    assert_eq!(phase(&south, "sit.active").1, "exit", "{south:?}");
    let failing = |name: &str| phase(&south, name).2.clone();
    assert_eq!(phase(&south, "mt.mixed").1, "not_met");
    assert_eq!(failing("mt.mixed"), ["R4.4.coverage", "R4.4.issues.sev1"]);
    assert_eq!(
        failing("sit.mixed"),
        ["R4.4.coverage", "R4.4.issues.sev1", "R4.4.issues.sev2"]
    );
    assert_eq!(failing("mt.dormant"), ["R4.4.coverage"]);
    assert_eq!(failing("sit.dormant"), ["R4.4.coverage"]);

    // The issues: one per failed case, at the case's suggested severity, all on south mixed.
    let issues = meterlab(&["issues", "list", "--db", path(&db), "--output", "json"]).await;
    assert!(issues.status.success(), "{}", stderr(&issues));
    let issues: Value = serde_json::from_slice(&issues.stdout).unwrap();
    let mut raised: Vec<(String, u64)> = issues
        .as_array()
        .unwrap()
        .iter()
        .map(|issue| {
            let title = issue["title"].as_str().unwrap();
            assert!(title.ends_with("fails on south-mixed.esme"), "{issue}");
            let case = title.split_whitespace().next().unwrap().to_owned();
            (case, issue["severity"].as_u64().unwrap())
        })
        .collect();
    raised.sort();
    assert_eq!(
        raised,
        [
            ("MT-MIX-001".to_owned(), 1),
            ("SIT-FW-001".to_owned(), 2),
            ("SIT-FW-002".to_owned(), 2),
            ("SIT-FW-003".to_owned(), 1),
            ("SIT-FW-004".to_owned(), 1),
            ("SIT-FW-005".to_owned(), 2),
        ]
    );

    // The de-scope is accepted where the cited read passed, refused on the silent hub.
    assert!(
        stdout.contains(&format!(
            "de-scoped SIT-OPT-001 in {SOUTH} sit.mixed (cites SIT-RD-001)"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "de-scope of SIT-OPT-001 in {SOUTH} sit.dormant REFUSED"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("5 de-scope(s) accepted, 1 refused"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("NOT MET  entry {SOUTH}")),
        "{stdout}"
    );

    // The report says why, with the de-scope's rationale; the bundle verifies, and a changed
    // byte is named.
    let report = std::fs::read_to_string(demo_dir.join("report.md")).unwrap();
    for expected in [
        "Combined completion report",
        NORTH,
        SOUTH,
        "No optical heads are fitted in this lab",
        "MT-MIX-001",
    ] {
        assert!(
            report.contains(expected),
            "missing {expected:?} in the report"
        );
    }
    assert!(demo_dir.join("report.html").is_file());
    let bundle = demo_dir.join("bundle");
    let verify = meterlab(&["report", "verify", path(&bundle)]).await;
    assert!(verify.status.success(), "{}", stderr(&verify));
    let copy = bundle.join("report.md");
    let mut bytes = std::fs::read(&copy).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&copy, bytes).unwrap();
    let verify = meterlab(&["report", "verify", path(&bundle)]).await;
    assert!(!verify.status.success());
    assert!(stderr(&verify).contains("report.md"), "{}", stderr(&verify));
}

/// `--plan-only` prints the story and touches nothing.
#[tokio::test]
async fn plan_only_prints_the_story_without_running_it() {
    let dir = tempfile::tempdir().unwrap();
    let demo_dir = dir.path().join("demo");
    let output = meterlab(&["demo", "--plan-only", "--dir", path(&demo_dir)]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", stderr(&output));
    for expected in [
        &format!("entry {NORTH}: phases mt.active, mt.mixed"),
        "hub south-dormant",
        "silent: nothing answers",
        "inventory error: south-mixed.esme recorded with firmware 7.0.1",
        "de-scope: SIT-OPT-001",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    assert!(
        !demo_dir.exists(),
        "--plan-only created {}",
        demo_dir.display()
    );
}
