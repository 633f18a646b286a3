//! Scenario files: the shipped examples load and build, and mistakes are reported at their line.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use meterlab_devices::{Authentication, DeviceRole, InstallationState};
use meterlab_emulator::hub::{Emulation, Endpoints, HLS_CLIENT_SAP, LLS_CLIENT_SAP};
use meterlab_emulator::objects::ObjectRole;
use meterlab_emulator::scenario::{HubState, Scenario};
use meterlab_emulator::{EmulatorError, Obis, SimTime};

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../suites/scenarios")
}

fn example(name: &str) -> Scenario {
    Scenario::load(&examples_dir().join(name)).unwrap()
}

const START: SimTime = SimTime::from_unix_secs(1_795_000_000);

#[test]
fn every_shipped_example_loads_builds_and_describes_its_devices() {
    let mut files = 0;
    for entry in std::fs::read_dir(examples_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "toml") {
            let scenario = Scenario::load(&path).unwrap();
            let emulation = Emulation::build(&scenario, START).unwrap();
            let endpoints = Endpoints {
                tcp_address: Some("127.0.0.1:4059".to_owned()),
                ..Endpoints::default()
            };
            let file = emulation.devices_file(&endpoints, &scenario);
            let text = file.to_toml().unwrap();
            let reread = meterlab_devices::parse("devices.toml", &text).unwrap();
            assert_eq!(reread, file, "{}", path.display());
            files += 1;
        }
    }
    assert!(
        files >= 4,
        "expected the active, dormant, mixed and faults examples"
    );
}

#[test]
fn examples_cover_two_dmcs_from_two_smsos_in_every_state() {
    for (file, expected) in [
        (
            "active.toml",
            [InstallationState::Active, InstallationState::Active],
        ),
        (
            "dormant.toml",
            [InstallationState::Dormant, InstallationState::Dormant],
        ),
    ] {
        let scenario = example(file);
        let smsos: std::collections::HashSet<_> = scenario
            .hubs
            .iter()
            .map(|hub| scenario.dmc(&hub.dmc).unwrap().smso.clone())
            .collect();
        assert_eq!(smsos.len(), 2, "{file}");
        for hub in &scenario.hubs {
            assert_eq!(
                [
                    hub.state.of(DeviceRole::Esme),
                    hub.state.of(DeviceRole::Gsme)
                ],
                expected
            );
        }
    }
    let mixed = example("mixed.toml");
    assert_eq!(
        mixed.hubs[0].state,
        HubState::Mixed {
            dormant: DeviceRole::Gsme
        }
    );
    assert_eq!(
        mixed.hubs[1].state,
        HubState::Mixed {
            dormant: DeviceRole::Esme
        }
    );
}

#[test]
fn mixed_hubs_run_one_dormant_meter_on_old_firmware() {
    let scenario = example("mixed.toml");
    let emulation = Emulation::build(&scenario, START).unwrap();
    let north = &emulation.hubs[0];
    let esme = &north.devices[1].device;
    let gsme = &north.devices[2].device;
    assert_eq!(esme.installation_state(), InstallationState::Active);
    assert_eq!(esme.firmware(), "2.0.1");
    assert_eq!(gsme.installation_state(), InstallationState::Dormant);
    assert_eq!(
        gsme.firmware(),
        "3.0.0",
        "a dormant meter runs the DMC's dormant firmware"
    );
    assert!(gsme.is_restricted() && !esme.is_restricted());
}

#[test]
fn declared_variations_change_the_object_directory() {
    let emulation = Emulation::build(&example("active.toml"), START).unwrap();
    let south = &emulation.hubs[1];
    let esme = &south.devices[1].device;
    let register = esme
        .directory()
        .by_role(ObjectRole::ImportRegister)
        .unwrap();
    assert_eq!(register.obis, "1.0.1.8.1.255".parse::<Obis>().unwrap());
    let gsme = &south.devices[2].device;
    assert!(gsme.directory().by_role(ObjectRole::DailyLog).is_none());
    let north_gsme = &emulation.hubs[0].devices[2].device;
    assert!(
        north_gsme
            .directory()
            .by_role(ObjectRole::DailyLog)
            .is_some()
    );
}

