//! Sealed evidence bundles: an intact bundle verifies; one changed byte, a missing file or an
//! extra file is named.

use std::fs;

use meterlab_report::BundleError;
use meterlab_report::bundle::{BundleFile, MANIFEST, Problem, verify_bundle, write_bundle};

fn files() -> Vec<BundleFile> {
    vec![
        BundleFile::new("report.md", "# report\n"),
        BundleFile::new("report.html", "<html></html>"),
        BundleFile::new("cases/esme-1/M1.attempt-1.steps.txt", "step 1 ok\n"),
        BundleFile::new(
            "cases/esme-1/M1.attempt-1.evidence.json",
            "{\"traffic\":[]}",
        ),
        BundleFile::new(
            "captures/esme-1/M1.attempt-1.traffic.hex",
            "7e a0 07 03 21 93 0f 01 7e\n",
        ),
    ]
}

#[test]
fn an_intact_bundle_verifies() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bundle = dir.path().join("b");
    let sealed = write_bundle(&bundle, &files()).expect("write");
    assert_eq!(sealed.files, 5);
    let v = verify_bundle(&bundle).expect("verify");
    assert!(v.is_intact(), "{:?}", v.problems);
    assert_eq!(v.files, 5);
    assert_eq!(v.manifest_sha256, sealed.manifest_sha256);
    let manifest = fs::read_to_string(bundle.join(MANIFEST)).expect("manifest");
    let names: Vec<&str> = manifest.lines().map(|l| &l[66..]).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "sorted by path");
}

#[test]
fn one_changed_byte_names_the_file() {
    for target in [
        "report.md",
        "cases/esme-1/M1.attempt-1.evidence.json",
        "captures/esme-1/M1.attempt-1.traffic.hex",
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        let bundle = dir.path().join("b");
        write_bundle(&bundle, &files()).expect("write");
        let path = bundle.join(target);
        let mut bytes = fs::read(&path).expect("read");
        bytes[3] ^= 0x01;
        fs::write(&path, bytes).expect("tamper");
        let v = verify_bundle(&bundle).expect("verify");
        assert_eq!(v.problems.len(), 1, "{:?}", v.problems);
        match v.first_problem() {
            Some(Problem::Changed { name, .. }) => assert_eq!(name, target),
            other => panic!("expected {target} changed, got {other:?}"),
        }
        assert!(
            v.problems[0]
                .to_string()
                .starts_with(&format!("{target} changed"))
        );
    }
}

#[test]
fn missing_and_extra_files_are_named_in_manifest_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bundle = dir.path().join("b");
    write_bundle(&bundle, &files()).expect("write");
    fs::remove_file(bundle.join("report.html")).expect("remove");
    fs::write(bundle.join("cases/esme-1/planted.txt"), "x").expect("plant");
    let path = bundle.join("report.md");
    fs::write(&path, "# report, edited\n").expect("edit");
    let v = verify_bundle(&bundle).expect("verify");
    let names: Vec<(&str, &str)> = v
        .problems
        .iter()
        .map(|p| match p {
            Problem::Changed { name, .. } => ("changed", name.as_str()),
            Problem::Missing { name } => ("missing", name.as_str()),
            Problem::Extra { name } => ("extra", name.as_str()),
            Problem::Damaged { name, .. } => ("damaged", name.as_str()),
        })
        .collect();
    assert_eq!(
        names,
        [
            ("missing", "report.html"),
            ("changed", "report.md"),
            ("extra", "cases/esme-1/planted.txt"),
        ]
    );
}

#[test]
fn a_damaged_manifest_names_its_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bundle = dir.path().join("b");
    write_bundle(&bundle, &files()).expect("write");
    let path = bundle.join(MANIFEST);
    let text = fs::read_to_string(&path).expect("manifest");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[2] = lines[2].replacen("  ", " ", 1);
    fs::write(&path, lines.join("\n") + "\n").expect("damage");
    match verify_bundle(&bundle) {
        Err(BundleError::Manifest { line, .. }) => assert_eq!(line, 3),
        other => panic!("expected a manifest error at line 3, got {other:?}"),
    }
}

#[test]
fn unsafe_names_and_existing_directories_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    for name in ["../escape", "/abs", "a//b", MANIFEST, "", "a/./b"] {
        let err = write_bundle(&dir.path().join("b"), &[BundleFile::new(name, "x")])
            .expect_err("an unsafe name is refused");
        assert!(
            matches!(err, BundleError::BadName { .. }),
            "{name:?}: {err}"
        );
    }
    let twice = [BundleFile::new("a", "1"), BundleFile::new("a", "2")];
    assert!(matches!(
        write_bundle(&dir.path().join("b"), &twice),
        Err(BundleError::Duplicate { .. })
    ));
    assert!(matches!(
        write_bundle(dir.path(), &files()),
        Err(BundleError::Exists { .. })
    ));
}
