//! `meterlab serve --config` whose bench devices are inline `[[device]]` tables (the emulator's
//! devices file moved into the config): the gateway lists them, and `devices check` associates
//! with each one through the DLMS adapter, reached as the tables say.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bench_support;
mod run_support;

use bench_support::{BenchOptions, adapter, serve, write_bench_config};
use run_support::start_emulator;
use tokio::process::Command;

#[tokio::test]
async fn a_gateway_serves_and_checks_the_devices_of_its_own_config() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = start_emulator(dir.path(), &[]).await;
    let config = write_bench_config(
        dir.path(),
        &emulator.devices,
        &adapter(),
        BenchOptions::default(),
    );
    // The devices file's tables go into the config; the `devices` key goes.
    let devices_text = std::fs::read_to_string(&emulator.devices).unwrap();
    let tables: String = devices_text
        .lines()
        .filter(|line| !line.starts_with("format ="))
        .map(|line| format!("{line}\n"))
        .collect();
    let text: String = std::fs::read_to_string(&config)
        .unwrap()
        .lines()
        .filter(|line| !line.starts_with("devices ="))
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(&config, format!("{text}\n{tables}")).unwrap();
    std::fs::remove_file(&emulator.devices).unwrap();
    let names: Vec<String> = meterlab_devices::parse("emulated", &devices_text)
        .unwrap()
        .devices
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert!(!names.is_empty());

    let (mut server, addr) = serve(&config).await;
    let url = format!("http://{addr}");
    let listed = Command::new(env!("CARGO_BIN_EXE_meterlab-e2e"))
        .args(["devices", "--gateway", &url])
        .env_remove("METERLAB_LOG")
        .output()
        .await
        .unwrap();
    let out = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(listed.status.success(), "{out}");
    assert!(out.contains(&format!("{} device(s)", names.len())), "{out}");
    for name in &names {
        assert!(out.contains(name.as_str()), "{name} not listed:\n{out}");
        let checked = Command::new(env!("CARGO_BIN_EXE_meterlab-e2e"))
            .args(["devices", "check", name, "--gateway", &url])
            .env_remove("METERLAB_LOG")
            .output()
            .await
            .unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&checked.stdout),
            String::from_utf8_lossy(&checked.stderr)
        );
        assert_eq!(checked.status.code(), Some(0), "{name}: {said}");
        assert!(said.contains(&format!("{name}: healthy")), "{said}");
    }
    server.kill().await.unwrap();
}
