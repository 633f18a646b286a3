//! `meterlab-plugin-worker`: the standalone plugin worker executable (see the library's docs).
#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    meterlab_plugin_worker::run_worker(std::env::args().skip(1))
}
