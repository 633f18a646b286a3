//! The bench half of the serve config: plugins with pins, devices files, suites, DMC
//! descriptions and limits, every problem reported at once with its place.

use std::path::Path;

use meterlab_server::serve_config::{DEFAULT_LIMITS, ServeConfig};
use sha2::{Digest as _, Sha256};

const DEVICES: &str = r#"format = 1

[[device]]
name = "esme1"
hub = "hub1"
role = "esme"
dmc = "acme"
smso = "smso-north"
state = "active"
model = "ACME E470"
firmware = "2.0.1"

[device.tcp]
address = "127.0.0.1:4059"
wport = 2

[[device.client]]
sap = 16
authentication = "none"
"#;

fn bench_dir(plugin_bytes: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    for sub in ["plugins", "suites", "dmcs"] {
        std::fs::create_dir(root.join(sub)).expect("mkdir");
    }
    std::fs::write(root.join("plugins/libadapter.so"), plugin_bytes).expect("plugin");
    std::fs::write(root.join("dmcs/acme.toml"), "# a DMC").expect("dmc");
    std::fs::write(root.join("bench.toml"), DEVICES).expect("devices");
    dir
}

fn config(pin: &str, extra: &str) -> String {
    format!(
        "plugin_dir = \"plugins\"\ndevices = \"bench.toml\"\nsuites = \"suites\"\ndmcs = \"dmcs\"\n\
         {extra}\n[[plugin]]\nfile = \"libadapter.so\"\nsha256 = \"{pin}\"\nsmso = [\"smso-north\"]\n"
    )
}

#[test]
fn a_bench_loads_with_its_devices_and_pins() {
    let dir = bench_dir(b"the plugin bytes");
    let pin = hex::encode(Sha256::digest(b"the plugin bytes"));
    let path = dir.path().join("serve.toml");
    std::fs::write(
        &path,
        config(&pin, "[limits]\nrun_jobs = 2\nmax_lease_ttl_s = 60\n"),
    )
    .expect("config");
    let loaded = ServeConfig::load(&path).expect("the config loads");
    let bench = loaded.bench.expect("a bench");
    assert_eq!(bench.devices.len(), 1);
    assert_eq!(bench.devices[0].name, "esme1");
    assert_eq!(
        bench.plugin_for("smso-north").map(|p| p.file.as_str()),
        Some("libadapter.so")
    );
    assert_eq!(loaded.limits.run_jobs, 2);
    assert_eq!(loaded.limits.max_lease_ttl.as_secs(), 60);
    assert_eq!(loaded.limits.max_in_flight, DEFAULT_LIMITS.max_in_flight);
}

#[test]
fn a_wrong_pin_a_missing_dmc_and_bad_limits_are_all_reported() {
    let dir = bench_dir(b"tampered bytes");
    std::fs::remove_file(dir.path().join("dmcs/acme.toml")).expect("rm");
    let pin = hex::encode(Sha256::digest(b"the plugin bytes"));
    let path = dir.path().join("serve.toml");
    std::fs::write(&path, config(&pin, "[limits]\nrun_jobs = 0\n")).expect("config");
    let text = ServeConfig::load(&path).expect_err("refused").to_string();
    assert!(
        text.contains("serve.toml:6:12: run_jobs must be in 1..=256, got 0"),
        "{text}"
    );
    assert!(text.contains("serve.toml:10:10: plugin "), "{text}");
    assert!(text.contains("not the pinned"), "{text}");
    assert!(text.contains("serve.toml:2:11: device \"esme1\""), "{text}");
    assert!(text.contains("no DMC description"), "{text}");
}

#[test]
fn devices_file_errors_keep_their_own_place_and_an_unserved_smso_is_named() {
    let dir = bench_dir(b"p");
    let broken = DEVICES.replace("role = \"esme\"", "role = \"toaster\"");
    std::fs::write(dir.path().join("bench.toml"), broken).expect("devices");
    let pin = hex::encode(Sha256::digest(b"p"));
    let path = dir.path().join("serve.toml");
    std::fs::write(&path, config(&pin, "")).expect("config");
    let text = ServeConfig::load(&path).expect_err("refused").to_string();
    assert!(
        text.contains("bench.toml:6:8: unknown role \"toaster\""),
        "{text}"
    );
    std::fs::write(
        dir.path().join("bench.toml"),
        DEVICES.replace("smso-north", "smso-west"),
    )
    .expect("devices");
    let text = ServeConfig::load(&path).expect_err("refused").to_string();
    assert!(
        text.contains("no [[plugin]] speaks for SMSO \"smso-west\""),
        "{text}"
    );
}

#[test]
fn parse_checks_the_text_alone_and_names_every_missing_key() {
    let text = "plugin_dir = \"p\"\n[[plugin]]\nfile = \"../x.so\"\nsha256 = \"12\"\nsmso = []\n";
    let error = ServeConfig::parse(Path::new("s.toml"), text).expect_err("refused");
    let text = error.to_string();
    for expected in [
        "s.toml:3:8: plugin file \"../x.so\" must be a file name inside plugin_dir",
        "s.toml:4:10: sha256 must be 64 hex digits",
        "s.toml:5:8: smso must name at least one SMSO",
        "s.toml:1:1: suites is missing",
        "s.toml:1:1: dmcs is missing",
        "s.toml:1:1: devices is missing",
    ] {
        assert!(text.contains(expected), "{expected:?} not in\n{text}");
    }
}

