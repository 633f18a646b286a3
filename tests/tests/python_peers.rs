//! Independent clients read the emulator (issue 4, "Checks → Independent clients").
//!
//! Each test starts the real `meterlab emulate` binary on a scenario written here, reads the
//! devices document it prints, and runs a Python script (`tests/peers/*.py`) that reads the ESME
//! with one PyPI DLMS client — `dlms-cosem` or `gurux-dlms` — over the TCP wrapper or HDLC on the
//! emulator's PTY: logical device name, clock, import register with scaler and unit, load profile
//! (capture objects, selective access by range, whole buffer with block transfer), and a remote
//! disconnect then reconnect with LLS; it also checks a wrong LLS password is refused.
//!
//! The Python peers are installed by `.ci/python-peers` (a pinned virtual environment). A missing
//! or broken installation fails these tests: they are never skipped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod peers;

use peers::{Emulator, Peer, PeerRun, Transport, run_script, scenario};

#[test]
fn dlms_cosem_reads_the_emulator_over_the_tcp_wrapper() {
    check(Peer::DlmsCosem, Transport::Tcp);
}

#[test]
fn dlms_cosem_reads_the_emulator_over_hdlc_on_the_pty() {
    check(Peer::DlmsCosem, Transport::Hdlc);
}

#[test]
fn gurux_reads_the_emulator_over_the_tcp_wrapper() {
    check(Peer::Gurux, Transport::Tcp);
}

#[test]
fn gurux_reads_the_emulator_over_hdlc_on_the_pty() {
    check(Peer::Gurux, Transport::Hdlc);
}

/// dlms-cosem's HLS-GMAC client protects every xDLMS APDU with general-glo-ciphering: the
/// emulator must offer the general-protection conformance bit and serve such requests (issue 15).
#[test]
fn dlms_cosem_associates_with_hls_gmac_over_general_glo_ciphering() {
    let emulator = Emulator::start_with("dlms-cosem-hls", &scenario::ciphered_text());
    let esme = emulator.device("peers.esme");
    let hls = esme["client"]
        .as_array()
        .unwrap()
        .iter()
        .find(|client| client["authentication"] == "hls-gmac")
        .unwrap_or_else(|| panic!("no HLS-GMAC client in {esme:#}"));
    let text = |value: &serde_json::Value| match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let result = run_script(
        "dlms_cosem_hls_peer.py",
        &[
            format!("--address={}", text(&esme["tcp"]["address"])),
            format!("--wport={}", text(&esme["tcp"]["wport"])),
            format!("--client-sap={}", text(&hls["sap"])),
            format!("--system-title={}", text(&hls["system_title"])),
            format!("--encryption-key={}", text(&hls["encryption_key"])),
            format!("--authentication-key={}", text(&hls["authentication_key"])),
        ],
    );
    let context = format!("{result:#}\nemulator stderr:\n{}", emulator.stderr());
    assert_eq!(result["error"], serde_json::Value::Null, "{context}");
    assert_eq!(result["associated"], true, "{context}");
    assert_eq!(result["general_protection"], true, "{context}");
    assert_eq!(
        result["logical_device_name"],
        peers::expect::expected_logical_device_name(esme),
        "{context}"
    );
    assert_eq!(result["released"], true, "{context}");
}

fn check(peer: Peer, transport: Transport) {
    let emulator = Emulator::start(&format!("{}-{}", peer.name(), transport.name()));
    let run = PeerRun::new(peer, transport).execute(&emulator);
    run.assert_all(&emulator);
}
