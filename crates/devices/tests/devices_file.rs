//! The devices file: what it accepts, what it refuses (with file:line), and that it round-trips.
#![allow(clippy::unwrap_used)]

use meterlab_devices::{
    Authentication, ClientAccess, Device, DeviceRole, DevicesError, DevicesFile, InstallationState,
    Key128, SerialEndpoint, SystemTitle, TcpEndpoint, parse,
};

const VALID: &str = r#"format = 1

[[device]]
name = "hub-0001.esme"
hub = "hub-0001"
role = "esme"
dmc = "acme-ch1"
smso = "smso-north"
state = "active"
model = "ACME E470"
firmware = "2.0.1"
mpxn = "1200012345678"
system_title = "4d4c420000000002"

[device.tcp]
address = "127.0.0.1:4059"
wport = 2

[device.serial]
path = "/dev/pts/7"
baud = 9600
logical_address = 2
physical_address = 17
address_size = 4

[[device.client]]
sap = 16
authentication = "none"

[[device.client]]
sap = 1
authentication = "lls"
password = "00000001"

[[device.client]]
sap = 48
authentication = "hls-gmac"
ciphered = true
system_title = "4d4c430000000001"
encryption_key = "000102030405060708090a0b0c0d0e0f"
authentication_key = "d0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
"#;

fn sample_device(name: &str, wport: u16) -> Device {
    Device {
        name: name.to_owned(),
        hub: "hub-0002".to_owned(),
        role: DeviceRole::Gsme,
        dmc: "bravo-g".to_owned(),
        smso: "smso-south".to_owned(),
        state: InstallationState::Dormant,
        model: "BRAVO G4".to_owned(),
        firmware: "1.0.0".to_owned(),
        mpxn: Some("9876543210".to_owned()),
        system_title: Some(SystemTitle([1, 2, 3, 4, 5, 6, 7, 8])),
        tcp: Some(TcpEndpoint {
            address: "[::1]:4059".to_owned(),
            wport,
        }),
        serial: Some(SerialEndpoint {
            path: "/dev/pts/3".to_owned(),
            baud: 2400,
            logical_address: wport % 100 + 1,
            physical_address: 0x10,
            address_size: 4,
        }),
        optical: None,
        clients: vec![
            ClientAccess::public(16),
            ClientAccess {
                sap: 48,
                authentication: Authentication::HlsGmac,
                password: None,
                ciphered: false,
                system_title: Some(SystemTitle([9; 8])),
                encryption_key: Some(Key128([0x11; 16])),
                authentication_key: Some(Key128([0x22; 16])),
                master_key: Some(Key128([0x33; 16])),
            },
        ],
    }
}

#[test]
fn a_complete_device_parses_into_typed_fields() {
    let file = parse("devices.toml", VALID).unwrap();
    let device = file.device("hub-0001.esme").unwrap();
    assert_eq!(device.role, DeviceRole::Esme);
    assert_eq!(device.state, InstallationState::Active);
    assert_eq!(device.tcp.as_ref().unwrap().wport, 2);
    assert_eq!(device.serial.as_ref().unwrap().physical_address, 17);
    assert_eq!(
        device.client(1).unwrap().password.as_deref(),
        Some("00000001")
    );
    let hls = device.client(48).unwrap();
    assert_eq!(hls.authentication, Authentication::HlsGmac);
    assert!(hls.ciphered);
    assert_eq!(hls.encryption_key.unwrap().0[15], 0x0f);
}

#[test]
fn written_files_read_back_identical() {
    let file = DevicesFile {
        devices: vec![sample_device("a", 7), sample_device("b", 8)],
        ..DevicesFile::default()
    };
    let text = file.to_toml().unwrap();
    assert_eq!(parse("out.toml", &text).unwrap(), file);
    let parsed = parse("devices.toml", VALID).unwrap();
    assert_eq!(
        parse("again.toml", &parsed.to_toml().unwrap()).unwrap(),
        parsed
    );
}

