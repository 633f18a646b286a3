//! The `meterlab` command line: parses it, sets up logging, runs one subcommand, and is the
//! only place errors are rendered for humans (`anyhow` lives here and nowhere else). The
//! `meterlab` binary is [`main`] and nothing else, so the end-to-end test crate (`tests/`) can
//! build the very same program as its own binary and drive it over real sockets and PTYs.
//!
//! Each subcommand is a module under `cmd/` with an `Args` struct and a `run` function; adding
//! one means adding a module and a variant to `Command`.
//!
//! Must not be depended on by any crate but the end-to-end test crate, and only for [`main`].
#![forbid(unsafe_code)]

mod cmd;
mod gateway;
mod output;
mod verdicts;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// Migration and Systems Integration Testing of SMETS1 meters and comms hubs.
#[derive(Debug, Parser)]
// `bin_name`: usage lines say `meterlab` whatever the executable file is called.
#[command(name = "meterlab", bin_name = "meterlab", version, about)]
struct Cli {
    /// Log filter (tracing-subscriber syntax), e.g. `debug` or `meterlab_plugin_host=trace`.
    #[arg(long, global = true, env = "METERLAB_LOG", default_value = "warn")]
    log: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Test catalogue: list cases with their hashes, check suites, import DUIS requests.
    Catalog(cmd::catalog::Args),
    /// Everything on one machine, as a story: gateway, store, emulated meters with faults, the MT
    /// and SIT suites, issues, de-scopes, every exit, the report and the evidence bundle.
    Demo(cmd::demo::Args),
    /// Write a throwaway CA, server and client certificates for local TLS/mTLS (never for a lab).
    DevCerts(cmd::dev_certs::Args),
    /// Emulate SMETS1 comms hubs and meters (DLMS/COSEM over the TCP wrapper and HDLC on PTYs).
    Emulate(cmd::emulate::Args),
    /// Control a running emulator: faults, alerts, reboots, device list.
    EmulateCtl(cmd::emulate_ctl::Args),
    /// Testing Issues: add, update, list.
    Issues(cmd::gov::issues::Args),
    /// Plan an EPCL entry and its phases; start a phase.
    Plan(cmd::gov::plan::Args),
    /// Depth & Breadth documents: register, agree, dispute, refer, determine.
    Dnb(cmd::gov::dnb::Args),
    /// Ask to de-scope a case for an equivalent passed test (rule 7).
    Descope(cmd::gov::descope::Args),
    /// A phase's exit verdict, optionally what-if; failing criteria first.
    Exit(cmd::gov::verdict::ExitArgs),
    /// An entry's aggregate verdict, optionally what-if; failing criteria first.
    Entry(cmd::gov::verdict::EntryArgs),
    /// Test cycles: define one from planned entries; its regression verdict.
    Cycle(cmd::gov::cycle::CycleArgs),
    /// Regression runs of an entry or a cycle (rule 6): register, start, record the exit.
    Regression(cmd::gov::cycle::RegressionArgs),
    /// DMC changes (rule 8): de-selection, reintroduction, firmware, model change.
    Dmc(cmd::gov::dmc::Args),
    /// Every phase of an entry at a glance: outcome, coverage, issues against limits.
    Status(cmd::gov::status::Args),
    /// The gateway's devices, their state and leases; `devices check DEVICE` checks one now.
    Devices(cmd::gov::devices::Args),
    /// Leases on a gateway's devices: take, renew (optionally with a new ttl), release.
    Lease(cmd::gov::lease::Args),
    /// Runs on a gateway's bench: list, show, watch, cancel, start (or resume).
    Runs(cmd::gov::runs::Args),
    /// Inspect and check adapter plugins.
    Plugin(cmd::plugin::Args),
    /// Completion report (Markdown, HTML, JSON) and sealed evidence bundles; `report verify`.
    Report(cmd::report::Args),
    /// Run a suite's cases on devices through an adapter plugin (MT and SIT).
    Run(Box<cmd::run::Args>),
    /// Serve the gRPC gateway (ResultService, GovernanceService, health, reflection).
    Serve(cmd::serve::Args),
    /// Check a result store (hash chain of the append-only log).
    Store(cmd::store::Args),
    /// Bearer tokens for the serve config.
    Token(cmd::token::Args),
}

