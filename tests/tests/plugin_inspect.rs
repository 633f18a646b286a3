//! `meterlab plugin inspect` on real plugin libraries built from `plugins/`.
#![allow(clippy::unwrap_used)]

#[path = "../../crates/plugin-host/tests/common/mod.rs"]
mod common;

use std::process::{Command, Output};

fn meterlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meterlab-e2e"))
        .args(args)
        .env_remove("METERLAB_LOG")
        .output()
        .unwrap()
}

fn fixture(name: &str) -> String {
    common::fixture_path(name).to_str().unwrap().to_owned()
}

#[test]
fn inspect_prints_identity_abi_smsos_and_srvs() {
    let output = meterlab(&["plugin", "inspect", &fixture("fixture-echo")]);
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains(&format!(
            "plugin   fixture-echo {}",
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );
    assert!(text.contains("abi      1.0"), "{text}");
    assert!(text.contains("runs     in-process"), "{text}");
    assert!(text.contains("smso     TOY-SMSO"), "{text}");
    assert!(text.contains("dmc      TOY-CH-1/TOY-ESME-1"), "{text}");
    assert!(text.contains("srv    11.2 Read Firmware Version"), "{text}");
    assert!(text.contains("variation: arming is immediate"), "{text}");
}

#[test]
fn inspect_as_json() {
    let output = meterlab(&[
        "plugin",
        "inspect",
        "--output",
        "json",
        &fixture("fixture-echo"),
    ]);
    assert!(output.status.success(), "{output:?}");
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["id"], "fixture-echo");
    assert_eq!(value["abi"]["major"], 1);
    assert_eq!(value["smso_ids"][0], "TOY-SMSO");
    let srvs = value["dmcs"][0]["srvs"].as_array().unwrap();
    assert_eq!(srvs.len(), 5);
    assert!(
        srvs.iter()
            .any(|s| s["srv"] == "7.4" && s["title"] == "Read Supply Status")
    );
}

#[test]
fn inspect_refuses_bad_plugins_with_the_reason() {
    let output = meterlab(&["plugin", "inspect", &fixture("fixture-wrong-abi")]);
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("ABI 2.0") && stderr.contains("ABI 1.0"),
        "{stderr}"
    );
    assert!(stderr.contains("libfixture_wrong_abi"), "{stderr}");

    let output = meterlab(&["plugin", "inspect", &fixture("fixture-no-symbol")]);
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("meterlab_adapter_v1"), "{stderr}");

    let output = meterlab(&["plugin", "inspect", "/nonexistent/libnothing.so"]);
    assert!(!output.status.success());
    assert!(
        String::from_utf8(output.stderr)
            .unwrap()
            .contains("/nonexistent/libnothing.so")
    );
}

#[test]
fn inspect_lists_the_iec_adapter_and_exactly_its_optical_srvs() {
    let exe = std::env::current_exe().unwrap();
    let library = exe.parent().unwrap().join(format!(
        "{}meterlab_iec62056_21_adapter{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    let output = meterlab(&["plugin", "inspect", library.to_str().unwrap()]);
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains("plugin   meterlab-iec62056-21-adapter"),
        "{text}"
    );
    assert!(text.contains("dmc      acme-ch1-e470p-g4"), "{text}");
    let srvs: Vec<&str> = text
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("srv    "))
        .collect();
    assert_eq!(
        srvs,
        [
            "4.1.1 Read Instantaneous Import Registers",
            "6.2.7 Read Device Configuration (MPxN)",
            "6.11 Synchronise Clock",
            "11.2 Read Firmware Version"
        ],
        "{text}"
    );
}

#[test]
fn inspect_out_of_process_checks_the_plugin_in_a_worker() {
    let worker = common::worker_path().to_str().unwrap().to_owned();
    let output = meterlab(&[
        "plugin",
        "inspect",
        "--isolation",
        "process",
        "--worker",
        &worker,
        &fixture("fixture-echo"),
    ]);
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("plugin   fixture-echo"), "{text}");
    assert!(text.contains("runs     process"), "{text}");
    assert!(text.contains("srv    11.2 Read Firmware Version"), "{text}");

    // The refusal is the in-process loader's, made in the worker.
    let output = meterlab(&[
        "plugin",
        "inspect",
        "--isolation",
        "process",
        "--worker",
        &worker,
        &fixture("fixture-wrong-abi"),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("ABI 2.0") && stderr.contains("libfixture_wrong_abi"),
        "{stderr}"
    );

    let output = meterlab(&["plugin", "inspect", "--isolation", "sideways", &worker]);
    assert!(!output.status.success());
    assert!(
        String::from_utf8(output.stderr)
            .unwrap()
            .contains("expected \"in-process\" or \"process\""),
    );
}
