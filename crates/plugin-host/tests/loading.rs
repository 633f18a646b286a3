//! Loading real plugin libraries built from `plugins/`: the well-behaved one and every refusal.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use common::{fixture_dir, fixture_file, fixture_path};
use meterlab_plugin::pb::Srv;
use meterlab_plugin_host::{HostConfig, LoadError, PluginHost};
use sha2::{Digest as _, Sha256};

fn host(pins: HashMap<String, [u8; 32]>) -> PluginHost {
    PluginHost::new(HostConfig {
        plugin_dir: fixture_dir().to_owned(),
        pins,
    })
    .unwrap()
}

#[test]
fn loads_and_describes_the_echo_plugin() {
    let plugin = host(HashMap::new())
        .load(fixture_file("fixture-echo"))
        .unwrap();
    assert_eq!(plugin.id(), "fixture-echo");
    assert_eq!(plugin.version(), env!("CARGO_PKG_VERSION"));
    assert_eq!(plugin.abi_version(), (1, 0));
    let info = plugin.info();
    assert_eq!(info.smso_ids, ["TOY-SMSO"]);
    assert_eq!(info.dmcs.len(), 1);
    let srvs: Vec<Srv> = info.dmcs[0].srvs.iter().map(|s| s.srv()).collect();
    assert!(srvs.contains(&Srv::Srv112ReadFirmwareVersion));
    assert!(!srvs.contains(&Srv::Srv111UpdateFirmware));
    let arm = info.dmcs[0]
        .srvs
        .iter()
        .find(|s| s.srv() == Srv::Srv73ArmSupply)
        .unwrap();
    assert_eq!(arm.variations.len(), 1);
}

#[test]
fn loading_twice_reuses_the_loaded_plugin() {
    let host = host(HashMap::new());
    let first = host.load(fixture_file("fixture-echo")).unwrap();
    let second = host.load(fixture_path("fixture-echo")).unwrap();
    assert!(Arc::ptr_eq(&first, &second));
}

#[test]
fn refuses_a_wrong_abi_major_naming_file_and_versions() {
    let error = host(HashMap::new())
        .load(fixture_file("fixture-wrong-abi"))
        .unwrap_err();
    assert!(matches!(
        error,
        LoadError::AbiMajor {
            plugin_major: 2,
            host_major: 1,
            ..
        }
    ));
    let message = error.to_string();
    assert!(
        message.contains(&fixture_file("fixture-wrong-abi")),
        "{message}"
    );
    assert!(
        message.contains("ABI 2.0") && message.contains("ABI 1.0"),
        "{message}"
    );
}

#[test]
fn refuses_a_library_without_the_entry_symbol() {
    let error = host(HashMap::new())
        .load(fixture_file("fixture-no-symbol"))
        .unwrap_err();
    assert!(matches!(
        error,
        LoadError::MissingSymbol {
            symbol: "meterlab_adapter_v1",
            ..
        }
    ));
    assert!(
        error
            .to_string()
            .contains(&fixture_file("fixture-no-symbol")),
        "{error}"
    );
}

#[test]
fn honours_sha256_pins() {
    let file = fixture_file("fixture-echo");
    let actual: [u8; 32] =
        Sha256::digest(std::fs::read(fixture_path("fixture-echo")).unwrap()).into();
    let loaded = host(HashMap::from([(file.clone(), actual)]))
        .load(&file)
        .unwrap();
    assert_eq!(loaded.sha256(), actual);

    let mut wrong = actual;
    wrong[31] ^= 1;
    let error = host(HashMap::from([(file.clone(), wrong)]))
        .load(&file)
        .unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, LoadError::PinMismatch { .. }));
    assert!(message.contains(&file), "{message}");
    assert!(message.contains(&hex::encode(actual)) && message.contains(&hex::encode(wrong)));
}

#[test]
fn refuses_plugins_outside_the_plugin_directory() {
    let elsewhere = tempfile::tempdir().unwrap();
    let copy = elsewhere.path().join(fixture_file("fixture-echo"));
    std::fs::copy(fixture_path("fixture-echo"), &copy).unwrap();
    let error = host(HashMap::new()).load(&copy).unwrap_err();
    assert!(
        matches!(error, LoadError::OutsideDirectory { .. }),
        "{error}"
    );

    let error = host(HashMap::new())
        .load("../libfixture_echo.so")
        .unwrap_err();
    assert!(
        matches!(
            error,
            LoadError::OutsideDirectory { .. } | LoadError::Read { .. }
        ),
        "{error}"
    );
}

#[test]
fn refuses_a_file_that_is_not_a_library() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("libnotes.so"), b"not an ELF file").unwrap();
    let host = PluginHost::new(HostConfig {
        plugin_dir: dir.path().to_owned(),
        pins: HashMap::new(),
    })
    .unwrap();
    let error = host.load("libnotes.so").unwrap_err();
    assert!(matches!(error, LoadError::Library { .. }), "{error}");
    assert!(error.to_string().contains("libnotes.so"));
}