#[test]
fn save_then_load_through_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devices.toml");
    let file = DevicesFile {
        devices: vec![sample_device("a", 7)],
        ..DevicesFile::default()
    };
    file.save(&path).unwrap();
    assert_eq!(DevicesFile::load(&path).unwrap(), file);
    let missing = DevicesFile::load(&dir.path().join("nope.toml")).unwrap_err();
    assert!(matches!(missing, DevicesError::Read { .. }), "{missing}");
}

/// Replaces the first occurrence of `from` in the valid file and returns the error.
fn error_after(from: &str, to: &str) -> DevicesError {
    assert!(VALID.contains(from), "fixture lacks {from:?}");
    parse("devices.toml", &VALID.replacen(from, to, 1)).unwrap_err()
}

fn line_of(needle: &str, text: &str) -> usize {
    text.lines().position(|line| line.contains(needle)).unwrap() + 1
}

#[test]
fn semantic_errors_name_the_line_of_the_bad_value() {
    let cases = [
        ("role = \"esme\"", "role = \"heat\"", "unknown role"),
        (
            "state = \"active\"",
            "state = \"mixed\"",
            "mixed installation",
        ),
        ("wport = 2", "wport = 0", "reserved"),
        ("baud = 9600", "baud = 9601", "standard rate"),
        ("address_size = 4", "address_size = 3", "expected 1, 2 or 4"),
        ("logical_address = 2", "logical_address = 20000", "1-16383"),
        (
            "mpxn = \"1200012345678\"",
            "mpxn = \"12A\"",
            "6 to 13 digits",
        ),
        (
            "address = \"127.0.0.1:4059\"",
            "address = \"localhost\"",
            "host:port",
        ),
        (
            "password = \"00000001\"",
            "password = \"has space\"",
            "printable",
        ),
        (
            "encryption_key = \"000102030405060708090a0b0c0d0e0f\"",
            "encryption_key = \"0001\"",
            "32 hex digits",
        ),
        ("sap = 48", "sap = 1", "listed twice"),
        ("sap = 16", "sap = 200", "1-127"),
    ];
    for (from, to, expected) in cases {
        let error = error_after(from, to);
        let text = VALID.replacen(from, to, 1);
        let location = error.location().unwrap();
        assert_eq!(location.file, "devices.toml");
        assert!(
            error.to_string().contains(expected),
            "{to:?} gave {error}, expected it to mention {expected:?}"
        );
        // `sap = 1` collides with the earlier SAP 1, reported at the second one.
        let needle = if to == "sap = 1" { "sap = 1\n" } else { to };
        let expected_line = if to == "sap = 1" {
            text.match_indices(needle)
                .nth(1)
                .map(|(offset, _)| text[..offset].lines().count() + 1)
        } else {
            Some(line_of(needle, &text))
        };
        assert_eq!(Some(location.line), expected_line, "{to:?}: {error}");
    }
}

#[test]
fn lls_without_password_and_hls_without_keys_are_refused() {
    let error = error_after("password = \"00000001\"\n", "");
    assert!(error.to_string().contains("has no password"), "{error}");
    let error = error_after(
        "authentication_key = \"d0d1d2d3d4d5d6d7d8d9dadbdcdddedf\"\n",
        "",
    );
    assert!(error.to_string().contains("go together"), "{error}");
    let error = error_after(
        "authentication = \"none\"",
        "authentication = \"none\"\npassword = \"x\"",
    );
    assert!(error.to_string().contains("only used with lls"), "{error}");
}

#[test]
fn syntax_and_unknown_keys_name_their_line() {
    let error = error_after("firmware = \"2.0.1\"", "firmware = 2.0.1.1");
    assert!(matches!(error, DevicesError::Syntax { .. }), "{error}");
    assert_eq!(error.location().unwrap().line, 11);
    let error = error_after(
        "firmware = \"2.0.1\"",
        "firmware = \"2.0.1\"\ncolour = \"red\"",
    );
    assert!(error.to_string().contains("colour"), "{error}");
    assert_eq!(error.location().unwrap().line, 12);
}

