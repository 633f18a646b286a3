//! The `meterlab` binary: all of it is the library's [`meterlab::main`].
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    meterlab::main()
}
