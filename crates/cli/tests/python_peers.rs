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

use peers::{Emulator, Peer, PeerRun, Transport};

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

fn check(peer: Peer, transport: Transport) {
    let emulator = Emulator::start(&format!("{}-{}", peer.name(), transport.name()));
    let run = PeerRun::new(peer, transport).execute(&emulator);
    run.assert_all(&emulator);
}
