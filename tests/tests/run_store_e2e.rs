//! `meterlab run` with a store end to end on the real binary: results through the
//! ResultService of the `--db` store served in-process, resumed runs without duplicates. A short
//! `meterlab demo` (its MT active phases only) prepares each store; `demo_e2e.rs` tests the demo.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod run_support;

use std::path::PathBuf;

use run_support::{fixture, meterlab_run, path, start_emulator, stderr, workspace};
use tokio::process::Command;

/// With `--db`, results go through the ResultService of the store served in-process; a run
/// restarted with the same `--run-id` skips what the device already answered, re-runs what was
/// blocked with the attempt numbers continuing, and stores nothing twice.
#[tokio::test]
async fn results_reach_the_store_and_a_restarted_run_resumes_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    // The demo leaves a store with the entry planned and its MT active phase started.
    let demo_dir = dir.path().join("demo");
    let demo = Command::new(env!("CARGO_BIN_EXE_meterlab-e2e"))
        .args(["demo", "--phase", "mt.active", "--dir"])
        .arg(&demo_dir)
        .env_remove("METERLAB_LOG")
        .output()
        .await
        .unwrap();
    assert!(demo.status.success(), "{}", stderr(&demo));
    let db = demo_dir.join("meterlab.sqlite");
    let emulator = start_emulator(dir.path(), &[]).await;
    let journal_dir = dir.path().join("runs");
    let mt = workspace().join("suites/mt");
    let panic_plugin = fixture("fixture-panic");
    let run = |plugin: Option<PathBuf>| {
        let mut args: Vec<String> = [
            "--devices",
            path(&emulator.devices),
            "--suite",
            path(&mt),
            "--phase",
            "MT",
            "--mode",
            "active",
            "--case",
            "MT-ACT-001",
            "--case",
            "MT-ACT-002",
            "--db",
            path(&db),
            "--entry",
            "MOC/smso-north/acme-ch1-e470-g4",
            "--run-id",
            "resume-1",
            "--journal-dir",
            path(&journal_dir),
            "--output",
            "json",
        ]
        .map(str::to_owned)
        .to_vec();
        if let Some(plugin) = plugin {
            args.extend(["--plugin".to_owned(), path(&plugin).to_owned()]);
        }
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let output = meterlab_run(&args).await;
            let document: serde_json::Value = serde_json::from_slice(&output.stdout)
                .unwrap_or_else(|_| panic!("no JSON: {}", stderr(&output)));
            (output.status.code(), document)
        }
    };
    // MT-ACT-001 on hub, ESME and GSME, MT-ACT-002 on ESME and GSME: five cases.
    let (code, first) = run(Some(panic_plugin)).await;
    assert_eq!(code, Some(3), "{first}");
    assert_eq!(first["summary"]["blocked"].as_u64(), Some(5));
    assert_eq!(first["store"]["acknowledged"].as_u64(), Some(5));
    assert_eq!(first["store"]["watermark"].as_u64(), Some(5));

    let (code, second) = run(None).await;
    assert_eq!(code, Some(0), "{second}");
    assert_eq!(second["summary"]["passed"].as_u64(), Some(5));
    let attempts: Vec<u64> = second["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["attempt"].as_u64().unwrap())
        .collect();
    assert_eq!(attempts, [2, 2, 2, 2, 2], "attempt numbering continues");
    assert_eq!(second["store"]["acknowledged"].as_u64(), Some(5));
    assert_eq!(second["store"]["replayed"].as_u64(), Some(0));
    assert_eq!(second["store"]["watermark"].as_u64(), Some(10));

    // Everything answered: a third start has nothing left to run and stores nothing new.
    let (code, third) = run(None).await;
    assert_eq!(code, Some(0), "{third}");
    assert_eq!(third["summary"]["cases_total"].as_u64(), Some(0));
    assert_eq!(third["store"]["acknowledged"].as_u64(), Some(0));
    assert_eq!(third["store"]["watermark"].as_u64(), Some(10));

    // A store that lost what the journal holds (results journalled, never acknowledged there):
    // the restart resends every journal line past that store's watermark, byte for byte.
    let other = dir.path().join("other");
    let demo = Command::new(env!("CARGO_BIN_EXE_meterlab-e2e"))
        .args(["demo", "--phase", "mt.active", "--dir"])
        .arg(&other)
        .env_remove("METERLAB_LOG")
        .output()
        .await
        .unwrap();
    assert!(demo.status.success(), "{}", stderr(&demo));
    std::fs::copy(other.join("meterlab.sqlite"), &db).unwrap();
    for suffix in ["-wal", "-shm"] {
        let from = PathBuf::from(format!(
            "{}{suffix}",
            other.join("meterlab.sqlite").display()
        ));
        let to = PathBuf::from(format!("{}{suffix}", db.display()));
        if from.exists() {
            std::fs::copy(&from, &to).unwrap();
        } else {
            let _ = std::fs::remove_file(&to);
        }
    }
    let (code, fourth) = run(None).await;
    assert_eq!(code, Some(0), "{fourth}");
    assert_eq!(fourth["summary"]["cases_total"].as_u64(), Some(0));
    assert_eq!(
        fourth["store"]["acknowledged"].as_u64(),
        Some(10),
        "{fourth}"
    );
    assert_eq!(fourth["store"]["watermark"].as_u64(), Some(10));
}

