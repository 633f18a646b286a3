//! The `meterlab` binary: parses the command line, sets up logging, runs one subcommand, and is
//! the only place errors are rendered for humans (`anyhow` lives here and nowhere else).
//!
//! Each subcommand is a module under `cmd/` with an `Args` struct and a `run` function; adding
//! one means adding a module and a variant to [`Command`].
//!
//! Must not be depended on by any other crate.
#![forbid(unsafe_code)]

mod cmd;
mod gateway_channel;
mod output;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// Migration and Systems Integration Testing of SMETS1 meters and comms hubs.
#[derive(Debug, Parser)]
#[command(name = "meterlab", version, about)]
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
    /// Everything on one machine: gateway, SQLite store, emulated meters, the MT suite, verdicts.
    Demo(cmd::demo::Args),
    /// Write a throwaway CA, server and client certificates for local TLS/mTLS (never for a lab).
    DevCerts(cmd::dev_certs::Args),
    /// Emulate SMETS1 comms hubs and meters (DLMS/COSEM over the TCP wrapper and HDLC on PTYs).
    Emulate(cmd::emulate::Args),
    /// Control a running emulator: faults, alerts, reboots, device list.
    EmulateCtl(cmd::emulate_ctl::Args),
    /// List the Testing Issues of a (remote) gateway.
    Issues(cmd::issues::Args),
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

fn main() -> ExitCode {
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
        Command::Issues(args) => cmd::issues::run(args),
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
