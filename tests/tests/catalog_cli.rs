//! `meterlab catalog list | check | import` on the real binary.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Command, Output};

fn meterlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meterlab-e2e"))
        .args(args)
        .env_remove("METERLAB_LOG")
        .output()
        .unwrap()
}

fn suites() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../suites")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn check_accepts_the_shipped_suites_as_a_whole_directory() {
    let dmcs = suites().join("dmcs");
    let output = meterlab(&[
        "catalog",
        "check",
        suites().to_str().unwrap(),
        "--dmcs",
        dmcs.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    // Every shipped description is loaded and checked, not just the ones the cases name.
    let shipped = std::fs::read_dir(&dmcs)
        .expect("suites/dmcs is readable")
        .filter_map(Result::ok)
        .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "toml"))
        .count();
    assert!(shipped >= 4, "suites/dmcs holds the shipped descriptions");
    assert!(
        text(&output.stdout).contains(&format!("; {shipped} DMC descriptions (0 warnings)")),
        "{}",
        text(&output.stdout)
    );
    let stdout = text(&output.stdout);
    let count: usize = stdout
        .trim()
        .strip_prefix("ok: ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("unexpected summary: {stdout}"));
    assert!(count >= 60, "{stdout}");
}

#[test]
fn check_prints_every_problem_with_its_location_and_exits_2() {
    let directory = tempfile::tempdir().unwrap();
    let good = "format = 1\n[[case]]\nid = \"A-1\"\ntitle = \"t\"\nphase = \"SIT\"\nmodes = [\"active\"]\ndevices = [\"esme\"]\ndnb = \"D\"\nseverity = 3\n[[case.step]]\nsrv = \"7.4\"\n";
    std::fs::write(directory.path().join("a.toml"), good).unwrap();
    let bad = good
        .replace("A-1", "B-1")
        .replace("\"7.4\"", "\"7.9\"")
        .replace("severity = 3", "severity = 9");
    std::fs::write(directory.path().join("b.toml"), bad).unwrap();
    std::fs::write(directory.path().join("c.toml"), good).unwrap();

    let output = meterlab(&["catalog", "check", directory.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    let b = directory.path().join("b.toml").display().to_string();
    let c = directory.path().join("c.toml").display().to_string();
    let a = directory.path().join("a.toml").display().to_string();
    assert!(
        stderr.contains(&format!("{b}:9:12: severity 9 is out of range")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{b}:11:7: unknown SRV \"7.9\"")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{c}:2:1: duplicate case id \"A-1\": first defined at {a}:2:1"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("3 problems in the suites; nothing was loaded"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn list_filters_by_phase_and_mode_and_prints_hashes_as_json() {
    let sit = suites().join("sit");
    let output = meterlab(&[
        "catalog",
        "list",
        "--suite",
        sit.to_str().unwrap(),
        "--phase",
        "SIT",
        "--mode",
        "dormant",
        "--output",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let cases: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let cases = cases.as_array().unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        assert_eq!(case["phase"], "SIT");
        assert!(
            case["modes"]
                .as_array()
                .unwrap()
                .contains(&"dormant".into())
        );
        let hash = case["hash"].as_str().unwrap();
        assert_eq!(hash.len(), 64);
        assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
    }
    // Active-only cases are not listed for dormant installations.
    assert!(!cases.iter().any(|case| case["id"] == "SIT-SUP-008"));

    let all = meterlab(&["catalog", "list", "--suite", sit.to_str().unwrap()]);
    let all_text = text(&all.stdout);
    assert!(all_text.starts_with("ID"), "{all_text}");
    assert!(all_text.contains("SIT-SUP-008"));
    assert!(all_text.trim_end().ends_with(" cases"), "{all_text}");
}

#[test]
fn import_writes_cases_that_check_and_reports_what_it_could_not_map() {
    let directory = tempfile::tempdir().unwrap();
    let xml = r#"<?xml version="1.0"?>
<test-pack xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway">
  <sr:Request>
    <sr:Header><sr:RequestID>90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A3:1</sr:RequestID>
      <sr:CommandVariant>1</sr:CommandVariant><sr:ServiceReference>7.2</sr:ServiceReference>
      <sr:ServiceReferenceVariant>7.2</sr:ServiceReferenceVariant></sr:Header>
    <sr:Body><sr:DisableSupply/></sr:Body>
  </sr:Request>
  <sr:Request>
    <sr:Header><sr:RequestID>90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A3:2</sr:RequestID>
      <sr:CommandVariant>1</sr:CommandVariant><sr:ServiceReference>1.1</sr:ServiceReference>
      <sr:ServiceReferenceVariant>1.1.1</sr:ServiceReferenceVariant></sr:Header>
    <sr:Body><sr:UpdateImportTariffPrimaryElement/></sr:Body>
  </sr:Request>
</test-pack>
"#;
    let input = directory.path().join("rtds.xml");
    std::fs::write(&input, xml).unwrap();
    let out = directory.path().join("imported");
    let output = meterlab(&[
        "catalog",
        "import",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1), "one request was not mapped");
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("-> step SRV 7.2 Disable Supply"),
        "{stderr}"
    );
    assert!(
        stderr.contains("(SRV 1.1.1) not imported: SRV 1.1.1 is not in the adapter vocabulary"),
        "{stderr}"
    );

    let check = meterlab(&["catalog", "check", out.to_str().unwrap()]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stderr));
    assert!(text(&check.stdout).starts_with("ok: 1 cases, 1 steps in 1 files"));

    let again = meterlab(&[
        "catalog",
        "import",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_ne!(
        again.status.code(),
        Some(0),
        "an existing file is not overwritten"
    );

    let broken = directory.path().join("broken.xml");
    std::fs::write(&broken, "<sr:Request xmlns:sr=\"x\">\n<oops>\n").unwrap();
    let output = meterlab(&["catalog", "import", broken.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("broken.xml:"),
        "{}",
        text(&output.stderr)
    );
}

/// `meterlab catalog list --output json | head -1`: the reader goes away before the program
/// has printed everything. The program ends as a pipeline's tools do (141, the shell's code for
/// SIGPIPE), without a panic message.
#[test]
fn a_reader_that_goes_away_ends_the_output_quietly() {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let output = Command::new(env!("CARGO_BIN_EXE_meterlab-e2e"))
        .args(["catalog", "list", "--output", "json", "--suite"])
        .arg(suites().join("sit"))
        .env_remove("METERLAB_LOG")
        .stdout(writer)
        .output()
        .unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(141), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
