//! Shared by the `meterlab run` end-to-end tests: the emulator on a one-hub scenario, the fixture
//! plugins next to the test, and running the binary.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

pub const SCENARIO: &str = r#"
seed = 11

[[smso]]
id = "smso-north"
lls_password = "north-lls-0001"
key_seed = "smso-north head-end secret"
ciphered = false

[[dmc]]
id = "acme-ch1-e470-g4"
smso = "smso-north"
hub = { model = "ACME CH1", firmware = "1.4.0", dormant_firmware = "1.1.0" }
esme = { model = "ACME E470", firmware = "2.0.1", dormant_firmware = "1.2.0" }
gsme = { model = "ACME G4", firmware = "3.1.0", dormant_firmware = "3.0.0" }

[[hub]]
id = "e2e-active"
dmc = "acme-ch1-e470-g4"
state = "active"
esme = { mpxn = "1200012345601", consumption = 450 }
gsme = { mpxn = "7300123401" }
"#;

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_owned()
}

/// A fixture plugin built next to this test (the fixtures are dev-dependencies).
pub fn fixture(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .unwrap()
        .join(format!("lib{}.so", name.replace('-', "_")));
    assert!(path.is_file(), "{} not built", path.display());
    path
}

pub struct Emulator {
    _child: Child,
    pub devices: PathBuf,
}

/// Starts `meterlab emulate` with the scenario above (plus `extra` flags); the devices file is
/// written into `dir`.
pub async fn start_emulator(dir: &Path, extra: &[&str]) -> Emulator {
    start_emulator_with(dir, SCENARIO, extra).await
}

/// [`start_emulator`] with another scenario text.
pub async fn start_emulator_with(dir: &Path, scenario_text: &str, extra: &[&str]) -> Emulator {
    let scenario = dir.join("scenario.toml");
    std::fs::write(&scenario, scenario_text).unwrap();
    let mut source = vec!["--scenario", scenario.to_str().unwrap()];
    source.extend_from_slice(extra);
    start_emulator_from(dir, &source).await
}

/// Starts `meterlab emulate` with these arguments (a scenario or `--meters N`, and flags).
pub async fn start_emulator_from(dir: &Path, source: &[&str]) -> Emulator {
    let extra = source;
    let devices = dir.join("devices.toml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_meterlab-e2e"))
        .arg("emulate")
        .args([
            "--listen",
            "127.0.0.1:0",
            "--output",
            "json",
            "--devices-out",
        ])
        .arg(&devices)
        .args(extra)
        .env_remove("METERLAB_LOG")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let line = lines.next_line().await.unwrap().expect("start-up document");
            text.push_str(&line);
            text.push('\n');
            if serde_json::from_str::<serde_json::Value>(&text).is_ok() {
                return;
            }
        }
    })
    .await
    .expect("the emulator starts");
    assert!(devices.is_file());
    Emulator {
        _child: child,
        devices,
    }
}

pub async fn meterlab_run(args: &[&str]) -> Output {
    let dmcs = workspace().join("suites/dmcs");
    Command::new(env!("CARGO_BIN_EXE_meterlab-e2e"))
        .arg("run")
        .arg("--dmcs")
        .arg(&dmcs)
        .args(["--quiet"])
        .args(args)
        .env_remove("METERLAB_LOG")
        .output()
        .await
        .unwrap()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn path(path: &Path) -> &str {
    path.to_str().unwrap()
}
