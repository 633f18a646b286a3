//! The `meterlab` binary: the only place errors are rendered for humans.
#![forbid(unsafe_code)]

fn main() {}
