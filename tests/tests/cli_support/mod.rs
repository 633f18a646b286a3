//! Shared by the tests that drive governance commands with blocking `std::process`: the program
//! with the caller's gateway, credential and log settings removed, the repository's files, and
//! `meterlab serve --config` started and read for its address.
#![allow(dead_code, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// A file of the repository, e.g. `suites/profiles/illustrative.toml`.
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// The program, unaffected by the environment the tests run in.
pub fn meterlab() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_meterlab-e2e"));
    for var in [
        "METERLAB_CA",
        "METERLAB_CERT",
        "METERLAB_KEY",
        "METERLAB_TOKEN_FILE",
        "METERLAB_GATEWAY",
        "METERLAB_LOG",
    ] {
        command.env_remove(var);
    }
    command
}

/// A finished command's output, for assertion messages.
pub fn text(output: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Starts `meterlab serve --config <config>`; returns it and the address it listens on.
pub fn serve(config: &Path) -> (Child, String) {
    let mut child = meterlab()
        .args(["serve", "--config"])
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("first line");
    let addr = line
        .trim()
        .strip_prefix("meterlab serve: listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    std::thread::spawn(move || for _ in stdout.lines() {});
    (child, addr)
}