/// The whole `meterlab` program: what the binary's `main` returns.
pub fn main() -> ExitCode {
    // `meterlab plugin-worker`: this executable is the plugin worker of `--isolation process`
    // (see crates/plugin-worker). Handled before clap and logging: the worker owns stdin/stdout.
    if std::env::args_os().nth(1).as_deref()
        == Some(std::ffi::OsStr::new(meterlab_plugin_worker::SUBCOMMAND))
    {
        return meterlab_plugin_worker::run_worker(
            std::env::args_os()
                .skip(2)
                .map(|arg| arg.to_string_lossy().into_owned()),
        );
    }
    quiet_on_closed_stdout();
    let cli = Cli::parse();
    let filter = EnvFilter::try_new(&cli.log).unwrap_or_else(|error| {
        eprintln!("warning: ignoring --log {:?}: {error}", cli.log);
        EnvFilter::new("warn")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never in a pipe or a log file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    let result = match cli.command {
        // `run` has its own exit codes (failed, bad input, blocked, not stored).
        Command::Run(args) => return cmd::run::main(*args),
        Command::Catalog(args) => match cmd::catalog::run(args) {
            Ok(code) => return code,
            Err(error) => Err(error),
        },
        Command::Demo(args) => cmd::demo::run(args),
        Command::DevCerts(args) => cmd::dev_certs::run(args),
        Command::Issues(args) => return governance(cmd::gov::issues::run(args)),
        Command::Plan(args) => return governance(cmd::gov::plan::run(args)),
        Command::Dnb(args) => return governance(cmd::gov::dnb::run(args)),
        Command::Descope(args) => return governance(cmd::gov::descope::run(args)),
        Command::Exit(args) => return governance(cmd::gov::verdict::exit(args)),
        Command::Entry(args) => return governance(cmd::gov::verdict::entry(args)),
        Command::Cycle(args) => return governance(cmd::gov::cycle::cycle(args)),
        Command::Regression(args) => return governance(cmd::gov::cycle::regression(args)),
        Command::Dmc(args) => return governance(cmd::gov::dmc::run(args)),
        Command::Status(args) => return governance(cmd::gov::status::run(args)),
        Command::Devices(args) => return governance(cmd::gov::devices::run(args)),
        Command::Lease(args) => return governance(cmd::gov::lease::run(args)),
        Command::Runs(args) => return governance(cmd::gov::runs::run(args)),
        Command::Emulate(args) => cmd::emulate::run(args),
        Command::EmulateCtl(args) => cmd::emulate_ctl::run(args),
        Command::Plugin(args) => cmd::plugin::run(args),
        Command::Report(args) => cmd::report::run(args),
        Command::Serve(args) => cmd::serve::run(args),
        Command::Store(args) => cmd::store::run(args),
        Command::Token(args) => cmd::token::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Ends the process quietly with 141 (the shell's code for SIGPIPE) when stdout's reader has
/// gone, as in `meterlab … --output json | head`. Rust ignores SIGPIPE, so a print to a closed
/// pipe panics instead ("failed printing to stdout: Broken pipe"); the C tools a shell pipeline
/// is made of die of the signal, silently. Any other panic is reported as before.
fn quiet_on_closed_stdout() {
    const EPIPE: &str = "(os error 32)";
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info.payload_as_str().unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.ends_with(EPIPE) {
            std::process::exit(141);
        }
        report(info);
    }));
}

/// Exit code of a governance command: its own on success; 2 for bad input (ours, or the
/// gateway refusing the request as invalid); 1 otherwise.
fn governance(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            let bad_input = error.downcast_ref::<gateway::BadInput>().is_some()
                || error
                    .downcast_ref::<meterlab_client::ClientError>()
                    .is_some_and(meterlab_client::ClientError::is_bad_request);
            ExitCode::from(if bad_input { 2 } else { 1 })
        }
    }
}
