//! `meterlab report` on the real binary: a completion report and a sealed evidence bundle from
//! a local store after a run that wrote JUnit, CTRF and evidence; `report verify` accepts the
//! bundle, then names the one file whose byte was changed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod run_support;

use std::process::Output;

use run_support::{meterlab_run, path, start_emulator, stderr, workspace};
use tokio::process::Command;

const ENTRY: &str = "MOC/smso-north/acme-ch1-e470-g4";

async fn meterlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meterlab"))
        .args(args)
        .env_remove("METERLAB_LOG")
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_report_and_a_sealed_bundle_from_a_local_store() {
    let dir = tempfile::tempdir().unwrap();
    let demo_dir = dir.path().join("demo");
    let demo = meterlab(&["demo", "--phase", "mt.active", "--dir", path(&demo_dir)]).await;
    assert!(demo.status.success(), "{}", stderr(&demo));
    let db = demo_dir.join("meterlab.sqlite");

    // A run that stores its results and writes its evidence, JUnit and CTRF.
    let emulator = start_emulator(dir.path(), &[]).await;
    let evidence = dir.path().join("evidence");
    let junit = dir.path().join("junit.xml");
    let ctrf = dir.path().join("ctrf.json");
    let mt = workspace().join("suites/mt");
    let run = meterlab_run(&[
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
        "--db",
        path(&db),
        "--entry",
        ENTRY,
        "--run-id",
        "report-1",
        "--journal-dir",
        path(&dir.path().join("runs")),
        "--evidence-dir",
        path(&evidence),
        "--junit",
        path(&junit),
        "--ctrf",
        path(&ctrf),
    ])
    .await;
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<testcase name=\"MT-ACT-001\""), "{xml}");
    let ctrf: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ctrf).unwrap()).unwrap();
    assert_eq!(ctrf["reportFormat"], "CTRF");
    assert_eq!(ctrf["results"]["summary"]["passed"], 3, "{ctrf}");

    // The report and the bundle.
    let md = dir.path().join("report.md");
    let bundle = dir.path().join("bundle");
    let report = meterlab(&[
        "report",
        "--db",
        path(&db),
        "--entry",
        ENTRY,
        "--out",
        path(&md),
        "--bundle",
        path(&bundle),
        "--evidence",
        path(&evidence),
    ])
    .await;
    assert!(report.status.success(), "{}", stderr(&report));
    let text = std::fs::read_to_string(&md).unwrap();
    assert!(text.contains("# Combined completion report — MOC/smso-north/acme-ch1-e470-g4"));
    assert!(text.contains("## Summary"), "{text}");
    assert!(text.contains("<svg"), "{text}");
    assert!(
        stderr(&report).contains("evidence of 3 of"),
        "{}",
        stderr(&report)
    );
    let index = std::fs::read_to_string(bundle.join("results.tsv")).unwrap();
    assert_eq!(
        index
            .lines()
            .filter(|l| l.contains("\treport-1\t") && l.contains("\tincluded\t"))
            .count(),
        3,
        "{index}"
    );
    let captures: Vec<_> = walk(&bundle.join("captures"));
    assert_eq!(captures.len(), 3, "{captures:?}");
    let steps = walk(&bundle.join("steps"));
    assert_eq!(steps.len(), 3, "{steps:?}");

    let verified = meterlab(&["report", "verify", path(&bundle)]).await;
    assert!(verified.status.success(), "{}", stderr(&verified));
    assert!(String::from_utf8_lossy(&verified.stdout).contains("intact"));

    // One byte of one capture changes: verify names that file and fails.
    let target = &captures[0];
    let mut bytes = std::fs::read(target).unwrap();
    bytes[0] ^= 0x01;
    std::fs::write(target, bytes).unwrap();
    let name = target
        .strip_prefix(&bundle)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let tampered = meterlab(&["report", "verify", path(&bundle)]).await;
    assert_eq!(tampered.status.code(), Some(1));
    let err = stderr(&tampered);
    assert!(
        err.contains(&format!("NOT intact: {name} changed")),
        "{err}"
    );

    // JSON is the structured report; a gateway cannot make a bundle.
    let json = meterlab(&[
        "report",
        "--db",
        path(&db),
        "--entry",
        ENTRY,
        "--format",
        "json",
    ])
    .await;
    assert!(json.status.success(), "{}", stderr(&json));
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(
        doc["report"]["phases"].as_array().unwrap().len() >= 6,
        "{doc}"
    );
    let refused = meterlab(&[
        "report",
        "--gateway",
        "http://127.0.0.1:9",
        "--entry",
        ENTRY,
        "--bundle",
        "b",
    ])
    .await;
    assert!(!refused.status.success());
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}