#[test]
fn counts_expand_hubs_with_distinct_addresses_and_keys() {
    let scenario = example("faults.toml");
    let ids: Vec<_> = scenario.hubs.iter().map(|hub| hub.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "north-lossy-1",
            "north-lossy-2",
            "north-lossy-3",
            "north-lossy-4",
            "south-flaky"
        ]
    );
    let emulation = Emulation::build(&scenario, START).unwrap();
    let mut wports = std::collections::HashSet::new();
    let mut keys = std::collections::HashSet::new();
    for (_, device) in emulation.devices() {
        assert!(wports.insert(device.wport));
        assert!(keys.insert(device.device.security().keys().authentication));
        assert_eq!(
            emulation
                .locate_wport(device.wport)
                .map(|(hub, _)| emulation.hubs[hub].id.clone()),
            Some(device.name.split('.').next().unwrap().to_owned())
        );
    }
    assert_eq!(emulation.locate_wport(0), None);
    assert_eq!(emulation.locate_wport(60_000), None);
    // Faults layer: file-wide latency, then the hub's, then the meter's.
    let lossy = &emulation.hubs[0];
    assert_eq!(lossy.faults.latency_ms, 150);
    assert_eq!(lossy.faults.drop, 0.05);
    let flaky = &emulation.hubs[4];
    assert_eq!(flaky.faults.latency_ms, 20);
    assert_eq!(flaky.faults.serial_baud, Some(1200));
    assert!(flaky.devices[1].faults.refuse_associations);
    assert!(!flaky.devices[2].faults.refuse_associations);
    assert!(flaky.devices[2].faults.silent);
}

#[test]
fn devices_file_carries_smso_credentials_per_device() {
    let scenario = example("active.toml");
    let emulation = Emulation::build(&scenario, START).unwrap();
    let endpoints = Endpoints {
        tcp_address: Some("127.0.0.1:4059".to_owned()),
        serial_paths: [("north-active".to_owned(), "/dev/pts/9".to_owned())].into(),
    };
    let file = emulation.devices_file(&endpoints, &scenario);
    let esme = file.device("north-active.esme").unwrap();
    assert_eq!(esme.tcp.as_ref().unwrap().wport, 2);
    assert_eq!(esme.serial.as_ref().unwrap().path, "/dev/pts/9");
    assert_eq!(esme.serial.as_ref().unwrap().logical_address, 2);
    assert_eq!(
        esme.client(LLS_CLIENT_SAP).unwrap().password.as_deref(),
        Some("north-lls-0001")
    );
    let hls = esme.client(HLS_CLIENT_SAP).unwrap();
    assert_eq!(hls.authentication, Authentication::HlsGmac);
    assert!(!hls.ciphered);
    let south = file.device("south-active.gsme").unwrap();
    assert!(south.serial.is_none());
    assert!(
        south.client(HLS_CLIENT_SAP).unwrap().ciphered,
        "smso-south ciphers"
    );
    assert_ne!(
        south.client(HLS_CLIENT_SAP).unwrap().encryption_key,
        hls.encryption_key,
        "keys are per device"
    );
}

#[test]
fn generated_scenarios_scale_and_stay_unique() {
    let scenario = Scenario::generated(500);
    let emulation = Emulation::build(&scenario, START).unwrap();
    assert_eq!(emulation.devices().count(), 1500);
    let file = emulation.devices_file(
        &Endpoints {
            tcp_address: Some("127.0.0.1:4059".into()),
            ..Endpoints::default()
        },
        &scenario,
    );
    meterlab_devices::parse("gen.toml", &file.to_toml().unwrap()).unwrap();
}

