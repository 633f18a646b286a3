//! `meterlab plugin`: examine adapter plugin libraries.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use meterlab_plugin::pb::{AdapterInfo, Srv};
use meterlab_plugin_host::{Isolation, LoadOptions, Plugin, ProcessOptions};
use serde_json::json;

use crate::output::OutputFormat;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: PluginCommand,
}

#[derive(Debug, clap::Subcommand)]
enum PluginCommand {
    /// Load a plugin, check its ABI declaration, and print what it supports.
    Inspect {
        /// Path to the plugin library (`.so`).
        path: PathBuf,
        #[arg(long, value_enum, default_value_t)]
        output: OutputFormat,
        /// Where the plugin is loaded: `in-process`, or `process` (a plugin worker loads and
        /// checks it; the library never enters this process).
        #[arg(long, default_value = "in-process")]
        isolation: Isolation,
        /// The worker executable for `--isolation process` (default: `$METERLAB_PLUGIN_WORKER`,
        /// else this executable, as `meterlab plugin-worker`).
        #[arg(long)]
        worker: Option<PathBuf>,
    },
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        PluginCommand::Inspect {
            path,
            output,
            isolation,
            worker,
        } => {
            let options = LoadOptions {
                isolation,
                process: process_options(worker),
            };
            let plugin = meterlab_plugin_host::inspect_file_with(&path, &options)
                .context("plugin refused")?;
            let rendered = match output {
                OutputFormat::Text => render_text(&plugin),
                OutputFormat::Json => serde_json::to_string_pretty(&render_json(&plugin))?,
            };
            println!("{rendered}");
            Ok(())
        }
    }
}

/// Process isolation options with the worker chosen: `explicit`, else
/// `$METERLAB_PLUGIN_WORKER`, else this very executable run as `meterlab plugin-worker` — which
/// is always there and always speaks this build's worker protocol, however `meterlab` was built
/// or installed.
pub fn process_options(explicit: Option<PathBuf>) -> ProcessOptions {
    let named =
        explicit.or_else(|| std::env::var_os(meterlab_plugin_host::WORKER_ENV).map(PathBuf::from));
    let (worker, worker_args) = match named {
        Some(path) => (Some(path), Vec::new()),
        // Without a path the host looks for meterlab-plugin-worker beside this executable and
        // reports that it is missing.
        None => match std::env::current_exe() {
            Ok(exe) => (
                Some(exe),
                vec![meterlab_plugin_worker::SUBCOMMAND.to_owned()],
            ),
            Err(_) => (None, Vec::new()),
        },
    };
    ProcessOptions {
        worker,
        worker_args,
        ..ProcessOptions::default()
    }
}

fn srv_name(srv: Srv) -> String {
    format!("{} {}", srv.number(), srv.title())
}

fn render_text(plugin: &Plugin) -> String {
    let info: &AdapterInfo = plugin.info();
    let (major, minor) = plugin.abi_version();
    let mut text = String::new();
    let _ = writeln!(text, "plugin   {} {}", plugin.id(), plugin.version());
    let _ = writeln!(text, "file     {}", plugin.path().display());
    let _ = writeln!(text, "sha256   {}", hex::encode(plugin.sha256()));
    let _ = writeln!(text, "abi      {major}.{minor}");
    let _ = writeln!(text, "runs     {}", plugin.isolation());
    let _ = writeln!(text, "smso     {}", info.smso_ids.join(", "));
    if info.dmcs.is_empty() {
        let _ = writeln!(text, "dmcs     (none declared)");
    }
    for dmc in &info.dmcs {
        let _ = writeln!(text, "dmc      {}  {}", dmc.dmc_id, dmc.description);
        for support in &dmc.srvs {
            let _ = writeln!(text, "  srv    {}", srv_name(support.srv()));
            for variation in &support.variations {
                let _ = writeln!(text, "         variation: {variation}");
            }
        }
    }
    text.trim_end().to_owned()
}

fn render_json(plugin: &Plugin) -> serde_json::Value {
    let info = plugin.info();
    let (major, minor) = plugin.abi_version();
    let dmcs: Vec<_> = info
        .dmcs
        .iter()
        .map(|dmc| {
            let srvs: Vec<_> = dmc
                .srvs
                .iter()
                .map(|support| {
                    json!({
                        "srv": support.srv().number(),
                        "title": support.srv().title(),
                        "variations": support.variations,
                    })
                })
                .collect();
            json!({ "dmc_id": dmc.dmc_id, "description": dmc.description, "srvs": srvs })
        })
        .collect();
    json!({
        "id": plugin.id(),
        "version": plugin.version(),
        "path": plugin.path(),
        "sha256": hex::encode(plugin.sha256()),
        "abi": { "major": major, "minor": minor },
        "isolation": plugin.isolation().as_str(),
        "smso_ids": info.smso_ids,
        "dmcs": dmcs,
    })
}