/// `meterlab run --db` killed with SIGKILL mid-run (results journalled, some maybe not yet
/// acknowledged by the store): the rerun with the same `--run-id` stores what the journal holds,
/// runs only what is missing, and every case ends stored exactly once.
#[tokio::test]
async fn a_run_killed_mid_way_resumes_with_every_case_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let demo_dir = dir.path().join("demo");
    let demo = Command::new(env!("CARGO_BIN_EXE_meterlab-e2e"))
        .args(["demo", "--phase", "mt.active", "--dir"])
        .arg(&demo_dir)
        .env_remove("METERLAB_LOG")
        .output()
        .await
        .unwrap();
    assert!(demo.status.success(), "{}", stderr(&demo));
    let db = demo_dir.join("meterlab.sqlite");
    // Slow answers keep the run going long enough to be killed in the middle.
    let emulator = start_emulator(dir.path(), &["--latency-ms", "40"]).await;
    let journal_dir = dir.path().join("runs");
    let journal = journal_dir.join("kill-1.jsonl");
    let mt = workspace().join("suites/mt");
    let dmcs = workspace().join("suites/dmcs");
    let args: Vec<String> = [
        "run",
        "--dmcs",
        path(&dmcs),
        "--quiet",
        "--devices",
        path(&emulator.devices),
        "--suite",
        path(&mt),
        "--phase",
        "MT",
        "--mode",
        "active",
        "--jobs",
        "1",
        "--db",
        path(&db),
        "--entry",
        "MOC/smso-north/acme-ch1-e470-g4",
        "--run-id",
        "kill-1",
        "--journal-dir",
        path(&journal_dir),
        "--output",
        "json",
    ]
    .map(str::to_owned)
    .to_vec();
    let lines = |path: &PathBuf| -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_meterlab-e2e"))
        .args(&args)
        .env_remove("METERLAB_LOG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(120), async {
        while lines(&journal).len() < 2 {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    })
    .await
    .expect("the run journals results");
    child.start_kill().unwrap();
    let status = child.wait().await.unwrap();
    assert!(!status.success(), "killed, not finished: {status:?}");
    let at_kill = lines(&journal).len();

    let rerun = Command::new(env!("CARGO_BIN_EXE_meterlab-e2e"))
        .args(&args)
        .env_remove("METERLAB_LOG")
        .output()
        .await
        .unwrap();
    let second: serde_json::Value = serde_json::from_slice(&rerun.stdout)
        .unwrap_or_else(|_| panic!("no JSON: {}", stderr(&rerun)));
    assert_eq!(rerun.status.code(), Some(0), "{second}");
    let total = lines(&journal);
    assert!(
        total.len() > at_kill,
        "the rerun ran what the killed run had not: {} then {}",
        at_kill,
        total.len()
    );
    // Every result once: no (case, device, attempt) twice, each (case, device) passed once.
    let mut keys = std::collections::BTreeSet::new();
    let mut passed = std::collections::BTreeSet::new();
    for line in &total {
        let key = (
            line["case_id"].as_str().unwrap().to_owned(),
            line["device_id"].as_str().unwrap().to_owned(),
        );
        assert!(
            keys.insert((key.clone(), line["attempt"].as_u64().unwrap())),
            "{line} twice"
        );
        if line["status"] == "passed" {
            assert!(passed.insert(key), "{line} passed twice");
        }
    }
    assert_eq!(
        second["store"]["watermark"].as_u64(),
        Some(total.len() as u64),
        "{second}"
    );
    // Nothing is left to run, and nothing more is stored.
    let third = Command::new(env!("CARGO_BIN_EXE_meterlab-e2e"))
        .args(&args)
        .env_remove("METERLAB_LOG")
        .output()
        .await
        .unwrap();
    let third: serde_json::Value = serde_json::from_slice(&third.stdout).unwrap();
    assert_eq!(third["summary"]["cases_total"].as_u64(), Some(0), "{third}");
    assert_eq!(third["store"]["acknowledged"].as_u64(), Some(0), "{third}");
    assert_eq!(
        third["store"]["watermark"].as_u64(),
        Some(total.len() as u64)
    );
}
