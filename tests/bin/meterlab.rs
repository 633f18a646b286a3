//! The `meterlab` program for the end-to-end tests: the same [`meterlab::main`] as the product's
//! `meterlab` binary (crates/cli/src/main.rs), linked in this package so its tests can start it.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    meterlab::main()
}
