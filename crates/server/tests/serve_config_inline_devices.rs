//! Inline `[[device]]` tables in the serve config: read by the devices-file parser, with key
//! files next to the config (refused when others may read them), never in `Debug`; errors at the
//! config's line and column; a config with both a devices file and tables, or one device twice,
//! is refused.

use std::os::unix::fs::PermissionsExt as _;

use meterlab_server::serve_config::ServeConfig;
use sha2::{Digest as _, Sha256};

const KEY: &str = "00112233445566778899aabbccddeeff";

fn bench_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    for sub in ["plugins", "suites", "dmcs", "secrets"] {
        std::fs::create_dir(root.join(sub)).expect("mkdir");
    }
    std::fs::write(root.join("plugins/libadapter.so"), b"p").expect("plugin");
    std::fs::write(root.join("dmcs/acme.toml"), "# a DMC").expect("dmc");
    let key = root.join("secrets/esme1.ek");
    std::fs::write(&key, KEY).expect("key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    dir
}

fn head() -> String {
    let pin = hex::encode(Sha256::digest(b"p"));
    format!(
        "plugin_dir = \"plugins\"\nsuites = \"suites\"\ndmcs = \"dmcs\"\n\n\
         [[plugin]]\nfile = \"libadapter.so\"\nsha256 = \"{pin}\"\nsmso = [\"smso-north\"]\n"
    )
}

fn device(name: &str, role: &str, wport: u16) -> String {
    format!(
        "\n[[device]]\nname = \"{name}\"\nhub = \"hub1\"\nrole = \"{role}\"\ndmc = \"acme\"\n\
         smso = \"smso-north\"\nstate = \"active\"\nmodel = \"ACME E470\"\nfirmware = \"2.0.1\"\n\
         system_title = \"4d4c4200000000{wport:02x}\"\n[device.serial]\npath = \"/dev/ttyUSB0\"\nbaud = 9600\nlogical_address = 1\n\
         physical_address = {wport}\naddress_size = 4\n\
         [device.tcp]\naddress = \"10.0.4.17:4059\"\nwport = {wport}\n\
         [[device.client]]\nsap = 1\nauthentication = \"lls\"\npassword = \"lls-secret-42\"\n\
         [[device.client]]\nsap = 48\nauthentication = \"hls-gmac\"\nciphered = true\n\
         system_title = \"4d4c420000000001\"\nencryption_key_file = \"secrets/esme1.ek\"\n\
         authentication_key = \"{KEY}\"\n"
    )
}

#[test]
fn inline_devices_load_with_their_key_files_and_never_show_a_secret() {
    let dir = bench_dir();
    let path = dir.path().join("serve.toml");
    let text = head() + &device("esme1", "esme", 2) + &device("gsme1", "gsme", 3);
    std::fs::write(&path, &text).expect("config");
    let loaded = ServeConfig::load(&path).expect("the config loads");
    let bench = loaded.bench.as_ref().expect("a bench");
    let names: Vec<&str> = bench.devices.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["esme1", "gsme1"]);
    let esme = &bench.devices[0];
    assert!(esme.serial.is_some() && esme.tcp.is_some());
    assert_eq!(esme.clients.len(), 2);
    assert!(bench.devices_files.is_empty());
    let shown = format!("{loaded:?}");
    for secret in [KEY, "lls-secret-42"] {
        assert!(!shown.contains(secret), "a secret in Debug: {shown}");
    }
    // Checked from the text alone too (no key file is read then, no device kept).
    let parsed = ServeConfig::parse(&path, &text).expect("the text is valid");
    assert!(parsed.bench.expect("a bench").devices.is_empty());
}

#[test]
fn a_bad_inline_device_is_refused_at_the_config_line_and_column() {
    let dir = bench_dir();
    let path = dir.path().join("serve.toml");
    let text = head() + &device("esme1", "toaster", 2);
    std::fs::write(&path, &text).expect("config");
    let line = text
        .lines()
        .position(|l| l.contains("toaster"))
        .expect("the role line")
        + 1;
    for refused in [
        ServeConfig::load(&path).expect_err("refused").to_string(),
        ServeConfig::parse(&path, &text)
            .expect_err("refused")
            .to_string(),
    ] {
        assert!(
            refused.contains(&format!(
                "serve.toml:{line}:8: [[device]]: unknown role \"toaster\""
            )),
            "{refused}"
        );
    }
    // A key file others may read is refused, naming the file, and its key is not echoed.
    let key = dir.path().join("secrets/esme1.ek");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    std::fs::write(&path, head() + &device("esme1", "esme", 2)).expect("config");
    let refused = ServeConfig::load(&path).expect_err("refused").to_string();
    assert!(refused.contains("encryption_key_file"), "{refused}");
    assert!(!refused.contains(KEY), "{refused}");
}

#[test]
fn a_devices_file_and_inline_devices_together_or_one_device_twice_are_refused() {
    let dir = bench_dir();
    let path = dir.path().join("serve.toml");
    std::fs::write(dir.path().join("bench.toml"), "format = 1\n").expect("devices file");
    let both = format!("devices = \"bench.toml\"\n{}", head()) + &device("esme1", "esme", 2);
    std::fs::write(&path, &both).expect("config");
    let refused = ServeConfig::load(&path).expect_err("refused").to_string();
    assert!(
        refused.contains("[[device]] tables and devices = [\"bench.toml\"] (line 1) both define"),
        "{refused}"
    );
    let twice = head() + &device("esme1", "esme", 2) + &device("esme1", "gsme", 3);
    std::fs::write(&path, &twice).expect("config");
    let refused = ServeConfig::load(&path).expect_err("refused").to_string();
    let first = twice
        .lines()
        .position(|l| l.contains("name = \"esme1\""))
        .expect("first name")
        + 1;
    assert!(
        refused.contains("[[device]]: device name \"esme1\" is already used at")
            && refused.contains(&format!("serve.toml:{first}:8")),
        "{refused}"
    );
}

#[test]
fn the_fuzz_seeds_with_inline_devices_read_as_intended() {
    let seeds =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/serve_config");
    let read = |name: &str| std::fs::read_to_string(seeds.join(name)).expect("seed");
    let path = std::path::Path::new("serve.toml");
    let inline = ServeConfig::parse(path, &read("inline_devices.toml"));
    assert!(inline.is_ok(), "{inline:?}");
    let both = ServeConfig::parse(path, &read("inline_and_file.toml"))
        .expect_err("refused")
        .to_string();
    assert!(both.contains("both define the bench's devices"), "{both}");
}