#[test]
fn duplicates_across_devices_are_refused() {
    let twice = format!("{VALID}\n{}", &VALID["format = 1\n".len()..]);
    let error = parse("devices.toml", &twice).unwrap_err();
    assert!(
        error.to_string().contains("already used at devices.toml:4"),
        "{error}"
    );
    let renamed = twice.replacen("name = \"hub-0001.esme\"", "name = \"other\"", 1);
    let error = parse("devices.toml", &renamed).unwrap_err();
    assert!(error.to_string().contains("wport 2"), "{error}");
}

#[test]
fn unreachable_and_clientless_devices_are_refused() {
    let no_links = VALID
        .replace("[device.tcp]\naddress = \"127.0.0.1:4059\"\nwport = 2\n", "")
        .replace(
            "[device.serial]\npath = \"/dev/pts/7\"\nbaud = 9600\nlogical_address = 2\nphysical_address = 17\naddress_size = 4\n",
            "",
        );
    let error = parse("d.toml", &no_links).unwrap_err();
    assert!(error.to_string().contains("cannot be reached"), "{error}");
    let error = parse("d.toml", "format = 2\n").unwrap_err();
    assert!(
        error.to_string().contains("format 2 is not supported"),
        "{error}"
    );
    assert_eq!(parse("d.toml", "format = 1\n").unwrap().devices.len(), 0);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_text_gives_a_file_or_a_located_error(text in "\\PC{0,400}") {
            match parse("fuzz.toml", &text) {
                Ok(_) => {}
                Err(error) => prop_assert!(error.location().is_some()),
            }
        }

        #[test]
        fn any_valid_addressing_round_trips(
            wport in 1u16..,
            logical in 1u16..=0x3FFF,
            physical in 0u16..=0x3FFF,
            sap in 1u8..=127,
            password in "[!-~]{1,64}",
        ) {
            let mut device = sample_device("p", wport);
            if let Some(serial) = device.serial.as_mut() {
                serial.logical_address = logical;
                serial.physical_address = physical;
            }
            device.clients = vec![ClientAccess {
                sap,
                authentication: Authentication::Lls,
                password: Some(password),
                ..ClientAccess::public(sap)
            }];
            let file = DevicesFile { devices: vec![device], ..DevicesFile::default() };
            prop_assert_eq!(parse("p.toml", &file.to_toml().unwrap()).unwrap(), file);
        }
    }
}

#[test]
fn type_errors_name_the_field_and_the_range_in_words() {
    let error = error_after("wport = 2", "wport = -2");
    let text = error.to_string();
    assert!(
        text.starts_with(&format!("devices.toml:{}:", line_of("wport = 2", VALID)))
            && text.contains("wport: ")
            && text.contains("expected a whole number from 0 to 65535"),
        "{text}"
    );
    assert!(!text.contains("u16"), "{text}");
}

#[test]
fn a_missing_file_names_the_os_error_once_in_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.toml");
    let error = DevicesFile::load(&path).unwrap_err();
    let mut chain = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        chain.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    assert_eq!(
        chain.matches("No such file or directory").count(),
        1,
        "{chain}"
    );
    assert!(chain.contains("absent.toml"), "{chain}");
}

#[test]
fn an_optical_port_reads_back_and_bad_ones_are_refused() {
    let mut device = sample_device("hub-0001.esme", 4);
    device.optical = Some(meterlab_devices::OpticalEndpoint {
        path: "/dev/pts/9".to_owned(),
        address: "00000001".to_owned(),
        password: Some("north-lls-0001".to_owned()),
    });
    let file = DevicesFile {
        devices: vec![device],
        ..DevicesFile::default()
    };
    let text = file.to_toml().expect("renders");
    let back = meterlab_devices::parse("devices.toml", &text).expect("reads back");
    assert_eq!(back, file);
    let bad = text.replace("address = \"00000001\"", "address = \"0000/0001\"");
    let error = meterlab_devices::parse("devices.toml", &bad).expect_err("refused");
    assert!(error.to_string().contains("optical address"), "{error}");
}
