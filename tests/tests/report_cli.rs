//! `meterlab report` on the real binary: a completion report and a sealed evidence bundle from
//! a local store after a run that wrote JUnit, CTRF and evidence; `report verify` accepts the
//! bundle, then names the one file whose byte was changed; the same for a bundle written as one
//! zip, which also refuses an entry that would leave the bundle.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod run_support;

use std::process::Output;

use run_support::{meterlab_run, path, start_emulator, stderr, workspace};
use tokio::process::Command;

const ENTRY: &str = "MOC/smso-north/acme-ch1-e470-g4";

async fn meterlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meterlab-e2e"))
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
    let capture_name = name.clone();
    let tampered = meterlab(&["report", "verify", path(&bundle)]).await;
    assert_eq!(tampered.status.code(), Some(1));
    let err = stderr(&tampered);
    assert!(
        err.contains(&format!("NOT intact: {name} changed")),
        "{err}"
    );

    // The same bundle as one zip: the same files, verified the same way.
    let zipped = dir.path().join("bundle.zip");
    let report = meterlab(&[
        "report",
        "--db",
        path(&db),
        "--entry",
        ENTRY,
        "--out",
        path(&dir.path().join("report-2.md")),
        "--bundle",
        path(&zipped),
        "--evidence",
        path(&evidence),
    ])
    .await;
    assert!(report.status.success(), "{}", stderr(&report));
    let written = stderr(&report);
    assert!(written.contains("evidence of 3 of"), "{written}");
    let entries = zip_entries(&std::fs::read(&zipped).unwrap());
    let mut names: Vec<String> = entries.iter().map(|(n, _)| n.clone()).collect();
    let mut expected: Vec<String> = walk(&bundle)
        .iter()
        .map(|p| {
            p.strip_prefix(&bundle)
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    names.sort();
    expected.sort();
    assert_eq!(names, expected);
    // Captures carry no time of writing: the zip holds the directory's bytes (but the one
    // tampered above).
    for (name, bytes) in entries.iter().filter(|(n, _)| n.starts_with("captures/")) {
        if *name != capture_name {
            assert_eq!(&std::fs::read(bundle.join(name)).unwrap(), bytes, "{name}");
        }
    }
    let verified = meterlab(&["report", "verify", path(&zipped)]).await;
    assert!(verified.status.success(), "{}", stderr(&verified));
    let out = String::from_utf8_lossy(&verified.stdout).into_owned();
    let manifest_sha = written.rsplit("manifest SHA-256 ").next().unwrap().trim();
    assert!(
        out.contains("intact") && out.contains(manifest_sha),
        "{out} / {written}"
    );

    // A tamperer rewrites the zip with one byte of one capture changed: named.
    let mut rewritten = entries.clone();
    let slot = rewritten
        .iter_mut()
        .find(|(n, _)| n.starts_with("captures/"))
        .unwrap();
    slot.1[0] ^= 0x01;
    let target = slot.0.clone();
    let tampered_zip = dir.path().join("tampered.zip");
    std::fs::write(&tampered_zip, zip_of(&rewritten)).unwrap();
    let tampered = meterlab(&["report", "verify", path(&tampered_zip)]).await;
    assert_eq!(tampered.status.code(), Some(1));
    let err = stderr(&tampered);
    assert!(
        err.contains(&format!("NOT intact: {target} changed")),
        "{err}"
    );

    // An entry that would be extracted outside the bundle is refused, naming bundle and entry.
    let mut evil = entries.clone();
    evil.push(("../outside.txt".to_owned(), b"x".to_vec()));
    let evil_zip = dir.path().join("evil.zip");
    std::fs::write(&evil_zip, zip_of(&evil)).unwrap();
    let refused = meterlab(&["report", "verify", path(&evil_zip)]).await;
    assert!(!refused.status.success());
    let err = stderr(&refused);
    assert!(
        err.contains(&format!("{}: entry \"../outside.txt\"", evil_zip.display())),
        "{err}"
    );
    // A zip bundle is written to a new path only.
    let again = meterlab(&[
        "report",
        "--db",
        path(&db),
        "--entry",
        ENTRY,
        "--out",
        path(&dir.path().join("report-3.md")),
        "--bundle",
        path(&zipped),
    ])
    .await;
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
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

/// Every entry of a zip with its content.
fn zip_entries(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    use std::io::Read as _;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).unwrap();
            let mut content = Vec::new();
            entry.read_to_end(&mut content).unwrap();
            (entry.name().unwrap().to_string(), content)
        })
        .collect()
}

/// A zip of `entries` as any zip tool would write it.
fn zip_of(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    use std::io::Write as _;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, content) in entries {
        zip.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(content).unwrap();
    }
    zip.finish().unwrap().into_inner()
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
