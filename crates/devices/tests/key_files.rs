//! Device credentials in secret files: read relative to the devices file, refused when others may
//! read them, never shown in `Debug`, `Display` or error messages.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use meterlab_devices::{DevicesFile, Key128, parse};

const DEVICE: &str = r#"format = 1

[[device]]
name = "esme1"
hub = "hub1"
role = "esme"
dmc = "acme-ch1"
smso = "smso-north"
state = "active"
model = "ACME E470"
firmware = "2.0.1"
system_title = "4d4c420000000002"

[device.tcp]
address = "127.0.0.1:4059"
wport = 2

[[device.client]]
sap = 48
authentication = "hls-gmac"
ciphered = true
system_title = "4d4c430000000001"
encryption_key_file = "keys/esme1.ek"
authentication_key_file = "keys/esme1.ak"
master_key_file = "/ABS/keys/esme1.mk"
"#;

const EK: &str = "000102030405060708090a0b0c0d0e0f";
const AK: &str = "d0d1d2d3d4d5d6d7d8d9dadbdcdddedf";
const MK: &str = "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf";

fn write_secret(path: &Path, text: &str, mode: u32) {
    std::fs::write(path, text).expect("write key file");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn bench(mode: u32) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("keys")).expect("keys dir");
    write_secret(&dir.path().join("keys/esme1.ek"), &format!("{EK}\n"), 0o600);
    write_secret(&dir.path().join("keys/esme1.ak"), AK, mode);
    write_secret(&dir.path().join("keys/esme1.mk"), MK, 0o400);
    let text = DEVICE.replace("/ABS", &dir.path().display().to_string());
    let file = dir.path().join("devices.toml");
    std::fs::write(&file, text).expect("write devices file");
    (dir, file)
}

#[test]
fn keys_are_read_from_private_files_next_to_the_devices_file() {
    let (_dir, file) = bench(0o600);
    let devices = DevicesFile::load(&file).expect("the devices file loads");
    let client = &devices.devices[0].clients[0];
    assert_eq!(
        client.encryption_key,
        Some(Key128::from_hex(EK).expect("hex"))
    );
    assert_eq!(
        client.authentication_key,
        Some(Key128::from_hex(AK).expect("hex"))
    );
    assert_eq!(client.master_key, Some(Key128::from_hex(MK).expect("hex")));
    let shown = format!("{devices:?} {}", client.encryption_key.expect("key"));
    for key in [EK, AK, MK] {
        assert!(
            !shown.contains(key),
            "a key leaked into Debug/Display: {shown}"
        );
    }
}

#[test]
fn a_key_file_others_may_read_is_refused_with_its_place() {
    let (_dir, file) = bench(0o644);
    let error = DevicesFile::load(&file).expect_err("a group-readable key is refused");
    let text = error.to_string();
    assert!(
        text.contains("devices.toml:24:27: authentication_key_file:"),
        "{text}"
    );
    assert!(
        text.contains("readable by group or others (mode 644)"),
        "{text}"
    );
    assert!(!text.contains(AK), "{text}");
}

#[test]
fn a_malformed_key_file_is_refused_without_echoing_it() {
    let (dir, file) = bench(0o600);
    write_secret(
        &dir.path().join("keys/esme1.ek"),
        "not-a-key-but-secret",
        0o600,
    );
    let text = DevicesFile::load(&file).expect_err("bad key").to_string();
    assert!(
        text.contains("encryption_key: expected 32 hex digits"),
        "{text}"
    );
    assert!(!text.contains("not-a-key-but-secret"), "{text}");
}

#[test]
fn key_files_need_a_file_on_disk_and_inline_and_file_together_are_refused() {
    let error = parse("d.toml", DEVICE).expect_err("no directory to read from");
    assert!(error.to_string().contains("loaded from disk"), "{error}");
    let both = DEVICE.replace(
        "encryption_key_file",
        &format!("encryption_key = \"{EK}\"\nencryption_key_file"),
    );
    let error = parse("d.toml", &both).expect_err("both forms");
    assert!(
        error
            .to_string()
            .contains("give encryption_key or encryption_key_file, not both"),
        "{error}"
    );
}