fn error_of(text: &str) -> EmulatorError {
    Scenario::parse("scenario.toml", text).unwrap_err()
}

fn base() -> String {
    include_str!("fixtures/active-inline-dmcs.toml").to_owned()
}

/// Replaces text in the active fixture and checks the error mentions `expected` at the line of
/// the replacement.
fn assert_error_at(from: &str, to: &str, expected: &str) {
    let text = base();
    assert!(text.contains(from), "fixture lacks {from:?}");
    let changed = text.replacen(from, to, 1);
    let error = error_of(&changed);
    let expected_line = changed[..changed.find(to).unwrap()].matches('\n').count() + 1;
    assert!(error.to_string().contains(expected), "{to:?}: {error}");
    assert_eq!(
        error.location().unwrap().line,
        expected_line,
        "{to:?}: {error}"
    );
    assert!(error.to_string().starts_with("scenario.toml:"), "{error}");
}

#[test]
fn mistakes_are_reported_at_their_line() {
    assert_error_at(
        "state = \"active\"",
        "state = \"asleep\"",
        "expected active, dormant or mixed",
    );
    assert_error_at(
        "dmc = \"bravo-h2-e2-g2\"\nstate",
        "dmc = \"charlie\"\nstate",
        "no [[dmc]] defines",
    );
    assert_error_at(
        "smso = \"smso-south\"\nhub",
        "smso = \"smso-east\"\nhub",
        "no [[smso]] defines",
    );
    assert_error_at("baud = 19200", "baud = 12345", "not a standard rate");
    assert_error_at(
        "mpxn = \"1200012345678\"",
        "mpxn = \"12\"",
        "must be 13 digits",
    );
    assert_error_at(
        "consumption = 450",
        "consumption = [1, 2, 3, 4, 5, 6, 7]",
        "divide the day",
    );
    assert_error_at(
        "obis = \"1.0.1.8.1.255\"",
        "obis = \"1.0.1.8.1\"",
        "invalid OBIS",
    );
    assert_error_at(
        "object = \"daily_log\"",
        "object = \"daily_logs\"",
        "unknown object",
    );
    assert_error_at(
        "clock_drift_ppm = 40",
        "clock_drift_ppm = 900000",
        "clock_drift_ppm",
    );
    assert_error_at(
        "clock_drift_ppm = 40",
        "clock_drift_ppm = 40, clock_deviation_min = -800",
        "clock_deviation_min -800 must be within -720..=720",
    );
    assert_error_at(
        "lls_password = \"north-lls-0001\"",
        "lls_password = \"has space\"",
        "printable",
    );
    assert_error_at("seed = 1", "colour = 3\nseed = 1", "unknown field");
}

#[test]
fn structural_mistakes_are_refused() {
    let text = base();
    let error = error_of(&text.replacen("id = \"south-active\"", "id = \"north-active\"", 1));
    assert!(
        error.to_string().contains("already used at scenario.toml:"),
        "{error}"
    );
    let error = error_of(&text.replacen("mpxn = \"8800334455\"", "mpxn = \"7300123456\"", 1));
    assert!(error.to_string().contains("used by two meters"), "{error}");
    let error = error_of(&text.replacen(
        "state = \"active\"\nbaud = 9600",
        "state = \"active\"\ncount = 2\nbaud = 9600",
        1,
    ));
    assert!(error.to_string().contains("cannot be shared"), "{error}");
    let error = error_of("seed = 1\n");
    assert!(error.to_string().contains("no [[hub]]"), "{error}");
    let error = error_of(&text.replacen(
        "unsupported = true",
        "unsupported = true\nobis = \"1.0.0.0.0.255\"",
        1,
    ));
    assert!(error.to_string().contains("exactly one of"), "{error}");
    let missing = Scenario::load(Path::new("/nonexistent/scenario.toml")).unwrap_err();
    assert!(
        missing.to_string().contains("/nonexistent/scenario.toml"),
        "{missing}"
    );
}

