//! The plugin worker: runs one adapter plugin out of the host's process. The host starts it
//! with piped stdin/stdout/stderr; it sets its memory limit, moves the protocol off fds 0 and 1
//! (so a plugin that prints cannot corrupt a frame), then serves the host's calls until its
//! stdin ends. A crash of the plugin is the end of this process, which is the point: the host
//! sees the signal.
//!
//! ```text
//! meterlab-plugin-worker [--memory-limit <bytes>]
//! meterlab plugin-worker [--memory-limit <bytes>]     # the same worker, inside `meterlab`
//! ```
//!
//! Two executables run it: this package's `meterlab-plugin-worker`, and `meterlab` itself (a
//! hidden `plugin-worker` subcommand handled before anything else starts), so `meterlab` always
//! has a worker, whichever way it was built (`cargo build`/`cargo run` build only the `meterlab`
//! binary). See the README.
//!
//! Must never depend on the server, the runner or tokio: it is a small, synchronous shell
//! around `meterlab_plugin_host::serve_worker`.
#![forbid(unsafe_code)]

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::process::ExitCode;

use rustix::process::{Resource, Rlimit, setrlimit};

/// The `meterlab` subcommand that runs the worker ([`run_worker`] with the arguments after it).
pub const SUBCOMMAND: &str = "plugin-worker";

/// Runs the worker with `args` (the arguments after the program name or the subcommand) until
/// the host closes its stdin: exit 0, or 2 with the reason on stderr.
pub fn run_worker(args: impl Iterator<Item = String>) -> ExitCode {
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("meterlab-plugin-worker: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: impl Iterator<Item = String>) -> Result<(), String> {
    let memory_limit = parse_args(args)?;
    if let Some(limit) = memory_limit {
        // Before the library is loaded, so its initialisers are limited too.
        setrlimit(
            Resource::As,
            Rlimit {
                current: Some(limit),
                maximum: Some(limit),
            },
        )
        .map_err(|error| format!("cannot set RLIMIT_AS to {limit} bytes: {error}"))?;
    }
    let (calls, replies) = private_protocol_streams()?;
    meterlab_plugin_host::serve_worker(BufReader::new(calls), BufWriter::new(replies))
        .map_err(|error| format!("talking to the host failed: {error}"))
}

/// `--memory-limit <bytes>` (optional); anything else is refused.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<u64>, String> {
    let mut memory_limit = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--memory-limit" => {
                let value = args
                    .next()
                    .ok_or("--memory-limit needs a number of bytes")?;
                let bytes = value
                    .parse::<u64>()
                    .map_err(|_| format!("--memory-limit {value:?} is not a number of bytes"))?;
                memory_limit = Some(bytes);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(memory_limit)
}

/// Duplicates stdin/stdout for the protocol, then points fd 0 at /dev/null and fd 1 at stderr:
/// whatever a plugin reads or prints never touches a frame.
fn private_protocol_streams() -> Result<(File, File), String> {
    let fail = |what: &str, error: rustix::io::Errno| format!("cannot {what}: {error}");
    let calls = rustix::io::dup(rustix::stdio::stdin()).map_err(|e| fail("dup stdin", e))?;
    let replies = rustix::io::dup(rustix::stdio::stdout()).map_err(|e| fail("dup stdout", e))?;
    let null =
        File::open("/dev/null").map_err(|error| format!("cannot open /dev/null: {error}"))?;
    rustix::stdio::dup2_stdin(&null).map_err(|e| fail("redirect stdin", e))?;
    rustix::stdio::dup2_stdout(rustix::stdio::stderr())
        .map_err(|e| fail("redirect stdout to stderr", e))?;
    Ok((File::from(calls), File::from(replies)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> impl Iterator<Item = String> {
        list.iter()
            .map(|arg| (*arg).to_owned())
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn arguments_are_a_memory_limit_or_nothing() {
        assert_eq!(parse_args(args(&[])), Ok(None));
        assert_eq!(
            parse_args(args(&["--memory-limit", "1048576"])),
            Ok(Some(1 << 20))
        );
        assert!(parse_args(args(&["--memory-limit"])).is_err());
        assert!(parse_args(args(&["--memory-limit", "lots"])).is_err());
        assert!(parse_args(args(&["--verbose"])).is_err());
    }
}
