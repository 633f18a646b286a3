//! Governance from the command line: `plan`, `dnb`, `issues`, `descope`, `exit`, `entry`,
//! `cycle`, `regression`, `dmc`, `status`, `devices`, `lease` and `runs` (the last two only against a gateway that serves a
//! bench). Each works against a gateway (`--gateway URL`, TLS and token options)
//! or a local store (`--db PATH`, served in-process on loopback) through the same typed client,
//! prints text for people or one JSON document (`--output json`), and exits 0 on success,
//! 2 for bad input (naming what), 3 when the answer is "no" (a verdict that is not an exit, a
//! refused de-scope or phase start) and 1 for anything else.

pub mod cycle;
pub mod descope;
pub mod devices;
pub mod dmc;
pub mod dnb;
pub mod issues;
pub mod lease;
pub mod parse;
pub mod plan;
pub mod runs;
pub mod status;
pub mod verdict;

use std::process::ExitCode;

use meterlab_client::Client;
use serde::Serialize;

use crate::gateway::{Connected, TargetArgs};
use crate::output::OutputFormat;

/// The answer was "no": a verdict that is not an exit, a refused request.
pub const EXIT_REFUSED: u8 = 3;

/// What every governance command takes: where, how to print, and why (recorded with writes).
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    #[command(flatten)]
    pub target: TargetArgs,
    /// How to print the answer on stdout.
    #[arg(long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// Runs `work` with a client of `common`'s target on a fresh runtime, then releases the target.
/// `create` lets `--db` create a missing store (only planning does).
pub fn with_client<T>(
    common: &Common,
    create: bool,
    work: impl AsyncFnOnce(&Client) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let connected = Connected::open(&common.target, create).await?;
        let outcome = work(&connected.client).await;
        connected.close().await?;
        outcome
    })
}

/// Prints `value` as pretty JSON.
pub fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// 0, or [`EXIT_REFUSED`] when `yes` is false.
pub fn answer(yes: bool) -> ExitCode {
    if yes {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_REFUSED)
    }
}