/// Hubs naming the shipped DMC descriptions by id, with no `[[dmc]]` of their own.
const NAMES_SHIPPED_DMCS: &str = r#"
[[smso]]
id = "smso-north"
lls_password = "00000001"
key_seed = "north secret"

[[smso]]
id = "smso-south"
lls_password = "00000002"
key_seed = "south secret"

[[hub]]
id = "north"
dmc = "acme-ch1-e470-g4"
state = "active"

[[hub]]
id = "south"
dmc = "bravo-h2-e2-g2"
state = "active"
"#;

/// The BRAVO DMC written inline, as scenarios did before they named shipped descriptions.
const INLINE_BRAVO: &str = r#"
[[smso]]
id = "smso-south"
lls_password = "00000002"
key_seed = "south secret"

[[dmc]]
id = "bravo-h2-e2-g2"
smso = "smso-south"
hub = { model = "BRAVO H2", firmware = "5.0", dormant_firmware = "4.2" }
esme = { model = "BRAVO E2", firmware = "7.3.0", dormant_firmware = "7.0.0" }
gsme = { model = "BRAVO G2", firmware = "2.2.0", dormant_firmware = "2.0.0" }

[[dmc.variation]]
srv = "4.1.1"
device = "esme"
object = "import_register"
obis = "1.0.1.8.1.255"

[[dmc.variation]]
srv = "4.6.1"
device = "gsme"
object = "daily_log"
unsupported = true

[[hub]]
id = "south"
dmc = "bravo-h2-e2-g2"
state = "active"
"#;

fn shipped_scenario_path() -> String {
    examples_dir()
        .join("names-shipped-dmcs.toml")
        .display()
        .to_string()
}

#[test]
fn a_hub_naming_a_shipped_dmc_serves_its_description() {
    let scenario = Scenario::parse(&shipped_scenario_path(), NAMES_SHIPPED_DMCS).unwrap();
    let emulation = Emulation::build(&scenario, START).unwrap();
    let south = &emulation.hubs[1];
    assert_eq!(south.dmc, "bravo-h2-e2-g2");
    let esme = &south.devices[1].device;
    assert_eq!(esme.model(), "BRAVO E2");
    assert_eq!(
        esme.directory()
            .by_role(ObjectRole::ImportRegister)
            .map(|entry| entry.obis),
        Some(Obis::new(1, 0, 1, 8, 1, 255)),
        "the description's relocated register"
    );
    let gsme = &south.devices[2].device;
    assert!(gsme.directory().by_role(ObjectRole::DailyLog).is_none());
    // The same DMC defined inline (reference map + declared variations) serves the same
    // objects as its shipped description.
    let inline = Scenario::parse("inline-bravo.toml", INLINE_BRAVO).unwrap();
    let inline = Emulation::build(&inline, START).unwrap();
    let inline_south = inline
        .hubs
        .iter()
        .find(|hub| hub.dmc == "bravo-h2-e2-g2")
        .unwrap();
    for (shipped, defined) in south.devices.iter().zip(&inline_south.devices) {
        assert_eq!(
            shipped.device.directory(),
            defined.device.directory(),
            "{}",
            shipped.name
        );
    }
}

#[test]
fn a_dmc_neither_defined_nor_shipped_is_reported_at_the_hub() {
    let text = NAMES_SHIPPED_DMCS.replace("bravo-h2-e2-g2", "charlie-x1");
    let error = Scenario::parse(&shipped_scenario_path(), &text)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("names-shipped-dmcs.toml:19:7")
            && error.contains("charlie-x1")
            && error.contains("no [[dmc]] defines"),
        "{error}"
    );
    let text = NAMES_SHIPPED_DMCS.replace("smso-south", "smso-east");
    let error = Scenario::parse(&shipped_scenario_path(), &text)
        .unwrap_err()
        .to_string();
    assert!(error.contains("SMSO \"smso-south\""), "{error}");
}