/// `isolation` and `workers` of a `[[plugin]]`: the values a gateway loads the plugin with, and
/// every bad value refused at its place.
#[test]
fn a_plugin_runs_in_process_or_in_workers_as_its_table_says() {
    use meterlab_plugin_host::{Isolation, WorkerScope};

    let pin = "1".repeat(64);
    let parse = |extra: &str| {
        let text = format!(
            "plugin_dir = \"p\"\ndevices = \"d.toml\"\nsuites = \"s\"\ndmcs = \"m\"\n\
             [[plugin]]\nfile = \"a.so\"\nsha256 = \"{pin}\"\nsmso = \"north\"\n{extra}"
        );
        ServeConfig::parse(Path::new("s.toml"), &text)
    };
    let bench = |extra: &str| {
        parse(extra)
            .unwrap_or_else(|error| panic!("{extra:?}: {error}"))
            .bench
            .expect("a bench")
    };
    let default = bench("");
    let pin_of = |bench: &meterlab_server::serve_config::BenchConfig| bench.plugins[0].clone();
    assert_eq!(pin_of(&default).isolation, Isolation::InProcess);
    let options = default.load_options(&default.plugins[0]);
    assert_eq!(options.isolation, Isolation::InProcess);

    let mut isolated = bench("isolation = \"process\"\nworkers = \"per-session\"\n");
    assert_eq!(pin_of(&isolated).isolation, Isolation::Process);
    assert_eq!(pin_of(&isolated).worker_scope, WorkerScope::PerSession);
    isolated.worker = Some(("/opt/meterlab".into(), vec!["plugin-worker".to_owned()]));
    let options = isolated.load_options(&isolated.plugins[0]);
    assert_eq!(options.isolation, Isolation::Process);
    assert_eq!(options.process.scope, WorkerScope::PerSession);
    assert_eq!(
        options.process.worker.as_deref(),
        Some(Path::new("/opt/meterlab"))
    );
    assert_eq!(options.process.worker_args, ["plugin-worker"]);
    let shared = bench("isolation = \"process\"\n");
    assert_eq!(pin_of(&shared).worker_scope, WorkerScope::PerPlugin);

    for (extra, expected) in [
        (
            "isolation = \"sandbox\"\n",
            "s.toml:9:13: isolation \"sandbox\": expected \"in-process\" or \"process\"",
        ),
        (
            "isolation = \"process\"\nworkers = \"thread\"\n",
            "s.toml:10:11: workers \"thread\": expected \"per-plugin\" or \"per-session\"",
        ),
        (
            "workers = \"per-session\"\n",
            "s.toml:9:11: workers applies only to isolation = \"process\"",
        ),
        ("isolation = 1\n", "s.toml:9:13:"),
    ] {
        let error = parse(extra).expect_err("refused").to_string();
        assert!(error.contains(expected), "{expected:?} not in\n{error}");
    }
}

/// `port` of a `[[plugin]]`: an SMSO may have one adapter on its devices' DLMS link and one on
/// their optical ports; a second adapter on the same port, or an unknown port, is refused at its
/// place.
#[test]
fn an_smso_has_one_adapter_per_port() {
    use meterlab_server::serve_config::PluginPort;

    let parse = |plugins: &str| {
        let text = format!(
            "plugin_dir = \"p\"\ndevices = \"d.toml\"\nsuites = \"s\"\ndmcs = \"m\"\n{plugins}"
        );
        ServeConfig::parse(Path::new("s.toml"), &text)
    };
    let table = |file: &str, extra: &str| {
        format!(
            "[[plugin]]\nfile = \"{file}\"\nsha256 = \"{}\"\nsmso = \"north\"\n{extra}",
            "1".repeat(64)
        )
    };
    let both = format!(
        "{}{}",
        table("dlms.so", ""),
        table("optical.so", "port = \"optical\"\n")
    );
    let bench = parse(&both)
        .unwrap_or_else(|error| panic!("{error}"))
        .bench
        .expect("a bench");
    let on = |port| bench.plugin_on(port, "north").map(|pin| pin.file.as_str());
    assert_eq!(on(PluginPort::Dlms), Some("dlms.so"));
    assert_eq!(on(PluginPort::Optical), Some("optical.so"));
    assert_eq!(
        bench.plugin_for("north").map(|pin| pin.file.as_str()),
        Some("dlms.so"),
        "runs reach the DLMS link through the dlms adapter"
    );

    let twice = format!(
        "{}{}",
        table("a.so", "port = \"optical\"\n"),
        table("b.so", "port = \"optical\"\n")
    );
    let error = parse(&twice).expect_err("refused").to_string();
    assert!(
        error.contains(
            "s.toml:13:8: SMSO \"north\" already has the plugin \"a.so\" on port \"optical\""
        ),
        "{error}"
    );
    let error = parse(&table("a.so", "port = \"infrared\"\n"))
        .expect_err("refused")
        .to_string();
    assert!(
        error.contains("s.toml:9:8: port \"infrared\": expected \"dlms\" or \"optical\""),
        "{error}"
    );
}
