//! The worker executable as the host starts it: the exit codes and messages the host relies on
//! to tell a worker that finished from one that could not start.
//!
//! Also the reason cargo builds `meterlab-plugin-worker` during `cargo test --workspace`, with
//! the workspace's features: plugin-host's tests then find it in place instead of building it
//! again with a different feature set (see `crates/plugin-host/tests/common/mod.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Stdio};

const WORKER: &str = env!("CARGO_BIN_EXE_meterlab-plugin-worker");

#[test]
fn the_worker_exits_zero_when_the_host_closes_its_stdin() {
    let output = Command::new(WORKER)
        .stdin(Stdio::null())
        .output()
        .expect("start the worker");
    assert!(output.status.success(), "{output:?}");
    assert!(
        output.stdout.is_empty(),
        "no stray bytes on the protocol stream: {output:?}"
    );
}

#[test]
fn an_unknown_argument_exits_2_and_names_it() {
    let output = Command::new(WORKER)
        .arg("--verbose")
        .stdin(Stdio::null())
        .output()
        .expect("start the worker");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unknown argument \"--verbose\""),
        "{stderr}"
    );
}

#[test]
fn a_memory_limit_that_is_not_a_number_exits_2_and_says_so() {
    let output = Command::new(WORKER)
        .args(["--memory-limit", "lots"])
        .stdin(Stdio::null())
        .output()
        .expect("start the worker");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("\"lots\" is not a number of bytes"),
        "{stderr}"
    );
}

#[test]
fn a_truncated_frame_from_the_host_ends_the_worker_with_the_reason() {
    let mut worker = Command::new(WORKER)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the worker");
    // Half of a frame's four-byte length, then the end of the stream.
    let mut stdin = worker.stdin.take().expect("piped stdin");
    stdin.write_all(&[0xff, 0x00]).expect("write to the worker");
    drop(stdin);
    let output = worker.wait_with_output().expect("wait for the worker");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("talking to the host failed: input ended inside a frame length"),
        "{stderr}"
    );
}
